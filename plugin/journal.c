#include "journal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isoformer/io.h"

struct cli_journal {
    FILE *fp;
    char *path;
    size_t n_rows;
};

typedef struct {
    const char *id;
    size_t row;
} id_row;

static int by_id(const void *a, const void *b) { return strcmp(((const id_row *)a)->id, ((const id_row *)b)->id); }

/* Parses "id<TAB>v<TAB>v..." with exactly na + nb hex floats; 0 on success. */
static int parse_row(char *line, const id_row *ids, size_t n, float *a, int na, float *b, int nb, char *done)
{
    char *tab = strchr(line, '\t');
    if (!tab)
        return -1;
    *tab = '\0';
    id_row key = {line, 0};
    const id_row *hit = bsearch(&key, ids, n, sizeof *ids, by_id);
    if (!hit)
        return -1;
    float tmp[na + nb + 1];
    char *p = tab + 1, *end;
    for (int i = 0; i < na + nb; i++) {
        tmp[i] = strtof(p, &end);
        if (end == p || (*end != '\t' && *end != '\0') || (i + 1 < na + nb) != (*end == '\t'))
            return -1;
        p = end + 1;
    }
    memcpy(a + hit->row * (size_t)na, tmp, (size_t)na * sizeof *tmp);
    if (nb)
        memcpy(b + hit->row * (size_t)nb, tmp + na, (size_t)nb * sizeof *tmp);
    done[hit->row] = 1;
    return 0;
}

static int replay(const char *path, const char *signature, const iso_annotation *ann, const size_t *sel,
                  size_t n_sel, float *a, int na, float *b, int nb, char *done, size_t *n_done)
{
    if (access(path, F_OK) != 0)
        return ISO_OK; /* nothing to resume */
    id_row *ids = malloc((n_sel ? n_sel : 1) * sizeof *ids);
    iso_lines *lr = ids ? iso_lines_open(path) : NULL;
    int rc = !ids ? iso_error(ISO_ENOMEM, "out of memory") : lr ? ISO_OK : iso_last_status();
    for (size_t i = 0; rc == ISO_OK && i < n_sel; i++)
        ids[i] = (id_row){ann->tx[sel[i]].transcript_id, i};
    if (rc == ISO_OK)
        qsort(ids, n_sel, sizeof *ids, by_id);
    const char *line;
    size_t len;
    int r;
    while (rc == ISO_OK && (r = iso_lines_next(lr, &line, &len)) > 0) {
        if (iso_lines_lineno(lr) == 1) {
            if (strcmp(line, signature))
                rc = iso_error(ISO_EINVAL, "%s: made by a different model or options (%s); rerun without --resume "
                                           "to start over", path, line);
            continue;
        }
        char *copy = strndup(line, len);
        if (!copy)
            rc = iso_error(ISO_ENOMEM, "out of memory");
        else if (parse_row(copy, ids, n_sel, a, na, b, nb, done) == 0)
            ++*n_done;
        free(copy); /* an unparsable line is the one being written when the run stopped */
    }
    iso_lines_close(lr);
    free(ids);
    return rc;
}

int cli_journal_open(const char *prefix, const char *signature, int resume, const iso_annotation *ann,
                     const size_t *sel, size_t n_sel, float *a, int na, float *b, int nb, char *done,
                     size_t *n_done, cli_journal **out)
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
    int rc = resume ? replay(j->path, signature, ann, sel, n_sel, a, na, b, nb, done, n_done) : ISO_OK;
    /* Rewrite the journal with the rows kept (dropping a torn last line) under a temporary name, so a crash
     * now still leaves the old journal, then append to it. */
    char *tmp = malloc(n + 8);
    FILE *fp = rc == ISO_OK && tmp ? (snprintf(tmp, n + 8, "%s.tmp", j->path), fopen(tmp, "w")) : NULL;
    if (rc == ISO_OK && !fp)
        rc = iso_error(ISO_EIO, "%s: cannot write (%s)", tmp ? tmp : j->path, strerror(errno));
    j->fp = fp;
    if (rc == ISO_OK && fprintf(fp, "%s\n", signature) < 0)
        rc = iso_error(ISO_EIO, "%s: write failed", j->path);
    for (size_t i = 0; rc == ISO_OK && i < n_sel; i++)
        if (done[i])
            rc = cli_journal_add(j, ann->tx[sel[i]].transcript_id, a + i * (size_t)na, na,
                                 nb ? b + i * (size_t)nb : NULL, nb);
    if (rc == ISO_OK && fsync(fileno(fp)) == 0 && rename(tmp, j->path) != 0)
        rc = iso_error(ISO_EIO, "%s: cannot rename into place (%s)", j->path, strerror(errno));
    if (rc != ISO_OK && fp)
        unlink(tmp);
    free(tmp);
    if (rc != ISO_OK) { /* the journal on disk is left as it was */
        if (fp)
            fclose(fp);
        free(j->path);
        free(j);
        return rc;
    }
    *out = j;
    return ISO_OK;
}

int cli_journal_add(cli_journal *j, const char *transcript_id, const float *a, int na, const float *b, int nb)
{
    fputs(transcript_id, j->fp);
    for (int i = 0; i < na; i++)
        fprintf(j->fp, "\t%a", a[i]);
    for (int i = 0; i < nb; i++)
        fprintf(j->fp, "\t%a", b[i]);
    fputc('\n', j->fp);
    j->n_rows++;
    if (fflush(j->fp) != 0 || ferror(j->fp) || fsync(fileno(j->fp)) != 0)
        return iso_error(ISO_EIO, "%s: write failed (%s)", j->path, strerror(errno));
    return ISO_OK;
}

void cli_journal_close(cli_journal *j, int completed)
{
    if (!j)
        return;
    if (j->fp)
        fclose(j->fp);
    if (completed || j->n_rows == 0)
        unlink(j->path);
    free(j->path);
    free(j);
}
