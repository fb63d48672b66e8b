/* Growing arrays: one doubling rule for every table the library appends to. */
#ifndef ISOFORMER_UTIL_ARRAY_H
#define ISOFORMER_UTIL_ARRAY_H

#include <stddef.h>

/* p, an array of *cap elements of `size` bytes, with room for at least `need` (the capacity doubled, from
 * `first` when empty); NULL when out of memory (p is then as it was, *cap unchanged). Records no error: the
 * caller says what ran out. */
void *iso_reserve(void *p, size_t *cap, size_t need, size_t size, size_t first);

#endif
