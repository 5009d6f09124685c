/* One training step, written once for every program: the batch split into
 * shards over threads (one tape each; shard 0 writes the parameters' own
 * gradients, the others private ones added in after the join), clipping by the
 * global norm, and the optimizer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rg_train.h"

enum { MAX_SHARDS = 16 };

struct rg_trainer {
    rg_fit_task task;
    rg_trainer_config cfg;
    rg_optim *opt;
    int shards;
    rg_tape *tp[MAX_SHARDS];
    rg_rng batch_rng, drop_rng;
    uint64_t drop_seed[MAX_SHARDS];
    double loss[MAX_SHARDS];
    const char *err[MAX_SHARDS];
};

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
    /* one batch shard per thread, each with single-threaded BLAS; a batch of
     * one row leaves the threads to BLAS instead */
    int threads = c->threads < 1 ? 1 : c->threads;
    int64_t s = threads < task->batch ? threads : task->batch;
    int most = c->max_shards > 0 && c->max_shards < MAX_SHARDS ? c->max_shards : MAX_SHARDS;
    t->shards = (int)(s > most ? most : s);
    rg_set_threads(c->blas_threads > 0 ? c->blas_threads : t->shards > 1 ? 1 : threads);
    rg_rng_seed(&t->batch_rng, c->seed ^ 0x6261746368ull);
    rg_rng_seed(&t->drop_rng, c->seed ^ 0x64726f70ull);
    t->opt = rg_optim_new(task->P, &c->optim);
    bool ok = t->opt != NULL;
    for (int k = 0; k < t->shards && ok; k++) {
        t->tp[k] = rg_tape_new();
        ok = t->tp[k] && (k == 0 || rg_tape_set_private_grads(t->tp[k], true) == 0);
        if (!ok && !t->tp[k])
            rg_set_error("rg_trainer_new: out of memory for a tape");
    }
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
    for (int k = 0; k < t->shards; k++)
        rg_tape_free(t->tp[k]);
    rg_optim_free(t->opt);
    free(t);
}

int rg_trainer_shards(const rg_trainer *t)
{
    return t->shards;
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
    return shard >= 0 && shard < t->shards ? t->tp[shard] : NULL;
}

static void rows_of(const rg_trainer *t, int k, int64_t *b0, int64_t *b1)
{
    *b0 = t->task.batch * k / t->shards;
    *b1 = t->task.batch * (k + 1) / t->shards;
}

/* shard k's forward and backward on its own tape */
static void run_shard(int k, void *user)
{
    rg_trainer *t = user;
    rg_tape *tp = t->tp[k];
    rg_tape_reset(tp);
    rg_tape_set_training(tp, true);
    t->err[k] = NULL;
    int64_t b0, b1;
    rows_of(t, k, &b0, &b1);
    rg_rng own, *drop = &t->drop_rng;
    if (t->shards > 1) {
        rg_rng_seed(&own, t->drop_seed[k]);
        drop = &own;
    }
    rg_tensor *loss = t->task.shard_loss(tp, t->task.user, k, b0, b1, drop);
    if (!loss) {
        t->err[k] = rg_tape_error(tp) ? rg_tape_error(tp) : "the shard's loss failed";
        return;
    }
    t->loss[k] = rg_get(loss, 0);
    if (isfinite(t->loss[k]) && rg_backward(tp, loss) != 0)
        t->err[k] = rg_tape_error(tp);
}

/* forward and backward of every shard; the summed loss */
static int forward_backward(rg_trainer *t, double *loss)
{
    for (int k = 0; t->shards > 1 && k < t->shards; k++)
        t->drop_seed[k] = rg_rng_next(&t->drop_rng);
    if (rg_parallel_run(t->shards, run_shard, t) != 0)
        return -1;
    double sum = 0;
    for (int k = 0; k < t->shards; k++) {
        if (t->err[k]) {
            rg_set_error("%s", t->err[k]);
            return -1;
        }
        sum += t->loss[k];
    }
    *loss = sum;
    if (!isfinite(sum)) {
        rg_set_error("the loss is %s", isnan(sum) ? "NaN" : "infinite");
        return -1;
    }
    for (int k = 1; k < t->shards; k++) /* shard 0 wrote the gradients directly */
        if (rg_tape_reduce_grads(t->tp[k]) != 0) {
            rg_set_error("%s", rg_tape_error(t->tp[k]));
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
    for (int k = 0; t->task.shard_done && k < t->shards; k++) {
        int64_t b0, b1;
        rows_of(t, k, &b0, &b1);
        t->task.shard_done(t->task.user, k, b0, b1);
    }
    if (loss)
        *loss = lv;
    if (grad_norm)
        *grad_norm = norm;
    return 0;
}
