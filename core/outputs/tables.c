/* TSV and BED12 writers. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/tracks_internal.h"

iso_interval iso_transcript_span(const iso_transcript *tx)
{
    return (iso_interval){tx->exons[0].start, tx->exons[tx->n_exons - 1].end};
}

typedef struct {
    const iso_transcript *tx;
    size_t row;
} row_key;

int iso_transcript_order(const iso_transcript *a, const iso_transcript *b)
{
    int c = strcmp(a->chrom, b->chrom);
    if (c)
        return c;
    iso_interval x = iso_transcript_span(a), y = iso_transcript_span(b);
    if (x.start != y.start)
        return x.start < y.start ? -1 : 1;
    if (x.end != y.end)
        return x.end < y.end ? -1 : 1;
    return strcmp(a->transcript_id, b->transcript_id);
}

static int by_position(const void *pa, const void *pb)
{
    const row_key *a = pa, *b = pb;
    return iso_transcript_order(a->tx, b->tx);
}

size_t *iso_track_order(const iso_track_matrix *m)
{
    size_t n = m->n_rows;
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    row_key *keys = malloc((n ? n : 1) * sizeof *keys);
    if (!order || !keys) {
        free(order);
        free(keys);
        iso_error(ISO_ENOMEM, "out of memory sorting %zu rows", n);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        keys[i] = (row_key){&m->ann->tx[m->rows[i]], i};
    }
    qsort(keys, n, sizeof *keys, by_position);
    for (size_t i = 0; i < n; i++)
        order[i] = keys[i].row;
    free(keys);
    return order;
}

static void print_value(FILE *fp, float v)
{
    if (isnan(v))
        fputs("NA", fp);
    else
        fprintf(fp, "%.6g", v);
}

/* A writer of the rows of m in `order` (arg: the writer's own) into a file. */
typedef int (*body_writer)(FILE *, const iso_track_matrix *, const size_t *, const void *arg);

/* Opens path, lets write() fill it (rows in `order`, iso_track_order's), commits; aborts (removing the temporary)
 * on any failure. */
static int write_atomically(const char *path, const iso_track_matrix *m, const size_t *order, const void *arg,
                            body_writer write)
{
    iso_out *o = iso_out_open(path);
    if (!o)
        return iso_last_status();
    int rc = write(iso_out_fp(o), m, order, arg);
    if (rc != ISO_OK || ferror(iso_out_fp(o))) {
        iso_out_abort(o);
        return rc != ISO_OK ? rc : iso_error(ISO_EIO, "%s: write failed (%s)", path, strerror(errno));
    }
    return iso_out_commit(o);
}

/* write_atomically in the rows' own order, sorted here. */
static int write_sorted(const char *path, const iso_track_matrix *m, const void *arg, body_writer write)
{
    size_t *order = iso_track_order(m);
    if (!order)
        return iso_last_status();
    int rc = write_atomically(path, m, order, arg, write);
    free(order);
    return rc;
}

/* The values from m, or with arg (an iso_row_source) read a row at a time. */
static int tsv_body(FILE *fp, const iso_track_matrix *m, const size_t *order, const void *arg)
{
    const iso_row_source *src = arg;
    float *row = src ? malloc(((size_t)m->n_cols + 1) * sizeof *row) : NULL;
    if (src && !row)
        return iso_error(ISO_ENOMEM, "out of memory");
    int rc = ISO_OK;
    fputs(ISO_TSV_COLUMNS, fp);
    for (int j = 0; j < m->n_cols; j++)
        fprintf(fp, "\t%s", m->col_names[j]);
    fputc('\n', fp);
    for (size_t k = 0; rc == ISO_OK && k < m->n_rows; k++) {
        size_t i = order[k];
        const iso_transcript *tx = &m->ann->tx[m->rows[i]];
        iso_interval s = iso_transcript_span(tx);
        const float *v = src ? row : &m->values[i * m->n_cols];
        if (src && (rc = src->read(src->arg, i, row)) < 0)
            break;
        fprintf(fp, "%s\t%s\t%s\t%s\t%lld\t%lld\t%c", tx->transcript_id, tx->gene_id,
                tx->gene_name ? tx->gene_name : "", tx->chrom, (long long)s.start, (long long)s.end, tx->strand);
        for (int j = 0; j < m->n_cols; j++) {
            fputc('\t', fp);
            print_value(fp, v[j]);
        }
        fputc('\n', fp);
    }
    free(row);
    return rc;
}

int iso_write_tsv(const char *path, const iso_track_matrix *m)
{
    return write_sorted(path, m, NULL, tsv_body);
}

int iso_write_tsv_rows(const char *path, const iso_track_matrix *m, const iso_row_source *src)
{
    if (src->dim != m->n_cols)
        return iso_error(ISO_EINVAL, "%s: rows of %d values for %d columns", path, src->dim, m->n_cols);
    return write_sorted(path, m, src, tsv_body);
}

int iso_write_tsv_in_order(const char *path, const iso_track_matrix *m, const size_t *order)
{
    return write_atomically(path, m, order, NULL, tsv_body);
}

static int bed_score(float v)
{
    if (isnan(v) || v <= 0)
        return 0;
    return v >= 10.0f ? 1000 : (int)lrintf(100.0f * v);
}

/* The highest of a row's first n values, NaN when all are NaN. */
static float row_max(const float *v, int n)
{
    float best = NAN;
    for (int j = 0; j < n; j++)
        if (!isnan(v[j]) && (isnan(best) || v[j] > best))
            best = v[j];
    return best;
}

/* Exactly the 12 BED fields, so that every BED reader takes the blocks (bedtools reads a file with more
 * columns as BED6+ and ignores them); the values themselves are in the TSV and the bigWigs. */
static int bed_body(FILE *fp, const iso_track_matrix *m, const size_t *order, const void *arg)
{
    int n_score = *(const int *)arg;
    fprintf(fp, "track name=\"isoformer\" description=\"IsoFormer predictions; score and colour: highest of the %d "
                "predicted values\" itemRgb=\"On\"\n", n_score);
    for (size_t k = 0; k < m->n_rows; k++) {
        size_t i = order[k];
        const iso_transcript *tx = &m->ann->tx[m->rows[i]];
        iso_interval s = iso_transcript_span(tx);
        int score = bed_score(row_max(&m->values[i * m->n_cols], n_score));
        /* blue (low) to red (high) */
        int red = score * 255 / 1000, blue = 255 - red;
        int64_t thick_start = s.start, thick_end = s.start;
        if (tx->n_cds > 0) {
            thick_start = tx->cds[0].start;
            thick_end = tx->cds[tx->n_cds - 1].end;
        }
        fprintf(fp, "%s\t%lld\t%lld\t%s\t%d\t%c\t%lld\t%lld\t%d,0,%d\t%d\t", tx->chrom, (long long)s.start,
                (long long)s.end, tx->transcript_id, score, tx->strand, (long long)thick_start,
                (long long)thick_end, red, blue, tx->n_exons);
        for (int e = 0; e < tx->n_exons; e++)
            fprintf(fp, "%lld,", (long long)(tx->exons[e].end - tx->exons[e].start));
        fputc('\t', fp);
        for (int e = 0; e < tx->n_exons; e++)
            fprintf(fp, "%lld,", (long long)(tx->exons[e].start - s.start));
        fputc('\n', fp);
    }
    return ISO_OK;
}

static int check_score_cols(const char *path, const iso_track_matrix *m, int n_score_cols)
{
    if (n_score_cols < 1 || n_score_cols > m->n_cols)
        return iso_error(ISO_EINVAL, "%s: score from the first %d columns, expected 1 to %d", path, n_score_cols,
                         m->n_cols);
    return ISO_OK;
}

int iso_write_bed12(const char *path, const iso_track_matrix *m, int n_score_cols)
{
    int rc = check_score_cols(path, m, n_score_cols);
    return rc < 0 ? rc : write_sorted(path, m, &n_score_cols, bed_body);
}

int iso_write_bed12_in_order(const char *path, const iso_track_matrix *m, const size_t *order, int n_score_cols)
{
    int rc = check_score_cols(path, m, n_score_cols);
    return rc < 0 ? rc : write_atomically(path, m, order, &n_score_cols, bed_body);
}

void iso_track_file_name(char *buf, size_t size, const char *column)
{
    snprintf(buf, size, "%s", column);
    for (char *p = buf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-'))
            *p = '_';
}
