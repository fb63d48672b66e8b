/* Consequence of edits for a transcript, named with Sequence Ontology terms as VEP names them. */
#include "isoformer/variants.h"
#include "variants_internal.h"

#include <stdio.h>
#include <string.h>

static const char *const so_names[ISO_SO_COUNT] = {
    "transcript_ablation", "splice_acceptor_variant", "splice_donor_variant", "stop_gained", "frameshift_variant",
    "stop_lost", "start_lost", "inframe_insertion", "inframe_deletion", "missense_variant",
    "protein_altering_variant", "splice_region_variant", "incomplete_terminal_codon_variant",
    "stop_retained_variant", "synonymous_variant", "coding_sequence_variant", "5_prime_UTR_variant",
    "3_prime_UTR_variant", "non_coding_transcript_exon_variant", "intron_variant", "non_coding_transcript_variant",
    "upstream_gene_variant", "downstream_gene_variant",
};

const char *iso_so_name(iso_so_term t) { return t < ISO_SO_COUNT ? so_names[t] : "?"; }

const char *iso_so_impact(unsigned terms)
{
    for (int t = 0; t < ISO_SO_COUNT; t++)
        if (terms & (1u << t))
            return t <= ISO_SO_START_LOST          ? "HIGH"
                   : t <= ISO_SO_PROTEIN_ALTERING  ? "MODERATE"
                   : t <= ISO_SO_SYNONYMOUS        ? "LOW"
                                                   : "MODIFIER";
    return "MODIFIER";
}

void iso_so_format(unsigned terms, char *buf, size_t size)
{
    size_t at = 0;
    if (size)
        buf[0] = '\0';
    for (int t = 0; t < ISO_SO_COUNT; t++)
        if (terms & (1u << t)) {
            int w = snprintf(buf + at, at < size ? size - at : 0, "%s%s", at ? "&" : "", so_names[t]);
            at += w > 0 ? (size_t)w : 0;
        }
}

#define TERM(t) (1u << (t))

/* Terms from where edit x falls: around the transcript, in its introns and splice sites, in its exons. */
static unsigned location_terms(const iso_transcript *tx, const iso_fasta_edit *x)
{
    int64_t lo = tx->exons[0].start, hi = tx->exons[tx->n_exons - 1].end;
    int plus = tx->strand == '+', coding = tx->n_cds > 0;
    if (!iso_edit_touches(x, lo, hi)) {
        int before = x->end <= lo && x->start <= lo;
        return TERM(before == plus ? ISO_SO_UPSTREAM : ISO_SO_DOWNSTREAM);
    }
    unsigned t = 0;
    for (int k = 0; k + 1 < tx->n_exons; k++) {
        int64_t a = tx->exons[k].end, b = tx->exons[k + 1].start; /* the intron [a, b) */
        if (!iso_edit_touches(x, a - 3, b + 3))
            continue;
        if (iso_edit_touches(x, a, a + 2))
            t |= TERM(plus ? ISO_SO_SPLICE_DONOR : ISO_SO_SPLICE_ACCEPTOR);
        if (iso_edit_touches(x, b - 2, b))
            t |= TERM(plus ? ISO_SO_SPLICE_ACCEPTOR : ISO_SO_SPLICE_DONOR);
        if (iso_edit_touches(x, a - 3, a) || iso_edit_touches(x, b, b + 3) || iso_edit_touches(x, a + 2, a + 8) ||
            iso_edit_touches(x, b - 8, b - 2))
            t |= TERM(ISO_SO_SPLICE_REGION);
        if (iso_edit_touches(x, a + 2, b - 2))
            t |= TERM(ISO_SO_INTRON) | (coding ? 0 : TERM(ISO_SO_NC_TRANSCRIPT));
    }
    int64_t cds_lo = coding ? tx->cds[0].start : 0, cds_hi = coding ? tx->cds[tx->n_cds - 1].end : 0;
    for (int k = 0; k < tx->n_exons; k++) {
        const iso_interval *ex = &tx->exons[k];
        if (!iso_edit_touches(x, ex->start, ex->end))
            continue;
        if (!coding) {
            t |= TERM(ISO_SO_NC_EXON);
            continue;
        }
        if ((ex->start < cds_lo && iso_edit_touches(x, ex->start, ex->end < cds_lo ? ex->end : cds_lo)) ||
            iso_insertion_at(x, cds_lo)) /* inserted right below the CDS: outside it */
            t |= TERM(plus ? ISO_SO_UTR5 : ISO_SO_UTR3);
        if (ex->end > cds_hi && iso_edit_touches(x, ex->start > cds_hi ? ex->start : cds_hi, ex->end))
            t |= TERM(plus ? ISO_SO_UTR3 : ISO_SO_UTR5);
    }
    return t;
}

int64_t iso_edit_distance(const iso_fasta_edit *x, const iso_transcript *tx)
{
    int64_t lo = tx->exons[0].start, hi = tx->exons[tx->n_exons - 1].end, end = x->end > x->start ? x->end : x->start;
    return end <= lo ? lo - end : x->start >= hi ? x->start - hi : 0;
}

/* The changed stretch of the proteins, from the first residue that differs (VEP's Protein_position and
 * Amino_acids): X for the residues of a new reading frame, '*' for a stop codon read through or gained. */
static void amino_acids(const char *ref, const char *alt, unsigned terms, iso_consequence *out)
{
    /* as VEP: a new frame, a gained or a lost stop shows the first residue only */
    int frameshift = !!(terms & TERM(ISO_SO_FRAMESHIFT)), gained = !!(terms & TERM(ISO_SO_STOP_GAINED)),
        lost = !!(terms & TERM(ISO_SO_STOP_LOST));
    size_t rl = strlen(ref), al = strlen(alt), k = 0, m = 0;
    while (k < rl && k < al && ref[k] == alt[k])
        k++;
    if (k == rl && k == al)
        return;
    while (!frameshift && m < rl - k && m < al - k && ref[rl - 1 - m] == alt[al - 1 - m])
        m++;
    out->protein_pos = (int)k + 1;
    char r[20], a[20];
    snprintf(r, sizeof r, "%.*s", frameshift || gained || lost ? 1 : (int)(rl - k - m), lost ? "*" : ref + k);
    snprintf(a, sizeof a, "%.*s", lost || gained || frameshift ? 1 : (int)(al - k - m),
             frameshift ? "X" : gained ? "*" : alt + k);
    snprintf(out->amino_acids, sizeof out->amino_acids, "%s/%s", r[0] ? r : "-", a[0] ? a : "-");
}

static int touches_span(const iso_transcript *tx, const iso_fasta_edit *e, const iso_interval *piece, int n)
{
    for (int i = 0; i < n; i++)
        if (iso_edit_touches_cds(tx, e, piece[i].start, piece[i].end))
            return 1;
    return 0;
}

/* Terms from the coding sequence: the frame, the proteins, the start and stop codons. */
static unsigned coding_terms(const iso_transcript *tx, unsigned ref_flags, const iso_fasta_edit *e, int n,
                             const iso_alt_transcript *alt, const char *ref_protein, const char *alt_protein)
{
    if (alt->flags & ISO_ALT_START_LOST)
        return TERM(ISO_SO_START_LOST);
    unsigned t = 0;
    /* the partial codon and the last whole codon (the stop codon, when it is one), each split by any intron */
    int64_t tail = iso_cds_tail(tx, ref_flags);
    iso_interval part[3], stop[3];
    int n_part = iso_cds_end_span(tx, tail, 0, part), n_stop = iso_cds_end_span(tx, tail + 3, tail, stop);
    /* the stop codon's last base (transcript order), below the partial codon's first on the minus strand */
    const int64_t cds_len = iso_segments_length(tx->cds, tx->n_cds);
    int64_t stop_lo = iso_segments_position(tx->cds, tx->n_cds, tx->strand, cds_len - tail - 1);
    /* Bases inserted right before the stop codon are not in it (VEP's _overlaps_stop_codon). On the plus strand
     * they sit at its first base, which iso_edit_touches counts; on the minus strand, above its highest, it does
     * not. */
    int64_t stop_5p = tx->strand == '+' ? iso_segments_position(tx->cds, tx->n_cds, '+', cds_len - tail - 3) : -1;
    if (alt->cds_delta % 3 != 0) { /* in the stop codon, as bcftools csq: whether a stop still ends it there */
        for (int i = 0; (alt->flags & ISO_ALT_REREAD) && i < n; i++)
            if (touches_span(tx, &e[i], stop, n_stop) && !iso_insertion_at(&e[i], stop_5p)) {
                size_t rl = strlen(ref_protein), al = strlen(alt_protein);
                t = al > rl ? TERM(ISO_SO_STOP_LOST) : al == rl ? TERM(ISO_SO_STOP_RETAINED) : 0;
            }
        return t | TERM(ISO_SO_FRAMESHIFT);
    }
    for (int i = 0; tail && i < n; i++) /* the partial codon's bases, which the reference protein does not read */
        if (touches_span(tx, &e[i], part, n_part) ||
            (tx->strand == '-' && iso_insertion_at(&e[i], stop_lo))) /* after the stop codon, read before them */
            t |= TERM(ISO_SO_INCOMPLETE_TERMINAL_CODON);
    if (alt->flags & ISO_ALT_REREAD) { /* a complete CDS, read again: its stop codon can move */
        int64_t al = (int64_t)strlen(alt_protein), expect = (int64_t)strlen(ref_protein) + alt->cds_delta / 3;
        if (al != expect)
            t |= TERM(al < expect ? ISO_SO_STOP_GAINED : ISO_SO_STOP_LOST);
        for (int i = 0; !t && i < n; i++)
            if (touches_span(tx, &e[i], stop, n_stop) && !iso_insertion_at(&e[i], stop_5p))
                t |= TERM(ISO_SO_STOP_RETAINED);
    }
    if (alt->cds_delta)
        return t | TERM(alt->cds_delta > 0 ? ISO_SO_INFRAME_INSERTION : ISO_SO_INFRAME_DELETION);
    if (t & (TERM(ISO_SO_STOP_GAINED) | TERM(ISO_SO_STOP_LOST)))
        return t;
    if (strcmp(ref_protein, alt_protein)) /* an incomplete CDS keeps a gained stop inside its protein */
        return t | TERM(strchr(alt_protein, '*') && !strchr(ref_protein, '*') ? ISO_SO_STOP_GAINED : ISO_SO_MISSENSE);
    return t ? t : TERM(ISO_SO_SYNONYMOUS);
}

void iso_consequence_classify(const iso_transcript *tx, unsigned ref_flags, const iso_fasta_edit *e, int n,
                              const iso_alt_transcript *alt, const char *ref_protein, const char *alt_protein,
                              iso_consequence *out)
{
    *out = (iso_consequence){.distance = -1};
    int in_cds = 0, across = 0;
    for (int i = 0; i < n; i++) {
        out->terms |= location_terms(tx, &e[i]);
        int64_t d = iso_edit_distance(&e[i], tx);
        if (out->distance < 0 || d < out->distance)
            out->distance = d;
        int touches = 0, inside = 0;
        for (int k = 0; k < tx->n_cds; k++)
            touches |= iso_edit_touches_cds(tx, &e[i], tx->cds[k].start, tx->cds[k].end);
        for (int k = 0; k < tx->n_exons; k++)
            inside |= e[i].start >= tx->exons[k].start && e[i].end <= tx->exons[k].end;
        in_cds |= touches;
        across |= touches && !inside;
    }
    if (out->distance < 0)
        out->distance = 0;
    if (alt->flags & ISO_ALT_ABLATED)
        out->terms |= TERM(ISO_SO_TRANSCRIPT_ABLATION);
    else if (across) /* the coding sequence and a splice site together: the protein depends on the splicing */
        out->terms |= TERM(ISO_SO_CODING_SEQUENCE);
    else if (in_cds) {
        unsigned t = coding_terms(tx, ref_flags, e, n, alt, ref_protein, alt_protein);
        out->terms |= t;
        if (t & TERM(ISO_SO_START_LOST)) {
            out->protein_pos = 1;
            /* the first residue as the reference reads it (M when its first codon starts the CDS) */
            snprintf(out->amino_acids, sizeof out->amino_acids, "%c/X", ref_protein[0] ? ref_protein[0] : 'M');
        } else {
            amino_acids(ref_protein, alt_protein, t, out);
        }
    }
}
