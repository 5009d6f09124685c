/* Every row of the op table gets a float64 central-difference gradient check
 * on random inputs and random shapes; its output is reduced to a scalar with
 * random weights (a plain sum would hide bugs such as a wrong softmax backward).
 * A registered op with no row fails the suite. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <string.h>

#include "gradrows.h"

static const rg_gradrow **all_rows(int *count) {
    static const rg_gradrow *list[512];
    static int n = -1;
    if (n < 0) n = rg_gradrows_all(list, 512);
    *count = n;
    return list;
}

/* The weighting op: a user-style row, so the reduction does not rely on the
 * ops under test.  y = sum_i x_i w_i, dx_i += dy w_i. */
static int wsum_shape(rg_tape *tp, rg_entry *e) {
    if (e->in[0]->numel != e->in[1]->numel || e->in[0]->dtype != e->in[1]->dtype)
        return rg_op_error(tp, "wsum: x and w differ");
    e->out[0]->rank = 0;
    return 0;
}
static void wsum_forward(rg_tape *tp, rg_entry *e) {
    double s = 0;
    for (int64_t i = 0; i < e->in[0]->numel; ++i) s += rg_get(e->in[0], i) * rg_get(e->in[1], i);
    rg_set(e->out[0], 0, s);
}
static void wsum_backward(rg_tape *tp, rg_entry *e) {
    double *dx = rg_grad(tp, e->in[0]);
    double g = ((double *)e->out[0]->grad)[0];
    if (dx)
        for (int64_t i = 0; i < e->in[0]->numel; ++i) dx[i] += g * rg_get(e->in[1], i);
}
static const rg_op op_wsum = {"test_wsum", 2, 1, wsum_shape, wsum_forward, wsum_backward, NULL};

typedef struct ctx {
    const rg_gradrow *row;
    rg_tensor *w; /* weights, persistent, made on first call */
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
    return rg_apply(tp, &op_wsum, 2, (rg_tensor *[]){y, c->w}, NULL);
}

static void run_row(const rg_gradrow *row, uint64_t seed) {
    rg_tensor *in[6] = {0};
    rg_gradrow_inputs(row, seed, in);
    ctx c = {row, NULL, seed};
    rg_gradcheck_opts o;
    rg_gradcheck_defaults(&o);
    rg_gradcheck_result res;
    int rc = rg_gradcheck(weighted, row->n_in, in, &c, &o, &res);
    cr_expect_eq(rc, 0, "%s: gradcheck did not run: %s", row->name, rg_last_error());
    if (rc == 0) {
        cr_expect(res.pass && res.max_rel_err < 1e-6,
                  "%s (op %s, seed %llu): max abs err %.3e, max rel err %.3e at input %d "
                  "element %lld (analytic %.12g, numeric %.12g)",
                  row->name, row->op, (unsigned long long)seed, res.max_abs_err,
                  res.max_rel_err, res.worst_input, (long long)res.worst_index,
                  res.worst_analytic, res.worst_numeric);
        cr_log_info("%s: %lld elements, max rel err %.2e", row->name, (long long)res.n_checked,
                    res.max_rel_err);
    }
    for (int j = 0; j < row->n_in; ++j) rg_tensor_free(in[j]);
    rg_tensor_free(c.w);
}

/* Parameters cross into Criterion's test processes: pass row indices, in
 * memory from cr_malloc, and look the rows up again there. */
static void free_params(struct criterion_test_params *p) { cr_free(p->params); }

ParameterizedTestParameters(ops_grad, row) {
    int n;
    all_rows(&n);
    int *idx = cr_malloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; ++i) idx[i] = i;
    return cr_make_param_array(int, idx, (size_t)n, free_params);
}

/* Each row on three random draws of its shapes and values. */
ParameterizedTest(int *pi, ops_grad, row) {
    int n;
    const rg_gradrow *row = all_rows(&n)[*pi];
    cr_log_info("row %s (op %s)", row->name, row->op);
    for (uint64_t s = 1; s <= 3; ++s) run_row(row, s * 7919u + (uint64_t)strlen(row->name));
}

static void check_covered(const rg_op *op, void *user) {
    int n, *missing = user;
    const rg_gradrow **rows = all_rows(&n);
    for (int i = 0; i < n; ++i)
        if (strcmp(rows[i]->op, op->name) == 0) return;
    cr_log_error("op '%s' has no gradient-check row", op->name);
    ++*missing;
}

Test(ops_grad, every_op_has_a_row) {
    int missing = 0;
    rg_op_foreach(check_covered, &missing);
    cr_expect_eq(missing, 0, "%d op(s) of the table have no gradient-check row", missing);
}
