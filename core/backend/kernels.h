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

/* exp(xc) = result * 2^n for xc in iso_k_exp's [lo, hi]: the reduction and polynomial both exps share. */
ISO_HD float iso_k_exp_reduced(float xc, float *n_out)
{
    float n = (xc * 1.44269504089f + 12582912.0f) - 12582912.0f; /* round to nearest via 1.5 * 2^23 */
    float r = xc - n * 0.693359375f + n * 2.12194440e-4f;      /* ln2 in two parts: r exact to float */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    *n_out = n;
    return p * r * r + r + 1.0f;
}

ISO_HD float iso_k_pow2(int32_t n) /* 2^n for n in [-126, 127] */
{
#ifdef __CUDA_ARCH__
    return __int_as_float((n + 127) << 23);
#else
    union {
        int32_t i;
        float f;
    } s = {.i = (n + 127) << 23};
    return s.f;
#endif
}

/* exp(x) by reduction to r = x - n ln2 in [-ln2/2, ln2/2] and Cephes' degree-5 polynomial, scaled by 2^n built
 * in the exponent bits: within 2 ulp of expf, and branch-free, so that host loops vectorize (libm's expf is a call
 * per element, which was a tenth of a CPU run). Results below the normal range are 0 (masked keys at -1e9 or
 * -inf must weigh exactly nothing); above the float range, inf. */
ISO_HD float iso_k_exp(float x)
{
    const float lo = -87.33654475f, hi = 88.72283905f;
    float xc = x > lo ? x : lo; /* NaN goes to lo here, so the int conversion below stays defined */
    xc = xc < hi ? xc : hi;
    float n, p = iso_k_exp_reduced(xc, &n);
    /* 2^n as two factors, each a normal float for n in [-126, 128]. */
    int32_t n1 = (int32_t)n / 2, n2 = (int32_t)n - n1;
    float y = p * iso_k_pow2(n1) * iso_k_pow2(n2);
    return x != x ? x : x < lo ? 0.0f : x > hi ? INFINITY : y;
}

/* iso_k_exp for x <= 0 (a score minus its row's maximum): the same bits with less work, 2^n being one normal
 * factor there. */
ISO_HD float iso_k_exp_nonpositive(float x)
{
    const float lo = -87.33654475f;
    float xc = x > lo ? x : lo;
    float n, p = iso_k_exp_reduced(xc, &n);
    float y = p * iso_k_pow2((int32_t)n);
    return x != x ? x : x < lo ? 0.0f : y;
}

/* GELU with the exact erf, x Phi(x) = x/2 erfc(-x/sqrt 2), from erfc(u) = t exp(-u^2 + P(t)), t = 1 / (1 + u/2)
 * for u = |x|/sqrt 2 >= 0 (the Chebyshev fit of Numerical Recipes' erfcc, fractional error below 1.2e-7 for every
 * u): branch-free, so that host loops vectorise (libm's erff is a call per element, 8-14 ns on Zen 3), the same
 * bits on every CPU and instruction set (iso_k_exp, no libm), and no cancellation in 1 + erf(x) for x < 0, where
 * erff-based GELU has no correct digit past x = -5.5. Error below 4e-7 of max(|x|, 1e-3) everywhere, and below
 * 1.5e-6 of the value itself for x > -3 (erff-based: 1.05e-5; test_cuda_kernels' sweep), its worst near -3 where
 * u^2 is rounded to float inside the exp. */
ISO_HD float iso_k_gelu_erf(float x)
{
    float u = fabsf(x) * 0.70710678118654752f, t = 1.0f / (1.0f + 0.5f * u);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    float erfc_u = t * iso_k_exp(p * t - 1.26551223f - u * u);
    return 0.5f * x * (x < 0.0f ? erfc_u : 2.0f - erfc_u);
}

ISO_HD float iso_k_act(float x, iso_act act)
{
    switch (act) {
    case ISO_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case ISO_ACT_GELU_ERF: return iso_k_gelu_erf(x);
    case ISO_ACT_GELU_SIGMOID: return x / (1.0f + iso_k_exp(-1.702f * x));
    case ISO_ACT_SILU: return x / (1.0f + iso_k_exp(-x));
    default: return x;
    }
}

/* cos and sin of the rotary angle of pair i at position p for a head of head_dim (inv_freq =
 * 10000^(-2i/head_dim)); the same for every head, so the host computes it once per (p, i). */
ISO_HD void iso_k_rotary_angle(int p, int i, int head_dim, float *c, float *s)
{
    float inv_freq = powf(10000.0f, -(float)(2 * i) / (float)head_dim);
    float ang = (float)p * inv_freq;
    *c = cosf(ang);
    *s = sinf(ang);
}

/* rotate_half(x) = [-x2, x1]: lo' = a c - b s, hi' = b c + a s */
ISO_HD void iso_k_rotary_apply(float *lo, float *hi, float c, float s)
{
    float a = *lo, b = *hi;
    *lo = a * c - b * s;
    *hi = b * c + a * s;
}

/* One output element of the Enformer pair attention pool from the difference z = l0 - l1 of the pair's logits: the
 * softmax of two logits is two logistic weights of z, branch-free so that host loops vectorize (exp of +-huge
 * gives weights of exactly 0 and 1). */
ISO_HD float iso_k_attn_pool2(float x0, float x1, float z)
{
    return x0 / (1.0f + iso_k_exp(-z)) + x1 / (1.0f + iso_k_exp(z));
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
    y[e] = iso_k_act(x[e] * (scale ? scale[c] : 1.0f) + (shift ? shift[c] : 0.0f), act);
}

ISO_HD void iso_k_axpy_at(float *y, const float *x, float alpha, int64_t e) { y[e] += alpha * x[e]; }

/* e indexes y (rows x F); x has 2F columns. */
ISO_HD void iso_k_glu_silu_at(const float *x, float *y, int F, int64_t e)
{
    int64_t r = e / F;
    const float *a = x + r * 2 * F + (e - r * F);
    y[e] = iso_k_act(a[0], ISO_ACT_SILU) * a[F];
}

/* e indexes y (L x d): row i of y is row 2i of x minus row 2i + 1. */
ISO_HD void iso_k_pair_diff_at(const float *x, float *y, int d, int64_t e)
{
    int64_t i = e / d, r0 = e + i * d;
    y[e] = x[r0] - x[r0 + d];
}

/* e indexes y and z (L x d); x is (2L x d). */
ISO_HD void iso_k_attn_pool2_at(const float *x, const float *z, float *y, int d, int64_t e)
{
    int64_t i = e / d, r0 = e + i * d;
    y[e] = iso_k_attn_pool2(x[r0], x[r0 + d], z[e]);
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
    float c, sn;
    iso_k_rotary_angle((int)p, i, head_dim, &c, &sn);
    iso_k_rotary_apply(&v[i], &v[i + half], c, sn);
}

/* e indexes logits (heads x n x n); rel is (heads x n x 2n), the 2n - 1 distances of a row and one unused column. */
ISO_HD void iso_k_rel_shift_add_at(float *logits, const float *rel, int n, int64_t e)
{
    int64_t hi = e / n; /* h * n + i */
    int64_t j = e - hi * n, i = hi % n;
    logits[e] += rel[hi * 2 * (int64_t)n + (n - 1 - i) + j];
}

/* Enformer stem input as im2col columns of the k-tap conv: cols[l, ch * k + t] = onehot(dna[l0 + l + t - k/2])[ch]
 * (channels A, C, G, T; any other base, N, all zero; zero past [0, len)), in torch's (channel, tap) weight order.
 * e indexes the (l, t) pairs of a tile (T x k) and writes that pair's 4 channels, so no memset is needed. */
ISO_HD void iso_k_dna_im2col_at(const char *dna, int64_t len, int64_t l0, int k, float *cols, int64_t e)
{
    int64_t l = e / k;
    int t = (int)(e - l * k);
    int64_t pos = l0 + l + t - k / 2;
    char b = pos >= 0 && pos < len ? dna[pos] : 'N';
    int ch = b == 'A' ? 0 : b == 'C' ? 1 : b == 'G' ? 2 : b == 'T' ? 3 : -1;
    float *at = cols + l * 4 * k + t;
    for (int c = 0; c < 4; c++)
        at[c * k] = c == ch ? 1.0f : 0.0f;
}

/* Winograd F(4,5) for a 5-tap "same" conv (Toom-Cook on the points 0, 1, -1, 1/2, -1/2, 2, -2 and infinity): a tile
 * of 8 inputs d = x[4t - 2 .. 4t + 5] gives the 4 outputs y[4t .. 4t + 3] = A^T [(G g) o (B^T d)], 8 products per
 * input-output channel pair instead of 20. The points keep fp32's error per conv at about 5x the direct sum's
 * (1.5e-6 against 3e-7 of the largest output, K = 5 x 768), while bf16-rounded transforms would reach 1e-2: fp32
 * only. iso_k_wino_in is B^T d, iso_k_wino_out is A^T m; G is applied to the weights once (model/ops.c). */
ISO_HD void iso_k_wino_in(const float d[8], float v[8])
{
    v[0] = (d[6] - d[0]) + 5.25f * (d[2] - d[4]);
    v[7] = (d[7] - d[1]) + 5.25f * (d[3] - d[5]);
    float a = (d[2] + d[6]) - 4.25f * d[4], b = (d[1] + d[5]) - 4.25f * d[3];
    v[1] = a + b;
    v[2] = a - b;
    a = (4.0f * d[2] + d[6]) - 5.0f * d[4];
    b = (2.0f * d[1] + 0.5f * d[5]) - 2.5f * d[3];
    v[3] = a + b;
    v[4] = a - b;
    a = (0.25f * d[2] + d[6]) - 1.25f * d[4];
    b = (0.5f * d[1] + 2.0f * d[5]) - 2.5f * d[3];
    v[5] = a + b;
    v[6] = a - b;
}

ISO_HD void iso_k_wino_out(const float m[8], float y[4])
{
    float s1 = m[1] + m[2], d1 = m[1] - m[2], s2 = m[3] + m[4], d2 = m[3] - m[4], s3 = m[5] + m[6],
          d3 = m[5] - m[6];
    y[0] = m[0] + s1 + s2 + s3;
    y[1] = d1 + 0.5f * d2 + 2.0f * d3;
    y[2] = s1 + 0.25f * s2 + 4.0f * s3;
    y[3] = (d1 + 0.125f * d2 + 8.0f * d3) + m[7];
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

/* What softmax subtracts before exp, given the max: the max itself, or 0 when it is -inf (every element masked
 * with -inf), so that exp(-inf - shift) is 0 rather than NaN. */
ISO_HD float iso_k_exp_shift(float max) { return max == -INFINITY ? 0.0f : max; }

/* 1 / sum of the exps: 0 when the sum is 0 (every element -inf), so that such a row becomes zeros. */
ISO_HD float iso_k_inv_sum(float sum) { return sum > 0.0f ? 1.0f / sum : 0.0f; }

/* x[i] = exp(x[i] + key_bias[i] - shift) over this thread's elements (shift = iso_k_exp_shift(row max));
 * returns their sum. */
ISO_HD float iso_k_part_softmax_exp(float *x, const float *key_bias, int n, float shift, int t, int nt)
{
    float s = 0.0f;
    for (int i = t; i < n; i += nt) {
        x[i] = iso_k_exp(x[i] + (key_bias ? key_bias[i] : 0.0f) - shift);
        s += x[i];
    }
    return s;
}

ISO_HD void iso_k_part_scale(float *x, int n, float scale, int t, int nt)
{
    for (int i = t; i < n; i += nt)
        x[i] *= scale;
}

/* ---- Fused attention: the online-softmax (flash) recurrence for one (query row, head), over keys in tiles.
 * State: running max m (-inf before the first key), running sum l of exp(score - m), and acc[hd], the
 * exp-weighted sum of value rows; out = acc / l at the end. A tile of n keys is folded in by nt threads as:
 *   part  = iso_k_flash_scores_part(...)            thread t: s[j] for j = t, t + nt, ...; returns their max
 *   alpha = iso_k_flash_rescale(&m, tree max of part)
 *   part  = iso_k_part_softmax_exp(s, NULL, n, iso_k_exp_shift(m), t, nt)   s[j] = exp(s[j] - m)
 *   l     = l * alpha + tree sum of part
 *   iso_k_flash_acc_part(...)                       thread t: acc dims d = t, t + nt, ... (needs all of s)
 * with the reduction tree of the row kernels above. The CUDA kernel runs it with a warp per query row (nt = 32);
 * the host tests run it that way and sequentially (nt = 1). (The CPU backend's attention uses register tiles or
 * BLAS instead: see backend_cpu.c.) acc holds only the thread's dims: acc[c] is dim t + c nt
 * (c < nc, nc >= ceil(hd / nt); dims past hd are skipped), so on the device it stays in registers. ---- */

/* The CUDA kernel's limits: head_dim (its shared tiles and registers) and heads (its grid's y). */
#define ISO_K_ATTN_MAX_HD 128
#define ISO_K_ATTN_MAX_HEADS 65535

/* Whether the CUDA attention kernel takes these shapes. */
static inline int iso_k_attention_fits(const iso_attention_args *a, int max_head_dim)
{
    return a->head_dim <= max_head_dim && a->heads <= ISO_K_ATTN_MAX_HEADS;
}

/* The CUDA backend's supports_op answer: the kernel (scalar fp32, about one shared-memory load per FMA) for short
 * sequences only, where one launch beats three; from ISO_K_ATTN_FUSED_MAX_SCORES scores a head up, the model's
 * general path (scores by tensor-core GEMM, softmax kernel, GEMM with V) is estimated 3-7x faster, its score
 * traffic costing less than the kernel's arithmetic (not measured on a GPU: bench/gpu_check.sh times both). */
#define ISO_K_ATTN_FUSED_MAX_SCORES (128 * 128)
static inline int iso_k_attention_prefer_fused(const iso_attention_args *a)
{
    return iso_k_attention_fits(a, ISO_K_ATTN_MAX_HD) && (int64_t)a->Tq * a->Tk <= ISO_K_ATTN_FUSED_MAX_SCORES;
}

/* Scores of this thread's keys of a tile: s[j] = scale * q.k_j + key_bias[j], k_j at k + j * ldk; returns
 * their max (-inf when it has none). key_bias points at the tile's first key, or is NULL. */
ISO_HD float iso_k_flash_scores_part(const float *q, const float *k, int ldk, const float *key_bias, int n, int hd,
                                     float scale, float *s, int t, int nt)
{
    float m = -INFINITY;
    for (int j = t; j < n; j += nt) {
        const float *kj = k + (int64_t)j * ldk;
        float dot = 0.0f;
        for (int i = 0; i < hd; i++)
            dot += q[i] * kj[i];
        float x = scale * dot + (key_bias ? key_bias[j] : 0.0f);
        s[j] = x;
        m = x > m ? x : m;
    }
    return m;
}

/* Raises the running max to cover a tile whose max is tile_max; returns the factor (<= 1) that rescales the
 * state accumulated against the old max. */
ISO_HD float iso_k_flash_rescale(float *m, float tile_max)
{
    float m_new = tile_max > *m ? tile_max : *m;
    float alpha = iso_k_exp(*m - iso_k_exp_shift(m_new));
    *m = m_new;
    return alpha;
}

/* acc = alpha * acc + sum_j p[j] v_j over this thread's dims, v_j at v + j * ldv. */
ISO_HD void iso_k_flash_acc_part(float *acc, int nc, const float *p, const float *v, int ldv, int n, int hd,
                                 float alpha, int t, int nt)
{
    for (int c = 0; c < nc; c++) {
        int d = t + c * nt;
        if (d < hd) {
            float a = acc[c] * alpha;
            for (int j = 0; j < n; j++)
                a += p[j] * v[(int64_t)j * ldv + d];
            acc[c] = a;
        }
    }
}

/* out = acc / l over this thread's dims; zeros when l is 0 (every key's bias -inf). */
ISO_HD void iso_k_flash_out_part(const float *acc, int nc, float l, float *out, int hd, int t, int nt)
{
    float inv = iso_k_inv_sum(l);
    for (int c = 0; c < nc; c++) {
        int d = t + c * nt;
        if (d < hd)
            out[d] = acc[c] * inv;
    }
}

/* Argument checks shared by the backends' attention ops. */
static inline int iso_k_attention_check(const iso_attention_args *a, int max_head_dim)
{
    int width = a->heads * a->head_dim;
    if (a->Tq < 0 || a->Tk <= 0 || a->heads <= 0 || a->head_dim <= 0)
        return iso_error(ISO_EINVAL, "attention: expected Tq >= 0 and positive Tk, heads, head_dim; got Tq=%d "
                                     "Tk=%d heads=%d head_dim=%d",
                         a->Tq, a->Tk, a->heads, a->head_dim);
    if (max_head_dim > 0 && a->head_dim > max_head_dim)
        return iso_error(ISO_EINVAL, "attention: head_dim %d is above this backend's limit of %d", a->head_dim,
                         max_head_dim);
    if (a->ldq < width || a->ldk < width || a->ldv < width || a->ldo < width)
        return iso_error(ISO_EINVAL, "attention: row strides must hold heads * head_dim = %d floats; got ldq=%d "
                                     "ldk=%d ldv=%d ldo=%d",
                         width, a->ldq, a->ldk, a->ldv, a->ldo);
    return ISO_OK;
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

/* The softmax's numerators in place (x + key_bias, shifted by its maximum, exponentiated); returns their sum's
 * reciprocal, 0 for a row of -inf (which then becomes zeros). Attention scales its output rows by it instead of the
 * Tk probabilities of each row. */
static inline float iso_k_softmax_exp_row(float *restrict x, int n, const float *restrict key_bias)
{
    if (key_bias)
        for (int i = 0; i < n; i++)
            x[i] += key_bias[i];
    float m = -INFINITY;
#pragma omp simd reduction(max : m) /* the maximum is exact in any order; without this the loop stays scalar */
    for (int i = 0; i < n; i++)
        m = x[i] > m ? x[i] : m;
    m = iso_k_exp_shift(m);
    /* One pass makes the numerators and sums them, in an order fixed by this code: per block of 1024, 16 float
     * running sums over i mod 16 and a fixed tree; the blocks' sums in double (a float sum over a million keys
     * would lose 1e-5). The 16-wide inner loop vectorises at any width, while a compiler's vectorised reduction
     * would add in an order set by the vector width, i.e. by the target_clones copy the CPU gets; float lanes keep
     * it free of conversions (a double sum cost 12-15% of the attention op on Emerald Rapids). */
    double total = 0.0;
    for (int b0 = 0; b0 < n; b0 += 1024) {
        int b1 = n - b0 < 1024 ? n : b0 + 1024, i = b0;
        float lane[16] = {0};
        for (; i + 16 <= b1; i += 16)
#pragma omp simd
            for (int j = 0; j < 16; j++) {
                float e = iso_k_exp_nonpositive(x[i + j] - m);
                x[i + j] = e;
                lane[j] += e;
            }
        for (int j = 0; i < b1; i++, j++) {
            x[i] = iso_k_exp_nonpositive(x[i] - m);
            lane[j] += x[i];
        }
        for (int w = 8; w >= 1; w /= 2)
            for (int j = 0; j < w; j++)
                lane[j] += lane[j + w];
        total += lane[0];
    }
    return iso_k_inv_sum((float)total);
}

static inline void iso_k_softmax_row(float *x, int n, const float *key_bias)
{
    float inv = iso_k_softmax_exp_row(x, n, key_bias);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}
#endif

#endif
