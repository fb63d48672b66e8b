/* The prediction engine through its public API on test-data with the demo model: every transcript delivered once
 * with its position in the rows given, in any order of rows; the values equal to those of the model's own calls
 * on one transcript's inputs (no window, protein or batch shared); the same with and without the prefetch thread;
 * a callback's error stops the run with its status; gene windows centre a gene's windows on its most 5' TSS. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "isoformer/predict.h"
#include "isoformer/tokens.h"

typedef struct {
    iso_annotation *ann;
    iso_fasta *fa;
    iso_chrom_alias *alias;
} inputs;

static inputs load(void)
{
    inputs in = {0};
    ck_assert_int_eq(iso_chrom_alias_load(ISO_TEST_DATA "/chromAlias.txt", &in.alias), ISO_OK);
    ck_assert_int_eq(iso_annotation_read(ISO_TEST_DATA "/annotation.gtf", in.alias, &in.ann), ISO_OK);
    ck_assert_ptr_nonnull(in.fa = iso_fasta_open(ISO_TEST_DATA "/genome.fa.gz"));
    return in;
}

static void unload(inputs *in)
{
    iso_fasta_close(in->fa);
    iso_annotation_free(in->ann);
    iso_chrom_alias_free(in->alias);
}

static iso_predictor *open_predictor(const inputs *in, int prefetch, int gene_windows)
{
    iso_predict_opts o;
    iso_predict_opts_default(&o);
    o.device = "cpu";
    o.n_threads = 1;
    o.prefetch = prefetch;
    o.gene_windows = gene_windows;
    iso_predictor *p;
    ck_assert_msg(iso_predictor_open(ISO_TEST_DATA "/demo-model", in->fa, in->ann, &o, &p) == ISO_OK, "%s",
                  iso_last_error());
    return p;
}

/* Each delivered row's values by position; stops with ISO_EINTERRUPTED after `stop_after` rows (0: never). */
typedef struct {
    const size_t *rows;
    const iso_annotation *ann;
    int n_out, calls, stop_after;
    float *values;
    int *seen;
} collected;

static int collect(void *arg, const iso_prediction *r)
{
    collected *c = arg;
    ck_assert_ptr_eq(r->tx, &c->ann->tx[c->rows ? c->rows[r->index] : r->index]);
    c->seen[r->index]++;
    memcpy(c->values + r->index * c->n_out, r->values, (size_t)c->n_out * sizeof *r->values);
    if (++c->calls == c->stop_after)
        return iso_error(ISO_EINTERRUPTED, "stopped by the test");
    return ISO_OK;
}

static float *run_rows(iso_predictor *p, const inputs *in, const size_t *rows, size_t n)
{
    int n_out = iso_predictor_info(p)->n_outputs;
    collected c = {rows, in->ann, n_out, 0, 0, calloc(n * n_out, sizeof(float)), calloc(n, sizeof(int))};
    ck_assert_int_eq(iso_predictor_run(p, rows, n, collect, &c), ISO_OK);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(c.seen[i], 1);
    free(c.seen);
    return c.values;
}

/* One transcript alone through the model's own calls. */
static void predict_alone(iso_predictor *p, const inputs *in, const iso_transcript *tx, float *out)
{
    iso_model *m = iso_predictor_model(p);
    const iso_model_info *info = iso_predictor_info(p);
    iso_window_opts w = {.window = iso_predictor_window(p)};
    char *dna, *rna, *protein;
    unsigned flags = 0;
    iso_tokens rt, pt = {0};
    iso_embedding *e_dna, *e_rna, *e_prot = NULL;
    ck_assert_int_eq(iso_extract_dna(in->fa, tx, &w, &dna), ISO_OK);
    ck_assert_int_eq(iso_extract_rna(in->fa, tx, &rna), ISO_OK);
    ck_assert_int_eq(iso_extract_protein(in->fa, tx, &protein, &flags), ISO_OK);
    ck_assert_int_eq(iso_tokenize_rna(rna, (int64_t)strlen(rna), info->rna_max_tokens, &rt), ISO_OK);
    ck_assert_int_eq(iso_model_embed_dna(m, dna, (int64_t)strlen(dna), &e_dna), ISO_OK);
    ck_assert_int_eq(iso_model_embed_rna(m, rt.ids, rt.n, &e_rna), ISO_OK);
    if (protein[0]) {
        ck_assert_int_eq(iso_tokenize_protein(protein, (int64_t)strlen(protein), info->protein_max_tokens, &pt),
                         ISO_OK);
        ck_assert_int_eq(iso_model_embed_protein(m, pt.ids, pt.n, &e_prot), ISO_OK);
    }
    float *pooled = malloc((size_t)info->fused_dim * sizeof *pooled);
    ck_assert_int_eq(iso_model_predict(m, e_dna, e_rna, e_prot, pooled, out, NULL), ISO_OK);
    free(pooled);
    iso_embedding_free(m, e_dna);
    iso_embedding_free(m, e_rna);
    iso_embedding_free(m, e_prot);
    iso_tokens_free(&rt);
    iso_tokens_free(&pt);
    free(dna), free(rna), free(protein);
}

START_TEST(every_row_once_as_alone)
{
    inputs in = load();
    iso_predictor *p = open_predictor(&in, 4, 0);
    int n_out = iso_predictor_info(p)->n_outputs;
    size_t n = in.ann->n, *rows = malloc(n * sizeof *rows);
    for (size_t i = 0; i < n; i++)
        rows[i] = n - 1 - i; /* any order */
    float *got = run_rows(p, &in, rows, n), *want = malloc((size_t)n_out * sizeof *want);
    for (size_t i = 0; i < n; i++) {
        predict_alone(p, &in, &in.ann->tx[rows[i]], want);
        for (int j = 0; j < n_out; j++)
            ck_assert_msg(fabsf(got[i * n_out + j] - want[j]) <= 1e-5f * (1 + fabsf(want[j])), "%s output %d: %g vs %g",
                          in.ann->tx[rows[i]].transcript_id, j, got[i * n_out + j], want[j]);
    }
    /* the prefetch thread changes when inputs are read, not the arithmetic */
    iso_predictor *q = open_predictor(&in, 0, 0);
    float *again = run_rows(q, &in, rows, n);
    ck_assert_int_eq(memcmp(got, again, n * (size_t)n_out * sizeof *got), 0);
    iso_predict_stats s;
    iso_predictor_stats(q, &s);
    ck_assert_str_eq(s.device, "cpu:fp32");
    ck_assert_uint_eq(s.windows + s.windows_reused, n);
    ck_assert_uint_gt(s.proteins, 0);
    /* memory handed back between runs: the next run maps its blocks afresh and predicts the same */
    iso_backend *be = iso_predictor_backend(q);
    ck_assert_str_eq(iso_backend_key(be), "cpu:fp32");
    ck_assert_uint_gt(iso_backend_cached_bytes(be), 0);
    ck_assert_int_eq(iso_backend_release_cached(be), ISO_OK);
    ck_assert_uint_eq(iso_backend_cached_bytes(be), 0);
    float *third = run_rows(q, &in, rows, n);
    ck_assert_int_eq(memcmp(got, third, n * (size_t)n_out * sizeof *got), 0);
    free(third);
    free(got), free(again), free(want), free(rows);
    iso_predictor_close(q);
    iso_predictor_close(p);
    unload(&in);
}
END_TEST

START_TEST(callback_error_stops_the_run)
{
    inputs in = load();
    iso_predictor *p = open_predictor(&in, 2, 0);
    int n_out = iso_predictor_info(p)->n_outputs;
    collected c = {NULL, in.ann, n_out, 0, 2, calloc(in.ann->n * n_out, sizeof(float)), calloc(in.ann->n, sizeof(int))};
    ck_assert_int_eq(iso_predictor_run(p, NULL, 0, collect, &c), ISO_EINTERRUPTED);
    ck_assert_int_eq(c.calls, 2);
    ck_assert_str_eq(iso_last_error(), "stopped by the test");
    /* the predictor is usable after a stopped run */
    c.stop_after = 0;
    c.calls = 0;
    ck_assert_int_eq(iso_predictor_run(p, NULL, 0, collect, &c), ISO_OK);
    ck_assert_int_eq(c.calls, (int)in.ann->n);
    free(c.values), free(c.seen);
    iso_predictor_close(p);
    unload(&in);
}
END_TEST

START_TEST(gene_windows_share_one_window)
{
    inputs in = load(); /* BCAS1: one gene, minus strand, isoforms with several TSSs */
    iso_predictor *p = open_predictor(&in, 4, 1);
    float *v = run_rows(p, &in, NULL, in.ann->n);
    iso_predict_stats s;
    iso_predictor_stats(p, &s);
    ck_assert_uint_eq(s.windows, 1);
    ck_assert_uint_eq(s.windows_reused, in.ann->n - 1);
    /* every transcript alone, centred on the gene's most 5' TSS (the largest on '-') */
    int64_t tss = 0;
    for (size_t i = 0; i < in.ann->n; i++)
        tss = in.ann->tx[i].tss > tss ? in.ann->tx[i].tss : tss;
    int n_out = iso_predictor_info(p)->n_outputs;
    float *want = malloc((size_t)n_out * sizeof *want);
    for (size_t i = 0; i < in.ann->n; i++) {
        iso_transcript t = in.ann->tx[i];
        t.tss = tss;
        predict_alone(p, &in, &t, want);
        for (int j = 0; j < n_out; j++)
            ck_assert(fabsf(v[i * n_out + j] - want[j]) <= 1e-5f * (1 + fabsf(want[j])));
    }
    free(v), free(want);
    iso_predictor_close(p);
    unload(&in);
}
END_TEST

START_TEST(bad_model_is_an_error)
{
    inputs in = load();
    iso_predict_opts o;
    iso_predict_opts_default(&o);
    o.device = "cpu";
    iso_predictor *p = (iso_predictor *)&o;
    ck_assert_int_lt(iso_predictor_open(ISO_TEST_DATA "/no-such-model", in.fa, in.ann, &o, &p), 0);
    ck_assert_ptr_null(p);
    iso_predictor_close(NULL);
    unload(&in);
}
END_TEST

START_TEST(rows_out_of_range_are_an_error)
{
    inputs in = load();
    iso_predictor *p = open_predictor(&in, 0, 0);
    const size_t n = in.ann->n, rows[] = {0, n};
    char want[128];
    snprintf(want, sizeof want, "row %zu is out of range: the annotation has %zu transcripts", n, n);
    ck_assert_int_eq(iso_predictor_run(p, rows, 2, collect, NULL), ISO_EINVAL);
    ck_assert_str_eq(iso_last_error(), want);
    iso_genes g;
    ck_assert_int_eq(iso_annotation_genes(in.ann, rows, 2, ISO_GENES_BY_LOCUS, &g), ISO_EINVAL);
    ck_assert_str_eq(iso_last_error(), want);
    iso_genes_free(&g); /* left empty: freeing it is harmless */
    iso_predictor_close(p);
    unload(&in);
}
END_TEST

/* Embeddings of another encoder's shape (arguments swapped) are refused, not read past their end; so are negative
 * token counts and kinds outside iso_emb_kind. */
/* Model options outside their enums or limits are refused at load (fusion 7 ran as parallel, head_act 99 changed
 * the numbers, all without a word). */
START_TEST(model_options_out_of_range)
{
    iso_backend *be;
    ck_assert_int_eq(iso_backend_create("cpu", 1, ISO_PREC_FP32, &be), ISO_OK);
    iso_model *m = NULL;
    for (int k = 0; k < 5; k++) {
        iso_model_options o;
        iso_model_options_default(&o);
        if (k == 0) o.fusion = (iso_fusion_mode)7;
        if (k == 1) o.noncoding = (iso_noncoding_mode)9;
        if (k == 2) o.head_act = 99;
        if (k == 3) o.protein_max_tokens = 2;
        if (k == 4) o.rna_max_tokens = -1;
        ck_assert_int_eq(iso_model_load(ISO_TEST_DATA "/demo-model", be, &o, &m), ISO_EINVAL);
        ck_assert_ptr_null(m);
    }
    ck_assert_int_eq(iso_model_load(ISO_TEST_DATA "/demo-model", be, NULL, &m), ISO_OK);
    iso_model_free(m);
    iso_backend_destroy(be);
    /* a DNA window the trunk cannot take is refused when the predictor opens, not at the first transcript */
    inputs in = load();
    static const int64_t bad_windows[] = {-5, 1, 128, 2049};
    for (int k = 0; k < 4; k++) {
        iso_predict_opts o;
        iso_predict_opts_default(&o);
        o.device = "cpu";
        o.window.window = bad_windows[k];
        iso_predictor *p = NULL;
        ck_assert_int_eq(iso_predictor_open(ISO_TEST_DATA "/demo-model", in.fa, in.ann, &o, &p), ISO_EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_msg(strstr(iso_last_error(), "DNA window of"), "%s", iso_last_error());
    }
    unload(&in);
}
END_TEST

START_TEST(embedding_shapes_and_counts_are_checked)
{
    inputs in = load();
    iso_predictor *p = open_predictor(&in, 0, 0);
    iso_model *m = iso_predictor_model(p);
    const iso_model_info *info = iso_predictor_info(p);
    char *dna = malloc((size_t)iso_predictor_window(p) + 1);
    memset(dna, 'A', (size_t)iso_predictor_window(p));
    dna[iso_predictor_window(p)] = '\0';
    const int32_t rna_ids[] = {3, 5, 6, 7, 8, 9, 10, 11}, prot_ids[] = {ISO_PROT_CLS, 5, 6, 7, ISO_PROT_EOS};
    iso_embedding *e_dna, *e_rna, *e_prot, *e = (iso_embedding *)1;
    ck_assert_int_eq(iso_model_embed_dna(m, dna, iso_predictor_window(p), &e_dna), ISO_OK);
    ck_assert_int_eq(iso_model_embed_rna(m, rna_ids, 8, &e_rna), ISO_OK);
    ck_assert_int_eq(iso_model_embed_protein(m, prot_ids, 5, &e_prot), ISO_OK);
    float *pooled = malloc((size_t)info->fused_dim * sizeof *pooled), *out = malloc((size_t)info->n_outputs * 4);
    ck_assert_int_eq(iso_model_predict(m, e_rna, e_dna, e_prot, pooled, out, NULL), ISO_EINVAL);
    ck_assert_msg(strstr(iso_last_error(), "DNA embedding is 8 x"), "%s", iso_last_error());
    ck_assert_int_eq(iso_model_predict(m, e_dna, e_prot, e_rna, pooled, out, NULL), ISO_EINVAL);
    ck_assert_msg(strstr(iso_last_error(), "RNA embedding is 5 x"), "%s", iso_last_error());
    ck_assert_int_eq(iso_model_predict(m, e_dna, e_rna, e_dna, pooled, out, NULL), ISO_EINVAL);
    ck_assert_msg(strstr(iso_last_error(), "protein embedding is"), "%s", iso_last_error());
    ck_assert_int_eq(iso_model_predict(m, e_dna, e_rna, e_prot, pooled, out, NULL), ISO_OK);
    ck_assert_int_eq(iso_model_embed_rna(m, rna_ids, -1, &e), ISO_EINVAL);
    ck_assert_ptr_null(e);
    ck_assert_int_eq(iso_model_embed_protein(m, prot_ids, -5, &e), ISO_EINVAL);
    ck_assert_int_eq(iso_model_embed_protein(m, prot_ids, 0, &e), ISO_EINVAL);
    int hit;
    ck_assert_int_eq(iso_model_embed_cached(m, NULL, (iso_emb_kind)7, prot_ids, 5, &e, &hit), ISO_EINVAL);
    ck_assert_int_eq(iso_model_embed_cached(m, NULL, ISO_EMB_RNA, rna_ids, -1, &e, &hit), ISO_EINVAL);
    const int32_t *ids[] = {rna_ids};
    const int lens[] = {8};
    ck_assert_int_eq(iso_model_embed_batch(m, NULL, ISO_EMB_RNA, -1, ids, lens, 0, &e, NULL), ISO_EINVAL);
    free(pooled), free(out), free(dna);
    iso_embedding_free(m, e_dna);
    iso_embedding_free(m, e_rna);
    iso_embedding_free(m, e_prot);
    iso_predictor_close(p);
    unload(&in);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("predict");
    TCase *tc = tcase_create("predict");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_row_once_as_alone);
    tcase_add_test(tc, callback_error_stops_the_run);
    tcase_add_test(tc, gene_windows_share_one_window);
    tcase_add_test(tc, bad_model_is_an_error);
    tcase_add_test(tc, rows_out_of_range_are_an_error);
    tcase_add_test(tc, embedding_shapes_and_counts_are_checked);
    tcase_add_test(tc, model_options_out_of_range);
    suite_add_tcase(s, tc);
    return iso_run_suite(s);
}
