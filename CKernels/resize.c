/* resize.c — antialiased bilinear resize (docs/METHOD.md 1.2) and per-channel normalisation. */
#include "ckernels.h"
#if defined(__SSE2__)
#include <immintrin.h>
#endif

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

/* Tap tables of the width pass kept on the stack (all output columns at once) up to this many
 * weights; a larger resize computes each column's taps as it goes. */
#define CK_AA_TABLE_WEIGHTS 8192
#define CK_AA_TABLE_COLUMNS 1024

/* The width pass's taps of every output column, `taps` each: a column's window moved left
 * where it would pass the image's last column, the extra taps weighted 0 (adding 0 * x leaves
 * each sum as it was), so that columns can be summed side by side as independent chains. */
static void ck_aa_tables(size_t in_w, size_t out_w, size_t taps, float *table, long *lo) {
    for (size_t ox = 0; ox < out_w; ox++) {
        const ck_aa_axis a = ck_aa_setup(ox, in_w, out_w);
        long start = a.lo;
        if (start + (long)taps > (long)in_w) start = (long)in_w - (long)taps;
        lo[ox] = start;
        float *wt = table + ox * taps;
        for (size_t t = 0; t < taps; t++) wt[t] = 0.0f;
        ck_aa_fill(&a, wt + (a.lo - start));
    }
}

/* row[x * 3 + c] = (row[x] - mean[c]) / std[c] for x < n, in place: the one-channel values in
 * the first n floats of the row spread into three normalised channels, backwards (3x >= x:
 * nothing is overwritten before it is read). Four pixels at a time where SSE2 (the x86-64
 * baseline) is there: the same IEEE subtractions and divisions, so the same values. */
static void ck_aa_spread_rgb(float *row, size_t n, const float *mean, const float *std) {
    size_t x = n;
#if defined(__SSE2__)
    const __m128 m0 = _mm_setr_ps(mean[0], mean[1], mean[2], mean[0]), s0 = _mm_setr_ps(std[0], std[1], std[2], std[0]);
    const __m128 m1 = _mm_setr_ps(mean[1], mean[2], mean[0], mean[1]), s1 = _mm_setr_ps(std[1], std[2], std[0], std[1]);
    const __m128 m2 = _mm_setr_ps(mean[2], mean[0], mean[1], mean[2]), s2 = _mm_setr_ps(std[2], std[0], std[1], std[2]);
    while (x % 4 != 0) {
        x--;
        const float v = row[x];
        for (size_t c = 0; c < 3; c++) row[x * 3 + c] = (v - mean[c]) / std[c];
    }
    while (x >= 4) {
        x -= 4;
        const __m128 v = _mm_loadu_ps(row + x); /* pixels x..x+3, read before their 12 floats are written */
        const __m128 a = _mm_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 0, 0));
        const __m128 b = _mm_shuffle_ps(v, v, _MM_SHUFFLE(2, 2, 1, 1));
        const __m128 c = _mm_shuffle_ps(v, v, _MM_SHUFFLE(3, 3, 3, 2));
        _mm_storeu_ps(row + x * 3 + 8, _mm_div_ps(_mm_sub_ps(c, m2), s2));
        _mm_storeu_ps(row + x * 3 + 4, _mm_div_ps(_mm_sub_ps(b, m1), s1));
        _mm_storeu_ps(row + x * 3, _mm_div_ps(_mm_sub_ps(a, m0), s0));
    }
#endif
    while (x-- > 0) {
        const float v = row[x];
        for (size_t c = 0; c < 3; c++) row[x * 3 + c] = (v - mean[c]) / std[c];
    }
}

/* A grey plane (every in_stride-th float of `in`) resized and written as three normalised
 * channels: the width pass of one channel into scratch (in_h x out_w), the height pass into
 * the first out_w floats of each output row, then spread backwards into the three channels
 * (3x >= x: nothing is overwritten before it is read). The same sums, in the same order, as
 * the three-channel path gives each channel of a grey image. Returns 0 (and writes nothing)
 * where the width taps do not fit the stack tables. */
static int ck_aa_grey_to_rgb(size_t in_h, size_t in_w, size_t in_stride, const float *in, size_t out_h,
                             size_t out_w, size_t taps, const float *mean, const float *std, float *scratch,
                             float *out) {
    if (out_w > CK_AA_TABLE_COLUMNS || taps == 0 || out_w * taps > CK_AA_TABLE_WEIGHTS) return 0;
    float table[CK_AA_TABLE_WEIGHTS];
    long lo[CK_AA_TABLE_COLUMNS];
    ck_aa_tables(in_w, out_w, taps, table, lo);
    for (size_t y = 0; y < in_h; y++) {
        const float *row = in + y * in_w * in_stride;
        float *srow = scratch + y * out_w;
        size_t ox = 0;
#if defined(__SSE2__)
        /* Four columns side by side, each its own sum in tap order (the same values as one at a
         * time, without waiting on one chain of additions). */
        for (; ox + 4 <= out_w; ox += 4) {
            const float *w0 = table + ox * taps, *w1 = w0 + taps, *w2 = w1 + taps, *w3 = w2 + taps;
            const float *p0 = row + (size_t)lo[ox] * in_stride, *p1 = row + (size_t)lo[ox + 1] * in_stride;
            const float *p2 = row + (size_t)lo[ox + 2] * in_stride, *p3 = row + (size_t)lo[ox + 3] * in_stride;
            __m128 acc = _mm_setzero_ps();
            for (size_t t = 0; t < taps; t++) {
                const size_t i = t * in_stride;
                acc = _mm_add_ps(acc, _mm_mul_ps(_mm_setr_ps(w0[t], w1[t], w2[t], w3[t]), _mm_setr_ps(p0[i], p1[i], p2[i], p3[i])));
            }
            _mm_storeu_ps(srow + ox, acc);
        }
#endif
        for (; ox < out_w; ox++) {
            const float *wt = table + ox * taps, *p = row + (size_t)lo[ox] * in_stride;
            float acc = 0.0f;
            for (size_t t = 0; t < taps; t++) acc += wt[t] * p[t * in_stride];
            srow[ox] = acc;
        }
    }
    for (size_t oy = 0; oy < out_h; oy++) {
        const ck_aa_axis a = ck_aa_setup(oy, in_h, out_h);
        float *orow = out + oy * out_w * 3;
        for (size_t x = 0; x < out_w; x++) orow[x] = 0.0f;
        for (long j = a.lo; j < a.hi; j++) {
            const float wj = ck_aa_weight(&a, j) / a.total;
            const float *srow = scratch + (size_t)j * out_w;
            for (size_t x = 0; x < out_w; x++) orow[x] += wj * srow[x];
        }
        ck_aa_spread_rgb(orow, out_w, mean, std);
    }
    return 1;
}

/* Width taps of an in_w -> out_w resize: the widest window, or 0 past the stack tables. */
static size_t ck_aa_width_taps(size_t in_w, size_t out_w) {
    size_t taps = 0;
    if (out_w <= CK_AA_TABLE_COLUMNS)
        for (size_t ox = 0; ox < out_w; ox++) {
            const ck_aa_axis a = ck_aa_setup(ox, in_w, out_w);
            if ((size_t)(a.hi - a.lo) > taps) taps = (size_t)(a.hi - a.lo);
        }
    return taps;
}

void ck_f32_resize_aa_grey_to_rgb(size_t in_h, size_t in_w, const float *in, size_t out_h, size_t out_w,
                                  const float *mean, const float *std, float *scratch, float *out) {
    if (ck_aa_grey_to_rgb(in_h, in_w, 1, in, out_h, out_w, ck_aa_width_taps(in_w, out_w), mean, std, scratch, out))
        return;
    /* Past the stack tables (extreme downscales): the general path on one channel, then spread. */
    const float zero = 0.0f, one = 1.0f;
    ck_f32_resize_aa_normalize_hwc(in_h, in_w, 1, in, out_h, out_w, &zero, &one, scratch, out);
    ck_aa_spread_rgb(out, out_h * out_w, mean, std);
}

void ck_f32_resize_aa_normalize_hwc(size_t in_h, size_t in_w, size_t channels, const float *in,
                                    size_t out_h, size_t out_w, const float *mean,
                                    const float *std, float *scratch, float *out) {
    const size_t C = channels;
    float w[CK_AA_CACHED_TAPS];
    /* Along the width: in (in_h x in_w) -> scratch (in_h x out_w). Row by row with every
     * column's taps in a table, so that the input is read in order once. */
    const size_t taps = ck_aa_width_taps(in_w, out_w);
    /* A grey image replicated to three channels (every pixel R == G == B) is resized once:
     * the channel sums are the same operations on the same values, so the result is identical. */
    int grey = C == 3 && in_h * in_w > 0;
    for (size_t p = 0; grey && p < in_h * in_w; p++)
        grey = in[3 * p] == in[3 * p + 1] && in[3 * p] == in[3 * p + 2];
    if (grey && ck_aa_grey_to_rgb(in_h, in_w, 3, in, out_h, out_w, taps, mean, std, scratch, out)) return;
    if (out_w <= CK_AA_TABLE_COLUMNS && taps > 0 && out_w * taps <= CK_AA_TABLE_WEIGHTS) {
        float table[CK_AA_TABLE_WEIGHTS];
        long lo[CK_AA_TABLE_COLUMNS];
        size_t count[CK_AA_TABLE_COLUMNS];
        ck_aa_tables(in_w, out_w, taps, table, lo);
        for (size_t ox = 0; ox < out_w; ox++) count[ox] = taps;
        for (size_t y = 0; y < in_h; y++) {
            const float *row = in + y * in_w * C;
            float *srow = scratch + y * out_w * C;
            size_t ox = 0;
            if (C == 3)
                for (; ox + 4 <= out_w; ox += 4) {
                    float acc[4][3] = {{0.0f}};
                    const float *p[4];
                    for (int q = 0; q < 4; q++) p[q] = row + (size_t)lo[ox + q] * 3;
                    for (size_t t = 0; t < taps; t++)
                        for (int q = 0; q < 4; q++) {
                            const float wq = table[(ox + q) * taps + t];
                            for (int c = 0; c < 3; c++) acc[q][c] += wq * p[q][t * 3 + c];
                        }
                    for (int q = 0; q < 4; q++)
                        for (int c = 0; c < 3; c++) srow[(ox + q) * 3 + c] = acc[q][c];
                }
            for (; ox < out_w; ox++) {
                const float *wt = table + ox * taps, *p = row + (size_t)lo[ox] * C;
                for (size_t c = 0; c < C; c++) {
                    float acc = 0.0f;
                    for (size_t t = 0; t < count[ox]; t++) acc += wt[t] * p[t * C + c];
                    srow[ox * C + c] = acc;
                }
            }
        }
    } else {
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
    }
    /* Along the height: scratch (in_h x out_w) -> out (out_h x out_w), then normalise. Each
     * output row accumulates whole scratch rows (the same sums, in the same order, per value). */
    const size_t rowf = out_w * C;
    for (size_t oy = 0; oy < out_h; oy++) {
        const ck_aa_axis a = ck_aa_setup(oy, in_h, out_h);
        float *orow = out + oy * rowf;
        for (size_t i = 0; i < rowf; i++) orow[i] = 0.0f;
        for (long j = a.lo; j < a.hi; j++) {
            const float wj = ck_aa_weight(&a, j) / a.total;
            const float *srow = scratch + (size_t)j * rowf;
            for (size_t i = 0; i < rowf; i++) orow[i] += wj * srow[i];
        }
        for (size_t x = 0; x < out_w; x++)
            for (size_t c = 0; c < C; c++) orow[x * C + c] = (orow[x * C + c] - mean[c]) / std[c];
    }
}
