/* Tokenizers: DNA ids and one-hot, NT-v2 RNA and ESM-2 protein ids on the spec's worked examples, truncation,
 * padding and masks, and the vocab files' layout. Exact agreement with transformers' EsmTokenizer on many
 * sequences is tests/parity/test_tokenizers.py. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isoformer/tokens.h"

/* NT-v2 6-mer id from the spec's definition: 6 + base-4 index over itertools.product("ATCG", repeat=6). */
static int kmer_id(const char *k)
{
    int id = 0;
    for (int i = 0; i < 6; i++)
        id = id * 4 + (int)(strchr("ATCG", k[i]) - "ATCG");
    return 6 + id;
}

static void expect_ids(const iso_tokens *t, const int32_t *want, int n)
{
    ck_assert_int_eq(t->n, n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(t->ids[i] == want[i], "token %d: got %d, want %d", i, t->ids[i], want[i]);
}

START_TEST(dna_ids_and_errors)
{
    uint8_t ids[8];
    ck_assert_int_eq(iso_dna_encode("ACGTN", 5, ids), ISO_OK);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(ids[i], i);
    ck_assert_int_eq(iso_dna_encode("ACGTaC", 6, ids), ISO_EINVAL);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "position 4"));
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "'a'"));
    ck_assert_int_eq(iso_dna_encode("ACR", 3, ids), ISO_EINVAL);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "position 2"));
}
END_TEST

START_TEST(dna_one_hot)
{
    float oh[6 * 4];
    ck_assert_int_eq(iso_dna_one_hot("TGCANA", 6, oh), ISO_OK);
    const int hot[6] = {3, 2, 1, 0, -1, 0}; /* columns A C G T; N all-zero */
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < 4; k++)
            ck_assert_float_eq(oh[i * 4 + k], k == hot[i] ? 1.0f : 0.0f);
    ck_assert_int_eq(iso_dna_one_hot("AC-", 3, oh), ISO_EINVAL);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "position 2"));
}
END_TEST

START_TEST(rna_spec_examples)
{
    iso_tokens t;
    /* Spec §1.3: ATTCCGGTTTTCA -> ATTCCG GTTTTC A, after <cls>, no <eos>. */
    ck_assert_int_eq(iso_tokenize_rna("ATTCCGGTTTTCA", 13, 0, &t), ISO_OK);
    expect_ids(&t, (int32_t[]){ISO_RNA_CLS, kmer_id("ATTCCG"), kmer_id("GTTTTC"), 4102}, 4);
    iso_tokens_free(&t);
    ck_assert_int_eq(kmer_id("AAAAAA"), 6);
    ck_assert_int_eq(kmer_id("AAAAAC"), 8);
    /* N splits the sequence: each piece restarts its 6-mers; remainders as singles A=4102 T C G N=4106. */
    ck_assert_int_eq(iso_tokenize_rna("AAAAANCCCCCCG", 13, 0, &t), ISO_OK);
    expect_ids(&t, (int32_t[]){3, 4102, 4102, 4102, 4102, 4102, 4106, kmer_id("CCCCCC"), 4105}, 9);
    iso_tokens_free(&t);
    /* Truncation keeps <cls> and drops from the right. */
    ck_assert_int_eq(iso_tokenize_rna("ACGTACGTACGTAC", 14, 3, &t), ISO_OK);
    expect_ids(&t, (int32_t[]){3, kmer_id("ACGTAC"), kmer_id("GTACGT")}, 3);
    ck_assert_int_eq(t.truncated, 1);
    iso_tokens_free(&t);
}
END_TEST

START_TEST(protein_specials_truncation_unknown)
{
    iso_tokens t;
    ck_assert_int_eq(iso_tokenize_protein("MKLC", 4, 0, &t), ISO_OK);
    expect_ids(&t, (int32_t[]){ISO_PROT_CLS, 20, 15, 4, 23, ISO_PROT_EOS}, 6);
    iso_tokens_free(&t);
    ck_assert_int_eq(iso_tokenize_protein("MKLC", 4, 4, &t), ISO_OK);
    expect_ids(&t, (int32_t[]){0, 20, 15, 2}, 4);
    ck_assert_int_eq(t.truncated, 1);
    iso_tokens_free(&t);
    /* '*' is outside the vocabulary: <unk> (a run of such letters is one <unk>, as EsmTokenizer does). */
    ck_assert_int_eq(iso_tokenize_protein("M*A", 3, 0, &t), ISO_OK);
    expect_ids(&t, (int32_t[]){0, 20, ISO_PROT_UNK, 5, 2}, 5);
    iso_tokens_free(&t);
}
END_TEST

START_TEST(padding_and_mask)
{
    iso_tokens t;
    uint8_t mask[10];
    ck_assert_int_eq(iso_tokenize_protein("MA", 2, 0, &t), ISO_OK);
    ck_assert_int_eq(iso_tokens_pad(&t, 7), ISO_OK);
    expect_ids(&t, (int32_t[]){0, 20, 5, 2, 1, 1, 1}, 7);
    iso_tokens_mask(&t, mask);
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(mask[i], i < 4);
    ck_assert_int_eq(iso_tokens_pad(&t, 3), ISO_OK); /* already longer: unchanged */
    ck_assert_int_eq(t.n, 7);
    iso_tokens_free(&t);
    ck_assert_int_eq(iso_tokenize_rna("GATTACA", 7, 0, &t), ISO_OK);
    ck_assert_int_eq(iso_tokens_pad(&t, 5), ISO_OK);
    expect_ids(&t, (int32_t[]){3, kmer_id("GATTAC"), 4102, 1, 1}, 5);
    iso_tokens_mask(&t, mask);
    ck_assert(mask[2] && !mask[3] && !mask[4]);
    iso_tokens_free(&t);
}
END_TEST

/* Reads a vocab file's lines (without newlines) into a static array; returns the count. */
static int read_vocab(const char *name, char lines[][16], int cap)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", ISO_TEST_TMP, name);
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    int n = 0;
    while (n < cap && fgets(lines[n], 16, fp)) {
        lines[n][strcspn(lines[n], "\n")] = '\0';
        n++;
    }
    fclose(fp);
    return n;
}

START_TEST(vocab_files)
{
    static char lines[5000][16];
    ck_assert_int_eq(iso_tokens_write_vocab(ISO_TEST_TMP), ISO_OK);
    ck_assert_int_eq(read_vocab("dna_vocab_list.txt", lines, 5000), 6);
    ck_assert_str_eq(lines[4], "N");
    ck_assert_str_eq(lines[5], "<unk>");
    ck_assert_int_eq(read_vocab("rna_vocab_list.txt", lines, 5000), ISO_RNA_VOCAB);
    ck_assert_str_eq(lines[3], "<cls>");
    ck_assert_str_eq(lines[6], "AAAAAA");
    ck_assert_str_eq(lines[7], "AAAAAT");
    ck_assert_str_eq(lines[kmer_id("GATTAC")], "GATTAC");
    ck_assert_str_eq(lines[4105], "G");
    ck_assert_str_eq(lines[4106], "N");
    ck_assert_int_eq(read_vocab("protein_vocab_list.txt", lines, 5000), 34);
    ck_assert_str_eq(lines[4], "L");
    ck_assert_str_eq(lines[30], "-");
    ck_assert_str_eq(lines[ISO_PROT_MASK], "<mask>");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tokens");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, dna_ids_and_errors);
    tcase_add_test(tc, dna_one_hot);
    tcase_add_test(tc, rna_spec_examples);
    tcase_add_test(tc, protein_specials_truncation_unknown);
    tcase_add_test(tc, padding_and_mask);
    tcase_add_test(tc, vocab_files);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
