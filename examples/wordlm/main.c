/* wordlm: a word-level LSTM language model on the bundled Austen novels.
 *   wordlm train   [--text FILE]... [--vocab-size N] [--cell C] [--layers N] [--hidden N]
 *                  [--embed N] [--unroll T] [--batch B] [--steps N] [--lr X] [--clip X]
 *                  [--seed S] [--threads N] [--save FILE]
 *   wordlm sample  --model FILE [--prime WORDS] [--length N] [--temperature T] [--seed S]
 *   wordlm eval    --model FILE --text FILE
 * Training holds out the last 10% of the tokens (half validation, half test) and
 * reports both perplexities (state carried through each part from the zero
 * state, mean nats per predicted token). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wordlm.h"

#ifndef CHARLM_SOURCE_DIR
#define CHARLM_SOURCE_DIR "."
#endif

static const char *novels[] = {"emma.txt", "mansfield_park.txt", "northanger_abbey.txt",
                               "pride_and_prejudice.txt", "sense_and_sensibility.txt"};

typedef struct model {
    const rg_cell_type *cell;
    int64_t V, E, H;
    int L;
    wordlm_vocab vocab;
    rg_params *P;
    rg_embedding_layer embed;
    rg_seq *rnn;
    rg_linear_layer head;
} model;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int model_init(model *m, const rg_cell_type *cell, int64_t E, int64_t H, int L,
                      rg_rng *rng)
{
    m->cell = cell;
    m->V = m->vocab.n;
    m->E = E;
    m->H = H;
    m->L = L;
    m->P = rg_params_new();
    rg_seq_config sc = {.cell = cell, .input_size = E, .hidden_size = H, .num_layers = L,
                        .dtype = RG_F32};
    if (!m->P || rg_embedding_layer_init(&m->embed, m->P, "embed", m->V, E, RG_F32, rng) != 0 ||
        !(m->rnn = rg_seq_new(m->P, "rnn", &sc, rng)) ||
        rg_linear_layer_init(&m->head, m->P, "head", H, m->V, true, RG_F32, rng) != 0)
        return -1;
    return 0;
}

static void model_free(model *m)
{
    rg_seq_free(m->rnn);
    rg_params_free(m->P);
    wordlm_vocab_free(&m->vocab);
    memset(m, 0, sizeof *m);
}

static rg_tensor *forward(rg_tape *tp, const model *m, rg_tensor *ids, rg_tensor *const *init,
                          rg_tensor **final)
{
    int64_t T = ids->shape[0], B = ids->shape[1];
    rg_tensor *h = rg_seq_forward(tp, m->rnn, rg_embedding_layer_forward(tp, &m->embed, ids),
                                  NULL, init, final, NULL);
    return rg_linear_layer_forward(tp, &m->head, h ? rg_reshape(tp, h, RG_DIMS(T * B, m->H)) : NULL);
}

static int model_save(const model *m, const char *path)
{
    char *vs = wordlm_vocab_format(&m->vocab);
    const char *meta[] = {"cell", m->cell->name, "vocab", vs, "tokenizer",
                          "wordlm-1 (lower-cased alnum runs, punctuation, <eol>, <unk>)", NULL};
    int rc = vs ? rg_checkpoint_save_params(m->P, path, meta) : -1;
    free(vs);
    return rc;
}

static int model_load(model *m, const char *path)
{
    memset(m, 0, sizeof *m);
    rg_safetensors *st = rg_safetensors_read(path);
    if (!st)
        return -1;
    int rc = -1;
    const char *cn = rg_safetensors_get_meta(st, "cell");
    const rg_cell_type *cell = cn ? rg_cell_type_find(cn) : NULL;
    const rg_tensor *emb = rg_safetensors_get(st, "embed.weight");
    const rg_tensor *whh = rg_safetensors_get(st, "rnn.weight_hh_l0");
    int L = 0;
    char name[64];
    for (;; L++) {
        snprintf(name, sizeof name, "rnn.weight_ih_l%d", L);
        if (!rg_safetensors_get(st, name))
            break;
    }
    if (!cell || !emb || emb->rank != 2 || !whh || whh->rank != 2 || L < 1) {
        rg_set_error("%s: not a wordlm checkpoint (cell, embed.weight or rnn weights missing)",
                     path);
        goto out;
    }
    if (wordlm_vocab_parse(&m->vocab, rg_safetensors_get_meta(st, "vocab")) != 0 ||
        m->vocab.n != emb->shape[0]) {
        rg_set_error("%s: metadata 'vocab' is missing, malformed or does not match "
                     "embed.weight", path);
        goto out;
    }
    if (model_init(m, cell, emb->shape[1], whh->shape[1], L, NULL) != 0 ||
        rg_checkpoint_load_params_from(m->P, st, path, true) != 0)
        goto out;
    rc = 0;
out:
    rg_safetensors_free(st);
    if (rc != 0)
        model_free(m);
    return rc;
}

/* mean -ln p over ids[1..n) with the state carried from the zero state */
static double eval_ids(const model *m, const int32_t *ids, int64_t n)
{
    enum { CHUNK = 128 };
    int ns = m->cell->n_state;
    rg_tensor *st[RG_CELL_MAX_STATE] = {0};
    for (int j = 0; j < ns; j++)
        st[j] = rg_zeros(NULL, RG_F32, RG_DIMS(m->L, 1, m->H));
    rg_tape *tp = rg_tape_new();
    rg_tape_set_grad_enabled(tp, false);
    double sum = 0;
    for (int64_t at = 0; at < n - 1; at += CHUNK) {
        int64_t T = n - 1 - at < CHUNK ? n - 1 - at : CHUNK;
        rg_tape_reset(tp);
        rg_tensor *fin[RG_CELL_MAX_STATE] = {0};
        rg_tensor *lg = forward(tp, m, rg_from_data(tp, RG_I32, RG_DIMS(T, 1), ids + at), st, fin);
        rg_tensor *loss = rg_cross_entropy(tp, lg, rg_from_data(tp, RG_I32, RG_DIMS(T), ids + at + 1),
                                           RG_SUM);
        if (!loss) {
            sum = NAN;
            break;
        }
        sum += rg_get(loss, 0);
        for (int j = 0; j < ns; j++)
            rg_tensor_copy(st[j], fin[j]);
    }
    for (int j = 0; j < ns; j++)
        rg_tensor_free(st[j]);
    rg_tape_free(tp);
    return n > 1 ? sum / (double)(n - 1) : NAN;
}

static char *read_all(const char *path, int64_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = sz >= 0 ? malloc((size_t)sz + 2) : NULL;
    if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[sz] = '\n';
        buf[sz + 1] = '\0';
        *n = sz + 1;
    }
    return buf;
}

static const char *data_path(const char *name, char *buf, size_t n)
{
    struct stat st;
    snprintf(buf, n, "data/%s", name);
    if (stat(buf, &st) != 0)
        snprintf(buf, n, "%s/data/%s", CHARLM_SOURCE_DIR, name);
    return buf;
}

/* flag parsing: "--name value"; returns the value or NULL */
static const char *opt(int argc, char **argv, int *i, const char *name)
{
    if (strcmp(argv[*i], name))
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "wordlm: %s needs a value\n", name);
        exit(2);
    }
    return argv[++*i];
}

static double num(const char *flag, const char *s, double lo, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "wordlm: %s '%s' is not a number in [%g, %g]\n", flag, s, lo, hi);
        exit(2);
    }
    return v;
}

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

static int sample(const model *m, const char *prime, int64_t length, double temp, uint64_t seed)
{
    rg_rng rng;
    rg_rng_seed(&rng, seed);
    char **tok, *store;
    int64_t nt;
    if (wordlm_tokenize(prime, (int64_t)strlen(prime), &tok, &nt, &store) != 0)
        return -1;
    int32_t *ids = malloc((size_t)(nt + 1) * sizeof *ids);
    double *p = malloc((size_t)m->V * sizeof *p);
    int64_t n_in = 0;
    for (int64_t i = 0; i < nt; i++)
        ids[n_in++] = wordlm_vocab_index(&m->vocab, tok[i]);
    if (n_in == 0)
        ids[n_in++] = WORDLM_EOL;
    for (int64_t i = 0; i < nt; i++)
        printf("%s%s", strcmp(tok[i], "<eol>") ? tok[i] : "\n", " ");
    int ns = m->cell->n_state;
    rg_tensor *st[RG_CELL_MAX_STATE] = {0};
    for (int j = 0; j < ns; j++)
        st[j] = rg_zeros(NULL, RG_F32, RG_DIMS(m->L, 1, m->H));
    rg_tape *tp = rg_tape_new();
    rg_tape_set_grad_enabled(tp, false);
    for (int64_t k = 0; k < length; k++) {
        rg_tape_reset(tp);
        rg_tensor *fin[RG_CELL_MAX_STATE] = {0};
        rg_tensor *lg = forward(tp, m, rg_from_data(tp, RG_I32, RG_DIMS(n_in, 1), ids), st, fin);
        if (!lg)
            break;
        for (int j = 0; j < ns; j++)
            rg_tensor_copy(st[j], fin[j]);
        int w = draw((const float *)lg->data + (n_in - 1) * m->V, m->V, temp, &rng, p);
        if (w == WORDLM_EOL)
            printf("\n");
        else
            printf("%s ", m->vocab.word[w]);
        ids[0] = w;
        n_in = 1;
    }
    printf("\n");
    for (int j = 0; j < ns; j++)
        rg_tensor_free(st[j]);
    rg_tape_free(tp);
    free(ids);
    free(p);
    free(tok);
    free(store);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wordlm train [--text FILE]... [--vocab-size N] [--cell lstm|gru|rnn_tanh|rnn_relu]\n"
            "                    [--layers N] [--hidden N] [--embed N] [--unroll T] [--batch B]\n"
            "                    [--steps N] [--lr X] [--clip X] [--seed S] [--threads N]\n"
            "                    [--save FILE]\n"
            "       wordlm sample --model FILE [--prime WORDS] [--length N] [--temperature T] [--seed S]\n"
            "       wordlm eval --model FILE --text FILE\n"
            "defaults: the five bundled Austen novels, vocabulary 5000, lstm 1x256, embed 128,\n"
            "unroll 32, batch 32, 1200 steps, Adam lr 2e-3, clip 5, save wordlm.safetensors\n");
}

static int train_main(int argc, char **argv)
{
    const char *texts[16];
    int n_texts = 0;
    const char *save = "wordlm.safetensors", *cell_name = "lstm", *v;
    int64_t vocab_size = 5000, layers = 1, hidden = 256, embed = 128, T = 32, B = 32;
    int64_t steps = 1200, seed = 1, threads = sysconf(_SC_NPROCESSORS_ONLN);
    double lr = 2e-3, clip = 5;
    for (int i = 2; i < argc; i++) {
        if ((v = opt(argc, argv, &i, "--text"))) {
            if (n_texts == 16) {
                fprintf(stderr, "wordlm: at most 16 --text files\n");
                return 2;
            }
            texts[n_texts++] = v;
        } else if ((v = opt(argc, argv, &i, "--vocab-size")))
            vocab_size = (int64_t)num("--vocab-size", v, 3, 1e6);
        else if ((v = opt(argc, argv, &i, "--cell")))
            cell_name = v;
        else if ((v = opt(argc, argv, &i, "--layers")))
            layers = (int64_t)num("--layers", v, 1, 16);
        else if ((v = opt(argc, argv, &i, "--hidden")))
            hidden = (int64_t)num("--hidden", v, 1, 8192);
        else if ((v = opt(argc, argv, &i, "--embed")))
            embed = (int64_t)num("--embed", v, 1, 8192);
        else if ((v = opt(argc, argv, &i, "--unroll")))
            T = (int64_t)num("--unroll", v, 1, 10000);
        else if ((v = opt(argc, argv, &i, "--batch")))
            B = (int64_t)num("--batch", v, 1, 10000);
        else if ((v = opt(argc, argv, &i, "--steps")))
            steps = (int64_t)num("--steps", v, 0, 1e12);
        else if ((v = opt(argc, argv, &i, "--lr")))
            lr = num("--lr", v, 0, 1e6);
        else if ((v = opt(argc, argv, &i, "--clip")))
            clip = num("--clip", v, 0, 1e300);
        else if ((v = opt(argc, argv, &i, "--seed")))
            seed = (int64_t)num("--seed", v, 0, 9e18);
        else if ((v = opt(argc, argv, &i, "--threads")))
            threads = (int64_t)num("--threads", v, 1, 1024);
        else if ((v = opt(argc, argv, &i, "--save")))
            save = v;
        else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "wordlm train: unknown flag '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    const rg_cell_type *cell = rg_cell_type_find(cell_name);
    if (!cell) {
        fprintf(stderr, "wordlm train: --cell '%s' is not one of lstm, gru, rnn_tanh, rnn_relu\n",
                cell_name);
        return 2;
    }
    rg_set_threads((int)(threads > 8 ? 8 : threads));
    char paths[5][4096];
    if (n_texts == 0)
        for (int i = 0; i < 5; i++)
            texts[n_texts++] = data_path(novels[i], paths[i], sizeof paths[i]);

    /* corpus: the texts one after another, tokenized; the last 10% held out */
    char *all = NULL;
    int64_t n_all = 0;
    for (int i = 0; i < n_texts; i++) {
        int64_t n;
        char *t = read_all(texts[i], &n);
        char *grown = t ? realloc(all, (size_t)(n_all + n + 1)) : NULL;
        if (!grown) {
            fprintf(stderr, "wordlm train: cannot read '%s'\n", texts[i]);
            free(t);
            free(all);
            return 1;
        }
        all = grown;
        memcpy(all + n_all, t, (size_t)n);
        n_all += n;
        all[n_all] = '\0';
        free(t);
    }
    char **tok, *store;
    int64_t nt;
    if (wordlm_tokenize(all, n_all, &tok, &nt, &store) != 0) {
        fprintf(stderr, "wordlm train: out of memory\n");
        free(all);
        return 1;
    }
    free(all);
    int64_t n_held = nt / 10, n_train = nt - n_held, n_val = n_held / 2;
    int64_t n_test = n_held - n_val;
    if (n_train < T + 1 || n_val < 2 || n_test < 2) {
        fprintf(stderr, "wordlm train: %lld tokens are too few for --unroll %lld\n",
                (long long)nt, (long long)T);
        free(tok);
        free(store);
        return 1;
    }
    model m;
    memset(&m, 0, sizeof m);
    rg_rng rng;
    rg_rng_seed(&rng, (uint64_t)seed);
    int32_t *ids = malloc((size_t)nt * sizeof *ids);
    if (!ids || wordlm_vocab_build(&m.vocab, tok, n_train, (int)vocab_size) != 0 ||
        model_init(&m, cell, embed, hidden, (int)layers, &rng) != 0) {
        fprintf(stderr, "wordlm train: %s\n", rg_last_error());
        return 1;
    }
    int64_t unk = 0;
    for (int64_t i = 0; i < nt; i++) {
        ids[i] = wordlm_vocab_index(&m.vocab, tok[i]);
        unk += i < n_train && ids[i] == WORDLM_UNK;
    }
    free(tok);
    free(store);
    printf("wordlm train: %lld tokens (%lld train, %lld validation, %lld test), vocabulary %lld "
           "(%.1f%% of training tokens are <unk>), %s %lldx%lld, embed %lld, %lld parameters\n",
           (long long)nt, (long long)n_train, (long long)n_val, (long long)n_test,
           (long long)m.V, 100.0 * (double)unk / (double)n_train, cell->name, (long long)layers,
           (long long)hidden, (long long)embed, (long long)rg_params_numel(m.P));
    fflush(stdout);

    rg_optim_config oc = rg_optim_defaults(RG_ADAM, lr);
    rg_optim *op = rg_optim_new(m.P, &oc);
    rg_tape *tp = rg_tape_new();
    int32_t *in = malloc((size_t)(T * B) * sizeof *in), *tg = malloc((size_t)(T * B) * sizeof *tg);
    if (!op || !tp || !in || !tg) {
        fprintf(stderr, "wordlm train: %s\n", rg_last_error());
        return 1;
    }
    double t0 = now_s(), train_s = 0, sum = 0;
    int64_t sum_n = 0, every = steps >= 10 ? steps / 10 : 1;
    int status = 0;
    for (int64_t s = 1; s <= steps; s++) {
        double ts = now_s();
        for (int64_t b = 0; b < B; b++) {
            int64_t start = rg_rng_below(&rng, n_train - T);
            for (int64_t t = 0; t < T; t++) {
                in[t * B + b] = ids[start + t];
                tg[t * B + b] = ids[start + t + 1];
            }
        }
        rg_tape_reset(tp);
        rg_tensor *lg = forward(tp, &m, rg_from_data(tp, RG_I32, RG_DIMS(T, B), in), NULL, NULL);
        rg_tensor *loss = rg_cross_entropy(tp, lg, rg_from_data(tp, RG_I32, RG_DIMS(T * B), tg),
                                           RG_MEAN);
        double lv = loss ? rg_get(loss, 0) : NAN;
        if (!isfinite(lv)) {
            fprintf(stderr, "wordlm train: the loss is not finite at step %lld (%s)\n",
                    (long long)s, loss ? "training diverged; lower --lr" : rg_tape_error(tp));
            status = 1;
            break;
        }
        rg_optim_zero_grad(op);
        if (rg_backward(tp, loss) != 0 ||
            (clip > 0 && !isfinite(rg_clip_grad_norm(m.P, clip))) || rg_optim_step(op) != 0) {
            fprintf(stderr, "wordlm train: step %lld failed: %s\n", (long long)s,
                    rg_tape_error(tp) ? rg_tape_error(tp) : rg_last_error());
            status = 1;
            break;
        }
        train_s += now_s() - ts;
        sum += lv;
        sum_n++;
        if (s % every == 0 || s == steps) {
            printf("step %lld/%lld  loss %.4f  ppl %.1f  %.0f tokens/s  %.0fs\n", (long long)s,
                   (long long)steps, sum / (double)sum_n, exp(sum / (double)sum_n),
                   (double)(B * T * s) / train_s, now_s() - t0);
            fflush(stdout);
            sum = 0;
            sum_n = 0;
        }
    }
    if (status == 0) {
        double val = eval_ids(&m, ids + n_train, n_val);
        double test = eval_ids(&m, ids + n_train + n_val, n_test);
        if (model_save(&m, save) != 0) {
            fprintf(stderr, "wordlm train: %s\n", rg_last_error());
            status = 1;
        } else {
            printf("sample: ");
            sample(&m, "it is", 40, 0.8, (uint64_t)seed);
            printf("wordlm: steps=%lld val_ppl=%.3f test_ppl=%.3f tokens_per_s=%.0f saved=%s\n",
                   (long long)steps, exp(val), exp(test), (double)(B * T * steps) / train_s,
                   save);
        }
    }
    free(in);
    free(tg);
    free(ids);
    rg_tape_free(tp);
    rg_optim_free(op);
    model_free(&m);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "train"))
        return train_main(argc, argv);
    if (!strcmp(argv[1], "--help")) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "sample") && strcmp(argv[1], "eval")) {
        fprintf(stderr, "wordlm: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    const char *path = NULL, *prime = "it is", *text = NULL, *v;
    int64_t length = 100, seed = 1;
    double temp = 0.8;
    for (int i = 2; i < argc; i++) {
        if ((v = opt(argc, argv, &i, "--model")))
            path = v;
        else if ((v = opt(argc, argv, &i, "--prime")))
            prime = v;
        else if ((v = opt(argc, argv, &i, "--text")))
            text = v;
        else if ((v = opt(argc, argv, &i, "--length")))
            length = (int64_t)num("--length", v, 0, 1e9);
        else if ((v = opt(argc, argv, &i, "--temperature")))
            temp = num("--temperature", v, 1e-3, 100);
        else if ((v = opt(argc, argv, &i, "--seed")))
            seed = (int64_t)num("--seed", v, 0, 9e18);
        else {
            fprintf(stderr, "wordlm %s: unknown flag '%s'\n", argv[1], argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "wordlm %s: --model FILE is required\n", argv[1]);
        return 2;
    }
    model m;
    if (model_load(&m, path) != 0) {
        fprintf(stderr, "wordlm %s: %s\n", argv[1], rg_last_error());
        return 1;
    }
    int status = 0;
    if (!strcmp(argv[1], "sample")) {
        status = sample(&m, prime, length, temp, (uint64_t)seed) ? 1 : 0;
    } else {
        int64_t n = 0, nt;
        char *t = text ? read_all(text, &n) : NULL, **tok = NULL, *store = NULL;
        if (!t || wordlm_tokenize(t, n, &tok, &nt, &store) != 0 || nt < 2) {
            fprintf(stderr, "wordlm eval: --text FILE is required and must be readable, with "
                    "at least 2 tokens\n");
            status = 1;
        } else {
            int32_t *ids = malloc((size_t)nt * sizeof *ids);
            int64_t unk = 0;
            for (int64_t i = 0; i < nt; i++)
                unk += (ids[i] = wordlm_vocab_index(&m.vocab, tok[i])) == WORDLM_UNK;
            double loss = eval_ids(&m, ids, nt);
            printf("eval: tokens=%lld unk=%lld loss=%.6f ppl=%.6f\n", (long long)(nt - 1),
                   (long long)unk, loss, exp(loss));
            free(ids);
        }
        free(t);
        free(tok);
        free(store);
    }
    model_free(&m);
    return status;
}
