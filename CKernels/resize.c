/* resize.c — antialiased bilinear resize (docs/METHOD.md 1.2) and per-channel normalisation. */
#include "ckernels.h"

/*
 * Taps of output index i along an axis n -> m, computed on the fly (no tap limit). The
 * arithmetic reproduces PyTorch's float32 path term by term (scale, support and the weights in
 * float, center rounded from double), because the float rounding of `center` near large
 * coordinates moves the weights by ~1e-5, which is above the parity tolerance.
 */
typedef struct ck_aa_axis {
    float center, invscale, total;
    long lo, hi;
} ck_aa_axis;

static inline float ck_aa_weight(const ck_aa_axis *a, long j) {
    float x = (float)(((double)((float)j - a->center) + 0.5) * (double)a->invscale);
    if (x < 0.0f) x = -x;
    return x < 1.0f ? 1.0f - x : 0.0f;
}

static ck_aa_axis ck_aa_setup(size_t i, size_t n, size_t m) {
    ck_aa_axis a;
    const float scale = (float)n / (float)m;
    const float support = scale >= 1.0f ? scale : 1.0f;
    a.invscale = scale >= 1.0f ? (float)(1.0 / (double)scale) : 1.0f;
    a.center = (float)((double)scale * ((double)i + 0.5));
    a.lo = (long)((double)(a.center - support) + 0.5);
    a.hi = (long)((double)(a.center + support) + 0.5);
    if (a.lo < 0) a.lo = 0;
    if (a.hi > (long)n) a.hi = (long)n;
    a.total = 0.0f;
    for (long j = a.lo; j < a.hi; j++) a.total += ck_aa_weight(&a, j);
    if (a.total == 0.0f) a.total = 1.0f;
    return a;
}

/* Normalised weights of one output index; cached on the stack when they fit. */
#define CK_AA_CACHED_TAPS 256

static inline void ck_aa_fill(const ck_aa_axis *a, float *w) {
    for (long j = a->lo; j < a->hi; j++) w[j - a->lo] = ck_aa_weight(a, j) / a->total;
}

void ck_f32_resize_aa_normalize_hwc(size_t in_h, size_t in_w, size_t channels, const float *in,
                                    size_t out_h, size_t out_w, const float *mean,
                                    const float *std, float *scratch, float *out) {
    const size_t C = channels;
    float w[CK_AA_CACHED_TAPS];
    /* Along the width: in (in_h x in_w) -> scratch (in_h x out_w). */
    for (size_t ox = 0; ox < out_w; ox++) {
        const ck_aa_axis a = ck_aa_setup(ox, in_w, out_w);
        const int cached = a.hi - a.lo <= CK_AA_CACHED_TAPS;
        if (cached) ck_aa_fill(&a, w);
        for (size_t y = 0; y < in_h; y++) {
            for (size_t c = 0; c < C; c++) {
                float acc = 0.0f;
                for (long j = a.lo; j < a.hi; j++)
                    acc += (cached ? w[j - a.lo] : ck_aa_weight(&a, j) / a.total) *
                           in[(y * in_w + (size_t)j) * C + c];
                scratch[(y * out_w + ox) * C + c] = acc;
            }
        }
    }
    /* Along the height: scratch (in_h x out_w) -> out (out_h x out_w), then normalise. */
    for (size_t oy = 0; oy < out_h; oy++) {
        const ck_aa_axis a = ck_aa_setup(oy, in_h, out_h);
        const int cached = a.hi - a.lo <= CK_AA_CACHED_TAPS;
        if (cached) ck_aa_fill(&a, w);
        for (size_t x = 0; x < out_w; x++) {
            for (size_t c = 0; c < C; c++) {
                float acc = 0.0f;
                for (long j = a.lo; j < a.hi; j++)
                    acc += (cached ? w[j - a.lo] : ck_aa_weight(&a, j) / a.total) *
                           scratch[((size_t)j * out_w + x) * C + c];
                out[(oy * out_w + x) * C + c] = (acc - mean[c]) / std[c];
            }
        }
    }
}
