/* The backend registry (every backend this project has, in order of preference within a device kind), device
 * names and the accessors of the opaque iso_backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend_impl.h"

/* The registry: X(NAME) for each backend, its entry iso_backend_NAME_reg defined in core/backend/NAME/. */
#define ISO_BACKENDS(X) X(cpu) X(cuda)

#define ISO_BACKEND_DECLARE(name) extern const iso_backend_reg iso_backend_##name##_reg;
#define ISO_BACKEND_ENTRY(name) &iso_backend_##name##_reg,
ISO_BACKENDS(ISO_BACKEND_DECLARE)
static const iso_backend_reg *const registry[] = {ISO_BACKENDS(ISO_BACKEND_ENTRY)};
enum { N_REG = sizeof registry / sizeof registry[0] };

int iso_backend_reg_count(void) { return N_REG; }

static const iso_backend_reg *reg_at(int i) { return i >= 0 && i < N_REG ? registry[i] : NULL; }

const char *iso_backend_reg_name(int i) { return reg_at(i) ? reg_at(i)->name : NULL; }

iso_device_kind iso_backend_reg_kind(int i) { return reg_at(i) ? reg_at(i)->kind : ISO_DEVICE_CPU; }

int iso_backend_reg_device_count(int i) { return reg_at(i) ? reg_at(i)->device_count() : 0; }

const char *iso_backend_default_device(void)
{
    for (int i = 0; i < N_REG; i++)
        if (registry[i]->kind == ISO_DEVICE_GPU && registry[i]->device_count() > 0)
            return registry[i]->name;
    return "cpu";
}

static int bad_device(const char *device)
{
    char names[256];
    size_t k = 0;
    for (int i = 0; i < N_REG && k < sizeof names; i++)
        k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", i == 0 ? "" : i == N_REG - 1 ? " or " : ", ",
                              registry[i]->name);
    return iso_error(ISO_EINVAL, "device '%s': expected %s, or NAME:N for device N", device, names);
}

int iso_backend_create(const char *device, int n_threads, iso_precision precision, iso_backend **out)
{
    *out = NULL;
    if ((unsigned)precision > ISO_PREC_BF16) /* also keeps the shift below defined */
        return iso_error(ISO_EINVAL, "precision %d: expected fp32 (%d), tf32 (%d) or bf16 (%d)", (int)precision,
                         ISO_PREC_FP32, ISO_PREC_TF32, ISO_PREC_BF16);
    int reg, index;
    int rc = iso_backend_parse_device(device ? device : "cpu", &reg, &index);
    if (rc < 0)
        return rc;
    const iso_backend_reg *r = registry[reg];
    return r->create(index, n_threads, (r->precisions >> precision) & 1u ? precision : ISO_PREC_FP32, out);
}

int iso_backend_parse_device(const char *device, int *reg, int *index)
{
    const char *colon = strchr(device, ':');
    size_t len = colon ? (size_t)(colon - device) : strlen(device);
    *index = 0;
    if (colon) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end || v < 0 || v > 255)
            return bad_device(device);
        *index = (int)v;
    }
    for (*reg = 0; *reg < N_REG; ++*reg)
        if (strlen(registry[*reg]->name) == len && !strncmp(registry[*reg]->name, device, len))
            return ISO_OK;
    return bad_device(device);
}

static void set_precision(iso_backend *be, iso_precision precision)
{
    be->precision = precision;
    snprintf(be->key, sizeof be->key, "%s:%s", be->reg->name, iso_precision_name(precision));
}

void iso_backend_init(iso_backend *be, const iso_backend_reg *reg, const struct iso_backend_ops *ops, int device,
                      iso_precision precision, int n_threads, void *impl)
{
    be->reg = reg;
    be->ops = ops;
    be->device = device;
    be->n_threads = n_threads;
    be->impl = impl;
    set_precision(be, precision);
}

void iso_backend_destroy(iso_backend *be)
{
    if (be)
        be->ops->destroy(be);
}

int iso_backend_sync(iso_backend *be) { return be->ops->sync(be); }

const char *iso_backend_name(const iso_backend *be) { return be->reg->name; }

iso_device_kind iso_backend_device_kind(const iso_backend *be) { return be->reg->kind; }

int iso_backend_device_index(const iso_backend *be) { return be->device; }

iso_precision iso_backend_precision(const iso_backend *be) { return be->precision; }

const char *iso_precision_name(iso_precision precision)
{
    switch (precision) {
    case ISO_PREC_FP32: return "fp32";
    case ISO_PREC_TF32: return "tf32";
    case ISO_PREC_BF16: return "bf16";
    }
    return "?";
}

int iso_backend_set_precision(iso_backend *be, iso_precision precision)
{
    if ((unsigned)precision > ISO_PREC_BF16 || !((be->reg->precisions >> precision) & 1u))
        return iso_error(ISO_EINVAL, "the %s backend does not compute in %s", be->reg->name,
                         iso_precision_name(precision));
    if (be->ops->use_precision) {
        int rc = be->ops->use_precision(be, precision);
        if (rc != ISO_OK)
            return rc;
    }
    set_precision(be, precision);
    return ISO_OK;
}

const char *iso_backend_key(const iso_backend *be) { return be->key; }

int iso_backend_n_threads(const iso_backend *be) { return be->n_threads; }

size_t iso_backend_bytes_in_use(const iso_backend *be) { return be->bytes_in_use; }

size_t iso_backend_peak_bytes(const iso_backend *be) { return be->peak_bytes; }

size_t iso_backend_cached_bytes(const iso_backend *be)
{
    return be->ops->cached_bytes ? be->ops->cached_bytes(be) : 0;
}

int iso_backend_release_cached(iso_backend *be)
{
    return be->ops->release_cached ? be->ops->release_cached(be) : ISO_OK;
}

void iso_backend_get_counters(const iso_backend *be, iso_backend_counters *out)
{
    *out = (iso_backend_counters){be->gemm_flop, be->gemm_seconds, be->attention_flop, be->attention_seconds};
}

int iso_backend_supports_op(const iso_backend *be, iso_op op, const void *args)
{
    if (op == ISO_OP_DNA_IM2COL && !be->ops->dna_im2col)
        return 0;
    return be->ops->supports_op ? be->ops->supports_op(be, op, args) : 1;
}

int iso_backend_has(const iso_backend *be, iso_backend_property property)
{
    return be->ops->has ? be->ops->has(be, property) : 0;
}
