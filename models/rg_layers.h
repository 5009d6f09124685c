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
 * Writing a cell (README, "Writing your own cell"): fill an rg_cell_type with an
 * init that adds parameters through rg_cell_param (or rg_cell_add_standard for
 * the usual four PyTorch tensors) and a step that maps (x_t, state) to the next
 * state with public ops.  rg_seq_new then unrolls, stacks and reverses it, the
 * tape differentiates it and the registry saves it, with no change to the
 * library.  Parameters are known by their role (the base name given to
 * rg_cell_param: "weight_ih", "bias_ih", "weight_hh", "bias_hh" or the cell's
 * own), never by position: a helper that needs a layout (the standard input
 * projection x W_ih^T + b_ih) finds it by role and fails with a message naming
 * the cell when it is not there.  rg_cell_type_register makes a cell known by
 * name (checkpoints name their cell), rg_cell_plugin_load registers the cells
 * of a shared object. */
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
#define RG_CELL_ROLE_LEN 32  /* longest role name + 1 */
#define RG_CELL_MAX_TYPES 64 /* cells rg_cell_type_register keeps */

typedef struct rg_cell rg_cell;

/* What a kind of cell is.  A table of functions and sizes; the library's cells
 * are four constant instances of it, a user's cell is one more. */
typedef struct rg_cell_type {
    const char *name;   /* "lstm", "gru", "rnn_tanh", "rnn_relu", or the user's */
    int n_state;        /* 1..RG_CELL_MAX_STATE tensors of [B,H]; state[0] is h,
                           the output of a step (an LSTM has h and c) */
    /* Gate blocks G of the standard layout: weight_ih [G*H,I] and bias_ih
     * [G*H] (weight_hh [G*H,H] and bias_hh [G*H] when the cell has them); rnn
     * 1, gru 3, lstm 4.  0: the cell does not declare it (no size check). */
    int gates;
    /* Adds the cell's parameters to P (through rg_cell_param, which records them
     * in c->param[] with their roles) and draws them from rng (may be NULL:
     * zeros; the rg_init_* helpers of rg_init.h may redraw them).  c->I, c->H and
     * c->dtype are set before the call.  Names are "<prefix>.<role><suffix>": a
     * sequence layer passes suffix "_l{k}" or "_l{k}_reverse".  0 or -1 (message
     * set). */
    int (*init)(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                rg_rng *rng);
    /* Optional fast path: maps inputs of many steps at once, x [N,I] -> [N,Pw]
     * (typically rg_cell_project_standard: x W_ih^T + b_ih, found by role).  When
     * set, step receives the rows of one step of that projection instead of x_t.
     * NULL: step receives x_t [B,I]. */
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
    char role[RG_CELL_MAX_PARAMS][RG_CELL_ROLE_LEN]; /* param[k]'s role ("weight_ih") */
    /* The parameters of the standard roles, NULL when the cell has none (set by
     * rg_cell_param from the role): read these, never param[k] by position. */
    rg_tensor *weight_ih, *weight_hh, *bias_ih, *bias_hh;
    void *user;                            /* free for the cell type's use */
};

/* PyTorch's equations and parameter layout (CHECKPOINT.md), G gate blocks of H
 * rows: weight_ih [G*H,I], weight_hh [G*H,H], bias_ih [G*H], bias_hh [G*H]
 * (added in that order, PyTorch's).  rnn: G=1; lstm: G=4 (i,f,g,o); gru: G=3
 * (r,z,n, with r applied to W_hn h + b_hn). */
extern const rg_cell_type rg_cell_rnn_tanh;
extern const rg_cell_type rg_cell_rnn_relu;
extern const rg_cell_type rg_cell_lstm;
extern const rg_cell_type rg_cell_gru;
/* The same LSTM and GRU written with plain ops only (add, split, sigmoid, tanh,
 * mul) instead of the fused gate rows; equal parameters, equal results. */
extern const rg_cell_type rg_cell_lstm_composed;
extern const rg_cell_type rg_cell_gru_composed;
/* A cell type by name: the built-ins ("lstm", "gru", "rnn_tanh", "rnn_relu",
 * "lstm_composed", "gru_composed"; also "rnn" = rnn_tanh), then the registered
 * ones.  NULL otherwise. */
const rg_cell_type *rg_cell_type_find(const char *name);
/* Makes a user's cell type known to rg_cell_type_find, so a checkpoint whose
 * metadata names it loads like a built-in.  The type is borrowed: it must stay
 * valid for the life of the process (a static const in the program or in a
 * plugin that stays loaded).  Its name ([A-Za-z0-9_.-], 1..63 bytes) must be
 * new: a built-in's or another type's name is refused; registering the same
 * type again is a no-op.  init and step are required, n_state in
 * 1..RG_CELL_MAX_STATE, gates >= 0.  At most RG_CELL_MAX_TYPES types.  Thread
 * safe.  0, or -1 with rg_last_error() naming the type and the problem. */
int rg_cell_type_register(const rg_cell_type *type);
/* The known types (built-ins first, then registered ones in order), for
 * listings: i in [0, rg_cell_type_count()); NULL outside. */
int rg_cell_type_count(void);
const rg_cell_type *rg_cell_type_at(int i);
/* The known names joined by sep ("lstm, gru, ...") into buf (truncated to fit);
 * "rnn" and the composed twins are left out.  Returns buf. */
char *rg_cell_type_names(char *buf, size_t size, const char *sep);

/* Loads a cell plugin: a shared object (dlopen, RTLD_NOW | RTLD_LOCAL) that
 * defines the one entry point
 *
 *     int rg_plugin_register(void);   (RG_PLUGIN_ENTRY)
 *
 * which registers its cells with rg_cell_type_register and returns 0 (or -1
 * with rg_set_error).  The plugin calls the library of the program that loads
 * it (build it without linking retrograd; the program exports its symbols), and
 * stays loaded.  A path without '/' is taken relative to the current folder.
 * Loading the same file again calls the entry point again (re-registering a
 * type is a no-op).  0, or -1 with a message naming the file: it cannot be
 * opened (missing, not a shared object, an undefined symbol), it has no
 * rg_plugin_register, or the entry point failed (its own message follows). */
#define RG_PLUGIN_ENTRY "rg_plugin_register"
int rg_cell_plugin_load(const char *path);

/* Sets up c and calls type->init.  prefix may be NULL or "" (names are then
 * "<role><suffix>", like PyTorch's LSTMCell).  Then checks the layout the type
 * relies on, so a mismatch fails here, naming the cell, rather than computing
 * something else: with project = rg_cell_project_standard or a step_rows hook,
 * rg_cell_check_projection; with gates declared, weight_hh [G*H,H] and bias_hh
 * [G*H] when the cell has them.  0 or -1. */
int rg_cell_init(rg_cell *c, const rg_cell_type *type, rg_params *P, const char *prefix,
                 const char *suffix, int64_t I, int64_t H, rg_dtype dt, rg_rng *rng);
/* For init functions: adds "<prefix>.<role><suffix>" of the given shape to P,
 * drawn from U(-1/sqrt(H), 1/sqrt(H)) (rng NULL: zeros), and appends it to
 * c->param with its role (the base name: "weight_ih", "bias_ih", "weight_hh",
 * "bias_hh" fill the fields of the same name; any other role is the cell's
 * own, found with rg_cell_get).  NULL on error (taken name, a role given
 * twice or longer than RG_CELL_ROLE_LEN - 1, too many parameters). */
rg_tensor *rg_cell_param(rg_cell *c, rg_params *P, const char *prefix, const char *role,
                         const char *suffix, int rank, const int64_t *shape, rg_rng *rng);
/* The parameter of a role, or NULL when the cell has none. */
rg_tensor *rg_cell_get(const rg_cell *c, const char *role);
/* For init functions: the four PyTorch tensors with G gate blocks (see above). */
int rg_cell_add_standard(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                         int G, rg_rng *rng);
/* The input projection of the standard layout: x [N,I] -> x W_ih^T + b_ih
 * [N,P] (without b_ih when the cell has no bias_ih), with the parameters found
 * by role.  The built-in cells use it; user cells may too.  NULL with a
 * message naming the cell when the layout is not there (see below). */
rg_tensor *rg_cell_project_standard(rg_tape *tp, const rg_cell *c, rg_tensor *x);
/* The check of that layout, for helpers that rely on it: c has a weight_ih
 * [P,I] (P = gates*H when the type declares gates), and its bias_ih, if any, is
 * [P].  fn names the caller in the message ("rg_cell_project_standard: cell
 * 'mine' has no parameter of role 'weight_ih' ...").  tp may be NULL (the
 * message then goes to rg_last_error only).  0 or -1. */
int rg_cell_check_projection(rg_tape *tp, const rg_cell *c, const char *fn);
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

/* The optional arguments of a sequence layer's forward; every field may be
 * left zero (and opts itself NULL), which is the plain case: full lengths,
 * initial states from the cell, no final states, no dropout.
 *   rg_seq_forward_ex(tp, rnn, x, &(rg_seq_opts){.lengths = len, .final = fin}) */
typedef struct rg_seq_opts {
    /* NULL (every sequence has T steps) or B values in [0,T], sorted or not:
     * outputs past a sequence's end are zero, its final state is the state after
     * its own last step (the reverse direction starts there), and padding
     * changes neither the outputs nor any gradient. */
    const int32_t *lengths;
    /* NULL, or n_state tensors (each may be NULL = the cell's initial state) of
     * [L*D,B,H], PyTorch's h_0 / c_0 layout. */
    rg_tensor *const *init;
    /* NULL, or room for n_state tensors: filled with [L*D,B,H] (h_n, c_n).  For
     * truncated BPTT, rg_detach them (or rg_tensor_copy into persistent
     * tensors) and pass them as the next chunk's init. */
    rg_tensor **final;
    /* Draws the dropout masks; needed only when the tape is training and
     * cfg.dropout > 0 and L > 1. */
    rg_rng *dropout_rng;
} rg_seq_opts;

/* Runs the stack over x [T,B,I]; returns the last layer's output [T,B,D*H]
 * (forward H then reverse H per step, PyTorch's layout).  opts: see above
 * (NULL: none).  NULL on error (message in rg_last_error(), and on the tape). */
rg_tensor *rg_seq_forward_ex(rg_tape *tp, const rg_seq *s, rg_tensor *x, const rg_seq_opts *opts);
/* The same with the options as trailing arguments (kept for existing callers;
 * new code: rg_seq_forward_ex). */
rg_tensor *rg_seq_forward(rg_tape *tp, const rg_seq *s, rg_tensor *x, const int32_t *lengths,
                          rg_tensor *const *init, rg_tensor **final, rg_rng *dropout_rng);

/* The same stack fed through an embedding table: ids I32 [T,B] index emb [V,I]
 * (I = input_size).  Equal to rg_seq_forward_ex(tp, s, rg_embedding(tp, emb,
 * ids), opts), but when the first layer's cells use rg_cell_project_standard (every
 * built-in cell does) and V <= T*B, the V table rows are mapped through W_ih
 * once instead of the T*B looked-up rows, in forward and in backward (a language
 * model's first layer then costs what a second layer without input projection
 * would): cells with step_rows (the built-in LSTM) read their rows straight
 * from the mapped table, the others get them through rg_embedding_linear. */
rg_tensor *rg_seq_forward_ids_ex(rg_tape *tp, const rg_seq *s, rg_tensor *emb, rg_tensor *ids,
                                 const rg_seq_opts *opts);
/* The same with the options as trailing arguments (kept for existing callers). */
rg_tensor *rg_seq_forward_ids(rg_tape *tp, const rg_seq *s, rg_tensor *emb, rg_tensor *ids,
                              const int32_t *lengths, rg_tensor *const *init,
                              rg_tensor **final, rg_rng *dropout_rng);

#ifdef __cplusplus
}
#endif
#endif
