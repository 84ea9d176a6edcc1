/* dispatch_internal.h — the dispatch table shared by the kernel files (not public). */
#ifndef CK_DISPATCH_INTERNAL_H
#define CK_DISPATCH_INTERNAL_H
#include "ckernels.h"

typedef void (*ck_mean_pool_fn)(size_t, size_t, size_t, const float *, float *);
typedef void (*ck_scale_channels_fn)(size_t, size_t, const float *, const float *, float *);
typedef void (*ck_winograd_input_fn)(const ck_conv2d_geom *, const float *, size_t, size_t, float *, size_t);
typedef void (*ck_winograd_output_fn)(const ck_conv2d_geom *, size_t, const float *, size_t, size_t, size_t, const float *,
                                      const float *, float *, ck_act);

typedef void (*ck_gaussian_filter_fn)(size_t, size_t, double *, double, double, double *);
typedef void (*ck_mahalanobis_f32_fn)(size_t, size_t, const float *, size_t, const double *, const double *, double *, double *);
typedef void (*ck_overlay_fn)(size_t, size_t, const float *, size_t, const float *, float, float, int, float, uint8_t *);
typedef void (*ck_map_apply_fn)(size_t, size_t, const double *, size_t, size_t, const double *, const size_t *, const size_t *,
                                const double *, const size_t *, const size_t *, double, double *, double *);

typedef struct ck_dispatch_table {
    ck_isa isa;
    ck_dwconv_fn dwconv;
    ck_mean_pool_fn mean_pool;
    ck_scale_channels_fn scale_channels;
    ck_winograd_input_fn winograd_input;
    ck_winograd_output_fn winograd_output;
    ck_winograd_input_fn winograd43_input;
    ck_winograd_output_fn winograd43_output;
    ck_gaussian_filter_fn gaussian_filter;
    ck_mahalanobis_f32_fn mahalanobis_f32;
    ck_overlay_fn overlay;
    ck_map_apply_fn map_apply;
} ck_dispatch_table;

/* One variant per ISA of each simple kernel (pool.c, winograd.c). */
#define CK_DECLARE_SIMPLE_VARIANTS(SUFFIX)                                                             \
    void ck_f32_scale_channels__##SUFFIX(size_t, size_t, const float *, const float *, float *);      \
    void ck_f32_winograd23_input__##SUFFIX(const ck_conv2d_geom *, const float *, size_t, size_t, float *, size_t); \
    void ck_f32_winograd23_output__##SUFFIX(const ck_conv2d_geom *, size_t, const float *, size_t, size_t, size_t, \
                                            const float *, const float *, float *, ck_act);                     \
    void ck_f32_winograd43_input__##SUFFIX(const ck_conv2d_geom *, const float *, size_t, size_t, float *, size_t); \
    void ck_f32_winograd43_output__##SUFFIX(const ck_conv2d_geom *, size_t, const float *, size_t, size_t, size_t, \
                                            const float *, const float *, float *, ck_act);                     \
    void ck_f64_gaussian_filter__##SUFFIX(size_t, size_t, double *, double, double, double *);          \
    void ck_f64_mahalanobis_inverse_f32__##SUFFIX(size_t, size_t, const float *, size_t, const double *, const double *, \
                                                  double *, double *);                                  \
    void ck_f64_map_apply__##SUFFIX(size_t, size_t, const double *, size_t, size_t, const double *, const size_t *, \
                                    const size_t *, const double *, const size_t *, const size_t *, double, double *, double *);
CK_DECLARE_SIMPLE_VARIANTS(portable)
CK_DECLARE_SIMPLE_VARIANTS(avx2)
CK_DECLARE_SIMPLE_VARIANTS(avx512f)
/* The overlay: portable and AVX2 (which the AVX-512 level uses too). */
void ck_u8_overlay_inferno__portable(size_t, size_t, const float *, size_t, const float *, float, float, int, float, uint8_t *);
void ck_u8_overlay_inferno__avx2(size_t, size_t, const float *, size_t, const float *, float, float, int, float, uint8_t *);

/* The best registered depthwise kernel up to isa (dwconv.c). */
ck_dwconv_fn ck_dwconv_best(ck_isa isa);

/* The one piece of global state: written by ck_dispatch_init, read by the entry points. */
extern ck_dispatch_table ck_table;

#if defined(__x86_64__) || defined(__i386__)
#define CK_X86 1
#define CK_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define CK_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
#else
#define CK_X86 0
#endif

/* Scalar activation, shared by the portable paths and the SIMD tails. */
static inline float ck_act_scalar(float v, ck_act act) {
    switch (act) {
    case CK_ACT_RELU6: return v < 0.f ? 0.f : (v > 6.f ? 6.f : v);
    case CK_ACT_RELU: return v < 0.f ? 0.f : v;
    case CK_ACT_SWISH: return v / (1.f + __builtin_expf(-v));
    case CK_ACT_SIGMOID: return 1.f / (1.f + __builtin_expf(-v));
    default: return v;
    }
}
#endif
