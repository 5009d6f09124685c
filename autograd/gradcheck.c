/* Gradient checking: backward's gradient against central finite differences,
 * in float64, element by element, with PyTorch gradcheck's default tolerances. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

void rg_gradcheck_defaults(rg_gradcheck_opts *o) {
    memset(o, 0, sizeof *o);
    o->eps = 1e-6;
    o->atol = 1e-5;
    o->rtol = 1e-3;
    o->rel_floor = 1e-2;
}

/* One evaluation of fn on a fresh tape: the scalar value, or NAN with *err set. */
static double eval_scalar(rg_tape *tp, rg_gradcheck_fn fn, int n, rg_tensor *const *inputs,
                          void *user, bool grad, rg_tensor **out) {
    rg_tape_reset(tp);
    rg_tape_set_grad_enabled(tp, grad);
    rg_tensor *y = fn(tp, inputs, n, user);
    *out = y;
    if (!y) return NAN;
    if (y->numel != 1) {
        char s[64];
        rg_op_error(tp, "rg_gradcheck: the function returned %s, not a scalar",
                    rg_shape_str(y, s, sizeof s));
        return NAN;
    }
    return rg_get(y, 0);
}

int rg_gradcheck(rg_gradcheck_fn fn, int n, rg_tensor *const *inputs, void *user,
                 const rg_gradcheck_opts *opts, rg_gradcheck_result *res) {
    if (!fn || !res || n < 0 || (n > 0 && !inputs)) {
        rg_set_error("rg_gradcheck: %s", !fn    ? "fn is NULL"
                                         : !res ? "res is NULL"
                                         : n < 0 ? "negative number of inputs"
                                                 : "inputs is NULL");
        return -1;
    }
    rg_gradcheck_opts o;
    if (opts)
        o = *opts;
    else
        rg_gradcheck_defaults(&o);
    memset(res, 0, sizeof *res);
    res->worst_input = -1;
    res->worst_index = -1;
    for (int j = 0; j < n; ++j) {
        const rg_tensor *x = inputs[j];
        if (!x) {
            rg_set_error("rg_gradcheck: input %d is NULL", j);
            return -1;
        }
        if (!(x->flags & RG_PERSISTENT)) {
            rg_set_error("rg_gradcheck: input %d must be a persistent tensor (made with tape NULL)", j);
            return -1;
        }
        if ((x->flags & RG_REQUIRES_GRAD) && x->dtype != RG_F64) {
            rg_set_error("rg_gradcheck: input %d is %s; checked inputs must be float64", j,
                         rg_dtype_name(x->dtype));
            return -1;
        }
    }
    rg_tape *tp = rg_tape_new();
    if (!tp) return -1;

    for (int j = 0; j < n; ++j) rg_zero_grad(inputs[j]);
    rg_tensor *y;
    eval_scalar(tp, fn, n, inputs, user, true, &y);
    if (!y || rg_backward(tp, y) != 0) {
        rg_set_error("rg_gradcheck: %s", rg_tape_error(tp)       ? rg_tape_error(tp)
                                         : rg_last_error()[0] ? rg_last_error()
                                                              : "the function returned NULL");
        rg_tape_free(tp);
        return -1;
    }

    if (o.report)
        fprintf(o.report, "gradcheck%s%s: eps %g atol %g rtol %g\n", o.label ? " " : "",
                o.label ? o.label : "", o.eps, o.atol, o.rtol);
    res->pass = true;
    for (int j = 0; j < n; ++j) {
        rg_tensor *x = inputs[j];
        if (!(x->flags & RG_REQUIRES_GRAD)) continue;
        double *xv = x->data;
        double in_abs = 0, in_rel = 0;
        for (int64_t k = 0; k < x->numel; ++k) {
            double a = x->grad ? ((double *)x->grad)[k] : 0.0;
            double orig = xv[k];
            rg_tensor *yy;
            xv[k] = orig + o.eps;
            double fp = eval_scalar(tp, fn, n, inputs, user, false, &yy);
            xv[k] = orig - o.eps;
            double fm = eval_scalar(tp, fn, n, inputs, user, false, &yy);
            xv[k] = orig;
            if (!yy) {
                rg_set_error("rg_gradcheck: %s",
                             rg_tape_error(tp) ? rg_tape_error(tp) : "the function returned NULL");
                rg_tape_free(tp);
                return -1;
            }
            double num = (fp - fm) / (2 * o.eps);
            double abs_err = fabs(a - num);
            double den = fmax(fmax(fabs(a), fabs(num)), o.rel_floor);
            double rel_err = abs_err / den;
            if (!(abs_err <= o.atol + o.rtol * fabs(num))) res->pass = false;
            if (abs_err > res->max_abs_err || isnan(abs_err)) res->max_abs_err = abs_err;
            if (res->worst_input < 0 || rel_err > res->max_rel_err || isnan(rel_err)) {
                res->worst_input = j;
                res->worst_index = k;
                res->worst_analytic = a;
                res->worst_numeric = num;
                res->max_rel_err = rel_err;
            }
            in_abs = fmax(in_abs, abs_err);
            in_rel = fmax(in_rel, rel_err);
            res->n_checked++;
        }
        if (o.report) {
            char s[64];
            fprintf(o.report, "  input %d %-12s max abs err %.3e  max rel err %.3e\n", j,
                    rg_shape_str(x, s, sizeof s), in_abs, in_rel);
        }
    }
    if (o.report) {
        fprintf(o.report, "  %lld elements, max abs err %.3e, max rel err %.3e", 
                (long long)res->n_checked, res->max_abs_err, res->max_rel_err);
        if (res->worst_input >= 0)
            fprintf(o.report, " (input %d element %lld: analytic %.12g numeric %.12g)",
                    res->worst_input, (long long)res->worst_index, res->worst_analytic,
                    res->worst_numeric);
        fprintf(o.report, ": %s\n", res->pass ? "PASS" : "FAIL");
    }
    rg_tape_free(tp);
    return 0;
}
