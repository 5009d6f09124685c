/* Gradient-check rows of ops/shape.c (transpose, reshape, concat, stack, slice,
 * and rg_split built from slices). */
#include "gradrows.h"

static rg_tensor *tr01(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_transpose(tp, in[0], 0, 1);
}
static rg_tensor *tr02(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_transpose(tp, in[0], 0, 2);
}
static rg_tensor *tr_neg(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_transpose(tp, in[0], -1, 1);
}
/* [a,b,c] -> [a*b, c] with the last dim inferred. */
static rg_tensor *rs_merge(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_reshape(tp, in[0], RG_DIMS(in[0]->shape[0] * in[0]->shape[1], -1));
}
/* [a,b] -> [a,1,b] (last dim inferred), then flattened to [a*b]. */
static rg_tensor *rs_chain(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *y = rg_reshape(tp, in[0], RG_DIMS(in[0]->shape[0], 1, -1));
    return rg_reshape(tp, y, RG_DIMS(-1));
}
static rg_tensor *cat0(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_concat(tp, n, in, 0);
}
static rg_tensor *cat1(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_concat(tp, n, in, 1);
}
static rg_tensor *cat_last(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_concat(tp, n, in, -1);
}
static rg_tensor *stk0(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_stack(tp, n, in, 0);
}
static rg_tensor *stk1(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_stack(tp, n, in, 1);
}
static rg_tensor *stk_last(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_stack(tp, n, in, -1);
}
static rg_tensor *sl_ax1(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_slice(tp, in[0], 1, 1, 3);
}
static rg_tensor *sl_ax0(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_slice(tp, in[0], 0, 2, 2);
}
static rg_tensor *sl_last(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_slice(tp, in[0], -1, 0, 4);
}
/* Three parts of axis 1, put back in another order. */
static rg_tensor *split_ax1(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *p[3];
    if (rg_split(tp, in[0], 1, 3, p) != 0) return NULL;
    return rg_concat(tp, 3, (rg_tensor *[]){p[2], p[0], p[1]}, 1);
}
/* Two parts of axis 0, stacked in reverse along a new last axis. */
static rg_tensor *split_ax0(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *p[2];
    if (rg_split(tp, in[0], 0, 2, p) != 0) return NULL;
    return rg_stack(tp, 2, (rg_tensor *[]){p[1], p[0]}, -1);
}

static rg_tensor *tr_rank0(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_transpose(tp, in[0], -1, 0);
}
/* Zero-length slices among others along the last axis: x[..,4:4], x[..,2:2], x[..,1:3]. */
static rg_tensor *sl_empty(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *p[3] = {rg_slice(tp, in[0], -1, 4, 0), rg_slice(tp, in[0], -1, 2, 0),
                       rg_slice(tp, in[0], -1, 1, 2)};
    return rg_concat(tp, 3, p, -1);
}
/* Row slices are views; an empty one next to a full one: x[1:1], x[0:1]. */
static rg_tensor *sl_empty_view(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *p[2] = {rg_slice(tp, in[0], 0, 1, 0), rg_slice(tp, in[0], 0, 0, 1)};
    return rg_concat(tp, 2, p, 0);
}
/* An axis of length 0 split in two empty parts, put side by side on the last axis. */
static rg_tensor *split_empty(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *p[2];
    if (rg_split(tp, in[0], 1, 2, p) != 0) return NULL;
    return rg_concat(tp, 2, (rg_tensor *[]){p[1], p[0]}, -1);
}

#define F64(r, ...) {RG_F64, r, {__VA_ARGS__}, -1.0, 1.0}
const rg_gradrow rg_gradrows_shape[] = {
    {"transpose_01", "transpose", 1, {F64(2, -1, -2)}, tr01},
    {"transpose_02_rank3", "transpose", 1, {F64(3, -1, -2, -3)}, tr02},
    {"transpose_neg_rank4", "transpose", 1, {F64(4, -1, -2, -3, -4)}, tr_neg},
    {"reshape_merge", "reshape", 1, {F64(3, -1, -2, -3)}, rs_merge},
    {"reshape_chain", "reshape", 1, {F64(2, -1, -2)}, rs_chain},
    {"concat_axis0", "concat", 3, {F64(2, -1, -2), F64(2, -3, -2), F64(2, 2, -2)}, cat0},
    {"concat_axis1", "concat", 2, {F64(3, -1, 2, -2), F64(3, -1, -3, -2)}, cat1},
    {"concat_last", "concat", 2, {F64(2, -1, -2), F64(2, -1, 3)}, cat_last},
    {"concat_one", "concat", 1, {F64(2, -1, -2)}, cat0},
    {"stack_axis0", "stack", 3, {F64(2, -1, -2), F64(2, -1, -2), F64(2, -1, -2)}, stk0},
    {"stack_axis1", "stack", 2, {F64(2, -1, -2), F64(2, -1, -2)}, stk1},
    {"stack_last", "stack", 2, {F64(3, -1, -2, -3), F64(3, -1, -2, -3)}, stk_last},
    {"slice_axis1", "slice", 1, {F64(3, -1, 5, -2)}, sl_ax1},
    {"slice_axis0", "slice", 1, {F64(2, 4, -1)}, sl_ax0},
    {"slice_last", "slice", 1, {F64(2, -1, 6)}, sl_last},
    {"split_axis1", "slice", 1, {F64(2, -1, 6)}, split_ax1},
    {"split_axis0", "slice", 1, {F64(3, 4, -1, -2)}, split_ax0},
    {"transpose_rank0_neg", "transpose", 1, {F64(0, 0)}, tr_rank0},
    {"slice_empty", "slice", 1, {F64(2, -1, 4)}, sl_empty},
    {"slice_empty_view", "slice", 1, {F64(2, -1, 3)}, sl_empty_view},
    {"split_empty", "slice", 1, {F64(3, -1, 0, 2)}, split_empty},
};
const int rg_gradrows_shape_n = (int)(sizeof rg_gradrows_shape / sizeof rg_gradrows_shape[0]);
