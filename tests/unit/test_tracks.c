/* bigWig building blocks shared by predict and merge: the per-base maximum of overlapping spans against a
 * brute-force per-base computation, and the span checks libBigWig itself does not make. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "isoformer/outputs.h"

#define LEN 1000

START_TEST(spans_max_matches_per_base_max)
{
    srand(7);
    for (int round = 0; round < 50; round++) {
        size_t n = 1 + (size_t)(rand() % 60);
        iso_span *spans = malloc(n * sizeof *spans);
        float best[LEN];
        int covered[LEN] = {0};
        for (size_t i = 0; i < n; i++) {
            uint32_t s = (uint32_t)(rand() % (LEN - 1)), e = s + 1 + (uint32_t)(rand() % 80);
            if (e > LEN)
                e = LEN;
            spans[i] = (iso_span){s, e, (float)(rand() % 6)}; /* few values: ties and equal neighbours */
            for (uint32_t p = s; p < e; p++) {
                best[p] = covered[p] && best[p] > spans[i].value ? best[p] : spans[i].value;
                covered[p] = 1;
            }
        }
        ck_assert_int_eq(iso_spans_max(&spans, &n), ISO_OK);
        int got[LEN] = {0};
        for (size_t i = 0; i < n; i++) {
            ck_assert_uint_lt(spans[i].start, spans[i].end);
            if (i) { /* sorted, disjoint and maximal: touching runs differ in value */
                ck_assert_uint_ge(spans[i].start, spans[i - 1].end);
                ck_assert(spans[i].start > spans[i - 1].end || spans[i].value != spans[i - 1].value);
            }
            for (uint32_t p = spans[i].start; p < spans[i].end; p++) {
                ck_assert_msg(covered[p] && best[p] == spans[i].value, "round %d base %u: got %g, want %g",
                              round, p, spans[i].value, covered[p] ? best[p] : -1.0f);
                got[p] = 1;
            }
        }
        for (int p = 0; p < LEN; p++)
            ck_assert_int_eq(got[p], covered[p]);
        free(spans);
    }
}
END_TEST

/* Writes spans for chrom into a fresh bigWig with contigs "b" (100 bp) then "a" (50 bp); returns the status. */
static int write_one(const char *first, const char *chrom, const iso_span *spans, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tracks_check.bw", ISO_TEST_TMP);
    unlink(path);
    static const char *const names[2] = {"b", "a"};
    static const uint32_t lens[2] = {100, 50};
    iso_out *o = iso_out_open(path);
    ck_assert_ptr_nonnull(o);
    iso_bigwig *bw = NULL;
    ck_assert_int_eq(iso_bigwig_open(o, names, lens, 2, &bw), ISO_OK);
    int rc = ISO_OK;
    if (first) {
        iso_span one = {0, 10, 1.0f};
        rc = iso_bigwig_write_chrom(bw, first, &one, 1);
    }
    if (rc == ISO_OK)
        rc = iso_bigwig_write_chrom(bw, chrom, spans, n);
    int closed = iso_bigwig_close(bw);
    if (rc == ISO_OK)
        rc = closed;
    if (rc == ISO_OK) {
        ck_assert_int_eq(iso_out_commit(o), ISO_OK);
        ck_assert_int_eq(access(path, F_OK), 0);
    } else {
        iso_out_abort(o);
        ck_assert_int_ne(access(path, F_OK), 0);
    }
    return rc;
}

START_TEST(bigwig_rejects_what_libbigwig_accepts)
{
    const iso_span ok[2] = {{0, 10, 1.0f}, {10, 50, 2.0f}};
    ck_assert_int_eq(write_one(NULL, "a", ok, 2), ISO_OK);
    ck_assert_int_eq(write_one("b", "a", ok, 2), ISO_OK);
    /* contig out of header order, or absent */
    ck_assert_int_eq(write_one("a", "b", ok, 1), ISO_EINVAL);
    ck_assert_int_eq(write_one(NULL, "c", ok, 1), ISO_EINVAL);
    /* overlapping, unsorted, empty, past the contig end (a is 50 bp) */
    const iso_span overlap[2] = {{0, 10, 1.0f}, {9, 20, 1.0f}};
    const iso_span unsorted[2] = {{20, 30, 1.0f}, {0, 10, 1.0f}};
    const iso_span empty[1] = {{5, 5, 1.0f}};
    const iso_span past_end[1] = {{40, 51, 1.0f}};
    ck_assert_int_eq(write_one(NULL, "a", overlap, 2), ISO_EINVAL);
    ck_assert_int_eq(write_one(NULL, "a", unsorted, 2), ISO_EINVAL);
    ck_assert_int_eq(write_one(NULL, "a", empty, 1), ISO_EINVAL);
    ck_assert_int_eq(write_one(NULL, "a", past_end, 1), ISO_EINVAL);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "a:40-51"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tracks");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, spans_max_matches_per_base_max);
    tcase_add_test(tc, bigwig_rejects_what_libbigwig_accepts);
    suite_add_tcase(s, tc);
    return iso_run_suite(s);
}
