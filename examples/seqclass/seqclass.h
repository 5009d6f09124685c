/* seqclass: which novel is this passage from?  A recurrent sequence
 * classifier on retrograd's public API and training core.
 *
 *   data.c     the labelled texts: passages of the five bundled Austen novels
 *              (or a user's TSV) and their split by position
 *   tokens.c   texts as byte or word ids, the vocabulary
 *   model.c    the model (embedding -> recurrent stack -> pooling over the valid
 *              steps -> linear) and its checkpoint
 *   train.c    seqclass train: the training task on the training core
 *   eval.c     seqclass eval (per-class report, confusion matrix) and the
 *              classification of whole splits
 *   predict.c  seqclass predict (one text) and seqclass dump (the encoded split,
 *              for bench/torch_seqclass_twin.py)
 *   bayes.c    the yardstick: multinomial naive Bayes on word unigrams and bigrams
 *
 * Errors: functions return -1 (or NULL) with a message in rg_last_error(); the
 * subcommands print it as "seqclass <cmd>: <message>" and exit with status 1
 * (2 for a flag error). */
#ifndef SEQCLASS_H
#define SEQCLASS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "retrograd.h"
#include "../wordlm/wordlm.h" /* its tokenizer and vocabulary; lm.h's prog_data_path, lm_fnv1a */

#define SC_FORMAT "retrograd seqclass 1"
enum {
    SC_MAX_CLASSES = 64,   /* labels of one data set */
    SC_MAX_LABEL = 64,     /* bytes of one label */
    SC_PASSAGE_MIN = 100,  /* a passage of a novel: whole sentences, 100..400 bytes */
    SC_PASSAGE_MAX = 400,
    SC_MAX_SHARDS = 64,    /* the training core's most micro-shards */
};
enum { SC_TRAIN = 0, SC_VAL = 1, SC_TEST = 2 };
extern const char *const sc_split_names[3]; /* "train", "val", "test" */

/* ---- the data (data.c) --------------------------------------------------------------- */
/* A set of labelled texts: text k is bytes [off[k], off[k] + len[k]) of `bytes`
 * (whitespace already collapsed to single spaces), of class label[k], in split
 * split[k]. */
typedef struct sc_data {
    int n_class;
    char *class_name[SC_MAX_CLASSES];
    uint8_t *bytes;
    int64_t n_bytes, cap;
    int64_t n, cap_items;
    int64_t *off;
    int32_t *len, *label;
    uint8_t *split;
    int64_t count[3];     /* texts per split */
    uint64_t hash;        /* of the source files, to tell a resumed run reads the same data */
} sc_data;

/* The five bundled novels (data/<name>.txt, found like charlm's corpus) cut into
 * passages, or a TSV file (label TAB text per line) when tsv is not NULL.
 * Novels: every sentence belongs to the part where it starts, the first 90% of
 * its novel (train), the next 5% (val) or the last 5% (test); a passage is a run
 * of whole sentences of the same part, 100..400 bytes (a sentence has a
 * lower-case letter and ends with '.', '!' or '?'; a heading or another
 * fragment between sentences ends a passage).  TSV: the lines of each
 * label, in file order; its last floor(n/10) lines are held out, the first half
 * of those (rounded down) for validation, the rest for testing.  A malformed
 * line (no tab, empty or over-long label, empty text, a control byte) is an
 * error naming the file and line; empty lines are skipped.  0 or -1. */
int sc_data_read(sc_data *d, const char *tsv);
void sc_data_free(sc_data *d);
/* Collapses runs of whitespace into one space and trims: the text as the
 * model sees it.  Returns the new length (in place). */
int64_t sc_normalise(uint8_t *s, int64_t n);

/* ---- tokens (data.c) ------------------------------------------------------------------ */
/* How texts become ids: bytes (the data's distinct bytes) or words (wordlm's
 * tokenizer: lower-cased letter/digit runs and single other bytes; the most
 * frequent training words, the rest <unk>). */
typedef struct sc_vocab {
    bool words;
    int n;                 /* V */
    int16_t byte_index[256]; /* bytes: byte -> id, -1 outside the vocabulary */
    uint8_t byte[256];
    wordlm_vocab wv;       /* words */
} sc_vocab;

/* Builds the vocabulary of d: every byte of its texts, or the vocab_size most
 * frequent words of its training texts.  0 or -1. */
int sc_vocab_build(sc_vocab *v, const sc_data *d, bool words, int vocab_size);
/* The metadata form ("32,33,..." or the escaped words joined by spaces), a new string. */
char *sc_vocab_format(const sc_vocab *v);
int sc_vocab_parse(sc_vocab *v, const char *s, bool words, const char *file);
void sc_vocab_free(sc_vocab *v);
/* Token ids of one text into *ids (a new array of *n ids, at most max_len).
 * A byte outside a byte vocabulary is an error naming it and its offset
 * (what names the text in the message).  0 or -1. */
int sc_encode(const sc_vocab *v, const uint8_t *text, int64_t n, int64_t max_len,
              int32_t **ids, int64_t *n_ids, const char *what);

/* Every text of d encoded: text k is ids [at[k], at[k] + len[k]). */
typedef struct sc_encoded {
    int32_t *ids;
    int64_t *at;
    int32_t *len;
    int64_t n, n_ids;
} sc_encoded;
int sc_encode_all(sc_encoded *e, const sc_vocab *v, const sc_data *d, int64_t max_len);
void sc_encoded_free(sc_encoded *e);

/* ---- the model (model.c) -------------------------------------------------------------- */
typedef struct sc_model_opts {
    const char *cell, *pool, *tokens;
    int64_t layers, hidden, embed, vocab_size;
    bool bidirectional;
} sc_model_opts;

typedef struct sc_model {
    const rg_cell_type *cell;
    int64_t V, E, H, C;
    int L;
    bool bidirectional;
    rg_seq_pool_mode pool;
    double dropout;          /* on the pooled features, training only */
    int64_t max_len;         /* texts are cut to this many tokens */
    rg_params *P;            /* embed.weight [V,E], rnn.*, head.weight [C,D*H], head.bias [C] */
    rg_embedding_layer embed;
    rg_seq *rnn;
    rg_linear_layer head;
    sc_vocab vocab;
    char *class_name[SC_MAX_CLASSES];
} sc_model;

extern const char *const sc_pool_names[3]; /* "last", "mean", "max" (rg_seq_pool_mode) */
/* Appends the model's flags (--cell --layers --hidden --embed --bidirectional
 * --pool --tokens --vocab-size), each RG_FLAG_MODEL.  Returns the count. */
int sc_model_flags(sc_model_opts *o, rg_flag *fl);
/* Builds the model (rng: PyTorch's initialisation; NULL: zeros); the
 * vocabulary and the class names are moved into the model.  0 or -1. */
int sc_model_init(sc_model *m, const sc_model_opts *o, sc_vocab *v, int n_class,
                  char *const *class_name, int64_t max_len, rg_rng *rng);
void sc_model_free(sc_model *m);
/* ids I32 [T,B], lengths[B] in [1,T] -> logits [B,C]. */
rg_tensor *sc_forward(rg_tape *tp, const sc_model *m, rg_tensor *ids, const int32_t *lengths,
                      rg_rng *dropout_rng);
/* The checkpoint's container: the parameters and the metadata format, cell,
 * sizes, pool, tokens, vocab, classes, max_len (the run adds its own). */
rg_safetensors *sc_model_container(const sc_model *m);
/* Reads a checkpoint: every metadata field checked like the flag it came
 * from, the tensors' shapes against the sizes, non-finite values refused.  On
 * error m is left empty.  0 or -1. */
int sc_model_load(sc_model *m, const char *path);
/* The cell type of a --cell value: any registered name, or a message listing them. */
const rg_cell_type *sc_cell_find(const char *name);

/* ---- classification (eval.c) ---------------------------------------------------------- */
/* Texts rows[0..B) of e as a padded batch on tp: ids I32 [T,B] (T the longest
 * length, padding id 0) and *lengths pointing at their B lengths (an I32
 * tensor on tp, valid until the tape is reset).  NULL on error. */
rg_tensor *sc_inputs(rg_tape *tp, const sc_encoded *e, const int64_t *rows, int64_t B,
                     const int32_t **lengths);
/* The log-probabilities of the classes [n][C] of texts idx[0..n) of e, in
 * batches of similar lengths, without gradients.  0 or -1. */
int sc_classify(const sc_model *m, const sc_encoded *e, const int64_t *idx, int64_t n,
                double *logp);
/* The texts of one split (a new array of *n indices). */
int sc_split_index(const sc_data *d, int split, int64_t **idx, int64_t *n);

/* A checkpoint with its data: the model, the texts (--data, else the file the
 * model was trained on, else the novels), checked to have the model's classes,
 * and encoded with its vocabulary.  0 or -1 (close it either way). */
typedef struct sc_session {
    sc_model m;
    sc_data d;
    sc_encoded e;
    const char *data;  /* the TSV read, or NULL for the novels */
    char *data_path;
} sc_session;
int sc_session_open(sc_session *s, const char *model, const char *data);
void sc_session_close(sc_session *s);
/* Prints the report of a split (classes, confusion matrix, the naive-Bayes
 * baseline) ending with the line "eval: passages=N accuracy=A macro_f1=F
 * baseline_accuracy=B".  0 or -1. */
int sc_evaluate(const sc_session *s, int split, const char *model);

/* ---- the naive-Bayes baseline (bayes.c) ----------------------------------------------- */
typedef struct sc_bayes sc_bayes;
/* Trains on d's training texts: features are the word unigrams and bigrams of
 * wordlm's tokenizer; Laplace (add-one) smoothing; class priors from counts. */
sc_bayes *sc_bayes_train(const sc_data *d);
/* The most likely class of a text (features unseen in training are ignored). */
int sc_bayes_predict(const sc_bayes *nb, const uint8_t *text, int64_t n);
void sc_bayes_free(sc_bayes *nb);

/* ---- subcommands ---------------------------------------------------------------------- */
int seqclass_train_main(int argc, char **argv);
int seqclass_eval_main(int argc, char **argv);
int seqclass_predict_main(int argc, char **argv);
int seqclass_dump_main(int argc, char **argv);

#endif
