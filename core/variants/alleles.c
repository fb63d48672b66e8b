/* Alleles as edits of the reference, how they move annotation coordinates, and the transcript they leave. */
#include "isoformer/variants.h"
#include "variants_internal.h"

#include <stdlib.h>
#include <string.h>

iso_fasta_edit iso_allele_trim(int64_t pos, const char *ref, const char *alt)
{
    size_t rl = strlen(ref), al = strlen(alt), pre = 0;
    while (pre < rl && pre < al && ref[pre] == alt[pre])
        pre++;
    while (rl > pre && al > pre && ref[rl - 1] == alt[al - 1])
        rl--, al--;
    return (iso_fasta_edit){pos + (int64_t)pre, pos + (int64_t)rl, alt + pre, (int64_t)(al - pre)};
}

int iso_edit_touches(const iso_fasta_edit *e, int64_t lo, int64_t hi)
{
    if (e->end > e->start)
        return e->start < hi && e->end > lo;
    return e->start >= lo && e->start < hi;
}

int64_t iso_edits_map(const iso_fasta_edit *e, int n, int64_t x)
{
    int64_t shift = 0;
    for (int i = 0; i < n; i++) {
        if (x <= e[i].start)
            return x + shift;
        if (x < e[i].end) {
            int64_t in = x - e[i].start;
            return e[i].start + shift + (in < e[i].len ? in : e[i].len);
        }
        shift += e[i].len - (e[i].end - e[i].start);
    }
    return x + shift;
}

/* Maps the segments (sorted by start) and drops those left empty; *out is malloc'd. Bases inserted at a segment's
 * start go into it, except, for a CDS (cds), at its lowest base: those are outside it, in the UTR below it, as
 * those inserted at its highest end are in the UTR above it (VEP: before the start codon, after the stop codon). */
static int map_segments(const iso_interval *seg, int n_seg, int cds, const iso_fasta_edit *e, int n,
                        iso_interval **out, int *n_out)
{
    *n_out = 0;
    *out = malloc((size_t)(n_seg ? n_seg : 1) * sizeof **out);
    if (!*out)
        return iso_error(ISO_ENOMEM, "out of memory");
    for (int i = 0; i < n_seg; i++) {
        int64_t below = cds && i == 0 ? iso_inserted_at(e, n, seg[0].start) : 0;
        iso_interval m = {iso_edits_map(e, n, seg[i].start) + below, iso_edits_map(e, n, seg[i].end)};
        if (m.end > m.start)
            (*out)[(*n_out)++] = m;
    }
    return ISO_OK;
}

/* The genomic segments (sorted by start) of the spliced transcript's offsets [lo, hi); *out is malloc'd. */
static int rna_span_segments(const iso_transcript *tx, int64_t lo, int64_t hi, iso_interval **out, int *n_out)
{
    *n_out = 0;
    *out = malloc((size_t)tx->n_exons * sizeof **out);
    if (!*out)
        return iso_error(ISO_ENOMEM, "out of memory");
    int64_t before = 0;
    for (int k = 0; k < tx->n_exons; k++) {
        int idx = tx->strand == '+' ? k : tx->n_exons - 1 - k;
        const iso_interval *x = &tx->exons[idx];
        int64_t len = x->end - x->start, a = lo > before ? lo - before : 0, b = hi < before + len ? hi - before : len;
        if (a < b)
            (*out)[(*n_out)++] = tx->strand == '+' ? (iso_interval){x->start + a, x->start + b}
                                                   : (iso_interval){x->end - b, x->end - a};
        before += len;
    }
    if (tx->strand == '-') /* collected 5'->3': reverse into genomic order */
        for (int i = 0, j = *n_out - 1; i < j; i++, j--) {
            iso_interval t = (*out)[i];
            (*out)[i] = (*out)[j];
            (*out)[j] = t;
        }
    return ISO_OK;
}

int64_t iso_inserted_at(const iso_fasta_edit *e, int n, int64_t x)
{
    int64_t len = 0;
    for (int i = 0; i < n; i++)
        if (e[i].start == x && e[i].end == x)
            len += e[i].len;
    return len;
}

int iso_edit_touches_cds(const iso_transcript *tx, const iso_fasta_edit *e, int64_t lo, int64_t hi)
{
    return iso_edit_touches(e, lo, hi) && !iso_insertion_at(e, tx->cds[0].start);
}

int64_t iso_cds_tail(const iso_transcript *tx, unsigned ref_flags)
{
    if (!(ref_flags & ISO_TX_CDS_PARTIAL_CODON))
        return 0;
    return (iso_segments_length(tx->cds, tx->n_cds) - tx->cds_phase) % 3;
}

int iso_cds_end_span(const iso_transcript *tx, int64_t from, int64_t to, iso_interval out[3])
{
    int64_t len = iso_segments_length(tx->cds, tx->n_cds);
    int n = 0;
    for (int64_t off = len - from; off < len - to; off++) {
        int64_t pos = iso_segments_position(tx->cds, tx->n_cds, tx->strand, off);
        if (pos < 0) /* a CDS shorter than a codon and its partial codon */
            continue;
        if (n && (out[n - 1].end == pos || out[n - 1].start == pos + 1)) /* next to the base before it */
            out[n - 1] = (iso_interval){out[n - 1].start < pos ? out[n - 1].start : pos,
                                        out[n - 1].end > pos + 1 ? out[n - 1].end : pos + 1};
        else
            out[n++] = (iso_interval){pos, pos + 1};
    }
    return n;
}

/* Whether the codon at offset at of the reading (its CDS segments, cl bases, then the RNA from offset past) is a
 * selenocysteine's. sec_pos is the codon's lowest genomic base, as the annotation gives it: on the minus strand its
 * third base in transcript order, so each of the codon's bases is compared (as iso_extract_protein compares the
 * codon, not one base of it). */
static int is_sec(const iso_transcript *t, int64_t cl, int64_t past, int64_t at)
{
    for (int64_t b = at; b < at + 3; b++) {
        int64_t pos = b < cl ? iso_segments_position(t->cds, t->n_cds, t->strand, b)
                             : iso_segments_position(t->exons, t->n_exons, t->strand, past + b - cl);
        for (int i = 0; i < t->n_sec; i++)
            if (t->sec_pos[i] == pos)
                return 1;
    }
    return 0;
}

/* The CDS of alt read again on the edited sequence: its segments in transcript order as annotated (a ribosomal
 * slippage's shared base twice), then the RNA past its 3' end, from the start codon to the first stop codon in
 * frame (included). For a CDS whose segments are the RNA from its start codon this is reading the RNA. */
static int reread_cds(iso_fasta *edited, iso_alt_transcript *alt)
{
    iso_transcript *t = &alt->tx;
    int plus = t->strand == '+';
    int64_t three = plus ? t->cds[t->n_cds - 1].end - 1 : t->cds[0].start;
    int64_t past = iso_segments_offset(t->exons, t->n_exons, t->strand, three) + 1; /* RNA offset after the CDS */
    char *cds = NULL, *rna = NULL, *seq = NULL;
    int rc = iso_extract_cds(edited, t, &cds);
    if (rc == ISO_OK)
        rc = iso_extract_rna(edited, t, &rna);
    int64_t cl = cds ? (int64_t)strlen(cds) : 0, len = rna ? cl + (int64_t)strlen(rna) - past : 0;
    if (rc == ISO_OK && !(seq = malloc((size_t)len + 1)))
        rc = iso_error(ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK) {
        memcpy(seq, cds, (size_t)cl);
        strcpy(seq + cl, rna + past);
        rc = iso_model_bases(seq, len); /* codons read in any case */
    }
    free(cds);
    free(rna);
    if (rc != ISO_OK) {
        free(seq);
        return rc;
    }
    int code = iso_transcript_code(t); /* the reference's: start and stop codons as extraction reads them */
    if (len < 3 || !iso_codon_is_start(code, seq)) {
        free(seq);
        free(t->cds);
        t->cds = NULL;
        t->n_cds = 0;
        alt->flags |= ISO_ALT_START_LOST;
        t->flags &= ~(unsigned)ISO_TX_CODING;
        return ISO_OK;
    }
    int64_t end = 0;
    while (end + 3 <= len) {
        end += 3;
        if (iso_codon_amino(code, seq + end - 3) == '*' && !is_sec(t, cl, past, end - 3))
            break;
    }
    free(seq);
    /* the new segments in transcript order: the CDS's cut at end, or all of it and the RNA read on after it */
    iso_interval *ext = NULL, *out = NULL;
    int n_ext = 0, n_out = 0;
    if (end > cl)
        rc = rna_span_segments(t, past, past + end - cl, &ext, &n_ext);
    if (rc == ISO_OK && !(out = malloc((size_t)(t->n_cds + n_ext) * sizeof *out)))
        rc = iso_error(ISO_ENOMEM, "out of memory");
    int64_t left = end < cl ? end : cl;
    for (int k = 0; rc == ISO_OK && k < t->n_cds && left > 0; k++) {
        iso_interval s = t->cds[plus ? k : t->n_cds - 1 - k];
        if (s.end - s.start > left)
            s = plus ? (iso_interval){s.start, s.start + left} : (iso_interval){s.end - left, s.end};
        left -= s.end - s.start;
        out[n_out++] = s;
    }
    for (int k = 0; rc == ISO_OK && k < n_ext; k++) { /* the first one continues the CDS's exon */
        iso_interval s = ext[plus ? k : n_ext - 1 - k];
        if (k == 0 && n_out && (plus ? out[n_out - 1].end == s.start : out[n_out - 1].start == s.end))
            out[n_out - 1] = plus ? (iso_interval){out[n_out - 1].start, s.end}
                                  : (iso_interval){s.start, out[n_out - 1].end};
        else
            out[n_out++] = s;
    }
    free(ext);
    if (rc != ISO_OK) {
        free(out);
        return rc;
    }
    for (int i = 0, j = n_out - 1; !plus && i < j; i++, j--) { /* into genomic order */
        iso_interval x = out[i];
        out[i] = out[j];
        out[j] = x;
    }
    free(t->cds);
    t->cds = out;
    t->n_cds = n_out;
    alt->flags |= ISO_ALT_REREAD;
    return ISO_OK;
}

/* A ribosomal slippage's segments overlap by the bases read twice: the CDS segment after each overlap (in
 * transcript order) starts that many bases back from where the mapped segment before it ends, so that an edit of
 * or next to the shared base leaves it read twice (mapped on their own, a deletion of the shared base would end
 * the overlap, an insertion before it would be read twice). t holds tx's mapped segments, as many. */
static void keep_overlaps(const iso_transcript *tx, iso_transcript *t)
{
    for (int i = 1; (tx->flags & ISO_TX_RIBOSOMAL_SLIPPAGE) && i < tx->n_cds; i++) {
        int64_t k = tx->cds[i - 1].end - tx->cds[i].start;
        iso_interval *a = &t->cds[i - 1], *b = &t->cds[i];
        if (k <= 0)
            continue;
        if (tx->strand == '+' && a->end - k > a->start && a->end - k < b->end)
            b->start = a->end - k;
        else if (tx->strand == '-' && b->start + k > a->start && b->start + k < b->end)
            a->end = b->start + k;
    }
}

int iso_variant_transcript(iso_fasta *edited, const iso_transcript *tx, unsigned ref_flags, const iso_fasta_edit *e,
                           int n, iso_alt_transcript *alt)
{
    *alt = (iso_alt_transcript){.tx = *tx};
    iso_transcript *t = &alt->tx;
    t->exons = t->cds = NULL;
    t->sec_pos = NULL;
    t->n_sec = 0;
    int rc = map_segments(tx->exons, tx->n_exons, 0, e, n, &t->exons, &t->n_exons);
    if (rc == ISO_OK)
        rc = map_segments(tx->cds, tx->n_cds, 1, e, n, &t->cds, &t->n_cds);
    if (rc == ISO_OK && t->n_cds == tx->n_cds)
        keep_overlaps(tx, t);
    if (rc == ISO_OK && tx->n_sec && !(t->sec_pos = malloc((size_t)tx->n_sec * sizeof *t->sec_pos)))
        rc = iso_error(ISO_ENOMEM, "out of memory");
    if (rc != ISO_OK) {
        iso_alt_transcript_free(alt);
        return rc;
    }
    for (int i = 0; i < tx->n_sec; i++)
        if (iso_edits_map(e, n, tx->sec_pos[i] + 1) - iso_edits_map(e, n, tx->sec_pos[i]) == 1)
            t->sec_pos[t->n_sec++] = iso_edits_map(e, n, tx->sec_pos[i]);
    if (t->n_exons == 0) {
        alt->flags |= ISO_ALT_ABLATED;
        t->n_cds = 0;
        t->flags &= ~(unsigned)ISO_TX_CODING;
        return ISO_OK;
    }
    t->tss = t->strand == '+' ? t->exons[0].start : t->exons[t->n_exons - 1].end - 1;
    int64_t ref_len = iso_segments_length(tx->cds, tx->n_cds), alt_len = iso_segments_length(t->cds, t->n_cds);
    int touched = 0;
    for (int i = 0; i < tx->n_cds; i++)
        for (int k = 0; k < n; k++)
            touched |= iso_edit_touches_cds(tx, &e[k], tx->cds[i].start, tx->cds[i].end);
    /* bases after the stop codon (a partial codon, which an intron may part from it) do not move the frame: their
     * change is not counted; each piece of it mapped as the CDS segment holding it is */
    int64_t tail = ref_flags & ISO_TX_NO_STOP_CODON ? 0 : iso_cds_tail(tx, ref_flags);
    iso_interval piece[3];
    for (int i = 0, n_piece = tail ? iso_cds_end_span(tx, tail, 0, piece) : 0; i < n_piece; i++)
        alt_len -= iso_edits_map(e, n, piece[i].end) - iso_edits_map(e, n, piece[i].start) -
                   (piece[i].end - piece[i].start) -
                   (piece[i].start == tx->cds[0].start ? iso_inserted_at(e, n, piece[i].start) : 0);
    if (tail && tx->strand == '-') /* inserted below the stop codon: read after it, in the partial codon */
        alt_len -= iso_inserted_at(e, n, iso_segments_position(tx->cds, tx->n_cds, '-', ref_len - tail - 1));
    alt->cds_delta = alt_len - ref_len;
    /* not read again from the start codon: an incomplete CDS (a partial codon after its stop codon is read as
     * the reference reads it: not at all) */
    const unsigned incomplete = ISO_TX_NO_START_CODON | ISO_TX_NO_STOP_CODON | ISO_TX_INTERNAL_STOP;
    if (!touched || tx->n_cds == 0 || (ref_flags & incomplete) || tx->cds_phase)
        return ISO_OK;
    if (t->n_cds == 0) { /* the whole CDS deleted */
        alt->flags |= ISO_ALT_START_LOST;
        t->flags &= ~(unsigned)ISO_TX_CODING;
        return ISO_OK;
    }
    if ((rc = reread_cds(edited, alt)) != ISO_OK)
        iso_alt_transcript_free(alt);
    return rc;
}

void iso_alt_transcript_free(iso_alt_transcript *alt)
{
    if (!alt)
        return;
    free(alt->tx.exons);
    free(alt->tx.cds);
    free(alt->tx.sec_pos);
    alt->tx.exons = alt->tx.cds = NULL;
    alt->tx.sec_pos = NULL;
}
