/* Element-wise ops: each is a functor around its iso_k_*_at function in kernels.h, run one thread per output
 * element by cu_for_each. */
#include "backend/cuda/cuda_internal.h"

namespace {

struct BiasAct {
    float *x;
    const float *bias;
    int cols;
    iso_act act;
    __device__ void operator()(int64_t e) const { iso_k_bias_act_at(x, bias, cols, act, e); }
};

struct AffineAct {
    const float *x;
    float *y;
    const float *scale, *shift;
    int cols;
    iso_act act;
    __device__ void operator()(int64_t e) const { iso_k_affine_act_at(x, y, scale, shift, cols, act, e); }
};

struct Axpy {
    float *y;
    const float *x;
    float alpha;
    __device__ void operator()(int64_t e) const { iso_k_axpy_at(y, x, alpha, e); }
};

struct Rotary {
    float *x;
    int heads, head_dim, ld;
    __device__ void operator()(int64_t e) const { iso_k_rotary_at(x, heads, head_dim, ld, e); }
};

struct GluSilu {
    const float *x;
    float *y;
    int F;
    __device__ void operator()(int64_t e) const { iso_k_glu_silu_at(x, y, F, e); }
};

struct PairDiff {
    const float *x;
    float *y;
    int d;
    __device__ void operator()(int64_t e) const { iso_k_pair_diff_at(x, y, d, e); }
};

struct AttnPool2 {
    const float *x, *z;
    float *y;
    int d;
    __device__ void operator()(int64_t e) const { iso_k_attn_pool2_at(x, z, y, d, e); }
};

struct RelShiftAdd {
    float *logits;
    const float *rel;
    int n;
    __device__ void operator()(int64_t e) const { iso_k_rel_shift_add_at(logits, rel, n, e); }
};

struct DnaIm2col {
    const char *dna;
    int64_t len, l0;
    int k;
    float *cols;
    __device__ void operator()(int64_t e) const { iso_k_dna_im2col_at(dna, len, l0, k, cols, e); }
};

} // namespace

int cu_dna_im2col(iso_backend *be, const char *dna, int64_t len, int64_t l0, int64_t T, int k, float *cols)
{
    return cu_for_each(be, T * k, DnaIm2col{dna, len, l0, k, cols}, "dna_im2col");
}

int cu_bias_act(iso_backend *be, float *x, const float *bias, int64_t rows, int cols, iso_act act)
{
    return cu_for_each(be, rows * cols, BiasAct{x, bias, cols, act}, "bias_act");
}

int cu_affine_act(iso_backend *be, const float *x, float *y, const float *scale, const float *shift, int64_t rows,
                  int cols, iso_act act)
{
    return cu_for_each(be, rows * cols, AffineAct{x, y, scale, shift, cols, act}, "affine_act");
}

int cu_axpy(iso_backend *be, float *y, const float *x, float alpha, int64_t n)
{
    return cu_for_each(be, n, Axpy{y, x, alpha}, "axpy");
}

int cu_rotary(iso_backend *be, float *x, int T, int heads, int head_dim, int ld)
{
    if (head_dim % 2 || ld < heads * head_dim)
        return iso_error(ISO_EINVAL, "rotary: expected an even head_dim and ld >= heads * head_dim, got head_dim=%d "
                                     "heads=%d ld=%d",
                         head_dim, heads, ld);
    return cu_for_each(be, (int64_t)T * heads * (head_dim / 2), Rotary{x, heads, head_dim, ld}, "rotary");
}

int cu_glu_silu(iso_backend *be, const float *x, float *y, int64_t rows, int F)
{
    return cu_for_each(be, rows * F, GluSilu{x, y, F}, "glu_silu");
}

int cu_pair_diff(iso_backend *be, const float *x, float *y, int64_t L, int d)
{
    return cu_for_each(be, L * d, PairDiff{x, y, d}, "pair_diff");
}

int cu_attn_pool2(iso_backend *be, const float *x, const float *z, float *y, int64_t L, int d)
{
    return cu_for_each(be, L * d, AttnPool2{x, z, y, d}, "attn_pool2");
}

int cu_rel_shift_add(iso_backend *be, float *logits, const float *rel, int heads, int n)
{
    return cu_for_each(be, (int64_t)heads * n * n, RelShiftAdd{logits, rel, n}, "rel_shift_add");
}
