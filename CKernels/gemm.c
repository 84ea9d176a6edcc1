/* gemm.c — SGEMM (OpenBLAS) with the fused bias / residual / activation epilogue. */
#include "dispatch_internal.h"
#include <cblas.h>

void ck_f32_gemm_bias_act(size_t m, size_t n, size_t k, const float *a, size_t lda,
                          const float *b, size_t ldb, const float *bias, const float *residual,
                          size_t ldr, float *c, size_t ldc, ck_act act) {
    if (m == 0 || n == 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a,
                (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
    if (bias || residual || act != CK_ACT_NONE)
        ck_f32_bias_act(m, n, c, ldc, bias, residual, ldr, act);
}
