/* Hessian- and Gauss-Newton-vector products of a loss of a parameter registry
 * (rg_curvature.h): the first backward recorded with rg_autograd(create_graph),
 * then reverse sweeps through it: the fast kernels (rg_backward) where the
 * tape's gradient buffers are still fresh, rg_autograd where they are not. */
#include "rg_curvature.h"

#include <stdlib.h>
#include <string.h>

/* One product's state. */
typedef struct work {
    const char *fn;        /* the public function, for messages */
    rg_tape *tp;
    bool own_tape, was_enabled;
    int n;                 /* parameters */
    rg_tensor **theta;     /* [n] the registry's tensors (borrowed) */
    rg_tensor **w;         /* [n] the directions, in the parameters' dtypes and shapes */
    rg_tensor **r;         /* [n] results (tensors on the tape) */
} work;

/* the tape's message (or the thread's), prefixed with the function */
static int fail(const work *k)
{
    const char *m = k->tp ? rg_tape_error(k->tp) : NULL;
    rg_set_error("%s: %s", k->fn, m ? m : rg_last_error());
    return -1;
}

/* v[i] as a tensor of parameter i's dtype and shape (v[i] itself when it is
 * one), for a seed */
static int directions(work *k, rg_tensor *const *v)
{
    if (!v) {
        rg_set_error("%s: NULL directions", k->fn);
        return -1;
    }
    for (int i = 0; i < k->n; i++) {
        const rg_tensor *p = k->theta[i];
        char a[64], b[64];
        if (!v[i] || v[i]->numel != p->numel || v[i]->dtype == RG_I32) {
            rg_set_error("%s: direction %d is %s %s, parameter %d is %s %s", k->fn, i,
                         v[i] ? rg_shape_str(v[i], a, sizeof a) : "NULL",
                         v[i] ? rg_dtype_name(v[i]->dtype) : "", i,
                         rg_shape_str(p, b, sizeof b), rg_dtype_name(p->dtype));
            return -1;
        }
        if (v[i]->dtype == p->dtype && rg_same_shape(v[i], p)) {
            k->w[i] = v[i];
            continue;
        }
        k->w[i] = rg_tensor_new(k->tp, p->dtype, p->rank, p->shape);
        if (!k->w[i] || rg_tensor_copy(k->w[i], v[i]) != 0)
            return fail(k);
    }
    return 0;
}

/* the caller's tape back to an ordinary one: reset, private gradients off */
static void work_end(work *k)
{
    if (k->tp) {
        rg_tape_set_grad_enabled(k->tp, k->was_enabled);
        rg_tape_reset(k->tp);
        rg_tape_set_private_grads(k->tp, false);
    }
    if (k->own_tape)
        rg_tape_free(k->tp);
    free(k->theta);
}

/* the scratch tape (reset, private gradients, recording on), the parameters
 * and the directions */
static int work_begin(work *k, rg_tape *tp, const rg_params *P, rg_tensor *const *v,
                      rg_tensor **out)
{
    if (!P || rg_params_count(P) < 1 || !out) {
        rg_set_error("%s: %s", k->fn, out ? "no parameters (a NULL or empty registry)"
                                          : "NULL output array");
        return -1;
    }
    k->n = rg_params_count(P);
    k->theta = calloc(3 * (size_t)k->n, sizeof *k->theta);
    k->tp = tp ? tp : rg_tape_new();
    k->own_tape = !tp;
    if (!k->theta || !k->tp) {
        rg_set_error("%s: out of memory", k->fn);
        return -1;
    }
    k->w = k->theta + k->n;
    k->r = k->w + k->n;
    rg_params_tensors(P, k->theta, k->n);
    rg_tape_reset(k->tp);
    k->was_enabled = rg_tape_set_grad_enabled(k->tp, true);
    if (rg_tape_set_private_grads(k->tp, true) != 0)
        return fail(k);
    return directions(k, v);
}

/* the loss: a float scalar; its value into *value (may be NULL) */
static int check_loss(work *k, rg_tensor *L, double *value)
{
    if (!L)
        return fail(k);
    if (L->numel != 1 || L->dtype == RG_I32) {
        char s[64];
        rg_set_error("%s: the loss is a %s %s, not a float scalar", k->fn,
                     rg_shape_str(L, s, sizeof s), rg_dtype_name(L->dtype));
        return -1;
    }
    if (value)
        *value = rg_get(L, 0);
    return 0;
}

/* sum_i <a_i, w_i> over the a_i that depend on something (NULL when none
 * does: the product is zero) */
static rg_tensor *inner_with_w(work *k, rg_tensor **a)
{
    rg_tensor *s = NULL;
    for (int i = 0; i < k->n; i++) {
        if (!(a[i]->flags & RG_REQUIRES_GRAD))
            continue;
        rg_tensor *d = rg_sum(k->tp, rg_mul(k->tp, a[i], k->w[i]));
        s = s ? rg_add(k->tp, s, d) : d;
        if (!s)
            return NULL;
    }
    return s;
}

/* k->r[i] = the private gradient of parameter i (zeros when none reached it) */
static int private_grads(work *k)
{
    for (int i = 0; i < k->n; i++) {
        const rg_tensor *p = k->theta[i];
        const void *g = rg_tape_private_grad(k->tp, p);
        k->r[i] = g ? rg_from_data(k->tp, p->dtype, p->rank, p->shape, g)
                    : rg_zeros(k->tp, p->dtype, p->rank, p->shape);
        if (!k->r[i])
            return fail(k);
    }
    return 0;
}

/* out[i] = k->r[i]: into the given tensor, or a new persistent copy (on
 * failure the copies made here are freed and their slots NULL again) */
static int deliver(work *k, rg_tensor **out)
{
    int i, rc = 0;
    bool *made = calloc((size_t)k->n, sizeof *made);
    if (!made) {
        rg_set_error("%s: out of memory", k->fn);
        return -1;
    }
    for (i = 0; i < k->n && rc == 0; i++) {
        if (out[i] && rg_tensor_copy(out[i], k->r[i]) != 0) {
            char a[64], b[64];
            rg_set_error("%s: output %d is %s, parameter %d is %s", k->fn, i,
                         rg_shape_str(out[i], a, sizeof a), i,
                         rg_shape_str(k->theta[i], b, sizeof b));
            rc = -1;
        } else if (!out[i]) {
            made[i] = (out[i] = rg_tensor_clone(k->r[i])) != NULL;
            rc = made[i] ? 0 : -1;
        }
    }
    for (i = 0; rc != 0 && i < k->n; i++)
        if (made[i]) {
            rg_tensor_free(out[i]);
            out[i] = NULL;
        }
    free(made);
    return rc;
}

/* H v = d<g, v>/dθ with g = dL/dθ recorded: the fast sweep from <g, v> runs
 * back through the recorded backward and the forward */
static int hessian_product(work *k, rg_scalar_fn f, void *user, double *loss)
{
    rg_tensor *L = f(k->tp, user);
    if (check_loss(k, L, loss) != 0)
        return -1;
    rg_tensor **g = k->r;
    if (rg_autograd(k->tp, 1, &L, NULL, k->n, k->theta, g, true) != 0)
        return fail(k);
    rg_tensor *s = inner_with_w(k, g);
    if (rg_tape_error(k->tp) || (s && rg_backward(k->tp, s) != 0))
        return fail(k);
    return private_grads(k);
}

int rg_hvp(rg_tape *tp, const rg_params *P, rg_scalar_fn f, void *user, rg_tensor *const *v,
           rg_tensor **Hv, double *loss)
{
    work k = {.fn = "rg_hvp"};
    int rc = -1;
    if (!f)
        rg_set_error("rg_hvp: NULL loss function");
    else if (work_begin(&k, tp, P, v, Hv) == 0 && hessian_product(&k, f, user, loss) == 0)
        rc = deliver(&k, Hv);
    work_end(&k);
    return rc;
}

/* G v = J^T H_L J v.  J^T u is recorded with a dummy seed u; J v =
 * d<J^T u, v>/du by the fast sweep (u's gradient; the sweep also runs on
 * through the forward and leaves the tape's gradient buffers used) and
 * H_L J v = d<dL/dz, J v>/dz by rg_autograd.  Then the tape is reset, and J^T
 * of that is a fresh forward and one fast backward seeded with it: cheaper
 * than rg_autograd through the model's recorded rules. */
static int gauss_newton_product(work *k, rg_outputs_fn model, rg_output_loss_fn loss,
                                void *user, double *value)
{
    rg_tape *t = k->tp;
    rg_tensor *z = model(t, user), *zd = NULL, *L = NULL, *gz = NULL, *u = NULL;
    if (!z)
        return fail(k);
    if (z->dtype == RG_I32) {
        rg_set_error("%s: the model's outputs are integers", k->fn);
        return -1;
    }
    zd = rg_detach(t, z);
    rg_set_requires_grad(zd, true);
    L = zd ? loss(t, zd, user) : NULL;
    if (check_loss(k, L, value) != 0)
        return -1;
    u = rg_zeros(t, z->dtype, z->rank, z->shape);
    rg_set_requires_grad(u, true);
    rg_tensor **jtu = k->r;
    if (!u || rg_autograd(t, 1, &L, NULL, 1, &zd, &gz, true) != 0 ||
        rg_autograd(t, 1, &z, &u, k->n, k->theta, jtu, true) != 0)
        return fail(k);
    rg_tensor *s = inner_with_w(k, jtu), *jv = NULL, *hjv = NULL;
    if (rg_tape_error(t) || (s && rg_backward(t, s) != 0))
        return fail(k);
    jv = u->grad ? rg_from_data(t, u->dtype, u->rank, u->shape, u->grad)
                 : rg_zeros(t, u->dtype, u->rank, u->shape);
    if (!jv || rg_autograd(t, 1, &gz, &jv, 1, &zd, &hjv, false) != 0)
        return fail(k);
    rg_tensor *w = rg_tensor_clone(hjv); /* outlives the reset */
    if (!w)
        return fail(k);
    rg_tape_reset(t);
    int rc = rg_tape_set_private_grads(t, true) == 0 && (z = model(t, user)) ? 0 : fail(k);
    if (rc == 0 && z->numel != w->numel) {
        rg_set_error("%s: the model's outputs changed size between two calls (%lld, then "
                     "%lld elements)", k->fn, (long long)w->numel, (long long)z->numel);
        rc = -1;
    }
    if (rc == 0 && (z->flags & RG_REQUIRES_GRAD) && rg_backward_seed(t, z, w) != 0)
        rc = fail(k);
    rg_tensor_free(w);
    return rc == 0 ? private_grads(k) : -1;
}

int rg_gnvp(rg_tape *tp, const rg_params *P, rg_outputs_fn model, rg_output_loss_fn loss,
            void *user, rg_tensor *const *v, rg_tensor **Gv, double *loss_value)
{
    work k = {.fn = "rg_gnvp"};
    int rc = -1;
    if (!model || !loss)
        rg_set_error("rg_gnvp: NULL model or loss function");
    else if (work_begin(&k, tp, P, v, Gv) == 0 &&
             gauss_newton_product(&k, model, loss, user, loss_value) == 0)
        rc = deliver(&k, Gv);
    work_end(&k);
    return rc;
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
