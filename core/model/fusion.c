#include "model/fusion.h"

#include <math.h>

#include "model/ops.h"

void iso_cross_attn_load(iso_params *p, iso_cross_attn *ca, const char *name, int dim, int other_dim, int heads)
{
    const int64_t qd[] = {dim, dim}, kv[] = {dim, other_dim}, v[] = {dim};
    ca->wq = iso_param(p, 2, qd, "%s.query.weight", name);
    ca->bq = iso_param(p, 1, v, "%s.query.bias", name);
    ca->wk = iso_param(p, 2, kv, "%s.key.weight", name);
    ca->bk = iso_param(p, 1, v, "%s.key.bias", name);
    ca->wv = iso_param(p, 2, kv, "%s.value.weight", name);
    ca->bv = iso_param(p, 1, v, "%s.value.bias", name);
    ca->wd = iso_param(p, 2, qd, "%s.dense.weight", name);
    ca->bd = iso_param(p, 1, v, "%s.dense.bias", name);
    ca->dim = dim;
    ca->other_dim = other_dim;
    ca->heads = heads;
}

int iso_cross_attn_forward(iso_backend *be, const iso_cross_attn *ca, const float *h, int rows, const float *e,
                           int n, float *y)
{
    const int D = ca->dim, H = ca->heads, dh = D / H;
    size_t nq = (size_t)rows * D, nkv = (size_t)n * D;
    float *buf = be->ops->alloc(be, (2 * nq + 2 * nkv) * sizeof(float));
    if (!buf)
        return iso_last_status();
    float *q = buf, *ctx = q + nq, *k = ctx + nq, *v = k + nkv;
    /* Only real key tokens are passed, so the padding mask of the reference has nothing to remove. */
    iso_attention_args att = {.q = q, .k = k, .v = v, .ldq = D, .ldk = D, .ldv = D, .out = ctx, .ldo = D,
                              .Tq = rows, .Tk = n, .heads = H, .head_dim = dh, .scale = 1.0f / sqrtf((float)dh)};
    int rc = iso_linear(be, h, rows, D, ca->wq, ca->bq, q, D, ISO_ACT_NONE);
    if (rc == ISO_OK) rc = iso_linear(be, e, n, ca->other_dim, ca->wk, ca->bk, k, D, ISO_ACT_NONE);
    if (rc == ISO_OK) rc = iso_linear(be, e, n, ca->other_dim, ca->wv, ca->bv, v, D, ISO_ACT_NONE);
    if (rc == ISO_OK) rc = iso_attention(be, &att);
    if (rc == ISO_OK) rc = iso_linear(be, ctx, rows, D, ca->wd, ca->bd, y, D, ISO_ACT_NONE);
    if (rc == ISO_OK) rc = be->ops->axpy(be, y, h, 1.0f, (int64_t)nq);
    be->ops->free(be, buf);
    return rc;
}

int iso_head_forward(iso_backend *be, const iso_head *head, const float *v, float *y_host)
{
    float *buf = be->ops->alloc(be, (size_t)(head->hidden + head->out) * sizeof(float));
    if (!buf)
        return iso_last_status();
    float *hid = buf, *y = buf + head->hidden;
    int rc = iso_linear(be, v, 1, head->in, head->w1, head->b1, hid, head->hidden, head->act);
    if (rc == ISO_OK) rc = iso_linear(be, hid, 1, head->hidden, head->w2, head->b2, y, head->out, ISO_ACT_NONE);
    if (rc == ISO_OK) rc = be->ops->download(be, y_host, y, (size_t)head->out * sizeof(float));
    if (rc == ISO_OK) rc = iso_backend_sync(be);
    be->ops->free(be, buf);
    return rc;
}
