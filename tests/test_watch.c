/* rg_tape_watch_grads: a watched parameter is reported once, as soon as its
 * gradient is final (the gradient at that moment equals the gradient after
 * rg_backward), latest-read first, after deferred weight gradients are added;
 * unreached parameters are not reported; bad calls fail with a message. */
#include <criterion/criterion.h>
#include <string.h>

#include "retrograd.h"

enum { NP = 4 };

typedef struct {
    rg_tensor *p[NP];
    double snap[NP][64];
    int order[NP], n;
} seen;

static void on_ready(void *user, int i)
{
    seen *s = user;
    cr_assert(i >= 0 && i < NP, "index %d", i);
    s->order[s->n++] = i;
    for (int64_t k = 0; k < s->p[i]->numel; k++)
        s->snap[i][k] = s->p[i]->grad ? ((const double *)s->p[i]->grad)[k] : 0;
}

static rg_tensor *param(int64_t r, int64_t c, uint64_t seed)
{
    rg_rng rng;
    rg_rng_seed(&rng, seed);
    rg_tensor *t = rg_uniform(NULL, RG_F64, RG_DIMS(r, c), -1, 1, &rng);
    cr_assert_not_null(t, "%s", rg_last_error());
    rg_set_requires_grad(t, true);
    return t;
}

static void expect_final(const seen *s, int i)
{
    for (int64_t k = 0; k < s->p[i]->numel; k++)
        cr_assert_eq(s->snap[i][k], ((const double *)s->p[i]->grad)[k],
                     "parameter %d, element %lld: %g when reported, %g at the end", i,
                     (long long)k, s->snap[i][k], ((const double *)s->p[i]->grad)[k]);
}

/* W0 read first, W1 last; W3 never: reported W1 then W0 (W2 deferred) */
Test(watch, reports_each_gradient_once_when_final)
{
    seen s = {.p = {param(3, 4, 1), param(4, 4, 2), param(4, 4, 3), param(2, 2, 4)}};
    rg_tape *tp = rg_tape_new();
    cr_assert_eq(rg_tape_watch_grads(tp, s.p, NP, on_ready, &s), 0, "%s", rg_last_error());
    for (int round = 0; round < 2; round++) { /* the state resets with each sweep */
        rg_tape_reset(tp);
        memset(s.order, -1, sizeof s.order);
        s.n = 0;
        for (int i = 0; i < NP; i++)
            rg_zero_grad(s.p[i]);
        rg_rng rng;
        rg_rng_seed(&rng, 9);
        rg_tensor *x = rg_uniform(tp, RG_F64, RG_DIMS(5, 3), -1, 1, &rng);
        rg_tensor *h = rg_tanh(tp, rg_matmul(tp, x, s.p[0]));
        /* W2 at three steps through rg_linear: its gradient is deferred to
         * one product at the end of the sweep */
        for (int t = 0; t < 3; t++)
            h = rg_tanh(tp, rg_linear(tp, h, s.p[2], NULL));
        rg_tensor *y = rg_sum(tp, rg_matmul(tp, h, s.p[1]));
        cr_assert_not_null(y, "%s", rg_last_error());
        cr_assert_eq(rg_backward(tp, y), 0, "%s", rg_last_error());
        cr_assert_eq(s.n, 3, "%d reports", s.n);
        cr_assert_eq(s.order[0], 1);
        cr_assert_eq(s.order[1], 0, "W0 is final before the deferred W2");
        cr_assert_eq(s.order[2], 2);
        for (int i = 0; i < 3; i++)
            expect_final(&s, i);
    }
    rg_tape_free(tp);
    for (int i = 0; i < NP; i++)
        rg_tensor_free(s.p[i]);
}

/* n = 0 stops watching */
Test(watch, zero_stops_watching)
{
    seen s = {.p = {param(2, 2, 1), param(2, 2, 2), param(2, 2, 3), param(2, 2, 4)}};
    rg_tape *tp = rg_tape_new();
    cr_assert_eq(rg_tape_watch_grads(tp, s.p, NP, on_ready, &s), 0);
    cr_assert_eq(rg_tape_watch_grads(tp, NULL, 0, NULL, NULL), 0, "%s", rg_last_error());
    rg_tensor *y = rg_sum(tp, rg_matmul(tp, s.p[0], s.p[1]));
    cr_assert_eq(rg_backward(tp, y), 0, "%s", rg_last_error());
    cr_assert_eq(s.n, 0);
    rg_tape_free(tp);
    for (int i = 0; i < NP; i++)
        rg_tensor_free(s.p[i]);
}

Test(watch, bad_calls_name_what_is_wrong)
{
    rg_tensor *p = param(2, 2, 1);
    rg_tensor *two[2] = {p, p};
    seen s = {0};
    cr_assert_eq(rg_tape_watch_grads(NULL, two, 1, on_ready, &s), -1);
    cr_assert(strstr(rg_last_error(), "tape is NULL"), "%s", rg_last_error());
    const char *want[] = {"n is negative", "the tensors are NULL", "the function is NULL",
                          "are the same", "not persistent"};
    for (int c = 0; c < 5; c++) {
        rg_tape *tp = rg_tape_new();
        rg_tensor *step = rg_zeros(tp, RG_F64, RG_DIMS(2, 2));
        rg_tensor *bad[1] = {step};
        int rc = c == 0   ? rg_tape_watch_grads(tp, two, -1, on_ready, &s)
                 : c == 1 ? rg_tape_watch_grads(tp, NULL, 1, on_ready, &s)
                 : c == 2 ? rg_tape_watch_grads(tp, two, 1, NULL, &s)
                 : c == 3 ? rg_tape_watch_grads(tp, two, 2, on_ready, &s)
                          : rg_tape_watch_grads(tp, bad, 1, on_ready, &s);
        cr_assert_eq(rc, -1, "case %d", c);
        cr_assert(strstr(rg_last_error(), "rg_tape_watch_grads") &&
                      strstr(rg_last_error(), want[c]),
                  "case %d: %s", c, rg_last_error());
        rg_tape_free(tp);
    }
    rg_tensor_free(p);
}
