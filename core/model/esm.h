/* ESM-style transformer encoders: ESM-2 (protein) and Nucleotide Transformer v2 (RNA) share the Hugging Face
 * EsmModel layout — pre-LN layers, rotary attention with biased q/k/v/o, a final LayerNorm — and differ in the
 * feed-forward (ESM-2: Linear-GELU(erf)-Linear with bias; NT-v2: gated SiLU without bias, intermediate weight
 * [2F, d]) and in ESM-2's token-dropout rescaling of the embeddings. */
#ifndef ISOFORMER_MODEL_ESM_H
#define ISOFORMER_MODEL_ESM_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend_impl.h"
#include "isoformer/weights.h"

typedef struct {
    int hidden, layers, heads, intermediate, vocab;
    int glu_ffn;       /* NT-v2 gated SiLU FFN */
    int ffn_bias;      /* biases on the FFN linears */
    int token_dropout; /* ESM-2: embeddings * 0.88 / (1 - observed mask ratio), <mask> rows zeroed */
    int mask_token_id;
    float ln_eps;
} iso_esm_hparams;

typedef struct iso_esm iso_esm;

/* The published encoders' geometry, used for keys config.json leaves out. */
extern const iso_esm_hparams iso_esm2_150m_hparams;
extern const iso_esm_hparams iso_ntv2_250m_hparams;

/* Reads hparams from config.json keys "<p>hidden_size", "<p>num_hidden_layers", "<p>num_attention_heads",
 * "<p>intermediate_size", "<p>vocab_size", "<p>add_bias_fnn", "<p>token_dropout", "<p>mask_token_id",
 * "<p>layer_norm_eps" for key prefix p ("esm_" or "nt_"), with the given defaults for absent keys. */
int iso_esm_hparams_from_config(const iso_config *c, const char *key_prefix, iso_esm_hparams *hp) ISO_RESULT;
/* prefix: the tensor-name prefix before "embeddings.word_embeddings.weight" (e.g. "esm.esm."). */
int iso_esm_load(const iso_weights *w, const char *prefix, const iso_esm_hparams *hp, iso_backend *be,
                 iso_esm **out) ISO_RESULT;
/* Encodes T real tokens (no padding: padded positions never change real rows, so they are never computed).
 * out: backend buffer of T x hidden, the last hidden state after the final LayerNorm. */
int iso_esm_forward(iso_esm *m, const int32_t *ids, int T, float *out) ISO_RESULT;
/* Encodes n_seqs sequences packed row-wise ("varlen" batching, no padding): sequence s is ids[offsets[s],
 * offsets[s + 1]), offsets[0] = 0, each at least one token; out (backend, offsets[n_seqs] x hidden) gets each
 * sequence's rows at the same offsets, bit for bit as iso_esm_forward on that sequence alone gives them on the
 * same backend and thread count. The element-wise and row-wise stages run once over all rows; GEMMs, rotary,
 * attention and ESM-2's token-dropout scale per sequence. Activation memory grows with offsets[n_seqs]; bound it
 * with iso_esm_pack_count. */
int iso_esm_forward_packed(iso_esm *m, const int32_t *ids, const int *offsets, int n_seqs, float *out) ISO_RESULT;
/* How many of the count leading sequences (lengths[] tokens) one packed forward takes under a budget of
 * max_tokens: as many as fit, and at least one (a sequence longer than the budget goes alone). */
int iso_esm_pack_count(const int *lengths, int count, int64_t max_tokens);
/* ISO_EINVAL naming the first of the T ids outside the vocabulary, if any (the forwards check too). */
int iso_esm_check_ids(const iso_esm *m, const int32_t *ids, int T) ISO_RESULT;
int iso_esm_hidden(const iso_esm *m);
void iso_esm_free(iso_esm *m);
/* Forward FLOPs for T tokens of one sequence (multiply-adds counted as 2); a packed forward costs the sum over
 * its sequences. */
double iso_esm_flops(const iso_esm *m, int T);

#endif
