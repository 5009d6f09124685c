/* Error paths of the public API: every constructor and op of rg_core.h and
 * rg_ops.h (and the models' constructors and forward functions) given bad
 * arguments (NULL inputs, ranks above RG_MAX_RANK, negative dims, shapes that
 * do not fit, wrong dtypes, axes out of range) returns NULL or -1 and leaves a
 * message that names the function, in rg_last_error() and, on a tape, in
 * rg_tape_error().  One table; each row runs on a fresh tape, with tape NULL,
 * or both (the sanitizer build runs the same rows for leaks). */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "retrograd.h"

/* ---- fixtures: persistent tensors, valid on any tape ----------------------- */

typedef struct fx {
    rg_tensor *m23, *m32, *m43, *m53, *m52, *v3, *v5, *s0; /* float64 */
    rg_tensor *m23f, *v3f;                                  /* float32 */
    rg_tensor *xg, *xg32;    /* [2,3] requiring a gradient, f64 and f32 */
    rg_tensor *ids, *ids_far, *ids_f; /* I32 [2] {0,1}, {0,9}; the same in f64 */
    rg_tensor *m23i;                  /* I32 [2,3] */
    rg_tensor *tgt, *tgt_far;         /* I32 [2] {0,2}, {0,3} */
    rg_tensor *xp12, *xp9, *h23, *w12x3, *w12x4, *b12, *p4x12; /* gates, B=2, H=3 */
    rg_tensor *outs[8];
    rg_rng rng;
    rg_params *P;
    rg_linear_layer lin;
    rg_embedding_layer emb;
    rg_cell cell;
    rg_seq *seq;
} fx;

static fx F;

static rg_tensor *fx_f64(int rank, const int64_t *shape, bool grad) {
    rg_tensor *t = rg_full(NULL, RG_F64, rank, shape, 0.25);
    cr_assert_not_null(t, "%s", rg_last_error());
    rg_set_requires_grad(t, grad);
    return t;
}

static rg_tensor *fx_i32(int32_t a, int32_t b) {
    rg_tensor *t = rg_from_data(NULL, RG_I32, RG_DIMS(2), (int32_t[]){a, b});
    cr_assert_not_null(t, "%s", rg_last_error());
    return t;
}

static void fx_setup(void) {
    F.m23 = fx_f64(RG_DIMS(2, 3), false);
    F.m32 = fx_f64(RG_DIMS(3, 2), false);
    F.m43 = fx_f64(RG_DIMS(4, 3), false);
    F.m53 = fx_f64(RG_DIMS(5, 3), false);
    F.m52 = fx_f64(RG_DIMS(5, 2), false);
    F.v3 = fx_f64(RG_DIMS(3), false);
    F.v5 = fx_f64(RG_DIMS(5), false);
    F.s0 = fx_f64(0, NULL, false);
    F.m23f = rg_zeros(NULL, RG_F32, RG_DIMS(2, 3));
    F.v3f = rg_zeros(NULL, RG_F32, RG_DIMS(3));
    F.xg = fx_f64(RG_DIMS(2, 3), true);
    F.xg32 = rg_zeros(NULL, RG_F32, RG_DIMS(2, 3));
    rg_set_requires_grad(F.xg32, true);
    F.ids = fx_i32(0, 1);
    F.ids_far = fx_i32(0, 9);
    F.ids_f = fx_f64(RG_DIMS(2), false);
    F.m23i = rg_zeros(NULL, RG_I32, RG_DIMS(2, 3));
    F.tgt = fx_i32(0, 2);
    F.tgt_far = fx_i32(0, 3);
    F.xp12 = fx_f64(RG_DIMS(2, 12), false);
    F.xp9 = fx_f64(RG_DIMS(2, 9), false);
    F.h23 = fx_f64(RG_DIMS(2, 3), false);
    F.w12x3 = fx_f64(RG_DIMS(12, 3), false);
    F.w12x4 = fx_f64(RG_DIMS(12, 4), false);
    F.b12 = fx_f64(RG_DIMS(12), false);
    F.p4x12 = fx_f64(RG_DIMS(4, 12), false);
    rg_rng_seed(&F.rng, 7);
    F.P = rg_params_new();
    cr_assert_eq(rg_linear_layer_init(&F.lin, F.P, "taken", 3, 2, true, RG_F64, &F.rng), 0);
    cr_assert_eq(rg_embedding_layer_init(&F.emb, F.P, "emb", 4, 3, RG_F64, &F.rng), 0);
    cr_assert_eq(rg_cell_init(&F.cell, &rg_cell_lstm, F.P, "cell", NULL, 3, 3, RG_F64, &F.rng),
                 0);
    rg_seq_config cfg = {.cell = &rg_cell_gru, .input_size = 3, .hidden_size = 2,
                         .num_layers = 1, .dtype = RG_F64};
    F.seq = rg_seq_new(F.P, "rnn", &cfg, &F.rng);
    cr_assert_not_null(F.seq, "%s", rg_last_error());
}

static void fx_teardown(void) {
    rg_tensor *all[] = {F.m23,  F.m32,     F.m43,   F.m53,  F.m52,  F.v3,   F.v5,
                        F.s0,   F.m23f,    F.v3f,   F.xg,   F.xg32, F.ids,  F.ids_far,
                        F.ids_f, F.m23i,   F.tgt,   F.tgt_far, F.xp12, F.xp9, F.h23,
                        F.w12x3, F.w12x4,  F.b12,   F.p4x12};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) rg_tensor_free(all[i]);
    rg_seq_free(F.seq);
    rg_params_free(F.P);
}

TestSuite(errors, .init = fx_setup, .fini = fx_teardown);

/* ---- helpers for rows that need more than one call ---------------------------- */

/* A user op: y = x, one input. */
static int id_shape(rg_tape *tp, rg_entry *e) {
    e->out[0]->dtype = e->in[0]->dtype;
    e->out[0]->rank = e->in[0]->rank;
    memcpy(e->out[0]->shape, e->in[0]->shape, sizeof e->in[0]->shape);
    return 0;
}
static void id_forward(rg_tape *tp, rg_entry *e) {
    memcpy(e->out[0]->data, e->in[0]->data,
           (size_t)e->in[0]->numel * rg_dtype_size(e->in[0]->dtype));
}
static const rg_op errtest_op = {"errtest_op", 1, 1, id_shape, id_forward, NULL, NULL};
static const rg_op errtest_broken = {"errtest_broken", 1, 1, id_shape, NULL, NULL, NULL};

static void nothing(int k, void *user) {}
static void deferred(rg_tape *tp, void *ctx) {}

/* An entry on the tape first: private gradients may only change on an empty tape. */
static bool private_grads_on_used_tape(rg_tape *tp) {
    if (tp && !rg_mul(tp, F.xg, F.xg)) return false;
    return rg_tape_set_private_grads(tp, true) == -1;
}

static rg_tensor *gc_sum(rg_tape *tp, rg_tensor *const *in, int n, void *user) {
    return rg_sum(tp, in[0]);
}
static rg_tensor *gc_not_scalar(rg_tape *tp, rg_tensor *const *in, int n, void *user) {
    return rg_mul(tp, in[0], in[0]);
}
static rg_tensor *gc_null(rg_tape *tp, rg_tensor *const *in, int n, void *user) {
    return NULL;
}
/* A step tensor is not a gradcheck input. */
static bool gradcheck_step_input(rg_tape *tp) {
    rg_tape *own = rg_tape_new();
    rg_tensor *x = rg_zeros(own, RG_F64, RG_DIMS(2));
    rg_gradcheck_result res;
    bool failed = rg_gradcheck(gc_sum, 1, &x, NULL, NULL, &res) == -1;
    rg_tape_free(own);
    return failed;
}
static bool gradcheck(rg_gradcheck_fn fn, rg_tensor *x) {
    rg_gradcheck_result res;
    return rg_gradcheck(fn, 1, &x, NULL, NULL, &res) == -1;
}

static bool seq_new_bad(int layers, bool null_cfg) {
    rg_seq_config cfg = {.cell = &rg_cell_lstm, .input_size = 3, .hidden_size = 2,
                         .num_layers = layers, .dtype = RG_F64};
    rg_seq *s = rg_seq_new(F.P, "other", null_cfg ? NULL : &cfg, NULL);
    rg_seq_free(s);
    return s == NULL;
}

static bool optim_new_bad(double lr, bool null_params) {
    rg_optim_config c = rg_optim_defaults(RG_SGD, lr);
    rg_optim *o = rg_optim_new(null_params ? NULL : F.P, &c);
    rg_optim_free(o);
    return o == NULL;
}

static bool cell_init_bad(const rg_cell_type *type, int64_t H) {
    rg_cell c;
    return rg_cell_init(&c, type, F.P, "other", NULL, 3, H, RG_F64, NULL) == -1;
}

static bool linear_init_bad(rg_params *P, const char *name, int64_t I) {
    rg_linear_layer l;
    return rg_linear_layer_init(&l, P, name, I, 2, true, RG_F64, NULL) == -1;
}

static bool embedding_init_bad(int64_t V) {
    rg_embedding_layer l;
    return rg_embedding_layer_init(&l, F.P, "other", V, 3, RG_F64, NULL) == -1;
}

/* ---- the table ------------------------------------------------------------------- */

enum {
    ON = 1,    /* run on a fresh tape */
    OFF = 2,   /* run with tape NULL */
    TAPED = 4, /* on a tape, the tape keeps the message too */
    BOTH = ON | OFF | TAPED,
    NO_TAPE = ON /* takes no tape: runs once */
};

#define NUL(e) ((e) == NULL)
#define NEG(e) ((e) == -1)
#define BAD_DT ((rg_dtype)7)
#define BIG ((int64_t)1 << 40)

/* X(id, function named in the message, modes, what is wrong, call that must fail).
 * tp is the tape of the run (NULL in the OFF run). */
#define ERROR_CASES(X)                                                                             \
    /* ---- constructors (tape NULL: persistent) ---- */                                           \
    X(zeros_rank, "rg_zeros", BOTH, "rank 5",                                                      \
      NUL(rg_zeros(tp, RG_F64, 5, (int64_t[]){1, 1, 1, 1, 1})))                                    \
    X(zeros_neg_rank, "rg_zeros", BOTH, "rank -1", NUL(rg_zeros(tp, RG_F64, -1, NULL)))            \
    X(zeros_neg_dim, "rg_zeros", BOTH, "negative dim", NUL(rg_zeros(tp, RG_F64, RG_DIMS(2, -3))))  \
    X(zeros_null_shape, "rg_zeros", BOTH, "NULL shape", NUL(rg_zeros(tp, RG_F64, 2, NULL)))        \
    X(zeros_dtype, "rg_zeros", BOTH, "unknown dtype", NUL(rg_zeros(tp, BAD_DT, RG_DIMS(2))))       \
    X(zeros_huge, "rg_zeros", BOTH, "too large", NUL(rg_zeros(tp, RG_F64, RG_DIMS(BIG, BIG))))     \
    X(tensor_new_rank, "rg_tensor_new", BOTH, "rank 5",                                            \
      NUL(rg_tensor_new(tp, RG_F32, 5, (int64_t[]){1, 1, 1, 1, 1})))                               \
    X(tensor_new_dim, "rg_tensor_new", BOTH, "negative dim",                                       \
      NUL(rg_tensor_new(tp, RG_F32, RG_DIMS(-1))))                                                 \
    X(ones_dim, "rg_ones", BOTH, "negative dim", NUL(rg_ones(tp, RG_F32, RG_DIMS(3, -1))))         \
    X(ones_dtype, "rg_ones", BOTH, "unknown dtype", NUL(rg_ones(tp, BAD_DT, RG_DIMS(3))))          \
    X(full_rank, "rg_full", BOTH, "rank 9", NUL(rg_full(tp, RG_F64, 9, (int64_t[9]){0}, 1.0)))     \
    X(scalar_dtype, "rg_scalar", BOTH, "unknown dtype", NUL(rg_scalar(tp, BAD_DT, 1.0)))           \
    X(doubles_null, "rg_from_doubles", BOTH, "NULL data",                                          \
      NUL(rg_from_doubles(tp, RG_F64, RG_DIMS(2), NULL)))                                          \
    X(doubles_dim, "rg_from_doubles", BOTH, "negative dim",                                        \
      NUL(rg_from_doubles(tp, RG_F64, RG_DIMS(-2), (double[]){1})))                                \
    X(data_null, "rg_from_data", BOTH, "NULL data",                                                \
      NUL(rg_from_data(tp, RG_I32, RG_DIMS(2), NULL)))                                             \
    X(data_rank, "rg_from_data", BOTH, "rank 5",                                                   \
      NUL(rg_from_data(tp, RG_I32, 5, (int64_t[]){1, 1, 1, 1, 1}, (int32_t[]){1})))                \
    X(uniform_rng, "rg_uniform", BOTH, "NULL rng",                                                 \
      NUL(rg_uniform(tp, RG_F64, RG_DIMS(2), 0, 1, NULL)))                                         \
    X(uniform_rank, "rg_uniform", BOTH, "rank 5",                                                  \
      NUL(rg_uniform(tp, RG_F64, 5, (int64_t[]){1, 1, 1, 1, 1}, 0, 1, &F.rng)))                    \
    X(normal_rng, "rg_normal", BOTH, "NULL rng",                                                   \
      NUL(rg_normal(tp, RG_F64, RG_DIMS(2), 0, 1, NULL)))                                          \
    X(normal_dim, "rg_normal", BOTH, "negative dim",                                               \
      NUL(rg_normal(tp, RG_F32, RG_DIMS(-5), 0, 1, &F.rng)))                                       \
    X(clone_null, "rg_tensor_clone", NO_TAPE, "NULL", NUL(rg_tensor_clone(NULL)))                  \
    X(copy_null, "rg_tensor_copy", NO_TAPE, "NULL", NEG(rg_tensor_copy(NULL, F.m23)))              \
    X(copy_numel, "rg_tensor_copy", NO_TAPE, "numel", NEG(rg_tensor_copy(F.m23, F.v3)))            \
    X(copy_dtype, "rg_tensor_copy", NO_TAPE, "int into float",                                     \
      NEG(rg_tensor_copy(F.m23, F.m23i)))                                                          \
    X(detach_null, "rg_detach", BOTH, "NULL", NUL(rg_detach(tp, NULL)))                            \
    /* ---- the tape ---- */                                                                       \
    X(alloc_huge, "rg_tape_alloc", BOTH, "SIZE_MAX", NUL(rg_tape_alloc(tp, SIZE_MAX)))             \
    X(alloc_huge2, "rg_tape_alloc", BOTH, "SIZE_MAX / 2", NUL(rg_tape_alloc(tp, SIZE_MAX / 2)))    \
    X(defer_null, "rg_tape_defer", BOTH, "NULL fn", NEG(rg_tape_defer(tp, NULL, NULL)))            \
    X(defer_tape, "rg_tape_defer", OFF, "NULL tape", NEG(rg_tape_defer(tp, deferred, NULL)))       \
    X(private_used, "rg_tape_set_private_grads", BOTH, "entries on the tape",                      \
      private_grads_on_used_tape(tp))                                                              \
    X(reduce_tape, "rg_tape_reduce_grads", OFF, "NULL tape", NEG(rg_tape_reduce_grads(tp)))        \
    X(parallel_zero, "rg_parallel_run", NO_TAPE, "n 0", NEG(rg_parallel_run(0, nothing, NULL)))    \
    X(parallel_neg, "rg_parallel_run", NO_TAPE, "n -3", NEG(rg_parallel_run(-3, nothing, NULL)))   \
    X(parallel_many, "rg_parallel_run", NO_TAPE, "n 65", NEG(rg_parallel_run(65, nothing, NULL)))  \
    X(parallel_fn, "rg_parallel_run", NO_TAPE, "NULL fn", NEG(rg_parallel_run(2, NULL, NULL)))     \
    X(parallel_fn1, "rg_parallel_run", NO_TAPE, "NULL fn, n 1",                                    \
      NEG(rg_parallel_run(1, NULL, NULL)))                                                         \
    /* ---- applying ops (messages about an input name the op row) ---- */                         \
    X(apply_op, "rg_apply", BOTH, "NULL op", NUL(rg_apply(tp, NULL, 1, &F.m23, NULL)))             \
    X(apply_broken, "rg_apply", BOTH, "no forward",                                                \
      NUL(rg_apply(tp, &errtest_broken, 1, &F.m23, NULL)))                                         \
    X(apply_null_in, "errtest_op", BOTH, "NULL input",                                             \
      NUL(rg_apply(tp, &errtest_op, 1, (rg_tensor *[]){NULL}, NULL)))                              \
    X(apply_null_arr, "errtest_op", BOTH, "NULL inputs",                                           \
      NUL(rg_apply(tp, &errtest_op, 1, NULL, NULL)))                                               \
    X(apply_count, "errtest_op", BOTH, "two inputs",                                               \
      NUL(rg_apply(tp, &errtest_op, 2, (rg_tensor *[]){F.m23, F.m23}, NULL)))                      \
    X(apply_multi_op, "rg_apply_multi", BOTH, "NULL op",                                           \
      NEG(rg_apply_multi(tp, NULL, 1, &F.m23, NULL, F.outs)))                                      \
    X(apply_multi_out, "rg_apply_multi", BOTH, "NULL out",                                         \
      NEG(rg_apply_multi(tp, &errtest_op, 1, &F.m23, NULL, NULL)))                                 \
    X(register_null, "rg_op_register", NO_TAPE, "NULL", NEG(rg_op_register(NULL)))                 \
    X(register_broken, "rg_op_register", NO_TAPE, "no forward",                                    \
      NEG(rg_op_register(&errtest_broken)))                                                        \
    X(register_taken, "rg_op_register", NO_TAPE, "taken",                                          \
      NEG(rg_op_register(&(rg_op){"add", 1, 1, id_shape, id_forward, NULL, NULL})))                    \
    X(find_null, "rg_op_find", NO_TAPE, "NULL", NUL(rg_op_find(NULL)))                             \
    X(find_absent, "rg_op_find", NO_TAPE, "absent", NUL(rg_op_find("no_such_op")))                 \
    /* ---- backward and gradcheck ---- */                                                         \
    X(backward_null, "rg_backward", BOTH, "NULL", NEG(rg_backward(tp, NULL)))                      \
    X(backward_nograd, "rg_backward", BOTH, "no gradient", NEG(rg_backward(tp, F.s0)))             \
    X(backward_vector, "rg_backward", BOTH, "not a scalar", NEG(rg_backward(tp, F.xg)))            \
    X(seed_null, "rg_backward_seed", BOTH, "NULL", NEG(rg_backward_seed(tp, NULL, F.m23)))         \
    X(seed_shape, "rg_backward_seed", BOTH, "seed [3]", NEG(rg_backward_seed(tp, F.xg, F.v3)))     \
    X(seed_dtype, "rg_backward_seed", BOTH, "int seed", NEG(rg_backward_seed(tp, F.xg, F.m23i)))   \
    X(gc_fn, "rg_gradcheck", NO_TAPE, "NULL fn", gradcheck(NULL, F.xg))                            \
    X(gc_input, "rg_gradcheck", NO_TAPE, "NULL input", gradcheck(gc_sum, NULL))                    \
    X(gc_f32, "rg_gradcheck", NO_TAPE, "float32 input", gradcheck(gc_sum, F.xg32))                 \
    X(gc_step, "rg_gradcheck", NO_TAPE, "step input", gradcheck_step_input(tp))                    \
    X(gc_vector, "rg_gradcheck", NO_TAPE, "not a scalar", gradcheck(gc_not_scalar, F.xg))          \
    X(gc_returns_null, "rg_gradcheck", NO_TAPE, "fn returns NULL", gradcheck(gc_null, F.xg))       \
    X(gc_res, "rg_gradcheck", NO_TAPE, "NULL res",                                                 \
      NEG(rg_gradcheck(gc_sum, 1, &F.xg, NULL, NULL, NULL)))                                       \
    /* ---- elementwise ---- */                                                                    \
    X(add_bcast, "rg_add", BOTH, "[2,3] + [3,2]", NUL(rg_add(tp, F.m23, F.m32)))                   \
    X(add_dtype, "rg_add", BOTH, "f64 + f32", NUL(rg_add(tp, F.m23, F.m23f)))                      \
    X(add_int, "rg_add", BOTH, "int", NUL(rg_add(tp, F.m23i, F.m23i)))                             \
    X(add_null, "rg_add", BOTH, "NULL b", NUL(rg_add(tp, F.m23, NULL)))                            \
    X(sub_bcast, "rg_sub", BOTH, "[2,3] - [5]", NUL(rg_sub(tp, F.m23, F.v5)))                      \
    X(sub_null, "rg_sub", BOTH, "NULL a", NUL(rg_sub(tp, NULL, F.m23)))                            \
    X(mul_bcast, "rg_mul", BOTH, "[2,3] * [3,2]", NUL(rg_mul(tp, F.m23, F.m32)))                   \
    X(mul_dtype, "rg_mul", BOTH, "f32 * f64", NUL(rg_mul(tp, F.v3f, F.v3)))                        \
    X(div_bcast, "rg_div", BOTH, "[5] / [3]", NUL(rg_div(tp, F.v5, F.v3)))                         \
    X(div_int, "rg_div", BOTH, "int", NUL(rg_div(tp, F.m23, F.m23i)))                              \
    X(neg_int, "rg_neg", BOTH, "int", NUL(rg_neg(tp, F.m23i)))                                     \
    X(neg_null, "rg_neg", BOTH, "NULL", NUL(rg_neg(tp, NULL)))                                     \
    X(add_scalar_int, "rg_add_scalar", BOTH, "int", NUL(rg_add_scalar(tp, F.ids, 1)))              \
    X(mul_scalar_null, "rg_mul_scalar", BOTH, "NULL", NUL(rg_mul_scalar(tp, NULL, 2)))             \
    X(pow_scalar_int, "rg_pow_scalar", BOTH, "int", NUL(rg_pow_scalar(tp, F.m23i, 2)))             \
    X(exp_int, "rg_exp", BOTH, "int", NUL(rg_exp(tp, F.m23i)))                                     \
    X(log_null, "rg_log", BOTH, "NULL", NUL(rg_log(tp, NULL)))                                     \
    X(sqrt_int, "rg_sqrt", BOTH, "int", NUL(rg_sqrt(tp, F.ids)))                                   \
    X(abs_null, "rg_abs", BOTH, "NULL", NUL(rg_abs(tp, NULL)))                                     \
    X(tanh_int, "rg_tanh", BOTH, "int", NUL(rg_tanh(tp, F.m23i)))                                  \
    X(sigmoid_null, "rg_sigmoid", BOTH, "NULL", NUL(rg_sigmoid(tp, NULL)))                         \
    X(relu_int, "rg_relu", BOTH, "int", NUL(rg_relu(tp, F.m23i)))                                  \
    X(clamp_int, "rg_clamp", BOTH, "int", NUL(rg_clamp(tp, F.m23i, 0, 1)))                         \
    /* ---- matrix products ---- */                                                                \
    X(matmul_inner, "rg_matmul", BOTH, "[2,3] x [2,3]", NUL(rg_matmul(tp, F.m23, F.m23)))          \
    X(matmul_rank, "rg_matmul", BOTH, "[3] x [3,2]", NUL(rg_matmul(tp, F.v3, F.m32)))              \
    X(matmul_dtype, "rg_matmul", BOTH, "f64 x f32", NUL(rg_matmul(tp, F.m32, F.m23f)))             \
    X(matmul_int, "rg_matmul", BOTH, "int", NUL(rg_matmul(tp, F.m23i, F.m32)))                     \
    X(matmul_null, "rg_matmul", BOTH, "NULL", NUL(rg_matmul(tp, F.m23, NULL)))                     \
    X(matmul_t_inner, "rg_matmul_t", BOTH, "[2,3]^T x [2,3]^T",                                    \
      NUL(rg_matmul_t(tp, F.m23, F.m23, true, true)))                                              \
    X(matmul_t_null, "rg_matmul_t", BOTH, "NULL", NUL(rg_matmul_t(tp, NULL, F.m23, true, false)))  \
    X(linear_shape, "rg_linear", BOTH, "W [5,2]", NUL(rg_linear(tp, F.m23, F.m52, NULL)))          \
    X(linear_bias, "rg_linear", BOTH, "bias [3]", NUL(rg_linear(tp, F.m23, F.m53, F.v3)))          \
    X(linear_dtype, "rg_linear", BOTH, "f32 x", NUL(rg_linear(tp, F.m23f, F.m53, NULL)))           \
    X(linear_null, "rg_linear", BOTH, "NULL W", NUL(rg_linear(tp, F.m23, NULL, F.v5)))             \
    X(emblin_shape, "rg_embedding_linear", BOTH, "W [5,2]",                                        \
      NUL(rg_embedding_linear(tp, F.m43, F.ids, F.m52, NULL)))                                     \
    X(emblin_ids, "rg_embedding_linear", BOTH, "float ids",                                        \
      NUL(rg_embedding_linear(tp, F.m43, F.ids_f, F.m53, NULL)))                                   \
    X(emblin_far, "rg_embedding_linear", BOTH, "id 9 of 4",                                        \
      NUL(rg_embedding_linear(tp, F.m43, F.ids_far, F.m53, F.v5)))                                 \
    X(emblin_null, "rg_embedding_linear", BOTH, "NULL ids",                                        \
      NUL(rg_embedding_linear(tp, F.m43, NULL, F.m53, NULL)))                                      \
    /* ---- movement ---- */                                                                       \
    X(transpose_dim, "rg_transpose", BOTH, "dim 5", NUL(rg_transpose(tp, F.m23, 0, 5)))            \
    X(transpose_neg, "rg_transpose", BOTH, "dim -3", NUL(rg_transpose(tp, F.m23, -3, 1)))          \
    X(transpose_null, "rg_transpose", BOTH, "NULL", NUL(rg_transpose(tp, NULL, 0, 1)))             \
    X(reshape_numel, "rg_reshape", BOTH, "6 into 5", NUL(rg_reshape(tp, F.m23, RG_DIMS(5))))       \
    X(reshape_rank, "rg_reshape", BOTH, "rank 5",                                                  \
      NUL(rg_reshape(tp, F.m23, 5, (int64_t[]){1, 1, 1, 2, 3})))                                   \
    X(reshape_two_infer, "rg_reshape", BOTH, "two -1",                                             \
      NUL(rg_reshape(tp, F.m23, RG_DIMS(-1, -1))))                                                 \
    X(reshape_neg, "rg_reshape", BOTH, "dim -2", NUL(rg_reshape(tp, F.m23, RG_DIMS(-2, -3))))      \
    X(reshape_shape, "rg_reshape", BOTH, "NULL shape", NUL(rg_reshape(tp, F.m23, 2, NULL)))        \
    X(reshape_null, "rg_reshape", BOTH, "NULL", NUL(rg_reshape(tp, NULL, RG_DIMS(6))))             \
    X(concat_zero, "rg_concat", BOTH, "no inputs", NUL(rg_concat(tp, 0, &F.m23, 0)))               \
    X(concat_arr, "rg_concat", BOTH, "NULL array", NUL(rg_concat(tp, 2, NULL, 0)))                 \
    X(concat_shape, "rg_concat", BOTH, "[2,3] and [3,2] on 0",                                     \
      NUL(rg_concat(tp, 2, (rg_tensor *[]){F.m23, F.m32}, 0)))                                     \
    X(concat_axis, "rg_concat", BOTH, "axis 2",                                                    \
      NUL(rg_concat(tp, 2, (rg_tensor *[]){F.m23, F.m23}, 2)))                                     \
    X(concat_dtype, "rg_concat", BOTH, "f64 and f32",                                              \
      NUL(rg_concat(tp, 2, (rg_tensor *[]){F.m23, F.m23f}, 0)))                                    \
    X(concat_null, "rg_concat", BOTH, "NULL input",                                                \
      NUL(rg_concat(tp, 2, (rg_tensor *[]){F.m23, NULL}, 0)))                                      \
    X(stack_zero, "rg_stack", BOTH, "no inputs", NUL(rg_stack(tp, 0, &F.m23, 0)))                  \
    X(stack_shape, "rg_stack", BOTH, "[2,3] and [3,2]",                                            \
      NUL(rg_stack(tp, 2, (rg_tensor *[]){F.m23, F.m32}, 0)))                                      \
    X(stack_axis, "rg_stack", BOTH, "axis 4",                                                      \
      NUL(rg_stack(tp, 2, (rg_tensor *[]){F.m23, F.m23}, 4)))                                      \
    X(stack_null, "rg_stack", BOTH, "NULL input",                                                  \
      NUL(rg_stack(tp, 2, (rg_tensor *[]){NULL, F.m23}, 0)))                                       \
    X(slice_axis, "rg_slice", BOTH, "axis 2", NUL(rg_slice(tp, F.m23, 2, 0, 1)))                   \
    X(slice_range, "rg_slice", BOTH, "[2,5) of 3", NUL(rg_slice(tp, F.m23, 1, 2, 3)))              \
    X(slice_start, "rg_slice", BOTH, "start -1", NUL(rg_slice(tp, F.m23, 1, -1, 1)))               \
    X(slice_len, "rg_slice", BOTH, "len -1", NUL(rg_slice(tp, F.m23, 1, 0, -1)))                   \
    X(slice_null, "rg_slice", BOTH, "NULL", NUL(rg_slice(tp, NULL, 0, 0, 1)))                      \
    X(split_axis, "rg_split", BOTH, "axis 5", NEG(rg_split(tp, F.m23, 5, 2, F.outs)))              \
    X(split_parts, "rg_split", BOTH, "3 into 2", NEG(rg_split(tp, F.m23, 1, 2, F.outs)))           \
    X(split_zero, "rg_split", BOTH, "0 parts", NEG(rg_split(tp, F.m23, 1, 0, F.outs)))             \
    X(split_out, "rg_split", BOTH, "NULL out", NEG(rg_split(tp, F.m23, 1, 3, NULL)))               \
    X(split_null, "rg_split", BOTH, "NULL", NEG(rg_split(tp, NULL, 1, 3, F.outs)))                 \
    /* ---- reductions ---- */                                                                     \
    X(sum_int, "rg_sum", BOTH, "int", NUL(rg_sum(tp, F.m23i)))                                     \
    X(sum_null, "rg_sum", BOTH, "NULL", NUL(rg_sum(tp, NULL)))                                     \
    X(mean_int, "rg_mean", BOTH, "int", NUL(rg_mean(tp, F.ids)))                                   \
    X(max_null, "rg_max", BOTH, "NULL", NUL(rg_max(tp, NULL)))                                     \
    X(max_int, "rg_max", BOTH, "int", NUL(rg_max(tp, F.m23i)))                                     \
    X(sum_axis_axis, "rg_sum_axis", BOTH, "axis 5", NUL(rg_sum_axis(tp, F.m23, 5, false)))         \
    X(sum_axis_neg, "rg_sum_axis", BOTH, "axis -3", NUL(rg_sum_axis(tp, F.m23, -3, true)))         \
    X(mean_axis_axis, "rg_mean_axis", BOTH, "axis 2", NUL(rg_mean_axis(tp, F.m23, 2, false)))      \
    X(mean_axis_int, "rg_mean_axis", BOTH, "int", NUL(rg_mean_axis(tp, F.m23i, 0, false)))         \
    X(max_axis_axis, "rg_max_axis", BOTH, "axis 7", NUL(rg_max_axis(tp, F.m23, 7, false)))         \
    X(max_axis_null, "rg_max_axis", BOTH, "NULL", NUL(rg_max_axis(tp, NULL, 0, false)))            \
    /* ---- neural-network ops ---- */                                                             \
    X(softmax_axis, "rg_softmax", BOTH, "axis 2", NUL(rg_softmax(tp, F.m23, 2)))                   \
    X(softmax_int, "rg_softmax", BOTH, "int", NUL(rg_softmax(tp, F.m23i, 1)))                      \
    X(softmax_null, "rg_softmax", BOTH, "NULL", NUL(rg_softmax(tp, NULL, 1)))                      \
    X(log_softmax_axis, "rg_log_softmax", BOTH, "axis -3", NUL(rg_log_softmax(tp, F.m23, -3)))     \
    X(log_softmax_int, "rg_log_softmax", BOTH, "int", NUL(rg_log_softmax(tp, F.ids, 0)))           \
    X(ce_logits, "rg_cross_entropy", BOTH, "logits [3]",                                           \
      NUL(rg_cross_entropy(tp, F.v3, F.tgt, RG_MEAN)))                                             \
    X(ce_targets, "rg_cross_entropy", BOTH, "float targets",                                       \
      NUL(rg_cross_entropy(tp, F.m23, F.ids_f, RG_MEAN)))                                          \
    X(ce_far, "rg_cross_entropy", BOTH, "target 3 of 3",                                           \
      NUL(rg_cross_entropy(tp, F.m23, F.tgt_far, RG_SUM)))                                         \
    X(ce_count, "rg_cross_entropy", BOTH, "3 rows, 2 targets",                                     \
      NUL(rg_cross_entropy(tp, F.m32, F.tgt, RG_MEAN)))                                            \
    X(ce_red, "rg_cross_entropy", BOTH, "reduction 7",                                             \
      NUL(rg_cross_entropy(tp, F.m23, F.tgt, (rg_reduction)7)))                                    \
    X(ce_null, "rg_cross_entropy", BOTH, "NULL", NUL(rg_cross_entropy(tp, F.m23, NULL, RG_MEAN)))  \
    X(cew_w, "rg_cross_entropy_weighted", BOTH, "w [3]",                                           \
      NUL(rg_cross_entropy_weighted(tp, F.m23, F.tgt, F.v3, RG_MEAN)))                             \
    X(cew_null, "rg_cross_entropy_weighted", BOTH, "NULL w",                                       \
      NUL(rg_cross_entropy_weighted(tp, F.m23, F.tgt, NULL, RG_MEAN)))                             \
    X(mse_shape, "rg_mse", BOTH, "[2,3] and [3,2]", NUL(rg_mse(tp, F.m23, F.m32, RG_MEAN)))        \
    X(mse_dtype, "rg_mse", BOTH, "f64 and f32", NUL(rg_mse(tp, F.m23, F.m23f, RG_MEAN)))           \
    X(mse_int, "rg_mse", BOTH, "int", NUL(rg_mse(tp, F.m23i, F.m23i, RG_SUM)))                     \
    X(mse_red, "rg_mse", BOTH, "reduction 7", NUL(rg_mse(tp, F.m23, F.m23, (rg_reduction)7)))      \
    X(embedding_rank, "rg_embedding", BOTH, "W [3]", NUL(rg_embedding(tp, F.v3, F.ids)))           \
    X(embedding_ids, "rg_embedding", BOTH, "float ids", NUL(rg_embedding(tp, F.m43, F.ids_f)))     \
    X(embedding_far, "rg_embedding", BOTH, "id 9 of 4", NUL(rg_embedding(tp, F.m43, F.ids_far)))   \
    X(embedding_int, "rg_embedding", BOTH, "int W", NUL(rg_embedding(tp, F.m23i, F.ids)))          \
    X(embedding_null, "rg_embedding", BOTH, "NULL", NUL(rg_embedding(tp, NULL, F.ids)))            \
    X(dropout_p, "rg_dropout", BOTH, "p 1.5", NUL(rg_dropout(tp, F.m23, 1.5, &F.rng)))             \
    X(dropout_neg, "rg_dropout", BOTH, "p -0.1", NUL(rg_dropout(tp, F.m23, -0.1, &F.rng)))         \
    X(dropout_rng, "rg_dropout", BOTH, "NULL rng", NUL(rg_dropout(tp, F.m23, 0.5, NULL)))          \
    X(dropout_int, "rg_dropout", BOTH, "int", NUL(rg_dropout(tp, F.m23i, 0.5, &F.rng)))            \
    X(dropout_null, "rg_dropout", BOTH, "NULL", NUL(rg_dropout(tp, NULL, 0.5, &F.rng)))            \
    /* ---- fused recurrent rows ---- */                                                           \
    X(lstm_gates_shape, "rg_lstm_gates", BOTH, "hp [2,9]",                                         \
      NEG(rg_lstm_gates(tp, F.xp12, F.xp9, F.h23, F.outs)))                                        \
    X(lstm_gates_dtype, "rg_lstm_gates", BOTH, "f32 c",                                            \
      NEG(rg_lstm_gates(tp, F.xp12, F.xp12, F.m23f, F.outs)))                                      \
    X(lstm_gates_null, "rg_lstm_gates", BOTH, "NULL c",                                            \
      NEG(rg_lstm_gates(tp, F.xp12, F.xp12, NULL, F.outs)))                                        \
    X(lstm_gates_out, "rg_lstm_gates", BOTH, "NULL out",                                           \
      NEG(rg_lstm_gates(tp, F.xp12, F.xp12, F.h23, NULL)))                                         \
    X(gru_gates_shape, "rg_gru_gates", BOTH, "xp [2,12]",                                          \
      NUL(rg_gru_gates(tp, F.xp12, F.xp9, F.h23)))                                                 \
    X(gru_gates_int, "rg_gru_gates", BOTH, "int h", NUL(rg_gru_gates(tp, F.xp9, F.xp9, F.m23i)))   \
    X(gru_gates_null, "rg_gru_gates", BOTH, "NULL", NUL(rg_gru_gates(tp, NULL, F.xp9, F.h23)))     \
    X(lstm_cell_w, "rg_lstm_cell", BOTH, "W_hh [12,4]",                                            \
      NEG(rg_lstm_cell(tp, F.xp12, F.h23, F.h23, F.w12x4, F.b12, F.outs)))                         \
    X(lstm_cell_b, "rg_lstm_cell", BOTH, "b_hh [3]",                                               \
      NEG(rg_lstm_cell(tp, F.xp12, F.h23, F.h23, F.w12x3, F.v3, F.outs)))                          \
    X(lstm_cell_dtype, "rg_lstm_cell", BOTH, "f32 h",                                              \
      NEG(rg_lstm_cell(tp, F.xp12, F.m23f, F.h23, F.w12x3, NULL, F.outs)))                         \
    X(lstm_cell_null, "rg_lstm_cell", BOTH, "NULL W_hh",                                           \
      NEG(rg_lstm_cell(tp, F.xp12, F.h23, F.h23, NULL, F.b12, F.outs)))                            \
    X(lstm_cell_out, "rg_lstm_cell", BOTH, "NULL out",                                             \
      NEG(rg_lstm_cell(tp, F.xp12, F.h23, F.h23, F.w12x3, NULL, NULL)))                            \
    X(lstm_rows_ids, "rg_lstm_cell_rows", BOTH, "float ids",                                       \
      NEG(rg_lstm_cell_rows(tp, F.p4x12, F.ids_f, F.h23, F.h23, F.w12x3, F.b12, F.outs)))          \
    X(lstm_rows_far, "rg_lstm_cell_rows", BOTH, "id 9 of 4",                                       \
      NEG(rg_lstm_cell_rows(tp, F.p4x12, F.ids_far, F.h23, F.h23, F.w12x3, F.b12, F.outs)))        \
    X(lstm_rows_w, "rg_lstm_cell_rows", BOTH, "W_hh [12,4]",                                       \
      NEG(rg_lstm_cell_rows(tp, F.p4x12, F.ids, F.h23, F.h23, F.w12x4, F.b12, F.outs)))            \
    X(lstm_rows_null, "rg_lstm_cell_rows", BOTH, "NULL b_hh",                                      \
      NEG(rg_lstm_cell_rows(tp, F.p4x12, F.ids, F.h23, F.h23, F.w12x3, NULL, F.outs)))             \
    X(lstm_rows_out, "rg_lstm_cell_rows", BOTH, "NULL out",                                        \
      NEG(rg_lstm_cell_rows(tp, F.p4x12, F.ids, F.h23, F.h23, F.w12x3, F.b12, NULL)))              \
    /* ---- models: registry, layers, cells, sequences, optimizers ---- */                         \
    X(params_null, "rg_params_add", NO_TAPE, "NULL registry",                                      \
      NUL(rg_params_add(NULL, "w", RG_F64, RG_DIMS(2))))                                           \
    X(params_name, "rg_params_add", NO_TAPE, "empty name",                                         \
      NUL(rg_params_add(F.P, "", RG_F64, RG_DIMS(2))))                                             \
    X(params_dtype, "rg_params_add", NO_TAPE, "int",                                               \
      NUL(rg_params_add(F.P, "w", RG_I32, RG_DIMS(2))))                                            \
    X(params_rank, "rg_params_add", NO_TAPE, "rank 5",                                             \
      NUL(rg_params_add(F.P, "w", RG_F64, 5, (int64_t[]){1, 1, 1, 1, 1})))                         \
    X(params_dim, "rg_params_add", NO_TAPE, "negative dim",                                        \
      NUL(rg_params_add(F.P, "w", RG_F64, RG_DIMS(-1))))                                           \
    X(params_taken, "rg_params_add", NO_TAPE, "taken",                                             \
      NUL(rg_params_add(F.P, "taken.weight", RG_F64, RG_DIMS(2))))                                 \
    X(params_finite, "rg_params_check_finite", NO_TAPE, "NULL registry",                           \
      NEG(rg_params_check_finite(NULL, NULL, NULL)))                                               \
    X(linear_init_size, "rg_linear_layer_init", NO_TAPE, "in 0",                                   \
      linear_init_bad(F.P, "other", 0))                                                            \
    X(linear_init_null, "rg_linear_layer_init", NO_TAPE, "NULL registry",                          \
      linear_init_bad(NULL, "other", 3))                                                           \
    X(linear_init_taken, "rg_linear_layer_init", NO_TAPE, "taken",                                 \
      linear_init_bad(F.P, "taken", 3))                                                            \
    X(emb_init_size, "rg_embedding_layer_init", NO_TAPE, "vocab 0", embedding_init_bad(0))         \
    X(cell_init_type, "rg_cell_init", NO_TAPE, "NULL type", cell_init_bad(NULL, 3))                \
    X(cell_init_size, "rg_cell_init", NO_TAPE, "H 0", cell_init_bad(&rg_cell_gru, 0))              \
    X(cell_param_null, "rg_cell_param", NO_TAPE, "NULL cell",                                      \
      NUL(rg_cell_param(NULL, F.P, "x", "w", NULL, RG_DIMS(2), NULL)))                             \
    X(seq_new_cfg, "rg_seq_new", NO_TAPE, "NULL config", seq_new_bad(1, true))                     \
    X(seq_new_layers, "rg_seq_new", NO_TAPE, "0 layers", seq_new_bad(0, false))                    \
    X(optim_new_null, "rg_optim_new", NO_TAPE, "NULL registry", optim_new_bad(0.1, true))          \
    X(optim_new_lr, "rg_optim_new", NO_TAPE, "lr -1", optim_new_bad(-1, false))                    \
    X(linear_fwd_null, "rg_linear_layer_forward", BOTH, "NULL x",                                  \
      NUL(rg_linear_layer_forward(tp, &F.lin, NULL)))                                              \
    X(linear_fwd_layer, "rg_linear_layer_forward", BOTH, "NULL layer",                             \
      NUL(rg_linear_layer_forward(tp, NULL, F.m23)))                                               \
    X(emb_fwd_null, "rg_embedding_layer_forward", BOTH, "NULL ids",                                \
      NUL(rg_embedding_layer_forward(tp, &F.emb, NULL)))                                           \
    X(cell_step_null, "rg_cell_step", BOTH, "NULL x",                                              \
      NEG(rg_cell_step(tp, &F.cell, NULL, NULL, F.outs)))                                          \
    X(cell_step_out, "rg_cell_step", BOTH, "NULL state_out",                                       \
      NEG(rg_cell_step(tp, &F.cell, F.m23, NULL, NULL)))                                           \
    X(cell_state_null, "rg_cell_initial_state", BOTH, "NULL cell",                                 \
      NEG(rg_cell_initial_state(tp, NULL, 2, F.outs)))                                             \
    X(seq_fwd_null, "rg_seq_forward", BOTH, "NULL x",                                              \
      NUL(rg_seq_forward(tp, F.seq, NULL, NULL, NULL, NULL, NULL)))                                \
    X(seq_fwd_shape, "rg_seq_forward", BOTH, "x [2,3]",                                            \
      NUL(rg_seq_forward(tp, F.seq, F.m23, NULL, NULL, NULL, NULL)))                               \
    X(seq_ids_null, "rg_seq_forward_ids", BOTH, "NULL ids",                                        \
      NUL(rg_seq_forward_ids(tp, F.seq, F.m43, NULL, NULL, NULL, NULL, NULL)))                     \
    X(seq_ids_shape, "rg_seq_forward_ids", BOTH, "ids [2]",                                        \
      NUL(rg_seq_forward_ids(tp, F.seq, F.m43, F.ids, NULL, NULL, NULL, NULL)))                    \
    X(seq_ex_null, "rg_seq_forward_ex", BOTH, "NULL x",                                            \
      NUL(rg_seq_forward_ex(tp, F.seq, NULL, NULL)))                                               \
    X(seq_ex_shape, "rg_seq_forward_ex", BOTH, "x [2,3]",                                          \
      NUL(rg_seq_forward_ex(tp, F.seq, F.m23, &(rg_seq_opts){0})))                                 \
    X(seq_ids_ex_shape, "rg_seq_forward_ids_ex", BOTH, "ids [2]",                                  \
      NUL(rg_seq_forward_ids_ex(tp, F.seq, F.m43, F.ids, NULL)))

#define DEFINE_CASE(id, fn, modes, what, expr)                                                 \
    static bool case_##id(rg_tape *tp) { return (expr); }
ERROR_CASES(DEFINE_CASE)

typedef struct err_case {
    const char *id;
    const char *fn;   /* the message must contain it */
    int modes;
    const char *what; /* the bad argument, for the report */
    bool (*fails)(rg_tape *tp); /* true when the call returned NULL or -1 */
} err_case;

#define CASE_ROW(id, fn, modes, what, expr) {#id, fn, modes, what, case_##id},
static const err_case cases[] = {ERROR_CASES(CASE_ROW)};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* One run of c; returns the number of problems found (reported with cr_expect). */
static int run_case(const err_case *c, bool on_tape) {
    rg_tape *tp = on_tape ? rg_tape_new() : NULL;
    if (on_tape) cr_assert_not_null(tp);
    const char *where = on_tape ? "on a tape" : "tape NULL";
    rg_clear_error();
    int bad = 0;
    if (!c->fails(tp)) {
        cr_expect(false, "%s (%s, %s): did not fail", c->id, c->what, where);
        bad++;
    }
    const char *msg = rg_last_error();
    if (!msg[0] || !strstr(msg, c->fn)) {
        cr_expect(false, "%s (%s, %s): rg_last_error() \"%s\" does not name %s", c->id, c->what,
                  where, msg, c->fn);
        bad++;
    }
    if (on_tape && (c->modes & TAPED)) {
        const char *te = rg_tape_error(tp);
        if (!te || !te[0] || !strstr(te, c->fn)) {
            cr_expect(false, "%s (%s): rg_tape_error() \"%s\" does not name %s", c->id, c->what,
                      te ? te : "(none)", c->fn);
            bad++;
        }
    }
    rg_tape_free(tp);
    return bad;
}

Test(errors, every_bad_call_fails_with_a_named_message) {
    int bad = 0, runs = 0;
    for (int i = 0; i < N_CASES; ++i) {
        if (cases[i].modes & ON) bad += run_case(&cases[i], true), runs++;
        if (cases[i].modes & OFF) bad += run_case(&cases[i], false), runs++;
    }
    cr_assert_eq(bad, 0, "%d problems in %d runs of %d rows", bad, runs, N_CASES);
}

/* Every public op of rg_ops.h has a row above (by the name its message uses). */
Test(errors, every_op_has_a_row) {
    static const char *const ops[] = {
        "rg_add", "rg_sub", "rg_mul", "rg_div", "rg_neg", "rg_add_scalar", "rg_mul_scalar",
        "rg_pow_scalar", "rg_exp", "rg_log", "rg_sqrt", "rg_abs", "rg_tanh", "rg_sigmoid",
        "rg_relu", "rg_clamp", "rg_matmul", "rg_matmul_t", "rg_linear", "rg_embedding_linear",
        "rg_transpose", "rg_reshape", "rg_concat", "rg_stack", "rg_slice", "rg_split",
        "rg_sum", "rg_mean", "rg_max", "rg_sum_axis", "rg_mean_axis", "rg_max_axis",
        "rg_softmax", "rg_log_softmax", "rg_cross_entropy", "rg_cross_entropy_weighted",
        "rg_mse", "rg_embedding", "rg_dropout", "rg_lstm_gates", "rg_lstm_cell",
        "rg_lstm_cell_rows", "rg_gru_gates"};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; ++k) {
        bool found = false;
        for (int i = 0; i < N_CASES && !found; ++i) found = strcmp(cases[i].fn, ops[k]) == 0;
        cr_expect(found, "%s has no error row", ops[k]);
    }
}

/* The root cause of the empty messages: an error path that handed the thread's
 * own buffer back to the setter. */
Test(errors, message_survives_being_passed_itself) {
    rg_tape *tp = rg_tape_new();
    cr_assert_null(rg_zeros(tp, RG_F64, 5, (int64_t[]){1, 1, 1, 1, 1}));
    cr_expect_str_eq(rg_last_error(), "rg_zeros: rank 5 outside 0..4");
    cr_expect_str_eq(rg_tape_error(tp), "rg_zeros: rank 5 outside 0..4");
    rg_set_error("%s", rg_last_error());
    cr_expect_str_eq(rg_last_error(), "rg_zeros: rank 5 outside 0..4");
    rg_set_error("outer: %s", rg_last_error());
    cr_expect_str_eq(rg_last_error(), "outer: rg_zeros: rank 5 outside 0..4");
    rg_tape_free(tp);
}

/* A failed tape keeps its first message; a later call (even a bad one) returns
 * NULL without replacing it. */
Test(errors, first_error_wins) {
    rg_tape *tp = rg_tape_new();
    cr_assert_null(rg_add(tp, F.m23, F.m32));
    const char *first = "rg_add: shapes do not broadcast: a [2,3], b [3,2]";
    cr_expect_str_eq(rg_tape_error(tp), first);
    cr_expect_null(rg_mul(tp, F.m23, F.m23));
    cr_expect_null(rg_exp(tp, NULL));
    cr_expect_null(rg_zeros(tp, RG_F64, RG_DIMS(-1)));
    cr_expect_eq(rg_split(tp, F.m23, 1, 3, F.outs), -1);
    cr_expect_str_eq(rg_tape_error(tp), first);
    rg_tape_reset(tp);
    cr_expect_null(rg_tape_error(tp));
    cr_expect_not_null(rg_mul(tp, F.m23, F.m23));
    rg_tape_free(tp);
}

/* rg_parallel_run: all parts or none. */
static void count_part(int k, void *user) { atomic_fetch_add((atomic_int *)user, 1 << k); }

Test(errors, parallel_run_all_or_nothing) {
    atomic_int mask = 0;
    cr_assert_eq(rg_parallel_run(4, count_part, &mask), 0, "%s", rg_last_error());
    cr_expect_eq(mask, 15);
    mask = 0;
    cr_assert_eq(rg_parallel_run(1, count_part, &mask), 0);
    cr_expect_eq(mask, 1);
    mask = 0;
    cr_assert_eq(rg_parallel_run(0, count_part, &mask), -1);
    cr_expect_eq(mask, 0, "no part runs when it cannot run");
    cr_expect(strstr(rg_last_error(), "rg_parallel_run: 0 threads") != NULL, "%s",
              rg_last_error());
}
