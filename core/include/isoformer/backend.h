/* Compute backends behind one small op interface (as in ggml): the model code calls only these ops, on
 * buffers the backend allocated, and the CPU (BLAS) and CUDA (cuBLAS) backends implement them. A new backend is
 * one folder under core/backend/ and one line of the registry table (core/backend/registry.c).
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
    int fp32; /* computed in fp32 whatever the backend's precision */
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

/* A backend is opaque (its ops table and state are private: core/backend/backend_impl.h). Programs choose one
 * from the registry, read its properties through the accessors below and ask what it supports; the model calls
 * its ops. */
typedef struct iso_backend iso_backend;

typedef enum { ISO_DEVICE_CPU = 0, ISO_DEVICE_GPU } iso_device_kind;

/* ---- registry: the backends compiled into this build, in order of preference for their kind ---- */
ISO_API
int iso_backend_reg_count(void);
ISO_API
const char *iso_backend_reg_name(int i); /* "cpu", "cuda": the device name's prefix */
ISO_API
iso_device_kind iso_backend_reg_kind(int i);
/* Usable devices of backend i (0 when none is present, e.g. no GPU or no driver). */
ISO_API
int iso_backend_reg_device_count(int i);
/* The device used when none is named: the first GPU backend with a device present ("cuda"), else "cpu". */
ISO_API
const char *iso_backend_default_device(void);

/* The OPENBLAS_CORETYPE value this CPU calls for when the OpenBLAS in use fell back to pre-AVX2 kernels because it
 * does not know the CPU model ("SkylakeX" for Debian 12's OpenBLAS 0.3.21 on Emerald Rapids, 5x its Prescott
 * sgemm), else NULL (also when OPENBLAS_CORETYPE is set). OpenBLAS reads it only when it loads, so a program
 * calls iso_backend_cpu_blas_reexec(argv) first thing in main(): it re-executes the program with the variable set
 * where there is a hint, and otherwise returns ISO_OK (or an error, the run going on with the slower kernels). */
ISO_API
const char *iso_backend_cpu_blas_hint(void);
ISO_API
int iso_backend_cpu_blas_reexec(char *const argv[]) ISO_RESULT;

/* device: a registry name, optionally ":N" for its device N ("cpu", "cuda", "cuda:1"); NULL is "cpu".
 * n_threads <= 0 uses all cores (CPU). precision is the GEMM precision of backends that have several; one a
 * backend lacks is fp32 (tf32 on the CPU). The CPU backend's bf16 (oneDNN, on AVX512-BF16 or AMX) is ISO_EDEVICE
 * with the reason where the CPU or the build lacks it. */
ISO_API
int iso_backend_create(const char *device, int n_threads, iso_precision precision, iso_backend **out) ISO_RESULT;
/* The registry entry (*reg, as iso_backend_reg_name's i) and device index a device name names, without creating
 * anything (whether that device exists is create's to say): ISO_EINVAL with the names expected otherwise. */
ISO_API
int iso_backend_parse_device(const char *device, int *reg, int *index) ISO_RESULT;
ISO_API
void iso_backend_destroy(iso_backend *be);
/* Waits for every queued op (a no-op on synchronous backends); errors of queued ops surface here. */
ISO_API
int iso_backend_sync(iso_backend *be) ISO_RESULT;

/* ---- accessors ---- */
ISO_API
const char *iso_backend_name(const iso_backend *be); /* registry name: "cpu", "cuda" */
ISO_API
iso_device_kind iso_backend_device_kind(const iso_backend *be);
ISO_API
int iso_backend_device_index(const iso_backend *be);
ISO_API
iso_precision iso_backend_precision(const iso_backend *be);
/* ISO_EINVAL (backend unchanged) when the backend has no such precision; ISO_EDEVICE (unchanged, with the reason)
 * when this device or build cannot compute in it (the CPU's bf16 without AVX512-BF16, AMX or oneDNN). */
ISO_API
int iso_backend_set_precision(iso_backend *be, iso_precision precision) ISO_RESULT;
ISO_API
const char *iso_precision_name(iso_precision precision); /* "fp32", "tf32", "bf16" */
/* What decides the arithmetic, as "<name>:<precision>" ("cpu:fp32", "cuda:bf16"): results under one key agree
 * to the rounding of operation order, under two keys they may differ more (what a cache of outputs keys on). */
ISO_API
const char *iso_backend_key(const iso_backend *be);
ISO_API
int iso_backend_n_threads(const iso_backend *be);
/* Activation memory (weights excluded), kept by the backend's allocator. */
ISO_API
size_t iso_backend_bytes_in_use(const iso_backend *be);
ISO_API
size_t iso_backend_peak_bytes(const iso_backend *be);
/* Freed activation memory the backend keeps for reuse (the CPU's blocks, up to 1.25 times the peak in use; the CUDA
 * backend's stream-ordered pool), and handing it back: to the system, or to the device for the other libraries of
 * the process (PyTorch, another model), after the queued work. Weights and blocks in use stay; later allocations
 * map fresh memory again. */
ISO_API
size_t iso_backend_cached_bytes(const iso_backend *be);
ISO_API
int iso_backend_release_cached(iso_backend *be) ISO_RESULT;

/* FLOP and wall seconds inside the GEMM and attention ops, kept by backends whose ops run synchronously (CPU;
 * zero elsewhere): the GEMM-shaped stages' rate that `predict -v` and the benchmarks report. */
typedef struct {
    double gemm_flop, gemm_seconds, attention_flop, attention_seconds;
} iso_backend_counters;
ISO_API
void iso_backend_get_counters(const iso_backend *be, iso_backend_counters *out);

/* ---- capabilities ---- */
typedef enum {
    ISO_OP_GEMM,
    ISO_OP_BIAS_ACT,
    ISO_OP_AFFINE_ACT,
    ISO_OP_AXPY,
    ISO_OP_LAYERNORM,
    ISO_OP_SOFTMAX,
    ISO_OP_ROTARY,
    ISO_OP_GLU_SILU,
    ISO_OP_ATTN_POOL2,
    ISO_OP_REL_SHIFT_ADD,
    ISO_OP_MEAN_ROWS,
    ISO_OP_ATTENTION,
    ISO_OP_DNA_IM2COL, /* optional: Enformer's stem input built on the device */
    ISO_OP_PAIR_DIFF,
} iso_op;

/* Whether the model should call op on these arguments (an iso_gemm_args * for ISO_OP_GEMM, an
 * iso_attention_args * for ISO_OP_ATTENTION; args may be NULL for "in general"), as ggml's supports_op. The model
 * asks before it calls an op that some backend limits, and otherwise composes it from other ops: the CUDA fused
 * attention takes head_dim <= 128, and is declined past 128 x 128 scores a head, where GEMMs and the softmax op
 * are faster on that device. Answered from the shapes alone, without touching the device. */
ISO_API
int iso_backend_supports_op(const iso_backend *be, iso_op op, const void *args);

typedef enum {
    ISO_BACKEND_ASYNC,              /* ops are queued: sync before reading a host clock or a result */
    ISO_BACKEND_GEMM_ROW_INVARIANT, /* a GEMM's output row depends on its own input row only, never on m or the
                                       other rows (so packing sequences into one GEMM changes no bit) */
} iso_backend_property;
ISO_API
int iso_backend_has(const iso_backend *be, iso_backend_property property);

#ifdef __cplusplus
}
#endif
#endif
