/* The CUDA kernels' logic, executed on the host: every op's kernels.h code (the functions the CUDA kernels call),
 * driven the way the kernels drive it (one call per element; for the row reductions, nt threads' partials
 * combined by the same fixed tree as block_reduce in reduce.cu), and the row-major to cuBLAS mapping of the GEMM
 * run through a column-major reference GEMM. Each is compared with a plain double-precision reference written
 * from the op's definition in backend.h. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "backend/backend_impl.h"
#include "backend/cuda/gemm_colmajor.h"
#include "backend/kernels.h"

static uint64_t rng_state;

static float frand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

static float *rand_vec(size_t n, float scale, float offset)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++)
        v[i] = offset + scale * frand();
    return v;
}

/* Asserts |got - ref| <= atol + rtol |ref| element-wise; returns the number of elements compared. */
static size_t expect_close(const char *what, const float *got, const double *ref, size_t n, double atol, double rtol)
{
    for (size_t i = 0; i < n; i++) {
        double err = fabs(got[i] - ref[i]);
        if (!(err <= atol + rtol * fabs(ref[i]))) /* not ck_assert per element: each one is a syscall */
            ck_abort_msg("%s[%zu]: got %.9g, reference %.9g (error %.3g)", what, i, got[i], ref[i], err);
    }
    return n;
}

static double act_ref(double x, iso_act act)
{
    switch (act) {
    case ISO_ACT_RELU: return x > 0 ? x : 0;
    case ISO_ACT_GELU_ERF: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case ISO_ACT_GELU_SIGMOID: return x / (1.0 + exp(-1.702 * x));
    case ISO_ACT_SILU: return x / (1.0 + exp(-x));
    default: return x;
    }
}

static const iso_act all_acts[] = {ISO_ACT_NONE, ISO_ACT_RELU, ISO_ACT_GELU_ERF, ISO_ACT_GELU_SIGMOID, ISO_ACT_SILU};
enum { N_ACTS = sizeof all_acts / sizeof all_acts[0] };

/* iso_k_exp against libm's double exp: a sweep of the float range in steps that hit every binade, the clamping
 * edges and the special values the softmax relies on (masked keys at -1e9 and -inf weigh exactly 0). */
START_TEST(fast_exp)
{
    double worst = 0.0;
    for (double x = -87.0; x <= 88.72; x += 0.000731) {
        float got = iso_k_exp((float)x);
        double ref = exp((double)(float)x);
        double rel = fabs(got - ref) / ref;
        worst = rel > worst ? rel : worst;
    }
    ck_assert_msg(worst < 2.5e-7, "iso_k_exp relative error %.3g, expected below 2.5e-7 (2 ulp)", worst);
    ck_assert(iso_k_exp(0.0f) == 1.0f);
    ck_assert(iso_k_exp(-1e9f) == 0.0f && iso_k_exp(-INFINITY) == 0.0f && iso_k_exp(-88.0f) == 0.0f);
    ck_assert(isinf(iso_k_exp(89.0f)) && isinf(iso_k_exp(INFINITY)));
    ck_assert(isnan(iso_k_exp(NAN)));
}
END_TEST

/* iso_k_gelu_erf against x/2 erfc(-x/sqrt 2) in double (libm): a sweep through the range where GELU is neither x
 * nor 0 in float, and the edges. libm's erff inside 1 + erf, the formula it replaces, is measured beside it: it
 * loses every digit in the negative tail. */
START_TEST(gelu_erf)
{
    double worst_scaled = 0.0, worst_rel = 0.0, erff_rel = 0.0;
    for (double xd = -20.0; xd <= 20.0; xd += 0.000317) {
        float x = (float)xd;
        double ref = 0.5 * x * erfc(-(double)x / sqrt(2.0)), err = fabs(iso_k_gelu_erf(x) - ref);
        double scaled = err / fmax(fabs((double)x), 1e-3);
        worst_scaled = scaled > worst_scaled ? scaled : worst_scaled;
        if (x > -3.0f && ref != 0.0) {
            worst_rel = err / fabs(ref) > worst_rel ? err / fabs(ref) : worst_rel;
            float libm = x * 0.5f * (1.0f + erff(x * 0.70710678118654752f));
            erff_rel = fabs(libm - ref) / fabs(ref) > erff_rel ? fabs(libm - ref) / fabs(ref) : erff_rel;
        }
    }
    fprintf(stderr, "gelu_erf: error / max(|x|, 1e-3) %.3g; relative for x > -3 %.3g (erff-based %.3g)\n",
            worst_scaled, worst_rel, erff_rel);
    ck_assert_msg(worst_scaled < 4e-7, "gelu_erf error %.3g of |x|, expected below 4e-7", worst_scaled);
    ck_assert_msg(worst_rel < 1.5e-6, "gelu_erf relative error %.3g for x > -3, expected below 1.5e-6", worst_rel);
    ck_assert(iso_k_gelu_erf(0.0f) == 0.0f && iso_k_gelu_erf(30.0f) == 30.0f && iso_k_gelu_erf(-30.0f) == 0.0f);
    ck_assert(isnan(iso_k_gelu_erf(NAN)) && iso_k_gelu_erf(INFINITY) == INFINITY);
}
END_TEST

/* ---- element-wise ops ---- */

START_TEST(bias_act)
{
    rng_state = 0x1234567ull + (uint64_t)_i;
    const int rows = 37, cols = 129;
    const size_t n = (size_t)rows * cols;
    iso_act act = all_acts[_i % N_ACTS];
    int with_bias = _i < N_ACTS;
    float *x = rand_vec(n, 4.0f, 0.0f), *bias = rand_vec(cols, 1.0f, 0.0f);
    double *ref = malloc(n * sizeof *ref);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            ref[(size_t)r * cols + c] = act_ref((double)x[(size_t)r * cols + c] + (with_bias ? bias[c] : 0.0), act);
    for (int64_t e = 0; e < (int64_t)n; e++)
        iso_k_bias_act_at(x, with_bias ? bias : NULL, cols, act, e);
    expect_close("bias_act", x, ref, n, 1e-6, 2e-6);
    free(x), free(bias), free(ref);
}
END_TEST

START_TEST(affine_act)
{
    rng_state = 0xabcdefull + (uint64_t)_i;
    const int rows = 23, cols = 96;
    const size_t n = (size_t)rows * cols;
    iso_act act = all_acts[_i];
    float *x = rand_vec(n, 3.0f, 0.0f), *scale = rand_vec(cols, 2.0f, 0.0f), *shift = rand_vec(cols, 1.0f, 0.0f);
    float *y = rand_vec(n, 1.0f, 0.0f);
    double *ref = malloc(n * sizeof *ref);
    /* both factors, then a NULL scale (1), then a NULL shift (0) */
    for (int variant = 0; variant < 3; variant++) {
        const float *sc = variant == 1 ? NULL : scale, *sh = variant == 2 ? NULL : shift;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                ref[(size_t)r * cols + c] =
                    act_ref((double)x[(size_t)r * cols + c] * (sc ? sc[c] : 1.0) + (sh ? sh[c] : 0.0), act);
        for (int64_t e = 0; e < (int64_t)n; e++)
            iso_k_affine_act_at(x, y, sc, sh, cols, act, e);
        expect_close("affine_act", y, ref, n, 1e-6, 2e-6);
    }
    free(x), free(y), free(scale), free(shift), free(ref);
}
END_TEST

START_TEST(axpy)
{
    rng_state = 99;
    const size_t n = 1001;
    const float alpha = -0.37f;
    float *x = rand_vec(n, 1.0f, 0.0f), *y = rand_vec(n, 1.0f, 0.0f);
    double *ref = malloc(n * sizeof *ref);
    for (size_t i = 0; i < n; i++)
        ref[i] = (double)y[i] + (double)alpha * x[i];
    for (int64_t e = 0; e < (int64_t)n; e++)
        iso_k_axpy_at(y, x, alpha, e);
    expect_close("axpy", y, ref, n, 1e-7, 1e-6);
    free(x), free(y), free(ref);
}
END_TEST

START_TEST(glu_silu)
{
    rng_state = 7;
    const int rows = 13, F = 77;
    float *x = rand_vec((size_t)rows * 2 * F, 4.0f, 0.0f), *y = calloc((size_t)rows * F, sizeof(float));
    double *ref = malloc((size_t)rows * F * sizeof *ref);
    for (int r = 0; r < rows; r++)
        for (int f = 0; f < F; f++) {
            const float *row = x + (size_t)r * 2 * F;
            ref[(size_t)r * F + f] = act_ref(row[f], ISO_ACT_SILU) * row[F + f];
        }
    for (int64_t e = 0; e < (int64_t)rows * F; e++)
        iso_k_glu_silu_at(x, y, F, e);
    expect_close("glu_silu", y, ref, (size_t)rows * F, 1e-6, 2e-6);
    free(x), free(y), free(ref);
}
END_TEST

/* The pool as enformer-pytorch computes it (logits per row, softmax over each pair) against the kernels' pair
 * difference of the rows, its logits (the difference's product with W, here in double) and the pool from them. */
START_TEST(attn_pool2)
{
    rng_state = 11;
    const int L = 19, d = 45;
    const size_t nin = (size_t)2 * L * d, nout = (size_t)L * d;
    float *x = rand_vec(nin, 1.0f, 0.0f), *w = rand_vec((size_t)d * d, 12.0f, 0.0f); /* large logits: saturation */
    float *diff = malloc(nout * sizeof *diff), *z = malloc(nout * sizeof *z), *y = calloc(nout, sizeof *y);
    double *ref = malloc(nout * sizeof *ref), *ref_diff = malloc(nout * sizeof *ref_diff);
    for (int i = 0; i < L; i++)
        for (int c = 0; c < d; c++) {
            const float *x0 = x + (size_t)2 * i * d, *x1 = x0 + d;
            double l0 = 0, l1 = 0;
            for (int k = 0; k < d; k++)
                l0 += (double)w[(size_t)c * d + k] * x0[k], l1 += (double)w[(size_t)c * d + k] * x1[k];
            double w1 = 1.0 / (1.0 + exp(l0 - l1)); /* softmax weight of the second row */
            ref[(size_t)i * d + c] = (1.0 - w1) * x0[c] + w1 * x1[c];
            ref_diff[(size_t)i * d + c] = (double)x0[c] - x1[c];
        }
    for (int64_t e = 0; e < (int64_t)nout; e++)
        iso_k_pair_diff_at(x, diff, d, e);
    expect_close("pair_diff", diff, ref_diff, nout, 0.0, 1e-7);
    for (int i = 0; i < L; i++)
        for (int c = 0; c < d; c++) {
            double s = 0;
            for (int k = 0; k < d; k++)
                s += (double)w[(size_t)c * d + k] * diff[(size_t)i * d + k];
            z[(size_t)i * d + c] = (float)s;
        }
    for (int64_t e = 0; e < (int64_t)nout; e++)
        iso_k_attn_pool2_at(x, z, y, d, e);
    expect_close("attn_pool2", y, ref, nout, 1e-6, 2e-6);
    free(x), free(w), free(diff), free(z), free(y), free(ref), free(ref_diff);
}
END_TEST

START_TEST(rotary)
{
    rng_state = 13;
    const int T = 64, heads = 3, hd = 16, ld = heads * hd + 5; /* padded rows: the tail must stay untouched */
    const size_t n = (size_t)T * ld;
    float *x = rand_vec(n, 1.0f, 0.0f);
    double *ref = malloc(n * sizeof *ref);
    for (size_t i = 0; i < n; i++)
        ref[i] = x[i];
    for (int p = 0; p < T; p++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < hd / 2; i++) {
                size_t lo = (size_t)p * ld + (size_t)h * hd + i, hi = lo + hd / 2;
                double ang = p * pow(10000.0, -2.0 * i / hd);
                ref[lo] = x[lo] * cos(ang) - (double)x[hi] * sin(ang);
                ref[hi] = x[hi] * cos(ang) + (double)x[lo] * sin(ang);
            }
    for (int64_t e = 0; e < (int64_t)T * heads * (hd / 2); e++)
        iso_k_rotary_at(x, heads, hd, ld, e);
    /* The float angle p * inv_freq carries ~T ulp of error at position T. */
    expect_close("rotary", x, ref, n, 2e-5, 1e-5);
    free(x), free(ref);
}
END_TEST

START_TEST(rel_shift_add)
{
    rng_state = 17;
    const int heads = 3, n = 17, w = 2 * n; /* 2n - 1 distances and an unused column */
    float *logits = rand_vec((size_t)heads * n * n, 1.0f, 0.0f), *rel = rand_vec((size_t)heads * n * w, 1.0f, 0.0f);
    double *ref = malloc((size_t)heads * n * n * sizeof *ref);
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                size_t at = ((size_t)h * n + i) * n + j;
                ref[at] = (double)logits[at] + rel[((size_t)h * n + i) * w + (j - i + n - 1)];
            }
    for (int64_t e = 0; e < (int64_t)heads * n * n; e++)
        iso_k_rel_shift_add_at(logits, rel, n, e);
    expect_close("rel_shift_add", logits, ref, (size_t)heads * n * n, 1e-7, 1e-6);
    free(logits), free(rel), free(ref);
}
END_TEST

START_TEST(mean_rows)
{
    rng_state = 19;
    const int rows = 50, cols = 33, r0 = 7, r1 = 41;
    float *x = rand_vec((size_t)rows * cols, 1.0f, 10.0f), *y = calloc(cols, sizeof(float));
    double ref[33];
    for (int c = 0; c < cols; c++) {
        double s = 0;
        for (int r = r0; r < r1; r++)
            s += x[(size_t)r * cols + c];
        ref[c] = s / (r1 - r0);
    }
    for (int c = 0; c < cols; c++)
        y[c] = iso_k_mean_col(x, r0, r1, cols, c);
    expect_close("mean_rows", y, ref, cols, 1e-7, 1e-7);
    free(x), free(y);
}
END_TEST

/* The Enformer stem's im2col of the one-hot DNA, tile by tile over a window with N and lower-case bases (not
 * A/C/G/T: all zero, as enformer-pytorch's one-hot of N), against its definition; every element is written, so
 * the buffer starts as garbage (NaN). */
START_TEST(dna_im2col)
{
    const char *dna = "NACGTTGCAnACGTAGGCTTACGNNTACGATCGATTTAGC";
    const int64_t len = (int64_t)strlen(dna), tile = 16;
    const int k = 15;
    float *cols = malloc((size_t)tile * 4 * k * sizeof *cols);
    double *ref = malloc((size_t)tile * 4 * k * sizeof *ref);
    for (int64_t l0 = 0; l0 < len; l0 += tile) {
        int64_t T = len - l0 < tile ? len - l0 : tile;
        for (size_t i = 0; i < (size_t)tile * 4 * k; i++)
            cols[i] = NAN;
        for (int64_t l = 0; l < T; l++)
            for (int ch = 0; ch < 4; ch++)
                for (int t = 0; t < k; t++) {
                    int64_t pos = l0 + l + t - k / 2;
                    ref[(l * 4 + ch) * k + t] = pos >= 0 && pos < len && dna[pos] == "ACGT"[ch];
                }
        for (int64_t e = 0; e < T * k; e++)
            iso_k_dna_im2col_at(dna, len, l0, k, cols, e);
        expect_close("dna_im2col", cols, ref, (size_t)T * 4 * k, 0, 0);
    }
    free(cols), free(ref);
}
END_TEST

/* The CUDA launch covers every element exactly once, also past the grid cap where threads loop. */
START_TEST(grid_stride_coverage)
{
    const int threads = 256;
    const int64_t n = (int64_t)ISO_K_MAX_BLOCKS * threads + 1000;
    unsigned char *seen = calloc((size_t)n, 1);
    ck_assert_ptr_nonnull(seen);
    int blocks = iso_k_grid_blocks(n, threads);
    ck_assert_int_eq(blocks, ISO_K_MAX_BLOCKS);
    for (int b = 0; b < blocks; b++)
        for (int t = 0; t < threads; t++)
            for (int64_t e = (int64_t)b * threads + t; e < n; e += (int64_t)blocks * threads)
                seen[e]++;
    for (int64_t e = 0; e < n; e++)
        if (seen[e] != 1)
            ck_abort_msg("element %lld visited %d times", (long long)e, seen[e]);
    ck_assert_int_eq(iso_k_grid_blocks(1, threads), 1);
    ck_assert_int_eq(iso_k_grid_blocks(257, threads), 2);
    free(seen);
}
END_TEST

/* ---- row reductions: a block of nt threads per row, emulated sequentially ---- */

typedef enum { RED_SUM, RED_MAX } red_op;

/* block_reduce of reduce.cu: p[t] = op(p[t], p[t + s]) for s = nt/2 .. 1. */
static float tree_reduce(float *p, int nt, red_op op)
{
    for (int s = nt / 2; s > 0; s >>= 1)
        for (int t = 0; t < s; t++)
            p[t] = op == RED_SUM ? p[t] + p[t + s] : fmaxf(p[t], p[t + s]);
    return p[0];
}

/* layernorm_k of reduce.cu for one row, thread by thread. */
static void layernorm_block(const float *x, float *y, const float *g, const float *b, int n, float eps, int nt)
{
    float p[ISO_K_ROW_MAX_THREADS] = {0};
    for (int t = 0; t < nt; t++)
        p[t] = iso_k_part_sum(x, n, t, nt);
    float mean = tree_reduce(p, nt, RED_SUM) / (float)n;
    for (int t = 0; t < nt; t++)
        p[t] = iso_k_part_sqdev(x, n, mean, t, nt);
    float inv = iso_k_layernorm_inv_std(tree_reduce(p, nt, RED_SUM), n, eps);
    for (int t = 0; t < nt; t++)
        iso_k_layernorm_part(x, y, g, b, n, mean, inv, t, nt);
}

/* softmax_k of reduce.cu for one row. */
static void softmax_block(float *x, const float *key_bias, int n, int nt)
{
    float p[ISO_K_ROW_MAX_THREADS] = {0};
    for (int t = 0; t < nt; t++)
        p[t] = iso_k_part_max_biased(x, key_bias, n, t, nt);
    float max = tree_reduce(p, nt, RED_MAX);
    for (int t = 0; t < nt; t++)
        p[t] = iso_k_part_softmax_exp(x, key_bias, n, iso_k_exp_shift(max), t, nt);
    float sum = tree_reduce(p, nt, RED_SUM);
    for (int t = 0; t < nt; t++)
        iso_k_part_scale(x, n, iso_k_inv_sum(sum), t, nt);
}

static const int row_lengths[] = {1, 5, 31, 32, 33, 127, 128, 255, 256, 257, 1000, 1024, 1280, 1536, 2048, 5120};
enum { N_ROW_LENGTHS = sizeof row_lengths / sizeof row_lengths[0] };

START_TEST(row_threads)
{
    for (int n = 1; n <= 4096; n++) {
        int nt = iso_k_row_threads(n);
        if (nt < 32 || nt > ISO_K_ROW_MAX_THREADS || (nt & (nt - 1)) != 0)
            ck_abort_msg("n=%d: nt=%d is not a power of two in [32, %d]", n, nt, ISO_K_ROW_MAX_THREADS);
        if ((n <= 128 && nt != 32) || (nt != ISO_K_ROW_MAX_THREADS && nt != 32 && nt * 2 >= n))
            ck_abort_msg("n=%d: nt=%d leaves idle threads", n, nt);
        if (n > 1 && iso_k_row_threads(n - 1) > nt)
            ck_abort_msg("n=%d: fewer threads than for n - 1", n);
    }
}
END_TEST

/* Each row length with the launch's block size and with every other block size the tree supports; the rows sit
 * far from zero (offset 100) to check the two-pass variance; in place (y == x) as the model calls it. */
START_TEST(layernorm)
{
    const int n = row_lengths[_i], rows = 3;
    const float eps = 1e-5f;
    const int launch_nt = iso_k_row_threads(n);
    for (int nt = 32; nt <= ISO_K_ROW_MAX_THREADS; nt *= 2) {
        rng_state = 0x5eedull * (uint64_t)(n + nt);
        float *x = rand_vec((size_t)rows * n, 2.0f, 100.0f), *g = rand_vec(n, 1.0f, 1.0f), *b = rand_vec(n, 1.0f, 0.0f);
        double *ref = malloc((size_t)rows * n * sizeof *ref);
        for (int r = 0; r < rows; r++) {
            const float *xr = x + (size_t)r * n;
            double mean = 0, var = 0;
            for (int i = 0; i < n; i++)
                mean += xr[i];
            mean /= n;
            for (int i = 0; i < n; i++)
                var += (xr[i] - mean) * (xr[i] - mean);
            var /= n;
            for (int i = 0; i < n; i++)
                ref[(size_t)r * n + i] = (xr[i] - mean) / sqrt(var + eps) * g[i] + b[i];
        }
        for (int r = 0; r < rows; r++)
            layernorm_block(x + (size_t)r * n, x + (size_t)r * n, g, b, n, eps, nt);
        /* Values are O(1) after normalisation; float error of x - mean at |x| ~ 100 is ~1e-5 of x's unit. */
        char what[64];
        snprintf(what, sizeof what, "layernorm n=%d nt=%d%s", n, nt, nt == launch_nt ? " (launch)" : "");
        expect_close(what, x, ref, (size_t)rows * n, 5e-5, 1e-5);
        free(x), free(g), free(b), free(ref);
    }
}
END_TEST

/* With and without key_bias (0 or -1e9 for masked keys, as the model passes); logits up to +-60 plus one spike of
 * +100 per row, so that exp overflows unless the true row max is subtracted. */
START_TEST(softmax)
{
    const int n = row_lengths[_i / 2], rows = 4, masked = _i % 2;
    for (int nt = 32; nt <= ISO_K_ROW_MAX_THREADS; nt *= 2) {
        rng_state = 0xfeedull * (uint64_t)(n + nt) + (uint64_t)masked;
        float *x = rand_vec((size_t)rows * n, 60.0f, 0.0f), *kb = calloc(n, sizeof(float));
        for (int r = 0; r < rows; r++) /* one dominant logit per row, away from the row's ends */
            x[(size_t)r * n + (size_t)(r * 7919 + n / 3) % n] += 100.0f;
        for (int i = 1; i < n; i += 3)
            kb[i] = -1e9f; /* key 0 stays unmasked, so no row is fully masked */
        const float *bias = masked ? kb : NULL;
        double *ref = malloc((size_t)rows * n * sizeof *ref);
        for (int r = 0; r < rows; r++) {
            const float *xr = x + (size_t)r * n;
            double m = -INFINITY, s = 0;
            for (int i = 0; i < n; i++)
                m = fmax(m, (double)xr[i] + (bias ? bias[i] : 0));
            for (int i = 0; i < n; i++)
                s += exp((double)xr[i] + (bias ? bias[i] : 0) - m);
            for (int i = 0; i < n; i++)
                ref[(size_t)r * n + i] = exp((double)xr[i] + (bias ? bias[i] : 0) - m) / s;
        }
        for (int r = 0; r < rows; r++)
            softmax_block(x + (size_t)r * n, bias, n, nt);
        char what[64];
        snprintf(what, sizeof what, "softmax n=%d nt=%d masked=%d", n, nt, masked);
        expect_close(what, x, ref, (size_t)rows * n, 1e-7, 1e-5);
        free(x), free(kb), free(ref);
    }
}
END_TEST

/* ---- attention: the flash recurrence as attention.cu drives it, and the CPU backend's op ---- */

typedef enum { MASK_NONE, MASK_SOME, MASK_ALL_FLTMAX, MASK_ALL_INF, N_MASKS } mask_kind;

typedef struct {
    int Tq, Tk, heads, hd, pad; /* pad: extra floats at the end of every row of q, k, v, out */
    mask_kind mask;
    float *q, *k, *v, *key_bias; /* key_bias NULL for MASK_NONE */
    int ld;
    float scale;
} attn_case;

static attn_case attn_make(int Tq, int Tk, int heads, int hd, int pad, mask_kind mask, uint64_t seed)
{
    attn_case a = {Tq, Tk, heads, hd, pad, mask, NULL, NULL, NULL, NULL, heads * hd + pad, 1.0f / sqrtf((float)hd)};
    rng_state = seed;
    a.q = rand_vec((size_t)Tq * a.ld, 3.0f, 0.0f); /* |score| up to ~3 sqrt(hd): peaked softmax rows */
    a.k = rand_vec((size_t)Tk * a.ld, 1.0f, 0.0f);
    a.v = rand_vec((size_t)Tk * a.ld, 1.0f, 0.5f);
    if (mask != MASK_NONE) {
        a.key_bias = malloc((size_t)Tk * sizeof *a.key_bias);
        ck_assert_ptr_nonnull(a.key_bias);
        for (int j = 0; j < Tk; j++) /* the model's 0 / -1e9 (key 0 stays unmasked); PyTorch's finfo.min; -inf */
            a.key_bias[j] = mask == MASK_SOME ? (j % 3 == 1 ? -1e9f : 0.0f)
                            : mask == MASK_ALL_FLTMAX ? -FLT_MAX : -INFINITY;
    }
    return a;
}

static void attn_free(attn_case *a) { free(a->q), free(a->k), free(a->v), free(a->key_bias); }

/* softmax(scale q k^T + key_bias) v in double, straight from backend.h, at out[i * ld + h * hd + d]; a row with
 * every key at -inf is defined as zeros. */
static double *attn_reference(const attn_case *a)
{
    double *out = calloc((size_t)a->Tq * a->ld, sizeof *out), *s = malloc((size_t)a->Tk * sizeof *s);
    ck_assert(out && s);
    for (int h = 0; h < a->heads; h++)
        for (int i = 0; i < a->Tq; i++) {
            const float *q = a->q + (size_t)i * a->ld + (size_t)h * a->hd;
            double m = -INFINITY, sum = 0;
            for (int j = 0; j < a->Tk; j++) {
                const float *k = a->k + (size_t)j * a->ld + (size_t)h * a->hd;
                double dot = 0;
                for (int d = 0; d < a->hd; d++)
                    dot += (double)q[d] * k[d];
                s[j] = a->scale * dot + (a->key_bias ? a->key_bias[j] : 0.0);
                m = fmax(m, s[j]);
            }
            if (m == -INFINITY)
                continue;
            for (int j = 0; j < a->Tk; j++)
                sum += s[j] = exp(s[j] - m);
            for (int d = 0; d < a->hd; d++) {
                double o = 0;
                for (int j = 0; j < a->Tk; j++)
                    o += s[j] * a->v[(size_t)j * a->ld + (size_t)h * a->hd + d];
                out[(size_t)i * a->ld + (size_t)h * a->hd + d] = o / sum;
            }
        }
    free(s);
    return out;
}

/* attention_k of attention.cu for query row i of head h, with nt lanes per row, key tiles of kt, and the kernel's
 * shared-memory layout (key rows at the odd stride hd | 1); nc = acc slots per lane. nt = 1 is the sequential
 * recurrence. */
static void flash_row(const attn_case *a, int h, int i, int kt, int nt, int nc, float *out)
{
    const int hd = a->hd, ldks = hd | 1;
    float *ks = malloc((size_t)kt * ldks * sizeof *ks), *vs = malloc((size_t)kt * hd * sizeof *vs);
    float *p = malloc((size_t)kt * sizeof *p), *acc = calloc((size_t)nt * nc, sizeof *acc);
    float part[ISO_K_ROW_MAX_THREADS];
    ck_assert(ks && vs && p && acc);
    const float *q = a->q + (size_t)i * a->ld + (size_t)h * hd;
    float m = -INFINITY, l = 0.0f;
    for (int k0 = 0; k0 < a->Tk; k0 += kt) {
        int n = a->Tk - k0 < kt ? a->Tk - k0 : kt;
        for (int j = 0; j < n; j++)
            for (int d = 0; d < hd; d++) {
                ks[j * ldks + d] = a->k[(size_t)(k0 + j) * a->ld + (size_t)h * hd + d];
                vs[j * hd + d] = a->v[(size_t)(k0 + j) * a->ld + (size_t)h * hd + d];
            }
        const float *kb = a->key_bias ? a->key_bias + k0 : NULL;
        for (int t = 0; t < nt; t++)
            part[t] = iso_k_flash_scores_part(q, ks, ldks, kb, n, hd, a->scale, p, t, nt);
        float alpha = iso_k_flash_rescale(&m, tree_reduce(part, nt, RED_MAX));
        for (int t = 0; t < nt; t++)
            part[t] = iso_k_part_softmax_exp(p, NULL, n, iso_k_exp_shift(m), t, nt);
        l = l * alpha + tree_reduce(part, nt, RED_SUM);
        for (int t = 0; t < nt; t++)
            iso_k_flash_acc_part(acc + (size_t)t * nc, nc, p, vs, hd, n, hd, alpha, t, nt);
    }
    for (int t = 0; t < nt; t++)
        iso_k_flash_out_part(acc + (size_t)t * nc, nc, l, out, hd, t, nt);
    free(ks), free(vs), free(p), free(acc);
}

static void attn_check(const char *what, const attn_case *a, const float *got, const double *ref)
{
    /* Outputs are convex combinations of v (|v| <= 1.5); float scores carry ~1e-6 relative error. */
    expect_close(what, got, ref, (size_t)a->Tq * a->ld, 2e-6, 2e-5);
    if (a->mask == MASK_ALL_INF) /* defined as zeros, not NaN */
        for (size_t e = 0; e < (size_t)a->Tq * a->ld; e++)
            ck_assert_msg(got[e] == 0.0f, "%s: element %zu is %g, expected 0 (every key at -inf)", what, e, got[e]);
}

static const int attn_hds[] = {8, 64, 128};
static const int attn_tiles[] = {1, 7, 32, 64, 1000};

/* Every head_dim x mask, with Tq != Tk and Tq == Tk; each with several key tile sizes (KT = 32 is the kernel's),
 * with the kernel's 32 lanes (and acc slots for its HD_MAX instance) and sequentially. */
START_TEST(flash_attention)
{
    const int hd = attn_hds[_i / N_MASKS];
    const mask_kind mask = (mask_kind)(_i % N_MASKS);
    const int shapes[2][2] = {{9, 130}, {40, 40}};
    for (int sh = 0; sh < 2; sh++) {
        attn_case a = attn_make(shapes[sh][0], shapes[sh][1], 2, hd, 3, mask, 0xa77e0ull + (uint64_t)(_i * 2 + sh));
        double *ref = attn_reference(&a);
        float *got = calloc((size_t)a.Tq * a.ld, sizeof *got);
        ck_assert_ptr_nonnull(got);
        int hd_max = hd <= 32 ? 32 : hd <= 64 ? 64 : ISO_K_ATTN_MAX_HD; /* as cu_attention picks the instance */
        for (int ti = 0; ti < (int)(sizeof attn_tiles / sizeof attn_tiles[0]); ti++)
            for (int nt = 1; nt <= 32; nt += 31) {
                int kt = attn_tiles[ti];
                for (int h = 0; h < a.heads; h++)
                    for (int i = 0; i < a.Tq; i++)
                        flash_row(&a, h, i, kt, nt, nt == 1 ? hd : hd_max / 32,
                                  got + (size_t)i * a.ld + (size_t)h * hd);
                char what[96];
                snprintf(what, sizeof what, "flash Tq=%d Tk=%d hd=%d mask=%d KT=%d nt=%d", a.Tq, a.Tk, hd, mask, kt,
                         nt);
                attn_check(what, &a, got, ref);
            }
        free(ref), free(got);
        attn_free(&a);
    }
}
END_TEST

/* The CPU backend's attention op (per-head BLAS GEMMs and softmax) against the same reference, including a
 * query block split (Tk large enough that the scores buffer holds fewer rows than Tq) and the bad arguments. */
START_TEST(cpu_attention_op)
{
    iso_backend *be = NULL;
    ck_assert_int_eq(iso_backend_create("cpu", 2, ISO_PREC_FP32, &be), ISO_OK);
    const int hd = attn_hds[_i / N_MASKS];
    const mask_kind mask = (mask_kind)(_i % N_MASKS);
    /* Tq Tk heads pad; the last: 1M keys leave room for 3 query rows in the 4M-float scores block, so 4 rows
     * take two blocks. */
    const int shapes[3][4] = {{9, 130, 2, 3}, {40, 40, 2, 3}, {4, (1 << 20) + 1, 1, 0}};
    for (int sh = 0; sh < (hd == 8 && mask == MASK_SOME ? 3 : 2); sh++) {
        attn_case a = attn_make(shapes[sh][0], shapes[sh][1], shapes[sh][2], hd, shapes[sh][3], mask,
                                0xc0ffeeull + (uint64_t)(_i * 3 + sh));
        float *out = calloc((size_t)a.Tq * a.ld, sizeof *out);
        ck_assert_ptr_nonnull(out);
        iso_attention_args args = {.q = a.q, .k = a.k, .v = a.v, .ldq = a.ld, .ldk = a.ld, .ldv = a.ld, .out = out,
                                   .ldo = a.ld, .Tq = a.Tq, .Tk = a.Tk, .heads = a.heads, .head_dim = hd,
                                   .scale = a.scale, .key_bias = a.key_bias};
        ck_assert_int_eq(be->ops->attention(be, &args), ISO_OK);
        double *ref = attn_reference(&a);
        char what[96];
        snprintf(what, sizeof what, "cpu attention Tq=%d Tk=%d hd=%d mask=%d", a.Tq, a.Tk, hd, mask);
        attn_check(what, &a, out, ref);
        if (sh == 0) {
            args.ldk = a.heads * hd - 1;
            ck_assert_int_eq(be->ops->attention(be, &args), ISO_EINVAL);
            ck_assert_ptr_nonnull(strstr(iso_last_error(), "ldk="));
            args.ldk = a.ld, args.Tk = 0;
            ck_assert_int_eq(be->ops->attention(be, &args), ISO_EINVAL);
        }
        free(out), free(ref);
        attn_free(&a);
    }
    ck_assert_uint_eq(be->bytes_in_use, 0);
    iso_backend_destroy(be);
}
END_TEST

/* ---- GEMM: row-major arguments through the cuBLAS mapping ---- */

/* cuBLAS's definition of the strided batched GEMM, column-major. */
static void colmajor_gemm_ref(const iso_colmajor_gemm *g, float alpha, float beta)
{
    for (int bt = 0; bt < g->batch; bt++) {
        const float *A = g->a + bt * g->stride_a, *B = g->b + bt * g->stride_b;
        float *C = g->c + bt * g->stride_c;
        for (int j = 0; j < g->n; j++)
            for (int i = 0; i < g->m; i++) {
                double s = 0;
                for (int l = 0; l < g->k; l++) {
                    double a = g->trans_a ? A[l + (size_t)i * g->lda] : A[i + (size_t)l * g->lda];
                    double b = g->trans_b ? B[j + (size_t)l * g->ldb] : B[l + (size_t)j * g->ldb];
                    s += a * b;
                }
                float *c = &C[i + (size_t)j * g->ldc];
                *c = (float)(alpha * s + (beta != 0.0f ? beta * (double)*c : 0.0));
            }
    }
}

/* All four transpose combinations, padded leading dimensions, batches with strides (and a shared B, stride 0),
 * alpha and beta. */
START_TEST(gemm_mapping)
{
    const int ta = _i & 1, tb = (_i >> 1) & 1, pad = (_i >> 2) & 1, batched = (_i >> 3) & 1;
    const int m = 5, n = 7, k = 3, batch = batched ? 3 : 1;
    rng_state = 0x9e37ull + (uint64_t)_i;
    iso_gemm_args g = {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .alpha = 0.75f,
                       .beta = batched ? 0.5f : 0.0f, .batch = batch};
    g.lda = (ta ? m : k) + 2 * pad;
    g.ldb = (tb ? k : n) + 3 * pad;
    g.ldc = n + pad;
    int a_rows = ta ? k : m, b_rows = tb ? n : k;
    g.stride_a = (int64_t)a_rows * g.lda + pad;
    g.stride_b = batched && pad ? 0 : (int64_t)b_rows * g.ldb;
    g.stride_c = (int64_t)m * g.ldc + 4 * pad;
    size_t na = (size_t)g.stride_a * batch, nb = (size_t)b_rows * g.ldb * batch, nc = (size_t)g.stride_c * batch;
    float *a = rand_vec(na, 1.0f, 0.0f), *b = rand_vec(nb, 1.0f, 0.0f), *c = rand_vec(nc, 1.0f, 0.0f);
    g.a = a, g.b = b, g.c = c;
    /* Row-major reference straight from backend.h; elements outside C's m x n blocks must stay as they were. */
    double *ref = malloc(nc * sizeof *ref);
    for (size_t i = 0; i < nc; i++)
        ref[i] = c[i];
    for (int bt = 0; bt < batch; bt++)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int l = 0; l < k; l++) {
                    double av = ta ? a[bt * g.stride_a + (size_t)l * g.lda + i] : a[bt * g.stride_a + (size_t)i * g.lda + l];
                    double bv = tb ? b[bt * g.stride_b + (size_t)j * g.ldb + l] : b[bt * g.stride_b + (size_t)l * g.ldb + j];
                    s += av * bv;
                }
                double *r = &ref[bt * g.stride_c + (size_t)i * g.ldc + j];
                *r = g.alpha * s + g.beta * *r;
            }
    iso_colmajor_gemm cm;
    ck_assert_int_eq(iso_gemm_colmajor(&g, &cm), ISO_OK);
    colmajor_gemm_ref(&cm, g.alpha, g.beta);
    char what[64];
    snprintf(what, sizeof what, "gemm ta=%d tb=%d pad=%d batch=%d", ta, tb, pad, batch);
    expect_close(what, c, ref, nc, 1e-6, 1e-6);
    free(a), free(b), free(c), free(ref);
}
END_TEST

START_TEST(gemm_rejects_bad_arguments)
{
    float buf[64] = {0};
    iso_gemm_args g = {.m = 4, .n = 5, .k = 6, .alpha = 1, .a = buf, .lda = 6, .b = buf, .ldb = 5, .c = buf,
                       .ldc = 5, .batch = 1};
    iso_colmajor_gemm cm;
    ck_assert_int_eq(iso_gemm_colmajor(&g, &cm), ISO_OK);
    g.lda = 5; /* row-major A (4 x 6) needs 6 */
    ck_assert_int_eq(iso_gemm_colmajor(&g, &cm), ISO_EINVAL);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "leading dimension of A is 5, expected at least 6"));
    g.lda = 6, g.trans_b = 1; /* B stored n x k = 5 x 6 needs ldb 6 */
    ck_assert_int_eq(iso_gemm_colmajor(&g, &cm), ISO_EINVAL);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "leading dimension of B is 5, expected at least 6"));
    g.trans_b = 0, g.ldc = 4;
    ck_assert_int_eq(iso_gemm_colmajor(&g, &cm), ISO_EINVAL);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "of C is 4"));
    g.ldc = 5, g.k = -1;
    ck_assert_int_eq(iso_gemm_colmajor(&g, &cm), ISO_EINVAL);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "non-negative"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cuda_kernels");
    TCase *t = tcase_create("elementwise");
    tcase_add_test(t, fast_exp);
    tcase_add_test(t, gelu_erf);
    tcase_add_loop_test(t, bias_act, 0, 2 * N_ACTS);
    tcase_add_loop_test(t, affine_act, 0, N_ACTS);
    tcase_add_test(t, axpy);
    tcase_add_test(t, glu_silu);
    tcase_add_test(t, attn_pool2);
    tcase_add_test(t, rotary);
    tcase_add_test(t, rel_shift_add);
    tcase_add_test(t, mean_rows);
    tcase_add_test(t, dna_im2col);
    tcase_add_test(t, grid_stride_coverage);
    suite_add_tcase(s, t);
    t = tcase_create("rows");
    tcase_add_test(t, row_threads);
    tcase_add_loop_test(t, layernorm, 0, N_ROW_LENGTHS);
    tcase_add_loop_test(t, softmax, 0, 2 * N_ROW_LENGTHS);
    suite_add_tcase(s, t);
    t = tcase_create("attention");
    tcase_add_loop_test(t, flash_attention, 0, 3 * N_MASKS);
    tcase_add_loop_test(t, cpu_attention_op, 0, 3 * N_MASKS);
    suite_add_tcase(s, t);
    t = tcase_create("gemm");
    tcase_add_loop_test(t, gemm_mapping, 0, 16);
    tcase_add_test(t, gemm_rejects_bad_arguments);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return iso_run_suite(suite());
}
