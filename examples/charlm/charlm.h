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

/* A whole file in memory.  -1 with a message naming path when it cannot be read
 * or is empty. */
int charlm_read_file(const char *path, uint8_t **data, int64_t *n);
/* Maps text to token ids; -1 with a message naming the first byte that is not
 * in v and its offset (file names the text in the message). */
int charlm_encode(const charlm_vocab *v, const uint8_t *text, int64_t n, int32_t *ids,
                  const char *file);
/* The bundled corpus "data/<name>": in the current directory, else in the
 * source tree compiled in (CHARLM_SOURCE_DIR).  Returns a static buffer. */
const char *charlm_default_text(const char *name);
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
/* Writes the checkpoint (F32, metadata cell + vocab + extra pairs {k, v, ...,
 * NULL}) atomically.  0 or -1. */
int charlm_model_save(const charlm_model *m, const char *path, const char *const *extra_meta);
/* Reads a checkpoint: cell and vocabulary from the metadata, sizes from the
 * tensors, values converted to dt.  On error m is left empty.  0 or -1. */
int charlm_model_load(charlm_model *m, const char *path, rg_dtype dt);

/* Evaluation semantics of CHECKPOINT.md over ids[0..n): zero state, carried
 * through the whole text, sum of -ln p over the n-1 predictions into *sum_nll.
 * progress (may be NULL) is called now and then with the count done.  0 or -1. */
typedef void (*charlm_progress_fn)(int64_t done, int64_t total, void *user);
int charlm_eval_ids(const charlm_model *m, const int32_t *ids, int64_t n, double *sum_nll,
                    charlm_progress_fn progress, void *user);

/* ---- command line (cli.c) -------------------------------------------------- */
typedef enum cli_kind { CLI_INT, CLI_DOUBLE, CLI_STRING, CLI_FLAG } cli_kind;
typedef struct cli_flag {
    const char *name;   /* "--hidden" */
    cli_kind kind;
    void *dest;         /* int64_t*, double*, const char**, bool* */
    double min, max;    /* inclusive bounds of numbers */
    const char *help;   /* NULL: not listed in --help (for tests) */
    bool seen;          /* set by cli_parse */
} cli_flag;
/* Parses argv[first..argc).  0: parsed; 1: --help printed to stdout; -1: a
 * message was printed to stderr ("charlm train: unknown flag '--x'"). */
int cli_parse(const char *prog, const char *usage, int argc, char **argv, int first,
              cli_flag *flags, int n);
bool cli_seen(const cli_flag *flags, int n, const char *name);

/* ---- progress line (progress.c) --------------------------------------------- */
typedef struct charlm_progress {
    bool tty;
    double start, last_print;
    int64_t every;       /* plain mode: a line every this many steps */
    int width;           /* of the last in-place line */
} charlm_progress;
double charlm_now(void);  /* monotonic seconds */
void charlm_progress_init(charlm_progress *p, int64_t total_steps);
/* One report: in place on a terminal (at most 10 a second unless force),
 * else a plain line every p->every steps or when force.  val_bpc NaN: none yet. */
void charlm_progress_step(charlm_progress *p, int64_t step, int64_t total, double loss,
                          double val_bpc, double chars_per_s, double eta_s, bool force);
void charlm_progress_done(charlm_progress *p);

/* ---- SVG plot (plot.c) -------------------------------------------------------- */
typedef struct charlm_series {
    const char *label;
    const char *color;
    const double *x, *y;
    int64_t n;
} charlm_series;
/* Line chart of the series against a common x axis, with axes, ticks, labels
 * and a legend, written to path.  0 or -1 (message set). */
int charlm_plot_svg(const char *path, const char *title, const char *xlabel,
                    const char *ylabel, const charlm_series *s, int n_series);

/* ---- subcommands -------------------------------------------------------------- */
int charlm_train_main(int argc, char **argv);
int charlm_sample_main(int argc, char **argv);
int charlm_eval_main(int argc, char **argv);
int charlm_gradcheck_main(int argc, char **argv);

#endif
