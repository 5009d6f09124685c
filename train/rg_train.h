/* The training core: what every training program shares, written once.
 *
 * A program supplies its model (a parameter registry, a forward pass to a loss
 * over some rows of a batch, an evaluation) and its data (a function that draws
 * the next batch); the core does the rest of a run:
 *
 *   flags      one table (name, type, range, default, help); the same check for
 *              a value on the command line and a value read back from a file
 *   trainer    a step: the batch split into shards over threads (one tape each,
 *              private gradients), gradient clipping, schedule, optimizer
 *   run        validation, progress line, CSV log, SVG plot, checkpoints (the
 *              model file and its resume file written as one unit), exact
 *              resume, a lock on the save path, SIGINT/SIGTERM, divergence
 *   files      reading inputs without blocking (FIFOs, devices and folders are
 *              refused), checking output paths, write errors of stdout
 *
 *   rg_fit_config fc;  rg_fit_defaults(&fc, "mylm train", "mylm.safetensors");
 *   rg_flag fl[32];    int n = my_flags(fl);  n += rg_fit_flags(&fc, fl + n, 32 - n);
 *   if (rg_flags_parse(fl, n, argc, argv, 2) != 0) ...        (message, --help)
 *   rg_run *run = rg_run_open(&fc, fl, n);    (for --resume: the saved flags back)
 *   ... read the data, build or load the model (rg_run_model_source(run)) ...
 *   rg_fit_task task = {.P = P, .batch = B, .shard_loss = my_loss, ...};
 *   int status = rg_run_fit(run, &task);      (0, 1, 130 on SIGINT, 143 on SIGTERM)
 *   rg_run_close(run);
 *
 * The core prints only what a run asks for (progress and the final line on
 * fc.out, messages on fc.err) and never exits.  Errors of the functions below
 * are -1 / NULL with a message in rg_last_error(). */
#ifndef RG_TRAIN_H
#define RG_TRAIN_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rg_checkpoint.h"
#include "rg_core.h"
#include "rg_optim.h"
#include "rg_params.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- flags ---------------------------------------------------------------------- */
typedef enum rg_flag_kind {
    RG_FLAG_INT,    /* int64_t, integral, in [min, max] */
    RG_FLAG_DOUBLE, /* double, finite, in [min, max] */
    RG_FLAG_STRING, /* const char *, non-empty */
    RG_FLAG_CHOICE, /* const char *, one of choices ("sgd|adam|adamw") */
    RG_FLAG_BOOL,   /* bool: given without a value on the command line, "0"/"1" in a file */
    RG_FLAG_LIST,   /* rg_flag_list: the flag may be given several times, each adds one */
} rg_flag_kind;

/* The values of an RG_FLAG_LIST flag (rg_flags_free frees them). */
typedef struct rg_flag_list {
    int n;
    const char **items;
    char *store; /* the items' text when read back from a file */
} rg_flag_list;

enum {
    RG_FLAG_SAVED = 1,  /* part of a run: stored with its checkpoint, restored by --resume
                           (and then refused on the command line); an RG_FLAG_STRING
                           left unset (NULL) is stored as "" and restored unset */
    RG_FLAG_MODEL = 2,  /* a model size: --init and --resume take it from the model file */
    RG_FLAG_HIDDEN = 4, /* not listed by --help (for tests) */
    RG_FLAG_PATH = 8,   /* a file name: stored as an absolute path, any bytes */
    RG_FLAG_OVERRIDE = 16, /* with RG_FLAG_SAVED: restored by --resume unless given again
                              (a text that moved; the program checks it is the same) */
};

typedef struct rg_flag {
    const char *name;    /* "--hidden" */
    rg_flag_kind kind;
    void *dest;          /* int64_t *, double *, const char **, bool *, rg_flag_list * */
    double min, max;     /* inclusive bounds of numbers */
    const char *choices; /* RG_FLAG_CHOICE: the values, separated by '|' */
    const char *help;
    unsigned attr;       /* RG_FLAG_SAVED | ... */
    bool seen;           /* given on the command line */
    char *owned;         /* a string value restored from a file (rg_flags_free) */
} rg_flag;

/* Parses argv[first..argc): "--name value" or "--name=value".  0: parsed;
 * 1: --help or -h was given (print rg_flags_usage); -1: a message names the
 * flag and what is wrong (unknown, given twice, missing value, not a number,
 * out of range, not a choice). */
int rg_flags_parse(rg_flag *fl, int n, int argc, char **argv, int first);
/* Sets one flag from text, with the command line's checks.  source names where
 * the value comes from in the message (NULL: the command line). */
int rg_flag_set(rg_flag *f, const char *value, const char *source);
/* The value as text that rg_flag_set reads back exactly (a new string). */
char *rg_flag_format(const rg_flag *f);
rg_flag *rg_flags_find(rg_flag *fl, int n, const char *name);
bool rg_flags_seen(const rg_flag *fl, int n, const char *name);
void rg_flags_usage(FILE *out, const char *usage, const rg_flag *fl, int n);
/* rg_flags_parse for a program's main: prints --help to stdout, or
 * "<prog>: <message>" to stderr.  true: parsed, go on; false: stop with
 * *status (0 after --help, 2 after an error). */
bool rg_flags_cli(const char *prog, const char *usage, rg_flag *fl, int n, int argc,
                  char **argv, int first, int *status);
void rg_flags_free(rg_flag *fl, int n);

/* Metadata key of st as an integer in [lo, hi], with a flag's checks (file
 * names st in the message).  0 or -1 (missing, not an integer, out of range). */
int rg_meta_int(const rg_safetensors *st, const char *key, double lo, double hi,
                const char *file, int64_t *out);

/* ---- files ---------------------------------------------------------------------- */
/* A whole regular file in memory (+1 NUL byte after the n bytes; free it).
 * A FIFO, a device or a folder is refused at once (never blocks), as are an
 * empty file, an unreadable one and one that changes size while read. */
int rg_file_read_all(const char *path, uint8_t **data, int64_t *n);
/* -1 unless path is a regular file that can be opened for reading (the same
 * checks, without reading it). */
int rg_file_check_input(const char *path);
/* An output path is usable: its folder exists and is writable, and the path is
 * not a folder, FIFO or device.  what names it in the message ("--save"). */
int rg_file_check_output(const char *path, const char *what);
/* True when a and b name the same file (the same inode, or the same absolute
 * path for files that do not exist yet). */
bool rg_file_same(const char *a, const char *b);
/* Removes what a killed atomic write left beside path ("<path>.tmp-XXXXXX"). */
void rg_file_remove_stale_temps(const char *path);
/* "model.safetensors" -> "model.train.safetensors" (a new string). */
char *rg_train_state_path(const char *model_path);

/* A program's start and end: SIGPIPE and SIGXFSZ ignored (a closed pipe or a
 * full disk becomes a write error, reported, instead of a silent death), and at
 * the end stdout is flushed and closed with its errors checked: returns status,
 * or 1 with a message on stderr naming prog when the output could not be written. */
void rg_main_begin(void);
int rg_main_end(const char *prog, int status);
/* rg_main_begin for a training program that may run under mpirun: also
 * rg_dist_init, and stdout to /dev/null on ranks other than 0 (rank 0 prints;
 * every rank still reports its own errors on stderr).  0, or -1 with a message
 * on stderr.  End it with rg_main_end, which also ends MPI: when a rank
 * does not reach the end within a bounded wait (a failure only it saw), the
 * job is aborted rather than left waiting. */
int rg_main_init(const char *prog, int *argc, char ***argv);
/* A program of commands (`prog <command> [flags]`), its whole main:
 * rg_main_init, then the command named by argv[1] from cmds (a table ending
 * with a row of NULLs; the command gets argc and argv unchanged), `prog
 * --help` lists them on stdout, a missing or unknown one is exit 2 with the
 * list on stderr; rg_main_end.  Returns the exit status. */
typedef struct rg_command {
    const char *name;
    const char *help; /* one line */
    int (*main)(int argc, char **argv);
} rg_command;
int rg_main_commands(const char *prog, const rg_command *cmds, int argc, char **argv);

/* ---- progress and plot ------------------------------------------------------------ */
double rg_now(void); /* monotonic seconds */
typedef struct rg_progress {
    FILE *out;
    bool tty;
    double last_print;
    int64_t every;  /* plain mode: a line every this many steps */
    int width;      /* of the last in-place line */
} rg_progress;
void rg_progress_init(rg_progress *p, FILE *out, int64_t total_steps);
/* One report "step S/N  loss L  <metric> M  R <unit>/s  left T": rewritten in
 * place on a terminal (at most 10 a second unless force), else a plain line
 * every p->every steps or when force.  metric NaN: "-". */
void rg_progress_step(rg_progress *p, int64_t step, int64_t total, double loss,
                      const char *metric_name, double metric, double rate, const char *unit,
                      double eta_s, bool force);
void rg_progress_done(rg_progress *p);

typedef struct rg_plot_series {
    const char *label, *color;
    const double *x, *y;
    int64_t n;
} rg_plot_series;
/* A line chart (axes, ticks, labels, legend) as an SVG file, written atomically. */
int rg_plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel,
                const rg_plot_series *s, int n_series);

/* ---- several processes (MPI) ------------------------------------------------------- */
/* With -Dmpi (Open MPI), a program started by `mpirun -np N` runs as N ranks;
 * started any other way, or built without MPI, it is one process (rank 0 of 1)
 * and every function below is the identity.  Call rg_dist_init first thing in
 * main and rg_dist_finalize last; the training core does the rest (each rank
 * trains its part of every global batch; rank 0 alone prints and saves). */
int rg_dist_init(int *argc, char ***argv);
void rg_dist_finalize(void);
void rg_dist_abort(int status); /* ends every rank of the job (MPI_Abort) */
bool rg_dist_available(void);   /* built with MPI */
int rg_dist_rank(void);
int rg_dist_size(void);
/* Collectives (every rank calls them in the same order): n doubles summed in
 * place; bytes from root to all; each rank's counts[rank] values gathered into
 * `all` in rank order; a registry's values from root; its gradients summed or
 * averaged over the ranks. */
int rg_dist_sum(double *v, int n);
int rg_dist_sum_tensor(rg_tensor *t); /* float values summed in place */
int rg_dist_broadcast(void *data, int64_t bytes, int root);
int rg_dist_gather_all(const double *mine, int64_t n_mine, double *all, const int64_t *counts);
int rg_dist_broadcast_params(rg_params *P, int root);
int rg_dist_sum_grads(rg_params *P);
int rg_dist_average_grads(rg_params *P);

/* A gradient exchange that overlaps backward.  The registry's gradients go in
 * buckets of about bucket_bytes (0: 1 MiB; a bigger tensor is a bucket of its
 * own, summed in place), in reverse registry order — the last layers' gradients
 * are final first.  Each step: begin; ready(i) as tensor i's gradient becomes
 * final (rg_tape_watch_grads calls it during the sweep); a bucket whose
 * gradients are all final goes out at once as a non-blocking allreduce
 * (MPI_Iallreduce), always in bucket order, so every rank starts the same
 * collectives in the same order whatever order its sweep finished them in; end
 * sends what is left and waits: then every gradient is the sum over the ranks.
 * Every rank must call end every step, failed or not.  On one process begin,
 * ready and end do nothing.  end: 0 or -1; *wait_seconds (may be NULL) gets the
 * time end spent waiting. */
typedef struct rg_dist_exchange rg_dist_exchange;
rg_dist_exchange *rg_dist_exchange_new(rg_params *P, int64_t bucket_bytes);
void rg_dist_exchange_free(rg_dist_exchange *x);
void rg_dist_exchange_begin(rg_dist_exchange *x);
void rg_dist_exchange_ready(rg_dist_exchange *x, int i);
int rg_dist_exchange_end(rg_dist_exchange *x, double *wait_seconds);
int rg_dist_exchange_buckets(const rg_dist_exchange *x);

/* ---- the trainer: one step ---------------------------------------------------------- */
/* What a program supplies.  Callbacks get `user`.  A step: next_batch (serial,
 * on every rank: the same global batch), then shard_loss on every shard in
 * parallel (shard k gets rows [b0, b1) of the batch), backward, shard_done, the
 * private gradients summed (over threads, then ranks), clipping, the optimizer.
 *
 * Shards: by default rank r takes rows [B*r/N, B*(r+1)/N) and splits them into
 * one shard per thread; the result depends on the split only by float
 * rounding.  Deterministic mode cuts the batch into M fixed micro-shards
 * (rows [B*k/M, B*(k+1)/M), dropout masks seeded per micro-shard), whoever
 * computes them, and sums their gradients in one fixed tree over k: the same
 * bits for any number of ranks and threads (on the same CPU kernels). */
enum { RG_VAL_STATS = 4 };
typedef struct rg_fit_task {
    rg_params *P;       /* the parameters trained */
    void *user;
    int64_t batch;      /* rows of a step's batch, split over the shards */
    double units_per_step; /* characters, tokens ... of a step (speed) */
    const char *unit;   /* "chars" */
    const char *metric; /* name of the validation metric ("val_bpc"); NULL: "val_loss" */
    double (*metric_of)(double val_loss);  /* NULL: the loss itself */
    const char *title;  /* of the plot */
    const char *const *inputs; /* NULL-terminated: files the run reads (never a save target) */

    /* Draws the next batch into the program's buffers; rng is the run's batch
     * RNG (saved and restored with the run).  0 or -1. */
    int (*next_batch)(void *user, rg_rng *rng);
    /* The loss of rows [b0, b1) on tape tp (already reset, training mode): the
     * sum over those rows divided by the whole batch's count, so the shards add
     * up to the step's mean.  dropout: the shard's RNG.  NULL on error (message
     * on the tape). */
    rg_tensor *(*shard_loss)(rg_tape *tp, void *user, int shard, int64_t b0, int64_t b1,
                             rg_rng *dropout);
    /* After shard's backward, on its thread, before its tape is reset: the
     * shard's rows of any carried state (it writes only rows [b0, b1)).  May be NULL. */
    void (*shard_done)(void *user, int shard, int64_t b0, int64_t b1);
    /* Before a save on several ranks, on every rank: the carried state's rows,
     * each written by the rank whose shard owns it, brought to every rank
     * (rg_dist_sum_tensor of the rows with the others' rows zeroed, say), so
     * rank 0 saves all of it.  May be NULL. */
    void (*gather_state)(void *user);
    /* Validation: the mean loss on held-out data (NaN when there is none).  May be NULL.
     * Rank 0 runs it and tells the others. */
    int (*validate)(void *user, double *loss);
    /* Validation split over the ranks (used instead of validate when set): the
     * held-out data cut into val_pieces() pieces, a number that depends on the
     * data alone; validate_piece gives piece k's summed loss and its count.
     * Rank r of N takes pieces [U*r/N, U*(r+1)/N); the sums are added in piece
     * order: the same bits for any number of ranks.  The loss: sum / count. */
    int64_t (*val_pieces)(void *user);
    int (*validate_piece)(void *user, int64_t k, double *sum, double *count, double *stats);
    /* More of piece k's statistics (n_val_stats, at most RG_VAL_STATS: an accuracy's
     * right answers, say) into stats, summed over the pieces in the same order, and
     * their totals handed to val_stats_done on every rank.  Both may be 0/NULL. */
    int n_val_stats;
    void (*val_stats_done)(void *user, const double *totals);
    /* The model file's container (rg_checkpoint_from_params + the program's
     * metadata, such as the vocabulary); the core adds the run's metadata. */
    rg_safetensors *(*model_file)(void *user);
    /* The program's part of the resume state (tensors and metadata), and its
     * check and restore on --resume: every number read back range-checked. */
    int (*save_state)(void *user, rg_safetensors *st);
    int (*load_state)(void *user, const rg_safetensors *st, const char *file);
} rg_fit_task;

typedef struct rg_trainer rg_trainer;
typedef struct rg_trainer_config {
    rg_optim_config optim;
    double clip;       /* global gradient norm; 0: off */
    int threads;       /* shards = min(threads, batch, max_shards); BLAS threads otherwise */
    int max_shards;    /* 0: 16; 1 leaves every thread to BLAS inside each product */
    int blas_threads;  /* 0: 1 with several shards, else `threads`; >0: exactly this */
    int micro_shards;  /* > 0: deterministic mode with this many micro-shards (<= 64) */
    uint64_t seed;     /* of the batch and dropout RNGs */
} rg_trainer_config;
rg_trainer *rg_trainer_new(const rg_fit_task *task, const rg_trainer_config *c);
void rg_trainer_free(rg_trainer *t);
/* One step at learning rate lr: 0, or -1 with the message (a NaN loss or
 * gradient names the step: "the loss is NaN"). *loss: the step's mean loss. */
int rg_trainer_step(rg_trainer *t, double lr, double *loss, double *grad_norm);
int rg_trainer_shards(const rg_trainer *t);
/* Seconds spent so far in the exchanges between ranks (waiting included; with
 * --deterministic also the tree sum of the micro-shards). */
double rg_trainer_comm_seconds(const rg_trainer *t);
rg_optim *rg_trainer_optim(rg_trainer *t);
rg_rng *rg_trainer_batch_rng(rg_trainer *t);
rg_rng *rg_trainer_dropout_rng(rg_trainer *t);
rg_tape *rg_trainer_tape(rg_trainer *t, int shard);

/* ---- a run: flags, checkpoints, resume, progress, log, plot, signals ------------------ */
typedef struct rg_fit_config {
    const char *prog;      /* "charlm train": the prefix of messages */
    FILE *out, *err;       /* progress and results / messages (stdout, stderr) */
    int64_t steps;         /* 0: default_steps, or a resumed run's total */
    int64_t default_steps;
    const char *optimizer; /* sgd | adam | adamw */
    double lr, weight_decay; /* weight_decay < 0: the optimizer's default */
    const char *schedule;  /* constant | cosine */
    int64_t warmup;
    double clip;
    int64_t seed, threads;
    const char *save, *init, *resume, *log, *plot;
    int64_t save_every, eval_every, log_every, stop_after;
    bool deterministic;    /* --deterministic: fixed micro-shards, the same bits for any split */
    int64_t micro_shards;  /* --micro-shards (default 8) */
    bool no_summary;       /* the program prints its own final line instead of
                              "train: steps=N loss=X <metric>=Y <unit>_per_s=Z" */
} rg_fit_config;

void rg_fit_defaults(rg_fit_config *c, const char *prog, const char *save);
/* Appends the core's flags (--steps --optimizer --lr --weight-decay --schedule
 * --warmup --clip --seed --threads --deterministic --micro-shards --save
 * --save-every --eval-every --log-every --init --resume --log --plot
 * --stop-after) to fl; returns how many (room must be at least 20). */
int rg_fit_flags(rg_fit_config *c, rg_flag *fl, int room);

typedef struct rg_run rg_run;
/* After parsing: checks the combinations (--init with --resume, a saved flag
 * given again with --resume), and for --resume reads the resume file, checks
 * that it and the model file are one pair (same run id, same step) and sets
 * every saved flag from it through rg_flag_set.  NULL with a message. */
rg_run *rg_run_open(rg_fit_config *c, rg_flag *fl, int n);
/* The checkpoint to load the model from: the resumed model file, --init, or NULL. */
const char *rg_run_model_source(const rg_run *r);
bool rg_run_resumed(const rg_run *r);
int64_t rg_run_step(const rg_run *r);
/* Trains to the end (or to a signal, or --stop-after), saving as configured.
 * Returns the exit status: 0, 1 (error or divergence; message on err), 130
 * (SIGINT) or 143 (SIGTERM) after saving. */
int rg_run_fit(rg_run *r, const rg_fit_task *task);
/* The last step's results (after rg_run_fit): mean of the last 50 losses, the
 * last validation loss (NaN when none), units per second. */
void rg_run_results(const rg_run *r, double *loss, double *val_loss, double *rate);
void rg_run_close(rg_run *r);

#ifdef __cplusplus
}
#endif
#endif
