/* The CPU backend's row kernels (backend/kernels.h), compiled once per instruction set by tests/unit/CMakeLists.txt
 * (KERNEL_VARIANT names the copy): the backend's target_clones pick one of these at run time, so the determinism
 * contract (docs/model.md) needs every copy to round exactly alike. */
#include "backend/kernels.h"

#define PASTE2(a, b) a##b
#define PASTE(a, b) PASTE2(a, b)

/* Runs every host row kernel on rows x n inputs and writes their results to out, 12 n floats per row. */
void PASTE(kernels_, KERNEL_VARIANT)(const float *x, const float *gamma, const float *beta, const float *key_bias,
                                     int rows, int n, float *out)
{
    static const iso_act acts[] = {ISO_ACT_RELU, ISO_ACT_GELU_ERF, ISO_ACT_GELU_SIGMOID, ISO_ACT_SILU};
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (int64_t)r * n;
        float *o = out + (int64_t)r * 12 * n;
        iso_k_layernorm_row(xr, o, gamma, beta, n, 1e-5f);
        o += n;
        for (int i = 0; i < n; i++)
            o[i] = 8.0f * xr[i];
        iso_k_softmax_row(o, n, key_bias);
        o += n;
        for (int a = 0; a < 4; a++, o += n)
            for (int i = 0; i < n; i++)
                o[i] = iso_k_act(xr[i] * gamma[i] + beta[i], acts[a]);
        for (int i = 0; i < n; i++)
            o[i] = iso_k_exp(20.0f * xr[i]);
        o += n;
        for (int i = 0; i + 1 < n; i++)
            o[i] = iso_k_attn_pool2(xr[i], xr[i + 1], gamma[i] * xr[i] - beta[i] * xr[i + 1]);
        o += n;
        for (int i = 0; i < n / 2; i++) {
            float c, s, lo = xr[i], hi = xr[i + n / 2];
            iso_k_rotary_angle(r, i, n, &c, &s);
            iso_k_rotary_apply(&lo, &hi, c, s);
            o[i] = lo;
            o[i + n / 2] = hi;
        }
        o += n;
        for (int i = 0; i < n; i++)
            o[i] = iso_k_act(xr[i], ISO_ACT_SILU) * gamma[i];
        o += n;
        iso_k_layernorm_row(o - n, o, gamma, beta, n, 1e-12f);
        o += n;
        for (int i = 0; i < n; i++)
            o[i] = xr[i] * gamma[i] + beta[i] * xr[i];
    }
}
