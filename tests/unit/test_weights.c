/* Checkpoint API: lookups, iso_weights_get_f32's errors (missing tensor with the nearest names, wrong shape,
 * wrong dtype), empty checkpoints, every allocation failure while reading a torch.save file, and config.json's
 * typed getters, on test-data/demo-model, a torch.save file of the fuzz corpus, and small safetensors files
 * built here byte by byte from the format's definition. Agreement of every tensor with torch
 * and the safetensors library, and malformed files, are tests/parity/test_weights.py. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "isoformer/weights.h"
#include "weights/weights_internal.h"

#define DEMO ISO_TEST_DATA "/demo-model"

/* Allocation failure injection: this test is linked with -Wl,--wrap for malloc, calloc and realloc, so the
 * library's calls come here. alloc_left allocations succeed, the next one fails, and all after it succeed again
 * (alloc_left is then -1, which never fails). */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
static long alloc_left = -1;
static int alloc_fails(void) { return alloc_left >= 0 && alloc_left-- == 0; }
void *__wrap_malloc(size_t n) { return alloc_fails() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return alloc_fails() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return alloc_fails() ? NULL : __real_realloc(p, n); }

static int has(const char *s, const char *needle) { return strstr(s, needle) != NULL; }

static size_t elem_size(iso_dtype dt)
{
    return dt == ISO_DT_I64 ? 8 : dt == ISO_DT_F32 || dt == ISO_DT_I32 ? 4 : dt == ISO_DT_F16 || dt == ISO_DT_BF16 ? 2 : 1;
}

/* A safetensors file: 8-byte little-endian header length, the JSON header padded with spaces to 8 bytes, data. */
static const char *write_safetensors(const char *name, const char *header, const void *data, size_t nbytes)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", ISO_TEST_TMP, name);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    size_t len = strlen(header), padded = (len + 7) / 8 * 8;
    for (int b = 0; b < 8; b++)
        fputc((int)((padded >> (8 * b)) & 0xff), fp);
    fputs(header, fp);
    for (size_t i = len; i < padded; i++)
        fputc(' ', fp);
    if (nbytes) /* fwrite's buffer must be a valid pointer even for 0 bytes */
        ck_assert_uint_eq(fwrite(data, 1, nbytes, fp), nbytes);
    ck_assert_int_eq(fclose(fp), 0);
    return path;
}

START_TEST(directory_lookups)
{
    iso_weights *w = NULL;
    ck_assert_int_eq(iso_weights_open(DEMO, &w), ISO_OK);
    const char *path = iso_weights_path(w);
    ck_assert_msg(has(path, "demo-model/model.safetensors"), "mapped %s", path);
    size_t n = iso_weights_count(w);
    ck_assert_uint_gt(n, 10);
    for (size_t i = 0; i < n; i++) {
        const iso_tensor_view *t = iso_weights_at(w, i);
        if (i)
            ck_assert_msg(strcmp(iso_weights_at(w, i - 1)->name, t->name) < 0, "not sorted at %zu", i);
        ck_assert_ptr_eq(iso_weights_find(w, t->name), t);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++)
            numel *= t->shape[d];
        ck_assert_uint_eq(t->nbytes, (size_t)numel * elem_size(t->dtype));
    }
    ck_assert_ptr_null(iso_weights_at(w, n));
    ck_assert_ptr_null(iso_weights_find(w, "no.such.tensor"));
    iso_weights_close(w);
}
END_TEST

START_TEST(get_f32_errors)
{
    iso_weights *w = NULL;
    ck_assert_int_eq(iso_weights_open(DEMO, &w), ISO_OK);
    const iso_tensor_view *t = NULL;
    for (size_t i = 0; i < iso_weights_count(w) && !t; i++)
        if (iso_weights_at(w, i)->dtype == ISO_DT_F32 && iso_weights_at(w, i)->ndim == 2)
            t = iso_weights_at(w, i);
    ck_assert_ptr_nonnull(t);
    const float *data = NULL;
    ck_assert_int_eq(iso_weights_get_f32(w, t->name, 2, t->shape, &data), ISO_OK);
    ck_assert_ptr_eq(data, t->data);

    int64_t wrong[2] = {t->shape[0] + 1, t->shape[1]};
    char want[128];
    ck_assert_int_eq(iso_weights_get_f32(w, t->name, 2, wrong, &data), ISO_EFORMAT);
    ck_assert_ptr_null(data);
    snprintf(want, sizeof want, "has shape [%lld, %lld], expected [%lld, %lld]", (long long)t->shape[0],
             (long long)t->shape[1], (long long)wrong[0], (long long)t->shape[1]);
    ck_assert_msg(has(iso_last_error(), want) && has(iso_last_error(), t->name), "%s", iso_last_error());
    ck_assert_int_eq(iso_weights_get_f32(w, t->name, 1, t->shape, &data), ISO_EFORMAT);

    /* A one-letter typo: not found, and the real name is offered first. */
    char typo[256];
    snprintf(typo, sizeof typo, "%s", t->name);
    typo[strlen(typo) - 1] = typo[strlen(typo) - 1] == 'X' ? 'Y' : 'X';
    ck_assert_int_eq(iso_weights_get_f32(w, typo, 2, t->shape, &data), ISO_ENOTFOUND);
    char near[300];
    snprintf(near, sizeof near, "similar names present: '%s'", t->name);
    ck_assert_msg(has(iso_last_error(), "not found") && has(iso_last_error(), near), "%s", iso_last_error());
    ck_assert_msg(has(iso_last_error(), "model.safetensors: tensor '"), "%s", iso_last_error());
    iso_weights_close(w);
}
END_TEST

START_TEST(dtype_and_empty_files)
{
    const int64_t ids[2] = {7, -3};
    const char *path = write_safetensors(
        "ids.safetensors", "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", ids, sizeof ids);
    iso_weights *w = NULL;
    ck_assert_int_eq(iso_weights_open(path, &w), ISO_OK);
    const iso_tensor_view *t = iso_weights_find(w, "ids");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, ISO_DT_I64);
    ck_assert_mem_eq(t->data, ids, sizeof ids);
    const float *data;
    const int64_t shape[1] = {2};
    ck_assert_int_eq(iso_weights_get_f32(w, "ids", 1, shape, &data), ISO_EFORMAT);
    ck_assert_msg(has(iso_last_error(), "'ids' is I64, expected a floating-point tensor"), "%s", iso_last_error());
    iso_weights_close(w);

    /* No tensors at all: a valid file; every lookup misses without consulting an empty table. */
    path = write_safetensors("empty.safetensors", "{\"__metadata__\":{\"format\":\"pt\"}}", NULL, 0);
    ck_assert_int_eq(iso_weights_open(path, &w), ISO_OK);
    ck_assert_uint_eq(iso_weights_count(w), 0);
    ck_assert_ptr_null(iso_weights_find(w, "x"));
    ck_assert_int_eq(iso_weights_get_f32(w, "x", 1, shape, &data), ISO_ENOTFOUND);
    iso_weights_close(w);
}
END_TEST

/* F16 and BF16 tensors are widened to float32 exactly: values from the IEEE 754 binary16 definition (normal,
 * subnormal, largest finite, signed zero) and bfloat16's (the top half of a float32); their infinities and NaNs
 * are refused (non_finite_weights). */
START_TEST(half_precision_widening)
{
    const uint16_t h[7] = {0x3c00, 0xc000, 0x3555, 0x0001, 0x03ff, 0x7bff, 0x8000};
    const float want_h[7] = {1.0f, -2.0f, 0.333251953125f, 5.9604644775390625e-8f, 6.0975551605224609e-5f,
                             65504.0f, -0.0f};
    const uint16_t b[4] = {0x3f80, 0xc049, 0x0001, 0x7f7f};
    const float want_b[4] = {1.0f, -3.140625f, 9.1835496157991212e-41f, 3.3895313892515355e38f};
    unsigned char data[22];
    memcpy(data, h, sizeof h);
    memcpy(data + sizeof h, b, sizeof b);
    const char *path = write_safetensors("half.safetensors",
                                         "{\"h\":{\"dtype\":\"F16\",\"shape\":[7],\"data_offsets\":[0,14]},"
                                         "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[14,22]}}",
                                         data, sizeof data);
    iso_weights *w = NULL;
    ck_assert_int_eq(iso_weights_open(path, &w), ISO_OK);
    const float *f = NULL, *again = NULL;
    const int64_t sh[1] = {7}, sb[2] = {2, 2};
    ck_assert_int_eq(iso_weights_get_f32(w, "h", 1, sh, &f), ISO_OK);
    for (int i = 0; i < 7; i++)
        ck_assert_msg(f[i] == want_h[i] && signbit(f[i]) == signbit(want_h[i]), "F16 %04x: %g, expected %g", h[i],
                      f[i], want_h[i]);
    ck_assert_int_eq(iso_weights_get_f32(w, "h", 1, sh, &again), ISO_OK);
    ck_assert_ptr_eq(again, f); /* widened once */
    ck_assert_int_eq(iso_weights_get_f32(w, "b", 2, sb, &f), ISO_OK);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(f[i] == want_b[i], "BF16 %04x: %g, expected %g", b[i], f[i], want_b[i]);
    ck_assert_int_eq(iso_weights_find(w, "b")->dtype, ISO_DT_BF16); /* the view keeps the stored dtype */
    iso_weights_close(w);
    const uint16_t nan_h[2] = {0x3c00, 0x7e00};
    path = write_safetensors("half.safetensors", "{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}",
                             nan_h, sizeof nan_h);
    ck_assert_int_eq(iso_weights_open(path, &w), ISO_OK);
    const int64_t s2[1] = {2};
    ck_assert_int_eq(iso_weights_get_f32(w, "h", 1, s2, &f), ISO_EFORMAT); /* checked before widening */
    ck_assert_msg(has(iso_last_error(), "tensor 'h' holds NaN at element 1 of 2"), "%s", iso_last_error());
    iso_weights_close(w);
}
END_TEST

/* Non-finite values are found wherever they are (first element, either side of the check's 4096-element
 * blocks, the last), named with their index; extreme finite values (the largest, subnormals, -0) pass. */
START_TEST(non_finite_weights)
{
    enum { N = 10000 };
    static float x[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)(i % 7) - 3.0f;
    x[1] = FLT_MAX, x[2] = -FLT_MAX, x[3] = 1e-45f, x[4] = -0.0f;
    const int64_t shape[1] = {N};
    const char *header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[10000],\"data_offsets\":[0,40000]}}";
    iso_weights *w = NULL;
    const float *data;
    ck_assert_int_eq(iso_weights_open(write_safetensors("finite.safetensors", header, x, sizeof x), &w), ISO_OK);
    ck_assert_msg(iso_weights_get_f32(w, "w", 1, shape, &data) == ISO_OK, "%s", iso_last_error());
    iso_weights_close(w);
    const int at[] = {0, 4095, 4096, N - 1};
    const float bad[] = {NAN, INFINITY, -INFINITY, -NAN};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        float keep = x[at[k]];
        x[at[k]] = bad[k];
        ck_assert_int_eq(iso_weights_open(write_safetensors("finite.safetensors", header, x, sizeof x), &w), ISO_OK);
        ck_assert_int_eq(iso_weights_get_f32(w, "w", 1, shape, &data), ISO_EFORMAT);
        char want[128];
        snprintf(want, sizeof want, "tensor 'w' holds %s at element %d of 10000", isnan(bad[k]) ? "NaN" : "an infinity",
                 at[k]);
        ck_assert_msg(has(iso_last_error(), want), "%s (want %s)", iso_last_error(), want);
        ck_assert_ptr_null(data);
        iso_weights_close(w);
        x[at[k]] = keep;
    }
    /* 16-bit floats: infinity and NaN by their exponent field, the largest finite value passes. */
    static const struct {
        iso_dtype dt;
        uint16_t value;
        const char *what; /* NULL: finite */
    } halves[] = {{ISO_DT_F16, 0x7bff, NULL}, {ISO_DT_F16, 0x7c00, "an infinity"}, {ISO_DT_F16, 0xfe01, "NaN"},
                  {ISO_DT_BF16, 0x7f7f, NULL}, {ISO_DT_BF16, 0xff80, "an infinity"}, {ISO_DT_BF16, 0x7fc1, "NaN"}};
    static uint16_t h[N];
    struct iso_weights fake = {.path = "halves"};
    for (size_t k = 0; k < sizeof halves / sizeof halves[0]; k++) {
        memset(h, 0, sizeof h);
        h[4097] = halves[k].value;
        iso_tensor_view t = {.name = "h", .dtype = halves[k].dt, .ndim = 1, .shape = {N}, .data = h, .nbytes = sizeof h};
        int rc = iso_weights_check_finite(&fake, &t);
        if (!halves[k].what)
            ck_assert_msg(rc == ISO_OK, "%04x: %s", halves[k].value, iso_last_error());
        else
            ck_assert_msg(rc == ISO_EFORMAT && has(iso_last_error(), halves[k].what) &&
                              has(iso_last_error(), "at element 4097 of 10000"), "%04x: %s", halves[k].value,
                          iso_last_error());
    }
}
END_TEST

/* Each allocation made opening a torch.save checkpoint fails in turn (zip directory, pickle values, strings,
 * stack, memo, containers, tensor table): every one must end in ISO_ENOMEM with no weights returned (and, under
 * ASan, nothing leaked), never ISO_OK over a half-built pickle, until enough succeed to load all 7 tensors. */
START_TEST(allocation_failures)
{
    iso_weights *w = NULL;
    long k = 0;
    for (;; k++) {
        alloc_left = k;
        int rc = iso_weights_open(ISO_WEIGHTS_CORPUS "/module.bin", &w);
        int injected = alloc_left < 0;
        alloc_left = -1;
        if (!injected) {
            ck_assert_msg(rc == ISO_OK, "no allocation failed, yet: %s", iso_last_error());
            break;
        }
        ck_assert_msg(rc == ISO_ENOMEM && has(iso_last_error(), "out of memory"),
                      "allocation %ld failed: rc %d, %s", k, rc, iso_last_error());
        ck_assert_ptr_null(w);
    }
    ck_assert_uint_eq(iso_weights_count(w), 7);
    ck_assert_ptr_nonnull(iso_weights_find(w, "1.num_batches_tracked"));
    ck_assert_int_gt(k, 100); /* the sweep went through the pickle, not just the zip directory */
    iso_weights_close(w);
}
END_TEST

START_TEST(config_getters)
{
    iso_config *c = NULL;
    ck_assert_int_eq(iso_config_load(DEMO "/model.safetensors", &c), ISO_OK); /* config.json beside it */
    ck_assert_msg(has(iso_config_path(c), "demo-model/config.json"), "%s", iso_config_path(c));
    int err = 0;
    ck_assert_int_eq(iso_config_int(c, "enformer_dim", -1, &err), 96);
    ck_assert_double_eq(iso_config_num(c, "nt_layer_norm_eps", 0, &err), 1e-12);
    ck_assert_double_eq(iso_config_num(c, "enformer_dim", 0, &err), 96.0); /* an integer is a number */
    ck_assert_int_eq(iso_config_bool(c, "esm_token_dropout", 0, &err), 1);
    ck_assert_str_eq(iso_config_str(c, "head_activation", "", &err), "silu");
    ck_assert_int_eq(iso_config_int(c, "absent_key", 42, &err), 42);
    ck_assert_int_eq(iso_config_has(c, "absent_key"), 0);
    ck_assert_int_eq(err, 0);

    ck_assert_int_eq(iso_config_int(c, "head_activation", 5, &err), 5);
    ck_assert_int_eq(err, ISO_EFORMAT);
    ck_assert_msg(has(iso_last_error(), "config.json: \"head_activation\" must be an integer"), "%s",
                  iso_last_error());
    err = 0;
    ck_assert_str_eq(iso_config_str(c, "enformer_dim", "d", &err), "d");
    ck_assert_int_eq(err, ISO_EFORMAT);
    err = 0;
    ck_assert_int_eq(iso_config_bool(c, "nt_layer_norm_eps", 0, &err), 0);
    ck_assert_int_eq(err, ISO_EFORMAT);
    iso_config_free(c);

    ck_assert_int_eq(iso_config_load(ISO_TEST_TMP "/no-such-dir", &c), ISO_ENOTFOUND);
    ck_assert_ptr_null(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("weights");
    TCase *tc = tcase_create("weights");
    tcase_add_test(tc, directory_lookups);
    tcase_add_test(tc, get_f32_errors);
    tcase_add_test(tc, non_finite_weights);
    tcase_add_test(tc, dtype_and_empty_files);
    tcase_add_test(tc, half_precision_widening);
    tcase_add_test(tc, allocation_failures);
    tcase_add_test(tc, config_getters);
    suite_add_tcase(s, tc);
    return iso_run_suite(s);
}
