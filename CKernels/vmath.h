/* vmath.h — vectorised exp / sigmoid / activations for the kernel epilogues (not public). */
#ifndef CK_VMATH_H
#define CK_VMATH_H
#include "dispatch_internal.h"
#if CK_X86
#include <immintrin.h>

/* exp(x) by range reduction x = n ln2 + r, |r| <= ln2 / 2, and a degree-5 polynomial for e^r
 * (least squares on Chebyshev nodes, weighted for relative error); relative error under 2.5e-7
 * over [-87, 88]. n is rounded by the shifter 1.5 * 2^23 + 127, whose low bits are then
 * n + 127: shifted into the exponent field they are 2^n, without a rounding or conversion
 * (the activation epilogues of short-k GEMMs spent as long in exp as in their FMAs). */
#define CK_EXP_SHIFTER 12583039.0f /* 1.5 * 2^23 + 127 */
#define CK_EXP_C5 8.3338379503e-03f
#define CK_EXP_C4 4.1898577938e-02f
#define CK_EXP_C3 1.6666886383e-01f
#define CK_EXP_C2 4.9999142573e-01f
CK_TARGET_AVX2 static inline __m256 ck_exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    const __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(CK_EXP_SHIFTER));
    const __m256 n = _mm256_sub_ps(t, _mm256_set1_ps(CK_EXP_SHIFTER));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(CK_EXP_C5), r, _mm256_set1_ps(CK_EXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(CK_EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(CK_EXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
    return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23)));
}

/* The same polynomial; AVX-512 rounds and scales by 2^n in one instruction each. */
CK_TARGET_AVX512 static inline __m512 ck_exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(CK_EXP_C5), r, _mm512_set1_ps(CK_EXP_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(CK_EXP_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(CK_EXP_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
    return _mm512_scalef_ps(p, n);
}

/* act(v) for the vector epilogues; the branch is on a loop-invariant argument. */
CK_TARGET_AVX2 static inline __m256 ck_act8v(__m256 v, ck_act act) {
    switch (act) {
    case CK_ACT_RELU6: return _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(6.f));
    case CK_ACT_RELU: return _mm256_max_ps(v, _mm256_setzero_ps());
    case CK_ACT_SWISH:
        return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.f), ck_exp8(_mm256_sub_ps(_mm256_setzero_ps(), v))));
    case CK_ACT_SIGMOID:
        return _mm256_div_ps(_mm256_set1_ps(1.f), _mm256_add_ps(_mm256_set1_ps(1.f), ck_exp8(_mm256_sub_ps(_mm256_setzero_ps(), v))));
    default: return v;
    }
}

CK_TARGET_AVX512 static inline __m512 ck_act16v(__m512 v, ck_act act) {
    switch (act) {
    case CK_ACT_RELU6: return _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps(6.f));
    case CK_ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
    case CK_ACT_SWISH:
        return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.f), ck_exp16(_mm512_sub_ps(_mm512_setzero_ps(), v))));
    case CK_ACT_SIGMOID:
        return _mm512_div_ps(_mm512_set1_ps(1.f), _mm512_add_ps(_mm512_set1_ps(1.f), ck_exp16(_mm512_sub_ps(_mm512_setzero_ps(), v))));
    default: return v;
    }
}
#endif
#endif
