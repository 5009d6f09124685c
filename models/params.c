/* The parameter registry: named persistent tensors in insertion order, with a
 * uthash index by name.  The registry owns the tensors and the name strings. */
#include "rg_params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

typedef struct rg_param_slot {
    char *name;
    rg_tensor *t;
    int index;         /* position in insertion order */
    UT_hash_handle hh;
} rg_param_slot;

struct rg_params {
    rg_param_slot *by_name;  /* uthash head */
    rg_param_slot **order;   /* insertion order */
    int n, cap;
    int64_t numel;
};

rg_params *rg_params_new(void)
{
    rg_params *P = calloc(1, sizeof *P);
    if (!P)
        rg_set_error("rg_params_new: out of memory");
    return P;
}

void rg_params_free(rg_params *P)
{
    if (!P)
        return;
    HASH_CLEAR(hh, P->by_name);
    for (int i = 0; i < P->n; i++) {
        rg_tensor_free(P->order[i]->t);
        free(P->order[i]->name);
        free(P->order[i]);
    }
    free(P->order);
    free(P);
}

rg_tensor *rg_params_add(rg_params *P, const char *name, rg_dtype dt, int rank,
                         const int64_t *shape)
{
    if (!P || !name || !*name) {
        rg_set_error("rg_params_add: %s", !P ? "registry is NULL" : "empty name");
        return NULL;
    }
    if (dt != RG_F32 && dt != RG_F64) {
        rg_set_error("rg_params_add: parameter '%s' must be f32 or f64, got %s", name,
                     rg_dtype_name(dt));
        return NULL;
    }
    rg_param_slot *found = NULL;
    HASH_FIND_STR(P->by_name, name, found);
    if (found) {
        rg_set_error("rg_params_add: the name '%s' is already taken", name);
        return NULL;
    }
    if (P->n == P->cap) {
        int cap = P->cap ? 2 * P->cap : 16;
        rg_param_slot **order = realloc(P->order, (size_t)cap * sizeof *order);
        if (!order) {
            rg_set_error("rg_params_add: out of memory");
            return NULL;
        }
        P->order = order;
        P->cap = cap;
    }
    rg_tensor *t = rg_zeros(NULL, dt, rank, shape); /* checks rank and shape */
    if (!t) {
        rg_set_error("rg_params_add: parameter '%.200s': %s", name, rg_last_error());
        return NULL;
    }
    rg_param_slot *s = calloc(1, sizeof *s);
    size_t len = strlen(name);
    char *copy = malloc(len + 1);
    if (!s || !copy) {
        free(s);
        free(copy);
        rg_tensor_free(t);
        rg_set_error("rg_params_add: out of memory");
        return NULL;
    }
    memcpy(copy, name, len + 1);
    rg_set_requires_grad(t, true);
    s->name = copy;
    s->t = t;
    s->index = P->n;
    HASH_ADD_KEYPTR(hh, P->by_name, s->name, len, s);
    P->order[P->n++] = s;
    P->numel += t->numel;
    return t;
}

rg_tensor *rg_params_get(const rg_params *P, const char *name)
{
    if (!P || !name)
        return NULL;
    rg_param_slot *s = NULL;
    HASH_FIND_STR(P->by_name, name, s);
    return s ? s->t : NULL;
}

const char *rg_params_name_of(const rg_params *P, const rg_tensor *t)
{
    for (int i = 0; P && t && i < P->n; i++)
        if (P->order[i]->t == t)
            return P->order[i]->name;
    return NULL;
}

const char *rg_params_tensor_name(const rg_tensor *t, void *P)
{
    return rg_params_name_of(P, t);
}

int rg_params_count(const rg_params *P)
{
    return P ? P->n : 0;
}

rg_tensor *rg_params_at(const rg_params *P, int i, const char **name)
{
    if (!P || i < 0 || i >= P->n) {
        if (name)
            *name = NULL;
        return NULL;
    }
    if (name)
        *name = P->order[i]->name;
    return P->order[i]->t;
}

void rg_params_zero_grad(rg_params *P)
{
    if (!P)
        return;
    for (int i = 0; i < P->n; i++)
        rg_zero_grad(P->order[i]->t);
}

int64_t rg_params_numel(const rg_params *P)
{
    return P ? P->numel : 0;
}

int rg_params_check_finite(const rg_params *P, const char **bad_name, int64_t *bad_index)
{
    if (bad_name)
        *bad_name = NULL;
    if (bad_index)
        *bad_index = -1;
    if (!P) {
        rg_set_error("rg_params_check_finite: registry is NULL");
        return -1;
    }
    for (int i = 0; i < P->n; i++) {
        const rg_tensor *t = P->order[i]->t;
        int64_t k = rg_tensor_find_nonfinite(t);
        if (k < 0)
            continue;
        double v = rg_get(t, k);
        rg_set_error("rg_params_check_finite: parameter '%.200s' holds %s at element %lld",
                     P->order[i]->name, isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf",
                     (long long)k);
        if (bad_name)
            *bad_name = P->order[i]->name;
        if (bad_index)
            *bad_index = k;
        return -1;
    }
    return 0;
}
