/* The attention tiles for one instruction set: included by attention_tiles.c once per set, after it defines
 *   ISA          the target attribute's string ("avx512f", "avx2,fma")
 *   V, LANES     the float vector type and its width; a key panel is LANES keys
 *   V_ZERO, V_LOAD, V_STORE, V_SET1, V_FMA, V_MUL   its intrinsics
 *   QK_ROWS      query rows of a scores tile (x 2 vectors of keys)
 *   PV_ROWS, PV_VECS   query rows x vectors of output columns of an output tile
 *   TILES(name)  the name of this set's copy of a function
 * QK_ROWS x 2 and PV_ROWS x PV_VECS accumulators, plus the operands, fit the set's vector registers (16 ymm, 32
 * zmm). ROW_GROUP is a multiple of both row counts. Nothing here depends on the width for its arithmetic order.
 * The parameters are undefined at the end, ready for the next set's. */

#define TARGET __attribute__((target(ISA)))
#define KEY_CHUNK_FLOATS 32768
#define TILE static inline __attribute__((always_inline)) TARGET

static int TILES(key_panels)(int Tk) { return (Tk + LANES - 1) / LANES; }

/* kt[p][d][l] = key LANES p + l of head h at dim d, zero for keys past Tk; vh = the head's values, Tk x hd. The
 * heads' rows are a model width apart (often 4 KiB): read in place, the values of one head fall into a few cache
 * sets and evict each other, which took p v to a third of its speed. */
static TARGET void TILES(pack_head)(const iso_attention_args *a, int h, float *kt, float *vh)
{
    const int hd = a->head_dim;
    for (int j = 0; j < a->Tk; j++)
        memcpy(vh + (size_t)j * hd, a->v + (int64_t)j * a->ldv + (int64_t)h * hd, (size_t)hd * sizeof *vh);
    for (int p = 0; p < TILES(key_panels)(a->Tk); p++)
        for (int l = 0; l < LANES; l++) {
            int key = p * LANES + l;
            const float *src = a->k + (int64_t)key * a->ldk + (int64_t)h * hd;
            float *dst = kt + (size_t)p * hd * LANES + l;
            for (int d = 0; d < hd; d++)
                dst[(size_t)d * LANES] = key < a->Tk ? src[d] : 0.0f;
        }
}

/* s[r][0, LANES nk) = scale * q_r . keys of nk panels from kt, for rows r < rows (at most QK_ROWS; the missing
 * rows repeat the last one and are not stored). */
TILE void TILES(scores_tile)(const float *q, int ldq, int rows, const float *kt, int hd, int nk, float scale,
                             float *s, int lds)
{
    const float *qr[QK_ROWS];
    for (int r = 0; r < QK_ROWS; r++)
        qr[r] = q + (int64_t)(r < rows ? r : rows - 1) * ldq;
    V acc[QK_ROWS][2];
    for (int r = 0; r < QK_ROWS; r++)
        acc[r][0] = acc[r][1] = V_ZERO();
    const float *k1 = kt + (size_t)hd * LANES;
    for (int d = 0; d < hd; d++) {
        V k0v = V_LOAD(kt + (size_t)d * LANES);
        V k1v = nk > 1 ? V_LOAD(k1 + (size_t)d * LANES) : k0v;
        for (int r = 0; r < QK_ROWS; r++) {
            V qv = V_SET1(qr[r][d]);
            acc[r][0] = V_FMA(qv, k0v, acc[r][0]);
            if (nk > 1)
                acc[r][1] = V_FMA(qv, k1v, acc[r][1]);
        }
    }
    const V sv = V_SET1(scale);
    for (int r = 0; r < QK_ROWS; r++) /* all rows, tested inside: a constant index keeps acc in registers */
        for (int c = 0; c < nk; c++)
            if (r < rows)
                V_STORE(s + (int64_t)r * lds + c * LANES, V_MUL(acc[r][c], sv));
}

/* out[r][0, LANES nv) = inv[r] * sum_j p[r][j] v[j][0, LANES nv) for rows r < rows (at most PV_ROWS, as
 * scores_tile): one FMA chain per block of ISO_CPU_ATTENTION_KEY_BLOCK keys, the blocks' sums added in double
 * where there are several (a single float chain over a million keys would lose 1e-5 of the output). */
TILE void TILES(output_tile)(const float *p, int ldp, int rows, const float *inv, const float *v, int ldv, int Tk,
                             int nv, float *out, int ldo)
{
    const float *pr[PV_ROWS];
    for (int r = 0; r < PV_ROWS; r++)
        pr[r] = p + (int64_t)(r < rows ? r : rows - 1) * ldp;
    V acc[PV_ROWS][PV_VECS];
    double sum[PV_ROWS][PV_VECS * LANES];
    for (int j0 = 0; j0 < Tk; j0 += ISO_CPU_ATTENTION_KEY_BLOCK) {
        const int j1 = Tk - j0 < ISO_CPU_ATTENTION_KEY_BLOCK ? Tk : j0 + ISO_CPU_ATTENTION_KEY_BLOCK;
        for (int r = 0; r < PV_ROWS; r++)
            for (int c = 0; c < nv; c++)
                acc[r][c] = V_ZERO();
        for (int j = j0; j < j1; j++) {
            const float *vj = v + (int64_t)j * ldv;
            V vv[PV_VECS];
            for (int c = 0; c < nv; c++)
                vv[c] = V_LOAD(vj + c * LANES);
            for (int r = 0; r < PV_ROWS; r++) {
                V pv = V_SET1(pr[r][j]);
                for (int c = 0; c < nv; c++)
                    acc[r][c] = V_FMA(pv, vv[c], acc[r][c]);
            }
        }
        if (Tk > ISO_CPU_ATTENTION_KEY_BLOCK)
            for (int r = 0; r < PV_ROWS; r++)
                for (int c = 0; c < nv; c++) {
                    float part[LANES];
                    V_STORE(part, acc[r][c]);
                    for (int l = 0; l < LANES; l++)
                        sum[r][c * LANES + l] = (j0 ? sum[r][c * LANES + l] : 0.0) + part[l];
                }
    }
    for (int r = 0; r < PV_ROWS; r++)
        for (int c = 0; c < nv; c++)
            if (r < rows) {
                float *o = out + (int64_t)r * ldo + c * LANES;
                if (Tk <= ISO_CPU_ATTENTION_KEY_BLOCK)
                    V_STORE(o, V_MUL(acc[r][c], V_SET1(inv[r])));
                else
                    for (int l = 0; l < LANES; l++)
                        o[l] = (float)sum[r][c * LANES + l] * inv[r];
            }
}

/* out[r] for the rows r < rows of a row group, from their probabilities p: a block of columns at a time, all rows
 * of the group in tiles, so that the block's values (Tk x 64 at most) are read from L1 or L2 by every tile rather
 * than a head's values (Tk x hd, larger than L2 for the fusion's heads of 384) each time from L3. The tile is
 * instantiated for each constant number of vectors, so that its accumulators live in registers. */
static TARGET void TILES(output_rows)(const float *p, int ldp, int rows, const float *inv, const float *v, int ldv,
                                     int Tk, int hd, float *out, int ldo)
{
#define OUTPUT_TILES(nv)                                                                                             \
    for (int r0 = 0; r0 < rows; r0 += PV_ROWS)                                                                       \
        TILES(output_tile)(p + (int64_t)r0 * ldp, ldp, rows - r0 < PV_ROWS ? rows - r0 : PV_ROWS, inv + r0, v + c0,   \
                           ldv, Tk, nv, out + (int64_t)r0 * ldo + c0, ldo)
    for (int c0 = 0; c0 < hd; c0 += PV_VECS * LANES) {
        switch ((hd - c0) / LANES < PV_VECS ? (hd - c0) / LANES : PV_VECS) {
#if PV_VECS >= 4
        case 4:
            OUTPUT_TILES(4);
            break;
        case 3:
            OUTPUT_TILES(3);
            break;
#endif
        case 2:
            OUTPUT_TILES(2);
            break;
        default:
            OUTPUT_TILES(1);
        }
    }
#undef OUTPUT_TILES
}

static TARGET void TILES(attention)(const iso_attention_args *a, int h, int i0, int m, int pack, float *scratch)
{
    const int hd = a->head_dim, panels = TILES(key_panels)(a->Tk), lds = panels * LANES;
    /* the row group's scores are made a chunk of key panels at a time, the chunk's keys (at most 128 KiB, an even
     * number of panels) read from L2 by every tile of rows rather than from L3 where a head's keys are larger */
    const int chunk = KEY_CHUNK_FLOATS / (hd * 2 * LANES) > 0 ? KEY_CHUNK_FLOATS / (hd * 2 * LANES) * 2 : 2;
    float *kt = scratch, *vh = kt + (size_t)lds * hd, *s = vh + (size_t)lds * hd, *inv = s + (size_t)ROW_GROUP * lds;
    if (pack)
        TILES(pack_head)(a, h, kt, vh);
    for (int g0 = 0; g0 < m; g0 += ROW_GROUP) {
        const int rows = m - g0 < ROW_GROUP ? m - g0 : ROW_GROUP;
        const float *q = a->q + (int64_t)(i0 + g0) * a->ldq + (int64_t)h * hd;
        for (int c0 = 0; c0 < panels; c0 += chunk) {
            const int c1 = panels - c0 < chunk ? panels : c0 + chunk;
            for (int r0 = 0; r0 < rows; r0 += QK_ROWS) {
                const int n = rows - r0 < QK_ROWS ? rows - r0 : QK_ROWS;
                const float *qr = q + (int64_t)r0 * a->ldq;
                float *sr = s + (size_t)r0 * lds;
                int p = c0;
                for (; p + 2 <= c1; p += 2)
                    TILES(scores_tile)(qr, a->ldq, n, kt + (size_t)p * hd * LANES, hd, 2, a->scale, sr + p * LANES,
                                       lds);
                if (p < c1)
                    TILES(scores_tile)(qr, a->ldq, n, kt + (size_t)p * hd * LANES, hd, 1, a->scale, sr + p * LANES,
                                       lds);
            }
        }
        for (int r = 0; r < rows; r++)
            inv[r] = iso_k_softmax_exp_row(s + (size_t)r * lds, a->Tk, a->key_bias);
        float *out = a->out + (int64_t)(i0 + g0) * a->ldo + (int64_t)h * hd;
        TILES(output_rows)(s, lds, rows, inv, vh, hd, a->Tk, hd, out, a->ldo);
    }
}

#undef TARGET
#undef TILE
#undef KEY_CHUNK_FLOATS
#undef ISA
#undef V
#undef LANES
#undef V_ZERO
#undef V_LOAD
#undef V_STORE
#undef V_SET1
#undef V_FMA
#undef V_MUL
#undef QK_ROWS
#undef PV_ROWS
#undef PV_VECS
#undef TILES
