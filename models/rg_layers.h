/* retrograd layers: Linear, Embedding, recurrent cells (RNN, LSTM, GRU and cells
 * written by users) and sequence layers (unrolled, stacked, bidirectional,
 * variable lengths).  Everything here is built from the public ops of rg_ops.h;
 * a cell is plain C that calls rg_linear, rg_add, rg_sigmoid, ... on a tape.
 *
 * Ownership
 *   Parameters live in an rg_params registry under PyTorch's names; the registry
 *   owns them (a checkpoint is the registry).  Layer structs hold borrowed
 *   pointers into the registry: free the registry after the last use of the
 *   layers.  An rg_seq is heap-allocated (rg_seq_free); the other structs are
 *   plain values the caller keeps.  Tensors returned by forward functions are
 *   step tensors on the tape (valid until rg_tape_reset).
 *
 * Errors
 *   Init functions return 0 or -1 with rg_last_error() set (a taken name, a bad
 *   size).  Forward functions return NULL (or -1) with the message kept by the
 *   tape and in rg_last_error(): a shape that does not fit names the function
 *   and the shapes ("rg_seq_forward: x [5,3,7] has 7 features, the layer
 *   expects 4").  A NULL input gives NULL, like the ops.
 *
 * Writing a cell (see docs/models.md): fill an rg_cell_type with an init that
 * adds parameters through rg_cell_param (or rg_cell_add_standard for the usual
 * four PyTorch tensors) and a step that maps (x_t, state) to the next state
 * with public ops.  rg_seq_new then unrolls, stacks and reverses it, the tape
 * differentiates it and the registry saves it, with no change to the library. */
#ifndef RG_LAYERS_H
#define RG_LAYERS_H
#include "rg_core.h"
#include "rg_ops.h"
#include "rg_params.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Linear: y = x W^T + b ------------------------------------------------- */
typedef struct rg_linear_layer {
    rg_tensor *weight;  /* "<name>.weight" [O,I] (borrowed from the registry) */
    rg_tensor *bias;    /* "<name>.bias" [O], or NULL without bias */
    int64_t in, out;
} rg_linear_layer;

/* Adds "<name>.weight" [O,I] and (with bias) "<name>.bias" [O] to P, drawn from
 * U(-1/sqrt(I), 1/sqrt(I)) like PyTorch (rng NULL: left at zero).  0 or -1. */
int rg_linear_layer_init(rg_linear_layer *l, rg_params *P, const char *name, int64_t I,
                         int64_t O, bool bias, rg_dtype dt, rg_rng *rng);
/* x [..., I] -> [..., O] (any rank >= 1; the leading dims are flattened for
 * one matrix product). */
rg_tensor *rg_linear_layer_forward(rg_tape *tp, const rg_linear_layer *l, rg_tensor *x);

/* ---- Embedding: rows of a table -------------------------------------------- */
typedef struct rg_embedding_layer {
    rg_tensor *weight;  /* "<name>.weight" [V,E] */
    int64_t vocab, dim;
} rg_embedding_layer;

/* Adds "<name>.weight" [V,E] drawn from N(0,1) like PyTorch (rng NULL: zero). */
int rg_embedding_layer_init(rg_embedding_layer *l, rg_params *P, const char *name,
                            int64_t V, int64_t E, rg_dtype dt, rg_rng *rng);
/* ids I32 [...] with values in [0,V) -> [..., E]. */
rg_tensor *rg_embedding_layer_forward(rg_tape *tp, const rg_embedding_layer *l,
                                      rg_tensor *ids);

/* ---- cells ------------------------------------------------------------------ */
#define RG_CELL_MAX_PARAMS 12
#define RG_CELL_MAX_STATE 4

typedef struct rg_cell rg_cell;

/* What a kind of cell is.  A table of functions and sizes; the library's cells
 * are four constant instances of it, a user's cell is one more. */
typedef struct rg_cell_type {
    const char *name;   /* "lstm", "gru", "rnn_tanh", "rnn_relu", or the user's */
    int n_state;        /* 1..RG_CELL_MAX_STATE tensors of [B,H]; state[0] is h,
                           the output of a step (an LSTM has h and c) */
    /* Adds the cell's parameters to P (through rg_cell_param, which records them
     * in c->param[] in order) and draws them from rng (may be NULL: zeros).  c->I,
     * c->H and c->dtype are set before the call.  Names are
     * "<prefix>.<base><suffix>": a sequence layer passes suffix "_l{k}" or
     * "_l{k}_reverse".  0 or -1 (message set). */
    int (*init)(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                rg_rng *rng);
    /* Optional fast path: maps inputs of many steps at once, x [N,I] -> [N,Pw]
     * (typically x W_ih^T + b_ih).  When set, step receives the rows of one step
     * of that projection instead of x_t.  NULL: step receives x_t [B,I]. */
    rg_tensor *(*project)(rg_tape *tp, const rg_cell *c, rg_tensor *x);
    /* One step: x [B,I] (or [B,Pw], see project), state_in[n_state] each [B,H]
     * -> state_out[n_state] each [B,H].  Uses public ops only.  0 or -1 (a NULL
     * output after an op failed: the tape holds the message). */
    int (*step)(rg_tape *tp, const rg_cell *c, rg_tensor *x, rg_tensor *const *state_in,
                rg_tensor **state_out);
    /* Optional initial state for B sequences (state[n_state] each [B,H]);
     * NULL: zeros.  Used when the caller gives no initial state. */
    int (*init_state)(rg_tape *tp, const rg_cell *c, int64_t B, rg_tensor **state);
    /* Optional, for rg_seq_forward_ids with a project hook: one step whose
     * projected input is rows ids [B] (I32) of P [V,Pw], the embedding table
     * already mapped by project, so the T*B gathered rows never exist.  NULL:
     * the rows are gathered first and step runs as usual. */
    int (*step_rows)(rg_tape *tp, const rg_cell *c, rg_tensor *P, rg_tensor *ids,
                     rg_tensor *const *state_in, rg_tensor **state_out);
} rg_cell_type;

/* One cell: its type, sizes and parameters (borrowed from the registry). */
struct rg_cell {
    const rg_cell_type *type;
    int64_t I, H;
    rg_dtype dtype;
    int n_param;
    rg_tensor *param[RG_CELL_MAX_PARAMS];  /* in the order init added them */
    void *user;                            /* free for the cell type's use */
};

/* PyTorch's equations and parameter layout (CHECKPOINT.md), G gate blocks of H
 * rows: weight_ih [G*H,I], weight_hh [G*H,H], bias_ih [G*H], bias_hh [G*H];
 * param[0..3] in that order.  rnn: G=1; lstm: G=4 (i,f,g,o); gru: G=3 (r,z,n,
 * with r applied to W_hn h + b_hn). */
extern const rg_cell_type rg_cell_rnn_tanh;
extern const rg_cell_type rg_cell_rnn_relu;
extern const rg_cell_type rg_cell_lstm;
extern const rg_cell_type rg_cell_gru;
/* The same LSTM and GRU written with plain ops only (add, split, sigmoid, tanh,
 * mul) instead of the fused gate rows; equal parameters, equal results. */
extern const rg_cell_type rg_cell_lstm_composed;
extern const rg_cell_type rg_cell_gru_composed;
/* "lstm", "gru", "rnn_tanh", "rnn_relu" (also "rnn" = rnn_tanh); NULL otherwise. */
const rg_cell_type *rg_cell_type_find(const char *name);

/* Sets up c and calls type->init.  prefix may be NULL or "" (names are then
 * "<base><suffix>", like PyTorch's LSTMCell).  0 or -1. */
int rg_cell_init(rg_cell *c, const rg_cell_type *type, rg_params *P, const char *prefix,
                 const char *suffix, int64_t I, int64_t H, rg_dtype dt, rg_rng *rng);
/* For init functions: adds "<prefix>.<base><suffix>" of the given shape to P,
 * drawn from U(-1/sqrt(H), 1/sqrt(H)) (rng NULL: zeros), and appends it to
 * c->param.  NULL on error (taken name, too many parameters). */
rg_tensor *rg_cell_param(rg_cell *c, rg_params *P, const char *prefix, const char *base,
                         const char *suffix, int rank, const int64_t *shape, rg_rng *rng);
/* For init functions: the four PyTorch tensors with G gate blocks (see above). */
int rg_cell_add_standard(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                         int G, rg_rng *rng);
/* The input projection shared by the built-in cells: x [N,I] -> x W_ih^T + b_ih,
 * [N,G*H] (param[0] and param[2]).  User cells may use it as their project. */
rg_tensor *rg_cell_project_standard(rg_tape *tp, const rg_cell *c, rg_tensor *x);
/* One step from raw input x [B,I]: applies the type's project (when set) and
 * step.  state_in may be NULL for the initial state.  0 or -1. */
int rg_cell_step(rg_tape *tp, const rg_cell *c, rg_tensor *x, rg_tensor *const *state_in,
                 rg_tensor **state_out);
/* The initial state of B sequences (the type's init_state or zeros). 0 or -1. */
int rg_cell_initial_state(rg_tape *tp, const rg_cell *c, int64_t B, rg_tensor **state);

/* ---- sequence layers ------------------------------------------------------ */
typedef struct rg_seq_config {
    const rg_cell_type *cell;
    int64_t input_size;   /* I */
    int64_t hidden_size;  /* H */
    int num_layers;       /* L >= 1 */
    bool bidirectional;   /* D = 2 when set */
    double dropout;       /* on the outputs of every layer but the last, training only */
    rg_dtype dtype;       /* RG_F32 or RG_F64 */
} rg_seq_config;

typedef struct rg_seq {
    rg_seq_config cfg;
    int L, D;
    rg_cell *cells;       /* L*D cells, layer k direction d at cells[k*D + d] */
} rg_seq;

/* A stack of L layers (D directions each) of cfg->cell, parameters named like
 * torch.nn.LSTM/GRU/RNN: "<prefix>.weight_ih_l{k}[_reverse]" ...  and drawn from
 * U(-1/sqrt(H), 1/sqrt(H)) in PyTorch's order.  NULL on error. */
rg_seq *rg_seq_new(rg_params *P, const char *prefix, const rg_seq_config *cfg, rg_rng *rng);
void rg_seq_free(rg_seq *s);  /* NULL is fine; the parameters stay in the registry */

/* Runs the stack over x [T,B,I]; returns the last layer's output [T,B,D*H]
 * (forward H then reverse H per step, PyTorch's layout).
 *   lengths  NULL (every sequence has T steps) or B values in [0,T], sorted or
 *            not: outputs past a sequence's end are zero, its final state is the
 *            state after its own last step (the reverse direction starts there),
 *            and padding changes neither the outputs nor any gradient.
 *   init     NULL, or n_state tensors (each may be NULL = the cell's initial
 *            state) of [L*D,B,H], PyTorch's h_0 / c_0 layout.
 *   final    NULL, or room for n_state tensors: filled with [L*D,B,H] (h_n, c_n).
 *            For truncated BPTT, rg_detach them (or rg_tensor_copy into
 *            persistent tensors) and pass them as the next chunk's init.
 *   dropout_rng  draws the dropout masks; needed only when the tape is training
 *            and cfg.dropout > 0 and L > 1.
 * NULL on error (message on the tape). */
rg_tensor *rg_seq_forward(rg_tape *tp, const rg_seq *s, rg_tensor *x, const int32_t *lengths,
                          rg_tensor *const *init, rg_tensor **final, rg_rng *dropout_rng);

/* The same stack fed through an embedding table: ids I32 [T,B] index emb [V,I]
 * (I = input_size).  Equal to rg_seq_forward(tp, s, rg_embedding(tp, emb, ids),
 * ...), but when the first layer's cells use rg_cell_project_standard (every
 * built-in cell does) and V <= T*B, the V table rows are mapped through W_ih
 * once instead of the T*B looked-up rows, in forward and in backward (a language
 * model's first layer then costs what a second layer without input projection
 * would): cells with step_rows (the built-in LSTM) read their rows straight
 * from the mapped table, the others get them through rg_embedding_linear. */
rg_tensor *rg_seq_forward_ids(rg_tape *tp, const rg_seq *s, rg_tensor *emb, rg_tensor *ids,
                              const int32_t *lengths, rg_tensor *const *init,
                              rg_tensor **final, rg_rng *dropout_rng);

#ifdef __cplusplus
}
#endif
#endif
