/* Matrix-product throughput, float32, square n x n: rg_matmul through the tape
 * (inputs requiring gradients, so the entry is recorded; forward alone, and
 * forward + backward), next to a raw cblas_sgemm call and the built-in kernel
 * (rg_gemm_builtin_f32), at 1 and 2 threads (rg_set_threads).  GFLOP/s from
 * the median time of 7 batches, each batch long enough (>= 20 ms) to time.
 *
 *   bench_matmul [n ...]          (default 64 256 1024) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "retrograd.h"
#include "benchutil.h"
#include "ops_internal.h" /* rg_gemm_builtin_f32: the benchmark compares it */

#ifdef RG_HAVE_CBLAS
#include <cblas.h>
#endif

enum { BATCHES = 7 };

typedef struct ctx {
    int64_t n;
    rg_tensor *A, *B, *seed; /* persistent [n,n] */
    float *C;                /* n*n output of the raw kernels */
    rg_tape *tp;
} ctx;

typedef void (*kernel)(ctx *c);

static void die(ctx *c, const char *what) {
    fprintf(stderr, "bench_matmul: %s: %s\n", what,
            c && c->tp && rg_tape_error(c->tp) ? rg_tape_error(c->tp) : rg_last_error());
    exit(1);
}

static void tape_forward(ctx *c) {
    rg_tape_reset(c->tp);
    if (!rg_matmul(c->tp, c->A, c->B)) die(c, "rg_matmul");
}

static void tape_forward_backward(ctx *c) {
    rg_tape_reset(c->tp);
    rg_tensor *y = rg_matmul(c->tp, c->A, c->B);
    if (!y || rg_backward_seed(c->tp, y, c->seed) != 0) die(c, "rg_matmul backward");
}

#ifdef RG_HAVE_CBLAS
static void raw_cblas(ctx *c) {
    int n = (int)c->n;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, c->A->data, n,
                c->B->data, n, 0.0f, c->C, n);
}
#endif

static void builtin(ctx *c) {
    rg_gemm_builtin_f32(false, false, c->n, c->n, c->n, 1.0f, c->A->data, c->n, c->B->data,
                        c->n, 0.0f, c->C, c->n);
}

/* Median seconds per call of k(c). */
static double time_per_call(kernel k, ctx *c) {
    k(c); /* warm-up: arena, caches, BLAS threads */
    int inner = 1;
    for (;;) {
        double t0 = now_s();
        for (int i = 0; i < inner; ++i) k(c);
        double dt = now_s() - t0;
        if (dt >= 0.02 || inner >= (1 << 20)) break;
        inner *= dt > 0 ? (dt < 0.002 ? 10 : 2) : 10;
    }
    double t[BATCHES];
    for (int b = 0; b < BATCHES; ++b) {
        double t0 = now_s();
        for (int i = 0; i < inner; ++i) k(c);
        t[b] = (now_s() - t0) / inner;
    }
    qsort(t, BATCHES, sizeof t[0], cmp_double);
    return t[BATCHES / 2];
}

int main(int argc, char **argv) {
    int64_t sizes[16] = {64, 256, 1024};
    int n_sizes = 3;
    if (argc > 1) {
        n_sizes = 0;
        for (int i = 1; i < argc && n_sizes < 16; ++i) sizes[n_sizes++] = atoll(argv[i]);
    }
    printf("float32 n x n x n products, GFLOP/s (2n^3 per product; forward+backward counts "
           "3 products), median of %d batches; BLAS: %s\n\n", BATCHES, rg_blas_name());
    printf("| %5s | %7s | %14s | %14s | %10s | %10s |\n", "n", "threads", "rg_matmul fwd",
           "rg_matmul f+b", "cblas_sgemm", "builtin");
    printf("|------:|--------:|---------------:|---------------:|-----------:|-----------:|\n");
    rg_rng r;
    rg_rng_seed(&r, 1);
    for (int s = 0; s < n_sizes; ++s) {
        ctx c = {.n = sizes[s]};
        int64_t n = c.n;
        c.A = rg_uniform(NULL, RG_F32, RG_DIMS(n, n), -1, 1, &r);
        c.B = rg_uniform(NULL, RG_F32, RG_DIMS(n, n), -1, 1, &r);
        c.seed = rg_uniform(NULL, RG_F32, RG_DIMS(n, n), -1, 1, &r);
        c.C = malloc((size_t)(n * n) * sizeof(float));
        c.tp = rg_tape_new();
        if (!c.A || !c.B || !c.seed || !c.C || !c.tp) die(&c, "setup");
        rg_set_requires_grad(c.A, true);
        rg_set_requires_grad(c.B, true);
        double flop = 2.0 * (double)n * (double)n * (double)n;
        double t_builtin = 0;
        for (int th = 1; th <= 2; ++th) {
            rg_set_threads(th);
            double t_fwd = time_per_call(tape_forward, &c);
            double t_fb = time_per_call(tape_forward_backward, &c);
            char blas[32] = "-";
#ifdef RG_HAVE_CBLAS
            snprintf(blas, sizeof blas, "%.2f", flop / time_per_call(raw_cblas, &c) * 1e-9);
#endif
            /* The built-in kernel is single-threaded: timed once. */
            if (th == 1) t_builtin = time_per_call(builtin, &c);
            char bi[32] = "(same)";
            if (th == 1) snprintf(bi, sizeof bi, "%.2f", flop / t_builtin * 1e-9);
            printf("| %5lld | %7d | %14.2f | %14.2f | %10s | %10s |\n", (long long)n, th,
                   flop / t_fwd * 1e-9, 3 * flop / t_fb * 1e-9, blas, bi);
            fflush(stdout);
        }
        rg_tape_free(c.tp);
        free(c.C);
        rg_tensor_free(c.A);
        rg_tensor_free(c.B);
        rg_tensor_free(c.seed);
    }
    rg_set_threads(1);
    return 0;
}
