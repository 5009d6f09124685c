/* A cell plugin: recurrent cells that the library does not have, in a
 * shared object that charlm and wordlm load with --cell-lib, then train, save,
 * resume, evaluate, sample, gradient-check and draw like the built-in cells.
 *
 *   ninja -C build            (builds build/examples/cell_plugin.so)
 *   charlm train --cell-lib build/examples/cell_plugin.so --cell mingru ...
 *
 * The one entry point is rg_plugin_register (RG_PLUGIN_ENTRY), which registers
 * the cells by name; the plugin is built without linking retrograd and calls
 * the library of the program that loads it.  Only public ops are used.
 *
 * mingru (Feng et al. 2024, "Were RNNs all we needed?"): no hidden-to-hidden
 * weights, so its whole input side is one projection of all steps at once.
 *   [z~ h~] = x W_ih^T + b_ih          W_ih [2H,I], b_ih [2H]  (2 gate blocks)
 *   z = sigmoid(z~);  h' = (1 - z) * h + z * h~ = h + z * (h~ - h)
 *
 * ln_lstm (Ba et al. 2016, layer normalisation in an LSTM):
 *   a  = LN(x W_ih^T; g_ih) + LN(h W_hh^T; g_hh) + bias        [B,4H], gates i,f,g,o
 *   c' = sigmoid(f) * c + sigmoid(i) * tanh(g);  h' = sigmoid(o) * tanh(LN(c'; g_c, b_c))
 *   LN(v; g, b) = (v - mean(v)) / sqrt(var(v) + 1e-5) * g + b over the last axis,
 *   written with mean, sub, mul and pow.  ln_lstm_fused is the same cell with
 *   rg_layer_norm, the op table's fused row (one entry per normalisation).
 *   Its input projection is rg_cell_project_standard: the cell has a weight_ih
 *   but no bias_ih, so the projection is x W_ih^T, found by role.
 *
 * peephole_lstm (Gers & Schmidhuber 2000; examples/custom_cell.c trains it):
 *   i = sigmoid(xi + hi + p_i * c);  f = sigmoid(xf + hf + p_f * c);  g = tanh(xg + hg)
 *   c' = f * c + i * g;  o = sigmoid(xo + ho + p_o * c');  h' = o * tanh(c')
 *   with [xi xf xg xo] = x W_ih^T + b_ih, [hi hf hg ho] = h W_hh^T + b_hh (PyTorch's
 *   four LSTM tensors) and peephole vectors p_i, p_f, p_o [H].
 *
 * They, with the composed LSTM and GRU, are the user cells of the
 * custom-cell benchmark (bench/run_custom_cells.sh: bench_charlm --cell-lib
 * next to their PyTorch twins in bench/torch_custom_cells.py). */
#include "retrograd.h"

/* ---- mingru -------------------------------------------------------------------- */

static int mingru_init(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                       rg_rng *rng)
{
    rg_tensor *W = rg_cell_param(c, P, prefix, "weight_ih", suffix, RG_DIMS(2 * c->H, c->I), rng);
    rg_tensor *b = rg_cell_param(c, P, prefix, "bias_ih", suffix, RG_DIMS(2 * c->H), rng);
    if (!W || !b)
        return -1;
    return rg_init_xavier_uniform(W, 1.0, rng); /* the bias keeps U(-1/sqrt(H), 1/sqrt(H)) */
}

/* xp [B,2H]: this step's rows of x W_ih^T + b_ih; h [B,H] */
static int mingru_step(rg_tape *tp, const rg_cell *c, rg_tensor *xp, rg_tensor *const *in,
                       rg_tensor **out)
{
    rg_tensor *zh[2], *h = in[0];
    if (rg_split(tp, xp, 1, 2, zh) != 0)
        return -1;
    rg_tensor *z = rg_sigmoid(tp, zh[0]);
    out[0] = rg_add(tp, h, rg_mul(tp, z, rg_sub(tp, zh[1], h)));
    return out[0] ? 0 : -1;
}

static const rg_cell_type mingru = {
    .name = "mingru",
    .n_state = 1,
    .gates = 2,
    .init = mingru_init,
    .project = rg_cell_project_standard,
    .step = mingru_step,
};

/* ---- ln_lstm ------------------------------------------------------------------- */

/* LN over the last axis of v [B,K], times g [K], plus b [K] (b may be NULL) */
static rg_tensor *layer_norm(rg_tape *tp, rg_tensor *v, rg_tensor *g, rg_tensor *b)
{
    rg_tensor *d = rg_sub(tp, v, rg_mean_axis(tp, v, 1, true));
    rg_tensor *var = rg_mean_axis(tp, rg_mul(tp, d, d), 1, true);
    rg_tensor *n = rg_mul(tp, d, rg_pow_scalar(tp, rg_add_scalar(tp, var, 1e-5), -0.5));
    rg_tensor *y = rg_mul(tp, n, g);
    return b ? rg_add(tp, y, b) : y;
}

static int ln_lstm_init(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                        rg_rng *rng)
{
    int64_t H = c->H, G = 4 * H;
    rg_tensor *W_ih = rg_cell_param(c, P, prefix, "weight_ih", suffix, RG_DIMS(G, c->I), rng);
    rg_tensor *W_hh = rg_cell_param(c, P, prefix, "weight_hh", suffix, RG_DIMS(G, H), rng);
    rg_tensor *bias = rg_cell_param(c, P, prefix, "bias", suffix, RG_DIMS(G), rng);
    rg_tensor *g_ih = rg_cell_param(c, P, prefix, "ln_ih_weight", suffix, RG_DIMS(G), rng);
    rg_tensor *g_hh = rg_cell_param(c, P, prefix, "ln_hh_weight", suffix, RG_DIMS(G), rng);
    rg_tensor *g_c = rg_cell_param(c, P, prefix, "ln_c_weight", suffix, RG_DIMS(H), rng);
    rg_tensor *b_c = rg_cell_param(c, P, prefix, "ln_c_bias", suffix, RG_DIMS(H), rng);
    if (!W_ih || !W_hh || !bias || !g_ih || !g_hh || !g_c || !b_c)
        return -1;
    if (!rng) /* values about to be loaded */
        return 0;
    /* the usual choices, through the library's initialisers: orthogonal
     * recurrent weights, unit gains, zero biases but the forget gate's 1 */
    if (rg_init_xavier_uniform(W_ih, 1.0, rng) != 0 || rg_init_orthogonal(W_hh, 1.0, rng) != 0 ||
        rg_init_zeros(bias) != 0 || rg_init_constant(g_ih, 1.0) != 0 ||
        rg_init_constant(g_hh, 1.0) != 0 || rg_init_constant(g_c, 1.0) != 0 ||
        rg_init_zeros(b_c) != 0)
        return -1;
    for (int64_t k = H; k < 2 * H; k++)
        rg_set(bias, k, 1.0);
    return 0;
}

/* the same through the fused row */
static rg_tensor *layer_norm_fused(rg_tape *tp, rg_tensor *v, rg_tensor *g, rg_tensor *b)
{
    return rg_layer_norm(tp, v, g, b, 1e-5);
}

typedef rg_tensor *(*norm_fn)(rg_tape *tp, rg_tensor *v, rg_tensor *g, rg_tensor *b);

/* xp [B,4H]: this step's rows of x W_ih^T; state {h, c} each [B,H]; ln: a layer norm */
static int ln_lstm_step_with(norm_fn ln, rg_tape *tp, const rg_cell *c, rg_tensor *xp,
                             rg_tensor *const *in, rg_tensor **out)
{
    rg_tensor *hp = rg_linear(tp, in[0], c->weight_hh, NULL);
    rg_tensor *a = rg_add(tp, rg_add(tp, ln(tp, xp, rg_cell_get(c, "ln_ih_weight"), NULL),
                                     ln(tp, hp, rg_cell_get(c, "ln_hh_weight"), NULL)),
                          rg_cell_get(c, "bias"));
    rg_tensor *g4[4];
    if (!a || rg_split(tp, a, 1, 4, g4) != 0)
        return -1;
    rg_tensor *c1 = rg_add(tp, rg_mul(tp, rg_sigmoid(tp, g4[1]), in[1]),
                           rg_mul(tp, rg_sigmoid(tp, g4[0]), rg_tanh(tp, g4[2])));
    rg_tensor *cn = ln(tp, c1, rg_cell_get(c, "ln_c_weight"), rg_cell_get(c, "ln_c_bias"));
    out[0] = rg_mul(tp, rg_sigmoid(tp, g4[3]), rg_tanh(tp, cn));
    out[1] = c1;
    return out[0] ? 0 : -1;
}

static int ln_lstm_step(rg_tape *tp, const rg_cell *c, rg_tensor *xp, rg_tensor *const *in,
                        rg_tensor **out)
{
    return ln_lstm_step_with(layer_norm, tp, c, xp, in, out);
}

static int ln_lstm_fused_step(rg_tape *tp, const rg_cell *c, rg_tensor *xp,
                              rg_tensor *const *in, rg_tensor **out)
{
    return ln_lstm_step_with(layer_norm_fused, tp, c, xp, in, out);
}

static const rg_cell_type ln_lstm = {
    .name = "ln_lstm",
    .n_state = 2,
    .gates = 4,
    .init = ln_lstm_init,
    .project = rg_cell_project_standard,
    .step = ln_lstm_step,
};

static const rg_cell_type ln_lstm_fused = {
    .name = "ln_lstm_fused",
    .n_state = 2,
    .gates = 4,
    .init = ln_lstm_init,
    .project = rg_cell_project_standard,
    .step = ln_lstm_fused_step,
};

/* ---- peephole_lstm ------------------------------------------------------------- */

/* PyTorch's four LSTM tensors by role, plus the peephole vectors [H] of the
 * cell's own roles weight_ci, weight_cf, weight_co */
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

/* xp [B,4H]: this step's rows of x W_ih^T + b_ih; state {h, c} each [B,H] */
static int peephole_step(rg_tape *tp, const rg_cell *c, rg_tensor *xp, rg_tensor *const *in,
                         rg_tensor **out)
{
    rg_tensor *h = in[0], *cs = in[1], *g4[4];
    rg_tensor *gates = rg_add(tp, xp, rg_linear(tp, h, c->weight_hh, c->bias_hh));
    if (!gates || rg_split(tp, gates, 1, 4, g4) != 0)
        return -1;
    /* p * c broadcasts [H] against [B,H] */
    rg_tensor *i = rg_sigmoid(tp, rg_add(tp, g4[0], rg_mul(tp, rg_cell_get(c, "weight_ci"), cs)));
    rg_tensor *f = rg_sigmoid(tp, rg_add(tp, g4[1], rg_mul(tp, rg_cell_get(c, "weight_cf"), cs)));
    rg_tensor *c1 = rg_add(tp, rg_mul(tp, f, cs), rg_mul(tp, i, rg_tanh(tp, g4[2])));
    rg_tensor *o = rg_sigmoid(tp, rg_add(tp, g4[3], rg_mul(tp, rg_cell_get(c, "weight_co"), c1)));
    out[0] = rg_mul(tp, o, rg_tanh(tp, c1));
    out[1] = c1;
    return out[0] ? 0 : -1;
}

static const rg_cell_type peephole_lstm = {
    .name = "peephole_lstm",
    .n_state = 2,
    .gates = 4,
    .init = peephole_init,
    .project = rg_cell_project_standard,
    .step = peephole_step,
};

/* ---- the entry point ----------------------------------------------------------- */

/* Declared here for the compiler's sake; the loader finds it by name. */
int rg_plugin_register(void);

int rg_plugin_register(void)
{
    if (rg_cell_type_register(&mingru) != 0 || rg_cell_type_register(&ln_lstm) != 0 ||
        rg_cell_type_register(&ln_lstm_fused) != 0 || rg_cell_type_register(&peephole_lstm) != 0)
        return -1;
    return 0;
}
