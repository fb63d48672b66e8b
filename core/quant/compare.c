/* Agreement metrics, and the ridge-regression head fitted to a user's samples. */
#include <cblas.h>
#include <htslib/khash.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isoformer/expression.h"
#include "isoformer/io.h"

/* ---- metrics ---- */

double iso_pearson(const double *x, const double *y, size_t n)
{
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) {
            sx += x[i];
            sy += y[i];
            m++;
        }
    if (m < 3)
        return NAN;
    double mx = sx / m, my = sy / m;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) {
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
            sxy += (x[i] - mx) * (y[i] - my);
        }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

typedef struct {
    double v;
    size_t i;
} ranked;

static int by_value(const void *a, const void *b)
{
    double x = ((const ranked *)a)->v, y = ((const ranked *)b)->v;
    return (x > y) - (x < y);
}

/* Ranks (1-based, ties averaged) of the finite pairs, written at their positions; others NAN. */
static int ranks(const double *x, const double *y, size_t n, const double *src, double *out)
{
    ranked *r = malloc((n ? n : 1) * sizeof *r);
    if (!r)
        return -1;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = NAN;
        if (isfinite(x[i]) && isfinite(y[i]))
            r[m++] = (ranked){src[i], i};
    }
    qsort(r, m, sizeof *r, by_value);
    for (size_t a = 0; a < m;) {
        size_t b = a;
        while (b + 1 < m && r[b + 1].v == r[a].v)
            b++;
        for (size_t k = a; k <= b; k++)
            out[r[k].i] = (a + b) / 2.0 + 1;
        a = b + 1;
    }
    free(r);
    return 0;
}

double iso_spearman(const double *x, const double *y, size_t n)
{
    double *rx = malloc((n ? n : 1) * sizeof *rx), *ry = malloc((n ? n : 1) * sizeof *ry);
    double rho = NAN;
    if (rx && ry && !ranks(x, y, n, x, rx) && !ranks(x, y, n, y, ry))
        rho = iso_pearson(rx, ry, n);
    free(rx);
    free(ry);
    return rho;
}

double iso_r2(const double *x, const double *y, size_t n)
{
    double s = 0, res = 0, tot = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) {
            s += y[i];
            m++;
        }
    if (m < 3)
        return NAN;
    double mean = s / m;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) {
            res += (y[i] - x[i]) * (y[i] - x[i]);
            tot += (y[i] - mean) * (y[i] - mean);
        }
    return tot > 0 ? 1 - res / tot : NAN;
}

/* ---- ridge ---- */

KHASH_MAP_INIT_INT(group_fold, int)

/* In-place Cholesky of the m x m SPD matrix a (lower), then solves a z = b for nb right-hand sides (b is
 * m x nb, row-major). Returns -1 when a is not positive definite. */
static int cholesky_solve(double *a, size_t m, double *b, size_t nb)
{
    for (size_t j = 0; j < m; j++) {
        double d = a[j * m + j];
        for (size_t k = 0; k < j; k++)
            d -= a[j * m + k] * a[j * m + k];
        if (d <= 0)
            return -1;
        d = sqrt(d);
        a[j * m + j] = d;
        for (size_t i = j + 1; i < m; i++) {
            double s = a[i * m + j];
            for (size_t k = 0; k < j; k++)
                s -= a[i * m + k] * a[j * m + k];
            a[i * m + j] = s / d;
        }
    }
    for (size_t c = 0; c < nb; c++) {
        for (size_t i = 0; i < m; i++) { /* L z = b */
            double s = b[i * nb + c];
            for (size_t k = 0; k < i; k++)
                s -= a[i * m + k] * b[k * nb + c];
            b[i * nb + c] = s / a[i * m + i];
        }
        for (size_t i = m; i-- > 0;) { /* L^T x = z */
            double s = b[i * nb + c];
            for (size_t k = i + 1; k < m; k++)
                s -= a[k * m + i] * b[k * nb + c];
            b[i * nb + c] = s / a[i * m + i];
        }
    }
    return 0;
}

/* Ridge on rows `rows` (standardised x, centred y): w (dim) minimising |y - X w|^2 + lambda |w|^2, through the
 * n x n dual system when there are fewer rows than features, the dim x dim normal equations otherwise. */
static int ridge_solve(const double *xs, int dim, const double *yc, const size_t *rows, size_t n, double lambda,
                       double *w)
{
    double *xr = calloc(n * (size_t)dim, sizeof *xr), *y = calloc(n ? n : 1, sizeof *y);
    size_t m = n < (size_t)dim ? n : (size_t)dim;
    double *a = malloc(m * m * sizeof *a), *rhs = malloc((n > (size_t)dim ? n : (size_t)dim) * sizeof *rhs);
    int rc = xr && y && a && rhs ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory fitting the head");
    for (size_t i = 0; rc == ISO_OK && i < n; i++) {
        memcpy(xr + i * dim, xs + rows[i] * dim, (size_t)dim * sizeof *xr);
        y[i] = yc[i];
    }
    if (rc == ISO_OK && n < (size_t)dim) {
        /* (X X^T + lambda I) alpha = y ; w = X^T alpha */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, dim, 1.0, xr, dim, xr, dim, 0.0, a,
                    (int)n);
        for (size_t i = 0; i < n; i++)
            a[i * n + i] += lambda;
        memcpy(rhs, y, n * sizeof *rhs);
        if (cholesky_solve(a, n, rhs, 1))
            rc = iso_error(ISO_EINVAL, "ridge system is singular (lambda %g)", lambda);
        else
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, dim, 1.0, xr, dim, rhs, 1, 0.0, w, 1);
    } else if (rc == ISO_OK) {
        /* (X^T X + lambda I) w = X^T y */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dim, dim, (int)n, 1.0, xr, dim, xr, dim, 0.0, a, dim);
        for (int i = 0; i < dim; i++)
            a[(size_t)i * dim + i] += lambda;
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, dim, 1.0, xr, dim, y, 1, 0.0, rhs, 1);
        if (cholesky_solve(a, (size_t)dim, rhs, 1))
            rc = iso_error(ISO_EINVAL, "ridge system is singular (lambda %g)", lambda);
        else
            memcpy(w, rhs, (size_t)dim * sizeof *w);
    }
    free(xr);
    free(y);
    free(a);
    free(rhs);
    return rc;
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
    if (!h->out_names || !h->mean || !h->sd || !h->w || !h->b || !h->lambda || !h->cv_r2 || !h->baseline_r2) {
        iso_fitted_head_free(h);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    return ISO_OK;
}

/* Cross-validated R^2 of ridge(lambda) (lambda < 0: the intercept-only baseline) over rows, folds by group. */
static int cv_r2(const double *xs, int dim, const double *yv, const size_t *rows, const int *fold, size_t n,
                 int folds, double lambda, double *r2)
{
    double *pred = malloc(n * sizeof *pred), *w = malloc((size_t)dim * sizeof *w), *yc = malloc(n * sizeof *yc);
    size_t *train = malloc(n * sizeof *train);
    int rc = pred && w && yc && train ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int f = 0; rc == ISO_OK && f < folds; f++) {
        size_t nt = 0;
        double mean = 0;
        for (size_t i = 0; i < n; i++)
            if (fold[i] != f) {
                train[nt++] = rows[i];
                mean += yv[i];
            }
        if (nt == 0)
            continue;
        mean /= nt;
        for (size_t i = 0, k = 0; i < n; i++)
            if (fold[i] != f)
                yc[k++] = yv[i] - mean;
        if (lambda >= 0)
            rc = ridge_solve(xs, dim, yc, train, nt, lambda, w);
        for (size_t i = 0; rc == ISO_OK && i < n; i++)
            if (fold[i] == f)
                pred[i] = mean + (lambda >= 0 ? cblas_ddot(dim, xs + rows[i] * dim, 1, w, 1) : 0);
    }
    if (rc == ISO_OK)
        *r2 = iso_r2(pred, yv, n);
    free(pred);
    free(w);
    free(yc);
    free(train);
    return rc;
}

int iso_ridge_fit(const double *x, const double *y, const int *group, size_t n, int dim, int n_out,
                  const double *lambdas, int n_lambdas, int folds, iso_fitted_head *h)
{
    if (folds < 2 || n_lambdas < 1 || dim < 1 || n_out < 1)
        return iso_error(ISO_EINVAL, "ridge: need at least 2 folds, one lambda, one feature and one output");
    int rc = head_alloc(h, dim, n_out);
    if (rc != ISO_OK)
        return rc;
    double *xs = malloc(n * (size_t)dim * sizeof *xs), *yv = malloc(n * sizeof *yv);
    size_t *rows = malloc(n * sizeof *rows);
    int *fold = malloc(n * sizeof *fold), *gfold = malloc(n * sizeof *gfold);
    if (!xs || !yv || !rows || !fold || !gfold)
        rc = iso_error(ISO_ENOMEM, "out of memory fitting the head");
    /* Standardise features over all rows. */
    for (int k = 0; rc == ISO_OK && k < dim; k++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < n; i++)
            s += x[i * dim + k];
        h->mean[k] = s / n;
        for (size_t i = 0; i < n; i++)
            s2 += (x[i * dim + k] - h->mean[k]) * (x[i * dim + k] - h->mean[k]);
        h->sd[k] = n > 1 && s2 > 0 ? sqrt(s2 / (n - 1)) : 1;
        for (size_t i = 0; i < n; i++)
            xs[i * dim + k] = (x[i * dim + k] - h->mean[k]) / h->sd[k];
    }
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
    for (int o = 0; rc == ISO_OK && o < n_out; o++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (isfinite(y[i * n_out + o])) {
                rows[m] = i;
                yv[m] = y[i * n_out + o];
                fold[m++] = gfold[i];
            }
        if (n_groups < 2 || m < 3) {
            rc = iso_error(ISO_EINVAL, "output %d: %zu observed transcripts in %d gene(s): cross-validation grouped "
                                       "by gene needs at least 2 genes and 3 transcripts", o, m, n_groups);
            break;
        }
        double best = -INFINITY;
        for (int l = 0; rc == ISO_OK && l < n_lambdas; l++) {
            double r2 = NAN;
            rc = cv_r2(xs, dim, yv, rows, fold, m, folds, lambdas[l], &r2);
            if (rc == ISO_OK && r2 > best) {
                best = r2;
                h->lambda[o] = lambdas[l];
            }
        }
        if (rc == ISO_OK)
            rc = cv_r2(xs, dim, yv, rows, fold, m, folds, -1, &h->baseline_r2[o]);
        h->cv_r2[o] = best;
        /* Final fit on every observed row. */
        double mean = 0;
        for (size_t i = 0; i < m; i++)
            mean += yv[i];
        mean /= m;
        for (size_t i = 0; i < m; i++)
            yv[i] -= mean;
        if (rc == ISO_OK)
            rc = ridge_solve(xs, dim, yv, rows, m, h->lambda[o], h->w + (size_t)o * dim);
        h->b[o] = mean;
    }
    free(xs);
    free(yv);
    free(rows);
    free(fold);
    free(gfold);
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
        fprintf(fp, "#%s\tlambda=%.17g\tcv_r2=%.6f\tbaseline_cv_r2=%.6f\n", h->out_names[j], h->lambda[j],
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

/* Parses n tab-separated doubles after the first field of line. */
static int parse_doubles(const char *line, int n, double *v)
{
    const char *p = strchr(line, '\t');
    for (int k = 0; k < n; k++) {
        if (!p)
            return -1;
        char *end;
        v[k] = strtod(p + 1, &end);
        if (end == p + 1 || (*end != '\t' && *end != '\0'))
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
            rc = iso_error(ISO_EFORMAT, "%s:%ld: expected a name and %d numbers", path, ln, dim);
            break;
        }
        if (!dst) {
            double *v = malloc((size_t)(dim + 1) * sizeof *v);
            const char *tab = memchr(line, '\t', len);
            if (!v || !tab || parse_doubles(line, dim + 1, v)) {
                free(v);
                rc = iso_error(ISO_EFORMAT, "%s:%ld: expected a name, an intercept and %d weights", path, ln, dim);
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
