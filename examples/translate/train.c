/* translate train: the attention model on generated pairs, on the training
 * core (sharded steps, checkpoints, exact resume, signals, log, plot).  This
 * file is the program's flags, its data and model set-up, and its task: a
 * batch of pairs drawn from the training set, the teacher-forced loss of some
 * rows, the loss on the validation set. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

typedef struct train_opts {
    const char *cell, *cell_lib, *attention;
    int64_t hidden, embed, layers, batch, examples, val_examples, data_seed;
} train_opts;

typedef struct task {
    tr_model m;
    tr_data train, val;
    int64_t B;
    int32_t *src, *len, *tgt; /* the step's batch: [B,TR_MAX_SRC], [B], [B,TR_TGT] */
    uint64_t data_hash;
} task;

static const char *usage_line =
    "usage: translate train [--cell gru|lstm|NAME] [--cell-lib FILE.so] [--hidden N] [--embed N]\n"
    "                       [--layers N] [--attention-kind additive|dot] [--batch B]\n"
    "                       [--examples N] [--val-examples N] [--data-seed S] [--steps N]\n"
    "                       [--lr X] [--seed S] [--threads N] [--save FILE]\n"
    "                       [--init FILE | --resume FILE] [--log FILE.csv] [--plot FILE.svg]\n"
    "       (--steps 0 writes the initial weights to --save and stops)";

static int program_flags(train_opts *o, rg_flag *fl)
{
    const rg_flag own[] = {
        {"--cell", RG_FLAG_STRING, &o->cell, 0, 0, NULL, "gru | lstm | rnn_tanh | a plugin's cell, encoder and decoder (default gru)", RG_FLAG_MODEL, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &o->cell_lib, 0, 0, NULL, "a cell plugin (shared object) to load first", RG_FLAG_SAVED | RG_FLAG_PATH, 0, 0},
        {"--hidden", RG_FLAG_INT, &o->hidden, 1, 4096, NULL, "hidden size H (encoder per direction, decoder; default 64)", RG_FLAG_MODEL, 0, 0},
        {"--embed", RG_FLAG_INT, &o->embed, 1, 4096, NULL, "byte embedding size (default 16)", RG_FLAG_MODEL, 0, 0},
        {"--layers", RG_FLAG_INT, &o->layers, 1, TR_MAX_LAYERS, NULL, "layers of the encoder and of the decoder (default 1)", RG_FLAG_MODEL, 0, 0},
        {"--attention-kind", RG_FLAG_CHOICE, &o->attention, 0, 0, "additive|dot", "additive | dot (default additive)", RG_FLAG_MODEL, 0, 0},
        {"--batch", RG_FLAG_INT, &o->batch, 1, 65536, NULL, "pairs per step (default 64)", RG_FLAG_SAVED, 0, 0},
        {"--examples", RG_FLAG_INT, &o->examples, 1, 1e7, NULL, "training pairs generated (default 50000)", RG_FLAG_SAVED, 0, 0},
        {"--val-examples", RG_FLAG_INT, &o->val_examples, 0, 1e6, NULL, "validation pairs; 0 = none (default 1000)", RG_FLAG_SAVED, 0, 0},
        {"--data-seed", RG_FLAG_INT, &o->data_seed, 0, 9.2e18, NULL, "seed of the pair generator (default 1)", RG_FLAG_SAVED, 0, 0},
    };
    memcpy(fl, own, sizeof own);
    return (int)(sizeof own / sizeof own[0]);
}

/* ---- the task ------------------------------------------------------------------------ */
static int next_batch(void *user, rg_rng *rng)
{
    task *t = user;
    for (int64_t b = 0; b < t->B; b++) {
        int64_t i = rg_rng_below(rng, t->train.n);
        memcpy(t->src + b * TR_MAX_SRC, t->train.src + i * TR_MAX_SRC, TR_MAX_SRC * sizeof *t->src);
        memcpy(t->tgt + b * TR_TGT, t->train.tgt + i * TR_TGT, TR_TGT * sizeof *t->tgt);
        t->len[b] = t->train.len[i];
    }
    return 0;
}

/* rows [b0,b1): the summed cross-entropy over B*TR_TGT, so the shards add up to the mean */
static rg_tensor *shard_loss(rg_tape *tp, void *user, int shard, int64_t b0, int64_t b1,
                             rg_rng *dropout)
{
    (void)shard;
    (void)dropout;
    task *t = user;
    int64_t Bk = b1 - b0;
    rg_tensor *src = tr_source_ids(tp, t->src + b0 * TR_MAX_SRC, t->len + b0, Bk);
    rg_tensor *tgt = tr_target_ids(tp, t->tgt + b0 * TR_TGT, Bk);
    rg_tensor *ce = tr_forward_loss(tp, &t->m, src, t->len + b0, tgt, NULL);
    return rg_mul_scalar(tp, ce, 1.0 / (double)(t->B * TR_TGT));
}

/* validation: the mean cross-entropy per output byte on the validation pairs,
 * in pieces of VAL_PIECE pairs (split over the ranks by the training core) */
enum { VAL_PIECE = 256 };

static int64_t val_pieces(void *user)
{
    const task *t = user;
    return (t->val.n + VAL_PIECE - 1) / VAL_PIECE;
}

static int validate_piece(void *user, int64_t k, double *sum, double *count,
                          double *stats)
{
    (void)stats;
    task *t = user;
    int64_t i = k * VAL_PIECE, B = t->val.n - i < VAL_PIECE ? t->val.n - i : VAL_PIECE;
    rg_tape *tp = rg_tape_new();
    if (!tp)
        return -1;
    rg_tape_set_grad_enabled(tp, false);
    rg_tape_set_training(tp, false);
    rg_tensor *ce = tr_forward_loss(tp, &t->m, tr_source_ids(tp, t->val.src + i * TR_MAX_SRC,
                                                             t->val.len + i, B),
                                    t->val.len + i, tr_target_ids(tp, t->val.tgt + i * TR_TGT, B),
                                    NULL);
    *sum = ce ? rg_get(ce, 0) : 0;
    *count = (double)(B * TR_TGT);
    rg_tape_free(tp);
    return ce ? 0 : -1;
}

static rg_safetensors *model_file(void *user)
{
    return tr_model_container(&((task *)user)->m);
}

static int save_state(void *user, rg_safetensors *st)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%016" PRIx64, ((task *)user)->data_hash);
    return rg_safetensors_set_meta(st, "data_fnv1a", buf);
}

/* the pairs are regenerated from the saved flags: the same ones, unless the
 * generator changed since */
static int load_state(void *user, const rg_safetensors *st, const char *file)
{
    char want[32];
    snprintf(want, sizeof want, "%016" PRIx64, ((task *)user)->data_hash);
    const char *got = rg_safetensors_get_meta(st, "data_fnv1a");
    if (!got || strcmp(got, want)) {
        rg_set_error("%s: the training pairs differ from those of the run being resumed "
                     "(checksum %.20s, now %s): another version of the generator", file,
                     got ? got : "(missing)", want);
        return -1;
    }
    return 0;
}

/* ---- set-up -------------------------------------------------------------------------- */
/* the data, a new model or the one of --init / --resume, the batch buffers */
static int setup(const train_opts *o, const rg_fit_config *fc, const rg_run *run, task *t)
{
    if (rg_run_resumed(run) && o->cell_lib && rg_cell_plugin_load(o->cell_lib) != 0)
        return -1;
    if (tr_data_make(&t->train, TR_TRAIN, o->examples, (uint64_t)o->data_seed) != 0 ||
        tr_data_make(&t->val, TR_VAL, o->val_examples, (uint64_t)o->data_seed) != 0)
        return -1;
    t->data_hash = tr_data_hash(&t->train);
    const char *from = rg_run_model_source(run);
    uint64_t seed_of_file;
    if (from && tr_model_load(&t->m, from, RG_F32, &seed_of_file) != 0)
        return -1;
    rg_rng init_rng;
    rg_rng_seed(&init_rng, (uint64_t)fc->seed);
    if (!from && tr_model_init(&t->m, tr_cell_find(o->cell), o->embed, o->hidden,
                               (int)o->layers, strcmp(o->attention, "dot") ? TR_ATT_ADDITIVE
                                                                           : TR_ATT_DOT,
                               RG_F32, &init_rng) != 0)
        return -1;
    t->B = o->batch;
    t->src = calloc((size_t)(t->B * TR_MAX_SRC), sizeof *t->src);
    t->len = calloc((size_t)t->B, sizeof *t->len);
    t->tgt = calloc((size_t)(t->B * TR_TGT), sizeof *t->tgt);
    if (!t->src || !t->len || !t->tgt) {
        rg_set_error("out of memory for a batch of %lld", (long long)t->B);
        return -1;
    }
    return 0;
}

/* exact match of greedy decoding on the validation pairs */
static int val_exact(const task *t, double *exact)
{
    *exact = NAN;
    if (t->val.n == 0)
        return 0;
    char *out = malloc((size_t)t->val.n * (TR_MAX_OUT + 1));
    if (!out || tr_greedy(&t->m, t->val.src, t->val.len, t->val.n, out) != 0) {
        free(out);
        return -1;
    }
    int64_t hit = 0;
    for (int64_t i = 0; i < t->val.n; i++) {
        char src[TR_MAX_SRC + 1], tgt[TR_TGT];
        tr_data_text(&t->val, i, src, tgt);
        hit += strcmp(out + i * (TR_MAX_OUT + 1), tgt) == 0;
    }
    free(out);
    *exact = (double)hit / (double)t->val.n;
    return 0;
}

/* --steps 0: the initial weights only (for --init, or the PyTorch twin) */
static int write_initial(const task *t, const char *path)
{
    rg_safetensors *st = tr_model_container(&t->m);
    int rc = st && rg_file_check_output(path, "--save") == 0 &&
                     rg_safetensors_write(st, path, RG_F32) == 0 ? 0 : -1;
    rg_safetensors_free(st);
    if (rc == 0)
        printf("translate train: --steps 0: wrote the initial weights to %s\n", path);
    return rc;
}

static int train(const train_opts *o, rg_fit_config *fc, rg_flag *fl, int n, rg_run *run,
                 task *t)
{
    if (setup(o, fc, run, t) != 0)
        return -1;
    if (!fc->resume && rg_flags_seen(fl, n, "--steps") && fc->steps == 0)
        return write_initial(t, fc->save);
    tr_model *m = &t->m;
    printf("translate train: %s %dx%lld, %s attention (embed %lld, %lld parameters), %lld "
           "training + %lld validation pairs, batch %lld\n", m->cell->name, m->L,
           (long long)m->H, tr_att_name(m->att), (long long)m->E,
           (long long)rg_params_numel(m->P), (long long)t->train.n, (long long)t->val.n,
           (long long)t->B);
    fflush(stdout);
    char title[256];
    snprintf(title, sizeof title, "translate %s %dx%lld, %s attention", m->cell->name, m->L,
             (long long)m->H, tr_att_name(m->att));
    rg_fit_task ft = {.P = m->P, .user = t, .batch = t->B, .units_per_step = (double)t->B,
                      .unit = "pairs", .title = title, .next_batch = next_batch,
                      .shard_loss = shard_loss, .val_pieces = val_pieces,
                      .validate_piece = validate_piece, .model_file = model_file,
                      .save_state = save_state, .load_state = load_state};
    int status = rg_run_fit(run, &ft);
    if (status != 0 || rg_run_step(run) < fc->steps)
        return status;
    double loss, val, rate, exact;
    rg_run_results(run, &loss, &val, &rate);
    if (val_exact(t, &exact) != 0)
        return -1;
    printf("train: steps=%lld loss=%.6f val_loss=%.6f val_exact=%.4f pairs_per_s=%.1f\n",
           (long long)rg_run_step(run), loss, val, exact, rate);
    return 0;
}

int tr_train_main(int argc, char **argv)
{
    train_opts o = {.cell = "gru", .attention = "additive", .hidden = 64, .embed = 16,
                    .layers = 1, .batch = 64, .examples = 50000, .val_examples = 1000,
                    .data_seed = 1};
    rg_fit_config fc;
    rg_fit_defaults(&fc, "translate train", "translate.safetensors");
    fc.default_steps = 3000;
    fc.no_summary = true;
    rg_flag fl[40];
    int n = program_flags(&o, fl), status;
    n += rg_fit_flags(&fc, fl + n, 40 - n);
    if (!rg_flags_cli("translate train", usage_line, fl, n, argc, argv, 2, &status))
        return status;
    for (int i = 0; fc.init && i < n; i++)
        if (fl[i].seen && (fl[i].attr & RG_FLAG_MODEL))
            fprintf(stderr, "translate train: note: %s is ignored, the sizes of %s win\n",
                    fl[i].name, fc.init);
    /* the plugin first, so --cell may name its cells (a resumed run's is restored later) */
    if (!fc.resume && ((o.cell_lib && rg_cell_plugin_load(o.cell_lib) != 0) ||
                       (!fc.init && !tr_cell_find(o.cell)))) {
        fprintf(stderr, "translate train: %s\n", rg_last_error());
        rg_flags_free(fl, n);
        return 2;
    }
    rg_run *run = rg_run_open(&fc, fl, n);
    task t;
    memset(&t, 0, sizeof t);
    status = 1;
    if (!run)
        fprintf(stderr, "translate train: %s\n", rg_last_error());
    else if ((status = train(&o, &fc, fl, n, run, &t)) < 0) {
        fprintf(stderr, "translate train: %s\n", rg_last_error());
        status = 1;
    }
    rg_run_close(run);
    tr_model_free(&t.m);
    tr_data_free(&t.train);
    tr_data_free(&t.val);
    free(t.src);
    free(t.len);
    free(t.tgt);
    rg_flags_free(fl, n);
    return status;
}
