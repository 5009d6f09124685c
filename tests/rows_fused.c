/* Gradient-check rows of ops/fused.c, and the fused gates checked equal (values
 * and gradients) to the compositions of plain ops they replace. */
#include <criterion/criterion.h>
#include <math.h>

#include "gradrows.h"

static rg_tensor *lstm(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *hc[2];
    if (rg_lstm_gates(tp, in[0], in[1], in[2], hc) < 0) return NULL;
    return rg_concat(tp, 2, hc, 1);
}
static rg_tensor *lstm_h(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *hc[2];
    if (rg_lstm_gates(tp, in[0], in[1], in[2], hc) < 0) return NULL;
    return hc[0];
}
static rg_tensor *lcell(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *hc[2];
    if (rg_lstm_cell(tp, in[0], in[1], in[2], in[3], n > 4 ? in[4] : NULL, hc) < 0) return NULL;
    return rg_concat(tp, 2, hc, 1);
}
static rg_tensor *lcell_c_only(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *hc[2];
    if (rg_lstm_cell(tp, in[0], in[1], in[2], in[3], n > 4 ? in[4] : NULL, hc) < 0) return NULL;
    return hc[1];
}
static rg_tensor *lrows(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *hc[2];
    if (rg_lstm_cell_rows(tp, in[0], in[1], in[2], in[3], in[4], in[5], hc) < 0) return NULL;
    return rg_concat(tp, 2, hc, 1);
}
static rg_tensor *gru(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_gru_gates(tp, in[0], in[1], in[2]);
}

/* Aliased inputs: one tensor given twice, or views of one buffer that overlap.
 * Every gradient must get all of its shares (the kernels declare restrict). */
static rg_tensor *gru_xp_is_hp(rg_tape *tp, rg_tensor *const *in, int n) {
    return rg_gru_gates(tp, in[0], in[0], in[1]);
}
/* base [4,9]: xp its rows 0..2, hp its rows 1..3, h its first 9 values as [3,3]. */
static rg_tensor *gru_views(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *h = rg_reshape(tp, rg_slice(tp, in[0], 0, 0, 1), RG_DIMS(3, 3));
    return rg_gru_gates(tp, rg_slice(tp, in[0], 0, 0, 3), rg_slice(tp, in[0], 0, 1, 3), h);
}
static rg_tensor *lstm_xp_is_hp(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *hc[2];
    if (rg_lstm_gates(tp, in[0], in[0], in[1], hc) < 0) return NULL;
    return rg_concat(tp, 2, hc, 1);
}
/* base [4,12]: xp its rows 0..2, hp its rows 1..3, c its first 9 values as [3,3]. */
static rg_tensor *lstm_views(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *hc[2], *flat = rg_reshape(tp, in[0], RG_DIMS(48));
    rg_tensor *c0 = rg_reshape(tp, rg_slice(tp, flat, 0, 0, 9), RG_DIMS(3, 3));
    if (rg_lstm_gates(tp, rg_slice(tp, in[0], 0, 0, 3), rg_slice(tp, in[0], 0, 1, 3), c0, hc) < 0)
        return NULL;
    return rg_concat(tp, 2, hc, 1);
}
/* One buffer W [12,3] is every float input: W_hh itself, xp (or the table P)
 * W viewed as [3,12], h = c its rows 0..2, b_hh its values 12..23. */
static rg_tensor *lcell_one_buffer(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *W = in[0], *out[2];
    rg_tensor *xp = rg_reshape(tp, W, RG_DIMS(3, 12)), *hc = rg_slice(tp, W, 0, 0, 3);
    rg_tensor *b = rg_slice(tp, rg_reshape(tp, W, RG_DIMS(36)), 0, 12, 12);
    int r = n > 1 ? rg_lstm_cell_rows(tp, xp, in[1], hc, hc, W, b, out)
                  : rg_lstm_cell(tp, xp, hc, hc, W, b, out);
    if (r < 0) return NULL;
    return rg_concat(tp, 2, out, 1);
}
/* E = W [4,3], bias W's first 4 values. */
static rg_tensor *emblin_one_buffer(rg_tape *tp, rg_tensor *const *in, int n) {
    rg_tensor *b = rg_slice(tp, rg_reshape(tp, in[0], RG_DIMS(12)), 0, 0, 4);
    return rg_embedding_linear(tp, in[0], in[1], in[0], b);
}

/* Gate blocks: fixed G*H columns with H = random dim 2 is not expressible, so
 * the rows use fixed H = 3 and a random batch. */
#define IN(r, a, b) {RG_F64, r, {a, b}, -1.5, 1.5}
const rg_gradrow rg_gradrows_fused[] = {
    {"lstm_gates", "lstm_gates", 3, {IN(2, -1, 12), IN(2, -1, 12), IN(2, -1, 3)}, lstm},
    {"lstm_gates_h_only", "lstm_gates", 3, {IN(2, -1, 12), IN(2, -1, 12), IN(2, -1, 3)}, lstm_h},
    {"gru_gates", "gru_gates", 3, {IN(2, -1, 9), IN(2, -1, 9), IN(2, -1, 3)}, gru},
    {"lstm_cell", "lstm_cell", 5,
     {IN(2, -1, 12), IN(2, -1, 3), IN(2, -1, 3), IN(2, 12, 3), {RG_F64, 1, {12}, -1.5, 1.5}},
     lcell},
    {"lstm_cell_rows", "lstm_cell_rows", 6,
     {IN(2, 5, 12), {RG_I32, 1, {-1}, 0, 5}, IN(2, -1, 3), IN(2, -1, 3), IN(2, 12, 3),
      {RG_F64, 1, {12}, -1.5, 1.5}},
     lrows},
    {"lstm_cell_nobias_c_only", "lstm_cell", 4,
     {IN(2, -1, 12), IN(2, -1, 3), IN(2, -1, 3), IN(2, 12, 3)}, lcell_c_only},
    {"gru_gates_xp_is_hp", "gru_gates", 2, {IN(2, -1, 9), IN(2, -1, 3)}, gru_xp_is_hp},
    {"gru_gates_overlapping_views", "gru_gates", 1, {IN(2, 4, 9)}, gru_views},
    {"lstm_gates_xp_is_hp", "lstm_gates", 2, {IN(2, -1, 12), IN(2, -1, 3)}, lstm_xp_is_hp},
    {"lstm_gates_overlapping_views", "lstm_gates", 1, {IN(2, 4, 12)}, lstm_views},
    {"lstm_cell_one_buffer", "lstm_cell", 1, {IN(2, 12, 3)}, lcell_one_buffer},
    {"lstm_cell_rows_one_buffer", "lstm_cell_rows", 2,
     {IN(2, 12, 3), {RG_I32, 1, {3}, 0, 3}}, lcell_one_buffer},
    /* ids [B,4] over 4 rows: the table path; 2 ids: the rows path */
    {"embedding_linear_one_buffer_table", "embedding_linear", 2,
     {IN(2, 4, 3), {RG_I32, 2, {-1, 4}, 0, 4}}, emblin_one_buffer},
    {"embedding_linear_one_buffer_rows", "embedding_linear", 2,
     {IN(2, 4, 3), {RG_I32, 1, {2}, 0, 4}}, emblin_one_buffer},
};
const int rg_gradrows_fused_n = (int)(sizeof rg_gradrows_fused / sizeof rg_gradrows_fused[0]);

/* The plain-op compositions. */
/* out[0] = h', out[1] = c', like rg_lstm_gates. */
static void lstm_plain(rg_tape *tp, rg_tensor *xp, rg_tensor *hp, rg_tensor *c, rg_tensor **out) {
    rg_tensor *g[4];
    rg_split(tp, rg_add(tp, xp, hp), 1, 4, g);
    rg_tensor *i = rg_sigmoid(tp, g[0]), *f = rg_sigmoid(tp, g[1]);
    rg_tensor *gg = rg_tanh(tp, g[2]), *o = rg_sigmoid(tp, g[3]);
    out[1] = rg_add(tp, rg_mul(tp, f, c), rg_mul(tp, i, gg));
    out[0] = rg_mul(tp, o, rg_tanh(tp, out[1]));
}

static rg_tensor *gru_plain(rg_tape *tp, rg_tensor *xp, rg_tensor *hp, rg_tensor *h) {
    rg_tensor *a[3], *b[3];
    rg_split(tp, xp, 1, 3, a);
    rg_split(tp, hp, 1, 3, b);
    rg_tensor *r = rg_sigmoid(tp, rg_add(tp, a[0], b[0]));
    rg_tensor *z = rg_sigmoid(tp, rg_add(tp, a[1], b[1]));
    rg_tensor *n = rg_tanh(tp, rg_add(tp, a[2], rg_mul(tp, r, b[2])));
    /* (1-z)*n + z*h = n + z*(h-n) */
    return rg_add(tp, n, rg_mul(tp, z, rg_sub(tp, h, n)));
}

static void expect_close(const rg_tensor *a, const rg_tensor *b, double tol, const char *what) {
    cr_assert_eq(a->numel, b->numel);
    double worst = 0;
    for (int64_t i = 0; i < a->numel; ++i) worst = fmax(worst, fabs(rg_get(a, i) - rg_get(b, i)));
    cr_expect_leq(worst, tol, "%s: max difference %g", what, worst);
}

static void grads_close(rg_tensor *const *x, rg_tensor *const *gsave, int n, double tol) {
    for (int k = 0; k < n; ++k) {
        double worst = 0;
        for (int64_t i = 0; i < x[k]->numel; ++i)
            worst = fmax(worst, fabs(rg_grad_get(x[k], i) - rg_get(gsave[k], i)));
        cr_expect_leq(worst, tol, "gradient of input %d differs by %g", k, worst);
    }
}

static void fused_equals_plain(rg_dtype dt, double tol, bool is_lstm) {
    rg_rng r;
    rg_rng_seed(&r, 11);
    int64_t B = 5, H = 7, G = is_lstm ? 4 : 3;
    rg_tensor *x[3] = {rg_uniform(NULL, dt, RG_DIMS(B, G * H), -2, 2, &r),
                       rg_uniform(NULL, dt, RG_DIMS(B, G * H), -2, 2, &r),
                       rg_uniform(NULL, dt, RG_DIMS(B, H), -2, 2, &r)};
    rg_tensor *wh = rg_uniform(NULL, dt, RG_DIMS(B, H), -1, 1, &r);
    rg_tensor *wc = rg_uniform(NULL, dt, RG_DIMS(B, H), -1, 1, &r);
    rg_tensor *gsave[3] = {0}, *vals[2] = {0};
    for (int k = 0; k < 3; ++k) rg_set_requires_grad(x[k], true);
    rg_tape *tp = rg_tape_new();
    for (int pass = 0; pass < 2; ++pass) {
        rg_tape_reset(tp);
        for (int k = 0; k < 3; ++k) rg_zero_grad(x[k]);
        rg_tensor *hc[2] = {NULL, NULL};
        if (is_lstm) {
            if (pass == 0) rg_lstm_gates(tp, x[0], x[1], x[2], hc);
            else lstm_plain(tp, x[0], x[1], x[2], hc);
        } else {
            hc[0] = pass == 0 ? rg_gru_gates(tp, x[0], x[1], x[2]) : gru_plain(tp, x[0], x[1], x[2]);
        }
        rg_tensor *h = hc[0], *c = hc[1];
        rg_tensor *loss = rg_sum(tp, rg_mul(tp, h, wh));
        if (c) loss = rg_add(tp, loss, rg_sum(tp, rg_mul(tp, c, wc)));
        cr_assert_not_null(loss, "%s", rg_tape_error(tp));
        cr_assert_eq(rg_backward(tp, loss), 0, "%s", rg_tape_error(tp));
        if (pass == 0) {
            vals[0] = rg_tensor_clone(h);
            vals[1] = c ? rg_tensor_clone(c) : NULL;
            for (int k = 0; k < 3; ++k) {
                gsave[k] = rg_tensor_clone(x[k]);
                for (int64_t i = 0; i < x[k]->numel; ++i) rg_set(gsave[k], i, rg_grad_get(x[k], i));
            }
        } else {
            expect_close(h, vals[0], tol, "h");
            if (c) expect_close(c, vals[1], tol, "c");
            grads_close(x, gsave, 3, tol);
        }
    }
    rg_tape_free(tp);
    for (int k = 0; k < 3; ++k) {
        rg_tensor_free(x[k]);
        rg_tensor_free(gsave[k]);
    }
    rg_tensor_free(vals[0]);
    rg_tensor_free(vals[1]);
    rg_tensor_free(wh);
    rg_tensor_free(wc);
}

Test(fused, lstm_gates_equal_plain_ops_f64) { fused_equals_plain(RG_F64, 1e-13, true); }
Test(fused, lstm_gates_equal_plain_ops_f32) { fused_equals_plain(RG_F32, 1e-5, true); }
Test(fused, gru_gates_equal_plain_ops_f64) { fused_equals_plain(RG_F64, 1e-13, false); }
Test(fused, gru_gates_equal_plain_ops_f32) { fused_equals_plain(RG_F32, 1e-5, false); }

/* Inputs that share memory, the trap of the restrict kernels.  Variant 0 gives
 * one tensor as both xp and hp (the state a separate leaf); variant 1 gives
 * overlapping row views of one leaf base [B+1,G*H] (xp its rows 0..B-1, hp
 * rows 1..B) and the state its first B*H values.  The fused row and the plain
 * ops must give the same values and the same gradient of every leaf. */
static void aliased_equals_plain(rg_dtype dt, double tol, bool is_lstm, int variant) {
    rg_rng r;
    rg_rng_seed(&r, 12 + (uint64_t)variant);
    int64_t B = 5, H = 7, G = is_lstm ? 4 : 3;
    rg_tensor *leaf[2] = {rg_uniform(NULL, dt, RG_DIMS(B + 1, G * H), -2, 2, &r),
                          rg_uniform(NULL, dt, RG_DIMS(B, H), -2, 2, &r)};
    rg_tensor *wh = rg_uniform(NULL, dt, RG_DIMS(B, H), -1, 1, &r);
    rg_tensor *wc = rg_uniform(NULL, dt, RG_DIMS(B, H), -1, 1, &r);
    rg_tensor *gsave[2] = {0}, *vals = NULL;
    for (int k = 0; k < 2; ++k) rg_set_requires_grad(leaf[k], true);
    rg_tape *tp = rg_tape_new();
    for (int pass = 0; pass < 2; ++pass) {
        rg_tape_reset(tp);
        for (int k = 0; k < 2; ++k) rg_zero_grad(leaf[k]);
        rg_tensor *xp = rg_slice(tp, leaf[0], 0, 0, B), *hp = xp, *st = leaf[1];
        if (variant == 1) {
            hp = rg_slice(tp, leaf[0], 0, 1, B);
            rg_tensor *flat = rg_reshape(tp, leaf[0], RG_DIMS(-1));
            st = rg_reshape(tp, rg_slice(tp, flat, 0, 0, B * H), RG_DIMS(B, H));
        }
        rg_tensor *hc[2] = {NULL, NULL};
        if (is_lstm) {
            if (pass == 0) rg_lstm_gates(tp, xp, hp, st, hc);
            else lstm_plain(tp, xp, hp, st, hc);
        } else {
            hc[0] = pass == 0 ? rg_gru_gates(tp, xp, hp, st) : gru_plain(tp, xp, hp, st);
        }
        rg_tensor *h = hc[0], *c = hc[1];
        rg_tensor *loss = rg_sum(tp, rg_mul(tp, h, wh));
        if (c) loss = rg_add(tp, loss, rg_sum(tp, rg_mul(tp, c, wc)));
        cr_assert_not_null(loss, "%s", rg_tape_error(tp));
        cr_assert_eq(rg_backward(tp, loss), 0, "%s", rg_tape_error(tp));
        rg_tensor *y = c ? rg_concat(tp, 2, (rg_tensor *[]){h, c}, 1) : h;
        if (pass == 0) {
            vals = rg_tensor_clone(y);
            for (int k = 0; k < 2; ++k) {
                gsave[k] = rg_tensor_clone(leaf[k]);
                for (int64_t i = 0; i < leaf[k]->numel; ++i)
                    rg_set(gsave[k], i, rg_grad_get(leaf[k], i));
            }
        } else {
            expect_close(y, vals, tol, "h, c");
            grads_close(leaf, gsave, variant == 0 ? 2 : 1, tol);
        }
    }
    rg_tape_free(tp);
    for (int k = 0; k < 2; ++k) {
        rg_tensor_free(leaf[k]);
        rg_tensor_free(gsave[k]);
    }
    rg_tensor_free(vals);
    rg_tensor_free(wh);
    rg_tensor_free(wc);
}

Test(fused, gru_gates_xp_is_hp_f64) { aliased_equals_plain(RG_F64, 1e-13, false, 0); }
Test(fused, gru_gates_xp_is_hp_f32) { aliased_equals_plain(RG_F32, 1e-5, false, 0); }
Test(fused, gru_gates_overlapping_views_f64) { aliased_equals_plain(RG_F64, 1e-13, false, 1); }
Test(fused, gru_gates_overlapping_views_f32) { aliased_equals_plain(RG_F32, 1e-5, false, 1); }
Test(fused, lstm_gates_xp_is_hp_f64) { aliased_equals_plain(RG_F64, 1e-13, true, 0); }
Test(fused, lstm_gates_xp_is_hp_f32) { aliased_equals_plain(RG_F32, 1e-5, true, 0); }
Test(fused, lstm_gates_overlapping_views_f64) { aliased_equals_plain(RG_F64, 1e-13, true, 1); }
Test(fused, lstm_gates_overlapping_views_f32) { aliased_equals_plain(RG_F32, 1e-5, true, 1); }

/* The branch-free float activations of ops/fastmath.h against double libm. */
#include "fastmath.h"

static double rel_err(double got, double want) {
    return fabs(got - want) / fmax(fabs(want), 1e-30);
}

Test(fastmath, exp_sigmoid_tanh_within_a_few_ulp) {
    double we = 0, ws = 0, wt = 0;
    for (int k = -200000; k <= 200000; ++k) {
        float x = (float)k * 4e-4f; /* [-80, 80] */
        if (fabsf(x) < 87) we = fmax(we, rel_err(rg_expf(x), exp((double)x)));
        ws = fmax(ws, rel_err(rg_sigmoidf(x), 1.0 / (1.0 + exp(-(double)x))));
        wt = fmax(wt, rel_err(rg_tanhf(x), tanh((double)x)));
    }
    for (float x = 1e-30f; x < 1; x *= 1.7f) { /* tiny arguments: tanh x ~ x */
        wt = fmax(wt, rel_err(rg_tanhf(x), tanh((double)x)));
        wt = fmax(wt, rel_err(rg_tanhf(-x), tanh(-(double)x)));
    }
    cr_expect_lt(we, 4e-7, "expf max rel err %g", we);
    cr_expect_lt(ws, 4e-7, "sigmoidf max rel err %g", ws);
    cr_expect_lt(wt, 4e-7, "tanhf max rel err %g", wt);
    cr_log_info("max rel err: exp %.2e sigmoid %.2e tanh %.2e", we, ws, wt);
    cr_expect_eq(rg_tanhf(100.0f), 1.0f);
    cr_expect_eq(rg_tanhf(-100.0f), -1.0f);
    cr_expect_lt(rg_sigmoidf(-200.0f), 1e-37f);
    cr_expect_eq(rg_sigmoidf(200.0f), 1.0f);
}

Test(fastmath, nan_and_inf_propagate) {
    cr_expect(isnan(rg_expf(NAN)));
    cr_expect(isnan(rg_sigmoidf(NAN)));
    cr_expect(isnan(rg_tanhf(NAN)));
    cr_expect(isinf(rg_expf(INFINITY)) || rg_expf(INFINITY) > 1e38f);
    cr_expect_leq(rg_expf(-INFINITY), 1.2e-38f); /* clamped at the smallest normal */
    cr_expect_eq(rg_tanhf(INFINITY), 1.0f);
    cr_expect_eq(rg_tanhf(-INFINITY), -1.0f);
}
