/* Gradients of gradients, for every row of the op table: the recorded
 * backward (rg_op.backward_graph, run by rg_autograd) gives the same
 * first-order gradient as the fast kernel, and its second derivatives pass
 * rg_gradgradcheck (float64, central differences of the analytic gradient).
 * The output is reduced with random weights as in test_ops_grad.c.  A row
 * whose op has no recorded backward fails.  Also: the recorded first order in
 * float32, the error of a user op without a recorded backward, a
 * Hessian-vector product through the fused LSTM cell against the plain ops,
 * empty tensors and rank 0 through the recorded rules, and the parts of a
 * gradient that rg_autograd joins (bands of slices, rows of index_select, a
 * weight's per-step products): second derivatives, and memory linear in the
 * number of slices. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <string.h>

#include "gradrows.h"

static const rg_gradrow **rows_of(int *count) {
    static const rg_gradrow *list[512];
    static int n = -1;
    if (n < 0) n = rg_gradrows_all(list, 512);
    *count = n;
    return list;
}

/* y = sum_i x_i w_i, written as a user op with both backwards */
static int wsum_shape(rg_tape *tp, rg_entry *e) {
    if (e->in[0]->numel != e->in[1]->numel) return rg_op_error(tp, "wsum2: x and w differ");
    e->out[0]->rank = 0;
    return 0;
}
static void wsum_forward(rg_tape *tp, rg_entry *e) {
    double s = 0;
    for (int64_t i = 0; i < e->in[0]->numel; ++i) s += rg_get(e->in[0], i) * rg_get(e->in[1], i);
    rg_set(e->out[0], 0, s);
}
static void wsum_backward(rg_tape *tp, rg_entry *e) {
    double *dx = rg_grad(tp, e->in[0]), g = ((double *)e->out[0]->grad)[0];
    for (int64_t i = 0; dx && i < e->in[0]->numel; ++i) dx[i] += g * rg_get(e->in[1], i);
}
static int wsum_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din) {
    din[0] = rg_mul(tp, dout[0], e->in[1]);
    return din[0] ? 0 : -1;
}
static const rg_op op_wsum2 = {"test_wsum2", 2, 1, wsum_shape, wsum_forward, wsum_backward,
                               wsum_graph};

typedef struct ctx {
    const rg_gradrow *row;
    rg_tensor *w;
    uint64_t seed;
} ctx;

static rg_tensor *weighted(rg_tape *tp, rg_tensor *const *in, int n, void *user) {
    ctx *c = user;
    rg_tensor *y = c->row->build(tp, in, n);
    if (!y) return NULL;
    if (!c->w) {
        rg_rng r;
        rg_rng_seed(&r, c->seed ^ 0x5eed);
        c->w = rg_uniform(NULL, RG_F64, y->rank, y->shape, -1.0, 1.0, &r);
    }
    return rg_apply(tp, &op_wsum2, 2, (rg_tensor *[]){y, c->w}, NULL);
}

/* the recorded first-order gradient equals the fast one */
static void same_first_order(ctx *c, rg_tensor **in) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *y = weighted(tp, in, c->row->n_in, c), *g[6] = {0};
    cr_assert_not_null(y, "%s: %s", c->row->name, rg_last_error());
    int rc = rg_autograd(tp, 1, &y, NULL, c->row->n_in, in, g, false);
    cr_assert_eq(rc, 0, "%s: rg_autograd: %s", c->row->name, rg_last_error());
    for (int j = 0; j < c->row->n_in; ++j)
        if (in[j]->flags & RG_REQUIRES_GRAD) rg_zero_grad(in[j]);
    cr_assert_eq(rg_backward(tp, y), 0, "%s", rg_last_error());
    for (int j = 0; j < c->row->n_in; ++j) {
        if (!(in[j]->flags & RG_REQUIRES_GRAD)) continue;
        for (int64_t k = 0; k < in[j]->numel; ++k) {
            double a = rg_get(g[j], k), b = rg_grad_get(in[j], k);
            cr_expect(fabs(a - b) <= 1e-12 + 1e-10 * fabs(b),
                      "%s: input %d element %lld: recorded %.15g, fast %.15g", c->row->name, j,
                      (long long)k, a, b);
        }
        rg_zero_grad(in[j]);
    }
    rg_tape_free(tp);
}

static void run_row(const rg_gradrow *row, uint64_t seed) {
    rg_tensor *in[6] = {0};
    rg_gradrow_inputs(row, seed, in);
    ctx c = {row, NULL, seed};
    same_first_order(&c, in);
    rg_gradcheck_opts o;
    rg_gradcheck_defaults(&o);
    rg_gradcheck_result res;
    int rc = rg_gradgradcheck(weighted, row->n_in, in, &c, &o, &res);
    cr_expect_eq(rc, 0, "%s: gradgradcheck did not run: %s", row->name, rg_last_error());
    if (rc == 0)
        cr_expect(res.pass, "%s (op %s, seed %llu): second derivatives: max abs err %.3e, max rel "
                  "err %.3e at input %d element %lld (analytic %.12g, numeric %.12g)",
                  row->name, row->op, (unsigned long long)seed, res.max_abs_err,
                  res.max_rel_err, res.worst_input, (long long)res.worst_index,
                  res.worst_analytic, res.worst_numeric);
    for (int j = 0; j < row->n_in; ++j) rg_tensor_free(in[j]);
    rg_tensor_free(c.w);
}

/* ---- float32: the recorded first order equals the fast one -------------------- */

/* A float32 copy of a float64 input (I32 ones as they are, a new tensor). */
static rg_tensor *as_f32(const rg_tensor *t) {
    rg_tensor *c = rg_tensor_new(NULL, t->dtype == RG_I32 ? RG_I32 : RG_F32, t->rank, t->shape);
    rg_tensor_copy(c, t);
    if (t->dtype != RG_I32) rg_set_requires_grad(c, true);
    return c;
}

/* Every row's recorded backward on float32 inputs (plain and with create_graph)
 * gives the fast kernel's gradient, up to float32 rounding. */
static void f32_row(const rg_gradrow *row, uint64_t seed) {
    rg_tensor *in64[6] = {0}, *in[6] = {0};
    rg_gradrow_inputs(row, seed, in64);
    for (int j = 0; j < row->n_in; ++j) in[j] = as_f32(in64[j]);
    for (int create = 0; create < 2; ++create) {
        rg_tape *tp = rg_tape_new();
        rg_tensor *y = row->build(tp, in, row->n_in), *g[6] = {0};
        cr_assert_not_null(y, "%s (F32): %s", row->name, rg_last_error());
        rg_rng r;
        rg_rng_seed(&r, seed ^ 0x5eed);
        rg_tensor *w = rg_uniform(tp, RG_F32, y->rank, y->shape, -1.0, 1.0, &r);
        rg_tensor *loss = rg_sum(tp, rg_mul(tp, y, w));
        int rc = rg_autograd(tp, 1, &loss, NULL, row->n_in, in, g, create);
        cr_assert_eq(rc, 0, "%s (F32): rg_autograd: %s", row->name, rg_last_error());
        for (int j = 0; j < row->n_in; ++j)
            if (in[j]->flags & RG_REQUIRES_GRAD) rg_zero_grad(in[j]);
        cr_assert_eq(rg_backward(tp, loss), 0, "%s", rg_last_error());
        for (int j = 0; j < row->n_in; ++j) {
            if (!(in[j]->flags & RG_REQUIRES_GRAD)) continue;
            cr_expect_eq(g[j]->dtype, RG_F32, "%s: gradient %d is %s", row->name, j,
                         rg_dtype_name(g[j]->dtype));
            for (int64_t k = 0; k < in[j]->numel; ++k) {
                double a = rg_get(g[j], k), b = rg_grad_get(in[j], k);
                if (!(fabs(a - b) <= 2e-5 + 2e-4 * fabs(b))) {
                    cr_expect_fail("%s (F32, create_graph %d): input %d element %lld: recorded "
                                   "%.9g, fast %.9g", row->name, create, j, (long long)k, a, b);
                    break;
                }
            }
        }
        rg_tape_free(tp);
    }
    for (int j = 0; j < row->n_in; ++j) {
        rg_tensor_free(in[j]);
        rg_tensor_free(in64[j]);
    }
}

Test(ops_grad2, float32_recorded_equals_fast) {
    int n;
    const rg_gradrow **rows = rows_of(&n);
    for (int i = 0; i < n; ++i) {
        const rg_op *op = rg_op_find(rows[i]->op);
        if (op && op->backward && op->backward_graph) f32_row(rows[i], 7 + (uint64_t)i);
    }
}

/* ---- a user op without a recorded backward ---------------------------------------- */

/* y = x^2 with a fast backward only */
static int sq_shape(rg_tape *tp, rg_entry *e) {
    e->out[0]->rank = e->in[0]->rank;
    for (int d = 0; d < RG_MAX_RANK; ++d) e->out[0]->shape[d] = e->in[0]->shape[d];
    return 0;
}
static void sq_forward(rg_tape *tp, rg_entry *e) {
    for (int64_t i = 0; i < e->in[0]->numel; ++i) {
        double v = rg_get(e->in[0], i);
        rg_set(e->out[0], i, v * v);
    }
}
static void sq_backward(rg_tape *tp, rg_entry *e) {
    double *dx = rg_grad(tp, e->in[0]);
    for (int64_t i = 0; dx && i < e->in[0]->numel; ++i)
        dx[i] += 2 * rg_get(e->in[0], i) * ((double *)e->out[0]->grad)[i];
}
static const rg_op op_sq_nograph = {"test_square_nograph", 1, 1, sq_shape, sq_forward,
                                    sq_backward, NULL};

/* First order through it works (rg_backward); gradients as tensors, and so a
 * second differentiation, fail with a message naming the op, never a silent 0. */
Test(ops_grad2, user_op_without_recorded_backward_is_an_error) {
    rg_tensor *x = rg_from_doubles(NULL, RG_F64, RG_DIMS(3), (double[]){1, -2, 3});
    rg_set_requires_grad(x, true);
    rg_tape *tp = rg_tape_new();
    rg_tensor *y = rg_sum(tp, rg_apply(tp, &op_sq_nograph, 1, &x, NULL)), *g = NULL;
    cr_assert_not_null(y, "%s", rg_last_error());
    cr_assert_eq(rg_backward(tp, y), 0, "%s", rg_last_error());
    cr_expect_eq(rg_grad_get(x, 1), -4.0);
    for (int create = 1; create >= 0; --create) {
        rg_tape_reset(tp);
        y = rg_sum(tp, rg_apply(tp, &op_sq_nograph, 1, &x, NULL));
        cr_expect_eq(rg_autograd(tp, 1, &y, NULL, 1, &x, &g, create), -1);
        cr_expect_null(g);
        cr_expect(strstr(rg_last_error(), "op 'test_square_nograph' has no recordable backward"),
                  "%s", rg_last_error());
        cr_expect(strstr(rg_tape_error(tp), "test_square_nograph"), "%s", rg_tape_error(tp));
    }
    rg_tape_free(tp);
    rg_tensor_free(x);
}

/* A Hessian-vector product through a fused LSTM cell equals the one through the
 * plain ops it replaces (the recorded rules against the composition's). */
static rg_tensor *lstm_loss(rg_tape *tp, rg_tensor *const *p, bool fused) {
    rg_tensor *hc[2];
    if (fused) {
        if (rg_lstm_cell(tp, p[0], p[1], p[2], p[3], p[4], hc) < 0) return NULL;
    } else {
        rg_tensor *a = rg_add(tp, p[0], rg_linear(tp, p[1], p[3], p[4])), *q[4];
        if (rg_split(tp, a, 1, 4, q) < 0) return NULL;
        rg_tensor *i = rg_sigmoid(tp, q[0]), *f = rg_sigmoid(tp, q[1]);
        rg_tensor *gg = rg_tanh(tp, q[2]), *o = rg_sigmoid(tp, q[3]);
        hc[1] = rg_add(tp, rg_mul(tp, f, p[2]), rg_mul(tp, i, gg));
        hc[0] = rg_mul(tp, o, rg_tanh(tp, hc[1]));
    }
    return rg_add(tp, rg_sum(tp, rg_mul(tp, hc[0], hc[0])), rg_sum(tp, rg_sin(tp, hc[1])));
}

Test(ops_grad2, lstm_cell_hvp_equals_plain_ops) {
    rg_rng r;
    rg_rng_seed(&r, 3);
    int64_t B = 2, H = 3;
    const int64_t shapes[5][2] = {{B, 4 * H}, {B, H}, {B, H}, {4 * H, H}, {4 * H, 1}};
    rg_tensor *p[5], *v[5], *hv[2][5] = {{0}};
    for (int k = 0; k < 5; ++k) {
        int rank = k == 4 ? 1 : 2;
        p[k] = rg_uniform(NULL, RG_F64, rank, shapes[k], -1, 1, &r);
        v[k] = rg_uniform(NULL, RG_F64, rank, shapes[k], -1, 1, &r);
        rg_set_requires_grad(p[k], true);
    }
    rg_tape *tp = rg_tape_new();
    for (int fused = 0; fused < 2; ++fused) {
        rg_tensor *y = lstm_loss(tp, p, fused), *g[5], *dot = NULL;
        cr_assert_eq(rg_autograd(tp, 1, &y, NULL, 5, p, g, true), 0, "%s", rg_last_error());
        for (int k = 0; k < 5; ++k) {
            rg_tensor *t = rg_sum(tp, rg_mul(tp, g[k], v[k]));
            dot = dot ? rg_add(tp, dot, t) : t;
        }
        cr_assert_eq(rg_autograd(tp, 1, &dot, NULL, 5, p, hv[fused], false), 0, "%s",
                     rg_last_error());
    }
    for (int k = 0; k < 5; ++k)
        for (int64_t i = 0; i < p[k]->numel; ++i)
            cr_expect(fabs(rg_get(hv[0][k], i) - rg_get(hv[1][k], i)) <= 1e-12,
                      "input %d element %lld: plain %.15g, fused %.15g", k, (long long)i,
                      rg_get(hv[0][k], i), rg_get(hv[1][k], i));
    rg_tape_free(tp);
    for (int k = 0; k < 5; ++k) {
        rg_tensor_free(p[k]);
        rg_tensor_free(v[k]);
    }
}

/* ---- parts of one gradient, joined by rg_autograd ------------------------------- */

/* x [6,4]: slices along both axes, overlapping, repeated and empty; E [5,4]:
 * rows picked twice with repeated ids; an LSTM over 3 steps (rows of a table,
 * then slices of a projection) sharing W and b.  in: x, E, W [16,4], b [16]. */
static rg_tensor *parts_fn(rg_tape *tp, rg_tensor *const *in, int n, void *user) {
    (void)n;
    (void)user;
    rg_tensor *x = in[0], *E = in[1], *W = in[2], *b = in[3];
    static const int32_t i1[3] = {4, 0, 4}, i2[2] = {1, 3};
    rg_tensor *id1 = rg_from_data(tp, RG_I32, RG_DIMS(3), i1);
    rg_tensor *id2 = rg_from_data(tp, RG_I32, RG_DIMS(2), i2);
    rg_tensor *y = rg_sum(tp, rg_sin(tp, rg_slice(tp, x, 0, 0, 2)));
    y = rg_add(tp, y, rg_sum(tp, rg_exp(tp, rg_slice(tp, x, 0, 1, 3))));      /* overlaps */
    y = rg_add(tp, y, rg_sum(tp, rg_mul(tp, rg_slice(tp, x, 0, 1, 3),         /* same range */
                                        rg_slice(tp, x, 0, 3, 3))));
    rg_tensor *last = rg_slice(tp, x, 0, 5, 1);                                /* a gap */
    y = rg_add(tp, y, rg_sum(tp, rg_mul(tp, last, last)));
    y = rg_add(tp, y, rg_sum(tp, rg_tanh(tp, rg_slice(tp, x, 1, 3, 1))));     /* other axis */
    y = rg_add(tp, y, rg_sum(tp, rg_slice(tp, x, 0, 2, 0)));                   /* empty */
    rg_tensor *r1 = rg_index_select(tp, E, 0, id1), *r2 = rg_index_select(tp, E, 0, id2);
    y = rg_add(tp, y, rg_sum(tp, rg_mul(tp, r1, r1)));
    y = rg_add(tp, y, rg_sum(tp, rg_sin(tp, rg_index_select(tp, r2, 1, id2))));
    /* an LSTM, B = 2, H = 4: step 0 reads rows of the table P = E W^T (V = 5),
     * steps 1 and 2 slices of xp = x[0:4] W^T as [2,16] blocks */
    rg_tensor *P = rg_matmul_t(tp, E, W, false, true);
    rg_tensor *xp = rg_matmul_t(tp, rg_slice(tp, x, 0, 0, 4), W, false, true);
    rg_tensor *h = rg_slice(tp, x, 0, 4, 2), *c = rg_zeros(tp, RG_F64, RG_DIMS(2, 4)), *hc[2];
    if (rg_lstm_cell_rows(tp, P, id2, h, c, W, b, hc) != 0) return NULL;
    for (int t = 1; t < 3; ++t)
        if (rg_lstm_cell(tp, rg_slice(tp, xp, 0, 2 * (t - 1), 2), hc[0], hc[1], W, b, hc) != 0)
            return NULL;
    y = rg_add(tp, y, rg_sum(tp, rg_mul(tp, hc[0], hc[1])));
    return rg_add(tp, y, rg_sum(tp, rg_sin(tp, hc[1])));
}

Test(ops_grad2, parts_of_a_gradient_join_to_any_order) {
    rg_rng r;
    rg_rng_seed(&r, 11);
    const int64_t shapes[4][2] = {{6, 4}, {5, 4}, {16, 4}, {16, 1}};
    rg_tensor *in[4];
    for (int k = 0; k < 4; ++k) {
        in[k] = rg_uniform(NULL, RG_F64, k == 3 ? 1 : 2, shapes[k], -1, 1, &r);
        rg_set_requires_grad(in[k], true);
    }
    /* the recorded first order equals the fast one */
    rg_tape *tp = rg_tape_new();
    rg_tensor *y = parts_fn(tp, in, 4, NULL), *g[4];
    cr_assert_not_null(y, "%s", rg_last_error());
    cr_assert_eq(rg_autograd(tp, 1, &y, NULL, 4, in, g, false), 0, "%s", rg_last_error());
    cr_assert_eq(rg_backward(tp, y), 0, "%s", rg_last_error());
    for (int k = 0; k < 4; ++k)
        for (int64_t i = 0; i < in[k]->numel; ++i)
            cr_expect(fabs(rg_get(g[k], i) - rg_grad_get(in[k], i)) <= 1e-12,
                      "input %d element %lld: recorded %.15g, fast %.15g", k, (long long)i,
                      rg_get(g[k], i), rg_grad_get(in[k], i));
    /* H v by the fast sweep through the recorded backward equals H v by rg_autograd */
    rg_tensor *v[4], *hv[4], *dot = NULL;
    rg_tape_reset(tp);
    cr_assert_eq(rg_tape_set_private_grads(tp, true), 0, "%s", rg_last_error());
    y = parts_fn(tp, in, 4, NULL);
    cr_assert_eq(rg_autograd(tp, 1, &y, NULL, 4, in, g, true), 0, "%s", rg_last_error());
    for (int k = 0; k < 4; ++k) {
        v[k] = rg_uniform(NULL, RG_F64, in[k]->rank, in[k]->shape, -1, 1, &r);
        rg_tensor *t = rg_sum(tp, rg_mul(tp, g[k], v[k]));
        dot = dot ? rg_add(tp, dot, t) : t;
    }
    cr_assert_eq(rg_autograd(tp, 1, &dot, NULL, 4, in, hv, false), 0, "%s", rg_last_error());
    cr_assert_eq(rg_backward(tp, dot), 0, "%s", rg_last_error());
    for (int k = 0; k < 4; ++k) {
        const double *fast = rg_tape_private_grad(tp, in[k]);
        cr_assert_not_null(fast);
        for (int64_t i = 0; i < in[k]->numel; ++i)
            cr_expect(fabs(rg_get(hv[k], i) - fast[i]) <= 1e-11 * (1 + fabs(fast[i])),
                      "H v, input %d element %lld: rg_autograd %.15g, fast sweep %.15g", k,
                      (long long)i, rg_get(hv[k], i), fast[i]);
    }
    rg_tape_free(tp);
    /* second derivatives against central differences */
    rg_gradcheck_opts o;
    rg_gradcheck_defaults(&o);
    rg_gradcheck_result res;
    cr_assert_eq(rg_gradgradcheck(parts_fn, 4, in, NULL, &o, &res), 0, "%s", rg_last_error());
    cr_expect(res.pass, "second derivatives: max rel err %.3e at input %d element %lld "
              "(analytic %.12g, numeric %.12g)", res.max_rel_err, res.worst_input,
              (long long)res.worst_index, res.worst_analytic, res.worst_numeric);
    for (int k = 0; k < 4; ++k) {
        rg_tensor_free(in[k]);
        rg_tensor_free(v[k]);
    }
}

/* The recorded gradient of x [T*B,F] read as T slices of B rows: its arena
 * grows linearly with T (one concat of the T parts), not quadratically (T
 * zero-padded full-size gradients and T full-size adds). */
static size_t slices_arena(int64_t T) {
    const int64_t B = 8, F = 64;
    rg_tensor *x = rg_ones(NULL, RG_F64, RG_DIMS(T * B, F));
    rg_set_requires_grad(x, true);
    rg_tape *tp = rg_tape_new();
    rg_tensor *y = NULL, *g;
    for (int64_t t = 0; t < T; ++t) {
        rg_tensor *s = rg_sum(tp, rg_tanh(tp, rg_slice(tp, x, 0, t * B, B)));
        y = y ? rg_add(tp, y, s) : s;
    }
    size_t before = rg_tape_arena_bytes(tp);
    cr_assert_eq(rg_autograd(tp, 1, &y, NULL, 1, &x, &g, true), 0, "%s", rg_last_error());
    size_t used = rg_tape_arena_bytes(tp) - before;
    rg_tape_free(tp);
    rg_tensor_free(x);
    return used;
}

Test(ops_grad2, slices_of_one_tensor_cost_linear_memory) {
    size_t a = slices_arena(16), b = slices_arena(64);
    cr_expect(b < 6 * a, "recorded gradient of 16 slices: %zu bytes, of 64: %zu (x4 is linear, "
              "x16 quadratic)", a, b);
}

/* ---- empty tensors and rank 0 ---------------------------------------------------- */

/* d/din sum(y^2) as tensors with create_graph, then the gradient of the sum of
 * those gradients: both run, and every gradient has its input's shape. */
static void runs_twice(const char *name, rg_tape *tp, rg_tensor *y, int n, rg_tensor **in) {
    cr_assert_not_null(y, "%s: %s", name, rg_last_error());
    rg_tensor *s = rg_sum(tp, rg_mul(tp, y, y)), *g[6], *h[6], *d = NULL;
    cr_assert_eq(rg_autograd(tp, 1, &s, NULL, n, in, g, true), 0, "%s: %s", name,
                 rg_last_error());
    for (int k = 0; k < n; ++k) {
        cr_expect(rg_same_shape(g[k], in[k]), "%s: gradient %d has the wrong shape", name, k);
        if (!(in[k]->flags & RG_REQUIRES_GRAD)) continue;
        rg_tensor *t = rg_sum(tp, g[k]);
        d = d ? rg_add(tp, d, t) : t;
    }
    if (d && (d->flags & RG_REQUIRES_GRAD))
        cr_expect_eq(rg_autograd(tp, 1, &d, NULL, n, in, h, false), 0, "%s: %s", name,
                     rg_last_error());
    rg_tape_reset(tp);
}

static rg_tensor *leaf_of(rg_dtype dt, int rank, const int64_t *shape) {
    rg_rng r;
    rg_rng_seed(&r, (uint64_t)rank + 17);
    rg_tensor *t = rg_uniform(NULL, dt, rank, shape, -1, 1, &r);
    rg_set_requires_grad(t, true);
    return t;
}

Test(ops_grad2, empty_and_rank0) {
    for (int f = 0; f < 2; ++f) {
        rg_dtype dt = f ? RG_F32 : RG_F64;
        rg_tensor *xp = leaf_of(dt, RG_DIMS(0, 12)), *h = leaf_of(dt, RG_DIMS(0, 3));
        rg_tensor *c = leaf_of(dt, RG_DIMS(0, 3)), *W = leaf_of(dt, RG_DIMS(12, 3));
        rg_tensor *b = leaf_of(dt, RG_DIMS(12)), *E = leaf_of(dt, RG_DIMS(4, 3));
        rg_tensor *x0 = leaf_of(dt, RG_DIMS(3, 0)), *xr = leaf_of(dt, RG_DIMS(0, 5));
        rg_tensor *w5 = leaf_of(dt, RG_DIMS(5)), *lg = leaf_of(dt, RG_DIMS(0, 4));
        rg_tensor *x34 = leaf_of(dt, RG_DIMS(3, 4)), *s0 = leaf_of(dt, 0, NULL);
        rg_tensor *ids = rg_zeros(NULL, RG_I32, RG_DIMS(0));
        rg_tensor *gi = rg_zeros(NULL, RG_I32, RG_DIMS(3, 0));
        rg_tape *tp = rg_tape_new();
        rg_tensor *hc[2], *vi[2];
        cr_assert_eq(rg_lstm_cell(tp, xp, h, c, W, b, hc), 0, "%s", rg_last_error());
        runs_twice("lstm_cell B=0", tp, hc[0], 5, (rg_tensor *[]){xp, h, c, W, b});
        runs_twice("gru_gates B=0", tp,
                   rg_gru_gates(tp, rg_slice(tp, xp, 1, 0, 9), rg_slice(tp, xp, 1, 3, 9), h), 2,
                   (rg_tensor *[]){xp, h});
        runs_twice("embedding, no ids", tp, rg_embedding(tp, E, ids), 2, (rg_tensor *[]){E, ids});
        runs_twice("embedding_linear, no ids", tp, rg_embedding_linear(tp, E, ids, W, b), 4,
                   (rg_tensor *[]){E, ids, W, b});
        runs_twice("cumsum, empty axis", tp, rg_cumsum(tp, x0, 1), 1, &x0);
        runs_twice("logcumsumexp, empty axis", tp, rg_logcumsumexp(tp, x0, 1), 1, &x0);
        runs_twice("softmax, empty axis", tp, rg_softmax(tp, x0, 1), 1, &x0);
        runs_twice("layer_norm, no rows", tp, rg_layer_norm(tp, xr, w5, w5, 1e-5), 2,
                   (rg_tensor *[]){xr, w5});
        runs_twice("rms_norm, no rows", tp, rg_rms_norm(tp, xr, w5, 1e-5), 2,
                   (rg_tensor *[]){xr, w5});
        runs_twice("cross_entropy sum, no rows", tp, rg_cross_entropy(tp, lg, ids, RG_SUM), 2,
                   (rg_tensor *[]){lg, ids});
        runs_twice("nll none, no rows", tp, rg_nll(tp, lg, ids, RG_NONE), 2,
                   (rg_tensor *[]){lg, ids});
        cr_assert_eq(rg_topk(tp, x34, 0, 1, true, vi), 0, "%s", rg_last_error());
        runs_twice("topk k=0", tp, vi[0], 1, &x34);
        runs_twice("gather, empty idx", tp, rg_gather(tp, x34, 1, gi), 2,
                   (rg_tensor *[]){x34, gi});
        runs_twice("l1 sum, empty", tp, rg_l1(tp, x0, x0, RG_SUM), 1, &x0);
        runs_twice("bce rank 0, one tensor thrice", tp,
                   rg_bce_with_logits(tp, s0, s0, s0, RG_MEAN), 1, &s0);
        runs_twice("maximum, rank 0 broadcast", tp, rg_maximum(tp, x34, s0), 2,
                   (rg_tensor *[]){x34, s0});
        runs_twice("where, rank 0 broadcast", tp, rg_where(tp, rg_gt(tp, x34, s0), x34, s0), 2,
                   (rg_tensor *[]){x34, s0});
        rg_tape_free(tp);
        rg_tensor *all[] = {xp, h, c, W, b, E, x0, xr, w5, lg, x34, s0, ids, gi};
        for (size_t k = 0; k < sizeof all / sizeof all[0]; ++k) rg_tensor_free(all[k]);
    }
}

static void free_params(struct criterion_test_params *p) { cr_free(p->params); }

ParameterizedTestParameters(ops_grad2, row) {
    int n;
    rows_of(&n);
    int *idx = cr_malloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; ++i) idx[i] = i;
    return cr_make_param_array(int, idx, (size_t)n, free_params);
}

/* Each row on two random draws of its shapes and values. */
ParameterizedTest(int *pi, ops_grad2, row) {
    int n;
    const rg_gradrow *row = rows_of(&n)[*pi];
    const rg_op *op = rg_op_find(row->op);
    cr_assert_not_null(op, "%s: no op '%s'", row->name, row->op);
    if (!op->backward) return; /* not differentiable at all (argmax, comparisons) */
    cr_assert_not_null(op->backward_graph, "op '%s' has no recorded backward", row->op);
    for (uint64_t s = 1; s <= 2; ++s) run_row(row, s * 104729u + (uint64_t)strlen(row->name));
}
