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

int rg_linear_layer_init(rg_linear_layer *l, rg_params *P, const char *name, int64_t I,
                         int64_t O, bool bias, rg_dtype dt, rg_rng *rng)
{
    if (!l || !P || !name || I < 1 || O < 1) {
        rg_set_error("rg_linear_layer_init: bad arguments (in %lld, out %lld)", (long long)I,
                     (long long)O);
        return -1;
    }
    char buf[256];
    *l = (rg_linear_layer){.in = I, .out = O};
    snprintf(buf, sizeof buf, "%s.weight", name);
    l->weight = rg_params_add(P, buf, dt, RG_DIMS(O, I));
    if (!l->weight)
        return -1;
    double k = 1.0 / sqrt((double)I);
    if (rng)
        fill_uniform(l->weight, -k, k, rng);
    if (bias) {
        snprintf(buf, sizeof buf, "%s.bias", name);
        l->bias = rg_params_add(P, buf, dt, RG_DIMS(O));
        if (!l->bias)
            return -1;
        if (rng)
            fill_uniform(l->bias, -k, k, rng);
    }
    return 0;
}

rg_tensor *rg_linear_layer_forward(rg_tape *tp, const rg_linear_layer *l, rg_tensor *x)
{
    if (!x || !l)
        return NULL;
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
    char buf[256];
    *l = (rg_embedding_layer){.vocab = V, .dim = E};
    snprintf(buf, sizeof buf, "%s.weight", name);
    l->weight = rg_params_add(P, buf, dt, RG_DIMS(V, E));
    if (!l->weight)
        return -1;
    if (rng)
        for (int64_t i = 0; i < l->weight->numel; i++)
            rg_set(l->weight, i, rg_rng_normal(rng));
    return 0;
}

rg_tensor *rg_embedding_layer_forward(rg_tape *tp, const rg_embedding_layer *l,
                                      rg_tensor *ids)
{
    if (!l || !ids)
        return NULL;
    return rg_embedding(tp, l->weight, ids);
}
