/* A cell the library does not have -- an LSTM with peephole connections (Gers &
 * Schmidhuber 2000) -- written with public ops only, through the public cell
 * interface, then unrolled, stacked, trained on the "adding problem" and
 * gradient-checked, with no change to the library.  (The same cell is in the
 * cell plugin, examples/cell_plugin.c, for charlm --cell-lib and the
 * custom-cell benchmark.)
 *
 *   i  = sigmoid(W_i x + U_i h + p_i * c  + b_i)
 *   f  = sigmoid(W_f x + U_f h + p_f * c  + b_f)
 *   g  = tanh   (W_g x + U_g h            + b_g)
 *   c' = f * c + i * g
 *   o  = sigmoid(W_o x + U_o h + p_o * c' + b_o)
 *   h' = o * tanh(c')
 *
 * Adding problem: each step reads (a value in [0,1), a 0/1 marker); exactly two
 * steps are marked; the target is the sum of the two marked values, read from
 * the last step's output.  Predicting the mean gives an MSE of about 0.17. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "retrograd.h"

/* ---- the cell --------------------------------------------------------------- */

/* Parameters: PyTorch's four LSTM tensors (roles weight_ih, weight_hh, bias_ih,
 * bias_hh) plus three peephole vectors [H] of the cell's own roles weight_ci,
 * weight_cf, weight_co.  Names: "<prefix>.weight_ci<suffix>" etc. */
static int peephole_init(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                         rg_rng *rng)
{
    if (rg_cell_add_standard(c, P, prefix, suffix, 4, rng) != 0)
        return -1;
    const char *peep[3] = {"weight_ci", "weight_cf", "weight_co"};
    for (int k = 0; k < 3; k++)
        if (!rg_cell_param(c, P, prefix, peep[k], suffix, RG_DIMS(c->H), rng))
            return -1;
    return 0;
}

/* xp [B,4H]: this step's rows of x W_ih^T + b_ih (the project hook below made
 * them for all steps at once); state {h, c} each [B,H]. */
static int peephole_step(rg_tape *tp, const rg_cell *c, rg_tensor *xp, rg_tensor *const *in,
                         rg_tensor **out)
{
    rg_tensor *h = in[0], *cs = in[1], *g4[4];
    rg_tensor *p_i = rg_cell_get(c, "weight_ci"), *p_f = rg_cell_get(c, "weight_cf");
    rg_tensor *p_o = rg_cell_get(c, "weight_co");
    rg_tensor *gates = rg_add(tp, xp, rg_linear(tp, h, c->weight_hh, c->bias_hh));
    if (!gates || rg_split(tp, gates, 1, 4, g4) != 0)
        return -1;
    /* p * c broadcasts [H] against [B,H] */
    rg_tensor *i = rg_sigmoid(tp, rg_add(tp, g4[0], rg_mul(tp, p_i, cs)));
    rg_tensor *f = rg_sigmoid(tp, rg_add(tp, g4[1], rg_mul(tp, p_f, cs)));
    rg_tensor *g = rg_tanh(tp, g4[2]);
    rg_tensor *c1 = rg_add(tp, rg_mul(tp, f, cs), rg_mul(tp, i, g));
    rg_tensor *o = rg_sigmoid(tp, rg_add(tp, g4[3], rg_mul(tp, p_o, c1)));
    out[0] = rg_mul(tp, o, rg_tanh(tp, c1));
    out[1] = c1;
    return out[0] ? 0 : -1;
}

static const rg_cell_type peephole_lstm = {
    .name = "peephole_lstm",
    .n_state = 2,
    .gates = 4,
    .init = peephole_init,
    .project = rg_cell_project_standard, /* optional: inputs of all steps in one matmul */
    .step = peephole_step,
};

/* ---- the model: peephole LSTM stack + linear head --------------------------- */

typedef struct model {
    rg_params *P;
    rg_seq *rnn;
    rg_linear_layer head;
} model;

static int model_init(model *m, int layers, bool bi, int64_t I, int64_t H, rg_dtype dt,
                      rg_rng *rng)
{
    m->P = rg_params_new();
    rg_seq_config cfg = {.cell = &peephole_lstm, .input_size = I, .hidden_size = H,
                         .num_layers = layers, .bidirectional = bi, .dtype = dt};
    m->rnn = m->P ? rg_seq_new(m->P, "rnn", &cfg, rng) : NULL;
    if (!m->rnn)
        return -1;
    return rg_linear_layer_init(&m->head, m->P, "head", (bi ? 2 : 1) * H, 1, true, dt, rng);
}

static void model_free(model *m)
{
    rg_seq_free(m->rnn);
    rg_params_free(m->P);
}

/* x [T,B,2] -> prediction [B,1] from the last step's output */
static rg_tensor *model_forward(rg_tape *tp, const model *m, rg_tensor *x)
{
    rg_tensor *out = rg_seq_forward_ex(tp, m->rnn, x, NULL);
    if (!out)
        return NULL;
    int64_t T = out->shape[0], B = out->shape[1], W = out->shape[2];
    rg_tensor *last = rg_reshape(tp, rg_slice(tp, out, 0, T - 1, 1), RG_DIMS(B, W));
    return rg_linear_layer_forward(tp, &m->head, last);
}

/* A batch of the adding problem: x [T,B,2], y [B,1]. */
static void adding_batch(rg_tape *tp, rg_dtype dt, int64_t T, int64_t B, rg_rng *r,
                         rg_tensor **x, rg_tensor **y)
{
    *x = rg_zeros(tp, dt, RG_DIMS(T, B, 2));
    *y = rg_zeros(tp, dt, RG_DIMS(B, 1));
    for (int64_t b = 0; b < B; b++) {
        int64_t t1 = rg_rng_below(r, T), t2 = rg_rng_below(r, T - 1);
        if (t2 >= t1)
            t2++;
        double sum = 0;
        for (int64_t t = 0; t < T; t++) {
            double v = rg_rng_uniform(r);
            rg_set(*x, (t * B + b) * 2, v);
            if (t == t1 || t == t2) {
                rg_set(*x, (t * B + b) * 2 + 1, 1.0);
                sum += v;
            }
        }
        rg_set(*y, b, sum);
    }
}

/* ---- gradient check of a small float64 stack of the same cell ----------------- */

typedef struct gc_data {
    model *m;
    rg_tensor *x, *y;
} gc_data;

static rg_tensor *gc_loss(rg_tape *tp, rg_tensor *const *in, int n, void *user)
{
    gc_data *d = user;
    return rg_mse(tp, model_forward(tp, d->m, d->x), d->y, RG_MEAN);
}

static int gradcheck(void)
{
    rg_rng r;
    rg_rng_seed(&r, 2);
    model m;
    if (model_init(&m, 2, true, 2, 3, RG_F64, &r) != 0) {
        fprintf(stderr, "%s\n", rg_last_error());
        return -1;
    }
    rg_tensor *x, *y;
    adding_batch(NULL, RG_F64, 5, 2, &r, &x, &y);
    gc_data d = {&m, x, y};
    rg_tensor *in[64];
    int n = 0;
    for (int i = 0; i < rg_params_count(m.P); i++)
        in[n++] = rg_params_at(m.P, i, NULL);
    rg_gradcheck_opts o;
    rg_gradcheck_defaults(&o);
    rg_gradcheck_result res;
    int rc = rg_gradcheck(gc_loss, n, in, &d, &o, &res);
    if (rc == 0)
        printf("gradcheck, 2-layer bidirectional peephole LSTM (float64, %lld parameters): "
               "max rel err %.2e  %s\n",
               (long long)res.n_checked, res.max_rel_err, res.pass ? "PASS" : "FAIL");
    else
        fprintf(stderr, "gradcheck: %s\n", rg_last_error());
    rg_tensor_free(x);
    rg_tensor_free(y);
    model_free(&m);
    return rc == 0 && res.pass ? 0 : -1;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 500;
    const int64_t T = 12, B = 32, H = 24;
    rg_rng r;
    rg_rng_seed(&r, 1);
    model m;
    if (model_init(&m, 1, false, 2, H, RG_F32, &r) != 0) {
        fprintf(stderr, "%s\n", rg_last_error());
        return 1;
    }
    printf("peephole LSTM, %d parameter tensors, %lld values:\n", rg_params_count(m.P),
           (long long)rg_params_numel(m.P));
    for (int i = 0; i < rg_params_count(m.P); i++) {
        const char *name;
        char s[64];
        rg_tensor *p = rg_params_at(m.P, i, &name);
        printf("  %-22s %s\n", name, rg_shape_str(p, s, sizeof s));
    }
    rg_optim_config oc = rg_optim_defaults(RG_ADAM, 1e-2);
    rg_optim *opt = rg_optim_new(m.P, &oc);
    rg_tape *tp = rg_tape_new();
    if (!opt || !tp) {
        fprintf(stderr, "%s\n", rg_last_error());
        return 1;
    }
    printf("adding problem, T=%lld, batch %lld (predicting the mean: MSE ~0.17)\n",
           (long long)T, (long long)B);
    double avg = 0;
    for (int step = 1; step <= steps; step++) {
        rg_tape_reset(tp);
        rg_tensor *x, *y;
        adding_batch(tp, RG_F32, T, B, &r, &x, &y);
        rg_tensor *loss = rg_mse(tp, model_forward(tp, &m, x), y, RG_MEAN);
        rg_params_zero_grad(m.P);
        if (!loss || rg_backward(tp, loss) != 0) {
            fprintf(stderr, "%s\n", rg_last_error());
            return 1;
        }
        rg_clip_grad_norm(m.P, 1.0);
        rg_optim_step(opt);
        avg += rg_get(loss, 0);
        if (step % 50 == 0) {
            printf("  step %4d  mse %.4f\n", step, avg / 50);
            avg = 0;
        }
    }
    rg_tape_free(tp);
    rg_optim_free(opt);
    model_free(&m);
    int rc = gradcheck();
    return rc == 0 ? 0 : 1;
}
