/* Row-major iso_gemm_args as one column-major (BLAS/cuBLAS) call. A row-major matrix with leading dimension ld is
 * its transpose in column-major order, so C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T: the operands swap,
 * m and n swap, and each keeps its own transpose flag and leading dimension. Plain C, so the host tests execute the
 * mapping with a reference column-major GEMM. Also included by C++ (gemm.cu): no designated initializers. */
#ifndef ISOFORMER_BACKEND_CUDA_GEMM_COLMAJOR_H
#define ISOFORMER_BACKEND_CUDA_GEMM_COLMAJOR_H

#include "isoformer/backend.h"

typedef struct {
    int trans_a, trans_b; /* op of the first and second column-major operand */
    int m, n, k;
    const float *a; int lda; long long stride_a;
    const float *b; int ldb; long long stride_b;
    float *c; int ldc; long long stride_c;
    int batch;
} iso_colmajor_gemm;

static inline int iso_gemm_ld_check(const char *what, int ld, int need)
{
    if (ld < (need > 1 ? need : 1))
        return iso_error(ISO_EINVAL, "gemm: leading dimension of %s is %d, expected at least %d (the row length)",
                         what, ld, need);
    return ISO_OK;
}

/* Fills *cm; ISO_EINVAL for negative sizes or leading dimensions shorter than a row. */
static inline int iso_gemm_colmajor(const iso_gemm_args *g, iso_colmajor_gemm *cm)
{
    if (g->m < 0 || g->n < 0 || g->k < 0 || g->batch < 0)
        return iso_error(ISO_EINVAL, "gemm: expected non-negative sizes, got m=%d n=%d k=%d batch=%d", g->m, g->n,
                         g->k, g->batch);
    int rc;
    /* Row-major A is m x k (k x m when transposed), B is k x n (n x k), C is m x n. */
    if ((rc = iso_gemm_ld_check("A", g->lda, g->trans_a ? g->m : g->k)) ||
        (rc = iso_gemm_ld_check("B", g->ldb, g->trans_b ? g->k : g->n)) ||
        (rc = iso_gemm_ld_check("C", g->ldc, g->n)))
        return rc;
    cm->trans_a = g->trans_b;
    cm->trans_b = g->trans_a;
    cm->m = g->n;
    cm->n = g->m;
    cm->k = g->k;
    cm->a = g->b, cm->lda = g->ldb, cm->stride_a = g->stride_b;
    cm->b = g->a, cm->ldb = g->lda, cm->stride_b = g->stride_a;
    cm->c = g->c, cm->ldc = g->ldc, cm->stride_c = g->stride_c;
    cm->batch = g->batch;
    return ISO_OK;
}

#endif
