/* Expression tables from other tools, aligned to the annotation's transcripts. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <htslib/khash.h>

#include "isoformer/expression.h"
#include "isoformer/io.h"
#include "isoformer/outputs.h"

KHASH_MAP_INIT_STR(col_index, int)

typedef struct {
    const char *header;  /* prefix of the header line that identifies the format */
    iso_expr_format format;
    int id_col, value_col; /* value_col -1: every column from first_value on */
    int first_value;
    int is_tpm, fpkm;
} layout;

static const layout layouts[] = {
    {"Name\tLength\tEffectiveLength\tTPM\tNumReads", ISO_EXPR_SALMON, 0, 3, 0, 1, 0},
    {"transcript_id\tgene_id\tlength\teffective_length\texpected_count\tTPM", ISO_EXPR_RSEM, 0, 5, 0, 1, 0},
    {"target_id\tlength\teff_length\test_counts\ttpm", ISO_EXPR_KALLISTO, 0, 4, 0, 1, 0},
    {"t_id\tchr\tstrand\tstart\tend\tt_name\tnum_exons\tlength\tgene_id\tgene_name\tcov\tFPKM", ISO_EXPR_STRINGTIE_CTAB,
     5, 11, 0, 1, 1},
    {ISO_TSV_COLUMNS "\t", ISO_EXPR_ISOFORMER, 0, -1, 7, 0, 0},
};

const char *iso_expr_format_name(iso_expr_format f)
{
    static const char *const names[] = {"salmon quant.sf", "RSEM isoforms.results", "kallisto abundance.tsv",
                                        "StringTie GTF", "StringTie t_data.ctab", "GTEx GCT", "isoformer TSV"};
    return names[f];
}

void iso_expression_free(iso_expression *e)
{
    if (!e)
        return;
    for (int j = 0; e->col_names && j < e->n_cols; j++)
        free(e->col_names[j]);
    free(e->col_names);
    free(e->values);
    free(e);
}

/* Tab-separated fields of the len bytes of line (which need not be NUL-terminated). */
static int count_fields(const char *line, size_t len)
{
    int n = 1;
    for (size_t i = 0; i < len; i++)
        n += line[i] == '\t';
    return n;
}

/* Splits line in place at its tabs into f, which has room for count_fields(line, strlen(line)) pointers. */
static void split_tabs(char *line, char **f)
{
    for (int n = 0;; line++) {
        f[n++] = line;
        if (!(line = strchr(line, '\t')))
            return;
        *line = '\0';
    }
}

static int alloc_matrix(iso_expression *e, const iso_annotation *ann, int n_cols, char **names)
{
    e->n_rows = ann->n;
    e->n_cols = n_cols;
    e->col_names = calloc((size_t)n_cols, sizeof *e->col_names);
    e->values = malloc((ann->n ? ann->n : 1) * (size_t)n_cols * sizeof *e->values);
    if (!e->col_names || !e->values)
        return iso_error(ISO_ENOMEM, "out of memory");
    for (size_t i = 0; i < ann->n * (size_t)n_cols; i++)
        e->values[i] = NAN;
    for (int j = 0; j < n_cols; j++)
        if (!(e->col_names[j] = strdup(names[j])))
            return iso_error(ISO_ENOMEM, "out of memory");
    return ISO_OK;
}

/* A finite number that fits a float (values are kept as floats): 0, or -1 when not a number, -2 when NaN,
 * infinite or out of range, -3 when negative but nonneg (1) asks for TPM or FPKM. nonneg -1: any sign, and
 * nan/NaN/NA read as a missing value (NAN). */
static int parse_value(const char *s, float *v, int nonneg)
{
    char *end;
    if (nonneg < 0 && (!strcmp(s, "nan") || !strcmp(s, "NaN") || !strcmp(s, "NA"))) { /* missing, where allowed */
        *v = NAN;
        return 0;
    }
    double d = strtod(s, &end);
    if (end == s || (*end && *end != '\r') || strpbrk(s, "xX")) /* strtod also reads C's hex floats: 0x10 is 16 */
        return -1;
    if (!isfinite(d) || fabs(d) > 3.4e38)
        return -2;
    if (nonneg > 0 && d < 0)
        return -3;
    *v = (float)d;
    return 0;
}

static int value_error(const char *path, long ln, int col, const char *text, int why)
{
    static const char *const reason[] = {
        "", "expected a number", ("expected a finite number (NaN, infinite and values beyond 3.4e38 are refused)"),
        "expected a value >= 0"};
    return iso_error(ISO_EFORMAT, "%s:%ld: column %d: %s, got '%s'", path, ln, col, reason[-why], text);
}

/* Stores the row of line ln; unknown ids are counted, a transcript given twice is an error (line_of[i]: the
 * line that set transcript i, 0 when none yet). A GENCODE FASTA header used as the id, as salmon reports it
 * for GENCODE's transcripts.fa ("ENST...|ENSG...|...|"), is its first field. */
static int put_row(iso_expression *e, const iso_annotation *ann, const char *path, long ln, long *line_of, char *id,
                   const float *v)
{
    id[strcspn(id, "|")] = '\0';
    long i = iso_annotation_find(ann, id);
    if (i < 0) {
        e->n_unknown++;
        return ISO_OK;
    }
    if (line_of[i])
        return iso_error(ISO_EFORMAT, "%s:%ld: duplicate transcript id '%s': line %ld already gave the values of "
                                      "transcript %s", path, ln, id, line_of[i], ann->tx[i].transcript_id);
    line_of[i] = ln;
    e->n_matched++;
    memcpy(e->values + (size_t)i * e->n_cols, v, (size_t)e->n_cols * sizeof *v);
    return ISO_OK;
}

/* Value columns must be told apart by name (--columns and pairing by name would take one of two silently):
 * an error naming the header line and the first repeated name. */
static int distinct_names(const iso_expression *e, const char *path, long ln, int first)
{
    khash_t(col_index) *seen = kh_init(col_index);
    int rc = seen ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    for (int j = 0; rc == ISO_OK && j < e->n_cols; j++) {
        int absent;
        khiter_t k = kh_put(col_index, seen, e->col_names[j], &absent);
        if (absent < 0)
            rc = iso_error(ISO_ENOMEM, "out of memory");
        else if (!absent)
            rc = iso_error(ISO_EFORMAT, "%s:%ld: columns %d and %d are both named '%s': expected distinct sample "
                                        "names", path, ln, first + kh_val(seen, k) + 1, first + j + 1, e->col_names[j]);
        else
            kh_val(seen, k) = j;
    }
    kh_destroy(col_index, seen);
    return rc;
}

/* A GCT's line 2: n tab-separated counts into v (v1.2: rows and columns; v1.3: those, then the numbers of
 * row-metadata columns and column-metadata rows), or -1 when it is not n integers in [0, INT_MAX]. */
static int gct_dims(const char *line, int n, long *v)
{
    const char *p = line;
    for (int k = 0; k < n; k++, p++) {
        char *end;
        v[k] = strtol(p, &end, 10);
        if (end == p || *p == '-' || *p == '+' || v[k] < 0 || v[k] > INT_MAX || *end != (k + 1 < n ? '\t' : '\0'))
            return -1;
        p = end;
    }
    return 0;
}

/* The attribute value of key in a GTF attribute column, copied into buf. */
static int gtf_attr(const char *attrs, const char *key, char *buf, size_t size)
{
    size_t kl = strlen(key);
    for (const char *p = attrs; (p = strstr(p, key)); p += kl) {
        if ((p != attrs && p[-1] != ' ' && p[-1] != ';') || p[kl] != ' ')
            continue;
        const char *v = p + kl + 1, *end;
        if (*v == '"')
            v++;
        end = v + strcspn(v, "\";");
        if ((size_t)(end - v) >= size)
            return -1;
        memcpy(buf, v, (size_t)(end - v));
        buf[end - v] = '\0';
        return 0;
    }
    return -1;
}

static int read_table(iso_lines *lr, const char *path, const iso_annotation *ann, iso_expression *e, long *line_of,
                      const char *first_line)
{
    char **f = NULL, *hdr = strdup(first_line);
    int rc = hdr ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    const layout *lay = NULL;
    int gct = 0, n_hdr = 0;
    long dims[4] = {0}, n_rows = 0; /* a GCT's rows, columns, row-metadata columns, column-metadata rows */
    layout gct_layout = {"", ISO_EXPR_GCT, 0, -1, 2, 1, 0};
    if (rc == ISO_OK && (!strncmp(hdr, "#1.2", 4) || !strncmp(hdr, "#1.3", 4))) {
        /* GCT 1.2: "#1.2", "rows<TAB>cols", then "Name<TAB>Description<TAB>samples..." (GTEx's transcript
         * tables: "transcript_id<TAB>gene_id<TAB>samples..."). GCT 1.3 (Morpheus, cmapPy): "#1.3",
         * "rows<TAB>cols<TAB>row-meta<TAB>col-meta", "id<TAB>row-meta names...<TAB>samples...", the column-metadata
         * rows, then the data rows; the row metadata are not expression and are skipped. */
        int v13 = hdr[3] == '3', n_dims = v13 ? 4 : 2;
        const char *line;
        size_t len;
        int r1 = iso_lines_next(lr, &line, &len), r2 = -1;
        /* the declared dimensions, checked against the table: a truncated plain GCT would pass unnoticed */
        if (r1 > 0 && gct_dims(line, n_dims, dims))
            rc = iso_error(ISO_EFORMAT, "%s:%ld: GCT %s file: expected '%s' (the table's size) on line 2, got '%.*s'",
                           path, iso_lines_lineno(lr), v13 ? "1.3" : "1.2",
                           v13 ? "<rows><TAB><columns><TAB><row-metadata columns><TAB><column-metadata rows>"
                               : "<rows><TAB><columns>",
                           (int)(len < 80 ? len : 80), line);
        else
            r2 = r1 > 0 ? iso_lines_next(lr, &line, &len) : r1;
        free(hdr);
        hdr = r2 > 0 ? strndup(line, len) : NULL;
        int hdr_fields = hdr ? count_fields(hdr, strlen(hdr)) : 0;
        gct_layout.first_value = v13 ? 1 + (int)dims[2] : 2;
        if (rc == ISO_OK && v13 && (r2 <= 0 || !hdr || strncmp(hdr, "id", 2) || (hdr[2] && hdr[2] != '\t')))
            rc = iso_error(ISO_EFORMAT, "%s:%ld: GCT 1.3 file: expected 'id<TAB>row metadata...<TAB>samples...' on "
                                        "line 3", path, iso_lines_lineno(lr));
        else if (rc == ISO_OK && !v13 &&
                 (r2 <= 0 || !hdr ||
                  (strncmp(hdr, "Name\tDescription\t", 17) && strncmp(hdr, "transcript_id\tgene_id\t", 22))))
            rc = iso_error(ISO_EFORMAT, "%s:%ld: GCT file: expected 'Name<TAB>Description<TAB>samples...' (or "
                                        "'transcript_id<TAB>gene_id<TAB>samples...') on line 3", path,
                           iso_lines_lineno(lr));
        else if (rc == ISO_OK && hdr_fields - gct_layout.first_value != dims[1])
            rc = iso_error(ISO_EFORMAT, "%s:%ld: GCT file: the header has %d sample columns, but line 2 declares "
                                        "%ld%s", path, iso_lines_lineno(lr), hdr_fields - gct_layout.first_value,
                           dims[1], v13 ? " (after the id and the row-metadata columns it declares)" : "");
        /* column metadata (one row per sample annotation): shaped like the header, not expression */
        for (long k = 0; rc == ISO_OK && k < dims[3];) {
            int r = iso_lines_next(lr, &line, &len);
            if (r <= 0)
                rc = r < 0 ? r : iso_error(ISO_EFORMAT, "%s:%ld: GCT 1.3 file: %ld column-metadata rows, but line "
                                                         "2 declares %ld", path, iso_lines_lineno(lr), k, dims[3]);
            else if (len > 0 && count_fields(line, len) != hdr_fields)
                rc = iso_error(ISO_EFORMAT, "%s:%ld: GCT 1.3 file: column-metadata row with %d tab-separated "
                                            "columns, expected %d like the header", path, iso_lines_lineno(lr),
                               count_fields(line, len), hdr_fields);
            else
                k += len > 0;
        }
        gct = 1;
    }
    if (rc == ISO_OK && gct)
        lay = &gct_layout;
    for (size_t k = 0; rc == ISO_OK && !lay && k < sizeof layouts / sizeof layouts[0]; k++)
        if (!strncmp(hdr, layouts[k].header, strlen(layouts[k].header)))
            lay = &layouts[k];
    if (rc == ISO_OK && !lay)
        rc = iso_error(ISO_EFORMAT, "%s:%ld: unrecognised header: expected salmon quant.sf, RSEM isoforms.results, "
                                    "kallisto abundance.tsv, StringTie GTF or t_data.ctab, GTEx GCT or an isoformer "
                                    "TSV%s", path, iso_lines_lineno(lr),
                       strncmp(hdr, "\x89HDF", 4) ? "" : " (this is HDF5: give kallisto's abundance.tsv, not "
                                                        "abundance.h5)");
    if (rc == ISO_OK) {
        n_hdr = count_fields(hdr, strlen(hdr));
        int n_cols = lay->value_col >= 0 ? 1 : n_hdr - lay->first_value;
        if (!(f = malloc((size_t)n_hdr * sizeof *f))) {
            rc = iso_error(ISO_ENOMEM, "out of memory");
        } else {
            split_tabs(hdr, f);
            int first = lay->value_col >= 0 ? lay->value_col : lay->first_value;
            rc = n_cols < 1 ? iso_error(ISO_EFORMAT, "%s: header has no value column", path)
                            : alloc_matrix(e, ann, n_cols, &f[first]);
            if (rc == ISO_OK)
                rc = distinct_names(e, path, iso_lines_lineno(lr), first);
        }
        e->format = lay->format;
        e->is_tpm = lay->is_tpm;
    }
    const char *line;
    size_t len;
    int r = 0;
    float *v = malloc((size_t)(n_hdr > 0 ? n_hdr : 1) * sizeof *v);
    double fpkm_total = 0;
    if (rc == ISO_OK && !v)
        rc = iso_error(ISO_ENOMEM, "out of memory");
    while (rc == ISO_OK && (r = iso_lines_next(lr, &line, &len)) > 0) {
        if (len == 0)
            continue;
        char *copy = strndup(line, len);
        if (!copy) {
            rc = iso_error(ISO_ENOMEM, "out of memory");
            break;
        }
        int n = count_fields(copy, strlen(copy));
        n_rows++;
        if (n != n_hdr) {
            rc = iso_error(ISO_EFORMAT, "%s:%ld: expected %d tab-separated columns like the header, got %d", path,
                           iso_lines_lineno(lr), n_hdr, n);
        } else {
            split_tabs(copy, f);
            int first = lay->value_col >= 0 ? lay->value_col : lay->first_value;
            for (int j = 0; j < e->n_cols && rc == ISO_OK; j++) {
                int why = parse_value(f[first + j], &v[j], lay->format == ISO_EXPR_ISOFORMER ? -1 : lay->is_tpm);
                if (why < 0)
                    rc = value_error(path, iso_lines_lineno(lr), first + j + 1, f[first + j], why);
                e->n_missing += rc == ISO_OK && isnan(v[j]);
            }
            if (rc == ISO_OK && lay->fpkm)
                fpkm_total += v[0];
            if (rc == ISO_OK)
                rc = put_row(e, ann, path, iso_lines_lineno(lr), line_of, f[lay->id_col], v);
        }
        free(copy);
    }
    if (rc == ISO_OK && r < 0)
        rc = r;
    if (rc == ISO_OK && gct && n_rows != dims[0])
        rc = iso_error(ISO_EFORMAT, "%s:%ld: GCT file: %ld data rows, but line 2 declares %ld (a truncated file?)",
                       path, iso_lines_lineno(lr), n_rows, dims[0]);
    if (rc == ISO_OK && lay->fpkm) {
        /* FPKM -> TPM: TPM_i = FPKM_i / sum FPKM * 1e6 over every row of the file, those of transcripts
         * missing from the annotation included, as StringTie computes its TPM; all FPKM 0 is TPM 0 */
        for (size_t i = 0; i < e->n_rows; i++)
            if (!isnan(e->values[i]))
                e->values[i] = fpkm_total > 0 ? (float)(e->values[i] / fpkm_total * 1e6) : 0.0f;
        free(e->col_names[0]);
        e->col_names[0] = strdup("TPM");
    }
    free(v);
    free(f);
    free(hdr);
    return rc;
}

static int read_stringtie_gtf(iso_lines *lr, const char *path, const iso_annotation *ann, iso_expression *e,
                              long *line_of, const char *first_line)
{
    char *names[] = {"TPM"};
    int rc = alloc_matrix(e, ann, 1, names);
    e->format = ISO_EXPR_STRINGTIE_GTF;
    e->is_tpm = 1;
    const char *line = first_line;
    size_t len = strlen(first_line);
    int r = 1;
    for (; rc == ISO_OK && r > 0; r = iso_lines_next(lr, &line, &len)) {
        if (len == 0 || line[0] == '#')
            continue;
        char *copy = strndup(line, len), *f[9];
        if (!copy)
            return iso_error(ISO_ENOMEM, "out of memory");
        int n = count_fields(copy, strlen(copy));
        if (n == 9)
            split_tabs(copy, f);
        char id[512], tpm[64];
        float v;
        int why = -1;
        if (n != 9)
            rc = iso_error(ISO_EFORMAT, "%s:%ld: expected 9 GTF columns, got %d", path, iso_lines_lineno(lr), n);
        else if (!strcmp(f[2], "transcript")) {
            if (gtf_attr(f[8], "transcript_id", id, sizeof id) || gtf_attr(f[8], "TPM", tpm, sizeof tpm) ||
                (why = parse_value(tpm, &v, 1)) == -1)
                rc = iso_error(ISO_EFORMAT, "%s:%ld: transcript line without transcript_id and a numeric TPM "
                                            "attribute (was StringTie run with -e?)", path, iso_lines_lineno(lr));
            else if (why < 0)
                rc = value_error(path, iso_lines_lineno(lr), 9, tpm, why);
            else
                rc = put_row(e, ann, path, iso_lines_lineno(lr), line_of, id, &v);
        }
        free(copy);
    }
    return rc == ISO_OK && r < 0 ? r : rc;
}

int iso_expression_read(const char *path, const iso_annotation *ann, iso_expression **out)
{
    *out = NULL;
    iso_lines *lr = iso_lines_open(path);
    if (!lr)
        return iso_last_status();
    iso_expression *e = calloc(1, sizeof *e);
    long *line_of = calloc(ann->n ? ann->n : 1, sizeof *line_of);
    const char *line;
    size_t len;
    int r = 0;
    int rc = e && line_of ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    /* The first line that is not a '#' comment decides, except for GCT whose first line is "#1.2" or "#1.3". */
    while (rc == ISO_OK && (r = iso_lines_next(lr, &line, &len)) > 0 && line[0] == '#' && strncmp(line, "#1.2", 4) &&
           strncmp(line, "#1.3", 4))
        ;
    if (rc == ISO_OK && r <= 0)
        rc = r < 0 ? r : iso_error(ISO_EFORMAT, "%s: empty file", path);
    if (rc == ISO_OK) {
        char *first = strndup(line, len);
        int tabs = 0;
        for (const char *p = first; p && *p; p++)
            tabs += *p == '\t';
        rc = !first ? iso_error(ISO_ENOMEM, "out of memory")
             : tabs == 8 && strstr(first, "transcript_id") && strncmp(first, ISO_TSV_COLUMNS, strlen(ISO_TSV_COLUMNS))
                 ? read_stringtie_gtf(lr, path, ann, e, line_of, first)
                 : read_table(lr, path, ann, e, line_of, first);
        free(first);
    }
    iso_lines_close(lr);
    free(line_of);
    if (rc == ISO_OK && e->n_matched + e->n_unknown == 0)
        rc = iso_error(ISO_EFORMAT, "%s: no transcript rows after its header", path);
    if (rc == ISO_OK && e->n_matched == 0)
        rc = iso_error(ISO_ENOTFOUND, "%s: none of its %zu transcript ids is in %s (different annotation "
                                      "release?)", path, e->n_unknown, ann->path);
    if (rc == ISO_OK && e->n_unknown)
        iso_warn("%s: %zu transcript ids are not in %s and were ignored", path, e->n_unknown, ann->path);
    if (rc != ISO_OK) {
        iso_expression_free(e);
        return rc;
    }
    *out = e;
    return ISO_OK;
}
