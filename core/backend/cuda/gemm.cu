/* GEMMs through cuBLAS on fp32 buffers; be->precision picks the compute type: FP32 exact, TF32 or BF16 tensor
 * cores (inputs rounded, fp32 accumulation); a GEMM that asks for fp32 gets it. The row-major to column-major
 * mapping is in gemm_colmajor.h. */
#include <stdio.h>

#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/gemm_colmajor.h"

static cublasComputeType_t compute_type(iso_precision p)
{
    switch (p) {
    case ISO_PREC_TF32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    case ISO_PREC_BF16: return CUBLAS_COMPUTE_32F_FAST_16BF;
    default: return CUBLAS_COMPUTE_32F;
    }
}

int cu_gemm(iso_backend *be, const iso_gemm_args *g)
{
    iso_colmajor_gemm cm = {};
    int rc = iso_gemm_colmajor(g, &cm);
    if (rc || cm.m == 0 || cm.n == 0 || cm.batch == 0)
        return rc;
    if ((rc = cu_enter(be)))
        return rc;
    const iso_precision precision = g->fp32 ? ISO_PREC_FP32 : be->precision;
    cublasStatus_t st = cublasGemmStridedBatchedEx(
        cu_of(be)->cublas, cm.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, cm.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, cm.m,
        cm.n, cm.k, &g->alpha, cm.a, CUDA_R_32F, cm.lda, cm.stride_a, cm.b, CUDA_R_32F, cm.ldb, cm.stride_b, &g->beta,
        cm.c, CUDA_R_32F, cm.ldc, cm.stride_c, cm.batch, compute_type(precision), CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS) {
        char call[128];
        snprintf(call, sizeof call, "cublasGemmStridedBatchedEx(m=%d, n=%d, k=%d, batch=%d)", g->m, g->n, g->k,
                 g->batch);
        return cu_blas_fail(st, call);
    }
    return ISO_OK;
}
