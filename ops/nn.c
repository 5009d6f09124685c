/* Neural-network ops: softmax and log-softmax along any axis, cross-entropy
 * (fused with log-softmax, optionally weighted per row), mean squared error,
 * embedding lookup and inverted dropout.  Each kernel exists for float and
 * double (one macro body); sums and maxima are accumulated in double. */
#include <math.h>
#include <string.h>

#include "fastmath.h"
#include "ops_internal.h"
#include "rg_kernel.h"

static bool is_float(rg_dtype dt) { return dt == RG_F32 || dt == RG_F64; }

/* Recorded backward rules (rg_autograd, gradients of gradients) sit under each
 * op's kernels: the same derivative written with differentiable public ops.
 * What does not depend on the inputs (a target's one-hot, a dropout mask) is
 * a constant tensor on the tape. */
static bool needs_grad(const rg_tensor *t) { return t && (t->flags & RG_REQUIRES_GRAD); }

/* An I32 constant [N] with the N ids of ids (any rank): rg_index_select's ids. */
static rg_tensor *flat_ids(rg_tape *tp, const rg_tensor *ids) {
    int64_t n = ids->numel;
    return rg_from_data(tp, RG_I32, 1, &n, ids->data);
}

static int need_float(rg_tape *tp, const char *fn, const char *what, const rg_tensor *t) {
    char s[64];
    if (is_float(t->dtype)) return 0;
    return rg_op_error(tp, "%s: %s %s must be F32 or F64, got %s", fn, what,
                       rg_shape_str(t, s, sizeof s), rg_dtype_name(t->dtype));
}

/* ---- softmax and log-softmax ----------------------------------------------
 * Along axis, with x viewed as [outer, L, inner]:
 *   softmax      y = exp(x - m) / s,        s = sum exp(x - m), m = max x
 *                dx += y * (dy - sum(dy * y))
 *   log_softmax  y = (x - m) - log s
 *                dx += dy - exp(y) * sum(dy)
 * attr: i[0] axis. */

static int softmax_shape(rg_tape *tp, rg_entry *e) {
    rg_tensor *a = e->in[0];
    const char *fn = e->op->name[0] == 'l' ? "rg_log_softmax" : "rg_softmax";
    char sa[64];
    if (need_float(tp, fn, "input", a)) return -1;
    int ax = rg_axis_norm((int)e->attr.i[0], a->rank);
    if (ax < 0)
        return rg_op_error(tp, "%s: axis %d out of range for a %s", fn, (int)e->attr.i[0],
                           rg_shape_str(a, sa, sizeof sa));
    e->attr.i[0] = ax;
    rg_set_out_shape(e->out[0], a->dtype, a->rank, a->shape);
    return 0;
}

static void axis_view(const rg_entry *e, int64_t *outer, int64_t *len, int64_t *inner) {
    const rg_tensor *x = e->in[0];
    int ax = (int)e->attr.i[0];
    *outer = *len = *inner = 1;
    for (int d = 0; d < RG_MAX_RANK; d++) {
        if (d < ax) *outer *= x->shape[d];
        else if (d == ax) *len = x->shape[d];
        else *inner *= x->shape[d];
    }
}

/* float32 rows take exp from ops/fastmath.h (a few ulp); sums stay in double. */
#define EXP_F32(v) ((double)rg_expf((float)(v)))

#define SOFTMAX_KERNELS(T, SFX, EXP)                                                     \
    RG_KERNEL(softmax_fwd_##SFX,                                                         \
              (const T *x, T *y, int64_t outer, int64_t L, int64_t inner, bool logsm),    \
              (x, y, outer, L, inner, logsm)) {                                          \
        for (int64_t o = 0; o < outer; o++)                                              \
            for (int64_t i = 0; i < inner; i++) {                                        \
                const T *xr = x + o * L * inner + i;                                     \
                T *yr = y + o * L * inner + i;                                           \
                double m = xr[0], s = 0;                                                 \
                for (int64_t l = 1; l < L; l++)                                          \
                    if (xr[l * inner] > m) m = xr[l * inner];                            \
                for (int64_t l = 0; l < L; l++) s += EXP(xr[l * inner] - m);             \
                double ls = log(s);                                                      \
                for (int64_t l = 0; l < L; l++)                                          \
                    yr[l * inner] = logsm ? (T)((xr[l * inner] - m) - ls)                \
                                          : (T)(EXP(xr[l * inner] - m) / s);             \
            }                                                                            \
    }                                                                                    \
    RG_KERNEL(softmax_bwd_##SFX,                                                         \
              (const T *y, const T *dy, T *dx, int64_t outer, int64_t L, int64_t inner,   \
               bool logsm),                                                              \
              (y, dy, dx, outer, L, inner, logsm)) {                                     \
        for (int64_t o = 0; o < outer; o++)                                              \
            for (int64_t i = 0; i < inner; i++) {                                        \
                int64_t b = o * L * inner + i;                                           \
                double acc = 0;                                                          \
                for (int64_t l = 0; l < L; l++)                                          \
                    acc += logsm ? (double)dy[b + l * inner]                             \
                                 : (double)dy[b + l * inner] * y[b + l * inner];         \
                for (int64_t l = 0; l < L; l++) {                                        \
                    int64_t k = b + l * inner;                                           \
                    dx[k] += logsm ? (T)(dy[k] - EXP(y[k]) * acc)                        \
                                   : (T)(y[k] * (dy[k] - acc));                          \
                }                                                                        \
            }                                                                            \
    }
SOFTMAX_KERNELS(float, f32, EXP_F32)
SOFTMAX_KERNELS(double, f64, exp)

static void softmax_forward(rg_tape *tp, rg_entry *e) {
    int64_t outer, L, inner;
    axis_view(e, &outer, &L, &inner);
    if (L == 0) return; /* an empty axis: nothing to write, and no xr[0] to read */
    bool logsm = e->op->name[0] == 'l';
    if (e->in[0]->dtype == RG_F64)
        softmax_fwd_f64(e->in[0]->data, e->out[0]->data, outer, L, inner, logsm);
    else
        softmax_fwd_f32(e->in[0]->data, e->out[0]->data, outer, L, inner, logsm);
}

static void softmax_backward(rg_tape *tp, rg_entry *e) {
    const void *dy = e->out[0]->grad;
    void *dx = rg_grad(tp, e->in[0]);
    if (!dy || !dx) return;
    int64_t outer, L, inner;
    axis_view(e, &outer, &L, &inner);
    if (L == 0) return;
    bool logsm = e->op->name[0] == 'l';
    if (e->in[0]->dtype == RG_F64)
        softmax_bwd_f64(e->out[0]->data, dy, dx, outer, L, inner, logsm);
    else
        softmax_bwd_f32(e->out[0]->data, dy, dx, outer, L, inner, logsm);
}

/* recorded, from the output y (a tensor of the graph):
 *   softmax      dx = y (dy - sum_axis(dy y))
 *   log_softmax  dx = dy - exp(y) sum_axis(dy) */
static int softmax_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                         rg_tensor **din) {
    rg_tensor *y = e->out[0], *dy = dout[0];
    int ax = (int)e->attr.i[0];
    if (e->op->name[0] == 'l')
        din[0] = rg_sub(tp, dy, rg_mul(tp, rg_exp(tp, y), rg_sum_axis(tp, dy, ax, true)));
    else
        din[0] = rg_mul(tp, y, rg_sub(tp, dy, rg_sum_axis(tp, rg_mul(tp, dy, y), ax, true)));
    return din[0] ? 0 : -1;
}

static const rg_op op_softmax = {"softmax", 1, 1, softmax_shape, softmax_forward,
                                 softmax_backward, softmax_graph};
static const rg_op op_log_softmax = {"log_softmax", 1, 1, softmax_shape, softmax_forward,
                                     softmax_backward, softmax_graph};

rg_tensor *rg_softmax(rg_tape *tp, rg_tensor *a, int axis) {
    rg_attr at = {0};
    at.i[0] = axis;
    return rg_ops_apply(tp, &op_softmax, 1, &a, &at);
}

rg_tensor *rg_log_softmax(rg_tape *tp, rg_tensor *a, int axis) {
    rg_attr at = {0};
    at.i[0] = axis;
    return rg_ops_apply(tp, &op_log_softmax, 1, &a, &at);
}

/* ---- cross-entropy ----------------------------------------------------------
 * logits x [N,C], targets t I32 [N], optional row weights w [N]:
 *   loss_i = log s_i - (x[i,t_i] - m_i)     (m_i = max_c x[i,c], s_i = sum exp(x - m_i))
 *   y = sum_i w_i loss_i / D                D = 1 (sum), N (mean) or sum_i w_i (weighted mean)
 *   dx[i,c] += dy * w_i * (p[i,c] - [c == t_i]) / D,   p = exp(x - m_i - log s_i)
 *   dw_i   += dy * (loss_i - y) / D  (weighted mean),  dy * loss_i (sum)
 * Computing x - m first keeps it exact for logits near 1e4.  Forward saves
 * (m_i, log s_i) per row.  attr: i[0] reduction. */

static int ce_shape(rg_tape *tp, rg_entry *e) {
    rg_tensor *x = e->in[0], *t = e->in[1];
    bool weighted = e->n_in == 3;
    const char *fn = weighted ? "rg_cross_entropy_weighted" : "rg_cross_entropy";
    char sx[64], st[64], sw[64];
    if (need_float(tp, fn, "logits", x)) return -1;
    if (x->rank != 2)
        return rg_op_error(tp, "%s: logits must be [N,C], got %s", fn,
                           rg_shape_str(x, sx, sizeof sx));
    if (t->dtype != RG_I32 || t->rank != 1 || t->shape[0] != x->shape[0])
        return rg_op_error(tp, "%s: targets must be I32 [%lld] for logits %s, got %s %s", fn,
                           (long long)x->shape[0], rg_shape_str(x, sx, sizeof sx),
                           rg_dtype_name(t->dtype), rg_shape_str(t, st, sizeof st));
    if (weighted) {
        rg_tensor *w = e->in[2];
        if (w->dtype != x->dtype || w->rank != 1 || w->shape[0] != x->shape[0])
            return rg_op_error(tp, "%s: weights must be %s [%lld] for logits %s, got %s %s",
                               fn, rg_dtype_name(x->dtype), (long long)x->shape[0],
                               rg_shape_str(x, sx, sizeof sx), rg_dtype_name(w->dtype),
                               rg_shape_str(w, sw, sizeof sw));
    }
    if (e->attr.i[0] != RG_MEAN && e->attr.i[0] != RG_SUM)
        return rg_op_error(tp, "%s: unknown reduction %lld", fn, (long long)e->attr.i[0]);
    const int32_t *tv = t->data;
    int64_t C = x->shape[1];
    for (int64_t i = 0; i < t->numel; i++)
        if (tv[i] < 0 || tv[i] >= C)
            return rg_op_error(tp, "%s: target %d in row %lld out of range [0, %lld)", fn,
                               (int)tv[i], (long long)i, (long long)C);
    rg_set_out_shape(e->out[0], x->dtype, 0, NULL);
    return 0;
}

#define CE_KERNELS(T, SFX, EXP)                                                          \
    /* Fills ml[2i] = m_i, ml[2i+1] = log s_i. */                                        \
    RG_KERNEL(ce_rows_##SFX, (const T *x, int64_t N, int64_t C, double *ml),             \
              (x, N, C, ml)) {                                                           \
        for (int64_t i = 0; i < N; i++) {                                                \
            const T *xr = x + i * C;                                                     \
            double m = xr[0], s = 0;                                                     \
            for (int64_t c = 1; c < C; c++)                                              \
                if (xr[c] > m) m = xr[c];                                                \
            for (int64_t c = 0; c < C; c++) s += EXP(xr[c] - m);                         \
            ml[2 * i] = m;                                                               \
            ml[2 * i + 1] = log(s);                                                      \
        }                                                                                \
    }                                                                                    \
    static double ce_loss_##SFX(const T *x, const int32_t *t, const T *w, int64_t N,     \
                                int64_t C, const double *ml, bool mean) {                \
        double sum = 0, wsum = 0;                                                        \
        for (int64_t i = 0; i < N; i++) {                                                \
            double li = ml[2 * i + 1] - (x[i * C + t[i]] - ml[2 * i]);                   \
            double wi = w ? (double)w[i] : 1.0;                                          \
            sum += wi * li;                                                              \
            wsum += wi;                                                                  \
        }                                                                                \
        return mean ? sum / wsum : sum;                                                  \
    }                                                                                    \
    RG_KERNEL(ce_bwd_##SFX,                                                              \
              (const T *x, const int32_t *t, const T *w, int64_t N, int64_t C,            \
               const double *ml, double g, double y, bool mean, T *dx, T *dw),            \
              (x, t, w, N, C, ml, g, y, mean, dx, dw)) {                                 \
        double D = 1;                                                                    \
        if (mean) {                                                                      \
            D = 0;                                                                       \
            for (int64_t i = 0; i < N; i++) D += w ? (double)w[i] : 1.0;                 \
        }                                                                                \
        for (int64_t i = 0; i < N; i++) {                                                \
            const T *xr = x + i * C;                                                     \
            double m = ml[2 * i], ls = ml[2 * i + 1];                                    \
            double wi = w ? (double)w[i] : 1.0;                                          \
            if (dx) {                                                                    \
                double sc = g * wi / D;                                                  \
                T *dr = dx + i * C;                                                      \
                for (int64_t c = 0; c < C; c++)                                          \
                    dr[c] += (T)(sc * (EXP((xr[c] - m) - ls) - (c == t[i])));            \
            }                                                                            \
            if (dw) {                                                                    \
                double li = ls - (xr[t[i]] - m);                                         \
                dw[i] += (T)(g * (mean ? li - y : li) / D);                              \
            }                                                                            \
        }                                                                                \
    }
CE_KERNELS(float, f32, EXP_F32)
CE_KERNELS(double, f64, exp)

static void ce_forward(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0];
    const int32_t *t = e->in[1]->data;
    const void *w = e->n_in == 3 ? e->in[2]->data : NULL;
    int64_t N = x->shape[0], C = x->shape[1];
    bool mean = e->attr.i[0] == RG_MEAN;
    double *ml = rg_tape_alloc(tp, (size_t)(2 * N) * sizeof *ml);
    e->saved = ml;
    if (!ml) return; /* the tape holds the error */
    if (x->dtype == RG_F64) {
        ce_rows_f64(x->data, N, C, ml);
        *(double *)e->out[0]->data = ce_loss_f64(x->data, t, w, N, C, ml, mean);
    } else {
        ce_rows_f32(x->data, N, C, ml);
        *(float *)e->out[0]->data = (float)ce_loss_f32(x->data, t, w, N, C, ml, mean);
    }
}

static void ce_backward(rg_tape *tp, rg_entry *e) {
    const void *dy = e->out[0]->grad;
    if (!dy || !e->saved) return;
    const rg_tensor *x = e->in[0];
    const int32_t *t = e->in[1]->data;
    const void *w = e->n_in == 3 ? e->in[2]->data : NULL;
    void *dx = rg_grad(tp, e->in[0]);
    void *dw = e->n_in == 3 ? rg_grad(tp, e->in[2]) : NULL;
    if (!dx && !dw) return;
    int64_t N = x->shape[0], C = x->shape[1];
    bool mean = e->attr.i[0] == RG_MEAN;
    double g = x->dtype == RG_F64 ? *(const double *)dy : *(const float *)dy;
    double y = rg_get(e->out[0], 0);
    if (x->dtype == RG_F64)
        ce_bwd_f64(x->data, t, w, N, C, e->saved, g, y, mean, dx, dw);
    else
        ce_bwd_f32(x->data, t, w, N, C, e->saved, g, y, mean, dx, dw);
}

/* recorded, with P = softmax(x) and Y = the targets' one-hot (a constant):
 *   dx = dy c (P - Y), c_i = w_i / D (1 / D unweighted) as a column;
 *   dw = dy (l - y) / D (weighted mean) or dy l (sum), l_i = -sum_c Y log_softmax(x)
 * with D = sum w a tensor of the graph (it depends on w). */
static int ce_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din) {
    rg_tensor *x = e->in[0], *w = e->n_in == 3 ? e->in[2] : NULL, *dy = dout[0];
    const int32_t *t = e->in[1]->data;
    int64_t N = x->shape[0], C = x->shape[1];
    bool mean = e->attr.i[0] == RG_MEAN;
    rg_tensor *Y = rg_zeros(tp, x->dtype, 2, x->shape);
    if (!Y) return -1;
    for (int64_t i = 0; i < N; i++) rg_set(Y, i * C + t[i], 1.0);
    rg_tensor *lsm = rg_log_softmax(tp, x, 1);
    rg_tensor *D = w && mean ? rg_sum(tp, w) : NULL;
    if (needs_grad(x)) {
        rg_tensor *PmY = rg_sub(tp, rg_exp(tp, lsm), Y), *g;
        if (w) {
            rg_tensor *c = D ? rg_div(tp, w, D) : w;
            g = rg_mul(tp, PmY, rg_reshape(tp, c, RG_DIMS(N, 1)));
            din[0] = rg_mul(tp, g, dy);
        } else {
            din[0] = rg_mul(tp, PmY, rg_mul_scalar(tp, dy, mean ? 1.0 / (double)N : 1.0));
        }
        if (!din[0]) return -1;
    }
    if (needs_grad(w)) {
        rg_tensor *l = rg_neg(tp, rg_sum_axis(tp, rg_mul(tp, Y, lsm), 1, false));
        if (D) l = rg_div(tp, rg_sub(tp, l, e->out[0]), D);
        if (!(din[2] = rg_mul(tp, l, dy))) return -1;
    }
    return 0;
}

static const rg_op op_ce = {"cross_entropy", 2, 1, ce_shape, ce_forward, ce_backward,
                            ce_graph};
static const rg_op op_ce_weighted = {"cross_entropy_weighted", 3, 1, ce_shape, ce_forward,
                                     ce_backward, ce_graph};

rg_tensor *rg_cross_entropy(rg_tape *tp, rg_tensor *logits, rg_tensor *targets,
                            rg_reduction red) {
    if (red == RG_NONE) /* per row, composed in ops/loss.c */
        return rg_loss_ce_none(tp, "rg_cross_entropy", logits, targets, NULL);
    rg_attr at = {0};
    at.i[0] = red;
    rg_tensor *in[2] = {logits, targets};
    return rg_ops_apply(tp, &op_ce, 2, in, &at);
}

rg_tensor *rg_cross_entropy_weighted(rg_tape *tp, rg_tensor *logits, rg_tensor *targets,
                                     rg_tensor *w, rg_reduction red) {
    if (red == RG_NONE) /* per row, composed in ops/loss.c */
        return rg_loss_ce_none(tp, "rg_cross_entropy_weighted", logits, targets, w);
    rg_attr at = {0};
    at.i[0] = red;
    rg_tensor *in[3] = {logits, targets, w};
    return rg_ops_apply(tp, &op_ce_weighted, 3, in, &at);
}

/* ---- mean squared error -----------------------------------------------------
 * a, b same shape: y = sum (a - b)^2 / D, D = numel (mean) or 1 (sum);
 * da += dy * 2 (a - b) / D, db -= the same.  attr: i[0] reduction. */

static int mse_shape(rg_tape *tp, rg_entry *e) {
    rg_tensor *a = e->in[0], *b = e->in[1];
    char sa[64], sb[64];
    if (need_float(tp, "rg_mse", "input a", a)) return -1;
    if (b->dtype != a->dtype || !rg_same_shape(a, b))
        return rg_op_error(tp, "rg_mse: a %s %s and b %s %s differ",
                           rg_shape_str(a, sa, sizeof sa), rg_dtype_name(a->dtype),
                           rg_shape_str(b, sb, sizeof sb), rg_dtype_name(b->dtype));
    if (e->attr.i[0] != RG_MEAN && e->attr.i[0] != RG_SUM)
        return rg_op_error(tp, "rg_mse: unknown reduction %lld", (long long)e->attr.i[0]);
    rg_set_out_shape(e->out[0], a->dtype, 0, NULL);
    return 0;
}

#define MSE_KERNELS(T, SFX)                                                              \
    RG_KERNEL_T(double, mse_fwd_##SFX, (const T *a, const T *b, int64_t n), (a, b, n)) { \
        double s = 0;                                                                    \
        for (int64_t k = 0; k < n; k++) {                                                \
            double d = (double)a[k] - b[k];                                              \
            s += d * d;                                                                  \
        }                                                                                \
        return s;                                                                        \
    }                                                                                    \
    RG_KERNEL(mse_bwd_##SFX, (const T *a, const T *b, int64_t n, double sc, T *da, T *db), \
              (a, b, n, sc, da, db)) {                                                   \
        for (int64_t k = 0; k < n; k++) {                                                \
            T g = (T)(sc * ((double)a[k] - b[k]));                                       \
            if (da) da[k] += g;                                                          \
            if (db) db[k] -= g;                                                          \
        }                                                                                \
    }
MSE_KERNELS(float, f32)
MSE_KERNELS(double, f64)

static void mse_forward(rg_tape *tp, rg_entry *e) {
    const rg_tensor *a = e->in[0], *b = e->in[1];
    double D = e->attr.i[0] == RG_MEAN ? (double)a->numel : 1.0;
    if (a->dtype == RG_F64)
        *(double *)e->out[0]->data = mse_fwd_f64(a->data, b->data, a->numel) / D;
    else
        *(float *)e->out[0]->data = (float)(mse_fwd_f32(a->data, b->data, a->numel) / D);
}

static void mse_backward(rg_tape *tp, rg_entry *e) {
    const void *dy = e->out[0]->grad;
    if (!dy) return;
    const rg_tensor *a = e->in[0], *b = e->in[1];
    void *da = rg_grad(tp, e->in[0]), *db = rg_grad(tp, e->in[1]);
    if (!da && !db) return;
    double D = e->attr.i[0] == RG_MEAN ? (double)a->numel : 1.0;
    if (a->dtype == RG_F64)
        mse_bwd_f64(a->data, b->data, a->numel, 2.0 * *(const double *)dy / D, da, db);
    else
        mse_bwd_f32(a->data, b->data, a->numel, 2.0 * *(const float *)dy / D, da, db);
}

/* recorded: da = (a - b) 2 dy / D, db = -da */
static int mse_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din) {
    const rg_tensor *a = e->in[0];
    double D = e->attr.i[0] == RG_MEAN ? (double)a->numel : 1.0;
    rg_tensor *g = rg_mul(tp, rg_sub(tp, e->in[0], e->in[1]), rg_mul_scalar(tp, dout[0], 2.0 / D));
    din[0] = g;
    din[1] = rg_neg(tp, g);
    return din[0] && din[1] ? 0 : -1;
}

static const rg_op op_mse = {"mse", 2, 1, mse_shape, mse_forward, mse_backward, mse_graph};

rg_tensor *rg_mse(rg_tape *tp, rg_tensor *a, rg_tensor *b, rg_reduction red) {
    if (red == RG_NONE) /* per element, composed in ops/loss.c */
        return rg_loss_mse_none(tp, a, b);
    rg_attr at = {0};
    at.i[0] = red;
    rg_tensor *in[2] = {a, b};
    return rg_ops_apply(tp, &op_mse, 2, in, &at);
}

/* ---- embedding --------------------------------------------------------------
 * W [V,E], ids I32 [...] -> y [..., E], y[k,:] = W[ids[k],:];
 * dW[ids[k],:] += dy[k,:] (repeated ids accumulate). */

static int embedding_shape(rg_tape *tp, rg_entry *e) {
    rg_tensor *W = e->in[0], *ids = e->in[1];
    char sw[64], si[64];
    if (need_float(tp, "rg_embedding", "W", W)) return -1;
    if (W->rank != 2)
        return rg_op_error(tp, "rg_embedding: W must be [V,E], got %s",
                           rg_shape_str(W, sw, sizeof sw));
    if (ids->dtype != RG_I32 || ids->rank >= RG_MAX_RANK)
        return rg_op_error(tp, "rg_embedding: ids must be I32 of rank < %d, got %s %s",
                           RG_MAX_RANK, rg_dtype_name(ids->dtype),
                           rg_shape_str(ids, si, sizeof si));
    const int32_t *iv = ids->data;
    int64_t V = W->shape[0];
    for (int64_t k = 0; k < ids->numel; k++)
        if (iv[k] < 0 || iv[k] >= V)
            return rg_op_error(tp, "rg_embedding: id %d at index %lld out of range for V = %lld",
                               (int)iv[k], (long long)k, (long long)V);
    int64_t shape[RG_MAX_RANK];
    for (int d = 0; d < ids->rank; d++) shape[d] = ids->shape[d];
    shape[ids->rank] = W->shape[1];
    rg_set_out_shape(e->out[0], W->dtype, ids->rank + 1, shape);
    return 0;
}

static void embedding_forward(rg_tape *tp, rg_entry *e) {
    const rg_tensor *W = e->in[0], *ids = e->in[1];
    const int32_t *iv = ids->data;
    int64_t E = W->shape[1];
    size_t row = (size_t)E * rg_dtype_size(W->dtype);
    for (int64_t k = 0; k < ids->numel; k++)
        memcpy((char *)e->out[0]->data + (size_t)k * row,
               (const char *)W->data + (size_t)iv[k] * row, row);
}

RG_KERNEL(embedding_backward, (rg_tape *tp, rg_entry *e), (tp, e)) {
    const void *dy = e->out[0]->grad;
    void *dW = rg_grad(tp, e->in[0]);
    if (!dy || !dW) return;
    const int32_t *iv = e->in[1]->data;
    int64_t E = e->in[0]->shape[1], n = e->in[1]->numel;
    if (e->in[0]->dtype == RG_F64) {
        const double *g = dy;
        double *d = dW;
        for (int64_t k = 0; k < n; k++)
            for (int64_t j = 0; j < E; j++) d[iv[k] * E + j] += g[k * E + j];
    } else {
        const float *g = dy;
        float *d = dW;
        for (int64_t k = 0; k < n; k++)
            for (int64_t j = 0; j < E; j++) d[iv[k] * E + j] += g[k * E + j];
    }
}

/* recorded: dW = index_add(zeros [V,E], 0, ids, dy as [N,E]) */
static int embedding_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                           rg_tensor **din) {
    const rg_tensor *W = e->in[0];
    int64_t N = e->in[1]->numel;
    din[0] = rg_index_add(tp, rg_zeros(tp, W->dtype, 2, W->shape), 0, flat_ids(tp, e->in[1]),
                          rg_reshape(tp, dout[0], RG_DIMS(N, W->shape[1])));
    return din[0] ? 0 : -1;
}

static const rg_op op_embedding = {"embedding", 2, 1, embedding_shape, embedding_forward,
                                   embedding_backward, embedding_graph};

rg_tensor *rg_embedding(rg_tape *tp, rg_tensor *W, rg_tensor *ids) {
    rg_tensor *in[2] = {W, ids};
    return rg_ops_apply(tp, &op_embedding, 2, in, NULL);
}

/* ---- dropout ----------------------------------------------------------------
 * Inverted dropout: keep_k = (u_k >= p) with u_k uniform from an rg_rng seeded
 * by attr i[0]; y = x * keep / (1 - p); dx += dy * keep / (1 - p).  The mask
 * (one byte per element) is kept in e->saved.  attr: f[0] p, i[0] seed. */

static int dropout_shape(rg_tape *tp, rg_entry *e) {
    rg_tensor *a = e->in[0];
    if (need_float(tp, "rg_dropout", "input", a)) return -1;
    double p = e->attr.f[0];
    if (!(p >= 0 && p <= 1)) return rg_op_error(tp, "rg_dropout: p = %g not in [0, 1]", p);
    rg_set_out_shape(e->out[0], a->dtype, a->rank, a->shape);
    return 0;
}

static double dropout_scale(double p) { return p < 1 ? 1.0 / (1.0 - p) : 0.0; }

static void dropout_forward(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0];
    double p = e->attr.f[0], sc = dropout_scale(p);
    uint8_t *keep = rg_tape_alloc(tp, (size_t)x->numel);
    e->saved = keep;
    if (!keep) return; /* the tape holds the error */
    rg_rng r;
    rg_rng_seed(&r, (uint64_t)e->attr.i[0]);
    for (int64_t k = 0; k < x->numel; k++) keep[k] = rg_rng_uniform(&r) >= p;
    if (x->dtype == RG_F64) {
        const double *xv = x->data;
        double *y = e->out[0]->data;
        for (int64_t k = 0; k < x->numel; k++) y[k] = keep[k] ? xv[k] * sc : 0.0;
    } else {
        const float *xv = x->data;
        float *y = e->out[0]->data;
        for (int64_t k = 0; k < x->numel; k++) y[k] = keep[k] ? (float)(xv[k] * sc) : 0.0f;
    }
}

RG_KERNEL(dropout_backward, (rg_tape *tp, rg_entry *e), (tp, e)) {
    const void *dy = e->out[0]->grad;
    void *dx = rg_grad(tp, e->in[0]);
    const uint8_t *keep = e->saved;
    if (!dy || !dx || !keep) return;
    double sc = dropout_scale(e->attr.f[0]);
    int64_t n = e->in[0]->numel;
    if (e->in[0]->dtype == RG_F64) {
        const double *g = dy;
        double *d = dx;
        for (int64_t k = 0; k < n; k++)
            if (keep[k]) d[k] += g[k] * sc;
    } else {
        const float *g = dy;
        float *d = dx;
        for (int64_t k = 0; k < n; k++)
            if (keep[k]) d[k] += (float)(g[k] * sc);
    }
}

/* recorded: dx = dy * (keep / (1 - p)), the mask a constant */
static int dropout_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                         rg_tensor **din) {
    const rg_tensor *x = e->in[0];
    const uint8_t *keep = e->saved;
    if (!keep) return rg_op_error(tp, "rg_autograd: dropout kept no mask");
    double sc = dropout_scale(e->attr.f[0]);
    rg_tensor *m = rg_tensor_new(tp, x->dtype, x->rank, x->shape);
    for (int64_t k = 0; m && k < x->numel; k++) {
        if (x->dtype == RG_F64) ((double *)m->data)[k] = keep[k] ? sc : 0.0;
        else ((float *)m->data)[k] = keep[k] ? (float)sc : 0.0f;
    }
    din[0] = rg_mul(tp, dout[0], m);
    return din[0] ? 0 : -1;
}

static const rg_op op_dropout = {"dropout", 1, 1, dropout_shape, dropout_forward,
                                 dropout_backward, dropout_graph};

rg_tensor *rg_dropout(rg_tape *tp, rg_tensor *a, double p, rg_rng *rng) {
    if (!rg_ops_call_ok(tp, &op_dropout, NULL, 1, &a)) return NULL;
    if (!(p >= 0 && p <= 1)) {
        rg_op_error(tp, "rg_dropout: p = %g not in [0, 1]", p);
        return NULL;
    }
    /* Evaluation mode, or nothing to drop: the input itself, no entry. */
    if (!rg_tape_training(tp) || p == 0) return a;
    if (!rng) {
        rg_op_error(tp, "rg_dropout: rng is NULL in training mode");
        return NULL;
    }
    rg_attr at = {0};
    uint64_t seed = rg_rng_next(rng);
    at.f[0] = p;
    memcpy(&at.i[0], &seed, sizeof seed);
    return rg_ops_apply(tp, &op_dropout, 1, &a, &at);
}

const rg_op *const rg_rows_nn[] = {&op_softmax,       &op_log_softmax, &op_ce,
                                   &op_ce_weighted,   &op_mse,         &op_embedding,
                                   &op_dropout};
const int rg_rows_nn_n = (int)(sizeof rg_rows_nn / sizeof rg_rows_nn[0]);
