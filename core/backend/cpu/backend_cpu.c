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
#include "backend/kernels.h"

/* The row and element loops are compiled twice, for AVX2 and for baseline x86-64, and the loader picks one (GNU
 * ifunc): twice the vector width where the CPU has it, from one portable binary. */
#if defined(__x86_64__) && defined(__linux__)
#define CPU_CLONES __attribute__((target_clones("avx2", "default")))
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
} cpu_impl;

typedef struct {
    cpu_pool *pool;
    int index;
} pool_worker;

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

static void *cpu_alloc(iso_backend *be, size_t nbytes)
{
    void *base = cache_take(cache_of(be), nbytes);
    if (!base) {
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

/* Keeps the block, making room by returning the longest-cached blocks to the C library: the cache holds at most
 * CPU_CACHE_SLOTS blocks and no more bytes than the peak in use, so memory stays within twice what the run needed
 * at once. */
static void cpu_free(iso_backend *be, void *ptr)
{
    if (!ptr)
        return;
    cpu_cache *c = cache_of(be);
    void *base = (char *)ptr - CPU_ALIGN;
    cpu_header *h = base;
    be->bytes_in_use -= h->nbytes;
    while (c->n && (c->n == CPU_CACHE_SLOTS || c->cached_bytes + h->capacity > be->peak_bytes))
        free(cache_remove(c, 0));
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

static const float *cpu_weight(iso_backend *be, const float *host, size_t count)
{
    (void)be;
    (void)count;
    return host;
}

static void cpu_free_weight(iso_backend *be, const float *dev)
{
    (void)be;
    (void)dev;
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

/* One sgemm over rows [r0, r1) and columns [c0, c1) of C_b (op(A) rows and op(B) columns follow). */
static void sgemm_block(const iso_gemm_args *g, int b, int r0, int r1, int c0, int c1)
{
    const float *a = g->a + b * g->stride_a + (int64_t)r0 * (g->trans_a ? 1 : g->lda);
    const float *bm = g->b + b * g->stride_b + (int64_t)c0 * (g->trans_b ? g->ldb : 1);
    cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans, g->trans_b ? CblasTrans : CblasNoTrans,
                r1 - r0, c1 - c0, g->k, g->alpha, a, g->lda, bm, g->ldb, g->beta,
                g->c + b * g->stride_c + (int64_t)r0 * g->ldc + c0, g->ldc);
}

/* Shares of a GEMM: units are the rows of all batches (batch-major) when there are enough of them, otherwise
 * the columns of every batch, so each thread runs one single-threaded sgemm per batch it touches. */
typedef struct {
    const iso_gemm_args *g;
    int by_rows;
} gemm_job;

static void gemm_share(void *vctx, int64_t u0, int64_t u1, int part)
{
    (void)part;
    const gemm_job *j = vctx;
    const iso_gemm_args *g = j->g;
    if (!j->by_rows) {
        for (int b = 0; b < g->batch; b++)
            sgemm_block(g, b, 0, g->m, (int)u0, (int)u1);
        return;
    }
    for (int64_t u = u0; u < u1;) {
        int b = (int)(u / g->m), r0 = (int)(u - (int64_t)b * g->m);
        int r1 = u1 - (int64_t)b * g->m < g->m ? (int)(u1 - (int64_t)b * g->m) : g->m;
        sgemm_block(g, b, r0, r1, 0, g->n);
        u += r1 - r0;
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cpu_gemm(iso_backend *be, const iso_gemm_args *g)
{
    if (g->batch <= 0 || g->m <= 0 || g->n <= 0)
        return ISO_OK;
    double t0 = now_seconds();
    int64_t rows = (int64_t)g->batch * g->m;
    gemm_job j = {g, rows >= 16 * (int64_t)be->n_threads || rows >= g->n};
    int64_t units = j.by_rows ? rows : g->n;
    /* cost in cycles at about 32 FLOP per cycle */
    parallel_for(be, units, (int64_t)g->k * (j.by_rows ? g->n : rows) / 16, gemm_share, &j);
    be->gemm_flop += 2.0 * rows * g->n * g->k;
    be->gemm_seconds += now_seconds() - t0;
    return ISO_OK;
}

/* ---- element-wise and row ops ---- */

typedef struct {
    const float *x;
    float *y;
    const float *p0, *p1; /* scale / gamma (NULL: 1), shift or bias / beta (NULL: 0) */
    int cols;
    iso_act act;
    float k; /* LayerNorm eps, axpy alpha */
} rowop;

/* y = act(x * scale + shift) over one row; scale and shift may be NULL (1 and 0). Inlined once per activation
 * below, so each loop is free of the per-element switch and vectorizes. */
static inline __attribute__((always_inline)) void act_row_as(const float *x, float *y, const float *scale,
                                                             const float *shift, int n, iso_act act)
{
    for (int c = 0; c < n; c++)
        y[c] = iso_k_act((scale ? x[c] * scale[c] : x[c]) + (shift ? shift[c] : 0.0f), act);
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
        iso_k_softmax_row(o->y + r * o->cols, o->cols, o->p0);
}

static int cpu_softmax(iso_backend *be, float *x, int64_t rows, int cols, const float *key_bias)
{
    rowop o = {.y = x, .p0 = key_bias, .cols = cols};
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
    const float *x, *logits;
    float *y;
    int d;
} pool_ctx;

CPU_CLONES static void attn_pool_rows(void *vctx, int64_t r0, int64_t r1, int part)
{
    (void)part;
    pool_ctx *o = vctx;
    for (int64_t i = r0; i < r1; i++) {
        const float *x0 = o->x + 2 * i * o->d, *x1 = x0 + o->d;
        const float *l0 = o->logits + 2 * i * o->d, *l1 = l0 + o->d;
        float *y = o->y + i * o->d;
        for (int c = 0; c < o->d; c++)
            y[c] = iso_k_attn_pool2(x0[c], x1[c], l0[c], l1[c]);
    }
}

static int cpu_attn_pool2(iso_backend *be, const float *x, const float *logits, float *y, int64_t L, int d)
{
    pool_ctx o = {x, logits, y, d};
    parallel_for(be, L, d * 4, attn_pool_rows, &o);
    return ISO_OK;
}

static int cpu_rel_shift_add(iso_backend *be, float *logits, const float *rel, int heads, int n)
{
    (void)be;
    int64_t w = 2 * (int64_t)n - 1;
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < n; i++) {
            float *row = logits + ((int64_t)h * n + i) * n;
            const float *r = rel + ((int64_t)h * n + i) * w + (n - 1 - i);
            for (int j = 0; j < n; j++)
                row[j] += r[j];
        }
    return ISO_OK;
}

static int cpu_mean_rows(iso_backend *be, const float *x, float *y, int64_t r0, int64_t r1, int cols)
{
    (void)be;
    if (r1 <= r0)
        return iso_error(ISO_EINVAL, "mean_rows: empty row range [%lld, %lld)", (long long)r0, (long long)r1);
    for (int c = 0; c < cols; c++) {
        double s = 0.0;
        for (int64_t r = r0; r < r1; r++)
            s += x[r * cols + c];
        y[c] = (float)(s / (double)(r1 - r0));
    }
    return ISO_OK;
}

/* ---- attention ---- */

/* Per (head, block of query rows): scores = scale q k^T by BLAS, row softmax, out = p v by BLAS, the blocks
 * shared over the pool with a scores buffer each, small enough to stay in cache. On CPU this beats the flash
 * recurrence of kernels.h run per (head, query row) on the backend's threads, by 8-14x for 20 heads of 64 over
 * 1000 tokens (0.12-0.21 s against 1.6-1.8 s on 2 busy cores): BLAS kernels here, scalar dot products there. */
typedef struct {
    const iso_attention_args *a;
    int qb, n_qblocks;
    float *scores; /* qb x Tk per share */
} attention_job;

CPU_CLONES static void attention_share(void *vctx, int64_t t0, int64_t t1, int part)
{
    const attention_job *j = vctx;
    const iso_attention_args *a = j->a;
    const int hd = a->head_dim;
    float *scores = j->scores + (size_t)part * j->qb * a->Tk;
    for (int64_t t = t0; t < t1; t++) {
        int h = (int)(t / j->n_qblocks), i0 = (int)(t % j->n_qblocks) * j->qb;
        int m = a->Tq - i0 < j->qb ? a->Tq - i0 : j->qb;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, a->Tk, hd, a->scale,
                    a->q + (int64_t)i0 * a->ldq + (int64_t)h * hd, a->ldq, a->k + (int64_t)h * hd, a->ldk, 0.0f,
                    scores, a->Tk);
        for (int r = 0; r < m; r++)
            iso_k_softmax_row(scores + (size_t)r * a->Tk, a->Tk, a->key_bias);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, hd, a->Tk, 1.0f, scores, a->Tk,
                    a->v + (int64_t)h * hd, a->ldv, 0.0f, a->out + (int64_t)i0 * a->ldo + (int64_t)h * hd, a->ldo);
    }
}

static int cpu_attention(iso_backend *be, const iso_attention_args *a)
{
    int rc = iso_k_attention_check(a, 0);
    if (rc || a->Tq == 0)
        return rc;
    enum { SCORES_MAX = 1 << 18 }; /* floats of scores per block (1 MiB, within L2) */
    attention_job j = {a, SCORES_MAX / a->Tk < 16 ? 16 : SCORES_MAX / a->Tk, 0, NULL};
    if (j.qb > a->Tq)
        j.qb = a->Tq;
    j.n_qblocks = (a->Tq + j.qb - 1) / j.qb;
    double t0 = now_seconds();
    int parts = ((cpu_impl *)be->impl)->pool.n_workers + 1;
    if (!(j.scores = cpu_alloc(be, (size_t)parts * j.qb * a->Tk * sizeof *j.scores)))
        return iso_last_status();
    parallel_for(be, (int64_t)a->heads * j.n_qblocks, (int64_t)j.qb * a->Tk * (a->head_dim / 8 + 8), attention_share, &j);
    cpu_free(be, j.scores);
    be->attention_flop += 4.0 * a->heads * a->Tq * a->Tk * a->head_dim;
    be->attention_seconds += now_seconds() - t0;
    return ISO_OK;
}

static void cpu_destroy(iso_backend *be)
{
    pool_stop(&((cpu_impl *)be->impl)->pool);
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
    .attn_pool2 = cpu_attn_pool2,
    .rel_shift_add = cpu_rel_shift_add,
    .mean_rows = cpu_mean_rows,
    .attention = cpu_attention,
};

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
    openblas_set_num_threads(1);
    pool_init(&impl->pool, n_threads);
    *out = be;
    return ISO_OK;
}

const iso_backend_reg iso_backend_cpu_reg = {"cpu", ISO_DEVICE_CPU, 1u << ISO_PREC_FP32, cpu_device_count,
                                             cpu_create};
