/* Shared by the CUDA backend's translation units: the backend state, error mapping and the op entry points that
 * backend_cuda.cu puts in the ops table. Kernels stay static inside their .cu. */
#ifndef ISOFORMER_BACKEND_CUDA_INTERNAL_H
#define ISOFORMER_BACKEND_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "backend/backend_impl.h"
#include "backend/kernels.h"

/* Device pointer -> size of every live allocation (activations and weights), for the accounting in free. */
typedef struct {
    void **ptr;
    size_t *size;
    size_t cap, len; /* cap is a power of two; linear probing */
} cu_size_table;

/* Weights go to the device through two pinned buffers of this size (allocated at the first weight). */
#define CU_STAGE_BYTES ((size_t)16 << 20)

typedef struct {
    int device;
    cudaStream_t stream;
    cublasHandle_t cublas;
    size_t weight_bytes; /* weights are counted apart from the activations in bytes_in_use */
    cu_size_table sizes;
    cudaMemPool_t pool;      /* the activations' stream-ordered pool, this backend's own (NULL: none on device) */
    char *staging;           /* 2 x CU_STAGE_BYTES pinned host memory, or NULL */
    cudaEvent_t staged[2];   /* recorded after the copy out of each half */
    int unpinned;            /* pinning the staging failed: weights go up by pageable copies */
} cu_backend;

static inline cu_backend *cu_of(iso_backend *be) { return (cu_backend *)be->impl; }

/* ISO_EDEVICE (ISO_ENOMEM for allocation failures) naming the failed call and CUDA's explanation. */
int cu_fail(cudaError_t err, const char *call);
int cu_blas_fail(cublasStatus_t st, const char *call);
#define CU_TRY(call)                                                                                              \
    do {                                                                                                          \
        cudaError_t cu_err_ = (call);                                                                             \
        if (cu_err_ != cudaSuccess)                                                                               \
            return cu_fail(cu_err_, #call);                                                                       \
    } while (0)
/* After a kernel launch: configuration errors are reported now, faults in the kernel at the next sync. */
int cu_launched(const char *kernel);
/* Makes the backend's device current for this host thread (ops may come from a worker thread). */
int cu_enter(iso_backend *be);

/* Element-wise launches: one thread per element in a grid-stride loop, calling f(e) (a functor around an
 * iso_k_*_at function of kernels.h). */
template <class F> static __global__ void cu_for_each_k(int64_t n, F f)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x)
        f(e);
}

template <class F> static int cu_for_each(iso_backend *be, int64_t n, F f, const char *kernel)
{
    enum { THREADS = 256 };
    int rc = cu_enter(be);
    if (rc || n <= 0)
        return rc;
    cu_for_each_k<<<iso_k_grid_blocks(n, THREADS), THREADS, 0, cu_of(be)->stream>>>(n, f);
    return cu_launched(kernel);
}

/* The combine steps of the reduction trees (block_reduce in reduce.cu, warp_all_reduce in attention.cu). */
struct cu_sum {
    __device__ float operator()(float a, float b) const { return a + b; }
};
struct cu_max {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

/* Ops, one family per .cu. */
int cu_gemm(iso_backend *be, const iso_gemm_args *g);
int cu_bias_act(iso_backend *be, float *x, const float *bias, int64_t rows, int cols, iso_act act);
int cu_affine_act(iso_backend *be, const float *x, float *y, const float *scale, const float *shift, int64_t rows,
                  int cols, iso_act act);
int cu_axpy(iso_backend *be, float *y, const float *x, float alpha, int64_t n);
int cu_rotary(iso_backend *be, float *x, int T, int heads, int head_dim, int ld);
int cu_glu_silu(iso_backend *be, const float *x, float *y, int64_t rows, int F);
int cu_pair_diff(iso_backend *be, const float *x, float *y, int64_t L, int d);
int cu_attn_pool2(iso_backend *be, const float *x, const float *z, float *y, int64_t L, int d);
int cu_rel_shift_add(iso_backend *be, float *logits, const float *rel, int heads, int n);
int cu_mean_rows(iso_backend *be, const float *x, float *y, int64_t r0, int64_t r1, int cols);
int cu_layernorm(iso_backend *be, const float *x, float *y, const float *gamma, const float *beta, int64_t rows,
                 int cols, float eps);
int cu_softmax(iso_backend *be, float *x, int64_t rows, int cols, int64_t ld, const float *key_bias);
int cu_attention(iso_backend *be, const iso_attention_args *a);
int cu_dna_im2col(iso_backend *be, const char *dna, int64_t len, int64_t l0, int64_t T, int k, float *cols);

#endif
