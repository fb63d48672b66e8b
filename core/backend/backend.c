/* Backend selection: "cpu", "cuda" or "cuda:N". */
#include "isoformer/backend.h"

#include <stdlib.h>
#include <string.h>

int iso_backend_create(const char *device, int n_threads, iso_precision precision, iso_backend **out)
{
    *out = NULL;
    if (!device || !strcmp(device, "cpu"))
        return iso_backend_cpu_create(n_threads, out);
    if (!strncmp(device, "cuda", 4)) {
        int index = 0;
        if (device[4] == ':') {
            char *end;
            long v = strtol(device + 5, &end, 10);
            if (end == device + 5 || *end || v < 0 || v > 255)
                return iso_error(ISO_EINVAL, "--device '%s': expected cpu, cuda or cuda:N", device);
            index = (int)v;
        } else if (device[4]) {
            return iso_error(ISO_EINVAL, "--device '%s': expected cpu, cuda or cuda:N", device);
        }
        return iso_backend_cuda_create(index, precision, out);
    }
    return iso_error(ISO_EINVAL, "--device '%s': expected cpu, cuda or cuda:N", device);
}

void iso_backend_destroy(iso_backend *be)
{
    if (be)
        be->ops->destroy(be);
}
