/* CUDA backend: device selection, memory (with accounting), transfers and the ops table. Every op is queued on
 * one non-blocking stream; upload and download return once the host buffer may be reused or read. Weights are
 * cudaMalloc'd once; activations come from a stream-ordered pool of the backend's own (cudaMallocFromPoolAsync), which
 * keeps freed blocks for reuse and, unlike cudaFree, does not stall the stream at every free. */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"

int cu_fail(cudaError_t err, const char *call)
{
    cudaGetLastError(); /* clear the error state this call left, so later calls report their own */
    return iso_error(err == cudaErrorMemoryAllocation ? ISO_ENOMEM : ISO_EDEVICE, "cuda backend: %s failed: %s (%s)",
                     call, cudaGetErrorString(err), cudaGetErrorName(err));
}

int cu_blas_fail(cublasStatus_t st, const char *call)
{
    return iso_error(st == CUBLAS_STATUS_ALLOC_FAILED ? ISO_ENOMEM : ISO_EDEVICE, "cuda backend: %s failed: %s", call,
                     cublasGetStatusString(st));
}

int cu_launched(const char *kernel)
{
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) /* a fault of an op queued earlier surfaces here too */
        return iso_error(ISO_EDEVICE, "cuda backend: kernel %s, or an op queued before it, failed: %s (%s)", kernel,
                         cudaGetErrorString(err), cudaGetErrorName(err));
    return ISO_OK;
}

int cu_enter(iso_backend *be)
{
    CU_TRY(cudaSetDevice(cu_of(be)->device));
    return ISO_OK;
}

/* ---- pointer -> size table (open addressing, linear probing, backward-shift deletion) ---- */

static size_t slot_of(const cu_size_table *t, const void *p)
{
    return (size_t)(((uintptr_t)p >> 8) * 0x9E3779B97F4A7C15ull) & (t->cap - 1);
}

static int table_put(cu_size_table *t, void *p, size_t size)
{
    if (2 * (t->len + 1) > t->cap) { /* keep the load under 1/2 */
        cu_size_table g = {NULL, NULL, t->cap ? 2 * t->cap : 64, 0};
        g.ptr = (void **)calloc(g.cap, sizeof *g.ptr);
        g.size = (size_t *)calloc(g.cap, sizeof *g.size);
        if (!g.ptr || !g.size) {
            free(g.ptr);
            free(g.size);
            return iso_error(ISO_ENOMEM, "cuda backend: out of host memory for the allocation table");
        }
        for (size_t i = 0; i < t->cap; i++)
            if (t->ptr[i])
                table_put(&g, t->ptr[i], t->size[i]);
        free(t->ptr);
        free(t->size);
        *t = g;
    }
    size_t i = slot_of(t, p);
    while (t->ptr[i])
        i = (i + 1) & (t->cap - 1);
    t->ptr[i] = p;
    t->size[i] = size;
    t->len++;
    return ISO_OK;
}

/* Removes p; returns its size, or (size_t)-1 when p was not allocated here. */
static size_t table_take(cu_size_table *t, const void *p)
{
    if (!t->cap)
        return (size_t)-1;
    size_t i = slot_of(t, p);
    while (t->ptr[i] && t->ptr[i] != p)
        i = (i + 1) & (t->cap - 1);
    if (!t->ptr[i])
        return (size_t)-1;
    size_t size = t->size[i];
    /* Shift later entries of the probe run back into the hole, so lookups never stop early. */
    for (size_t j = (i + 1) & (t->cap - 1); t->ptr[j]; j = (j + 1) & (t->cap - 1)) {
        size_t home = slot_of(t, t->ptr[j]);
        if (((j - home) & (t->cap - 1)) >= ((j - i) & (t->cap - 1))) {
            t->ptr[i] = t->ptr[j];
            t->size[i] = t->size[j];
            i = j;
        }
    }
    t->ptr[i] = NULL;
    t->len--;
    return size;
}

/* ---- memory ---- */

/* Activations are stream-ordered when the device has memory pools; without (some virtualised GPUs), cudaMalloc
 * and a cudaFree after the stream's work, as weights are. */
static int pooled(const cu_backend *cu, int stream_ordered) { return stream_ordered && cu->pool; }

static cudaError_t try_alloc(cu_backend *cu, void **p, size_t nbytes, int stream_ordered)
{
    return pooled(cu, stream_ordered) ? cudaMallocFromPoolAsync(p, nbytes ? nbytes : 1, cu->pool, cu->stream)
                          : cudaMalloc(p, nbytes ? nbytes : 1);
}

static void *device_alloc(iso_backend *be, size_t nbytes, const char *what, int stream_ordered)
{
    cu_backend *cu = cu_of(be);
    void *p = NULL;
    if (cu_enter(be))
        return NULL;
    cudaError_t err = try_alloc(cu, &p, nbytes, stream_ordered);
    if (err == cudaErrorMemoryAllocation) { /* the pool keeps freed activations: hand them back, try once more */
        cudaGetLastError();
        if (cudaStreamSynchronize(cu->stream) == cudaSuccess &&
            (!cu->pool || cudaMemPoolTrimTo(cu->pool, 0) == cudaSuccess))
            err = try_alloc(cu, &p, nbytes, stream_ordered);
    }
    if (err != cudaSuccess) {
        cudaGetLastError();
        size_t dev_free = 0, dev_total = 0;
        cudaMemGetInfo(&dev_free, &dev_total);
        cudaGetLastError();
        iso_error(err == cudaErrorMemoryAllocation ? ISO_ENOMEM : ISO_EDEVICE,
                  "cuda backend: cannot allocate %zu bytes of %s on device %d: %s (in use here: %zu bytes of "
                  "activations, %zu of weights; device has %zu of %zu bytes free): use a smaller batch or window",
                  nbytes, what, cu->device, cudaGetErrorString(err), be->bytes_in_use, cu->weight_bytes, dev_free,
                  dev_total);
        return NULL;
    }
    if (table_put(&cu->sizes, p, nbytes)) {
        pooled(cu, stream_ordered) ? cudaFreeAsync(p, cu->stream) : cudaFree(p);
        return NULL;
    }
    return p;
}

/* Frees p and returns its size (0 with a warning for a pointer this backend did not allocate). */
static size_t device_free(iso_backend *be, void *p, int stream_ordered)
{
    size_t size = table_take(&cu_of(be)->sizes, p);
    if (size == (size_t)-1) {
        iso_warn("cuda backend: free of %p, which this backend did not allocate (ignored)", p);
        return 0;
    }
    if (cu_enter(be) == ISO_OK) {
        /* cudaFree need not wait for the non-blocking stream, whose copies or kernels may still use a weight (a
         * load that failed partway, a model freed after an error without a sync) */
        cudaStream_t stream = cu_of(be)->stream;
        stream_ordered = pooled(cu_of(be), stream_ordered);
        cudaError_t err = stream_ordered ? cudaFreeAsync(p, stream) : cudaStreamSynchronize(stream);
        if (!stream_ordered && err == cudaSuccess)
            err = cudaFree(p);
        if (err != cudaSuccess) { /* free has no status to return; an earlier op's fault may surface here */
            cudaGetLastError();
            iso_warn("cuda backend: freeing %zu bytes failed: %s (%s)", size, cudaGetErrorString(err),
                     cudaGetErrorName(err));
        }
    }
    return size;
}

static void *cu_alloc(iso_backend *be, size_t nbytes)
{
    void *p = device_alloc(be, nbytes, "activations", 1);
    if (p) {
        be->bytes_in_use += nbytes;
        if (be->bytes_in_use > be->peak_bytes)
            be->peak_bytes = be->bytes_in_use;
    }
    return p;
}

static void cu_free(iso_backend *be, void *ptr)
{
    if (ptr)
        be->bytes_in_use -= device_free(be, ptr, 1);
}

/* Synchronous with respect to the host buffer whatever its kind (pageable, pinned, mmapped). */
static int cu_transfer(iso_backend *be, void *dst, const void *src, size_t nbytes, cudaMemcpyKind kind)
{
    int rc = cu_enter(be);
    if (rc || !nbytes)
        return rc;
    CU_TRY(cudaMemcpyAsync(dst, src, nbytes, kind, cu_of(be)->stream));
    CU_TRY(cudaStreamSynchronize(cu_of(be)->stream));
    return ISO_OK;
}

/* The pinned staging halves and their events, made at the first weight; where pinning fails (a host that limits
 * locked memory), a warning and pageable copies from then on. */
static void staging_init(cu_backend *cu)
{
    cudaError_t err = cudaHostAlloc((void **)&cu->staging, 2 * CU_STAGE_BYTES, cudaHostAllocDefault);
    for (int i = 0; i < 2 && err == cudaSuccess; i++)
        err = cudaEventCreateWithFlags(&cu->staged[i], cudaEventDisableTiming);
    if (err == cudaSuccess)
        return;
    cudaGetLastError();
    iso_warn("cuda backend: no pinned staging memory (%s): weights are uploaded by slower pageable copies",
             cudaGetErrorString(err));
    cu->unpinned = 1;
    if (cu->staging)
        cudaFreeHost(cu->staging);
    cu->staging = NULL;
    for (int i = 0; i < 2; i++)
        if (cu->staged[i])
            cudaEventDestroy(cu->staged[i]);
    cu->staged[0] = cu->staged[1] = NULL;
}

/* Host to device on the compute stream, so the copy is ordered before every kernel that reads it, through two
 * pinned halves in turn: the host fills one (from the mmapped, pageable file) while the other is copied, at the
 * bus's pinned rate. A half is refilled only after its previous copy is done (its event). */
static int upload_staged(iso_backend *be, void *dst, const void *src, size_t nbytes)
{
    cu_backend *cu = cu_of(be);
    int rc = cu_enter(be);
    if (rc)
        return rc;
    if (!cu->staging && !cu->unpinned)
        staging_init(cu);
    if (cu->unpinned)
        return cu_transfer(be, dst, src, nbytes, cudaMemcpyHostToDevice);
    for (size_t off = 0, half = 0; off < nbytes; off += CU_STAGE_BYTES, half ^= 1) {
        size_t n = nbytes - off < CU_STAGE_BYTES ? nbytes - off : CU_STAGE_BYTES;
        char *stage = cu->staging + half * CU_STAGE_BYTES;
        CU_TRY(cudaEventSynchronize(cu->staged[half])); /* returns at once before the first record */
        memcpy(stage, (const char *)src + off, n);
        CU_TRY(cudaMemcpyAsync((char *)dst + off, stage, n, cudaMemcpyHostToDevice, cu->stream));
        CU_TRY(cudaEventRecord(cu->staged[half], cu->stream));
    }
    return ISO_OK;
}

static const float *cu_weight(iso_backend *be, const float *host, size_t count)
{
    size_t nbytes = count * sizeof(float);
    float *dev = (float *)device_alloc(be, nbytes, "weights", 0);
    if (!dev)
        return NULL;
    if (upload_staged(be, dev, host, nbytes) != ISO_OK) {
        device_free(be, dev, 0);
        return NULL;
    }
    cu_of(be)->weight_bytes += nbytes;
    return dev;
}

static void cu_free_weight(iso_backend *be, const float *dev)
{
    if (dev)
        cu_of(be)->weight_bytes -= device_free(be, (void *)dev, 0);
}

static int cu_upload(iso_backend *be, void *dst, const void *src, size_t nbytes)
{
    return cu_transfer(be, dst, src, nbytes, cudaMemcpyHostToDevice);
}

static int cu_download(iso_backend *be, void *dst, const void *src, size_t nbytes)
{
    return cu_transfer(be, dst, src, nbytes, cudaMemcpyDeviceToHost);
}

static int cu_copy(iso_backend *be, void *dst, const void *src, size_t nbytes)
{
    int rc = cu_enter(be);
    if (rc || !nbytes)
        return rc;
    CU_TRY(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, cu_of(be)->stream));
    return ISO_OK;
}

static int cu_memset0(iso_backend *be, void *dst, size_t nbytes)
{
    int rc = cu_enter(be);
    if (rc || !nbytes)
        return rc;
    CU_TRY(cudaMemsetAsync(dst, 0, nbytes, cu_of(be)->stream));
    return ISO_OK;
}

static int cu_sync(iso_backend *be)
{
    int rc = cu_enter(be);
    if (rc)
        return rc;
    CU_TRY(cudaStreamSynchronize(cu_of(be)->stream));
    return ISO_OK;
}

/* What the pool holds beyond the blocks in use: freed activations it keeps (release threshold raised at create). */
static size_t cu_cached_bytes(const iso_backend *be)
{
    const cu_backend *cu = (const cu_backend *)be->impl;
    uint64_t reserved = 0, used = 0; /* cuuint64_t */
    if (!cu->pool)
        return 0;
    if (cudaMemPoolGetAttribute(cu->pool, cudaMemPoolAttrReservedMemCurrent, &reserved) != cudaSuccess ||
        cudaMemPoolGetAttribute(cu->pool, cudaMemPoolAttrUsedMemCurrent, &used) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return reserved > used ? (size_t)(reserved - used) : 0;
}

/* After the queued work (whose frees are stream-ordered), the pool gives its unused memory back to the device. */
static int cu_release_cached(iso_backend *be)
{
    int rc = cu_sync(be);
    if (rc)
        return rc;
    if (cu_of(be)->pool)
        CU_TRY(cudaMemPoolTrimTo(cu_of(be)->pool, 0));
    return ISO_OK;
}

/* Also frees whatever the caller left allocated, so a failed run does not hold device memory. */
static void cu_destroy(iso_backend *be)
{
    cu_backend *cu = cu_of(be);
    if (cu) {
        if (cudaSetDevice(cu->device) == cudaSuccess) {
            if (cu->stream)
                cudaStreamSynchronize(cu->stream);
            if (cu->sizes.len)
                iso_debug("cuda backend: freeing %zu buffers left allocated", cu->sizes.len);
            for (size_t i = 0; i < cu->sizes.cap; i++) /* cudaFree also takes pool memory, the stream being idle */
                if (cu->sizes.ptr[i])
                    cudaFree(cu->sizes.ptr[i]);
            if (cu->cublas)
                cublasDestroy(cu->cublas);
            if (cu->staging)
                cudaFreeHost(cu->staging);
            for (int i = 0; i < 2; i++)
                if (cu->staged[i])
                    cudaEventDestroy(cu->staged[i]);
            if (cu->pool)
                cudaMemPoolDestroy(cu->pool);
            if (cu->stream)
                cudaStreamDestroy(cu->stream);
        }
        cudaGetLastError();
        free(cu->sizes.ptr);
        free(cu->sizes.size);
        free(cu);
    }
    free(be);
}

/* The fused attention kernel takes the shapes it fits (head_dim <= 128) and is wanted for short sequences only
 * (iso_k_attention_prefer_fused); every other op takes any shape. */
static int cu_supports_op(const iso_backend *be, iso_op op, const void *args)
{
    (void)be;
    return op != ISO_OP_ATTENTION || !args || iso_k_attention_prefer_fused((const iso_attention_args *)args);
}

static int cu_has(const iso_backend *be, iso_backend_property property)
{
    (void)be;
    return property == ISO_BACKEND_ASYNC; /* cuBLAS picks its algorithm (split-K...) by shape: not row-invariant */
}

static const struct iso_backend_ops cuda_ops = {
    cu_destroy,
    cu_alloc,
    cu_free,
    cu_upload,
    cu_download,
    cu_copy,
    cu_memset0,
    cu_weight,
    cu_free_weight,
    cu_sync,
    cu_gemm,
    cu_bias_act,
    cu_affine_act,
    cu_axpy,
    cu_layernorm,
    cu_softmax,
    cu_rotary,
    cu_glu_silu,
    cu_pair_diff,
    cu_attn_pool2,
    cu_rel_shift_add,
    cu_mean_rows,
    cu_attention,
    cu_dna_im2col,
    NULL, /* wino_in, wino_out: fp32 only, and the GPU's production precisions are tf32/bf16 */
    NULL,
    NULL, /* use_precision: fp32, tf32 and bf16 all compute on any supported GPU */
    cu_supports_op,
    cu_has,
    cu_cached_bytes,
    cu_release_cached,
};

extern "C" const iso_backend_reg iso_backend_cuda_reg;

static int cu_device_count(void)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return count;
}

static int cu_create(int device, int n_threads, iso_precision precision, iso_backend **out)
{
    (void)n_threads;
    *out = NULL;
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        cudaGetLastError();
        return iso_error(ISO_EDEVICE,
                         "no CUDA device found (%s: %s; this build needs an NVIDIA driver for CUDA %d.%d or newer): "
                         "use the cpu device",
                         cudaGetErrorName(err), cudaGetErrorString(err), CUDART_VERSION / 1000,
                         CUDART_VERSION % 1000 / 10);
    }
    if (count == 0)
        return iso_error(ISO_EDEVICE, "no CUDA device found: use the cpu device");
    if (device < 0 || device >= count)
        return iso_error(ISO_EDEVICE, "CUDA device %d requested, but %d device(s) are visible (cuda:0 .. cuda:%d)",
                         device, count, count - 1);

    iso_backend *be = (iso_backend *)calloc(1, sizeof *be);
    cu_backend *cu = (cu_backend *)calloc(1, sizeof *cu);
    if (!be || !cu) {
        free(be);
        free(cu);
        return iso_error(ISO_ENOMEM, "cuda backend: out of host memory");
    }
    iso_backend_init(be, &iso_backend_cuda_reg, &cuda_ops, device, precision, 1, cu);
    cu->device = device;

    int rc;
    cudaDeviceProp prop;
    cublasStatus_t st;
    cudaMemPoolProps pool_props;
    memset(&pool_props, 0, sizeof pool_props);
    pool_props.allocType = cudaMemAllocationTypePinned;
    pool_props.location.type = cudaMemLocationTypeDevice;
    pool_props.location.id = device;
    uint64_t keep = UINT64_MAX;
    int has_pools = 0;
    if ((err = cudaSetDevice(device)) != cudaSuccess || (err = cudaGetDeviceProperties(&prop, device)) != cudaSuccess ||
        (err = cudaStreamCreateWithFlags(&cu->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        rc = cu_fail(err, "initialising the CUDA device");
        goto fail;
    }
    /* A pool of our own (the device's default one is every library's) that keeps what it has grown to instead of
     * returning it at every synchronisation; device_alloc trims it when the device runs out. */
    if ((err = cudaDeviceGetAttribute(&has_pools, cudaDevAttrMemoryPoolsSupported, device)) != cudaSuccess ||
        (has_pools &&
         ((err = cudaMemPoolCreate(&cu->pool, &pool_props)) != cudaSuccess ||
          (err = cudaMemPoolSetAttribute(cu->pool, cudaMemPoolAttrReleaseThreshold, &keep)) != cudaSuccess))) {
        rc = cu_fail(err, "configuring the stream-ordered memory pool");
        goto fail;
    }
    if ((st = cublasCreate(&cu->cublas)) != CUBLAS_STATUS_SUCCESS ||
        (st = cublasSetStream(cu->cublas, cu->stream)) != CUBLAS_STATUS_SUCCESS) {
        rc = cu_blas_fail(st, "cublasCreate");
        goto fail;
    }
    iso_info("cuda backend: device %d: %s (compute capability %d.%d, %.1f GiB)%s", device, prop.name, prop.major,
             prop.minor, prop.totalGlobalMem / 1073741824.0,
             has_pools ? "" : "; no memory pools on this device: every activation free waits for the stream");
    if (precision != ISO_PREC_FP32 && prop.major < 8)
        iso_warn("cuda backend: TF32/BF16 GEMMs need compute capability 8.0 or newer (device has %d.%d); "
                 "cuBLAS may run them in fp32",
                 prop.major, prop.minor);
    *out = be;
    return ISO_OK;
fail:
    cu_destroy(be);
    return rc;
}

extern "C" const iso_backend_reg iso_backend_cuda_reg = {"cuda", ISO_DEVICE_GPU,
                                              1u << ISO_PREC_FP32 | 1u << ISO_PREC_TF32 | 1u << ISO_PREC_BF16,
                                              cu_device_count, cu_create};
