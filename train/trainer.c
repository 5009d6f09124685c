/* One training step, written once for every program: the global batch split
 * over ranks and threads (one tape each, private gradients), the gradients
 * summed, clipping by the global norm, and the optimizer.
 *
 * Default mode: rank r takes rows [B*r/N, B*(r+1)/N) and splits them into one
 * shard per thread; tape 0 writes the parameters' own gradients, the others
 * private ones added in after the join; then the ranks sum their gradients.
 * Deterministic mode: M micro-shards of fixed rows; each one's gradient (and
 * loss) goes into its own flat vector; they are summed in one fixed tree over
 * k, each rank adding up the nodes inside its units and the ranks exchanging
 * only those — the same bits for any split. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rg_train.h"

enum { MAX_SHARDS = 16, MAX_MICRO = 64 };

struct rg_trainer {
    rg_fit_task task;
    rg_trainer_config cfg;
    rg_optim *opt;
    int ranks, rank;
    int workers;                    /* threads, one tape each */
    rg_tape *tp[MAX_SHARDS];
    int n_units;                    /* this rank's shards (default) or micro-shards (det) */
    int first_unit;                 /* index of its first unit among all ranks' */
    int total_units;                /* all ranks' */
    int64_t b0[MAX_MICRO], b1[MAX_MICRO]; /* rows of this rank's units */
    uint64_t seed[MAX_MICRO];       /* dropout seeds of all units */
    bool seeded;                    /* units draw their own dropout seeds */
    double loss[MAX_MICRO];         /* of this rank's units */
    const char *err[MAX_SHARDS];    /* per worker */
    bool det;
    int64_t n_values;               /* of all parameters (det: + 1 for the loss) */
    double *flat;                   /* det: total_units vectors of n_values */
    rg_rng batch_rng, drop_rng;
    double comm_seconds;            /* spent in the ranks' exchanges */
    rg_dist_exchange *x;            /* default mode on several ranks */
};

/* default mode: this rank's rows, one shard per thread */
static void plan_default(rg_trainer *t, int threads)
{
    int64_t B = t->task.batch, r0 = B * t->rank / t->ranks, r1 = B * (t->rank + 1) / t->ranks;
    int most = t->cfg.max_shards > 0 && t->cfg.max_shards < MAX_SHARDS ? t->cfg.max_shards
                                                                         : MAX_SHARDS;
    t->total_units = t->first_unit = 0;
    for (int q = 0; q < t->ranks; q++) {
        int64_t rows = B * (q + 1) / t->ranks - B * q / t->ranks;
        int64_t s = threads < rows ? threads : rows;
        int units = (int)(s > most ? most : s);
        if (q < t->rank)
            t->first_unit += units;
        if (q == t->rank)
            t->n_units = units;
        t->total_units += units;
    }
    for (int k = 0; k < t->n_units; k++) {
        t->b0[k] = r0 + (r1 - r0) * k / t->n_units;
        t->b1[k] = r0 + (r1 - r0) * (k + 1) / t->n_units;
    }
    t->workers = t->n_units;
    t->seeded = t->total_units > 1;
}

/* deterministic mode: micro-shards [M*r/N, M*(r+1)/N) of the fixed M */
static int plan_det(rg_trainer *t, int threads)
{
    int M = t->cfg.micro_shards;
    if (M > MAX_MICRO || M > t->task.batch || M < t->ranks) {
        rg_set_error("rg_trainer_new: %d micro-shards for a batch of %lld rows on %d ranks "
                     "(at most %d, at most the batch, at least the ranks)", M,
                     (long long)t->task.batch, t->ranks, MAX_MICRO);
        return -1;
    }
    t->total_units = M;
    t->first_unit = M * t->rank / t->ranks;
    t->n_units = M * (t->rank + 1) / t->ranks - t->first_unit;
    for (int k = 0; k < t->n_units; k++) {
        int g = t->first_unit + k;
        t->b0[k] = t->task.batch * g / M;
        t->b1[k] = t->task.batch * (g + 1) / M;
    }
    t->workers = threads < t->n_units ? threads : t->n_units;
    if (t->workers > MAX_SHARDS)
        t->workers = MAX_SHARDS;
    t->seeded = true;
    t->n_values = 1;
    for (int i = 0; i < rg_params_count(t->task.P); i++)
        t->n_values += rg_params_at(t->task.P, i, NULL)->numel;
    t->flat = malloc((size_t)(M * t->n_values) * sizeof *t->flat);
    if (!t->flat) {
        rg_set_error("rg_trainer_new: out of memory for %d gradient vectors", M);
        return -1;
    }
    return 0;
}

static void grad_ready(void *user, int i)
{
    rg_dist_exchange_ready(((rg_trainer *)user)->x, i);
}

/* several ranks: the gradients summed in buckets; with one shard per rank its
 * tape's gradients are the rank's, so the buckets go out during the sweep */
static int plan_exchange(rg_trainer *t)
{
    int n = rg_params_count(t->task.P);
    if (!(t->x = rg_dist_exchange_new(t->task.P, 0)))
        return -1;
    if (t->workers > 1 || n == 0)
        return 0;
    rg_tensor **all = malloc((size_t)n * sizeof *all);
    if (!all) {
        rg_set_error("rg_trainer_new: out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++)
        all[i] = rg_params_at(t->task.P, i, NULL);
    int rc = rg_tape_watch_grads(t->tp[0], all, n, grad_ready, t);
    free(all);
    if (rc != 0)
        rg_set_error("rg_trainer_new: %s", rg_tape_error(t->tp[0]));
    return rc;
}

rg_trainer *rg_trainer_new(const rg_fit_task *task, const rg_trainer_config *c)
{
    if (!task || !c || !task->P || !task->shard_loss || !task->next_batch || task->batch < 1) {
        rg_set_error("rg_trainer_new: the task needs parameters, a batch of at least one row, "
                     "next_batch and shard_loss");
        return NULL;
    }
    rg_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        rg_set_error("rg_trainer_new: out of memory");
        return NULL;
    }
    t->task = *task;
    t->cfg = *c;
    t->ranks = rg_dist_size();
    t->rank = rg_dist_rank();
    t->det = c->micro_shards > 0;
    int threads = c->threads < 1 ? 1 : c->threads;
    bool ok = true;
    if (t->task.batch < t->ranks) {
        rg_set_error("rg_trainer_new: a batch of %lld rows cannot be split over %d ranks",
                     (long long)t->task.batch, t->ranks);
        ok = false;
    } else if (t->det) {
        ok = plan_det(t, threads) == 0;
    } else {
        plan_default(t, threads);
    }
    if (ok)
        rg_set_threads(c->blas_threads > 0 ? c->blas_threads : t->workers > 1 ? 1 : threads);
    rg_rng_seed(&t->batch_rng, c->seed ^ 0x6261746368ull);
    rg_rng_seed(&t->drop_rng, c->seed ^ 0x64726f70ull);
    t->opt = ok ? rg_optim_new(task->P, &c->optim) : NULL;
    ok = ok && t->opt;
    for (int k = 0; k < t->workers && ok; k++) {
        t->tp[k] = rg_tape_new();
        ok = t->tp[k] && ((k == 0 && !t->det) || rg_tape_set_private_grads(t->tp[k], true) == 0);
        if (!t->tp[k])
            rg_set_error("rg_trainer_new: out of memory for a tape");
    }
    if (ok && !t->det && t->ranks > 1)
        ok = plan_exchange(t) == 0;
    if (!ok) {
        rg_trainer_free(t);
        return NULL;
    }
    return t;
}

void rg_trainer_free(rg_trainer *t)
{
    if (!t)
        return;
    for (int k = 0; k < t->workers; k++)
        rg_tape_free(t->tp[k]);
    rg_optim_free(t->opt);
    rg_dist_exchange_free(t->x);
    free(t->flat);
    free(t);
}

int rg_trainer_shards(const rg_trainer *t)
{
    return t->workers;
}
double rg_trainer_comm_seconds(const rg_trainer *t)
{
    return t->comm_seconds;
}
rg_optim *rg_trainer_optim(rg_trainer *t)
{
    return t->opt;
}
rg_rng *rg_trainer_batch_rng(rg_trainer *t)
{
    return &t->batch_rng;
}
rg_rng *rg_trainer_dropout_rng(rg_trainer *t)
{
    return &t->drop_rng;
}
rg_tape *rg_trainer_tape(rg_trainer *t, int shard)
{
    return shard >= 0 && shard < t->workers ? t->tp[shard] : NULL;
}

/* det mode: unit k's private gradients (registry order, zeros where none
 * reached) and its loss into its flat vector */
static void store_unit(rg_trainer *t, rg_tape *tp, int k)
{
    double *v = t->flat + (int64_t)(t->first_unit + k) * t->n_values;
    for (int i = 0; i < rg_params_count(t->task.P); i++) {
        rg_tensor *p = rg_params_at(t->task.P, i, NULL);
        const void *g = rg_tape_private_grad(tp, p);
        for (int64_t e = 0; e < p->numel; e++)
            v[e] = !g ? 0.0 : p->dtype == RG_F32 ? ((const float *)g)[e] : ((const double *)g)[e];
        v += p->numel;
    }
    *v = t->loss[k];
}

/* unit k's forward and backward on tape tp; false on error (message in err) */
static bool run_unit(rg_trainer *t, rg_tape *tp, int k, const char **err)
{
    rg_tape_reset(tp);
    rg_tape_set_training(tp, true);
    rg_rng own, *drop = &t->drop_rng;
    if (t->seeded) {
        rg_rng_seed(&own, t->seed[t->first_unit + k]);
        drop = &own;
    }
    rg_tensor *loss = t->task.shard_loss(tp, t->task.user, t->first_unit + k, t->b0[k],
                                         t->b1[k], drop);
    if (!loss) {
        *err = rg_tape_error(tp) ? rg_tape_error(tp) : "the shard's loss failed";
        return false;
    }
    t->loss[k] = rg_get(loss, 0);
    if (isfinite(t->loss[k]) && rg_backward(tp, loss) != 0) {
        *err = rg_tape_error(tp);
        return false;
    }
    if (t->task.shard_done)
        t->task.shard_done(t->task.user, t->first_unit + k, t->b0[k], t->b1[k]);
    if (t->det)
        store_unit(t, tp, k);
    return true;
}

/* worker j: units j, j + workers, ... */
static void run_worker(int j, void *user)
{
    rg_trainer *t = user;
    t->err[j] = NULL;
    for (int k = j; k < t->n_units && !t->err[j]; k += t->workers)
        run_unit(t, t->tp[j], k, &t->err[j]);
}

/* det mode, the fixed tree over the M unit vectors: node (k, w), k a multiple
 * of w (a power of two), sums the leaves [k, min(k + w, M)) as
 * node (k, w/2) + node (k + w/2, w/2), or is node (k, w/2) alone when k + w/2
 * reaches M.  A node's bits depend on the leaves alone, whoever adds them. */
static int tree_width(int M)
{
    int w = 1;
    while (w < M)
        w *= 2;
    return w;
}

/* node (k, w) into slot k, from leaves or known nodes already in their slots */
static void tree_eval(double *flat, int64_t n, int M, int k, int w, const bool *known_at,
                      const int *known_w)
{
    if (w == 1 || (known_at[k] && known_w[k] >= w))
        return; /* a leaf, or a node gathered (known_w[k] == w; bigger: never asked) */
    int h = w / 2;
    tree_eval(flat, n, M, k, h, known_at, known_w);
    if (k + h >= M)
        return;
    tree_eval(flat, n, M, k + h, h, known_at, known_w);
    double *a = flat + (int64_t)k * n, *b = flat + (int64_t)(k + h) * n;
    for (int64_t e = 0; e < n; e++)
        a[e] += b[e];
}

/* the largest nodes inside units [a, b): their k into ks, widths into ws */
static int tree_cover(int M, int a, int b, int *ks, int *ws)
{
    int m = 0, W = tree_width(M);
    for (int k = a; k < b;) {
        int w = 1;
        while (k % (2 * w) == 0 && 2 * w <= W && (k + 2 * w < M ? k + 2 * w : M) <= b)
            w *= 2;
        ks[m] = k;
        ws[m++] = w;
        k = k + w < M ? k + w : M;
    }
    return m;
}

/* det mode: each rank adds up the nodes of the tree inside its units, the ranks
 * gather those nodes (a few vectors each, not every unit's), and every rank
 * finishes the same tree: the parameters' gradients and the loss */
static int tree_sum(rg_trainer *t, double *loss)
{
    int M = t->total_units, R = t->ranks;
    int64_t n = t->n_values;
    int *ks = malloc((size_t)M * sizeof *ks), *ws = malloc((size_t)M * sizeof *ws);
    int *known_w = calloc((size_t)M, sizeof *known_w);
    bool *known_at = calloc((size_t)M, sizeof *known_at);
    int64_t *counts = malloc((size_t)R * sizeof *counts);
    int *first = malloc((size_t)(R + 1) * sizeof *first);
    double *send = NULL, *recv = NULL;
    int rc = -1, total = 0;
    if (!ks || !ws || !known_w || !known_at || !counts || !first)
        goto oom;
    for (int q = 0; q < R; q++) { /* every rank's nodes, in rank order */
        first[q] = total;
        total += tree_cover(M, M * q / R, M * (q + 1) / R, ks + total, ws + total);
        counts[q] = (int64_t)(total - first[q]) * n;
    }
    first[R] = total;
    for (int j = first[t->rank]; j < first[t->rank + 1]; j++) /* from this rank's leaves */
        tree_eval(t->flat, n, M, ks[j], ws[j], known_at, known_w);
    send = malloc((size_t)counts[t->rank] * sizeof *send);
    recv = malloc((size_t)total * (size_t)n * sizeof *recv);
    if (!send || !recv)
        goto oom;
    for (int j = first[t->rank]; j < first[t->rank + 1]; j++)
        memcpy(send + (int64_t)(j - first[t->rank]) * n, t->flat + (int64_t)ks[j] * n,
               (size_t)n * sizeof *send);
    if (rg_dist_gather_all(send, counts[t->rank], recv, counts) != 0)
        goto done;
    for (int j = 0; j < total; j++) {
        memcpy(t->flat + (int64_t)ks[j] * n, recv + (int64_t)j * n, (size_t)n * sizeof *recv);
        known_at[ks[j]] = true;
        known_w[ks[j]] = ws[j];
    }
    tree_eval(t->flat, n, M, 0, tree_width(M), known_at, known_w);
    const double *v = t->flat;
    for (int i = 0; i < rg_params_count(t->task.P); i++) {
        rg_tensor *p = rg_params_at(t->task.P, i, NULL);
        if (!(p->flags & RG_REQUIRES_GRAD)) {
            v += p->numel;
            continue;
        }
        if (!rg_grad(NULL, p))
            goto oom;
        for (int64_t e = 0; e < p->numel; e++) {
            if (p->dtype == RG_F32)
                ((float *)p->grad)[e] += (float)v[e];
            else
                ((double *)p->grad)[e] += v[e];
        }
        v += p->numel;
    }
    *loss = *v;
    rc = 0;
    goto done;
oom:
    rg_set_error("out of memory for the sum of the micro-shards' gradients");
done:
    free(ks);
    free(ws);
    free(known_w);
    free(known_at);
    free(counts);
    free(first);
    free(send);
    free(recv);
    return rc;
}

/* forward and backward of every unit, the gradients summed; the step's loss */
static int forward_backward(rg_trainer *t, double *loss)
{
    for (int k = 0; t->seeded && k < t->total_units; k++)
        t->seed[k] = rg_rng_next(&t->drop_rng);
    if (t->x)
        rg_dist_exchange_begin(t->x);
    if (rg_parallel_run(t->workers, run_worker, t) != 0)
        return -1;
    const char *err = NULL;
    double sum = 0;
    for (int j = 0; j < t->workers && !err; j++)
        err = t->err[j];
    for (int k = 0; k < t->n_units; k++)
        sum += t->loss[k];
    for (int j = 1; !err && !t->det && j < t->workers; j++) /* tape 0 wrote the gradients */
        if (rg_tape_reduce_grads(t->tp[j]) != 0)
            err = rg_tape_error(t->tp[j]);
    /* every rank: the rest of the gradients' buckets (failed or not: the
     * collectives must match), then whether any failed, and the loss */
    double c0 = rg_now();
    if (t->x)
        rg_dist_exchange_end(t->x, NULL);
    double agree[2] = {t->det ? 0 : sum, err ? 1 : 0};
    rg_dist_sum(agree, 2);
    t->comm_seconds += rg_now() - c0;
    if (err || agree[1] > 0) {
        rg_set_error("%s", err ? err : "another rank failed (its message is above)");
        return -1;
    }
    sum = agree[0];
    if (t->det) {
        c0 = rg_now();
        int rc = tree_sum(t, &sum);
        t->comm_seconds += rg_now() - c0;
        if (rc != 0)
            return -1;
    }
    *loss = sum;
    if (!isfinite(sum)) {
        rg_set_error("the loss is %s", isnan(sum) ? "NaN" : "infinite");
        return -1;
    }
    return 0;
}

int rg_trainer_step(rg_trainer *t, double lr, double *loss, double *grad_norm)
{
    double lv = NAN, norm = 0;
    if (loss)
        *loss = NAN;
    if (t->task.next_batch(t->task.user, &t->batch_rng) != 0)
        return -1;
    rg_optim_zero_grad(t->opt);
    if (forward_backward(t, &lv) != 0) {
        if (loss)
            *loss = lv;
        return -1;
    }
    if (t->cfg.clip > 0) {
        norm = rg_clip_grad_norm(t->task.P, t->cfg.clip);
        if (!isfinite(norm)) {
            if (loss)
                *loss = lv;
            rg_set_error("the gradient is not finite (its norm is %g)", norm);
            return -1;
        }
    }
    if (rg_optim_set_lr(t->opt, lr) != 0 || rg_optim_step(t->opt) != 0)
        return -1;
    if (loss)
        *loss = lv;
    if (grad_norm)
        *grad_norm = norm;
    return 0;
}
