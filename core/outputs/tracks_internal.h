/* Shared by the track writers: the row order every output uses. */
#ifndef ISOFORMER_OUTPUTS_INTERNAL_H
#define ISOFORMER_OUTPUTS_INTERNAL_H

#include "isoformer/outputs.h"

/* The matrix's row positions (0..n_rows-1) sorted by (chrom, start, end, transcript_id); caller frees. */
size_t *iso_track_order(const iso_track_matrix *m);
/* The writers of outputs.h with the rows' order given (iso_track_order of m), so that the files of one run sort
 * the rows once, not once per file (a genome's 250,000 rows, 30 tracks). */
int iso_write_tsv_in_order(const char *path, const iso_track_matrix *m, const size_t *order) ISO_RESULT;
int iso_write_bed12_in_order(const char *path, const iso_track_matrix *m, const size_t *order,
                             int n_score_cols) ISO_RESULT;
int iso_write_bigwig_in_order(const char *path, const iso_track_matrix *m, const size_t *order, int col,
                              const char *const *chrom_names, const int64_t *chrom_lens, int n_chroms,
                              int bin_size) ISO_RESULT;
/* Transcript span [start, end) from its exons. */
iso_interval iso_transcript_span(const iso_transcript *tx);

#endif
