/* Atomic outputs (isoformer/io.h), library-internal options. */
#ifndef ISOFORMER_IO_OUT_INTERNAL_H
#define ISOFORMER_IO_OUT_INTERNAL_H

#include "isoformer/io.h"

/* iso_out_commit() of o renames without the fsync. For files whose reader checks them and can do without them
 * (cache entries: a checksum, recomputed when wrong): after a machine crash such a file may be empty or stale,
 * while syncing 11 MB per DNA window would stall the model on network storage. */
void iso_out_skip_sync(iso_out *o);

#endif
