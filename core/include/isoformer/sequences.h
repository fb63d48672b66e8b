/* Per-transcript modality sequences: the DNA window around the TSS, the spliced RNA and the protein. */
#ifndef ISOFORMER_SEQUENCES_H
#define ISOFORMER_SEQUENCES_H

#include <stdint.h>

#include "isoformer/annotation.h"
#include "isoformer/io.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ISO_DEFAULT_WINDOW 196608

/* Where the DNA window is centred and how it is oriented. */
typedef struct {
    int64_t window;        /* length in bp (default ISO_DEFAULT_WINDOW) */
    int revcomp_minus;     /* reverse-complement windows of minus-strand transcripts */
} iso_window_opts;

/* Genomic interval [start, end) of the window for tx: centred on the TSS so that the TSS is base window/2 of
 * the window (in transcript orientation when revcomp_minus). May extend past the contig. */
iso_interval iso_dna_window(const iso_transcript *tx, const iso_window_opts *opts);
/* Window sequence as in the FASTA (case kept), 'N' past the contig ends. Caller frees *seq. */
int iso_extract_dna(iso_fasta *fa, const iso_transcript *tx, const iso_window_opts *opts, char **seq) ISO_RESULT;
/* Spliced transcript 5'->3' on its strand (exons only). Caller frees *seq. */
int iso_extract_rna(iso_fasta *fa, const iso_transcript *tx, char **seq) ISO_RESULT;
/* Coding sequence 5'->3' (CDS segments, stop codon included when annotated). Caller frees *seq. */
int iso_extract_cds(iso_fasta *fa, const iso_transcript *tx, char **seq) ISO_RESULT;
/* Protein from the CDS with the standard code, starting at the phase, the terminal stop dropped, a trailing
 * partial codon dropped, selenocysteine codons ('TGA' at tx->sec_pos) as 'U'. Sets ISO_TX_* flags in *flags.
 * *protein is "" for non-coding transcripts. Caller frees *protein. */
int iso_extract_protein(iso_fasta *fa, const iso_transcript *tx, char **protein, unsigned *flags) ISO_RESULT;
/* Translates a nucleotide string (standard code, 'X' for codons with N). Caller frees. */
char *iso_translate(const char *cds, int64_t len);
/* Reverse complement in place; IUPAC codes are complemented (R<->Y, K<->M, B<->V, D<->H), case is kept. */
void iso_revcomp_inplace(char *seq, int64_t len);
/* The bases as the model reads them, in place: uppercased, IUPAC ambiguity codes (R Y S W K M B D H V) as N,
 * as Enformer's one-hot reads them (all zeros for any letter but A, C, G, T); the RNA is read alike, so that an
 * ambiguity code is an N token for NT-v2 too. Any other byte is an error naming its 1-based position. */
int iso_model_bases(char *seq, int64_t len) ISO_RESULT;

#ifdef __cplusplus
}
#endif
#endif
