/* Gradient-check rows of ops/scan.c (cumsum, logcumsumexp) along every axis,
 * rank 0, and large values for logcumsumexp; tools/op_refs_scan.py mirrors
 * them (its large case goes to values near 1e4). */
#include "gradrows.h"

#define BUILD(name, expr)                                                              \
    static rg_tensor *name(rg_tape *tp, rg_tensor *const *in, int n) { return expr; }

BUILD(b_cumsum0, rg_cumsum(tp, in[0], 0))
BUILD(b_cumsum1, rg_cumsum(tp, in[0], 1))
BUILD(b_cumsum_last, rg_cumsum(tp, in[0], -1))
BUILD(b_lcse0, rg_logcumsumexp(tp, in[0], 0))
BUILD(b_lcse1, rg_logcumsumexp(tp, in[0], 1))
BUILD(b_lcse_last, rg_logcumsumexp(tp, in[0], -1))

#define IN(lo, hi, r, ...) {RG_F64, r, {__VA_ARGS__}, lo, hi}
#define S0(lo, hi) {RG_F64, 0, {0}, lo, hi}

const rg_gradrow rg_gradrows_scan[] = {
    {"cumsum_axis0", "cumsum", 1, {IN(-2, 2, 3, -1, -2, -3)}, b_cumsum0},
    {"cumsum_axis1", "cumsum", 1, {IN(-2, 2, 3, -1, -2, -3)}, b_cumsum1},
    {"cumsum_last", "cumsum", 1, {IN(-2, 2, 2, 6, -2)}, b_cumsum_last},
    {"cumsum_rank0", "cumsum", 1, {S0(-2, 2)}, b_cumsum_last},
    {"logcumsumexp_axis0", "logcumsumexp", 1, {IN(-3, 3, 3, 6, -2, -3)}, b_lcse0},
    {"logcumsumexp_axis1", "logcumsumexp", 1, {IN(-3, 3, 3, -1, 5, -3)}, b_lcse1},
    {"logcumsumexp_last", "logcumsumexp", 1, {IN(-3, 3, 2, -1, 7)}, b_lcse_last},
    {"logcumsumexp_rank0", "logcumsumexp", 1, {S0(-3, 3)}, b_lcse_last},
    {"logcumsumexp_large", "logcumsumexp", 1, {IN(20, 30, 2, -1, 6)}, b_lcse_last},
};
const int rg_gradrows_scan_n = (int)(sizeof rg_gradrows_scan / sizeof rg_gradrows_scan[0]);
