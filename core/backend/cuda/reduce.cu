/* Reductions: LayerNorm and softmax with a block per row (the partition and combine tree of kernels.h), and the
 * column means of mean_rows with a thread per column. */
#include "backend/cuda/cuda_internal.h"

namespace {

/* The tree of kernels.h over the block's partials: p[t] = op(p[t], p[t + s]) for s = nt/2 .. 1, the steps
 * s >= 32 in shared memory, the last five by warp shuffles (lane t reads lane t + s). Every thread gets the
 * result; sh (ISO_K_ROW_MAX_THREADS floats) is free again on return. */
template <class Op> __device__ float block_reduce(float v, float *sh, Op op)
{
    int t = threadIdx.x;
    sh[t] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s >= 32; s >>= 1) {
        if (t < s)
            sh[t] = op(sh[t], sh[t + s]);
        __syncthreads();
    }
    if (t < 32) {
        v = sh[t];
        for (int s = 16; s > 0; s >>= 1)
            v = op(v, __shfl_down_sync(0xffffffffu, v, s));
        if (t == 0)
            sh[0] = v;
    }
    __syncthreads();
    v = sh[0];
    __syncthreads();
    return v;
}

__global__ void layernorm_k(const float *x, float *y, const float *g, const float *b, int64_t rows, int n, float eps)
{
    __shared__ float sh[ISO_K_ROW_MAX_THREADS];
    int t = threadIdx.x, nt = blockDim.x;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * n;
        float mean = block_reduce(iso_k_part_sum(xr, n, t, nt), sh, cu_sum()) / (float)n;
        float sqdev = block_reduce(iso_k_part_sqdev(xr, n, mean, t, nt), sh, cu_sum());
        iso_k_layernorm_part(xr, y + r * n, g, b, n, mean, iso_k_layernorm_inv_std(sqdev, n, eps), t, nt);
    }
}

__global__ void softmax_k(float *x, int64_t rows, int n, int64_t ld, const float *key_bias)
{
    __shared__ float sh[ISO_K_ROW_MAX_THREADS];
    int t = threadIdx.x, nt = blockDim.x;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        float *xr = x + r * ld;
        float max = block_reduce(iso_k_part_max_biased(xr, key_bias, n, t, nt), sh, cu_max());
        float sum = block_reduce(iso_k_part_softmax_exp(xr, key_bias, n, iso_k_exp_shift(max), t, nt), sh, cu_sum());
        iso_k_part_scale(xr, n, iso_k_inv_sum(sum), t, nt);
    }
}

struct MeanCol {
    const float *x;
    float *y;
    int64_t r0, r1;
    int cols;
    __device__ void operator()(int64_t c) const { y[c] = iso_k_mean_col(x, r0, r1, cols, (int)c); }
};

} // namespace

int cu_layernorm(iso_backend *be, const float *x, float *y, const float *gamma, const float *beta, int64_t rows,
                 int cols, float eps)
{
    int rc = cu_enter(be);
    if (rc || rows <= 0)
        return rc;
    int nt = iso_k_row_threads(cols);
    layernorm_k<<<iso_k_grid_blocks(rows, 1), nt, 0, cu_of(be)->stream>>>(x, y, gamma, beta, rows, cols, eps);
    return cu_launched("layernorm");
}

int cu_softmax(iso_backend *be, float *x, int64_t rows, int cols, int64_t ld, const float *key_bias)
{
    int rc = cu_enter(be);
    if (rc || rows <= 0)
        return rc;
    int nt = iso_k_row_threads(cols);
    softmax_k<<<iso_k_grid_blocks(rows, 1), nt, 0, cu_of(be)->stream>>>(x, rows, cols, ld, key_bias);
    return cu_launched("softmax");
}

int cu_mean_rows(iso_backend *be, const float *x, float *y, int64_t r0, int64_t r1, int cols)
{
    if (r1 <= r0)
        return iso_error(ISO_EINVAL, "mean_rows: empty row range [%lld, %lld)", (long long)r0, (long long)r1);
    return cu_for_each(be, cols, MeanCol{x, y, r0, r1, cols}, "mean_rows");
}
