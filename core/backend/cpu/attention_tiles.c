/* fp32 attention in register tiles, for the CPU backend's attention op: AVX-512 F for head widths of a multiple
 * of 16, AVX2 + FMA for multiples of 8 (backend_cpu.c runs two sgemm calls per block otherwise). Why not sgemm: at
 * the encoders' head width of 64, q k^T is a product with an inner dimension of 64, where OpenBLAS spends much of
 * its time packing, and p v packs the whole probability block again; attention reached 40-47% of the sgemm rate on
 * Emerald Rapids. Here a head's keys are transposed once into panels of a vector of keys and its values copied
 * together, scores come from a few query rows x 2 vectors of keys of accumulators (one load of keys per QK_ROWS
 * FMAs), the softmax runs on 48 rows at a time while they are in cache, and p v from rows x vectors of output
 * columns (attention_tiles_isa.h holds the tiles, included below once per instruction set).
 *
 * Every output is a chain of FMAs in an order fixed here (scores over the head dims in order, outputs over the
 * keys in order), whatever the vector width: the bits do not depend on threads, blocking of query rows, the CPU
 * model or the instruction set (tested: AVX2 and AVX-512 tiles give the same bits). */
#include "backend/cpu/attention_tiles.h"

#include <stdint.h>
#include <string.h>

#include "backend/kernels.h"

enum {
    WIDEST = 16,    /* floats in the widest vector: the scratch's key panels are sized for it */
    ROW_GROUP = 48, /* rows whose scores are made, normalised and used together (a multiple of every tile's rows) */
};

size_t iso_cpu_attention_tiles_scratch(int Tk, int head_dim)
{
    size_t keys = (size_t)(Tk + WIDEST - 1) / WIDEST * WIDEST; /* at least any narrower set's panels */
    return 2 * keys * (size_t)head_dim + ROW_GROUP * keys + ROW_GROUP; /* a multiple of 16: whole cache lines */
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define ISA "avx512f"
#define V __m512
#define LANES 16
#define V_ZERO _mm512_setzero_ps
#define V_LOAD _mm512_loadu_ps
#define V_STORE _mm512_storeu_ps
#define V_SET1 _mm512_set1_ps
#define V_FMA _mm512_fmadd_ps
#define V_MUL _mm512_mul_ps
#define QK_ROWS 8 /* 16 accumulators of the 32 registers */
#define PV_ROWS 6 /* x 4 vectors: 24 */
#define PV_VECS 4
#define TILES(name) name##_avx512
#include "backend/cpu/attention_tiles_isa.h"

#define ISA "avx2,fma"
#define V __m256
#define LANES 8
#define V_ZERO _mm256_setzero_ps
#define V_LOAD _mm256_loadu_ps
#define V_STORE _mm256_storeu_ps
#define V_SET1 _mm256_set1_ps
#define V_FMA _mm256_fmadd_ps
#define V_MUL _mm256_mul_ps
#define QK_ROWS 6 /* 12 accumulators, 2 vectors of keys and a broadcast: 15 of the 16 registers */
#define PV_ROWS 6 /* x 2 vectors: 12 */
#define PV_VECS 2
#define TILES(name) name##_avx2
#include "backend/cpu/attention_tiles_isa.h"

int iso_cpu_attention_tiles_run(iso_cpu_tiles isa, int head_dim)
{
    __builtin_cpu_init();
    switch (isa) {
    case ISO_CPU_TILES_AVX512:
        return head_dim % 16 == 0 && __builtin_cpu_supports("avx512f");
    case ISO_CPU_TILES_AVX2:
        return head_dim % 8 == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
        return 0;
    }
}

void iso_cpu_attention_tiles(iso_cpu_tiles isa, const iso_attention_args *a, int h, int i0, int m, int pack,
                             float *scratch)
{
    if (isa == ISO_CPU_TILES_AVX512)
        attention_avx512(a, h, i0, m, pack, scratch);
    else if (isa == ISO_CPU_TILES_AVX2)
        attention_avx2(a, h, i0, m, pack, scratch);
}

#else /* no x86-64 vector extensions in this compiler: the sgemm path runs */

int iso_cpu_attention_tiles_run(iso_cpu_tiles isa, int head_dim)
{
    (void)isa, (void)head_dim;
    return 0;
}

void iso_cpu_attention_tiles(iso_cpu_tiles isa, const iso_attention_args *a, int h, int i0, int m, int pack,
                             float *scratch)
{
    (void)isa, (void)a, (void)h, (void)i0, (void)m, (void)pack, (void)scratch;
}

#endif

iso_cpu_tiles iso_cpu_attention_tiles_for(int head_dim)
{
    if (iso_cpu_attention_tiles_run(ISO_CPU_TILES_AVX512, head_dim))
        return ISO_CPU_TILES_AVX512;
    if (iso_cpu_attention_tiles_run(ISO_CPU_TILES_AVX2, head_dim))
        return ISO_CPU_TILES_AVX2;
    return ISO_CPU_TILES_NONE;
}
