/* Gradient-check rows of ops/matmul.c. */
#include "gradrows.h"

static rg_tensor *mm(rg_tape *tp, rg_tensor *const *in, int n) { return rg_matmul(tp, in[0], in[1]); }
static rg_tensor *mm_ta(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_matmul_t(tp, in[0], in[1], true, false);
}
static rg_tensor *mm_tb(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_matmul_t(tp, in[0], in[1], false, true);
}
static rg_tensor *mm_tab(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_matmul_t(tp, in[0], in[1], true, true);
}
static rg_tensor *lin(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_linear(tp, in[0], in[1], n > 2 ? in[2] : NULL);
}

static rg_tensor *emblin(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_embedding_linear(tp, in[0], in[1], in[2], n > 3 ? in[3] : NULL);
}

#define F64(r, ...) {RG_F64, r, {__VA_ARGS__}, -1.0, 1.0}
const rg_gradrow rg_gradrows_matmul[] = {
    {"matmul_2d", "matmul", 2, {F64(2, -1, -2), F64(2, -2, -3)}, mm},
    {"matmul_ta", "matmul", 2, {F64(2, -2, -1), F64(2, -2, -3)}, mm_ta},
    {"matmul_tb", "matmul", 2, {F64(2, -1, -2), F64(2, -3, -2)}, mm_tb},
    {"matmul_tab", "matmul", 2, {F64(2, -2, -1), F64(2, -3, -2)}, mm_tab},
    {"matmul_batched", "matmul", 2, {F64(3, -4, -1, -2), F64(3, -4, -2, -3)}, mm},
    {"matmul_batched_tab", "matmul", 2, {F64(3, -4, -2, -1), F64(3, -4, -3, -2)}, mm_tab},
    {"matmul_batched_shared_b", "matmul", 2, {F64(3, -4, -1, -2), F64(2, -2, -3)}, mm},
    {"matmul_batched_shared_b_tb", "matmul", 2, {F64(3, -4, -1, -2), F64(2, -3, -2)}, mm_tb},
    {"matmul_batched_shared_b_ta", "matmul", 2, {F64(3, -4, -2, -1), F64(2, -2, -3)}, mm_ta},
    {"linear", "linear", 3, {F64(2, -1, -2), F64(2, -3, -2), F64(1, -3)}, lin},
    {"linear_nobias", "linear", 2, {F64(2, -1, -2), F64(2, -3, -2)}, lin},
    /* at least as many ids as rows: the table path; fewer: the rows path */
    {"embedding_linear_table", "embedding_linear", 4,
     {F64(2, 3, -2), {RG_I32, 2, {-1, 4}, 0, 3}, F64(2, -3, -2), F64(1, -3)}, emblin},
    {"embedding_linear_rows", "embedding_linear", 4,
     {F64(2, 9, -2), {RG_I32, 1, {-1}, 0, 9}, F64(2, -3, -2), F64(1, -3)}, emblin},
    {"embedding_linear_nobias", "embedding_linear", 3,
     {F64(2, 3, -2), {RG_I32, 3, {2, -1, 3}, 0, 3}, F64(2, -3, -2)}, emblin},
};
const int rg_gradrows_matmul_n = (int)(sizeof rg_gradrows_matmul / sizeof rg_gradrows_matmul[0]);
