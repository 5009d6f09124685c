/* Hessian-free training (truncated Newton; Martens 2010, Martens & Sutskever
 * 2011) of a tanh RNN on the addition problem, next to SGD and Adam from the
 * same initialisations at a comparable number of gradient evaluations.
 *
 * The addition problem (Hochreiter & Schmidhuber 1997, in the form of Le et
 * al. 2015): each of T steps reads (a value ~ U[0,1), a marker); two steps are
 * marked, one in each half of the sequence; the target is the sum of the two
 * marked values, read from the last step's output.  Predicting the mean (1)
 * gives an MSE of 1/6 ~ 0.167.  A run succeeds when its test MSE (1000 fresh
 * sequences) is below --threshold (default 0.01).
 *
 * Model: RNN-tanh (H units, W_hh orthogonal, the rest PyTorch's init) and a
 * linear head on the last hidden state; loss: mean squared error.
 *
 * HF: each iteration takes a gradient on --hf-batch sequences and solves
 * (G + λI) d = -g by conjugate gradient (at most --cg-iters steps, started
 * from 0.95 times the previous solution, stopped by Martens' relative-progress
 * test), where G v is the Gauss-Newton product of rg_gnvp on a curvature
 * batch (--hf-curv sequences, a part of the gradient's) with structural
 * damping: the hidden states are outputs too, with a loss (λ μ / 2B) ||h||^2,
 * so G gains λ μ J_h^T J_h.  Levenberg-Marquardt: λ grows by 3/2 when the
 * reduction ratio ρ < 1/4 and shrinks by 2/3 when ρ > 3/4; a backtracking line
 * search (0.8^k) accepts the step (or none).
 *
 * Cost: counted in gradient evaluations of an SGD batch (--batch sequences):
 * a gradient of n sequences costs n/batch, a forward n/(3 batch), and a
 * Gauss-Newton product 2n/batch (what an R-op implementation pays; ours costs
 * more, which the CPU seconds show).  Every method stops at --budget.
 *
 *   ./build/examples/hessian_free                        (T = 50 and 100, 5 seeds)
 *   ./build/examples/hessian_free --T 50 --seeds 1 --budget 500 --svg hf.svg
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "retrograd.h"

typedef struct opts {
    const char *lengths, *svg, *methods;
    int64_t seeds, hidden, batch, hf_batch, hf_curv, cg_iters, test_n, points, jobs;
    double budget, threshold, lr_sgd, lr_adam, momentum, clip, lambda0, mu;
    bool verbose;
} opts;

/* ---- the model and the data -------------------------------------------------- */

typedef struct model {
    rg_params *P;
    rg_seq *rnn;
    rg_linear_layer head;
    int n;                    /* parameter tensors */
    rg_tensor *theta[8];
    int64_t numel;
} model;

static int model_init(model *m, int64_t H, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    rg_rng r;
    rg_rng_seed(&r, seed);
    m->P = rg_params_new();
    rg_seq_config cfg = {.cell = &rg_cell_rnn_tanh, .input_size = 2, .hidden_size = H,
                         .num_layers = 1, .dtype = RG_F64};
    m->rnn = m->P ? rg_seq_new(m->P, "rnn", &cfg, &r) : NULL;
    if (!m->rnn || rg_init_orthogonal(rg_params_get(m->P, "rnn.weight_hh_l0"), 1.0, &r) != 0 ||
        rg_linear_layer_init(&m->head, m->P, "head", H, 1, true, RG_F64, &r) != 0)
        return -1;
    m->n = rg_params_tensors(m->P, m->theta, 8);
    m->numel = rg_params_numel(m->P);
    return m->n > 0 ? 0 : -1;
}

static void model_free(model *m)
{
    rg_seq_free(m->rnn);
    rg_params_free(m->P);
}

/* x [T,B,2] -> prediction [B,1]; *hidden (may be NULL) gets the states [T,B,H] */
static rg_tensor *forward(rg_tape *tp, const model *m, rg_tensor *x, rg_tensor **hidden)
{
    rg_tensor *out = rg_seq_forward_ex(tp, m->rnn, x, NULL);
    if (!out)
        return NULL;
    int64_t T = out->shape[0], B = out->shape[1], H = out->shape[2];
    if (hidden)
        *hidden = out;
    rg_tensor *last = rg_reshape(tp, rg_slice(tp, out, 0, T - 1, 1), RG_DIMS(B, H));
    return rg_linear_layer_forward(tp, &m->head, last);
}

typedef struct batch {
    rg_tensor *x, *y; /* persistent: [T,B,2], [B,1] */
    int64_t B;
} batch;

/* B fresh sequences of the addition problem into b (allocated on first use) */
static int draw(batch *b, int64_t T, int64_t B, rg_rng *r)
{
    if (!b->x) {
        b->x = rg_zeros(NULL, RG_F64, RG_DIMS(T, B, 2));
        b->y = rg_zeros(NULL, RG_F64, RG_DIMS(B, 1));
        b->B = B;
    }
    if (!b->x || !b->y)
        return -1;
    double *x = b->x->data, *y = b->y->data;
    memset(x, 0, (size_t)(T * B * 2) * sizeof *x);
    for (int64_t j = 0; j < B; j++) {
        int64_t t1 = rg_rng_below(r, T / 2), t2 = T / 2 + rg_rng_below(r, T - T / 2);
        for (int64_t t = 0; t < T; t++)
            x[(t * B + j) * 2] = rg_rng_uniform(r);
        x[(t1 * B + j) * 2 + 1] = x[(t2 * B + j) * 2 + 1] = 1.0;
        y[j] = x[(t1 * B + j) * 2] + x[(t2 * B + j) * 2];
    }
    return 0;
}

static void batch_free(batch *b)
{
    rg_tensor_free(b->x);
    rg_tensor_free(b->y);
}

/* the first n sequences of src into dst, a batch of its own (the curvature
 * batch; allocated on first use) */
static int sub_batch(batch *dst, const batch *src, int64_t n)
{
    int64_t T = src->x->shape[0], B = src->B;
    if (!dst->x) {
        dst->x = rg_zeros(NULL, RG_F64, RG_DIMS(T, n, 2));
        dst->y = rg_zeros(NULL, RG_F64, RG_DIMS(n, 1));
        dst->B = n;
    }
    if (!dst->x || !dst->y)
        return -1;
    for (int64_t t = 0; t < T; t++)
        memcpy((double *)dst->x->data + t * n * 2, (double *)src->x->data + t * B * 2,
               (size_t)(n * 2) * sizeof(double));
    memcpy(dst->y->data, src->y->data, (size_t)n * sizeof(double));
    return 0;
}

/* ---- losses and gradients ------------------------------------------------------ */

/* MSE on b without recording */
static double loss_on(rg_tape *tp, const model *m, const batch *b)
{
    rg_tape_reset(tp);
    bool was = rg_tape_set_grad_enabled(tp, false);
    rg_tensor *L = rg_mse(tp, forward(tp, m, b->x, NULL), b->y, RG_MEAN);
    rg_tape_set_grad_enabled(tp, was);
    return L ? rg_get(L, 0) : NAN;
}

/* MSE on b and its gradient into g[numel] (flat, registry order); NAN on error */
static double grad_on(rg_tape *tp, model *m, const batch *b, double *g)
{
    rg_tape_reset(tp);
    rg_params_zero_grad(m->P);
    rg_tensor *L = rg_mse(tp, forward(tp, m, b->x, NULL), b->y, RG_MEAN);
    if (!L || rg_backward(tp, L) != 0)
        return NAN;
    for (int i = 0, o = 0; i < m->n; o += (int)m->theta[i]->numel, i++)
        memcpy(g + o, m->theta[i]->grad, (size_t)m->theta[i]->numel * sizeof *g);
    return rg_get(L, 0);
}

static double dotv(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* CPU seconds of the calling thread (a run has one) */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- a run: its curve and its cost -------------------------------------------- */

typedef struct run {
    const opts *o;
    model *m;
    const batch *test;
    rg_tape *tp;
    double cost, cpu0;
    int next;                 /* the next point of the curve to fill */
    double *curve;            /* test MSE at cost j * budget / points, j = 0..points */
    double final_mse, cpu_s;
} run;

/* fills the points of the curve that the cost has passed with the test MSE
 * (all of them, up to the budget, when force) */
static void record(run *r, bool force)
{
    double step = r->o->budget / (double)r->o->points;
    if (r->next > r->o->points || (!force && r->cost < r->next * step))
        return;
    double mse = loss_on(r->tp, r->m, r->test);
    r->final_mse = mse;
    while (r->next <= r->o->points && (force || r->next * step <= r->cost))
        r->curve[r->next++] = mse;
}

/* ---- SGD and Adam --------------------------------------------------------------- */

/* first-order training: a gradient of --batch fresh sequences per step, the
 * global norm clipped to --clip */
static int train_first_order(run *r, rg_optim_kind kind, int64_t T, uint64_t data_seed)
{
    const opts *o = r->o;
    rg_optim_config oc = rg_optim_defaults(kind, kind == RG_SGD ? o->lr_sgd : o->lr_adam);
    if (kind == RG_SGD)
        oc.momentum = o->momentum;
    rg_optim *opt = rg_optim_new(r->m->P, &oc);
    rg_rng rng;
    rg_rng_seed(&rng, data_seed);
    batch b = {0};
    int rc = opt ? 0 : -1;
    record(r, false);
    while (rc == 0 && r->cost < o->budget) {
        rg_tape_reset(r->tp);
        rg_params_zero_grad(r->m->P);
        rc = draw(&b, T, o->batch, &rng);
        rg_tensor *L = rc ? NULL : rg_mse(r->tp, forward(r->tp, r->m, b.x, NULL), b.y, RG_MEAN);
        if (!L || rg_backward(r->tp, L) != 0)
            rc = -1;
        if (rc == 0) {
            rg_clip_grad_norm(r->m->P, o->clip);
            rc = rg_optim_step(opt);
        }
        r->cost += 1.0;
        if (rc == 0)
            record(r, false);
    }
    batch_free(&b);
    rg_optim_free(opt);
    return rc;
}

/* ---- Hessian-free ------------------------------------------------------------------ */

/* what the Gauss-Newton callbacks see */
typedef struct gn_ctx {
    model *m;
    const batch *b;
    double sd;      /* structural damping weight λ μ */
} gn_ctx;

/* z = [prediction (B values), hidden states (T*B*H values)] */
static rg_tensor *gn_outputs(rg_tape *tp, void *user)
{
    gn_ctx *c = user;
    rg_tensor *hid = NULL, *pred = forward(tp, c->m, c->b->x, &hid);
    if (!pred)
        return NULL;
    rg_tensor *parts[2] = {rg_reshape(tp, pred, RG_DIMS(pred->numel)),
                           rg_reshape(tp, hid, RG_DIMS(hid->numel))};
    return rg_concat(tp, 2, parts, 0);
}

/* MSE of the prediction + (λ μ / 2B) ||h||^2: its Gauss-Newton matrix is G of
 * the MSE plus the structural damping λ μ J_h^T J_h / B */
static rg_tensor *gn_loss(rg_tape *tp, rg_tensor *z, void *user)
{
    gn_ctx *c = user;
    int64_t B = c->b->B;
    rg_tensor *pred = rg_reshape(tp, rg_slice(tp, z, 0, 0, B), RG_DIMS(B, 1));
    rg_tensor *hid = rg_slice(tp, z, 0, B, z->numel - B);
    rg_tensor *L = rg_mse(tp, pred, c->b->y, RG_MEAN);
    if (c->sd <= 0)
        return L;
    return rg_add(tp, L, rg_mul_scalar(tp, rg_sum(tp, rg_mul(tp, hid, hid)), 0.5 * c->sd / B));
}

typedef struct hf_state {
    int64_t N;                 /* parameters */
    double *g, *x, *r, *p, *bp, *prev;
    rg_tensor *vt[8], *gt[8];  /* a direction and a product as tensors */
    double lambda;
    rg_tape *work;             /* the products' scratch tape */
} hf_state;

/* bp = (G + λ I) p on the curvature batch; 0 or -1 */
static int damped_product(hf_state *s, model *m, gn_ctx *c, const double *p, double *bp)
{
    for (int i = 0, o = 0; i < m->n; o += (int)m->theta[i]->numel, i++)
        memcpy(s->vt[i]->data, p + o, (size_t)m->theta[i]->numel * sizeof *p);
    if (rg_gnvp(s->work, m->P, gn_outputs, gn_loss, c, s->vt, s->gt, NULL) != 0)
        return -1;
    for (int i = 0, o = 0; i < m->n; o += (int)m->theta[i]->numel, i++)
        memcpy(bp + o, s->gt[i]->data, (size_t)m->theta[i]->numel * sizeof *bp);
    for (int64_t k = 0; k < s->N; k++)
        bp[k] += s->lambda * p[k];
    return 0;
}

/* CG on (G + λ I) x = -g from x = 0.95 prev; Martens' stop: after i >= 10
 * steps when φ improved by less than a relative k*5e-4 over the last
 * k = max(10, i/10) steps.  Returns the steps taken (-1 on error); *phi gets
 * φ(x) = g.x + x.(G + λI)x / 2 */
static int conjugate_gradient(hf_state *s, run *r, gn_ctx *c, double *phi)
{
    const int64_t N = s->N, max_it = r->o->cg_iters;
    double *hist = calloc((size_t)max_it + 1, sizeof *hist);
    for (int64_t k = 0; k < N; k++)
        s->x[k] = 0.95 * s->prev[k];
    int rc = hist ? damped_product(s, r->m, c, s->x, s->bp) : -1;
    r->cost += 2.0 * (double)c->b->B / (double)r->o->batch;
    for (int64_t k = 0; k < N; k++)
        s->p[k] = s->r[k] = -s->g[k] - s->bp[k];
    double rr = dotv(s->r, s->r, N);
    int it = 0;
    hist[0] = *phi = 0.5 * (dotv(s->x, s->g, N) - dotv(s->x, s->r, N));
    while (rc == 0 && it < max_it && rr > 0) {
        rc = damped_product(s, r->m, c, s->p, s->bp);
        r->cost += 2.0 * (double)c->b->B / (double)r->o->batch;
        double pbp = rc == 0 ? dotv(s->p, s->bp, N) : 0;
        if (rc != 0 || pbp <= 0)
            break;
        double a = rr / pbp;
        for (int64_t k = 0; k < N; k++) {
            s->x[k] += a * s->p[k];
            s->r[k] -= a * s->bp[k];
        }
        double rr_new = dotv(s->r, s->r, N);
        for (int64_t k = 0; k < N; k++)
            s->p[k] = s->r[k] + rr_new / rr * s->p[k];
        rr = rr_new;
        hist[++it] = *phi = 0.5 * (dotv(s->x, s->g, N) - dotv(s->x, s->r, N));
        int k = it / 10 > 10 ? it / 10 : 10;
        if (it >= 10 && it > k && *phi < 0 && (*phi - hist[it - k]) / *phi < k * 5e-4)
            break;
    }
    free(hist);
    return rc == 0 ? it : -1;
}

/* θ = θ0 + a x (flat copies) */
static void set_params(model *m, const double *theta0, const double *x, double a)
{
    for (int i = 0, o = 0; i < m->n; o += (int)m->theta[i]->numel, i++) {
        double *p = m->theta[i]->data;
        for (int64_t k = 0; k < m->theta[i]->numel; k++)
            p[k] = theta0[o + k] + a * (x ? x[o + k] : 0);
    }
}

/* one HF iteration on a fresh gradient batch gb (its first --hf-curv
 * sequences the curvature batch cb); 0 or -1 */
static int hf_iteration(hf_state *s, run *r, batch *gb, batch *cb, double *theta0, rg_rng *rng,
                        int64_t T, bool verbose)
{
    const opts *o = r->o;
    const int64_t N = s->N;
    if (draw(gb, T, o->hf_batch, rng) != 0 || sub_batch(cb, gb, o->hf_curv) != 0)
        return -1;
    double f0 = grad_on(r->tp, r->m, gb, s->g), phi;
    r->cost += (double)gb->B / (double)o->batch;
    gn_ctx c = {r->m, cb, s->lambda * o->mu};
    int it = isnan(f0) ? -1 : conjugate_gradient(s, r, &c, &phi);
    if (it < 0)
        return -1;
    memcpy(s->prev, s->x, (size_t)N * sizeof *s->x);
    for (int i = 0, off = 0; i < r->m->n; off += (int)r->m->theta[i]->numel, i++)
        memcpy(theta0 + off, r->m->theta[i]->data, (size_t)r->m->theta[i]->numel * sizeof(double));
    /* ρ against the undamped quadratic model q(x) - q(0) = φ(x) - λ|x|^2/2 */
    double gx = dotv(s->g, s->x, N), model_drop = phi - 0.5 * s->lambda * dotv(s->x, s->x, N);
    set_params(r->m, theta0, s->x, 1.0);
    double f1 = loss_on(r->tp, r->m, gb), rho = (f1 - f0) / model_drop, a = 1.0, fa = f1;
    r->cost += (double)gb->B / (3.0 * o->batch);
    if (rho < 0.25 || isnan(rho))
        s->lambda *= 1.5;
    else if (rho > 0.75)
        s->lambda *= 2.0 / 3.0;
    for (int k = 0; k < 20 && !(fa <= f0 + 0.01 * a * gx); k++) { /* backtracking */
        a *= 0.8;
        set_params(r->m, theta0, s->x, a);
        fa = loss_on(r->tp, r->m, gb);
        r->cost += (double)gb->B / (3.0 * o->batch);
    }
    if (!(fa <= f0 + 0.01 * a * gx)) { /* no step */
        set_params(r->m, theta0, NULL, 0);
        memset(s->prev, 0, (size_t)N * sizeof *s->prev);
        a = 0;
    }
    if (verbose)
        printf("    hf: loss %.5f -> %.5f  cg %2d  rho %6.3f  lambda %.3g  step %.3g  cost %.0f\n",
               f0, fa, it, rho, s->lambda, a, r->cost);
    return 0;
}

static int train_hf(run *r, int64_t T, uint64_t data_seed, bool verbose)
{
    hf_state s = {.N = r->m->numel, .lambda = r->o->lambda0, .work = rg_tape_new()};
    double *buf = calloc(7 * (size_t)s.N, sizeof *buf), *theta0 = buf ? buf + 6 * s.N : NULL;
    int rc = buf && s.work ? 0 : -1;
    if (buf) {
        s.g = buf, s.x = buf + s.N, s.r = buf + 2 * s.N, s.p = buf + 3 * s.N;
        s.bp = buf + 4 * s.N, s.prev = buf + 5 * s.N;
    }
    for (int i = 0; rc == 0 && i < r->m->n; i++) {
        const rg_tensor *p = r->m->theta[i];
        s.vt[i] = rg_zeros(NULL, RG_F64, p->rank, p->shape);
        s.gt[i] = rg_zeros(NULL, RG_F64, p->rank, p->shape);
        rc = s.vt[i] && s.gt[i] ? 0 : -1;
    }
    rg_rng rng;
    rg_rng_seed(&rng, data_seed);
    batch gb = {0}, cb = {0};
    record(r, false);
    while (rc == 0 && r->cost < r->o->budget) {
        rc = hf_iteration(&s, r, &gb, &cb, theta0, &rng, T, verbose);
        if (rc == 0)
            record(r, false);
    }
    batch_free(&gb);
    batch_free(&cb);
    for (int i = 0; i < r->m->n; i++) {
        rg_tensor_free(s.vt[i]);
        rg_tensor_free(s.gt[i]);
    }
    rg_tape_free(s.work);
    free(buf);
    return rc;
}

/* ---- the experiment ----------------------------------------------------------------- */

enum { HF, SGD, ADAM, N_METHODS };
static const char *const METHOD[N_METHODS] = {"hf", "sgd", "adam"};

typedef struct result {
    int success;
    double mse[64], cpu[64];
    double *curves;  /* [seeds][points + 1] */
} result;

/* one (method, T, seed) run from the seed's initialisation; 0 or -1 */
static int one_run(const opts *o, int method, int64_t T, int seed, const batch *test,
                   double *curve, double *mse, double *cpu)
{
    model m;
    rg_tape *tp = rg_tape_new();
    if (!tp || model_init(&m, o->hidden, 1000 + (uint64_t)seed) != 0) {
        rg_tape_free(tp);
        return -1;
    }
    run r = {.o = o, .m = &m, .test = test, .tp = tp, .curve = curve, .cpu0 = cpu_now()};
    uint64_t data_seed = 77 * (uint64_t)seed + (uint64_t)T; /* SGD and Adam see the same data */
    int rc = method == HF    ? train_hf(&r, T, data_seed, o->verbose)
             : method == SGD ? train_first_order(&r, RG_SGD, T, data_seed)
                             : train_first_order(&r, RG_ADAM, T, data_seed);
    if (rc == 0)
        record(&r, true);
    *mse = r.final_mse;
    *cpu = cpu_now() - r.cpu0;
    model_free(&m);
    rg_tape_free(tp);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(const double *v, int n)
{
    double *c = malloc((size_t)n * sizeof *c);
    if (!c)
        return NAN;
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    double m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
}

/* the runs of one T, shared by the worker threads */
typedef struct pool {
    const opts *o;
    int64_t T;
    const bool *use;
    result *res;
    const batch *test;
    atomic_int next, failed;
} pool;

/* a worker: takes (method, seed) runs until none is left */
static void worker(int id, void *user)
{
    (void)id;
    pool *pl = user;
    const opts *o = pl->o;
    for (int task; !atomic_load(&pl->failed) &&
                   (task = atomic_fetch_add(&pl->next, 1)) < N_METHODS * o->seeds;) {
        int k = task / (int)o->seeds, sd = task % (int)o->seeds;
        if (!pl->use[k])
            continue;
        result *r = &pl->res[k];
        double *curve = r->curves + sd * (o->points + 1);
        if (one_run(o, k, pl->T, sd + 1, pl->test, curve, &r->mse[sd], &r->cpu[sd]) != 0) {
            fprintf(stderr, "hessian_free: %s T=%lld seed %d: %s\n", METHOD[k],
                    (long long)pl->T, sd + 1, rg_last_error());
            atomic_store(&pl->failed, 1);
            continue;
        }
        printf("T=%-4lld %-5s seed %d  test MSE %.5f  %s  (%.1f CPU s)\n", (long long)pl->T,
               METHOD[k], sd + 1, r->mse[sd], r->mse[sd] < o->threshold ? "solved" : "-",
               r->cpu[sd]);
        fflush(stdout);
    }
}

/* all seeds of every method at one T, --jobs at a time; a line per run */
static int experiment_T(const opts *o, int64_t T, const bool *use, result *res)
{
    batch test = {0};
    rg_rng tr;
    rg_rng_seed(&tr, 4242 + (uint64_t)T);
    if (draw(&test, T, o->test_n, &tr) != 0)
        return -1;
    pool pl = {.o = o, .T = T, .use = use, .res = res, .test = &test};
    atomic_init(&pl.next, 0);
    atomic_init(&pl.failed, 0);
    int rc = rg_parallel_run((int)o->jobs, worker, &pl);
    if (rc == 0 && atomic_load(&pl.failed))
        rc = -1;
    for (int k = 0; rc == 0 && k < N_METHODS; k++)
        for (int sd = 0; sd < o->seeds; sd++)
            res[k].success += use[k] && res[k].mse[sd] < o->threshold;
    batch_free(&test);
    return rc;
}

/* "50,100" -> Ts[]; the count, or -1 */
static int parse_lengths(const char *s, int64_t *Ts, int max)
{
    int n = 0;
    while (*s && n < max) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 4 || v > 100000 || (*end && *end != ','))
            return -1;
        Ts[n++] = v;
        s = *end ? end + 1 : end;
    }
    return *s ? -1 : n;
}

/* the median curve of every method and T, log10 of the test MSE */
static int write_svg(const opts *o, const int64_t *Ts, int nT, const bool *use, result (*res)[3])
{
    static const char *const colors[2][N_METHODS] = {{"#d62728", "#1f77b4", "#2ca02c"},
                                                     {"#ff9896", "#aec7e8", "#98df8a"}};
    int np = (int)o->points + 1, ns = 0;
    rg_plot_series s[2 * N_METHODS];
    char labels[2 * N_METHODS][32];
    double *x = malloc((size_t)np * sizeof *x), *y = malloc((size_t)(2 * N_METHODS * np) * sizeof *y);
    double *col = malloc((size_t)o->seeds * sizeof *col);
    int rc = x && y && col ? 0 : -1;
    for (int j = 0; rc == 0 && j < np; j++)
        x[j] = j * o->budget / o->points;
    for (int t = 0; rc == 0 && t < nT && t < 2; t++)
        for (int k = 0; k < N_METHODS; k++) {
            if (!use[k])
                continue;
            double *yy = y + ns * np;
            for (int j = 0; j < np; j++) {
                for (int sd = 0; sd < o->seeds; sd++)
                    col[sd] = res[t][k].curves[sd * np + j];
                yy[j] = log10(median_of(col, (int)o->seeds));
            }
            snprintf(labels[ns], sizeof labels[ns], "%s T=%lld", METHOD[k], (long long)Ts[t]);
            s[ns] = (rg_plot_series){labels[ns], colors[t][k], x, yy, np};
            ns++;
        }
    char title[160], xlabel[96];
    snprintf(title, sizeof title, "addition problem, tanh RNN H=%lld: median of %lld seeds",
             (long long)o->hidden, (long long)o->seeds);
    snprintf(xlabel, sizeof xlabel, "gradient evaluations (of %lld sequences)",
             (long long)o->batch);
    if (rc == 0)
        rc = rg_plot_svg(o->svg, title, xlabel, "log10 test MSE", s, ns);
    free(x);
    free(y);
    free(col);
    return rc;
}

static void print_table(const opts *o, const int64_t *Ts, int nT, const bool *use,
                        result (*res)[3])
{
    printf("\n| T | method | solved (test MSE < %g) | median test MSE | best | mean CPU s |\n"
           "| --- | --- | --- | --- | --- | --- |\n", o->threshold);
    for (int t = 0; t < nT; t++)
        for (int k = 0; k < N_METHODS; k++) {
            if (!use[k])
                continue;
            double best = INFINITY, cpu = 0;
            for (int sd = 0; sd < o->seeds; sd++) {
                best = fmin(best, res[t][k].mse[sd]);
                cpu += res[t][k].cpu[sd] / (double)o->seeds;
            }
            printf("| %lld | %s | %d/%lld | %.4f | %.4f | %.1f |\n", (long long)Ts[t], METHOD[k],
                   res[t][k].success, (long long)o->seeds,
                   median_of(res[t][k].mse, (int)o->seeds), best, cpu);
        }
}

static int parse(opts *o, int argc, char **argv, int *status)
{
    rg_flag fl[] = {
        {"--T", RG_FLAG_STRING, &o->lengths, 0, 0, NULL, "sequence lengths, comma separated (default 50,100)", 0, 0, 0},
        {"--seeds", RG_FLAG_INT, &o->seeds, 1, 64, NULL, "initialisations per T (default 5)", 0, 0, 0},
        {"--methods", RG_FLAG_STRING, &o->methods, 0, 0, NULL, "any of hf,sgd,adam (default all three)", 0, 0, 0},
        {"--hidden", RG_FLAG_INT, &o->hidden, 1, 4096, NULL, "hidden units (default 32)", 0, 0, 0},
        {"--budget", RG_FLAG_DOUBLE, &o->budget, 1, 1e9, NULL, "gradient evaluations per run (default 1000)", 0, 0, 0},
        {"--batch", RG_FLAG_INT, &o->batch, 1, 1 << 20, NULL, "SGD/Adam batch, the unit of cost (default 32)", 0, 0, 0},
        {"--hf-batch", RG_FLAG_INT, &o->hf_batch, 1, 1 << 20, NULL, "HF gradient batch (default 320)", 0, 0, 0},
        {"--hf-curv", RG_FLAG_INT, &o->hf_curv, 1, 1 << 20, NULL, "HF curvature batch, a part of it (default 64)", 0, 0, 0},
        {"--cg-iters", RG_FLAG_INT, &o->cg_iters, 1, 10000, NULL, "most CG steps per HF iteration (default 25)", 0, 0, 0},
        {"--lambda", RG_FLAG_DOUBLE, &o->lambda0, 0, 1e9, NULL, "initial damping λ (default 1)", 0, 0, 0},
        {"--mu", RG_FLAG_DOUBLE, &o->mu, 0, 1e9, NULL, "structural damping μ (default 1/30; 0: off)", 0, 0, 0},
        {"--lr-sgd", RG_FLAG_DOUBLE, &o->lr_sgd, 0, 100, NULL, "SGD learning rate (default 0.01, momentum 0.9)", 0, 0, 0},
        {"--lr-adam", RG_FLAG_DOUBLE, &o->lr_adam, 0, 100, NULL, "Adam learning rate (default 1e-3)", 0, 0, 0},
        {"--clip", RG_FLAG_DOUBLE, &o->clip, 0, 1e9, NULL, "SGD/Adam gradient norm clip (default 1)", 0, 0, 0},
        {"--threshold", RG_FLAG_DOUBLE, &o->threshold, 0, 1, NULL, "success: test MSE below this (default 0.01)", 0, 0, 0},
        {"--test", RG_FLAG_INT, &o->test_n, 1, 1 << 20, NULL, "test sequences (default 1000)", 0, 0, 0},
        {"--points", RG_FLAG_INT, &o->points, 2, 10000, NULL, "points of each curve (default 40)", 0, 0, 0},
        {"--svg", RG_FLAG_STRING, &o->svg, 0, 0, NULL, "the loss curves (default hessian_free.svg)", 0, 0, 0},
        {"--jobs", RG_FLAG_INT, &o->jobs, 1, 64, NULL, "runs at once, one thread each (default 2)", 0, 0, 0},
        {"--verbose", RG_FLAG_BOOL, &o->verbose, 0, 0, NULL, "a line per HF iteration", 0, 0, 0},
    };
    int n = (int)(sizeof fl / sizeof fl[0]);
    return rg_flags_cli("hessian_free", "usage: hessian_free [flags]", fl, n, argc, argv, 1,
                        status) ? 0 : -1;
}

int main(int argc, char **argv)
{
    opts o = {.lengths = "50,100", .svg = "hessian_free.svg", .methods = "hf,sgd,adam",
              .seeds = 5, .hidden = 32, .batch = 32, .hf_batch = 320, .hf_curv = 64,
              .cg_iters = 25, .test_n = 1000, .points = 40, .jobs = 2, .budget = 1000, .threshold = 0.01,
              .lr_sgd = 0.01, .lr_adam = 1e-3, .momentum = 0.9, .clip = 1.0, .lambda0 = 1.0,
              .mu = 1.0 / 30};
    int status = 0;
    if (parse(&o, argc, argv, &status) != 0)
        return status;
    int64_t Ts[8];
    int nT = parse_lengths(o.lengths, Ts, 8);
    bool use[N_METHODS];
    for (int k = 0; k < N_METHODS; k++)
        use[k] = strstr(o.methods, METHOD[k]) != NULL;
    if (nT < 1 || o.hf_curv > o.hf_batch) {
        fprintf(stderr, "hessian_free: %s\n", nT < 1 ? "--T: lengths >= 4, comma separated"
                                                     : "--hf-curv is larger than --hf-batch");
        return 2;
    }
    rg_set_threads(1);
    printf("addition problem: tanh RNN H=%lld, %lld seeds, budget %g gradient evaluations of "
           "%lld sequences; HF: gradient batch %lld, curvature batch %lld, <= %lld CG steps, "
           "λ0 %g, structural damping μ %g\n", (long long)o.hidden, (long long)o.seeds, o.budget,
           (long long)o.batch, (long long)o.hf_batch, (long long)o.hf_curv,
           (long long)o.cg_iters, o.lambda0, o.mu);
    result (*res)[3] = calloc((size_t)nT, sizeof *res);
    double *curves = calloc((size_t)(nT * N_METHODS * o.seeds * (o.points + 1)), sizeof *curves);
    int rc = res && curves ? 0 : -1;
    for (int t = 0; rc == 0 && t < nT; t++) {
        for (int k = 0; k < N_METHODS; k++)
            res[t][k].curves = curves + (t * N_METHODS + k) * o.seeds * (o.points + 1);
        rc = experiment_T(&o, Ts[t], use, res[t]);
    }
    if (rc == 0) {
        print_table(&o, Ts, nT, use, res);
        rc = write_svg(&o, Ts, nT, use, res);
        if (rc == 0)
            printf("loss curves: %s\n", o.svg);
    }
    if (rc != 0)
        fprintf(stderr, "hessian_free: %s\n", rg_last_error());
    free(res);
    free(curves);
    return rc == 0 ? 0 : 1;
}
