/* Variant effects on transcript isoforms. VCF/BCF records are read through htslib and split per allele; each
 * allele (or, for a phased sample, each haplotype's alleles together) is applied to the transcripts it can
 * reach, giving their alternative model inputs: the DNA window (centred on the TSS of the edited transcript),
 * the spliced RNA and the protein translated again from the start codon. The consequence is named with the
 * Sequence Ontology terms VEP uses, and the model's prediction on the alternative inputs is compared with the
 * reference one, recomputing only the encoders whose input changed.
 *
 * An allele is an iso_fasta_edit (io.h): reference bases [start, end) replaced by len bases; the transcript on
 * the edited sequence is exactly what `predict` would read from a FASTA with the edit applied and an annotation
 * whose coordinates follow it (iso_variant_transcript says how boundaries move). */
#ifndef ISOFORMER_VARIANTS_H
#define ISOFORMER_VARIANTS_H

#include <stddef.h>
#include <stdint.h>

#include "isoformer/annotation.h"
#include "isoformer/error.h"
#include "isoformer/io.h"
#include "isoformer/manifest.h"
#include "isoformer/model.h"
#include "isoformer/sequences.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- alleles and coordinates ---- */

/* VCF REF and ALT at 0-based pos minimised: the common prefix (VCF's anchor base), then the common suffix
 * trimmed, so that an indel stays where the record puts it, after its anchor, as bcftools csq and VEP read it
 * (ACT>A at p becomes the deletion of [p+1, p+3); A>AT at p the insertion of T before p+1; CAA>CA at p the
 * deletion of [p+2, p+3)). e.seq points into alt. */
ISO_API
iso_fasta_edit iso_allele_trim(int64_t pos, const char *ref, const char *alt);

/* Bases inserted at a boundary x (between bases x - 1 and x) belong with base x, as bcftools csq places them:
 * an insertion before an exon's first base is in the exon, one after its last base is not. */

/* Whether edit e changes [lo, hi): it replaces one of its bases, or inserts before one of them. */
ISO_API
int iso_edit_touches(const iso_fasta_edit *e, int64_t lo, int64_t hi);

/* Where boundary x between reference bases lands on the sequence with the n sorted, non-overlapping edits
 * applied (bases inserted at x go after it); a boundary inside replaced bases moves to the same offset in the
 * replacement, at most its end. An interval [s, e) maps to [map(s), map(e)). */
ISO_API
int64_t iso_edits_map(const iso_fasta_edit *e, int n, int64_t x);

/* Bases between edit e and the transcript's span (0 when it changes or inserts into the span). */
ISO_API
int64_t iso_edit_distance(const iso_fasta_edit *e, const iso_transcript *tx);

/* ---- the transcript on the edited sequence ---- */

enum {
    ISO_ALT_ABLATED = 1u << 0,    /* the edits delete every exon */
    ISO_ALT_START_LOST = 1u << 1, /* the start codon is no longer ATG: no CDS, no protein */
    ISO_ALT_REREAD = 1u << 2,     /* the coding sequence changed and was read again to its first stop */
};

typedef struct {
    iso_transcript tx;  /* ids and names shared with the reference; exons, cds and sec_pos owned */
    int64_t cds_delta;  /* length of the mapped CDS minus the reference's (before reading it again) */
    unsigned flags;     /* ISO_ALT_* */
} iso_alt_transcript;

/* tx with the n edits (sorted, non-overlapping, on tx's contig) applied; edited is the iso_fasta_edited view
 * of the same edits. Exons and CDS segments are mapped (iso_edits_map; a segment deleted entirely is
 * dropped) and the TSS follows the first exon. When the edits change the coding sequence of a complete CDS
 * (ref_flags, from iso_extract_protein on the reference, has no ISO_TX_NO_START_CODON, _NO_STOP_CODON or
 * _INTERNAL_STOP, and the phase is 0), the CDS is read again on the edited sequence from its start codon to the
 * first stop codon in frame (selenocysteine codons excepted): its segments in transcript order as annotated (a
 * ribosomal slippage's shared base twice), then the RNA past them. A gained stop ends it early, a frameshift or
 * a lost stop reads on into the 3' UTR, up to the end of the transcript at most; a partial codon after the stop
 * (_CDS_PARTIAL_CODON) is not read, as in the reference; a start codon that is no longer a start codon leaves no
 * CDS (ISO_ALT_START_LOST). Free with iso_alt_transcript_free. */
ISO_API
int iso_variant_transcript(iso_fasta *edited, const iso_transcript *tx, unsigned ref_flags, const iso_fasta_edit *e,
                           int n, iso_alt_transcript *alt) ISO_RESULT;
ISO_API
void iso_alt_transcript_free(iso_alt_transcript *alt);

/* ---- consequences ---- */

/* Sequence Ontology terms as VEP names them, in VEP's order of severity. */
typedef enum {
    ISO_SO_TRANSCRIPT_ABLATION, ISO_SO_SPLICE_ACCEPTOR, ISO_SO_SPLICE_DONOR, ISO_SO_STOP_GAINED, ISO_SO_FRAMESHIFT,
    ISO_SO_STOP_LOST, ISO_SO_START_LOST, ISO_SO_INFRAME_INSERTION, ISO_SO_INFRAME_DELETION, ISO_SO_MISSENSE,
    ISO_SO_PROTEIN_ALTERING, ISO_SO_SPLICE_REGION, ISO_SO_INCOMPLETE_TERMINAL_CODON, ISO_SO_STOP_RETAINED,
    ISO_SO_SYNONYMOUS, ISO_SO_CODING_SEQUENCE, ISO_SO_UTR5, ISO_SO_UTR3, ISO_SO_NC_EXON, ISO_SO_INTRON,
    ISO_SO_NC_TRANSCRIPT, ISO_SO_UPSTREAM, ISO_SO_DOWNSTREAM, ISO_SO_COUNT
} iso_so_term;

ISO_API
const char *iso_so_name(iso_so_term t);
/* VEP's IMPACT of the most severe term in terms (a mask of 1u << iso_so_term): HIGH, MODERATE, LOW, MODIFIER. */
ISO_API
const char *iso_so_impact(unsigned terms);
/* The terms of the mask joined by '&', most severe first, into buf ("" for none). */
ISO_API
void iso_so_format(unsigned terms, char *buf, size_t size);

typedef struct {
    unsigned terms;         /* 1u << iso_so_term */
    int64_t distance;       /* bp from the edits to the transcript, 0 when they overlap it */
    int protein_pos;        /* 1-based first residue changed, 0 when none */
    char amino_acids[48];   /* reference/alternative residues from there, VEP's Amino_acids ("R/W", "K/X" for a
                               frameshift, "-" for none); "" when the protein is unchanged */
} iso_consequence;

/* The consequence of the n edits for tx: where they fall (upstream, downstream, intron, splice sites: donor
 * and acceptor the two intronic bases at each end of an intron, region 1-3 exonic or 3-8 intronic bases from
 * it; UTR, CDS, non-coding exon) and, in a CDS, what the proteins say (ref_protein from the reference,
 * alt->tx's protein in alt_protein; both without their stop). An edit reaching from the CDS past its exon is a
 * coding_sequence_variant, as bcftools csq says: the protein then depends on how the RNA is spliced. */
ISO_API
void iso_consequence_classify(const iso_transcript *tx, unsigned ref_flags, const iso_fasta_edit *e, int n,
                              const iso_alt_transcript *alt, const char *ref_protein, const char *alt_protein,
                              iso_consequence *out);

/* ---- VCF/BCF input ---- */

/* Why an allele is not scored. */
enum {
    ISO_NOTE_SYMBOLIC = 1u << 0,     /* <DEL>, breakends, '*': symbolic or structural */
    ISO_NOTE_REF_MISMATCH = 1u << 1, /* REF differs from the FASTA (or runs past the contig's end) */
    ISO_NOTE_CONTIG = 1u << 2,       /* contig not in the FASTA */
    ISO_NOTE_NO_ALT = 1u << 3,       /* ALT is '.' */
    ISO_NOTE_COUNT = 4
};
ISO_API
const char *iso_note_name(int bit); /* "symbolic_allele", "ref_mismatch", "contig_not_in_fasta", "no_alt" */

typedef struct {
    const char *alt;     /* as written in the record */
    iso_fasta_edit edit; /* minimised (iso_allele_trim); meaningful when note is 0 */
    unsigned note;       /* ISO_NOTE_* when the allele is not scored */
} iso_vcf_allele;

typedef struct iso_vcf_record {
    const char *chrom;     /* the FASTA's name (through the aliases) */
    const char *vcf_chrom, *id, *ref;
    int64_t pos, end;      /* 0-based; end = pos + length of REF */
    iso_vcf_allele *alt;
    int n_alt;
    unsigned notes;        /* every allele's notes */
    int64_t ordinal;       /* 0-based among the records read (after the region filter) */
    int8_t *gt;            /* with samples: per sample two haplotype alleles (0 REF, i = alt[i - 1], -1 missing) */
    uint8_t *unphased;     /* per sample: 1 when the genotype is heterozygous and not phased */
    struct iso_vcf_record_raw *raw;
} iso_vcf_record;

typedef struct {
    const char *chrom; /* FASTA name */
    int64_t start, end;
} iso_region;

typedef struct iso_vcf iso_vcf;
/* Opens a VCF or BCF, plain, gzip or bgzipped. regions (sorted by contig and start, FASTA names, may be NULL):
 * only records overlapping them, read through the index (.tbi/.csi) when there is one, else filtered while
 * reading the whole file. samples: NULL (no genotypes), "" (all samples) or a comma-separated list or @file
 * of sample names, whose GT is then decoded into each record. */
ISO_API
int iso_vcf_open(const char *path, iso_fasta *fa, const iso_chrom_alias *alias, const iso_region *regions,
                 int n_regions, const char *samples, iso_vcf **out) ISO_RESULT;
/* The next record (1), the end (0) or an error (< 0, naming the file and record). The record belongs to the
 * caller: free with iso_vcf_record_free. */
ISO_API
int iso_vcf_next(iso_vcf *v, iso_vcf_record **rec) ISO_RESULT;
ISO_API
void iso_vcf_record_free(iso_vcf_record *r);
ISO_API
int iso_vcf_n_samples(const iso_vcf *v);
ISO_API
const char *iso_vcf_sample(const iso_vcf *v, int i);
ISO_API
const char *iso_vcf_path(const iso_vcf *v);
ISO_API
void iso_vcf_close(iso_vcf *v);

/* ---- scoring ---- */

enum { ISO_MOD_DNA = 1u << 0, ISO_MOD_RNA = 1u << 1, ISO_MOD_PROTEIN = 1u << 2 };

typedef struct {
    iso_window_opts win;  /* window 0: the model's */
    int gene_windows;     /* centre a gene's windows on its most 5' TSS, as predict --window-center gene */
    int64_t max_distance; /* a variant is scored against transcripts within this many bp, and those whose DNA
                             window holds it; < 0: the window's length */
    int batch_tokens;     /* RNA packing budget of iso_model_embed_batch (0: one sequence per forward) */
    int no_reuse;         /* the naive path, for checks and benchmarks: every allele-transcript pair predicted
                             twice from scratch (reference and alternative, all three encoders, no cache) */
} iso_variant_options;

/* One allele (or haplotype) against one transcript. */
typedef struct {
    int allele;           /* index into the record's alt (variant mode) */
    size_t tx;            /* index into the annotation */
    iso_consequence csq;
    unsigned changed;     /* ISO_MOD_* whose input differs from the reference */
    const float *alt;     /* prediction on the alternative inputs, n_outputs values (NAN when ablated) */
    const float *delta;   /* alt minus the reference prediction */
} iso_variant_effect;

/* Called once per record, in input order, when all its effects are known (sorted by allele, then contig,
 * start, end and transcript id); n may be 0. */
typedef int (*iso_record_sink)(void *ctx, const iso_vcf_record *rec, const iso_variant_effect *eff, int n);

/* A sample's haplotype against one transcript: every allele of the haplotype within reach applied together. */
typedef struct {
    int sample, haplotype;   /* haplotype 0 or 1 */
    size_t tx;
    int n_applied, n_skipped; /* alleles applied; alleles within reach not applied (unphased heterozygous,
                                 missing, not scored, overlapping an applied one) */
    const char *applied;      /* "chrom:pos:ref:alt" of the applied alleles, ','-joined ("" when none) */
    iso_variant_effect eff;
} iso_haplotype_effect;
typedef int (*iso_haplotype_sink)(void *ctx, const iso_haplotype_effect *h);

typedef struct {
    size_t records, alleles, pairs, pairs_unchanged, dna_runs, rna_runs, protein_runs, fusions, ref_transcripts,
        cache_hits, notes[ISO_NOTE_COUNT], skipped_genotypes;
    double t_dna, t_rna, t_protein, t_fuse, t_inputs;
} iso_variant_stats;

typedef struct iso_variant_engine iso_variant_engine;
/* The selected transcripts (sel, n_sel into ann) are grouped by DNA window; nothing is computed yet. */
ISO_API
int iso_variant_engine_create(iso_model *m, iso_emb_cache *cache, iso_fasta *fa, const iso_annotation *ann,
                              const size_t *sel, size_t n_sel, const iso_variant_options *o,
                              iso_variant_engine **out) ISO_RESULT;
ISO_API
void iso_variant_engine_free(iso_variant_engine *e);
/* The stretches of genome where a variant reaches a selected transcript, merged and sorted (contigs in FASTA
 * order); *regions is malloc'd. */
ISO_API
int iso_variant_reach(const iso_variant_engine *e, iso_region **regions, int *n) ISO_RESULT;
/* Records [first, last) (ordinals) of shard index (0-based) of n: contiguous runs of the input with about equal
 * estimated cost (the DNA windows and transcripts each record reaches), read from v to its end. */
ISO_API
int iso_variant_shard(const iso_variant_engine *e, iso_vcf *v, int index, int n, int64_t *first,
                      int64_t *last) ISO_RESULT;
/* Variant mode: every allele of records [first, last) of v (last < 0: to the end) against the transcripts
 * within reach, each record passed to sink in input order. The VCF must be sorted (contigs in blocks,
 * positions ascending within each). */
ISO_API
int iso_variant_run(iso_variant_engine *e, iso_vcf *v, int64_t first, int64_t last, iso_record_sink sink,
                    void *ctx) ISO_RESULT;
/* Haplotype mode: for each selected transcript, each sample of v (opened with samples) and each of its two
 * haplotypes, the prediction with all of the haplotype's alleles within reach applied. */
ISO_API
int iso_haplotype_run(iso_variant_engine *e, iso_vcf *v, iso_haplotype_sink sink, void *ctx) ISO_RESULT;
ISO_API
const iso_variant_stats *iso_variant_engine_stats(const iso_variant_engine *e);

/* ---- outputs ---- */

typedef struct iso_variant_writer iso_variant_writer;
/* Variant mode: PREFIX.variants.vcf.gz, the input records bgzipped with INFO/ISOFORMER (one entry per allele
 * and transcript, in the layout its header line gives, VEP CSQ style) and INFO/ISOFORMER_NOTE (why alleles
 * were not scored), indexed (.tbi, or .csi where a contig is too long for tabix); PREFIX.variants.tsv (a row
 * per allele and transcript, and per allele not scored, with a delta and an alt column per output) and
 * PREFIX.variants.svg (the largest effects). haplotypes: PREFIX.haplotypes.tsv (a row per transcript, sample and
 * haplotype) and PREFIX.haplotypes.svg. outputs names the model's outputs (n of them). Everything is written
 * under temporary names and renamed by iso_variant_writer_commit. in's header gains the INFO lines. */
ISO_API
int iso_variant_writer_open(const char *prefix, iso_vcf *in, const char *const *outputs, int n,
                            const iso_annotation *ann, const iso_fasta *fa, int haplotypes,
                            iso_variant_writer **out) ISO_RESULT;
ISO_API
int iso_variant_writer_record(void *writer, const iso_vcf_record *rec, const iso_variant_effect *eff,
                              int n) ISO_RESULT; /* an iso_record_sink */
ISO_API
int iso_variant_writer_haplotype(void *writer, const iso_haplotype_effect *h) ISO_RESULT; /* an iso_haplotype_sink */
/* The outputs of `variants --shard i/n` runs (prefixes, n of them, in any order) as one run writes them: the
 * shards' records and rows in input order (each shard is a contiguous run of records; shards are ordered by
 * their first record), the plot drawn again. With haplotype tables the rows follow the order given. The shards'
 * run manifests (PREFIX.run.json) must show one run and every shard once, with every file unchanged
 * (iso_manifest_check_runs); the gathered set gets its own. */
ISO_API
int iso_variant_gather(const char *prefix, const char *const *prefixes, int n) ISO_RESULT;
/* Finishes, indexes and renames every output into place (all or none), with PREFIX.run.json last when run is not
 * NULL (iso_manifest_write); frees w. */
ISO_API
int iso_variant_writer_commit(iso_variant_writer *w, const iso_manifest_info *run) ISO_RESULT;
ISO_API
void iso_variant_writer_abort(iso_variant_writer *w);

#ifdef __cplusplus
}
#endif
#endif
