/* A cell plugin: two recurrent cells that the library does not have, in a
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
 *   written with mean, sub, mul and pow (rg_layer_norm is the fused equivalent).
 *   Its input projection is rg_cell_project_standard: the cell has a weight_ih
 *   but no bias_ih, so the projection is x W_ih^T, found by role. */
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

/* xp [B,4H]: this step's rows of x W_ih^T; state {h, c} each [B,H] */
static int ln_lstm_step(rg_tape *tp, const rg_cell *c, rg_tensor *xp, rg_tensor *const *in,
                        rg_tensor **out)
{
    rg_tensor *hp = rg_linear(tp, in[0], c->weight_hh, NULL);
    rg_tensor *a = rg_add(tp, rg_add(tp, layer_norm(tp, xp, rg_cell_get(c, "ln_ih_weight"), NULL),
                                     layer_norm(tp, hp, rg_cell_get(c, "ln_hh_weight"), NULL)),
                          rg_cell_get(c, "bias"));
    rg_tensor *g4[4];
    if (!a || rg_split(tp, a, 1, 4, g4) != 0)
        return -1;
    rg_tensor *c1 = rg_add(tp, rg_mul(tp, rg_sigmoid(tp, g4[1]), in[1]),
                           rg_mul(tp, rg_sigmoid(tp, g4[0]), rg_tanh(tp, g4[2])));
    rg_tensor *cn = layer_norm(tp, c1, rg_cell_get(c, "ln_c_weight"), rg_cell_get(c, "ln_c_bias"));
    out[0] = rg_mul(tp, rg_sigmoid(tp, g4[3]), rg_tanh(tp, cn));
    out[1] = c1;
    return out[0] ? 0 : -1;
}

static const rg_cell_type ln_lstm = {
    .name = "ln_lstm",
    .n_state = 2,
    .gates = 4,
    .init = ln_lstm_init,
    .project = rg_cell_project_standard,
    .step = ln_lstm_step,
};

/* ---- the entry point ----------------------------------------------------------- */

/* Declared here for the compiler's sake; the loader finds it by name. */
int rg_plugin_register(void);

int rg_plugin_register(void)
{
    if (rg_cell_type_register(&mingru) != 0 || rg_cell_type_register(&ln_lstm) != 0)
        return -1;
    return 0;
}
