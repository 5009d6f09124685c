/* Training throughput of a character LSTM/GRU/RNN language model, the configs
 * of the performance issue, measured like ../shared/bench/torch_charlm.py does
 * for PyTorch: Embedding(V,H) -> recurrent stack -> Linear(H,V) -> mean
 * cross-entropy; Adam lr 2e-3; clip by global norm 5; batch of random windows
 * of unroll+1 bytes from the zero state; float32.
 *
 *   bench_charlm --config small --threads 1 --seconds 10 --text data/pride_and_prejudice.txt
 *
 * prints `RESULT {json}` with chars_per_s, ms_per_step, peak_rss_mb and the
 * arena bytes per time step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "retrograd.h"

typedef struct config {
    const char *name, *cell;
    int layers, hidden, unroll, batch;
} config;

static const config CONFIGS[] = {
    {"tiny", "lstm", 1, 64, 25, 1},         {"small", "lstm", 1, 128, 64, 32},
    {"medium", "lstm", 2, 256, 64, 32},     {"large", "lstm", 1, 512, 64, 64},
    {"gru-medium", "gru", 2, 256, 64, 32},  {"rnn-medium", "rnn_tanh", 2, 256, 64, 32},
    {"long", "lstm", 1, 256, 10000, 16},
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

typedef struct model {
    rg_params *P;
    rg_embedding_layer emb;
    rg_seq *rnn;
    rg_linear_layer head;
    rg_optim *opt;
    int V, T, B, H;
} model;

static int die(const char *what) {
    fprintf(stderr, "bench_charlm: %s: %s\n", what, rg_last_error());
    exit(1);
}

/* One shard of a step: windows starts[b0..b1) on tape tp; the loss is the sum
 * of the shard's cross-entropies over B*T, so the shards' gradients add up to
 * the gradient of the mean over the whole batch. */
typedef struct step_ctx {
    model *m;
    rg_tape **tp;
    const uint8_t *ids;
    const int64_t *starts;
    int shards;
    double loss[16];
    const char *err[16];
} step_ctx;

static void shard(int k, void *user) {
    step_ctx *c = user;
    model *m = c->m;
    int T = m->T, b0 = m->B * k / c->shards, b1 = m->B * (k + 1) / c->shards, Bk = b1 - b0;
    rg_tape *tp = c->tp[k];
    rg_tape_reset(tp);
    c->err[k] = NULL;
    rg_tensor *x = rg_tensor_new(tp, RG_I32, RG_DIMS(T, Bk));
    rg_tensor *y = rg_tensor_new(tp, RG_I32, RG_DIMS(T * Bk));
    if (!x || !y) {
        c->err[k] = rg_tape_error(tp);
        return;
    }
    int32_t *xi = x->data, *yi = y->data;
    for (int t = 0; t < T; ++t)
        for (int b = 0; b < Bk; ++b) {
            xi[t * Bk + b] = c->ids[c->starts[b0 + b] + t];
            yi[t * Bk + b] = c->ids[c->starts[b0 + b] + t + 1];
        }
    rg_tensor *h = rg_seq_forward_ids(tp, m->rnn, m->emb.weight, x, NULL, NULL, NULL, NULL);
    rg_tensor *logits = rg_linear_layer_forward(tp, &m->head, h);
    rg_tensor *ce = rg_cross_entropy(tp, rg_reshape(tp, logits, RG_DIMS(T * Bk, m->V)), y, RG_SUM);
    rg_tensor *loss = rg_mul_scalar(tp, ce, 1.0 / ((double)m->B * T));
    if (!loss || rg_backward(tp, loss) != 0) {
        c->err[k] = rg_tape_error(tp);
        return;
    }
    c->loss[k] = rg_get(loss, 0);
}

/* One training step (forward, backward, clip, Adam); returns the mean loss. */
static double step(step_ctx *c) {
    if (rg_parallel_run(c->shards, shard, c) != 0) die("threads");
    double loss = 0;
    for (int k = 0; k < c->shards; ++k) {
        if (c->err[k]) {
            fprintf(stderr, "bench_charlm: %s\n", c->err[k]);
            exit(1);
        }
        if (k > 0 && rg_tape_reduce_grads(c->tp[k]) != 0) die("reduce");
        loss += c->loss[k];
    }
    rg_clip_grad_norm(c->m->P, 5.0);
    rg_optim_step(c->m->opt);
    rg_params_zero_grad(c->m->P);
    return loss;
}

int main(int argc, char **argv) {
    const char *cname = "small", *text = "data/pride_and_prejudice.txt", *mode = "data";
    int threads = 1;
    double seconds = 10;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) cname = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--text") && i + 1 < argc) text = argv[++i];
        else if (!strcmp(argv[i], "--parallel") && i + 1 < argc) mode = argv[++i];
        else {
            fprintf(stderr, "usage: bench_charlm [--config NAME] [--threads N] [--seconds S] "
                            "[--text FILE] [--parallel data|blas]\n");
            return 2;
        }
    }
    const config *c = NULL;
    for (size_t k = 0; k < sizeof CONFIGS / sizeof CONFIGS[0]; ++k)
        if (!strcmp(CONFIGS[k].name, cname)) c = &CONFIGS[k];
    if (!c) {
        fprintf(stderr, "bench_charlm: unknown config '%s'\n", cname);
        return 2;
    }
    FILE *f = fopen(text, "rb");
    if (!f) {
        fprintf(stderr, "bench_charlm: cannot open %s\n", text);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *raw = malloc((size_t)n);
    if (!raw || fread(raw, 1, (size_t)n, f) != (size_t)n) return die("read");
    fclose(f);
    int map[256], V = 0;
    bool seen[256] = {0};
    for (long i = 0; i < n; ++i) seen[raw[i]] = true;
    for (int b = 0; b < 256; ++b) map[b] = seen[b] ? V++ : -1;
    for (long i = 0; i < n; ++i) raw[i] = (uint8_t)map[raw[i]];

    /* Threads: "data" runs the batch as one shard per thread (one tape each,
     * private gradients, single-threaded BLAS); "blas" leaves the threads to
     * OpenBLAS inside each product. */
    bool data_parallel = !strcmp(mode, "data") && threads > 1;
    if (strcmp(mode, "data") && strcmp(mode, "blas")) {
        fprintf(stderr, "bench_charlm: --parallel must be data or blas\n");
        return 2;
    }
    rg_set_threads(data_parallel ? 1 : threads);
    model m = {.V = V, .T = c->unroll, .B = c->batch, .H = c->hidden};
    rg_rng rng;
    rg_rng_seed(&rng, 0);
    m.P = rg_params_new();
    if (rg_embedding_layer_init(&m.emb, m.P, "embed", V, c->hidden, RG_F32, &rng) < 0) die("embed");
    rg_seq_config sc = {rg_cell_type_find(c->cell), c->hidden, c->hidden, c->layers, false, 0.0, RG_F32};
    m.rnn = rg_seq_new(m.P, "rnn", &sc, &rng);
    if (!m.rnn) die("rnn");
    if (rg_linear_layer_init(&m.head, m.P, "head", c->hidden, V, true, RG_F32, &rng) < 0) die("head");
    rg_optim_config oc = rg_optim_defaults(RG_ADAM, 2e-3);
    m.opt = rg_optim_new(m.P, &oc);
    if (!m.opt) die("optim");

    int shards = data_parallel ? (threads < c->batch ? threads : c->batch) : 1;
    if (shards > 16) shards = 16;
    rg_tape *tapes[16];
    for (int k = 0; k < shards; ++k) {
        tapes[k] = rg_tape_new();
        /* shard 0 writes the parameters' own gradients; the others keep
         * private ones, added in after the join */
        if (k > 0) rg_tape_set_private_grads(tapes[k], true);
    }
    rg_tape *tp = tapes[0];
    int64_t starts[256];
    step_ctx ctx = {.m = &m, .tp = tapes, .ids = raw, .starts = starts, .shards = shards};
    rg_rng data_rng;
    rg_rng_seed(&data_rng, 1);
    double loss = 0;
#define DRAW()                                                                        \
    for (int b = 0; b < m.B; ++b) starts[b] = rg_rng_below(&data_rng, n - m.T - 1)
    int warm = c->unroll > 1000 ? 1 : 5;
    for (int i = 0; i < warm; ++i) {
        DRAW();
        loss = step(&ctx);
    }
    double t0 = now();
    int calib = 0;
    while (now() - t0 < 1.0 || calib < 2) {
        DRAW();
        loss = step(&ctx);
        ++calib;
    }
    double per = (now() - t0) / calib;
    int N = (int)ceil(seconds / per);
    if (N < 3) N = 3;
    t0 = now();
    for (int i = 0; i < N; ++i) {
        DRAW();
        loss = step(&ctx);
    }
    double dt = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("RESULT {\"config\": \"%s\", \"threads\": %d, \"steps\": %d, \"seconds\": %.3f, "
           "\"ms_per_step\": %.3f, \"chars_per_s\": %.1f, \"peak_rss_mb\": %.1f, "
           "\"arena_bytes_per_timestep\": %.0f, \"tape_entries\": %zu, \"last_loss\": %.4f, "
           "\"blas\": \"%s\", \"parallel\": \"%s\", \"shards\": %d}\n",
           c->name, threads, N, dt, 1e3 * dt / N, (double)m.B * m.T * N / dt,
           ru.ru_maxrss / 1024.0, (double)rg_tape_arena_bytes(tp) / m.T,
           rg_tape_entries(tp), loss, rg_blas_name(), data_parallel ? "data" : "blas", shards);
    for (int k = 0; k < shards; ++k) rg_tape_free(tapes[k]);
    rg_optim_free(m.opt);
    rg_seq_free(m.rnn);
    rg_params_free(m.P);
    free(raw);
    return 0;
}
