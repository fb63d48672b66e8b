/* isoformer variants: the predicted effect of each variant of a VCF on each transcript isoform in each tissue,
 * or, with --haplotypes, each phased sample's own predictions. The work is in core/variants; this file reads
 * the command line and wires the VCF, the engine and the writer together. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "isoformer/model.h"
#include "isoformer/variants.h"
#include "model_options.h"
#include "select.h"

#define CMD "variants"

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: isoformer variants --model DIR --fasta FILE --gtf FILE --vcf FILE --out PREFIX [options]\n\n"
            "Predicts the effect of every allele of a VCF/BCF on each transcript it can reach, through the DNA\n"
            "window, the spliced RNA and the protein (translated again: missense, stop gained or lost, start lost,\n"
            "frameshift read to the next stop, inframe indels), and writes:\n"
            "  PREFIX.variants.vcf.gz    the input records (bgzipped, .tbi/.csi-indexed) with INFO/ISOFORMER: per\n"
            "                            allele and transcript the consequence (SO terms, as VEP) and the delta\n"
            "                            (alternative minus reference prediction) of every tissue; INFO/ISOFORMER_NOTE\n"
            "                            for alleles not scored (symbolic, REF mismatch, contig not in the FASTA)\n"
            "  PREFIX.variants.tsv       a row per allele and transcript (multi-allelic records split): consequence,\n"
            "                            a delta and an alt column per tissue; a row per allele not scored\n"
            "  PREFIX.variants.svg       the largest effects, tissue by tissue\n"
            "With --haplotypes: PREFIX.haplotypes.tsv (each sample's two haplotypes, all their alleles applied\n"
            "together, per transcript: predictions and deltas) and PREFIX.haplotypes.svg.\n"
            "isoformer variants --gather --out PREFIX SHARD_PREFIX... writes the outputs of --shard i/n runs (in any\n"
            "order) as one run writes them.\n\n"
            "Input:\n"
            "  -m, --model PATH          model directory (config.json + model.safetensors or pytorch_model.bin)\n"
            "  -f, --fasta FILE          reference FASTA, plain or bgzipped\n"
            "  -g, --gtf FILE            annotation, GTF or GFF3\n"
            "  -V, --vcf FILE            variants: VCF (plain, gzip or bgzip) or BCF, sorted; indexed for fast regions\n"
            "  -a, --chrom-alias FILE    contig aliases (UCSC chromAlias) for the annotation and the VCF\n"
            "Selection:\n"
            "  -t, --transcripts LIST    transcripts to score against (ids or @FILE); only records within reach read\n"
            "  -R, --region CHR:A-B      variants in a region (1-based; with --haplotypes: transcripts overlapping it)\n"
            "  -s, --shard I/N           the I-th of N contiguous, cost-balanced runs of the VCF's records (with\n"
            "                            --haplotypes: of the transcripts, as predict --shard)\n"
            "      --max-distance N      score a variant against transcripts within N bp (default: the window)\n"
            "Haplotypes:\n"
            "  -H, --haplotypes          per sample and phased haplotype, all its alleles applied together\n"
            "  -S, --samples LIST        samples (comma-separated or @FILE; implies --haplotypes; default: all)\n"
            "Model options (as predict; defaults from config.json):\n"
            CLI_MODEL_OPTIONS_HELP
            "  -w, --window N            DNA window in bp (default: the model's)\n"
            "      --revcomp-minus       reverse-complement the DNA window of minus-strand transcripts\n"
            "      --window-center C     transcript (default) or gene (the gene's most 5' TSS, as predict)\n"
            "Compute:\n"
            "  -d, --device DEV          cpu, cuda or cuda:N (default: cuda when a GPU is present)\n"
            CLI_PRECISION_HELP
            "  -@, --threads N           CPU threads (default: all cores)\n"
            "      --cache DIR           reuse encoder outputs across runs (keyed by model and exact input)\n"
            "      --batch-tokens N      pack the alternative RNAs of a window into forwards of up to N tokens\n"
            "                            (default: 8192 on GPU, 0 (one at a time) on CPU)\n"
            "      --no-reuse            predict every pair twice from scratch, reference and alternative (the\n"
            "                            naive path: same values, for checks and benchmarks)\n"
            "Output:\n"
            "  -o, --out PREFIX          output prefix (required)\n"
            "      --gather              gather the shards whose prefixes follow the options\n"
            "  -v, --verbose             timing and reuse statistics on stderr\n"
            "  -h, --help                this help\n"
            "      --version             print the version and exit\n");
}

typedef struct {
    const char *model, *fasta, *gtf, *alias, *vcf, *out, *device, *cache, *region, *shard, *samples;
    cli_selection sel;
    iso_model_options mopts;
    iso_variant_options vopts;
    int precision; /* iso_precision; -1: bf16 on a GPU, fp32 on the CPU (as predict) */
    int threads, verbose, haplotypes, gather;
} options;

enum { OPT_REVCOMP = 256, OPT_CACHE, OPT_BATCH, OPT_DISTANCE, OPT_GATHER, OPT_NO_REUSE, OPT_CENTER };

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        CLI_SEQUENCE_OPTIONS,
        CLI_MODEL_OPTIONS,
        {"model", required_argument, NULL, 'm'}, {"vcf", required_argument, NULL, 'V'},
        {"shard", required_argument, NULL, 's'}, {"device", required_argument, NULL, 'd'},
        {"haplotypes", no_argument, NULL, 'H'}, {"samples", required_argument, NULL, 'S'},
        {"revcomp-minus", no_argument, NULL, OPT_REVCOMP}, {"cache", required_argument, NULL, OPT_CACHE},
        {"batch-tokens", required_argument, NULL, OPT_BATCH}, {"max-distance", required_argument, NULL, OPT_DISTANCE},
        {"gather", no_argument, NULL, OPT_GATHER}, {"window-center", required_argument, NULL, OPT_CENTER},
        {"no-reuse", no_argument, NULL, OPT_NO_REUSE},
        {NULL, 0, NULL, 0}};
    static const char *const centres[] = {"transcript", "gene"};
    *o = (options){.precision = -1, .vopts = {.max_distance = -1, .batch_tokens = -1}};
    iso_model_options_default(&o->mopts);
    int c, bad;
    long long x = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:f:g:V:a:t:R:s:HS:o:d:@:w:vh", longopts, NULL)) != -1) {
        bad = 0;
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'f': o->fasta = optarg; break;
        case 'g': o->gtf = optarg; break;
        case 'V': o->vcf = optarg; break;
        case 'a': o->alias = optarg; break;
        case 't': o->sel.transcripts = optarg; break;
        case 'R': o->region = optarg; break;
        case 's': o->shard = optarg; break;
        case 'H': o->haplotypes = 1; break;
        case 'S':
            if (!optarg[0] || !strcmp(optarg, "@")) /* an empty shell variable, not "every sample" */
                return cli_usage_error(CMD, "--samples: expected NAME,NAME,... or @FILE, got '%s'", optarg);
            o->samples = optarg, o->haplotypes = 1;
            break;
        case 'o': o->out = optarg; break;
        case 'd': bad = cli_parse_device(CMD, optarg), o->device = optarg; break;
        case 'v': o->verbose = 1; break;
        case 'h': usage(stdout); return 0;
        case CLI_OPT_VERSION: return cli_version();
        case '@': bad = cli_parse_int(CMD, "--threads", optarg, 1, 1024, &o->threads); break;
        case 'w': bad = cli_parse_integer(CMD, "--window", optarg, 1, 1 << 30, &x), o->vopts.win.window = x; break;
        case OPT_BATCH: bad = cli_parse_int(CMD, "--batch-tokens", optarg, 0, 1 << 24, &o->vopts.batch_tokens); break;
        case OPT_DISTANCE:
            bad = cli_parse_integer(CMD, "--max-distance", optarg, 0, 1LL << 40, &x), o->vopts.max_distance = x;
            break;
        case OPT_CACHE: o->cache = optarg; break;
        case OPT_REVCOMP: o->vopts.win.revcomp_minus = 1; break;
        case OPT_GATHER: o->gather = 1; break;
        case OPT_CENTER:
            bad = cli_parse_choice(CMD, "--window-center", optarg, centres, 2, &o->vopts.gene_windows);
            break;
        case OPT_NO_REUSE: o->vopts.no_reuse = 1; break;
        default:
            if ((bad = cli_model_option(CMD, c, optarg, &o->mopts, &o->precision)) < 0)
                return cli_usage_error(CMD, "unknown or incomplete option");
        }
        if (bad)
            return bad;
    }
    if (o->gather)
        return !o->out || optind == argc ? cli_usage_error(CMD, "--gather needs --out and the shards' prefixes") : -1;
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!o->model || !o->fasta || !o->gtf || !o->vcf || !o->out)
        return cli_usage_error(CMD, "--model, --fasta, --gtf, --vcf and --out are required");
    if (o->haplotypes) /* the transcripts are the unit: predict's selection */
        o->sel.region = o->region, o->sel.shard = o->shard;
    else if (o->shard)
        o->sel.shard = o->shard; /* checked below, applied to the records */
    int rc = cli_selection_check(CMD, &(cli_selection){NULL, o->region, o->sel.shard});
    if (!o->haplotypes)
        o->sel.shard = NULL;
    return rc ? rc : -1;
}

/* The records to read in variant mode: within reach of the selected transcripts (when some are selected),
 * within --region; *regions NULL when every record is read. */
static int variant_regions(const options *o, const cli_inputs *in, const iso_variant_engine *e, iso_region **regions,
                           int *n, char *chrom, size_t size)
{
    *regions = NULL;
    *n = 0;
    iso_region clip = {chrom, 0, 0};
    if (o->region) {
        char name[256];
        if (cli_region_parse(o->region, name, sizeof name, &clip.start, &clip.end) < 0)
            return iso_error(ISO_EINVAL, "--region: bad region '%s'", o->region);
        int rc = cli_region_check_contig(in->ann, in->alias, in->fa, name);
        if (rc)
            return rc;
        snprintf(chrom, size, "%s", iso_chrom_alias_map(in->alias, name));
    }
    if (!o->sel.transcripts) {
        if (!o->region)
            return ISO_OK;
        *regions = malloc(sizeof **regions);
        if (!*regions)
            return iso_error(ISO_ENOMEM, "out of memory");
        **regions = clip;
        *n = 1;
        return ISO_OK;
    }
    int rc = iso_variant_reach(e, regions, n);
    int kept = 0;
    for (int i = 0; rc == ISO_OK && o->region && i < *n; i++) {
        iso_region r = (*regions)[i];
        if (strcmp(r.chrom, clip.chrom) || r.end <= clip.start || r.start >= clip.end)
            continue;
        (*regions)[kept++] = (iso_region){clip.chrom, r.start > clip.start ? r.start : clip.start,
                                          r.end < clip.end ? r.end : clip.end};
    }
    if (o->region)
        *n = kept;
    return rc;
}

static void report(const options *o, const iso_variant_stats *st, double seconds, const char *device)
{
    fprintf(stderr, "isoformer variants: %zu records, %zu alleles; %zu %s scored (%zu unchanged)", st->records,
            st->alleles, st->pairs, o->haplotypes ? "haplotype-transcript pairs" : "allele-transcript pairs",
            st->pairs_unchanged);
    for (int b = 0; b < ISO_NOTE_COUNT; b++)
        if (st->notes[b])
            fprintf(stderr, "; %zu %s", st->notes[b], iso_note_name(b));
    if (st->skipped_genotypes)
        fprintf(stderr, "; %zu genotypes not applied (unphased heterozygous, missing, not scored, overlapping)",
                st->skipped_genotypes);
    fputc('\n', stderr);
    if (o->verbose)
        fprintf(stderr,
                "  %.2f s on %s (%.3f pairs/s): reference transcripts %zu; runs: DNA %zu (%.2f s), RNA %zu (%.2f s), "
                "protein %zu (%.2f s), fusion+head %zu (%.2f s); cache hits %zu; sequences %.2f s\n",
                seconds, device, seconds > 0 ? st->pairs / seconds : 0.0, st->ref_transcripts, st->dna_runs,
                st->t_dna, st->rna_runs, st->t_rna, st->protein_runs, st->t_protein, st->fusions, st->t_fuse,
                st->cache_hits, st->t_inputs);
}

int main_variants(int argc, char **argv)
{
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if ((rc = cli_out_path(CMD, "--out", o.out)) != 0)
        return rc;
    static const char *const gathered[] = {".variants.tsv", ".variants.vcf.gz", NULL};
    if (o.gather && ((rc = cli_out_not_input(CMD, o.out, (const char *const *)argv + optind, argc - optind, 1,
                                             gathered)) != 0 ||
                     (rc = cli_open_files(CMD, argc - optind)) != 0))
        return rc;
    if (o.gather)
        return iso_variant_gather(o.out, (const char *const *)argv + optind, argc - optind) < 0 ? cli_fail(CMD) : 0;
    cli_verbose(o.verbose);
    cli_inputs in;
    iso_backend *be = NULL;
    iso_model *model = NULL;
    iso_emb_cache *cache = NULL;
    iso_variant_engine *engine = NULL;
    iso_vcf *vcf = NULL;
    iso_variant_writer *writer = NULL;
    iso_region *regions = NULL;
    const char **names = NULL;
    int n_regions = 0;
    int64_t first = 0, last = -1;
    char region_chrom[256];
    double t0 = cli_now();
    const char *device = o.device ? o.device : iso_backend_default_device();
    iso_precision precision = o.precision >= 0 ? (iso_precision)o.precision
                              : strncmp(device, "cpu", 3) ? ISO_PREC_BF16
                                                          : ISO_PREC_FP32;
    iso_cost_model costs;
    if ((rc = cli_inputs_open(o.gtf, o.alias, o.fasta, &in)) < 0 ||
        (rc = iso_backend_create(device, o.threads, precision, &be)) < 0 ||
        (rc = iso_model_load(o.model, be, &o.mopts, &model)) < 0 ||
        (iso_model_costs(model, o.vopts.win.window, &costs), (rc = cli_inputs_select(&in, &o.sel, &costs)) < 0) ||
        (o.cache && (rc = iso_emb_cache_open(o.cache, model, &cache)) < 0))
        goto done;
    if (o.vopts.batch_tokens < 0)
        o.vopts.batch_tokens = iso_backend_device_kind(be) == ISO_DEVICE_GPU ? ISO_EMBED_BATCH_TOKENS : 0;
    iso_model_info info;
    iso_model_get_info(model, &info);
    if (!(names = malloc((size_t)info.n_outputs * sizeof *names))) {
        rc = iso_error(ISO_ENOMEM, "out of memory");
        goto done;
    }
    for (int j = 0; j < info.n_outputs; j++)
        names[j] = iso_model_output_name(model, j);
    if ((rc = iso_variant_engine_create(model, cache, in.fa, in.ann, in.sel, in.n_sel, &o.vopts, &engine)) < 0)
        goto done;
    if (!o.haplotypes && (rc = variant_regions(&o, &in, engine, &regions, &n_regions, region_chrom,
                                               sizeof region_chrom)) < 0)
        goto done;
    if (!o.haplotypes && o.shard) { /* a first pass over the records balances the shards */
        int index, n_shards;
        if ((rc = iso_shard_parse(o.shard, &index, &n_shards)) < 0 ||
            (rc = iso_vcf_open(o.vcf, in.fa, in.alias, regions, n_regions, NULL, &vcf)) < 0 ||
            (rc = iso_variant_shard(engine, vcf, index, n_shards, &first, &last)) < 0)
            goto done;
        iso_vcf_close(vcf);
        vcf = NULL;
    }
    if ((rc = iso_vcf_open(o.vcf, in.fa, in.alias, o.haplotypes ? NULL : regions, n_regions,
                           o.haplotypes ? (o.samples ? o.samples : "") : NULL, &vcf)) < 0) {
        rc = rc == ISO_EINVAL && o.samples ? cli_hint("the samples of --samples") : rc;
        goto done;
    }
    if ((rc = iso_variant_writer_open(o.out, vcf, names, info.n_outputs, in.ann, in.fa, o.haplotypes, &writer)) < 0)
        goto done;
    rc = o.haplotypes ? iso_haplotype_run(engine, vcf, iso_variant_writer_haplotype, writer)
                      : iso_variant_run(engine, vcf, first, last, iso_variant_writer_record, writer);
    if (rc >= 0 && cli_interrupted())
        rc = iso_error(ISO_EINTERRUPTED, "interrupted");
    if (rc >= 0) {
        /* what the values depend on, so that gather takes the shards of one run only, each once */
        char config[1024], selection[1024], norm[16] = "-";
        rc = cli_file_tag(o.mopts.normalization, norm, sizeof norm);
        snprintf(config, sizeof config,
                 "model=%016llx window=%lld revcomp=%d centre=%d max_distance=%lld haplotypes=%d samples=%s "
                 "fusion=%d head_act=%d normalization=%s noncoding=%d backend=%s",
                 (unsigned long long)info.checksum, (long long)o.vopts.win.window, o.vopts.win.revcomp_minus,
                 o.vopts.gene_windows, (long long)o.vopts.max_distance, o.haplotypes, o.samples ? o.samples : "-",
                 (int)o.mopts.fusion, o.mopts.head_act, norm,
                 (int)o.mopts.noncoding, iso_backend_key(be));
        snprintf(selection, sizeof selection, "transcripts=%s region=%s",
                 o.sel.transcripts ? o.sel.transcripts : "-", o.region ? o.region : "-");
        iso_manifest_info run = {"variants", config, o.sel.transcripts || o.region ? selection : NULL, o.shard};
        if (rc >= 0) {
            rc = iso_variant_writer_commit(writer, &run);
            writer = NULL;
        }
    }
    if (rc >= 0)
        report(&o, iso_variant_engine_stats(engine), cli_now() - t0, iso_backend_key(be));
done:
    iso_variant_writer_abort(writer);
    iso_vcf_close(vcf);
    free(regions);
    free(names);
    iso_variant_engine_free(engine);
    iso_emb_cache_close(cache);
    iso_model_free(model);
    iso_backend_destroy(be);
    cli_inputs_free(&in);
    return rc < 0 ? cli_fail(CMD) : 0;
}
