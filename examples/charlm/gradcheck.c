/* charlm gradcheck: the whole model (embedding, recurrent stack, head, mean
 * cross-entropy) in float64 with random weights and a random batch; every
 * parameter tensor's gradient against central finite differences (--order 1),
 * or its second derivatives (--order 2): the Hessian-vector product H v of
 * rg_hvp along a random direction v over all parameters, element by element
 * against central differences of <v, dL/dθ> (the fast first-order gradient),
 * so every block of H, the cross terms between parameters included, is
 * checked along v. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "charlm.h"

static const char *usage_line =
    "usage: charlm gradcheck [--cell C] [--cell-lib FILE.so] [--layers N] [--hidden N] [--embed N] [--unroll T]\n"
    "                        [--batch B] [--vocab V] [--seed S] [--order 1|2]";

typedef struct gc_ctx {
    const lm_model *m;
    const int32_t *in, *tg;
    int64_t T, B;
} gc_ctx;

/* the mean loss of the batch; the parameters are read through the model */
static rg_tensor *loss_fn(rg_tape *tp, rg_tensor *const *inputs, int n, void *user)
{
    (void)inputs;
    (void)n;
    gc_ctx *g = user;
    rg_tensor *ids = rg_from_data(tp, RG_I32, RG_DIMS(g->T, g->B), g->in);
    rg_tensor *tg = rg_from_data(tp, RG_I32, RG_DIMS(g->T * g->B), g->tg);
    rg_tensor *logits = lm_forward(tp, g->m, ids, NULL, NULL, NULL);
    return tg ? rg_cross_entropy(tp, logits, tg, RG_MEAN) : NULL;
}

static rg_tensor *loss_of_params(rg_tape *tp, void *user)
{
    return loss_fn(tp, NULL, 0, user);
}

/* --order 1: rg_gradcheck per parameter tensor; prints a line each; 0, or 1
 * when a check could not run */
static int check_first(const lm_model *m, gc_ctx *g, const rg_gradcheck_opts *o, bool *pass,
                       double *worst)
{
    for (int i = 0; i < rg_params_count(m->P); i++) {
        const char *name;
        rg_tensor *p = rg_params_at(m->P, i, &name);
        rg_gradcheck_result res;
        if (rg_gradcheck(loss_fn, 1, &p, g, o, &res) != 0) {
            fprintf(stderr, "charlm gradcheck: %s: %s\n", name, rg_last_error());
            return 1;
        }
        char shape[64];
        printf("%-20s %-10s %12.3e %12.3e%s\n", name, rg_shape_str(p, shape, sizeof shape),
               res.max_abs_err, res.max_rel_err, res.pass ? "" : "  FAIL");
        *pass = *pass && res.pass;
        if (res.max_rel_err > *worst || isnan(res.max_rel_err))
            *worst = res.max_rel_err;
    }
    return 0;
}

/* G(θ) = <v, dL/dθ> with the fast backward; NAN on error */
static double directional_grad(const lm_model *m, gc_ctx *g, rg_tensor *const *v, rg_tape *tp)
{
    rg_tape_reset(tp);
    rg_params_zero_grad(m->P);
    rg_tensor *L = loss_fn(tp, NULL, 0, g);
    if (!L || rg_backward(tp, L) != 0)
        return NAN;
    double s = 0;
    for (int i = 0; i < rg_params_count(m->P); i++) {
        rg_tensor *p = rg_params_at(m->P, i, NULL);
        for (int64_t k = 0; k < p->numel; k++)
            s += rg_grad_get(p, k) * rg_get(v[i], k);
    }
    return s;
}

/* parameter i of --order 2: (Hv)_k against (G(θ + eps e_k) - G(θ - eps e_k)) / 2 eps
 * for each element k, judged like rg_gradcheck */
static rg_gradcheck_result check_second_param(const lm_model *m, gc_ctx *g, rg_tensor *const *v,
                                              const rg_tensor *hv, int i, rg_tape *tp,
                                              const rg_gradcheck_opts *o)
{
    rg_gradcheck_result r = {.pass = true, .worst_input = i, .worst_index = -1};
    rg_tensor *p = rg_params_at(m->P, i, NULL);
    for (int64_t k = 0; k < p->numel; k++) {
        double x0 = rg_get(p, k);
        rg_set(p, k, x0 + o->eps);
        double gp = directional_grad(m, g, v, tp);
        rg_set(p, k, x0 - o->eps);
        double gm = directional_grad(m, g, v, tp);
        rg_set(p, k, x0);
        double num = (gp - gm) / (2 * o->eps), a = rg_get(hv, k), err = fabs(a - num);
        double rel = err / fmax(fmax(fabs(a), fabs(num)), o->rel_floor);
        if (!(err <= o->atol + o->rtol * fabs(num)))
            r.pass = false;
        if (err > r.max_abs_err || isnan(err))
            r.max_abs_err = err;
        if (rel > r.max_rel_err || isnan(rel)) {
            r.max_rel_err = rel;
            r.worst_index = k;
            r.worst_analytic = a;
            r.worst_numeric = num;
        }
        r.n_checked++;
    }
    return r;
}

/* --order 2: one H v of every parameter (rg_hvp), v ~ U(-1,1) per element */
static int check_second(const lm_model *m, gc_ctx *g, uint64_t seed,
                        const rg_gradcheck_opts *o, bool *pass, double *worst)
{
    int n = rg_params_count(m->P), status = 0;
    rg_tensor **v = calloc(2 * (size_t)n, sizeof *v), **hv = v ? v + n : NULL;
    rg_tape *tp = rg_tape_new();
    rg_rng r;
    rg_rng_seed(&r, seed ^ 0xd1ec7);
    for (int i = 0; v && i < n; i++) {
        rg_tensor *p = rg_params_at(m->P, i, NULL);
        v[i] = rg_uniform(NULL, RG_F64, p->rank, p->shape, -1, 1, &r);
    }
    if (!v || !tp || rg_hvp(tp, m->P, loss_of_params, g, v, hv, NULL) != 0) {
        fprintf(stderr, "charlm gradcheck: --order 2: %s\n", v ? rg_last_error() : "out of memory");
        status = 1;
    }
    for (int i = 0; status == 0 && i < n; i++) {
        const char *name;
        rg_tensor *p = rg_params_at(m->P, i, &name);
        rg_gradcheck_result res = check_second_param(m, g, v, hv[i], i, tp, o);
        char shape[64];
        printf("%-20s %-10s %12.3e %12.3e%s\n", name, rg_shape_str(p, shape, sizeof shape),
               res.max_abs_err, res.max_rel_err, res.pass ? "" : "  FAIL");
        *pass = *pass && res.pass;
        if (res.max_rel_err > *worst || isnan(res.max_rel_err))
            *worst = res.max_rel_err;
    }
    rg_params_zero_grad(m->P);
    for (int i = 0; v && i < 2 * n; i++)
        rg_tensor_free(v[i]);
    free(v);
    rg_tape_free(tp);
    return status;
}

int charlm_gradcheck_main(int argc, char **argv)
{
    const char *cell_name = "lstm", *cell_lib = NULL;
    int64_t layers = 2, hidden = 5, embed = 4, unroll = 4, batch = 3, vocab = 7, seed = 1;
    int64_t order = 1;
    rg_flag fl[] = {
        {"--cell", RG_FLAG_STRING, &cell_name, 0, 0, NULL, "lstm | gru | rnn_tanh | rnn_relu | a plugin's cell (default lstm)", 0, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &cell_lib, 0, 0, NULL, "a cell plugin (shared object) to load first", 0, 0, 0},
        {"--layers", RG_FLAG_INT, &layers, 1, 8, NULL, "recurrent layers (default 2)", 0, 0, 0},
        {"--hidden", RG_FLAG_INT, &hidden, 1, 256, NULL, "hidden size (default 5)", 0, 0, 0},
        {"--embed", RG_FLAG_INT, &embed, 1, 256, NULL, "embedding size (default 4)", 0, 0, 0},
        {"--unroll", RG_FLAG_INT, &unroll, 1, 256, NULL, "time steps (default 4)", 0, 0, 0},
        {"--batch", RG_FLAG_INT, &batch, 1, 256, NULL, "sequences (default 3)", 0, 0, 0},
        {"--vocab", RG_FLAG_INT, &vocab, 2, 256, NULL, "vocabulary size (default 7)", 0, 0, 0},
        {"--seed", RG_FLAG_INT, &seed, 0, 9.2e18, NULL, "random seed (default 1)", 0, 0, 0},
        {"--order", RG_FLAG_INT, &order, 1, 2, NULL, "1: gradients, 2: second derivatives (Hessian-vector products) (default 1)", 0, 0, 0},
    };
    int nf = (int)(sizeof fl / sizeof fl[0]);
    int status;
    if (!rg_flags_cli("charlm gradcheck", usage_line, fl, nf, argc, argv, 2, &status))
        return status;
    if (cell_lib && rg_cell_plugin_load(cell_lib) != 0) {
        fprintf(stderr, "charlm gradcheck: %s\n", rg_last_error());
        return 1;
    }
    const rg_cell_type *cell = lm_cell_find(cell_name, "--cell");
    if (!cell) {
        fprintf(stderr, "charlm gradcheck: %s\n", rg_last_error());
        return 2;
    }
    rg_rng rng;
    rg_rng_seed(&rng, (uint64_t)seed);
    charlm_vocab v;
    uint8_t bytes[256];
    for (int i = 0; i < vocab; i++)
        bytes[i] = (uint8_t)i;
    charlm_vocab_from_text(&v, bytes, vocab);
    lm_model m;
    if (lm_model_init(&m, cell, v.n, embed, hidden, (int)layers, 0.0, RG_F64, &rng) != 0) {
        fprintf(stderr, "charlm gradcheck: %s\n", rg_last_error());
        return 1;
    }
    int32_t *in = malloc((size_t)(unroll * batch) * sizeof *in);
    int32_t *tg = malloc((size_t)(unroll * batch) * sizeof *tg);
    if (!in || !tg) {
        fprintf(stderr, "charlm gradcheck: out of memory\n");
        free(in);
        free(tg);
        lm_model_free(&m);
        return 1;
    }
    for (int64_t i = 0; i < unroll * batch; i++) {
        in[i] = (int32_t)rg_rng_below(&rng, vocab);
        tg[i] = (int32_t)rg_rng_below(&rng, vocab);
    }
    gc_ctx g = {&m, in, tg, unroll, batch};
    rg_gradcheck_opts o;
    rg_gradcheck_defaults(&o);
    printf("gradcheck: %s %lldx%lld, embed %lld, vocab %lld, unroll %lld, batch %lld, float64, "
           "eps %g, atol %g, rtol %g\n", cell->name, (long long)layers, (long long)hidden,
           (long long)embed, (long long)vocab, (long long)unroll, (long long)batch, o.eps,
           o.atol, o.rtol);
    if (order == 2)
        printf("order 2: H v (rg_hvp) along one random direction v over all parameters, "
               "v ~ U(-1,1) per element (seed %lld), against central differences of <v, dL/dθ>\n",
               (long long)seed);
    printf("%-20s %-10s %12s %12s\n", "parameter", "shape", "max_abs_err", "max_rel_err");
    bool pass = true;
    double worst = 0;
    int n = rg_params_count(m.P);
    status = order == 2 ? check_second(&m, &g, (uint64_t)seed, &o, &pass, &worst)
                        : check_first(&m, &g, &o, &pass, &worst);
    if (status == 0) {
        printf("gradcheck: %sparams=%d max_rel_err=%.3e %s\n", order == 2 ? "order=2 " : "", n,
               worst, pass ? "PASS" : "FAIL");
        status = pass ? 0 : 1;
    }
    free(in);
    free(tg);
    lm_model_free(&m);
    return status;
}
