#include "model/params.h"
#include "util/array.h"

#include <stdio.h>
#include <stdlib.h>

void iso_params_init(iso_params *p, const iso_weights *w, const char *prefix, iso_backend *be)
{
    *p = (iso_params){.w = w, .prefix = prefix, .be = be};
}

static int push_ptr(void ***arr, size_t *n, size_t *cap, void *ptr)
{
    void **a = iso_reserve(*arr, cap, *n + 1, sizeof *a, 64);
    if (!a)
        return -1;
    *arr = a;
    (*arr)[(*n)++] = ptr;
    return 0;
}

static const float *lookup(iso_params *p, int ndim, const int64_t *shape, const char *fmt, va_list ap)
{
    if (p->failed)
        return NULL;
    char name[512], full[640];
    vsnprintf(name, sizeof name, fmt, ap);
    snprintf(full, sizeof full, "%s%s", p->prefix, name);
    const float *data = NULL;
    if (iso_weights_get_f32(p->w, full, ndim, shape, &data) != ISO_OK) {
        p->failed = 1;
        return NULL;
    }
    return data;
}

const float *iso_param_host(iso_params *p, int ndim, const int64_t *shape, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const float *data = lookup(p, ndim, shape, fmt, ap);
    va_end(ap);
    return data;
}

const float *iso_param_upload(iso_params *p, const float *host, size_t n)
{
    if (!host || p->failed)
        return NULL;
    const float *dev = p->be->ops->weight(p->be, host, n);
    if (!dev || push_ptr((void ***)&p->dev, &p->n_dev, &p->cap_dev, (void *)dev)) {
        if (dev)
            p->be->ops->free_weight(p->be, dev);
        else
            iso_error(ISO_ENOMEM, "cannot place %zu weights on the %s backend", n, iso_backend_name(p->be));
        p->failed = 1;
        return NULL;
    }
    return dev;
}

const float *iso_param(iso_params *p, int ndim, const int64_t *shape, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const float *host = lookup(p, ndim, shape, fmt, ap);
    va_end(ap);
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    return host ? iso_param_upload(p, host, n) : NULL;
}

int iso_param_exists(iso_params *p, const char *fmt, ...)
{
    char name[512], full[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s%s", p->prefix, name);
    return iso_weights_find(p->w, full) != NULL;
}

float *iso_param_scratch(iso_params *p, size_t n)
{
    float *a = p->failed ? NULL : malloc((n ? n : 1) * sizeof *a);
    if (!p->failed && (!a || push_ptr((void ***)&p->host, &p->n_host, &p->cap_host, a))) {
        free(a);
        iso_error(ISO_ENOMEM, "out of memory for %zu derived weights", n);
        p->failed = 1;
        return NULL;
    }
    return a;
}

void iso_params_free(iso_params *p)
{
    for (size_t i = 0; i < p->n_dev; i++)
        p->be->ops->free_weight(p->be, p->dev[i]);
    for (size_t i = 0; i < p->n_host; i++)
        free(p->host[i]);
    free(p->dev);
    free(p->host);
    p->dev = NULL;
    p->host = NULL;
    p->n_dev = p->n_host = 0;
}
