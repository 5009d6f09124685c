/* wordlm: a word-level recurrent language model on the bundled Austen novels.
 *   wordlm train   train (see train.c; the run is the training core's)
 *   wordlm sample  --model FILE [--prime WORDS] [--length N] [--temperature T] [--seed S]
 *   wordlm eval    --model FILE --text FILE
 * (both take --cell-lib FILE.so for a model whose cell a plugin defines)
 * The model is examples/lm's, its vocabulary words (vocab.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "wordlm.h"

/* a word index from the logits of one step, <unk> excluded */
static int draw(const float *lg, int64_t V, double temp, rg_rng *rng, double *p)
{
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < V; i++)
        mx = fmax(mx, lg[i]);
    for (int64_t i = 0; i < V; i++)
        sum += p[i] = i == WORDLM_UNK ? 0 : exp((lg[i] - mx) / temp);
    double u = rg_rng_uniform(rng) * sum;
    for (int64_t i = 0; i < V; i++)
        if ((u -= p[i]) < 0)
            return (int)i;
    return (int)V - 1;
}

/* the prime's ids (at least one: <eol> for an empty prime), echoed */
static int32_t *prime_ids(const wordlm_vocab *v, const char *prime, int64_t *n)
{
    char **tok, *store;
    int64_t nt;
    if (wordlm_tokenize(prime, (int64_t)strlen(prime), &tok, &nt, &store) != 0)
        return NULL;
    int32_t *ids = malloc((size_t)(nt + 1) * sizeof *ids);
    *n = 0;
    for (int64_t i = 0; ids && i < nt; i++) {
        ids[(*n)++] = wordlm_vocab_index(v, tok[i]);
        wordlm_token_write(stdout, tok[i]);
        putchar(' ');
    }
    if (ids && *n == 0)
        ids[(*n)++] = WORDLM_EOL;
    if (!ids)
        rg_set_error("out of memory");
    free(tok);
    free(store);
    return ids;
}

int wordlm_sample(const lm_model *m, const wordlm_vocab *v, const char *prime, int64_t length,
                  double temp, uint64_t seed)
{
    rg_rng rng;
    rg_rng_seed(&rng, seed);
    int64_t n_in = 0;
    int32_t *ids = prime_ids(v, prime, &n_in);
    double *p = malloc((size_t)m->V * sizeof *p);
    rg_tape *tp = rg_tape_new();
    rg_tensor *st[RG_CELL_MAX_STATE] = {0};
    int ns = lm_state_count(m), rc = ids && p && tp ? 0 : -1;
    for (int j = 0; j < ns && rc == 0; j++)
        rc = (st[j] = rg_zeros(NULL, RG_F32, RG_DIMS(m->L, 1, m->H))) ? 0 : -1;
    if (tp) {
        rg_tape_set_grad_enabled(tp, false);
        rg_tape_set_training(tp, false); /* no dropout when sampling */
    }
    for (int64_t k = 0; k < length && rc == 0; k++) {
        rg_tape_reset(tp);
        rg_tensor *fin[RG_CELL_MAX_STATE] = {0};
        rg_tensor *lg = lm_forward(tp, m, rg_from_data(tp, RG_I32, RG_DIMS(n_in, 1), ids), st,
                                   fin, NULL);
        if (!lg) {
            rg_set_error("%s", rg_tape_error(tp));
            rc = -1;
            break;
        }
        for (int j = 0; j < ns; j++)
            rg_tensor_copy(st[j], fin[j]);
        int w = draw((const float *)lg->data + (n_in - 1) * m->V, m->V, temp, &rng, p);
        wordlm_token_write(stdout, v->word[w]);
        if (w != WORDLM_EOL)
            putchar(' ');
        ids[0] = w;
        n_in = 1;
    }
    putchar('\n');
    for (int j = 0; j < ns; j++)
        rg_tensor_free(st[j]);
    rg_tape_free(tp);
    free(ids);
    free(p);
    return rc;
}

/* the model's checkpoint with its vocabulary parsed */
static int load(lm_model *m, wordlm_vocab *v, const char *path)
{
    if (lm_model_load(m, path, RG_F32) != 0)
        return -1;
    if (wordlm_vocab_parse(v, m->vocab) != 0 || v->n != m->V) {
        rg_set_error("%s: metadata 'vocab' is missing, malformed or does not match "
                     "embed.weight", path);
        lm_model_free(m);
        return -1;
    }
    return 0;
}

static int eval_text(const lm_model *m, const wordlm_vocab *v, const char *text)
{
    uint8_t *t;
    int64_t n, nt;
    char **tok = NULL, *store = NULL;
    if (rg_file_read_all(text, &t, &n) != 0)
        return -1;
    int rc = wordlm_tokenize((const char *)t, n, &tok, &nt, &store);
    int32_t *ids = rc == 0 ? malloc((size_t)(nt > 0 ? nt : 1) * sizeof *ids) : NULL;
    if (rc == 0 && nt < 2) {
        rg_set_error("%s: %lld tokens; at least 2 are needed for one prediction", text,
                     (long long)nt);
        rc = -1;
    } else if (rc == 0 && !ids) {
        rg_set_error("out of memory");
        rc = -1;
    }
    int64_t unk = 0;
    double sum = 0;
    for (int64_t i = 0; rc == 0 && i < nt; i++)
        unk += (ids[i] = wordlm_vocab_index(v, tok[i])) == WORDLM_UNK;
    if (rc == 0 && (rc = lm_eval_ids(m, ids, nt, &sum, NULL, NULL)) == 0) {
        double loss = sum / (double)(nt - 1);
        printf("eval: tokens=%lld unk=%lld loss=%.6f ppl=%.6f\n", (long long)(nt - 1),
               (long long)unk, loss, exp(loss));
    }
    free(ids);
    free(t);
    free(tok);
    free(store);
    return rc;
}

/* sample and eval: flags, the model, the work */
static int use_model(int argc, char **argv)
{
    const char *cmd = argv[1], *path = NULL, *prime = "it is", *text = NULL, *cell_lib = NULL;
    int64_t length = 100, seed = 1;
    double temp = 0.8;
    bool sample = !strcmp(cmd, "sample");
    rg_flag fl[] = {
        {"--model", RG_FLAG_STRING, &path, 0, 0, NULL, "checkpoint (required)", 0, 0, 0},
        {"--prime", RG_FLAG_STRING, &prime, 0, 0, NULL, "sample: words to start from", 0, 0, 0},
        {"--length", RG_FLAG_INT, &length, 0, 1e9, NULL, "sample: words to generate (default 100)", 0, 0, 0},
        {"--temperature", RG_FLAG_DOUBLE, &temp, 1e-3, 100, NULL, "sample: softmax temperature (default 0.8)", 0, 0, 0},
        {"--seed", RG_FLAG_INT, &seed, 0, 9.2e18, NULL, "sample: random seed (default 1)", 0, 0, 0},
        {"--text", RG_FLAG_STRING, &text, 0, 0, NULL, "eval: the text (required)", 0, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &cell_lib, 0, 0, NULL, "the cell plugin of a model with a plugin's cell", 0, 0, 0},
    };
    char prog[32];
    snprintf(prog, sizeof prog, "wordlm %s", cmd);
    int status, nf = (int)(sizeof fl / sizeof fl[0]);
    if (!rg_flags_cli(prog, sample ? "usage: wordlm sample --model FILE [flags]"
                                   : "usage: wordlm eval --model FILE --text FILE",
                      fl, nf, argc, argv, 2, &status))
        return status;
    if (!path || (!sample && !text)) {
        fprintf(stderr, "%s: --model FILE%s is required\n", prog, sample ? "" : " and --text FILE");
        return 2;
    }
    lm_model m;
    wordlm_vocab v;
    if ((cell_lib && rg_cell_plugin_load(cell_lib) != 0) || load(&m, &v, path) != 0) {
        fprintf(stderr, "%s: %s\n", prog, rg_last_error());
        return 1;
    }
    int rc = sample ? wordlm_sample(&m, &v, prime, length, temp, (uint64_t)seed)
                    : eval_text(&m, &v, text);
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", prog, rg_last_error());
    lm_model_free(&m);
    wordlm_vocab_free(&v);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    static const rg_command cmds[] = {
        {"train", "train a word-level model (default: the five bundled novels)", wordlm_train_main},
        {"sample", "generate words from a checkpoint", use_model},
        {"eval", "loss and perplexity of a checkpoint on a text", use_model},
        {NULL, NULL, NULL}};
    return rg_main_commands("wordlm", cmds, argc, argv);
}
