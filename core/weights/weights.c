/* The tensor table: opening and mapping a checkpoint, lookups by name with shape checks, checksums, and
 * writing safetensors. Format parsing lives in torch_zip.c and safetensors.c. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "isoformer/io.h"
#include "weights/weights_internal.h"
#include "util/array.h"

size_t iso_dtype_size(iso_dtype dt)
{
    switch (dt) {
    case ISO_DT_F32: case ISO_DT_I32: return 4;
    case ISO_DT_F16: case ISO_DT_BF16: return 2;
    case ISO_DT_I64: return 8;
    case ISO_DT_U8: case ISO_DT_BOOL: return 1;
    }
    return 0;
}

const char *iso_dtype_name(iso_dtype dt)
{
    static const char *const names[] = {"F32", "F16", "BF16", "I64", "I32", "U8", "BOOL"};
    return (unsigned)dt < sizeof names / sizeof names[0] ? names[dt] : "?";
}

int64_t iso_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && n > INT64_MAX / shape[i]))
            return -1;
        n *= shape[i];
    }
    return n;
}

int64_t iso_shape_nbytes(iso_dtype dt, int ndim, const int64_t *shape)
{
    int64_t numel = iso_shape_numel(ndim, shape), es = (int64_t)iso_dtype_size(dt);
    return numel < 0 || numel > INT64_MAX / es ? -1 : numel * es;
}

int iso_weights_add(iso_weights *w, const char *name, iso_dtype dtype, int ndim, const int64_t *shape,
                    const void *data, size_t nbytes)
{
    if (ndim < 0 || ndim > ISO_MAX_DIMS)
        return iso_error(ISO_EFORMAT, "%s: tensor '%s' has %d dimensions (at most %d supported)", w->path, name,
                         ndim, ISO_MAX_DIMS);
    const unsigned char *p = data;
    if (nbytes && (p < w->map || p > w->map + w->map_size || nbytes > (size_t)(w->map + w->map_size - p)))
        return iso_error(ISO_EFORMAT, "%s: tensor '%s' (%zu bytes) lies outside the file", w->path, name, nbytes);
    iso_tensor_view *t = iso_reserve(w->tensors, &w->cap, w->n + 1, sizeof *t, 256);
    if (!t)
        return iso_error(ISO_ENOMEM, "%s: out of memory for the tensor table", w->path);
    w->tensors = t;
    t += w->n;
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name)))
        return iso_error(ISO_ENOMEM, "%s: out of memory", w->path);
    t->dtype = dtype;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->data = nbytes ? data : w->map;
    t->nbytes = nbytes;
    w->n++;
    return ISO_OK;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const iso_tensor_view *)a)->name, ((const iso_tensor_view *)b)->name);
}

static int map_file(iso_weights *w)
{
    int fd = open(w->path, O_RDONLY);
    if (fd < 0)
        return iso_error(errno == ENOENT ? ISO_ENOTFOUND : ISO_EIO, "%s: cannot open (%s)", w->path,
                         strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return iso_error(ISO_EIO, "%s: not a regular file", w->path);
    }
    if (st.st_size < 8) {
        close(fd);
        return iso_error(ISO_EFORMAT, "%s: %lld bytes is too short for a checkpoint", w->path,
                         (long long)st.st_size);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return iso_error(ISO_EIO, "%s: cannot map (%s)", w->path, strerror(errno));
    w->map = m;
    w->map_size = (size_t)st.st_size;
    return ISO_OK;
}

/* A directory holds model.safetensors (preferred: mapped without parsing a pickle) or pytorch_model.bin. */
static char *resolve_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return strdup(path);
    static const char *const names[] = {"model.safetensors", "pytorch_model.bin"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(path) + strlen(names[i]) + 2;
        char *p = malloc(n);
        if (!p)
            return NULL;
        snprintf(p, n, "%s/%s", path, names[i]);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
    }
    iso_error(ISO_ENOTFOUND, "%s: directory has neither model.safetensors nor pytorch_model.bin", path);
    return NULL;
}

int iso_weights_open(const char *path, iso_weights **out)
{
    *out = NULL;
    iso_weights *w = calloc(1, sizeof *w);
    if (!w)
        return iso_error(ISO_ENOMEM, "%s: out of memory", path);
    iso_clear_error();
    if (!(w->path = resolve_path(path))) {
        free(w);
        return iso_last_status() ? (int)iso_last_status() : iso_error(ISO_ENOMEM, "%s: out of memory", path);
    }
    int rc = map_file(w);
    if (rc == ISO_OK) {
        if (!memcmp(w->map, "PK\x03\x04", 4))
            rc = iso_read_torch_zip(w);
        else if (w->map_size > 8 && w->map[8] == '{')
            rc = iso_read_safetensors(w);
        else if (w->map[0] == 0x80 && w->map[1] <= 5) /* a bare pickle: torch.save before 1.6 */
            rc = iso_error(ISO_EFORMAT,
                           "%s: legacy (pre-1.6) torch.save format, which is not read; re-save it with torch >= "
                           "1.6: torch.save(torch.load(f), f)", w->path);
        else
            rc = iso_error(ISO_EFORMAT,
                           "%s: neither a PyTorch zip checkpoint (torch.save, torch >= 1.6) nor safetensors", w->path);
    }
    if (rc != ISO_OK) {
        iso_weights_close(w);
        return rc;
    }
    if (w->n)
        qsort(w->tensors, w->n, sizeof *w->tensors, cmp_tensor_name);
    for (size_t i = 1; i < w->n; i++)
        if (!strcmp(w->tensors[i].name, w->tensors[i - 1].name)) {
            rc = iso_error(ISO_EFORMAT, "%s: tensor '%s' appears twice", w->path, w->tensors[i].name);
            iso_weights_close(w);
            return rc;
        }
    if (!(w->as_f32 = calloc(w->n ? w->n : 1, sizeof *w->as_f32))) {
        iso_weights_close(w);
        return iso_error(ISO_ENOMEM, "%s: out of memory", path);
    }
    *out = w;
    return ISO_OK;
}

void iso_weights_close(iso_weights *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free((char *)w->tensors[i].name);
        if (w->as_f32)
            free(w->as_f32[i]);
    }
    free(w->as_f32);
    free(w->tensors);
    if (w->map)
        munmap((void *)w->map, w->map_size);
    free(w->path);
    free(w);
}

size_t iso_weights_count(const iso_weights *w) { return w->n; }
const iso_tensor_view *iso_weights_at(const iso_weights *w, size_t i) { return i < w->n ? &w->tensors[i] : NULL; }
const char *iso_weights_path(const iso_weights *w) { return w->path; }

const iso_tensor_view *iso_weights_find(const iso_weights *w, const char *name)
{
    iso_tensor_view key = {.name = name};
    if (!w->n)
        return NULL;
    return bsearch(&key, w->tensors, w->n, sizeof *w->tensors, cmp_tensor_name);
}

static void format_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t off = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (off < size)
        snprintf(buf + off, size - off, "]");
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = malloc((lb + 1) * sizeof *row);
    if (!row)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

/* The three names closest to `name` by edit distance, to point at a typo or a different prefix. */
static void similar_names(const iso_weights *w, const char *name, char *buf, size_t size)
{
    enum { SHOW = 3 };
    size_t best[SHOW], dist[SHOW], n = 0;
    for (size_t i = 0; i < w->n; i++) {
        size_t d = edit_distance(name, w->tensors[i].name);
        if (n == SHOW && d >= dist[SHOW - 1])
            continue;
        size_t k = n < SHOW ? n++ : SHOW - 1; /* insertion into the sorted top list */
        for (; k > 0 && dist[k - 1] > d; k--) {
            best[k] = best[k - 1];
            dist[k] = dist[k - 1];
        }
        best[k] = i;
        dist[k] = d;
    }
    size_t off = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < n && off < size; k++)
        off += (size_t)snprintf(buf + off, size - off, "%s'%s'", k ? ", " : "", w->tensors[best[k]].name);
}

/* IEEE binary16 to float32, subnormals, infinities and NaN included. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | mant << 13;
    } else if (exp) {
        bits = sign | (exp + 112) << 23 | mant << 13;
    } else if (mant) { /* subnormal: normalise the mantissa */
        int e = -1;
        do {
            mant <<= 1;
            e++;
        } while (!(mant & 0x400u));
        bits = sign | (uint32_t)(112 - e) << 23 | (mant & 0x3ffu) << 13;
    } else {
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* The model computes in float32 (the bf16 GEMM path rounds from float32 again), so a half-precision checkpoint is
 * widened once, exactly, when a tensor is first asked for; so is float32 data not 4-byte aligned in the file (a
 * checkpoint re-zipped by Python's zipfile, which does not align entries as torch.save does, and torch reads). The
 * copy lives as long as w. Not thread-safe. */
static int copy_to_f32(const iso_weights *w, const iso_tensor_view *t, const float **data)
{
    size_t i = (size_t)(t - w->tensors), n = t->nbytes / iso_dtype_size(t->dtype);
    if (!w->as_f32[i]) {
        float *f = malloc((n ? n : 1) * sizeof *f);
        if (!f)
            return iso_error(ISO_ENOMEM, "%s: out of memory copying tensor '%s' (%zu values) to float32", w->path,
                             t->name, n);
        const unsigned char *b = t->data; /* possibly unaligned in the file */
        if (t->dtype == ISO_DT_F32)
            memcpy(f, b, t->nbytes);
        for (size_t k = 0; k < n && t->dtype != ISO_DT_F32; k++) {
            uint16_t v = (uint16_t)(b[2 * k] | b[2 * k + 1] << 8);
            if (t->dtype == ISO_DT_BF16) {
                uint32_t bits = (uint32_t)v << 16;
                memcpy(&f[k], &bits, sizeof bits);
            } else {
                f[k] = half_to_float(v);
            }
        }
        w->as_f32[i] = f;
    }
    *data = w->as_f32[i];
    return ISO_OK;
}

int iso_weights_get_f32(const iso_weights *w, const char *name, int ndim, const int64_t *shape, const float **data)
{
    char want[256], got[256], near[1024];
    *data = NULL;
    format_shape(want, sizeof want, ndim, shape);
    const iso_tensor_view *t = iso_weights_find(w, name);
    if (!t) {
        similar_names(w, name, near, sizeof near);
        return iso_error(ISO_ENOTFOUND, "%s: tensor '%s' not found (expected float32 %s)%s%s", w->path, name, want,
                         near[0] ? "; similar names present: " : "", near);
    }
    format_shape(got, sizeof got, t->ndim, t->shape);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same)
        return iso_error(ISO_EFORMAT, "%s: tensor '%s' has shape %s, expected %s (does config.json match the "
                                      "checkpoint?)", w->path, name, got, want);
    int half = t->dtype == ISO_DT_F16 || t->dtype == ISO_DT_BF16;
    if (!half && t->dtype != ISO_DT_F32)
        return iso_error(ISO_EFORMAT, "%s: tensor '%s' is %s, expected a floating-point tensor (F32, F16 or BF16)",
                         w->path, name, iso_dtype_name(t->dtype));
    int rc = iso_weights_check_finite(w, t);
    if (rc != ISO_OK)
        return rc;
    if (half || ((uintptr_t)t->data & 3u) != 0)
        return copy_to_f32(w, t, data);
    *data = t->data;
    return ISO_OK;
}

/* FNV-1a over names, dtypes, shapes and bytes, 8 bytes at a time for the bulk (a cache key, not a MAC). */
static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, b + i, 8);
        h = (h ^ v) * 0x100000001b3ULL;
    }
    for (; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t iso_weights_checksum(const iso_weights *w)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < w->n; i++) {
        const iso_tensor_view *t = &w->tensors[i];
        h = fnv_bytes(h, t->name, strlen(t->name) + 1);
        int32_t dt = t->dtype;
        h = fnv_bytes(h, &dt, sizeof dt);
        h = fnv_bytes(h, t->shape, (size_t)t->ndim * sizeof t->shape[0]);
        h = fnv_bytes(h, t->data, t->nbytes);
    }
    return h;
}

/* ---- safetensors writer ---- */

/* The first tensor (in name order) with the same bytes and shape, or -1: safetensors cannot alias, so shared
 * storages (Enformer registers its trunk twice) are written once and listed in metadata. */
static long alias_of(const iso_weights *w, size_t i)
{
    const iso_tensor_view *t = &w->tensors[i];
    for (size_t j = 0; j < i; j++) {
        const iso_tensor_view *u = &w->tensors[j];
        if (u->data == t->data && u->nbytes == t->nbytes && u->dtype == t->dtype && u->ndim == t->ndim &&
            t->nbytes && !memcmp(u->shape, t->shape, (size_t)t->ndim * sizeof t->shape[0]))
            return (long)j;
    }
    return -1;
}

static int write_all(FILE *fp, const void *p, size_t n) { return fwrite(p, 1, n, fp) == n ? 0 : -1; }

/* Fills order with the tensors to store (aliases left out) in decreasing element size, by name within a size.
 * The data section starts 8-aligned and safetensors forbids gaps between tensors, so this order is what keeps
 * every tensor aligned to its element size (an odd-length U8 or F16 tensor would misalign all after it).
 * Returns how many. */
static size_t data_order(const iso_weights *w, const long *alias, size_t *order)
{
    static const size_t sizes[] = {8, 4, 2, 1};
    size_t n = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t i = 0; i < w->n; i++)
            if (alias[i] < 0 && iso_dtype_size(w->tensors[i].dtype) == sizes[s])
                order[n++] = i;
    return n;
}

int iso_weights_write_safetensors(const iso_weights *w, const char *path)
{
    json_t *header = json_object(), *aliases = json_object();
    long *alias = calloc(w->n ? w->n : 1, sizeof *alias);
    size_t *order = calloc(w->n ? w->n : 1, sizeof *order);
    char *text = NULL;
    int rc = ISO_OK;
    if (!header || !aliases || !alias || !order) {
        rc = iso_error(ISO_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < w->n; i++) {
        alias[i] = alias_of(w, i);
        if (alias[i] >= 0)
            json_object_set_new(aliases, w->tensors[i].name, json_string(w->tensors[alias[i]].name));
    }
    size_t n_data = data_order(w, alias, order);
    uint64_t offset = 0;
    for (size_t k = 0; k < n_data; k++) {
        const iso_tensor_view *t = &w->tensors[order[k]];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        json_t *entry = json_pack("{s:s, s:o, s:[I, I]}", "dtype", iso_dtype_name(t->dtype), "shape", shape,
                                  "data_offsets", (json_int_t)offset, (json_int_t)(offset + t->nbytes));
        json_object_set_new(header, t->name, entry);
        offset += t->nbytes;
    }
    /* "format": "pt" is what transformers' from_pretrained requires of a model.safetensors. */
    json_t *meta = json_pack("{s:s}", "format", "pt");
    if (json_object_size(aliases)) {
        char *a = json_dumps(aliases, JSON_COMPACT | JSON_SORT_KEYS);
        json_object_set_new(meta, "isoformer.aliases", json_string(a ? a : "{}"));
        free(a);
    }
    json_object_set_new(header, "__metadata__", meta);
    text = json_dumps(header, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) {
        rc = iso_error(ISO_ENOMEM, "%s: cannot encode the header", path);
        goto done;
    }
    size_t len = strlen(text), padded = (len + 7) & ~(size_t)7;
    iso_out *o = iso_out_open(path);
    if (!o) {
        rc = iso_last_status();
        goto done;
    }
    FILE *fp = iso_out_fp(o);
    unsigned char n8[8];
    for (int b = 0; b < 8; b++)
        n8[b] = (unsigned char)((uint64_t)padded >> (8 * b));
    int bad = write_all(fp, n8, 8) || write_all(fp, text, len);
    for (size_t p = len; p < padded && !bad; p++)
        bad = fputc(' ', fp) == EOF;
    for (size_t k = 0; k < n_data && !bad; k++)
        bad = write_all(fp, w->tensors[order[k]].data, w->tensors[order[k]].nbytes);
    if (bad) {
        iso_out_abort(o);
        rc = iso_error(ISO_EIO, "%s: write failed (%s)", path, strerror(errno));
    } else {
        rc = iso_out_commit(o);
    }
done:
    free(text);
    free(order);
    free(alias);
    json_decref(aliases);
    json_decref(header);
    return rc;
}
