/* The char-LM benchmarks' text, as token ids (bench_charlm, bench_hvp). */
#ifndef RG_BENCHTEXT_H
#define RG_BENCHTEXT_H
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "retrograd.h"

/* The text at path as token ids: its distinct bytes, sorted; *n ids, *V of
 * them distinct.  NULL with a message on error. */
static inline int32_t *encode_bytes(const char *path, int64_t *n, int64_t *V) {
    uint8_t *raw;
    if (rg_file_read_all(path, &raw, n) != 0) return NULL;
    int map[256];
    bool seen[256] = {0};
    for (int64_t i = 0; i < *n; ++i) seen[raw[i]] = true;
    *V = 0;
    for (int b = 0; b < 256; ++b) map[b] = seen[b] ? (int)(*V)++ : -1;
    int32_t *ids = malloc((size_t)*n * sizeof *ids);
    for (int64_t i = 0; ids && i < *n; ++i) ids[i] = map[raw[i]];
    free(raw);
    if (!ids) rg_set_error("out of memory");
    return ids;
}
#endif
