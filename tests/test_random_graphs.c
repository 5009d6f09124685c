/* The randomized differential suite: random programs of public ops, made and run
 * by PyTorch in float64 (tools/random_graphs.py, which documents the program
 * format), replayed here with retrograd's ops without Python.  Every program's
 * loss, the values of its results and the gradient of every input are compared
 * with PyTorch's.  The programs feed one tensor to both inputs of an op, give
 * overlapping views of one buffer to the fused rows, fan out, and use rank-0
 * tensors and zero-size dimensions; a coverage test checks that the data still
 * does all of that, and names every op it must contain. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define GRAPHS_FILE "graphs_f64.txt"
#define VAL_ATOL 1e-12
#define VAL_RTOL 1e-10
#define MAX_T 512
#define MAX_ARGS 16

/* What a replay saw, for the coverage test. */
typedef struct tally {
    int same_twice;    /* one tensor given twice to one op */
    int shared_memory; /* two distinct tensors of one op sharing memory (views) */
    int rank0, empty, views;
    int ties;          /* a max or max_axis with tied maxima */
    int ops_seen[64];
} tally;

typedef struct replay {
    const rg_refcase *c;
    rg_tape *tp;
    rg_tensor *t[MAX_T];
    int n_t;
    rg_tensor *loss;
    rg_tensor *outs[RG_REF_MAX_TENSORS];
    int n_outs;
    int grads[RG_REF_MAX_TENSORS]; /* input indices */
    int n_grads;
    char err[256];
} replay;

/* Every op a program may use; the coverage test wants each of them. */
static const char *const op_names[] = {
    "add", "sub", "mul", "div", "neg", "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu",
    "add_scalar", "mul_scalar", "pow_scalar", "clamp", "matmul", "linear", "sum", "mean", "max",
    "sum_axis", "mean_axis", "max_axis", "softmax", "log_softmax", "reshape", "slice", "split",
    "concat", "stack", "transpose", "lstm_gates", "gru_gates", "lstm_cell", "lstm_cell_rows",
    "embedding", "embedding_linear", "cross_entropy", "mse"};
#define N_OPS ((int)(sizeof op_names / sizeof op_names[0]))

static int op_index(const char *name) {
    for (int k = 0; k < N_OPS; ++k)
        if (strcmp(op_names[k], name) == 0) return k;
    return -1;
}

/* "i3" or "t12" -> the tensor, NULL when it does not exist. */
static rg_tensor *lookup(const replay *r, const char *tok) {
    char *end;
    long k = strtol(tok + 1, &end, 10);
    if (*end || k < 0) return NULL;
    if (tok[0] == 'i') return k < r->c->n_in ? r->c->in[k] : NULL;
    if (tok[0] == 't') return k < r->n_t ? r->t[k] : NULL;
    return NULL;
}

static bool is_ref(const char *tok) {
    return (tok[0] == 'i' || tok[0] == 't') && tok[1] >= '0' && tok[1] <= '9';
}

static rg_tensor *unary(rg_tape *tp, const char *op, rg_tensor *a) {
    static const struct {
        const char *name;
        rg_tensor *(*fn)(rg_tape *, rg_tensor *);
    } u[] = {{"neg", rg_neg},   {"exp", rg_exp},   {"log", rg_log},   {"sqrt", rg_sqrt},
             {"abs", rg_abs},   {"tanh", rg_tanh}, {"sigmoid", rg_sigmoid},
             {"relu", rg_relu}, {"sum", rg_sum},   {"mean", rg_mean}, {"max", rg_max}};
    for (size_t k = 0; k < sizeof u / sizeof u[0]; ++k)
        if (strcmp(u[k].name, op) == 0) return u[k].fn(tp, a);
    return NULL;
}

/* Runs one op on tensors a[0..na) and numbers x[0..nx) into out[]; returns the
 * number of outputs, -1 when the op is unknown or retrograd refused it. */
static int run_op(rg_tape *tp, const char *op, rg_tensor **a, int na, const double *x,
                  int nx, rg_tensor **out) {
    int i0 = nx > 0 ? (int)x[0] : 0, i1 = nx > 1 ? (int)x[1] : 0;
    rg_tensor *y = NULL;
#define OP(name) (strcmp(op, name) == 0)
    if (OP("add")) y = rg_add(tp, a[0], a[1]);
    else if (OP("sub")) y = rg_sub(tp, a[0], a[1]);
    else if (OP("mul")) y = rg_mul(tp, a[0], a[1]);
    else if (OP("div")) y = rg_div(tp, a[0], a[1]);
    else if (OP("add_scalar")) y = rg_add_scalar(tp, a[0], x[0]);
    else if (OP("mul_scalar")) y = rg_mul_scalar(tp, a[0], x[0]);
    else if (OP("pow_scalar")) y = rg_pow_scalar(tp, a[0], x[0]);
    else if (OP("clamp")) y = rg_clamp(tp, a[0], x[0], x[1]);
    else if (OP("matmul")) y = rg_matmul_t(tp, a[0], a[1], i0 != 0, i1 != 0);
    else if (OP("linear")) y = rg_linear(tp, a[0], a[1], na > 2 ? a[2] : NULL);
    else if (OP("sum_axis")) y = rg_sum_axis(tp, a[0], i0, i1 != 0);
    else if (OP("mean_axis")) y = rg_mean_axis(tp, a[0], i0, i1 != 0);
    else if (OP("max_axis")) y = rg_max_axis(tp, a[0], i0, i1 != 0);
    else if (OP("softmax")) y = rg_softmax(tp, a[0], i0);
    else if (OP("log_softmax")) y = rg_log_softmax(tp, a[0], i0);
    else if (OP("slice")) y = rg_slice(tp, a[0], i0, (int64_t)x[1], (int64_t)x[2]);
    else if (OP("concat")) y = rg_concat(tp, na, a, i0);
    else if (OP("stack")) y = rg_stack(tp, na, a, i0);
    else if (OP("transpose")) y = rg_transpose(tp, a[0], i0, i1);
    else if (OP("gru_gates")) y = rg_gru_gates(tp, a[0], a[1], a[2]);
    else if (OP("embedding")) y = rg_embedding(tp, a[0], a[1]);
    else if (OP("embedding_linear"))
        y = rg_embedding_linear(tp, a[0], a[1], a[2], na > 3 ? a[3] : NULL);
    else if (OP("cross_entropy")) y = rg_cross_entropy(tp, a[0], a[1], i0 ? RG_SUM : RG_MEAN);
    else if (OP("mse")) y = rg_mse(tp, a[0], a[1], i0 ? RG_SUM : RG_MEAN);
    else if (OP("reshape")) {
        int64_t dims[RG_MAX_RANK];
        for (int k = 0; k < nx && k < RG_MAX_RANK; ++k) dims[k] = (int64_t)x[k];
        y = nx <= RG_MAX_RANK ? rg_reshape(tp, a[0], nx, dims) : NULL;
    } else if (OP("split")) {
        return i1 >= 1 && i1 <= MAX_ARGS && rg_split(tp, a[0], i0, i1, out) == 0 ? i1 : -1;
    } else if (OP("lstm_gates")) {
        return rg_lstm_gates(tp, a[0], a[1], a[2], out) == 0 ? 2 : -1;
    } else if (OP("lstm_cell")) {
        return rg_lstm_cell(tp, a[0], a[1], a[2], a[3], na > 4 ? a[4] : NULL, out) == 0 ? 2 : -1;
    } else if (OP("lstm_cell_rows")) {
        return rg_lstm_cell_rows(tp, a[0], a[1], a[2], a[3], a[4], a[5], out) == 0 ? 2 : -1;
    } else {
        y = unary(tp, op, a[0]);
    }
#undef OP
    out[0] = y;
    return y ? 1 : -1;
}

/* Tallies what an instruction exercises: aliasing among its float tensors. */
static void tally_args(tally *ty, rg_tensor **a, int na) {
    for (int i = 0; i < na; ++i)
        for (int j = i + 1; j < na; ++j) {
            if (a[i]->dtype == RG_I32 || a[j]->dtype == RG_I32) continue;
            if (a[i] == a[j]) {
                ty->same_twice++;
            } else {
                size_t es = rg_dtype_size(a[i]->dtype);
                const char *p = a[i]->data, *q = a[j]->data;
                size_t ni = (size_t)a[i]->numel * es, nj = (size_t)a[j]->numel * es;
                if (ni && nj && p < q + nj && q < p + ni) ty->shared_memory++;
            }
        }
}

/* Whether x (float64) has a tie for the maximum along axis (all elements when
 * axis is out of range, as for rg_max). */
static bool has_tie(const rg_tensor *x, int axis) {
    if (x->dtype != RG_F64 || x->numel == 0) return false;
    int64_t outer = 1, n = x->numel, inner = 1;
    if (axis >= -x->rank && axis < x->rank && x->rank > 0) {
        int ax = axis < 0 ? axis + x->rank : axis;
        n = x->shape[ax];
        for (int d = 0; d < ax; ++d) outer *= x->shape[d];
        for (int d = ax + 1; d < x->rank; ++d) inner *= x->shape[d];
    }
    const double *v = x->data;
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < inner; ++j) {
            const double *p = v + o * n * inner + j;
            double m = p[0];
            int64_t count = 0;
            for (int64_t k = 1; k < n; ++k) m = p[k * inner] > m ? p[k * inner] : m;
            for (int64_t k = 0; k < n; ++k) count += p[k * inner] == m;
            if (count > 1) return true;
        }
    return false;
}

/* One line of a program; false with r->err set on a malformed line or an op
 * that retrograd refused. */
static bool run_line(replay *r, char *line, tally *ty) {
    char *tok[MAX_ARGS * 2 + 8];
    int n = 0;
    for (char *save = NULL, *s = strtok_r(line, " ", &save); s && n < (int)(sizeof tok / sizeof tok[0]);
         s = strtok_r(NULL, " ", &save))
        tok[n++] = s;
    if (n == 0) return true;
    if (strcmp(tok[0], "grad") == 0 || strcmp(tok[0], "out") == 0) {
        bool grad = tok[0][0] == 'g';
        for (int k = 1; k < n; ++k) {
            rg_tensor *t = lookup(r, tok[k]);
            if (!t || (grad && tok[k][0] != 'i')) {
                snprintf(r->err, sizeof r->err, "bad %s entry '%s'", tok[0], tok[k]);
                return false;
            }
            if (grad) {
                rg_set_requires_grad(t, true);
                r->grads[r->n_grads++] = atoi(tok[k] + 1);
            } else {
                r->outs[r->n_outs++] = t;
            }
        }
        return true;
    }
    if (strcmp(tok[0], "loss") == 0) {
        r->loss = n == 2 ? lookup(r, tok[1]) : NULL;
        if (!r->loss) snprintf(r->err, sizeof r->err, "bad loss line");
        return r->loss != NULL;
    }
    int eq = 0;
    while (eq < n && strcmp(tok[eq], "=") != 0) ++eq;
    if (eq == 0 || eq + 1 >= n || eq > MAX_ARGS) {
        snprintf(r->err, sizeof r->err, "malformed instruction");
        return false;
    }
    const char *op = tok[eq + 1];
    rg_tensor *a[MAX_ARGS], *out[MAX_ARGS] = {0};
    double x[MAX_ARGS];
    int na = 0, nx = 0;
    for (int k = eq + 2; k < n; ++k) {
        if (is_ref(tok[k])) {
            if (na == MAX_ARGS || !(a[na++] = lookup(r, tok[k]))) {
                snprintf(r->err, sizeof r->err, "%s: unknown tensor %s", op, tok[k]);
                return false;
            }
        } else if (nx < MAX_ARGS) {
            x[nx++] = strtod(tok[k], NULL);
        }
    }
    int k = op_index(op);
    if (k < 0 || na == 0) {
        snprintf(r->err, sizeof r->err, "unknown op '%s' or no tensor argument", op);
        return false;
    }
    ty->ops_seen[k]++;
    tally_args(ty, a, na);
    if (strcmp(op, "max") == 0 || strcmp(op, "max_axis") == 0)
        ty->ties += has_tie(a[0], op[3] ? (int)x[0] : RG_MAX_RANK);
    int got = run_op(r->tp, op, a, na, x, nx, out);
    if (got != eq) {
        const char *e = rg_tape_error(r->tp);
        snprintf(r->err, sizeof r->err, "%s gave %d output(s) for %d name(s): %s", op, got, eq,
                 e ? e : rg_last_error());
        return false;
    }
    for (int j = 0; j < eq; ++j) {
        if (r->n_t == MAX_T || atoi(tok[j] + 1) != r->n_t) {
            snprintf(r->err, sizeof r->err, "output %s out of order", tok[j]);
            return false;
        }
        rg_tensor *t = out[j];
        ty->rank0 += t->rank == 0;
        ty->empty += t->numel == 0;
        ty->views += (t->flags & RG_VIEW) != 0;
        r->t[r->n_t++] = t;
    }
    return true;
}

/* Replays case c's program forward (its first line marks the grad inputs). */
static bool replay_run(replay *r, const rg_refcase *c, tally *ty) {
    memset(r, 0, sizeof *r);
    r->c = c;
    r->tp = rg_tape_new();
    if (!c->prog) {
        snprintf(r->err, sizeof r->err, "no program");
        return false;
    }
    char *text = strdup(c->prog);
    cr_assert_not_null(text);
    bool ok = true;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); ok && line;
         line = strtok_r(NULL, "\n", &save))
        ok = run_line(r, line, ty);
    free(text);
    if (ok && !r->loss) {
        snprintf(r->err, sizeof r->err, "no loss line");
        ok = false;
    }
    return ok;
}

static void replay_free(replay *r) {
    rg_tape_free(r->tp);
    r->tp = NULL;
}

static bool same_shape(const rg_tensor *a, const rg_tensor *b) {
    return a->rank == b->rank && rg_same_shape(a, b);
}

static bool expect_match(const rg_refcase *c, const char *what, const rg_tensor *got,
                         const rg_tensor *want) {
    char sg[64], sw[64];
    if (!same_shape(got, want)) {
        cr_expect_fail("%s: %s has shape %s, PyTorch %s\n%s", c->name, what,
                       rg_shape_str(got, sg, sizeof sg), rg_shape_str(want, sw, sizeof sw),
                       c->prog);
        return false;
    }
    rg_cmp m = rg_test_compare(got, want, VAL_ATOL, VAL_RTOL);
    cr_expect(m.pass, "%s: %s element %lld is %.17g, PyTorch %.17g (max abs err %.3e)\n%s",
              c->name, what, (long long)m.worst, m.got_v, m.want_v, m.max_abs, c->prog);
    return m.pass;
}

/* The whole check of one case: forward values, then every input's gradient. */
static void check_case(const rg_refcase *c) {
    replay r;
    tally ty;
    memset(&ty, 0, sizeof ty);
    bool ok = replay_run(&r, c, &ty);
    cr_expect(ok, "%s: %s\n%s", c->name, r.err, c->prog ? c->prog : "");
    if (!ok) {
        replay_free(&r);
        return;
    }
    int want_outs = 1 + r.n_outs + r.n_grads;
    cr_assert_eq(c->n_out, want_outs, "%s: %d outputs in the file, the program has %d",
                 c->name, c->n_out, want_outs);
    expect_match(c, "loss", r.loss, c->out[0]);
    for (int k = 0; k < r.n_outs; ++k) {
        char what[32];
        snprintf(what, sizeof what, "out %d", k);
        expect_match(c, what, r.outs[k], c->out[1 + k]);
    }
    int rc = rg_backward(r.tp, r.loss);
    cr_expect_eq(rc, 0, "%s: backward: %s", c->name, rg_tape_error(r.tp));
    for (int k = 0; rc == 0 && k < r.n_grads; ++k) {
        rg_tensor *x = c->in[r.grads[k]];
        rg_tensor *g = rg_zeros(NULL, RG_F64, x->rank, x->shape);
        for (int64_t i = 0; i < x->numel; ++i) rg_set(g, i, rg_grad_get(x, i));
        char what[32];
        snprintf(what, sizeof what, "gradient of i%d", r.grads[k]);
        expect_match(c, what, g, c->out[1 + r.n_outs + k]);
        rg_tensor_free(g);
    }
    replay_free(&r);
}

/* ---- the tests ------------------------------------------------------------------ */

static rg_reflist *load_graphs(void) {
    rg_reflist *l = rg_ref_load(rg_test_data_path(GRAPHS_FILE));
    cr_assert_not_null(l, "%s", rg_last_error());
    return l;
}

static void free_params(struct criterion_test_params *p) { cr_free(p->params); }

/* One test per program: the cases are counted here, and looked up again by
 * index inside each test's process. */
ParameterizedTestParameters(graphs, program) {
    rg_reflist *l = rg_ref_load(rg_test_data_path(GRAPHS_FILE));
    int n = l ? l->n : 0;
    rg_ref_free(l);
    int *idx = cr_malloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; ++i) idx[i] = i;
    return cr_make_param_array(int, idx, (size_t)n, free_params);
}

ParameterizedTest(int *pi, graphs, program) {
    rg_reflist *l = load_graphs();
    cr_assert_lt(*pi, l->n);
    check_case(&l->cases[*pi]);
    rg_ref_free(l);
}

/* The data still covers what the suite is for: enough programs, every op,
 * aliasing, views, rank 0 and zero-size tensors. */
Test(graphs, coverage) {
    rg_reflist *l = load_graphs();
    cr_expect_geq(l->n, 200, "%d programs in %s", l->n, GRAPHS_FILE);
    tally ty;
    memset(&ty, 0, sizeof ty);
    for (int i = 0; i < l->n; ++i) {
        replay r;
        bool ok = replay_run(&r, &l->cases[i], &ty);
        cr_expect(ok, "%s: %s", l->cases[i].name, r.err);
        replay_free(&r);
    }
    for (int k = 0; k < N_OPS; ++k)
        cr_expect_gt(ty.ops_seen[k], 0, "no program uses %s", op_names[k]);
    cr_expect_gt(ty.same_twice, 0, "no op is given one tensor twice");
    cr_expect_gt(ty.shared_memory, 0, "no op is given two views of one buffer");
    cr_expect_gt(ty.views, 0, "no views");
    cr_expect_gt(ty.rank0, 0, "no rank-0 results");
    cr_expect_gt(ty.empty, 0, "no zero-size results");
    cr_expect_gt(ty.ties, 0, "no tied maxima");
    cr_log_info("%d programs: one tensor twice %d, shared memory %d, views %d, rank 0 %d, "
                "empty %d, tied maxima %d", l->n, ty.same_twice, ty.shared_memory, ty.views,
                ty.rank0, ty.empty, ty.ties);
    rg_ref_free(l);
}
