/* fp32 attention in AVX-512 register tiles, for the CPU backend's attention op where the head width is a multiple
 * of 16 (backend_cpu.c runs two sgemm calls per block otherwise). Why not sgemm: at the encoders' head width of 64,
 * q k^T is a product with an inner dimension of 64, where OpenBLAS spends much of its time packing, and p v
 * packs the whole probability block again; attention reached 40-47% of the sgemm rate on Emerald Rapids. Here a
 * head's keys are transposed once into 16-key panels and its values copied together, scores come from 8 query
 * rows x 32 keys of accumulators (16 registers, one load of keys per 8 FMAs), the softmax runs on 48 rows at a
 * time while they are in cache, and p v from 6 rows x 64 columns (24 registers).
 *
 * Every output is a chain of FMAs in an order fixed here (scores over the head dims in order, outputs over the
 * keys in order), so the bits do not depend on threads, blocking of query rows, or the CPU model. */
#include "backend/cpu/attention_avx512.h"

#include <stdint.h>
#include <string.h>

#include "backend/kernels.h"

enum {
    KEYS = 16,      /* floats in a vector: keys in a panel */
    QK_ROWS = 8,    /* query rows of a scores tile (x 2 vectors of keys) */
    PV_ROWS = 6,    /* query rows of an output tile (x up to 4 vectors of columns) */
    PV_VECS = 4,
    ROW_GROUP = 48, /* rows whose scores are made, normalised and used together (a multiple of both) */
};

static int key_panels(int Tk) { return (Tk + KEYS - 1) / KEYS; }

size_t iso_cpu_attention_avx512_scratch(int Tk, int head_dim)
{
    size_t keys = (size_t)key_panels(Tk) * KEYS;
    return 2 * keys * (size_t)head_dim + ROW_GROUP * keys + ROW_GROUP; /* a multiple of 16: whole cache lines */
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))
#define TILE static inline __attribute__((always_inline)) AVX512

int iso_cpu_attention_avx512_usable(int head_dim)
{
    return head_dim % KEYS == 0 && __builtin_cpu_supports("avx512f");
}

/* kt[p][d][l] = key 16 p + l of head h at dim d, zero for keys past Tk; vh = the head's values, Tk x hd. The
 * heads' rows are a model width apart (often 4 KiB): read in place, the values of one head fall into a few cache
 * sets and evict each other, which took p v to a third of its speed. */
static AVX512 void pack_head(const iso_attention_args *a, int h, float *kt, float *vh)
{
    const int hd = a->head_dim;
    for (int j = 0; j < a->Tk; j++)
        memcpy(vh + (size_t)j * hd, a->v + (int64_t)j * a->ldv + (int64_t)h * hd, (size_t)hd * sizeof *vh);
    for (int p = 0; p < key_panels(a->Tk); p++)
        for (int l = 0; l < KEYS; l++) {
            int key = p * KEYS + l;
            const float *src = a->k + (int64_t)key * a->ldk + (int64_t)h * hd;
            float *dst = kt + (size_t)p * hd * KEYS + l;
            for (int d = 0; d < hd; d++)
                dst[(size_t)d * KEYS] = key < a->Tk ? src[d] : 0.0f;
        }
}

/* s[r][0, 16 nk) = scale * q_r . keys of nk panels from kt, for rows r < rows (at most QK_ROWS; the missing rows
 * repeat the last one and are not stored). */
TILE void scores_tile(const float *q, int ldq, int rows, const float *kt, int hd, int nk, float scale, float *s,
                      int lds)
{
    const float *qr[QK_ROWS];
    for (int r = 0; r < QK_ROWS; r++)
        qr[r] = q + (int64_t)(r < rows ? r : rows - 1) * ldq;
    __m512 acc[QK_ROWS][2];
    for (int r = 0; r < QK_ROWS; r++)
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    const float *k1 = kt + (size_t)hd * KEYS;
    for (int d = 0; d < hd; d++) {
        __m512 k0v = _mm512_loadu_ps(kt + (size_t)d * KEYS);
        __m512 k1v = nk > 1 ? _mm512_loadu_ps(k1 + (size_t)d * KEYS) : k0v;
        for (int r = 0; r < QK_ROWS; r++) {
            __m512 qv = _mm512_set1_ps(qr[r][d]);
            acc[r][0] = _mm512_fmadd_ps(qv, k0v, acc[r][0]);
            if (nk > 1)
                acc[r][1] = _mm512_fmadd_ps(qv, k1v, acc[r][1]);
        }
    }
    const __m512 sv = _mm512_set1_ps(scale);
    for (int r = 0; r < QK_ROWS; r++) /* all rows, tested inside: a constant index keeps acc in registers */
        for (int c = 0; c < nk; c++)
            if (r < rows)
                _mm512_storeu_ps(s + (int64_t)r * lds + c * KEYS, _mm512_mul_ps(acc[r][c], sv));
}

/* out[r][0, 16 nv) = inv[r] * sum_j p[r][j] v[j][0, 16 nv) for rows r < rows (at most PV_ROWS, as scores_tile). */
TILE void output_tile(const float *p, int ldp, int rows, const float *inv, const float *v, int ldv, int Tk, int nv,
                      float *out, int ldo)
{
    const float *pr[PV_ROWS];
    for (int r = 0; r < PV_ROWS; r++)
        pr[r] = p + (int64_t)(r < rows ? r : rows - 1) * ldp;
    __m512 acc[PV_ROWS][PV_VECS];
    for (int r = 0; r < PV_ROWS; r++)
        for (int c = 0; c < nv; c++)
            acc[r][c] = _mm512_setzero_ps();
    for (int j = 0; j < Tk; j++) {
        const float *vj = v + (int64_t)j * ldv;
        __m512 vv[PV_VECS];
        for (int c = 0; c < nv; c++)
            vv[c] = _mm512_loadu_ps(vj + c * KEYS);
        for (int r = 0; r < PV_ROWS; r++) {
            __m512 pv = _mm512_set1_ps(pr[r][j]);
            for (int c = 0; c < nv; c++)
                acc[r][c] = _mm512_fmadd_ps(pv, vv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < PV_ROWS; r++)
        for (int c = 0; c < nv; c++)
            if (r < rows)
                _mm512_storeu_ps(out + (int64_t)r * ldo + c * KEYS, _mm512_mul_ps(acc[r][c], _mm512_set1_ps(inv[r])));
}

/* The tiles are instantiated for each constant width, so that their accumulators live in registers. */
static AVX512 void output_columns(const float *p, int ldp, int rows, const float *inv, const float *v, int ldv,
                                  int Tk, int hd, float *out, int ldo)
{
    for (int c0 = 0; c0 < hd; c0 += PV_VECS * KEYS) {
        int nv = (hd - c0) / KEYS < PV_VECS ? (hd - c0) / KEYS : PV_VECS;
        switch (nv) {
        case 4:
            output_tile(p, ldp, rows, inv, v + c0, ldv, Tk, 4, out + c0, ldo);
            break;
        case 3:
            output_tile(p, ldp, rows, inv, v + c0, ldv, Tk, 3, out + c0, ldo);
            break;
        case 2:
            output_tile(p, ldp, rows, inv, v + c0, ldv, Tk, 2, out + c0, ldo);
            break;
        default:
            output_tile(p, ldp, rows, inv, v + c0, ldv, Tk, 1, out + c0, ldo);
        }
    }
}

AVX512 void iso_cpu_attention_avx512(const iso_attention_args *a, int h, int i0, int m, int pack, float *scratch)
{
    const int hd = a->head_dim, panels = key_panels(a->Tk), lds = panels * KEYS;
    float *kt = scratch, *vh = kt + (size_t)lds * hd, *s = vh + (size_t)lds * hd, *inv = s + (size_t)ROW_GROUP * lds;
    if (pack)
        pack_head(a, h, kt, vh);
    for (int g0 = 0; g0 < m; g0 += ROW_GROUP) {
        const int rows = m - g0 < ROW_GROUP ? m - g0 : ROW_GROUP;
        const float *q = a->q + (int64_t)(i0 + g0) * a->ldq + (int64_t)h * hd;
        for (int r0 = 0; r0 < rows; r0 += QK_ROWS) {
            const int n = rows - r0 < QK_ROWS ? rows - r0 : QK_ROWS;
            const float *qr = q + (int64_t)r0 * a->ldq;
            float *sr = s + (size_t)r0 * lds;
            int p = 0;
            for (; p + 2 <= panels; p += 2)
                scores_tile(qr, a->ldq, n, kt + (size_t)p * hd * KEYS, hd, 2, a->scale, sr + p * KEYS, lds);
            if (p < panels)
                scores_tile(qr, a->ldq, n, kt + (size_t)p * hd * KEYS, hd, 1, a->scale, sr + p * KEYS, lds);
        }
        for (int r = 0; r < rows; r++)
            inv[r] = iso_k_softmax_exp_row(s + (size_t)r * lds, a->Tk, a->key_bias);
        float *out = a->out + (int64_t)(i0 + g0) * a->ldo + (int64_t)h * hd;
        for (int r0 = 0; r0 < rows; r0 += PV_ROWS)
            output_columns(s + (size_t)r0 * lds, lds, rows - r0 < PV_ROWS ? rows - r0 : PV_ROWS, inv + r0,
                           vh, hd, a->Tk, hd, out + (int64_t)r0 * a->ldo, a->ldo);
    }
}

#else /* no x86-64 vector extensions in this compiler or on this machine: the sgemm path runs */

int iso_cpu_attention_avx512_usable(int head_dim)
{
    (void)head_dim;
    return 0;
}

void iso_cpu_attention_avx512(const iso_attention_args *a, int h, int i0, int m, int pack, float *scratch)
{
    (void)a, (void)h, (void)i0, (void)m, (void)pack, (void)scratch;
}

#endif
