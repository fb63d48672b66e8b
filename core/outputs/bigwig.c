/* bigWig through libBigWig. libBigWig checks nothing but contig names (out-of-order contigs lose data,
 * overlapping or out-of-bounds intervals are written silently), so every span is validated here first. */
#include <bigWig.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/tracks_internal.h"

/* What a contig holds, to compare the file read back with what was written. */
typedef struct {
    size_t spans;
    uint64_t bases;
    double sum; /* of value x length, in span order */
} chrom_summary;

struct iso_bigwig {
    bigWigFile_t *fp;
    const char *path, *shown; /* the temporary written; the output's name, for messages */
    int n_chroms, next_chrom; /* contigs must come in header order */
    char **names;
    uint32_t *lens;
    chrom_summary *written; /* per header contig */
};

/* A header contig by name, for lookups in O(log n): a scan of a genome's 455 contigs for each contig read back was
 * quadratic (merge reads every contig of every shard). */
typedef struct {
    const char *name;
    int64_t c; /* index in the header */
} named_contig;

struct iso_bigwig_reader {
    bigWigFile_t *fp;
    char *path;
    named_contig *by_name; /* the header's contigs sorted by name; built at the first lookup */
};

static pthread_once_t bw_once = PTHREAD_ONCE_INIT;
static int bw_init_rc;
static void bw_init(void) { bw_init_rc = bwInit(1 << 17); }

static int by_start(const void *pa, const void *pb)
{
    const iso_span *a = pa, *b = pb;
    return (a->start > b->start) - (a->start < b->start);
}

int iso_spans_max(iso_span **spans, size_t *n)
{
    size_t n_in = *n;
    if (n_in == 0)
        return ISO_OK;
    iso_span *in = *spans;
    qsort(in, n_in, sizeof *in, by_start);
    iso_span *out = malloc(2 * n_in * sizeof *out);
    size_t *active = malloc(n_in * sizeof *active);
    if (!out || !active) {
        free(out);
        free(active);
        return iso_error(ISO_ENOMEM, "out of memory combining %zu intervals", n_in);
    }
    /* Sweep: between consecutive span boundaries the value is the maximum over the spans covering it. */
    size_t n_out = 0, n_active = 0, next = 0;
    uint32_t pos = in[0].start;
    while (next < n_in || n_active > 0) {
        if (n_active == 0 && pos < in[next].start)
            pos = in[next].start;
        while (next < n_in && in[next].start <= pos)
            active[n_active++] = next++;
        uint32_t stop = next < n_in ? in[next].start : UINT32_MAX;
        float best = in[active[0]].value;
        for (size_t k = 0; k < n_active; k++) {
            if (in[active[k]].end < stop)
                stop = in[active[k]].end;
            if (in[active[k]].value > best)
                best = in[active[k]].value;
        }
        if (n_out > 0 && out[n_out - 1].end == pos && out[n_out - 1].value == best)
            out[n_out - 1].end = stop;
        else
            out[n_out++] = (iso_span){pos, stop, best};
        pos = stop;
        size_t kept = 0;
        for (size_t k = 0; k < n_active; k++)
            if (in[active[k]].end > pos)
                active[kept++] = active[k];
        n_active = kept;
    }
    free(active);
    free(in);
    *spans = out;
    *n = n_out;
    return ISO_OK;
}

int iso_bigwig_open(iso_out *o, const char *const *chrom_names, const uint32_t *chrom_lens, int n_chroms,
                    iso_bigwig **out)
{
    *out = NULL;
    pthread_once(&bw_once, bw_init);
    if (bw_init_rc)
        return iso_error(ISO_EIO, "libBigWig could not initialise");
    iso_bigwig *bw = calloc(1, sizeof *bw);
    if (bw && !(bw->written = calloc((size_t)(n_chroms ? n_chroms : 1), sizeof *bw->written))) {
        free(bw);
        bw = NULL;
    }
    if (!bw)
        return iso_error(ISO_ENOMEM, "out of memory");
    bw->path = iso_out_tmp_path(o);
    bw->shown = iso_out_path(o);
    bw->n_chroms = n_chroms;
    bw->names = (char **)chrom_names;
    bw->lens = (uint32_t *)chrom_lens;
    /* libBigWig's bwOpen crashes in its own cleanup when it cannot open the file for writing (it finalises a file
     * it has no handle for): the file is opened here first, so that the error is ours */
    FILE *probe = fopen(bw->path, "r+b");
    if (!probe) {
        int err = errno;
        free(bw->written);
        free(bw);
        return iso_error(ISO_EIO, "%s: cannot open for writing (%s)", iso_out_tmp_path(o), strerror(err));
    }
    fclose(probe);
    if (!(bw->fp = bwOpen((char *)bw->path, NULL, "w")) || bwCreateHdr(bw->fp, 10) ||
        !(bw->fp->cl = bwCreateChromList((const char *const *)chrom_names, (uint32_t *)chrom_lens, n_chroms)) ||
        bwWriteHdr(bw->fp)) {
        if (bw->fp)
            bwClose(bw->fp);
        free(bw->written);
        free(bw);
        return iso_error(ISO_EIO, "%s: cannot write the bigWig header", iso_out_tmp_path(o));
    }
    *out = bw;
    return ISO_OK;
}

int iso_bigwig_write_chrom(iso_bigwig *bw, const char *chrom, const iso_span *spans, size_t n)
{
    int c = bw->next_chrom;
    while (c < bw->n_chroms && strcmp(bw->names[c], chrom))
        c++;
    if (c == bw->n_chroms)
        return iso_error(ISO_EINVAL, "%s: contig '%s' is not in the header or comes out of order", bw->path, chrom);
    bw->next_chrom = c + 1;
    for (size_t i = 0; i < n; i++)
        if (spans[i].start >= spans[i].end || spans[i].end > bw->lens[c] || (i && spans[i].start < spans[i - 1].end))
            return iso_error(ISO_EINVAL, "%s: interval %s:%u-%u is empty, overlaps the previous one or passes the "
                                         "contig end (%u)", bw->path, chrom, spans[i].start, spans[i].end, bw->lens[c]);
    const char *names[1] = {chrom};
    chrom_summary *w = &bw->written[c];
    for (size_t i = 0; i < n; i++) {
        uint32_t s = spans[i].start, e = spans[i].end;
        float v = spans[i].value;
        int bad = i == 0 ? bwAddIntervals(bw->fp, (const char *const *)names, &s, &e, &v, 1)
                         : bwAppendIntervals(bw->fp, &s, &e, &v, 1);
        if (bad)
            return iso_error(ISO_EIO, "%s: cannot write %s:%u", bw->path, chrom, s);
        w->spans++;
        w->bases += e - s;
        w->sum += (double)v * (e - s);
    }
    return ISO_OK;
}

static chrom_summary summarize(const iso_span *spans, size_t n)
{
    chrom_summary s = {.spans = n};
    for (size_t i = 0; i < n; i++) {
        s.bases += spans[i].end - spans[i].start;
        s.sum += (double)spans[i].value * (spans[i].end - spans[i].start);
    }
    return s;
}

/* Reads the finished file back: the header's contigs and every contig's spans as written. */
static int verify(const iso_bigwig *bw)
{
    iso_bigwig_reader *r;
    int rc = iso_bigwig_reader_open(bw->path, &r);
    if (rc < 0)
        return rc;
    const char *const *names;
    const uint32_t *lens;
    int n = iso_bigwig_reader_chroms(r, &names, &lens);
    for (int c = 0; c < n && c < bw->n_chroms && rc == ISO_OK; c++)
        if (strcmp(names[c], bw->names[c]) || lens[c] != bw->lens[c])
            n = -1;
    if (n != bw->n_chroms)
        rc = iso_error(ISO_EIO, "%s: the bigWig header reads back with other contigs than were written", bw->shown);
    iso_span *spans = NULL;
    for (int c = 0; c < n && rc == ISO_OK; c++) {
        size_t k = 0;
        if ((rc = iso_bigwig_reader_spans(r, names[c], &spans, &k)) < 0)
            break;
        chrom_summary got = summarize(spans, k), want = bw->written[c];
        if (got.spans != want.spans || got.bases != want.bases || got.sum != want.sum)
            rc = iso_error(ISO_EIO, "%s: %s reads back as %zu intervals over %llu bases, %zu over %llu were written "
                                    "(a failed write: is the disk full?)", bw->shown, names[c], got.spans,
                           (unsigned long long)got.bases, want.spans, (unsigned long long)want.bases);
    }
    free(spans);
    iso_bigwig_reader_close(r);
    return rc;
}

/* libBigWig writes no index into a bigWig without data (its header's index offset is 0), which UCSC's tools and
 * bx-python reject as corrupt: an empty R-tree (header and a leaf with no item) goes where the trailing magic
 * was, the magic after it. Every field in the writer's (host) byte order, as libBigWig writes them. */
static int add_empty_index(const char *path, const char *shown)
{
    FILE *fp = fopen(path, "r+b");
    long end = fp && fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    uint64_t index = end >= 4 ? (uint64_t)end - 4 : 0;
    /* magic, block size, 0 items, chrom/base range, end of the data (the index's own offset), items per slot */
    uint32_t tree[] = {0x2468ACE0u, 256, 0, 0, 0, 0, 0, 0, 0, 0, 1024, 0};
    memcpy(&tree[8], &index, sizeof index);
    const unsigned char leaf[4] = {1, 0, 0, 0}; /* isLeaf, reserved, 0 children */
    const uint32_t magic = BIGWIG_MAGIC;
    int bad = !fp || end < 4 || fseek(fp, (long)index, SEEK_SET) || fwrite(tree, sizeof tree, 1, fp) != 1 ||
              fwrite(leaf, sizeof leaf, 1, fp) != 1 || fwrite(&magic, sizeof magic, 1, fp) != 1 ||
              fseek(fp, 24, SEEK_SET) || fwrite(&index, sizeof index, 1, fp) != 1; /* fullIndexOffset */
    if (fp && fclose(fp))
        bad = 1;
    return bad ? iso_error(ISO_EIO, "%s: cannot write the empty bigWig's index (%s)", shown, strerror(errno)) : ISO_OK;
}

int iso_bigwig_close(iso_bigwig *bw)
{
    if (!bw)
        return ISO_OK;
    bwClose(bw->fp); /* flushes the last block and writes the index, reporting nothing */
    size_t spans = 0;
    for (int c = 0; c < bw->n_chroms; c++)
        spans += bw->written[c].spans;
    int rc = spans ? ISO_OK : add_empty_index(bw->path, bw->shown);
    if (rc == ISO_OK)
        rc = verify(bw);
    free(bw->written);
    free(bw);
    return rc;
}

int iso_bigwig_reader_open(const char *path, iso_bigwig_reader **out)
{
    *out = NULL;
    pthread_once(&bw_once, bw_init);
    if (bw_init_rc)
        return iso_error(ISO_EIO, "libBigWig could not initialise");
    iso_bigwig_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    if (!(r->fp = bwOpen(r->path, NULL, "r"))) {
        iso_bigwig_reader_close(r);
        return iso_error(ISO_EFORMAT, "%s: cannot read as bigWig", path);
    }
    *out = r;
    return ISO_OK;
}

int iso_bigwig_reader_chroms(const iso_bigwig_reader *r, const char *const **names, const uint32_t **lens)
{
    *names = (const char *const *)r->fp->cl->chrom;
    *lens = r->fp->cl->len;
    return (int)r->fp->cl->nKeys;
}

static int by_contig_name(const void *pa, const void *pb)
{
    return strcmp(((const named_contig *)pa)->name, ((const named_contig *)pb)->name);
}

int iso_bigwig_reader_spans(iso_bigwig_reader *r, const char *chrom, iso_span **spans, size_t *n)
{
    const chromList_t *cl = r->fp->cl;
    if (!r->by_name && cl->nKeys > 0) {
        if (!(r->by_name = malloc((size_t)cl->nKeys * sizeof *r->by_name)))
            return iso_error(ISO_ENOMEM, "%s: out of memory", r->path);
        for (int64_t c = 0; c < cl->nKeys; c++)
            r->by_name[c] = (named_contig){cl->chrom[c], c};
        qsort(r->by_name, (size_t)cl->nKeys, sizeof *r->by_name, by_contig_name);
    }
    const named_contig key = {chrom, 0}, *found =
        cl->nKeys > 0 ? bsearch(&key, r->by_name, (size_t)cl->nKeys, sizeof key, by_contig_name) : NULL;
    if (!found)
        return iso_error(ISO_ENOTFOUND, "%s: no contig %s in the bigWig", r->path, chrom);
    int64_t c = found->c;
    if (!r->fp->hdr->indexOffset) /* libBigWig writes no index when there is no data */
        return ISO_OK;
    bwOverlappingIntervals_t *iv = bwGetOverlappingIntervals(r->fp, (char *)chrom, 0, cl->len[c]);
    if (!iv)
        return iso_error(ISO_EFORMAT, "%s: cannot read the intervals of %s (truncated or corrupt bigWig)", r->path,
                         chrom);
    iso_span *p = realloc(*spans, (*n + iv->l + 1) * sizeof *p);
    if (p) {
        *spans = p;
        for (uint32_t i = 0; i < iv->l; i++)
            p[(*n)++] = (iso_span){iv->start[i], iv->end[i], iv->value[i]};
    }
    bwDestroyOverlappingIntervals(iv);
    return p ? ISO_OK : iso_error(ISO_ENOMEM, "%s: out of memory", r->path);
}

void iso_bigwig_reader_close(iso_bigwig_reader *r)
{
    if (!r)
        return;
    if (r->fp)
        bwClose(r->fp);
    free(r->by_name);
    free(r->path);
    free(r);
}

/* Spans of one contig for column col: every exon of the rows order[first..end) (the contig's run), valued at the
 * row's value. */
static int contig_spans(const iso_track_matrix *m, const size_t *order, size_t first, size_t end, int col,
                        iso_span **out, size_t *n)
{
    size_t cap = 64, cnt = 0;
    iso_span *s = malloc(cap * sizeof *s);
    for (size_t k = first; s && k < end; k++) {
        size_t i = order[k];
        const iso_transcript *tx = &m->ann->tx[m->rows[i]];
        float v = m->values[i * m->n_cols + col];
        if (v != v) /* NaN: no signal */
            continue;
        for (int e = 0; e < tx->n_exons; e++) {
            if (cnt == cap) {
                iso_span *t = realloc(s, 2 * cap * sizeof *t);
                if (!t) {
                    free(s);
                    return iso_error(ISO_ENOMEM, "out of memory");
                }
                s = t;
                cap *= 2;
            }
            s[cnt++] = (iso_span){(uint32_t)tx->exons[e].start, (uint32_t)tx->exons[e].end, v};
        }
    }
    if (!s)
        return iso_error(ISO_ENOMEM, "out of memory");
    *out = s;
    *n = cnt;
    return ISO_OK;
}

/* The rows of one contig: order[first..end). */
typedef struct {
    const char *chrom;
    size_t first, end;
} contig_run;

static int run_by_chrom(const void *key, const void *elem)
{
    return strcmp(key, ((const contig_run *)elem)->chrom);
}

/* The runs of rows sharing a contig, in row order (so sorted by contig name, as the rows are): each header contig
 * then finds its rows by a binary search, where a scan of every row per header contig cost rows x contigs per track
 * (GRCh38 with its alt contigs: ~450 x ~250,000). */
static contig_run *contig_runs(const iso_track_matrix *m, const size_t *order, size_t *n_runs)
{
    contig_run *runs = malloc((m->n_rows ? m->n_rows : 1) * sizeof *runs);
    size_t n = 0;
    for (size_t k = 0; runs && k < m->n_rows; k++) {
        const char *chrom = m->ann->tx[m->rows[order[k]]].chrom;
        if (n && !strcmp(runs[n - 1].chrom, chrom))
            runs[n - 1].end = k + 1;
        else
            runs[n++] = (contig_run){chrom, k, k + 1};
    }
    *n_runs = n;
    return runs;
}

/* Averages per-base runs into fixed bins (bases without signal do not count). A run may cover many bins, so the
 * bins are counted first. */
static int bin_spans(iso_span **spans, size_t *n, int bin_size, uint32_t len)
{
    iso_span *in = *spans;
    const uint32_t b = (uint32_t)bin_size;
    size_t n_bins = 0;
    for (size_t i = 0; i < *n; i++) {
        uint32_t first = in[i].start / b, last = (in[i].end - 1) / b;
        n_bins += last - first + 1 - (i && (in[i - 1].end - 1) / b == first);
    }
    iso_span *out = malloc((n_bins ? n_bins : 1) * sizeof *out);
    if (!out)
        return iso_error(ISO_ENOMEM, "out of memory");
    size_t n_out = 0;
    for (size_t i = 0; i < *n;) {
        uint32_t b0 = in[i].start / bin_size * bin_size, b1 = b0 + bin_size > len ? len : b0 + bin_size;
        double sum = 0, covered = 0;
        for (; i < *n && in[i].start < b1; i++) {
            uint32_t e = in[i].end < b1 ? in[i].end : b1;
            sum += (double)in[i].value * (e - in[i].start);
            covered += e - in[i].start;
            if (in[i].end > b1) { /* the rest of this run starts the next bin */
                in[i].start = b1;
                break;
            }
        }
        out[n_out++] = (iso_span){b0, b1, (float)(sum / covered)};
    }
    free(in);
    *spans = out;
    *n = n_out;
    return ISO_OK;
}

int iso_write_bigwig_in_order(const char *path, const iso_track_matrix *m, const size_t *order, int col,
                              const char *const *chrom_names, const int64_t *chrom_lens, int n_chroms, int bin_size)
{
    if (col < 0 || col >= m->n_cols || bin_size < 1)
        return iso_error(ISO_EINVAL, "%s: bad column %d or bin size %d", path, col, bin_size);
    uint32_t *lens = malloc((size_t)(n_chroms ? n_chroms : 1) * sizeof *lens);
    size_t n_runs = 0;
    contig_run *runs = contig_runs(m, order, &n_runs);
    iso_out *o = lens && runs ? iso_out_open(path) : NULL;
    iso_bigwig *bw = NULL;
    int rc = !lens || !runs ? iso_error(ISO_ENOMEM, "out of memory") : o ? ISO_OK : iso_last_status();
    for (int c = 0; rc == ISO_OK && c < n_chroms; c++) {
        if (chrom_lens[c] <= 0 || chrom_lens[c] > UINT32_MAX)
            rc = iso_error(ISO_EINVAL, "%s: contig %s has length %lld, outside bigWig's range", path,
                           chrom_names[c], (long long)chrom_lens[c]);
        else
            lens[c] = (uint32_t)chrom_lens[c];
    }
    if (rc == ISO_OK)
        rc = iso_bigwig_open(o, chrom_names, lens, n_chroms, &bw);
    /* Rows are sorted by contig name; the bigWig wants header order, so walk the header and find each run. */
    for (int c = 0; rc == ISO_OK && c < n_chroms; c++) {
        const contig_run *run = bsearch(chrom_names[c], runs, n_runs, sizeof *runs, run_by_chrom);
        if (!run)
            continue;
        iso_span *spans = NULL;
        size_t n = 0;
        rc = contig_spans(m, order, run->first, run->end, col, &spans, &n);
        if (rc == ISO_OK)
            rc = iso_spans_max(&spans, &n);
        if (rc == ISO_OK && n && spans[n - 1].end > lens[c])
            rc = iso_error(ISO_EINVAL, "%s: transcripts on %s pass its end (%u bp): does the annotation match the "
                                       "FASTA?", path, chrom_names[c], lens[c]);
        if (rc == ISO_OK && bin_size > 1)
            rc = bin_spans(&spans, &n, bin_size, lens[c]);
        if (rc == ISO_OK && n)
            rc = iso_bigwig_write_chrom(bw, chrom_names[c], spans, n);
        free(spans);
    }
    for (size_t r = 0; rc == ISO_OK && r < n_runs; r++) {
        int found = 0;
        for (int c = 0; c < n_chroms && !found; c++)
            found = !strcmp(runs[r].chrom, chrom_names[c]);
        if (!found)
            rc = iso_error(ISO_EINVAL, "%s: contig %s of %s is not in the FASTA", path, runs[r].chrom,
                           m->ann->tx[m->rows[order[runs[r].first]]].transcript_id);
    }
    if (bw) {
        int closed = iso_bigwig_close(bw);
        rc = rc == ISO_OK ? closed : rc;
    }
    if (o)
        rc = rc == ISO_OK ? iso_out_commit(o) : (iso_out_abort(o), rc);
    free(lens);
    free(runs);
    return rc;
}

int iso_write_bigwig(const char *path, const iso_track_matrix *m, int col, const char *const *chrom_names,
                     const int64_t *chrom_lens, int n_chroms, int bin_size)
{
    size_t *order = iso_track_order(m);
    if (!order)
        return iso_last_status();
    int rc = iso_write_bigwig_in_order(path, m, order, col, chrom_names, chrom_lens, n_chroms, bin_size);
    free(order);
    return rc;
}
