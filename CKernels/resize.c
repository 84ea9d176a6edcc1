/* resize.c — antialiased bilinear resize (METHOD.md 1.2) and per-channel normalisation. */
#include "ckernels.h"
#include <math.h>

/* Taps of output index i along an axis n -> m: first tap index, count, and weights. */
static size_t ck_aa_taps(size_t i, size_t n, size_t m, long *first, double *wts, size_t max_taps) {
    const double scale = (double)n / (double)m;
    const double support = scale > 1.0 ? scale : 1.0;
    const double center = ((double)i + 0.5) * scale;
    long lo = (long)floor(center - support + 0.5);
    long hi = (long)floor(center + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > (long)n) hi = (long)n;
    size_t count = 0;
    double total = 0.0;
    for (long j = lo; j < hi && count < max_taps; j++, count++) {
        double t = 1.0 - fabs(((double)j - center + 0.5) / support);
        wts[count] = t > 0.0 ? t : 0.0;
        total += wts[count];
    }
    if (total > 0.0)
        for (size_t t = 0; t < count; t++) wts[t] /= total;
    *first = lo;
    return count;
}

#define CK_MAX_TAPS 4096

void ck_f32_resize_aa_normalize_hwc(size_t in_h, size_t in_w, size_t channels, const float *in,
                                    size_t out_h, size_t out_w, const float *mean,
                                    const float *std, float *scratch, float *out) {
    double wts[CK_MAX_TAPS];
    const size_t C = channels;
    /* Along the width: in (in_h x in_w) -> scratch (in_h x out_w). */
    for (size_t ox = 0; ox < out_w; ox++) {
        long first;
        size_t count = ck_aa_taps(ox, in_w, out_w, &first, wts, CK_MAX_TAPS);
        for (size_t y = 0; y < in_h; y++) {
            for (size_t c = 0; c < C; c++) {
                double acc = 0.0;
                for (size_t t = 0; t < count; t++)
                    acc += wts[t] * in[(y * in_w + (size_t)first + t) * C + c];
                scratch[(y * out_w + ox) * C + c] = (float)acc;
            }
        }
    }
    /* Along the height: scratch (in_h x out_w) -> out (out_h x out_w), then normalise. */
    for (size_t oy = 0; oy < out_h; oy++) {
        long first;
        size_t count = ck_aa_taps(oy, in_h, out_h, &first, wts, CK_MAX_TAPS);
        for (size_t x = 0; x < out_w; x++) {
            for (size_t c = 0; c < C; c++) {
                double acc = 0.0;
                for (size_t t = 0; t < count; t++)
                    acc += wts[t] * scratch[(((size_t)first + t) * out_w + x) * C + c];
                out[(oy * out_w + x) * C + c] = (float)((acc - mean[c]) / std[c]);
            }
        }
    }
}
