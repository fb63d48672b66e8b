/* Prints every tensor of a checkpoint as read through the public API: name, dtype, shape, then the values
 * iso_weights_get_f32 returns (as %a, exact) for floating-point tensors, or the raw bytes in hex for others.
 * Exit 1 with the library's message when the file is refused. Usage: weights_driver CHECKPOINT */
#include <stdio.h>

#include "isoformer/weights.h"

int main(int argc, char **argv)
{
    iso_weights *w;
    if (argc != 2) {
        fprintf(stderr, "usage: weights_driver CHECKPOINT\n");
        return 2;
    }
    if (iso_weights_open(argv[1], &w)) {
        fprintf(stderr, "%s\n", iso_last_error());
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < iso_weights_count(w) && !rc; i++) {
        const iso_tensor_view *t = iso_weights_at(w, i);
        printf("%s\t%s\t", t->name, iso_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            printf("%s%lld", d ? "," : "", (long long)t->shape[d]);
        putchar('\t');
        if (t->dtype == ISO_DT_F32 || t->dtype == ISO_DT_F16 || t->dtype == ISO_DT_BF16) {
            const float *f;
            if ((rc = iso_weights_get_f32(w, t->name, t->ndim, t->shape, &f)) != 0) {
                fprintf(stderr, "%s\n", iso_last_error());
                break;
            }
            for (size_t k = 0; k < t->nbytes / (t->dtype == ISO_DT_F32 ? 4 : 2); k++)
                printf("%s%a", k ? "," : "", (double)f[k]);
        } else {
            for (size_t k = 0; k < t->nbytes; k++)
                printf("%02x", ((const unsigned char *)t->data)[k]);
        }
        putchar('\n');
    }
    iso_weights_close(w);
    return rc ? 1 : 0;
}
