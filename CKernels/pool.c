/* pool.c — global average pooling of NHWC feature maps (the pooled levels). */
#include "dispatch_internal.h"
#if CK_X86
#include <immintrin.h>
#endif

void ck_f32_mean_pool_nhwc__portable(size_t hw, size_t channels, size_t ld, const float *in, float *out) {
    for (size_t c = 0; c < channels; c++) out[c] = 0.f;
    for (size_t p = 0; p < hw; p++)
        for (size_t c = 0; c < channels; c++) out[c] += in[p * ld + c];
    const float inv = hw ? 1.f / (float)hw : 0.f;
    for (size_t c = 0; c < channels; c++) out[c] *= inv;
}

#if CK_X86
/* Four channel vectors at a time: four independent chains of adds hide the add latency. */
#define CK_MEAN_POOL_BODY(VEC, W, ZERO, LOAD, ADD, STORE, MUL, SET1)                             \
    const float inv = hw ? 1.f / (float)hw : 0.f;                                              \
    size_t c = 0;                                                                              \
    for (; c + 4 * W <= channels; c += 4 * W) {                                                \
        VEC a0 = ZERO, a1 = ZERO, a2 = ZERO, a3 = ZERO;                                        \
        for (size_t p = 0; p < hw; p++) {                                                      \
            const float *q = in + p * ld + c;                                                  \
            a0 = ADD(a0, LOAD(q));                                                             \
            a1 = ADD(a1, LOAD(q + W));                                                         \
            a2 = ADD(a2, LOAD(q + 2 * W));                                                     \
            a3 = ADD(a3, LOAD(q + 3 * W));                                                     \
        }                                                                                      \
        STORE(out + c, MUL(a0, SET1(inv)));                                                    \
        STORE(out + c + W, MUL(a1, SET1(inv)));                                                \
        STORE(out + c + 2 * W, MUL(a2, SET1(inv)));                                            \
        STORE(out + c + 3 * W, MUL(a3, SET1(inv)));                                            \
    }                                                                                          \
    for (; c + W <= channels; c += W) {                                                        \
        VEC acc = ZERO;                                                                        \
        for (size_t p = 0; p < hw; p++) acc = ADD(acc, LOAD(in + p * ld + c));                 \
        STORE(out + c, MUL(acc, SET1(inv)));                                                   \
    }                                                                                          \
    for (; c < channels; c++) {                                                                \
        float acc = 0.f;                                                                       \
        for (size_t p = 0; p < hw; p++) acc += in[p * ld + c];                                 \
        out[c] = acc * inv;                                                                    \
    }

CK_TARGET_AVX2 void ck_f32_mean_pool_nhwc__avx2(size_t hw, size_t channels, size_t ld, const float *in,
                                                float *out) {
    CK_MEAN_POOL_BODY(__m256, 8, _mm256_setzero_ps(), _mm256_loadu_ps, _mm256_add_ps, _mm256_storeu_ps,
                      _mm256_mul_ps, _mm256_set1_ps)
}

CK_TARGET_AVX512 void ck_f32_mean_pool_nhwc__avx512f(size_t hw, size_t channels, size_t ld, const float *in,
                                                     float *out) {
    CK_MEAN_POOL_BODY(__m512, 16, _mm512_setzero_ps(), _mm512_loadu_ps, _mm512_add_ps, _mm512_storeu_ps,
                      _mm512_mul_ps, _mm512_set1_ps)
}
#else
void ck_f32_mean_pool_nhwc__avx2(size_t hw, size_t channels, size_t ld, const float *in, float *out) {
    ck_f32_mean_pool_nhwc__portable(hw, channels, ld, in, out);
}
void ck_f32_mean_pool_nhwc__avx512f(size_t hw, size_t channels, size_t ld, const float *in, float *out) {
    ck_f32_mean_pool_nhwc__portable(hw, channels, ld, in, out);
}
#endif

void ck_f32_pool2d_nhwc(const ck_conv2d_geom *g, int max, const float *in, float *out, size_t oy0,
                        size_t oy1) {
    const size_t k = g->kernel, s = g->stride, C = g->channels;
    for (size_t oy = oy0; oy < oy1 && oy < g->out_h; oy++)
        for (size_t ox = 0; ox < g->out_w; ox++) {
            float *o = out + (oy * g->out_w + ox) * C;
            size_t taps = 0;
            for (size_t c = 0; c < C; c++) o[c] = max ? -__builtin_inff() : 0.f;
            for (size_t ky = 0; ky < k; ky++) {
                long iy = (long)(oy * s + ky) - (long)g->pad_top;
                if (iy < 0 || iy >= (long)g->in_h) continue;
                for (size_t kx = 0; kx < k; kx++) {
                    long ix = (long)(ox * s + kx) - (long)g->pad_left;
                    if (ix < 0 || ix >= (long)g->in_w) continue;
                    const float *ip = in + ((size_t)iy * g->in_w + (size_t)ix) * C;
                    taps++;
                    if (max)
                        for (size_t c = 0; c < C; c++) o[c] = ip[c] > o[c] ? ip[c] : o[c];
                    else
                        for (size_t c = 0; c < C; c++) o[c] += ip[c];
                }
            }
            if (!max && taps)
                for (size_t c = 0; c < C; c++) o[c] /= (float)taps;
        }
}

/* Squeeze-excitation's gate: one body compiled per ISA (the loop vectorises to each). */
static inline __attribute__((always_inline)) void scale_channels(size_t rows, size_t channels, const float *in,
                                                                 const float *scale, float *out) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < channels; c++) out[r * channels + c] = in[r * channels + c] * scale[c];
}

void ck_f32_scale_channels__portable(size_t rows, size_t channels, const float *in, const float *scale, float *out) {
    scale_channels(rows, channels, in, scale, out);
}
#if CK_X86
CK_TARGET_AVX2 void ck_f32_scale_channels__avx2(size_t rows, size_t channels, const float *in, const float *scale,
                                                float *out) {
    scale_channels(rows, channels, in, scale, out);
}
CK_TARGET_AVX512 void ck_f32_scale_channels__avx512f(size_t rows, size_t channels, const float *in, const float *scale,
                                                     float *out) {
    scale_channels(rows, channels, in, scale, out);
}
#endif

void ck_f32_add_act(size_t count, const float *a, const float *b, float *out, ck_act act) {
    for (size_t i = 0; i < count; i++) out[i] = ck_act_scalar(a[i] + b[i], act);
}
