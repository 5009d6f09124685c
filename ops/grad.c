/* Gradients as tensors, and so gradients of gradients.
 *
 * rg_autograd walks the tape in reverse like rg_backward, but instead of each
 * row's fast kernel it runs the row's backward_graph: the same derivative
 * written with differentiable ops.  With create_graph those ops are recorded
 * on the tape after the forward, so the gradients it returns are ordinary
 * tensors of the graph and can be differentiated again (rg_backward or
 * rg_autograd), to any order.  The entries it appends lie beyond the ones it
 * walks, so the walk never sees them.  Tensors' .grad buffers are not touched.
 *
 * Where a gradient goes.  A tensor's gradient so far is a map item: one dense
 * tensor (the sum of the full-size gradients the rules gave it) and a list of
 * parts that rules handed over instead (rg_autograd_band, _rows, _wgrad in
 * ops_internal.h): a band of it (a slice's gradient), rows of it (an
 * index_select's), or a product dy^T x (a weight's gradient at one step).
 * The parts are joined once, with differentiable ops, when the gradient is
 * complete: when the walk reaches the entry that made the tensor, or at the
 * end for the inputs.  T slices of one tensor then cost one concat with zero
 * gaps instead of T full-size zero-padded tensors and T full-size adds, and
 * T per-step weight products one GEMM over all steps.
 *
 * rg_gradgradcheck compares second derivatives with central differences of
 * the analytic gradient, in the style of rg_gradcheck. */
#include <math.h>
#include <string.h>
#include <uthash.h>

#include "ops_internal.h"

/* a part of a gradient handed over by a rule, joined when the gradient is complete */
typedef enum { PART_BAND, PART_ROWS, PART_WGRAD } part_kind;
typedef struct part {
    part_kind kind;
    int axis;      /* BAND, ROWS */
    int64_t start; /* BAND: where g starts along the axis */
    rg_tensor *g;  /* BAND, ROWS: the values; WGRAD: dy [N,O] */
    rg_tensor *x;  /* ROWS: ids I32 [K]; WGRAD: x [N,I] */
    int seq;       /* order of arrival: joins are deterministic */
} part;

/* tensor -> its gradient so far: a dense tensor on the tape (or NULL) plus parts */
typedef struct grad_item {
    const rg_tensor *t;
    rg_tensor *g;
    part *parts;
    int n_parts, cap_parts;
    UT_hash_handle hh;
} grad_item;

/* one rg_autograd call, for the rules that hand over parts (one per thread at a time) */
typedef struct ag_call {
    rg_tape *tp;
    grad_item **map;
    struct ag_call *prev;
} ag_call;
static _Thread_local ag_call *current_call;

static grad_item *find(grad_item *map, const rg_tensor *t) {
    grad_item *it;
    HASH_FIND_PTR(map, &t, it);
    return it;
}

static grad_item *find_or_add(rg_tape *tp, grad_item **map, const rg_tensor *t) {
    grad_item *it = find(*map, t);
    if (it) return it;
    it = calloc(1, sizeof *it);
    if (!it) {
        rg_op_error(tp, "rg_autograd: out of memory");
        return NULL;
    }
    it->t = t;
    HASH_ADD_PTR(*map, t, it);
    return it;
}

/* map[t] += g (a new item, or an rg_add) */
static int accumulate(rg_tape *tp, grad_item **map, const rg_tensor *t, rg_tensor *g) {
    grad_item *it = find_or_add(tp, map, t);
    if (!it) return -1;
    it->g = it->g ? rg_add(tp, it->g, g) : g;
    return it->g ? 0 : -1;
}

static void free_map(grad_item *map) {
    grad_item *it, *tmp;
    HASH_ITER(hh, map, it, tmp) {
        HASH_DEL(map, it);
        free(it->parts);
        free(it);
    }
}

/* ---- parts of gradients, and their joins ----------------------------------------- */

/* 1: the part is queued for t (or dropped: t needs no gradient); 0: no rg_autograd
 * is running on tp, the rule builds the gradient itself; -1: out of memory */
static int add_part(rg_tape *tp, const rg_tensor *t, part p) {
    ag_call *c = current_call;
    if (!c || c->tp != tp) return 0;
    if (!t || !(t->flags & RG_REQUIRES_GRAD)) return 1;
    grad_item *it = find_or_add(tp, c->map, t);
    if (!it) return -1;
    if (it->n_parts == it->cap_parts) {
        int cap = it->cap_parts ? 2 * it->cap_parts : 8;
        part *q = realloc(it->parts, (size_t)cap * sizeof *q);
        if (!q) return rg_op_error(tp, "rg_autograd: out of memory");
        it->parts = q;
        it->cap_parts = cap;
    }
    p.seq = it->n_parts;
    it->parts[it->n_parts++] = p;
    return 1;
}

int rg_autograd_band(rg_tape *tp, const rg_tensor *x, int axis, int64_t start, rg_tensor *g) {
    if (!x || !g || x->rank == 0 || axis < 0 || axis >= x->rank || g->rank != x->rank ||
        g->dtype != x->dtype)
        return 0;
    return add_part(tp, x, (part){PART_BAND, axis, start, g, NULL, 0});
}

int rg_autograd_rows(rg_tape *tp, const rg_tensor *x, int axis, rg_tensor *ids, rg_tensor *g) {
    if (!x || !g || !ids || x->rank == 0 || ids->rank != 1 || axis < 0 || axis >= x->rank ||
        g->rank != x->rank || g->dtype != x->dtype)
        return 0;
    return add_part(tp, x, (part){PART_ROWS, axis, 0, g, ids, 0});
}

int rg_autograd_wgrad(rg_tape *tp, const rg_tensor *W, rg_tensor *dy, rg_tensor *x) {
    if (!W || !dy || !x || W->rank != 2 || dy->rank != 2 || x->rank != 2 ||
        dy->shape[1] != W->shape[0] || x->shape[1] != W->shape[1] ||
        dy->shape[0] != x->shape[0] || dy->dtype != W->dtype || x->dtype != W->dtype)
        return 0;
    return add_part(tp, W, (part){PART_WGRAD, 0, 0, dy, x, 0});
}

/* by kind, axis, start, length, then arrival */
static int part_order(const void *pa, const void *pb) {
    const part *a = pa, *b = pb;
    if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
    if (a->axis != b->axis) return a->axis < b->axis ? -1 : 1;
    if (a->kind == PART_BAND) {
        if (a->start != b->start) return a->start < b->start ? -1 : 1;
        int64_t la = a->g->shape[a->axis], lb = b->g->shape[b->axis];
        if (la != lb) return la < lb ? -1 : 1;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* zeros like t with length len along axis */
static rg_tensor *zeros_band(rg_tape *tp, const rg_tensor *t, int axis, int64_t len) {
    int64_t shape[RG_MAX_RANK];
    memcpy(shape, t->shape, sizeof shape);
    shape[axis] = len;
    return rg_zeros(tp, t->dtype, t->rank, shape);
}

/* sum += a (sum NULL: a) */
static int add_to(rg_tape *tp, rg_tensor **sum, rg_tensor *a) {
    *sum = *sum ? rg_add(tp, *sum, a) : a;
    return *sum ? 0 : -1;
}

/* Bands p[0..n) of t along one axis, sorted by start: bands of one range are
 * added first; then each layer of bands that do not overlap becomes one concat
 * with zero gaps (one layer unless bands overlap partly). */
static int join_bands(rg_tape *tp, const rg_tensor *t, part *p, int n, rg_tensor **sum) {
    int ax = p[0].axis, m = 0;
    for (int k = 0; k < n; ++k) { /* one part per distinct non-empty range */
        if (p[k].g->shape[ax] == 0) continue;
        if (m > 0 && p[m - 1].start == p[k].start &&
            p[m - 1].g->shape[ax] == p[k].g->shape[ax]) {
            if (!(p[m - 1].g = rg_add(tp, p[m - 1].g, p[k].g))) return -1;
            continue;
        }
        p[m++] = p[k];
    }
    int64_t L = t->shape[ax];
    rg_tensor **cat = malloc((size_t)(2 * m + 1) * sizeof *cat);
    bool *used = calloc((size_t)m + 1, 1);
    int rc = cat && used ? 0 : rg_op_error(tp, "rg_autograd: out of memory");
    for (int done = 0; rc == 0 && done < m;) {
        int nc = 0;
        int64_t end = 0;
        for (int k = 0; rc == 0 && k < m; ++k) {
            if (used[k] || p[k].start < end) continue;
            if (p[k].start > end && !(cat[nc++] = zeros_band(tp, t, ax, p[k].start - end)))
                rc = -1;
            cat[nc++] = p[k].g;
            end = p[k].start + p[k].g->shape[ax];
            used[k] = true;
            ++done;
        }
        if (rc == 0 && end < L && !(cat[nc++] = zeros_band(tp, t, ax, L - end))) rc = -1;
        if (rc == 0)
            rc = add_to(tp, sum, nc == 1 ? cat[0] : rg_concat(tp, nc, cat, ax));
    }
    free(cat);
    free(used);
    return rc;
}

/* Rows p[0..n) of t along one axis: one index_add of all ids and all values. */
static int join_rows(rg_tape *tp, const rg_tensor *t, part *p, int n, rg_tensor **sum) {
    int ax = p[0].axis;
    rg_tensor **v = malloc(2 * (size_t)n * sizeof *v);
    if (!v) return rg_op_error(tp, "rg_autograd: out of memory");
    for (int k = 0; k < n; ++k) {
        v[k] = p[k].x;
        v[n + k] = p[k].g;
    }
    rg_tensor *ids = n == 1 ? v[0] : rg_concat(tp, n, v, 0);
    rg_tensor *src = n == 1 ? v[n] : rg_concat(tp, n, v + n, ax);
    free(v);
    rg_tensor *z = rg_zeros(tp, t->dtype, t->rank, t->shape);
    return add_to(tp, sum, rg_index_add(tp, z, ax, ids, src));
}

/* Weight products p[0..n): sum_k dy_k^T x_k as one product of the stacked rows. */
static int join_wgrads(rg_tape *tp, part *p, int n, rg_tensor **sum) {
    rg_tensor **v = malloc(2 * (size_t)n * sizeof *v);
    if (!v) return rg_op_error(tp, "rg_autograd: out of memory");
    for (int k = 0; k < n; ++k) {
        v[k] = p[k].g;
        v[n + k] = p[k].x;
    }
    rg_tensor *dy = n == 1 ? v[0] : rg_concat(tp, n, v, 0);
    rg_tensor *x = n == 1 ? v[n] : rg_concat(tp, n, v + n, 0);
    free(v);
    return add_to(tp, sum, rg_matmul_t(tp, dy, x, true, false));
}

/* it->g = the dense gradient plus every part, joined; the parts are gone */
static int settle(rg_tape *tp, grad_item *it) {
    if (!it || it->n_parts == 0) return 0;
    part *p = it->parts;
    int n = it->n_parts, rc = 0;
    qsort(p, (size_t)n, sizeof *p, part_order);
    rg_tensor *sum = it->g;
    for (int a = 0, b; rc == 0 && a < n; a = b) {
        for (b = a + 1; b < n && p[b].kind == p[a].kind && p[b].axis == p[a].axis;) ++b;
        rc = p[a].kind == PART_BAND   ? join_bands(tp, it->t, p + a, b - a, &sum)
             : p[a].kind == PART_ROWS ? join_rows(tp, it->t, p + a, b - a, &sum)
                                      : join_wgrads(tp, p + a, b - a, &sum);
    }
    it->n_parts = 0;
    if (rc != 0) return -1;
    if (sum && !rg_same_shape(sum, it->t))
        sum = rg_reshape(tp, sum, it->t->rank, it->t->shape);
    it->g = sum;
    return it->g || !sum ? 0 : -1;
}

static bool wants_grad(const rg_entry *e) {
    for (int i = 0; i < e->n_in; ++i)
        if (e->in[i] && (e->in[i]->flags & RG_REQUIRES_GRAD)) return true;
    return false;
}

/* entry i's backward_graph, its input gradients added into the map */
static int visit(rg_tape *tp, size_t i, grad_item **map) {
    rg_entry e = *rg_tape_entry(tp, i); /* a copy: recording may move the array */
    rg_tensor *dout[RG_MAX_OUT] = {0};
    bool any = false;
    for (int k = 0; k < e.n_out; ++k) {
        grad_item *it = e.out[k] ? find(*map, e.out[k]) : NULL;
        if (settle(tp, it) != 0) return -1;
        dout[k] = it ? it->g : NULL;
        any = any || dout[k];
    }
    if (!any || !wants_grad(&e)) return 0;
    if (!e.op->backward_graph)
        return rg_op_error(tp, "rg_autograd: op '%s' has no recordable backward: it cannot be "
                               "differentiated twice (gradients as tensors need one)",
                           e.op->name);
    rg_tensor **din = rg_tape_alloc(tp, (size_t)(e.n_in > 0 ? e.n_in : 1) * sizeof *din);
    if (!din) return -1;
    memset(din, 0, (size_t)(e.n_in > 0 ? e.n_in : 1) * sizeof *din);
    if (e.op->backward_graph(tp, &e, dout, din) != 0) return -1;
    for (int j = 0; j < e.n_in; ++j)
        if (din[j] && e.in[j] && (e.in[j]->flags & RG_REQUIRES_GRAD) &&
            accumulate(tp, map, e.in[j], din[j]) != 0)
            return -1;
    return 0;
}

/* the seeds of the outputs: the given tensors, or ones for scalars */
static int seed_outputs(rg_tape *tp, int n_out, rg_tensor *const *outputs,
                        rg_tensor *const *seeds, grad_item **map) {
    for (int k = 0; k < n_out; ++k) {
        rg_tensor *o = outputs[k], *s = seeds ? seeds[k] : NULL;
        if (!o) return rg_op_error(tp, "rg_autograd: output %d is NULL", k);
        if (!s && o->numel != 1)
            return rg_op_error(tp, "rg_autograd: output %d has %lld elements; give a seed for "
                                   "a non-scalar output", k, (long long)o->numel);
        if (s && (s->numel != o->numel || s->dtype != o->dtype))
            return rg_op_error(tp, "rg_autograd: the seed of output %d does not match it in "
                                   "shape or dtype", k);
        if (!s) s = rg_full(tp, o->dtype, o->rank, o->shape, 1.0);
        if (!s || accumulate(tp, map, o, s) != 0) return -1;
    }
    return 0;
}

int rg_autograd(rg_tape *tp, int n_out, rg_tensor *const *outputs, rg_tensor *const *seeds,
                int n_in, rg_tensor *const *inputs, rg_tensor **grads, bool create_graph) {
    if (!tp || n_out < 1 || !outputs || n_in < 1 || !inputs || !grads) {
        if (tp) return rg_op_error(tp, "rg_autograd: NULL tape, outputs, inputs or grads");
        rg_set_error("rg_autograd: NULL tape, outputs, inputs or grads");
        return -1;
    }
    for (int j = 0; j < n_in; ++j) grads[j] = NULL;
    if (rg_tape_error(tp)) {
        rg_set_error("%s", rg_tape_error(tp));
        return -1;
    }
    size_t end = rg_tape_entries(tp);
    bool was = rg_tape_set_grad_enabled(tp, create_graph && rg_tape_grad_enabled(tp));
    grad_item *map = NULL;
    ag_call call = {tp, &map, current_call};
    current_call = &call;
    int rc = seed_outputs(tp, n_out, outputs, seeds, &map);
    for (size_t i = end; rc == 0 && i-- > 0;) rc = visit(tp, i, &map);
    for (int j = 0; rc == 0 && j < n_in; ++j) {
        if (!inputs[j]) {
            rc = rg_op_error(tp, "rg_autograd: input %d is NULL", j);
            break;
        }
        grad_item *it = find(map, inputs[j]);
        if (settle(tp, it) != 0) {
            rc = -1;
            break;
        }
        grads[j] = it && it->g ? it->g
                               : rg_zeros(tp, inputs[j]->dtype, inputs[j]->rank,
                                          inputs[j]->shape);
        if (!grads[j]) rc = -1;
    }
    current_call = call.prev;
    rg_tape_set_grad_enabled(tp, was);
    free_map(map);
    if (rc != 0)
        for (int j = 0; j < n_in; ++j) grads[j] = NULL;
    return rc;
}

rg_tensor *rg_sum_to(rg_tape *tp, rg_tensor *g, const rg_tensor *like) {
    if (!g || !like) return NULL;
    if (g->rank == like->rank && g->numel == like->numel) {
        bool same = true;
        for (int d = 0; d < g->rank; ++d) same = same && g->shape[d] == like->shape[d];
        if (same) return g;
    }
    /* sum the leading dims like lacks, then the dims where like has 1 */
    int lead = g->rank - like->rank;
    if (lead < 0) {
        rg_op_error(tp, "rg_sum_to: gradient of rank %d for a tensor of rank %d", g->rank,
                    like->rank);
        return NULL;
    }
    rg_tensor *s = g;
    for (int d = 0; d < lead && s; ++d) s = rg_sum_axis(tp, s, 0, false);
    for (int d = 0; d < like->rank && s; ++d)
        if (like->shape[d] == 1 && s->shape[d] != 1) s = rg_sum_axis(tp, s, d, true);
    return s ? rg_reshape(tp, s, like->rank, like->shape) : NULL;
}

/* ---- second derivatives against finite differences --------------------------- */

typedef struct ggc {
    rg_gradcheck_fn fn;
    int n;
    rg_tensor *const *inputs;
    void *user;
    rg_tensor *v[16]; /* a random direction per input that requires a gradient */
} ggc;

/* G(x) = sum_i <v_i, df/dx_i>, the analytic gradient in float64; NAN on error */
static double dir_grad(const ggc *c, rg_tape *tp) {
    rg_tape_reset(tp);
    rg_tensor *y = c->fn(tp, c->inputs, c->n, c->user);
    rg_tensor *g[16] = {0};
    if (!y || rg_autograd(tp, 1, &y, NULL, c->n, c->inputs, g, false) != 0) return NAN;
    double s = 0;
    for (int i = 0; i < c->n; ++i)
        for (int64_t k = 0; c->v[i] && k < g[i]->numel; ++k)
            s += rg_get(g[i], k) * rg_get(c->v[i], k);
    return s;
}

/* dG/dx_i through the recorded backward */
static int analytic(const ggc *c, rg_tape *tp, rg_tensor **h) {
    rg_tape_reset(tp);
    rg_tensor *y = c->fn(tp, c->inputs, c->n, c->user), *g[16] = {0}, *s = NULL;
    if (!y || rg_autograd(tp, 1, &y, NULL, c->n, c->inputs, g, true) != 0) return -1;
    for (int i = 0; i < c->n; ++i) {
        if (!c->v[i]) continue;
        rg_tensor *t = rg_sum(tp, rg_mul(tp, g[i], c->v[i]));
        s = s ? rg_add(tp, s, t) : t;
    }
    if (!s) return rg_op_error(tp, "rg_gradgradcheck: no input requires a gradient");
    if (!(s->flags & RG_REQUIRES_GRAD)) { /* the gradient does not depend on x: H = 0 */
        for (int i = 0; i < c->n; ++i)
            h[i] = rg_zeros(tp, c->inputs[i]->dtype, c->inputs[i]->rank, c->inputs[i]->shape);
        return 0;
    }
    return rg_autograd(tp, 1, &s, NULL, c->n, c->inputs, h, false);
}

static void check_element(const ggc *c, rg_tape *tp, int i, int64_t k, double a,
                          const rg_gradcheck_opts *o, rg_gradcheck_result *r) {
    rg_tensor *x = c->inputs[i];
    double x0 = rg_get(x, k);
    rg_set(x, k, x0 + o->eps);
    double gp = dir_grad(c, tp);
    rg_set(x, k, x0 - o->eps);
    double gm = dir_grad(c, tp);
    rg_set(x, k, x0);
    double num = (gp - gm) / (2 * o->eps), err = fabs(a - num);
    double rel = err / fmax(fmax(fabs(a), fabs(num)), o->rel_floor);
    if (!(err <= o->atol + o->rtol * fabs(num))) r->pass = false;
    if (err > r->max_abs_err || isnan(err)) r->max_abs_err = err;
    if (rel > r->max_rel_err || isnan(rel)) {
        r->max_rel_err = rel;
        r->worst_input = i;
        r->worst_index = k;
        r->worst_analytic = a;
        r->worst_numeric = num;
    }
    r->n_checked++;
}

int rg_gradgradcheck(rg_gradcheck_fn fn, int n, rg_tensor *const *inputs, void *user,
                     const rg_gradcheck_opts *opts, rg_gradcheck_result *res) {
    rg_gradcheck_opts o;
    rg_gradcheck_defaults(&o);
    if (opts) o = *opts;
    memset(res, 0, sizeof *res);
    res->pass = true;
    res->worst_input = -1;
    if (!fn || !inputs || n < 1 || n > 16) {
        rg_set_error("rg_gradgradcheck: NULL function or inputs, or n outside 1..16");
        return -1;
    }
    ggc c = {fn, n, inputs, user, {0}};
    rg_rng r;
    rg_rng_seed(&r, 0x99c);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; ++i) {
        if (!inputs[i]) {
            rg_set_error("rg_gradgradcheck: input %d is NULL", i);
            rc = -1;
        } else if ((inputs[i]->flags & RG_REQUIRES_GRAD) && inputs[i]->dtype != RG_F64) {
            rg_set_error("rg_gradgradcheck: input %d is %s; checked inputs must be float64", i,
                         rg_dtype_name(inputs[i]->dtype));
            rc = -1;
        } else if (inputs[i]->flags & RG_REQUIRES_GRAD) {
            c.v[i] = rg_uniform(NULL, RG_F64, inputs[i]->rank, inputs[i]->shape, -1, 1, &r);
            rc = c.v[i] ? 0 : -1;
        }
    }
    rg_tape *tp = rc == 0 ? rg_tape_new() : NULL, *tq = tp ? rg_tape_new() : NULL;
    rg_tensor *h[16] = {0};
    if (rc == 0 && (!tq || analytic(&c, tp, h) != 0)) {
        if (tp && rg_tape_error(tp)) rg_set_error("%s", rg_tape_error(tp));
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < n; ++i)
        for (int64_t k = 0; c.v[i] && k < inputs[i]->numel; ++k)
            check_element(&c, tq, i, k, rg_get(h[i], k), &o, res);
    if (rc == 0 && o.report)
        fprintf(o.report, "gradgradcheck%s%s: %lld second derivatives, max abs err %.3e, max rel "
                          "err %.3e (input %d element %lld: analytic %.9g, numeric %.9g) %s\n",
                o.label ? " " : "", o.label ? o.label : "", (long long)res->n_checked,
                res->max_abs_err, res->max_rel_err, res->worst_input,
                (long long)res->worst_index, res->worst_analytic, res->worst_numeric,
                res->pass ? "PASS" : "FAIL");
    rg_tape_free(tp);
    rg_tape_free(tq);
    for (int i = 0; i < n; ++i) rg_tensor_free(c.v[i]);
    return rc;
}
