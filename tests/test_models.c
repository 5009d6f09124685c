/* Models suite: the parameter registry, Linear and Embedding, the cells and the
 * sequence layers against PyTorch (tools/gen_model_refs.py), float64 gradient
 * checks (every cell, stacks, bidirectional, T >= 20, a user's cell), variable
 * lengths against sequences run one by one, truncated BPTT, and error paths. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retrograd.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------- */

/* A persistent tensor holding t's gradient (zeros when it has none). */
static rg_tensor *grad_of(const rg_tensor *t)
{
    rg_tensor *g = rg_zeros(NULL, t->dtype, t->rank, t->shape);
    for (int64_t i = 0; i < t->numel; i++)
        rg_set(g, i, rg_grad_get(t, i));
    return g;
}

static rg_tensor *random_tensor(rg_dtype dt, int rank, const int64_t *shape, rg_rng *r)
{
    return rg_uniform(NULL, dt, rank, shape, -1.0, 1.0, r);
}

/* sum(a * w) */
static rg_tensor *dot(rg_tape *tp, rg_tensor *a, rg_tensor *w)
{
    return rg_sum(tp, rg_mul(tp, a, w));
}

/* ---- parameter registry ------------------------------------------------------ */

Test(models, params_registry)
{
    rg_params *P = rg_params_new();
    cr_assert(P);
    rg_tensor *a = rg_params_add(P, "m.a", RG_F64, RG_DIMS(2, 3));
    rg_tensor *b = rg_params_add(P, "m.b", RG_F32, RG_DIMS(4));
    cr_assert(a && b);
    cr_expect(rg_requires_grad(a) && (a->flags & RG_PERSISTENT));
    cr_expect_null(rg_params_add(P, "m.a", RG_F64, RG_DIMS(1)));
    cr_expect(strstr(rg_last_error(), "m.a") != NULL, "message: %s", rg_last_error());
    cr_expect_null(rg_params_add(P, "m.c", RG_I32, RG_DIMS(1)));
    cr_expect_eq(rg_params_count(P), 2);
    cr_expect_eq(rg_params_numel(P), 10);
    cr_expect_eq(rg_params_get(P, "m.b"), b);
    cr_expect_null(rg_params_get(P, "m.z"));
    const char *name = NULL;
    cr_expect_eq(rg_params_at(P, 0, &name), a);
    cr_expect_str_eq(name, "m.a");
    cr_expect_eq(rg_params_at(P, 1, &name), b);
    cr_expect_str_eq(name, "m.b");
    cr_expect_null(rg_params_at(P, 2, &name));
    /* many names: the hash and the order survive growth */
    char buf[32];
    for (int i = 0; i < 100; i++) {
        snprintf(buf, sizeof buf, "p%d", i);
        cr_assert(rg_params_add(P, buf, RG_F64, RG_DIMS(1)));
    }
    cr_expect_str_eq((rg_params_at(P, 77, &name), name), "p75");
    cr_expect(rg_params_get(P, "p99") == rg_params_at(P, 101, NULL));
    rg_tape *tp = rg_tape_new();
    rg_backward(tp, rg_sum(tp, rg_mul(tp, a, a)));
    rg_set(a, 0, 3.0);
    rg_params_zero_grad(P);
    cr_expect_eq(rg_grad_get(a, 0), 0.0);
    rg_tape_free(tp);
    rg_params_free(P);
    rg_params_free(NULL);
}

/* ---- Linear, Embedding ------------------------------------------------------- */

Test(models, linear_and_embedding)
{
    rg_params *P = rg_params_new();
    rg_rng r;
    rg_rng_seed(&r, 1);
    rg_linear_layer lin;
    rg_embedding_layer emb;
    cr_assert_eq(rg_linear_layer_init(&lin, P, "head", 5, 3, true, RG_F64, &r), 0);
    cr_assert_eq(rg_embedding_layer_init(&emb, P, "embed", 7, 5, RG_F64, &r), 0);
    cr_expect_eq(rg_params_get(P, "head.weight"), lin.weight);
    cr_expect_eq(lin.weight->shape[0], 3);
    cr_expect_eq(lin.weight->shape[1], 5);
    cr_expect_eq(rg_params_get(P, "head.bias"), lin.bias);
    cr_expect_eq(rg_params_get(P, "embed.weight")->shape[0], 7);
    double k = 1 / sqrt(5.0);
    for (int64_t i = 0; i < lin.weight->numel; i++)
        cr_expect(fabs(rg_get(lin.weight, i)) <= k);
    cr_expect_eq(rg_linear_layer_init(&lin, P, "head", 5, 3, true, RG_F64, &r), -1);

    /* [T,B,I] through the layer equals the rows through rg_linear */
    rg_tape *tp = rg_tape_new();
    rg_tensor *ids = rg_from_data(tp, RG_I32, RG_DIMS(2, 3), (int32_t[]){0, 6, 3, 3, 1, 2});
    rg_tensor *e = rg_embedding_layer_forward(tp, &emb, ids); /* [2,3,5] */
    rg_tensor *y = rg_linear_layer_forward(tp, &lin, e);      /* [2,3,3] */
    cr_assert(y, "%s", rg_tape_error(tp));
    cr_expect_eq(y->rank, 3);
    cr_expect_eq(y->shape[2], 3);
    rg_tensor *y2 = rg_linear(tp, rg_reshape(tp, e, RG_DIMS(6, 5)), lin.weight, lin.bias);
    for (int64_t i = 0; i < y->numel; i++)
        cr_expect_eq(rg_get(y, i), rg_get(y2, i));
    rg_linear_layer nb;
    cr_assert_eq(rg_linear_layer_init(&nb, P, "nobias", 5, 2, false, RG_F64, &r), 0);
    cr_expect_null(nb.bias);
    cr_expect_null(rg_params_get(P, "nobias.bias"));
    rg_tape_free(tp);
    rg_params_free(P);
}

/* ---- PyTorch parity ------------------------------------------------------------ */

static const rg_cell_type *const cell_by_id[] = {&rg_cell_rnn_tanh, &rg_cell_rnn_relu,
                                                 &rg_cell_lstm, &rg_cell_gru};
static const char *const pnames[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};

typedef struct worst_err {
    double ratio, max_rel;
    char what[160];
} worst_err;

static void check(worst_err *w, const char *cname, const char *what, const rg_tensor *got,
                  const rg_tensor *want, double atol, double rtol)
{
    rg_cmp c = rg_test_compare(got, want, atol, rtol);
    cr_expect(c.pass, "%s %s: element %lld got %.17g want %.17g", cname, what,
              (long long)c.worst, c.got_v, c.want_v);
    if (c.worst_err > w->ratio) {
        w->ratio = c.worst_err;
        snprintf(w->what, sizeof w->what, "%s %s", cname, what);
    }
    double scale = 0; /* error relative to the tensor's largest value */
    for (int64_t i = 0; i < want->numel; i++)
        scale = fmax(scale, fabs(rg_get(want, i)));
    if (scale > 0 && c.max_abs / scale > w->max_rel)
        w->max_rel = c.max_abs / scale;
}

static void check_grad(worst_err *w, const char *cname, const char *what, const rg_tensor *t,
                       const rg_tensor *want, double atol, double rtol)
{
    rg_tensor *g = grad_of(t);
    check(w, cname, what, g, want, atol, rtol);
    rg_tensor_free(g);
}

static void pytorch_parity(const char *file, double atol, double rtol)
{
    rg_reflist *l = rg_ref_load(rg_test_data_path(file));
    cr_assert(l, "%s", rg_last_error());
    worst_err w = {0};
    int n_models = 0;
    for (int ci = 0; ci < l->n; ci++) {
        const rg_refcase *rc = &l->cases[ci];
        if (strchr(rc->name, '.'))
            continue;
        cr_assert_eq(rc->n_in, 8);
        cr_assert_eq(rc->n_out, 7);
        const rg_tensor *meta = rc->in[0];
        int L = (int)rg_get(meta, 1), D = (int)rg_get(meta, 2);
        bool has_h0 = rg_get(meta, 3) != 0, has_len = rg_get(meta, 4) != 0;
        rg_tensor *x = rc->in[1], *h0 = rc->in[3], *c0 = rc->in[4];
        rg_seq_config cfg = {.cell = cell_by_id[(int)rg_get(meta, 0)],
                             .input_size = (int64_t)rg_get(meta, 5),
                             .hidden_size = (int64_t)rg_get(meta, 6),
                             .num_layers = L, .bidirectional = D == 2, .dtype = x->dtype};
        bool lstm = cfg.cell == &rg_cell_lstm;
        rg_params *P = rg_params_new();
        rg_seq *s = rg_seq_new(P, "rnn", &cfg, NULL);
        cr_assert(s, "%s: %s", rc->name, rg_last_error());
        cr_assert_eq(rg_params_count(P), 4 * L * D);
        /* PyTorch's weights, by name */
        for (int k = 0; k < L; k++)
            for (int d = 0; d < D; d++) {
                char sub[160], pn[160];
                snprintf(sub, sizeof sub, "%s.l%d%s", rc->name, k, d ? "_reverse" : "");
                const rg_refcase *pc = rg_ref_find(l, sub);
                cr_assert(pc, "missing case %s", sub);
                for (int j = 0; j < 4; j++) {
                    snprintf(pn, sizeof pn, "rnn.%s_l%d%s", pnames[j], k, d ? "_reverse" : "");
                    rg_tensor *p = rg_params_get(P, pn);
                    cr_assert(p, "no parameter %s", pn);
                    cr_assert(rg_same_shape(p, pc->in[j]), "%s: shape", pn);
                    cr_assert_eq(rg_tensor_copy(p, pc->in[j]), 0);
                }
            }
        rg_set_requires_grad(x, true);
        rg_set_requires_grad(h0, has_h0);
        rg_set_requires_grad(c0, has_h0 && lstm);
        rg_tensor *init[2] = {h0, c0};
        const int32_t *lengths = has_len ? rc->in[2]->data : NULL;
        rg_tape *tp = rg_tape_new();
        rg_tensor *fin[2] = {0};
        rg_seq_opts o = {.lengths = lengths, .init = has_h0 ? init : NULL, .final = fin};
        rg_tensor *out = rg_seq_forward_ex(tp, s, x, &o);
        cr_assert(out, "%s: %s", rc->name, rg_tape_error(tp));
        rg_tensor *loss = rg_add(tp, dot(tp, out, rc->in[5]), dot(tp, fin[0], rc->in[6]));
        if (lstm)
            loss = rg_add(tp, loss, dot(tp, fin[1], rc->in[7]));
        cr_assert(loss && rg_backward(tp, loss) == 0, "%s: %s", rc->name, rg_tape_error(tp));
        check(&w, rc->name, "output", out, rc->out[0], atol, rtol);
        check(&w, rc->name, "h_n", fin[0], rc->out[1], atol, rtol);
        if (lstm)
            check(&w, rc->name, "c_n", fin[1], rc->out[2], atol, rtol);
        check(&w, rc->name, "loss", loss, rc->out[3], atol, rtol);
        check_grad(&w, rc->name, "dx", x, rc->out[4], atol, rtol);
        if (has_h0)
            check_grad(&w, rc->name, "dh0", h0, rc->out[5], atol, rtol);
        if (has_h0 && lstm)
            check_grad(&w, rc->name, "dc0", c0, rc->out[6], atol, rtol);
        for (int k = 0; k < L; k++)
            for (int d = 0; d < D; d++) {
                char sub[160], pn[160];
                snprintf(sub, sizeof sub, "%s.l%d%s", rc->name, k, d ? "_reverse" : "");
                const rg_refcase *pc = rg_ref_find(l, sub);
                for (int j = 0; j < 4; j++) {
                    snprintf(pn, sizeof pn, "d%s_l%d%s", pnames[j], k, d ? "_reverse" : "");
                    check_grad(&w, rc->name, pn, rg_params_at(P, (k * D + d) * 4 + j, NULL),
                               pc->out[j], atol, rtol);
                }
            }
        n_models++;
        rg_tape_free(tp);
        rg_seq_free(s);
        rg_params_free(P);
    }
    cr_expect_eq(n_models, 24);
    cr_log_info("%s: %d models; worst error/tolerance %.3g (%s), max err/max|value| %.3g", file,
                n_models, w.ratio, w.what, w.max_rel);
    fprintf(stderr, "%s: %d models; worst error/tolerance %.3g (%s), max err/max|value| %.3g\n",
            file, n_models, w.ratio, w.what, w.max_rel);
    rg_ref_free(l);
}

Test(models, pytorch_f64)
{
    pytorch_parity("models_f64.txt", 1e-12, 1e-10);
}

Test(models, pytorch_f32)
{
    pytorch_parity("models_f32.txt", 1e-5, 1e-4);
}

/* ---- gradient checks (float64, central differences) -------------------------- */

/* A user's cell, written with the public interface only: a minimal gated unit
 *   f = sigmoid(x W_f^T + h U_f^T + b_f),  n = tanh(x W_n^T + (f*h) U_n^T + b_n),
 *   h' = (1 - f) * h + f * n.   No project hook: step gets x_t [B,I]. */
static int mgu_init(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                    rg_rng *rng)
{
    if (!rg_cell_param(c, P, prefix, "weight_ih", suffix, RG_DIMS(2 * c->H, c->I), rng) ||
        !rg_cell_param(c, P, prefix, "bias_ih", suffix, RG_DIMS(2 * c->H), rng) ||
        !rg_cell_param(c, P, prefix, "weight_fh", suffix, RG_DIMS(c->H, c->H), rng) ||
        !rg_cell_param(c, P, prefix, "weight_nh", suffix, RG_DIMS(c->H, c->H), rng))
        return -1;
    return 0;
}

static int mgu_step(rg_tape *tp, const rg_cell *c, rg_tensor *x, rg_tensor *const *in,
                    rg_tensor **out)
{
    rg_tensor *xp[2], *h = in[0];
    if (rg_split(tp, rg_linear(tp, x, c->param[0], c->param[1]), 1, 2, xp) != 0)
        return -1;
    rg_tensor *f = rg_sigmoid(tp, rg_add(tp, xp[0], rg_linear(tp, h, c->param[2], NULL)));
    rg_tensor *n = rg_tanh(tp, rg_add(tp, xp[1], rg_linear(tp, rg_mul(tp, f, h), c->param[3],
                                                            NULL)));
    out[0] = rg_add(tp, h, rg_mul(tp, f, rg_sub(tp, n, h)));
    return out[0] ? 0 : -1;
}

static const rg_cell_type mgu_cell = {
    .name = "mgu", .n_state = 1, .init = mgu_init, .step = mgu_step};

typedef struct gc_model {
    rg_params *P;
    rg_seq *s;
    rg_tensor *x, *init[2], *wout, *wfin[2];
    const int32_t *lengths;
    bool use_init;
    double dropout_seed;  /* > 0: training mode, masks from this seed on every call */
} gc_model;

static rg_tensor *gc_loss(rg_tape *tp, rg_tensor *const *in, int n, void *user)
{
    gc_model *m = user;
    rg_tensor *fin[2] = {0};
    rg_rng r;
    rg_rng_seed(&r, (uint64_t)m->dropout_seed);
    rg_tape_set_training(tp, m->dropout_seed > 0);
    rg_seq_opts o = {.lengths = m->lengths, .init = m->use_init ? m->init : NULL, .final = fin,
                     .dropout_rng = &r};
    rg_tensor *out = rg_seq_forward_ex(tp, m->s, m->x, &o);
    rg_tensor *loss = dot(tp, out, m->wout);
    for (int j = 0; j < m->s->cfg.cell->n_state; j++)
        loss = rg_add(tp, loss, dot(tp, fin[j], m->wfin[j]));
    return loss;
}

static void gc_setup(gc_model *m, const rg_cell_type *cell, int L, bool bi, int64_t T,
                     int64_t B, int64_t I, int64_t H, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    rg_rng r;
    rg_rng_seed(&r, seed);
    m->P = rg_params_new();
    rg_seq_config cfg = {.cell = cell, .input_size = I, .hidden_size = H, .num_layers = L,
                         .bidirectional = bi, .dtype = RG_F64};
    m->s = rg_seq_new(m->P, "rnn", &cfg, &r);
    cr_assert(m->s, "%s", rg_last_error());
    int D = bi ? 2 : 1;
    m->x = random_tensor(RG_F64, RG_DIMS(T, B, I), &r);
    m->wout = random_tensor(RG_F64, RG_DIMS(T, B, D * H), &r);
    for (int j = 0; j < cell->n_state; j++) {
        m->init[j] = random_tensor(RG_F64, RG_DIMS(L * D, B, H), &r);
        m->wfin[j] = random_tensor(RG_F64, RG_DIMS(L * D, B, H), &r);
    }
    m->use_init = true;
}

static void gc_free(gc_model *m)
{
    rg_tensor_free(m->x);
    rg_tensor_free(m->wout);
    for (int j = 0; j < 2; j++) {
        rg_tensor_free(m->init[j]);
        rg_tensor_free(m->wfin[j]);
    }
    rg_seq_free(m->s);
    rg_params_free(m->P);
}

static double gc_run(gc_model *m, const char *label)
{
    rg_tensor *in[64];
    int n = 0;
    for (int i = 0; i < rg_params_count(m->P); i++)
        in[n++] = rg_params_at(m->P, i, NULL);
    rg_set_requires_grad(m->x, true);
    in[n++] = m->x;
    for (int j = 0; j < m->s->cfg.cell->n_state; j++) {
        rg_set_requires_grad(m->init[j], true);
        in[n++] = m->init[j];
    }
    rg_gradcheck_opts o;
    rg_gradcheck_defaults(&o);
    o.label = label;
    rg_gradcheck_result res;
    cr_assert_eq(rg_gradcheck(gc_loss, n, in, m, &o, &res), 0, "%s: %s", label,
                 rg_last_error());
    cr_expect(res.pass && res.max_rel_err < 1e-6,
              "%s: max rel err %.3g (input %d element %lld: analytic %.12g numeric %.12g)",
              label, res.max_rel_err, res.worst_input, (long long)res.worst_index,
              res.worst_analytic, res.worst_numeric);
    fprintf(stderr, "gradcheck %-28s %6lld elements, max rel err %.3g\n", label,
            (long long)res.n_checked, res.max_rel_err);
    return res.max_rel_err;
}

Test(models, gradcheck_cells)
{
    const rg_cell_type *cells[] = {&rg_cell_rnn_tanh, &rg_cell_rnn_relu, &rg_cell_lstm,
                                   &rg_cell_gru, &mgu_cell};
    for (int i = 0; i < 5; i++) {
        gc_model m;
        gc_setup(&m, cells[i], 1, false, 4, 2, 3, 4, 10 + (uint64_t)i);
        char label[64];
        snprintf(label, sizeof label, "%s 1 layer T=4", cells[i]->name);
        gc_run(&m, label);
        gc_free(&m);
    }
}

Test(models, gradcheck_stacks)
{
    const rg_cell_type *cells[] = {&rg_cell_lstm, &rg_cell_gru, &rg_cell_rnn_tanh, &mgu_cell};
    for (int i = 0; i < 4; i++) {
        gc_model m;
        char label[64];
        gc_setup(&m, cells[i], 2, false, 3, 2, 3, 3, 20 + (uint64_t)i);
        snprintf(label, sizeof label, "%s 2 layers", cells[i]->name);
        gc_run(&m, label);
        gc_free(&m);
        gc_setup(&m, cells[i], 2, true, 3, 2, 2, 3, 30 + (uint64_t)i);
        snprintf(label, sizeof label, "%s 2 layers bidirectional", cells[i]->name);
        gc_run(&m, label);
        gc_free(&m);
    }
}

Test(models, gradcheck_lengths_dropout)
{
    gc_model m;
    gc_setup(&m, &rg_cell_lstm, 2, true, 5, 3, 2, 3, 40);
    const int32_t lengths[3] = {2, 5, 3};
    m.lengths = lengths;
    gc_run(&m, "lstm bi lengths {2,5,3}");
    m.dropout_seed = 7;
    m.s->cfg.dropout = 0.3;
    gc_run(&m, "lstm bi lengths dropout 0.3");
    gc_free(&m);
    gc_setup(&m, &rg_cell_gru, 1, true, 4, 3, 2, 3, 41);
    m.lengths = (const int32_t[]){4, 1, 0};
    m.use_init = false;
    gc_run(&m, "gru bi lengths {4,1,0}");
    gc_free(&m);
}

Test(models, gradcheck_long)
{
    const rg_cell_type *cells[] = {&rg_cell_rnn_tanh, &rg_cell_lstm, &rg_cell_gru};
    for (int i = 0; i < 3; i++) {
        gc_model m;
        char label[64];
        gc_setup(&m, cells[i], 1, false, 24, 2, 2, 3, 50 + (uint64_t)i);
        snprintf(label, sizeof label, "%s T=24", cells[i]->name);
        gc_run(&m, label);
        gc_free(&m);
    }
}

/* ---- padding against sequences one by one -------------------------------- */

static double cmp_rows(const rg_tensor *a, int64_t a0, const rg_tensor *b, int64_t b0,
                       int64_t n)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = rg_get(a, a0 + i), y = rg_get(b, b0 + i);
        double e = fabs(x - y) / fmax(1e-12, fabs(y));
        worst = fmax(worst, fabs(x - y) <= 1e-13 ? 0 : e);
    }
    return worst;
}

Test(models, padded_equals_one_by_one)
{
    const int64_t T = 6, B = 4, I = 3, H = 4, L = 2, D = 2;
    const int32_t lengths[4] = {3, 6, 1, 4};
    rg_rng r;
    rg_rng_seed(&r, 99);
    rg_params *P = rg_params_new();
    rg_seq_config cfg = {.cell = &rg_cell_lstm, .input_size = I, .hidden_size = H,
                         .num_layers = (int)L, .bidirectional = true, .dtype = RG_F64};
    rg_seq *s = rg_seq_new(P, "rnn", &cfg, &r);
    rg_tensor *x = random_tensor(RG_F64, RG_DIMS(T, B, I), &r);
    for (int64_t t = 0; t < T; t++)  /* padding holds large junk */
        for (int64_t b = 0; b < B; b++)
            if (t >= lengths[b])
                for (int64_t i = 0; i < I; i++)
                    rg_set(x, (t * B + b) * I + i, 50.0 * (rg_rng_uniform(&r) - 0.5));
    rg_tensor *h0 = random_tensor(RG_F64, RG_DIMS(L * D, B, H), &r);
    rg_tensor *c0 = random_tensor(RG_F64, RG_DIMS(L * D, B, H), &r);
    rg_tensor *wout = random_tensor(RG_F64, RG_DIMS(T, B, D * H), &r);
    rg_tensor *wh = random_tensor(RG_F64, RG_DIMS(L * D, B, H), &r);
    rg_set_requires_grad(x, true);
    rg_set_requires_grad(h0, true);

    /* padded batch */
    rg_tape *tp = rg_tape_new();
    rg_tensor *fin[2], *init[2] = {h0, c0};
    rg_tensor *out =
        rg_seq_forward_ex(tp, s, x, &(rg_seq_opts){.lengths = lengths, .init = init, .final = fin});
    rg_tensor *loss = rg_add(tp, dot(tp, out, wout), dot(tp, fin[0], wh));
    cr_assert(loss && rg_backward(tp, loss) == 0, "%s", rg_tape_error(tp));
    rg_tensor *gp[16];
    for (int i = 0; i < rg_params_count(P); i++) {
        gp[i] = grad_of(rg_params_at(P, i, NULL));
        rg_zero_grad(rg_params_at(P, i, NULL));
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < (t >= lengths[b] ? D * H : 0); i++)
                cr_expect_eq(rg_get(out, (t * B + b) * D * H + i), 0.0);
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < (t >= lengths[b] ? I : 0); i++)
                cr_expect_eq(rg_grad_get(x, (t * B + b) * I + i), 0.0, "padding got a gradient");

    /* one by one; gradients of the parameters accumulate across the runs */
    double worst = 0;
    rg_tape *t1 = rg_tape_new();
    for (int64_t b = 0; b < B; b++) {
        int64_t Tb = lengths[b];
        rg_tape_reset(t1);
        rg_tensor *xb = rg_zeros(NULL, RG_F64, RG_DIMS(Tb, 1, I));
        rg_tensor *wb = rg_zeros(NULL, RG_F64, RG_DIMS(Tb, 1, D * H));
        rg_tensor *hb = rg_zeros(NULL, RG_F64, RG_DIMS(L * D, 1, H));
        rg_tensor *cb = rg_zeros(NULL, RG_F64, RG_DIMS(L * D, 1, H));
        rg_tensor *whb = rg_zeros(NULL, RG_F64, RG_DIMS(L * D, 1, H));
        for (int64_t t = 0; t < Tb; t++) {
            for (int64_t i = 0; i < I; i++)
                rg_set(xb, t * I + i, rg_get(x, (t * B + b) * I + i));
            for (int64_t i = 0; i < D * H; i++)
                rg_set(wb, t * D * H + i, rg_get(wout, (t * B + b) * D * H + i));
        }
        for (int64_t k = 0; k < L * D; k++)
            for (int64_t i = 0; i < H; i++) {
                rg_set(hb, k * H + i, rg_get(h0, (k * B + b) * H + i));
                rg_set(cb, k * H + i, rg_get(c0, (k * B + b) * H + i));
                rg_set(whb, k * H + i, rg_get(wh, (k * B + b) * H + i));
            }
        rg_set_requires_grad(xb, true);
        rg_set_requires_grad(hb, true);
        rg_tensor *fb[2], *ib[2] = {hb, cb};
        rg_tensor *ob = rg_seq_forward_ex(t1, s, xb, &(rg_seq_opts){.init = ib, .final = fb});
        rg_tensor *lb = rg_add(t1, dot(t1, ob, wb), dot(t1, fb[0], whb));
        cr_assert(lb && rg_backward(t1, lb) == 0, "%s", rg_tape_error(t1));
        for (int64_t t = 0; t < Tb; t++) {
            worst = fmax(worst, cmp_rows(out, (t * B + b) * D * H, ob, t * D * H, D * H));
            for (int64_t i = 0; i < I; i++)
                worst = fmax(worst, fabs(rg_grad_get(x, (t * B + b) * I + i) -
                                         rg_grad_get(xb, t * I + i)) /
                                        fmax(1e-12, fabs(rg_grad_get(xb, t * I + i))));
        }
        for (int64_t k = 0; k < L * D; k++) {
            worst = fmax(worst, cmp_rows(fin[0], (k * B + b) * H, fb[0], k * H, H));
            worst = fmax(worst, cmp_rows(fin[1], (k * B + b) * H, fb[1], k * H, H));
            for (int64_t i = 0; i < H; i++) {
                double g = rg_grad_get(h0, (k * B + b) * H + i), w = rg_grad_get(hb, k * H + i);
                worst = fmax(worst, fabs(g - w) <= 1e-13 ? 0 : fabs(g - w) / fabs(w));
            }
        }
        rg_tensor_free(xb);
        rg_tensor_free(wb);
        rg_tensor_free(hb);
        rg_tensor_free(cb);
        rg_tensor_free(whb);
    }
    for (int i = 0; i < rg_params_count(P); i++) {
        rg_tensor *g1 = grad_of(rg_params_at(P, i, NULL));
        rg_cmp c = rg_test_compare(gp[i], g1, 1e-13, 1e-11);
        cr_expect(c.pass, "parameter %d gradient: %.17g vs %.17g", i, c.got_v, c.want_v);
        worst = fmax(worst, c.max_abs > 1e-13 ? c.max_rel : 0);
        rg_tensor_free(g1);
        rg_tensor_free(gp[i]);
    }
    cr_expect(worst < 1e-11, "padded vs one by one: max rel difference %.3g", worst);
    fprintf(stderr, "padded vs one by one: max rel difference %.3g\n", worst);
    rg_tape_free(t1);
    rg_tape_free(tp);
    rg_tensor_free(x);
    rg_tensor_free(h0);
    rg_tensor_free(c0);
    rg_tensor_free(wout);
    rg_tensor_free(wh);
    rg_seq_free(s);
    rg_params_free(P);
}

/* ---- truncated BPTT ------------------------------------------------------------ */

Test(models, truncated_bptt_chunks)
{
    const int64_t T = 8, B = 2, I = 3, H = 5;
    rg_rng r;
    rg_rng_seed(&r, 5);
    rg_params *P = rg_params_new();
    rg_seq_config cfg = {.cell = &rg_cell_lstm, .input_size = I, .hidden_size = H,
                         .num_layers = 2, .dtype = RG_F64};
    rg_seq *s = rg_seq_new(P, "rnn", &cfg, &r);
    rg_tensor *x = random_tensor(RG_F64, RG_DIMS(T, B, I), &r);
    rg_tape *tp = rg_tape_new();
    rg_tensor *fin[2];
    rg_tensor *whole = rg_seq_forward_ex(tp, s, x, &(rg_seq_opts){.final = fin});
    cr_assert(whole);
    /* persistent carried state, filled by copy after each chunk */
    rg_tensor *carry[2] = {rg_zeros(NULL, RG_F64, RG_DIMS(2, B, H)),
                           rg_zeros(NULL, RG_F64, RG_DIMS(2, B, H))};
    rg_tape *tc = rg_tape_new();
    for (int64_t c0 = 0; c0 < T; c0 += 3) {
        int64_t n = c0 + 3 <= T ? 3 : T - c0;
        rg_tape_reset(tc);
        rg_tensor *xc = rg_slice(tc, x, 0, c0, n);
        rg_tensor *fc[2];
        rg_tensor *oc = rg_seq_forward_ex(tc, s, xc, &(rg_seq_opts){.init = carry, .final = fc});
        cr_assert(oc, "%s", rg_tape_error(tc));
        rg_tensor *loss = rg_sum(tc, oc);
        cr_assert_eq(rg_backward(tc, loss), 0, "%s", rg_tape_error(tc));
        for (int64_t i = 0; i < oc->numel; i++)
            cr_expect(fabs(rg_get(oc, i) - rg_get(whole, c0 * B * H + i)) < 1e-14);
        rg_tensor *d0 = rg_detach(tc, fc[0]);
        cr_assert(d0 && !rg_requires_grad(d0));
        cr_assert_eq(rg_tensor_copy(carry[0], d0), 0);
        cr_assert_eq(rg_tensor_copy(carry[1], fc[1]), 0);
    }
    for (int64_t i = 0; i < carry[0]->numel; i++) {
        cr_expect(fabs(rg_get(carry[0], i) - rg_get(fin[0], i)) < 1e-14);
        cr_expect(fabs(rg_get(carry[1], i) - rg_get(fin[1], i)) < 1e-14);
    }
    rg_tensor_free(carry[0]);
    rg_tensor_free(carry[1]);
    rg_tape_free(tc);
    rg_tape_free(tp);
    rg_tensor_free(x);
    rg_seq_free(s);
    rg_params_free(P);
}

/* ---- single steps, names, errors -------------------------------------------- */

Test(models, cell_step_matches_sequence)
{
    rg_rng r;
    rg_rng_seed(&r, 8);
    rg_params *P = rg_params_new();
    rg_cell c;
    cr_assert_eq(rg_cell_init(&c, &rg_cell_gru, P, NULL, NULL, 3, 4, RG_F64, &r), 0);
    cr_expect(rg_params_get(P, "weight_ih") && rg_params_get(P, "bias_hh"));
    cr_expect_eq(rg_params_get(P, "weight_hh")->shape[0], 12);
    rg_seq_config cfg = {.cell = &rg_cell_gru, .input_size = 3, .hidden_size = 4,
                         .num_layers = 1, .dtype = RG_F64};
    rg_seq *s = rg_seq_new(P, "rnn", &cfg, &r);
    for (int j = 0; j < 4; j++)
        rg_tensor_copy(s->cells[0].param[j], c.param[j]);
    rg_tensor *x = random_tensor(RG_F64, RG_DIMS(3, 2, 3), &r);
    rg_tape *tp = rg_tape_new();
    rg_tensor *out = rg_seq_forward_ex(tp, s, x, NULL);
    rg_tensor *h = NULL;
    for (int64_t t = 0; t < 3; t++) {
        rg_tensor *xt = rg_reshape(tp, rg_slice(tp, x, 0, t, 1), RG_DIMS(2, 3));
        rg_tensor *next;
        cr_assert_eq(rg_cell_step(tp, &c, xt, h ? &h : NULL, &next), 0, "%s",
                     rg_tape_error(tp));
        h = next;
    }
    for (int64_t i = 0; i < 8; i++)
        cr_expect_eq(rg_get(h, i), rg_get(out, 16 + i));
    rg_tape_free(tp);
    rg_tensor_free(x);
    rg_seq_free(s);
    rg_params_free(P);
}

Test(models, names_and_lookup)
{
    cr_expect_eq(rg_cell_type_find("lstm"), &rg_cell_lstm);
    cr_expect_eq(rg_cell_type_find("gru"), &rg_cell_gru);
    cr_expect_eq(rg_cell_type_find("rnn_relu"), &rg_cell_rnn_relu);
    cr_expect_eq(rg_cell_type_find("rnn_tanh"), &rg_cell_rnn_tanh);
    cr_expect_null(rg_cell_type_find("transformer"));
    rg_params *P = rg_params_new();
    rg_seq_config cfg = {.cell = &rg_cell_lstm, .input_size = 5, .hidden_size = 3,
                         .num_layers = 2, .bidirectional = true, .dtype = RG_F32};
    rg_seq *s = rg_seq_new(P, "rnn", &cfg, NULL);
    cr_assert(s);
    const char *want[] = {"rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                          "rnn.bias_hh_l0", "rnn.weight_ih_l0_reverse"};
    for (int i = 0; i < 5; i++) {
        const char *name;
        rg_params_at(P, i, &name);
        cr_expect_str_eq(name, want[i]);
    }
    rg_tensor *w1 = rg_params_get(P, "rnn.weight_ih_l1_reverse");
    cr_assert(w1);
    cr_expect(w1->shape[0] == 12 && w1->shape[1] == 6 && w1->dtype == RG_F32);
    cr_expect_eq(rg_params_count(P), 16);
    /* a second model under the same prefix collides */
    cr_expect_null(rg_seq_new(P, "rnn", &cfg, NULL));
    cr_expect(strstr(rg_last_error(), "rnn.weight_ih_l0") != NULL, "%s", rg_last_error());
    rg_seq_free(s);
    rg_params_free(P);
}

Test(models, error_paths)
{
    rg_params *P = rg_params_new();
    rg_seq_config cfg = {.cell = &rg_cell_lstm, .input_size = 4, .hidden_size = 3,
                         .num_layers = 2, .dtype = RG_F64};
    rg_seq *s = rg_seq_new(P, "rnn", &cfg, NULL);
    rg_tape *tp = rg_tape_new();
    rg_tensor *bad = rg_zeros(tp, RG_F64, RG_DIMS(5, 2, 7));
    cr_expect_null(rg_seq_forward_ex(tp, s, bad, NULL));
    cr_expect(rg_tape_error(tp) && strstr(rg_tape_error(tp), "[5,2,7]"), "%s",
              rg_tape_error(tp));
    rg_tape_reset(tp);
    rg_tensor *x = rg_zeros(tp, RG_F64, RG_DIMS(5, 2, 4));
    cr_expect_null(rg_seq_forward_ex(tp, s, x, &(rg_seq_opts){.lengths = (const int32_t[]){5, 6}}));
    cr_expect(strstr(rg_tape_error(tp), "lengths[1]"), "%s", rg_tape_error(tp));
    rg_tape_reset(tp);
    x = rg_zeros(tp, RG_F64, RG_DIMS(5, 2, 4));
    rg_tensor *h0[2] = {rg_zeros(tp, RG_F64, RG_DIMS(1, 2, 3)), NULL};
    cr_expect_null(rg_seq_forward_ex(tp, s, x, &(rg_seq_opts){.init = h0}));
    cr_expect(strstr(rg_tape_error(tp), "initial state"), "%s", rg_tape_error(tp));
    rg_tape_reset(tp);
    x = rg_zeros(tp, RG_F32, RG_DIMS(5, 2, 4));
    cr_expect_null(rg_seq_forward_ex(tp, s, x, NULL));
    rg_tape_reset(tp);
    cr_expect_null(rg_seq_forward_ex(tp, s, NULL, NULL));
    cr_expect_str_eq(rg_tape_error(tp), "rg_seq_forward_ex: x is NULL");
    rg_tape_reset(tp);
    /* dropout while training needs an rng */
    s->cfg.dropout = 0.5;
    rg_tape_set_training(tp, true);
    x = rg_zeros(tp, RG_F64, RG_DIMS(5, 2, 4));
    cr_expect_null(rg_seq_forward_ex(tp, s, x, NULL));
    cr_expect(strstr(rg_tape_error(tp), "dropout"), "%s", rg_tape_error(tp));
    rg_seq_config badcfg = cfg;
    badcfg.num_layers = 0;
    cr_expect_null(rg_seq_new(P, "other", &badcfg, NULL));
    rg_tape_free(tp);
    rg_seq_free(s);
    rg_params_free(P);
}

/* max |a - b| over two tensors of one shape (INFINITY when either is missing). */
static double max_diff(const rg_tensor *a, const rg_tensor *b)
{
    if (!a || !b || !rg_same_shape(a, b))
        return INFINITY;
    double m = 0;
    for (int64_t i = 0; i < a->numel; ++i)
        m = fmax(m, fabs(rg_get(a, i) - rg_get(b, i)));
    return m;
}

/* rg_seq_forward_ex takes its optional arguments in an rg_seq_opts: with every
 * option set (lengths, a partial initial state, final states, dropout while
 * training) it equals the legacy form with trailing arguments, bit for bit; a
 * NULL opts equals a zeroed one and the legacy form with four NULLs; the _ids
 * forms likewise; errors name the form that was called. */
Test(models, seq_forward_options_struct)
{
    rg_rng r;
    rg_rng_seed(&r, 31);
    rg_params *P = rg_params_new();
    rg_seq_config cfg = {.cell = &rg_cell_lstm, .input_size = 4, .hidden_size = 3,
                         .num_layers = 2, .bidirectional = true, .dropout = 0.3,
                         .dtype = RG_F64};
    rg_seq *s = rg_seq_new(P, "rnn", &cfg, &r);
    cr_assert_not_null(s, "%s", rg_last_error());
    rg_tensor *x = rg_uniform(NULL, RG_F64, RG_DIMS(5, 3, 4), -1, 1, &r);
    rg_tensor *h0 = rg_uniform(NULL, RG_F64, RG_DIMS(4, 3, 3), -1, 1, &r);
    rg_tensor *emb = rg_uniform(NULL, RG_F64, RG_DIMS(6, 4), -1, 1, &r);
    rg_tensor *ids = rg_from_data(NULL, RG_I32, RG_DIMS(5, 3),
                                  (int32_t[]){0, 1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 0, 1, 3, 5});
    const int32_t len[3] = {5, 2, 4};
    rg_tensor *init[2] = {h0, NULL}; /* c_0 from the cell */
    rg_tape *tp = rg_tape_new();
    rg_tape_set_training(tp, true);

    for (int ids_form = 0; ids_form < 2; ++ids_form) {
        rg_tensor *y[2], *fin[2][2] = {{0}};
        for (int form = 0; form < 2; ++form) {
            rg_rng dr;
            rg_rng_seed(&dr, 7); /* the same dropout masks both times */
            rg_seq_opts o = {.lengths = len, .init = init, .final = fin[form], .dropout_rng = &dr};
            if (ids_form)
                y[form] = form ? rg_seq_forward_ids_ex(tp, s, emb, ids, &o)
                               : rg_seq_forward_ids(tp, s, emb, ids, len, init, fin[form], &dr);
            else
                y[form] = form ? rg_seq_forward_ex(tp, s, x, &o)
                               : rg_seq_forward(tp, s, x, len, init, fin[form], &dr);
            cr_assert_not_null(y[form], "%s", rg_last_error());
        }
        cr_expect_eq(max_diff(y[0], y[1]), 0.0, "output (ids form %d)", ids_form);
        cr_expect_eq(max_diff(fin[0][0], fin[1][0]), 0.0, "h_n (ids form %d)", ids_form);
        cr_expect_eq(max_diff(fin[0][1], fin[1][1]), 0.0, "c_n (ids form %d)", ids_form);
        cr_expect(fin[1][0]->shape[0] == 4 && fin[1][0]->shape[1] == 3, "h_n is [L*D,B,H]");
        rg_tape_reset(tp);
    }

    /* no options: NULL, a zeroed struct and four NULLs agree (not training) */
    rg_tape_set_training(tp, false);
    rg_tensor *plain[3] = {rg_seq_forward_ex(tp, s, x, NULL),
                           rg_seq_forward_ex(tp, s, x, &(rg_seq_opts){0}),
                           rg_seq_forward(tp, s, x, NULL, NULL, NULL, NULL)};
    cr_assert(plain[0] && plain[1] && plain[2], "%s", rg_last_error());
    cr_expect_eq(max_diff(plain[0], plain[1]), 0.0);
    cr_expect_eq(max_diff(plain[0], plain[2]), 0.0);
    rg_tape_reset(tp);

    /* errors name the form called; a NULL after a failed op repeats the first error */
    cr_expect_null(rg_seq_forward_ex(NULL, s, x, NULL));
    cr_expect_str_eq(rg_last_error(), "rg_seq_forward_ex: tape is NULL");
    cr_expect_null(rg_seq_forward_ids_ex(tp, s, emb, NULL, NULL));
    cr_expect_str_eq(rg_last_error(), "rg_seq_forward_ids_ex: ids is NULL");
    rg_tape_reset(tp);
    cr_expect_null(rg_seq_forward_ids_ex(tp, s, x, ids, NULL));
    cr_expect(strstr(rg_last_error(), "rg_seq_forward_ids_ex: ids [5,3] int32 and table [5,3,4]"),
              "%s", rg_last_error());
    rg_tape_reset(tp);
    rg_tensor *bad = rg_matmul(tp, x, x); /* fails: the tape's first error */
    cr_expect_null(bad);
    char first[256];
    snprintf(first, sizeof first, "%s", rg_last_error());
    rg_set_error("unrelated");
    cr_expect_null(rg_seq_forward_ex(tp, s, bad, &(rg_seq_opts){.lengths = len}));
    cr_expect_str_eq(rg_last_error(), first);

    rg_tape_free(tp);
    rg_tensor_free(x);
    rg_tensor_free(h0);
    rg_tensor_free(emb);
    rg_tensor_free(ids);
    rg_seq_free(s);
    rg_params_free(P);
}

/* The built-in LSTM and GRU (fused gate rows) against the same cells written
 * with plain ops: same parameters, same outputs and gradients. */
static void fused_vs_composed(const rg_cell_type *fused, const rg_cell_type *plain, rg_dtype dt,
                              double tol)
{
    rg_tensor *grads[2][16] = {{0}};
    rg_tensor *outs[2] = {0};
    int np = 0;
    for (int pass = 0; pass < 2; ++pass) {
        rg_rng r;
        rg_rng_seed(&r, 99);
        rg_params *P = rg_params_new();
        rg_seq_config cfg = {pass ? plain : fused, 3, 4, 2, true, 0.0, dt};
        rg_seq *s = rg_seq_new(P, "rnn", &cfg, &r);
        cr_assert_not_null(s, "%s", rg_last_error());
        rg_tape *tp = rg_tape_new();
        rg_tensor *x = rg_uniform(tp, dt, RG_DIMS(6, 2, 3), -1, 1, &r);
        rg_tensor *w = rg_uniform(tp, dt, RG_DIMS(6, 2, 8), -1, 1, &r);
        rg_tensor *y =
            rg_seq_forward_ex(tp, s, x, &(rg_seq_opts){.lengths = (const int32_t[]){6, 4}});
        rg_tensor *loss = rg_sum(tp, rg_mul(tp, y, w));
        cr_assert_not_null(loss, "%s", rg_tape_error(tp));
        cr_assert_eq(rg_backward(tp, loss), 0, "%s", rg_tape_error(tp));
        outs[pass] = rg_tensor_clone(y);
        np = rg_params_count(P);
        for (int i = 0; i < np && i < 16; ++i) {
            rg_tensor *p = rg_params_at(P, i, NULL);
            grads[pass][i] = rg_tensor_clone(p);
            for (int64_t k = 0; k < p->numel; ++k) rg_set(grads[pass][i], k, rg_grad_get(p, k));
        }
        rg_tape_free(tp);
        rg_seq_free(s);
        rg_params_free(P);
    }
    double worst = 0;
    for (int64_t k = 0; k < outs[0]->numel; ++k)
        worst = fmax(worst, fabs(rg_get(outs[0], k) - rg_get(outs[1], k)));
    for (int i = 0; i < np && i < 16; ++i)
        for (int64_t k = 0; k < grads[0][i]->numel; ++k)
            worst = fmax(worst, fabs(rg_get(grads[0][i], k) - rg_get(grads[1][i], k)));
    cr_expect_leq(worst, tol, "%s vs %s: max difference %g", fused->name, plain->name, worst);
    for (int pass = 0; pass < 2; ++pass) {
        rg_tensor_free(outs[pass]);
        for (int i = 0; i < 16; ++i) rg_tensor_free(grads[pass][i]);
    }
}

Test(models, fused_lstm_equals_composed)
{
    fused_vs_composed(&rg_cell_lstm, &rg_cell_lstm_composed, RG_F64, 1e-12);
    fused_vs_composed(&rg_cell_lstm, &rg_cell_lstm_composed, RG_F32, 1e-5);
}

Test(models, fused_gru_equals_composed)
{
    fused_vs_composed(&rg_cell_gru, &rg_cell_gru_composed, RG_F64, 1e-12);
    fused_vs_composed(&rg_cell_gru, &rg_cell_gru_composed, RG_F32, 1e-5);
}

/* rg_seq_forward_ids (first-layer projection through rg_embedding_linear) equals
 * rg_seq_forward on the looked-up rows: outputs, final states, every gradient
 * including the table's; both the table path (V <= T*B) and the rows path. */
static void ids_vs_lookup(const rg_cell_type *cell, int64_t V, bool bidir)
{
    double worst = 0;
    rg_tensor *vals[2][32] = {{0}};
    int nv = 0;
    for (int pass = 0; pass < 2; pass++) {
        rg_rng r;
        rg_rng_seed(&r, 5);
        rg_params *P = rg_params_new();
        rg_seq_config cfg = {cell, 3, 4, 2, bidir, 0.0, RG_F64};
        rg_seq *s = rg_seq_new(P, "rnn", &cfg, &r);
        rg_tensor *emb = rg_params_add(P, "embed.weight", RG_F64, RG_DIMS(V, 3));
        cr_assert(s && emb, "%s", rg_last_error());
        for (int64_t k = 0; k < emb->numel; k++) rg_set(emb, k, rg_rng_uniform(&r) - 0.5);
        rg_tape *tp = rg_tape_new();
        rg_tensor *ids = rg_tensor_new(tp, RG_I32, RG_DIMS(5, 2));
        for (int64_t k = 0; k < ids->numel; k++) rg_set(ids, k, (double)rg_rng_below(&r, V));
        rg_tensor *w = rg_uniform(tp, RG_F64, RG_DIMS(5, 2, bidir ? 8 : 4), -1, 1, &r);
        rg_tensor *fin[2] = {0};
        const int32_t len[2] = {5, 3};
        rg_seq_opts o = {.lengths = len, .final = fin};
        rg_tensor *y = pass == 0 ? rg_seq_forward_ids_ex(tp, s, emb, ids, &o)
                                 : rg_seq_forward_ex(tp, s, rg_embedding(tp, emb, ids), &o);
        rg_tensor *loss = rg_add(tp, rg_sum(tp, rg_mul(tp, y, w)), rg_sum(tp, fin[0]));
        cr_assert_not_null(loss, "%s", rg_tape_error(tp));
        cr_assert_eq(rg_backward(tp, loss), 0, "%s", rg_tape_error(tp));
        nv = 0;
        vals[pass][nv++] = rg_tensor_clone(y);
        vals[pass][nv++] = rg_tensor_clone(fin[0]);
        for (int i = 0; i < rg_params_count(P) && nv < 32; i++) {
            rg_tensor *p = rg_params_at(P, i, NULL);
            rg_tensor *g = rg_tensor_clone(p);
            for (int64_t k = 0; k < p->numel; k++) rg_set(g, k, rg_grad_get(p, k));
            vals[pass][nv++] = g;
        }
        rg_tape_free(tp);
        rg_seq_free(s);
        rg_params_free(P);
    }
    for (int i = 0; i < nv; i++) {
        for (int64_t k = 0; k < vals[0][i]->numel; k++)
            worst = fmax(worst, fabs(rg_get(vals[0][i], k) - rg_get(vals[1][i], k)));
        rg_tensor_free(vals[0][i]);
        rg_tensor_free(vals[1][i]);
    }
    cr_expect_leq(worst, 1e-12, "%s V=%lld: max difference %g", cell->name, (long long)V, worst);
}

Test(models, forward_ids_equals_lookup_then_forward)
{
    ids_vs_lookup(&rg_cell_lstm, 4, true);   /* 10 ids >= 4 rows: table path */
    ids_vs_lookup(&rg_cell_gru, 4, false);
    ids_vs_lookup(&rg_cell_rnn_tanh, 30, true); /* 10 ids < 30 rows: rows path */
    ids_vs_lookup(&rg_cell_lstm_composed, 4, false);
}
