/* Sequence helpers over padded batches (rg_sequtil.h): masks, pooling over
 * valid steps and reversal within lengths, each a few public ops (lt,
 * index_select, masked_fill, max_axis, where, ...) on index or mask tensors
 * computed here from the lengths. */
#include <math.h>

#include "rg_sequtil.h"

/* A tape that can take the call: false (and a message naming fn) for a NULL
 * tape or a failed one (its first error repeated, as the models' forwards do). */
static bool tape_ok(rg_tape *tp, const char *fn) {
    if (!tp) {
        rg_set_error("%s: tape is NULL", fn);
        return false;
    }
    if (rg_tape_error(tp)) {
        rg_op_error(tp, "%s", rg_tape_error(tp));
        return false;
    }
    return true;
}

static bool lengths_ok(rg_tape *tp, const char *fn, int64_t T, int64_t B,
                       const int32_t *lengths) {
    for (int64_t b = 0; lengths && b < B; b++)
        if (lengths[b] < 0 || lengths[b] > T) {
            rg_op_error(tp, "%s: lengths[%lld] = %d is outside [0,%lld]", fn, (long long)b,
                        (int)lengths[b], (long long)T);
            return false;
        }
    return true;
}

static int64_t len_of(const int32_t *lengths, int64_t b, int64_t T) {
    return lengths ? lengths[b] : T;
}

/* x [T,B,...] checked (rank 2..RG_MAX_RANK, lengths in range); *F = the
 * product of the trailing dims. */
static bool seq_ok(rg_tape *tp, const char *fn, const rg_tensor *x, const int32_t *lengths,
                   int64_t *F) {
    char s[64];
    if (!tape_ok(tp, fn)) return false;
    if (!x) {
        rg_op_error(tp, "%s: x is NULL", fn);
        return false;
    }
    if (x->rank < 2 || (x->dtype != RG_F32 && x->dtype != RG_F64)) {
        rg_op_error(tp, "%s: x must be F32 or F64 [T,B,...], got %s %s", fn,
                    rg_dtype_name(x->dtype), rg_shape_str(x, s, sizeof s));
        return false;
    }
    *F = 1;
    for (int d = 2; d < x->rank; d++) *F *= x->shape[d];
    return lengths_ok(tp, fn, x->shape[0], x->shape[1], lengths);
}

rg_tensor *rg_seq_mask(rg_tape *tp, rg_dtype dt, int64_t T, int64_t B, const int32_t *lengths) {
    if (!tape_ok(tp, "rg_seq_mask")) return NULL;
    if ((dt != RG_F32 && dt != RG_F64) || T < 0 || B < 0) {
        rg_op_error(tp, "rg_seq_mask: wants F32 or F64 and T, B >= 0, got %s, T = %lld, B = %lld",
                    rg_dtype_name(dt), (long long)T, (long long)B);
        return NULL;
    }
    if (!lengths_ok(tp, "rg_seq_mask", T, B, lengths)) return NULL;
    /* mask = [t < length]: steps [T,1] against lengths [1,B] */
    rg_tensor *steps = rg_tensor_new(tp, dt, RG_DIMS(T, 1));
    rg_tensor *lens = rg_tensor_new(tp, dt, RG_DIMS(1, B));
    if (!steps || !lens) return NULL;
    for (int64_t t = 0; t < T; t++) rg_set(steps, t, (double)t);
    for (int64_t b = 0; b < B; b++) rg_set(lens, b, (double)len_of(lengths, b, T));
    return rg_lt(tp, steps, lens);
}

/* x [T,B,...] as [T,B,F], and y [B,F] back to [B,...]. */
static rg_tensor *as_tbf(rg_tape *tp, rg_tensor *x, int64_t F) {
    return rg_reshape(tp, x, RG_DIMS(x->shape[0], x->shape[1], F));
}
static rg_tensor *as_b_rest(rg_tape *tp, rg_tensor *y, const rg_tensor *x) {
    return y ? rg_reshape(tp, y, x->rank - 1, x->shape + 1) : NULL;
}

/* The last valid step of each sequence: rows (len-1)*B + b of x as [T*B,F]. */
static rg_tensor *pool_last(rg_tape *tp, rg_tensor *x, const int32_t *lengths, int64_t F) {
    int64_t T = x->shape[0], B = x->shape[1];
    rg_tensor *ids = rg_tensor_new(tp, RG_I32, RG_DIMS(B));
    if (!ids) return NULL;
    int32_t *iv = ids->data;
    for (int64_t b = 0; b < B; b++) {
        int64_t L = len_of(lengths, b, T);
        iv[b] = (int32_t)((L > 0 ? L - 1 : 0) * B + b);
    }
    return rg_index_select(tp, rg_reshape(tp, x, RG_DIMS(T * B, F)), 0, ids);
}

/* sum over t of x * mask, divided by the length. */
static rg_tensor *pool_mean(rg_tape *tp, rg_tensor *x, const int32_t *lengths, int64_t F) {
    int64_t T = x->shape[0], B = x->shape[1];
    rg_tensor *m = rg_reshape(tp, rg_seq_mask(tp, x->dtype, T, B, lengths), RG_DIMS(T, B, 1));
    rg_tensor *inv = rg_tensor_new(tp, x->dtype, RG_DIMS(B, 1));
    if (!m || !inv) return NULL;
    for (int64_t b = 0; b < B; b++) {
        int64_t L = len_of(lengths, b, T);
        rg_set(inv, b, L > 0 ? 1.0 / (double)L : 0.0);
    }
    rg_tensor *s = rg_sum_axis(tp, rg_mul(tp, as_tbf(tp, x, F), m), 0, false);
    return rg_mul(tp, s, inv);
}

/* the maximum over t of x with the padding filled with -inf. */
static rg_tensor *pool_max(rg_tape *tp, rg_tensor *x, const int32_t *lengths, int64_t F) {
    int64_t T = x->shape[0], B = x->shape[1];
    rg_tensor *m = rg_reshape(tp, rg_seq_mask(tp, x->dtype, T, B, lengths), RG_DIMS(T, B, 1));
    if (!m) return NULL;
    rg_tensor *pad = rg_eq(tp, m, rg_scalar(tp, x->dtype, 0));
    return rg_max_axis(tp, rg_masked_fill(tp, as_tbf(tp, x, F), pad, -INFINITY), 0, false);
}

rg_tensor *rg_seq_pool(rg_tape *tp, rg_tensor *x, const int32_t *lengths, rg_seq_pool_mode mode) {
    int64_t F;
    if (!seq_ok(tp, "rg_seq_pool", x, lengths, &F)) return NULL;
    if (mode != RG_POOL_LAST && mode != RG_POOL_MEAN && mode != RG_POOL_MAX) {
        rg_op_error(tp, "rg_seq_pool: unknown mode %d", (int)mode);
        return NULL;
    }
    int64_t T = x->shape[0], B = x->shape[1];
    bool any_empty = false;
    for (int64_t b = 0; b < B; b++) any_empty |= len_of(lengths, b, T) == 0;
    if (T == 0) /* every sequence is empty */
        return rg_zeros(tp, x->dtype, x->rank - 1, x->shape + 1);
    rg_tensor *y = mode == RG_POOL_LAST   ? pool_last(tp, x, lengths, F)
                   : mode == RG_POOL_MEAN ? pool_mean(tp, x, lengths, F)
                                          : pool_max(tp, x, lengths, F);
    if (y && any_empty && mode != RG_POOL_MEAN) {
        /* empty sequences: zeros, through where (the max of nothing is -inf) */
        rg_tensor *ne = rg_tensor_new(tp, RG_I32, RG_DIMS(B, 1));
        if (!ne) return NULL;
        for (int64_t b = 0; b < B; b++) ((int32_t *)ne->data)[b] = len_of(lengths, b, T) > 0;
        y = rg_where(tp, ne, y, rg_scalar(tp, x->dtype, 0));
    }
    return as_b_rest(tp, y, x);
}

rg_tensor *rg_seq_reverse(rg_tape *tp, rg_tensor *x, const int32_t *lengths) {
    int64_t F;
    if (!seq_ok(tp, "rg_seq_reverse", x, lengths, &F)) return NULL;
    int64_t T = x->shape[0], B = x->shape[1];
    /* y row t*B + b reads x row t'*B + b, t' = len-1-t inside the length */
    rg_tensor *ids = rg_tensor_new(tp, RG_I32, RG_DIMS(T * B));
    if (!ids) return NULL;
    int32_t *iv = ids->data;
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++) {
            int64_t L = len_of(lengths, b, T);
            iv[t * B + b] = (int32_t)((t < L ? L - 1 - t : t) * B + b);
        }
    rg_tensor *y = rg_index_select(tp, rg_reshape(tp, x, RG_DIMS(T * B, F)), 0, ids);
    return y ? rg_reshape(tp, y, x->rank, x->shape) : NULL;
}
