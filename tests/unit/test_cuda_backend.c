/* Creating the CUDA backend: without a usable device (or in a build without CUDA) it must fail with ISO_EDEVICE
 * and a message that says what to do, never crash; with a device, the memory paths and their errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend_impl.h"
#include "backend/kernels.h"
#include "check_run.h"

/* CUDA's devices, through the registry. */
static int cuda_devices(void)
{
    for (int i = 0; i < iso_backend_reg_count(); i++)
        if (!strcmp(iso_backend_reg_name(i), "cuda"))
            return iso_backend_reg_device_count(i);
    ck_abort_msg("no cuda entry in the backend registry");
    return 0;
}

START_TEST(no_device_fails_cleanly)
{
    if (cuda_devices() > 0)
        return; /* covered by the device tests below */
    iso_backend *be = (iso_backend *)1;
    ck_assert_int_eq(iso_backend_create("cuda", 0, ISO_PREC_FP32, &be), ISO_EDEVICE);
    ck_assert_ptr_null(be);
    ck_assert_str_eq(iso_backend_default_device(), "cpu");
    ck_assert_int_eq(iso_last_status(), ISO_EDEVICE);
    ck_assert_msg(strstr(iso_last_error(), "use the cpu device"), "message: %s", iso_last_error());
    /* Through the device selection the CLI uses, for each precision. */
    for (int p = ISO_PREC_FP32; p <= ISO_PREC_BF16; p++) {
        ck_assert_int_eq(iso_backend_create("cuda", 0, (iso_precision)p, &be), ISO_EDEVICE);
        ck_assert_ptr_null(be);
    }
    ck_assert_int_eq(iso_backend_create("cuda:3", 0, ISO_PREC_TF32, &be), ISO_EDEVICE);
    ck_assert_ptr_null(be);
    ck_assert_msg(strstr(iso_last_error(), "use the cpu device"), "message: %s", iso_last_error());
}
END_TEST

START_TEST(device_index_out_of_range)
{
    int count = cuda_devices();
    if (count == 0)
        return;
    iso_backend *be = NULL;
    char name[32];
    snprintf(name, sizeof name, "cuda:%d", count);
    ck_assert_int_eq(iso_backend_create(name, 0, ISO_PREC_FP32, &be), ISO_EDEVICE);
    ck_assert_ptr_null(be);
    ck_assert_msg(strstr(iso_last_error(), "requested"), "message: %s", iso_last_error());
}
END_TEST

START_TEST(device_memory)
{
    if (cuda_devices() == 0)
        return;
    iso_backend *be = NULL;
    ck_assert_int_eq(iso_backend_create("cuda", 0, ISO_PREC_TF32, &be), ISO_OK);
    ck_assert_str_eq(iso_backend_name(be), "cuda");
    ck_assert_str_eq(iso_backend_key(be), "cuda:tf32");
    ck_assert_int_eq(iso_backend_device_kind(be), ISO_DEVICE_GPU);
    ck_assert(iso_backend_has(be, ISO_BACKEND_ASYNC));
    ck_assert_str_eq(iso_backend_default_device(), "cuda");
    float host[1000], back[1000];
    for (int i = 0; i < 1000; i++)
        host[i] = (float)i * 0.5f - 3.0f;
    float *a = be->ops->alloc(be, sizeof host), *b = be->ops->alloc(be, 100);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(iso_backend_bytes_in_use(be), sizeof host + 100);
    be->ops->free(be, b);
    ck_assert_uint_eq(iso_backend_bytes_in_use(be), sizeof host);
    ck_assert_uint_eq(iso_backend_peak_bytes(be), sizeof host + 100);
    ck_assert_int_eq(be->ops->upload(be, a, host, sizeof host), ISO_OK);
    ck_assert_int_eq(be->ops->download(be, back, a, sizeof back), ISO_OK);
    ck_assert_mem_eq(back, host, sizeof host);
    /* Weights are copied once and not counted as activations. */
    const float *w = be->ops->weight(be, host, 1000);
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_ne(w, host);
    ck_assert_uint_eq(iso_backend_bytes_in_use(be), sizeof host);
    ck_assert_int_eq(be->ops->memset0(be, a, 10 * sizeof(float)), ISO_OK);
    ck_assert_int_eq(be->ops->copy(be, a + 10, w + 10, 990 * sizeof(float)), ISO_OK);
    ck_assert_int_eq(be->ops->download(be, back, a, sizeof back), ISO_OK);
    for (int i = 0; i < 1000; i++)
        ck_assert_float_eq(back[i], i < 10 ? 0.0f : host[i]);
    be->ops->free_weight(be, w);
    /* The Enformer stem's columns built on the device equal the host function's (test_cuda_kernels checks it). */
    static const char dna[] = "ACGTNACGTTGCAACnGT";
    enum { LEN = sizeof dna - 1, K = 15, T = 10 };
    float cols_host[T * 4 * K], cols_back[T * 4 * K];
    char *dna_dev = be->ops->alloc(be, LEN);
    float *cols = be->ops->alloc(be, sizeof cols_back);
    ck_assert(iso_backend_supports_op(be, ISO_OP_DNA_IM2COL, NULL));
    ck_assert_int_eq(be->ops->upload(be, dna_dev, dna, LEN), ISO_OK);
    ck_assert_int_eq(be->ops->dna_im2col(be, dna_dev, LEN, 5, T, K, cols), ISO_OK);
    ck_assert_int_eq(be->ops->download(be, cols_back, cols, sizeof cols_back), ISO_OK);
    for (int e = 0; e < T * K; e++)
        iso_k_dna_im2col_at(dna, LEN, 5, K, cols_host, e);
    ck_assert_mem_eq(cols_back, cols_host, sizeof cols_host);
    be->ops->free(be, dna_dev);
    be->ops->free(be, cols);
    /* Out of memory: NULL, ISO_ENOMEM, the sizes in the message, the backend still usable. */
    ck_assert_ptr_null(be->ops->alloc(be, (size_t)1 << 50));
    ck_assert_int_eq(iso_last_status(), ISO_ENOMEM);
    ck_assert_msg(strstr(iso_last_error(), "cannot allocate 1125899906842624 bytes"), "message: %s",
                  iso_last_error());
    ck_assert_uint_eq(iso_backend_bytes_in_use(be), sizeof host);
    ck_assert_int_eq(iso_backend_sync(be), ISO_OK);
    be->ops->free(be, a);
    ck_assert_uint_eq(iso_backend_bytes_in_use(be), 0);
    /* The pool keeps what it has grown to, until asked to give it back to the device. */
    ck_assert_uint_gt(iso_backend_cached_bytes(be), 0);
    ck_assert_int_eq(iso_backend_release_cached(be), ISO_OK);
    ck_assert_uint_eq(iso_backend_cached_bytes(be), 0);
    iso_backend_destroy(be);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cuda_backend");
    TCase *t = tcase_create("create");
    tcase_add_test(t, no_device_fails_cleanly);
    tcase_add_test(t, device_index_out_of_range);
    tcase_add_test(t, device_memory);
    suite_add_tcase(s, t);
    return iso_run_suite(s);
}
