#include "isoformer/tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isoformer/io.h"

/* NT-v2 6-mers are numbered in itertools.product("ATCG", repeat=6) order: base-4 digits A=0 T=1 C=2 G=3. */
static int nt_digit(char c)
{
    switch (c) {
    case 'A': return 0;
    case 'T': return 1;
    case 'C': return 2;
    case 'G': return 3;
    default: return -1;
    }
}

static const char nt_letters[] = "ATCGN"; /* single-letter tokens 4102.. in this order */
static const char prot_letters[] = "LAGVSERTIDPKQNFYMHWCXBUZO.-"; /* ids 4.. */

int iso_dna_id(char base)
{
    switch (base) {
    case 'A': return 0;
    case 'C': return 1;
    case 'G': return 2;
    case 'T': return 3;
    default: return 4;
    }
}

/* Strict DNA id: A=0 C=1 G=2 T=3 N=4, -1 for anything else. */
static int dna_strict_id(char base)
{
    return base == 'N' ? 4 : iso_dna_id(base) < 4 ? iso_dna_id(base) : -1;
}

static int bad_base(const char *seq, int64_t pos)
{
    unsigned char c = (unsigned char)seq[pos];
    return iso_error(ISO_EINVAL, "DNA position %lld: expected A, C, G, T or N (uppercase), got '%c' (byte 0x%02x)",
                     (long long)pos, c >= 0x20 && c < 0x7f ? c : '?', c);
}

int iso_dna_encode(const char *seq, int64_t len, uint8_t *ids)
{
    for (int64_t i = 0; i < len; i++) {
        int id = dna_strict_id(seq[i]);
        if (id < 0)
            return bad_base(seq, i);
        ids[i] = (uint8_t)id;
    }
    return ISO_OK;
}

int iso_dna_one_hot(const char *seq, int64_t len, float *out)
{
    for (int64_t i = 0; i < len; i++) {
        int id = dna_strict_id(seq[i]);
        if (id < 0)
            return bad_base(seq, i);
        for (int k = 0; k < 4; k++)
            out[i * 4 + k] = k == id ? 1.0f : 0.0f;
    }
    return ISO_OK;
}

static int alloc_ids(iso_tokens *t, int64_t n)
{
    t->n = 0;
    t->truncated = 0;
    if (n > INT32_MAX || !(t->ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *t->ids)))
        return iso_error(ISO_ENOMEM, "out of memory tokenizing %lld tokens", (long long)n);
    return ISO_OK;
}

int iso_tokenize_rna(const char *seq, int64_t len, int max_tokens, iso_tokens *t)
{
    int rc = alloc_ids(t, len + 1);
    if (rc != ISO_OK)
        return rc;
    t->ids[t->n++] = ISO_RNA_CLS;
    int64_t i = 0;
    while (i < len) {
        /* A run of ACGT: 6-mers from its start, then singles for the remainder. */
        int64_t run = 0;
        while (i + run < len && nt_digit(seq[i + run]) >= 0)
            run++;
        int64_t end = i + run - run % 6;
        for (; i < end; i += 6) {
            int id = 0;
            for (int k = 0; k < 6; k++)
                id = id * 4 + nt_digit(seq[i + k]);
            t->ids[t->n++] = ISO_RNA_FIRST_KMER + id;
        }
        for (; i < end + run % 6; i++)
            t->ids[t->n++] = ISO_RNA_FIRST_SINGLE + nt_digit(seq[i]);
        if (i < len && seq[i] == 'N') {
            t->ids[t->n++] = ISO_RNA_FIRST_SINGLE + 4;
            i++;
        } else if (i < len) { /* a run of letters outside the vocabulary is one <unk>, as in EsmTokenizer */
            t->ids[t->n++] = ISO_RNA_UNK;
            while (i < len && nt_digit(seq[i]) < 0 && seq[i] != 'N')
                i++;
        }
    }
    if (max_tokens > 0 && t->n > max_tokens) {
        t->n = max_tokens;
        t->truncated = 1;
    }
    return ISO_OK;
}

int iso_tokenize_protein(const char *seq, int64_t len, int max_tokens, iso_tokens *t)
{
    int rc = alloc_ids(t, len + 2);
    if (rc != ISO_OK)
        return rc;
    t->ids[t->n++] = ISO_PROT_CLS;
    for (int64_t i = 0; i < len; i++) {
        const char *p = seq[i] ? strchr(prot_letters, seq[i]) : NULL;
        if (p)
            t->ids[t->n++] = 4 + (int32_t)(p - prot_letters);
        else if (t->ids[t->n - 1] != ISO_PROT_UNK)
            t->ids[t->n++] = ISO_PROT_UNK; /* a run of unknown letters is one <unk>, as in EsmTokenizer */
    }
    if (max_tokens > 0 && t->n + 1 > max_tokens) {
        t->n = max_tokens > 1 ? max_tokens - 1 : 1;
        t->truncated = 1;
    }
    t->ids[t->n++] = ISO_PROT_EOS;
    return ISO_OK;
}

int iso_tokens_pad(iso_tokens *t, int length)
{
    if (t->n >= length)
        return ISO_OK;
    int32_t *ids = realloc(t->ids, (size_t)length * sizeof *ids);
    if (!ids)
        return iso_error(ISO_ENOMEM, "out of memory padding %d tokens to %d", t->n, length);
    t->ids = ids;
    while (t->n < length)
        t->ids[t->n++] = ISO_TOKEN_PAD;
    return ISO_OK;
}

void iso_tokens_mask(const iso_tokens *t, uint8_t *mask)
{
    for (int i = 0; i < t->n; i++)
        mask[i] = t->ids[i] != ISO_TOKEN_PAD;
}

void iso_tokens_free(iso_tokens *t)
{
    free(t->ids);
    t->ids = NULL;
    t->n = 0;
}

static int write_vocab_file(const char *dir, const char *name, int (*emit)(FILE *))
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    iso_out *o = iso_out_open(path);
    if (!o)
        return iso_last_status();
    if (emit(iso_out_fp(o)) < 0) {
        iso_out_abort(o);
        return iso_error(ISO_EIO, "%s: write failed", path);
    }
    return iso_out_commit(o);
}

static int emit_dna(FILE *fp) { return fputs("A\nC\nG\nT\nN\n<unk>\n", fp); }

static int emit_rna(FILE *fp)
{
    int bad = fputs("<unk>\n<pad>\n<mask>\n<cls>\n<eos>\n<bos>\n", fp) < 0;
    for (int id = 0; id < 4096 && !bad; id++) {
        char kmer[8];
        for (int k = 5, v = id; k >= 0; k--, v /= 4)
            kmer[k] = nt_letters[v % 4];
        kmer[6] = '\n';
        kmer[7] = '\0';
        bad = fputs(kmer, fp) < 0;
    }
    for (int k = 0; k < 5 && !bad; k++)
        bad = fprintf(fp, "%c\n", nt_letters[k]) < 0;
    return bad ? -1 : 0;
}

static int emit_protein(FILE *fp)
{
    int bad = fputs("<cls>\n<pad>\n<eos>\n<unk>\n", fp) < 0;
    for (const char *p = prot_letters; *p && !bad; p++)
        bad = fprintf(fp, "%c\n", *p) < 0;
    return bad || fputs("<null_1>\n<mask>\n<bos>\n", fp) < 0 ? -1 : 0;
}

int iso_tokens_write_vocab(const char *dir)
{
    int rc = write_vocab_file(dir, "dna_vocab_list.txt", emit_dna);
    if (rc == ISO_OK)
        rc = write_vocab_file(dir, "rna_vocab_list.txt", emit_rna);
    if (rc == ISO_OK)
        rc = write_vocab_file(dir, "protein_vocab_list.txt", emit_protein);
    return rc;
}
