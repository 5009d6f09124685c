/* wordlm's tokenizer and vocabulary (frequency-capped, with <unk> and <eol>). */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "wordlm.h"

typedef struct word_entry {
    const char *word;
    int64_t count;
    int index;
    UT_hash_handle hh;
} word_entry;

/* A token is the escaped form of its bytes: a lower-cased run of ASCII letters
 * and digits, or one other byte, written as itself when it is printable ASCII
 * other than '%', else as "%XX".  So every token is a non-empty printable
 * string without spaces, whatever the text's bytes (NUL, non-UTF-8). */
int wordlm_tokenize(const char *text, int64_t n, char ***tokens, int64_t *n_tokens,
                    char **store)
{
    /* every token is at most 3 bytes per byte of text, plus its NUL */
    char *buf = malloc((size_t)(4 * n + 8));
    char **tok = malloc((size_t)(n + 1) * sizeof *tok);
    if (!buf || !tok) {
        free(buf);
        free(tok);
        rg_set_error("wordlm: out of memory to tokenize %lld bytes", (long long)n);
        return -1;
    }
    int64_t nt = 0, at = 0;
    for (int64_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n') {
            tok[nt++] = "<eol>";
            i++;
        } else if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f') {
            i++;
        } else if (ch < 128 && isalnum(ch)) {
            tok[nt++] = buf + at;
            while (i < n && (unsigned char)text[i] < 128 && isalnum((unsigned char)text[i]))
                buf[at++] = (char)tolower((unsigned char)text[i++]);
            buf[at++] = '\0';
        } else {
            tok[nt++] = buf + at;
            if (ch > 0x20 && ch < 0x7f && ch != '%')
                buf[at++] = (char)ch;
            else
                at += sprintf(buf + at, "%%%02X", ch);
            buf[at++] = '\0';
            i++;
        }
    }
    *tokens = tok;
    *n_tokens = nt;
    *store = buf;
    return 0;
}

int wordlm_token_write(FILE *f, const char *token)
{
    if (!strcmp(token, "<eol>"))
        return fputc('\n', f) == EOF ? -1 : 0;
    unsigned v;
    if (token[0] == '%' && strlen(token) == 3 && sscanf(token + 1, "%2X", &v) == 1)
        return fputc((int)v, f) == EOF ? -1 : 0;
    return fputs(token, f) == EOF ? -1 : 0;
}

/* a well-formed vocabulary word: printable ASCII without spaces */
static bool word_ok(const char *w)
{
    if (!*w)
        return false;
    for (const unsigned char *p = (const unsigned char *)w; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return false;
    return true;
}

static int by_count(const void *a, const void *b)
{
    const word_entry *x = *(const word_entry *const *)a, *y = *(const word_entry *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->word, y->word);
}

static int add_word(wordlm_vocab *v, const char *w)
{
    word_entry *e = calloc(1, sizeof *e);
    char *copy = strdup(w);
    if (!e || !copy) {
        free(e);
        free(copy);
        return -1;
    }
    v->word[v->n] = copy;
    e->word = copy;
    e->index = v->n++;
    word_entry *map = v->map;
    HASH_ADD_KEYPTR(hh, map, e->word, strlen(e->word), e);
    v->map = map;
    return 0;
}

int wordlm_vocab_build(wordlm_vocab *v, char *const *tokens, int64_t n, int max_size)
{
    memset(v, 0, sizeof *v);
    word_entry *counts = NULL, *e, *t;
    int rc = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!strcmp(tokens[i], "<eol>"))
            continue;
        HASH_FIND_STR(counts, tokens[i], e);
        if (!e) {
            if (!(e = calloc(1, sizeof *e)))
                goto out;
            e->word = tokens[i];
            HASH_ADD_KEYPTR(hh, counts, e->word, strlen(e->word), e);
        }
        e->count++;
    }
    int distinct = (int)HASH_COUNT(counts);
    word_entry **all = malloc((size_t)(distinct + 1) * sizeof *all);
    v->word = malloc((size_t)(max_size + 2) * sizeof *v->word);
    if (!all || !v->word) {
        free(all);
        goto out;
    }
    int k = 0;
    HASH_ITER(hh, counts, e, t) all[k++] = e;
    qsort(all, (size_t)k, sizeof *all, by_count);
    rc = add_word(v, "<unk>") || add_word(v, "<eol>") ? -1 : 0;
    for (int i = 0; i < k && v->n < max_size && rc == 0; i++)
        rc = add_word(v, all[i]->word);
    free(all);
out:
    HASH_ITER(hh, counts, e, t)
    {
        HASH_DEL(counts, e);
        free(e);
    }
    if (rc != 0)
        wordlm_vocab_free(v);
    return rc;
}

int wordlm_vocab_parse(wordlm_vocab *v, const char *s)
{
    memset(v, 0, sizeof *v);
    if (!s || !*s)
        return -1;
    int64_t words = 1;
    for (const char *p = s; *p; p++)
        words += *p == ' ';
    v->word = malloc((size_t)words * sizeof *v->word);
    char *copy = strdup(s);
    if (!v->word || !copy) {
        free(copy);
        wordlm_vocab_free(v);
        return -1;
    }
    int rc = 0;
    char *save = NULL;
    for (char *w = strtok_r(copy, " ", &save); w && rc == 0; w = strtok_r(NULL, " ", &save)) {
        word_entry *e;
        word_entry *map = v->map;
        HASH_FIND_STR(map, w, e);
        rc = e || !word_ok(w) ? -1 : add_word(v, w);
    }
    free(copy);
    if (rc != 0 || v->n < 2 || strcmp(v->word[0], "<unk>") || strcmp(v->word[1], "<eol>")) {
        wordlm_vocab_free(v);
        return -1;
    }
    return 0;
}

char *wordlm_vocab_format(const wordlm_vocab *v)
{
    size_t len = 1;
    for (int i = 0; i < v->n; i++)
        len += strlen(v->word[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    for (int i = 0; i < v->n; i++) {
        size_t l = strlen(v->word[i]);
        if (i)
            *p++ = ' ';
        memcpy(p, v->word[i], l);
        p += l;
    }
    *p = '\0';
    return s;
}

int wordlm_vocab_index(const wordlm_vocab *v, const char *word)
{
    word_entry *e, *map = v->map;
    HASH_FIND_STR(map, word, e);
    return e ? e->index : WORDLM_UNK;
}

void wordlm_vocab_free(wordlm_vocab *v)
{
    word_entry *map = v->map, *e, *t;
    HASH_ITER(hh, map, e, t)
    {
        HASH_DEL(map, e);
        free(e);
    }
    for (int i = 0; i < v->n; i++)
        free(v->word[i]);
    free(v->word);
    memset(v, 0, sizeof *v);
}
