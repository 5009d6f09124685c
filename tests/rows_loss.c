/* Gradient-check rows of ops/loss.c (bce with logits, nll, huber, smooth L1,
 * L1, each with mean, sum and none) and of the per-element forms of ops/nn.c's
 * cross-entropy and mse; differences are kept away from L1's kink.
 * tools/op_refs_loss.py mirrors these rows. */
#include "gradrows.h"

#define BUILD(name, expr)                                                              \
    static rg_tensor *name(rg_tape *tp, rg_tensor *const *in, int n) { return expr; }

BUILD(b_bce_mean, rg_bce_with_logits(tp, in[0], in[1], NULL, RG_MEAN))
BUILD(b_bce_sum, rg_bce_with_logits(tp, in[0], in[1], NULL, RG_SUM))
BUILD(b_bce_none, rg_bce_with_logits(tp, in[0], in[1], NULL, RG_NONE))
BUILD(b_bcew_mean, rg_bce_with_logits(tp, in[0], in[1], in[2], RG_MEAN))
BUILD(b_bcew_none, rg_bce_with_logits(tp, in[0], in[1], in[2], RG_NONE))
BUILD(b_nll_mean, rg_nll(tp, in[0], in[1], RG_MEAN))
BUILD(b_nll_sum, rg_nll(tp, in[0], in[1], RG_SUM))
BUILD(b_nll_none, rg_nll(tp, in[0], in[1], RG_NONE))
BUILD(b_huber_mean, rg_huber(tp, in[0], in[1], 1.0, RG_MEAN))
BUILD(b_huber_sum, rg_huber(tp, in[0], in[1], 0.5, RG_SUM))
BUILD(b_huber_none, rg_huber(tp, in[0], in[1], 2.0, RG_NONE))
BUILD(b_sl1_mean, rg_smooth_l1(tp, in[0], in[1], 1.0, RG_MEAN))
BUILD(b_sl1_sum, rg_smooth_l1(tp, in[0], in[1], 0.5, RG_SUM))
BUILD(b_sl1_none, rg_smooth_l1(tp, in[0], in[1], 2.0, RG_NONE))
BUILD(b_sl1_beta0, rg_smooth_l1(tp, in[0], in[1], 0.0, RG_MEAN))
BUILD(b_l1_mean, rg_l1(tp, in[0], in[1], RG_MEAN))
BUILD(b_l1_sum, rg_l1(tp, in[0], in[1], RG_SUM))
BUILD(b_l1_none, rg_l1(tp, in[0], in[1], RG_NONE))
BUILD(b_ce_none, rg_cross_entropy(tp, in[0], in[1], RG_NONE))
BUILD(b_cew_none, rg_cross_entropy_weighted(tp, in[0], in[1], in[2], RG_NONE))
BUILD(b_mse_none, rg_mse(tp, in[0], in[1], RG_NONE))

#define IN(lo, hi, r, ...) {RG_F64, r, {__VA_ARGS__}, lo, hi}
#define IDX(k, r, ...) {RG_I32, r, {__VA_ARGS__}, 0, -(k)}
/* a and b far enough apart that a - b keeps one sign */
#define APART_POS IN(0.1, 2, 2, -1, -2), IN(-2, -0.05, 2, -1, -2)
#define APART_NEG IN(-2, -0.1, 3, -1, -2, -3), IN(0.05, 2, 3, -1, -2, -3)
#define PAIR(r, ...) IN(-2, 2, r, __VA_ARGS__), IN(-2, 2, r, __VA_ARGS__)

const rg_gradrow rg_gradrows_loss[] = {
    {"bce_with_logits_mean", "bce_with_logits", 2, {IN(-4, 4, 2, -1, -2), IN(0, 1, 2, -1, -2)},
     b_bce_mean},
    {"bce_with_logits_sum", "bce_with_logits", 2,
     {IN(-4, 4, 3, -1, -2, -3), IN(0, 1, 3, -1, -2, -3)}, b_bce_sum},
    {"bce_with_logits_none", "bce_with_logits", 2, {IN(-4, 4, 2, -1, -2), IN(0, 1, 2, -1, -2)},
     b_bce_none},
    {"bce_with_logits_weighted_mean", "bce_with_logits", 3,
     {IN(-4, 4, 2, -1, -2), IN(0, 1, 2, -1, -2), IN(0, 2, 2, -1, -2)}, b_bcew_mean},
    {"bce_with_logits_weighted_none", "bce_with_logits", 3,
     {IN(-4, 4, 1, -1), IN(0, 1, 1, -1), IN(0, 2, 1, -1)}, b_bcew_none},
    {"nll_mean", "nll", 2, {IN(-3, 0, 2, -1, -2), IDX(2, 1, -1)}, b_nll_mean},
    {"nll_sum", "nll", 2, {IN(-3, 0, 2, -1, -2), IDX(2, 1, -1)}, b_nll_sum},
    {"nll_none", "nll", 2, {IN(-3, 0, 2, 6, -2), IDX(2, 1, 6)}, b_nll_none},
    {"huber_mean", "huber", 2, {PAIR(2, -1, -2)}, b_huber_mean},
    {"huber_sum", "huber", 2, {PAIR(3, -1, -2, -3)}, b_huber_sum},
    {"huber_none", "huber", 2, {PAIR(2, -1, -2)}, b_huber_none},
    {"smooth_l1_mean", "smooth_l1", 2, {PAIR(2, -1, -2)}, b_sl1_mean},
    {"smooth_l1_sum", "smooth_l1", 2, {PAIR(3, -1, -2, -3)}, b_sl1_sum},
    {"smooth_l1_none", "smooth_l1", 2, {PAIR(2, -1, -2)}, b_sl1_none},
    {"smooth_l1_beta0", "smooth_l1", 2, {APART_POS}, b_sl1_beta0},
    {"l1_mean", "l1", 2, {APART_POS}, b_l1_mean},
    {"l1_sum", "l1", 2, {APART_NEG}, b_l1_sum},
    {"l1_none", "l1", 2, {APART_POS}, b_l1_none},
    {"cross_entropy_none", "cross_entropy", 2, {IN(-2, 2, 2, -1, -2), IDX(2, 1, -1)},
     b_ce_none},
    {"cross_entropy_weighted_none", "cross_entropy_weighted", 3,
     {IN(-2, 2, 2, -1, -2), IDX(2, 1, -1), IN(0, 1, 1, -1)}, b_cew_none},
    {"mse_none", "mse", 2, {PAIR(3, -1, -2, -3)}, b_mse_none},
};
const int rg_gradrows_loss_n = (int)(sizeof rg_gradrows_loss / sizeof rg_gradrows_loss[0]);
