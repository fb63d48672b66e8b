/* CPU backend: GEMMs through OpenBLAS and every other op on one pool of the backend's threads. OpenBLAS runs
 * single-threaded inside the pool's workers: its own threads spin-yield after each call, and beside ours that
 * spinning took a fifth of a run on two cores (one threading runtime at a time). The per-row and per-element
 * arithmetic is the shared code in kernels.h, which the CUDA kernels also use. */
#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend_impl.h"
#include "backend/cpu/attention_tiles.h"
#include "backend/cpu/blas_core.h"
#include "backend/cpu/gemm_bf16.h"
#include "backend/kernels.h"

/* The row and element loops are compiled three times, for AVX-512, AVX2 and baseline x86-64, and the loader picks
 * one (GNU ifunc): the vector width the CPU has, from one portable binary (the same bits from each: kernels.h). */
#if defined(__x86_64__) && defined(__linux__)
#define CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CPU_CLONES
#endif

/* Each allocation carries its capacity and requested size in a 64-byte header, for the bytes_in_use/peak
 * accounting and for reuse. */
#define CPU_ALIGN 64

/* Freed activation blocks are kept for reuse. The model allocates and frees the same few sizes for every window
 * and transcript; handing them back to the C library (which maps large blocks fresh each time) made every reuse
 * page-fault from zero, and the page faults took a third of a whole-annotation run's time. */
enum { CPU_CACHE_SLOTS = 64 };
typedef struct {
    void *base[CPU_CACHE_SLOTS]; /* freed blocks, NULL where empty */
    int n;
    size_t cached_bytes;
} cpu_cache;

typedef struct {
    size_t capacity, nbytes;
} cpu_header;

/* ---- the thread pool ----
 * A job is fn over [0, units) in `parts` contiguous shares; the caller runs share 0 and worker i share i. Workers
 * spin a little after each job (ops come in quick succession), then sleep on a condition variable. */
/* fn(ctx, u0, u1, part): units [u0, u1) as share `part` (0 on the calling thread), for per-share scratch. */
typedef void (*rows_fn)(void *ctx, int64_t u0, int64_t u1, int part);

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_uint_fast64_t generation; /* bumped to start a job */
    atomic_int pending;              /* workers still inside the current job */
    int sleeping, stop;
    rows_fn fn;
    void *ctx;
    int64_t units;
    int parts;
    int n_workers;
    pthread_t tid[63];
} cpu_pool;

typedef struct {
    cpu_cache cache;
    cpu_pool pool;
    cpu_bf16 *bf16; /* --precision bf16: GEMMs through oneDNN, else NULL */
} cpu_impl;

typedef struct {
    cpu_pool *pool;
    int index;
} pool_worker;

/* The oneDNN context while the backend computes in bf16, else NULL (made by cpu_use_precision, at creation or when
 * iso_backend_set_precision switches to bf16, and kept). */
static cpu_bf16 *bf16_of(const iso_backend *be)
{
    return be->precision == ISO_PREC_BF16 ? ((cpu_impl *)be->impl)->bf16 : NULL;
}

/* bf16 needs oneDNN and AVX512-BF16 or AMX: checked when asked for, so that a CPU or build without it fails before
 * a model loads, with the reason. */
static int cpu_use_precision(iso_backend *be, iso_precision precision)
{
    cpu_impl *impl = be->impl;
    if (precision != ISO_PREC_BF16 || impl->bf16)
        return ISO_OK;
    return cpu_bf16_create(impl->pool.n_workers + 1, &impl->bf16);
}

static cpu_cache *cache_of(iso_backend *be) { return &((cpu_impl *)be->impl)->cache; }

/* Removes slot i, keeping the others in the order they were freed (oldest first). */
static void *cache_remove(cpu_cache *c, int i)
{
    void *base = c->base[i];
    c->cached_bytes -= ((cpu_header *)base)->capacity;
    memmove(&c->base[i], &c->base[i + 1], (size_t)(c->n - i - 1) * sizeof c->base[0]);
    c->n--;
    return base;
}

/* A cached block of at least nbytes and at most twice that, smallest first, so one large block does not serve
 * (and pin) many small requests. */
static void *cache_take(cpu_cache *c, size_t nbytes)
{
    int best = -1;
    size_t best_cap = 0;
    for (int i = 0; i < c->n; i++) {
        size_t cap = ((cpu_header *)c->base[i])->capacity;
        if (cap >= nbytes && cap / 2 <= nbytes && (best < 0 || cap < best_cap)) {
            best = i;
            best_cap = cap;
        }
    }
    return best < 0 ? NULL : cache_remove(c, best);
}

/* What the cache may keep: resident bytes (in use plus cached) within a quarter above the peak in use. A bound on
 * the cached bytes alone (the peak) made every forward of the full-size model page-fault 0.45 GB afresh: its
 * distinct block sizes (a 1.2 GB Enformer arena, the transformer's 0.29 GB, the Winograd and encoder blocks) add up
 * to more than its peak, since the blocks of one stage are free while another runs. */
static size_t resident_bound(size_t peak) { return peak + peak / 4; }

/* Returns the longest-cached blocks to the C library until `incoming` more resident bytes fit within the bound of
 * peak. */
static void cache_trim(iso_backend *be, size_t incoming, size_t peak)
{
    cpu_cache *c = cache_of(be);
    while (c->n && be->bytes_in_use + c->cached_bytes + incoming > resident_bound(peak))
        free(cache_remove(c, 0));
}

static void *cpu_alloc(iso_backend *be, size_t nbytes)
{
    void *base = cache_take(cache_of(be), nbytes);
    if (!base) {
        const size_t in_use = be->bytes_in_use + nbytes;
        cache_trim(be, nbytes, in_use > be->peak_bytes ? in_use : be->peak_bytes);
        if (posix_memalign(&base, CPU_ALIGN, nbytes + CPU_ALIGN) != 0) {
            iso_error(ISO_ENOMEM, "cpu backend: cannot allocate %zu bytes (in use: %zu)", nbytes,
                      be->bytes_in_use);
            return NULL;
        }
        ((cpu_header *)base)->capacity = nbytes;
    }
    ((cpu_header *)base)->nbytes = nbytes;
    be->bytes_in_use += nbytes;
    if (be->bytes_in_use > be->peak_bytes)
        be->peak_bytes = be->bytes_in_use;
    return (char *)base + CPU_ALIGN;
}

/* Keeps the block (at most CPU_CACHE_SLOTS of them), within the resident bound: memory stays within 1.25 times what
 * the run needed at once. */
static void cpu_free(iso_backend *be, void *ptr)
{
    if (!ptr)
        return;
    cpu_cache *c = cache_of(be);
    void *base = (char *)ptr - CPU_ALIGN;
    cpu_header *h = base;
    be->bytes_in_use -= h->nbytes;
    if (c->n == CPU_CACHE_SLOTS)
        free(cache_remove(c, 0));
    cache_trim(be, h->capacity, be->peak_bytes);
    c->base[c->n++] = base;
    c->cached_bytes += h->capacity;
}

static void cache_clear(cpu_cache *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->base[i]);
    c->n = 0;
    c->cached_bytes = 0;
}

static size_t cpu_cached_bytes(const iso_backend *be) { return ((const cpu_impl *)be->impl)->cache.cached_bytes; }

static int cpu_release_cached(iso_backend *be)
{
    cache_clear(cache_of(be));
    return ISO_OK;
}

static int cpu_memcpy(iso_backend *be, void *dst, const void *src, size_t nbytes)
{
    (void)be;
    memmove(dst, src, nbytes);
    return ISO_OK;
}

static int cpu_memset0(iso_backend *be, void *dst, size_t nbytes)
{
    (void)be;
    memset(dst, 0, nbytes);
    return ISO_OK;
}

/* The host array itself; in bf16 mode it is registered, for the bf16 GEMMs that read it to round it once. */
static const float *cpu_weight(iso_backend *be, const float *host, size_t count)
{
    if (be->precision != ISO_PREC_BF16)
        return host;
    return cpu_bf16_add_weight(bf16_of(be), host, count) == ISO_OK ? host : NULL;
}

static void cpu_free_weight(iso_backend *be, const float *dev)
{
    cpu_bf16 *bf16 = ((cpu_impl *)be->impl)->bf16;
    if (bf16)
        cpu_bf16_remove_weight(bf16, dev);
}

static int cpu_sync(iso_backend *be)
{
    (void)be;
    return ISO_OK;
}

enum { POOL_SPIN = 1 << 14 };

static void share(const cpu_pool *p, int part, int64_t *u0, int64_t *u1)
{
    *u0 = p->units * part / p->parts;
    *u1 = p->units * (part + 1) / p->parts;
}

static void *pool_worker_main(void *arg)
{
    pool_worker *w = arg;
    cpu_pool *p = w->pool;
    uint_fast64_t seen = 0;
    for (;;) {
        uint_fast64_t g = seen;
        for (int spin = 0; spin < POOL_SPIN && g == seen; spin++)
            g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            p->sleeping++;
            while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen)
                pthread_cond_wait(&p->wake, &p->mu);
            p->sleeping--;
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (p->stop)
            break;
        if (w->index < p->parts) {
            int64_t u0, u1;
            share(p, w->index, &u0, &u1);
            p->fn(p->ctx, u0, u1, w->index);
        }
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    free(w);
    return NULL;
}

/* Starts a job on the workers (they read the fields after seeing the new generation). */
static void pool_start(cpu_pool *p)
{
    atomic_store_explicit(&p->pending, p->n_workers, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    if (p->sleeping)
        pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
}

static void pool_wait(cpu_pool *p)
{
    for (int spin = 0; spin < POOL_SPIN; spin++)
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0)
            return;
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* Runs fn over [0, units) in up to n_workers + 1 shares, inline when the work (units * cost, about cycles) is too
 * small to pay for waking the workers. fn must not itself use the pool. */
static void parallel_for(iso_backend *be, int64_t units, int64_t cost_per_unit, rows_fn fn, void *ctx)
{
    cpu_pool *p = &((cpu_impl *)be->impl)->pool;
    int parts = p->n_workers + 1;
    if (parts > units)
        parts = (int)units;
    if (parts <= 1 || units * cost_per_unit < (1 << 16)) {
        fn(ctx, 0, units, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->units = units;
    p->parts = parts;
    pool_start(p);
    int64_t u0, u1;
    share(p, 0, &u0, &u1);
    fn(ctx, u0, u1, 0);
    pool_wait(p);
}

static void pool_stop(cpu_pool *p)
{
    p->stop = 1;
    pool_start(p);
    for (int i = 0; i < p->n_workers; i++)
        pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
}

/* Starts up to n - 1 workers (fewer when threads cannot be created: the caller does their share). */
static void pool_init(cpu_pool *p, int n)
{
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    int max = (int)(sizeof p->tid / sizeof p->tid[0]);
    for (int i = 0; i < n - 1 && i < max; i++) {
        pool_worker *w = malloc(sizeof *w);
        if (!w)
            break;
        *w = (pool_worker){p, i + 1};
        if (pthread_create(&p->tid[i], NULL, pool_worker_main, w) != 0) {
            free(w);
            break;
        }
        p->n_workers++;
    }
}

/* ---- GEMM ---- */

/* Shares of a GEMM: units are the rows of all batches (batch-major) when there are enough of them, otherwise
 * the columns of every batch, so each thread runs one single-threaded GEMM per batch it touches. In bf16 mode
 * a16/b16 are the operands rounded to bfloat16, laid out as a and b. */
typedef struct {
    const iso_gemm_args *g;
    int by_rows;
    cpu_bf16 *bf16;
    const uint16_t *a16, *b16;
    atomic_int status; /* first error of a bf16 share */
} gemm_job;

/* One GEMM over rows [r0, r1) and columns [c0, c1) of C_b (op(A) rows and op(B) columns follow). */
static void gemm_block(gemm_job *j, int part, int b, int r0, int r1, int c0, int c1)
{
    const iso_gemm_args *g = j->g;
    int64_t oa = b * g->stride_a + (int64_t)r0 * (g->trans_a ? 1 : g->lda);
    int64_t ob = b * g->stride_b + (int64_t)c0 * (g->trans_b ? g->ldb : 1);
    float *c = g->c + b * g->stride_c + (int64_t)r0 * g->ldc + c0;
    if (!j->bf16) {
        cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans, g->trans_b ? CblasTrans : CblasNoTrans,
                    r1 - r0, c1 - c0, g->k, g->alpha, g->a + oa, g->lda, g->b + ob, g->ldb, g->beta, c, g->ldc);
        return;
    }
    int rc = cpu_bf16_matmul(j->bf16, part, g->trans_a, g->trans_b, r1 - r0, c1 - c0, g->k, g->alpha, j->a16 + oa,
                             g->lda, j->b16 + ob, g->ldb, g->beta, c, g->ldc);
    int ok = ISO_OK;
    if (rc != ISO_OK)
        atomic_compare_exchange_strong(&j->status, &ok, rc);
}

static void gemm_share(void *vctx, int64_t u0, int64_t u1, int part)
{
    gemm_job *j = vctx;
    const iso_gemm_args *g = j->g;
    if (!j->by_rows) {
        for (int b = 0; b < g->batch; b++)
            gemm_block(j, part, b, 0, g->m, (int)u0, (int)u1);
        return;
    }
    for (int64_t u = u0; u < u1;) {
        int b = (int)(u / g->m), r0 = (int)(u - (int64_t)b * g->m);
        int r1 = u1 - (int64_t)b * g->m < g->m ? (int)(u1 - (int64_t)b * g->m) : g->m;
        gemm_block(j, part, b, r0, r1, 0, g->n);
        u += r1 - r0;
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    const float *x;
    uint16_t *y;
} round_job;

static void round_share(void *vctx, int64_t e0, int64_t e1, int part)
{
    (void)part;
    const round_job *r = vctx;
    cpu_bf16_round(r->x + e0, r->y + e0, (size_t)(e1 - e0));
}

/* The bf16 form of a GEMM operand: a weight's kept copy, or x rounded into *scratch, which spans every batch
 * (rows x cols with leading dimension ld, batches `stride` apart) in x's own layout. NULL when out of memory. */
static const uint16_t *bf16_operand(iso_backend *be, const float *x, int rows, int cols, int ld, int64_t stride,
                                    int batch, uint16_t **scratch)
{
    int status;
    const uint16_t *kept = cpu_bf16_weight(((cpu_impl *)be->impl)->bf16, x, &status);
    if (kept || status != ISO_OK)
        return kept;
    int64_t span = (int64_t)(batch - 1) * stride + (int64_t)(rows - 1) * ld + cols;
    if (!(*scratch = cpu_alloc(be, (size_t)span * sizeof **scratch)))
        return NULL;
    round_job r = {x, *scratch};
    parallel_for(be, span, 1, round_share, &r);
    return *scratch;
}

static int cpu_gemm(iso_backend *be, const iso_gemm_args *g)
{
    if (g->batch <= 0 || g->m <= 0 || g->n <= 0)
        return ISO_OK;
    double t0 = now_seconds();
    int64_t rows = (int64_t)g->batch * g->m;
    gemm_job j = {g, rows >= 16 * (int64_t)be->n_threads || rows >= g->n, g->fp32 ? NULL : bf16_of(be), NULL, NULL,
                  ISO_OK};
    uint16_t *scratch_a = NULL, *scratch_b = NULL;
    if (j.bf16 && g->k > 0) {
        j.a16 = bf16_operand(be, g->a, g->trans_a ? g->k : g->m, g->trans_a ? g->m : g->k, g->lda, g->stride_a,
                             g->batch, &scratch_a);
        j.b16 = j.a16 ? bf16_operand(be, g->b, g->trans_b ? g->n : g->k, g->trans_b ? g->k : g->n, g->ldb,
                                     g->stride_b, g->batch, &scratch_b) : NULL;
        if (!j.b16) {
            cpu_free(be, scratch_a);
            return iso_last_status();
        }
    }
    int64_t units = j.by_rows ? rows : g->n;
    /* cost in cycles at about 32 FLOP per cycle */
    parallel_for(be, units, (int64_t)g->k * (j.by_rows ? g->n : rows) / 16, gemm_share, &j);
    cpu_free(be, scratch_a);
    cpu_free(be, scratch_b);
    be->gemm_flop += 2.0 * rows * g->n * g->k;
    be->gemm_seconds += now_seconds() - t0;
    return atomic_load(&j.status);
}

/* ---- element-wise and row ops ---- */

typedef struct {
    const float *x;
    float *y;
    const float *p0, *p1; /* scale / gamma (NULL: 1), shift or bias / beta (NULL: 0) */
    int cols;
    int64_t ld; /* softmax: row stride */
    iso_act act;
    float k; /* LayerNorm eps, axpy alpha */
} rowop;

/* y = act(x * scale + shift) over one row; scale and shift may be NULL (1 and 0). Inlined once per activation
 * below, so each loop is free of the per-element switch and vectorizes; the tests of scale and shift are out of
 * the loops too: left inside, they kept gcc from vectorising bias_act (no scale), GELU(sigmoid) at 11.9 ns an
 * element on a Zen 3 core. */
static inline __attribute__((always_inline)) void act_row_as(const float *x, float *y, const float *scale,
                                                             const float *shift, int n, iso_act act)
{
    if (scale && shift)
        for (int c = 0; c < n; c++)
            y[c] = iso_k_act(x[c] * scale[c] + shift[c], act);
    else if (scale)
        for (int c = 0; c < n; c++)
            y[c] = iso_k_act(x[c] * scale[c] + 0.0f, act);
    else if (shift)
        for (int c = 0; c < n; c++)
            y[c] = iso_k_act(x[c] + shift[c], act);
    else
        for (int c = 0; c < n; c++)
            y[c] = iso_k_act(x[c] + 0.0f, act);
}

CPU_CLONES static void act_row(const float *x, float *y, const float *scale, const float *shift, int n, iso_act act)
{
    switch (act) {
    case ISO_ACT_RELU: act_row_as(x, y, scale, shift, n, ISO_ACT_RELU); break;
    case ISO_ACT_GELU_ERF: act_row_as(x, y, scale, shift, n, ISO_ACT_GELU_ERF); break;
    case ISO_ACT_GELU_SIGMOID: act_row_as(x, y, scale, shift, n, ISO_ACT_GELU_SIGMOID); break;
    case ISO_ACT_SILU: act_row_as(x, y, scale, shift, n, ISO_ACT_SILU); break;
    default: act_row_as(x, y, scale, shift, n, ISO_ACT_NONE);
    }
}

static void act_rows(void *vctx, int64_t r0, int64_t r1, int part)
{
    (void)part;
    rowop *o = vctx;
    for (int64_t r = r0; r < r1; r++)
        act_row(o->x + r * o->cols, o->y + r * o->cols, o->p0, o->p1, o->cols, o->act);
}

static int cpu_bias_act(iso_backend *be, float *x, const float *bias, int64_t rows, int cols, iso_act act)
{
    rowop o = {.x = x, .y = x, .p1 = bias, .cols = cols, .act = act};
    parallel_for(be, rows, cols, act_rows, &o);
    return ISO_OK;
}

static int cpu_affine_act(iso_backend *be, const float *x, float *y, const float *scale, const float *shift,
                          int64_t rows, int cols, iso_act act)
{
    rowop o = {.x = x, .y = y, .p0 = scale, .p1 = shift, .cols = cols, .act = act};
    parallel_for(be, rows, cols, act_rows, &o);
    return ISO_OK;
}

static void axpy_share(void *vctx, int64_t e0, int64_t e1, int part)
{
    (void)part;
    rowop *o = vctx;
    for (int64_t e = e0; e < e1; e++)
        o->y[e] += o->k * o->x[e];
}

static int cpu_axpy(iso_backend *be, float *y, const float *x, float alpha, int64_t n)
{
    rowop o = {.x = x, .y = y, .k = alpha};
    parallel_for(be, n, 1, axpy_share, &o);
    return ISO_OK;
}

CPU_CLONES static void layernorm_rows(void *vctx, int64_t r0, int64_t r1, int part)
{
    (void)part;
    rowop *o = vctx;
    for (int64_t r = r0; r < r1; r++)
        iso_k_layernorm_row(o->x + r * o->cols, o->y + r * o->cols, o->p0, o->p1, o->cols, o->k);
}

static int cpu_layernorm(iso_backend *be, const float *x, float *y, const float *gamma, const float *beta,
                         int64_t rows, int cols, float eps)
{
    rowop o = {.x = x, .y = y, .p0 = gamma, .p1 = beta, .cols = cols, .k = eps};
    parallel_for(be, rows, cols, layernorm_rows, &o);
    return ISO_OK;
}

CPU_CLONES static void softmax_rows(void *vctx, int64_t r0, int64_t r1, int part)
{
    (void)part;
    rowop *o = vctx;
    for (int64_t r = r0; r < r1; r++)
        iso_k_softmax_row(o->y + r * o->ld, o->cols, o->p0);
}

static int cpu_softmax(iso_backend *be, float *x, int64_t rows, int cols, int64_t ld, const float *key_bias)
{
    rowop o = {.y = x, .p0 = key_bias, .cols = cols, .ld = ld};
    parallel_for(be, rows, cols * 8, softmax_rows, &o);
    return ISO_OK;
}

typedef struct {
    float *x;
    int heads, head_dim, ld;
} rotary_ctx;

static void rotary_rows(void *vctx, int64_t p0, int64_t p1, int part)
{
    (void)part;
    const rotary_ctx *o = vctx;
    int half = o->head_dim / 2;
    for (int64_t p = p0; p < p1; p++)
        for (int i = 0; i < half; i++) {
            float c, s;
            iso_k_rotary_angle((int)p, i, o->head_dim, &c, &s);
            for (int h = 0; h < o->heads; h++) {
                float *v = o->x + p * o->ld + (int64_t)h * o->head_dim;
                iso_k_rotary_apply(&v[i], &v[i + half], c, s);
            }
        }
}

static int cpu_rotary(iso_backend *be, float *x, int T, int heads, int head_dim, int ld)
{
    rotary_ctx o = {x, heads, head_dim, ld};
    parallel_for(be, T, (int64_t)heads * head_dim + 20 * head_dim, rotary_rows, &o);
    return ISO_OK;
}

CPU_CLONES static void glu_silu_rows(void *vctx, int64_t r0, int64_t r1, int part)
{
    (void)part;
    rowop *o = vctx;
    for (int64_t r = r0; r < r1; r++) {
        const float *a = o->x + r * 2 * o->cols;
        float *y = o->y + r * o->cols;
        for (int f = 0; f < o->cols; f++)
            y[f] = iso_k_act(a[f], ISO_ACT_SILU) * a[o->cols + f];
    }
}

static int cpu_glu_silu(iso_backend *be, const float *x, float *y, int64_t rows, int F)
{
    rowop o = {.x = x, .y = y, .cols = F};
    parallel_for(be, rows, 4 * (int64_t)F, glu_silu_rows, &o);
    return ISO_OK;
}

typedef struct {
    const float *x, *z;
    float *y;
    int d;
} pool_ctx;

CPU_CLONES static void pair_diff_rows(void *vctx, int64_t r0, int64_t r1, int part)
{
    (void)part;
    pool_ctx *o = vctx;
    for (int64_t i = r0; i < r1; i++) {
        const float *x0 = o->x + 2 * i * o->d, *x1 = x0 + o->d;
        float *y = o->y + i * o->d;
        for (int c = 0; c < o->d; c++)
            y[c] = x0[c] - x1[c];
    }
}

static int cpu_pair_diff(iso_backend *be, const float *x, float *y, int64_t L, int d)
{
    pool_ctx o = {.x = x, .y = y, .d = d};
    parallel_for(be, L, d, pair_diff_rows, &o);
    return ISO_OK;
}

CPU_CLONES static void attn_pool_rows(void *vctx, int64_t r0, int64_t r1, int part)
{
    (void)part;
    pool_ctx *o = vctx;
    for (int64_t i = r0; i < r1; i++) {
        const float *x0 = o->x + 2 * i * o->d, *x1 = x0 + o->d, *z = o->z + i * o->d;
        float *y = o->y + i * o->d;
        for (int c = 0; c < o->d; c++)
            y[c] = iso_k_attn_pool2(x0[c], x1[c], z[c]);
    }
}

static int cpu_attn_pool2(iso_backend *be, const float *x, const float *z, float *y, int64_t L, int d)
{
    pool_ctx o = {x, z, y, d};
    parallel_for(be, L, d * 4, attn_pool_rows, &o);
    return ISO_OK;
}

static int cpu_rel_shift_add(iso_backend *be, float *logits, const float *rel, int heads, int n)
{
    (void)be;
    int64_t w = 2 * (int64_t)n;
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < n; i++) {
            float *row = logits + ((int64_t)h * n + i) * n;
            const float *r = rel + ((int64_t)h * n + i) * w + (n - 1 - i);
            for (int j = 0; j < n; j++)
                row[j] += r[j];
        }
    return ISO_OK;
}

/* Every column's sum in double, in row order (as the CUDA kernel's), row by row: walking a column instead reads a
 * cache line per element (28 ms against 1.1 for 1,536 x 3,072 floats on a Zen 3 core). */
static int cpu_mean_rows(iso_backend *be, const float *x, float *y, int64_t r0, int64_t r1, int cols)
{
    (void)be;
    if (r1 <= r0)
        return iso_error(ISO_EINVAL, "mean_rows: empty row range [%lld, %lld)", (long long)r0, (long long)r1);
    double *s = calloc((size_t)cols, sizeof *s);
    if (!s)
        return iso_error(ISO_ENOMEM, "out of memory for mean_rows over %d columns", cols);
    for (int64_t r = r0; r < r1; r++)
        for (int c = 0; c < cols; c++)
            s[c] += x[r * cols + c];
    for (int c = 0; c < cols; c++)
        y[c] = (float)(s[c] / (double)(r1 - r0));
    free(s);
    return ISO_OK;
}

/* ---- Winograd F(4,5) transforms (kernels.h), one tile per unit: the channel loop vectorizes ---- */
typedef struct {
    const float *src, *bias, *zeros; /* zeros: cin floats standing for the rows outside [0, L) */
    float *dst;
    int64_t L, t0;
    int tiles, channels;
} wino_job;

CPU_CLONES static void wino_in_tiles(void *vctx, int64_t t_begin, int64_t t_end, int part)
{
    (void)part;
    const wino_job *j = vctx;
    const int64_t plane = (int64_t)j->tiles * j->channels;
    for (int64_t t = t_begin; t < t_end; t++) {
        const int64_t p0 = 4 * (j->t0 + t) - 2;
        const float *row[8];
        for (int l = 0; l < 8; l++)
            row[l] = p0 + l >= 0 && p0 + l < j->L ? j->src + (p0 + l) * j->channels : j->zeros;
        float *v = j->dst + t * j->channels;
        for (int c = 0; c < j->channels; c++) {
            float d[8], out[8];
            for (int l = 0; l < 8; l++)
                d[l] = row[l][c];
            iso_k_wino_in(d, out);
            for (int i = 0; i < 8; i++)
                v[i * plane + c] = out[i];
        }
    }
}

CPU_CLONES static void wino_out_tiles(void *vctx, int64_t t_begin, int64_t t_end, int part)
{
    (void)part;
    const wino_job *j = vctx;
    const int64_t plane = (int64_t)j->tiles * j->channels;
    for (int64_t t = t_begin; t < t_end; t++) {
        const int64_t p0 = 4 * (j->t0 + t);
        const int rows = j->L - p0 < 4 ? (int)(j->L - p0) : 4;
        const float *m = j->src + t * j->channels;
        float *y = j->dst + p0 * j->channels;
        for (int c = 0; c < j->channels; c++) {
            float in[8], out[4];
            for (int i = 0; i < 8; i++)
                in[i] = m[i * plane + c];
            iso_k_wino_out(in, out);
            for (int r = 0; r < rows; r++)
                y[(int64_t)r * j->channels + c] = out[r] + (j->bias ? j->bias[c] : 0.0f);
        }
    }
}

static int cpu_wino_in(iso_backend *be, const float *x, int64_t L, int cin, int64_t t0, int tiles, float *v)
{
    float *zeros = calloc((size_t)cin, sizeof *zeros);
    if (!zeros)
        return iso_error(ISO_ENOMEM, "out of memory for a Winograd transform of %d channels", cin);
    wino_job j = {.src = x, .zeros = zeros, .dst = v, .L = L, .t0 = t0, .tiles = tiles, .channels = cin};
    parallel_for(be, tiles, 24 * (int64_t)cin, wino_in_tiles, &j);
    free(zeros);
    return ISO_OK;
}

static int cpu_wino_out(iso_backend *be, const float *m, int tiles, int cout, int64_t t0, int64_t L,
                        const float *bias, float *y)
{
    wino_job j = {.src = m, .bias = bias, .dst = y, .L = L, .t0 = t0, .tiles = tiles, .channels = cout};
    parallel_for(be, tiles, 16 * (int64_t)cout, wino_out_tiles, &j);
    return ISO_OK;
}

/* ---- attention ---- */

/* Per (head, block of query rows), the blocks shared over the pool: with head widths of a multiple of 16 on
 * AVX-512 or of 8 on AVX2, the fp32 register tiles of attention_tiles.c, in bf16 mode too (more exact than bf16
 * products and faster: oneDNN 2.6's matmul per block ran the op at 74 GFLOP/s on 2 Sapphire Rapids cores with
 * AMX, the tiles at 202); otherwise scores = scale q k^T by BLAS, row softmax, out = p v by BLAS, with a scores
 * buffer per share small enough to stay in cache. Either beats the flash recurrence of kernels.h run per (head,
 * query row) on the backend's threads, the BLAS path by 8-14x for 20 heads of 64 over 1000 tokens (0.12-0.21 s
 * against 1.6-1.8 s on 2 busy cores): scalar dot products there. */
typedef struct {
    const iso_attention_args *a;
    int qb, n_qblocks;
    iso_cpu_tiles isa;   /* the tiles that run; ISO_CPU_TILES_NONE: the BLAS path */
    float *tiles;        /* the tiles' scratch, tile_floats per share */
    size_t tile_floats;
    float *scores; /* qb x Tk per share */
    float *inv;    /* qb per share: each row's 1 / sum of its softmax numerators */
    /* bf16 mode: q, k, v rounded (in their own layouts), and a qb x Tk block of rounded probabilities per share */
    cpu_bf16 *bf16;
    const uint16_t *q16, *k16, *v16;
    uint16_t *p16;
    atomic_int status;
} attention_job;

/* out_block = softmax(scale q k^T) v for head h and query rows [i0, i0 + m): sgemm in fp32, oneDNN bf16
 * GEMMs (fp32 scores, softmax and output, as PyTorch's bf16 attention) in bf16 mode. */
static inline __attribute__((always_inline)) int attention_block(attention_job *j, int part, int h, int i0, int m,
                                                                  float *scores)
{
    const iso_attention_args *a = j->a;
    const int hd = a->head_dim;
    int64_t oq = (int64_t)i0 * a->ldq + (int64_t)h * hd, ok = (int64_t)h * hd, ov = (int64_t)h * hd;
    float *out = a->out + (int64_t)i0 * a->ldo + (int64_t)h * hd;
    if (!j->bf16) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, a->Tk, hd, a->scale, a->q + oq, a->ldq, a->k + ok,
                    a->ldk, 0.0f, scores, a->Tk);
    } else {
        int rc = cpu_bf16_matmul(j->bf16, part, 0, 1, m, a->Tk, hd, a->scale, j->q16 + oq, a->ldq, j->k16 + ok,
                                 a->ldk, 0.0f, scores, a->Tk);
        if (rc != ISO_OK)
            return rc;
    }
    float *inv = j->inv + (size_t)part * j->qb;
    for (int r = 0; r < m; r++)
        inv[r] = iso_k_softmax_exp_row(scores + (size_t)r * a->Tk, a->Tk, a->key_bias);
    int rc = ISO_OK;
    if (!j->bf16) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, hd, a->Tk, 1.0f, scores, a->Tk, a->v + ov, a->ldv,
                    0.0f, out, a->ldo);
    } else {
        uint16_t *p16 = j->p16 + (size_t)part * j->qb * a->Tk;
        cpu_bf16_round(scores, p16, (size_t)m * a->Tk);
        rc = cpu_bf16_matmul(j->bf16, part, 0, 0, m, hd, a->Tk, 1.0f, p16, a->Tk, j->v16 + ov, a->ldv, 0.0f, out,
                             a->ldo);
    }
    /* the softmax's normalisation, on hd outputs per row rather than Tk probabilities */
    for (int r = 0; r < m; r++)
        for (int c = 0; c < hd; c++)
            out[(int64_t)r * a->ldo + c] *= inv[r];
    return rc;
}

CPU_CLONES static void attention_share(void *vctx, int64_t t0, int64_t t1, int part)
{
    attention_job *j = vctx;
    const iso_attention_args *a = j->a;
    if (j->isa != ISO_CPU_TILES_NONE) {
        float *scratch = j->tiles + (size_t)part * j->tile_floats;
        for (int64_t t = t0; t < t1; t++) {
            int h = (int)(t / j->n_qblocks), i0 = (int)(t % j->n_qblocks) * j->qb;
            int m = a->Tq - i0 < j->qb ? a->Tq - i0 : j->qb;
            iso_cpu_attention_tiles(j->isa, a, h, i0, m, t == t0 || i0 == 0, scratch);
        }
        return;
    }
    float *scores = j->scores + (size_t)part * j->qb * a->Tk;
    for (int64_t t = t0; t < t1; t++) {
        int h = (int)(t / j->n_qblocks), i0 = (int)(t % j->n_qblocks) * j->qb;
        int m = a->Tq - i0 < j->qb ? a->Tq - i0 : j->qb;
        int rc = attention_block(j, part, h, i0, m, scores), ok = ISO_OK;
        if (rc != ISO_OK)
            atomic_compare_exchange_strong(&j->status, &ok, rc);
    }
}

static int cpu_attention(iso_backend *be, const iso_attention_args *a)
{
    int rc = iso_k_attention_check(a, 0);
    if (rc || a->Tq == 0)
        return rc;
    enum { SCORES_MAX = 1 << 18 }; /* floats of scores per block (1 MiB, within L2) */
    attention_job j = {.a = a, .qb = SCORES_MAX / a->Tk < 16 ? 16 : SCORES_MAX / a->Tk, .bf16 = bf16_of(be),
                       .status = ISO_OK};
    const int tiles = (j.isa = iso_cpu_attention_tiles_for(a->head_dim)) != ISO_CPU_TILES_NONE;
    if (tiles)
        j.qb = 192; /* a multiple of the tiles' row groups; a share packs each head's keys once */
    if (j.qb > a->Tq)
        j.qb = a->Tq;
    j.n_qblocks = (a->Tq + j.qb - 1) / j.qb;
    double t0 = now_seconds();
    int parts = ((cpu_impl *)be->impl)->pool.n_workers + 1, width = a->heads * a->head_dim;
    if (tiles) {
        j.tile_floats = iso_cpu_attention_tiles_scratch(a->Tk, a->head_dim);
        if (!(j.tiles = cpu_alloc(be, (size_t)parts * j.tile_floats * sizeof *j.tiles)))
            rc = iso_last_status();
    }
    uint16_t *sq = NULL, *sk = NULL, *sv = NULL;
    if (j.bf16 && !tiles &&
        (!(j.q16 = bf16_operand(be, a->q, a->Tq, width, a->ldq, 0, 1, &sq)) ||
         !(j.k16 = bf16_operand(be, a->k, a->Tk, width, a->ldk, 0, 1, &sk)) ||
         !(j.v16 = bf16_operand(be, a->v, a->Tk, width, a->ldv, 0, 1, &sv)) ||
         !(j.p16 = cpu_alloc(be, (size_t)parts * j.qb * a->Tk * sizeof *j.p16))))
        rc = iso_last_status();
    if (rc == ISO_OK && !tiles &&
        !(j.scores = cpu_alloc(be, (size_t)parts * j.qb * (a->Tk + 1) * sizeof *j.scores)))
        rc = iso_last_status();
    if (j.scores)
        j.inv = j.scores + (size_t)parts * j.qb * a->Tk;
    if (rc == ISO_OK)
        parallel_for(be, (int64_t)a->heads * j.n_qblocks, (int64_t)j.qb * a->Tk * (a->head_dim / 8 + 8),
                     attention_share, &j);
    cpu_free(be, j.tiles);
    cpu_free(be, j.scores);
    cpu_free(be, j.p16);
    cpu_free(be, sv);
    cpu_free(be, sk);
    cpu_free(be, sq);
    be->attention_flop += 4.0 * a->heads * a->Tq * a->Tk * a->head_dim;
    be->attention_seconds += now_seconds() - t0;
    return rc != ISO_OK ? rc : atomic_load(&j.status);
}

static void cpu_destroy(iso_backend *be)
{
    pool_stop(&((cpu_impl *)be->impl)->pool);
    cpu_bf16_destroy(((cpu_impl *)be->impl)->bf16);
    cache_clear(cache_of(be));
    free(be->impl);
    free(be);
}

static const struct iso_backend_ops cpu_ops = {
    .destroy = cpu_destroy,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .copy = cpu_memcpy,
    .memset0 = cpu_memset0,
    .weight = cpu_weight,
    .free_weight = cpu_free_weight,
    .sync = cpu_sync,
    .gemm = cpu_gemm,
    .bias_act = cpu_bias_act,
    .affine_act = cpu_affine_act,
    .axpy = cpu_axpy,
    .layernorm = cpu_layernorm,
    .softmax = cpu_softmax,
    .rotary = cpu_rotary,
    .glu_silu = cpu_glu_silu,
    .pair_diff = cpu_pair_diff,
    .attn_pool2 = cpu_attn_pool2,
    .rel_shift_add = cpu_rel_shift_add,
    .mean_rows = cpu_mean_rows,
    .attention = cpu_attention,
    .wino_in = cpu_wino_in,
    .wino_out = cpu_wino_out,
    .use_precision = cpu_use_precision,
    .cached_bytes = cpu_cached_bytes,
    .release_cached = cpu_release_cached,
};

extern const iso_backend_reg iso_backend_cpu_reg;

static int cpu_device_count(void) { return 1; }

static int cpu_create(int device, int n_threads, iso_precision precision, iso_backend **out)
{
    *out = NULL;
    if (device != 0)
        return iso_error(ISO_EDEVICE, "cpu backend: device %d requested, there is one (cpu or cpu:0)", device);
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    iso_backend *be = calloc(1, sizeof *be);
    cpu_impl *impl = calloc(1, sizeof *impl);
    if (!be || !impl) {
        free(be);
        free(impl);
        return iso_error(ISO_ENOMEM, "cpu backend: out of memory");
    }
    iso_backend_init(be, &iso_backend_cpu_reg, &cpu_ops, 0, precision, n_threads, impl);
    static atomic_flag warned = ATOMIC_FLAG_INIT;
    const char *blas_core = iso_backend_cpu_blas_hint();
    if (blas_core && !atomic_flag_test_and_set(&warned))
        iso_warn("OpenBLAS runs its %s kernels, not this CPU's: GEMMs at a fraction of its speed (set "
                 "OPENBLAS_CORETYPE=%s, or call iso_backend_cpu_blas_reexec)", openblas_get_corename(), blas_core);
    /* a set OPENBLAS_CORETYPE is kept (the determinism tests set one on purpose), but said where it costs speed:
     * an environment with Haswell on 2 Zen 5 cores ran sgemm at 208 GFLOP/s, SkylakeX kernels at 409 */
    const char *wider = iso_cpu_blas_forced_narrower();
    if (wider && !atomic_flag_test_and_set(&warned))
        iso_info("cpu backend: OpenBLAS runs its %s kernels, as OPENBLAS_CORETYPE asks; this CPU runs its %s "
                 "ones (GEMMs up to twice as fast): unset it unless it was set on purpose",
                 openblas_get_corename(), wider);
    openblas_set_num_threads(1);
    pool_init(&impl->pool, n_threads);
    be->n_threads = impl->pool.n_workers + 1; /* what runs: the pool has at most 64 threads, and one may fail to start */
    int rc = cpu_use_precision(be, precision);
    if (rc != ISO_OK) {
        cpu_destroy(be);
        return rc;
    }
    *out = be;
    return ISO_OK;
}

const iso_backend_reg iso_backend_cpu_reg = {"cpu", ISO_DEVICE_CPU, 1u << ISO_PREC_FP32 | 1u << ISO_PREC_BF16,
                                             cpu_device_count, cpu_create};
