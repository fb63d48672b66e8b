#include "model/enformer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/kernels.h"
#include "model/ops.h"
#include "model/params.h"

const iso_enformer_hparams iso_enformer_default_hparams = {
    .dim = 1536, .depth = 11, .heads = 8, .attn_dim_key = 64, .num_downsamples = 7, .dim_divisible_by = 128,
    .target_length = 896};

/* BatchNorm (eval) folded to y = x * scale + shift, followed by GELU, then a convolution. */
typedef struct {
    const float *scale, *shift; /* backend */
    const float *w, *b;         /* conv weight (taps-major for k > 1, [cout, cin] for k == 1; NULL if w_wino), bias */
    const float *w_wino;        /* k == 5 on a backend with Winograd transforms: [8][cout][cin], else NULL */
    int cin, cout, k;
} conv_block;

typedef struct {
    conv_block conv, res;   /* ConvBlock(din -> dout, k=5), Residual(ConvBlock(dout, 1)) */
    const float *pool_w;    /* AttentionPool logits [dout, dout] */
} tower_block;

typedef struct {
    const float *ln1_g, *ln1_b, *wq, *wk, *wv, *wo, *bo, *wrel;
    const float *content_bias, *pos_bias; /* [heads * dk] */
    const float *ln2_g, *ln2_b, *w1, *b1, *w2, *b2;
} tf_layer;

struct iso_enformer {
    iso_enformer_hparams hp;
    iso_backend *be;
    iso_params params;
    const float *stem_w, *stem_b; /* stem conv [half_dim, 4 * 15] (im2col order) */
    conv_block stem_res;
    const float *stem_pool;
    tower_block *tower;
    int *filters; /* num_downsamples entries: half_dim, tower outputs... */
    tf_layer *layer;
    conv_block final;
    int n_rel_features;
    int64_t stem_tile; /* positions per stem tile, even */
};

int iso_enformer_out_rows(const iso_enformer *m) { return m->hp.target_length; }
int iso_enformer_out_cols(const iso_enformer *m) { return 2 * m->hp.dim; }

int iso_enformer_hparams_from_config(const iso_config *c, iso_enformer_hparams *hp)
{
    int err = 0;
#define CFG(field) hp->field = iso_config_size(c, "enformer_" #field, hp->field, &err)
    CFG(dim);
    CFG(depth);
    CFG(heads);
    CFG(attn_dim_key);
    CFG(num_downsamples);
    CFG(dim_divisible_by);
    CFG(target_length);
#undef CFG
    if (err)
        return err;
    if (hp->dim <= 0 || hp->dim % 2 || hp->heads <= 0 || hp->dim % hp->heads || (hp->dim / hp->heads) % 6 ||
        hp->depth < 0 || hp->attn_dim_key <= 0 || hp->num_downsamples < 2 || hp->dim_divisible_by <= 0 ||
        hp->target_length <= 0)
        return iso_error(ISO_EFORMAT, "%s: enformer_* sizes are inconsistent (dim %d, heads %d, depth %d, "
                                      "num_downsamples %d): dim/heads must be a multiple of 6 and "
                                      "num_downsamples >= 2", iso_config_path(c), hp->dim, hp->heads, hp->depth,
                         hp->num_downsamples);
    return ISO_OK;
}

/* exponential_linspace_int(start, end, num, divisible_by) of enformer-pytorch, in double as Python does. */
static void filter_list(const iso_enformer_hparams *hp, int *filters)
{
    int half = hp->dim / 2, num = hp->num_downsamples - 1;
    filters[0] = half;
    double base = num > 1 ? exp(log((double)hp->dim / half) / (num - 1)) : 1.0;
    for (int i = 0; i < num; i++) {
        double x = half * pow(base, i) / hp->dim_divisible_by;
        /* Python's round(): half to even */
        double r = nearbyint(x);
        filters[i + 1] = (int)(r * hp->dim_divisible_by);
    }
}

/* Loads BatchNorm "<name>.0.*" folded into scale/shift, and the conv "<name>.2.*". */
static void load_conv_block(iso_params *p, conv_block *cb, int cin, int cout, int k, const char *name)
{
    const int64_t vin[] = {cin}, vout[] = {cout}, wshape[] = {cout, cin, k};
    const float *g = iso_param_host(p, 1, vin, "%s.0.weight", name);
    const float *b = iso_param_host(p, 1, vin, "%s.0.bias", name);
    const float *mean = iso_param_host(p, 1, vin, "%s.0.running_mean", name);
    const float *var = iso_param_host(p, 1, vin, "%s.0.running_var", name);
    const float *w = iso_param_host(p, 3, wshape, "%s.2.weight", name);
    float *scale = iso_param_scratch(p, (size_t)cin), *shift = iso_param_scratch(p, (size_t)cin);
    /* a 5-tap conv runs by Winograd where the backend has the transforms, at any precision (ops.h), so it needs
     * the transformed weight alone */
    const int wino = k == 5 && iso_conv1d_winograd_usable(p->be);
    float *w_dev = k > 1 ? iso_param_scratch(p, (size_t)(wino ? 8 : k) * cout * cin) : NULL;
    if (p->failed)
        return;
    for (int c = 0; c < cin; c++) {
        /* nn.BatchNorm1d eval: (x - mean) / sqrt(var + 1e-5) * gamma + beta */
        float inv = 1.0f / sqrtf(var[c] + 1e-5f);
        scale[c] = g[c] * inv;
        shift[c] = b[c] - mean[c] * g[c] * inv;
    }
    cb->scale = iso_param_upload(p, scale, (size_t)cin);
    cb->shift = iso_param_upload(p, shift, (size_t)cin);
    if (wino) {
        iso_conv1d_winograd_weights(w, cout, cin, w_dev);
        cb->w_wino = iso_param_upload(p, w_dev, (size_t)8 * cout * cin);
    } else {
        if (k > 1)
            iso_conv1d_taps_from_torch(w, cout, cin, k, w_dev);
        cb->w = iso_param_upload(p, k > 1 ? w_dev : w, (size_t)cout * cin * k);
    }
    cb->b = iso_param(p, 1, vout, "%s.2.bias", name);
    cb->cin = cin;
    cb->cout = cout;
    cb->k = k;
}

/* Section names: the direct module names, or the _trunk.N aliases when a checkpoint kept only those. */
typedef struct {
    const char *stem, *tower, *transformer, *final;
} sections;

int iso_enformer_load(const iso_weights *w, const char *prefix, const iso_enformer_hparams *hp, iso_backend *be,
                      iso_enformer **out)
{
    *out = NULL;
    iso_enformer *m = calloc(1, sizeof *m);
    if (!m)
        return iso_error(ISO_ENOMEM, "out of memory loading Enformer");
    m->hp = *hp;
    m->be = be;
    m->stem_tile = ISO_ENFORMER_STEM_TILE;
    m->n_rel_features = hp->dim / hp->heads;
    int n_tower = hp->num_downsamples - 1;
    m->filters = calloc((size_t)n_tower + 1, sizeof *m->filters);
    m->tower = calloc((size_t)n_tower, sizeof *m->tower);
    m->layer = calloc((size_t)(hp->depth ? hp->depth : 1), sizeof *m->layer);
    iso_params *p = &m->params;
    iso_params_init(p, w, prefix, be);
    if (!m->filters || !m->tower || !m->layer) {
        iso_enformer_free(m);
        return iso_error(ISO_ENOMEM, "out of memory loading Enformer");
    }
    filter_list(hp, m->filters);
    sections s = {"stem", "conv_tower", "transformer", "final_pointwise"};
    if (!iso_param_exists(p, "stem.0.weight") && iso_param_exists(p, "_trunk.1.0.weight"))
        s = (sections){"_trunk.1", "_trunk.2", "_trunk.4", "_trunk.6"};
    const int half = hp->dim / 2, dk = hp->attn_dim_key, H = hp->heads, D = hp->dim;
    char name[128];

    /* Stem conv (4 -> half, k=15) kept in torch order [half][4][15], which is the im2col column order. */
    const int64_t stem_shape[] = {half, 4, 15}, vhalf[] = {half}, pool_half[] = {half, half, 1, 1};
    m->stem_w = iso_param(p, 3, stem_shape, "%s.0.weight", s.stem);
    m->stem_b = iso_param(p, 1, vhalf, "%s.0.bias", s.stem);
    snprintf(name, sizeof name, "%s.1.fn", s.stem);
    load_conv_block(p, &m->stem_res, half, half, 1, name);
    m->stem_pool = iso_param(p, 4, pool_half, "%s.2.to_attn_logits.weight", s.stem);

    for (int i = 0; i < n_tower; i++) {
        int din = m->filters[i], dout = m->filters[i + 1];
        const int64_t pool[] = {dout, dout, 1, 1};
        snprintf(name, sizeof name, "%s.%d.0", s.tower, i);
        load_conv_block(p, &m->tower[i].conv, din, dout, 5, name);
        snprintf(name, sizeof name, "%s.%d.1.fn", s.tower, i);
        load_conv_block(p, &m->tower[i].res, dout, dout, 1, name);
        m->tower[i].pool_w = iso_param(p, 4, pool, "%s.%d.2.to_attn_logits.weight", s.tower, i);
    }
    if (!p->failed && m->filters[n_tower] != D) {
        int rc = iso_error(ISO_EFORMAT, "Enformer conv tower ends at %d channels, not dim %d: check enformer_dim "
                                        "and enformer_dim_divisible_by", m->filters[n_tower], D);
        iso_enformer_free(m);
        return rc;
    }

    const int64_t vD[] = {D}, qk[] = {H * dk, D}, vv[] = {D, D}, rel[] = {H * dk, m->n_rel_features},
                  bias4[] = {1, H, 1, dk}, ff1[] = {2 * D, D}, vff[] = {2 * D}, ff2[] = {D, 2 * D};
    for (int l = 0; l < hp->depth; l++) {
        tf_layer *L = &m->layer[l];
        const char *t = s.transformer;
        L->ln1_g = iso_param(p, 1, vD, "%s.%d.0.fn.0.weight", t, l);
        L->ln1_b = iso_param(p, 1, vD, "%s.%d.0.fn.0.bias", t, l);
        L->wq = iso_param(p, 2, qk, "%s.%d.0.fn.1.to_q.weight", t, l);
        L->wk = iso_param(p, 2, qk, "%s.%d.0.fn.1.to_k.weight", t, l);
        L->wv = iso_param(p, 2, vv, "%s.%d.0.fn.1.to_v.weight", t, l);
        L->wo = iso_param(p, 2, vv, "%s.%d.0.fn.1.to_out.weight", t, l);
        L->bo = iso_param(p, 1, vD, "%s.%d.0.fn.1.to_out.bias", t, l);
        L->wrel = iso_param(p, 2, rel, "%s.%d.0.fn.1.to_rel_k.weight", t, l);
        L->content_bias = iso_param(p, 4, bias4, "%s.%d.0.fn.1.rel_content_bias", t, l);
        L->pos_bias = iso_param(p, 4, bias4, "%s.%d.0.fn.1.rel_pos_bias", t, l);
        L->ln2_g = iso_param(p, 1, vD, "%s.%d.1.fn.0.weight", t, l);
        L->ln2_b = iso_param(p, 1, vD, "%s.%d.1.fn.0.bias", t, l);
        L->w1 = iso_param(p, 2, ff1, "%s.%d.1.fn.1.weight", t, l);
        L->b1 = iso_param(p, 1, vff, "%s.%d.1.fn.1.bias", t, l);
        L->w2 = iso_param(p, 2, ff2, "%s.%d.1.fn.4.weight", t, l);
        L->b2 = iso_param(p, 1, vD, "%s.%d.1.fn.4.bias", t, l);
    }
    snprintf(name, sizeof name, "%s.1", s.final);
    load_conv_block(p, &m->final, D, 2 * D, 1, name);
    if (p->failed) {
        int rc = iso_last_status();
        iso_error_context("loading Enformer (prefix '%s')", prefix);
        iso_enformer_free(m);
        return rc;
    }
    *out = m;
    return ISO_OK;
}

int iso_enformer_set_stem_tile(iso_enformer *m, int64_t positions)
{
    if (positions <= 0 || positions % 2)
        return iso_error(ISO_EINVAL, "Enformer stem tile of %lld positions: expected a positive even number (the "
                                     "attention pool takes pairs of positions)", (long long)positions);
    m->stem_tile = positions;
    return ISO_OK;
}

void iso_enformer_free(iso_enformer *m)
{
    if (!m)
        return;
    iso_params_free(&m->params);
    free(m->filters);
    free(m->tower);
    free(m->layer);
    free(m);
}

/* ---- relative positional features (enformer-pytorch, use_tf_gamma = false), float32 like torch ---- */

static float gamma_log_prob(float x, float concentration, float rate)
{
    /* xlogy(c - 1, x) - rate * x - (lgamma(c) - c * log(rate)); xlogy(0, 0) = 0 */
    float a = concentration - 1.0f;
    float xlogy = a == 0.0f ? 0.0f : (x == 0.0f ? -INFINITY * (a > 0 ? 1.0f : -1.0f) : a * logf(x));
    return xlogy - rate * x - (lgammaf(concentration) - concentration * logf(rate));
}

void iso_enformer_positional_features(int n, int n_features, float *out)
{
    const int per = n_features / 6, width = n_features, n_dist = 2 * n - 1;
    const float max_range = (float)(log((double)n) / log(2.0));
    const float stddev = (float)n / (2.0f * per), start_mean = (float)n / per;
    float *half_life = malloc(sizeof(float) * (size_t)per * 2), *mean = half_life + per;
    if (!half_life)
        return;
    for (int k = 0; k < per; k++) {
        /* torch.linspace in float32: start + k * step, step = (end - start) / (steps - 1) */
        float e = per > 1 ? 3.0f + (max_range - 3.0f) / (per - 1) * k : 3.0f;
        half_life[k] = powf(2.0f, e);
        mean[k] = per > 1 ? start_mean + ((float)n - start_mean) / (per - 1) * k : start_mean;
    }
    for (int j = 0; j < n_dist; j++) {
        int d = j - (n - 1);
        float ad = (float)abs(d), sign = (float)((d > 0) - (d < 0));
        float *row = out + (size_t)j * width;
        for (int k = 0; k < per; k++) {
            row[k] = expf(-(float)log(2.0) / half_life[k] * ad);
            row[per + k] = (powf(2.0f, (float)(k + 1)) - 1.0f) > ad ? 1.0f : 0.0f;
        }
        float mx = -INFINITY;
        for (int k = 0; k < per; k++) {
            float conc = (mean[k] / stddev) * (mean[k] / stddev), rate = mean[k] / (stddev * stddev);
            float v = expf(gamma_log_prob(ad, conc, rate)) + 1e-8f;
            row[2 * per + k] = v;
            if (v > mx)
                mx = v;
        }
        for (int k = 0; k < per; k++)
            row[2 * per + k] /= mx;
        for (int k = 0; k < 3 * per; k++)
            row[3 * per + k] = sign * row[k];
    }
    free(half_life);
}

/* ---- forward ---- */

/* y = conv(GELU(BN(x))) for a ConvBlock; tmp holds the activation (L x cin). */
static int run_conv_block(iso_backend *be, const conv_block *cb, const float *x, int64_t L, float *tmp, float *y)
{
    int rc = be->ops->affine_act(be, x, tmp, cb->scale, cb->shift, L, cb->cin, ISO_ACT_GELU_SIGMOID);
    if (rc != ISO_OK)
        return rc;
    if (cb->k == 1)
        return iso_linear(be, tmp, L, cb->cin, cb->w, cb->b, y, cb->cout, ISO_ACT_NONE);
    if (cb->w_wino)
        return iso_conv1d_winograd(be, tmp, L, cb->cin, cb->w_wino, cb->b, y, cb->cout, ISO_WINO_CHUNK_TILES);
    return iso_conv1d_same(be, tmp, L, cb->cin, cb->w, cb->b, cb->k, y, cb->cout);
}

/* x += ConvBlock(x) (k = 1); then pooled = AttentionPool(x). Its softmax over a pair of rows needs only the
 * logits' difference, (x[2i] - x[2i + 1]) W^T: a GEMM over half the rows. tmp, tmp2: L x d scratch. */
static int residual_and_pool(iso_backend *be, const conv_block *res, const float *pool_w, float *x, int64_t L,
                             int d, float *tmp, float *tmp2, float *pooled)
{
    int rc = run_conv_block(be, res, x, L, tmp, tmp2);
    if (rc == ISO_OK)
        rc = be->ops->axpy(be, x, tmp2, 1.0f, L * d);
    if (rc == ISO_OK)
        rc = be->ops->pair_diff(be, x, tmp, L / 2, d);
    if (rc == ISO_OK)
        rc = iso_linear(be, tmp, L / 2, d, pool_w, NULL, tmp2, d, ISO_ACT_NONE);
    if (rc == ISO_OK)
        rc = be->ops->attn_pool2(be, x, tmp2, pooled, L / 2, d);
    return rc;
}

/* The stem's k=15 conv over 4 channels as a GEMM per tile over im2col columns of the one-hot DNA (cols[T, 60],
 * iso_k_dna_im2col_at), built on the device where the backend can (the DNA uploaded once per window), else on
 * the host per tile. The 7-base halo comes from the DNA itself, so a tile needs nothing from its neighbours.
 *
 * The stem (conv k=15, Residual(ConvBlock k=1), AttentionPool) runs tile by tile, so its len x dim/2
 * activations, the largest of the trunk, never exist whole: every step is position-local apart from the conv's
 * halo and the pool's pairs, which even tiles keep together. Each tile's T/2 pooled rows go straight to pooled
 * (len/2 x dim/2). a, b, c: tile x dim/2 scratch. The element-wise ops give every row exactly as one pass over
 * the window would; a GEMM may round a row differently (OpenBLAS's blocking depends on the row count), by about
 * an ulp. */
static int run_stem(iso_enformer *m, const char *dna, int64_t len, int64_t tile, float *a, float *b, float *c,
                    float *pooled)
{
    enum { K = 15 };
    iso_backend *be = m->be;
    const int half = m->hp.dim / 2;
    const int on_device = iso_backend_supports_op(be, ISO_OP_DNA_IM2COL, NULL);
    const size_t cols_bytes = (size_t)tile * 4 * K * sizeof(float);
    float *cols_host = NULL, *cols = NULL;
    char *dna_dev = NULL;
    int rc = ISO_OK;
    if (on_device && (!(dna_dev = be->ops->alloc(be, (size_t)len)) || !(cols = be->ops->alloc(be, cols_bytes))))
        rc = iso_last_status();
    else if (on_device)
        rc = be->ops->upload(be, dna_dev, dna, (size_t)len);
    else if (!(cols_host = malloc(cols_bytes)))
        rc = iso_error(ISO_ENOMEM, "out of memory for the Enformer stem");
    else if (!(cols = be->ops->alloc(be, cols_bytes)))
        rc = iso_last_status();
    for (int64_t l0 = 0; l0 < len && rc == ISO_OK; l0 += tile) {
        int64_t T = len - l0 < tile ? len - l0 : tile;
        if (on_device) {
            rc = be->ops->dna_im2col(be, dna_dev, len, l0, T, K, cols);
        } else {
            for (int64_t e = 0; e < T * K; e++)
                iso_k_dna_im2col_at(dna, len, l0, K, cols_host, e);
            rc = be->ops->upload(be, cols, cols_host, (size_t)T * 4 * K * sizeof(float));
            if (rc == ISO_OK)
                rc = iso_backend_sync(be); /* cols_host is rewritten for the next tile */
        }
        if (rc == ISO_OK)
            rc = iso_linear(be, cols, T, 4 * K, m->stem_w, m->stem_b, a, half, ISO_ACT_NONE);
        if (rc == ISO_OK)
            rc = residual_and_pool(be, &m->stem_res, m->stem_pool, a, T, half, b, c, pooled + l0 / 2 * half);
    }
    free(cols_host);
    be->ops->free(be, cols);
    be->ops->free(be, dna_dev);
    return rc;
}

/* The window's length, and its bases: the stem's im2col (iso_k_dna_im2col_at, on the device too) reads A, C, G, T
 * as one-hot and anything else as N, so anything but those five is refused here. */
int iso_enformer_check_window(const iso_enformer *m, int64_t len)
{
    const iso_enformer_hparams *hp = &m->hp;
    int64_t factor = (int64_t)1 << hp->num_downsamples;
    if (len <= 0 || len % factor || len / factor < hp->target_length)
        return iso_error(ISO_EINVAL, "DNA window of %lld bp: Enformer needs a multiple of %lld bp giving at least "
                                     "%d positions (e.g. %lld bp)", (long long)len,
                         (long long)factor, hp->target_length, (long long)factor * hp->target_length);
    return ISO_OK;
}

static int check_dna(const iso_enformer *m, const char *dna, int64_t len)
{
    int rc = iso_enformer_check_window(m, len);
    if (rc != ISO_OK)
        return rc;
    for (int64_t i = 0; i < len; i++)
        if (!dna[i] || !strchr("ACGTN", dna[i]))
            return iso_error(ISO_EINVAL, "DNA window: base %lld is '%c', expected A, C, G, T or N", (long long)i,
                             dna[i]);
    return ISO_OK;
}

static int transformer_layer(iso_enformer *m, const tf_layer *L, float *x, int n, float **ws, const float *relk_in)
{
    iso_backend *be = m->be;
    const int D = m->hp.dim, H = m->hp.heads, dk = m->hp.attn_dim_key, dv = D / H, hk = H * dk;
    float *xn = ws[0], *q = ws[1], *qc = ws[2], *k = ws[3], *v = ws[4], *ctx = ws[5], *scores = ws[6],
          *rel = ws[7], *relk = ws[8], *ff = ws[9];
    int rc = be->ops->layernorm(be, x, xn, L->ln1_g, L->ln1_b, n, D, 1e-5f);
    /* q is scaled by dk^-0.5 before the content and position biases are added (enformer-pytorch). */
    iso_gemm_args gq = {.trans_b = 1, .m = n, .n = hk, .k = D, .alpha = 1.0f / sqrtf((float)dk), .a = xn, .lda = D,
                        .b = L->wq, .ldb = D, .c = q, .ldc = hk, .batch = 1};
    if (rc == ISO_OK) rc = be->ops->gemm(be, &gq);
    if (rc == ISO_OK) rc = iso_linear(be, xn, n, D, L->wk, NULL, k, hk, ISO_ACT_NONE);
    if (rc == ISO_OK) rc = iso_linear(be, xn, n, D, L->wv, NULL, v, D, ISO_ACT_NONE);
    if (rc == ISO_OK) rc = be->ops->copy(be, qc, q, (size_t)n * hk * sizeof(float));
    if (rc == ISO_OK) rc = be->ops->bias_act(be, qc, L->content_bias, n, hk, ISO_ACT_NONE);
    if (rc == ISO_OK) rc = be->ops->bias_act(be, q, L->pos_bias, n, hk, ISO_ACT_NONE);
    /* relk = P W_rel^T over the 2n-1 distances; rel[h] = (q + pos_bias)_h relk_h^T */
    if (rc == ISO_OK) rc = iso_linear(be, relk_in, 2 * n - 1, m->n_rel_features, L->wrel, NULL, relk, hk, ISO_ACT_NONE);
    iso_gemm_args gr = {.trans_b = 1, .m = n, .n = 2 * n - 1, .k = dk, .alpha = 1.0f, .a = q, .lda = hk,
                        .stride_a = dk, .b = relk, .ldb = hk, .stride_b = dk, .c = rel, .ldc = 2 * n,
                        .stride_c = (int64_t)n * 2 * n, .batch = H};
    if (rc == ISO_OK) rc = be->ops->gemm(be, &gr);
    iso_attn att = {.q = qc, .k = k, .v = v, .ldq = hk, .ldk = hk, .ldv = D, .out = ctx, .ldo = D, .Tq = n, .Tk = n,
                    .heads = H, .dq = dk, .dv = dv, .scale = 1.0f, .scores = scores, .lds = n /* rel_shift_add's */};
    if (rc == ISO_OK) rc = iso_attn_scores(be, &att);
    if (rc == ISO_OK) rc = be->ops->rel_shift_add(be, scores, rel, H, n);
    if (rc == ISO_OK) rc = iso_attn_softmax_apply(be, &att);
    if (rc == ISO_OK) rc = iso_linear(be, ctx, n, D, L->wo, L->bo, xn, D, ISO_ACT_NONE);
    if (rc == ISO_OK) rc = be->ops->axpy(be, x, xn, 1.0f, (int64_t)n * D);
    if (rc == ISO_OK) rc = be->ops->layernorm(be, x, xn, L->ln2_g, L->ln2_b, n, D, 1e-5f);
    if (rc == ISO_OK) rc = iso_linear(be, xn, n, D, L->w1, L->b1, ff, 2 * D, ISO_ACT_RELU);
    if (rc == ISO_OK) rc = iso_linear(be, ff, n, 2 * D, L->w2, L->b2, xn, D, ISO_ACT_NONE);
    if (rc == ISO_OK) rc = be->ops->axpy(be, x, xn, 1.0f, (int64_t)n * D);
    return rc;
}

/* The transformer layers on x (n x dim) in place; its workspace is spare (spare_floats of the backend's memory that
 * the tower no longer needs) where it fits, so that it adds nothing to the peak. */
static int run_transformer(iso_enformer *m, float *x, int n, float *spare, size_t spare_floats)
{
    iso_backend *be = m->be;
    const int D = m->hp.dim, H = m->hp.heads, hk = H * m->hp.attn_dim_key, F = m->n_rel_features;
    const size_t sizes[] = {(size_t)n * D,      (size_t)n * hk, (size_t)n * hk,          (size_t)n * hk,
                            (size_t)n * D,      (size_t)n * D,  (size_t)H * n * n,       (size_t)H * n * 2 * n,
                            (size_t)(2 * n - 1) * hk, (size_t)n * 2 * D, (size_t)(2 * n - 1) * F};
    enum { NBUF = sizeof sizes / sizeof sizes[0] };
    size_t total = 0;
    for (int i = 0; i < NBUF; i++)
        total += sizes[i];
    float *own = NULL, *base = spare;
    if (total > spare_floats)
        base = own = be->ops->alloc(be, total * sizeof(float));
    float *host_pos = malloc(sizes[NBUF - 1] * sizeof(float));
    if (!base || !host_pos) {
        if (own)
            be->ops->free(be, own);
        free(host_pos);
        return iso_error(ISO_ENOMEM, "out of memory for Enformer attention (%d positions)", n);
    }
    float *ws[NBUF];
    size_t off = 0;
    for (int i = 0; i < NBUF; off += sizes[i], i++)
        ws[i] = base + off;
    iso_enformer_positional_features(n, F, host_pos);
    int rc = be->ops->upload(be, ws[NBUF - 1], host_pos, sizes[NBUF - 1] * sizeof(float));
    for (int l = 0; l < m->hp.depth && rc == ISO_OK; l++)
        rc = transformer_layer(m, &m->layer[l], x, n, ws, ws[NBUF - 1]);
    free(host_pos);
    if (own)
        be->ops->free(be, own);
    return rc;
}

int iso_enformer_forward(iso_enformer *m, const char *dna, int64_t len, float *out)
{
    iso_backend *be = m->be;
    const iso_enformer_hparams *hp = &m->hp;
    int rc = check_dna(m, dna, len);
    if (rc != ISO_OK)
        return rc;
    const int half = hp->dim / 2, n_tower = hp->num_downsamples - 1;
    const int64_t tile = len < m->stem_tile ? len : m->stem_tile;
    /* Four buffers, each the largest activation of a tower stage (its input or output channels over its
     * positions; the first stage's input is the pooled stem, len/2 x dim/2) or a stem tile. */
    size_t cap = (size_t)tile * half;
    for (int i = 0; i < n_tower; i++) {
        int ch = m->filters[i] > m->filters[i + 1] ? m->filters[i] : m->filters[i + 1];
        if ((size_t)(len >> (i + 1)) * ch > cap)
            cap = (size_t)(len >> (i + 1)) * ch;
    }
    float *big = be->ops->alloc(be, 4 * cap * sizeof(float));
    if (!big)
        return iso_last_status();
    float *a = big, *b = a + cap, *c = b + cap, *d = c + cap;
    rc = run_stem(m, dna, len, tile, a, b, c, d);
    int64_t L = len / 2;
    float *x = d, *spare = a;
    for (int i = 0; i < n_tower && rc == ISO_OK; i++) {
        const tower_block *t = &m->tower[i];
        /* x (L x din) -> y = ConvBlock k=5 (L x dout) in spare; residual + pool into x's buffer. */
        rc = run_conv_block(be, &t->conv, x, L, b, spare);
        if (rc == ISO_OK)
            rc = residual_and_pool(be, &t->res, t->pool_w, spare, L, t->conv.cout, b, c, x);
        L /= 2;
    }
    /* Transformer on the n = L positions (rows = positions, as enformer-pytorch after its rearrange), in x = d,
     * with the buffers a, b and c before it as its workspace. */
    if (rc == ISO_OK)
        rc = run_transformer(m, x, (int)L, a, 3 * cap);
    /* Crop exactly as TargetLengthCrop: trim = (target - L) // 2 (floor), keep rows [-trim, L + trim). */
    int64_t trim = hp->target_length - L;
    trim = trim >= 0 ? trim / 2 : -((-trim + 1) / 2);
    int64_t rows = L + 2 * trim;
    if (rc == ISO_OK && rows != hp->target_length)
        rc = iso_error(ISO_EINVAL, "Enformer crop of %lld positions to %d is uneven", (long long)L, hp->target_length);
    if (rc == ISO_OK)
        rc = run_conv_block(be, &m->final, x + (-trim) * hp->dim, rows, b, out);
    if (rc == ISO_OK)
        rc = be->ops->bias_act(be, out, NULL, rows, 2 * hp->dim, ISO_ACT_GELU_SIGMOID);
    be->ops->free(be, big);
    return rc;
}

double iso_enformer_flops(const iso_enformer *m, int64_t len)
{
    const iso_enformer_hparams *hp = &m->hp;
    double f = 0, L = (double)len, half = hp->dim / 2.0;
    /* stem conv, residual 1x1, the pool logits' difference over L/2 rows (a tower conv counts its 5 taps, whether or
     * not a backend runs it by Winograd) */
    f += 2 * L * half * 60 + 3 * L * half * half;
    L /= 2;
    for (int i = 0; i < hp->num_downsamples - 1; i++) {
        double din = m->filters[i], dout = m->filters[i + 1];
        f += 2 * L * dout * din * 5 + 3 * L * dout * dout;
        L /= 2;
    }
    double n = L, D = hp->dim, hk = (double)hp->heads * hp->attn_dim_key, dv = D;
    double layer = 2 * n * D * hk * 2 + 2 * n * D * D * 2 + 2 * (2 * n - 1) * m->n_rel_features * hk +
                   2 * n * n * hk + 2 * n * (2 * n - 1) * hk + 2 * n * n * dv + 2 * 2 * n * D * 2 * D;
    f += hp->depth * layer;
    f += 2.0 * hp->target_length * D * 2 * D;
    return f;
}
