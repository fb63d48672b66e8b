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

int main(void)
{
    Suite *s = suite_create("quant_em");
    TCase *tc = tcase_create("em");
    tcase_add_test(tc, unique_reads_stay_put);
    tcase_add_test(tc, shared_reads_split_by_the_likelihood);
    tcase_add_test(tc, length_bias_is_corrected);
    tcase_add_test(tc, fragment_length_weights_shift_shared_reads);
    suite_add_tcase(s, tc);
    return iso_run_suite(s);
}
