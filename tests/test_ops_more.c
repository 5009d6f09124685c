/* The ops of ops/activation.c, indexing.c, scan.c, norm.c and loss.c beyond
 * their gradient-check rows: float32 against float64 on every row, minGRU's
 * parallel log-space scan built from public ops (against its sequential
 * recurrence, and gradient-checked), the properties a value check cannot see
 * (no gradient from comparisons and argmax, ties, NaN, -inf and large values)
 * and the error paths, each naming the function and its operands. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "gradrows.h"

/* ---- float32 against float64 on every row ----------------------------------- */

static rg_tensor *make_input(const rg_gradrow_input *s, rg_dtype fdt, rg_rng *r) {
    static const int64_t dims[8] = {3, 4, 2, 3, 2, 2, 2, 2};
    int64_t shape[RG_MAX_RANK];
    for (int d = 0; d < s->rank; d++)
        shape[d] = s->shape[d] < 0 ? dims[-s->shape[d] - 1] : s->shape[d];
    rg_tensor *t = rg_tensor_new(NULL, s->dt == RG_I32 ? RG_I32 : fdt, s->rank, shape);
    double hi = s->dt == RG_I32 && s->hi < 0 ? (double)dims[(int)(-s->hi) - 1] : s->hi;
    /* float values rounded to float32, so both dtypes see the same inputs */
    for (int64_t i = 0; i < t->numel; i++)
        rg_set(t, i,
               s->dt == RG_I32 ? s->lo + (double)rg_rng_below(r, (int64_t)(hi - s->lo))
                               : (double)(float)(s->lo + (s->hi - s->lo) * rg_rng_uniform(r)));
    if (s->dt != RG_I32) rg_set_requires_grad(t, true);
    return t;
}

/* Output and every input gradient (seeded with the same random weights) of the
 * row in float32 agree with float64. */
static void f32_matches_f64(const rg_gradrow *row) {
    rg_tensor *in[2][6] = {{0}}, *y[2];
    rg_dtype dts[2] = {RG_F64, RG_F32};
    rg_tape *tp[2];
    for (int k = 0; k < 2; k++) {
        rg_rng r;
        rg_rng_seed(&r, 99);
        for (int j = 0; j < row->n_in; j++) in[k][j] = make_input(&row->in[j], dts[k], &r);
        tp[k] = rg_tape_new();
        y[k] = row->build(tp[k], in[k], row->n_in);
        cr_assert_not_null(y[k], "%s (%s): %s", row->name, rg_dtype_name(dts[k]),
                           rg_tape_error(tp[k]));
        cr_expect_eq(y[k]->dtype, dts[k], "%s: output dtype", row->name);
        rg_rng_seed(&r, 5);
        rg_tensor *seed = rg_uniform(NULL, RG_F64, y[k]->rank, y[k]->shape, -1, 1, &r);
        cr_assert_eq(rg_backward_seed(tp[k], y[k], seed), 0, "%s: %s", row->name,
                     rg_tape_error(tp[k]));
        rg_tensor_free(seed);
    }
    for (int64_t i = 0; i < y[0]->numel; i++) {
        double v64 = rg_get(y[0], i), v32 = rg_get(y[1], i);
        if (fabs(v64 - v32) > 1e-5 + 1e-5 * fabs(v64)) {
            cr_expect_fail("%s: F32 output element %lld is %.9g, F64 %.9g", row->name,
                           (long long)i, v32, v64);
            break;
        }
    }
    for (int j = 0; j < row->n_in; j++) {
        if (row->in[j].dt == RG_I32) continue;
        for (int64_t i = 0; i < in[0][j]->numel; i++) {
            double g64 = rg_grad_get(in[0][j], i), g32 = rg_grad_get(in[1][j], i);
            if (fabs(g64 - g32) > 1e-5 + 1e-4 * fabs(g64)) {
                cr_expect_fail("%s: F32 gradient of input %d element %lld is %.9g, F64 %.9g",
                               row->name, j, (long long)i, g32, g64);
                break;
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < row->n_in; j++) rg_tensor_free(in[k][j]);
        rg_tape_free(tp[k]);
    }
}

Test(ops_more, float32_matches_float64) {
    const struct {
        const rg_gradrow *rows;
        int n;
    } t[] = {{rg_gradrows_activation, rg_gradrows_activation_n},
             {rg_gradrows_indexing, rg_gradrows_indexing_n},
             {rg_gradrows_scan, rg_gradrows_scan_n},
             {rg_gradrows_norm, rg_gradrows_norm_n},
             {rg_gradrows_loss, rg_gradrows_loss_n}};
    int n = 0;
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
        for (int i = 0; i < t[k].n; i++, n++) f32_matches_f64(&t[k].rows[i]);
    cr_log_info("%d rows agree in float32 and float64", n);
}

/* ---- minGRU's parallel scan --------------------------------------------------------
 * h_t = (1 - z_t) h_{t-1} + z_t g(n_t), z_t = sigmoid(k_t), g(v) = v + 1/2 for
 * v >= 0 and sigmoid(v) below (positive, so h stays positive).  In log space,
 * with log a_t = log(1 - z_t) and log b_t = log z_t + log g(n_t), a* = cumsum(log a)
 * (0 at the prepended step) and log h = a* + logcumsumexp([log h0, log b] - a*). */

enum { MG_T = 6, MG_B = 2, MG_H = 3 };

/* log g(v) = log(relu(v) + 1/2) where v >= 0, log sigmoid(v) elsewhere. */
static rg_tensor *log_g(rg_tape *tp, rg_tensor *v) {
    rg_tensor *zero = rg_scalar(tp, v->dtype, 0);
    return rg_where(tp, rg_ge(tp, v, zero), rg_log(tp, rg_add_scalar(tp, rg_relu(tp, v), 0.5)),
                    rg_log_sigmoid(tp, v));
}

/* k, n [T,B,H], h0 [B,H] (positive) -> h [T,B,H], public ops only. */
static rg_tensor *mingru_parallel(rg_tape *tp, rg_tensor *k, rg_tensor *n, rg_tensor *h0) {
    int64_t T = k->shape[0], B = k->shape[1], H = k->shape[2];
    rg_tensor *log_a = rg_log_sigmoid(tp, rg_neg(tp, k)); /* log(1 - z) */
    rg_tensor *log_b = rg_add(tp, rg_log_sigmoid(tp, k), log_g(tp, n));
    rg_tensor *zeros = rg_zeros(tp, k->dtype, RG_DIMS(1, B, H));
    rg_tensor *log_h0 = rg_reshape(tp, rg_log(tp, h0), RG_DIMS(1, B, H));
    rg_tensor *a_star = rg_cumsum(tp, rg_concat(tp, 2, (rg_tensor *[]){zeros, log_a}, 0), 0);
    rg_tensor *vals = rg_concat(tp, 2, (rg_tensor *[]){log_h0, log_b}, 0);
    rg_tensor *log_h = rg_add(tp, a_star, rg_logcumsumexp(tp, rg_sub(tp, vals, a_star), 0));
    return rg_exp(tp, rg_slice(tp, log_h, 0, 1, T));
}

static double sigm(double v) { return 1 / (1 + exp(-v)); }

typedef struct mg_ctx {
    rg_tensor *w; /* [T,B,H] weights of the scalar */
} mg_ctx;

static rg_tensor *mingru_loss(rg_tape *tp, rg_tensor *const *in, int n, void *user) {
    mg_ctx *c = user;
    return rg_sum(tp, rg_mul(tp, mingru_parallel(tp, in[0], in[1], in[2]), c->w));
}

Test(ops_more, mingru_parallel_scan) {
    rg_rng r;
    rg_rng_seed(&r, 17);
    rg_tensor *k = rg_uniform(NULL, RG_F64, RG_DIMS(MG_T, MG_B, MG_H), -2, 2, &r);
    rg_tensor *n = rg_uniform(NULL, RG_F64, RG_DIMS(MG_T, MG_B, MG_H), -2, 2, &r);
    rg_tensor *h0 = rg_uniform(NULL, RG_F64, RG_DIMS(MG_B, MG_H), 0.2, 1.5, &r);
    mg_ctx c = {rg_uniform(NULL, RG_F64, RG_DIMS(MG_T, MG_B, MG_H), -1, 1, &r)};
    rg_tensor *in[3] = {k, n, h0};
    for (int j = 0; j < 3; j++) rg_set_requires_grad(in[j], true);

    /* the values: the sequential recurrence */
    rg_tape *tp = rg_tape_new();
    rg_tensor *h = mingru_parallel(tp, k, n, h0);
    cr_assert_not_null(h, "%s", rg_tape_error(tp));
    double worst = 0;
    for (int64_t bh = 0; bh < MG_B * MG_H; bh++) {
        double hv = rg_get(h0, bh);
        for (int64_t t = 0; t < MG_T; t++) {
            int64_t p = t * MG_B * MG_H + bh;
            double z = sigm(rg_get(k, p)), nv = rg_get(n, p);
            hv = (1 - z) * hv + z * (nv >= 0 ? nv + 0.5 : sigm(nv));
            worst = fmax(worst, fabs(rg_get(h, p) - hv) / fabs(hv));
        }
    }
    cr_expect(worst < 1e-13, "parallel scan differs from the recurrence by %.3g", worst);
    rg_tape_free(tp);

    /* the gradients: central differences over k, n and h0 */
    rg_gradcheck_opts o;
    rg_gradcheck_defaults(&o);
    rg_gradcheck_result res;
    cr_assert_eq(rg_gradcheck(mingru_loss, 3, in, &c, &o, &res), 0, "%s", rg_last_error());
    cr_expect(res.pass && res.max_rel_err < 1e-6,
              "minGRU scan: max rel err %.3g at input %d element %lld (%.12g vs %.12g)",
              res.max_rel_err, res.worst_input, (long long)res.worst_index,
              res.worst_analytic, res.worst_numeric);
    cr_expect_eq(res.n_checked, 2 * MG_T * MG_B * MG_H + MG_B * MG_H);
    for (int j = 0; j < 3; j++) rg_tensor_free(in[j]);
    rg_tensor_free(c.w);
}

/* ---- properties --------------------------------------------------------------------- */

static rg_tensor *leaf(rg_dtype dt, int rank, const int64_t *shape, const double *v) {
    rg_tensor *t = rg_from_doubles(NULL, dt, rank, shape, v);
    cr_assert_not_null(t, "%s", rg_last_error());
    rg_set_requires_grad(t, true);
    return t;
}

/* Comparisons and argmax keep no entry and give results that need no gradient,
 * even from inputs that require one. */
Test(ops_more, no_gradient_results) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *a = leaf(RG_F64, RG_DIMS(2, 3), (double[]){1, 5, 3, 4, 2, 6});
    rg_tensor *b = leaf(RG_F64, RG_DIMS(3), (double[]){2, 5, 1});
    rg_tensor *r[8] = {rg_gt(tp, a, b), rg_lt(tp, a, b), rg_ge(tp, a, b), rg_le(tp, a, b),
                       rg_eq(tp, a, b), rg_ne(tp, a, b), rg_argmax(tp, a, -1, false),
                       rg_argmin(tp, a, 0, true)};
    const double want[6][6] = {{0, 0, 1, 1, 0, 1}, {1, 0, 0, 0, 1, 0}, {0, 1, 1, 1, 0, 1},
                               {1, 1, 0, 0, 1, 0}, {0, 1, 0, 0, 0, 0}, {1, 0, 1, 1, 1, 1}};
    for (int k = 0; k < 8; k++) {
        cr_assert_not_null(r[k], "%s", rg_tape_error(tp));
        cr_expect(!rg_requires_grad(r[k]), "result %d requires a gradient", k);
    }
    cr_expect_eq(rg_tape_entries(tp), 0, "comparisons and argmax keep no entry");
    for (int k = 0; k < 6; k++) {
        cr_expect_eq(r[k]->dtype, RG_F64);
        for (int i = 0; i < 6; i++)
            cr_expect_eq(rg_get(r[k], i), want[k][i], "comparison %d element %d", k, i);
    }
    cr_expect_eq(r[6]->dtype, RG_I32);
    cr_expect_eq(r[6]->rank, 1);
    cr_expect(rg_get(r[6], 0) == 1 && rg_get(r[6], 1) == 2);
    cr_expect_eq(r[7]->rank, 2);
    cr_expect(rg_get(r[7], 0) == 0 && rg_get(r[7], 1) == 1 && rg_get(r[7], 2) == 0);
    cr_expect(rg_tape_grad_enabled(tp), "grad mode is restored");
    /* a mask as a factor: the gradient flows through the other side only */
    rg_tensor *y = rg_sum(tp, rg_mul(tp, r[0], a));
    cr_assert_eq(rg_backward(tp, y), 0, "%s", rg_tape_error(tp));
    for (int i = 0; i < 6; i++) cr_expect_eq(rg_grad_get(a, i), want[0][i]);
    cr_expect_eq(rg_grad_get(b, 0), 0);
    rg_tensor_free(a);
    rg_tensor_free(b);
    rg_tape_free(tp);
}

/* Ties: argmax and argmin take the first, NaN wins both (torch on the CPU);
 * maximum and minimum split the gradient of a tie; topk orders ties by index. */
Test(ops_more, ties_and_nan) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = rg_from_doubles(tp, RG_F64, RG_DIMS(3, 4),
                                   (double[]){1, 3, 3, 0, 2, NAN, 5, NAN, -1, -1, 4, 4});
    rg_tensor *am = rg_argmax(tp, x, 1, false), *an = rg_argmin(tp, x, 1, false);
    cr_assert(am && an, "%s", rg_tape_error(tp));
    const int want_max[3] = {1, 1, 2}, want_min[3] = {3, 1, 0};
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(rg_get(am, i), want_max[i], "argmax row %d", i);
        cr_expect_eq(rg_get(an, i), want_min[i], "argmin row %d", i);
    }
    rg_tensor *vi[2];
    cr_assert_eq(rg_topk(tp, x, 3, 1, true, vi), 0, "%s", rg_tape_error(tp));
    rg_tensor *v = vi[0], *ix = vi[1];
    const int want_top[9] = {1, 2, 0, 1, 3, 2, 2, 3, 0};
    for (int i = 0; i < 9; i++) cr_expect_eq(rg_get(ix, i), want_top[i], "topk %d", i);
    cr_expect(isnan(rg_get(v, 3)) && isnan(rg_get(v, 4)) && rg_get(v, 5) == 5);
    cr_assert_eq(rg_topk(tp, x, 0, -1, false, vi), 0, "%s", rg_tape_error(tp));
    v = vi[0], ix = vi[1];
    cr_expect(v->numel == 0 && v->shape[1] == 0 && ix->dtype == RG_I32);

    rg_tensor *a = leaf(RG_F64, RG_DIMS(3), (double[]){1, 2, 3});
    rg_tensor *b = leaf(RG_F64, RG_DIMS(3), (double[]){1, 5, 0});
    rg_tensor *y = rg_sum(tp, rg_add(tp, rg_maximum(tp, a, b), rg_mul_scalar(tp,
                                                                    rg_minimum(tp, a, b), 10)));
    cr_assert_eq(rg_backward(tp, y), 0, "%s", rg_tape_error(tp));
    const double da[3] = {5.5, 10, 1}, db[3] = {5.5, 1, 10};
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(rg_grad_get(a, i), da[i], "da[%d] = %g", i, rg_grad_get(a, i));
        cr_expect_eq(rg_grad_get(b, i), db[i], "db[%d] = %g", i, rg_grad_get(b, i));
    }
    rg_tensor *nan1 = rg_from_doubles(tp, RG_F64, RG_DIMS(2), (double[]){NAN, 1});
    rg_tensor *one = rg_scalar(tp, RG_F64, 2);
    cr_expect(isnan(rg_get(rg_maximum(tp, nan1, one), 0)) &&
              isnan(rg_get(rg_minimum(tp, one, nan1), 0)));
    rg_tensor_free(a);
    rg_tensor_free(b);
    rg_tape_free(tp);
}

/* logcumsumexp near 1e4 (exp overflows there) and with -inf entries: finite
 * values, finite gradients, -inf where every entry so far is -inf. */
Test(ops_more, logcumsumexp_large_and_minus_inf) {
    rg_dtype dts[2] = {RG_F64, RG_F32};
    for (int k = 0; k < 2; k++) {
        rg_tape *tp = rg_tape_new();
        rg_tensor *x = leaf(dts[k], RG_DIMS(2, 4),
                            (double[]){1e4, 1e4 + 1, 1e4 - 2, 1e4, -INFINITY, -INFINITY, 0.5,
                                       -INFINITY});
        rg_tensor *y = rg_logcumsumexp(tp, x, -1);
        cr_assert_not_null(y, "%s", rg_tape_error(tp));
        double tol = dts[k] == RG_F64 ? 1e-12 : 1e-3;
        double s1 = log1p(exp(1.0)); /* log(e^0 + e^1) */
        double want[8] = {1e4, 1e4 + s1, 1e4 + log(1 + exp(1) + exp(-2)),
                          1e4 + log(2 + exp(1) + exp(-2)), -INFINITY, -INFINITY, 0.5, 0.5};
        for (int i = 0; i < 8; i++) {
            double v = rg_get(y, i);
            cr_expect(isinf(want[i]) ? v == want[i] : fabs(v - want[i]) <= tol * fabs(want[i]),
                      "%s y[%d] = %.17g, want %.17g", rg_dtype_name(dts[k]), i, v, want[i]);
        }
        cr_assert_eq(rg_backward(tp, rg_sum(tp, rg_slice(tp, y, 1, 2, 2))), 0, "%s",
                     rg_tape_error(tp));
        /* d/dx of y_2 + y_3: softmax weights, finite; 0.5 alone makes both y's */
        for (int i = 0; i < 8; i++)
            cr_expect(isfinite(rg_grad_get(x, i)), "gradient %d is %g", i, rg_grad_get(x, i));
        double e = exp(1), w2 = 1 + e + exp(-2), w3 = 2 + e + exp(-2);
        cr_expect(fabs(rg_grad_get(x, 0) - (1 / w2 + 1 / w3)) < tol);
        cr_expect(fabs(rg_grad_get(x, 3) - 1 / w3) < tol);
        cr_expect(rg_grad_get(x, 4) == 0 && rg_grad_get(x, 6) == 2 && rg_grad_get(x, 7) == 0);
        rg_tensor_free(x);
        rg_tape_free(tp);
    }
}

/* The per-element losses add up to the summed loss, for every loss. */
Test(ops_more, none_sums_to_sum) {
    rg_rng r;
    rg_rng_seed(&r, 3);
    rg_tape *tp = rg_tape_new();
    rg_tensor *a = rg_uniform(tp, RG_F64, RG_DIMS(4, 5), -2, 2, &r);
    rg_tensor *b = rg_uniform(tp, RG_F64, RG_DIMS(4, 5), -2, 2, &r);
    rg_tensor *t01 = rg_uniform(tp, RG_F64, RG_DIMS(4, 5), 0, 1, &r);
    rg_tensor *w = rg_uniform(tp, RG_F64, RG_DIMS(4), 0, 1, &r);
    rg_tensor *ids = rg_from_doubles(tp, RG_I32, RG_DIMS(4), (double[]){0, 4, 2, 2});
    rg_tensor *pairs[8][2] = {
        {rg_bce_with_logits(tp, a, t01, NULL, RG_NONE), rg_bce_with_logits(tp, a, t01, NULL, RG_SUM)},
        {rg_huber(tp, a, b, 0.7, RG_NONE), rg_huber(tp, a, b, 0.7, RG_SUM)},
        {rg_smooth_l1(tp, a, b, 0.7, RG_NONE), rg_smooth_l1(tp, a, b, 0.7, RG_SUM)},
        {rg_l1(tp, a, b, RG_NONE), rg_l1(tp, a, b, RG_SUM)},
        {rg_nll(tp, a, ids, RG_NONE), rg_nll(tp, a, ids, RG_SUM)},
        {rg_cross_entropy(tp, a, ids, RG_NONE), rg_cross_entropy(tp, a, ids, RG_SUM)},
        {rg_cross_entropy_weighted(tp, a, ids, w, RG_NONE),
         rg_cross_entropy_weighted(tp, a, ids, w, RG_SUM)},
        {rg_mse(tp, a, b, RG_NONE), rg_mse(tp, a, b, RG_SUM)}};
    for (int k = 0; k < 8; k++) {
        cr_assert(pairs[k][0] && pairs[k][1], "%d: %s", k, rg_tape_error(tp));
        double s = 0;
        for (int64_t i = 0; i < pairs[k][0]->numel; i++) s += rg_get(pairs[k][0], i);
        cr_expect(fabs(s - rg_get(pairs[k][1], 0)) < 1e-12 * fmax(1, fabs(s)),
                  "loss %d: none sums to %.17g, sum is %.17g", k, s, rg_get(pairs[k][1], 0));
    }
    rg_tape_free(tp);
}

/* ---- errors: each names the function and the operands ------------------------------ */

/* Runs one failing call on a fresh tape; its message must contain each of the
 * strings given. */
#define EXPECT_ERR(call, ...)                                                          \
    do {                                                                               \
        rg_tape_reset(tp);                                                             \
        setup(tp, t);                                                                  \
        cr_expect_null((void *)(intptr_t)(call), #call " succeeded");                  \
        const char *m_ = rg_tape_error(tp);                                            \
        const char *want_[] = {__VA_ARGS__};                                           \
        for (size_t k_ = 0; k_ < sizeof want_ / sizeof want_[0]; k_++)                 \
            cr_expect(m_ && strstr(m_, want_[k_]), "%s: message '%s' lacks '%s'", #call, \
                      m_ ? m_ : "(none)", want_[k_]);                                  \
    } while (0)

enum { X23, X3, ID, I23, X24, MASK32, W5 };

static void setup(rg_tape *tp, rg_tensor **t) {
    t[X23] = rg_zeros(tp, RG_F64, RG_DIMS(2, 3));
    t[X3] = rg_zeros(tp, RG_F64, RG_DIMS(3));
    t[ID] = rg_from_doubles(tp, RG_I32, RG_DIMS(2), (double[]){1, 3});
    t[I23] = rg_zeros(tp, RG_I32, RG_DIMS(2, 3));
    t[X24] = rg_zeros(tp, RG_F64, RG_DIMS(2, 4));
    t[MASK32] = rg_zeros(tp, RG_I32, RG_DIMS(3, 2));
    t[W5] = rg_zeros(tp, RG_F64, RG_DIMS(5));
}

Test(ops_more, errors_name_function_and_operands) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *t[8];
    EXPECT_ERR(rg_index_select(tp, t[X23], 1, t[ID]), "rg_index_select", "id 3", "[2,3]");
    EXPECT_ERR(rg_index_select(tp, t[X23], 2, t[ID]), "rg_index_select", "axis 2");
    EXPECT_ERR(rg_index_select(tp, t[I23], 0, t[ID]), "rg_index_select", "int32");
    EXPECT_ERR(rg_index_add(tp, t[X23], 1, t[ID], t[X23]), "rg_index_add", "id 3", "[2,3]");
    EXPECT_ERR(rg_index_add(tp, t[X24], 1, t[ID], t[X23]), "rg_index_add", "src [2,3]",
               "x [2,4]", "2 ids");
    EXPECT_ERR(rg_index_add(tp, t[X24], 1, t[ID], rg_zeros(tp, RG_F32, RG_DIMS(2, 2))),
               "rg_index_add", "float32", "float64");
    EXPECT_ERR(rg_index_add(tp, t[X23], 0, t[I23], t[X23]), "rg_index_add", "rank 0 or 1");
    EXPECT_ERR(rg_gather(tp, t[X23], 0, t[ID]), "rg_gather", "[2]", "[2,3]");
    EXPECT_ERR(rg_gather(tp, t[X23], 0, rg_full(tp, RG_I32, RG_DIMS(1, 3), 2)), "rg_gather",
               "index 2", "[0, 2)");
    EXPECT_ERR(rg_gather(tp, t[X23], 1, rg_zeros(tp, RG_I32, RG_DIMS(3, 1))), "rg_gather",
               "larger", "dim 0");
    EXPECT_ERR(rg_where(tp, t[MASK32], t[X23], t[X3]), "rg_where", "[3,2]", "[2,3]");
    EXPECT_ERR(rg_where(tp, t[I23], t[X23], rg_zeros(tp, RG_F32, RG_DIMS(3))), "rg_where",
               "dtypes");
    EXPECT_ERR(rg_masked_fill(tp, t[X3], t[I23], 0), "rg_masked_fill", "[2,3]", "[3]");
    EXPECT_ERR(rg_gt(tp, t[X23], t[X24]), "rg_gt", "[2,3]", "[2,4]");
    EXPECT_ERR(rg_eq(tp, t[I23], t[X23]), "rg_eq", "int32");
    EXPECT_ERR(rg_argmax(tp, rg_zeros(tp, RG_F64, RG_DIMS(2, 0)), 1, false), "rg_argmax",
               "empty");
    EXPECT_ERR(rg_argmin(tp, t[X23], -3, false), "rg_argmin", "axis -3");
    EXPECT_ERR(rg_maximum(tp, t[X23], t[X24]), "rg_maximum", "broadcast");
    EXPECT_ERR(rg_softplus(tp, t[X23], 0, 20), "rg_softplus", "beta");
    EXPECT_ERR(rg_gelu(tp, t[I23]), "rg_gelu", "int32");
    EXPECT_ERR(rg_erf(tp, t[I23]), "rg_erf", "int32");
    EXPECT_ERR(rg_cumsum(tp, t[X23], 2), "rg_cumsum", "axis 2", "[2,3]");
    EXPECT_ERR(rg_logcumsumexp(tp, t[I23], 0), "rg_logcumsumexp", "int32");
    EXPECT_ERR(rg_layer_norm(tp, t[X23], t[W5], NULL, 1e-5), "rg_layer_norm", "weight", "[5]");
    EXPECT_ERR(rg_layer_norm(tp, t[X23], NULL, t[W5], 1e-5), "rg_layer_norm", "bias", "[5]");
    EXPECT_ERR(rg_rms_norm(tp, t[X23], NULL, -1), "rg_rms_norm", "eps");
    EXPECT_ERR(rg_rms_norm(tp, rg_scalar(tp, RG_F64, 1), NULL, 1e-5), "rg_rms_norm", "[]");
    EXPECT_ERR(rg_bce_with_logits(tp, t[X23], t[X24], NULL, RG_MEAN), "rg_bce_with_logits",
               "targets", "[2,4]");
    EXPECT_ERR(rg_bce_with_logits(tp, t[X23], t[X23], t[X3], RG_MEAN), "rg_bce_with_logits",
               "weight", "[3]");
    EXPECT_ERR(rg_huber(tp, t[X23], t[X23], 0, RG_SUM), "rg_huber", "delta");
    EXPECT_ERR(rg_l1(tp, t[X23], t[X23], (rg_reduction)7), "rg_l1", "reduction 7");
    EXPECT_ERR(rg_nll(tp, t[X23], t[ID], RG_MEAN), "rg_nll", "target 3", "row 1");
    EXPECT_ERR(rg_cross_entropy(tp, t[X23], t[ID], RG_NONE), "rg_cross_entropy", "target 3");
    EXPECT_ERR(rg_cross_entropy_weighted(tp, t[X23], rg_zeros(tp, RG_I32, RG_DIMS(2)), t[X3],
                                         RG_NONE),
               "rg_cross_entropy_weighted", "weights", "[3]");
    EXPECT_ERR(rg_mse(tp, t[X23], t[X24], RG_NONE), "rg_mse", "[2,3]", "[2,4]");
    /* NULL inputs name the function, not the row */
    EXPECT_ERR(rg_where(tp, NULL, t[X23], t[X23]), "rg_where: input 0 is NULL");
    EXPECT_ERR(rg_lt(tp, t[X23], NULL), "rg_lt: input 1 is NULL");
    EXPECT_ERR(rg_argmax(tp, NULL, 0, false), "rg_argmax: input 0 is NULL");
    EXPECT_ERR(rg_cross_entropy(tp, NULL, t[ID], RG_NONE), "rg_cross_entropy: input 0 is NULL");
    EXPECT_ERR(rg_rsub_scalar(tp, NULL, 1), "rg_rsub_scalar: input 0 is NULL");
    rg_tape_free(tp);

    tp = rg_tape_new();
    rg_tensor *vi[2];
    setup(tp, t);
    cr_expect_eq(rg_topk(tp, t[X23], 4, 1, true, vi), -1);
    cr_expect(strstr(rg_tape_error(tp), "rg_topk: k = 4"), "%s", rg_tape_error(tp));
    cr_expect(vi[0] == NULL && vi[1] == NULL);
    rg_tape_reset(tp);
    setup(tp, t);
    cr_expect_eq(rg_topk(tp, t[X23], 1, 1, true, NULL), -1);
    cr_expect(strstr(rg_tape_error(tp), "rg_topk"), "%s", rg_tape_error(tp));
    rg_tape_free(tp);
}
