/* Which OpenBLAS kernels run (blas_core.c). Private to the CPU backend and its tests. */
#ifndef ISOFORMER_BACKEND_CPU_BLAS_CORE_H
#define ISOFORMER_BACKEND_CPU_BLAS_CORE_H

/* The OPENBLAS_CORETYPE that a CPU with these features calls for when OpenBLAS chose core (its
 * openblas_get_corename(); NULL as "Unknown"), or NULL to keep core. */
const char *iso_cpu_blas_core_for(const char *core, int has_avx512, int has_avx2_fma);

#endif
