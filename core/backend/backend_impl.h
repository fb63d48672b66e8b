/* The backend interface, private to the library: the ops table a backend implements, the state every backend
 * shares, and its registry entry (as ggml-backend-impl.h). The model calls ops as be->ops->gemm(be, ...);
 * programs outside the library see only the opaque iso_backend of isoformer/backend.h.
 *
 * A new backend is a folder core/backend/NAME/ (its CMakeLists.txt adds its sources to isoformer_core, or a stub
 * whose create explains how to build it when its toolkit is missing) that defines
 * `const iso_backend_reg iso_backend_NAME_reg` (extern "C" in C++), plus NAME in the ISO_BACKENDS list of
 * core/backend/registry.c. */
#ifndef ISOFORMER_BACKEND_IMPL_H
#define ISOFORMER_BACKEND_IMPL_H

#include "isoformer/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

struct iso_backend_ops {
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
    /* y[r, c] = act(x[r, c] * scale[c] + shift[c]) (BatchNorm in eval mode folded to scale/shift); scale or shift
     * may be NULL (1 and 0). */
    int (*affine_act)(iso_backend *be, const float *x, float *y, const float *scale, const float *shift,
                      int64_t rows, int cols, iso_act act);
    /* y[i] += alpha * x[i]. */
    int (*axpy)(iso_backend *be, float *y, const float *x, float alpha, int64_t n);
    /* y[r, :] = LayerNorm(x[r, :]) * gamma + beta, biased variance; y may equal x. */
    int (*layernorm)(iso_backend *be, const float *x, float *y, const float *gamma, const float *beta,
                     int64_t rows, int cols, float eps);
    /* Row softmax in place over `cols` of rows `ld` >= cols floats apart, after adding key_bias[c] (0 or a large
     * negative for masked keys; may be NULL) to every row; columns [cols, ld) are not touched. rows counts all
     * heads x queries. A row that is -inf throughout becomes zeros. */
    int (*softmax)(iso_backend *be, float *x, int64_t rows, int cols, int64_t ld, const float *key_bias);
    /* Rotary position embedding (ESM / NT-v2, rotate_half convention) applied in place to x, which holds T
     * positions of `heads` heads of `head_dim` each, row stride `ld` floats; position p uses angle
     * p * 10000^(-2i/head_dim) for pair (i, i + head_dim/2). */
    int (*rotary)(iso_backend *be, float *x, int T, int heads, int head_dim, int ld);
    /* y[r, f] = silu(x[r, f]) * x[r, F + f], x has 2F columns (NT-v2 gated FFN). */
    int (*glu_silu)(iso_backend *be, const float *x, float *y, int64_t rows, int F);
    /* y[i, c] = x[2i, c] - x[2i + 1, c]; x is (2L, d), y (L, d). */
    int (*pair_diff)(iso_backend *be, const float *x, float *y, int64_t L, int d);
    /* Enformer AttentionPool over pairs of rows: y[i, c] = sum_{p in 0,1} softmax_p(logits[2i+p, c]) * x[2i+p, c],
     * given z[i, c] = logits[2i, c] - logits[2i+1, c], all a softmax of two needs; x is (2L, d), z and y (L, d). */
    int (*attn_pool2)(iso_backend *be, const float *x, const float *z, float *y, int64_t L, int d);
    /* Enformer relative shift: logits[h, i, j] += rel[h, i, j - i + n - 1] for i, j < n; rel is (heads, n, 2n), the
     * 2n - 1 distances and a column never read (rows of an even width start 16-byte aligned: cuBLAS's vectorised
     * GEMM kernels need it of the GEMM that writes rel), logits (heads, n, n). */
    int (*rel_shift_add)(iso_backend *be, float *logits, const float *rel, int heads, int n);
    /* y[c] = mean over rows [r0, r1) of x[r, c]. */
    int (*mean_rows)(iso_backend *be, const float *x, float *y, int64_t r0, int64_t r1, int cols);
    /* Fused attention (iso_attention_args), without a Tq x Tk scores buffer per head in the caller. A backend may
     * take only some shapes (supports_op): the model calls it through iso_attention (model/ops.c), which asks. */
    int (*attention)(iso_backend *be, const iso_attention_args *a);

    /* Optional (NULL: the model builds the columns on the host and uploads them). cols[T, 4k] = the im2col of the
     * one-hot DNA for Enformer's k-tap stem conv at positions [l0, l0 + T) (iso_k_dna_im2col_at); dna is a
     * backend buffer of len bytes. */
    int (*dna_im2col)(iso_backend *be, const char *dna, int64_t len, int64_t l0, int64_t T, int k, float *cols);

    /* Optional (NULL: the model convolves tap by tap), used in fp32 only: the transforms of iso_conv1d_winograd
     * (model/ops.c) over the tiles [t0, t0 + tiles) of a 5-tap same conv of x (L x cin). wino_in: v[i][t][c] =
     * iso_k_wino_in of x rows 4(t0 + t) - 2 + [0, 8) (zero outside [0, L)), v is 8 x tiles x cin. wino_out: y rows
     * 4(t0 + t) + r below L = iso_k_wino_out of m[.][t][c] plus bias[c] (bias may be NULL), m is 8 x tiles x cout. */
    int (*wino_in)(iso_backend *be, const float *x, int64_t L, int cin, int64_t t0, int tiles, float *v);
    int (*wino_out)(iso_backend *be, const float *m, int tiles, int cout, int64_t t0, int64_t L, const float *bias,
                    float *y);

    /* Optional (NULL: every precision of the registry entry's mask computes): readies the backend to compute in
     * precision, or says why this device or build cannot (ISO_EDEVICE). Called by create and by
     * iso_backend_set_precision before the switch, so that no op fails later for want of it. */
    int (*use_precision)(iso_backend *be, iso_precision precision);

    /* Capabilities (iso_backend_supports_op, iso_backend_has). supports_op NULL: every op on any arguments;
     * has NULL: no property. */
    int (*supports_op)(const iso_backend *be, iso_op op, const void *args);
    int (*has)(const iso_backend *be, iso_backend_property property);

    /* Optional (NULL: nothing is kept): the bytes of freed activation blocks the allocator keeps for reuse, and
     * handing them back (to the system, or to the device for other libraries) once the queued work is done. */
    size_t (*cached_bytes)(const iso_backend *be);
    int (*release_cached)(iso_backend *be);
};

typedef struct iso_backend_reg {
    const char *name;           /* device name prefix: "cpu", "cuda" */
    iso_device_kind kind;
    unsigned precisions;        /* bit p set: computes GEMMs in iso_precision p */
    int (*device_count)(void);  /* usable devices (0: none, or not built) */
    /* precision is one of the entry's precisions (the registry maps others to fp32) */
    int (*create)(int device, int n_threads, iso_precision precision, iso_backend **out);
} iso_backend_reg;

struct iso_backend {
    const struct iso_backend_ops *ops;
    const iso_backend_reg *reg;
    int device;
    iso_precision precision; /* GEMM precision, one of reg->precisions */
    int n_threads;
    size_t bytes_in_use, peak_bytes; /* activation memory accounting, kept by alloc/free */
    /* FLOP and wall seconds inside the GEMM and attention ops, kept by backends that run ops synchronously (CPU). */
    double gemm_flop, gemm_seconds, attention_flop, attention_seconds;
    char key[32]; /* iso_backend_key */
    void *impl;
};

/* Fills the shared state of a newly allocated (zeroed) backend. */
void iso_backend_init(iso_backend *be, const iso_backend_reg *reg, const struct iso_backend_ops *ops, int device,
                      iso_precision precision, int n_threads, void *impl);

#ifdef __cplusplus
}
#endif
#endif
