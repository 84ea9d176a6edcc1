/* winograd.c — Winograd F(2x2, 3x3) transforms for stride-1 3x3 convolutions over NHWC
 * images: the 16 products of a tile become 16 GEMMs (run by the GEMM micro-kernels), 2.25x
 * fewer multiplies than im2col + GEMM. Transforms go over channels in blocks, innermost loops
 * over contiguous channels so that the compiler vectorises them. */
#include "ckernels.h"
#include "dispatch_internal.h"

#define CB 64 /* channels per block of a tile's transform */

void ck_f32_winograd23_weights(size_t cin, size_t cout, const float *w, float *u) {
    /* U = G g G^T per (ci, co), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. */
    for (size_t ci = 0; ci < cin; ci++) {
        for (size_t co = 0; co < cout; co++) {
            double g[3][3], t[4][3];
            for (size_t ky = 0; ky < 3; ky++)
                for (size_t kx = 0; kx < 3; kx++) g[ky][kx] = w[((ky * 3 + kx) * cin + ci) * cout + co];
            for (size_t j = 0; j < 3; j++) {
                t[0][j] = g[0][j];
                t[1][j] = 0.5 * (g[0][j] + g[1][j] + g[2][j]);
                t[2][j] = 0.5 * (g[0][j] - g[1][j] + g[2][j]);
                t[3][j] = g[2][j];
            }
            for (size_t i = 0; i < 4; i++) {
                const double r[4] = {t[i][0], 0.5 * (t[i][0] + t[i][1] + t[i][2]), 0.5 * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
                for (size_t j = 0; j < 4; j++) u[((i * 4 + j) * cin + ci) * cout + co] = (float)r[j];
            }
        }
    }
}

size_t ck_winograd23_tiles_w(const ck_conv2d_geom *g) { return (g->out_w + 1) / 2; }
size_t ck_winograd23_tiles_h(const ck_conv2d_geom *g) { return (g->out_h + 1) / 2; }

/* The transforms are written once as always-inline bodies and compiled three times, for the
 * baseline ISA, AVX2 and AVX-512 (ck_dispatch_init picks one): the channel loops vectorise to
 * the widest registers of each. */
static inline __attribute__((always_inline)) void winograd23_input(const ck_conv2d_geom *g, const float *in, size_t ty0,
                                                                   size_t ty1, float *v, size_t ld) {
    const size_t C = g->channels, W = g->in_w, H = g->in_h, tw = ck_winograd23_tiles_w(g);
    const size_t stride = ld * C; /* floats between two of the 16 matrices */
    float d[16][CB];
    for (size_t ty = ty0; ty < ty1; ty++) {
        for (size_t tx = 0; tx < tw; tx++) {
            const long y0 = (long)(2 * ty) - (long)g->pad_top, x0 = (long)(2 * tx) - (long)g->pad_left;
            float *dst = v + ((ty - ty0) * tw + tx) * C;
            for (size_t c0 = 0; c0 < C; c0 += CB) {
                const size_t n = C - c0 < CB ? C - c0 : CB;
                for (size_t p = 0; p < 16; p++) {
                    const long y = y0 + (long)(p / 4), x = x0 + (long)(p % 4);
                    if (y < 0 || y >= (long)H || x < 0 || x >= (long)W) {
                        for (size_t c = 0; c < n; c++) d[p][c] = 0.f;
                    } else {
                        const float *src = in + ((size_t)y * W + (size_t)x) * C + c0;
                        for (size_t c = 0; c < n; c++) d[p][c] = src[c];
                    }
                }
                /* V = B^T d B, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
                for (size_t c = 0; c < n; c++) {
                    float t[4][4];
                    for (size_t j = 0; j < 4; j++) {
                        t[0][j] = d[j][c] - d[8 + j][c];
                        t[1][j] = d[4 + j][c] + d[8 + j][c];
                        t[2][j] = d[8 + j][c] - d[4 + j][c];
                        t[3][j] = d[4 + j][c] - d[12 + j][c];
                    }
                    for (size_t i = 0; i < 4; i++) {
                        float *o = dst + c0 + c + i * 4 * stride;
                        o[0] = t[i][0] - t[i][2];
                        o[stride] = t[i][1] + t[i][2];
                        o[2 * stride] = t[i][2] - t[i][1];
                        o[3 * stride] = t[i][1] - t[i][3];
                    }
                }
            }
        }
    }
}

/* out = act(y + residual) over n channels, the activation chosen outside the loops. */
static inline __attribute__((always_inline)) void winograd23_store(const float *y, const float *r, float *o, size_t n,
                                                                   ck_act act) {
    switch (act) {
    case CK_ACT_NONE:
        for (size_t c = 0; c < n; c++) o[c] = y[c] + (r ? r[c] : 0.f);
        break;
    case CK_ACT_RELU:
        for (size_t c = 0; c < n; c++) { const float v = y[c] + (r ? r[c] : 0.f); o[c] = v < 0.f ? 0.f : v; }
        break;
    case CK_ACT_RELU6:
        for (size_t c = 0; c < n; c++) { const float v = y[c] + (r ? r[c] : 0.f); o[c] = v < 0.f ? 0.f : (v > 6.f ? 6.f : v); }
        break;
    default:
        for (size_t c = 0; c < n; c++) o[c] = ck_act_scalar(y[c] + (r ? r[c] : 0.f), act);
    }
}

static inline __attribute__((always_inline)) void winograd23_output(const ck_conv2d_geom *g, size_t cout, const float *m,
                                                                    size_t ld, size_t ty0, size_t ty1, const float *bias,
                                                                    const float *residual, float *out, ck_act act) {
    const size_t tw = ck_winograd23_tiles_w(g), OW = g->out_w, OH = g->out_h;
    const size_t stride = ld * cout;
    float y[4][CB];
    for (size_t ty = ty0; ty < ty1; ty++) {
        for (size_t tx = 0; tx < tw; tx++) {
            const float *src = m + ((ty - ty0) * tw + tx) * cout;
            for (size_t c0 = 0; c0 < cout; c0 += CB) {
                const size_t n = cout - c0 < CB ? cout - c0 : CB;
                /* Y = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1]. */
                for (size_t c = 0; c < n; c++) {
                    float s[2][4];
                    const float *q = src + c0 + c;
                    for (size_t j = 0; j < 4; j++) {
                        const float m0 = q[j * stride], m1 = q[(4 + j) * stride], m2 = q[(8 + j) * stride], m3 = q[(12 + j) * stride];
                        s[0][j] = m0 + m1 + m2;
                        s[1][j] = m1 - m2 - m3;
                    }
                    const float b = bias ? bias[c0 + c] : 0.f;
                    y[0][c] = s[0][0] + s[0][1] + s[0][2] + b;
                    y[1][c] = s[0][1] - s[0][2] - s[0][3] + b;
                    y[2][c] = s[1][0] + s[1][1] + s[1][2] + b;
                    y[3][c] = s[1][1] - s[1][2] - s[1][3] + b;
                }
                for (size_t p = 0; p < 4; p++) {
                    const size_t oy = 2 * ty + p / 2, ox = 2 * tx + p % 2;
                    if (oy >= OH || ox >= OW) continue;
                    const size_t at = (oy * OW + ox) * cout + c0;
                    winograd23_store(y[p], residual ? residual + at : NULL, out + at, n, act);
                }
            }
        }
    }
}

#define CK_WINOGRAD_VARIANT(SUFFIX, TARGET)                                                            \
    TARGET void ck_f32_winograd23_input__##SUFFIX(const ck_conv2d_geom *g, const float *in, size_t ty0, \
                                                  size_t ty1, float *v, size_t ld) {                   \
        winograd23_input(g, in, ty0, ty1, v, ld);                                                     \
    }                                                                                                 \
    TARGET void ck_f32_winograd23_output__##SUFFIX(const ck_conv2d_geom *g, size_t cout, const float *m, \
                                                   size_t ld, size_t ty0, size_t ty1, const float *bias, \
                                                   const float *residual, float *out, ck_act act) {    \
        winograd23_output(g, cout, m, ld, ty0, ty1, bias, residual, out, act);                        \
    }

CK_WINOGRAD_VARIANT(portable, )
#if CK_X86
CK_WINOGRAD_VARIANT(avx2, CK_TARGET_AVX2)
CK_WINOGRAD_VARIANT(avx512f, CK_TARGET_AVX512)
#endif
