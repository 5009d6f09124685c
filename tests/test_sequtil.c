/* The sequence helpers of models/rg_sequtil.h: masks, pooling over the valid
 * steps (last, mean, max) and reversal within lengths, against loops over the
 * values; float64 gradient checks of each; padding changes no output and gets
 * no gradient; the error paths. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "retrograd.h"

enum { T = 5, B = 4, H = 3 };
static const int32_t LENS[B] = {3, 0, 5, 1};

static rg_tensor *input(uint64_t seed, int rank, const int64_t *shape) {
    rg_rng r;
    rg_rng_seed(&r, seed);
    rg_tensor *x = rg_uniform(NULL, RG_F64, rank, shape, -2, 2, &r);
    cr_assert_not_null(x, "%s", rg_last_error());
    rg_set_requires_grad(x, true);
    return x;
}

static double at(const rg_tensor *x, int64_t t, int64_t b, int64_t h) {
    return rg_get(x, (t * B + b) * H + h);
}

Test(sequtil, mask) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *m = rg_seq_mask(tp, RG_F32, T, B, LENS);
    cr_assert_not_null(m, "%s", rg_tape_error(tp));
    cr_expect(m->rank == 2 && m->shape[0] == T && m->shape[1] == B && m->dtype == RG_F32);
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++)
            cr_expect_eq(rg_get(m, t * B + b), t < LENS[b] ? 1.0 : 0.0, "t %lld b %lld",
                         (long long)t, (long long)b);
    rg_tensor *all = rg_seq_mask(tp, RG_F64, T, B, NULL);
    cr_assert_not_null(all);
    for (int64_t i = 0; i < T * B; i++) cr_expect_eq(rg_get(all, i), 1.0);
    rg_tape_free(tp);
}

/* Each mode against a loop; a padded step never matters. */
Test(sequtil, pool_values) {
    rg_tensor *x = input(1, RG_DIMS(T, B, H));
    rg_tape *tp = rg_tape_new();
    rg_tensor *y[3];
    for (int mode = 0; mode < 3; mode++) {
        y[mode] = rg_seq_pool(tp, x, LENS, (rg_seq_pool_mode)mode);
        cr_assert_not_null(y[mode], "mode %d: %s", mode, rg_tape_error(tp));
        cr_expect(y[mode]->rank == 2 && y[mode]->shape[0] == B && y[mode]->shape[1] == H);
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            double last = 0, sum = 0, mx = -INFINITY;
            for (int64_t t = 0; t < LENS[b]; t++) {
                last = at(x, t, b, h);
                sum += last;
                mx = fmax(mx, last);
            }
            double want[3] = {last, LENS[b] ? sum / LENS[b] : 0, LENS[b] ? mx : 0};
            for (int mode = 0; mode < 3; mode++)
                cr_expect(fabs(rg_get(y[mode], b * H + h) - want[mode]) < 1e-15,
                          "mode %d b %lld h %lld: %.17g, want %.17g", mode, (long long)b,
                          (long long)h, rg_get(y[mode], b * H + h), want[mode]);
        }
    /* without lengths: every step counts */
    rg_tensor *m = rg_seq_pool(tp, x, NULL, RG_POOL_MEAN);
    rg_tensor *ref = rg_mean_axis(tp, x, 0, false);
    cr_assert(m && ref);
    for (int64_t i = 0; i < B * H; i++) cr_expect(fabs(rg_get(m, i) - rg_get(ref, i)) < 1e-15);
    rg_tape_free(tp);
    rg_tensor_free(x);
}

Test(sequtil, reverse_values) {
    rg_tensor *x = input(2, RG_DIMS(T, B, H));
    rg_tape *tp = rg_tape_new();
    rg_tensor *y = rg_seq_reverse(tp, x, LENS);
    cr_assert_not_null(y, "%s", rg_tape_error(tp));
    cr_expect(rg_same_shape(x, y));
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++) {
                int64_t src = t < LENS[b] ? LENS[b] - 1 - t : t;
                cr_expect_eq(rg_get(y, (t * B + b) * H + h), at(x, src, b, h));
            }
    /* twice is the identity */
    rg_tensor *z = rg_seq_reverse(tp, y, LENS);
    cr_assert_not_null(z);
    for (int64_t i = 0; i < x->numel; i++) cr_expect_eq(rg_get(z, i), rg_get(x, i));
    rg_tape_free(tp);
    rg_tensor_free(x);
}

/* ---- gradient checks ------------------------------------------------------------ */

typedef struct gc_ctx {
    int what; /* 0..2 a pool mode, 3 reverse, 4 a masked mean loss */
    const int32_t *lengths;
    rg_tensor *w;
} gc_ctx;

static rg_tensor *helper_loss(rg_tape *tp, rg_tensor *const *in, int n, void *user) {
    gc_ctx *c = user;
    rg_tensor *y;
    if (c->what < 3) y = rg_seq_pool(tp, in[0], c->lengths, (rg_seq_pool_mode)c->what);
    else if (c->what == 3) y = rg_seq_reverse(tp, in[0], c->lengths);
    else /* tanh of x, weighted by the mask, as a loss over valid steps would be */
        y = rg_mul(tp, rg_tanh(tp, in[0]),
                   rg_reshape(tp, rg_seq_mask(tp, RG_F64, T, B, c->lengths), RG_DIMS(T, B, 1)));
    if (!y) return NULL;
    if (!c->w) {
        rg_rng r;
        rg_rng_seed(&r, 77 + (uint64_t)c->what);
        c->w = rg_uniform(NULL, RG_F64, y->rank, y->shape, -1, 1, &r);
    }
    return rg_sum(tp, rg_mul(tp, y, c->w));
}

Test(sequtil, gradcheck) {
    const char *names[5] = {"pool last", "pool mean", "pool max", "reverse", "mask"};
    for (int what = 0; what < 5; what++)
        for (int with_lengths = 0; with_lengths < 2; with_lengths++) {
            rg_tensor *x = input(10 + (uint64_t)what, RG_DIMS(T, B, H));
            gc_ctx c = {what, with_lengths ? LENS : NULL, NULL};
            rg_gradcheck_opts o;
            rg_gradcheck_defaults(&o);
            rg_gradcheck_result res;
            cr_assert_eq(rg_gradcheck(helper_loss, 1, &x, &c, &o, &res), 0, "%s: %s",
                         names[what], rg_last_error());
            cr_expect(res.pass && res.max_rel_err < 1e-6,
                      "%s (lengths %d): max rel err %.3g at element %lld (%.12g vs %.12g)",
                      names[what], with_lengths, res.max_rel_err, (long long)res.worst_index,
                      res.worst_analytic, res.worst_numeric);
            /* padding gets no gradient (the reverse moves it, so it is not checked there) */
            if (with_lengths && what != 3) {
                rg_tape *tp = rg_tape_new();
                rg_zero_grad(x);
                cr_assert_eq(rg_backward(tp, helper_loss(tp, &x, 1, &c)), 0, "%s",
                             rg_tape_error(tp));
                for (int64_t t = 0; t < T; t++)
                    for (int64_t b = 0; b < B; b++)
                        for (int64_t h = 0; h < H; h++)
                            if (t >= LENS[b])
                                cr_expect_eq(rg_grad_get(x, (t * B + b) * H + h), 0,
                                             "%s: padding t %lld b %lld has a gradient",
                                             names[what], (long long)t, (long long)b);
                rg_tape_free(tp);
            }
            rg_tensor_free(x);
            rg_tensor_free(c.w);
        }
}

/* Ranks other than 3: [T,B] pools to [B], [T,B,2,2] to [B,2,2]. */
Test(sequtil, other_ranks) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *x2 = rg_from_doubles(tp, RG_F64, RG_DIMS(3, 2), (double[]){1, 2, 3, 4, 5, 6});
    rg_tensor *y2 = rg_seq_pool(tp, x2, (const int32_t[]){2, 3}, RG_POOL_LAST);
    cr_assert_not_null(y2, "%s", rg_tape_error(tp));
    cr_expect(y2->rank == 1 && rg_get(y2, 0) == 3 && rg_get(y2, 1) == 6);
    rg_tensor *x4 = rg_zeros(tp, RG_F32, RG_DIMS(3, 2, 2, 2));
    rg_tensor *y4 = rg_seq_pool(tp, x4, NULL, RG_POOL_MAX);
    cr_assert_not_null(y4, "%s", rg_tape_error(tp));
    cr_expect(y4->rank == 3 && y4->shape[0] == 2 && y4->shape[2] == 2 && y4->dtype == RG_F32);
    rg_tensor *r4 = rg_seq_reverse(tp, x4, (const int32_t[]){1, 3});
    cr_assert_not_null(r4, "%s", rg_tape_error(tp));
    cr_expect(rg_same_shape(r4, x4));
    /* T = 0: every sequence empty, zeros */
    rg_tensor *e = rg_seq_pool(tp, rg_zeros(tp, RG_F64, RG_DIMS(0, 2, 3)),
                               (const int32_t[]){0, 0}, RG_POOL_MAX);
    cr_assert_not_null(e, "%s", rg_tape_error(tp));
    cr_expect(e->rank == 2 && e->numel == 6 && rg_get(e, 5) == 0);
    rg_tape_free(tp);
}

Test(sequtil, errors) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = rg_zeros(tp, RG_F64, RG_DIMS(T, B, H));
    cr_expect_null(rg_seq_pool(tp, x, (const int32_t[]){1, 2, 6, 0}, RG_POOL_MEAN));
    cr_expect_str_eq(rg_tape_error(tp), "rg_seq_pool: lengths[2] = 6 is outside [0,5]");
    rg_tape_reset(tp);
    cr_expect_null(rg_seq_reverse(tp, rg_zeros(tp, RG_F64, RG_DIMS(4)), NULL));
    cr_expect(strstr(rg_tape_error(tp), "rg_seq_reverse") && strstr(rg_tape_error(tp), "[4]"),
              "%s", rg_tape_error(tp));
    rg_tape_reset(tp);
    x = rg_zeros(tp, RG_F64, RG_DIMS(T, B, H));
    cr_expect_null(rg_seq_pool(tp, x, NULL, (rg_seq_pool_mode)9));
    cr_expect(strstr(rg_tape_error(tp), "rg_seq_pool: unknown mode 9"), "%s", rg_tape_error(tp));
    rg_tape_reset(tp);
    cr_expect_null(rg_seq_pool(tp, NULL, NULL, RG_POOL_LAST));
    cr_expect_str_eq(rg_tape_error(tp), "rg_seq_pool: x is NULL");
    rg_tape_reset(tp);
    cr_expect_null(rg_seq_mask(tp, RG_I32, T, B, NULL));
    cr_expect(strstr(rg_tape_error(tp), "rg_seq_mask"), "%s", rg_tape_error(tp));
    cr_expect_null(rg_seq_mask(NULL, RG_F64, T, B, NULL));
    cr_expect_str_eq(rg_last_error(), "rg_seq_mask: tape is NULL");
    rg_tape_free(tp);
}
