/* eval: which columns to compare, the metrics of each pair (including within-gene isoform fractions) and the
 * report files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expression/expression_internal.h"
#include "isoformer/io.h"

int iso_eval_pairs(const char *map, const iso_expression *pred, const iso_expression *obs, iso_eval_pair **pairs,
                   int *n_pairs)
{
    *n_pairs = 0;
    iso_eval_pair *p = *pairs = malloc((size_t)(pred->n_cols * obs->n_cols + 1) * sizeof *p);
    if (!p)
        return iso_error(ISO_ENOMEM, "out of memory");
    if (!map) {
        for (int i = 0; i < pred->n_cols; i++)
            for (int j = 0; j < obs->n_cols; j++)
                if (obs->n_cols == 1 || !strcmp(pred->col_names[i], obs->col_names[j]))
                    p[(*n_pairs)++] = (iso_eval_pair){.pred = i, .obs = j};
        return *n_pairs ? ISO_OK
                        : iso_error(ISO_EINVAL, "no prediction column has the name of an observed column: pair them "
                                                "as PRED=OBS");
    }
    char *text = strdup(map), *save = NULL;
    int rc = text ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (char *item = text ? strtok_r(text, ",", &save) : NULL; rc == ISO_OK && item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        int pi = -1, oi = -1;
        if (eq) {
            *eq = '\0';
            for (int i = 0; i < pred->n_cols; i++)
                if (!strcmp(pred->col_names[i], item))
                    pi = i;
            for (int j = 0; j < obs->n_cols; j++)
                if (!strcmp(obs->col_names[j], eq + 1))
                    oi = j;
        }
        int twice = 0;
        for (int k = 0; k < *n_pairs; k++)
            twice |= p[k].pred == pi && p[k].obs == oi;
        if (pi < 0 || oi < 0)
            rc = iso_error(ISO_EINVAL, "'%s%s%s' does not name a prediction and an observed column", item,
                           eq ? "=" : "", eq ? eq + 1 : "");
        else if (twice)
            rc = iso_error(ISO_EINVAL, "'%s=%s' is given twice", item, eq + 1);
        else
            p[(*n_pairs)++] = (iso_eval_pair){.pred = pi, .obs = oi};
    }
    free(text);
    if (rc == ISO_OK && !*n_pairs)
        rc = iso_error(ISO_EINVAL, "'%s' has no PRED=OBS pair", map);
    return rc;
}

/* Pearson of within-gene fractions (genes with >= 2 isoforms having both values) of expression in linear
 * space: fractions of log values would not sum what the gene expresses. g: every transcript grouped by gene id,
 * once for all pairs (regrouping per pair was a quarter of eval's time on a genome); p: predictions, log(TPM+1),
 * taken back by exp(x) - 1; o: observed TPM. */
static int fraction_agreement(const iso_genes *g, size_t n, const double *p, const double *o, double *r,
                              size_t *n_genes)
{
    size_t m = 0;
    double *fp = malloc((n ? n : 1) * sizeof *fp), *fo = malloc((n ? n : 1) * sizeof *fo);
    *n_genes = 0;
    *r = NAN;
    if (!fp || !fo) {
        free(fp), free(fo);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    for (size_t gi = 0; gi < g->n_genes; gi++) {
        size_t k = 0;
        double sp = 0, so = 0;
        for (size_t j = g->first[gi]; j < g->first[gi + 1]; j++) {
            size_t row = g->idx[j];
            if (!isfinite(p[row]) || !isfinite(o[row]))
                continue;
            fp[m + k] = fmax(expm1(p[row]), 0);
            fo[m + k] = fmax(o[row], 0);
            sp += fp[m + k];
            so += fo[m + k];
            k++;
        }
        if (k >= 2 && sp > 0 && so > 0 && isfinite(sp) && isfinite(so)) {
            for (size_t j = m; j < m + k; j++) {
                fp[j] /= sp;
                fo[j] /= so;
            }
            m += k;
            ++*n_genes;
        }
    }
    *r = iso_pearson(fp, fo, m);
    free(fp), free(fo);
    return ISO_OK;
}

/* x: predicted; y: observed as compared; ytpm: observed in linear space, for isoform fractions. */
static void pair_values(const iso_annotation *ann, const iso_expression *pred, const iso_expression *obs,
                        int log1p_obs, const iso_eval_pair *p, double *x, double *y, double *ytpm)
{
    for (size_t i = 0; i < ann->n; i++) {
        x[i] = pred->values[i * pred->n_cols + p->pred];
        double v = obs->values[i * obs->n_cols + p->obs];
        y[i] = obs->is_tpm && log1p_obs ? log1p(v) : v;
        if (ytpm) /* an isoformer TSV holds log(TPM+1), like the predictions */
            ytpm[i] = obs->is_tpm ? v : expm1(v);
    }
}

/* iso_eval_compare with the transcripts already grouped by gene (g). */
static int compare_grouped(const iso_annotation *ann, const iso_genes *g, const iso_expression *pred,
                           const iso_expression *obs, int log1p_obs, iso_eval_pair *p, double *x, double *y)
{
    double *ytpm = malloc((ann->n ? ann->n : 1) * sizeof *ytpm);
    if (!ytpm)
        return iso_error(ISO_ENOMEM, "out of memory");
    pair_values(ann, pred, obs, log1p_obs, p, x, y, ytpm);
    p->n = 0;
    for (size_t i = 0; i < ann->n; i++)
        p->n += isfinite(x[i]) && isfinite(y[i]);
    p->spearman = iso_spearman(x, y, ann->n);
    p->pearson = iso_pearson(x, y, ann->n);
    p->r2 = iso_r2(x, y, ann->n);
    int rc = fraction_agreement(g, ann->n, x, ytpm, &p->fraction_r, &p->n_genes);
    free(ytpm);
    return rc;
}

int iso_eval_compare(const iso_annotation *ann, const iso_expression *pred, const iso_expression *obs, int log1p_obs,
                     iso_eval_pair *p, double *x, double *y)
{
    iso_genes g = {0};
    int rc = iso_annotation_genes(ann, NULL, 0, ISO_GENES_BY_ID, &g);
    if (rc == ISO_OK)
        rc = compare_grouped(ann, &g, pred, obs, log1p_obs, p, x, y);
    iso_genes_free(&g);
    return rc;
}

typedef struct {
    const iso_annotation *ann;
    const iso_expression *pred, *obs;
    int log1p_obs;
    const iso_eval_pair *pairs;
} values_ctx;

static int values_of(void *ctx, int k, double *x, double *y)
{
    values_ctx *c = ctx;
    pair_values(c->ann, c->pred, c->obs, c->log1p_obs, &c->pairs[k], x, y, NULL);
    return ISO_OK;
}

/* A metric as the TSV writes it: NA where it is undefined (too few pairs, a constant column). */
static void put_metric(FILE *fp, double v)
{
    if (isfinite(v))
        fprintf(fp, "\t%.6f", v);
    else
        fputs("\tNA", fp);
}

int iso_eval_write(const char *prefix, const iso_annotation *ann, const iso_expression *pred,
                   const iso_expression *obs, int log1p_obs, iso_eval_pair *pairs, int n_pairs)
{
    if (n_pairs <= 0)
        return iso_error(ISO_EINVAL, "eval: no column pair to compare");
    char path[4096], svg_path[4096];
    snprintf(path, sizeof path, "%s.eval.tsv", prefix);
    snprintf(svg_path, sizeof svg_path, "%s.eval.svg", prefix);
    double *x = malloc((ann->n ? ann->n : 1) * sizeof *x), *y = malloc((ann->n ? ann->n : 1) * sizeof *y);
    iso_out *tsv = NULL, *svg = NULL;
    iso_genes g = {0};
    int rc = x && y ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK)
        rc = iso_annotation_genes(ann, NULL, 0, ISO_GENES_BY_ID, &g);
    if (rc == ISO_OK && (!(tsv = iso_out_open(path)) || !(svg = iso_out_open(svg_path))))
        rc = iso_last_status();
    if (rc == ISO_OK)
        fputs("pred_column\tobs_column\tn\tspearman\tpearson\tr2\tisoform_fraction_r\tn_genes\n", iso_out_fp(tsv));
    for (int k = 0; rc == ISO_OK && k < n_pairs; k++) {
        iso_eval_pair *r = &pairs[k];
        if ((rc = compare_grouped(ann, &g, pred, obs, log1p_obs, r, x, y)) != ISO_OK)
            break;
        FILE *fp = iso_out_fp(tsv);
        fprintf(fp, "%s\t%s\t%zu", pred->col_names[r->pred], obs->col_names[r->obs], r->n);
        put_metric(fp, r->spearman);
        put_metric(fp, r->pearson);
        put_metric(fp, r->r2);
        put_metric(fp, r->fraction_r);
        fprintf(fp, "\t%zu\n", r->n_genes);
    }
    values_ctx ctx = {ann, pred, obs, log1p_obs, pairs};
    if (rc == ISO_OK)
        rc = eval_svg(iso_out_fp(svg), ann, pred, obs, log1p_obs, pairs, n_pairs, values_of, &ctx, x, y);
    if (rc == ISO_OK) {
        rc = iso_out_commit(svg);
        svg = NULL;
    }
    if (rc == ISO_OK) {
        rc = iso_out_commit(tsv);
        tsv = NULL;
        if (rc != ISO_OK)
            remove(svg_path); /* both or neither */
    }
    iso_out_abort(tsv);
    iso_out_abort(svg);
    iso_genes_free(&g);
    free(x);
    free(y);
    return rc;
}
