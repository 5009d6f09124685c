/* Reduction rows of the op table: sum, mean and max over all elements (a
 * rank-0 result) or along one axis (attr.i[0] = axis, negative counts from the
 * end; attr.i[1] = keepdim), F32 and F64.  Forward and backward side by side. */
#include <math.h>
#include <string.h>

#include "ops_internal.h"
#include "rg_kernel.h"

/* ---- shape rules ----------------------------------------------------------- */

static int check_float(rg_tape *tp, const rg_entry *e) {
    const rg_tensor *a = e->in[0];
    if (a->dtype == RG_F32 || a->dtype == RG_F64) return 0;
    char s[64];
    return rg_op_error(tp, "rg_%s: a %s is %s; reductions take float32 or float64",
                       e->op->name, rg_shape_str(a, s, sizeof s), rg_dtype_name(a->dtype));
}

/* y [] of a's dtype; max needs at least one element. */
static int all_shape(rg_tape *tp, rg_entry *e) {
    if (check_float(tp, e)) return -1;
    if (e->in[0]->numel == 0 && strcmp(e->op->name, "max") == 0) {
        char s[64];
        return rg_op_error(tp, "rg_max: a %s is empty", rg_shape_str(e->in[0], s, sizeof s));
    }
    rg_tensor *y = e->out[0];
    y->dtype = e->in[0]->dtype;
    y->rank = 0;
    y->numel = 1;
    for (int i = 0; i < RG_MAX_RANK; i++) y->shape[i] = 1;
    return 0;
}

/* a viewed as [outer, n, inner] around the reduced axis. */
typedef struct axis_geom {
    int64_t outer, n, inner;
} axis_geom;

static axis_geom geom_of(const rg_tensor *a, int axis) {
    axis_geom g = {1, 1, 1};
    for (int i = 0; i < a->rank; i++) {
        if (i < axis) g.outer *= a->shape[i];
        else if (i == axis) g.n = a->shape[i];
        else g.inner *= a->shape[i];
    }
    return g;
}

/* y is a without the axis ([..., 1, ...] with keepdim).  A rank-0 a takes axis
 * 0 or -1 and gives a rank-0 y. */
static int axis_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *a = e->in[0];
    char s[64];
    if (check_float(tp, e)) return -1;
    int axis = rg_axis_norm((int)e->attr.i[0], a->rank);
    if (axis < 0 || e->attr.i[0] != (int)e->attr.i[0])
        return rg_op_error(tp, "rg_%s: axis %lld out of range for a %s", e->op->name,
                           (long long)e->attr.i[0], rg_shape_str(a, s, sizeof s));
    if (a->rank > 0 && a->shape[axis] == 0 && strcmp(e->op->name, "max_axis") == 0)
        return rg_op_error(tp, "rg_max_axis: axis %d of a %s is empty", axis,
                           rg_shape_str(a, s, sizeof s));
    bool keep = e->attr.i[1] != 0;
    rg_tensor *y = e->out[0];
    y->dtype = a->dtype;
    y->rank = 0;
    y->numel = 1;
    for (int i = 0; i < a->rank; i++) {
        if (i == axis && !keep) continue;
        y->shape[y->rank] = i == axis ? 1 : a->shape[i];
        y->numel *= y->shape[y->rank];
        y->rank++;
    }
    for (int i = y->rank; i < RG_MAX_RANK; i++) y->shape[i] = 1;
    return 0;
}

/* ---- sum and mean over all elements ------------------------------------------ */

/* S += sum_i x_i in double, as eight partial sums (x_i, x_{i+8}, ...) added at
 * the end: a fixed order, the same for every kernel variant, and no serial
 * chain, so the loop vectorises. */
#define SUM8(x, n, S)                                                                  \
    do {                                                                               \
        double part_[8] = {0};                                                         \
        int64_t i_ = 0;                                                                \
        for (; i_ + 8 <= (n); i_ += 8)                                                 \
            for (int q_ = 0; q_ < 8; q_++) part_[q_] += (double)(x)[i_ + q_];          \
        for (; i_ < (n); i_++) part_[0] += (double)(x)[i_];                            \
        for (int q_ = 0; q_ < 8; q_++) (S) += part_[q_];                               \
    } while (0)

/* y = scale * sum_i x_i, accumulated in double for both dtypes. */
RG_KERNEL(sum_all, (rg_entry *e, double scale), (e, scale)) {
    const rg_tensor *a = e->in[0];
    double s = 0;
    if (a->dtype == RG_F32) {
        SUM8((const float *)a->data, a->numel, s);
        *(float *)e->out[0]->data = (float)(s * scale);
    } else {
        SUM8((const double *)a->data, a->numel, s);
        *(double *)e->out[0]->data = s * scale;
    }
}

/* dx_i += scale * dy */
RG_KERNEL(sum_all_grad, (rg_tape *tp, rg_entry *e, double scale), (tp, e, scale)) {
    if (!e->out[0]->grad) return;
    void *dx = rg_grad(tp, e->in[0]);
    if (!dx) return;
    int64_t n = e->in[0]->numel;
    if (e->in[0]->dtype == RG_F32) {
        const float g = (float)(*(const float *)e->out[0]->grad * scale);
        float *d = dx;
        for (int64_t i = 0; i < n; i++) d[i] += g;
    } else {
        const double g = *(const double *)e->out[0]->grad * scale;
        double *d = dx;
        for (int64_t i = 0; i < n; i++) d[i] += g;
    }
}

/* the recorded backward rules, at the end of the file */
#define GRAPH_DECL(name)                                                               \
    static int name(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din)
GRAPH_DECL(sum_graph);
GRAPH_DECL(mean_graph);
GRAPH_DECL(max_graph);
GRAPH_DECL(sum_axis_graph);
GRAPH_DECL(mean_axis_graph);

/* sum: y = sum_i x_i;  dx_i = dy */
static void sum_forward(rg_tape *tp, rg_entry *e) { sum_all(e, 1.0); }
static void sum_backward(rg_tape *tp, rg_entry *e) { sum_all_grad(tp, e, 1.0); }
static const rg_op sum_row = {"sum", 1, 1, all_shape, sum_forward, sum_backward, sum_graph};

/* mean: y = sum_i x_i / N;  dx_i = dy / N (NaN for an empty a, as PyTorch) */
static void mean_forward(rg_tape *tp, rg_entry *e) {
    sum_all(e, 1.0 / (double)e->in[0]->numel);
}
static void mean_backward(rg_tape *tp, rg_entry *e) {
    sum_all_grad(tp, e, 1.0 / (double)e->in[0]->numel);
}
static const rg_op mean_row = {"mean", 1, 1, all_shape, mean_forward, mean_backward, mean_graph};

/* ---- max over all elements ------------------------------------------------------ */

/* v beats the best so far: larger, or the first NaN (NaN propagates, as PyTorch). */
#define MAX_BEATS(v, best) ((v) > (best) || ((v) != (v) && (best) == (best)))

/* Flat index of the first largest element of a (numel >= 1). */
static int64_t argmax_all(const rg_tensor *a) {
    int64_t k = 0;
    if (a->dtype == RG_F32) {
        const float *x = a->data;
        for (int64_t i = 1; i < a->numel; i++)
            if (MAX_BEATS(x[i], x[k])) k = i;
    } else {
        const double *x = a->data;
        for (int64_t i = 1; i < a->numel; i++)
            if (MAX_BEATS(x[i], x[k])) k = i;
    }
    return k;
}

/* Forward keeps the argmax for backward when a gradient can be asked for. */
static int64_t *save_indices(rg_tape *tp, rg_entry *e, int64_t n) {
    e->saved = NULL;
    if (!tp || !rg_tape_grad_enabled(tp) || !rg_requires_grad(e->in[0])) return NULL;
    e->saved = rg_tape_alloc(tp, (size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    return e->saved;
}

/* max: y = max_i x_i (NaN when any x_i is NaN);  dx_i = dy / m for each of the
 * m elements equal to y (the NaNs when y is NaN), 0 elsewhere: ties share the
 * gradient evenly, as PyTorch's torch.max(x) and torch.amax(x) do. */
static void max_forward(rg_tape *tp, rg_entry *e) {
    const rg_tensor *a = e->in[0];
    int64_t k = argmax_all(a);
    if (a->dtype == RG_F32) *(float *)e->out[0]->data = ((const float *)a->data)[k];
    else *(double *)e->out[0]->data = ((const double *)a->data)[k];
}

/* v is one of the maxima y: equal to it, or a NaN when y is NaN. */
#define IS_MAX(v, y) ((y) != (y) ? (v) != (v) : (v) == (y))

/* D[i] += G / m for the m elements of X[0..n) that are maxima of value *Y. */
#define MAX_TIES_BWD(T, X, Y, G, D, n)                                                 \
    do {                                                                               \
        const T y_ = *(Y);                                                             \
        int64_t m_ = 0;                                                                \
        for (int64_t i = 0; i < (n); i++) m_ += IS_MAX((X)[i], y_);                    \
        const T g_ = *(G) / (T)m_;                                                     \
        for (int64_t i = 0; i < (n); i++)                                              \
            if (IS_MAX((X)[i], y_)) (D)[i] += g_;                                      \
    } while (0)

RG_KERNEL(max_backward, (rg_tape *tp, rg_entry *e), (tp, e)) {
    if (!e->out[0]->grad) return;
    void *dx = rg_grad(tp, e->in[0]);
    if (!dx) return;
    const rg_tensor *a = e->in[0], *y = e->out[0];
    if (a->dtype == RG_F32)
        MAX_TIES_BWD(float, (const float *)a->data, (const float *)y->data,
                     (const float *)y->grad, (float *)dx, a->numel);
    else
        MAX_TIES_BWD(double, (const double *)a->data, (const double *)y->data,
                     (const double *)y->grad, (double *)dx, a->numel);
}
static const rg_op max_row = {"max", 1, 1, all_shape, max_forward, max_backward, max_graph};

/* ---- sum and mean along an axis ---------------------------------------------------- */

/* y[o,j] = scale * sum_k x[o,k,j]; the inner loop runs over j (contiguous). */
#define SUM_AXIS_FWD(T, g, X, Y, scale)                                                \
    do {                                                                               \
        for (int64_t o = 0; o < (g).outer; o++) {                                      \
            const T *restrict xo = (X) + o * (g).n * (g).inner;                        \
            T *restrict yo = (Y) + o * (g).inner;                                      \
            if ((g).inner == 1) { /* 8 running sums, then in order: every variant   \
                                     * adds the same way */                            \
                double s8[8] = {0}, s = 0;                                             \
                int64_t k = 0;                                                         \
                for (; k + 8 <= (g).n; k += 8)                                         \
                    for (int l = 0; l < 8; l++) s8[l] += xo[k + l];                    \
                for (int l = 0; l < 8; l++) s += s8[l];                                \
                for (; k < (g).n; k++) s += xo[k];                                     \
                yo[0] = (T)(s * (scale));                                              \
                continue;                                                              \
            }                                                                          \
            for (int64_t j = 0; j < (g).inner; j++) yo[j] = 0;                         \
            for (int64_t k = 0; k < (g).n; k++)                                        \
                for (int64_t j = 0; j < (g).inner; j++) yo[j] += xo[k * (g).inner + j]; \
            for (int64_t j = 0; j < (g).inner; j++) yo[j] = (T)(yo[j] * (scale));      \
        }                                                                              \
    } while (0)

/* dx[o,k,j] += scale * dy[o,j]  (OP +=), or = into a fresh buffer */
#define SUM_AXIS_BWD(T, g, G, D, scale, OP)                                            \
    do {                                                                               \
        const T sc_ = (T)(scale);                                                      \
        for (int64_t o = 0; o < (g).outer; o++) {                                      \
            const T *restrict go = (G) + o * (g).inner;                                \
            if ((g).inner == 1) { /* the last axis: one value over a row */            \
                T *restrict d_ = (D) + o * (g).n;                                      \
                const T v_ = sc_ * go[0];                                              \
                for (int64_t k = 0; k < (g).n; k++) d_[k] OP v_;                       \
                continue;                                                              \
            }                                                                          \
            for (int64_t k = 0; k < (g).n; k++) {                                      \
                T *restrict dk = (D) + (o * (g).n + k) * (g).inner;                    \
                for (int64_t j = 0; j < (g).inner; j++) dk[j] OP sc_ * go[j];          \
            }                                                                          \
        }                                                                              \
    } while (0)

static axis_geom entry_geom(const rg_entry *e) {
    return geom_of(e->in[0], rg_axis_norm((int)e->attr.i[0], e->in[0]->rank));
}

RG_KERNEL(sum_axis_run, (rg_entry *e, bool mean), (e, mean)) {
    axis_geom g = entry_geom(e);
    double scale = mean ? 1.0 / (double)g.n : 1.0;
    if (e->in[0]->dtype == RG_F32)
        SUM_AXIS_FWD(float, g, (const float *)e->in[0]->data, (float *)e->out[0]->data,
                     scale);
    else
        SUM_AXIS_FWD(double, g, (const double *)e->in[0]->data, (double *)e->out[0]->data,
                     scale);
}

RG_KERNEL(sum_axis_grad, (rg_tape *tp, rg_entry *e, bool mean), (tp, e, mean)) {
    if (!e->out[0]->grad) return;
    bool fresh;
    void *dx = rg_grad_fresh(tp, e->in[0], &fresh);
    if (!dx) return;
    axis_geom g = entry_geom(e);
    double scale = mean ? 1.0 / (double)g.n : 1.0;
    const void *dy = e->out[0]->grad;
    if (e->in[0]->dtype == RG_F32 && fresh)
        SUM_AXIS_BWD(float, g, (const float *)dy, (float *)dx, scale, =);
    else if (e->in[0]->dtype == RG_F32)
        SUM_AXIS_BWD(float, g, (const float *)dy, (float *)dx, scale, +=);
    else if (fresh)
        SUM_AXIS_BWD(double, g, (const double *)dy, (double *)dx, scale, =);
    else
        SUM_AXIS_BWD(double, g, (const double *)dy, (double *)dx, scale, +=);
}

/* sum_axis: y[o,j] = sum_k x[o,k,j];  dx[o,k,j] = dy[o,j] */
static void sum_axis_forward(rg_tape *tp, rg_entry *e) { sum_axis_run(e, false); }
static void sum_axis_backward(rg_tape *tp, rg_entry *e) { sum_axis_grad(tp, e, false); }
static const rg_op sum_axis_row = {"sum_axis", 1, 1, axis_shape, sum_axis_forward,
                                   sum_axis_backward, sum_axis_graph};

/* mean_axis: y[o,j] = sum_k x[o,k,j] / n;  dx[o,k,j] = dy[o,j] / n */
static void mean_axis_forward(rg_tape *tp, rg_entry *e) { sum_axis_run(e, true); }
static void mean_axis_backward(rg_tape *tp, rg_entry *e) { sum_axis_grad(tp, e, true); }
static const rg_op mean_axis_row = {"mean_axis", 1, 1, axis_shape, mean_axis_forward,
                                    mean_axis_backward, mean_axis_graph};

/* ---- max along an axis ---------------------------------------------------------------- */

/* y[o,j] = x[o,k*,j] with k* the first largest along k; idx[o,j] = k* when idx. */
#define MAX_AXIS_FWD(T, g, X, Y, idx)                                                  \
    do {                                                                               \
        for (int64_t o = 0; o < (g).outer; o++)                                        \
            for (int64_t j = 0; j < (g).inner; j++) {                                  \
                const T *xo = (X) + o * (g).n * (g).inner + j;                         \
                int64_t best = 0;                                                      \
                for (int64_t k = 1; k < (g).n; k++)                                    \
                    if (MAX_BEATS(xo[k * (g).inner], xo[best * (g).inner])) best = k;  \
                (Y)[o * (g).inner + j] = xo[best * (g).inner];                         \
                if (idx) (idx)[o * (g).inner + j] = best;                              \
            }                                                                          \
    } while (0)

/* First largest k of x[o,:,j]. */
static int64_t argmax_axis(const rg_tensor *a, axis_geom g, int64_t o, int64_t j) {
    int64_t best = 0, base = o * g.n * g.inner + j;
    if (a->dtype == RG_F32) {
        const float *x = (const float *)a->data + base;
        for (int64_t k = 1; k < g.n; k++)
            if (MAX_BEATS(x[k * g.inner], x[best * g.inner])) best = k;
    } else {
        const double *x = (const double *)a->data + base;
        for (int64_t k = 1; k < g.n; k++)
            if (MAX_BEATS(x[k * g.inner], x[best * g.inner])) best = k;
    }
    return best;
}

/* max_axis: y[o,j] = max_k x[o,k,j];  dx[o,k*,j] = dy[o,j] at the first argmax k*, 0
 * elsewhere.  This is torch.max(x, dim).values, whose gradient goes to the index
 * it returns (the first maximum, or the first NaN, on the CPU); torch.amax(x, dim)
 * would split it among ties instead. */
static void max_axis_forward(rg_tape *tp, rg_entry *e) {
    axis_geom g = entry_geom(e);
    int64_t *idx = save_indices(tp, e, e->out[0]->numel);
    if (e->in[0]->dtype == RG_F32)
        MAX_AXIS_FWD(float, g, (const float *)e->in[0]->data, (float *)e->out[0]->data, idx);
    else
        MAX_AXIS_FWD(double, g, (const double *)e->in[0]->data, (double *)e->out[0]->data,
                     idx);
}
static void max_axis_backward(rg_tape *tp, rg_entry *e) {
    if (!e->out[0]->grad) return;
    void *dx = rg_grad(tp, e->in[0]);
    if (!dx) return;
    axis_geom g = entry_geom(e);
    const int64_t *idx = e->saved;
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t j = 0; j < g.inner; j++) {
            int64_t q = o * g.inner + j;
            int64_t k = idx ? idx[q] : argmax_axis(e->in[0], g, o, j);
            int64_t p = (o * g.n + k) * g.inner + j;
            if (e->in[0]->dtype == RG_F32)
                ((float *)dx)[p] += ((const float *)e->out[0]->grad)[q];
            else
                ((double *)dx)[p] += ((const double *)e->out[0]->grad)[q];
        }
}
/* recorded: dout (keepdim shape) times the constant one-hot of the first argmax */
static int max_axis_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                          rg_tensor **din) {
    const rg_tensor *x = e->in[0];
    axis_geom g = entry_geom(e);
    const int64_t *idx = e->saved;
    rg_tensor *hot = rg_zeros(tp, x->dtype, x->rank, x->shape);
    for (int64_t o = 0; hot && o < g.outer; o++)
        for (int64_t j = 0; j < g.inner; j++) {
            int64_t k = idx ? idx[o * g.inner + j] : argmax_axis(x, g, o, j);
            rg_set(hot, (o * g.n + k) * g.inner + j, 1.0);
        }
    int64_t shape[RG_MAX_RANK];
    int ax = rg_axis_norm((int)e->attr.i[0], x->rank);
    for (int d = 0; d < x->rank; d++) shape[d] = d == ax ? 1 : x->shape[d];
    din[0] = rg_mul(tp, hot, rg_reshape(tp, dout[0], x->rank, shape));
    return din[0] ? 0 : -1;
}
static const rg_op max_axis_row = {"max_axis", 1, 1, axis_shape, max_axis_forward,
                                   max_axis_backward, max_axis_graph};

/* ---- recorded backward rules (rg_autograd, gradients of gradients) ----------------
 * dout spread back over the reduced elements with differentiable ops: multiplied
 * by a constant (ones, 1/n, or the maxima's mask divided by their number). */

/* dout reshaped to x's rank with 1 along the reduced axis (keepdim's shape) */
static rg_tensor *keepdim_of(rg_tape *tp, rg_tensor *dout, const rg_tensor *x, int ax) {
    int64_t shape[RG_MAX_RANK];
    for (int d = 0; d < x->rank; d++) shape[d] = d == ax ? 1 : x->shape[d];
    return rg_reshape(tp, dout, x->rank, shape);
}

/* a constant like x: `value` everywhere, or where mask(i) holds (else 0) */
static rg_tensor *const_like(rg_tape *tp, const rg_tensor *x, double value) {
    return rg_full(tp, x->dtype, x->rank, x->shape, value);
}

static int sum_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din) {
    din[0] = rg_mul(tp, const_like(tp, e->in[0], 1.0), dout[0]);
    return din[0] ? 0 : -1;
}
static int mean_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din) {
    din[0] = rg_mul(tp, const_like(tp, e->in[0], 1.0 / (double)e->in[0]->numel), dout[0]);
    return din[0] ? 0 : -1;
}
/* the gradient split evenly among the tied maxima (the NaNs when y is NaN) */
static int max_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din) {
    const rg_tensor *x = e->in[0];
    double y = rg_get(e->out[0], 0);
    int64_t m = 0;
    for (int64_t i = 0; i < x->numel; i++) m += IS_MAX(rg_get(x, i), y);
    rg_tensor *mask = rg_tensor_new(tp, x->dtype, x->rank, x->shape);
    for (int64_t i = 0; mask && i < x->numel; i++)
        rg_set(mask, i, IS_MAX(rg_get(x, i), y) ? 1.0 / (double)m : 0.0);
    din[0] = rg_mul(tp, mask, dout[0]);
    return din[0] ? 0 : -1;
}
static int sum_axis_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                          rg_tensor **din) {
    const rg_tensor *x = e->in[0];
    int ax = rg_axis_norm((int)e->attr.i[0], x->rank);
    rg_tensor *g = x->rank ? keepdim_of(tp, dout[0], x, ax) : dout[0];
    din[0] = rg_mul(tp, const_like(tp, x, 1.0), g);
    return din[0] ? 0 : -1;
}
static int mean_axis_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                           rg_tensor **din) {
    const rg_tensor *x = e->in[0];
    int ax = rg_axis_norm((int)e->attr.i[0], x->rank);
    int64_t n = x->rank ? x->shape[ax] : 1;
    rg_tensor *g = x->rank ? keepdim_of(tp, dout[0], x, ax) : dout[0];
    din[0] = rg_mul(tp, const_like(tp, x, 1.0 / (double)n), g);
    return din[0] ? 0 : -1;
}
/* ---- the rows and the public functions ------------------------------------------------- */

const rg_op *const rg_rows_reduce[] = {&sum_row,      &mean_row,      &max_row,
                                       &sum_axis_row, &mean_axis_row, &max_axis_row};
const int rg_rows_reduce_n = (int)(sizeof rg_rows_reduce / sizeof rg_rows_reduce[0]);

static rg_tensor *apply_axis(rg_tape *tp, const rg_op *op, rg_tensor *a, int axis,
                             bool keepdim) {
    rg_attr at = {.i = {axis, keepdim ? 1 : 0}};
    return rg_ops_apply(tp, op, 1, &a, &at);
}

rg_tensor *rg_sum(rg_tape *tp, rg_tensor *a) {
    rg_attr at = {.i = {0}};
    return rg_ops_apply(tp, &sum_row, 1, &a, &at);
}
rg_tensor *rg_mean(rg_tape *tp, rg_tensor *a) {
    rg_attr at = {.i = {0}};
    return rg_ops_apply(tp, &mean_row, 1, &a, &at);
}
rg_tensor *rg_max(rg_tape *tp, rg_tensor *a) {
    rg_attr at = {.i = {0}};
    return rg_ops_apply(tp, &max_row, 1, &a, &at);
}
rg_tensor *rg_sum_axis(rg_tape *tp, rg_tensor *a, int axis, bool keepdim) {
    return apply_axis(tp, &sum_axis_row, a, axis, keepdim);
}
rg_tensor *rg_mean_axis(rg_tape *tp, rg_tensor *a, int axis, bool keepdim) {
    return apply_axis(tp, &mean_axis_row, a, axis, keepdim);
}
rg_tensor *rg_max_axis(rg_tape *tp, rg_tensor *a, int axis, bool keepdim) {
    return apply_axis(tp, &max_axis_row, a, axis, keepdim);
}
