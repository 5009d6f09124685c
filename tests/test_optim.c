/* Optimizers, clipping and schedules (models/optim.c) against PyTorch's values
 * (tests/data/optim_*.txt from tools/gen_optim_refs.py), the state export and
 * import round trip, and the error paths. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "testutil.h"

/* hyper fields of a trajectory case (see tools/gen_optim_refs.py) */
enum { H_KIND, H_LR, H_MOM, H_DAMP, H_NEST, H_B1, H_B2, H_EPS, H_WD, H_CLIP, H_CLIPV, H_STEPS };

static double tol_rel(rg_dtype dt) { return dt == RG_F64 ? 1e-10 : 1e-5; }
static double tol_abs(rg_dtype dt) { return dt == RG_F64 ? 1e-12 : 1e-6; }

static rg_optim_config config_of(const rg_tensor *h) {
    rg_optim_config c = rg_optim_defaults((rg_optim_kind)rg_get(h, H_KIND), rg_get(h, H_LR));
    c.momentum = rg_get(h, H_MOM);
    c.dampening = rg_get(h, H_DAMP);
    c.nesterov = rg_get(h, H_NEST) != 0.0;
    c.beta1 = rg_get(h, H_B1);
    c.beta2 = rg_get(h, H_B2);
    c.eps = rg_get(h, H_EPS);
    c.weight_decay = rg_get(h, H_WD);
    return c;
}

/* A registry "p0" [3,4], "p1" [5] holding the case's initial values. */
static rg_params *params_of(const rg_refcase *rc) {
    rg_params *P = rg_params_new();
    cr_assert_not_null(P);
    const char *names[2] = {"p0", "p1"};
    for (int i = 0; i < 2; i++) {
        const rg_tensor *init = rc->in[1 + i];
        rg_tensor *p = rg_params_add(P, names[i], init->dtype, init->rank, init->shape);
        cr_assert_not_null(p, "%s", rg_last_error());
        cr_assert_eq(rg_tensor_copy(p, init), 0);
    }
    return P;
}

/* A persistent copy of row k of stack, shaped like like. */
static rg_tensor *row(const rg_tensor *stack, int64_t k, const rg_tensor *like) {
    size_t es = rg_dtype_size(stack->dtype);
    const char *src = (const char *)stack->data + (size_t)(k * like->numel) * es;
    return rg_from_data(NULL, stack->dtype, like->rank, like->shape, src);
}

static void set_grads(rg_params *P, const rg_refcase *rc, int64_t k) {
    for (int i = 0; i < 2; i++) {
        rg_tensor *p = rg_params_at(P, i, NULL);
        void *g = rg_grad(NULL, p);
        cr_assert_not_null(g);
        rg_tensor *gk = row(rc->in[3 + i], k, p);
        memcpy(g, gk->data, (size_t)p->numel * rg_dtype_size(p->dtype));
        rg_tensor_free(gk);
    }
}

/* Applies the case's clipping; returns the total norm (0 when not clipping by norm). */
static double clip(rg_params *P, const rg_tensor *h) {
    int mode = (int)rg_get(h, H_CLIP);
    if (mode == 1) return rg_clip_grad_norm(P, rg_get(h, H_CLIPV));
    if (mode == 2) cr_assert_eq(rg_clip_grad_value(P, rg_get(h, H_CLIPV)), 0);
    return 0.0;
}

static void expect_close(const rg_tensor *got, const rg_tensor *want, const char *what,
                         const char *cname, int64_t k) {
    rg_cmp c = rg_test_compare(got, want, tol_abs(want->dtype), tol_rel(want->dtype));
    cr_expect(c.pass, "%s: %s after step %lld: element %lld got %.17g want %.17g (rel %.3g)",
              cname, what, (long long)k + 1, (long long)c.worst, c.got_v, c.want_v, c.max_rel);
}

static rg_reflist *load(const char *file) {
    rg_reflist *l = rg_ref_load(rg_test_data_path(file));
    cr_assert_not_null(l, "%s", rg_last_error());
    return l;
}

Test(optim, matches_torch_trajectories) {
    rg_reflist *l = load("optim_steps.txt");
    cr_assert_geq(l->n, 54);
    for (int ci = 0; ci < l->n; ci++) {
        const rg_refcase *rc = &l->cases[ci];
        const rg_tensor *h = rc->in[0];
        rg_params *P = params_of(rc);
        rg_optim_config cfg = config_of(h);
        rg_optim *opt = rg_optim_new(P, &cfg);
        cr_assert_not_null(opt, "%s: %s", rc->name, rg_last_error());
        int64_t steps = (int64_t)rg_get(h, H_STEPS);
        for (int64_t k = 0; k < steps; k++) {
            set_grads(P, rc, k);
            double norm = clip(P, h);
            double want_norm = rg_get(rc->out[2], k);
            cr_expect(fabs(norm - want_norm) <= tol_rel(rc->in[1]->dtype) * want_norm,
                      "%s: norm at step %lld: %.17g vs %.17g", rc->name, (long long)k, norm,
                      want_norm);
            cr_assert_eq(rg_optim_step(opt), 0, "%s", rg_last_error());
            for (int i = 0; i < 2; i++) {
                const char *name;
                rg_tensor *p = rg_params_at(P, i, &name);
                rg_tensor *want = row(rc->out[i], k, p);
                expect_close(p, want, name, rc->name, k);
                rg_tensor_free(want);
            }
        }
        cr_expect_eq(rg_optim_steps(opt), steps);
        /* the exported state equals torch's optimizer state */
        static const char *const sgd_names[] = {"p0.momentum_buffer", "p1.momentum_buffer"};
        static const char *const adam_names[] = {"p0.exp_avg", "p0.exp_avg_sq", "p1.exp_avg",
                                                 "p1.exp_avg_sq"};
        const char *const *names = cfg.kind == RG_SGD ? sgd_names : adam_names;
        for (int j = 3; j < rc->n_out; j++) {
            rg_tensor *st = rg_optim_state_get(opt, names[j - 3]);
            cr_assert_not_null(st, "%s: no state '%s'", rc->name, names[j - 3]);
            expect_close(st, rc->out[j], names[j - 3], rc->name, steps - 1);
        }
        cr_expect_eq(rc->n_out - 3, cfg.kind != RG_SGD ? 4 : cfg.momentum != 0.0 ? 2 : 0);
        rg_tensor *s0 = rg_optim_state_get(opt, "p0.step");
        cr_assert_not_null(s0);
        cr_expect_eq(rg_get(s0, 0), (double)steps);
        rg_optim_free(opt);
        rg_params_free(P);
    }
    rg_ref_free(l);
}

Test(optim, state_names_and_shapes) {
    rg_params *P = rg_params_new();
    rg_params_add(P, "w", RG_F32, RG_DIMS(2, 3));
    rg_params_add(P, "b", RG_F64, RG_DIMS(3));
    rg_optim_config c = rg_optim_defaults(RG_ADAM, 1e-3);
    rg_optim *o = rg_optim_new(P, &c);
    cr_assert_not_null(o, "%s", rg_last_error());
    static const char *const want[] = {"w.step", "w.exp_avg", "w.exp_avg_sq",
                                       "b.step", "b.exp_avg", "b.exp_avg_sq"};
    cr_assert_eq(rg_optim_state_count(o), 6);
    for (int i = 0; i < 6; i++) {
        const char *name;
        rg_tensor *t = rg_optim_state_at(o, i, &name);
        cr_assert_not_null(t);
        cr_expect_str_eq(name, want[i]);
        cr_expect_eq(rg_optim_state_get(o, want[i]), t);
    }
    cr_expect_eq(rg_optim_state_get(o, "w.exp_avg")->dtype, RG_F32);
    cr_expect_eq(rg_optim_state_get(o, "w.exp_avg")->numel, 6);
    cr_expect_eq(rg_optim_state_get(o, "b.exp_avg_sq")->dtype, RG_F64);
    cr_expect_eq(rg_optim_state_get(o, "b.step")->dtype, RG_F64);
    cr_expect_null(rg_optim_state_at(o, 6, NULL));
    cr_expect_null(rg_optim_state_get(o, "w.momentum_buffer"));
    rg_optim_free(o);

    c = rg_optim_defaults(RG_SGD, 0.1);
    o = rg_optim_new(P, &c);
    cr_expect_eq(rg_optim_state_count(o), 2);   /* only the step counts */
    rg_optim_free(o);
    c.momentum = 0.9;
    o = rg_optim_new(P, &c);
    cr_expect_eq(rg_optim_state_count(o), 4);
    cr_expect_not_null(rg_optim_state_get(o, "b.momentum_buffer"));
    rg_optim_free(o);
    rg_params_free(P);
}

/* Runs a case's steps [from, to) on P with opt. */
static void run_steps(rg_params *P, rg_optim *opt, const rg_refcase *rc, int64_t from,
                      int64_t to) {
    for (int64_t k = from; k < to; k++) {
        set_grads(P, rc, k);
        clip(P, rc->in[0]);
        cr_assert_eq(rg_optim_step(opt), 0, "%s", rg_last_error());
    }
}

/* A run interrupted after 2 steps and resumed from the exported state (in a
 * fresh registry and optimizer) ends with bit-identical weights. */
static void check_resume(const char *cname) {
    rg_reflist *l = load("optim_steps.txt");
    const rg_refcase *rc = rg_ref_find(l, cname);
    cr_assert_not_null(rc, "no case %s", cname);
    rg_optim_config cfg = config_of(rc->in[0]);
    int64_t steps = (int64_t)rg_get(rc->in[0], H_STEPS);

    rg_params *P = params_of(rc);
    rg_optim *o = rg_optim_new(P, &cfg);
    run_steps(P, o, rc, 0, steps);

    rg_params *Pa = params_of(rc);
    rg_optim *oa = rg_optim_new(Pa, &cfg);
    run_steps(Pa, oa, rc, 0, 2);
    /* what a checkpoint keeps: weights, state tensors, step count, lr */
    rg_tensor *w[2], *st[16];
    const char *st_name[16];
    int ns = rg_optim_state_count(oa);
    cr_assert_leq(ns, 16);
    for (int i = 0; i < 2; i++) w[i] = rg_tensor_clone(rg_params_at(Pa, i, NULL));
    for (int i = 0; i < ns; i++) st[i] = rg_tensor_clone(rg_optim_state_at(oa, i, &st_name[i]));
    int64_t saved_steps = rg_optim_steps(oa);
    double saved_lr = rg_optim_lr(oa);

    rg_params *Pb = params_of(rc);
    for (int i = 0; i < 2; i++) rg_tensor_copy(rg_params_at(Pb, i, NULL), w[i]);
    rg_optim *ob = rg_optim_new(Pb, &cfg);
    for (int i = 0; i < ns; i++)
        cr_assert_eq(rg_optim_state_load(ob, st_name[i], st[i]), 0, "%s", rg_last_error());
    cr_assert_eq(rg_optim_set_steps(ob, saved_steps), 0);
    cr_assert_eq(rg_optim_set_lr(ob, saved_lr), 0);
    rg_optim_free(oa);
    rg_params_free(Pa);
    run_steps(Pb, ob, rc, 2, steps);
    cr_expect_eq(rg_optim_steps(ob), steps);

    for (int i = 0; i < 2; i++) {
        const rg_tensor *a = rg_params_at(P, i, NULL), *b = rg_params_at(Pb, i, NULL);
        cr_expect_eq(memcmp(a->data, b->data, (size_t)a->numel * rg_dtype_size(a->dtype)), 0,
                     "%s: resumed weights of p%d differ", cname, i);
    }
    /* a fresh optimizer without the state gives different weights (the test
     * would not notice a lost state otherwise) */
    rg_params *Pc = params_of(rc);
    for (int i = 0; i < 2; i++) rg_tensor_copy(rg_params_at(Pc, i, NULL), w[i]);
    rg_optim *oc = rg_optim_new(Pc, &cfg);
    run_steps(Pc, oc, rc, 2, steps);
    const rg_tensor *a = rg_params_at(P, 0, NULL), *c = rg_params_at(Pc, 0, NULL);
    cr_expect_neq(memcmp(a->data, c->data, (size_t)a->numel * rg_dtype_size(a->dtype)), 0);

    for (int i = 0; i < 2; i++) rg_tensor_free(w[i]);
    for (int i = 0; i < ns; i++) rg_tensor_free(st[i]);
    rg_optim_free(o);
    rg_optim_free(ob);
    rg_optim_free(oc);
    rg_params_free(P);
    rg_params_free(Pb);
    rg_params_free(Pc);
    rg_ref_free(l);
}

Test(optim, resume_adam_f64) { check_resume("adam_wd_clipnorm_f64"); }
Test(optim, resume_adamw_f32) { check_resume("adamw_noclip_f32"); }
Test(optim, resume_sgd_momentum) { check_resume("sgd_momentum_noclip_f64"); }
Test(optim, resume_sgd_nesterov_f32) { check_resume("sgd_nesterov_clipvalue_f32"); }

Test(optim, state_load_errors) {
    rg_params *P = rg_params_new();
    rg_params_add(P, "w", RG_F64, RG_DIMS(2, 2));
    rg_optim_config c = rg_optim_defaults(RG_ADAM, 1e-3);
    rg_optim *o = rg_optim_new(P, &c);
    rg_tensor *bad = rg_zeros(NULL, RG_F64, RG_DIMS(3));
    rg_tensor *step = rg_full(NULL, RG_F64, RG_DIMS(1), 2.5);
    cr_expect_eq(rg_optim_state_load(o, "w.nope", bad), -1);
    cr_expect(strstr(rg_last_error(), "w.nope") != NULL, "%s", rg_last_error());
    cr_expect_eq(rg_optim_state_load(o, "w.exp_avg", bad), -1);
    cr_expect(strstr(rg_last_error(), "[2,2]") != NULL, "%s", rg_last_error());
    cr_expect_eq(rg_optim_state_load(o, "w.exp_avg", NULL), -1);
    cr_expect_eq(rg_optim_state_load(o, "w.step", step), -1);
    cr_expect(strstr(rg_last_error(), "integer") != NULL, "%s", rg_last_error());
    rg_set(step, 0, 3.0);
    cr_expect_eq(rg_optim_state_load(o, "w.step", step), 0);
    cr_expect_eq(rg_get(rg_optim_state_get(o, "w.step"), 0), 3.0);
    cr_expect_eq(rg_optim_set_steps(o, -1), -1);
    cr_expect_eq(rg_optim_set_steps(o, 7), 0);
    cr_expect_eq(rg_optim_steps(o), 7);
    rg_tensor_free(bad);
    rg_tensor_free(step);
    rg_optim_free(o);
    rg_params_free(P);
}

/* ---- clipping ----------------------------------------------------------------- */

/* Registry "a" [2] f64, "b" [1] f32 with grads (3, 0) and (4): total norm 5. */
static rg_params *clip_params(void) {
    rg_params *P = rg_params_new();
    rg_tensor *a = rg_params_add(P, "a", RG_F64, RG_DIMS(2));
    rg_tensor *b = rg_params_add(P, "b", RG_F32, RG_DIMS(1));
    double *ga = rg_grad(NULL, a);
    float *gb = rg_grad(NULL, b);
    ga[0] = 3.0;
    ga[1] = 0.0;
    gb[0] = 4.0f;
    return P;
}

Test(optim, clip_grad_norm) {
    rg_params *P = clip_params();
    cr_expect_eq(rg_grad_norm(P), 5.0);
    cr_expect_eq(rg_clip_grad_norm(P, 10.0), 5.0);   /* no change below max_norm */
    cr_expect_eq(rg_grad_get(rg_params_get(P, "a"), 0), 3.0);
    cr_expect_eq(rg_clip_grad_norm(P, 1.0), 5.0);    /* returns the norm before clipping */
    double coef = 1.0 / (5.0 + 1e-6);
    cr_expect_eq(rg_grad_get(rg_params_get(P, "a"), 0), 3.0 * coef);
    cr_expect_float_eq(rg_grad_get(rg_params_get(P, "b"), 0), 4.0 * coef, 1e-6);
    cr_expect(fabs(rg_grad_norm(P) - 1.0) < 1e-6);
    rg_params_free(P);

    /* max_norm 0 zeroes every gradient */
    P = clip_params();
    cr_expect_eq(rg_clip_grad_norm(P, 0.0), 5.0);
    cr_expect_eq(rg_grad_norm(P), 0.0);
    rg_params_free(P);
}

Test(optim, clip_grad_norm_nonfinite) {
    rg_params *P = clip_params();
    double *ga = rg_params_get(P, "a")->grad;
    ga[1] = NAN;
    double n = rg_clip_grad_norm(P, 1.0);
    cr_expect(isnan(n));
    cr_expect(strstr(rg_last_error(), "'a'") != NULL, "%s", rg_last_error());
    cr_expect(strstr(rg_last_error(), "skip") != NULL, "%s", rg_last_error());
    cr_expect_eq(ga[0], 3.0, "gradients must be left unchanged");
    ga[1] = 0.0;
    float *gb = rg_params_get(P, "b")->grad;
    gb[0] = INFINITY;
    n = rg_clip_grad_norm(P, 1.0);
    cr_expect(isinf(n) && n > 0);
    cr_expect(strstr(rg_last_error(), "'b'") != NULL, "%s", rg_last_error());
    cr_expect_eq(ga[0], 3.0);
    rg_params_free(P);

    /* finite gradients whose squares overflow */
    P = rg_params_new();
    rg_tensor *a = rg_params_add(P, "big", RG_F64, RG_DIMS(1));
    double *g = rg_grad(NULL, a);
    g[0] = 1e200;
    n = rg_clip_grad_norm(P, 1.0);
    cr_expect(isinf(n));
    cr_expect(strstr(rg_last_error(), "overflow") != NULL, "%s", rg_last_error());
    rg_params_free(P);
}

Test(optim, clip_grad_norm_no_grads_and_errors) {
    rg_params *P = rg_params_new();
    rg_params_add(P, "w", RG_F64, RG_DIMS(3));
    cr_expect_eq(rg_clip_grad_norm(P, 1.0), 0.0);   /* no gradient yet */
    cr_expect_eq(rg_clip_grad_norm(P, -1.0), -1.0);
    cr_expect(strstr(rg_last_error(), "max_norm") != NULL, "%s", rg_last_error());
    cr_expect_eq(rg_clip_grad_norm(P, NAN), -1.0);
    cr_expect_eq(rg_clip_grad_norm(NULL, 1.0), -1.0);
    cr_expect_eq(rg_grad_norm(NULL), -1.0);
    rg_params_free(P);
}

Test(optim, clip_grad_value) {
    rg_params *P = clip_params();
    double *ga = rg_params_get(P, "a")->grad;
    float *gb = rg_params_get(P, "b")->grad;
    ga[1] = -7.0;
    cr_expect_eq(rg_clip_grad_value(P, 3.5), 0);
    cr_expect_eq(ga[0], 3.0);
    cr_expect_eq(ga[1], -3.5);
    cr_expect_eq(gb[0], 3.5f);
    ga[0] = NAN;
    cr_expect_eq(rg_clip_grad_value(P, 1.0), 0);
    cr_expect(isnan(ga[0]));
    cr_expect_eq(ga[1], -1.0);
    cr_expect_eq(rg_clip_grad_value(P, -1.0), -1);
    cr_expect(strstr(rg_last_error(), "clip") != NULL, "%s", rg_last_error());
    cr_expect_eq(rg_clip_grad_value(P, INFINITY), -1);
    cr_expect_eq(rg_clip_grad_value(NULL, 1.0), -1);
    rg_params_free(P);
}

/* ---- schedules ----------------------------------------------------------------- */

Test(optim, schedules_match_torch) {
    rg_reflist *l = load("optim_sched.txt");
    cr_assert_geq(l->n, 7);
    for (int ci = 0; ci < l->n; ci++) {
        const rg_refcase *rc = &l->cases[ci];
        const rg_tensor *h = rc->in[0];
        rg_lr_schedule s = {
            .kind = (rg_sched_kind)rg_get(h, 0),
            .base_lr = rg_get(h, 1),
            .step_size = (int64_t)rg_get(h, 2),
            .gamma = rg_get(h, 3),
            .t_max = (int64_t)rg_get(h, 4),
            .eta_min = rg_get(h, 5),
            .warmup = (int64_t)rg_get(h, 6),
        };
        cr_assert_eq(rg_lr_schedule_check(&s), 0, "%s: %s", rc->name, rg_last_error());
        int64_t steps = (int64_t)rg_get(h, 7);
        for (int64_t k = 0; k < steps; k++) {
            double got = rg_lr_at(&s, k), want = rg_get(rc->out[0], k);
            cr_expect(fabs(got - want) <= 1e-12 + 1e-10 * fabs(want),
                      "%s: lr at step %lld: %.17g vs %.17g", rc->name, (long long)k, got, want);
        }
    }
    rg_ref_free(l);
}

Test(optim, schedule_drives_optimizer) {
    /* SGD on one weight with gradient 1: each step moves it by exactly the lr. */
    rg_params *P = rg_params_new();
    rg_tensor *w = rg_params_add(P, "w", RG_F64, RG_DIMS(1));
    *(double *)rg_grad(NULL, w) = 1.0;
    rg_optim_config c = rg_optim_defaults(RG_SGD, 0.0);
    rg_optim *o = rg_optim_new(P, &c);
    rg_lr_schedule s = {.kind = RG_SCHED_STEP, .base_lr = 0.5, .step_size = 2, .gamma = 0.5,
                        .warmup = 2};
    double sum = 0.0;
    for (int k = 0; k < 6; k++) {
        double lr = rg_lr_at(&s, rg_optim_steps(o));
        sum += lr;
        cr_assert_eq(rg_optim_set_lr(o, lr), 0);
        cr_assert_eq(rg_optim_step(o), 0);
    }
    /* 0.25, 0.5 (warm-up), 0.5, 0.5, 0.25, 0.25 */
    cr_expect_eq(sum, 2.25);
    cr_expect(fabs(rg_get(w, 0) + sum) < 1e-15);
    rg_optim_free(o);
    rg_params_free(P);
}

Test(optim, schedule_errors) {
    rg_lr_schedule s = {.kind = RG_SCHED_COSINE, .base_lr = 0.1, .t_max = 0};
    cr_expect(isnan(rg_lr_at(&s, 0)));
    cr_expect(strstr(rg_last_error(), "t_max") != NULL, "%s", rg_last_error());
    s.t_max = 10;
    cr_expect(isnan(rg_lr_at(&s, -1)));
    cr_expect(strstr(rg_last_error(), "step") != NULL, "%s", rg_last_error());
    s.eta_min = -1.0;
    cr_expect_eq(rg_lr_schedule_check(&s), -1);
    s = (rg_lr_schedule){.kind = RG_SCHED_STEP, .base_lr = 0.1, .step_size = 0, .gamma = 0.5};
    cr_expect_eq(rg_lr_schedule_check(&s), -1);
    cr_expect(strstr(rg_last_error(), "step_size") != NULL, "%s", rg_last_error());
    s.step_size = 1;
    s.warmup = -3;
    cr_expect_eq(rg_lr_schedule_check(&s), -1);
    cr_expect(strstr(rg_last_error(), "warmup") != NULL, "%s", rg_last_error());
    s.warmup = 0;
    s.base_lr = -0.1;
    cr_expect_eq(rg_lr_schedule_check(&s), -1);
    s = (rg_lr_schedule){.kind = (rg_sched_kind)9, .base_lr = 0.1};
    cr_expect_eq(rg_lr_schedule_check(&s), -1);
    cr_expect_eq(rg_lr_schedule_check(NULL), -1);
    s = (rg_lr_schedule){.kind = RG_SCHED_CONSTANT, .base_lr = 0.1};
    cr_expect_eq(rg_lr_at(&s, 1000), 0.1);
}

/* ---- optimizer errors and edge cases ------------------------------------------------ */

static void expect_bad(rg_params *P, rg_optim_config c, const char *word) {
    rg_clear_error();
    rg_optim *o = rg_optim_new(P, &c);
    cr_expect_null(o, "config with bad %s accepted", word);
    cr_expect(strstr(rg_last_error(), word) != NULL, "message '%s' lacks '%s'", rg_last_error(),
              word);
    rg_optim_free(o);
}

Test(optim, bad_configs) {
    rg_params *P = rg_params_new();
    rg_params_add(P, "w", RG_F64, RG_DIMS(2));
    rg_optim_config c;
    c = rg_optim_defaults(RG_SGD, -0.1);
    expect_bad(P, c, "lr");
    c = rg_optim_defaults(RG_ADAM, NAN);
    expect_bad(P, c, "lr");
    c = rg_optim_defaults(RG_SGD, 0.1);
    c.momentum = -0.5;
    expect_bad(P, c, "momentum");
    c = rg_optim_defaults(RG_SGD, 0.1);
    c.nesterov = true;
    expect_bad(P, c, "nesterov");
    c.momentum = 0.9;
    c.dampening = 0.1;
    expect_bad(P, c, "nesterov");
    c = rg_optim_defaults(RG_SGD, 0.1);
    c.weight_decay = -1e-4;
    expect_bad(P, c, "weight_decay");
    c = rg_optim_defaults(RG_ADAM, 0.1);
    c.beta1 = 1.0;
    expect_bad(P, c, "beta1");
    c = rg_optim_defaults(RG_ADAMW, 0.1);
    c.beta2 = -0.1;
    expect_bad(P, c, "beta2");
    c = rg_optim_defaults(RG_ADAM, 0.1);
    c.eps = -1e-8;
    expect_bad(P, c, "eps");
    c = rg_optim_defaults((rg_optim_kind)7, 0.1);
    expect_bad(P, c, "kind");
    c = rg_optim_defaults(RG_ADAM, 0.1);
    expect_bad(NULL, c, "registry");
    cr_expect_null(rg_optim_new(P, NULL));

    rg_params *E = rg_params_new();
    expect_bad(E, c, "empty");
    rg_params_free(E);

    cr_expect_eq(rg_optim_step(NULL), -1);
    cr_expect_eq(rg_optim_set_lr(NULL, 0.1), -1);
    rg_optim_free(NULL);
    rg_params_free(P);
}

Test(optim, set_lr_and_defaults) {
    rg_params *P = rg_params_new();
    rg_params_add(P, "w", RG_F64, RG_DIMS(2));
    rg_optim_config c = rg_optim_defaults(RG_ADAMW, 0.01);
    cr_expect_eq(c.weight_decay, 1e-2);
    cr_expect_eq(c.beta1, 0.9);
    cr_expect_eq(c.beta2, 0.999);
    cr_expect_eq(c.eps, 1e-8);
    cr_expect_eq(rg_optim_defaults(RG_ADAM, 0.01).weight_decay, 0.0);
    cr_expect_str_eq(rg_optim_kind_name(RG_ADAMW), "adamw");
    rg_optim *o = rg_optim_new(P, &c);
    cr_assert_not_null(o);
    cr_expect_eq(rg_optim_lr(o), 0.01);
    cr_expect_eq(rg_optim_set_lr(o, -1.0), -1);
    cr_expect(strstr(rg_last_error(), "lr") != NULL, "%s", rg_last_error());
    cr_expect_eq(rg_optim_lr(o), 0.01);
    cr_expect_eq(rg_optim_set_lr(o, INFINITY), -1);
    cr_expect_eq(rg_optim_set_lr(o, 0.5), 0);
    cr_expect_eq(rg_optim_get_config(o)->lr, 0.5);
    cr_expect_eq(rg_optim_steps(o), 0);
    rg_optim_free(o);
    rg_params_free(P);
}

Test(optim, skips_params_without_grad_and_detects_new_params) {
    rg_params *P = rg_params_new();
    rg_tensor *a = rg_params_add(P, "a", RG_F64, RG_DIMS(2));
    rg_tensor *b = rg_params_add(P, "b", RG_F64, RG_DIMS(2));
    rg_set(b, 0, 1.0);
    double *ga = rg_grad(NULL, a);
    ga[0] = 1.0;
    ga[1] = -1.0;
    rg_optim_config c = rg_optim_defaults(RG_ADAMW, 0.1);
    rg_optim *o = rg_optim_new(P, &c);
    cr_assert_eq(rg_optim_step(o), 0);
    cr_expect_eq(rg_get(b, 0), 1.0, "a parameter without a gradient is not touched");
    cr_expect_eq(rg_get(rg_optim_state_get(o, "b.step"), 0), 0.0);
    cr_expect_eq(rg_get(rg_optim_state_get(o, "a.step"), 0), 1.0);
    /* Adam's first step moves every element by lr (times sign) */
    cr_expect(fabs(rg_get(a, 0) + 0.1) < 1e-7);
    cr_expect(fabs(rg_get(a, 1) - 0.1) < 1e-7);
    rg_optim_zero_grad(o);
    cr_expect_eq(ga[0], 0.0);

    rg_params_add(P, "late", RG_F64, RG_DIMS(1));
    cr_expect_eq(rg_optim_step(o), -1);
    cr_expect(strstr(rg_last_error(), "registry") != NULL, "%s", rg_last_error());
    rg_optim_free(o);
    rg_params_free(P);
}
