#include "util/array.h"

#include <stdint.h>
#include <stdlib.h>

void *iso_reserve(void *p, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return p;
    size_t grown = *cap ? *cap : (first ? first : 1);
    while (grown < need)
        grown = grown > SIZE_MAX / 2 ? need : 2 * grown;
    if (size && grown > SIZE_MAX / size)
        return NULL;
    void *q = realloc(p, grown * size);
    if (q)
        *cap = grown;
    return q;
}
