#include "model/esm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/ops.h"
#include "model/params.h"

typedef struct {
    const float *ln1_g, *ln1_b, *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo;
    const float *ln2_g, *ln2_b, *w1, *b1, *w2, *b2;
} esm_layer;

struct iso_esm {
    iso_esm_hparams hp;
    iso_backend *be;
    iso_params params;
    const float *word_emb; /* host: embeddings are gathered on the host, then uploaded */
    esm_layer *layer;
    const float *lnf_g, *lnf_b;
};

const iso_esm_hparams iso_esm2_150m_hparams = {.hidden = 640, .layers = 30, .heads = 20, .intermediate = 2560,
                                                .vocab = 33, .ffn_bias = 1, .token_dropout = 1,
                                                .mask_token_id = 32, .ln_eps = 1e-12f};
/* NT-v2 250M multi-species; 16 heads is inferred (architecture spec 2.3), the rest is in config.json. */
const iso_esm_hparams iso_ntv2_250m_hparams = {.hidden = 768, .layers = 24, .heads = 16, .intermediate = 3072,
                                               .vocab = 4107, .glu_ffn = 1, .mask_token_id = 2, .ln_eps = 1e-12f};

int iso_esm_hparams_from_config(const iso_config *c, const char *p, iso_esm_hparams *hp)
{
    int err = 0;
    char key[128];
#define CFG_INT(field, name)                                                                                     \
    (snprintf(key, sizeof key, "%s%s", p, name), hp->field = iso_config_size(c, key, hp->field, &err))
    CFG_INT(hidden, "hidden_size");
    CFG_INT(layers, "num_hidden_layers");
    CFG_INT(heads, "num_attention_heads");
    CFG_INT(intermediate, "intermediate_size");
    CFG_INT(vocab, "vocab_size");
    CFG_INT(mask_token_id, "mask_token_id");
#undef CFG_INT
    snprintf(key, sizeof key, "%sadd_bias_fnn", p);
    hp->ffn_bias = iso_config_bool(c, key, hp->ffn_bias, &err);
    snprintf(key, sizeof key, "%stoken_dropout", p);
    hp->token_dropout = iso_config_bool(c, key, hp->token_dropout, &err);
    snprintf(key, sizeof key, "%slayer_norm_eps", p);
    hp->ln_eps = (float)iso_config_num(c, key, hp->ln_eps, &err);
    if (err)
        return err;
    if (hp->hidden <= 0 || hp->heads <= 0 || hp->hidden % hp->heads || (hp->hidden / hp->heads) % 2 ||
        hp->layers <= 0 || hp->intermediate <= 0 || hp->vocab <= 0)
        return iso_error(ISO_EFORMAT, "%s: %s* sizes are inconsistent (hidden %d, heads %d, layers %d, "
                                      "intermediate %d, vocab %d): hidden must split into heads of even size",
                         iso_config_path(c), p, hp->hidden, hp->heads, hp->layers, hp->intermediate, hp->vocab);
    if (!(hp->ln_eps > 0) || !isfinite(hp->ln_eps))
        return iso_error(ISO_EFORMAT, "%s: \"%slayer_norm_eps\" is %g: expected a small positive number",
                         iso_config_path(c), p, (double)hp->ln_eps);
    return ISO_OK;
}

int iso_esm_load(const iso_weights *w, const char *prefix, const iso_esm_hparams *hp, iso_backend *be,
                 iso_esm **out)
{
    *out = NULL;
    iso_esm *m = calloc(1, sizeof *m);
    esm_layer *layers = calloc((size_t)hp->layers, sizeof *layers);
    if (!m || !layers) {
        free(m);
        free(layers);
        return iso_error(ISO_ENOMEM, "out of memory loading the encoder at '%s'", prefix);
    }
    m->hp = *hp;
    m->be = be;
    m->layer = layers;
    iso_params *p = &m->params;
    iso_params_init(p, w, prefix, be);
    const int64_t d = hp->hidden, f = hp->intermediate, f_in = hp->glu_ffn ? 2 * f : f;
    const int64_t emb[] = {hp->vocab, d}, dd[] = {d, d}, vd[] = {d}, w1s[] = {f_in, d}, b1s[] = {f_in},
                  w2s[] = {d, f};
    m->word_emb = iso_param_host(p, 2, emb, "embeddings.word_embeddings.weight");
    for (int i = 0; i < hp->layers; i++) {
        esm_layer *L = &m->layer[i];
#define ATT(field, suffix, nd, shape) L->field = iso_param(p, nd, shape, "encoder.layer.%d.attention." suffix, i)
        ATT(ln1_g, "LayerNorm.weight", 1, vd);
        ATT(ln1_b, "LayerNorm.bias", 1, vd);
        ATT(wq, "self.query.weight", 2, dd);
        ATT(bq, "self.query.bias", 1, vd);
        ATT(wk, "self.key.weight", 2, dd);
        ATT(bk, "self.key.bias", 1, vd);
        ATT(wv, "self.value.weight", 2, dd);
        ATT(bv, "self.value.bias", 1, vd);
        ATT(wo, "output.dense.weight", 2, dd);
        ATT(bo, "output.dense.bias", 1, vd);
#undef ATT
        L->ln2_g = iso_param(p, 1, vd, "encoder.layer.%d.LayerNorm.weight", i);
        L->ln2_b = iso_param(p, 1, vd, "encoder.layer.%d.LayerNorm.bias", i);
        L->w1 = iso_param(p, 2, w1s, "encoder.layer.%d.intermediate.dense.weight", i);
        L->w2 = iso_param(p, 2, w2s, "encoder.layer.%d.output.dense.weight", i);
        if (hp->ffn_bias) {
            L->b1 = iso_param(p, 1, b1s, "encoder.layer.%d.intermediate.dense.bias", i);
            L->b2 = iso_param(p, 1, vd, "encoder.layer.%d.output.dense.bias", i);
        }
    }
    m->lnf_g = iso_param(p, 1, vd, "encoder.emb_layer_norm_after.weight");
    m->lnf_b = iso_param(p, 1, vd, "encoder.emb_layer_norm_after.bias");
    if (p->failed) {
        int rc = iso_last_status();
        iso_esm_free(m);
        return rc;
    }
    *out = m;
    return ISO_OK;
}

int iso_esm_hidden(const iso_esm *m) { return m->hp.hidden; }

double iso_esm_flops(const iso_esm *m, int T)
{
    double d = m->hp.hidden, f = m->hp.intermediate, t = T;
    double ffn = m->hp.glu_ffn ? 2 * t * d * 2 * f + 2 * t * f * d : 4 * t * d * f;
    return m->hp.layers * (8 * t * d * d + ffn + 4 * t * t * d);
}

void iso_esm_free(iso_esm *m)
{
    if (!m)
        return;
    iso_params_free(&m->params);
    free(m->layer);
    free(m);
}

int iso_esm_check_ids(const iso_esm *m, const int32_t *ids, int T)
{
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= m->hp.vocab)
            return iso_error(ISO_EINVAL, "token %d at position %d is outside the vocabulary (%d ids)", ids[t], t,
                             m->hp.vocab);
    return ISO_OK;
}

/* Embedding rows gathered on the host, with ESM-2's token-dropout rescale per sequence (no <mask> in inference
 * inputs normally, so the factor is the constant 1 - 0.15 * 0.8). */
static int embed(iso_esm *m, const int32_t *ids, const int *offsets, int n_seqs, float *x)
{
    const int d = m->hp.hidden, total = offsets[n_seqs];
    float *host = malloc((size_t)total * d * sizeof *host);
    if (!host)
        return iso_error(ISO_ENOMEM, "out of memory embedding %d tokens", total);
    for (int s = 0; s < n_seqs; s++) {
        const int t0 = offsets[s], T = offsets[s + 1] - t0;
        int n_mask = 0;
        if (iso_esm_check_ids(m, ids + t0, T) != ISO_OK) {
            free(host);
            return n_seqs > 1 ? iso_error_context("packed sequence %d", s) : iso_last_status();
        }
        for (int t = t0; t < t0 + T; t++) {
            n_mask += ids[t] == m->hp.mask_token_id;
            memcpy(host + (size_t)t * d, m->word_emb + (size_t)ids[t] * d, (size_t)d * sizeof *host);
        }
        if (!m->hp.token_dropout)
            continue;
        const float scale = (float)((1.0 - 0.15 * 0.8) / (1.0 - (double)n_mask / T));
        for (int t = t0; t < t0 + T; t++)
            for (int c = 0; c < d; c++)
                host[(size_t)t * d + c] = ids[t] == m->hp.mask_token_id ? 0.0f : host[(size_t)t * d + c] * scale;
    }
    int rc = m->be->ops->upload(m->be, x, host, (size_t)total * d * sizeof *host);
    free(host);
    return rc;
}

/* The position-dependent part of a layer, per sequence: rotary with positions from 0 and attention within the
 * sequence's own rows (so no sequence attends to another, and nothing is padded). */
static int attend(iso_esm *m, float *q, float *k, float *v, float *ctx, const int *offsets, int n_seqs)
{
    iso_backend *be = m->be;
    const int d = m->hp.hidden, H = m->hp.heads, dh = d / H;
    int rc = ISO_OK;
    for (int s = 0; s < n_seqs && rc == ISO_OK; s++) {
        const size_t r0 = (size_t)offsets[s] * d;
        const int T = offsets[s + 1] - offsets[s];
        /* HF ESM scales q before rotary; rotary is linear, so scaling inside the score GEMM is the same. */
        rc = be->ops->rotary(be, q + r0, T, H, dh, d);
        if (rc == ISO_OK) rc = be->ops->rotary(be, k + r0, T, H, dh, d);
        iso_attention_args att = {.q = q + r0, .k = k + r0, .v = v + r0, .ldq = d, .ldk = d, .ldv = d,
                                  .out = ctx + r0, .ldo = d, .Tq = T, .Tk = T, .heads = H, .head_dim = dh,
                                  .scale = 1.0f / sqrtf((float)dh)};
        if (rc == ISO_OK) rc = iso_attention(be, &att);
    }
    return rc;
}

int iso_esm_forward_packed(iso_esm *m, const int32_t *ids, const int *offsets, int n_seqs, float *out)
{
    iso_backend *be = m->be;
    const iso_esm_hparams *hp = &m->hp;
    const int d = hp->hidden, f = hp->intermediate;
    const int f_in = hp->glu_ffn ? 2 * f : f;
    if (n_seqs <= 0 || offsets[0] != 0)
        return iso_error(ISO_EINVAL, "packed encoder input: expected at least one sequence and offsets[0] = 0, "
                                     "got %d sequences", n_seqs);
    for (int s = 0; s < n_seqs; s++)
        if (offsets[s + 1] <= offsets[s])
            return iso_error(ISO_EINVAL, "packed encoder input: sequence %d has no tokens (offsets %d, %d)", s,
                             offsets[s], offsets[s + 1]);
    /* Row-wise stages run once over all rows, GEMMs once per sequence (iso_linear_packed), so that a sequence
     * gets the same bits in any batch. One allocation for all activations, reused by every layer. */
    const int T = offsets[n_seqs];
    size_t n_x = (size_t)T * d, n_ff = (size_t)T * f_in + (hp->glu_ffn ? (size_t)T * f : 0);
    float *buf = be->ops->alloc(be, (5 * n_x + n_ff) * sizeof(float));
    if (!buf)
        return iso_last_status();
    float *x = out, *h = buf, *q = h + n_x, *k = q + n_x, *v = k + n_x, *ctx = v + n_x, *ff = ctx + n_x,
          *gated = ff + (size_t)T * f_in;
    int rc = embed(m, ids, offsets, n_seqs, x);
    for (int i = 0; i < hp->layers && rc == ISO_OK; i++) {
        const esm_layer *L = &m->layer[i];
        rc = be->ops->layernorm(be, x, h, L->ln1_g, L->ln1_b, T, d, hp->ln_eps);
        if (rc == ISO_OK) rc = iso_linear_packed(be, h, offsets, n_seqs, d, L->wq, L->bq, q, d, ISO_ACT_NONE);
        if (rc == ISO_OK) rc = iso_linear_packed(be, h, offsets, n_seqs, d, L->wk, L->bk, k, d, ISO_ACT_NONE);
        if (rc == ISO_OK) rc = iso_linear_packed(be, h, offsets, n_seqs, d, L->wv, L->bv, v, d, ISO_ACT_NONE);
        if (rc == ISO_OK) rc = attend(m, q, k, v, ctx, offsets, n_seqs);
        if (rc == ISO_OK) rc = iso_linear_packed(be, ctx, offsets, n_seqs, d, L->wo, L->bo, h, d, ISO_ACT_NONE);
        if (rc == ISO_OK) rc = be->ops->axpy(be, x, h, 1.0f, n_x);
        if (rc == ISO_OK) rc = be->ops->layernorm(be, x, h, L->ln2_g, L->ln2_b, T, d, hp->ln_eps);
        if (hp->glu_ffn) {
            if (rc == ISO_OK) rc = iso_linear_packed(be, h, offsets, n_seqs, d, L->w1, L->b1, ff, f_in, ISO_ACT_NONE);
            if (rc == ISO_OK) rc = be->ops->glu_silu(be, ff, gated, T, f);
            if (rc == ISO_OK) rc = iso_linear_packed(be, gated, offsets, n_seqs, f, L->w2, L->b2, h, d, ISO_ACT_NONE);
        } else {
            if (rc == ISO_OK) rc = iso_linear_packed(be, h, offsets, n_seqs, d, L->w1, L->b1, ff, f, ISO_ACT_GELU_ERF);
            if (rc == ISO_OK) rc = iso_linear_packed(be, ff, offsets, n_seqs, f, L->w2, L->b2, h, d, ISO_ACT_NONE);
        }
        if (rc == ISO_OK) rc = be->ops->axpy(be, x, h, 1.0f, n_x);
    }
    if (rc == ISO_OK)
        rc = be->ops->layernorm(be, x, x, m->lnf_g, m->lnf_b, T, d, hp->ln_eps);
    be->ops->free(be, buf);
    return rc;
}

int iso_esm_forward(iso_esm *m, const int32_t *ids, int T, float *out)
{
    if (T <= 0)
        return iso_error(ISO_EINVAL, "encoder input has no tokens");
    const int offsets[2] = {0, T};
    return iso_esm_forward_packed(m, ids, offsets, 1, out);
}

int iso_esm_pack_count(const int *lengths, int count, int64_t max_tokens)
{
    int n = 0;
    for (int64_t total = 0; n < count && (n == 0 || total + lengths[n] <= max_tokens); n++)
        total += lengths[n];
    return n;
}
