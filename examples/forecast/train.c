/* forecast train: the model on the training span of a series, on the
 * training core (sharded steps, checkpoints, exact resume, signals, log, plot,
 * progress are rg_train.h's).  This file is the program's flags, its training
 * task (windows, loss, validation, checkpoint) and the order of a run.
 *
 * A step draws `batch` origins uniformly from the training span (every window
 * and its targets inside [0, n_fit)); the loss is the mean over the batch.
 * Validation: the same loss over the first half of the held-out tail's rolling
 * origins (reported, never used to choose anything); when training ends, the
 * model is evaluated like `forecast eval` on the whole tail. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"

typedef struct train_opts {
    fc_source src;
    fc_model_opts mo;
    const char *cell_lib;
    int64_t batch;
    int n_data, n_model; /* the flag table starts with the data flags, then the model's */
} train_opts;

/* the training task: what the core's callbacks get */
typedef struct fc_task {
    fc_model m;
    fc_series s;
    double *z;           /* the standardised series */
    int64_t W, B;        /* training windows (origins lookback .. lookback+W-1), batch */
    double *x, *tg;      /* the step's windows [B][lookback*I] and targets [B][horizon*Q] */
    int64_t val_o0, val_n;
    double *val_out;     /* [val_n][horizon*Q] */
    uint64_t hash;       /* of the series, to tell a resumed run reads the same one */
    rg_flag *data_fl;    /* the data flags, for the checkpoint */
    int n_data;
} fc_task;

static const char *usage_line =
    "usage: forecast train [--series co2|sunspots | --csv FILE --column NAME [--date-column NAME]]\n"
    "                      [--season N] [--cell lstm|gru|rnn_tanh|rnn_relu|NAME] [--cell-lib FILE.so]\n"
    "                      [--layers N] [--hidden N] [--lookback N] [--horizon N]\n"
    "                      [--quantiles 0.1,0.5,0.9] [--calendar] [--batch B] [--steps N]\n"
    "                      [--optimizer sgd|adam|adamw] [--lr X] [--clip X] [--seed S]\n"
    "                      [--threads N] [--save FILE] [--init FILE | --resume FILE]\n"
    "                      [--log FILE.csv] [--plot FILE.svg]";

static int next_batch(void *user, rg_rng *rng)
{
    fc_task *t = user;
    int64_t LI = t->m.lookback * t->m.I, HQ = t->m.horizon * t->m.Q;
    for (int64_t b = 0; b < t->B; b++) {
        int64_t o = t->m.lookback + (int64_t)rg_rng_below(rng, (uint64_t)t->W);
        fc_window(&t->m, &t->s, t->z, o, t->x + b * LI, t->tg + b * HQ);
    }
    return 0;
}

/* rows [b0,b1): the loss summed over them, divided by the whole batch's count */
static rg_tensor *shard_loss(rg_tape *tp, void *user, int shard, int64_t b0, int64_t b1,
                             rg_rng *dropout)
{
    (void)shard;
    (void)dropout;
    fc_task *t = user;
    rg_tensor *pred = fc_forward(tp, &t->m, fc_inputs(tp, &t->m, t->x, b0, b1));
    return fc_loss(tp, &t->m, pred, fc_targets(tp, &t->m, t->tg, b0, b1),
                   1.0 / (double)(t->B * t->m.horizon * t->m.Q));
}

static int validate(void *user, double *loss)
{
    fc_task *t = user;
    return fc_forecast(&t->m, &t->s, t->val_o0, t->val_n, t->val_out, loss);
}

static rg_safetensors *model_file(void *user)
{
    fc_task *t = user;
    return fc_model_container(&t->m, t->data_fl, t->n_data);
}

static int save_state(void *user, rg_safetensors *st)
{
    fc_task *t = user;
    char buf[32];
    snprintf(buf, sizeof buf, "%016" PRIx64, t->hash);
    int rc = rg_safetensors_set_meta(st, "series_fnv1a", buf);
    snprintf(buf, sizeof buf, "%lld", (long long)t->s.n);
    return rc ? rc : rg_safetensors_set_meta(st, "series_values", buf);
}

static int load_state(void *user, const rg_safetensors *st, const char *file)
{
    fc_task *t = user;
    int64_t n = 0;
    char want[32];
    snprintf(want, sizeof want, "%016" PRIx64, t->hash);
    const char *hash = rg_safetensors_get_meta(st, "series_fnv1a");
    if (rg_meta_int(st, "series_values", 1, 1e12, file, &n) != 0)
        return -1;
    if (n != t->s.n || !hash || strcmp(hash, want)) {
        rg_set_error("the series is not the series of the run being resumed (%lld values; the "
                     "run read %lld values, or other ones)", (long long)t->s.n, (long long)n);
        return -1;
    }
    return 0;
}

static int program_flags(train_opts *o, rg_flag *fl)
{
    int n = o->n_data = fc_source_flags(&o->src, fl, RG_FLAG_SAVED);
    n += o->n_model = fc_model_flags(&o->mo, fl + n);
    const rg_flag own[] = {
        {"--batch", RG_FLAG_INT, &o->batch, 1, 65536, NULL, "windows per step (default 32)", RG_FLAG_SAVED, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &o->cell_lib, 0, 0, NULL, "a cell plugin (shared object) to load first", RG_FLAG_SAVED | RG_FLAG_PATH, 0, 0},
    };
    memcpy(fl + n, own, sizeof own);
    return n + (int)(sizeof own / sizeof own[0]);
}

/* mean and population standard deviation of the training span */
static int standardisation(fc_model *m, const fc_series *s)
{
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < s->n_fit; i++)
        sum += s->y[i];
    m->mean = sum / (double)s->n_fit;
    for (int64_t i = 0; i < s->n_fit; i++)
        sq += (s->y[i] - m->mean) * (s->y[i] - m->mean);
    m->std = sqrt(sq / (double)s->n_fit);
    if (!(m->std > 0)) {
        rg_set_error("the training span's values are all equal (%g): nothing to forecast",
                     m->mean);
        return -1;
    }
    return 0;
}

/* a new model (sizes from the flags, the season's defaults), or --init's / --resume's */
static int build_model(train_opts *o, rg_flag *model_fl, int n_model, const rg_fit_config *fc,
                       const rg_run *run, fc_task *t)
{
    const char *from = rg_run_model_source(run);
    if (from)
        return fc_model_load(&t->m, &o->mo, model_fl, n_model, from);
    int64_t p = o->src.period;
    if (!o->mo.lookback)
        o->mo.lookback = 2 * p > 8 ? 2 * p : 8;
    if (!o->mo.horizon)
        o->mo.horizon = p;
    rg_rng rng;
    rg_rng_seed(&rng, (uint64_t)fc->seed);
    return fc_model_init(&t->m, &o->mo, &rng) != 0 ? -1 : standardisation(&t->m, &t->s);
}

/* the windows of the training span, the validation origins and the buffers */
static int plan(fc_task *t, int64_t batch)
{
    const fc_model *m = &t->m;
    int64_t count;
    if (fc_test_origins(m, &t->s, &t->val_o0, &count) != 0)
        return -1;
    t->W = t->s.n_fit - m->horizon - m->lookback + 1;
    if (t->W < 1) {
        rg_set_error("the training span (%lld values) holds no window of --lookback %lld + "
                     "--horizon %lld values", (long long)t->s.n_fit, (long long)m->lookback,
                     (long long)m->horizon);
        return -1;
    }
    t->B = batch;
    t->val_n = count / 2 > 0 ? count / 2 : 1;
    int64_t HQ = m->horizon * m->Q;
    t->x = malloc((size_t)(batch * m->lookback * m->I) * sizeof *t->x);
    t->tg = malloc((size_t)(batch * HQ) * sizeof *t->tg);
    t->val_out = malloc((size_t)(t->val_n * HQ) * sizeof *t->val_out);
    t->z = fc_standardise(m, &t->s);
    if (!t->x || !t->tg || !t->val_out || !t->z) {
        rg_set_error("out of memory");
        return -1;
    }
    t->hash = fc_series_hash(&t->s);
    return 0;
}

static void print_header(const train_opts *o, const fc_task *t)
{
    const fc_model *m = &t->m;
    char gaps[96] = "none missing";
    if (t->s.n_missing)
        snprintf(gaps, sizeof gaps, "%lld missing, filled by linear interpolation",
                 (long long)t->s.n_missing);
    printf("forecast train: %s, column %s: %lld values (%s), %lld train, the last %lld held "
           "out\n", o->src.path, o->src.value_col, (long long)t->s.n, gaps,
           (long long)t->s.n_fit, (long long)(t->s.n - t->s.n_fit));
    printf("forecast train: %s %lldx%lld (%lld parameters), lookback %lld, horizon %lld, %s%s, "
           "%lld windows, batch %lld\n", m->cell->name, (long long)m->L, (long long)m->H,
           (long long)rg_params_numel(m->P), (long long)m->lookback, (long long)m->horizon,
           m->pinball ? "pinball loss of quantiles " : "MSE",
           m->pinball ? o->mo.quantiles : "", (long long)t->W, (long long)t->B);
    fflush(stdout);
}

/* --steps 0: the initial weights only (for --init, or a twin in another framework) */
static int write_initial(const fc_task *t, const char *path)
{
    rg_safetensors *st = fc_model_container(&t->m, t->data_fl, t->n_data);
    int rc = st && rg_file_check_output(path, "--save") == 0 &&
                     rg_safetensors_write(st, path, RG_F32) == 0 ? 0 : -1;
    rg_safetensors_free(st);
    if (rc == 0)
        printf("forecast train: --steps 0: wrote the initial weights to %s\n", path);
    return rc;
}

/* the data, the model and the task of a run opened by rg_run_open; then the run */
static int train(train_opts *o, rg_fit_config *fc, rg_flag *fl, int n, rg_run *run, fc_task *t)
{
    /* a resumed run's plugin, restored by rg_run_open, before its model loads */
    if (rg_run_resumed(run) && o->cell_lib && rg_cell_plugin_load(o->cell_lib) != 0)
        return -1;
    bool both = rg_flags_seen(fl, n, "--series") && rg_flags_seen(fl, n, "--csv");
    if (fc_source_resolve(&o->src, both) != 0 || fc_series_read(&t->s, &o->src) != 0 ||
        build_model(o, fl + o->n_data, o->n_model, fc, run, t) != 0 || plan(t, o->batch) != 0 ||
        fc_check_season(&t->s, o->src.period) != 0)
        return -1;
    t->data_fl = fl;
    t->n_data = o->n_data;
    if (!fc->resume && rg_flags_seen(fl, n, "--steps") && fc->steps == 0)
        return write_initial(t, fc->save);
    print_header(o, t);
    const char *inputs[] = {o->src.path, NULL};
    char title[256];
    snprintf(title, sizeof title, "forecast %s %s %lldx%lld", o->src.csv ? o->src.csv : o->src.series,
             t->m.cell->name, (long long)t->m.L, (long long)t->m.H);
    rg_fit_task task = {.P = t->m.P, .user = t, .batch = t->B, .units_per_step = (double)t->B,
                        .unit = "windows", .title = title, .inputs = inputs,
                        .next_batch = next_batch, .shard_loss = shard_loss, .validate = validate,
                        .model_file = model_file, .save_state = save_state,
                        .load_state = load_state};
    int status = rg_run_fit(run, &task);
    if (status == 0 && rg_run_step(run) == fc->steps && fc_evaluate(&t->m, &t->s, o->src.period) != 0)
        return -1;
    return status;
}

static void task_free(fc_task *t)
{
    fc_model_free(&t->m);
    fc_series_free(&t->s);
    free(t->z);
    free(t->x);
    free(t->tg);
    free(t->val_out);
}

int forecast_train_main(int argc, char **argv)
{
    train_opts o = {.src = {.series = "co2"}, .mo = {.cell = "lstm", .layers = 1, .hidden = 32},
                    .batch = 32};
    rg_fit_config fc;
    rg_fit_defaults(&fc, "forecast train", "forecast.safetensors");
    fc.default_steps = 500;
    fc.clip = 1.0;
    rg_flag fl[48];
    int n = program_flags(&o, fl), status;
    n += rg_fit_flags(&fc, fl + n, 48 - n);
    rg_flags_find(fl, n, "--steps")->help =
        "optimizer steps (default 500; 0: write the initial weights and stop)";
    rg_flags_find(fl, n, "--clip")->help = "clip the global gradient norm; 0 = off (default 1)";
    rg_flags_find(fl, n, "--lr")->help = "learning rate (default 2e-3)";
    if (!rg_flags_cli("forecast train", usage_line, fl, n, argc, argv, 2, &status))
        return status;
    for (int i = 0; fc.init && i < n; i++)
        if (fl[i].seen && (fl[i].attr & RG_FLAG_MODEL))
            fprintf(stderr, "forecast train: note: %s is ignored, the settings of %s win\n",
                    fl[i].name, fc.init);
    /* the plugin first, so --cell may name its cells (a resumed run's is restored later) */
    if (!fc.resume && o.cell_lib && rg_cell_plugin_load(o.cell_lib) != 0) {
        fprintf(stderr, "forecast train: %s\n", rg_last_error());
        rg_flags_free(fl, n);
        return 2;
    }
    rg_run *run = rg_run_open(&fc, fl, n);
    fc_task t;
    memset(&t, 0, sizeof t);
    status = 1;
    if (!run)
        fprintf(stderr, "forecast train: %s\n", rg_last_error());
    else if ((status = train(&o, &fc, fl, n, run, &t)) < 0) {
        fprintf(stderr, "forecast train: %s\n", rg_last_error());
        status = 1;
    }
    rg_run_close(run);
    task_free(&t);
    free(o.src.owned);
    rg_flags_free(fl, n);
    return status;
}
