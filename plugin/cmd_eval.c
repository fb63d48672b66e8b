/* isoformer eval: predictions against observed expression, per tissue/sample, as a TSV report and an SVG plot. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "isoformer/annotation.h"
#include "isoformer/expression.h"
#include "select.h"

#define CMD "eval"

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: isoformer eval --pred PREFIX.predictions.tsv --obs FILE --out PREFIX [options]\n\n"
            "Compares predicted with observed expression over the transcripts present in both. Observed: salmon\n"
            "quant.sf, RSEM isoforms.results, kallisto abundance.tsv, StringTie -e GTF or t_data.ctab, GCT 1.2\n"
            "(GTEx) or 1.3, or an isoformer TSV; TPM are compared as log(TPM+1), the space of IsoFormer's outputs.\n"
            "Columns pair by name; a single observed column is compared with every prediction column unless\n"
            "--columns says otherwise. Writes PREFIX.eval.tsv (per pair: n, Spearman, Pearson, R^2, and within-gene isoform-\n"
            "fraction agreement: Pearson of predicted and observed fractions of each gene's expression, over genes\n"
            "with two or more isoforms, computed on TPM: predictions and isoformer-TSV observations, which are\n"
            "log(TPM+1), taken back by exp(x)-1; NA where undefined) and PREFIX.eval.svg (a summary of every pair,\n"
            "and scatter plots on one scale with the line y = x: every pair up to 9, else the best, median and\n"
            "worst by Spearman). Observed values must be finite, and TPM not negative.\n\n"
            "  -p, --pred FILE         predictions TSV of 'isoformer predict'\n"
            "  -b, --obs FILE          observed expression (format detected)\n"
            "  -g, --gtf FILE          the annotation (default: the transcripts and genes of --pred)\n"
            "  -a, --chrom-alias FILE  contig aliases\n"
            "  -c, --columns MAP       PRED=OBS pairs, comma-separated (e.g. 'Liver=GTEX-1117F-0226')\n"
            "      --no-log1p          compare observed values as they are\n"
            "  -o, --out PREFIX        output prefix (required)\n"
            "  -h, --help              this help\n"
            "      --version           print the version and exit\n");
}

int main_eval(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pred", required_argument, NULL, 'p'},  {"obs", required_argument, NULL, 'b'},
        {"gtf", required_argument, NULL, 'g'},   {"chrom-alias", required_argument, NULL, 'a'},
        {"columns", required_argument, NULL, 'c'}, {"no-log1p", no_argument, NULL, 'L'},
        {"out", required_argument, NULL, 'o'},   {"help", no_argument, NULL, 'h'}, CLI_VERSION_OPTION,
        {NULL, 0, NULL, 0}};
    const char *pred_path = NULL, *obs_path = NULL, *gtf = NULL, *alias_path = NULL, *map = NULL, *out = NULL;
    int c, log1p_obs = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:b:g:a:c:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': pred_path = optarg; break;
        case 'b': obs_path = optarg; break;
        case 'g': gtf = optarg; break;
        case 'a': alias_path = optarg; break;
        case 'c': map = optarg; break;
        case 'L': log1p_obs = 0; break;
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return 0;
        case CLI_OPT_VERSION: return cli_version();
        default: return cli_usage_error(CMD, "unknown or incomplete option");
        }
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!pred_path || !obs_path || !out)
        return cli_usage_error(CMD, "--pred, --obs and --out are required");
    int rc = cli_out_path(CMD, "--out", out);
    if (rc)
        return rc;
    iso_chrom_alias *alias = NULL;
    iso_annotation *ann = NULL;
    iso_expression *pred = NULL, *obs = NULL;
    iso_eval_pair *pairs = NULL;
    int n_pairs = 0;
    if ((alias_path && (rc = iso_chrom_alias_load(alias_path, &alias)) < 0) ||
        (rc = gtf ? iso_annotation_read(gtf, alias, &ann) : cli_annotation_from_tsv(pred_path, &ann)) < 0 ||
        (rc = iso_expression_read(pred_path, ann, &pred)) < 0 ||
        (rc = iso_expression_read(obs_path, ann, &obs)) < 0)
        goto done;
    if ((rc = iso_eval_pairs(map, pred, obs, &pairs, &n_pairs)) < 0) {
        iso_error_context(map ? "--columns" : "columns (pass --columns PRED=OBS)");
        goto done;
    }
    rc = iso_eval_write(out, ann, pred, obs, log1p_obs, pairs, n_pairs);
done:
    free(pairs);
    iso_expression_free(pred);
    iso_expression_free(obs);
    iso_annotation_free(ann);
    iso_chrom_alias_free(alias);
    return rc < 0 ? cli_fail(CMD) : 0;
}
