/* isoformer quant: transcript abundance from a coordinate-sorted, indexed BAM/CRAM and the annotation. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "isoformer/annotation.h"
#include "isoformer/quant.h"

#define CMD "quant"

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: isoformer quant --bam FILE --gtf FILE --out PREFIX [options]\n\n"
            "Transcript abundance from RNA-seq alignments to the genome. A read (pair) counts for the transcripts\n"
            "whose exons contain its aligned blocks and whose introns match its splices; equivalence classes of\n"
            "such transcripts are resolved by EM with effective lengths from the observed fragment lengths.\n"
            "Writes PREFIX.quant.sf (salmon's columns: Name Length EffectiveLength TPM NumReads) and\n"
            "PREFIX.genes.tsv (per-gene sums); all outputs appear together, or none on an error.\n\n"
            "  -b, --bam FILE          coordinate-sorted and indexed BAM or CRAM\n"
            "  -r, --reference FASTA   the reference a CRAM was written against (indexed FASTA; else REF_PATH)\n"
            "  -g, --gtf FILE          annotation, GTF or GFF3\n"
            "  -a, --chrom-alias FILE  contig aliases when the annotation and the BAM name contigs differently\n"
            "  -s, --strand S          auto (default: detected), none, fr (read 1 sense) or rf (read 1 antisense)\n"
            "  -c, --coverage          also write read coverage over the annotated contigs, per million assigned\n"
            "                          fragments: PREFIX.coverage.bw, or .coverage.plus.bw/.minus.bw if stranded\n"
            "  -B, --num-bootstraps N  N bootstrap replicates of NumReads in salmon's layout beside PREFIX:\n"
            "                          DIR/aux_info/bootstrap/bootstraps.gz (DIR: PREFIX's directory; one sample\n"
            "                          per directory, as tximport reads it)\n"
            "  -@, --threads N         contigs in parallel, decompression and bootstrap threads (default 1); the\n"
            "                          results are the same for any N\n"
            "  -o, --out PREFIX        output prefix (required)\n"
            "  -v, --verbose           library statistics on stderr\n"
            "  -h, --help              this help\n"
            "      --version           print the version and exit\n");
}

/* The option that gives what iso_quant_bam's message asks for (the library names none). */
static int option_hint(int rc)
{
    static const struct {
        const char *asks, *hint;
    } hints[] = {{"give contig aliases", "pass them with --chrom-alias FILE"},
                 {"Give the reference FASTA", "pass it with --reference FASTA"},
                 {"library strandedness", "--strand gives it (default auto: detected from the reads)"}};
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (strstr(iso_last_error(), hints[i].asks))
            return cli_hint("%s", hints[i].hint);
    return rc;
}

int main_quant(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bam", required_argument, NULL, 'b'},    {"gtf", required_argument, NULL, 'g'},
        {"chrom-alias", required_argument, NULL, 'a'}, {"strand", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, '@'}, {"out", required_argument, NULL, 'o'},
        {"verbose", no_argument, NULL, 'v'},     {"help", no_argument, NULL, 'h'}, CLI_VERSION_OPTION,
        {"coverage", no_argument, NULL, 'c'},    {"reference", required_argument, NULL, 'r'},
        {"num-bootstraps", required_argument, NULL, 'B'},
        {NULL, 0, NULL, 0}};
    const char *bam = NULL, *gtf = NULL, *alias_path = NULL, *out = NULL;
    iso_quant_opts opts;
    iso_quant_opts_default(&opts);
    int c, verbose = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:g:a:s:@:o:vhcr:B:", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'b': bam = optarg; break;
        case 'g': gtf = optarg; break;
        case 'a': alias_path = optarg; break;
        case 'o': out = optarg; break;
        case 'v': verbose = 1; break;
        case 'c': opts.coverage = 1; break;
        case 'r': opts.reference = optarg; break;
        case 'B': bad = cli_parse_int(CMD, "--num-bootstraps", optarg, 0, 100000, &opts.bootstraps); break;
        case 'h': usage(stdout); return 0;
        case CLI_OPT_VERSION: return cli_version();
        case 's':
            if (!strcmp(optarg, "auto")) opts.strand = ISO_STRAND_AUTO;
            else if (!strcmp(optarg, "none")) opts.strand = ISO_STRAND_NONE;
            else if (!strcmp(optarg, "fr")) opts.strand = ISO_STRAND_FR;
            else if (!strcmp(optarg, "rf")) opts.strand = ISO_STRAND_RF;
            else return cli_usage_error(CMD, "--strand: expected auto, none, fr or rf, got '%s'", optarg);
            break;
        case '@': bad = cli_parse_int(CMD, "--threads", optarg, 1, 256, &opts.threads); break;
        default: return cli_usage_error(CMD, "unknown or incomplete option");
        }
        if (bad)
            return bad;
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!bam || !gtf || !out)
        return cli_usage_error(CMD, "--bam, --gtf and --out are required");
    int rc = cli_out_path(CMD, "--out", out);
    if (rc)
        return rc;
    iso_chrom_alias *alias = NULL;
    iso_annotation *ann = NULL;
    iso_quant_result *r = NULL;
    double t0 = cli_now();
    if ((alias_path && (rc = iso_chrom_alias_load(alias_path, &alias)) < 0) ||
        (rc = iso_annotation_read(gtf, alias, &ann)) < 0)
        goto done;
    if ((rc = iso_quant_bam(bam, ann, &opts, &r)) < 0) {
        rc = option_hint(rc);
        goto done;
    }
    if ((rc = iso_quant_write(out, ann, r)) < 0)
        goto done;
    if (verbose) {
        static const char *const names[] = {"auto", "none", "fr", "rf"};
        char sense[64] = "no unique fragment to tell"; /* the fraction is NaN then */
        if (isfinite(r->sense_fraction))
            snprintf(sense, sizeof sense, "read 1 sense in %.1f%% of unique fragments", 100 * r->sense_fraction);
        fprintf(stderr,
                "isoformer quant: %zu alignments, %zu fragments, %zu assigned (weight %.1f), library %s (%s), "
                "fragment length %.1f +- %.1f (%zu pairs), %zu equivalence classes, EM %d iterations (final relative "
                "change %.2g), %d bootstraps (EM %lld iterations), %.2f s, peak RSS %.0f MB\n",
                r->n_records, r->n_fragments, r->n_assigned, r->assigned_weight, names[r->strand], sense, r->frag_mean,
                r->frag_sd, r->n_pairs_for_fld, r->n_classes, r->em_iterations, r->em_change, r->n_bootstraps,
                r->bootstrap_em_iterations, cli_now() - t0, cli_peak_rss_mb());
    }
done:
    iso_quant_free(r);
    iso_annotation_free(ann);
    iso_chrom_alias_free(alias);
    return rc < 0 ? cli_fail(CMD) : 0;
}
