/* A run from its flags to its last checkpoint: checks before any work, the
 * loop (steps, validation, log, progress, periodic saves), signals, the plot
 * and the final line.  The checkpoint pair itself is checkpoint.c's. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run_internal.h"

static volatile sig_atomic_t g_signal;

static void on_signal(int sig)
{
    g_signal = sig;
}

void rg_fit_defaults(rg_fit_config *c, const char *prog, const char *save)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    *c = (rg_fit_config){.prog = prog, .out = stdout, .err = stderr, .default_steps = 1000,
                         .optimizer = "adam", .lr = 2e-3, .weight_decay = -1,
                         .schedule = "constant", .clip = 5.0, .seed = 1,
                         .threads = ncpu > 8 ? 8 : ncpu < 1 ? 1 : ncpu, .save = save,
                         .save_every = 500, .log_every = 10, .micro_shards = 8};
}

int rg_fit_flags(rg_fit_config *c, rg_flag *fl, int room)
{
    const rg_flag core[] = {
        {"--steps", RG_FLAG_INT, &c->steps, 0, 1e12, NULL, "optimizer steps (0: the default)", 0, 0, 0},
        {"--optimizer", RG_FLAG_CHOICE, &c->optimizer, 0, 0, "sgd|adam|adamw", "sgd | adam | adamw (default adam)", RG_FLAG_SAVED, 0, 0},
        {"--lr", RG_FLAG_DOUBLE, &c->lr, 0, 1e300, NULL, "learning rate", RG_FLAG_SAVED, 0, 0},
        {"--weight-decay", RG_FLAG_DOUBLE, &c->weight_decay, 0, 1e300, NULL, "weight decay (default: 0, adamw 0.01)", RG_FLAG_SAVED, 0, 0},
        {"--schedule", RG_FLAG_CHOICE, &c->schedule, 0, 0, "constant|cosine", "constant | cosine (default constant)", RG_FLAG_SAVED, 0, 0},
        {"--warmup", RG_FLAG_INT, &c->warmup, 0, 1e12, NULL, "linear warm-up steps (default 0)", RG_FLAG_SAVED, 0, 0},
        {"--clip", RG_FLAG_DOUBLE, &c->clip, 0, 1e300, NULL, "clip the global gradient norm; 0 = off (default 5)", RG_FLAG_SAVED, 0, 0},
        {"--seed", RG_FLAG_INT, &c->seed, 0, 9.2e18, NULL, "random seed (default 1)", RG_FLAG_SAVED, 0, 0},
        {"--threads", RG_FLAG_INT, &c->threads, 1, 1024, NULL, "threads, one batch shard each (default: CPUs, at most 8)", 0, 0, 0},
        {"--deterministic", RG_FLAG_BOOL, &c->deterministic, 0, 0, NULL, "fixed micro-shards: the same bits for any number of threads and ranks", RG_FLAG_SAVED, 0, 0},
        {"--micro-shards", RG_FLAG_INT, &c->micro_shards, 1, 64, NULL, "micro-shards of --deterministic (default 8)", RG_FLAG_SAVED, 0, 0},
        {"--save", RG_FLAG_STRING, &c->save, 0, 0, NULL, "checkpoint (its resume file goes beside it)", 0, 0, 0},
        {"--save-every", RG_FLAG_INT, &c->save_every, 0, 1e12, NULL, "steps between checkpoints; 0 = end only (default 500)", 0, 0, 0},
        {"--eval-every", RG_FLAG_INT, &c->eval_every, 0, 1e12, NULL, "steps between validations (default steps/3)", 0, 0, 0},
        {"--log-every", RG_FLAG_INT, &c->log_every, 1, 1e12, NULL, "steps between log rows (default 10)", 0, 0, 0},
        {"--init", RG_FLAG_STRING, &c->init, 0, 0, NULL, "start from this checkpoint (its sizes and vocabulary)", 0, 0, 0},
        {"--resume", RG_FLAG_STRING, &c->resume, 0, 0, NULL, "continue the run saved in this checkpoint", 0, 0, 0},
        {"--log", RG_FLAG_STRING, &c->log, 0, 0, NULL, "CSV: step, train loss, val loss, lr, speed", 0, 0, 0},
        {"--plot", RG_FLAG_STRING, &c->plot, 0, 0, NULL, "SVG plot of train/val loss against step", 0, 0, 0},
        {"--stop-after", RG_FLAG_INT, &c->stop_after, 1, 1e12, NULL, "stop (and save) after this step", RG_FLAG_HIDDEN, 0, 0},
    };
    int n = (int)(sizeof core / sizeof core[0]);
    if (room < n)
        return 0;
    memcpy(fl, core, sizeof core);
    return n;
}

static uint64_t new_run_id(void)
{
    uint64_t id = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &id, sizeof id) != (ssize_t)sizeof id)
            id = 0;
        close(fd);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rg_rng g;
    rg_rng_seed(&g, id ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                        ((uint64_t)getpid() << 40));
    return rg_rng_next(&g);
}

rg_run *rg_run_open(rg_fit_config *c, rg_flag *fl, int n)
{
    if (c->init && c->resume) {
        rg_set_error("give --init or --resume, not both");
        return NULL;
    }
    for (int i = 0; c->resume && i < n; i++)
        if (fl[i].seen && (fl[i].attr & (RG_FLAG_SAVED | RG_FLAG_MODEL)) &&
            !(fl[i].attr & RG_FLAG_OVERRIDE)) {
            rg_set_error("%s cannot be given with --resume (a resumed run keeps its settings)",
                         fl[i].name);
            return NULL;
        }
    rg_run *r = calloc(1, sizeof *r);
    if (!r) {
        rg_set_error("out of memory");
        return NULL;
    }
    r->c = c;
    r->fl = fl;
    r->n_flags = n;
    r->lock_fd = -1;
    r->last_val = NAN;
    r->last_saved = -1;
    if (c->resume) {
        r->resumed = true;
        if (rg_run_read_resume(r) != 0) {
            char msg[1024];
            snprintf(msg, sizeof msg, "cannot resume: %s", rg_last_error());
            rg_set_error("%s", msg);
            rg_run_close(r);
            return NULL;
        }
        if (!rg_flags_seen(fl, n, "--save"))
            c->save = c->resume;
        r->last_saved = r->step;
    } else {
        r->run_id = new_run_id();
    }
    return r;
}

const char *rg_run_model_source(const rg_run *r)
{
    return r->c->resume ? r->c->resume : r->c->init;
}

bool rg_run_resumed(const rg_run *r)
{
    return r->resumed;
}

int64_t rg_run_step(const rg_run *r)
{
    return r->step;
}

void rg_run_close(rg_run *r)
{
    if (!r)
        return;
    rg_trainer_free(r->tr);
    rg_safetensors_free(r->resume_st);
    if (r->log)
        fclose(r->log);
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    free(r->resume_path);
    free(r->train_path);
    free(r->train_hist.x);
    free(r->train_hist.y);
    free(r->val_hist.x);
    free(r->val_hist.y);
    free(r);
}

void rg_run_results(const rg_run *r, double *loss, double *val_loss, double *rate)
{
    double m = 0;
    for (int i = 0; i < r->n_recent; i++)
        m += r->recent[i];
    if (loss)
        *loss = r->n_recent ? m / r->n_recent : NAN;
    if (val_loss)
        *val_loss = r->last_val;
    if (rate)
        *rate = r->train_seconds > 0 ? r->task->units_per_step *
                                           (double)(r->step - r->start_step) / r->train_seconds
                                     : 0;
}

/* ---- before training ------------------------------------------------------------- */

static void fail(const rg_run *r, const char *what)
{
    /* a collective failure is told by rank 0; another rank tells only its own */
    if (rg_dist_rank() > 0 && strstr(rg_last_error(), "another rank failed"))
        return;
    fprintf(r->c->err, "%s: %s%s%s\n", r->c->prog, what ? what : "", what ? ": " : "",
            rg_last_error());
}

/* The outputs are writable and are none of the inputs, nor each other. */
static int check_outputs(rg_run *r)
{
    const rg_fit_config *c = r->c;
    const char *out[4] = {c->save, r->train_path, c->log, c->plot};
    const char *what[4] = {"--save", "--save (its resume file)", "--log", "--plot"};
    for (int i = 0; i < 4; i++) {
        if (!out[i])
            continue;
        if (rg_file_check_output(out[i], what[i]) != 0)
            return -1;
        for (int j = 0; r->task->inputs && r->task->inputs[j]; j++)
            if (rg_file_same(out[i], r->task->inputs[j])) {
                rg_set_error("%s %s is the input %s; it would be overwritten", what[i], out[i],
                             r->task->inputs[j]);
                return -1;
            }
        for (int j = 0; j < i; j++)
            if (out[j] && rg_file_same(out[i], out[j])) {
                rg_set_error("%s and %s name the same file %s", what[j], what[i], out[i]);
                return -1;
            }
    }
    return 0;
}

static int make_trainer(rg_run *r)
{
    rg_fit_config *c = r->c;
    rg_optim_kind kind = !strcmp(c->optimizer, "sgd")     ? RG_SGD
                         : !strcmp(c->optimizer, "adamw") ? RG_ADAMW
                                                          : RG_ADAM;
    rg_trainer_config tc = {.optim = rg_optim_defaults(kind, c->lr), .clip = c->clip,
                            .threads = (int)c->threads, .seed = (uint64_t)c->seed,
                            .micro_shards = c->deterministic ? (int)c->micro_shards : 0};
    if (c->weight_decay >= 0)
        tc.optim.weight_decay = c->weight_decay;
    c->weight_decay = tc.optim.weight_decay;
    r->tr = rg_trainer_new(r->task, &tc);
    if (!r->tr)
        return -1;
    return r->resumed ? rg_run_load_resume_tensors(r) : 0;
}

/* Everything checked and set up before the first step. */
static int prepare(rg_run *r, rg_lr_schedule *sched)
{
    rg_fit_config *c = r->c;
    /* --steps 0 given: no step at all, the initial weights saved (a twin's start) */
    if (c->steps <= 0 && !rg_flags_seen(r->fl, r->n_flags, "--steps"))
        c->steps = c->default_steps;
    if (c->eval_every == 0)
        c->eval_every = c->steps >= 3 ? c->steps / 3 : 1;
    if (!(r->train_path = rg_train_state_path(c->save))) {
        rg_set_error("out of memory");
        return -1;
    }
    bool root = rg_dist_rank() == 0;
    if ((root && (check_outputs(r) != 0 || rg_run_lock(r) != 0)) || make_trainer(r) != 0)
        return -1;
    if (r->resumed && r->step >= c->steps) {
        rg_set_error("%s is already at step %lld; give --steps above that to continue",
                     c->resume, (long long)r->step);
        return -1;
    }
    *sched = (rg_lr_schedule){.kind = strcmp(c->schedule, "cosine") ? RG_SCHED_CONSTANT
                                                                    : RG_SCHED_COSINE,
                              .base_lr = c->lr,
                              .t_max = c->steps > c->warmup ? c->steps - c->warmup : 1,
                              .warmup = c->warmup};
    if (rg_lr_schedule_check(sched) != 0)
        return -1;
    if (c->log && root) {
        r->log = fopen(c->log, r->resumed ? "a" : "w");
        if (!r->log) {
            rg_set_error("cannot write --log %s: %s", c->log, strerror(errno));
            return -1;
        }
        if (ftell(r->log) == 0)
            fprintf(r->log, "step,train_loss,val_loss,lr,%s_per_s\n", r->task->unit);
    }
    return 0;
}

/* The checkpoint pair, written by rank 0; every rank learns whether it worked. */
static int save_all(rg_run *r)
{
    if (rg_dist_size() > 1 && r->task->gather_state)
        r->task->gather_state(r->task->user);
    int rc = rg_dist_rank() == 0 ? rg_run_save(r) : 0;
    if (rg_dist_size() > 1) {
        double shared = rc;
        rg_dist_broadcast(&shared, sizeof shared, 0);
        if (shared != 0 && rc == 0) {
            rg_set_error("another rank failed (its message is above)");
            return -1;
        }
        r->last_saved = r->step;
    }
    return rc;
}

/* Whether to stop before the next step: a signal on any rank, or --stop-after. */
static bool should_stop(rg_run *r)
{
    double sig[2] = {g_signal == SIGINT, g_signal == SIGTERM};
    rg_dist_sum(sig, 2);
    r->stop_sig = sig[1] > 0 ? SIGTERM : sig[0] > 0 ? SIGINT : 0;
    return r->stop_sig || (r->c->stop_after && r->step >= r->c->stop_after);
}

/* ---- the loop ---------------------------------------------------------------------- */

static int push(rg_history *h, double x, double y)
{
    if (h->n == h->cap) {
        int64_t nc = h->cap ? 2 * h->cap : 256;
        double *nx = realloc(h->x, (size_t)nc * sizeof *nx);
        if (nx)
            h->x = nx;
        double *ny = nx ? realloc(h->y, (size_t)nc * sizeof *ny) : NULL;
        if (ny)
            h->y = ny;
        if (!nx || !ny)
            return -1;
        h->cap = nc;
    }
    h->x[h->n] = x;
    h->y[h->n] = y;
    h->n++;
    return 0;
}

static double metric(const rg_run *r, double val_loss)
{
    return r->task->metric_of && !isnan(val_loss) ? r->task->metric_of(val_loss) : val_loss;
}

/* validation split over the ranks, summed in piece order; NaN without pieces */
static int validate_split(rg_run *r, double *loss)
{
    const rg_fit_task *task = r->task;
    int64_t U = task->val_pieces(task->user), N = rg_dist_size(), me = rg_dist_rank();
    int S = task->n_val_stats > 0 ? task->n_val_stats : 0;
    int64_t w = 2 + S; /* per piece: sum, count, stats */
    *loss = NAN;
    if (U <= 0)
        return 0;
    if (S > RG_VAL_STATS) {
        rg_set_error("validation: %d statistics per piece (at most %d)", S, RG_VAL_STATS);
        return -1;
    }
    double *a = calloc((size_t)(w * U + 1), sizeof *a);
    if (!a) { /* the others wait in the sum below: end the job */
        fprintf(stderr, "validation: out of memory for %lld pieces\n", (long long)U);
        rg_dist_abort(1);
        rg_set_error("validation: out of memory for %lld pieces", (long long)U);
        return -1;
    }
    char msg[1024] = "";
    for (int64_t k = U * me / N; k < U * (me + 1) / N; k++)
        if (task->validate_piece(task->user, k, &a[w * k], &a[w * k + 1], &a[w * k + 2]) != 0) {
            snprintf(msg, sizeof msg, "validation: %s", rg_last_error());
            a[w * U] = 1;
            break;
        }
    for (int64_t at = 0; at < w * U + 1; at += 1 << 20)
        rg_dist_sum(a + at, (int)(w * U + 1 - at < (1 << 20) ? w * U + 1 - at : 1 << 20));
    double tot[2 + RG_VAL_STATS] = {0};
    for (int64_t k = 0; k < U; k++)
        for (int j = 0; j < w; j++)
            tot[j] += a[w * k + j];
    bool failed = a[w * U] > 0;
    free(a);
    if (failed) {
        rg_set_error("%s", msg[0] ? msg : "another rank failed (its message is above)");
        return -1;
    }
    if (S > 0 && task->val_stats_done)
        task->val_stats_done(task->user, tot + 2);
    *loss = tot[1] > 0 ? tot[0] / tot[1] : NAN;
    return 0;
}

/* validation, log row, progress line after step r->step; -1 on error */
static int report(rg_run *r, double lv, double lr, double *log_sum, int64_t *log_n,
                  rg_progress *prog)
{
    const rg_fit_config *c = r->c;
    r->recent[r->at_recent] = lv;
    r->at_recent = (r->at_recent + 1) % 50;
    if (r->n_recent < 50)
        r->n_recent++;
    *log_sum += lv;
    (*log_n)++;
    double rate;
    rg_run_results(r, NULL, NULL, &rate);
    bool val_now = r->step % c->eval_every == 0 || r->step == c->steps;
    bool has_val = false;
    if (val_now && r->task->val_pieces) {
        double v = NAN;
        if (validate_split(r, &v) != 0)
            return -1;
        if (!isnan(v)) {
            r->last_val = v;
            has_val = true;
            push(&r->val_hist, (double)r->step, v);
        }
    } else if (val_now && r->task->validate) {
        /* rank 0 validates (the held-out text is read in order, its state
         * carried through it); the others learn the result */
        double v = NAN, failed = 0;
        if (rg_dist_rank() == 0 && r->task->validate(r->task->user, &v) != 0)
            failed = 1;
        double shared[2] = {failed, v};
        rg_dist_broadcast(shared, sizeof shared, 0);
        v = shared[1];
        if (shared[0] != 0) {
            char msg[1024];
            snprintf(msg, sizeof msg, "validation: %s", rg_last_error());
            rg_set_error("%s", msg);
            return -1;
        }
        if (!isnan(v)) {
            r->last_val = v;
            has_val = true;
            push(&r->val_hist, (double)r->step, v);
        }
    }
    if (r->step % c->log_every == 0 || r->step == c->steps || val_now) {
        double mean = *log_sum / (double)*log_n;
        push(&r->train_hist, (double)r->step, mean);
        if (r->log) {
            fprintf(r->log, "%lld,%.6f,", (long long)r->step, mean);
            if (has_val)
                fprintf(r->log, "%.6f", r->last_val);
            fprintf(r->log, ",%.6g,%.1f\n", lr, rate);
            /* a full disk is an error, not a log that silently stops */
            if (fflush(r->log) != 0 || ferror(r->log)) {
                rg_set_error("--log %s: cannot write: %s", c->log, strerror(errno));
                return -1;
            }
        }
        *log_sum = 0;
        *log_n = 0;
    }
    double eta = (double)(c->steps - r->step) * r->train_seconds /
                 (double)(r->step - r->start_step);
    rg_progress_step(prog, r->step, c->steps, lv, r->task->metric ? r->task->metric : "val_loss",
                     metric(r, r->last_val), rate, r->task->unit, eta, val_now);
    return 0;
}

static void diverged(const rg_run *r, const char *what)
{
    char kept[96];
    if (rg_dist_rank() > 0) /* every rank saw it; rank 0 tells */
        return;
    if (r->last_saved >= 0)
        snprintf(kept, sizeof kept, "the last checkpoint (step %lld) is kept",
                 (long long)r->last_saved);
    else
        snprintf(kept, sizeof kept, "nothing was saved");
    fprintf(r->c->err, "%s: step %lld: %s: training diverged (lower --lr or set --clip); %s\n",
            r->c->prog, (long long)r->step + (what[0] == 'p' ? 0 : 1), what, kept);
}

/* Steps until the end, a signal or --stop-after.  0, 1 on failure (reported). */
static int loop(rg_run *r, const rg_lr_schedule *sched, rg_progress *prog)
{
    const rg_fit_config *c = r->c;
    double log_sum = 0;
    int64_t log_n = 0;
    while (r->step < c->steps) {
        if (should_stop(r))
            break;
        double t0 = rg_now(), lv, lr = rg_lr_at(sched, r->step);
        if (rg_trainer_step(r->tr, lr, &lv, NULL) != 0) {
            rg_progress_done(prog);
            if (!isfinite(lv) || strstr(rg_last_error(), "not finite"))
                diverged(r, rg_last_error());
            else
                fprintf(c->err, "%s: step %lld: %s\n", c->prog, (long long)r->step + 1,
                        rg_last_error());
            return 1;
        }
        r->step++;
        r->train_seconds += rg_now() - t0;
        if (report(r, lv, lr, &log_sum, &log_n, prog) != 0) {
            rg_progress_done(prog);
            fail(r, NULL);
            return 1;
        }
        if (c->save_every && r->step % c->save_every == 0 && r->step < c->steps &&
            save_all(r) != 0) {
            rg_progress_done(prog);
            if (strncmp(rg_last_error(), "parameter", 9) == 0)
                diverged(r, rg_last_error());
            else
                fail(r, "saving");
            return 1;
        }
    }
    rg_progress_done(prog);
    return 0;
}

static int finish(rg_run *r)
{
    const rg_fit_config *c = r->c;
    if (save_all(r) != 0) {
        if (strncmp(rg_last_error(), "parameter", 9) == 0)
            diverged(r, rg_last_error());
        else
            fail(r, "saving");
        return 1;
    }
    if (r->stop_sig || r->step < c->steps) {
        fprintf(c->out, "train: %s at step %lld of %lld; saved %s (continue with --resume %s)\n",
                r->stop_sig ? "interrupted" : "stopped", (long long)r->step, (long long)c->steps,
                c->save, c->save);
        return r->stop_sig ? 128 + r->stop_sig : 0;
    }
    if (c->plot && rg_dist_rank() == 0) {
        rg_plot_series s[2] = {{"train loss", "#1f77b4", r->train_hist.x, r->train_hist.y,
                                r->train_hist.n},
                               {"validation loss", "#d62728", r->val_hist.x, r->val_hist.y,
                                r->val_hist.n}};
        if (rg_plot_svg(c->plot, r->task->title ? r->task->title : c->prog, "step",
                        "loss", s, r->val_hist.n ? 2 : 1) != 0) {
            fail(r, "plot");
            return 1;
        }
    }
    if (c->no_summary)
        return 0;
    double loss, val, rate;
    rg_run_results(r, &loss, &val, &rate);
    fprintf(c->out, "train: steps=%lld loss=%.6f %s=%.6f %s_per_s=%.1f\n", (long long)r->step,
            loss, r->task->metric ? r->task->metric : "val_loss", metric(r, val), r->task->unit,
            rate);
    return 0;
}

int rg_run_fit(rg_run *r, const rg_fit_task *task)
{
    r->task = task;
    rg_lr_schedule sched;
    double bad = prepare(r, &sched) != 0;
    if (bad)
        fail(r, NULL);
    rg_dist_sum(&bad, 1); /* every rank starts, or none */
    if (bad)
        return 1;
    r->start_step = r->step;
    char ranks[48] = "";
    if (rg_dist_size() > 1)
        snprintf(ranks, sizeof ranks, "%d ranks x ", rg_dist_size());
    fprintf(r->c->out, "%s: %s lr %g, %lld steps%s, %s, %s kernels, %s%d threads%s\n",
            r->c->prog, r->c->optimizer, r->c->lr, (long long)r->c->steps,
            r->resumed ? " (resumed)" : "", rg_blas_name(), rg_cpu_kernels(), ranks,
            rg_trainer_shards(r->tr) > 1 ? rg_trainer_shards(r->tr) : rg_get_threads(),
            r->c->deterministic ? ", deterministic" : "");
    fflush(r->c->out);
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    g_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rg_progress prog;
    rg_progress_init(&prog, r->c->out, r->c->steps);
    int status = loop(r, &sched, &prog);
    if (status == 0)
        status = finish(r);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return status;
}
