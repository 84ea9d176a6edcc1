/* dispatch_internal.h — the dispatch table shared by the kernel files (not public). */
#ifndef CK_DISPATCH_INTERNAL_H
#define CK_DISPATCH_INTERNAL_H
#include "ckernels.h"

#if defined(__x86_64__) || defined(__i386__)
#define CK_X86 1
#define CK_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define CK_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
#else
#define CK_X86 0
#endif

/* Every variant of the kernel list declared, with its op's function type. */
#define CK_UKERNEL(OP, ISA, FN) __typeof__(*(ck_##OP##_fn)0) FN;
#include "ukernels.inc"
#undef CK_UKERNEL

/* The dispatch table: one entry point per op of the kernel list (ukernels.inc), named as the
 * list names it. */
typedef struct ck_dispatch_table {
    ck_isa isa;
    ck_dwconv_fn dwconv;
    ck_mean_pool_fn mean_pool;
    ck_scale_channels_fn scale_channels;
    ck_winograd23_input_fn winograd23_input;
    ck_winograd23_output_fn winograd23_output;
    ck_winograd43_input_fn winograd43_input;
    ck_winograd43_output_fn winograd43_output;
    ck_gaussian_filter_fn gaussian_filter;
    ck_mahalanobis_inverse_f32_fn mahalanobis_inverse_f32;
    ck_overlay_inferno_fn overlay_inferno;
    ck_map_apply_fn map_apply;
} ck_dispatch_table;

/* The one piece of global state: written by ck_dispatch_init, read by the entry points. */
extern ck_dispatch_table ck_table;

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
