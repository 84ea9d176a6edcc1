/*
 * ckernels.h — the single contract between the C kernels and the Swift layer.
 *
 * Plain functions over raw buffers with explicit sizes and strides. No file I/O, no
 * allocation inside any kernel (callers pass scratch buffers), no global state except the
 * dispatch table chosen once by ck_dispatch_init().
 *
 * Layout conventions:
 *   - Activations are NHWC float32, rows contiguous: element (n, y, x, c) sits at
 *     ((n * H + y) * W + x) * C + c.
 *   - Matrices are row-major with a leading dimension (ld*) in elements.
 *   - Statistics are float64; covariance / Cholesky factors are d x d row-major, lower.
 * No kernel requires aligned buffers; 64-byte alignment helps.
 *
 * Naming follows XNNPACK: ck_<dtype>_<op>[_<variant>]__<isa>. Only the dispatched entry
 * points (without __isa) are meant for callers; the __portable / __avx2 / __avx512f
 * twins are exported so the tests can compare every variant with its reference.
 */
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- dispatch */

/** Instruction-set levels, in increasing order. */
typedef enum ck_isa {
    CK_ISA_PORTABLE = 0, /**< plain C, any CPU */
    CK_ISA_AVX2 = 1,     /**< AVX2 + FMA */
    CK_ISA_AVX512 = 2,   /**< AVX-512F */
} ck_isa;

/** The best level this CPU supports (from CPUID; never above what the build has). */
ck_isa ck_cpu_isa(void);

/**
 * Fills the dispatch table with the best variants up to min(max_isa, ck_cpu_isa()).
 * Call once at start-up, before any kernel runs on another thread. Returns the level chosen.
 * Until it is called, the portable variants are used.
 */
ck_isa ck_dispatch_init(ck_isa max_isa);

/** The level the dispatch table currently holds. */
ck_isa ck_active_isa(void);

/** Short name of a level: "portable", "avx2", "avx512f". */
const char *ck_isa_name(ck_isa isa);

/**
 * The kernel list: every variant of every dispatched kernel but the GEMM micro-kernels (which
 * have a list of their own, with tile sizes), one entry each, in the order of
 * CKernels/ukernels.inc. `op` names the kernel ("dwconv" for ck_f32_dwconv_nhwc, "mean_pool"
 * for ck_f32_mean_pool_nhwc, "winograd43_input", ...) and `fn` is the variant, to be cast to that op's
 * function type ck_<op>_fn, declared below beside the entry point. Within an op the entries go
 * by increasing ISA and the first is the portable reference; ck_dispatch_init takes for each
 * op the last entry at or below the level it chooses. The dispatch, the twin tests and the
 * benchmark all iterate this one list: a new variant is one function and one line there.
 */
typedef struct ck_ukernel {
    const char *op;   /**< the kernel: "dwconv", "mean_pool", "winograd43_input", ... */
    ck_isa isa;       /**< the level it needs */
    void (*fn)(void); /**< the variant; call it through ck_<op>_fn */
    const char *name; /**< its function's name, e.g. "ck_f32_dwconv_nhwc__avx2" */
} ck_ukernel;

/** Entries in the kernel list. */
size_t ck_ukernel_count(void);
/** Entry i of the kernel list, or NULL past its end. */
const ck_ukernel *ck_ukernel_at(size_t i);

/** What CPUID says of this CPU: the facts a planner derives its sizes from. */
typedef struct ck_cpu_info {
    ck_isa isa;                            /**< ck_cpu_isa() */
    size_t l1d_bytes, l2_bytes, l3_bytes;  /**< one cache of each level; 0 where CPUID does not say */
    size_t l2_sharing, l3_sharing;         /**< logical processors sharing one such cache (0: unknown) */
    char model[49];                        /**< brand string, NUL-terminated ("" when unknown) */
} ck_cpu_info;

/**
 * Reads the cache hierarchy (CPUID leaf 4 on Intel, 0x8000001D on AMD) and the brand string
 * (0x80000002-4) into info. Pure register reads: no file is opened (sysfs is the caller's
 * fallback where a size is 0). Non-x86 builds fill the ISA and leave the rest zero.
 */
void ck_cpu_info_read(ck_cpu_info *info);

/* ------------------------------------------------------------- thread pool */

/** A pool of threads owned by one engine (no process-wide pool). */
typedef struct ck_pool ck_pool;

/** A task run by every thread of a pool: thread ith of nth does its share of ctx's work. */
typedef void (*ck_pool_task)(void *ctx, size_t ith, size_t nth);

/**
 * Starts nthreads - 1 workers (the caller of ck_pool_run is thread 0). Workers spin for the
 * next task for 0.2 ms (a time, whatever a pause instruction costs on the core), then sleep.
 * Returns NULL if a thread cannot be started.
 */
ck_pool *ck_pool_create(size_t nthreads);

/** Stops and joins the workers and frees the pool. */
void ck_pool_destroy(ck_pool *pool);

/** Threads of the pool, the caller included. */
size_t ck_pool_threads(const ck_pool *pool);

/** Runs task(ctx, ith, nth) on every thread and returns when all have returned. */
void ck_pool_run(ck_pool *pool, ck_pool_task task, void *ctx);

/**
 * Within a task: the next of the indices 0, 1, 2, ... handed out across the pool's threads
 * during this ck_pool_run (each index once), so that threads share work dynamically: a thread
 * on a busier core simply claims fewer items.
 */
size_t ck_pool_claim(ck_pool *pool);

/** Within a task: waits until every thread of the pool has reached this barrier. */
void ck_pool_barrier(ck_pool *pool);

/* ------------------------------------------------------------- activations */

/** Element-wise activation fused into kernel epilogues. */
typedef enum ck_act {
    CK_ACT_NONE = 0,  /**< identity */
    CK_ACT_RELU6 = 1, /**< min(max(x, 0), 6) */
    CK_ACT_RELU = 2,  /**< max(x, 0) */
    CK_ACT_SWISH = 3, /**< x * sigmoid(x) */
    CK_ACT_SIGMOID = 4, /**< 1 / (1 + exp(-x)) */
} ck_act;

/* -------------------------------------------------------------------- GEMM */

/**
 * A GEMM micro-kernel: one row tile of c (mr <= MR rows, nc columns, leading dimension ldc)
 *   c[i][j] = act(bias[j] + sum_q a[i][q] * b[q][j] + (residual ? residual[i][j] : 0))
 * with a row-major (mr x k, lda) and the ceil(nc / NR) consecutive packed panels at w of
 * ck_f32_gemm_pack: each NR bias values, then k rows of NR weights (columns past n zero). The
 * kernel runs the panels one after the other with its row pointers set up once. residual (ldr)
 * may be NULL and must not alias c. Rows past mr and columns past nc are never read or written.
 */
typedef void (*ck_gemm_ukernel_fn)(size_t mr, size_t nc, size_t k, const float *a, size_t lda,
                                   const float *w, const float *residual, size_t ldr, float *c,
                                   size_t ldc, ck_act act);

/** A registered micro-kernel: the ISA it needs, its tile and its name. */
typedef struct ck_gemm_ukernel {
    ck_isa isa;
    size_t mr, nr;
    ck_gemm_ukernel_fn fn;
    const char *name;
} ck_gemm_ukernel;

/** The registered micro-kernels (CKernels/gemm_ukernels.inc), for tests and benchmarks. */
size_t ck_gemm_ukernel_count(void);
/** Micro-kernel i of the list, or NULL past its end. */
const ck_gemm_ukernel *ck_gemm_ukernel_at(size_t i);
/**
 * Columns a micro-kernel of nr columns computes for n: whole panels, and for the last one half
 * a panel when it has at most nr / 2 columns (the kernels of 16 and 32 columns run only their
 * first vector there), else a whole one.
 */
size_t ck_gemm_padded_n(size_t nr, size_t n);

/**
 * The micro-kernel of level isa (capped at the dispatch table's) for an m x n product (m rows,
 * say the pixels of one image; n output channels): the least padded work (rows x
 * ck_gemm_padded_n; tiles of more than 8 rows count 10 % more, their row pointers spill), a
 * smaller tile only when it saves 2 %. The planner's heuristic; a tuned plan may choose any
 * kernel of the list.
 */
const ck_gemm_ukernel *ck_gemm_ukernel_for(ck_isa isa, size_t m, size_t n);

/** Floats of a packed weight matrix for panels of nr columns: ceil(n / nr) * (k + 1) * nr. */
size_t ck_f32_gemm_packed_size(size_t nr, size_t k, size_t n);

/**
 * Packs b (k x n, ldb, row-major: a 1x1 convolution's weights stored [Cin][Cout]) and bias
 * (n, may be NULL) into panels of nr columns for the micro-kernels; once, at load.
 */
void ck_f32_gemm_pack(size_t nr, size_t k, size_t n, const float *b, size_t ldb, const float *bias,
                      float *packed);

/**
 * c (m x n, ldc) = act(a (m x k, lda) * b + bias + residual (m x n, ldr)) with b and bias
 * packed by ck_f32_gemm_pack(uk->nr, ...). Thread ith of nth computes its share (a range of
 * row tiles, or of column panels when there are few rows) and returns; the caller runs every
 * ith in parallel. No allocation; residual may be NULL and must not alias c.
 * panel_budget: bytes of packed weights a thread keeps in cache (the planner derives it from
 * the L2 size); when its share of panels is larger, panels loop outside the row tiles so that
 * each weight is streamed once, else row tiles loop outside so that a rows' tile stays in L1.
 * prefetch_bytes: when panels loop outside and one panel has at most this many bytes, the row
 * tiles of each panel prefetch the next panel (0: never; the planner derives it from L1d).
 */
void ck_f32_gemm_run(const ck_gemm_ukernel *uk, size_t m, size_t n, size_t k, const float *a,
                     size_t lda, const float *packed, const float *residual, size_t ldr, float *c,
                     size_t ldc, ck_act act, size_t ith, size_t nth, size_t panel_budget,
                     size_t prefetch_bytes);

/** The reference twin: the same product in float64 accumulation, b unpacked (k x n, ldb). */
void ck_f32_gemm_ref(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                     size_t ldb, const float *bias, const float *residual, size_t ldr, float *c,
                     size_t ldc, ck_act act);

/* ------------------------------------------------------------ convolutions */

/** Geometry of a 2-D convolution over one NHWC image. */
typedef struct ck_conv2d_geom {
    size_t in_h, in_w;   /**< input spatial size */
    size_t channels;     /**< input channels (for depthwise also the output channels) */
    size_t kernel;       /**< square kernel size k */
    size_t stride;       /**< stride s (same along both axes) */
    size_t pad_top, pad_left; /**< zero padding before the first row / column */
    size_t out_h, out_w; /**< output spatial size */
} ck_conv2d_geom;

/**
 * im2col for one NHWC image: writes out_h * out_w rows of k * k * C values, row r for output
 * pixel (r / out_w, r % out_w), column (ky * k + kx) * C + c; positions in the padding read 0.
 * col must hold out_h * out_w * k * k * C floats. Followed by ck_f32_gemm_run with the
 * weights stored [(ky, kx, c)][Cout], it computes a dense convolution.
 */
void ck_f32_im2col_nhwc(const ck_conv2d_geom *g, const float *in, float *col);

/**
 * im2col of output rows [oy0, oy1) only: writes (oy1 - oy0) * out_w rows of k * k * C values
 * into col (row 0 is output pixel (oy0, 0)), as ck_f32_im2col_nhwc does for the whole image.
 */
void ck_f32_im2col_rows_nhwc(const ck_conv2d_geom *g, const float *in, float *col, size_t oy0,
                             size_t oy1);

/**
 * Output row oy's input rows interleaved by column, for convolutions over few channels (the
 * stems) where im2col's k-fold copy costs more than the GEMM: writes
 *   x[(px * k + ky) * C + c] = in[iy][ix][c],  iy = oy * s + ky - pad_top, ix = px - pad_left
 * (0 outside the image) for px in [0, ck_conv_interleaved_width(g)) and ky in [0, k). Output
 * pixel ox's im2col row, its taps in (kx, ky, c) order, is then the k * k * C floats at
 * x + ox * s * k * C: ck_f32_gemm_run reads the row's out_w pixels in place with
 * lda = s * k * C, against weights stored [(kx, ky, c)][Cout]. x holds
 * ck_conv_interleaved_width(g) * k * C floats. Writes s / k of what im2col writes per pixel.
 */
size_t ck_conv_interleaved_width(const ck_conv2d_geom *g);
void ck_f32_conv_interleave_row_nhwc(const ck_conv2d_geom *g, const float *in, float *x, size_t oy);

/**
 * Winograd F(2x2, 3x3) for a 3x3 stride-1 convolution (any padding): output tiles of 2 x 2
 * pixels, tile (ty, tx) covering output rows 2ty, 2ty+1 and columns 2tx, 2tx+1; there are
 * ck_winograd23_tiles_h x ck_winograd23_tiles_w tiles. A band of tile rows [ty0, ty1) is
 * computed as: ck_f32_winograd23_input (16 matrices V[i] of T x Cin, T = tiles in the band),
 * 16 GEMMs M[i] = V[i] * U[i] (T x Cout; U from ck_f32_winograd23_weights, no bias), then
 * ck_f32_winograd23_output. The i-th matrix of V (and M) starts i * ld * C floats in, ld >= T
 * (ld = T for one image; several images' bands side by side, image j's tiles from row j * T of
 * each matrix with ld = images * T, make the 16 GEMMs one per matrix for all of them).
 */
size_t ck_winograd23_tiles_w(const ck_conv2d_geom *g);
size_t ck_winograd23_tiles_h(const ck_conv2d_geom *g);

/** Weight transform U[i] = G g G^T (i = 4 row + column of the 4x4 result): u holds 16 Cin x
 *  Cout matrices, from w stored [(ky, kx, ci)][co] as the GEMM path stores them. */
void ck_f32_winograd23_weights(size_t cin, size_t cout, const float *w, float *u);

/** Input transform of tile rows [ty0, ty1) of one NHWC image (g: kernel 3, stride 1) into the
 *  first T rows of the 16 matrices at v, ld rows apart (ld * C floats); positions in the padding
 *  read 0. */
typedef void (*ck_winograd23_input_fn)(const ck_conv2d_geom *g, const float *in, size_t ty0, size_t ty1, float *v,
                                       size_t ld);
void ck_f32_winograd23_input(const ck_conv2d_geom *g, const float *in, size_t ty0, size_t ty1, float *v, size_t ld);

/** Output transform of tile rows [ty0, ty1): out[oy][ox][co] = act(Y + bias[co] + residual),
 *  for the output pixels inside the image (out and residual: the whole NHWC output, out_h x
 *  out_w x cout); m holds the 16 GEMM results in the first T rows of 16 matrices ld rows apart
 *  (ld * cout floats). bias and residual may be NULL; residual must not alias out. */
typedef void (*ck_winograd23_output_fn)(const ck_conv2d_geom *g, size_t cout, const float *m, size_t ld, size_t ty0,
                                        size_t ty1, const float *bias, const float *residual, float *out, ck_act act);
void ck_f32_winograd23_output(const ck_conv2d_geom *g, size_t cout, const float *m, size_t ld, size_t ty0, size_t ty1,
                              const float *bias, const float *residual, float *out, ck_act act);

/**
 * Winograd F(4x4, 3x3), the same contract as F(2x2, 3x3) above with output tiles of 4 x 4
 * pixels (tile (ty, tx) covers output rows 4ty..4ty+3 and columns 4tx..4tx+3) and 36 matrices
 * instead of 16: 4x fewer multiplies than im2col + GEMM, 1.78x fewer than F(2x2, 3x3), at a
 * larger rounding error (interpolation points 0, +-1, +-2: 1e-6 to 1e-5 of a layer's largest
 * output in float for 16 to 256 input channels, against 2-6e-7).
 */
size_t ck_winograd43_tiles_w(const ck_conv2d_geom *g);
size_t ck_winograd43_tiles_h(const ck_conv2d_geom *g);

/** Weight transform U[i] = G g G^T (i = 6 row + column of the 6x6 result): u holds 36 Cin x
 *  Cout matrices, from w stored [(ky, kx, ci)][co]. */
void ck_f32_winograd43_weights(size_t cin, size_t cout, const float *w, float *u);

/** Input transform of tile rows [ty0, ty1) into the first T rows of the 36 matrices at v, ld
 *  rows apart (ld * C floats); positions in the padding read 0. */
typedef ck_winograd23_input_fn ck_winograd43_input_fn;
void ck_f32_winograd43_input(const ck_conv2d_geom *g, const float *in, size_t ty0, size_t ty1, float *v, size_t ld);

/** Output transform of tile rows [ty0, ty1) from the 36 GEMM results (as
 *  ck_f32_winograd23_output does from its 16). */
typedef ck_winograd23_output_fn ck_winograd43_output_fn;
void ck_f32_winograd43_output(const ck_conv2d_geom *g, size_t cout, const float *m, size_t ld, size_t ty0, size_t ty1,
                              const float *bias, const float *residual, float *out, ck_act act);

/**
 * Depthwise convolution of one NHWC image, fused bias and activation, output rows
 * [oy0, oy1) only (threads share an image by rows, fused blocks go a band at a time):
 *   out[oy][ox][c] = act(bias[c] + sum_{ky,kx} in[iy][ix][c] * w[(ky * k + kx) * C + c])
 * with iy = oy * s + ky - pad_top, ix = ox * s + kx - pad_left, out-of-range inputs 0.
 * Input row iy is read at in + (iy % in_ring) * in_w * C when in_ring > 0 (a ring buffer of
 * in_ring rows that holds the rows the band needs), else at in + iy * in_w * C. Output row oy
 * is written at out + (oy - out_row0) * out_w * C. w is [k][k][C]; bias has C entries.
 */
typedef void (*ck_dwconv_fn)(const ck_conv2d_geom *g, const float *in, size_t in_ring,
                             const float *w, const float *bias, ck_act act, float *out,
                             size_t out_row0, size_t oy0, size_t oy1);

/** The dispatched depthwise convolution (see ck_dwconv_fn). */
void ck_f32_dwconv_nhwc(const ck_conv2d_geom *g, const float *in, size_t in_ring, const float *w,
                        const float *bias, ck_act act, float *out, size_t out_row0, size_t oy0,
                        size_t oy1);
void ck_f32_dwconv_nhwc__portable(const ck_conv2d_geom *g, const float *in, size_t in_ring,
                                  const float *w, const float *bias, ck_act act, float *out,
                                  size_t out_row0, size_t oy0, size_t oy1);
void ck_f32_dwconv_nhwc__avx2(const ck_conv2d_geom *g, const float *in, size_t in_ring,
                              const float *w, const float *bias, ck_act act, float *out,
                              size_t out_row0, size_t oy0, size_t oy1);
void ck_f32_dwconv_nhwc__avx512f(const ck_conv2d_geom *g, const float *in, size_t in_ring,
                                 const float *w, const float *bias, ck_act act, float *out,
                                 size_t out_row0, size_t oy0, size_t oy1);

/* ----------------------------------------------------------------- pooling */

/**
 * Global average pool of `channels` channels of one NHWC image whose positions are ld floats
 * apart: out[c] = mean over the hw positions p of in[p * ld + c]. With ld > channels, threads
 * pool disjoint channel ranges of one tensor (in + c0, channels c1 - c0, ld the tensor's C).
 */
typedef void (*ck_mean_pool_fn)(size_t hw, size_t channels, size_t ld, const float *in, float *out);
void ck_f32_mean_pool_nhwc(size_t hw, size_t channels, size_t ld, const float *in, float *out);
void ck_f32_mean_pool_nhwc__portable(size_t hw, size_t channels, size_t ld, const float *in, float *out);
void ck_f32_mean_pool_nhwc__avx2(size_t hw, size_t channels, size_t ld, const float *in, float *out);
void ck_f32_mean_pool_nhwc__avx512f(size_t hw, size_t channels, size_t ld, const float *in, float *out);

/**
 * Average (max = 0) or max (max = 1) pooling over k x k windows of one NHWC image, output rows
 * [oy0, oy1); taps in the padding are skipped (an average divides by the taps inside).
 * The geometry's channels are the image's channels.
 */
void ck_f32_pool2d_nhwc(const ck_conv2d_geom *g, int max, const float *in, float *out, size_t oy0,
                        size_t oy1);

/** out[r][c] = in[r][c] * scale[c] for rows x channels (squeeze-excitation's gate); may be in place. */
typedef void (*ck_scale_channels_fn)(size_t rows, size_t channels, const float *in, const float *scale, float *out);
void ck_f32_scale_channels(size_t rows, size_t channels, const float *in, const float *scale,
                           float *out);

/** out[i] = act(a[i] + b[i]) over count floats; out may be a or b. */
void ck_f32_add_act(size_t count, const float *a, const float *b, float *out, ck_act act);

/* ---------------------------------------------------------- preprocessing */

/**
 * Antialiased bilinear (triangle filter) resize of an HWC float image, separable: first
 * along the width (into scratch, in_h x out_w x C), then along the height. align_corners =
 * false; the taps and weights of docs/METHOD.md 1.2 (PyTorch's antialiased bilinear).
 * Then per channel out = (v - mean[c]) / std[c] (pass mean 0, std 1 for none).
 * scratch holds in_h * out_w * C floats; out holds out_h * out_w * C floats (HWC).
 */
void ck_f32_resize_aa_normalize_hwc(size_t in_h, size_t in_w, size_t channels, const float *in,
                                    size_t out_h, size_t out_w, const float *mean,
                                    const float *std, float *scratch, float *out);

/**
 * The same resize of a one-channel (grey) image, in_h x in_w floats, written as three channels:
 * out[(y * out_w + x) * 3 + c] = (v - mean[c]) / std[c], where v is the one-channel resize. Equal
 * to ck_f32_resize_aa_normalize_hwc of the grey image replicated to three channels, value for
 * value. scratch holds in_h * out_w floats; out holds out_h * out_w * 3.
 */
void ck_f32_resize_aa_grey_to_rgb(size_t in_h, size_t in_w, const float *in, size_t out_h, size_t out_w,
                                  const float *mean, const float *std, float *scratch, float *out);

/* ---------------------------------------------------------------- anomaly maps */

/**
 * out (out_h x out_w, row-major) += weight * the bilinear resize of in (in_h x in_w) to out_h x
 * out_w: PyTorch's interpolate(mode="bilinear", align_corners=False, antialias=False), source
 * coordinate max(0, (i + 0.5) * in / out - 0.5) along each axis, its two neighbours (the last
 * one clamped), first along the width into scratch (in_h * out_w doubles), then the height.
 */
void ck_f64_resize_bilinear_add(size_t in_h, size_t in_w, const double *in, size_t out_h, size_t out_w,
                                double weight, double *scratch, double *out);

/** Kernel radius of a Gaussian of sigma: floor(4 sigma + 0.5) (SciPy's truncate = 4); 0 for sigma <= 0. */
size_t ck_gaussian_radius(double sigma);

/** Doubles of scratch ck_f64_gaussian_filter needs for an h x w map. */
size_t ck_f64_gaussian_filter_scratch(size_t h, size_t w, double sigma_y, double sigma_x);

/**
 * Smooths data (h x w, row-major) in place by a Gaussian of sigma_y along the height, then
 * sigma_x along the width (an axis with sigma <= 0 is left alone): SciPy's
 * ndimage.gaussian_filter(data, (sigma_y, sigma_x), mode="reflect", truncate=4.0), the kernel
 * exp(-x^2 / (2 sigma^2)) over |x| <= ck_gaussian_radius(sigma), normalised to sum 1, the
 * borders extended by half-sample symmetric reflection (d c b a | a b c d | d c b a).
 * scratch holds ck_f64_gaussian_filter_scratch(h, w, sigma_y, sigma_x) doubles.
 */
typedef void (*ck_gaussian_filter_fn)(size_t h, size_t w, double *data, double sigma_y, double sigma_x, double *scratch);
void ck_f64_gaussian_filter(size_t h, size_t w, double *data, double sigma_y, double sigma_x, double *scratch);

/**
 * The matrix a (m x n, row-major) taking a signal of n samples to its bilinear resize to m
 * (as ck_f64_resize_bilinear_add) smoothed by a Gaussian of sigma (as ck_f64_gaussian_filter along
 * one axis; sigma <= 0: none): a[Y][i] = sum_k kernel[k] B[reflect(Y + k - r)][i], B the
 * bilinear resize's matrix. lo[Y] and hi[Y] bound row Y's nonzero columns [lo, hi). scratch holds
 * 2 ck_gaussian_radius(sigma) + 1 doubles. Resizing then smoothing a map along both axes is
 * a_y z a_x^T: what the anomaly map computes with ck_f64_map_apply, exactly (up to the order of
 * the sums), at a cost that does not grow with sigma.
 */
void ck_f64_upsample_smooth_matrix(size_t n, size_t m, double sigma, double *a, size_t *lo, size_t *hi, double *scratch);

/**
 * out (H x W) += weight * ay (H x h) z (h x w) ax^T (ax: W x w), the matrices of
 * ck_f64_upsample_smooth_matrix with their rows' nonzero column ranges; t holds h * W doubles.
 */
typedef void (*ck_map_apply_fn)(size_t h, size_t w, const double *z, size_t H, size_t W, const double *ay,
                                const size_t *ylo, const size_t *yhi, const double *ax, const size_t *xlo,
                                const size_t *xhi, double weight, double *t, double *out);
void ck_f64_map_apply(size_t h, size_t w, const double *z, size_t H, size_t W, const double *ay, const size_t *ylo,
                      const size_t *yhi, const double *ax, const size_t *xlo, const size_t *xhi, double weight, double *t,
                      double *out);

/**
 * dist[t] = || L^-1 (y_t - m) || for the n float32 rows y (n x d, ldy) given the inverse of the
 * lower Cholesky factor, linv (d x d, row-major, lower, zeros above the diagonal stored): the
 * Mahalanobis distance of a map's positions under their cell's Gaussian, in float64, eight rows
 * at a time. work holds 8 d doubles.
 */
typedef void (*ck_mahalanobis_inverse_f32_fn)(size_t n, size_t d, const float *y, size_t ldy, const double *m,
                                              const double *linv, double *work, double *dist);
void ck_f64_mahalanobis_inverse_f32(size_t n, size_t d, const float *y, size_t ldy, const double *m, const double *linv,
                                    double *work, double *dist);

/** inv (d x d) = the inverse of the lower triangular l (d x d, row-major, nonzero diagonal). */
void ck_f64_lower_inverse(size_t d, const double *l, double *inv);

/** Scratch (int32 elements) of ck_u8_label8 and ck_f32_regions8 for an h x w map: 7 h ceil(w / 2). */
size_t ck_regions8_scratch(size_t h, size_t w);

/**
 * Labels the 8-connected components of the nonzero pixels of mask (h x w): labels[i] = 0 where
 * mask[i] is 0, else the component's number, 1, 2, ... in the order of each component's first
 * pixel in row-major order (SciPy's ndimage.label with a 3 x 3 structure of ones). scratch holds
 * ck_regions8_scratch(h, w) elements; h * w below 2^31. Returns the number of components.
 */
size_t ck_u8_label8(size_t h, size_t w, const uint8_t *mask, int32_t *labels, int32_t *scratch);

/** The index of the largest of n values (the first among equals; 0 for none). */
size_t ck_f32_argmax(size_t n, const float *v);

/** A connected area of a map: bounding box (inclusive), pixels, largest value and its index. */
typedef struct ck_region {
    size_t x0, y0, x1, y1;
    size_t area;
    float peak;
    size_t peak_at;
} ck_region;

/**
 * The 8-connected areas of the pixels of map (h x w) above threshold, numbered as ck_u8_label8
 * numbers them: the first cap areas' bounding boxes, sizes and peaks (the first pixel of the
 * largest value, in row-major order) in regions. scratch holds ck_regions8_scratch(h, w)
 * elements; h * w below 2^31. Returns the number of areas (more than cap when regions was too
 * short).
 */
size_t ck_f32_regions8(size_t h, size_t w, const float *map, float threshold, int32_t *scratch, size_t cap,
                       ck_region *regions);

/**
 * The overlay of an anomaly map on its image, rgb (h x w x 3 bytes): the image (h x w x channels
 * floats in [0, 1], channels 1 or 3) in grey (0.299 R + 0.587 G + 0.114 B), the map (h x w) over
 * it in matplotlib's inferno colour map, t = (map - low) / (high - low) clamped to [0, 1] (NaN:
 * 0) picking the colour (linear between the colour map's 11 stops) and 0.7 t its opacity; with
 * outline, every pixel above threshold that is on the border or has a 4-neighbour not above it
 * is white. Bytes are round(255 v) clamped.
 */
typedef void (*ck_overlay_inferno_fn)(size_t h, size_t w, const float *image, size_t channels, const float *map,
                                      float low, float high, int outline, float threshold, uint8_t *rgb);
void ck_u8_overlay_inferno(size_t h, size_t w, const float *image, size_t channels, const float *map, float low,
                           float high, int outline, float threshold, uint8_t *rgb);

/* -------------------------------------------------------------- statistics */
/* Each float64 routine runs its BLAS / LAPACK call on `threads` threads, a parameter of the
 * call (OpenBLAS's per-thread setting where available, else set before every call). */

/**
 * Moments of a batch about a fixed shift a (d), accumulated into running sums so that
 * batches and shards merge exactly (docs/METHOD.md 3). With z_t = x_t - a and q_t = ||z_t||^2 for
 * the n rows of x (n x d, ldx, float64):
 *   sum_z (d)      += sum_t z_t
 *   scatter (d x d, row-major, lower triangle) += sum_t z_t z_t^T   (DSYRK)
 *   sum_qz (d)     += sum_t q_t z_t                                  (DGEMV)
 *   sums[0]        += sum_t q_t,   sums[1] += sum_t q_t^2
 * work holds n * d + n doubles.
 */
void ck_f64_moments_update(size_t n, size_t d, const double *x, size_t ldx, const double *shift,
                           double *sum_z, double *scatter, double *sum_qz, double *sums,
                           double *work, int threads);

/**
 * Stops the BLAS library's idle worker threads where it can (OpenBLAS's pthreads build: its
 * workers spin about 0.1 s after the library loads and after each multi-threaded call before
 * they sleep, on the cores a network's threads need); its next multi-threaded call starts them
 * again. Returns 1 if they were stopped, 0 where the library offers no way to. Call it only
 * while no other thread can be inside a BLAS call (a program's start).
 */
int ck_blas_release_idle_threads(void);

/**
 * Cholesky factor in place: a (d x d, lda, row-major, lower triangle read) becomes L with
 * a = L L^T (upper triangle zeroed). Returns 0, or the LAPACK info (> 0: not positive definite).
 */
int ck_f64_cholesky(size_t d, double *a, size_t lda, int threads);

/**
 * Mahalanobis distances of n rows y (n x d, ldy) to mean m given the Cholesky factor l
 * (d x d, ldl, lower): dist[t] = || L^-1 (y_t - m) ||. work holds n * d doubles.
 * Centres into work, solves work * L^-T by DTRSM, then takes row norms.
 */
void ck_f64_mahalanobis(size_t n, size_t d, const double *y, size_t ldy, const double *m,
                        const double *l, size_t ldl, double *work, double *dist, int threads);

/**
 * Symmetric eigen-decomposition (LAPACK dsyevd): a (d x d, row-major, lower read) is replaced
 * by the eigenvectors as columns, w receives the eigenvalues in ascending order.
 * Returns 0 or the LAPACK info.
 */
int ck_f64_eigh(size_t d, double *a, size_t lda, double *w, int threads);

/** c (m x n, ldc) = alpha * a (m x k) * b (k x n) + beta * c, float64, row-major, DGEMM. */
void ck_f64_gemm(size_t m, size_t n, size_t k, double alpha, const double *a, size_t lda,
                 const double *b, size_t ldb, double beta, double *c, size_t ldc, int threads);

#ifdef __cplusplus
}
#endif
#endif /* CKERNELS_H */
