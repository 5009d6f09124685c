/* Suite 'hvp': curvature of models (models/rg_curvature.h).  Hessian-vector
 * products, Gauss-Newton-vector products and the gradient of a gradient-norm
 * penalty of 2-layer bidirectional RNN-tanh/ReLU, LSTM and GRU stacks with
 * variable lengths against PyTorch's torch.autograd.grad(create_graph=True)
 * (tools/hvp_refs.py -> data/hvp_f64.txt); rg_gnvp against an explicit
 * J^T H_L J built entry by entry; H v against differences of the gradient;
 * symmetry and linearity; parameters' .grad left alone; error paths. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retrograd.h"
#include "testutil.h"

/* ---- the model of tools/hvp_refs.py ------------------------------------------ */

typedef struct hmodel {
    rg_params *P;
    rg_seq *s;
    rg_tensor *x, *y, *wh, *wc;
    const int32_t *lengths;
    int n; /* parameters */
} hmodel;

/* sum over rows of logsumexp(z_row) - <z_row, y_row>: softmax cross-entropy
 * from exp, log and sums */
static rg_tensor *ce(rg_tape *tp, rg_tensor *z, rg_tensor *y)
{
    rg_tensor *lse = rg_log(tp, rg_sum_axis(tp, rg_exp(tp, z), z ? z->rank - 1 : 0, false));
    return rg_sub(tp, rg_sum(tp, lse), rg_sum(tp, rg_mul(tp, z, y)));
}

static rg_tensor *dot(rg_tape *tp, rg_tensor *a, rg_tensor *b)
{
    return rg_sum(tp, rg_mul(tp, a, b));
}

/* z = out [T,B,2H] */
static rg_tensor *model_out(rg_tape *tp, void *user)
{
    hmodel *m = user;
    return rg_seq_forward_ex(tp, m->s, m->x, &(rg_seq_opts){.lengths = m->lengths});
}

static rg_tensor *ce_of_z(rg_tape *tp, rg_tensor *z, void *user)
{
    return ce(tp, z, ((hmodel *)user)->y);
}

/* L = CE(z) + sum(wh * h_n) (+ sum(wc * c_n)) */
static rg_tensor *model_loss(rg_tape *tp, void *user)
{
    hmodel *m = user;
    rg_tensor *fin[2] = {0};
    rg_tensor *z = rg_seq_forward_ex(tp, m->s, m->x,
                                     &(rg_seq_opts){.lengths = m->lengths, .final = fin});
    rg_tensor *L = rg_add(tp, ce(tp, z, m->y), dot(tp, fin[0], m->wh));
    return m->s->cfg.cell->n_state > 1 ? rg_add(tp, L, dot(tp, fin[1], m->wc)) : L;
}

static const rg_cell_type *cell_of(int id, bool composed)
{
    const rg_cell_type *cells[] = {&rg_cell_rnn_tanh, &rg_cell_rnn_relu,
                                   composed ? &rg_cell_lstm_composed : &rg_cell_lstm,
                                   composed ? &rg_cell_gru_composed : &rg_cell_gru};
    return cells[id];
}

/* the model of case `name` with PyTorch's weights, by name (the case's prog) */
static void model_from_case(hmodel *m, const rg_reflist *l, const char *name, bool composed)
{
    memset(m, 0, sizeof *m);
    const rg_refcase *c = rg_ref_find(l, name);
    cr_assert(c && c->n_in == 6 && c->prog, "case %s", name);
    char sub[96];
    snprintf(sub, sizeof sub, "%s.theta", name);
    const rg_refcase *th = rg_ref_find(l, sub);
    cr_assert(th, "case %s", sub);
    const rg_tensor *meta = c->in[0];
    rg_seq_config cfg = {.cell = cell_of((int)rg_get(meta, 0), composed),
                         .num_layers = (int)rg_get(meta, 1),
                         .bidirectional = rg_get(meta, 2) == 2,
                         .input_size = (int64_t)rg_get(meta, 3),
                         .hidden_size = (int64_t)rg_get(meta, 4),
                         .dtype = RG_F64};
    m->P = rg_params_new();
    m->s = rg_seq_new(m->P, "rnn", &cfg, NULL);
    cr_assert(m->s, "%s", rg_last_error());
    m->n = rg_params_count(m->P);
    cr_assert_eq(m->n, th->n_in);
    char *names = strdup(c->prog), *save = NULL;
    int k = 0;
    for (char *tok = strtok_r(names, " ", &save); tok; tok = strtok_r(NULL, " ", &save), k++) {
        const char *pn;
        rg_tensor *p = rg_params_at(m->P, k, &pn);
        cr_assert(p && strcmp(pn, tok) == 0, "parameter %d: %s, PyTorch's %s", k, p ? pn : "-",
                  tok);
        cr_assert_eq(rg_tensor_copy(p, th->in[k]), 0);
    }
    free(names);
    cr_assert_eq(k, m->n);
    m->x = c->in[1];
    m->lengths = c->in[2]->data;
    m->y = c->in[3];
    m->wh = c->in[4];
    m->wc = c->in[5];
}

static void model_free(hmodel *m)
{
    rg_seq_free(m->s);
    rg_params_free(m->P);
}

/* every element within 1e-10 of PyTorch's, relative to the larger of the
 * element and 1e-3 of the tensor's largest value; the worst ratio is kept */
static double expect_close(const char *what, int i, const rg_tensor *got, const rg_tensor *want)
{
    double scale = 0, worst = 0;
    for (int64_t k = 0; k < want->numel; k++)
        scale = fmax(scale, fabs(rg_get(want, k)));
    cr_assert_eq(got->numel, want->numel, "%s %d: numel", what, i);
    for (int64_t k = 0; k < want->numel; k++) {
        double a = rg_get(got, k), b = rg_get(want, k);
        double rel = fabs(a - b) / fmax(fmax(fabs(b), 1e-3 * scale), 1e-300);
        cr_expect(rel <= 1e-10, "%s %d element %lld: %.17g, PyTorch %.17g (rel %.3g)", what, i,
                  (long long)k, a, b, rel);
        worst = fmax(worst, rel);
    }
    return worst;
}

static void free_all(rg_tensor **t, int n)
{
    for (int i = 0; i < n; i++) {
        rg_tensor_free(t[i]);
        t[i] = NULL;
    }
}

/* ---- against PyTorch ---------------------------------------------------------- */

static void pytorch_case(const char *cell, bool composed)
{
    rg_reflist *l = rg_ref_load(rg_test_data_path("hvp_f64.txt"));
    cr_assert(l, "%s", rg_last_error());
    char name[64], sub[96];
    snprintf(name, sizeof name, "hvp_%s", cell);
    hmodel m;
    model_from_case(&m, l, name, composed);
    const rg_refcase *c = rg_ref_find(l, name);
    snprintf(sub, sizeof sub, "%s.theta", name);
    const rg_refcase *th = rg_ref_find(l, sub);
    snprintf(sub, sizeof sub, "%s.v", name);
    const rg_refcase *hv = rg_ref_find(l, sub);
    snprintf(sub, sizeof sub, "%s.pen", name);
    const rg_refcase *pen = rg_ref_find(l, sub);
    snprintf(sub, sizeof sub, "%s.gn", name);
    const rg_refcase *gn = rg_ref_find(l, sub);
    cr_assert(hv && pen && gn && hv->n_in == m.n && hv->n_out == m.n && pen->n_out == m.n &&
              gn->n_out == m.n);
    double worst = 0;

    /* H v and the loss, into new tensors; parameters' .grad untouched */
    rg_tensor *out[32] = {0}, *gsave[32] = {0};
    rg_tensor *th_t[32];
    rg_params_tensors(m.P, th_t, 32);
    for (int i = 0; i < m.n; i++) { /* a gradient the products must leave alone */
        rg_zero_grad(th_t[i]);
        rg_grad(NULL, th_t[i]);
        for (int64_t k = 0; k < th_t[i]->numel; k++)
            ((double *)th_t[i]->grad)[k] = 0.5 + (double)k;
    }
    double loss = 0;
    cr_assert_eq(rg_hvp(NULL, m.P, model_loss, &m, hv->in, out, &loss), 0, "%s: %s", name,
                 rg_last_error());
    cr_expect(fabs(loss - rg_get(c->out[0], 0)) <= 1e-12 * fabs(rg_get(c->out[0], 0)),
              "%s: loss %.17g, PyTorch %.17g", name, loss, rg_get(c->out[0], 0));
    for (int i = 0; i < m.n; i++) {
        worst = fmax(worst, expect_close("Hv", i, out[i], hv->out[i]));
        for (int64_t k = 0; k < th_t[i]->numel; k++)
            cr_expect_eq(rg_grad_get(th_t[i], k), 0.5 + (double)k, ".grad changed");
    }
    free_all(out, m.n);

    /* the same written into given tensors, twice on one scratch tape */
    rg_tape *scratch = rg_tape_new();
    for (int rep = 0; rep < 2; rep++) {
        for (int i = 0; i < m.n; i++)
            out[i] = rg_zeros(NULL, RG_F64, hv->out[i]->rank, hv->out[i]->shape);
        cr_assert_eq(rg_hvp(scratch, m.P, model_loss, &m, hv->in, out, NULL), 0, "%s",
                     rg_last_error());
        for (int i = 0; i < m.n; i++)
            worst = fmax(worst, expect_close("rg_hvp", i, out[i], hv->out[i]));
        free_all(out, m.n);
    }
    rg_tape_free(scratch);

    /* dL/dθ (the fast backward) */
    rg_params_zero_grad(m.P);
    rg_tape *tg = rg_tape_new();
    cr_assert_eq(rg_backward(tg, model_loss(tg, &m)), 0, "%s", rg_last_error());
    for (int i = 0; i < m.n; i++) {
        gsave[i] = rg_zeros(NULL, RG_F64, th_t[i]->rank, th_t[i]->shape);
        for (int64_t k = 0; k < th_t[i]->numel; k++)
            rg_set(gsave[i], k, rg_grad_get(th_t[i], k));
        worst = fmax(worst, expect_close("dL/dθ", i, gsave[i], th->out[i]));
    }
    free_all(gsave, m.n);
    rg_tape_free(tg);

    /* R = ||dL/dθ||^2 and dR/dθ: the recorded gradient, then rg_backward's
     * fast kernels through it */
    rg_tape *tp = rg_tape_new();
    rg_tensor *L = model_loss(tp, &m), *gr[32] = {0};
    cr_assert_eq(rg_autograd(tp, 1, &L, NULL, m.n, th_t, gr, true), 0, "%s", rg_last_error());
    rg_tensor *R = NULL;
    for (int i = 0; i < m.n; i++)
        R = R ? rg_add(tp, R, dot(tp, gr[i], gr[i])) : dot(tp, gr[i], gr[i]);
    rg_params_zero_grad(m.P);
    cr_assert(R && rg_backward(tp, R) == 0, "%s: %s", name, rg_last_error());
    cr_expect(fabs(rg_get(R, 0) - rg_get(c->out[1], 0)) <= 1e-10 * rg_get(c->out[1], 0),
              "%s: R %.17g, PyTorch %.17g", name, rg_get(R, 0), rg_get(c->out[1], 0));
    for (int i = 0; i < m.n; i++) {
        rg_tensor *d = rg_zeros(NULL, RG_F64, th_t[i]->rank, th_t[i]->shape);
        for (int64_t k = 0; k < d->numel; k++)
            rg_set(d, k, rg_grad_get(th_t[i], k));
        worst = fmax(worst, expect_close("dR/dθ", i, d, pen->out[i]));
        rg_tensor_free(d);
    }
    rg_params_zero_grad(m.P);
    rg_tape_free(tp);

    /* G v for CE alone on top of z */
    cr_assert_eq(rg_gnvp(NULL, m.P, model_out, ce_of_z, &m, hv->in, out, NULL), 0, "%s: %s",
                 name, rg_last_error());
    for (int i = 0; i < m.n; i++)
        worst = fmax(worst, expect_close("Gv", i, out[i], gn->out[i]));
    free_all(out, m.n);
    cr_log_info("%s%s: Hv, dR/dθ, Gv within %.3g of PyTorch (relative)", name,
                composed ? " (composed cell)" : "", worst);
    fprintf(stderr, "hvp: %s%s: worst relative difference to PyTorch %.3g\n", name,
            composed ? " (composed cell)" : "", worst);
    model_free(&m);
    rg_ref_free(l);
}

Test(hvp, pytorch_rnn_tanh) { pytorch_case("rnn_tanh", false); }
Test(hvp, pytorch_rnn_relu) { pytorch_case("rnn_relu", false); }
Test(hvp, pytorch_lstm) { pytorch_case("lstm", false); }
Test(hvp, pytorch_gru) { pytorch_case("gru", false); }
Test(hvp, pytorch_lstm_composed) { pytorch_case("lstm", true); }
Test(hvp, pytorch_gru_composed) { pytorch_case("gru", true); }

/* ---- a tiny model: the explicit matrices -------------------------------------- */

static void tiny_model(hmodel *m, const rg_cell_type *cell, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    rg_rng r;
    rg_rng_seed(&r, seed);
    rg_seq_config cfg = {.cell = cell, .input_size = 2, .hidden_size = 3, .num_layers = 1,
                         .dtype = RG_F64};
    m->P = rg_params_new();
    m->s = rg_seq_new(m->P, "rnn", &cfg, &r);
    cr_assert(m->s, "%s", rg_last_error());
    m->n = rg_params_count(m->P);
    m->x = rg_normal(NULL, RG_F64, RG_DIMS(3, 2, 2), 0, 1, &r); /* T=3, B=2, I=2 */
    m->y = rg_zeros(NULL, RG_F64, RG_DIMS(3, 2, 3));
    for (int64_t row = 0; row < 6; row++)
        rg_set(m->y, row * 3 + rg_rng_below(&r, 3), 1.0);
    m->wh = rg_normal(NULL, RG_F64, RG_DIMS(1, 2, 3), 0, 1, &r);
    m->wc = rg_normal(NULL, RG_F64, RG_DIMS(1, 2, 3), 0, 1, &r);
    static const int32_t len[2] = {3, 2};
    m->lengths = len;
}

static void tiny_free(hmodel *m)
{
    rg_tensor_free(m->x);
    rg_tensor_free(m->y);
    rg_tensor_free(m->wh);
    rg_tensor_free(m->wc);
    model_free(m);
}

static void random_directions(const hmodel *m, rg_tensor **v, uint64_t seed)
{
    rg_rng r;
    rg_rng_seed(&r, seed);
    for (int i = 0; i < m->n; i++) {
        const rg_tensor *p = rg_params_at(m->P, i, NULL);
        v[i] = rg_normal(NULL, RG_F64, p->rank, p->shape, 0, 1, &r);
    }
}

/* <a, b> over all parameters */
static double inner(const rg_tensor *const *a, const rg_tensor *const *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        for (int64_t k = 0; k < a[i]->numel; k++)
            s += rg_get(a[i], k) * rg_get(b[i], k);
    return s;
}

/* G = J^T H_L J with J [Z,N] = dz/dθ row by row (one rg_autograd per element
 * of z, seeded with e_k) and H_L [Z,Z] = d²CE/dz² row by row; G v against
 * rg_gnvp, and G symmetric positive semi-definite. */
Test(hvp, gnvp_equals_explicit_jthj)
{
    hmodel m;
    tiny_model(&m, &rg_cell_rnn_tanh, 7);
    rg_tensor *th[8];
    cr_assert_eq(rg_params_tensors(m.P, th, 8), m.n);
    int64_t N = rg_params_numel(m.P), Z = 3 * 2 * 3;
    double *J = calloc((size_t)(Z * N), sizeof *J), *HL = calloc((size_t)(Z * Z), sizeof *HL);
    rg_tape *tp = rg_tape_new();
    rg_tensor *z = model_out(tp, &m);
    cr_assert(z && z->numel == Z, "%s", rg_last_error());
    rg_tensor *zd = rg_detach(tp, z);
    rg_set_requires_grad(zd, true);
    rg_tensor *L = ce_of_z(tp, zd, &m), *gz = NULL;
    cr_assert_eq(rg_autograd(tp, 1, &L, NULL, 1, &zd, &gz, true), 0, "%s", rg_last_error());
    for (int64_t k = 0; k < Z; k++) {
        rg_tensor *e = rg_zeros(tp, RG_F64, z->rank, z->shape), *r[8] = {0}, *h = NULL;
        rg_set(e, k, 1.0);
        cr_assert_eq(rg_autograd(tp, 1, &z, &e, m.n, th, r, false), 0, "%s", rg_last_error());
        for (int i = 0, col = 0; i < m.n; col += (int)th[i]->numel, i++)
            for (int64_t q = 0; q < th[i]->numel; q++)
                J[k * N + col + q] = rg_get(r[i], q);
        cr_assert_eq(rg_autograd(tp, 1, &gz, &e, 1, &zd, &h, false), 0, "%s", rg_last_error());
        for (int64_t q = 0; q < Z; q++)
            HL[k * Z + q] = rg_get(h, q);
    }
    rg_tape_free(tp);

    rg_tensor *v[8], *gv[8] = {0};
    random_directions(&m, v, 11);
    cr_assert_eq(rg_gnvp(NULL, m.P, model_out, ce_of_z, &m, v, gv, NULL), 0, "%s",
                 rg_last_error());
    double *vf = calloc((size_t)N, sizeof *vf), *jv = calloc((size_t)Z, sizeof *jv);
    double *hjv = calloc((size_t)Z, sizeof *hjv);
    for (int i = 0, col = 0; i < m.n; col += (int)v[i]->numel, i++)
        for (int64_t q = 0; q < v[i]->numel; q++)
            vf[col + q] = rg_get(v[i], q);
    for (int64_t k = 0; k < Z; k++)
        for (int64_t j = 0; j < N; j++)
            jv[k] += J[k * N + j] * vf[j];
    for (int64_t k = 0; k < Z; k++)
        for (int64_t q = 0; q < Z; q++)
            hjv[k] += HL[k * Z + q] * jv[q];
    double worst = 0;
    for (int i = 0, col = 0; i < m.n; col += (int)v[i]->numel, i++)
        for (int64_t q = 0; q < v[i]->numel; q++) {
            double want = 0;
            for (int64_t k = 0; k < Z; k++)
                want += J[k * N + col + q] * hjv[k];
            double got = rg_get(gv[i], q);
            cr_expect(fabs(got - want) <= 1e-12 + 1e-10 * fabs(want),
                      "Gv parameter %d element %lld: %.17g, explicit %.17g", i, (long long)q, got,
                      want);
            worst = fmax(worst, fabs(got - want));
        }
    /* H_L of softmax cross-entropy is symmetric PSD, so is G: v^T G v = (Jv)^T H_L (Jv) >= 0 */
    double vgv = inner((const rg_tensor *const *)v, (const rg_tensor *const *)gv, m.n);
    double jhj = 0;
    for (int64_t k = 0; k < Z; k++)
        jhj += jv[k] * hjv[k];
    cr_expect(vgv >= 0 && fabs(vgv - jhj) <= 1e-10 * fabs(jhj), "v^T G v %.17g, explicit %.17g",
              vgv, jhj);
    for (int64_t k = 0; k < Z; k++)
        for (int64_t q = 0; q < Z; q++)
            cr_expect(fabs(HL[k * Z + q] - HL[q * Z + k]) <= 1e-14, "H_L symmetric");
    cr_log_info("gnvp: %lld x %lld Jacobian, max |Gv - explicit| %.3g", (long long)Z,
                (long long)N, worst);
    free_all(v, m.n);
    free_all(gv, m.n);
    free(J);
    free(HL);
    free(vf);
    free(jv);
    free(hjv);
    tiny_free(&m);
}

/* H v against central differences of the gradient along v:
 * (g(θ + εv) - g(θ - εv)) / 2ε, for every built-in-equivalent cell */
static void hvp_vs_differences(const rg_cell_type *cell)
{
    hmodel m;
    tiny_model(&m, cell, 3);
    rg_tensor *th[16], *v[16], *hv[16] = {0}, *gp[16] = {0}, *gm[16] = {0};
    cr_assert_eq(rg_params_tensors(m.P, th, 16), m.n);
    random_directions(&m, v, 5);
    cr_assert_eq(rg_hvp(NULL, m.P, model_loss, &m, v, hv, NULL), 0, "%s: %s", cell->name,
                 rg_last_error());
    const double eps = 1e-5;
    for (int side = 0; side < 2; side++) {
        for (int i = 0; i < m.n; i++)
            for (int64_t k = 0; k < th[i]->numel; k++)
                rg_set(th[i], k, rg_get(th[i], k) + (side ? -2 : 1) * eps * rg_get(v[i], k));
        rg_tape *tp = rg_tape_new();
        rg_params_zero_grad(m.P);
        cr_assert_eq(rg_backward(tp, model_loss(tp, &m)), 0, "%s", rg_last_error());
        for (int i = 0; i < m.n; i++) {
            rg_tensor *g = rg_zeros(NULL, RG_F64, th[i]->rank, th[i]->shape);
            for (int64_t k = 0; k < g->numel; k++)
                rg_set(g, k, rg_grad_get(th[i], k));
            (side ? gm : gp)[i] = g;
        }
        rg_tape_free(tp);
    }
    for (int i = 0; i < m.n; i++)
        for (int64_t k = 0; k < th[i]->numel; k++) {
            rg_set(th[i], k, rg_get(th[i], k) + eps * rg_get(v[i], k));
            double num = (rg_get(gp[i], k) - rg_get(gm[i], k)) / (2 * eps), a = rg_get(hv[i], k);
            cr_expect(fabs(a - num) <= 1e-6 + 1e-5 * fabs(num),
                      "%s: Hv parameter %d element %lld: %.12g, differences %.12g", cell->name,
                      i, (long long)k, a, num);
        }
    free_all(v, m.n);
    free_all(hv, m.n);
    free_all(gp, m.n);
    free_all(gm, m.n);
    tiny_free(&m);
}

Test(hvp, differences_rnn_tanh) { hvp_vs_differences(&rg_cell_rnn_tanh); }
Test(hvp, differences_rnn_relu) { hvp_vs_differences(&rg_cell_rnn_relu); }
Test(hvp, differences_lstm) { hvp_vs_differences(&rg_cell_lstm); }
Test(hvp, differences_gru) { hvp_vs_differences(&rg_cell_gru); }
Test(hvp, differences_lstm_composed) { hvp_vs_differences(&rg_cell_lstm_composed); }
Test(hvp, differences_gru_composed) { hvp_vs_differences(&rg_cell_gru_composed); }

/* <w, H v> = <v, H w> and H (v + 2w) = H v + 2 H w, for H and for G, the
 * products on one scratch tape */
Test(hvp, symmetric_and_linear)
{
    hmodel m;
    tiny_model(&m, &rg_cell_lstm, 9);
    rg_tensor *v[16], *w[16], *v2[16], *hv[16] = {0}, *hw[16] = {0}, *h2[16] = {0};
    random_directions(&m, v, 1);
    random_directions(&m, w, 2);
    for (int i = 0; i < m.n; i++) { /* v + 2w */
        v2[i] = rg_tensor_clone(v[i]);
        for (int64_t k = 0; k < v[i]->numel; k++)
            rg_set(v2[i], k, rg_get(v[i], k) + 2 * rg_get(w[i], k));
    }
    rg_tape *tp = rg_tape_new();
    for (int kind = 0; kind < 2; kind++) {
        rg_tensor *const *dirs[3] = {v, w, v2};
        rg_tensor **outs[3] = {hv, hw, h2};
        for (int d = 0; d < 3; d++) {
            int rc = kind ? rg_gnvp(tp, m.P, model_out, ce_of_z, &m, dirs[d], outs[d], NULL)
                          : rg_hvp(tp, m.P, model_loss, &m, dirs[d], outs[d], NULL);
            cr_assert_eq(rc, 0, "%s", rg_last_error());
        }
        double a = inner((const rg_tensor *const *)w, (const rg_tensor *const *)hv, m.n);
        double b = inner((const rg_tensor *const *)v, (const rg_tensor *const *)hw, m.n);
        cr_expect(fabs(a - b) <= 1e-12 * fmax(1, fabs(a)), "%s: <w,Hv> %.17g <v,Hw> %.17g",
                  kind ? "G" : "H", a, b);
        if (kind) {
            double vgv = inner((const rg_tensor *const *)v, (const rg_tensor *const *)hv, m.n);
            cr_expect(vgv >= 0, "v^T G v = %g", vgv);
        }
        for (int i = 0; i < m.n; i++)
            for (int64_t k = 0; k < v[i]->numel; k++) {
                double lin = rg_get(hv[i], k) + 2 * rg_get(hw[i], k);
                cr_expect(fabs(rg_get(h2[i], k) - lin) <= 1e-12 * fmax(1, fabs(lin)));
            }
        free_all(hv, m.n);
        free_all(hw, m.n);
        free_all(h2, m.n);
    }
    rg_tape_free(tp);
    free_all(v, m.n);
    free_all(w, m.n);
    free_all(v2, m.n);
    tiny_free(&m);
}

/* directions as a registry shaped like the model's (rg_params_like), and
 * float32 directions for a float64 model (converted) */
Test(hvp, directions_like_registry)
{
    hmodel m;
    tiny_model(&m, &rg_cell_rnn_tanh, 4);
    rg_params *V = rg_params_like(m.P), *HV = rg_params_like(m.P);
    cr_assert(V && HV, "%s", rg_last_error());
    cr_assert_eq(rg_params_count(V), m.n);
    rg_tensor *v[8], *hv[8], *ref[8] = {0}, *v32[8];
    rg_params_tensors(V, v, 8);
    rg_params_tensors(HV, hv, 8);
    rg_rng r;
    rg_rng_seed(&r, 8);
    for (int i = 0; i < m.n; i++) {
        const char *a, *b;
        rg_params_at(V, i, &a);
        rg_params_at(m.P, i, &b);
        cr_expect_str_eq(a, b);
        cr_expect(!rg_requires_grad(v[i]));
        for (int64_t k = 0; k < v[i]->numel; k++)
            rg_set(v[i], k, (double)(float)rg_rng_normal(&r));
        v32[i] = rg_zeros(NULL, RG_F32, RG_DIMS(v[i]->numel)); /* flat, float32 */
        rg_tensor_copy(v32[i], v[i]);
    }
    cr_assert_eq(rg_hvp(NULL, m.P, model_loss, &m, v, hv, NULL), 0, "%s", rg_last_error());
    cr_assert_eq(rg_hvp(NULL, m.P, model_loss, &m, v32, ref, NULL), 0, "%s", rg_last_error());
    for (int i = 0; i < m.n; i++)
        for (int64_t k = 0; k < v[i]->numel; k++)
            cr_expect_eq(rg_get(hv[i], k), rg_get(ref[i], k));
    cr_expect_eq(rg_params_tensors(V, v, 2), -1);
    free_all(ref, m.n);
    free_all(v32, m.n);
    rg_params_free(V);
    rg_params_free(HV);
    tiny_free(&m);
}

/* ---- errors ---------------------------------------------------------------------- */

/* y = sum(x), a user op with a fast backward and no recorded one */
static int usum_shape(rg_tape *tp, rg_entry *e)
{
    e->out[0]->rank = 0;
    return 0;
}
static void usum_forward(rg_tape *tp, rg_entry *e)
{
    double s = 0;
    for (int64_t i = 0; i < e->in[0]->numel; i++)
        s += rg_get(e->in[0], i);
    rg_set(e->out[0], 0, s);
}
static void usum_backward(rg_tape *tp, rg_entry *e)
{
    double *dx = rg_grad(tp, e->in[0]), g = rg_grad_get(e->out[0], 0);
    for (int64_t i = 0; dx && i < e->in[0]->numel; i++)
        dx[i] += g;
}
static const rg_op op_usum = {"user_sum_no_graph", 1, 1, usum_shape, usum_forward, usum_backward,
                              NULL};

static rg_tensor *loss_user_op(rg_tape *tp, void *user)
{
    rg_tensor *z = model_out(tp, user);
    return rg_apply(tp, &op_usum, 1, (rg_tensor *[]){rg_tanh(tp, z)}, NULL);
}

static rg_tensor *not_scalar(rg_tape *tp, void *user)
{
    return model_out(tp, user);
}

static rg_tensor *fails(rg_tape *tp, void *user)
{
    return rg_add(tp, ((hmodel *)user)->x, ((hmodel *)user)->y);
}

Test(hvp, errors)
{
    hmodel m;
    tiny_model(&m, &rg_cell_rnn_tanh, 4);
    rg_tensor *v[8], *out[8] = {0};
    random_directions(&m, v, 1);
    /* an op without a recorded backward: named, never a silent zero */
    cr_expect_eq(rg_hvp(NULL, m.P, loss_user_op, &m, v, out, NULL), -1);
    cr_expect(strstr(rg_last_error(), "rg_hvp: rg_autograd") &&
                  strstr(rg_last_error(), "user_sum_no_graph"),
              "%s", rg_last_error());
    cr_expect_null(out[0]);
    cr_expect_eq(rg_hvp(NULL, m.P, not_scalar, &m, v, out, NULL), -1);
    cr_expect(strstr(rg_last_error(), "not a float scalar"), "%s", rg_last_error());
    cr_expect_eq(rg_hvp(NULL, m.P, fails, &m, v, out, NULL), -1);
    cr_expect(strstr(rg_last_error(), "rg_hvp: rg_add"), "%s", rg_last_error());
    cr_expect_eq(rg_gnvp(NULL, m.P, model_out, NULL, &m, v, out, NULL), -1);
    cr_expect(strstr(rg_last_error(), "rg_gnvp: NULL model or loss"), "%s", rg_last_error());
    cr_expect_eq(rg_hvp(NULL, NULL, model_loss, &m, v, out, NULL), -1);
    cr_expect(strstr(rg_last_error(), "no parameters"), "%s", rg_last_error());
    /* a direction of the wrong size, an output of the wrong size: nothing is
     * left behind, and the scratch tape works again at once */
    rg_tape *tp = rg_tape_new();
    rg_tensor *keep = v[1];
    v[1] = v[0];
    cr_expect_eq(rg_hvp(tp, m.P, model_loss, &m, v, out, NULL), -1);
    cr_expect(strstr(rg_last_error(), "rg_hvp: direction 1"), "%s", rg_last_error());
    v[1] = keep;
    rg_tensor *bad = rg_zeros(NULL, RG_F64, RG_DIMS(1));
    out[2] = bad;
    cr_expect_eq(rg_gnvp(tp, m.P, model_out, ce_of_z, &m, v, out, NULL), -1);
    cr_expect(strstr(rg_last_error(), "rg_gnvp: output 2"), "%s", rg_last_error());
    cr_expect_null(out[0]);
    cr_expect_eq(out[2], bad);
    out[2] = NULL;
    cr_expect_eq(rg_hvp(tp, m.P, model_loss, &m, v, out, NULL), 0, "%s", rg_last_error());
    /* the scratch tape is an ordinary one again: backward reaches .grad */
    cr_expect_eq(rg_tape_entries(tp), 0);
    rg_params_zero_grad(m.P);
    cr_assert_eq(rg_backward(tp, model_loss(tp, &m)), 0, "%s", rg_last_error());
    cr_expect_null(rg_tape_private_grad(tp, rg_params_at(m.P, 0, NULL)));
    cr_expect_neq(rg_grad_get(rg_params_at(m.P, 0, NULL), 0), 0.0);
    rg_params_zero_grad(m.P);
    rg_tape_free(tp);
    rg_tensor_free(bad);
    free_all(out, m.n);
    free_all(v, m.n);
    tiny_free(&m);
}
