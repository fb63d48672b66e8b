/* Layers composed from backend ops, shared by the encoders: linear, same-padded conv1d as tap-wise GEMMs, and
 * multi-head attention. Buffers are backend buffers; shapes are row-major (positions x channels). */
#ifndef ISOFORMER_MODEL_OPS_H
#define ISOFORMER_MODEL_OPS_H

#include "backend/backend_impl.h"

/* y[rows, n_out] = act(x[rows, n_in] W^T + b), W as stored by PyTorch ([n_out, n_in]); b may be NULL. */
int iso_linear(iso_backend *be, const float *x, int64_t rows, int n_in, const float *w, const float *b, float *y,
               int n_out, iso_act act) ISO_RESULT;
/* iso_linear over packed sequences (rows [offsets[s], offsets[s + 1]) of x and y for s < n_seqs), with one GEMM
 * per sequence: a GEMM library's rounding of a row may depend on how many rows it is given (kernel choice and
 * blocking follow the shape), so a sequence's rows must not depend on its neighbours. The bias and activation,
 * exact per element, run once over all rows. */
int iso_linear_packed(iso_backend *be, const float *x, const int *offsets, int n_seqs, int n_in, const float *w,
                      const float *b, float *y, int n_out, iso_act act) ISO_RESULT;

/* Conv1d with zero "same" padding (k odd, pad k/2): y[L, cout] = sum_j x[l + j - k/2, :] W_j^T + bias, with the
 * weight rearranged at load time to taps-major w_taps[k][cout][cin] (see iso_conv1d_taps_from_torch). */
int iso_conv1d_same(iso_backend *be, const float *x, int64_t L, int cin, const float *w_taps, const float *bias,
                    int k, float *y, int cout) ISO_RESULT;
/* Host-side rearrangement of a PyTorch Conv1d weight [cout][cin][k] into taps-major [k][cout][cin]. */
void iso_conv1d_taps_from_torch(const float *w, int cout, int cin, int k, float *w_taps);

/* The same conv for k = 5 by Winograd F(4,5) (kernels.h iso_k_wino_in/out): per chunk of chunk_tiles tiles of 4
 * output rows, the input transform, 8 GEMMs (tiles x cin by cin x cout) and the output transform: 0.4x the
 * GEMM FLOP of the tap-wise sum. u is the transformed weight [8][cout][cin] (iso_conv1d_winograd_weights). The
 * chunk bounds the workspace (8 x chunk_tiles x (cin + cout) floats) and, being fixed, keeps results independent
 * of anything else. Only where iso_conv1d_winograd_usable(be); its GEMMs are fp32 whatever be's precision. */
enum { ISO_WINO_CHUNK_TILES = 1024 };
int iso_conv1d_winograd(iso_backend *be, const float *x, int64_t L, int cin, const float *u, const float *bias,
                        float *y, int cout, int chunk_tiles) ISO_RESULT;
/* Whether be has the transforms. The products are computed in fp32 at any precision (iso_gemm_args.fp32): the
 * transforms rounded to bf16 would lose too much (kernels.h), and at 0.4x the tap-wise FLOP fp32 products are faster
 * than bf16 tap-wise ones wherever bf16 runs at under 2.5x the fp32 rate (docs/model.md). */
int iso_conv1d_winograd_usable(const iso_backend *be);
/* Host-side u[i][o][c] = sum_j G[i][j] w[o][c][j] of a PyTorch Conv1d weight [cout][cin][5], in double. */
void iso_conv1d_winograd_weights(const float *w, int cout, int cin, float *u);

/* Multi-head attention in pieces, for attention with extra terms on the scores (Enformer's relative positions;
 * plain attention is iso_attention below). q: [Tq, ldq] with head h at columns [h*dq, (h+1)*dq); k likewise [Tk, ldk];
 * v: [Tk, ldv] with head h at [h*dv, (h+1)*dv); scores: [heads, Tq, lds], each row's first Tk floats used;
 * out: [Tq, ldo]. */
typedef struct {
    const float *q, *k, *v;
    int ldq, ldk, ldv;
    float *out;
    int ldo;
    int Tq, Tk, heads, dq, dv;
    float scale;           /* applied to q.k */
    const float *key_bias; /* [Tk] additive (0 or large negative), or NULL */
    float *scores;         /* workspace heads * Tq * lds floats */
    int lds;               /* scores row stride >= Tk */
} iso_attn;

/* Tk rounded up to 4 floats: cuBLAS's tensor-core GEMMs want 16-byte aligned rows, and an odd Tk (the fusion's
 * key tokens) would put every other row of the scores off them. */
static inline int iso_attn_scores_ld(int Tk) { return (Tk + 3) & ~3; }

/* Plain multi-head attention (iso_attention_args): the backend's fused op where it supports the shapes
 * (iso_backend_supports_op), else per group of heads scores by GEMM, the softmax op, and a GEMM with V, through a
 * scores workspace of at most 64 MiB (the published fusion's 8 heads of 384 exceed the CUDA kernel's 128). */
int iso_attention(iso_backend *be, const iso_attention_args *a) ISO_RESULT;

/* scores = scale * q k^T, per head. */
int iso_attn_scores(iso_backend *be, const iso_attn *a) ISO_RESULT;
/* softmax(scores + key_bias) then out = scores v, per head. */
int iso_attn_softmax_apply(iso_backend *be, const iso_attn *a) ISO_RESULT;

#endif
