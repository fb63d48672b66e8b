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
    int pad = k / 2;
    int rc = be->ops->memset0(be, y, (size_t)L * cout * sizeof(float));
    /* Tap j adds x[l + j - pad] W_j^T to output rows l whose input row lies inside [0, L). */
    for (int j = 0; j < k && rc == ISO_OK; j++) {
        int64_t shift = j - pad;
        int64_t l0 = shift < 0 ? -shift : 0;
        int64_t l1 = shift > 0 ? L - shift : L;
        if (l1 <= l0)
            continue;
        iso_gemm_args g = {.trans_b = 1, .m = (int)(l1 - l0), .n = cout, .k = cin, .alpha = 1.0f, .beta = 1.0f,
                           .a = x + (l0 + shift) * cin, .lda = cin,
                           .b = w_taps + (int64_t)j * cout * cin, .ldb = cin,
                           .c = y + l0 * cout, .ldc = cout, .batch = 1};
        rc = be->ops->gemm(be, &g);
    }
    if (rc == ISO_OK && bias)
        rc = be->ops->bias_act(be, y, bias, L, cout, ISO_ACT_NONE);
    return rc;
}

int iso_attn_scores(iso_backend *be, const iso_attn *a)
{
    iso_gemm_args g = {.trans_b = 1, .m = a->Tq, .n = a->Tk, .k = a->dq, .alpha = a->scale, .beta = 0.0f,
                       .a = a->q, .lda = a->ldq, .stride_a = a->dq,
                       .b = a->k, .ldb = a->ldk, .stride_b = a->dq,
                       .c = a->scores, .ldc = a->Tk, .stride_c = (int64_t)a->Tq * a->Tk, .batch = a->heads};
    return be->ops->gemm(be, &g);
}

int iso_attn_softmax_apply(iso_backend *be, const iso_attn *a)
{
    int rc = be->ops->softmax(be, a->scores, (int64_t)a->heads * a->Tq, a->Tk, a->key_bias);
    if (rc != ISO_OK)
        return rc;
    iso_gemm_args g = {.m = a->Tq, .n = a->dv, .k = a->Tk, .alpha = 1.0f, .beta = 0.0f,
                       .a = a->scores, .lda = a->Tk, .stride_a = (int64_t)a->Tq * a->Tk,
                       .b = a->v, .ldb = a->ldv, .stride_b = a->dv,
                       .c = a->out, .ldc = a->ldo, .stride_c = a->dv, .batch = a->heads};
    return be->ops->gemm(be, &g);
}
