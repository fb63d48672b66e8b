/* Model checkpoints read by tensor name: PyTorch's torch.save zip format (pytorch_model.bin: zip directory +
 * the pickle subset a state dict uses, tensors mapped in place) and safetensors (read and write), plus the
 * Hugging Face config.json beside them. */
#ifndef ISOFORMER_WEIGHTS_H
#define ISOFORMER_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "isoformer/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { ISO_DT_F32, ISO_DT_F16, ISO_DT_BF16, ISO_DT_I64, ISO_DT_I32, ISO_DT_U8, ISO_DT_BOOL } iso_dtype;

/* safetensors spelling: "F32", "BF16", ... */
ISO_API
const char *iso_dtype_name(iso_dtype dt);

#define ISO_MAX_DIMS 8

typedef struct {
    const char *name;
    iso_dtype dtype;
    int ndim;
    int64_t shape[ISO_MAX_DIMS];
    const void *data;   /* points into the mapped file (contiguous, row-major) */
    size_t nbytes;
} iso_tensor_view;

typedef struct iso_weights iso_weights;

/* Opens a .bin (zip), .safetensors, or a directory holding either (pytorch_model.bin or model.safetensors);
 * the format is detected from the file's magic bytes, not its name. The file is mmapped. Non-contiguous
 * views are rejected with the tensor's name. */
ISO_API
int iso_weights_open(const char *path, iso_weights **out) ISO_RESULT;
ISO_API
void iso_weights_close(iso_weights *w);
ISO_API
size_t iso_weights_count(const iso_weights *w);
ISO_API
const iso_tensor_view *iso_weights_at(const iso_weights *w, size_t i); /* sorted by name */
/* NULL when absent (no error recorded). */
ISO_API
const iso_tensor_view *iso_weights_find(const iso_weights *w, const char *name);
/* Looks up name and checks the given shape and that every value is finite; on mismatch records an error naming
 * the tensor with expected and found shapes (and, when missing, the nearest names present; when not finite, the
 * first NaN or infinity). F32 data is returned in place (copied when not 4-byte aligned in the file); F16 and BF16
 * data is widened exactly to a float32 copy on the first request, which w keeps until closed (not thread-safe). Other dtypes are an error. Each call reads
 * the whole tensor once: call it once per tensor. */
ISO_API
int iso_weights_get_f32(const iso_weights *w, const char *name, int ndim, const int64_t *shape,
                        const float **data) ISO_RESULT;
/* Path of the file actually mapped. */
ISO_API
const char *iso_weights_path(const iso_weights *w);
/* A checksum of the tensor bytes and names (stable across .bin and .safetensors of the same weights). */
ISO_API
uint64_t iso_weights_checksum(const iso_weights *w);
/* Writes all tensors as safetensors (atomically), names sorted, with the metadata transformers requires ("format": "pt"). */
ISO_API
int iso_weights_write_safetensors(const iso_weights *w, const char *path) ISO_RESULT;

/* ---- config.json ---- */
typedef struct iso_config iso_config;
/* Reads path, or <dir>/config.json when path is a directory or a weights file inside it. */
ISO_API
int iso_config_load(const char *path, iso_config **out) ISO_RESULT;
ISO_API
void iso_config_free(iso_config *c);
/* Integer/float/bool/string fields; return def when the key is absent, and record an error (returning def)
 * via *err when the key is present with the wrong type. */
ISO_API
long iso_config_int(const iso_config *c, const char *key, long def, int *err);
/* A dimension, count or index: like iso_config_int, and an error naming the key when the value is outside
 * 0..ISO_CONFIG_MAX_SIZE (so 2^32 + 96 is refused, not read as 96). */
#define ISO_CONFIG_MAX_SIZE (1 << 30)
ISO_API
int iso_config_size(const iso_config *c, const char *key, int def, int *err);
ISO_API
double iso_config_num(const iso_config *c, const char *key, double def, int *err);
ISO_API
int iso_config_bool(const iso_config *c, const char *key, int def, int *err);
ISO_API
const char *iso_config_str(const iso_config *c, const char *key, const char *def, int *err);
ISO_API
int iso_config_has(const iso_config *c, const char *key);
ISO_API
const char *iso_config_path(const iso_config *c);

#ifdef __cplusplus
}
#endif
#endif
