/* conv.c — im2col for dense convolutions over NHWC images (the stem). */
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
