/* fp32 attention in register tiles (attention_tiles.c). Private to the CPU backend and its tests. */
#ifndef ISOFORMER_BACKEND_CPU_ATTENTION_TILES_H
#define ISOFORMER_BACKEND_CPU_ATTENTION_TILES_H

#include <stddef.h>

#include "isoformer/backend.h"

/* Keys per FMA chain of an output: past it, the chains' sums are added in double (the softmax's block, too). */
#define ISO_CPU_ATTENTION_KEY_BLOCK 1024

typedef enum { ISO_CPU_TILES_NONE, ISO_CPU_TILES_AVX2, ISO_CPU_TILES_AVX512 } iso_cpu_tiles;

/* Whether this CPU runs the tiles of isa for head_dim: AVX-512 F and a multiple of 16, or AVX2 + FMA and a
 * multiple of 8. */
int iso_cpu_attention_tiles_run(iso_cpu_tiles isa, int head_dim);

/* The tiles the backend takes for head_dim on this CPU, the widest that runs; ISO_CPU_TILES_NONE: the sgemm path. */
iso_cpu_tiles iso_cpu_attention_tiles_for(int head_dim);

/* Floats of scratch one thread needs for iso_cpu_attention_tiles with Tk keys of head_dim, for any isa. */
size_t iso_cpu_attention_tiles_scratch(int Tk, int head_dim);

/* Rows [i0, i0 + m) of head h of out = softmax(scale q k^T + key_bias) v (iso_attention_args), on the tiles of isa
 * (one that runs here). pack: the head's keys and values are not yet in scratch from the previous call with the
 * same scratch and isa (a caller that runs the query blocks of one head in a row packs them once). Every output
 * element is a sum in an order this code fixes, the same for every isa: scores one FMA chain over the head dims,
 * scaled; the softmax row of kernels.h; outputs one FMA chain per ISO_CPU_ATTENTION_KEY_BLOCK keys (their sums in
 * double in key order where Tk is larger), times the softmax's 1 / sum. */
void iso_cpu_attention_tiles(iso_cpu_tiles isa, const iso_attention_args *a, int h, int i0, int m, int pack,
                             float *scratch);

#endif
