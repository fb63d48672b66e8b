/* Equivalence classes: fragments with the same compatible transcripts (and the same fragment length implied
 * on each) are one class with a count, so memory follows the classes, not the alignments. */
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"
#include "util/array.h"

/* iso_reserve, recording what ran out of memory. */
static void *reserve(void *p, size_t *cap, size_t need, size_t size, size_t first)
{
    void *q = iso_reserve(p, cap, need, size, first);
    if (!q)
        iso_error(ISO_ENOMEM, "out of memory for equivalence classes");
    return q;
}

/* Appends n transcripts and their bins to the pool. */
static int pool_append(tx_pool *p, const uint32_t *tx, const int32_t *bin, int n)
{
    size_t tx_cap = p->cap, bin_cap = p->cap;
    uint32_t *t = reserve(p->tx, &tx_cap, p->n + (size_t)n, sizeof *t, 1024);
    if (t)
        p->tx = t;
    int32_t *b = t ? reserve(p->bin, &bin_cap, p->n + (size_t)n, sizeof *b, 1024) : NULL;
    if (!b)
        return ISO_ENOMEM;
    p->bin = b;
    p->cap = bin_cap;
    memcpy(p->tx + p->n, tx, (size_t)n * sizeof *tx);
    memcpy(p->bin + p->n, bin, (size_t)n * sizeof *bin);
    p->n += (size_t)n;
    return ISO_OK;
}

static void pool_free(tx_pool *p)
{
    free(p->tx);
    free(p->bin);
}

static uint64_t class_hash(const uint32_t *tx, const int32_t *bin, int n, int strand)
{
    uint64_t h = 1469598103934665603u ^ (uint64_t)strand;
    for (int i = 0; i < n; i++)
        h = (h ^ (((uint64_t)tx[i] << 32) | (uint32_t)bin[i])) * 1099511628211u, h ^= h >> 29;
    return h;
}

static int same(const class_table *t, const qclass *c, const uint32_t *tx, const int32_t *bin, int n, int strand)
{
    return c->n == n && c->strand == strand && !memcmp(t->pool.tx + c->off, tx, (size_t)n * sizeof *tx) &&
           !memcmp(t->pool.bin + c->off, bin, (size_t)n * sizeof *bin);
}

static int rehash(class_table *t)
{
    size_t n_slots = t->n_slots ? 2 * t->n_slots : 1024;
    size_t *slot = calloc(n_slots, sizeof *slot);
    if (!slot)
        return iso_error(ISO_ENOMEM, "out of memory for equivalence classes");
    for (size_t i = 0; i < t->n; i++) {
        const qclass *c = &t->c[i];
        size_t s = class_hash(t->pool.tx + c->off, t->pool.bin + c->off, c->n, c->strand) & (n_slots - 1);
        while (slot[s])
            s = (s + 1) & (n_slots - 1);
        slot[s] = i + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->n_slots = n_slots;
    return ISO_OK;
}

int class_add(class_table *t, const uint32_t *tx, const int32_t *bin, int n, int strand, double count)
{
    if (2 * (t->n + 1) > t->n_slots && rehash(t) != ISO_OK)
        return ISO_ENOMEM;
    size_t s = class_hash(tx, bin, n, strand) & (t->n_slots - 1);
    for (; t->slot[s]; s = (s + 1) & (t->n_slots - 1)) {
        qclass *c = &t->c[t->slot[s] - 1];
        if (same(t, c, tx, bin, n, strand)) {
            c->count += count;
            return ISO_OK;
        }
    }
    qclass *c = reserve(t->c, &t->cap, t->n + 1, sizeof *c, 256);
    if (!c)
        return ISO_ENOMEM;
    t->c = c;
    size_t off = t->pool.n;
    if (pool_append(&t->pool, tx, bin, n) != ISO_OK)
        return ISO_ENOMEM;
    t->c[t->n] = (qclass){off, n, strand, count};
    t->slot[s] = ++t->n;
    return ISO_OK;
}

void class_table_free(class_table *t)
{
    free(t->c);
    pool_free(&t->pool);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

/* Whether transcript t can have produced a fragment whose read 1 is on the reverse strand (strand 1) or not
 * (0), in a library of type s. */
static int strand_fits(const iso_annotation *ann, uint32_t t, int strand, iso_strandedness s)
{
    int sense = strand == (ann->tx[t].strand == '-'); /* read 1 on the transcript's strand */
    return (s != ISO_STRAND_FR && s != ISO_STRAND_RF) || sense == (s == ISO_STRAND_FR);
}

/* Equal implied lengths weigh every transcript alike: such a class needs no lengths in its key. */
static void clear_equal_bins(int32_t *bin, int n)
{
    int differ = 0;
    for (int k = 1; k < n; k++)
        differ |= bin[k] != bin[0];
    if (!differ)
        memset(bin, 0, (size_t)n * sizeof *bin);
}

int class_table_resolve(class_table *dst, const class_table *src, const iso_annotation *ann, iso_strandedness s)
{
    uint32_t tx[MAX_COMPATIBLE];
    int32_t bin[MAX_COMPATIBLE];
    for (size_t i = 0; i < src->n; i++) {
        const qclass *c = &src->c[i];
        int n = 0;
        for (int k = 0; k < c->n; k++)
            if (strand_fits(ann, src->pool.tx[c->off + k], c->strand, s)) {
                tx[n] = src->pool.tx[c->off + k];
                bin[n++] = src->pool.bin[c->off + k];
            }
        if (n == 0)
            continue;
        clear_equal_bins(bin, n);
        if (class_add(dst, tx, bin, n, 2, c->count) != ISO_OK)
            return ISO_ENOMEM;
    }
    return ISO_OK;
}

/* ---- multi-mapping fragments ---- */

int multi_add(multi_list *l, const char *name, size_t name_len, const uint32_t *tx, const int32_t *bin, int n,
              int strand, int paired)
{
    multi_hit *hit = reserve(l->hit, &l->cap, l->n + 1, sizeof *hit, 256);
    if (hit)
        l->hit = hit;
    char *names = hit ? reserve(l->names, &l->names_cap, l->names_n + name_len + 1, 1, 4096) : NULL;
    if (!names)
        return ISO_ENOMEM;
    l->names = names;
    multi_hit *h = &l->hit[l->n];
    *h = (multi_hit){l->names_n, l->pool.n, n, strand, paired};
    if (pool_append(&l->pool, tx, bin, n) != ISO_OK)
        return ISO_ENOMEM;
    memcpy(l->names + l->names_n, name, name_len);
    l->names[l->names_n + name_len] = 0;
    l->names_n += name_len + 1;
    l->n++;
    return ISO_OK;
}

void multi_list_free(multi_list *l)
{
    free(l->hit);
    free(l->names);
    pool_free(&l->pool);
    memset(l, 0, sizeof *l);
}

typedef struct {
    const multi_list *list;
    const multi_hit *hit;
    size_t order; /* of the hit among all: lists in contig order, hits in file order */
} hit_ref;

static int by_name(const void *a, const void *b)
{
    const hit_ref *x = a, *y = b;
    int c = strcmp(x->list->names + x->hit->name, y->list->names + y->hit->name);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

typedef struct {
    uint32_t tx;
    int32_t bin;
} tx_bin;

static int by_tx(const void *a, const void *b)
{
    const tx_bin *x = a, *y = b;
    return x->tx != y->tx ? (x->tx > y->tx) - (x->tx < y->tx) : (x->bin > y->bin) - (x->bin < y->bin);
}

/* One fragment's alignments as one class (see multi_resolve). */
static int add_fragment(class_table *dst, const hit_ref *h, size_t n_hits, const iso_annotation *ann,
                        iso_strandedness s, double (*len_weight)(int32_t, const void *), const void *ctx)
{
    tx_bin all[MAX_COMPATIBLE];
    int n = 0, paired = 0;
    for (size_t i = 0; i < n_hits; i++)
        paired |= h[i].hit->paired;
    for (size_t i = 0; i < n_hits; i++) {
        const multi_list *l = h[i].list;
        if (paired && !h[i].hit->paired)
            continue;
        for (int k = 0; k < h[i].hit->n && n < MAX_COMPATIBLE; k++) {
            size_t at = h[i].hit->off + (size_t)k;
            if (strand_fits(ann, l->pool.tx[at], h[i].hit->strand, s))
                all[n++] = (tx_bin){l->pool.tx[at], l->pool.bin[at]};
        }
    }
    qsort(all, (size_t)n, sizeof *all, by_tx);
    uint32_t tx[MAX_COMPATIBLE];
    int32_t bin[MAX_COMPATIBLE];
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m && tx[m - 1] == all[i].tx) {
            if (len_weight(all[i].bin, ctx) > len_weight(bin[m - 1], ctx))
                bin[m - 1] = all[i].bin;
            continue;
        }
        tx[m] = all[i].tx;
        bin[m++] = all[i].bin;
    }
    if (m == 0)
        return ISO_OK;
    clear_equal_bins(bin, m);
    return class_add(dst, tx, bin, m, 2, 1.0);
}

int multi_resolve(class_table *dst, const multi_list *const *lists, int n_lists, const iso_annotation *ann,
                  iso_strandedness s, double (*len_weight)(int32_t bin, const void *ctx), const void *ctx)
{
    size_t n = 0;
    for (int i = 0; i < n_lists; i++)
        n += lists[i]->n;
    hit_ref *ref = malloc((n ? n : 1) * sizeof *ref);
    if (!ref)
        return iso_error(ISO_ENOMEM, "out of memory for multi-mapping reads");
    size_t k = 0;
    for (int i = 0; i < n_lists; i++)
        for (size_t j = 0; j < lists[i]->n; j++, k++)
            ref[k] = (hit_ref){lists[i], &lists[i]->hit[j], k};
    qsort(ref, n, sizeof *ref, by_name);
    int rc = ISO_OK;
    for (size_t a = 0, b; rc == ISO_OK && a < n; a = b) {
        for (b = a + 1; b < n && !strcmp(ref[a].list->names + ref[a].hit->name, ref[b].list->names + ref[b].hit->name);)
            b++;
        rc = add_fragment(dst, ref + a, b - a, ann, s, len_weight, ctx);
    }
    free(ref);
    return rc;
}
