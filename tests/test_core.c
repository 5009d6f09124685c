/* The core alone: tensors, arena, tape, backward, errors, RNG and gradcheck,
 * exercised through small ops defined here the way a user defines them, so
 * these tests do not depend on the built-in op files. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "retrograd.h"

/* ---- two user ops: y = x*x (elementwise) and y = a + b (same shapes) ---- */
static int same_shape(rg_tape *tp, rg_entry *e) {
    e->out[0]->rank = e->in[0]->rank;
    memcpy(e->out[0]->shape, e->in[0]->shape, sizeof e->in[0]->shape);
    for (int i = 1; i < e->n_in; ++i)
        if (!rg_same_shape(e->in[0], e->in[i])) {
            char a[64], b[64];
            return rg_op_error(tp, "%s: shapes differ: %s, %s", e->op->name,
                               rg_shape_str(e->in[0], a, 64), rg_shape_str(e->in[i], b, 64));
        }
    return 0;
}
static void sq_fwd(rg_tape *tp, rg_entry *e) {
    for (int64_t i = 0; i < e->in[0]->numel; ++i) {
        double x = rg_get(e->in[0], i);
        rg_set(e->out[0], i, x * x);
    }
}
static void sq_bwd(rg_tape *tp, rg_entry *e) {
    if (!rg_grad(tp, e->in[0])) return;
    double *dx = e->in[0]->grad, *dy = e->out[0]->grad;
    for (int64_t i = 0; i < e->in[0]->numel; ++i) dx[i] += 2 * rg_get(e->in[0], i) * dy[i];
}
static void sq_bwd_wrong(rg_tape *tp, rg_entry *e) {
    if (!rg_grad(tp, e->in[0])) return;
    double *dx = e->in[0]->grad, *dy = e->out[0]->grad;
    for (int64_t i = 0; i < e->in[0]->numel; ++i) dx[i] += 2.1 * rg_get(e->in[0], i) * dy[i];
}
static void add_fwd(rg_tape *tp, rg_entry *e) {
    for (int64_t i = 0; i < e->in[0]->numel; ++i)
        rg_set(e->out[0], i, rg_get(e->in[0], i) + rg_get(e->in[1], i));
}
static void add_bwd(rg_tape *tp, rg_entry *e) {
    double *dy = e->out[0]->grad;
    for (int k = 0; k < 2; ++k) {
        double *dx = rg_grad(tp, e->in[k]);
        if (dx)
            for (int64_t i = 0; i < e->in[k]->numel; ++i) dx[i] += dy[i];
    }
}
static void log_fwd(rg_tape *tp, rg_entry *e) {
    for (int64_t i = 0; i < e->in[0]->numel; ++i) rg_set(e->out[0], i, log(rg_get(e->in[0], i)));
}
static int scalar_shape(rg_tape *tp, rg_entry *e) {
    e->out[0]->rank = 0;
    return 0;
}
static void total_fwd(rg_tape *tp, rg_entry *e) {
    double s = 0;
    for (int64_t i = 0; i < e->in[0]->numel; ++i) s += rg_get(e->in[0], i);
    rg_set(e->out[0], 0, s);
}
static void total_bwd(rg_tape *tp, rg_entry *e) {
    double *dx = rg_grad(tp, e->in[0]);
    if (dx)
        for (int64_t i = 0; i < e->in[0]->numel; ++i) dx[i] += ((double *)e->out[0]->grad)[0];
}
static const rg_op op_sq = {"test_square", 1, 1, same_shape, sq_fwd, sq_bwd, NULL};
static const rg_op op_sq_wrong = {"test_square_wrong", 1, 1, same_shape, sq_fwd, sq_bwd_wrong, NULL};
static const rg_op op_add2 = {"test_add", 2, 1, same_shape, add_fwd, add_bwd, NULL};
static const rg_op op_log_nobwd = {"test_log_nobackward", 1, 1, same_shape, log_fwd, NULL, NULL};
static const rg_op op_total = {"test_total", 1, 1, scalar_shape, total_fwd, total_bwd, NULL};

static rg_tensor *sq(rg_tape *tp, rg_tensor *x) { return rg_apply(tp, &op_sq, 1, &x, NULL); }
static rg_tensor *add2(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    return rg_apply(tp, &op_add2, 2, (rg_tensor *[]){a, b}, NULL);
}
static rg_tensor *total(rg_tape *tp, rg_tensor *x) { return rg_apply(tp, &op_total, 1, &x, NULL); }

Test(core, tensor_creation_and_access) {
    rg_tensor *t = rg_zeros(NULL, RG_F32, RG_DIMS(2, 3));
    cr_assert_not_null(t);
    cr_expect_eq(t->numel, 6);
    cr_expect_eq((uintptr_t)t->data % 64, 0, "data is 64-byte aligned");
    rg_set(t, 4, 2.5);
    cr_expect_eq(rg_get(t, 4), 2.5);
    char s[64];
    cr_expect_str_eq(rg_shape_str(t, s, sizeof s), "[2,3]");
    rg_tensor *o = rg_ones(NULL, RG_F64, RG_DIMS(4));
    cr_expect_eq(rg_get(o, 3), 1.0);
    rg_tensor *c = rg_tensor_clone(t);
    cr_expect_eq(rg_get(c, 4), 2.5);
    cr_expect_eq(rg_tensor_copy(o, t), -1, "numel mismatch refused");
    cr_expect(strstr(rg_last_error(), "rg_tensor_copy") != NULL);
    rg_tensor *s0 = rg_scalar(NULL, RG_F64, 3.0);
    cr_expect_eq(s0->rank, 0);
    cr_expect_eq(s0->numel, 1);
    rg_tensor *r4 = rg_zeros(NULL, RG_F64, RG_DIMS(2, 1, 3, 2));
    cr_expect_eq(r4->numel, 12);
    cr_expect_null(rg_zeros(NULL, RG_F64, 5, (int64_t[]){1, 1, 1, 1, 1}), "rank 5 refused");
    cr_expect(strstr(rg_last_error(), "rank") != NULL);
    rg_tensor_free(t);
    rg_tensor_free(o);
    rg_tensor_free(c);
    rg_tensor_free(s0);
    rg_tensor_free(r4);
}

Test(core, rng_is_reproducible_and_machine_independent) {
    rg_rng a, b;
    rg_rng_seed(&a, 42);
    rg_rng_seed(&b, 42);
    for (int i = 0; i < 100; ++i) cr_expect_eq(rg_rng_next(&a), rg_rng_next(&b));
    /* Fixed values: xoshiro256** from splitmix64(42), the same everywhere. */
    rg_rng_seed(&a, 0);
    uint64_t first = rg_rng_next(&a);
    rg_rng_seed(&a, 0);
    cr_expect_eq(rg_rng_next(&a), first);
    rg_rng_seed(&a, 7);
    double mean = 0, var = 0;
    for (int i = 0; i < 20000; ++i) {
        double z = rg_rng_normal(&a);
        mean += z;
        var += z * z;
    }
    mean /= 20000;
    var = var / 20000 - mean * mean;
    cr_expect(fabs(mean) < 0.03 && fabs(var - 1) < 0.05, "normal: mean %g var %g", mean, var);
    for (int i = 0; i < 1000; ++i) {
        double u = rg_rng_uniform(&a);
        cr_expect(u >= 0 && u < 1);
        int64_t k = rg_rng_below(&a, 7);
        cr_expect(k >= 0 && k < 7);
    }
}

Test(core, backward_fanout_accumulates) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = rg_from_doubles(NULL, RG_F64, RG_DIMS(3), (double[]){1, 2, 3});
    rg_set_requires_grad(x, true);
    /* y = sum(x^2 + x^2 + x): dy/dx = 4x + 1 (x used three times) */
    rg_tensor *y = total(tp, add2(tp, add2(tp, sq(tp, x), sq(tp, x)), x));
    cr_assert_not_null(y, "%s", rg_tape_error(tp));
    cr_assert_eq(rg_backward(tp, y), 0);
    for (int i = 0; i < 3; ++i) cr_expect_eq(rg_grad_get(x, i), 4 * (i + 1) + 1);
    /* Gradients of persistent tensors accumulate across steps until zeroed. */
    rg_tape_reset(tp);
    y = total(tp, x);
    cr_assert_eq(rg_backward(tp, y), 0);
    cr_expect_eq(rg_grad_get(x, 0), 6);
    rg_zero_grad(x);
    cr_expect_eq(rg_grad_get(x, 0), 0);
    rg_tape_free(tp);
    rg_tensor_free(x);
}

Test(core, backward_seed_and_nonscalar_error) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = rg_from_doubles(NULL, RG_F64, RG_DIMS(2), (double[]){3, 4});
    rg_set_requires_grad(x, true);
    rg_tensor *y = sq(tp, x);
    cr_expect_eq(rg_backward(tp, y), -1);
    cr_expect(strstr(rg_tape_error(tp), "not a scalar") != NULL, "%s", rg_tape_error(tp));
    rg_tape_reset(tp);
    y = sq(tp, x);
    rg_tensor *seed = rg_from_doubles(tp, RG_F64, RG_DIMS(2), (double[]){1, 10});
    cr_assert_eq(rg_backward_seed(tp, y, seed), 0);
    cr_expect_eq(rg_grad_get(x, 0), 6);
    cr_expect_eq(rg_grad_get(x, 1), 80);
    rg_tape_free(tp);
    rg_tensor_free(x);
}

Test(core, errors_are_named_and_sticky) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *a = rg_zeros(tp, RG_F64, RG_DIMS(2, 3));
    rg_tensor *b = rg_zeros(tp, RG_F64, RG_DIMS(3, 2));
    cr_expect_null(add2(tp, a, b));
    cr_expect_str_eq(rg_tape_error(tp), "test_add: shapes differ: [2,3], [3,2]");
    cr_expect_str_eq(rg_last_error(), "test_add: shapes differ: [2,3], [3,2]");
    /* Any later op on a failed tape returns NULL and keeps the first message. */
    cr_expect_null(sq(tp, a));
    cr_expect_null(rg_matmul(tp, a, a));
    cr_expect_str_eq(rg_tape_error(tp), "test_add: shapes differ: [2,3], [3,2]");
    rg_tape_reset(tp);
    cr_expect_null(rg_tape_error(tp));
    /* NULL input → NULL, named. */
    cr_expect_null(sq(tp, NULL));
    cr_expect(strstr(rg_tape_error(tp), "input 0 is NULL") != NULL);
    rg_tape_reset(tp);
    rg_tensor *m1 = rg_zeros(tp, RG_F32, RG_DIMS(3, 4)), *m2 = rg_zeros(tp, RG_F32, RG_DIMS(5, 2));
    cr_expect_null(rg_matmul(tp, m1, m2));
    cr_expect_str_eq(rg_tape_error(tp), "rg_matmul: inner dimensions differ: a [3,4], b [5,2]");
    rg_tape_reset(tp);
    m1 = rg_zeros(tp, RG_F32, RG_DIMS(3, 4));
    rg_tensor *m3 = rg_zeros(tp, RG_F64, RG_DIMS(4, 2));
    cr_expect_null(rg_matmul(tp, m1, m3));
    cr_expect(strstr(rg_tape_error(tp), "float32") && strstr(rg_tape_error(tp), "float64"),
              "dtype mismatch named: %s", rg_tape_error(tp));
    /* A step tensor from before a reset is refused, not read. */
    rg_tape_reset(tp);
    rg_tensor *old = rg_zeros(tp, RG_F64, RG_DIMS(2));
    rg_tape_reset(tp);
    cr_expect_null(sq(tp, old));
    cr_expect(strstr(rg_tape_error(tp), "rg_tape_reset") != NULL);
    rg_tape_free(tp);
}

Test(core, op_without_backward_is_named) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = rg_from_doubles(NULL, RG_F64, RG_DIMS(2), (double[]){1, 2});
    rg_set_requires_grad(x, true);
    rg_tensor *y = total(tp, rg_apply(tp, &op_log_nobwd, 1, &x, NULL));
    cr_assert_not_null(y);
    cr_expect_eq(rg_backward(tp, y), -1);
    cr_expect_str_eq(rg_tape_error(tp), "rg_backward: op 'test_log_nobackward' has no backward rule");
    rg_tape_free(tp);
    rg_tensor_free(x);
}

Test(core, no_grad_records_nothing_and_detach_cuts) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = rg_from_doubles(NULL, RG_F64, RG_DIMS(2), (double[]){1, 2});
    rg_set_requires_grad(x, true);
    bool was = rg_tape_set_grad_enabled(tp, false);
    cr_expect(was);
    rg_tensor *y = total(tp, sq(tp, x));
    cr_expect_eq(rg_tape_entries(tp), 0);
    cr_expect(!rg_requires_grad(y));
    cr_expect_eq(rg_backward(tp, y), -1, "backward of a no-grad result is an error");
    rg_tape_reset(tp);
    rg_tape_set_grad_enabled(tp, true);
    /* z = sum(detach(x^2) + x): gradient 1, the detached branch contributes nothing */
    rg_tensor *h = sq(tp, x);
    rg_tensor *d = rg_detach(tp, h);
    cr_expect(!rg_requires_grad(d));
    cr_expect_eq(rg_get(d, 1), 4);
    rg_tensor *z = total(tp, add2(tp, d, x));
    cr_assert_eq(rg_backward(tp, z), 0);
    cr_expect_eq(rg_grad_get(x, 0), 1);
    cr_expect_eq(rg_grad_get(x, 1), 1);
    /* detach onto the heap survives a reset (truncated BPTT state) */
    rg_tensor *keep = rg_detach(NULL, h);
    rg_tape_reset(tp);
    cr_expect_eq(rg_get(keep, 1), 4);
    rg_tensor_free(keep);
    rg_tape_free(tp);
    rg_tensor_free(x);
}

Test(core, anomaly_mode_names_the_op) {
    rg_tape *tp = rg_tape_new();
    rg_tape_set_anomaly(tp, true);
    rg_tensor *x = rg_from_doubles(NULL, RG_F64, RG_DIMS(2), (double[]){1, -1});
    rg_set_requires_grad(x, true);
    cr_expect_null(rg_apply(tp, &op_log_nobwd, 1, &x, NULL));
    cr_expect(strstr(rg_tape_error(tp), "anomaly: op 'test_log_nobackward' produced NaN") != NULL,
              "%s", rg_tape_error(tp));
    rg_tape_free(tp);
    rg_tensor_free(x);
}

Test(core, million_entries_no_recursion_and_arena_reuse) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = rg_from_doubles(NULL, RG_F64, RG_DIMS(1), (double[]){0.5});
    rg_set_requires_grad(x, true);
    size_t cap_after_first = 0;
    for (int rep = 0; rep < 3; ++rep) {
        rg_tape_reset(tp);
        rg_tensor *h = x;
        for (int i = 0; i < 1000000; ++i) h = add2(tp, h, x);
        cr_assert_not_null(h, "%s", rg_tape_error(tp));
        cr_expect_eq(rg_tape_entries(tp), 1000000);
        rg_zero_grad(x);
        cr_assert_eq(rg_backward(tp, total(tp, h)), 0);
        cr_expect_eq(rg_grad_get(x, 0), 1000001.0);
        if (rep == 0) cap_after_first = rg_tape_arena_capacity(tp);
        else cr_expect_eq(rg_tape_arena_capacity(tp), cap_after_first,
                          "a steady step reuses the arena without growing it");
    }
    rg_tape_free(tp);
    rg_tensor_free(x);
}

static rg_tensor *fn_sq(rg_tape *tp, rg_tensor *const *in, int n, void *user) {
    const rg_op *op = user;
    rg_tensor *x = in[0];
    return total(tp, add2(tp, rg_apply(tp, op, 1, &x, NULL), in[1]));
}

Test(core, gradcheck_passes_right_and_fails_wrong) {
    rg_rng r;
    rg_rng_seed(&r, 3);
    rg_tensor *in[2] = {rg_uniform(NULL, RG_F64, RG_DIMS(3, 2), -1, 1, &r),
                        rg_uniform(NULL, RG_F64, RG_DIMS(3, 2), -1, 1, &r)};
    rg_set_requires_grad(in[0], true);
    rg_set_requires_grad(in[1], true);
    rg_gradcheck_result res;
    cr_assert_eq(rg_gradcheck(fn_sq, 2, in, (void *)&op_sq, NULL, &res), 0, "%s", rg_last_error());
    cr_expect(res.pass, "max rel %g", res.max_rel_err);
    cr_expect_lt(res.max_rel_err, 1e-8);
    cr_expect_eq(res.n_checked, 12);
    cr_assert_eq(rg_gradcheck(fn_sq, 2, in, (void *)&op_sq_wrong, NULL, &res), 0);
    cr_expect(!res.pass, "a wrong backward must fail");
    cr_expect_eq(res.worst_input, 0);
    cr_expect_gt(res.max_rel_err, 0.01);
    /* float32 inputs are refused for checking */
    rg_tensor *f = rg_zeros(NULL, RG_F32, RG_DIMS(2));
    rg_set_requires_grad(f, true);
    rg_tensor *bad[2] = {f, in[1]};
    cr_expect_eq(rg_gradcheck(fn_sq, 2, bad, (void *)&op_sq, NULL, &res), -1);
    cr_expect(strstr(rg_last_error(), "float64") != NULL);
    /* a readable report on request */
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    rg_gradcheck_opts o;
    rg_gradcheck_defaults(&o);
    o.report = mem;
    o.label = "square";
    rg_gradcheck(fn_sq, 2, in, (void *)&op_sq, &o, &res);
    fclose(mem);
    cr_expect(strstr(buf, "gradcheck square") && strstr(buf, "PASS"), "%s", buf);
    free(buf);
    rg_tensor_free(f);
    rg_tensor_free(in[0]);
    rg_tensor_free(in[1]);
}

Test(core, user_op_registry) {
    static const rg_op mine = {"test_user_registered", 1, 1, same_shape, sq_fwd, sq_bwd, NULL};
    cr_expect_eq(rg_op_register(&mine), 0);
    cr_expect_eq(rg_op_find("test_user_registered"), &mine);
    cr_expect_eq(rg_op_register(&mine), -1, "a taken name is refused");
    cr_expect(strstr(rg_last_error(), "already registered") != NULL);
    cr_expect_not_null(rg_op_find("matmul"), "built-in rows are registered");
    cr_expect_null(rg_op_find("no_such_op"));
}

/* Two tapes on two threads run backward over the same parameter with private
 * gradients; reduced, they equal one tape over both halves. */
typedef struct half {
    rg_tensor *w;
    rg_tape *tp[2];
    rg_tensor *x[2];
} half;

static void half_backward(int k, void *user) {
    half *h = user;
    rg_tape_reset(h->tp[k]);
    rg_tensor *y = total(h->tp[k], sq(h->tp[k], add2(h->tp[k], h->w, h->x[k])));
    if (y) rg_backward(h->tp[k], y);
}

Test(core, private_gradients_and_parallel_run) {
    rg_tensor *w = rg_from_doubles(NULL, RG_F64, RG_DIMS(3), (double[]){1, -2, 0.5});
    rg_set_requires_grad(w, true);
    half h = {w, {rg_tape_new(), rg_tape_new()},
              {rg_from_doubles(NULL, RG_F64, RG_DIMS(3), (double[]){0.5, 1, 2}),
               rg_from_doubles(NULL, RG_F64, RG_DIMS(3), (double[]){-1, 3, 1})}};
    for (int k = 0; k < 2; ++k) cr_assert_eq(rg_tape_set_private_grads(h.tp[k], true), 0);
    cr_assert_eq(rg_parallel_run(2, half_backward, &h), 0);
    cr_expect_eq(rg_grad_get(w, 0), 0.0, "private: the parameter's own gradient is untouched");
    for (int k = 0; k < 2; ++k) cr_assert_eq(rg_tape_reduce_grads(h.tp[k]), 0, "%s", rg_last_error());
    /* d/dw sum((w+x)^2) = 2(w+x), summed over both halves */
    for (int i = 0; i < 3; ++i) {
        double want = 2 * (rg_get(w, i) + rg_get(h.x[0], i)) + 2 * (rg_get(w, i) + rg_get(h.x[1], i));
        cr_expect_eq(rg_grad_get(w, i), want, "element %d: %g vs %g", i, rg_grad_get(w, i), want);
    }
    /* switching modes is only allowed on an empty tape */
    cr_expect_eq(rg_tape_set_private_grads(h.tp[0], false), -1);
    rg_tape_reset(h.tp[0]);
    cr_expect_eq(rg_tape_set_private_grads(h.tp[0], false), 0);
    for (int k = 0; k < 2; ++k) {
        rg_tape_free(h.tp[k]);
        rg_tensor_free(h.x[k]);
    }
    rg_tensor_free(w);
}

/* rg_get, rg_set and rg_grad_get out of range (or on NULL) are errors, not
 * aborts: NaN or -1, and a message naming the function, the index and the shape. */
Test(core, element_access_out_of_range_is_an_error) {
    rg_tensor *t = rg_from_doubles(NULL, RG_F64, RG_DIMS(2, 3), (double[]){1, 2, 3, 4, 5, 6});
    rg_clear_error();
    cr_expect_eq(rg_get(t, 5), 6.0);
    cr_expect_eq(rg_set(t, 5, -6.0), 0);
    cr_expect_eq(rg_get(t, 5), -6.0);
    cr_expect_str_eq(rg_last_error(), "", "a successful access sets no error");

    cr_expect(isnan(rg_get(t, 6)));
    cr_expect_str_eq(rg_last_error(), "rg_get: index 6 out of range for a [2,3] tensor (6 elements)");
    cr_expect(isnan(rg_get(t, -1)));
    cr_expect_str_eq(rg_last_error(), "rg_get: index -1 out of range for a [2,3] tensor (6 elements)");
    cr_expect_eq(rg_set(t, 99, 1.0), -1);
    cr_expect_str_eq(rg_last_error(), "rg_set: index 99 out of range for a [2,3] tensor (6 elements)");
    for (int64_t i = 0; i < 5; ++i) cr_expect_eq(rg_get(t, i), (double)(i + 1), "rg_set wrote nothing");
    cr_expect(isnan(rg_grad_get(t, 7)));
    cr_expect(strstr(rg_last_error(), "rg_grad_get: index 7") != NULL, "%s", rg_last_error());
    cr_expect(isnan(rg_get(NULL, 0)));
    cr_expect_str_eq(rg_last_error(), "rg_get: tensor is NULL");
    cr_expect_eq(rg_set(NULL, 0, 1.0), -1);
    cr_expect_str_eq(rg_last_error(), "rg_set: tensor is NULL");

    /* rank 0 has one element; an empty tensor has none */
    rg_tensor *s = rg_scalar(NULL, RG_I32, 7), *e = rg_zeros(NULL, RG_F32, RG_DIMS(0, 4));
    cr_expect_eq(rg_get(s, 0), 7.0);
    cr_expect(isnan(rg_get(s, 1)));
    cr_expect_str_eq(rg_last_error(), "rg_get: index 1 out of range for a [] tensor (1 elements)");
    cr_expect(isnan(rg_get(e, 0)));
    cr_expect_str_eq(rg_last_error(), "rg_get: index 0 out of range for a [0,4] tensor (0 elements)");
    rg_tensor_free(s);
    rg_tensor_free(e);
    rg_tensor_free(t);
}

/* Part 1 (another thread) makes the tape fail. */
static void fail_in_thread(int k, void *user) {
    if (k != 1) return;
    rg_tape *tp = user;
    rg_matmul(tp, rg_zeros(tp, RG_F32, RG_DIMS(3, 4)), rg_zeros(tp, RG_F32, RG_DIMS(5, 2)));
}

/* One place to read an error: rg_last_error() explains every NULL and -1,
 * whether the call failed itself or returned at once on a tape that failed
 * earlier (it then repeats the tape's first error, which rg_tape_error keeps). */
Test(core, last_error_explains_every_failed_call) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *a = rg_zeros(tp, RG_F64, RG_DIMS(2, 3)), *b = rg_zeros(tp, RG_F64, RG_DIMS(3, 2));
    const char *first = "test_add: shapes differ: [2,3], [3,2]";
    cr_expect_null(add2(tp, a, b));
    cr_expect_str_eq(rg_last_error(), first);

    /* something else fails in between (no tape involved) ... */
    cr_expect(isnan(rg_get(a, 100)));
    cr_expect(strstr(rg_last_error(), "rg_get") != NULL);
    /* ... then each quiet return on the failed tape explains itself again */
    cr_expect_null(sq(tp, a));
    cr_expect_str_eq(rg_last_error(), first);
    rg_set_error("unrelated");
    cr_expect_null(rg_matmul(tp, a, b));
    cr_expect_str_eq(rg_last_error(), first);
    rg_set_error("unrelated");
    cr_expect_null(rg_zeros(tp, RG_F64, RG_DIMS(2)));
    cr_expect_str_eq(rg_last_error(), first);
    rg_set_error("unrelated");
    cr_expect_eq(rg_backward(tp, a), -1);
    cr_expect_str_eq(rg_last_error(), first);
    rg_set_error("unrelated");
    cr_expect_null(rg_detach(tp, NULL));
    cr_expect_str_eq(rg_last_error(), first);
    rg_set_error("unrelated");
    rg_tensor *parts[3] = {a, a, a};
    cr_expect_eq(rg_split(tp, a, 1, 3, parts), -1);
    cr_expect_str_eq(rg_last_error(), first);
    for (int k = 0; k < 3; ++k) cr_expect_null(parts[k], "out[%d] is NULL on error", k);
    rg_tensor *hc[2] = {a, a};
    cr_expect_eq(rg_lstm_gates(tp, a, a, a, hc), -1);
    cr_expect(!hc[0] && !hc[1], "every output of a multi-output op is NULL on error");
    cr_expect_str_eq(rg_last_error(), first);
    cr_expect_str_eq(rg_tape_error(tp), first, "the tape keeps its first error");

    /* a NULL tape has no tape error: rg_last_error() is the only place */
    cr_expect_null(rg_tanh(NULL, a));
    cr_expect_str_eq(rg_last_error(), "rg_tanh: tape is NULL");

    /* a tape that failed in another thread: the caller's thread reads it too */
    rg_tape_reset(tp);
    rg_clear_error();
    cr_assert_eq(rg_parallel_run(2, fail_in_thread, tp), 0);
    cr_expect_str_eq(rg_tape_error(tp), "rg_matmul: inner dimensions differ: a [3,4], b [5,2]");
    cr_expect_str_eq(rg_last_error(), "", "other threads' errors are their own");
    rg_tensor *w = rg_ones(NULL, RG_F64, RG_DIMS(2));
    cr_expect_null(rg_exp(tp, w));
    cr_expect_str_eq(rg_last_error(), "rg_matmul: inner dimensions differ: a [3,4], b [5,2]");
    rg_tensor_free(w);
    rg_tape_free(tp);
}
