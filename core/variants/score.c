/* Scoring variants with the model: transcripts grouped by DNA window, each group's reference embeddings
 * computed once, and per allele (or haplotype) only the encoders whose input it changes run again.
 *
 * The VCF is read once, in order. Records wait in a queue until every window group that can reach them has
 * been scored; a group is scored once a record past its reach arrives (the input is sorted), so records leave
 * the queue complete and in input order, and memory holds only the records within one group's reach. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isoformer/tokens.h"
#include "variants_internal.h"
#include "util/array.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A transcript's DNA window and spliced RNA as the model reads them (iso_model_bases: soft-masked bases
 * uppercased, IUPAC codes as N), so that alternatives compare with the reference as the model sees them. */
static int model_dna(iso_fasta *fa, const iso_transcript *t, const iso_window_opts *win, char **dna)
{
    int rc = iso_extract_dna(fa, t, win, dna);
    return rc == ISO_OK ? iso_model_bases(*dna, (int64_t)strlen(*dna)) : rc;
}

static int model_rna(iso_fasta *fa, const iso_transcript *t, char **rna)
{
    int rc = iso_extract_rna(fa, t, rna);
    return rc == ISO_OK ? iso_model_bases(*rna, (int64_t)strlen(*rna)) : rc;
}

/* A selected transcript and, while its group is being scored, its reference inputs and prediction. */
typedef struct {
    size_t tx;
    iso_transcript t; /* shallow copy of ann->tx[tx] */
    char *rna, *protein;
    unsigned flags;   /* from iso_extract_protein */
    iso_embedding *rna_emb;
    const iso_embedding *protein_emb; /* in the group's protein list; NULL for non-coding */
    float *pred;
} member;

/* Transcripts sharing a DNA window; a variant overlapping [lo, hi) may be within reach of one of them. */
typedef struct {
    const char *chrom;
    iso_interval win;
    int rc;
    int64_t lo, hi;
    size_t first, n; /* members [first, first + n) */
} group;

typedef struct {
    char *seq;
    iso_embedding *emb;
} seq_emb;

/* An effect found for a queued record; its values are at offset `at` of the record's values. */
typedef struct {
    iso_variant_effect eff;
    const iso_transcript *t;
    size_t at;
} found;

/* A record waiting for the groups that reach it, with the effects found so far. */
typedef struct {
    iso_vcf_record *rec;
    found *eff;
    float *values; /* 2 * n_outputs per effect: alt then delta */
    int n_eff, cap;
} pending;

struct iso_variant_engine {
    iso_model *m;
    iso_emb_cache *cache;
    iso_fasta *fa;
    const iso_annotation *ann;
    iso_variant_options o;
    iso_model_info info;
    member *members;
    size_t n_members;
    group *groups;
    size_t n_groups;
    /* the group being scored */
    char *ref_dna;
    iso_embedding *ref_dna_emb;
    seq_emb *proteins;
    int n_proteins;
    float *pooled;
    float *zeros; /* the delta of an unchanged haplotype */
    iso_variant_stats st;
};

/* One alternative to predict: a transcript with edits applied. */
typedef struct {
    member *mb;
    const iso_fasta_edit *edits;
    int n_edits;
    iso_fasta_edit *owned; /* the edits, when the job owns them (haplotypes) */
    int id;                /* haplotypes: position before the jobs are sorted by window */
    char *applied;         /* haplotypes: the applied alleles, for the table */
    char *dna_key; /* jobs with equal keys have the same alternative window ("" for the reference one) */
    iso_fasta *view;
    iso_alt_transcript alt;
    int prepared;
    unsigned changed;
    iso_tokens rna_tokens;
    iso_embedding *rna_emb;
    char *protein;
    const iso_embedding *protein_emb;
    iso_consequence csq;
    float *values;           /* alt_pred then delta, n_outputs each */
    float *alt_pred, *delta;
} job;

/* Whether edit x is scored against member mb of group g: within max_distance of the transcript, or in its DNA
 * window. */
static int in_reach(const iso_variant_engine *e, const group *g, const member *mb, const iso_fasta_edit *x)
{
    return iso_edit_distance(x, &mb->t) <= e->o.max_distance || iso_edit_touches(x, g->win.start, g->win.end);
}

static int by_group(const void *pa, const void *pb)
{
    const group *a = pa, *b = pb;
    int c = strcmp(a->chrom, b->chrom);
    if (!c)
        c = (a->lo > b->lo) - (a->lo < b->lo);
    if (!c)
        c = (a->win.start > b->win.start) - (a->win.start < b->win.start);
    return c ? c : a->rc - b->rc;
}

typedef struct {
    const char *chrom;
    iso_interval win;
    int rc;
    size_t member;
} window_key;

static int by_window(const void *pa, const void *pb)
{
    const window_key *a = pa, *b = pb;
    int c = strcmp(a->chrom, b->chrom);
    if (!c)
        c = (a->win.start > b->win.start) - (a->win.start < b->win.start);
    if (!c)
        c = a->rc - b->rc;
    return c ? c : (a->member > b->member) - (a->member < b->member);
}

/* The most 5' TSS of a gene (gene_id, contig, strand) over the whole annotation, in place of each member's own
 * TSS (predict --window-center gene: the gene's isoforms share one window). */
typedef struct {
    const char *gene, *chrom;
    char strand;
    int64_t tss;
} gene_start;

static int by_gene_start(const void *pa, const void *pb)
{
    const gene_start *a = pa, *b = pb;
    int c = strcmp(a->gene, b->gene);
    if (!c)
        c = strcmp(a->chrom, b->chrom);
    return c ? c : a->strand - b->strand;
}

static int centre_on_genes(const iso_annotation *ann, member *mb, size_t n)
{
    gene_start *g = malloc((ann->n ? ann->n : 1) * sizeof *g);
    if (!g)
        return iso_error(ISO_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < ann->n; i++) {
        const iso_transcript *t = &ann->tx[i];
        g[k++] = (gene_start){t->gene_id ? t->gene_id : t->transcript_id, t->chrom, t->strand, t->tss};
    }
    qsort(g, k, sizeof *g, by_gene_start);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) { /* one entry per gene: the smallest TSS on '+', the largest on '-' */
        if (u && !by_gene_start(&g[u - 1], &g[i])) {
            int64_t *t = &g[u - 1].tss;
            *t = g[i].strand == '-' ? (g[i].tss > *t ? g[i].tss : *t) : (g[i].tss < *t ? g[i].tss : *t);
        } else {
            g[u++] = g[i];
        }
    }
    for (size_t i = 0; i < n; i++) {
        const iso_transcript *t = &mb[i].t;
        gene_start key = {t->gene_id ? t->gene_id : t->transcript_id, t->chrom, t->strand, 0};
        mb[i].t.tss = ((const gene_start *)bsearch(&key, g, u, sizeof *g, by_gene_start))->tss;
    }
    free(g);
    return ISO_OK;
}

int iso_variant_engine_create(iso_model *m, iso_emb_cache *cache, iso_fasta *fa, const iso_annotation *ann,
                              const size_t *sel, size_t n_sel, const iso_variant_options *o, iso_variant_engine **out)
{
    *out = NULL;
    iso_variant_engine *e = calloc(1, sizeof *e);
    if (!e)
        return iso_error(ISO_ENOMEM, "out of memory");
    *e = (iso_variant_engine){.m = m, .cache = cache, .fa = fa, .ann = ann, .o = *o};
    iso_model_get_info(m, &e->info);
    if (!e->o.win.window)
        e->o.win.window = e->info.dna_window;
    int rc = iso_model_check_window(m, e->o.win.window);
    if (rc < 0) {
        free(e);
        return rc;
    }
    if (e->o.max_distance < 0)
        e->o.max_distance = e->o.win.window;
    size_t n = n_sel ? n_sel : 1;
    window_key *keys = malloc(n * sizeof *keys);
    member *order = malloc(n * sizeof *order);
    e->members = calloc(n, sizeof *e->members);
    e->groups = malloc(n * sizeof *e->groups);
    e->pooled = malloc((size_t)e->info.fused_dim * sizeof *e->pooled);
    e->zeros = calloc((size_t)e->info.n_outputs, sizeof *e->zeros);
    if (!keys || !order || !e->members || !e->groups || !e->pooled || !e->zeros) {
        free(keys), free(order);
        iso_variant_engine_free(e);
        return iso_error(ISO_ENOMEM, "out of memory for %zu transcripts", n_sel);
    }
    for (size_t i = 0; i < n_sel; i++)
        order[i] = (member){.tx = sel[i], .t = ann->tx[sel[i]]};
    if (e->o.gene_windows && centre_on_genes(ann, order, n_sel) != ISO_OK) {
        free(keys), free(order);
        iso_variant_engine_free(e);
        return iso_last_status();
    }
    for (size_t i = 0; i < n_sel; i++) {
        const iso_transcript *t = &order[i].t;
        keys[i] = (window_key){t->chrom, iso_dna_window(t, &e->o.win), e->o.win.revcomp_minus && t->strand == '-', i};
    }
    qsort(keys, n_sel, sizeof *keys, by_window);
    for (size_t i = 0; i < n_sel; i++) {
        e->members[i] = order[keys[i].member];
        const iso_transcript *t = &e->members[i].t;
        int64_t lo = t->exons[0].start - e->o.max_distance - 1, hi = t->exons[t->n_exons - 1].end + e->o.max_distance + 1;
        lo = keys[i].win.start < lo ? keys[i].win.start : lo; /* the window too (a gene's may reach further) */
        hi = keys[i].win.end > hi ? keys[i].win.end : hi;
        if (i && !by_window(&(window_key){keys[i].chrom, keys[i].win, keys[i].rc, 0},
                            &(window_key){keys[i - 1].chrom, keys[i - 1].win, keys[i - 1].rc, 0})) {
            group *g = &e->groups[e->n_groups - 1];
            g->n++;
            g->lo = lo < g->lo ? lo : g->lo;
            g->hi = hi > g->hi ? hi : g->hi;
        } else {
            e->groups[e->n_groups++] = (group){keys[i].chrom, keys[i].win, keys[i].rc, lo, hi, i, 1};
        }
    }
    e->n_members = n_sel;
    free(keys);
    free(order);
    qsort(e->groups, e->n_groups, sizeof *e->groups, by_group);
    *out = e;
    return ISO_OK;
}

static void forget_reference(iso_variant_engine *e, const group *g)
{
    for (size_t i = 0; g && i < g->n; i++) {
        member *mb = &e->members[g->first + i];
        free(mb->rna), free(mb->protein), free(mb->pred);
        iso_embedding_free(e->m, mb->rna_emb);
        mb->rna = mb->protein = NULL;
        mb->pred = NULL;
        mb->rna_emb = NULL;
        mb->protein_emb = NULL;
    }
    for (int i = 0; i < e->n_proteins; i++) {
        free(e->proteins[i].seq);
        iso_embedding_free(e->m, e->proteins[i].emb);
    }
    e->n_proteins = 0;
    free(e->ref_dna);
    e->ref_dna = NULL;
    iso_embedding_free(e->m, e->ref_dna_emb);
    e->ref_dna_emb = NULL;
}

void iso_variant_engine_free(iso_variant_engine *e)
{
    if (!e)
        return;
    forget_reference(e, NULL);
    free(e->proteins);
    free(e->members);
    free(e->groups);
    free(e->pooled);
    free(e->zeros);
    free(e);
}

const iso_variant_stats *iso_variant_engine_stats(const iso_variant_engine *e) { return &e->st; }

/* ---- embeddings ---- */

static int embed(iso_variant_engine *e, iso_emb_cache *cache, iso_emb_kind kind, const void *in, int64_t n,
                 iso_embedding **out)
{
    int hit = 0;
    double t0 = now();
    int rc = iso_model_embed_cached(e->m, cache, kind, in, n, out, &hit);
    double dt = now() - t0;
    e->st.cache_hits += hit;
    if (kind == ISO_EMB_DNA)
        e->st.dna_runs += !hit, e->st.t_dna += dt;
    else if (kind == ISO_EMB_RNA)
        e->st.rna_runs += !hit, e->st.t_rna += dt;
    else
        e->st.protein_runs += !hit, e->st.t_protein += dt;
    return rc;
}

/* RNA embeddings of count token sequences: packed under the token budget, or one by one without it. */
static int embed_rnas(iso_variant_engine *e, int count, iso_tokens *const *tok, iso_embedding **out)
{
    if (e->o.batch_tokens <= 0 || count < 2) {
        int rc = ISO_OK, i;
        for (i = 0; rc == ISO_OK && i < count; i++)
            rc = embed(e, e->cache, ISO_EMB_RNA, tok[i]->ids, tok[i]->n, &out[i]);
        while (rc != ISO_OK && --i > 0) /* as the batch: nothing on error */
            iso_embedding_free(e->m, out[i - 1]);
        return rc;
    }
    const int32_t **ids = malloc((size_t)count * sizeof *ids);
    int *len = malloc((size_t)count * sizeof *len), *hit = calloc((size_t)count, sizeof *hit);
    int rc = ids && len && hit ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int i = 0; rc == ISO_OK && i < count; i++)
        ids[i] = tok[i]->ids, len[i] = tok[i]->n;
    double t0 = now();
    if (rc == ISO_OK)
        rc = iso_model_embed_batch(e->m, e->cache, ISO_EMB_RNA, count, ids, len, e->o.batch_tokens, out, hit);
    for (int i = 0; rc == ISO_OK && i < count; i++)
        e->st.cache_hits += hit[i], e->st.rna_runs += !hit[i];
    e->st.t_rna += now() - t0;
    free(ids), free(len), free(hit);
    return rc;
}

/* The embedding of a protein from list (adding it when new); NULL for "". */
static int protein_embedding(iso_variant_engine *e, seq_emb **list, int *n, const char *protein,
                             const iso_embedding **out)
{
    *out = NULL;
    if (!protein[0])
        return ISO_OK;
    for (int i = 0; i < *n; i++)
        if (!strcmp((*list)[i].seq, protein)) {
            *out = (*list)[i].emb;
            return ISO_OK;
        }
    seq_emb *grown = realloc(*list, (size_t)(*n + 1) * sizeof *grown);
    if (!grown)
        return iso_error(ISO_ENOMEM, "out of memory");
    *list = grown;
    iso_tokens tok = {0};
    iso_embedding *emb = NULL;
    int rc = iso_tokenize_protein(protein, (int64_t)strlen(protein), e->info.protein_max_tokens, &tok);
    if (rc == ISO_OK)
        rc = embed(e, e->cache, ISO_EMB_PROTEIN, tok.ids, tok.n, &emb);
    iso_tokens_free(&tok);
    char *copy = rc == ISO_OK ? strdup(protein) : NULL;
    if (rc == ISO_OK && !copy)
        rc = iso_error(ISO_ENOMEM, "out of memory");
    if (rc != ISO_OK) {
        iso_embedding_free(e->m, emb);
        return rc;
    }
    (*list)[(*n)++] = (seq_emb){copy, emb};
    *out = emb;
    return ISO_OK;
}

static int predict(iso_variant_engine *e, const iso_embedding *dna, const iso_embedding *rna,
                   const iso_embedding *protein, float *pred)
{
    double t0 = now();
    int rc = iso_model_predict(e->m, dna, rna, protein, e->pooled, pred, NULL);
    e->st.t_fuse += now() - t0;
    e->st.fusions++;
    return rc;
}

/* The group's reference sequences: its window, each member's RNA, protein and its flags. */
static int ensure_sequences(iso_variant_engine *e, const group *g)
{
    if (e->ref_dna)
        return ISO_OK;
    double t0 = now();
    int rc = model_dna(e->fa, &e->members[g->first].t, &e->o.win, &e->ref_dna);
    for (size_t i = 0; rc == ISO_OK && i < g->n; i++) {
        member *mb = &e->members[g->first + i];
        if ((rc = model_rna(e->fa, &mb->t, &mb->rna)) == ISO_OK)
            rc = iso_extract_protein(e->fa, &mb->t, &mb->protein, &mb->flags);
        if (rc != ISO_OK)
            iso_error_context("reference of transcript %s", mb->t.transcript_id);
    }
    e->st.t_inputs += now() - t0;
    return rc;
}

/* The group's reference embeddings (its window once, each member's RNA, each distinct protein once) and every
 * member's prediction. */
static int ensure_reference(iso_variant_engine *e, const group *g)
{
    if (e->ref_dna_emb)
        return ISO_OK;
    int rc = ensure_sequences(e, g);
    if (rc == ISO_OK)
        rc = embed(e, e->cache, ISO_EMB_DNA, e->ref_dna, (int64_t)strlen(e->ref_dna), &e->ref_dna_emb);
    for (size_t i = 0; rc == ISO_OK && i < g->n; i++) {
        member *mb = &e->members[g->first + i];
        iso_tokens tok = {0};
        rc = iso_tokenize_rna(mb->rna, (int64_t)strlen(mb->rna), e->info.rna_max_tokens, &tok);
        if (rc == ISO_OK)
            rc = embed(e, e->cache, ISO_EMB_RNA, tok.ids, tok.n, &mb->rna_emb);
        iso_tokens_free(&tok);
        if (rc == ISO_OK)
            rc = protein_embedding(e, &e->proteins, &e->n_proteins, mb->protein, &mb->protein_emb);
        if (rc == ISO_OK && !(mb->pred = malloc((size_t)e->info.n_outputs * sizeof *mb->pred)))
            rc = iso_error(ISO_ENOMEM, "out of memory");
        if (rc == ISO_OK)
            rc = predict(e, e->ref_dna_emb, mb->rna_emb, mb->protein_emb, mb->pred);
        if (rc != ISO_OK)
            iso_error_context("reference of transcript %s", mb->t.transcript_id);
        e->st.ref_transcripts++;
    }
    return rc;
}

/* ---- jobs: one transcript with one set of edits ---- */

/* Frees what predicting needs, keeping the results (csq, changed, values). */
static void job_release(iso_variant_engine *e, job *j)
{
    iso_alt_transcript_free(&j->alt);
    iso_fasta_close(j->view);
    iso_tokens_free(&j->rna_tokens);
    iso_embedding_free(e->m, j->rna_emb);
    free(j->protein);
    j->view = NULL;
    j->rna_emb = NULL;
    j->protein = NULL;
}

static void job_free(iso_variant_engine *e, job *j)
{
    job_release(e, j);
    free(j->dna_key);
    free(j->values);
    free(j->owned);
    free(j->applied);
    j->dna_key = j->applied = NULL;
    j->values = NULL;
    j->owned = NULL;
}

/* The job's edited transcript, its RNA and protein where they change, and the consequence. */
static int job_prepare(iso_variant_engine *e, const group *g, job *j)
{
    member *mb = j->mb;
    double t0 = now();
    int rc = ISO_OK, touches_exon = 0, touches_window = 0;
    if (!(j->view = iso_fasta_edited(e->fa, mb->t.chrom, j->edits, j->n_edits)))
        return iso_last_status();
    if ((rc = iso_variant_transcript(j->view, &mb->t, mb->flags, j->edits, j->n_edits, &j->alt)) != ISO_OK)
        return rc;
    if (e->o.gene_windows) /* the gene's 5' base moves with the edits, as the transcript's own TSS would */
        j->alt.tx.tss = mb->t.strand == '+' ? iso_edits_map(j->edits, j->n_edits, mb->t.tss)
                                            : iso_edits_map(j->edits, j->n_edits, mb->t.tss + 1) - 1;
    j->prepared = 1;
    for (int k = 0; k < j->n_edits; k++) {
        touches_window |= iso_edit_touches(&j->edits[k], g->win.start, g->win.end);
        for (int x = 0; x < mb->t.n_exons; x++)
            touches_exon |= iso_edit_touches(&j->edits[k], mb->t.exons[x].start, mb->t.exons[x].end);
    }
    if (j->alt.flags & ISO_ALT_ABLATED) {
        iso_consequence_classify(&mb->t, mb->flags, j->edits, j->n_edits, &j->alt, mb->protein, "", &j->csq);
        return ISO_OK;
    }
    if (touches_window)
        j->changed |= ISO_MOD_DNA; /* confirmed when the window is compared */
    if (touches_exon) {
        char *rna = NULL;
        unsigned flags;
        rc = model_rna(j->view, &j->alt.tx, &rna);
        if (rc == ISO_OK && strcmp(rna, mb->rna)) {
            j->changed |= ISO_MOD_RNA;
            rc = iso_tokenize_rna(rna, (int64_t)strlen(rna), e->info.rna_max_tokens, &j->rna_tokens);
        }
        free(rna);
        if (rc == ISO_OK && (j->changed & ISO_MOD_RNA))
            rc = iso_extract_protein(j->view, &j->alt.tx, &j->protein, &flags);
        if (rc == ISO_OK && j->protein && strcmp(j->protein, mb->protein))
            j->changed |= ISO_MOD_PROTEIN;
    }
    e->st.t_inputs += now() - t0;
    if (rc != ISO_OK)
        return rc;
    iso_consequence_classify(&mb->t, mb->flags, j->edits, j->n_edits, &j->alt, mb->protein,
                             j->protein ? j->protein : mb->protein, &j->csq);
    return ISO_OK;
}

static int by_dna_key(const void *pa, const void *pb)
{
    const job *const *a = pa, *const *b = pb;
    int c = strcmp((*a)->dna_key, (*b)->dna_key);
    return c ? c : ((*a) > (*b)) - ((*a) < (*b));
}

/* Scores n jobs of group g: their RNAs packed together, proteins once each, then per alternative window one
 * Enformer run and the fusion of every job that reads it. */
/* One transcript's prediction from scratch: its three inputs read from fa and every encoder run. */
static int full_prediction(iso_variant_engine *e, iso_fasta *fa, const iso_transcript *t, float *values)
{
    char *dna = NULL, *rna = NULL, *protein = NULL;
    iso_tokens rt = {0}, pt = {0};
    iso_embedding *de = NULL, *re = NULL, *pe = NULL;
    unsigned flags;
    int rc = model_dna(fa, t, &e->o.win, &dna);
    if (rc == ISO_OK)
        rc = model_rna(fa, t, &rna);
    if (rc == ISO_OK)
        rc = iso_extract_protein(fa, t, &protein, &flags);
    if (rc == ISO_OK)
        rc = iso_tokenize_rna(rna, (int64_t)strlen(rna), e->info.rna_max_tokens, &rt);
    if (rc == ISO_OK && protein[0])
        rc = iso_tokenize_protein(protein, (int64_t)strlen(protein), e->info.protein_max_tokens, &pt);
    if (rc == ISO_OK)
        rc = embed(e, NULL, ISO_EMB_DNA, dna, (int64_t)strlen(dna), &de);
    if (rc == ISO_OK)
        rc = embed(e, NULL, ISO_EMB_RNA, rt.ids, rt.n, &re);
    if (rc == ISO_OK && protein[0])
        rc = embed(e, NULL, ISO_EMB_PROTEIN, pt.ids, pt.n, &pe);
    if (rc == ISO_OK)
        rc = predict(e, de, re, pe, values);
    free(dna), free(rna), free(protein);
    iso_tokens_free(&rt), iso_tokens_free(&pt);
    iso_embedding_free(e->m, de), iso_embedding_free(e->m, re), iso_embedding_free(e->m, pe);
    return rc;
}

/* The naive path (options.no_reuse): two full predictions per job, the reference and the alternative, without
 * the cache. */
static int run_jobs_from_scratch(iso_variant_engine *e, const group *g, job *jobs, int n)
{
    int rc = ensure_sequences(e, g); /* what job_prepare compares the alternatives with */
    for (int i = 0; rc == ISO_OK && i < n; i++) {
        job *j = &jobs[i];
        e->st.pairs++;
        if ((rc = job_prepare(e, g, j)) == ISO_OK && (rc = full_prediction(e, e->fa, &j->mb->t, j->delta)) == ISO_OK)
            rc = j->alt.flags & ISO_ALT_ABLATED ? ISO_OK : full_prediction(e, j->view, &j->alt.tx, j->alt_pred);
        for (int k = 0; rc == ISO_OK && k < e->info.n_outputs; k++)
            j->delta[k] = j->alt.flags & ISO_ALT_ABLATED ? (j->alt_pred[k] = NAN) : j->alt_pred[k] - j->delta[k];
    }
    return rc;
}

static int run_jobs(iso_variant_engine *e, const group *g, job *jobs, int n)
{
    if (e->o.no_reuse)
        return run_jobs_from_scratch(e, g, jobs, n);
    int rc = ensure_reference(e, g);
    for (int i = 0; rc == ISO_OK && i < n; i++)
        if ((rc = job_prepare(e, g, &jobs[i])) != ISO_OK)
            iso_error_context("transcript %s", jobs[i].mb->t.transcript_id);
    iso_tokens **tok = malloc((size_t)(n ? n : 1) * sizeof *tok);
    iso_embedding **emb = malloc((size_t)(n ? n : 1) * sizeof *emb);
    job **order = malloc((size_t)(n ? n : 1) * sizeof *order);
    seq_emb *proteins = NULL;
    int n_rna = 0, n_proteins = 0;
    if (rc == ISO_OK && (!tok || !emb || !order))
        rc = iso_error(ISO_ENOMEM, "out of memory");
    for (int i = 0; rc == ISO_OK && i < n; i++)
        if (jobs[i].changed & ISO_MOD_RNA)
            tok[n_rna++] = &jobs[i].rna_tokens;
    if (rc == ISO_OK && n_rna && (rc = embed_rnas(e, n_rna, tok, emb)) == ISO_OK)
        for (int i = 0, k = 0; i < n; i++)
            if (jobs[i].changed & ISO_MOD_RNA)
                jobs[i].rna_emb = emb[k++];
    for (int i = 0; rc == ISO_OK && i < n; i++)
        if (jobs[i].changed & ISO_MOD_PROTEIN)
            rc = protein_embedding(e, &proteins, &n_proteins, jobs[i].protein, &jobs[i].protein_emb);
    for (int i = 0; i < n; i++)
        order[i] = &jobs[i];
    if (rc == ISO_OK)
        qsort(order, (size_t)n, sizeof *order, by_dna_key);
    char *dna = NULL; /* the alternative window of the current key, once extracted */
    iso_embedding *dna_emb = NULL;
    for (int i = 0; rc == ISO_OK && i < n; i++) {
        job *j = order[i];
        member *mb = j->mb;
        e->st.pairs++;
        if (i == 0 || strcmp(j->dna_key, order[i - 1]->dna_key)) {
            free(dna);
            iso_embedding_free(e->m, dna_emb);
            dna = NULL;
            dna_emb = NULL;
        }
        if (j->alt.flags & ISO_ALT_ABLATED) {
            for (int k = 0; k < e->info.n_outputs; k++)
                j->alt_pred[k] = j->delta[k] = NAN;
            continue;
        }
        if ((j->changed & ISO_MOD_DNA) && !dna) {
            double t0 = now();
            rc = model_dna(j->view, &j->alt.tx, &e->o.win, &dna);
            e->st.t_inputs += now() - t0;
            if (rc == ISO_OK && strcmp(dna, e->ref_dna))
                rc = embed(e, e->cache, ISO_EMB_DNA, dna, (int64_t)strlen(dna), &dna_emb);
        }
        if (!dna_emb)
            j->changed &= ~(unsigned)ISO_MOD_DNA;
        if (rc != ISO_OK)
            break;
        if (!j->changed) {
            e->st.pairs_unchanged++;
            memcpy(j->alt_pred, mb->pred, (size_t)e->info.n_outputs * sizeof *j->alt_pred);
        } else {
            rc = predict(e, dna_emb ? dna_emb : e->ref_dna_emb, j->rna_emb ? j->rna_emb : mb->rna_emb,
                         j->changed & ISO_MOD_PROTEIN ? j->protein_emb : mb->protein_emb, j->alt_pred);
        }
        for (int k = 0; rc == ISO_OK && k < e->info.n_outputs; k++)
            j->delta[k] = j->alt_pred[k] - mb->pred[k];
    }
    free(dna);
    iso_embedding_free(e->m, dna_emb);
    for (int i = 0; i < n_proteins; i++) {
        free(proteins[i].seq);
        iso_embedding_free(e->m, proteins[i].emb);
    }
    free(proteins);
    free(tok), free(emb), free(order);
    return rc;
}

/* ---- the records' sweep ---- */

static int64_t span_end(const iso_vcf_record *r) { return r->end > r->pos ? r->end : r->pos + 1; }

/* The first of e->groups (sorted by contig) whose contig sorts after chrom (after_too) or not before it. */
static size_t group_bound(const iso_variant_engine *e, const char *chrom, int after_too)
{
    size_t lo = 0, hi = e->n_groups;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(e->groups[mid].chrom, chrom);
        if (c < 0 || (after_too && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The groups of contig chrom: [*first, *end) of e->groups. Both ends by binary search: a shard asks for every
 * record, and a scan to the contig's end cost its ~10,000 windows (GENCODE) per record. */
static void contig_groups(const iso_variant_engine *e, const char *chrom, size_t *first, size_t *end)
{
    *first = group_bound(e, chrom, 0);
    *end = group_bound(e, chrom, 1);
}

/* Records in input order, with the contig bookkeeping of a sorted input. */
typedef struct {
    pending *q;
    size_t head, n, cap;
    char *chrom;           /* contig of the records being swept (FASTA name) */
    char **done;           /* contigs already swept */
    size_t n_done;
    int64_t last_pos;
    size_t gi, gend;       /* next group to score and the end of the contig's groups */
} sweep;

static void sweep_free(sweep *s)
{
    for (size_t i = s->head; i < s->n; i++) {
        iso_vcf_record_free(s->q[i].rec);
        free(s->q[i].eff), free(s->q[i].values);
    }
    free(s->q);
    for (size_t i = 0; i < s->n_done; i++)
        free(s->done[i]);
    free(s->done);
    free(s->chrom);
}

/* Checks that r comes in order; returns 1 when it starts a new contig (whose groups the caller takes on after
 * finishing those of the previous one). */
static int sweep_enter(sweep *s, const iso_vcf *v, const iso_vcf_record *r)
{
    if (s->chrom && !strcmp(s->chrom, r->chrom)) {
        if (r->pos < s->last_pos)
            return iso_error(ISO_EFORMAT, "%s: not sorted: %s:%lld comes after %s:%lld (sort it with bcftools sort)",
                             iso_vcf_path(v), r->vcf_chrom, (long long)r->pos + 1, r->vcf_chrom,
                             (long long)s->last_pos + 1);
        s->last_pos = r->pos;
        return 0;
    }
    for (size_t i = 0; i < s->n_done; i++)
        if (!strcmp(s->done[i], r->chrom))
            return iso_error(ISO_EFORMAT, "%s: not sorted: contig %s appears in two blocks (sort it with bcftools sort)",
                             iso_vcf_path(v), r->vcf_chrom);
    char **grown = realloc(s->done, (s->n_done + 1) * sizeof *grown);
    char *name = strdup(r->chrom);
    if (!grown || !name) {
        free(name);
        if (grown)
            s->done = grown;
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    s->done = grown;
    s->done[s->n_done++] = name;
    free(s->chrom);
    if (!(s->chrom = strdup(name)))
        return iso_error(ISO_ENOMEM, "out of memory");
    s->last_pos = r->pos;
    return 1;
}

static int sweep_push(sweep *s, iso_vcf_record *r)
{
    if (s->head && s->head == s->n)
        s->head = s->n = 0;
    if (s->n == s->cap) {
        if (s->head) { /* reuse the room of the records gone */
            memmove(s->q, s->q + s->head, (s->n - s->head) * sizeof *s->q);
            s->n -= s->head;
            s->head = 0;
        }
        pending *q = iso_reserve(s->q, &s->cap, s->n + 1, sizeof *q, 64);
        if (!q)
            return iso_error(ISO_ENOMEM, "out of memory");
        s->q = q;
    }
    s->q[s->n++] = (pending){.rec = r};
    return ISO_OK;
}

/* Whether the record at the front can no longer be reached by a group still to score. */
static int front_complete(const iso_variant_engine *e, const sweep *s)
{
    return s->gi == s->gend || span_end(s->q[s->head].rec) <= e->groups[s->gi].lo;
}

/* ---- variant mode ---- */

static int by_effect(const void *pa, const void *pb)
{
    const found *a = pa, *b = pb;
    if (a->eff.allele != b->eff.allele)
        return a->eff.allele - b->eff.allele;
    const iso_transcript *x = a->t, *y = b->t;
    int c = strcmp(x->chrom, y->chrom);
    if (!c)
        c = (x->exons[0].start > y->exons[0].start) - (x->exons[0].start < y->exons[0].start);
    if (!c)
        c = (x->exons[x->n_exons - 1].end > y->exons[y->n_exons - 1].end) -
            (x->exons[x->n_exons - 1].end < y->exons[y->n_exons - 1].end);
    return c ? c : strcmp(x->transcript_id, y->transcript_id);
}

static int add_effect(iso_variant_engine *e, pending *p, const job *j, int allele)
{
    size_t no = (size_t)e->info.n_outputs;
    if (p->n_eff == p->cap) {
        int cap = p->cap ? 2 * p->cap : 4;
        found *eff = realloc(p->eff, (size_t)cap * sizeof *eff);
        if (eff)
            p->eff = eff;
        float *values = realloc(p->values, (size_t)cap * 2 * no * sizeof *values);
        if (values)
            p->values = values;
        if (!eff || !values)
            return iso_error(ISO_ENOMEM, "out of memory");
        p->cap = cap;
    }
    size_t at = (size_t)p->n_eff * 2 * no;
    memcpy(p->values + at, j->values, 2 * no * sizeof *p->values);
    p->eff[p->n_eff++] = (found){{.allele = allele, .tx = j->mb->tx, .csq = j->csq, .changed = j->changed},
                                 &e->ann->tx[j->mb->tx], at};
    return ISO_OK;
}

/* Hands the front record to sink, its effects sorted, and drops it. */
static int emit_front(iso_variant_engine *e, sweep *s, iso_record_sink sink, void *ctx)
{
    pending *p = &s->q[s->head++];
    iso_variant_effect *eff = malloc((size_t)(p->n_eff ? p->n_eff : 1) * sizeof *eff);
    int rc = eff ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK) {
        if (p->n_eff)
            qsort(p->eff, (size_t)p->n_eff, sizeof *p->eff, by_effect);
        for (int k = 0; k < p->n_eff; k++) {
            eff[k] = p->eff[k].eff;
            eff[k].alt = p->values + p->eff[k].at;
            eff[k].delta = eff[k].alt + e->info.n_outputs;
        }
        e->st.records++;
        for (int a = 0; a < p->rec->n_alt; a++) {
            e->st.alleles++;
            for (int b = 0; b < ISO_NOTE_COUNT; b++)
                e->st.notes[b] += (p->rec->alt[a].note >> b) & 1;
        }
        if (p->rec->n_alt == 0)
            for (int b = 0; b < ISO_NOTE_COUNT; b++)
                e->st.notes[b] += (p->rec->notes >> b) & 1;
        rc = sink(ctx, p->rec, eff, p->n_eff);
    }
    free(eff);
    iso_vcf_record_free(p->rec);
    free(p->eff), free(p->values);
    *p = (pending){0};
    return rc;
}

enum { JOB_CHUNK = 64 };

typedef struct {
    job *jobs;
    pending **owner; /* variant mode: the record of each job */
    int *allele;
    int n, cap;
} job_list;

static void job_list_clear(iso_variant_engine *e, job_list *l)
{
    for (int k = 0; k < l->n; k++)
        job_free(e, &l->jobs[k]);
    l->n = 0;
}

static void job_list_free(iso_variant_engine *e, job_list *l)
{
    job_list_clear(e, l);
    free(l->jobs), free(l->owner), free(l->allele);
}

/* Appends a job of mb with the edits (kept by the caller), its results in fresh values. */
static int job_add(iso_variant_engine *e, job_list *l, member *mb, const iso_fasta_edit *edits, int n_edits,
                   const char *dna_key, pending *owner, int allele)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        job *jobs = realloc(l->jobs, (size_t)cap * sizeof *jobs);
        if (jobs)
            l->jobs = jobs;
        pending **own = realloc(l->owner, (size_t)cap * sizeof *own);
        if (own)
            l->owner = own;
        int *al = realloc(l->allele, (size_t)cap * sizeof *al);
        if (al)
            l->allele = al;
        if (!jobs || !own || !al)
            return iso_error(ISO_ENOMEM, "out of memory");
        l->cap = cap;
    }
    job *j = &l->jobs[l->n];
    *j = (job){.mb = mb, .edits = edits, .n_edits = n_edits, .dna_key = strdup(dna_key),
               .values = malloc(2 * (size_t)e->info.n_outputs * sizeof *j->values)};
    if (!j->dna_key || !j->values) {
        job_free(e, j);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    j->alt_pred = j->values;
    j->delta = j->values + e->info.n_outputs;
    l->owner[l->n] = owner;
    l->allele[l->n++] = allele;
    return ISO_OK;
}

/* Runs the listed jobs and hands each effect to its record. */
static int flush_effects(iso_variant_engine *e, const group *g, job_list *l)
{
    int rc = l->n ? run_jobs(e, g, l->jobs, l->n) : ISO_OK;
    for (int k = 0; rc == ISO_OK && k < l->n; k++)
        rc = add_effect(e, l->owner[k], &l->jobs[k], l->allele[k]);
    job_list_clear(e, l);
    return rc;
}

/* Every allele of the queued records that group g reaches, against each of its transcripts within reach; the
 * jobs go in chunks of whole alleles, so that each alternative window is computed once. */
static int score_group(iso_variant_engine *e, const group *g, sweep *s)
{
    job_list l = {0};
    int rc = ISO_OK;
    for (size_t qi = s->head; rc == ISO_OK && qi < s->n; qi++) {
        pending *p = &s->q[qi];
        if (p->rec->pos >= g->hi || span_end(p->rec) <= g->lo)
            continue;
        for (int a = 0; rc == ISO_OK && a < p->rec->n_alt; a++) {
            const iso_vcf_allele *al = &p->rec->alt[a];
            for (size_t k = 0; !al->note && rc == ISO_OK && k < g->n; k++) {
                member *mb = &e->members[g->first + k];
                char key[64];
                snprintf(key, sizeof key, "%lld:%d:%c", (long long)p->rec->ordinal, a, mb->t.strand);
                if (in_reach(e, g, mb, &al->edit))
                    rc = job_add(e, &l, mb, &al->edit, 1, key, p, a);
            }
            if (rc == ISO_OK && l.n >= JOB_CHUNK)
                rc = flush_effects(e, g, &l);
        }
    }
    if (rc == ISO_OK)
        rc = flush_effects(e, g, &l);
    job_list_free(e, &l);
    forget_reference(e, g);
    return rc;
}

int iso_variant_run(iso_variant_engine *e, iso_vcf *v, int64_t first, int64_t last, iso_record_sink sink, void *ctx)
{
    sweep s = {0};
    int rc = ISO_OK;
    for (;;) {
        iso_vcf_record *r = NULL;
        int got = iso_vcf_next(v, &r);
        if (got < 0) {
            rc = got;
            break;
        }
        if (r && r->ordinal < first) {
            iso_vcf_record_free(r);
            continue;
        }
        if (r && last >= 0 && r->ordinal >= last) {
            iso_vcf_record_free(r);
            r = NULL;
        }
        int new_contig = 0;
        if (r && (rc = new_contig = sweep_enter(&s, v, r)) < 0) {
            iso_vcf_record_free(r);
            break;
        }
        /* groups left behind: those of a finished contig, or whose reach ends before r */
        while (rc >= 0 && s.gi < s.gend && (!r || new_contig || e->groups[s.gi].hi <= r->pos)) {
            rc = score_group(e, &e->groups[s.gi++], &s);
            while (rc >= 0 && s.head < s.n && front_complete(e, &s))
                rc = emit_front(e, &s, sink, ctx);
        }
        while (rc >= 0 && s.head < s.n && (!r || new_contig || front_complete(e, &s)))
            rc = emit_front(e, &s, sink, ctx);
        if (rc >= 0 && new_contig)
            contig_groups(e, r->chrom, &s.gi, &s.gend);
        if (!r || rc < 0) {
            iso_vcf_record_free(r);
            break;
        }
        if ((rc = sweep_push(&s, r)) < 0) {
            iso_vcf_record_free(r);
            break;
        }
        while (rc >= 0 && s.head < s.n && front_complete(e, &s))
            rc = emit_front(e, &s, sink, ctx);
    }
    sweep_free(&s);
    return rc < 0 ? rc : ISO_OK;
}

int iso_variant_reach(const iso_variant_engine *e, iso_region **regions, int *n)
{
    *n = 0;
    *regions = malloc((e->n_groups ? e->n_groups : 1) * sizeof **regions);
    if (!*regions)
        return iso_error(ISO_ENOMEM, "out of memory");
    for (size_t i = 0; i < e->n_groups; i++) { /* sorted by contig and lo: merge the overlapping */
        const group *g = &e->groups[i];
        iso_region *last = *n ? &(*regions)[*n - 1] : NULL;
        if (last && !strcmp(last->chrom, g->chrom) && g->lo <= last->end)
            last->end = g->hi > last->end ? g->hi : last->end;
        else
            (*regions)[(*n)++] = (iso_region){g->chrom, g->lo > 0 ? g->lo : 0, g->hi};
    }
    return ISO_OK;
}

static int by_hi(const void *pa, const void *pb)
{
    const group *a = pa, *b = pb;
    int c = strcmp(a->chrom, b->chrom);
    return c ? c : (a->hi > b->hi) - (a->hi < b->hi);
}

/* Number of groups of [first, end) (sorted by lo, or by hi) with lo < x (with hi <= x). */
static size_t count_below(const group *g, size_t first, size_t end, int64_t x, int by_end)
{
    while (first < end) {
        size_t mid = (first + end) / 2;
        if (by_end ? g[mid].hi <= x : g[mid].lo < x)
            first = mid + 1;
        else
            end = mid;
    }
    return first;
}

int iso_variant_shard(const iso_variant_engine *e, iso_vcf *v, int index, int n, int64_t *first, int64_t *last)
{
    group *ends = malloc((e->n_groups ? e->n_groups : 1) * sizeof *ends);
    double *cost = NULL, total = 0;
    size_t n_rec = 0, cap = 0;
    int rc = ends ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK) {
        memcpy(ends, e->groups, e->n_groups * sizeof *ends);
        qsort(ends, e->n_groups, sizeof *ends, by_hi);
    }
    /* A record costs the windows it reaches, per allele scored, plus a little for reading and writing it. */
    iso_vcf_record *r;
    int got = 0;
    while (rc == ISO_OK && (got = iso_vcf_next(v, &r)) > 0) {
        size_t gf, ge, hf, he;
        contig_groups(e, r->chrom, &gf, &ge);
        hf = gf, he = ge; /* the same contig's range in ends */
        int scored = 0;
        for (int a = 0; a < r->n_alt; a++)
            scored += !r->alt[a].note;
        size_t reach = count_below(e->groups, gf, ge, span_end(r), 0) - count_below(ends, hf, he, r->pos, 1);
        iso_vcf_record_free(r);
        if (n_rec == cap) {
            cap = cap ? 2 * cap : 1024;
            double *c = realloc(cost, cap * sizeof *c);
            if (!c) {
                rc = iso_error(ISO_ENOMEM, "out of memory");
                break;
            }
            cost = c;
        }
        cost[n_rec++] = 0.01 + (double)scored * (double)reach;
        total += cost[n_rec - 1];
    }
    *first = *last = 0;
    if (rc == ISO_OK && got < 0)
        rc = got;
    if (rc == ISO_OK) {
        double before = 0;
        int seen = 0;
        for (size_t i = 0; i < n_rec; i++) { /* record i goes to the shard its cost's midpoint falls in */
            int shard = (int)((double)n * (before + cost[i] / 2) / total);
            shard = shard < 0 ? 0 : shard >= n ? n - 1 : shard;
            before += cost[i];
            if (shard == index) {
                if (!seen++)
                    *first = (int64_t)i;
                *last = (int64_t)i + 1;
            }
        }
    }
    free(ends);
    free(cost);
    return rc;
}

/* ---- haplotype mode ---- */

/* A sample's haplotype for one transcript: the job it maps to (-1: the reference) and alleles left out. */
typedef struct {
    char *key; /* the applied alleles, "ordinal:allele;" each */
    int sample, hap, job, skipped, applied;
    iso_fasta_edit *edits;
    const iso_vcf_record **recs;
    int *alleles;
} hap_row;

static int by_edit(const void *pa, const void *pb)
{
    const iso_fasta_edit *a = pa, *b = pb;
    return a->start != b->start ? (a->start > b->start) - (a->start < b->start) : (a->end > b->end) - (a->end < b->end);
}

static int by_key(const void *pa, const void *pb)
{
    const hap_row *a = *(const hap_row *const *)pa, *b = *(const hap_row *const *)pb;
    int c = strcmp(a->key, b->key);
    return c ? c : (a > b) - (a < b);
}

/* The alleles of haplotype (s, h) within reach of mb, in order, those that overlap an earlier one (share a reference
 * base with it, or insert at its point) left out. */
static int haplotype_edits(const iso_variant_engine *e, const sweep *sw, const group *g, const member *mb,
                           hap_row *row)
{
    int cap = 0, n = 0;
    kstring_t key = {0};
    for (size_t qi = sw->head; qi < sw->n; qi++) {
        const iso_vcf_record *r = sw->q[qi].rec;
        int a = r->gt[2 * row->sample + row->hap], unphased = r->unphased[row->sample];
        iso_fasta_edit span = {r->pos, r->end, "", 0};
        if ((a == 0 && !unphased) || !in_reach(e, g, mb, &span))
            continue;
        if (unphased || a < 0 || a > r->n_alt || r->alt[a - 1].note) { /* unknown phase: on neither */
            row->skipped++;
            continue;
        }
        if (!in_reach(e, g, mb, &r->alt[a - 1].edit))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            iso_fasta_edit *ed = realloc(row->edits, (size_t)cap * sizeof *ed);
            if (ed)
                row->edits = ed;
            const iso_vcf_record **rs = realloc(row->recs, (size_t)cap * sizeof *rs);
            if (rs)
                row->recs = rs;
            int *al = realloc(row->alleles, (size_t)cap * sizeof *al);
            if (al)
                row->alleles = al;
            if (!ed || !rs || !al)
                return iso_error(ISO_ENOMEM, "out of memory");
        }
        row->edits[n] = r->alt[a - 1].edit;
        row->recs[n] = r;
        row->alleles[n++] = a - 1;
    }
    /* records are sorted by POS; their minimised edits nearly so */
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && by_edit(&row->edits[k - 1], &row->edits[k]) > 0; k--) {
            iso_fasta_edit t = row->edits[k];
            row->edits[k] = row->edits[k - 1], row->edits[k - 1] = t;
            const iso_vcf_record *tr = row->recs[k];
            row->recs[k] = row->recs[k - 1], row->recs[k - 1] = tr;
            int ta = row->alleles[k];
            row->alleles[k] = row->alleles[k - 1], row->alleles[k - 1] = ta;
        }
    int kept = 0;
    for (int i = 0; i < n; i++) {
        const iso_fasta_edit *prev = kept ? &row->edits[kept - 1] : NULL;
        /* an insertion and the edit of the base after it do not overlap (bcftools consensus applies both); two
         * insertions at one point have no known order */
        const iso_fasta_edit *x = &row->edits[i];
        int both_insert = prev && x->end == x->start && prev->end == prev->start && x->start == prev->start;
        if (prev && (x->start < prev->end || both_insert)) {
            row->skipped++;
            continue;
        }
        row->edits[kept] = row->edits[i];
        row->recs[kept] = row->recs[i];
        row->alleles[kept++] = row->alleles[i];
        ksprintf(&key, "%lld:%d;", (long long)row->recs[i]->ordinal, row->alleles[i]);
    }
    row->applied = kept;
    row->key = key.s ? key.s : strdup("");
    return row->key ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
}

/* A new job for the edits of row (a copy), with the key of the window it reads and the applied alleles. */
static int haplotype_job(iso_variant_engine *e, const group *g, job_list *l, member *mb, const hap_row *row)
{
    kstring_t dna = {0}, applied = {0};
    ksprintf(&dna, "%c;", mb->t.strand);
    for (int i = 0; i < row->applied; i++) {
        const iso_vcf_record *r = row->recs[i];
        if (iso_edit_touches(&row->edits[i], g->win.start, g->win.end))
            ksprintf(&dna, "%lld:%d;", (long long)r->ordinal, row->alleles[i]);
        ksprintf(&applied, "%s%s:%lld:%s:%s", i ? "," : "", r->vcf_chrom, (long long)r->pos + 1, r->ref,
                 r->alt[row->alleles[i]].alt);
    }
    iso_fasta_edit *owned = malloc((size_t)row->applied * sizeof *owned);
    int rc = dna.s && applied.s && owned ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK) {
        memcpy(owned, row->edits, (size_t)row->applied * sizeof *owned);
        rc = job_add(e, l, mb, owned, row->applied, dna.s, NULL, -1);
    }
    if (rc == ISO_OK) {
        l->jobs[l->n - 1].owned = owned;
        l->jobs[l->n - 1].applied = applied.s;
    } else {
        free(owned);
        free(applied.s);
    }
    free(dna.s);
    return rc;
}

static int by_job_key(const void *pa, const void *pb)
{
    const job *a = pa, *b = pb;
    int c = strcmp(a->dna_key, b->dna_key);
    return c ? c : (a->mb > b->mb) - (a->mb < b->mb);
}

static void rows_free(hap_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].key), free(rows[i].edits), free(rows[i].recs), free(rows[i].alleles);
    free(rows);
}

/* Every sample's two haplotypes for each transcript of g: distinct allele sets computed once, the jobs run
 * in the order of their windows (one Enformer run per distinct window), then a row per haplotype. */
static int haplotype_group(iso_variant_engine *e, const group *g, const sweep *sw, int ns, iso_haplotype_sink sink,
                           void *ctx)
{
    size_t per = 2 * (size_t)ns, n_rows = g->n * per;
    hap_row *rows = calloc(n_rows ? n_rows : 1, sizeof *rows);
    hap_row **order = malloc((per ? per : 1) * sizeof *order);
    job_list l = {0};
    int rc = rows && order ? ensure_reference(e, g) : iso_error(ISO_ENOMEM, "out of memory");
    for (size_t k = 0; rc == ISO_OK && k < g->n; k++) {
        member *mb = &e->members[g->first + k];
        hap_row *mine = rows + k * per;
        for (size_t i = 0; rc == ISO_OK && i < per; i++) {
            mine[i] = (hap_row){.sample = (int)(i / 2), .hap = (int)(i % 2), .job = -1};
            rc = haplotype_edits(e, sw, g, mb, &mine[i]);
            order[i] = &mine[i];
        }
        if (rc != ISO_OK)
            break;
        qsort(order, per, sizeof *order, by_key);
        for (size_t i = 0; rc == ISO_OK && i < per; i++) {
            if (!order[i]->applied)
                continue;
            if (i && !strcmp(order[i]->key, order[i - 1]->key)) {
                order[i]->job = order[i - 1]->job;
                continue;
            }
            order[i]->job = l.n;
            rc = haplotype_job(e, g, &l, mb, order[i]);
        }
    }
    /* jobs in window order, so that a window's alternatives share one Enformer run; rows follow their jobs */
    int *moved = malloc((size_t)(l.n ? l.n : 1) * sizeof *moved);
    if (rc == ISO_OK && !moved)
        rc = iso_error(ISO_ENOMEM, "out of memory");
    if (rc == ISO_OK) {
        for (int i = 0; i < l.n; i++)
            l.jobs[i].id = i;
        if (l.n)
            qsort(l.jobs, (size_t)l.n, sizeof *l.jobs, by_job_key);
        for (int i = 0; i < l.n; i++)
            moved[l.jobs[i].id] = i;
        for (size_t i = 0; i < n_rows; i++)
            if (rows[i].job >= 0)
                rows[i].job = moved[rows[i].job];
    }
    for (int i = 0; rc == ISO_OK && i < l.n; i += JOB_CHUNK) {
        int n = l.n - i < JOB_CHUNK ? l.n - i : JOB_CHUNK;
        rc = run_jobs(e, g, l.jobs + i, n);
        for (int k = 0; k < n; k++)
            job_release(e, &l.jobs[i + k]);
    }
    for (size_t i = 0; rc == ISO_OK && i < n_rows; i++) {
        const member *mb = &e->members[g->first + i / per];
        const job *j = rows[i].job >= 0 ? &l.jobs[rows[i].job] : NULL;
        iso_haplotype_effect h = {.sample = rows[i].sample, .haplotype = rows[i].hap, .tx = mb->tx,
                                  .n_applied = rows[i].applied, .n_skipped = rows[i].skipped,
                                  .applied = j ? j->applied : ""};
        h.eff = (iso_variant_effect){.allele = -1, .tx = mb->tx, .alt = j ? j->alt_pred : mb->pred,
                                     .delta = j ? j->delta : e->zeros};
        if (j)
            h.eff.csq = j->csq, h.eff.changed = j->changed;
        e->st.skipped_genotypes += (size_t)rows[i].skipped;
        rc = sink(ctx, &h);
    }
    free(moved);
    free(order);
    rows_free(rows, n_rows);
    job_list_free(e, &l);
    forget_reference(e, g);
    return rc;
}

int iso_haplotype_run(iso_variant_engine *e, iso_vcf *v, iso_haplotype_sink sink, void *ctx)
{
    int ns = iso_vcf_n_samples(v);
    char *scored = calloc(e->n_groups ? e->n_groups : 1, 1);
    sweep s = {0};
    int rc = scored ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    while (rc >= 0) {
        iso_vcf_record *r = NULL;
        int got = iso_vcf_next(v, &r), new_contig = 0;
        if (got < 0) {
            rc = got;
            break;
        }
        if (r && (rc = new_contig = sweep_enter(&s, v, r)) < 0) {
            iso_vcf_record_free(r);
            break;
        }
        while (rc >= 0 && s.gi < s.gend && (!r || new_contig || e->groups[s.gi].hi <= r->pos)) {
            scored[s.gi] = 1;
            rc = haplotype_group(e, &e->groups[s.gi++], &s, ns, sink, ctx);
            while (s.head < s.n && front_complete(e, &s)) { /* no group left needs it */
                iso_vcf_record_free(s.q[s.head].rec);
                s.q[s.head++].rec = NULL;
            }
        }
        if (rc >= 0 && r) {
            e->st.records++;
            e->st.alleles += (size_t)r->n_alt;
        }
        if (rc >= 0 && new_contig) {
            for (; s.head < s.n; s.head++) {
                iso_vcf_record_free(s.q[s.head].rec);
                s.q[s.head].rec = NULL;
            }
            contig_groups(e, r->chrom, &s.gi, &s.gend);
        }
        if (!r || rc < 0) {
            iso_vcf_record_free(r);
            break;
        }
        if ((rc = sweep_push(&s, r)) < 0)
            iso_vcf_record_free(r);
    }
    for (size_t i = s.head; i < s.n; i++) {
        iso_vcf_record_free(s.q[i].rec);
        s.q[i].rec = NULL;
    }
    s.head = s.n = 0;
    for (size_t i = 0; rc >= 0 && i < e->n_groups; i++) /* contigs without records: the reference everywhere */
        if (!scored[i])
            rc = haplotype_group(e, &e->groups[i], &s, ns, sink, ctx);
    free(scored);
    sweep_free(&s);
    return rc < 0 ? rc : ISO_OK;
}
