/* The quantification EM against answers known in closed form. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "check_run.h"
#include "isoformer/quant.h"

START_TEST(unique_reads_stay_put)
{
    /* Only unambiguous classes: every transcript gets exactly its own reads, whatever the lengths. */
    static const uint32_t t0[] = {0}, t1[] = {1}, t2[] = {2};
    iso_eq_class c[] = {{t0, 1, 12, NULL}, {t1, 1, 3.5, NULL}, {t2, 1, 0, NULL}};
    double eff[] = {100, 2000, 50}, a[3];
    ck_assert_int_gt(iso_quant_em(c, 3, eff, 3, 500, 1e-10, a, NULL), 0);
    ck_assert_double_eq_tol(a[0], 12, 1e-9);
    ck_assert_double_eq_tol(a[1], 3.5, 1e-9);
    ck_assert_double_eq_tol(a[2], 0, 1e-9);
}
END_TEST

START_TEST(shared_reads_split_by_the_likelihood)
{
    /* Equal lengths, 30 reads only on A, 10 only on B, 40 on both: the maximum-likelihood fractions are
     * theta_A = 3/4 (30 + 40 * 3/4 = 60), so A gets 60 and B 20. */
    static const uint32_t a_only[] = {0}, b_only[] = {1}, both[] = {0, 1};
    iso_eq_class c[] = {{a_only, 1, 30, NULL}, {b_only, 1, 10, NULL}, {both, 2, 40, NULL}};
    double eff[] = {500, 500}, a[2];
    int it = iso_quant_em(c, 3, eff, 2, 5000, 1e-12, a, NULL);
    ck_assert_int_gt(it, 0);
    ck_assert_double_eq_tol(a[0], 60, 1e-6);
    ck_assert_double_eq_tol(a[1], 20, 1e-6);
}
END_TEST

START_TEST(length_bias_is_corrected)
{
    /* A transcript twice as long with twice the reads, all shared: under the model each read comes from
     * either, so the split follows abundance x length and the EM may settle anywhere on the ridge; but a
     * transcript with no unique read and a longer partner that explains everything must not steal reads
     * from unique evidence: B (unique 0 reads) gets nothing. */
    static const uint32_t a_only[] = {0}, both[] = {0, 1};
    iso_eq_class c[] = {{a_only, 1, 50, NULL}, {both, 2, 50, NULL}};
    double eff[] = {1000, 500}, a[2];
    ck_assert_int_gt(iso_quant_em(c, 2, eff, 2, 20000, 1e-12, a, NULL), 0);
    ck_assert_double_eq_tol(a[0] + a[1], 100, 1e-6);
    ck_assert(a[1] < 1.0);
}
END_TEST

START_TEST(fragment_length_weights_shift_shared_reads)
{
    /* 10 reads only on A, 10 only on B, 100 shared whose implied fragment length is 4x likelier on A
     * (weights 1 and 0.25). With u = A's share of the shared reads, the fixed point x = 10 + 100u,
     * y = 10 + 100(1 - u), u = x / (x + y/4) gives 75u^2 - 62.5u - 10 = 0. */
    static const uint32_t a_only[] = {0}, b_only[] = {1}, both[] = {0, 1};
    static const double w[] = {1.0, 0.25};
    iso_eq_class c[] = {{a_only, 1, 10, NULL}, {b_only, 1, 10, NULL}, {both, 2, 100, w}};
    double eff[] = {800, 800}, a[2];
    ck_assert_int_gt(iso_quant_em(c, 3, eff, 2, 100000, 1e-13, a, NULL), 0);
    double u = (62.5 + sqrt(62.5 * 62.5 + 4 * 75 * 10)) / 150;
    ck_assert_double_eq_tol(a[0], 10 + 100 * u, 1e-4);
    ck_assert_double_eq_tol(a[1], 10 + 100 * (1 - u), 1e-4);
}
END_TEST

/* ---- bootstrap stopping on near-ridges ---- */

static uint64_t rng_next(uint64_t *s) /* xorshift64*: the test's data only */
{
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dULL;
}
static double rng_unif(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* Groups of 2-4 transcripts of random effective lengths, sharing 20-2000 fragments. Every other group is a
 * "ridge": its neighbours also share a class and each has only 0-3 fragments of its own, so the likelihood is
 * nearly flat along how the shared ones split (as where isoforms differ by a few bases); in the others each
 * member has its own fragments, a fifth to twice the shared ones (is_identified). */
typedef struct {
    iso_eq_class *c;
    uint32_t *tx;
    double *eff;
    int *is_identified;
    size_t n_classes, n_tx;
} ridge_set;

static void ridge_set_make(ridge_set *r, int n_groups, uint64_t seed)
{
    size_t max_tx = (size_t)n_groups * 4;
    r->c = calloc(max_tx * 3, sizeof *r->c);
    r->tx = calloc(max_tx * 4, sizeof *r->tx);
    r->eff = calloc(max_tx, sizeof *r->eff);
    r->is_identified = calloc(max_tx, sizeof *r->is_identified);
    ck_assert(r->c && r->tx && r->eff && r->is_identified);
    r->n_classes = r->n_tx = 0;
    size_t k = 0;
    for (int g = 0; g < n_groups; g++) {
        int n = 2 + (int)(rng_next(&seed) % 3), identified = g % 2 != 0;
        double shared = round(exp(log(20) + rng_unif(&seed) * log(100))); /* 20 .. 2000 */
        uint32_t first = (uint32_t)r->n_tx;
        r->c[r->n_classes++] = (iso_eq_class){r->tx + k, n, shared, NULL};
        for (int i = 0; i < n; i++)
            r->tx[k++] = first + (uint32_t)i;
        /* a class per neighbouring pair too, so that the flat directions differ in curvature */
        for (int i = 0; !identified && i + 1 < n; i++) {
            r->c[r->n_classes++] = (iso_eq_class){r->tx + k, 2, round(shared * rng_unif(&seed)), NULL};
            r->tx[k++] = first + (uint32_t)i, r->tx[k++] = first + (uint32_t)i + 1;
        }
        for (int i = 0; i < n; i++) {
            size_t t = r->n_tx++;
            r->eff[t] = 300 + 2700 * rng_unif(&seed);
            r->is_identified[t] = identified;
            double own = identified ? round(shared * (0.2 + 1.8 * rng_unif(&seed))) : (double)(rng_next(&seed) % 4);
            r->tx[k] = (uint32_t)t;
            r->c[r->n_classes++] = (iso_eq_class){r->tx + k++, 1, own, NULL};
        }
    }
}

static void ridge_set_free(ridge_set *r)
{
    free(r->c), free(r->tx), free(r->eff), free(r->is_identified);
}

START_TEST(bootstrap_stops_on_flat_ridges)
{
    /* Replicates under the default rules (tol 1e-3, gain 1e-3 nats), under the relative rule alone (the rule
     * before the gain rule), and converged (tol 1e-12, no gain rule) from the same resampled counts. */
    enum { GROUPS = 1500, BOOT = 8 };
    ridge_set r;
    ridge_set_make(&r, GROUPS, 42);
    size_t n = r.n_tx;
    double *est = malloc(n * sizeof *est), *fast = malloc(BOOT * n * sizeof *fast),
           *rel = malloc(BOOT * n * sizeof *rel), *ref = malloc(BOOT * n * sizeof *ref);
    int it_fast[BOOT], it_rel[BOOT];
    ck_assert(est && fast && rel && ref);
    ck_assert_int_gt(iso_quant_em(r.c, r.n_classes, r.eff, n, 10000, 1e-3, est, NULL), 0);
    ck_assert_int_eq(iso_quant_bootstrap(r.c, r.n_classes, r.eff, n, est, BOOT, 1,
                                         10000, 1e-3, 1e-3, fast, it_fast), 0);
    ck_assert_int_eq(iso_quant_bootstrap(r.c, r.n_classes, r.eff, n, est, BOOT, 1,
                                         10000, 1e-3, 0, rel, it_rel), 0);
    ck_assert_int_eq(iso_quant_bootstrap(r.c, r.n_classes, r.eff, n, est, BOOT, 1,
                                         1000000, 1e-12, 0, ref, NULL), 0);
    /* (a) The gain rule stops the replicates well before the relative rule alone. */
    int sum_fast = 0, sum_rel = 0;
    for (int b = 0; b < BOOT; b++)
        sum_fast += it_fast[b], sum_rel += it_rel[b];
    ck_assert_msg(sum_fast * 10 <= sum_rel * 8, "%d EM steps with the gain rule, %d without", sum_fast, sum_rel);
    /* (b) Transcripts with their own evidence land where the converged replicate does, within a hundredth of
     * their counting noise; the spread of all replicates about the estimate (ridges included) stays within 10%
     * of the converged one. */
    double worst = 0, var_fast = 0, var_ref = 0;
    for (size_t i = 0; i < BOOT * n; i++) {
        size_t t = i % n;
        if (r.is_identified[t])
            worst = fmax(worst, fabs(fast[i] - ref[i]) / sqrt(ref[i] + 1));
        var_fast += (fast[i] - est[t]) * (fast[i] - est[t]);
        var_ref += (ref[i] - est[t]) * (ref[i] - est[t]);
    }
    ck_assert_msg(worst < 0.01, "identified transcript %g Poisson SDs from the converged replicate", worst);
    ck_assert_msg(fabs(var_fast / var_ref - 1) < 0.1, "bootstrap variance %g of the converged", var_fast / var_ref);
    free(est), free(fast), free(rel), free(ref);
    ridge_set_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quant_em");
    TCase *tc = tcase_create("em");
    tcase_add_test(tc, unique_reads_stay_put);
    tcase_add_test(tc, shared_reads_split_by_the_likelihood);
    tcase_add_test(tc, length_bias_is_corrected);
    tcase_add_test(tc, fragment_length_weights_shift_shared_reads);
    tcase_add_test(tc, bootstrap_stops_on_flat_ridges);
    suite_add_tcase(s, tc);
    return iso_run_suite(s);
}
