/* Hessian- and Gauss-Newton-vector products of a loss of a parameter registry
 * (rg_curvature.h), written with rg_autograd: a recorded first backward, then
 * plain reverse sweeps through it. */
#include "rg_curvature.h"

#include <stdlib.h>
#include <string.h>

enum { HESSIAN, GAUSS_NEWTON };

struct rg_curvature {
    int kind;
    rg_tape *tp;
    bool own_tape;
    int n;                 /* parameters */
    rg_tensor **theta;     /* [n] the registry's tensors (borrowed) */
    rg_tensor **g;         /* [n] Hessian: dL/dθ recorded; GN: J^T u recorded */
    double loss;
    /* Gauss-Newton only */
    rg_tensor *z;          /* the model's outputs */
    rg_tensor *zd;         /* z cut from its history: the loss's input */
    rg_tensor *gz;         /* dL/dz recorded (a function of zd) */
    rg_tensor *u;          /* the dummy seed of J^T u */
};

/* A message on the tape and in rg_last_error, naming fn. */
static int fail(rg_tape *tp, const char *fn)
{
    const char *m = tp ? rg_tape_error(tp) : NULL;
    rg_set_error("%s: %s", fn, m ? m : rg_last_error());
    return -1;
}

static rg_curvature *curvature_new(rg_tape *tp, const rg_params *P, int kind, const char *fn)
{
    if (!P || rg_params_count(P) < 1) {
        rg_set_error("%s: no parameters (a NULL or empty registry)", fn);
        return NULL;
    }
    rg_curvature *c = calloc(1, sizeof *c);
    if (!c) {
        rg_set_error("%s: out of memory", fn);
        return NULL;
    }
    c->kind = kind;
    c->n = rg_params_count(P);
    c->theta = calloc((size_t)c->n, sizeof *c->theta);
    c->g = calloc((size_t)c->n, sizeof *c->g);
    c->tp = tp ? tp : rg_tape_new();
    c->own_tape = !tp;
    if (!c->theta || !c->g || !c->tp) {
        rg_curvature_free(c);
        rg_set_error("%s: out of memory", fn);
        return NULL;
    }
    rg_params_tensors(P, c->theta, c->n);
    return c;
}

/* The loss: a scalar of a float dtype, its value kept. */
static int check_loss(rg_curvature *c, rg_tensor *L, const char *fn)
{
    if (!L)
        return fail(c->tp, fn);
    if (L->numel != 1 || L->dtype == RG_I32) {
        char s[64];
        rg_op_error(c->tp, "%s: the loss is a %s %s, not a float scalar", fn,
                    rg_shape_str(L, s, sizeof s), rg_dtype_name(L->dtype));
        return -1;
    }
    c->loss = rg_get(L, 0);
    return 0;
}

rg_curvature *rg_curvature_hessian(rg_tape *tp, const rg_params *P, rg_scalar_fn f, void *user)
{
    static const char fn[] = "rg_curvature_hessian";
    if (!f) {
        rg_set_error("%s: NULL loss function", fn);
        return NULL;
    }
    rg_curvature *c = curvature_new(tp, P, HESSIAN, fn);
    if (!c)
        return NULL;
    bool was = rg_tape_set_grad_enabled(c->tp, true);
    rg_tensor *L = f(c->tp, user);
    int rc = check_loss(c, L, fn);
    if (rc == 0 && rg_autograd(c->tp, 1, &L, NULL, c->n, c->theta, c->g, true) != 0)
        rc = fail(c->tp, fn);
    rg_tape_set_grad_enabled(c->tp, was);
    if (rc != 0) {
        rg_curvature_free(c);
        return NULL;
    }
    return c;
}

rg_curvature *rg_curvature_gauss_newton(rg_tape *tp, const rg_params *P, rg_outputs_fn model,
                                        rg_output_loss_fn loss, void *user)
{
    static const char fn[] = "rg_curvature_gauss_newton";
    if (!model || !loss) {
        rg_set_error("%s: NULL model or loss function", fn);
        return NULL;
    }
    rg_curvature *c = curvature_new(tp, P, GAUSS_NEWTON, fn);
    if (!c)
        return NULL;
    rg_tape *t = c->tp;
    bool was = rg_tape_set_grad_enabled(t, true);
    int rc = 0;
    rg_tensor *L = NULL;
    c->z = model(t, user);
    if (!c->z)
        rc = fail(t, fn);
    else if (c->z->dtype == RG_I32)
        rc = rg_op_error(t, "%s: the model's outputs are integers", fn);
    if (rc == 0) {
        c->zd = rg_detach(t, c->z);
        rg_set_requires_grad(c->zd, true);
        L = c->zd ? loss(t, c->zd, user) : NULL;
        rc = check_loss(c, L, fn);
    }
    /* dL/dz recorded, so that H_L w = d<dL/dz, w>/dz; J^T u recorded, so that
     * J v = d<J^T u, v>/du */
    if (rc == 0 && rg_autograd(t, 1, &L, NULL, 1, &c->zd, &c->gz, true) != 0)
        rc = fail(t, fn);
    if (rc == 0) {
        c->u = rg_zeros(t, c->z->dtype, c->z->rank, c->z->shape);
        rg_set_requires_grad(c->u, true);
        if (!c->u || rg_autograd(t, 1, &c->z, &c->u, c->n, c->theta, c->g, true) != 0)
            rc = fail(t, fn);
    }
    rg_tape_set_grad_enabled(t, was);
    if (rc != 0) {
        rg_curvature_free(c);
        return NULL;
    }
    return c;
}

double rg_curvature_loss(const rg_curvature *c)
{
    return c ? c->loss : 0.0;
}

/* v[i] as a tensor of parameter i's dtype and shape (v[i] itself when it is
 * one), for a seed of rg_autograd */
static int directions(rg_curvature *c, rg_tensor *const *v, rg_tensor **w, const char *fn)
{
    if (!v) {
        rg_set_error("%s: NULL directions", fn);
        return -1;
    }
    for (int i = 0; i < c->n; i++) {
        const rg_tensor *p = c->theta[i];
        char a[64], b[64];
        if (!v[i] || v[i]->numel != p->numel || v[i]->dtype == RG_I32) {
            rg_set_error("%s: direction %d is %s %s, parameter %d is %s %s", fn, i,
                        v[i] ? rg_shape_str(v[i], a, sizeof a) : "NULL",
                        v[i] ? rg_dtype_name(v[i]->dtype) : "", i,
                        rg_shape_str(p, b, sizeof b), rg_dtype_name(p->dtype));
            return -1;
        }
        if (v[i]->dtype == p->dtype && rg_same_shape(v[i], p)) {
            w[i] = v[i];
            continue;
        }
        w[i] = rg_tensor_new(c->tp, p->dtype, p->rank, p->shape);
        if (!w[i] || rg_tensor_copy(w[i], v[i]) != 0)
            return fail(c->tp, fn);
    }
    return 0;
}

/* out[i] = r[i]: into the given tensor, or a new persistent copy (on failure
 * the copies made here are freed and their slots NULL again) */
static int deliver(rg_curvature *c, rg_tensor **r, rg_tensor **out, const char *fn)
{
    int i, rc = 0;
    bool *made = calloc((size_t)c->n, sizeof *made);
    if (!made) {
        rg_set_error("%s: out of memory", fn);
        return -1;
    }
    for (i = 0; i < c->n && rc == 0; i++) {
        if (out[i] && rg_tensor_copy(out[i], r[i]) != 0) {
            char a[64], b[64];
            rg_set_error("%s: output %d is %s, parameter %d is %s", fn, i,
                         rg_shape_str(out[i], a, sizeof a), i,
                         rg_shape_str(c->theta[i], b, sizeof b));
            rc = -1;
        } else if (!out[i]) {
            made[i] = (out[i] = rg_tensor_clone(r[i])) != NULL;
            rc = made[i] ? 0 : -1;
        }
    }
    for (i = 0; rc != 0 && i < c->n; i++)
        if (made[i]) {
            rg_tensor_free(out[i]);
            out[i] = NULL;
        }
    free(made);
    return rc;
}

int rg_curvature_grad(rg_curvature *c, rg_tensor **g)
{
    static const char fn[] = "rg_curvature_grad";
    if (!c || !g) {
        rg_set_error("%s: NULL context or output", fn);
        return -1;
    }
    if (c->kind == HESSIAN)
        return deliver(c, c->g, g, fn);
    rg_tensor **r = rg_tape_alloc(c->tp, (size_t)c->n * sizeof *r);
    if (!r || rg_autograd(c->tp, 1, &c->z, &c->gz, c->n, c->theta, r, false) != 0)
        return fail(c->tp, fn);
    return deliver(c, r, g, fn);
}

int rg_curvature_apply(rg_curvature *c, rg_tensor *const *v, rg_tensor **out)
{
    static const char fn[] = "rg_curvature_apply";
    if (!c || !out) {
        rg_set_error("%s: NULL context or output", fn);
        return -1;
    }
    rg_tape *t = c->tp;
    rg_tensor **w = rg_tape_alloc(t, 2 * (size_t)c->n * sizeof *w), **r = w ? w + c->n : NULL;
    if (!w)
        return fail(t, fn);
    if (directions(c, v, w, fn) != 0)
        return -1;
    if (c->kind == HESSIAN) { /* H v = d<g, v>/dθ: g seeded with v */
        if (rg_autograd(t, c->n, c->g, w, c->n, c->theta, r, false) != 0)
            return fail(t, fn);
        return deliver(c, r, out, fn);
    }
    rg_tensor *jv = NULL, *hjv = NULL;
    if (rg_autograd(t, c->n, c->g, w, 1, &c->u, &jv, false) != 0 ||     /* J v */
        rg_autograd(t, 1, &c->gz, &jv, 1, &c->zd, &hjv, false) != 0 ||  /* H_L J v */
        rg_autograd(t, 1, &c->z, &hjv, c->n, c->theta, r, false) != 0)  /* J^T H_L J v */
        return fail(t, fn);
    return deliver(c, r, out, fn);
}

void rg_curvature_free(rg_curvature *c)
{
    if (!c)
        return;
    if (c->own_tape)
        rg_tape_free(c->tp);
    free(c->theta);
    free(c->g);
    free(c);
}

/* one product at a fresh point */
static int one_product(rg_curvature *c, rg_tensor *const *v, rg_tensor **out, double *loss)
{
    if (!c)
        return -1;
    int rc = rg_curvature_apply(c, v, out);
    if (rc == 0 && loss)
        *loss = c->loss;
    rg_curvature_free(c);
    return rc;
}

int rg_hvp(rg_tape *tp, const rg_params *P, rg_scalar_fn f, void *user, rg_tensor *const *v,
           rg_tensor **Hv, double *loss)
{
    return one_product(rg_curvature_hessian(tp, P, f, user), v, Hv, loss);
}

int rg_gnvp(rg_tape *tp, const rg_params *P, rg_outputs_fn model, rg_output_loss_fn loss,
            void *user, rg_tensor *const *v, rg_tensor **Gv, double *loss_value)
{
    return one_product(rg_curvature_gauss_newton(tp, P, model, loss, user), v, Gv, loss_value);
}

rg_params *rg_params_like(const rg_params *P)
{
    if (!P) {
        rg_set_error("rg_params_like: NULL registry");
        return NULL;
    }
    rg_params *V = rg_params_new();
    for (int i = 0; V && i < rg_params_count(P); i++) {
        const char *name;
        const rg_tensor *p = rg_params_at(P, i, &name);
        rg_tensor *t = rg_params_add(V, name, p->dtype, p->rank, p->shape);
        if (!t) {
            rg_params_free(V);
            return NULL;
        }
        rg_set_requires_grad(t, false);
    }
    return V;
}

int rg_params_tensors(const rg_params *P, rg_tensor **t, int max)
{
    int n = rg_params_count(P);
    if (!P || !t || max < n) {
        rg_set_error("rg_params_tensors: room for %d tensors, the registry has %d", t ? max : 0,
                     n);
        return -1;
    }
    for (int i = 0; i < n; i++)
        t[i] = rg_params_at(P, i, NULL);
    return n;
}
