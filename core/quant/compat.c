/* Compatibility of spliced alignments with transcript models: a per-contig index of transcripts sorted by
 * start, a record's aligned blocks, and the transcripts whose exons contain them and whose introns match. */
#include <stdlib.h>
#include <string.h>

#include "isoformer/outputs.h"
#include "quant/quant_internal.h"

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
    size_t n = ci->n ? ci->n : 1;
    ci->start = malloc(n * sizeof *ci->start);
    ci->end = malloc(n * sizeof *ci->end);
    ci->block_end = calloc(n / SCAN_BLOCK + 1, sizeof *ci->block_end);
    if (!ci->start || !ci->end || !ci->block_end) {
        free(keys);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < ci->n; i++) {
        ci->tx[i] = keys[i].tx;
        ci->start[i] = keys[i].start;
        ci->end[i] = tx_end(&ann->tx[keys[i].tx]);
        if (ci->end[i] > ci->block_end[i / SCAN_BLOCK])
            ci->block_end[i / SCAN_BLOCK] = ci->end[i];
    }
    free(keys);
    return ISO_OK;
}

void tx_index_free(tx_index *ix)
{
    for (int c = 0; ix->contigs && c < ix->n_contigs; c++) {
        free(ix->contigs[c].tx);
        free(ix->contigs[c].start);
        free(ix->contigs[c].end);
        free(ix->contigs[c].block_end);
        free((char *)ix->contigs[c].name);
    }
    free(ix->contigs);
    for (size_t t = 0; ix->offsets && t < ix->ann->n; t++)
        free(ix->offsets[t]);
    free(ix->offsets);
    memset(ix, 0, sizeof *ix);
}

static int by_tid(const void *a, const void *b)
{
    const contig_index *x = a, *y = b;
    return (x->tid > y->tid) - (x->tid < y->tid);
}

int tx_index_build(tx_index *ix, const iso_annotation *ann, const sam_hdr_t *h, const char *path)
{
    *ix = (tx_index){.ann = ann};
    int nref = sam_hdr_nref(h);
    int *slot = malloc(((size_t)nref + 1) * sizeof *slot); /* tid -> contig entry, -1 none yet */
    ix->contigs = calloc((size_t)nref + 1, sizeof *ix->contigs);
    ix->offsets = calloc(ann->n ? ann->n : 1, sizeof *ix->offsets);
    if (!slot || !ix->contigs || !ix->offsets) {
        free(slot);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    for (int i = 0; i < nref; i++)
        slot[i] = -1;
    const char *missing = NULL;
    int rc = ISO_OK;
    for (size_t t = 0; rc == ISO_OK && t < ann->n; t++) {
        const iso_transcript *tx = &ann->tx[t];
        if (!(ix->offsets[t] = malloc((size_t)tx->n_exons * sizeof **ix->offsets))) {
            rc = iso_error(ISO_ENOMEM, "out of memory");
            break;
        }
        int64_t acc = 0;
        for (int e = 0; e < tx->n_exons; e++) {
            ix->offsets[t][e] = acc;
            acc += tx->exons[e].end - tx->exons[e].start;
        }
        int tid = sam_hdr_name2tid((sam_hdr_t *)h, tx->chrom);
        if (tid < 0) {
            ix->n_unplaced++;
            missing = missing ? missing : tx->chrom;
            continue;
        }
        if (slot[tid] < 0) {
            slot[tid] = ix->n_contigs;
            ix->contigs[ix->n_contigs++].tid = tid;
        }
        contig_index *ci = &ix->contigs[slot[tid]];
        size_t *grown = (ci->n & (ci->n - 1)) == 0 ? realloc(ci->tx, (ci->n ? 2 * ci->n : 1) * sizeof *grown) : ci->tx;
        if (!grown) {
            rc = iso_error(ISO_ENOMEM, "out of memory");
            break;
        }
        ci->tx = grown;
        ci->tx[ci->n++] = t;
        if (tx_end(tx) - tx_start(tx) > ci->max_len)
            ci->max_len = tx_end(tx) - tx_start(tx);
    }
    free(slot);
    if (rc != ISO_OK)
        return rc;
    if (ix->n_contigs == 0)
        return iso_error(ISO_ENOTFOUND, "%s: none of the annotation's contigs (e.g. '%s') is in the BAM header "
                                        "(first: '%s'); align to the same FASTA, or give contig aliases "
                                        "(first column: the BAM's name)", path,
                         ann->n ? ann->tx[0].chrom : "?", sam_hdr_nref(h) ? sam_hdr_tid2name(h, 0) : "none");
    if (ix->n_unplaced)
        iso_warn("%s: %zu of the %zu annotated transcripts are on contigs the BAM header lacks (e.g. '%s'); they "
                 "get no reads (different assembly, or contig aliases missing a name?)", path, ix->n_unplaced,
                 ann->n, missing);
    qsort(ix->contigs, (size_t)ix->n_contigs, sizeof *ix->contigs, by_tid); /* the file's order */
    for (int c = 0; c < ix->n_contigs; c++) {
        contig_index *ci = &ix->contigs[c];
        ci->len = sam_hdr_tid2len(h, ci->tid);
        if (!(ci->name = strdup(sam_hdr_tid2name(h, ci->tid))))
            return iso_error(ISO_ENOMEM, "out of memory");
        if ((rc = sort_by_start(ann, ci)) != ISO_OK)
            return rc;
    }
    return ISO_OK;
}

/* Bases a read's outer ends may run past an exon: aligners extend a read into the intron rather than splice a
 * few-base overhang, and such reads would otherwise count against the isoform that produced them. */
#define OVERHANG 8
/* Bases by which a read's intron may sit beside an annotated intron of the same length: where the last bases of
 * the exon equal the last bases of the intron, the splice can be placed at any of those positions with the same
 * read sequence, and aligners choose one by their own rules (HISAT2 leftmost without a splice motif). */
#define JUNCTION_SHIFT 8
/* Aligned bases an end block needs for its splice to count. */
#define MIN_ANCHOR 5

int read_blocks(const bam1_t *b, int64_t contig_len, blocks *bl)
{
    const uint32_t *cig = bam_get_cigar(b);
    int64_t pos = b->core.pos, ins_at = -1;
    bl->n = 0;
    bl->clipped[0] = bl->clipped[1] = 0;
    int open = 0, ins = 0; /* the last insertion: at ins_at, ins bases */
    for (uint32_t i = 0; i < b->core.n_cigar; i++) {
        int op = bam_cigar_op(cig[i]);
        int64_t len = bam_cigar_oplen(cig[i]);
        if (op == BAM_CMATCH || op == BAM_CEQUAL || op == BAM_CDIFF || op == BAM_CDEL) {
            if (!open) {
                if (bl->n == MAX_BLOCKS)
                    return -1;
                bl->start[bl->n] = pos;
                bl->end[bl->n] = pos;
                bl->ins_start[bl->n] = ins_at == pos ? ins : 0; /* inserted right after a splice */
                bl->ins_end[bl->n++] = 0;
                open = 1;
            }
            pos += len;
            bl->end[bl->n - 1] = pos;
        } else if (op == BAM_CREF_SKIP) {
            if (open && pos - ins_at <= JUNCTION_SHIFT)
                bl->ins_end[bl->n - 1] = ins;
            pos += len;
            open = 0;
        } else if (op == BAM_CINS) {
            ins_at = pos;
            ins = (int)len;
            if (open && pos - bl->start[bl->n - 1] <= JUNCTION_SHIFT)
                bl->ins_start[bl->n - 1] = ins;
        } else if (op == BAM_CSOFT_CLIP) {
            bl->clipped[bl->n > 0] = 1;
        }
    }
    /* An aligner's skip may run past the contig (a 100 Mb N on a shorter contig): keep what lies on it. */
    int kept = 0;
    for (int i = 0; i < bl->n; i++)
        if (bl->start[i] < contig_len && bl->end[i] > bl->start[i]) {
            bl->start[kept] = bl->start[i];
            bl->end[kept] = bl->end[i] < contig_len ? bl->end[i] : contig_len;
            bl->ins_start[kept] = bl->ins_start[i];
            bl->ins_end[kept++] = bl->ins_end[i];
        }
    bl->n = kept;
    return bl->n > 0 ? 0 : -1;
}

void drop_short_anchors(blocks *bl)
{
    if (bl->n > 1 && bl->end[bl->n - 1] - bl->start[bl->n - 1] < MIN_ANCHOR) {
        bl->n--;
        bl->clipped[1] = 0;
    }
    if (bl->n > 1 && bl->end[0] - bl->start[0] < MIN_ANCHOR) {
        bl->n--;
        memmove(bl->start, bl->start + 1, (size_t)bl->n * sizeof *bl->start);
        memmove(bl->end, bl->end + 1, (size_t)bl->n * sizeof *bl->end);
        memmove(bl->ins_start, bl->ins_start + 1, (size_t)bl->n * sizeof *bl->ins_start);
        memmove(bl->ins_end, bl->ins_end + 1, (size_t)bl->n * sizeof *bl->ins_end);
        bl->clipped[0] = 0;
    }
}

enum { INCOMPATIBLE, CLIPPED_INSIDE, SHIFTED, EXACT };

/* Whether every block lies in one exon of t (the read's outer ends up to OVERHANG past it) and every intron of
 * the read is one of t's introns: EXACT; SHIFTED when some intron is one of t's moved by up to JUNCTION_SHIFT
 * bases with its length kept, or is one of t's only with the bases inserted beside it; CLIPPED_INSIDE when a
 * soft clip lies inside an exon of t. find_compatible keeps the best level found. */
static int compatible(const iso_transcript *t, const blocks *bl)
{
    int e = 0, fit = EXACT;
    while (e < t->n_exons && t->exons[e].end <= bl->start[0])
        e++;
    if (e == t->n_exons || bl->start[0] < t->exons[e].start - OVERHANG)
        return INCOMPATIBLE;
    int first_exon = e;
    for (int i = 0; i + 1 < bl->n; i++, e++) { /* block i ends exon e, block i + 1 starts exon e + 1 */
        if (e + 1 == t->n_exons)
            return INCOMPATIBLE;
        int inserted = bl->ins_end[i] || bl->ins_start[i + 1];
        if (inserted && bl->end[i] + bl->ins_end[i] == t->exons[e].end &&
            bl->start[i + 1] - bl->ins_start[i + 1] == t->exons[e + 1].start)
            continue; /* t's splice sites explain the inserted bases */
        int64_t shift = bl->end[i] - t->exons[e].end;
        if (shift < -JUNCTION_SHIFT || shift > JUNCTION_SHIFT || bl->start[i + 1] != t->exons[e + 1].start + shift)
            return INCOMPATIBLE;
        if (shift || inserted)
            fit = SHIFTED;
    }
    if (bl->end[bl->n - 1] > t->exons[e].end + OVERHANG)
        return INCOMPATIBLE;
    /* A soft clip inside an exon of t: had the read come from t, its clipped bases would have matched there. */
    if ((bl->clipped[0] && bl->start[0] > t->exons[first_exon].start) ||
        (bl->clipped[1] && bl->end[bl->n - 1] < t->exons[e].end))
        return CLIPPED_INSIDE;
    return fit;
}

/* Position of genomic base g inside transcript t's spliced sequence (genomic orientation). A base in an intron
 * of t up to OVERHANG before an exon (after one, with after_exon) counts as if the exon went on: the read there
 * is one that the aligner extended into the intron rather than splice. Returns 0 where g lies further out, or
 * past either end of t (such a fragment's length on t is unknown). */
static int near_pos(const tx_index *ix, size_t t, int64_t g, int after_exon, int64_t *pos)
{
    const iso_transcript *tx = &ix->ann->tx[t];
    int lo = 0, hi = tx->n_exons; /* exons are sorted and disjoint: the first ending after g */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (tx->exons[mid].end <= g)
            lo = mid + 1;
        else
            hi = mid;
    }
    int before_exon = !after_exon && lo > 0 && lo < tx->n_exons && tx->exons[lo].start - g <= OVERHANG;
    if (lo < tx->n_exons && (g >= tx->exons[lo].start || before_exon)) {
        *pos = ix->offsets[t][lo] + (g - tx->exons[lo].start);
        return 1;
    }
    if (after_exon && lo > 0 && lo < tx->n_exons && g - tx->exons[lo - 1].end < OVERHANG) {
        *pos = ix->offsets[t][lo - 1] + (g - tx->exons[lo - 1].start);
        return 1;
    }
    return 0;
}

int64_t tx_span(const tx_index *ix, size_t t, int64_t start, int64_t end)
{
    int64_t a, b;
    return near_pos(ix, t, start, 0, &a) && near_pos(ix, t, end - 1, 1, &b) && b >= a ? b - a + 1 : -1;
}

static int by_index(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int find_compatible(const tx_index *ix, const contig_index *ci, const blocks *bl, uint32_t *out)
{
    int64_t s = bl->start[0], e = bl->end[bl->n - 1];
    /* first transcript starting at or after e */
    size_t lo = 0, hi = ci->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ci->start[mid] < e)
            lo = mid + 1;
        else
            hi = mid;
    }
    int n = 0, best = CLIPPED_INSIDE; /* a shifted intron counts only where no transcript has the read's own */
    for (size_t k = lo; k > 0 && n < MAX_COMPATIBLE;) {
        if (k % SCAN_BLOCK == 0 && ci->block_end[k / SCAN_BLOCK - 1] <= s) {
            k -= SCAN_BLOCK; /* the whole block ends before the read */
            if (ci->start[k] + ci->max_len <= s) /* its first start: none before it reaches the read either */
                break;
            continue;
        }
        k--;
        if (ci->start[k] + ci->max_len <= s)
            break;
        int fit = ci->end[k] > s ? compatible(&ix->ann->tx[ci->tx[k]], bl) : INCOMPATIBLE;
        if (fit > best)
            n = 0, best = fit;
        if (fit == best)
            out[n++] = (uint32_t)ci->tx[k];
    }
    qsort(out, (size_t)n, sizeof *out, by_index); /* ascending, for class keys */
    return n;
}
