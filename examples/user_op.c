/* A user adds an op from outside the library: softplus (examples/user_op.h)
 * is one rg_op row, registered by name with rg_op_register and run through
 * rg_apply exactly like the built-in ops.  This program looks the row up by
 * name, evaluates it, checks its gradients against finite differences
 * (rg_gradcheck) and its second derivatives too (rg_gradgradcheck, through
 * the row's recordable backward), and trains a tiny MLP that uses it for a
 * few steps. */
#include <math.h>
#include <stdio.h>

#include "retrograd.h"
#include "user_op.h"

static int fail(const char *what) {
    fprintf(stderr, "user_op: %s: %s\n", what, rg_last_error());
    return 1;
}

/* softplus on a few values, against log(1 + exp(x)) computed directly. */
static int show_values(rg_tape *tp) {
    const double xs[] = {-30, -2, -0.5, 0, 0.5, 2, 30, 800};
    enum { N = sizeof xs / sizeof xs[0] };
    rg_tensor *x = rg_from_doubles(tp, RG_F64, RG_DIMS(N), xs);
    rg_tensor *y = user_softplus(tp, x);
    if (!y) return fail("softplus forward");
    printf("softplus(x) = log(1 + exp(x))\n  %8s %22s %22s\n", "x", "user_softplus",
           "log1p(exp(x))");
    for (int i = 0; i < N; ++i)
        printf("  %8g %22.15g %22.15g\n", xs[i], rg_get(y, i), log1p(exp(xs[i])));
    printf("  (the direct formula overflows at x = 800; the op's form does not)\n\n");
    return 0;
}

/* A few plain SGD steps on the MLP: the loss should fall. */
static int train(rg_tape *tp, user_mlp *m, int steps, double lr) {
    rg_tensor *p[5] = {m->x, m->W1, m->b1, m->W2, m->b2};
    printf("2-layer MLP x [8,3] -> softplus(linear) [8,6] -> linear [8,4], cross-entropy\n");
    for (int s = 0; s < steps; ++s) {
        rg_tape_reset(tp);
        for (int i = 1; i < 5; ++i) rg_zero_grad(p[i]);
        rg_tensor *loss = user_mlp_loss(tp, p, 5, m->targets);
        if (!loss || rg_backward(tp, loss) != 0) return fail("training step");
        if (s % 10 == 0 || s == steps - 1)
            printf("  step %3d  loss %.6f  (%zu ops on the tape)\n", s, rg_get(loss, 0),
                   rg_tape_entries(tp));
        for (int i = 1; i < 5; ++i) /* the parameters; x stays fixed */
            for (int64_t k = 0; k < p[i]->numel; ++k)
                rg_set(p[i], k, rg_get(p[i], k) - lr * rg_grad_get(p[i], k));
    }
    return 0;
}

/* Gradient checks: the op alone (with random weights w, not a plain sum),
 * then the whole MLP, every input and parameter element; then the second
 * derivatives of both (rg_gradgradcheck).  0 when all pass. */
static int check(user_mlp *m, rg_tensor *w) {
    rg_gradcheck_opts o;
    rg_gradcheck_defaults(&o);
    o.report = stdout;
    rg_gradcheck_result r1, r2, r3, r4;
    o.label = "sum(w * user_softplus(x)), x [8,3] in [-6,6]";
    if (rg_gradcheck(user_softplus_weighted, 1, &m->x, w, &o, &r1) != 0)
        return fail("gradcheck");
    rg_tensor *p[5] = {m->x, m->W1, m->b1, m->W2, m->b2};
    o.label = "MLP with user_softplus (x, W1, b1, W2, b2)";
    if (rg_gradcheck(user_mlp_loss, 5, p, m->targets, &o, &r2) != 0)
        return fail("gradcheck");
    o.label = "sum(w * user_softplus(x))";
    if (rg_gradgradcheck(user_softplus_weighted, 1, &m->x, w, &o, &r3) != 0)
        return fail("gradgradcheck");
    o.label = "MLP with user_softplus";
    if (rg_gradgradcheck(user_mlp_loss, 5, p, m->targets, &o, &r4) != 0)
        return fail("gradgradcheck");
    printf("\n");
    return r1.pass && r2.pass && r3.pass && r4.pass ? 0 : 1;
}

int main(void) {
    if (user_softplus_register() != 0) return fail("register");
    const rg_op *op = rg_op_find("user_softplus");
    const rg_op *tanh_op = rg_op_find("tanh");
    printf("registered op '%s': %d input, %d output, backward %s, recordable backward %s; "
           "found by name in the table that holds the built-in '%s'\n\n",
           op->name, op->n_in, op->n_out, op->backward ? "yes" : "no",
           op->backward_graph ? "yes" : "no", tanh_op ? tanh_op->name : "?");

    rg_tape *tp = rg_tape_new();
    user_mlp m;
    rg_rng r;
    rg_rng_seed(&r, 11);
    rg_tensor *w = rg_uniform(NULL, RG_F64, RG_DIMS(8, 3), -1, 1, &r);
    if (!tp || !w || user_mlp_init(&m, 8, 3, 6, 4, 7) != 0) {
        fail("setup");
        rg_tensor_free(w);
        rg_tape_free(tp);
        return 1;
    }
    int rc = show_values(tp);
    if (rc == 0) rc = check(&m, w);
    if (rc == 0) rc = train(tp, &m, 41, 0.5);
    rg_tensor_free(w);
    user_mlp_free(&m);
    rg_tape_free(tp);
    return rc;
}
