/* charlm train: truncated-BPTT training of the CharLM on a byte text, with a
 * held-out tail for validation, checkpoints written atomically (at intervals,
 * at the end and on Ctrl-C), exact resumption, a CSV log and an SVG plot.
 *
 * Semantics: a training window is unroll+1 consecutive bytes of the training
 * text; a step's loss is the mean cross-entropy over its batch x unroll
 * predictions.  Without --carry-state each window starts at a uniformly drawn
 * offset from the zero state; with it, the training text is cut into `batch`
 * streams read in order, and the (detached) state runs on from window to
 * window until a stream wraps around. */
/* realpath */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "charlm.h"

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

typedef struct train_cfg {
    const char *text, *cell, *optimizer, *save, *init, *resume, *log, *plot, *schedule;
    int64_t layers, hidden, embed, unroll, batch, steps, epochs, seed, threads;
    int64_t save_every, eval_every, log_every, stop_after, warmup;
    double lr, clip, dropout, val_fraction, weight_decay;
    bool carry;
} train_cfg;

/* metadata pairs built with printf formats, for the two checkpoint files */
typedef struct meta_list {
    int n;
    char key[40][32];
    char val[40][160];
    const char *ptr[81];
} meta_list;

static void meta_add(meta_list *m, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void meta_add(meta_list *m, const char *key, const char *fmt, ...)
{
    if (m->n >= 40)
        return;
    va_list ap;
    va_start(ap, fmt);
    snprintf(m->key[m->n], sizeof m->key[0], "%s", key);
    vsnprintf(m->val[m->n], sizeof m->val[0], fmt, ap);
    va_end(ap);
    m->n++;
}

static const char *const *meta_ptrs(meta_list *m)
{
    for (int i = 0; i < m->n; i++) {
        m->ptr[2 * i] = m->key[i];
        m->ptr[2 * i + 1] = m->val[i];
    }
    m->ptr[2 * m->n] = NULL;
    return m->ptr;
}

/* "model.safetensors" -> "model.train.safetensors" */
static void train_state_path(const char *model_path, char *buf, size_t n)
{
    size_t len = strlen(model_path);
    const char *ext = ".safetensors";
    size_t el = strlen(ext);
    if (len > el && !strcmp(model_path + len - el, ext))
        snprintf(buf, n, "%.*s.train%s", (int)(len - el), model_path, ext);
    else
        snprintf(buf, n, "%s.train.safetensors", model_path);
}

static void rng_format(const rg_rng *r, char *buf, size_t n)
{
    snprintf(buf, n, "%016llx%016llx%016llx%016llx", (unsigned long long)r->s[0],
             (unsigned long long)r->s[1], (unsigned long long)r->s[2],
             (unsigned long long)r->s[3]);
}

static int rng_parse(rg_rng *r, const char *s)
{
    if (!s || strlen(s) != 64)
        return -1;
    for (int i = 0; i < 4; i++) {
        char part[17];
        memcpy(part, s + 16 * i, 16);
        part[16] = '\0';
        char *end;
        r->s[i] = strtoull(part, &end, 16);
        if (*end)
            return -1;
    }
    return 0;
}

/* Everything a run holds. */
typedef struct run {
    train_cfg c;
    charlm_model m;
    rg_optim *opt;
    rg_optim_kind kind;
    rg_lr_schedule sched;
    rg_rng batch_rng, drop_rng;
    uint8_t *text;
    int32_t *ids;
    int64_t n_text, n_train, n_val;
    uint64_t text_hash;
    int64_t step;          /* steps done */
    int64_t carry_pos;     /* --carry-state: offset inside each stream */
    rg_tensor *carry[RG_CELL_MAX_STATE];
    double last_loss, last_val_loss, train_seconds;
    FILE *log;
    /* history for the plot */
    double *hx, *hy, *vx, *vy;
    int64_t hn, hcap, vn, vcap;
} run;

static int push(double **x, double **y, int64_t *n, int64_t *cap, double a, double b)
{
    if (*n == *cap) {
        int64_t nc = *cap ? 2 * *cap : 256;
        double *nx = realloc(*x, (size_t)nc * sizeof *nx);
        if (nx)
            *x = nx;
        double *ny = nx ? realloc(*y, (size_t)nc * sizeof *ny) : NULL;
        if (ny)
            *y = ny;
        if (!nx || !ny)
            return -1;
        *cap = nc;
    }
    (*x)[*n] = a;
    (*y)[*n] = b;
    (*n)++;
    return 0;
}

static int save_run(run *r, const char *path)
{
    train_cfg *c = &r->c;
    char buf[80];
    meta_list mm = {0}, tm = {0};
    meta_add(&mm, "step", "%lld", (long long)r->step);
    meta_add(&mm, "optimizer", "%s", c->optimizer);
    meta_add(&mm, "lr", "%.17g", c->lr);
    meta_add(&mm, "unroll", "%lld", (long long)c->unroll);
    meta_add(&mm, "batch", "%lld", (long long)c->batch);
    meta_add(&mm, "seed", "%lld", (long long)c->seed);
    if (!isnan(r->last_val_loss))
        meta_add(&mm, "val_bpc", "%.6f", r->last_val_loss / log(2.0));

    /* the resume file: optimizer moments, step, RNG states, the run's settings */
    rg_safetensors *st = rg_safetensors_new();
    if (!st)
        return -1;
    int rc = 0;
    for (int i = 0; i < rg_optim_state_count(r->opt) && rc == 0; i++) {
        const char *name;
        rg_tensor *t = rg_optim_state_at(r->opt, i, &name);
        rc = rg_safetensors_add(st, name, t);
    }
    for (int j = 0; c->carry && j < charlm_state_count(&r->m) && rc == 0; j++) {
        snprintf(buf, sizeof buf, "carry.state%d", j);
        rc = rg_safetensors_add(st, buf, r->carry[j]);
    }
    meta_add(&tm, "step", "%lld", (long long)r->step);
    rng_format(&r->batch_rng, buf, sizeof buf);
    meta_add(&tm, "rng_batch", "%s", buf);
    rng_format(&r->drop_rng, buf, sizeof buf);
    meta_add(&tm, "rng_dropout", "%s", buf);
    meta_add(&tm, "optimizer", "%s", c->optimizer);
    meta_add(&tm, "lr", "%.17g", c->lr);
    meta_add(&tm, "weight_decay", "%.17g", c->weight_decay);
    meta_add(&tm, "clip", "%.17g", c->clip);
    meta_add(&tm, "dropout", "%.17g", c->dropout);
    meta_add(&tm, "val_fraction", "%.17g", c->val_fraction);
    meta_add(&tm, "schedule", "%s", c->schedule);
    meta_add(&tm, "warmup", "%lld", (long long)c->warmup);
    meta_add(&tm, "total_steps", "%lld", (long long)c->steps);
    meta_add(&tm, "unroll", "%lld", (long long)c->unroll);
    meta_add(&tm, "batch", "%lld", (long long)c->batch);
    meta_add(&tm, "seed", "%lld", (long long)c->seed);
    meta_add(&tm, "carry_state", "%d", c->carry ? 1 : 0);
    meta_add(&tm, "carry_pos", "%lld", (long long)r->carry_pos);
    meta_add(&tm, "text_bytes", "%lld", (long long)r->n_text);
    meta_add(&tm, "text_fnv1a", "%016llx", (unsigned long long)r->text_hash);
    char *abs_text = realpath(c->text, NULL);
    meta_add(&tm, "text", "%s", abs_text ? abs_text : c->text);
    free(abs_text);
    const char *const *kv = meta_ptrs(&tm);
    for (int i = 0; kv[i] && rc == 0; i += 2)
        rc = rg_safetensors_set_meta(st, kv[i], kv[i + 1]);
    char tpath[4096];
    train_state_path(path, tpath, sizeof tpath);
    rc = rc ? rc : rg_safetensors_write(st, tpath, RG_F32);
    rg_safetensors_free(st);
    /* the model last: a model file whose step matches the resume file's marks a
     * complete pair */
    return rc ? rc : charlm_model_save(&r->m, path, meta_ptrs(&mm));
}

/* ---- settings of a resumed run ------------------------------------------------ */

static int meta_num(const rg_safetensors *st, const char *key, const char *file, double *v)
{
    const char *s = rg_safetensors_get_meta(st, key);
    char *end;
    if (!s || (*v = strtod(s, &end), end == s || *end)) {
        rg_set_error("%s: metadata '%s' is missing or not a number", file, key);
        return -1;
    }
    return 0;
}

/* Reads the resume file's settings into r; *out keeps the file for the
 * optimizer's tensors (loaded once the optimizer exists). */
static int load_resume(run *r, const char *tpath, rg_safetensors **out)
{
    train_cfg *c = &r->c;
    rg_safetensors *st = rg_safetensors_read(tpath);
    *out = NULL;
    if (!st)
        return -1;
    int rc = -1;
    double step, wd, clip, drop, vf, warm, total, T, B, seed, carry, pos, tb;
    const char *opt = rg_safetensors_get_meta(st, "optimizer");
    const char *sched = rg_safetensors_get_meta(st, "schedule");
    if (meta_num(st, "step", tpath, &step) || meta_num(st, "lr", tpath, &c->lr) ||
        meta_num(st, "weight_decay", tpath, &wd) || meta_num(st, "clip", tpath, &clip) ||
        meta_num(st, "dropout", tpath, &drop) || meta_num(st, "val_fraction", tpath, &vf) ||
        meta_num(st, "warmup", tpath, &warm) || meta_num(st, "total_steps", tpath, &total) ||
        meta_num(st, "unroll", tpath, &T) || meta_num(st, "batch", tpath, &B) ||
        meta_num(st, "seed", tpath, &seed) || meta_num(st, "carry_state", tpath, &carry) ||
        meta_num(st, "carry_pos", tpath, &pos) || meta_num(st, "text_bytes", tpath, &tb))
        goto done;
    if (!opt || !sched || rng_parse(&r->batch_rng, rg_safetensors_get_meta(st, "rng_batch")) ||
        rng_parse(&r->drop_rng, rg_safetensors_get_meta(st, "rng_dropout"))) {
        rg_set_error("%s: metadata optimizer, schedule or RNG state missing or malformed",
                     tpath);
        goto done;
    }
    static char opt_s[16], sched_s[16];
    snprintf(opt_s, sizeof opt_s, "%s", opt);
    snprintf(sched_s, sizeof sched_s, "%s", sched);
    c->optimizer = opt_s;
    c->schedule = sched_s;
    c->weight_decay = wd;
    c->clip = clip;
    c->dropout = drop;
    c->val_fraction = vf;
    c->warmup = (int64_t)warm;
    if (c->steps <= 0)
        c->steps = (int64_t)total;
    c->unroll = (int64_t)T;
    c->batch = (int64_t)B;
    c->seed = (int64_t)seed;
    c->carry = carry != 0;
    r->step = (int64_t)step;
    r->carry_pos = (int64_t)pos;
    const char *hash = rg_safetensors_get_meta(st, "text_fnv1a");
    static char text_s[4096];
    const char *tname = rg_safetensors_get_meta(st, "text");
    if (!c->text && tname) {
        snprintf(text_s, sizeof text_s, "%s", tname);
        c->text = text_s;
    }
    /* the text is checked once it is read (see check_text) */
    r->text_hash = hash ? strtoull(hash, NULL, 16) : 0;
    r->n_text = (int64_t)tb;
    rc = 0;
done:
    if (rc == 0)
        *out = st;
    else
        rg_safetensors_free(st);
    return rc;
}

/* The optimizer's moments and step counts and the carried state of a resumed
 * run; every tensor the optimizer owns must be in the file. */
static int load_resume_tensors(run *r, const rg_safetensors *st, const char *tpath)
{
    for (int i = 0; i < rg_optim_state_count(r->opt); i++) {
        const char *name;
        rg_optim_state_at(r->opt, i, &name);
        const rg_tensor *t = rg_safetensors_get(st, name);
        if (!t) {
            rg_set_error("%s: optimizer tensor '%s' is missing", tpath, name);
            return -1;
        }
        if (rg_optim_state_load(r->opt, name, t) != 0)
            return -1;
    }
    for (int j = 0; r->c.carry && j < charlm_state_count(&r->m); j++) {
        char name[32];
        snprintf(name, sizeof name, "carry.state%d", j);
        const rg_tensor *t = rg_safetensors_get(st, name);
        if (!t || t->numel != r->carry[j]->numel) {
            rg_set_error("%s: tensor '%s' is missing or has the wrong size", tpath, name);
            return -1;
        }
        rg_tensor_copy(r->carry[j], t);
    }
    if (rg_optim_set_steps(r->opt, r->step) != 0)
        return -1;
    return 0;
}

/* ids [T,B] and targets [T*B] of the next step, from the batch RNG or, with
 * --carry-state, from the streams (zeroing the state when they wrap). */
static void next_batch(run *r, int32_t *in, int32_t *tg)
{
    int64_t T = r->c.unroll, B = r->c.batch;
    int64_t S = r->n_train / B;
    if (r->c.carry && r->carry_pos + T + 1 > S)
        r->carry_pos = 0;
    if (r->c.carry && r->carry_pos == 0)
        for (int j = 0; j < charlm_state_count(&r->m); j++)
            memset(r->carry[j]->data, 0, (size_t)r->carry[j]->numel * rg_dtype_size(r->m.dtype));
    for (int64_t b = 0; b < B; b++) {
        int64_t start = r->c.carry ? b * S + r->carry_pos
                                   : rg_rng_below(&r->batch_rng, r->n_train - T);
        for (int64_t t = 0; t < T; t++) {
            in[t * B + b] = r->ids[start + t];
            tg[t * B + b] = r->ids[start + t + 1];
        }
    }
    if (r->c.carry)
        r->carry_pos += T;
}

static int validate(run *r, double *loss)
{
    double sum;
    *loss = NAN;
    if (r->n_val < 2)
        return 0;
    if (charlm_eval_ids(&r->m, r->ids + r->n_train, r->n_val, &sum, NULL, NULL) != 0)
        return -1;
    *loss = sum / (double)(r->n_val - 1);
    return 0;
}

static const char *usage_line =
    "usage: charlm train [--text FILE] [--cell lstm|gru|rnn_tanh|rnn_relu] [--layers N]\n"
    "                    [--hidden N] [--embed N] [--unroll T] [--batch B] [--steps N | --epochs X]\n"
    "                    [--optimizer sgd|adam|adamw] [--lr X] [--clip X] [--dropout X]\n"
    "                    [--seed S] [--val-fraction X] [--threads N] [--save FILE]\n"
    "                    [--init FILE | --resume FILE] [--log FILE.csv] [--plot FILE.svg]";

static void print_error(const char *what)
{
    fprintf(stderr, "charlm train: %s%s%s\n", what ? what : "", what ? ": " : "",
            rg_last_error());
}

/* flags a resumed run takes from its checkpoint */
static const char *const fixed_on_resume[] = {
    "--cell", "--layers", "--hidden", "--embed", "--unroll", "--batch", "--optimizer", "--lr",
    "--clip", "--dropout", "--seed", "--val-fraction", "--init", "--carry-state",
    "--schedule", "--warmup", "--weight-decay", NULL};
static const char *const fixed_on_init[] = {"--cell", "--layers", "--hidden", "--embed", NULL};

static void free_run(run *r)
{
    rg_optim_free(r->opt);
    for (int j = 0; j < RG_CELL_MAX_STATE; j++)
        rg_tensor_free(r->carry[j]);
    charlm_model_free(&r->m);
    free(r->text);
    free(r->ids);
    free(r->hx);
    free(r->hy);
    free(r->vx);
    free(r->vy);
    if (r->log)
        fclose(r->log);
}

/* One step's forward and backward, split by batch rows over threads: shard k
 * runs rows [B*k/S, B*(k+1)/S) on its own tape; shard 0 writes the parameters'
 * gradients, the others private ones that the caller adds in after the join.
 * Each shard's loss is its summed
 * cross-entropy over B*T, so the shards add up to the mean over the batch. */
enum { MAX_SHARDS = 16 };
typedef struct shard_job {
    run *r;
    rg_tape **tp;
    const int32_t *in, *tg; /* the whole step: ids [T,B], targets [T*B] */
    int shards;
    uint64_t drop_seed[MAX_SHARDS];
    double loss[MAX_SHARDS];
    rg_tensor *final[MAX_SHARDS][RG_CELL_MAX_STATE];
    const char *err[MAX_SHARDS];
} shard_job;

static void train_shard(int k, void *user)
{
    shard_job *j = user;
    run *r = j->r;
    int64_t T = r->c.unroll, B = r->c.batch;
    int64_t b0 = B * k / j->shards, b1 = B * (k + 1) / j->shards, Bk = b1 - b0;
    rg_tape *tp = j->tp[k];
    rg_tape_reset(tp);
    rg_tape_set_training(tp, true);
    j->err[k] = NULL;
    rg_tensor *ids = rg_tensor_new(tp, RG_I32, RG_DIMS(T, Bk));
    rg_tensor *tgt = rg_tensor_new(tp, RG_I32, RG_DIMS(T * Bk));
    if (ids && tgt)
        for (int64_t t = 0; t < T; t++)
            for (int64_t b = 0; b < Bk; b++) {
                ((int32_t *)ids->data)[t * Bk + b] = j->in[t * B + b0 + b];
                ((int32_t *)tgt->data)[t * Bk + b] = j->tg[t * B + b0 + b];
            }
    rg_tensor *init[RG_CELL_MAX_STATE] = {0};
    for (int s = 0; r->c.carry && s < charlm_state_count(&r->m); s++)
        init[s] = j->shards == 1 ? r->carry[s] : rg_slice(tp, r->carry[s], 1, b0, Bk);
    rg_rng own, *drop = &r->drop_rng;
    if (j->shards > 1) {
        rg_rng_seed(&own, j->drop_seed[k]);
        drop = &own;
    }
    rg_tensor *logits = charlm_forward(tp, &r->m, ids, r->c.carry ? init : NULL,
                                       r->c.carry ? j->final[k] : NULL, drop);
    rg_tensor *ce = tgt ? rg_cross_entropy(tp, logits, tgt, RG_SUM) : NULL;
    rg_tensor *loss = rg_mul_scalar(tp, ce, 1.0 / (double)(B * T));
    if (!loss) {
        j->err[k] = rg_tape_error(tp) ? rg_tape_error(tp) : rg_last_error();
        return;
    }
    j->loss[k] = rg_get(loss, 0);
    if (isfinite(j->loss[k]) && rg_backward(tp, loss) != 0)
        j->err[k] = rg_tape_error(tp);
}

/* Copies shard k's final states [L,Bk,H] into its rows of the carried [L,B,H]. */
static void carry_rows(run *r, const shard_job *j, int k)
{
    int64_t B = r->c.batch, b0 = B * k / j->shards, Bk = B * (k + 1) / j->shards - b0;
    size_t es = rg_dtype_size(r->m.dtype), row = (size_t)r->m.H * es;
    for (int s = 0; s < charlm_state_count(&r->m); s++) {
        const rg_tensor *f = j->final[k][s];
        for (int64_t l = 0; l < f->shape[0]; l++)
            memcpy((char *)r->carry[s]->data + (size_t)(l * B + b0) * row,
                   (const char *)f->data + (size_t)(l * Bk) * row, (size_t)Bk * row);
    }
}

int charlm_train_main(int argc, char **argv)
{
    run R;
    memset(&R, 0, sizeof R);
    run *r = &R;
    train_cfg *c = &r->c;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    *c = (train_cfg){.cell = "lstm", .optimizer = "adam", .save = "charlm.safetensors",
                     .schedule = "constant", .layers = 1, .hidden = 256, .embed = 32,
                     .unroll = 64, .batch = 32, .steps = 0, .seed = 1,
                     .threads = ncpu > 8 ? 8 : ncpu < 1 ? 1 : ncpu, .save_every = 500,
                     .eval_every = 0, .log_every = 10, .lr = 2e-3, .clip = 5.0,
                     .val_fraction = 0.1, .weight_decay = -1};
    double epochs = 0;
    int64_t default_steps = 4000;
    cli_flag fl[] = {
        {"--text", CLI_STRING, &c->text, 0, 0, "training text (default: data/pride_and_prejudice.txt)", 0},
        {"--cell", CLI_STRING, &c->cell, 0, 0, "lstm | gru | rnn_tanh | rnn_relu (default lstm)", 0},
        {"--layers", CLI_INT, &c->layers, 1, 16, "recurrent layers (default 1)", 0},
        {"--hidden", CLI_INT, &c->hidden, 1, 8192, "hidden size (default 256)", 0},
        {"--embed", CLI_INT, &c->embed, 1, 8192, "embedding size (default 32)", 0},
        {"--unroll", CLI_INT, &c->unroll, 1, 100000, "BPTT length T (default 64)", 0},
        {"--batch", CLI_INT, &c->batch, 1, 65536, "windows per step (default 32)", 0},
        {"--steps", CLI_INT, &c->steps, 0, 1e12, "optimizer steps (default 4000)", 0},
        {"--epochs", CLI_DOUBLE, &epochs, 1e-9, 1e6, "passes over the training text instead of --steps", 0},
        {"--optimizer", CLI_STRING, &c->optimizer, 0, 0, "sgd | adam | adamw (default adam)", 0},
        {"--lr", CLI_DOUBLE, &c->lr, 0, 1e300, "learning rate (default 2e-3)", 0},
        {"--weight-decay", CLI_DOUBLE, &c->weight_decay, 0, 1e300, "weight decay (default: 0, adamw 0.01)", 0},
        {"--schedule", CLI_STRING, &c->schedule, 0, 0, "constant | cosine (default constant)", 0},
        {"--warmup", CLI_INT, &c->warmup, 0, 1e12, "linear warm-up steps (default 0)", 0},
        {"--clip", CLI_DOUBLE, &c->clip, 0, 1e300, "clip the global gradient norm; 0 = off (default 5)", 0},
        {"--dropout", CLI_DOUBLE, &c->dropout, 0, 0.99, "dropout between layers (default 0)", 0},
        {"--seed", CLI_INT, &c->seed, 0, 9.2e18, "random seed (default 1)", 0},
        {"--val-fraction", CLI_DOUBLE, &c->val_fraction, 0, 0.9, "held-out tail of the text; 0 = none (default 0.1)", 0},
        {"--carry-state", CLI_FLAG, &c->carry, 0, 0, "read the text as batch streams, carrying the state", 0},
        {"--threads", CLI_INT, &c->threads, 1, 1024, "threads, one batch shard each (default: CPUs, at most 8)", 0},
        {"--save", CLI_STRING, &c->save, 0, 0, "checkpoint (default charlm.safetensors)", 0},
        {"--save-every", CLI_INT, &c->save_every, 0, 1e12, "steps between checkpoints; 0 = end only (default 500)", 0},
        {"--eval-every", CLI_INT, &c->eval_every, 0, 1e12, "steps between validations (default steps/3)", 0},
        {"--log-every", CLI_INT, &c->log_every, 1, 1e12, "steps between log rows (default 10)", 0},
        {"--init", CLI_STRING, &c->init, 0, 0, "start from this checkpoint (its cell, sizes, vocabulary)", 0},
        {"--resume", CLI_STRING, &c->resume, 0, 0, "continue the run saved in this checkpoint", 0},
        {"--log", CLI_STRING, &c->log, 0, 0, "CSV: step, train loss, val loss, lr, chars/s", 0},
        {"--plot", CLI_STRING, &c->plot, 0, 0, "SVG plot of train/val loss against step", 0},
        {"--stop-after", CLI_INT, &c->stop_after, 1, 1e12, NULL, 0},
    };
    int nf = (int)(sizeof fl / sizeof fl[0]);
    int prc = cli_parse("charlm train", usage_line, argc, argv, 2, fl, nf);
    if (prc != 0)
        return prc > 0 ? 0 : 2;
    if (cli_seen(fl, nf, "--steps") && cli_seen(fl, nf, "--epochs")) {
        fprintf(stderr, "charlm train: give --steps or --epochs, not both\n");
        return 2;
    }
    if (c->init && c->resume) {
        fprintf(stderr, "charlm train: give --init or --resume, not both\n");
        return 2;
    }
    for (int i = 0; c->resume && fixed_on_resume[i]; i++)
        if (cli_seen(fl, nf, fixed_on_resume[i])) {
            fprintf(stderr, "charlm train: %s cannot be given with --resume (a resumed run "
                    "keeps its settings)\n", fixed_on_resume[i]);
            return 2;
        }
    for (int i = 0; c->init && fixed_on_init[i]; i++)
        if (cli_seen(fl, nf, fixed_on_init[i]))
            fprintf(stderr, "charlm train: note: %s is ignored, the sizes of %s win\n",
                    fixed_on_init[i], c->init);
    const rg_cell_type *cell = rg_cell_type_find(c->cell);
    if (!cell || !strcmp(c->cell, "rnn")) {
        fprintf(stderr, "charlm train: --cell '%s' is not one of lstm, gru, rnn_tanh, rnn_relu\n",
                c->cell);
        return 2;
    }
    if (!c->resume) {
        if (!strcmp(c->optimizer, "sgd"))
            r->kind = RG_SGD;
        else if (!strcmp(c->optimizer, "adam"))
            r->kind = RG_ADAM;
        else if (!strcmp(c->optimizer, "adamw"))
            r->kind = RG_ADAMW;
        else {
            fprintf(stderr, "charlm train: --optimizer '%s' is not one of sgd, adam, adamw\n",
                    c->optimizer);
            return 2;
        }
        if (strcmp(c->schedule, "constant") && strcmp(c->schedule, "cosine")) {
            fprintf(stderr, "charlm train: --schedule '%s' is not one of constant, cosine\n",
                    c->schedule);
            return 2;
        }
    }
    /* Threads: one batch shard per thread, each with single-threaded BLAS (a
     * batch of one row leaves the threads to BLAS instead). */
    int shards = (int)(c->threads < c->batch ? c->threads : c->batch);
    if (shards > MAX_SHARDS)
        shards = MAX_SHARDS;
    rg_set_threads(shards > 1 ? 1 : (int)c->threads);

    int status = 1;
    rg_safetensors *resume_st = NULL;
    char tpath[4096];
    if (c->resume) {
        train_state_path(c->resume, tpath, sizeof tpath);
        if (load_resume(r, tpath, &resume_st) != 0) {
            print_error("cannot resume");
            goto out;
        }
        r->kind = !strcmp(c->optimizer, "sgd") ? RG_SGD
                  : !strcmp(c->optimizer, "adamw") ? RG_ADAMW : RG_ADAM;
        if (!cli_seen(fl, nf, "--save"))
            c->save = c->resume;
    }

    /* the text, its vocabulary and its split */
    if (!c->text)
        c->text = charlm_default_text("pride_and_prejudice.txt");
    uint64_t want_hash = r->text_hash;
    int64_t want_bytes = r->n_text;
    if (charlm_read_file(c->text, &r->text, &r->n_text) != 0) {
        print_error(NULL);
        goto out;
    }
    r->text_hash = charlm_fnv1a(r->text, r->n_text);
    if (c->resume && (r->text_hash != want_hash || r->n_text != want_bytes)) {
        fprintf(stderr, "charlm train: %s is not the text of the run being resumed (%lld bytes, "
                "the run read %lld bytes with another checksum)\n", c->text,
                (long long)r->n_text, (long long)want_bytes);
        goto out;
    }
    const char *from = c->resume ? c->resume : c->init;
    if (from) {
        if (charlm_model_load(&r->m, from, RG_F32) != 0) {
            print_error(NULL);
            goto out;
        }
        r->m.rnn->cfg.dropout = c->dropout;
        r->m.dropout = c->dropout;
    } else {
        charlm_vocab v;
        rg_rng init_rng;
        rg_rng_seed(&init_rng, (uint64_t)c->seed);
        charlm_vocab_from_text(&v, r->text, r->n_text);
        if (charlm_model_init(&r->m, cell, &v, c->embed, c->hidden, (int)c->layers, c->dropout,
                              RG_F32, &init_rng) != 0) {
            print_error(NULL);
            goto out;
        }
    }
    r->ids = malloc((size_t)r->n_text * sizeof *r->ids);
    if (!r->ids) {
        fprintf(stderr, "charlm train: out of memory\n");
        goto out;
    }
    if (charlm_encode(&r->m.vocab, r->text, r->n_text, r->ids, c->text) != 0) {
        print_error(NULL);
        goto out;
    }
    r->n_val = (int64_t)floor((double)r->n_text * c->val_fraction);
    r->n_train = r->n_text - r->n_val;
    if (c->val_fraction > 0 && r->n_val < 2) {
        fprintf(stderr, "charlm train: --val-fraction %g of %lld bytes leaves fewer than 2 "
                "bytes to validate on\n", c->val_fraction, (long long)r->n_text);
        goto out;
    }
    int64_t need = c->carry ? c->batch * (c->unroll + 1) : c->unroll + 1;
    if (r->n_train < need) {
        fprintf(stderr, "charlm train: the training text has %lld bytes; --unroll %lld%s needs "
                "at least %lld\n", (long long)r->n_train, (long long)c->unroll,
                c->carry ? " with --carry-state and this --batch" : "", (long long)need);
        goto out;
    }
    if (epochs > 0)
        c->steps = (int64_t)ceil(epochs * (double)r->n_train / (double)(c->batch * c->unroll));
    else if (!cli_seen(fl, nf, "--steps") && !c->resume)
        c->steps = default_steps;
    if (c->resume && r->step >= c->steps) {
        fprintf(stderr, "charlm train: %s is already at step %lld; give --steps above that to "
                "continue\n", c->resume, (long long)r->step);
        goto out;
    }
    if (c->eval_every == 0)
        c->eval_every = c->steps >= 3 ? c->steps / 3 : 1;

    /* the optimizer (and, for a resumed run, its state) */
    rg_optim_config oc = rg_optim_defaults(r->kind, c->lr);
    if (c->weight_decay >= 0)
        oc.weight_decay = c->weight_decay;
    c->weight_decay = oc.weight_decay;
    r->opt = rg_optim_new(r->m.P, &oc);
    if (!r->opt) {
        print_error(NULL);
        goto out;
    }
    for (int j = 0; c->carry && j < charlm_state_count(&r->m); j++)
        if (!(r->carry[j] = rg_zeros(NULL, RG_F32, RG_DIMS(r->m.L, c->batch, r->m.H)))) {
            print_error(NULL);
            goto out;
        }
    if (c->resume) {
        if (load_resume_tensors(r, resume_st, tpath) != 0) {
            print_error("cannot resume");
            goto out;
        }
    } else {
        rg_rng_seed(&r->batch_rng, (uint64_t)c->seed ^ 0x6261746368ull);
        rg_rng_seed(&r->drop_rng, (uint64_t)c->seed ^ 0x64726f70ull);
    }
    r->sched = (rg_lr_schedule){.kind = strcmp(c->schedule, "cosine") ? RG_SCHED_CONSTANT
                                                                     : RG_SCHED_COSINE,
                                .base_lr = c->lr, .t_max = c->steps > c->warmup ? c->steps - c->warmup : 1,
                                .warmup = c->warmup};
    if (rg_lr_schedule_check(&r->sched) != 0) {
        print_error(NULL);
        goto out;
    }
    if (c->log) {
        r->log = fopen(c->log, c->resume ? "a" : "w");
        if (!r->log) {
            fprintf(stderr, "charlm train: cannot write --log %s\n", c->log);
            goto out;
        }
        if (ftell(r->log) == 0)
            fprintf(r->log, "step,train_loss,val_loss,lr,chars_per_s\n");
    }

    printf("charlm train: %s %dx%lld (embed %lld, %lld parameters), vocab %lld, text %s "
           "(%lld train + %lld val bytes), %s lr %g, batch %lld x unroll %lld, steps %lld%s, "
           "%s, %d threads\n", r->m.cell->name, r->m.L, (long long)r->m.H, (long long)r->m.E,
           (long long)rg_params_numel(r->m.P), (long long)r->m.V, c->text,
           (long long)r->n_train, (long long)r->n_val, c->optimizer, c->lr,
           (long long)c->batch, (long long)c->unroll, (long long)c->steps,
           c->resume ? " (resumed)" : "", rg_blas_name(), shards > 1 ? shards : rg_get_threads());
    fflush(stdout);

    /* the loop */
    int64_t T = c->unroll, B = c->batch;
    int ns = charlm_state_count(&r->m);
    int32_t *in = malloc((size_t)(T * B) * sizeof *in);
    int32_t *tg = malloc((size_t)(T * B) * sizeof *tg);
    rg_tape *tapes[MAX_SHARDS] = {0};
    bool tapes_ok = true;
    for (int k = 0; k < shards; k++) {
        tapes[k] = rg_tape_new();
        tapes_ok = tapes_ok && tapes[k] &&
                   (k == 0 || rg_tape_set_private_grads(tapes[k], true) == 0);
    }
    if (!in || !tg || !tapes_ok) {
        fprintf(stderr, "charlm train: out of memory\n");
        free(in);
        free(tg);
        for (int k = 0; k < shards; k++)
            rg_tape_free(tapes[k]);
        goto out;
    }
    shard_job job = {.r = r, .tp = tapes, .in = in, .tg = tg, .shards = shards};
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);
    g_interrupted = 0;

    charlm_progress prog;
    charlm_progress_init(&prog, c->steps);
    r->last_val_loss = NAN;
    r->last_loss = NAN;
    double recent[50];
    int n_recent = 0, at_recent = 0;
    double log_sum = 0;
    int64_t log_n = 0, start_step = r->step;
    bool failed = false, stopped = false;
    while (r->step < c->steps) {
        if (g_interrupted || (c->stop_after && r->step >= c->stop_after)) {
            stopped = true;
            break;
        }
        double t0 = charlm_now();
        double lr = rg_lr_at(&r->sched, r->step);
        next_batch(r, in, tg);
        rg_optim_zero_grad(r->opt);
        for (int k = 0; shards > 1 && k < shards; k++)
            job.drop_seed[k] = rg_rng_next(&r->drop_rng);
        rg_parallel_run(shards, train_shard, &job);
        double lv = 0;
        const char *err = NULL;
        for (int k = 0; k < shards; k++) {
            lv += job.loss[k];
            if (!err)
                err = job.err[k];
        }
        if (err) {
            fprintf(stderr, "charlm train: step %lld: %s\n", (long long)r->step + 1, err);
            failed = true;
            break;
        }
        if (!isfinite(lv)) {
            charlm_progress_done(&prog);
            fprintf(stderr, "charlm train: the loss is %s at step %lld: training diverged "
                    "(lower --lr or set --clip); the last checkpoint is kept\n",
                    isnan(lv) ? "NaN" : "infinite", (long long)r->step + 1);
            failed = true;
            break;
        }
        for (int k = 1; k < shards; k++) /* shard 0 wrote the gradients directly */
            if (rg_tape_reduce_grads(tapes[k]) != 0) {
                fprintf(stderr, "charlm train: %s\n", rg_tape_error(tapes[k]));
                failed = true;
            }
        if (failed)
            break;
        double norm = c->clip > 0 ? rg_clip_grad_norm(r->m.P, c->clip) : 0;
        if (!isfinite(norm)) {
            charlm_progress_done(&prog);
            fprintf(stderr, "charlm train: the gradient is not finite at step %lld (%s): "
                    "training diverged (lower --lr); the last checkpoint is kept\n",
                    (long long)r->step + 1, rg_last_error());
            failed = true;
            break;
        }
        if (rg_optim_set_lr(r->opt, lr) != 0 || rg_optim_step(r->opt) != 0) {
            print_error(NULL);
            failed = true;
            break;
        }
        for (int k = 0; c->carry && k < shards; k++) {
            if (shards == 1)
                for (int j = 0; j < ns; j++)
                    rg_tensor_copy(r->carry[j], job.final[0][j]);
            else
                carry_rows(r, &job, k);
        }
        r->step++;
        r->train_seconds += charlm_now() - t0;
        r->last_loss = lv;
        recent[at_recent] = lv;
        at_recent = (at_recent + 1) % 50;
        if (n_recent < 50)
            n_recent++;
        log_sum += lv;
        log_n++;

        double cps = (double)(B * T) * (double)(r->step - start_step) / r->train_seconds;
        bool val_now = r->step % c->eval_every == 0 || r->step == c->steps;
        if (val_now && r->n_val >= 2) {
            if (validate(r, &r->last_val_loss) != 0) {
                print_error("validation");
                failed = true;
                break;
            }
            push(&r->vx, &r->vy, &r->vn, &r->vcap, (double)r->step, r->last_val_loss);
        }
        if (r->step % c->log_every == 0 || r->step == c->steps || val_now) {
            double mean = log_sum / (double)log_n;
            push(&r->hx, &r->hy, &r->hn, &r->hcap, (double)r->step, mean);
            if (r->log) {
                fprintf(r->log, "%lld,%.6f,", (long long)r->step, mean);
                if (val_now && r->n_val >= 2)
                    fprintf(r->log, "%.6f", r->last_val_loss);
                fprintf(r->log, ",%.6g,%.1f\n", lr, cps);
                fflush(r->log);
            }
            log_sum = 0;
            log_n = 0;
        }
        double eta = (double)(c->steps - r->step) * r->train_seconds /
                     (double)(r->step - start_step);
        charlm_progress_step(&prog, r->step, c->steps, lv, r->last_val_loss / log(2.0), cps,
                             eta, val_now);
        if (c->save_every && r->step % c->save_every == 0 && r->step < c->steps &&
            save_run(r, c->save) != 0) {
            print_error("saving");
            failed = true;
            break;
        }
    }
    charlm_progress_done(&prog);
    sigaction(SIGINT, &old_sa, NULL);
    free(in);
    free(tg);
    for (int k = 0; k < shards; k++)
        rg_tape_free(tapes[k]);
    if (failed)
        goto out;
    if (save_run(r, c->save) != 0) {
        print_error("saving");
        goto out;
    }
    if (stopped) {
        printf("train: %s at step %lld of %lld; saved %s (continue with --resume %s)\n",
               g_interrupted ? "interrupted" : "stopped", (long long)r->step,
               (long long)c->steps, c->save, c->save);
        status = g_interrupted ? 130 : 0;
        goto out;
    }
    if (c->plot) {
        charlm_series s[2] = {{"train loss", "#1f77b4", r->hx, r->hy, r->hn},
                              {"validation loss", "#d62728", r->vx, r->vy, r->vn}};
        char title[256];
        snprintf(title, sizeof title, "charlm %s %dx%lld on %s", r->m.cell->name, r->m.L,
                 (long long)r->m.H, c->text);
        if (charlm_plot_svg(c->plot, title, "step", "loss (nats/char)", s, r->vn ? 2 : 1) != 0) {
            print_error("plot");
            goto out;
        }
    }
    double mean_recent = 0;
    for (int i = 0; i < n_recent; i++)
        mean_recent += recent[i];
    mean_recent = n_recent ? mean_recent / n_recent : NAN;
    double cps = r->train_seconds > 0
                     ? (double)(B * T) * (double)(r->step - start_step) / r->train_seconds
                     : 0;
    printf("train: steps=%lld loss=%.6f val_bpc=%.6f chars_per_s=%.1f\n", (long long)r->step,
           mean_recent, r->last_val_loss / log(2.0), cps);
    status = 0;
out:
    rg_safetensors_free(resume_st);
    free_run(r);
    return status;
}
