/* Elementwise rows beyond the arithmetic of ops/elementwise.c: maximum and
 * minimum (broadcasting, PyTorch's tie rule), the activations a sequence model
 * reaches for (softplus, log_sigmoid, leaky_relu, elu, exact gelu), log1p,
 * expm1, sin, cos, erf, and rsub_scalar (c - x in one call).  F32 and F64; each op's
 * forward and backward side by side, its formula and derivative above them. */
#include <tgmath.h> /* log1p(x) on a float is log1pf: one expression serves both dtypes */

#include "broadcast.h"
#include "rg_kernel.h"

/* Each op's forward and backward, compiled for every kernel variant (rg_kernel.h),
 * RG_BC_FOR's loops included. */
#define OP_KERNEL(name) RG_KERNEL(name, (rg_tape *tp, rg_entry *e), (tp, e))

/* ---- loops ------------------------------------------------------------------- */

/* y = EXPR over contiguous arrays; EXPR reads x and the op's scalars s0, s1
 * (attr.f[0], attr.f[1] in the dtype). */
#define UNARY_FWD_T(T, e, EXPR)                                                        \
    do {                                                                               \
        const T *restrict X_ = (const T *)(e)->in[0]->data;                            \
        T *restrict Y_ = (T *)(e)->out[0]->data;                                       \
        const T s0 = (T)(e)->attr.f[0], s1 = (T)(e)->attr.f[1];                        \
        (void)s0, (void)s1;                                                            \
        for (int64_t i = 0; i < (e)->out[0]->numel; i++) {                             \
            const T x = X_[i];                                                         \
            Y_[i] = (EXPR);                                                            \
        }                                                                              \
    } while (0)

#define UNARY_FORWARD(e, EXPR)                                                         \
    do {                                                                               \
        if ((e)->out[0]->dtype == RG_F32) UNARY_FWD_T(float, e, EXPR);                 \
        else UNARY_FWD_T(double, e, EXPR);                                             \
    } while (0)

/* dx += EXPR; EXPR reads g (y's gradient), x, y, s0 and s1. */
#define UNARY_BWD_T(T, e, DX, EXPR)                                                    \
    do {                                                                               \
        const T *restrict X_ = (const T *)(e)->in[0]->data;                            \
        const T *restrict Y_ = (const T *)(e)->out[0]->data;                           \
        const T *restrict G_ = (const T *)(e)->out[0]->grad;                           \
        T *restrict D_ = (T *)(DX);                                                    \
        const T s0 = (T)(e)->attr.f[0], s1 = (T)(e)->attr.f[1];                        \
        (void)s0, (void)s1;                                                            \
        for (int64_t i = 0; i < (e)->out[0]->numel; i++) {                             \
            const T g = G_[i], x = X_[i], y = Y_[i];                                   \
            (void)x, (void)y;                                                          \
            D_[i] += (EXPR);                                                           \
        }                                                                              \
    } while (0)

#define UNARY_BACKWARD(tp, e, EXPR)                                                    \
    do {                                                                               \
        if (!(e)->out[0]->grad) return;                                                \
        void *dx_ = rg_grad(tp, (e)->in[0]);                                           \
        if (!dx_) return;                                                              \
        if ((e)->out[0]->dtype == RG_F32) UNARY_BWD_T(float, e, dx_, EXPR);            \
        else UNARY_BWD_T(double, e, dx_, EXPR);                                        \
    } while (0)

/* y = EXPR over the broadcast of a and b; EXPR reads x (a's value), z (b's). */
#define BINARY_FWD_T(T, p, e, EXPR)                                                    \
    do {                                                                               \
        const T *A_ = (const T *)(e)->in[0]->data, *B_ = (const T *)(e)->in[1]->data;  \
        T *Y_ = (T *)(e)->out[0]->data;                                                \
        RG_BC_FOR(p, {                                                                 \
            const T x = A_[j0], z = B_[j1];                                            \
            Y_[i] = (EXPR);                                                            \
        });                                                                            \
    } while (0)

#define BINARY_FORWARD(e, EXPR)                                                        \
    do {                                                                               \
        rg_bc p_;                                                                      \
        rg_bc_plan(&p_, (e)->out[0], 2, (const rg_tensor *const *)(e)->in);            \
        if ((e)->out[0]->dtype == RG_F32) BINARY_FWD_T(float, &p_, e, EXPR);           \
        else BINARY_FWD_T(double, &p_, e, EXPR);                                       \
    } while (0)

/* da += DA_EXPR, db += DB_EXPR, each summed over its broadcast dims; the
 * expressions read g, x and z.  a and b may be one tensor (one gradient buffer,
 * added to twice), so nothing here is restrict. */
#define BINARY_BWD_T(T, p, e, DA, DB, DA_EXPR, DB_EXPR)                                \
    do {                                                                               \
        const T *A_ = (const T *)(e)->in[0]->data, *B_ = (const T *)(e)->in[1]->data;  \
        const T *G_ = (const T *)(e)->out[0]->grad;                                    \
        T *DA_ = (T *)(DA), *DB_ = (T *)(DB);                                          \
        RG_BC_FOR(p, {                                                                 \
            const T g = G_[i], x = A_[j0], z = B_[j1];                                 \
            if (DA_) DA_[j0] += (DA_EXPR);                                             \
            if (DB_) DB_[j1] += (DB_EXPR);                                             \
        });                                                                            \
    } while (0)

#define BINARY_BACKWARD(tp, e, DA_EXPR, DB_EXPR)                                       \
    do {                                                                               \
        if (!(e)->out[0]->grad) return;                                                \
        void *da_ = rg_grad(tp, (e)->in[0]), *db_ = rg_grad(tp, (e)->in[1]);           \
        if (!da_ && !db_) return;                                                      \
        rg_bc p_;                                                                      \
        rg_bc_plan(&p_, (e)->out[0], 2, (const rg_tensor *const *)(e)->in);            \
        if ((e)->out[0]->dtype == RG_F32)                                              \
            BINARY_BWD_T(float, &p_, e, da_, db_, DA_EXPR, DB_EXPR);                   \
        else BINARY_BWD_T(double, &p_, e, da_, db_, DA_EXPR, DB_EXPR);                 \
    } while (0)

/* ---- shape rules --------------------------------------------------------------- */

static int check_float(rg_tape *tp, const rg_entry *e, int k, const char *arg) {
    const rg_tensor *t = e->in[k];
    if (t->dtype == RG_F32 || t->dtype == RG_F64) return 0;
    char s[64];
    return rg_op_error(tp, "rg_%s: %s %s is %s; it takes float32 or float64", e->op->name,
                       arg, rg_shape_str(t, s, sizeof s), rg_dtype_name(t->dtype));
}

/* y has a's shape and dtype. */
static int unary_shape(rg_tape *tp, rg_entry *e) {
    if (check_float(tp, e, 0, "a")) return -1;
    rg_set_out_shape(e->out[0], e->in[0]->dtype, e->in[0]->rank, e->in[0]->shape);
    return 0;
}

/* a, b of one float dtype; y their broadcast shape. */
static int binary_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *a = e->in[0], *b = e->in[1];
    char sa[64], sb[64];
    if (check_float(tp, e, 0, "a") || check_float(tp, e, 1, "b")) return -1;
    if (a->dtype != b->dtype)
        return rg_op_error(tp, "rg_%s: dtypes differ: a %s %s, b %s %s", e->op->name,
                           rg_shape_str(a, sa, sizeof sa), rg_dtype_name(a->dtype),
                           rg_shape_str(b, sb, sizeof sb), rg_dtype_name(b->dtype));
    int rank;
    int64_t shape[RG_MAX_RANK];
    if (!rg_bc_shape(2, (const rg_tensor *const *)e->in, &rank, shape))
        return rg_op_error(tp, "rg_%s: shapes do not broadcast: a %s, b %s", e->op->name,
                           rg_shape_str(a, sa, sizeof sa), rg_shape_str(b, sb, sizeof sb));
    rg_set_out_shape(e->out[0], a->dtype, rank, shape);
    return 0;
}

/* ---- recorded backward rules (rg_autograd, gradients of gradients) ------------------
 * Each op's derivative written with differentiable public ops, next to its
 * kernels.  Masks of kinks and thresholds are constants (their derivative is
 * zero wherever it exists); a binary op's gradients are summed to its inputs'
 * shapes by rg_sum_to. */

#define GRAPH_RULE(name) \
    static int name(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din)
#define DONE(...) return (__VA_ARGS__) ? 0 : -1

/* A constant like x (no gradient) with f(x_i, s0) in each element. */
static rg_tensor *const_of(rg_tape *tp, const rg_tensor *x, double (*f)(double, double),
                           double s0) {
    rg_tensor *c = rg_tensor_new(tp, x->dtype, x->rank, x->shape);
    for (int64_t i = 0; c && i < x->numel; i++) rg_set(c, i, f(rg_get(x, i), s0));
    return c;
}
static double positive(double x, double s) { (void)s; return x > 0; }
static double above(double x, double s) { (void)s; return x > 0 ? 1 : s; } /* leaky slope */

/* ---- maximum and minimum ------------------------------------------------------------ */

/* maximum: y = max(a, b), NaN when either is NaN;
 * da = dy where a > b, dy/2 where a == b, 0 where a < b; db the mirror image.
 * This is torch.maximum's rule (a NaN compares neither way, so both get dy). */
OP_KERNEL(maximum_forward) {
    BINARY_FORWARD(e, (x > z || x != x) ? x : z);
}
OP_KERNEL(maximum_backward) {
    BINARY_BACKWARD(tp, e, x == z ? g / 2 : (x < z ? 0 : g), x == z ? g / 2 : (x > z ? 0 : g));
}
/* recorded: da = dy (1 - [a < b] - [a == b]/2), db = dy (1 - [a > b] - [a == b]/2)
 * for maximum (the relations swapped for minimum): constants from the
 * comparisons, which broadcast like the op and keep a NaN's dy on both sides */
static rg_tensor *share(rg_tape *tp, rg_tensor *away, rg_tensor *tie) {
    return rg_sub(tp, rg_rsub_scalar(tp, away, 1), rg_mul_scalar(tp, tie, 0.5));
}
static int minmax_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din,
                        bool is_max) {
    rg_tensor *a = e->in[0], *b = e->in[1], *dy = dout[0];
    rg_tensor *lt = rg_lt(tp, a, b), *gt = rg_gt(tp, a, b), *eq = rg_eq(tp, a, b);
    din[0] = rg_sum_to(tp, rg_mul(tp, dy, share(tp, is_max ? lt : gt, eq)), a);
    din[1] = rg_sum_to(tp, rg_mul(tp, dy, share(tp, is_max ? gt : lt, eq)), b);
    DONE(din[0] && din[1]);
}
GRAPH_RULE(maximum_graph) { return minmax_graph(tp, e, dout, din, true); }
GRAPH_RULE(minimum_graph) { return minmax_graph(tp, e, dout, din, false); }

static const rg_op maximum_row = {.name = "maximum", .n_in = 2, .n_out = 1, .shape = binary_shape,
                                  .forward = maximum_forward, .backward = maximum_backward,
                                  .backward_graph = maximum_graph};

/* minimum: y = min(a, b), NaN when either is NaN;
 * da = dy where a < b, dy/2 where a == b, 0 where a > b; db the mirror image. */
OP_KERNEL(minimum_forward) {
    BINARY_FORWARD(e, (x < z || x != x) ? x : z);
}
OP_KERNEL(minimum_backward) {
    BINARY_BACKWARD(tp, e, x == z ? g / 2 : (x > z ? 0 : g), x == z ? g / 2 : (x < z ? 0 : g));
}
static const rg_op minimum_row = {.name = "minimum", .n_in = 2, .n_out = 1, .shape = binary_shape,
                                  .forward = minimum_forward, .backward = minimum_backward,
                                  .backward_graph = minimum_graph};

/* ---- unary maps ------------------------------------------------------------------------ */

/* sigmoid(v) without overflow for either sign of v. */
#define SIGMOID_STABLE(v) ((v) >= 0 ? 1 / (1 + exp(-(v))) : exp(v) / (1 + exp(v)))

/* softplus: y = log(1 + e^(beta x)) / beta, and y = x where beta x > threshold
 * (beta = attr.f[0] != 0, threshold = attr.f[1]; torch.nn.functional.softplus);
 *   dx = dy sigmoid(beta x), and dy where beta x > threshold.
 * log(1 + e^v) is computed as max(v, 0) + log1p(e^-|v|), which never overflows. */
static int softplus_shape(rg_tape *tp, rg_entry *e) {
    double beta = e->attr.f[0];
    if (!(beta != 0 && isfinite(beta)))
        return rg_op_error(tp, "rg_softplus: beta = %g must be finite and nonzero", beta);
    return unary_shape(tp, e);
}
OP_KERNEL(softplus_forward) {
    UNARY_FORWARD(e, s0 * x > s1 ? x
                                 : ((s0 * x > 0 ? s0 * x : 0) + log1p(exp(-fabs(s0 * x)))) / s0);
}
OP_KERNEL(softplus_backward) {
    UNARY_BACKWARD(tp, e, s0 * x > s1 ? g : g * SIGMOID_STABLE(s0 * x));
}
/* recorded: dx = where(beta x > threshold, dy, dy sigmoid(beta x)), the mask a constant */
GRAPH_RULE(softplus_graph) {
    rg_tensor *x = e->in[0], *dy = dout[0], *lin = rg_tensor_new(tp, x->dtype, x->rank, x->shape);
    double beta = e->attr.f[0], thr = e->attr.f[1];
    for (int64_t i = 0; lin && i < x->numel; i++) rg_set(lin, i, beta * rg_get(x, i) > thr);
    rg_tensor *s = rg_sigmoid(tp, rg_mul_scalar(tp, x, beta));
    DONE(din[0] = rg_where(tp, lin, dy, rg_mul(tp, dy, s)));
}

static const rg_op softplus_row = {.name = "softplus", .n_in = 1, .n_out = 1,
                                   .shape = softplus_shape, .forward = softplus_forward,
                                   .backward = softplus_backward,
                                   .backward_graph = softplus_graph};

/* log_sigmoid: y = log(1 / (1 + e^-x)) = min(x, 0) - log1p(e^-|x|);
 *   dx = dy (1 - sigmoid(x)) = dy sigmoid(-x).  Exact for large |x| either way. */
OP_KERNEL(log_sigmoid_forward) {
    UNARY_FORWARD(e, (x < 0 ? x : 0) - log1p(exp(-fabs(x))));
}
OP_KERNEL(log_sigmoid_backward) {
    UNARY_BACKWARD(tp, e, g * SIGMOID_STABLE(-x));
}
/* recorded: dx = dy sigmoid(-x) */
GRAPH_RULE(log_sigmoid_graph) {
    DONE(din[0] = rg_mul(tp, dout[0], rg_sigmoid(tp, rg_neg(tp, e->in[0]))));
}

static const rg_op log_sigmoid_row = {.name = "log_sigmoid", .n_in = 1, .n_out = 1,
                                      .shape = unary_shape, .forward = log_sigmoid_forward,
                                      .backward = log_sigmoid_backward,
                                      .backward_graph = log_sigmoid_graph};

/* log1p: y = log(1 + x), exact for small x;  dx = dy / (1 + x) */
OP_KERNEL(log1p_forward) { UNARY_FORWARD(e, log1p(x)); }
OP_KERNEL(log1p_backward) { UNARY_BACKWARD(tp, e, g / (1 + x)); }
GRAPH_RULE(log1p_graph) { DONE(din[0] = rg_div(tp, dout[0], rg_add_scalar(tp, e->in[0], 1))); }
static const rg_op log1p_row = {.name = "log1p", .n_in = 1, .n_out = 1, .shape = unary_shape,
                                .forward = log1p_forward, .backward = log1p_backward,
                                .backward_graph = log1p_graph};

/* expm1: y = e^x - 1, exact for small x;  dx = dy e^x = dy (y + 1) */
OP_KERNEL(expm1_forward) { UNARY_FORWARD(e, expm1(x)); }
OP_KERNEL(expm1_backward) { UNARY_BACKWARD(tp, e, g * exp(x)); }
/* recorded: dx = dy e^x (not y + 1, which cancels for very negative x) */
GRAPH_RULE(expm1_graph) { DONE(din[0] = rg_mul(tp, dout[0], rg_exp(tp, e->in[0]))); }
static const rg_op expm1_row = {.name = "expm1", .n_in = 1, .n_out = 1, .shape = unary_shape,
                                .forward = expm1_forward, .backward = expm1_backward,
                                .backward_graph = expm1_graph};

/* sin: y = sin x;  dx = dy cos x */
OP_KERNEL(sin_forward) { UNARY_FORWARD(e, sin(x)); }
OP_KERNEL(sin_backward) { UNARY_BACKWARD(tp, e, g * cos(x)); }
GRAPH_RULE(sin_graph) { DONE(din[0] = rg_mul(tp, dout[0], rg_cos(tp, e->in[0]))); }
static const rg_op sin_row = {.name = "sin", .n_in = 1, .n_out = 1, .shape = unary_shape,
                              .forward = sin_forward, .backward = sin_backward,
                              .backward_graph = sin_graph};

/* cos: y = cos x;  dx = -dy sin x */
OP_KERNEL(cos_forward) { UNARY_FORWARD(e, cos(x)); }
OP_KERNEL(cos_backward) { UNARY_BACKWARD(tp, e, -g * sin(x)); }
GRAPH_RULE(cos_graph) { DONE(din[0] = rg_neg(tp, rg_mul(tp, dout[0], rg_sin(tp, e->in[0])))); }
static const rg_op cos_row = {.name = "cos", .n_in = 1, .n_out = 1, .shape = unary_shape,
                              .forward = cos_forward, .backward = cos_backward,
                              .backward_graph = cos_graph};

/* leaky_relu: y = x where x > 0, else slope x (slope = attr.f[0]);
 *   dx = dy where x > 0, else slope dy (PyTorch's choice at x = 0) */
OP_KERNEL(leaky_relu_forward) {
    UNARY_FORWARD(e, x > 0 ? x : s0 * x);
}
OP_KERNEL(leaky_relu_backward) {
    UNARY_BACKWARD(tp, e, x > 0 ? g : s0 * g);
}
/* recorded: dx = dy c, c = 1 where x > 0, else slope (a constant) */
GRAPH_RULE(leaky_relu_graph) {
    DONE(din[0] = rg_mul(tp, dout[0], const_of(tp, e->in[0], above, e->attr.f[0])));
}
static const rg_op leaky_relu_row = {.name = "leaky_relu", .n_in = 1, .n_out = 1,
                                     .shape = unary_shape, .forward = leaky_relu_forward,
                                     .backward = leaky_relu_backward,
                                     .backward_graph = leaky_relu_graph};

/* elu: y = x where x > 0, else alpha (e^x - 1) (alpha = attr.f[0]);
 *   dx = dy where x > 0, else dy alpha e^x */
OP_KERNEL(elu_forward) { UNARY_FORWARD(e, x > 0 ? x : s0 * expm1(x)); }
OP_KERNEL(elu_backward) {
    UNARY_BACKWARD(tp, e, x > 0 ? g : g * s0 * exp(x));
}
/* recorded: dx = where(x > 0, dy, dy alpha e^x'), x' = x with the positive part
 * set to 0 (so e^x' never overflows on the branch not taken) */
GRAPH_RULE(elu_graph) {
    rg_tensor *pos = const_of(tp, e->in[0], positive, 0), *dy = dout[0];
    rg_tensor *ex = rg_exp(tp, rg_masked_fill(tp, e->in[0], pos, 0.0));
    DONE(din[0] = rg_where(tp, pos, dy, rg_mul(tp, dy, rg_mul_scalar(tp, ex, e->attr.f[0]))));
}
static const rg_op elu_row = {.name = "elu", .n_in = 1, .n_out = 1, .shape = unary_shape,
                              .forward = elu_forward, .backward = elu_backward,
                              .backward_graph = elu_graph};

/* gelu (exact, erf): y = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2 = erfc(-x / sqrt 2) / 2
 * (erfc keeps the tail for negative x);  dx = dy (Phi(x) + x phi(x)),
 * phi(x) = e^(-x^2/2) / sqrt(2 pi).  The constants are double, so float32 runs
 * these two in double (exact to the last bit of a float). */
#define RG_SQRT1_2 0.70710678118654752440
#define RG_INV_SQRT_2PI 0.39894228040143267794
OP_KERNEL(gelu_forward) {
    UNARY_FORWARD(e, x * erfc(-x * RG_SQRT1_2) / 2);
}
OP_KERNEL(gelu_backward) {
    UNARY_BACKWARD(tp, e,
                   g * (erfc(-x * RG_SQRT1_2) / 2 +
                        x * exp(-x * x / 2) * RG_INV_SQRT_2PI));
}
/* recorded: dx = dy (Phi(x) + x phi(x)), Phi(x) = (1 + erf(x / sqrt 2)) / 2 */
GRAPH_RULE(gelu_graph) {
    rg_tensor *x = e->in[0];
    rg_tensor *erf = rg_erf(tp, rg_mul_scalar(tp, x, RG_SQRT1_2));
    rg_tensor *Phi = rg_mul_scalar(tp, rg_add_scalar(tp, erf, 1), 0.5);
    rg_tensor *phi = rg_mul_scalar(tp, rg_exp(tp, rg_mul_scalar(tp, rg_mul(tp, x, x), -0.5)),
                                   RG_INV_SQRT_2PI);
    DONE(din[0] = rg_mul(tp, dout[0], rg_add(tp, Phi, rg_mul(tp, x, phi))));
}
static const rg_op gelu_row = {.name = "gelu", .n_in = 1, .n_out = 1, .shape = unary_shape,
                               .forward = gelu_forward, .backward = gelu_backward,
                               .backward_graph = gelu_graph};

/* erf: y = erf x = 2/sqrt(pi) int_0^x e^(-t^2) dt;  dx = dy 2/sqrt(pi) e^(-x^2)
 * (gelu's recorded backward needs it: the normal CDF is (1 + erf(x / sqrt 2)) / 2) */
#define RG_2_SQRTPI 1.12837916709551257390
OP_KERNEL(erf_forward) { UNARY_FORWARD(e, erf(x)); }
OP_KERNEL(erf_backward) {
    UNARY_BACKWARD(tp, e, g * RG_2_SQRTPI * exp(-x * x));
}
GRAPH_RULE(erf_graph) {
    rg_tensor *x = e->in[0];
    DONE(din[0] = rg_mul(tp, dout[0], rg_mul_scalar(tp, rg_exp(tp, rg_neg(tp, rg_mul(tp, x, x))),
                                                    RG_2_SQRTPI)));
}
static const rg_op erf_row = {.name = "erf", .n_in = 1, .n_out = 1, .shape = unary_shape,
                              .forward = erf_forward, .backward = erf_backward,
                              .backward_graph = erf_graph};

/* rsub_scalar: y = c - x (c = attr.f[0]; 1 - z in one call);  dx = -dy */
OP_KERNEL(rsub_scalar_forward) { UNARY_FORWARD(e, s0 - x); }
OP_KERNEL(rsub_scalar_backward) { UNARY_BACKWARD(tp, e, -g); }
GRAPH_RULE(rsub_scalar_graph) { DONE(din[0] = rg_neg(tp, dout[0])); }
static const rg_op rsub_scalar_row = {.name = "rsub_scalar", .n_in = 1, .n_out = 1,
                                      .shape = unary_shape, .forward = rsub_scalar_forward,
                                      .backward = rsub_scalar_backward,
                                      .backward_graph = rsub_scalar_graph};

/* ---- the rows and the public functions ------------------------------------------------- */

const rg_op *const rg_rows_activation[] = {
    &maximum_row,    &minimum_row, &softplus_row, &log_sigmoid_row, &log1p_row,
    &expm1_row,      &sin_row,     &cos_row,      &leaky_relu_row,  &elu_row,
    &gelu_row,       &rsub_scalar_row, &erf_row,
};
const int rg_rows_activation_n = (int)(sizeof rg_rows_activation / sizeof rg_rows_activation[0]);

static rg_tensor *apply1(rg_tape *tp, const rg_op *op, rg_tensor *a, double s0, double s1) {
    rg_attr at = {.f = {s0, s1}};
    return rg_ops_apply(tp, op, 1, &a, &at);
}

rg_tensor *rg_maximum(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    return rg_ops_apply(tp, &maximum_row, 2, (rg_tensor *[]){a, b}, NULL);
}
rg_tensor *rg_minimum(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    return rg_ops_apply(tp, &minimum_row, 2, (rg_tensor *[]){a, b}, NULL);
}
rg_tensor *rg_softplus(rg_tape *tp, rg_tensor *a, double beta, double threshold) {
    return apply1(tp, &softplus_row, a, beta, threshold);
}
rg_tensor *rg_log_sigmoid(rg_tape *tp, rg_tensor *a) {
    return apply1(tp, &log_sigmoid_row, a, 0, 0);
}
rg_tensor *rg_log1p(rg_tape *tp, rg_tensor *a) { return apply1(tp, &log1p_row, a, 0, 0); }
rg_tensor *rg_expm1(rg_tape *tp, rg_tensor *a) { return apply1(tp, &expm1_row, a, 0, 0); }
rg_tensor *rg_sin(rg_tape *tp, rg_tensor *a) { return apply1(tp, &sin_row, a, 0, 0); }
rg_tensor *rg_cos(rg_tape *tp, rg_tensor *a) { return apply1(tp, &cos_row, a, 0, 0); }
rg_tensor *rg_leaky_relu(rg_tape *tp, rg_tensor *a, double slope) {
    return apply1(tp, &leaky_relu_row, a, slope, 0);
}
rg_tensor *rg_elu(rg_tape *tp, rg_tensor *a, double alpha) {
    return apply1(tp, &elu_row, a, alpha, 0);
}
rg_tensor *rg_gelu(rg_tape *tp, rg_tensor *a) { return apply1(tp, &gelu_row, a, 0, 0); }
rg_tensor *rg_erf(rg_tape *tp, rg_tensor *a) { return apply1(tp, &erf_row, a, 0, 0); }
rg_tensor *rg_rsub_scalar(rg_tape *tp, rg_tensor *a, double c) {
    return apply1(tp, &rsub_scalar_row, a, c, 0);
}
