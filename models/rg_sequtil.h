/* retrograd sequence helpers: padded batches [T,B,...] whose sequence b has
 * lengths[b] valid steps (the layout and lengths of rg_seq_forward) -- a 0/1
 * mask of the valid steps, pooling over them (last, mean, max) and reversing
 * each sequence within its length.  Built from the public ops only, so they
 * differentiate like any graph.
 *
 * lengths: NULL (every sequence has T steps) or B values in [0,T].  Results
 * are step tensors on the tape; errors return NULL with a message naming the
 * function (a NULL x after a failed op repeats the tape's first error). */
#ifndef RG_SEQUTIL_H
#define RG_SEQUTIL_H
#include "rg_core.h"
#include "rg_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* [T,B] of dt (F32 or F64): 1 where t < lengths[b], else 0.  No gradient. */
rg_tensor *rg_seq_mask(rg_tape *tp, rg_dtype dt, int64_t T, int64_t B, const int32_t *lengths);

typedef enum rg_seq_pool_mode {
    RG_POOL_LAST = 0, /* the step lengths[b] - 1 */
    RG_POOL_MEAN = 1, /* the mean over the valid steps */
    RG_POOL_MAX = 2   /* the elementwise maximum over the valid steps (first max gets the gradient) */
} rg_seq_pool_mode;

/* x [T,B,...] -> [B,...]: each sequence pooled over its own valid steps; a
 * sequence of length 0 gives zeros (and no gradient). */
rg_tensor *rg_seq_pool(rg_tape *tp, rg_tensor *x, const int32_t *lengths, rg_seq_pool_mode mode);

/* x [T,B,...] -> the same shape: y[t,b] = x[lengths[b]-1-t, b] for t < lengths[b],
 * padding steps left where they are (what a reverse direction reads). */
rg_tensor *rg_seq_reverse(rg_tape *tp, rg_tensor *x, const int32_t *lengths);

#ifdef __cplusplus
}
#endif
#endif
