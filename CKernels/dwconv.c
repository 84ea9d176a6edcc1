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
/* Register tiles: P output pixels of one row and one full channel vector. Input-stationary:
 * per kernel row the K weight vectors are loaded, then each of the row's (P - 1) * S + K input
 * columns is loaded once and multiplied into every pixel whose taps cover it, so P accumulators,
 * K weights and one input are live (within AVX2's 16 registers for P <= 8, K <= 5). The first LO
 * and last HI input columns lie outside the image: they are skipped. Always inlined and called
 * with constant LO, HI (the _lh dispatcher below), so each border tile is as unchecked as the
 * interior one; rows[ky] points at input row iy0 + ky (rows of a ring resolved by the caller). */
#define CK_DW_TILE(NAME, TARGET, VEC, LOADU, STOREU, FMA, ACT, K, S, P)                         \
    TARGET __attribute__((always_inline)) static inline void NAME(                                \
        const float *const *rows, size_t C, size_t c, size_t ky0, size_t ky1, long ix0,          \
        const float *w, VEC bv, ck_act act, float *o, int LO, int HI) {                           \
        VEC acc[P];                                                                             \
        _Pragma("unroll") for (int p = 0; p < P; p++) acc[p] = bv;                              \
        for (size_t ky = ky0; ky < ky1; ky++) {                                                 \
            /* The column stride made opaque per row: one running pointer, not N hoisted     \
             * offsets spilling out of the 16 general registers. */                             \
            size_t cs = C;                                                                      \
            __asm__("" : "+r"(cs));                                                             \
            const float *xp = rows[ky] + c + (ix0 + LO) * (long)cs;                             \
            VEC wv[K];                                                                          \
            _Pragma("unroll") for (int kx = 0; kx < K; kx++) wv[kx] = LOADU(w + (ky * K + kx) * C); \
            _Pragma("unroll") for (int j = 0; j < (P - 1) * S + K; j++) {                       \
                if (j < LO || j >= (P - 1) * S + K - HI) continue;                              \
                const VEC x = LOADU(xp);                                                        \
                xp += cs;                                                                       \
                _Pragma("unroll") for (int p = 0; p < P; p++) {                                 \
                    const int kx = j - p * S;                                                   \
                    if (kx >= 0 && kx < K) acc[p] = FMA(x, wv[kx], acc[p]);                     \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
        _Pragma("unroll") for (int p = 0; p < P; p++) STOREU(o + p * C, ACT(acc[p], act));      \
    }                                                                                           \
    /* One instance per (LO, HI) up to the 2 columns of a k5 border; others checked at run time. */ \
    TARGET static void NAME##_lh(const float *const *rows, size_t C, size_t c, size_t ky0,       \
                                 size_t ky1, long ix0, const float *w, VEC bv, ck_act act,       \
                                 float *o, long lo, long hi) {                                   \
        switch (lo <= 2 && hi <= 2 ? lo * 3 + hi : -1) {                                        \
        case 0: NAME(rows, C, c, ky0, ky1, ix0, w, bv, act, o, 0, 0); break;                    \
        case 1: NAME(rows, C, c, ky0, ky1, ix0, w, bv, act, o, 0, 1); break;                    \
        case 2: NAME(rows, C, c, ky0, ky1, ix0, w, bv, act, o, 0, 2); break;                    \
        case 3: NAME(rows, C, c, ky0, ky1, ix0, w, bv, act, o, 1, 0); break;                    \
        case 4: NAME(rows, C, c, ky0, ky1, ix0, w, bv, act, o, 1, 1); break;                    \
        case 5: NAME(rows, C, c, ky0, ky1, ix0, w, bv, act, o, 1, 2); break;                    \
        case 6: NAME(rows, C, c, ky0, ky1, ix0, w, bv, act, o, 2, 0); break;                    \
        case 7: NAME(rows, C, c, ky0, ky1, ix0, w, bv, act, o, 2, 1); break;                    \
        case 8: NAME(rows, C, c, ky0, ky1, ix0, w, bv, act, o, 2, 2); break;                    \
        default: NAME(rows, C, c, ky0, ky1, ix0, w, bv, act, o, (int)lo, (int)hi); break;       \
        }                                                                                       \
    }
/* The tiles of one ISA: kernels 3 and 5, strides 1 and 2, 7 and 8 pixels. */
#define CK_DW_TILES(ISA, TARGET, VEC, LOADU, STOREU, FMA, ACT)                                  \
    CK_DW_TILE(ck_dw_tile_##ISA##_k3s1_p7, TARGET, VEC, LOADU, STOREU, FMA, ACT, 3, 1, 7)       \
    CK_DW_TILE(ck_dw_tile_##ISA##_k3s1_p8, TARGET, VEC, LOADU, STOREU, FMA, ACT, 3, 1, 8)       \
    CK_DW_TILE(ck_dw_tile_##ISA##_k3s2_p7, TARGET, VEC, LOADU, STOREU, FMA, ACT, 3, 2, 7)       \
    CK_DW_TILE(ck_dw_tile_##ISA##_k3s2_p8, TARGET, VEC, LOADU, STOREU, FMA, ACT, 3, 2, 8)       \
    CK_DW_TILE(ck_dw_tile_##ISA##_k5s1_p7, TARGET, VEC, LOADU, STOREU, FMA, ACT, 5, 1, 7)       \
    CK_DW_TILE(ck_dw_tile_##ISA##_k5s1_p8, TARGET, VEC, LOADU, STOREU, FMA, ACT, 5, 1, 8)       \
    CK_DW_TILE(ck_dw_tile_##ISA##_k5s2_p7, TARGET, VEC, LOADU, STOREU, FMA, ACT, 5, 2, 7)       \
    CK_DW_TILE(ck_dw_tile_##ISA##_k5s2_p8, TARGET, VEC, LOADU, STOREU, FMA, ACT, 5, 2, 8)
#define CK_DW_TILE_KMAX 5

/* A whole row by tiles of P pixels (rows of at least P): tile after tile, the last one moved
 * back to end at the row's end (it recomputes a few pixels rather than storing a part), each
 * told how many of its input columns lie outside the image on either side. */
#define CK_DW_ROW_TILES(TILE, P)                                                               \
    if (g->out_w >= P) {                                                                       \
        const long nin = (long)((P - 1) * s + k);                                              \
        for (ox = 0;;) {                                                                       \
            const long ix0 = (long)(ox * s) - (long)g->pad_left;                               \
            TILE(rows, C, c, ky0, ky1, ix0, w + c, bv, act, orow + ox * C + c, ix0 < 0 ? -ix0 : 0, \
                 ix0 + nin > (long)W ? ix0 + nin - (long)W : 0);                               \
            if (ox + P >= g->out_w) break;                                                     \
            ox = ox + 2 * P <= g->out_w ? ox + P : g->out_w - P;                               \
        }                                                                                      \
        ox = g->out_w;                                                                         \
    }
/* Of the two tile widths, the one that computes fewer padded pixels for the row (ties: 8);
 * 7 fits rows of 7, 14, 28, 56 and 112 pixels exactly. */
#define CK_DW_ROW_TILES2(ISA, KK, SS)                                                          \
    if (k == KK && s == SS) {                                                                  \
        if ((g->out_w + 6) / 7 * 7 < (g->out_w + 7) / 8 * 8) {                                 \
            CK_DW_ROW_TILES(ck_dw_tile_##ISA##_k##KK##s##SS##_p7_lh, 7)                        \
        } else {                                                                               \
            CK_DW_ROW_TILES(ck_dw_tile_##ISA##_k##KK##s##SS##_p8_lh, 8)                        \
        }                                                                                      \
    }
#define CK_DW_RUN_TILES(ISA)                                                                   \
    CK_DW_ROW_TILES2(ISA, 3, 1)                                                                \
    else CK_DW_ROW_TILES2(ISA, 3, 2)                                                           \
    else CK_DW_ROW_TILES2(ISA, 5, 1)                                                           \
    else CK_DW_ROW_TILES2(ISA, 5, 2)

/* Per output row: the input rows of its taps resolved once (a ring's modulo not per tile).
 * Full channel vectors of a 3 x 3 or 5 x 5 kernel go by the register tiles (TILES); the rest
 * (the channel tail, other kernels) by the columns whose taps all lie inside the image, four
 * pixels at a time (each weight vector loaded once for the four), and the border columns one
 * at a time with the taps clipped; channels in vectors of WIDTH, the tail with a mask. */
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
        const float *rows[CK_DW_TILE_KMAX] = {0};                                               \
        if (k <= CK_DW_TILE_KMAX)                                                               \
            for (size_t ky = ky0; ky < ky1; ky++) rows[ky] = CK_DW_ROW(iy0 + (long)ky);          \
        float *orow = out + (oy - out_row0) * g->out_w * C;                                     \
        for (size_t c = 0; c < C; c += WIDTH) {                                                 \
            const MASKT mk = MKMASK(C - c);                                                     \
            const int full = C - c >= WIDTH;                                                    \
            (void)full;                                                                         \
            const VEC bv = bias ? MLOAD(mk, bias + c) : SET1(0.f);                              \
            size_t ox = 0;                                                                      \
            if (full) { TILES }                                                                 \
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

CK_DW_TILES(avx2, CK_TARGET_AVX2, __m256, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_fmadd_ps, ck_act8v)

CK_TARGET_AVX2 void ck_f32_dwconv_nhwc__avx2(const ck_conv2d_geom *g, const float *in,
                                             size_t in_ring, const float *w, const float *bias,
                                             ck_act act, float *out, size_t out_row0, size_t oy0,
                                             size_t oy1) {
    CK_DW_BODY(__m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, CK_AVX2_MLOAD, CK_AVX2_MSTORE,
               __m256i, ck_mask8, _mm256_set1_ps, _mm256_fmadd_ps, ck_act8v, CK_DW_RUN_TILES(avx2))
}

CK_TARGET_AVX512 static inline __mmask16 ck_mask16(size_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}
#define CK_AVX512_MLOAD(m, p) _mm512_maskz_loadu_ps((m), (p))
#define CK_AVX512_MSTORE(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))

CK_DW_TILES(avx512, CK_TARGET_AVX512, __m512, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_fmadd_ps, ck_act16v)

CK_TARGET_AVX512 void ck_f32_dwconv_nhwc__avx512f(const ck_conv2d_geom *g, const float *in,
                                                  size_t in_ring, const float *w, const float *bias,
                                                  ck_act act, float *out, size_t out_row0,
                                                  size_t oy0, size_t oy1) {
    CK_DW_BODY(__m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, CK_AVX512_MLOAD, CK_AVX512_MSTORE,
               __mmask16, ck_mask16, _mm512_set1_ps, _mm512_fmadd_ps, ck_act16v,
               CK_DW_RUN_TILES(avx512))
}
#endif
