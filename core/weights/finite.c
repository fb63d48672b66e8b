/* Non-finite weights: a NaN or infinity in a checkpoint (a corrupt file, a diverged training run) would pass
 * through every layer and make every prediction NaN, so each tensor the model uses is checked once, at load.
 * The test is on the bits (exponent all ones), in blocks whose reduction vectorises, so that the 2.8 GB of the
 * published model cost about one streaming read (bench/bench_finite.py); only a block that fails is searched
 * for the element to name. */
#include <string.h>

#include "weights/weights_internal.h"

enum { BLOCK = 4096 };

/* first_nonfinite<bits>(p, n, exp): index of the first of n floats of that width at p whose exponent field
 * (the mask exp) is all ones, NaN or infinity, or n. Adding the exponent's lowest bit to the field carries into
 * the sign bit exactly for those, so a block costs one AND, ADD and OR per value and vectorises. */
#define FIRST_NONFINITE(bits)                                                                                     \
    static size_t first_nonfinite##bits(const unsigned char *p, size_t n, uint##bits##_t exp)                   \
    {                                                                                                             \
        const uint##bits##_t carry = (uint##bits##_t)(exp & -exp), sign = (uint##bits##_t)1 << (bits - 1);      \
        for (size_t b = 0; b < n; b += BLOCK) {                                                                   \
            size_t e = n - b < BLOCK ? n : b + BLOCK;                                                             \
            uint##bits##_t any = 0;                                                                               \
            _Pragma("omp simd reduction(| : any)") for (size_t i = b; i < e; i++)                                 \
            {                                                                                                     \
                uint##bits##_t v;                                                                                 \
                memcpy(&v, p + bits / 8 * i, bits / 8);                                                           \
                any |= (uint##bits##_t)((v & exp) + carry);                                                       \
            }                                                                                                     \
            if (any & sign)                                                                                       \
                for (size_t i = b; i < e; i++) {                                                                  \
                    uint##bits##_t v;                                                                             \
                    memcpy(&v, p + bits / 8 * i, bits / 8);                                                       \
                    if ((v & exp) == exp)                                                                         \
                        return i;                                                                                 \
                }                                                                                                 \
        }                                                                                                         \
        return n;                                                                                                 \
    }
FIRST_NONFINITE(32)
FIRST_NONFINITE(16)

int iso_weights_check_finite(const iso_weights *w, const iso_tensor_view *t)
{
    const unsigned char *p = t->data;
    size_t n = t->nbytes / iso_dtype_size(t->dtype), at = n;
    int nan = 0;
    switch (t->dtype) {
    case ISO_DT_F32:
        if ((at = first_nonfinite32(p, n, 0x7f800000u)) < n) {
            uint32_t v;
            memcpy(&v, p + 4 * at, 4);
            nan = (v & 0x007fffffu) != 0;
        }
        break;
    case ISO_DT_F16:
    case ISO_DT_BF16: {
        const uint16_t exp = t->dtype == ISO_DT_F16 ? 0x7c00u : 0x7f80u;
        if ((at = first_nonfinite16(p, n, exp)) < n) {
            uint16_t v;
            memcpy(&v, p + 2 * at, 2);
            nan = (v & 0x7fffu) != exp;
        }
        break;
    }
    default: return ISO_OK; /* integer tensors have no non-finite values */
    }
    if (at == n)
        return ISO_OK;
    return iso_error(ISO_EFORMAT, "%s: tensor '%s' holds %s at element %zu of %zu: the checkpoint is corrupt (or "
                                  "was saved from a diverged run)", w->path, t->name, nan ? "NaN" : "an infinity",
                     at, n);
}
