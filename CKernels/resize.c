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

void ck_f32_resize_aa_normalize_hwc(size_t in_h, size_t in_w, size_t channels, const float *in,
                                    size_t out_h, size_t out_w, const float *mean,
                                    const float *std, float *scratch, float *out) {
    const size_t C = channels;
    float w[CK_AA_CACHED_TAPS];
    /* Along the width: in (in_h x in_w) -> scratch (in_h x out_w). Row by row with every
     * column's taps in a table, so that the input is read in order once. */
    size_t taps = 0;
    if (out_w <= CK_AA_TABLE_COLUMNS)
        for (size_t ox = 0; ox < out_w; ox++) {
            const ck_aa_axis a = ck_aa_setup(ox, in_w, out_w);
            if ((size_t)(a.hi - a.lo) > taps) taps = (size_t)(a.hi - a.lo);
        }
    /* A grey image replicated to three channels (every pixel R == G == B) is resized once:
     * the channel sums are the same operations on the same values, so the result is identical. */
    int grey = C == 3 && in_h * in_w > 0;
    for (size_t p = 0; grey && p < in_h * in_w; p++)
        grey = in[3 * p] == in[3 * p + 1] && in[3 * p] == in[3 * p + 2];
    if (out_w <= CK_AA_TABLE_COLUMNS && taps > 0 && out_w * taps <= CK_AA_TABLE_WEIGHTS && grey) {
        float table[CK_AA_TABLE_WEIGHTS];
        long lo[CK_AA_TABLE_COLUMNS];
        ck_aa_tables(in_w, out_w, taps, table, lo);
        /* Width: channel 0 only, into scratch as in_h x out_w. */
        for (size_t y = 0; y < in_h; y++) {
            const float *row = in + y * in_w * 3;
            float *srow = scratch + y * out_w;
            for (size_t ox = 0; ox < out_w; ox++) {
                const float *wt = table + ox * taps, *p = row + (size_t)lo[ox] * 3;
                float acc = 0.0f;
                for (size_t t = 0; t < taps; t++) acc += wt[t] * p[t * 3];
                srow[ox] = acc;
            }
        }
        /* Height: one channel into the first out_w floats of the row, then spread backwards
         * into the three channels (3x >= x: nothing is overwritten before it is read). */
        for (size_t oy = 0; oy < out_h; oy++) {
            const ck_aa_axis a = ck_aa_setup(oy, in_h, out_h);
            float *orow = out + oy * out_w * 3;
            for (size_t x = 0; x < out_w; x++) orow[x] = 0.0f;
            for (long j = a.lo; j < a.hi; j++) {
                const float wj = ck_aa_weight(&a, j) / a.total;
                const float *srow = scratch + (size_t)j * out_w;
                for (size_t x = 0; x < out_w; x++) orow[x] += wj * srow[x];
            }
            for (size_t x = out_w; x-- > 0;) {
                const float v = orow[x];
                for (size_t c = 0; c < 3; c++) orow[x * 3 + c] = (v - mean[c]) / std[c];
            }
        }
        return;
    }
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
