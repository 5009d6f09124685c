/* Where a program finds its bundled data. */
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

