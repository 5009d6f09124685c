/* Every gradient-check row of the op table, in one list (shared by the
 * gradient-check runner and the PyTorch forward-check runner). */
#include "gradrows.h"

int rg_gradrows_all(const rg_gradrow **list, int cap) {
    const struct {
        const rg_gradrow *rows;
        int n;
    } t[] = {{rg_gradrows_elementwise, rg_gradrows_elementwise_n},
             {rg_gradrows_reduce, rg_gradrows_reduce_n},
             {rg_gradrows_shape, rg_gradrows_shape_n},
             {rg_gradrows_nn, rg_gradrows_nn_n},
             {rg_gradrows_matmul, rg_gradrows_matmul_n},
             {rg_gradrows_fused, rg_gradrows_fused_n},
             {rg_gradrows_activation, rg_gradrows_activation_n},
             {rg_gradrows_indexing, rg_gradrows_indexing_n},
             {rg_gradrows_scan, rg_gradrows_scan_n},
             {rg_gradrows_norm, rg_gradrows_norm_n},
             {rg_gradrows_loss, rg_gradrows_loss_n}};
    int n = 0;
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
        for (int i = 0; i < t[k].n && n < cap; i++) list[n++] = &t[k].rows[i];
    return n;
}

void rg_gradrow_inputs(const rg_gradrow *row, uint64_t seed, rg_tensor **in) {
    rg_rng r;
    rg_rng_seed(&r, seed);
    int64_t dims[8];
    for (int k = 0; k < 8; ++k) dims[k] = 1 + rg_rng_below(&r, 4);
    for (int j = 0; j < row->n_in; ++j) {
        const rg_gradrow_input *s = &row->in[j];
        int64_t shape[RG_MAX_RANK];
        for (int d = 0; d < s->rank; ++d)
            shape[d] = s->shape[d] < 0 ? dims[-s->shape[d] - 1] : s->shape[d];
        if (s->dt == RG_I32) {
            double hi = s->hi < 0 ? (double)dims[(int)(-s->hi) - 1] : s->hi;
            in[j] = rg_tensor_new(NULL, RG_I32, s->rank, shape);
            for (int64_t i = 0; i < in[j]->numel; ++i)
                rg_set(in[j], i, s->lo + (double)rg_rng_below(&r, (int64_t)(hi - s->lo)));
        } else {
            in[j] = rg_uniform(NULL, RG_F64, s->rank, shape, s->lo, s->hi, &r);
            rg_set_requires_grad(in[j], true);
        }
    }
}
