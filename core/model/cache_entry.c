/* The embedding cache's entry format (see cache_entry.h): every field fixed-size and naturally aligned, written
 * in host byte order with a byte-order mark, so that a foreign or damaged entry is recognised, not misread. */
#include "model/cache_entry.h"

#include <math.h>
#include <string.h>

#include "util/checksum.h"

typedef struct {
    char magic[8];        /* "ISOEMB2" */
    uint32_t byte_order;  /* 0x01020304 as the writer stored it */
    uint32_t header_bytes;
    uint64_t model;
    uint32_t kind;
    int32_t rows, cols;
    uint32_t input_crc;
    uint64_t input_bytes;
    char producer[32];
    uint32_t payload_crc;
    uint32_t header_crc; /* of every byte before it */
} entry_header;

_Static_assert(sizeof(entry_header) == ISO_CACHE_HEADER_BYTES, "cache entry header layout");

static const char magic[8] = "ISOEMB2";

size_t iso_cache_entry_bytes(const iso_cache_key *key)
{
    if (key->rows <= 0 || key->cols <= 0 || (size_t)key->rows > (SIZE_MAX - ISO_CACHE_HEADER_BYTES) / 4 / key->cols)
        return 0;
    return ISO_CACHE_HEADER_BYTES + (size_t)key->rows * key->cols * sizeof(float);
}

static void fill(const iso_cache_key *key, entry_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, magic, sizeof magic);
    h->byte_order = 0x01020304u;
    h->header_bytes = ISO_CACHE_HEADER_BYTES;
    h->model = key->model;
    h->kind = (uint32_t)key->kind;
    h->rows = key->rows;
    h->cols = key->cols;
    h->input_crc = iso_crc32(0, key->input, key->input_bytes);
    h->input_bytes = key->input_bytes;
    strncpy(h->producer, key->producer, sizeof h->producer - 1);
}

void iso_cache_entry_header(const iso_cache_key *key, const float *payload, unsigned char hdr[ISO_CACHE_HEADER_BYTES])
{
    entry_header h;
    fill(key, &h);
    h.payload_crc = iso_crc32(0, payload, (size_t)key->rows * key->cols * sizeof *payload);
    h.header_crc = iso_crc32(0, &h, offsetof(entry_header, header_crc));
    memcpy(hdr, &h, sizeof h);
}

int iso_cache_entry_check(const unsigned char *buf, size_t size, const iso_cache_key *key)
{
    entry_header got, want;
    if (size < sizeof got)
        return iso_error(ISO_EFORMAT, "%zu bytes, shorter than an entry's header", size);
    memcpy(&got, buf, sizeof got);
    fill(key, &want);
    if (memcmp(got.magic, magic, sizeof magic))
        return iso_error(ISO_EFORMAT, "not an isoformer cache entry of this version");
    if (got.byte_order != want.byte_order || got.header_bytes != want.header_bytes)
        return iso_error(ISO_EFORMAT, "written on a machine of another byte order or by another version");
    if (got.header_crc != iso_crc32(0, &got, offsetof(entry_header, header_crc)))
        return iso_error(ISO_EFORMAT, "its header is corrupt (checksum)");
    if (got.model != want.model)
        return iso_error(ISO_EFORMAT, "made with another model (checksum %016llx, this one %016llx)",
                         (unsigned long long)got.model, (unsigned long long)want.model);
    if (memcmp(got.producer, want.producer, sizeof got.producer))
        return iso_error(ISO_EFORMAT, "computed on %.31s, this run computes on %.31s", got.producer, want.producer);
    if (got.kind != want.kind || got.input_bytes != want.input_bytes || got.input_crc != want.input_crc)
        return iso_error(ISO_EFORMAT, "holds another input");
    if (got.rows != want.rows || got.cols != want.cols)
        return iso_error(ISO_EFORMAT, "holds %d x %d values, expected %d x %d", got.rows, got.cols, want.rows,
                         want.cols);
    size_t expect = iso_cache_entry_bytes(key);
    if (!expect || size != expect)
        return iso_error(ISO_EFORMAT, "%zu bytes, expected %zu (truncated?)", size, expect);
    if (got.payload_crc != iso_crc32(0, buf + sizeof got, size - sizeof got))
        return iso_error(ISO_EFORMAT, "its values are corrupt (checksum)");
    for (size_t i = sizeof got; i < size; i += sizeof(float)) {
        float v;
        memcpy(&v, buf + i, sizeof v);
        if (!isfinite(v))
            return iso_error(ISO_EFORMAT, "holds a non-finite value");
    }
    return ISO_OK;
}
