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
