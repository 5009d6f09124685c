/* charlm: a character-level language model (embedding, recurrent stack, linear
 * head), its corpus, its command line and its subcommands (train, sample, eval,
 * gradcheck, graph).  The model is docs/CHECKPOINT.md's CharLM with PyTorch's names,
 * so a checkpoint loads into PyTorch and back.  Built only from <retrograd.h>.
 *
 * Errors: functions return -1 (or NULL) with a message in rg_last_error(); the
 * subcommands print it as "charlm <cmd>: <message>" and return exit status 1. */
#ifndef CHARLM_H
#define CHARLM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lm.h"
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

/* The checkpoint of a charlm model: lm_model_load, then its vocabulary parsed
 * and checked against the embedding's rows.  On error m is left empty. */
int charlm_load(lm_model *m, charlm_vocab *v, const char *path);
/* The vocabulary's metadata form, kept by the model for its checkpoints. */
int charlm_set_vocab(lm_model *m, const charlm_vocab *v);

/* ---- subcommands -------------------------------------------------------------- */
int charlm_train_main(int argc, char **argv);
int charlm_sample_main(int argc, char **argv);
int charlm_eval_main(int argc, char **argv);
int charlm_gradcheck_main(int argc, char **argv);
int charlm_graph_main(int argc, char **argv);

#endif
