#include "predict/prefetch.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "isoformer/error.h"

struct iso_prefetch {
    size_t n, ahead;
    const size_t *group;
    iso_produce_fn produce;
    void *arg;
    iso_item_free_fn free_item;
    void **items;              /* items[i] from production until the consumer takes it */
    size_t produced, consumed; /* tasks [consumed, produced) wait in items */
    size_t current;            /* group of the task the consumer works on */
    int threaded, stopping, finished;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t ready, room;
};

static void *producer(void *arg)
{
    iso_prefetch *p = arg;
    int stop = 0;
    for (size_t i = 0; i < p->n && !stop; i++) {
        pthread_mutex_lock(&p->lock);
        while (!p->stopping && p->group[i] > p->current + p->ahead)
            pthread_cond_wait(&p->room, &p->lock);
        stop = p->stopping;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
        void *item = p->produce(p->arg, i, &stop);
        pthread_mutex_lock(&p->lock);
        p->items[i] = item;
        p->produced = i + 1;
        pthread_cond_signal(&p->ready);
        pthread_mutex_unlock(&p->lock);
        stop |= !item;
    }
    pthread_mutex_lock(&p->lock);
    p->finished = 1;
    pthread_cond_signal(&p->ready);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int iso_prefetch_start(size_t n, const size_t *group, size_t ahead, iso_produce_fn produce, void *arg,
                       iso_item_free_fn free_item, iso_prefetch **out)
{
    iso_prefetch *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p || !(p->items = calloc(n ? n : 1, sizeof *p->items))) {
        free(p);
        return iso_error(ISO_ENOMEM, "out of memory");
    }
    *p = (iso_prefetch){.n = n, .ahead = ahead, .group = group, .produce = produce, .arg = arg,
                        .free_item = free_item, .items = p->items, .current = n ? group[0] : 0,
                        .threaded = ahead > 0 && n > 0};
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->ready, NULL);
    pthread_cond_init(&p->room, NULL);
    if (p->threaded) {
        /* the thread inherits this mask: interrupts go to the main thread, whose handler removes temporaries */
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        int err = pthread_create(&p->thread, NULL, producer, p);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (err) {
            p->threaded = 0;
            iso_prefetch_stop(p);
            return iso_error(ISO_ENOMEM, "cannot start the prefetch thread (%s)", strerror(err));
        }
    }
    *out = p;
    return ISO_OK;
}

int iso_prefetch_next(iso_prefetch *p, void **item)
{
    size_t i = p->consumed;
    *item = NULL;
    if (i < p->n && !p->threaded) {
        int stop = 0;
        *item = p->produce(p->arg, i, &stop);
    } else if (i < p->n) {
        pthread_mutex_lock(&p->lock);
        p->current = p->group[i];
        pthread_cond_signal(&p->room);
        while (p->produced <= i && !p->finished)
            pthread_cond_wait(&p->ready, &p->lock);
        if (p->produced > i) {
            *item = p->items[i];
            p->items[i] = NULL;
        }
        pthread_mutex_unlock(&p->lock);
    }
    p->consumed = i + 1;
    return *item ? ISO_OK : iso_error(ISO_ENOMEM, "out of memory preparing inputs");
}

void iso_prefetch_stop(iso_prefetch *p)
{
    if (!p)
        return;
    if (p->threaded) {
        pthread_mutex_lock(&p->lock);
        p->stopping = 1;
        pthread_cond_signal(&p->room);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
    }
    for (size_t i = p->consumed; i < p->produced; i++)
        p->free_item(p->items[i]);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->ready);
    pthread_cond_destroy(&p->room);
    free(p->items);
    free(p);
}
