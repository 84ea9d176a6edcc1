/* maps.c — the arithmetic of anomaly maps on raw buffers: bilinear upsampling of a level's
 * distance map, the separable Gaussian smoothing (SciPy's gaussian_filter, mode "reflect"),
 * and the 8-connected components of a thresholded map. */
#include "ckernels.h"
#include "dispatch_internal.h"
#include <math.h>
#include <string.h>

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

size_t ck_u8_label8(size_t h, size_t w, const uint8_t *mask, int32_t *labels, size_t *queue) {
    const size_t n = h * w;
    for (size_t i = 0; i < n; i++) labels[i] = mask[i] ? -1 : 0;
    int32_t next = 0;
    for (size_t s = 0; s < n; s++) {
        if (labels[s] != -1) continue;
        next++;
        size_t head = 0, tail = 0;
        queue[tail++] = s;
        labels[s] = next;
        while (head < tail) {
            const size_t p = queue[head++], y = p / w, x = p % w;
            for (int dy = -1; dy <= 1; dy++) {
                if ((dy < 0 && y == 0) || (dy > 0 && y + 1 == h)) continue;
                for (int dx = -1; dx <= 1; dx++) {
                    if ((dx < 0 && x == 0) || (dx > 0 && x + 1 == w) || (dx == 0 && dy == 0)) continue;
                    const size_t q = (size_t)((long)p + dy * (long)w + dx);
                    if (labels[q] == -1) {
                        labels[q] = next;
                        queue[tail++] = q;
                    }
                }
            }
        }
    }
    return (size_t)next;
}

/* Matplotlib's inferno at 11 stops. */
static const float ck_inferno[11][3] = {
    {0.001f, 0.000f, 0.014f}, {0.087f, 0.044f, 0.225f}, {0.258f, 0.039f, 0.406f}, {0.416f, 0.090f, 0.433f},
    {0.578f, 0.148f, 0.404f}, {0.735f, 0.216f, 0.330f}, {0.865f, 0.317f, 0.226f}, {0.954f, 0.469f, 0.099f},
    {0.988f, 0.645f, 0.040f}, {0.964f, 0.843f, 0.273f}, {0.988f, 0.998f, 0.645f},
};

/* The overlay, written once and compiled per ISA (dispatch table): the colour and opacity of t
 * at 256 steps (finer than the 8-bit output shows), then a lookup and a blend a pixel. */
#define CK_OVERLAY_BODY                                                                              \
    float ca[3][256], keep[256];                                                                   \
    for (int q = 0; q < 256; q++) {                                                                \
        const float t = (float)q / 255.f, s = t * 10.f;                                            \
        const int k = s >= 10.f ? 9 : (int)s;                                                      \
        const float f = s - (float)k, a = 0.7f * t;                                                \
        for (int c = 0; c < 3; c++)                                                                \
            ca[c][q] = a * (ck_inferno[k][c] + (ck_inferno[k + 1][c] - ck_inferno[k][c]) * f) * 255.f + 0.5f; \
        keep[q] = (1.f - a) * 255.f;                                                               \
    }                                                                                              \
    const float scale = 255.f / (high - low > 1e-12f ? high - low : 1e-12f);                       \
    const size_t n = h * w;                                                                        \
    for (size_t i = 0; i < n; i++) {                                                               \
        const float grey = channels == 3                                                           \
            ? 0.299f * image[i * 3] + 0.587f * image[i * 3 + 1] + 0.114f * image[i * 3 + 2]        \
            : image[i];                                                                            \
        float u = (map[i] - low) * scale + 0.5f;                                                   \
        u = u < 0.f ? 0.f : u > 255.f ? 255.f : u;                                                 \
        const int q = (int)u;                                                                      \
        const float g = grey * keep[q];                                                            \
        for (int c = 0; c < 3; c++) {                                                              \
            float v = g + ca[c][q];                                                                \
            v = v > 255.f ? 255.f : v < 0.f ? 0.f : v;                                             \
            rgb[i * 3 + c] = (uint8_t)v;                                                           \
        }                                                                                          \
    }                                                                                              \
    if (!outline) return;                                                                          \
    for (size_t y = 0; y < h; y++) {                                                               \
        for (size_t x = 0; x < w; x++) {                                                           \
            const size_t i = y * w + x;                                                            \
            if (!(map[i] > threshold)) continue;                                                   \
            if (x == 0 || y == 0 || x + 1 == w || y + 1 == h || !(map[i - 1] > threshold) ||       \
                !(map[i + 1] > threshold) || !(map[i - w] > threshold) || !(map[i + w] > threshold)) \
                rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = 255;                                \
        }                                                                                          \
    }

void ck_u8_overlay_inferno__portable(size_t h, size_t w, const float *image, size_t channels, const float *map,
                                     float low, float high, int outline, float threshold, uint8_t *rgb) {
    CK_OVERLAY_BODY
}
#if CK_X86
CK_TARGET_AVX2 void ck_u8_overlay_inferno__avx2(size_t h, size_t w, const float *image, size_t channels, const float *map,
                                                float low, float high, int outline, float threshold, uint8_t *rgb) {
    CK_OVERLAY_BODY
}
CK_TARGET_AVX512 void ck_u8_overlay_inferno__avx512f(size_t h, size_t w, const float *image, size_t channels,
                                                     const float *map, float low, float high, int outline, float threshold,
                                                     uint8_t *rgb) {
    CK_OVERLAY_BODY
}
#endif

void ck_u8_overlay_inferno(size_t h, size_t w, const float *image, size_t channels, const float *map, float low,
                           float high, int outline, float threshold, uint8_t *rgb) {
    ck_table.overlay(h, w, image, channels, map, low, high, outline, threshold, rgb);
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
    ck_table.mahalanobis_f32(n, d, y, ldy, m, linv, work, dist);
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
    size_t at = 0;
    float best = n ? v[0] : 0.f;
    for (size_t i = 1; i < n; i++)
        if (v[i] > best) {
            best = v[i];
            at = i;
        }
    return at;
}

size_t ck_f32_regions8(size_t h, size_t w, const float *map, float threshold, int32_t *labels, size_t *queue, size_t cap,
                       ck_region *regions) {
    const size_t n = h * w;
    for (size_t i = 0; i < n; i++) labels[i] = map[i] > threshold ? -1 : 0;
    size_t count = 0;
    for (size_t s = 0; s < n; s++) {
        if (labels[s] != -1) continue;
        const int32_t id = (int32_t)++count;
        ck_region r = {s % w, s / w, s % w, s / w, 0, map[s], s};
        size_t head = 0, tail = 0;
        queue[tail++] = s;
        labels[s] = id;
        while (head < tail) {
            const size_t p = queue[head++], y = p / w, x = p % w;
            r.area++;
            if (x < r.x0) r.x0 = x;
            if (x > r.x1) r.x1 = x;
            if (y < r.y0) r.y0 = y;
            if (y > r.y1) r.y1 = y;
            if (map[p] > r.peak || (map[p] == r.peak && p < r.peak_at)) {
                r.peak = map[p];
                r.peak_at = p;
            }
            for (int dy = -1; dy <= 1; dy++) {
                if ((dy < 0 && y == 0) || (dy > 0 && y + 1 == h)) continue;
                for (int dx = -1; dx <= 1; dx++) {
                    if ((dx < 0 && x == 0) || (dx > 0 && x + 1 == w) || (dx == 0 && dy == 0)) continue;
                    const size_t q = (size_t)((long)p + dy * (long)w + dx);
                    if (labels[q] == -1) {
                        labels[q] = id;
                        queue[tail++] = q;
                    }
                }
            }
        }
        if (count <= cap) regions[count - 1] = r;
    }
    return count;
}
