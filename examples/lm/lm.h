/* The recurrent language model that charlm and wordlm share (examples/lm/):
 * Embedding -> recurrent stack -> Linear head with PyTorch's names
 * (docs/CHECKPOINT.md), its checkpoint, its evaluation, and its training task
 * for the training core.  The programs own their vocabularies.  Built only from
 * <retrograd.h>. */
#ifndef LM_H
#define LM_H

#include <stdbool.h>
#include <stdint.h>

#include "retrograd.h"

/* ---- the model (model.c) ------------------------------------------------------ */
typedef struct lm_model {
    const rg_cell_type *cell;
    int64_t V, E, H;
    int L;
    double dropout;   /* between recurrent layers, training only (PyTorch's) */
    rg_dtype dtype;
    char *vocab;      /* the vocabulary's metadata form (owned), set by the program */
    rg_params *P;     /* embed.weight, rnn.*, head.weight, head.bias */
    rg_embedding_layer embed;
    rg_seq *rnn;
    rg_linear_layer head;
} lm_model;

/* Builds the model; rng draws PyTorch's initialisation (embedding N(0,1), the
 * rest U(-1/sqrt(H), 1/sqrt(H))), NULL leaves zeros.  0 or -1. */
int lm_model_init(lm_model *m, const rg_cell_type *cell, int64_t V, int64_t E, int64_t H,
                  int L, double dropout, rg_dtype dt, rg_rng *rng);
void lm_model_free(lm_model *m);
int lm_state_count(const lm_model *m);  /* the cell's n_state: 2 for LSTM (h, c) */
/* ids I32 [T,B] -> logits [T*B,V] (row t*B+b).  init: NULL or n_state tensors of
 * [L,B,H]; final: NULL or room for n_state tensors [L,B,H]. */
rg_tensor *lm_forward(rg_tape *tp, const lm_model *m, rg_tensor *ids,
                          rg_tensor *const *init, rg_tensor **final, rg_rng *dropout_rng);
/* The checkpoint's container: the parameters and the metadata cell, vocab and
 * format (add more, then write it).  NULL on error. */
rg_safetensors *lm_model_container(const lm_model *m, const char *format);
/* Reads a checkpoint: cell and vocabulary (its metadata form, not parsed) from
 * the metadata, sizes from the tensors (H from head.weight, L from the
 * "rnn.*_l<k>" names, the gate blocks checked against the cell's declared
 * count), values converted to dt (non-finite values refused).  The cell may be
 * a built-in or any registered one (a plugin loaded with --cell-lib first); an
 * unknown cell's message lists the known ones and, when the run that saved it
 * recorded one, its plugin ('cell-lib').  On error m is left empty.  0 or -1. */
int lm_model_load(lm_model *m, const char *path, rg_dtype dt);
/* The cell type of a --cell value, any registered name; NULL with "<what>
 * 'tree' is not one of lstm, gru, ... (a plugin's cell needs --cell-lib
 * FILE.so)" in rg_last_error(). */
const rg_cell_type *lm_cell_find(const char *name, const char *what);

/* Evaluation semantics of CHECKPOINT.md over ids[0..n): zero state, carried
 * through the whole text, sum of -ln p over the n-1 predictions into *sum_nll.
 * progress (may be NULL) is called now and then with the count done.  0 or -1. */
typedef void (*lm_progress_fn)(int64_t done, int64_t total, void *user);
int lm_eval_ids(const lm_model *m, const int32_t *ids, int64_t n, double *sum_nll,
                    lm_progress_fn progress, void *user);

/* ---- the training task (task.c): data and loss for the training core -------- */
enum { LM_MAX_SHARDS = 64 }; /* the training core's most micro-shards */
enum { LM_VAL_PIECE = 8192 }; /* predictions of a validation piece */
typedef struct lm_task {
    lm_model *m;
    const int32_t *ids;      /* the encoded text: [0, n_train) trains, the rest validates */
    int64_t n_train, n_val;
    int64_t T, B;            /* unroll, batch */
    bool carry;              /* --carry-state: B streams read in order, state carried */
    int64_t carry_pos;       /* offset inside each stream */
    bool *own;               /* [B]: rows this rank's shards carry */
    uint64_t text_hash;      /* of the text bytes, to tell a resumed run reads its text */
    int64_t text_bytes;
    const char *format;      /* the checkpoint's metadata 'format' */
    int32_t *in, *tg;        /* the step's ids [T,B] and targets [T*B] */
    rg_tensor *state[RG_CELL_MAX_STATE];                      /* carried [L,B,H] */
    rg_tensor *final[LM_MAX_SHARDS][RG_CELL_MAX_STATE];   /* per shard, on its tape */
} lm_task;

/* Allocates the step's buffers (and the carried state); 0 or -1. */
int lm_task_init(lm_task *t, lm_model *m, const int32_t *ids, int64_t n_train, int64_t n_val,
                 int64_t T, int64_t B, bool carry, const char *format);
void lm_task_free(lm_task *t);
/* The task for rg_trainer / rg_run_fit: windows of T+1 tokens, mean
 * cross-entropy, validation on the held-out tail in bits per char, or in
 * perplexity when words. */
rg_fit_task lm_fit_task(lm_task *t, bool words);

/* "data/<name>" in the current folder, else in the source tree compiled in
 * (CHARLM_SOURCE_DIR); a new string. */
char *prog_data_path(const char *name);

/* FNV-1a of a byte string (to tell whether a resumed run reads the same text). */
uint64_t lm_fnv1a(const uint8_t *p, int64_t n);

#endif
