/* Whether a BGZF-compressed or CRAM input ends with its end-of-file marker: htslib reads a file cut at a block
 * boundary as a shorter, valid one (and asserts on a cut .fai/.gzi-indexed FASTA), so openers check first. */
#ifndef ISOFORMER_IO_COMPLETE_H
#define ISOFORMER_IO_COMPLETE_H

#include <htslib/hts.h>

/* ISO_OK when fp (opened on path) is complete, uncompressed, plain gzip or a stream (which cannot be checked);
 * ISO_EFORMAT naming path when its BGZF end-of-file block (or CRAM EOF container) is missing, ISO_EIO when its
 * end cannot be read. fp's read position is kept. */
int iso_check_complete(htsFile *fp, const char *path);

/* The same for a file by path (a bgzipped one; others pass), opened and closed here. A file it cannot open
 * passes: its reader says why. */
int iso_check_complete_path(const char *path);

#endif
