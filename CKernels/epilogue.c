/* epilogue.c — bias + residual + activation applied in place after a GEMM. */
#include "dispatch_internal.h"
#if CK_X86
#include <immintrin.h>
#endif

void ck_f32_bias_act__portable(size_t rows, size_t cols, float *c, size_t ldc, const float *bias,
                               const float *residual, size_t ldr, ck_act act) {
    for (size_t i = 0; i < rows; i++) {
        float *ci = c + i * ldc;
        const float *ri = residual ? residual + i * ldr : NULL;
        for (size_t j = 0; j < cols; j++) {
            float v = ci[j];
            if (bias) v += bias[j];
            if (ri) v += ri[j];
            ci[j] = ck_act_scalar(v, act);
        }
    }
}

#if CK_X86
/* The vector activations; SWISH goes through the scalar tail (only B* networks use it). */
CK_TARGET_AVX2 static inline __m256 ck_act8(__m256 v, ck_act act) {
    if (act == CK_ACT_RELU6)
        return _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(6.f));
    if (act == CK_ACT_RELU) return _mm256_max_ps(v, _mm256_setzero_ps());
    return v;
}

CK_TARGET_AVX2 void ck_f32_bias_act__avx2(size_t rows, size_t cols, float *c, size_t ldc,
                                          const float *bias, const float *residual, size_t ldr,
                                          ck_act act) {
    if (act == CK_ACT_SWISH) {
        ck_f32_bias_act__portable(rows, cols, c, ldc, bias, residual, ldr, act);
        return;
    }
    for (size_t i = 0; i < rows; i++) {
        float *ci = c + i * ldc;
        const float *ri = residual ? residual + i * ldr : NULL;
        size_t j = 0;
        for (; j + 8 <= cols; j += 8) {
            __m256 v = _mm256_loadu_ps(ci + j);
            if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
            if (ri) v = _mm256_add_ps(v, _mm256_loadu_ps(ri + j));
            _mm256_storeu_ps(ci + j, ck_act8(v, act));
        }
        for (; j < cols; j++) {
            float v = ci[j];
            if (bias) v += bias[j];
            if (ri) v += ri[j];
            ci[j] = ck_act_scalar(v, act);
        }
    }
}

CK_TARGET_AVX512 static inline __m512 ck_act16(__m512 v, ck_act act) {
    if (act == CK_ACT_RELU6)
        return _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps(6.f));
    if (act == CK_ACT_RELU) return _mm512_max_ps(v, _mm512_setzero_ps());
    return v;
}

CK_TARGET_AVX512 void ck_f32_bias_act__avx512f(size_t rows, size_t cols, float *c, size_t ldc,
                                               const float *bias, const float *residual,
                                               size_t ldr, ck_act act) {
    if (act == CK_ACT_SWISH) {
        ck_f32_bias_act__portable(rows, cols, c, ldc, bias, residual, ldr, act);
        return;
    }
    for (size_t i = 0; i < rows; i++) {
        float *ci = c + i * ldc;
        const float *ri = residual ? residual + i * ldr : NULL;
        size_t j = 0;
        for (; j + 16 <= cols; j += 16) {
            __m512 v = _mm512_loadu_ps(ci + j);
            if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias + j));
            if (ri) v = _mm512_add_ps(v, _mm512_loadu_ps(ri + j));
            _mm512_storeu_ps(ci + j, ck_act16(v, act));
        }
        if (j < cols) {
            __mmask16 m = (__mmask16)((1u << (cols - j)) - 1u);
            __m512 v = _mm512_maskz_loadu_ps(m, ci + j);
            if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + j));
            if (ri) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, ri + j));
            _mm512_mask_storeu_ps(ci + j, m, ck_act16(v, act));
        }
    }
}
#else
void ck_f32_bias_act__avx2(size_t rows, size_t cols, float *c, size_t ldc, const float *bias,
                           const float *residual, size_t ldr, ck_act act) {
    ck_f32_bias_act__portable(rows, cols, c, ldc, bias, residual, ldr, act);
}
void ck_f32_bias_act__avx512f(size_t rows, size_t cols, float *c, size_t ldc, const float *bias,
                              const float *residual, size_t ldr, ck_act act) {
    ck_f32_bias_act__portable(rows, cols, c, ldc, bias, residual, ldr, act);
}
#endif
