/* isoformer merge: gathers the outputs of `isoformer predict --shard i/n` runs into the files one unsharded run
 * writes. Tables (TSV, BED) keep their rows byte for byte, sorted by the order every writer uses: chrom (byte
 * order), start, end (numeric), transcript id (byte order). bigWig tracks are read with libBigWig and rewritten
 * with each base's maximum over the shards (the writers' rule for bases covered by several transcripts). */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bigWig.h>

#include "cli.h"
#include "isoformer/error.h"
#include "isoformer/io.h"
#include "isoformer/manifest.h"
#include "isoformer/outputs.h"

static const char usage_text[] =
    "Usage: isoformer merge --out PREFIX SHARD_PREFIX...\n\n"
    "Gathers the outputs of 'isoformer predict --shard i/n --out SHARD_PREFIX' runs into the files an unsharded\n"
    "run writes: PREFIX.predictions.tsv, PREFIX.predictions.bed and PREFIX.<tissue>.bw for every tissue track the\n"
    "first shard has. Rows are sorted by chrom, start, end and transcript id; a transcript found in two shards\n"
    "is an error. bigWig values are the per-base maximum over the shards.\n\n"
    "Options:\n"
    "  --out PREFIX  output prefix (required)\n"
    "  -h, --help    this help\n"
    "  --version     print the version and exit\n";

/* ---- tables ---- */

typedef struct {
    const char *suffix;
    int col_chrom, col_start, col_end, col_id;
    int (*is_header)(const char *line, long lineno);
} table_layout;

static int tsv_header(const char *line, long lineno)
{
    (void)line;
    return lineno == 1;
}

static int bed_header(const char *line, long lineno)
{
    (void)lineno;
    return !strncmp(line, "track", 5) || !strncmp(line, "browser", 7) || line[0] == '#';
}

static const table_layout tables[] = {
    {".predictions.tsv", 3, 4, 5, 0, tsv_header},
    {".predictions.bed", 0, 1, 2, 3, bed_header},
};

typedef struct {
    char *line;             /* the row as read */
    char *fields;           /* a copy cut at tabs, for the key */
    const char *chrom, *id; /* into fields */
    long long start, end;
    int shard;
} row;

typedef struct {
    row *rows;
    size_t n, cap;
    char *header; /* the first shard's header lines, each ending in '\n' */
} table;

static void table_free(table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->rows[i].line);
        free(t->rows[i].fields);
    }
    free(t->rows);
    free(t->header);
}

static int append_text(char **buf, const char *s, size_t len)
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

static int parse_row(row *r, const table_layout *lay, const char *path, long lineno)
{
    const char *field[64] = {0};
    int n = 0;
    for (char *p = r->fields; p && n < 64; n++) {
        field[n] = p;
        if ((p = strchr(p, '\t')))
            *p++ = '\0';
    }
    int need = lay->col_id > lay->col_end ? lay->col_id : lay->col_end;
    if (n <= need)
        return iso_error(ISO_EFORMAT, "%s:%ld: expected at least %d tab-separated fields, got %d", path, lineno,
                         need + 1, n);
    char *end1, *end2;
    r->chrom = field[lay->col_chrom];
    r->id = field[lay->col_id];
    r->start = strtoll(field[lay->col_start], &end1, 10);
    r->end = strtoll(field[lay->col_end], &end2, 10);
    if (*end1 || *end2 || end1 == field[lay->col_start] || end2 == field[lay->col_end])
        return iso_error(ISO_EFORMAT, "%s:%ld: expected integer start and end, got '%s' and '%s'", path, lineno,
                         field[lay->col_start], field[lay->col_end]);
    return ISO_OK;
}

/* Shard tables are the plain text our writers produce, so getline() suffices. */
typedef struct {
    FILE *fp;
    char *buf;
    size_t cap;
    long lineno;
    const char *path;
} line_reader;

static int reader_open(line_reader *r, const char *path)
{
    *r = (line_reader){.fp = fopen(path, "r"), .path = path};
    return r->fp ? ISO_OK : iso_error(ISO_ENOTFOUND, "%s: cannot open (%s)", path, strerror(errno));
}

/* 1 with a line (without its newline), 0 at the end, negative on a read error. */
static int reader_next(line_reader *r, const char **line, size_t *len)
{
    ssize_t n = getline(&r->buf, &r->cap, r->fp);
    if (n < 0)
        return ferror(r->fp) ? iso_error(ISO_EIO, "%s:%ld: read failed", r->path, r->lineno + 1) : 0;
    r->lineno++;
    while (n > 0 && (r->buf[n - 1] == '\n' || r->buf[n - 1] == '\r'))
        r->buf[--n] = '\0';
    *line = r->buf;
    *len = (size_t)n;
    return 1;
}

static void reader_close(line_reader *r)
{
    if (r->fp)
        fclose(r->fp);
    free(r->buf);
}

static int read_table(table *t, const table_layout *lay, const char *path, int shard)
{
    line_reader lr;
    int rc = reader_open(&lr, path);
    if (rc < 0)
        return rc;
    char *header = NULL;
    const char *line;
    size_t len;
    while ((rc = reader_next(&lr, &line, &len)) == 1) {
        long lineno = lr.lineno;
        if (lay->is_header(line, lineno)) {
            if ((rc = append_text(&header, line, len)) < 0)
                break;
            continue;
        }
        if (len == 0)
            continue;
        if (t->n == t->cap) {
            size_t cap = t->cap ? 2 * t->cap : 1024;
            row *p = realloc(t->rows, cap * sizeof *p);
            if (!p) {
                rc = iso_error(ISO_ENOMEM, "%s:%ld: out of memory", path, lineno);
                break;
            }
            t->rows = p;
            t->cap = cap;
        }
        row *r = &t->rows[t->n];
        *r = (row){.line = strndup(line, len), .fields = strndup(line, len), .shard = shard};
        if (!r->line || !r->fields) {
            free(r->line), free(r->fields);
            rc = iso_error(ISO_ENOMEM, "%s:%ld: out of memory", path, lineno);
            break;
        }
        t->n++;
        if ((rc = parse_row(r, lay, path, lineno)) < 0)
            break;
    }
    reader_close(&lr);
    if (rc < 0) {
        free(header);
        return rc;
    }
    if (shard == 0)
        t->header = header;
    else {
        int same = (!header && !t->header) || (header && t->header && !strcmp(header, t->header));
        free(header);
        if (!same)
            return iso_error(ISO_EFORMAT, "%s: header differs from the first shard's: expected shards of one run "
                                          "(same model and options)", path);
    }
    return ISO_OK;
}

static int by_position(const void *pa, const void *pb)
{
    const row *a = pa, *b = pb;
    int c = strcmp(a->chrom, b->chrom);
    if (c)
        return c;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return strcmp(a->id, b->id);
}

static char *join(const char *prefix, const char *suffix)
{
    size_t n = strlen(prefix) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", prefix, suffix);
    else
        iso_error(ISO_ENOMEM, "out of memory");
    return s;
}

/* Outputs are committed together once every one is complete, so a failed merge leaves none behind. */
typedef struct {
    iso_out *out[64];
    int n;
} pending;

static int write_table(const table *t, const char *path, pending *done)
{
    iso_out *o = iso_out_open(path);
    if (!o)
        return iso_last_status();
    done->out[done->n++] = o;
    FILE *fp = iso_out_fp(o);
    if (t->header)
        fputs(t->header, fp);
    for (size_t i = 0; i < t->n; i++) {
        fputs(t->rows[i].line, fp);
        fputc('\n', fp);
    }
    return ISO_OK;
}

static int merge_table(const table_layout *lay, const char *out_prefix, char **shards, int n_shards, pending *done)
{
    table t = {0};
    char *out = NULL;
    int rc = ISO_OK;
    for (int s = 0; s < n_shards && rc == ISO_OK; s++) {
        char *path = join(shards[s], lay->suffix);
        rc = path ? read_table(&t, lay, path, s) : ISO_ENOMEM;
        free(path);
    }
    if (rc == ISO_OK) {
        qsort(t.rows, t.n, sizeof *t.rows, by_position);
        for (size_t i = 1; i < t.n && rc == ISO_OK; i++)
            if (!strcmp(t.rows[i].id, t.rows[i - 1].id) && !strcmp(t.rows[i].chrom, t.rows[i - 1].chrom) &&
                t.rows[i].start == t.rows[i - 1].start)
                rc = iso_error(ISO_EFORMAT, "transcript %s is in shards %s and %s: expected disjoint shards",
                               t.rows[i].id, shards[t.rows[i - 1].shard], shards[t.rows[i].shard]);
    }
    if (rc == ISO_OK && !(out = join(out_prefix, lay->suffix)))
        rc = ISO_ENOMEM;
    if (rc == ISO_OK)
        rc = write_table(&t, out, done);
    free(out);
    table_free(&t);
    return rc;
}

/* ---- bigWig tracks ---- */

static int same_chroms(const chromList_t *a, const chromList_t *b)
{
    if (a->nKeys != b->nKeys)
        return 0;
    for (int64_t i = 0; i < a->nKeys; i++)
        if (strcmp(a->chrom[i], b->chrom[i]) || a->len[i] != b->len[i])
            return 0;
    return 1;
}

/* One contig: the shards' intervals, combined by the per-base maximum (the rule a single run uses). */
static int write_chrom(iso_bigwig *out, const char *chrom, bigWigFile_t **in, int n_in, uint32_t len,
                       const char *path)
{
    iso_span *spans = NULL;
    size_t n = 0;
    int rc = ISO_OK;
    for (int s = 0; s < n_in && rc == ISO_OK; s++) {
        bwOverlappingIntervals_t *iv = bwGetOverlappingIntervals(in[s], chrom, 0, len);
        if (!iv)
            continue; /* no data on this contig in this shard */
        iso_span *p = realloc(spans, (n + iv->l + 1) * sizeof *p);
        if (!p)
            rc = iso_error(ISO_ENOMEM, "%s: out of memory", path);
        else {
            spans = p;
            for (uint32_t i = 0; i < iv->l; i++)
                spans[n++] = (iso_span){iv->start[i], iv->end[i], iv->value[i]};
        }
        bwDestroyOverlappingIntervals(iv);
    }
    if (rc == ISO_OK)
        rc = iso_spans_max(&spans, &n);
    if (rc == ISO_OK && n > 0)
        rc = iso_bigwig_write_chrom(out, chrom, spans, n);
    free(spans);
    return rc;
}

static int merge_bigwig(const char *out_path, char **in_paths, int n_in, pending *done)
{
    bigWigFile_t **in = calloc((size_t)n_in, sizeof *in);
    iso_bigwig *out = NULL;
    iso_out *o = NULL;
    int rc = in ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int s = 0; s < n_in && rc == ISO_OK; s++) {
        if (!(in[s] = bwOpen(in_paths[s], NULL, "r")))
            rc = iso_error(ISO_EFORMAT, "%s: cannot read as bigWig", in_paths[s]);
        else if (!same_chroms(in[0]->cl, in[s]->cl))
            rc = iso_error(ISO_EFORMAT, "%s: contigs differ from %s: expected shards of one run (same FASTA)",
                           in_paths[s], in_paths[0]);
    }
    if (rc == ISO_OK && !(o = iso_out_open(out_path)))
        rc = iso_last_status();
    if (o)
        done->out[done->n++] = o;
    if (rc == ISO_OK) {
        const chromList_t *cl = in[0]->cl;
        rc = iso_bigwig_open(o, (const char *const *)cl->chrom, cl->len, (int)cl->nKeys, &out);
        for (int64_t c = 0; c < cl->nKeys && rc == ISO_OK; c++)
            rc = write_chrom(out, cl->chrom[c], in, n_in, cl->len[c], out_path);
    }
    int closed = iso_bigwig_close(out);
    if (rc == ISO_OK)
        rc = closed;
    for (int s = 0; in && s < n_in; s++)
        if (in[s])
            bwClose(in[s]);
    free(in);
    return rc;
}

/* Tissue tracks are PREFIX.<name>.bw with <name> the TSV column name, characters other than [A-Za-z0-9_-]
 * replaced by '_'. The tracks the first shard has are merged; every shard must have them. *suffixes gets
 * ".<name>.bw" of each, malloc'd. */
static int list_tracks(char **shards, int n_shards, char ***suffixes, int *n_tracks)
{
    *suffixes = NULL;
    *n_tracks = 0;
    char *tsv = join(shards[0], tables[0].suffix);
    if (!tsv)
        return ISO_ENOMEM;
    line_reader lr;
    int rc = reader_open(&lr, tsv);
    free(tsv);
    if (rc < 0)
        return rc;
    const char *line;
    size_t len;
    rc = reader_next(&lr, &line, &len);
    char *header = rc == 1 ? strndup(line, len) : NULL;
    reader_close(&lr);
    if (rc < 0 || (rc == 1 && !header))
        return rc < 0 ? rc : iso_error(ISO_ENOMEM, "out of memory");
    if (!header)
        return ISO_OK;
    char **list = calloc(strlen(header) + 1, sizeof *list); /* at most one track per byte of header */
    rc = list ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    char *field = header, *next;
    for (int col = 0; field && rc == ISO_OK; col++, field = next) {
        if ((next = strchr(field, '\t')))
            *next++ = '\0';
        if (col < 7)
            continue;
        char suffix[520];
        size_t k = 0;
        suffix[k++] = '.';
        for (; *field && k + 4 < sizeof suffix; field++)
            suffix[k++] = (*field >= 'A' && *field <= 'Z') || (*field >= 'a' && *field <= 'z') ||
                                  (*field >= '0' && *field <= '9') || *field == '-'
                              ? *field
                              : '_';
        memcpy(suffix + k, ".bw", 4);
        for (int s = 0; s < n_shards && rc == ISO_OK; s++) {
            char *path = join(shards[s], suffix);
            if (!path)
                rc = ISO_ENOMEM;
            else if (access(path, F_OK) != 0) {
                if (s > 0)
                    rc = iso_error(ISO_ENOTFOUND, "%s: missing, while %s%s exists: expected every shard to have "
                                                  "the same tracks", path, shards[0], suffix);
                free(path);
                break;
            } else if (s == n_shards - 1 && !(list[(*n_tracks)++] = strdup(suffix)))
                rc = iso_error(ISO_ENOMEM, "out of memory");
            free(path);
        }
    }
    free(header);
    *suffixes = list;
    return rc;
}

static int merge_tracks(const char *out_prefix, char **shards, int n_shards, char **suffixes, int n_tracks,
                        pending *done)
{
    char **paths = calloc((size_t)n_shards, sizeof *paths);
    int rc = paths ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int i = 0; i < n_tracks && rc == ISO_OK; i++) {
        for (int s = 0; s < n_shards && rc == ISO_OK; s++)
            if (!(paths[s] = join(shards[s], suffixes[i])))
                rc = ISO_ENOMEM;
        char *out = rc == ISO_OK ? join(out_prefix, suffixes[i]) : NULL;
        if (rc == ISO_OK)
            rc = out ? merge_bigwig(out, paths, n_shards, done) : ISO_ENOMEM;
        free(out);
        for (int s = 0; s < n_shards; s++) {
            free(paths[s]);
            paths[s] = NULL;
        }
    }
    free(paths);
    return rc;
}

int main_merge(int argc, char **argv)
{
    static const struct option longopts[] = {{"out", required_argument, NULL, 'o'},
                                              {"help", no_argument, NULL, 'h'},
                                              CLI_VERSION_OPTION,
                                              {NULL, 0, NULL, 0}};
    const char *out = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case CLI_OPT_VERSION:
            return cli_version();
        default:
            return cli_usage_error("merge", "unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (!out)
        return cli_usage_error("merge", "--out PREFIX is required");
    int rc = cli_out_path("merge", "--out", out);
    if (rc)
        return rc;
    if (optind >= argc)
        return cli_usage_error("merge", "expected at least one SHARD_PREFIX");
    char **shards = argv + optind;
    int n_shards = argc - optind;
    if (bwInit(1 << 17)) {
        iso_error(ISO_ENOMEM, "cannot initialise libBigWig");
        return cli_fail("merge");
    }
    char **suffixes = NULL, *config = NULL, *selection = NULL;
    int n_tracks = 0;
    pending done = {.n = 0};
    rc = iso_manifest_check_runs(shards, n_shards, &config, &selection);
    int in_set = rc == ISO_OK && (rc = iso_out_set_begin()) == ISO_OK; /* the outputs appear all or none */
    if (rc == ISO_OK)
        rc = list_tracks(shards, n_shards, &suffixes, &n_tracks);
    if (rc == ISO_OK && n_tracks + 2 > (int)(sizeof done.out / sizeof done.out[0]))
        rc = iso_error(ISO_EINVAL, "%s: %d tracks, expected at most %d", shards[0], n_tracks,
                       (int)(sizeof done.out / sizeof done.out[0]) - 2);
    for (size_t i = 0; i < sizeof tables / sizeof tables[0] && rc == ISO_OK; i++)
        rc = merge_table(&tables[i], out, shards, n_shards, &done);
    if (rc == ISO_OK)
        rc = merge_tracks(out, shards, n_shards, suffixes, n_tracks, &done);
    for (int i = 0; i < done.n; i++)
        if (rc == ISO_OK)
            rc = iso_out_commit(done.out[i]);
        else
            iso_out_abort(done.out[i]);
    if (rc == ISO_OK && config)
        rc = iso_manifest_write(out, &(iso_manifest_info){"merge", config, selection, NULL});
    if (in_set)
        rc = cli_outputs_end(rc);
    free(config);
    free(selection);
    for (int i = 0; i < n_tracks; i++)
        free(suffixes[i]);
    free(suffixes);
    bwCleanup();
    return rc == ISO_OK ? 0 : cli_fail("merge");
}
