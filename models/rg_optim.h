/* Optimizers over a parameter registry (SGD, Adam, AdamW with torch.optim's
 * exact update formulas), gradient clipping (torch.nn.utils.clip_grad_norm_ and
 * clip_grad_value_), learning-rate schedules as pure functions of the step, and
 * the optimizer state as named tensors for checkpoints.
 *
 *   rg_optim_config c = rg_optim_defaults(RG_ADAMW, 1e-3);
 *   rg_optim *opt = rg_optim_new(P, &c);            // NULL + rg_last_error() on bad c
 *   rg_lr_schedule s = {.kind = RG_SCHED_COSINE, .base_lr = 1e-3, .t_max = 1000,
 *                       .warmup = 100};
 *   for (...) {
 *       rg_params_zero_grad(P);  ...forward, rg_backward...
 *       double norm = rg_clip_grad_norm(P, 1.0);
 *       if (!isfinite(norm)) { fprintf(stderr, "%s\n", rg_last_error()); continue; }
 *       rg_optim_set_lr(opt, rg_lr_at(&s, rg_optim_steps(opt)));
 *       rg_optim_step(opt);
 *   }
 *   rg_optim_free(opt);
 *
 * Memory: the optimizer allocates all its state once, in rg_optim_new (one
 * persistent tensor per buffer, in the parameter's dtype); rg_optim_step is a
 * flat loop per parameter over contiguous arrays and calls no malloc.  The
 * registry must outlive the optimizer and must not gain parameters after
 * rg_optim_new (rg_optim_step then fails).
 *
 * Gradients: a parameter whose grad is NULL (never received one) is skipped by
 * a step, as torch skips a parameter whose .grad is None; its own step count
 * does not advance.  A zeroed gradient is a gradient: the step still applies
 * weight decay and momentum to it, as in torch.
 */
#ifndef RG_OPTIM_H
#define RG_OPTIM_H
#include "rg_core.h"
#include "rg_params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rg_optim_kind {
    RG_SGD = 0,
    RG_ADAM = 1,
    RG_ADAMW = 2
} rg_optim_kind;

/* Hyper-parameters; the fields a kind does not use are ignored.  Every value
 * must be finite.
 *   SGD   (torch.optim.SGD, maximize=False)
 *         g = grad + weight_decay * p
 *         b = g at a parameter's first step, else momentum * b + (1 - dampening) * g
 *         d = nesterov ? g + momentum * b : b        (d = g when momentum == 0)
 *         p = p - lr * d
 *   Adam  (torch.optim.Adam, amsgrad=False; weight decay is an L2 term in g)
 *         t = t + 1;  g = grad + weight_decay * p
 *         m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
 *         denom = sqrt(v) / sqrt(1 - beta2^t) + eps
 *         p = p + (-lr / (1 - beta1^t)) * m / denom
 *   AdamW (torch.optim.AdamW): p = p * (1 - lr * weight_decay) first, then Adam
 *         with g = grad. */
typedef struct rg_optim_config {
    rg_optim_kind kind;
    double lr;            /* >= 0 */
    double momentum;      /* SGD: >= 0 */
    double dampening;     /* SGD; must be 0 with nesterov */
    bool nesterov;        /* SGD; needs momentum > 0 */
    double beta1, beta2;  /* Adam/AdamW: each in [0, 1) */
    double eps;           /* Adam/AdamW: >= 0 */
    double weight_decay;  /* >= 0 */
} rg_optim_config;

/* torch's defaults for kind: SGD momentum 0, dampening 0, no nesterov, no
 * weight decay; Adam betas (0.9, 0.999), eps 1e-8, weight_decay 0; AdamW the
 * same with weight_decay 1e-2. */
rg_optim_config rg_optim_defaults(rg_optim_kind kind, double lr);
const char *rg_optim_kind_name(rg_optim_kind kind);   /* "sgd", "adam", "adamw" */

typedef struct rg_optim rg_optim;

/* An optimizer over every tensor of P (F32 or F64), with zeroed state and a
 * step count of 0.  NULL, with a message naming the bad field ("rg_optim_new:
 * lr is -0.1, must be >= 0"), on a bad config, an empty or NULL registry, a
 * parameter of another dtype, or no memory.  Free with rg_optim_free. */
rg_optim *rg_optim_new(rg_params *P, const rg_optim_config *cfg);
void rg_optim_free(rg_optim *opt);   /* frees the state tensors; NULL is fine */

/* One update of every parameter that has a gradient, then the step count + 1.
 * 0, or -1 with a message (NULL optimizer, registry changed since rg_optim_new). */
int rg_optim_step(rg_optim *opt);
/* Calls rg_params_zero_grad on the optimizer's registry. */
void rg_optim_zero_grad(rg_optim *opt);

/* The learning rate used by the next steps; -1 with a message when lr is
 * negative or not finite (the old value is kept). */
int rg_optim_set_lr(rg_optim *opt, double lr);
double rg_optim_lr(const rg_optim *opt);
const rg_optim_config *rg_optim_get_config(const rg_optim *opt);

/* Number of rg_optim_step calls so far (restored by rg_optim_set_steps). */
int64_t rg_optim_steps(const rg_optim *opt);
/* Sets the step count (a resume); -1 with a message when steps < 0.  The
 * per-parameter counts ("<param>.step") are state tensors and are not changed. */
int rg_optim_set_steps(rg_optim *opt, int64_t steps);

/* ---- state for checkpoints ------------------------------------------------
 * The state is a list of named persistent tensors owned by the optimizer, in
 * parameter order:
 *   "<param>.step"             F64 [1]: updates this parameter has received
 *                              (torch's state['step']; for SGD it also marks
 *                              whether the momentum buffer has been started)
 *   "<param>.momentum_buffer"  SGD with momentum != 0; param's dtype and shape
 *   "<param>.exp_avg"          Adam/AdamW; param's dtype and shape
 *   "<param>.exp_avg_sq"       Adam/AdamW; param's dtype and shape
 * A checkpoint saves these tensors, rg_optim_steps() and the learning rate; a
 * resume builds an optimizer with the same config over the same registry,
 * loads each tensor with rg_optim_state_load and calls rg_optim_set_steps and
 * rg_optim_set_lr.  The next step then gives exactly the weights that the
 * uninterrupted run would have given. */
int rg_optim_state_count(const rg_optim *opt);
/* i-th state tensor (NULL when i is out of range); *name (when non-NULL) gets
 * its name, owned by the optimizer. */
rg_tensor *rg_optim_state_at(const rg_optim *opt, int i, const char **name);
rg_tensor *rg_optim_state_get(const rg_optim *opt, const char *name);  /* NULL if absent */
/* Copies src's values into the state tensor called name (float dtypes are
 * converted).  -1 with a message when the name is unknown, src is NULL, or the
 * shapes differ; a ".step" value must be a non-negative integer. */
int rg_optim_state_load(rg_optim *opt, const char *name, const rg_tensor *src);

/* ---- gradient clipping ------------------------------------------------------
 * Both skip parameters whose grad is NULL. */

/* torch.nn.utils.clip_grad_norm_ with norm_type 2: total = sqrt of the sum of
 * squares of every gradient element (accumulated in double); when
 * c = max_norm / (total + 1e-6) is below 1, every gradient is multiplied by c.
 * Returns total (0 when no parameter has a gradient).
 * A non-finite total (a NaN or Inf gradient, or an overflow) is returned as it
 * is, the gradients are left unchanged, and rg_last_error() names the first
 * parameter with a non-finite gradient: the caller should skip the step.
 * A bad argument (P NULL, max_norm negative or not finite) returns -1 with a
 * message; a norm is never negative, so `norm < 0` tells the two apart. */
double rg_clip_grad_norm(rg_params *P, double max_norm);
/* The same total norm without changing anything (same return values). */
double rg_grad_norm(const rg_params *P);
/* torch.nn.utils.clip_grad_value_: clamps every gradient element to
 * [-clip, clip] (a NaN stays NaN).  0, or -1 with a message when P is NULL or
 * clip is negative or not finite. */
int rg_clip_grad_value(rg_params *P, double clip);

/* ---- learning-rate schedules ------------------------------------------------
 * A schedule is a pure function of the step count (the value of
 * rg_optim_steps() before a step, torch's last_epoch):
 *   RG_SCHED_CONSTANT  lr = base_lr
 *   RG_SCHED_STEP      lr = base_lr * gamma^floor(t / step_size)       (StepLR)
 *   RG_SCHED_COSINE    lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / t_max)) / 2
 *                      (CosineAnnealingLR's closed form; periodic past t_max)
 * with t = step.  A linear warm-up (warmup > 0) composes with any of them: for
 * step < warmup, lr = base_lr * (step + 1) / warmup; from then on the schedule
 * above runs with t = step - warmup.  (torch: LambdaLR with that factor.) */
typedef enum rg_sched_kind {
    RG_SCHED_CONSTANT = 0,
    RG_SCHED_STEP = 1,
    RG_SCHED_COSINE = 2
} rg_sched_kind;

typedef struct rg_lr_schedule {
    rg_sched_kind kind;
    double base_lr;       /* >= 0 */
    int64_t step_size;    /* STEP: > 0 */
    double gamma;         /* STEP: >= 0 */
    int64_t t_max;        /* COSINE: > 0 */
    double eta_min;       /* COSINE: >= 0 */
    int64_t warmup;       /* >= 0; 0 = none */
} rg_lr_schedule;

/* 0 when s is valid, else -1 with a message naming the field. */
int rg_lr_schedule_check(const rg_lr_schedule *s);
/* The learning rate at step (>= 0).  NaN, with a message, when s is invalid or
 * step is negative. */
double rg_lr_at(const rg_lr_schedule *s, int64_t step);

#ifdef __cplusplus
}
#endif
#endif
