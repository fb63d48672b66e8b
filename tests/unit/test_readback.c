/* What isoformer reads back from its own files (issue #18): embedding cache entries (every field of the header
 * checked, never read past the buffer), output sets (all or none, stale temporaries of dead processes). */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "isoformer/io.h"
#include "model/cache_entry.h"
#include "test_files.h"

static const char input[] = "ACGTNACGTA";

static iso_cache_key demo_key(void)
{
    return (iso_cache_key){.model = 0x1234abcdULL, .kind = 0, .rows = 3, .cols = 2, .input = input,
                           .input_bytes = sizeof input - 1, .producer = "cpu:fp32"};
}

/* A sound entry for key in a malloc'd buffer; *size its bytes. */
static unsigned char *make_entry(const iso_cache_key *key, size_t *size)
{
    *size = iso_cache_entry_bytes(key);
    unsigned char *buf = malloc(*size);
    float values[6] = {0.5f, -1.25f, 3.0f, 0.0f, 1e-3f, -7.5f};
    memcpy(buf + ISO_CACHE_HEADER_BYTES, values, sizeof values);
    iso_cache_entry_header(key, values, buf);
    return buf;
}

static void expect_miss(const unsigned char *buf, size_t size, const iso_cache_key *key, const char *why)
{
    ck_assert_int_eq(iso_cache_entry_check(buf, size, key), ISO_EFORMAT);
    ck_assert_msg(strstr(iso_last_error(), why), "want '%s', got '%s'", why, iso_last_error());
}

START_TEST(cache_entry_fields)
{
    iso_cache_key key = demo_key();
    size_t size;
    unsigned char *buf = make_entry(&key, &size);
    ck_assert_uint_eq(size, ISO_CACHE_HEADER_BYTES + 6 * sizeof(float));
    ck_assert_int_eq(iso_cache_entry_check(buf, size, &key), ISO_OK);

    /* What the reader expects differs from what the entry holds: a miss naming why. */
    const struct {
        iso_cache_key key;
        const char *why;
    } others[] = {
        {{key.model ^ 1, key.kind, key.rows, key.cols, key.input, key.input_bytes, key.producer}, "another model"},
        {{key.model, key.kind, key.rows, key.cols, key.input, key.input_bytes, "cuda:bf16"},
         "computed on cpu:fp32, this run computes on cuda:bf16"},
        {{key.model, 1, key.rows, key.cols, key.input, key.input_bytes, key.producer}, "another input"},
        {{key.model, key.kind, key.rows, key.cols, "ACGTNACGTC", key.input_bytes, key.producer}, "another input"},
        {{key.model, key.kind, 2, key.cols, key.input, key.input_bytes, key.producer},
         "holds 3 x 2 values, expected 2 x 2"},
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        expect_miss(buf, size, &others[i].key, others[i].why);

    /* Damage to the bytes: each field, the payload, the length. */
    for (size_t at = 0; at < size; at++) {
        unsigned char *copy = malloc(size);
        memcpy(copy, buf, size);
        copy[at] ^= 0x10;
        ck_assert_msg(iso_cache_entry_check(copy, size, &key) == ISO_EFORMAT, "a flip at byte %zu passed", at);
        free(copy);
    }
    expect_miss(buf, size - 1, &key, "expected");
    expect_miss(buf, ISO_CACHE_HEADER_BYTES - 1, &key, "shorter than an entry's header");
    expect_miss(buf, 0, &key, "shorter than an entry's header");
    unsigned char *longer = calloc(1, size + 4);
    memcpy(longer, buf, size);
    expect_miss(longer, size + 4, &key, "expected");
    free(longer);

    /* A NaN with checksums that match: still refused. */
    float nan_values[6] = {0, NAN, 0, 0, 0, 0};
    memcpy(buf + ISO_CACHE_HEADER_BYTES, nan_values, sizeof nan_values);
    iso_cache_entry_header(&key, nan_values, buf);
    expect_miss(buf, size, &key, "non-finite");
    free(buf);

    /* Impossible shapes size to 0 (and are never allocated); the largest do not wrap around. */
    iso_cache_key k = key;
    k.rows = INT_MAX;
    k.cols = INT_MAX;
    ck_assert(iso_cache_entry_bytes(&k) == 0 || iso_cache_entry_bytes(&k) / 4 / INT_MAX >= INT_MAX);
    k.rows = 0;
    ck_assert_uint_eq(iso_cache_entry_bytes(&k), 0);
    k.rows = -3;
    ck_assert_uint_eq(iso_cache_entry_bytes(&k), 0);
}
END_TEST

static int count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += !strncmp(e->d_name, prefix, strlen(prefix));
    if (d)
        closedir(d);
    return n;
}

static void write_out(const char *path, const char *text)
{
    iso_out *o = iso_out_open(path);
    ck_assert_ptr_nonnull(o);
    fputs(text, iso_out_fp(o));
    ck_assert_int_eq(iso_out_commit(o), ISO_OK);
}

static int collect(const char *path, const char *tmp, void *arg)
{
    char *seen = arg;
    ck_assert_ptr_nonnull(strstr(tmp, ".tmp."));
    strcat(seen, strrchr(path, '/') + 1);
    strcat(seen, " ");
    return ISO_OK;
}

START_TEST(output_sets_all_or_none)
{
    char dir[1024], a[1100], b[1100], c[1100];
    snprintf(dir, sizeof dir, "%s/sets", ISO_TEST_TMP);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(a, sizeof a, "%s/run.a", dir);
    snprintf(b, sizeof b, "%s/run.b", dir);
    snprintf(c, sizeof c, "%s/run.c", dir);

    /* Committed inside a set: nothing appears until the set ends well. */
    ck_assert_int_eq(iso_out_set_begin(), ISO_OK);
    ck_assert_int_eq(iso_out_set_begin(), ISO_EINVAL); /* no nesting */
    write_out(a, "a\n");
    write_out(b, "b\n");
    char seen[256] = "";
    ck_assert_int_eq(iso_out_set_each(collect, seen), ISO_OK);
    ck_assert_str_eq(seen, "run.a run.b ");
    ck_assert_int_eq(access(a, F_OK), -1);
    ck_assert_int_eq(count_files(dir, "run.a.tmp."), 1);
    ck_assert_int_eq(iso_out_set_end(1), ISO_OK);
    ck_assert_int_eq(access(a, F_OK), 0);
    ck_assert_int_eq(access(b, F_OK), 0);
    ck_assert_int_eq(count_files(dir, "run."), 2);
    ck_assert_int_eq(iso_out_set_each(collect, seen), ISO_EINVAL); /* no set open */

    /* A failed run: its set ends without committing, and the files of an earlier run stay as they were. */
    ck_assert_int_eq(iso_out_set_begin(), ISO_OK);
    write_out(a, "new a\n");
    ck_assert_int_eq(iso_out_set_end(0), ISO_OK);
    ck_assert_int_eq(count_files(dir, "run."), 2);

    /* A rename that fails (a directory in the way): the files renamed before it are taken back. */
    ck_assert_int_eq(mkdir(c, 0777), 0);
    snprintf(cmd, sizeof cmd, "touch %s/inside", c);
    ck_assert_int_eq(system(cmd), 0);
    unlink(a);
    ck_assert_int_eq(iso_out_set_begin(), ISO_OK);
    write_out(a, "a again\n");
    write_out(c, "c\n");
    ck_assert_int_eq(iso_out_set_end(1), ISO_EIO);
    ck_assert_msg(strstr(iso_last_error(), "run.c: cannot rename"), "%s", iso_last_error());
    ck_assert_int_eq(access(a, F_OK), -1);
    ck_assert_int_eq(count_files(dir, "run.a"), 0);
    ck_assert_int_eq(count_files(dir, "run.c.tmp."), 0);

    /* The same over an earlier run's files: the one already replaced is put back as it was (it was removed) */
    write_out(a, "earlier a\n");
    ck_assert_int_eq(iso_out_set_begin(), ISO_OK);
    write_out(a, "a again\n");
    write_out(c, "c\n");
    ck_assert_int_eq(iso_out_set_end(1), ISO_EIO);
    FILE *fp = fopen(a, "r");
    char text[64] = "";
    ck_assert_ptr_nonnull(fp);
    ck_assert_ptr_nonnull(fgets(text, sizeof text, fp));
    fclose(fp);
    ck_assert_str_eq(text, "earlier a\n");
    ck_assert_int_eq(count_files(dir, "run.a"), 1); /* no backup left behind */
    ck_assert_int_eq(count_files(dir, "run.b"), 1);
    /* and a set that succeeds over it leaves no backup either */
    snprintf(cmd, sizeof cmd, "rm -rf %s", c);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(iso_out_set_begin(), ISO_OK);
    write_out(a, "a once more\n");
    ck_assert_int_eq(iso_out_set_end(1), ISO_OK);
    ck_assert_int_eq(count_files(dir, "run.a"), 1);
}
END_TEST

START_TEST(stale_temporaries_of_dead_processes)
{
    char dir[1024], prefix[1100], path[1300], host[256] = "", tag[64];
    snprintf(dir, sizeof dir, "%s/stale", ISO_TEST_TMP);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(prefix, sizeof prefix, "%s/x", dir);
    /* This machine's tag as iso_out writes it: [A-Za-z0-9-] of the host name. */
    gethostname(host, sizeof host - 1);
    size_t k = 0;
    for (const char *p = host; *p && k < 32; p++)
        tag[k++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ? *p : '-';
    tag[k] = '\0';
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0); /* a process that no longer exists */
    const char *names[][2] = {{"x.predictions.tsv.tmp.%s.%ld", "dead"}, {"x.Brain.bw.tmp.%s.%ld", "dead"},
                              {"x.predictions.bed.tmp.%s.%ld", "self"}, {"x.tsv.tmp.other-host.%ld", "other"},
                              {"y.tsv.tmp.%s.%ld", "other prefix"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char name[256];
        long pid = !strcmp(names[i][1], "self") ? (long)getpid() : (long)child;
        if (strstr(names[i][0], "other-host"))
            snprintf(name, sizeof name, names[i][0], pid);
        else
            snprintf(name, sizeof name, names[i][0], tag, pid);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *fp = fopen(path, "w");
        ck_assert_ptr_nonnull(fp);
        fclose(fp);
    }
    ck_assert_int_eq(iso_out_clean_stale(prefix), 2);
    ck_assert_int_eq(count_files(dir, "x.predictions.tsv"), 0);
    ck_assert_int_eq(count_files(dir, "x.Brain.bw"), 0);
    ck_assert_int_eq(count_files(dir, "x.predictions.bed"), 1); /* this process's own */
    ck_assert_int_eq(count_files(dir, "x.tsv.tmp.other-host"), 1); /* another machine's: it may be running */
    ck_assert_int_eq(count_files(dir, "y."), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("readback");
    TCase *tc = tcase_create("readback");
    tcase_add_test(tc, cache_entry_fields);
    tcase_add_test(tc, output_sets_all_or_none);
    tcase_add_test(tc, stale_temporaries_of_dead_processes);
    suite_add_tcase(s, tc);
    return iso_run_suite(s);
}
