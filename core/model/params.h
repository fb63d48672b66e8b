/* Loading an encoder's parameters by name: prefix + formatted name, shape-checked against the checkpoint, then
 * handed to the backend (no copy on the CPU). The loader remembers what it gave the backend so one call frees
 * it all. */
#ifndef ISOFORMER_MODEL_PARAMS_H
#define ISOFORMER_MODEL_PARAMS_H

#include <stdarg.h>

#include "backend/backend_impl.h"
#include "isoformer/weights.h"

typedef struct {
    const iso_weights *w;
    const char *prefix;
    iso_backend *be;
    const float **dev; /* everything passed to be->weight, for iso_params_free */
    float **host;      /* host arrays derived at load time (folded BatchNorm, rearranged conv taps) */
    size_t n_dev, n_host, cap_dev, cap_host;
    int failed;        /* first error recorded; later lookups return NULL */
} iso_params;

void iso_params_init(iso_params *p, const iso_weights *w, const char *prefix, iso_backend *be);
/* Host view of tensor prefix+name (mmapped file), shape-checked; NULL (error recorded) when absent or misshapen.
 * shape lists ndim dims. */
const float *iso_param_host(iso_params *p, int ndim, const int64_t *shape, const char *fmt, ...)
    ISO_PRINTF(4, 5);
/* The same tensor on the backend. */
const float *iso_param(iso_params *p, int ndim, const int64_t *shape, const char *fmt, ...) ISO_PRINTF(4, 5);
/* Whether prefix+name exists. */
int iso_param_exists(iso_params *p, const char *fmt, ...) ISO_PRINTF(2, 3);
/* A host array of n floats owned by the loader (for derived parameters), and its upload to the backend. */
float *iso_param_scratch(iso_params *p, size_t n);
const float *iso_param_upload(iso_params *p, const float *host, size_t n);
/* Releases backend copies and derived arrays. */
void iso_params_free(iso_params *p);

#endif
