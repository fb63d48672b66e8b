/* Creating the CUDA backend: without a usable device (or in a build without CUDA) it must fail with ISO_EDEVICE
 * and a message that says what to do, never crash; with a device, the memory paths and their errors. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "isoformer/backend.h"

START_TEST(no_device_fails_cleanly)
{
    if (iso_backend_cuda_device_count() > 0)
        return; /* covered by the device tests below */
    iso_backend *be = (iso_backend *)1;
    ck_assert_int_eq(iso_backend_cuda_create(0, ISO_PREC_FP32, &be), ISO_EDEVICE);
    ck_assert_ptr_null(be);
    ck_assert_int_eq(iso_last_status(), ISO_EDEVICE);
    ck_assert_msg(strstr(iso_last_error(), "use --device cpu"), "message: %s", iso_last_error());
    /* Through the device selection the CLI uses, for each precision. */
    for (int p = ISO_PREC_FP32; p <= ISO_PREC_BF16; p++) {
        ck_assert_int_eq(iso_backend_create("cuda", 0, (iso_precision)p, &be), ISO_EDEVICE);
        ck_assert_ptr_null(be);
    }
    ck_assert_int_eq(iso_backend_create("cuda:3", 0, ISO_PREC_TF32, &be), ISO_EDEVICE);
    ck_assert_ptr_null(be);
    ck_assert_msg(strstr(iso_last_error(), "use --device cpu"), "message: %s", iso_last_error());
}
END_TEST

START_TEST(device_index_out_of_range)
{
    int count = iso_backend_cuda_device_count();
    if (count == 0)
        return;
    iso_backend *be = NULL;
    ck_assert_int_eq(iso_backend_cuda_create(count, ISO_PREC_FP32, &be), ISO_EDEVICE);
    ck_assert_ptr_null(be);
    ck_assert_msg(strstr(iso_last_error(), "requested"), "message: %s", iso_last_error());
}
END_TEST

START_TEST(device_memory)
{
    if (iso_backend_cuda_device_count() == 0)
        return;
    iso_backend *be = NULL;
    ck_assert_int_eq(iso_backend_cuda_create(0, ISO_PREC_TF32, &be), ISO_OK);
    ck_assert_str_eq(be->ops->name, "cuda");
    float host[1000], back[1000];
    for (int i = 0; i < 1000; i++)
        host[i] = (float)i * 0.5f - 3.0f;
    float *a = be->ops->alloc(be, sizeof host), *b = be->ops->alloc(be, 100);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(be->bytes_in_use, sizeof host + 100);
    be->ops->free(be, b);
    ck_assert_uint_eq(be->bytes_in_use, sizeof host);
    ck_assert_uint_eq(be->peak_bytes, sizeof host + 100);
    ck_assert_int_eq(be->ops->upload(be, a, host, sizeof host), ISO_OK);
    ck_assert_int_eq(be->ops->download(be, back, a, sizeof back), ISO_OK);
    ck_assert_mem_eq(back, host, sizeof host);
    /* Weights are copied once and not counted as activations. */
    const float *w = be->ops->weight(be, host, 1000);
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_ne(w, host);
    ck_assert_uint_eq(be->bytes_in_use, sizeof host);
    ck_assert_int_eq(be->ops->memset0(be, a, 10 * sizeof(float)), ISO_OK);
    ck_assert_int_eq(be->ops->copy(be, a + 10, w + 10, 990 * sizeof(float)), ISO_OK);
    ck_assert_int_eq(be->ops->download(be, back, a, sizeof back), ISO_OK);
    for (int i = 0; i < 1000; i++)
        ck_assert_float_eq(back[i], i < 10 ? 0.0f : host[i]);
    be->ops->free_weight(be, w);
    /* Out of memory: NULL, ISO_ENOMEM, the sizes in the message, the backend still usable. */
    ck_assert_ptr_null(be->ops->alloc(be, (size_t)1 << 50));
    ck_assert_int_eq(iso_last_status(), ISO_ENOMEM);
    ck_assert_msg(strstr(iso_last_error(), "cannot allocate 1125899906842624 bytes"), "message: %s",
                  iso_last_error());
    ck_assert_uint_eq(be->bytes_in_use, sizeof host);
    ck_assert_int_eq(iso_backend_sync(be), ISO_OK);
    be->ops->free(be, a);
    ck_assert_uint_eq(be->bytes_in_use, 0);
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
