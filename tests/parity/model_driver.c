/* Test driver: runs one encoder of ours on an input read from a file and writes its output as raw float32,
 * for the parity scripts to compare with the PyTorch reference.
 *   model_driver esm|nt WEIGHTS CONFIG PREFIX IDS.txt OUT.f32    (whitespace-separated token ids)
 *   model_driver esm-packed|nt-packed WEIGHTS CONFIG PREFIX SEQS.txt OUT.f32
 *       SEQS: one sequence of token ids per line, all encoded in one packed forward; OUT: their rows in order.
 *   model_driver esm-bench|nt-bench WEIGHTS CONFIG PREFIX SEQS.txt MAX_TOKENS REPEATS
 *       times the sequences one by one and packed (forwards of at most MAX_TOKENS tokens), REPEATS times;
 *       prints seconds, GFLOP/s (iso_esm_flops) and the largest difference between the two outputs.
 *   model_driver batch MODEL rna|protein SEQS.txt MAX_TOKENS OUT.f32 [CACHE_DIR]
 *       iso_model_embed_batch on the sequences (through the cache in CACHE_DIR); OUT: their embeddings' rows in
 *       order. Prints "hits H" (cache hits) on stdout.
 *   model_driver enformer WEIGHTS CONFIG PREFIX DNA.txt OUT.f32 [STEM_TILE]
 *       (one line of ACGTN; STEM_TILE: positions per stem tile instead of the default). Prints the peak
 *       activation bytes on stderr.
 *   model_driver isoformer MODEL DNA.txt RNA_IDS.txt PROTEIN_IDS.txt OUTDIR
 *       writes OUTDIR/{e_dna,e_rna,e_protein,fused,pooled,predictions}.f32, and {pooled,predictions}_window_rows.f32
 *       from a second iso_model_predict without the fused matrix; an empty PROTEIN_IDS file means no protein.
 *       Options come from ISO_FUSION=parallel and ISO_NONCODING=skip. Prints per-stage seconds (the median of
 *       ISO_REPEATS timed runs after a warm-up, when set) and the GEMM and attention rates inside the ops on
 *       stderr; each stage waits for the backend. ISO_PACE=1: each run (the warm-up too) waits for a line on stdin
 *       and then prints "run R stage seconds: dna D rna R protein P fusion+head F" on stdout, so that a benchmark
 *       can alternate our runs with its reference's on a machine whose speed drifts.
 *   model_driver devices             prints each registered backend and its device count; exits 77 when no GPU
 *                                   backend has a device (bench/gpu_check.sh's probe)
 *   model_driver sgemm N REPEATS    prints the backend's GEMM rate on N x N x N, in GFLOP/s (for benchmarks)
 *   model_driver openblas N REPEATS prints OpenBLAS's own rate there (its threads, all cores): the machine's
 *                                   sgemm rate that the benchmarks compare with
 * The backend computes its GEMMs in ISO_PRECISION (fp32 by default, bf16 or tf32) on ISO_THREADS threads (all
 * cores by default; OPENBLAS_NUM_THREADS sets the openblas command's). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "backend/backend_impl.h"
#include "isoformer/model.h"
#include "model/enformer.h"
#include "model/esm.h"

static int32_t *read_ids(const char *path, int *n)
{
    FILE *fp = fopen(path, "r");
    int32_t *ids = NULL;
    int cap = 0, v;
    *n = 0;
    if (!fp)
        return NULL;
    while (fscanf(fp, "%d", &v) == 1) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            int32_t *t = realloc(ids, (size_t)cap * sizeof *t);
            if (!t)
                break;
            ids = t;
        }
        ids[(*n)++] = v;
    }
    fclose(fp);
    return ids;
}

/* Makes room in the array *(T **)a for element n, doubling its capacity *cap as needed. */
static int grow(void *a, int *cap, int n, size_t elt)
{
    void **pa = a;
    if (n < *cap)
        return 0;
    int c = *cap ? 2 * *cap : 256;
    void *t = realloc(*pa, (size_t)c * elt);
    if (!t)
        return -1;
    *pa = t;
    *cap = c;
    return 0;
}

/* One sequence of whitespace-separated ids per line (blank lines skipped): the ids concatenated and
 * offsets[count + 1], both malloc'd. */
static int read_seqs(const char *path, int32_t **ids, int **offsets, int *count)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int n = 0, cap_ids = 0, cap_off = 0;
    *ids = NULL;
    *offsets = NULL;
    *count = 0;
    int ok = fp && !grow(offsets, &cap_off, 0, sizeof **offsets);
    if (ok)
        (*offsets)[0] = 0;
    while (ok && getline(&line, &cap, fp) > 0) {
        char *p = line, *end;
        int start = n;
        for (long v; ok && (v = strtol(p, &end, 10), end != p); p = end)
            if ((ok = !grow(ids, &cap_ids, n, sizeof **ids)))
                (*ids)[n++] = (int32_t)v;
        if (ok && n > start && (ok = !grow(offsets, &cap_off, *count + 1, sizeof **offsets)))
            (*offsets)[++*count] = n;
    }
    free(line);
    if (fp)
        fclose(fp);
    return ok && *count > 0 ? 0 : -1;
}

static int write_f32(const char *path, const float *x, size_t n)
{
    FILE *fp = fopen(path, "wb");
    int ok = fp && fwrite(x, sizeof *x, n, fp) == n;
    if (fp)
        ok &= fclose(fp) == 0;
    return ok ? 0 : -1;
}

/* Copies n floats of a backend buffer to the host and writes them to path. */
static int save_output(iso_backend *be, const float *dev, size_t n, const char *path)
{
    float *host = malloc((n ? n : 1) * sizeof *host);
    int rc = !host || be->ops->download(be, host, dev, n * sizeof *host) || iso_backend_sync(be) ||
             write_f32(path, host, n);
    free(host);
    return rc ? 1 : 0;
}

/* ISO_CLOCK=cpu: the timings are the process's CPU seconds (all threads), which other jobs on the machine
 * distort far less than wall time; else wall seconds. */
static double now(void)
{
    static int cpu = -1;
    if (cpu < 0)
        cpu = getenv("ISO_CLOCK") && !strcmp(getenv("ISO_CLOCK"), "cpu");
    struct timespec ts;
    clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The sequences one by one, then packed in forwards of at most max_tokens, repeats times; both outputs kept to
 * compare. */
static int bench_esm(iso_backend *be, iso_esm *m, const int32_t *ids, const int *off, int count, int max_tokens,
                     int repeats)
{
    const int d = iso_esm_hidden(m);
    const size_t n = (size_t)off[count] * d;
    float *one = be->ops->alloc(be, n * sizeof *one), *packed = be->ops->alloc(be, n * sizeof *packed);
    float *h1 = malloc(n * sizeof *h1), *h2 = malloc(n * sizeof *h2);
    int *lens = malloc((size_t)count * sizeof *lens), *rel = malloc(((size_t)count + 1) * sizeof *rel);
    int rc = !one || !packed || !h1 || !h2 || !lens || !rel;
    double flop = 0;
    for (int s = 0; s < count && !rc; s++) {
        lens[s] = off[s + 1] - off[s];
        flop += iso_esm_flops(m, lens[s]);
    }
    printf("%d sequences, %d tokens, %.2f GFLOP per pass, budget %d tokens per packed forward\n", count, off[count],
           flop / 1e9, max_tokens);
    rc = rc || iso_esm_forward(m, ids, lens[0], one) || iso_backend_sync(be); /* warm-up */
    for (int r = 0; r < repeats && !rc; r++) {
        /* seconds and GEMM / attention FLOP and seconds, before, after one by one, after packed */
        double t[3], g[3], gs[3], as[3];
        int forwards = 0;
        for (int phase = 0; phase < 3 && !rc; phase++) {
            if (phase == 1)
                for (int s = 0; s < count && !rc; s++)
                    rc = iso_esm_forward(m, ids + off[s], lens[s], one + (size_t)off[s] * d);
            for (int s = 0, k; phase == 2 && s < count && !rc; s += k, forwards++) {
                k = iso_esm_pack_count(lens + s, count - s, max_tokens);
                for (int j = 0; j <= k; j++)
                    rel[j] = off[s + j] - off[s];
                rc = iso_esm_forward_packed(m, ids + off[s], rel, k, packed + (size_t)off[s] * d);
            }
            rc = rc || iso_backend_sync(be);
            t[phase] = now();
            g[phase] = be->gemm_flop;
            gs[phase] = be->gemm_seconds;
            as[phase] = be->attention_seconds;
        }
        rc = rc || be->ops->download(be, h1, one, n * sizeof *h1) || be->ops->download(be, h2, packed, n * sizeof *h2) ||
             iso_backend_sync(be);
        double diff = 0;
        for (size_t i = 0; i < n && !rc; i++)
            diff = fabs((double)h1[i] - h2[i]) > diff ? fabs((double)h1[i] - h2[i]) : diff;
        for (int p = 1; p < 3 && !rc; p++) {
            double sec = t[p] - t[p - 1], gsec = gs[p] - gs[p - 1], asec = as[p] - as[p - 1];
            printf("repeat %d %-10s %6.3f s %6.2f GFLOP/s (GEMM %.3f s at %.2f GFLOP/s, attention %.3f s, "
                   "other %.3f s)\n", r + 1, p == 1 ? "one by one" : "packed", sec, flop / sec / 1e9, gsec,
                   (g[p] - g[p - 1]) / gsec / 1e9, asec, sec - gsec - asec);
        }
        if (!rc)
            printf("repeat %d speed-up %.2fx in %d packed forwards; max |one by one - packed| %.2e\n", r + 1,
                   (t[1] - t[0]) / (t[2] - t[1]), forwards, diff);
    }
    if (one)
        be->ops->free(be, one);
    if (packed)
        be->ops->free(be, packed);
    free(h1);
    free(h2);
    free(lens);
    free(rel);
    return rc;
}

typedef enum { ESM_ONE, ESM_PACKED, ESM_BENCH } esm_mode;

static int run_esm(iso_backend *be, char **argv, int nt, esm_mode mode)
{
    iso_weights *w = NULL;
    iso_config *c = NULL;
    iso_esm *m = NULL;
    iso_esm_hparams hp = nt ? iso_ntv2_250m_hparams : iso_esm2_150m_hparams;
    int T = 0, count = 1, rc = 1, one[2] = {0, 0};
    int32_t *ids = NULL;
    int *offsets = one;
    if (mode == ESM_ONE)
        one[1] = T = (ids = read_ids(argv[5], &T)) ? T : 0;
    else if (read_seqs(argv[5], &ids, &offsets, &count) == 0)
        T = offsets[count];
    float *out = NULL;
    if (!ids || iso_weights_open(argv[2], &w) || iso_config_load(argv[3], &c) ||
        iso_esm_hparams_from_config(c, nt ? "nt_" : "esm_", &hp) || iso_esm_load(w, argv[4], &hp, be, &m))
        goto done;
    if (mode == ESM_BENCH) {
        rc = bench_esm(be, m, ids, offsets, count, atoi(argv[6]), atoi(argv[7]));
        goto done;
    }
    out = be->ops->alloc(be, (size_t)T * hp.hidden * sizeof *out);
    if (!out || (mode == ESM_ONE ? iso_esm_forward(m, ids, T, out) : iso_esm_forward_packed(m, ids, offsets, count, out)))
        goto done;
    rc = save_output(be, out, (size_t)T * hp.hidden, argv[6]);
done:
    if (rc)
        fprintf(stderr, "model_driver: %s\n", iso_last_error());
    if (out)
        be->ops->free(be, out);
    free(ids);
    if (offsets != one)
        free(offsets);
    iso_esm_free(m);
    iso_config_free(c);
    iso_weights_close(w);
    return rc;
}

/* iso_model_embed_batch on the sequences of argv[4], optionally through a cache; the embeddings' rows in order. */
static int run_batch(iso_backend *be, int argc, char **argv)
{
    iso_model *m = NULL;
    iso_emb_cache *cache = NULL;
    int32_t *ids = NULL;
    int *offsets = NULL, count = 0, rc = 1, hits = 0, cols = 0;
    const int32_t **seqs = NULL;
    int *lens = NULL, *hit = NULL;
    iso_embedding **out = NULL;
    float *host = NULL;
    const iso_emb_kind kind = strcmp(argv[3], "protein") ? ISO_EMB_RNA : ISO_EMB_PROTEIN;
    if (read_seqs(argv[4], &ids, &offsets, &count) || iso_model_load(argv[2], be, NULL, &m) ||
        (argc == 8 && iso_emb_cache_open(argv[7], m, &cache)))
        goto done;
    seqs = malloc((size_t)count * sizeof *seqs);
    lens = malloc((size_t)count * sizeof *lens);
    hit = malloc((size_t)count * sizeof *hit);
    out = calloc((size_t)count, sizeof *out);
    if (!seqs || !lens || !hit || !out)
        goto done;
    for (int i = 0; i < count; i++) {
        seqs[i] = ids + offsets[i];
        lens[i] = offsets[i + 1] - offsets[i];
    }
    if (iso_model_embed_batch(m, cache, kind, count, seqs, lens, atoi(argv[5]), out, hit))
        goto done;
    cols = iso_embedding_cols(out[0]);
    if (!(host = malloc((size_t)offsets[count] * cols * sizeof *host)))
        goto done;
    rc = 0;
    for (int i = 0; i < count && !rc; i++) {
        hits += hit[i];
        rc = iso_embedding_rows(out[i]) != lens[i] || iso_embedding_download(m, out[i], host + (size_t)offsets[i] * cols);
    }
    rc = rc || write_f32(argv[6], host, (size_t)offsets[count] * cols);
    if (!rc)
        printf("hits %d\n", hits);
done:
    if (rc)
        fprintf(stderr, "model_driver: %s\n", iso_last_error());
    for (int i = 0; out && i < count; i++)
        iso_embedding_free(m, out[i]);
    free(out);
    free(host);
    free(seqs);
    free(lens);
    free(hit);
    free(ids);
    free(offsets);
    iso_emb_cache_close(cache);
    iso_model_free(m);
    return rc;
}

static char *read_line(const char *path, int64_t *len)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = fp ? getline(&line, &cap, fp) : -1;
    if (fp)
        fclose(fp);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    *len = n;
    return n > 0 ? line : (free(line), NULL);
}

static int run_enformer(iso_backend *be, int argc, char **argv)
{
    iso_weights *w = NULL;
    iso_config *c = NULL;
    iso_enformer *m = NULL;
    iso_enformer_hparams hp = iso_enformer_default_hparams;
    int64_t len = 0;
    int rc = 1;
    char *dna = read_line(argv[5], &len);
    float *out = NULL;
    size_t n = 0;
    if (!dna || iso_weights_open(argv[2], &w) || iso_config_load(argv[3], &c) ||
        iso_enformer_hparams_from_config(c, &hp) || iso_enformer_load(w, argv[4], &hp, be, &m) ||
        (argc == 8 && iso_enformer_set_stem_tile(m, atoll(argv[7]))))
        goto done;
    n = (size_t)iso_enformer_out_rows(m) * iso_enformer_out_cols(m);
    out = be->ops->alloc(be, n * sizeof *out);
    if (!out || iso_enformer_forward(m, dna, len, out))
        goto done;
    rc = save_output(be, out, n, argv[6]);
    fprintf(stderr, "peak activation bytes %zu\n", iso_backend_peak_bytes(be));
done:
    if (rc)
        fprintf(stderr, "model_driver: %s\n", iso_last_error());
    if (out)
        be->ops->free(be, out);
    free(dna);
    iso_enformer_free(m);
    iso_config_free(c);
    iso_weights_close(w);
    return rc;
}

static int dump(iso_model *m, const iso_embedding *e, const char *dir, const char *name)
{
    int rows = iso_embedding_rows(e), cols = iso_embedding_cols(e);
    char path[4096];
    float *host = malloc((size_t)rows * cols * sizeof *host);
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    int rc = !host || iso_embedding_download(m, e, host) || write_f32(path, host, (size_t)rows * cols);
    free(host);
    return rc;
}

static int run_sgemm(iso_backend *be, int n, int repeats)
{
    size_t bytes = (size_t)n * n * sizeof(float);
    float *a = be->ops->alloc(be, bytes), *b = be->ops->alloc(be, bytes), *c = be->ops->alloc(be, bytes);
    float *host = calloc((size_t)n * n, sizeof *host);
    if (!a || !b || !c || !host)
        return 1;
    for (size_t i = 0; i < (size_t)n * n; i++)
        host[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    int rc = be->ops->upload(be, a, host, bytes) || be->ops->upload(be, b, host, bytes);
    iso_gemm_args g = {.m = n, .n = n, .k = n, .alpha = 1.0f, .a = a, .lda = n, .b = b, .ldb = n, .c = c, .ldc = n,
                       .batch = 1};
    rc = rc || be->ops->gemm(be, &g) || iso_backend_sync(be); /* warm-up */
    double t0 = now();
    for (int r = 0; r < repeats && !rc; r++)
        rc = be->ops->gemm(be, &g);
    rc = rc || iso_backend_sync(be);
    double t = now() - t0;
    if (!rc)
        printf("%.1f\n", 2.0 * n * n * (double)n * repeats / t / 1e9);
    be->ops->free(be, a);
    be->ops->free(be, b);
    be->ops->free(be, c);
    free(host);
    return rc;
}

static int run_openblas(int n, int repeats)
{
    float *a = malloc((size_t)n * n * sizeof *a), *c = malloc((size_t)n * n * sizeof *c);
    if (!a || !c)
        return 1;
    for (size_t i = 0; i < (size_t)n * n; i++)
        a[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, a, n, 0.0f, c, n); /* warm-up */
    double t0 = now();
    for (int r = 0; r < repeats; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, a, n, 0.0f, c, n);
    printf("%.1f\n", 2.0 * n * n * (double)n * repeats / (now() - t0) / 1e9);
    free(a);
    free(c);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run_isoformer(iso_backend *be, char **argv)
{
    iso_model *m = NULL;
    iso_model_options opts;
    iso_model_options_default(&opts);
    const char *fusion = getenv("ISO_FUSION");
    if (fusion && !strcmp(fusion, "parallel"))
        opts.fusion = ISO_FUSION_PARALLEL;
    const char *noncoding = getenv("ISO_NONCODING");
    if (noncoding && !strcmp(noncoding, "skip"))
        opts.noncoding = ISO_NONCODING_SKIP;
    iso_embedding *ed = NULL, *er = NULL, *ep = NULL;
    int64_t len = 0;
    int n_rna = 0, n_prot = 0, rc = 1;
    char *dna = read_line(argv[3], &len);
    int32_t *rna = read_ids(argv[4], &n_rna), *prot = read_ids(argv[5], &n_prot);
    float *pooled = NULL, *pred = NULL, *fused = NULL;
    iso_model_info info;
    char path[4096];
    if (!dna || !rna || iso_model_load(argv[2], be, &opts, &m))
        goto done;
    iso_model_get_info(m, &info);
    pooled = malloc((size_t)info.fused_dim * sizeof *pooled);
    pred = malloc((size_t)info.n_outputs * sizeof *pred);
    fused = malloc((size_t)info.dna_rows * info.fused_dim * sizeof *fused);
    /* ISO_REPEATS=R > 1: a warm-up, then R timed forwards; the median of each stage is printed. */
    const char *rep = getenv("ISO_REPEATS"), *pace = getenv("ISO_PACE");
    int repeats = rep && atoi(rep) > 1 ? atoi(rep) : 1, runs = repeats > 1 ? repeats + 1 : 1;
    const int paced = pace && !strcmp(pace, "1");
    double stage[4][64] = {{0}}, op[4] = {0};
    if (repeats > 64 || !pooled || !pred || !fused)
        goto done;
    for (int r = 0; r < runs; r++) {
        double t[5], o[4] = {be->gemm_flop, be->gemm_seconds, be->attention_flop, be->attention_seconds};
        iso_embedding_free(m, ed);
        iso_embedding_free(m, er);
        iso_embedding_free(m, ep);
        ed = er = ep = NULL;
        if (paced) {
            int ch;
            while ((ch = getchar()) != '\n')
                if (ch == EOF)
                    goto done; /* the benchmark stopped */
        }
        t[0] = now();
        if (iso_model_embed_dna(m, dna, len, &ed) || iso_backend_sync(be) ||
            (t[1] = now(), iso_model_embed_rna(m, rna, n_rna, &er)) || iso_backend_sync(be) ||
            (t[2] = now(), n_prot && iso_model_embed_protein(m, prot, n_prot, &ep)) || iso_backend_sync(be) ||
            (t[3] = now(), iso_model_predict(m, ed, er, ep, pooled, pred, fused)))
            goto done;
        t[4] = now();
        if (paced) {
            printf("run %d stage seconds: dna %.6f rna %.6f protein %.6f fusion+head %.6f\n", r, t[1] - t[0],
                   t[2] - t[1], t[3] - t[2], t[4] - t[3]);
            fflush(stdout);
        }
        int k = runs > 1 ? r - 1 : r;
        if (k < 0)
            continue; /* the warm-up */
        for (int i = 0; i < 4; i++)
            stage[i][k] = t[i + 1] - t[i];
        op[0] += be->gemm_flop - o[0], op[1] += be->gemm_seconds - o[1];
        op[2] += be->attention_flop - o[2], op[3] += be->attention_seconds - o[3];
    }
    for (int i = 0; i < 4; i++)
        qsort(stage[i], (size_t)repeats, sizeof stage[i][0], cmp_double);
    fprintf(stderr, "stage seconds: dna %.3f rna %.3f protein %.3f fusion+head %.3f\n", stage[0][repeats / 2],
            stage[1][repeats / 2], stage[2][repeats / 2], stage[3][repeats / 2]);
    fprintf(stderr, "inside ops: gemm %.1f GFLOP/s, attention %.1f GFLOP/s\n",
            op[1] > 0 ? op[0] / op[1] / 1e9 : 0.0, op[3] > 0 ? op[2] / op[3] / 1e9 : 0.0);
    rc = dump(m, ed, argv[6], "e_dna") || dump(m, er, argv[6], "e_rna") || (ep && dump(m, ep, argv[6], "e_protein"));
    snprintf(path, sizeof path, "%s/fused.f32", argv[6]);
    rc = rc || write_f32(path, fused, (size_t)info.dna_rows * info.fused_dim);
    snprintf(path, sizeof path, "%s/pooled.f32", argv[6]);
    rc = rc || write_f32(path, pooled, (size_t)info.fused_dim);
    snprintf(path, sizeof path, "%s/predictions.f32", argv[6]);
    rc = rc || write_f32(path, pred, (size_t)info.n_outputs);
    /* As predict calls it, without the fused matrix: only the pool window's rows are fused. */
    rc = rc || iso_model_predict(m, ed, er, ep, pooled, pred, NULL);
    snprintf(path, sizeof path, "%s/pooled_window_rows.f32", argv[6]);
    rc = rc || write_f32(path, pooled, (size_t)info.fused_dim);
    snprintf(path, sizeof path, "%s/predictions_window_rows.f32", argv[6]);
    rc = rc || write_f32(path, pred, (size_t)info.n_outputs);
done:
    if (rc)
        fprintf(stderr, "model_driver: %s\n", iso_last_error());
    iso_embedding_free(m, ed);
    iso_embedding_free(m, er);
    iso_embedding_free(m, ep);
    iso_model_free(m);
    free(dna);
    free(rna);
    free(prot);
    free(pooled);
    free(pred);
    free(fused);
    return rc;
}

static int esm_command(const char *cmd, int argc, int *nt, esm_mode *mode)
{
    static const struct {
        const char *name;
        int nt, argc;
        esm_mode mode;
    } cmds[] = {{"esm", 0, 7, ESM_ONE},       {"nt", 1, 7, ESM_ONE},       {"esm-packed", 0, 7, ESM_PACKED},
                {"nt-packed", 1, 7, ESM_PACKED}, {"esm-bench", 0, 8, ESM_BENCH}, {"nt-bench", 1, 8, ESM_BENCH}};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (!strcmp(cmd, cmds[i].name) && argc == cmds[i].argc) {
            *nt = cmds[i].nt;
            *mode = cmds[i].mode;
            return 1;
        }
    return 0;
}

/* ISO_PRECISION=bf16|tf32, else fp32. */
static iso_precision env_precision(void)
{
    const char *p = getenv("ISO_PRECISION");
    return !p ? ISO_PREC_FP32 : !strcmp(p, "bf16") ? ISO_PREC_BF16 : !strcmp(p, "tf32") ? ISO_PREC_TF32 : ISO_PREC_FP32;
}

/* ISO_THREADS=N, else all cores. */
static int env_threads(void)
{
    const char *t = getenv("ISO_THREADS");
    return t ? atoi(t) : 0;
}

int main(int argc, char **argv)
{
    /* the benchmarks time OpenBLAS ("openblas") and our ops with the kernels the CLI would run */
    if (iso_backend_cpu_blas_reexec(argv) != ISO_OK)
        fprintf(stderr, "model_driver: warning: %s\n", iso_last_error());
    const char *cmd = argc > 1 ? argv[1] : "";
    int iso = argc == 7 && !strcmp(cmd, "isoformer");
    int batch = (argc == 7 || argc == 8) && !strcmp(cmd, "batch");
    int enf = (argc == 7 || argc == 8) && !strcmp(cmd, "enformer");
    int nt = 0;
    esm_mode mode = ESM_ONE;
    int esm = esm_command(cmd, argc, &nt, &mode);
    if (argc == 2 && !strcmp(cmd, "devices")) {
        int gpus = 0;
        for (int i = 0; i < iso_backend_reg_count(); i++) {
            int n = iso_backend_reg_device_count(i);
            printf("%s: %d device(s)\n", iso_backend_reg_name(i), n);
            gpus += iso_backend_reg_kind(i) == ISO_DEVICE_GPU ? n : 0;
        }
        return gpus ? 0 : 77;
    }
    if (argc == 4 && !strcmp(cmd, "openblas"))
        return run_openblas(atoi(argv[2]), atoi(argv[3])); /* no backend: OpenBLAS keeps its own threads */
    if (argc == 4 && !strcmp(cmd, "sgemm")) {
        iso_backend *be = NULL;
        if (iso_backend_create("cpu", env_threads(), env_precision(), &be)) {
            fprintf(stderr, "model_driver: %s\n", iso_last_error());
            return 1;
        }
        int rc = run_sgemm(be, atoi(argv[2]), atoi(argv[3]));
        iso_backend_destroy(be);
        return rc;
    }
    if (!iso && !batch && !enf && !esm) {
        fprintf(stderr, "usage: model_driver esm|nt|esm-packed|nt-packed WEIGHTS CONFIG PREFIX INPUT OUT.f32\n"
                        "       model_driver esm-bench|nt-bench WEIGHTS CONFIG PREFIX SEQS MAX_TOKENS REPEATS\n"
                        "       model_driver enformer WEIGHTS CONFIG PREFIX INPUT OUT.f32 [STEM_TILE]\n"
                        "       model_driver isoformer MODEL DNA RNA_IDS PROTEIN_IDS OUTDIR\n"
                        "       model_driver batch MODEL rna|protein SEQS MAX_TOKENS OUT.f32 [CACHE_DIR]\n"
                        "       model_driver sgemm|openblas N REPEATS\n"
                        "       model_driver devices\n");
        return 2;
    }
    iso_backend *be = NULL;
    const char *dev = getenv("ISO_DEVICE");
    if (iso_backend_create(dev ? dev : "cpu", env_threads(), env_precision(), &be)) {
        fprintf(stderr, "model_driver: %s\n", iso_last_error());
        return 1;
    }
    int rc = iso     ? run_isoformer(be, argv)
             : batch ? run_batch(be, argc, argv)
             : enf   ? run_enformer(be, argc, argv)
                     : run_esm(be, argv, nt, mode);
    iso_backend_destroy(be);
    return rc;
}
