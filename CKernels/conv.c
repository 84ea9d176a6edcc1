/* conv.c — the copies a dense convolution over NHWC images makes for its GEMM: im2col rows,
 * and for few-channel inputs (the stems) one output row's input rows interleaved by column. */
#include <string.h>
#include "ckernels.h"

void ck_f32_im2col_nhwc(const ck_conv2d_geom *g, const float *in, float *col) {
    ck_f32_im2col_rows_nhwc(g, in, col, 0, g->out_h);
}

void ck_f32_im2col_rows_nhwc(const ck_conv2d_geom *g, const float *in, float *col, size_t oy0,
                             size_t oy1) {
    const size_t k = g->kernel, s = g->stride, C = g->channels, W = g->in_w;
    const size_t row_len = k * k * C, seg = k * C;
    for (size_t oy = oy0; oy < oy1 && oy < g->out_h; oy++) {
        for (size_t ox = 0; ox < g->out_w; ox++) {
            float *dst = col + ((oy - oy0) * g->out_w + ox) * row_len;
            const long ix0 = (long)(ox * s) - (long)g->pad_left;
            const int inside_x = ix0 >= 0 && ix0 + (long)k <= (long)W;
            for (size_t ky = 0; ky < k; ky++, dst += seg) {
                const long iy = (long)(oy * s + ky) - (long)g->pad_top;
                if (iy < 0 || iy >= (long)g->in_h) {
                    for (size_t j = 0; j < seg; j++) dst[j] = 0.f;
                } else if (inside_x) {
                    /* The k taps of this row are k * C contiguous floats: one plain copy loop
                     * (small C, as in a stem, makes memcpy calls per tap the cost). */
                    const float *src = in + ((size_t)iy * W + (size_t)ix0) * C;
                    /* Copies of a size known here (the 3-channel stems: k 3 and 7) compile to
                     * a few vector moves, where the general loop costs more than the copy. */
                    if (seg == 9) memcpy(dst, src, 9 * sizeof(float));
                    else if (seg == 21) memcpy(dst, src, 21 * sizeof(float));
                    else for (size_t j = 0; j < seg; j++) dst[j] = src[j];
                } else {
                    for (size_t kx = 0; kx < k; kx++) {
                        const long ix = ix0 + (long)kx;
                        float *d = dst + kx * C;
                        if (ix < 0 || ix >= (long)W) {
                            for (size_t c = 0; c < C; c++) d[c] = 0.f;
                        } else {
                            const float *src = in + ((size_t)iy * W + (size_t)ix) * C;
                            for (size_t c = 0; c < C; c++) d[c] = src[c];
                        }
                    }
                }
            }
        }
    }
}

size_t ck_conv_interleaved_width(const ck_conv2d_geom *g) {
    return g->out_w == 0 ? 0 : (g->out_w - 1) * g->stride + g->kernel;
}

/* Kernel rows whose pointers are resolved once per output row; larger kernels resolve them per
 * slot. */
#define CK_INTERLEAVE_KMAX 16

/* Input row oy * s + ky - pad_top of the image, or NULL outside it. */
static inline const float *interleave_row(const ck_conv2d_geom *g, const float *in, size_t oy, size_t ky) {
    const long iy = (long)(oy * g->stride + ky) - (long)g->pad_top;
    return iy >= 0 && iy < (long)g->in_h ? in + (size_t)iy * g->in_w * g->channels : NULL;
}

/* One column's k slots of C floats at d from pixel ix of the k rows (NULL rows read 0). */
static inline void interleave_column(const float *const *rows, size_t k, size_t C, size_t ix, float *d) {
    for (size_t ky = 0; ky < k; ky++, d += C) {
        if (!rows[ky]) for (size_t c = 0; c < C; c++) d[c] = 0.f;
        else for (size_t c = 0; c < C; c++) d[c] = rows[ky][ix * C + c];
    }
}

void ck_f32_conv_interleave_row_nhwc(const ck_conv2d_geom *g, const float *in, float *x, size_t oy) {
    const size_t k = g->kernel, C = g->channels, W = g->in_w, slot = k * C;
    const size_t pw = ck_conv_interleaved_width(g);
    /* Columns [px0, px1) lie inside the image; the others are padding. */
    const size_t px0 = g->pad_left < pw ? g->pad_left : pw;
    const size_t px1 = g->pad_left + W < pw ? g->pad_left + W : pw;
    memset(x, 0, px0 * slot * sizeof(float));
    memset(x + px1 * slot, 0, (pw - px1) * slot * sizeof(float));
    if (px0 >= px1) return;
    float *d = x + px0 * slot;
    if (k > CK_INTERLEAVE_KMAX) {
        for (size_t px = px0; px < px1; px++)
            for (size_t ky = 0; ky < k; ky++, d += C) {
                const float *row = interleave_row(g, in, oy, ky);
                for (size_t c = 0; c < C; c++) d[c] = row ? row[(px - g->pad_left) * C + c] : 0.f;
            }
        return;
    }
    const float *rows[CK_INTERLEAVE_KMAX];
    for (size_t ky = 0; ky < k; ky++) rows[ky] = interleave_row(g, in, oy, ky);
    size_t px = px0;
    if (C == 3) {
        /* Slot after slot, each written after the one before it: a 4-float move (one vector
         * move) whose fourth float the next slot overwrites, while that float lies inside the
         * row (not for the row's last pixel) and the next slot is inside x (not the last). */
        const size_t fast_end = px1 - 1;
        for (; px < fast_end; px++) {
            const size_t ix = px - g->pad_left;
            for (size_t ky = 0; ky < k; ky++, d += 3) {
                if (rows[ky]) memcpy(d, rows[ky] + ix * 3, 4 * sizeof(float));
                else memset(d, 0, 3 * sizeof(float));
            }
        }
    }
    for (; px < px1; px++, d += slot) interleave_column(rows, k, C, px - g->pad_left, d);
}
