/* Kernel variants (autograd/rg_kernel.h): every variant this machine runs
 * (AVX2+FMA, AVX-512) against the baseline one, on random data, forward and
 * backward -- the fused LSTM/GRU rows, softmax and cross-entropy, elementwise
 * ops with every broadcast kind, reductions, linear/embedding rows, the
 * optimizers and clipping, the tape's private-gradient merge, the built-in
 * GEMM, the activations with maximum/minimum (ops/activation.c), layer_norm
 * and rms_norm, the losses of ops/loss.c and the scans -- in float32 and
 * float64.  The variants must agree within the
 * documented tolerance of the fast float32 activations (a few ulp; rtol 2e-6
 * after a chain of ops) and 1e-12 in float64; each case also logs whether they
 * agree to the bit, which they do when the compiler contracts nothing (ISO C
 * mode, -ffp-contract=off) and vectorises no reduction.  On a machine (or a
 * -Dnative=true build) with one variant there is nothing to compare: the
 * cases still run once and the suite passes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h" /* rg_gemm_builtin_f32/f64 */
#include "retrograd.h"

/* ---- results: every value and gradient a case produces, as doubles ------- */

typedef struct res {
    double *v;
    int64_t n, cap;
} res;

static void put_v(res *r, double x) {
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 1024;
        r->v = realloc(r->v, (size_t)r->cap * sizeof *r->v);
        cr_assert(r->v != NULL);
    }
    r->v[r->n++] = x;
}

static void put(res *r, const rg_tensor *t) {
    cr_assert(t != NULL, "%s", rg_last_error());
    for (int64_t i = 0; i < t->numel; ++i) put_v(r, rg_get(t, i));
}

static void put_grad(res *r, const rg_tensor *t) {
    for (int64_t i = 0; i < t->numel; ++i) put_v(r, rg_grad_get(t, i));
}

/* A persistent random tensor in [lo, hi) that requires a gradient. */
static rg_tensor *rnd(rg_dtype dt, int rank, const int64_t *shape, double lo, double hi,
                      rg_rng *g) {
    rg_tensor *t = rg_uniform(NULL, dt, rank, shape, lo, hi, g);
    cr_assert(t != NULL, "%s", rg_last_error());
    rg_set_requires_grad(t, true);
    return t;
}

static rg_tensor *ids_below(int64_t n, int64_t V, rg_rng *g) {
    rg_tensor *t = rg_tensor_new(NULL, RG_I32, RG_DIMS(n));
    cr_assert(t != NULL);
    for (int64_t i = 0; i < n; ++i) ((int32_t *)t->data)[i] = (int32_t)rg_rng_below(g, V);
    return t;
}

/* sum(y * w) with w random and fixed: a scalar whose gradient reaches every
 * element of y with its own weight (a plain sum would hide some bugs). */
static rg_tensor *wsum(rg_tape *tp, rg_tensor *y, rg_rng *g) {
    cr_assert(y != NULL, "%s", rg_last_error());
    rg_tensor *w = rg_uniform(tp, y->dtype, y->rank, y->shape, -1, 1, g);
    return rg_sum(tp, rg_mul(tp, y, w));
}

/* Runs backward from loss, keeps loss, every output in outs and every input's
 * gradient, frees the inputs. */
static void finish(rg_tape *tp, rg_tensor *loss, int n_out, rg_tensor **outs, int n_in,
                   rg_tensor **ins, res *r) {
    cr_assert(loss != NULL, "%s", rg_last_error());
    cr_assert_eq(rg_backward(tp, loss), 0, "%s", rg_last_error());
    put(r, loss);
    for (int k = 0; k < n_out; ++k) put(r, outs[k]);
    for (int k = 0; k < n_in; ++k) {
        put_grad(r, ins[k]);
        rg_tensor_free(ins[k]);
    }
}

typedef void (*case_fn)(rg_dtype dt, res *r);

/* ---- the cases ------------------------------------------------------------ */

/* Odd sizes, so the vector loops' tails run too. */
enum { B = 5, H = 37, V = 11 };

static void case_lstm_cell(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 11);
    rg_tensor *in[5] = {rnd(dt, RG_DIMS(B, 4 * H), -2, 2, &g),
                        rnd(dt, RG_DIMS(B, H), -1, 1, &g), rnd(dt, RG_DIMS(B, H), -2, 2, &g),
                        rnd(dt, RG_DIMS(4 * H, H), -0.5, 0.5, &g),
                        rnd(dt, RG_DIMS(4 * H), -0.5, 0.5, &g)};
    rg_tape *tp = rg_tape_new();
    rg_tensor *out[2] = {NULL, NULL};
    cr_assert_eq(rg_lstm_cell(tp, in[0], in[1], in[2], in[3], in[4], out), 0, "%s",
                 rg_last_error());
    /* a second step from the first one's state: c' and h' fan out */
    rg_tensor *out2[2] = {NULL, NULL};
    cr_assert_eq(rg_lstm_cell(tp, in[0], out[0], out[1], in[3], in[4], out2), 0, "%s",
                 rg_last_error());
    rg_tensor *loss = rg_add(tp, wsum(tp, out2[0], &g), wsum(tp, out2[1], &g));
    rg_tensor *outs[4] = {out[0], out[1], out2[0], out2[1]};
    finish(tp, loss, 4, outs, 5, in, r);
    rg_tape_free(tp);
}

static void case_lstm_gates_and_rows(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 12);
    rg_tensor *in[7] = {rnd(dt, RG_DIMS(B, 4 * H), -3, 3, &g),
                        rnd(dt, RG_DIMS(B, 4 * H), -3, 3, &g),
                        rnd(dt, RG_DIMS(B, H), -2, 2, &g),
                        rnd(dt, RG_DIMS(V, 4 * H), -2, 2, &g),
                        rnd(dt, RG_DIMS(B, H), -1, 1, &g),
                        rnd(dt, RG_DIMS(4 * H, H), -0.5, 0.5, &g),
                        rnd(dt, RG_DIMS(4 * H), -0.5, 0.5, &g)};
    rg_tensor *ids = ids_below(B, V, &g);
    rg_tape *tp = rg_tape_new();
    rg_tensor *o1[2] = {NULL, NULL}, *o2[2] = {NULL, NULL};
    cr_assert_eq(rg_lstm_gates(tp, in[0], in[1], in[2], o1), 0, "%s", rg_last_error());
    cr_assert_eq(rg_lstm_cell_rows(tp, in[3], ids, in[4], o1[1], in[5], in[6], o2), 0, "%s",
                 rg_last_error());
    rg_tensor *loss = rg_add(tp, rg_add(tp, wsum(tp, o1[0], &g), wsum(tp, o2[0], &g)),
                             wsum(tp, o2[1], &g));
    rg_tensor *outs[4] = {o1[0], o1[1], o2[0], o2[1]};
    finish(tp, loss, 4, outs, 7, in, r);
    rg_tape_free(tp);
    rg_tensor_free(ids);
}

static void case_gru(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 13);
    rg_tensor *in[3] = {rnd(dt, RG_DIMS(B, 3 * H), -3, 3, &g),
                        rnd(dt, RG_DIMS(B, 3 * H), -3, 3, &g),
                        rnd(dt, RG_DIMS(B, H), -1, 1, &g)};
    rg_tape *tp = rg_tape_new();
    rg_tensor *h1 = rg_gru_gates(tp, in[0], in[1], in[2]);
    rg_tensor *h2 = rg_gru_gates(tp, in[1], in[0], h1); /* xp and hp swapped: fan-out */
    rg_tensor *h3 = rg_gru_gates(tp, in[0], in[0], h2); /* one tensor as xp and hp */
    rg_tensor *outs[3] = {h1, h2, h3};
    finish(tp, wsum(tp, h3, &g), 3, outs, 3, in, r);
    rg_tape_free(tp);
}

static void case_softmax_ce(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 14);
    rg_tensor *in[3] = {rnd(dt, RG_DIMS(B * 7, V * 3), -4, 4, &g),
                        rnd(dt, RG_DIMS(3, 9, 5), -4, 4, &g),
                        rnd(dt, RG_DIMS(B * 7), 0.1, 2, &g)};
    rg_tensor *t = ids_below(B * 7, V * 3, &g);
    rg_tape *tp = rg_tape_new();
    rg_tensor *outs[6] = {
        rg_softmax(tp, in[0], -1),     rg_log_softmax(tp, in[0], -1), rg_softmax(tp, in[1], 1),
        rg_log_softmax(tp, in[1], 0),  rg_cross_entropy(tp, in[0], t, RG_MEAN),
        rg_cross_entropy_weighted(tp, in[0], t, in[2], RG_MEAN)};
    rg_tensor *loss = rg_add(tp, outs[4], outs[5]);
    for (int k = 0; k < 4; ++k) loss = rg_add(tp, loss, wsum(tp, outs[k], &g));
    loss = rg_add(tp, loss, rg_cross_entropy(tp, in[0], t, RG_SUM));
    finish(tp, loss, 6, outs, 3, in, r);
    rg_tape_free(tp);
    rg_tensor_free(t);
}

/* Binary ops with every broadcast kind: same shapes, a scalar on either side,
 * a row on either side, and a generic [3,1,5] x [4,1]. */
static void case_binary(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 15);
    rg_tensor *in[7] = {rnd(dt, RG_DIMS(B, H), 0.5, 2, &g), rnd(dt, RG_DIMS(B, H), 0.5, 2, &g),
                        rnd(dt, 0, NULL, 0.5, 2, &g),          rnd(dt, RG_DIMS(H), 0.5, 2, &g),
                        rnd(dt, RG_DIMS(3, 1, 5), 0.5, 2, &g),
                        rnd(dt, RG_DIMS(4, 1), 0.5, 2, &g),
                        rnd(dt, RG_DIMS(2, B, H), 0.5, 2, &g)};
    rg_tensor *(*const ops[4])(rg_tape *, rg_tensor *, rg_tensor *) = {rg_add, rg_sub, rg_mul,
                                                                         rg_div};
    const int pairs[][2] = {{0, 1}, {2, 0}, {0, 2}, {3, 0}, {0, 3}, {4, 5}, {5, 4}, {6, 3}, {3, 6}};
    rg_tape *tp = rg_tape_new();
    rg_tensor *outs[36];
    int n = 0;
    rg_tensor *loss = NULL;
    for (int o = 0; o < 4; ++o)
        for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; ++p) {
            rg_tensor *y = ops[o](tp, in[pairs[p][0]], in[pairs[p][1]]);
            outs[n++] = y;
            rg_tensor *l = wsum(tp, y, &g);
            loss = loss ? rg_add(tp, loss, l) : l;
        }
    finish(tp, loss, n, outs, 7, in, r);
    rg_tape_free(tp);
}

static void case_unary(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 16);
    rg_tensor *in[2] = {rnd(dt, RG_DIMS(B, 2 * H + 3), -6, 6, &g),
                        rnd(dt, RG_DIMS(B, 2 * H + 3), 0.1, 4, &g)};
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = in[0], *p = in[1];
    rg_tensor *outs[13] = {rg_neg(tp, x),          rg_add_scalar(tp, x, 0.3),
                           rg_mul_scalar(tp, x, -1.7), rg_pow_scalar(tp, p, 2.5),
                           rg_exp(tp, x),          rg_log(tp, p),
                           rg_sqrt(tp, p),         rg_abs(tp, x),
                           rg_tanh(tp, x),         rg_sigmoid(tp, x),
                           rg_relu(tp, x),         rg_clamp(tp, x, -2, 3),
                           rg_tanh(tp, rg_sigmoid(tp, rg_mul(tp, x, p)))};
    rg_tensor *loss = NULL;
    for (int k = 0; k < 13; ++k) {
        rg_tensor *l = wsum(tp, outs[k], &g);
        loss = loss ? rg_add(tp, loss, l) : l;
    }
    finish(tp, loss, 13, outs, 2, in, r);
    rg_tape_free(tp);
}

static void case_reduce(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 17);
    rg_tensor *in[2] = {rnd(dt, RG_DIMS(3, 7, 29), -2, 2, &g),
                        rnd(dt, RG_DIMS(1031), -2, 2, &g)};
    rg_tape *tp = rg_tape_new();
    rg_tensor *outs[8] = {rg_sum(tp, in[0]),
                          rg_mean(tp, in[1]),
                          rg_sum(tp, in[1]),
                          rg_max(tp, in[0]),
                          rg_sum_axis(tp, in[0], 1, false),
                          rg_mean_axis(tp, in[0], -1, true),
                          rg_sum_axis(tp, in[0], 0, false),
                          rg_max_axis(tp, in[0], 2, false)};
    rg_tensor *loss = rg_add(tp, rg_add(tp, outs[0], outs[1]), rg_add(tp, outs[2], outs[3]));
    for (int k = 4; k < 8; ++k) loss = rg_add(tp, loss, wsum(tp, outs[k], &g));
    finish(tp, loss, 8, outs, 2, in, r);
    rg_tape_free(tp);
}

/* linear with a bias, embedding_linear mapping the table (N >= V) and gathering
 * rows (N < V), embedding, mse, dropout. */
static void case_layers(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 18);
    rg_tensor *in[7] = {rnd(dt, RG_DIMS(B, H), -1, 1, &g),
                        rnd(dt, RG_DIMS(2 * H + 1, H), -0.5, 0.5, &g),
                        rnd(dt, RG_DIMS(2 * H + 1), -0.5, 0.5, &g),
                        rnd(dt, RG_DIMS(V, H), -1, 1, &g),
                        rnd(dt, RG_DIMS(B, 2 * H + 1), -1, 1, &g),
                        rnd(dt, RG_DIMS(V * 5, H), -1, 1, &g),
                        rnd(dt, RG_DIMS(B, H), -1, 1, &g)};
    rg_tensor *many = ids_below(4 * V, V, &g), *few = ids_below(B, V * 5, &g);
    rg_tape *tp = rg_tape_new();
    rg_rng dg;
    rg_rng_seed(&dg, 5);
    rg_tensor *lin = rg_linear(tp, in[6], in[1], NULL);
    rg_tensor *outs[8] = {rg_linear(tp, in[0], in[1], in[2]),
                          rg_embedding_linear(tp, in[3], many, in[1], in[2]),
                          rg_embedding_linear(tp, in[5], few, in[1], NULL),
                          rg_embedding(tp, in[3], many),
                          rg_dropout(tp, in[0], 0.3, &dg),
                          lin,
                          rg_mse(tp, in[4], lin, RG_MEAN),
                          rg_mse(tp, in[0], in[6], RG_SUM)};
    rg_tensor *loss = rg_add(tp, outs[6], outs[7]);
    for (int k = 0; k < 6; ++k) loss = rg_add(tp, loss, wsum(tp, outs[k], &g));
    finish(tp, loss, 8, outs, 7, in, r);
    rg_tape_free(tp);
    rg_tensor_free(many);
    rg_tensor_free(few);
}

/* Adam, AdamW and SGD (momentum, nesterov, weight decay) over a few steps with
 * random gradients, then the norm, clipping by norm and by value. */
static void case_optim(rg_dtype dt, res *r) {
    rg_optim_kind kinds[3] = {RG_ADAM, RG_ADAMW, RG_SGD};
    for (int k = 0; k < 3; ++k) {
        rg_rng g;
        rg_rng_seed(&g, 19 + (uint64_t)k);
        rg_params *P = rg_params_new();
        rg_tensor *a = rg_params_add(P, "a", dt, RG_DIMS(H, 2 * H + 1));
        rg_tensor *b = rg_params_add(P, "b", dt, RG_DIMS(3 * H));
        cr_assert(a && b, "%s", rg_last_error());
        rg_optim_config c = rg_optim_defaults(kinds[k], 1e-2);
        if (kinds[k] == RG_SGD) {
            c.momentum = 0.9;
            c.nesterov = true;
            c.weight_decay = 1e-3;
        } else if (kinds[k] == RG_ADAM) {
            c.weight_decay = 1e-3;
        }
        rg_optim *opt = rg_optim_new(P, &c);
        cr_assert(opt != NULL, "%s", rg_last_error());
        for (int step = 0; step < 4; ++step) {
            for (int q = 0; q < 2; ++q) {
                rg_tensor *p = q ? b : a;
                rg_grad(NULL, p);
                for (int64_t i = 0; i < p->numel; ++i) {
                    double v = 3 * rg_rng_uniform(&g) - 1.5;
                    if (dt == RG_F32) ((float *)p->grad)[i] = (float)v;
                    else ((double *)p->grad)[i] = v;
                }
            }
            put_v(r, rg_grad_norm(P));
            put_v(r, rg_clip_grad_norm(P, step == 1 ? 1e3 : 2.0));
            if (step == 2) cr_assert_eq(rg_clip_grad_value(P, 0.05), 0);
            put_grad(r, a);
            put_grad(r, b);
            cr_assert_eq(rg_optim_step(opt), 0, "%s", rg_last_error());
            put(r, a);
            put(r, b);
        }
        rg_optim_free(opt);
        rg_params_free(P);
    }
}

/* Two tapes with private gradients of one parameter, merged. */
static void case_private_grads(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 23);
    rg_tensor *W = rnd(dt, RG_DIMS(H, 3 * H), -1, 1, &g);
    rg_tensor *x = rg_uniform(NULL, dt, RG_DIMS(B, H), -1, 1, &g);
    for (int k = 0; k < 2; ++k) {
        rg_tape *tp = rg_tape_new();
        cr_assert_eq(rg_tape_set_private_grads(tp, true), 0);
        rg_tensor *y = rg_tanh(tp, rg_matmul(tp, x, W));
        cr_assert_eq(rg_backward(tp, wsum(tp, y, &g)), 0, "%s", rg_last_error());
        cr_assert_eq(rg_tape_reduce_grads(tp), 0, "%s", rg_last_error());
        put(r, y);
        rg_tape_free(tp);
    }
    put_grad(r, W);
    rg_tensor_free(W);
    rg_tensor_free(x);
}

/* The built-in GEMM, every transpose pair, alpha and beta, sizes across the
 * 256-wide blocking of K. */
static void case_gemm(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 29);
    const int64_t M = 13, N = 37, K = 301;
    double *A = malloc(sizeof(double) * M * K), *Bm = malloc(sizeof(double) * K * N),
           *C = malloc(sizeof(double) * M * N);
    float *Af = malloc(sizeof(float) * M * K), *Bf = malloc(sizeof(float) * K * N),
          *Cf = malloc(sizeof(float) * M * N);
    cr_assert(A && Bm && C && Af && Bf && Cf);
    for (int64_t i = 0; i < M * K; ++i) Af[i] = (float)(A[i] = rg_rng_uniform(&g) - 0.5);
    for (int64_t i = 0; i < K * N; ++i) Bf[i] = (float)(Bm[i] = rg_rng_uniform(&g) - 0.5);
    for (int t = 0; t < 4; ++t) {
        bool ta = t & 1, tb = t & 2;
        for (int64_t i = 0; i < M * N; ++i) Cf[i] = (float)(C[i] = 0.25 * (double)(i % 7));
        if (dt == RG_F32) {
            rg_gemm_builtin_f32(ta, tb, M, N, K, 1.5f, Af, ta ? M : K, Bf, tb ? K : N,
                                t == 3 ? 0.0f : 0.5f, Cf, N);
            for (int64_t i = 0; i < M * N; ++i) put_v(r, Cf[i]);
        } else {
            rg_gemm_builtin_f64(ta, tb, M, N, K, 1.5, A, ta ? M : K, Bm, tb ? K : N,
                                t == 3 ? 0.0 : 0.5, C, N);
            for (int64_t i = 0; i < M * N; ++i) put_v(r, C[i]);
        }
    }
    free(A), free(Bm), free(C), free(Af), free(Bf), free(Cf);
}

/* Sums wsum(t) over the n tensors of ts into loss (NULL: starts a sum). */
static rg_tensor *add_wsums(rg_tape *tp, rg_tensor *loss, int n, rg_tensor **ts, rg_rng *g) {
    for (int k = 0; k < n; ++k) {
        rg_tensor *l = ts[k]->numel == 1 ? ts[k] : wsum(tp, ts[k], g);
        loss = loss ? rg_add(tp, loss, l) : l;
    }
    return loss;
}

/* t's values rounded to halves, so that two such tensors tie in places. */
static void halves(rg_tensor *t) {
    for (int64_t i = 0; i < t->numel; ++i) rg_set(t, i, floor(2 * rg_get(t, i)) / 2);
}

/* The activations of ops/activation.c, both branches of every piecewise one
 * (softplus past its threshold, leaky_relu and elu on either sign). */
static void case_activation(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 31);
    rg_tensor *in[2] = {rnd(dt, RG_DIMS(B, 2 * H + 3), -6, 6, &g),
                        rnd(dt, RG_DIMS(B, 2 * H + 3), -0.9, 4, &g)};
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = in[0], *p = in[1];
    rg_tensor *outs[13] = {rg_softplus(tp, x, 1, 20),   rg_softplus(tp, x, 0.5, 2),
                           rg_log_sigmoid(tp, x),       rg_log1p(tp, p),
                           rg_expm1(tp, x),             rg_sin(tp, x),
                           rg_cos(tp, x),               rg_leaky_relu(tp, x, 0.1),
                           rg_elu(tp, x, 1.3),          rg_gelu(tp, x),
                           rg_erf(tp, x),               rg_rsub_scalar(tp, x, 1),
                           rg_gelu(tp, rg_elu(tp, rg_mul(tp, x, p), 0.7))};
    finish(tp, add_wsums(tp, NULL, 13, outs, &g), 13, outs, 2, in, r);
    rg_tape_free(tp);
}

/* maximum and minimum (RG_BC_FOR of ops/broadcast.h) with every broadcast
 * shape and ties: same shapes, a scalar and a row on either side, [3,1,5] x
 * [4,1], and one tensor on both sides (one gradient buffer added to twice). */
static void case_minmax(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 32);
    rg_tensor *in[6] = {rnd(dt, RG_DIMS(B, H), -2, 2, &g), rnd(dt, RG_DIMS(B, H), -2, 2, &g),
                        rnd(dt, 0, NULL, -1, 1, &g),      rnd(dt, RG_DIMS(H), -2, 2, &g),
                        rnd(dt, RG_DIMS(3, 1, 5), -2, 2, &g),
                        rnd(dt, RG_DIMS(4, 1), -2, 2, &g)};
    for (int k = 0; k < 6; ++k) halves(in[k]);
    rg_tensor *(*const ops[2])(rg_tape *, rg_tensor *, rg_tensor *) = {rg_maximum, rg_minimum};
    const int pairs[][2] = {{0, 1}, {2, 0}, {0, 2}, {3, 0}, {0, 3}, {4, 5}, {5, 4}, {1, 1}};
    enum { NP = sizeof pairs / sizeof pairs[0] };
    rg_tape *tp = rg_tape_new();
    rg_tensor *outs[2 * NP];
    int n = 0;
    for (int o = 0; o < 2; ++o)
        for (int q = 0; q < NP; ++q) outs[n++] = ops[o](tp, in[pairs[q][0]], in[pairs[q][1]]);
    finish(tp, add_wsums(tp, NULL, n, outs, &g), n, outs, 6, in, r);
    rg_tape_free(tp);
}

/* layer_norm and rms_norm of ops/norm.c, with and without weight and bias,
 * over [B*3,H] and [2,B,H]. */
static void case_norm(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 33);
    rg_tensor *in[4] = {rnd(dt, RG_DIMS(B * 3, H), -3, 3, &g),
                        rnd(dt, RG_DIMS(2, B, H), -1, 5, &g), rnd(dt, RG_DIMS(H), 0.5, 1.5, &g),
                        rnd(dt, RG_DIMS(H), -0.5, 0.5, &g)};
    rg_tensor *x = in[0], *x3 = in[1], *w = in[2], *b = in[3];
    rg_tape *tp = rg_tape_new();
    rg_tensor *outs[7] = {rg_layer_norm(tp, x, w, b, 1e-5),
                          rg_layer_norm(tp, x, NULL, NULL, 1e-5),
                          rg_layer_norm(tp, x3, w, NULL, 0.1),
                          rg_layer_norm(tp, x3, NULL, b, 0),
                          rg_rms_norm(tp, x, w, 1e-6),
                          rg_rms_norm(tp, x3, NULL, 1e-6),
                          rg_rms_norm(tp, rg_layer_norm(tp, x, w, b, 1e-5), w, 1e-6)};
    finish(tp, add_wsums(tp, NULL, 7, outs, &g), 7, outs, 4, in, r);
    rg_tape_free(tp);
}

/* The losses of ops/loss.c with every reduction: bce_with_logits (with and
 * without weights), huber, smooth_l1 (beta > 0 and L1's beta 0), l1 and nll;
 * one tensor on both sides of huber (a and b share a gradient buffer). */
static void case_losses(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 34);
    rg_tensor *in[5] = {rnd(dt, RG_DIMS(B, H), -4, 4, &g), rnd(dt, RG_DIMS(B, H), 0, 1, &g),
                        rnd(dt, RG_DIMS(B, H), 0.1, 2, &g), rnd(dt, RG_DIMS(B, H), -4, 4, &g),
                        rnd(dt, RG_DIMS(B * 7, V * 3), -4, 4, &g)};
    rg_tensor *a = in[0], *t = in[1], *w = in[2], *b = in[3];
    rg_tensor *ids = ids_below(B * 7, V * 3, &g);
    rg_tape *tp = rg_tape_new();
    rg_tensor *logp = rg_log_softmax(tp, in[4], -1);
    const rg_reduction reds[3] = {RG_MEAN, RG_SUM, RG_NONE};
    rg_tensor *outs[24];
    int n = 0;
    for (int k = 0; k < 3; ++k) {
        rg_reduction red = reds[k];
        outs[n++] = rg_bce_with_logits(tp, a, t, NULL, red);
        outs[n++] = rg_bce_with_logits(tp, a, t, w, red);
        outs[n++] = rg_huber(tp, a, b, 1.5, red);
        outs[n++] = rg_huber(tp, b, b, 1.0, red);
        outs[n++] = rg_smooth_l1(tp, a, b, 0.7, red);
        outs[n++] = rg_smooth_l1(tp, b, a, 0, red);
        outs[n++] = rg_l1(tp, a, b, red);
        outs[n++] = rg_nll(tp, logp, ids, red);
    }
    finish(tp, add_wsums(tp, NULL, n, outs, &g), n, outs, 5, in, r);
    rg_tape_free(tp);
    rg_tensor_free(ids);
}

/* cumsum and logcumsumexp of ops/scan.c along every axis of [3,7,29], on a
 * rank-0 tensor, and logcumsumexp over entries of -inf (a leading run, one in
 * the middle, a whole row). */
static void case_scan(rg_dtype dt, res *r) {
    rg_rng g;
    rg_rng_seed(&g, 35);
    rg_tensor *in[3] = {rnd(dt, RG_DIMS(3, 7, 29), -3, 3, &g), rnd(dt, 0, NULL, -1, 1, &g),
                        rnd(dt, RG_DIMS(4, 9), -30, 30, &g)};
    const int64_t ninf[] = {0, 1, 2, 13, 27, 28, 29, 30, 31, 32, 33, 34, 35};
    for (size_t k = 0; k < sizeof ninf / sizeof ninf[0]; ++k) rg_set(in[2], ninf[k], -INFINITY);
    rg_tensor *x = in[0];
    rg_tape *tp = rg_tape_new();
    rg_tensor *outs[10] = {rg_cumsum(tp, x, 0),       rg_cumsum(tp, x, 1),
                           rg_cumsum(tp, x, -1),      rg_cumsum(tp, in[1], 0),
                           rg_logcumsumexp(tp, x, 0), rg_logcumsumexp(tp, x, 1),
                           rg_logcumsumexp(tp, x, 2), rg_logcumsumexp(tp, in[1], -1),
                           rg_logcumsumexp(tp, rg_cumsum(tp, x, 2), 2),
                           rg_logcumsumexp(tp, in[2], 1)};
    /* the last output holds -inf: its exponential keeps the loss finite */
    rg_tensor *loss = add_wsums(tp, wsum(tp, rg_exp(tp, outs[9]), &g), 9, outs, &g);
    finish(tp, loss, 10, outs, 3, in, r);
    rg_tape_free(tp);
}

/* ---- the comparison ---------------------------------------------------------- */

/* Runs the case with the baseline kernels and with every other variant the
 * machine runs; every value within atol + rtol |baseline|. */
static void compare_variants(const char *name, case_fn fn) {
    for (int d = 0; d < 2; ++d) {
        rg_dtype dt = d ? RG_F64 : RG_F32;
        double atol = d ? 1e-12 : 1e-6, rtol = d ? 1e-12 : 2e-6;
        const char *base = rg_cpu_variant(0);
        cr_assert(base != NULL);
        cr_assert_eq(rg_cpu_force(base), 0, "%s", rg_last_error());
        res want = {0};
        fn(dt, &want);
        cr_assert_gt(want.n, 0);
        for (int k = 1; rg_cpu_variant(k); ++k) {
            const char *v = rg_cpu_variant(k);
            cr_assert_eq(rg_cpu_force(v), 0, "%s", rg_last_error());
            cr_assert_str_eq(rg_cpu_kernels(), v);
            res got = {0};
            fn(dt, &got);
            cr_assert_eq(got.n, want.n, "%s %s: %lld values, baseline %lld", name, v,
                         (long long)got.n, (long long)want.n);
            int64_t differ = 0, worst = -1;
            double worst_ratio = 0;
            for (int64_t i = 0; i < want.n; ++i) {
                double a = got.v[i], b = want.v[i];
                if (a == b || (isnan(a) && isnan(b))) continue;
                ++differ;
                double ratio = fabs(a - b) / (atol + rtol * fabs(b));
                if (!(ratio <= worst_ratio)) worst_ratio = ratio, worst = i;
            }
            cr_log_info("%s %s %s vs %s: %lld values, %lld not bit-identical, worst %.3g of "
                        "the tolerance", name, d ? "f64" : "f32", v, base,
                        (long long)want.n, (long long)differ, worst_ratio);
            cr_expect(worst_ratio <= 1, "%s %s %s: value %lld is %.17g, baseline %.17g", name,
                      d ? "f64" : "f32", v, (long long)worst, worst >= 0 ? got.v[worst] : 0,
                      worst >= 0 ? want.v[worst] : 0);
            free(got.v);
        }
        free(want.v);
    }
    cr_assert_eq(rg_cpu_force(NULL), 0);
}

Test(dispatch, variants_listed_and_forced) {
    const char *best = rg_cpu_kernels();
    cr_assert(best != NULL);
    int n = 0;
    while (rg_cpu_variant(n)) ++n;
    cr_assert_geq(n, 1);
    cr_assert_str_eq(rg_cpu_variant(n - 1), best, "the library starts with the best variant");
    cr_assert_null(rg_cpu_variant(-1));
    cr_log_info("kernel variants: %d, best %s, OpenBLAS core %s", n, best, rg_blas_core());
    for (int k = 0; k < n; ++k) {
        cr_assert_eq(rg_cpu_force(rg_cpu_variant(k)), 0, "%s", rg_last_error());
        cr_assert_str_eq(rg_cpu_kernels(), rg_cpu_variant(k));
    }
    cr_assert_eq(rg_cpu_force("auto"), 0);
    cr_assert_str_eq(rg_cpu_kernels(), best);
    cr_assert_eq(rg_cpu_force("sse9"), -1);
    cr_assert(strstr(rg_last_error(), "rg_cpu_force") && strstr(rg_last_error(), "sse9"), "%s",
              rg_last_error());
    cr_assert_str_eq(rg_cpu_kernels(), best, "a refused name changes nothing");
}

Test(dispatch, lstm_cell) { compare_variants("lstm_cell", case_lstm_cell); }
Test(dispatch, lstm_gates_and_cell_rows) {
    compare_variants("lstm_gates+rows", case_lstm_gates_and_rows);
}
Test(dispatch, gru_gates) { compare_variants("gru_gates", case_gru); }
Test(dispatch, softmax_cross_entropy) { compare_variants("softmax+ce", case_softmax_ce); }
Test(dispatch, binary_broadcast) { compare_variants("binary", case_binary); }
Test(dispatch, unary) { compare_variants("unary", case_unary); }
Test(dispatch, reductions) { compare_variants("reduce", case_reduce); }
Test(dispatch, linear_embedding_mse_dropout) { compare_variants("layers", case_layers); }
Test(dispatch, optimizers_and_clipping) { compare_variants("optim", case_optim); }
Test(dispatch, private_grads_merge) { compare_variants("private_grads", case_private_grads); }
Test(dispatch, builtin_gemm) { compare_variants("gemm", case_gemm); }
Test(dispatch, activations) { compare_variants("activation", case_activation); }
Test(dispatch, maximum_minimum_broadcast) { compare_variants("minmax", case_minmax); }
Test(dispatch, layer_rms_norm) { compare_variants("norm", case_norm); }
Test(dispatch, losses) { compare_variants("losses", case_losses); }
Test(dispatch, scans) { compare_variants("scan", case_scan); }
