/* Gradients of gradients, for every row of the op table: the recorded
 * backward (rg_op.backward_graph, run by rg_autograd) gives the same
 * first-order gradient as the fast kernel, and its second derivatives pass
 * rg_gradgradcheck (float64, central differences of the analytic gradient).
 * The output is reduced with random weights as in test_ops_grad.c.  A row
 * whose op has no recorded backward fails. */
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
