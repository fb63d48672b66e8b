/* Driver for bench_finite.py: times iso_weights_check_finite (the NaN/Inf check every weight gets at load) on
 * N MiB of float32, against a plain streaming read of the same memory (an OR over its words: the bandwidth
 * bound) and the weights checksum pass model loading already makes.
 *   bench_finite MIB REPEATS   -> prints "check S", "read S", "checksum S" (best of REPEATS, seconds) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weights/weights_internal.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024, repeats = argc > 2 ? strtoul(argv[2], NULL, 10) : 5;
    size_t n = mib << 18; /* floats */
    float *x = malloc(n * sizeof *x);
    if (!x)
        return 1;
    unsigned s = 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = (float)(s >> 8) * 1e-7f - 0.8f;
    }
    iso_weights w = {.path = "bench", .map = (const unsigned char *)x, .map_size = n * sizeof *x};
    iso_tensor_view t = {.name = "w", .dtype = ISO_DT_F32, .ndim = 1, .shape = {(int64_t)n}, .data = x,
                         .nbytes = n * sizeof *x};
    w.tensors = &t;
    w.n = 1;
    double best[3] = {1e9, 1e9, 1e9};
    volatile uint64_t sink = 0;
    for (size_t r = 0; r < repeats + 1; r++) { /* the first is the warm-up */
        double t0 = now();
        if (iso_weights_check_finite(&w, &t) != ISO_OK)
            return 2;
        double t1 = now();
        const uint32_t *u = (const uint32_t *)(const void *)x;
        uint32_t acc = 0;
        for (size_t i = 0; i < n; i++)
            acc |= u[i];
        sink += acc;
        double t2 = now();
        sink += iso_weights_checksum(&w);
        double t3 = now();
        if (r) {
            best[0] = t1 - t0 < best[0] ? t1 - t0 : best[0];
            best[1] = t2 - t1 < best[1] ? t2 - t1 : best[1];
            best[2] = t3 - t2 < best[2] ? t3 - t2 : best[2];
        }
    }
    printf("check %.6f\nread %.6f\nchecksum %.6f\n", best[0], best[1], best[2]);
    free(x);
    return (int)(sink & 0);
}
