/* The seed document's first worked example: a 2-unit RNN reads "hi there"
 * (one-hot inputs) and scores the next word.  Prints h1, h2, the logits y and
 * softmax(y) with 12 significant digits, next to the document's 3-digit
 * figures (which round h1 and carry the rounding into h2 and y). */
#include <math.h>
#include <stdio.h>

#include "retrograd.h"
#include "seed_models.h"

/* The document's printed values. */
static const double doc_h1[SEED_H2] = {0.537, -0.099};
static const double doc_h2[SEED_H2] = {0.311, 0.842};
static const double doc_y[SEED_V] = {0.620, 0.075, 0.492, -0.271};

static void print_vs_doc(const char *name, const rg_tensor *t, const double *doc) {
    printf("%s\n  %-6s %20s %10s %12s\n", name, "", "retrograd", "document", "difference");
    for (int64_t i = 0; i < t->numel; ++i) {
        double v = rg_get(t, i);
        printf("  [%lld]    %20.12f %10.3f %12.3e\n", (long long)i, v, doc[i], v - doc[i]);
    }
}

int main(void) {
    seed_rnn2 m;
    if (seed_rnn2_init(&m) != 0) {
        fprintf(stderr, "seed_rnn_forward: %s\n", rg_last_error());
        return 1;
    }
    rg_tape *tp = rg_tape_new();
    if (!tp) {
        fprintf(stderr, "seed_rnn_forward: %s\n", rg_last_error());
        seed_rnn2_free(&m);
        return 1;
    }
    const int words[] = {0, 1}; /* hi there */
    rg_tensor *hs[2];
    rg_tensor *y = seed_rnn2_forward(tp, &m, words, 2, hs);
    rg_tensor *p = rg_softmax(tp, y, 0);
    if (!p) {
        fprintf(stderr, "seed_rnn_forward: %s\n", rg_last_error());
        rg_tape_free(tp);
        seed_rnn2_free(&m);
        return 1;
    }

    printf("2-unit RNN, inputs: hi there, h0 = 0 (float64)\n\n");
    rg_tensor_print(stdout, "W_xh", m.W_xh);
    rg_tensor_print(stdout, "W_hh", m.W_hh);
    rg_tensor_print(stdout, "W_hy", m.W_hy);
    rg_tensor_print(stdout, "b_h", m.b_h);
    printf("\n");
    print_vs_doc("h1 = tanh(W_xh x_hi + b_h)", hs[0], doc_h1);
    print_vs_doc("h2 = tanh(W_hh h1 + W_xh x_there + b_h)", hs[1], doc_h2);
    print_vs_doc("y = W_hy h2 + b_y", y, doc_y);
    printf("\nsoftmax(y): next-word probabilities\n");
    int best = 0;
    for (int v = 0; v < SEED_V; ++v) {
        printf("  %-6s %20.12f\n", seed_words[v], rg_get(p, v));
        if (rg_get(p, v) > rg_get(p, best)) best = v;
    }
    printf("most probable next word: %s\n", seed_words[best]);
    printf("\nThe document rounds h1 to 3 digits and carries that rounding, hence its\n"
           "h2 and y differ from the exact values in the third digit.\n");

    rg_tape_free(tp);
    seed_rnn2_free(&m);
    return 0;
}
