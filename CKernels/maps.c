/* maps.c — the arithmetic of anomaly maps on raw buffers: bilinear upsampling of a level's
 * distance map, the separable Gaussian smoothing (SciPy's gaussian_filter, mode "reflect"),
 * the 8-connected components of a thresholded map, and overlays. */
#include "ckernels.h"
#include "dispatch_internal.h"
#include <math.h>
#include <string.h>
#if CK_X86
#include <immintrin.h>
#endif

/* Source coordinate of output index i (PyTorch's bilinear, align_corners = false):
 * max(0, (i + 0.5) * in / out - 0.5), its floor i0, the next index i1 (clamped) and the weight
 * of i1. */
static void ck_bilinear_tap(size_t i, size_t in, size_t out, size_t *i0, size_t *i1, double *t) {
    double src = ((double)i + 0.5) * (double)in / (double)out - 0.5;
    if (src < 0) src = 0;
    size_t f = (size_t)src;
    if (f > in - 1) f = in - 1;
    *i0 = f;
    *i1 = f + 1 < in ? f + 1 : in - 1;
    *t = src - (double)f;
}

void ck_f64_resize_bilinear_add(size_t in_h, size_t in_w, const double *in, size_t out_h, size_t out_w,
                                double weight, double *scratch, double *out) {
    if (in_h == 0 || in_w == 0 || out_h == 0 || out_w == 0) return;
    /* Along the width into scratch (in_h x out_w), then along the height into out. */
    for (size_t x = 0; x < out_w; x++) {
        size_t x0, x1;
        double t;
        ck_bilinear_tap(x, in_w, out_w, &x0, &x1, &t);
        for (size_t y = 0; y < in_h; y++)
            scratch[y * out_w + x] = (1 - t) * in[y * in_w + x0] + t * in[y * in_w + x1];
    }
    for (size_t y = 0; y < out_h; y++) {
        size_t y0, y1;
        double t;
        ck_bilinear_tap(y, in_h, out_h, &y0, &y1, &t);
        const double *a = scratch + y0 * out_w, *b = scratch + y1 * out_w;
        double *o = out + y * out_w;
        for (size_t x = 0; x < out_w; x++) o[x] += weight * ((1 - t) * a[x] + t * b[x]);
    }
}

size_t ck_gaussian_radius(double sigma) {
    return sigma > 0 ? (size_t)(4.0 * sigma + 0.5) : 0;
}

/* Outputs a pass keeps in registers at most (the AVX-512 variant's block). */
#define CK_GAUSS_MAX_BLOCK 64

size_t ck_f64_gaussian_filter_scratch(size_t h, size_t w, double sigma_y, double sigma_x) {
    const size_t ry = ck_gaussian_radius(sigma_y), rx = ck_gaussian_radius(sigma_x);
    const size_t r = ry > rx ? ry : rx, B = CK_GAUSS_MAX_BLOCK;
    /* The height pass's output (h x w), a row extended by the width pass's reflection and a
     * block of padding, that pass's output row in whole blocks, the kernel. */
    return h * w + (w + 2 * rx + B) + (w + B) + (2 * r + 1);
}

/* SciPy's "reflect" (half-sample symmetric) index of i in [0, n): period 2n. */
static size_t ck_reflect(long i, size_t n) {
    if (i >= 0 && i < (long)n) return (size_t)i;
    const long p = 2 * (long)n;
    long m = i % p;
    if (m < 0) m += p;
    return (size_t)(m < (long)n ? m : p - 1 - m);
}

static void ck_gauss_kernel(double sigma, size_t r, double *w) {
    double sum = 0;
    for (size_t k = 0; k <= 2 * r; k++) {
        const double x = (double)k - (double)r;
        w[k] = exp(-0.5 / (sigma * sigma) * x * x);
        sum += w[k];
    }
    for (size_t k = 0; k <= 2 * r; k++) w[k] /= sum;
}

/* The smoothing, written once and compiled for the baseline ISA, AVX2 and AVX-512 (the dispatch
 * table picks one) with a block of B outputs kept in registers (16, 32, 64 doubles). Along the
 * height (axis 0), then along the width (axis 1), as SciPy orders the axes; each output sums its
 * taps in the kernel's order, so that a tap costs one load and one multiply-add an output. */
#define CK_GAUSS_BODY(B)                                                                           \
    if (h == 0 || w == 0) return;                                                                  \
    const size_t ry = ck_gaussian_radius(sigma_y), rx = ck_gaussian_radius(sigma_x);               \
    double *tmp = scratch, *line = scratch + h * w, *outrow = line + (w + 2 * rx + CK_GAUSS_MAX_BLOCK); \
    double *kern = outrow + (w + CK_GAUSS_MAX_BLOCK);                                              \
    if (sigma_y > 0) {                                                                             \
        ck_gauss_kernel(sigma_y, ry, kern);                                                        \
        const double *rows[2 * 256 + 1];                                                           \
        const int blocked = 2 * ry + 1 <= sizeof rows / sizeof rows[0];                            \
        for (size_t y = 0; y < h; y++) {                                                           \
            double *o = tmp + y * w;                                                               \
            size_t x = 0;                                                                          \
            if (blocked) {                                                                         \
                for (size_t k = 0; k <= 2 * ry; k++) rows[k] = data + ck_reflect((long)y + (long)k - (long)ry, h) * w; \
                for (; x + B <= w; x += B) {                                                       \
                    double acc[B] = {0};                                                           \
                    for (size_t k = 0; k <= 2 * ry; k++) {                                         \
                        const double wk = kern[k], *r = rows[k] + x;                               \
                        for (size_t j = 0; j < B; j++) acc[j] += wk * r[j];                        \
                    }                                                                              \
                    for (size_t j = 0; j < B; j++) o[x + j] = acc[j];                              \
                }                                                                                  \
            }                                                                                      \
            for (size_t j = x; j < w; j++) o[j] = 0;                                               \
            for (size_t k = 0; k <= 2 * ry; k++) {                                                 \
                const double *r = data + ck_reflect((long)y + (long)k - (long)ry, h) * w;          \
                const double wk = kern[k];                                                         \
                for (size_t j = x; j < w; j++) o[j] += wk * r[j];                                  \
            }                                                                                      \
        }                                                                                          \
        memcpy(data, tmp, h * w * sizeof(double));                                                 \
    }                                                                                              \
    if (sigma_x > 0) {                                                                             \
        ck_gauss_kernel(sigma_x, rx, kern);                                                        \
        for (size_t i = w + 2 * rx; i < w + 2 * rx + CK_GAUSS_MAX_BLOCK; i++) line[i] = 0;         \
        for (size_t y = 0; y < h; y++) {                                                           \
            double *row = data + y * w;                                                            \
            for (long i = -(long)rx; i < 0; i++) line[i + (long)rx] = row[ck_reflect(i, w)];       \
            memcpy(line + rx, row, w * sizeof(double));                                            \
            for (long i = (long)w; i < (long)(w + rx); i++) line[i + (long)rx] = row[ck_reflect(i, w)]; \
            /* Whole blocks, the last reading the zero padding; only the first w outputs kept. */ \
            for (size_t x = 0; x < w; x += B) {                                                    \
                double acc[B] = {0};                                                               \
                for (size_t k = 0; k <= 2 * rx; k++) {                                             \
                    const double wk = kern[k], *l = line + k + x;                                  \
                    for (size_t j = 0; j < B; j++) acc[j] += wk * l[j];                            \
                }                                                                                  \
                for (size_t j = 0; j < B; j++) outrow[x + j] = acc[j];                             \
            }                                                                                      \
            memcpy(row, outrow, w * sizeof(double));                                               \
        }                                                                                          \
    }

void ck_f64_gaussian_filter__portable(size_t h, size_t w, double *data, double sigma_y, double sigma_x, double *scratch) {
    CK_GAUSS_BODY(16)
}
#if CK_X86
CK_TARGET_AVX2 void ck_f64_gaussian_filter__avx2(size_t h, size_t w, double *data, double sigma_y, double sigma_x,
                                                 double *scratch) {
    CK_GAUSS_BODY(32)
}
CK_TARGET_AVX512 void ck_f64_gaussian_filter__avx512f(size_t h, size_t w, double *data, double sigma_y, double sigma_x,
                                                      double *scratch) {
    CK_GAUSS_BODY(64)
}
#endif

void ck_f64_gaussian_filter(size_t h, size_t w, double *data, double sigma_y, double sigma_x, double *scratch) {
    ck_table.gaussian_filter(h, w, data, sigma_y, sigma_x, scratch);
}

/* ------------------------------------------------------- connected areas, by runs
 *
 * One pass finds each row's runs of marked pixels and joins each to the runs of the row above
 * that touch it diagonally or directly (union-find over runs, the smaller index the root, so a
 * component's root is its first run in row-major order); a second pass over the runs numbers
 * the roots in order and gathers each component's box, size and peak. Work is one comparison a
 * pixel and a few operations a run, where a flood fill visits each marked pixel's 8 neighbours. */

/* The runs of an h x w map in the scratch (at most h ceil(w / 2) of them), array by array: first
 * and last column, row, union-find parent, component number (of roots), and with a map the
 * run's largest value and its column. */
typedef struct ck_runs {
    int32_t *x0, *x1, *y, *parent, *id, *peak_x;
    float *peak;
} ck_runs;

static size_t ck_runs_cap(size_t h, size_t w) { return h * ((w + 1) / 2); }

size_t ck_regions8_scratch(size_t h, size_t w) { return 7 * ck_runs_cap(h, w); }

static ck_runs ck_runs_layout(size_t h, size_t w, int32_t *scratch) {
    const size_t cap = ck_runs_cap(h, w);
    return (ck_runs){scratch, scratch + cap, scratch + 2 * cap, scratch + 3 * cap, scratch + 4 * cap, scratch + 5 * cap,
                     (float *)(scratch + 6 * cap)};
}

static inline int32_t ck_run_root(int32_t *parent, int32_t i) {
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

/* The runs of map > threshold (map given) or mask != 0: returns how many; fills x0, x1, y, the
 * union-find parents and, with map, each run's largest value and its first column. */
static inline __attribute__((always_inline)) size_t ck_runs8(size_t h, size_t w, const float *map, float threshold,
                                                             const uint8_t *mask, const ck_runs *r) {
    size_t nr = 0, prev_begin = 0, prev_end = 0;
    for (size_t y = 0; y < h; y++) {
        const float *mrow = map ? map + y * w : NULL;
        const uint8_t *krow = mask ? mask + y * w : NULL;
        const size_t cur_begin = nr;
        size_t j = prev_begin, x = 0;
        while (x < w) {
            if (map) {
                while (x < w && !(mrow[x] > threshold)) x++;
            } else {
                while (x < w && !krow[x]) x++;
            }
            if (x == w) break;
            const size_t s = x;
            if (map) {
                float best = mrow[x];
                size_t at = x;
                for (x++; x < w && mrow[x] > threshold; x++)
                    if (mrow[x] > best) {
                        best = mrow[x];
                        at = x;
                    }
                r->peak[nr] = best;
                r->peak_x[nr] = (int32_t)at;
            } else {
                while (x < w && krow[x]) x++;
            }
            r->x0[nr] = (int32_t)s;
            r->x1[nr] = (int32_t)(x - 1);
            r->y[nr] = (int32_t)y;
            r->parent[nr] = (int32_t)nr;
            /* Runs of the row above touching columns s - 1 .. x (x is the column after the run). */
            while (j < prev_end && (size_t)r->x1[j] + 1 < s) j++;
            for (size_t k = j; k < prev_end && (size_t)r->x0[k] <= x; k++) {
                const int32_t a = ck_run_root(r->parent, (int32_t)k), b = ck_run_root(r->parent, (int32_t)nr);
                if (a < b) r->parent[b] = a;
                else if (b < a) r->parent[a] = b;
            }
            nr++;
        }
        prev_begin = cur_begin;
        prev_end = nr;
    }
    return nr;
}

/* Numbers the components of nr runs in the order of their roots (id of each root), points every
 * run's parent at its root; returns the count. */
static size_t ck_runs_number(size_t nr, const ck_runs *r) {
    size_t count = 0;
    for (size_t i = 0; i < nr; i++) {
        const int32_t root = ck_run_root(r->parent, (int32_t)i);
        r->parent[i] = root;
        if ((size_t)root == i) r->id[i] = (int32_t)count++;
    }
    return count;
}

size_t ck_u8_label8(size_t h, size_t w, const uint8_t *mask, int32_t *labels, int32_t *scratch) {
    const ck_runs r = ck_runs_layout(h, w, scratch);
    const size_t nr = ck_runs8(h, w, NULL, 0.f, mask, &r);
    const size_t count = ck_runs_number(nr, &r);
    memset(labels, 0, h * w * sizeof(int32_t));
    for (size_t i = 0; i < nr; i++) {
        const int32_t l = r.id[r.parent[i]] + 1;
        int32_t *row = labels + (size_t)r.y[i] * w;
        for (int32_t x = r.x0[i]; x <= r.x1[i]; x++) row[x] = l;
    }
    return count;
}

/* Matplotlib's inferno at 11 stops. */
static const float ck_inferno[11][3] = {
    {0.001f, 0.000f, 0.014f}, {0.087f, 0.044f, 0.225f}, {0.258f, 0.039f, 0.406f}, {0.416f, 0.090f, 0.433f},
    {0.578f, 0.148f, 0.404f}, {0.735f, 0.216f, 0.330f}, {0.865f, 0.317f, 0.226f}, {0.954f, 0.469f, 0.099f},
    {0.988f, 0.645f, 0.040f}, {0.964f, 0.843f, 0.273f}, {0.988f, 0.998f, 0.645f},
};

/* The overlay. A pixel: t = (map - low) / (high - low) clamped to [0, 1] (NaN: 0), the colour
 * interpolated between inferno's stops k = floor(10 t) and k + 1, opacity a = 0.7 t over the
 * image's grey. Colours and slopes are kept per stop, times 255, in 16-entry tables that one
 * vector permute reads. */
typedef struct ck_overlay_tables {
    float base[3][16], slope[3][16];
} ck_overlay_tables;

static void ck_overlay_tables_fill(ck_overlay_tables *t) {
    memset(t, 0, sizeof *t);
    for (int k = 0; k < 10; k++)
        for (int c = 0; c < 3; c++) {
            t->base[c][k] = ck_inferno[k][c] * 255.f;
            t->slope[c][k] = (ck_inferno[k + 1][c] - ck_inferno[k][c]) * 255.f;
        }
}

static inline float ck_overlay_grey(const float *image, size_t channels, size_t i) {
    return channels == 3 ? 0.299f * image[i * 3] + 0.587f * image[i * 3 + 1] + 0.114f * image[i * 3 + 2] : image[i];
}

/* Pixels i0 .. n - 1, one at a time (the portable kernel, and the vector kernels' tails). */
static inline void ck_overlay_pixels(size_t i0, size_t n, const float *image, size_t channels, const float *map,
                                     float low, float inv, const ck_overlay_tables *tab, uint8_t *rgb) {
    for (size_t i = i0; i < n; i++) {
        float t = (map[i] - low) * inv;
        t = t > 0.f ? (t < 1.f ? t : 1.f) : 0.f;
        const float s = t * 10.f;
        int k = (int)s;
        if (k > 9) k = 9;
        const float f = s - (float)k, a = 0.7f * t;
        const float base = ck_overlay_grey(image, channels, i) * 255.f * (1.f - a) + 0.5f;
        for (int c = 0; c < 3; c++) {
            float v = base + a * (tab->base[c][k] + tab->slope[c][k] * f);
            v = v > 255.f ? 255.f : v < 0.f ? 0.f : v;
            rgb[i * 3 + c] = (uint8_t)v;
        }
    }
}

/* With outline, every pixel above threshold on the border or with a 4-neighbour not above it
 * turns white. */
static void ck_overlay_outline(size_t h, size_t w, const float *map, float threshold, uint8_t *rgb) {
    for (size_t y = 0; y < h; y++) {
        for (size_t x = 0; x < w; x++) {
            const size_t i = y * w + x;
            if (!(map[i] > threshold)) continue;
            if (x == 0 || y == 0 || x + 1 == w || y + 1 == h || !(map[i - 1] > threshold) || !(map[i + 1] > threshold) ||
                !(map[i - w] > threshold) || !(map[i + w] > threshold))
                rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = 255;
        }
    }
}

static float ck_overlay_inverse(float low, float high) { return 1.f / (high - low > 1e-12f ? high - low : 1e-12f); }

void ck_u8_overlay_inferno__portable(size_t h, size_t w, const float *image, size_t channels, const float *map,
                                     float low, float high, int outline, float threshold, uint8_t *rgb) {
    ck_overlay_tables tab;
    ck_overlay_tables_fill(&tab);
    ck_overlay_pixels(0, h * w, image, channels, map, low, ck_overlay_inverse(low, high), &tab, rgb);
    if (outline) ck_overlay_outline(h, w, map, threshold, rgb);
}

#if CK_X86
/* Four pixels' bytes r | g << 8 | b << 16 a 32-bit lane, packed to 12 bytes in each 128-bit lane. */
#define CK_RGB_PACK_MASK _mm256_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1, \
                                          0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1)

/* Eight pixels' bytes to rgb (24 bytes; the 4 after them are overwritten). The AVX2 overlay
 * serves the AVX-512 level too: a 512-bit copy of it saved 0.03 of a 300 x 300 map's 0.17 ms
 * (under 1 % of an image's time), not worth a second copy. */
CK_TARGET_AVX2 static inline void ck_store_rgb8(__m256i r, __m256i g, __m256i b, uint8_t *out) {
    const __m256i word = _mm256_or_si256(r, _mm256_or_si256(_mm256_slli_epi32(g, 8), _mm256_slli_epi32(b, 16)));
    const __m256i packed = _mm256_shuffle_epi8(word, CK_RGB_PACK_MASK);
    _mm_storeu_si128((__m128i *)out, _mm256_castsi256_si128(packed));
    _mm_storeu_si128((__m128i *)(out + 12), _mm256_extracti128_si256(packed, 1));
}

CK_TARGET_AVX2 static inline __m256 ck_lookup10_avx2(const float *table, __m256i k, __m256i high) {
    const __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table), k);
    const __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table + 8), k);
    return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(high));
}

CK_TARGET_AVX2 void ck_u8_overlay_inferno__avx2(size_t h, size_t w, const float *image, size_t channels, const float *map,
                                                float low, float high, int outline, float threshold, uint8_t *rgb) {
    ck_overlay_tables tab;
    ck_overlay_tables_fill(&tab);
    const float inv = ck_overlay_inverse(low, high);
    const size_t n = h * w;
    const __m256 vlow = _mm256_set1_ps(low), vinv = _mm256_set1_ps(inv), zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.f);
    const __m256 top = _mm256_set1_ps(255.f), half = _mm256_set1_ps(0.5f);
    const __m256i nine = _mm256_set1_epi32(9), seven = _mm256_set1_epi32(7);
    const __m256i idx3 = _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21);
    size_t i = 0;
    for (; i + 10 <= n; i += 8) {
        __m256 g;
        if (channels == 3) {
            const float *p = image + i * 3;
            g = _mm256_mul_ps(_mm256_set1_ps(0.299f), _mm256_i32gather_ps(p, idx3, 4));
            g = _mm256_fmadd_ps(_mm256_set1_ps(0.587f), _mm256_i32gather_ps(p + 1, idx3, 4), g);
            g = _mm256_fmadd_ps(_mm256_set1_ps(0.114f), _mm256_i32gather_ps(p + 2, idx3, 4), g);
        } else {
            g = _mm256_loadu_ps(image + i);
        }
        __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(map + i), vlow), vinv);
        t = _mm256_min_ps(_mm256_max_ps(t, zero), one); /* max returns its second operand for NaN: 0 */
        const __m256 s = _mm256_mul_ps(t, _mm256_set1_ps(10.f));
        const __m256i k = _mm256_min_epi32(_mm256_cvttps_epi32(s), nine);
        const __m256i upper = _mm256_cmpgt_epi32(k, seven);
        const __m256 f = _mm256_sub_ps(s, _mm256_cvtepi32_ps(k)), a = _mm256_mul_ps(t, _mm256_set1_ps(0.7f));
        const __m256 base = _mm256_fmadd_ps(_mm256_mul_ps(g, top), _mm256_sub_ps(one, a), half);
        __m256i v[3];
        for (int c = 0; c < 3; c++) {
            const __m256 col = _mm256_fmadd_ps(ck_lookup10_avx2(tab.slope[c], k, upper), f, ck_lookup10_avx2(tab.base[c], k, upper));
            const __m256 x = _mm256_min_ps(_mm256_max_ps(_mm256_fmadd_ps(a, col, base), zero), top);
            v[c] = _mm256_cvttps_epi32(x);
        }
        ck_store_rgb8(v[0], v[1], v[2], rgb + i * 3);
    }
    ck_overlay_pixels(i, n, image, channels, map, low, inv, &tab, rgb);
    if (outline) ck_overlay_outline(h, w, map, threshold, rgb);
}
#endif

void ck_u8_overlay_inferno(size_t h, size_t w, const float *image, size_t channels, const float *map, float low,
                           float high, int outline, float threshold, uint8_t *rgb) {
    ck_table.overlay_inferno(h, w, image, channels, map, low, high, outline, threshold, rgb);
}

/* ------------------------------------------------ the map as one linear operator a level */

void ck_f64_upsample_smooth_matrix(size_t n, size_t m, double sigma, double *a, size_t *lo, size_t *hi, double *scratch) {
    const size_t r = ck_gaussian_radius(sigma);
    double *kern = scratch;
    if (sigma > 0) ck_gauss_kernel(sigma, r, kern); else kern[0] = 1;
    for (size_t i = 0; i < m * n; i++) a[i] = 0;
    for (size_t Y = 0; Y < m; Y++) {
        double *row = a + Y * n;
        size_t first = n, last = 0;
        for (size_t k = 0; k <= 2 * r; k++) {
            size_t i0, i1;
            double t;
            ck_bilinear_tap(ck_reflect((long)Y + (long)k - (long)r, m), n, m, &i0, &i1, &t);
            row[i0] += kern[k] * (1 - t);
            row[i1] += kern[k] * t;
            if (i0 < first) first = i0;
            if (i1 + 1 > last) last = i1 + 1;
        }
        lo[Y] = first;
        hi[Y] = last;
    }
}

/* Written once, compiled per ISA (dispatch table): the row updates vectorise along the width. */
#define CK_MAP_APPLY_BODY                                                                            \
    /* t = z Ax^T (h x W), each sum over the columns j where Ax's row X is nonzero. */             \
    for (size_t i = 0; i < h; i++) {                                                               \
        const double *zi = z + i * w;                                                              \
        double *ti = t + i * W;                                                                    \
        for (size_t X = 0; X < W; X++) {                                                           \
            const double *axX = ax + X * w;                                                        \
            double acc = 0;                                                                        \
            for (size_t j = xlo[X]; j < xhi[X]; j++) acc += zi[j] * axX[j];                        \
            ti[X] = acc;                                                                           \
        }                                                                                          \
    }                                                                                              \
    /* out += weight Ay t, row by row over Ay's nonzero columns. */                                \
    for (size_t Y = 0; Y < H; Y++) {                                                               \
        double *restrict o = out + Y * W;                                                          \
        for (size_t i = ylo[Y]; i < yhi[Y]; i++) {                                                 \
            const double c = weight * ay[Y * h + i];                                               \
            const double *restrict ti = t + i * W;                                                 \
            for (size_t X = 0; X < W; X++) o[X] += c * ti[X];                                      \
        }                                                                                          \
    }

#define CK_MAP_APPLY_ARGS                                                                            \
    size_t h, size_t w, const double *z, size_t H, size_t W, const double *ay, const size_t *ylo, const size_t *yhi, \
        const double *ax, const size_t *xlo, const size_t *xhi, double weight, double *t, double *out
void ck_f64_map_apply__portable(CK_MAP_APPLY_ARGS) { CK_MAP_APPLY_BODY }
#if CK_X86
CK_TARGET_AVX2 void ck_f64_map_apply__avx2(CK_MAP_APPLY_ARGS) { CK_MAP_APPLY_BODY }
CK_TARGET_AVX512 void ck_f64_map_apply__avx512f(CK_MAP_APPLY_ARGS) { CK_MAP_APPLY_BODY }
#endif

void ck_f64_map_apply(CK_MAP_APPLY_ARGS) { ck_table.map_apply(h, w, z, H, W, ay, ylo, yhi, ax, xlo, xhi, weight, t, out); }

/* ------------------------------------------------------ distances under a cell's Gaussian */

/* Eight rows at a time, one in each lane; four rows of L^-1 at a time kept in registers: each
 * step is four multiply-adds of eight lanes over one load of the rows' centred values. L^-1
 * is stored whole (zeros above its diagonal), so the four rows run to the same column. Written
 * once, compiled per ISA (dispatch table). */
#define CK_MAHA_BODY                                                                                  \
    double *restrict c = work;                                                                     \
    for (size_t t0 = 0; t0 < n; t0 += 8) {                                                         \
        const size_t nb = n - t0 < 8 ? n - t0 : 8;                                                 \
        for (size_t r = 0; r < 8; r++) {                                                           \
            const float *yr = y + (t0 + (r < nb ? r : 0)) * ldy;                                   \
            for (size_t j = 0; j < d; j++) c[j * 8 + r] = (double)yr[j] - m[j];                   \
        }                                                                                          \
        double acc[8] = {0};                                                                       \
        for (size_t i0 = 0; i0 < d; i0 += 4) {                                                     \
            double z0[8] = {0}, z1[8] = {0}, z2[8] = {0}, z3[8] = {0};                             \
            const size_t jn = i0 + 4 < d ? i0 + 4 : d;                                             \
            const double *l0 = linv + i0 * d, *l1 = i0 + 1 < d ? l0 + d : l0;                      \
            const double *l2 = i0 + 2 < d ? l0 + 2 * d : l0, *l3 = i0 + 3 < d ? l0 + 3 * d : l0;  \
            for (size_t j = 0; j < jn; j++) {                                                      \
                const double *restrict cj = c + j * 8;                                             \
                const double a0 = l0[j], a1 = l1[j], a2 = l2[j], a3 = l3[j];                       \
                for (size_t r = 0; r < 8; r++) {                                                   \
                    z0[r] += a0 * cj[r];                                                           \
                    z1[r] += a1 * cj[r];                                                           \
                    z2[r] += a2 * cj[r];                                                           \
                    z3[r] += a3 * cj[r];                                                           \
                }                                                                                  \
            }                                                                                      \
            for (size_t r = 0; r < 8; r++) {                                                       \
                acc[r] += z0[r] * z0[r];                                                           \
                if (i0 + 1 < d) acc[r] += z1[r] * z1[r];                                           \
                if (i0 + 2 < d) acc[r] += z2[r] * z2[r];                                           \
                if (i0 + 3 < d) acc[r] += z3[r] * z3[r];                                           \
            }                                                                                      \
        }                                                                                          \
        for (size_t r = 0; r < nb; r++) dist[t0 + r] = sqrt(acc[r]);                               \
    }

void ck_f64_mahalanobis_inverse_f32__portable(size_t n, size_t d, const float *y, size_t ldy, const double *m,
                                              const double *linv, double *work, double *dist) {
    CK_MAHA_BODY
}
#if CK_X86
CK_TARGET_AVX2 void ck_f64_mahalanobis_inverse_f32__avx2(size_t n, size_t d, const float *y, size_t ldy, const double *m,
                                                         const double *linv, double *work, double *dist) {
    CK_MAHA_BODY
}
CK_TARGET_AVX512 void ck_f64_mahalanobis_inverse_f32__avx512f(size_t n, size_t d, const float *y, size_t ldy,
                                                              const double *m, const double *linv, double *work,
                                                              double *dist) {
    CK_MAHA_BODY
}
#endif

void ck_f64_mahalanobis_inverse_f32(size_t n, size_t d, const float *y, size_t ldy, const double *m, const double *linv,
                                    double *work, double *dist) {
    ck_table.mahalanobis_inverse_f32(n, d, y, ldy, m, linv, work, dist);
}

void ck_f64_lower_inverse(size_t d, const double *l, double *inv) {
    for (size_t i = 0; i < d * d; i++) inv[i] = 0;
    /* Column by column: L x = e_k by forward substitution. */
    for (size_t k = 0; k < d; k++) {
        for (size_t i = k; i < d; i++) {
            double s = i == k ? 1.0 : 0.0;
            for (size_t j = k; j < i; j++) s -= l[i * d + j] * inv[j * d + k];
            inv[i * d + k] = s / l[i * d + i];
        }
    }
}

/* ------------------------------------------------------------------ peaks and regions */

size_t ck_f32_argmax(size_t n, const float *v) {
    /* The largest value in eight independent lanes (no chain of dependent comparisons), then its
     * first index. */
    if (n == 0) return 0;
    float m[8];
    for (int l = 0; l < 8; l++) m[l] = v[0];
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) m[l] = v[i + l] > m[l] ? v[i + l] : m[l];
    float best = m[0];
    for (int l = 1; l < 8; l++) best = m[l] > best ? m[l] : best;
    for (; i < n; i++) best = v[i] > best ? v[i] : best;
    for (i = 0; i < n; i++)
        if (v[i] == best) return i;
    return 0; /* every value NaN */
}

size_t ck_f32_regions8(size_t h, size_t w, const float *map, float threshold, int32_t *scratch, size_t cap,
                       ck_region *regions) {
    const ck_runs r = ck_runs_layout(h, w, scratch);
    const size_t nr = ck_runs8(h, w, map, threshold, NULL, &r);
    const size_t count = ck_runs_number(nr, &r);
    for (size_t i = 0; i < nr; i++) {
        const size_t k = (size_t)r.id[r.parent[i]];
        if (k >= cap) continue;
        ck_region *g = &regions[k];
        const size_t x0 = (size_t)r.x0[i], x1 = (size_t)r.x1[i], y = (size_t)r.y[i], at = y * w + (size_t)r.peak_x[i];
        if ((size_t)r.parent[i] == i) {
            /* A component's first run: its first row, and the first of its largest values so far. */
            *g = (ck_region){x0, y, x1, y, 0, r.peak[i], at};
        } else if (r.peak[i] > g->peak) {
            /* Runs come in row-major order: a later run takes the peak only when strictly larger. */
            g->peak = r.peak[i];
            g->peak_at = at;
        }
        g->area += x1 - x0 + 1;
        if (x0 < g->x0) g->x0 = x0;
        if (x1 > g->x1) g->x1 = x1;
        g->y1 = y;
    }
    return count;
}
