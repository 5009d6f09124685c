/* Which kernel variant runs (see rg_kernel.h): the best the CPU has, chosen
 * when the library is loaded, lowered by the RG_KERNELS environment variable or
 * by rg_cpu_force(). */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "rg_kernel.h"

#if RG_KERNEL_MULTI

int rg_cpu_level_ = RG_ISA_BASELINE;

static const char *const names[] = {"baseline", "avx2+fma", "avx512"};
enum { N_LEVELS = 3 };

/* The best variant this CPU (and its OS, for the AVX register state) runs. */
static int cpu_best(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return RG_ISA_BASELINE;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return RG_ISA_AVX512;
    return RG_ISA_AVX2;
}

/* A variant's level from its name ("avx2" and "avx512f" too); -1 if unknown. */
static int level_of(const char *name) {
    for (int k = 0; k < N_LEVELS; ++k)
        if (!strcmp(name, names[k])) return k;
    if (!strcmp(name, "avx2")) return RG_ISA_AVX2;
    if (!strcmp(name, "avx512f")) return RG_ISA_AVX512;
    return -1;
}

static void set_level(int k) { __atomic_store_n(&rg_cpu_level_, k, __ATOMIC_RELAXED); }

/* At load time: the best variant, or the one RG_KERNELS names when the CPU has
 * it (a better one than the CPU has, or an unknown name, is ignored: a library
 * never fails to load and never prints). */
__attribute__((constructor)) static void cpu_choose(void) {
    int best = cpu_best(), want = best;
    const char *env = getenv("RG_KERNELS");
    if (env && *env && strcmp(env, "auto")) {
        int k = level_of(env);
        if (k >= 0 && k <= best) want = k;
    }
    set_level(want);
}

const char *rg_cpu_kernels(void) { return names[rg_kernel_level()]; }

const char *rg_cpu_variant(int k) { return k >= 0 && k <= cpu_best() ? names[k] : NULL; }

int rg_cpu_force(const char *name) {
    int best = cpu_best();
    if (!name || !*name || !strcmp(name, "auto")) {
        set_level(best);
        return 0;
    }
    int k = level_of(name);
    if (k < 0) {
        rg_set_error("rg_cpu_force: unknown kernel variant '%s' (baseline, avx2+fma, avx512 "
                     "or auto)", name);
        return -1;
    }
    if (k > best) {
        rg_set_error("rg_cpu_force: this CPU cannot run the %s kernels (best: %s)", name,
                     names[best]);
        return -1;
    }
    set_level(k);
    return 0;
}

#else

/* One variant: the build machine's (-Dnative=true) or the target's baseline. */
#ifdef RG_NATIVE
static const char *const only = "native";
#else
static const char *const only = "baseline";
#endif

const char *rg_cpu_kernels(void) { return only; }

const char *rg_cpu_variant(int k) { return k == 0 ? only : NULL; }

int rg_cpu_force(const char *name) {
    if (!name || !*name || !strcmp(name, "auto") || !strcmp(name, only)) return 0;
    rg_set_error("rg_cpu_force: this build has only the %s kernels, not '%s'", only, name);
    return -1;
}

#endif
