/* The op registry: every row of the built-in table, and the rows users add,
 * by name (uthash).  Off the hot path: ops are run through their row pointer. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "ops_internal.h"

typedef struct reg_item {
    const rg_op *op;
    UT_hash_handle hh;
} reg_item;

static reg_item *g_ops;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static int add_locked(const rg_op *op) {
    reg_item *it;
    HASH_FIND_STR(g_ops, op->name, it);
    if (it) {
        rg_set_error("rg_op_register: an op named '%s' is already registered", op->name);
        return -1;
    }
    it = malloc(sizeof *it);
    if (!it) {
        rg_set_error("rg_op_register: out of memory");
        return -1;
    }
    it->op = op;
    HASH_ADD_KEYPTR(hh, g_ops, op->name, strlen(op->name), it);
    return 0;
}

static void free_registry(void) {
    reg_item *it, *tmp;
    HASH_ITER(hh, g_ops, it, tmp) {
        HASH_DEL(g_ops, it);
        free(it);
    }
}

static void register_rows(const rg_op *const *rows, int n) {
    for (int i = 0; i < n; ++i) RG_OPS_ASSERT(add_locked(rows[i]) == 0);
}

#define REG(x) register_rows(rg_rows_##x, rg_rows_##x##_n)

void rg_ops_register_builtin(void) {
    REG(elementwise);
    REG(reduce);
    REG(shape);
    REG(nn);
    REG(matmul);
    REG(fused);
    REG(activation);
    REG(indexing);
    REG(scan);
    REG(norm);
    REG(loss);
    atexit(free_registry);
}

static void init_once(void) {
    pthread_mutex_lock(&g_lock);
    rg_ops_register_builtin();
    pthread_mutex_unlock(&g_lock);
}

int rg_op_register(const rg_op *op) {
    if (!op || !op->name || !op->shape || !op->forward || op->n_out < 1 ||
        op->n_out > RG_MAX_OUT) {
        rg_set_error("rg_op_register: op row is incomplete (name, shape, forward, n_out 1..%d)",
                     RG_MAX_OUT);
        return -1;
    }
    pthread_once(&g_once, init_once);
    pthread_mutex_lock(&g_lock);
    int r = add_locked(op);
    pthread_mutex_unlock(&g_lock);
    return r;
}

const rg_op *rg_op_find(const char *name) {
    if (!name) {
        rg_set_error("rg_op_find: name is NULL");
        return NULL;
    }
    pthread_once(&g_once, init_once);
    pthread_mutex_lock(&g_lock);
    reg_item *it;
    HASH_FIND_STR(g_ops, name, it);
    pthread_mutex_unlock(&g_lock);
    if (!it) rg_set_error("rg_op_find: no op named '%.80s'", name);
    return it ? it->op : NULL;
}

static int by_name(const reg_item *a, const reg_item *b) { return strcmp(a->op->name, b->op->name); }

void rg_op_foreach(void (*fn)(const rg_op *op, void *user), void *user) {
    pthread_once(&g_once, init_once);
    pthread_mutex_lock(&g_lock);
    HASH_SORT(g_ops, by_name);
    int n = (int)HASH_COUNT(g_ops);
    const rg_op **list = malloc((size_t)(n ? n : 1) * sizeof *list);
    int i = 0;
    for (reg_item *it = g_ops; it && list; it = it->hh.next) list[i++] = it->op;
    pthread_mutex_unlock(&g_lock);
    for (int k = 0; k < i; ++k) fn(list[k], user);
    free(list);
}
