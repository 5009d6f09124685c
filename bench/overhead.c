/* Tape overhead: what recording an op and running its backward cost when the
 * op itself does almost nothing (scalars), in ns per recorded op, medians over
 * repetitions, one tape reused (rg_tape_reset between repetitions).
 *
 *   (a) chain  x = tanh(x*0.999 + 0.001), 3 recorded ops per iteration,
 *       10^6 ops (float64 and float32), plus the same forward with grad off
 *   (b) the seed's scalar RNN (examples/seed_models.h), T = 100,000 steps,
 *       7 recorded ops per step, one fused cross-entropy over [T,4]
 *
 *   bench_overhead [reps] [chain_ops] [T]      (defaults 11, 1000000, 100000)
 *
 * bench/torch_overhead_ref.py measures the same graphs in PyTorch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "retrograd.h"
#include "benchutil.h"
#include "../examples/seed_models.h"

static double minimum(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; ++i)
        if (v[i] < m) m = v[i];
    return m;
}

typedef struct timing {
    double fwd, bwd, nograd; /* medians, seconds */
    double fwd_min, bwd_min;
    size_t ops;
    double value;
} timing;

static void die(rg_tape *tp, const char *what) {
    fprintf(stderr, "bench_overhead: %s: %s\n", what,
            tp && rg_tape_error(tp) ? rg_tape_error(tp) : rg_last_error());
    exit(1);
}

/* x = tanh(x*0.999 + 0.001), iters times, from x0. */
static rg_tensor *chain(rg_tape *tp, rg_tensor *x0, int64_t iters) {
    rg_tensor *x = x0;
    for (int64_t i = 0; i < iters; ++i) x = rg_tanh(tp, rg_add_scalar(tp, rg_mul_scalar(tp, x, 0.999), 0.001));
    return x;
}

static timing bench_chain(rg_tape *tp, rg_dtype dt, int64_t n_ops, int reps) {
    int64_t iters = n_ops / 3;
    rg_tensor *x0 = rg_scalar(NULL, dt, 0.5);
    if (!x0) die(NULL, "rg_scalar");
    rg_set_requires_grad(x0, true);
    double *f = calloc((size_t)reps, sizeof *f), *b = calloc((size_t)reps, sizeof *b),
           *g = calloc((size_t)reps, sizeof *g);
    timing r = {0};
    for (int k = -1; k < reps; ++k) { /* k = -1: warm-up, grows the arena once */
        rg_tape_reset(tp);
        rg_zero_grad(x0);
        double t0 = now_s();
        rg_tensor *y = chain(tp, x0, iters);
        double t1 = now_s();
        if (!y || rg_backward(tp, y) != 0) die(tp, "chain");
        double t2 = now_s();
        r.ops = rg_tape_entries(tp);
        r.value = rg_grad_get(x0, 0);
        rg_tape_reset(tp);
        rg_tape_set_grad_enabled(tp, false);
        double t3 = now_s();
        if (!chain(tp, x0, iters)) die(tp, "chain (no grad)");
        double t4 = now_s();
        rg_tape_set_grad_enabled(tp, true);
        if (k >= 0) {
            f[k] = t1 - t0;
            b[k] = t2 - t1;
            g[k] = t4 - t3;
        }
    }
    r.fwd_min = minimum(f, reps);
    r.bwd_min = minimum(b, reps);
    r.fwd = median(f, reps);
    r.bwd = median(b, reps);
    r.nograd = median(g, reps);
    free(f);
    free(b);
    free(g);
    rg_tensor_free(x0);
    return r;
}

/* The benchmark's input and target words: a 64-bit LCG, the same numbers as
 * in torch_overhead_ref.py. */
static void words(int32_t *xs, int32_t *ys, int64_t T) {
    uint64_t s = 42;
    for (int64_t t = 0; t < T; ++t) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        xs[t] = (int32_t)((s >> 33) % SEED_V);
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ys[t] = (int32_t)((s >> 33) % SEED_V);
    }
}

static timing bench_rnn(rg_tape *tp, int64_t T, int reps) {
    seed_scalar m;
    if (seed_scalar_init(&m) != 0) die(NULL, "seed_scalar_init");
    int32_t *xs = malloc((size_t)T * sizeof *xs), *ys = malloc((size_t)T * sizeof *ys);
    double *f = calloc((size_t)reps, sizeof *f), *b = calloc((size_t)reps, sizeof *b);
    if (!xs || !ys || !f || !b) die(NULL, "out of memory");
    words(xs, ys, T);
    rg_tensor *p[SEED_NPARAM];
    seed_scalar_params(&m, p);
    timing r = {0};
    for (int k = -1; k < reps; ++k) {
        rg_tape_reset(tp);
        for (int i = 0; i < SEED_NPARAM; ++i) rg_zero_grad(p[i]);
        double t0 = now_s();
        rg_tensor *loss = seed_scalar_loss(tp, &m, xs, ys, T, NULL, NULL);
        double t1 = now_s();
        if (!loss || rg_backward(tp, loss) != 0) die(tp, "rnn");
        double t2 = now_s();
        r.ops = rg_tape_entries(tp);
        r.value = rg_get(loss, 0);
        if (k >= 0) {
            f[k] = t1 - t0;
            b[k] = t2 - t1;
        }
    }
    r.fwd_min = minimum(f, reps);
    r.bwd_min = minimum(b, reps);
    r.fwd = median(f, reps);
    r.bwd = median(b, reps);
    free(f);
    free(b);
    free(xs);
    free(ys);
    seed_scalar_free(&m);
    return r;
}

static void report(const char *name, const timing *r, bool nograd) {
    double n = (double)r->ops;
    printf("%-34s %9zu ops  fwd+record %7.1f  backward %7.1f  total %7.1f ns/op (median)",
           name, r->ops, 1e9 * r->fwd / n, 1e9 * r->bwd / n, 1e9 * (r->fwd + r->bwd) / n);
    if (nograd) printf("  no-grad fwd %6.1f", 1e9 * r->nograd / n);
    printf("\n%-34s %9s      best: fwd %7.1f  backward %7.1f ns/op\n", "", "",
           1e9 * r->fwd_min / n, 1e9 * r->bwd_min / n);
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 11;
    int64_t n_ops = argc > 2 ? atoll(argv[2]) : 1000000;
    int64_t T = argc > 3 ? atoll(argv[3]) : 100000;
    if (reps < 1 || n_ops < 3 || T < 1) {
        fprintf(stderr, "usage: bench_overhead [reps] [chain_ops] [T]\n");
        return 2;
    }
    rg_set_threads(1);
    rg_tape *tp = rg_tape_new();
    if (!tp) die(NULL, "rg_tape_new");
    printf("retrograd tape overhead, %d repetitions after 1 warm-up, BLAS %s, 1 thread\n",
           reps, rg_blas_name());

    timing c64 = bench_chain(tp, RG_F64, n_ops, reps);
    report("(a) chain tanh(x*0.999+0.001) f64", &c64, true);
    timing c32 = bench_chain(tp, RG_F32, n_ops, reps);
    report("(a) chain tanh(x*0.999+0.001) f32", &c32, true);
    timing rnn = bench_rnn(tp, T, reps);
    char name[64];
    snprintf(name, sizeof name, "(b) scalar RNN T=%lld f64", (long long)T);
    report(name, &rnn, false);
    printf("%-34s %9s      %.3f us/step fwd+bwd (median), loss %.6f, "
           "arena %.1f MiB\n",
           "", "", 1e6 * (rnn.fwd + rnn.bwd) / (double)T, rnn.value,
           (double)rg_tape_arena_capacity(tp) / (1 << 20));
    printf("chain check: d x_final / d x0 = %.6g (f64)\n", c64.value);

    /* One machine-readable line per measurement for run_overhead.sh. */
    printf("RESULT chain_f64 %.2f %.2f\n", 1e9 * c64.fwd / (double)c64.ops,
           1e9 * c64.bwd / (double)c64.ops);
    printf("RESULT chain_f32 %.2f %.2f\n", 1e9 * c32.fwd / (double)c32.ops,
           1e9 * c32.bwd / (double)c32.ops);
    printf("RESULT rnn_f64 %.2f %.2f %.4f\n", 1e9 * rnn.fwd / (double)rnn.ops,
           1e9 * rnn.bwd / (double)rnn.ops, 1e6 * (rnn.fwd + rnn.bwd) / (double)T);
    rg_tape_free(tp);
    return 0;
}
