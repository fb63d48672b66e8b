/* The CUDA backend's registry entry in builds without CUDA: no devices, and --device cuda gets a clear error. */
#include "backend/backend_impl.h"

static int absent_device_count(void) { return 0; }

static int absent_create(int device, int n_threads, iso_precision precision, iso_backend **out)
{
    (void)device;
    (void)n_threads;
    (void)precision;
    *out = NULL;
    return iso_error(ISO_EDEVICE, "isoformer was built without CUDA (configure with -DISOFORMER_CUDA=ON on a "
                                  "machine with nvcc): use the cpu device");
}

const iso_backend_reg iso_backend_cuda_reg = {"cuda", ISO_DEVICE_GPU, 0, absent_device_count, absent_create};
