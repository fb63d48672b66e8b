/* isoformer eval: predictions against observed expression, per tissue/sample, as a TSV report and an SVG plot. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "isoformer/annotation.h"
#include "isoformer/expression.h"
#include "select.h"
#include "isoformer/io.h"

#define CMD "eval"
#define MAX_PANELS 6

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: isoformer eval --pred PREFIX.predictions.tsv --obs FILE --out PREFIX [options]\n\n"
            "Compares predicted with observed expression over the transcripts present in both. Observed: salmon\n"
            "quant.sf, RSEM isoforms.results, kallisto abundance.tsv, StringTie -e GTF or t_data.ctab, GTEx GCT, or\n"
            "an isoformer TSV; TPM are compared as log(TPM+1), the space of IsoFormer's outputs. Columns pair by\n"
            "name; a single observed column is compared with every prediction column unless --columns says\n"
            "otherwise. Writes PREFIX.eval.tsv (per pair: n, Spearman, Pearson, R^2, and within-gene isoform-\n"
            "fraction agreement: Pearson of predicted and observed fractions of each gene's expression, over genes\n"
            "with two or more isoforms, computed on TPM: predictions and isoformer-TSV observations, which are\n"
            "log(TPM+1), taken back by exp(x)-1) and PREFIX.eval.svg (scatter plots of the first pairs, with the\n"
            "line y = x).\n\n"
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

typedef struct {
    int pred, obs;
    size_t n;
    double spearman, pearson, r2, fraction_r;
    size_t n_genes;
} pair_result;

typedef struct {
    const char *gene;
    size_t row;
} gene_row;

static int by_gene(const void *a, const void *b)
{
    const gene_row *x = a, *y = b;
    int c = strcmp(x->gene, y->gene);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

/* Pearson of within-gene fractions (genes with >= 2 isoforms having both values) of expression in linear
 * space: fractions of log values would not sum what the gene expresses. p: predictions, log(TPM+1), taken
 * back by exp(x) - 1; o: observed TPM. */
static double fraction_agreement(const iso_annotation *ann, const double *p, const double *o, size_t *n_genes)
{
    size_t n = ann->n, m = 0, k = 0;
    double *fp = malloc((n ? n : 1) * sizeof *fp), *fo = malloc((n ? n : 1) * sizeof *fo), r = NAN;
    gene_row *g = malloc((n ? n : 1) * sizeof *g);
    *n_genes = 0;
    if (fp && fo && g) {
        for (size_t i = 0; i < n; i++)
            if (isfinite(p[i]) && isfinite(o[i]))
                g[k++] = (gene_row){ann->tx[i].gene_id, i};
        qsort(g, k, sizeof *g, by_gene);
        for (size_t a = 0; a < k;) {
            size_t b = a;
            double sp = 0, so = 0;
            for (; b < k && !strcmp(g[b].gene, g[a].gene); b++) {
                fp[m + b - a] = fmax(expm1(p[g[b].row]), 0);
                fo[m + b - a] = fmax(o[g[b].row], 0);
                sp += fp[m + b - a];
                so += fo[m + b - a];
            }
            if (b - a >= 2 && sp > 0 && so > 0) {
                for (size_t j = m; j < m + (b - a); j++) {
                    fp[j] /= sp;
                    fo[j] /= so;
                }
                m += b - a;
                ++*n_genes;
            }
            a = b;
        }
        r = iso_pearson(fp, fo, m);
    }
    free(fp), free(fo), free(g);
    return r;
}

static void svg_escape(FILE *fp, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '&': fputs("&amp;", fp); break;
        default: fputc(*s, fp);
        }
}

static double nice_step(double span)
{
    double step = pow(10, floor(log10(span / 4)));
    return span / step > 20 ? step * 5 : span / step > 8 ? step * 2 : step;
}

/* One scatter panel of observed (y) against predicted (x), at (ox, oy), w x h pixels. */
static void svg_panel(FILE *fp, double ox, double oy, double w, double h, const double *x, const double *y,
                      size_t n, const char *title, const pair_result *r)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) {
            x0 = fmin(x0, x[i]), x1 = fmax(x1, x[i]), y0 = fmin(y0, y[i]), y1 = fmax(y1, y[i]);
        }
    if (!(x1 > x0))
        x0 -= 1, x1 += 1;
    if (!(y1 > y0))
        y0 -= 1, y1 += 1;
    double pad_x = (x1 - x0) * 0.05, pad_y = (y1 - y0) * 0.05;
    x0 -= pad_x, x1 += pad_x, y0 -= pad_y, y1 += pad_y;
    const double L = 60, R = 15, T = 40, B = 50, pw = w - L - R, ph = h - T - B;
#define PX(v) (ox + L + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (oy + T + ph - ((v) - y0) / (y1 - y0) * ph)
    fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" stroke=\"#444\"/>\n",
            ox + L, oy + T, pw, ph);
    double sx = nice_step(x1 - x0), sy = nice_step(y1 - y0);
    for (double t = ceil(x0 / sx) * sx; t <= x1; t += sx)
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%.1f\" "
                    "y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n",
                PX(t), oy + T, PX(t), oy + T + ph, PX(t), oy + T + ph + 15, fabs(t) < 1e-12 ? 0 : t);
    for (double t = ceil(y0 / sy) * sy; t <= y1; t += sy)
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%.1f\" "
                    "y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%g</text>\n",
                ox + L, PY(t), ox + L + pw, PY(t), ox + L - 5, PY(t) + 4, fabs(t) < 1e-12 ? 0 : t);
    /* y = x over the part of the panel where the two ranges overlap: the perfect prediction. */
    double lo = fmax(x0, y0), hi = fmin(x1, y1);
    if (hi > lo)
        fprintf(fp, "<line class=\"identity\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#d62728\" "
                    "stroke-dasharray=\"5 4\"/>\n",
                PX(lo), PY(lo), PX(hi), PY(hi));
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i]))
            fprintf(fp, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1f77b4\" fill-opacity=\"0.6\"/>\n", PX(x[i]),
                    PY(y[i]));
    fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" font-weight=\"bold\" text-anchor=\"middle\">",
            ox + L + pw / 2, oy + 18);
    svg_escape(fp, title);
    fprintf(fp, "</text>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">Spearman %.3f  "
                "Pearson %.3f  R\u00b2 %.3f  n=%zu</text>\n",
            ox + L + pw / 2, oy + 33, r->spearman, r->pearson, r->r2, r->n);
    fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">predicted</text>\n",
            ox + L + pw / 2, oy + h - 10);
    fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 %.1f "
                "%.1f)\">observed log(TPM+1)</text>\n",
            ox + 15, oy + T + ph / 2, ox + 15, oy + T + ph / 2);
#undef PX
#undef PY
}

static int parse_columns(const char *map, const iso_expression *pred, const iso_expression *obs, pair_result *pairs,
                         int *n_pairs)
{
    *n_pairs = 0;
    if (!map) {
        for (int i = 0; i < pred->n_cols; i++)
            for (int j = 0; j < obs->n_cols; j++)
                if (obs->n_cols == 1 || !strcmp(pred->col_names[i], obs->col_names[j]))
                    pairs[(*n_pairs)++] = (pair_result){.pred = i, .obs = j};
        return *n_pairs ? ISO_OK
                        : iso_error(ISO_EINVAL, "no prediction column has the name of an observed column: pass "
                                                "--columns PRED=OBS");
    }
    char *text = strdup(map), *save = NULL;
    int rc = text ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (char *item = text ? strtok_r(text, ",", &save) : NULL; rc == ISO_OK && item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        int pi = -1, oi = -1;
        if (eq) {
            *eq = '\0';
            for (int i = 0; i < pred->n_cols; i++)
                if (!strcmp(pred->col_names[i], item))
                    pi = i;
            for (int j = 0; j < obs->n_cols; j++)
                if (!strcmp(obs->col_names[j], eq + 1))
                    oi = j;
        }
        if (pi < 0 || oi < 0)
            rc = iso_error(ISO_EINVAL, "--columns: '%s%s%s' does not name a prediction and an observed column",
                           item, eq ? "=" : "", eq ? eq + 1 : "");
        else
            pairs[(*n_pairs)++] = (pair_result){.pred = pi, .obs = oi};
    }
    free(text);
    return rc;
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
    pair_result *pairs = NULL;
    double *x = NULL, *y = NULL, *ytpm = NULL; /* ytpm: observed in linear space, for isoform fractions */
    iso_out *tsv = NULL, *svg = NULL;
    int n_pairs = 0;
    if ((alias_path && (rc = iso_chrom_alias_load(alias_path, &alias)) < 0) ||
        (rc = gtf ? iso_annotation_read(gtf, alias, &ann) : cli_annotation_from_tsv(pred_path, &ann)) < 0 ||
        (rc = iso_expression_read(pred_path, ann, &pred)) < 0 ||
        (rc = iso_expression_read(obs_path, ann, &obs)) < 0)
        goto done;
    pairs = malloc((size_t)(pred->n_cols * obs->n_cols + 1) * sizeof *pairs);
    x = malloc((ann->n ? ann->n : 1) * sizeof *x);
    y = malloc((ann->n ? ann->n : 1) * sizeof *y);
    ytpm = malloc((ann->n ? ann->n : 1) * sizeof *ytpm);
    if (!pairs || !x || !y || !ytpm) {
        rc = iso_error(ISO_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = parse_columns(map, pred, obs, pairs, &n_pairs)) < 0)
        goto done;
    char path[4096], svg_path[4096];
    snprintf(path, sizeof path, "%s.eval.tsv", out);
    snprintf(svg_path, sizeof svg_path, "%s.eval.svg", out);
    if (!(tsv = iso_out_open(path)) || !(svg = iso_out_open(svg_path))) {
        rc = iso_last_status();
        goto done;
    }
    int panels = n_pairs < MAX_PANELS ? n_pairs : MAX_PANELS, cols = panels < 3 ? panels : 3;
    int rows_p = (panels + cols - 1) / cols;
    const double W = 420, H = 380;
    fprintf(iso_out_fp(svg), "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                             "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W * cols, H * rows_p);
    fputs("pred_column\tobs_column\tn\tspearman\tpearson\tr2\tisoform_fraction_r\tn_genes\n", iso_out_fp(tsv));
    for (int k = 0; k < n_pairs; k++) {
        pair_result *r = &pairs[k];
        r->n = 0;
        for (size_t i = 0; i < ann->n; i++) {
            x[i] = pred->values[i * pred->n_cols + r->pred];
            ytpm[i] = obs->values[i * obs->n_cols + r->obs];
            y[i] = obs->is_tpm && log1p_obs ? log1p(ytpm[i]) : ytpm[i];
            if (!obs->is_tpm) /* an isoformer TSV: log(TPM+1), like the predictions */
                ytpm[i] = expm1(ytpm[i]);
            r->n += isfinite(x[i]) && isfinite(y[i]);
        }
        r->spearman = iso_spearman(x, y, ann->n);
        r->pearson = iso_pearson(x, y, ann->n);
        r->r2 = iso_r2(x, y, ann->n);
        r->fraction_r = fraction_agreement(ann, x, ytpm, &r->n_genes);
        fprintf(iso_out_fp(tsv), "%s\t%s\t%zu\t%.6f\t%.6f\t%.6f\t%.6f\t%zu\n", pred->col_names[r->pred],
                obs->col_names[r->obs], r->n, r->spearman, r->pearson, r->r2, r->fraction_r, r->n_genes);
        if (k < panels) {
            char title[512];
            snprintf(title, sizeof title, "%s vs %s", pred->col_names[r->pred], obs->col_names[r->obs]);
            svg_panel(iso_out_fp(svg), W * (k % cols), H * (k / cols), W, H, x, y, ann->n, title, r);
        }
    }
    fputs("</svg>\n", iso_out_fp(svg));
    rc = iso_out_commit(svg);
    svg = NULL;
    if (rc >= 0) {
        rc = iso_out_commit(tsv);
        tsv = NULL;
        if (rc < 0)
            remove(svg_path); /* both or neither */
    }
done:
    iso_out_abort(tsv);
    iso_out_abort(svg);
    free(pairs);
    free(x);
    free(y);
    free(ytpm);
    iso_expression_free(pred);
    iso_expression_free(obs);
    iso_annotation_free(ann);
    iso_chrom_alias_free(alias);
    return rc < 0 ? cli_fail(CMD) : 0;
}
