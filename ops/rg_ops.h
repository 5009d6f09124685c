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
/* How a loss reduces its per-element (per-row) losses: their mean, their sum,
 * or none (the losses themselves, one per element or row). */
typedef enum rg_reduction { RG_MEAN = 0, RG_SUM = 1, RG_NONE = 2 } rg_reduction;
/* Along axis (0 or -1 on a rank-0 a); an empty axis gives an empty output. */
rg_tensor *rg_softmax(rg_tape *tp, rg_tensor *a, int axis);
rg_tensor *rg_log_softmax(rg_tape *tp, rg_tensor *a, int axis);
/* logits [N,C], targets I32 [N] with values in [0,C) -> scalar. Fused with
 * log-softmax (stable for large logits).  RG_NONE gives the N losses [N]
 * (rg_nll of rg_log_softmax, two rows); rg_mse's RG_NONE gives (a - b)^2. */
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

/* ---- more elementwise maps (ops/activation.c) ---- */
/* torch.maximum / torch.minimum, broadcasting; NaN propagates; where a == b each
 * input gets half the gradient (PyTorch's rule). */
rg_tensor *rg_maximum(rg_tape *tp, rg_tensor *a, rg_tensor *b);
rg_tensor *rg_minimum(rg_tape *tp, rg_tensor *a, rg_tensor *b);
/* log(1 + e^(beta x)) / beta, and x where beta x > threshold (PyTorch's defaults
 * are beta 1, threshold 20); beta finite and nonzero. */
rg_tensor *rg_softplus(rg_tape *tp, rg_tensor *a, double beta, double threshold);
rg_tensor *rg_log_sigmoid(rg_tape *tp, rg_tensor *a);  /* log sigmoid(x), stable */
rg_tensor *rg_log1p(rg_tape *tp, rg_tensor *a);        /* log(1 + x) */
rg_tensor *rg_expm1(rg_tape *tp, rg_tensor *a);        /* e^x - 1 */
rg_tensor *rg_sin(rg_tape *tp, rg_tensor *a);
rg_tensor *rg_cos(rg_tape *tp, rg_tensor *a);
rg_tensor *rg_leaky_relu(rg_tape *tp, rg_tensor *a, double slope); /* x > 0 ? x : slope x */
rg_tensor *rg_elu(rg_tape *tp, rg_tensor *a, double alpha); /* x > 0 ? x : alpha (e^x - 1) */
rg_tensor *rg_gelu(rg_tape *tp, rg_tensor *a);         /* exact: x Phi(x), with erf */
rg_tensor *rg_erf(rg_tape *tp, rg_tensor *a);          /* the error function */
rg_tensor *rg_rsub_scalar(rg_tape *tp, rg_tensor *a, double c); /* c - a (1 - z: c = 1) */

/* ---- indexing and comparisons (ops/indexing.c) ---- */
/* x [..., L, ...], ids I32 [K] in [0, L) -> [..., K, ...] (torch.index_select);
 * backward scatter-adds (repeated ids accumulate). */
rg_tensor *rg_index_select(rg_tape *tp, rg_tensor *x, int axis, rg_tensor *ids);
/* torch.index_add: x [..., L, ...], ids I32 [K] in [0, L), src [..., K, ...] (x's
 * shape with K on the axis) -> x with src[..., k, ...] added at x[..., ids[k], ...]
 * (repeated ids accumulate); the scatter-add that index_select's and
 * rg_embedding's backward do, as a differentiable op. */
rg_tensor *rg_index_add(rg_tape *tp, rg_tensor *x, int axis, rg_tensor *ids, rg_tensor *src);
/* torch.gather (take-along-axis): idx I32 of x's rank, no larger than x off the
 * axis, values in [0, x's axis length) -> y of idx's shape,
 * y[..., k, ...] = x[..., idx[..., k, ...], ...]; backward scatter-adds.  With
 * rg_argmax(x, axis, true) it picks the maxima. */
rg_tensor *rg_gather(rg_tape *tp, rg_tensor *x, int axis, rg_tensor *idx);
/* a where mask (nonzero; F32, F64 or I32) else b; all three broadcast. */
rg_tensor *rg_where(rg_tape *tp, rg_tensor *mask, rg_tensor *a, rg_tensor *b);
/* value where mask (nonzero), else x; mask broadcasts to x's shape. */
rg_tensor *rg_masked_fill(rg_tape *tp, rg_tensor *x, rg_tensor *mask, double value);
/* Comparisons, broadcasting: 1 where a REL b, else 0, in a's dtype (usable as a
 * mask or a factor).  No gradient: the result does not require one, and no
 * tape entry is kept. */
rg_tensor *rg_gt(rg_tape *tp, rg_tensor *a, rg_tensor *b);
rg_tensor *rg_lt(rg_tape *tp, rg_tensor *a, rg_tensor *b);
rg_tensor *rg_ge(rg_tape *tp, rg_tensor *a, rg_tensor *b);
rg_tensor *rg_le(rg_tape *tp, rg_tensor *a, rg_tensor *b);
rg_tensor *rg_eq(rg_tape *tp, rg_tensor *a, rg_tensor *b);
rg_tensor *rg_ne(rg_tape *tp, rg_tensor *a, rg_tensor *b);
/* I32 index of the first maximum (minimum) along axis, or of the first NaN;
 * the axis dropped, or kept as 1 with keepdim.  No gradient. */
rg_tensor *rg_argmax(rg_tape *tp, rg_tensor *x, int axis, bool keepdim);
rg_tensor *rg_argmin(rg_tape *tp, rg_tensor *x, int axis, bool keepdim);
/* The k largest (smallest) elements along axis, in order, ties by lower index
 * (torch.topk, sorted): out[0] = values [..., k, ...] (with a gradient, which
 * goes back to the chosen elements), out[1] = indices, I32 of the same shape.
 * 0 or -1. */
int rg_topk(rg_tape *tp, rg_tensor *x, int64_t k, int axis, bool largest, rg_tensor **out);

/* ---- scans (ops/scan.c) ---- */
rg_tensor *rg_cumsum(rg_tape *tp, rg_tensor *x, int axis);
/* log(cumsum(exp(x))) along axis, exact for large values and -inf entries:
 * h_t = a_t h_{t-1} + b_t in log space is logcumsumexp(log b - cumsum(log a))
 * + cumsum(log a) (minGRU's parallel scan). */
rg_tensor *rg_logcumsumexp(rg_tape *tp, rg_tensor *x, int axis);

/* ---- normalisation over the last axis (ops/norm.c), one fused row each ---- */
/* x [..., H], weight [H] or NULL, bias [H] or NULL: (x - mean) / sqrt(var + eps)
 * * weight + bias (biased variance, torch.nn.functional.layer_norm). */
rg_tensor *rg_layer_norm(rg_tape *tp, rg_tensor *x, rg_tensor *weight, rg_tensor *bias,
                         double eps);
/* x / sqrt(mean(x^2) + eps) * weight (weight [H] or NULL). */
rg_tensor *rg_rms_norm(rg_tape *tp, rg_tensor *x, rg_tensor *weight, double eps);

/* ---- losses (ops/loss.c); red: RG_MEAN, RG_SUM or RG_NONE (per element) ---- */
/* logits, targets (and weight, or NULL) of one shape: weight * (max(x,0) - x t
 * + log1p(e^-|x|)) per element; RG_MEAN divides by the number of elements. */
rg_tensor *rg_bce_with_logits(rg_tape *tp, rg_tensor *logits, rg_tensor *targets,
                              rg_tensor *weight, rg_reduction red);
/* logp [N,C] (log-probabilities), targets I32 [N] -> -logp[i, t_i] ([N] for RG_NONE). */
rg_tensor *rg_nll(rg_tape *tp, rg_tensor *logp, rg_tensor *targets, rg_reduction red);
/* a, b of one shape; d = a - b.  huber: d^2/2 where |d| < delta, else
 * delta (|d| - delta/2) (delta > 0); smooth_l1: d^2/(2 beta) where |d| < beta,
 * else |d| - beta/2 (beta >= 0; 0 is L1); l1: |d|. */
rg_tensor *rg_huber(rg_tape *tp, rg_tensor *a, rg_tensor *b, double delta, rg_reduction red);
rg_tensor *rg_smooth_l1(rg_tape *tp, rg_tensor *a, rg_tensor *b, double beta,
                        rg_reduction red);
rg_tensor *rg_l1(rg_tape *tp, rg_tensor *a, rg_tensor *b, rg_reduction red);

/* ---- gradients as tensors: gradients of gradients (ops/grad.c) ---- */
/* The gradients of outputs[0..n_out) (seeded with seeds[k], or 1 for a scalar
 * output when seeds is NULL or seeds[k] NULL) with respect to inputs[0..n_in),
 * as tensors on tp: grads[j] (zeros when inputs[j] does not reach the outputs).
 * It runs every row's recorded backward (rg_op.backward_graph), never the fast
 * kernels, and leaves every tensor's .grad alone.  With create_graph the
 * backward is itself recorded, so grads can be differentiated again (to any
 * order) with rg_backward or rg_autograd; without, it is a plain reverse
 * sweep.  Cost: about one backward pass (two with create_graph, plus what the
 * second differentiation records).  An op without a recorded backward on the
 * way is an error naming it.  0, or -1 (message on the tape, grads NULL). */
int rg_autograd(rg_tape *tp, int n_out, rg_tensor *const *outputs, rg_tensor *const *seeds,
                int n_in, rg_tensor *const *inputs, rg_tensor **grads, bool create_graph);
/* g summed over the dimensions along which `like` was broadcast to g's shape,
 * reshaped to like's shape (g itself when the shapes agree): the gradient of a
 * broadcast, for recorded backward rules. */
rg_tensor *rg_sum_to(rg_tape *tp, rg_tensor *g, const rg_tensor *like);
/* Second derivatives against central differences of the analytic gradient, in
 * float64: for a random direction v (fixed seed) over the inputs that require a
 * gradient, the recorded d/dx <v, df/dx> against (G(x + eps e_k) - G(x - eps
 * e_k)) / 2 eps with G = <v, df/dx>, for every element k.  Same options,
 * result and report style as rg_gradcheck.  0 when it ran (see res->pass). */
int rg_gradgradcheck(rg_gradcheck_fn fn, int n, rg_tensor *const *inputs, void *user,
                     const rg_gradcheck_opts *opts, rg_gradcheck_result *res);

#ifdef __cplusplus
}
#endif
#endif
