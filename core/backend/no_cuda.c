/* Builds without the CUDA backend still answer --device cuda with a clear error. */
#include "isoformer/backend.h"

int iso_backend_cuda_create(int device, iso_precision precision, iso_backend **out)
{
    (void)device;
    (void)precision;
    *out = NULL;
    return iso_error(ISO_EDEVICE, "isoformer was built without CUDA (configure with -DISOFORMER_CUDA=ON on a "
                                  "machine with nvcc), use --device cpu");
}

int iso_backend_cuda_device_count(void) { return 0; }
