/* forecast predict: the next H values after the series (or after all but its
 * last K values, --hold-out K, which are then shown as actuals), with the
 * quantile interval of a model trained with --quantiles, and --plot: history,
 * forecast, interval and actuals as an SVG line chart. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"

static const char *usage_line =
    "usage: forecast predict --model FILE [--horizon H] [--hold-out K] [--plot FILE.svg]\n"
    "                        [--series co2|sunspots | --csv FILE --column NAME [--date-column NAME]]\n"
    "                        [--cell-lib FILE.so]";

/* days since 1970-01-01 of a civil date and back (H. Hinnant's algorithms) */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static void civil_from_days(int64_t z, char *buf, size_t n)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp + (mp < 10 ? 3 : -9);
    snprintf(buf, n, "%04lld-%02lld-%02lld", (long long)(yoe + era * 400 + (m <= 2)),
             (long long)m, (long long)d);
}

/* a YYYYMMDD or YYYY-MM-DD date, or false */
static bool date_ymd(const char *s, int *y, int *m, int *d)
{
    if ((strlen(s) == 8 && sscanf(s, "%4d%2d%2d", y, m, d) == 3) ||
        (strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d", y, m, d) == 3))
        return *m >= 1 && *m <= 12 && *d >= 1 && *d <= 31;
    return false;
}

/* the date k steps after the last of dates a, b: whole months when they are
 * months apart on the same day, else b's spacing in days */
static void next_date(const char *a, const char *b, int64_t k, char *buf, size_t n)
{
    int y1, m1, d1, y2, m2, d2;
    date_ymd(a, &y1, &m1, &d1);
    date_ymd(b, &y2, &m2, &d2);
    int64_t dm = (y2 * 12 + m2) - (y1 * 12 + m1), db = days_from_civil(y2, m2, d2);
    if (d1 == d2 && dm > 0) {
        int64_t mm = y2 * 12 + (m2 - 1) + k * dm;
        snprintf(buf, n, "%04lld-%02lld-%02d", (long long)(mm / 12), (long long)(mm % 12 + 1),
                 d2);
    } else {
        civil_from_days(db + k * (db - days_from_civil(y1, m1, d1)), buf, n);
    }
}

/* the label of index i (which may be past the end): its date (continued past
 * the end from the last two), a year, or "+k" after the origin o */
static void time_label(const fc_series *s, int64_t i, int64_t o, char *buf, size_t n)
{
    int y, m, d, last = (int)(o - 1);
    if (i < s->n && s->date) {
        if (date_ymd(s->date[i], &y, &m, &d))
            snprintf(buf, n, "%04d-%02d-%02d", y, m, d);
        else
            snprintf(buf, n, "%s", s->date[i]);
    } else if (s->date && last >= 1 && date_ymd(s->date[last], &y, &m, &d) &&
               date_ymd(s->date[last - 1], &y, &m, &d)) {
        next_date(s->date[last - 1], s->date[last], i - last, buf, n);
    } else if (s->date && last >= 1 && s->t[last] != (double)last) {
        snprintf(buf, n, "%.0f", s->t[last] + (double)(i - last) * (s->t[last] - s->t[last - 1]));
    } else {
        snprintf(buf, n, "+%lld", (long long)(i - last));
    }
}

static void print_table(const fc_session *x, int64_t o, int64_t H, const double *out)
{
    const fc_model *m = &x->m;
    int mid = fc_median_index(m), Q = (int)m->Q;
    char when[64];
    time_label(&x->s, o - 1, o, when, sizeof when);
    printf("forecast predict: %s, column %s: %lld values, forecast after %s (last value %g); "
           "%s %lldx%lld, lookback %lld\n", x->src.path, x->src.value_col, (long long)x->s.n,
           when, x->s.y[o - 1], m->cell->name, (long long)m->L, (long long)m->H,
           (long long)m->lookback);
    printf("%4s  %-10s  %10s", "step", "time", "forecast");
    if (Q > 1)
        printf("  %10s  %10s", "lower", "upper");
    printf(o < x->s.n ? "  %10s\n" : "\n", "actual");
    for (int64_t h = 0; h < H; h++) {
        const double *f = out + h * Q;
        time_label(&x->s, o + h, o, when, sizeof when);
        printf("%4lld  %-10s  %10.4f", (long long)h + 1, when, f[mid]);
        if (Q > 1)
            printf("  %10.4f  %10.4f", f[0], f[Q - 1]);
        if (o + h < x->s.n)
            printf("  %10.4f", x->s.y[o + h]);
        printf("\n");
    }
    if (Q > 1)
        printf("(lower and upper: the quantiles %g and %g)\n", m->q[0], m->q[Q - 1]);
}

/* the time axis at index i, continued past the end with the last spacing */
static double time_at(const fc_series *s, int64_t i, int64_t last)
{
    if (i <= last || last < 1)
        return i < s->n ? s->t[i] : (double)i;
    return s->t[last] + (double)(i - last) * (s->t[last] - s->t[last - 1]);
}

/* history, forecast, interval and actuals; each forecast line starts at the last value seen */
static int plot(const fc_session *x, int64_t o, int64_t H, const double *out, const char *path)
{
    const fc_model *m = &x->m;
    const fc_series *s = &x->s;
    int Q = (int)m->Q, mid = fc_median_index(m);
    int64_t span = m->lookback > 4 * H ? m->lookback : 4 * H, h0 = o > span ? o - span : 0;
    int64_t na = o < s->n ? (s->n - o < H ? s->n - o : H) + 1 : 0, n = o - h0;
    double *buf = malloc((size_t)(2 * n + 8 * (H + 1) + 2 * na) * sizeof *buf);
    if (!buf) {
        rg_set_error("out of memory");
        return -1;
    }
    double *hx = buf, *hy = hx + n, *fx = hy + n, *fy[3] = {fx + H + 1, fy[0] + H + 1,
                                                            fy[1] + H + 1};
    double *ax = fy[2] + H + 1, *ay = ax + na;
    for (int64_t i = 0; i < n; i++) {
        hx[i] = s->t[h0 + i];
        hy[i] = s->y[h0 + i];
    }
    int cols[3] = {mid, 0, Q - 1};
    for (int64_t h = 0; h <= H; h++) {
        fx[h] = time_at(s, o - 1 + h, o - 1);
        for (int k = 0; k < 3; k++)
            fy[k][h] = h ? out[(h - 1) * Q + cols[k]] : s->y[o - 1];
    }
    for (int64_t i = 0; i < na; i++) {
        ax[i] = s->t[o - 1 + i];
        ay[i] = s->y[o - 1 + i];
    }
    char lo[32], hi[32], title[300];
    snprintf(lo, sizeof lo, "quantile %g", m->q[0]);
    snprintf(hi, sizeof hi, "quantile %g", m->q[Q - 1]);
    rg_plot_series ser[5] = {{"history", "#1f77b4", hx, hy, n},
                             {"forecast", "#d62728", fx, fy[0], H + 1},
                             {"actual", "#2ca02c", ax, ay, na},
                             {lo, "#ff9896", fx, fy[1], H + 1},
                             {hi, "#ff9896", fx, fy[2], H + 1}};
    snprintf(title, sizeof title, "forecast: %s, %s %lldx%lld, %lld steps ahead", s->date ?
             x->src.value_col : x->src.path, m->cell->name, (long long)m->L, (long long)m->H,
             (long long)H);
    int rc = rg_plot_svg(path, title, s->t[s->n - 1] != (double)(s->n - 1) ? "year" : "index",
                         x->src.value_col, ser, Q > 1 ? 5 : 3);
    free(buf);
    return rc;
}

int forecast_predict_main(int argc, char **argv)
{
    int64_t H = 0, hold = 0;
    const char *plot_path = NULL;
    const rg_flag own[] = {
        {"--horizon", RG_FLAG_INT, &H, 1, 100000, NULL, "values to forecast (default and most: the model's horizon)", 0, 0, 0},
        {"--hold-out", RG_FLAG_INT, &hold, 0, 1e12, NULL, "forecast from before the last K values, shown as actuals (default 0)", 0, 0, 0},
        {"--plot", RG_FLAG_STRING, &plot_path, 0, 0, NULL, "SVG: history, forecast, interval and actuals", 0, 0, 0},
    };
    fc_session x;
    int status;
    if (!fc_session_open(&x, "forecast predict", usage_line, own, 3, argc, argv, &status))
        return status;
    H = H ? H : x.m.horizon;
    int64_t o = x.s.n - hold;
    double *out = NULL;
    status = 1;
    if (H > x.m.horizon)
        rg_set_error("--horizon %lld is longer than the model's horizon %lld (it forecasts "
                     "%lld steps at once)", (long long)H, (long long)x.m.horizon,
                     (long long)x.m.horizon);
    else if (o < x.m.lookback)
        rg_set_error("--hold-out %lld leaves %lld values; the model reads %lld", (long long)hold,
                     (long long)(o > 0 ? o : 0), (long long)x.m.lookback);
    else if (plot_path && rg_file_check_output(plot_path, "--plot") != 0)
        ;
    else if (!(out = malloc((size_t)(x.m.horizon * x.m.Q) * sizeof *out)))
        rg_set_error("out of memory");
    else if (fc_forecast(&x.m, &x.s, o, 1, out, NULL) == 0 &&
             (!plot_path || plot(&x, o, H, out, plot_path) == 0)) {
        print_table(&x, o, H, out);
        status = 0;
    }
    if (status != 0)
        fprintf(stderr, "forecast predict: %s\n", rg_last_error());
    free(out);
    fc_session_close(&x);
    return status;
}
