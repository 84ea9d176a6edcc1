/* dwconv.c — depthwise k x k convolution over NHWC with fused bias and activation. */
#include "dispatch_internal.h"
#if CK_X86
#include <immintrin.h>
#endif

void ck_f32_dwconv_nhwc__portable(const ck_conv2d_geom *g, const float *in, const float *w,
                                  const float *bias, ck_act act, float *out) {
    const size_t k = g->kernel, s = g->stride, C = g->channels;
    for (size_t oy = 0; oy < g->out_h; oy++) {
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
/* Output pixels are computed in a channel block at a time; taps outside the image skip. */
#define CK_DW_BODY(VEC, WIDTH, LOAD, STORE, SET1, ZERO, FMA, MAX, MIN)                          \
    const size_t k = g->kernel, s = g->stride, C = g->channels;                                 \
    const size_t cv = C - C % WIDTH;                                                            \
    for (size_t oy = 0; oy < g->out_h; oy++) {                                                  \
        long iy0 = (long)(oy * s) - (long)g->pad_top;                                           \
        size_t ky0 = iy0 < 0 ? (size_t)(-iy0) : 0;                                              \
        size_t ky1 = k;                                                                         \
        if (iy0 + (long)k > (long)g->in_h) ky1 = (size_t)((long)g->in_h - iy0);                 \
        for (size_t ox = 0; ox < g->out_w; ox++) {                                              \
            long ix0 = (long)(ox * s) - (long)g->pad_left;                                      \
            size_t kx0 = ix0 < 0 ? (size_t)(-ix0) : 0;                                          \
            size_t kx1 = k;                                                                     \
            if (ix0 + (long)k > (long)g->in_w) kx1 = (size_t)((long)g->in_w - ix0);             \
            float *o = out + (oy * g->out_w + ox) * C;                                          \
            for (size_t c = 0; c < cv; c += WIDTH) {                                            \
                VEC acc = bias ? LOAD(bias + c) : ZERO();                                       \
                for (size_t ky = ky0; ky < ky1; ky++) {                                         \
                    const float *ip = in + ((size_t)(iy0 + (long)ky) * g->in_w) * C + c;        \
                    const float *wp = w + ky * k * C + c;                                       \
                    for (size_t kx = kx0; kx < kx1; kx++)                                       \
                        acc = FMA(LOAD(ip + (size_t)(ix0 + (long)kx) * C), LOAD(wp + kx * C),   \
                                  acc);                                                         \
                }                                                                               \
                if (act == CK_ACT_RELU6) acc = MIN(MAX(acc, ZERO()), SET1(6.f));                \
                else if (act == CK_ACT_RELU) acc = MAX(acc, ZERO());                            \
                STORE(o + c, acc);                                                              \
                if (act == CK_ACT_SWISH)                                                        \
                    for (size_t j = 0; j < WIDTH; j++) o[c + j] = ck_act_scalar(o[c + j], act); \
            }                                                                                   \
            for (size_t c = cv; c < C; c++) {                                                   \
                float acc = bias ? bias[c] : 0.f;                                               \
                for (size_t ky = ky0; ky < ky1; ky++)                                           \
                    for (size_t kx = kx0; kx < kx1; kx++)                                       \
                        acc += in[((size_t)(iy0 + (long)ky) * g->in_w +                         \
                                   (size_t)(ix0 + (long)kx)) * C + c] *                         \
                               w[(ky * k + kx) * C + c];                                        \
                o[c] = ck_act_scalar(acc, act);                                                 \
            }                                                                                   \
        }                                                                                       \
    }

CK_TARGET_AVX2 void ck_f32_dwconv_nhwc__avx2(const ck_conv2d_geom *g, const float *in,
                                             const float *w, const float *bias, ck_act act,
                                             float *out) {
    CK_DW_BODY(__m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_setzero_ps,
               _mm256_fmadd_ps, _mm256_max_ps, _mm256_min_ps)
}

CK_TARGET_AVX512 void ck_f32_dwconv_nhwc__avx512f(const ck_conv2d_geom *g, const float *in,
                                                  const float *w, const float *bias, ck_act act,
                                                  float *out) {
    CK_DW_BODY(__m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_setzero_ps,
               _mm512_fmadd_ps, _mm512_max_ps, _mm512_min_ps)
}
#else
void ck_f32_dwconv_nhwc__avx2(const ck_conv2d_geom *g, const float *in, const float *w,
                              const float *bias, ck_act act, float *out) {
    ck_f32_dwconv_nhwc__portable(g, in, w, bias, act, out);
}
void ck_f32_dwconv_nhwc__avx512f(const ck_conv2d_geom *g, const float *in, const float *w,
                                 const float *bias, ck_act act, float *out) {
    ck_f32_dwconv_nhwc__portable(g, in, w, bias, act, out);
}
#endif
