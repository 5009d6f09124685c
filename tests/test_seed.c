/* The seed document's worked examples (examples/seed_models.h), every value
 * against PyTorch's to 1e-11, their gradient check; and a user-defined op
 * (examples/user_op.h) registered through the op table and gradient-checked. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "retrograd.h"
#include "../examples/seed_models.h"
#include "../examples/user_op.h"

#define TOL 1e-11

static void expect_values(const char *what, const rg_tensor *t, bool grad, const double *want,
                          int64_t n) {
    cr_assert_not_null(t, "%s: tensor is NULL", what);
    cr_assert_eq(t->numel, n, "%s: %lld elements, want %lld", what, (long long)t->numel,
                 (long long)n);
    for (int64_t i = 0; i < n; ++i) {
        double got = grad ? rg_grad_get(t, i) : rg_get(t, i);
        cr_expect(fabs(got - want[i]) <= TOL, "%s[%lld]: got %.15g, want %.15g (diff %.3g)",
                  what, (long long)i, got, want[i], got - want[i]);
    }
}

/* ---- (A) 2-unit RNN forward ------------------------------------------------- */

Test(seed, rnn2_forward) {
    seed_rnn2 m;
    cr_assert_eq(seed_rnn2_init(&m), 0, "%s", rg_last_error());
    rg_tape *tp = rg_tape_new();
    const int words[] = {0, 1};
    rg_tensor *hs[2];
    rg_tensor *y = seed_rnn2_forward(tp, &m, words, 2, hs);
    rg_tensor *p = rg_softmax(tp, y, 0);
    cr_assert_not_null(p, "%s", rg_tape_error(tp));
    expect_values("h1", hs[0], false, (double[]){0.537049566998, -0.099667994625}, 2);
    expect_values("h2", hs[1], false, (double[]){0.310634637212, 0.843215276115}, 2);
    expect_values("y", y, false,
                  (double[]){0.621314157002, 0.075452664059, 0.492603429052, -0.270702309939},
                  4);
    double s = 0;
    for (int v = 0; v < SEED_V; ++v) s += rg_get(p, v);
    cr_expect(fabs(s - 1) < 1e-15, "softmax sums to %.17g", s);
    rg_tape_free(tp);
    seed_rnn2_free(&m);
}

/* ---- (B) scalar RNN, BPTT, one SGD step -------------------------------------- */

Test(seed, bptt_forward_backward_sgd) {
    seed_scalar m;
    cr_assert_eq(seed_scalar_init(&m), 0, "%s", rg_last_error());
    rg_tape *tp = rg_tape_new();
    rg_tensor *hs[SEED_V], *z = NULL;
    rg_tensor *loss = seed_scalar_loss(tp, &m, seed_xs, seed_ys, SEED_V, hs, &z);
    bool was = rg_tape_set_grad_enabled(tp, false);
    rg_tensor *lp = rg_log_softmax(tp, z, 1);
    rg_tape_set_grad_enabled(tp, was);
    cr_assert_not_null(loss, "%s", rg_tape_error(tp));
    cr_assert_not_null(lp, "%s", rg_tape_error(tp));
    cr_assert_eq(rg_backward(tp, loss), 0, "%s", rg_tape_error(tp));

    const double h[] = {0.462117157260, -0.204645716794, 0.640529350830, 0.127409653408};
    const double l[] = {1.303883624818, 1.239344122984, 1.609624739368, 1.420681758302};
    for (int t = 0; t < SEED_V; ++t) {
        cr_expect(fabs(rg_get(hs[t], 0) - h[t]) <= TOL, "h[%d]: got %.15g, want %.15g", t,
                  rg_get(hs[t], 0), h[t]);
        double lt = -rg_get(lp, t * SEED_V + seed_ys[t]);
        cr_expect(fabs(lt - l[t]) <= TOL, "loss[%d]: got %.15g, want %.15g", t, lt, l[t]);
    }
    double L = rg_get(loss, 0);
    cr_expect(fabs(L - 5.573534245473) <= TOL, "total loss %.15g", L);
    cr_expect(fabs(L / SEED_V - 1.393383561368) <= TOL, "mean loss %.15g", L / SEED_V);

    expect_values("dW_y", m.W_y, true,
                  (double[]){0.392458006497, -0.175724932545, 0.346273097659, -0.563006171611},
                  4);
    expect_values("dW_h", m.W_h, true, (double[]){0.452094511015}, 1);
    expect_values("dW_x", m.W_x, true,
                  (double[]){0.027609473508, 0.714178736479, 0.295793231550, 0.285065908680},
                  4);
    expect_values("db_h", m.b_h, true, (double[]){1.322647350217}, 1);
    /* db_y = sum_t (p_t - onehot(y_t)): its entries sum to zero. */
    double sy = 0;
    for (int v = 0; v < SEED_V; ++v) sy += rg_grad_get(m.b_y, v);
    cr_expect(fabs(sy) < 1e-14, "db_y sums to %.3g", sy);

    seed_scalar_sgd(&m, 0.1);
    expect_values("W_y after SGD", m.W_y, false,
                  (double[]){0.960754199350, 0.517572493255, -0.534627309766, 0.056300617161},
                  4);
    expect_values("W_h after SGD", m.W_h, false, (double[]){0.154790548899}, 1);
    expect_values("W_x after SGD", m.W_x, false,
                  (double[]){0.497239052649, -0.371417873648, 0.770420676845, -0.028506590868},
                  4);
    rg_tape_free(tp);
    seed_scalar_free(&m);
}

/* Gradients accumulate (+=) across backward calls and reset with rg_zero_grad;
 * a reset tape gives the same values again. */
Test(seed, bptt_accumulates_and_repeats) {
    seed_scalar m;
    cr_assert_eq(seed_scalar_init(&m), 0, "%s", rg_last_error());
    rg_tape *tp = rg_tape_new();
    for (int rep = 0; rep < 2; ++rep) {
        rg_tape_reset(tp);
        rg_tensor *loss = seed_scalar_loss(tp, &m, seed_xs, seed_ys, SEED_V, NULL, NULL);
        cr_assert_eq(rg_backward(tp, loss), 0, "%s", rg_tape_error(tp));
    }
    cr_expect(fabs(rg_grad_get(m.W_h, 0) - 2 * 0.452094511015) <= 2 * TOL,
              "dW_h after two backwards: %.15g", rg_grad_get(m.W_h, 0));
    rg_zero_grad(m.W_h);
    rg_tape_reset(tp);
    rg_tensor *loss = seed_scalar_loss(tp, &m, seed_xs, seed_ys, SEED_V, NULL, NULL);
    cr_assert_eq(rg_backward(tp, loss), 0, "%s", rg_tape_error(tp));
    cr_expect(fabs(rg_grad_get(m.W_h, 0) - 0.452094511015) <= TOL, "dW_h after zero: %.15g",
              rg_grad_get(m.W_h, 0));
    rg_tape_free(tp);
    seed_scalar_free(&m);
}

Test(seed, bptt_gradcheck) {
    seed_scalar m;
    cr_assert_eq(seed_scalar_init(&m), 0, "%s", rg_last_error());
    rg_tensor *p[SEED_NPARAM];
    seed_scalar_params(&m, p);
    seed_seq seq = {seed_xs, seed_ys, SEED_V};
    rg_gradcheck_result r;
    cr_assert_eq(rg_gradcheck(seed_scalar_gradcheck_fn, SEED_NPARAM, p, &seq, NULL, &r), 0,
                 "%s", rg_last_error());
    cr_expect(r.pass, "max abs err %.3g, max rel err %.3g (input %d element %lld)",
              r.max_abs_err, r.max_rel_err, r.worst_input, (long long)r.worst_index);
    cr_expect_eq(r.n_checked, 14);
    cr_expect(r.max_abs_err < 1e-8, "max abs err %.3g", r.max_abs_err);
    seed_scalar_free(&m);
}

/* ---- a user-defined op -------------------------------------------------------- */

Test(seed, user_op_registers_and_runs) {
    cr_assert_eq(user_softplus_register(), 0, "%s", rg_last_error());
    cr_assert_eq(user_softplus_register(), 0, "registering the same row twice is fine");
    cr_expect_eq(rg_op_find("user_softplus"), &user_softplus_op);
    /* Another row under the same name is refused. */
    rg_op other = user_softplus_op;
    cr_expect_eq(rg_op_register(&other), -1);
    cr_expect_neq(strstr(rg_last_error(), "user_softplus"), NULL, "%s", rg_last_error());

    rg_tape *tp = rg_tape_new();
    const double xs[] = {-40, -3, -0.25, 0, 0.25, 3, 40, 1000};
    rg_tensor *x = rg_from_doubles(tp, RG_F64, RG_DIMS(2, 4), xs);
    rg_tensor *y = user_softplus(tp, x);
    cr_assert_not_null(y, "%s", rg_tape_error(tp));
    cr_expect_eq(y->rank, 2);
    cr_expect_eq(y->shape[1], 4);
    for (int i = 0; i < 8; ++i) {
        double want = xs[i] > 30 ? xs[i] + log1p(exp(-xs[i])) : log1p(exp(xs[i]));
        cr_expect(fabs(rg_get(y, i) - want) <= 1e-15 * fmax(1, fabs(want)),
                  "softplus(%g) = %.17g, want %.17g", xs[i], rg_get(y, i), want);
    }
    /* float32 too */
    rg_tensor *xf = rg_from_doubles(tp, RG_F32, RG_DIMS(2), (double[]){-1, 2});
    rg_tensor *yf = user_softplus(tp, xf);
    cr_assert_not_null(yf, "%s", rg_tape_error(tp));
    cr_expect(fabs(rg_get(yf, 1) - log1p(exp(2.0))) < 1e-6);
    /* The shape rule's error reaches the caller with the op's name. */
    rg_tensor *ids = rg_zeros(tp, RG_I32, RG_DIMS(3));
    cr_expect_null(user_softplus(tp, ids));
    cr_assert_not_null(rg_tape_error(tp));
    cr_expect_neq(strstr(rg_tape_error(tp), "softplus"), NULL, "%s", rg_tape_error(tp));
    rg_tape_free(tp);
}

Test(seed, user_op_gradcheck) {
    cr_assert_eq(user_softplus_register(), 0, "%s", rg_last_error());
    user_mlp m;
    cr_assert_eq(user_mlp_init(&m, 8, 3, 6, 4, 7), 0, "%s", rg_last_error());
    rg_rng r;
    rg_rng_seed(&r, 11);
    rg_tensor *w = rg_uniform(NULL, RG_F64, RG_DIMS(8, 3), -1, 1, &r);
    rg_gradcheck_result r1, r2;
    cr_assert_eq(rg_gradcheck(user_softplus_weighted, 1, &m.x, w, NULL, &r1), 0, "%s",
                 rg_last_error());
    cr_expect(r1.pass, "softplus alone: max abs err %.3g", r1.max_abs_err);
    cr_expect_eq(r1.n_checked, 24);
    rg_tensor *p[5] = {m.x, m.W1, m.b1, m.W2, m.b2};
    cr_assert_eq(rg_gradcheck(user_mlp_loss, 5, p, m.targets, NULL, &r2), 0, "%s",
                 rg_last_error());
    cr_expect(r2.pass, "MLP: max abs err %.3g (input %d element %lld)", r2.max_abs_err,
              r2.worst_input, (long long)r2.worst_index);
    cr_expect_eq(r2.n_checked, 24 + 18 + 6 + 24 + 4);
    rg_tensor_free(w);
    user_mlp_free(&m);
}
