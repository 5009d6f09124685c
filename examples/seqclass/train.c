/* seqclass train: the classifier on the training split, on the training core
 * (sharded steps, checkpoints, exact resume, signals, log, plot and progress
 * are rg_train.h's).  This file is the program's flags, its training task
 * and the order of a run.
 *
 * A step draws `batch` training texts uniformly (with replacement) with the
 * run's batch generator; its loss is their mean cross-entropy.  Validation:
 * the mean cross-entropy over the validation split (val_loss, nats), with its
 * accuracy in the final line. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "seqclass.h"

typedef struct train_opts {
    sc_model_opts mo;
    const char *data, *cell_lib;
    int64_t batch, max_len;
    double dropout;
} train_opts;

/* the training task: what the core's callbacks get */
typedef struct sc_task {
    sc_model m;
    sc_data d;
    sc_encoded e;
    int64_t *train_idx, n_train, *val_idx, n_val;
    int64_t B;
    int64_t *rows;      /* the step's texts [B] */
    double *val_logp;   /* [n_val][C] */
    double val_accuracy;
} sc_task;

static const char *usage_line =
    "usage: seqclass train [--data FILE.tsv] [--tokens words|bytes] [--vocab-size N]\n"
    "                      [--cell lstm|gru|rnn_tanh|rnn_relu|NAME] [--cell-lib FILE.so]\n"
    "                      [--layers N] [--hidden N] [--embed N] [--bidirectional]\n"
    "                      [--pool last|mean|max] [--dropout X] [--batch B] [--max-len N]\n"
    "                      [--steps N] [--optimizer sgd|adam|adamw] [--lr X] [--clip X]\n"
    "                      [--seed S] [--threads N] [--save FILE] [--init FILE | --resume FILE]\n"
    "                      [--log FILE.csv] [--plot FILE.svg]   (--steps 0: the initial weights)\n"
    "defaults: the five bundled novels, words (8000), lstm 1x128, embed 64, pool max,\n"
    "batch 32, 1500 steps, Adam lr 2e-3, clip 5, save seqclass.safetensors";

static int program_flags(train_opts *o, rg_flag *fl)
{
    const rg_flag own[] = {
        {"--data", RG_FLAG_STRING, &o->data, 0, 0, NULL, "labelled texts, LABEL<TAB>TEXT a line (default: the five novels)", RG_FLAG_SAVED | RG_FLAG_PATH | RG_FLAG_OVERRIDE, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &o->cell_lib, 0, 0, NULL, "a cell plugin (shared object) to load first", RG_FLAG_SAVED | RG_FLAG_PATH, 0, 0},
        {"--batch", RG_FLAG_INT, &o->batch, 1, 65536, NULL, "texts per step (default 32)", RG_FLAG_SAVED, 0, 0},
        {"--dropout", RG_FLAG_DOUBLE, &o->dropout, 0, 0.99, NULL, "dropout on the pooled features and between layers (default 0)", RG_FLAG_SAVED, 0, 0},
        {"--max-len", RG_FLAG_INT, &o->max_len, 1, 1e6, NULL, "texts are cut to this many tokens (default 400)", RG_FLAG_SAVED, 0, 0},
    };
    memcpy(fl, own, sizeof own);
    int n = (int)(sizeof own / sizeof own[0]);
    return n + sc_model_flags(&o->mo, fl + n);
}

static int next_batch(void *user, rg_rng *rng)
{
    sc_task *t = user;
    for (int64_t b = 0; b < t->B; b++)
        t->rows[b] = t->train_idx[rg_rng_below(rng, t->n_train)];
    return 0;
}

/* rows [b0,b1): their summed cross-entropy divided by the whole batch's count */
static rg_tensor *shard_loss(rg_tape *tp, void *user, int shard, int64_t b0, int64_t b1,
                             rg_rng *dropout)
{
    (void)shard;
    sc_task *t = user;
    const int32_t *lengths = NULL;
    rg_tensor *ids = sc_inputs(tp, &t->e, t->rows + b0, b1 - b0, &lengths);
    rg_tensor *y = rg_tensor_new(tp, RG_I32, RG_DIMS(b1 - b0));
    if (!ids || !y)
        return NULL;
    for (int64_t b = b0; b < b1; b++)
        ((int32_t *)y->data)[b - b0] = t->d.label[t->rows[b]];
    rg_tensor *ce = rg_cross_entropy(tp, sc_forward(tp, &t->m, ids, lengths, dropout), y, RG_SUM);
    return rg_mul_scalar(tp, ce, 1.0 / (double)t->B);
}

/* validation: the mean cross-entropy and the accuracy over the validation
 * split, in pieces of VAL_PIECE texts (split over the ranks by the core) */
enum { VAL_PIECE = 256 };

static int64_t val_pieces(void *user)
{
    const sc_task *t = user;
    return (t->n_val + VAL_PIECE - 1) / VAL_PIECE;
}

static int validate_piece(void *user, int64_t k, double *sum, double *count, double *right)
{
    sc_task *t = user;
    int64_t at = k * VAL_PIECE, n = t->n_val - at < VAL_PIECE ? t->n_val - at : VAL_PIECE;
    int64_t C = t->m.C;
    double *logp = t->val_logp + at * C;
    if (sc_classify(&t->m, &t->e, t->val_idx + at, n, logp) != 0)
        return -1;
    double s = 0;
    int64_t good = 0;
    for (int64_t j = 0; j < n; j++) {
        const double *lp = logp + j * C;
        int y = t->d.label[t->val_idx[at + j]], best = 0;
        for (int c = 1; c < C; c++)
            best = lp[c] > lp[best] ? c : best;
        s -= lp[y];
        good += best == y;
    }
    *sum = s;
    *count = (double)n;
    right[0] = (double)good;
    return 0;
}

static void val_done(void *user, const double *totals)
{
    sc_task *t = user;
    t->val_accuracy = t->n_val ? totals[0] / (double)t->n_val : NAN;
}

static rg_safetensors *model_file(void *user)
{
    sc_task *t = user;
    return sc_model_container(&t->m);
}

/* the data's checksum and size, so that a resumed run reads the same texts */
static int save_state(void *user, rg_safetensors *st)
{
    sc_task *t = user;
    char buf[32];
    snprintf(buf, sizeof buf, "%016" PRIx64, t->d.hash);
    int rc = rg_safetensors_set_meta(st, "data_fnv1a", buf);
    snprintf(buf, sizeof buf, "%lld", (long long)t->d.n);
    return rc ? rc : rg_safetensors_set_meta(st, "texts", buf);
}

static int load_state(void *user, const rg_safetensors *st, const char *file)
{
    sc_task *t = user;
    int64_t texts;
    char want[32];
    snprintf(want, sizeof want, "%016" PRIx64, t->d.hash);
    const char *hash = rg_safetensors_get_meta(st, "data_fnv1a");
    if (rg_meta_int(st, "texts", 1, 1e15, file, &texts) != 0)
        return -1;
    if (texts != t->d.n || !hash || strcmp(hash, want)) {
        rg_set_error("the data is not the data of the run being resumed (%lld texts, the run "
                     "read %lld with another checksum)", (long long)t->d.n, (long long)texts);
        return -1;
    }
    return 0;
}

static rg_fit_task fit_task(sc_task *t)
{
    return (rg_fit_task){.P = t->m.P, .user = t, .batch = t->B,
                         .units_per_step = (double)t->B, .unit = "texts",
                         .next_batch = next_batch, .shard_loss = shard_loss,
                         .val_pieces = val_pieces, .validate_piece = validate_piece,
                         .n_val_stats = 1, .val_stats_done = val_done, .model_file = model_file,
                         .save_state = save_state, .load_state = load_state};
}

static void task_free(sc_task *t)
{
    sc_encoded_free(&t->e);
    sc_data_free(&t->d);
    sc_model_free(&t->m);
    free(t->train_idx);
    free(t->val_idx);
    free(t->rows);
    free(t->val_logp);
    memset(t, 0, sizeof *t);
}

/* a new model, or the one of --init / --resume (its classes must be the data's) */
static int build_model(const train_opts *o, const rg_fit_config *fc, const rg_run *run,
                       sc_task *t)
{
    const char *from = rg_run_model_source(run);
    if (from) {
        if (sc_model_load(&t->m, from) != 0)
            return -1;
        bool same = t->m.C == t->d.n_class;
        for (int c = 0; c < t->m.C && same; c++)
            same = !strcmp(t->m.class_name[c], t->d.class_name[c]);
        if (!same) {
            rg_set_error("%s: the model's classes are not the labels of the data", from);
            return -1;
        }
    } else {
        rg_rng rng;
        sc_vocab v;
        rg_rng_seed(&rng, (uint64_t)fc->seed);
        if (sc_vocab_build(&v, &t->d, !strcmp(o->mo.tokens, "words"), (int)o->mo.vocab_size) != 0)
            return -1;
        if (sc_model_init(&t->m, &o->mo, &v, t->d.n_class, t->d.class_name, o->max_len,
                          &rng) != 0) {
            sc_vocab_free(&v);
            return -1;
        }
    }
    t->m.dropout = o->dropout;
    t->m.rnn->cfg.dropout = o->dropout;
    return 0;
}

/* the data, encoded, its splits and the step's buffers */
static int prepare(const train_opts *o, const rg_fit_config *fc, const rg_run *run, sc_task *t)
{
    t->B = o->batch;
    if (sc_data_read(&t->d, o->data) != 0 || build_model(o, fc, run, t) != 0 ||
        sc_encode_all(&t->e, &t->m.vocab, &t->d, t->m.max_len) != 0 ||
        sc_split_index(&t->d, SC_TRAIN, &t->train_idx, &t->n_train) != 0 ||
        sc_split_index(&t->d, SC_VAL, &t->val_idx, &t->n_val) != 0)
        return -1;
    t->val_accuracy = NAN; /* until a validation */
    t->rows = malloc((size_t)t->B * sizeof *t->rows);
    t->val_logp = malloc((size_t)(t->n_val * t->m.C + 1) * sizeof *t->val_logp);
    if (!t->rows || !t->val_logp) {
        rg_set_error("out of memory");
        return -1;
    }
    if (t->n_train == 0) {
        rg_set_error("the training split is empty");
        return -1;
    }
    return 0;
}

static void print_header(const train_opts *o, const sc_task *t)
{
    const sc_model *m = &t->m;
    printf("seqclass train: %s %dx%lld%s, pool %s, %s (V %lld, embed %lld), %lld classes, "
           "%lld parameters; %s: %lld train / %lld val / %lld test texts; batch %lld\n",
           m->cell->name, m->L, (long long)m->H, m->bidirectional ? " bidirectional" : "",
           sc_pool_names[m->pool], m->vocab.words ? "words" : "bytes", (long long)m->V, (long long)m->E,
           (long long)m->C, (long long)rg_params_numel(m->P), o->data ? o->data : "the novels",
           (long long)t->d.count[SC_TRAIN], (long long)t->d.count[SC_VAL],
           (long long)t->d.count[SC_TEST], (long long)t->B);
    fflush(stdout);
}

/* the data, the model and the task of a run opened by rg_run_open; then the run */
static int train(train_opts *o, rg_fit_config *fc, rg_run *run, sc_task *t)
{
    /* a resumed run's plugin, restored by rg_run_open, before its model loads */
    if (rg_run_resumed(run) && o->cell_lib && rg_cell_plugin_load(o->cell_lib) != 0)
        return -1;
    if (prepare(o, fc, run, t) != 0)
        return -1;
    print_header(o, t);
    rg_fit_task task = fit_task(t);
    const char *inputs[] = {o->data, NULL};
    char title[256];
    snprintf(title, sizeof title, "seqclass %s %dx%lld", t->m.cell->name, t->m.L,
             (long long)t->m.H);
    task.inputs = inputs;
    task.title = title;
    int status = rg_run_fit(run, &task);
    double loss, val_loss, rate;
    rg_run_results(run, &loss, &val_loss, &rate);
    if (status == 0)
        printf("train: steps=%lld loss=%.6f val_loss=%.6f val_accuracy=%.4f texts_per_s=%.1f "
               "saved=%s\n", (long long)fc->steps, loss, val_loss,
               t->val_accuracy, rate, fc->save);
    return status;
}

int seqclass_train_main(int argc, char **argv)
{
    train_opts o = {.mo = {.cell = "lstm", .pool = "max", .tokens = "words", .layers = 1,
                           .hidden = 128, .embed = 64, .vocab_size = 8000},
                    .batch = 32, .max_len = 400};
    rg_fit_config fc;
    rg_fit_defaults(&fc, "seqclass train", "seqclass.safetensors");
    fc.default_steps = 1500;
    fc.no_summary = true;
    rg_flag fl[48];
    int n = program_flags(&o, fl), status;
    n += rg_fit_flags(&fc, fl + n, 48 - n);
    if (!rg_flags_cli("seqclass train", usage_line, fl, n, argc, argv, 2, &status))
        return status;
    for (int i = 0; fc.init && i < n; i++)
        if (fl[i].seen && (fl[i].attr & RG_FLAG_MODEL))
            fprintf(stderr, "seqclass train: note: %s is ignored, the model of %s wins\n",
                    fl[i].name, fc.init);
    /* the plugin first, so --cell may name its cells (a resumed run's is restored later) */
    if (!fc.resume && ((o.cell_lib && rg_cell_plugin_load(o.cell_lib) != 0) ||
                       (!fc.init && !lm_cell_find(o.mo.cell, "--cell")))) {
        fprintf(stderr, "seqclass train: %s\n", rg_last_error());
        rg_flags_free(fl, n);
        return 2;
    }
    rg_run *run = rg_run_open(&fc, fl, n);
    sc_task t;
    memset(&t, 0, sizeof t);
    status = 1;
    if (!run)
        fprintf(stderr, "seqclass train: %s\n", rg_last_error());
    else if ((status = train(&o, &fc, run, &t)) < 0) {
        fprintf(stderr, "seqclass train: %s\n", rg_last_error());
        status = 1;
    }
    rg_run_close(run);
    task_free(&t);
    rg_flags_free(fl, n);
    return status;
}
