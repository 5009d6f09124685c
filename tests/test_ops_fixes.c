/* Regression tests of the op table's correctness fixes (issue 9), each against
 * what PyTorch gives: rank-0 tensors take axis -1, softmax along an empty axis
 * reads nothing, tied maxima share the gradient as torch.max(x) does, and
 * zero-length slices and splits are allowed.  (Aliased inputs of the fused
 * rows are in tests/rows_fused.c; all of these also have gradient-check rows.) */
#include <criterion/criterion.h>
#include <math.h>

#include "retrograd.h"

/* A persistent float64 leaf that requires a gradient. */
static rg_tensor *leaf(int rank, const int64_t *shape, const double *v) {
    rg_tensor *t = v ? rg_from_doubles(NULL, RG_F64, rank, shape, v)
                     : rg_zeros(NULL, RG_F64, rank, shape);
    cr_assert_not_null(t, "%s", rg_last_error());
    rg_set_requires_grad(t, true);
    return t;
}

/* ---- rank 0 and axis -1 ------------------------------------------------------ */

typedef rg_tensor *(*axis_fn)(rg_tape *tp, rg_tensor *a, int axis);
static rg_tensor *sum_ax(rg_tape *tp, rg_tensor *a, int ax) { return rg_sum_axis(tp, a, ax, false); }
static rg_tensor *mean_ax(rg_tape *tp, rg_tensor *a, int ax) { return rg_mean_axis(tp, a, ax, true); }
static rg_tensor *max_ax(rg_tape *tp, rg_tensor *a, int ax) { return rg_max_axis(tp, a, ax, false); }
static rg_tensor *tr_ax(rg_tape *tp, rg_tensor *a, int ax) { return rg_transpose(tp, a, ax, -1); }

/* PyTorch on a 0-d x = 1.5 with dim -1: sum, mean, max and transpose give x
 * (gradient 1), softmax gives 1 and log_softmax 0 (gradient 0 for both). */
Test(ops_fixes, rank0_takes_axis_minus_one) {
    const struct {
        const char *name;
        axis_fn fn;
        double value, grad;
    } c[] = {{"sum_axis", sum_ax, 1.5, 1},    {"mean_axis", mean_ax, 1.5, 1},
             {"max_axis", max_ax, 1.5, 1},    {"transpose", tr_ax, 1.5, 1},
             {"softmax", rg_softmax, 1, 0},   {"log_softmax", rg_log_softmax, 0, 0}};
    for (size_t k = 0; k < sizeof c / sizeof c[0]; ++k) {
        for (int axis = -1; axis <= 0; ++axis) {
            rg_tensor *x = leaf(0, NULL, (double[]){1.5});
            rg_tape *tp = rg_tape_new();
            rg_tensor *y = c[k].fn(tp, x, axis);
            cr_assert_not_null(y, "%s axis %d: %s", c[k].name, axis, rg_last_error());
            cr_expect_eq(y->rank, 0, "%s: rank %d", c[k].name, y->rank);
            cr_expect_float_eq(rg_get(y, 0), c[k].value, 1e-15, "%s", c[k].name);
            cr_assert_eq(rg_backward(tp, y), 0, "%s: %s", c[k].name, rg_tape_error(tp));
            cr_expect_float_eq(rg_grad_get(x, 0), c[k].grad, 1e-15, "%s grad", c[k].name);
            rg_tape_free(tp);
            rg_tensor_free(x);
        }
    }
}

/* Beyond [-1, 0] stays an error, with PyTorch's range in mind. */
Test(ops_fixes, rank0_refuses_other_axes) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = rg_scalar(tp, RG_F64, 2);
    cr_expect_null(rg_sum_axis(tp, x, -2, false));
    cr_expect_str_eq(rg_tape_error(tp), "rg_sum_axis: axis -2 out of range for a []");
    rg_tape_reset(tp);
    x = rg_scalar(tp, RG_F64, 2);
    cr_expect_null(rg_softmax(tp, x, 1));
    cr_expect_str_eq(rg_tape_error(tp), "rg_softmax: axis 1 out of range for a []");
    rg_tape_reset(tp);
    x = rg_scalar(tp, RG_F64, 2);
    cr_expect_null(rg_transpose(tp, x, 0, -2));
    cr_expect_str_eq(rg_tape_error(tp), "rg_transpose: dims (0, -2) out of range for a []");
    rg_tape_free(tp);
}

/* ---- softmax along an axis of length 0 ------------------------------------------ */

/* Persistent inputs with no elements: their data ends the allocation, so a read
 * of one element shows under AddressSanitizer. */
Test(ops_fixes, softmax_empty_axis_reads_nothing) {
    const struct {
        int rank;
        int64_t shape[3];
        int axis;
    } c[] = {{2, {3, 0}, -1}, {2, {0, 3}, 0}, {3, {2, 0, 3}, 1}, {1, {0}, 0}};
    for (size_t k = 0; k < sizeof c / sizeof c[0]; ++k)
        for (int logsm = 0; logsm < 2; ++logsm) {
            rg_tensor *x = leaf(c[k].rank, c[k].shape, NULL);
            rg_tape *tp = rg_tape_new();
            rg_tensor *y = logsm ? rg_log_softmax(tp, x, c[k].axis) : rg_softmax(tp, x, c[k].axis);
            cr_assert_not_null(y, "case %zu: %s", k, rg_last_error());
            cr_expect(y->numel == 0 && y->rank == c[k].rank && rg_same_shape(x, y));
            cr_expect_eq(rg_backward(tp, rg_sum(tp, y)), 0, "%s", rg_tape_error(tp));
            rg_tape_free(tp);
            rg_tensor_free(x);
        }
}

/* ---- ties in max ------------------------------------------------------------------ */

/* d sum(w * y) / dx for y = rg_max(x) or rg_max_axis(x, axis). */
static void max_grad(rg_dtype dt, int rank, const int64_t *shape, const double *v, int axis,
                     const double *want, double want_y) {
    rg_tensor *x = rg_from_doubles(NULL, dt, rank, shape, v);
    rg_set_requires_grad(x, true);
    rg_tape *tp = rg_tape_new();
    rg_tensor *y = axis < -9 ? rg_max(tp, x) : rg_max_axis(tp, x, axis, false);
    cr_assert_not_null(y, "%s", rg_last_error());
    if (axis < -9) {
        if (isnan(want_y)) cr_expect(isnan(rg_get(y, 0)));
        else cr_expect_float_eq(rg_get(y, 0), want_y, 0);
    }
    cr_assert_eq(rg_backward(tp, rg_mul_scalar(tp, rg_sum(tp, y), 6)), 0, "%s",
                 rg_tape_error(tp));
    double tol = dt == RG_F32 ? 1e-6 : 1e-15;
    for (int64_t i = 0; i < x->numel; ++i)
        cr_expect_float_eq(rg_grad_get(x, i), want[i], tol, "element %lld: %g, want %g",
                           (long long)i, rg_grad_get(x, i), want[i]);
    rg_tape_free(tp);
    rg_tensor_free(x);
}

/* torch.max(x) (and amax) split the gradient evenly among tied maxima; a NaN
 * maximum shares it among the NaNs.  The numbers are PyTorch's for 6 * max(x). */
Test(ops_fixes, max_ties_split_evenly) {
    for (int f = 0; f < 2; ++f) {
        rg_dtype dt = f ? RG_F32 : RG_F64;
        max_grad(dt, 1, (int64_t[]){4}, (double[]){1, 3, 3, 2}, -10, (double[]){0, 3, 3, 0}, 3);
        max_grad(dt, 2, (int64_t[]){2, 3}, (double[]){5, 0, 5, 5, -1, 2}, -10,
                 (double[]){2, 0, 2, 2, 0, 0}, 5);
        max_grad(dt, 1, (int64_t[]){4}, (double[]){1, NAN, 7, NAN}, -10, (double[]){0, 3, 0, 3},
                 NAN);
        max_grad(dt, 1, (int64_t[]){3}, (double[]){-2, 4, 1}, -10, (double[]){0, 6, 0}, 4);
    }
}

/* torch.max(x, dim) returns one index per slice, the first maximum on the CPU,
 * and its gradient goes there alone: rg_max_axis follows it. */
Test(ops_fixes, max_axis_ties_go_to_first_index) {
    max_grad(RG_F64, 2, (int64_t[]){2, 4}, (double[]){1, 3, 3, 2, 5, 5, 5, 0}, 1,
             (double[]){0, 6, 0, 0, 6, 0, 0, 0}, 0);
    max_grad(RG_F64, 2, (int64_t[]){3, 2}, (double[]){4, 1, 4, 1, 0, 1}, 0,
             (double[]){6, 6, 0, 0, 0, 0}, 0);
}

/* ---- zero-length slices and splits ------------------------------------------------ */

Test(ops_fixes, zero_length_slices) {
    double v[12];
    for (int i = 0; i < 12; ++i) v[i] = i;
    rg_tensor *x = leaf(2, (int64_t[]){4, 3}, v);
    rg_tape *tp = rg_tape_new();
    /* rows (a view), columns (a copy), at the start, inside and at the very end */
    rg_tensor *s[4] = {rg_slice(tp, x, 0, 0, 0), rg_slice(tp, x, 0, 4, 0),
                       rg_slice(tp, x, 1, 1, 0), rg_slice(tp, x, -1, 3, 0)};
    for (int k = 0; k < 4; ++k) {
        cr_assert_not_null(s[k], "slice %d: %s", k, rg_last_error());
        cr_expect_eq(s[k]->numel, 0);
        cr_expect_eq(s[k]->rank, 2);
    }
    cr_expect(s[0]->shape[0] == 0 && s[0]->shape[1] == 3);
    cr_expect(s[2]->shape[0] == 4 && s[2]->shape[1] == 0);
    /* empty slices next to a real one: only the real one's gradient arrives */
    rg_tensor *y = rg_concat(tp, 3, (rg_tensor *[]){s[0], rg_slice(tp, x, 0, 1, 2), s[1]}, 0);
    cr_assert_not_null(y, "%s", rg_last_error());
    cr_expect(y->shape[0] == 2 && y->shape[1] == 3);
    rg_tensor *z = rg_concat(tp, 2, (rg_tensor *[]){s[2], s[3]}, 1);
    cr_assert_not_null(z, "%s", rg_last_error());
    rg_tensor *loss = rg_add(tp, rg_sum(tp, rg_mul_scalar(tp, y, 2)), rg_sum(tp, z));
    cr_assert_eq(rg_backward(tp, loss), 0, "%s", rg_tape_error(tp));
    for (int i = 0; i < 12; ++i)
        cr_expect_float_eq(rg_grad_get(x, i), i >= 3 && i < 9 ? 2.0 : 0.0, 0, "i %d", i);
    /* still out of bounds: a start past the end, a negative length */
    cr_expect_null(rg_slice(tp, x, 0, 5, 0));
    cr_expect_str_eq(rg_tape_error(tp), "rg_slice: range [5, 5) out of bounds on axis 0 of a [4,3]");
    rg_tape_reset(tp);
    cr_expect_null(rg_slice(tp, x, 1, 1, -1));
    cr_expect_str_eq(rg_tape_error(tp), "rg_slice: range [1, 0) out of bounds on axis 1 of a [4,3]");
    rg_tape_free(tp);
    rg_tensor_free(x);
}

/* An axis of length 0 splits into n empty parts (torch.tensor_split). */
Test(ops_fixes, zero_length_splits) {
    rg_tensor *x = leaf(3, (int64_t[]){2, 0, 3}, NULL);
    rg_tape *tp = rg_tape_new();
    rg_tensor *p[3];
    cr_assert_eq(rg_split(tp, x, 1, 3, p), 0, "%s", rg_last_error());
    for (int k = 0; k < 3; ++k) {
        cr_assert_not_null(p[k]);
        cr_expect(p[k]->rank == 3 && p[k]->shape[0] == 2 && p[k]->shape[1] == 0 &&
                  p[k]->shape[2] == 3 && p[k]->numel == 0);
    }
    rg_tensor *y = rg_concat(tp, 3, p, 0);
    cr_assert_not_null(y, "%s", rg_last_error());
    cr_expect(y->shape[0] == 6 && y->numel == 0);
    cr_expect_eq(rg_backward(tp, rg_sum(tp, y)), 0, "%s", rg_tape_error(tp));
    rg_tape_reset(tp);
    rg_tensor *x2 = rg_zeros(tp, RG_F64, RG_DIMS(0, 4));
    cr_expect_eq(rg_split(tp, x2, 0, 2, p), 0, "%s", rg_last_error());
    cr_expect(p[0] && p[1] && p[0]->shape[0] == 0 && p[1]->shape[1] == 4);
    rg_tape_free(tp);
    rg_tensor_free(x);
}
