/* Random numbers: xoshiro256** seeded through splitmix64, Box-Muller normals.
 * Integer arithmetic only until the final conversion, so every machine draws
 * the same numbers for the same seed. */
#include <math.h>

#include "core_internal.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void rg_rng_seed(rg_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; ++i) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rg_rng_next(rg_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rg_rng_uniform(rg_rng *r) { return (double)(rg_rng_next(r) >> 11) * 0x1.0p-53; }

double rg_rng_normal(rg_rng *r) {
    double u1 = rg_rng_uniform(r), u2 = rg_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int64_t rg_rng_below(rg_rng *r, int64_t n) {
    if (n <= 1) return 0;
    /* Rejection sampling: no modulo bias. */
    uint64_t un = (uint64_t)n, lim = UINT64_MAX - UINT64_MAX % un;
    uint64_t x;
    do x = rg_rng_next(r);
    while (x >= lim);
    return (int64_t)(x % un);
}

rg_tensor *rg_uniform(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape, double lo,
                      double hi, rg_rng *r) {
    if (!r) {
        rg_op_error(tp, "rg_uniform: rng is NULL");
        return NULL;
    }
    rg_tensor *t = rg_tensor_new_as("rg_uniform", tp, dt, rank, shape);
    if (t)
        for (int64_t i = 0; i < t->numel; ++i) rg_set(t, i, lo + (hi - lo) * rg_rng_uniform(r));
    return t;
}

rg_tensor *rg_normal(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape, double mean,
                     double std, rg_rng *r) {
    if (!r) {
        rg_op_error(tp, "rg_normal: rng is NULL");
        return NULL;
    }
    rg_tensor *t = rg_tensor_new_as("rg_normal", tp, dt, rank, shape);
    if (t)
        for (int64_t i = 0; i < t->numel; ++i) rg_set(t, i, mean + std * rg_rng_normal(r));
    return t;
}
