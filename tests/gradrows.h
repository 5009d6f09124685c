/* One row per gradient-check case of the op table (tests/test_ops_grad.c runs
 * them all; tests/test_ops_forward.c reuses `build` against PyTorch data).
 *
 * Shapes: a positive entry is a fixed size; a negative entry -k names "random
 * dimension k" (drawn in 1..4 per run and shared by every input of the row), so
 * broadcasting rows stay consistent: a {-1,-2}, b {1,-2}.
 * Values: float inputs are uniform in [lo, hi); I32 inputs are integers in
 * [lo, hi) where a negative hi -k means "random dimension k". */
#ifndef RG_GRADROWS_H
#define RG_GRADROWS_H
#include "retrograd.h"

typedef struct rg_gradrow_input {
    rg_dtype dt;   /* RG_F64 or RG_I32 (gradcheck converts nothing else) */
    int rank;
    int64_t shape[RG_MAX_RANK];
    double lo, hi;
} rg_gradrow_input;

typedef struct rg_gradrow {
    const char *name;   /* case name, unique, also the PyTorch data's case name */
    const char *op;     /* name of the op-table row it covers */
    int n_in;
    rg_gradrow_input in[6];
    rg_tensor *(*build)(rg_tape *tp, rg_tensor *const *in, int n);
} rg_gradrow;

extern const rg_gradrow rg_gradrows_elementwise[];
extern const int rg_gradrows_elementwise_n;
extern const rg_gradrow rg_gradrows_reduce[];
extern const int rg_gradrows_reduce_n;
extern const rg_gradrow rg_gradrows_shape[];
extern const int rg_gradrows_shape_n;
extern const rg_gradrow rg_gradrows_nn[];
extern const int rg_gradrows_nn_n;
extern const rg_gradrow rg_gradrows_matmul[];
extern const int rg_gradrows_matmul_n;
extern const rg_gradrow rg_gradrows_fused[];
extern const int rg_gradrows_fused_n;
extern const rg_gradrow rg_gradrows_activation[];
extern const int rg_gradrows_activation_n;
extern const rg_gradrow rg_gradrows_indexing[];
extern const int rg_gradrows_indexing_n;
extern const rg_gradrow rg_gradrows_scan[];
extern const int rg_gradrows_scan_n;
extern const rg_gradrow rg_gradrows_norm[];
extern const int rg_gradrows_norm_n;
extern const rg_gradrow rg_gradrows_loss[];
extern const int rg_gradrows_loss_n;
/* The row's inputs for a seed (random dims in 1..4 and values as declared):
 * persistent tensors, float ones requiring a gradient; free them. */
void rg_gradrow_inputs(const rg_gradrow *row, uint64_t seed, rg_tensor **in);
/* All rows of the tables above into list (at most cap); returns the count. */
int rg_gradrows_all(const rg_gradrow **list, int cap);
#endif
