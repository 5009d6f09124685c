/* charlm sample: streams text from a checkpoint.  The prime is read first
 * (state carried from the zero state), then each next byte is drawn from
 * softmax(logits / temperature), optionally restricted to the top k. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "charlm.h"

static const char *usage_line =
    "usage: charlm sample --model FILE [--prime TEXT] [--length N] [--temperature T]\n"
    "                     [--top-k K] [--seed S] [--cell-lib FILE.so]";

/* Draws a token from logits [V] (temperature 0: the most likely one). */
static int draw(const float *logits, int V, double temp, int64_t top_k, rg_rng *rng,
                double *p)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best])
            best = i;
    if (temp <= 0)
        return best;
    double cut = -INFINITY;
    if (top_k > 0 && top_k < V) {
        /* the k-th largest logit: k passes over a tiny vocabulary */
        for (int i = 0; i < V; i++)
            p[i] = logits[i];
        for (int64_t k = 0; k < top_k; k++) {
            int m = 0;
            for (int i = 1; i < V; i++)
                if (p[i] > p[m])
                    m = i;
            cut = p[m];
            p[m] = -INFINITY;
        }
    }
    double sum = 0, mx = logits[best];
    for (int i = 0; i < V; i++) {
        p[i] = logits[i] >= cut ? exp((logits[i] - mx) / temp) : 0;
        sum += p[i];
    }
    double u = rg_rng_uniform(rng) * sum;
    for (int i = 0; i < V; i++) {
        u -= p[i];
        if (u < 0)
            return i;
    }
    return best;
}

int charlm_sample_main(int argc, char **argv)
{
    const char *model = NULL, *prime = NULL, *cell_lib = NULL;
    int64_t length = 500, top_k = 0, seed = 1;
    double temp = 0.8;
    rg_flag fl[] = {
        {"--model", RG_FLAG_STRING, &model, 0, 0, NULL, "checkpoint to sample from (required)", 0, 0, 0},
        {"--prime", RG_FLAG_STRING, &prime, 0, 0, NULL, "text to start from (default: a newline)", 0, 0, 0},
        {"--length", RG_FLAG_INT, &length, 0, 1e12, NULL, "bytes to generate (default 500)", 0, 0, 0},
        {"--temperature", RG_FLAG_DOUBLE, &temp, 0, 100, NULL, "softmax temperature; 0 = greedy (default 0.8)", 0, 0, 0},
        {"--top-k", RG_FLAG_INT, &top_k, 0, 256, NULL, "draw from the k most likely bytes; 0 = all (default 0)", 0, 0, 0},
        {"--seed", RG_FLAG_INT, &seed, 0, 9.2e18, NULL, "random seed (default 1)", 0, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &cell_lib, 0, 0, NULL, "the cell plugin of a model with a plugin's cell", 0, 0, 0},
    };
    int nf = (int)(sizeof fl / sizeof fl[0]);
    int status;
    if (!rg_flags_cli("charlm sample", usage_line, fl, nf, argc, argv, 2, &status))
        return status;
    if (!model) {
        fprintf(stderr, "charlm sample: --model FILE is required\n%s\n", usage_line);
        return 2;
    }
    lm_model m;
    charlm_vocab vocab;
    if ((cell_lib && rg_cell_plugin_load(cell_lib) != 0) ||
        charlm_load(&m, &vocab, model) != 0) {
        fprintf(stderr, "charlm sample: %s\n", rg_last_error());
        return 1;
    }
    status = 1;
    const charlm_vocab *v = &vocab;
    if (!prime)
        prime = v->index['\n'] >= 0 ? "\n" : (const char *)NULL;
    char first[2] = {(char)v->byte[0], 0};
    if (!prime)
        prime = first;
    int64_t np = (int64_t)strlen(prime);
    int32_t *ids = malloc((size_t)(np + 1) * sizeof *ids);
    double *p = malloc((size_t)m.V * sizeof *p);
    rg_tape *tp = rg_tape_new();
    rg_tensor *state[RG_CELL_MAX_STATE] = {0};
    int ns = lm_state_count(&m);
    rg_rng rng;
    rg_rng_seed(&rng, (uint64_t)seed);
    if (!ids || !p || !tp) {
        fprintf(stderr, "charlm sample: out of memory\n");
        goto out;
    }
    if (charlm_encode(v, (const uint8_t *)prime, np, ids, "--prime") != 0) {
        fprintf(stderr, "charlm sample: %s\n", rg_last_error());
        goto out;
    }
    for (int j = 0; j < ns; j++)
        if (!(state[j] = rg_zeros(NULL, RG_F32, RG_DIMS(m.L, 1, m.H)))) {
            fprintf(stderr, "charlm sample: %s\n", rg_last_error());
            goto out;
        }
    rg_tape_set_grad_enabled(tp, false);
    rg_tape_set_training(tp, false);
    fwrite(prime, 1, (size_t)np, stdout);
    int64_t n_in = np;
    for (int64_t k = 0; k < length; k++) {
        rg_tape_reset(tp);
        rg_tensor *in = rg_from_data(tp, RG_I32, RG_DIMS(n_in, 1), ids);
        rg_tensor *final[RG_CELL_MAX_STATE] = {0};
        rg_tensor *logits = lm_forward(tp, &m, in, state, final, NULL);
        if (!logits) {
            fprintf(stderr, "charlm sample: %s\n", rg_last_error());
            goto out;
        }
        for (int j = 0; j < ns; j++)
            rg_tensor_copy(state[j], final[j]);
        const float *last = (const float *)logits->data + (n_in - 1) * m.V;
        int tok = draw(last, (int)m.V, temp, top_k, &rng, p);
        putchar(v->byte[tok]);
        if (v->byte[tok] == '\n' || k % 16 == 15)
            fflush(stdout);
        ids[0] = tok;
        n_in = 1;
    }
    putchar('\n');
    fflush(stdout);
    status = 0;
out:
    for (int j = 0; j < ns; j++)
        rg_tensor_free(state[j]);
    rg_tape_free(tp);
    free(ids);
    free(p);
    lm_model_free(&m);
    return status;
}
