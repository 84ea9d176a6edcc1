/* dispatch.c — picks the kernel variants once, from CPUID, into the dispatch table; reads the
 * CPU's cache sizes and model name for the planner. */
#include "dispatch_internal.h"
#include <string.h>

#if CK_X86
#include <cpuid.h>
#endif

/* The kernel list, for the tests and the benchmark. */
static const ck_ukernel ck_ukernels[] = {
#define CK_UKERNEL(OP, ISA, FN) {#OP, ISA, (void (*)(void))FN, #FN},
#include "ukernels.inc"
#undef CK_UKERNEL
};

size_t ck_ukernel_count(void) { return sizeof ck_ukernels / sizeof ck_ukernels[0]; }

const ck_ukernel *ck_ukernel_at(size_t i) { return i < ck_ukernel_count() ? &ck_ukernels[i] : NULL; }

/* The portable lines of the list, by op: the table until ck_dispatch_init fills it. */
#define CK_PORTABLE_LINE_CK_ISA_PORTABLE(OP, FN) .OP = FN,
#define CK_PORTABLE_LINE_CK_ISA_AVX2(OP, FN)
#define CK_PORTABLE_LINE_CK_ISA_AVX512(OP, FN)
#define CK_UKERNEL(OP, ISA, FN) CK_PORTABLE_LINE_##ISA(OP, FN)
static const ck_dispatch_table ck_portable_table = {
    .isa = CK_ISA_PORTABLE,
#include "ukernels.inc"
};
ck_dispatch_table ck_table = {
    .isa = CK_ISA_PORTABLE,
#include "ukernels.inc"
};
#undef CK_UKERNEL

#if CK_X86
static unsigned long long ck_xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

ck_isa ck_cpu_isa(void) {
#if CK_X86
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return CK_ISA_PORTABLE;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx || !fma) return CK_ISA_PORTABLE;
    unsigned long long xcr0 = ck_xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return CK_ISA_PORTABLE; /* XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return CK_ISA_PORTABLE;
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1;
    if (!avx2) return CK_ISA_PORTABLE;
    if (avx512f && (xcr0 & 0xe6) == 0xe6) return CK_ISA_AVX512; /* opmask, ZMM state */
    return CK_ISA_AVX2;
#else
    return CK_ISA_PORTABLE;
#endif
}

#if CK_X86
/* The deterministic cache parameters of leaf 4 (Intel) or 0x8000001D (AMD): subleaf after
 * subleaf until type 0; size = ways * partitions * line size * sets. */
static void ck_read_cache_leaf(unsigned int leaf, ck_cpu_info *info) {
    for (unsigned int i = 0; i < 16; i++) {
        unsigned int a, b, c, d;
        __cpuid_count(leaf, i, a, b, c, d);
        unsigned int type = a & 0x1f, level = (a >> 5) & 0x7;
        if (type == 0) break;
        if (type == 2) continue; /* instruction cache */
        size_t ways = ((b >> 22) & 0x3ff) + 1, parts = ((b >> 12) & 0x3ff) + 1, line = (b & 0xfff) + 1;
        size_t bytes = ways * parts * line * ((size_t)c + 1), sharing = ((a >> 14) & 0xfff) + 1;
        if (level == 1 && type == 1) info->l1d_bytes = bytes;
        else if (level == 2) { info->l2_bytes = bytes; info->l2_sharing = sharing; }
        else if (level == 3) { info->l3_bytes = bytes; info->l3_sharing = sharing; }
    }
}
#endif

void ck_cpu_info_read(ck_cpu_info *info) {
    memset(info, 0, sizeof *info);
    info->isa = ck_cpu_isa();
#if CK_X86
    unsigned int a, b, c, d;
    char vendor[13] = {0};
    __cpuid(0, a, b, c, d);
    unsigned int max_leaf = a;
    memcpy(vendor, &b, 4); memcpy(vendor + 4, &d, 4); memcpy(vendor + 8, &c, 4);
    __cpuid(0x80000000, a, b, c, d);
    unsigned int max_ext = a;
    if (strcmp(vendor, "AuthenticAMD") == 0 || strcmp(vendor, "HygonGenuine") == 0) {
        if (max_ext >= 0x8000001D) {
            __cpuid(0x80000001, a, b, c, d);
            if ((c >> 22) & 1) ck_read_cache_leaf(0x8000001D, info); /* TopologyExtensions */
        }
    } else if (max_leaf >= 4) {
        ck_read_cache_leaf(4, info);
    }
    if (max_ext >= 0x80000004) {
        unsigned int r[12];
        for (unsigned int i = 0; i < 3; i++) __cpuid(0x80000002 + i, r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
        memcpy(info->model, r, 48);
        info->model[48] = 0;
        /* The brand string is padded with leading spaces on some parts. */
        size_t lead = 0;
        while (info->model[lead] == ' ') lead++;
        memmove(info->model, info->model + lead, 49 - lead);
        for (size_t n = strlen(info->model); n > 0 && info->model[n - 1] == ' '; n--) info->model[n - 1] = 0;
    }
#endif
}

ck_isa ck_dispatch_init(ck_isa max_isa) {
    ck_isa isa = ck_cpu_isa();
    if (isa > max_isa) isa = max_isa;
    ck_dispatch_table t = ck_portable_table;
    t.isa = isa;
    /* Per op, the last line at or below the level: the list goes by increasing ISA. */
#define CK_UKERNEL(OP, ISA, FN) if ((ISA) <= isa) t.OP = FN;
#include "ukernels.inc"
#undef CK_UKERNEL
    ck_table = t;
    return t.isa;
}

ck_isa ck_active_isa(void) { return ck_table.isa; }

const char *ck_isa_name(ck_isa isa) {
    switch (isa) {
    case CK_ISA_AVX2: return "avx2";
    case CK_ISA_AVX512: return "avx512f";
    default: return "portable";
    }
}


void ck_f32_dwconv_nhwc(const ck_conv2d_geom *g, const float *in, size_t in_ring, const float *w,
                        const float *bias, ck_act act, float *out, size_t out_row0, size_t oy0,
                        size_t oy1) {
    ck_table.dwconv(g, in, in_ring, w, bias, act, out, out_row0, oy0, oy1);
}

void ck_f32_mean_pool_nhwc(size_t hw, size_t channels, size_t ld, const float *in, float *out) {
    ck_table.mean_pool(hw, channels, ld, in, out);
}

void ck_f32_scale_channels(size_t rows, size_t channels, const float *in, const float *scale, float *out) {
    ck_table.scale_channels(rows, channels, in, scale, out);
}

void ck_f32_winograd23_input(const ck_conv2d_geom *g, const float *in, size_t ty0, size_t ty1, float *v, size_t ld) {
    ck_table.winograd23_input(g, in, ty0, ty1, v, ld);
}

void ck_f32_winograd23_output(const ck_conv2d_geom *g, size_t cout, const float *m, size_t ld, size_t ty0, size_t ty1,
                              const float *bias, const float *residual, float *out, ck_act act) {
    ck_table.winograd23_output(g, cout, m, ld, ty0, ty1, bias, residual, out, act);
}

void ck_f32_winograd43_input(const ck_conv2d_geom *g, const float *in, size_t ty0, size_t ty1, float *v, size_t ld) {
    ck_table.winograd43_input(g, in, ty0, ty1, v, ld);
}

void ck_f32_winograd43_output(const ck_conv2d_geom *g, size_t cout, const float *m, size_t ld, size_t ty0, size_t ty1,
                              const float *bias, const float *residual, float *out, ck_act act) {
    ck_table.winograd43_output(g, cout, m, ld, ty0, ty1, bias, residual, out, act);
}
