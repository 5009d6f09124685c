/* Gradient-check rows of ops/norm.c: layer_norm with and without weight and
 * bias, rms_norm with and without weight; tools/op_refs_norm.py mirrors them. */
#include "gradrows.h"

#define BUILD(name, expr)                                                              \
    static rg_tensor *name(rg_tape *tp, rg_tensor *const *in, int n) { return expr; }

BUILD(b_ln_wb, rg_layer_norm(tp, in[0], in[1], in[2], 1e-5))
BUILD(b_ln, rg_layer_norm(tp, in[0], NULL, NULL, 1e-5))
BUILD(b_ln_w, rg_layer_norm(tp, in[0], in[1], NULL, 1e-3))
BUILD(b_ln_b, rg_layer_norm(tp, in[0], NULL, in[1], 0.1))
BUILD(b_rms_w, rg_rms_norm(tp, in[0], in[1], 1e-6))
BUILD(b_rms, rg_rms_norm(tp, in[0], NULL, 1e-2))

#define IN(lo, hi, r, ...) {RG_F64, r, {__VA_ARGS__}, lo, hi}

const rg_gradrow rg_gradrows_norm[] = {
    {"layer_norm_wb", "layer_norm", 3, {IN(-2, 2, 3, -1, -2, 5), IN(0.5, 1.5, 1, 5),
                                        IN(-1, 1, 1, 5)}, b_ln_wb},
    {"layer_norm_wb_rank1", "layer_norm", 3, {IN(-2, 2, 1, 6), IN(0.5, 1.5, 1, 6),
                                              IN(-1, 1, 1, 6)}, b_ln_wb},
    {"layer_norm_plain", "layer_norm", 1, {IN(-2, 2, 2, -1, -2)}, b_ln},
    {"layer_norm_weight", "layer_norm", 2, {IN(-2, 2, 2, -1, 4), IN(-1.5, 1.5, 1, 4)}, b_ln_w},
    {"layer_norm_bias", "layer_norm", 2, {IN(-2, 2, 3, -1, -2, 3), IN(-1, 1, 1, 3)}, b_ln_b},
    {"rms_norm_weight", "rms_norm", 2, {IN(-2, 2, 3, -1, -2, 5), IN(0.5, 1.5, 1, 5)}, b_rms_w},
    {"rms_norm_plain", "rms_norm", 1, {IN(-2, 2, 2, -1, -2)}, b_rms},
};
const int rg_gradrows_norm_n = (int)(sizeof rg_gradrows_norm / sizeof rg_gradrows_norm[0]);
