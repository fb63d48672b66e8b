/* isoformer predict: the model on every selected transcript (the engine of isoformer/predict.h), written as
 * TSV, BED12 and bigWig tracks, with a journal for --resume. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "isoformer/annotation.h"
#include "isoformer/expression.h"
#include "isoformer/io.h"
#include "isoformer/manifest.h"
#include "isoformer/outputs.h"
#include "isoformer/predict.h"
#include "journal.h"
#include "predict_options.h"

#define CMD "predict"

/* The columns the tracks carry: the model's tissues, or the outputs of a fitted head. */
typedef struct {
    const char *const *names;
    int n;
    const float *values; /* n_sel x n */
    int n_predicted;      /* the first columns are predictions (observed ones follow): the BED score's */
} track_columns;

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
    *out = (track_columns){(const char *const *)*names, n, *values, base->n_predicted};
    return ISO_OK;
}

/* A row's pooled embedding, as the journal keeps it (iso_row_source's read). */
static int read_embedding(void *journal, size_t row, float *out) { return cli_journal_row(journal, row, out); }

/* The fitted head's outputs for every transcript's pooled embedding, read back a row at a time. */
static int apply_head(const iso_fitted_head *h, const cli_journal *journal, size_t n, float **out)
{
    float *e = malloc((size_t)h->dim * sizeof *e);
    double *x = malloc((size_t)h->dim * sizeof *x), *y = malloc((size_t)h->n_out * sizeof *y);
    *out = malloc((n ? n : 1) * (size_t)h->n_out * sizeof **out);
    int rc = e && x && y && *out ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (size_t i = 0; rc == ISO_OK && i < n; i++) {
        if ((rc = cli_journal_row(journal, i, e)) < 0)
            break;
        for (int k = 0; k < h->dim; k++)
            x[k] = e[k];
        iso_fitted_head_apply(h, x, y);
        for (int j = 0; j < h->n_out; j++)
            (*out)[i * h->n_out + j] = (float)y[j];
    }
    free(e), free(x), free(y);
    return rc;
}

/* Each transcript's results into the run's predictions and the journal (which keeps the embeddings on disk), as
 * the predictor delivers them. */
typedef struct {
    const size_t *todo_row; /* the predictor's index -> row of the selection */
    float *pred;
    int n_outputs;
    cli_journal *journal;
    cli_progress *progress;
} collector;

static int collect(void *arg, const iso_prediction *r)
{
    collector *c = arg;
    size_t row = c->todo_row[r->index];
    float *pr = c->pred + row * c->n_outputs;
    memcpy(pr, r->values, (size_t)c->n_outputs * sizeof *pr);
    cli_progress_step(c->progress, 1);
    int rc = cli_journal_add(c->journal, row, r->tx->transcript_id, pr, r->pooled);
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
    predict_options o;
    int rc = predict_parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if ((rc = cli_out_path(CMD, "--out", o.out)) != 0)
        return rc;
    cli_verbose(o.verbose);
    double t0 = cli_now();
    cli_inputs in;
    iso_predictor *pr = NULL;
    float *pred = NULL;
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
    done_rows = calloc(n_sel ? n_sel : 1, 1);
    todo = malloc((n_sel ? n_sel : 1) * sizeof *todo);
    todo_row = malloc((n_sel ? n_sel : 1) * sizeof *todo_row);
    if (!model_names || !pred || !done_rows || !todo || !todo_row) {
        rc = iso_error(ISO_ENOMEM, "out of memory for %zu transcripts", n_sel);
        goto done;
    }
    /* Everything the numbers depend on; a journal written under other settings is not resumed. */
    iso_predict_stats device;
    iso_predictor_stats(pr, &device);
    char norm[16] = "-", head_tag[16] = "-", signature[1024];
    if ((rc = cli_file_tag(o.pred.model.normalization, norm, sizeof norm)) < 0 ||
        (rc = cli_file_tag(o.head, head_tag, sizeof head_tag)) < 0)
        goto done;
    snprintf(signature, sizeof signature,
             "model=%016llx window=%lld revcomp=%d centre=%d fusion=%d pool=%d:%d head_act=%d rna=%d protein=%d "
             "normalization=%s embeddings=%d head=%s noncoding=%d backend=%s", (unsigned long long)info->checksum,
             (long long)iso_predictor_window(pr), o.pred.window.revcomp_minus, o.pred.gene_windows,
             (int)o.pred.model.fusion, info->pool_start, info->pool_end, o.pred.model.head_act, info->rna_max_tokens,
             info->protein_max_tokens, norm, o.embeddings || o.head, head_tag, (int)o.pred.model.noncoding, device.device);
    int emb_width = o.embeddings || o.head ? info->fused_dim : 0; /* a head needs the pooled embeddings */
    if ((rc = cli_journal_open(o.out, signature, o.resume, in.ann, in.sel, n_sel, pred, info->n_outputs, emb_width,
                               done_rows, &n_resumed, &journal)) < 0)
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
    collector col = {todo_row, pred, info->n_outputs, journal, &p};
    rc = iso_predictor_run(pr, todo, n_todo, collect, &col);
    cli_progress_end(&p);
    if (rc >= 0 && o.head)
        rc = apply_head(&head, journal, n_sel, &head_values);
    tracks = o.head ? (track_columns){(const char *const *)head.out_names, head.n_out, head_values, head.n_out}
                    : (track_columns){model_names, info->n_outputs, pred, info->n_outputs};
    if (rc >= 0 && observed)
        rc = add_observed(&tracks, observed, in.sel, n_sel, &tracks, &obs_names, &obs_values);
    iso_track_matrix m = {in.ann, in.sel, n_sel, tracks.names, tracks.n, tracks.values};
    char selection[1024];
    snprintf(selection, sizeof selection, "transcripts=%s region=%s", o.sel.transcripts ? o.sel.transcripts : "-",
             o.sel.region ? o.sel.region : "-");
    iso_manifest_info run = {"predict", signature, o.sel.transcripts || o.sel.region ? selection : NULL, o.sel.shard};
    iso_row_source embeddings = {info->fused_dim, read_embedding, journal};
    if (rc >= 0)
        rc = iso_write_predictions(o.out, &m, tracks.n_predicted, o.embeddings ? &embeddings : NULL, in.fa,
                                   o.bigwig_bin, &run);
    cli_journal_close(journal, rc >= 0); /* kept after a failure, for --resume */
    journal = NULL;
    if (rc >= 0 && o.verbose) /* the time from the first transcript to the last file */
        print_stats(pr, n_sel, n_resumed, t_load - t0, cli_now() - t_load, o.pred.prefetch);
done:
    cli_journal_close(journal, 0);
    cli_unlock_out(); /* the outputs are in place, or none of them */
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
    cli_inputs_free(&in);
    return rc < 0 ? cli_fail(CMD) : 0;
}
