/* The language models' training task for the training core: batches, loss,
 * validation, the checkpoint container and the task's part of the resume
 * state.  charlm's tokens are bytes, wordlm's words; both train the same way.
 *
 * A training window is unroll+1 consecutive tokens of the training text; a
 * step's loss is the mean cross-entropy over its batch x unroll predictions.
 * Without --carry-state each window starts at a uniformly drawn offset from the
 * zero state; with it, the training text is cut into `batch` streams read in
 * order, and the (detached) state runs on from window to window until a
 * stream wraps around. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm.h"

int lm_task_init(lm_task *t, lm_model *m, const int32_t *ids, int64_t n_train, int64_t n_val,
                 int64_t T, int64_t B, bool carry, const char *format)
{
    memset(t, 0, sizeof *t);
    *t = (lm_task){.m = m, .ids = ids, .n_train = n_train, .n_val = n_val, .T = T, .B = B,
                   .carry = carry, .format = format};
    t->in = malloc((size_t)(T * B) * sizeof *t->in);
    t->tg = malloc((size_t)(T * B) * sizeof *t->tg);
    t->own = calloc((size_t)B, sizeof *t->own);
    if (!t->in || !t->tg || !t->own) {
        rg_set_error("out of memory for a batch of %lld x %lld", (long long)B, (long long)T);
        return -1;
    }
    for (int j = 0; carry && j < lm_state_count(m); j++)
        if (!(t->state[j] = rg_zeros(NULL, m->dtype, RG_DIMS(m->L, B, m->H))))
            return -1;
    return 0;
}

void lm_task_free(lm_task *t)
{
    for (int j = 0; j < RG_CELL_MAX_STATE; j++)
        rg_tensor_free(t->state[j]);
    free(t->in);
    free(t->tg);
    free(t->own);
    memset(t, 0, sizeof *t);
}

/* ids [T,B] and targets [T*B] of the next step */
static int next_batch(void *user, rg_rng *rng)
{
    lm_task *t = user;
    int64_t T = t->T, B = t->B, S = t->n_train / B;
    if (t->carry && t->carry_pos + T + 1 > S)
        t->carry_pos = 0;
    if (t->carry && t->carry_pos == 0)
        for (int j = 0; j < lm_state_count(t->m); j++)
            memset(t->state[j]->data, 0,
                   (size_t)t->state[j]->numel * rg_dtype_size(t->state[j]->dtype));
    for (int64_t b = 0; b < B; b++) {
        int64_t start = t->carry ? b * S + t->carry_pos : rg_rng_below(rng, t->n_train - T);
        for (int64_t k = 0; k < T; k++) {
            t->in[k * B + b] = t->ids[start + k];
            t->tg[k * B + b] = t->ids[start + k + 1];
        }
    }
    if (t->carry)
        t->carry_pos += T;
    return 0;
}

/* rows [b0,b1): summed cross-entropy over B*T, so the shards add up to the mean */
static rg_tensor *shard_loss(rg_tape *tp, void *user, int shard, int64_t b0, int64_t b1,
                             rg_rng *dropout)
{
    lm_task *t = user;
    int64_t T = t->T, B = t->B, Bk = b1 - b0;
    rg_tensor *ids = rg_tensor_new(tp, RG_I32, RG_DIMS(T, Bk));
    rg_tensor *tgt = rg_tensor_new(tp, RG_I32, RG_DIMS(T * Bk));
    if (!ids || !tgt)
        return NULL;
    int32_t *x = ids->data, *y = tgt->data;
    for (int64_t k = 0; k < T; k++)
        for (int64_t b = 0; b < Bk; b++) {
            x[k * Bk + b] = t->in[k * B + b0 + b];
            y[k * Bk + b] = t->tg[k * B + b0 + b];
        }
    rg_tensor *init[RG_CELL_MAX_STATE] = {0};
    for (int s = 0; t->carry && s < lm_state_count(t->m); s++)
        init[s] = Bk == B ? t->state[s] : rg_slice(tp, t->state[s], 1, b0, Bk);
    rg_tensor *logits = lm_forward(tp, t->m, ids, t->carry ? init : NULL,
                                       t->carry ? t->final[shard] : NULL, dropout);
    rg_tensor *ce = rg_cross_entropy(tp, logits, tgt, RG_SUM);
    return rg_mul_scalar(tp, ce, 1.0 / (double)(B * T));
}

/* the shard's final states [L,Bk,H] into its rows of the carried [L,B,H] */
static void shard_done(void *user, int shard, int64_t b0, int64_t b1)
{
    lm_task *t = user;
    if (!t->carry)
        return;
    int64_t B = t->B, Bk = b1 - b0;
    size_t row = (size_t)t->m->H * rg_dtype_size(t->m->dtype);
    for (int64_t b = b0; b < b1; b++)
        t->own[b] = true;
    for (int s = 0; s < lm_state_count(t->m); s++) {
        const rg_tensor *f = t->final[shard][s];
        for (int64_t l = 0; l < f->shape[0]; l++)
            memcpy((char *)t->state[s]->data + (size_t)(l * B + b0) * row,
                   (const char *)f->data + (size_t)(l * Bk) * row, (size_t)Bk * row);
    }
}

/* before a save on several ranks: each rank's rows of the carried state to
 * every rank.  A row some rank's shards carry is kept by that rank alone and
 * zeroed by the others; a row none has carried yet (a save right after a
 * resume) is the same on every rank and kept by rank 0; so the sum is exact. */
static void gather_state(void *user)
{
    lm_task *t = user;
    if (!t->carry)
        return;
    double *owners = calloc((size_t)t->B, sizeof *owners);
    if (!owners) { /* the others are in the collective: end the job */
        fprintf(stderr, "rank %d: out of memory for the carried state\n", rg_dist_rank());
        rg_dist_abort(1);
        return;
    }
    for (int64_t b = 0; b < t->B; b++)
        owners[b] = t->own[b];
    for (int64_t at = 0; at < t->B; at += 1 << 20)
        rg_dist_sum(owners + at, (int)(t->B - at < (1 << 20) ? t->B - at : 1 << 20));
    size_t row = (size_t)t->m->H * rg_dtype_size(t->m->dtype);
    for (int s = 0; s < lm_state_count(t->m); s++) {
        for (int64_t l = 0; l < t->m->L; l++)
            for (int64_t b = 0; b < t->B; b++)
                if (owners[b] > 0 ? !t->own[b] : rg_dist_rank() != 0)
                    memset((char *)t->state[s]->data + (size_t)(l * t->B + b) * row, 0, row);
        rg_dist_sum_tensor(t->state[s]);
    }
    free(owners);
}

/* Validation: the held-out text in pieces of LM_VAL_PIECE predictions, each
 * read in order from the zero state (pieces can go to several ranks; one
 * piece when the text is shorter, the same as `eval` of it) */
static int64_t val_pieces(void *user)
{
    const lm_task *t = user;
    return t->n_val < 2 ? 0 : (t->n_val - 1 + LM_VAL_PIECE - 1) / LM_VAL_PIECE;
}

static int validate_piece(void *user, int64_t k, double *sum, double *count,
                          double *stats)
{
    (void)stats;
    lm_task *t = user;
    int64_t at = k * LM_VAL_PIECE, n = t->n_val - 1 - at < LM_VAL_PIECE ? t->n_val - 1 - at
                                                                     : LM_VAL_PIECE;
    *count = (double)n;
    return lm_eval_ids(t->m, t->ids + t->n_train + at, n + 1, sum, NULL, NULL);
}

static double bits(double nats)
{
    return nats / log(2.0);
}

static double perplexity(double nats)
{
    return exp(nats);
}

static rg_safetensors *model_file(void *user)
{
    lm_task *t = user;
    return lm_model_container(t->m, t->format);
}

static int save_state(void *user, rg_safetensors *st)
{
    lm_task *t = user;
    char buf[64];
    int rc = 0;
    for (int j = 0; t->carry && j < lm_state_count(t->m) && rc == 0; j++) {
        snprintf(buf, sizeof buf, "carry.state%d", j);
        rc = rg_safetensors_add(st, buf, t->state[j]);
    }
    snprintf(buf, sizeof buf, "%lld", (long long)t->carry_pos);
    rc = rc ? rc : rg_safetensors_set_meta(st, "carry_pos", buf);
    snprintf(buf, sizeof buf, "%lld", (long long)t->text_bytes);
    rc = rc ? rc : rg_safetensors_set_meta(st, "text_bytes", buf);
    snprintf(buf, sizeof buf, "%016" PRIx64, t->text_hash);
    return rc ? rc : rg_safetensors_set_meta(st, "text_fnv1a", buf);
}

static int load_state(void *user, const rg_safetensors *st, const char *file)
{
    lm_task *t = user;
    int64_t bytes = 0;
    const char *hash = rg_safetensors_get_meta(st, "text_fnv1a");
    if (rg_meta_int(st, "text_bytes", 1, 1e15, file, &bytes) != 0)
        return -1;
    char want[32];
    snprintf(want, sizeof want, "%016" PRIx64, t->text_hash);
    if (bytes != t->text_bytes || !hash || strcmp(hash, want)) {
        rg_set_error("the text is not the text of the run being resumed (%lld bytes, the run "
                     "read %lld bytes with another checksum)", (long long)t->text_bytes,
                     (long long)bytes);
        return -1;
    }
    /* a stream position is inside a stream of the training text */
    if (rg_meta_int(st, "carry_pos", 0, (double)(t->n_train / t->B), file, &t->carry_pos) != 0)
        return -1;
    for (int j = 0; t->carry && j < lm_state_count(t->m); j++) {
        char name[32];
        snprintf(name, sizeof name, "carry.state%d", j);
        const rg_tensor *s = rg_safetensors_get(st, name);
        if (!s || s->rank != 3 || s->numel != t->state[j]->numel ||
            s->shape[1] != t->state[j]->shape[1]) {
            rg_set_error("%s: tensor '%s' is missing or is not [%lld,%lld,%lld]", file, name,
                         (long long)t->m->L, (long long)t->B, (long long)t->m->H);
            return -1;
        }
        rg_tensor_copy(t->state[j], s);
    }
    return 0;
}

rg_fit_task lm_fit_task(lm_task *t, bool words)
{
    return (rg_fit_task){.P = t->m->P, .user = t, .batch = t->B,
                         .units_per_step = (double)(t->B * t->T),
                         .unit = words ? "tokens" : "chars",
                         .metric = words ? "val_ppl" : "val_bpc",
                         .metric_of = words ? perplexity : bits,
                         .next_batch = next_batch, .shard_loss = shard_loss,
                         .gather_state = gather_state,
                         .shard_done = shard_done, .val_pieces = val_pieces,
                         .validate_piece = validate_piece,
                         .model_file = model_file, .save_state = save_state,
                         .load_state = load_state};
}
