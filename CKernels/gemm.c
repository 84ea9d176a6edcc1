/* gemm.c — packed-panel GEMM micro-kernels with the epilogue in registers (1x1 convolutions,
 * im2col convolutions, fully connected layers), their weight packing and a driver that splits
 * one GEMM over the threads of a pool by ith / nth. */
#include "vmath.h"
#include <string.h>

size_t ck_f32_gemm_packed_size(size_t nr, size_t k, size_t n) {
    return (n + nr - 1) / nr * (k + 1) * nr;
}

void ck_f32_gemm_pack(size_t nr, size_t k, size_t n, const float *b, size_t ldb, const float *bias,
                      float *packed) {
    for (size_t j0 = 0; j0 < n; j0 += nr) {
        size_t nc = n - j0 < nr ? n - j0 : nr;
        float *p = packed + j0 / nr * (k + 1) * nr;
        memset(p, 0, (k + 1) * nr * sizeof(float));
        for (size_t j = 0; j < nc; j++) p[j] = bias ? bias[j0 + j] : 0.f;
        for (size_t q = 0; q < k; q++)
            for (size_t j = 0; j < nc; j++) p[(q + 1) * nr + j] = b[q * ldb + j0 + j];
    }
}

void ck_f32_gemm_ref(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                     size_t ldb, const float *bias, const float *residual, size_t ldr, float *c,
                     size_t ldc, ck_act act) {
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double acc = bias ? bias[j] : 0.0;
            for (size_t q = 0; q < k; q++) acc += (double)a[i * lda + q] * b[q * ldb + j];
            if (residual) acc += residual[i * ldr + j];
            c[i * ldc + j] = ck_act_scalar((float)acc, act);
        }
}

/* Rows past mr alias the last valid row (XNNPACK's clamping): they compute and store the same
 * values to the same place, so a tile never needs a row count in its register loop. */
#define CK_ROW_PTRS(MR)                                                                        \
    const float *ar[MR];                                                                       \
    float *cr[MR];                                                                             \
    const float *rr[MR];                                                                       \
    for (size_t i = 0; i < MR; i++) {                                                          \
        size_t ii = i < mr ? i : mr - 1;                                                       \
        ar[i] = a + ii * lda;                                                                  \
        cr[i] = c + ii * ldc;                                                                  \
        rr[i] = residual ? residual + ii * ldr : NULL;                                         \
    }

/* Portable: 4 x 16, plain C the compiler can vectorise for the baseline ISA. */
void ck_f32_gemm_ukernel_4x16__portable(size_t mr, size_t nc, size_t k, const float *a, size_t lda,
                                        const float *w, const float *residual, size_t ldr, float *c,
                                        size_t ldc, ck_act act) {
    enum { MR = 4, NR = 16 };
    CK_ROW_PTRS(MR)
    for (size_t j0 = 0; j0 < nc; j0 += NR) {
        const size_t n = nc - j0 < NR ? nc - j0 : NR;
        float acc[MR][NR];
        for (size_t i = 0; i < MR; i++)
            for (size_t j = 0; j < NR; j++) acc[i][j] = w[j];
        w += NR;
        for (size_t q = 0; q < k; q++, w += NR)
            for (size_t i = 0; i < MR; i++) {
                const float av = ar[i][q];
                for (size_t j = 0; j < NR; j++) acc[i][j] += av * w[j];
            }
        for (size_t i = 0; i < MR; i++)
            for (size_t j = 0; j < n; j++) {
                float v = acc[i][j] + (rr[i] ? rr[i][j0 + j] : 0.f);
                cr[i][j0 + j] = ck_act_scalar(v, act);
            }
    }
}

/* Asks, before a tile's k loop, for the cache lines its epilogue will touch: the output rows
 * (for writing) and the residual rows, which were written many layers ago and come from L3 or
 * memory. They arrive during the loop instead of stalling the stores (AVX2, Zen 3: 784 x 128 x
 * 512 from 64 to 79 GFLOP/s, with a residual 56 -> 69; 3136 x 64 x 256 with a residual 68 -> 78). */
#define CK_GEMM_PREFETCH_EPILOGUE(MR, j0, n)                                                   \
    _Pragma("unroll") for (int i = 0; i < MR; i++) {                                           \
        __builtin_prefetch(cr[i] + (j0), 1, 3);                                                \
        __builtin_prefetch(cr[i] + (j0) + (n) - 1, 1, 3);                                      \
        if (rr[i]) {                                                                           \
            __builtin_prefetch(rr[i] + (j0), 0, 3);                                            \
            __builtin_prefetch(rr[i] + (j0) + (n) - 1, 0, 3);                                  \
        }                                                                                      \
    }

#if CK_X86
/* Lanes [0, n) of an AVX2 vector (n <= 8). */
CK_TARGET_AVX2 static inline __m256i ck_gemm_mask8(size_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* AVX2 + FMA, 16 columns (two vectors) by MR rows: 2 * MR accumulators, the panels of nc
 * columns one after the other with the row pointers set up once. A panel with at most 8 columns
 * (the last of 24, 40, ...) runs a loop over its first vector only, so no FMA is spent on its
 * zero padding; partial vectors are stored and residuals read with lane masks. */
#define CK_GEMM_AVX2_NR16(MR_)                                                                 \
    CK_TARGET_AVX2 void ck_f32_gemm_ukernel_##MR_##x16__avx2(                                  \
        size_t mr, size_t nc, size_t k, const float *a, size_t lda, const float *w,            \
        const float *residual, size_t ldr, float *c, size_t ldc, ck_act act) {                 \
        enum { MR = MR_ };                                                                     \
        CK_ROW_PTRS(MR)                                                                        \
        for (size_t j0 = 0; j0 < nc; j0 += 16) {                                               \
            const size_t n = nc - j0 < 16 ? nc - j0 : 16;                                      \
            CK_GEMM_PREFETCH_EPILOGUE(MR, j0, n)                                               \
            __m256 acc0[MR], acc1[MR];                                                         \
            const __m256 b0 = _mm256_loadu_ps(w), b1 = _mm256_loadu_ps(w + 8);               \
            _Pragma("unroll") for (int i = 0; i < MR; i++) { acc0[i] = b0; acc1[i] = b1; }     \
            w += 16;                                                                           \
            if (n <= 8) {                                                                      \
                for (size_t q = 0; q < k; q++, w += 16) {                                      \
                    const __m256 w0 = _mm256_loadu_ps(w);                                      \
                    _Pragma("unroll") for (int i = 0; i < MR; i++)                             \
                        acc0[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(ar[i] + q), w0, acc0[i]); \
                }                                                                              \
            } else {                                                                           \
                for (size_t q = 0; q < k; q++, w += 16) {                                      \
                    const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);         \
                    _Pragma("unroll") for (int i = 0; i < MR; i++) {                           \
                        const __m256 av = _mm256_broadcast_ss(ar[i] + q);                      \
                        acc0[i] = _mm256_fmadd_ps(av, w0, acc0[i]);                            \
                        acc1[i] = _mm256_fmadd_ps(av, w1, acc1[i]);                            \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
            if (n == 16) {                                                                     \
                _Pragma("unroll") for (int i = 0; i < MR; i++) {                               \
                    __m256 v0 = acc0[i], v1 = acc1[i];                                         \
                    if (rr[i]) {                                                               \
                        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(rr[i] + j0));                   \
                        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(rr[i] + j0 + 8));               \
                    }                                                                          \
                    _mm256_storeu_ps(cr[i] + j0, ck_act8v(v0, act));                           \
                    _mm256_storeu_ps(cr[i] + j0 + 8, ck_act8v(v1, act));                       \
                }                                                                              \
            } else {                                                                           \
                const size_t n0 = n < 8 ? n : 8, n1 = n - n0;                                  \
                const __m256i m0 = ck_gemm_mask8(n0), m1 = ck_gemm_mask8(n1);                  \
                for (int i = 0; i < MR; i++) {                                                 \
                    __m256 v0 = acc0[i], v1 = acc1[i];                                         \
                    if (rr[i]) {                                                               \
                        v0 = _mm256_add_ps(v0, _mm256_maskload_ps(rr[i] + j0, m0));            \
                        if (n1) v1 = _mm256_add_ps(v1, _mm256_maskload_ps(rr[i] + j0 + 8, m1)); \
                    }                                                                          \
                    _mm256_maskstore_ps(cr[i] + j0, m0, ck_act8v(v0, act));                    \
                    if (n1) _mm256_maskstore_ps(cr[i] + j0 + 8, m1, ck_act8v(v1, act));        \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }

CK_GEMM_AVX2_NR16(6)
CK_GEMM_AVX2_NR16(5)

/* AVX-512, 32 columns (two vectors) by MR rows, panel after panel; partial panels by store
 * masks. */
#define CK_GEMM_AVX512_NR32(MR_)                                                               \
    CK_TARGET_AVX512 void ck_f32_gemm_ukernel_##MR_##x32__avx512f(                             \
        size_t mr, size_t nc, size_t k, const float *a, size_t lda, const float *w,            \
        const float *residual, size_t ldr, float *c, size_t ldc, ck_act act) {                 \
        enum { MR = MR_ };                                                                     \
        CK_ROW_PTRS(MR)                                                                        \
        for (size_t j0 = 0; j0 < nc; j0 += 32) {                                               \
            const size_t n = nc - j0 < 32 ? nc - j0 : 32;                                      \
            CK_GEMM_PREFETCH_EPILOGUE(MR, j0, n)                                               \
            __m512 acc0[MR], acc1[MR];                                                         \
            const __m512 b0 = _mm512_loadu_ps(w), b1 = _mm512_loadu_ps(w + 16);               \
            _Pragma("unroll") for (int i = 0; i < MR; i++) { acc0[i] = b0; acc1[i] = b1; }     \
            w += 32;                                                                           \
            if (n <= 16) { /* the last panel of 48, 80, ...: its first vector only */          \
                for (size_t q = 0; q < k; q++, w += 32) {                                      \
                    const __m512 w0 = _mm512_loadu_ps(w);                                      \
                    _Pragma("unroll") for (int i = 0; i < MR; i++)                             \
                        acc0[i] = _mm512_fmadd_ps(_mm512_set1_ps(ar[i][q]), w0, acc0[i]);      \
                }                                                                              \
            } else {                                                                           \
                for (size_t q = 0; q < k; q++, w += 32) {                                      \
                    const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);        \
                    _Pragma("unroll") for (int i = 0; i < MR; i++) {                           \
                        const __m512 av = _mm512_set1_ps(ar[i][q]);                            \
                        acc0[i] = _mm512_fmadd_ps(av, w0, acc0[i]);                            \
                        acc1[i] = _mm512_fmadd_ps(av, w1, acc1[i]);                            \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
            const __mmask16 m0 = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);                \
            const __mmask16 m1 = n >= 32 ? 0xFFFF : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0; \
            _Pragma("unroll") for (int i = 0; i < MR; i++) {                                   \
                __m512 v0 = acc0[i], v1 = acc1[i];                                             \
                if (rr[i]) {                                                                   \
                    v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, rr[i] + j0));             \
                    v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, rr[i] + j0 + 16));        \
                }                                                                              \
                _mm512_mask_storeu_ps(cr[i] + j0, m0, ck_act16v(v0, act));                     \
                _mm512_mask_storeu_ps(cr[i] + j0 + 16, m1, ck_act16v(v1, act));                \
            }                                                                                  \
        }                                                                                      \
    }

/* AVX-512, 16 columns (one vector) by MR rows, for outputs of at most 16 channels. */
#define CK_GEMM_AVX512_NR16(MR_)                                                               \
    CK_TARGET_AVX512 void ck_f32_gemm_ukernel_##MR_##x16__avx512f(                             \
        size_t mr, size_t nc, size_t k, const float *a, size_t lda, const float *w,            \
        const float *residual, size_t ldr, float *c, size_t ldc, ck_act act) {                 \
        enum { MR = MR_ };                                                                     \
        CK_ROW_PTRS(MR)                                                                        \
        for (size_t j0 = 0; j0 < nc; j0 += 16) {                                               \
            const size_t n = nc - j0 < 16 ? nc - j0 : 16;                                      \
            CK_GEMM_PREFETCH_EPILOGUE(MR, j0, n)                                               \
            __m512 acc[MR];                                                                    \
            const __m512 b0 = _mm512_loadu_ps(w);                                              \
            _Pragma("unroll") for (int i = 0; i < MR; i++) acc[i] = b0;                        \
            w += 16;                                                                           \
            for (size_t q = 0; q < k; q++, w += 16) {                                          \
                const __m512 w0 = _mm512_loadu_ps(w);                                          \
                _Pragma("unroll") for (int i = 0; i < MR; i++)                                 \
                    acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(ar[i][q]), w0, acc[i]);            \
            }                                                                                  \
            const __mmask16 m0 = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);                \
            _Pragma("unroll") for (int i = 0; i < MR; i++) {                                   \
                __m512 v = acc[i];                                                             \
                if (rr[i]) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m0, rr[i] + j0));        \
                _mm512_mask_storeu_ps(cr[i] + j0, m0, ck_act16v(v, act));                      \
            }                                                                                  \
        }                                                                                      \
    }

CK_GEMM_AVX512_NR32(12)
CK_GEMM_AVX512_NR32(7)
CK_GEMM_AVX512_NR16(12)
CK_GEMM_AVX512_NR16(7)
#endif

/* The registered micro-kernels, XNNPACK's .inc list: one line a variant. */
static const ck_gemm_ukernel ck_gemm_ukernels[] = {
#define CK_GEMM_UKERNEL(ISA, MR, NR, FN) {ISA, MR, NR, FN, #FN},
#include "gemm_ukernels.inc"
#undef CK_GEMM_UKERNEL
};

size_t ck_gemm_ukernel_count(void) { return sizeof ck_gemm_ukernels / sizeof ck_gemm_ukernels[0]; }

const ck_gemm_ukernel *ck_gemm_ukernel_at(size_t i) {
    return i < ck_gemm_ukernel_count() ? &ck_gemm_ukernels[i] : NULL;
}

size_t ck_gemm_padded_n(size_t nr, size_t n) {
    const size_t rem = n % nr;
    return n / nr * nr + (rem == 0 ? 0 : rem <= nr / 2 && nr >= 16 ? nr / 2 : nr);
}

const ck_gemm_ukernel *ck_gemm_ukernel_for(ck_isa isa, size_t m, size_t n) {
    /* The best ISA's kernels; among them the one that computes the fewest padded rows x
     * columns for an m x n product, then the largest tile. */
    const ck_gemm_ukernel *best = NULL;
    size_t best_cost = 0;
    if (m == 0) m = 1;
    for (size_t i = 0; i < ck_gemm_ukernel_count(); i++) {
        const ck_gemm_ukernel *u = &ck_gemm_ukernels[i];
        if (u->isa > isa || u->isa > ck_active_isa() || (best && u->isa < best->isa)) continue;
        size_t cost = (m + u->mr - 1) / u->mr * u->mr * ck_gemm_padded_n(u->nr, n);
        /* More than 8 rows means more row pointers than x86-64's 16 general registers hold
         * beside the loop's own: they are reloaded from the stack every step (12-row tiles ran
         * 5-30 % slower per FLOP than 7-row ones on both AVX-512 machines measured), so such a
         * tile counts 10 % more work. */
        if (u->mr > 8) cost += cost / 10;
        /* A smaller tile has fewer accumulators to hide the FMA latency with: it must save at
         * least 2 % of the padded work to be chosen over a larger one. */
        int smaller = best && u->mr * u->nr < best->mr * best->nr;
        if (!best || u->isa > best->isa || (smaller ? cost * 50 < best_cost * 49 : cost <= best_cost)) {
            best = u;
            best_cost = cost;
        }
    }
    return best;
}

void ck_f32_gemm_run(const ck_gemm_ukernel *uk, size_t m, size_t n, size_t k, const float *a,
                     size_t lda, const float *packed, const float *residual, size_t ldr, float *c,
                     size_t ldc, ck_act act, size_t ith, size_t nth, size_t panel_budget, size_t prefetch_bytes) {
    if (m == 0 || n == 0 || nth == 0) return;
    const size_t mr = uk->mr, nr = uk->nr, panel = (k + 1) * nr;
    const size_t tiles_m = (m + mr - 1) / mr, tiles_n = (n + nr - 1) / nr;
    /* Split rows when there are enough tiles for every thread; else split the panels. */
    size_t m0 = 0, m1 = tiles_m, n0 = 0, n1 = tiles_n;
    if (tiles_m >= 4 * nth || tiles_n < nth) {
        m0 = tiles_m * ith / nth;
        m1 = tiles_m * (ith + 1) / nth;
    } else {
        n0 = tiles_n * ith / nth;
        n1 = tiles_n * (ith + 1) / nth;
    }
    /* Weights larger than the budget are streamed once per row block: loop panels outside. */
    const int panels_outer = panel * (n1 - n0) * sizeof(float) > panel_budget;
    if (panels_outer) {
        /* Streamed weights come from L3 or memory: with panels of at most prefetch_bytes, while
         * a panel's row tiles run each tile asks for its share of the next panel's cache lines,
         * so that the next panel's first tile does not wait for them (at batch 1 the network's
         * last stage has 49 rows: few tiles to hide a panel's latency behind). */
        const size_t lines = panel * sizeof(float) / 64, tiles = m1 - m0;
        const size_t share = tiles ? (lines + tiles - 1) / tiles : 0;
        const int prefetch = panel * sizeof(float) <= prefetch_bytes;
        for (size_t jt = n0; jt < n1; jt++) {
            size_t j = jt * nr, nc = n - j < nr ? n - j : nr;
            const char *next = prefetch && jt + 1 < n1 ? (const char *)(packed + (jt + 1) * panel) : NULL;
            for (size_t it = m0; it < m1; it++) {
                size_t i = it * mr, rows = m - i < mr ? m - i : mr;
                if (next)
                    for (size_t l = (it - m0) * share; l < (it - m0 + 1) * share && l < lines; l++)
                        __builtin_prefetch(next + l * 64, 0, 2);
                uk->fn(rows, nc, k, a + i * lda, lda, packed + jt * panel,
                       residual ? residual + i * ldr + j : NULL, ldr, c + i * ldc + j, ldc, act);
            }
        }
    } else if (n1 > n0) {
        /* One call a row tile for all of the thread's panels: the kernel sets its row pointers
         * up once (on 16-96 column layers with k = 16-40 that was a fifth of the time). */
        const size_t j = n0 * nr, nc = (n1 * nr < n ? n1 * nr : n) - j;
        for (size_t it = m0; it < m1; it++) {
            size_t i = it * mr, rows = m - i < mr ? m - i : mr;
            uk->fn(rows, nc, k, a + i * lda, lda, packed + n0 * panel,
                   residual ? residual + i * ldr + j : NULL, ldr, c + i * ldc + j, ldc, act);
        }
    }
}
