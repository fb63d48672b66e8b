/* Tokenizers of the three modalities, exactly as the published IsoFormer tokenizer (Hugging Face EsmTokenizer
 * over its three vocab files) produces ids:
 *   DNA     A=0 C=1 G=2 T=3 N=4 (the model reads a one-hot: N is all-zero); other letters count as N.
 *   RNA     NT-v2: <cls> then 6-mers greedily from the left, the remainder of each ACGT run as single
 *           letters, every N its own token; no <eos>.
 *   protein ESM-2: <cls> residues <eos>.
 * As in EsmTokenizer, a run of letters outside the vocabulary becomes one <unk>.
 * Truncation keeps the special tokens and drops sequence from the right. */
#ifndef ISOFORMER_TOKENS_H
#define ISOFORMER_TOKENS_H

#include <stdint.h>

#include "isoformer/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    ISO_RNA_UNK = 0, ISO_RNA_PAD = 1, ISO_RNA_MASK = 2, ISO_RNA_CLS = 3, ISO_RNA_EOS = 4, ISO_RNA_BOS = 5,
    ISO_RNA_FIRST_KMER = 6, ISO_RNA_FIRST_SINGLE = 4102, ISO_RNA_VOCAB = 4107,
    ISO_PROT_CLS = 0, ISO_PROT_PAD = 1, ISO_PROT_EOS = 2, ISO_PROT_UNK = 3, ISO_PROT_MASK = 32,
    ISO_PROT_VOCAB = 33,
};

typedef struct {
    int32_t *ids; /* malloc'd */
    int n;
    int truncated; /* sequence tokens dropped to fit max_tokens */
} iso_tokens;

/* max_tokens counts the special tokens; <= 0 means no limit. Caller frees t->ids. */
ISO_API
int iso_tokenize_rna(const char *seq, int64_t len, int max_tokens, iso_tokens *t) ISO_RESULT;
ISO_API
int iso_tokenize_protein(const char *seq, int64_t len, int max_tokens, iso_tokens *t) ISO_RESULT;
/* DNA base id (0..4) of a letter. */
ISO_API
int iso_dna_id(char base);
ISO_API
void iso_tokens_free(iso_tokens *t);

/* DNA ids A=0 C=1 G=2 T=3 N=4 into ids[len]; any other byte is an error naming its 0-based position. */
ISO_API
int iso_dna_encode(const char *seq, int64_t len, uint8_t *ids) ISO_RESULT;
/* One-hot (len x 4, columns A C G T; N all-zero) into out[len * 4], as enformer-pytorch's
 * seq_indices_to_one_hot; other bytes are an error naming their position. */
ISO_API
int iso_dna_one_hot(const char *seq, int64_t len, float *out) ISO_RESULT;

/* Pads t on the right with <pad> (id 1 in both the RNA and protein vocabularies) up to length tokens (no-op
 * when t already has that many). */
#define ISO_TOKEN_PAD 1
ISO_API
int iso_tokens_pad(iso_tokens *t, int length) ISO_RESULT;
/* Attention mask as the model is called with it: mask[i] = ids[i] != <pad>. */
ISO_API
void iso_tokens_mask(const iso_tokens *t, uint8_t *mask);

/* Writes dna_vocab_list.txt, rna_vocab_list.txt and protein_vocab_list.txt (one token per line, id = line
 * number) into dir, atomically, for demo models and tokenizer tests. */
ISO_API
int iso_tokens_write_vocab(const char *dir) ISO_RESULT;

#ifdef __cplusplus
}
#endif
#endif
