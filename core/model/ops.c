#include "model/ops.h"

int iso_linear_packed(iso_backend *be, const float *x, const int *offsets, int n_seqs, int n_in, const float *w,
                      const float *b, float *y, int n_out, iso_act act)
{
    int rc = ISO_OK;
    for (int s = 0; s < n_seqs && rc == ISO_OK; s++) {
        iso_gemm_args g = {.trans_b = 1, .m = offsets[s + 1] - offsets[s], .n = n_out, .k = n_in, .alpha = 1.0f,
                           .beta = 0.0f, .a = x + (int64_t)offsets[s] * n_in, .lda = n_in, .b = w, .ldb = n_in,
                           .c = y + (int64_t)offsets[s] * n_out, .ldc = n_out, .batch = 1};
        rc = be->ops->gemm(be, &g);
    }
    const int64_t rows = offsets[n_seqs] - offsets[0];
    if (rc == ISO_OK && (b || act != ISO_ACT_NONE))
        rc = be->ops->bias_act(be, y + (int64_t)offsets[0] * n_out, b, rows, n_out, act);
    return rc;
}

int iso_linear(iso_backend *be, const float *x, int64_t rows, int n_in, const float *w, const float *b, float *y,
               int n_out, iso_act act)
{
    const int offsets[2] = {0, (int)rows};
    return iso_linear_packed(be, x, offsets, 1, n_in, w, b, y, n_out, act);
}

void iso_conv1d_taps_from_torch(const float *w, int cout, int cin, int k, float *w_taps)
{
    for (int o = 0; o < cout; o++)
        for (int i = 0; i < cin; i++)
            for (int j = 0; j < k; j++)
                w_taps[((int64_t)j * cout + o) * cin + i] = w[((int64_t)o * cin + i) * k + j];
}

int iso_conv1d_same(iso_backend *be, const float *x, int64_t L, int cin, const float *w_taps, const float *bias,
                    int k, float *y, int cout)
{
    int pad = k / 2, rc = ISO_OK;
    /* Tap j adds x[l + j - pad] W_j^T to output rows l whose input row lies inside [0, L). The centre tap (shift 0)
     * covers every row, so it goes first and writes y (beta 0): no pass zeroing y. Order: pad, 0..pad-1, pad+1... */
    for (int t = 0; t < k && rc == ISO_OK; t++) {
        int j = t == 0 ? pad : t <= pad ? t - 1 : t;
        int64_t shift = j - pad;
        int64_t l0 = shift < 0 ? -shift : 0;
        int64_t l1 = shift > 0 ? L - shift : L;
        if (l1 <= l0)
            continue;
        iso_gemm_args g = {.trans_b = 1, .m = (int)(l1 - l0), .n = cout, .k = cin, .alpha = 1.0f,
                           .beta = t == 0 ? 0.0f : 1.0f, .a = x + (l0 + shift) * cin, .lda = cin,
                           .b = w_taps + (int64_t)j * cout * cin, .ldb = cin,
                           .c = y + l0 * cout, .ldc = cout, .batch = 1};
        rc = be->ops->gemm(be, &g);
    }
    if (rc == ISO_OK && bias)
        rc = be->ops->bias_act(be, y, bias, L, cout, ISO_ACT_NONE);
    return rc;
}

int iso_conv1d_winograd_usable(const iso_backend *be)
{
    return be->ops->wino_in && be->ops->wino_out;
}

void iso_conv1d_winograd_weights(const float *w, int cout, int cin, float *u)
{
    /* G of the points 0, 1, -1, 1/2, -1/2, 2, -2, infinity (rows) by tap (columns). */
    static const double G[8][5] = {
        {-1, 0, 0, 0, 0},
        {-2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9},
        {-2.0 / 9, 2.0 / 9, -2.0 / 9, 2.0 / 9, -2.0 / 9},
        {32.0 / 45, 16.0 / 45, 8.0 / 45, 4.0 / 45, 2.0 / 45},
        {32.0 / 45, -16.0 / 45, 8.0 / 45, -4.0 / 45, 2.0 / 45},
        {1.0 / 90, 1.0 / 45, 2.0 / 45, 4.0 / 45, 8.0 / 45},
        {1.0 / 90, -1.0 / 45, 2.0 / 45, -4.0 / 45, 8.0 / 45},
        {0, 0, 0, 0, 1},
    };
    const int64_t plane = (int64_t)cout * cin;
    for (int64_t oc = 0; oc < plane; oc++)
        for (int i = 0; i < 8; i++) {
            double sum = 0.0;
            for (int j = 0; j < 5; j++)
                sum += G[i][j] * w[oc * 5 + j];
            u[i * plane + oc] = (float)sum;
        }
}

int iso_conv1d_winograd(iso_backend *be, const float *x, int64_t L, int cin, const float *u, const float *bias,
                        float *y, int cout, int chunk_tiles)
{
    const int64_t tiles = (L + 3) / 4;
    const int chunk = tiles < chunk_tiles ? (int)tiles : chunk_tiles;
    if (chunk <= 0)
        return chunk == 0 ? ISO_OK : iso_error(ISO_EINVAL, "Winograd conv: %d tiles per chunk", chunk_tiles);
    float *v = be->ops->alloc(be, (size_t)8 * chunk * cin * sizeof *v);
    float *m = v ? be->ops->alloc(be, (size_t)8 * chunk * cout * sizeof *m) : NULL;
    int rc = m ? ISO_OK : iso_last_status();
    for (int64_t t0 = 0; t0 < tiles && rc == ISO_OK; t0 += chunk) {
        const int n = tiles - t0 < chunk ? (int)(tiles - t0) : chunk;
        iso_gemm_args g = {.trans_b = 1, .m = n, .n = cout, .k = cin, .alpha = 1.0f, .beta = 0.0f,
                           .a = v, .lda = cin, .stride_a = (int64_t)n * cin,
                           .b = u, .ldb = cin, .stride_b = (int64_t)cout * cin,
                           .c = m, .ldc = cout, .stride_c = (int64_t)n * cout, .batch = 8, .fp32 = 1};
        rc = be->ops->wino_in(be, x, L, cin, t0, n, v);
        rc = rc ? rc : be->ops->gemm(be, &g);
        rc = rc ? rc : be->ops->wino_out(be, m, n, cout, t0, L, bias, y);
    }
    be->ops->free(be, m);
    be->ops->free(be, v);
    return rc;
}

int iso_attn_scores(iso_backend *be, const iso_attn *a)
{
    iso_gemm_args g = {.trans_b = 1, .m = a->Tq, .n = a->Tk, .k = a->dq, .alpha = a->scale, .beta = 0.0f,
                       .a = a->q, .lda = a->ldq, .stride_a = a->dq,
                       .b = a->k, .ldb = a->ldk, .stride_b = a->dq,
                       .c = a->scores, .ldc = a->lds, .stride_c = (int64_t)a->Tq * a->lds, .batch = a->heads};
    return be->ops->gemm(be, &g);
}

int iso_attn_softmax_apply(iso_backend *be, const iso_attn *a)
{
    int rc = be->ops->softmax(be, a->scores, (int64_t)a->heads * a->Tq, a->Tk, a->lds, a->key_bias);
    if (rc != ISO_OK)
        return rc;
    iso_gemm_args g = {.m = a->Tq, .n = a->dv, .k = a->Tk, .alpha = 1.0f, .beta = 0.0f,
                       .a = a->scores, .lda = a->lds, .stride_a = (int64_t)a->Tq * a->lds,
                       .b = a->v, .ldb = a->ldv, .stride_b = a->dv,
                       .c = a->out, .ldc = a->ldo, .stride_c = a->dv, .batch = a->heads};
    return be->ops->gemm(be, &g);
}

int iso_attention(iso_backend *be, const iso_attention_args *a)
{
    if (iso_backend_supports_op(be, ISO_OP_ATTENTION, a))
        return be->ops->attention(be, a);
    if (a->Tq <= 0)
        return a->Tq == 0 ? ISO_OK : iso_error(ISO_EINVAL, "attention: Tq=%d", a->Tq);
    /* Heads per group, then query rows per block, so that one block's scores fit the workspace. */
    const int lds = iso_attn_scores_ld(a->Tk);
    const int64_t budget = (int64_t)16 << 20, per_head = (int64_t)a->Tq * lds; /* floats */
    int hg = per_head >= budget ? 1 : (int)(budget / per_head < a->heads ? budget / per_head : a->heads);
    int qb = per_head >= budget ? (int)(budget / lds > 1 ? budget / lds : 1) : a->Tq;
    float *scores = be->ops->alloc(be, (size_t)hg * qb * lds * sizeof *scores);
    if (!scores)
        return iso_last_status();
    int rc = ISO_OK;
    for (int h0 = 0; h0 < a->heads && rc == ISO_OK; h0 += hg)
        for (int q0 = 0; q0 < a->Tq && rc == ISO_OK; q0 += qb) {
            int64_t col = (int64_t)h0 * a->head_dim;
            iso_attn b = {.q = a->q + (int64_t)q0 * a->ldq + col, .k = a->k + col, .v = a->v + col,
                          .ldq = a->ldq, .ldk = a->ldk, .ldv = a->ldv,
                          .out = a->out + (int64_t)q0 * a->ldo + col, .ldo = a->ldo,
                          .Tq = a->Tq - q0 < qb ? a->Tq - q0 : qb, .Tk = a->Tk,
                          .heads = a->heads - h0 < hg ? a->heads - h0 : hg, .dq = a->head_dim, .dv = a->head_dim,
                          .scale = a->scale, .key_bias = a->key_bias, .scores = scores, .lds = lds};
            rc = iso_attn_scores(be, &b);
            if (rc == ISO_OK)
                rc = iso_attn_softmax_apply(be, &b);
        }
    be->ops->free(be, scores);
    return rc;
}
