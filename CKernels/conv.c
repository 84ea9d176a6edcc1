/* conv.c — im2col for dense convolutions over NHWC images (the stem). */
#include "ckernels.h"
#include <string.h>

void ck_f32_im2col_nhwc(const ck_conv2d_geom *g, const float *in, float *col) {
    ck_f32_im2col_rows_nhwc(g, in, col, 0, g->out_h);
}

void ck_f32_im2col_rows_nhwc(const ck_conv2d_geom *g, const float *in, float *col, size_t oy0,
                             size_t oy1) {
    const size_t k = g->kernel, s = g->stride, C = g->channels;
    const size_t row_len = k * k * C;
    for (size_t oy = oy0; oy < oy1 && oy < g->out_h; oy++) {
        for (size_t ox = 0; ox < g->out_w; ox++) {
            float *dst = col + ((oy - oy0) * g->out_w + ox) * row_len;
            for (size_t ky = 0; ky < k; ky++) {
                long iy = (long)(oy * s + ky) - (long)g->pad_top;
                for (size_t kx = 0; kx < k; kx++) {
                    long ix = (long)(ox * s + kx) - (long)g->pad_left;
                    float *d = dst + (ky * k + kx) * C;
                    if (iy < 0 || iy >= (long)g->in_h || ix < 0 || ix >= (long)g->in_w)
                        memset(d, 0, C * sizeof(float));
                    else
                        memcpy(d, in + ((size_t)iy * g->in_w + (size_t)ix) * C, C * sizeof(float));
                }
            }
        }
    }
}
