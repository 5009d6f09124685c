/* Shared by the files of ops/: each file exports its rows of the op table,
 * and a few helpers for broadcasting and dtype dispatch.  Not public. */
#ifndef RG_OPS_INTERNAL_H
#define RG_OPS_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>

#include "rg_core.h"
#include "rg_ops.h"

/* Each ops/ file lists its rows; ops/registry.c registers them all. */
extern const rg_op *const rg_rows_elementwise[];
extern const int rg_rows_elementwise_n;
extern const rg_op *const rg_rows_reduce[];
extern const int rg_rows_reduce_n;
extern const rg_op *const rg_rows_shape[];
extern const int rg_rows_shape_n;
extern const rg_op *const rg_rows_nn[];
extern const int rg_rows_nn_n;
extern const rg_op *const rg_rows_matmul[];
extern const int rg_rows_matmul_n;
extern const rg_op *const rg_rows_fused[];
extern const int rg_rows_fused_n;
extern const rg_op *const rg_rows_activation[];
extern const int rg_rows_activation_n;
extern const rg_op *const rg_rows_indexing[];
extern const int rg_rows_indexing_n;
extern const rg_op *const rg_rows_scan[];
extern const int rg_rows_scan_n;
extern const rg_op *const rg_rows_norm[];
extern const int rg_rows_norm_n;
extern const rg_op *const rg_rows_loss[];
extern const int rg_rows_loss_n;

/* The RG_NONE forms of ops/nn.c's cross-entropy (w [N] or NULL) and mse,
 * composed from public rows in ops/loss.c; fn names the caller in messages. */
rg_tensor *rg_loss_ce_none(rg_tape *tp, const char *fn, rg_tensor *logits, rg_tensor *targets,
                           rg_tensor *w);
rg_tensor *rg_loss_mse_none(rg_tape *tp, rg_tensor *a, rg_tensor *b);

/* A broken invariant of ops/ itself (never a caller's mistake). */
#define RG_OPS_ASSERT(c)                                                              \
    do {                                                                              \
        if (!(c)) {                                                                   \
            fprintf(stderr, "retrograd: internal error at %s:%d: %s\n", __FILE__,     \
                    __LINE__, #c);                                                    \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* Normalises a possibly negative axis for a tensor of rank r; -1 when out of range.
 * A rank-0 tensor counts as rank 1 here, as PyTorch's dim wrapping does: it takes
 * axis 0 or -1. */
static inline int rg_axis_norm(int axis, int r) {
    int n = r > 0 ? r : 1;
    if (axis < 0) axis += n;
    return (axis < 0 || axis >= n) ? -1 : axis;
}

/* Whether the byte ranges [a, a+na) and [b, b+nb) share memory; never for NULL.
 * Kernels that declare several gradient pointers restrict check their
 * buffers with it first: inputs may be one tensor, or views of one buffer. */
static inline bool rg_mem_overlap(const void *a, size_t na, const void *b, size_t nb) {
    if (!a || !b || !na || !nb) return false;
    uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    return pa < pb + nb && pb < pa + na;
}

/* Sets an output's dtype, rank, shape (trailing dims 1) and numel. */
static inline void rg_set_out_shape(rg_tensor *o, rg_dtype dt, int rank, const int64_t *shape) {
    o->dtype = dt;
    o->rank = rank;
    o->numel = 1;
    for (int d = 0; d < RG_MAX_RANK; d++) {
        o->shape[d] = d < rank ? shape[d] : 1;
        o->numel *= o->shape[d];
    }
}

/* For backward rules: queue dW += dy^T x ([O,N] x [N,I]) for one GEMM over all
 * queued rows of W when the sweep ends (ops/matmul.c).  W must be a leaf; false
 * when the work cannot be queued (then do the GEMM at once). */
bool rg_defer_weight_grad(rg_tape *tp, rg_tensor *W, void *dW, const void *dy, const void *x,
                          int64_t N);

/* For recorded backward rules (backward_graph): instead of a full-size gradient
 * of input x, hand rg_autograd a part of it, joined with x's other parts once
 * x's gradient is complete (ops/grad.c: one concat, index_add or GEMM over all
 * parts, itself differentiable).  The part's tensors must be graph tensors of
 * the same dtype as x; the rule then leaves din[i] NULL for it.
 *   band:  x[.., start:start+len, ..] (axis) += g, g of x's shape with len on the axis
 *   rows:  x[.., ids[k], ..] (axis) += g[.., k, ..], ids I32 [K] (index_select's rule)
 *   wgrad: W [O,I] += dy^T x, dy [N,O], x [N,I] (a weight's gradient at one step)
 * 1: taken (or dropped: x needs no gradient); 0: no rg_autograd runs on tp, or
 * the shapes do not fit: build the gradient yourself; -1: out of memory. */
int rg_autograd_band(rg_tape *tp, const rg_tensor *x, int axis, int64_t start, rg_tensor *g);
int rg_autograd_rows(rg_tape *tp, const rg_tensor *x, int axis, rg_tensor *ids, rg_tensor *g);
int rg_autograd_wgrad(rg_tape *tp, const rg_tensor *W, rg_tensor *dy, rg_tensor *x);

/* C = alpha * op(A) op(B) + beta * C, row-major; op = transpose when t* is true.
 * OpenBLAS through CBLAS when built with it, else the built-in kernel. */
void rg_gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                 float *C, int64_t ldc);
void rg_gemm_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                 const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                 double *C, int64_t ldc);
/* The built-in kernel alone (benchmarks compare it with CBLAS). */
void rg_gemm_builtin_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb,
                         float beta, float *C, int64_t ldc);
void rg_gemm_builtin_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                         const double *A, int64_t lda, const double *B, int64_t ldb,
                         double beta, double *C, int64_t ldc);

/* ---- the public functions' own checks ---------------------------------------
 * A public op checks its call before rg_apply, so that the message names the
 * function its caller wrote ("rg_add: input 1 is NULL") rather than the row: a
 * tape, and no NULL among its n inputs.  A tape that already failed keeps its
 * first error and the call returns NULL quietly (a chain of calls is checked
 * once, at the end).  fn NULL stands for "rg_<row name>", the name of every
 * built-in function but rg_matmul_t.  false: return NULL (or -1) at once. */
static inline bool rg_ops_call_ok(rg_tape *tp, const rg_op *op, const char *fn, int n,
                                  rg_tensor *const *in) {
    const char *pre = fn ? "" : "rg_", *name = fn ? fn : op->name;
    if (!tp) {
        rg_set_error("%s%s: tape is NULL", pre, name);
        return false;
    }
    if (rg_tape_error(tp)) { /* the tape keeps it; rg_last_error() gets it again */
        rg_op_error(tp, "%s", rg_tape_error(tp));
        return false;
    }
    for (int k = 0; k < n; k++)
        if (!in[k]) {
            rg_op_error(tp, "%s%s: input %d is NULL", pre, name, k);
            return false;
        }
    return true;
}

static inline rg_tensor *rg_ops_apply(rg_tape *tp, const rg_op *op, int n, rg_tensor *const *in,
                                      const rg_attr *attr) {
    return rg_ops_call_ok(tp, op, NULL, n, in) ? rg_apply(tp, op, n, in, attr) : NULL;
}

static inline int rg_ops_apply_multi(rg_tape *tp, const rg_op *op, int n, rg_tensor *const *in,
                                     const rg_attr *attr, rg_tensor **out) {
    return rg_ops_call_ok(tp, op, NULL, n, in) ? rg_apply_multi(tp, op, n, in, attr, out) : -1;
}
#endif
