/* Which OpenBLAS kernels run. A DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU model when it loads, and one
 * older than the CPU falls back to pre-AVX2 kernels: Debian 12's 0.3.21 runs its Prescott (SSE3) sgemm on Emerald
 * Rapids (family 6 model 207), 59.5 GFLOP/s on 2 cores where the SkylakeX kernels do 304.6. OPENBLAS_CORETYPE
 * overrides the choice, but only at load, so the fix is a new process: the programs re-execute themselves. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "blas_core.h"
#include "isoformer/backend.h"

/* OpenBLAS's x86-64 core types without AVX2 kernels. Only these are replaced, so that a core this file does not
 * know (a newer OpenBLAS's) is always kept. */
static const char *const legacy_cores[] = {"Unknown",  "Katmai",   "Coppermine", "Northwood",    "Prescott",
                                           "Banias",   "Core2",    "Penryn",     "Dunnington",   "Nehalem",
                                           "Atom",     "Athlon",   "Opteron",    "Opteron_SSE3", "Barcelona",
                                           "Nano",     "Bobcat",   "Bulldozer",  "Piledriver",   "Steamroller",
                                           "Sandybridge", "Excavator"};

const char *iso_cpu_blas_core_for(const char *core, int has_avx512, int has_avx2_fma)
{
    int legacy = !core;
    for (size_t i = 0; core && i < sizeof legacy_cores / sizeof legacy_cores[0]; i++)
        legacy |= !strcasecmp(core, legacy_cores[i]);
    return !legacy ? NULL : has_avx512 ? "SkylakeX" : has_avx2_fma ? "Haswell" : NULL;
}

const char *iso_cpu_blas_core_wider(const char *core, int has_avx512, int has_avx2_fma)
{
    const char *replacement = iso_cpu_blas_core_for(core, has_avx512, has_avx2_fma);
    if (replacement)
        return replacement;
    return has_avx512 && (!strcasecmp(core, "Haswell") || !strcasecmp(core, "Zen")) ? "SkylakeX" : NULL;
}

/* What OpenBLAS's SkylakeX and Haswell kernels execute (the OS-enabled register state included). */
static void cpu_vector_features(int *avx512, int *avx2_fma)
{
    *avx512 = *avx2_fma = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    *avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
              __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    *avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
}

const char *iso_backend_cpu_blas_hint(void)
{
    if (getenv("OPENBLAS_CORETYPE"))
        return NULL; /* the user's choice */
    int avx512, avx2_fma;
    cpu_vector_features(&avx512, &avx2_fma);
    return iso_cpu_blas_core_for(openblas_get_corename(), avx512, avx2_fma);
}

const char *iso_cpu_blas_forced_narrower(void)
{
    const char *forced = getenv("OPENBLAS_CORETYPE");
    if (!forced)
        return NULL;
    int avx512, avx2_fma;
    cpu_vector_features(&avx512, &avx2_fma);
    return iso_cpu_blas_core_wider(openblas_get_corename(), avx512, avx2_fma);
}

int iso_backend_cpu_blas_reexec(char *const argv[])
{
    const char *core = iso_backend_cpu_blas_hint();
    if (!core)
        return ISO_OK;
    if (setenv("OPENBLAS_CORETYPE", core, 1) == 0) {
        execv("/proc/self/exe", argv);
        unsetenv("OPENBLAS_CORETYPE"); /* children would load OpenBLAS otherwise than this process */
    }
    return iso_error(ISO_EIO, "OpenBLAS runs its %s kernels on this CPU, which takes OPENBLAS_CORETYPE=%s: restarting "
                     "with it failed, going on with the slower kernels", openblas_get_corename(), core);
}
