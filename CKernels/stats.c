/* stats.c — float64 moments, Cholesky, Mahalanobis and eigen-decomposition (BLAS/LAPACKE). */
#include "ckernels.h"
#include <cblas.h>
#include <lapacke.h>
#include <math.h>

/* OpenBLAS's thread count for the next call. OpenBLAS >= 0.3.27 keeps it per calling thread
 * (openblas_set_num_threads_local); older versions only have the process-wide setting, which
 * is then set before every call from the caller's parameter. */
extern int openblas_set_num_threads_local(int) __attribute__((weak));
static void ck_blas_threads(int threads) {
    if (threads < 1) threads = 1;
    if (openblas_set_num_threads_local) openblas_set_num_threads_local(threads);
    else openblas_set_num_threads(threads);
}

/* Not part of OpenBLAS's documented interface: its fork handler, which stops the workers and
 * leaves the pool to start again at the next threaded call. Weak, so absent (other BLAS
 * libraries, OpenBLAS's OpenMP build) it is NULL. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

int ck_blas_release_idle_threads(void) {
    if (!blas_thread_shutdown_) return 0;
    blas_thread_shutdown_();
    return 1;
}

void ck_f64_moments_update(size_t n, size_t d, const double *x, size_t ldx, const double *shift,
                           double *sum_z, double *scatter, double *sum_qz, double *sums,
                           double *work, int threads) {
    if (n == 0) return;
    ck_blas_threads(threads);
    double *z = work, *q = work + n * d;
    double s1 = 0.0, s2 = 0.0;
    for (size_t t = 0; t < n; t++) {
        double acc = 0.0;
        for (size_t j = 0; j < d; j++) {
            double v = x[t * ldx + j] - shift[j];
            z[t * d + j] = v;
            sum_z[j] += v;
            acc += v * v;
        }
        q[t] = acc;
        s1 += acc;
        s2 += acc * acc;
    }
    sums[0] += s1;
    sums[1] += s2;
    /* Row-major lower of z^T z is column-major upper: DSYRK with CblasRowMajor, Lower, Trans. */
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)n, 1.0, z, (int)d, 1.0, scatter,
                (int)d);
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, (int)d, 1.0, z, (int)d, q, 1, 1.0, sum_qz, 1);
}

int ck_f64_cholesky(size_t d, double *a, size_t lda, int threads) {
    ck_blas_threads(threads);
    /* The row-major lower triangle is the column-major upper one of the same symmetric matrix:
     * factored in place, without the two transposed copies a row-major call makes. */
    int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', (lapack_int)d, a, (lapack_int)lda);
    if (info != 0) return info;
    for (size_t i = 0; i < d; i++)
        for (size_t j = i + 1; j < d; j++) a[i * lda + j] = 0.0;
    return 0;
}

void ck_f64_mahalanobis(size_t n, size_t d, const double *y, size_t ldy, const double *m,
                        const double *l, size_t ldl, double *work, double *dist, int threads) {
    if (n == 0) return;
    ck_blas_threads(threads);
    for (size_t t = 0; t < n; t++)
        for (size_t j = 0; j < d; j++) work[t * d + j] = y[t * ldy + j] - m[j];
    /* Rows r_t = (y_t - m): solve X L^T = R, so X_t = L^-1 r_t. */
    cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, (int)n, (int)d,
                1.0, l, (int)ldl, work, (int)d);
    for (size_t t = 0; t < n; t++) {
        double acc = 0.0;
        for (size_t j = 0; j < d; j++) acc += work[t * d + j] * work[t * d + j];
        dist[t] = sqrt(acc);
    }
}

int ck_f64_eigh(size_t d, double *a, size_t lda, double *w, int threads) {
    ck_blas_threads(threads);
    return LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'L', (lapack_int)d, a, (lapack_int)lda, w);
}

void ck_f64_gemm(size_t m, size_t n, size_t k, double alpha, const double *a, size_t lda,
                 const double *b, size_t ldb, double beta, double *c, size_t ldc, int threads) {
    if (m == 0 || n == 0) return;
    ck_blas_threads(threads);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, alpha, a,
                (int)lda, b, (int)ldb, beta, c, (int)ldc);
}
