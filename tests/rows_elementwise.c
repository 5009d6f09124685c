/* Gradient-check rows of ops/elementwise.c (every broadcasting path of the
 * binary ops, and the unary ops on inputs kept away from their kinks and
 * outside their domains' edges), plus checks that the F32 kernels agree with
 * the F64 ones on every row of ops/elementwise.c and ops/reduce.c, and the
 * error paths of the elementwise ops.  tools/op_refs_elementwise.py mirrors
 * these rows for the PyTorch forward data. */
#include <criterion/criterion.h>
#include <string.h>

#include "gradrows.h"
#include "testutil.h"

/* ---- builds ---------------------------------------------------------------- */

#define BUILD1(name, expr)                                                             \
    static rg_tensor *name(rg_tape *tp, rg_tensor *const *in, int n) { return expr; }

BUILD1(b_add, rg_add(tp, in[0], in[1]))
BUILD1(b_sub, rg_sub(tp, in[0], in[1]))
BUILD1(b_mul, rg_mul(tp, in[0], in[1]))
BUILD1(b_div, rg_div(tp, in[0], in[1]))
BUILD1(b_mul_self, rg_mul(tp, in[0], in[0]))
BUILD1(b_div_chain_row, rg_div(tp, in[0], rg_add_scalar(tp, rg_mul(tp, in[1], in[1]), 0.5)))
BUILD1(b_neg, rg_neg(tp, in[0]))
BUILD1(b_add_scalar, rg_add_scalar(tp, in[0], 0.7))
BUILD1(b_mul_scalar, rg_mul_scalar(tp, in[0], -1.3))
BUILD1(b_pow_3, rg_pow_scalar(tp, in[0], 3.0))
BUILD1(b_pow_2, rg_pow_scalar(tp, in[0], 2.0))
BUILD1(b_pow_half, rg_pow_scalar(tp, in[0], 0.5))
BUILD1(b_pow_m15, rg_pow_scalar(tp, in[0], -1.5))
BUILD1(b_pow_0, rg_pow_scalar(tp, in[0], 0.0))
BUILD1(b_exp, rg_exp(tp, in[0]))
BUILD1(b_log, rg_log(tp, in[0]))
BUILD1(b_sqrt, rg_sqrt(tp, in[0]))
BUILD1(b_abs, rg_abs(tp, in[0]))
BUILD1(b_tanh, rg_tanh(tp, in[0]))
BUILD1(b_sigmoid, rg_sigmoid(tp, in[0]))
BUILD1(b_relu, rg_relu(tp, in[0]))
BUILD1(b_clamp, rg_clamp(tp, in[0], -0.5, 0.5))

/* ---- rows ------------------------------------------------------------------- */

/* A float64 input uniform in [lo, hi) of rank r and shape ... */
#define IN(lo, hi, r, ...) {RG_F64, r, {__VA_ARGS__}, lo, hi}
#define S0(lo, hi) {RG_F64, 0, {0}, lo, hi}

/* Every broadcasting pattern of a binary op; b is drawn from [lo, hi) (kept
 * away from 0 for div). */
#define BINARY_ROWS(op, build, lo, hi)                                                 \
    {#op "_same", #op, 2, {IN(-1, 1, 2, -1, -2), IN(lo, hi, 2, -1, -2)}, build},       \
    {#op "_same_rank3", #op, 2, {IN(-1, 1, 3, -1, -2, -3), IN(lo, hi, 3, -1, -2, -3)}, \
     build},                                                                           \
    {#op "_row", #op, 2, {IN(-1, 1, 2, -1, -2), IN(lo, hi, 1, -2)}, build},            \
    {#op "_row_fixed", #op, 2, {IN(-1, 1, 2, 5, 3), IN(lo, hi, 1, 3)}, build},         \
    {#op "_row_left", #op, 2, {IN(-1, 1, 1, 3), IN(lo, hi, 2, 5, 3)}, build},          \
    {#op "_row_rank3", #op, 2, {IN(-1, 1, 3, -1, -2, -3), IN(lo, hi, 2, -2, -3)},      \
     build},                                                                           \
    {#op "_col", #op, 2, {IN(-1, 1, 2, -1, -2), IN(lo, hi, 2, -1, 1)}, build},         \
    {#op "_col_fixed", #op, 2, {IN(-1, 1, 2, 3, 4), IN(lo, hi, 2, 3, 1)}, build},      \
    {#op "_col_left", #op, 2, {IN(-1, 1, 2, 3, 1), IN(lo, hi, 2, 3, 4)}, build},       \
    {#op "_rank0", #op, 2, {IN(-1, 1, 2, -1, -2), S0(lo, hi)}, build},                \
    {#op "_rank0_left", #op, 2, {S0(-1, 1), IN(lo, hi, 2, -1, -2)}, build},           \
    {#op "_1elem", #op, 2, {IN(-1, 1, 2, -1, -2), IN(lo, hi, 2, 1, 1)}, build}, \
    {#op "_mid3", #op, 2, {IN(-1, 1, 3, -1, -2, -3), IN(lo, hi, 3, -1, 1, -3)},        \
     build},                                                                           \
    {#op "_mid3_fixed", #op, 2, {IN(-1, 1, 3, 2, 3, 4), IN(lo, hi, 3, 2, 1, 4)},       \
     build},                                                                           \
    {#op "_both", #op, 2, {IN(-1, 1, 2, -1, 1), IN(lo, hi, 2, 1, -2)}, build},         \
    {#op "_both_fixed", #op, 2, {IN(-1, 1, 2, 3, 1), IN(lo, hi, 1, 4)}, build},        \
    {#op "_rank4", #op, 2, {IN(-1, 1, 4, -1, -2, -3, -4), IN(lo, hi, 2, -3, 1)}, build}

const rg_gradrow rg_gradrows_elementwise[] = {
    BINARY_ROWS(add, b_add, -1, 1),
    BINARY_ROWS(sub, b_sub, -1, 1),
    BINARY_ROWS(mul, b_mul, -1, 1),
    BINARY_ROWS(div, b_div, 0.5, 2),
    {"div_negative", "div", 2, {IN(-1, 1, 2, -1, -2), IN(-2, -0.5, 2, -1, -2)}, b_div},
    {"mul_self", "mul", 1, {IN(-1, 1, 2, -1, -2)}, b_mul_self},
    {"div_chain_row", "div", 2, {IN(-1, 1, 2, -1, -2), IN(-1, 1, 1, -2)}, b_div_chain_row},
    {"neg", "neg", 1, {IN(-1, 1, 3, -1, -2, -3)}, b_neg},
    {"neg_rank0", "neg", 1, {S0(-1, 1)}, b_neg},
    {"add_scalar", "add_scalar", 1, {IN(-1, 1, 2, -1, -2)}, b_add_scalar},
    {"mul_scalar", "mul_scalar", 1, {IN(-1, 1, 2, -1, -2)}, b_mul_scalar},
    {"pow_scalar_3", "pow_scalar", 1, {IN(-2, 2, 2, -1, -2)}, b_pow_3},
    {"pow_scalar_2", "pow_scalar", 1, {IN(-2, 2, 2, -1, -2)}, b_pow_2},
    {"pow_scalar_half", "pow_scalar", 1, {IN(0.2, 2, 2, -1, -2)}, b_pow_half},
    {"pow_scalar_m1_5", "pow_scalar", 1, {IN(0.5, 2, 2, -1, -2)}, b_pow_m15},
    {"pow_scalar_0", "pow_scalar", 1, {IN(-1, 1, 2, -1, -2)}, b_pow_0},
    {"exp", "exp", 1, {IN(-2, 2, 2, -1, -2)}, b_exp},
    {"log", "log", 1, {IN(0.2, 3, 2, -1, -2)}, b_log},
    {"sqrt", "sqrt", 1, {IN(0.2, 3, 2, -1, -2)}, b_sqrt},
    {"abs_pos", "abs", 1, {IN(0.1, 2, 2, -1, -2)}, b_abs},
    {"abs_neg", "abs", 1, {IN(-2, -0.1, 2, -1, -2)}, b_abs},
    {"tanh", "tanh", 1, {IN(-2, 2, 2, -1, -2)}, b_tanh},
    {"tanh_rank4", "tanh", 1, {IN(-2, 2, 4, -1, -2, -3, -4)}, b_tanh},
    {"sigmoid", "sigmoid", 1, {IN(-4, 4, 2, -1, -2)}, b_sigmoid},
    {"relu_pos", "relu", 1, {IN(0.1, 2, 2, -1, -2)}, b_relu},
    {"relu_neg", "relu", 1, {IN(-2, -0.1, 2, -1, -2)}, b_relu},
    {"clamp_inside", "clamp", 1, {IN(-0.45, 0.45, 2, -1, -2)}, b_clamp},
    {"clamp_below", "clamp", 1, {IN(-2, -0.55, 2, -1, -2)}, b_clamp},
    {"clamp_above", "clamp", 1, {IN(0.55, 2, 2, -1, -2)}, b_clamp},
};
const int rg_gradrows_elementwise_n =
    (int)(sizeof rg_gradrows_elementwise / sizeof rg_gradrows_elementwise[0]);

/* ---- F32 kernels against F64 ------------------------------------------------------ */

/* Runs row in dtype dt on inputs converted from x64 (fixed random dims), with
 * loss = sum(y * w): y and every input gradient come back as persistent F64. */
static void run_in(const rg_gradrow *row, rg_dtype dt, rg_tensor *const *x64,
                   rg_tensor **y_out, rg_tensor **dx_out) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *x[6] = {0};
    for (int j = 0; j < row->n_in; ++j) {
        x[j] = rg_tensor_new(NULL, dt, x64[j]->rank, x64[j]->shape);
        cr_assert(x[j] && rg_tensor_copy(x[j], x64[j]) == 0);
        rg_set_requires_grad(x[j], true);
    }
    rg_tensor *y = row->build(tp, x, row->n_in);
    cr_assert(y, "%s: %s", row->name, rg_last_error());
    cr_assert_eq(y->dtype, dt, "%s: output dtype", row->name);
    rg_rng r;
    rg_rng_seed(&r, 99);
    rg_tensor *w = rg_uniform(tp, dt, y->rank, y->shape, -1, 1, &r);
    rg_tensor *loss = rg_sum(tp, rg_mul(tp, y, w));
    cr_assert(loss && rg_backward(tp, loss) == 0, "%s: %s", row->name, rg_last_error());
    *y_out = rg_tensor_new(NULL, RG_F64, y->rank, y->shape);
    rg_tensor_copy(*y_out, y);
    for (int j = 0; j < row->n_in; ++j) {
        dx_out[j] = rg_zeros(NULL, RG_F64, x[j]->rank, x[j]->shape);
        for (int64_t i = 0; i < x[j]->numel; ++i) rg_set(dx_out[j], i, rg_grad_get(x[j], i));
        rg_tensor_free(x[j]);
    }
    rg_tape_free(tp);
}

static void f32_matches_f64(const rg_gradrow *row) {
    static const int64_t dims[8] = {3, 4, 2, 5, 3, 2, 4, 3};
    rg_rng r;
    rg_rng_seed(&r, 7);
    rg_tensor *x[6] = {0};
    for (int j = 0; j < row->n_in; ++j) {
        const rg_gradrow_input *s = &row->in[j];
        int64_t shape[RG_MAX_RANK];
        for (int d = 0; d < s->rank; ++d)
            shape[d] = s->shape[d] < 0 ? dims[-s->shape[d] - 1] : s->shape[d];
        x[j] = rg_uniform(NULL, RG_F64, s->rank, shape, s->lo, s->hi, &r);
    }
    rg_tensor *y64, *y32, *d64[6], *d32[6];
    run_in(row, RG_F64, x, &y64, d64);
    run_in(row, RG_F32, x, &y32, d32);
    rg_cmp c = rg_test_compare(y32, y64, 1e-5, 1e-4);
    cr_expect(c.pass, "%s: f32 output differs at %lld: %.9g vs %.9g", row->name,
              (long long)c.worst, c.got_v, c.want_v);
    for (int j = 0; j < row->n_in; ++j) {
        c = rg_test_compare(d32[j], d64[j], 1e-5, 1e-4);
        cr_expect(c.pass, "%s: f32 gradient of input %d differs at %lld: %.9g vs %.9g",
                  row->name, j, (long long)c.worst, c.got_v, c.want_v);
        rg_tensor_free(d32[j]);
        rg_tensor_free(d64[j]);
        rg_tensor_free(x[j]);
    }
    rg_tensor_free(y32);
    rg_tensor_free(y64);
}

Test(ops_elementwise, f32_matches_f64) {
    for (int i = 0; i < rg_gradrows_elementwise_n; ++i)
        f32_matches_f64(&rg_gradrows_elementwise[i]);
    for (int i = 0; i < rg_gradrows_reduce_n; ++i) f32_matches_f64(&rg_gradrows_reduce[i]);
}

/* ---- error paths and gradient plumbing -------------------------------------------- */

Test(ops_elementwise, broadcast_error_names_op_and_shapes) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *a = rg_zeros(tp, RG_F64, RG_DIMS(3, 4));
    rg_tensor *b = rg_zeros(tp, RG_F64, RG_DIMS(5, 4));
    cr_expect_null(rg_add(tp, a, b));
    cr_expect_str_eq(rg_tape_error(tp), "rg_add: shapes do not broadcast: a [3,4], b [5,4]");
    cr_expect_str_eq(rg_last_error(), "rg_add: shapes do not broadcast: a [3,4], b [5,4]");
    cr_expect_null(rg_mul(tp, a, a), "an errored tape gives NULL");
    rg_tape_reset(tp);
    a = rg_zeros(tp, RG_F64, RG_DIMS(2, 3, 4));
    b = rg_zeros(tp, RG_F64, RG_DIMS(3, 1, 2));
    cr_expect_null(rg_div(tp, a, b));
    cr_expect_str_eq(rg_tape_error(tp),
                     "rg_div: shapes do not broadcast: a [2,3,4], b [3,1,2]");
    rg_tape_free(tp);
}

Test(ops_elementwise, dtype_errors) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *a = rg_zeros(tp, RG_F32, RG_DIMS(3));
    rg_tensor *b = rg_zeros(tp, RG_F64, RG_DIMS(3));
    cr_expect_null(rg_sub(tp, a, b));
    cr_expect_str_eq(rg_tape_error(tp),
                     "rg_sub: dtypes differ: a [3] float32, b [3] float64");
    rg_tape_reset(tp);
    rg_tensor *k = rg_zeros(tp, RG_I32, RG_DIMS(2, 2));
    cr_expect_null(rg_exp(tp, k));
    cr_expect_str_eq(rg_tape_error(tp),
                     "rg_exp: a [2,2] is int32; elementwise ops take float32 or float64");
    rg_tape_reset(tp);
    k = rg_zeros(tp, RG_I32, RG_DIMS(2));
    cr_expect_null(rg_add(tp, rg_zeros(tp, RG_F64, RG_DIMS(2)), k));
    cr_expect(strstr(rg_tape_error(tp), "rg_add: b [2] is int32") != NULL, "%s",
              rg_tape_error(tp));
    rg_tape_free(tp);
}

Test(ops_elementwise, null_input_gives_null) {
    rg_tape *tp = rg_tape_new();
    cr_expect_null(rg_tanh(tp, NULL));
    cr_expect_null(rg_add(tp, rg_tanh(tp, NULL), rg_zeros(tp, RG_F64, RG_DIMS(2))));
    cr_expect_neq(rg_tape_error(tp), NULL);
    rg_tape_free(tp);
}

/* Only the input that asks for a gradient gets one; broadcast gradients are
 * summed (bias [3] on [2,3]); a second backward accumulates. */
Test(ops_elementwise, bias_gradient_and_accumulation) {
    rg_tensor *x = rg_from_doubles(NULL, RG_F32, RG_DIMS(2, 3), (double[]){1, 2, 3, 4, 5, 6});
    rg_tensor *bias = rg_from_doubles(NULL, RG_F32, RG_DIMS(3), (double[]){0.5, -1, 2});
    rg_set_requires_grad(bias, true);
    rg_tape *tp = rg_tape_new();
    for (int pass = 1; pass <= 2; ++pass) {
        rg_tensor *y = rg_add(tp, x, bias);
        cr_assert(y);
        cr_expect_eq(y->rank, 2);
        cr_expect_float_eq(rg_get(y, 5), 8.0, 1e-6);
        cr_assert_eq(rg_backward(tp, rg_sum(tp, rg_mul(tp, y, y))), 0, "%s", rg_last_error());
        /* d/dbias_j sum_i (x_ij + b_j)^2 = 2 sum_i (x_ij + b_j) */
        const double want[3] = {2 * (1.5 + 4.5), 2 * (1 + 4), 2 * (5 + 8)};
        for (int j = 0; j < 3; ++j)
            cr_expect_float_eq(rg_grad_get(bias, j), pass * want[j], 1e-4, "pass %d j %d",
                               pass, j);
        rg_tape_reset(tp);
    }
    cr_expect_null(x->grad);
    rg_tape_free(tp);
    rg_tensor_free(x);
    rg_tensor_free(bias);
}

/* PyTorch's conventions at the kinks: abs' (0) = 0, relu' (0) = 0, clamp passes
 * the gradient at both bounds. */
Test(ops_elementwise, kink_conventions) {
    rg_tensor *x = rg_from_doubles(NULL, RG_F64, RG_DIMS(5), (double[]){-0.5, 0, 0.5, 1, -2});
    rg_set_requires_grad(x, true);
    rg_tape *tp = rg_tape_new();
    rg_tensor *y =
        rg_add(tp, rg_add(tp, rg_abs(tp, x), rg_relu(tp, x)), rg_clamp(tp, x, -0.5, 0.5));
    cr_assert_eq(rg_backward(tp, rg_sum(tp, y)), 0);
    const double want[5] = {-1 + 0 + 1, 0 + 0 + 1, 1 + 1 + 1, 1 + 1 + 0, -1 + 0 + 0};
    for (int i = 0; i < 5; ++i)
        cr_expect_float_eq(rg_grad_get(x, i), want[i], 1e-12, "i %d", i);
    cr_expect_float_eq(rg_get(rg_clamp(tp, x, 1, -1), 0), -1.0, 0, "lo > hi gives hi");
    rg_tape_free(tp);
    rg_tensor_free(x);
}
