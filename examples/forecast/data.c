/* forecast's data: a series from a CSV column (a bundled one or a user's),
 * its gaps filled, its calendar phase, and the windows the model reads. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"

enum { CELL_MAX = 256 };

int fc_source_flags(fc_source *s, rg_flag *fl, unsigned attr)
{
    const rg_flag own[] = {
        {"--series", RG_FLAG_CHOICE, &s->series, 0, 0, "co2|sunspots", "a bundled series: co2 (weekly Mauna Loa CO2) | sunspots (yearly) (default co2)", attr, 0, 0},
        {"--csv", RG_FLAG_STRING, &s->csv, 0, 0, NULL, "your own series: a CSV file with a header line", attr | RG_FLAG_PATH | RG_FLAG_OVERRIDE, 0, 0},
        {"--column", RG_FLAG_STRING, &s->column, 0, 0, NULL, "the CSV's column of values (with --csv)", attr, 0, 0},
        {"--date-column", RG_FLAG_STRING, &s->date_column, 0, 0, NULL, "the CSV's column of dates (YYYYMMDD, YYYY-MM-DD or a year), optional", attr, 0, 0},
        {"--season", RG_FLAG_INT, &s->season, 0, 100000, NULL, "season length of the seasonal-naive yardstick (default: co2 52, sunspots 11, CSV 1)", attr, 0, 0},
    };
    memcpy(fl, own, sizeof own);
    return (int)(sizeof own / sizeof own[0]);
}

char *fc_data_path(const char *name)
{
    char *p = malloc(strlen(name) + 8);
    if (!p)
        return NULL;
    sprintf(p, "data/%s", name);
    if (rg_file_check_input(p) == 0)
        return p;
    free(p);
#ifdef CHARLM_SOURCE_DIR
    p = malloc(strlen(CHARLM_SOURCE_DIR) + strlen(name) + 8);
    if (p)
        sprintf(p, "%s/data/%s", CHARLM_SOURCE_DIR, name);
    return p;
#else
    p = malloc(strlen(name) + 8);
    if (p)
        sprintf(p, "data/%s", name);
    return p;
#endif
}

int fc_source_resolve(fc_source *s, bool both_given)
{
    if (both_given) {
        rg_set_error("give --series or --csv, not both");
        return -1;
    }
    if (s->csv) {
        if (!s->column) {
            rg_set_error("--csv %s needs --column NAME (the column of values)", s->csv);
            return -1;
        }
        s->path = s->csv;
        s->value_col = s->column;
        s->date_col = s->date_column;
        s->period = s->season ? s->season : 1;
        return 0;
    }
    if (s->column || s->date_column) {
        rg_set_error("--column and --date-column go with --csv (a bundled series knows its own)");
        return -1;
    }
    bool co2 = !s->series || !strcmp(s->series, "co2");
    free(s->owned);
    if (!(s->owned = fc_data_path(co2 ? "co2.csv" : "sunspots.csv"))) {
        rg_set_error("out of memory");
        return -1;
    }
    s->path = s->owned;
    s->value_col = co2 ? "co2" : "SUNACTIVITY";
    s->date_col = co2 ? "date" : "YEAR";
    s->period = s->season ? s->season : co2 ? 52 : 11;
    return 0;
}

/* ---- CSV ------------------------------------------------------------------------ */

/* The next field of the line at *p into cell (unquoted, "" -> ", truncated to
 * CELL_MAX - 1 bytes); *p moves past its comma.  1: a field; 0: end of line
 * (*p moves past it); -1: a quote that does not close on its line. */
static int next_field(const char **p, const char *end, char *cell, bool *eol)
{
    const char *q = *p;
    size_t n = 0;
    bool quoted = q < end && *q == '"';
    if (quoted)
        q++;
    for (; q < end; q++) {
        if (quoted && *q == '"') {
            if (q + 1 < end && q[1] == '"') {
                q++;
            } else {
                quoted = false;
                continue;
            }
        } else if (!quoted && (*q == ',' || *q == '\n' || *q == '\r')) {
            break;
        } else if (quoted && *q == '\n') {
            return -1;
        }
        if (n + 1 < CELL_MAX)
            cell[n++] = *q;
    }
    if (quoted)
        return -1;
    cell[n] = '\0';
    *eol = q >= end || *q != ',';
    if (q < end && *q == '\r' && q + 1 < end && q[1] == '\n')
        q++; /* CRLF; a lone CR ends a line too */
    *p = q < end ? q + 1 : end;
    return 1;
}

/* the index of name among the header's fields, or -1 with a message listing them */
static int find_column(const char **p, const char *end, const char *file, const char *name,
                       int *n_fields)
{
    char cell[CELL_MAX], seen[512] = "";
    int at = -1, k = 0;
    bool eol = false;
    while (!eol) {
        if (next_field(p, end, cell, &eol) < 0) {
            rg_set_error("%s:1: a quoted field does not end on its line", file);
            return -1;
        }
        if (!strcmp(cell, name) && at < 0)
            at = k;
        size_t used = strlen(seen);
        snprintf(seen + used, sizeof seen - used, "%s'%s'", k ? ", " : "", cell);
        k++;
    }
    *n_fields = k;
    if (at < 0)
        rg_set_error("%s: no column '%s' in its header line (it has %s)", file, name, seen);
    return at;
}

/* an empty cell, or NA / NaN / null in any case */
static bool is_missing(const char *c)
{
    char low[8] = "";
    for (size_t i = 0; c[i] && i < sizeof low - 1; i++)
        low[i] = (char)tolower((unsigned char)c[i]), low[i + 1] = '\0';
    return !*c || (strlen(c) < sizeof low &&
                   (!strcmp(low, "na") || !strcmp(low, "nan") || !strcmp(low, "null")));
}

static void trim(char *c)
{
    size_t n = strlen(c), a = 0;
    while (n > 0 && isspace((unsigned char)c[n - 1]))
        c[--n] = '\0';
    while (isspace((unsigned char)c[a]))
        a++;
    memmove(c, c + a, n - a + 1);
}

static int grow(fc_series *s, int64_t *cap, bool dates)
{
    int64_t nc = *cap ? 2 * *cap : 1024;
    double *y = realloc(s->y, (size_t)nc * sizeof *y);
    if (y)
        s->y = y;
    bool *o = y ? realloc(s->observed, (size_t)nc * sizeof *o) : NULL;
    if (o)
        s->observed = o;
    char **d = o && dates ? realloc(s->date, (size_t)nc * sizeof *d) : NULL;
    if (d)
        s->date = d;
    if (!y || !o || (dates && !d)) {
        rg_set_error("out of memory");
        return -1;
    }
    *cap = nc;
    return 0;
}

/* one data line: its value (or a gap) and its date */
static int read_row(fc_series *s, const char **p, const char *end, const fc_source *src,
                    int col, int dcol, int64_t line)
{
    char cell[CELL_MAX], value[CELL_MAX] = "", date[CELL_MAX] = "";
    bool eol = false;
    int k = 0;
    for (; !eol; k++) {
        if (next_field(p, end, cell, &eol) < 0) {
            rg_set_error("%s:%lld: a quoted field does not end on its line", src->path,
                         (long long)line);
            return -1;
        }
        if (k == col)
            memcpy(value, cell, sizeof cell);
        if (k == dcol)
            memcpy(date, cell, sizeof cell);
    }
    if (k <= col || k <= dcol) {
        bool val = k <= col;
        rg_set_error("%s:%lld: %d field%s, but column '%s' is field %d", src->path,
                     (long long)line, k, k == 1 ? "" : "s", val ? src->value_col : src->date_col,
                     (val ? col : dcol) + 1);
        return -1;
    }
    trim(value);
    char *stop;
    double v = is_missing(value) ? NAN : strtod(value, &stop);
    if (!is_missing(value) && (stop == value || *stop || !isfinite(v))) {
        rg_set_error("%s:%lld: column '%s': '%s' is not a number", src->path, (long long)line,
                     src->value_col, value);
        return -1;
    }
    s->y[s->n] = v;
    s->observed[s->n] = !isnan(v);
    if (s->date) {
        trim(date);
        if (!(s->date[s->n] = malloc(strlen(date) + 1))) {
            rg_set_error("out of memory");
            return -1;
        }
        strcpy(s->date[s->n], date);
    }
    s->n++;
    return 0;
}

/* the rows of the data lines after the header (blank lines skipped) */
static int read_rows(fc_series *s, const char *p, const char *end, const fc_source *src,
                     int col, int dcol)
{
    int64_t cap = 0, line = 1;
    while (p < end) {
        line++;
        if (*p == '\n' || *p == '\r') {
            p += *p == '\r' && p + 1 < end && p[1] == '\n' ? 2 : 1;
            continue;
        }
        if (s->n == cap && grow(s, &cap, dcol >= 0) != 0)
            return -1;
        if (read_row(s, &p, end, src, col, dcol, line) != 0)
            return -1;
    }
    return 0;
}

/* gaps: linear interpolation between the observed neighbours, the nearest
 * observed value before the first and after the last */
static int fill_gaps(fc_series *s, const char *file)
{
    int64_t prev = -1, n_obs = 0;
    for (int64_t i = 0; i < s->n; i++) {
        if (!s->observed[i])
            continue;
        n_obs++;
        for (int64_t j = prev + 1; j < i; j++)
            s->y[j] = prev < 0 ? s->y[i]
                               : s->y[prev] + (double)(j - prev) / (double)(i - prev) *
                                                  (s->y[i] - s->y[prev]);
        prev = i;
    }
    if (n_obs < 3) {
        rg_set_error("%s: %lld value%s in %lld rows; a series needs at least 3", file,
                     (long long)n_obs, n_obs == 1 ? "" : "s", (long long)s->n);
        return -1;
    }
    for (int64_t j = prev + 1; j < s->n; j++)
        s->y[j] = s->y[prev];
    s->n_missing = s->n - n_obs;
    return 0;
}

/* day of the year (0-based) and days in the year of "YYYYMMDD" or
 * "YYYY-MM-DD"; false when d is not such a date */
static bool day_of_year(const char *d, int *year, int *doy, int *days)
{
    char digits[9];
    size_t n = strlen(d);
    if (n == 10 && d[4] == '-' && d[7] == '-')
        snprintf(digits, sizeof digits, "%.4s%.2s%.2s", d, d + 5, d + 8);
    else if (n == 8)
        memcpy(digits, d, 9);
    else
        return false;
    for (int i = 0; i < 8; i++)
        if (!isdigit((unsigned char)digits[i]))
            return false;
    int y = atoi(digits) / 10000, m = atoi(digits) / 100 % 100, day = atoi(digits) % 100;
    static const int cum[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    if (m < 1 || m > 12 || day < 1 || day > 31)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    *year = y;
    *doy = cum[m - 1] + day - 1 + (leap && m > 2);
    *days = leap ? 366 : 365;
    return true;
}

static bool is_year(const char *d)
{
    char *stop;
    long v = strtol(d, &stop, 10);
    return stop != d && !*stop && v > -100000 && v < 100000;
}

/* the calendar phase (day of the year, else the position in the season) and
 * the time axis (fractional years when every row has a date, years when every
 * row is a year, else the index) */
static int set_time(fc_series *s, int64_t period)
{
    s->t = malloc((size_t)s->n * sizeof *s->t);
    s->phase = malloc((size_t)s->n * sizeof *s->phase);
    if (!s->t || !s->phase) {
        rg_set_error("out of memory");
        return -1;
    }
    bool dates = s->date != NULL, years = s->date != NULL;
    for (int64_t i = 0; i < s->n; i++) {
        int y, doy, days;
        bool full = s->date && day_of_year(s->date[i], &y, &doy, &days);
        s->phase[i] = full ? (double)doy / days : (double)(i % period) / (double)period;
        s->t[i] = full ? y + s->phase[i] : (double)i;
        dates = dates && full;
        years = years && is_year(s->date[i]);
    }
    for (int64_t i = 0; !dates && i < s->n; i++)
        s->t[i] = years ? (double)strtol(s->date[i], NULL, 10) : (double)i;
    return 0;
}

int fc_series_read(fc_series *s, const fc_source *src)
{
    memset(s, 0, sizeof *s);
    uint8_t *data;
    int64_t size;
    if (rg_file_read_all(src->path, &data, &size) != 0)
        return -1;
    const char *p = (const char *)data, *end = p + size;
    if (size >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) /* a UTF-8 byte-order mark */
        p += 3;
    int n_fields, col, dcol = -1, rc = -1;

    const char *hp = p;
    if ((col = find_column(&hp, end, src->path, src->value_col, &n_fields)) < 0)
        goto out;
    if (src->date_col) {
        const char *dp = p;
        if ((dcol = find_column(&dp, end, src->path, src->date_col, &n_fields)) < 0)
            goto out;
    }
    if (read_rows(s, hp, end, src, col, dcol) != 0 || fill_gaps(s, src->path) != 0 ||
        set_time(s, src->period) != 0)
        goto out;
    s->n_fit = s->n - s->n / 10;
    rc = 0;
out:
    free(data);
    return rc;
}

void fc_series_free(fc_series *s)
{
    for (int64_t i = 0; s->date && i < s->n; i++)
        free(s->date[i]);
    free(s->date);
    free(s->y);
    free(s->observed);
    free(s->t);
    free(s->phase);
    memset(s, 0, sizeof *s);
}

uint64_t fc_series_hash(const fc_series *s)
{
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < s->n; i++) {
        const unsigned char *b = (const unsigned char *)&s->y[i];
        for (size_t k = 0; k < sizeof(double); k++)
            h = (h ^ b[k]) * 1099511628211ull;
        h = (h ^ (unsigned char)s->observed[i]) * 1099511628211ull;
    }
    return h;
}

/* ---- windows ---------------------------------------------------------------------- */

double *fc_standardise(const fc_model *m, const fc_series *s)
{
    double *z = malloc((size_t)s->n * sizeof *z);
    if (!z) {
        rg_set_error("out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < s->n; i++)
        z[i] = (s->y[i] - m->mean) / m->std;
    return z;
}

void fc_window(const fc_model *m, const fc_series *s, const double *z, int64_t o, double *x,
               double *target)
{
    const double two_pi = 6.283185307179586;
    int64_t L = m->lookback, I = m->I;
    double last = z[o - 1];
    for (int64_t k = 0; k < L; k++) {
        int64_t t = o - L + k;
        x[k * I] = z[t] - last;
        if (m->calendar) {
            x[k * I + 1] = sin(two_pi * s->phase[t]);
            x[k * I + 2] = cos(two_pi * s->phase[t]);
        }
    }
    for (int64_t h = 0; target && h < m->horizon; h++)
        for (int64_t q = 0; q < m->Q; q++)
            target[h * m->Q + q] = z[o + h] - last;
}

rg_tensor *fc_inputs(rg_tape *tp, const fc_model *m, const double *x, int64_t b0, int64_t b1)
{
    int64_t L = m->lookback, I = m->I, B = b1 - b0;
    rg_tensor *t = rg_tensor_new(tp, RG_F32, RG_DIMS(L, B, I));
    if (!t)
        return NULL;
    float *d = t->data;
    for (int64_t k = 0; k < L; k++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < I; i++)
                d[(k * B + b) * I + i] = (float)x[(b0 + b) * L * I + k * I + i];
    return t;
}

rg_tensor *fc_targets(rg_tape *tp, const fc_model *m, const double *target, int64_t b0,
                      int64_t b1)
{
    int64_t HQ = m->horizon * m->Q;
    rg_tensor *t = rg_tensor_new(tp, RG_F32, RG_DIMS(b1 - b0, HQ));
    if (!t)
        return NULL;
    float *d = t->data;
    for (int64_t j = 0; j < (b1 - b0) * HQ; j++)
        d[j] = (float)target[b0 * HQ + j];
    return t;
}
