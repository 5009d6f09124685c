/* The parameter registry: persistent tensors that require gradients, keyed by
 * PyTorch-style names ("rnn.weight_ih_l0"), kept in insertion order (uthash for
 * lookup).  The registry owns its tensors. */
#ifndef RG_PARAMS_H
#define RG_PARAMS_H
#include "rg_core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rg_params rg_params;

rg_params *rg_params_new(void);
void rg_params_free(rg_params *P);     /* frees every tensor too; NULL is fine */
/* A new persistent zero tensor that requires a gradient; NULL (and an error
 * message) when the name is taken or the shape is invalid. */
rg_tensor *rg_params_add(rg_params *P, const char *name, rg_dtype dt, int rank,
                         const int64_t *shape);
rg_tensor *rg_params_get(const rg_params *P, const char *name); /* NULL if absent */
/* The name of tensor t in P (owned by P), or NULL when t is not one of its
 * parameters (a linear scan: for pictures and messages, not per step). */
const char *rg_params_name_of(const rg_params *P, const rg_tensor *t);
/* rg_params_name_of with P passed as user: the name callback of rg_dot_opts,
 * so rg_tape_dot labels parameters by their registry names. */
const char *rg_params_tensor_name(const rg_tensor *t, void *P);
int rg_params_count(const rg_params *P);
/* i-th tensor in insertion order; *name (when non-NULL) gets its name. */
rg_tensor *rg_params_at(const rg_params *P, int i, const char **name);
void rg_params_zero_grad(rg_params *P);
int64_t rg_params_numel(const rg_params *P);
/* 0 when every value of every parameter is finite.  Otherwise -1, with
 * rg_last_error() naming the first parameter (in insertion order) that holds
 * NaN or Inf and the element ("rg_params_check_finite: parameter
 * 'rnn.weight_hh_l0' holds NaN at element 17"), *bad_name set to its name
 * (owned by P) and *bad_index to that flat index; both may be NULL, and are
 * NULL and -1 when there is no such parameter (or P is NULL, also -1). */
int rg_params_check_finite(const rg_params *P, const char **bad_name, int64_t *bad_index);

#ifdef __cplusplus
}
#endif
#endif
