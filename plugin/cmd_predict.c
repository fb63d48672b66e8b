/* isoformer predict: the model on every selected transcript, written as TSV, BED12 and bigWig tracks.
 *
 * Work is ordered by gene and DNA window so that each distinct window goes through Enformer once and each
 * distinct protein of a gene through ESM-2 once; the results are the same as computing every transcript
 * separately, only cheaper. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "isoformer/annotation.h"
#include "isoformer/expression.h"
#include "isoformer/io.h"
#include "isoformer/manifest.h"
#include "isoformer/model.h"
#include "isoformer/outputs.h"
#include "isoformer/sequences.h"
#include "isoformer/tokens.h"
#include "journal.h"
#include "prefetch.h"
#include "select.h"

#define CMD "predict"

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: isoformer predict --model DIR|FILE --fasta FILE --gtf FILE --out PREFIX [options]\n\n"
            "Predicts the expression of every selected transcript in each tissue the model knows (the 30 GTEx\n"
            "tissues for the published IsoFormer) and writes:\n"
            "  PREFIX.predictions.tsv    one row per transcript, one column per tissue\n"
            "  PREFIX.predictions.bed    plain BED12 (score, colour: the highest predicted tissue value)\n"
            "  PREFIX.<tissue>.bw        bigWig per tissue over exons (overlapping isoforms: the maximum)\n"
            "  PREFIX.embeddings.tsv     pooled fused embeddings, with --embeddings (input of 'isoformer fit')\n"
            "Rows are sorted by contig, start, end, transcript id; coordinates are 0-based, end exclusive.\n\n"
            "Input:\n"
            "  -m, --model PATH          model directory (config.json + model.safetensors or pytorch_model.bin)\n"
            "  -f, --fasta FILE          reference FASTA, plain or bgzipped (indexed if needed)\n"
            "  -g, --gtf FILE            annotation, GTF or GFF3, plain or gzipped\n"
            "  -a, --chrom-alias FILE    contig aliases (UCSC chromAlias) when GTF and FASTA name contigs differently\n"
            "Selection (default: every transcript):\n"
            "  -t, --transcripts LIST    ids, comma-separated, or @FILE with one id per line\n"
            "  -R, --region CHR:A-B      transcripts overlapping a region (1-based, inclusive)\n"
            "  -s, --shard I/N           the I-th of N cost-balanced shards (genes never split), for 'merge'\n"
            "Model options (defaults from config.json; see README for what each means):\n"
            "      --fusion MODE         sequential (default) or parallel cross-attention\n"
            "      --pool-window A:B     fused positions averaged before the head\n"
            "      --head-activation A   silu (default), gelu, relu or none\n"
            "      --rna-max-tokens N    NT-v2 tokens kept, <cls> included (default 2048)\n"
            "      --protein-max-tokens N ESM-2 tokens kept, <cls>/<eos> included (default 1026)\n"
            "      --normalization FILE  per-tissue 'tissue mean std' to undo z-scoring of the outputs\n"
            "      --head FILE           a head fitted by 'isoformer fit': its outputs replace the model's tissues\n"
            "  -w, --window N            DNA window in bp (default: the model's, 196608 for IsoFormer)\n"
            "      --revcomp-minus       reverse-complement the DNA window of minus-strand transcripts\n"
            "      --window-center C     transcript (default: each transcript's TSS) or gene (the gene's most 5'\n"
            "                            TSS, one window per gene: fewer Enformer runs, isoforms share it)\n"
            "Compute:\n"
            "  -d, --device DEV          cpu, cuda or cuda:N (default: cuda when a GPU is present)\n"
            "      --precision P         GPU GEMM precision: fp32, tf32 or bf16 (default bf16)\n"
            "  -@, --threads N           CPU threads (default: all cores)\n"
            "      --cache DIR           reuse encoder outputs across runs (keyed by model and exact input)\n"
            "      --prefetch N          read and tokenize the sequences of up to N genes ahead of the model, on a\n"
            "                            second thread (default 4; 0: no thread, one transcript at a time)\n"
            "      --batch-tokens N      encode a gene's RNAs packed into forwards of up to N tokens (default: 8192\n"
            "                            on GPU; 0, one at a time, on CPU, where packing gains nothing measurable);\n"
            "                            the results are the same bits either way\n"
            "Output:\n"
            "  -o, --out PREFIX          output prefix (required)\n"
            "  -e, --embeddings          also write PREFIX.embeddings.tsv\n"
            "      --observed FILE       measured expression (quant.sf, RSEM, kallisto, StringTie, GCT) added as\n"
            "                            'observed <sample>' columns (log(TPM+1)) and tracks beside the predictions\n"
            "      --bigwig-bin N        bigWig bin size in bp (default 1: per base)\n"
            "      --resume              continue an interrupted run from PREFIX.journal (results identical to an\n"
            "                            uninterrupted run); without it an old journal is discarded\n"
            "  -v, --verbose             timing and reuse statistics on stderr\n"
            "  -h, --help                this help\n"
            "      --version             print the version and exit\n");
}

typedef struct {
    const char *model, *fasta, *gtf, *alias, *out, *device, *head, *observed, *cache;
    cli_selection sel;
    iso_model_options mopts;
    iso_window_opts win;
    iso_precision precision;
    int threads, embeddings, verbose, bigwig_bin, resume, gene_windows, prefetch;
    int batch_tokens; /* -1: the device's default */
} options;

enum { OPT_FUSION = 256, OPT_POOL, OPT_HEAD_ACT, OPT_RNA_MAX, OPT_PROT_MAX, OPT_NORM, OPT_REVCOMP, OPT_PRECISION,
       OPT_BW_BIN, OPT_RESUME, OPT_HEAD, OPT_OBSERVED, OPT_CACHE, OPT_CENTER, OPT_PREFETCH, OPT_BATCH };

static int parse_int(const char *opt, const char *s, int lo, int hi, int *v)
{
    char *end;
    long x = strtol(s, &end, 10);
    if (*end || end == s || x < lo || x > hi)
        return cli_usage_error(CMD, "%s: expected an integer from %d to %d, got '%s'", opt, lo, hi, s);
    *v = (int)x;
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},       {"fasta", required_argument, NULL, 'f'},
        {"gtf", required_argument, NULL, 'g'},         {"chrom-alias", required_argument, NULL, 'a'},
        {"transcripts", required_argument, NULL, 't'}, {"region", required_argument, NULL, 'R'},
        {"shard", required_argument, NULL, 's'},       {"out", required_argument, NULL, 'o'},
        {"device", required_argument, NULL, 'd'},      {"threads", required_argument, NULL, '@'},
        {"embeddings", no_argument, NULL, 'e'},        {"window", required_argument, NULL, 'w'},
        {"verbose", no_argument, NULL, 'v'},           {"help", no_argument, NULL, 'h'},
        CLI_VERSION_OPTION,
        {"fusion", required_argument, NULL, OPT_FUSION}, {"pool-window", required_argument, NULL, OPT_POOL},
        {"head-activation", required_argument, NULL, OPT_HEAD_ACT},
        {"rna-max-tokens", required_argument, NULL, OPT_RNA_MAX},
        {"protein-max-tokens", required_argument, NULL, OPT_PROT_MAX},
        {"normalization", required_argument, NULL, OPT_NORM}, {"revcomp-minus", no_argument, NULL, OPT_REVCOMP},
        {"precision", required_argument, NULL, OPT_PRECISION}, {"bigwig-bin", required_argument, NULL, OPT_BW_BIN},
        {"resume", no_argument, NULL, OPT_RESUME},    {"head", required_argument, NULL, OPT_HEAD},
        {"observed", required_argument, NULL, OPT_OBSERVED}, {"cache", required_argument, NULL, OPT_CACHE},
        {"window-center", required_argument, NULL, OPT_CENTER}, {"prefetch", required_argument, NULL, OPT_PREFETCH},
        {"batch-tokens", required_argument, NULL, OPT_BATCH},
        {NULL, 0, NULL, 0}};
    *o = (options){.precision = ISO_PREC_BF16, .bigwig_bin = 1, .prefetch = 4, .batch_tokens = -1};
    iso_model_options_default(&o->mopts);
    int c, window = 0, a, b;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:f:g:a:t:R:s:o:d:@:ew:vh", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'f': o->fasta = optarg; break;
        case 'g': o->gtf = optarg; break;
        case 'a': o->alias = optarg; break;
        case 't': o->sel.transcripts = optarg; break;
        case 'R': o->sel.region = optarg; break;
        case 's': o->sel.shard = optarg; break;
        case 'o': o->out = optarg; break;
        case 'd': o->device = optarg; break;
        case 'e': o->embeddings = 1; break;
        case 'v': o->verbose = 1; break;
        case 'h': usage(stdout); return 0;
        case CLI_OPT_VERSION: return cli_version();
        case '@': bad = parse_int("--threads", optarg, 1, 1024, &o->threads); break;
        case 'w': bad = parse_int("--window", optarg, 1, 1 << 30, &window); break;
        case OPT_RNA_MAX: bad = parse_int("--rna-max-tokens", optarg, 2, 1 << 20, &o->mopts.rna_max_tokens); break;
        case OPT_PROT_MAX:
            bad = parse_int("--protein-max-tokens", optarg, 3, 1 << 20, &o->mopts.protein_max_tokens);
            break;
        case OPT_BW_BIN: bad = parse_int("--bigwig-bin", optarg, 1, 1 << 20, &o->bigwig_bin); break;
        case OPT_PREFETCH: bad = parse_int("--prefetch", optarg, 0, 1 << 20, &o->prefetch); break;
        case OPT_BATCH: bad = parse_int("--batch-tokens", optarg, 0, 1 << 24, &o->batch_tokens); break;
        case OPT_NORM: o->mopts.normalization = optarg; break;
        case OPT_RESUME: o->resume = 1; break;
        case OPT_HEAD: o->head = optarg; break;
        case OPT_OBSERVED: o->observed = optarg; break;
        case OPT_CACHE: o->cache = optarg; break;
        case OPT_CENTER:
            if (!strcmp(optarg, "transcript") || !strcmp(optarg, "gene"))
                o->gene_windows = optarg[0] == 'g';
            else
                bad = cli_usage_error(CMD, "--window-center: expected transcript or gene, got '%s'", optarg);
            break;
        case OPT_REVCOMP: o->win.revcomp_minus = 1; break;
        case OPT_FUSION:
            if (!strcmp(optarg, "sequential") || !strcmp(optarg, "parallel"))
                o->mopts.fusion = optarg[0] == 's' ? ISO_FUSION_SEQUENTIAL : ISO_FUSION_PARALLEL;
            else
                bad = cli_usage_error(CMD, "--fusion: expected sequential or parallel, got '%s'", optarg);
            break;
        case OPT_POOL:
            if (sscanf(optarg, "%d:%d", &a, &b) != 2 || a < 0 || b <= a)
                bad = cli_usage_error(CMD, "--pool-window: expected START:END with 0 <= START < END, got '%s'", optarg);
            o->mopts.pool_start = a;
            o->mopts.pool_end = b;
            break;
        case OPT_HEAD_ACT: {
            static const struct {
                const char *name;
                iso_act act;
            } acts[] = {{"silu", ISO_ACT_SILU}, {"gelu", ISO_ACT_GELU_ERF}, {"relu", ISO_ACT_RELU},
                        {"none", ISO_ACT_NONE}};
            o->mopts.head_act = -1;
            for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
                if (!strcmp(optarg, acts[i].name))
                    o->mopts.head_act = (int)acts[i].act;
            if (o->mopts.head_act < 0)
                bad = cli_usage_error(CMD, "--head-activation: expected silu, gelu, relu or none, got '%s'", optarg);
            break;
        }
        case OPT_PRECISION:
            if (!strcmp(optarg, "fp32")) o->precision = ISO_PREC_FP32;
            else if (!strcmp(optarg, "tf32")) o->precision = ISO_PREC_TF32;
            else if (!strcmp(optarg, "bf16")) o->precision = ISO_PREC_BF16;
            else bad = cli_usage_error(CMD, "--precision: expected fp32, tf32 or bf16, got '%s'", optarg);
            break;
        default: return cli_usage_error(CMD, "unknown or incomplete option");
        }
        if (bad)
            return bad;
    }
    o->win.window = window;
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!o->model || !o->fasta || !o->gtf || !o->out)
        return cli_usage_error(CMD, "--model, --fasta, --gtf and --out are required");
    int rc = cli_selection_check(CMD, &o->sel);
    return rc ? rc : -1;
}

/* ---- the run ---- */

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
    const options *o;
    const iso_model_info *info;
    const work_item *items;
    const size_t *todo; /* indices into items of the transcripts to compute, in order */
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

/* cli_produce_fn: task i's DNA window (unless it is the window extracted last), RNA tokens, protein and its
 * tokens; production stops at the first error, which the item carries. */
static void *prepare_inputs(void *arg, size_t i, int *stop)
{
    input_maker *m = arg;
    const work_item *it = &m->items[m->todo[i]];
    const iso_transcript *tx = it->tx;
    tx_inputs *in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    double t0 = cli_now();
    int rc = ISO_OK, rc_flag = m->o->win.revcomp_minus && tx->strand == '-';
    if (!m->win_chrom || strcmp(m->win_chrom, tx->chrom) || m->win.start != it->win.start ||
        m->win.end != it->win.end || m->win_rc != rc_flag) {
        m->win_chrom = NULL;
        if ((rc = iso_extract_dna(m->fa, tx, &m->o->win, &in->dna)) != ISO_OK ||
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
    m->t_inputs += cli_now() - t0;
    *stop = rc != ISO_OK;
    return in;
}

/* ---- the model, on the main thread ---- */

typedef struct {
    char *protein;
    iso_embedding *emb;
} protein_entry;

typedef struct {
    iso_model *model;
    iso_model_info info;
    iso_fasta *fa;
    const iso_annotation *ann;
    const options *o;
    /* reuse within a gene: the last DNA window's embedding, the gene's proteins */
    iso_embedding *dna;
    protein_entry *proteins;
    int n_proteins, cap_proteins;
    /* statistics */
    iso_emb_cache *cache;
    size_t windows, windows_reused, proteins_computed, proteins_reused, rna_truncated, protein_truncated,
        cache_hits;
    double t_dna, t_rna, t_protein, t_fuse, t_wait;
} run_state;

static void forget_gene(run_state *s)
{
    for (int i = 0; i < s->n_proteins; i++) {
        free(s->proteins[i].protein);
        iso_embedding_free(s->model, s->proteins[i].emb);
    }
    s->n_proteins = 0;
}

/* The DNA embedding of the item's window, computed unless the previous transcript had the same window. */
static int dna_embedding(run_state *s, const work_item *it, const tx_inputs *in)
{
    if (!in->dna && in->failed_step != STEP_DNA) {
        s->windows_reused++;
        return ISO_OK;
    }
    iso_embedding_free(s->model, s->dna);
    s->dna = NULL;
    double t0 = cli_now();
    int hit = 0, rc = in->failed_step == STEP_DNA
                          ? inputs_error(in)
                          : iso_model_embed_cached(s->model, s->cache, ISO_EMB_DNA, in->dna,
                                                   (int64_t)strlen(in->dna), &s->dna, &hit);
    s->cache_hits += hit;
    s->t_dna += cli_now() - t0;
    if (rc != ISO_OK)
        return iso_error_context("%s (DNA window %s:%lld-%lld)", it->tx->transcript_id, it->tx->chrom,
                                 (long long)it->win.start + 1, (long long)it->win.end);
    s->windows++;
    return ISO_OK;
}

/* The protein embedding, shared by the gene's isoforms with the same protein; NULL for non-coding. Takes the
 * protein string from in when it is new. */
static int protein_embedding(run_state *s, tx_inputs *in, const iso_embedding **out)
{
    *out = NULL;
    if (in->failed_step == STEP_PROTEIN)
        return inputs_error(in);
    if (!in->protein[0])
        return ISO_OK;
    for (int i = 0; i < s->n_proteins; i++)
        if (!strcmp(s->proteins[i].protein, in->protein)) {
            s->proteins_reused++;
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
    double t0 = cli_now();
    int hit = 0, rc = iso_model_embed_cached(s->model, s->cache, ISO_EMB_PROTEIN, in->protein_tokens.ids,
                                             in->protein_tokens.n, &emb, &hit);
    s->cache_hits += hit;
    s->t_protein += cli_now() - t0;
    s->protein_truncated += in->protein_tokens.truncated;
    if (rc != ISO_OK)
        return rc;
    s->proteins[s->n_proteins++] = (protein_entry){in->protein, emb};
    in->protein = NULL;
    s->proteins_computed++;
    *out = emb;
    return ISO_OK;
}

/* The RNA embeddings of n prepared transcripts of one gene, packed into forwards of at most batch_tokens. */
static int rna_batch(run_state *s, tx_inputs *const *in, int n, int batch_tokens, iso_embedding **emb)
{
    const int32_t **ids = malloc((size_t)n * sizeof *ids);
    int *len = malloc((size_t)n * sizeof *len), *hit = calloc((size_t)n, sizeof *hit);
    int rc = ids && len && hit ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int i = 0; rc == ISO_OK && i < n; i++) {
        ids[i] = in[i]->rna.ids;
        len[i] = in[i]->rna.n;
        s->rna_truncated += in[i]->rna.truncated;
    }
    double t0 = cli_now();
    if (rc == ISO_OK)
        rc = iso_model_embed_batch(s->model, s->cache, ISO_EMB_RNA, n, ids, len, batch_tokens, emb, hit);
    for (int i = 0; rc == ISO_OK && i < n; i++)
        s->cache_hits += hit[i];
    s->t_rna += cli_now() - t0;
    free(ids);
    free(len);
    free(hit);
    return rc;
}

/* rna_emb: the transcript's RNA embedding when a batch computed it (taken over), else NULL. */
static int predict_one(run_state *s, const work_item *it, tx_inputs *in, iso_embedding *rna_emb, float *pred,
                       float *pooled)
{
    int rc = dna_embedding(s, it, in);
    const iso_embedding *prot_emb = NULL;
    if (rc == ISO_OK && !rna_emb) {
        double t0 = cli_now();
        int hit = 0;
        rc = in->failed_step == STEP_RNA
                 ? inputs_error(in)
                 : iso_model_embed_cached(s->model, s->cache, ISO_EMB_RNA, in->rna.ids, in->rna.n, &rna_emb, &hit);
        s->cache_hits += hit;
        s->rna_truncated += in->rna.truncated;
        s->t_rna += cli_now() - t0;
    }
    if (rc == ISO_OK)
        rc = protein_embedding(s, in, &prot_emb);
    if (rc == ISO_OK) {
        double t0 = cli_now();
        rc = iso_model_predict(s->model, s->dna, rna_emb, prot_emb, pooled, pred, NULL);
        s->t_fuse += cli_now() - t0;
    }
    if (rc != ISO_OK)
        iso_error_context("transcript %s", it->tx->transcript_id);
    iso_embedding_free(s->model, rna_emb);
    return rc;
}

/* The most 5' TSS of every gene (per gene_id, contig and strand): the smallest on '+', the largest on '-'. */
typedef struct {
    const char *gene, *chrom;
    char strand;
    int64_t tss;
} gene_tss;

static int by_gene_key(const void *a, const void *b)
{
    const gene_tss *x = a, *y = b;
    int c = strcmp(x->gene, y->gene);
    if (!c)
        c = strcmp(x->chrom, y->chrom);
    return c ? c : (x->strand > y->strand) - (x->strand < y->strand);
}

/* Shallow copies of the selected transcripts whose TSS is, with gene_windows, their gene's most 5' TSS over
 * the whole annotation (so every shard centres a gene's windows alike). */
static int window_transcripts(const iso_annotation *ann, const size_t *sel, size_t n_sel, int gene_windows,
                              iso_transcript **out)
{
    *out = malloc((n_sel ? n_sel : 1) * sizeof **out);
    gene_tss *g = gene_windows ? malloc((ann->n ? ann->n : 1) * sizeof *g) : NULL;
    if (!*out || (gene_windows && !g)) {
        free(g);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n_sel; i++)
        (*out)[i] = ann->tx[sel[i]];
    if (!gene_windows)
        return ISO_OK;
    for (size_t i = 0; i < ann->n; i++)
        g[i] = (gene_tss){ann->tx[i].gene_id, ann->tx[i].chrom, ann->tx[i].strand, ann->tx[i].tss};
    qsort(g, ann->n, sizeof *g, by_gene_key);
    size_t n = 0;
    for (size_t i = 0; i < ann->n; i++) {
        if (n && !by_gene_key(&g[n - 1], &g[i])) {
            int64_t *t = &g[n - 1].tss;
            *t = g[i].strand == '-' ? (g[i].tss > *t ? g[i].tss : *t) : (g[i].tss < *t ? g[i].tss : *t);
        } else {
            g[n++] = g[i];
        }
    }
    for (size_t i = 0; i < n_sel; i++) {
        gene_tss key = {(*out)[i].gene_id, (*out)[i].chrom, (*out)[i].strand, 0};
        const gene_tss *hit = bsearch(&key, g, n, sizeof *g, by_gene_key);
        (*out)[i].tss = hit->tss;
    }
    free(g);
    return ISO_OK;
}

static int by_gene_window(const void *pa, const void *pb)
{
    const work_item *a = pa, *b = pb;
    int c = strcmp(a->tx->chrom, b->tx->chrom);
    if (!c)
        c = strcmp(a->tx->gene_id, b->tx->gene_id);
    if (!c)
        c = (a->win.start > b->win.start) - (a->win.start < b->win.start);
    if (!c)
        c = (a->tx->strand > b->tx->strand) - (a->tx->strand < b->tx->strand);
    return c ? c : (a->row > b->row) - (a->row < b->row);
}

static void track_name(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s", name);
    for (char *p = buf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-'))
            *p = '_';
}

/* The columns the tracks carry: the model's tissues, or the outputs of a fitted head. */
typedef struct {
    const char *const *names;
    int n;
    const float *values; /* n_sel x n */
    int n_predicted;      /* the first columns are predictions (observed ones follow): the BED score's */
} track_columns;

static int write_outputs(const options *o, run_state *s, const size_t *sel, size_t n_sel, const track_columns *tc,
                         const float *pooled)
{
    const iso_model_info *info = &s->info;
    char **emb_names = NULL;
    int n_chroms = iso_fasta_ncontigs(s->fa);
    const char **chroms = malloc((size_t)(n_chroms ? n_chroms : 1) * sizeof *chroms);
    int64_t *lens = malloc((size_t)(n_chroms ? n_chroms : 1) * sizeof *lens);
    int rc = chroms && lens ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int c = 0; rc == ISO_OK && c < n_chroms; c++) {
        chroms[c] = iso_fasta_contig_name(s->fa, c);
        lens[c] = iso_fasta_contig_len(s->fa, chroms[c]);
    }
    iso_track_matrix m = {.ann = s->ann, .rows = sel, .n_rows = n_sel, .col_names = tc->names, .n_cols = tc->n,
                          .values = tc->values};
    char path[4096], tname[256];
    if (rc == ISO_OK) {
        snprintf(path, sizeof path, "%s.predictions.tsv", o->out);
        rc = iso_write_tsv(path, &m);
    }
    if (rc == ISO_OK) {
        snprintf(path, sizeof path, "%s.predictions.bed", o->out);
        rc = iso_write_bed12(path, &m, tc->n_predicted);
    }
    for (int j = 0; rc == ISO_OK && j < tc->n; j++) {
        track_name(tname, sizeof tname, tc->names[j]);
        snprintf(path, sizeof path, "%s.%s.bw", o->out, tname);
        rc = iso_write_bigwig(path, &m, j, chroms, lens, n_chroms, o->bigwig_bin);
    }
    if (rc == ISO_OK && o->embeddings) {
        emb_names = calloc((size_t)info->fused_dim, sizeof *emb_names);
        rc = emb_names ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
        for (int j = 0; rc == ISO_OK && j < info->fused_dim; j++) {
            char b[32];
            snprintf(b, sizeof b, "emb_%d", j);
            if (!(emb_names[j] = strdup(b)))
                rc = iso_error(ISO_ENOMEM, "out of memory");
        }
        iso_track_matrix e = {.ann = s->ann, .rows = sel, .n_rows = n_sel,
                              .col_names = (const char *const *)emb_names, .n_cols = info->fused_dim,
                              .values = pooled};
        snprintf(path, sizeof path, "%s.embeddings.tsv", o->out);
        if (rc == ISO_OK)
            rc = iso_write_tsv(path, &e);
        for (int j = 0; j < info->fused_dim; j++)
            free(emb_names[j]);
    }
    free(emb_names);
    free(chroms);
    free(lens);
    return rc;
}

/* base's columns followed by "observed <name>" columns of obs (log(TPM+1) for TPM) for the selected rows. */
static int add_observed(const track_columns *base, const iso_expression *obs, const size_t *sel, size_t n_sel,
                        track_columns *out, char ***names, float **values)
{
    int n = base->n + obs->n_cols;
    *names = calloc((size_t)n, sizeof **names);
    *values = malloc((n_sel ? n_sel : 1) * (size_t)n * sizeof **values);
    if (!*names || !*values)
        return iso_error(ISO_ENOMEM, "out of memory");
    for (int j = 0; j < n; j++) {
        size_t len = strlen(j < base->n ? base->names[j] : obs->col_names[j - base->n]) + 16;
        if (!((*names)[j] = malloc(len)))
            return iso_error(ISO_ENOMEM, "out of memory");
        if (j < base->n)
            snprintf((*names)[j], len, "%s", base->names[j]);
        else
            snprintf((*names)[j], len, "observed %s", obs->col_names[j - base->n]);
    }
    for (size_t i = 0; i < n_sel; i++)
        for (int j = 0; j < n; j++) {
            float v = j < base->n ? base->values[i * base->n + j] : obs->values[sel[i] * obs->n_cols + j - base->n];
            (*values)[i * n + j] = j >= base->n && obs->is_tpm ? log1pf(v) : v;
        }
    *out = (track_columns){(const char *const *)*names, n, *values, base->n_predicted};
    return ISO_OK;
}

/* The fitted head's outputs for every transcript's pooled embedding. */
static int apply_head(const iso_fitted_head *h, const float *pooled, size_t n, int dim, float **out)
{
    double *x = malloc((size_t)dim * sizeof *x), *y = malloc((size_t)h->n_out * sizeof *y);
    *out = malloc((n ? n : 1) * (size_t)h->n_out * sizeof **out);
    if (!x || !y || !*out) {
        free(x), free(y);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < dim; k++)
            x[k] = pooled[i * dim + k];
        iso_fitted_head_apply(h, x, y);
        for (int j = 0; j < h->n_out; j++)
            (*out)[i * h->n_out + j] = (float)y[j];
    }
    free(x), free(y);
    return ISO_OK;
}

int main_predict(int argc, char **argv)
{
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if ((rc = cli_out_path(CMD, "--out", o.out)) != 0)
        return rc;
    cli_verbose(o.verbose);
    double t0 = cli_now();
    cli_inputs in;
    iso_backend *be = NULL;
    float *pred = NULL, *pooled = NULL;
    work_item *items = NULL;
    size_t *todo = NULL, *todo_gene = NULL, n_todo = 0;
    cli_prefetch *prefetch = NULL;
    input_maker maker = {0};
    char *done_rows = NULL;
    cli_journal *journal = NULL;
    size_t n_resumed = 0;
    iso_transcript *centred = NULL;
    iso_fitted_head head = {0};
    float *head_values = NULL, *obs_values = NULL;
    iso_expression *observed = NULL;
    char **obs_names = NULL;
    const char **model_names = NULL;
    track_columns tracks = {0};
    run_state s = {.o = &o};
    const char *device = NULL;
    if ((rc = cli_inputs_load(o.gtf, o.alias, o.fasta, &o.sel, &in)) < 0)
        goto done;
    const iso_annotation *ann = s.ann = in.ann;
    const size_t *sel = in.sel, n_sel = in.n_sel;
    s.fa = in.fa;
    device = o.device ? o.device : iso_backend_default_device();
    if ((rc = iso_backend_create(device, o.threads, o.precision, &be)) < 0 ||
        (rc = iso_model_load(o.model, be, &o.mopts, &s.model)) < 0)
        goto done;
    iso_model_get_info(s.model, &s.info);
    if ((o.cache && (rc = iso_emb_cache_open(o.cache, s.model, &s.cache)) < 0) ||
        (o.head && (rc = iso_fitted_head_read(o.head, &head)) < 0) ||
        (o.observed && (rc = iso_expression_read(o.observed, ann, &observed)) < 0))
        goto done;
    if (o.head && head.dim != s.info.fused_dim) {
        rc = iso_error(ISO_EINVAL, "%s: head fitted on %d-dimensional embeddings, this model's are %d", o.head,
                       head.dim, s.info.fused_dim);
        goto done;
    }
    if (!o.win.window)
        o.win.window = s.info.dna_window;
    if (n_sel == 0)
        iso_warn("no transcript selected: writing empty outputs");
    model_names = malloc((size_t)s.info.n_outputs * sizeof *model_names);
    for (int j = 0; model_names && j < s.info.n_outputs; j++)
        model_names[j] = iso_model_output_name(s.model, j);
    pred = malloc((n_sel ? n_sel : 1) * (size_t)s.info.n_outputs * sizeof *pred);
    pooled = malloc((n_sel ? n_sel : 1) * (size_t)s.info.fused_dim * sizeof *pooled);
    items = malloc((n_sel ? n_sel : 1) * sizeof *items);
    done_rows = calloc(n_sel ? n_sel : 1, 1);
    todo = malloc((n_sel ? n_sel : 1) * sizeof *todo);
    todo_gene = malloc((n_sel ? n_sel : 1) * sizeof *todo_gene);
    if (!model_names || !pred || !pooled || !items || !done_rows || !todo || !todo_gene) {
        rc = iso_error(ISO_ENOMEM, "out of memory for %zu transcripts", n_sel);
        goto done;
    }
    if ((rc = window_transcripts(ann, sel, n_sel, o.gene_windows, &centred)) < 0)
        goto done;
    for (size_t i = 0; i < n_sel; i++)
        items[i] = (work_item){&centred[i], iso_dna_window(&centred[i], &o.win), i, 0};
    qsort(items, n_sel, sizeof *items, by_gene_window);
    for (size_t k = 1; k < n_sel; k++)
        items[k].gene = items[k - 1].gene + (strcmp(items[k].tx->gene_id, items[k - 1].tx->gene_id) ||
                                             strcmp(items[k].tx->chrom, items[k - 1].tx->chrom));
    /* Everything the numbers depend on; a journal written under other settings is not resumed. */
    char signature[1024];
    snprintf(signature, sizeof signature,
             "model=%016llx window=%lld revcomp=%d centre=%d fusion=%d pool=%d:%d head=%d rna=%d "
             "protein=%d normalization=%s embeddings=%d head=%s", (unsigned long long)s.info.checksum,
             (long long)o.win.window, o.win.revcomp_minus, o.gene_windows, (int)o.mopts.fusion, s.info.pool_start, s.info.pool_end,
             o.mopts.head_act, s.info.rna_max_tokens, s.info.protein_max_tokens,
             o.mopts.normalization ? o.mopts.normalization : "-", o.embeddings || o.head, o.head ? o.head : "-");
    int emb_width = o.embeddings || o.head ? s.info.fused_dim : 0; /* a head needs the pooled embeddings */
    if ((rc = cli_journal_open(o.out, signature, o.resume, ann, sel, n_sel, pred, s.info.n_outputs, pooled,
                               emb_width, done_rows, &n_resumed, &journal)) < 0)
        goto done;
    if (n_resumed)
        iso_info("resuming: %zu of %zu transcripts already done", n_resumed, n_sel);
    for (size_t k = 0; k < n_sel; k++)
        if (!done_rows[items[k].row]) {
            todo[n_todo] = k;
            todo_gene[n_todo++] = items[k].gene;
        }
    /* in.fa is the producer's until cli_prefetch_stop */
    maker = (input_maker){.fa = in.fa, .o = &o, .info = &s.info, .items = items, .todo = todo};
    if ((rc = cli_prefetch_start(n_todo, todo_gene, (size_t)o.prefetch, prepare_inputs, &maker, inputs_free,
                                 &prefetch)) < 0)
        goto done;
    double t_load = cli_now();
    cli_progress p;
    cli_progress_start(&p, "predict", n_sel);
    int batch_tokens = o.batch_tokens >= 0                                      ? o.batch_tokens
                       : iso_backend_device_kind(be) == ISO_DEVICE_GPU ? ISO_EMBED_BATCH_TOKENS
                                                                       : 0;
    /* In groups of one gene's transcripts whose RNAs are encoded together (one at a time without batching). */
    enum { GROUP_MAX = 64 };
    tx_inputs *group_in[GROUP_MAX];
    iso_embedding *group_rna[GROUP_MAX];
    size_t group_item[GROUP_MAX];
    for (size_t k = 0; rc >= 0 && k < n_sel;) {
        if (k > 0 && items[k].gene != items[k - 1].gene)
            forget_gene(&s);
        int n = 0, n_ok = 0;
        long tokens = 0;
        for (size_t gene = items[k].gene; rc >= 0 && k < n_sel && items[k].gene == gene && n < GROUP_MAX; k++) {
            if (done_rows[items[k].row]) {
                cli_progress_step(&p, 1);
                continue;
            }
            void *inputs = NULL;
            double tw = cli_now();
            rc = cli_prefetch_next(prefetch, &inputs);
            s.t_wait += cli_now() - tw;
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
            if ((tokens += group_in[n - 1]->rna.n) >= batch_tokens) {
                k++;
                break;
            }
        }
        if (rc >= 0 && batch_tokens > 0 && n_ok > 1) {
            rc = rna_batch(&s, group_in, n_ok, batch_tokens, group_rna);
            if (rc < 0)
                iso_error_context("RNA of %s and the %d transcripts after it in gene %s",
                                  items[group_item[0]].tx->transcript_id, n_ok - 1, items[group_item[0]].tx->gene_id);
        }
        for (int j = 0; j < n; j++) {
            const work_item *it = &items[group_item[j]];
            float *pr = pred + it->row * s.info.n_outputs, *po = pooled + it->row * s.info.fused_dim;
            if (rc >= 0 && cli_interrupted())
                rc = iso_error(ISO_EINTERRUPTED, "interrupted");
            if (rc >= 0)
                rc = predict_one(&s, it, group_in[j], group_rna[j], pr, po);
            else
                iso_embedding_free(s.model, group_rna[j]);
            inputs_free(group_in[j]);
            if (rc >= 0)
                rc = cli_journal_add(journal, it->tx->transcript_id, pr, s.info.n_outputs, po, emb_width);
            cli_progress_step(&p, 1);
        }
    }
    cli_progress_end(&p);
    cli_prefetch_stop(prefetch);
    prefetch = NULL;
    if (rc >= 0 && o.head)
        rc = apply_head(&head, pooled, n_sel, s.info.fused_dim, &head_values);
    tracks = o.head ? (track_columns){(const char *const *)head.out_names, head.n_out, head_values, head.n_out}
                    : (track_columns){model_names, s.info.n_outputs, pred, s.info.n_outputs};
    if (rc >= 0 && observed)
        rc = add_observed(&tracks, observed, sel, n_sel, &tracks, &obs_names, &obs_values);
    if (rc >= 0 && (rc = iso_out_set_begin()) >= 0) {
        rc = write_outputs(&o, &s, sel, n_sel, &tracks, pooled);
        char selection[1024];
        snprintf(selection, sizeof selection, "transcripts=%s region=%s", o.sel.transcripts ? o.sel.transcripts : "-",
                 o.sel.region ? o.sel.region : "-");
        iso_manifest_info run = {"predict", signature, o.sel.transcripts || o.sel.region ? selection : NULL,
                                 o.sel.shard};
        if (rc >= 0)
            rc = iso_manifest_write(o.out, &run); /* last: its rename completes the set */
        rc = cli_outputs_end(rc);
    }
    cli_journal_close(journal, rc >= 0); /* kept after a failure, for --resume */
    journal = NULL;
    if (rc >= 0 && o.verbose) {
        double t = cli_now() - t_load;
        iso_backend_counters bc;
        iso_backend_get_counters(be, &bc);
        fprintf(stderr,
                "isoformer predict: %zu transcripts in %.2f s (%.3f transcripts/s) on %s; inputs %.2f s\n"
                "  resumed %zu; DNA windows: %zu computed, %zu reused (%.2f s); RNA %.2f s (%zu truncated); proteins: "
                "%zu computed, %zu reused (%.2f s, %zu truncated); fusion+head %.2f s; cache hits %zu; peak "
                "activations %.1f MB\n  sequences and tokens %.2f s (%s), model waiting for them %.2f s\n",
                n_sel, t, t > 0 ? n_sel / t : 0.0, iso_backend_key(be), t_load - t0, n_resumed, s.windows,
                s.windows_reused, s.t_dna,
                s.t_rna, s.rna_truncated, s.proteins_computed, s.proteins_reused, s.t_protein, s.protein_truncated,
                s.t_fuse, s.cache_hits, iso_backend_peak_bytes(be) / 1e6, maker.t_inputs,
                o.prefetch ? "prefetch thread" : "no prefetch", s.t_wait);
        if (bc.gemm_seconds > 0 && bc.attention_seconds > 0)
            fprintf(stderr,
                    "  GEMMs: %.1f GFLOP in %.2f s (%.1f GFLOP/s); attention: %.1f GFLOP in %.2f s (%.1f GFLOP/s)\n",
                    bc.gemm_flop / 1e9, bc.gemm_seconds, bc.gemm_flop / bc.gemm_seconds / 1e9,
                    bc.attention_flop / 1e9, bc.attention_seconds, bc.attention_flop / bc.attention_seconds / 1e9);
        fprintf(stderr, "  peak RSS %.0f MB\n", cli_peak_rss_mb());
    }
done:
    cli_prefetch_stop(prefetch);
    cli_journal_close(journal, 0);
    iso_fitted_head_free(&head);
    free(head_values);
    for (int j = 0; obs_names && j < tracks.n; j++)
        free(obs_names[j]);
    free(obs_names);
    free(obs_values);
    iso_expression_free(observed);
    free(model_names);
    forget_gene(&s);
    free(s.proteins);
    if (s.model)
        iso_embedding_free(s.model, s.dna);
    iso_model_free(s.model);
    iso_backend_destroy(be);
    free(items);
    free(todo);
    free(todo_gene);
    free(centred);
    iso_emb_cache_close(s.cache);
    free(done_rows);
    free(pred);
    free(pooled);
    cli_inputs_free(&in);
    return rc < 0 ? cli_fail(CMD) : 0;
}
