/* The IsoFormer model: three encoders (Enformer on the DNA window, NT-v2 on the RNA tokens, ESM-2 on the
 * protein tokens), cross-attention fusion of the DNA embedding with the RNA and then the protein embeddings,
 * mean pooling over a window of the fused positions, and a two-layer head giving one value per tissue.
 *
 * Every dimension comes from config.json; tensors are found by name, with the encoders' key prefixes
 * discovered by pattern (the published checkpoint's top-level names are not documented). Points the published
 * description leaves uncertain are options with documented defaults (iso_model_options). */
#ifndef ISOFORMER_MODEL_H
#define ISOFORMER_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "isoformer/annotation.h"
#include "isoformer/backend.h"
#include "isoformer/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ISO_FUSION_SEQUENTIAL = 0, /* h1 = CA_rna(E_dna); h2 = CA_protein(h1)            (default) */
    ISO_FUSION_PARALLEL,       /* h2 = E_dna + dCA_rna(E_dna) + dCA_protein(E_dna)            */
} iso_fusion_mode;

/* What a transcript without a coding sequence gets as its protein input. */
typedef enum {
    ISO_NONCODING_EMPTY_PROTEIN = 0, /* the empty protein <cls><eos> through ESM-2 and the protein cross-attention,
                                        as the published model always takes a protein input            (default) */
    ISO_NONCODING_SKIP,              /* the protein cross-attention is skipped: its inner residual makes that the
                                        identity, so the fused embedding is the RNA block's output */
} iso_noncoding_mode;

typedef struct {
    iso_fusion_mode fusion;
    iso_noncoding_mode noncoding;
    int pool_start, pool_end;  /* fused rows averaged; -1: config pool_window_start/_end, else all rows */
    int head_act;              /* iso_act of the head's hidden layer; -1: config "head_activation", else SiLU */
    int rna_max_tokens;        /* 0: config num_tokens_per_seq_nuctf_rna, else 2048 (incl. <cls>) */
    int protein_max_tokens;    /* 0: config num_protein_tokens_per_seq, else 1026 (incl. <cls>/<eos>) */
    const char *normalization; /* TSV "tissue mean std" to de-standardise z-scored outputs, or NULL */
} iso_model_options;

ISO_API
void iso_model_options_default(iso_model_options *o);

typedef struct iso_model iso_model;

/* path: a model directory (config.json + model.safetensors or pytorch_model.bin) or a weights file with
 * config.json beside it. */
ISO_API
int iso_model_load(const char *path, iso_backend *be, const iso_model_options *opts, iso_model **out) ISO_RESULT;
ISO_API
void iso_model_free(iso_model *m);

typedef struct {
    int dna_window;   /* bp the Enformer expects */
    int dna_rows, dna_dim, rna_dim, protein_dim, fused_dim, n_outputs;
    int rna_max_tokens, protein_max_tokens;
    int pool_start, pool_end;
    uint64_t checksum; /* of the weights, for caches */
} iso_model_info;
ISO_API
void iso_model_get_info(const iso_model *m, iso_model_info *info);
/* ISO_OK when the DNA encoder takes windows of len bp, else ISO_EINVAL saying which lengths it takes. */
ISO_API
int iso_model_check_window(const iso_model *m, int64_t len) ISO_RESULT;
/* Names of the outputs (the 30 GTEx tissues for the published model; "output_<i>" otherwise). */
ISO_API
const char *iso_model_output_name(const iso_model *m, int i);
/* The cost of predicting with this model and a DNA window of `window` bp, from its layer shapes (forward
 * FLOPs), for balancing shards (iso_annotation_shard). */
ISO_API
void iso_model_costs(const iso_model *m, int64_t window, iso_cost_model *c);

/* An encoder output living on the backend, shared between transcripts (one per DNA window, per protein). */
typedef struct iso_embedding iso_embedding;
ISO_API
int iso_model_embed_dna(iso_model *m, const char *dna, int64_t len, iso_embedding **out) ISO_RESULT;
ISO_API
int iso_model_embed_rna(iso_model *m, const int32_t *ids, int n, iso_embedding **out) ISO_RESULT;
ISO_API
int iso_model_embed_protein(iso_model *m, const int32_t *ids, int n, iso_embedding **out) ISO_RESULT;
ISO_API
void iso_embedding_free(iso_model *m, iso_embedding *e);
ISO_API
int iso_embedding_rows(const iso_embedding *e);
ISO_API
int iso_embedding_cols(const iso_embedding *e);
/* Copies an embedding to the host (rows x cols floats, caller-sized). */
ISO_API
int iso_embedding_download(iso_model *m, const iso_embedding *e, float *host) ISO_RESULT;

/* ---- on-disk cache of encoder outputs ----
 * Keyed by (model checksum, backend and precision, encoder, the exact input: window bases or token ids), so a
 * rerun after an annotation edit, a crash or with another shard layout computes only what it has not seen.
 * Entries are written atomically with a checksummed header (model/cache_entry.h); an entry that is not exactly
 * what this run would compute (corrupt, truncated, foreign, another shape) is a miss with a warning, and is
 * recomputed and replaced. A cache that cannot be written costs a warning, never the run: open then fails only
 * for lack of memory. */
typedef enum { ISO_EMB_DNA, ISO_EMB_RNA, ISO_EMB_PROTEIN } iso_emb_kind;
typedef struct iso_emb_cache iso_emb_cache;
ISO_API
int iso_emb_cache_open(const char *dir, const iso_model *m, iso_emb_cache **out) ISO_RESULT;
ISO_API
void iso_emb_cache_close(iso_emb_cache *c);
/* Like iso_model_embed_dna/_rna/_protein (input: n bases of DNA, or n token ids), through the cache when c is
 * not NULL; *hit tells whether it came from the cache. */
ISO_API
int iso_model_embed_cached(iso_model *m, iso_emb_cache *c, iso_emb_kind kind, const void *input, int64_t n,
                           iso_embedding **out, int *hit) ISO_RESULT;

/* Encodes count token sequences (ids[i], n[i] tokens) with the RNA or protein encoder (kind ISO_EMB_RNA or
 * ISO_EMB_PROTEIN), giving out[i] as iso_model_embed_cached gives it for that sequence alone. Through the cache
 * when c is not NULL: hits are read, the misses computed and stored; hit[i] (hit may be NULL) tells which came
 * from the cache. The computed sequences are packed row-wise, in order, into forwards of at most max_tokens
 * tokens each (<= 0: ISO_EMBED_BATCH_TOKENS; a longer sequence goes alone), so every weight is streamed once
 * per forward and its GEMMs are large, while activation memory stays bounded by the budget. On error nothing
 * is returned (every out[i] NULL). */
#define ISO_EMBED_BATCH_TOKENS 8192
ISO_API
int iso_model_embed_batch(iso_model *m, iso_emb_cache *c, iso_emb_kind kind, int count, const int32_t *const *ids,
                          const int *n, int max_tokens, iso_embedding **out, int *hit) ISO_RESULT;

/* Fuses, pools and applies the head. protein may be NULL (no coding sequence): per the options' noncoding mode,
 * the empty protein's embedding takes its place (computed by the first such call and kept by the model), or the
 * protein cross-attention is skipped. pooled (fused_dim floats),
 * predictions (n_outputs floats) and fused (dna_rows x fused_dim, may be NULL) are host arrays. Without fused, only
 * the pool window's rows are fused (the others do not reach the predictions). */
ISO_API
int iso_model_predict(iso_model *m, const iso_embedding *dna, const iso_embedding *rna,
                      const iso_embedding *protein, float *pooled, float *predictions, float *fused) ISO_RESULT;

#ifdef __cplusplus
}
#endif
#endif
