/* PyTorch checkpoints as torch.save writes them (torch >= 1.6): a zip archive, stored without compression,
 * holding <archive>/data.pkl (a pickle of the state dict) and one entry <archive>/data/<key> per storage.
 * The pickle is interpreted here for the subset a state dict uses — OrderedDict, _rebuild_tensor_v2,
 * _rebuild_parameter, _rebuild_from_type_v2 of a plain tensor, persistent ids naming storages — and every
 * tensor becomes a view into the mapping.
 * Nothing from the file is trusted: every length and offset is bounds-checked, and unknown opcodes or
 * globals are errors, never executed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weights/weights_internal.h"

/* ---------------- zip ---------------- */

typedef struct {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    const unsigned char *data;
    uint64_t size;
    int method;
} zip_entry;

typedef struct {
    zip_entry *e;
    size_t n;
} zip_dir;

static uint64_t rd16(const unsigned char *p) { return (uint64_t)p[0] | (uint64_t)p[1] << 8; }
static uint64_t rd32(const unsigned char *p) { return rd16(p) | rd16(p + 2) << 16; }
static uint64_t rd64(const unsigned char *p) { return rd32(p) | rd32(p + 4) << 32; }

/* 1 when [off, off + len) lies inside a file of size bytes (no overflow for any 64-bit off, len). */
static int in_file(size_t size, uint64_t off, uint64_t len) { return off <= size && len <= size - off; }

/* Reads the zip64 extended-information extra field for the values that were saturated in the header. */
static void zip64_extra(const unsigned char *x, size_t len, uint64_t *usize, uint64_t *csize, uint64_t *offset)
{
    size_t i = 0;
    while (i + 4 <= len) {
        uint64_t id = rd16(x + i), sz = rd16(x + i + 2);
        if (i + 4 + sz > len)
            return;
        if (id == 1) {
            const unsigned char *p = x + i + 4, *end = p + sz;
            if (*usize == 0xffffffffu && p + 8 <= end) { *usize = rd64(p); p += 8; }
            if (*csize == 0xffffffffu && p + 8 <= end) { *csize = rd64(p); p += 8; }
            if (*offset == 0xffffffffu && p + 8 <= end) { *offset = rd64(p); }
            return;
        }
        i += 4 + sz;
    }
}

static int zip_read_dir(iso_weights *w, zip_dir *dir)
{
    const unsigned char *m = w->map;
    size_t size = w->map_size;
    if (size < 22)
        return iso_error(ISO_EFORMAT, "%s: truncated zip archive", w->path);
    /* The end-of-central-directory record sits in the last 22 + 65535 bytes. */
    size_t lo = size > 22 + 65535 ? size - 22 - 65535 : 0;
    size_t eocd = 0;
    int found = 0;
    for (size_t i = size - 22 + 1; i-- > lo;)
        if (rd32(m + i) == 0x06054b50) {
            eocd = i;
            found = 1;
            break;
        }
    if (!found)
        return iso_error(ISO_EFORMAT, "%s: no zip end-of-central-directory record: truncated or not a "
                                      "torch.save file", w->path);
    uint64_t n = rd16(m + eocd + 10), cd_size = rd32(m + eocd + 12), cd_off = rd32(m + eocd + 16);
    if ((n == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) && eocd >= 20 &&
        rd32(m + eocd - 20) == 0x07064b50) {
        uint64_t z = rd64(m + eocd - 20 + 8);
        if (!in_file(size, z, 56) || rd32(m + z) != 0x06064b50)
            return iso_error(ISO_EFORMAT, "%s: bad zip64 end-of-central-directory record", w->path);
        n = rd64(m + z + 32);
        cd_size = rd64(m + z + 40);
        cd_off = rd64(m + z + 48);
    }
    if (!in_file(size, cd_off, cd_size) || n > cd_size / 46)
        return iso_error(ISO_EFORMAT, "%s: zip central directory (%llu entries at offset %llu) lies outside the "
                                      "file: truncated download?", w->path, (unsigned long long)n,
                         (unsigned long long)cd_off);
    dir->e = calloc(n ? n : 1, sizeof *dir->e);
    if (!dir->e)
        return iso_error(ISO_ENOMEM, "%s: out of memory", w->path);
    const unsigned char *p = m + cd_off, *end = m + cd_off + cd_size;
    for (uint64_t i = 0; i < n; i++) {
        if (end - p < 46 || rd32(p) != 0x02014b50)
            return iso_error(ISO_EFORMAT, "%s: zip central directory entry %llu is malformed", w->path,
                             (unsigned long long)i);
        uint64_t method = rd16(p + 10), csize = rd32(p + 20), usize = rd32(p + 24);
        uint64_t nlen = rd16(p + 28), xlen = rd16(p + 30), clen = rd16(p + 32), loc = rd32(p + 42);
        if ((uint64_t)(end - p) < 46 + nlen + xlen + clen)
            return iso_error(ISO_EFORMAT, "%s: zip central directory entry %llu runs past the directory",
                             w->path, (unsigned long long)i);
        zip64_extra(p + 46 + nlen, xlen, &usize, &csize, &loc);
        if (!in_file(size, loc, 30) || rd32(m + loc) != 0x04034b50)
            return iso_error(ISO_EFORMAT, "%s: zip entry '%.*s' has a bad local header offset", w->path, (int)nlen,
                             (const char *)p + 46);
        uint64_t data_off = loc + 30 + rd16(m + loc + 26) + rd16(m + loc + 28);
        if (!in_file(size, data_off, csize))
            return iso_error(ISO_EFORMAT, "%s: zip entry '%.*s' (%llu bytes) runs past the end of the file: "
                                          "truncated download?", w->path, (int)nlen, (const char *)p + 46,
                             (unsigned long long)csize);
        dir->e[i] = (zip_entry){(const char *)p + 46, nlen, m + data_off, method == 0 ? usize : csize, (int)method};
        if (method == 0 && usize != csize)
            return iso_error(ISO_EFORMAT, "%s: stored zip entry '%.*s' has different compressed and "
                                          "uncompressed sizes", w->path, (int)nlen, (const char *)p + 46);
        dir->n++;
        p += 46 + nlen + xlen + clen;
    }
    return ISO_OK;
}

/* The entry "<archive>/<suffix>" (torch names the top folder after the file; any single folder is accepted). */
static const zip_entry *zip_find(const zip_dir *dir, const char *suffix)
{
    size_t sl = strlen(suffix);
    for (size_t i = 0; i < dir->n; i++) {
        const zip_entry *e = &dir->e[i];
        const char *slash = memchr(e->name, '/', e->name_len);
        if (slash && (size_t)(e->name + e->name_len - slash - 1) == sl && !memcmp(slash + 1, suffix, sl))
            return e;
    }
    return NULL;
}

/* ---------------- pickle ---------------- */

typedef enum { V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR,
               V_MARK } vkind;

typedef struct value value;
struct value {
    vkind kind;
    int64_t i;            /* V_INT, V_BOOL */
    char *s;              /* V_STR, V_GLOBAL ("module.name"), V_STORAGE key */
    value **items;        /* V_TUPLE, V_LIST; V_DICT as key, value, key, value... */
    size_t n, cap;
    iso_dtype dtype;      /* V_STORAGE, V_TENSOR */
    const zip_entry *blob;/* V_STORAGE */
    const char *bad_type; /* V_STORAGE: its storage type when not one we read (an error once a tensor uses it) */
    value *storage;       /* V_TENSOR */
    int64_t offset;       /* V_TENSOR storage offset, in elements */
    int ndim;
    int64_t shape[ISO_MAX_DIMS], stride[ISO_MAX_DIMS];
    value *next_alloc;    /* every value, for freeing */
};

typedef struct {
    iso_weights *w;
    const zip_dir *dir;
    const unsigned char *p, *end, *start;
    value *all;
    value **stack;
    size_t sp, stack_cap;
    value **memo;
    size_t memo_cap, memo_n; /* memo_n: indices set, which MEMOIZE uses as the next index */
    size_t objects;          /* values made plus container items stored, bounded by PICKLE_MAX_OBJECTS */
    size_t tensors;          /* tensors rebuilt, wherever they sit in the pickle */
    int failed;              /* why vnew/vstr last returned NULL (out of memory, too many objects) */
} unpickler;

/* Bounds on what a hostile pickle can make us allocate (under 1 GiB: values, strings no longer than the pickle,
 * stack and memo). A state dict needs 32-40 objects and about 130 pickle bytes per tensor, so 2^21 objects is
 * over 50,000 tensors, and 256 MiB of pickle far more. */
#define PICKLE_MAX_STACK (1u << 20)
#define PICKLE_MAX_MEMO (1u << 22)
#define PICKLE_MAX_OBJECTS (1u << 21)
#define PICKLE_MAX_MIB 256u

static int perr(unpickler *u, const char *what)
{
    return iso_error(ISO_EFORMAT, "%s: data.pkl offset %ld: %s", u->w->path, (long)(u->p - u->start), what);
}

static int nomem(unpickler *u)
{
    return u->failed = iso_error(ISO_ENOMEM, "%s: out of memory reading the pickle", u->w->path);
}

static int count_object(unpickler *u)
{
    if (++u->objects <= PICKLE_MAX_OBJECTS)
        return ISO_OK;
    char msg[160];
    snprintf(msg, sizeof msg, "more than %u objects, which no state dict needs (refused rather than exhaust "
                              "memory)", PICKLE_MAX_OBJECTS);
    return u->failed = perr(u, msg);
}

/* A new value, or NULL with the reason recorded in u->failed. */
static value *vnew(unpickler *u, vkind kind)
{
    if (count_object(u))
        return NULL;
    value *v = calloc(1, sizeof *v);
    if (!v) {
        nomem(u);
        return NULL;
    }
    v->kind = kind;
    v->next_alloc = u->all;
    u->all = v;
    return v;
}

static void vfree_all(value *v)
{
    while (v) {
        value *next = v->next_alloc;
        free(v->s);
        free(v->items);
        free(v);
        v = next;
    }
}

/* Pushes v, the result of vnew/vstr: NULL is their failure, already recorded in u->failed. */
static int push(unpickler *u, value *v)
{
    if (!v)
        return u->failed;
    if (u->sp == u->stack_cap) {
        if (u->stack_cap >= PICKLE_MAX_STACK)
            return perr(u, "pickle stack too deep");
        size_t cap = u->stack_cap ? 2 * u->stack_cap : 64;
        value **s = realloc(u->stack, cap * sizeof *s);
        if (!s)
            return nomem(u);
        u->stack = s;
        u->stack_cap = cap;
    }
    u->stack[u->sp++] = v;
    return ISO_OK;
}

static value *pop(unpickler *u) { return u->sp ? u->stack[--u->sp] : NULL; }
static value *top(unpickler *u) { return u->sp ? u->stack[u->sp - 1] : NULL; }

static int append_item(unpickler *u, value *c, value *item)
{
    if (count_object(u))
        return u->failed;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        value **it = realloc(c->items, cap * sizeof *it);
        if (!it)
            return nomem(u);
        c->items = it;
        c->cap = cap;
    }
    c->items[c->n++] = item;
    return ISO_OK;
}

/* Index of the topmost MARK, or -1. */
static long find_mark(unpickler *u)
{
    for (size_t i = u->sp; i-- > 0;)
        if (u->stack[i]->kind == V_MARK)
            return (long)i;
    return -1;
}

static int need(unpickler *u, size_t n) { return (size_t)(u->end - u->p) >= n ? 0 : -1; }

/* A new value with room for a string of n chars (NUL-terminated), or NULL with the reason in u->failed. */
static value *vstr(unpickler *u, vkind kind, size_t n)
{
    value *v = vnew(u, kind);
    if (v && !(v->s = malloc(n + 1))) {
        nomem(u);
        return NULL;
    }
    if (v)
        v->s[n] = '\0';
    return v;
}

static value *make_str(unpickler *u, vkind kind, const unsigned char *s, size_t n)
{
    value *v = vstr(u, kind, n);
    if (v)
        memcpy(v->s, s, n);
    return v;
}

static int memo_put(unpickler *u, size_t idx, value *v)
{
    if (!v)
        return perr(u, "memoize with an empty stack");
    if (idx >= PICKLE_MAX_MEMO)
        return perr(u, "memo index too large");
    if (idx >= u->memo_cap) {
        size_t cap = u->memo_cap ? u->memo_cap : 64;
        while (cap <= idx)
            cap *= 2;
        value **m = realloc(u->memo, cap * sizeof *m);
        if (!m)
            return nomem(u);
        memset(m + u->memo_cap, 0, (cap - u->memo_cap) * sizeof *m);
        u->memo = m;
        u->memo_cap = cap;
    }
    u->memo_n += u->memo[idx] == NULL;
    u->memo[idx] = v;
    return ISO_OK;
}

static int storage_dtype(const char *global, iso_dtype *dt)
{
    static const struct {
        const char *name;
        iso_dtype dt;
    } table[] = {{"torch.FloatStorage", ISO_DT_F32}, {"torch.HalfStorage", ISO_DT_F16},
                 {"torch.BFloat16Storage", ISO_DT_BF16}, {"torch.LongStorage", ISO_DT_I64},
                 {"torch.IntStorage", ISO_DT_I32}, {"torch.ByteStorage", ISO_DT_U8},
                 {"torch.BoolStorage", ISO_DT_BOOL}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(global, table[i].name)) {
            *dt = table[i].dt;
            return 0;
        }
    return -1;
}

/* Persistent id ('storage', <StorageType>, key, location, numel) -> the storage's zip entry, in *out. */
static int persistent_load(unpickler *u, value *pid, value **out)
{
    if (pid->kind != V_TUPLE || pid->n < 5 || pid->items[0]->kind != V_STR || strcmp(pid->items[0]->s, "storage") ||
        pid->items[1]->kind != V_GLOBAL || pid->items[2]->kind != V_STR)
        return perr(u, "persistent id is not ('storage', type, key, location, numel)");
    value *st = vnew(u, V_STORAGE);
    if (!st)
        return u->failed;
    /* Refused only when a state-dict tensor uses it, so that the message can name the tensor (and an optimizer's
     * float64 state beside the model's weights does not stop the load). */
    if (storage_dtype(pid->items[1]->s, &st->dtype) != 0)
        st->bad_type = pid->items[1]->s;
    char path[512];
    snprintf(path, sizeof path, "data/%s", pid->items[2]->s);
    if (!(st->blob = zip_find(u->dir, path)))
        return iso_error(ISO_EFORMAT, "%s: storage '%s' named in data.pkl has no zip entry %s", u->w->path,
                         pid->items[2]->s, path);
    if (st->blob->method != 0)
        return iso_error(ISO_EFORMAT, "%s: storage entry %s is compressed; torch.save stores tensors "
                                      "uncompressed — re-save the checkpoint with torch.save", u->w->path, path);
    *out = st;
    return ISO_OK;
}

static int int_tuple(value *t, int64_t *out, int *n)
{
    if (t->kind != V_TUPLE || t->n > ISO_MAX_DIMS)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i]->kind != V_INT)
            return -1;
        out[i] = t->items[i]->i;
    }
    *n = (int)t->n;
    return 0;
}

/* REDUCE: callable(*args), in *out, for the few callables a state dict needs. */
static int reduce(unpickler *u, value *fn, value *args, value **out)
{
    if (fn->kind != V_GLOBAL || args->kind != V_TUPLE)
        return perr(u, "REDUCE of something that is not a known global");
    if (!strcmp(fn->s, "collections.OrderedDict") || !strcmp(fn->s, "builtins.dict"))
        return (*out = vnew(u, V_DICT)) ? ISO_OK : u->failed;
    if (!strcmp(fn->s, "torch._utils._rebuild_parameter") ||
        !strcmp(fn->s, "torch._utils._rebuild_parameter_with_state")) {
        if (args->n < 1 || args->items[0]->kind != V_TENSOR)
            return perr(u, "_rebuild_parameter without a tensor");
        *out = args->items[0];
        return ISO_OK;
    }
    if (!strcmp(fn->s, "torch._utils._rebuild_tensor_v2") || !strcmp(fn->s, "torch._utils._rebuild_tensor")) {
        value *t = vnew(u, V_TENSOR);
        int nd_stride = 0;
        if (!t)
            return u->failed;
        if (args->n < 4 || args->items[0]->kind != V_STORAGE || args->items[1]->kind != V_INT ||
            int_tuple(args->items[2], t->shape, &t->ndim) || int_tuple(args->items[3], t->stride, &nd_stride) ||
            nd_stride != t->ndim || args->items[1]->i < 0)
            return perr(u, "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)");
        t->storage = args->items[0];
        t->dtype = t->storage->dtype;
        t->offset = args->items[1]->i;
        u->tensors++;
        *out = t;
        return ISO_OK;
    }
    /* torch >= 2.0 wraps a tensor that has Python attributes as (rebuild function, class, its args, attributes);
     * the attributes do not change the values. Subclasses might, so only torch.Tensor is unwrapped. */
    if (!strcmp(fn->s, "torch._tensor._rebuild_from_type_v2")) {
        if (args->n != 4 || args->items[0]->kind != V_GLOBAL || args->items[1]->kind != V_GLOBAL)
            return perr(u, "_rebuild_from_type_v2 arguments are not (function, class, args, state)");
        if (strcmp(args->items[1]->s, "torch.Tensor") && strcmp(args->items[1]->s, "torch._tensor.Tensor"))
            return iso_error(ISO_EFORMAT, "%s: data.pkl holds a tensor of class %s; expected torch.Tensor or "
                                          "nn.Parameter (save t.as_subclass(torch.Tensor) instead)", u->w->path,
                             args->items[1]->s);
        if (strcmp(args->items[0]->s, "torch._utils._rebuild_tensor_v2"))
            return perr(u, "_rebuild_from_type_v2 of something other than _rebuild_tensor_v2");
        return reduce(u, args->items[0], args->items[2], out);
    }
    return iso_error(ISO_EFORMAT, "%s: data.pkl calls %s, which a state dict does not need (refusing to interpret "
                                  "it)", u->w->path, fn->s);
}

static int read_uint(unpickler *u, int nbytes, uint64_t *v)
{
    if (need(u, (size_t)nbytes))
        return perr(u, "pickle truncated");
    *v = nbytes == 1 ? u->p[0] : nbytes == 2 ? rd16(u->p) : nbytes == 4 ? rd32(u->p) : rd64(u->p);
    u->p += nbytes;
    return ISO_OK;
}

static int op_string(unpickler *u, int lenbytes, vkind kind)
{
    uint64_t n = 0;
    int rc = read_uint(u, lenbytes, &n);
    if (rc)
        return rc;
    if (need(u, n))
        return perr(u, "string runs past the end of the pickle");
    value *v = make_str(u, kind, u->p, n);
    u->p += n;
    return push(u, v);
}

/* Pops items above the topmost MARK into container c (or pairs into a dict). */
static int collect_marked(unpickler *u, value *c, int pairs)
{
    long mark = find_mark(u);
    if (mark < 0)
        return perr(u, "no MARK on the stack");
    size_t count = u->sp - (size_t)mark - 1;
    if (pairs && count % 2)
        return perr(u, "odd number of items for a dict");
    for (size_t i = (size_t)mark + 1; i < u->sp; i++) {
        int rc = append_item(u, c, u->stack[i]);
        if (rc)
            return rc;
    }
    u->sp = (size_t)mark;
    return ISO_OK;
}

static int run_pickle(unpickler *u, value **result)
{
    int rc = ISO_OK;
    while (rc == ISO_OK) {
        if (need(u, 1))
            return perr(u, "pickle ends without STOP");
        unsigned op = *u->p++;
        uint64_t n = 0;
        value *v = NULL, *a, *b;
        switch (op) {
        case 0x80: /* PROTO */
            rc = read_uint(u, 1, &n);
            if (rc == ISO_OK && n > 5)
                rc = perr(u, "unsupported pickle protocol");
            break;
        case 0x95: /* FRAME */
            rc = read_uint(u, 8, &n);
            break;
        case '.': /* STOP */
            if (u->sp != 1)
                return perr(u, "STOP with a stack that does not hold exactly one value");
            *result = pop(u);
            return ISO_OK;
        case '}': rc = push(u, vnew(u, V_DICT)); break;
        case ']': rc = push(u, vnew(u, V_LIST)); break;
        case ')': rc = push(u, vnew(u, V_TUPLE)); break;
        case 'N': rc = push(u, vnew(u, V_NONE)); break;
        case '(': rc = push(u, vnew(u, V_MARK)); break;
        case 0x88: case 0x89: /* NEWTRUE, NEWFALSE */
            if ((v = vnew(u, V_BOOL)))
                v->i = op == 0x88;
            rc = push(u, v);
            break;
        case 'K': case 'M': case 'J': { /* BININT1, BININT2, BININT */
            int nb = op == 'K' ? 1 : op == 'M' ? 2 : 4;
            if ((rc = read_uint(u, nb, &n)))
                break;
            if ((v = vnew(u, V_INT)))
                v->i = nb == 4 ? (int64_t)(int32_t)(uint32_t)n : (int64_t)n;
            rc = push(u, v);
            break;
        }
        case 'I': { /* INT: decimal text, as protocol 1 writes every int and bool (I00/I01) */
            const unsigned char *nl = memchr(u->p, '\n', (size_t)(u->end - u->p));
            char text[24], *endp;
            size_t len = nl ? (size_t)(nl - u->p) : 0;
            if (!nl || !len || len >= sizeof text) {
                rc = perr(u, "INT without a newline-terminated number of at most 23 characters");
                break;
            }
            memcpy(text, u->p, len);
            text[len] = '\0';
            errno = 0;
            long long x = strtoll(text, &endp, 10);
            if (*endp || errno) {
                rc = perr(u, "INT is not a 64-bit decimal number");
                break;
            }
            u->p = nl + 1;
            if ((v = vnew(u, !strcmp(text, "00") || !strcmp(text, "01") ? V_BOOL : V_INT)))
                v->i = x;
            rc = push(u, v);
            break;
        }
        case 0x8a: { /* LONG1: little-endian two's complement of n bytes */
            if ((rc = read_uint(u, 1, &n)))
                break;
            if (n > 8 || need(u, n)) {
                rc = perr(u, "LONG1 wider than 64 bits or truncated");
                break;
            }
            uint64_t x = 0;
            for (uint64_t k = 0; k < n; k++)
                x |= (uint64_t)u->p[k] << (8 * k);
            if (n && n < 8 && (u->p[n - 1] & 0x80))
                x |= ~(uint64_t)0 << (8 * n);
            u->p += n;
            if ((v = vnew(u, V_INT)))
                v->i = (int64_t)x;
            rc = push(u, v);
            break;
        }
        case 'G': /* BINFLOAT: values are irrelevant to tensors; keep the kind */
            if (need(u, 8)) {
                rc = perr(u, "pickle truncated");
                break;
            }
            u->p += 8;
            rc = push(u, vnew(u, V_FLOAT));
            break;
        case 'X': rc = op_string(u, 4, V_STR); break;    /* BINUNICODE */
        case 0x8c: rc = op_string(u, 1, V_STR); break;   /* SHORT_BINUNICODE */
        case 0x8d: rc = op_string(u, 8, V_STR); break;   /* BINUNICODE8 */
        case 'U': rc = op_string(u, 1, V_STR); break;    /* SHORT_BINSTRING */
        case 'T': rc = op_string(u, 4, V_STR); break;    /* BINSTRING */
        case 'C': rc = op_string(u, 1, V_STR); break;    /* SHORT_BINBYTES */
        case 'B': rc = op_string(u, 4, V_STR); break;    /* BINBYTES */
        case 'c': { /* GLOBAL "module\nname\n" */
            const unsigned char *nl1 = memchr(u->p, '\n', (size_t)(u->end - u->p));
            const unsigned char *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(u->end - nl1 - 1)) : NULL;
            if (!nl2) {
                rc = perr(u, "GLOBAL without two newline-terminated names");
                break;
            }
            v = make_str(u, V_GLOBAL, u->p, (size_t)(nl2 - u->p));
            if (v)
                v->s[nl1 - u->p] = '.';
            u->p = nl2 + 1;
            rc = push(u, v);
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            b = pop(u);
            a = pop(u);
            if (!a || !b || a->kind != V_STR || b->kind != V_STR) {
                rc = perr(u, "STACK_GLOBAL needs two strings");
                break;
            }
            if ((v = vstr(u, V_GLOBAL, strlen(a->s) + strlen(b->s) + 1)))
                sprintf(v->s, "%s.%s", a->s, b->s);
            rc = push(u, v);
            break;
        case 'q': case 'r': /* BINPUT, LONG_BINPUT */
            if ((rc = read_uint(u, op == 'q' ? 1 : 4, &n)) == ISO_OK)
                rc = memo_put(u, (size_t)n, top(u));
            break;
        case 0x94: /* MEMOIZE */
            rc = memo_put(u, u->memo_n, top(u));
            break;
        case 'h': case 'j': /* BINGET, LONG_BINGET */
            if ((rc = read_uint(u, op == 'h' ? 1 : 4, &n)))
                break;
            if (n >= u->memo_cap || !u->memo[n]) {
                rc = perr(u, "memo lookup of an unset index");
                break;
            }
            rc = push(u, u->memo[n]);
            break;
        case 't': case 'l': case 'd': /* TUPLE, LIST, DICT from MARK */
            v = vnew(u, op == 't' ? V_TUPLE : op == 'l' ? V_LIST : V_DICT);
            if (!v) {
                rc = u->failed;
                break;
            }
            if ((rc = collect_marked(u, v, op == 'd')) == ISO_OK)
                rc = push(u, v);
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            size_t k = op - 0x84;
            if (u->sp < k) {
                rc = perr(u, "TUPLEn with too few items");
                break;
            }
            if (!(v = vnew(u, V_TUPLE))) {
                rc = u->failed;
                break;
            }
            for (size_t i = u->sp - k; i < u->sp && rc == ISO_OK; i++)
                rc = append_item(u, v, u->stack[i]);
            u->sp -= k;
            if (rc == ISO_OK)
                rc = push(u, v);
            break;
        }
        case 'a': /* APPEND */
            v = pop(u);
            a = top(u);
            if (!v || !a || a->kind != V_LIST)
                rc = perr(u, "APPEND to a non-list");
            else
                rc = append_item(u, a, v);
            break;
        case 'e': { /* APPENDS */
            long mark = find_mark(u);
            if (mark < 1 || u->stack[mark - 1]->kind != V_LIST) {
                rc = perr(u, "APPENDS to a non-list");
                break;
            }
            rc = collect_marked(u, u->stack[mark - 1], 0);
            break;
        }
        case 's': /* SETITEM */
            b = pop(u);
            a = pop(u);
            v = top(u);
            if (!a || !b || !v || v->kind != V_DICT)
                rc = perr(u, "SETITEM on a non-dict");
            else if ((rc = append_item(u, v, a)) == ISO_OK)
                rc = append_item(u, v, b);
            break;
        case 'u': { /* SETITEMS */
            long mark = find_mark(u);
            if (mark < 1 || u->stack[mark - 1]->kind != V_DICT) {
                rc = perr(u, "SETITEMS on a non-dict");
                break;
            }
            rc = collect_marked(u, u->stack[mark - 1], 1);
            break;
        }
        case 'Q': /* BINPERSID */
            a = pop(u);
            if (!a) {
                rc = perr(u, "BINPERSID with an empty stack");
                break;
            }
            if ((rc = persistent_load(u, a, &v)) == ISO_OK)
                rc = push(u, v);
            break;
        case 'R': /* REDUCE */
            b = pop(u);
            a = pop(u);
            if (!a || !b) {
                rc = perr(u, "REDUCE with too few items");
                break;
            }
            if ((rc = reduce(u, a, b, &v)) == ISO_OK)
                rc = push(u, v);
            break;
        case 0x81: /* NEWOBJ: cls.__new__(cls, *args) — only for OrderedDict */
            b = pop(u);
            a = pop(u);
            if (!a || !b || a->kind != V_GLOBAL || strcmp(a->s, "collections.OrderedDict")) {
                rc = perr(u, "NEWOBJ of something other than OrderedDict");
                break;
            }
            rc = push(u, vnew(u, V_DICT));
            break;
        case 'b': /* BUILD: state such as the state dict's _metadata; tensors need none of it */
            if (!pop(u) || !top(u))
                rc = perr(u, "BUILD with too few items");
            break;
        case '0': /* POP */
            if (!pop(u))
                rc = perr(u, "POP of an empty stack");
            break;
        case '1': { /* POP_MARK */
            long mark = find_mark(u);
            if (mark < 0)
                rc = perr(u, "POP_MARK without MARK");
            else
                u->sp = (size_t)mark;
            break;
        }
        case '2': /* DUP */
            rc = top(u) ? push(u, top(u)) : perr(u, "DUP of an empty stack");
            break;
        default: {
            char msg[64];
            u->p--;
            snprintf(msg, sizeof msg, "unsupported pickle opcode 0x%02x", op);
            return perr(u, msg);
        }
        }
    }
    return rc;
}

/* Contiguous row-major check, ignoring size-1 dims, whose stride is arbitrary. */
static int is_contiguous(const value *t)
{
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expect)
            return 0;
        expect *= t->shape[d];
    }
    return 1;
}

static int add_tensor(iso_weights *w, const char *name, const value *t)
{
    if (t->storage->bad_type)
        return iso_error(ISO_EFORMAT, "%s: tensor '%s' is stored as %s; expected a Float, Half, BFloat16, Long, Int, "
                                      "Byte or Bool storage (convert it, e.g. with .float(), and re-save)", w->path,
                         name, t->storage->bad_type);
    int64_t nbytes = iso_shape_nbytes(t->dtype, t->ndim, t->shape);
    uint64_t es = iso_dtype_size(t->dtype);
    if (nbytes < 0)
        return iso_error(ISO_EFORMAT, "%s: tensor '%s' has an invalid shape (negative, or over 2^63 bytes)",
                         w->path, name);
    if (nbytes > 0 && !is_contiguous(t))
        return iso_error(ISO_EFORMAT, "%s: tensor '%s' is not contiguous (saved from a view?); re-save it with "
                                      ".contiguous()", w->path, name);
    /* offset >= 0 (checked in reduce); in uint64_t the overflow test holds for 1-byte elements too. */
    uint64_t bytes = (uint64_t)nbytes, start = (uint64_t)t->offset * es;
    if ((uint64_t)t->offset > UINT64_MAX / es || start > t->storage->blob->size ||
        bytes > t->storage->blob->size - start)
        return iso_error(ISO_EFORMAT, "%s: tensor '%s' (offset %lld, %llu bytes) runs past its storage (%llu "
                                      "bytes)", w->path, name, (long long)t->offset, (unsigned long long)bytes,
                         (unsigned long long)t->storage->blob->size);
    return iso_weights_add(w, name, t->dtype, t->ndim, t->shape, t->storage->blob->data + start, (size_t)bytes);
}

/* The keys under which training checkpoints keep the model's state dict ("model_state_dict" is the one PyTorch's
 * tutorial on checkpoints uses). */
static int is_state_dict_key(const value *k)
{
    return k->kind == V_STR &&
           (!strcmp(k->s, "state_dict") || !strcmp(k->s, "model") || !strcmp(k->s, "model_state_dict"));
}

/* The state dict is the top-level dict, or the dict under one of those keys of a training checkpoint,
 * followed a few levels only (through the memo a hostile pickle can make a dict contain itself). */
static const value *find_state_dict(const value *root, int depth)
{
    if (root->kind != V_DICT)
        return NULL;
    for (size_t i = 0; i + 1 < root->n; i += 2)
        if (root->items[i + 1]->kind == V_TENSOR)
            return root;
    for (size_t i = 0; i + 1 < root->n; i += 2)
        if (depth < 4 && is_state_dict_key(root->items[i]) && root->items[i + 1]->kind == V_DICT)
            return find_state_dict(root->items[i + 1], depth + 1);
    return root;
}

/* The error for a pickle whose tensors are not where a state dict's are, naming the top-level keys. */
static int no_state_dict(iso_weights *w, const value *root, size_t tensors)
{
    char keys[256] = "";
    size_t off = 0;
    for (size_t i = 0; root->kind == V_DICT && i + 1 < root->n && off < sizeof keys; i += 2)
        if (root->items[i]->kind == V_STR)
            off += (size_t)snprintf(keys + off, sizeof keys - off, "%s'%s'", off ? ", " : "", root->items[i]->s);
    return iso_error(ISO_EFORMAT, "%s: the pickle holds %zu tensors but no state dict: expected a dict of tensors at "
                                  "the top level or under 'state_dict', 'model' or 'model_state_dict' (top-level "
                                  "keys: %s)", w->path, tensors, keys[0] ? keys : "none");
}

int iso_read_torch_zip(iso_weights *w)
{
    zip_dir dir = {0};
    unpickler u = {.w = w, .dir = &dir};
    int rc = zip_read_dir(w, &dir);
    const zip_entry *pkl = rc == ISO_OK ? zip_find(&dir, "data.pkl") : NULL;
    if (rc == ISO_OK && !pkl)
        rc = iso_error(ISO_EFORMAT, "%s: zip archive has no <name>/data.pkl: not a torch.save checkpoint", w->path);
    if (rc == ISO_OK && pkl->method != 0)
        rc = iso_error(ISO_EFORMAT, "%s: data.pkl is compressed; torch.save stores it uncompressed", w->path);
    if (rc == ISO_OK && pkl->size > (uint64_t)PICKLE_MAX_MIB << 20)
        rc = iso_error(ISO_EFORMAT, "%s: data.pkl is %llu bytes; a state dict's pickle is a few MiB, and one over "
                                    "%u MiB is refused rather than read into memory", w->path,
                       (unsigned long long)pkl->size, PICKLE_MAX_MIB);
    /* torch >= 2.1 records the byte order of the storages; older versions wrote little-endian only. */
    const zip_entry *order = rc == ISO_OK ? zip_find(&dir, "byteorder") : NULL;
    if (order && !(order->method == 0 && order->size == 6 && !memcmp(order->data, "little", 6)))
        rc = iso_error(ISO_EFORMAT, "%s: the storages are not little-endian (byteorder entry '%.*s'); big-endian "
                                    "checkpoints are not read: re-save it on a little-endian machine", w->path,
                       order->method == 0 && order->size < 16 ? (int)order->size : 0, (const char *)order->data);
    value *root = NULL;
    if (rc == ISO_OK) {
        u.p = u.start = pkl->data;
        u.end = pkl->data + pkl->size;
        rc = run_pickle(&u, &root);
    }
    if (rc == ISO_OK) {
        const value *sd = find_state_dict(root, 0);
        if (!sd)
            rc = iso_error(ISO_EFORMAT, "%s: the pickle holds no dict of tensors (not a state dict)", w->path);
        for (size_t i = 0; sd && i + 1 < sd->n && rc == ISO_OK; i += 2) {
            const value *k = sd->items[i], *t = sd->items[i + 1];
            if (t->kind != V_TENSOR)
                continue; /* e.g. nested non-tensor entries */
            if (k->kind != V_STR)
                rc = iso_error(ISO_EFORMAT, "%s: state dict key %zu is not a string", w->path, i / 2);
            else
                rc = add_tensor(w, k->s, t);
        }
        /* Tensors elsewhere (under another key, in a list) would otherwise leave an empty table, and every
         * lookup would fail as if the checkpoint were for another model. */
        if (rc == ISO_OK && w->n == 0 && u.tensors > 0)
            rc = no_state_dict(w, root, u.tensors);
    }
    vfree_all(u.all);
    free(u.stack);
    free(u.memo);
    free(dir.e);
    return rc;
}
