/* Entries of the on-disk embedding cache (predict --cache DIR): a fixed header, then the embedding's floats.
 * The header names everything the floats depend on (format version, byte order, model checksum, encoder,
 * shape, the producing device and precision, a checksum of the input they encode) and checksums itself and
 * the floats, so that an entry read back is used only when it is exactly what would be computed now. */
#ifndef ISOFORMER_MODEL_CACHE_ENTRY_H
#define ISOFORMER_MODEL_CACHE_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "isoformer/error.h"

/* What a reader expects of an entry (and what a writer records). */
typedef struct {
    uint64_t model;      /* the weights' checksum */
    int kind;            /* iso_emb_kind */
    int rows, cols;      /* the embedding's shape */
    const void *input;   /* the encoder's input: window bases, or token ids */
    size_t input_bytes;
    const char *producer; /* backend and precision, e.g. "cpu:fp32", "cuda:bf16" (at most 31 bytes kept) */
} iso_cache_key;

#define ISO_CACHE_HEADER_BYTES 88

/* Bytes of a whole entry of key's shape, or 0 when the shape is impossible. */
size_t iso_cache_entry_bytes(const iso_cache_key *key);
/* Writes the header of an entry of key holding payload (rows x cols floats) into hdr. */
void iso_cache_entry_header(const iso_cache_key *key, const float *payload, unsigned char hdr[ISO_CACHE_HEADER_BYTES]);
/* ISO_OK when buf (size bytes: header, then payload) is a sound entry for key; else ISO_EFORMAT with the
 * reason recorded (a miss for the caller, never a crash: every field is checked before it is used). */
int iso_cache_entry_check(const unsigned char *buf, size_t size, const iso_cache_key *key) ISO_RESULT;

#endif
