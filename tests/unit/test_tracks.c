/* bigWig building blocks shared by predict and merge: the per-base maximum of overlapping spans against a
 * brute-force per-base computation, the span checks libBigWig itself does not make, a failed final write
 * reported by the close, and the readers beside the writers (bigWig, TSV and BED tables, a TSV's
 * transcripts). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check_run.h"
#include "isoformer/outputs.h"
#include "test_files.h"

/* libBigWig frees nothing of a file whose final write failed: what it allocates then is not ours to free. */
#if defined(__SANITIZE_ADDRESS__)
#define ISO_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ISO_LSAN 1
#endif
#endif
#ifdef ISO_LSAN
#include <sanitizer/lsan_interface.h>
#define LIBBIGWIG_LEAKS_BEGIN() __lsan_disable()
#define LIBBIGWIG_LEAKS_END() __lsan_enable()
#else
#define LIBBIGWIG_LEAKS_BEGIN()
#define LIBBIGWIG_LEAKS_END()
#endif

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
    rc = rc == ISO_OK ? closed : rc;
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

START_TEST(bigwig_reads_back_what_was_written)
{
    const iso_span on_b[3] = {{0, 10, 1.5f}, {12, 40, -2.0f}, {40, 100, 3.25f}}, on_a[1] = {{5, 6, 7.0f}};
    ck_assert_int_eq(write_one(NULL, "b", on_b, 3), ISO_OK);
    char path[1024];
    snprintf(path, sizeof path, "%s/tracks_check.bw", ISO_TEST_TMP);
    iso_bigwig_reader *r;
    ck_assert_int_eq(iso_bigwig_reader_open(path, &r), ISO_OK);
    const char *const *names;
    const uint32_t *lens;
    ck_assert_int_eq(iso_bigwig_reader_chroms(r, &names, &lens), 2);
    ck_assert(!strcmp(names[0], "b") && !strcmp(names[1], "a") && lens[0] == 100 && lens[1] == 50);
    iso_span *got = NULL;
    size_t n = 0;
    ck_assert_int_eq(iso_bigwig_reader_spans(r, "b", &got, &n), ISO_OK);
    ck_assert_uint_eq(n, 3);
    for (size_t i = 0; i < n; i++)
        ck_assert(got[i].start == on_b[i].start && got[i].end == on_b[i].end && got[i].value == on_b[i].value);
    ck_assert_int_eq(iso_bigwig_reader_spans(r, "a", &got, &n), ISO_OK); /* no data there: nothing appended */
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(iso_bigwig_reader_spans(r, "c", &got, &n), ISO_ENOTFOUND);
    iso_bigwig_reader_close(r);
    /* a track without any data (libBigWig writes no index) reads as empty */
    ck_assert_int_eq(write_one(NULL, "a", on_a, 0), ISO_OK);
    ck_assert_int_eq(iso_bigwig_reader_open(path, &r), ISO_OK);
    ck_assert_int_eq(iso_bigwig_reader_spans(r, "b", &got, &n), ISO_OK);
    ck_assert_uint_eq(n, 3);
    iso_bigwig_reader_close(r);
    free(got);
    ck_assert_int_eq(iso_bigwig_reader_open(test_file("not.bw", "track\n"), &r), ISO_EFORMAT);
}
END_TEST

/* libBigWig writes the last data block and the index when the file is closed, and reports nothing: with the
 * file size limited (a full disk), the close must fail and nothing be committed. */
START_TEST(bigwig_close_reports_a_failed_final_write)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tracks_full.bw", ISO_TEST_TMP);
    unlink(path);
    static const char *const names[1] = {"c"};
    static const uint32_t lens[1] = {100000};
    iso_span spans[200];
    for (int i = 0; i < 200; i++)
        spans[i] = (iso_span){(uint32_t)i * 10, (uint32_t)i * 10 + 5, (float)i / 7};
    iso_out *o = iso_out_open(path);
    ck_assert_ptr_nonnull(o);
    iso_bigwig *bw = NULL;
    LIBBIGWIG_LEAKS_BEGIN();
    ck_assert_int_eq(iso_bigwig_open(o, names, lens, 1, &bw), ISO_OK);
    ck_assert_int_eq(iso_bigwig_write_chrom(bw, "c", spans, 200), ISO_OK); /* buffered by libBigWig */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, small = {1024, 1024};
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = iso_bigwig_close(bw);
    LIBBIGWIG_LEAKS_END();
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    ck_assert_int_lt(rc, 0);
    iso_out_abort(o);
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

/* libBigWig's bwOpen, when it cannot open the file for writing, finalises it in its own cleanup and crashes (a
 * merge of more shards than the open-file limit: SIGSEGV, temporaries left): the open must fail with an error. */
START_TEST(bigwig_open_fails_cleanly_without_a_file_descriptor)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tracks_nofd.bw", ISO_TEST_TMP);
    static const char *const names[1] = {"c"};
    static const uint32_t lens[1] = {1000};
    iso_out *o = iso_out_open(path);
    ck_assert_ptr_nonnull(o);
    int lowest_free = dup(0); /* every descriptor below it is in use */
    ck_assert_int_ge(lowest_free, 0);
    close(lowest_free);
    struct rlimit old, none;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    none = (struct rlimit){(rlim_t)lowest_free, old.rlim_max};
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &none), 0);
    iso_bigwig *bw = (iso_bigwig *)1;
    int rc = iso_bigwig_open(o, names, lens, 1, &bw);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(bw);
    ck_assert_msg(strstr(iso_last_error(), "tracks_nofd.bw") && strstr(iso_last_error(), "open"), "%s",
                  iso_last_error());
    iso_out_abort(o);
}
END_TEST

START_TEST(tables_read_back_with_their_keys)
{
    const char *tsv = test_file("t.tsv", ISO_TSV_COLUMNS "\tx\n"
                                         "T2\tG\tN\tchr1\t5\t9\t+\t1\n"
                                         "\n"
                                         "T1\tG\tN\tchr1\t5\t9\t-\t2\n");
    iso_table t;
    ck_assert_int_eq(iso_table_read(tsv, ISO_TABLE_TSV, &t), ISO_OK);
    ck_assert_str_eq(t.header, ISO_TSV_COLUMNS "\tx\n");
    ck_assert_uint_eq(t.n, 2);
    ck_assert_str_eq(t.rows[0].line, "T2\tG\tN\tchr1\t5\t9\t+\t1");
    ck_assert(!strcmp(t.rows[0].chrom, "chr1") && !strcmp(t.rows[0].id, "T2") && t.rows[0].start == 5 &&
              t.rows[0].end == 9);
    ck_assert_int_gt(iso_table_row_cmp(&t.rows[0], &t.rows[1]), 0); /* same span: by id */
    iso_table_free(&t);
    const char *bed = test_file("t.bed", "track name=x\nchr2\t1\t4\tA\t0\t+\nchr10\t7\t8\tB\t0\t+\n");
    ck_assert_int_eq(iso_table_read(bed, ISO_TABLE_BED, &t), ISO_OK);
    ck_assert_str_eq(t.header, "track name=x\n");
    ck_assert_uint_eq(t.n, 2);
    ck_assert_int_gt(iso_table_row_cmp(&t.rows[0], &t.rows[1]), 0); /* chr10 < chr2 in byte order */
    iso_table_free(&t);
    ck_assert_int_eq(iso_table_read(test_file("bad.bed", "chr1\t1\tx\tA\n"), ISO_TABLE_BED, &t), ISO_EFORMAT);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "bad.bed:1: expected integer start and end"));
    ck_assert_int_eq(iso_table_read(test_file("short.tsv", "h\nT1\tG\n"), ISO_TABLE_TSV, &t), ISO_EFORMAT);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "short.tsv:2: expected at least 6"));
}
END_TEST

START_TEST(tsv_transcripts_as_an_annotation)
{
    const char *tsv = test_file("p.tsv", ISO_TSV_COLUMNS "\tLiver\n"
                                         "T1.2\tG1\tNAME\tchr1\t100\t250\t-\t1.5\n"
                                         "T2\tG1\t\tchr2\t0\t10\t+\tNA\n");
    iso_annotation *a;
    ck_assert_int_eq(iso_tsv_read_annotation(tsv, &a), ISO_OK);
    ck_assert_uint_eq(a->n, 2);
    ck_assert_int_eq(iso_annotation_find(a, "T1"), 0); /* version-less lookups work as for a GTF */
    const iso_transcript *t = &a->tx[0];
    ck_assert(!strcmp(t->gene_id, "G1") && !strcmp(t->gene_name, "NAME") && !strcmp(t->chrom, "chr1") &&
              t->strand == '-' && t->n_exons == 1 && t->exons[0].start == 100 && t->exons[0].end == 250 &&
              t->tss == 249 && t->n_cds == 0 && t->line == 2);
    ck_assert_str_eq(a->tx[1].gene_name, "");
    iso_annotation_free(a);
    ck_assert_int_eq(iso_tsv_read_annotation(test_file("q.sf", "Name\tLength\nT1\t100\n"), &a), ISO_EFORMAT);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "q.sf:1: not an isoformer TSV"));
    ck_assert_int_eq(iso_tsv_read_annotation(test_file("d.tsv", ISO_TSV_COLUMNS "\nT1\tG\t\tc\t0\t5\t+\n\n"
                                                                "T1\tG\t\tc\t9\t15\t+\n"), &a), ISO_EFORMAT);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "d.tsv:4: transcript 'T1' is listed again (first at line 2)"));
    ck_assert_int_eq(iso_tsv_read_annotation(test_file("e.tsv", ISO_TSV_COLUMNS "\nT1\tG\t\tc\t9\t5\t+\n"), &a),
                     ISO_EFORMAT);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "e.tsv:2: expected transcript_id"));
}
END_TEST

/* A track's rows come sorted by contig name while the bigWig takes the header's order: each header contig must
 * get exactly its own rows (chr2's, not chr10's, which sort first), contigs without rows none, and a row on a
 * contig outside the header is refused by its transcript. */
START_TEST(bigwig_rows_go_to_their_header_contig)
{
    iso_annotation *a = NULL;
    ck_assert_int_eq(iso_tsv_read_annotation(test_file("rows.tsv", ISO_TSV_COLUMNS "\nT1\tG\t\tchr2\t10\t20\t+\n"
                                                                   "T2\tG\t\tchr10\t5\t15\t+\n"
                                                                   "T3\tG\t\tchr2\t15\t30\t-\n"
                                                                   "T4\tG\t\tchrZ\t1\t2\t+\n"), &a), ISO_OK);
    const char *const names[] = {"chrM", "chr2", "chr10"}, *const cols[] = {"v"};
    const int64_t lens[] = {100, 100, 100};
    const size_t rows[] = {0, 1, 2, 3};
    const float values[] = {1, 2, 3, 4};
    iso_track_matrix m = {a, rows, 3, cols, 1, values};
    const char *path = test_file("order.bw", "");
    ck_assert_int_eq(iso_write_bigwig(path, &m, 0, names, lens, 3, 1), ISO_OK);
    iso_bigwig_reader *r;
    ck_assert_int_eq(iso_bigwig_reader_open(path, &r), ISO_OK);
    iso_span *got = NULL;
    size_t n = 0;
    ck_assert_int_eq(iso_bigwig_reader_spans(r, "chrM", &got, &n), ISO_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(iso_bigwig_reader_spans(r, "chr2", &got, &n), ISO_OK);
    ck_assert_uint_eq(n, 2); /* T1 alone, then T3's higher value over their overlap and beyond */
    ck_assert(got[0].start == 10 && got[0].end == 15 && got[0].value == 1);
    ck_assert(got[1].start == 15 && got[1].end == 30 && got[1].value == 3);
    ck_assert_int_eq(iso_bigwig_reader_spans(r, "chr10", &got, &n), ISO_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert(got[2].start == 5 && got[2].end == 15 && got[2].value == 2);
    free(got);
    iso_bigwig_reader_close(r);
    m.n_rows = 4;
    ck_assert_int_eq(iso_write_bigwig(path, &m, 0, names, lens, 3, 1), ISO_EINVAL);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "contig chrZ of T4 is not in the FASTA"));
    iso_annotation_free(a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tracks");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, spans_max_matches_per_base_max);
    tcase_add_test(tc, bigwig_rejects_what_libbigwig_accepts);
    tcase_add_test(tc, bigwig_reads_back_what_was_written);
    tcase_add_test(tc, bigwig_close_reports_a_failed_final_write);
    tcase_add_test(tc, bigwig_open_fails_cleanly_without_a_file_descriptor);
    tcase_add_test(tc, bigwig_rows_go_to_their_header_contig);
    tcase_add_test(tc, tables_read_back_with_their_keys);
    tcase_add_test(tc, tsv_transcripts_as_an_annotation);
    suite_add_tcase(s, tc);
    return iso_run_suite(s);
}
