/* NumPy broadcasting of up to three operands against one output, for the rows
 * of ops/activation.c (maximum, minimum) and ops/indexing.c (where,
 * masked_fill, comparisons): the shape rule and a plan resolved once per call.
 * Not public.  (ops/elementwise.c keeps its own faster plan for the arithmetic
 * ops, with row and scalar special cases.)  RG_BC_FOR is a macro: inside an
 * RG_KERNEL (autograd/rg_kernel.h) it is compiled for every kernel variant, as
 * in ops/activation.c; ops/indexing.c's loops are plain functions, baseline only. */
#ifndef RG_BROADCAST_H
#define RG_BROADCAST_H

#include <string.h>

#include "ops_internal.h"

#define RG_BC_MAX 3

/* How each operand lines up with y: y's shape padded on the left to
 * RG_MAX_RANK dims, and each operand's strides in elements, 0 along the dims it
 * is broadcast over.  same: every operand holds y's elements in y's order (the
 * flat index of y is everyone's index). */
typedef struct rg_bc {
    int n;
    bool same;
    int64_t numel;
    int64_t d[RG_MAX_RANK];
    int64_t s[RG_BC_MAX][RG_MAX_RANK];
} rg_bc;

/* The broadcast shape of ts[0..n) (dims aligned from the right, each group
 * equal or 1) into *rank and shape; false when they do not broadcast. */
static inline bool rg_bc_shape(int n, const rg_tensor *const *ts, int *rank, int64_t *shape) {
    int r = 0;
    for (int k = 0; k < n; k++) r = ts[k]->rank > r ? ts[k]->rank : r;
    for (int i = 0; i < r; i++) {
        int64_t d = 1;
        for (int k = 0; k < n; k++) {
            int j = i - (r - ts[k]->rank);
            int64_t dk = j >= 0 ? ts[k]->shape[j] : 1;
            if (dk == 1) continue;
            if (d != 1 && d != dk) return false;
            d = dk;
        }
        shape[i] = d;
    }
    *rank = r;
    return true;
}

static inline void rg_bc_plan(rg_bc *p, const rg_tensor *y, int n, const rg_tensor *const *ts) {
    memset(p, 0, sizeof *p);
    p->n = n;
    p->numel = y->numel;
    p->same = true;
    int off = RG_MAX_RANK - y->rank;
    for (int i = 0; i < RG_MAX_RANK; i++) p->d[i] = i < off ? 1 : y->shape[i - off];
    for (int k = 0; k < n; k++) {
        /* Broadcasting only repeats, so an operand with y's numel has y's layout. */
        p->same = p->same && ts[k]->numel == y->numel;
        int ok = RG_MAX_RANK - ts[k]->rank;
        int64_t st = 1;
        for (int i = RG_MAX_RANK - 1; i >= 0; i--) {
            int64_t dk = i < ok ? 1 : ts[k]->shape[i - ok];
            p->s[k][i] = dk == 1 ? 0 : st;
            st *= dk;
        }
    }
}

/* Runs the statement given for every element of y, with i its flat index and
 * j0, j1, j2 the flat indices of operands 0, 1, 2 (unused ones stay 0). */
#define RG_BC_FOR(p, ...)                                                              \
    do {                                                                               \
        if ((p)->same) {                                                               \
            for (int64_t i = 0; i < (p)->numel; i++) {                                 \
                const int64_t j0 = i, j1 = i, j2 = i;                                  \
                (void)j0, (void)j1, (void)j2;                                          \
                __VA_ARGS__;                                                           \
            }                                                                          \
            break;                                                                     \
        }                                                                              \
        const rg_bc *bp_ = (p);                                                        \
        int64_t i = 0;                                                                 \
        for (int64_t i0 = 0; i0 < (p)->d[0]; i0++)                                     \
            for (int64_t i1 = 0; i1 < (p)->d[1]; i1++)                                 \
                for (int64_t i2 = 0; i2 < (p)->d[2]; i2++)                             \
                    for (int64_t i3 = 0; i3 < (p)->d[3]; i3++, i++) {                  \
                        const int64_t j0 = i0 * bp_->s[0][0] + i1 * bp_->s[0][1] +     \
                                           i2 * bp_->s[0][2] + i3 * bp_->s[0][3];      \
                        const int64_t j1 = i0 * bp_->s[1][0] + i1 * bp_->s[1][1] +     \
                                           i2 * bp_->s[1][2] + i3 * bp_->s[1][3];      \
                        const int64_t j2 = i0 * bp_->s[2][0] + i1 * bp_->s[2][1] +     \
                                           i2 * bp_->s[2][2] + i3 * bp_->s[2][3];      \
                        (void)j0, (void)j1, (void)j2;                                  \
                        __VA_ARGS__;                                                   \
                    }                                                                  \
    } while (0)

#endif
