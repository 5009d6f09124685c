/* forecast: time-series prediction with a recurrent encoder and a direct
 * multi-step head, on retrograd's public API and training core.
 *
 *   data.c     a series from a CSV column (gaps filled), its split, its windows
 *   model.c    the model (window -> recurrent stack -> linear head), its loss,
 *              its checkpoint
 *   train.c    forecast train: the training task on the training core
 *   eval.c     forecast eval: rolling-origin forecasts over the held-out tail
 *   predict.c  forecast predict: the next H values (and a plot)
 *
 * The pipeline (bench/torch_forecast_twin.py does the same in PyTorch):
 *   split    the last floor(n/10) values are held out; the n_fit before them train
 *   scale    z = (y - mean) / std, the training span's mean and population std
 *   window   an origin o (the first forecast index) reads z[o-L .. o-1] as
 *            changes from its last value, z[t] - z[o-1] (plus sin/cos of the
 *            calendar phase with --calendar), and predicts z[o+h] - z[o-1] for
 *            h < H (for each quantile)
 *
 * Errors: functions return -1 (or NULL) with a message in rg_last_error(); the
 * subcommands print it as "forecast <cmd>: <message>" and exit with status 1. */
#ifndef FORECAST_H
#define FORECAST_H

#include <stdbool.h>
#include <stdint.h>

#include "retrograd.h"

enum { FC_MAX_Q = 9 }; /* quantiles of one model */

/* ---- the series (data.c) --------------------------------------------------------- */
typedef struct fc_series {
    int64_t n;         /* values */
    double *y;         /* [n] the values, gaps filled */
    bool *observed;    /* [n] false where the cell was empty (filled) */
    double *t;         /* [n] time for plots: fractional year from the date, else index */
    double *phase;     /* [n] calendar phase in [0, 1) */
    char **date;       /* [n] the date column's text (NULL without one) */
    int64_t n_missing; /* filled cells */
    int64_t n_fit;     /* the training span [0, n_fit); the held-out tail is the rest */
} fc_series;

/* The data flags (a bundled series or a user's CSV) and what they resolve to. */
typedef struct fc_source {
    const char *series;  /* co2 | sunspots (default co2) */
    const char *csv, *column, *date_column;
    int64_t season;      /* 0: the series' own (co2 52, sunspots 11, CSV 1) */
    /* set by fc_source_resolve */
    const char *path, *value_col, *date_col; /* the file and its columns (date_col may be NULL) */
    int64_t period;      /* the season */
    char *owned;         /* the bundled file's path (free it) */
} fc_source;

/* Fills fl with the data flags (--series --csv --column --date-column
 * --season); attr is added to each (RG_FLAG_SAVED for train).  Returns the count. */
int fc_source_flags(fc_source *s, rg_flag *fl, unsigned attr);
/* Resolves the flags into path, columns and period (a bundled series is
 * data/<file>, found like charlm's corpus; --csv wins over --series); -1 when
 * --csv and --series are both given on the command line (both_given), or
 * --csv has no --column.  The flags themselves are left as they are. */
int fc_source_resolve(fc_source *s, bool both_given);
/* Reads the column (and the date column) of the CSV: empty or NA cells are
 * filled by linear interpolation; a non-numeric cell, a short row, a missing
 * column or fewer than 3 observed values are errors naming the file (and line
 * and column).  season sets the phase of a series without dates.  0 or -1. */
int fc_series_read(fc_series *s, const fc_source *src);
void fc_series_free(fc_series *s);
uint64_t fc_series_hash(const fc_series *s);
/* "data/<name>" in the current folder, else in the source tree; a new string. */
char *fc_data_path(const char *name);

/* ---- the model (model.c) ---------------------------------------------------------- */
typedef struct fc_model_opts {
    const char *cell, *quantiles;
    int64_t layers, hidden, lookback, horizon; /* lookback, horizon 0: from the season */
    bool calendar;
} fc_model_opts;

typedef struct fc_model {
    const rg_cell_type *cell;
    int64_t I, H, L;         /* input features, hidden size, layers */
    int64_t lookback, horizon, Q;
    double q[FC_MAX_Q];      /* the quantiles; Q = 1 and q[0] = 0.5 with MSE */
    bool pinball, calendar;
    double mean, std;        /* the standardisation of the training span */
    rg_params *P;            /* rnn.*, head.weight [horizon*Q,H], head.bias */
    rg_seq *rnn;
    rg_linear_layer head;
} fc_model;

/* Fills fl with the model flags (--cell --layers --hidden --lookback --horizon
 * --quantiles --calendar), each RG_FLAG_MODEL.  Returns the count. */
int fc_model_flags(fc_model_opts *o, rg_flag *fl);
/* Builds the model of o for a series (rng: PyTorch's initialisation; NULL:
 * zeros).  0 or -1 (an unknown cell, malformed quantiles). */
int fc_model_init(fc_model *m, const fc_model_opts *o, rg_rng *rng);
void fc_model_free(fc_model *m);
/* x [T,B,I] -> [B, horizon*Q] (column h*Q + k: step h, quantile k) */
rg_tensor *fc_forward(rg_tape *tp, const fc_model *m, rg_tensor *x);
/* The summed loss of pred against target [B, horizon*Q], times scale: squared
 * error, or q*relu(e) + (1-q)*relu(-e) with e = target - pred. */
rg_tensor *fc_loss(rg_tape *tp, const fc_model *m, rg_tensor *pred, rg_tensor *target,
                   double scale);
/* The checkpoint: parameters plus the model's and the data's flags, mean, std. */
rg_safetensors *fc_model_container(const fc_model *m, rg_flag *fl, int n);
/* Reads a checkpoint: the flags of fl that are RG_FLAG_MODEL (and the others
 * unless given on the command line) from its metadata through rg_flag_set,
 * mean and std checked the same way, then the model built and its weights
 * loaded (non-finite values refused).  The strings stay in fl (rg_flags_free). */
int fc_model_load(fc_model *m, fc_model_opts *o, rg_flag *fl, int n, const char *path);

/* ---- windows and forecasts (data.c, eval.c) --------------------------------------- */
/* The inputs of origin o into x[k*I + i] (k < lookback) and, when target is
 * not NULL, its targets into target[h*Q + q]. */
void fc_window(const fc_model *m, const fc_series *s, const double *z, int64_t o, double *x,
               double *target);
/* Rows [b0, b1) of windows x [B][lookback*I] as the model's input [lookback, b1-b0, I],
 * and of targets [B][horizon*Q] as [b1-b0, horizon*Q] (F32, on tp). */
rg_tensor *fc_inputs(rg_tape *tp, const fc_model *m, const double *x, int64_t b0, int64_t b1);
rg_tensor *fc_targets(rg_tape *tp, const fc_model *m, const double *target, int64_t b0,
                      int64_t b1);
/* z = (y - mean) / std of the whole series, a new array */
double *fc_standardise(const fc_model *m, const fc_series *s);
/* The forecasts of origins o0 .. o0+n-1 in the series' units into
 * out[(i*horizon + h)*Q + q]; also the mean loss of those windows when loss is
 * not NULL.  No gradients.  0 or -1. */
int fc_forecast(const fc_model *m, const fc_series *s, int64_t o0, int64_t n, double *out,
                double *loss);
/* The held-out tail's rolling origins [n_fit, n - horizon]; -1 with a message
 * when the horizon does not fit in the tail. */
int fc_test_origins(const fc_model *m, const fc_series *s, int64_t *o0, int64_t *count);

/* -1 with a message when the season is not shorter than the training span. */
int fc_check_season(const fc_series *s, int64_t period);
/* Scores the forecasts of every held-out origin (the observed points only)
 * and prints a summary and "eval: points=N mae=X rmse=X mase=X snaive_mase=X";
 * MASE is scaled by the seasonal-naive MAE (season `period`) of the training
 * span.  0 or -1. */
int fc_evaluate(const fc_model *m, const fc_series *s, int64_t period);

/* ---- eval and predict: a checkpoint and its series (main.c) ------------------------ */
typedef struct fc_session {
    const char *model, *cell_lib;
    fc_source src;        /* the model's data flags unless given on the command line */
    fc_model_opts mo;
    rg_flag fl[32];       /* the subcommand's flags, --model, --cell-lib, data, model */
    int n_flags;
    fc_model m;
    fc_series s;
} fc_session;

/* Parses the subcommand's own flags (copied first into x->fl) with --model,
 * --cell-lib and the data flags, then loads the model and reads its series.
 * false: stop with *status (--help: 0; a flag error: 2; a bad model or series:
 * 1, message printed). */
bool fc_session_open(fc_session *x, const char *prog, const char *usage, const rg_flag *own,
                     int n_own, int argc, char **argv, int *status);
void fc_session_close(fc_session *x);

/* ---- subcommands ------------------------------------------------------------------- */
int forecast_train_main(int argc, char **argv);
int forecast_eval_main(int argc, char **argv);
int forecast_predict_main(int argc, char **argv);

/* The quantile closest to 0.5: the point forecast. */
int fc_median_index(const fc_model *m);

#endif
