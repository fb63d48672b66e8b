/* The Enformer trunk (enformer-pytorch layout) as IsoFormer's DNA encoder: conv stem, conv tower with
 * attention pooling, transformer with relative-position attention, crop and final pointwise block; the output
 * is `return_only_embeddings` (target_length x 2*dim). The species heads are never used. */
#ifndef ISOFORMER_MODEL_ENFORMER_H
#define ISOFORMER_MODEL_ENFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend_impl.h"
#include "isoformer/weights.h"

typedef struct {
    int dim, depth, heads, attn_dim_key, num_downsamples, dim_divisible_by, target_length;
} iso_enformer_hparams;

/* The published model: 1536, 11, 8, 64, 7, 128, 896. */
extern const iso_enformer_hparams iso_enformer_default_hparams;
/* Overrides from config.json keys enformer_dim, enformer_depth, enformer_heads, enformer_attn_dim_key,
 * enformer_num_downsamples, enformer_dim_divisible_by, enformer_target_length; checks consistency. */
int iso_enformer_hparams_from_config(const iso_config *c, iso_enformer_hparams *hp) ISO_RESULT;

typedef struct iso_enformer iso_enformer;
/* prefix: the tensor-name prefix before "stem.0.weight" (the "_trunk.N." aliases are accepted too). */
int iso_enformer_load(const iso_weights *w, const char *prefix, const iso_enformer_hparams *hp, iso_backend *be,
                      iso_enformer **out) ISO_RESULT;
/* dna: len bases of ACGTN (upper case; N is an all-zero one-hot); len must be a multiple of
 * 2^num_downsamples leaving at least target_length positions. out: backend buffer of
 * iso_enformer_out_rows() x iso_enformer_out_cols() floats. */
int iso_enformer_forward(iso_enformer *m, const char *dna, int64_t len, float *out) ISO_RESULT;
/* Whether a window of len bp fits the trunk (a multiple of 2^downsamples giving at least target_length rows). */
int iso_enformer_check_window(const iso_enformer *m, int64_t len) ISO_RESULT;
/* Positions per stem tile (positive, even; default ISO_ENFORMER_STEM_TILE). The stem runs tile by tile so its
 * window x dim/2 activations never exist whole; results depend on the tile only through the GEMMs' rounding
 * (about an ulp). Lowered by tests to make several tiles of a small window. */
enum { ISO_ENFORMER_STEM_TILE = 16384 };
int iso_enformer_set_stem_tile(iso_enformer *m, int64_t positions) ISO_RESULT;
int iso_enformer_out_rows(const iso_enformer *m);
int iso_enformer_out_cols(const iso_enformer *m);
/* The FLOPs of one forward over len bp (the tower's convs counted tap by tap). */
double iso_enformer_flops(const iso_enformer *m, int64_t len);
void iso_enformer_free(iso_enformer *m);
/* Host-side relative positional features (2n-1 distances x n_features), as enformer-pytorch computes them at
 * run time (use_tf_gamma = false). Exposed for tests. */
void iso_enformer_positional_features(int n, int n_features, float *out);

#endif
