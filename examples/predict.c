/* Predicts every transcript of an annotation through libisoformer's public API and prints a TSV: the transcript
 * id, then one column per model output (the 30 GTEx tissues for the published model), in the predictor's order.
 *
 *   predict MODEL_DIR GENOME.fa[.gz] ANNOTATION.gtf [CHROM_ALIAS.txt]
 *
 * Build it against an installed isoformer with pkg-config:
 *   cc predict.c $(pkg-config --cflags --libs isoformer) -o predict
 * or with CMake: find_package(isoformer) and target_link_libraries(predict isoformer::isoformer). */
#include <stdio.h>

#include <isoformer/predict.h>

static int print_row(void *arg, const iso_prediction *r)
{
    const iso_model_info *info = arg;
    printf("%s", r->tx->transcript_id);
    for (int j = 0; j < info->n_outputs; j++)
        printf("\t%.6g", r->values[j]);
    putchar('\n');
    return ISO_OK;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: predict MODEL_DIR GENOME.fa ANNOTATION.gtf [CHROM_ALIAS.txt]\n");
        return 2;
    }
    /* where OpenBLAS does not know this CPU, restart with the kernels its features call for */
    if (iso_backend_cpu_blas_reexec(argv) != ISO_OK)
        fprintf(stderr, "warning: %s\n", iso_last_error());
    iso_chrom_alias *alias = NULL;
    iso_annotation *ann = NULL;
    iso_fasta *fa = NULL;
    iso_predictor *p = NULL;
    iso_predict_opts opts;
    iso_predict_opts_default(&opts); /* the device: a GPU when there is one, else the CPU */
    int rc = ISO_OK;
    if ((argc == 5 && (rc = iso_chrom_alias_load(argv[4], &alias)) < 0) ||
        (rc = iso_annotation_read(argv[3], alias, &ann)) < 0 ||
        (!(fa = iso_fasta_open(argv[2])) && (rc = iso_last_status()) < 0) ||
        (rc = iso_annotation_check_contigs(ann, fa)) < 0 || (rc = iso_predictor_open(argv[1], fa, ann, &opts, &p)) < 0)
        goto done;
    const iso_model_info *info = iso_predictor_info(p);
    printf("transcript_id");
    for (int j = 0; j < info->n_outputs; j++)
        printf("\t%s", iso_predictor_output_name(p, j));
    putchar('\n');
    rc = iso_predictor_run(p, NULL, 0, print_row, (void *)info); /* rows NULL: every transcript */
done:
    if (rc < 0)
        fprintf(stderr, "predict: %s\n", iso_last_error());
    iso_predictor_close(p);
    iso_fasta_close(fa);
    iso_annotation_free(ann);
    iso_chrom_alias_free(alias);
    return rc < 0 ? 1 : 0;
}
