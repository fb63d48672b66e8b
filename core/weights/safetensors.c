/* safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
 * then the tensor bytes. Every offset is checked against the file before a view is handed out. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "weights/weights_internal.h"

static int parse_dtype(const char *s, iso_dtype *dt)
{
    static const struct {
        const char *name;
        iso_dtype dt;
    } table[] = {{"F32", ISO_DT_F32}, {"F16", ISO_DT_F16}, {"BF16", ISO_DT_BF16}, {"I64", ISO_DT_I64},
                 {"I32", ISO_DT_I32}, {"U8", ISO_DT_U8},   {"BOOL", ISO_DT_BOOL}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(s, table[i].name)) {
            *dt = table[i].dt;
            return 0;
        }
    return -1;
}

typedef struct {
    uint64_t begin, end;
    const char *name;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end; /* empty tensors first at a shared offset */
}

static int read_entry(iso_weights *w, const char *name, json_t *e, const unsigned char *data, uint64_t data_len,
                      span *sp)
{
    json_t *jdt = json_object_get(e, "dtype"), *jshape = json_object_get(e, "shape"),
           *joff = json_object_get(e, "data_offsets");
    iso_dtype dt;
    if (!json_is_string(jdt) || parse_dtype(json_string_value(jdt), &dt) != 0)
        return iso_error(ISO_EFORMAT, "%s: tensor '%s': dtype is %s; expected one of F32 F16 BF16 I64 I32 U8 BOOL",
                         w->path, name, json_is_string(jdt) ? json_string_value(jdt) : "not a string");
    if (!json_is_array(jshape) || json_array_size(jshape) > ISO_MAX_DIMS)
        return iso_error(ISO_EFORMAT, "%s: tensor '%s': shape must be an array of at most %d integers", w->path,
                         name, ISO_MAX_DIMS);
    int64_t shape[ISO_MAX_DIMS];
    int ndim = (int)json_array_size(jshape);
    for (int d = 0; d < ndim; d++) {
        json_t *v = json_array_get(jshape, (size_t)d);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return iso_error(ISO_EFORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer", w->path, name, d);
        shape[d] = json_integer_value(v);
    }
    json_t *jb = json_array_get(joff, 0), *je = json_array_get(joff, 1);
    if (!json_is_array(joff) || json_array_size(joff) != 2 || !json_is_integer(jb) || !json_is_integer(je) ||
        json_integer_value(jb) < 0 || json_integer_value(je) < json_integer_value(jb))
        return iso_error(ISO_EFORMAT, "%s: tensor '%s': data_offsets must be [begin, end] with 0 <= begin <= end",
                         w->path, name);
    uint64_t b = (uint64_t)json_integer_value(jb), en = (uint64_t)json_integer_value(je);
    if (en > data_len)
        return iso_error(ISO_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the data "
                                      "(%llu bytes): truncated file?", w->path, name, (unsigned long long)b,
                         (unsigned long long)en, (unsigned long long)data_len);
    int64_t nbytes = iso_shape_nbytes(dt, ndim, shape);
    if (nbytes < 0 || (uint64_t)nbytes != en - b)
        return iso_error(ISO_EFORMAT, "%s: tensor '%s': %llu bytes of data do not match its shape and dtype",
                         w->path, name, (unsigned long long)(en - b));
    *sp = (span){b, en, name};
    return iso_weights_add(w, name, dt, ndim, shape, data + b, (size_t)(en - b));
}

/* As the safetensors library requires: the tensors tile the data section exactly, without overlaps or holes. */
static int check_spans(iso_weights *w, span *spans, size_t n, uint64_t data_len)
{
    if (n)
        qsort(spans, n, sizeof *spans, cmp_span);
    uint64_t expect = 0;
    for (size_t i = 0; i < n; i++) {
        if (spans[i].begin < expect)
            return iso_error(ISO_EFORMAT, "%s: tensors '%s' and '%s' overlap in the data section", w->path,
                             spans[i - 1].name, spans[i].name);
        if (spans[i].begin > expect)
            return iso_error(ISO_EFORMAT, "%s: data bytes [%llu, %llu) before tensor '%s' belong to no tensor",
                             w->path, (unsigned long long)expect, (unsigned long long)spans[i].begin, spans[i].name);
        expect = spans[i].end;
    }
    if (expect != data_len)
        return iso_error(ISO_EFORMAT, "%s: the data section has %llu bytes but its tensors cover %llu", w->path,
                         (unsigned long long)data_len, (unsigned long long)expect);
    return ISO_OK;
}

/* Re-creates the alias names our writer folded ({"alias": "target"} in __metadata__["isoformer.aliases"]). */
static int add_aliases(iso_weights *w, json_t *meta)
{
    json_t *a = json_object_get(meta, "isoformer.aliases");
    if (!json_is_string(a))
        return ISO_OK;
    json_error_t jerr;
    json_t *map = json_loads(json_string_value(a), 0, &jerr);
    if (!json_is_object(map)) {
        json_decref(map);
        return iso_error(ISO_EFORMAT, "%s: __metadata__ isoformer.aliases is not a JSON object", w->path);
    }
    int rc = ISO_OK;
    const char *alias;
    json_t *target;
    size_t base_n = w->n;
    json_object_foreach(map, alias, target) {
        const iso_tensor_view *t = NULL;
        for (size_t i = 0; i < base_n && json_is_string(target); i++)
            if (!strcmp(w->tensors[i].name, json_string_value(target)))
                t = &w->tensors[i];
        if (!t) {
            rc = iso_error(ISO_EFORMAT, "%s: alias '%s' names a tensor that is not in the file", w->path, alias);
            break;
        }
        iso_tensor_view copy = *t; /* iso_weights_add may move the table */
        if ((rc = iso_weights_add(w, alias, copy.dtype, copy.ndim, copy.shape, copy.data, copy.nbytes)) != ISO_OK)
            break;
    }
    json_decref(map);
    return rc;
}

int iso_read_safetensors(iso_weights *w)
{
    uint64_t hlen = 0;
    for (int b = 0; b < 8; b++)
        hlen |= (uint64_t)w->map[b] << (8 * b);
    if (hlen > w->map_size - 8)
        return iso_error(ISO_EFORMAT, "%s: safetensors header length %llu exceeds the file size %zu", w->path,
                         (unsigned long long)hlen, w->map_size);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)w->map + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return iso_error(ISO_EFORMAT, "%s: safetensors header is not valid JSON (byte %d: %s)", w->path,
                         jerr.position + 8, jerr.text);
    int rc = ISO_OK;
    span *spans = NULL;
    if (!json_is_object(root)) {
        rc = iso_error(ISO_EFORMAT, "%s: safetensors header is not a JSON object", w->path);
        goto done;
    }
    const unsigned char *data = w->map + 8 + hlen;
    uint64_t data_len = w->map_size - 8 - hlen;
    size_t n = 0;
    spans = malloc((json_object_size(root) + 1) * sizeof *spans);
    if (!spans) {
        rc = iso_error(ISO_ENOMEM, "%s: out of memory", w->path);
        goto done;
    }
    const char *name;
    json_t *e;
    json_object_foreach(root, name, e) {
        if (!strcmp(name, "__metadata__"))
            continue;
        if (!json_is_object(e)) {
            rc = iso_error(ISO_EFORMAT, "%s: header entry '%s' is not an object", w->path, name);
            goto done;
        }
        if ((rc = read_entry(w, name, e, data, data_len, &spans[n])) != ISO_OK)
            goto done;
        n++;
    }
    if ((rc = check_spans(w, spans, n, data_len)) != ISO_OK)
        goto done;
    rc = add_aliases(w, json_object_get(root, "__metadata__"));
done:
    free(spans);
    json_decref(root);
    return rc;
}
