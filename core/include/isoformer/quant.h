/* Transcript abundance from RNA-seq alignments: each read (or read pair) is matched to the transcripts whose
 * exon structure explains its spliced alignment, reads with the same set of compatible transcripts form an
 * equivalence class, and an EM over the classes, with effective lengths from the observed fragment-length
 * distribution, gives counts and TPM (the model of salmon and RSEM, on genome alignments). */
#ifndef ISOFORMER_QUANT_H
#define ISOFORMER_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "isoformer/annotation.h"
#include "isoformer/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ISO_STRAND_AUTO = 0, /* detected from uniquely assigned fragments */
    ISO_STRAND_NONE,     /* unstranded */
    ISO_STRAND_FR,       /* read 1 on the transcript's strand (e.g. ligation, fr-secondstrand) */
    ISO_STRAND_RF,       /* read 1 on the opposite strand (e.g. dUTP, fr-firststrand) */
} iso_strandedness;

typedef struct {
    iso_strandedness strand;
    int threads;        /* contigs read in parallel, BAM/CRAM decompression threads, bootstrap replicates */
    int max_iter;       /* EM steps at most (default 10000) */
    double tol;         /* the EM stops when no transcript that moves by more than 0.01 fragments in an
                           accelerated step changes by more than tol, relatively (default 1e-3) */
    double frag_mean, frag_sd; /* fragment-length prior when too few pairs are seen (salmon's 250, 25) */
    int coverage;       /* also compute per-base read coverage over the annotated contigs */
    int bootstraps;     /* inferential replicates (0: none) */
    const char *reference; /* FASTA for CRAM decoding (NULL: the header's UR / REF_PATH) */
} iso_quant_opts;

ISO_API
void iso_quant_opts_default(iso_quant_opts *o);

typedef struct {
    size_t n;             /* = annotation transcripts; arrays indexed like ann->tx */
    int64_t *length;      /* spliced length */
    double *eff_length, *num_reads, *tpm;
    iso_strandedness strand; /* used (detected when AUTO was asked) */
    double sense_fraction;   /* of uniquely assigned fragments, read 1 on the transcript's strand */
    size_t n_records, n_fragments, n_assigned, n_pairs_for_fld;
    double assigned_weight;  /* fragments assigned (a multi-mapper once, over all its alignments): sum of NumReads */
    double frag_mean, frag_sd; /* of the distribution used */
    int em_iterations;       /* EM steps (each accelerated step counts its three) */
    double em_change;        /* the largest relative change of the last step */
    size_t n_classes;        /* equivalence classes */
    int n_bootstraps;
    double *bootstrap;       /* n_bootstraps x n: NumReads of each replicate */
    long long bootstrap_em_iterations; /* EM steps of all the replicates together */
    /* Coverage (with opts.coverage): per track (one, or plus and minus for stranded libraries), per annotated
     * contig, runs of aligned-read depth (multi-mappers 1/NH), not yet normalised. */
    int n_tracks, n_contigs;
    char **contig;
    uint32_t *contig_len;
    struct iso_span_list {
        struct iso_span *spans;
        size_t n;
    } *coverage; /* n_tracks x n_contigs */
} iso_quant_result;

/* Quantifies a coordinate-sorted, indexed BAM or CRAM (contig names as the annotation's after alias mapping).
 * Errors: unsorted or unindexed input, no annotated contig in the header, no mapped read on them. */
ISO_API
int iso_quant_bam(const char *path, const iso_annotation *ann, const iso_quant_opts *opts,
                  iso_quant_result **out) ISO_RESULT;
ISO_API
void iso_quant_free(iso_quant_result *r);
/* Writes PREFIX.quant.sf (salmon's columns: Name Length EffectiveLength TPM NumReads) and PREFIX.genes.tsv
 * (gene_id gene_name TPM NumReads: sums over the gene's transcripts); with coverage also PREFIX.coverage.bw
 * (or .coverage.plus.bw and .coverage.minus.bw for a stranded library: the strand of the transcribed RNA),
 * depth per million assigned fragments, each bigWig read back before it is kept; with bootstraps salmon's
 * layout beside PREFIX: DIR/cmd_info.json, DIR/aux_info/meta_info.json and DIR/aux_info/bootstrap/
 * {bootstraps.gz,names.tsv.gz} (DIR the directory of PREFIX). All files appear together or none does. */
ISO_API
int iso_quant_write(const char *prefix, const iso_annotation *ann, const iso_quant_result *r) ISO_RESULT;

/* The EM on its own: classes of compatible transcripts with their fragment counts -> expected fragments per
 * transcript (abundance[n_tx]). weight (may be NULL: all 1) is each transcript's conditional probability of
 * the class's fragments beyond 1/effective length, here the density of the fragment length the alignment
 * implies on that transcript. Accelerated by SQUAREM; stops after max_iter EM steps or when no transcript
 * that moves by more than 0.01 fragments changes by more than tol, relatively. Returns the number of EM steps,
 * or a negative status; *final_change (may be NULL) gets the last relative change. */
typedef struct {
    const uint32_t *tx;
    int n_tx;
    double count;
    const double *weight;
} iso_eq_class;
ISO_API
int iso_quant_em(const iso_eq_class *classes, size_t n_classes, const double *eff_length, size_t n_tx,
                 int max_iter, double tol, double *abundance, double *final_change);
/* n_boot bootstrap replicates into out (n_boot x n_tx): the fragments resampled with replacement over the
 * classes (in proportion to their counts), the EM run again from estimate, stopping as iso_quant_em does or,
 * with min_gain > 0, once an accelerated step gains less log-likelihood than min_gain nats. Replicate i is
 * seeded by i alone, so the replicates are the same for any number of threads. iterations (may be NULL) gets
 * each replicate's EM steps. */
ISO_API
int iso_quant_bootstrap(const iso_eq_class *classes, size_t n_classes, const double *eff_length, size_t n_tx,
                        const double *estimate, int n_boot, int threads, int max_iter, double tol, double min_gain,
                        double *out, int *iterations) ISO_RESULT;

#ifdef __cplusplus
}
#endif
#endif
