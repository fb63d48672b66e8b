/* Splitting an annotation into shards of about equal predicted cost, whole genes only. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "isoformer/annotation.h"

/* GFLOP per unit, from the architecture spec's FLOP tables (section 7): Enformer runs once per DNA window,
 * NT-v2 costs ~0.5 GFLOP per 6-mer token (at most 2,048), ESM-2 ~0.35 per residue (at most 1,024 + 2), the
 * fusion ~90 per transcript. Only the ratios matter for balancing. */
#define COST_DNA_WINDOW 3250.0
#define COST_RNA_TOKEN 0.5
#define COST_PROTEIN_TOKEN 0.35
#define COST_FUSION 90.0
#define MAX_RNA_TOKENS 2048
#define MAX_PROTEIN_TOKENS 1026

static int64_t intervals_len(const iso_interval *iv, int n)
{
    int64_t len = 0;
    for (int i = 0; i < n; i++)
        len += iv[i].end - iv[i].start;
    return len;
}

static double min_d(double a, double b) { return a < b ? a : b; }

double iso_gene_cost(const iso_annotation *a, const size_t *tx, size_t n_tx)
{
    double cost = COST_DNA_WINDOW;
    for (size_t i = 0; i < n_tx; i++) {
        const iso_transcript *t = &a->tx[tx[i]];
        double rna_tokens = min_d((double)(1 + (intervals_len(t->exons, t->n_exons) + 5) / 6), MAX_RNA_TOKENS);
        double protein_tokens = min_d((double)(2 + intervals_len(t->cds, t->n_cds) / 3), MAX_PROTEIN_TOKENS);
        cost += COST_FUSION + COST_RNA_TOKEN * rna_tokens;
        if (t->n_cds > 0)
            cost += COST_PROTEIN_TOKEN * protein_tokens;
    }
    return cost;
}

static const char *gene_key(const iso_transcript *t) { return t->gene_id ? t->gene_id : t->transcript_id; }

typedef struct {
    size_t first, n; /* range of the gene's transcripts in the by-gene order */
    double cost;
    const char *id;
} gene;

typedef struct {
    const char *gene;
    size_t tx;
} keyed_tx;

static int by_gene_then_index(const void *pa, const void *pb)
{
    const keyed_tx *a = pa, *b = pb;
    int c = strcmp(a->gene, b->gene);
    return c ? c : (a->tx > b->tx) - (a->tx < b->tx);
}

static int by_cost_desc_then_id(const void *pa, const void *pb)
{
    const gene *a = pa, *b = pb;
    if (a->cost != b->cost)
        return a->cost < b->cost ? 1 : -1;
    return strcmp(a->id, b->id);
}

static int by_index(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    return (a > b) - (a < b);
}

int iso_annotation_shard(const iso_annotation *a, int index, int n_shards, size_t **rows, size_t *n_rows)
{
    *rows = NULL;
    *n_rows = 0;
    if (n_shards < 1 || index < 0 || index >= n_shards)
        return iso_error(ISO_EINVAL, "shard %d/%d: expected 0 <= index < n and n >= 1", index, n_shards);
    if (a->n == 0)
        return ISO_OK;

    keyed_tx *keyed = malloc(a->n * sizeof *keyed);
    size_t *order = malloc(a->n * sizeof *order);
    gene *genes = malloc(a->n * sizeof *genes);
    double *load = calloc((size_t)n_shards, sizeof *load);
    size_t *picked = malloc(a->n * sizeof *picked);
    if (!keyed || !order || !genes || !load || !picked) {
        free(keyed), free(order), free(genes), free(load), free(picked);
        return iso_error(ISO_ENOMEM, "%s: out of memory sharding %zu transcripts", a->path ? a->path : "annotation",
                         a->n);
    }
    for (size_t i = 0; i < a->n; i++)
        keyed[i] = (keyed_tx){gene_key(&a->tx[i]), i};
    qsort(keyed, a->n, sizeof *keyed, by_gene_then_index);
    for (size_t i = 0; i < a->n; i++)
        order[i] = keyed[i].tx;

    size_t n_genes = 0;
    for (size_t i = 0; i < a->n;) {
        size_t j = i + 1;
        while (j < a->n && !strcmp(keyed[i].gene, keyed[j].gene))
            j++;
        genes[n_genes++] = (gene){i, j - i, iso_gene_cost(a, order + i, j - i), keyed[i].gene};
        i = j;
    }
    qsort(genes, n_genes, sizeof *genes, by_cost_desc_then_id);

    size_t n = 0;
    for (size_t g = 0; g < n_genes; g++) {
        int best = 0;
        for (int s = 1; s < n_shards; s++)
            if (load[s] < load[best])
                best = s;
        load[best] += genes[g].cost;
        if (best == index) {
            memcpy(picked + n, order + genes[g].first, genes[g].n * sizeof *picked);
            n += genes[g].n;
        }
    }
    qsort(picked, n, sizeof *picked, by_index);
    free(keyed), free(order), free(genes), free(load);
    if (n == 0) {
        free(picked);
        return ISO_OK;
    }
    *rows = picked;
    *n_rows = n;
    return ISO_OK;
}

int iso_shard_parse(const char *spec, int *index, int *n_shards)
{
    char *slash, *end;
    errno = 0;
    long i = strtol(spec, &slash, 10), n = 0;
    if (slash != spec && *slash == '/' && slash[1] >= '0' && slash[1] <= '9')
        n = strtol(slash + 1, &end, 10);
    if (n < 1 || *end || errno || i < 1 || i > n || n > INT_MAX)
        return iso_error(ISO_EINVAL, "--shard '%s': expected i/n with 1 <= i <= n, e.g. 2/8", spec);
    *index = (int)i - 1;
    *n_shards = (int)n;
    return ISO_OK;
}
