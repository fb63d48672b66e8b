/* The EM over equivalence classes, accelerated by SQUAREM (Varadhan and Roland 2008, scheme S3), and its
 * bootstrap: classes resampled multinomially, the EM run again from the estimate. Every loop runs in a fixed
 * order, so the result does not depend on the thread count. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "isoformer/quant.h"

/* Classes flattened: class c's transcripts are tx[off[c] .. off[c + 1]), each with its factor
 * weight / effective length. */
typedef struct {
    size_t n_classes, n_tx, max_class;
    size_t *off;
    uint32_t *tx;
    double *factor;
    const double *count;
} em_model;

static void model_free(em_model *m)
{
    free(m->off);
    free(m->tx);
    free(m->factor);
}

static int model_build(em_model *m, const iso_eq_class *classes, size_t n_classes, const double *eff_length,
                       size_t n_tx, double *count)
{
    *m = (em_model){.n_classes = n_classes, .n_tx = n_tx, .count = count};
    size_t total = 0;
    for (size_t c = 0; c < n_classes; c++)
        total += (size_t)classes[c].n_tx;
    m->off = malloc((n_classes + 1) * sizeof *m->off);
    m->tx = malloc((total ? total : 1) * sizeof *m->tx);
    m->factor = malloc((total ? total : 1) * sizeof *m->factor);
    if (!m->off || !m->tx || !m->factor) {
        model_free(m);
        return iso_error(ISO_ENOMEM, "out of memory for the EM");
    }
    size_t k = 0;
    for (size_t c = 0; c < n_classes; c++) {
        m->off[c] = k;
        count[c] = classes[c].count;
        if ((size_t)classes[c].n_tx > m->max_class)
            m->max_class = (size_t)classes[c].n_tx;
        for (int i = 0; i < classes[c].n_tx; i++, k++) {
            m->tx[k] = classes[c].tx[i];
            m->factor[k] = (classes[c].weight ? classes[c].weight[i] : 1.0) / eff_length[classes[c].tx[i]];
        }
    }
    m->off[n_classes] = k;
    return ISO_OK;
}

/* The fragments in classes with any, summed in class order as the likelihood's normalisation always was: the
 * same for every step, so em_step takes it rather than summing it again. */
static double model_fragments(const em_model *m)
{
    double n = 0;
    for (size_t c = 0; c < m->n_classes; c++)
        if (m->count[c] > 0)
            n += m->count[c];
    return n;
}

/* One EM step from x into next; returns the log-likelihood of x (up to a constant), -INFINITY when x gives a
 * class with fragments no probability; 0 without with_ll (a log per class was a third of the EM's time, and
 * SQUAREM's middle step does not use it). total: x summed in ascending t, n: model_fragments (both read only
 * with with_ll; the caller sums total in a pass over x it makes anyway). w: max_class scratch, so that a
 * class's x[tx[k]] * factor[k] is gathered and multiplied once for its denominator and its scatter. */
static double em_step(const em_model *m, const double *x, double total, double n, double *next, int with_ll,
                      double *w)
{
    memset(next, 0, m->n_tx * sizeof *next);
    double ll = 0;
    for (size_t c = 0; c < m->n_classes; c++) {
        double count = m->count[c];
        if (count <= 0)
            continue;
        size_t a = m->off[c], b = m->off[c + 1];
        if (b - a == 1) {
            next[m->tx[a]] += x[m->tx[a]] > 0 ? count : 0;
            if (with_ll)
                ll += count * log(x[m->tx[a]] * m->factor[a]);
            continue;
        }
        double denom = 0;
        for (size_t k = a; k < b; k++)
            denom += w[k - a] = x[m->tx[k]] * m->factor[k];
        if (with_ll)
            ll += count * log(denom);
        if (denom <= 0)
            continue;
        double scale = count / denom;
        for (size_t k = a; k < b; k++)
            next[m->tx[k]] += w[k - a] * scale;
    }
    return !with_ll ? 0 : total > 0 ? ll - n * log(total) : -INFINITY;
}

/* Largest relative change over the transcripts above min_abundance in either iterate that moved by more than
 * MIN_MOVE fragments: a transcript decaying towards 0 changes a lot relatively for ever, and matters to no
 * count once it moves by less than that. */
#define MIN_MOVE 0.01
/* Also sums b into *total_b (ascending t, as em_step wants it), saving em_step a pass. */
static double rel_change(const double *a, const double *b, size_t n, double min_abundance, double *total_b)
{
    double change = 0, total = 0;
    for (size_t t = 0; t < n; t++) {
        total += b[t];
        /* fmax inline (a libm call per transcript otherwise): where either is NaN, so is the difference and
         * the test fails whatever hi is, and a signed zero fails hi > min_abundance either way */
        double hi = a[t] > b[t] ? a[t] : b[t];
        if (hi > min_abundance && fabs(a[t] - b[t]) > MIN_MOVE) {
            double r = fabs(a[t] - b[t]) / hi;
            change = r > change ? r : change;
        }
    }
    *total_b = total;
    return change;
}

/* Below this many fragments a transcript's relative change does not hold up convergence (salmon's minAlpha
 * and kallisto's alpha limit are of this order). */
#define MIN_ABUNDANCE 1e-3

/* min_gain > 0: also stops once a step gains less log-likelihood than that (the step that measured it is
 * counted; its iterate is not taken). */
static int em_run(const em_model *m, int max_iter, double tol, double min_gain, double *x, double *change_out)
{
    size_t n = m->n_tx ? m->n_tx : 1;
    double *buf[4], *w = malloc((m->max_class ? m->max_class : 1) * sizeof *w);
    int ok = w != NULL;
    for (int i = 0; i < 4; i++)
        ok &= (buf[i] = malloc(n * sizeof *buf[i])) != NULL;
    if (!ok) {
        for (int i = 0; i < 4; i++)
            free(buf[i]);
        free(w);
        return iso_error(ISO_ENOMEM, "out of memory for the EM");
    }
    /* cur is the iterate; the accepted one trades places with it instead of being copied back each time */
    double *cur = x, *x1 = buf[0], *x2 = buf[1], *xs = buf[2], *x3 = buf[3];
    double frag = model_fragments(m), total = 0;
    for (size_t t = 0; t < m->n_tx; t++)
        total += cur[t];
    int it = 0;
    double change = INFINITY, ll_prev = -INFINITY;
    while (it < max_iter) {
        double ll0 = em_step(m, cur, total, frag, x1, 1, w);
        if (ll0 - ll_prev < min_gain) { /* NaN, not a stop, while x gives a class no probability */
            it++;
            break;
        }
        ll_prev = ll0;
        em_step(m, x1, 0, frag, x2, 0, w);
        it += 2;
        /* r = x1 - x, v = x2 - 2 x1 + x; step length alpha = -|r| / |v| (at most -1: plain EM). */
        double rr = 0, vv = 0;
        for (size_t t = 0; t < m->n_tx; t++) {
            double r = x1[t] - cur[t], v = x2[t] - 2 * x1[t] + cur[t];
            rr += r * r;
            vv += v * v;
        }
        double alpha = vv > 0 ? -sqrt(rr / vv) : -1;
        if (alpha > -1)
            alpha = -1;
        double **next = &x2;
        if (alpha < -1) {
            double total_s = 0;
            for (size_t t = 0; t < m->n_tx; t++) {
                double r = x1[t] - cur[t], v = x2[t] - 2 * x1[t] + cur[t];
                /* kept above 0 (as salmon does): a transcript at 0 could not take back its unique reads. Inline
                 * for glibc's x86-64 fmax (maxsd: the second operand unless the first is greater, also where the
                 * first is NaN), bit for bit, without a libm call per transcript. */
                double e = cur[t] - 2 * alpha * r + alpha * alpha * v, lo = cur[t] > 0 ? 1e-10 : 0;
                xs[t] = e > lo ? e : lo;
                total_s += xs[t];
            }
            /* The stabilising EM step; the extrapolation is kept only if the likelihood did not fall. */
            double lls = em_step(m, xs, total_s, frag, x3, 1, w);
            it++;
            if (isfinite(lls) && lls >= ll0)
                next = &x3;
        }
        change = rel_change(cur, *next, m->n_tx, MIN_ABUNDANCE, &total);
        double *old = cur;
        cur = *next;
        *next = old;
        if (change < tol)
            break;
    }
    if (cur != x)
        memcpy(x, cur, m->n_tx * sizeof *x);
    /* buf holds the allocations whatever roles they ended in */
    for (int i = 0; i < 4; i++)
        free(buf[i]);
    free(w);
    if (change_out)
        *change_out = change;
    return it;
}

int iso_quant_em(const iso_eq_class *classes, size_t n_classes, const double *eff_length, size_t n_tx,
                 int max_iter, double tol, double *abundance, double *final_change)
{
    double *count = malloc((n_classes ? n_classes : 1) * sizeof *count);
    em_model m;
    if (!count)
        return iso_error(ISO_ENOMEM, "out of memory for the EM");
    if (model_build(&m, classes, n_classes, eff_length, n_tx, count) != ISO_OK) {
        free(count);
        return ISO_ENOMEM;
    }
    /* Start from the classes' fragments shared evenly by their transcripts. */
    memset(abundance, 0, n_tx * sizeof *abundance);
    for (size_t c = 0; c < n_classes; c++)
        for (size_t k = m.off[c]; k < m.off[c + 1]; k++)
            abundance[m.tx[k]] += count[c] / (double)(m.off[c + 1] - m.off[c]);
    int it = em_run(&m, max_iter, tol, 0, abundance, final_change);
    model_free(&m);
    free(count);
    return it;
}

/* ---- bootstrap ---- */

/* splitmix64: a small, well-mixed generator; each replicate seeds its own, so replicates do not depend on
 * which thread runs them. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

typedef struct {
    const em_model *base;
    const double *cumulative; /* of the class counts */
    const double *estimate;
    size_t n_fragments;
    int max_iter;
    double tol, min_gain;
    int n_boot, n_threads, thread;
    double *out; /* n_boot x n_tx */
    int *iterations; /* n_boot, or NULL */
    int rc;
} boot_job;

static void *boot_worker(void *arg)
{
    boot_job *j = arg;
    const em_model *b = j->base;
    size_t nc = b->n_classes;
    double *count = malloc((nc ? nc : 1) * sizeof *count);
    if (!count) {
        j->rc = iso_error(ISO_ENOMEM, "out of memory for the bootstrap");
        return NULL;
    }
    em_model m = *b;
    m.count = count;
    double total = nc ? j->cumulative[nc - 1] : 0;
    for (int r = j->thread; r < j->n_boot; r += j->n_threads) {
        uint64_t state = 0x5eed0000u + (uint64_t)r;
        memset(count, 0, nc * sizeof *count);
        /* n fragments drawn with replacement, each class in proportion to its (NH-weighted) count */
        for (size_t f = 0; f < j->n_fragments && nc; f++) {
            double u = (double)(next_u64(&state) >> 11) * 0x1.0p-53 * total;
            size_t lo = 0, hi = nc - 1;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (j->cumulative[mid] <= u)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            count[lo] += 1;
        }
        double *x = j->out + (size_t)r * b->n_tx, scale = 0;
        for (size_t c = 0; c < nc; c++)
            scale += count[c];
        /* from the estimate, scaled to the resampled total */
        double est_total = 0;
        for (size_t t = 0; t < b->n_tx; t++)
            est_total += j->estimate[t];
        for (size_t t = 0; t < b->n_tx; t++)
            x[t] = est_total > 0 ? j->estimate[t] * scale / est_total : 0;
        int it = em_run(&m, j->max_iter, j->tol, j->min_gain, x, NULL);
        if (it < 0) {
            j->rc = it;
            break;
        }
        if (j->iterations)
            j->iterations[r] = it;
    }
    free(count);
    return NULL;
}

int iso_quant_bootstrap(const iso_eq_class *classes, size_t n_classes, const double *eff_length, size_t n_tx,
                        const double *estimate, int n_boot, int threads, int max_iter, double tol, double min_gain,
                        double *out, int *iterations)
{
    double *count = malloc((n_classes ? n_classes : 1) * sizeof *count);
    double *cumulative = malloc((n_classes ? n_classes : 1) * sizeof *cumulative);
    em_model m = {0};
    int rc = count && cumulative ? model_build(&m, classes, n_classes, eff_length, n_tx, count)
                                 : iso_error(ISO_ENOMEM, "out of memory for the bootstrap");
    double total = 0;
    for (size_t c = 0; rc == ISO_OK && c < n_classes; c++)
        cumulative[c] = total += count[c];
    if (threads < 1)
        threads = 1;
    if (threads > n_boot)
        threads = n_boot > 0 ? n_boot : 1;
    boot_job *jobs = rc == ISO_OK ? calloc((size_t)threads, sizeof *jobs) : NULL;
    pthread_t *tid = rc == ISO_OK ? calloc((size_t)threads, sizeof *tid) : NULL;
    if (rc == ISO_OK && (!jobs || !tid))
        rc = iso_error(ISO_ENOMEM, "out of memory for the bootstrap");
    int started = 0;
    for (int i = 0; rc == ISO_OK && i < threads; i++) {
        jobs[i] = (boot_job){&m,     cumulative, estimate, (size_t)llround(total), max_iter, tol, min_gain, n_boot,
                             threads, i,         out,      iterations,             ISO_OK};
        if (i > 0 && pthread_create(&tid[i], NULL, boot_worker, &jobs[i]) != 0) {
            rc = iso_error(ISO_EIO, "cannot start a bootstrap thread");
            break;
        }
        started = i + 1;
    }
    if (started > 0)
        boot_worker(&jobs[0]);
    for (int i = 1; i < started; i++)
        pthread_join(tid[i], NULL);
    for (int i = 0; i < started && rc == ISO_OK; i++)
        rc = jobs[i].rc;
    free(jobs);
    free(tid);
    model_free(&m);
    free(count);
    free(cumulative);
    return rc;
}
