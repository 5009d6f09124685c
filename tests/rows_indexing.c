/* Gradient-check rows of ops/indexing.c.  Rows of ops without a gradient (the
 * comparisons, argmax, argmin) use the result the way a model does, as a factor
 * or as indices of rg_gather, so that the row's output carries a gradient and
 * the PyTorch data checks the mask or the indices.  Random values are never
 * tied, so masks and indices do not move under the gradient check's steps.
 * tools/op_refs_indexing.py mirrors these rows. */
#include "gradrows.h"

#define BUILD(name, expr)                                                              \
    static rg_tensor *name(rg_tape *tp, rg_tensor *const *in, int n) { return expr; }

BUILD(b_isel0, rg_index_select(tp, in[0], 0, in[1]))
BUILD(b_isel1, rg_index_select(tp, in[0], 1, in[1]))
BUILD(b_isel_last, rg_index_select(tp, in[0], -1, in[1]))
BUILD(b_gather0, rg_gather(tp, in[0], 0, in[1]))
BUILD(b_gather1, rg_gather(tp, in[0], 1, in[1]))
BUILD(b_gather_last, rg_gather(tp, in[0], -1, in[1]))
BUILD(b_where, rg_where(tp, in[0], in[1], in[2]))
BUILD(b_where_same, rg_where(tp, in[0], in[1], in[1]))
BUILD(b_masked_fill, rg_masked_fill(tp, in[0], in[1], -7.5))
/* mask * (a - b): a relu of the difference where the relation holds */
BUILD(b_gt, rg_mul(tp, rg_gt(tp, in[0], in[1]), rg_sub(tp, in[0], in[1])))
BUILD(b_lt, rg_mul(tp, rg_lt(tp, in[0], in[1]), rg_sub(tp, in[0], in[1])))
BUILD(b_ge, rg_mul(tp, rg_ge(tp, in[0], in[1]), rg_sub(tp, in[0], in[1])))
BUILD(b_le, rg_mul(tp, rg_le(tp, in[0], in[1]), rg_sub(tp, in[0], in[1])))
/* x where it equals (differs from) its row maximum */
BUILD(b_eq, rg_mul(tp, rg_eq(tp, in[0], rg_max_axis(tp, in[0], -1, true)), in[0]))
BUILD(b_ne, rg_mul(tp, rg_ne(tp, in[0], rg_max_axis(tp, in[0], -1, true)), in[0]))
BUILD(b_argmax0, rg_gather(tp, in[0], 0, rg_argmax(tp, in[0], 0, true)))
BUILD(b_argmax_last, rg_gather(tp, in[0], -1, rg_argmax(tp, in[0], -1, true)))
BUILD(b_argmin1, rg_gather(tp, in[0], 1, rg_argmin(tp, in[0], 1, true)))
BUILD(b_argmin_last, rg_gather(tp, in[0], -1, rg_argmin(tp, in[0], -1, true)))
/* without keepdim: the indices [N] of each row, as ids of index_select */
BUILD(b_argmax_drop, rg_index_select(tp, in[0], 0, rg_argmax(tp, in[0], -1, false)))
BUILD(b_iadd0, rg_index_add(tp, in[0], 0, in[1], in[2]))
BUILD(b_iadd1, rg_index_add(tp, in[0], 1, in[1], in[2]))
BUILD(b_iadd_last, rg_index_add(tp, in[0], -1, in[1], in[2]))
/* one tensor as x and src (L = K) */
BUILD(b_iadd_same, rg_index_add(tp, in[0], 0, in[1], in[0]))

static rg_tensor *b_topk_largest(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *vi[2];
    return rg_topk(tp, in[0], 3, -1, true, vi) == 0 ? vi[0] : NULL;
}
static rg_tensor *b_topk_smallest(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *vi[2];
    return rg_topk(tp, in[0], 2, 0, false, vi) == 0 ? vi[0] : NULL;
}
/* The indices, through rg_gather: equal to the values. */
static rg_tensor *b_topk_indices(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *vi[2];
    return rg_topk(tp, in[0], 2, 1, true, vi) == 0 ? rg_gather(tp, in[0], 1, vi[1]) : NULL;
}

#define IN(lo, hi, r, ...) {RG_F64, r, {__VA_ARGS__}, lo, hi}
#define S0(lo, hi) {RG_F64, 0, {0}, lo, hi}
/* I32 indices in [0, random dim k), or in [0, hi) for a fixed bound. */
#define IDX(k, r, ...) {RG_I32, r, {__VA_ARGS__}, 0, -(k)}
#define IDXN(hi, r, ...) {RG_I32, r, {__VA_ARGS__}, 0, hi}
/* An I32 0/1 mask. */
#define MASK(r, ...) {RG_I32, r, {__VA_ARGS__}, 0, 2}

const rg_gradrow rg_gradrows_indexing[] = {
    /* six ids over at most four rows: some repeat, and backward adds them up */
    {"index_select_axis0", "index_select", 2, {IN(-2, 2, 2, -1, -2), IDX(1, 1, 6)}, b_isel0},
    {"index_select_axis1", "index_select", 2, {IN(-2, 2, 3, -1, -2, -3), IDX(2, 1, 5)},
     b_isel1},
    {"index_select_last", "index_select", 2, {IN(-2, 2, 2, -1, -2), IDX(2, 1, 3)}, b_isel_last},
    {"index_select_rank0", "index_select", 2, {S0(-2, 2), IDXN(1, 0, 0)}, b_isel_last},
    {"gather_axis0", "gather", 2, {IN(-2, 2, 2, -1, -2), IDX(1, 2, 5, -2)}, b_gather0},
    {"gather_axis1", "gather", 2, {IN(-2, 2, 3, -1, -2, -3), IDX(2, 3, -1, 4, -3)}, b_gather1},
    /* idx smaller than x off the axis */
    {"gather_smaller", "gather", 2, {IN(-2, 2, 2, 3, 4), IDXN(4, 2, 2, 6)}, b_gather_last},
    {"gather_rank0", "gather", 2, {S0(-2, 2), IDXN(1, 0, 0)}, b_gather_last},
    {"where_same", "where", 3, {MASK(2, -1, -2), IN(-2, 2, 2, -1, -2), IN(-2, 2, 2, -1, -2)},
     b_where},
    {"where_broadcast", "where", 3, {MASK(2, -1, 1), IN(-2, 2, 1, -2), IN(-2, 2, 2, -1, -2)},
     b_where},
    {"where_rank3", "where", 3,
     {MASK(1, -3), IN(-2, 2, 3, -1, 1, -3), IN(-2, 2, 2, -2, 1)}, b_where},
    {"where_one_input", "where", 2, {MASK(2, -1, -2), IN(-2, 2, 1, -2)}, b_where_same},
    {"masked_fill_same", "masked_fill", 2, {IN(-2, 2, 2, -1, -2), MASK(2, -1, -2)},
     b_masked_fill},
    {"masked_fill_row", "masked_fill", 2, {IN(-2, 2, 3, -1, -2, -3), MASK(1, -3)},
     b_masked_fill},
    {"masked_fill_col", "masked_fill", 2, {IN(-2, 2, 2, -1, -2), MASK(2, -1, 1)},
     b_masked_fill},
    {"gt", "gt", 2, {IN(-2, 2, 2, -1, -2), IN(-2, 2, 1, -2)}, b_gt},
    {"lt", "lt", 2, {IN(-2, 2, 2, -1, -2), IN(-2, 2, 2, -1, 1)}, b_lt},
    {"ge", "ge", 2, {IN(-2, 2, 2, -1, -2), IN(-2, 2, 2, -1, -2)}, b_ge},
    {"le", "le", 2, {IN(-2, 2, 3, -1, -2, -3), S0(-2, 2)}, b_le},
    {"eq", "eq", 1, {IN(-2, 2, 2, -1, -2)}, b_eq},
    {"ne", "ne", 1, {IN(-2, 2, 2, -1, -2)}, b_ne},
    {"argmax_axis0", "argmax", 1, {IN(-2, 2, 3, -1, -2, -3)}, b_argmax0},
    {"argmax_last", "argmax", 1, {IN(-2, 2, 2, -1, -2)}, b_argmax_last},
    {"argmax_rank0", "argmax", 1, {S0(-2, 2)}, b_argmax_last},
    {"argmax_drop", "argmax", 1, {IN(-2, 2, 2, 4, 4)}, b_argmax_drop},
    {"argmin_axis1", "argmin", 1, {IN(-2, 2, 3, -1, -2, -3)}, b_argmin1},
    {"argmin_last", "argmin", 1, {IN(-2, 2, 2, -1, -2)}, b_argmin_last},
    {"topk_largest", "topk", 1, {IN(-2, 2, 2, -1, 5)}, b_topk_largest},
    {"topk_smallest", "topk", 1, {IN(-2, 2, 3, 4, -2, -3)}, b_topk_smallest},
    {"topk_indices", "topk", 1, {IN(-2, 2, 2, -1, 4)}, b_topk_indices},
    /* six ids over at most four rows: repeated ids add up */
    {"index_add_axis0", "index_add", 3, {IN(-2, 2, 2, -1, -2), IDX(1, 1, 6), IN(-2, 2, 2, 6, -2)},
     b_iadd0},
    {"index_add_axis1", "index_add", 3,
     {IN(-2, 2, 3, -1, -2, -3), IDX(2, 1, 5), IN(-2, 2, 3, -1, 5, -3)}, b_iadd1},
    {"index_add_rank0", "index_add", 3, {S0(-2, 2), IDXN(1, 0, 0), S0(-2, 2)}, b_iadd_last},
    {"index_add_x_is_src", "index_add", 2, {IN(-2, 2, 2, 3, -2), IDXN(3, 1, 3)}, b_iadd_same},
};
const int rg_gradrows_indexing_n =
    (int)(sizeof rg_gradrows_indexing / sizeof rg_gradrows_indexing[0]);
