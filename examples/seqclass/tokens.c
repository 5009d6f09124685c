/* seqclass's tokens: a text as byte ids or word ids, the vocabulary and its
 * metadata form. */
#include <stdlib.h>
#include <string.h>

#include "seqclass.h"

static void bytes_index(sc_vocab *v)
{
    memset(v->byte_index, -1, sizeof v->byte_index);
    for (int i = 0; i < v->n; i++)
        v->byte_index[v->byte[i]] = (int16_t)i;
}

/* every training text, joined by spaces (a new string) */
static char *training_text(const sc_data *d, int64_t *n)
{
    char *s = malloc((size_t)(d->n_bytes + d->n + 1));
    int64_t w = 0;
    for (int64_t k = 0; s && k < d->n; k++)
        if (d->split[k] == SC_TRAIN) {
            memcpy(s + w, d->bytes + d->off[k], (size_t)d->len[k]);
            w += d->len[k];
            s[w++] = ' ';
        }
    *n = w;
    return s;
}

int sc_vocab_build(sc_vocab *v, const sc_data *d, bool words, int vocab_size)
{
    memset(v, 0, sizeof *v);
    v->words = words;
    if (!words) {
        /* every byte of every text: the ids of any text of the data exist */
        bool seen[256] = {false};
        for (int64_t i = 0; i < d->n_bytes; i++)
            seen[d->bytes[i]] = true;
        for (int b = 0; b < 256; b++)
            if (seen[b])
                v->byte[v->n++] = (uint8_t)b;
        bytes_index(v);
        return 0;
    }
    int64_t n, nt;
    char *text = training_text(d, &n), **tok = NULL, *store = NULL;
    int rc = text ? wordlm_tokenize(text, n, &tok, &nt, &store) : -1;
    if (rc == 0 && wordlm_vocab_build(&v->wv, tok, nt, vocab_size) != 0) {
        rg_set_error("out of memory for the vocabulary");
        rc = -1;
    }
    if (!text)
        rg_set_error("out of memory");
    v->n = v->wv.n;
    free(text);
    free(tok);
    free(store);
    return rc;
}

char *sc_vocab_format(const sc_vocab *v)
{
    if (v->words)
        return wordlm_vocab_format(&v->wv);
    size_t size = 4 * 256 + 1, w = 0;
    char *s = malloc(size);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < v->n; i++)
        w += (size_t)snprintf(s + w, size - w, i ? ",%d" : "%d", v->byte[i]);
    return s;
}

/* "10,32,33": distinct byte values in increasing order */
static int parse_bytes(sc_vocab *v, const char *s, const char *file)
{
    const char *p = s;
    while (*p) {
        char *end;
        long b = strtol(p, &end, 10);
        if (end == p || b < 0 || b > 255 || (v->n > 0 && b <= v->byte[v->n - 1]) ||
            (*end != ',' && *end != '\0') || (*end == ',' && end[1] == '\0')) {
            rg_set_error("%s: metadata 'vocab' is not a list of increasing byte values", file);
            return -1;
        }
        v->byte[v->n++] = (uint8_t)b;
        p = *end ? end + 1 : end;
    }
    if (v->n == 0) {
        rg_set_error("%s: metadata 'vocab' is empty", file);
        return -1;
    }
    bytes_index(v);
    return 0;
}

int sc_vocab_parse(sc_vocab *v, const char *s, bool words, const char *file)
{
    memset(v, 0, sizeof *v);
    v->words = words;
    if (!s) {
        rg_set_error("%s: metadata 'vocab' is missing", file);
        return -1;
    }
    if (!words)
        return parse_bytes(v, s, file);
    if (wordlm_vocab_parse(&v->wv, s) != 0) {
        rg_set_error("%s: metadata 'vocab' is not a word list (<unk> <eol> then distinct words)",
                     file);
        return -1;
    }
    v->n = v->wv.n;
    return 0;
}

void sc_vocab_free(sc_vocab *v)
{
    if (v->words)
        wordlm_vocab_free(&v->wv);
    memset(v, 0, sizeof *v);
}

int sc_encode(const sc_vocab *v, const uint8_t *text, int64_t n, int64_t max_len,
              int32_t **ids, int64_t *n_ids, const char *what)
{
    *ids = NULL;
    *n_ids = 0;
    char **tok = NULL, *store = NULL;
    int64_t nt = n;
    if (v->words && wordlm_tokenize((const char *)text, n, &tok, &nt, &store) != 0)
        return -1;
    int64_t m = nt < max_len ? nt : max_len;
    int32_t *out = malloc((size_t)(m > 0 ? m : 1) * sizeof *out);
    int rc = out ? 0 : -1;
    for (int64_t i = 0; i < m && rc == 0; i++) {
        int id = v->words ? wordlm_vocab_index(&v->wv, tok[i]) : v->byte_index[text[i]];
        if (id < 0) {
            rg_set_error("%s: byte '%c' (%d) at offset %lld is not in the model's vocabulary "
                         "(%d bytes)", what, text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?',
                         text[i], (long long)i, v->n);
            rc = -1;
        }
        out[i] = id;
    }
    if (!out)
        rg_set_error("out of memory");
    free(tok);
    free(store);
    if (rc != 0) {
        free(out);
        return -1;
    }
    *ids = out;
    *n_ids = m;
    return 0;
}

void sc_encoded_free(sc_encoded *e)
{
    free(e->ids);
    free(e->at);
    free(e->len);
    memset(e, 0, sizeof *e);
}

int sc_encode_all(sc_encoded *e, const sc_vocab *v, const sc_data *d, int64_t max_len)
{
    memset(e, 0, sizeof *e);
    e->n = d->n;
    e->at = malloc((size_t)(d->n + 1) * sizeof *e->at);
    e->len = malloc((size_t)(d->n + 1) * sizeof *e->len);
    int64_t cap = d->n_bytes < d->n * max_len ? d->n_bytes : d->n * max_len;
    e->ids = malloc((size_t)(cap + 1) * sizeof *e->ids);
    if (!e->at || !e->len || !e->ids) {
        sc_encoded_free(e);
        rg_set_error("out of memory for the encoded texts");
        return -1;
    }
    for (int64_t k = 0; k < d->n; k++) {
        int32_t *ids;
        int64_t m;
        char what[64];
        snprintf(what, sizeof what, "text %lld (%s)", (long long)k, sc_split_names[d->split[k]]);
        if (sc_encode(v, d->bytes + d->off[k], d->len[k], max_len, &ids, &m, what) != 0) {
            sc_encoded_free(e);
            return -1;
        }
        e->at[k] = e->n_ids;
        e->len[k] = (int32_t)m;
        memcpy(e->ids + e->n_ids, ids, (size_t)m * sizeof *ids);
        e->n_ids += m;
        free(ids);
    }
    return 0;
}
