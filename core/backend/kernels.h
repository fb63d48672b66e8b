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
