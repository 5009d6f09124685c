/* Fresh gradient buffers (rg_grad_fresh): a rule that writes an input's whole
 * gradient assigns into an unzeroed buffer.  Here the tape's arena is filled
 * with NaN before each sweep, so an element a rule forgets to write, or a
 * buffer that should have been added to, shows up; the gradients must equal
 * central differences, with aliased inputs (x * x, matmul(a, a), linear(h, h)),
 * a broadcast (a row added to a matrix), fan-out and views. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "retrograd.h"

enum { R = 4, C = 4 };

static rg_tensor *loss_of(rg_tape *tp, rg_tensor *x, rg_tensor *row)
{
    rg_tensor *a = rg_mul(tp, x, x);                    /* aliased inputs */
    rg_tensor *b = rg_add(tp, x, row);                  /* row broadcast over x */
    rg_tensor *c = rg_sigmoid(tp, rg_tanh(tp, a));      /* unary chain */
    rg_tensor *d = rg_matmul(tp, b, b);                 /* aliased matmul */
    rg_tensor *h = rg_tanh(tp, rg_add(tp, c, d));       /* fan-out of x through a, b */
    rg_tensor *l = rg_linear(tp, h, h, NULL);           /* aliased linear, h a step tensor */
    rg_tensor *parts[2];
    if (rg_split(tp, l, 1, 2, parts) != 0)              /* views or copies of l */
        return NULL;
    return rg_add(tp, rg_sum(tp, rg_mul(tp, parts[0], parts[1])), rg_sum(tp, rg_mul(tp, c, b)));
}

static void poison(rg_tape *tp)
{
    rg_tape_reset(tp);
    size_t n = rg_tape_arena_capacity(tp) ? rg_tape_arena_capacity(tp) : 1 << 20;
    double *p = rg_tape_alloc(tp, n);
    cr_assert_not_null(p);
    for (size_t i = 0; i < n / sizeof *p; i++)
        p[i] = NAN;
    rg_tape_reset(tp);
}

static double value(rg_tape *tp, const double *xv, const double *rv)
{
    rg_tape_reset(tp);
    rg_tensor *x = rg_from_data(tp, RG_F64, RG_DIMS(R, C), xv);
    rg_tensor *row = rg_from_data(tp, RG_F64, RG_DIMS(C), rv);
    rg_tensor *y = loss_of(tp, x, row);
    cr_assert_not_null(y, "%s", rg_last_error());
    return rg_get(y, 0);
}

Test(fresh, gradients_on_a_poisoned_arena_equal_central_differences)
{
    double xv[R * C], rv[C];
    rg_rng rng;
    rg_rng_seed(&rng, 5);
    for (int i = 0; i < R * C; i++)
        xv[i] = rg_rng_uniform(&rng) - 0.5;
    for (int i = 0; i < C; i++)
        rv[i] = rg_rng_uniform(&rng) - 0.5;
    rg_tape *tp = rg_tape_new();
    for (int round = 0; round < 3; round++) {
        poison(tp);
        rg_tensor *x = rg_from_data(tp, RG_F64, RG_DIMS(R, C), xv);
        rg_tensor *row = rg_from_data(tp, RG_F64, RG_DIMS(C), rv);
        rg_set_requires_grad(x, true);
        rg_set_requires_grad(row, true);
        rg_tensor *y = loss_of(tp, x, row);
        cr_assert_not_null(y, "%s", rg_last_error());
        cr_assert_eq(rg_backward(tp, y), 0, "%s", rg_last_error());
        double gx[R * C], gr[C];
        memcpy(gx, x->grad, sizeof gx);
        memcpy(gr, row->grad, sizeof gr);
        rg_tape *fd = rg_tape_new();
        rg_tape_set_grad_enabled(fd, false);
        for (int i = 0; i < R * C + C; i++) {
            double *v = i < R * C ? &xv[i] : &rv[i - R * C], keep = *v, h = 1e-6;
            *v = keep + h;
            double up = value(fd, xv, rv);
            *v = keep - h;
            double down = value(fd, xv, rv);
            *v = keep;
            double num = (up - down) / (2 * h), an = i < R * C ? gx[i] : gr[i - R * C];
            cr_assert(fabs(an - num) <= 1e-6 + 1e-6 * fabs(num),
                      "round %d, element %d: analytic %.12g, central differences %.12g", round,
                      i, an, num);
        }
        rg_tape_free(fd);
    }
    rg_tape_free(tp);
}
