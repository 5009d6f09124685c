/* Where a program finds its bundled data, and the checksum of a text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lm.h"

#ifndef CHARLM_SOURCE_DIR
#define CHARLM_SOURCE_DIR "."
#endif

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


uint64_t lm_fnv1a(const uint8_t *p, int64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
