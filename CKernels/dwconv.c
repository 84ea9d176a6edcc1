/* dwconv.c — depthwise k x k convolution over NHWC with fused bias and activation, a range of
 * output rows at a time so that threads can share one image. */
#include "vmath.h"

/* Input row iy: rows of a ring of in_ring rows (iy modulo in_ring), or of the whole image. */
#define CK_DW_ROW(iy) (in + (in_ring ? (size_t)(iy) % in_ring : (size_t)(iy)) * g->in_w * C)

void ck_f32_dwconv_nhwc__portable(const ck_conv2d_geom *g, const float *in, size_t in_ring,
                                  const float *w, const float *bias, ck_act act, float *out,
                                  size_t out_row0, size_t oy0, size_t oy1) {
    const size_t k = g->kernel, s = g->stride, C = g->channels;
    for (size_t oy = oy0; oy < oy1 && oy < g->out_h; oy++) {
        for (size_t ox = 0; ox < g->out_w; ox++) {
            float *o = out + ((oy - out_row0) * g->out_w + ox) * C;
            for (size_t c = 0; c < C; c++) o[c] = bias ? bias[c] : 0.f;
            for (size_t ky = 0; ky < k; ky++) {
                long iy = (long)(oy * s + ky) - (long)g->pad_top;
                if (iy < 0 || iy >= (long)g->in_h) continue;
                for (size_t kx = 0; kx < k; kx++) {
                    long ix = (long)(ox * s + kx) - (long)g->pad_left;
                    if (ix < 0 || ix >= (long)g->in_w) continue;
                    const float *ip = CK_DW_ROW(iy) + (size_t)ix * C;
                    const float *wp = w + (ky * k + kx) * C;
                    for (size_t c = 0; c < C; c++) o[c] += ip[c] * wp[c];
                }
            }
            for (size_t c = 0; c < C; c++) o[c] = ck_act_scalar(o[c], act);
        }
    }
}

#if CK_X86
/* Register-blocked interior tiles: P output pixels of one row and one channel vector; each
 * input row segment the P pixels need ((P - 1) * S + K vectors) is loaded once and reused by
 * all K taps, instead of once per tap and pixel. Specialised for the kernel and stride. */
#define CK_DW_TILE(NAME, TARGET, VEC, MLOAD, MSTORE, MASKT, FMA, ACT, K, S, P)                   \
    TARGET static inline void NAME(const float *in, size_t in_ring, size_t W, size_t C,          \
                                   long iy0, size_t ky0, size_t ky1, long ix0, const float *w,    \
                                   MASKT mk, int full, VEC bv, ck_act act, float *o) {           \
        (void)full;                                                                             \
        VEC acc[P];                                                                             \
        _Pragma("unroll") for (int p = 0; p < P; p++) acc[p] = bv;                              \
        for (size_t ky = ky0; ky < ky1; ky++) {                                                 \
            const size_t iy = (size_t)(iy0 + (long)ky);                                         \
            const float *ip = in + (in_ring ? iy % in_ring : iy) * W * C + (size_t)ix0 * C;     \
            VEC x[(P - 1) * S + K];                                                             \
            _Pragma("unroll") for (int j = 0; j < (P - 1) * S + K; j++) x[j] = MLOAD(mk, ip + j * C); \
            _Pragma("unroll") for (int kx = 0; kx < K; kx++) {                                  \
                const VEC wv = MLOAD(mk, w + (ky * K + kx) * C);                                \
                _Pragma("unroll") for (int p = 0; p < P; p++) acc[p] = FMA(x[p * S + kx], wv, acc[p]); \
            }                                                                                   \
        }                                                                                       \
        _Pragma("unroll") for (int p = 0; p < P; p++) MSTORE(o + p * C, mk, ACT(acc[p], act));  \
    }

/* The same tile for the border and the last columns of a row: input columns outside the image
 * read as zero (checked per column, so nothing outside the row is read), and only the first np
 * of the P pixels are stored. */
#define CK_DW_TILE_EDGE(NAME, TARGET, VEC, MLOAD, MSTORE, MASKT, FMA, ACT, ZERO, K, S, P)           \
    TARGET static inline void NAME(const float *in, size_t in_ring, size_t W, size_t C,          \
                                   long iy0, size_t ky0, size_t ky1, long ix0, const float *w,    \
                                   MASKT mk, int full, VEC bv, ck_act act, float *o, size_t np) { \
        (void)full;                                                                             \
        VEC acc[P];                                                                             \
        _Pragma("unroll") for (int p = 0; p < P; p++) acc[p] = bv;                              \
        for (size_t ky = ky0; ky < ky1; ky++) {                                                 \
            const size_t iy = (size_t)(iy0 + (long)ky);                                         \
            const float *row = in + (in_ring ? iy % in_ring : iy) * W * C;                      \
            VEC x[(P - 1) * S + K];                                                             \
            _Pragma("unroll") for (int j = 0; j < (P - 1) * S + K; j++) {                       \
                const long ix = ix0 + j;                                                        \
                x[j] = ix >= 0 && ix < (long)W ? MLOAD(mk, row + (size_t)ix * C) : ZERO;         \
            }                                                                                   \
            _Pragma("unroll") for (int kx = 0; kx < K; kx++) {                                  \
                const VEC wv = MLOAD(mk, w + (ky * K + kx) * C);                                \
                _Pragma("unroll") for (int p = 0; p < P; p++) acc[p] = FMA(x[p * S + kx], wv, acc[p]); \
            }                                                                                   \
        }                                                                                       \
        _Pragma("unroll") for (int p = 0; p < P; p++)                                           \
            if ((size_t)p < np) MSTORE(o + p * C, mk, ACT(acc[p], act));                        \
    }

/* Per output row: with register tiles for the kernel and stride (k 3 / 5, s 1 / 2), the whole
 * row goes P pixels at a time, interior tiles unchecked and the border and last ones by the edge
 * tile. Otherwise the columns whose taps all lie inside the image are computed four pixels at
 * a time (each weight vector loaded once for the four); border columns one at a time with the
 * taps clipped. Channels go in vectors of WIDTH, the tail with a mask (MASKLOAD / MASKSTORE). */
#define CK_DW_BODY(VEC, WIDTH, LOADU, STOREU, MLOAD, MSTORE, MASKT, MKMASK, SET1, FMA, ACT, TILES) \
    const size_t k = g->kernel, s = g->stride, C = g->channels, W = g->in_w;                   \
    size_t x_lo = (g->pad_left + s - 1) / s, x_hi = 0;                                          \
    if (W + g->pad_left >= k) x_hi = (W + g->pad_left - k) / s + 1;                             \
    if (x_hi > g->out_w) x_hi = g->out_w;                                                       \
    if (x_lo > x_hi) x_lo = x_hi;                                                               \
    for (size_t oy = oy0; oy < oy1 && oy < g->out_h; oy++) {                                    \
        const long iy0 = (long)(oy * s) - (long)g->pad_top;                                     \
        const size_t ky0 = iy0 < 0 ? (size_t)(-iy0) : 0;                                        \
        size_t ky1 = k;                                                                         \
        if (iy0 + (long)k > (long)g->in_h) ky1 = (size_t)((long)g->in_h - iy0);                 \
        float *orow = out + (oy - out_row0) * g->out_w * C;                                     \
        for (size_t c = 0; c < C; c += WIDTH) {                                                 \
            const MASKT mk = MKMASK(C - c);                                                     \
            const int full = C - c >= WIDTH;                                                    \
            (void)full;                                                                         \
            const VEC bv = bias ? MLOAD(mk, bias + c) : SET1(0.f);                              \
            size_t ox = 0;                                                                      \
            TILES                                                                               \
            for (int pass = 0; pass < 3; pass++) {                                              \
                const size_t end = pass == 0 ? x_lo : pass == 1 ? x_hi : g->out_w;              \
                if (pass == 1) {                                                                \
                    for (; ox + 4 <= end; ox += 4) {                                            \
                        VEC a0 = bv, a1 = bv, a2 = bv, a3 = bv;                                 \
                        const long ix0 = (long)(ox * s) - (long)g->pad_left;                    \
                        for (size_t ky = ky0; ky < ky1; ky++) {                                 \
                            const float *ip = CK_DW_ROW(iy0 + (long)ky) + (size_t)ix0 * C + c; \
                            const float *wp = w + ky * k * C + c;                               \
                            for (size_t kx = 0; kx < k; kx++) {                                 \
                                const VEC wv = MLOAD(mk, wp + kx * C);                          \
                                const float *p = ip + kx * C;                                   \
                                a0 = FMA(MLOAD(mk, p), wv, a0);                                 \
                                a1 = FMA(MLOAD(mk, p + s * C), wv, a1);                         \
                                a2 = FMA(MLOAD(mk, p + 2 * s * C), wv, a2);                     \
                                a3 = FMA(MLOAD(mk, p + 3 * s * C), wv, a3);                     \
                            }                                                                   \
                        }                                                                       \
                        MSTORE(orow + ox * C + c, mk, ACT(a0, act));                            \
                        MSTORE(orow + (ox + 1) * C + c, mk, ACT(a1, act));                      \
                        MSTORE(orow + (ox + 2) * C + c, mk, ACT(a2, act));                      \
                        MSTORE(orow + (ox + 3) * C + c, mk, ACT(a3, act));                      \
                    }                                                                           \
                }                                                                               \
                for (; ox < end; ox++) {                                                        \
                    const long ix0 = (long)(ox * s) - (long)g->pad_left;                        \
                    const size_t kx0 = ix0 < 0 ? (size_t)(-ix0) : 0;                            \
                    size_t kx1 = k;                                                             \
                    if (ix0 + (long)k > (long)W) kx1 = (size_t)((long)W - ix0);                 \
                    VEC acc = bv;                                                               \
                    for (size_t ky = ky0; ky < ky1; ky++) {                                     \
                        const float *ip = CK_DW_ROW(iy0 + (long)ky) + c;                        \
                        const float *wp = w + ky * k * C + c;                                   \
                        for (size_t kx = kx0; kx < kx1; kx++)                                   \
                            acc = FMA(MLOAD(mk, ip + (size_t)(ix0 + (long)kx) * C),             \
                                      MLOAD(mk, wp + kx * C), acc);                             \
                    }                                                                           \
                    MSTORE(orow + ox * C + c, mk, ACT(acc, act));                               \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

CK_TARGET_AVX2 static inline __m256i ck_mask8(size_t left) {
    const int n = left >= 8 ? 8 : (int)left;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
/* Masked moves only on the channel tail: AVX2's masked store is slow on some cores. */
#define CK_AVX2_MLOAD(m, p) (full ? _mm256_loadu_ps(p) : _mm256_maskload_ps((p), (m)))
#define CK_AVX2_MSTORE(p, m, v)                                                                \
    do {                                                                                       \
        if (full) _mm256_storeu_ps((p), (v));                                                  \
        else _mm256_maskstore_ps((p), (m), (v));                                               \
    } while (0)

#define CK_DW_TILES_AVX2(K, S, P)                                                                          \
    CK_DW_TILE(ck_dw_tile_avx2_k##K##s##S##_p##P, CK_TARGET_AVX2, __m256, CK_AVX2_MLOAD, CK_AVX2_MSTORE_FN,  \
               __m256i, _mm256_fmadd_ps, ck_act8v, K, S, P)                                              \
    CK_DW_TILE_EDGE(ck_dw_edge_avx2_k##K##s##S##_p##P, CK_TARGET_AVX2, __m256, CK_AVX2_MLOAD, CK_AVX2_MSTORE_FN, \
                    __m256i, _mm256_fmadd_ps, ck_act8v, _mm256_setzero_ps(), K, S, P)
#define CK_AVX2_MSTORE_FN(p, m, v) CK_AVX2_MSTORE(p, m, v)
/* Pixels per tile within AVX2's 16 registers (P accumulators, (P - 1) * S + K inputs; the
 * weight can be the FMA's memory operand), two widths where rows of 7 or 14 pixels need them. */
CK_DW_TILES_AVX2(3, 1, 4)
CK_DW_TILES_AVX2(3, 1, 7)
CK_DW_TILES_AVX2(3, 2, 4)
CK_DW_TILES_AVX2(5, 1, 4)
CK_DW_TILES_AVX2(5, 2, 4)
/* A whole row by tiles of P pixels: unchecked where every tap is inside (x_lo <= ox,
 * ox + P <= x_hi), the edge tile elsewhere. */
#define CK_DW_ROW_TILES(PFX, EPFX, P)                                                          \
    for (; ox < g->out_w; ox += P) {                                                           \
        const long ix0 = (long)(ox * s) - (long)g->pad_left;                                   \
        const size_t np = g->out_w - ox < P ? g->out_w - ox : P;                               \
        if (np == P && ox >= x_lo && ox + P <= x_hi)                                           \
            PFX(in + c, in_ring, W, C, iy0, ky0, ky1, ix0, w + c, mk, full, bv, act, orow + ox * C + c); \
        else                                                                                   \
            EPFX(in + c, in_ring, W, C, iy0, ky0, ky1, ix0, w + c, mk, full, bv, act, orow + ox * C + c, np); \
    }                                                                                          \
    ox = g->out_w;
/* Of two tile widths, the one that computes fewer padded pixels for the row (ties: PB). */
#define CK_DW_ROW_TILES2(ISA, KK, SS, PA, PB)                                                  \
    if (k == KK && s == SS) {                                                                  \
        const size_t wa = (g->out_w + PA - 1) / PA * PA, wb = (g->out_w + PB - 1) / PB * PB;   \
        if (wa < wb) { CK_DW_ROW_TILES(ck_dw_tile_##ISA##_k##KK##s##SS##_p##PA, ck_dw_edge_##ISA##_k##KK##s##SS##_p##PA, PA) } \
        else { CK_DW_ROW_TILES(ck_dw_tile_##ISA##_k##KK##s##SS##_p##PB, ck_dw_edge_##ISA##_k##KK##s##SS##_p##PB, PB) } \
    }
#define CK_DW_ROW_TILES1(ISA, KK, SS, P)                                                       \
    if (k == KK && s == SS) { CK_DW_ROW_TILES(ck_dw_tile_##ISA##_k##KK##s##SS##_p##P, ck_dw_edge_##ISA##_k##KK##s##SS##_p##P, P) }
#define CK_DW_RUN_TILES_AVX2                                                                   \
    CK_DW_ROW_TILES2(avx2, 3, 1, 4, 7)                                                         \
    else CK_DW_ROW_TILES1(avx2, 3, 2, 4)                                                       \
    else CK_DW_ROW_TILES1(avx2, 5, 1, 4)                                                       \
    else CK_DW_ROW_TILES1(avx2, 5, 2, 4)

CK_TARGET_AVX2 void ck_f32_dwconv_nhwc__avx2(const ck_conv2d_geom *g, const float *in,
                                             size_t in_ring, const float *w, const float *bias,
                                             ck_act act, float *out, size_t out_row0, size_t oy0,
                                             size_t oy1) {
#define MASKT_T __m256i
#define VEC_T __m256
    CK_DW_BODY(__m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, CK_AVX2_MLOAD, CK_AVX2_MSTORE,
               __m256i, ck_mask8, _mm256_set1_ps, _mm256_fmadd_ps, ck_act8v, CK_DW_RUN_TILES_AVX2)
#undef MASKT_T
#undef VEC_T
}

CK_TARGET_AVX512 static inline __mmask16 ck_mask16(size_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}
#define CK_AVX512_MLOAD(m, p) _mm512_maskz_loadu_ps((m), (p))
#define CK_AVX512_MSTORE(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))

#define CK_DW_TILES_AVX512(K, S, P)                                                                           \
    CK_DW_TILE(ck_dw_tile_avx512_k##K##s##S##_p##P, CK_TARGET_AVX512, __m512, CK_AVX512_MLOAD, CK_AVX512_MSTORE, \
               __mmask16, _mm512_fmadd_ps, ck_act16v, K, S, P)                                              \
    CK_DW_TILE_EDGE(ck_dw_edge_avx512_k##K##s##S##_p##P, CK_TARGET_AVX512, __m512, CK_AVX512_MLOAD, CK_AVX512_MSTORE, \
                    __mmask16, _mm512_fmadd_ps, ck_act16v, _mm512_setzero_ps(), K, S, P)
/* Pixels per tile within AVX-512's 32 registers: 8, or 7 for rows of 7, 14, 28 or 56. */
CK_DW_TILES_AVX512(3, 1, 7)
CK_DW_TILES_AVX512(3, 1, 8)
CK_DW_TILES_AVX512(3, 2, 7)
CK_DW_TILES_AVX512(3, 2, 8)
CK_DW_TILES_AVX512(5, 1, 7)
CK_DW_TILES_AVX512(5, 1, 8)
CK_DW_TILES_AVX512(5, 2, 7)
CK_DW_TILES_AVX512(5, 2, 8)
#define CK_DW_RUN_TILES_AVX512                                                                 \
    CK_DW_ROW_TILES2(avx512, 3, 1, 7, 8)                                                       \
    else CK_DW_ROW_TILES2(avx512, 3, 2, 7, 8)                                                  \
    else CK_DW_ROW_TILES2(avx512, 5, 1, 7, 8)                                                  \
    else CK_DW_ROW_TILES2(avx512, 5, 2, 7, 8)

CK_TARGET_AVX512 void ck_f32_dwconv_nhwc__avx512f(const ck_conv2d_geom *g, const float *in,
                                                  size_t in_ring, const float *w, const float *bias,
                                                  ck_act act, float *out, size_t out_row0,
                                                  size_t oy0, size_t oy1) {
#define MASKT_T __mmask16
#define VEC_T __m512
    CK_DW_BODY(__m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, CK_AVX512_MLOAD, CK_AVX512_MSTORE,
               __mmask16, ck_mask16, _mm512_set1_ps, _mm512_fmadd_ps, ck_act16v,
               CK_DW_RUN_TILES_AVX512)
#undef MASKT_T
#undef VEC_T
}
#endif

/* The registered depthwise kernels, one line each (the twin tests iterate them). */
static const ck_dwconv_ukernel ck_dwconv_ukernels[] = {
    {CK_ISA_PORTABLE, ck_f32_dwconv_nhwc__portable, "ck_f32_dwconv_nhwc__portable"},
#if CK_X86
    {CK_ISA_AVX2, ck_f32_dwconv_nhwc__avx2, "ck_f32_dwconv_nhwc__avx2"},
    {CK_ISA_AVX512, ck_f32_dwconv_nhwc__avx512f, "ck_f32_dwconv_nhwc__avx512f"},
#endif
};

size_t ck_dwconv_ukernel_count(void) { return sizeof ck_dwconv_ukernels / sizeof ck_dwconv_ukernels[0]; }

const ck_dwconv_ukernel *ck_dwconv_ukernel_at(size_t i) {
    return i < ck_dwconv_ukernel_count() ? &ck_dwconv_ukernels[i] : NULL;
}

ck_dwconv_fn ck_dwconv_best(ck_isa isa) {
    const ck_dwconv_ukernel *best = &ck_dwconv_ukernels[0];
    for (size_t i = 1; i < ck_dwconv_ukernel_count(); i++)
        if (ck_dwconv_ukernels[i].isa <= isa && ck_dwconv_ukernels[i].isa > best->isa) best = &ck_dwconv_ukernels[i];
    return best->fn;
}
