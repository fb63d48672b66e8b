/* Checksums of what isoformer writes and reads back (cache entries, run manifests): zlib's CRC-32, which any
 * language can recompute (Python's zlib.crc32, the `crc32` tool), for lengths beyond zlib's uInt. */
#ifndef ISOFORMER_UTIL_CHECKSUM_H
#define ISOFORMER_UTIL_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

uint32_t iso_crc32(uint32_t crc, const void *p, size_t n);

#endif
