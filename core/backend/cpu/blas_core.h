/* Which OpenBLAS kernels run (blas_core.c). Private to the CPU backend and its tests. */
#ifndef ISOFORMER_BACKEND_CPU_BLAS_CORE_H
#define ISOFORMER_BACKEND_CPU_BLAS_CORE_H

/* The OPENBLAS_CORETYPE that a CPU with these features calls for when OpenBLAS chose core (its
 * openblas_get_corename(); NULL as "Unknown"), or NULL to keep core. */
const char *iso_cpu_blas_core_for(const char *core, int has_avx512, int has_avx2_fma);
/* As iso_cpu_blas_core_for, and also SkylakeX for OpenBLAS's AVX2 cores (Haswell, Zen) on an AVX-512 CPU: the
 * wider kernels such a CPU runs, for a core someone set (OPENBLAS_CORETYPE), not one OpenBLAS chose. */
const char *iso_cpu_blas_core_wider(const char *core, int has_avx512, int has_avx2_fma);
/* Where OPENBLAS_CORETYPE is set and names kernels narrower than this CPU runs, the core with its widest ones;
 * else NULL. */
const char *iso_cpu_blas_forced_narrower(void);

#endif
