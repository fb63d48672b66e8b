/* Fused attention: one block per (tile of QT query rows, head), a warp per query row. Key and value rows stream
 * through shared memory in tiles of KT, and each warp folds a tile into its rows' flash state (running max,
 * running sum, acc) with the functions of kernels.h at nt = 32: lane t scores keys t, t + 32, ... of the tile and
 * owns dims t, t + 32, ... of acc, which stay in registers. No Tq x Tk scores are ever stored. */
#include "backend/cuda/cuda_internal.h"

namespace {

constexpr int WARP = 32;
constexpr int WARPS = 4;         /* per block */
constexpr int ROWS_PER_WARP = 4; /* query rows each warp carries through the key loop */
constexpr int QT = WARPS * ROWS_PER_WARP;
constexpr int KT = 32; /* keys per tile: one per lane when scoring */

/* The tree of kernels.h over a warp, as a butterfly: at step s lane t combines with lane t ^ s, which for t < s
 * is the tree's pair (t, t + s) and for the others the same pair in swapped (commutative) order, so every lane
 * ends with the tree's p[0]. */
template <class Op> __device__ float warp_all_reduce(float v, Op op)
{
    for (int s = WARP / 2; s > 0; s >>= 1)
        v = op(v, __shfl_xor_sync(0xffffffffu, v, s));
    return v;
}

/* HD_MAX (32, 64 or 128) bounds head_dim; it sizes the shared tiles and the acc registers (HD_MAX / 32 a lane). */
template <int HD_MAX> __global__ void __launch_bounds__(WARPS *WARP) attention_k(iso_attention_args a)
{
    constexpr int NC = HD_MAX / WARP;
    __shared__ float qs[QT * HD_MAX], ks[KT * (HD_MAX + 1)], vs[KT * HD_MAX], ps[WARPS][KT];
    const int hd = a.head_dim, q0 = blockIdx.x * QT, tid = threadIdx.x, w = tid / WARP, lane = tid % WARP;
    /* Odd stride: when lane j reads element i of key row j, the 32 lanes hit 32 different banks. */
    const int ldks = hd | 1;
    const int64_t col = (int64_t)blockIdx.y * hd;

    for (int e = tid; e < QT * hd; e += blockDim.x) {
        int r = e / hd;
        qs[e] = q0 + r < a.Tq ? a.q[(int64_t)(q0 + r) * a.ldq + col + (e - r * hd)] : 0.0f;
    }
    float m[ROWS_PER_WARP], l[ROWS_PER_WARP], acc[ROWS_PER_WARP][NC];
#pragma unroll
    for (int rr = 0; rr < ROWS_PER_WARP; rr++) {
        m[rr] = -INFINITY, l[rr] = 0.0f;
#pragma unroll
        for (int c = 0; c < NC; c++)
            acc[rr][c] = 0.0f;
    }

    for (int k0 = 0; k0 < a.Tk; k0 += KT) {
        const int n = a.Tk - k0 < KT ? a.Tk - k0 : KT;
        __syncthreads(); /* the previous tile is consumed (and, the first time, q is loaded) */
        for (int e = tid; e < n * hd; e += blockDim.x) {
            int j = e / hd, i = e - j * hd;
            ks[j * ldks + i] = a.k[(int64_t)(k0 + j) * a.ldk + col + i];
            vs[e] = a.v[(int64_t)(k0 + j) * a.ldv + col + i];
        }
        __syncthreads();
        const float *kb = a.key_bias ? a.key_bias + k0 : nullptr;
#pragma unroll
        for (int rr = 0; rr < ROWS_PER_WARP; rr++) {
            const int r = w * ROWS_PER_WARP + rr;
            if (q0 + r < a.Tq) { /* the same for the whole warp */
                float part = iso_k_flash_scores_part(qs + r * hd, ks, ldks, kb, n, hd, a.scale, ps[w], lane, WARP);
                float alpha = iso_k_flash_rescale(&m[rr], warp_all_reduce(part, cu_max()));
                part = iso_k_part_softmax_exp(ps[w], nullptr, n, iso_k_exp_shift(m[rr]), lane, WARP);
                l[rr] = l[rr] * alpha + warp_all_reduce(part, cu_sum());
                __syncwarp(); /* every lane's p[j] is visible */
                iso_k_flash_acc_part(acc[rr], NC, ps[w], vs, hd, n, hd, alpha, lane, WARP);
                __syncwarp(); /* before the next row overwrites ps */
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < ROWS_PER_WARP; rr++) {
        const int r = w * ROWS_PER_WARP + rr;
        if (q0 + r < a.Tq)
            iso_k_flash_out_part(acc[rr], NC, l[rr], a.out + (int64_t)(q0 + r) * a.ldo + col, hd, lane, WARP);
    }
}

} // namespace

int cu_attention(iso_backend *be, const iso_attention_args *a)
{
    int rc = iso_k_attention_check(a, ISO_K_ATTN_MAX_HD);
    if (rc == ISO_OK && a->heads > ISO_K_ATTN_MAX_HEADS)
        rc = iso_error(ISO_EINVAL, "attention: %d heads, the CUDA backend takes at most %d", a->heads,
                       ISO_K_ATTN_MAX_HEADS);
    if (rc == ISO_OK)
        rc = cu_enter(be);
    if (rc || a->Tq == 0)
        return rc;
    dim3 grid((unsigned)((a->Tq + QT - 1) / QT), (unsigned)a->heads);
    cudaStream_t st = cu_of(be)->stream;
    if (a->head_dim <= 32)
        attention_k<32><<<grid, WARPS * WARP, 0, st>>>(*a);
    else if (a->head_dim <= 64)
        attention_k<64><<<grid, WARPS * WARP, 0, st>>>(*a);
    else
        attention_k<128><<<grid, WARPS * WARP, 0, st>>>(*a);
    return cu_launched("attention");
}
