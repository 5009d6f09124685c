/* Gradient-check rows of ops/nn.c (softmax, log-softmax, cross-entropy, mse,
 * embedding, dropout). */
#include "gradrows.h"

static rg_tensor *sm0(rg_tape *tp, rg_tensor *const *in, int n) { return rg_softmax(tp, in[0], 0); }
static rg_tensor *sm1(rg_tape *tp, rg_tensor *const *in, int n) { return rg_softmax(tp, in[0], 1); }
static rg_tensor *sm_last(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_softmax(tp, in[0], -1);
}
static rg_tensor *lsm0(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_log_softmax(tp, in[0], 0);
}
static rg_tensor *lsm1(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_log_softmax(tp, in[0], 1);
}
static rg_tensor *lsm_last(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_log_softmax(tp, in[0], -1);
}
static rg_tensor *ce_mean(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_cross_entropy(tp, in[0], in[1], RG_MEAN);
}
static rg_tensor *ce_sum(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_cross_entropy(tp, in[0], in[1], RG_SUM);
}
static rg_tensor *cew_mean(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_cross_entropy_weighted(tp, in[0], in[1], in[2], RG_MEAN);
}
static rg_tensor *cew_sum(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_cross_entropy_weighted(tp, in[0], in[1], in[2], RG_SUM);
}
static rg_tensor *mse_mean(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_mse(tp, in[0], in[1], RG_MEAN);
}
static rg_tensor *mse_sum(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_mse(tp, in[0], in[1], RG_SUM);
}
static rg_tensor *emb(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_embedding(tp, in[0], in[1]);
}
/* Training mode with a fresh rng of a constant seed: every evaluation of the
 * gradient check draws the same mask.  The tape's mode is restored. */
static rg_tensor *drop_train(rg_tape *tp, rg_tensor *const *in, int n) {
    bool was = rg_tape_training(tp);
    rg_rng r;
    rg_rng_seed(&r, 20240611);
    rg_tape_set_training(tp, true);
    rg_tensor *y = rg_dropout(tp, in[0], 0.4, &r);
    rg_tape_set_training(tp, was);
    return y;
}
/* Evaluation mode: the identity (what PyTorch's eval-mode dropout gives). */
static rg_tensor *drop_eval(rg_tape *tp, rg_tensor *const *in, int n) {
    bool was = rg_tape_training(tp);
    rg_rng r;
    rg_rng_seed(&r, 1);
    rg_tape_set_training(tp, false);
    rg_tensor *y = rg_dropout(tp, in[0], 0.4, &r);
    rg_tape_set_training(tp, was);
    return y;
}

#define F64(r, ...) {RG_F64, r, {__VA_ARGS__}, -2.0, 2.0}
#define S0 {RG_F64, 0, {0}, -2.0, 2.0}
#define W01(r, ...) {RG_F64, r, {__VA_ARGS__}, 0.0, 1.0}
/* Integer targets or ids in [0, random dim k). */
#define IDX(k, r, ...) {RG_I32, r, {__VA_ARGS__}, 0, -(k)}
const rg_gradrow rg_gradrows_nn[] = {
    {"softmax_axis0", "softmax", 1, {F64(3, -1, -2, -3)}, sm0},
    {"softmax_axis1", "softmax", 1, {F64(3, -1, -2, -3)}, sm1},
    {"softmax_last", "softmax", 1, {F64(2, -1, -2)}, sm_last},
    {"log_softmax_axis0", "log_softmax", 1, {F64(3, -1, -2, -3)}, lsm0},
    {"log_softmax_axis1", "log_softmax", 1, {F64(3, -1, -2, -3)}, lsm1},
    {"log_softmax_last", "log_softmax", 1, {F64(2, -1, -2)}, lsm_last},
    {"softmax_rank0_neg", "softmax", 1, {S0}, sm_last},
    {"log_softmax_rank0_neg", "log_softmax", 1, {S0}, lsm_last},
    /* an axis of length 0: an empty output, nothing read */
    {"softmax_empty_axis", "softmax", 1, {F64(2, -1, 0)}, sm_last},
    {"log_softmax_empty_axis", "log_softmax", 1, {F64(3, -1, 0, -2)}, lsm1},
    {"cross_entropy_mean", "cross_entropy", 2, {F64(2, -1, -2), IDX(2, 1, -1)}, ce_mean},
    {"cross_entropy_sum", "cross_entropy", 2, {F64(2, -1, -2), IDX(2, 1, -1)}, ce_sum},
    {"cross_entropy_weighted_mean", "cross_entropy_weighted", 3,
     {F64(2, -1, -2), IDX(2, 1, -1), W01(1, -1)}, cew_mean},
    {"cross_entropy_weighted_sum", "cross_entropy_weighted", 3,
     {F64(2, -1, -2), IDX(2, 1, -1), W01(1, -1)}, cew_sum},
    {"mse_mean", "mse", 2, {F64(3, -1, -2, -3), F64(3, -1, -2, -3)}, mse_mean},
    {"mse_sum", "mse", 2, {F64(2, -1, -2), F64(2, -1, -2)}, mse_sum},
    {"embedding_2d", "embedding", 2, {F64(2, -3, -2), IDX(3, 2, -1, 3)}, emb},
    /* Six ids over at most four rows: some id repeats. */
    {"embedding_repeat", "embedding", 2, {F64(2, -3, -2), IDX(3, 1, 6)}, emb},
    {"dropout_train", "dropout", 1, {F64(2, -1, -2)}, drop_train},
    {"dropout_eval", "dropout", 1, {F64(2, -1, -2)}, drop_eval},
};
const int rg_gradrows_nn_n = (int)(sizeof rg_gradrows_nn / sizeof rg_gradrows_nn[0]);
