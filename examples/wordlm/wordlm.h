/* wordlm: a word-level recurrent language model.  Tokens are runs of letters
 * and digits (lower-cased), single punctuation marks and an end-of-line token;
 * the vocabulary keeps the most frequent training tokens and maps the rest to
 * <unk>.  The model and checkpoint are charlm's (Embedding -> RNN -> Linear,
 * PyTorch names, safetensors) with the vocabulary stored as words. */
#ifndef WORDLM_H
#define WORDLM_H

#include <stdint.h>
#include <stdio.h>

#include "lm.h"
#include "retrograd.h"

#define WORDLM_UNK 0  /* "<unk>" */
#define WORDLM_EOL 1  /* "<eol>" */

typedef struct wordlm_vocab {
    int n;
    char **word;      /* n strings, owned */
    void *map;        /* word -> index (uthash) */
} wordlm_vocab;

/* Splits text into tokens (strings pointing into a new buffer *store that the
 * caller frees, together with *tokens).  A token is the escaped form of its
 * bytes (a lower-cased ASCII alphanumeric run, or one other byte: itself when
 * printable ASCII other than '%', else "%XX"), so any text round-trips through
 * a vocabulary.  -1 on out of memory. */
int wordlm_tokenize(const char *text, int64_t n, char ***tokens, int64_t *n_tokens,
                    char **store);
/* The max_size - 2 most frequent of tokens[0..n) (ties: alphabetical), after
 * <unk> and <eol>.  0 or -1. */
int wordlm_vocab_build(wordlm_vocab *v, char *const *tokens, int64_t n, int max_size);
/* From the metadata form (words joined by single spaces).  0 or -1. */
int wordlm_vocab_parse(wordlm_vocab *v, const char *s);
/* The metadata form; a new string (free it). */
char *wordlm_vocab_format(const wordlm_vocab *v);
/* Writes a token's bytes (the inverse of the escaping; <eol> is a newline). */
int wordlm_token_write(FILE *f, const char *token);
int wordlm_vocab_index(const wordlm_vocab *v, const char *word);  /* WORDLM_UNK if absent */
void wordlm_vocab_free(wordlm_vocab *v);

/* Streams length words after prime from the zero state (temperature temp). */
int wordlm_sample(const lm_model *m, const wordlm_vocab *v, const char *prime, int64_t length,
                  double temp, uint64_t seed);
int wordlm_train_main(int argc, char **argv);

#endif
