/* Matrix-product dispatch: OpenBLAS through CBLAS when the build found it
 * (RG_HAVE_CBLAS), else the portable built-in kernel below.  Row-major, with
 * transpose flags so that no op ever copies a tensor to transpose it. */
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"
#include "rg_kernel.h"

#ifdef RG_HAVE_CBLAS
#include <cblas.h>
#endif

/* The built-in kernel, written once for both float types, compiled for every
 * kernel variant (rg_kernel.h).  C = alpha*op(A)op(B) + beta*C.  Loop orders keep
 * the innermost loop contiguous so it vectorises: i-p-j when B is read as
 * stored, i-j-p (a dot product) when B is transposed. */
#define DEFINE_GEMM_BUILTIN(NAME, T)                                                   \
    RG_KERNEL(NAME##_k,                                                                \
              (bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, \
               int64_t lda, const T *B, int64_t ldb, T beta, T *C, int64_t ldc),       \
              (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) {                \
        for (int64_t i = 0; i < M; ++i) {                                              \
            T *c = C + i * ldc;                                                        \
            if (beta == 0)                                                             \
                memset(c, 0, (size_t)N * sizeof(T));                                   \
            else if (beta != 1)                                                        \
                for (int64_t j = 0; j < N; ++j) c[j] *= beta;                          \
        }                                                                              \
        if (K == 0 || alpha == 0) return;                                              \
        enum { KB = 256 };                                                             \
        T arow[KB];                                                                    \
        for (int64_t p0 = 0; p0 < K; p0 += KB) {                                       \
            int64_t pk = K - p0 < KB ? K - p0 : KB;                                    \
            for (int64_t i = 0; i < M; ++i) {                                          \
                for (int64_t p = 0; p < pk; ++p)                                       \
                    arow[p] = alpha * (ta ? A[(p0 + p) * lda + i] : A[i * lda + p0 + p]); \
                T *c = C + i * ldc;                                                    \
                if (!tb) {                                                             \
                    for (int64_t p = 0; p < pk; ++p) {                                 \
                        const T *b = B + (p0 + p) * ldb;                               \
                        T a = arow[p];                                                 \
                        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];              \
                    }                                                                  \
                } else {                                                               \
                    for (int64_t j = 0; j < N; ++j) {                                  \
                        const T *b = B + j * ldb + p0;                                 \
                        T s = 0;                                                       \
                        for (int64_t p = 0; p < pk; ++p) s += arow[p] * b[p];          \
                        c[j] += s;                                                     \
                    }                                                                  \
                }                                                                      \
            }                                                                          \
        }                                                                              \
    }                                                                                  \
    void NAME(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A,  \
              int64_t lda, const T *B, int64_t ldb, T beta, T *C, int64_t ldc) {       \
        NAME##_k(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);                \
    }

DEFINE_GEMM_BUILTIN(rg_gemm_builtin_f32, float)
DEFINE_GEMM_BUILTIN(rg_gemm_builtin_f64, double)

void rg_gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                 float *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
#ifdef RG_HAVE_CBLAS
    /* One row (batch 1) or one column: a matrix-vector product, which skips
     * sgemm's packing of the operands (most of the time at these sizes). */
    if (K > 0 && beta == 0 && (M == 1 || N == 1)) /* gemv scales C by beta: C may be unset */
        for (int64_t i = 0; i < (M == 1 ? N : M); i++) C[M == 1 ? i : i * ldc] = 0;
    if (K > 0 && M == 1) {
        /* C[1,N] = op(A)[1,K] op(B)[K,N]; row p of op(A) is A[p*lda] when ta. */
        cblas_sgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, (blasint)(tb ? N : K),
                    (blasint)(tb ? K : N), alpha, B, (blasint)ldb, A, (blasint)(ta ? lda : 1),
                    beta, C, 1);
        return;
    }
    if (K > 0 && N == 1) {
        /* C[M,1] = op(A)[M,K] op(B)[K,1]; element p of op(B) is B[p*ldb] unless tb. */
        cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, (blasint)(ta ? K : M),
                    (blasint)(ta ? M : K), alpha, A, (blasint)lda, B, (blasint)(tb ? 1 : ldb),
                    beta, C, (blasint)ldc);
        return;
    }
    if (K > 0) {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (blasint)M, (blasint)N, (blasint)K, alpha, A, (blasint)lda, B, (blasint)ldb,
                    beta, C, (blasint)ldc);
        return;
    }
#endif
    rg_gemm_builtin_f32(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void rg_gemm_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                 const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                 double *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
#ifdef RG_HAVE_CBLAS
    if (K > 0) {
        cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (blasint)M, (blasint)N, (blasint)K, alpha, A, (blasint)lda, B, (blasint)ldb,
                    beta, C, (blasint)ldc);
        return;
    }
#endif
    rg_gemm_builtin_f64(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static int g_threads = 1;

void rg_set_threads(int n) {
    if (n < 1) n = 1;
    g_threads = n;
#ifdef RG_HAVE_CBLAS
    openblas_set_num_threads(n);
#endif
}

int rg_get_threads(void) { return g_threads; }

const char *rg_blas_name(void) {
#ifdef RG_HAVE_CBLAS
    return "openblas";
#else
    return "builtin";
#endif
}

const char *rg_blas_core(void) {
#ifdef RG_HAVE_CBLAS
    const char *core = openblas_get_corename();
    return core ? core : "unknown";
#else
    return "builtin";
#endif
}
