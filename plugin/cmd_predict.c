/* isoformer predict: the model on every selected transcript (the engine of isoformer/predict.h), written as
 * TSV, BED12 and bigWig tracks, with a journal for --resume. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "isoformer/annotation.h"
#include "isoformer/expression.h"
#include "isoformer/io.h"
#include "isoformer/outputs.h"
#include "isoformer/predict.h"
#include "journal.h"
#include "select.h"

#define CMD "predict"

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: isoformer predict --model DIR|FILE --fasta FILE --gtf FILE --out PREFIX [options]\n\n"
            "Predicts the expression of every selected transcript in each tissue the model knows (the 30 GTEx\n"
            "tissues for the published IsoFormer) and writes:\n"
            "  PREFIX.predictions.tsv    one row per transcript, one column per tissue\n"
            "  PREFIX.predictions.bed    BED12 (score from the first tissue), every tissue as extra columns\n"
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
            "                            on GPU; 0, one at a time, on CPU, where packing gains nothing and a\n"
            "                            transcript's values would depend, in the last bits, on its batch)\n"
            "Output:\n"
            "  -o, --out PREFIX          output prefix (required)\n"
            "  -e, --embeddings          also write PREFIX.embeddings.tsv\n"
            "      --observed FILE       measured expression (quant.sf, RSEM, kallisto, StringTie, GCT) added as\n"
            "                            'observed <sample>' columns (log(TPM+1)) and tracks beside the predictions\n"
            "      --bigwig-bin N        bigWig bin size in bp (default 1: per base)\n"
            "      --resume              continue an interrupted run from PREFIX.journal (results identical to an\n"
            "                            uninterrupted run); without it an old journal is discarded\n"
            "  -v, --verbose             timing and reuse statistics on stderr\n"
            "  -h, --help                this help\n");
}

typedef struct {
    const char *model, *fasta, *gtf, *alias, *out, *head, *observed;
    cli_selection sel;
    iso_predict_opts pred;
    int embeddings, verbose, bigwig_bin, resume;
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
    *o = (options){.bigwig_bin = 1};
    iso_predict_opts_default(&o->pred);
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
        case 'd': o->pred.device = optarg; break;
        case 'e': o->embeddings = 1; break;
        case 'v': o->verbose = 1; break;
        case 'h': usage(stdout); return 0;
        case '@': bad = parse_int("--threads", optarg, 1, 1024, &o->pred.n_threads); break;
        case 'w': bad = parse_int("--window", optarg, 1, 1 << 30, &window); break;
        case OPT_RNA_MAX: bad = parse_int("--rna-max-tokens", optarg, 2, 1 << 20, &o->pred.model.rna_max_tokens); break;
        case OPT_PROT_MAX:
            bad = parse_int("--protein-max-tokens", optarg, 3, 1 << 20, &o->pred.model.protein_max_tokens);
            break;
        case OPT_BW_BIN: bad = parse_int("--bigwig-bin", optarg, 1, 1 << 20, &o->bigwig_bin); break;
        case OPT_PREFETCH: bad = parse_int("--prefetch", optarg, 0, 1 << 20, &o->pred.prefetch); break;
        case OPT_BATCH: bad = parse_int("--batch-tokens", optarg, 0, 1 << 24, &o->pred.batch_tokens); break;
        case OPT_NORM: o->pred.model.normalization = optarg; break;
        case OPT_RESUME: o->resume = 1; break;
        case OPT_HEAD: o->head = optarg; break;
        case OPT_OBSERVED: o->observed = optarg; break;
        case OPT_CACHE: o->pred.cache_dir = optarg; break;
        case OPT_CENTER:
            if (!strcmp(optarg, "transcript") || !strcmp(optarg, "gene"))
                o->pred.gene_windows = optarg[0] == 'g';
            else
                bad = cli_usage_error(CMD, "--window-center: expected transcript or gene, got '%s'", optarg);
            break;
        case OPT_REVCOMP: o->pred.window.revcomp_minus = 1; break;
        case OPT_FUSION:
            if (!strcmp(optarg, "sequential") || !strcmp(optarg, "parallel"))
                o->pred.model.fusion = optarg[0] == 's' ? ISO_FUSION_SEQUENTIAL : ISO_FUSION_PARALLEL;
            else
                bad = cli_usage_error(CMD, "--fusion: expected sequential or parallel, got '%s'", optarg);
            break;
        case OPT_POOL:
            if (sscanf(optarg, "%d:%d", &a, &b) != 2 || a < 0 || b <= a)
                bad = cli_usage_error(CMD, "--pool-window: expected START:END with 0 <= START < END, got '%s'", optarg);
            o->pred.model.pool_start = a;
            o->pred.model.pool_end = b;
            break;
        case OPT_HEAD_ACT: {
            static const struct {
                const char *name;
                iso_act act;
            } acts[] = {{"silu", ISO_ACT_SILU}, {"gelu", ISO_ACT_GELU_ERF}, {"relu", ISO_ACT_RELU},
                        {"none", ISO_ACT_NONE}};
            o->pred.model.head_act = -1;
            for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
                if (!strcmp(optarg, acts[i].name))
                    o->pred.model.head_act = (int)acts[i].act;
            if (o->pred.model.head_act < 0)
                bad = cli_usage_error(CMD, "--head-activation: expected silu, gelu, relu or none, got '%s'", optarg);
            break;
        }
        case OPT_PRECISION:
            if (!strcmp(optarg, "fp32")) o->pred.precision = ISO_PREC_FP32;
            else if (!strcmp(optarg, "tf32")) o->pred.precision = ISO_PREC_TF32;
            else if (!strcmp(optarg, "bf16")) o->pred.precision = ISO_PREC_BF16;
            else bad = cli_usage_error(CMD, "--precision: expected fp32, tf32 or bf16, got '%s'", optarg);
            break;
        default: return cli_usage_error(CMD, "unknown or incomplete option");
        }
        if (bad)
            return bad;
    }
    o->pred.window.window = window;
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!o->model || !o->fasta || !o->gtf || !o->out)
        return cli_usage_error(CMD, "--model, --fasta, --gtf and --out are required");
    int rc = cli_selection_check(CMD, &o->sel);
    return rc ? rc : -1;
}


/* The columns the tracks carry: the model's tissues, or the outputs of a fitted head. */
typedef struct {
    const char *const *names;
    int n;
    const float *values; /* n_sel x n */
} track_columns;

static int write_outputs(const options *o, const cli_inputs *in, const iso_model_info *info, const track_columns *tc,
                         const float *pooled)
{
    const size_t *sel = in->sel, n_sel = in->n_sel;
    char **emb_names = NULL;
    int n_chroms = iso_fasta_ncontigs(in->fa);
    const char **chroms = malloc((size_t)(n_chroms ? n_chroms : 1) * sizeof *chroms);
    int64_t *lens = malloc((size_t)(n_chroms ? n_chroms : 1) * sizeof *lens);
    int rc = chroms && lens ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int c = 0; rc == ISO_OK && c < n_chroms; c++) {
        chroms[c] = iso_fasta_contig_name(in->fa, c);
        lens[c] = iso_fasta_contig_len(in->fa, chroms[c]);
    }
    iso_track_matrix m = {.ann = in->ann, .rows = sel, .n_rows = n_sel, .col_names = tc->names, .n_cols = tc->n,
                          .values = tc->values};
    char path[4096], tname[256];
    if (rc == ISO_OK) {
        snprintf(path, sizeof path, "%s.predictions.tsv", o->out);
        rc = iso_write_tsv(path, &m);
    }
    if (rc == ISO_OK) {
        snprintf(path, sizeof path, "%s.predictions.bed", o->out);
        rc = iso_write_bed12(path, &m, 0, 1);
    }
    for (int j = 0; rc == ISO_OK && j < tc->n; j++) {
        iso_track_file_name(tname, sizeof tname, tc->names[j]);
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
        iso_track_matrix e = {.ann = in->ann, .rows = sel, .n_rows = n_sel,
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

/* Removes what a failed run had already renamed into place, so a failure leaves no partial set. */
static void remove_outputs(const options *o, const track_columns *tc)
{
    char path[4096], tname[256];
    snprintf(path, sizeof path, "%s.predictions.tsv", o->out);
    remove(path);
    snprintf(path, sizeof path, "%s.predictions.bed", o->out);
    remove(path);
    snprintf(path, sizeof path, "%s.embeddings.tsv", o->out);
    remove(path);
    for (int j = 0; j < tc->n; j++) {
        iso_track_file_name(tname, sizeof tname, tc->names[j]);
        snprintf(path, sizeof path, "%s.%s.bw", o->out, tname);
        remove(path);
    }
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
    *out = (track_columns){(const char *const *)*names, n, *values};
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


/* Each transcript's results into the run's arrays and the journal, as the predictor delivers them. */
typedef struct {
    const size_t *todo_row; /* the predictor's index -> row of the selection */
    float *pred, *pooled;
    int n_outputs, emb_width;
    cli_journal *journal;
    cli_progress *progress;
} collector;

static int collect(void *arg, const iso_prediction *r)
{
    collector *c = arg;
    size_t row = c->todo_row[r->index];
    float *pr = c->pred + row * c->n_outputs, *po = c->pooled + row * (size_t)c->emb_width;
    memcpy(pr, r->values, (size_t)c->n_outputs * sizeof *pr);
    memcpy(po, r->pooled, (size_t)c->emb_width * sizeof *po);
    cli_progress_step(c->progress, 1);
    int rc = cli_journal_add(c->journal, r->tx->transcript_id, pr, c->n_outputs, po, c->emb_width);
    if (rc >= 0 && cli_interrupted())
        rc = iso_error(ISO_EINTERRUPTED, "interrupted");
    return rc;
}

static void print_stats(const iso_predictor *pr, size_t n_sel, size_t n_resumed, double t_load, double t_run,
                        int prefetch)
{
    iso_predict_stats s;
    iso_predictor_stats(pr, &s);
    fprintf(stderr,
            "isoformer predict: %zu transcripts in %.2f s (%.3f transcripts/s) on %s; inputs %.2f s\n"
            "  resumed %zu; DNA windows: %zu computed, %zu reused (%.2f s); RNA %.2f s (%zu truncated); proteins: "
            "%zu computed, %zu reused (%.2f s, %zu truncated); fusion+head %.2f s; cache hits %zu; peak "
            "activations %.1f MB\n  sequences and tokens %.2f s (%s), model waiting for them %.2f s\n",
            n_sel, t_run, t_run > 0 ? n_sel / t_run : 0.0, s.device, t_load, n_resumed, s.windows, s.windows_reused,
            s.t_dna, s.t_rna, s.rna_truncated, s.proteins, s.proteins_reused, s.t_protein, s.protein_truncated,
            s.t_fuse, s.cache_hits, s.peak_bytes / 1e6, s.t_inputs, prefetch ? "prefetch thread" : "no prefetch",
            s.t_wait);
    if (s.gemm_seconds > 0 && s.attention_seconds > 0)
        fprintf(stderr, "  GEMMs: %.1f GFLOP in %.2f s (%.1f GFLOP/s); attention: %.1f GFLOP in %.2f s (%.1f GFLOP/s)\n",
                s.gemm_flop / 1e9, s.gemm_seconds, s.gemm_flop / s.gemm_seconds / 1e9, s.attention_flop / 1e9,
                s.attention_seconds, s.attention_flop / s.attention_seconds / 1e9);
    fprintf(stderr, "  peak RSS %.0f MB\n", cli_peak_rss_mb());
}

int main_predict(int argc, char **argv)
{
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (cli_make_out_dir(CMD, o.out))
        return 1;
    cli_verbose(o.verbose);
    double t0 = cli_now();
    cli_inputs in;
    iso_predictor *pr = NULL;
    float *pred = NULL, *pooled = NULL;
    size_t *todo = NULL, *todo_row = NULL, n_todo = 0;
    char *done_rows = NULL;
    cli_journal *journal = NULL;
    size_t n_resumed = 0;
    iso_fitted_head head = {0};
    float *head_values = NULL, *obs_values = NULL;
    iso_expression *observed = NULL;
    char **obs_names = NULL;
    const char **model_names = NULL;
    track_columns tracks = {0};
    int outputs_started = 0;
    iso_cost_model costs;
    if ((rc = cli_inputs_open(o.gtf, o.alias, o.fasta, &in)) < 0 ||
        (rc = iso_predictor_open(o.model, in.fa, in.ann, &o.pred, &pr)) < 0)
        goto done;
    iso_predictor_costs(pr, &costs);
    if ((rc = cli_inputs_select(&in, &o.sel, &costs)) < 0)
        goto done;
    const iso_model_info *info = iso_predictor_info(pr);
    const size_t n_sel = in.n_sel;
    if ((o.head && (rc = iso_fitted_head_read(o.head, &head)) < 0) ||
        (o.observed && (rc = iso_expression_read(o.observed, in.ann, &observed)) < 0))
        goto done;
    if (o.head && head.dim != info->fused_dim) {
        rc = iso_error(ISO_EINVAL, "%s: head fitted on %d-dimensional embeddings, this model's are %d", o.head,
                       head.dim, info->fused_dim);
        goto done;
    }
    if (n_sel == 0)
        iso_warn("no transcript selected: writing empty outputs");
    model_names = malloc((size_t)info->n_outputs * sizeof *model_names);
    for (int j = 0; model_names && j < info->n_outputs; j++)
        model_names[j] = iso_predictor_output_name(pr, j);
    pred = malloc((n_sel ? n_sel : 1) * (size_t)info->n_outputs * sizeof *pred);
    pooled = malloc((n_sel ? n_sel : 1) * (size_t)info->fused_dim * sizeof *pooled);
    done_rows = calloc(n_sel ? n_sel : 1, 1);
    todo = malloc((n_sel ? n_sel : 1) * sizeof *todo);
    todo_row = malloc((n_sel ? n_sel : 1) * sizeof *todo_row);
    if (!model_names || !pred || !pooled || !done_rows || !todo || !todo_row) {
        rc = iso_error(ISO_ENOMEM, "out of memory for %zu transcripts", n_sel);
        goto done;
    }
    /* Everything the numbers depend on; a journal written under other settings is not resumed. */
    char signature[1024];
    snprintf(signature, sizeof signature,
             "#isoformer journal v1 model=%016llx window=%lld revcomp=%d centre=%d fusion=%d pool=%d:%d head=%d rna=%d "
             "protein=%d normalization=%s embeddings=%d head=%s", (unsigned long long)info->checksum,
             (long long)iso_predictor_window(pr), o.pred.window.revcomp_minus, o.pred.gene_windows,
             (int)o.pred.model.fusion, info->pool_start, info->pool_end, o.pred.model.head_act, info->rna_max_tokens,
             info->protein_max_tokens, o.pred.model.normalization ? o.pred.model.normalization : "-",
             o.embeddings || o.head, o.head ? o.head : "-");
    int emb_width = o.embeddings || o.head ? info->fused_dim : 0; /* a head needs the pooled embeddings */
    if ((rc = cli_journal_open(o.out, signature, o.resume, in.ann, in.sel, n_sel, pred, info->n_outputs, pooled,
                               emb_width, done_rows, &n_resumed, &journal)) < 0)
        goto done;
    if (n_resumed)
        iso_info("resuming: %zu of %zu transcripts already done", n_resumed, n_sel);
    for (size_t i = 0; i < n_sel; i++)
        if (!done_rows[i]) {
            todo[n_todo] = in.sel[i];
            todo_row[n_todo++] = i;
        }
    double t_load = cli_now();
    cli_progress p;
    cli_progress_start(&p, "predict", n_sel);
    cli_progress_step(&p, n_resumed);
    collector col = {todo_row, pred, pooled, info->n_outputs, emb_width, journal, &p};
    rc = iso_predictor_run(pr, todo, n_todo, collect, &col);
    cli_progress_end(&p);
    double t_run = cli_now() - t_load;
    if (rc >= 0 && o.head)
        rc = apply_head(&head, pooled, n_sel, info->fused_dim, &head_values);
    tracks = o.head ? (track_columns){(const char *const *)head.out_names, head.n_out, head_values}
                    : (track_columns){model_names, info->n_outputs, pred};
    if (rc >= 0 && observed)
        rc = add_observed(&tracks, observed, in.sel, n_sel, &tracks, &obs_names, &obs_values);
    if (rc >= 0) {
        outputs_started = 1;
        rc = write_outputs(&o, &in, info, &tracks, pooled);
    }
    cli_journal_close(journal, rc >= 0); /* kept after a failure, for --resume */
    journal = NULL;
    if (rc >= 0 && o.verbose)
        print_stats(pr, n_sel, n_resumed, t_load - t0, t_run, o.pred.prefetch);
done:
    cli_journal_close(journal, 0);
    if (rc < 0 && outputs_started)
        remove_outputs(&o, &tracks);
    iso_fitted_head_free(&head);
    free(head_values);
    for (int j = 0; obs_names && j < tracks.n; j++)
        free(obs_names[j]);
    free(obs_names);
    free(obs_values);
    iso_expression_free(observed);
    free(model_names);
    iso_predictor_close(pr);
    free(todo);
    free(todo_row);
    free(done_rows);
    free(pred);
    free(pooled);
    cli_inputs_free(&in);
    return rc < 0 ? cli_fail(CMD) : 0;
}
