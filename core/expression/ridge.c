/* The ridge-regression head fitted to a user's samples on frozen embeddings. */
#include <cblas.h>
#include <htslib/khash.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isoformer/expression.h"
#include "isoformer/io.h"

/* ---- ridge ----
 * Every training set (a cross-validation fold's, or all observed rows for the final fit) is standardised on
 * its own rows and its targets centred on their own means, so the intercept is the training mean of y and the
 * cross-validated error measures exactly the procedure of the final fit. Each training set is decomposed once:
 * with Xc its standardised rows (nt x dim), Yc the centred targets, and Xc^T Xc = V S V^T (nt >= dim) or
 * Xc Xc^T = U S U^T (nt < dim, the dual form, small when embeddings are wide), the weights for any penalty are
 *     W(lambda) = B^T diag(1/(s + lambda)) Z,
 * B = V^T, Z = V^T Xc^T Yc (primal) or B = U^T Xc, Z = U^T Yc (dual), so the penalties cost a matrix product
 * each instead of a factorisation. */

KHASH_MAP_INIT_INT(group_fold, int)

/* LAPACK's symmetric eigensolver (OpenBLAS ships it), with gfortran's hidden lengths of the two characters. */
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                    double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t, size_t);

enum {
    RIDGE_CHUNK = 256,  /* outputs solved together: bounds the per-output work arrays */
    RIDGE_BLOCK = 2048, /* rows standardised at a time where a product runs over the rows (primal Gram, test
                           predictions): never a standardised copy of all n x dim */
};

/* Eigendecomposition of the symmetric m x m matrix a (its lower triangle in row-major order): on return row j
 * of a is the eigenvector of eigenvalue s[j]. */
static int sym_eigen(double *a, int m, double *s)
{
    int info = 0, lwork = -1, liwork = -1, iwq = 0;
    double wq = 0;
    /* Row-major lower is column-major upper. */
    dsyevd_("V", "U", &m, a, &m, s, &wq, &lwork, &iwq, &liwork, &info, 1, 1);
    lwork = (int)wq;
    liwork = iwq;
    double *work = malloc((size_t)(lwork > 1 ? lwork : 1) * sizeof *work);
    int *iwork = malloc((size_t)(liwork > 1 ? liwork : 1) * sizeof *iwork);
    if (info == 0 && work && iwork)
        dsyevd_("V", "U", &m, a, &m, s, work, &lwork, iwork, &liwork, &info, 1, 1);
    int rc = !work || !iwork ? iso_error(ISO_ENOMEM, "out of memory fitting the head")
             : info ? iso_error(ISO_EINVAL, "ridge: eigendecomposition of a %d x %d Gram matrix failed (LAPACK "
                                            "dsyevd info %d)", m, m, info)
                    : ISO_OK;
    free(work);
    free(iwork);
    return rc;
}

/* Mean and sample sd of each feature over rows (all n when rows is NULL); sd 1 for a constant feature. */
static void feature_stats(const double *x, int dim, const size_t *rows, size_t n, double *mean, double *sd)
{
    memset(mean, 0, (size_t)dim * sizeof *mean);
    memset(sd, 0, (size_t)dim * sizeof *sd);
    for (size_t i = 0; i < n; i++) {
        const double *r = x + (rows ? rows[i] : i) * dim;
        for (int k = 0; k < dim; k++)
            mean[k] += r[k];
    }
    for (int k = 0; k < dim; k++)
        mean[k] /= n ? n : 1;
    for (size_t i = 0; i < n; i++) {
        const double *r = x + (rows ? rows[i] : i) * dim;
        for (int k = 0; k < dim; k++)
            sd[k] += (r[k] - mean[k]) * (r[k] - mean[k]);
    }
    for (int k = 0; k < dim; k++)
        sd[k] = n > 1 && sd[k] > 0 ? sqrt(sd[k] / (n - 1)) : 1;
}

static void standardise(const double *x, int dim, const size_t *rows, size_t n, const double *mean,
                        const double *sd, double *out)
{
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < dim; k++)
            out[i * dim + k] = (x[rows[i] * dim + k] - mean[k]) / sd[k];
}

typedef struct {
    size_t nt;
    int dim, m, dual; /* m = min(nt, dim); dual when nt < dim */
    const double *x;   /* the rows of the training set */
    const size_t *rows;
    double *mean, *sd; /* the training standardisation (dim) */
    double *xc;        /* standardised training rows: all nt (dual), or RIDGE_BLOCK at a time (primal) */
    double *evec;      /* m x m, row j the eigenvector of s[j] */
    double *b;         /* m x dim: V^T (primal, = evec) or U^T Xc (dual) */
    double *s;         /* m eigenvalues */
} ridge_basis;

static void ridge_basis_free(ridge_basis *rb)
{
    if (rb->b != rb->evec)
        free(rb->b);
    free(rb->evec);
    free(rb->mean);
    free(rb->sd);
    free(rb->xc);
    free(rb->s);
    memset(rb, 0, sizeof *rb);
}

/* Standardises the training rows from b0 (RIDGE_BLOCK at most) into rb->xc; returns how many. */
static int ridge_block(const ridge_basis *rb, size_t b0)
{
    size_t nb = rb->nt - b0 < RIDGE_BLOCK ? rb->nt - b0 : RIDGE_BLOCK;
    standardise(rb->x, rb->dim, rb->rows + b0, nb, rb->mean, rb->sd, rb->xc);
    return (int)nb;
}

static int ridge_basis_build(const double *x, int dim, const size_t *rows, size_t nt, ridge_basis *rb)
{
    memset(rb, 0, sizeof *rb);
    rb->nt = nt;
    rb->dim = dim;
    rb->x = x;
    rb->rows = rows;
    rb->m = nt < (size_t)dim ? (int)nt : dim;
    size_t m = (size_t)rb->m;
    int dual = rb->dual = nt < (size_t)dim;
    rb->mean = malloc((size_t)dim * sizeof *rb->mean);
    rb->sd = malloc((size_t)dim * sizeof *rb->sd);
    rb->xc = malloc((dual || nt < RIDGE_BLOCK ? nt : RIDGE_BLOCK) * dim * sizeof *rb->xc);
    rb->evec = malloc(m * m * sizeof *rb->evec);
    rb->s = malloc(m * sizeof *rb->s);
    rb->b = dual ? malloc(m * dim * sizeof *rb->b) : rb->evec;
    if (!rb->mean || !rb->sd || !rb->xc || !rb->evec || !rb->s || !rb->b) {
        ridge_basis_free(rb);
        return iso_error(ISO_ENOMEM, "out of memory fitting the head");
    }
    feature_stats(x, dim, rows, nt, rb->mean, rb->sd);
    /* The smaller Gram matrix: Xc Xc^T (nt x nt) or Xc^T Xc (dim x dim), summed over blocks of rows. */
    if (dual) {
        standardise(x, dim, rows, nt, rb->mean, rb->sd, rb->xc);
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, rb->m, dim, 1.0, rb->xc, dim, 0.0, rb->evec, rb->m);
    }
    for (size_t b0 = 0; !dual && b0 < nt; b0 += RIDGE_BLOCK) {
        int nb = ridge_block(rb, b0);
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, dim, nb, 1.0, rb->xc, dim, b0 ? 1.0 : 0.0, rb->evec,
                    dim);
    }
    int rc = sym_eigen(rb->evec, rb->m, rb->s);
    for (size_t j = 0; rc == ISO_OK && j < m; j++)
        rb->s[j] = fmax(rb->s[j], 0); /* a Gram matrix is positive semidefinite: rounding only */
    if (rc == ISO_OK && dual)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rb->m, dim, (int)nt, 1.0, rb->evec, rb->m, rb->xc,
                    dim, 0.0, rb->b, dim);
    if (rc != ISO_OK)
        ridge_basis_free(rb);
    return rc;
}

/* Z (m x c) for the centred targets yc (nt x c); tmp holds dim x c. */
static void ridge_z(const ridge_basis *rb, const double *yc, int c, double *z, double *tmp)
{
    const double *t = yc; /* dual: Z = U^T Yc */
    for (size_t b0 = 0; !rb->dual && b0 < rb->nt; b0 += RIDGE_BLOCK) { /* primal: Z = V^T (Xc^T Yc) */
        int nb = ridge_block(rb, b0);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rb->dim, c, nb, 1.0, rb->xc, rb->dim, yc + b0 * c, c,
                    b0 ? 1.0 : 0.0, tmp, c);
        t = tmp;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rb->m, c, rb->m, 1.0, rb->evec, rb->m, t, c, 0.0, z, c);
}

/* Weights W (dim x c) of penalty lambda[j] for column j of Z; t holds m x c. */
static void ridge_w(const ridge_basis *rb, const double *z, int c, const double *lambda, double *t, double *w)
{
    for (int i = 0; i < rb->m; i++)
        for (int j = 0; j < c; j++)
            t[(size_t)i * c + j] = z[(size_t)i * c + j] / (rb->s[i] + lambda[j]);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rb->dim, c, rb->m, 1.0, rb->b, rb->dim, t, c, 0.0, w, c);
}

void iso_fitted_head_free(iso_fitted_head *h)
{
    for (int j = 0; h->out_names && j < h->n_out; j++)
        free(h->out_names[j]);
    free(h->out_names);
    free(h->mean);
    free(h->sd);
    free(h->w);
    free(h->b);
    free(h->lambda);
    free(h->cv_r2);
    free(h->baseline_r2);
    free(h->n_folds);
    memset(h, 0, sizeof *h);
}

static int head_alloc(iso_fitted_head *h, int dim, int n_out)
{
    memset(h, 0, sizeof *h);
    h->dim = dim;
    h->n_out = n_out;
    h->out_names = calloc((size_t)n_out, sizeof *h->out_names);
    h->mean = calloc((size_t)dim, sizeof *h->mean);
    h->sd = calloc((size_t)dim, sizeof *h->sd);
    h->w = calloc((size_t)dim * n_out, sizeof *h->w);
    h->b = calloc((size_t)n_out, sizeof *h->b);
    h->lambda = calloc((size_t)n_out, sizeof *h->lambda);
    h->cv_r2 = calloc((size_t)n_out, sizeof *h->cv_r2);
    h->baseline_r2 = calloc((size_t)n_out, sizeof *h->baseline_r2);
    h->n_folds = calloc((size_t)n_out, sizeof *h->n_folds);
    if (!h->out_names || !h->mean || !h->sd || !h->w || !h->b || !h->lambda || !h->cv_r2 || !h->baseline_r2 ||
        !h->n_folds) {
        iso_fitted_head_free(h);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    return ISO_OK;
}

/* Centred targets of outputs outs[0..c) on rows (nt x c) into yc, their means into ymean. */
static void centred_targets(const double *y, int n_out, const size_t *rows, size_t nt, const int *outs, int c,
                            double *yc, double *ymean)
{
    for (int j = 0; j < c; j++) {
        double s = 0;
        for (size_t i = 0; i < nt; i++)
            s += y[rows[i] * n_out + outs[j]];
        ymean[j] = s / nt;
        for (size_t i = 0; i < nt; i++)
            yc[i * c + j] = y[rows[i] * n_out + outs[j]] - ymean[j];
    }
}

/* Work arrays for a chunk of outputs. */
typedef struct {
    double *yc, *ymean, *z, *t, *w, *tmp, *pred, *lam;
} ridge_work;

static void ridge_work_free(ridge_work *wk)
{
    free(wk->yc), free(wk->ymean), free(wk->z), free(wk->t), free(wk->w), free(wk->tmp), free(wk->pred);
    free(wk->lam);
}

static int ridge_work_alloc(ridge_work *wk, size_t n, int dim, int c)
{
    wk->yc = malloc(n * c * sizeof *wk->yc);
    wk->ymean = malloc((size_t)c * sizeof *wk->ymean);
    wk->z = malloc((size_t)dim * c * sizeof *wk->z); /* m <= dim */
    wk->t = malloc((size_t)dim * c * sizeof *wk->t);
    wk->w = malloc((size_t)dim * c * sizeof *wk->w);
    wk->tmp = malloc((size_t)dim * c * sizeof *wk->tmp);
    wk->pred = malloc((n < RIDGE_BLOCK ? n : RIDGE_BLOCK) * c * sizeof *wk->pred);
    wk->lam = malloc((size_t)c * sizeof *wk->lam);
    if (wk->yc && wk->ymean && wk->z && wk->t && wk->w && wk->tmp && wk->pred && wk->lam)
        return ISO_OK;
    ridge_work_free(wk);
    return iso_error(ISO_ENOMEM, "out of memory fitting the head");
}

/* Cross-validates and fits the outputs outs[0..n_g), all observed on the same rows (m of them, fold[i] the fold
 * of rows[i]): the penalty of best CV R^2 per output, the baseline's CV R^2, and the final weights on all m rows
 * expressed in the head's standardisation (h->mean, h->sd). */
static int fit_group(const double *x, const double *y, int dim, int n_out, const size_t *rows, const int *fold,
                     size_t m, int folds, const int *outs, int n_g, const double *lambdas, int n_lambdas,
                     iso_fitted_head *h)
{
    int cmax = n_g < RIDGE_CHUNK ? n_g : RIDGE_CHUNK;
    double *ss_res = calloc((size_t)n_lambdas * n_g, sizeof *ss_res), *ss_base = calloc((size_t)n_g, sizeof *ss_base);
    size_t *train = malloc(m * sizeof *train), *test = malloc(m * sizeof *test), max_test = 0;
    int used_folds = 0;
    for (int f = 0; f < folds; f++) {
        size_t ne = 0;
        for (size_t i = 0; i < m; i++)
            ne += fold[i] == f;
        max_test = ne > max_test ? ne : max_test;
        used_folds += ne > 0;
    }
    for (int j = 0; j < n_g; j++)
        h->n_folds[outs[j]] = used_folds;
    double *xe = malloc((max_test < RIDGE_BLOCK ? max_test : RIDGE_BLOCK) * dim * sizeof *xe);
    ridge_work wk = {0};
    int rc = ss_res && ss_base && train && test && xe ? ridge_work_alloc(&wk, m, dim, cmax)
                                                        : iso_error(ISO_ENOMEM, "out of memory fitting the head");
    for (int f = 0; rc == ISO_OK && f < folds; f++) {
        size_t nt = 0, ne = 0;
        for (size_t i = 0; i < m; i++)
            if (fold[i] == f)
                test[ne++] = rows[i];
            else
                train[nt++] = rows[i];
        if (ne == 0)
            continue;
        ridge_basis rb;
        if ((rc = ridge_basis_build(x, dim, train, nt, &rb)) != ISO_OK)
            break;
        for (int c0 = 0; c0 < n_g; c0 += cmax) {
            int c = n_g - c0 < cmax ? n_g - c0 : cmax;
            centred_targets(y, n_out, train, nt, outs + c0, c, wk.yc, wk.ymean);
            ridge_z(&rb, wk.yc, c, wk.z, wk.tmp);
            for (int l = 0; l < n_lambdas; l++) {
                for (int j = 0; j < c; j++)
                    wk.lam[j] = lambdas[l];
                ridge_w(&rb, wk.z, c, wk.lam, wk.t, wk.w);
                /* The test rows a block at a time, in order: the errors sum as they would over all at once. */
                for (size_t b0 = 0; b0 < ne; b0 += RIDGE_BLOCK) {
                    size_t nb = ne - b0 < RIDGE_BLOCK ? ne - b0 : RIDGE_BLOCK;
                    standardise(x, dim, test + b0, nb, rb.mean, rb.sd, xe);
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, c, dim, 1.0, xe, dim, wk.w, c,
                                0.0, wk.pred, c);
                    for (size_t i = 0; i < nb; i++)
                        for (int j = 0; j < c; j++) {
                            double e = y[test[b0 + i] * n_out + outs[c0 + j]] - wk.ymean[j] - wk.pred[i * c + j];
                            ss_res[(size_t)l * n_g + c0 + j] += e * e;
                        }
                }
            }
            for (size_t i = 0; i < ne; i++)
                for (int j = 0; j < c; j++) {
                    double e = y[test[i] * n_out + outs[c0 + j]] - wk.ymean[j];
                    ss_base[c0 + j] += e * e;
                }
        }
        ridge_basis_free(&rb);
    }
    /* R^2 against the spread of all m observations; the best penalty (the first on ties; NAN R^2 when the
     * output is constant). */
    for (int j = 0; rc == ISO_OK && j < n_g; j++) {
        int o = outs[j];
        double mean = 0, tot = 0;
        for (size_t i = 0; i < m; i++)
            mean += y[rows[i] * n_out + o];
        mean /= m;
        for (size_t i = 0; i < m; i++)
            tot += (y[rows[i] * n_out + o] - mean) * (y[rows[i] * n_out + o] - mean);
        h->lambda[o] = lambdas[0];
        h->cv_r2[o] = tot > 0 ? 1 - ss_res[j] / tot : NAN;
        for (int l = 1; tot > 0 && l < n_lambdas; l++)
            if (1 - ss_res[(size_t)l * n_g + j] / tot > h->cv_r2[o]) {
                h->cv_r2[o] = 1 - ss_res[(size_t)l * n_g + j] / tot;
                h->lambda[o] = lambdas[l];
            }
        h->baseline_r2[o] = tot > 0 ? 1 - ss_base[j] / tot : NAN;
    }
    /* Final fit on all m rows, re-expressed from their standardisation (mean', sd') to the head's:
     * w_k = W_k sd_k / sd'_k, b = mean(y) + sum_k W_k (mean_k - mean'_k) / sd'_k. */
    ridge_basis rb;
    if (rc == ISO_OK && (rc = ridge_basis_build(x, dim, rows, m, &rb)) == ISO_OK) {
        for (int c0 = 0; c0 < n_g; c0 += cmax) {
            int c = n_g - c0 < cmax ? n_g - c0 : cmax;
            centred_targets(y, n_out, rows, m, outs + c0, c, wk.yc, wk.ymean);
            ridge_z(&rb, wk.yc, c, wk.z, wk.tmp);
            for (int j = 0; j < c; j++)
                wk.lam[j] = h->lambda[outs[c0 + j]];
            ridge_w(&rb, wk.z, c, wk.lam, wk.t, wk.w);
            for (int j = 0; j < c; j++) {
                int o = outs[c0 + j];
                h->b[o] = wk.ymean[j];
                for (int k = 0; k < dim; k++) {
                    double wk_ = wk.w[(size_t)k * c + j];
                    h->w[(size_t)o * dim + k] = wk_ * h->sd[k] / rb.sd[k];
                    h->b[o] += wk_ * (h->mean[k] - rb.mean[k]) / rb.sd[k];
                }
            }
        }
        ridge_basis_free(&rb);
    }
    ridge_work_free(&wk);
    free(ss_res), free(ss_base), free(train), free(test), free(xe);
    return rc;
}

/* 64-bit FNV-1a of which rows output o observes: outputs with equal masks share their decompositions. */
static uint64_t mask_hash(const double *y, size_t n, int n_out, int o)
{
    uint64_t hsh = 1469598103934665603u;
    for (size_t i = 0; i < n; i++)
        hsh = (hsh ^ (uint64_t)(isfinite(y[i * n_out + o]) != 0)) * 1099511628211u;
    return hsh;
}

static int same_mask(const double *y, size_t n, int n_out, int a, int b)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(y[i * n_out + a]) != !isfinite(y[i * n_out + b]))
            return 0;
    return 1;
}

int iso_ridge_fit(const double *x, const double *y, const int *group, size_t n, int dim, int n_out,
                  const double *lambdas, int n_lambdas, int folds, iso_fitted_head *h)
{
    if (folds < 2 || n_lambdas < 1 || dim < 1 || n_out < 1)
        return iso_error(ISO_EINVAL, "ridge: need at least 2 folds, one lambda, one feature and one output");
    for (int l = 0; l < n_lambdas; l++)
        if (!(lambdas[l] > 0))
            return iso_error(ISO_EINVAL, "ridge: penalty %g: expected a positive number", lambdas[l]);
    int rc = head_alloc(h, dim, n_out);
    if (rc != ISO_OK)
        return rc;
    size_t *rows = malloc((n ? n : 1) * sizeof *rows);
    int *fold = malloc((n ? n : 1) * sizeof *fold), *gfold = malloc((n ? n : 1) * sizeof *gfold);
    int *leader = malloc((size_t)n_out * sizeof *leader), *outs = malloc((size_t)n_out * sizeof *outs);
    uint64_t *hash = malloc((size_t)n_out * sizeof *hash);
    if (!rows || !fold || !gfold || !leader || !outs || !hash)
        rc = iso_error(ISO_ENOMEM, "out of memory fitting the head");
    if (rc == ISO_OK)
        feature_stats(x, dim, NULL, n, h->mean, h->sd);
    /* Folds by gene: groups dealt round-robin in order of first appearance, so no gene is split. */
    khash_t(group_fold) *seen = kh_init(group_fold);
    int n_groups = 0;
    if (rc == ISO_OK && !seen)
        rc = iso_error(ISO_ENOMEM, "out of memory");
    for (size_t i = 0; rc == ISO_OK && i < n; i++) {
        int absent;
        khint_t k = kh_put(group_fold, seen, group[i], &absent);
        if (absent < 0) {
            rc = iso_error(ISO_ENOMEM, "out of memory");
            break;
        }
        if (absent)
            kh_val(seen, k) = n_groups++ % folds;
        gfold[i] = kh_val(seen, k);
    }
    if (seen)
        kh_destroy(group_fold, seen);
    if (n_groups < folds) /* as many folds as genes at most */
        folds = n_groups > 1 ? n_groups : 2;
    /* Outputs observed on the same rows form one group, led by its first output. */
    for (int o = 0; rc == ISO_OK && o < n_out; o++) {
        hash[o] = mask_hash(y, n, n_out, o);
        leader[o] = o;
        for (int p = 0; p < o; p++)
            if (leader[p] == p && hash[p] == hash[o] && same_mask(y, n, n_out, p, o)) {
                leader[o] = p;
                break;
            }
    }
    for (int o = 0; rc == ISO_OK && o < n_out; o++) {
        if (leader[o] != o)
            continue;
        int n_g = 0, first_fold = -1, spans = 0;
        for (int p = o; p < n_out; p++)
            if (leader[p] == o)
                outs[n_g++] = p;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (isfinite(y[i * n_out + o])) {
                rows[m] = i;
                fold[m++] = gfold[i];
                if (first_fold < 0)
                    first_fold = gfold[i];
                spans |= gfold[i] != first_fold;
            }
        if (!spans || m < 3) {
            rc = iso_error(ISO_EINVAL, "output %d: %zu observed transcripts%s: cross-validation grouped by gene "
                                       "needs at least 3 transcripts in genes of 2 different folds", o, m,
                           spans ? "" : ", all in the genes of one fold");
            break;
        }
        rc = fit_group(x, y, dim, n_out, rows, fold, m, folds, outs, n_g, lambdas, n_lambdas, h);
    }
    free(rows);
    free(fold);
    free(gfold);
    free(leader);
    free(outs);
    free(hash);
    if (rc != ISO_OK)
        iso_fitted_head_free(h);
    return rc;
}

void iso_fitted_head_apply(const iso_fitted_head *h, const double *x, double *y)
{
    for (int o = 0; o < h->n_out; o++) {
        double s = h->b[o];
        for (int k = 0; k < h->dim; k++)
            s += h->w[(size_t)o * h->dim + k] * (x[k] - h->mean[k]) / h->sd[k];
        y[o] = s;
    }
}

/* Format: '#' header lines (dims, per-output lambda and CV R^2), then "mean" and "sd" rows of dim values, then
 * one row per output: name, intercept, dim weights. Values are %.17g, which round-trips doubles. */
int iso_fitted_head_write(const char *path, const iso_fitted_head *h)
{
    iso_out *o = iso_out_open(path);
    if (!o)
        return iso_last_status();
    FILE *fp = iso_out_fp(o);
    fprintf(fp, "#isoformer fitted head v1\tdim=%d\toutputs=%d\n", h->dim, h->n_out);
    for (int j = 0; j < h->n_out; j++)
        fprintf(fp, "#%s\tlambda=%.17g\tcv_r2=%.17g\tbaseline_cv_r2=%.17g\n", h->out_names[j], h->lambda[j],
                h->cv_r2[j], h->baseline_r2[j]);
    const double *rows[2] = {h->mean, h->sd};
    const char *names[2] = {"mean", "sd"};
    for (int r = 0; r < 2; r++) {
        fputs(names[r], fp);
        for (int k = 0; k < h->dim; k++)
            fprintf(fp, "\t%.17g", rows[r][k]);
        fputc('\n', fp);
    }
    for (int j = 0; j < h->n_out; j++) {
        fprintf(fp, "%s\t%.17g", h->out_names[j], h->b[j]);
        for (int k = 0; k < h->dim; k++)
            fprintf(fp, "\t%.17g", h->w[(size_t)j * h->dim + k]);
        fputc('\n', fp);
    }
    if (ferror(fp)) {
        iso_out_abort(o);
        return iso_error(ISO_EIO, "%s: write failed", path);
    }
    return iso_out_commit(o);
}

/* Parses n tab-separated finite doubles after the first field of line (a NaN mean or weight made every prediction
 * of its output NA without a word). */
static int parse_doubles(const char *line, int n, double *v)
{
    const char *p = strchr(line, '\t');
    for (int k = 0; k < n; k++) {
        if (!p)
            return -1;
        char *end;
        v[k] = strtod(p + 1, &end);
        if (end == p + 1 || (*end != '\t' && *end != '\0') || !isfinite(v[k]))
            return -1;
        p = *end ? end : NULL;
    }
    return p ? -1 : 0;
}

int iso_fitted_head_read(const char *path, iso_fitted_head *h)
{
    memset(h, 0, sizeof *h);
    iso_lines *lr = iso_lines_open(path);
    if (!lr)
        return iso_last_status();
    const char *line;
    size_t len;
    int r, rc = ISO_OK, dim = 0, n_out = 0, out = 0, data_rows = 0;
    while (rc == ISO_OK && (r = iso_lines_next(lr, &line, &len)) > 0) {
        long ln = iso_lines_lineno(lr);
        if (ln == 1) {
            if (sscanf(line, "#isoformer fitted head v1\tdim=%d\toutputs=%d", &dim, &n_out) != 2 || dim < 1 ||
                n_out < 1)
                rc = iso_error(ISO_EFORMAT, "%s:1: expected '#isoformer fitted head v1<TAB>dim=D<TAB>outputs=N'",
                               path);
            else
                rc = head_alloc(h, dim, n_out);
            continue;
        }
        if (line[0] == '#')
            continue;
        double *dst = data_rows == 0 ? h->mean : data_rows == 1 ? h->sd : NULL;
        if (!dst && out >= n_out) {
            rc = iso_error(ISO_EFORMAT, "%s:%ld: more rows than the %d outputs declared", path, ln, n_out);
            break;
        }
        if (dst ? parse_doubles(line, dim, dst) : 0) {
            rc = iso_error(ISO_EFORMAT, "%s:%ld: expected a name and %d finite numbers", path, ln, dim);
            break;
        }
        if (!dst) {
            double *v = malloc((size_t)(dim + 1) * sizeof *v);
            const char *tab = memchr(line, '\t', len);
            if (!v || !tab || parse_doubles(line, dim + 1, v)) {
                free(v);
                rc = iso_error(ISO_EFORMAT, "%s:%ld: expected a name, an intercept and %d finite weights", path, ln,
                               dim);
                break;
            }
            h->out_names[out] = strndup(line, (size_t)(tab - line));
            h->b[out] = v[0];
            memcpy(h->w + (size_t)out * dim, v + 1, (size_t)dim * sizeof *v);
            free(v);
            out++;
        }
        data_rows++;
    }
    if (rc == ISO_OK && r < 0)
        rc = r;
    if (rc == ISO_OK && (dim == 0 || out != n_out))
        rc = iso_error(ISO_EFORMAT, "%s: %d output rows, the header declares %d", path, out, n_out);
    iso_lines_close(lr);
    if (rc != ISO_OK)
        iso_fitted_head_free(h);
    return rc;
}
