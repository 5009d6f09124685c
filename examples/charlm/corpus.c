/* charlm's corpus: reading a text as bytes, its vocabulary (the distinct bytes,
 * sorted), the metadata form of a vocabulary, and the bundled corpus's path. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "charlm.h"

void charlm_vocab_from_text(charlm_vocab *v, const uint8_t *text, int64_t n)
{
    bool seen[256] = {0};
    for (int64_t i = 0; i < n; i++)
        seen[text[i]] = true;
    v->n = 0;
    for (int b = 0; b < 256; b++) {
        v->index[b] = -1;
        if (seen[b]) {
            v->index[b] = (int16_t)v->n;
            v->byte[v->n++] = (uint8_t)b;
        }
    }
}

int charlm_vocab_format(const charlm_vocab *v, char *buf, size_t size)
{
    size_t at = 0;
    if (size == 0)
        return -1;
    buf[0] = '\0';
    for (int i = 0; i < v->n; i++) {
        int k = snprintf(buf + at, size - at, "%s%d", i ? "," : "", v->byte[i]);
        if (k < 0 || (size_t)k >= size - at)
            return -1;
        at += (size_t)k;
    }
    return 0;
}

int charlm_vocab_parse(charlm_vocab *v, const char *s, const char *file)
{
    v->n = 0;
    for (int b = 0; b < 256; b++)
        v->index[b] = -1;
    if (!s || !*s) {
        rg_set_error("%s: metadata 'vocab' is missing or empty", file);
        return -1;
    }
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long b = strtol(p, &end, 10);
        if (end == p || errno || b < 0 || b > 255 || (*end != ',' && *end != '\0')) {
            rg_set_error("%s: metadata 'vocab' is malformed at character %d (want byte values "
                         "0..255 joined by commas)", file, (int)(p - s));
            return -1;
        }
        if (v->index[b] >= 0) {
            rg_set_error("%s: metadata 'vocab' lists byte %ld twice", file, b);
            return -1;
        }
        v->index[b] = (int16_t)v->n;
        v->byte[v->n++] = (uint8_t)b;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    return 0;
}

static const char *byte_name(uint8_t b, char *buf, size_t n)
{
    if (b >= 32 && b < 127 && b != '\'')
        snprintf(buf, n, "'%c' (%d)", b, b);
    else
        snprintf(buf, n, "%d (0x%02x)", b, b);
    return buf;
}

int charlm_encode(const charlm_vocab *v, const uint8_t *text, int64_t n, int32_t *ids,
                  const char *file)
{
    for (int64_t i = 0; i < n; i++) {
        int k = v->index[text[i]];
        if (k < 0) {
            char b[32];
            rg_set_error("%s: byte %s at offset %lld is not in the model's vocabulary "
                         "(%d bytes)", file, byte_name(text[i], b, sizeof b), (long long)i,
                         v->n);
            return -1;
        }
        ids[i] = k;
    }
    return 0;
}

int charlm_set_vocab(lm_model *m, const charlm_vocab *v)
{
    char buf[256 * 4 + 1];
    if (charlm_vocab_format(v, buf, sizeof buf) != 0) {
        rg_set_error("charlm: vocabulary too long to format");
        return -1;
    }
    char *copy = malloc(strlen(buf) + 1);
    if (!copy) {
        rg_set_error("out of memory");
        return -1;
    }
    strcpy(copy, buf);
    free(m->vocab);
    m->vocab = copy;
    return 0;
}

int charlm_load(lm_model *m, charlm_vocab *v, const char *path)
{
    if (lm_model_load(m, path, RG_F32) != 0)
        return -1;
    if (charlm_vocab_parse(v, m->vocab, path) != 0) {
        lm_model_free(m);
        return -1;
    }
    if (m->V != v->n) {
        rg_set_error("%s: 'embed.weight' has %lld rows but the vocabulary has %d bytes", path,
                     (long long)m->V, v->n);
        lm_model_free(m);
        return -1;
    }
    return 0;
}
