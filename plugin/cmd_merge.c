/* isoformer merge: gathers the outputs of `isoformer predict --shard i/n` runs into the files one unsharded run
 * writes. Tables (TSV, BED, embeddings) keep their rows byte for byte, sorted by the order every writer uses: chrom
 * (byte order), start, end (numeric), transcript id (byte order). bigWig tracks are read back and rewritten with each
 * base's maximum over the shards (the writers' rule for bases covered by several transcripts). */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "isoformer/error.h"
#include "isoformer/io.h"
#include "isoformer/manifest.h"
#include "isoformer/outputs.h"

#include <htslib/kstring.h>

static const char usage_text[] =
    "Usage: isoformer merge --out PREFIX SHARD_PREFIX...\n\n"
    "Gathers the outputs of 'isoformer predict --shard i/n --out SHARD_PREFIX' runs into the files an unsharded\n"
    "run writes: PREFIX.predictions.tsv, PREFIX.predictions.bed, PREFIX.<tissue>.bw for every tissue track the\n"
    "first shard has, and PREFIX.embeddings.tsv when the shards have embeddings (predict --embeddings). Rows are\n"
    "sorted by chrom, start, end and transcript id, streamed from each shard; a transcript found in two shards\n"
    "is an error. bigWig values are the per-base maximum over the shards. The shards' SHARD_PREFIX.run.json\n"
    "must show one run, every shard once and every file unchanged; PREFIX.run.json is written for the result.\n\n"
    "Options:\n"
    "  -o, --out PREFIX  output prefix (required)\n"
    "  -h, --help        this help\n"
    "      --version     print the version and exit\n";

/* ---- tables ---- */

typedef struct {
    const char *suffix;
    iso_table_kind kind;
    int optional; /* merged when the first shard has it (then every shard must) */
} table_layout;

static const table_layout tables[] = {{".predictions.tsv", ISO_TABLE_TSV, 0},
                                      {".predictions.bed", ISO_TABLE_BED, 0},
                                      {".embeddings.tsv", ISO_TABLE_TSV, 1}};

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

/* The key of the row last written, kept past its reader's next row. */
typedef struct {
    kstring_t chrom, id;
    iso_table_row row; /* chrom and id point into the strings above */
    int shard;
} written_key;

static int keep_key(written_key *k, const iso_table_row *row, int shard)
{
    k->chrom.l = k->id.l = 0;
    if (kputs(row->chrom, &k->chrom) < 0 || kputs(row->id, &k->id) < 0)
        return iso_error(ISO_ENOMEM, "out of memory");
    k->row = (iso_table_row){.chrom = k->chrom.s, .id = k->id.s, .start = row->start, .end = row->end};
    k->shard = shard;
    return ISO_OK;
}

/* A shard's rows in the writers' order: streamed from the file when an isoformer run wrote it (its run.json: sorted
 * by construction, and a genome's embeddings are never held in memory), else (a table of another tool) read whole
 * and sorted. */
typedef struct {
    iso_table_reader *reader;
    iso_table table;
    size_t next;
    const iso_table_row *row; /* the current row; NULL past the end */
} shard_rows;

static int by_position(const void *pa, const void *pb) { return iso_table_row_cmp(pa, pb); }

static int shard_next(shard_rows *s)
{
    if (!s->reader) {
        s->row = s->next < s->table.n ? &s->table.rows[s->next++] : NULL;
        return ISO_OK;
    }
    int rc = iso_table_reader_next(s->reader, &s->row);
    return rc < 0 ? rc : ISO_OK;
}

static int shard_open(shard_rows *s, const char *prefix, const table_layout *lay, const char **header)
{
    char *path = join(prefix, lay->suffix), *manifest = join(prefix, ".run.json");
    int rc = path && manifest ? ISO_OK : ISO_ENOMEM;
    if (rc == ISO_OK && access(manifest, F_OK) == 0) {
        if ((rc = iso_table_reader_open(path, lay->kind, &s->reader)) == ISO_OK)
            *header = iso_table_reader_header(s->reader);
    } else if (rc == ISO_OK && (rc = iso_table_read(path, lay->kind, &s->table)) == ISO_OK) {
        qsort(s->table.rows, s->table.n, sizeof *s->table.rows, by_position);
        *header = s->table.header;
    }
    free(path);
    free(manifest);
    return rc == ISO_OK ? shard_next(s) : rc;
}

static void shard_close(shard_rows *s)
{
    iso_table_reader_close(s->reader);
    iso_table_free(&s->table);
}

/* The shards with a current row as a binary min-heap on (row, shard index), so that each row's shard is found in
 * O(log n) comparisons rather than n (a tenth of merge's time at 64 shards). The index breaks ties as a scan in
 * shard order would: a transcript in two shards is reported with the same two shards. */
static int heap_less(const shard_rows *in, int a, int b)
{
    int c = iso_table_row_cmp(in[a].row, in[b].row);
    return c ? c < 0 : a < b;
}

static void heap_down(const shard_rows *in, int *heap, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, m = i;
        if (l < n && heap_less(in, heap[l], heap[m]))
            m = l;
        if (l + 1 < n && heap_less(in, heap[l + 1], heap[m]))
            m = l + 1;
        if (m == i)
            return;
        int t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

/* The shards' tables merged row by row (k-way) under their one header; a transcript in two shards, or a shard
 * out of order, is an error. */
static int merge_table(const table_layout *lay, const char *out_prefix, char **shards, int n_shards, pending *done)
{
    char *first = lay->optional ? join(shards[0], lay->suffix) : NULL;
    int absent = first && access(first, F_OK) != 0;
    free(first);
    if (absent)
        return ISO_OK;
    shard_rows *in = calloc((size_t)n_shards, sizeof *in);
    const char *h0 = NULL;
    int rc = in ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int s = 0; s < n_shards && rc == ISO_OK; s++) {
        const char *h = NULL;
        rc = shard_open(&in[s], shards[s], lay, &h);
        if (s == 0)
            h0 = h;
        else if (rc == ISO_OK && (h || h0) && (!h || !h0 || strcmp(h, h0)))
            rc = iso_error(ISO_EFORMAT, "%s%s: header differs from the first shard's: expected shards of one run "
                                        "(same model and options)", shards[s], lay->suffix);
    }
    char *path = rc == ISO_OK ? join(out_prefix, lay->suffix) : NULL;
    iso_out *o = path ? iso_out_open(path) : NULL;
    if (rc == ISO_OK && !o)
        rc = path ? iso_last_status() : ISO_ENOMEM;
    if (o) {
        done->out[done->n++] = o;
        if (h0)
            fputs(h0, iso_out_fp(o));
    }
    written_key last = {.shard = -1};
    int *heap = rc == ISO_OK ? malloc((size_t)n_shards * sizeof *heap) : NULL, n_heap = 0;
    if (rc == ISO_OK && !heap)
        rc = iso_error(ISO_ENOMEM, "out of memory");
    for (int k = 0; rc == ISO_OK && k < n_shards; k++)
        if (in[k].row)
            heap[n_heap++] = k;
    for (int i = n_heap / 2 - 1; rc == ISO_OK && i >= 0; i--)
        heap_down(in, heap, n_heap, i);
    while (rc == ISO_OK && n_heap > 0) {
        int s = heap[0];
        const iso_table_row *r = in[s].row;
        if (last.shard >= 0 && !strcmp(last.row.id, r->id) && !strcmp(last.row.chrom, r->chrom) &&
            last.row.start == r->start) {
            rc = iso_error(ISO_EFORMAT, "transcript %s is in shards %s and %s: expected disjoint shards", r->id,
                           shards[last.shard], shards[s]);
            break;
        }
        fputs(r->line, iso_out_fp(o));
        fputc('\n', iso_out_fp(o));
        if ((rc = keep_key(&last, r, s)) != ISO_OK || (rc = shard_next(&in[s])) != ISO_OK)
            break;
        if (in[s].row && iso_table_row_cmp(in[s].row, &last.row) < 0)
            rc = iso_error(ISO_EFORMAT, "%s%s: transcript %s comes after %s: not in the order isoformer writes "
                                        "(chrom, start, end, id)", shards[s], lay->suffix, in[s].row->id, last.row.id);
        if (!in[s].row)
            heap[0] = heap[--n_heap];
        heap_down(in, heap, n_heap, 0);
    }
    free(heap);
    free(last.chrom.s);
    free(last.id.s);
    free(path);
    for (int s = 0; in && s < n_shards; s++)
        shard_close(&in[s]);
    free(in);
    return rc;
}

/* ---- bigWig tracks ---- */

static int same_chroms(const iso_bigwig_reader *a, const iso_bigwig_reader *b)
{
    const char *const *na, *const *nb;
    const uint32_t *la, *lb;
    int n = iso_bigwig_reader_chroms(a, &na, &la);
    if (iso_bigwig_reader_chroms(b, &nb, &lb) != n)
        return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(na[i], nb[i]) || la[i] != lb[i])
            return 0;
    return 1;
}

/* One contig: the shards' intervals, combined by the per-base maximum (the rule a single run uses). */
static int write_chrom(iso_bigwig *out, const char *chrom, iso_bigwig_reader **in, int n_in)
{
    iso_span *spans = NULL;
    size_t n = 0;
    int rc = ISO_OK;
    for (int s = 0; s < n_in && rc == ISO_OK; s++)
        rc = iso_bigwig_reader_spans(in[s], chrom, &spans, &n);
    if (rc == ISO_OK)
        rc = iso_spans_max(&spans, &n);
    if (rc == ISO_OK && n > 0)
        rc = iso_bigwig_write_chrom(out, chrom, spans, n);
    free(spans);
    return rc;
}

static int merge_bigwig(const char *out_path, char **in_paths, int n_in, pending *done)
{
    iso_bigwig_reader **in = calloc((size_t)n_in, sizeof *in);
    iso_bigwig *out = NULL;
    iso_out *o = NULL;
    int rc = in ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int s = 0; s < n_in && rc == ISO_OK; s++)
        if ((rc = iso_bigwig_reader_open(in_paths[s], &in[s])) == ISO_OK && !same_chroms(in[0], in[s]))
            rc = iso_error(ISO_EFORMAT, "%s: contigs differ from %s: expected shards of one run (same FASTA)",
                           in_paths[s], in_paths[0]);
    if (rc == ISO_OK && !(o = iso_out_open(out_path)))
        rc = iso_last_status();
    if (o)
        done->out[done->n++] = o;
    if (rc == ISO_OK) {
        const char *const *names;
        const uint32_t *lens;
        int n_chroms = iso_bigwig_reader_chroms(in[0], &names, &lens);
        rc = iso_bigwig_open(o, names, lens, n_chroms, &out);
        for (int c = 0; c < n_chroms && rc == ISO_OK; c++)
            rc = write_chrom(out, names[c], in, n_in);
    }
    int closed = iso_bigwig_close(out);
    rc = rc == ISO_OK ? closed : rc;
    for (int s = 0; in && s < n_in; s++)
        iso_bigwig_reader_close(in[s]);
    free(in);
    return rc;
}

/* Tissue tracks are PREFIX.<name>.bw with <name> the TSV column name made a file name (iso_track_file_name).
 * The tracks the first shard has are merged; every shard must have them. *suffixes gets ".<name>.bw" of each,
 * malloc'd. */
static int list_tracks(char **shards, int n_shards, char ***suffixes, int *n_tracks)
{
    *suffixes = NULL;
    *n_tracks = 0;
    char *tsv = join(shards[0], tables[0].suffix);
    iso_lines *lr = tsv ? iso_lines_open(tsv) : NULL;
    free(tsv);
    if (!lr)
        return iso_last_status();
    const char *line;
    size_t len;
    int rc = iso_lines_next(lr, &line, &len);
    char *header = rc == 1 ? strndup(line, len) : NULL;
    iso_lines_close(lr);
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
        if (col < ISO_TSV_N_COLUMNS)
            continue;
        char name[512], suffix[520];
        iso_track_file_name(name, sizeof name, field);
        snprintf(suffix, sizeof suffix, ".%s.bw", name);
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
    static const char *const merged[] = {".predictions.tsv", ".predictions.bed", ".embeddings.tsv", ".run.json", NULL};
    if ((rc = cli_out_not_input("merge", out, (const char *const *)shards, n_shards, 1, merged)) != 0 ||
        (rc = cli_open_files("merge", n_shards)) != 0)
        return rc;
    char **suffixes = NULL, *config = NULL, *selection = NULL;
    int n_tracks = 0;
    pending done = {.n = 0};
    rc = iso_manifest_check_runs(shards, n_shards, &config, &selection);
    int in_set = rc == ISO_OK && (rc = iso_out_set_begin()) == ISO_OK; /* the outputs appear all or none */
    if (rc == ISO_OK)
        rc = list_tracks(shards, n_shards, &suffixes, &n_tracks);
    const int n_tables = (int)(sizeof tables / sizeof tables[0]), max_out = (int)(sizeof done.out / sizeof done.out[0]);
    if (rc == ISO_OK && n_tracks + n_tables > max_out)
        rc = iso_error(ISO_EINVAL, "%s: %d tracks, expected at most %d", shards[0], n_tracks, max_out - n_tables);
    for (int i = 0; i < n_tables && rc == ISO_OK; i++)
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
    return rc == ISO_OK ? 0 : cli_fail("merge");
}
