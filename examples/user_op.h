/* A user's own op, defined outside the library: softplus, as one row of the
 * same op table the built-in ops fill in (name, arity, shape rule, forward,
 * backward, recordable backward).  Shared by examples/user_op.c and
 * tests/test_seed.c.
 *
 *   y  = softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))
 *   dx += dy * sigmoid(x)
 *
 * The second form of y never overflows: exp() only ever sees -|x| <= 0. */
#ifndef USER_OP_H
#define USER_OP_H

#include <math.h>
#include <string.h>

#include "retrograd.h"

/* Shape rule: any float tensor; y has x's dtype and shape. */
static inline int softplus_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0];
    if (x->dtype != RG_F32 && x->dtype != RG_F64) {
        char s[64];
        return rg_op_error(tp, "softplus: x %s must be F32 or F64, got %s",
                           rg_shape_str(x, s, sizeof s), rg_dtype_name(x->dtype));
    }
    rg_tensor *y = e->out[0];
    y->dtype = x->dtype;
    y->rank = x->rank;
    memcpy(y->shape, x->shape, sizeof y->shape);
    return 0;
}

static inline void softplus_forward(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0];
    rg_tensor *y = e->out[0];
    if (x->dtype == RG_F64) {
        const double *xv = x->data;
        double *yv = y->data;
        for (int64_t i = 0; i < x->numel; ++i)
            yv[i] = fmax(xv[i], 0.0) + log1p(exp(-fabs(xv[i])));
    } else {
        const float *xv = x->data;
        float *yv = y->data;
        for (int64_t i = 0; i < x->numel; ++i)
            yv[i] = fmaxf(xv[i], 0.0f) + log1pf(expf(-fabsf(xv[i])));
    }
}

/* sigmoid(x) = 1 / (1 + exp(-x)), written so that exp() never overflows. */
static inline double softplus_sigmoid(double x) {
    double z = exp(-fabs(x));
    return x >= 0 ? 1.0 / (1.0 + z) : z / (1.0 + z);
}

static inline void softplus_backward(rg_tape *tp, rg_entry *e) {
    rg_tensor *x = e->in[0];
    const void *dy = e->out[0]->grad;
    void *dx = rg_grad(tp, x); /* NULL when x wants no gradient */
    if (!dx || !dy) return;
    if (x->dtype == RG_F64) {
        const double *xv = x->data, *g = dy;
        double *d = dx;
        for (int64_t i = 0; i < x->numel; ++i) d[i] += g[i] * softplus_sigmoid(xv[i]);
    } else {
        const float *xv = x->data, *g = dy;
        float *d = dx;
        for (int64_t i = 0; i < x->numel; ++i)
            d[i] += g[i] * (float)softplus_sigmoid(xv[i]);
    }
}

/* The same derivative written with public ops (rg_mul, rg_sigmoid), for
 * gradients of gradients: rg_autograd with create_graph records it, so the
 * gradient it gives is a tensor of the graph and can be differentiated again
 * (rg_gradgradcheck, Hessian-vector products).  Without it (NULL), the op
 * still has its first-order gradient, and rg_autograd names the op in its
 * error. */
static inline int softplus_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                                 rg_tensor **din) {
    din[0] = rg_mul(tp, dout[0], rg_sigmoid(tp, e->in[0]));
    return din[0] ? 0 : -1;
}

static const rg_op user_softplus_op = {"user_softplus", 1, 1, softplus_shape,
                                       softplus_forward, softplus_backward, softplus_graph};

/* Registers the row by name (once per process; a second call is fine).
 * 0, or -1 when another op already holds the name. */
static inline int user_softplus_register(void) {
    const rg_op *found = rg_op_find(user_softplus_op.name);
    if (found == &user_softplus_op) return 0;
    if (found) {
        rg_set_error("user_softplus_register: the name '%s' is taken by another op",
                     user_softplus_op.name);
        return -1;
    }
    return rg_op_register(&user_softplus_op);
}

/* The user's public function, a wrapper around rg_apply like every built-in. */
static inline rg_tensor *user_softplus(rg_tape *tp, rg_tensor *x) {
    return rg_apply(tp, &user_softplus_op, 1, &x, NULL);
}

/* ---- a small graph that uses it: a 2-layer MLP classifier --------------------
 * x [N,I] -> softplus(x W1^T + b1) [N,H] -> W2, b2 -> logits [N,C],
 * loss = mean cross-entropy against targets [N]. */
typedef struct user_mlp {
    rg_tensor *x, *W1, *b1, *W2, *b2; /* x is an input, checked as well */
    rg_tensor *targets;               /* I32 [N] */
} user_mlp;

/* For rg_gradcheck: in = {x, W1, b1, W2, b2}; user is the I32 targets. */
static inline rg_tensor *user_mlp_loss(rg_tape *tp, rg_tensor *const *in, int n, void *user) {
    (void)n;
    rg_tensor *hid = user_softplus(tp, rg_linear(tp, in[0], in[1], in[2]));
    return rg_cross_entropy(tp, rg_linear(tp, hid, in[3], in[4]), user, RG_MEAN);
}

/* For rg_gradcheck on the op alone: sum_i w_i softplus(x_i) with fixed random
 * weights w (the user pointer), so that no gradient can hide behind a plain sum. */
static inline rg_tensor *user_softplus_weighted(rg_tape *tp, rg_tensor *const *in, int n,
                                                void *user) {
    (void)n;
    rg_tensor *w = user;
    rg_tensor *y = rg_mul(tp, user_softplus(tp, in[0]), w);
    return rg_sum(tp, y);
}

static inline void user_mlp_free(user_mlp *m) {
    rg_tensor_free(m->x);
    rg_tensor_free(m->W1);
    rg_tensor_free(m->b1);
    rg_tensor_free(m->W2);
    rg_tensor_free(m->b2);
    rg_tensor_free(m->targets);
    memset(m, 0, sizeof *m);
}

/* Random float64 inputs and parameters, all requiring gradients; x spans
 * [-6, 6] so that both tails of softplus are exercised. */
static inline int user_mlp_init(user_mlp *m, int64_t N, int64_t I, int64_t H, int64_t C,
                                uint64_t seed) {
    rg_rng r;
    rg_rng_seed(&r, seed);
    memset(m, 0, sizeof *m);
    m->x = rg_uniform(NULL, RG_F64, RG_DIMS(N, I), -6, 6, &r);
    m->W1 = rg_normal(NULL, RG_F64, RG_DIMS(H, I), 0, 0.5, &r);
    m->b1 = rg_normal(NULL, RG_F64, RG_DIMS(H), 0, 0.5, &r);
    m->W2 = rg_normal(NULL, RG_F64, RG_DIMS(C, H), 0, 0.5, &r);
    m->b2 = rg_normal(NULL, RG_F64, RG_DIMS(C), 0, 0.5, &r);
    m->targets = rg_zeros(NULL, RG_I32, RG_DIMS(N));
    if (!m->x || !m->W1 || !m->b1 || !m->W2 || !m->b2 || !m->targets) {
        user_mlp_free(m);
        return -1;
    }
    for (int64_t i = 0; i < N; ++i) rg_set(m->targets, i, (double)rg_rng_below(&r, C));
    rg_tensor *p[5] = {m->x, m->W1, m->b1, m->W2, m->b2};
    for (int i = 0; i < 5; ++i) rg_set_requires_grad(p[i], true);
    return 0;
}

#endif
