/* Result tracks: TSV tables, BED12 and bigWig. Every writer goes through iso_out (temporary file, renamed on
 * success), so a failed or interrupted run leaves no partial file behind. */
#ifndef ISOFORMER_OUTPUTS_H
#define ISOFORMER_OUTPUTS_H

#include <stddef.h>

#include "isoformer/annotation.h"
#include "isoformer/error.h"

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

/* The 30 GTEx tissues of the published model, in output order. */
extern const char *const iso_gtex_tissues[30];

/* TSV: header "transcript_id gene_id gene_name chrom start end strand <col...>", one row per transcript,
 * values printed with %.6g. */
int iso_write_tsv(const char *path, const iso_track_matrix *m) ISO_RESULT;
/* BED12 with a UCSC track line (itemRgb="On"): name = transcript_id, score = column `col` scaled to 0..1000
 * over the matrix's range, thickStart/thickEnd = CDS span, itemRgb from the same scale (blue..red); when
 * all_columns, the values of every column follow the 12 BED fields as extra tab-separated columns. */
int iso_write_bed12(const char *path, const iso_track_matrix *m, int col, int all_columns) ISO_RESULT;
/* bigWig of column `col` over exons: each base covered by exons of several transcripts gets the maximum of
 * their values (the documented rule: a base is as expressed as its most expressed isoform). bin_size 1 writes
 * per-base runs; > 1 averages per bin. Contig sizes come from chrom_sizes (names, lengths, n). */
int iso_write_bigwig(const char *path, const iso_track_matrix *m, int col, const char *const *chrom_names,
                     const int64_t *chrom_lens, int n_chroms, int bin_size) ISO_RESULT;

#ifdef __cplusplus
}
#endif
#endif
