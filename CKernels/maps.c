/* maps.c — the arithmetic of anomaly maps on raw buffers: bilinear upsampling of a level's
 * distance map, the separable Gaussian smoothing (SciPy's gaussian_filter, mode "reflect"),
 * and the 8-connected components of a thresholded map. */
#include "ckernels.h"
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

size_t ck_f64_gaussian_filter_scratch(size_t h, size_t w, double sigma_y, double sigma_x) {
    const size_t ry = ck_gaussian_radius(sigma_y), rx = ck_gaussian_radius(sigma_x);
    const size_t r = ry > rx ? ry : rx;
    /* The height pass's output (h x w), a row extended by the width pass's reflection, the kernel. */
    return h * w + (w + 2 * rx) + (2 * r + 1);
}

/* SciPy's "reflect" (half-sample symmetric) index of i in [0, n): period 2n. */
static size_t ck_reflect(long i, size_t n) {
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

void ck_f64_gaussian_filter(size_t h, size_t w, double *data, double sigma_y, double sigma_x, double *scratch) {
    if (h == 0 || w == 0) return;
    const size_t ry = ck_gaussian_radius(sigma_y), rx = ck_gaussian_radius(sigma_x);
    double *tmp = scratch, *line = scratch + h * w, *kern = line + (w + 2 * rx);
    /* Along the height (axis 0), then along the width (axis 1), as SciPy orders the axes. Each
     * output sums its taps in the kernel's order; the loops run over whole rows so that the
     * compiler vectorises across the outputs. */
    if (sigma_y > 0) {
        ck_gauss_kernel(sigma_y, ry, kern);
        for (size_t y = 0; y < h; y++) {
            double *o = tmp + y * w;
            for (size_t x = 0; x < w; x++) o[x] = 0;
            for (size_t k = 0; k <= 2 * ry; k++) {
                const double *src = data + ck_reflect((long)y + (long)k - (long)ry, h) * w;
                const double wk = kern[k];
                for (size_t x = 0; x < w; x++) o[x] += wk * src[x];
            }
        }
        memcpy(data, tmp, h * w * sizeof(double));
    }
    if (sigma_x > 0) {
        ck_gauss_kernel(sigma_x, rx, kern);
        for (size_t y = 0; y < h; y++) {
            double *row = data + y * w;
            for (long i = -(long)rx; i < (long)(w + rx); i++) line[i + (long)rx] = row[ck_reflect(i, w)];
            for (size_t x = 0; x < w; x++) row[x] = 0;
            for (size_t k = 0; k <= 2 * rx; k++) {
                const double wk = kern[k];
                const double *l = line + k;
                for (size_t x = 0; x < w; x++) row[x] += wk * l[x];
            }
        }
    }
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
