/* The arithmetic of every non-GEMM op, written once and compiled both for the host (CPU backend, and the tests
 * that check the CUDA kernels' logic without a GPU) and for the device (CUDA kernels call the same functions,
 * so only the launch configuration is GPU-only). Each function computes one row or one element. */
#ifndef ISOFORMER_BACKEND_KERNELS_H
#define ISOFORMER_BACKEND_KERNELS_H

#include <math.h>
#include <stdint.h>

#include "isoformer/backend.h"

#ifdef __CUDACC__
#define ISO_HD __host__ __device__ __forceinline__
#else
#define ISO_HD static inline
#endif

ISO_HD float iso_k_act(float x, iso_act act)
{
    switch (act) {
    case ISO_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case ISO_ACT_GELU_ERF: return x * 0.5f * (1.0f + erff(x * 0.70710678118654752f));
    case ISO_ACT_GELU_SIGMOID: return x / (1.0f + expf(-1.702f * x));
    case ISO_ACT_SILU: return x / (1.0f + expf(-x));
    default: return x;
    }
}

/* Rotary angle of pair i at position p for a head of head_dim (inv_freq = 10000^(-2i/head_dim)). */
ISO_HD void iso_k_rotary_pair(float *lo, float *hi, int p, int i, int head_dim)
{
    float inv_freq = powf(10000.0f, -(float)(2 * i) / (float)head_dim);
    float ang = (float)p * inv_freq;
    float c = cosf(ang), s = sinf(ang);
    float a = *lo, b = *hi;
    /* rotate_half(x) = [-x2, x1]: lo' = a c - b s, hi' = b c + a s */
    *lo = a * c - b * s;
    *hi = b * c + a * s;
}

/* One output element of the Enformer pair attention pool. */
ISO_HD float iso_k_attn_pool2(float x0, float x1, float l0, float l1)
{
    float m = l0 > l1 ? l0 : l1;
    float e0 = expf(l0 - m), e1 = expf(l1 - m);
    return (x0 * e0 + x1 * e1) / (e0 + e1);
}

/* ---- Element-wise ops as "element e of the flattened output": the CUDA kernels run one thread per e (grid-stride
 * loop), and the host tests loop over e, so the index arithmetic is the same code on both. ---- */

ISO_HD void iso_k_bias_act_at(float *x, const float *bias, int cols, iso_act act, int64_t e)
{
    x[e] = iso_k_act(x[e] + (bias ? bias[e % cols] : 0.0f), act);
}

ISO_HD void iso_k_affine_act_at(const float *x, float *y, const float *scale, const float *shift, int cols,
                                iso_act act, int64_t e)
{
    int c = (int)(e % cols);
    y[e] = iso_k_act(x[e] * scale[c] + shift[c], act);
}

ISO_HD void iso_k_axpy_at(float *y, const float *x, float alpha, int64_t e) { y[e] += alpha * x[e]; }

/* e indexes y (rows x F); x has 2F columns. */
ISO_HD void iso_k_glu_silu_at(const float *x, float *y, int F, int64_t e)
{
    int64_t r = e / F;
    const float *a = x + r * 2 * F + (e - r * F);
    y[e] = iso_k_act(a[0], ISO_ACT_SILU) * a[F];
}

/* e indexes y (L x d). */
ISO_HD void iso_k_attn_pool2_at(const float *x, const float *logits, float *y, int d, int64_t e)
{
    int64_t i = e / d, c = e - i * d;
    int64_t r0 = 2 * i * d + c, r1 = r0 + d;
    y[e] = iso_k_attn_pool2(x[r0], x[r1], logits[r0], logits[r1]);
}

/* e indexes the rotation pairs (T x heads x head_dim/2). */
ISO_HD void iso_k_rotary_at(float *x, int heads, int head_dim, int ld, int64_t e)
{
    int half = head_dim / 2;
    int64_t q = e / half;
    int i = (int)(e - q * half);
    int64_t p = q / heads;
    int h = (int)(q - p * heads);
    float *v = x + p * ld + (int64_t)h * head_dim;
    iso_k_rotary_pair(&v[i], &v[i + half], (int)p, i, head_dim);
}

/* e indexes logits (heads x n x n); rel is (heads x n x 2n-1). */
ISO_HD void iso_k_rel_shift_add_at(float *logits, const float *rel, int n, int64_t e)
{
    int64_t hi = e / n; /* h * n + i */
    int64_t j = e - hi * n, i = hi % n;
    logits[e] += rel[hi * (2 * (int64_t)n - 1) + (n - 1 - i) + j];
}

/* Column c of mean_rows, accumulated in double in row order (as the CPU backend does). */
ISO_HD float iso_k_mean_col(const float *x, int64_t r0, int64_t r1, int cols, int c)
{
    double s = 0.0;
    for (int64_t r = r0; r < r1; r++)
        s += x[r * cols + c];
    return (float)(s / (double)(r1 - r0));
}

/* Blocks of `threads` for a grid-stride loop over n elements (capped: each thread then takes several). */
#define ISO_K_MAX_BLOCKS 65535
ISO_HD int iso_k_grid_blocks(int64_t n, int threads)
{
    int64_t b = (n + threads - 1) / threads;
    return b < 1 ? 1 : b > ISO_K_MAX_BLOCKS ? ISO_K_MAX_BLOCKS : (int)b;
}

/* ---- Row reductions with a block of nt threads per row (nt a power of two from iso_k_row_threads). Thread t
 * folds the elements t, t + nt, t + 2 nt, ... of the row into a partial (the iso_k_part_* functions), and the nt
 * partials are combined by the fixed tree p[t] = op(p[t], p[t + s]) for s = nt/2, nt/4, ..., 1, leaving the
 * result in p[0]. The CUDA kernels take the steps s >= 32 in shared memory and the last five with warp shuffles
 * (lane t reads lane t + s: the same pairs); the host tests run the same steps sequentially. ---- */

#define ISO_K_ROW_MAX_THREADS 256

/* Threads per row: a warp for short rows, up to 256 so that each thread has about four elements or more. */
ISO_HD int iso_k_row_threads(int n)
{
    int nt = 32;
    while (nt < ISO_K_ROW_MAX_THREADS && nt * 4 < n)
        nt *= 2;
    return nt;
}

ISO_HD float iso_k_part_sum(const float *x, int n, int t, int nt)
{
    float s = 0.0f;
    for (int i = t; i < n; i += nt)
        s += x[i];
    return s;
}

/* Sum of squared deviations from the row mean (two-pass variance, stable for rows far from zero). */
ISO_HD float iso_k_part_sqdev(const float *x, int n, float mean, int t, int nt)
{
    float s = 0.0f;
    for (int i = t; i < n; i += nt) {
        float d = x[i] - mean;
        s += d * d;
    }
    return s;
}

ISO_HD float iso_k_layernorm_inv_std(float sqdev_sum, int n, float eps)
{
    return 1.0f / sqrtf(sqdev_sum / (float)n + eps);
}

/* Writes only this thread's elements, after both reductions: y may equal x. */
ISO_HD void iso_k_layernorm_part(const float *x, float *y, const float *g, const float *b, int n, float mean,
                                 float inv, int t, int nt)
{
    for (int i = t; i < n; i += nt)
        y[i] = (x[i] - mean) * inv * g[i] + b[i];
}

/* Max of x + key_bias over this thread's elements (-inf when it has none). */
ISO_HD float iso_k_part_max_biased(const float *x, const float *key_bias, int n, int t, int nt)
{
    float m = -INFINITY;
    for (int i = t; i < n; i += nt) {
        float v = x[i] + (key_bias ? key_bias[i] : 0.0f);
        m = v > m ? v : m;
    }
    return m;
}

/* x[i] = exp(x[i] + key_bias[i] - max) over this thread's elements; returns their sum. */
ISO_HD float iso_k_part_softmax_exp(float *x, const float *key_bias, int n, float max, int t, int nt)
{
    float s = 0.0f;
    for (int i = t; i < n; i += nt) {
        x[i] = expf(x[i] + (key_bias ? key_bias[i] : 0.0f) - max);
        s += x[i];
    }
    return s;
}

ISO_HD void iso_k_part_scale(float *x, int n, float scale, int t, int nt)
{
    for (int i = t; i < n; i += nt)
        x[i] *= scale;
}

/* Sequential (host) row kernels; the CUDA kernels compute the same reductions with a block per row. */
#ifndef __CUDACC__
static inline void iso_k_layernorm_row(const float *x, float *y, const float *g, const float *b, int n, float eps)
{
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++) {
        double d = x[i] - mean;
        var += d * d;
    }
    var /= n;
    float inv = (float)(1.0 / sqrt(var + eps));
    float mf = (float)mean;
    for (int i = 0; i < n; i++)
        y[i] = (x[i] - mf) * inv * g[i] + b[i];
}

static inline void iso_k_softmax_row(float *x, int n, const float *key_bias)
{
    float m = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (key_bias)
            x[i] += key_bias[i];
        if (x[i] > m)
            m = x[i];
    }
    double s = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        s += x[i];
    }
    float inv = (float)(1.0 / s);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}
#endif

#endif
