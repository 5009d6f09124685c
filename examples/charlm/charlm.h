/* charlm: a character-level language model (embedding, recurrent stack, linear
 * head), its corpus, its command line and its subcommands (train, sample, eval,
 * gradcheck).  The model is docs/CHECKPOINT.md's CharLM with PyTorch's names,
 * so a checkpoint loads into PyTorch and back.  Built only from <retrograd.h>.
 *
 * Errors: functions return -1 (or NULL) with a message in rg_last_error(); the
 * subcommands print it as "charlm <cmd>: <message>" and return exit status 1. */
#ifndef CHARLM_H
#define CHARLM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "retrograd.h"

/* ---- vocabulary and corpus (corpus.c) -------------------------------------- */
typedef struct charlm_vocab {
    int n;              /* V: number of tokens */
    uint8_t byte[256];  /* token i is byte[i] */
    int16_t index[256]; /* byte -> token, -1 when not in the vocabulary */
} charlm_vocab;

/* The sorted distinct bytes of text[0..n). */
void charlm_vocab_from_text(charlm_vocab *v, const uint8_t *text, int64_t n);
/* "10,32,33" (CHECKPOINT.md) into buf; -1 when buf is too small. */
int charlm_vocab_format(const charlm_vocab *v, char *buf, size_t size);
/* Parses the metadata form; -1 with a message on a malformed list or a repeat. */
int charlm_vocab_parse(charlm_vocab *v, const char *s, const char *file);

/* Maps text to token ids; -1 with a message naming the first byte that is not
 * in v and its offset (file names the text in the message). */
int charlm_encode(const charlm_vocab *v, const uint8_t *text, int64_t n, int32_t *ids,
                  const char *file);
/* FNV-1a of a byte string (to tell whether a resumed run reads the same text). */
uint64_t charlm_fnv1a(const uint8_t *p, int64_t n);

/* ---- the model (model.c) --------------------------------------------------- */
typedef struct charlm_model {
    const rg_cell_type *cell;
    int64_t V, E, H;
    int L;
    double dropout;   /* between recurrent layers, training only (PyTorch's) */
    rg_dtype dtype;
    charlm_vocab vocab;
    rg_params *P;     /* embed.weight, rnn.*, head.weight, head.bias */
    rg_embedding_layer embed;
    rg_seq *rnn;
    rg_linear_layer head;
} charlm_model;

/* Builds the model; rng draws PyTorch's initialisation (embedding N(0,1), the
 * rest U(-1/sqrt(H), 1/sqrt(H))), NULL leaves zeros.  0 or -1. */
int charlm_model_init(charlm_model *m, const rg_cell_type *cell, const charlm_vocab *v,
                      int64_t E, int64_t H, int L, double dropout, rg_dtype dt, rg_rng *rng);
void charlm_model_free(charlm_model *m);
int charlm_state_count(const charlm_model *m);  /* 2 for LSTM (h, c), else 1 */
/* ids I32 [T,B] -> logits [T*B,V] (row t*B+b).  init: NULL or n_state tensors of
 * [L,B,H]; final: NULL or room for n_state tensors [L,B,H]. */
rg_tensor *charlm_forward(rg_tape *tp, const charlm_model *m, rg_tensor *ids,
                          rg_tensor *const *init, rg_tensor **final, rg_rng *dropout_rng);
/* The checkpoint's container: the parameters and the metadata cell, vocab and
 * format (add more, then write it).  NULL on error. */
rg_safetensors *charlm_model_container(const charlm_model *m);
/* Reads a checkpoint: cell and vocabulary from the metadata, sizes from the
 * tensors, values converted to dt.  On error m is left empty.  0 or -1. */
int charlm_model_load(charlm_model *m, const char *path, rg_dtype dt);

/* Evaluation semantics of CHECKPOINT.md over ids[0..n): zero state, carried
 * through the whole text, sum of -ln p over the n-1 predictions into *sum_nll.
 * progress (may be NULL) is called now and then with the count done.  0 or -1. */
typedef void (*charlm_progress_fn)(int64_t done, int64_t total, void *user);
int charlm_eval_ids(const charlm_model *m, const int32_t *ids, int64_t n, double *sum_nll,
                    charlm_progress_fn progress, void *user);

/* ---- the training task (task.c): data and loss for the training core -------- */
enum { CHARLM_MAX_SHARDS = 16 };
typedef struct charlm_task {
    charlm_model *m;
    const int32_t *ids;      /* the encoded text: [0, n_train) trains, the rest validates */
    int64_t n_train, n_val;
    int64_t T, B;            /* unroll, batch */
    bool carry;              /* --carry-state: B streams read in order, state carried */
    int64_t carry_pos;       /* offset inside each stream */
    uint64_t text_hash;      /* of the text bytes, to tell a resumed run reads its text */
    int64_t text_bytes;
    int32_t *in, *tg;        /* the step's ids [T,B] and targets [T*B] */
    rg_tensor *state[RG_CELL_MAX_STATE];                      /* carried [L,B,H] */
    rg_tensor *final[CHARLM_MAX_SHARDS][RG_CELL_MAX_STATE];   /* per shard, on its tape */
} charlm_task;

/* Allocates the step's buffers (and the carried state); 0 or -1. */
int charlm_task_init(charlm_task *t, charlm_model *m, const int32_t *ids, int64_t n_train,
                     int64_t n_val, int64_t T, int64_t B, bool carry);
void charlm_task_free(charlm_task *t);
/* The task for rg_trainer / rg_run_fit: windows of T+1 bytes, mean cross-entropy,
 * validation on the held-out tail in bits per char. */
rg_fit_task charlm_fit_task(charlm_task *t);

/* "data/<name>" in the current folder, else in the source tree compiled in
 * (CHARLM_SOURCE_DIR); a new string. */
char *prog_data_path(const char *name);

/* ---- subcommands -------------------------------------------------------------- */
int charlm_train_main(int argc, char **argv);
int charlm_sample_main(int argc, char **argv);
int charlm_eval_main(int argc, char **argv);
int charlm_gradcheck_main(int argc, char **argv);

#endif
