/* eval's SVG report: a title, every pair's Spearman and Pearson in a summary strip, and scatter plots of
 * observed against predicted on one shared scale, so the line y = x (perfect agreement) always crosses the
 * whole panel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expression/expression_internal.h"
#include "isoformer/outputs.h"

#define MAX_SCATTERS 9 /* all pairs up to this many; beyond, the best, median and worst */

static void metric(char *buf, size_t size, const char *name, double v)
{
    if (isfinite(v))
        snprintf(buf, size, "%s %.3f", name, v);
    else
        snprintf(buf, size, "%s NA", name);
}

/* One scatter panel at (ox, oy), w x h pixels: both axes over the range the two value sets span together. */
static void scatter(FILE *fp, double ox, double oy, double w, double h, const double *x, const double *y, size_t n,
                    const char *title, const iso_eval_pair *r, const char *xlab, const char *ylab)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i]))
            lo = fmin(lo, fmin(x[i], y[i])), hi = fmax(hi, fmax(x[i], y[i]));
    if (!(hi > lo)) /* no pair, or one value */
        lo = isfinite(lo) ? lo - 1 : 0, hi = isfinite(hi) ? hi + 1 : 1;
    double pad = (hi - lo) * 0.05;
    lo -= pad, hi += pad;
    const double L = 60, R = 15, T = 40, B = 50, pw = w - L - R, ph = h - T - B;
#define PX(v) (ox + L + ((v) - lo) / (hi - lo) * pw)
#define PY(v) (oy + T + ph - ((v) - lo) / (hi - lo) * ph)
    fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" stroke=\"#444\"/>\n",
            ox + L, oy + T, pw, ph);
    double step = iso_svg_step(hi - lo);
    for (double t = ceil(lo / step) * step; t <= hi; t += step)
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%.1f\" "
                    "y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n",
                PX(t), oy + T, PX(t), oy + T + ph, PX(t), oy + T + ph + 15, fabs(t) < 1e-12 ? 0 : t);
    for (double t = ceil(lo / step) * step; t <= hi; t += step)
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%.1f\" "
                    "y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%g</text>\n",
                ox + L, PY(t), ox + L + pw, PY(t), ox + L - 5, PY(t) + 4, fabs(t) < 1e-12 ? 0 : t);
    fprintf(fp, "<line class=\"identity\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#d62728\" "
                "stroke-dasharray=\"5 4\"/>\n", PX(lo), PY(lo), PX(hi), PY(hi));
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i]))
            fprintf(fp, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1f77b4\" fill-opacity=\"0.6\"/>\n", PX(x[i]),
                    PY(y[i]));
#undef PX
#undef PY
    char line[256], a[64], b[64], c[64];
    iso_svg_text(fp, ox + L + pw / 2, oy + 18, 13, "middle", " font-weight=\"bold\"", title);
    metric(a, sizeof a, "Spearman", r->spearman);
    metric(b, sizeof b, "Pearson", r->pearson);
    metric(c, sizeof c, "R\u00b2(y=x)", r->r2);
    snprintf(line, sizeof line, "%s  %s  %s  n=%zu", a, b, c, r->n);
    iso_svg_text(fp, ox + L + pw / 2, oy + 33, 11, "middle", "", line);
    iso_svg_text(fp, ox + L + pw / 2, oy + h - 10, 12, "middle", "", xlab);
    snprintf(line, sizeof line, " transform=\"rotate(-90 %.1f %.1f)\"", ox + 15, oy + T + ph / 2);
    iso_svg_text(fp, ox + 15, oy + T + ph / 2, 12, "middle", line, ylab);
}

/* Every pair as a dot of Spearman and one of Pearson on a -1..1 axis, sorted by Spearman. */
static void summary(FILE *fp, double ox, double oy, double w, double h, const iso_eval_pair *pairs, const int *order,
                    int n)
{
    const double L = 60, R = 15, T = 30, B = 25, pw = w - L - R, ph = h - T - B;
    fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fafafa\"/>\n", ox + L, oy + T, pw,
            ph);
    for (int v = -1; v <= 1; v++) {
        double py = oy + T + ph * (1 - (v + 1) / 2.0);
        char label[8];
        snprintf(label, sizeof label, "%d", v);
        fprintf(fp, "<path d=\"M%.1f %.1fH%.1f\" stroke=\"#ccc\"/>\n", ox + L, py, ox + L + pw);
        iso_svg_text(fp, ox + L - 5, py + 4, 11, "end", "", label);
    }
    for (int k = 0; k < n; k++) {
        const iso_eval_pair *p = &pairs[order[k]];
        double px = ox + L + pw * (k + 0.5) / n;
        if (isfinite(p->spearman))
            fprintf(fp, "<circle class=\"summary-spearman\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1f77b4\"/>\n", px,
                    oy + T + ph * (1 - (p->spearman + 1) / 2));
        if (isfinite(p->pearson))
            fprintf(fp, "<circle class=\"summary-pearson\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#ff7f0e\"/>\n", px,
                    oy + T + ph * (1 - (p->pearson + 1) / 2));
    }
    iso_svg_text(fp, ox + L, oy + 18, 12, "start", "",
         "Every pair, sorted by Spearman (blue); Pearson in orange. All values in PREFIX.eval.tsv");
    iso_svg_text(fp, ox + L + pw / 2, oy + h - 5, 11, "middle", "", "pairs (prediction column vs observed column)");
}

typedef struct {
    double rho; /* -2 when undefined: last */
    int k;
} by_rho;

static int by_spearman(const void *a, const void *b)
{
    const by_rho *x = a, *y = b;
    if (x->rho != y->rho)
        return (x->rho < y->rho) - (x->rho > y->rho);
    return (x->k > y->k) - (x->k < y->k);
}

int eval_svg(FILE *fp, const iso_annotation *ann, const iso_expression *pred, const iso_expression *obs,
             int log1p_obs, const iso_eval_pair *pairs, int n_pairs, eval_values_fn values, void *ctx, double *x,
             double *y)
{
    int *order = malloc((size_t)(n_pairs ? n_pairs : 1) * sizeof *order);
    by_rho *keys = malloc((size_t)(n_pairs ? n_pairs : 1) * sizeof *keys);
    if (!order || !keys) {
        free(order), free(keys);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    for (int k = 0; k < n_pairs; k++)
        keys[k] = (by_rho){isfinite(pairs[k].spearman) ? pairs[k].spearman : -2, k};
    qsort(keys, (size_t)n_pairs, sizeof *keys, by_spearman);
    for (int k = 0; k < n_pairs; k++)
        order[k] = keys[k].k;
    free(keys);
    /* The scatter plots: every pair, or the best, the median and the worst by Spearman. */
    int shown[MAX_SCATTERS], n_shown = 0;
    if (n_pairs <= MAX_SCATTERS)
        for (int k = 0; k < n_pairs; k++)
            shown[n_shown++] = k;
    else {
        shown[0] = order[0], shown[1] = order[n_pairs / 2], shown[2] = order[n_pairs - 1];
        n_shown = 3;
    }
    const double W = 420, H = 380, SUM = 170, HEAD = 60;
    int cols = n_shown < 3 ? n_shown : 3, rows = (n_shown + cols - 1) / cols;
    double width = W * (cols > 2 ? cols : 2);
    iso_svg_begin(fp, width, HEAD + SUM + H * rows + 50);
    char line[1024];
    snprintf(line, sizeof line, "isoformer eval: predicted vs observed expression, %d pair%s, %zu transcripts", n_pairs,
             n_pairs == 1 ? "" : "s", ann->n);
    iso_svg_text(fp, width / 2, 24, 16, "middle", " font-weight=\"bold\"", line);
    snprintf(line, sizeof line, "%s of %d pairs shown as scatter plots%s", n_shown == n_pairs ? "All" : "3",
             n_pairs, n_shown == n_pairs ? "" : ": highest, median and lowest Spearman");
    iso_svg_text(fp, width / 2, 44, 12, "middle", "", line);
    summary(fp, 0, HEAD, width, SUM, pairs, order, n_pairs);
    const char *ylab = obs->is_tpm && log1p_obs ? "observed log(TPM+1)" : obs->is_tpm ? "observed TPM"
                                                                                     : "observed log(TPM+1)";
    int rc = ISO_OK;
    for (int s = 0; s < n_shown && rc == ISO_OK; s++) {
        const iso_eval_pair *r = &pairs[shown[s]];
        if ((rc = values(ctx, shown[s], x, y)) != ISO_OK)
            break;
        snprintf(line, sizeof line, "%s vs %s", pred->col_names[r->pred], obs->col_names[r->obs]);
        scatter(fp, W * (s % cols), HEAD + SUM + H * (s / cols), W, H, x, y, ann->n, line, r,
                "predicted (model output: log(TPM+1) when normalised)", ylab);
    }
    iso_svg_text(fp, 10, HEAD + SUM + H * rows + 20, 11, "start", "",
         "Dashed red: y = x, prediction equal to observation (both axes share one scale).");
    iso_svg_text(fp, 10, HEAD + SUM + H * rows + 36, 11, "start", "",
         "R\u00b2(y=x) = 1 - sum(obs - pred)\u00b2 / sum(obs - mean obs)\u00b2: agreement with y = x itself; negative "
         "when the scales differ, even if the ranks agree (Spearman).");
    fputs("</svg>\n", fp);
    free(order);
    return rc;
}
