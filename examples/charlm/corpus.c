/* charlm's corpus: reading a text as bytes, its vocabulary (the distinct bytes,
 * sorted), the metadata form of a vocabulary, and the bundled corpus's path. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "charlm.h"

#ifndef CHARLM_SOURCE_DIR
#define CHARLM_SOURCE_DIR "."
#endif

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

char *prog_data_path(const char *name)
{
    struct stat st;
    size_t n = strlen(name) + strlen(CHARLM_SOURCE_DIR) + 8;
    char *path = malloc(n);
    if (!path)
        return NULL;
    snprintf(path, n, "data/%s", name);
    if (stat(path, &st) != 0)
        snprintf(path, n, "%s/data/%s", CHARLM_SOURCE_DIR, name);
    return path;
}

uint64_t charlm_fnv1a(const uint8_t *p, int64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
