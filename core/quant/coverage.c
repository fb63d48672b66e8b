/* Read coverage: each aligned block adds its weight at its start and removes it at its end; as the sorted
 * alignments stream by, every position before the current one is final and leaves the buffer as runs of equal
 * depth, so memory follows the reads in flight, not the contig. */
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"
#include "util/array.h"

int cov_add_block(cov_track *t, int64_t start, int64_t end, double weight)
{
    struct cov_event *e = iso_reserve(t->ev, &t->cap, t->n + 2, sizeof *e, 4096);
    if (!e)
        return iso_error(ISO_ENOMEM, "out of memory for coverage");
    t->ev = e;
    t->ev[t->n++] = (struct cov_event){start, weight};
    t->ev[t->n++] = (struct cov_event){end, -weight};
    return ISO_OK;
}

static int by_pos(const void *a, const void *b)
{
    int64_t x = ((const struct cov_event *)a)->pos, y = ((const struct cov_event *)b)->pos;
    return (x > y) - (x < y);
}

static int emit(iso_span **spans, size_t *n, size_t *cap, int64_t start, int64_t end, double depth)
{
    float v = (float)depth;
    if (*n && (*spans)[*n - 1].end == (uint32_t)start && (*spans)[*n - 1].value == v) {
        (*spans)[*n - 1].end = (uint32_t)end;
        return ISO_OK;
    }
    iso_span *s = iso_reserve(*spans, cap, *n + 1, sizeof *s, 1024);
    if (!s)
        return iso_error(ISO_ENOMEM, "out of memory for coverage");
    *spans = s;
    (*spans)[(*n)++] = (iso_span){(uint32_t)start, (uint32_t)end, v};
    return ISO_OK;
}

int cov_sweep(cov_track *t, int64_t pos)
{
    if (t->n == 0)
        return ISO_OK;
    qsort(t->ev, t->n, sizeof *t->ev, by_pos);
    size_t i = 0;
    while (i < t->n && t->ev[i].pos <= pos) {
        int64_t q = t->ev[i].pos;
        if (q > t->swept_to && t->depth > 0 &&
            emit(&t->spans, &t->n_spans, &t->cap_spans, t->swept_to, q, t->depth) != ISO_OK)
            return ISO_ENOMEM;
        for (; i < t->n && t->ev[i].pos == q; i++)
            t->depth += t->ev[i].delta;
        if (t->depth < 1e-9)
            t->depth = 0;
        t->swept_to = q;
    }
    memmove(t->ev, t->ev + i, (t->n - i) * sizeof *t->ev);
    t->n -= i;
    t->kept = t->n;
    return ISO_OK;
}

int cov_full(const cov_track *t) { return t->n > 1 << 16 && t->n > 2 * t->kept; }

void cov_track_free(cov_track *t)
{
    free(t->ev);
    free(t->spans);
    memset(t, 0, sizeof *t);
}

int cov_take(cov_track *t, struct iso_span_list *out)
{
    out->spans = t->spans;
    out->n = t->n_spans;
    t->spans = NULL;
    t->n_spans = t->cap_spans = 0;
    return ISO_OK;
}

int cov_sum(const cov_track *a, const cov_track *b, struct iso_span_list *out)
{
    iso_span *s = NULL;
    size_t n = 0, cap = 0, i = 0, j = 0;
    /* Walk the boundaries of both run lists; between two boundaries each list has one value (or none). */
    int64_t pos = 0;
    while (i < a->n_spans || j < b->n_spans) {
        const iso_span *x = i < a->n_spans ? &a->spans[i] : NULL, *y = j < b->n_spans ? &b->spans[j] : NULL;
        int64_t next_start = x && (!y || x->start < y->start) ? x->start : y->start;
        if (pos < next_start)
            pos = next_start;
        int in_x = x && x->start <= pos, in_y = y && y->start <= pos;
        int64_t stop = INT64_MAX;
        if (in_x)
            stop = x->end;
        else if (x)
            stop = x->start;
        if (in_y && y->end < stop)
            stop = y->end;
        else if (!in_y && y && y->start < stop)
            stop = y->start;
        double depth = (in_x ? (double)x->value : 0) + (in_y ? (double)y->value : 0);
        if (emit(&s, &n, &cap, pos, stop, depth) != ISO_OK) {
            free(s);
            return ISO_ENOMEM;
        }
        pos = stop;
        if (x && x->end <= pos)
            i++;
        if (y && y->end <= pos)
            j++;
    }
    out->spans = s;
    out->n = n;
    return ISO_OK;
}
