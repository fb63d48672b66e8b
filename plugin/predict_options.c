/* isoformer predict's command line. */
#include "predict_options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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
            "      --fusion MODE         sequential (default) or parallel cross-attention\n"
            "      --pool-window A:B     fused positions averaged before the head\n"
            "      --head-activation A   silu (default), gelu, relu or none\n"
            "      --rna-max-tokens N    NT-v2 tokens kept, <cls> included (default 2048)\n"
            "      --protein-max-tokens N ESM-2 tokens kept, <cls>/<eos> included (default 1026)\n"
            "      --normalization FILE  per-tissue 'tissue mean std' to undo z-scoring of the outputs\n"
            "      --noncoding M         transcripts without a CDS: empty-protein (default, as the published\n"
            "                            model: <cls><eos> through ESM-2 and the protein cross-attention) or skip\n"
            "                            (no protein block: the fused embedding is the RNA block's)\n"
            "      --head FILE           a head fitted by 'isoformer fit': its outputs replace the model's tissues\n"
            "  -w, --window N            DNA window in bp (default: the model's, 196608 for IsoFormer)\n"
            "      --revcomp-minus       reverse-complement the DNA window of minus-strand transcripts\n"
            "      --window-center C     transcript (default: each transcript's TSS) or gene (the gene's most 5'\n"
            "                            TSS, one window per gene: fewer Enformer runs, isoforms share it)\n"
            "Compute:\n"
            "  -d, --device DEV          cpu, cuda or cuda:N (default: cuda when a GPU is present)\n"
            "      --precision P         GEMM precision: fp32 (default on CPU), bf16 (default on GPU; on CPU needs\n"
            "                            AVX512-BF16 or AMX and oneDNN) or tf32 (GPU only)\n"
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

enum { OPT_FUSION = 256, OPT_POOL, OPT_HEAD_ACT, OPT_RNA_MAX, OPT_PROT_MAX, OPT_NORM, OPT_REVCOMP, OPT_PRECISION,
       OPT_BW_BIN, OPT_RESUME, OPT_HEAD, OPT_OBSERVED, OPT_CACHE, OPT_CENTER, OPT_PREFETCH, OPT_BATCH,
       OPT_NONCODING };

static int parse_int(const char *opt, const char *s, int lo, int hi, int *v)
{
    char *end;
    long x = strtol(s, &end, 10);
    if (*end || end == s || x < lo || x > hi)
        return cli_usage_error(CMD, "%s: expected an integer from %d to %d, got '%s'", opt, lo, hi, s);
    *v = (int)x;
    return 0;
}

int predict_parse_options(int argc, char **argv, predict_options *o)
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
        {"batch-tokens", required_argument, NULL, OPT_BATCH}, {"noncoding", required_argument, NULL, OPT_NONCODING},
        {NULL, 0, NULL, 0}};
    *o = (predict_options){.bigwig_bin = 1};
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
        case 'v': o->verbose = o->pred.sync_stage_times = 1; break;
        case 'h': usage(stdout); return 0;
        case CLI_OPT_VERSION: return cli_version();
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
        case OPT_NONCODING:
            if (!strcmp(optarg, "empty-protein") || !strcmp(optarg, "skip"))
                o->pred.model.noncoding = optarg[0] == 's' ? ISO_NONCODING_SKIP : ISO_NONCODING_EMPTY_PROTEIN;
            else
                bad = cli_usage_error(CMD, "--noncoding: expected empty-protein or skip, got '%s'", optarg);
            break;
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
