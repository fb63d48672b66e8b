/* Fuzzes the embedding cache's entry check (model/cache_entry.h): whatever a cache directory holds, the check
 * reads only inside the buffer and accepts only an entry that is exactly what the reader expects. Input: the
 * reader's expectation (model checksum, rows, cols, encoder, producer) in 12 bytes, then the entry's bytes. */
#include <string.h>

#include "fuzz_common.h"
#include "model/cache_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12)
        return 0;
    static const char *const producers[] = {"cpu:fp32", "cuda:bf16"};
    static const char input[] = "ACGTNACGTA";
    iso_cache_key key = {.kind = data[10] % 3, .rows = data[8], .cols = data[9], .input = input,
                         .input_bytes = sizeof input - 1, .producer = producers[data[11] & 1]};
    memcpy(&key.model, data, sizeof key.model);
    /* a copy of exactly the entry's bytes, so that a read past them is caught */
    size_t n = size - 12;
    unsigned char *entry = malloc(n ? n : 1);
    if (!entry)
        return 0;
    memcpy(entry, data + 12, n);
    if (iso_cache_entry_check(entry, n, &key) == ISO_OK && n != iso_cache_entry_bytes(&key))
        __builtin_trap(); /* accepted an entry of the wrong size */
    free(entry);
    return 0;
}
