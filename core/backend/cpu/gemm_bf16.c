/* bf16 GEMMs through oneDNN's matmul primitive (brgemm kernels on AVX512-BF16, AMX tiles where present). Each
 * call runs single-threaded on the calling thread, one of the CPU backend's pool, so one threading runtime runs
 * at a time, as with OpenBLAS; oneDNN's primitive cache makes the repeated shapes cheap to set up. */
#include "backend/cpu/gemm_bf16.h"
#include "util/array.h"

#include <stdlib.h>
#include <string.h>

#ifdef ISOFORMER_HAVE_ONEDNN
#include <cblas.h>
#include <dnnl.h>
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#endif
#endif

typedef struct {
    uintptr_t begin;
    size_t count;
    uint16_t *copy;
} bf16_weight;

/* A buffer kept between calls and grown on demand (its contents are not kept when it grows). */
typedef struct {
    void *p;
    size_t cap; /* bytes */
} kept_buffer;

struct cpu_bf16 {
    bf16_weight *w; /* sorted by begin */
    size_t n, cap;
#ifdef ISOFORMER_HAVE_ONEDNN
    dnnl_engine_t engine;
    dnnl_stream_t *streams;
    int parts;
    /* the products by sgemm on the bf16 values widened back to float (exact, as are their products), where the
     * CPU's fp32 kernels are the faster: per part, A's and B's widened copies */
    int fp32_kernels;
    kept_buffer (*wide)[2];
    /* per part, oneDNN's scratchpad (user-managed): left to oneDNN, it was allocated and freed at every call,
     * and glibc returned it to the kernel each time; the faults that followed took 7 of the 9 system seconds
     * of a 31 s bf16 predict */
    kept_buffer *pads;
#endif
};

/* An AVX-512 copy (bf16 GEMMs run only on CPUs that have it) vectorises the narrowing to 16 bits. The clones are
 * of a static function (clang resolves clones of an exported one only in its own file). */
#if defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx512f", "default")))
#endif
static void round_to_bf16(const float *restrict x, uint16_t *restrict y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        int nan = (u & 0x7fffffffu) > 0x7f800000u;
        y[i] = (uint16_t)(nan ? (u >> 16) | 0x40u : (u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
}

void cpu_bf16_round(const float *restrict x, uint16_t *restrict y, size_t n) { round_to_bf16(x, y, n); }

/* Index of the last weight starting at or before p, or -1. */
static long last_at_or_before(const cpu_bf16 *b, uintptr_t p)
{
    long lo = 0, hi = (long)b->n - 1, found = -1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (b->w[mid].begin <= p) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

const uint16_t *cpu_bf16_weight(cpu_bf16 *b, const float *p, int *status)
{
    *status = ISO_OK;
    uintptr_t a = (uintptr_t)p;
    long i = last_at_or_before(b, a);
    if (i < 0 || a >= b->w[i].begin + b->w[i].count * sizeof(float))
        return NULL;
    bf16_weight *w = &b->w[i];
    if (!w->copy) {
        if (!(w->copy = malloc((w->count ? w->count : 1) * sizeof *w->copy))) {
            *status = iso_error(ISO_ENOMEM, "cpu backend: cannot allocate %zu bf16 weights", w->count);
            return NULL;
        }
        cpu_bf16_round((const float *)w->begin, w->copy, w->count);
    }
    return w->copy + (a - w->begin) / sizeof(float);
}

int cpu_bf16_add_weight(cpu_bf16 *b, const float *host, size_t count)
{
    bf16_weight *w = iso_reserve(b->w, &b->cap, b->n + 1, sizeof *w, 256);
    if (!w)
        return iso_error(ISO_ENOMEM, "cpu backend: out of memory for the bf16 weight table");
    b->w = w;
    long at = last_at_or_before(b, (uintptr_t)host) + 1;
    memmove(&b->w[at + 1], &b->w[at], (b->n - (size_t)at) * sizeof *b->w);
    b->w[at] = (bf16_weight){(uintptr_t)host, count, NULL};
    b->n++;
    return ISO_OK;
}

void cpu_bf16_remove_weight(cpu_bf16 *b, const float *host)
{
    long i = last_at_or_before(b, (uintptr_t)host);
    if (i < 0 || b->w[i].begin != (uintptr_t)host)
        return;
    free(b->w[i].copy);
    memmove(&b->w[i], &b->w[i + 1], (b->n - (size_t)i - 1) * sizeof *b->w);
    b->n--;
}

static void free_weights(cpu_bf16 *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->w[i].copy);
    free(b->w);
}

#ifdef ISOFORMER_HAVE_ONEDNN

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    if ((isa & dnnl_cpu_isa_avx512_core_amx) == dnnl_cpu_isa_avx512_core_amx)
        return "AMX (avx512_core_amx)";
    if ((isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16)
        return "AVX512-BF16 (avx512_core_bf16)";
    return NULL;
}

/* Whether the bf16 products run faster as sgemm on widened values than in oneDNN's bf16 kernels. AMX's tiles and
 * AMD Zen 4's VDPBF16PS (two a cycle) outrun fp32 FMAs; an Intel core without AMX (Cooper Lake, or Sapphire and
 * Emerald Rapids where the hypervisor hides AMX) issues VDPBF16PS on one port, so bf16 peaks where fp32 does and
 * oneDNN 2.6 reaches half of it: 78 GFLOP/s a core on Emerald Rapids against OpenBLAS's 150 (PyTorch's oneDNN 3:
 * 80 against 154). ISO_CPU_BF16_KERNELS=onednn|fp32 overrides (the tests run both). */
static const char *forced_kernels(void)
{
    const char *force = getenv("ISO_CPU_BF16_KERNELS");
    return force && (!strcmp(force, "fp32") || !strcmp(force, "onednn")) ? force : NULL;
}

static int prefer_fp32_kernels(dnnl_cpu_isa_t isa)
{
    const char *force = forced_kernels();
    if (force)
        return !strcmp(force, "fp32");
    if ((isa & dnnl_cpu_isa_avx512_core_amx) == dnnl_cpu_isa_avx512_core_amx)
        return 0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return !__builtin_cpu_is("amd");
#else
    return 0;
#endif
}

int cpu_bf16_create(int parts, cpu_bf16 **out)
{
    *out = NULL;
    const dnnl_version_t *v = dnnl_version();
    dnnl_cpu_isa_t effective = dnnl_get_effective_cpu_isa();
    const char *isa = isa_name(effective);
    /* sgemm on the widened values needs no bf16 instruction: asked for by name, it runs anywhere, so that the bf16
     * arithmetic is tested on every CI machine (at fp32 speed, it gains a user nothing) */
    const char *force = forced_kernels();
    const int emulated = !isa && force && !strcmp(force, "fp32");
    if (!isa && !emulated)
        return iso_error(ISO_EDEVICE, "bf16 precision on the CPU needs AVX512-BF16 or AMX, which this CPU lacks (or "
                                      "ONEDNN_MAX_CPU_ISA excludes): use fp32 precision");
    cpu_bf16 *b = calloc(1, sizeof *b);
    if (!b || !(b->streams = calloc((size_t)parts, sizeof *b->streams)) ||
        !(b->wide = calloc((size_t)parts, sizeof *b->wide)) || !(b->pads = calloc((size_t)parts, sizeof *b->pads))) {
        if (b)
            free(b->streams), free(b->wide);
        free(b);
        return iso_error(ISO_ENOMEM, "cpu backend: out of memory");
    }
    b->parts = parts;
    b->fp32_kernels = prefer_fp32_kernels(effective);
    int ok = dnnl_engine_create(&b->engine, dnnl_cpu, 0) == dnnl_success;
    for (int i = 0; ok && i < parts; i++)
        ok = dnnl_stream_create(&b->streams[i], b->engine, dnnl_stream_default_flags) == dnnl_success;
    if (!ok) {
        cpu_bf16_destroy(b);
        return iso_error(ISO_EDEVICE, "cpu backend: oneDNN cannot create its CPU engine");
    }
    if (b->fp32_kernels && force)
        iso_info("cpu backend: bf16 GEMMs as OpenBLAS sgemm on the bf16 values (ISO_CPU_BF16_KERNELS=fp32)");
    else if (b->fp32_kernels)
        iso_info("cpu backend: bf16 GEMMs as OpenBLAS sgemm on the bf16 values (this CPU's %s kernels are slower)",
                 isa);
    else
        iso_info("cpu backend: bf16 GEMMs through oneDNN %d.%d.%d on %s", v->major, v->minor, v->patch, isa);
    *out = b;
    return ISO_OK;
}

void cpu_bf16_destroy(cpu_bf16 *b)
{
    if (!b)
        return;
    free_weights(b);
    for (int i = 0; i < b->parts; i++)
        if (b->streams[i])
            dnnl_stream_destroy(b->streams[i]);
    free(b->streams);
    for (int i = 0; b->wide && i < b->parts; i++)
        free(b->wide[i][0].p), free(b->wide[i][1].p);
    free(b->wide);
    for (int i = 0; b->pads && i < b->parts; i++)
        free(b->pads[i].p);
    free(b->pads);
    if (b->engine)
        dnnl_engine_destroy(b->engine);
    free(b);
}

/* A row-major m x n matrix with leading dimension ld, read transposed when trans. */
static dnnl_status_t matrix_desc(dnnl_memory_desc_t *md, int64_t rows, int64_t cols, int64_t ld, int trans,
                                 dnnl_data_type_t dt)
{
    dnnl_dims_t dims = {rows, cols}, strides = {trans ? 1 : ld, trans ? ld : 1};
    return dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides);
}

/* buf, grown to at least need bytes, 64-byte aligned (NULL: out of memory). */
static void *at_least(kept_buffer *buf, size_t need)
{
    if (need > buf->cap) {
        void *grown = NULL;
        if (posix_memalign(&grown, 64, need) != 0)
            return NULL;
        free(buf->p);
        buf->p = grown;
        buf->cap = need;
    }
    return buf->p;
}

/* The stored rows x cols matrix x (leading dimension ld) as floats, packed, in w: bf16 to float is exact. */
static const float *widen(kept_buffer *w, const uint16_t *x, int64_t rows, int64_t cols, int64_t ld)
{
    float *out = at_least(w, (size_t)(rows * cols) * sizeof *out);
    if (!out)
        return NULL;
    for (int64_t r = 0; r < rows; r++) {
        const uint16_t *src = x + r * ld;
        float *dst = out + r * cols;
        for (int64_t c = 0; c < cols; c++) {
            uint32_t u = (uint32_t)src[c] << 16;
            memcpy(&dst[c], &u, sizeof u);
        }
    }
    return out;
}

static int matmul_fp32_kernels(cpu_bf16 *b, int part, int trans_a, int trans_b, int m, int n, int k, float alpha,
                               const uint16_t *a, int lda, const uint16_t *bm, int ldb, float beta, float *c,
                               int ldc)
{
    int a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
    const float *wa = widen(&b->wide[part][0], a, trans_a ? k : m, a_cols, lda);
    const float *wb = wa ? widen(&b->wide[part][1], bm, trans_b ? n : k, b_cols, ldb) : NULL;
    if (!wb)
        return iso_error(ISO_ENOMEM, "cpu backend: out of memory widening a %dx%dx%d bf16 product", m, n, k);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, wa, a_cols, wb, b_cols, beta, c, ldc);
    return ISO_OK;
}

int cpu_bf16_matmul(cpu_bf16 *b, int part, int trans_a, int trans_b, int m, int n, int k, float alpha,
                    const uint16_t *a, int lda, const uint16_t *bm, int ldb, float beta, float *c, int ldc)
{
    if (b->fp32_kernels)
        return matmul_fp32_kernels(b, part, trans_a, trans_b, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc);
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
    omp_set_num_threads(1); /* this thread's OpenMP teams: the backend's pool is the parallelism */
#endif
    dnnl_memory_desc_t amd, bmd, cmd;
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t post = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t mem[4] = {NULL, NULL, NULL, NULL};
    dnnl_status_t s = matrix_desc(&amd, m, k, lda, trans_a, dnnl_bf16);
    if (s == dnnl_success) s = matrix_desc(&bmd, k, n, ldb, trans_b, dnnl_bf16);
    if (s == dnnl_success) s = matrix_desc(&cmd, m, n, ldc, 0, dnnl_f32);
    if (s == dnnl_success) s = dnnl_matmul_desc_init(&desc, &amd, &bmd, NULL, &cmd);
    if (s == dnnl_success) s = dnnl_primitive_attr_create(&attr);
    if (s == dnnl_success) s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success && alpha != 1.0f) s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha);
    if (s == dnnl_success && beta != 0.0f) {
        s = dnnl_post_ops_create(&post);
        if (s == dnnl_success) s = dnnl_post_ops_append_sum(post, beta);
        if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, post);
    }
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &desc, attr, b->engine, NULL);
    if (s == dnnl_success) s = dnnl_primitive_create(&prim, pd);
    if (s == dnnl_success) s = dnnl_memory_create(&mem[0], &amd, b->engine, (void *)a);
    if (s == dnnl_success) s = dnnl_memory_create(&mem[1], &bmd, b->engine, (void *)bm);
    if (s == dnnl_success) s = dnnl_memory_create(&mem[2], &cmd, b->engine, c);
    const dnnl_memory_desc_t *smd = s == dnnl_success ? dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)
                                                      : NULL;
    size_t pad_bytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (pad_bytes) {
        void *pad = at_least(&b->pads[part], pad_bytes);
        s = pad ? dnnl_memory_create(&mem[3], smd, b->engine, pad) : dnnl_out_of_memory;
    }
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, mem[0]}, {DNNL_ARG_WEIGHTS, mem[1]}, {DNNL_ARG_DST, mem[2]},
                                   {DNNL_ARG_SCRATCHPAD, mem[3]}};
        s = dnnl_primitive_execute(prim, b->streams[part], pad_bytes ? 4 : 3, args);
        if (s == dnnl_success) s = dnnl_stream_wait(b->streams[part]);
    }
    for (int i = 0; i < 4; i++)
        if (mem[i])
            dnnl_memory_destroy(mem[i]);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (post) dnnl_post_ops_destroy(post);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        return iso_error(ISO_EDEVICE, "cpu backend: oneDNN bf16 matmul %dx%dx%d (trans %d%d) failed (status %d)", m,
                         n, k, trans_a, trans_b, (int)s);
    return ISO_OK;
}

#else /* no oneDNN */

int cpu_bf16_create(int parts, cpu_bf16 **out)
{
    (void)parts;
    *out = NULL;
    return iso_error(ISO_EDEVICE, "bf16 precision on the CPU needs oneDNN, which this build lacks (install "
                                  "libdnnl-dev and rebuild): use fp32 precision");
}

void cpu_bf16_destroy(cpu_bf16 *b)
{
    if (b)
        free_weights(b);
    free(b);
}

int cpu_bf16_matmul(cpu_bf16 *b, int part, int trans_a, int trans_b, int m, int n, int k, float alpha,
                    const uint16_t *a, int lda, const uint16_t *bm, int ldb, float beta, float *c, int ldc)
{
    (void)b, (void)part, (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda;
    (void)bm, (void)ldb, (void)beta, (void)c, (void)ldc;
    return iso_error(ISO_EDEVICE, "cpu backend: built without oneDNN");
}

#endif
