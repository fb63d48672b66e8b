/* Every backend op on every backend of the registry that has a device, at each of its precisions, against the
 * CPU backend in fp32, with per-op tolerances on the normalised mean squared error (as ggml's test-backend-ops).
 * An op may refuse a case only if the backend declines it (iso_backend_supports_op; it may also decline shapes it
 * runs but the model had better compute otherwise, and those are compared). Exits 77
 * (skipped) when there is nothing to compare: only the CPU backend, in fp32 only.
 *
 *   test_backend_ops                                   compare (the ctest, label gpu)
 *   test_backend_ops perf [cpu|cuda] [fp32|tf32|bf16]  time model-sized ops, print TFLOP/s and GB/s
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend_impl.h"
#include "model/ops.h"

typedef enum {
    OP_GEMM,
    OP_BIAS_ACT,
    OP_AFFINE_ACT,
    OP_AXPY,
    OP_LAYERNORM,
    OP_SOFTMAX,
    OP_ROTARY,
    OP_GLU_SILU,
    OP_PAIR_DIFF,
    OP_ATTN_POOL2,
    OP_REL_SHIFT_ADD,
    OP_MEAN_ROWS,
    OP_COPY,
    OP_MEMSET0,
    OP_ATTENTION,
    OP_MODEL_ATTENTION, /* attention as the model runs it (iso_attention): the fused op or GEMMs + softmax */
} op_kind;

static const char *const op_names[] = {"gemm",      "bias_act",      "affine_act", "axpy",      "layernorm",
                                       "softmax",   "rotary",        "glu_silu",   "pair_diff", "attn_pool2",
                                       "rel_shift_add", "mean_rows", "copy",       "memset0",   "attention",
                                       "model_attention"};
_Static_assert(sizeof op_names / sizeof op_names[0] == OP_MODEL_ATTENTION + 1, "one name per op_kind");

/* One case: the op and its sizes. Meaning of d[] per op:
 *   gemm: m n k batch, lda_pad (extra columns), heads_layout (A and B are column blocks of one matrix, as
 *         attention heads are);     flag = trans_a | trans_b << 1 | (beta != 0) << 2
 *   bias_act / affine_act: rows cols;  flag = act | no_bias (bias_act), no_scale (affine_act) << 4 |
 *         no_shift << 5 (affine_act)
 *   axpy / copy / memset0: n      layernorm: rows cols, flag = in place     softmax: rows cols ld, flag = key_bias
 *   rotary: T heads head_dim ld   glu_silu: rows F   pair_diff, attn_pool2: L d   rel_shift_add: heads n
 *   mean_rows: rows cols r0 r1
 *   attention, model_attention: Tq Tk heads head_dim, ld_pad (extra columns of q, k, v, out); flag = key_bias */
typedef struct {
    op_kind op;
    int64_t d[6];
    int flag;
    iso_precision prec;
} op_case;

enum { MAX_BUFS = 5 };

typedef struct {
    int nbuf, out;       /* buffers and which one the op writes */
    size_t n[MAX_BUFS];  /* floats */
    float scale[MAX_BUFS];
    double flops, bytes; /* for perf */
} layout;

/* The GEMM of a case, without its buffers. */
static iso_gemm_args gemm_args(const op_case *c)
{
    const int64_t *d = c->d;
    int m = (int)d[0], n = (int)d[1], k = (int)d[2], batch = (int)d[3], pad = (int)d[4];
    iso_gemm_args g = {.trans_a = c->flag & 1, .trans_b = (c->flag >> 1) & 1, .m = m, .n = n, .k = k,
                       .alpha = 0.7f, .beta = (c->flag & 4) ? 0.5f : 0.0f, .batch = batch};
    int cols_a = g.trans_a ? m : k, cols_b = g.trans_b ? k : n;
    if (d[5]) { /* head h of A and B are column blocks h of one row-major matrix (attention q k^T, p v) */
        g.lda = cols_a * batch + pad, g.stride_a = cols_a;
        g.ldb = cols_b * batch + pad, g.stride_b = cols_b;
    } else {
        g.lda = cols_a + pad, g.stride_a = (int64_t)(g.trans_a ? k : m) * g.lda;
        g.ldb = cols_b + pad, g.stride_b = (int64_t)(g.trans_b ? n : k) * g.ldb;
    }
    g.ldc = n, g.stride_c = (int64_t)m * n;
    return g;
}

/* Floats spanned by `batch` matrices of rows x cols with leading dimension ld, `stride` apart. */
static size_t extent(int batch, int64_t stride, int rows, int ld, int cols)
{
    return (size_t)((batch - 1) * stride + (int64_t)(rows - 1) * ld + cols);
}

static layout case_layout(const op_case *c)
{
    layout l = {0};
    const int64_t *d = c->d;
    for (int i = 0; i < MAX_BUFS; i++)
        l.scale[i] = 1.0f;
    switch (c->op) {
    case OP_GEMM: {
        iso_gemm_args g = gemm_args(c);
        l.nbuf = 3, l.out = 2;
        l.n[0] = extent(g.batch, g.stride_a, g.trans_a ? g.k : g.m, g.lda, g.trans_a ? g.m : g.k);
        l.n[1] = extent(g.batch, g.stride_b, g.trans_b ? g.n : g.k, g.ldb, g.trans_b ? g.k : g.n);
        l.n[2] = extent(g.batch, g.stride_c, g.m, g.ldc, g.n);
        l.flops = 2.0 * g.m * g.n * g.k * g.batch;
        l.bytes = 4.0 * (l.n[0] + l.n[1] + l.n[2]);
        break;
    }
    case OP_BIAS_ACT:
        l.nbuf = 2, l.out = 0, l.n[0] = (size_t)(d[0] * d[1]), l.n[1] = (size_t)d[1], l.scale[0] = 4.0f;
        l.bytes = 8.0 * l.n[0];
        break;
    case OP_AFFINE_ACT:
        l.nbuf = 4, l.out = 1, l.n[0] = l.n[1] = (size_t)(d[0] * d[1]), l.n[2] = l.n[3] = (size_t)d[1];
        l.scale[0] = 3.0f, l.bytes = 8.0 * l.n[0];
        break;
    case OP_AXPY:
        l.nbuf = 2, l.out = 0, l.n[0] = l.n[1] = (size_t)d[0], l.bytes = 12.0 * d[0];
        break;
    case OP_COPY:
    case OP_MEMSET0:
        l.nbuf = 2, l.out = 0, l.n[0] = l.n[1] = (size_t)d[0], l.bytes = (c->op == OP_COPY ? 8.0 : 4.0) * d[0];
        break;
    case OP_LAYERNORM:
        l.nbuf = 4, l.out = 1, l.n[0] = l.n[1] = (size_t)(d[0] * d[1]), l.n[2] = l.n[3] = (size_t)d[1];
        l.scale[0] = 5.0f, l.bytes = 8.0 * l.n[0];
        break;
    case OP_SOFTMAX:
        l.nbuf = 2, l.out = 0, l.n[0] = (size_t)(d[0] * d[2]), l.n[1] = (size_t)d[1], l.scale[0] = 10.0f;
        l.bytes = 8.0 * d[0] * d[1];
        break;
    case OP_ROTARY:
        l.nbuf = 1, l.out = 0, l.n[0] = (size_t)(d[0] * d[3]), l.bytes = 8.0 * d[0] * d[1] * d[2];
        break;
    case OP_GLU_SILU:
        l.nbuf = 2, l.out = 1, l.n[0] = (size_t)(d[0] * 2 * d[1]), l.n[1] = (size_t)(d[0] * d[1]), l.scale[0] = 4.0f;
        l.bytes = 12.0 * d[0] * d[1];
        break;
    case OP_PAIR_DIFF:
        l.nbuf = 2, l.out = 1, l.n[0] = (size_t)(2 * d[0] * d[1]), l.n[1] = (size_t)(d[0] * d[1]);
        l.bytes = 12.0 * d[0] * d[1];
        break;
    case OP_ATTN_POOL2: /* x (2L x d), z (L x d), y */
        l.nbuf = 3, l.out = 2, l.n[0] = (size_t)(2 * d[0] * d[1]), l.n[1] = l.n[2] = (size_t)(d[0] * d[1]);
        l.scale[1] = 8.0f, l.bytes = 16.0 * d[0] * d[1];
        break;
    case OP_REL_SHIFT_ADD:
        l.nbuf = 2, l.out = 0, l.n[0] = (size_t)(d[0] * d[1] * d[1]), l.n[1] = (size_t)(d[0] * d[1] * 2 * d[1]);
        l.bytes = 12.0 * l.n[0];
        break;
    case OP_MEAN_ROWS:
        l.nbuf = 2, l.out = 1, l.n[0] = (size_t)(d[0] * d[1]), l.n[1] = (size_t)d[1];
        l.bytes = 4.0 * (d[3] - d[2]) * d[1];
        break;
    case OP_ATTENTION:
    case OP_MODEL_ATTENTION: { /* q, k, v, out, key_bias */
        int64_t ld = d[2] * d[3] + d[4];
        l.nbuf = 5, l.out = 3, l.n[0] = l.n[3] = (size_t)(d[0] * ld), l.n[1] = l.n[2] = (size_t)(d[1] * ld);
        l.n[4] = (size_t)d[1], l.scale[0] = 2.0f;
        l.flops = 4.0 * d[0] * d[1] * d[2] * d[3];
        break;
    }
    }
    return l;
}

static int run_case(iso_backend *be, const op_case *c, float **buf)
{
    const int64_t *d = c->d;
    const struct iso_backend_ops *o = be->ops;
    switch (c->op) {
    case OP_GEMM: {
        iso_gemm_args g = gemm_args(c);
        g.a = buf[0], g.b = buf[1], g.c = buf[2];
        return o->gemm(be, &g);
    }
    case OP_BIAS_ACT:
        return o->bias_act(be, buf[0], (c->flag >> 4) ? NULL : buf[1], d[0], (int)d[1], (iso_act)(c->flag & 15));
    case OP_AFFINE_ACT:
        return o->affine_act(be, buf[0], buf[1], (c->flag & 16) ? NULL : buf[2], (c->flag & 32) ? NULL : buf[3], d[0],
                             (int)d[1], (iso_act)(c->flag & 15));
    case OP_AXPY: return o->axpy(be, buf[0], buf[1], -0.6f, d[0]);
    case OP_COPY: return o->copy(be, buf[0], buf[1], (size_t)d[0] * sizeof(float));
    case OP_MEMSET0: return o->memset0(be, buf[0], (size_t)d[0] * sizeof(float));
    case OP_LAYERNORM:
        return o->layernorm(be, buf[0], c->flag ? buf[0] : buf[1], buf[2], buf[3], d[0], (int)d[1], 1e-5f);
    case OP_SOFTMAX: return o->softmax(be, buf[0], d[0], (int)d[1], d[2], c->flag ? buf[1] : NULL);
    case OP_ROTARY: return o->rotary(be, buf[0], (int)d[0], (int)d[1], (int)d[2], (int)d[3]);
    case OP_GLU_SILU: return o->glu_silu(be, buf[0], buf[1], d[0], (int)d[1]);
    case OP_PAIR_DIFF: return o->pair_diff(be, buf[0], buf[1], d[0], (int)d[1]);
    case OP_ATTN_POOL2: return o->attn_pool2(be, buf[0], buf[1], buf[2], d[0], (int)d[1]);
    case OP_REL_SHIFT_ADD: return o->rel_shift_add(be, buf[0], buf[1], (int)d[0], (int)d[1]);
    case OP_MEAN_ROWS: return o->mean_rows(be, buf[0], buf[1], d[2], d[3], (int)d[1]);
    case OP_ATTENTION:
    case OP_MODEL_ATTENTION: {
        int ld = (int)(d[2] * d[3] + d[4]);
        iso_attention_args a = {.q = buf[0], .k = buf[1], .v = buf[2], .ldq = ld, .ldk = ld, .ldv = ld,
                                .out = buf[3], .ldo = ld, .Tq = (int)d[0], .Tk = (int)d[1], .heads = (int)d[2],
                                .head_dim = (int)d[3], .scale = 1.0f / sqrtf((float)d[3]),
                                .key_bias = c->flag ? buf[4] : NULL};
        return c->op == OP_ATTENTION ? o->attention(be, &a) : iso_attention(be, &a);
    }
    }
    return ISO_EINVAL;
}

/* In-place layernorm writes buffer 0. */
static int out_buffer(const op_case *c, const layout *l) { return c->op == OP_LAYERNORM && c->flag ? 0 : l->out; }

static double tolerance(const op_case *c)
{
    if (c->op == OP_GEMM)
        return c->prec == ISO_PREC_BF16 ? 1e-3 : c->prec == ISO_PREC_TF32 ? 1e-4 : 1e-9;
    /* Rotary angles reach 1,000 rad at position 1,000: a device powf 2 ulps off glibc's on every frequency
     * (CUDA documents 2 ulps) gives an nmse of 1.0e-9 there, 1 ulp 2.7e-10 (numpy emulation); a wrong pair or
     * sign gives ~1. */
    return c->op == OP_ROTARY ? 1e-8 : 1e-9;
}

static void describe(const op_case *c, char *s, size_t n)
{
    static const char *const precs[] = {"fp32", "tf32", "bf16"};
    int k = snprintf(s, n, "%s(", op_names[c->op]);
    static const int n_params[] = {6, 2, 2, 1, 2, 3, 4, 2, 2, 2, 2, 4, 1, 1, 5, 5};
    _Static_assert(sizeof n_params / sizeof n_params[0] == OP_MODEL_ATTENTION + 1, "one count per op_kind");
    for (int i = 0; i < n_params[c->op]; i++)
        k += snprintf(s + k, n - (size_t)k, "%s%lld", i ? "," : "", (long long)c->d[i]);
    snprintf(s + k, n - (size_t)k, ") flag=%d%s%s", c->flag, c->op == OP_GEMM ? " " : "",
             c->op == OP_GEMM ? precs[c->prec] : "");
}

/* Test code: running out of host memory ends the run. */
static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "test_backend_ops: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

/* Allocates the case's buffers on be, filled from host[]. */
static int upload_case(iso_backend *be, const layout *l, float **host, float **dev)
{
    int rc = ISO_OK;
    for (int i = 0; i < l->nbuf; i++)
        dev[i] = NULL;
    for (int i = 0; i < l->nbuf && !rc; i++) {
        dev[i] = be->ops->alloc(be, l->n[i] * sizeof(float));
        rc = dev[i] ? be->ops->upload(be, dev[i], host[i], l->n[i] * sizeof(float)) : iso_last_status();
    }
    return rc;
}

static void free_case(iso_backend *be, const layout *l, float **dev)
{
    for (int i = 0; i < l->nbuf; i++)
        if (dev[i])
            be->ops->free(be, dev[i]);
}

/* Runs the case on be from host[] and returns its output (malloc'd), or NULL when the op refused the case (with
 * an error) and may: the backend declines it. */
static float *output_on(iso_backend *be, const op_case *c, const layout *l, float **host, int may_refuse)
{
    float *dev[MAX_BUFS];
    int out = out_buffer(c, l);
    ck_assert_msg(upload_case(be, l, host, dev) == ISO_OK, "%s: %s", iso_backend_key(be), iso_last_error());
    if (run_case(be, c, dev) != ISO_OK) {
        ck_assert_msg(may_refuse, "%s: %s", iso_backend_key(be), iso_last_error());
        free_case(be, l, dev);
        return NULL;
    }
    float *res = xmalloc(l->n[out] * sizeof *res);
    ck_assert_msg(iso_backend_sync(be) == ISO_OK, "%s: %s", iso_backend_key(be), iso_last_error());
    ck_assert_int_eq(be->ops->download(be, res, dev[out], l->n[out] * sizeof *res), ISO_OK);
    free_case(be, l, dev);
    return res;
}

/* ---- the cases compared ---- */

#define GEMM(m, n, k, b, pad, heads, flag, prec) {OP_GEMM, {m, n, k, b, pad, heads}, flag, prec}
static op_case *cases;
static int n_cases;

static void add_case(op_case c)
{
    op_case *grown = realloc(cases, (size_t)(n_cases + 1) * sizeof *cases);
    if (!grown) {
        fprintf(stderr, "test_backend_ops: out of memory\n");
        exit(1);
    }
    cases = grown;
    cases[n_cases++] = c;
}

static void build_cases(void)
{
    for (int p = ISO_PREC_FP32; p <= ISO_PREC_BF16; p++) {
        for (int f = 0; f < 8; f++)
            add_case((op_case)GEMM(64, 96, 80, 1, 0, 0, f, (iso_precision)p));
        add_case((op_case)GEMM(33, 47, 16, 4, 0, 1, 2, (iso_precision)p));  /* q k^T per head */
        add_case((op_case)GEMM(33, 16, 47, 4, 0, 1, 0, (iso_precision)p));  /* p v per head */
        add_case((op_case)GEMM(50, 70, 30, 3, 5, 0, 5, (iso_precision)p));  /* padded, batched, beta */
        add_case((op_case)GEMM(128, 256, 1536, 1, 0, 0, 2, (iso_precision)p)); /* x W^T, deep k */
        add_case((op_case)GEMM(1, 1, 1, 1, 0, 0, 0, (iso_precision)p));
    }
    for (int act = ISO_ACT_NONE; act <= ISO_ACT_SILU; act++) {
        add_case((op_case){OP_BIAS_ACT, {100, 300}, act, 0});
        add_case((op_case){OP_BIAS_ACT, {7, 33}, act | 16, 0});
        add_case((op_case){OP_AFFINE_ACT, {90, 257}, act, 0});
        add_case((op_case){OP_AFFINE_ACT, {9, 65}, act | 16, 0});
        add_case((op_case){OP_AFFINE_ACT, {9, 65}, act | 32, 0});
    }
    add_case((op_case){OP_AXPY, {100003}, 0, 0});
    add_case((op_case){OP_COPY, {4099}, 0, 0});
    add_case((op_case){OP_MEMSET0, {4099}, 0, 0});
    static const int ln_cols[] = {1, 33, 768, 1280, 1536, 5120};
    for (int i = 0; i < 6; i++)
        for (int inplace = 0; inplace < 2; inplace++)
            add_case((op_case){OP_LAYERNORM, {17, ln_cols[i]}, inplace, 0});
    static const int sm_cols[] = {1, 7, 100, 1000, 2049};
    for (int i = 0; i < 5; i++)
        for (int masked = 0; masked < 2; masked++)
            /* rows packed, and rows 16-byte aligned as the model's scores (the columns past cols stay as they were) */
            for (int pad = 0; pad <= 3; pad += 3)
                add_case((op_case){OP_SOFTMAX, {40, sm_cols[i], sm_cols[i] + pad}, masked, 0});
    add_case((op_case){OP_ROTARY, {100, 4, 64, 3 * 4 * 64}, 0, 0}); /* q inside a fused qkv row */
    add_case((op_case){OP_ROTARY, {1000, 20, 64, 20 * 64}, 0, 0});
    add_case((op_case){OP_GLU_SILU, {50, 700}, 0, 0});
    add_case((op_case){OP_PAIR_DIFF, {64, 300}, 0, 0});
    add_case((op_case){OP_ATTN_POOL2, {64, 300}, 0, 0});
    add_case((op_case){OP_REL_SHIFT_ADD, {8, 63}, 0, 0});
    add_case((op_case){OP_MEAN_ROWS, {200, 500, 3, 197}, 0, 0});
    /* Self- and cross-attention (Tq != Tk, partial key tiles), each head_dim class of the CUDA kernel. */
    static const int attn_hd[] = {8, 32, 64, 100, 128};
    for (int i = 0; i < 5; i++)
        for (int masked = 0; masked < 2; masked++) {
            add_case((op_case){OP_ATTENTION, {77, 77, 3, attn_hd[i], 0}, masked, 0});
            add_case((op_case){OP_ATTENTION, {45, 130, 2, attn_hd[i], 3}, masked, 0});
        }
    add_case((op_case){OP_ATTENTION, {1000, 1000, 20, 64, 0}, 1, 0});
    /* The published fusion's heads (8 of 384): a backend that does not take them must say so and refuse. */
    add_case((op_case){OP_ATTENTION, {96, 200, 8, 384, 0}, 1, 0});
    /* The model's dispatch on each side of the CUDA backend's choice: the fusion (896 DNA rows, 8 heads of 384),
     * a long RNA's self-attention, a short protein's. */
    for (int masked = 0; masked < 2; masked++) {
        add_case((op_case){OP_MODEL_ATTENTION, {896, 300, 8, 384, 0}, masked, 0});
        add_case((op_case){OP_MODEL_ATTENTION, {1000, 1000, 16, 48, 0}, masked, 0});
        add_case((op_case){OP_MODEL_ATTENTION, {60, 60, 20, 32, 5}, masked, 0});
    }
}

/* The reference (CPU, fp32) and the backends compared with it, one per registry entry with a device. */
static iso_backend *ref_be, *tested[16];
static int n_tested;

/* The op as iso_backend_supports_op knows it (OP_COPY and OP_MEMSET0 are memory functions every backend has). */
static int supported(iso_backend *be, const op_case *c)
{
    static const iso_op ops[] = {ISO_OP_GEMM, ISO_OP_BIAS_ACT, ISO_OP_AFFINE_ACT, ISO_OP_AXPY, ISO_OP_LAYERNORM,
                                 ISO_OP_SOFTMAX, ISO_OP_ROTARY, ISO_OP_GLU_SILU, ISO_OP_PAIR_DIFF, ISO_OP_ATTN_POOL2,
                                 ISO_OP_REL_SHIFT_ADD, ISO_OP_MEAN_ROWS, ISO_OP_GEMM, ISO_OP_GEMM, ISO_OP_ATTENTION};
    _Static_assert(sizeof ops / sizeof ops[0] == OP_ATTENTION + 1, "one iso_op per op_kind up to OP_ATTENTION");
    if (c->op == OP_COPY || c->op == OP_MEMSET0 || c->op == OP_MODEL_ATTENTION)
        return 1;
    if (c->op == OP_ATTENTION) {
        const int64_t *d = c->d;
        iso_attention_args a = {.Tq = (int)d[0], .Tk = (int)d[1], .heads = (int)d[2], .head_dim = (int)d[3]};
        return iso_backend_supports_op(be, ISO_OP_ATTENTION, &a);
    }
    if (c->op == OP_GEMM) {
        iso_gemm_args g = gemm_args(c);
        return iso_backend_supports_op(be, ISO_OP_GEMM, &g);
    }
    return iso_backend_supports_op(be, ops[c->op], NULL);
}

/* Random inputs; key_bias of softmax and attention gets the model's 0 / -1e9 mask values (key 0 unmasked). */
static void fill_inputs(const op_case *c, const layout *l, float **host)
{
    for (int i = 0; i < l->nbuf; i++) {
        host[i] = xmalloc(l->n[i] * sizeof(float));
        for (size_t j = 0; j < l->n[i]; j++)
            host[i][j] = l->scale[i] * frand();
    }
    int kb = c->op == OP_SOFTMAX ? 1 : c->op == OP_ATTENTION || c->op == OP_MODEL_ATTENTION ? 4 : -1;
    if (kb >= 0)
        for (size_t j = 0; j < l->n[kb]; j++)
            host[kb][j] = (j % 3 == 1) ? -1e9f : 0.0f;
}

START_TEST(op_matches_cpu)
{
    iso_backend *be = tested[_i / n_cases];
    const op_case *c = &cases[_i % n_cases];
    char what[160];
    describe(c, what, sizeof what);
    if (iso_backend_set_precision(be, c->prec) != ISO_OK || !strcmp(iso_backend_key(be), iso_backend_key(ref_be)))
        return; /* not one of this backend's precisions, or the reference itself */
    layout l = case_layout(c);
    float *host[MAX_BUFS];
    fill_inputs(c, &l, host);
    float *got = output_on(be, c, &l, host, !supported(be, c));
    if (!got) {
        printf("%-10s %-48s declined and refused: %s\n", iso_backend_key(be), what, iso_last_error());
        for (int i = 0; i < l.nbuf; i++)
            free(host[i]);
        return;
    }
    float *ref = output_on(ref_be, c, &l, host, 0);
    size_t n = l.n[out_buffer(c, &l)];
    double err = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) != !isfinite(ref[i]))
            ck_abort_msg("element %zu: %s %g, cpu %g", i, iso_backend_key(be), got[i], ref[i]);
        err += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        norm += (double)ref[i] * ref[i];
    }
    double nmse = norm > 0 ? err / norm : err;
    printf("%-10s %-48s %9zu values  nmse %.3g (max %.0e)\n", iso_backend_key(be), what, n, nmse, tolerance(c));
    ck_assert_msg(nmse <= tolerance(c), "%s: nmse %.3g > %.0e", what, nmse, tolerance(c));
    free(ref), free(got);
    for (int i = 0; i < l.nbuf; i++)
        free(host[i]);
}
END_TEST

/* ---- perf ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Model-sized shapes: ESM-2 650M (1280 wide, 5120 FFN, 20 heads) on 1024 tokens, NT-v2 gated FFN, Enformer's
 * 1536-wide trunk over 1536 positions with 8 heads of relative attention. */
static int perf(const char *device, iso_precision prec)
{
    iso_backend *be = NULL;
    if (iso_backend_create(device, 0, prec, &be) != ISO_OK) {
        fprintf(stderr, "perf: %s\n", iso_last_error());
        return 1;
    }
    const op_case perf_cases[] = {
        GEMM(1024, 5120, 1280, 1, 0, 0, 2, prec),  GEMM(1024, 1280, 5120, 1, 0, 0, 2, prec),
        GEMM(1024, 3840, 1280, 1, 0, 0, 2, prec),  GEMM(1024, 1024, 64, 20, 0, 1, 2, prec),
        GEMM(1024, 64, 1024, 20, 0, 1, 0, prec),   GEMM(1536, 1536, 1536, 1, 0, 0, 2, prec),
        GEMM(4096, 4096, 4096, 1, 0, 0, 0, prec),  {OP_LAYERNORM, {1024, 1280}, 0, 0},
        {OP_SOFTMAX, {20 * 1024, 1024, 1024}, 1, 0},     {OP_BIAS_ACT, {1024, 5120}, ISO_ACT_GELU_ERF, 0},
        {OP_AFFINE_ACT, {1536, 1536}, ISO_ACT_GELU_SIGMOID, 0},
        {OP_ROTARY, {1024, 20, 64, 3 * 1280}, 0, 0}, {OP_GLU_SILU, {1024, 4096}, 0, 0},
        {OP_PAIR_DIFF, {768, 1536}, 0, 0},       {OP_ATTN_POOL2, {768, 1536}, 0, 0},
        {OP_REL_SHIFT_ADD, {8, 1536}, 0, 0},
        {OP_MEAN_ROWS, {1536, 3072, 0, 1536}, 0, 0}, {OP_AXPY, {1536 * 1536}, 0, 0},
        {OP_COPY, {1536 * 1536}, 0, 0},        {OP_ATTENTION, {1000, 1000, 20, 64, 0}, 0, 0},
        {OP_ATTENTION, {1024, 1024, 20, 64, 0}, 1, 0},
        /* the fused kernel against the model's dispatch (GEMMs + softmax past 128 tokens on CUDA), to calibrate
         * iso_k_attention_prefer_fused; then the fusion's heads of 384 and a 2048-token RNA */
        {OP_ATTENTION, {128, 128, 20, 32, 0}, 1, 0}, {OP_MODEL_ATTENTION, {128, 128, 20, 32, 0}, 1, 0},
        {OP_ATTENTION, {256, 256, 20, 32, 0}, 1, 0}, {OP_MODEL_ATTENTION, {256, 256, 20, 32, 0}, 1, 0},
        {OP_MODEL_ATTENTION, {1024, 1024, 20, 64, 0}, 1, 0},
        {OP_MODEL_ATTENTION, {896, 2048, 8, 384, 0}, 1, 0},
        {OP_ATTENTION, {2048, 2048, 16, 48, 0}, 1, 0}, {OP_MODEL_ATTENTION, {2048, 2048, 16, 48, 0}, 1, 0},
    };
    printf("backend %s\n", iso_backend_key(be));
    int rc = 0;
    for (size_t i = 0; i < sizeof perf_cases / sizeof perf_cases[0] && !rc; i++) {
        const op_case *c = &perf_cases[i];
        layout l = case_layout(c);
        float *host[MAX_BUFS], *dev[MAX_BUFS];
        fill_inputs(c, &l, host);
        /* A first call (cuBLAS heuristics, module loading) sets the repetitions for about 0.3 s. */
        double t0 = now(), t = 0;
        rc = upload_case(be, &l, host, dev);
        if (!rc && !(rc = run_case(be, c, dev)) && !(rc = iso_backend_sync(be))) {
            t0 = now();
            rc = run_case(be, c, dev) || iso_backend_sync(be);
            double once = now() - t0;
            int reps = once > 0.3 ? 1 : once < 3e-4 ? 1000 : (int)(0.3 / once);
            t0 = now();
            for (int r = 0; r < reps && !rc; r++)
                rc = run_case(be, c, dev);
            rc = rc || iso_backend_sync(be);
            t = (now() - t0) / reps;
        }
        free_case(be, &l, dev);
        for (int b = 0; b < l.nbuf; b++)
            free(host[b]);
        if (rc)
            break;
        char what[128];
        describe(c, what, sizeof what);
        if (l.flops > 0)
            printf("%-48s %10.1f us  %8.2f TFLOP/s\n", what, t * 1e6, l.flops / t * 1e-12);
        else
            printf("%-48s %10.1f us  %8.1f GB/s\n", what, t * 1e6, l.bytes / t * 1e-9);
    }
    if (rc)
        fprintf(stderr, "perf: %s\n", iso_last_error());
    printf("peak activation memory %.1f MiB\n", iso_backend_peak_bytes(be) / 1048576.0);
    iso_backend_destroy(be);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "perf")) {
        const char *device = argc > 2 ? argv[2] : "cuda";
        const char *p = argc > 3 ? argv[3] : "fp32";
        iso_precision prec = !strcmp(p, "bf16") ? ISO_PREC_BF16 : !strcmp(p, "tf32") ? ISO_PREC_TF32 : ISO_PREC_FP32;
        return perf(device, prec);
    }
    if (iso_backend_create("cpu", 0, ISO_PREC_FP32, &ref_be) != ISO_OK) {
        fprintf(stderr, "test_backend_ops: %s\n", iso_last_error());
        return 1;
    }
    int comparisons = 0;
    for (int i = 0; i < iso_backend_reg_count() && n_tested < 16; i++) {
        if (iso_backend_reg_device_count(i) == 0)
            continue;
        iso_backend *be = NULL;
        if (iso_backend_create(iso_backend_reg_name(i), 0, ISO_PREC_FP32, &be) != ISO_OK) {
            fprintf(stderr, "test_backend_ops: %s: %s\n", iso_backend_reg_name(i), iso_last_error());
            return 1;
        }
        tested[n_tested++] = be;
        /* Precisions of this backend other than the reference's own. */
        for (int p = ISO_PREC_FP32; p <= ISO_PREC_BF16; p++)
            comparisons += iso_backend_set_precision(be, (iso_precision)p) == ISO_OK &&
                           strcmp(iso_backend_key(be), iso_backend_key(ref_be)) != 0;
        iso_clear_error();
    }
    if (comparisons == 0) {
        printf("SKIPPED: no backend to compare with cpu:fp32 (no GPU device, and the CPU computes in fp32 only)\n");
        for (int i = 0; i < n_tested; i++)
            iso_backend_destroy(tested[i]);
        iso_backend_destroy(ref_be);
        return 77;
    }
    build_cases();
    Suite *s = suite_create("backend_ops");
    TCase *t = tcase_create("backends_vs_cpu");
    tcase_add_loop_test(t, op_matches_cpu, 0, n_tested * n_cases);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* one CUDA context, not one per forked child */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    free(cases);
    for (int i = 0; i < n_tested; i++)
        iso_backend_destroy(tested[i]);
    iso_backend_destroy(ref_be);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
