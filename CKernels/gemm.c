/* gemm.c — SGEMM (OpenBLAS) with the fused bias / residual / activation epilogue. */
#include "dispatch_internal.h"
#include <cblas.h>

void ck_f32_gemm_bias_act(size_t m, size_t n, size_t k, const float *a, size_t lda,
                          const float *b, size_t ldb, const float *bias, const float *residual,
                          size_t ldr, float *c, size_t ldc, ck_act act) {
    if (m == 0 || n == 0) return;
    /* Preload c with the bias (and residual) so SGEMM accumulates with beta = 1: OpenBLAS then
     * skips its separate pass that zeroes c, and the epilogue only applies the activation. */
    float beta = 0.0f;
    if (bias || residual) {
        for (size_t i = 0; i < m; i++) {
            float *ci = c + i * ldc;
            const float *ri = residual ? residual + i * ldr : NULL;
            if (bias && ri)
                for (size_t j = 0; j < n; j++) ci[j] = bias[j] + ri[j];
            else if (bias)
                for (size_t j = 0; j < n; j++) ci[j] = bias[j];
            else
                for (size_t j = 0; j < n; j++) ci[j] = ri[j];
        }
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a,
                (int)lda, b, (int)ldb, beta, c, (int)ldc);
    if (act != CK_ACT_NONE) ck_f32_bias_act(m, n, c, ldc, NULL, NULL, 0, act);
}
