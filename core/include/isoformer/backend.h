/* Compute backends behind one small op interface (as in ggml): the model code calls only these ops, on
 * buffers the backend allocated, and the CPU (BLAS) and CUDA (cuBLAS) backends implement them.
 *
 * Tensors are float32, row-major, rows = sequence positions, columns = channels. Every op is asynchronous on
 * the CUDA backend (ordered on one stream); iso_backend_sync() waits. Ops return ISO_OK or a negative
 * iso_status with a message. */
#ifndef ISOFORMER_BACKEND_H
#define ISOFORMER_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "isoformer/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ISO_ACT_NONE = 0,
    ISO_ACT_RELU,
    ISO_ACT_GELU_ERF,     /* x * 0.5 * (1 + erf(x / sqrt(2)))  (ESM-2) */
    ISO_ACT_GELU_SIGMOID, /* x * sigmoid(1.702 x)              (Enformer) */
    ISO_ACT_SILU,         /* x * sigmoid(x) */
} iso_act;

typedef enum { ISO_PREC_FP32 = 0, ISO_PREC_TF32, ISO_PREC_BF16 } iso_precision;

/* C_b = alpha * op(A_b) * op(B_b) + beta * C_b for b in [0, batch); op(A) is m x k, op(B) is k x n, all
 * row-major with leading dimensions lda/ldb/ldc and batch strides (in floats). */
typedef struct {
    int trans_a, trans_b;
    int m, n, k;
    float alpha, beta;
    const float *a; int lda; int64_t stride_a;
    const float *b; int ldb; int64_t stride_b;
    float *c; int ldc; int64_t stride_c;
    int batch;
} iso_gemm_args;

/* Multi-head scaled dot-product attention, per head h:
 *   out_h = softmax(scale * Q_h K_h^T + key_bias) V_h
 * Q is Tq x ldq, K and V are Tk x ldk / Tk x ldv, out is Tq x ldo (row-major); head h is columns
 * [h * head_dim, (h + 1) * head_dim) of each. key_bias[Tk] (may be NULL) is added to every row of scores, in
 * float as the softmax op adds it: 0 for a key, a large negative value for a padded one. A row whose every key
 * has a finite large negative bias gets the softmax of the biased scores (with -FLT_MAX, the mean of V, as
 * PyTorch's finfo.min mask gives); a row whose every key has bias -inf gets zeros, not NaN. */
typedef struct {
    const float *q, *k, *v;
    int ldq, ldk, ldv;
    float *out;
    int ldo;
    int Tq, Tk, heads, head_dim;
    float scale;
    const float *key_bias;
} iso_attention_args;

typedef struct iso_backend iso_backend;

struct iso_backend_ops {
    const char *name;
    void (*destroy)(iso_backend *be);
    /* Memory. alloc returns NULL (error recorded) when out of memory. */
    void *(*alloc)(iso_backend *be, size_t nbytes);
    void (*free)(iso_backend *be, void *ptr);
    int (*upload)(iso_backend *be, void *dst, const void *src, size_t nbytes);
    int (*download)(iso_backend *be, void *dst, const void *src, size_t nbytes);
    int (*copy)(iso_backend *be, void *dst, const void *src, size_t nbytes);
    int (*memset0)(iso_backend *be, void *dst, size_t nbytes);
    /* Weights live as long as the model: the CPU backend returns `host` itself (mmapped file, no copy);
     * CUDA copies once to device memory. Freed with free_weight. */
    const float *(*weight)(iso_backend *be, const float *host, size_t count);
    void (*free_weight)(iso_backend *be, const float *dev);
    int (*sync)(iso_backend *be);

    int (*gemm)(iso_backend *be, const iso_gemm_args *g);
    /* x[r, c] = act(x[r, c] + bias[c]); bias may be NULL. */
    int (*bias_act)(iso_backend *be, float *x, const float *bias, int64_t rows, int cols, iso_act act);
    /* y[r, c] = act(x[r, c] * scale[c] + shift[c]) (BatchNorm in eval mode folded to scale/shift). */
    int (*affine_act)(iso_backend *be, const float *x, float *y, const float *scale, const float *shift,
                      int64_t rows, int cols, iso_act act);
    /* y[i] += alpha * x[i]. */
    int (*axpy)(iso_backend *be, float *y, const float *x, float alpha, int64_t n);
    /* y[r, :] = LayerNorm(x[r, :]) * gamma + beta, biased variance; y may equal x. */
    int (*layernorm)(iso_backend *be, const float *x, float *y, const float *gamma, const float *beta,
                     int64_t rows, int cols, float eps);
    /* Row softmax in place over `cols`, after adding key_bias[c] (0 or a large negative for masked keys;
     * may be NULL) to every row. rows counts all heads x queries. A row that is -inf throughout becomes
     * zeros. */
    int (*softmax)(iso_backend *be, float *x, int64_t rows, int cols, const float *key_bias);
    /* Rotary position embedding (ESM / NT-v2, rotate_half convention) applied in place to x, which holds T
     * positions of `heads` heads of `head_dim` each, row stride `ld` floats; position p uses angle
     * p * 10000^(-2i/head_dim) for pair (i, i + head_dim/2). */
    int (*rotary)(iso_backend *be, float *x, int T, int heads, int head_dim, int ld);
    /* y[r, f] = silu(x[r, f]) * x[r, F + f], x has 2F columns (NT-v2 gated FFN). */
    int (*glu_silu)(iso_backend *be, const float *x, float *y, int64_t rows, int F);
    /* Enformer AttentionPool over pairs of rows: y[i, c] = sum_{p in 0,1} softmax_p(logits[2i+p, c]) *
     * x[2i+p, c]; x and logits are (2L, d), y is (L, d). */
    int (*attn_pool2)(iso_backend *be, const float *x, const float *logits, float *y, int64_t L, int d);
    /* Enformer relative shift: logits[h, i, j] += rel[h, i, j - i + n - 1] for i, j < n; rel is
     * (heads, n, 2n - 1), logits (heads, n, n). */
    int (*rel_shift_add)(iso_backend *be, float *logits, const float *rel, int heads, int n);
    /* y[c] = mean over rows [r0, r1) of x[r, c]. */
    int (*mean_rows)(iso_backend *be, const float *x, float *y, int64_t r0, int64_t r1, int cols);
    /* Fused attention (iso_attention_args above), without a Tq x Tk scores buffer per head in the caller.
     * The CUDA backend takes head_dim <= 128. */
    int (*attention)(iso_backend *be, const iso_attention_args *a);
};

struct iso_backend {
    const struct iso_backend_ops *ops;
    iso_precision precision; /* GEMM precision; the CPU backend always computes in fp32 */
    int n_threads;
    size_t bytes_in_use, peak_bytes; /* activation memory accounting, kept by alloc/free */
    /* FLOP and wall seconds inside the GEMM and attention ops, kept by backends that run ops synchronously (CPU);
     * what `predict -v` and the benchmarks report as the GEMM-shaped stages' rate. */
    double gemm_flop, gemm_seconds, attention_flop, attention_seconds;
    void *impl;
};

/* "cpu", "cuda" or "cuda:N". n_threads <= 0 uses all cores (CPU). */
ISO_API
int iso_backend_create(const char *device, int n_threads, iso_precision precision, iso_backend **out) ISO_RESULT;
ISO_API
void iso_backend_destroy(iso_backend *be);
ISO_API
int iso_backend_cpu_create(int n_threads, iso_backend **out) ISO_RESULT;
/* Returns ISO_EDEVICE with a clear message when built without CUDA or when no device is present. */
ISO_API
int iso_backend_cuda_create(int device, iso_precision precision, iso_backend **out) ISO_RESULT;
/* Number of CUDA devices visible (0 when built without CUDA or none present). */
ISO_API
int iso_backend_cuda_device_count(void);

static inline int iso_backend_sync(iso_backend *be) { return be->ops->sync(be); }

#ifdef __cplusplus
}
#endif
#endif
