/* Vanishing and exploding gradients, measured: the norm of d loss / d h_0
 * against the number of steps T for a tanh RNN and an LSTM (PyTorch's default
 * initialisation), then an RNN with large recurrent weights whose gradient
 * explodes, and the same training run with and without clipping by global norm.
 *
 *   loss = sum(w * h_T)   (w fixed and random; h_T the last hidden state) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "retrograd.h"

enum { I = 8, H = 32 };
#define GAIN 1.5 /* recurrent gain of the training runs */
#define LR 0.01

typedef struct net {
    rg_params *P;
    rg_seq *rnn;
} net;

static int net_init(net *n, const rg_cell_type *cell, uint64_t seed)
{
    rg_rng r;
    rg_rng_seed(&r, seed);
    n->P = rg_params_new();
    rg_seq_config cfg = {.cell = cell, .input_size = I, .hidden_size = H, .num_layers = 1,
                         .dtype = RG_F64};
    n->rnn = n->P ? rg_seq_new(n->P, "rnn", &cfg, &r) : NULL;
    return n->rnn ? 0 : -1;
}

static void net_free(net *n)
{
    rg_seq_free(n->rnn);
    rg_params_free(n->P);
}

/* Sets weight_hh to gain * Q, Q a random matrix with N(0, 1/H) entries (its
 * spectral radius is about 1, so the recurrence scales by about gain). */
static void set_recurrent_gain(net *n, double gain, uint64_t seed)
{
    rg_rng r;
    rg_rng_seed(&r, seed);
    rg_tensor *W = rg_params_get(n->P, "rnn.weight_hh_l0");
    for (int64_t i = 0; i < W->numel; i++)
        rg_set(W, i, gain * rg_rng_normal(&r) / sqrt((double)H));
}

static double norm2(const rg_tensor *t)
{
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++)
        s += rg_grad_get(t, i) * rg_grad_get(t, i);
    return sqrt(s);
}

/* Builds loss = sum(w * h_T) over T steps of inputs drawn from seed (x_scale
 * times U(-1,1)), starting from h0 (and c0 for an LSTM, both persistent). */
static rg_tensor *run(rg_tape *tp, const net *n, int64_t T, double x_scale, rg_tensor **init,
                      uint64_t seed)
{
    rg_rng r;
    rg_rng_seed(&r, seed);
    rg_tensor *x = rg_uniform(tp, RG_F64, RG_DIMS(T, 1, I), -x_scale, x_scale, &r);
    rg_tensor *w = rg_uniform(tp, RG_F64, RG_DIMS(1, 1, H), -1, 1, &r);
    rg_tensor *fin[2];
    if (!rg_seq_forward_ex(tp, n->rnn, x, &(rg_seq_opts){.init = init, .final = fin}))
        return NULL;
    return rg_sum(tp, rg_mul(tp, fin[0], w));
}

/* ||d loss / d h_0|| after T steps. */
static double grad_h0(rg_tape *tp, net *n, int64_t T, double x_scale)
{
    rg_rng r;
    rg_rng_seed(&r, 7);
    rg_tensor *init[2] = {rg_uniform(NULL, RG_F64, RG_DIMS(1, 1, H), -0.5, 0.5, &r),
                          rg_uniform(NULL, RG_F64, RG_DIMS(1, 1, H), -0.5, 0.5, &r)};
    rg_set_requires_grad(init[0], true);
    rg_tape_reset(tp);
    rg_tensor *loss = run(tp, n, T, x_scale, init, 100);
    double g = NAN;
    if (loss && rg_backward(tp, loss) == 0)
        g = norm2(init[0]);
    else
        fprintf(stderr, "%s\n", rg_last_error());
    rg_tensor_free(init[0]);
    rg_tensor_free(init[1]);
    return g;
}

/* SGD on loss = (sum(w * h_T) - 1)^2 for one fixed sequence, with a ReLU RNN
 * whose recurrent weights are large (nothing saturates, so the gradient grows
 * like GAIN^T); prints the global gradient norm (before clipping) and the
 * loss.  clip <= 0: no clipping. */
static void train(double clip)
{
    net n;
    if (net_init(&n, &rg_cell_rnn_relu, 3) != 0)
        return;
    set_recurrent_gain(&n, GAIN, 4);
    rg_optim_config oc = rg_optim_defaults(RG_SGD, LR);
    rg_optim *opt = rg_optim_new(n.P, &oc);
    rg_tape *tp = rg_tape_new();
    printf("\nReLU RNN, SGD, lr %g, T=30, recurrent gain %g, %s\n", LR, GAIN,
           clip > 0 ? "gradients clipped to global norm 1" : "no clipping");
    printf("  step   grad norm      loss\n");
    for (int step = 0; step <= 60; step++) {
        rg_tape_reset(tp);
        rg_params_zero_grad(n.P);
        rg_tensor *y = run(tp, &n, 30, 1.0, NULL, 200);
        rg_tensor *loss = rg_pow_scalar(tp, rg_add_scalar(tp, y, -1.0), 2.0);
        if (!loss || rg_backward(tp, loss) != 0) {
            fprintf(stderr, "%s\n", rg_last_error());
            break;
        }
        double gn = clip > 0 ? rg_clip_grad_norm(n.P, clip) : rg_grad_norm(n.P);
        bool bad = !isfinite(gn) || !isfinite(rg_get(loss, 0));
        if (step % 10 == 0 || bad)
            printf("  %4d  %10.3e  %10.4g\n", step, gn, rg_get(loss, 0));
        if (bad) {
            printf("  diverged at step %d\n", step);
            break;
        }
        rg_optim_step(opt);
    }
    rg_tape_free(tp);
    rg_optim_free(opt);
    net_free(&n);
}

int main(void)
{
    static const int64_t Ts[] = {1, 5, 10, 20, 50, 100};
    rg_tape *tp = rg_tape_new();
    net rnn, lstm, lstm1, big;
    if (!tp || net_init(&rnn, &rg_cell_rnn_tanh, 1) != 0 ||
        net_init(&lstm, &rg_cell_lstm, 1) != 0 || net_init(&lstm1, &rg_cell_lstm, 1) != 0 || net_init(&big, &rg_cell_rnn_tanh, 1) != 0) {
        fprintf(stderr, "%s\n", rg_last_error());
        return 1;
    }
    set_recurrent_gain(&big, 3.0, 2);
    /* the usual LSTM remedy: a forget-gate bias of 1 keeps c flowing */
    rg_tensor *bf = rg_params_get(lstm1.P, "rnn.bias_ih_l0");
    for (int64_t i = H; i < 2 * H; i++)
        rg_set(bf, i, 1.0);
    printf("||d loss / d h_0|| after T steps (H=%d, PyTorch's default init)\n", H);
    printf("     T    tanh RNN        LSTM  LSTM, f bias 1  RNN, gain 3\n");
    for (size_t k = 0; k < sizeof Ts / sizeof Ts[0]; k++)
        printf("  %4lld  %10.3e  %10.3e      %10.3e   %10.3e\n", (long long)Ts[k],
               grad_h0(tp, &rnn, Ts[k], 1.0), grad_h0(tp, &lstm, Ts[k], 1.0),
               grad_h0(tp, &lstm1, Ts[k], 1.0),
               grad_h0(tp, &big, Ts[k], 0.01));
    net_free(&rnn);
    net_free(&lstm);
    net_free(&lstm1);
    net_free(&big);
    rg_tape_free(tp);
    train(0);
    train(1.0);
    return 0;
}
