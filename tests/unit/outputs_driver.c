/* Test driver for the track writers: builds an annotation in memory from a small text description and writes
 * PREFIX.tsv, PREFIX.bed (BED12 scored from the first N_SCORE columns), PREFIX.bw (column COL, per base) and
 * PREFIX.binned.bw (BIN_SIZE). test_outputs.py reads them back with csv, bedtools and bx-python.
 *   outputs_driver IN PREFIX COL BIN_SIZE N_SCORE
 * IN: first line "chrom:len chrom:len ..." (bigWig header order), then one transcript per line:
 *   id <TAB> gene <TAB> chrom <TAB> strand <TAB> start-end,... (exons) <TAB> start-end,... or . (CDS)
 *   <TAB> value,value,... ("nan" for no value) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isoformer/outputs.h"

#define MAX_TX 4096
#define MAX_COLS 8
#define MAX_CHROMS 16

static int parse_intervals(char *s, iso_interval **out)
{
    if (!strcmp(s, "."))
        return 0;
    int n = 1;
    for (char *p = s; *p; p++)
        n += *p == ',';
    *out = calloc((size_t)n, sizeof **out);
    char *save = NULL;
    int i = 0;
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save), i++)
        sscanf(tok, "%" SCNd64 "-%" SCNd64, &(*out)[i].start, &(*out)[i].end);
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: outputs_driver IN PREFIX COL BIN_SIZE N_SCORE\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    if (!in)
        return 1;
    static char line[1 << 16];
    static char *chrom_names[MAX_CHROMS];
    static int64_t chrom_lens[MAX_CHROMS];
    int n_chroms = 0;
    if (!fgets(line, sizeof line, in))
        return 1;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \n", &save); tok && n_chroms < MAX_CHROMS; tok = strtok_r(NULL, " \n", &save)) {
        char *colon = strrchr(tok, ':');
        *colon = '\0';
        chrom_names[n_chroms] = strdup(tok);
        chrom_lens[n_chroms++] = strtoll(colon + 1, NULL, 10);
    }

    iso_annotation ann = {.tx = calloc(MAX_TX, sizeof(iso_transcript))};
    static float values[MAX_TX * MAX_COLS];
    int n_cols = 0;
    while (ann.n < MAX_TX && fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = '\0';
        char *f[7];
        save = NULL;
        for (int i = 0; i < 7; i++)
            f[i] = strtok_r(i ? NULL : line, "\t", &save);
        iso_transcript *tx = &ann.tx[ann.n];
        tx->transcript_id = strdup(f[0]);
        tx->gene_id = strdup(f[1]);
        tx->gene_name = strdup(f[1]);
        tx->chrom = strdup(f[2]);
        tx->strand = f[3][0];
        tx->n_exons = parse_intervals(f[4], &tx->exons);
        tx->n_cds = parse_intervals(f[5], &tx->cds);
        if (tx->n_cds)
            tx->flags |= ISO_TX_CODING;
        n_cols = 0;
        char *vsave = NULL;
        for (char *v = strtok_r(f[6], ",", &vsave); v && n_cols < MAX_COLS; v = strtok_r(NULL, ",", &vsave))
            values[ann.n * MAX_COLS + n_cols++] = strtof(v, NULL);
        ann.n++;
    }
    fclose(in);
    /* The matrix lists rows in reverse file order, so the writers' own sorting is exercised. */
    size_t *rows = malloc(ann.n * sizeof *rows);
    float *matrix = malloc(ann.n * (size_t)n_cols * sizeof *matrix);
    static const char *const col_names[MAX_COLS] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"};
    for (size_t i = 0; i < ann.n; i++) {
        rows[i] = ann.n - 1 - i;
        for (int j = 0; j < n_cols; j++)
            matrix[i * n_cols + j] = values[rows[i] * MAX_COLS + j];
    }
    iso_track_matrix m = {&ann, rows, ann.n, col_names, n_cols, matrix};
    int col = atoi(argv[3]), bin = atoi(argv[4]), n_score = atoi(argv[5]);
    char path[4096];
    int rc = ISO_OK;
    const char *const *names = (const char *const *)chrom_names;
    snprintf(path, sizeof path, "%s.tsv", argv[2]);
    rc = iso_write_tsv(path, &m);
    snprintf(path, sizeof path, "%s.bed", argv[2]);
    if (rc == ISO_OK)
        rc = iso_write_bed12(path, &m, n_score);
    snprintf(path, sizeof path, "%s.bw", argv[2]);
    if (rc == ISO_OK)
        rc = iso_write_bigwig(path, &m, col, names, chrom_lens, n_chroms, 1);
    snprintf(path, sizeof path, "%s.binned.bw", argv[2]);
    if (rc == ISO_OK)
        rc = iso_write_bigwig(path, &m, col, names, chrom_lens, n_chroms, bin);
    if (rc != ISO_OK)
        fprintf(stderr, "%s\n", iso_last_error());

    for (size_t i = 0; i < ann.n; i++) {
        iso_transcript *tx = &ann.tx[i];
        free(tx->transcript_id);
        free(tx->gene_id);
        free(tx->gene_name);
        free(tx->chrom);
        free(tx->exons);
        free(tx->cds);
    }
    free(ann.tx);
    free(rows);
    free(matrix);
    for (int c = 0; c < n_chroms; c++)
        free(chrom_names[c]);
    return rc == ISO_OK ? 0 : 1;
}
