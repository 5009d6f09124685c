/* Branch-free float32 exp, sigmoid and tanh for the hot loops of ops/ (gate
 * activations).  glibc's tanhf and expf are scalar calls; these are plain
 * arithmetic the compiler vectorises, accurate to a few ulp (tests/test_ops
 * checks them against double-precision libm over a dense grid).
 *
 * expf: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two parts so r is exact),
 * e^r by its degree-6 Taylor-like minimax polynomial (Cephes' coefficients),
 * times 2^n built from the exponent bits.  tanh: for |x| < 0.625 an odd
 * polynomial in x (Cephes' tanhf), else 1 - 2/(e^{2|x|} + 1) with the sign
 * put back, so there is no cancellation near zero. */
#ifndef RG_FASTMATH_H
#define RG_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline float rg_expf(float x) {
    /* NaN in, NaN out; the arithmetic below runs on 0 instead so that the
     * float-to-int conversion stays defined. */
    const float in = x;
    x = x != x ? 0.0f : x;
    /* Beyond these e^x is inf/0 in float; clamp keeps the bit tricks in range. */
    x = x > 88.3762626647949f ? 88.3762626647949f : x;
    x = x < -87.3365447504f ? -87.3365447504f : x;
    /* n = round(x / ln2) with the 1.5*2^23 trick (round to nearest, no libcall). */
    float t = x * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return in != in ? in : p * scale;
}

static inline float rg_sigmoidf(float x) { return 1.0f / (1.0f + rg_expf(-x)); }

static inline float rg_tanhf(float x) {
    float a = x < 0 ? -x : x;
    /* large |x|: 1 - 2/(e^{2a} + 1), exact enough since tanh >= 0.55 there */
    float big = 1.0f - 2.0f / (rg_expf(2.0f * a) + 1.0f);
    float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = x + x * z * p;
    float r = x < 0 ? -big : big;
    return a < 0.625f ? small : r;
}

/* In-place activations over n contiguous floats. */
static inline void rg_sigmoidf_n(float *restrict y, const float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = rg_sigmoidf(x[i]);
}
static inline void rg_tanhf_n(float *restrict y, const float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = rg_tanhf(x[i]);
}

#endif
