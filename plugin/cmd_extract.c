/* isoformer extract: per-transcript DNA window around the TSS, spliced RNA and protein, plus a summary table. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "select.h"
#include "isoformer/annotation.h"
#include "isoformer/io.h"
#include "isoformer/sequences.h"

#define CMD "extract"
#define FASTA_WIDTH 60
#define BATCH 256 /* transcripts computed in parallel before being written in order */

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: isoformer extract --fasta FILE --gtf FILE --out PREFIX [options]\n\n"
            "Writes, for every transcript of the annotation (record names = transcript_id):\n"
            "  PREFIX.dna.fa      the DNA window centred on the TSS (N past contig ends)\n"
            "  PREFIX.rna.fa      the spliced transcript, 5'->3'\n"
            "  PREFIX.protein.fa  the translated CDS of coding transcripts (terminal stop dropped)\n"
            "  PREFIX.tsv         transcript_id gene_id gene_name biotype chrom start end strand tss n_exons\n"
            "                     rna_len cds_len protein_len flags (1-based inclusive coordinates)\n\n"
            "Options:\n"
            "  -f, --fasta FILE         reference FASTA, plain or bgzipped (.fai/.gzi built when absent)\n"
            "  -g, --gtf FILE           annotation, GTF or GFF3, plain or gzipped\n"
            "  -o, --out PREFIX         output prefix\n"
            "  -w, --window N           DNA window length in bp [%d]\n"
            "  -r, --revcomp-minus      reverse-complement windows of minus-strand transcripts\n"
            "  -a, --chrom-alias FILE   contig aliases, UCSC chromAlias format (FASTA name, then aliases)\n"
            "  -t, --transcripts LIST   only these transcript ids: ID,ID,... or @FILE (one id per line)\n"
            "      --region CHR:A-B     only transcripts overlapping this 1-based region\n"
            "  -@, --threads N          worker threads [1]\n"
            "  -v, --verbose            report timing and throughput\n"
            "  -h, --help               this help\n"
            "      --version            print the version and exit\n",
            ISO_DEFAULT_WINDOW);
}

typedef struct {
    const char *fasta, *gtf, *out, *alias;
    cli_selection sel;
    iso_window_opts win;
    int threads, verbose;
} options;

typedef struct {
    char *dna, *rna, *protein;
    int64_t cds_len;
    unsigned flags;
} result;

static void result_clear(result *r)
{
    free(r->dna);
    free(r->rna);
    free(r->protein);
    memset(r, 0, sizeof *r);
}

/* The last DNA window a worker read: isoforms of a gene, listed together, often share their TSS. */
typedef struct {
    const char *chrom;
    iso_interval iv;
    char strand;
    char *seq;
} window_cache;

static int extract_dna_cached(iso_fasta *fa, const iso_transcript *tx, const iso_window_opts *win, window_cache *c,
                              char **seq)
{
    iso_interval iv = iso_dna_window(tx, win);
    char strand = tx->strand == '-' && win->revcomp_minus ? '-' : '+';
    if (!c->seq || strcmp(c->chrom, tx->chrom) || c->iv.start != iv.start || c->iv.end != iv.end ||
        c->strand != strand) {
        free(c->seq);
        c->seq = NULL;
        int rc = iso_extract_dna(fa, tx, win, &c->seq);
        if (rc < 0)
            return rc;
        *c = (window_cache){tx->chrom, iv, strand, c->seq};
    }
    *seq = malloc((size_t)(iv.end - iv.start) + 1);
    if (!*seq)
        return iso_error(ISO_ENOMEM, "out of memory for a %lld bp window", (long long)(iv.end - iv.start));
    memcpy(*seq, c->seq, (size_t)(iv.end - iv.start) + 1);
    return ISO_OK;
}

static int extract_one(iso_fasta *fa, window_cache *cache, const iso_transcript *tx, const iso_window_opts *win,
                       result *r)
{
    int rc;
    if ((rc = extract_dna_cached(fa, tx, win, cache, &r->dna)) < 0 || (rc = iso_extract_rna(fa, tx, &r->rna)) < 0 ||
        (rc = iso_extract_protein(fa, tx, &r->protein, &r->flags)) < 0)
        return rc;
    for (int i = 0; i < tx->n_cds; i++)
        r->cds_len += tx->cds[i].end - tx->cds[i].start;
    return ISO_OK;
}

/* ---- parallel batches: each worker owns a FASTA handle (faidx handles are not shared across threads) ---- */
typedef struct {
    const iso_annotation *ann;
    const size_t *sel;
    result *res;
    size_t n, next;
    const iso_window_opts *win;
    pthread_mutex_t lock;
    int rc;
    char error[1024];
} batch;

typedef struct {
    batch *b;
    iso_fasta *fa;
    window_cache cache;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    batch *b = w->b;
    for (;;) {
        pthread_mutex_lock(&b->lock);
        size_t i = b->next++;
        int stop = i >= b->n || b->rc < 0;
        pthread_mutex_unlock(&b->lock);
        if (stop)
            break;
        int rc = extract_one(w->fa, &w->cache, &b->ann->tx[b->sel[i]], b->win, &b->res[i]);
        if (rc < 0) {
            pthread_mutex_lock(&b->lock);
            if (b->rc == 0) { /* the error message is per thread: carry the first one to the main thread */
                b->rc = rc;
                snprintf(b->error, sizeof b->error, "%s", iso_last_error());
            }
            pthread_mutex_unlock(&b->lock);
        }
    }
    return NULL;
}

static int run_batch(batch *b, worker *workers, int n_workers)
{
    b->next = 0;
    if (n_workers == 1) {
        work(&workers[0]);
    } else {
        pthread_t tid[n_workers];
        int started = 0;
        for (; started < n_workers; started++)
            if (pthread_create(&tid[started], NULL, work, &workers[started]) != 0)
                break;
        if (started == 0)
            work(&workers[0]);
        for (int i = 0; i < started; i++)
            pthread_join(tid[i], NULL);
    }
    return b->rc < 0 ? iso_error(b->rc, "%s", b->error) : ISO_OK;
}

/* ---- output ---- */
enum { OUT_DNA, OUT_RNA, OUT_PROTEIN, OUT_TSV, N_OUT };
static const char *const out_suffix[N_OUT] = {".dna.fa", ".rna.fa", ".protein.fa", ".tsv"};

static void write_fasta(FILE *fp, const char *name, const char *desc, const char *seq)
{
    fprintf(fp, ">%s%s%s\n", name, desc ? " " : "", desc ? desc : "");
    size_t len = strlen(seq);
    for (size_t i = 0; i < len; i += FASTA_WIDTH) {
        size_t n = len - i < FASTA_WIDTH ? len - i : FASTA_WIDTH;
        fwrite(seq + i, 1, n, fp);
        fputc('\n', fp);
    }
}

static void write_flags(FILE *fp, unsigned flags)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{ISO_TX_CODING, "coding"},
                 {ISO_TX_NO_START_CODON, "no_start_codon"},
                 {ISO_TX_NO_STOP_CODON, "no_stop_codon"},
                 {ISO_TX_CDS_PARTIAL_CODON, "partial_codon"},
                 {ISO_TX_INTERNAL_STOP, "internal_stop"},
                 {ISO_TX_SELENOCYSTEINE, "selenocysteine"}};
    int any = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (flags & names[i].bit) {
            fprintf(fp, "%s%s", any ? "," : "", names[i].name);
            any = 1;
        }
    if (!any)
        fputs(".", fp);
    fputc('\n', fp);
}

static void write_result(iso_out **out, const iso_transcript *tx, const result *r, const iso_window_opts *win)
{
    iso_interval w = iso_dna_window(tx, win);
    char desc[256];
    snprintf(desc, sizeof desc, "%s:%lld-%lld(%c)", tx->chrom, (long long)w.start + 1, (long long)w.end,
             tx->strand == '-' && win->revcomp_minus ? '-' : '+');
    write_fasta(iso_out_fp(out[OUT_DNA]), tx->transcript_id, desc, r->dna);
    write_fasta(iso_out_fp(out[OUT_RNA]), tx->transcript_id, NULL, r->rna);
    if (tx->n_cds)
        write_fasta(iso_out_fp(out[OUT_PROTEIN]), tx->transcript_id, NULL, r->protein);
    FILE *t = iso_out_fp(out[OUT_TSV]);
    fprintf(t, "%s\t%s\t%s\t%s\t%s\t%lld\t%lld\t%c\t%lld\t%d\t%zu\t%lld\t%zu\t", tx->transcript_id, tx->gene_id,
            tx->gene_name, tx->biotype[0] ? tx->biotype : ".", tx->chrom, (long long)tx->exons[0].start + 1,
            (long long)tx->exons[tx->n_exons - 1].end, tx->strand, (long long)tx->tss + 1, tx->n_exons,
            strlen(r->rna), (long long)r->cds_len, strlen(r->protein));
    write_flags(t, r->flags);
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"fasta", required_argument, NULL, 'f'},       {"gtf", required_argument, NULL, 'g'},
        {"out", required_argument, NULL, 'o'},         {"window", required_argument, NULL, 'w'},
        {"revcomp-minus", no_argument, NULL, 'r'},     {"chrom-alias", required_argument, NULL, 'a'},
        {"transcripts", required_argument, NULL, 't'}, {"region", required_argument, NULL, 'R'},
        {"threads", required_argument, NULL, '@'},     {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},              CLI_VERSION_OPTION,
        {NULL, 0, NULL, 0}};
    *o = (options){.win = {.window = ISO_DEFAULT_WINDOW}, .threads = 1};
    int c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:g:o:w:ra:t:@:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': o->fasta = optarg; break;
        case 'g': o->gtf = optarg; break;
        case 'o': o->out = optarg; break;
        case 'r': o->win.revcomp_minus = 1; break;
        case 'a': o->alias = optarg; break;
        case 't': o->sel.transcripts = optarg; break;
        case 'R': o->sel.region = optarg; break;
        case 'v': o->verbose = 1; break;
        case 'h': usage(stdout); return 0;
        case CLI_OPT_VERSION: return cli_version();
        case 'w':
            o->win.window = strtoll(optarg, &end, 10);
            if (*end || o->win.window < 1)
                return cli_usage_error(CMD, "--window: expected a positive number of bp, got '%s'", optarg);
            break;
        case '@':
            o->threads = (int)strtol(optarg, &end, 10);
            if (*end || o->threads < 1 || o->threads > 256)
                return cli_usage_error(CMD, "--threads: expected 1 to 256, got '%s'", optarg);
            break;
        default: return cli_usage_error(CMD, "unknown or incomplete option");
        }
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!o->fasta || !o->gtf || !o->out)
        return cli_usage_error(CMD, "--fasta, --gtf and --out are required");
    int rc = cli_selection_check(CMD, &o->sel);
    return rc ? rc : -1; /* go on */
}

/* Runs the extraction into open outputs; returns an iso_status. */
static int extract_all(const options *o, const iso_annotation *ann, const size_t *sel, size_t n_sel,
                       iso_fasta *first_fa, iso_out **out)
{
    int n_workers = o->threads < (int)n_sel ? o->threads : (n_sel ? (int)n_sel : 1);
    worker workers[256];
    result *res = calloc(BATCH, sizeof *res);
    batch b = {.ann = ann, .win = &o->win, .res = res};
    int rc = res ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    pthread_mutex_init(&b.lock, NULL);
    int opened = 0;
    for (; rc >= 0 && opened < n_workers; opened++) {
        workers[opened] = (worker){.b = &b, .fa = opened ? iso_fasta_open(o->fasta) : first_fa};
        if (!workers[opened].fa)
            rc = iso_last_status();
    }
    fprintf(iso_out_fp(out[OUT_TSV]), "transcript_id\tgene_id\tgene_name\tbiotype\tchrom\tstart\tend\tstrand\ttss\t"
                                      "n_exons\trna_len\tcds_len\tprotein_len\tflags\n");
    cli_progress p;
    cli_progress_start(&p, "extract", n_sel);
    for (size_t at = 0; rc >= 0 && at < n_sel; at += BATCH) {
        if (cli_interrupted()) {
            rc = iso_error(ISO_EINTERRUPTED, "interrupted");
            break;
        }
        b.sel = sel + at;
        b.n = n_sel - at < BATCH ? n_sel - at : BATCH;
        rc = run_batch(&b, workers, n_workers);
        for (size_t i = 0; i < b.n; i++) {
            if (rc >= 0)
                write_result(out, &ann->tx[b.sel[i]], &res[i], &o->win);
            result_clear(&res[i]);
        }
        cli_progress_step(&p, b.n);
    }
    cli_progress_end(&p);
    for (int i = 0; i < opened; i++) {
        free(workers[i].cache.seq);
        if (i > 0)
            iso_fasta_close(workers[i].fa);
    }
    pthread_mutex_destroy(&b.lock);
    free(res);
    return rc;
}

int main_extract(int argc, char **argv)
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
    iso_out *out[N_OUT] = {0};
    int in_set = 0;
    if ((rc = cli_inputs_load(o.gtf, o.alias, o.fasta, &o.sel, &in)) < 0)
        goto done;
    const size_t n_sel = in.n_sel;
    if (n_sel == 0)
        iso_warn("no transcript selected: writing empty outputs");
    double t_load = cli_now();
    if ((rc = iso_out_set_begin()) < 0)
        goto done;
    in_set = 1;
    for (int i = 0; i < N_OUT; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s%s", o.out, out_suffix[i]);
        if (!(out[i] = iso_out_open(path))) {
            rc = iso_last_status();
            goto done;
        }
    }
    if ((rc = extract_all(&o, in.ann, in.sel, n_sel, in.fa, out)) < 0)
        goto done;
    for (int i = 0; i < N_OUT; i++) {
        int c = iso_out_commit(out[i]);
        out[i] = NULL;
        if (c < 0 && rc >= 0)
            rc = c;
    }
    if (rc >= 0 && o.verbose) {
        double t = cli_now() - t_load;
        fprintf(stderr, "isoformer extract: %zu transcripts in %.3f s (%.1f transcripts/s; %.3f s reading inputs)\n",
                n_sel, t, t > 0 ? n_sel / t : 0.0, t_load - t0);
    }
done:
    for (int i = 0; i < N_OUT; i++)
        iso_out_abort(out[i]);
    if (in_set)
        rc = cli_outputs_end(rc);
    cli_inputs_free(&in);
    return rc < 0 ? cli_fail(CMD) : 0;
}
