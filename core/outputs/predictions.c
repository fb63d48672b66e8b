/* The files of one prediction run, as `isoformer predict` writes them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/tracks_internal.h"

static int write_embeddings(const char *prefix, const iso_track_matrix *m, const iso_row_source *src)
{
    int dim = src->dim;
    char **names = calloc((size_t)dim, sizeof *names), path[4096];
    int rc = names ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int j = 0; rc == ISO_OK && j < dim; j++) {
        char b[32];
        snprintf(b, sizeof b, "emb_%d", j);
        if (!(names[j] = strdup(b)))
            rc = iso_error(ISO_ENOMEM, "out of memory");
    }
    iso_track_matrix e = {.ann = m->ann, .rows = m->rows, .n_rows = m->n_rows,
                          .col_names = (const char *const *)names, .n_cols = dim};
    snprintf(path, sizeof path, "%s.embeddings.tsv", prefix);
    if (rc == ISO_OK)
        rc = iso_write_tsv_rows(path, &e, src);
    for (int j = 0; names && j < dim; j++)
        free(names[j]);
    free(names);
    return rc;
}

int iso_write_predictions(const char *prefix, const iso_track_matrix *m, int n_predicted,
                          const iso_row_source *embeddings, const iso_fasta *fa, int bigwig_bin,
                          const iso_manifest_info *run)
{
    int n_chroms = iso_fasta_ncontigs(fa);
    const char **chroms = malloc((size_t)(n_chroms ? n_chroms : 1) * sizeof *chroms);
    int64_t *lens = malloc((size_t)(n_chroms ? n_chroms : 1) * sizeof *lens);
    size_t *order = iso_track_order(m); /* the rows of every file below */
    int rc = chroms && lens && order ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int c = 0; rc == ISO_OK && c < n_chroms; c++) {
        chroms[c] = iso_fasta_contig_name(fa, c);
        lens[c] = iso_fasta_contig_len(fa, chroms[c]);
    }
    char path[4096], tname[256];
    int in_set = rc == ISO_OK && (rc = iso_out_set_begin()) == ISO_OK;
    if (rc == ISO_OK) {
        snprintf(path, sizeof path, "%s.predictions.tsv", prefix);
        rc = iso_write_tsv_in_order(path, m, order);
    }
    if (rc == ISO_OK) {
        snprintf(path, sizeof path, "%s.predictions.bed", prefix);
        rc = iso_write_bed12_in_order(path, m, order, n_predicted);
    }
    for (int j = 0; rc == ISO_OK && j < m->n_cols; j++) {
        iso_track_file_name(tname, sizeof tname, m->col_names[j]);
        snprintf(path, sizeof path, "%s.%s.bw", prefix, tname);
        rc = iso_write_bigwig_in_order(path, m, order, j, chroms, lens, n_chroms, bigwig_bin);
    }
    if (rc == ISO_OK && embeddings)
        rc = write_embeddings(prefix, m, embeddings);
    if (rc == ISO_OK && run)
        rc = iso_manifest_write(prefix, run); /* last: it lists the others */
    if (in_set) {
        int ended = iso_out_set_end(rc == ISO_OK);
        rc = rc == ISO_OK ? ended : rc;
    }
    free(chroms);
    free(lens);
    free(order);
    return rc;
}
