/* The cost of curvature on a character language model (examples/lm, the model
 * charlm trains): one gradient (forward, mean cross-entropy, the fast
 * backward) against one Hessian-vector product (rg_hvp: forward, the recorded
 * backward with create_graph, one sweep back through both) and one
 * Gauss-Newton-vector product (rg_gnvp, the loss on the logits), on the same
 * batch of random windows, median of --reps runs each, in CPU seconds of the
 * process (steadier than the wall clock on a shared machine; with one BLAS
 * thread they are the same on an idle one).  Also, for the breakdown: the
 * recorded backward alone (rg_autograd without, then with create_graph).
 *
 *   bench_hvp --config medium --threads 1 --reps 7
 *
 * prints a table and `RESULT {json}` with the milliseconds and the ratios to
 * one gradient, the arena bytes each used (the products leave their tape
 * reset: for H v the bytes of the same steps taken by hand, its peak, and for
 * both the arena's capacity, which the doubling chunks make up to twice the
 * peak), the CPU's model name, the kernel variant and OpenBLAS's core. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchtext.h"
#include "benchutil.h"
#include "lm.h"

typedef struct config {
    const char *name, *cell;
    int64_t layers, hidden, unroll, batch;
} config;

/* bench/charlm.c's configs (a subset) */
static const config CONFIGS[] = {
    {"small", "lstm", 1, 128, 64, 32},
    {"medium", "lstm", 2, 256, 64, 32},
    {"gru-medium", "gru", 2, 256, 64, 32},
    {"rnn-medium", "rnn_tanh", 2, 256, 64, 32},
};

typedef struct batch {
    const lm_model *m;
    int32_t *in, *tg;
    int64_t T, B;
} batch;

static rg_tensor *logits_of(rg_tape *tp, void *user)
{
    batch *b = user;
    rg_tensor *ids = rg_from_data(tp, RG_I32, RG_DIMS(b->T, b->B), b->in);
    return lm_forward(tp, b->m, ids, NULL, NULL, NULL);
}

static rg_tensor *ce_of(rg_tape *tp, rg_tensor *z, void *user)
{
    batch *b = user;
    rg_tensor *tg = rg_from_data(tp, RG_I32, RG_DIMS(b->T * b->B), b->tg);
    return rg_cross_entropy(tp, z, tg, RG_MEAN);
}

static rg_tensor *loss_of(rg_tape *tp, void *user)
{
    return ce_of(tp, logits_of(tp, user), user);
}

static void cpu_model(char *buf, size_t size)
{
    snprintf(buf, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            char *s = strchr(line, ':') + 2;
            s[strcspn(s, "\n")] = 0;
            snprintf(buf, size, "%s", s);
            break;
        }
    if (f)
        fclose(f);
}

enum { GRAD, RECORDED, CREATE, HVP, GNVP, N_WHAT };
static const char *const WHAT[N_WHAT] = {"gradient", "recorded_backward",
                                         "recorded_create_graph", "hvp", "gnvp"};

/* one run of `what`, in CPU seconds; NAN on error */
static double run_once(int what, rg_tape *tp, batch *b, rg_tensor **v, rg_tensor **out)
{
    const rg_params *P = b->m->P;
    int n = rg_params_count(P);
    rg_tensor **th = out + n; /* room after the outputs */
    rg_params_tensors(P, th, n);
    rg_tape_reset(tp);
    rg_tape_set_private_grads(tp, true); /* as the products do; gradients stay off .grad */
    double t0 = cpu_now();
    int rc = 0;
    if (what == HVP) {
        rc = rg_hvp(tp, P, loss_of, b, v, out, NULL);
    } else if (what == GNVP) {
        rc = rg_gnvp(tp, P, logits_of, ce_of, b, v, out, NULL);
    } else {
        rg_tensor *L = loss_of(tp, b), **g = rg_tape_alloc(tp, (size_t)n * sizeof *g);
        if (what == GRAD)
            rc = L ? rg_backward(tp, L) : -1;
        else
            rc = L && g ? rg_autograd(tp, 1, &L, NULL, n, th, g, what == CREATE) : -1;
    }
    double dt = cpu_now() - t0;
    return rc == 0 ? dt : NAN;
}

/* the arena bytes of an H v: rg_hvp's steps by hand (the loss, its gradient
 * recorded, the fast sweep from <g, v>) on a reset tape, before any reset */
static size_t hvp_bytes(rg_tape *tp, batch *b, rg_tensor **v, rg_tensor **th)
{
    int n = rg_params_count(b->m->P);
    rg_params_tensors(b->m->P, th, n);
    rg_tape_reset(tp);
    rg_tape_set_private_grads(tp, true);
    rg_tensor *L = loss_of(tp, b), **g = rg_tape_alloc(tp, (size_t)n * sizeof *g), *s = NULL;
    if (!L || !g || rg_autograd(tp, 1, &L, NULL, n, th, g, true) != 0)
        return 0;
    for (int i = 0; i < n; ++i) {
        rg_tensor *d = rg_sum(tp, rg_mul(tp, g[i], v[i]));
        s = s ? rg_add(tp, s, d) : d;
    }
    size_t bytes = s && rg_backward(tp, s) == 0 ? rg_tape_arena_bytes(tp) : 0;
    rg_tape_reset(tp);
    rg_tape_set_private_grads(tp, false);
    return bytes;
}

static int bench(const config *c, const char *text, int reps, int threads, const char *only)
{
    int64_t n_ids, V;
    int32_t *ids = encode_bytes(text, &n_ids, &V);
    if (!ids)
        return -1;
    rg_set_threads(threads);
    rg_rng rng;
    rg_rng_seed(&rng, 0);
    lm_model m;
    if (lm_model_init(&m, rg_cell_type_find(c->cell), V, c->hidden, c->hidden, (int)c->layers,
                      0.0, RG_F32, &rng) != 0) {
        free(ids);
        return -1;
    }
    batch b = {&m, malloc((size_t)(c->unroll * c->batch) * sizeof(int32_t)),
               malloc((size_t)(c->unroll * c->batch) * sizeof(int32_t)), c->unroll, c->batch};
    for (int64_t j = 0; b.in && b.tg && j < c->batch; ++j) { /* windows of T+1 bytes */
        int64_t s = rg_rng_below(&rng, n_ids - c->unroll - 1);
        for (int64_t t = 0; t < c->unroll; ++t) {
            b.in[t * c->batch + j] = ids[s + t];
            b.tg[t * c->batch + j] = ids[s + t + 1];
        }
    }
    int n = rg_params_count(m.P);
    rg_tensor **v = calloc(3 * (size_t)n, sizeof *v), **out = v ? v + n : NULL;
    for (int i = 0; v && i < n; ++i) {
        const rg_tensor *p = rg_params_at(m.P, i, NULL);
        v[i] = rg_uniform(NULL, RG_F32, p->rank, p->shape, -1, 1, &rng);
        out[i] = rg_zeros(NULL, RG_F32, p->rank, p->shape);
    }
    double ms[N_WHAT], *t = malloc((size_t)reps * sizeof *t);
    int rc = b.in && b.tg && v && t ? 0 : -1;
    size_t arena[N_WHAT] = {0}, capacity[N_WHAT] = {0};
    for (int w = 0; w < N_WHAT; ++w)
        ms[w] = NAN;
    for (int w = 0; rc == 0 && w < N_WHAT; ++w) {
        if (only && strcmp(only, WHAT[w]) && w != GRAD)
            continue;
        rg_tape *tp = rg_tape_new();
        rc = tp ? 0 : -1;
        for (int r = -1; rc == 0 && r < reps; ++r) { /* one warm-up run */
            double dt = run_once(w, tp, &b, v, out);
            rc = isnan(dt) ? -1 : 0;
            if (r >= 0)
                t[r] = dt;
        }
        ms[w] = rc == 0 ? 1e3 * median(t, reps) : NAN;
        /* bytes since the run's reset; the products leave their tape reset: the
         * capacity of its arena (one chunk at least their peak), and for H v
         * the peak itself from the same steps by hand */
        capacity[w] = rg_tape_arena_capacity(tp);
        arena[w] = w == GNVP  ? capacity[w]
                   : w == HVP ? hvp_bytes(tp, &b, v, out + n)
                              : rg_tape_arena_bytes(tp);
        rg_tape_free(tp);
        if (rc == 0 && w == HVP)
            printf("%-22s %9.2f ms  %5.2fx  arena %7.1f MB (peak; capacity %.1f MB)\n",
                   WHAT[w], ms[w], ms[w] / ms[GRAD], arena[w] / 1e6, capacity[w] / 1e6);
        else if (rc == 0)
            printf("%-22s %9.2f ms  %5.2fx  arena %7.1f MB%s\n", WHAT[w], ms[w],
                   ms[w] / ms[GRAD], arena[w] / 1e6, w == GNVP ? " (capacity)" : "");
    }
    if (rc == 0) {
        char cpu[256];
        cpu_model(cpu, sizeof cpu);
        printf("RESULT {\"config\": \"%s\", \"cell\": \"%s\", \"layers\": %lld, \"hidden\": %lld, "
               "\"unroll\": %lld, \"batch\": %lld, \"vocab\": %lld, \"dtype\": \"f32\", "
               "\"threads\": %d, \"reps\": %d",
               c->name, c->cell, (long long)c->layers, (long long)c->hidden,
               (long long)c->unroll, (long long)c->batch, (long long)V, threads, reps);
        for (int w = 0; w < N_WHAT; ++w)
            printf(", \"%s_ms\": %.3f", WHAT[w], ms[w]);
        for (int w = 0; w < N_WHAT; ++w)
            printf(", \"%s_arena_mb\": %.1f", WHAT[w], arena[w] / 1e6);
        printf(", \"hvp_arena_capacity_mb\": %.1f", capacity[HVP] / 1e6);
        printf(", \"hvp_over_gradient\": %.3f, \"gnvp_over_gradient\": %.3f, "
               "\"cpu\": \"%s\", \"kernels\": \"%s\", \"blas\": \"%s\", "
               "\"blas_core\": \"%s\"}\n",
               ms[HVP] / ms[GRAD], ms[GNVP] / ms[GRAD], cpu, rg_cpu_kernels(), rg_blas_name(),
               rg_blas_core());
    }
    for (int i = 0; v && i < 2 * n; ++i)
        rg_tensor_free(v[i]);
    free(v);
    free(t);
    free(b.in);
    free(b.tg);
    lm_model_free(&m);
    free(ids);
    return rc;
}

int main(int argc, char **argv)
{
    const char *name = "medium", *text = "data/pride_and_prejudice.txt", *only = NULL;
    int64_t reps = 7, threads = 1;
    rg_flag fl[] = {
        {"--config", RG_FLAG_CHOICE, &name, 0, 0, "small|medium|gru-medium|rnn-medium", "model and batch (default medium: LSTM 2x256, batch 32 x unroll 64)", 0, 0, 0},
        {"--reps", RG_FLAG_INT, &reps, 1, 1000, NULL, "timed runs of each (default 7; the median)", 0, 0, 0},
        {"--threads", RG_FLAG_INT, &threads, 1, 1024, NULL, "BLAS threads (default 1)", 0, 0, 0},
        {"--text", RG_FLAG_STRING, &text, 0, 0, NULL, "text the batch is drawn from", 0, 0, 0},
        {"--only", RG_FLAG_CHOICE, &only, 0, 0, "recorded_backward|recorded_create_graph|hvp|gnvp", "time the gradient and this one only (for profiles)", 0, 0, 0},
    };
    int status;
    if (!rg_flags_cli("bench_hvp", "usage: bench_hvp [flags]", fl, 5, argc, argv, 1, &status))
        return status;
    const config *c = NULL;
    for (size_t k = 0; k < sizeof CONFIGS / sizeof CONFIGS[0]; ++k)
        if (!strcmp(CONFIGS[k].name, name))
            c = &CONFIGS[k];
    if (!c || bench(c, text, (int)reps, (int)threads, only) != 0) {
        fprintf(stderr, "bench_hvp: %s\n", rg_last_error());
        return 1;
    }
    return 0;
}
