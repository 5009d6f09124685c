/* Scan rows of the op table: cumsum and logcumsumexp along an axis (F32 and
 * F64, accumulated in double).  logcumsumexp stays exact for large values and
 * for -inf entries, so a recurrence h_t = a_t h_{t-1} + b_t can run in log
 * space over a whole sequence at once (minGRU's parallel form). */
#include <float.h>
#include <math.h>

#include "ops_internal.h"
#include "rg_kernel.h"

/* Each op's forward and backward, compiled for every kernel variant (rg_kernel.h). */
#define OP_KERNEL(name) RG_KERNEL(name, (rg_tape *tp, rg_entry *e), (tp, e))

/* Runs the statement with T the C type of the float dtype dt. */
#define WITH_FLOAT_T(dt, ...)                                                          \
    do {                                                                               \
        if ((dt) == RG_F32) {                                                          \
            typedef float T;                                                           \
            __VA_ARGS__;                                                               \
        } else {                                                                       \
            typedef double T;                                                          \
            __VA_ARGS__;                                                               \
        }                                                                              \
    } while (0)

/* x viewed as [outer, n, inner] around the scanned axis (rank 0: [1,1,1]). */
typedef struct axis_geom {
    int64_t outer, n, inner;
} axis_geom;

static axis_geom entry_geom(const rg_entry *e) {
    const rg_tensor *a = e->in[0];
    int axis = (int)e->attr.i[0];
    axis_geom g = {1, 1, 1};
    for (int i = 0; i < a->rank; i++) {
        if (i < axis) g.outer *= a->shape[i];
        else if (i == axis) g.n = a->shape[i];
        else g.inner *= a->shape[i];
    }
    return g;
}

/* y has x's shape; the axis (0 or -1 on a rank-0 x) is normalised in attr.i[0]. */
static int scan_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0];
    char s[64];
    if (x->dtype != RG_F32 && x->dtype != RG_F64)
        return rg_op_error(tp, "rg_%s: x %s is %s; it takes float32 or float64", e->op->name,
                           rg_shape_str(x, s, sizeof s), rg_dtype_name(x->dtype));
    int ax = rg_axis_norm((int)e->attr.i[0], x->rank);
    if (ax < 0 || e->attr.i[0] != (int)e->attr.i[0])
        return rg_op_error(tp, "rg_%s: axis %lld out of range for x %s", e->op->name,
                           (long long)e->attr.i[0], rg_shape_str(x, s, sizeof s));
    e->attr.i[0] = ax;
    rg_set_out_shape(e->out[0], x->dtype, x->rank, x->shape);
    return 0;
}

/* ---- recorded backward rules (rg_autograd, gradients of gradients) -----------------
 * Both backwards are reverse scans: the forward scan of the input reversed
 * along the axis (rg_index_select with ids L-1 .. 0), reversed back. */

/* t reversed along axis ax (t itself for rank 0) */
static rg_tensor *flip(rg_tape *tp, rg_tensor *t, int ax) {
    if (!t || t->rank == 0) return t;
    int64_t L = t->shape[ax];
    rg_tensor *ids = rg_tensor_new(tp, RG_I32, 1, &L);
    if (!ids) return NULL;
    for (int64_t k = 0; k < L; k++) ((int32_t *)ids->data)[k] = (int32_t)(L - 1 - k);
    return rg_index_select(tp, t, ax, ids);
}

/* ---- cumsum ------------------------------------------------------------------------
 * y[o,k,j] = sum_{q<=k} x[o,q,j];  dx[o,q,j] += sum_{k>=q} dy[o,k,j] (a reverse scan). */

OP_KERNEL(cumsum_forward) {
    axis_geom g = entry_geom(e);
    WITH_FLOAT_T(e->in[0]->dtype, {
        const T *x = e->in[0]->data;
        T *y = e->out[0]->data;
        for (int64_t o = 0; o < g.outer; o++)
            for (int64_t j = 0; j < g.inner; j++) {
                int64_t b = o * g.n * g.inner + j;
                double s = 0;
                for (int64_t k = 0; k < g.n; k++) {
                    s += x[b + k * g.inner];
                    y[b + k * g.inner] = (T)s;
                }
            }
    });
}

OP_KERNEL(cumsum_backward) {
    const void *dy = e->out[0]->grad;
    void *dx = rg_grad(tp, e->in[0]);
    if (!dy || !dx) return;
    axis_geom g = entry_geom(e);
    WITH_FLOAT_T(e->in[0]->dtype, {
        const T *gy = dy;
        T *d = dx;
        for (int64_t o = 0; o < g.outer; o++)
            for (int64_t j = 0; j < g.inner; j++) {
                int64_t b = o * g.n * g.inner + j;
                double s = 0;
                for (int64_t k = g.n - 1; k >= 0; k--) {
                    s += gy[b + k * g.inner];
                    d[b + k * g.inner] += (T)s;
                }
            }
    });
}

/* recorded: dx = flip(cumsum(flip(dy))) */
static int cumsum_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                        rg_tensor **din) {
    int ax = (int)e->attr.i[0];
    din[0] = flip(tp, rg_cumsum(tp, flip(tp, dout[0], ax), ax), ax);
    return din[0] ? 0 : -1;
}

static const rg_op cumsum_row = {.name = "cumsum", .n_in = 1, .n_out = 1, .shape = scan_shape,
                                 .forward = cumsum_forward, .backward = cumsum_backward,
                                 .backward_graph = cumsum_graph};

/* ---- logcumsumexp --------------------------------------------------------------------
 * y_k = log sum_{q<=k} e^(x_q), as y_k = logaddexp(y_{k-1}, x_k) with
 * logaddexp(u, v) = max + log1p(e^(min - max)) (PyTorch's own helper: two equal
 * infinities give that infinity), so no exponential ever overflows.
 * Backward: dx_q = sum_{k>=q} dy_k e^(x_q - y_k).  With A_q = sum_{k>=q} dy_k e^(y_q - y_k),
 *   A_{n-1} = dy_{n-1},  A_q = dy_q + e^(y_q - y_{q+1}) A_{q+1},  dx_q += e^(x_q - y_q) A_q:
 * y never decreases along k and x_q <= y_q, so every exponent is <= 0 (one
 * reverse pass, no overflow; an x_q of -inf gets 0). */

static inline double log_add_exp(double u, double v) {
    double lo = u < v ? u : v, hi = u < v ? v : u;
    if (lo != hi || isfinite(lo)) return hi + log1p(exp(lo - hi));
    return u;
}

OP_KERNEL(logcumsumexp_forward) {
    axis_geom g = entry_geom(e);
    WITH_FLOAT_T(e->in[0]->dtype, {
        const T *x = e->in[0]->data;
        T *y = e->out[0]->data;
        for (int64_t o = 0; o < g.outer; o++)
            for (int64_t j = 0; j < g.inner; j++) {
                int64_t b = o * g.n * g.inner + j;
                double s = -INFINITY;
                for (int64_t k = 0; k < g.n; k++) {
                    s = k ? log_add_exp(s, x[b + k * g.inner]) : x[b];
                    y[b + k * g.inner] = (T)s;
                }
            }
    });
}

OP_KERNEL(logcumsumexp_backward) {
    const void *dy = e->out[0]->grad;
    void *dx = rg_grad(tp, e->in[0]);
    if (!dy || !dx) return;
    axis_geom g = entry_geom(e);
    WITH_FLOAT_T(e->in[0]->dtype, {
        const T *x = e->in[0]->data, *y = e->out[0]->data, *gy = dy;
        T *d = dx;
        for (int64_t o = 0; o < g.outer; o++)
            for (int64_t j = 0; j < g.inner; j++) {
                int64_t b = o * g.n * g.inner + j;
                double A = 0, ynext = 0;
                for (int64_t k = g.n - 1; k >= 0; k--) {
                    int64_t p = b + k * g.inner;
                    double yk = y[p];
                    A = k == g.n - 1 ? gy[p] : gy[p] + (yk == ynext ? 1 : exp(yk - ynext)) * A;
                    ynext = yk;
                    if (x[p] != -INFINITY) d[p] += (T)(exp(x[p] - yk) * A);
                }
            }
    });
}

/* recorded, in log space as PyTorch's logcumsumexp_backward (no exponential
 * overflows): with dy split into its positive and negative parts,
 *   dx = exp(rlcse(log dy+ - y) + x) - exp(rlcse(log dy- - y) + x),
 * rlcse = logcumsumexp of the reversed sequence, reversed back; log 0 is the
 * lowest finite value (a log of an exact 0 would give NaN derivatives). */
static rg_tensor *log_part(rg_tape *tp, rg_tensor *dy, double sign) {
    rg_tensor *m = rg_tensor_new(tp, dy->dtype, dy->rank, dy->shape);
    for (int64_t i = 0; m && i < dy->numel; i++) rg_set(m, i, sign * rg_get(dy, i) > 0);
    rg_tensor *one = rg_full(tp, dy->dtype, 0, NULL, 1.0);
    rg_tensor *low = rg_full(tp, dy->dtype, 0, NULL, dy->dtype == RG_F32 ? -FLT_MAX : -DBL_MAX);
    rg_tensor *mag = sign > 0 ? dy : rg_neg(tp, dy);
    return rg_where(tp, m, rg_log(tp, rg_where(tp, m, mag, one)), low);
}

static int logcumsumexp_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                              rg_tensor **din) {
    rg_tensor *x = e->in[0], *y = e->out[0], *part[2];
    int ax = (int)e->attr.i[0];
    /* A leading run of x = -inf has y = -inf: there y counts as 0 (x_q = -inf
     * then gives exp(-inf) = 0, as the kernel's 0, instead of inf - inf). */
    rg_tensor *ninf = rg_tensor_new(tp, y->dtype, y->rank, y->shape);
    bool any = false;
    for (int64_t i = 0; ninf && i < y->numel; i++) {
        bool v = rg_get(y, i) == -INFINITY;
        rg_set(ninf, i, v);
        any = any || v;
    }
    if (any) y = rg_masked_fill(tp, y, ninf, 0.0);
    for (int k = 0; k < 2; k++) {
        rg_tensor *l = rg_sub(tp, log_part(tp, dout[0], k ? -1.0 : 1.0), y);
        part[k] = rg_exp(tp, rg_add(tp, flip(tp, rg_logcumsumexp(tp, flip(tp, l, ax), ax), ax), x));
    }
    din[0] = rg_sub(tp, part[0], part[1]);
    return din[0] ? 0 : -1;
}

static const rg_op logcumsumexp_row = {.name = "logcumsumexp", .n_in = 1, .n_out = 1,
                                       .shape = scan_shape, .forward = logcumsumexp_forward,
                                       .backward = logcumsumexp_backward,
                                       .backward_graph = logcumsumexp_graph};

/* ---- the rows and the public functions ------------------------------------------------ */

const rg_op *const rg_rows_scan[] = {&cumsum_row, &logcumsumexp_row};
const int rg_rows_scan_n = (int)(sizeof rg_rows_scan / sizeof rg_rows_scan[0]);

rg_tensor *rg_cumsum(rg_tape *tp, rg_tensor *x, int axis) {
    rg_attr at = {.i = {axis}};
    return rg_ops_apply(tp, &cumsum_row, 1, &x, &at);
}

rg_tensor *rg_logcumsumexp(rg_tape *tp, rg_tensor *x, int axis) {
    rg_attr at = {.i = {axis}};
    return rg_ops_apply(tp, &logcumsumexp_row, 1, &x, &at);
}
