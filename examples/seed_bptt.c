/* The seed document's second worked example: a scalar RNN reads
 * "hi there class !" and predicts the next word at every step; the loss is
 * summed over the 4 steps, BPTT runs as one rg_backward over the whole tape,
 * then one SGD step (lr 0.1).  Prints hidden states, per-step losses,
 * gradients and updated weights with 12 significant digits, and a
 * finite-difference check of the gradients. */
#include <stdio.h>

#include "retrograd.h"
#include "seed_models.h"

static void print_vec(const char *name, const rg_tensor *t, bool grad) {
    printf("  %-6s [", name);
    for (int64_t i = 0; i < t->numel; ++i)
        printf("%s%.12f", i ? ", " : "", grad ? rg_grad_get(t, i) : rg_get(t, i));
    printf("]\n");
}

int main(void) {
    seed_scalar m;
    if (seed_scalar_init(&m) != 0) {
        fprintf(stderr, "seed_bptt: %s\n", rg_last_error());
        return 1;
    }
    rg_tape *tp = rg_tape_new();
    if (!tp) {
        fprintf(stderr, "seed_bptt: %s\n", rg_last_error());
        seed_scalar_free(&m);
        return 1;
    }
    const int64_t T = SEED_V;
    rg_tensor *hs[SEED_V], *z = NULL;
    rg_tensor *loss = seed_scalar_loss(tp, &m, seed_xs, seed_ys, T, hs, &z);
    /* Per-step losses for printing only: no gradient needed. */
    bool was = rg_tape_set_grad_enabled(tp, false);
    rg_tensor *lp = rg_log_softmax(tp, z, 1);
    rg_tape_set_grad_enabled(tp, was);
    if (!loss || !lp || rg_backward(tp, loss) != 0) {
        fprintf(stderr, "seed_bptt: %s\n", rg_last_error());
        rg_tape_free(tp);
        seed_scalar_free(&m);
        return 1;
    }

    printf("scalar RNN, h_t = tanh(W_x[x_t] + W_h h_{t-1} + b_h), z_t = W_y h_t + b_y\n");
    printf("inputs hi there class !, targets there class ! ! (float64, %zu ops recorded)\n\n",
           rg_tape_entries(tp));
    printf("forward\n");
    printf("  %-3s %-6s %-6s %20s %20s\n", "t", "input", "target", "h_t", "loss_t");
    for (int64_t t = 0; t < T; ++t)
        printf("  %-3lld %-6s %-6s %20.12f %20.12f\n", (long long)t + 1, seed_words[seed_xs[t]],
               seed_words[seed_ys[t]], rg_get(hs[t], 0), -rg_get(lp, t * SEED_V + seed_ys[t]));
    double L = rg_get(loss, 0);
    printf("  total loss %.12f, mean %.12f\n\n", L, L / (double)T);

    printf("gradients of the summed loss (one rg_backward over the %lld steps)\n", (long long)T);
    print_vec("dW_y", m.W_y, true);
    print_vec("dW_h", m.W_h, true);
    print_vec("dW_x", m.W_x, true);
    print_vec("db_h", m.b_h, true);
    print_vec("db_y", m.b_y, true);

    printf("\nfinite differences (rg_gradcheck, central, float64)\n");
    rg_tensor *params[SEED_NPARAM];
    seed_scalar_params(&m, params);
    seed_seq seq = {seed_xs, seed_ys, T};
    rg_gradcheck_opts o;
    rg_gradcheck_defaults(&o);
    o.report = stdout;
    o.label = "seed_bptt (W_x, W_h, b_h, W_y, b_y)";
    rg_gradcheck_result res;
    if (rg_gradcheck(seed_scalar_gradcheck_fn, SEED_NPARAM, params, &seq, &o, &res) != 0) {
        fprintf(stderr, "seed_bptt: %s\n", rg_last_error());
        rg_tape_free(tp);
        seed_scalar_free(&m);
        return 1;
    }

    /* rg_gradcheck left the same gradients in place (it ran one backward from zero). */
    seed_scalar_sgd(&m, 0.1);
    printf("\nafter one SGD step, lr 0.1\n");
    print_vec("W_y", m.W_y, false);
    print_vec("W_h", m.W_h, false);
    print_vec("W_x", m.W_x, false);
    print_vec("b_h", m.b_h, false);
    print_vec("b_y", m.b_y, false);

    rg_tape_free(tp);
    seed_scalar_free(&m);
    return res.pass ? 0 : 1;
}
