/* A program that builds against an installed retrograd, the way a user's would:
 * by pkg-config (shared or static library) or as a Meson subproject; see
 * meson.build here and .ci/consumers.sh, which builds it all three ways.  It
 * uses the public header only: a few ops and backward, checked against the
 * derivative worked out by hand, then one LSTM step whose gradient is checked by
 * central differences.  Prints a fixed report (expected.txt) and exits 0. */
#include <math.h>
#include <stdio.h>

#include <retrograd.h>

static int fail(const char *what) {
    fprintf(stderr, "consumer: %s: %s\n", what, rg_last_error());
    return 1;
}

/* loss = mean(tanh(x W^T)^2), x [1,3] of ones, W [2,3]:  with z_i = sum_j W_ij,
 * dloss/dW_ij = tanh(z_i) (1 - tanh(z_i)^2) x_j  (the mean over 2 cancels the 2). */
static int ops_and_backward(rg_tape *tp) {
    rg_tensor *W = rg_from_doubles(NULL, RG_F64, RG_DIMS(2, 3),
                                   (double[]){0.1, 0.2, 0.3, -0.4, 0.5, -0.6});
    rg_set_requires_grad(W, true);
    rg_tensor *x = rg_ones(tp, RG_F64, RG_DIMS(1, 3));
    rg_tensor *y = rg_tanh(tp, rg_matmul_t(tp, x, W, false, true)); /* [1,2] */
    rg_tensor *loss = rg_mean(tp, rg_mul(tp, y, y));
    if (!loss || rg_backward(tp, loss) != 0) {
        rg_tensor_free(W);
        return fail("ops");
    }
    double worst = 0;
    for (int i = 0; i < 2; ++i) {
        double t = tanh(rg_get(W, 3 * i) + rg_get(W, 3 * i + 1) + rg_get(W, 3 * i + 2));
        for (int j = 0; j < 3; ++j)
            worst = fmax(worst, fabs(rg_grad_get(W, 3 * i + j) - t * (1 - t * t)));
    }
    printf("ops: loss %.6f, dloss/dW[0,0] %.6f, dloss/dW[1,2] %.6f\n", rg_get(loss, 0),
           rg_grad_get(W, 0), rg_grad_get(W, 5));
    printf("ops: gradient equals the hand-derived one: %s\n", worst < 1e-14 ? "yes" : "NO");
    rg_tensor_free(W);
    rg_tape_reset(tp);
    return worst < 1e-14 ? 0 : 1;
}

/* One LSTM step (the built-in cell: PyTorch's equations and parameter names). */
typedef struct lstm_case {
    rg_cell cell;
    rg_tensor *w;  /* [2,4] weights of h in the loss */
} lstm_case;

/* loss = sum(h' * w) + mean(c'), from x [2,3] and a zero initial state */
static rg_tensor *lstm_loss(rg_tape *tp, rg_tensor *const *in, int n, void *user) {
    const lstm_case *lc = user;
    (void)n;
    rg_tensor *state[2];
    if (rg_cell_step(tp, &lc->cell, in[0], NULL, state) != 0) return NULL;
    return rg_add(tp, rg_sum(tp, rg_mul(tp, state[0], lc->w)), rg_mean(tp, state[1]));
}

static int lstm_step(rg_tape *tp) {
    rg_rng r;
    rg_rng_seed(&r, 2024);
    rg_params *P = rg_params_new();
    lstm_case lc = {.w = rg_uniform(NULL, RG_F64, RG_DIMS(2, 4), -1, 1, &r)};
    rg_tensor *x = rg_uniform(NULL, RG_F64, RG_DIMS(2, 3), -1, 1, &r);
    int rc = 1;
    if (!P || !lc.w || !x ||
        rg_cell_init(&lc.cell, &rg_cell_lstm, P, "lstm", "", 3, 4, RG_F64, &r) != 0) {
        rc = fail("lstm setup");
        goto out;
    }
    rg_set_requires_grad(x, true);
    rg_tensor *loss = lstm_loss(tp, &x, 1, &lc);
    if (!loss || rg_backward(tp, loss) != 0) {
        rc = fail("lstm step");
        goto out;
    }
    const char *name;
    rg_tensor *w_ih = rg_params_get(P, "lstm.weight_ih");
    rg_params_at(P, 0, &name);
    printf("lstm: %d parameters (first '%s'), loss %.6f, dloss/dx[0] %.6f, "
           "dloss/dweight_ih[0] %.6f\n",
           rg_params_count(P), name, rg_get(loss, 0), rg_grad_get(x, 0),
           w_ih ? rg_grad_get(w_ih, 0) : NAN);
    rg_tape_reset(tp);

    rg_tensor *inputs[5] = {x};
    for (int k = 0; k < 4; ++k) inputs[k + 1] = rg_params_at(P, k, NULL);
    rg_gradcheck_opts o;
    rg_gradcheck_defaults(&o);
    rg_gradcheck_result res;
    if (rg_gradcheck(lstm_loss, 5, inputs, &lc, &o, &res) != 0) {
        rc = fail("gradcheck");
        goto out;
    }
    printf("lstm: gradient check of x and the 4 parameters (%lld elements): %s\n",
           (long long)res.n_checked, res.pass ? "pass" : "FAIL");
    rc = res.pass ? 0 : 1;
out:
    rg_tensor_free(x);
    rg_tensor_free(lc.w);
    rg_params_free(P);
    return rc;
}

int main(void) {
    rg_tape *tp = rg_tape_new();
    if (!tp) return fail("rg_tape_new");
    int rc = ops_and_backward(tp);
    if (rc == 0) rc = lstm_step(tp);
    /* an error is a message, not an abort */
    rg_tensor *t = rg_zeros(NULL, RG_F32, RG_DIMS(2, 3));
    if (rc == 0 && isnan(rg_get(t, 6))) printf("errors: %s\n", rg_last_error());
    rg_tensor_free(t);
    rg_tape_free(tp);
    printf("consumer: %s\n", rc == 0 ? "ok" : "FAILED");
    return rc;
}
