/* Expression importers (every format, id matching, duplicates, wide GCT, StringTie FPKM -> TPM), the agreement
 * metrics against scipy, and the ridge head on planted exact signals. */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "isoformer/expression.h"
#include "test_files.h"

/* Four transcripts in two genes; versions on some ids, none on ENST03. */
static const char *const GTF =
    "chr1\tt\texon\t1\t100\t.\t+\t.\tgene_id \"ENSG01.1\"; transcript_id \"ENST01.1\";\n"
    "chr1\tt\texon\t201\t300\t.\t+\t.\tgene_id \"ENSG01.1\"; transcript_id \"ENST02.3\";\n"
    "chr1\tt\texon\t401\t500\t.\t+\t.\tgene_id \"ENSG02\"; transcript_id \"ENST03\";\n"
    "chr1\tt\texon\t601\t700\t.\t+\t.\tgene_id \"ENSG02\"; transcript_id \"ENST04.2\";\n";

static iso_annotation *ann;

static void setup(void)
{
    ck_assert_int_eq(iso_annotation_read(test_file("expr.gtf", GTF), NULL, &ann), ISO_OK);
    ck_assert_uint_eq(ann->n, 4);
}

static void teardown(void)
{
    iso_annotation_free(ann);
}

static iso_expression *read_ok(const char *name, const char *content)
{
    iso_expression *e = NULL;
    int rc = iso_expression_read(test_file(name, content), ann, &e);
    ck_assert_msg(rc == ISO_OK, "%s: %s", name, iso_last_error());
    return e;
}

/* Fails with an ISO_EFORMAT message containing every one of the NULL-terminated fragments. */
static void read_fails(const char *name, const char *content, ...)
{
    iso_expression *e = NULL;
    ck_assert_int_eq(iso_expression_read(test_file(name, content), ann, &e), ISO_EFORMAT);
    ck_assert_ptr_null(e);
    va_list ap;
    va_start(ap, content);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        ck_assert_msg(strstr(iso_last_error(), frag), "'%s' not in: %s", frag, iso_last_error());
    va_end(ap);
}

START_TEST(salmon_versions_either_side)
{
    /* ENST02 (file unversioned, annotation .3), ENST03.4 (file versioned, annotation bare), ENST99 unknown. */
    iso_expression *e = read_ok("q.sf", "Name\tLength\tEffectiveLength\tTPM\tNumReads\n"
                                        "ENST01.1\t100\t80\t10.5\t3\n"
                                        "ENST02\t100\t80\t2.25\t1\n"
                                        "ENST03.4\t100\t80\t7\t2\n"
                                        "ENST99.1\t100\t80\t5\t2\n");
    ck_assert_int_eq(e->format, ISO_EXPR_SALMON);
    ck_assert_int_eq(e->is_tpm, 1);
    ck_assert_int_eq(e->n_cols, 1);
    ck_assert_str_eq(e->col_names[0], "TPM");
    ck_assert_float_eq(e->values[0], 10.5f);
    ck_assert_float_eq(e->values[1], 2.25f);
    ck_assert_float_eq(e->values[2], 7.0f);
    ck_assert(isnan(e->values[3]));
    ck_assert_uint_eq(e->n_matched, 3);
    ck_assert_uint_eq(e->n_unknown, 1);
    iso_expression_free(e);
}
END_TEST

START_TEST(salmon_gencode_fasta_ids)
{
    /* salmon run on GENCODE's transcripts.fa names transcripts by the whole FASTA header. */
    iso_expression *e = read_ok("gencode.sf", "Name\tLength\tEffectiveLength\tTPM\tNumReads\n"
                                              "ENST01.1|ENSG01.1|OTTHUMG01.1|OTTHUMT01.1|A-201|A|100|protein_coding|"
                                              "\t100\t80\t4\t3\n"
                                              "ENST04.5|ENSG02|-|-|B-202|B|100|lncRNA|\t100\t80\t6\t1\n");
    ck_assert_float_eq(e->values[0], 4.0f);
    ck_assert_float_eq(e->values[3], 6.0f);
    ck_assert(isnan(e->values[1]) && isnan(e->values[2]));
    ck_assert_uint_eq(e->n_matched, 2);
    ck_assert_uint_eq(e->n_unknown, 0);
    iso_expression_free(e);
}
END_TEST

START_TEST(rsem_and_kallisto_columns)
{
    iso_expression *e = read_ok("r.isoforms.results",
                                "transcript_id\tgene_id\tlength\teffective_length\texpected_count\tTPM\tFPKM\tIsoPct\n"
                                "ENST02.3\tENSG01.1\t100\t80\t12\t3.5\t9\t40\n"
                                "ENST04.2\tENSG02\t100\t80\t1\t0.25\t8\t60\n");
    ck_assert_int_eq(e->format, ISO_EXPR_RSEM);
    ck_assert_float_eq(e->values[1], 3.5f);
    ck_assert_float_eq(e->values[3], 0.25f);
    iso_expression_free(e);
    e = read_ok("abundance.tsv", "target_id\tlength\teff_length\test_counts\ttpm\n"
                                 "ENST01.1\t100\t80\t12\t1.5\n"
                                 "ENST03\t100\t80\t1\t2.5\n");
    ck_assert_int_eq(e->format, ISO_EXPR_KALLISTO);
    ck_assert_float_eq(e->values[0], 1.5f);
    ck_assert_float_eq(e->values[2], 2.5f);
    iso_expression_free(e);
}
END_TEST

START_TEST(stringtie_ctab_tpm_over_all_rows)
{
    /* FPKM 10, 30 and a novel MSTRG transcript at 60: TPM = FPKM / 100 * 1e6 = 100000 and 300000 (the novel
     * transcript counts in the total although the annotation lacks it). */
    iso_expression *e =
        read_ok("t_data.ctab", "t_id\tchr\tstrand\tstart\tend\tt_name\tnum_exons\tlength\tgene_id\tgene_name\tcov\tFPKM\n"
                               "1\tchr1\t+\t1\t100\tENST01.1\t1\t100\tENSG01.1\tA\t5\t10\n"
                               "2\tchr1\t+\t201\t300\tENST02.3\t1\t100\tENSG01.1\tA\t15\t30\n"
                               "3\tchr1\t+\t901\t1000\tMSTRG.1.1\t1\t100\tMSTRG.1\t.\t30\t60\n");
    ck_assert_int_eq(e->format, ISO_EXPR_STRINGTIE_CTAB);
    ck_assert_str_eq(e->col_names[0], "TPM");
    ck_assert_double_eq_tol(e->values[0], 100000, 0.01);
    ck_assert_double_eq_tol(e->values[1], 300000, 0.01);
    ck_assert(isnan(e->values[2]));
    ck_assert_uint_eq(e->n_unknown, 1);
    iso_expression_free(e);
}
END_TEST

START_TEST(stringtie_gtf_tpm_attribute)
{
    iso_expression *e = read_ok(
        "st.gtf", "# StringTie -e\n"
                  "chr1\tStringTie\ttranscript\t1\t100\t1000\t+\t.\tgene_id \"ENSG01.1\"; transcript_id \"ENST01.1\"; "
                  "cov \"2.0\"; FPKM \"5.0\"; TPM \"12.5\";\n"
                  "chr1\tStringTie\texon\t1\t100\t1000\t+\t.\tgene_id \"ENSG01.1\"; transcript_id \"ENST01.1\"; "
                  "exon_number \"1\"; cov \"2.0\";\n"
                  "chr1\tStringTie\ttranscript\t601\t700\t1000\t+\t.\tgene_id \"ENSG02\"; transcript_id \"ENST04.2\"; "
                  "cov \"1.0\"; FPKM \"1.0\"; TPM \"0.75\";\n");
    ck_assert_int_eq(e->format, ISO_EXPR_STRINGTIE_GTF);
    ck_assert_float_eq(e->values[0], 12.5f);
    ck_assert_float_eq(e->values[3], 0.75f);
    ck_assert_uint_eq(e->n_matched, 2);
    iso_expression_free(e);
}
END_TEST

/* A GCT of n_samples columns whose value at (row r, sample j) is 10000 r + j. */
static char *gct_text(int n_samples, const char *id_cols)
{
    static const char *const ids[] = {"ENST01.1", "ENST02.3", "ENST03", "ENST04.2"};
    size_t cap = (size_t)n_samples * 4 * 12 + 4096, len = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    len += (size_t)snprintf(s + len, cap - len, "#1.2\n4\t%d\n%s", n_samples, id_cols);
    for (int j = 0; j < n_samples; j++)
        len += (size_t)snprintf(s + len, cap - len, "\tGTEX-%d", j);
    for (int r = 0; r < 4; r++) {
        len += (size_t)snprintf(s + len, cap - len, "\n%s\tdesc", ids[r]);
        for (int j = 0; j < n_samples; j++)
            len += (size_t)snprintf(s + len, cap - len, "\t%d", 10000 * r + j);
    }
    snprintf(s + len, cap - len, "\n");
    return s;
}

START_TEST(gct_wider_than_4096_samples)
{
    char *text = gct_text(5000, "Name\tDescription");
    iso_expression *e = read_ok("wide.gct", text);
    free(text);
    ck_assert_int_eq(e->format, ISO_EXPR_GCT);
    ck_assert_int_eq(e->n_cols, 5000);
    ck_assert_str_eq(e->col_names[0], "GTEX-0");
    ck_assert_str_eq(e->col_names[4999], "GTEX-4999");
    ck_assert_float_eq(e->values[0 * 5000 + 4999], 4999.0f);
    ck_assert_float_eq(e->values[3 * 5000 + 4096], 34096.0f);
    ck_assert_float_eq(e->values[2 * 5000 + 0], 20000.0f);
    iso_expression_free(e);
    /* GTEx's transcript tables name the two leading columns transcript_id and gene_id. */
    text = gct_text(3, "transcript_id\tgene_id");
    e = read_ok("tx.gct", text);
    free(text);
    ck_assert_int_eq(e->n_cols, 3);
    ck_assert_float_eq(e->values[1 * 3 + 2], 10002.0f);
    iso_expression_free(e);
}
END_TEST

START_TEST(gct_short_row_is_an_error)
{
    read_fails("short.gct", "#1.2\n1\t3\nName\tDescription\tA\tB\tC\nENST01.1\td\t1\t2\n",
               "short.gct:4: expected 5 tab-separated columns like the header, got 4", NULL);
    read_fails("long.gct", "#1.2\n1\t2\nName\tDescription\tA\tB\nENST01.1\td\t1\t2\t3\n",
               "long.gct:4: expected 4 tab-separated columns like the header, got 5", NULL);
}
END_TEST

START_TEST(gct_declared_size_is_checked)
{
    /* Line 2 gives rows and sample columns: a plain GCT cut short (or mis-edited) was read as far as it went. */
    read_fails("cut.gct", "#1.2\n3\t1\nName\tDescription\tS\nENST01.1\td\t1\nENST02.3\td\t2\n", "cut.gct:5:",
               "2 data rows, but line 2 declares 3", NULL);
    read_fails("cols.gct", "#1.2\n1\t3\nName\tDescription\tA\tB\nENST01.1\td\t1\t2\n", "cols.gct:3:",
               "2 sample columns, but line 2 declares 3", NULL);
    read_fails("dims.gct", "#1.2\n1 2\nName\tDescription\tA\tB\nENST01.1\td\t1\t2\n", "dims.gct:2:",
               "expected '<rows><TAB><columns>'", "'1 2'", NULL);
    /* Two samples of one name: --columns took the last one silently. */
    read_fails("twice.gct", "#1.2\n1\t3\nName\tDescription\tA\tB\tA\nENST01.1\td\t1\t2\t3\n", "twice.gct:3:",
               "columns 3 and 5 are both named 'A'", NULL);
    /* Blank lines are not rows. */
    iso_expression *e = read_ok("blank.gct", "#1.2\n2\t1\nName\tDescription\tS\nENST01.1\td\t1\n\nENST03\td\t3\n");
    ck_assert_float_eq(e->values[2], 3.0f);
    iso_expression_free(e);
}
END_TEST

/* GCT 1.3 (Broad's Morpheus/cmapPy), written here from the format's description: line 2 adds the numbers of
 * row-metadata columns and column-metadata rows; line 3 is "id", the row-metadata names, then the samples; the
 * column-metadata rows (name, NA filler under the row-metadata names, a value per sample) come before the data. */
START_TEST(gct_1_3_skips_metadata)
{
    iso_expression *e = read_ok("v13.gct", "#1.3\n3\t2\t2\t2\n"
                                           "id\tgene\tlength\tGTEX-A\tGTEX-B\n"
                                           "tissue\tNA\tNA\tLiver\tLung\n"
                                           "sex\tNA\tNA\t1\t2\n"
                                           "ENST04.2\tENSG02\t100\t4.5\t40\n"
                                           "ENST01.1\tENSG01.1\t100\t1.25\t10\n"
                                           "\n"
                                           "ENST99\tENSG99\t7\t9\t99\n");
    ck_assert_int_eq(e->format, ISO_EXPR_GCT);
    ck_assert_int_eq(e->is_tpm, 1);
    ck_assert_int_eq(e->n_cols, 2);
    ck_assert_str_eq(e->col_names[0], "GTEX-A");
    ck_assert_str_eq(e->col_names[1], "GTEX-B");
    ck_assert_uint_eq(e->n_matched, 2);
    ck_assert_uint_eq(e->n_unknown, 1);
    ck_assert_float_eq(e->values[0 * 2 + 0], 1.25f);
    ck_assert_float_eq(e->values[0 * 2 + 1], 10.0f);
    ck_assert_float_eq(e->values[3 * 2 + 0], 4.5f);
    ck_assert_float_eq(e->values[3 * 2 + 1], 40.0f);
    ck_assert(isnan(e->values[1 * 2 + 0]) && isnan(e->values[2 * 2 + 1]));
    iso_expression_free(e);
    /* no metadata at all: "id" then the samples, as cmapPy writes a bare data frame */
    e = read_ok("bare13.gct", "#1.3\n1\t1\t0\t0\nid\tS\nENST03\t7\n");
    ck_assert_float_eq(e->values[2], 7.0f);
    iso_expression_free(e);
}
END_TEST

START_TEST(gct_1_3_declared_size_is_checked)
{
    read_fails("dims13.gct", "#1.3\n1\t2\nid\tA\tB\nENST01.1\t1\t2\n", "dims13.gct:2:",
               "<rows><TAB><columns><TAB><row-metadata columns><TAB><column-metadata rows>", NULL);
    /* one row-metadata column declared, two in the header: the first would have been read as a sample */
    read_fails("meta13.gct", "#1.3\n1\t2\t1\t0\nid\tgene\tlen\tA\tB\nENST01.1\tg\t5\t1\t2\n", "meta13.gct:3:",
               "3 sample columns, but line 2 declares 2", NULL);
    read_fails("cut13.gct", "#1.3\n3\t1\t1\t1\nid\tgene\tS\nkind\tNA\tx\nENST01.1\tg\t1\nENST02.3\tg\t2\n",
               "cut13.gct:6:", "2 data rows, but line 2 declares 3", NULL);
    read_fails("cmeta13.gct", "#1.3\n1\t1\t1\t1\nid\tgene\tS\nkind\tx\nENST01.1\tg\t1\n", "cmeta13.gct:4:",
               "column-metadata row with 2 tab-separated columns, expected 3", NULL);
    read_fails("noid13.gct", "#1.3\n1\t1\t0\t0\nName\tS\nENST01.1\t1\n", "noid13.gct:3:", "'id<TAB>", NULL);
}
END_TEST

START_TEST(header_errors_name_their_line)
{
    /* The header is the first line after the comments; it was always reported as line 1. */
    read_fails("c.tsv", "# made by a script\n# second comment\nid\tvalue\nENST01.1\t1\n", "c.tsv:3: unrecognised header",
               NULL);
    read_fails("abundance.h5", "\x89HDF\r\n\x1a\n", "abundance.h5:1:", "HDF5", "abundance.tsv", NULL);
    /* A header and no row: said so (it read "none of its 0 transcript ids is in ..."). */
    read_fails("header_only.sf", "Name\tLength\tEffectiveLength\tTPM\tNumReads\n", "header_only.sf: no transcript rows",
               NULL);
}
END_TEST

START_TEST(duplicate_ids_are_errors)
{
    /* C's hex floats are not numbers here (strtod read 0x10 as 16) */
    read_fails("hex.sf", "Name\tLength\tEffectiveLength\tTPM\tNumReads\nENST01.1\t100\t80\t0x10\t3\n", "hex.sf:2:",
               "expected a number", "'0x10'", NULL);
    /* The second row names the same transcript without its version. */
    read_fails("dup.sf", "Name\tLength\tEffectiveLength\tTPM\tNumReads\n"
                         "ENST01.1\t100\t80\t1\t3\n"
                         "ENST03\t100\t80\t2\t3\n"
                         "ENST01\t100\t80\t4\t3\n",
               "dup.sf:4:", "'ENST01'", "line 2", NULL);
    read_fails("dup.gct", "#1.2\n2\t1\nName\tDescription\tS\nENST04.2\td\t1\nENST04.2\td\t2\n", "dup.gct:5:",
               "'ENST04.2'", "line 4", NULL);
    read_fails("dup.gtf",
               "chr1\tS\ttranscript\t1\t100\t1\t+\t.\tgene_id \"G\"; transcript_id \"ENST02.3\"; TPM \"1\";\n"
               "chr1\tS\ttranscript\t1\t100\t1\t+\t.\tgene_id \"G\"; transcript_id \"ENST02.3\"; TPM \"2\";\n",
               "dup.gtf:2:", "'ENST02.3'", "line 1", NULL);
    /* Two unknown ids may repeat: they are only counted. */
    iso_expression *e = read_ok("unknown_twice.sf", "Name\tLength\tEffectiveLength\tTPM\tNumReads\n"
                                                    "ENST01.1\t100\t80\t1\t3\nX\t1\t1\t1\t1\nX\t1\t1\t1\t1\n");
    ck_assert_uint_eq(e->n_unknown, 2);
    iso_expression_free(e);
}
END_TEST

/* ---- metrics ----
 * x = [1,2,2,3,5,5,5,8], y = [2,1,4,4,6,3,7,9], with scipy 1.x / numpy:
 *   scipy.stats.spearmanr(x, y).correlation = 0.7841896995149691   (average ranks for the ties)
 *   scipy.stats.pearsonr(x, y)[0]            = 0.8500448642197896
 *   1 - sum((y-x)^2) / sum((y-mean(y))^2)     = 1 - 17/50 = 0.66      (by hand: mean(y) = 4.5) */
static const double MX[] = {1, 2, 2, 3, 5, 5, 5, 8}, MY[] = {2, 1, 4, 4, 6, 3, 7, 9};

START_TEST(metrics_match_scipy)
{
    ck_assert_double_eq_tol(iso_spearman(MX, MY, 8), 0.7841896995149691, 1e-12);
    ck_assert_double_eq_tol(iso_pearson(MX, MY, 8), 0.8500448642197896, 1e-12);
    ck_assert_double_eq_tol(iso_r2(MX, MY, 8), 0.66, 1e-12);
    /* Spearman is symmetric; R^2 is not (y is the observed side): 1 - 17/36.875 with mean(x) = 3.875. */
    ck_assert_double_eq_tol(iso_spearman(MY, MX, 8), 0.7841896995149691, 1e-12);
    ck_assert_double_eq_tol(iso_r2(MY, MX, 8), 1 - 17.0 / 36.875, 1e-12);
}
END_TEST

START_TEST(metrics_skip_non_finite_pairs)
{
    double x[10], y[10];
    memcpy(x, MX, sizeof MX);
    memcpy(y, MY, sizeof MY);
    x[8] = NAN, y[8] = 3;
    x[9] = 4, y[9] = INFINITY;
    ck_assert_double_eq_tol(iso_spearman(x, y, 10), 0.7841896995149691, 1e-12);
    ck_assert_double_eq_tol(iso_pearson(x, y, 10), 0.8500448642197896, 1e-12);
    ck_assert_double_eq_tol(iso_r2(x, y, 10), 0.66, 1e-12);
    /* Fewer than 3 pairs, or a constant side: undefined. */
    ck_assert(isnan(iso_pearson(x, y, 2)));
    static const double c[] = {1, 1, 1, 1};
    ck_assert(isnan(iso_spearman(c, MY, 4)));
    ck_assert(isnan(iso_r2(MX, c, 4)));
    /* constant at a value whose mean does not round back to it (log1p(5), as eval sees TPMs all 5): the squared
     * deviations are rounding, not spread */
    double k[7], z[7];
    for (int i = 0; i < 7; i++)
        k[i] = log1p(5.0), z[i] = MX[i];
    ck_assert(isnan(iso_pearson(z, k, 7)));
    ck_assert(isnan(iso_pearson(k, z, 7)));
    ck_assert(isnan(iso_spearman(z, k, 7)));
    ck_assert(isnan(iso_r2(z, k, 7)));
}
END_TEST

/* --columns: named pairs; none, a pair twice, or an unknown name is an error (an empty list crashed eval). */
START_TEST(eval_column_pairs)
{
    char *pn[] = {"Liver", "Lung"}, *on[] = {"TPM"};
    iso_expression pred = {.n_cols = 2, .col_names = pn}, obs = {.n_cols = 1, .col_names = on};
    iso_eval_pair *p = NULL;
    int n = -1;
    ck_assert_int_eq(iso_eval_pairs("Lung=TPM,Liver=TPM", &pred, &obs, &p, &n), ISO_OK);
    ck_assert_int_eq(n, 2);
    ck_assert(p[0].pred == 1 && p[1].pred == 0 && p[0].obs == 0);
    free(p);
    ck_assert_int_eq(iso_eval_pairs(NULL, &pred, &obs, &p, &n), ISO_OK); /* one observed column: against each */
    ck_assert_int_eq(n, 2);
    free(p);
    static const char *const bad[] = {"", ",", ",,", "Liver=TPM,Liver=TPM", "Liver=Lung", "Liver"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(iso_eval_pairs(bad[i], &pred, &obs, &p, &n) == ISO_EINVAL, "'%s' accepted", bad[i]);
        free(p);
    }
}
END_TEST

/* A fitted head file's numbers must be finite (a NaN mean made its output NA everywhere, exit 0). */
START_TEST(fitted_head_refuses_non_finite)
{
    static const char *const bad[] = {"nan", "inf", "-inf"};
    iso_fitted_head h;
    const char *ok = "#isoformer fitted head v1\tdim=2\toutputs=1\nmean\t0.5\t1\nsd\t1\t2\nLiver\t0.1\t0.2\t0.3\n";
    ck_assert_msg(iso_fitted_head_read(test_file("head_ok.tsv", ok), &h) == ISO_OK, "%s", iso_last_error());
    ck_assert(h.dim == 2 && h.n_out == 1 && h.w[1] == 0.3);
    iso_fitted_head_free(&h);
    for (int i = 0; i < 3; i++)
        for (int line = 2; line <= 4; line++) {
            char text[256];
            snprintf(text, sizeof text, "#isoformer fitted head v1\tdim=2\toutputs=1\nmean\t0.5\t%s\nsd\t1\t%s\n"
                                        "Liver\t0.1\t0.2\t%s\n",
                     line == 2 ? bad[i] : "1", line == 3 ? bad[i] : "2", line == 4 ? bad[i] : "0.3");
            ck_assert_int_eq(iso_fitted_head_read(test_file("head_bad.tsv", text), &h), ISO_EFORMAT);
            char where[32];
            snprintf(where, sizeof where, "head_bad.tsv:%d:", line);
            ck_assert_msg(strstr(iso_last_error(), where), "%s: %s", bad[i], iso_last_error());
            iso_fitted_head_free(&h);
        }
}
END_TEST

/* ---- ridge ---- */

static double lcg(unsigned long long *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0 - 0.5;
}

START_TEST(ridge_recovers_an_exact_planted_signal)
{
    /* y = 2.5 + x . w on 120 transcripts in 40 genes, features with offsets and scales; a second output misses
     * every third row. Held-out predictions must be exact (a tiny penalty), and the head must give y back. */
    enum { N = 120, D = 5, OUT = 2 };
    static const double w[D] = {1.5, -2, 0, 0.7, 3};
    double x[N * D], y[N * OUT], lambda = 1e-6;
    int group[N];
    unsigned long long s = 42;
    for (int i = 0; i < N; i++) {
        double t = 2.5;
        for (int k = 0; k < D; k++) {
            x[i * D + k] = 10 * k + (k + 1) * lcg(&s);
            t += w[k] * x[i * D + k];
        }
        y[i * OUT] = t;
        y[i * OUT + 1] = i % 3 ? 2 * t - 7 : NAN;
        group[i] = i / 3;
    }
    iso_fitted_head h;
    ck_assert_int_eq(iso_ridge_fit(x, y, group, N, D, OUT, &lambda, 1, 5, &h), ISO_OK);
    for (int o = 0; o < OUT; o++) {
        ck_assert_msg(h.cv_r2[o] > 0.9999, "output %d: CV R^2 %.8f", o, h.cv_r2[o]);
        ck_assert(h.baseline_r2[o] < 0.05);
    }
    for (int k = 0; k < D; k++) {
        ck_assert_double_eq_tol(h.w[k] / h.sd[k], w[k], 1e-5);
        ck_assert_double_eq_tol(h.w[D + k] / h.sd[k], 2 * w[k], 1e-5);
    }
    double xn[D] = {1, 2, 3, 4, 5}, yn[OUT], want = 2.5;
    for (int k = 0; k < D; k++)
        want += w[k] * xn[k];
    iso_fitted_head_apply(&h, xn, yn);
    ck_assert_double_eq_tol(yn[0], want, 1e-3);
    ck_assert_double_eq_tol(yn[1], 2 * want - 7, 1e-3);
    iso_fitted_head_free(&h);
}
END_TEST

START_TEST(ridge_rejects_what_it_cannot_cross_validate)
{
    double x[4] = {1, 2, 3, 4}, y[4] = {1, 2, 3, 4}, lambda = 1, zero = 0;
    int one_gene[4] = {7, 7, 7, 7}, genes[4] = {1, 2, 3, 4};
    iso_fitted_head h;
    ck_assert_int_eq(iso_ridge_fit(x, y, one_gene, 4, 1, 1, &lambda, 1, 5, &h), ISO_EINVAL);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "genes of one fold"));
    ck_assert_int_eq(iso_ridge_fit(x, y, genes, 4, 1, 1, &zero, 1, 5, &h), ISO_EINVAL);
    ck_assert_ptr_nonnull(strstr(iso_last_error(), "expected a positive number"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("expression");
    TCase *tc = tcase_create("importers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, salmon_versions_either_side);
    tcase_add_test(tc, salmon_gencode_fasta_ids);
    tcase_add_test(tc, rsem_and_kallisto_columns);
    tcase_add_test(tc, stringtie_ctab_tpm_over_all_rows);
    tcase_add_test(tc, stringtie_gtf_tpm_attribute);
    tcase_add_test(tc, gct_wider_than_4096_samples);
    tcase_add_test(tc, gct_short_row_is_an_error);
    tcase_add_test(tc, duplicate_ids_are_errors);
    tcase_add_test(tc, gct_declared_size_is_checked);
    tcase_add_test(tc, gct_1_3_skips_metadata);
    tcase_add_test(tc, gct_1_3_declared_size_is_checked);
    tcase_add_test(tc, header_errors_name_their_line);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("metrics");
    tcase_add_test(tm, metrics_match_scipy);
    tcase_add_test(tm, metrics_skip_non_finite_pairs);
    tcase_add_test(tm, eval_column_pairs);
    tcase_add_test(tm, fitted_head_refuses_non_finite);
    suite_add_tcase(s, tm);
    TCase *tr = tcase_create("ridge");
    tcase_add_test(tr, ridge_recovers_an_exact_planted_signal);
    tcase_add_test(tr, ridge_rejects_what_it_cannot_cross_validate);
    suite_add_tcase(s, tr);
    return iso_run_suite(s);
}
