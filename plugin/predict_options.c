/* isoformer predict's command line. */
#include "predict_options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model_options.h"

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
            "  PREFIX.run.json           the run's configuration and every output's size and CRC-32 (for merge)\n"
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
            CLI_MODEL_OPTIONS_HELP
            "      --head FILE           a head fitted by 'isoformer fit': its outputs replace the model's tissues\n"
            "  -w, --window N            DNA window in bp (default: the model's, 196608 for IsoFormer)\n"
            "      --revcomp-minus       reverse-complement the DNA window of minus-strand transcripts\n"
            "      --window-center C     transcript (default: each transcript's TSS) or gene (the gene's most 5'\n"
            "                            TSS, one window per gene: fewer Enformer runs, isoforms share it)\n"
            "Compute:\n"
            "  -d, --device DEV          cpu, cuda or cuda:N (default: cuda when a GPU is present)\n"
            CLI_PRECISION_HELP
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

enum { OPT_BW_BIN = 256, OPT_RESUME, OPT_HEAD, OPT_OBSERVED, OPT_CACHE, OPT_CENTER, OPT_PREFETCH, OPT_BATCH,
       OPT_REVCOMP };

int predict_parse_options(int argc, char **argv, predict_options *o)
{
    static const struct option longopts[] = {
        CLI_SEQUENCE_OPTIONS,
        CLI_MODEL_OPTIONS,
        {"model", required_argument, NULL, 'm'},              {"shard", required_argument, NULL, 's'},
        {"device", required_argument, NULL, 'd'},             {"embeddings", no_argument, NULL, 'e'},
        {"revcomp-minus", no_argument, NULL, OPT_REVCOMP},    {"bigwig-bin", required_argument, NULL, OPT_BW_BIN},
        {"resume", no_argument, NULL, OPT_RESUME},            {"head", required_argument, NULL, OPT_HEAD},
        {"observed", required_argument, NULL, OPT_OBSERVED},  {"cache", required_argument, NULL, OPT_CACHE},
        {"window-center", required_argument, NULL, OPT_CENTER}, {"prefetch", required_argument, NULL, OPT_PREFETCH},
        {"batch-tokens", required_argument, NULL, OPT_BATCH},
        {NULL, 0, NULL, 0}};
    *o = (predict_options){.bigwig_bin = 1};
    iso_predict_opts_default(&o->pred);
    static const char *const centres[] = {"transcript", "gene"};
    int c, window = 0;
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
        case 'd': bad = cli_parse_device(CMD, optarg), o->pred.device = optarg; break;
        case 'e': o->embeddings = 1; break;
        case 'v': o->verbose = o->pred.sync_stage_times = 1; break;
        case 'h': usage(stdout); return 0;
        case CLI_OPT_VERSION: return cli_version();
        case '@': bad = cli_parse_int(CMD, "--threads", optarg, 1, 1024, &o->pred.n_threads); break;
        case 'w': bad = cli_parse_int(CMD, "--window", optarg, 1, 1 << 30, &window); break;
        case OPT_BW_BIN: bad = cli_parse_int(CMD, "--bigwig-bin", optarg, 1, 1 << 20, &o->bigwig_bin); break;
        case OPT_PREFETCH: bad = cli_parse_int(CMD, "--prefetch", optarg, 0, 1 << 20, &o->pred.prefetch); break;
        case OPT_BATCH: bad = cli_parse_int(CMD, "--batch-tokens", optarg, 0, 1 << 24, &o->pred.batch_tokens); break;
        case OPT_RESUME: o->resume = 1; break;
        case OPT_HEAD: o->head = optarg; break;
        case OPT_OBSERVED: o->observed = optarg; break;
        case OPT_CACHE: o->pred.cache_dir = optarg; break;
        case OPT_CENTER:
            bad = cli_parse_choice(CMD, "--window-center", optarg, centres, 2, &o->pred.gene_windows);
            break;
        case OPT_REVCOMP: o->pred.window.revcomp_minus = 1; break;
        default:
            if ((bad = cli_model_option(CMD, c, optarg, &o->pred.model, &o->pred.precision)) < 0)
                return cli_usage_error(CMD, "unknown or incomplete option");
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
