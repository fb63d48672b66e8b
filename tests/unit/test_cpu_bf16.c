/* The CPU backend's bf16 mode (oneDNN): its GEMM op for every operand layout the op allows (either operand
 * transposed, alpha, beta 0 / 1 / other, batches with strides, row- and column-split shares, a registered weight
 * and a plain buffer as B), and its attention op, against double-precision references computed here from the
 * op's definition on the inputs rounded to bfloat16 (round to nearest even, written from the format's definition):
 * the products of bf16 inputs are exact in float32, so only the fp32 accumulation differs. Also: the rounding
 * itself, the precisions the CPU backend has (tf32 is fp32 there) and a switch to bf16 after creation. Without bf16
 * GEMMs (no oneDNN; or, unless ISO_CPU_BF16_KERNELS=fp32 asks for sgemm on the widened values, a CPU without
 * AVX512-BF16) only the rounding and the precision checks run. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "backend/backend_impl.h"
#include "backend/cpu/gemm_bf16.h"

static uint64_t rng_state = 88172645463325252ULL;

static float frand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

/* bfloat16 rounding from its definition: the nearest value with 8 significant bits, ties to an even last bit. */
static double to_bf16(float x)
{
    if (x == 0.0f || !isfinite(x))
        return x;
    int e;
    double m = frexp(x, &e) * 256.0; /* 8 significant bits above the point */
    double r = nearbyint(m);        /* default rounding mode: ties to even */
    return ldexp(r, e - 8);
}

static float *rand_vec(size_t n)
{
    float *v = malloc(n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++)
        v[i] = frand();
    return v;
}

START_TEST(rounding)
{
    const float x[] = {1.0f, 1.00390625f /* 1 + 2^-8: a tie, to even (1) */, 1.01171875f /* 1 + 3 * 2^-8: a tie,
                       to even (1 + 2^-6) */, -3.14159265f, 65504.0f, 1e-30f, 3.0e38f};
    uint16_t y[7];
    cpu_bf16_round(x, y, 7);
    for (int i = 0; i < 7; i++) {
        uint32_t bits = (uint32_t)y[i] << 16;
        float f;
        memcpy(&f, &bits, sizeof f);
        ck_assert_msg((double)f == to_bf16(x[i]), "%.9g rounds to %.9g, expected %.9g", x[i], f, to_bf16(x[i]));
    }
    const float special[2] = {INFINITY, NAN};
    cpu_bf16_round(special, y, 2);
    ck_assert_uint_eq(y[0], 0x7f80);
    ck_assert((y[1] & 0x7f80) == 0x7f80 && (y[1] & 0x7f));
}
END_TEST

static iso_backend *bf16_backend(int threads)
{
    iso_backend *be = NULL;
    if (iso_backend_create("cpu", threads, ISO_PREC_BF16, &be) != ISO_OK)
        return NULL;
    return be;
}

typedef struct {
    int ta, tb, m, n, k, batch;
    float alpha, beta;
    int weight_b; /* B registered as a weight (its kept copy is used) */
    int fp32;     /* the GEMM asks for fp32 (iso_gemm_args.fp32): nothing rounded */
} gemm_case;

static double operand(float x, int fp32) { return fp32 ? (double)x : to_bf16(x); }

static void check_gemm(iso_backend *be, gemm_case c)
{
    int ar = c.ta ? c.k : c.m, ac = c.ta ? c.m : c.k, br = c.tb ? c.n : c.k, bc = c.tb ? c.k : c.n;
    int lda = ac + 3, ldb = bc + 5, ldc = c.n + 2;
    int64_t sa = (int64_t)ar * lda + 7, sb = c.weight_b ? 0 : (int64_t)br * ldb + 1, sc = (int64_t)c.m * ldc + 4;
    size_t na = (size_t)(sa * c.batch), nb = (size_t)(c.weight_b ? (int64_t)br * ldb : sb * c.batch),
           nc = (size_t)(sc * c.batch);
    float *a = rand_vec(na), *b = rand_vec(nb), *cc = rand_vec(nc), *c0 = malloc(nc * sizeof *c0);
    memcpy(c0, cc, nc * sizeof *c0);
    const float *bw = c.weight_b ? be->ops->weight(be, b, nb) : b;
    ck_assert_ptr_nonnull(bw);
    iso_gemm_args g = {c.ta, c.tb, c.m, c.n, c.k, c.alpha, c.beta, a, lda, sa, bw, ldb, sb, cc, ldc, sc, c.batch, c.fp32};
    ck_assert_int_eq(be->ops->gemm(be, &g), ISO_OK);
    double worst = 0.0;
    for (int bi = 0; bi < c.batch; bi++)
        for (int i = 0; i < c.m; i++)
            for (int j = 0; j < c.n; j++) {
                double s = 0.0, mag = 0.0;
                for (int l = 0; l < c.k; l++) {
                    float x = a[bi * sa + (c.ta ? (int64_t)l * lda + i : (int64_t)i * lda + l)];
                    float y = b[bi * sb + (c.tb ? (int64_t)j * ldb + l : (int64_t)l * ldb + j)];
                    s += operand(x, c.fp32) * operand(y, c.fp32);
                    mag += fabs(operand(x, c.fp32) * operand(y, c.fp32));
                }
                size_t at = (size_t)(bi * sc + (int64_t)i * ldc + j);
                double ref = c.alpha * s + (c.beta != 0.0f ? c.beta * c0[at] : 0.0);
                double err = fabs(cc[at] - ref) / (fabs(c.alpha) * mag + fabs(c.beta * c0[at]) + 1e-30);
                worst = err > worst ? err : worst;
            }
    /* float32 accumulation of exact products (or of float32 products): a few ulp of the sum of magnitudes; a
     * product of bf16-rounded inputs errs ~1e-3 from the fp32 one */
    ck_assert_msg(worst < 1e-5, "gemm ta=%d tb=%d %dx%dx%d batch %d alpha %g beta %g weight %d fp32 %d: error %.3g",
                  c.ta, c.tb, c.m, c.n, c.k, c.batch, c.alpha, c.beta, c.weight_b, c.fp32, worst);
    for (size_t i = 0; i < nc; i++) /* padding between rows and batches untouched */
        if (i % (size_t)sc >= (size_t)c.m * ldc || (i % (size_t)sc) % (size_t)ldc >= (size_t)c.n)
            ck_assert_float_eq(cc[i], c0[i]);
    if (c.weight_b)
        be->ops->free_weight(be, bw);
    free(a);
    free(b);
    free(cc);
    free(c0);
}

START_TEST(gemm_layouts)
{
    iso_backend *be = bf16_backend(2);
    ck_assert_ptr_nonnull(be);
    const gemm_case cases[] = {
        {0, 1, 70, 48, 96, 1, 1.0f, 0.0f, 1, 0},  /* a linear layer: x W^T, W a weight */
        {0, 1, 70, 48, 96, 1, 1.0f, 1.0f, 1, 0},  /* a convolution tap: accumulates */
        {0, 0, 33, 40, 17, 1, 0.5f, -0.25f, 0, 0},
        {1, 0, 19, 23, 31, 1, 1.0f, 0.0f, 0, 0},
        {1, 1, 9, 130, 12, 1, 2.0f, 0.0f, 0, 0},  /* few rows: shares split the columns */
        {0, 1, 21, 37, 16, 3, 0.125f, 0.0f, 0, 0}, /* attention scores per head */
        {0, 0, 5, 16, 29, 4, 1.0f, 0.0f, 0, 0},
        {0, 1, 70, 48, 96, 1, 1.0f, 0.0f, 1, 1},  /* asks for fp32: a weight's bf16 copy is not read */
        {0, 1, 21, 37, 16, 8, 1.0f, 0.0f, 0, 1},  /* Winograd's 8 products of a chunk, in fp32 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_gemm(be, cases[i]);
    ck_assert_double_gt(be->gemm_flop, 0.0);
    iso_backend_destroy(be);
}
END_TEST

START_TEST(attention)
{
    iso_backend *be = bf16_backend(2);
    ck_assert_ptr_nonnull(be);
    /* 16: the fp32 register tiles on a CPU with AVX2 or AVX-512; 20: bf16 products per block (oneDNN, or sgemm on
     * the widened values); the reference's bf16 inputs bound both */
    const int Tq = 37, Tk = 300, heads = 3, hd = _i ? 20 : 16, ld = heads * hd + 4;
    float *q = rand_vec((size_t)Tq * ld), *k = rand_vec((size_t)Tk * ld), *v = rand_vec((size_t)Tk * ld);
    float *out = calloc((size_t)Tq * ld, sizeof *out), *bias = calloc((size_t)Tk, sizeof *bias);
    for (int j = Tk - 20; j < Tk; j++)
        bias[j] = -1e30f; /* padded keys */
    const float scale = 0.25f;
    iso_attention_args a = {q, k, v, ld, ld, ld, out, ld, Tq, Tk, heads, hd, scale, bias};
    ck_assert_int_eq(be->ops->attention(be, &a), ISO_OK);
    double *p = malloc((size_t)Tk * sizeof *p), worst = 0.0;
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < Tq; i++) {
            double mx = -INFINITY, sum = 0.0;
            for (int j = 0; j < Tk; j++) {
                double s = 0.0;
                for (int l = 0; l < hd; l++)
                    s += to_bf16(q[i * ld + h * hd + l]) * to_bf16(k[j * ld + h * hd + l]);
                p[j] = scale * s + bias[j];
                mx = p[j] > mx ? p[j] : mx;
            }
            for (int j = 0; j < Tk; j++)
                sum += p[j] = exp(p[j] - mx);
            for (int l = 0; l < hd; l++) {
                double o = 0.0;
                for (int j = 0; j < Tk; j++)
                    o += p[j] / sum * to_bf16(v[j * ld + h * hd + l]);
                double err = fabs(out[i * ld + h * hd + l] - o);
                worst = err > worst ? err : worst;
            }
        }
    /* the probabilities are rounded to bf16 before the product with V (as PyTorch's bf16 attention does):
     * relative 2^-9 each, on outputs of magnitude <= 1 */
    ck_assert_msg(worst < 4e-3, "attention (head width %d) error %.3g", hd, worst);
    ck_assert_double_gt(be->attention_flop, 0.0);
    free(p);
    free(q);
    free(k);
    free(v);
    free(out);
    free(bias);
    iso_backend_destroy(be);
}
END_TEST

/* A registered weight's bf16 copy is made when first asked for, once, and covers the whole weight. */
START_TEST(weight_copy_on_first_read)
{
    cpu_bf16 *b = NULL;
    ck_assert_int_eq(cpu_bf16_create(1, &b), ISO_OK);
    float *w = rand_vec(100), other = 1.0f;
    ck_assert_int_eq(cpu_bf16_add_weight(b, w, 100), ISO_OK);
    int status = -1;
    ck_assert_ptr_null(cpu_bf16_weight(b, &other, &status)); /* not a weight: rounded by the caller */
    ck_assert_int_eq(status, ISO_OK);
    const uint16_t *at5 = cpu_bf16_weight(b, w + 5, &status), *at0 = cpu_bf16_weight(b, w, &status);
    ck_assert_ptr_nonnull(at5);
    ck_assert_ptr_eq(at5, at0 + 5);
    ck_assert_ptr_eq(cpu_bf16_weight(b, w + 5, &status), at5); /* made once */
    for (int i = 0; i < 100; i++) {
        uint32_t u = (uint32_t)at0[i] << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        ck_assert((double)f == to_bf16(w[i]));
    }
    cpu_bf16_remove_weight(b, w);
    ck_assert_ptr_null(cpu_bf16_weight(b, w + 5, &status));
    cpu_bf16_destroy(b);
    free(w);
}
END_TEST

START_TEST(precisions)
{
    iso_backend *be = NULL;
    ck_assert_int_eq(iso_backend_create("cpu", 1, ISO_PREC_TF32, &be), ISO_OK); /* a GPU precision: fp32 here */
    ck_assert_str_eq(iso_backend_key(be), "cpu:fp32");
    iso_backend_destroy(be);
}
END_TEST

/* iso_backend_set_precision to bf16 after creation: the GEMMs are bf16 from then on (a weight registered before
 * the switch has no kept copy and is rounded per call). */
START_TEST(switch_to_bf16)
{
    iso_backend *be = NULL;
    ck_assert_int_eq(iso_backend_create("cpu", 2, ISO_PREC_FP32, &be), ISO_OK);
    ck_assert_int_eq(iso_backend_set_precision(be, ISO_PREC_BF16), ISO_OK);
    ck_assert_str_eq(iso_backend_key(be), "cpu:bf16");
    check_gemm(be, (gemm_case){0, 1, 40, 24, 64, 1, 1.0f, 0.0f, 0, 0});
    check_gemm(be, (gemm_case){0, 1, 40, 24, 64, 1, 1.0f, 0.0f, 1, 0});
    iso_backend_destroy(be);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cpu_bf16");
    TCase *tc = tcase_create("cpu_bf16");
    tcase_add_test(tc, rounding);
    tcase_add_test(tc, precisions);
    iso_backend *probe = bf16_backend(1);
    if (probe) {
        iso_backend_destroy(probe);
        tcase_add_test(tc, gemm_layouts);
        tcase_add_loop_test(tc, attention, 0, 2);
        tcase_add_test(tc, switch_to_bf16);
        tcase_add_test(tc, weight_copy_on_first_read);
    } else {
        printf("bf16 GEMMs unavailable (%s): only the rounding and precision checks run\n", iso_last_error());
    }
    suite_add_tcase(s, tc);
    return iso_run_suite(s);
}
