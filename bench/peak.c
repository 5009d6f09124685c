/* The machine's float32 matrix-product ceiling: raw cblas_sgemm on square
 * n x n matrices (default n = 1024) at 1 and 2 OpenBLAS threads
 * (openblas_set_num_threads), median GFLOP/s of 7 batches, each batch long
 * enough (>= 50 ms) to time.  bench/compare_torch.py divides the char-LM
 * training FLOP rate by this figure ("% of sgemm peak").
 *
 *   bench_peak [--n N] [--batches K]
 *
 * prints one line per thread count and `RESULT {json}` with gflops_1, gflops_2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef RG_HAVE_CBLAS
#include <cblas.h>
#endif

#include "benchutil.h"

enum { MAX_BATCHES = 31, MAX_THREADS = 2 };

#ifdef RG_HAVE_CBLAS
/* C[n,n] = A[n,n] B[n,n], row-major, no transposes. */
static void sgemm(int n, const float *A, const float *B, float *C) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
}

/* Median GFLOP/s over `batches` timed batches of `reps` products each. */
static double median_gflops(int n, int batches, const float *A, const float *B, float *C) {
    double flop = 2.0 * (double)n * (double)n * (double)n;
    sgemm(n, A, B, C); /* warm-up: thread pool start, page faults on C */
    double t0 = now_s();
    sgemm(n, A, B, C);
    double one = now_s() - t0;
    int reps = one > 0 ? (int)(0.05 / one) + 1 : 1;
    double g[MAX_BATCHES];
    for (int k = 0; k < batches; ++k) {
        t0 = now_s();
        for (int r = 0; r < reps; ++r) sgemm(n, A, B, C);
        g[k] = flop * reps / (now_s() - t0) * 1e-9;
    }
    qsort(g, (size_t)batches, sizeof g[0], cmp_double);
    return g[batches / 2];
}
#endif

int main(int argc, char **argv) {
    int n = 1024, batches = 7;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batches") && i + 1 < argc) batches = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_peak [--n N] [--batches K]\n");
            return 2;
        }
    }
    if (n < 1 || n > 16384 || batches < 1 || batches > MAX_BATCHES) {
        fprintf(stderr, "bench_peak: need 1 <= n <= 16384 and 1 <= batches <= %d\n", MAX_BATCHES);
        return 2;
    }
#ifndef RG_HAVE_CBLAS
    fprintf(stderr, "bench_peak: built without CBLAS (meson -Dblas=builtin or no OpenBLAS): "
                    "no sgemm peak to measure\n");
    return 1;
#else
    size_t nn = (size_t)n * (size_t)n;
    float *A = malloc(nn * sizeof(float)), *B = malloc(nn * sizeof(float)),
          *C = malloc(nn * sizeof(float));
    if (!A || !B || !C) {
        fprintf(stderr, "bench_peak: out of memory for n = %d\n", n);
        return 1;
    }
    unsigned s = 12345u;
    for (size_t i = 0; i < nn; ++i) {
        s = s * 1664525u + 1013904223u;
        A[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
        s = s * 1664525u + 1013904223u;
        B[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    double gf[MAX_THREADS + 1] = {0};
    for (int th = 1; th <= MAX_THREADS; ++th) {
        openblas_set_num_threads(th);
        gf[th] = median_gflops(n, batches, A, B, C);
        printf("cblas_sgemm n=%d threads=%d: %.2f GFLOP/s (median of %d)\n", n, th, gf[th],
               batches);
        fflush(stdout);
    }
    printf("RESULT {\"n\": %d, \"batches\": %d, \"gflops_1\": %.3f, \"gflops_2\": %.3f, "
           "\"blas_core\": \"%s\"}\n",
           n, batches, gf[1], gf[2], openblas_get_corename());
    free(A);
    free(B);
    free(C);
    return 0;
#endif
}
