/* Agreement metrics between predicted and observed expression. */
#include <math.h>
#include <stdlib.h>

#include "isoformer/expression.h"

/* Whether v takes two values over the pairs where v and w are both finite. A constant column's sum of squared
 * deviations is not 0 but the rounding of its mean (1e-31 for TPMs all 5), which made a correlation of -0.0 and an
 * R^2 of -5e31 out of it: such a column has no correlation or R^2 (NA), as when it is all zeros. */
static int varies(const double *v, const double *w, size_t n)
{
    const double *first = NULL;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]) && isfinite(w[i])) {
            if (first && v[i] != *first)
                return 1;
            first = first ? first : &v[i];
        }
    return 0;
}

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
    if (m < 3 || !varies(x, y, n) || !varies(y, x, n))
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
    if (m < 3 || !varies(y, x, n))
        return NAN;
    double mean = s / m;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) {
            res += (y[i] - x[i]) * (y[i] - x[i]);
            tot += (y[i] - mean) * (y[i] - mean);
        }
    return tot > 0 ? 1 - res / tot : NAN;
}
