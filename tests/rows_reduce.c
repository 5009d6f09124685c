/* Gradient-check rows of ops/reduce.c (all-element and per-axis sum, mean and
 * max; negative axes, keepdim, rank 0), and the error paths of the reductions.
 * tools/op_refs_elementwise.py mirrors these rows for the PyTorch forward data. */
#include <criterion/criterion.h>
#include <string.h>

#include "gradrows.h"

#define BUILD1(name, expr)                                                             \
    static rg_tensor *name(rg_tape *tp, rg_tensor *const *in, int n) { return expr; }

BUILD1(b_sum, rg_sum(tp, in[0]))
BUILD1(b_mean, rg_mean(tp, in[0]))
BUILD1(b_max, rg_max(tp, in[0]))
BUILD1(b_sum_ax0, rg_sum_axis(tp, in[0], 0, false))
BUILD1(b_sum_ax1, rg_sum_axis(tp, in[0], 1, false))
BUILD1(b_sum_axm1_keep, rg_sum_axis(tp, in[0], -1, true))
BUILD1(b_sum_axm3_keep, rg_sum_axis(tp, in[0], -3, true))
BUILD1(b_mean_ax0, rg_mean_axis(tp, in[0], 0, false))
BUILD1(b_mean_ax1, rg_mean_axis(tp, in[0], 1, false))
BUILD1(b_mean_axm1_keep, rg_mean_axis(tp, in[0], -1, true))
BUILD1(b_max_ax0, rg_max_axis(tp, in[0], 0, false))
BUILD1(b_max_ax1, rg_max_axis(tp, in[0], 1, false))
BUILD1(b_max_axm1_keep, rg_max_axis(tp, in[0], -1, true))
BUILD1(b_max_ax2, rg_max_axis(tp, in[0], 2, false))
BUILD1(b_sum_axm1, rg_sum_axis(tp, in[0], -1, false))
BUILD1(b_max_axm1, rg_max_axis(tp, in[0], -1, false))
/* A reduction inside a graph: x - max(x, -1) broadcast back, as in a stable softmax. */
BUILD1(b_max_shift, rg_sub(tp, in[0], rg_max_axis(tp, in[0], -1, true)))
BUILD1(b_mean_center, rg_sub(tp, in[0], rg_mean_axis(tp, in[0], 0, true)))

#define IN(r, ...) {RG_F64, r, {__VA_ARGS__}, -1.0, 1.0}
#define S0 {RG_F64, 0, {0}, -1.0, 1.0}

const rg_gradrow rg_gradrows_reduce[] = {
    {"sum", "sum", 1, {IN(3, -1, -2, -3)}, b_sum},
    {"sum_rank0", "sum", 1, {S0}, b_sum},
    {"mean", "mean", 1, {IN(2, -1, -2)}, b_mean},
    {"mean_rank4", "mean", 1, {IN(4, -1, -2, -3, -4)}, b_mean},
    {"max", "max", 1, {IN(3, -1, -2, -3)}, b_max},
    {"max_rank1", "max", 1, {IN(1, 6)}, b_max},
    {"sum_axis_0", "sum_axis", 1, {IN(2, -1, -2)}, b_sum_ax0},
    {"sum_axis_1_rank3", "sum_axis", 1, {IN(3, -1, -2, -3)}, b_sum_ax1},
    {"sum_axis_last_keepdim", "sum_axis", 1, {IN(2, -1, -2)}, b_sum_axm1_keep},
    {"sum_axis_m3_keepdim_rank4", "sum_axis", 1, {IN(4, -1, -2, -3, -4)}, b_sum_axm3_keep},
    {"sum_axis_rank1", "sum_axis", 1, {IN(1, -1)}, b_sum_ax0},
    {"sum_axis_rank0", "sum_axis", 1, {S0}, b_sum_ax0},
    {"mean_axis_0", "mean_axis", 1, {IN(2, -1, -2)}, b_mean_ax0},
    {"mean_axis_1_rank3", "mean_axis", 1, {IN(3, -1, -2, -3)}, b_mean_ax1},
    {"mean_axis_last_keepdim", "mean_axis", 1, {IN(3, -1, -2, -3)}, b_mean_axm1_keep},
    {"mean_center", "mean_axis", 1, {IN(2, -1, -2)}, b_mean_center},
    {"max_axis_0", "max_axis", 1, {IN(2, -1, -2)}, b_max_ax0},
    {"max_axis_1_rank3", "max_axis", 1, {IN(3, -1, -2, -3)}, b_max_ax1},
    {"max_axis_last_keepdim", "max_axis", 1, {IN(2, -1, -2)}, b_max_axm1_keep},
    {"max_axis_2_rank4", "max_axis", 1, {IN(4, -1, -2, -3, -4)}, b_max_ax2},
    {"max_axis_shift", "max_axis", 1, {IN(2, -1, -2)}, b_max_shift},
    /* rank 0 takes axis -1 as PyTorch's dim does */
    {"sum_axis_rank0_neg", "sum_axis", 1, {S0}, b_sum_axm1},
    {"mean_axis_rank0_neg_keepdim", "mean_axis", 1, {S0}, b_mean_axm1_keep},
    {"max_axis_rank0_neg", "max_axis", 1, {S0}, b_max_axm1},
    {"max_axis_rank0_neg_keepdim", "max_axis", 1, {S0}, b_max_axm1_keep},
    /* zero-size dims: an empty reduced axis, and an empty kept one */
    {"sum_axis_empty", "sum_axis", 1, {IN(2, 0, -1)}, b_sum_ax0},
    {"mean_axis_empty_kept", "mean_axis", 1, {IN(2, 0, -1)}, b_mean_ax1},
};
const int rg_gradrows_reduce_n =
    (int)(sizeof rg_gradrows_reduce / sizeof rg_gradrows_reduce[0]);

/* ---- shapes, error paths, argmax routing --------------------------------------- */

Test(ops_reduce, shapes) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *a = rg_zeros(tp, RG_F32, RG_DIMS(2, 3, 4));
    rg_tensor *y = rg_sum(tp, a);
    cr_assert(y);
    cr_expect_eq(y->rank, 0);
    cr_expect_eq(y->numel, 1);
    y = rg_mean_axis(tp, a, 1, false);
    cr_expect(y->rank == 2 && y->shape[0] == 2 && y->shape[1] == 4);
    y = rg_max_axis(tp, a, -2, true);
    cr_expect(y->rank == 3 && y->shape[0] == 2 && y->shape[1] == 1 && y->shape[2] == 4);
    y = rg_sum_axis(tp, a, -1, false);
    cr_expect(y->rank == 2 && y->shape[0] == 2 && y->shape[1] == 3);
    cr_expect_eq(y->dtype, RG_F32);
    rg_tape_free(tp);
}

Test(ops_reduce, errors) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *a = rg_zeros(tp, RG_F64, RG_DIMS(3, 4));
    cr_expect_null(rg_sum_axis(tp, a, 2, false));
    cr_expect_str_eq(rg_tape_error(tp), "rg_sum_axis: axis 2 out of range for a [3,4]");
    rg_tape_reset(tp);
    a = rg_zeros(tp, RG_F64, RG_DIMS(3, 4));
    cr_expect_null(rg_max_axis(tp, a, -3, true));
    cr_expect_str_eq(rg_tape_error(tp), "rg_max_axis: axis -3 out of range for a [3,4]");
    rg_tape_reset(tp);
    cr_expect_null(rg_max(tp, rg_zeros(tp, RG_F64, RG_DIMS(0, 4))));
    cr_expect_str_eq(rg_tape_error(tp), "rg_max: a [0,4] is empty");
    rg_tape_reset(tp);
    cr_expect_null(rg_max_axis(tp, rg_zeros(tp, RG_F64, RG_DIMS(3, 0)), 1, false));
    cr_expect_str_eq(rg_tape_error(tp), "rg_max_axis: axis 1 of a [3,0] is empty");
    rg_tape_reset(tp);
    cr_expect_null(rg_mean(tp, rg_zeros(tp, RG_I32, RG_DIMS(2))));
    cr_expect_str_eq(rg_tape_error(tp),
                     "rg_mean: a [2] is int32; reductions take float32 or float64");
    rg_tape_reset(tp);
    cr_expect_null(rg_sum(tp, NULL));
    rg_tape_free(tp);
}

/* Ties: max_axis sends the whole gradient to the first largest element, as
 * PyTorch's max(dim); max over all elements splits it evenly, as torch.max(x). */
Test(ops_reduce, max_axis_first_argmax_max_splits_ties) {
    rg_tensor *x = rg_from_doubles(NULL, RG_F64, RG_DIMS(2, 3), (double[]){1, 3, 3, 2, 2, 0});
    rg_set_requires_grad(x, true);
    rg_tape *tp = rg_tape_new();
    rg_tensor *m = rg_max_axis(tp, x, 1, false);
    cr_assert(m);
    cr_expect_float_eq(rg_get(m, 0), 3.0, 0);
    cr_expect_float_eq(rg_get(m, 1), 2.0, 0);
    rg_tensor *y = rg_add(tp, rg_mul_scalar(tp, rg_sum(tp, m), 10), rg_max(tp, x));
    cr_assert_eq(rg_backward(tp, y), 0, "%s", rg_last_error());
    const double want[6] = {0, 10.5, 0.5, 10, 0, 0};
    for (int i = 0; i < 6; ++i) cr_expect_float_eq(rg_grad_get(x, i), want[i], 0, "i %d", i);
    rg_tape_free(tp);
    rg_tensor_free(x);
}

/* No gradient wanted: max keeps no indices and nothing is recorded. */
Test(ops_reduce, no_grad_records_nothing) {
    rg_tensor *x = rg_from_doubles(NULL, RG_F32, RG_DIMS(4), (double[]){1, -3, 7, 2});
    rg_tape *tp = rg_tape_new();
    rg_tensor *m = rg_max(tp, x);
    cr_assert(m);
    cr_expect_float_eq(rg_get(m, 0), 7.0, 0);
    cr_expect_float_eq(rg_get(rg_mean(tp, x), 0), 1.75, 1e-6);
    cr_expect_eq(rg_tape_entries(tp), 0);
    rg_tape_free(tp);
    rg_tensor_free(x);
}
