/* Readers of what the writers wrote: TSV and BED12 rows with their sort keys (merge), and the transcripts of an
 * isoformer TSV as an annotation (eval and fit without a GTF). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/tracks_internal.h"
#include "util/array.h"

/* Where a row's key is: 0-based columns of chrom, start, end and id. */
typedef struct {
    int chrom, start, end, id;
} key_columns;

static const key_columns tsv_key = {3, 4, 5, 0}, bed_key = {0, 1, 2, 3};

static int is_header(iso_table_kind kind, const char *line, long lineno)
{
    if (kind == ISO_TABLE_TSV)
        return lineno == 1;
    return !strncmp(line, "track", 5) || !strncmp(line, "browser", 7) || line[0] == '#';
}

static int append_line(char **buf, const char *s, size_t len)
{
    size_t old = *buf ? strlen(*buf) : 0;
    char *p = realloc(*buf, old + len + 2);
    if (!p)
        return iso_error(ISO_ENOMEM, "out of memory");
    memcpy(p + old, s, len);
    p[old + len] = '\n';
    p[old + len + 1] = '\0';
    *buf = p;
    return ISO_OK;
}

static int parse_key(iso_table_row *r, const key_columns *k, const char *path, long lineno)
{
    const char *field[64] = {0};
    int n = 0;
    for (char *p = r->fields; p && n < 64; n++) {
        field[n] = p;
        if ((p = strchr(p, '\t')))
            *p++ = '\0';
    }
    int need = k->id > k->end ? k->id : k->end;
    if (n <= need)
        return iso_error(ISO_EFORMAT, "%s:%ld: expected at least %d tab-separated fields, got %d", path, lineno,
                         need + 1, n);
    char *end1, *end2;
    r->chrom = field[k->chrom];
    r->id = field[k->id];
    r->start = strtoll(field[k->start], &end1, 10);
    r->end = strtoll(field[k->end], &end2, 10);
    if (*end1 || *end2 || end1 == field[k->start] || end2 == field[k->end])
        return iso_error(ISO_EFORMAT, "%s:%ld: expected integer start and end, got '%s' and '%s'", path, lineno,
                         field[k->start], field[k->end]);
    return ISO_OK;
}

struct iso_table_reader {
    iso_lines *lines;
    const char *path; /* iso_lines' copy */
    iso_table_kind kind;
    const key_columns *key;
    char *header;
    iso_table_row row;  /* the current row, owned here */
    int pending;        /* row holds the first data line, met while reading the header */
};

void iso_table_reader_close(iso_table_reader *r)
{
    if (!r)
        return;
    iso_lines_close(r->lines);
    free(r->header);
    free(r->row.line);
    free(r->row.fields);
    free(r);
}

/* The next non-empty line that is not a header line into r->row: 1, 0 at the end, or an iso_status. Header
 * lines met on the way are appended to r->header. */
static int read_row(iso_table_reader *r)
{
    const char *line;
    size_t len;
    int rc;
    while ((rc = iso_lines_next(r->lines, &line, &len)) > 0) {
        long lineno = iso_lines_lineno(r->lines);
        if (is_header(r->kind, line, lineno)) {
            if ((rc = append_line(&r->header, line, len)) < 0)
                return rc;
            continue;
        }
        if (len == 0)
            continue;
        free(r->row.line);
        free(r->row.fields);
        r->row = (iso_table_row){.line = strndup(line, len), .fields = strndup(line, len)};
        if (!r->row.line || !r->row.fields)
            return iso_error(ISO_ENOMEM, "%s:%ld: out of memory", r->path, lineno);
        return (rc = parse_key(&r->row, r->key, r->path, lineno)) < 0 ? rc : 1;
    }
    return rc;
}

int iso_table_reader_open(const char *path, iso_table_kind kind, iso_table_reader **out)
{
    *out = NULL;
    iso_table_reader *r = calloc(1, sizeof *r);
    if (!r)
        return iso_error(ISO_ENOMEM, "out of memory");
    r->kind = kind;
    r->key = kind == ISO_TABLE_TSV ? &tsv_key : &bed_key;
    if (!(r->lines = iso_lines_open(path))) {
        free(r);
        return iso_last_status();
    }
    r->path = iso_lines_path(r->lines);
    int rc = read_row(r);
    if (rc < 0) {
        iso_table_reader_close(r);
        return rc;
    }
    r->pending = rc == 1;
    *out = r;
    return ISO_OK;
}

const char *iso_table_reader_header(const iso_table_reader *r) { return r->header; }

int iso_table_reader_next(iso_table_reader *r, const iso_table_row **row)
{
    int rc = 1;
    if (r->pending)
        r->pending = 0;
    else
        rc = read_row(r);
    *row = rc == 1 ? &r->row : NULL;
    return rc;
}

int iso_table_read(const char *path, iso_table_kind kind, iso_table *t)
{
    *t = (iso_table){0};
    iso_table_reader *r;
    int rc = iso_table_reader_open(path, kind, &r);
    if (rc < 0)
        return rc;
    if (r->header && !(t->header = strdup(r->header)))
        rc = iso_error(ISO_ENOMEM, "out of memory");
    const iso_table_row *row;
    while (rc >= 0 && (rc = iso_table_reader_next(r, &row)) == 1) {
        iso_table_row *p = iso_reserve(t->rows, &t->cap, t->n + 1, sizeof *p, 1024);
        if (!p) {
            rc = iso_error(ISO_ENOMEM, "%s: out of memory", path);
            break;
        }
        t->rows = p;
        /* the reader's row moves here, the key's pointers with it */
        t->rows[t->n++] = r->row;
        r->row = (iso_table_row){0};
    }
    iso_table_reader_close(r);
    if (rc < 0) {
        iso_table_free(t);
        return rc;
    }
    return ISO_OK;
}

void iso_table_free(iso_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->rows[i].line);
        free(t->rows[i].fields);
    }
    free(t->rows);
    free(t->header);
    *t = (iso_table){0};
}

int iso_table_row_cmp(const iso_table_row *a, const iso_table_row *b)
{
    int c = strcmp(a->chrom, b->chrom);
    if (c)
        return c;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return strcmp(a->id, b->id);
}

/* One row's transcript: the seven leading columns, the span as its one exon (strings point into fields). */
static int tsv_transcript(char *fields, const char *path, long lineno, iso_transcript *t, iso_interval *exon)
{
    char *f[ISO_TSV_N_COLUMNS + 1] = {0}, *p = fields;
    int n = 0;
    for (; p && n < ISO_TSV_N_COLUMNS; n++) {
        f[n] = p;
        if ((p = strchr(p, '\t')))
            *p++ = '\0';
    }
    char *end1 = NULL, *end2 = NULL;
    long long start = n == ISO_TSV_N_COLUMNS ? strtoll(f[4], &end1, 10) : -1;
    long long end = n == ISO_TSV_N_COLUMNS ? strtoll(f[5], &end2, 10) : -1;
    if (n < ISO_TSV_N_COLUMNS || !f[0][0] || !f[3][0] || *end1 || *end2 || end1 == f[4] || end2 == f[5] ||
        start < 0 || end <= start || (strcmp(f[6], "+") && strcmp(f[6], "-")))
        return iso_error(ISO_EFORMAT, "%s:%ld: expected transcript_id, gene_id, gene_name, chrom, start, end, strand",
                         path, lineno);
    *exon = (iso_interval){start, end};
    *t = (iso_transcript){.transcript_id = f[0], .gene_id = f[1], .gene_name = f[2], .chrom = f[3],
                          .strand = f[6][0], .exons = exon, .n_exons = 1, .line = lineno};
    return ISO_OK;
}

typedef struct {
    char *text;
    long lineno;
} numbered_line;

int iso_tsv_read_annotation(const char *path, iso_annotation **out)
{
    *out = NULL;
    iso_lines *lr = iso_lines_open(path);
    if (!lr)
        return iso_last_status();
    numbered_line *rows = NULL;
    size_t n = 0, cap = 0;
    const char *line;
    size_t len;
    int rc;
    while ((rc = iso_lines_next(lr, &line, &len)) > 0) {
        long lineno = iso_lines_lineno(lr);
        size_t k = strlen(ISO_TSV_COLUMNS);
        if (lineno == 1 && (strncmp(line, ISO_TSV_COLUMNS, k) || (line[k] && line[k] != '\t'))) {
            rc = iso_error(ISO_EFORMAT, "%s:1: not an isoformer TSV (expected 'transcript_id gene_id gene_name chrom "
                                        "start end strand ...')", path);
            break;
        }
        if (lineno == 1 || len == 0)
            continue;
        /* only the annotation's columns are kept: an embeddings TSV's rows hold 3,072 values more (a genome's:
         * gigabytes of text) */
        size_t keep = 0;
        for (int tabs = 0; keep < len && (line[keep] != '\t' || ++tabs < ISO_TSV_N_COLUMNS); keep++)
            ;
        numbered_line *p = n == cap ? realloc(rows, (cap = cap ? 2 * cap : 256) * sizeof *p) : rows;
        if (!p || !(p[n].text = strndup(line, keep))) {
            rows = p ? p : rows;
            rc = iso_error(ISO_ENOMEM, "%s:%ld: out of memory", path, lineno);
            break;
        }
        rows = p;
        rows[n++].lineno = lineno;
    }
    iso_lines_close(lr);
    iso_transcript *tx = malloc((n ? n : 1) * sizeof *tx);
    iso_interval *exons = malloc((n ? n : 1) * sizeof *exons);
    if (rc == ISO_OK && (!tx || !exons))
        rc = iso_error(ISO_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; rc == ISO_OK && i < n; i++)
        rc = tsv_transcript(rows[i].text, path, rows[i].lineno, &tx[i], &exons[i]);
    if (rc == ISO_OK)
        rc = iso_annotation_from_transcripts(path, tx, n, out);
    for (size_t i = 0; i < n; i++)
        free(rows[i].text);
    free(rows);
    free(tx);
    free(exons);
    return rc;
}
