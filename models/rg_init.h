/* Initialisation helpers, one parameter at a time, with torch.nn.init's
 * definitions: what a cell's init (or any model) calls to redraw a parameter
 * after rg_cell_param / rg_params_add made it.
 *
 *   rg_cell_param(c, P, prefix, "weight_hh", suffix, RG_DIMS(4 * c->H, c->H), rng);
 *   rg_init_orthogonal(c->weight_hh, 1.0, rng);
 *
 * Each works on a persistent F32 or F64 tensor in place, draws its values from
 * rng in flat (row-major) order and returns 0, or -1 with rg_last_error()
 * naming the function and the tensor's shape (a NULL or I32 tensor, a rank the
 * rule needs but t lacks, bad bounds).  The random ones given rng == NULL leave
 * t unchanged and return 0, like rg_cell_param: a cell's init is called without
 * an rng when its values are about to be loaded from a checkpoint.
 *
 * Fans (PyTorch's _calculate_fan_in_and_fan_out): for t [O,I,k...] with
 * receptive field r = prod(k...), fan_in = I*r and fan_out = O*r. */
#ifndef RG_INIT_H
#define RG_INIT_H
#include "rg_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* U(lo, hi); lo <= hi. */
int rg_init_uniform(rg_tensor *t, double lo, double hi, rg_rng *rng);
/* N(mean, std^2); std >= 0. */
int rg_init_normal(rg_tensor *t, double mean, double std, rg_rng *rng);
/* Glorot & Bengio: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)); rank >= 2. */
int rg_init_xavier_uniform(rg_tensor *t, double gain, rg_rng *rng);
/* N(0, s^2) with s = gain * sqrt(2 / (fan_in + fan_out)); rank >= 2. */
int rg_init_xavier_normal(rg_tensor *t, double gain, rg_rng *rng);
/* Saxe et al.: t viewed as [rows, numel/rows] becomes gain * Q, Q with
 * orthonormal columns (rows >= cols) or rows (rows < cols), from the QR
 * decomposition of a standard normal draw with R's diagonal made positive
 * (torch.nn.init.orthogonal_); rank >= 2. */
int rg_init_orthogonal(rg_tensor *t, double gain, rg_rng *rng);
int rg_init_zeros(rg_tensor *t);
int rg_init_constant(rg_tensor *t, double value);
/* fan_in and fan_out as above (either pointer may be NULL); rank >= 2. */
int rg_init_fans(const rg_tensor *t, int64_t *fan_in, int64_t *fan_out);

#ifdef __cplusplus
}
#endif
#endif
