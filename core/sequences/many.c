/* The sequences of many transcripts, extracted in parallel and delivered in order: batches of transcripts are
 * shared among workers, each with its own FASTA handle (faidx handles are not shared across threads), then
 * handed to the caller in the order asked. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isoformer/sequences.h"

#define BATCH 256 /* transcripts extracted in parallel before being delivered in order */

typedef struct {
    char *dna, *rna, *protein;
    int64_t cds_len;
    unsigned flags;
} result;

static void result_clear(result *r)
{
    free(r->dna);
    free(r->rna);
    free(r->protein);
    memset(r, 0, sizeof *r);
}

/* The last DNA window a worker read: isoforms of a gene, listed together, often share their TSS. */
typedef struct {
    const char *chrom;
    iso_interval iv;
    char strand;
    char *seq;
} window_cache;

static int extract_dna_cached(iso_fasta *fa, const iso_transcript *tx, const iso_window_opts *win, window_cache *c,
                              char **seq)
{
    iso_interval iv = iso_dna_window(tx, win);
    char strand = tx->strand == '-' && win->revcomp_minus ? '-' : '+';
    if (!c->seq || strcmp(c->chrom, tx->chrom) || c->iv.start != iv.start || c->iv.end != iv.end ||
        c->strand != strand) {
        free(c->seq);
        c->seq = NULL;
        int rc = iso_extract_dna(fa, tx, win, &c->seq);
        if (rc < 0)
            return rc;
        *c = (window_cache){tx->chrom, iv, strand, c->seq};
    }
    *seq = malloc((size_t)(iv.end - iv.start) + 1);
    if (!*seq)
        return iso_error(ISO_ENOMEM, "out of memory for a %lld bp window", (long long)(iv.end - iv.start));
    memcpy(*seq, c->seq, (size_t)(iv.end - iv.start) + 1);
    return ISO_OK;
}

static int extract_one(iso_fasta *fa, window_cache *cache, const iso_transcript *tx, const iso_window_opts *win,
                       result *r)
{
    int rc;
    if ((rc = extract_dna_cached(fa, tx, win, cache, &r->dna)) < 0 || (rc = iso_extract_rna(fa, tx, &r->rna)) < 0 ||
        (rc = iso_extract_protein(fa, tx, &r->protein, &r->flags)) < 0)
        return rc;
    r->cds_len = iso_segments_length(tx->cds, tx->n_cds);
    return ISO_OK;
}

typedef struct {
    const iso_annotation *ann;
    const size_t *rows;
    result *res;
    size_t n, next;
    const iso_window_opts *win;
    pthread_mutex_t lock;
    int rc;
    char error[1024];
} batch;

typedef struct {
    batch *b;
    iso_fasta *fa;
    window_cache cache;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    batch *b = w->b;
    for (;;) {
        pthread_mutex_lock(&b->lock);
        size_t i = b->next++;
        int stop = i >= b->n || b->rc < 0;
        pthread_mutex_unlock(&b->lock);
        if (stop)
            break;
        int rc = extract_one(w->fa, &w->cache, &b->ann->tx[b->rows[i]], b->win, &b->res[i]);
        if (rc < 0) {
            pthread_mutex_lock(&b->lock);
            if (b->rc == 0) { /* the error message is per thread: carry the first one to the calling thread */
                b->rc = rc;
                snprintf(b->error, sizeof b->error, "%s", iso_last_error());
            }
            pthread_mutex_unlock(&b->lock);
        }
    }
    return NULL;
}

static int run_batch(batch *b, worker *workers, int n_workers)
{
    b->next = 0;
    if (n_workers == 1) {
        work(&workers[0]);
    } else {
        pthread_t tid[n_workers];
        int started = 0;
        for (; started < n_workers; started++)
            if (pthread_create(&tid[started], NULL, work, &workers[started]) != 0)
                break;
        if (started == 0)
            work(&workers[0]);
        for (int i = 0; i < started; i++)
            pthread_join(tid[i], NULL);
    }
    return b->rc < 0 ? iso_error(b->rc, "%s", b->error) : ISO_OK;
}

int iso_extract_many(iso_fasta *fa, const iso_annotation *ann, const size_t *rows, size_t n,
                     const iso_window_opts *win, int n_threads, iso_sequences_fn fn, void *arg)
{
    enum { MAX_WORKERS = 256 };
    int n_workers = n_threads < 1 ? 1 : n_threads > MAX_WORKERS ? MAX_WORKERS : n_threads;
    if ((size_t)n_workers > n)
        n_workers = n ? (int)n : 1;
    /* extra workers reopen the file by path, which is the unedited base of a view: a view runs on one thread */
    if (iso_fasta_is_edited(fa))
        n_workers = 1;
    worker workers[MAX_WORKERS];
    result *res = calloc(BATCH, sizeof *res);
    batch b = {.ann = ann, .win = win, .res = res};
    int rc = res ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory");
    pthread_mutex_init(&b.lock, NULL);
    int opened = 0;
    for (; rc >= 0 && opened < n_workers; opened++) {
        workers[opened] = (worker){.b = &b, .fa = opened ? iso_fasta_open(iso_fasta_path(fa)) : fa};
        if (!workers[opened].fa)
            rc = iso_last_status();
    }
    for (size_t at = 0; rc >= 0 && at < n; at += BATCH) {
        b.rows = rows + at;
        b.n = n - at < BATCH ? n - at : BATCH;
        rc = run_batch(&b, workers, n_workers);
        for (size_t i = 0; i < b.n; i++) {
            const result *r = &res[i];
            if (rc >= 0)
                rc = fn(arg, at + i, &(iso_sequences){r->dna, r->rna, r->protein, r->cds_len, r->flags});
            result_clear(&res[i]);
        }
    }
    for (int i = 0; i < opened; i++) {
        free(workers[i].cache.seq);
        if (i > 0)
            iso_fasta_close(workers[i].fa);
    }
    pthread_mutex_destroy(&b.lock);
    free(res);
    return rc;
}
