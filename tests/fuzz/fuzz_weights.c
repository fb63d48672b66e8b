/* Fuzzes the checkpoint readers: torch.save zip + pickle, and safetensors (format detected from content). */
#include "fuzz_common.h"
#include "isoformer/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = fuzz_write_temp(data, size, ".bin");
    if (!path)
        return 0;
    iso_weights *w = NULL;
    if (iso_weights_open(path, &w) == ISO_OK) {
        /* Touch every tensor's bytes so out-of-bounds views are caught by ASan. */
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < iso_weights_count(w); i++) {
            const iso_tensor_view *t = iso_weights_at(w, i);
            for (size_t b = 0; b < t->nbytes; b += 64)
                sink ^= ((const uint8_t *)t->data)[b];
            if (t->nbytes)
                sink ^= ((const uint8_t *)t->data)[t->nbytes - 1];
        }
        (void)sink;
        iso_weights_close(w);
    }
    fuzz_remove_temp(path);
    return 0;
}
