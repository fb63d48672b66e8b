/* Line reader (plain, gzip, truncated gzip, CRLF) and FASTA access (index building, fetch, N padding, stale
 * indexes and duplicate names, bgzipped FASTA cut short). */
#include <check.h>
#include <htslib/bgzf.h>
#include <unistd.h>

#include "check_run.h"
#include "isoformer/io.h"
#include "test_files.h"

static int read_all(const char *path, char lines[][64], int max, int *rc_out)
{
    iso_lines *lr = iso_lines_open(path);
    ck_assert_ptr_nonnull(lr);
    const char *line;
    size_t len;
    int n = 0, rc;
    while ((rc = iso_lines_next(lr, &line, &len)) > 0 && n < max) {
        ck_assert_uint_eq(strlen(line), len);
        snprintf(lines[n++], 64, "%s", line);
        ck_assert_int_eq(iso_lines_lineno(lr), n);
    }
    *rc_out = rc;
    iso_lines_close(lr);
    return n;
}

START_TEST(lines_plain_crlf_and_no_final_newline)
{
    char got[8][64];
    int rc;
    int n = read_all(test_file("io_crlf.txt", "alpha\r\nbeta\n\r\ngamma"), got, 8, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(n, 4);
    ck_assert_str_eq(got[0], "alpha");
    ck_assert_str_eq(got[1], "beta");
    ck_assert_str_eq(got[2], "");
    ck_assert_str_eq(got[3], "gamma");
}
END_TEST

START_TEST(lines_gzip)
{
    char got[8][64];
    int rc;
    int n = read_all(test_gzip_file("io_ok.txt.gz", "one\ntwo\r\nthree\n", 0), got, 8, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(got[1], "two");
    ck_assert_str_eq(got[2], "three");
}
END_TEST

START_TEST(lines_truncated_gzip_is_an_error_naming_the_file)
{
    char text[20000];
    size_t at = 0;
    for (int i = 0; at + 40 < sizeof text; i++) /* enough varied text that the deflate stream spans the cut */
        at += (size_t)snprintf(text + at, sizeof text - at, "line %d %d\n", i, i * 7919 % 1000);
    const char *path = test_gzip_file("io_trunc.txt.gz", text, 2000);
    iso_lines *lr = iso_lines_open(path);
    ck_assert_ptr_nonnull(lr);
    const char *line;
    size_t len;
    int rc;
    while ((rc = iso_lines_next(lr, &line, &len)) > 0)
        ;
    iso_lines_close(lr);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "io_trunc.txt.gz:"));
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "truncated"));
}
END_TEST

START_TEST(lines_missing_file)
{
    ck_assert_ptr_null(iso_lines_open(ISO_TEST_TMP "/does-not-exist.txt"));
    ck_assert_int_eq(iso_last_status(), ISO_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "does-not-exist.txt"));
}
END_TEST

static const char *const small_fa = ">c1 desc\nACGTacgtNN\nGGCC\n>c2\nTTTTA\n";

START_TEST(fasta_builds_index_and_fetches_with_padding)
{
    const char *path = test_file("io_small.fa", small_fa);
    char fai[1100];
    snprintf(fai, sizeof fai, "%s.fai", path);
    unlink(fai);
    iso_fasta *fa = iso_fasta_open(path);
    ck_assert_ptr_nonnull(fa);
    ck_assert_int_eq(access(fai, F_OK), 0);
    ck_assert_int_eq(iso_fasta_ncontigs(fa), 2);
    ck_assert_str_eq(iso_fasta_contig_name(fa, 0), "c1");
    ck_assert_int_eq(iso_fasta_contig_len(fa, "c1"), 14);
    ck_assert_int_eq(iso_fasta_contig_len(fa, "c2"), 5);
    ck_assert_int_eq(iso_fasta_contig_len(fa, "c3"), -1);
    char *s;
    ck_assert_int_eq(iso_fasta_fetch(fa, "c1", 2, 12, &s), ISO_OK); /* spans a line break, lowercase kept */
    ck_assert_str_eq(s, "GTacgtNNGG");
    free(s);
    ck_assert_int_eq(iso_fasta_fetch(fa, "c2", -3, 8, &s), ISO_OK); /* past both ends */
    ck_assert_str_eq(s, "NNNTTTTANNN");
    free(s);
    ck_assert_int_eq(iso_fasta_fetch(fa, "c2", 7, 9, &s), ISO_OK); /* wholly outside */
    ck_assert_str_eq(s, "NN");
    free(s);
    ck_assert_int_eq(iso_fasta_fetch(fa, "c9", 0, 2, &s), ISO_ENOTFOUND);
    ck_assert_ptr_null(s);
    iso_fasta_close(fa);
}
END_TEST

START_TEST(fasta_contig_name_out_of_range_is_null)
{
    iso_fasta *fa = iso_fasta_open(test_file("io_names.fa", small_fa));
    ck_assert_ptr_nonnull(fa);
    ck_assert_str_eq(iso_fasta_contig_name(fa, 1), "c2");
    ck_assert_ptr_null(iso_fasta_contig_name(fa, 2));
    ck_assert_ptr_null(iso_fasta_contig_name(fa, -1));
    ck_assert_ptr_null(iso_fasta_contig_name(fa, 1 << 30));
    iso_fasta_close(fa);
}
END_TEST

/* Writes text bgzipped to ISO_TEST_TMP/name, a BGZF block per record (so it can be cut between records), without
 * a stale .fai/.gzi; returns the path (static) and the file's size in *size. */
static const char *bgzip_file(const char *name, const char *text, long *size)
{
    static char path[1024];
    char idx[1100];
    snprintf(path, sizeof path, "%s/%s", ISO_TEST_TMP, name);
    snprintf(idx, sizeof idx, "%s.fai", path);
    unlink(idx);
    snprintf(idx, sizeof idx, "%s.gzi", path);
    unlink(idx);
    BGZF *z = bgzf_open(path, "w");
    ck_assert_ptr_nonnull(z);
    for (const char *p = text; *p;) {
        const char *next = strchr(p + 1, '>');
        size_t n = next ? (size_t)(next - p) : strlen(p);
        ck_assert_int_eq(bgzf_write(z, p, n), (ssize_t)n);
        ck_assert_int_eq(bgzf_flush(z), 0);
        p += n;
    }
    ck_assert_int_eq(bgzf_close(z), 0);
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    *size = ftell(fp);
    fclose(fp);
    return path;
}

START_TEST(fasta_truncated_bgzip_is_refused)
{
    /* long records, so that the second one's bases lie well inside its block */
    char text[4096], line[64];
    text[0] = '\0';
    for (int r = 0; r < 3; r++) {
        snprintf(line, sizeof line, ">r%d\n", r);
        strcat(text, line);
        for (int i = 0; i < 20; i++)
            strcat(text, "ACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTAC\n");
    }
    long size;
    const char *path = bgzip_file("io_cut.fa.gz", text, &size);
    iso_fasta *fa = iso_fasta_open(path); /* complete: indexed (.fai and .gzi) */
    ck_assert_msg(fa != NULL, "%s", iso_last_error());
    ck_assert_int_eq(iso_fasta_ncontigs(fa), 3);
    iso_fasta_close(fa);
    /* without its end-of-file block only: htslib would index and read it as if whole */
    char cut[1100];
    snprintf(cut, sizeof cut, "%s", path);
    ck_assert_int_eq(truncate(cut, size - 28), 0);
    ck_assert_ptr_null(iso_fasta_open(cut));
    ck_assert_int_eq(iso_last_status(), ISO_EFORMAT);
    ck_assert_msg(strstr(iso_last_error(), "io_cut.fa.gz: truncated: its BGZF end-of-file block is missing"), "%s",
                  iso_last_error());
    /* cut in the middle with its old .fai/.gzi kept: htslib asserted (block_offset <= block_length) */
    ck_assert_int_eq(truncate(cut, size / 2), 0);
    ck_assert_ptr_null(iso_fasta_open(cut));
    ck_assert_int_eq(iso_last_status(), ISO_EFORMAT);
    ck_assert_msg(strstr(iso_last_error(), "truncated: its BGZF end-of-file block is missing"), "%s",
                  iso_last_error());
}
END_TEST

START_TEST(fasta_bgzipped_test_genome)
{
    /* expected bases from `samtools faidx test-data/genome.fa.gz 20:560079-560090 20:1499997-1500000` */
    iso_fasta *fa = iso_fasta_open(ISO_TEST_DATA "/genome.fa.gz");
    ck_assert_ptr_nonnull(fa);
    ck_assert_int_eq(iso_fasta_contig_len(fa, "20"), 1500000);
    char *s;
    ck_assert_int_eq(iso_fasta_fetch(fa, "20", 560078, 560090, &s), ISO_OK);
    ck_assert_str_eq(s, "CTTTAGAAGTAA");
    free(s);
    ck_assert_int_eq(iso_fasta_fetch(fa, "20", 1499996, 1500002, &s), ISO_OK);
    ck_assert_str_eq(s, "CAACNN");
    free(s);
    iso_fasta_close(fa);
}
END_TEST

START_TEST(fasta_plain_gzip_is_refused_with_the_fix)
{
    const char *path = test_gzip_file("io_plain.fa.gz", small_fa, 0);
    ck_assert_ptr_null(iso_fasta_open(path));
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "bgzip"));
}
END_TEST

START_TEST(fasta_with_control_characters_is_refused)
{
    /* htslib indexes this as a contig with 1 base and 0 bases per line, then divides by zero on fetch */
    const char *path = test_file("io_ctrl.fa", ">\n\030\n$");
    char fai[1100];
    snprintf(fai, sizeof fai, "%s.fai", path);
    unlink(fai);
    ck_assert_ptr_null(iso_fasta_open(path));
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "bad FASTA index entry"));
}
END_TEST

START_TEST(fasta_unindexed_in_read_only_dir)
{
    if (geteuid() == 0) /* root writes anywhere: the case cannot arise */
        return;
    char dir[512], cmd[2200];
    snprintf(dir, sizeof dir, "%s/io_ro", ISO_TEST_TMP);
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s && printf '>a\\nACGT\\n' > %s/a.fa && chmod a-w %s", dir,
             dir, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    char path[1100];
    snprintf(path, sizeof path, "%s/a.fa", dir);
    ck_assert_ptr_null(iso_fasta_open(path));
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "not writable"));
    snprintf(cmd, sizeof cmd, "chmod u+w %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Opens path after removing its index (so that htslib builds it), or keeping it with keep_index. */
static iso_fasta *open_fresh(const char *path, int keep_index)
{
    char fai[1100];
    snprintf(fai, sizeof fai, "%s.fai", path);
    if (!keep_index)
        unlink(fai);
    return iso_fasta_open(path);
}

START_TEST(fasta_stale_index_is_refused_with_the_fix)
{
    static const char *const edits[][2] = {
        {">c1 desc\nACGTacgtNNGGCC\n>c2\nTTTTA\n", "its lines are not as long"}, /* rewrapped */
        {">c1 desc\nACGTacgtNN\nGGCC\n>c2\nTTTTAA\n", "last line does not end"}, /* a base added */
        {">c1 desc\nACGTacgtNN\nGGC\n>c2\nTTTTA\n", "c1"},                      /* a base removed */
        {">c1 desc\nACGTacgtNN\nGGCC\n>c2\nTTTTA\n>c3\nA\n", "sequence 'c3' next"}, /* one more */
        {">c1 longer desc\nACGTacgtNN\nGGCC\n>c2\nTTTTA\n", "does not match"},      /* shifted */
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        const char *path = test_file("io_stale.fa", small_fa);
        iso_fasta *fa = open_fresh(path, 0);
        ck_assert_ptr_nonnull(fa);
        iso_fasta_close(fa);
        test_file("io_stale.fa", edits[i][0]);
        ck_assert_msg(!(fa = open_fresh(path, 1)), "edit %zu accepted", i);
        const char *e = iso_last_error();
        ck_assert_msg(strstr(e, "does not match") && strstr(e, "delete") && strstr(e, "io_stale.fa.fai") &&
                          strstr(e, edits[i][1]), "edit %zu: %s", i, e);
        ck_assert_ptr_nonnull(fa = open_fresh(path, 0)); /* the fix the message gives */
        iso_fasta_close(fa);
    }
}
END_TEST

START_TEST(fasta_layouts_htslib_indexes_are_accepted)
{
    static const char *const files[][2] = {
        {">a\r\nACGT\r\nAC\r\n>b\r\nG\r\n", "ACGTAC"}, /* CRLF */
        {">a\nACGT\nAC", "ACGTAC"},                     /* no final newline */
        {">a\nACGT\nAC\n\n>b x y\nG\n\n", "ACGTAC"},    /* blank lines, a description */
        {">e\n>a\nACGTAC\n", "ACGTAC"},                 /* an empty sequence first */
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        iso_fasta *fa = open_fresh(test_file("io_layout.fa", files[i][0]), 0);
        ck_assert_msg(fa != NULL, "file %zu: %s", i, iso_last_error());
        char *s;
        ck_assert_int_eq(iso_fasta_fetch(fa, "a", 0, 6, &s), ISO_OK);
        ck_assert_str_eq(s, files[i][1]);
        free(s);
        iso_fasta_close(fa);
        ck_assert_ptr_nonnull(fa = iso_fasta_open(test_file("io_layout.fa", files[i][0]))); /* with its index */
        iso_fasta_close(fa);
    }
}
END_TEST

START_TEST(fasta_duplicate_names_are_named)
{
    /* htslib keeps the first 'a' and drops the second without an error */
    ck_assert_ptr_null(open_fresh(test_file("io_dup.fa", ">a\nACGT\n>b\nGG\n>a desc\nTT\n"), 0));
    ck_assert_msg(strstr(iso_last_error(), "sequence name 'a' appears twice") &&
                      strstr(iso_last_error(), "io_dup.fa"), "%s", iso_last_error());
    /* an index listing a name twice */
    const char *path = test_file("io_dup2.fa", ">a\nACGT\n>b\nGG\n");
    char fai[1100];
    snprintf(fai, sizeof fai, "%s.fai", path);
    FILE *fp = fopen(fai, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("a\t4\t3\t4\t5\na\t2\t11\t2\t3\n", fp);
    fclose(fp);
    ck_assert_ptr_null(iso_fasta_open(path));
    ck_assert_msg(strstr(iso_last_error(), "'a' appears twice"), "%s", iso_last_error());
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("io");
    tcase_add_test(tc, lines_plain_crlf_and_no_final_newline);
    tcase_add_test(tc, lines_gzip);
    tcase_add_test(tc, lines_truncated_gzip_is_an_error_naming_the_file);
    tcase_add_test(tc, lines_missing_file);
    tcase_add_test(tc, fasta_builds_index_and_fetches_with_padding);
    tcase_add_test(tc, fasta_contig_name_out_of_range_is_null);
    tcase_add_test(tc, fasta_truncated_bgzip_is_refused);
    tcase_add_test(tc, fasta_bgzipped_test_genome);
    tcase_add_test(tc, fasta_plain_gzip_is_refused_with_the_fix);
    tcase_add_test(tc, fasta_with_control_characters_is_refused);
    tcase_add_test(tc, fasta_unindexed_in_read_only_dir);
    tcase_add_test(tc, fasta_stale_index_is_refused_with_the_fix);
    tcase_add_test(tc, fasta_layouts_htslib_indexes_are_accepted);
    tcase_add_test(tc, fasta_duplicate_names_are_named);
    suite_add_tcase(s, tc);
    return iso_run_suite(s);
}
