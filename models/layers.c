/* Linear and Embedding layers: PyTorch's names, shapes and initialisation, built
 * on the public ops (rg_linear, rg_embedding). */
#include "rg_layers.h"

#include <math.h>
#include <stdio.h>

/* Fills t (persistent, float) from U(lo,hi) in flat order. */
static void fill_uniform(rg_tensor *t, double lo, double hi, rg_rng *rng)
{
    for (int64_t i = 0; i < t->numel; i++)
        rg_set(t, i, lo + (hi - lo) * rg_rng_uniform(rng));
}

/* "<name>.<field>" into buf[256]; -1 when it does not fit. */
static int name_join(char *buf, const char *name, const char *field)
{
    int n = snprintf(buf, 256, "%s.%s", name, field);
    if (n < 0 || n >= 256) {
        rg_set_error("layer name too long: '%s'", name);
        return -1;
    }
    return 0;
}

int rg_linear_layer_init(rg_linear_layer *l, rg_params *P, const char *name, int64_t I,
                         int64_t O, bool bias, rg_dtype dt, rg_rng *rng)
{
    if (!l || !P || !name || I < 1 || O < 1) {
        rg_set_error("rg_linear_layer_init: bad arguments (in %lld, out %lld)", (long long)I,
                     (long long)O);
        return -1;
    }
    char wname[256], bname[256];
    if (name_join(wname, name, "weight") != 0 || name_join(bname, name, "bias") != 0)
        return -1;
    /* both names are checked first so that a failure adds nothing */
    if (rg_params_get(P, wname) || (bias && rg_params_get(P, bname))) {
        rg_set_error("rg_linear_layer_init: the name '%s' is already taken", name);
        return -1;
    }
    rg_linear_layer nl = {.in = I, .out = O};
    nl.weight = rg_params_add(P, wname, dt, RG_DIMS(O, I));
    if (!nl.weight)
        return -1;
    double k = 1.0 / sqrt((double)I);
    if (rng)
        fill_uniform(nl.weight, -k, k, rng);
    if (bias) {
        nl.bias = rg_params_add(P, bname, dt, RG_DIMS(O));
        if (!nl.bias)
            return -1;
        if (rng)
            fill_uniform(nl.bias, -k, k, rng);
    }
    *l = nl;
    return 0;
}

rg_tensor *rg_linear_layer_forward(rg_tape *tp, const rg_linear_layer *l, rg_tensor *x)
{
    if (!tp) {
        rg_set_error("rg_linear_layer_forward: tape is NULL");
        return NULL;
    }
    if (!x || !l) { /* after a failed op: repeat the tape's first error */
        if (rg_tape_error(tp))
            rg_op_error(tp, "%s", rg_tape_error(tp));
        else
            rg_op_error(tp, "rg_linear_layer_forward: %s is NULL", l ? "x" : "the layer");
        return NULL;
    }
    if (x->rank == 2)
        return rg_linear(tp, x, l->weight, l->bias);
    if (x->rank < 1) {
        rg_op_error(tp, "rg_linear_layer_forward: x must have rank >= 1");
        return NULL;
    }
    /* [..., I] -> [N, I] -> [N, O] -> [..., O] */
    int64_t shape[RG_MAX_RANK];
    for (int d = 0; d < x->rank; d++)
        shape[d] = x->shape[d];
    rg_tensor *x2 = rg_reshape(tp, x, RG_DIMS(-1, x->shape[x->rank - 1]));
    rg_tensor *y = rg_linear(tp, x2, l->weight, l->bias);
    shape[x->rank - 1] = l->out;
    return rg_reshape(tp, y, x->rank, shape);
}

int rg_embedding_layer_init(rg_embedding_layer *l, rg_params *P, const char *name,
                            int64_t V, int64_t E, rg_dtype dt, rg_rng *rng)
{
    if (!l || !P || !name || V < 1 || E < 1) {
        rg_set_error("rg_embedding_layer_init: bad arguments (vocab %lld, dim %lld)",
                     (long long)V, (long long)E);
        return -1;
    }
    char wname[256];
    if (name_join(wname, name, "weight") != 0)
        return -1;
    rg_embedding_layer nl = {.vocab = V, .dim = E};
    nl.weight = rg_params_add(P, wname, dt, RG_DIMS(V, E));
    if (!nl.weight)
        return -1;
    if (rng)
        for (int64_t i = 0; i < nl.weight->numel; i++)
            rg_set(nl.weight, i, rg_rng_normal(rng));
    *l = nl;
    return 0;
}

rg_tensor *rg_embedding_layer_forward(rg_tape *tp, const rg_embedding_layer *l,
                                      rg_tensor *ids)
{
    if (!tp) {
        rg_set_error("rg_embedding_layer_forward: tape is NULL");
        return NULL;
    }
    if (!l || !ids) {
        if (rg_tape_error(tp))
            rg_op_error(tp, "%s", rg_tape_error(tp));
        else
            rg_op_error(tp, "rg_embedding_layer_forward: %s is NULL", l ? "ids" : "the layer");
        return NULL;
    }
    return rg_embedding(tp, l->weight, ids);
}
