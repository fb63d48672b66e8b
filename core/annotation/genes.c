/* Transcripts grouped by gene, for everything that works gene by gene: sharding, prediction order, gene sums. */
#include <stdlib.h>
#include <string.h>

#include "isoformer/annotation.h"

typedef struct {
    const iso_transcript *tx;
    size_t pos; /* position in the rows given */
} keyed;

static int by_id(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    int c = strcmp(iso_transcript_gene(a->tx), iso_transcript_gene(b->tx));
    return c ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

static int locus_cmp(const iso_transcript *a, const iso_transcript *b)
{
    int c = strcmp(a->chrom, b->chrom);
    if (!c)
        c = strcmp(iso_transcript_gene(a), iso_transcript_gene(b));
    return c ? c : (a->strand > b->strand) - (a->strand < b->strand);
}

static int by_locus(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    int c = locus_cmp(a->tx, b->tx);
    return c ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

int iso_annotation_genes(const iso_annotation *a, const size_t *rows, size_t n, iso_gene_key key, iso_genes *out)
{
    *out = (iso_genes){0};
    if (!rows)
        n = a->n;
    for (size_t i = 0; rows && i < n; i++)
        if (rows[i] >= a->n)
            return iso_error(ISO_EINVAL, "row %zu is out of range: the annotation has %zu transcripts", rows[i],
                             a->n);
    *out = (iso_genes){.idx = malloc((n ? n : 1) * sizeof *out->idx), .first = malloc((n + 1) * sizeof *out->first)};
    keyed *k = malloc((n ? n : 1) * sizeof *k);
    if (!out->idx || !out->first || !k) {
        free(k);
        iso_genes_free(out);
        return iso_error(ISO_ENOMEM, "out of memory grouping %zu transcripts by gene", n);
    }
    for (size_t i = 0; i < n; i++)
        k[i] = (keyed){&a->tx[rows ? rows[i] : i], i};
    qsort(k, n, sizeof *k, key == ISO_GENES_BY_LOCUS ? by_locus : by_id);
    for (size_t i = 0; i < n; i++) {
        out->idx[i] = k[i].pos;
        if (i == 0 || (key == ISO_GENES_BY_LOCUS ? locus_cmp(k[i].tx, k[i - 1].tx)
                                                 : strcmp(iso_transcript_gene(k[i].tx), iso_transcript_gene(k[i - 1].tx))))
            out->first[out->n_genes++] = i;
    }
    out->first[out->n_genes] = n;
    free(k);
    return ISO_OK;
}

void iso_genes_free(iso_genes *g)
{
    free(g->idx);
    free(g->first);
    *g = (iso_genes){0};
}
