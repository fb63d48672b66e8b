/* BAM/CRAM quantification: compatibility of spliced alignments with transcript models, equivalence classes,
 * fragment-length distribution and effective lengths, EM. */
#include "isoformer/quant.h"

#include <htslib/khash.h>
#include <htslib/sam.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isoformer/io.h"
#include "isoformer/outputs.h"

#define MAX_FRAG 1000 /* fragment-length histogram bins */
#define MAX_BLOCKS 64

void iso_quant_opts_default(iso_quant_opts *o)
{
    *o = (iso_quant_opts){.strand = ISO_STRAND_AUTO, .threads = 1, .max_iter = 20000, .tol = 1e-8,
                          .frag_mean = 250, .frag_sd = 25};
}

/* ---- EM ---- */

int iso_quant_em(const iso_eq_class *classes, size_t n_classes, const double *eff_length, size_t n_tx,
                 int max_iter, double tol, double *abundance)
{
    double *next = calloc(n_tx ? n_tx : 1, sizeof *next);
    if (!next)
        return iso_error(ISO_ENOMEM, "out of memory for the EM");
    double total = 0;
    for (size_t c = 0; c < n_classes; c++)
        total += classes[c].count;
    for (size_t t = 0; t < n_tx; t++)
        abundance[t] = n_tx ? total / (double)n_tx : 0;
    int it = 0;
    for (; it < max_iter; it++) {
        memset(next, 0, n_tx * sizeof *next);
        for (size_t c = 0; c < n_classes; c++) {
            const iso_eq_class *k = &classes[c];
            double denom = 0;
            for (int i = 0; i < k->n_tx; i++)
                denom += abundance[k->tx[i]] / eff_length[k->tx[i]] * (k->weight ? k->weight[i] : 1.0);
            if (denom <= 0)
                continue;
            for (int i = 0; i < k->n_tx; i++)
                next[k->tx[i]] +=
                    k->count * (abundance[k->tx[i]] / eff_length[k->tx[i]] * (k->weight ? k->weight[i] : 1.0)) / denom;
        }
        double change = 0;
        for (size_t t = 0; t < n_tx; t++) {
            if (next[t] > 1e-8) {
                double r = fabs(next[t] - abundance[t]) / next[t];
                if (r > change)
                    change = r;
            }
            abundance[t] = next[t];
        }
        if (change < tol) {
            it++;
            break;
        }
    }
    free(next);
    return it;
}

/* ---- transcript index: per contig, transcripts sorted by start ---- */

typedef struct {
    int tid;             /* BAM target id */
    size_t *tx;          /* annotation indices sorted by start */
    size_t n;
    int64_t max_len;     /* longest transcript span, bounds the backward scan */
} contig_index;

typedef struct {
    const iso_annotation *ann;
    contig_index *contigs;
    int n_contigs;
    int64_t **offsets;   /* per transcript: exonic bases before each exon (genomic order) */
} tx_index;

static int64_t tx_start(const iso_transcript *t) { return t->exons[0].start; }
static int64_t tx_end(const iso_transcript *t) { return t->exons[t->n_exons - 1].end; }

typedef struct {
    int64_t start;
    size_t tx;
} start_key;

static int by_start(const void *a, const void *b)
{
    const start_key *x = a, *y = b;
    if (x->start != y->start)
        return (x->start > y->start) - (x->start < y->start);
    return (x->tx > y->tx) - (x->tx < y->tx);
}

static int sort_by_start(const iso_annotation *ann, contig_index *ci)
{
    start_key *keys = malloc((ci->n ? ci->n : 1) * sizeof *keys);
    if (!keys)
        return iso_error(ISO_ENOMEM, "out of memory");
    for (size_t i = 0; i < ci->n; i++)
        keys[i] = (start_key){tx_start(&ann->tx[ci->tx[i]]), ci->tx[i]};
    qsort(keys, ci->n, sizeof *keys, by_start);
    for (size_t i = 0; i < ci->n; i++)
        ci->tx[i] = keys[i].tx;
    free(keys);
    return ISO_OK;
}

static void index_free(tx_index *ix)
{
    for (int c = 0; c < ix->n_contigs; c++)
        free(ix->contigs[c].tx);
    free(ix->contigs);
    for (size_t t = 0; ix->offsets && t < ix->ann->n; t++)
        free(ix->offsets[t]);
    free(ix->offsets);
}

static int index_build(tx_index *ix, const iso_annotation *ann, const sam_hdr_t *h, const char *path)
{
    *ix = (tx_index){.ann = ann};
    ix->contigs = calloc((size_t)sam_hdr_nref(h) + 1, sizeof *ix->contigs);
    ix->offsets = calloc(ann->n ? ann->n : 1, sizeof *ix->offsets);
    if (!ix->contigs || !ix->offsets)
        return iso_error(ISO_ENOMEM, "out of memory");
    for (size_t t = 0; t < ann->n; t++) {
        const iso_transcript *tx = &ann->tx[t];
        if (!(ix->offsets[t] = malloc((size_t)tx->n_exons * sizeof **ix->offsets)))
            return iso_error(ISO_ENOMEM, "out of memory");
        int64_t acc = 0;
        for (int e = 0; e < tx->n_exons; e++) {
            ix->offsets[t][e] = acc;
            acc += tx->exons[e].end - tx->exons[e].start;
        }
        int tid = sam_hdr_name2tid((sam_hdr_t *)h, tx->chrom);
        if (tid < 0)
            continue;
        contig_index *ci = NULL;
        for (int c = 0; c < ix->n_contigs; c++)
            if (ix->contigs[c].tid == tid)
                ci = &ix->contigs[c];
        if (!ci) {
            ci = &ix->contigs[ix->n_contigs++];
            ci->tid = tid;
        }
        size_t *grown = realloc(ci->tx, (ci->n + 1) * sizeof *grown);
        if (!grown)
            return iso_error(ISO_ENOMEM, "out of memory");
        ci->tx = grown;
        ci->tx[ci->n++] = t;
        if (tx_end(tx) - tx_start(tx) > ci->max_len)
            ci->max_len = tx_end(tx) - tx_start(tx);
    }
    if (ix->n_contigs == 0) {
        const char *example = ann->n ? ann->tx[0].chrom : "?";
        return iso_error(ISO_ENOTFOUND, "%s: none of the annotation's contigs (e.g. '%s') is in the BAM header "
                                        "(first: '%s'); align to the same FASTA or pass --chrom-alias", path,
                         example, sam_hdr_nref(h) ? sam_hdr_tid2name(h, 0) : "none");
    }
    for (int c = 0; c < ix->n_contigs; c++)
        if (sort_by_start(ann, &ix->contigs[c]) != ISO_OK)
            return iso_last_status();
    return ISO_OK;
}

/* ---- alignments ---- */

typedef struct {
    int64_t start[MAX_BLOCKS], end[MAX_BLOCKS]; /* aligned blocks split at N (introns) */
    int n;
} blocks;

static int read_blocks(const bam1_t *b, blocks *bl)
{
    const uint32_t *cig = bam_get_cigar(b);
    int64_t pos = b->core.pos;
    bl->n = 0;
    int open = 0;
    for (uint32_t i = 0; i < b->core.n_cigar; i++) {
        int op = bam_cigar_op(cig[i]);
        int64_t len = bam_cigar_oplen(cig[i]);
        if (op == BAM_CMATCH || op == BAM_CEQUAL || op == BAM_CDIFF || op == BAM_CDEL) {
            if (!open) {
                if (bl->n == MAX_BLOCKS)
                    return -1;
                bl->start[bl->n] = pos;
                bl->end[bl->n++] = pos;
                open = 1;
            }
            pos += len;
            bl->end[bl->n - 1] = pos;
        } else if (op == BAM_CREF_SKIP) {
            pos += len;
            open = 0;
        }
    }
    return bl->n > 0 ? 0 : -1;
}

/* Bases a read's outer ends may run past an exon: aligners extend a read into the intron rather than splice a
 * few-base overhang, and such reads would otherwise count against the isoform that produced them. */
#define OVERHANG 8

/* Whether every block lies in one exon of t (the read's outer ends up to OVERHANG past it) and every intron of
 * the read is one of t's introns. */
static int compatible(const iso_transcript *t, const blocks *bl)
{
    int e = 0;
    for (int i = 0; i < bl->n; i++) {
        int64_t s = bl->start[i], en = bl->end[i];
        while (e < t->n_exons && t->exons[e].end <= s)
            e++;
        if (e == t->n_exons)
            return 0;
        int64_t lo = t->exons[e].start - (i == 0 ? OVERHANG : 0), hi = t->exons[e].end + (i == bl->n - 1 ? OVERHANG : 0);
        if (s < lo || en > hi)
            return 0;
        if (i + 1 < bl->n) {
            if (bl->end[i] != t->exons[e].end || e + 1 == t->n_exons || bl->start[i + 1] != t->exons[e + 1].start)
                return 0;
            e++;
        }
    }
    return 1;
}

/* Position of genomic base g inside t's spliced sequence (genomic orientation), or -1 if intronic. */
static int64_t tx_pos(const tx_index *ix, size_t t, int64_t g)
{
    const iso_transcript *tx = &ix->ann->tx[t];
    for (int e = 0; e < tx->n_exons; e++)
        if (g >= tx->exons[e].start && g < tx->exons[e].end)
            return ix->offsets[t][e] + (g - tx->exons[e].start);
    return -1;
}

/* Transcripts compatible with the blocks, into out (annotation indices, ascending). */
static int find_compatible(const tx_index *ix, const contig_index *ci, const blocks *bl, uint32_t *out)
{
    int64_t s = bl->start[0], e = bl->end[bl->n - 1];
    /* first transcript starting at or after e */
    size_t lo = 0, hi = ci->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tx_start(&ix->ann->tx[ci->tx[mid]]) < e)
            lo = mid + 1;
        else
            hi = mid;
    }
    int n = 0;
    for (size_t k = lo; k-- > 0;) {
        const iso_transcript *t = &ix->ann->tx[ci->tx[k]];
        if (tx_start(t) + ci->max_len <= s)
            break;
        if (tx_end(t) > s && compatible(t, bl))
            out[n++] = (uint32_t)ci->tx[k];
    }
    for (int i = 1; i < n; i++) /* ascending for class keys */
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            uint32_t x = out[j];
            out[j] = out[j - 1];
            out[j - 1] = x;
        }
    return n;
}

/* ---- equivalence classes keyed by their transcript list ---- */

KHASH_MAP_INIT_STR(cls, size_t)
KHASH_MAP_INIT_STR(mate, size_t)

#define LEN_BIN 5 /* implied fragment lengths are kept to 5 bp in class keys */

typedef struct {
    khash_t(cls) *index;
    iso_eq_class *classes;
    int32_t **len_bin; /* per class: each transcript's implied fragment-length bin, 0 when unknown */
    size_t n, cap;
} class_table;

static int class_add(class_table *ct, const uint32_t *tx, const int32_t *len_bin, int n, double weight)
{
    char key[256 * 24], *p = key;
    for (int i = 0; i < n && p < key + sizeof key - 24; i++)
        p += sprintf(p, "%u:%d,", tx[i], len_bin[i]);
    int absent;
    khint_t k = kh_put(cls, ct->index, key, &absent);
    if (absent < 0)
        return iso_error(ISO_ENOMEM, "out of memory");
    if (absent) {
        char *owned = strdup(key);
        uint32_t *copy = malloc((size_t)n * sizeof *copy);
        int32_t *bins = malloc((size_t)n * sizeof *bins);
        if (ct->n == ct->cap) {
            size_t cap = ct->cap ? 2 * ct->cap : 256;
            iso_eq_class *c = realloc(ct->classes, cap * sizeof *c);
            int32_t **b = c ? realloc(ct->len_bin, cap * sizeof *b) : NULL;
            if (c)
                ct->classes = c;
            if (b) {
                ct->len_bin = b;
                ct->cap = cap;
            }
        }
        if (!owned || !copy || !bins || ct->n == ct->cap) {
            free(owned);
            free(copy);
            free(bins);
            kh_del(cls, ct->index, k);
            return iso_error(ISO_ENOMEM, "out of memory");
        }
        kh_key(ct->index, k) = owned;
        memcpy(copy, tx, (size_t)n * sizeof *copy);
        memcpy(bins, len_bin, (size_t)n * sizeof *bins);
        ct->classes[ct->n] = (iso_eq_class){copy, n, 0, NULL};
        ct->len_bin[ct->n] = bins;
        kh_val(ct->index, k) = ct->n++;
    }
    ct->classes[kh_val(ct->index, k)].count += weight;
    return ISO_OK;
}

static void class_free(class_table *ct)
{
    if (ct->index) {
        for (khint_t k = kh_begin(ct->index); k != kh_end(ct->index); k++)
            if (kh_exist(ct->index, k))
                free((char *)kh_key(ct->index, k));
        kh_destroy(cls, ct->index);
    }
    for (size_t i = 0; i < ct->n; i++) {
        free((void *)ct->classes[i].tx);
        free((void *)ct->classes[i].weight);
        free(ct->len_bin[i]);
    }
    free(ct->classes);
    free(ct->len_bin);
}

/* ---- the pass over the alignments ---- */

typedef struct {
    uint32_t tx[256];
    int n;
    int64_t start, end; /* genomic span of the mate */
    int read1_reverse;  /* strand of read 1 (this mate's strand if it is read 1, the opposite otherwise) */
} mate_info;

typedef struct {
    const tx_index *ix;
    iso_strandedness strand;
    class_table classes;
    double fld[MAX_FRAG + 1];
    size_t n_fld, n_sense, n_antisense, n_fragments, n_assigned;
    double assigned_weight;
    mate_info *pending;     /* first mates waiting for their pair */
    size_t n_pending, cap_pending;
    khash_t(mate) *by_name; /* qname -> pending slot */
    /* coverage of the current contig: block boundaries as (position, +-weight) per track */
    int coverage, n_tracks;
    struct cov_event {
        int64_t pos;
        double delta;
    } *events[2];
    size_t n_events[2], cap_events[2];
    struct iso_span_list *cov; /* n_tracks x n_contigs, filled contig by contig */
} pass_state;

static int by_pos(const void *a, const void *b)
{
    int64_t x = ((const struct cov_event *)a)->pos, y = ((const struct cov_event *)b)->pos;
    return (x > y) - (x < y);
}

/* The contig's depth runs from its block boundaries. */
static int sweep_coverage(pass_state *st, int track, struct iso_span_list *out)
{
    struct cov_event *e = st->events[track];
    size_t n = st->n_events[track];
    if (n) /* qsort takes no NULL, even for 0 elements */
        qsort(e, n, sizeof *e, by_pos);
    iso_span *spans = malloc((n ? n : 1) * sizeof *spans);
    if (!spans)
        return iso_error(ISO_ENOMEM, "out of memory for coverage");
    size_t m = 0;
    double depth = 0;
    for (size_t i = 0; i < n;) {
        int64_t pos = e[i].pos;
        for (; i < n && e[i].pos == pos; i++)
            depth += e[i].delta;
        if (depth < 1e-9)
            depth = 0;
        if (i < n && depth > 0) {
            float v = (float)depth;
            if (m && spans[m - 1].end == (uint32_t)pos && spans[m - 1].value == v)
                spans[m - 1].end = (uint32_t)e[i].pos;
            else
                spans[m++] = (iso_span){(uint32_t)pos, (uint32_t)e[i].pos, v};
        }
    }
    out->spans = spans;
    out->n = m;
    st->n_events[track] = 0;
    return ISO_OK;
}

/* Keeps transcripts whose strand agrees with the library, given read 1's strand. */
static int strand_filter(const iso_annotation *ann, iso_strandedness s, int read1_reverse, uint32_t *tx, int n)
{
    if (s != ISO_STRAND_FR && s != ISO_STRAND_RF)
        return n;
    int kept = 0;
    for (int i = 0; i < n; i++) {
        int tx_reverse = ann->tx[tx[i]].strand == '-';
        int sense = read1_reverse == tx_reverse;
        if (sense == (s == ISO_STRAND_FR))
            tx[kept++] = tx[i];
    }
    return kept;
}

/* One fragment (a pair, or a single read): its compatible set becomes a class observation. */
static int fragment(pass_state *st, uint32_t *tx, int n, int read1_reverse, int64_t fs, int64_t fe, int paired,
                    double weight)
{
    const iso_annotation *ann = st->ix->ann;
    st->n_fragments++;
    if (n == 1) { /* orientation and length statistics from unambiguous fragments */
        int tx_reverse = ann->tx[tx[0]].strand == '-';
        if (read1_reverse == tx_reverse)
            st->n_sense++;
        else
            st->n_antisense++;
        if (paired) {
            int64_t a = tx_pos(st->ix, tx[0], fs), b = tx_pos(st->ix, tx[0], fe - 1);
            if (a >= 0 && b >= a && b - a + 1 <= MAX_FRAG) {
                st->fld[b - a + 1] += 1;
                st->n_fld++;
            }
        }
    }
    n = strand_filter(ann, st->strand, read1_reverse, tx, n);
    if (n == 0)
        return ISO_OK;
    st->n_assigned++;
    st->assigned_weight += weight;
    /* The fragment length each transcript implies (pairs only): transcripts that splice out or keep the
     * sequence between the mates differ here, which is what tells such isoforms apart. */
    int32_t bins[256];
    for (int i = 0; i < n; i++) {
        int64_t a = paired ? tx_pos(st->ix, tx[i], fs) : -1, b = paired ? tx_pos(st->ix, tx[i], fe - 1) : -1;
        bins[i] = a >= 0 && b >= a ? (int32_t)((b - a + 1) / LEN_BIN + 1) : 0;
    }
    return class_add(&st->classes, tx, bins, n, weight);
}

static int intersect(uint32_t *a, int na, const uint32_t *b, int nb)
{
    int n = 0;
    for (int i = 0, j = 0; i < na && j < nb;) {
        if (a[i] < b[j])
            i++;
        else if (a[i] > b[j])
            j++;
        else {
            a[n++] = a[i];
            i++;
            j++;
        }
    }
    return n;
}

static int add_event(pass_state *st, int track, int64_t pos, double delta)
{
    if (st->n_events[track] == st->cap_events[track]) {
        size_t cap = st->cap_events[track] ? 2 * st->cap_events[track] : 4096;
        struct cov_event *e = realloc(st->events[track], cap * sizeof *e);
        if (!e)
            return iso_error(ISO_ENOMEM, "out of memory for coverage");
        st->events[track] = e;
        st->cap_events[track] = cap;
    }
    st->events[track][st->n_events[track]++] = (struct cov_event){pos, delta};
    return ISO_OK;
}

static int alignment(pass_state *st, const contig_index *ci, const bam1_t *b)
{
    const bam1_core_t *c = &b->core;
    if (c->flag & (BAM_FUNMAP | BAM_FQCFAIL | BAM_FDUP | BAM_FSUPPLEMENTARY))
        return ISO_OK;
    blocks bl;
    if (read_blocks(b, &bl) < 0)
        return ISO_OK;
    uint8_t *nh = bam_aux_get(b, "NH");
    double weight = nh ? 1.0 / (double)(bam_aux2i(nh) > 0 ? bam_aux2i(nh) : 1) : 1.0;
    mate_info m = {.start = bl.start[0], .end = bl.end[bl.n - 1]};
    int reverse = (c->flag & BAM_FREVERSE) != 0;
    m.read1_reverse = (c->flag & BAM_FREAD2) ? !reverse : reverse;
    if (st->coverage) {
        /* track 1 is the minus strand of the RNA: read 1's strand, flipped for rf libraries */
        int track = st->n_tracks == 2 ? m.read1_reverse != (st->strand == ISO_STRAND_RF) : 0;
        for (int i = 0; i < bl.n; i++) {
            int rc = add_event(st, track, bl.start[i], weight);
            if (rc == ISO_OK)
                rc = add_event(st, track, bl.end[i], -weight);
            if (rc != ISO_OK)
                return rc;
        }
    }
    uint32_t found[4096];
    int n = find_compatible(st->ix, ci, &bl, found);
    if (n > 256)
        n = 256; /* more than 256 overlapping compatible isoforms: keep the first */
    memcpy(m.tx, found, (size_t)n * sizeof *found);
    m.n = n;
    int paired = (c->flag & BAM_FPAIRED) && !(c->flag & BAM_FMUNMAP) && c->mtid == c->tid;
    if (!paired)
        return fragment(st, m.tx, m.n, m.read1_reverse, m.start, m.end, 0, weight);
    /* The first mate seen waits (keyed by name and its position, so a multi-mapper's pairs stay apart). */
    char key[512];
    int first = c->pos < c->mpos || (c->pos == c->mpos && (c->flag & BAM_FREAD1));
    snprintf(key, sizeof key, "%s/%lld", bam_get_qname(b), (long long)(first ? c->pos : c->mpos));
    khint_t k = kh_get(mate, st->by_name, key);
    if (first || k == kh_end(st->by_name)) {
        if (!first)
            return fragment(st, m.tx, m.n, m.read1_reverse, m.start, m.end, 0, weight); /* mate filtered out */
        if (st->n_pending == st->cap_pending) {
            size_t cap = st->cap_pending ? 2 * st->cap_pending : 1024;
            mate_info *p = realloc(st->pending, cap * sizeof *p);
            if (!p)
                return iso_error(ISO_ENOMEM, "out of memory");
            st->pending = p;
            st->cap_pending = cap;
        }
        int absent;
        char *owned = strdup(key);
        if (!owned)
            return iso_error(ISO_ENOMEM, "out of memory");
        k = kh_put(mate, st->by_name, owned, &absent);
        if (absent <= 0) {
            free(owned);
            return absent < 0 ? iso_error(ISO_ENOMEM, "out of memory") : ISO_OK;
        }
        st->pending[st->n_pending] = m;
        kh_val(st->by_name, k) = st->n_pending++;
        return ISO_OK;
    }
    mate_info *f = &st->pending[kh_val(st->by_name, k)];
    int64_t fs = f->start < m.start ? f->start : m.start, fe = f->end > m.end ? f->end : m.end;
    int nn = intersect(f->tx, f->n, m.tx, m.n);
    int rc = fragment(st, f->tx, nn, f->read1_reverse, fs, fe, 1, weight);
    free((char *)kh_key(st->by_name, k));
    kh_del(mate, st->by_name, k);
    f->n = -1; /* consumed */
    return rc;
}

/* Mates whose pair never came (filtered, or on another contig) count as single reads. */
static int flush_pending(pass_state *st)
{
    int rc = ISO_OK;
    for (size_t i = 0; i < st->n_pending && rc == ISO_OK; i++)
        if (st->pending[i].n >= 0)
            rc = fragment(st, st->pending[i].tx, st->pending[i].n, st->pending[i].read1_reverse,
                          st->pending[i].start, st->pending[i].end, 0, 1.0);
    for (khint_t k = kh_begin(st->by_name); k != kh_end(st->by_name); k++)
        if (kh_exist(st->by_name, k))
            free((char *)kh_key(st->by_name, k));
    kh_clear(mate, st->by_name);
    st->n_pending = 0;
    return rc;
}

static int check_sorted(const sam_hdr_t *h, const char *path)
{
    kstring_t so = {0, 0, NULL};
    int found = sam_hdr_find_tag_hd((sam_hdr_t *)h, "SO", &so) == 0;
    int coordinate = found && !strcmp(so.s, "coordinate");
    free(so.s);
    if (!coordinate)
        return iso_error(ISO_EFORMAT, "%s: not coordinate-sorted (header @HD SO:%s): run 'samtools sort -o "
                                      "sorted.bam %s && samtools index sorted.bam'", path, found ? "other" : "absent",
                         path);
    return ISO_OK;
}

/* One pass over the annotated contigs; max_fragments > 0 stops early (strandedness detection). */
static int run_pass(const char *path, const tx_index *ix, samFile *fp, sam_hdr_t *h, hts_idx_t *idx,
                    pass_state *st, size_t max_fragments, size_t *n_records)
{
    bam1_t *b = bam_init1();
    int rc = b ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int c = 0; rc == ISO_OK && c < ix->n_contigs; c++) {
        const contig_index *ci = &ix->contigs[c];
        hts_itr_t *itr = sam_itr_queryi(idx, ci->tid, 0, HTS_POS_MAX);
        if (!itr) {
            rc = iso_error(ISO_EFORMAT, "%s: cannot iterate contig %s with the index", path,
                           sam_hdr_tid2name(h, ci->tid));
            break;
        }
        int r;
        int64_t last = -1;
        while (rc == ISO_OK && (r = sam_itr_next(fp, itr, b)) >= 0) {
            if (b->core.pos < last) {
                rc = iso_error(ISO_EFORMAT, "%s: %s at %s:%lld comes after position %lld: the file is not "
                                            "sorted although its header says so; run 'samtools sort'", path,
                               bam_get_qname(b), sam_hdr_tid2name(h, ci->tid), (long long)b->core.pos + 1,
                               (long long)last + 1);
                break;
            }
            last = b->core.pos;
            ++*n_records;
            rc = alignment(st, ci, b);
            if (max_fragments && st->n_fragments >= max_fragments)
                break;
        }
        if (rc == ISO_OK && r < -1)
            rc = iso_error(ISO_EFORMAT, "%s: corrupt or truncated record after %s:%lld", path,
                           sam_hdr_tid2name(h, ci->tid), (long long)last + 1);
        hts_itr_destroy(itr);
        if (rc == ISO_OK)
            rc = flush_pending(st);
        for (int t = 0; rc == ISO_OK && st->coverage && t < st->n_tracks; t++)
            rc = sweep_coverage(st, t, &st->cov[t * ix->n_contigs + c]);
        if (max_fragments && st->n_fragments >= max_fragments)
            break;
    }
    bam_destroy1(b);
    return rc;
}

static void pass_free(pass_state *st)
{
    class_free(&st->classes);
    free(st->events[0]);
    free(st->events[1]);
    free(st->pending);
    if (st->by_name) {
        for (khint_t k = kh_begin(st->by_name); k != kh_end(st->by_name); k++)
            if (kh_exist(st->by_name, k))
                free((char *)kh_key(st->by_name, k));
        kh_destroy(mate, st->by_name);
    }
    memset(st, 0, sizeof *st); /* freeing twice (after a failed first pass) is harmless */
}

static int pass_init(pass_state *st, const tx_index *ix, iso_strandedness s)
{
    *st = (pass_state){.ix = ix, .strand = s};
    st->classes.index = kh_init(cls);
    st->by_name = kh_init(mate);
    return st->classes.index && st->by_name ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
}

/* Each class's per-transcript weights: the density of its implied fragment length under the library's
 * distribution (a normal with the observed mean and sd, floored so no compatible transcript gets zero). */
static int class_weights(class_table *ct, double mean, double sd)
{
    for (size_t c = 0; c < ct->n; c++) {
        iso_eq_class *k = &ct->classes[c];
        int known = 0;
        for (int i = 0; i < k->n_tx; i++)
            known |= ct->len_bin[c][i] > 0;
        if (!known || k->n_tx == 1)
            continue;
        double *w = malloc((size_t)k->n_tx * sizeof *w);
        if (!w)
            return iso_error(ISO_ENOMEM, "out of memory");
        for (int i = 0; i < k->n_tx; i++) {
            double len = (ct->len_bin[c][i] - 1) * LEN_BIN + LEN_BIN / 2.0, z = (len - mean) / sd;
            w[i] = ct->len_bin[c][i] > 0 ? exp(-0.5 * z * z) + 1e-6 : 1.0;
        }
        k->weight = w;
    }
    return ISO_OK;
}

/* Effective length: expected number of start positions of a fragment drawn from the length distribution
 * restricted to lengths that fit (the conditional mean, as salmon and RSEM do). */
static double effective_length(const double *p, int64_t len)
{
    double w = 0, mean = 0;
    for (int64_t l = 1; l <= MAX_FRAG && l <= len; l++) {
        w += p[l];
        mean += p[l] * (double)l;
    }
    double eff = w > 0 ? (double)len - mean / w + 1 : (double)len;
    return eff >= 1 ? eff : 1;
}

static void fragment_distribution(const pass_state *st, const iso_quant_opts *o, double *p, double *mean,
                                  double *sd)
{
    double n = 0, s = 0, s2 = 0;
    for (int l = 1; l <= MAX_FRAG; l++) {
        n += st->fld[l];
        s += st->fld[l] * l;
        s2 += st->fld[l] * (double)l * l;
    }
    if (st->n_fld >= 100) {
        *mean = s / n;
        *sd = sqrt(s2 / n - *mean * *mean);
        for (int l = 0; l <= MAX_FRAG; l++)
            p[l] = st->fld[l] / n;
        return;
    }
    *mean = o->frag_mean;
    *sd = o->frag_sd;
    for (int l = 0; l <= MAX_FRAG; l++)
        p[l] = l ? exp(-0.5 * pow((l - o->frag_mean) / o->frag_sd, 2)) : 0;
}

int iso_quant_bam(const char *path, const iso_annotation *ann, const iso_quant_opts *opts, iso_quant_result **out)
{
    *out = NULL;
    iso_quant_opts o;
    if (opts)
        o = *opts;
    else
        iso_quant_opts_default(&o);
    samFile *fp = sam_open(path, "r");
    if (!fp)
        return iso_error(ISO_EIO, "%s: cannot open as BAM/CRAM", path);
    if (o.threads > 1)
        hts_set_threads(fp, o.threads);
    sam_hdr_t *h = sam_hdr_read(fp);
    hts_idx_t *idx = NULL;
    tx_index ix = {.ann = ann};
    pass_state st = {0};
    iso_quant_result *r = NULL;
    double *abundance = NULL;
    int rc = h ? check_sorted(h, path) : iso_error(ISO_EFORMAT, "%s: not a BAM/CRAM file (no header)", path);
    if (rc == ISO_OK && !(idx = sam_index_load(fp, path)))
        rc = iso_error(ISO_EFORMAT, "%s: no index (.bai/.csi/.crai) found: run 'samtools index %s'", path, path);
    if (rc == ISO_OK)
        rc = index_build(&ix, ann, h, path);
    size_t n_records = 0;
    iso_strandedness strand = o.strand;
    double sense_fraction = NAN;
    if (rc == ISO_OK && strand == ISO_STRAND_AUTO) {
        /* A first look at up to 200,000 fragments decides the library type. */
        if ((rc = pass_init(&st, &ix, ISO_STRAND_NONE)) == ISO_OK)
            rc = run_pass(path, &ix, fp, h, idx, &st, 200000, &n_records);
        size_t decided = st.n_sense + st.n_antisense;
        sense_fraction = decided ? (double)st.n_sense / decided : NAN;
        strand = decided < 50 || (sense_fraction > 0.2 && sense_fraction < 0.8) ? ISO_STRAND_NONE
                 : sense_fraction >= 0.8                                          ? ISO_STRAND_FR
                                                                                  : ISO_STRAND_RF;
        pass_free(&st);
        n_records = 0;
    }
    struct iso_span_list *cov = NULL;
    int n_tracks = strand == ISO_STRAND_FR || strand == ISO_STRAND_RF ? 2 : 1;
    if (rc == ISO_OK && o.coverage && !(cov = calloc((size_t)n_tracks * ix.n_contigs, sizeof *cov)))
        rc = iso_error(ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK && (rc = pass_init(&st, &ix, strand)) == ISO_OK) {
        st.coverage = o.coverage;
        st.n_tracks = n_tracks;
        st.cov = cov;
        rc = run_pass(path, &ix, fp, h, idx, &st, 0, &n_records);
    }
    if (rc == ISO_OK && st.n_assigned == 0)
        rc = iso_error(ISO_EFORMAT, "%s: no mapped read is compatible with a transcript of %s (%zu alignments on "
                                    "annotated contigs): wrong annotation, assembly or --strand?", path, ann->path,
                       n_records);
    if (rc == ISO_OK) {
        r = calloc(1, sizeof *r);
        abundance = calloc(ann->n ? ann->n : 1, sizeof *abundance);
        if (r) {
            r->n = ann->n;
            r->length = calloc(ann->n ? ann->n : 1, sizeof *r->length);
            r->eff_length = calloc(ann->n ? ann->n : 1, sizeof *r->eff_length);
            r->num_reads = calloc(ann->n ? ann->n : 1, sizeof *r->num_reads);
            r->tpm = calloc(ann->n ? ann->n : 1, sizeof *r->tpm);
        }
        if (!r || !abundance || !r->length || !r->eff_length || !r->num_reads || !r->tpm)
            rc = iso_error(ISO_ENOMEM, "out of memory");
    }
    if (rc == ISO_OK) {
        double p[MAX_FRAG + 1];
        fragment_distribution(&st, &o, p, &r->frag_mean, &r->frag_sd);
        for (size_t t = 0; t < ann->n; t++) {
            const iso_transcript *tx = &ann->tx[t];
            for (int e = 0; e < tx->n_exons; e++)
                r->length[t] += tx->exons[e].end - tx->exons[e].start;
            r->eff_length[t] = effective_length(p, r->length[t]);
        }
        if ((rc = class_weights(&st.classes, r->frag_mean, r->frag_sd)) != ISO_OK)
            goto em_done;
        int it = iso_quant_em(st.classes.classes, st.classes.n, r->eff_length, ann->n, o.max_iter, o.tol, abundance);
        if (it < 0)
            rc = it;
        r->em_iterations = it;
        double norm = 0;
        for (size_t t = 0; t < ann->n; t++) {
            r->num_reads[t] = abundance[t];
            norm += abundance[t] / r->eff_length[t];
        }
        for (size_t t = 0; t < ann->n; t++)
            r->tpm[t] = norm > 0 ? abundance[t] / r->eff_length[t] / norm * 1e6 : 0;
        r->strand = strand;
        r->sense_fraction = st.n_sense + st.n_antisense ? (double)st.n_sense / (st.n_sense + st.n_antisense)
                                                        : sense_fraction;
        r->n_records = n_records;
        r->n_fragments = st.n_fragments;
        r->n_assigned = st.n_assigned;
        r->assigned_weight = st.assigned_weight;
        if (cov) {
            r->contig = calloc((size_t)ix.n_contigs, sizeof *r->contig);
            r->contig_len = calloc((size_t)ix.n_contigs, sizeof *r->contig_len);
            if (!r->contig || !r->contig_len) {
                rc = iso_error(ISO_ENOMEM, "out of memory");
                goto em_done;
            }
            r->n_tracks = n_tracks;
            r->n_contigs = ix.n_contigs;
            r->coverage = cov;
            cov = NULL;
            for (int c = 0; c < ix.n_contigs; c++) {
                r->contig[c] = strdup(sam_hdr_tid2name(h, ix.contigs[c].tid));
                r->contig_len[c] = (uint32_t)sam_hdr_tid2len(h, ix.contigs[c].tid);
            }
        }
        r->n_pairs_for_fld = st.n_fld;
    }
em_done:
    for (int t = 0; cov && t < n_tracks * ix.n_contigs; t++)
        free(cov[t].spans);
    free(cov);
    free(abundance);
    pass_free(&st);
    index_free(&ix);
    if (idx)
        hts_idx_destroy(idx);
    if (h)
        sam_hdr_destroy(h);
    sam_close(fp);
    if (rc != ISO_OK) {
        iso_quant_free(r);
        return rc;
    }
    *out = r;
    return ISO_OK;
}

void iso_quant_free(iso_quant_result *r)
{
    if (!r)
        return;
    for (int i = 0; r->coverage && i < r->n_tracks * r->n_contigs; i++)
        free(r->coverage[i].spans);
    for (int c = 0; r->contig && c < r->n_contigs; c++)
        free(r->contig[c]);
    free(r->coverage);
    free(r->contig);
    free(r->contig_len);
    free(r->length);
    free(r->eff_length);
    free(r->num_reads);
    free(r->tpm);
    free(r);
}

typedef struct {
    const char *gene_id;
    size_t tx;
} gene_key;

static int by_gene(const void *a, const void *b)
{
    const gene_key *x = a, *y = b;
    int c = strcmp(x->gene_id, y->gene_id);
    return c ? c : (x->tx > y->tx) - (x->tx < y->tx);
}

static int write_file(const char *prefix, const char *suffix, const iso_annotation *ann, const iso_quant_result *r,
                      int genes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%s", prefix, suffix);
    iso_out *o = iso_out_open(path);
    if (!o)
        return iso_last_status();
    FILE *fp = iso_out_fp(o);
    if (!genes) {
        fputs("Name\tLength\tEffectiveLength\tTPM\tNumReads\n", fp);
        for (size_t t = 0; t < r->n; t++)
            fprintf(fp, "%s\t%lld\t%.3f\t%.6f\t%.3f\n", ann->tx[t].transcript_id, (long long)r->length[t],
                    r->eff_length[t], r->tpm[t], r->num_reads[t]);
    } else {
        /* Genes sorted by id: transcripts grouped by gene, sums per group. */
        fputs("gene_id\tgene_name\tTPM\tNumReads\n", fp);
        gene_key *keys = malloc((r->n ? r->n : 1) * sizeof *keys);
        if (!keys) {
            iso_out_abort(o);
            return iso_error(ISO_ENOMEM, "out of memory");
        }
        for (size_t t = 0; t < r->n; t++)
            keys[t] = (gene_key){ann->tx[t].gene_id, t};
        qsort(keys, r->n, sizeof *keys, by_gene);
        for (size_t i = 0; i < r->n;) {
            const iso_transcript *tx = &ann->tx[keys[i].tx];
            double tpm = 0, reads = 0;
            for (; i < r->n && !strcmp(keys[i].gene_id, tx->gene_id); i++) {
                tpm += r->tpm[keys[i].tx];
                reads += r->num_reads[keys[i].tx];
            }
            fprintf(fp, "%s\t%s\t%.6f\t%.3f\n", tx->gene_id, tx->gene_name ? tx->gene_name : "", tpm, reads);
        }
        free(keys);
    }
    if (ferror(fp)) {
        iso_out_abort(o);
        return iso_error(ISO_EIO, "%s: write failed", path);
    }
    return iso_out_commit(o);
}

/* One coverage bigWig, depth scaled to per million assigned fragments. */
static int write_coverage(const char *prefix, const char *suffix, const iso_quant_result *r, int track)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%s", prefix, suffix);
    iso_out *o = iso_out_open(path);
    if (!o)
        return iso_last_status();
    iso_bigwig *bw = NULL;
    double scale = r->assigned_weight > 0 ? 1e6 / r->assigned_weight : 0;
    int rc = iso_bigwig_open(o, (const char *const *)r->contig, r->contig_len, r->n_contigs, &bw);
    size_t n_spans = 0;
    for (int c = 0; c < r->n_contigs; c++)
        n_spans += r->coverage[track * r->n_contigs + c].n;
    /* libBigWig writes no index for a file without data, and readers (bx-python, UCSC's) refuse such a file: a
     * track without coverage (the empty strand of a stranded library) says so with one base of depth 0. */
    if (rc == ISO_OK && !n_spans && r->n_contigs)
        rc = iso_bigwig_write_chrom(bw, r->contig[0], &(iso_span){0, 1, 0.0f}, 1);
    for (int c = 0; rc == ISO_OK && c < r->n_contigs; c++) {
        const struct iso_span_list *l = &r->coverage[track * r->n_contigs + c];
        iso_span *scaled = malloc((l->n ? l->n : 1) * sizeof *scaled);
        if (!scaled) {
            rc = iso_error(ISO_ENOMEM, "out of memory");
            break;
        }
        for (size_t i = 0; i < l->n; i++)
            scaled[i] = (iso_span){l->spans[i].start, l->spans[i].end, (float)(l->spans[i].value * scale)};
        if (l->n)
            rc = iso_bigwig_write_chrom(bw, r->contig[c], scaled, l->n);
        free(scaled);
    }
    iso_bigwig_close(bw);
    if (rc != ISO_OK) {
        iso_out_abort(o);
        return rc;
    }
    return iso_out_commit(o);
}

int iso_quant_write(const char *prefix, const iso_annotation *ann, const iso_quant_result *r)
{
    int rc = write_file(prefix, ".quant.sf", ann, r, 0);
    if (rc == ISO_OK)
        rc = write_file(prefix, ".genes.tsv", ann, r, 1);
    if (rc == ISO_OK && r->coverage && r->n_tracks == 1)
        rc = write_coverage(prefix, ".coverage.bw", r, 0);
    if (rc == ISO_OK && r->coverage && r->n_tracks == 2)
        rc = write_coverage(prefix, ".coverage.plus.bw", r, 0);
    if (rc == ISO_OK && r->coverage && r->n_tracks == 2)
        rc = write_coverage(prefix, ".coverage.minus.bw", r, 1);
    return rc;
}
