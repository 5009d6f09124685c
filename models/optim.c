/* Optimizers (SGD, Adam, AdamW), gradient clipping and learning-rate schedules;
 * see rg_optim.h.  Each update is a flat loop over a parameter's contiguous
 * data, gradient and state, written in the parameter's own precision in the
 * same order of operations as torch's single-tensor CPU path, so that float64
 * results agree with PyTorch to rounding. */
#include "retrograd.h"
#include "rg_kernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RG_PI 3.14159265358979323846

typedef struct optim_slot {
    rg_tensor *p;
    const char *pname;
    rg_tensor *step;  /* F64 [1] */
    rg_tensor *buf1;  /* momentum_buffer (SGD) or exp_avg (Adam); may be NULL */
    rg_tensor *buf2;  /* exp_avg_sq (Adam) */
} optim_slot;

struct rg_optim {
    rg_optim_config cfg;
    rg_params *P;
    int n;
    optim_slot *slot;
    int n_state;
    rg_tensor **state;
    char **state_name;
    int64_t steps;
};

/* ---- kernels ---------------------------------------------------------------
 * T is float or double; coefficients are rounded to T as torch rounds a Python
 * scalar to the tensor's dtype. */

/* SGD.  g: [n] gradient, b: [n] momentum buffer or NULL when momentum == 0. */
#define RG_SGD_KERNEL(T, NAME)                                                    \
    RG_KERNEL(NAME,                                                               \
              (T *restrict p, const T *restrict g, T *restrict b, int64_t n,      \
               const rg_optim_config *c, bool first),                              \
              (p, g, b, n, c, first)) {                                           \
        const T wd = (T)c->weight_decay, mom = (T)c->momentum;                    \
        const T keep = (T)(1.0 - c->dampening), nlr = (T)(-c->lr);                \
        const bool has_wd = c->weight_decay != 0.0;                               \
        for (int64_t i = 0; i < n; i++) {                                         \
            T d = g[i];                                                           \
            if (has_wd) d = d + wd * p[i];                                        \
            if (b) {                                                              \
                b[i] = first ? d : b[i] * mom + keep * d;                         \
                d = c->nesterov ? d + mom * b[i] : b[i];                          \
            }                                                                     \
            p[i] = p[i] + nlr * d;                                                \
        }                                                                         \
    }
RG_SGD_KERNEL(float, sgd_f32)
RG_SGD_KERNEL(double, sgd_f64)

/* Adam / AdamW at step t (this parameter's count, already incremented).
 * m, v: [n] first and second moments. */
#define RG_ADAM_KERNEL(T, SQRT, NAME)                                             \
    RG_KERNEL(NAME,                                                               \
              (T *restrict p, const T *restrict g, T *restrict m, T *restrict v,  \
               int64_t n, const rg_optim_config *c, double t),                     \
              (p, g, m, v, n, c, t)) {                                            \
        const bool decoupled = c->kind == RG_ADAMW;                               \
        const bool has_wd = !decoupled && c->weight_decay != 0.0;                 \
        const T wd = (T)c->weight_decay;                                          \
        const T shrink = (T)(1.0 - c->lr * c->weight_decay);                      \
        const T b1 = (T)c->beta1, a1 = (T)(1.0 - c->beta1);                       \
        const T b2 = (T)c->beta2, a2 = (T)(1.0 - c->beta2);                       \
        const double bc1 = 1.0 - pow(c->beta1, t);                                \
        const double bc2 = 1.0 - pow(c->beta2, t);                                \
        const T nstep = (T)(-(c->lr / bc1));                                      \
        const T bc2_sqrt = (T)sqrt(bc2);                                          \
        const T eps = (T)c->eps;                                                  \
        if (decoupled)                                                            \
            for (int64_t i = 0; i < n; i++) p[i] = p[i] * shrink;                 \
        for (int64_t i = 0; i < n; i++) {                                         \
            T gi = g[i];                                                          \
            if (has_wd) gi = gi + wd * p[i];                                      \
            m[i] = m[i] * b1 + a1 * gi;                                           \
            v[i] = v[i] * b2 + a2 * gi * gi;                                      \
            T denom = SQRT(v[i]) / bc2_sqrt + eps;                                \
            p[i] = p[i] + nstep * m[i] / denom;                                   \
        }                                                                         \
    }
RG_ADAM_KERNEL(float, sqrtf, adam_f32)
RG_ADAM_KERNEL(double, sqrt, adam_f64)

/* ---- construction ------------------------------------------------------------ */

rg_optim_config rg_optim_defaults(rg_optim_kind kind, double lr) {
    rg_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = lr;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    c.weight_decay = kind == RG_ADAMW ? 1e-2 : 0.0;
    return c;
}

const char *rg_optim_kind_name(rg_optim_kind kind) {
    switch (kind) {
    case RG_SGD: return "sgd";
    case RG_ADAM: return "adam";
    case RG_ADAMW: return "adamw";
    }
    return "unknown";
}

static int check_nonneg(const char *what, double v) {
    if (!isfinite(v) || v < 0.0) {
        rg_set_error("rg_optim_new: %s is %g, must be finite and >= 0", what, v);
        return -1;
    }
    return 0;
}

static int check_beta(const char *what, double v) {
    if (!isfinite(v) || v < 0.0 || v >= 1.0) {
        rg_set_error("rg_optim_new: %s is %g, must be in [0, 1)", what, v);
        return -1;
    }
    return 0;
}

static int check_config(const rg_optim_config *c) {
    if (c->kind != RG_SGD && c->kind != RG_ADAM && c->kind != RG_ADAMW) {
        rg_set_error("rg_optim_new: unknown optimizer kind %d", (int)c->kind);
        return -1;
    }
    if (check_nonneg("lr", c->lr) || check_nonneg("weight_decay", c->weight_decay)) return -1;
    if (c->kind == RG_SGD) {
        if (check_nonneg("momentum", c->momentum)) return -1;
        if (!isfinite(c->dampening)) {
            rg_set_error("rg_optim_new: dampening is %g, must be finite", c->dampening);
            return -1;
        }
        if (c->nesterov && (c->momentum <= 0.0 || c->dampening != 0.0)) {
            rg_set_error("rg_optim_new: nesterov needs momentum > 0 and dampening 0 "
                         "(momentum %g, dampening %g)", c->momentum, c->dampening);
            return -1;
        }
        return 0;
    }
    if (check_beta("beta1", c->beta1) || check_beta("beta2", c->beta2)) return -1;
    return check_nonneg("eps", c->eps);
}

/* Adds a state tensor named "<pname><suffix>"; returns it or NULL. */
static rg_tensor *add_state(rg_optim *o, const char *pname, const char *suffix, rg_dtype dt,
                            int rank, const int64_t *shape) {
    size_t len = strlen(pname) + strlen(suffix) + 1;
    char *name = malloc(len);
    rg_tensor *t = rg_zeros(NULL, dt, rank, shape);
    if (!name || !t) {
        free(name);
        rg_tensor_free(t);
        rg_set_error("rg_optim_new: out of memory for state of '%s'", pname);
        return NULL;
    }
    snprintf(name, len, "%s%s", pname, suffix);
    o->state[o->n_state] = t;
    o->state_name[o->n_state] = name;
    o->n_state++;
    return t;
}

rg_optim *rg_optim_new(rg_params *P, const rg_optim_config *cfg) {
    if (!P || !cfg) {
        rg_set_error("rg_optim_new: %s is NULL", P ? "config" : "parameter registry");
        return NULL;
    }
    if (check_config(cfg)) return NULL;
    int n = rg_params_count(P);
    if (n <= 0) {
        rg_set_error("rg_optim_new: the parameter registry is empty");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const char *name = NULL;
        rg_tensor *p = rg_params_at(P, i, &name);
        if (!p || (p->dtype != RG_F32 && p->dtype != RG_F64)) {
            rg_set_error("rg_optim_new: parameter '%s' is %s, must be f32 or f64",
                         name ? name : "?", p ? rg_dtype_name(p->dtype) : "NULL");
            return NULL;
        }
    }
    rg_optim *o = calloc(1, sizeof *o);
    int per = cfg->kind == RG_SGD ? (cfg->momentum != 0.0 ? 2 : 1) : 3;
    if (o) {
        o->slot = calloc((size_t)n, sizeof *o->slot);
        o->state = calloc((size_t)n * (size_t)per, sizeof *o->state);
        o->state_name = calloc((size_t)n * (size_t)per, sizeof *o->state_name);
    }
    if (!o || !o->slot || !o->state || !o->state_name) {
        rg_optim_free(o);
        rg_set_error("rg_optim_new: out of memory");
        return NULL;
    }
    o->cfg = *cfg;
    o->P = P;
    o->n = n;
    for (int i = 0; i < n; i++) {
        optim_slot *s = &o->slot[i];
        s->p = rg_params_at(P, i, &s->pname);
        s->step = add_state(o, s->pname, ".step", RG_F64, 1, (int64_t[]){1});
        if (!s->step) goto fail;
        if (cfg->kind == RG_SGD) {
            if (cfg->momentum != 0.0) {
                s->buf1 = add_state(o, s->pname, ".momentum_buffer", s->p->dtype, s->p->rank,
                                    s->p->shape);
                if (!s->buf1) goto fail;
            }
        } else {
            s->buf1 = add_state(o, s->pname, ".exp_avg", s->p->dtype, s->p->rank, s->p->shape);
            if (!s->buf1) goto fail;
            s->buf2 = add_state(o, s->pname, ".exp_avg_sq", s->p->dtype, s->p->rank,
                                s->p->shape);
            if (!s->buf2) goto fail;
        }
    }
    return o;
fail:
    rg_optim_free(o);
    return NULL;
}

void rg_optim_free(rg_optim *opt) {
    if (!opt) return;
    for (int i = 0; i < opt->n_state; i++) {
        rg_tensor_free(opt->state[i]);
        free(opt->state_name[i]);
    }
    free(opt->state);
    free(opt->state_name);
    free(opt->slot);
    free(opt);
}

/* ---- stepping ---------------------------------------------------------------- */

int rg_optim_step(rg_optim *opt) {
    if (!opt) {
        rg_set_error("rg_optim_step: optimizer is NULL");
        return -1;
    }
    if (rg_params_count(opt->P) != opt->n) {
        rg_set_error("rg_optim_step: the registry has %d parameters, the optimizer was "
                     "made for %d; make a new optimizer after adding parameters",
                     rg_params_count(opt->P), opt->n);
        return -1;
    }
    const rg_optim_config *c = &opt->cfg;
    for (int i = 0; i < opt->n; i++) {
        optim_slot *s = &opt->slot[i];
        if (!s->p->grad) continue;
        double *t = s->step->data;
        const bool first = t[0] == 0.0;
        t[0] += 1.0;
        if (c->kind == RG_SGD) {
            if (s->p->dtype == RG_F32)
                sgd_f32(s->p->data, s->p->grad, s->buf1 ? s->buf1->data : NULL, s->p->numel, c,
                        first);
            else
                sgd_f64(s->p->data, s->p->grad, s->buf1 ? s->buf1->data : NULL, s->p->numel, c,
                        first);
        } else if (s->p->dtype == RG_F32) {
            adam_f32(s->p->data, s->p->grad, s->buf1->data, s->buf2->data, s->p->numel, c, t[0]);
        } else {
            adam_f64(s->p->data, s->p->grad, s->buf1->data, s->buf2->data, s->p->numel, c, t[0]);
        }
    }
    opt->steps++;
    return 0;
}

void rg_optim_zero_grad(rg_optim *opt) {
    if (opt) rg_params_zero_grad(opt->P);
}

int rg_optim_set_lr(rg_optim *opt, double lr) {
    if (!opt) {
        rg_set_error("rg_optim_set_lr: optimizer is NULL");
        return -1;
    }
    if (!isfinite(lr) || lr < 0.0) {
        rg_set_error("rg_optim_set_lr: lr is %g, must be finite and >= 0", lr);
        return -1;
    }
    opt->cfg.lr = lr;
    return 0;
}

double rg_optim_lr(const rg_optim *opt) { return opt ? opt->cfg.lr : NAN; }

const rg_optim_config *rg_optim_get_config(const rg_optim *opt) {
    return opt ? &opt->cfg : NULL;
}

int64_t rg_optim_steps(const rg_optim *opt) { return opt ? opt->steps : -1; }

int rg_optim_set_steps(rg_optim *opt, int64_t steps) {
    if (!opt || steps < 0) {
        rg_set_error("rg_optim_set_steps: %s", opt ? "steps must be >= 0" : "optimizer is NULL");
        return -1;
    }
    opt->steps = steps;
    return 0;
}

/* ---- state --------------------------------------------------------------------- */

int rg_optim_state_count(const rg_optim *opt) { return opt ? opt->n_state : 0; }

rg_tensor *rg_optim_state_at(const rg_optim *opt, int i, const char **name) {
    if (!opt || i < 0 || i >= opt->n_state) {
        if (name) *name = NULL;
        return NULL;
    }
    if (name) *name = opt->state_name[i];
    return opt->state[i];
}

static int state_index(const rg_optim *opt, const char *name) {
    if (!opt || !name) return -1;
    for (int i = 0; i < opt->n_state; i++)
        if (strcmp(opt->state_name[i], name) == 0) return i;
    return -1;
}

rg_tensor *rg_optim_state_get(const rg_optim *opt, const char *name) {
    int i = state_index(opt, name);
    return i < 0 ? NULL : opt->state[i];
}

int rg_optim_state_load(rg_optim *opt, const char *name, const rg_tensor *src) {
    int i = state_index(opt, name);
    if (i < 0) {
        rg_set_error("rg_optim_state_load: %s '%s'", opt ? "no optimizer state named" : "optimizer is NULL",
                     name ? name : "(NULL)");
        return -1;
    }
    rg_tensor *dst = opt->state[i];
    char want[64], got[64];
    if (!src || src->dtype == RG_I32 || !rg_same_shape(dst, src)) {
        rg_set_error("rg_optim_state_load: '%s' is %s %s, got %s %s", name,
                     rg_dtype_name(dst->dtype), rg_shape_str(dst, want, sizeof want),
                     src ? rg_dtype_name(src->dtype) : "NULL",
                     src ? rg_shape_str(src, got, sizeof got) : "");
        return -1;
    }
    bool is_step = false;
    for (int k = 0; k < opt->n; k++) is_step = is_step || opt->slot[k].step == dst;
    if (is_step) {
        double v = rg_get(src, 0);
        if (!isfinite(v) || v < 0.0 || v != floor(v) || v > 9007199254740992.0) {
            rg_set_error("rg_optim_state_load: '%s' is %g, must be a non-negative integer",
                         name, v);
            return -1;
        }
    }
    return rg_tensor_copy(dst, src);
}

/* ---- clipping -------------------------------------------------------------------- */

/* Sum of squares of every gradient element, in double. */
RG_KERNEL_T(double, grad_sumsq, (const rg_params *P), (P)) {
    double ss = 0.0;
    int n = rg_params_count(P);
    for (int i = 0; i < n; i++) {
        const rg_tensor *p = rg_params_at(P, i, NULL);
        if (!p || !p->grad) continue;
        if (p->dtype == RG_F32) {
            /* eight independent partial sums: no serial dependency, so the
             * loop vectorises (float -> double, multiply-add) */
            const float *g = p->grad;
            double part[8] = {0};
            int64_t k = 0;
            for (; k + 8 <= p->numel; k += 8)
                for (int q = 0; q < 8; q++) part[q] += (double)g[k + q] * (double)g[k + q];
            for (; k < p->numel; k++) part[0] += (double)g[k] * (double)g[k];
            for (int q = 0; q < 8; q++) ss += part[q];
        } else if (p->dtype == RG_F64) {
            const double *g = p->grad;
            for (int64_t k = 0; k < p->numel; k++) ss += g[k] * g[k];
        }
    }
    return ss;
}

/* Records which parameter makes the norm non-finite. */
static void report_nonfinite(const rg_params *P, const char *fn, double total) {
    int n = rg_params_count(P);
    for (int i = 0; i < n; i++) {
        const char *name = NULL;
        const rg_tensor *p = rg_params_at(P, i, &name);
        if (!p || !p->grad || p->dtype == RG_I32) continue;
        for (int64_t k = 0; k < p->numel; k++) {
            double v = p->dtype == RG_F32 ? (double)((const float *)p->grad)[k]
                                          : ((const double *)p->grad)[k];
            if (!isfinite(v)) {
                rg_set_error("%s: total gradient norm is %g: the gradient of '%s' has %g at "
                             "index %lld; gradients left unchanged, skip this step",
                             fn, total, name ? name : "?", v, (long long)k);
                return;
            }
        }
    }
    rg_set_error("%s: total gradient norm overflows (%g); gradients left unchanged, skip "
                 "this step", fn, total);
}

double rg_grad_norm(const rg_params *P) {
    if (!P) {
        rg_set_error("rg_grad_norm: parameter registry is NULL");
        return -1.0;
    }
    double total = sqrt(grad_sumsq(P));
    if (!isfinite(total)) report_nonfinite(P, "rg_grad_norm", total);
    return total;
}

/* Every gradient times coef. */
RG_KERNEL(grad_scale, (rg_params *P, double coef), (P, coef)) {
    int n = rg_params_count(P);
    for (int i = 0; i < n; i++) {
        rg_tensor *p = rg_params_at(P, i, NULL);
        if (!p || !p->grad) continue;
        if (p->dtype == RG_F32) {
            float *g = p->grad;
            const float cf = (float)coef;
            for (int64_t k = 0; k < p->numel; k++) g[k] *= cf;
        } else if (p->dtype == RG_F64) {
            double *g = p->grad;
            for (int64_t k = 0; k < p->numel; k++) g[k] *= coef;
        }
    }
}

/* Every gradient element clamped to [-clip, clip]. */
RG_KERNEL(grad_clamp, (rg_params *P, double clip), (P, clip)) {
    int n = rg_params_count(P);
    for (int i = 0; i < n; i++) {
        rg_tensor *p = rg_params_at(P, i, NULL);
        if (!p || !p->grad) continue;
        if (p->dtype == RG_F32) {
            float *g = p->grad;
            const float hi = (float)clip;
            for (int64_t k = 0; k < p->numel; k++)
                g[k] = g[k] > hi ? hi : g[k] < -hi ? -hi : g[k];
        } else if (p->dtype == RG_F64) {
            double *g = p->grad;
            for (int64_t k = 0; k < p->numel; k++)
                g[k] = g[k] > clip ? clip : g[k] < -clip ? -clip : g[k];
        }
    }
}

double rg_clip_grad_norm(rg_params *P, double max_norm) {
    if (!P || !isfinite(max_norm) || max_norm < 0.0) {
        if (!P)
            rg_set_error("rg_clip_grad_norm: parameter registry is NULL");
        else
            rg_set_error("rg_clip_grad_norm: max_norm is %g, must be finite and >= 0", max_norm);
        return -1.0;
    }
    double total = sqrt(grad_sumsq(P));
    if (!isfinite(total)) {
        report_nonfinite(P, "rg_clip_grad_norm", total);
        return total;
    }
    double coef = max_norm / (total + 1e-6);
    if (coef >= 1.0) return total;
    grad_scale(P, coef);
    return total;
}

int rg_clip_grad_value(rg_params *P, double clip) {
    if (!P || !isfinite(clip) || clip < 0.0) {
        if (!P)
            rg_set_error("rg_clip_grad_value: parameter registry is NULL");
        else
            rg_set_error("rg_clip_grad_value: clip is %g, must be finite and >= 0", clip);
        return -1;
    }
    grad_clamp(P, clip);
    return 0;
}

/* ---- schedules --------------------------------------------------------------------- */

int rg_lr_schedule_check(const rg_lr_schedule *s) {
    const char *fn = "rg_lr_schedule";
    if (!s) {
        rg_set_error("%s: schedule is NULL", fn);
        return -1;
    }
    if (!isfinite(s->base_lr) || s->base_lr < 0.0) {
        rg_set_error("%s: base_lr is %g, must be finite and >= 0", fn, s->base_lr);
        return -1;
    }
    if (s->warmup < 0) {
        rg_set_error("%s: warmup is %lld, must be >= 0", fn, (long long)s->warmup);
        return -1;
    }
    switch (s->kind) {
    case RG_SCHED_CONSTANT:
        return 0;
    case RG_SCHED_STEP:
        if (s->step_size <= 0) {
            rg_set_error("%s: step_size is %lld, must be > 0", fn, (long long)s->step_size);
            return -1;
        }
        if (!isfinite(s->gamma) || s->gamma < 0.0) {
            rg_set_error("%s: gamma is %g, must be finite and >= 0", fn, s->gamma);
            return -1;
        }
        return 0;
    case RG_SCHED_COSINE:
        if (s->t_max <= 0) {
            rg_set_error("%s: t_max is %lld, must be > 0", fn, (long long)s->t_max);
            return -1;
        }
        if (!isfinite(s->eta_min) || s->eta_min < 0.0) {
            rg_set_error("%s: eta_min is %g, must be finite and >= 0", fn, s->eta_min);
            return -1;
        }
        return 0;
    }
    rg_set_error("%s: unknown schedule kind %d", fn, (int)s->kind);
    return -1;
}

double rg_lr_at(const rg_lr_schedule *s, int64_t step) {
    if (rg_lr_schedule_check(s)) return NAN;
    if (step < 0) {
        rg_set_error("rg_lr_at: step is %lld, must be >= 0", (long long)step);
        return NAN;
    }
    if (step < s->warmup) return s->base_lr * ((double)(step + 1) / (double)s->warmup);
    int64_t t = step - s->warmup;
    switch (s->kind) {
    case RG_SCHED_STEP:
        return s->base_lr * pow(s->gamma, (double)(t / s->step_size));
    case RG_SCHED_COSINE:
        return s->eta_min +
               (s->base_lr - s->eta_min) * (1.0 + cos((double)t * RG_PI / (double)s->t_max)) / 2.0;
    case RG_SCHED_CONSTANT:
        break;
    }
    return s->base_lr;
}
