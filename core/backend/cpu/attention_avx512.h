/* fp32 attention in AVX-512 register tiles (attention_avx512.c). Private to the CPU backend and its tests. */
#ifndef ISOFORMER_BACKEND_CPU_ATTENTION_AVX512_H
#define ISOFORMER_BACKEND_CPU_ATTENTION_AVX512_H

#include <stddef.h>

#include "isoformer/backend.h"

/* Whether this CPU and head width take the tiles: AVX-512 F and head_dim a multiple of 16. */
int iso_cpu_attention_avx512_usable(int head_dim);

/* Floats of scratch one thread needs for iso_cpu_attention_avx512 with Tk keys of head_dim. */
size_t iso_cpu_attention_avx512_scratch(int Tk, int head_dim);

/* Rows [i0, i0 + m) of head h of out = softmax(scale q k^T + key_bias) v (iso_attention_args). pack: the head's
 * keys and values are not yet in scratch from the previous call with the same scratch (a caller that runs the
 * query blocks of one head in a row packs them once). Every output element is a sum in an order this code fixes. */
void iso_cpu_attention_avx512(const iso_attention_args *a, int h, int i0, int m, int pack, float *scratch);

#endif
