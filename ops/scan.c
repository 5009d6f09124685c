/* Scan rows of the op table: cumsum and logcumsumexp along an axis (F32 and
 * F64, accumulated in double).  logcumsumexp stays exact for large values and
 * for -inf entries, so a recurrence h_t = a_t h_{t-1} + b_t can run in log
 * space over a whole sequence at once (minGRU's parallel form). */
#include <math.h>

#include "ops_internal.h"

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

/* ---- cumsum ------------------------------------------------------------------------
 * y[o,k,j] = sum_{q<=k} x[o,q,j];  dx[o,q,j] += sum_{k>=q} dy[o,k,j] (a reverse scan). */

static void cumsum_forward(rg_tape *tp, rg_entry *e) {
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

static void cumsum_backward(rg_tape *tp, rg_entry *e) {
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

static const rg_op cumsum_row = {.name = "cumsum", .n_in = 1, .n_out = 1, .shape = scan_shape,
                                 .forward = cumsum_forward, .backward = cumsum_backward};

/* ---- logcumsumexp --------------------------------------------------------------------
 * y_k = log sum_{q<=k} e^(x_q), as y_k = logaddexp(y_{k-1}, x_k) with
 * logaddexp(u, v) = max + log1p(e^(min - max)) (PyTorch's own helper: two equal
 * infinities give that infinity), so no exponential ever overflows.
 * Backward: dx_q = sum_{k>=q} dy_k e^(x_q - y_k).  With A_q = sum_{k>=q} dy_k e^(y_q - y_k),
 *   A_{n-1} = dy_{n-1},  A_q = dy_q + e^(y_q - y_{q+1}) A_{q+1},  dx_q += e^(x_q - y_q) A_q:
 * y never decreases along k and x_q <= y_q, so every exponent is <= 0 (one
 * reverse pass, no overflow; an x_q of -inf gets 0). */

static double log_add_exp(double u, double v) {
    double lo = u < v ? u : v, hi = u < v ? v : u;
    if (lo != hi || isfinite(lo)) return hi + log1p(exp(lo - hi));
    return u;
}

static void logcumsumexp_forward(rg_tape *tp, rg_entry *e) {
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

static void logcumsumexp_backward(rg_tape *tp, rg_entry *e) {
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

static const rg_op logcumsumexp_row = {.name = "logcumsumexp", .n_in = 1, .n_out = 1,
                                       .shape = scan_shape, .forward = logcumsumexp_forward,
                                       .backward = logcumsumexp_backward};

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
