/* pool.c — global average pooling of NHWC feature maps (the pooled levels). */
#include "dispatch_internal.h"
#if CK_X86
#include <immintrin.h>
#endif

void ck_f32_mean_pool_nhwc__portable(size_t hw, size_t channels, const float *in, float *out) {
    for (size_t c = 0; c < channels; c++) out[c] = 0.f;
    for (size_t p = 0; p < hw; p++)
        for (size_t c = 0; c < channels; c++) out[c] += in[p * channels + c];
    const float inv = hw ? 1.f / (float)hw : 0.f;
    for (size_t c = 0; c < channels; c++) out[c] *= inv;
}

#if CK_X86
CK_TARGET_AVX2 void ck_f32_mean_pool_nhwc__avx2(size_t hw, size_t channels, const float *in,
                                                float *out) {
    const float inv = hw ? 1.f / (float)hw : 0.f;
    size_t c = 0;
    for (; c + 8 <= channels; c += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (size_t p = 0; p < hw; p++) acc = _mm256_add_ps(acc, _mm256_loadu_ps(in + p * channels + c));
        _mm256_storeu_ps(out + c, _mm256_mul_ps(acc, _mm256_set1_ps(inv)));
    }
    for (; c < channels; c++) {
        float acc = 0.f;
        for (size_t p = 0; p < hw; p++) acc += in[p * channels + c];
        out[c] = acc * inv;
    }
}

CK_TARGET_AVX512 void ck_f32_mean_pool_nhwc__avx512f(size_t hw, size_t channels, const float *in,
                                                     float *out) {
    const float inv = hw ? 1.f / (float)hw : 0.f;
    size_t c = 0;
    for (; c + 16 <= channels; c += 16) {
        __m512 acc = _mm512_setzero_ps();
        for (size_t p = 0; p < hw; p++) acc = _mm512_add_ps(acc, _mm512_loadu_ps(in + p * channels + c));
        _mm512_storeu_ps(out + c, _mm512_mul_ps(acc, _mm512_set1_ps(inv)));
    }
    for (; c < channels; c++) {
        float acc = 0.f;
        for (size_t p = 0; p < hw; p++) acc += in[p * channels + c];
        out[c] = acc * inv;
    }
}
#else
void ck_f32_mean_pool_nhwc__avx2(size_t hw, size_t channels, const float *in, float *out) {
    ck_f32_mean_pool_nhwc__portable(hw, channels, in, out);
}
void ck_f32_mean_pool_nhwc__avx512f(size_t hw, size_t channels, const float *in, float *out) {
    ck_f32_mean_pool_nhwc__portable(hw, channels, in, out);
}
#endif
