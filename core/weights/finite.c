/* Non-finite weights: a NaN or infinity in a checkpoint (a corrupt file, a diverged training run) would pass
 * through every layer and make every prediction NaN, so each tensor the model uses is checked once, at load.
 * The test is on the bits (exponent all ones), in blocks whose reduction vectorises, so that the 2.8 GB of the
 * published model cost about one streaming read (bench/bench_finite.py); only a block that fails is searched
 * for the element to name. */
#include <string.h>

#include "weights/weights_internal.h"

enum { BLOCK = 4096 };

/* Index of the first element whose exponent bits are all ones (NaN or infinity), or n. Adding one to the
 * exponent field carries into the sign bit exactly for those, so a block is one AND, ADD and OR per element. */
static size_t first_nonfinite32(const unsigned char *p, size_t n)
{
    for (size_t b = 0; b < n; b += BLOCK) {
        size_t e = n - b < BLOCK ? n : b + BLOCK;
        uint32_t any = 0;
#pragma omp simd reduction(| : any)
        for (size_t i = b; i < e; i++) {
            uint32_t v;
            memcpy(&v, p + 4 * i, 4);
            any |= (v & 0x7f800000u) + 0x00800000u;
        }
        if (any & 0x80000000u)
            for (size_t i = b; i < e; i++) {
                uint32_t v;
                memcpy(&v, p + 4 * i, 4);
                if ((v & 0x7f800000u) == 0x7f800000u)
                    return i;
            }
    }
    return n;
}

/* The same for 16-bit floats whose exponent field is `exp` (F16 0x7c00, BF16 0x7f80). */
static size_t first_nonfinite16(const unsigned char *p, size_t n, uint16_t exp)
{
    const uint16_t carry = (uint16_t)(exp & -exp); /* the exponent's lowest bit */
    for (size_t b = 0; b < n; b += BLOCK) {
        size_t e = n - b < BLOCK ? n : b + BLOCK;
        uint16_t any = 0;
#pragma omp simd reduction(| : any)
        for (size_t i = b; i < e; i++) {
            uint16_t v;
            memcpy(&v, p + 2 * i, 2);
            any |= (uint16_t)((v & exp) + carry);
        }
        if (any & 0x8000u)
            for (size_t i = b; i < e; i++) {
                uint16_t v;
                memcpy(&v, p + 2 * i, 2);
                if ((v & exp) == exp)
                    return i;
            }
    }
    return n;
}

int iso_weights_check_finite(const iso_weights *w, const iso_tensor_view *t)
{
    const unsigned char *p = t->data;
    size_t n = t->nbytes / iso_dtype_size(t->dtype), at = n;
    int nan = 0;
    switch (t->dtype) {
    case ISO_DT_F32:
        if ((at = first_nonfinite32(p, n)) < n) {
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
