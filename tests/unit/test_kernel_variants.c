/* Determinism across instruction sets: the CPU backend's row kernels, compiled for baseline x86-64, AVX2+FMA and
 * AVX-512 (tests/unit/CMakeLists.txt builds kernel_variant.c three times), give the same bits. This is what lets
 * the backend pick a target_clones copy per CPU without changing results, and it fails if a kernel's arithmetic
 * order came to depend on the vector width (a vectorised reduction) or on floating-point contraction into FMA
 * (which only the FMA copies could do). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"

typedef void kernels_fn(const float *x, const float *gamma, const float *beta, const float *key_bias, int rows,
                        int n, float *out);
kernels_fn kernels_baseline, kernels_avx2, kernels_avx512;

static const struct {
    const char *name;
    kernels_fn *fn;
} variants[] = {{"baseline", kernels_baseline}, {"avx2", kernels_avx2}, {"avx512", kernels_avx512}};

static int cpu_has(const char *name)
{
    __builtin_cpu_init();
    if (!strcmp(name, "avx2"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!strcmp(name, "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("fma");
    return 1;
}

/* Rows of assorted lengths (odd, below and above every vector width) and magnitudes (sums that round). */
static float uniform(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

START_TEST(test_variants_bit_identical)
{
    static const int lengths[] = {1, 3, 7, 8, 17, 64, 100, 769, 3000};
    const int rows = 6;
    int compared = 0;
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        const int n = lengths[li];
        float *x = malloc(sizeof(float) * rows * n), *g = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n),
              *kb = malloc(sizeof(float) * n), *want = malloc(sizeof(float) * 12 * rows * n),
              *got = malloc(sizeof(float) * 12 * rows * n);
        ck_assert(x && g && b && kb && want && got);
        uint64_t s = 42 + (uint64_t)n;
        for (int i = 0; i < rows * n; i++)
            x[i] = uniform(&s) * (i % 5 == 0 ? 300.0f : 3.0f) + (i / n) * 100.0f;
        for (int i = 0; i < n; i++) {
            g[i] = 1.0f + 0.5f * uniform(&s);
            b[i] = 0.25f * uniform(&s);
            kb[i] = i % 7 == 3 ? -1e9f : 0.0f;
        }
        memset(want, 0, sizeof(float) * 12 * rows * n); /* elements no kernel writes stay 0 in both */
        variants[0].fn(x, g, b, kb, rows, n, want);
        for (size_t v = 1; v < sizeof variants / sizeof variants[0]; v++) {
            if (!cpu_has(variants[v].name))
                continue;
            memset(got, 0, sizeof(float) * 12 * rows * n);
            variants[v].fn(x, g, b, kb, rows, n, got);
            for (int i = 0; i < 12 * rows * n; i++)
                ck_assert_msg(!memcmp(&got[i], &want[i], sizeof(float)),
                              "%s differs from baseline at n=%d, row %d, kernel %d, element %d: %a vs %a",
                              variants[v].name, n, i / (12 * n), i % (12 * n) / n, i % n, got[i], want[i]);
            compared++;
        }
        free(x), free(g), free(b), free(kb), free(want), free(got);
    }
    fprintf(stderr, "kernel variants: %d comparisons with baseline (avx2: %s, avx512: %s on this CPU)\n", compared,
            cpu_has("avx2") ? "yes" : "no", cpu_has("avx512") ? "yes" : "no");
    ck_assert_msg(compared > 0 || !cpu_has("avx2"), "no variant was compared");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kernel_variants");
    TCase *tc = tcase_create("bits");
    tcase_add_test(tc, test_variants_bit_identical);
    suite_add_tcase(s, tc);
    return iso_run_suite(s);
}
