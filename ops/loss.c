/* Loss rows of the op table: binary cross-entropy with logits (optional
 * per-element weights), nll from log-probabilities, huber, smooth L1 and L1,
 * each with the reductions mean, sum and none (per element), F32 and F64
 * (accumulated in double).  Also the per-element forms of ops/nn.c's
 * cross-entropy and mse, composed from public ops. */
#include <math.h>
#include <string.h>

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

static bool is_float(rg_dtype dt) { return dt == RG_F32 || dt == RG_F64; }

static int check_reduction(rg_tape *tp, const char *fn, int64_t red) {
    if (red == RG_MEAN || red == RG_SUM || red == RG_NONE) return 0;
    return rg_op_error(tp, "%s: unknown reduction %lld (RG_MEAN, RG_SUM or RG_NONE)", fn,
                       (long long)red);
}

/* y: a scalar [] for mean and sum, shape (rank, shape) for none. */
static void set_loss_out(rg_entry *e, rg_dtype dt, int rank, const int64_t *shape) {
    if (e->attr.i[0] == RG_NONE) rg_set_out_shape(e->out[0], dt, rank, shape);
    else rg_set_out_shape(e->out[0], dt, 0, NULL);
}

/* ---- pointwise losses ------------------------------------------------------------------
 * a, b (and an optional weight w) of one float dtype and one shape; with the
 * per-element loss l_i = w_i L(a_i, b_i) (w_i = 1 without weights):
 *   y = sum_i l_i / D (D = numel for mean, 1 for sum), or y_i = l_i (none);
 *   da_i += g_i w_i dL/da,  db_i += g_i w_i dL/db,  dw_i += g_i L,
 *   g_i = dy / D (mean, sum) or dy_i (none).
 * attr: i[0] reduction, f[0] the op's parameter (huber's delta, smooth L1's beta). */

static int pointwise_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *a = e->in[0];
    char fn[32], sa[64], sb[64];
    snprintf(fn, sizeof fn, "rg_%s", e->op->name);
    const char *names[3] = {"a", "b", "weight"};
    if (strcmp(e->op->name, "bce_with_logits") == 0) {
        names[0] = "logits";
        names[1] = "targets";
    }
    if (e->n_in != 2 && !(e->n_in == 3 && strcmp(e->op->name, "bce_with_logits") == 0))
        return rg_op_error(tp, "%s: expected 2 inputs, got %d", fn, e->n_in);
    if (!is_float(a->dtype))
        return rg_op_error(tp, "%s: %s %s must be F32 or F64, got %s", fn, names[0],
                           rg_shape_str(a, sa, sizeof sa), rg_dtype_name(a->dtype));
    for (int k = 1; k < e->n_in; k++) {
        const rg_tensor *b = e->in[k];
        if (b->dtype != a->dtype || !rg_same_shape(a, b))
            return rg_op_error(tp, "%s: %s %s %s and %s %s %s differ", fn, names[0],
                               rg_shape_str(a, sa, sizeof sa), rg_dtype_name(a->dtype),
                               names[k], rg_shape_str(b, sb, sizeof sb),
                               rg_dtype_name(b->dtype));
    }
    if (check_reduction(tp, fn, e->attr.i[0])) return -1;
    double s = e->attr.f[0];
    if (strcmp(e->op->name, "huber") == 0 && !(s > 0))
        return rg_op_error(tp, "rg_huber: delta = %g must be > 0", s);
    if (strcmp(e->op->name, "smooth_l1") == 0 && !(s >= 0))
        return rg_op_error(tp, "rg_smooth_l1: beta = %g must be >= 0", s);
    set_loss_out(e, a->dtype, a->rank, a->shape);
    return 0;
}

/* The forward and backward of a pointwise loss; LOSS, DA and DB read x (a's
 * value), t (b's value) and s (the op's parameter), all double. */
#define POINTWISE_LOSS(NAME, LOSS, DA, DB)                                             \
    OP_KERNEL(NAME##_forward) {                                                        \
        const bool none = e->attr.i[0] == RG_NONE;                                     \
        const double s = e->attr.f[0];                                                 \
        const int64_t n = e->in[0]->numel;                                             \
        (void)s;                                                                       \
        WITH_FLOAT_T(e->in[0]->dtype, {                                                \
            const T *A = e->in[0]->data, *B = e->in[1]->data;                          \
            const T *W = e->n_in == 3 ? e->in[2]->data : NULL;                         \
            T *y = e->out[0]->data;                                                    \
            double sum = 0;                                                            \
            for (int64_t i = 0; i < n; i++) {                                          \
                const double x = A[i], t = B[i];                                       \
                double l = (LOSS);                                                     \
                if (W) l *= W[i];                                                      \
                if (none) y[i] = (T)l;                                                 \
                else sum += l;                                                         \
            }                                                                          \
            if (!none) y[0] = (T)(e->attr.i[0] == RG_MEAN ? sum / (double)n : sum);    \
        });                                                                            \
    }                                                                                  \
    OP_KERNEL(NAME##_backward) {                                                       \
        const void *dy = e->out[0]->grad;                                              \
        if (!dy) return;                                                               \
        void *da = rg_grad(tp, e->in[0]), *db = rg_grad(tp, e->in[1]);                 \
        void *dw = e->n_in == 3 ? rg_grad(tp, e->in[2]) : NULL;                        \
        if (!da && !db && !dw) return;                                                 \
        const bool none = e->attr.i[0] == RG_NONE;                                     \
        const double s = e->attr.f[0];                                                 \
        const int64_t n = e->in[0]->numel;                                             \
        const double D = e->attr.i[0] == RG_MEAN ? (double)n : 1.0;                    \
        (void)s;                                                                       \
        WITH_FLOAT_T(e->in[0]->dtype, {                                                \
            const T *A = e->in[0]->data, *B = e->in[1]->data, *G = dy;                 \
            const T *W = e->n_in == 3 ? e->in[2]->data : NULL;                         \
            T *dA = da, *dB = db, *dW = dw; /* a and b may be one tensor */            \
            for (int64_t i = 0; i < n; i++) {                                          \
                const double x = A[i], t = B[i];                                       \
                const double gi = none ? (double)G[i] : G[0] / D;                      \
                const double gw = W ? gi * W[i] : gi;                                  \
                if (dA) dA[i] += (T)(gw * (DA));                                       \
                if (dB) dB[i] += (T)(gw * (DB));                                       \
                if (dW) dW[i] += (T)(gi * (LOSS));                                     \
            }                                                                          \
        });                                                                            \
    }

/* sign(v): -1, 0 or 1 (0 at 0, PyTorch's subgradient of |v|). */
#define SIGN(v) (double)(((v) > 0) - ((v) < 0))

/* ---- recorded backward rules (rg_autograd, gradients of gradients) -----------------
 * The kernels' derivatives with differentiable public ops; which branch of a
 * piecewise loss an element is on, and the sign of a difference, are
 * constants (their derivative is zero wherever it exists). */

static bool needs_grad(const rg_tensor *t) { return t && (t->flags & RG_REQUIRES_GRAD); }

/* g = dy / D for mean (D = n), dy for sum and none (where dy has the losses' shape) */
static rg_tensor *loss_scale(rg_tape *tp, const rg_entry *e, rg_tensor *dy, int64_t n) {
    return e->attr.i[0] == RG_MEAN ? rg_mul_scalar(tp, dy, 1.0 / (double)n) : dy;
}

/* A constant like a with f(a_i - b_i, s) in each element (s = attr.f[0]). */
static rg_tensor *const_of_diff(rg_tape *tp, const rg_entry *e, double (*f)(double, double)) {
    const rg_tensor *a = e->in[0], *b = e->in[1];
    rg_tensor *c = rg_tensor_new(tp, a->dtype, a->rank, a->shape);
    for (int64_t i = 0; c && i < a->numel; i++)
        rg_set(c, i, f(rg_get(a, i) - rg_get(b, i), e->attr.f[0]));
    return c;
}
static double inside(double d, double s) { return fabs(d) < s; }
static double sign_of(double d, double s) { (void)s; return SIGN(d); }
static double scaled_sign(double d, double s) { return s * SIGN(d); }

/* da = g dLda, db = -da for a loss of d = a - b, from dL/da as a tensor */
static int diff_loss_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                           rg_tensor **din, rg_tensor *dLda) {
    rg_tensor *g = rg_mul(tp, loss_scale(tp, e, dout[0], e->in[0]->numel), dLda);
    din[0] = g;
    din[1] = needs_grad(e->in[1]) ? rg_neg(tp, g) : NULL;
    return g && (din[1] || !needs_grad(e->in[1])) ? 0 : -1;
}

/* bce_with_logits: x logits, t targets (usually in [0, 1]):
 *   L = -(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))) = max(x, 0) - x t + log1p(e^-|x|)
 *   dL/dx = sigmoid(x) - t,  dL/dt = -x.  Never overflows. */
POINTWISE_LOSS(bce, (x > 0 ? x : 0) - x * t + log1p(exp(-fabs(x))),
               (x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))) - t, -x)
/* recorded: dx = gw (sigmoid(x) - t), dt = -gw x, dw = g L with
 * L = relu(x) - x t + log1p(e^-|x|) recomputed (gw = g w, or g) */
static int bce_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din) {
    rg_tensor *x = e->in[0], *t = e->in[1], *w = e->n_in == 3 ? e->in[2] : NULL;
    rg_tensor *g = loss_scale(tp, e, dout[0], x->numel), *gw = w ? rg_mul(tp, g, w) : g;
    if (needs_grad(x) && !(din[0] = rg_mul(tp, gw, rg_sub(tp, rg_sigmoid(tp, x), t)))) return -1;
    if (needs_grad(t) && !(din[1] = rg_neg(tp, rg_mul(tp, gw, x)))) return -1;
    if (needs_grad(w)) {
        rg_tensor *soft = rg_log1p(tp, rg_exp(tp, rg_neg(tp, rg_abs(tp, x))));
        rg_tensor *L = rg_add(tp, rg_sub(tp, rg_relu(tp, x), rg_mul(tp, x, t)), soft);
        if (!(din[2] = rg_mul(tp, g, L))) return -1;
    }
    return 0;
}

static const rg_op bce_row = {.name = "bce_with_logits", .n_in = -1, .n_out = 1,
                              .shape = pointwise_shape, .forward = bce_forward,
                              .backward = bce_backward, .backward_graph = bce_graph};

/* huber (delta = s > 0), d = a - b:
 *   L = d^2 / 2 where |d| < delta, else delta (|d| - delta / 2)
 *   dL/da = d where |d| < delta, else delta sign(d);  dL/db = -dL/da */
POINTWISE_LOSS(huber, fabs(x - t) < s ? (x - t) * (x - t) / 2 : s * (fabs(x - t) - s / 2),
               fabs(x - t) < s ? x - t : s * SIGN(x - t),
               fabs(x - t) < s ? t - x : -s * SIGN(x - t))
/* recorded: dL/da = where(|d| < delta, d, delta sign(d)) */
static int huber_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din) {
    rg_tensor *d = rg_sub(tp, e->in[0], e->in[1]);
    rg_tensor *out = const_of_diff(tp, e, scaled_sign);
    rg_tensor *dL = rg_where(tp, const_of_diff(tp, e, inside), d, out);
    return diff_loss_graph(tp, e, dout, din, dL);
}

static const rg_op huber_row = {.name = "huber", .n_in = 2, .n_out = 1, .shape = pointwise_shape,
                                .forward = huber_forward, .backward = huber_backward,
                                .backward_graph = huber_graph};

/* smooth_l1 (beta = s >= 0; beta 0 is L1), d = a - b:
 *   L = d^2 / (2 beta) where |d| < beta, else |d| - beta / 2
 *   dL/da = d / beta where |d| < beta, else sign(d);  dL/db = -dL/da */
POINTWISE_LOSS(smooth_l1, fabs(x - t) < s ? (x - t) * (x - t) / (2 * s) : fabs(x - t) - s / 2,
               fabs(x - t) < s ? (x - t) / s : SIGN(x - t),
               fabs(x - t) < s ? (t - x) / s : -SIGN(x - t))
/* recorded: dL/da = where(|d| < beta, d / beta, sign(d)); sign(d) alone for beta 0
 * (d / 0 is never taken there, and its derivative would be NaN) */
static int smooth_l1_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                           rg_tensor **din) {
    double beta = e->attr.f[0];
    rg_tensor *sg = const_of_diff(tp, e, sign_of), *dL = sg;
    if (beta > 0) {
        rg_tensor *d = rg_sub(tp, e->in[0], e->in[1]);
        dL = rg_where(tp, const_of_diff(tp, e, inside), rg_mul_scalar(tp, d, 1.0 / beta), sg);
    }
    return diff_loss_graph(tp, e, dout, din, dL);
}

static const rg_op smooth_l1_row = {.name = "smooth_l1", .n_in = 2, .n_out = 1,
                                    .shape = pointwise_shape, .forward = smooth_l1_forward,
                                    .backward = smooth_l1_backward,
                                    .backward_graph = smooth_l1_graph};

/* l1, d = a - b:  L = |d|;  dL/da = sign(d) (0 at 0), dL/db = -sign(d) */
POINTWISE_LOSS(l1, fabs(x - t), SIGN(x - t), -SIGN(x - t))
/* recorded: dL/da = sign(d), a constant */
static int l1_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din) {
    return diff_loss_graph(tp, e, dout, din, const_of_diff(tp, e, sign_of));
}

static const rg_op l1_row = {.name = "l1", .n_in = 2, .n_out = 1, .shape = pointwise_shape,
                             .forward = l1_forward, .backward = l1_backward,
                             .backward_graph = l1_graph};

/* ---- nll -------------------------------------------------------------------------------
 * logp [N,C] (log-probabilities), targets I32 [N] in [0,C):
 *   l_i = -logp[i, t_i];  y = sum_i l_i / D (D = N for mean, 1 for sum) or y_i = l_i;
 *   dlogp[i, t_i] -= g_i.  attr: i[0] reduction. */

static int nll_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0], *t = e->in[1];
    char sx[64], st[64];
    if (!is_float(x->dtype) || x->rank != 2)
        return rg_op_error(tp, "rg_nll: logp must be F32 or F64 [N,C], got %s %s",
                           rg_dtype_name(x->dtype), rg_shape_str(x, sx, sizeof sx));
    if (t->dtype != RG_I32 || t->rank != 1 || t->shape[0] != x->shape[0])
        return rg_op_error(tp, "rg_nll: targets must be I32 [%lld] for logp %s, got %s %s",
                           (long long)x->shape[0], rg_shape_str(x, sx, sizeof sx),
                           rg_dtype_name(t->dtype), rg_shape_str(t, st, sizeof st));
    if (check_reduction(tp, "rg_nll", e->attr.i[0])) return -1;
    const int32_t *tv = t->data;
    int64_t C = x->shape[1];
    for (int64_t i = 0; i < t->numel; i++)
        if (tv[i] < 0 || tv[i] >= C)
            return rg_op_error(tp, "rg_nll: target %d in row %lld out of range [0, %lld)",
                               (int)tv[i], (long long)i, (long long)C);
    set_loss_out(e, x->dtype, 1, x->shape);
    return 0;
}

OP_KERNEL(nll_forward) {
    const rg_tensor *x = e->in[0];
    const int32_t *t = e->in[1]->data;
    int64_t N = x->shape[0], C = x->shape[1];
    bool none = e->attr.i[0] == RG_NONE;
    WITH_FLOAT_T(x->dtype, {
        const T *xv = x->data;
        T *y = e->out[0]->data;
        double sum = 0;
        for (int64_t i = 0; i < N; i++) {
            if (none) y[i] = -xv[i * C + t[i]];
            else sum -= xv[i * C + t[i]];
        }
        if (!none) y[0] = (T)(e->attr.i[0] == RG_MEAN ? sum / (double)N : sum);
    });
}

OP_KERNEL(nll_backward) {
    const void *dy = e->out[0]->grad;
    void *dx = rg_grad(tp, e->in[0]);
    if (!dy || !dx) return;
    const int32_t *t = e->in[1]->data;
    int64_t N = e->in[0]->shape[0], C = e->in[0]->shape[1];
    bool none = e->attr.i[0] == RG_NONE;
    double D = e->attr.i[0] == RG_MEAN ? (double)N : 1.0;
    WITH_FLOAT_T(e->in[0]->dtype, {
        const T *g = dy;
        T *d = dx;
        for (int64_t i = 0; i < N; i++) d[i * C + t[i]] -= none ? g[i] : (T)(g[0] / D);
    });
}

/* recorded: dlogp = -Y g, Y the targets' one-hot (a constant), g = dy as a
 * column [N,1] (none) or the scalar dy / D */
static int nll_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din) {
    const rg_tensor *x = e->in[0];
    const int32_t *t = e->in[1]->data;
    int64_t N = x->shape[0], C = x->shape[1];
    rg_tensor *Y = rg_zeros(tp, x->dtype, 2, x->shape);
    for (int64_t i = 0; Y && i < N; i++) rg_set(Y, i * C + t[i], 1.0);
    rg_tensor *g = e->attr.i[0] == RG_NONE ? rg_reshape(tp, dout[0], RG_DIMS(N, 1))
                                           : loss_scale(tp, e, dout[0], N);
    din[0] = rg_neg(tp, rg_mul(tp, Y, g));
    return din[0] ? 0 : -1;
}

static const rg_op nll_row = {.name = "nll", .n_in = 2, .n_out = 1, .shape = nll_shape,
                              .forward = nll_forward, .backward = nll_backward,
                              .backward_graph = nll_graph};

/* ---- the per-element forms of ops/nn.c's cross-entropy and mse ---------------------------
 * rg_cross_entropy(_weighted) and rg_mse with RG_NONE come here: checked with
 * the caller's name first, then composed from public rows:
 *   cross-entropy  l_i = w_i nll(log_softmax(x), t)_i  [N]
 *   mse            l = (a - b)^2                       (a's shape) */

rg_tensor *rg_loss_ce_none(rg_tape *tp, const char *fn, rg_tensor *logits, rg_tensor *targets,
                           rg_tensor *w) {
    rg_tensor *in[3] = {logits, targets, w};
    if (!rg_ops_call_ok(tp, &nll_row, fn, w ? 3 : 2, in)) return NULL;
    char sx[64], st[64], sw[64];
    if (!is_float(logits->dtype) || logits->rank != 2) {
        rg_op_error(tp, "%s: logits must be F32 or F64 [N,C], got %s %s", fn,
                    rg_dtype_name(logits->dtype), rg_shape_str(logits, sx, sizeof sx));
        return NULL;
    }
    int64_t N = logits->shape[0], C = logits->shape[1];
    if (targets->dtype != RG_I32 || targets->rank != 1 || targets->shape[0] != N) {
        rg_op_error(tp, "%s: targets must be I32 [%lld] for logits %s, got %s %s", fn,
                    (long long)N, rg_shape_str(logits, sx, sizeof sx),
                    rg_dtype_name(targets->dtype), rg_shape_str(targets, st, sizeof st));
        return NULL;
    }
    const int32_t *tv = targets->data;
    for (int64_t i = 0; i < N; i++)
        if (tv[i] < 0 || tv[i] >= C) {
            rg_op_error(tp, "%s: target %d in row %lld out of range [0, %lld)", fn, (int)tv[i],
                        (long long)i, (long long)C);
            return NULL;
        }
    if (w && (w->dtype != logits->dtype || w->rank != 1 || w->shape[0] != N)) {
        rg_op_error(tp, "%s: weights must be %s [%lld] for logits %s, got %s %s", fn,
                    rg_dtype_name(logits->dtype), (long long)N,
                    rg_shape_str(logits, sx, sizeof sx), rg_dtype_name(w->dtype),
                    rg_shape_str(w, sw, sizeof sw));
        return NULL;
    }
    rg_tensor *l = rg_nll(tp, rg_log_softmax(tp, logits, -1), targets, RG_NONE);
    return w ? rg_mul(tp, l, w) : l;
}

rg_tensor *rg_loss_mse_none(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    rg_tensor *in[2] = {a, b};
    if (!rg_ops_call_ok(tp, &l1_row, "rg_mse", 2, in)) return NULL;
    char sa[64], sb[64];
    if (!is_float(a->dtype)) {
        rg_op_error(tp, "rg_mse: input a %s must be F32 or F64, got %s",
                    rg_shape_str(a, sa, sizeof sa), rg_dtype_name(a->dtype));
        return NULL;
    }
    if (b->dtype != a->dtype || !rg_same_shape(a, b)) {
        rg_op_error(tp, "rg_mse: a %s %s and b %s %s differ", rg_shape_str(a, sa, sizeof sa),
                    rg_dtype_name(a->dtype), rg_shape_str(b, sb, sizeof sb),
                    rg_dtype_name(b->dtype));
        return NULL;
    }
    rg_tensor *d = rg_sub(tp, a, b);
    return rg_mul(tp, d, d);
}

/* ---- the rows and the public functions ----------------------------------------------------- */

const rg_op *const rg_rows_loss[] = {&bce_row, &huber_row, &smooth_l1_row, &l1_row, &nll_row};
const int rg_rows_loss_n = (int)(sizeof rg_rows_loss / sizeof rg_rows_loss[0]);

static rg_tensor *apply_loss(rg_tape *tp, const rg_op *op, rg_tensor *a, rg_tensor *b,
                             rg_reduction red, double s) {
    rg_attr at = {.f = {s}, .i = {red}};
    return rg_ops_apply(tp, op, 2, (rg_tensor *[]){a, b}, &at);
}

rg_tensor *rg_bce_with_logits(rg_tape *tp, rg_tensor *logits, rg_tensor *targets,
                              rg_tensor *weight, rg_reduction red) {
    if (!weight) return apply_loss(tp, &bce_row, logits, targets, red, 0);
    rg_attr at = {.i = {red}};
    return rg_ops_apply(tp, &bce_row, 3, (rg_tensor *[]){logits, targets, weight}, &at);
}
rg_tensor *rg_huber(rg_tape *tp, rg_tensor *a, rg_tensor *b, double delta, rg_reduction red) {
    return apply_loss(tp, &huber_row, a, b, red, delta);
}
rg_tensor *rg_smooth_l1(rg_tape *tp, rg_tensor *a, rg_tensor *b, double beta,
                        rg_reduction red) {
    return apply_loss(tp, &smooth_l1_row, a, b, red, beta);
}
rg_tensor *rg_l1(rg_tape *tp, rg_tensor *a, rg_tensor *b, rg_reduction red) {
    return apply_loss(tp, &l1_row, a, b, red, 0);
}
rg_tensor *rg_nll(rg_tape *tp, rg_tensor *logp, rg_tensor *targets, rg_reduction red) {
    return apply_loss(tp, &nll_row, logp, targets, red, 0);
}
