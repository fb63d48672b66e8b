/* Shared by the track writers: the row order every output uses. */
#ifndef ISOFORMER_OUTPUTS_INTERNAL_H
#define ISOFORMER_OUTPUTS_INTERNAL_H

#include "isoformer/outputs.h"

/* The matrix's row positions (0..n_rows-1) sorted by (chrom, start, end, transcript_id); caller frees. */
size_t *iso_track_order(const iso_track_matrix *m);
/* Transcript span [start, end) from its exons. */
iso_interval iso_transcript_span(const iso_transcript *tx);

#endif
