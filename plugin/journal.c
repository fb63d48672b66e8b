#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "isoformer/io.h"

struct cli_journal {
    FILE *fp;
    char *path;
    size_t n_rows;
    double synced; /* CLOCK_MONOTONIC seconds of the last fsync */
    int na, nb;
    int rows_fd; /* the row store of b (cli_journal_row), -1 when nb is 0 */
};

/* Records reach the kernel at once (fflush: a killed process loses none) and the disk at most SYNC_SECONDS later:
 * an fsync per transcript costs 1-50 ms on network and cluster filesystems (NFS, Lustre: Nextflow work
 * directories), a large share of a GPU's ~50 ms per transcript, while a machine that dies loses at most the
 * last second of work, which --resume computes again (a torn record fails its CRC). */
#define SYNC_SECONDS 1.0

/* not cli_now: the journal builds alone into its fuzzer (tests/fuzz), without the rest of the command line */
static double monotonic_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* The row store: an unlinked temporary beside the journal (on the output's filesystem, sized like the outputs,
 * not in a possibly small /tmp); nameless, so a killed run leaves nothing behind. Rows live in the page cache,
 * not in the process's memory. */
static int open_store(cli_journal *j)
{
    size_t n = strlen(j->path) + 16;
    char *name = malloc(n);
    if (!name)
        return iso_error(ISO_ENOMEM, "out of memory");
    snprintf(name, n, "%s.rows.XXXXXX", j->path);
    if ((j->rows_fd = mkstemp(name)) >= 0)
        unlink(name);
    /* close-on-exec as the lock file's (cli.c): no program the process may start inherits the store */
    int rc = j->rows_fd < 0 || fcntl(j->rows_fd, F_SETFD, FD_CLOEXEC) != 0
                 ? iso_error(ISO_EIO, "%s: cannot create (%s)", name, strerror(errno))
                 : ISO_OK;
    free(name);
    return rc;
}

static int put_row(cli_journal *j, size_t row, const float *v)
{
    size_t size = (size_t)j->nb * sizeof *v;
    errno = 0;
    if (size && pwrite(j->rows_fd, v, size, (off_t)(row * size)) != (ssize_t)size)
        return iso_error(ISO_EIO, "%s: row store beside it: write failed (%s)", j->path,
                         errno ? strerror(errno) : "short write: disk full?");
    return ISO_OK;
}

int cli_journal_row(const cli_journal *j, size_t row, float *b)
{
    size_t size = (size_t)j->nb * sizeof *b;
    errno = 0;
    if (size && pread(j->rows_fd, b, size, (off_t)(row * size)) != (ssize_t)size)
        return iso_error(ISO_EIO, "%s: row store beside it: row %zu: read failed (%s)", j->path, row,
                         errno ? strerror(errno) : "not stored");
    return ISO_OK;
}

typedef struct {
    const char *id;
    size_t row;
} id_row;

static int by_id(const void *a, const void *b) { return strcmp(((const id_row *)a)->id, ((const id_row *)b)->id); }

static const char header_tag[] = "#isoformer journal ", version[] = "v2";

/* A record: "id<TAB>v<TAB>v...<TAB>crc", the values hexadecimal floats, crc the CRC-32 (8 hex digits) of the
 * line before its last tab. */
static uint32_t line_crc(const char *line, size_t len) { return (uint32_t)crc32(0L, (const Bytef *)line, (uInt)len); }

/* Parses a record with exactly na + nb finite values into tmp; NULL when sound, else why not. *row is the
 * transcript's row, or SIZE_MAX when the id is not selected. */
static const char *parse_record(char *line, const id_row *ids, size_t n, int nv, float *tmp, size_t *row)
{
    size_t len = strlen(line);
    char *last = strrchr(line, '\t'), *end;
    if (!last || last + 9 != line + len)
        return "no checksum";
    unsigned long crc = strtoul(last + 1, &end, 16);
    if (end != line + len || crc != line_crc(line, (size_t)(last - line)))
        return "checksum mismatch";
    *last = '\0';
    char *tab = strchr(line, '\t');
    if (!tab)
        return "no values";
    *tab = '\0';
    id_row key = {line, 0};
    const id_row *hit = bsearch(&key, ids, n, sizeof *ids, by_id);
    *row = hit ? hit->row : SIZE_MAX;
    char *p = tab + 1;
    for (int i = 0; i < nv; i++) {
        tmp[i] = strtof(p, &end);
        if (end == p || (*end != '\t' && *end != '\0') || (i + 1 < nv) != (*end == '\t'))
            return "not the number of values this run writes";
        if (!isfinite(tmp[i]))
            return "a value that is not finite";
        p = end + 1;
    }
    return NULL;
}

/* The refusal of a journal of other settings, naming the first key=value of the signatures that differs. */
static int signature_differs(const char *path, const char *was, const char *now)
{
    const char *p = was, *q = now;
    while (*p && *p == *q)
        p++, q++;
    while (p > was && p[-1] != ' ')
        p--, q--;
    int lp = (int)strcspn(p, " "), lq = (int)strcspn(q, " ");
    return iso_error(ISO_EINVAL, "%s:1: made by a different model or options: the journal has %.*s, this run %.*s; "
                                 "resume with the run's model and options, or rerun without --resume to start over",
                     path, lp ? lp : 6, lp ? p : "(none)", lq ? lq : 6, lq ? q : "(none)");
}

/* Reads the rows a journal holds for the selected transcripts. A foreign or mismatched journal is an error; a
 * damaged record (a torn last line, a flipped byte, a NaN) is dropped with a warning and its transcript
 * computed again. */
static int replay(cli_journal *j, const char *signature, const iso_annotation *ann, const size_t *sel,
                  size_t n_sel, float *a, char *done, size_t *n_done)
{
    const char *path = j->path;
    int na = j->na, nb = j->nb;
    if (access(path, F_OK) != 0)
        return ISO_OK; /* nothing to resume */
    id_row *ids = malloc((n_sel ? n_sel : 1) * sizeof *ids);
    float *tmp = malloc(((size_t)na + 2 * (size_t)nb + 1) * sizeof *tmp), *old_b = tmp + na + nb;
    char *seen = calloc(n_sel ? n_sel : 1, 1); /* 2: listed twice with other values */
    iso_lines *lr = ids && tmp && seen ? iso_lines_open(path) : NULL;
    int rc = !ids || !tmp || !seen ? iso_error(ISO_ENOMEM, "out of memory") : lr ? ISO_OK : iso_last_status();
    for (size_t i = 0; rc == ISO_OK && i < n_sel; i++)
        ids[i] = (id_row){ann->tx[sel[i]].transcript_id, i};
    if (rc == ISO_OK)
        qsort(ids, n_sel, sizeof *ids, by_id);
    const char *line;
    size_t len;
    int r = 0;
    long dropped = 0;
    while (rc == ISO_OK && (r = iso_lines_next(lr, &line, &len)) > 0) {
        long lineno = iso_lines_lineno(lr);
        if (lineno == 1) {
            size_t tl = sizeof header_tag - 1, vl = sizeof version - 1;
            if (strncmp(line, header_tag, tl))
                rc = iso_error(ISO_EFORMAT, "%s:1: not an isoformer journal: rerun without --resume to start over "
                                            "(the file is then replaced)", path);
            else if (strncmp(line + tl, version, vl) || line[tl + vl] != ' ')
                rc = iso_error(ISO_EINVAL, "%s:1: written by another version of isoformer (%.8s, this one writes %s); "
                                           "rerun without --resume to start over", path, line + tl, version);
            else if (strcmp(line + tl + vl + 1, signature))
                rc = signature_differs(path, line + tl + vl + 1, signature);
            continue;
        }
        char *copy = strndup(line, len);
        size_t row = SIZE_MAX;
        const char *why = copy ? parse_record(copy, ids, n_sel, na + nb, tmp, &row) : NULL;
        if (!copy)
            rc = iso_error(ISO_ENOMEM, "out of memory");
        else if (why) {
            iso_warn("%s:%ld: %s: the transcript is computed again", path, lineno, why);
            dropped++;
        } else if (row != SIZE_MAX && seen[row]) {
            if ((rc = cli_journal_row(j, row, old_b)) == ISO_OK &&
                (memcmp(a + row * (size_t)na, tmp, (size_t)na * sizeof *tmp) ||
                 memcmp(old_b, tmp + na, (size_t)nb * sizeof *tmp)))
                seen[row] = 2;
        } else if (row != SIZE_MAX && (rc = put_row(j, row, tmp + na)) == ISO_OK) {
            memcpy(a + row * (size_t)na, tmp, (size_t)na * sizeof *tmp);
            seen[row] = 1;
        }
        free(copy);
    }
    if (rc == ISO_OK && r < 0)
        rc = r;
    for (size_t i = 0; rc == ISO_OK && i < n_sel; i++) {
        if (seen[i] == 2)
            iso_warn("%s: transcript %s is listed twice with different values: it is computed again", path,
                     ann->tx[sel[i]].transcript_id);
        if (seen[i] == 1) {
            done[i] = 1;
            ++*n_done;
        }
    }
    if (dropped)
        iso_info("%s: %ld damaged record(s) dropped (a run stopped while writing leaves one)", path, dropped);
    iso_lines_close(lr);
    free(ids);
    free(tmp);
    free(seen);
    return rc;
}

static int write_record(FILE *fp, const char *transcript_id, const float *a, int na, const float *b, int nb)
{
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    if (!mem)
        return iso_error(ISO_ENOMEM, "out of memory");
    fputs(transcript_id, mem);
    for (int i = 0; i < na; i++)
        fprintf(mem, "\t%a", a[i]);
    for (int i = 0; i < nb; i++)
        fprintf(mem, "\t%a", b[i]);
    int bad = fclose(mem) != 0;
    if (!bad && fprintf(fp, "%s\t%08x\n", text, (unsigned)line_crc(text, size)) < 0)
        bad = 1;
    free(text);
    return bad ? ISO_EIO : ISO_OK;
}

int cli_journal_open(const char *prefix, const char *signature, int resume, const iso_annotation *ann,
                     const size_t *sel, size_t n_sel, float *a, int na, int nb, char *done, size_t *n_done,
                     cli_journal **out)
{
    *out = NULL;
    *n_done = 0;
    cli_journal *j = calloc(1, sizeof *j);
    size_t n = strlen(prefix) + 16;
    if (!j || !(j->path = malloc(n))) {
        free(j);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    snprintf(j->path, n, "%s.journal", prefix);
    *j = (cli_journal){.path = j->path, .na = na, .nb = nb, .rows_fd = -1};
    float *row_b = malloc(((size_t)nb + 1) * sizeof *row_b);
    int rc = row_b ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK && nb)
        rc = open_store(j);
    if (rc == ISO_OK && resume)
        rc = replay(j, signature, ann, sel, n_sel, a, done, n_done);
    /* The journal is rewritten with the rows kept (dropping damaged ones) under a temporary name of this
     * process, so that a crash now still leaves the old journal, then appended to. */
    iso_out *o = rc == ISO_OK ? iso_out_open(j->path) : NULL;
    if (rc == ISO_OK && !o)
        rc = iso_last_status();
    if (rc == ISO_OK && fprintf(iso_out_fp(o), "%s%s %s\n", header_tag, version, signature) < 0)
        rc = iso_error(ISO_EIO, "%s: write failed", j->path);
    for (size_t i = 0; rc == ISO_OK && i < n_sel; i++)
        if (done[i] && (rc = cli_journal_row(j, i, row_b)) == ISO_OK &&
            write_record(iso_out_fp(o), ann->tx[sel[i]].transcript_id, a + i * (size_t)na, na, row_b, nb) != ISO_OK)
            rc = iso_error(ISO_EIO, "%s: write failed (%s)", j->path, strerror(errno));
    free(row_b);
    if (o && rc != ISO_OK)
        iso_out_abort(o);
    else if (o)
        rc = iso_out_commit(o);
    if (rc == ISO_OK && !(j->fp = fopen(j->path, "a")))
        rc = iso_error(ISO_EIO, "%s: cannot append (%s)", j->path, strerror(errno));
    j->synced = monotonic_seconds();
    if (rc != ISO_OK) { /* the journal on disk is left as it was */
        if (j->rows_fd >= 0)
            close(j->rows_fd);
        free(j->path);
        free(j);
        return rc;
    }
    *out = j;
    return ISO_OK;
}

int cli_journal_add(cli_journal *j, size_t row, const char *transcript_id, const float *a, const float *b)
{
    int rc = put_row(j, row, b);
    if (rc != ISO_OK)
        return rc;
    rc = write_record(j->fp, transcript_id, a, j->na, b, j->nb);
    j->n_rows++;
    if (rc != ISO_OK || fflush(j->fp) != 0 || ferror(j->fp))
        return iso_error(ISO_EIO, "%s: write failed (%s)", j->path, strerror(errno));
    double now = monotonic_seconds();
    if (now - j->synced >= SYNC_SECONDS) {
        if (fsync(fileno(j->fp)) != 0)
            return iso_error(ISO_EIO, "%s: write failed (%s)", j->path, strerror(errno));
        j->synced = now;
    }
    return ISO_OK;
}

void cli_journal_close(cli_journal *j, int completed)
{
    if (!j)
        return;
    if (j->fp) {
        if (!completed) /* a stopped run's journal is what --resume reads */
            fsync(fileno(j->fp));
        fclose(j->fp);
    }
    if (j->rows_fd >= 0)
        close(j->rows_fd);
    if (completed || j->n_rows == 0)
        unlink(j->path);
    free(j->path);
    free(j);
}
