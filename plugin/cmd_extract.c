/* isoformer extract: per-transcript DNA window around the TSS, spliced RNA and protein, plus a summary table. */
#include <getopt.h>
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

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: isoformer extract --fasta FILE --gtf FILE --out PREFIX [options]\n\n"
            "Writes, for every transcript of the annotation (record names = transcript_id):\n"
            "  PREFIX.dna.fa      the DNA window centred on the TSS (N past contig ends; header: CHR:A-B(STRAND), the\n"
            "                     bases on the contig, and N_pad=BEFORE,AFTER when padded)\n"
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
            "  -R, --region CHR:A-B     only transcripts overlapping this 1-based region\n"
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
                 {ISO_TX_SELENOCYSTEINE, "selenocysteine"},
                 {ISO_TX_RIBOSOMAL_SLIPPAGE, "ribosomal_slippage"}};
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

/* The DNA record's description: the window's bases on the contig as a samtools region, then its strand, and
 * the Ns padding it past either contig end ("N_pad=BEFORE,AFTER", in genome order), so the region stays one a
 * FASTA tool accepts. */
static void dna_description(char *desc, size_t size, const iso_transcript *tx, const iso_window_opts *win,
                            int64_t contig_len)
{
    iso_interval w = iso_dna_window(tx, win);
    int64_t start = w.start < 0 ? 0 : w.start, end = w.end > contig_len ? contig_len : w.end;
    int n = snprintf(desc, size, "%s:%lld-%lld(%c)", tx->chrom, (long long)start + 1, (long long)end,
                     tx->strand == '-' && win->revcomp_minus ? '-' : '+');
    if (n > 0 && (size_t)n < size && (start > w.start || end < w.end))
        snprintf(desc + n, size - (size_t)n, " N_pad=%lld,%lld", (long long)(start - w.start),
                 (long long)(w.end - end));
}

static void write_result(iso_out **out, const iso_transcript *tx, const iso_sequences *r, const iso_window_opts *win,
                         int64_t contig_len)
{
    char desc[320];
    dna_description(desc, sizeof desc, tx, win, contig_len);
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
        CLI_SEQUENCE_OPTIONS, {"revcomp-minus", no_argument, NULL, 'r'}, {NULL, 0, NULL, 0}};
    *o = (options){.win = {.window = ISO_DEFAULT_WINDOW}, .threads = 1};
    int c;
    long long x = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:g:o:w:ra:t:R:@:vh", longopts, NULL)) != -1) {
        int bad = 0;
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
        case 'w': bad = cli_parse_integer(CMD, "--window", optarg, 1, 1 << 30, &x), o->win.window = x; break;
        case '@': bad = cli_parse_int(CMD, "--threads", optarg, 1, 256, &o->threads); break;
        default: return cli_usage_error(CMD, "unknown or incomplete option");
        }
        if (bad)
            return bad;
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!o->fasta || !o->gtf || !o->out)
        return cli_usage_error(CMD, "--fasta, --gtf and --out are required");
    int rc = cli_selection_check(CMD, &o->sel);
    return rc ? rc : -1; /* go on */
}

/* Each transcript's sequences into the outputs, in order. */
typedef struct {
    iso_out **out;
    const iso_annotation *ann;
    const size_t *sel;
    const iso_window_opts *win;
    const iso_fasta *fa;
    cli_progress *progress;
} writer;

static int write_one(void *arg, size_t i, const iso_sequences *s)
{
    writer *w = arg;
    const iso_transcript *tx = &w->ann->tx[w->sel[i]];
    write_result(w->out, tx, s, w->win, iso_fasta_contig_len(w->fa, tx->chrom));
    cli_progress_step(w->progress, 1);
    return cli_interrupted() ? iso_error(ISO_EINTERRUPTED, "interrupted") : ISO_OK;
}

/* Runs the extraction into open outputs; returns an iso_status. */
static int extract_all(const options *o, const iso_annotation *ann, const size_t *sel, size_t n_sel, iso_fasta *fa,
                       iso_out **out)
{
    fprintf(iso_out_fp(out[OUT_TSV]), "transcript_id\tgene_id\tgene_name\tbiotype\tchrom\tstart\tend\tstrand\ttss\t"
                                      "n_exons\trna_len\tcds_len\tprotein_len\tflags\n");
    cli_progress p;
    cli_progress_start(&p, "extract", n_sel);
    writer w = {out, ann, sel, &o->win, fa, &p};
    int rc = iso_extract_many(fa, ann, sel, n_sel, &o->win, o->threads, write_one, &w);
    cli_progress_end(&p);
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
    const char *const suffixes[] = {out_suffix[0], out_suffix[1], out_suffix[2], out_suffix[3], NULL};
    const char *const inputs[] = {o.gtf, o.alias, o.fasta};
    _Static_assert(N_OUT == 4, "every output suffix checked");
    if ((rc = cli_out_not_input(CMD, o.out, inputs, 3, 0, suffixes)) != 0)
        return rc;
    cli_verbose(o.verbose);

    double t0 = cli_now();
    cli_inputs in;
    iso_out *out[N_OUT] = {0};
    int in_set = 0;
    if ((rc = cli_inputs_open(o.gtf, o.alias, o.fasta, &in)) < 0 || (rc = cli_inputs_select(&in, &o.sel, NULL)) < 0)
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
