/* Fresh gradient buffers (rg_grad_fresh): a rule that writes an input's whole
 * gradient assigns into an unzeroed buffer.  Here the tape's arena is filled
 * with NaN before each sweep, so an element a rule forgets to write, or a
 * buffer that should have been added to, shows up; the gradients must equal
 * central differences, with aliased inputs (x * x, matmul(a, a), linear(h, h)),
 * broadcasts (a row added to a matrix, a row mean taken from it), fan-out and
 * views. */
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
    /* centred rows: a mean kept as a column, broadcast back over the row */
    rg_tensor *m = rg_sub(tp, h, rg_mean_axis(tp, rg_mul(tp, h, x), 1, true));
    rg_tensor *sums = rg_add(tp, rg_sum(tp, rg_mul(tp, parts[0], parts[1])),
                             rg_sum(tp, rg_mul(tp, c, b)));
    rg_tensor *ln = rg_layer_norm(tp, rg_add(tp, m, d), row, row, 1e-5); /* fused row */
    return rg_add(tp, rg_add(tp, sums, rg_sum(tp, rg_mul(tp, m, m))),
                  rg_sum(tp, rg_mul(tp, ln, b)));
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

/* ---- broadcasting of one value per row ([R,C] with [R,1]: a mean kept with
 * keepdim), both operand orders, 2 and 3 dims, against the general path's
 * values (the same op on shapes it takes) and central differences ---------- */

typedef rg_tensor *(*binop)(rg_tape *, rg_tensor *, rg_tensor *);
static const binop k_ops[] = {rg_add, rg_sub, rg_mul, rg_div};

static rg_tensor *bin_loss(rg_tape *tp, rg_tensor *const *in, int n, void *user)
{
    (void)n;
    binop f = *(const binop *)user;
    rg_tensor *y = f(tp, in[0], in[1]);
    return rg_sum(tp, rg_mul(tp, y, y)); /* a loss whose gradient depends on y */
}

static rg_tensor *rand_t(int rank, const int64_t *shape, uint64_t seed)
{
    rg_rng rng;
    rg_rng_seed(&rng, seed);
    rg_tensor *t = rg_uniform(NULL, RG_F64, rank, shape, 0.5, 1.5, &rng);
    rg_set_requires_grad(t, true);
    return t;
}

Test(fresh, one_value_per_row_broadcasts_match_values_and_differences)
{
    const int64_t big2[] = {3, 5}, col2[] = {3, 1}, big3[] = {2, 3, 4}, col3[] = {2, 3, 1};
    struct { int rank; const int64_t *big, *col; } shapes[] = {{2, big2, col2}, {3, big3, col3}};
    for (int s = 0; s < 2; s++)
        for (int o = 0; o < 4; o++)
            for (int swap = 0; swap < 2; swap++) {
                rg_tensor *big = rand_t(shapes[s].rank, shapes[s].big, 11 + s);
                rg_tensor *col = rand_t(shapes[s].rank, shapes[s].col, 12 + s);
                rg_tensor *in[2] = {swap ? col : big, swap ? big : col};
                /* values: element i of y against the op on its two scalars */
                rg_tape *tp = rg_tape_new();
                rg_tensor *y = k_ops[o](tp, in[0], in[1]);
                cr_assert_not_null(y, "%s", rg_last_error());
                int64_t cols = shapes[s].big[shapes[s].rank - 1];
                for (int64_t i = 0; i < y->numel; i++) {
                    rg_tensor *a = rg_from_data(tp, RG_F64, 0, NULL,
                                                (const double *)big->data + i);
                    rg_tensor *b = rg_from_data(tp, RG_F64, 0, NULL,
                                                (const double *)col->data + i / cols);
                    double want = rg_get(k_ops[o](tp, swap ? b : a, swap ? a : b), 0);
                    cr_assert_eq(rg_get(y, i), want, "shape %d, op %d, swap %d, element %lld", s,
                                 o, swap, (long long)i);
                }
                rg_tape_free(tp);
                rg_gradcheck_opts opts;
                rg_gradcheck_defaults(&opts);
                rg_gradcheck_result r;
                cr_assert_eq(rg_gradcheck(bin_loss, 2, in, (void *)&k_ops[o], &opts, &r), 0, "%s",
                             rg_last_error());
                cr_assert(r.pass, "shape %d, op %d, swap %d: max rel error %g", s, o, swap,
                          r.max_rel_err);
                rg_tensor_free(big);
                rg_tensor_free(col);
            }
}
