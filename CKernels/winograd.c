/* winograd.c — Winograd F(2x2, 3x3) and F(4x4, 3x3) transforms for stride-1 3x3 convolutions
 * over NHWC images: the 16 (36) products of a tile become 16 (36) GEMMs (run by the GEMM
 * micro-kernels), 2.25x (4x) fewer multiplies than im2col + GEMM. Transforms go over channels
 * in blocks, innermost loops over contiguous channels so that the compiler vectorises them. */
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
/* Gathers a side x side input tile from (y0, x0) on, channels [c0, c0 + n), into d (row-major
 * positions); positions in the padding read 0. */
static inline __attribute__((always_inline)) void winograd_gather(const ck_conv2d_geom *g, const float *in, long y0,
                                                                  long x0, size_t c0, size_t n, size_t side,
                                                                  float (*d)[CB]) {
    const size_t C = g->channels, W = g->in_w, H = g->in_h;
    for (size_t p = 0; p < side * side; p++) {
        const long y = y0 + (long)(p / side), x = x0 + (long)(p % side);
        if (y < 0 || y >= (long)H || x < 0 || x >= (long)W) {
            for (size_t c = 0; c < n; c++) d[p][c] = 0.f;
        } else {
            const float *src = in + ((size_t)y * W + (size_t)x) * C + c0;
            for (size_t c = 0; c < n; c++) d[p][c] = src[c];
        }
    }
}

static inline __attribute__((always_inline)) void winograd23_input(const ck_conv2d_geom *g, const float *in, size_t ty0,
                                                                   size_t ty1, float *v, size_t ld) {
    const size_t C = g->channels, tw = ck_winograd23_tiles_w(g);
    const size_t stride = ld * C; /* floats between two of the 16 matrices */
    float d[16][CB];
    for (size_t ty = ty0; ty < ty1; ty++) {
        for (size_t tx = 0; tx < tw; tx++) {
            const long y0 = (long)(2 * ty) - (long)g->pad_top, x0 = (long)(2 * tx) - (long)g->pad_left;
            float *dst = v + ((ty - ty0) * tw + tx) * C;
            for (size_t c0 = 0; c0 < C; c0 += CB) {
                const size_t n = C - c0 < CB ? C - c0 : CB;
                winograd_gather(g, in, y0, x0, c0, n, 4, d);
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

/* out = act(y + residual) over n channels, the activation and whether there is a residual
 * chosen outside the loops (a select of the residual inside them compiles to masked loads). */
static inline __attribute__((always_inline)) void winograd_store_act(const float *y, const float *r, float *o, size_t n,
                                                                     ck_act act) {
    switch (act) {
    case CK_ACT_NONE:
        for (size_t c = 0; c < n; c++) o[c] = y[c] + r[c];
        break;
    case CK_ACT_RELU:
        for (size_t c = 0; c < n; c++) { const float v = y[c] + r[c]; o[c] = v < 0.f ? 0.f : v; }
        break;
    case CK_ACT_RELU6:
        for (size_t c = 0; c < n; c++) { const float v = y[c] + r[c]; o[c] = v < 0.f ? 0.f : (v > 6.f ? 6.f : v); }
        break;
    default:
        for (size_t c = 0; c < n; c++) o[c] = ck_act_scalar(y[c] + r[c], act);
    }
}

/* CB zeros: the residual or bias of a layer without one, read like the real thing. */
static const float ck_winograd_zeros[CB];

static inline __attribute__((always_inline)) void winograd_store(const float *y, const float *r, float *o, size_t n,
                                                                 ck_act act) {
    if (r) winograd_store_act(y, r, o, n, act);
    else winograd_store_act(y, ck_winograd_zeros, o, n, act);
}

/* Asks for the cache lines of the output tile at (oy0, ox0), side x side pixels, and of its
 * residual: both were last touched layers ago (in L3 or memory), and a tile's pixels lie on
 * side rows that the hardware prefetcher does not follow. */
static inline __attribute__((always_inline)) void winograd_prefetch_tile(const ck_conv2d_geom *g, size_t cout,
                                                                         const float *residual, float *out, size_t oy0,
                                                                         size_t ox0, size_t side) {
    const size_t OW = g->out_w, OH = g->out_h;
    for (size_t dy = 0; dy < side && oy0 + dy < OH; dy++) {
        const size_t w = ox0 + side <= OW ? side : (ox0 < OW ? OW - ox0 : 0);
        const size_t at = ((oy0 + dy) * OW + ox0) * cout, len = w * cout;
        for (size_t c = 0; c < len; c += 16) {
            if (residual) __builtin_prefetch(residual + at + c, 0, 3);
            __builtin_prefetch(out + at + c, 1, 3);
        }
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
            if (tx + 1 < tw) winograd_prefetch_tile(g, cout, residual, out, 2 * ty, 2 * (tx + 1), 2);
            else if (ty + 1 < ty1) winograd_prefetch_tile(g, cout, residual, out, 2 * (ty + 1), 0, 2);
            for (size_t c0 = 0; c0 < cout; c0 += CB) {
                const size_t n = cout - c0 < CB ? cout - c0 : CB;
                const float *bc = bias ? bias + c0 : ck_winograd_zeros;
                /* Y = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1]. */
                for (size_t c = 0; c < n; c++) {
                    float s[2][4];
                    const float *q = src + c0 + c;
                    for (size_t j = 0; j < 4; j++) {
                        const float m0 = q[j * stride], m1 = q[(4 + j) * stride], m2 = q[(8 + j) * stride], m3 = q[(12 + j) * stride];
                        s[0][j] = m0 + m1 + m2;
                        s[1][j] = m1 - m2 - m3;
                    }
                    const float b = bc[c];
                    y[0][c] = s[0][0] + s[0][1] + s[0][2] + b;
                    y[1][c] = s[0][1] - s[0][2] - s[0][3] + b;
                    y[2][c] = s[1][0] + s[1][1] + s[1][2] + b;
                    y[3][c] = s[1][1] - s[1][2] - s[1][3] + b;
                }
                for (size_t p = 0; p < 4; p++) {
                    const size_t oy = 2 * ty + p / 2, ox = 2 * tx + p % 2;
                    if (oy >= OH || ox >= OW) continue;
                    const size_t at = (oy * OW + ox) * cout + c0;
                    winograd_store(y[p], residual ? residual + at : NULL, out + at, n, act);
                }
            }
        }
    }
}

/* F(4x4, 3x3) (Lavin and Gray, interpolation points 0, 1, -1, 2, -2 and infinity). */

void ck_f32_winograd43_weights(size_t cin, size_t cout, const float *w, float *u) {
    /* U = G g G^T per (ci, co), G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
     * 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1], in double and rounded once. */
    static const double G[6][3] = {{0.25, 0, 0},
                                   {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                   {0, 0, 1}};
    for (size_t ci = 0; ci < cin; ci++) {
        for (size_t co = 0; co < cout; co++) {
            double g[3][3], t[6][3];
            for (size_t ky = 0; ky < 3; ky++)
                for (size_t kx = 0; kx < 3; kx++) g[ky][kx] = w[((ky * 3 + kx) * cin + ci) * cout + co];
            for (size_t i = 0; i < 6; i++)
                for (size_t j = 0; j < 3; j++) t[i][j] = G[i][0] * g[0][j] + G[i][1] * g[1][j] + G[i][2] * g[2][j];
            for (size_t i = 0; i < 6; i++)
                for (size_t j = 0; j < 6; j++)
                    u[((i * 6 + j) * cin + ci) * cout + co] = (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
        }
    }
}

size_t ck_winograd43_tiles_w(const ck_conv2d_geom *g) { return (g->out_w + 3) / 4; }
size_t ck_winograd43_tiles_h(const ck_conv2d_geom *g) { return (g->out_h + 3) / 4; }

static inline __attribute__((always_inline)) void winograd43_input(const ck_conv2d_geom *g, const float *in, size_t ty0,
                                                                   size_t ty1, float *v, size_t ld) {
    const size_t C = g->channels, tw = ck_winograd43_tiles_w(g);
    const size_t stride = ld * C;
    float d[36][CB], t[36][CB];
    for (size_t ty = ty0; ty < ty1; ty++) {
        for (size_t tx = 0; tx < tw; tx++) {
            const long y0 = (long)(4 * ty) - (long)g->pad_top, x0 = (long)(4 * tx) - (long)g->pad_left;
            float *dst = v + ((ty - ty0) * tw + tx) * C;
            for (size_t c0 = 0; c0 < C; c0 += CB) {
                const size_t n = C - c0 < CB ? C - c0 : CB;
                winograd_gather(g, in, y0, x0, c0, n, 6, d);
                /* V = B^T d B, B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
                 * 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]: columns, then rows. */
                for (size_t j = 0; j < 6; j++) {
                    for (size_t c = 0; c < n; c++) {
                        const float a0 = d[j][c], a1 = d[6 + j][c], a2 = d[12 + j][c], a3 = d[18 + j][c],
                                    a4 = d[24 + j][c], a5 = d[30 + j][c];
                        t[j][c] = 4.f * a0 - 5.f * a2 + a4;
                        t[6 + j][c] = a3 + a4 - 4.f * (a1 + a2);
                        t[12 + j][c] = a4 - a3 + 4.f * (a1 - a2);
                        t[18 + j][c] = a4 - a2 + 2.f * (a3 - a1);
                        t[24 + j][c] = a4 - a2 + 2.f * (a1 - a3);
                        t[30 + j][c] = 4.f * a1 - 5.f * a3 + a5;
                    }
                }
                for (size_t i = 0; i < 6; i++) {
                    float *o = dst + c0 + i * 6 * stride;
                    for (size_t c = 0; c < n; c++) {
                        const float a0 = t[6 * i][c], a1 = t[6 * i + 1][c], a2 = t[6 * i + 2][c], a3 = t[6 * i + 3][c],
                                    a4 = t[6 * i + 4][c], a5 = t[6 * i + 5][c];
                        o[c] = 4.f * a0 - 5.f * a2 + a4;
                        o[stride + c] = a3 + a4 - 4.f * (a1 + a2);
                        o[2 * stride + c] = a4 - a3 + 4.f * (a1 - a2);
                        o[3 * stride + c] = a4 - a2 + 2.f * (a3 - a1);
                        o[4 * stride + c] = a4 - a2 + 2.f * (a1 - a3);
                        o[5 * stride + c] = 4.f * a1 - 5.f * a3 + a5;
                    }
                }
            }
        }
    }
}

static inline __attribute__((always_inline)) void winograd43_output(const ck_conv2d_geom *g, size_t cout, const float *m,
                                                                    size_t ld, size_t ty0, size_t ty1, const float *bias,
                                                                    const float *residual, float *out, ck_act act) {
    const size_t tw = ck_winograd43_tiles_w(g), OW = g->out_w, OH = g->out_h;
    const size_t stride = ld * cout;
    float s[24][CB], y[16][CB];
    for (size_t ty = ty0; ty < ty1; ty++) {
        for (size_t tx = 0; tx < tw; tx++) {
            const float *src = m + ((ty - ty0) * tw + tx) * cout;
            if (tx + 1 < tw) winograd_prefetch_tile(g, cout, residual, out, 4 * ty, 4 * (tx + 1), 4);
            else if (ty + 1 < ty1) winograd_prefetch_tile(g, cout, residual, out, 4 * (ty + 1), 0, 4);
            for (size_t c0 = 0; c0 < cout; c0 += CB) {
                const size_t n = cout - c0 < CB ? cout - c0 : CB;
                const float *bc = bias ? bias + c0 : ck_winograd_zeros;
                /* Y = A^T M A, A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]:
                 * columns, then rows (bias added once per pixel). */
                for (size_t j = 0; j < 6; j++) {
                    const float *q = src + c0 + j * stride;
                    for (size_t c = 0; c < n; c++) {
                        const float m0 = q[c], m1 = q[6 * stride + c], m2 = q[12 * stride + c], m3 = q[18 * stride + c],
                                    m4 = q[24 * stride + c], m5 = q[30 * stride + c];
                        const float p12 = m1 + m2, d12 = m1 - m2, p34 = m3 + m4, d34 = m3 - m4;
                        s[j][c] = m0 + p12 + p34;
                        s[6 + j][c] = d12 + 2.f * d34;
                        s[12 + j][c] = p12 + 4.f * p34;
                        s[18 + j][c] = d12 + 8.f * d34 + m5;
                    }
                }
                for (size_t r = 0; r < 4; r++) {
                    for (size_t c = 0; c < n; c++) {
                        const float m0 = s[6 * r][c], m1 = s[6 * r + 1][c], m2 = s[6 * r + 2][c], m3 = s[6 * r + 3][c],
                                    m4 = s[6 * r + 4][c], m5 = s[6 * r + 5][c];
                        const float b = bc[c];
                        const float p12 = m1 + m2, d12 = m1 - m2, p34 = m3 + m4, d34 = m3 - m4;
                        y[4 * r][c] = m0 + p12 + p34 + b;
                        y[4 * r + 1][c] = d12 + 2.f * d34 + b;
                        y[4 * r + 2][c] = p12 + 4.f * p34 + b;
                        y[4 * r + 3][c] = d12 + 8.f * d34 + m5 + b;
                    }
                }
                for (size_t p = 0; p < 16; p++) {
                    const size_t oy = 4 * ty + p / 4, ox = 4 * tx + p % 4;
                    if (oy >= OH || ox >= OW) continue;
                    const size_t at = (oy * OW + ox) * cout + c0;
                    winograd_store(y[p], residual ? residual + at : NULL, out + at, n, act);
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
    }                                                                                                 \
    TARGET void ck_f32_winograd43_input__##SUFFIX(const ck_conv2d_geom *g, const float *in, size_t ty0, \
                                                  size_t ty1, float *v, size_t ld) {                   \
        winograd43_input(g, in, ty0, ty1, v, ld);                                                     \
    }                                                                                                 \
    TARGET void ck_f32_winograd43_output__##SUFFIX(const ck_conv2d_geom *g, size_t cout, const float *m, \
                                                   size_t ld, size_t ty0, size_t ty1, const float *bias, \
                                                   const float *residual, float *out, ck_act act) {    \
        winograd43_output(g, cout, m, ld, ty0, ty1, bias, residual, out, act);                        \
    }

CK_WINOGRAD_VARIANT(portable, )
#if CK_X86
CK_WINOGRAD_VARIANT(avx2, CK_TARGET_AVX2)
CK_WINOGRAD_VARIANT(avx512f, CK_TARGET_AVX512)
#endif
