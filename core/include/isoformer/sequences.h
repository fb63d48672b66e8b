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
ISO_API
iso_interval iso_dna_window(const iso_transcript *tx, const iso_window_opts *opts);
/* Window sequence as in the FASTA (case kept), 'N' past the contig ends. Caller frees *seq. */
ISO_API
int iso_extract_dna(iso_fasta *fa, const iso_transcript *tx, const iso_window_opts *opts, char **seq) ISO_RESULT;
/* Spliced transcript 5'->3' on its strand (exons only). Caller frees *seq. */
ISO_API
int iso_extract_rna(iso_fasta *fa, const iso_transcript *tx, char **seq) ISO_RESULT;
/* Coding sequence 5'->3' (CDS segments, stop codon included when annotated). Caller frees *seq. */
ISO_API
int iso_extract_cds(iso_fasta *fa, const iso_transcript *tx, char **seq) ISO_RESULT;
/* Protein from the CDS with the transcript's genetic code (iso_transcript_code), starting at the phase, the
 * terminal stop dropped (also when a partial codon follows it), a trailing partial codon dropped, selenocysteine
 * codons ('TGA' at tx->sec_pos) as 'U'; a start codon of the code that begins a complete CDS is M (ATT, ATA and GTG
 * begin mitochondrial genes: the initiator is methionine, as UniProt and RefSeq give these proteins; gffread -y
 * reads it literally). Sets ISO_TX_* flags in *flags (no_start_codon: the first codon is not a start codon of the
 * code). *protein is "" for non-coding transcripts. Caller frees *protein. */
ISO_API
int iso_extract_protein(iso_fasta *fa, const iso_transcript *tx, char **protein, unsigned *flags) ISO_RESULT;
/* Segments (sorted by start) read 5'->3' on strand, as the spliced RNA (exons) or the CDS reads them: the offset
 * of genomic base pos in their concatenation (-1 outside them), and the genomic base at offset off (-1 past
 * their end). */
ISO_API
int64_t iso_segments_offset(const iso_interval *seg, int n, char strand, int64_t pos);
ISO_API
int64_t iso_segments_position(const iso_interval *seg, int n, char strand, int64_t off);
/* The bases the n segments cover (a CDS's length, a spliced RNA's). */
ISO_API
int64_t iso_segments_length(const iso_interval *seg, int n);
/* ---- genetic codes, by NCBI translation table number (transl_table): 1 standard, 2 vertebrate mitochondrial,
 * 11 bacterial (standard amino acids, more start codons), and every other NCBI table but 27, 28 and 31 (whose stop
 * codons also code for an amino acid) ---- */
/* Whether table is one of those. */
ISO_API
int iso_genetic_code_known(int table);
/* The code of a contig by its name: 2 for chrM, MT and M (human and other vertebrate mitochondria), else 1. */
ISO_API
int iso_contig_genetic_code(const char *contig);
/* The code of tx: its tx->transl_table (the annotation's, on its CDS lines) when set, else its contig's. */
ISO_API
int iso_transcript_code(const iso_transcript *tx);
/* Amino acid of a codon ('*' for a stop, 'X' for a codon with a base other than A, C, G, T; any case). */
ISO_API
char iso_codon_amino(int table, const char *codon);
/* Whether a codon is a start codon of the code (table 1: ATG alone, as VEP and bcftools csq read it). */
ISO_API
int iso_codon_is_start(int table, const char *codon);
/* Translates a nucleotide string with code `table` ('X' for codons with N, a trailing partial codon dropped).
 * Caller frees. */
ISO_API
char *iso_translate(const char *cds, int64_t len, int table);
/* Reverse complement in place; IUPAC codes are complemented (R<->Y, K<->M, B<->V, D<->H), case is kept. */
ISO_API
void iso_revcomp_inplace(char *seq, int64_t len);
/* The bases as the model reads them, in place: uppercased, IUPAC ambiguity codes (R Y S W K M B D H V) as N,
 * as Enformer's one-hot reads them (all zeros for any letter but A, C, G, T); the RNA is read alike, so that an
 * ambiguity code is an N token for NT-v2 too. Any other byte is an error naming its 1-based position. */
ISO_API
int iso_model_bases(char *seq, int64_t len) ISO_RESULT;

/* ---- many transcripts at once ---- */
/* One transcript's sequences, as iso_extract_dna, _rna and _protein give them (valid during the callback). */
typedef struct {
    const char *dna, *rna, *protein; /* protein "" for non-coding transcripts */
    int64_t cds_len;                 /* CDS bases (the stop codon included when annotated) */
    unsigned flags;                  /* ISO_TX_* from the translation */
} iso_sequences;
/* Receives transcript i's sequences; a negative return stops the extraction, which returns it. */
typedef int (*iso_sequences_fn)(void *arg, size_t i, const iso_sequences *s);
/* The sequences of ann->tx[rows[i]] for i < n, extracted by n_threads threads (fa serves the first; the others
 * open their own handle on its file; an edited view, whose edits are its own, is read by one thread) and delivered
 * to fn in the order of rows, on the calling thread. Isoforms listed together that share a DNA window read it
 * once. */
ISO_API
int iso_extract_many(iso_fasta *fa, const iso_annotation *ann, const size_t *rows, size_t n,
                     const iso_window_opts *win, int n_threads, iso_sequences_fn fn, void *arg) ISO_RESULT;

#ifdef __cplusplus
}
#endif
#endif
