/* Genes and sharding: transcripts grouped by gene id or locus; shards partition the annotation, keep genes whole,
 * balance the estimated cost, and depend only on the annotation's content (not its order). Annotations are built
 * by hand. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "isoformer/annotation.h"

#define N_GENES 60

/* The published model's costs as the architecture spec's FLOP tables (section 7) give them per unit: Enformer
 * ~3,250 GFLOP per window, NT-v2 ~0.5 per token (at most 2,048), ESM-2 ~0.35 (at most 1,026), ~90 per
 * transcript for the fusion. */
static const iso_cost_model costs = {.window = 3250, .transcript = 90, .rna = {0, 0.5, 0, 2048},
                                     .protein = {0, 0.35, 0, 1026}};

/* A deterministic annotation: gene g has 1..5 transcripts of varied exon and CDS lengths; every third gene is
 * non-coding. order[] permutes the transcripts (identity when NULL) so tests can reorder the same content. */
static iso_annotation *make_annotation(const size_t *order, size_t *n_out)
{
    static char ids[N_GENES * 5][2][32];
    static iso_interval exons[N_GENES * 5][2], cds[N_GENES * 5][1];
    size_t n = 0;
    unsigned seed = 12345;
    iso_transcript all[N_GENES * 5];
    for (int g = 0; g < N_GENES; g++) {
        int n_tx = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 5;
        for (int k = 0; k < n_tx; k++, n++) {
            int64_t len = 200 + ((seed = seed * 1103515245u + 12345u) >> 16) % 20000;
            snprintf(ids[n][0], sizeof ids[n][0], "TX%03d.%d", g, k);
            snprintf(ids[n][1], sizeof ids[n][1], "GENE%03d", g);
            exons[n][0] = (iso_interval){1000 * g, 1000 * g + 100};
            exons[n][1] = (iso_interval){1000 * g + 500, 1000 * g + 500 + len};
            cds[n][0] = (iso_interval){1000 * g + 510, 1000 * g + 510 + 3 * (len / 12)};
            all[n] = (iso_transcript){.transcript_id = ids[n][0], .gene_id = ids[n][1], .chrom = "chr1",
                                      .strand = '+', .exons = exons[n], .n_exons = 2, .cds = cds[n],
                                      .n_cds = g % 3 ? 1 : 0};
        }
    }
    iso_annotation *a = calloc(1, sizeof *a);
    a->tx = calloc(n, sizeof *a->tx);
    a->n = n;
    for (size_t i = 0; i < n; i++)
        a->tx[i] = all[order ? order[i] : i];
    *n_out = n;
    return a;
}

static void free_annotation(iso_annotation *a)
{
    free(a->tx);
    free(a);
}

/* shard_of[i] = shard of transcript i, checking each transcript appears in exactly one shard and rows ascend. */
static void assign(const iso_annotation *a, int n_shards, int *shard_of)
{
    for (size_t i = 0; i < a->n; i++)
        shard_of[i] = -1;
    for (int s = 0; s < n_shards; s++) {
        size_t *rows, n_rows;
        ck_assert_int_eq(iso_annotation_shard(a, &costs, s, n_shards, &rows, &n_rows), ISO_OK);
        for (size_t r = 0; r < n_rows; r++) {
            ck_assert_uint_lt(rows[r], a->n);
            if (r > 0)
                ck_assert_uint_gt(rows[r], rows[r - 1]);
            ck_assert_msg(shard_of[rows[r]] == -1, "transcript %zu in shards %d and %d", rows[r],
                          shard_of[rows[r]], s);
            shard_of[rows[r]] = s;
        }
        free(rows);
    }
    for (size_t i = 0; i < a->n; i++)
        ck_assert_msg(shard_of[i] >= 0, "transcript %zu in no shard", i);
}

START_TEST(partition_whole_genes_balanced)
{
    size_t n;
    iso_annotation *a = make_annotation(NULL, &n);
    int *shard_of = malloc(n * sizeof *shard_of);
    for (int n_shards = 1; n_shards <= 9; n_shards++) {
        assign(a, n_shards, shard_of);
        for (size_t i = 1; i < n; i++)
            if (!strcmp(a->tx[i].gene_id, a->tx[i - 1].gene_id))
                ck_assert_int_eq(shard_of[i], shard_of[i - 1]);
        /* Greedy dealing of the costliest gene first bounds the spread by the costliest gene. */
        double load[9] = {0}, max_gene = 0;
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && !strcmp(a->tx[j].gene_id, a->tx[i].gene_id))
                j++;
            size_t idx[5];
            for (size_t k = i; k < j; k++)
                idx[k - i] = k;
            double c = iso_gene_cost(a, idx, j - i, &costs);
            load[shard_of[i]] += c;
            if (c > max_gene)
                max_gene = c;
            i = j;
        }
        double lo = load[0], hi = load[0];
        for (int s = 1; s < n_shards; s++) {
            lo = load[s] < lo ? load[s] : lo;
            hi = load[s] > hi ? load[s] : hi;
        }
        ck_assert_msg(hi - lo <= max_gene, "%d shards: loads %.0f..%.0f differ by more than the largest gene %.0f",
                      n_shards, lo, hi, max_gene);
        if (n_shards <= 4)
            ck_assert_msg(hi <= 1.15 * lo, "%d shards unbalanced: %.0f vs %.0f", n_shards, lo, hi);
    }
    free(shard_of);
    free_annotation(a);
}
END_TEST

START_TEST(independent_of_annotation_order)
{
    size_t n;
    iso_annotation *a = make_annotation(NULL, &n);
    size_t *rev = malloc(n * sizeof *rev);
    for (size_t i = 0; i < n; i++)
        rev[i] = n - 1 - i;
    iso_annotation *b = make_annotation(rev, &n);
    int *sa = malloc(n * sizeof *sa), *sb = malloc(n * sizeof *sb);
    assign(a, 5, sa);
    assign(b, 5, sb);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(sa[i], sb[n - 1 - i]);
    free(sa), free(sb), free(rev);
    free_annotation(a);
    free_annotation(b);
}
END_TEST

START_TEST(cost_by_hand)
{
    iso_interval ex[2] = {{0, 400}, {1000, 1200}}, cd[1] = {{100, 400}};
    iso_transcript t[2] = {{.transcript_id = "A", .gene_id = "G", .exons = ex, .n_exons = 2, .cds = cd, .n_cds = 1},
                           {.transcript_id = "B", .gene_id = "G", .exons = ex, .n_exons = 1}};
    iso_annotation a = {.tx = t, .n = 2};
    size_t both[2] = {0, 1};
    /* A: 600 nt -> 1 + 100 RNA tokens, 300 CDS nt -> 2 + 100 protein tokens; B: 400 nt -> 1 + 67, no protein. */
    ck_assert_double_eq_tol(iso_gene_cost(&a, both, 2, &costs), 3250 + 90 + 0.5 * 101 + 0.35 * 102 + 90 + 0.5 * 68,
                            1e-9);
    /* Token caps, fixed and quadratic parts. */
    iso_cost_model c = {.window = 1, .transcript = 2, .rna = {10, 1, 0.5, 50}, .protein = {20, 0, 1, 60}};
    ck_assert_double_eq_tol(iso_gene_cost(&a, both, 2, &c),
                            1 + 2 + 10 + 50 + 0.5 * 50 * 50 + 20 + 60 * 60 + 2 + 10 + 50 + 0.5 * 50 * 50, 1e-9);
}
END_TEST

START_TEST(transcripts_without_gene_and_bad_arguments)
{
    iso_interval ex[1] = {{0, 100}};
    iso_transcript t[3] = {{.transcript_id = "A", .exons = ex, .n_exons = 1},
                           {.transcript_id = "B", .exons = ex, .n_exons = 1},
                           {.transcript_id = "C", .exons = ex, .n_exons = 1}};
    iso_annotation a = {.tx = t, .n = 3};
    int shard_of[3];
    assign(&a, 3, shard_of);
    ck_assert(shard_of[0] != shard_of[1] && shard_of[1] != shard_of[2] && shard_of[0] != shard_of[2]);
    size_t *rows, n_rows;
    ck_assert_int_eq(iso_annotation_shard(&a, &costs, 3, 3, &rows, &n_rows), ISO_EINVAL);
    ck_assert_ptr_null(rows);
    ck_assert_int_eq(iso_annotation_shard(&a, &costs, 0, 0, &rows, &n_rows), ISO_EINVAL);
    ck_assert_int_eq(iso_annotation_shard(&a, &costs, -1, 2, &rows, &n_rows), ISO_EINVAL);
    assign(&a, 5, shard_of); /* more shards than genes: some are empty */
}
END_TEST

START_TEST(genes_by_id_and_locus)
{
    iso_interval ex[1] = {{0, 100}};
    /* G1 on chr1 '+' twice and on chr2; G0 once; a transcript without gene. */
    iso_transcript t[5] = {{.transcript_id = "a", .gene_id = "G1", .chrom = "chr2", .strand = '+'},
                           {.transcript_id = "b", .gene_id = "G1", .chrom = "chr1", .strand = '+'},
                           {.transcript_id = "c", .gene_id = "G0", .chrom = "chr2", .strand = '-'},
                           {.transcript_id = "d", .gene_id = NULL, .chrom = "chr1", .strand = '+'},
                           {.transcript_id = "e", .gene_id = "G1", .chrom = "chr1", .strand = '+'}};
    for (int i = 0; i < 5; i++)
        t[i].exons = ex, t[i].n_exons = 1;
    iso_annotation a = {.tx = t, .n = 5};
    iso_genes g;
    ck_assert_int_eq(iso_annotation_genes(&a, NULL, 0, ISO_GENES_BY_ID, &g), ISO_OK);
    /* G0 | G1: a b e | d (keyed by its transcript id) */
    size_t want_id[] = {2, 0, 1, 4, 3}, want_first[] = {0, 1, 4, 5};
    ck_assert_uint_eq(g.n_genes, 3);
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(g.idx[i], want_id[i]);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(g.first[i], want_first[i]);
    iso_genes_free(&g);
    /* By locus, rows in a given order: positions in rows come back, genes by contig, gene, strand. */
    size_t rows[] = {4, 0, 2, 1};
    ck_assert_int_eq(iso_annotation_genes(&a, rows, 4, ISO_GENES_BY_LOCUS, &g), ISO_OK);
    /* chr1 G1 +: e b (positions 0, 3) | chr2 G0 -: c (2) | chr2 G1 +: a (1) */
    size_t want_locus[] = {0, 3, 2, 1}, want_lfirst[] = {0, 2, 3, 4};
    ck_assert_uint_eq(g.n_genes, 3);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(g.idx[i], want_locus[i]);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(g.first[i], want_lfirst[i]);
    iso_genes_free(&g);
    ck_assert_int_eq(iso_annotation_genes(&a, rows, 0, ISO_GENES_BY_LOCUS, &g), ISO_OK);
    ck_assert_uint_eq(g.n_genes, 0);
    ck_assert_uint_eq(g.first[0], 0);
    iso_genes_free(&g);
    /* the readers store a missing gene_id as "": each such transcript is still a gene of its own (they were all
     * one gene, so predict --gene-windows gave one its neighbour's window 299 kb away) */
    t[0].gene_id = t[2].gene_id = "";
    ck_assert_int_eq(iso_annotation_genes(&a, NULL, 0, ISO_GENES_BY_ID, &g), ISO_OK);
    ck_assert_uint_eq(g.n_genes, 4); /* G1: b e | a | c | d */
    iso_genes_free(&g);
}
END_TEST

START_TEST(parse_shard_spec)
{
    int i = -1, n = -1;
    ck_assert_int_eq(iso_shard_parse("1/1", &i, &n), ISO_OK);
    ck_assert(i == 0 && n == 1);
    ck_assert_int_eq(iso_shard_parse("8/8", &i, &n), ISO_OK);
    ck_assert(i == 7 && n == 8);
    const char *bad[] = {"0/4", "5/4", "1/0", "-1/4", "1/", "/4", "1", "1/4x", "a/b", "", "1/-4", "1/ 4",
                         "1/99999999999"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_msg(iso_shard_parse(bad[k], &i, &n) == ISO_EINVAL, "accepted '%s'", bad[k]);
        ck_assert_ptr_nonnull(strstr(iso_last_error(), "expected i/n"));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shard");
    TCase *tc = tcase_create("shard");
    tcase_add_test(tc, partition_whole_genes_balanced);
    tcase_add_test(tc, independent_of_annotation_order);
    tcase_add_test(tc, cost_by_hand);
    tcase_add_test(tc, transcripts_without_gene_and_bad_arguments);
    tcase_add_test(tc, genes_by_id_and_locus);
    tcase_add_test(tc, parse_shard_spec);
    suite_add_tcase(s, tc);
    return iso_run_suite(s);
}
