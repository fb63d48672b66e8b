/* Result tracks: TSV tables, BED12 and bigWig. Every writer goes through iso_out (temporary file, renamed on
 * success), so a failed or interrupted run leaves no partial file behind. Rows are always written sorted by
 * (chrom in byte order, start, end, transcript_id), so the outputs of `predict --shard` runs merge into exactly
 * the bytes of an unsharded run. Coordinates are BED-style: 0-based start, exclusive end. */
#ifndef ISOFORMER_OUTPUTS_H
#define ISOFORMER_OUTPUTS_H

#include <stddef.h>

#include <stdint.h>

#include "isoformer/annotation.h"
#include "isoformer/error.h"
#include "isoformer/io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A transcripts x columns matrix of values (predictions, TPM, ...). values[i * n_cols + j]; NAN is written as
 * "NA". rows[i] indexes into ann->tx. */
typedef struct {
    const iso_annotation *ann;
    const size_t *rows;
    size_t n_rows;
    const char *const *col_names;
    int n_cols;
    const float *values;
} iso_track_matrix;

/* TSV: header "transcript_id gene_id gene_name chrom start end strand <col...>", one row per transcript,
 * values printed with %.6g. */
int iso_write_tsv(const char *path, const iso_track_matrix *m) ISO_RESULT;
/* Plain BED12 (exactly 12 fields, which every BED reader takes) with a UCSC track line (itemRgb="On"):
 * name = transcript_id, score = the highest of the row's first n_score_cols values (the predicted columns,
 * not observed ones placed after them) on a fixed scale (round(100 * value) clamped to 0..1000, so log(TPM+1)
 * 0..10 spans the range and a row's score depends on nothing but its own values), itemRgb from the same score
 * (blue..red), thickStart/thickEnd = CDS span (thickStart = thickEnd = start for non-coding). */
int iso_write_bed12(const char *path, const iso_track_matrix *m, int n_score_cols) ISO_RESULT;
/* bigWig of column `col` over exons: each base covered by exons of several transcripts gets the maximum of
 * their values (the documented rule: a base is as expressed as its most expressed isoform). bin_size 1 writes
 * per-base runs; > 1 averages per bin. Contig sizes come from chrom_sizes (names, lengths, n). */
int iso_write_bigwig(const char *path, const iso_track_matrix *m, int col, const char *const *chrom_names,
                     const int64_t *chrom_lens, int n_chroms, int bin_size) ISO_RESULT;

/* ---- bigWig building blocks (also used by `merge`) ---- */
typedef struct iso_span {
    uint32_t start, end;
    float value;
} iso_span;

/* Sorts spans by start and replaces them by the per-base maximum as maximal runs of equal value; returns the
 * number of runs now in *spans (the array is reallocated as needed). */
int iso_spans_max(iso_span **spans, size_t *n) ISO_RESULT;

/* A bigWig written into an iso_out's temporary file; the caller commits the iso_out after iso_bigwig_close(). */
typedef struct iso_bigwig iso_bigwig;
int iso_bigwig_open(iso_out *o, const char *const *chrom_names, const uint32_t *chrom_lens, int n_chroms,
                    iso_bigwig **out) ISO_RESULT;
/* Writes one contig's spans (sorted, non-overlapping, inside the contig; checked). Contigs in header order. */
int iso_bigwig_write_chrom(iso_bigwig *bw, const char *chrom, const iso_span *spans, size_t n) ISO_RESULT;
/* Closes the file (libBigWig writes its last block and index then, reporting no error) and reads it back: every
 * interval of every contig written must be there. ISO_EIO otherwise (a full disk); NULL is ISO_OK. */
int iso_bigwig_close(iso_bigwig *bw) ISO_RESULT;

#ifdef __cplusplus
}
#endif
#endif
