/* retrograd ops: the public functions of the built-in op table.  Every function
 * here is a thin wrapper around rg_apply() with the op's row (rg_op) from ops/;
 * each row's forward and backward sit side by side in one file.
 *
 * Conventions: inputs of the float ops share one dtype (F32 or F64); a NULL
 * input or an errored tape gives NULL; a shape that does not fit gives NULL and
 * a message naming the op and the shapes.  Binary elementwise ops broadcast like
 * NumPy.  Axes may be negative (counted from the end).
 *
 * An op with several outputs (rg_split, rg_lstm_gates, rg_lstm_cell, ...) has
 * one calling convention, that of rg_apply_multi: it returns 0 or -1 and
 * writes its outputs to out[0..n-1], an array the caller provides (e.g.
 * rg_tensor *hc[2]); on error every out[k] is NULL. */
#ifndef RG_OPS_H
#define RG_OPS_H

#include "rg_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- elementwise (ops/elementwise.c) ---- */
rg_tensor *rg_add(rg_tape *tp, rg_tensor *a, rg_tensor *b);   /* a + b */
rg_tensor *rg_sub(rg_tape *tp, rg_tensor *a, rg_tensor *b);   /* a - b */
rg_tensor *rg_mul(rg_tape *tp, rg_tensor *a, rg_tensor *b);   /* a * b */
rg_tensor *rg_div(rg_tape *tp, rg_tensor *a, rg_tensor *b);   /* a / b */
rg_tensor *rg_neg(rg_tape *tp, rg_tensor *a);
rg_tensor *rg_add_scalar(rg_tape *tp, rg_tensor *a, double s); /* a + s */
rg_tensor *rg_mul_scalar(rg_tape *tp, rg_tensor *a, double s); /* a * s */
rg_tensor *rg_pow_scalar(rg_tape *tp, rg_tensor *a, double p); /* a ^ p */
rg_tensor *rg_exp(rg_tape *tp, rg_tensor *a);
rg_tensor *rg_log(rg_tape *tp, rg_tensor *a);
rg_tensor *rg_sqrt(rg_tape *tp, rg_tensor *a);
rg_tensor *rg_abs(rg_tape *tp, rg_tensor *a);
rg_tensor *rg_tanh(rg_tape *tp, rg_tensor *a);
rg_tensor *rg_sigmoid(rg_tape *tp, rg_tensor *a);
rg_tensor *rg_relu(rg_tape *tp, rg_tensor *a);
rg_tensor *rg_clamp(rg_tape *tp, rg_tensor *a, double lo, double hi);

/* ---- matrix products (ops/matmul.c) ---- */
/* a [M,K] x b [K,N] -> [M,N]; batched: a [S,M,K] x b [S,K,N] -> [S,M,N]. */
rg_tensor *rg_matmul(rg_tape *tp, rg_tensor *a, rg_tensor *b);
/* Same with a and/or b read transposed (last two dims) without a copy. */
rg_tensor *rg_matmul_t(rg_tape *tp, rg_tensor *a, rg_tensor *b, bool ta, bool tb);
/* x [N,I], W [O,I], bias [O] or NULL -> x W^T + bias, [N,O] (PyTorch's Linear). */
rg_tensor *rg_linear(rg_tape *tp, rg_tensor *x, rg_tensor *W, rg_tensor *bias);
/* E [V,I], ids I32 [...], W [O,I], bias [O] or NULL -> E[ids] W^T + bias, [..., O]:
 * rg_linear(rg_embedding(E, ids), W, bias) in one row.  With at least as many
 * ids as table rows it maps the table once (V-row products in forward and
 * backward instead of N-row ones): an RNN's first-layer input projection. */
rg_tensor *rg_embedding_linear(rg_tape *tp, rg_tensor *E, rg_tensor *ids, rg_tensor *W,
                               rg_tensor *bias);

/* ---- movement (ops/shape.c) ---- */
rg_tensor *rg_transpose(rg_tape *tp, rg_tensor *a, int d0, int d1);
/* One dim may be -1 (inferred).  Shares a's values. */
rg_tensor *rg_reshape(rg_tape *tp, rg_tensor *a, int rank, const int64_t *shape);
rg_tensor *rg_concat(rg_tape *tp, int n, rg_tensor *const *ts, int axis);
rg_tensor *rg_stack(rg_tape *tp, int n, rg_tensor *const *ts, int axis);
/* Elements [start, start+len) along axis (torch.narrow); len 0 gives an empty
 * tensor, 0 <= start <= the dim. */
rg_tensor *rg_slice(rg_tape *tp, rg_tensor *a, int axis, int64_t start, int64_t len);
/* n equal parts along axis into out[0..n-1] (torch.tensor_split into n); an
 * axis of length 0 gives n empty parts.  0 or -1. */
int rg_split(rg_tape *tp, rg_tensor *a, int axis, int n, rg_tensor **out);

/* ---- reductions (ops/reduce.c) ---- */
/* The _axis forms take axis 0 or -1 on a rank-0 a (as PyTorch's dim). */
rg_tensor *rg_sum(rg_tape *tp, rg_tensor *a);    /* all elements -> scalar [] */
rg_tensor *rg_mean(rg_tape *tp, rg_tensor *a);
/* torch.max(a) / torch.amax(a): tied maxima share the gradient evenly. */
rg_tensor *rg_max(rg_tape *tp, rg_tensor *a);
rg_tensor *rg_sum_axis(rg_tape *tp, rg_tensor *a, int axis, bool keepdim);
rg_tensor *rg_mean_axis(rg_tape *tp, rg_tensor *a, int axis, bool keepdim);
/* torch.max(a, axis).values: the gradient goes to the first maximum of each
 * slice, the index torch.max returns (torch.amax would split it among ties). */
rg_tensor *rg_max_axis(rg_tape *tp, rg_tensor *a, int axis, bool keepdim);

/* ---- neural-network ops (ops/nn.c) ---- */
typedef enum rg_reduction { RG_MEAN = 0, RG_SUM = 1 } rg_reduction;
/* Along axis (0 or -1 on a rank-0 a); an empty axis gives an empty output. */
rg_tensor *rg_softmax(rg_tape *tp, rg_tensor *a, int axis);
rg_tensor *rg_log_softmax(rg_tape *tp, rg_tensor *a, int axis);
/* logits [N,C], targets I32 [N] with values in [0,C) -> scalar. Fused with
 * log-softmax (stable for large logits). */
rg_tensor *rg_cross_entropy(rg_tape *tp, rg_tensor *logits, rg_tensor *targets,
                            rg_reduction red);
/* Same with a per-row weight w [N] (F32/F64, e.g. a 0/1 padding mask); RG_MEAN
 * divides by the sum of the weights. */
rg_tensor *rg_cross_entropy_weighted(rg_tape *tp, rg_tensor *logits, rg_tensor *targets,
                                     rg_tensor *w, rg_reduction red);
rg_tensor *rg_mse(rg_tape *tp, rg_tensor *a, rg_tensor *b, rg_reduction red);
/* W [V,E], ids I32 [...] -> [..., E]; backward scatter-adds (repeats accumulate). */
rg_tensor *rg_embedding(rg_tape *tp, rg_tensor *W, rg_tensor *ids);
/* Inverted dropout with probability p; identity when the tape is not training.
 * The mask is drawn from rng at call time. */
rg_tensor *rg_dropout(rg_tape *tp, rg_tensor *a, double p, rg_rng *rng);

/* ---- fused recurrent gates (ops/fused.c): new rows of the table, each equal
 * to the composition of the plain ops it replaces (tested both ways), also
 * when inputs share memory (one tensor given twice, overlapping views) ---- */
/* LSTM pointwise step, PyTorch gate order i,f,g,o.  xp, hp [B,4H] (the two
 * projections, biases included), c [B,H] -> out[0] = h', out[1] = c' [B,H]:
 *   a = xp + hp; i,f,o = sigmoid(a_i,a_f,a_o); g = tanh(a_g);
 *   c' = f*c + i*g; h' = o*tanh(c').  0 or -1. */
int rg_lstm_gates(rg_tape *tp, rg_tensor *xp, rg_tensor *hp, rg_tensor *c, rg_tensor **out);
/* A whole LSTM step after the input projection: xp [B,4H] (x W_ih^T + b_ih),
 * h, c [B,H], W_hh [4H,H], b_hh [4H] or NULL -> out[0] = h', out[1] = c' [B,H],
 * equal to rg_lstm_gates(xp, rg_linear(h, W_hh, b_hh), c) without keeping the
 * [B,4H] product (and with W_hh's gradient batched over the steps).  0 or -1. */
int rg_lstm_cell(rg_tape *tp, rg_tensor *xp, rg_tensor *h, rg_tensor *c, rg_tensor *W_hh,
                 rg_tensor *b_hh, rg_tensor **out);
/* rg_lstm_cell with xp = P[ids]: P [V,4H] an embedding table already mapped
 * through W_ih and b_ih, ids I32 [B]; the gathered rows and their gradient are
 * never materialised (backward adds straight into P's gradient rows). */
int rg_lstm_cell_rows(rg_tape *tp, rg_tensor *P, rg_tensor *ids, rg_tensor *h, rg_tensor *c,
                      rg_tensor *W_hh, rg_tensor *b_hh, rg_tensor **out);
/* GRU pointwise step, gate order r,z,n.  xp, hp [B,3H], h [B,H] -> h' [B,H]:
 *   r = sigmoid(xp_r + hp_r); z = sigmoid(xp_z + hp_z);
 *   n = tanh(xp_n + r*hp_n); h' = (1-z)*n + z*h. */
rg_tensor *rg_gru_gates(rg_tape *tp, rg_tensor *xp, rg_tensor *hp, rg_tensor *h);

#ifdef __cplusplus
}
#endif
#endif
