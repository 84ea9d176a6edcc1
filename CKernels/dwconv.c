/* dwconv.c — depthwise k x k convolution over NHWC with fused bias and activation, a range of
 * output rows at a time so that threads can share one image. */
#include "vmath.h"

void ck_f32_dwconv_nhwc__portable(const ck_conv2d_geom *g, const float *in, const float *w,
                                  const float *bias, ck_act act, float *out, size_t oy0,
                                  size_t oy1) {
    const size_t k = g->kernel, s = g->stride, C = g->channels;
    for (size_t oy = oy0; oy < oy1 && oy < g->out_h; oy++) {
        for (size_t ox = 0; ox < g->out_w; ox++) {
            float *o = out + (oy * g->out_w + ox) * C;
            for (size_t c = 0; c < C; c++) o[c] = bias ? bias[c] : 0.f;
            for (size_t ky = 0; ky < k; ky++) {
                long iy = (long)(oy * s + ky) - (long)g->pad_top;
                if (iy < 0 || iy >= (long)g->in_h) continue;
                for (size_t kx = 0; kx < k; kx++) {
                    long ix = (long)(ox * s + kx) - (long)g->pad_left;
                    if (ix < 0 || ix >= (long)g->in_w) continue;
                    const float *ip = in + ((size_t)iy * g->in_w + (size_t)ix) * C;
                    const float *wp = w + (ky * k + kx) * C;
                    for (size_t c = 0; c < C; c++) o[c] += ip[c] * wp[c];
                }
            }
            for (size_t c = 0; c < C; c++) o[c] = ck_act_scalar(o[c], act);
        }
    }
}

#if CK_X86
/* Per output row: the columns whose taps all lie inside the image are computed four pixels at
 * a time (each weight vector loaded once for the four); border columns one at a time with the
 * taps clipped. Channels go in vectors of WIDTH, the tail with a mask (MASKLOAD / MASKSTORE). */
#define CK_DW_BODY(VEC, WIDTH, LOADU, STOREU, MLOAD, MSTORE, MASKT, MKMASK, SET1, FMA, ACT)       \
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
        float *orow = out + oy * g->out_w * C;                                                  \
        for (size_t c = 0; c < C; c += WIDTH) {                                                 \
            const MASKT mk = MKMASK(C - c);                                                     \
            const int full = C - c >= WIDTH;                                                    \
            (void)full;                                                                         \
            const VEC bv = bias ? MLOAD(mk, bias + c) : SET1(0.f);                              \
            size_t ox = 0;                                                                      \
            for (int pass = 0; pass < 3; pass++) {                                              \
                const size_t end = pass == 0 ? x_lo : pass == 1 ? x_hi : g->out_w;              \
                if (pass == 1) {                                                                \
                    for (; ox + 4 <= end; ox += 4) {                                            \
                        VEC a0 = bv, a1 = bv, a2 = bv, a3 = bv;                                 \
                        const long ix0 = (long)(ox * s) - (long)g->pad_left;                    \
                        for (size_t ky = ky0; ky < ky1; ky++) {                                 \
                            const float *ip = in + ((size_t)(iy0 + (long)ky) * W + (size_t)ix0) * C + c; \
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
                        const float *ip = in + ((size_t)(iy0 + (long)ky) * W) * C + c;          \
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

CK_TARGET_AVX2 void ck_f32_dwconv_nhwc__avx2(const ck_conv2d_geom *g, const float *in,
                                             const float *w, const float *bias, ck_act act,
                                             float *out, size_t oy0, size_t oy1) {
    CK_DW_BODY(__m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, CK_AVX2_MLOAD, CK_AVX2_MSTORE,
               __m256i, ck_mask8, _mm256_set1_ps, _mm256_fmadd_ps, ck_act8v)
}

CK_TARGET_AVX512 static inline __mmask16 ck_mask16(size_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}
#define CK_AVX512_MLOAD(m, p) _mm512_maskz_loadu_ps((m), (p))
#define CK_AVX512_MSTORE(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))

CK_TARGET_AVX512 void ck_f32_dwconv_nhwc__avx512f(const ck_conv2d_geom *g, const float *in,
                                                  const float *w, const float *bias, ck_act act,
                                                  float *out, size_t oy0, size_t oy1) {
    CK_DW_BODY(__m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, CK_AVX512_MLOAD, CK_AVX512_MSTORE,
               __mmask16, ck_mask16, _mm512_set1_ps, _mm512_fmadd_ps, ck_act16v)
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
