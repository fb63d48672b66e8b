/* bf16 GEMMs on the CPU through oneDNN (AVX512-BF16 or AMX): inputs rounded to bfloat16, products accumulated
 * and written in float32. Weights are rounded once, when a bf16 product first reads them, and found again by
 * address; other operands are rounded at each call. Built only with oneDNN (ISOFORMER_HAVE_ONEDNN); without
 * it, or on a CPU without bf16 instructions, cpu_bf16_create fails with a message saying so. */
#ifndef ISOFORMER_BACKEND_CPU_GEMM_BF16_H
#define ISOFORMER_BACKEND_CPU_GEMM_BF16_H

#include <stddef.h>
#include <stdint.h>

#include "isoformer/backend.h"

typedef struct cpu_bf16 cpu_bf16;

/* parts: the most threads that call cpu_bf16_matmul at once (each gets its own oneDNN stream). Logs (info) the
 * oneDNN version and the ISA it runs on. */
int cpu_bf16_create(int parts, cpu_bf16 **out) ISO_RESULT;
void cpu_bf16_destroy(cpu_bf16 *b);

/* Registers the weight host[0, count) until cpu_bf16_remove_weight(host); its bfloat16 copy is made when a bf16
 * product first reads it, so that weights only fp32 products read (Winograd's) take no copy. */
int cpu_bf16_add_weight(cpu_bf16 *b, const float *host, size_t count) ISO_RESULT;
void cpu_bf16_remove_weight(cpu_bf16 *b, const float *host);
/* The bfloat16 copy of p when p lies inside a registered weight (made on this first call, the caller's thread
 * alone using b), else NULL, with *status ISO_ENOMEM if the copy could not be made. */
const uint16_t *cpu_bf16_weight(cpu_bf16 *b, const float *p, int *status);

/* y[i] = x[i] rounded to bfloat16 (to nearest, ties to even; NaN stays NaN). */
void cpu_bf16_round(const float *restrict x, uint16_t *restrict y, size_t n);

/* C = alpha op(A) op(B) + beta C for one m x n block, A and B bfloat16 (row-major with leading dimensions, op
 * transposing when trans_*), C float32; runs on the calling thread, with stream `part`. */
int cpu_bf16_matmul(cpu_bf16 *b, int part, int trans_a, int trans_b, int m, int n, int k, float alpha,
                    const uint16_t *a, int lda, const uint16_t *bm, int ldb, float beta, float *c, int ldc) ISO_RESULT;

#endif
