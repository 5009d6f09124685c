/* Curvature of a scalar function of a parameter registry: Hessian-vector
 * products (rg_hvp) and Gauss-Newton-vector products (rg_gnvp), exact, built
 * on gradients of gradients (rg_autograd with create_graph, ops/rg_ops.h).
 *
 *   H v = d<g, v>/dθ               g = dL/dθ recorded (create_graph)
 *   G v = J^T H_L J v              J = dz/dθ, H_L = d²L/dz², z the model's outputs
 *
 * J v has no forward mode here; it comes from the double-backward trick: with
 * a dummy seed u of z's shape, J^T u is recorded (linear in u), and
 * J v = d<J^T u, v>/du.  H_L J v = d<dL/dz, J v>/dz, and the last J^T is a
 * fresh forward and a fast backward seeded with it.  G is positive semi-definite when L is convex in z
 * (squared error, cross-entropy on logits): the matrix of Hessian-free
 * training (Martens 2010, Martens & Sutskever 2011).
 *
 * Directions and products are arrays of tensors in registry order, one per
 * parameter of P with its shape (rg_params_at(P, i)); rg_params_like(P) makes
 * a registry of zeros that lines up with P for them (rg_params_tensors reads
 * its tensors into an array).  An output slot out[i] that is NULL gets a new
 * persistent tensor (the caller frees it); a non-NULL one is written into
 * (same number of elements; float32/float64 converted).
 *
 * The work tape.  Each product runs on a scratch tape: tp, which it resets
 * and switches to private gradients (rg_tape_set_private_grads), so no
 * tensor's .grad changes and threads may compute products over the same
 * parameters at once, each with its own tape.  It leaves tp reset, with
 * private gradients off (switch them on again if the tape had them) and
 * its arena kept: reuse one tape across calls so no arena is allocated
 * again.  NULL: a temporary tape.  The callbacks may be called more than
 * once per product: they must compute the same function each time (dropout
 * masks from a fixed seed, not a running generator).
 *
 * Cost, in units of one gradient (a forward and a fast backward):
 *   rg_hvp   one forward, one recorded backward with create_graph, and one
 *            fast reverse sweep (rg_backward) back through both, from
 *            <dL/dθ, v>.
 *   rg_gnvp  one forward, the recorded J^T u (create_graph), one fast sweep
 *            back through it and the forward (J v), one through the loss, then
 *            a fresh forward and a fast backward (J^T).
 * Measured (bench/hvp.c, char-LM batch 32 x unroll 64, float32, one thread,
 * AMD EPYC Zen 4 under KVM, OpenBLAS 0.3.21 Cooperlake, on a shared, loaded
 * machine: +-10%): LSTM 2x256 H v 3.2, G v 4.2 gradients; LSTM 1x128 3.5 and
 * 4.3; GRU 2x256 3.6 and 5.1; RNN-tanh 2x256 3.3 and 4.2.  Memory: the
 * recorded backward and the gradients through it stay on the tape until the
 * product is done: 491 MB of arena at the peak of an H v of the 2x256 LSTM
 * against 87 MB for a gradient (README "Gradients of gradients").
 *
 * Errors: -1 with rg_last_error() naming the function (a direction of the
 * wrong size, a loss that is not a scalar, an op on the way without a
 * recorded backward: "... op 'foo' has no recordable backward ..."). */
#ifndef RG_CURVATURE_H
#define RG_CURVATURE_H
#include "rg_core.h"
#include "rg_ops.h"
#include "rg_params.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The scalar loss as a function of the parameters: builds it on tp, reading
 * the parameters of the registry (through the model in user).  NULL on error
 * (the tape holds the message). */
typedef rg_tensor *(*rg_scalar_fn)(rg_tape *tp, void *user);
/* A model's outputs z (any shape) as a function of the parameters. */
typedef rg_tensor *(*rg_outputs_fn)(rg_tape *tp, void *user);
/* A loss on top of the outputs: z is a step tensor that requires a gradient,
 * cut from the model's history; the loss depends on the parameters only
 * through it.  A scalar, or NULL on error. */
typedef rg_tensor *(*rg_output_loss_fn)(rg_tape *tp, rg_tensor *z, void *user);

/* H v for the loss f builds: Hv[i] = sum_j d²L/dθ_i dθ_j v_j over the
 * parameters of P (in registry order), v[i] of parameter i's shape.  tp: the
 * scratch tape (see above) or NULL.  loss (may be NULL) gets L's value.  0 or
 * -1 (then no slot of Hv that was NULL has been filled). */
int rg_hvp(rg_tape *tp, const rg_params *P, rg_scalar_fn f, void *user, rg_tensor *const *v,
           rg_tensor **Hv, double *loss);
/* G v = J^T H_L J v for the loss `loss` on top of the outputs z = model(θ)
 * (J = dz/dθ, H_L = d²L/dz²), over the parameters of P; as rg_hvp. */
int rg_gnvp(rg_tape *tp, const rg_params *P, rg_outputs_fn model, rg_output_loss_fn loss,
            void *user, rg_tensor *const *v, rg_tensor **Gv, double *loss_value);

/* ---- directions shaped like a registry ----------------------------------------- */
/* A new registry with P's names, shapes and dtypes, all zeros, that require no
 * gradient: rg_params_at(V, i) lines up with rg_params_at(P, i).  NULL on error. */
rg_params *rg_params_like(const rg_params *P);
/* P's tensors in registry order into t[0..max); returns how many there are
 * (rg_params_count), or -1 when max is smaller. */
int rg_params_tensors(const rg_params *P, rg_tensor **t, int max);

#ifdef __cplusplus
}
#endif
#endif
