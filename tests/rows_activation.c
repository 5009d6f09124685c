/* Gradient-check rows of ops/activation.c: maximum and minimum on every
 * broadcasting pattern (and fed one tensor twice, where every element ties),
 * and the unary maps on inputs kept away from their kinks and thresholds.
 * tools/op_refs_activation.py mirrors these rows for the PyTorch forward data. */
#include "gradrows.h"

#define BUILD(name, expr)                                                              \
    static rg_tensor *name(rg_tape *tp, rg_tensor *const *in, int n) { return expr; }

BUILD(b_maximum, rg_maximum(tp, in[0], in[1]))
BUILD(b_minimum, rg_minimum(tp, in[0], in[1]))
BUILD(b_maximum_self, rg_maximum(tp, in[0], in[0]))
BUILD(b_minimum_self, rg_minimum(tp, in[0], in[0]))
BUILD(b_softplus, rg_softplus(tp, in[0], 1.0, 20.0))
BUILD(b_softplus_beta, rg_softplus(tp, in[0], 0.5, 20.0))
BUILD(b_softplus_thr, rg_softplus(tp, in[0], 2.0, 1.0))
BUILD(b_log_sigmoid, rg_log_sigmoid(tp, in[0]))
BUILD(b_log1p, rg_log1p(tp, in[0]))
BUILD(b_expm1, rg_expm1(tp, in[0]))
BUILD(b_sin, rg_sin(tp, in[0]))
BUILD(b_cos, rg_cos(tp, in[0]))
BUILD(b_leaky_relu, rg_leaky_relu(tp, in[0], 0.1))
BUILD(b_elu, rg_elu(tp, in[0], 1.3))
BUILD(b_gelu, rg_gelu(tp, in[0]))
BUILD(b_rsub_scalar, rg_rsub_scalar(tp, in[0], 1.0))
BUILD(b_erf, rg_erf(tp, in[0]))

#define IN(lo, hi, r, ...) {RG_F64, r, {__VA_ARGS__}, lo, hi}
#define S0(lo, hi) {RG_F64, 0, {0}, lo, hi}

/* The broadcasting patterns of a binary op. */
#define BINARY_ROWS(op, build)                                                         \
    {#op "_same", #op, 2, {IN(-1, 1, 2, -1, -2), IN(-1, 1, 2, -1, -2)}, build},        \
    {#op "_row", #op, 2, {IN(-1, 1, 2, -1, -2), IN(-1, 1, 1, -2)}, build},             \
    {#op "_col_left", #op, 2, {IN(-1, 1, 2, -1, 1), IN(-1, 1, 2, -1, -2)}, build},     \
    {#op "_rank0", #op, 2, {IN(-1, 1, 2, -1, -2), S0(-1, 1)}, build},                 \
    {#op "_both", #op, 2, {IN(-1, 1, 3, -1, 1, -3), IN(-1, 1, 2, -2, 1)}, build},      \
    {#op "_rank4", #op, 2, {IN(-1, 1, 4, -1, -2, -3, -4), IN(-1, 1, 2, -3, 1)}, build}

const rg_gradrow rg_gradrows_activation[] = {
    BINARY_ROWS(maximum, b_maximum),
    BINARY_ROWS(minimum, b_minimum),
    /* every element ties: each side gets half the gradient, which adds up to 1 */
    {"maximum_self", "maximum", 1, {IN(-1, 1, 2, -1, -2)}, b_maximum_self},
    {"minimum_self", "minimum", 1, {IN(-1, 1, 2, -1, -2)}, b_minimum_self},
    {"softplus", "softplus", 1, {IN(-4, 4, 2, -1, -2)}, b_softplus},
    {"softplus_beta", "softplus", 1, {IN(-4, 4, 3, -1, -2, -3)}, b_softplus_beta},
    /* beta 2, threshold 1: beta x in (1.2, 4), the linear part */
    {"softplus_threshold", "softplus", 1, {IN(0.6, 2, 2, -1, -2)}, b_softplus_thr},
    {"softplus_below_threshold", "softplus", 1, {IN(-2, 0.4, 2, -1, -2)}, b_softplus_thr},
    {"log_sigmoid", "log_sigmoid", 1, {IN(-5, 5, 2, -1, -2)}, b_log_sigmoid},
    {"log_sigmoid_rank0", "log_sigmoid", 1, {S0(-5, 5)}, b_log_sigmoid},
    {"log1p", "log1p", 1, {IN(-0.5, 3, 2, -1, -2)}, b_log1p},
    {"expm1", "expm1", 1, {IN(-2, 2, 2, -1, -2)}, b_expm1},
    {"sin", "sin", 1, {IN(-3, 3, 3, -1, -2, -3)}, b_sin},
    {"cos", "cos", 1, {IN(-3, 3, 2, -1, -2)}, b_cos},
    {"leaky_relu_pos", "leaky_relu", 1, {IN(0.1, 2, 2, -1, -2)}, b_leaky_relu},
    {"leaky_relu_neg", "leaky_relu", 1, {IN(-2, -0.1, 2, -1, -2)}, b_leaky_relu},
    {"elu_pos", "elu", 1, {IN(0.1, 2, 2, -1, -2)}, b_elu},
    {"elu_neg", "elu", 1, {IN(-3, -0.1, 2, -1, -2)}, b_elu},
    {"gelu", "gelu", 1, {IN(-4, 4, 2, -1, -2)}, b_gelu},
    {"rsub_scalar", "rsub_scalar", 1, {IN(-2, 2, 2, -1, -2)}, b_rsub_scalar},
    {"erf", "erf", 1, {IN(-3, 3, 2, -1, -2)}, b_erf},
    {"erf_rank0", "erf", 1, {S0(-3, 3)}, b_erf},
};
const int rg_gradrows_activation_n =
    (int)(sizeof rg_gradrows_activation / sizeof rg_gradrows_activation[0]);
