/* Cell types by name: the built-ins, then the types users register (their own
 * cells, or a plugin's: rg_cell_plugin_load in plugin.c), so that a checkpoint
 * whose metadata names a cell finds it the same way for both. */
#include "rg_layers.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* the built-ins in listing order; "rnn" is an alias of rnn_tanh */
static const rg_cell_type *const builtins[] = {
    &rg_cell_lstm, &rg_cell_gru, &rg_cell_rnn_tanh, &rg_cell_rnn_relu,
    &rg_cell_lstm_composed, &rg_cell_gru_composed,
};
enum { N_BUILTIN = (int)(sizeof builtins / sizeof builtins[0]) };

/* Registered types: appended, never removed (a type outlives every model that
 * uses it), so a reader holding an index stays valid. */
static struct {
    pthread_mutex_t lock;
    const rg_cell_type *types[RG_CELL_MAX_TYPES];
    int n;
} g_reg = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};

static const rg_cell_type *find_builtin(const char *name)
{
    if (!strcmp(name, "rnn"))
        return &rg_cell_rnn_tanh;
    for (int i = 0; i < N_BUILTIN; i++)
        if (!strcmp(builtins[i]->name, name))
            return builtins[i];
    return NULL;
}

/* under g_reg.lock */
static const rg_cell_type *find_registered(const char *name)
{
    for (int i = 0; i < g_reg.n; i++)
        if (!strcmp(g_reg.types[i]->name, name))
            return g_reg.types[i];
    return NULL;
}

const rg_cell_type *rg_cell_type_find(const char *name)
{
    if (!name)
        return NULL;
    const rg_cell_type *t = find_builtin(name);
    if (t)
        return t;
    pthread_mutex_lock(&g_reg.lock);
    t = find_registered(name);
    pthread_mutex_unlock(&g_reg.lock);
    return t;
}

/* a name that can travel through metadata, flags and file names unchanged */
static bool good_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return false;
    return true;
}

int rg_cell_type_register(const rg_cell_type *type)
{
    if (!type || !type->name) {
        rg_set_error("rg_cell_type_register: %s", !type ? "type is NULL" : "the type has no name");
        return -1;
    }
    const char *name = type->name;
    if (!good_name(name)) {
        rg_set_error("rg_cell_type_register: cell name '%.80s' must be 1..63 bytes of "
                     "letters, digits, '_', '.' or '-'", name);
        return -1;
    }
    if (!type->init || !type->step || type->n_state < 1 || type->n_state > RG_CELL_MAX_STATE ||
        type->gates < 0) {
        rg_set_error("rg_cell_type_register: cell '%s': %s", name,
                     !type->init ? "init is NULL" : !type->step ? "step is NULL"
                     : type->gates < 0 ? "gates is negative"
                                       : "n_state must be in 1..RG_CELL_MAX_STATE");
        return -1;
    }
    if (find_builtin(name)) {
        rg_set_error("rg_cell_type_register: '%s' is the name of a built-in cell", name);
        return -1;
    }
    int rc = 0;
    pthread_mutex_lock(&g_reg.lock);
    const rg_cell_type *old = find_registered(name);
    if (old && old != type) {
        rg_set_error("rg_cell_type_register: another cell is already registered as '%s'", name);
        rc = -1;
    } else if (!old && g_reg.n == RG_CELL_MAX_TYPES) {
        rg_set_error("rg_cell_type_register: cell '%s': already %d registered cells, the most",
                     name, RG_CELL_MAX_TYPES);
        rc = -1;
    } else if (!old) {
        g_reg.types[g_reg.n++] = type;
    }
    pthread_mutex_unlock(&g_reg.lock);
    return rc;
}

int rg_cell_type_count(void)
{
    pthread_mutex_lock(&g_reg.lock);
    int n = N_BUILTIN + g_reg.n;
    pthread_mutex_unlock(&g_reg.lock);
    return n;
}

const rg_cell_type *rg_cell_type_at(int i)
{
    if (i < 0)
        return NULL;
    if (i < N_BUILTIN)
        return builtins[i];
    pthread_mutex_lock(&g_reg.lock);
    const rg_cell_type *t = i - N_BUILTIN < g_reg.n ? g_reg.types[i - N_BUILTIN] : NULL;
    pthread_mutex_unlock(&g_reg.lock);
    return t;
}

char *rg_cell_type_names(char *buf, size_t size, const char *sep)
{
    if (!buf || size == 0)
        return buf;
    buf[0] = '\0';
    size_t at = 0;
    int n = rg_cell_type_count();
    for (int i = 0; i < n; i++) {
        const rg_cell_type *t = rg_cell_type_at(i);
        if (!t || t == &rg_cell_lstm_composed || t == &rg_cell_gru_composed)
            continue;
        int k = snprintf(buf + at, size - at, "%s%s", at ? (sep ? sep : ", ") : "", t->name);
        if (k < 0 || (size_t)k >= size - at)
            break; /* truncated by snprintf, still terminated */
        at += (size_t)k;
    }
    return buf;
}
