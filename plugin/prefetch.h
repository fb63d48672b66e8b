/* Preparing work items on a second thread, ahead of their consumer: task i is produced by a callback on the
 * producer thread and handed over in order. Tasks belong to groups (genes) numbered in non-decreasing order;
 * the producer stays at most `ahead` groups beyond the group the consumer is working on, which bounds memory.
 * With ahead = 0 there is no thread: each task is produced when the consumer asks for it. */
#ifndef ISOFORMER_PLUGIN_PREFETCH_H
#define ISOFORMER_PLUGIN_PREFETCH_H

#include <stddef.h>

/* Makes task i's item (NULL when out of memory). Setting *stop ends production after this item (an item
 * that carries an error: the consumer stops there). Runs on the producer thread, which has SIGINT and SIGTERM
 * blocked so that the command's handlers run on the main thread. */
typedef void *(*cli_produce_fn)(void *arg, size_t i, int *stop);
typedef void (*cli_item_free_fn)(void *item);

typedef struct cli_prefetch cli_prefetch;

/* group[0..n-1] (non-decreasing) must stay valid until cli_prefetch_stop. */
int cli_prefetch_start(size_t n, const size_t *group, size_t ahead, cli_produce_fn produce, void *arg,
                       cli_item_free_fn free_item, cli_prefetch **out);
/* The next task's item, in task order (waits for it); ISO_ENOMEM when the producer could not allocate it. */
int cli_prefetch_next(cli_prefetch *p, void **item);
/* Stops and joins the producer and frees the items not taken; p may be NULL. */
void cli_prefetch_stop(cli_prefetch *p);

#endif
