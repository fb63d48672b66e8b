/* The prediction engine: every selected transcript of an annotation through the model, in an order that lets
 * transcripts share work. Transcripts are taken gene by gene and, within a gene, by DNA window, so each
 * distinct window goes through the DNA encoder once and each distinct protein of a gene through the protein
 * encoder once; a gene's RNAs may be packed into shared forwards; a second thread reads and tokenizes the
 * sequences of the next genes while the model runs. The values are those of predicting each transcript on
 * its own.
 *
 *     iso_predict_opts o;
 *     iso_predict_opts_default(&o);
 *     iso_predictor *p;
 *     if (iso_predictor_open("model-dir", fa, ann, &o, &p) < 0) { fprintf(stderr, "%s\n", iso_last_error()); ... }
 *     int rc = iso_predictor_run(p, rows, n_rows, on_row, user_data); // on_row gets each transcript's values
 *     iso_predictor_close(p);
 *
 * Errors are a negative iso_status with the message in iso_last_error() (of the calling thread). */
#ifndef ISOFORMER_PREDICT_H
#define ISOFORMER_PREDICT_H

#include <stddef.h>
#include <stdint.h>

#include "isoformer/annotation.h"
#include "isoformer/backend.h"
#include "isoformer/error.h"
#include "isoformer/io.h"
#include "isoformer/model.h"
#include "isoformer/sequences.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *device;        /* "cpu", "cuda" or "cuda:N"; NULL: a GPU when one is present, else the CPU */
    int n_threads;             /* CPU threads; <= 0: all cores */
    int precision;             /* iso_precision of the GEMMs; -1 (default): bf16 on a GPU, fp32 on the CPU */
    iso_model_options model;   /* the model's documented choices (iso_model_options_default) */
    iso_window_opts window;    /* window.window 0: the model's DNA window */
    int gene_windows;          /* centre all of a gene's windows on its most 5' TSS (one DNA run per gene) */
    int prefetch;              /* genes whose inputs a second thread prepares ahead (default 4; 0: no thread) */
    int batch_tokens;          /* a gene's RNAs packed into forwards of up to this many tokens; 0: one at a
                                  time; -1 (default): ISO_EMBED_BATCH_TOKENS on a GPU, 0 on the CPU */
    const char *cache_dir;     /* keep encoder outputs in this directory across runs, or NULL */
    int sync_stage_times;      /* wait for a queued (GPU) backend before reading each stage's clock: right stage
                                  times in iso_predict_stats, at the cost of the overlap (for -v) */
} iso_predict_opts;

ISO_API
void iso_predict_opts_default(iso_predict_opts *o);

typedef struct iso_predictor iso_predictor;

/* Loads the model at model_path (a directory with config.json and model.safetensors or pytorch_model.bin) on
 * the device of opts. fa and ann are borrowed: they must outlive the predictor, and fa is used by no other
 * thread while iso_predictor_run works. */
ISO_API
int iso_predictor_open(const char *model_path, iso_fasta *fa, const iso_annotation *ann,
                       const iso_predict_opts *opts, iso_predictor **out) ISO_RESULT;
ISO_API
void iso_predictor_close(iso_predictor *p);

/* The model's dimensions (n_outputs values and fused_dim pooled embedding values per transcript). */
ISO_API
const iso_model_info *iso_predictor_info(const iso_predictor *p);
/* Name of output j (a GTEx tissue for the published model). */
ISO_API
const char *iso_predictor_output_name(const iso_predictor *p, int j);
/* The loaded model, for callers that run its encoders themselves. */
ISO_API
iso_model *iso_predictor_model(iso_predictor *p);
/* The backend it computes on (owned by the predictor): its memory figures, and iso_backend_release_cached between
 * runs when other code in the process needs the device's memory. */
ISO_API
iso_backend *iso_predictor_backend(iso_predictor *p);
/* The DNA window, in bp, the predictor uses (the option, else the model's). */
ISO_API
int64_t iso_predictor_window(const iso_predictor *p);
/* What predicting costs with this model and window, for iso_annotation_shard. */
ISO_API
void iso_predictor_costs(const iso_predictor *p, iso_cost_model *c);

/* One transcript's results, valid during the callback. */
typedef struct {
    size_t index;              /* position in the rows given to iso_predictor_run (rows NULL: in the annotation) */
    const iso_transcript *tx;  /* the annotation's transcript */
    const float *values;       /* info->n_outputs predictions */
    const float *pooled;       /* info->fused_dim: the pooled fused embedding */
} iso_prediction;

/* Receives each transcript's results; a negative return stops the run, which returns it (record the message
 * with iso_error). */
typedef int (*iso_prediction_fn)(void *arg, const iso_prediction *r);

/* Predicts the transcripts rows[0..n_rows) (indices into the annotation; rows NULL: every transcript, n_rows
 * ignored), calling fn once for each, in the predictor's order (by gene and window, not the order of rows), on
 * the calling thread. */
ISO_API
int iso_predictor_run(iso_predictor *p, const size_t *rows, size_t n_rows, iso_prediction_fn fn,
                      void *arg) ISO_RESULT;

/* What the runs so far did and where the time went (seconds of wall time). */
typedef struct {
    const char *device;        /* the backend and its precision: "cpu:fp32", "cuda:bf16" */
    size_t windows, windows_reused, proteins, proteins_reused, rna_truncated, protein_truncated, cache_hits;
    double t_inputs;           /* reading and tokenizing sequences (on the prefetch thread when there is one) */
    double t_wait;             /* the model waiting for inputs */
    double t_dna, t_rna, t_protein, t_fuse;
    size_t peak_bytes;         /* activation memory on the device */
    /* Kept by backends that run synchronously (the CPU): FLOP and seconds inside GEMMs and attention. */
    double gemm_flop, gemm_seconds, attention_flop, attention_seconds;
} iso_predict_stats;
ISO_API
void iso_predictor_stats(const iso_predictor *p, iso_predict_stats *s);

#ifdef __cplusplus
}
#endif
#endif
