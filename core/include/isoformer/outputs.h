/* Result tracks: TSV tables, BED12 and bigWig, and their readers. Every writer goes through iso_out (temporary
 * file, renamed on success), so a failed or interrupted run leaves no partial file behind. Rows are always
 * written sorted by (chrom in byte order, start, end, transcript_id), so the outputs of `predict --shard` runs
 * merge into exactly the bytes of an unsharded run. Coordinates are BED-style: 0-based start, exclusive end. */
#ifndef ISOFORMER_OUTPUTS_H
#define ISOFORMER_OUTPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "isoformer/annotation.h"
#include "isoformer/error.h"
#include "isoformer/io.h"
#include "isoformer/manifest.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A transcripts x columns matrix of values (predictions, TPM, ...). values[i * n_cols + j]; NAN is written as
 * "NA". rows[i] indexes into ann->tx. */
typedef struct {
    const iso_annotation *ann;
    const size_t *rows;
    size_t n_rows;
    const char *const *col_names;
    int n_cols;
    const float *values;
} iso_track_matrix;

/* A matrix read one row at a time, for one too large to hold (a genome's embeddings: 250,000 x 3,072 floats,
 * 3 GB): read(arg, row, out) fills out[0..dim) with the values of row (a row of the iso_track_matrix it goes
 * with); an iso_status < 0 on failure. */
typedef struct {
    int dim;
    int (*read)(void *arg, size_t row, float *out);
    void *arg;
} iso_row_source;

/* The row order of every output: chrom (byte order), start, end, transcript_id; <0, 0 or >0 as strcmp. */
ISO_API
int iso_transcript_order(const iso_transcript *a, const iso_transcript *b);

/* The leading columns of every isoformer TSV (predictions, embeddings), before one column per value. */
#define ISO_TSV_COLUMNS "transcript_id\tgene_id\tgene_name\tchrom\tstart\tend\tstrand"
#define ISO_TSV_N_COLUMNS 7

/* TSV: header ISO_TSV_COLUMNS then the column names, one row per transcript, values printed with %.6g. */
ISO_API
int iso_write_tsv(const char *path, const iso_track_matrix *m) ISO_RESULT;
/* The same with the values read a row at a time from src (src->dim columns named as m's; m->values unused), so
 * that only one row is held. */
ISO_API
int iso_write_tsv_rows(const char *path, const iso_track_matrix *m, const iso_row_source *src) ISO_RESULT;
/* Plain BED12 (exactly 12 fields, which every BED reader takes) with a UCSC track line (itemRgb="On"):
 * name = transcript_id, score = the highest of the row's first n_score_cols values (the predicted columns,
 * not observed ones placed after them) on a fixed scale (round(100 * value) clamped to 0..1000, so log(TPM+1)
 * 0..10 spans the range and a row's score depends on nothing but its own values), itemRgb from the same score
 * (blue..red), thickStart/thickEnd = CDS span (thickStart = thickEnd = start for non-coding). */
ISO_API
int iso_write_bed12(const char *path, const iso_track_matrix *m, int n_score_cols) ISO_RESULT;
/* bigWig of column `col` over exons: each base covered by exons of several transcripts gets the maximum of
 * their values (the documented rule: a base is as expressed as its most expressed isoform). bin_size 1 writes
 * per-base runs; > 1 averages per bin. Contig sizes come from chrom_sizes (names, lengths, n). */
ISO_API
int iso_write_bigwig(const char *path, const iso_track_matrix *m, int col, const char *const *chrom_names,
                     const int64_t *chrom_lens, int n_chroms, int bin_size) ISO_RESULT;

/* The files of a prediction run: PREFIX.predictions.tsv, PREFIX.predictions.bed (scored by the first n_predicted
 * columns, the predictions: observed ones may follow), PREFIX.<column>.bw per column (iso_track_file_name; bigWig
 * bins of bigwig_bin bp) over the FASTA's contigs, and with embeddings (m->n_rows rows, as m's, read one at a
 * time) PREFIX.embeddings.tsv. With run, PREFIX.run.json too (iso_manifest_write), written last. The files are one
 * output set (iso_out_set_begin; the calling thread must have none open): they appear all together, or on failure
 * none of them. */
ISO_API
int iso_write_predictions(const char *prefix, const iso_track_matrix *m, int n_predicted,
                          const iso_row_source *embeddings, const iso_fasta *fa, int bigwig_bin,
                          const iso_manifest_info *run) ISO_RESULT;

/* The file name part of a track from its column name: characters other than [A-Za-z0-9_-] become '_'
 * ("Adipose Tissue" -> "Adipose_Tissue"; predict writes PREFIX.<name>.bw). */
ISO_API
void iso_track_file_name(char *buf, size_t size, const char *column);

/* ---- bigWig building blocks (also used by `merge`) ---- */
typedef struct iso_span {
    uint32_t start, end;
    float value;
} iso_span;

/* Sorts spans by start and replaces them by the per-base maximum as maximal runs of equal value; returns the
 * number of runs now in *spans (the array is reallocated as needed). */
ISO_API
int iso_spans_max(iso_span **spans, size_t *n) ISO_RESULT;

/* A bigWig written into an iso_out's temporary file; the caller commits the iso_out after iso_bigwig_close()
 * succeeds. */
typedef struct iso_bigwig iso_bigwig;
ISO_API
int iso_bigwig_open(iso_out *o, const char *const *chrom_names, const uint32_t *chrom_lens, int n_chroms,
                    iso_bigwig **out) ISO_RESULT;
/* Writes one contig's spans (sorted, non-overlapping, inside the contig; checked). Contigs in header order. */
ISO_API
int iso_bigwig_write_chrom(iso_bigwig *bw, const char *chrom, const iso_span *spans, size_t n) ISO_RESULT;
/* Finishes the file (libBigWig writes the last block and the index here) and verifies it: reopened and read
 * back, every contig must hold what was written, so a failed final write (a full disk) is an error, not a
 * truncated track. Frees bw (may be NULL: ISO_OK). */
ISO_API
int iso_bigwig_close(iso_bigwig *bw) ISO_RESULT;

/* ---- reading back what the writers wrote (merge, eval, fit) ---- */

/* The transcripts (ids, genes, spans as one exon each) of an isoformer TSV, as an annotation, for commands
 * that work without the GTF. */
ISO_API
int iso_tsv_read_annotation(const char *path, iso_annotation **out) ISO_RESULT;

/* The rows of a TSV (header: its first line) or BED12 (header: track, browser and '#' lines) as written, each
 * with its sort key. */
typedef enum { ISO_TABLE_TSV, ISO_TABLE_BED } iso_table_kind;
typedef struct {
    char *line;             /* the row as written, without its newline */
    char *fields;           /* a copy cut at tabs, which the key points into */
    const char *chrom, *id;
    int64_t start, end;
} iso_table_row;
typedef struct {
    char *header; /* the header lines, each ending in '\n'; NULL when there are none */
    iso_table_row *rows;
    size_t n, cap;
} iso_table;
/* Reads path into t (zeroed first); empty lines are skipped. */
ISO_API
int iso_table_read(const char *path, iso_table_kind kind, iso_table *t) ISO_RESULT;
ISO_API
void iso_table_free(iso_table *t);
/* The same rows one at a time, for files too large to hold (a genome's embeddings). */
typedef struct iso_table_reader iso_table_reader;
ISO_API
int iso_table_reader_open(const char *path, iso_table_kind kind, iso_table_reader **out) ISO_RESULT;
/* The header lines (as iso_table.header), or NULL. */
ISO_API
const char *iso_table_reader_header(const iso_table_reader *r);
/* The next row, valid until the next call or close: 1, 0 at the end of the file, or an iso_status. */
ISO_API
int iso_table_reader_next(iso_table_reader *r, const iso_table_row **row) ISO_RESULT;
ISO_API
void iso_table_reader_close(iso_table_reader *r);
/* The order of every writer's rows: chrom (byte order), start, end, transcript id (byte order). */
ISO_API
int iso_table_row_cmp(const iso_table_row *a, const iso_table_row *b);

/* A bigWig opened for reading. */
typedef struct iso_bigwig_reader iso_bigwig_reader;
ISO_API
int iso_bigwig_reader_open(const char *path, iso_bigwig_reader **out) ISO_RESULT;
/* The contigs of its header (names and lengths, valid until close); returns their number. */
ISO_API
int iso_bigwig_reader_chroms(const iso_bigwig_reader *r, const char *const **names, const uint32_t **lens);
/* Appends the spans of contig chrom (in the header) to *spans (realloc'd; *n counts them). */
ISO_API
int iso_bigwig_reader_spans(iso_bigwig_reader *r, const char *chrom, iso_span **spans, size_t *n) ISO_RESULT;
ISO_API
void iso_bigwig_reader_close(iso_bigwig_reader *r);

/* ---- SVG plots (eval, variants) ---- */
/* Starts a white w x h document in sans-serif. */
ISO_API
void iso_svg_begin(FILE *fp, double w, double h);
/* Writes s with the characters XML reserves escaped. */
ISO_API
void iso_svg_escape(FILE *fp, const char *s);
/* s as a text element at (x, y), anchored start, middle or end; extra: more attributes (" font-weight=...") */
ISO_API
void iso_svg_text(FILE *fp, double x, double y, int size, const char *anchor, const char *extra, const char *s);
/* A round axis step (1, 2 or 5 times a power of ten) giving 4 to 20 ticks over span. */
ISO_API
double iso_svg_step(double span);

#ifdef __cplusplus
}
#endif
#endif
