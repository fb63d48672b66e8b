/* Preparing work items on a second thread, ahead of their consumer: task i is produced by a callback on the
 * producer thread and handed over in order. Tasks belong to groups (genes) numbered in non-decreasing order;
 * the producer stays at most `ahead` groups beyond the group the consumer is working on, which bounds memory.
 * With ahead = 0 there is no thread: each task is produced when the consumer asks for it. */
#ifndef ISOFORMER_PREDICT_PREFETCH_H
#define ISOFORMER_PREDICT_PREFETCH_H

#include <stddef.h>

/* Makes task i's item (NULL when out of memory). Setting *stop ends production after this item (an item
 * that carries an error: the consumer stops there). Runs on the producer thread, which has SIGINT and SIGTERM
 * blocked so that a program's signal handlers run on its own threads. */
typedef void *(*iso_produce_fn)(void *arg, size_t i, int *stop);
typedef void (*iso_item_free_fn)(void *item);

typedef struct iso_prefetch iso_prefetch;

/* group[0..n-1] (non-decreasing) must stay valid until iso_prefetch_stop. */
int iso_prefetch_start(size_t n, const size_t *group, size_t ahead, iso_produce_fn produce, void *arg,
                       iso_item_free_fn free_item, iso_prefetch **out);
/* The next task's item, in task order (waits for it); ISO_ENOMEM when the producer could not allocate it. */
int iso_prefetch_next(iso_prefetch *p, void **item);
/* Stops and joins the producer and frees the items not taken; p may be NULL. */
void iso_prefetch_stop(iso_prefetch *p);

#endif
