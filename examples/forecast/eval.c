/* forecast eval: rolling-origin forecasts over the held-out last 10% of the
 * series.  Every origin o in [n_fit, n - horizon] forecasts the next horizon
 * values from the lookback values before it; each forecast of an observed
 * value is a point.  MASE divides the MAE by the training span's in-sample
 * seasonal-naive MAE (mean |y[t] - y[t-s]|); snaive_mase is the seasonal-naive
 * forecast's own score on the same points (y[t - s*k], the latest value of the
 * same season that the origin has seen). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"

int fc_test_origins(const fc_model *m, const fc_series *s, int64_t *o0, int64_t *count)
{
    *o0 = s->n_fit;
    *count = s->n - m->horizon - s->n_fit + 1;
    if (*count < 1) {
        rg_set_error("--horizon %lld is longer than the held-out tail (the last %lld of %lld "
                     "values)", (long long)m->horizon, (long long)(s->n - s->n_fit),
                     (long long)s->n);
        return -1;
    }
    if (s->n_fit < m->lookback) {
        rg_set_error("--lookback %lld is longer than the training span (%lld values)",
                     (long long)m->lookback, (long long)s->n_fit);
        return -1;
    }
    return 0;
}

int fc_check_season(const fc_series *s, int64_t period)
{
    if (period >= s->n_fit) {
        rg_set_error("--season %lld is not shorter than the training span (%lld values)",
                     (long long)period, (long long)s->n_fit);
        return -1;
    }
    return 0;
}

/* one chunk of origins through the model: out in the series' units, loss summed */
static int forecast_chunk(rg_tape *tp, const fc_model *m, const fc_series *s, const double *z,
                          int64_t o0, int64_t B, double *x, double *tg, double *out,
                          double *loss)
{
    int64_t HQ = m->horizon * m->Q;
    for (int64_t b = 0; b < B; b++)
        fc_window(m, s, z, o0 + b, x + b * m->lookback * m->I, tg ? tg + b * HQ : NULL);
    rg_tensor *pred = fc_forward(tp, m, fc_inputs(tp, m, x, 0, B));
    rg_tensor *l = tg ? fc_loss(tp, m, pred, fc_targets(tp, m, tg, 0, B), 1.0) : pred;
    if (!pred || !l)
        return -1;
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < HQ; j++)
            out[b * HQ + j] = (z[o0 + b - 1] + rg_get(pred, b * HQ + j)) * m->std + m->mean;
    if (tg)
        *loss += rg_get(l, 0);
    return 0;
}

int fc_forecast(const fc_model *m, const fc_series *s, int64_t o0, int64_t n, double *out,
                double *loss)
{
    enum { CHUNK = 256 };
    int64_t HQ = m->horizon * m->Q;
    double *z = fc_standardise(m, s);
    double *x = malloc((size_t)(CHUNK * m->lookback * m->I) * sizeof *x);
    double *tg = loss ? malloc((size_t)(CHUNK * HQ) * sizeof *tg) : NULL;
    rg_tape *tp = rg_tape_new();
    double sum = 0;
    int rc = z && x && tp && (!loss || tg) ? 0 : -1;
    if (rc != 0)
        rg_set_error("out of memory");
    else {
        rg_tape_set_grad_enabled(tp, false);
        rg_tape_set_training(tp, false);
    }
    for (int64_t at = 0; at < n && rc == 0; at += CHUNK) {
        rg_tape_reset(tp);
        rc = forecast_chunk(tp, m, s, z, o0 + at, n - at < CHUNK ? n - at : CHUNK, x, tg,
                            out + at * HQ, loss ? &sum : NULL);
    }
    if (loss)
        *loss = sum / (double)(n * HQ);
    rg_tape_free(tp);
    free(z);
    free(x);
    free(tg);
    return rc;
}

/* mean |y[t] - y[t-s]| over the training span, pairs of observed values */
static int snaive_scale(const fc_series *s, int64_t period, double *scale)
{
    double sum = 0;
    int64_t n = 0;
    for (int64_t t = period; t < s->n_fit; t++)
        if (s->observed[t] && s->observed[t - period]) {
            sum += fabs(s->y[t] - s->y[t - period]);
            n++;
        }
    *scale = n ? sum / (double)n : 0;
    if (!(*scale > 0)) {
        rg_set_error("the seasonal-naive error of the training span is %s (season %lld, %lld "
                     "training values): MASE is undefined; try another --season",
                     n ? "zero" : "undefined", (long long)period, (long long)s->n_fit);
        return -1;
    }
    return 0;
}

typedef struct scores {
    int64_t points, covered;
    double abs, sq, snaive;
} scores;

static void score(const fc_model *m, const fc_series *s, int64_t period, int64_t o0,
                  int64_t count, const double *out, scores *sc)
{
    int mid = fc_median_index(m), Q = (int)m->Q;
    for (int64_t i = 0; i < count; i++)
        for (int64_t h = 0; h < m->horizon; h++) {
            int64_t t = o0 + i + h;
            if (!s->observed[t])
                continue;
            const double *f = out + (i * m->horizon + h) * Q;
            double e = f[mid] - s->y[t];
            sc->abs += fabs(e);
            sc->sq += e * e;
            sc->snaive += fabs(s->y[t - period * (h / period + 1)] - s->y[t]);
            sc->covered += Q > 1 && f[0] <= s->y[t] && s->y[t] <= f[Q - 1];
            sc->points++;
        }
}

int fc_evaluate(const fc_model *m, const fc_series *s, int64_t period)
{
    int64_t o0, count;
    double scale;
    if (fc_test_origins(m, s, &o0, &count) != 0 || fc_check_season(s, period) != 0 ||
        snaive_scale(s, period, &scale) != 0)
        return -1;
    double *out = malloc((size_t)(count * m->horizon * m->Q) * sizeof *out);
    if (!out || fc_forecast(m, s, o0, count, out, NULL) != 0) {
        if (!out)
            rg_set_error("out of memory");
        free(out);
        return -1;
    }
    scores sc = {0};
    score(m, s, period, o0, count, out, &sc);
    free(out);
    if (sc.points == 0) {
        rg_set_error("no observed value in the held-out tail to score");
        return -1;
    }
    double np = (double)sc.points, mae = sc.abs / np;
    printf("forecast eval: %lld origins x horizon %lld over the last %lld values "
           "(season %lld, in-sample seasonal-naive MAE %.6g)\n", (long long)count,
           (long long)m->horizon, (long long)(s->n - s->n_fit), (long long)period, scale);
    if (m->Q > 1)
        printf("interval [q%g, q%g] holds %.1f%% of the points\n", m->q[0], m->q[m->Q - 1],
               100.0 * (double)sc.covered / np);
    printf("eval: points=%lld mae=%.6f rmse=%.6f mase=%.6f snaive_mase=%.6f\n",
           (long long)sc.points, mae, sqrt(sc.sq / np), mae / scale, sc.snaive / np / scale);
    return 0;
}

static const char *usage_line =
    "usage: forecast eval --model FILE [--series co2|sunspots | --csv FILE --column NAME\n"
    "                     [--date-column NAME]] [--season N] [--cell-lib FILE.so]";

int forecast_eval_main(int argc, char **argv)
{
    fc_session x;
    int status;
    if (!fc_session_open(&x, "forecast eval", usage_line, NULL, 0, argc, argv, &status))
        return status;
    status = 0;
    if (fc_evaluate(&x.m, &x.s, x.src.period) != 0) {
        fprintf(stderr, "forecast eval: %s\n", rg_last_error());
        status = 1;
    }
    fc_session_close(&x);
    return status;
}
