/* resize.c — antialiased bilinear resize (METHOD.md 1.2) and per-channel normalisation. */
#include "ckernels.h"

/*
 * Taps of output index i along an axis n -> m. The arithmetic reproduces PyTorch's float32
 * path term by term (scale, support and the weights in float, center rounded from double),
 * because the float rounding of `center` near large coordinates moves the weights by ~1e-5,
 * which is above the parity tolerance.
 */
static size_t ck_aa_taps(size_t i, size_t n, size_t m, long *first, float *wts, size_t max_taps) {
    const float scale = (float)n / (float)m;
    const float support = scale >= 1.0f ? scale : 1.0f;
    const float invscale = scale >= 1.0f ? (float)(1.0 / (double)scale) : 1.0f;
    const float center = (float)((double)scale * ((double)i + 0.5));
    long lo = (long)((double)(center - support) + 0.5);
    long hi = (long)((double)(center + support) + 0.5);
    if (lo < 0) lo = 0;
    if (hi > (long)n) hi = (long)n;
    size_t count = 0;
    float total = 0.0f;
    for (long j = lo; j < hi && count < max_taps; j++, count++) {
        float x = (float)(((double)((float)j - center) + 0.5) * (double)invscale);
        if (x < 0.0f) x = -x;
        wts[count] = x < 1.0f ? 1.0f - x : 0.0f;
        total += wts[count];
    }
    if (total != 0.0f)
        for (size_t t = 0; t < count; t++) wts[t] /= total;
    *first = lo;
    return count;
}

#define CK_MAX_TAPS 4096

void ck_f32_resize_aa_normalize_hwc(size_t in_h, size_t in_w, size_t channels, const float *in,
                                    size_t out_h, size_t out_w, const float *mean,
                                    const float *std, float *scratch, float *out) {
    float wts[CK_MAX_TAPS];
    const size_t C = channels;
    /* Along the width: in (in_h x in_w) -> scratch (in_h x out_w). */
    for (size_t ox = 0; ox < out_w; ox++) {
        long first;
        size_t count = ck_aa_taps(ox, in_w, out_w, &first, wts, CK_MAX_TAPS);
        for (size_t y = 0; y < in_h; y++) {
            for (size_t c = 0; c < C; c++) {
                float acc = 0.0f;
                for (size_t t = 0; t < count; t++)
                    acc += wts[t] * in[(y * in_w + (size_t)first + t) * C + c];
                scratch[(y * out_w + ox) * C + c] = acc;
            }
        }
    }
    /* Along the height: scratch (in_h x out_w) -> out (out_h x out_w), then normalise. */
    for (size_t oy = 0; oy < out_h; oy++) {
        long first;
        size_t count = ck_aa_taps(oy, in_h, out_h, &first, wts, CK_MAX_TAPS);
        for (size_t x = 0; x < out_w; x++) {
            for (size_t c = 0; c < C; c++) {
                float acc = 0.0f;
                for (size_t t = 0; t < count; t++)
                    acc += wts[t] * scratch[(((size_t)first + t) * out_w + x) * C + c];
                out[(oy * out_w + x) * C + c] = (acc - mean[c]) / std[c];
            }
        }
    }
}
