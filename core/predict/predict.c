/* The prediction engine behind isoformer/predict.h.
 *
 * Work is ordered by gene and DNA window so that each distinct window goes through Enformer once and each
 * distinct protein of a gene through ESM-2 once; the results are the same as computing every transcript
 * separately, only cheaper. */
#include "isoformer/predict.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isoformer/tokens.h"
#include "predict/prefetch.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void iso_predict_opts_default(iso_predict_opts *o)
{
    *o = (iso_predict_opts){.precision = -1, .prefetch = 4, .batch_tokens = -1};
    iso_model_options_default(&o->model);
}

/* Processing order: by gene, then DNA window, so shared windows and proteins are adjacent (by_gene_window). */
typedef struct {
    const iso_transcript *tx;
    iso_interval win;
    size_t row;
    size_t gene; /* ordinal in processing order */
} work_item;

/* ---- a transcript's inputs: sequences read and tokenized, ahead of the model on the prefetch thread ---- */

/* The step whose preparation failed: the model side raises the error where a sequential run met it, after
 * computing the steps before it (whose own errors come first). */
enum { STEP_NONE, STEP_DNA, STEP_RNA, STEP_PROTEIN };

typedef struct {
    int status, failed_step;
    char *message; /* the error, recorded on the thread that prepared the inputs */
    char *dna;     /* window bases; NULL when the window is the previous prepared transcript's */
    iso_tokens rna;
    char *protein; /* "" for non-coding */
    iso_tokens protein_tokens;
} tx_inputs;

/* The producer's state. The FASTA handle is used by no other thread until the producer is joined. */
typedef struct {
    iso_fasta *fa;
    const iso_window_opts *win_opts;
    const iso_model_info *info;
    const work_item *items; /* the transcripts to compute, in order */
    const char *win_chrom; /* the window last extracted */
    iso_interval win;
    int win_rc;
    double t_inputs;
} input_maker;

static void inputs_free(void *p)
{
    tx_inputs *in = p;
    if (!in)
        return;
    free(in->message);
    free(in->dna);
    iso_tokens_free(&in->rna);
    free(in->protein);
    iso_tokens_free(&in->protein_tokens);
    free(in);
}

static void inputs_failed(tx_inputs *in, int step, int rc)
{
    in->status = rc;
    in->failed_step = step;
    in->message = strdup(iso_last_error());
}

/* Raises again, on the calling thread, the error recorded while preparing in. */
static int inputs_error(const tx_inputs *in)
{
    return in->message ? iso_error((iso_status)in->status, "%s", in->message)
                       : iso_error(ISO_ENOMEM, "out of memory");
}

/* iso_produce_fn: task i's DNA window (unless it is the window extracted last), RNA tokens, protein and its
 * tokens; production stops at the first error, which the item carries. */
static void *prepare_inputs(void *arg, size_t i, int *stop)
{
    input_maker *m = arg;
    const work_item *it = &m->items[i];
    const iso_transcript *tx = it->tx;
    tx_inputs *in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    double t0 = now();
    int rc = ISO_OK, rc_flag = m->win_opts->revcomp_minus && tx->strand == '-';
    if (!m->win_chrom || strcmp(m->win_chrom, tx->chrom) || m->win.start != it->win.start ||
        m->win.end != it->win.end || m->win_rc != rc_flag) {
        m->win_chrom = NULL;
        if ((rc = iso_extract_dna(m->fa, tx, m->win_opts, &in->dna)) != ISO_OK ||
            (rc = iso_model_bases(in->dna, (int64_t)strlen(in->dna))) != ISO_OK)
            inputs_failed(in, STEP_DNA, rc);
        else
            m->win_chrom = tx->chrom, m->win = it->win, m->win_rc = rc_flag;
    }
    if (rc == ISO_OK) {
        char *rna = NULL;
        rc = iso_extract_rna(m->fa, tx, &rna);
        if (rc == ISO_OK)
            rc = iso_model_bases(rna, (int64_t)strlen(rna));
        if (rc == ISO_OK)
            rc = iso_tokenize_rna(rna, (int64_t)strlen(rna), m->info->rna_max_tokens, &in->rna);
        free(rna);
        if (rc != ISO_OK)
            inputs_failed(in, STEP_RNA, rc);
    }
    if (rc == ISO_OK) {
        unsigned flags = 0;
        rc = iso_extract_protein(m->fa, tx, &in->protein, &flags);
        if (rc == ISO_OK && in->protein[0])
            rc = iso_tokenize_protein(in->protein, (int64_t)strlen(in->protein), m->info->protein_max_tokens,
                                      &in->protein_tokens);
        if (rc != ISO_OK)
            inputs_failed(in, STEP_PROTEIN, rc);
    }
    m->t_inputs += now() - t0;
    *stop = rc != ISO_OK;
    return in;
}

/* ---- the model, on the calling thread ---- */

typedef struct {
    char *protein;
    iso_embedding *emb;
} protein_entry;

struct iso_predictor {
    iso_backend *be;
    iso_model *model;
    iso_model_info info;
    iso_fasta *fa;
    const iso_annotation *ann;
    iso_window_opts win;
    int64_t *tss; /* with gene windows: each transcript's window centre, else NULL */
    int prefetch, batch_tokens, sync_stage_times;
    iso_emb_cache *cache;
    /* reuse within a gene: the last DNA window's embedding, the gene's proteins */
    iso_embedding *dna;
    protein_entry *proteins;
    int n_proteins, cap_proteins;
    iso_predict_stats stats;
};

static void forget_gene(iso_predictor *s)
{
    for (int i = 0; i < s->n_proteins; i++) {
        free(s->proteins[i].protein);
        iso_embedding_free(s->model, s->proteins[i].emb);
    }
    s->n_proteins = 0;
}

/* Adds the seconds since t0 to *total; with sync_stage_times on a backend that queues its ops (GPU), first waits
 * for them, or the host clock would charge a stage's kernels to whichever later stage waits. Returns rc, or the
 * wait's error. */
static int stage_time(const iso_predictor *s, double t0, double *total, int rc)
{
    if (rc == ISO_OK && s->sync_stage_times && iso_backend_has(s->be, ISO_BACKEND_ASYNC))
        rc = iso_backend_sync(s->be);
    *total += now() - t0;
    return rc;
}

/* The DNA embedding of the item's window, computed unless the previous transcript had the same window. */
static int dna_embedding(iso_predictor *s, const work_item *it, const tx_inputs *in)
{
    if (!in->dna && in->failed_step != STEP_DNA) {
        s->stats.windows_reused++;
        return ISO_OK;
    }
    iso_embedding_free(s->model, s->dna);
    s->dna = NULL;
    double t0 = now();
    int hit = 0, rc = in->failed_step == STEP_DNA
                          ? inputs_error(in)
                          : iso_model_embed_cached(s->model, s->cache, ISO_EMB_DNA, in->dna,
                                                   (int64_t)strlen(in->dna), &s->dna, &hit);
    s->stats.cache_hits += hit;
    rc = stage_time(s, t0, &s->stats.t_dna, rc);
    if (rc != ISO_OK)
        return iso_error_context("%s (DNA window %s:%lld-%lld)", it->tx->transcript_id, it->tx->chrom,
                                 (long long)it->win.start + 1, (long long)it->win.end);
    s->stats.windows++;
    return ISO_OK;
}

/* The protein embedding, shared by the gene's isoforms with the same protein; NULL for non-coding. Takes the
 * protein string from in when it is new. */
static int protein_embedding(iso_predictor *s, tx_inputs *in, const iso_embedding **out)
{
    *out = NULL;
    if (in->failed_step == STEP_PROTEIN)
        return inputs_error(in);
    if (!in->protein[0])
        return ISO_OK;
    for (int i = 0; i < s->n_proteins; i++)
        if (!strcmp(s->proteins[i].protein, in->protein)) {
            s->stats.proteins_reused++;
            *out = s->proteins[i].emb;
            return ISO_OK;
        }
    if (s->n_proteins == s->cap_proteins) {
        int cap = s->cap_proteins ? 2 * s->cap_proteins : 8;
        protein_entry *p = realloc(s->proteins, (size_t)cap * sizeof *p);
        if (!p)
            return iso_error(ISO_ENOMEM, "out of memory");
        s->proteins = p;
        s->cap_proteins = cap;
    }
    iso_embedding *emb = NULL;
    double t0 = now();
    int hit = 0, rc = iso_model_embed_cached(s->model, s->cache, ISO_EMB_PROTEIN, in->protein_tokens.ids,
                                             in->protein_tokens.n, &emb, &hit);
    s->stats.cache_hits += hit;
    rc = stage_time(s, t0, &s->stats.t_protein, rc);
    s->stats.protein_truncated += in->protein_tokens.truncated;
    if (rc != ISO_OK) {
        iso_embedding_free(s->model, emb);
        return rc;
    }
    s->proteins[s->n_proteins++] = (protein_entry){in->protein, emb};
    in->protein = NULL;
    s->stats.proteins++;
    *out = emb;
    return ISO_OK;
}

/* The RNA embeddings of n prepared transcripts of one gene, packed into forwards of at most batch_tokens. */
static int rna_batch(iso_predictor *s, tx_inputs *const *in, int n, int batch_tokens, iso_embedding **emb)
{
    const int32_t **ids = malloc((size_t)n * sizeof *ids);
    int *len = malloc((size_t)n * sizeof *len), *hit = calloc((size_t)n, sizeof *hit);
    int rc = ids && len && hit ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int i = 0; rc == ISO_OK && i < n; i++) {
        ids[i] = in[i]->rna.ids;
        len[i] = in[i]->rna.n;
        s->stats.rna_truncated += in[i]->rna.truncated;
    }
    double t0 = now();
    if (rc == ISO_OK)
        rc = iso_model_embed_batch(s->model, s->cache, ISO_EMB_RNA, n, ids, len, batch_tokens, emb, hit);
    for (int i = 0; rc == ISO_OK && i < n; i++)
        s->stats.cache_hits += hit[i];
    rc = stage_time(s, t0, &s->stats.t_rna, rc);
    free(ids);
    free(len);
    free(hit);
    return rc;
}

/* rna_emb: the transcript's RNA embedding when a batch computed it (taken over), else NULL. */
static int predict_one(iso_predictor *s, const work_item *it, tx_inputs *in, iso_embedding *rna_emb, float *pred,
                       float *pooled)
{
    int rc = dna_embedding(s, it, in);
    const iso_embedding *prot_emb = NULL;
    if (rc == ISO_OK && !rna_emb) {
        double t0 = now();
        int hit = 0;
        rc = in->failed_step == STEP_RNA
                 ? inputs_error(in)
                 : iso_model_embed_cached(s->model, s->cache, ISO_EMB_RNA, in->rna.ids, in->rna.n, &rna_emb, &hit);
        s->stats.cache_hits += hit;
        s->stats.rna_truncated += in->rna.truncated;
        rc = stage_time(s, t0, &s->stats.t_rna, rc);
    }
    if (rc == ISO_OK)
        rc = protein_embedding(s, in, &prot_emb);
    if (rc == ISO_OK) {
        double t0 = now();
        rc = iso_model_predict(s->model, s->dna, rna_emb, prot_emb, pooled, pred, NULL);
        rc = stage_time(s, t0, &s->stats.t_fuse, rc);
    }
    if (rc != ISO_OK)
        iso_error_context("transcript %s", it->tx->transcript_id);
    iso_embedding_free(s->model, rna_emb);
    return rc;
}

/* With gene windows, every transcript's TSS becomes its gene's most 5' TSS over the whole annotation (the
 * smallest on '+', the largest on '-'; genes per locus), so every shard centres a gene's windows alike. */
static int gene_tss(const iso_annotation *ann, int64_t **out)
{
    iso_genes g;
    int rc = iso_annotation_genes(ann, NULL, 0, ISO_GENES_BY_LOCUS, &g);
    if (rc < 0)
        return rc;
    int64_t *tss = *out = malloc((ann->n ? ann->n : 1) * sizeof *tss);
    for (size_t k = 0; tss && k < g.n_genes; k++) {
        const iso_transcript *first = &ann->tx[g.idx[g.first[k]]];
        int64_t t = first->tss;
        for (size_t i = g.first[k]; i < g.first[k + 1]; i++) {
            int64_t u = ann->tx[g.idx[i]].tss;
            t = first->strand == '-' ? (u > t ? u : t) : (u < t ? u : t);
        }
        for (size_t i = g.first[k]; i < g.first[k + 1]; i++)
            tss[g.idx[i]] = t;
    }
    iso_genes_free(&g);
    return tss ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
}

static int by_window(const void *pa, const void *pb)
{
    const work_item *a = pa, *b = pb;
    int c = (a->win.start > b->win.start) - (a->win.start < b->win.start);
    return c ? c : (a->row > b->row) - (a->row < b->row);
}

/* ---- the public API ---- */

int iso_predictor_open(const char *model_path, iso_fasta *fa, const iso_annotation *ann,
                       const iso_predict_opts *opts, iso_predictor **out)
{
    *out = NULL;
    iso_predictor *p = calloc(1, sizeof *p);
    if (!p)
        return iso_error(ISO_ENOMEM, "out of memory");
    *p = (iso_predictor){.fa = fa, .ann = ann, .win = opts->window, .prefetch = opts->prefetch > 0 ? opts->prefetch : 0,
                         .sync_stage_times = opts->sync_stage_times};
    const char *device = opts->device ? opts->device : iso_backend_default_device();
    iso_precision precision = opts->precision >= 0       ? (iso_precision)opts->precision
                              : strncmp(device, "cpu", 3) ? ISO_PREC_BF16
                                                          : ISO_PREC_FP32;
    int rc;
    if ((opts->gene_windows && (rc = gene_tss(ann, &p->tss)) < 0) ||
        (rc = iso_backend_create(device, opts->n_threads, precision, &p->be)) < 0 ||
        (rc = iso_model_load(model_path, p->be, &opts->model, &p->model)) < 0) {
        iso_predictor_close(p);
        return rc;
    }
    iso_model_get_info(p->model, &p->info);
    if (opts->cache_dir && (rc = iso_emb_cache_open(opts->cache_dir, p->model, &p->cache)) < 0) {
        iso_predictor_close(p);
        return rc;
    }
    if (!p->win.window)
        p->win.window = p->info.dna_window;
    if ((rc = iso_model_check_window(p->model, p->win.window)) < 0) { /* not at the first transcript */
        iso_predictor_close(p);
        return rc;
    }
    p->batch_tokens = opts->batch_tokens >= 0                            ? opts->batch_tokens
                      : iso_backend_device_kind(p->be) == ISO_DEVICE_GPU ? ISO_EMBED_BATCH_TOKENS
                                                                         : 0;
    p->stats.device = iso_backend_key(p->be);
    *out = p;
    return ISO_OK;
}

void iso_predictor_close(iso_predictor *p)
{
    if (!p)
        return;
    forget_gene(p);
    free(p->proteins);
    iso_emb_cache_close(p->cache);
    iso_model_free(p->model);
    iso_backend_destroy(p->be);
    free(p->tss);
    free(p);
}

const iso_model_info *iso_predictor_info(const iso_predictor *p) { return &p->info; }

const char *iso_predictor_output_name(const iso_predictor *p, int j) { return iso_model_output_name(p->model, j); }

iso_model *iso_predictor_model(iso_predictor *p) { return p->model; }

iso_backend *iso_predictor_backend(iso_predictor *p) { return p->be; }

int64_t iso_predictor_window(const iso_predictor *p) { return p->win.window; }

void iso_predictor_costs(const iso_predictor *p, iso_cost_model *c) { iso_model_costs(p->model, p->win.window, c); }

void iso_predictor_stats(const iso_predictor *p, iso_predict_stats *s)
{
    *s = p->stats;
    s->peak_bytes = iso_backend_peak_bytes(p->be);
    iso_backend_counters c;
    iso_backend_get_counters(p->be, &c);
    s->gemm_flop = c.gemm_flop;
    s->gemm_seconds = c.gemm_seconds;
    s->attention_flop = c.attention_flop;
    s->attention_seconds = c.attention_seconds;
}

/* A run's work list: the items in processing order, and each item's gene ordinal for the prefetch. */
typedef struct {
    iso_transcript *centred;
    work_item *items;
    size_t *gene; /* items[i].gene, for the prefetch */
    float *pred, *pooled;
} run_lists;

static void run_lists_free(run_lists *l)
{
    free(l->centred);
    free(l->items);
    free(l->gene);
    free(l->pred);
    free(l->pooled);
}

/* Items gene by gene (per locus), each gene's by window (so transcripts sharing a window are adjacent), with
 * their transcripts copied so that gene windows can move the TSS. */
static int run_lists_make(const iso_predictor *p, const size_t *rows, size_t n, run_lists *l)
{
    size_t m = n ? n : 1;
    *l = (run_lists){.centred = malloc(m * sizeof *l->centred), .items = malloc(m * sizeof *l->items),
                     .gene = malloc(m * sizeof *l->gene),
                     .pred = malloc((size_t)p->info.n_outputs * sizeof *l->pred),
                     .pooled = malloc((size_t)p->info.fused_dim * sizeof *l->pooled)};
    if (!l->centred || !l->items || !l->gene || !l->pred || !l->pooled)
        return iso_error(ISO_ENOMEM, "out of memory for %zu transcripts", n);
    for (size_t i = 0; i < n; i++) {
        size_t t = rows ? rows[i] : i;
        if (t >= p->ann->n)
            return iso_error(ISO_EINVAL, "row %zu is out of range: the annotation has %zu transcripts", t, p->ann->n);
        l->centred[i] = p->ann->tx[t];
        if (p->tss)
            l->centred[i].tss = p->tss[t];
    }
    iso_genes g;
    int rc = iso_annotation_genes(p->ann, rows, n, ISO_GENES_BY_LOCUS, &g);
    if (rc < 0)
        return rc;
    for (size_t k = 0; k < g.n_genes; k++) {
        for (size_t j = g.first[k]; j < g.first[k + 1]; j++) {
            size_t i = g.idx[j];
            l->items[j] = (work_item){&l->centred[i], iso_dna_window(&l->centred[i], &p->win), i, k};
            l->gene[j] = k;
        }
        qsort(l->items + g.first[k], g.first[k + 1] - g.first[k], sizeof *l->items, by_window);
    }
    iso_genes_free(&g);
    return ISO_OK;
}

int iso_predictor_run(iso_predictor *p, const size_t *rows, size_t n_rows, iso_prediction_fn fn, void *arg)
{
    if (!rows)
        n_rows = p->ann->n;
    run_lists l;
    iso_prefetch *prefetch = NULL;
    input_maker maker = {.fa = p->fa, .win_opts = &p->win, .info = &p->info};
    int rc = run_lists_make(p, rows, n_rows, &l);
    const work_item *items = l.items;
    maker.items = items;
    /* p->fa is the producer's until iso_prefetch_stop */
    if (rc >= 0)
        rc = iso_prefetch_start(n_rows, l.gene, (size_t)p->prefetch, prepare_inputs, &maker, inputs_free,
                                &prefetch);
    /* In groups of one gene's transcripts whose RNAs are encoded together (one at a time without batching). */
    enum { GROUP_MAX = 64 };
    tx_inputs *group_in[GROUP_MAX];
    iso_embedding *group_rna[GROUP_MAX];
    size_t group_item[GROUP_MAX];
    for (size_t k = 0; rc >= 0 && k < n_rows;) {
        if (k > 0 && items[k].gene != items[k - 1].gene)
            forget_gene(p);
        int n = 0, n_ok = 0;
        long tokens = 0;
        for (size_t gene = items[k].gene; rc >= 0 && k < n_rows && items[k].gene == gene && n < GROUP_MAX; k++) {
            void *inputs = NULL;
            double tw = now();
            rc = iso_prefetch_next(prefetch, &inputs);
            p->stats.t_wait += now() - tw;
            if (rc < 0)
                break;
            group_in[n] = inputs;
            group_rna[n] = NULL;
            group_item[n++] = k;
            if (group_in[n - 1]->failed_step != STEP_NONE) { /* raised when its turn comes */
                k++;
                break;
            }
            n_ok++;
            if ((tokens += group_in[n - 1]->rna.n) >= p->batch_tokens) {
                k++;
                break;
            }
        }
        if (rc >= 0 && p->batch_tokens > 0 && n_ok > 1) {
            rc = rna_batch(p, group_in, n_ok, p->batch_tokens, group_rna);
            if (rc < 0)
                iso_error_context("RNA of %s and the %d transcripts after it in gene %s",
                                  items[group_item[0]].tx->transcript_id, n_ok - 1, items[group_item[0]].tx->gene_id);
        }
        for (int j = 0; j < n; j++) {
            const work_item *it = &items[group_item[j]];
            if (rc >= 0)
                rc = predict_one(p, it, group_in[j], group_rna[j], l.pred, l.pooled);
            else
                iso_embedding_free(p->model, group_rna[j]);
            inputs_free(group_in[j]);
            if (rc >= 0)
                rc = fn(arg, &(iso_prediction){it->row, &p->ann->tx[rows ? rows[it->row] : it->row], l.pred, l.pooled});
        }
    }
    iso_prefetch_stop(prefetch);
    p->stats.t_inputs += maker.t_inputs;
    forget_gene(p);
    iso_embedding_free(p->model, p->dna);
    p->dna = NULL;
    run_lists_free(&l);
    return rc < 0 ? rc : ISO_OK;
}
