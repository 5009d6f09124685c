/* translate's data: the fixed byte vocabulary and the seeded date generator
 * (formats, letter case, the split of the years into training, validation and
 * test), and the `translate data` subcommand that prints a split's pairs. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

int tr_encode(const char *text, int64_t n, int32_t *ids, const char *what)
{
    if (n == 0) {
        rg_set_error("%s: the text is empty", what);
        return -1;
    }
    if (n > TR_MAX_SRC) {
        rg_set_error("%s: the text has %lld bytes; at most %d are taken", what, (long long)n,
                     TR_MAX_SRC);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)text[i];
        if (b < TR_FIRST_BYTE || b > TR_LAST_BYTE) {
            rg_set_error("%s: byte 0x%02x at offset %lld is not in the vocabulary (printable "
                         "ASCII 32..126)", what, b, (long long)i);
            return -1;
        }
        ids[i] = 3 + b - TR_FIRST_BYTE;
    }
    return 0;
}

char tr_byte(int32_t id)
{
    return id >= 3 && id < TR_V ? (char)(id - 3 + TR_FIRST_BYTE) : '?';
}

/* ---- the generator -------------------------------------------------------------------- */
static const char *const month_name[12] = {"January", "February", "March", "April", "May",
                                           "June", "July", "August", "September", "October",
                                           "November", "December"};
static const char *const day_name[7] = {"Sunday", "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};

/* The templates: %d day, %D day with two digits, %o ordinal day (29th), %m
 * month, %M two-digit month, %B month name, %b its first three letters, %Y
 * year, %y two-digit year, %A weekday, %a its first three letters. */
static const char *const formats[] = {
    "%d %B %Y",          /* 29 November 2026 */
    "%b %d, '%y",        /* Nov 29, '26 */
    "the %o of %B, %Y",  /* the 29th of November, 2026 */
    "%d/%m/%Y",          /* 29/11/2026 */
    "%A %d %b %Y",       /* Sunday 29 Nov 2026 */
    "%Y-%M-%D",          /* 2026-11-29 */
    "%B %d, %Y",         /* November 29, 2026 */
    "%D.%M.%Y",          /* 29.11.2026 */
    "%D-%b-%Y",          /* 29-Nov-2026 */
    "%a, %d %b %Y",      /* Sun, 29 Nov 2026 */
    "%Y/%M/%D",          /* 2026/11/29 */
    "%Y%M%D",            /* 20261129 */
    "%d %b %y",          /* 29 Nov 26 */
    "%A, %B %o, %Y",     /* Sunday, November 29th, 2026 */
    "%D.%M.%y",          /* 29.11.26 */
    "%o %B %Y",          /* 29th November 2026 */
    "%D/%M/%Y",          /* 09/03/2026 */
    "%b. %d %Y",         /* Nov. 29 2026 */
};
enum { N_FORMATS = (int)(sizeof formats / sizeof formats[0]) };

int tr_format_count(void)
{
    return N_FORMATS;
}

const char *tr_format_name(int fmt)
{
    return fmt >= 0 && fmt < N_FORMATS ? formats[fmt] : "?";
}

int tr_year_split(int year)
{
    int k = (year / 10 + year) % 10;
    return k == 3 ? TR_TEST : k == 7 ? TR_VAL : TR_TRAIN;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in(int y, int m)
{
    static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : n[m - 1];
}

/* 0 = Sunday (Sakamoto's method) */
static int weekday(int y, int m, int d)
{
    static const int t[12] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
    if (m < 3)
        y -= 1;
    return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

static const char *ordinal(int d)
{
    if (d % 100 >= 11 && d % 100 <= 13)
        return "th";
    return d % 10 == 1 ? "st" : d % 10 == 2 ? "nd" : d % 10 == 3 ? "rd" : "th";
}

/* one field of a template */
static int field(char c, int y, int m, int d, char *p, size_t room)
{
    switch (c) {
    case 'd': return snprintf(p, room, "%d", d);
    case 'D': return snprintf(p, room, "%02d", d);
    case 'o': return snprintf(p, room, "%d%s", d, ordinal(d));
    case 'm': return snprintf(p, room, "%d", m);
    case 'M': return snprintf(p, room, "%02d", m);
    case 'B': return snprintf(p, room, "%s", month_name[m - 1]);
    case 'b': return snprintf(p, room, "%.3s", month_name[m - 1]);
    case 'Y': return snprintf(p, room, "%04d", y);
    case 'y': return snprintf(p, room, "%02d", y % 100);
    case 'A': return snprintf(p, room, "%s", day_name[weekday(y, m, d)]);
    case 'a': return snprintf(p, room, "%.3s", day_name[weekday(y, m, d)]);
    default: return -1;
    }
}

int tr_format_date(int fmt, int kase, int y, int m, int d, char *buf, char *iso)
{
    if (fmt < 0 || fmt >= N_FORMATS || m < 1 || m > 12 || d < 1 || d > days_in(y, m) ||
        y < 1000 || y > 9999) {
        rg_set_error("tr_format_date: no date %04d-%02d-%02d in format %d", y, m, d, fmt);
        return -1;
    }
    size_t at = 0;
    for (const char *t = formats[fmt]; *t; t++) {
        int k = *t == '%' ? field(*++t, y, m, d, buf + at, TR_MAX_SRC + 1 - at)
                          : snprintf(buf + at, TR_MAX_SRC + 1 - at, "%c", *t);
        if (k < 0 || (size_t)k > TR_MAX_SRC - at)
            return -1;
        at += (size_t)k;
    }
    for (size_t i = 0; i < at; i++)
        buf[i] = kase == 1 ? (char)tolower((unsigned char)buf[i])
                 : kase == 2 ? (char)toupper((unsigned char)buf[i]) : buf[i];
    char full[48];
    snprintf(full, sizeof full, "%04d-%02d-%02d", y, m, d);
    memcpy(iso, full, TR_TGT);
    return 0;
}

/* one pair of the split: a year of the split, a month, a day of that month, a
 * format (two-digit years only for 1950..2049) and a letter case */
static void draw_pair(rg_rng *r, tr_split split, char *src, char *iso, int *fmt)
{
    int y;
    do
        y = 1900 + (int)rg_rng_below(r, 200);
    while (tr_year_split(y) != (int)split);
    int m = 1 + (int)rg_rng_below(r, 12);
    int d = 1 + (int)rg_rng_below(r, days_in(y, m));
    do
        *fmt = (int)rg_rng_below(r, N_FORMATS);
    while (strstr(formats[*fmt], "%y") && (y < 1950 || y > 2049));
    double u = rg_rng_uniform(r);
    int kase = u < 0.6 ? 0 : u < 0.85 ? 1 : 2;
    tr_format_date(*fmt, kase, y, m, d, src, iso);
}

int tr_data_make(tr_data *D, tr_split split, int64_t n, uint64_t seed)
{
    memset(D, 0, sizeof *D);
    D->n = n;
    D->src = calloc((size_t)(n * TR_MAX_SRC) + 1, sizeof *D->src);
    D->len = calloc((size_t)n + 1, sizeof *D->len);
    D->tgt = calloc((size_t)(n * TR_TGT) + 1, sizeof *D->tgt);
    D->fmt = calloc((size_t)n + 1, 1);
    if (!D->src || !D->len || !D->tgt || !D->fmt) {
        tr_data_free(D);
        rg_set_error("out of memory for %lld pairs", (long long)n);
        return -1;
    }
    rg_rng r;
    rg_rng_seed(&r, seed * 3 + (uint64_t)split);
    for (int64_t i = 0; i < n; i++) {
        char src[TR_MAX_SRC + 1], iso[TR_TGT];
        int fmt;
        draw_pair(&r, split, src, iso, &fmt);
        D->len[i] = (int32_t)strlen(src);
        D->fmt[i] = (uint8_t)fmt;
        if (tr_encode(src, D->len[i], D->src + i * TR_MAX_SRC, "generator") != 0 ||
            tr_encode(iso, TR_TGT - 1, D->tgt + i * TR_TGT, "generator") != 0)
            return -1;
        D->tgt[i * TR_TGT + TR_TGT - 1] = TR_EOS;
    }
    return 0;
}

void tr_data_free(tr_data *D)
{
    free(D->src);
    free(D->len);
    free(D->tgt);
    free(D->fmt);
    memset(D, 0, sizeof *D);
}

uint64_t tr_data_hash(const tr_data *D)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t i = 0; i < D->n; i++)
        for (int k = 0; k < TR_MAX_SRC + TR_TGT; k++) {
            int32_t v = k < TR_MAX_SRC ? D->src[i * TR_MAX_SRC + k]
                                       : D->tgt[i * TR_TGT + k - TR_MAX_SRC];
            h = (h ^ (uint64_t)(uint32_t)v) * 0x100000001b3ull;
        }
    return h;
}

void tr_data_text(const tr_data *D, int64_t i, char *src, char *tgt)
{
    for (int k = 0; k < D->len[i]; k++)
        src[k] = tr_byte(D->src[i * TR_MAX_SRC + k]);
    src[D->len[i]] = '\0';
    for (int k = 0; k < TR_TGT - 1; k++)
        tgt[k] = tr_byte(D->tgt[i * TR_TGT + k]);
    tgt[TR_TGT - 1] = '\0';
}

/* translate data: a split's pairs as "source TAB target" lines (what the
 * PyTorch twin trains and tests on) */
int tr_data_main(int argc, char **argv)
{
    const char *split = "train";
    int64_t n = 1000, seed = 1;
    rg_flag fl[] = {
        {"--split", RG_FLAG_CHOICE, &split, 0, 0, "train|val|test", "which pairs (default train)", 0, 0, 0},
        {"--examples", RG_FLAG_INT, &n, 1, 1e8, NULL, "how many (default 1000)", 0, 0, 0},
        {"--data-seed", RG_FLAG_INT, &seed, 0, 9.2e18, NULL, "the generator's seed (default 1)", 0, 0, 0},
    };
    int status;
    if (!rg_flags_cli("translate data", "usage: translate data [--split train|val|test] "
                      "[--examples N] [--data-seed S]", fl, 3, argc, argv, 2, &status))
        return status;
    tr_data D;
    tr_split s = !strcmp(split, "train") ? TR_TRAIN : !strcmp(split, "val") ? TR_VAL : TR_TEST;
    if (tr_data_make(&D, s, n, (uint64_t)seed) != 0) {
        fprintf(stderr, "translate data: %s\n", rg_last_error());
        return 1;
    }
    for (int64_t i = 0; i < n; i++) {
        char src[TR_MAX_SRC + 1], tgt[TR_TGT];
        tr_data_text(&D, i, src, tgt);
        printf("%s\t%s\t%d\n", src, tgt, D.fmt[i]);
    }
    tr_data_free(&D);
    return 0;
}
