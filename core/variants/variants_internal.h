/* Shared within the variants area: the htslib objects behind a record (VCF reader and writer), and the partial
 * codon of a CDS (edited transcripts and their consequences). */
#ifndef ISOFORMER_VARIANTS_INTERNAL_H
#define ISOFORMER_VARIANTS_INTERNAL_H

#include <htslib/vcf.h>

#include "isoformer/variants.h"

struct iso_vcf_record_raw {
    bcf1_t *b;
    char *bases; /* the uppercased REF and ALTs that the edits point into */
};

/* The input's header, which the writer extends and writes records with (contigs that the input declares only
 * in its records are added to it while reading). */
bcf_hdr_t *iso_vcf_header(const iso_vcf *v);

/* Whether e inserts bases at x (between x - 1 and x), changing none. */
static inline int iso_insertion_at(const iso_fasta_edit *e, int64_t x)
{
    return e->end == e->start && e->start == x;
}

/* Bases of tx's CDS after its last whole codon (after the phase): 0 unless ref_flags, from iso_extract_protein,
 * has ISO_TX_CDS_PARTIAL_CODON. After a stop codon they are not read, as the reference's protein reads them. */
int64_t iso_cds_tail(const iso_transcript *tx, unsigned ref_flags);

/* Whether e touches [lo, hi) of tx's CDS (iso_edit_touches), bases inserted at its lowest base excepted: they are
 * outside it, in the UTR below it (VEP: an insertion right before the start codon, or right after the stop codon
 * on the minus strand, is a UTR variant). */
int iso_edit_touches_cds(const iso_transcript *tx, const iso_fasta_edit *e, int64_t lo, int64_t hi);

/* The genomic pieces (at most 3, in no set order) of the bases of tx's CDS from `from` to `to` bases before its 3'
 * end: of the partial codon (tail, 0) or of the stop codon before it (tail + 3, tail), which an intron may split,
 * or part from each other. Returns their count. */
int iso_cds_end_span(const iso_transcript *tx, int64_t from, int64_t to, iso_interval out[3]);

/* Bases the edits insert at x, between x - 1 and x. Bases inserted at a boundary go with the base after them (the
 * mapping of segments); on the minus strand, inserted between a stop codon (lowest base x) and the partial codon
 * after it ([x - tail, x)), they are read after the stop codon, in the partial codon's place, and are counted in
 * it. */
int64_t iso_inserted_at(const iso_fasta_edit *e, int n, int64_t x);

#endif
