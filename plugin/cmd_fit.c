/* isoformer fit: transfer learning of the expression head on frozen fused embeddings to a user's samples. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "isoformer/annotation.h"
#include "isoformer/expression.h"
#include "select.h"

#define CMD "fit"


static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: isoformer fit --embeddings PREFIX.embeddings.tsv --obs FILE --out HEAD.tsv [options]\n\n"
            "Learns a new expression head on the frozen pooled embeddings of 'isoformer predict --embeddings':\n"
            "one ridge regression per observed sample/tissue (targets log(TPM+1) for TPM inputs), the penalty\n"
            "chosen by K-fold cross-validation with folds grouped by gene (no gene in both training and test).\n"
            "Prints the cross-validated R^2 of the chosen penalty and of the intercept-only baseline, and writes\n"
            "the head (standardisation, weights, intercepts) as TSV.\n\n"
            "  -e, --embeddings FILE   pooled embeddings TSV\n"
            "  -b, --obs FILE          observed expression (salmon, RSEM, kallisto, StringTie, GCT, isoformer TSV)\n"
            "  -g, --gtf FILE          the annotation (default: transcripts and genes of --embeddings)\n"
            "  -a, --chrom-alias FILE  contig aliases\n"
            "  -k, --folds K           cross-validation folds (default 5)\n"
            "  -G, --cv-groups G       gene (default: no gene in two folds) or transcript (each its own group:\n"
            "                          only for trying fit on a single gene, such as the bundled test data)\n"
            "  -l, --lambdas LIST      penalties tried (default 0.1,1,10,100,1000,10000,100000)\n"
            "  -o, --out FILE          head file (required)\n"
            "  -h, --help              this help\n"
            "      --version           print the version and exit\n");
}

/* Positive finite numbers separated by single commas (strtok would pass "1,,2"; strtod takes 1e400 as inf). */
static int parse_lambdas(const char *s, double *l, int max)
{
    int n = 0;
    for (const char *t = s; n < max; t++) {
        char *end;
        l[n] = strtod(t, &end);
        if (end == t || !(l[n] > 0) || !isfinite(l[n]) || (*end && *end != ','))
            return -1;
        n++;
        if (!*end)
            return n;
        t = end;
    }
    return -1;
}

/* The transcripts with an observed value in column j of y (rows x n_out) and the genes they belong to: what that
 * column's fit saw (a transcript missing from the observations is not fitted on). */
static void observed_counts(const double *y, int n_out, int j, const iso_genes *genes, size_t *n_obs,
                            size_t *n_genes_obs)
{
    *n_obs = *n_genes_obs = 0;
    for (size_t g = 0; g < genes->n_genes; g++) {
        size_t in_gene = 0;
        for (size_t k = genes->first[g]; k < genes->first[g + 1]; k++)
            in_gene += isfinite(y[genes->idx[k] * n_out + j]) != 0;
        *n_obs += in_gene;
        *n_genes_obs += in_gene > 0;
    }
}

/* Widens the count floats at the start of buf to doubles in place (buf holds count doubles). Backwards, since
 * double j covers floats 2j and 2j+1 and the floats not yet read are those below j; memcpy, as the bytes change
 * type. */
static void widen_in_place(void *buf, size_t count)
{
    for (size_t j = count; j-- > 0;) {
        float f;
        memcpy(&f, (char *)buf + j * sizeof f, sizeof f);
        double d = f;
        memcpy((char *)buf + j * sizeof d, &d, sizeof d);
    }
}

int main_fit(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"embeddings", required_argument, NULL, 'e'}, {"obs", required_argument, NULL, 'b'},
        {"gtf", required_argument, NULL, 'g'},        {"chrom-alias", required_argument, NULL, 'a'},
        {"folds", required_argument, NULL, 'k'},      {"lambdas", required_argument, NULL, 'l'},
        {"out", required_argument, NULL, 'o'},        {"help", no_argument, NULL, 'h'}, CLI_VERSION_OPTION,
        {"cv-groups", required_argument, NULL, 'G'},  {NULL, 0, NULL, 0}};
    const char *emb_path = NULL, *obs_path = NULL, *gtf = NULL, *alias_path = NULL, *out = NULL;
    double lambdas[64] = {0.1, 1, 10, 100, 1000, 10000, 100000};
    int n_lambdas = 7, folds = 5, c, by_transcript = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "e:b:g:a:k:l:o:hG:", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'e': emb_path = optarg; break;
        case 'b': obs_path = optarg; break;
        case 'g': gtf = optarg; break;
        case 'a': alias_path = optarg; break;
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return 0;
        case CLI_OPT_VERSION: return cli_version();
        case 'G':
            if (strcmp(optarg, "gene") && strcmp(optarg, "transcript"))
                return cli_usage_error(CMD, "--cv-groups: expected gene or transcript, got '%s'", optarg);
            by_transcript = !strcmp(optarg, "transcript");
            break;
        case 'k': bad = cli_parse_int(CMD, "--folds", optarg, 2, 100, &folds); break;
        case 'l':
            if ((n_lambdas = parse_lambdas(optarg, lambdas, 64)) < 1)
                return cli_usage_error(CMD, "--lambdas: expected positive numbers separated by commas, got '%s'",
                                       optarg);
            break;
        default: return cli_usage_error(CMD, "unknown or incomplete option");
        }
        if (bad)
            return bad;
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!emb_path || !obs_path || !out)
        return cli_usage_error(CMD, "--embeddings, --obs and --out are required");
    int rc = cli_out_path(CMD, "--out", out);
    const char *const inputs[] = {emb_path, obs_path, gtf, alias_path};
    if (rc || (rc = cli_out_not_input(CMD, out, inputs, 4, 0, NULL)))
        return rc;
    iso_chrom_alias *alias = NULL;
    iso_annotation *ann = NULL;
    iso_expression *emb = NULL, *obs = NULL;
    iso_fitted_head head = {0};
    double *x = NULL, *y = NULL;
    int *group = NULL;
    size_t *rows = NULL;
    iso_genes genes = {0};
    if ((alias_path && (rc = iso_chrom_alias_load(alias_path, &alias)) < 0) ||
        (rc = gtf ? iso_annotation_read(gtf, alias, &ann) : cli_annotation_from_tsv(emb_path, &ann)) < 0 ||
        (rc = iso_expression_read(emb_path, ann, &emb)) < 0 ||
        (rc = iso_expression_read(obs_path, ann, &obs)) < 0)
        goto done;
    if (emb->n_missing) {
        rc = iso_error(ISO_EFORMAT, "%s: %zu embedding values are missing (nan/NA): embeddings must be complete",
                       emb_path, emb->n_missing);
        goto done;
    }
    /* Rows: transcripts with an embedding, packed in the embeddings' own buffer and widened there to the doubles
     * of x: at genome scale the n x dim matrix is most of fit's memory, and is never held twice. */
    size_t n = 0;
    const int dim = emb->n_cols, n_out = obs->n_cols;
    y = malloc((ann->n ? ann->n : 1) * (size_t)n_out * sizeof *y);
    group = malloc((ann->n ? ann->n : 1) * sizeof *group);
    rows = malloc((ann->n ? ann->n : 1) * sizeof *rows);
    if (!y || !group || !rows) {
        rc = iso_error(ISO_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ann->n; i++) {
        if (isnan(emb->values[i * dim]))
            continue;
        memmove(emb->values + n * dim, emb->values + i * dim, (size_t)dim * sizeof *emb->values);
        for (int j = 0; j < n_out; j++) {
            double v = obs->values[i * n_out + j];
            y[n * n_out + j] = obs->is_tpm ? log1p(v) : v;
        }
        rows[n++] = i;
    }
    if (!(x = realloc(emb->values, (n ? n : 1) * (size_t)dim * sizeof *x))) {
        rc = iso_error(ISO_ENOMEM, "out of memory");
        goto done;
    }
    emb->values = NULL;
    widen_in_place(x, n * (size_t)dim);
    /* CV groups: the genes (folds follow the groups' first appearance, not their numbers), or each transcript */
    if ((rc = iso_annotation_genes(ann, rows, n, ISO_GENES_BY_ID, &genes)) < 0)
        goto done;
    for (size_t gi = 0; gi < genes.n_genes; gi++)
        for (size_t k = genes.first[gi]; k < genes.first[gi + 1]; k++)
            group[genes.idx[k]] = by_transcript ? (int)genes.idx[k] : (int)gi;
    if ((rc = iso_ridge_fit(x, y, group, n, dim, n_out, lambdas, n_lambdas, folds, &head)) < 0) {
        if (!by_transcript && genes.n_genes < 2)
            iso_error_context("one gene only: pass --cv-groups transcript to try fit on it");
        goto done;
    }
    for (int j = 0; j < n_out; j++) {
        if (!(head.out_names[j] = strdup(obs->col_names[j]))) {
            rc = iso_error(ISO_ENOMEM, "out of memory");
            goto done;
        }
        size_t n_obs, n_genes_obs;
        observed_counts(y, n_out, j, &genes, &n_obs, &n_genes_obs);
        fprintf(stderr, "isoformer fit: %s: cross-validated R^2 %.4f (lambda %g), intercept-only baseline %.4f; "
                        "%zu transcripts, %zu genes, %d folds\n",
                obs->col_names[j], head.cv_r2[j], head.lambda[j], head.baseline_r2[j], n_obs, n_genes_obs,
                head.n_folds[j]);
    }
    rc = iso_fitted_head_write(out, &head);
done:
    iso_genes_free(&genes);
    free(rows);
    iso_fitted_head_free(&head);
    free(x);
    free(y);
    free(group);
    iso_expression_free(emb);
    iso_expression_free(obs);
    iso_annotation_free(ann);
    iso_chrom_alias_free(alias);
    return rc < 0 ? cli_fail(CMD) : 0;
}
