/* Cell plugins: a shared object whose one entry point, rg_plugin_register,
 * registers its cell types (rg_cell_type_register).  The object is opened
 * with dlopen and never closed: the types it registered point into it. */
#include "rg_layers.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef int (*plugin_entry)(void);

int rg_cell_plugin_load(const char *path)
{
    if (!path || !*path) {
        rg_set_error("rg_cell_plugin_load: %s", !path ? "path is NULL" : "empty path");
        return -1;
    }
    /* dlopen searches the library path for a bare name; a user means the file */
    char full[4096];
    int n = snprintf(full, sizeof full, "%s%s", strchr(path, '/') ? "" : "./", path);
    if (n < 0 || (size_t)n >= sizeof full) {
        rg_set_error("rg_cell_plugin_load: path too long (%.80s...)", path);
        return -1;
    }
    struct stat st;
    if (stat(full, &st) != 0) {
        rg_set_error("cell plugin '%s': %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        rg_set_error("cell plugin '%s': not a regular file", path);
        return -1;
    }
    dlerror();
    void *h = dlopen(full, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        rg_set_error("cell plugin '%s': cannot load it: %s", path, why ? why : "dlopen failed");
        return -1;
    }
    /* POSIX: a function pointer read from dlsym's void * through memcpy */
    void *sym = dlsym(h, RG_PLUGIN_ENTRY);
    if (!sym) {
        rg_set_error("cell plugin '%s' has no entry point %s (define "
                     "int " RG_PLUGIN_ENTRY "(void) that registers its cells)", path,
                     RG_PLUGIN_ENTRY);
        dlclose(h);
        return -1;
    }
    plugin_entry entry;
    memcpy(&entry, &sym, sizeof entry);
    rg_clear_error();
    int rc = entry();
    if (rc != 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", *rg_last_error() ? rg_last_error() : "no message");
        rg_set_error("cell plugin '%s': %s() returned %d: %s", path, RG_PLUGIN_ENTRY, rc, why);
        /* cells it registered before failing stay registered: keep the code loaded */
        return -1;
    }
    return 0;
}
