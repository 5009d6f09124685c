/* Recurrent cells as plain graphs of public ops: the cell interface's helpers
 * and the four built-in cells (RNN tanh/relu, LSTM, GRU) with PyTorch's
 * equations, gate order and parameter names. */
#include "rg_layers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- helpers of the cell interface ----------------------------------------- */

static const char *cell_name(const rg_cell *c)
{
    return c && c->type && c->type->name ? c->type->name : "?";
}

/* the field of a standard role, NULL for a cell's own role */
static rg_tensor **standard_slot(rg_cell *c, const char *role)
{
    if (!strcmp(role, "weight_ih"))
        return &c->weight_ih;
    if (!strcmp(role, "weight_hh"))
        return &c->weight_hh;
    if (!strcmp(role, "bias_ih"))
        return &c->bias_ih;
    if (!strcmp(role, "bias_hh"))
        return &c->bias_hh;
    return NULL;
}

rg_tensor *rg_cell_get(const rg_cell *c, const char *role)
{
    if (!c || !role)
        return NULL;
    for (int k = 0; k < c->n_param; k++)
        if (!strcmp(c->role[k], role))
            return c->param[k];
    return NULL;
}

rg_tensor *rg_cell_param(rg_cell *c, rg_params *P, const char *prefix, const char *role,
                         const char *suffix, int rank, const int64_t *shape, rg_rng *rng)
{
    if (!c || !P || !role || !*role) {
        rg_set_error("rg_cell_param: NULL cell, registry or role");
        return NULL;
    }
    if (c->n_param >= RG_CELL_MAX_PARAMS) {
        rg_set_error("rg_cell_param: cell '%s': a cell has at most %d parameters ('%s')",
                     cell_name(c), RG_CELL_MAX_PARAMS, role);
        return NULL;
    }
    if (strlen(role) >= RG_CELL_ROLE_LEN) {
        rg_set_error("rg_cell_param: cell '%s': role '%.64s' is longer than %d bytes",
                     cell_name(c), role, RG_CELL_ROLE_LEN - 1);
        return NULL;
    }
    if (rg_cell_get(c, role)) {
        rg_set_error("rg_cell_param: cell '%s' already has a parameter of role '%s'",
                     cell_name(c), role);
        return NULL;
    }
    char name[256];
    int n = snprintf(name, sizeof name, "%s%s%s%s", prefix && *prefix ? prefix : "",
                     prefix && *prefix ? "." : "", role, suffix ? suffix : "");
    if (n < 0 || (size_t)n >= sizeof name) {
        rg_set_error("rg_cell_param: name too long ('%s')", role);
        return NULL;
    }
    rg_tensor *t = rg_params_add(P, name, c->dtype, rank, shape);
    if (!t)
        return NULL;
    if (rng) {
        double k = 1.0 / sqrt((double)c->H);
        for (int64_t i = 0; i < t->numel; i++)
            rg_set(t, i, -k + 2.0 * k * rg_rng_uniform(rng));
    }
    snprintf(c->role[c->n_param], sizeof c->role[c->n_param], "%s", role);
    c->param[c->n_param++] = t;
    rg_tensor **slot = standard_slot(c, role);
    if (slot)
        *slot = t;
    return t;
}

int rg_cell_add_standard(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                         int G, rg_rng *rng)
{
    if (!c || G < 1) {
        rg_set_error("rg_cell_add_standard: %s", !c ? "cell is NULL" : "G must be >= 1");
        return -1;
    }
    int64_t GH = (int64_t)G * c->H;
    /* PyTorch's parameter order, which is also the order its init draws in */
    if (!rg_cell_param(c, P, prefix, "weight_ih", suffix, RG_DIMS(GH, c->I), rng) ||
        !rg_cell_param(c, P, prefix, "weight_hh", suffix, RG_DIMS(GH, c->H), rng) ||
        !rg_cell_param(c, P, prefix, "bias_ih", suffix, RG_DIMS(GH), rng) ||
        !rg_cell_param(c, P, prefix, "bias_hh", suffix, RG_DIMS(GH), rng))
        return -1;
    return 0;
}

/* t is [rows] (cols < 0) or [rows,cols]; rows < 0: any */
static bool has_shape(const rg_tensor *t, int64_t rows, int64_t cols)
{
    int rank = cols < 0 ? 1 : 2;
    return t->rank == rank && (rows < 0 || t->shape[0] == rows) &&
           (cols < 0 || t->shape[1] == cols);
}

int rg_cell_check_projection(rg_tape *tp, const rg_cell *c, const char *fn)
{
    char b[64];
    fn = fn ? fn : "rg_cell_check_projection";
    if (!c || !c->type)
        return rg_op_error(tp, "%s: the cell is NULL or not set up", fn);
    const rg_tensor *W = c->weight_ih, *b_ih = c->bias_ih;
    int G = c->type->gates;
    if (!W)
        return rg_op_error(tp, "%s: cell '%s' has no parameter of role 'weight_ih' (the "
                           "standard input projection x W_ih^T + b_ih needs one)", fn,
                           cell_name(c));
    int64_t rows = G > 0 ? (int64_t)G * c->H : W->shape[0];
    if (!has_shape(W, rows, c->I))
        return rg_op_error(tp, "%s: cell '%s': weight_ih is %s, the standard layout needs "
                           "[%lld,%lld] (%d gate blocks of H = %lld rows, I = %lld)", fn,
                           cell_name(c), rg_shape_str(W, b, sizeof b), (long long)rows,
                           (long long)c->I, G > 0 ? G : (int)(rows / c->H), (long long)c->H,
                           (long long)c->I);
    if (b_ih && !has_shape(b_ih, rows, -1))
        return rg_op_error(tp, "%s: cell '%s': bias_ih is %s, weight_ih [%lld,%lld] needs "
                           "[%lld]", fn, cell_name(c), rg_shape_str(b_ih, b, sizeof b),
                           (long long)rows, (long long)c->I, (long long)rows);
    return 0;
}

rg_tensor *rg_cell_project_standard(rg_tape *tp, const rg_cell *c, rg_tensor *x)
{
    if (rg_cell_check_projection(tp, c, "rg_cell_project_standard") != 0)
        return NULL;
    return rg_linear(tp, x, c->weight_ih, c->bias_ih);
}

/* what the type relies on, checked once the cell's init has run */
static int check_layout(const rg_cell *c)
{
    const rg_cell_type *t = c->type;
    char b[64];
    if ((t->project == rg_cell_project_standard || t->step_rows) &&
        rg_cell_check_projection(NULL, c, "rg_cell_init") != 0)
        return -1;
    if (t->gates < 1)
        return 0;
    int64_t GH = (int64_t)t->gates * c->H;
    if (c->weight_hh && !has_shape(c->weight_hh, GH, c->H)) {
        rg_set_error("rg_cell_init: cell '%s' declares %d gate blocks, so weight_hh must be "
                     "[%lld,%lld], not %s", cell_name(c), t->gates, (long long)GH,
                     (long long)c->H, rg_shape_str(c->weight_hh, b, sizeof b));
        return -1;
    }
    if (c->bias_hh && !has_shape(c->bias_hh, GH, -1)) {
        rg_set_error("rg_cell_init: cell '%s' declares %d gate blocks, so bias_hh must be "
                     "[%lld], not %s", cell_name(c), t->gates, (long long)GH,
                     rg_shape_str(c->bias_hh, b, sizeof b));
        return -1;
    }
    return 0;
}

int rg_cell_init(rg_cell *c, const rg_cell_type *type, rg_params *P, const char *prefix,
                 const char *suffix, int64_t I, int64_t H, rg_dtype dt, rg_rng *rng)
{
    if (!c || !type || !P || !type->init || !type->step) {
        rg_set_error("rg_cell_init: NULL cell, type, registry, init or step");
        return -1;
    }
    if (I < 1 || H < 1 || (dt != RG_F32 && dt != RG_F64) || type->n_state < 1 ||
        type->n_state > RG_CELL_MAX_STATE || type->gates < 0) {
        rg_set_error("rg_cell_init: bad sizes for cell '%s' (I %lld, H %lld, %d states, %d "
                     "gates, %s)", type->name ? type->name : "?", (long long)I, (long long)H,
                     type->n_state, type->gates, rg_dtype_name(dt));
        return -1;
    }
    memset(c, 0, sizeof *c);
    c->type = type;
    c->I = I;
    c->H = H;
    c->dtype = dt;
    if (type->init(c, P, prefix, suffix, rng) != 0)
        return -1;
    return check_layout(c);
}

int rg_cell_initial_state(rg_tape *tp, const rg_cell *c, int64_t B, rg_tensor **state)
{
    if (!c || !c->type || !state) {
        rg_op_error(tp, "rg_cell_initial_state: %s is NULL", !state ? "state" : "the cell");
        return -1;
    }
    if (c->type->init_state)
        return c->type->init_state(tp, c, B, state);
    for (int k = 0; k < c->type->n_state; k++) {
        state[k] = rg_zeros(tp, c->dtype, RG_DIMS(B, c->H));
        if (!state[k])
            return -1;
    }
    return 0;
}

int rg_cell_step(rg_tape *tp, const rg_cell *c, rg_tensor *x, rg_tensor *const *state_in,
                 rg_tensor **state_out)
{
    if (!tp) {
        rg_set_error("rg_cell_step: tape is NULL");
        return -1;
    }
    if (!c || !x || !state_out) { /* x NULL after a failed op: repeat the tape's error */
        if (rg_tape_error(tp))
            rg_op_error(tp, "%s", rg_tape_error(tp));
        else
            rg_op_error(tp, "rg_cell_step: %s is NULL",
                        !c ? "the cell" : !x ? "x" : "state_out");
        return -1;
    }
    rg_tensor *init[RG_CELL_MAX_STATE];
    if (!state_in) {
        if (rg_cell_initial_state(tp, c, x->shape[0], init) != 0)
            return -1;
        state_in = init;
    }
    rg_tensor *in = c->type->project ? c->type->project(tp, c, x) : x;
    if (!in)
        return -1;
    return c->type->step(tp, c, in, state_in, state_out);
}

/* ---- RNN: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh) ---------------------- */

static int rnn_init(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                    rg_rng *rng)
{
    return rg_cell_add_standard(c, P, prefix, suffix, 1, rng);
}

/* xp [B,H] = x W_ih^T + b_ih (projected); state h [B,H] */
static int rnn_step(rg_tape *tp, const rg_cell *c, rg_tensor *xp, rg_tensor *const *in,
                    rg_tensor **out, bool relu)
{
    rg_tensor *pre = rg_add(tp, xp, rg_linear(tp, in[0], c->weight_hh, c->bias_hh));
    out[0] = relu ? rg_relu(tp, pre) : rg_tanh(tp, pre);
    return out[0] ? 0 : -1;
}

static int rnn_tanh_step(rg_tape *tp, const rg_cell *c, rg_tensor *xp, rg_tensor *const *in,
                         rg_tensor **out)
{
    return rnn_step(tp, c, xp, in, out, false);
}

static int rnn_relu_step(rg_tape *tp, const rg_cell *c, rg_tensor *xp, rg_tensor *const *in,
                         rg_tensor **out)
{
    return rnn_step(tp, c, xp, in, out, true);
}

const rg_cell_type rg_cell_rnn_tanh = {
    .name = "rnn_tanh", .n_state = 1, .gates = 1, .init = rnn_init,
    .project = rg_cell_project_standard, .step = rnn_tanh_step};
const rg_cell_type rg_cell_rnn_relu = {
    .name = "rnn_relu", .n_state = 1, .gates = 1, .init = rnn_init,
    .project = rg_cell_project_standard, .step = rnn_relu_step};

/* ---- LSTM, gates i,f,g,o ----------------------------------------------------
 * [i f g o] = x W_ih^T + b_ih + h W_hh^T + b_hh    [B,4H]
 * c' = sigmoid(f) * c + sigmoid(i) * tanh(g);  h' = sigmoid(o) * tanh(c') */

static int lstm_init(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                     rg_rng *rng)
{
    return rg_cell_add_standard(c, P, prefix, suffix, 4, rng);
}

/* The built-in cell runs the recurrent product and the gates as one fused row
 * of the op table (rg_lstm_cell); the composed cell below is the same math in
 * plain ops and is tested equal to it. */
static int lstm_step(rg_tape *tp, const rg_cell *c, rg_tensor *xp, rg_tensor *const *in,
                     rg_tensor **out)
{
    return rg_lstm_cell(tp, xp, in[0], in[1], c->weight_hh, c->bias_hh, out);
}

static int lstm_step_rows(rg_tape *tp, const rg_cell *c, rg_tensor *P, rg_tensor *ids,
                          rg_tensor *const *in, rg_tensor **out)
{
    return rg_lstm_cell_rows(tp, P, ids, in[0], in[1], c->weight_hh, c->bias_hh, out);
}

static int lstm_composed_step(rg_tape *tp, const rg_cell *c, rg_tensor *xp,
                              rg_tensor *const *in, rg_tensor **out)
{
    rg_tensor *gates = rg_add(tp, xp, rg_linear(tp, in[0], c->weight_hh, c->bias_hh));
    rg_tensor *g4[4];
    if (!gates || rg_split(tp, gates, 1, 4, g4) != 0)
        return -1;
    rg_tensor *i = rg_sigmoid(tp, g4[0]);
    rg_tensor *f = rg_sigmoid(tp, g4[1]);
    rg_tensor *g = rg_tanh(tp, g4[2]);
    rg_tensor *o = rg_sigmoid(tp, g4[3]);
    rg_tensor *c1 = rg_add(tp, rg_mul(tp, f, in[1]), rg_mul(tp, i, g));
    out[1] = c1;
    out[0] = rg_mul(tp, o, rg_tanh(tp, c1));
    return out[0] ? 0 : -1;
}

const rg_cell_type rg_cell_lstm = {
    .name = "lstm", .n_state = 2, .gates = 4, .init = lstm_init,
    .project = rg_cell_project_standard, .step = lstm_step, .step_rows = lstm_step_rows};
const rg_cell_type rg_cell_lstm_composed = {
    .name = "lstm_composed", .n_state = 2, .gates = 4, .init = lstm_init,
    .project = rg_cell_project_standard, .step = lstm_composed_step};

/* ---- GRU, gates r,z,n --------------------------------------------------------
 * r = sigmoid(x_r + h_r), z = sigmoid(x_z + h_z), n = tanh(x_n + r * h_n) where
 * x_* = rows of x W_ih^T + b_ih and h_* = rows of h W_hh^T + b_hh (so r scales
 * W_hn h + b_hn, as in PyTorch);  h' = (1 - z) * n + z * h = n + z * (h - n). */

static int gru_init(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                    rg_rng *rng)
{
    return rg_cell_add_standard(c, P, prefix, suffix, 3, rng);
}

static int gru_step(rg_tape *tp, const rg_cell *c, rg_tensor *xp, rg_tensor *const *in,
                    rg_tensor **out)
{
    out[0] = rg_gru_gates(tp, xp, rg_linear(tp, in[0], c->weight_hh, c->bias_hh), in[0]);
    return out[0] ? 0 : -1;
}

static int gru_composed_step(rg_tape *tp, const rg_cell *c, rg_tensor *xp,
                             rg_tensor *const *in, rg_tensor **out)
{
    rg_tensor *hp = rg_linear(tp, in[0], c->weight_hh, c->bias_hh);
    rg_tensor *x3[3], *h3[3];
    if (!xp || !hp || rg_split(tp, xp, 1, 3, x3) != 0 || rg_split(tp, hp, 1, 3, h3) != 0)
        return -1;
    rg_tensor *r = rg_sigmoid(tp, rg_add(tp, x3[0], h3[0]));
    rg_tensor *z = rg_sigmoid(tp, rg_add(tp, x3[1], h3[1]));
    rg_tensor *n = rg_tanh(tp, rg_add(tp, x3[2], rg_mul(tp, r, h3[2])));
    out[0] = rg_add(tp, n, rg_mul(tp, z, rg_sub(tp, in[0], n)));
    return out[0] ? 0 : -1;
}

const rg_cell_type rg_cell_gru = {
    .name = "gru", .n_state = 1, .gates = 3, .init = gru_init,
    .project = rg_cell_project_standard, .step = gru_step};
const rg_cell_type rg_cell_gru_composed = {
    .name = "gru_composed", .n_state = 1, .gates = 3, .init = gru_init,
    .project = rg_cell_project_standard, .step = gru_composed_step};
