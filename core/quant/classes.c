/* Equivalence classes: fragments with the same compatible transcripts (and the same fragment length implied
 * on each) are one class with a count, so memory follows the classes, not the alignments. */
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"

static uint64_t class_hash(const uint32_t *tx, const int32_t *bin, int n, int strand)
{
    uint64_t h = 1469598103934665603u ^ (uint64_t)strand;
    for (int i = 0; i < n; i++)
        h = (h ^ (((uint64_t)tx[i] << 32) | (uint32_t)bin[i])) * 1099511628211u, h ^= h >> 29;
    return h;
}

static int same(const class_table *t, const qclass *c, const uint32_t *tx, const int32_t *bin, int n, int strand)
{
    return c->n == n && c->strand == strand && !memcmp(t->tx + c->off, tx, (size_t)n * sizeof *tx) &&
           !memcmp(t->bin + c->off, bin, (size_t)n * sizeof *bin);
}

static int rehash(class_table *t)
{
    size_t n_slots = t->n_slots ? 2 * t->n_slots : 1024;
    size_t *slot = calloc(n_slots, sizeof *slot);
    if (!slot)
        return iso_error(ISO_ENOMEM, "out of memory for equivalence classes");
    for (size_t i = 0; i < t->n; i++) {
        const qclass *c = &t->c[i];
        size_t s = class_hash(t->tx + c->off, t->bin + c->off, c->n, c->strand) & (n_slots - 1);
        while (slot[s])
            s = (s + 1) & (n_slots - 1);
        slot[s] = i + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->n_slots = n_slots;
    return ISO_OK;
}

int class_add(class_table *t, const uint32_t *tx, const int32_t *bin, int n, int strand, double count, double frags)
{
    if (2 * (t->n + 1) > t->n_slots && rehash(t) != ISO_OK)
        return ISO_ENOMEM;
    size_t s = class_hash(tx, bin, n, strand) & (t->n_slots - 1);
    for (; t->slot[s]; s = (s + 1) & (t->n_slots - 1)) {
        qclass *c = &t->c[t->slot[s] - 1];
        if (same(t, c, tx, bin, n, strand)) {
            c->count += count;
            c->frags += frags;
            return ISO_OK;
        }
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        qclass *c = realloc(t->c, cap * sizeof *c);
        if (!c)
            return iso_error(ISO_ENOMEM, "out of memory for equivalence classes");
        t->c = c;
        t->cap = cap;
    }
    if (t->pool_n + (size_t)n > t->pool_cap) {
        size_t cap = t->pool_cap ? 2 * t->pool_cap : 1024;
        while (cap < t->pool_n + (size_t)n)
            cap *= 2;
        uint32_t *p = realloc(t->tx, cap * sizeof *p);
        if (p)
            t->tx = p;
        int32_t *b = p ? realloc(t->bin, cap * sizeof *b) : NULL;
        if (!b)
            return iso_error(ISO_ENOMEM, "out of memory for equivalence classes");
        t->bin = b;
        t->pool_cap = cap;
    }
    memcpy(t->tx + t->pool_n, tx, (size_t)n * sizeof *tx);
    memcpy(t->bin + t->pool_n, bin, (size_t)n * sizeof *bin);
    t->c[t->n] = (qclass){t->pool_n, n, strand, count, frags};
    t->pool_n += (size_t)n;
    t->slot[s] = ++t->n;
    return ISO_OK;
}

void class_table_free(class_table *t)
{
    free(t->c);
    free(t->tx);
    free(t->bin);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

int class_table_resolve(class_table *dst, const class_table *src, const iso_annotation *ann, iso_strandedness s)
{
    uint32_t tx[MAX_COMPATIBLE];
    int32_t bin[MAX_COMPATIBLE];
    for (size_t i = 0; i < src->n; i++) {
        const qclass *c = &src->c[i];
        int n = 0;
        for (int k = 0; k < c->n; k++) {
            uint32_t t = src->tx[c->off + k];
            int sense = c->strand == (ann->tx[t].strand == '-'); /* read 1 on the transcript's strand */
            if ((s != ISO_STRAND_FR && s != ISO_STRAND_RF) || sense == (s == ISO_STRAND_FR)) {
                tx[n] = t;
                bin[n++] = src->bin[c->off + k];
            }
        }
        if (n == 0)
            continue;
        /* Equal implied lengths weigh every transcript alike: such a class needs no lengths in its key. */
        int differ = 0;
        for (int k = 1; k < n; k++)
            differ |= bin[k] != bin[0];
        if (!differ)
            memset(bin, 0, (size_t)n * sizeof *bin);
        if (class_add(dst, tx, bin, n, 2, c->count, c->frags) != ISO_OK)
            return ISO_ENOMEM;
    }
    return ISO_OK;
}
