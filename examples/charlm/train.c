/* charlm train: the CharLM on a byte text, with a held-out tail for
 * validation.  The run itself (sharded steps, checkpoints, exact resume,
 * signals, log, plot, progress) is the training core's (rg_train.h); this file
 * is charlm's flags, its data and its model set-up.  The task (batches, loss)
 * is task.c's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "charlm.h"

typedef struct train_opts {
    const char *text, *cell, *cell_lib;
    int64_t layers, hidden, embed, unroll, batch;
    double dropout, val_fraction, epochs;
    bool carry;
} train_opts;

/* what train_main holds, freed in one place */
typedef struct train_state {
    charlm_vocab vocab;
    uint8_t *bytes;
    int32_t *ids;
    int64_t n_text, n_train, n_val;
    char *default_text;
    lm_model m;
    lm_task task;
} train_state;

static const char *usage_line =
    "usage: charlm train [--text FILE] [--cell lstm|gru|rnn_tanh|rnn_relu|NAME]\n"
    "                    [--cell-lib FILE.so] [--layers N] [--hidden N] [--embed N] [--unroll T] [--batch B] [--steps N | --epochs X]\n"
    "                    [--optimizer sgd|adam|adamw] [--lr X] [--clip X] [--dropout X]\n"
    "                    [--seed S] [--val-fraction X] [--threads N] [--save FILE]\n"
    "                    [--init FILE | --resume FILE] [--log FILE.csv] [--plot FILE.svg]";

static int program_flags(train_opts *o, rg_flag *fl)
{
    const rg_flag own[] = {
        {"--text", RG_FLAG_STRING, &o->text, 0, 0, NULL, "training text (default: data/pride_and_prejudice.txt)", RG_FLAG_SAVED | RG_FLAG_PATH | RG_FLAG_OVERRIDE, 0, 0},
        {"--cell", RG_FLAG_STRING, &o->cell, 0, 0, NULL, "lstm | gru | rnn_tanh | rnn_relu | a plugin's cell (default lstm)", RG_FLAG_MODEL, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &o->cell_lib, 0, 0, NULL, "a cell plugin (shared object) to load first", RG_FLAG_SAVED | RG_FLAG_PATH, 0, 0},
        {"--layers", RG_FLAG_INT, &o->layers, 1, 16, NULL, "recurrent layers (default 1)", RG_FLAG_MODEL, 0, 0},
        {"--hidden", RG_FLAG_INT, &o->hidden, 1, 8192, NULL, "hidden size (default 256)", RG_FLAG_MODEL, 0, 0},
        {"--embed", RG_FLAG_INT, &o->embed, 1, 8192, NULL, "embedding size (default 32)", RG_FLAG_MODEL, 0, 0},
        {"--unroll", RG_FLAG_INT, &o->unroll, 1, 100000, NULL, "BPTT length T (default 64)", RG_FLAG_SAVED, 0, 0},
        {"--batch", RG_FLAG_INT, &o->batch, 1, 65536, NULL, "windows per step (default 32)", RG_FLAG_SAVED, 0, 0},
        {"--epochs", RG_FLAG_DOUBLE, &o->epochs, 1e-9, 1e6, NULL, "passes over the training text instead of --steps", 0, 0, 0},
        {"--dropout", RG_FLAG_DOUBLE, &o->dropout, 0, 0.99, NULL, "dropout between layers (default 0)", RG_FLAG_SAVED, 0, 0},
        {"--val-fraction", RG_FLAG_DOUBLE, &o->val_fraction, 0, 0.9, NULL, "held-out tail of the text; 0 = none (default 0.1)", RG_FLAG_SAVED, 0, 0},
        {"--carry-state", RG_FLAG_BOOL, &o->carry, 0, 0, NULL, "read the text as batch streams, carrying the state", RG_FLAG_SAVED, 0, 0},
    };
    memcpy(fl, own, sizeof own);
    return (int)(sizeof own / sizeof own[0]);
}

/* the split of the text into training and validation parts */
static int split_text(const train_opts *o, train_state *s)
{
    s->n_val = (int64_t)floor((double)s->n_text * o->val_fraction);
    s->n_train = s->n_text - s->n_val;
    if (o->val_fraction > 0 && s->n_val < 2) {
        rg_set_error("--val-fraction %g of %lld bytes leaves fewer than 2 bytes to validate on",
                     o->val_fraction, (long long)s->n_text);
        return -1;
    }
    int64_t need = o->carry ? o->batch * (o->unroll + 1) : o->unroll + 1;
    if (s->n_train < need) {
        rg_set_error("the training text has %lld bytes; --unroll %lld%s needs at least %lld",
                     (long long)s->n_train, (long long)o->unroll,
                     o->carry ? " with --carry-state and this --batch" : "", (long long)need);
        return -1;
    }
    return 0;
}

/* a new model, or the one of --init / --resume; then the text encoded with its vocabulary */
static int build_model(const train_opts *o, const rg_fit_config *fc, const rg_run *run,
                       train_state *s)
{
    const char *from = rg_run_model_source(run);
    if (from) {
        if (charlm_load(&s->m, &s->vocab, from) != 0)
            return -1;
        s->m.rnn->cfg.dropout = o->dropout;
        s->m.dropout = o->dropout;
    } else {
        rg_rng init_rng;
        rg_rng_seed(&init_rng, (uint64_t)fc->seed);
        charlm_vocab_from_text(&s->vocab, s->bytes, s->n_text);
        if (lm_model_init(&s->m, lm_cell_find(o->cell, "--cell"), s->vocab.n, o->embed, o->hidden,
                          (int)o->layers, o->dropout, RG_F32, &init_rng) != 0 ||
            charlm_set_vocab(&s->m, &s->vocab) != 0)
            return -1;
    }
    s->ids = malloc((size_t)s->n_text * sizeof *s->ids);
    if (!s->ids) {
        rg_set_error("out of memory");
        return -1;
    }
    return charlm_encode(&s->vocab, s->bytes, s->n_text, s->ids, o->text);
}

static void print_header(const train_opts *o, const train_state *s)
{
    const lm_model *m = &s->m;
    printf("charlm train: %s %dx%lld (embed %lld, %lld parameters), vocab %lld, text %s "
           "(%lld train + %lld val bytes), batch %lld x unroll %lld\n", m->cell->name, m->L,
           (long long)m->H, (long long)m->E, (long long)rg_params_numel(m->P), (long long)m->V,
           o->text, (long long)s->n_train, (long long)s->n_val, (long long)o->batch,
           (long long)o->unroll);
    fflush(stdout);
}

/* the data, the model and the task of a run opened by rg_run_open; then the run */
static int train(train_opts *o, rg_fit_config *fc, rg_flag *fl, int n, rg_run *run,
                 train_state *s)
{
    /* a resumed run's plugin, restored by rg_run_open, before its model loads */
    if (rg_run_resumed(run) && o->cell_lib && rg_cell_plugin_load(o->cell_lib) != 0)
        return -1;
    if (!o->text && !(o->text = s->default_text = prog_data_path("pride_and_prejudice.txt"))) {
        rg_set_error("out of memory");
        return -1;
    }
    if (rg_file_read_all(o->text, &s->bytes, &s->n_text) != 0 ||
        build_model(o, fc, run, s) != 0 || split_text(o, s) != 0 ||
        lm_task_init(&s->task, &s->m, s->ids, s->n_train, s->n_val, o->unroll, o->batch,
                     o->carry, "retrograd charlm 1") != 0)
        return -1;
    s->task.text_hash = lm_fnv1a(s->bytes, s->n_text);
    s->task.text_bytes = s->n_text;
    if (rg_flags_seen(fl, n, "--epochs"))
        fc->steps = (int64_t)ceil(o->epochs * (double)s->n_train /
                                  (double)(o->batch * o->unroll));
    print_header(o, s);
    rg_fit_task task = lm_fit_task(&s->task, false);
    const char *inputs[] = {o->text, NULL};
    char title[512];
    snprintf(title, sizeof title, "charlm %s %dx%lld", s->m.cell->name, s->m.L,
             (long long)s->m.H);
    task.inputs = inputs;
    task.title = title;
    return rg_run_fit(run, &task);
}

int charlm_train_main(int argc, char **argv)
{
    train_opts o = {.cell = "lstm", .layers = 1, .hidden = 256, .embed = 32, .unroll = 64,
                    .batch = 32, .val_fraction = 0.1};
    rg_fit_config fc;
    rg_fit_defaults(&fc, "charlm train", "charlm.safetensors");
    fc.default_steps = 4000;
    rg_flag fl[40];
    int n = program_flags(&o, fl), status;
    n += rg_fit_flags(&fc, fl + n, 40 - n);
    if (!rg_flags_cli("charlm train", usage_line, fl, n, argc, argv, 2, &status))
        return status;
    if (rg_flags_seen(fl, n, "--steps") && rg_flags_seen(fl, n, "--epochs")) {
        fprintf(stderr, "charlm train: give --steps or --epochs, not both\n");
        return 2;
    }
    for (int i = 0; fc.init && i < n; i++)
        if (fl[i].seen && (fl[i].attr & RG_FLAG_MODEL))
            fprintf(stderr, "charlm train: note: %s is ignored, the sizes of %s win\n",
                    fl[i].name, fc.init);
    /* the plugin first, so --cell may name its cells (a resumed run's is restored later) */
    if (!fc.resume && ((o.cell_lib && rg_cell_plugin_load(o.cell_lib) != 0) ||
                       (!fc.init && !lm_cell_find(o.cell, "--cell")))) {
        fprintf(stderr, "charlm train: %s\n", rg_last_error());
        rg_flags_free(fl, n);
        return 2;
    }
    rg_run *run = rg_run_open(&fc, fl, n);
    train_state s;
    memset(&s, 0, sizeof s);
    status = 1;
    if (!run)
        fprintf(stderr, "charlm train: %s\n", rg_last_error());
    else if ((status = train(&o, &fc, fl, n, run, &s)) < 0) {
        fprintf(stderr, "charlm train: %s\n", rg_last_error());
        status = 1;
    }
    rg_run_close(run);
    lm_task_free(&s.task);
    lm_model_free(&s.m);
    free(s.bytes);
    free(s.ids);
    free(s.default_text);
    rg_flags_free(fl, n);
    return status;
}
