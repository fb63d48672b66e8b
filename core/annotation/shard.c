/* Splitting an annotation into shards of about equal predicted cost, whole genes only. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "isoformer/annotation.h"

static int64_t intervals_len(const iso_interval *iv, int n)
{
    int64_t len = 0;
    for (int i = 0; i < n; i++)
        len += iv[i].end - iv[i].start;
    return len;
}

static double encoder_cost(const iso_encoder_cost *c, int64_t tokens)
{
    double t = (double)(tokens < c->max_tokens ? tokens : c->max_tokens);
    return c->fixed + c->per_token * t + c->per_token_sq * t * t;
}

double iso_gene_cost(const iso_annotation *a, const size_t *tx, size_t n_tx, const iso_cost_model *c)
{
    double cost = c->window;
    for (size_t i = 0; i < n_tx; i++) {
        const iso_transcript *t = &a->tx[tx[i]];
        cost += c->transcript + encoder_cost(&c->rna, 1 + (intervals_len(t->exons, t->n_exons) + 5) / 6);
        if (t->n_cds > 0)
            cost += encoder_cost(&c->protein, 2 + intervals_len(t->cds, t->n_cds) / 3);
    }
    return cost;
}

typedef struct {
    size_t first, n; /* range of the gene's transcripts in the by-gene order */
    double cost;
    const char *id;
} gene;

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

int iso_annotation_shard(const iso_annotation *a, const iso_cost_model *c, int index, int n_shards, size_t **rows,
                         size_t *n_rows)
{
    *rows = NULL;
    *n_rows = 0;
    if (n_shards < 1 || index < 0 || index >= n_shards)
        return iso_error(ISO_EINVAL, "shard %d/%d: expected 0 <= index < n and n >= 1", index, n_shards);
    if (a->n == 0)
        return ISO_OK;

    iso_genes g;
    int rc = iso_annotation_genes(a, NULL, 0, ISO_GENES_BY_ID, &g);
    if (rc < 0)
        return rc;
    gene *genes = malloc(g.n_genes * sizeof *genes);
    double *load = calloc((size_t)n_shards, sizeof *load);
    size_t *picked = malloc(a->n * sizeof *picked);
    if (!genes || !load || !picked) {
        free(genes), free(load), free(picked);
        iso_genes_free(&g);
        return iso_error(ISO_ENOMEM, "%s: out of memory sharding %zu transcripts", a->path ? a->path : "annotation",
                         a->n);
    }
    for (size_t k = 0; k < g.n_genes; k++) {
        const iso_transcript *t = &a->tx[g.idx[g.first[k]]];
        size_t n = g.first[k + 1] - g.first[k];
        genes[k] = (gene){g.first[k], n, iso_gene_cost(a, g.idx + g.first[k], n, c),
                          iso_transcript_gene(t)};
    }
    qsort(genes, g.n_genes, sizeof *genes, by_cost_desc_then_id);

    size_t n = 0;
    for (size_t k = 0; k < g.n_genes; k++) {
        int best = 0;
        for (int s = 1; s < n_shards; s++)
            if (load[s] < load[best])
                best = s;
        load[best] += genes[k].cost;
        if (best == index) {
            memcpy(picked + n, g.idx + genes[k].first, genes[k].n * sizeof *picked);
            n += genes[k].n;
        }
    }
    qsort(picked, n, sizeof *picked, by_index);
    free(genes), free(load);
    iso_genes_free(&g);
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
        return iso_error(ISO_EINVAL, "shard '%s': expected i/n with 1 <= i <= n, e.g. 2/8", spec);
    *index = (int)i - 1;
    *n_shards = (int)n;
    return ISO_OK;
}
