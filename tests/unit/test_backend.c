/* The backend registry and the accessors of the opaque backend, on the CPU backend (always present): names,
 * device parsing and its errors, precision and the arithmetic key, memory and FLOP accounting, capabilities. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "backend/backend_impl.h"
#include "backend/cpu/attention_tiles.h"
#include "backend/cpu/blas_core.h"
#include "backend/kernels.h"
#include "model/ops.h"

START_TEST(registry_lists_every_backend)
{
    int n = iso_backend_reg_count(), cpu = -1, cuda = -1;
    ck_assert_int_ge(n, 2);
    for (int i = 0; i < n; i++) {
        if (!strcmp(iso_backend_reg_name(i), "cpu"))
            cpu = i;
        if (!strcmp(iso_backend_reg_name(i), "cuda"))
            cuda = i;
    }
    ck_assert_int_ge(cpu, 0);
    ck_assert_int_ge(cuda, 0); /* listed even in builds without CUDA, where it has no device */
    ck_assert_int_eq(iso_backend_reg_kind(cpu), ISO_DEVICE_CPU);
    ck_assert_int_eq(iso_backend_reg_kind(cuda), ISO_DEVICE_GPU);
    ck_assert_int_eq(iso_backend_reg_device_count(cpu), 1);
    ck_assert_ptr_null(iso_backend_reg_name(n));
    ck_assert_int_eq(iso_backend_reg_device_count(-1), 0);
    ck_assert_str_eq(iso_backend_default_device(), iso_backend_reg_device_count(cuda) > 0 ? "cuda" : "cpu");
}
END_TEST

START_TEST(device_names)
{
    static const char *const bad[] = {"tpu", "cpux", "cuda:", "cuda:x", "cuda:-1", "cuda:256", "cpu:1x", ""};
    iso_backend *be = (iso_backend *)1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(iso_backend_create(bad[i], 1, ISO_PREC_FP32, &be), ISO_EINVAL);
        ck_assert_ptr_null(be);
        ck_assert_msg(strstr(iso_last_error(), "expected cpu or cuda, or NAME:N"), "%s: %s", bad[i], iso_last_error());
    }
    ck_assert_int_eq(iso_backend_create("cpu:1", 1, ISO_PREC_FP32, &be), ISO_EDEVICE);
    ck_assert_ptr_null(be);
    ck_assert_int_eq(iso_backend_create("cpu:0", 1, ISO_PREC_FP32, &be), ISO_OK);
    ck_assert_int_eq(iso_backend_device_index(be), 0);
    iso_backend_destroy(be);
    ck_assert_int_eq(iso_backend_create(NULL, 1, ISO_PREC_FP32, &be), ISO_OK); /* NULL is the CPU */
    ck_assert_str_eq(iso_backend_name(be), "cpu");
    iso_backend_destroy(be);
}
END_TEST

/* A precision outside iso_precision is refused, as iso_backend_set_precision refuses it: it used to be a shift by
 * that amount (undefined for -1 or 40) and 7 silently became fp32. */
START_TEST(precision_out_of_range)
{
    static const int bad[] = {-1, 3, 7, 40};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        iso_backend *be = (iso_backend *)1;
        ck_assert_int_eq(iso_backend_create("cpu", 1, (iso_precision)bad[i], &be), ISO_EINVAL);
        ck_assert_ptr_null(be);
        ck_assert_msg(strstr(iso_last_error(), "expected fp32"), "%d: %s", bad[i], iso_last_error());
    }
}
END_TEST

START_TEST(cpu_accessors)
{
    iso_backend *be = NULL;
    /* A precision the CPU lacks is computed in fp32, and the key says so. */
    ck_assert_int_eq(iso_backend_create("cpu", 2, ISO_PREC_TF32, &be), ISO_OK);
    ck_assert_str_eq(iso_backend_name(be), "cpu");
    ck_assert_int_eq(iso_backend_device_kind(be), ISO_DEVICE_CPU);
    ck_assert_int_eq(iso_backend_precision(be), ISO_PREC_FP32);
    ck_assert_str_eq(iso_backend_key(be), "cpu:fp32");
    ck_assert_int_eq(iso_backend_n_threads(be), 2);
    ck_assert_int_eq(iso_backend_set_precision(be, ISO_PREC_TF32), ISO_EINVAL);
    ck_assert_msg(strstr(iso_last_error(), "cpu backend does not compute in tf32"), "%s", iso_last_error());
    ck_assert_str_eq(iso_backend_key(be), "cpu:fp32");
    ck_assert_int_eq(iso_backend_set_precision(be, (iso_precision)7), ISO_EINVAL);
    /* bf16: switched to where this CPU and build compute it (as create agrees), else refused up front, unchanged,
     * with the reason, rather than accepted and failing at the first GEMM */
    iso_backend *made = NULL;
    const int created = iso_backend_create("cpu", 1, ISO_PREC_BF16, &made);
    iso_backend_destroy(made);
    const int switched = iso_backend_set_precision(be, ISO_PREC_BF16);
    ck_assert_int_eq(switched, created);
    if (switched == ISO_OK) {
        ck_assert_str_eq(iso_backend_key(be), "cpu:bf16");
        ck_assert_int_eq(iso_backend_set_precision(be, ISO_PREC_FP32), ISO_OK);
    } else {
        ck_assert_int_eq(switched, ISO_EDEVICE);
        ck_assert_msg(strstr(iso_last_error(), "bf16"), "%s", iso_last_error());
    }
    ck_assert_str_eq(iso_backend_key(be), "cpu:fp32");
    ck_assert(!iso_backend_has(be, ISO_BACKEND_ASYNC));
    ck_assert(!iso_backend_supports_op(be, ISO_OP_DNA_IM2COL, NULL)); /* optional, built on the host */
    ck_assert(iso_backend_supports_op(be, ISO_OP_ATTENTION, NULL));

    /* Memory accounting and the GEMM counters, through one 8 x 8 x 8 GEMM. */
    float *a = be->ops->alloc(be, 64 * sizeof *a), *c = be->ops->alloc(be, 64 * sizeof *c);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(iso_backend_bytes_in_use(be), 128 * sizeof(float));
    for (int i = 0; i < 64; i++)
        a[i] = (float)(i % 8 == i / 8); /* identity */
    iso_gemm_args g = {.m = 8, .n = 8, .k = 8, .alpha = 2.0f, .a = a, .lda = 8, .b = a, .ldb = 8, .c = c, .ldc = 8,
                       .batch = 1};
    ck_assert_int_eq(be->ops->gemm(be, &g), ISO_OK);
    ck_assert_int_eq(iso_backend_sync(be), ISO_OK);
    for (int i = 0; i < 64; i++)
        ck_assert_float_eq(c[i], 2.0f * a[i]);
    iso_backend_counters k;
    iso_backend_get_counters(be, &k);
    ck_assert_double_eq(k.gemm_flop, 2.0 * 8 * 8 * 8);
    ck_assert(k.gemm_seconds >= 0 && k.attention_flop == 0);
    be->ops->free(be, a);
    ck_assert_uint_eq(iso_backend_bytes_in_use(be), 64 * sizeof(float));
    ck_assert_uint_eq(iso_backend_peak_bytes(be), 128 * sizeof(float));
    be->ops->free(be, c);
    iso_backend_destroy(be);
}
END_TEST

/* A freed block is kept for the next request of its size while the resident bytes (in use and kept) stay within
 * 1.25 times the peak in use: a 64 MiB block, then a 12 MiB one, each alone (76 MiB kept against a 64 MiB peak),
 * and the 64 MiB block comes back with what it held; a 30 MiB block next would make 106 MiB, so the kept blocks go
 * back to the C library, and the next 64 MiB block is a fresh one. */
START_TEST(cpu_keeps_freed_blocks_within_bound)
{
    iso_backend *be = NULL;
    ck_assert_int_eq(iso_backend_create("cpu", 1, ISO_PREC_FP32, &be), ISO_OK);
    const size_t mib = 1 << 20, big = 64 * mib / sizeof(float);
    const float mark = 12345.678f;
    float *x = be->ops->alloc(be, big * sizeof *x);
    ck_assert_ptr_nonnull(x);
    x[0] = x[big - 1] = mark;
    be->ops->free(be, x);
    float *y = be->ops->alloc(be, 12 * mib);
    ck_assert_ptr_nonnull(y);
    be->ops->free(be, y);
    float *again = be->ops->alloc(be, big * sizeof *again);
    ck_assert_ptr_eq(again, x);
    ck_assert(again[0] == mark && again[big - 1] == mark);
    be->ops->free(be, again);
    float *z = be->ops->alloc(be, 30 * mib);
    ck_assert_ptr_nonnull(z);
    be->ops->free(be, z);
    float *fresh = be->ops->alloc(be, big * sizeof *fresh);
    ck_assert_ptr_nonnull(fresh);
    ck_assert(fresh[0] != mark);
    ck_assert_uint_eq(iso_backend_peak_bytes(be), 64 * mib);
    be->ops->free(be, fresh);
    iso_backend_destroy(be);
}
END_TEST

/* iso_backend_release_cached frees the kept blocks (not those in use), and the allocator still works after. */
/* The thread count reported is the pool's, which caps at 64 (1000 was reported as 1000). */
START_TEST(cpu_reports_the_threads_it_runs)
{
    iso_backend *be = NULL;
    ck_assert_int_eq(iso_backend_create("cpu", 1000, ISO_PREC_FP32, &be), ISO_OK);
    ck_assert_int_eq(iso_backend_n_threads(be), 64);
    iso_backend_destroy(be);
    ck_assert_int_eq(iso_backend_create("cpu", 3, ISO_PREC_FP32, &be), ISO_OK);
    ck_assert_int_eq(iso_backend_n_threads(be), 3);
    iso_backend_destroy(be);
}
END_TEST

START_TEST(cpu_releases_cached_blocks)
{
    iso_backend *be = NULL;
    ck_assert_int_eq(iso_backend_create("cpu", 1, ISO_PREC_FP32, &be), ISO_OK);
    const size_t mib = 1 << 20;
    float *in_use = be->ops->alloc(be, mib), *x = be->ops->alloc(be, 8 * mib);
    ck_assert(in_use && x);
    ck_assert_uint_eq(iso_backend_cached_bytes(be), 0);
    be->ops->free(be, x);
    ck_assert_uint_ge(iso_backend_cached_bytes(be), 8 * mib);
    ck_assert_int_eq(iso_backend_release_cached(be), ISO_OK);
    ck_assert_uint_eq(iso_backend_cached_bytes(be), 0);
    ck_assert_uint_eq(iso_backend_bytes_in_use(be), mib);
    in_use[0] = in_use[mib / sizeof(float) - 1] = 1.0f; /* still the caller's (ASan would see a freed block) */
    float *y = be->ops->alloc(be, 8 * mib);
    ck_assert_ptr_nonnull(y);
    be->ops->free(be, y);
    be->ops->free(be, in_use);
    iso_backend_destroy(be);
}
END_TEST

START_TEST(precision_names)
{
    ck_assert_str_eq(iso_precision_name(ISO_PREC_FP32), "fp32");
    ck_assert_str_eq(iso_precision_name(ISO_PREC_TF32), "tf32");
    ck_assert_str_eq(iso_precision_name(ISO_PREC_BF16), "bf16");
}
END_TEST

/* OpenBLAS's fallback cores are replaced by what the CPU runs (0.3.21 picks Prescott on Emerald Rapids), and the
 * cores it chose knowingly, or names this build does not know, are kept. */
START_TEST(blas_core_choice)
{
    ck_assert_str_eq(iso_cpu_blas_core_for("Prescott", 1, 1), "SkylakeX");
    ck_assert_str_eq(iso_cpu_blas_core_for("Sandybridge", 0, 1), "Haswell");
    ck_assert_str_eq(iso_cpu_blas_core_for("NEHALEM", 1, 1), "SkylakeX");
    ck_assert_str_eq(iso_cpu_blas_core_for(NULL, 0, 1), "Haswell");
    ck_assert_ptr_null(iso_cpu_blas_core_for("Prescott", 0, 0)); /* the CPU has nothing better */
    ck_assert_ptr_null(iso_cpu_blas_core_for("Haswell", 1, 1));
    ck_assert_ptr_null(iso_cpu_blas_core_for("Cooperlake", 1, 1));
    ck_assert_ptr_null(iso_cpu_blas_core_for("Zen", 0, 1));
    ck_assert_ptr_null(iso_cpu_blas_core_for("GraniteRapids", 1, 1));
    /* a core set by OPENBLAS_CORETYPE: also OpenBLAS's AVX2 cores on an AVX-512 CPU */
    ck_assert_str_eq(iso_cpu_blas_core_wider("Haswell", 1, 1), "SkylakeX");
    ck_assert_str_eq(iso_cpu_blas_core_wider("zen", 1, 1), "SkylakeX");
    ck_assert_str_eq(iso_cpu_blas_core_wider("Prescott", 0, 1), "Haswell");
    ck_assert_ptr_null(iso_cpu_blas_core_wider("Haswell", 0, 1));
    ck_assert_ptr_null(iso_cpu_blas_core_wider("SkylakeX", 1, 1));
    ck_assert_ptr_null(iso_cpu_blas_core_wider("Cooperlake", 1, 1));
    /* OPENBLAS_CORETYPE set is the user's choice: no hint, so no re-execution */
    ck_assert_int_eq(setenv("OPENBLAS_CORETYPE", "Prescott", 1), 0);
    ck_assert_ptr_null(iso_backend_cpu_blas_hint());
    ck_assert_int_eq(iso_backend_cpu_blas_reexec((char *[]){"unused", NULL}), ISO_OK);
    unsetenv("OPENBLAS_CORETYPE");
}
END_TEST

/* ---- the model's attention dispatch (iso_attention), on a backend with the CUDA attention kernel's limits: the
 * CPU backend with supports_op answered as the CUDA backend answers it (iso_k_attention_prefer_fused), or
 * declining every shape, and a fused op that refuses what the CUDA kernel refuses (iso_k_attention_fits). ---- */

static int mock_cuda, mock_fused_calls; /* mock_cuda 0: supports_op declines every attention */
static int mock_gemms, mock_misaligned_gemms;
static const struct iso_backend_ops *cpu_ops_of_mock;

static int mock_supports_op(const iso_backend *be, iso_op op, const void *args)
{
    (void)be;
    return op != ISO_OP_ATTENTION || !args || (mock_cuda && iso_k_attention_prefer_fused(args));
}

static int mock_attention(iso_backend *be, const iso_attention_args *a)
{
    int rc = iso_k_attention_check(a, ISO_K_ATTN_MAX_HD);
    if (rc == ISO_OK) {
        mock_fused_calls++;
        rc = cpu_ops_of_mock->attention(be, a);
    }
    return rc;
}

/* Whether cuBLAS can take its 16-byte aligned (tensor-core) kernels: every operand and, per batch, every matrix
 * starts on 16 bytes, and every row does. */
static int gemm_aligned(const iso_gemm_args *g)
{
    const void *p[] = {g->a, g->b, g->c};
    const int64_t strides[] = {g->lda, g->ldb, g->ldc, g->batch > 1 ? g->stride_a : 0,
                               g->batch > 1 ? g->stride_b : 0, g->batch > 1 ? g->stride_c : 0};
    for (int i = 0; i < 3; i++)
        if ((uintptr_t)p[i] % 16)
            return 0;
    for (int i = 0; i < 6; i++)
        if (strides[i] % 4)
            return 0;
    return 1;
}

static int mock_gemm(iso_backend *be, const iso_gemm_args *g)
{
    mock_gemms++;
    mock_misaligned_gemms += !gemm_aligned(g);
    return cpu_ops_of_mock->gemm(be, g);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

/* out = softmax(scale q k^T + key_bias) v per head, in double, checked against got (Tq x ld) on about 50 query
 * rows a head, the first and last included (every query block of the general path has rows among them). */
static void check_attention(const iso_attention_args *a, const float *got)
{
    const int hd = a->head_dim, step = a->Tq > 50 ? a->Tq / 50 : 1;
    double *p = malloc((size_t)a->Tk * sizeof *p), worst = 0;
    ck_assert_ptr_nonnull(p);
    for (int h = 0; h < a->heads; h++)
        for (int i = 0; i < a->Tq; i = i + step < a->Tq || i == a->Tq - 1 ? i + step : a->Tq - 1) {
            const float *q = a->q + (int64_t)i * a->ldq + h * hd;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < a->Tk; j++) {
                const float *k = a->k + (int64_t)j * a->ldk + h * hd;
                double dot = 0;
                for (int d = 0; d < hd; d++)
                    dot += (double)q[d] * k[d];
                p[j] = a->scale * dot + (a->key_bias ? a->key_bias[j] : 0.0);
                mx = p[j] > mx ? p[j] : mx;
            }
            for (int j = 0; j < a->Tk; j++)
                sum += (p[j] = exp(p[j] - mx));
            for (int d = 0; d < hd; d++) {
                double o = 0;
                for (int j = 0; j < a->Tk; j++)
                    o += p[j] * a->v[(int64_t)j * a->ldv + h * hd + d];
                double err = fabs(got[(int64_t)i * a->ldo + h * hd + d] - o / sum);
                worst = err > worst ? err : worst;
            }
        }
    free(p);
    ck_assert_msg(worst < 2e-5, "Tq=%d Tk=%d heads=%d hd=%d: max error %.3g", a->Tq, a->Tk, a->heads, hd, worst);
}

/* Random q (Tq rows), k and v (Tk rows), ld floats a row, and a key bias of bias_every_4th on every 4th key. */
static void fill_attention_inputs(float *q, float *k, float *v, float *kb, int Tq, int Tk, int ld,
                                  float bias_every_4th)
{
    for (size_t i = 0; i < (size_t)Tq * ld; i++)
        q[i] = 2.0f * frand();
    for (size_t i = 0; i < (size_t)Tk * ld; i++)
        k[i] = 2.0f * frand(), v[i] = frand();
    for (int j = 0; j < Tk; j++)
        kb[j] = j % 4 == 3 ? bias_every_4th : 0.0f;
}

/* Runs iso_attention on the mock with random q, k, v (every fourth key masked); returns whether the fused op ran. */
static int dispatch(int Tq, int Tk, int heads, int hd, int cuda)
{
    iso_backend *be = NULL;
    ck_assert_int_eq(iso_backend_create("cpu", 2, ISO_PREC_FP32, &be), ISO_OK);
    struct iso_backend_ops mock = *be->ops;
    cpu_ops_of_mock = be->ops;
    mock.supports_op = mock_supports_op;
    mock.attention = mock_attention;
    mock.gemm = mock_gemm;
    be->ops = &mock;
    mock_cuda = cuda;
    mock_fused_calls = mock_gemms = mock_misaligned_gemms = 0;
    const int ld = heads * hd;
    iso_attention_args a = {.ldq = ld, .ldk = ld, .ldv = ld, .ldo = ld, .Tq = Tq, .Tk = Tk, .heads = heads,
                            .head_dim = hd, .scale = 1.0f / sqrtf((float)hd)};
    float *q = be->ops->alloc(be, (size_t)Tq * ld * sizeof *q), *k = be->ops->alloc(be, (size_t)Tk * ld * sizeof *k);
    float *v = be->ops->alloc(be, (size_t)Tk * ld * sizeof *v), *o = be->ops->alloc(be, (size_t)Tq * ld * sizeof *o);
    float *kb = be->ops->alloc(be, (size_t)Tk * sizeof *kb);
    ck_assert(q && k && v && o && kb);
    fill_attention_inputs(q, k, v, kb, Tq, Tk, ld, -1e9f);
    a.q = q, a.k = k, a.v = v, a.out = o, a.key_bias = kb;
    ck_assert_msg(iso_attention(be, &a) == ISO_OK, "%s", iso_last_error());
    ck_assert_int_eq(iso_backend_sync(be), ISO_OK);
    check_attention(&a, o);
    /* With q, k, v rows and heads on 16 bytes, the general path's scores keep every GEMM aligned too. */
    if (hd % 4 == 0)
        ck_assert_msg(!mock_misaligned_gemms, "Tq=%d Tk=%d heads=%d hd=%d: %d of %d GEMMs off 16-byte alignment", Tq,
                      Tk, heads, hd, mock_misaligned_gemms, mock_gemms);
    int fused = mock_fused_calls > 0;
    float *bufs[] = {q, k, v, o, kb};
    for (int i = 0; i < 5; i++)
        be->ops->free(be, bufs[i]);
    ck_assert_uint_eq(iso_backend_bytes_in_use(be), 0);
    be->ops = cpu_ops_of_mock;
    iso_backend_destroy(be);
    return fused;
}

/* The published model's attention shapes (docs/model.md) as the CUDA backend dispatches them: the fusion's 8
 * heads of 384 over the 896 Enformer rows, and any sequence past 128 tokens, take the general path (GEMMs and
 * softmax); short ESM-2 150M (20 heads of 32), NT-v2 (16 x 48; 64 for the 500M and 2.5B sizes) and ESM-2 650M
 * (20 x 64) sequences the fused kernel. Enformer's relative-position attention never calls the fused op. */
START_TEST(attention_dispatch_on_published_shapes)
{
    ck_assert(!dispatch(896, 67, 8, 384, 1)); /* RNA or protein keys of a short transcript */
    ck_assert(!dispatch(896, 3, 8, 384, 1));
    ck_assert(dispatch(100, 100, 20, 32, 1));
    ck_assert(dispatch(128, 128, 16, 48, 1));
    ck_assert(dispatch(70, 70, 20, 64, 1));
    ck_assert(!dispatch(500, 500, 20, 32, 1));  /* a 498-residue protein */
    ck_assert(!dispatch(1000, 1000, 16, 48, 1)); /* an RNA of 6 kb */
    ck_assert(!dispatch(501, 501, 20, 64, 1));   /* odd token counts: the scores' rows padded to 16 bytes */
    ck_assert(!dispatch(896, 501, 8, 384, 1));
    ck_assert(dispatch(5, 9, 1, ISO_K_ATTN_MAX_HD, 1));
    ck_assert(!dispatch(5, 9, 1, ISO_K_ATTN_MAX_HD + 1, 1));
}
END_TEST

/* The general path's blocking: groups of heads, and query-row blocks when one head's scores pass 64 MiB. */
START_TEST(attention_general_path_blocks)
{
    ck_assert(!dispatch(3, 5, 300, 2, 0));     /* one group of all heads */
    ck_assert(!dispatch(2100, 2100, 5, 2, 0)); /* 3 heads a group, then 2 */
    ck_assert(!dispatch(4200, 4100, 1, 2, 0)); /* 4092 query rows a block, then 108 */
}
END_TEST

/* ---- the CPU backend's attention op itself: the register tiles (AVX-512 for head widths of a multiple of 16,
 * AVX2 of 8) and the sgemm path, against the definition in double; the tiles' bits independent of threads, of the
 * rows asked for and of the instruction set ---- */

static void random_attention(iso_attention_args *a, int Tq, int Tk, int heads, int hd, float bias_every_4th)
{
    const int ld = heads * hd + 3; /* rows wider than the heads, as in a fused qkv buffer */
    float *q = malloc((size_t)Tq * ld * sizeof *q), *k = malloc((size_t)Tk * ld * sizeof *k);
    float *v = malloc((size_t)Tk * ld * sizeof *v), *o = calloc((size_t)Tq * ld, sizeof *o);
    float *kb = malloc((size_t)Tk * sizeof *kb);
    ck_assert(q && k && v && o && kb);
    fill_attention_inputs(q, k, v, kb, Tq, Tk, ld, bias_every_4th);
    *a = (iso_attention_args){.q = q, .k = k, .v = v, .ldq = ld, .ldk = ld, .ldv = ld, .out = o, .ldo = ld,
                              .Tq = Tq, .Tk = Tk, .heads = heads, .head_dim = hd, .scale = 1.0f / sqrtf((float)hd),
                              .key_bias = kb};
}

static void free_attention(iso_attention_args *a)
{
    free((void *)a->q), free((void *)a->k), free((void *)a->v), free(a->out), free((void *)a->key_bias);
}

/* out = the tiles' arithmetic in plain C, in the order attention_tiles.h states for every instruction set: scores
 * as one fmaf chain over the head dims, then scaled; the shared softmax row; outputs as one fmaf chain per block of
 * keys (the blocks' sums in double), then normalised. The tiles must give these bits on any CPU. */
static void fixed_order_attention(const iso_attention_args *a, float *out)
{
    const int hd = a->head_dim;
    float *s = malloc((size_t)a->Tk * sizeof *s);
    ck_assert_ptr_nonnull(s);
    for (int h = 0; h < a->heads; h++)
        for (int i = 0; i < a->Tq; i++) {
            const float *q = a->q + (int64_t)i * a->ldq + h * hd;
            for (int j = 0; j < a->Tk; j++) {
                const float *k = a->k + (int64_t)j * a->ldk + h * hd;
                float dot = 0.0f;
                for (int d = 0; d < hd; d++)
                    dot = fmaf(q[d], k[d], dot);
                s[j] = dot * a->scale;
            }
            const float inv = iso_k_softmax_exp_row(s, a->Tk, a->key_bias);
            for (int d = 0; d < hd; d++) {
                float o = 0.0f;
                double blocks = 0.0;
                for (int j0 = 0; j0 < a->Tk; j0 += ISO_CPU_ATTENTION_KEY_BLOCK) {
                    o = 0.0f;
                    for (int j = j0; j < a->Tk && j < j0 + ISO_CPU_ATTENTION_KEY_BLOCK; j++)
                        o = fmaf(s[j], a->v[(int64_t)j * a->ldv + h * hd + d], o);
                    blocks += o;
                }
                out[(int64_t)i * a->ldo + h * hd + d] = (a->Tk > ISO_CPU_ATTENTION_KEY_BLOCK ? (float)blocks : o) * inv;
            }
        }
    free(s);
}

/* Whether the tiles of isa, run directly on every head, give the bits `want`. */
static int tiles_match(iso_cpu_tiles isa, const iso_attention_args *a, const float *want)
{
    float *scratch = malloc(iso_cpu_attention_tiles_scratch(a->Tk, a->head_dim) * sizeof *scratch);
    ck_assert_ptr_nonnull(scratch);
    memset(a->out, 0, (size_t)a->Tq * a->ldo * sizeof *a->out);
    for (int h = 0; h < a->heads; h++)
        iso_cpu_attention_tiles(isa, a, h, 0, a->Tq, 1, scratch);
    free(scratch);
    return !memcmp(want, a->out, (size_t)a->Tq * a->ldo * sizeof *want);
}

START_TEST(cpu_attention_op)
{
    static const struct {
        int Tq, Tk, heads, hd;
    } cases[] = {{1, 1, 1, 16},    {5, 17, 2, 48},  {49, 33, 3, 64}, {200, 1000, 2, 64}, {97, 300, 1, 384},
                 {300, 31, 4, 32}, {13, 40, 2, 40}, {9, 23, 3, 8},   {30, 2100, 2, 16},  {7, 1025, 1, 24},
                 {60, 7, 3, 100},  {50, 70, 2, 20}};
    iso_backend *one = NULL, *two = NULL;
    ck_assert_int_eq(iso_backend_create("cpu", 1, ISO_PREC_FP32, &one), ISO_OK);
    ck_assert_int_eq(iso_backend_create("cpu", 2, ISO_PREC_FP32, &two), ISO_OK);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        iso_attention_args a;
        random_attention(&a, cases[c].Tq, cases[c].Tk, cases[c].heads, cases[c].hd, -1e9f);
        ck_assert_msg(two->ops->attention(two, &a) == ISO_OK, "%s", iso_last_error());
        check_attention(&a, a.out);
        if (iso_cpu_attention_tiles_for(a.head_dim) != ISO_CPU_TILES_NONE) {
            size_t n = (size_t)a.Tq * a.ldo;
            float *full = malloc(n * sizeof *full);
            ck_assert_ptr_nonnull(full);
            memcpy(full, a.out, n * sizeof *full);
            ck_assert_int_eq(one->ops->attention(one, &a), ISO_OK);
            ck_assert_msg(!memcmp(full, a.out, n * sizeof *full), "case %zu: other bits on one thread", c);
            iso_attention_args rows = a; /* the rows from Tq / 3 on alone: other query blocks, the same bits */
            const int r0 = a.Tq / 3;
            rows.q += (size_t)r0 * a.ldq, rows.out += (size_t)r0 * a.ldo, rows.Tq = a.Tq - r0;
            memset(a.out, 0, n * sizeof *full);
            ck_assert_int_eq(two->ops->attention(two, &rows), ISO_OK);
            ck_assert_msg(!memcmp(full + (size_t)r0 * a.ldo, rows.out, (n - (size_t)r0 * a.ldo) * sizeof *full),
                          "case %zu: other bits for rows %d.. alone", c, r0);
            float *fixed = calloc(n, sizeof *fixed); /* and the bits of the fixed order, on every instruction set */
            ck_assert_ptr_nonnull(fixed);
            fixed_order_attention(&a, fixed);
            ck_assert_msg(!memcmp(full, fixed, n * sizeof *full), "case %zu: other bits than the fixed order", c);
            static const iso_cpu_tiles isas[] = {ISO_CPU_TILES_AVX512, ISO_CPU_TILES_AVX2};
            for (size_t t = 0; t < sizeof isas / sizeof isas[0]; t++)
                if (iso_cpu_attention_tiles_run(isas[t], a.head_dim))
                    ck_assert_msg(tiles_match(isas[t], &a, fixed), "case %zu: tiles %d give other bits", c, isas[t]);
            free(fixed);
            free(full);
        }
        free_attention(&a);
        /* every key masked with -inf: zeros, not NaN */
        random_attention(&a, cases[c].Tq, cases[c].Tk, cases[c].heads, cases[c].hd, -INFINITY);
        for (int j = 0; j < a.Tk; j++)
            ((float *)a.key_bias)[j] = -INFINITY;
        ck_assert_int_eq(two->ops->attention(two, &a), ISO_OK);
        for (int i = 0; i < a.Tq; i++)
            for (int d = 0; d < a.heads * a.head_dim; d++)
                ck_assert_msg(a.out[(size_t)i * a.ldo + d] == 0.0f, "case %zu: row %d dim %d is %g", c, i, d,
                              a.out[(size_t)i * a.ldo + d]);
        free_attention(&a);
    }
    iso_backend_destroy(one);
    iso_backend_destroy(two);
}
END_TEST

/* ---- the 5-tap conv by Winograd F(4,5) (iso_conv1d_winograd), against the conv's definition in double ---- */

/* Max |got - ref| / max |ref| of a same-padded 5-tap conv y = sum_j x[l + j - 2] w[:, :, j]^T + b. */
static double conv5_error(const float *x, int64_t L, int cin, const float *w, const float *b, const float *got,
                          int cout)
{
    double worst = 0, biggest = 0;
    for (int64_t l = 0; l < L; l++)
        for (int o = 0; o < cout; o++) {
            double ref = b ? b[o] : 0.0;
            for (int j = 0; j < 5; j++)
                if (l + j - 2 >= 0 && l + j - 2 < L)
                    for (int c = 0; c < cin; c++)
                        ref += (double)x[(l + j - 2) * cin + c] * w[((int64_t)o * cin + c) * 5 + j];
            double err = fabs(got[l * cout + o] - ref);
            worst = err > worst ? err : worst;
            biggest = fabs(ref) > biggest ? fabs(ref) : biggest;
        }
    return worst / (biggest > 0 ? biggest : 1);
}

/* Every length class against 4-row tiles (L < 4, L % 4 = 0..3), chunks that split the tiles unevenly, odd channel
 * counts, with and without bias; at fp32 and, where oneDNN is built in, at bf16, whose Winograd products are fp32
 * too (bf16-rounded transformed operands would err ~1e-2). */
START_TEST(winograd_conv_matches_definition)
{
    const iso_precision precision = _i ? ISO_PREC_BF16 : ISO_PREC_FP32;
    static const struct {
        int64_t L;
        int cin, cout, chunk, bias;
    } cases[] = {{1, 3, 2, 1024, 1}, {2, 5, 7, 1024, 0}, {3, 1, 1, 1, 1}, {4, 8, 3, 1, 1}, {5, 7, 9, 1, 0},
                 {17, 13, 11, 2, 1}, {64, 33, 31, 3, 1}, {1001, 40, 24, 64, 1}, {4096, 96, 80, 1024, 1}};
    iso_backend *be = NULL;
    setenv("ISO_CPU_BF16_KERNELS", "fp32", 0); /* bf16 on any CPU (the products as sgemm on rounded values) */
    if (iso_backend_create("cpu", 2, precision, &be) != ISO_OK) {
        ck_assert_int_eq(precision, ISO_PREC_BF16);
        printf("no bf16 on this build (%s): Winograd at bf16 not checked\n", iso_last_error());
        return;
    }
    ck_assert(iso_conv1d_winograd_usable(be));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int64_t L = cases[i].L;
        const int cin = cases[i].cin, cout = cases[i].cout;
        float *x = malloc((size_t)L * cin * sizeof *x), *w = malloc((size_t)cout * cin * 5 * sizeof *w);
        float *u = malloc((size_t)8 * cout * cin * sizeof *u), *b = malloc((size_t)cout * sizeof *b);
        float *y = malloc((size_t)L * cout * sizeof *y);
        ck_assert(x && w && u && b && y);
        for (int64_t e = 0; e < L * cin; e++)
            x[e] = frand();
        for (int64_t e = 0; e < (int64_t)cout * cin * 5; e++)
            w[e] = frand() / sqrtf(5.0f * cin);
        for (int o = 0; o < cout; o++)
            b[o] = frand();
        iso_conv1d_winograd_weights(w, cout, cin, u);
        const float *bias = cases[i].bias ? b : NULL;
        ck_assert_msg(iso_conv1d_winograd(be, x, L, cin, u, bias, y, cout, cases[i].chunk) == ISO_OK, "%s",
                      iso_last_error());
        double err = conv5_error(x, L, cin, w, bias, y, cout);
        /* fp32 rounding of the transformed inputs and weights: about 5x a direct sum's, which is ~1e-7 here */
        ck_assert_msg(err < 5e-6, "%s L=%lld cin=%d cout=%d chunk=%d: relative error %.3g",
                      iso_precision_name(precision), (long long)L, cin, cout, cases[i].chunk, err);
        free(x), free(w), free(u), free(b), free(y);
    }
    ck_assert_uint_eq(iso_backend_bytes_in_use(be), 0);
    iso_backend_destroy(be);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backend");
    TCase *t = tcase_create("registry");
    tcase_add_test(t, registry_lists_every_backend);
    tcase_add_test(t, device_names);
    tcase_add_test(t, precision_out_of_range);
    tcase_add_test(t, cpu_accessors);
    tcase_add_test(t, cpu_keeps_freed_blocks_within_bound);
    tcase_add_test(t, cpu_releases_cached_blocks);
    tcase_add_test(t, cpu_reports_the_threads_it_runs);
    tcase_add_test(t, precision_names);
    tcase_add_test(t, blas_core_choice);
    suite_add_tcase(s, t);
    TCase *d = tcase_create("dispatch");
    tcase_set_timeout(d, 300);
    tcase_add_test(d, attention_dispatch_on_published_shapes);
    tcase_add_test(d, cpu_attention_op);
    tcase_add_test(d, attention_general_path_blocks);
    suite_add_tcase(s, d);
    TCase *c = tcase_create("conv");
    tcase_add_loop_test(c, winograd_conv_matches_definition, 0, 2);
    suite_add_tcase(s, c);
    return iso_run_suite(s);
}
