/* Kernel variants chosen at run time: the hot loops of ops/ and models/ (and a
 * user's own op, if it wants) are compiled for several x86-64 instruction sets
 * in one binary, and every call runs the best one the CPU has.
 *
 *   RG_KERNEL(scale_f32, (float *restrict y, const float *restrict x, float s, int64_t n),
 *             (y, x, s, n)) {
 *       for (int64_t i = 0; i < n; i++) y[i] = s * x[i];
 *   }
 *
 * defines a static function scale_f32 with that body compiled three times --
 * baseline x86-64 (SSE2), AVX2+FMA and AVX-512 (F, BW, CD, DQ, VL) -- and a
 * dispatcher that calls the variant the library chose (rg_cpu_kernels(),
 * rg_cpu_force() in rg_core.h).  RG_KERNEL_T is the same for a function that
 * returns a value.  The body is an inline function inlined into each variant,
 * so the static inline helpers it calls (ops/fastmath.h) are compiled for that
 * variant's instruction set too.
 *
 * Why not GCC's target_clones: its ifunc resolver picks once, at load time, from
 * the CPU alone, so a test cannot run the baseline kernels next to the AVX-512
 * ones in one process, and a benchmark cannot compare them.  Here a call costs a
 * load and a predictable branch: measured, the same speed as target_clones
 * (README, Performance).
 *
 * Without GCC or clang on x86-64, or in a -Dnative=true build (RG_NATIVE, where
 * the whole library is compiled for the build machine), RG_KERNEL defines one
 * plain function. */
#ifndef RG_KERNEL_H
#define RG_KERNEL_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(RG_NATIVE)
#define RG_KERNEL_MULTI 1
#else
#define RG_KERNEL_MULTI 0
#endif

/* The variants, in the order of rg_cpu_level_. */
enum { RG_ISA_BASELINE = 0, RG_ISA_AVX2 = 1, RG_ISA_AVX512 = 2 };

#if RG_KERNEL_MULTI

/* The chosen variant (RG_ISA_*); written by the library at load time and by
 * rg_cpu_force(), read by every dispatcher.  Not for direct use. */
extern int rg_cpu_level_;

#define RG_ISA_TARGET_AVX2 "avx,avx2,fma"
#define RG_TARGET_AVX2 __attribute__((target(RG_ISA_TARGET_AVX2)))
#define RG_TARGET_AVX512                                                               \
    __attribute__((target(RG_ISA_TARGET_AVX2 ",avx512f,avx512bw,avx512cd,avx512dq,avx512vl")))
#define RG_KERNEL_INLINE inline __attribute__((always_inline))

static inline int rg_kernel_level(void) {
    return __atomic_load_n(&rg_cpu_level_, __ATOMIC_RELAXED);
}

#define RG_KERNEL_T(ret, name, params, args)                                           \
    static RG_KERNEL_INLINE ret name##_body_ params;                                   \
    static RG_TARGET_AVX512 ret name##_avx512_ params { return name##_body_ args; }    \
    static RG_TARGET_AVX2 ret name##_avx2_ params { return name##_body_ args; }        \
    static ret name##_base_ params { return name##_body_ args; }                       \
    static ret name params {                                                           \
        switch (rg_kernel_level()) {                                                   \
        case RG_ISA_AVX512: return name##_avx512_ args;                                \
        case RG_ISA_AVX2: return name##_avx2_ args;                                    \
        default: return name##_base_ args;                                             \
        }                                                                              \
    }                                                                                  \
    static RG_KERNEL_INLINE ret name##_body_ params

#define RG_KERNEL(name, params, args)                                                  \
    static RG_KERNEL_INLINE void name##_body_ params;                                  \
    static RG_TARGET_AVX512 void name##_avx512_ params { name##_body_ args; }          \
    static RG_TARGET_AVX2 void name##_avx2_ params { name##_body_ args; }              \
    static void name##_base_ params { name##_body_ args; }                             \
    static void name params {                                                          \
        switch (rg_kernel_level()) {                                                   \
        case RG_ISA_AVX512: name##_avx512_ args; return;                               \
        case RG_ISA_AVX2: name##_avx2_ args; return;                                   \
        default: name##_base_ args; return;                                            \
        }                                                                              \
    }                                                                                  \
    static RG_KERNEL_INLINE void name##_body_ params

#else

#define RG_KERNEL_T(ret, name, params, args) static ret name params
#define RG_KERNEL(name, params, args) static void name params

#endif
#endif
