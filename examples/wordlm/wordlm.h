/* wordlm: a word-level recurrent language model.  Tokens are runs of letters
 * and digits (lower-cased), single punctuation marks and an end-of-line token;
 * the vocabulary keeps the most frequent training tokens and maps the rest to
 * <unk>.  The model and checkpoint are charlm's (Embedding -> RNN -> Linear,
 * PyTorch names, safetensors) with the vocabulary stored as words. */
#ifndef WORDLM_H
#define WORDLM_H

#include <stdint.h>

#include "retrograd.h"

#define WORDLM_UNK 0  /* "<unk>" */
#define WORDLM_EOL 1  /* "<eol>" */

typedef struct wordlm_vocab {
    int n;
    char **word;      /* n strings, owned */
    void *map;        /* word -> index (uthash) */
} wordlm_vocab;

/* Splits text into tokens (strings pointing into a new buffer *store that the
 * caller frees, together with *tokens).  -1 on out of memory. */
int wordlm_tokenize(const char *text, int64_t n, char ***tokens, int64_t *n_tokens,
                    char **store);
/* The max_size - 2 most frequent of tokens[0..n) (ties: alphabetical), after
 * <unk> and <eol>.  0 or -1. */
int wordlm_vocab_build(wordlm_vocab *v, char *const *tokens, int64_t n, int max_size);
/* From the metadata form (words joined by single spaces).  0 or -1. */
int wordlm_vocab_parse(wordlm_vocab *v, const char *s);
/* The metadata form; a new string (free it). */
char *wordlm_vocab_format(const wordlm_vocab *v);
int wordlm_vocab_index(const wordlm_vocab *v, const char *word);  /* WORDLM_UNK if absent */
void wordlm_vocab_free(wordlm_vocab *v);

#endif
