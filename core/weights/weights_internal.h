/* Internals shared by the checkpoint readers: the mapped file and the tensor table they fill. */
#ifndef ISOFORMER_WEIGHTS_INTERNAL_H
#define ISOFORMER_WEIGHTS_INTERNAL_H

#include "isoformer/weights.h"

struct iso_weights {
    char *path;
    const unsigned char *map;
    size_t map_size;
    iso_tensor_view *tensors; /* names malloc'd; sorted by name once loading ends */
    size_t n, cap;
    float **as_f32;           /* per tensor: its F16/BF16 data widened to float32 on first request, or NULL */
};

/* Appends a tensor (name copied). Checks that data .. data + nbytes lies inside the mapping. */
int iso_weights_add(iso_weights *w, const char *name, iso_dtype dtype, int ndim, const int64_t *shape,
                    const void *data, size_t nbytes) ISO_RESULT;
size_t iso_dtype_size(iso_dtype dt);
/* Product of the dims, or -1 on a negative dim or overflow. */
int64_t iso_shape_numel(int ndim, const int64_t *shape);
/* Bytes of a contiguous tensor of this shape and dtype, or -1 on a negative dim or overflow. */
int64_t iso_shape_nbytes(iso_dtype dt, int ndim, const int64_t *shape);

/* ISO_OK when every value of a floating-point tensor (F32, F16, BF16) is finite; else an error naming the
 * tensor and the first NaN or infinity. Integer tensors always pass. */
int iso_weights_check_finite(const iso_weights *w, const iso_tensor_view *t) ISO_RESULT;

/* Format readers: fill w from w->map. Errors name w->path. */
int iso_read_torch_zip(iso_weights *w) ISO_RESULT;
int iso_read_safetensors(iso_weights *w) ISO_RESULT;

#endif
