/* The seed document's two worked RNNs, written with the public ops only, so
 * that the example programs, tests/test_seed.c and bench/overhead.c run one
 * and the same graph.  Header-only (static inline): include it where needed.
 *
 *   (A) seed_rnn2_*:   2 hidden units, one-hot inputs, forward pass only
 *       h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h),  y = W_hy h_T + b_y
 *   (B) seed_scalar_*: hidden size 1, next-word loss, BPTT through one tape
 *       h_t = tanh(W_x[x_t] + W_h h_{t-1} + b_h),  z_t = W_y h_t + b_y,
 *       loss = sum_t -log softmax(z_t)[target_t]
 *
 * Vocabulary of both: hi = 0, there = 1, class = 2, ! = 3. */
#ifndef SEED_MODELS_H
#define SEED_MODELS_H

#include <stdint.h>
#include <string.h>

#include "retrograd.h"

enum { SEED_V = 4, SEED_H2 = 2 };

static const char *const seed_words[SEED_V] = {"hi", "there", "class", "!"};

/* ---- (A) the 2-unit RNN ---------------------------------------------------- */

typedef struct seed_rnn2 {
    rg_tensor *W_xh; /* [H,V] = [2,4]: column v is word v's input weights */
    rg_tensor *W_hh; /* [H,H] */
    rg_tensor *W_hy; /* [V,H] */
    rg_tensor *b_h;  /* [H,1] */
    rg_tensor *b_y;  /* [V,1] */
} seed_rnn2;

static inline void seed_rnn2_free(seed_rnn2 *m) {
    rg_tensor_free(m->W_xh);
    rg_tensor_free(m->W_hh);
    rg_tensor_free(m->W_hy);
    rg_tensor_free(m->b_h);
    rg_tensor_free(m->b_y);
    memset(m, 0, sizeof *m);
}

/* The document's weights, float64, persistent.  0, or -1 with rg_last_error(). */
static inline int seed_rnn2_init(seed_rnn2 *m) {
    /* The document's W_xh has two columns (hi, there); class and ! get zeros. */
    static const double W_xh[] = {0.5, 0.1, 0, 0, -0.2, 0.8, 0, 0};
    static const double W_hh[] = {0.3, 0.4, 0.6, -0.1};
    static const double W_hy[] = {0.1, 0.7, -0.3, 0.2, 0.5, 0.4, -0.6, -0.1};
    static const double b_h[] = {0.1, 0.1};
    m->W_xh = rg_from_doubles(NULL, RG_F64, RG_DIMS(SEED_H2, SEED_V), W_xh);
    m->W_hh = rg_from_doubles(NULL, RG_F64, RG_DIMS(SEED_H2, SEED_H2), W_hh);
    m->W_hy = rg_from_doubles(NULL, RG_F64, RG_DIMS(SEED_V, SEED_H2), W_hy);
    m->b_h = rg_from_doubles(NULL, RG_F64, RG_DIMS(SEED_H2, 1), b_h);
    m->b_y = rg_zeros(NULL, RG_F64, RG_DIMS(SEED_V, 1));
    if (!m->W_xh || !m->W_hh || !m->W_hy || !m->b_h || !m->b_y) {
        seed_rnn2_free(m);
        return -1;
    }
    return 0;
}

/* The one-hot column [V,1] of word w, on the tape. */
static inline rg_tensor *seed_one_hot(rg_tape *tp, int w) {
    rg_tensor *x = rg_zeros(tp, RG_F64, RG_DIMS(SEED_V, 1));
    if (x) rg_set(x, w, 1.0);
    return x;
}

/* Runs words[0..T-1] from h0 = 0.  hs[t] (when hs is given) gets h_{t+1} [H,1];
 * returns y = W_hy h_T + b_y [V,1], or NULL with the error on the tape. */
static inline rg_tensor *seed_rnn2_forward(rg_tape *tp, const seed_rnn2 *m, const int *words,
                                           int T, rg_tensor **hs) {
    rg_tensor *h = rg_zeros(tp, RG_F64, RG_DIMS(SEED_H2, 1));
    for (int t = 0; t < T; ++t) {
        rg_tensor *x = seed_one_hot(tp, words[t]);
        rg_tensor *pre = rg_add(tp, rg_add(tp, rg_matmul(tp, m->W_hh, h),
                                           rg_matmul(tp, m->W_xh, x)), m->b_h);
        h = rg_tanh(tp, pre);
        if (hs) hs[t] = h;
    }
    return rg_add(tp, rg_matmul(tp, m->W_hy, h), m->b_y);
}

/* ---- (B) the scalar RNN with BPTT ------------------------------------------ */

typedef struct seed_scalar {
    rg_tensor *W_x; /* [V,1]: an embedding table, row v = W_x[v] */
    rg_tensor *W_h; /* [1,1] */
    rg_tensor *b_h; /* [1,1] */
    rg_tensor *W_y; /* [1,V]: z_t = W_y * h_t, one logit per word */
    rg_tensor *b_y; /* [1,V] */
} seed_scalar;

enum { SEED_NPARAM = 5 };

/* The parameters as an array, in the order W_x, W_h, b_h, W_y, b_y. */
static inline void seed_scalar_params(const seed_scalar *m, rg_tensor **p) {
    p[0] = m->W_x;
    p[1] = m->W_h;
    p[2] = m->b_h;
    p[3] = m->W_y;
    p[4] = m->b_y;
}

static inline void seed_scalar_free(seed_scalar *m) {
    rg_tensor *p[SEED_NPARAM];
    seed_scalar_params(m, p);
    for (int i = 0; i < SEED_NPARAM; ++i) rg_tensor_free(p[i]);
    memset(m, 0, sizeof *m);
}

/* The document's parameters (float64, persistent, requiring gradients).
 * 0, or -1 with rg_last_error(). */
static inline int seed_scalar_init(seed_scalar *m) {
    static const double W_x[] = {0.5, -0.3, 0.8, 0.0};
    static const double W_y[] = {1.0, 0.5, -0.5, 0.0};
    m->W_x = rg_from_doubles(NULL, RG_F64, RG_DIMS(SEED_V, 1), W_x);
    m->W_h = rg_full(NULL, RG_F64, RG_DIMS(1, 1), 0.2);
    m->b_h = rg_zeros(NULL, RG_F64, RG_DIMS(1, 1));
    m->W_y = rg_from_doubles(NULL, RG_F64, RG_DIMS(1, SEED_V), W_y);
    m->b_y = rg_zeros(NULL, RG_F64, RG_DIMS(1, SEED_V));
    rg_tensor *p[SEED_NPARAM];
    seed_scalar_params(m, p);
    for (int i = 0; i < SEED_NPARAM; ++i) {
        if (!p[i]) {
            seed_scalar_free(m);
            return -1;
        }
        rg_set_requires_grad(p[i], true);
    }
    return 0;
}

/* The whole sequence on one tape: xs, ys are T word ids (inputs, targets).
 * Per step 7 recorded ops (slice, mul, add, add, tanh, mul, add); the T
 * logits rows are concatenated into [T,V] and go through one fused
 * cross-entropy.  hs[t] (when given) gets h_{t+1} [1,1]; *logits (when given)
 * the [T,V] logits.  Returns the summed loss [], or NULL with the tape's error. */
static inline rg_tensor *seed_scalar_loss(rg_tape *tp, const seed_scalar *m, const int32_t *xs,
                                          const int32_t *ys, int64_t T, rg_tensor **hs,
                                          rg_tensor **logits) {
    rg_tensor **zs = rg_tape_alloc(tp, (size_t)T * sizeof *zs);
    rg_tensor *ids = rg_from_data(tp, RG_I32, RG_DIMS(T), xs);
    rg_tensor *tg = rg_from_data(tp, RG_I32, RG_DIMS(T), ys);
    if (!zs || !ids || !tg) return NULL;
    rg_tensor *a = rg_embedding(tp, m->W_x, ids); /* [T,1]: row t = W_x[x_t] */
    rg_tensor *h = rg_zeros(tp, RG_F64, RG_DIMS(1, 1));
    for (int64_t t = 0; t < T; ++t) {
        rg_tensor *pre = rg_add(tp, rg_add(tp, rg_slice(tp, a, 0, t, 1),
                                           rg_mul(tp, m->W_h, h)), m->b_h);
        h = rg_tanh(tp, pre);
        zs[t] = rg_add(tp, rg_mul(tp, m->W_y, h), m->b_y); /* [1,V] */
        if (hs) hs[t] = h;
        if (!zs[t]) return NULL;
    }
    rg_tensor *z = rg_concat(tp, (int)T, zs, 0); /* [T,V] */
    if (logits) *logits = z;
    return rg_cross_entropy(tp, z, tg, RG_SUM);
}

/* The document's sequence: hi there class ! -> there class ! ! */
static const int32_t seed_xs[SEED_V] = {0, 1, 2, 3};
static const int32_t seed_ys[SEED_V] = {1, 2, 3, 3};

/* For rg_gradcheck: inputs are the 5 parameters; user is a seed_seq. */
typedef struct seed_seq {
    const int32_t *xs, *ys;
    int64_t T;
} seed_seq;

static inline rg_tensor *seed_scalar_gradcheck_fn(rg_tape *tp, rg_tensor *const *in, int n,
                                                  void *user) {
    const seed_seq *s = user;
    seed_scalar m = {in[0], in[1], in[2], in[3], in[4]};
    (void)n;
    return seed_scalar_loss(tp, &m, s->xs, s->ys, s->T, NULL, NULL);
}

/* p -= lr * dp for every parameter (plain SGD on the persistent values). */
static inline void seed_scalar_sgd(seed_scalar *m, double lr) {
    rg_tensor *p[SEED_NPARAM];
    seed_scalar_params(m, p);
    for (int i = 0; i < SEED_NPARAM; ++i)
        for (int64_t k = 0; k < p[i]->numel; ++k)
            rg_set(p[i], k, rg_get(p[i], k) - lr * rg_grad_get(p[i], k));
}

#endif
