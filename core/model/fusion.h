/* IsoFormer's aggregation: cross-attention blocks (queries from the DNA embedding, keys/values from another
 * modality, residual inside the block, no LayerNorm) and the two-layer expression head. */
#ifndef ISOFORMER_MODEL_FUSION_H
#define ISOFORMER_MODEL_FUSION_H

#include "backend/backend_impl.h"
#include "model/params.h"

typedef struct {
    const float *wq, *bq, *wk, *bk, *wv, *bv, *wd, *bd;
    int dim, other_dim, heads;
} iso_cross_attn;

/* Loads "<name>.{query,key,value,dense}.{weight,bias}" (params prefix + name). */
void iso_cross_attn_load(iso_params *p, iso_cross_attn *ca, const char *name, int dim, int other_dim, int heads);
/* y = h + Dense(MHA(Q = h, K = V = e)); h: rows x dim, e: n x other_dim, y may not alias h. */
int iso_cross_attn_forward(iso_backend *be, const iso_cross_attn *ca, const float *h, int rows, const float *e,
                           int n, float *y) ISO_RESULT;

typedef struct {
    const float *w1, *b1, *w2, *b2;
    int in, hidden, out;
    iso_act act;
} iso_head;

/* y (host, out floats) = W2 act(W1 v + b1) + b2 for v on the backend (in floats). */
int iso_head_forward(iso_backend *be, const iso_head *head, const float *v, float *y_host) ISO_RESULT;

#endif
