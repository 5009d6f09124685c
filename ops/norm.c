/* Normalisation rows of the op table: layer_norm and rms_norm over the last
 * axis, each one fused row (statistics, scale and shift in one pass, one
 * backward) with an optional per-feature weight (and bias for layer_norm).
 * F32 and F64; statistics in double, kept per row for backward. */
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

enum { HAS_WEIGHT = 1, HAS_BIAS = 2 };

/* x [..., H] float, then the optional w [H] and b [H] of x's dtype, as
 * attr.i[0] says (HAS_WEIGHT, HAS_BIAS); eps = attr.f[0] >= 0.  y is like x. */
static int norm_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0];
    char fn[32], sx[64], sp[64];
    snprintf(fn, sizeof fn, "rg_%s", e->op->name);
    int64_t flags = e->attr.i[0];
    int want = 1 + (flags & HAS_WEIGHT ? 1 : 0) + (flags & HAS_BIAS ? 1 : 0);
    if ((flags & HAS_BIAS) && strcmp(e->op->name, "rms_norm") == 0)
        return rg_op_error(tp, "%s: takes no bias", fn);
    if (e->n_in != want)
        return rg_op_error(tp, "%s: expected %d input(s) (x%s%s), got %d", fn, want,
                           flags & HAS_WEIGHT ? ", weight" : "", flags & HAS_BIAS ? ", bias" : "",
                           e->n_in);
    if (x->dtype != RG_F32 && x->dtype != RG_F64)
        return rg_op_error(tp, "%s: x %s must be F32 or F64, got %s", fn,
                           rg_shape_str(x, sx, sizeof sx), rg_dtype_name(x->dtype));
    if (x->rank < 1)
        return rg_op_error(tp, "%s: x %s has no last axis to normalise", fn,
                           rg_shape_str(x, sx, sizeof sx));
    double eps = e->attr.f[0];
    if (!(eps >= 0 && isfinite(eps)))
        return rg_op_error(tp, "%s: eps = %g must be finite and >= 0", fn, eps);
    int64_t H = x->shape[x->rank - 1];
    for (int k = 1; k < e->n_in; k++) {
        const rg_tensor *p = e->in[k];
        const char *what = k == 1 && (flags & HAS_WEIGHT) ? "weight" : "bias";
        if (p->dtype != x->dtype || p->rank != 1 || p->shape[0] != H)
            return rg_op_error(tp, "%s: %s must be %s [%lld] for x %s, got %s %s", fn, what,
                               rg_dtype_name(x->dtype), (long long)H,
                               rg_shape_str(x, sx, sizeof sx), rg_dtype_name(p->dtype),
                               rg_shape_str(p, sp, sizeof sp));
    }
    rg_set_out_shape(e->out[0], x->dtype, x->rank, x->shape);
    return 0;
}

/* The weight and bias inputs of e, NULL when absent. */
static rg_tensor *weight_of(const rg_entry *e) {
    return e->attr.i[0] & HAS_WEIGHT ? e->in[1] : NULL;
}
static rg_tensor *bias_of(const rg_entry *e) {
    return e->attr.i[0] & HAS_BIAS ? e->in[e->n_in - 1] : NULL;
}

/* ---- recorded backward rules (rg_autograd, gradients of gradients) -----------------
 * The statistics are recomputed from x with public ops (mean_axis, pow_scalar),
 * so a second differentiation sees how they depend on x; then the kernels'
 * formulas below, with w's and b's gradients summed over the rows (rg_sum_to). */

static bool needs_grad(const rg_tensor *t) { return t && (t->flags & RG_REQUIRES_GRAD); }

/* gw = dy w (dy without a weight) */
static rg_tensor *times_weight(rg_tape *tp, rg_tensor *dy, rg_tensor *w) {
    return w ? rg_mul(tp, dy, w) : dy;
}

/* The row means of t [..., H], kept as [..., 1]. */
static rg_tensor *row_mean(rg_tape *tp, rg_tensor *t) { return rg_mean_axis(tp, t, -1, true); }

/* ---- layer_norm ----------------------------------------------------------------------
 * Per row r of x [R,H]: mu = mean x, var = mean (x - mu)^2 (biased), rstd =
 * 1 / sqrt(var + eps), xhat = (x - mu) rstd, y = xhat w + b (w = 1, b = 0 when
 * absent).  With gw = dy w:
 *   dx = rstd (gw - mean(gw) - xhat mean(gw xhat)),  dw += sum_r dy xhat,  db += sum_r dy.
 * saved: (mu, rstd) per row, double. */

/* sum of v[0..n-1] in 8 running sums, then in order: the same in every kernel
 * variant, and vectorisable */
#define SUM8(T, n, EXPR, out)                                                          \
    do {                                                                               \
        double s8_[8] = {0}, s_ = 0;                                                   \
        int64_t h = 0;                                                                 \
        for (; h + 8 <= (n); h += 8)                                                   \
            for (int l_ = 0; l_ < 8; l_++) {                                           \
                const int64_t k = h + l_;                                              \
                s8_[l_] += (EXPR);                                                     \
            }                                                                          \
        for (int l_ = 0; l_ < 8; l_++) s_ += s8_[l_];                                  \
        for (; h < (n); h++) {                                                         \
            const int64_t k = h;                                                       \
            s_ += (EXPR);                                                              \
        }                                                                              \
        (out) = s_;                                                                    \
    } while (0)

OP_KERNEL(layer_norm_forward) {
    const rg_tensor *x = e->in[0], *w = weight_of(e), *bb = bias_of(e);
    int64_t H = x->shape[x->rank - 1], R = H ? x->numel / H : 0;
    double *st = rg_tape_alloc(tp, (size_t)(2 * R + 1) * sizeof *st);
    if (!st) return;
    e->saved = st;
    double eps = e->attr.f[0];
    WITH_FLOAT_T(x->dtype, {
        const T *xv = x->data, *wv = w ? w->data : NULL, *bv = bb ? bb->data : NULL;
        T *y = e->out[0]->data;
        for (int64_t r = 0; r < R; r++) {
            const T *restrict xr = xv + r * H;
            T *restrict yr = y + r * H;
            double mu, var;
            SUM8(T, H, (double)xr[k], mu);
            mu /= (double)H;
            SUM8(T, H, ((double)xr[k] - mu) * ((double)xr[k] - mu), var);
            double rstd = 1 / sqrt(var / (double)H + eps);
            st[2 * r] = mu;
            st[2 * r + 1] = rstd;
            if (wv && bv)
                for (int64_t h = 0; h < H; h++)
                    yr[h] = (T)(((double)xr[h] - mu) * rstd * (double)wv[h] + (double)bv[h]);
            else if (wv)
                for (int64_t h = 0; h < H; h++)
                    yr[h] = (T)(((double)xr[h] - mu) * rstd * (double)wv[h]);
            else if (bv)
                for (int64_t h = 0; h < H; h++)
                    yr[h] = (T)(((double)xr[h] - mu) * rstd + (double)bv[h]);
            else
                for (int64_t h = 0; h < H; h++) yr[h] = (T)(((double)xr[h] - mu) * rstd);
        }
    });
}

/* in layer_norm_backward's row loop: gw = dy w and xhat of element k */
#define LN_GW(k) (wv ? (double)gr[k] * (double)wv[k] : (double)gr[k])
#define LN_XHAT(k) (((double)xr[k] - mu) * rstd)

OP_KERNEL(layer_norm_backward) {
    const void *dy = e->out[0]->grad;
    const double *st = e->saved;
    if (!dy || !st) return;
    rg_tensor *x = e->in[0], *w = weight_of(e), *bb = bias_of(e);
    bool fresh;
    void *dx = rg_grad_fresh(tp, x, &fresh), *dw = w ? rg_grad(tp, w) : NULL;
    void *db = bb ? rg_grad(tp, bb) : NULL;
    if (!dx && !dw && !db) return;
    int64_t H = x->shape[x->rank - 1], R = H ? x->numel / H : 0;
    WITH_FLOAT_T(x->dtype, {
        const T *xv = x->data, *wv = w ? w->data : NULL, *g = dy;
        T *dX = dx, *dW = dw, *dB = db;
        for (int64_t r = 0; r < R; r++) {
            const T *restrict xr = xv + r * H, *restrict gr = g + r * H;
            double mu = st[2 * r], rstd = st[2 * r + 1], m1, m2;
            if (dW)
                for (int64_t h = 0; h < H; h++) dW[h] += (T)((double)gr[h] * LN_XHAT(h));
            if (dB)
                for (int64_t h = 0; h < H; h++) dB[h] += gr[h];
            if (!dX) continue;
            SUM8(T, H, LN_GW(k), m1);
            SUM8(T, H, LN_GW(k) * LN_XHAT(k), m2);
            m1 /= (double)H;
            m2 /= (double)H;
            T *restrict dXr = dX + r * H;
            if (fresh)
                for (int64_t h = 0; h < H; h++)
                    dXr[h] = (T)(rstd * (LN_GW(h) - m1 - LN_XHAT(h) * m2));
            else
                for (int64_t h = 0; h < H; h++)
                    dXr[h] += (T)(rstd * (LN_GW(h) - m1 - LN_XHAT(h) * m2));
        }
    });
}

/* recorded: xc = x - mean x, rstd = (mean xc^2 + eps)^(-1/2), xhat = xc rstd;
 *   dx = rstd (gw - mean gw - xhat mean(gw xhat)), dw = sum_r dy xhat, db = sum_r dy */
static int layer_norm_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                            rg_tensor **din) {
    rg_tensor *x = e->in[0], *w = weight_of(e), *b = bias_of(e), *dy = dout[0];
    rg_tensor *xc = rg_sub(tp, x, row_mean(tp, x));
    rg_tensor *rstd = rg_pow_scalar(tp, rg_add_scalar(tp, row_mean(tp, rg_mul(tp, xc, xc)),
                                                      e->attr.f[0]), -0.5);
    rg_tensor *xhat = rg_mul(tp, xc, rstd), *gw = times_weight(tp, dy, w);
    if (needs_grad(x)) {
        rg_tensor *m2 = row_mean(tp, rg_mul(tp, gw, xhat));
        rg_tensor *in = rg_sub(tp, rg_sub(tp, gw, row_mean(tp, gw)), rg_mul(tp, xhat, m2));
        if (!(din[0] = rg_mul(tp, rstd, in))) return -1;
    }
    if (needs_grad(w) && !(din[1] = rg_sum_to(tp, rg_mul(tp, dy, xhat), w))) return -1;
    if (needs_grad(b) && !(din[e->n_in - 1] = rg_sum_to(tp, dy, b))) return -1;
    return 0;
}

static const rg_op layer_norm_row = {.name = "layer_norm", .n_in = -1, .n_out = 1,
                                     .shape = norm_shape, .forward = layer_norm_forward,
                                     .backward = layer_norm_backward,
                                     .backward_graph = layer_norm_graph};

/* ---- rms_norm --------------------------------------------------------------------------
 * Per row: rstd = 1 / sqrt(mean x^2 + eps), xhat = x rstd, y = xhat w (w = 1 when
 * absent).  With gw = dy w:
 *   dx = rstd (gw - xhat mean(gw xhat)),  dw += sum_r dy xhat.
 * saved: rstd per row, double. */

OP_KERNEL(rms_norm_forward) {
    const rg_tensor *x = e->in[0], *w = weight_of(e);
    int64_t H = x->shape[x->rank - 1], R = H ? x->numel / H : 0;
    double *st = rg_tape_alloc(tp, (size_t)(R + 1) * sizeof *st);
    if (!st) return;
    e->saved = st;
    double eps = e->attr.f[0];
    WITH_FLOAT_T(x->dtype, {
        const T *xv = x->data, *wv = w ? w->data : NULL;
        T *y = e->out[0]->data;
        for (int64_t r = 0; r < R; r++) {
            const T *xr = xv + r * H;
            double ms = 0;
            for (int64_t h = 0; h < H; h++) ms += (double)xr[h] * xr[h];
            double rstd = 1 / sqrt(ms / (double)H + eps);
            st[r] = rstd;
            for (int64_t h = 0; h < H; h++)
                y[r * H + h] = (T)(wv ? xr[h] * rstd * wv[h] : xr[h] * rstd);
        }
    });
}

OP_KERNEL(rms_norm_backward) {
    const void *dy = e->out[0]->grad;
    const double *st = e->saved;
    if (!dy || !st) return;
    rg_tensor *x = e->in[0], *w = weight_of(e);
    void *dx = rg_grad(tp, x), *dw = w ? rg_grad(tp, w) : NULL;
    if (!dx && !dw) return;
    int64_t H = x->shape[x->rank - 1], R = H ? x->numel / H : 0;
    WITH_FLOAT_T(x->dtype, {
        const T *xv = x->data, *wv = w ? w->data : NULL, *g = dy;
        T *dX = dx, *dW = dw;
        for (int64_t r = 0; r < R; r++) {
            const T *xr = xv + r * H, *gr = g + r * H;
            double rstd = st[r], m2 = 0;
            for (int64_t h = 0; h < H; h++) {
                double xhat = xr[h] * rstd, gw = wv ? gr[h] * (double)wv[h] : gr[h];
                m2 += gw * xhat;
                if (dW) dW[h] += (T)(gr[h] * xhat);
            }
            m2 /= (double)H;
            if (dX)
                for (int64_t h = 0; h < H; h++) {
                    double xhat = xr[h] * rstd, gw = wv ? gr[h] * (double)wv[h] : gr[h];
                    dX[r * H + h] += (T)(rstd * (gw - xhat * m2));
                }
        }
    });
}

/* recorded: rstd = (mean x^2 + eps)^(-1/2), xhat = x rstd;
 *   dx = rstd (gw - xhat mean(gw xhat)), dw = sum_r dy xhat */
static int rms_norm_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                          rg_tensor **din) {
    rg_tensor *x = e->in[0], *w = weight_of(e), *dy = dout[0];
    rg_tensor *rstd = rg_pow_scalar(tp, rg_add_scalar(tp, row_mean(tp, rg_mul(tp, x, x)),
                                                      e->attr.f[0]), -0.5);
    rg_tensor *xhat = rg_mul(tp, x, rstd), *gw = times_weight(tp, dy, w);
    if (needs_grad(x)) {
        rg_tensor *m2 = row_mean(tp, rg_mul(tp, gw, xhat));
        if (!(din[0] = rg_mul(tp, rstd, rg_sub(tp, gw, rg_mul(tp, xhat, m2))))) return -1;
    }
    if (needs_grad(w) && !(din[1] = rg_sum_to(tp, rg_mul(tp, dy, xhat), w))) return -1;
    return 0;
}

static const rg_op rms_norm_row = {.name = "rms_norm", .n_in = -1, .n_out = 1, .shape = norm_shape,
                                   .forward = rms_norm_forward, .backward = rms_norm_backward,
                                   .backward_graph = rms_norm_graph};

/* ---- the rows and the public functions ---------------------------------------------------- */

const rg_op *const rg_rows_norm[] = {&layer_norm_row, &rms_norm_row};
const int rg_rows_norm_n = (int)(sizeof rg_rows_norm / sizeof rg_rows_norm[0]);

/* x, then weight and bias where given (NULL ones left out), flags in attr.i[0]. */
static rg_tensor *apply_norm(rg_tape *tp, const rg_op *op, rg_tensor *x, rg_tensor *w,
                             rg_tensor *b, double eps) {
    rg_tensor *in[3] = {x, NULL, NULL};
    int n = 1;
    rg_attr at = {.f = {eps}};
    if (w) {
        in[n++] = w;
        at.i[0] |= HAS_WEIGHT;
    }
    if (b) {
        in[n++] = b;
        at.i[0] |= HAS_BIAS;
    }
    return rg_ops_apply(tp, op, n, in, &at);
}

rg_tensor *rg_layer_norm(rg_tape *tp, rg_tensor *x, rg_tensor *weight, rg_tensor *bias,
                         double eps) {
    return apply_norm(tp, &layer_norm_row, x, weight, bias, eps);
}

rg_tensor *rg_rms_norm(rg_tape *tp, rg_tensor *x, rg_tensor *weight, double eps) {
    return apply_norm(tp, &rms_norm_row, x, weight, NULL, eps);
}
