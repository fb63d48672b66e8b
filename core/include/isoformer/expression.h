/* Observed (and predicted) expression tables aligned to an annotation, the metrics that compare them, and the
 * ridge-regression head that `isoformer fit` learns on pooled embeddings. */
#ifndef ISOFORMER_EXPRESSION_H
#define ISOFORMER_EXPRESSION_H

#include <stddef.h>

#include "isoformer/annotation.h"
#include "isoformer/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ISO_EXPR_SALMON, ISO_EXPR_RSEM, ISO_EXPR_KALLISTO, ISO_EXPR_STRINGTIE_GTF, ISO_EXPR_STRINGTIE_CTAB,
    ISO_EXPR_GCT, ISO_EXPR_ISOFORMER, /* our predictions or embeddings TSV (7 leading columns) */
} iso_expr_format;

/* A transcripts x columns matrix: rows are the annotation's transcripts (ann->tx order), NAN where the file
 * has no value. */
typedef struct {
    size_t n_rows;
    int n_cols;
    char **col_names;
    float *values;        /* n_rows x n_cols */
    iso_expr_format format;
    int is_tpm;           /* values are TPM (not yet log-transformed) */
    size_t n_matched, n_unknown; /* file rows matched to the annotation / not */
    size_t n_missing;     /* values given as nan/NaN/NA (an isoformer TSV only: not observed) */
} iso_expression;

/* Reads salmon quant.sf, RSEM isoforms.results, kallisto abundance.tsv, StringTie -e GTF or t_data.ctab
 * (FPKM rescaled to TPM), GTEx GCT, or an isoformer TSV, detected from the content. Transcript ids match with
 * or without a ".N" version. Ids absent from the annotation are counted (an error when nothing matches).
 * Every value must be finite, and TPM/FPKM also not negative: anything else (NaN, inf, -1, a number that
 * overflows) is an error naming file:line and column, except that an isoformer TSV may mark a value missing
 * (not observed) with nan, NaN or NA (counted in n_missing; NAN in values). A StringTie table whose FPKM are
 * all 0 gives TPM 0. A GCT must have as many rows and sample columns as its line 2 declares, and value columns
 * distinct names. */
ISO_API
int iso_expression_read(const char *path, const iso_annotation *ann, iso_expression **out) ISO_RESULT;
ISO_API
void iso_expression_free(iso_expression *e);
ISO_API
const char *iso_expr_format_name(iso_expr_format f);

/* Metrics over the pairs where both are finite; NAN when fewer than 3 pairs or a constant vector. */
ISO_API
double iso_spearman(const double *x, const double *y, size_t n);
ISO_API
double iso_pearson(const double *x, const double *y, size_t n);
/* 1 - SS_res / SS_tot of y (observed) predicted by x. */
ISO_API
double iso_r2(const double *x, const double *y, size_t n);

/* ---- eval: predictions against observations ---- */
typedef struct {
    int pred, obs; /* columns */
    size_t n;      /* transcripts with both values */
    double spearman, pearson;
    double r2;     /* of y = x: 1 - sum (obs - pred)^2 / sum (obs - mean obs)^2 (negative when the scales differ) */
    double fraction_r; /* Pearson of within-gene isoform fractions (genes with >= 2 isoforms), on TPM */
    size_t n_genes;
} iso_eval_pair;

/* Pairs of columns to compare: map "PRED=OBS,..." or, when NULL, columns of equal names (every prediction
 * column against a single observed one). *pairs is malloc'd. */
ISO_API
int iso_eval_pairs(const char *map, const iso_expression *pred, const iso_expression *obs, iso_eval_pair **pairs,
                   int *n_pairs) ISO_RESULT;
/* The metrics of pair p; x and y (ann->n) get the predicted and observed values compared (observed TPM as
 * log(TPM+1) unless log1p_obs is 0). */
ISO_API
int iso_eval_compare(const iso_annotation *ann, const iso_expression *pred, const iso_expression *obs, int log1p_obs,
                     iso_eval_pair *p, double *x, double *y) ISO_RESULT;
/* PREFIX.eval.tsv and PREFIX.eval.svg for all pairs (written together or not at all). The SVG has a title, a
 * summary of every pair (Spearman and Pearson), and scatter plots on a shared scale with the line y = x: of
 * every pair up to 9, else of the best, median and worst by Spearman (the figure says so). */
ISO_API
int iso_eval_write(const char *prefix, const iso_annotation *ann, const iso_expression *pred,
                   const iso_expression *obs, int log1p_obs, iso_eval_pair *pairs, int n_pairs) ISO_RESULT;

/* A ridge head: y_j = b_j + sum_k w_jk (x_k - mean_k) / sd_k, for n_out outputs over dim inputs. */
typedef struct {
    int dim, n_out;
    char **out_names;
    double *mean, *sd;  /* dim */
    double *w;          /* n_out x dim */
    double *b;          /* n_out */
    double *lambda, *cv_r2, *baseline_r2; /* per output */
    int *n_folds; /* per output: the cross-validation folds holding observed transcripts (0 when read from a file) */
} iso_fitted_head;

/* Fits one ridge model per column of y (n x n_out, NAN = missing, rows skipped per column) on x (n x dim),
 * the penalty chosen from lambdas (all > 0) by k-fold cross-validation with folds grouped by gene (group[i]:
 * any integer per gene; no gene is split across folds). Each training set is standardised and its target
 * centred on its own rows, so the intercept is fitted too. */
ISO_API
int iso_ridge_fit(const double *x, const double *y, const int *group, size_t n, int dim, int n_out,
                  const double *lambdas, int n_lambdas, int folds, iso_fitted_head *head) ISO_RESULT;
/* y (n_out) for one embedding x (dim). */
ISO_API
void iso_fitted_head_apply(const iso_fitted_head *h, const double *x, double *y);
ISO_API
int iso_fitted_head_write(const char *path, const iso_fitted_head *h) ISO_RESULT;
ISO_API
int iso_fitted_head_read(const char *path, iso_fitted_head *h) ISO_RESULT;
ISO_API
void iso_fitted_head_free(iso_fitted_head *h);

#ifdef __cplusplus
}
#endif
#endif
