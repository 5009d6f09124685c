/* The forecast program as a user runs it (a subprocess of the built binary):
 * a tiny model trained in a second on the bundled series and on a CSV of our
 * own, its evaluation and predictions, exact resumption, and every refusal of
 * malformed input (CSV lines and cells, columns, sizes, checkpoints) with a
 * message and a non-zero exit. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static void make_dir(void)
{
    rg_suite_open("forecast");
}

TestSuite(forecast, .init = make_dir, .fini = rg_suite_close);

static const char *tmp(const char *name)
{
    return rg_suite_path(name);
}

/* a path in the temporary folder that stays valid (tmp's rotate) */
#define KEEP(var, name)                                                                       \
    char var[512];                                                                            \
    snprintf(var, sizeof var, "%s", tmp(name))

/* Runs "forecast <args>"; returns its exit status, stdout in rg_out, stderr in rg_err. */
static int forecast(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = rg_run_program("forecast", NULL, fmt, ap);
    va_end(ap);
    return st;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
}

static void expect_error(int rc, const char *needle)
{
    cr_assert_neq(rc, 0, "expected failure (%s); out:\n%s", needle, rg_out);
    cr_assert(strstr(rg_err, needle), "expected '%s' in stderr:\n%s", needle, rg_err);
}

static double field(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    cr_assert_not_null(p, "'%s' not in output:\n%s", key, text);
    return strtod(p + strlen(key), NULL);
}

/* the line of text that starts with prefix (a static copy) */
static const char *line_of(const char *text, const char *prefix)
{
    static char buf[1024];
    const char *p = strstr(text, prefix);
    cr_assert_not_null(p, "'%s' not in output:\n%s", prefix, text);
    size_t n = strcspn(p, "\n");
    snprintf(buf, sizeof buf, "%.*s", (int)n, p);
    return buf;
}

/* A CSV of our own: a trend plus a season of 12, dates, three gaps (one "NA"). */
static void make_csv(const char *name, int rows)
{
    static char text[1 << 16];
    int n = snprintf(text, sizeof text, "date,value,other\n");
    for (int i = 0; i < rows; i++) {
        int y = 2000 + i / 12, m = i % 12 + 1;
        double v = 10 + 0.05 * i + 3 * sin(6.283185307179586 * i / 12.0) + 0.3 * sin(1.7 * i);
        if (i == 5 || i == 6)
            n += snprintf(text + n, sizeof text - (size_t)n, "%04d-%02d-01,,x\n", y, m);
        else if (i == 40)
            n += snprintf(text + n, sizeof text - (size_t)n, "%04d-%02d-01,NA,x\n", y, m);
        else
            n += snprintf(text + n, sizeof text - (size_t)n, "%04d-%02d-01,%.4f,x\n", y, m, v);
    }
    write_text(tmp(name), text);
}

static const char *tiny = "--hidden 4 --steps 30 --threads 1 --save-every 0";

/* ---- training, evaluation, prediction ------------------------------------------ */

Test(forecast, trains_evaluates_and_predicts_sunspots)
{
    KEEP(model, "sun.safetensors");
    int rc = forecast("train --series sunspots %s --save '%s'", tiny, model);
    cr_assert_eq(rc, 0, "%s%s", rg_out, rg_err);
    cr_assert(strstr(rg_out, "309 values (none missing)"), "%s", rg_out);
    cr_assert(strstr(rg_out, "lookback 22, horizon 11, MSE"), "%s", rg_out);
    cr_assert(strstr(rg_out, "train: steps=30 loss="), "%s", rg_out);
    static char trained[1024];
    snprintf(trained, sizeof trained, "%s", line_of(rg_out, "eval: points="));
    cr_assert(strstr(trained, "eval: points=220 mae="), "%s", trained);
    cr_assert(strstr(trained, " snaive_mase=1.269485"), "%s", trained);
    double mase = field(trained, " mase=");
    cr_assert(isfinite(mase) && mase > 0, "%s", trained);
    /* eval of the saved model says exactly what training said */
    cr_assert_eq(forecast("eval --model '%s'", model), 0, "%s", rg_err);
    cr_assert_str_eq(line_of(rg_out, "eval: points="), trained);
    /* the next 3 years, and a plot of the last 11 held out */
    cr_assert_eq(forecast("predict --model '%s' --horizon 3", model), 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "forecast after 2008") && strstr(rg_out, "\n   3  2011  "), "%s",
              rg_out);
    cr_assert_eq(forecast("predict --model '%s' --hold-out 11 --plot '%s'", model,
                          tmp("p.svg")), 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "actual") && strstr(rg_out, "\n  11  2008  "), "%s", rg_out);
    static char svg[1 << 16];
    rg_slurp(tmp("p.svg"), svg, sizeof svg);
    cr_assert(strstr(svg, "<svg") && strstr(svg, "</svg>") && strstr(svg, "history") &&
              strstr(svg, "forecast") && strstr(svg, "actual"), "%s", svg);
}

Test(forecast, quantiles_give_intervals)
{
    KEEP(model, "q.safetensors");
    int rc = forecast("train --series co2 --lookback 16 --horizon 4 --quantiles 0.1,0.5,0.9 "
                      "--calendar --layers 2 --cell gru %s --save '%s'", tiny, model);
    cr_assert_eq(rc, 0, "%s%s", rg_out, rg_err);
    cr_assert(strstr(rg_out, "2284 values (59 missing, filled by linear interpolation)"), "%s",
              rg_out);
    cr_assert(strstr(rg_out, "interval [q0.1, q0.9] holds "), "%s", rg_out);
    cr_assert(strstr(rg_out, "eval: points=900 "), "%s", rg_out);
    cr_assert_eq(forecast("predict --model '%s'", model), 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "lower") && strstr(rg_out, "upper"), "%s", rg_out);
    cr_assert(strstr(rg_out, "\n   1  2002-01-05  ") && strstr(rg_out, "\n   4  2002-01-26  "),
              "%s", rg_out);
    rg_safetensors *st = rg_safetensors_read(model);
    cr_assert_not_null(st, "%s", rg_last_error());
    cr_assert_str_eq(rg_safetensors_get_meta(st, "quantiles"), "0.1,0.5,0.9");
    cr_assert_str_eq(rg_safetensors_get_meta(st, "cell"), "gru");
    cr_assert_str_eq(rg_safetensors_get_meta(st, "calendar"), "1");
    cr_assert_str_eq(rg_safetensors_get_meta(st, "series"), "co2");
    const rg_tensor *head = rg_safetensors_get(st, "head.weight");
    cr_assert(head && head->shape[0] == 12 && head->shape[1] == 4);
    cr_assert_not_null(rg_safetensors_get(st, "rnn.weight_ih_l1"));
    rg_safetensors_free(st);
}

Test(forecast, own_csv_with_dates_and_gaps)
{
    KEEP(csv, "s.csv");
    make_csv("s.csv", 240);
    KEEP(model, "c.safetensors");
    int rc = forecast("train --csv '%s' --column value --date-column date --season 12 %s "
                      "--save '%s'", csv, tiny, model);
    cr_assert_eq(rc, 0, "%s%s", rg_out, rg_err);
    cr_assert(strstr(rg_out, "240 values (3 missing, filled by linear interpolation), 216 "
                            "train, the last 24 held out"), "%s", rg_out);
    cr_assert(strstr(rg_out, "lookback 24, horizon 12"), "%s", rg_out);
    /* 13 origins x 12 steps */
    cr_assert(strstr(rg_out, "eval: points=156 "), "%s", rg_out);
    cr_assert_eq(forecast("predict --model '%s' --horizon 2", model), 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "forecast after 2019-12-01") && strstr(rg_out, "\n   2  2020-02-0"),
              "%s", rg_out);
    /* eval finds the CSV through the model (its path is stored absolute) */
    cr_assert_eq(forecast("eval --model '%s'", model), 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "eval: points=156 "), "%s", rg_out);
    /* Windows line ends and a byte-order mark */
    static char crlf[1 << 14];
    int n = snprintf(crlf, sizeof crlf, "\xef\xbb\xbf\"t\",\"v\"\r\n");
    for (int i = 0; i < 100; i++)
        n += snprintf(crlf + n, sizeof crlf - (size_t)n, "%d,%d\r\n", i, (i * 7) % 13);
    write_text(tmp("crlf.csv"), crlf);
    rc = forecast("train --csv '%s' --column v --date-column t --season 4 %s --save '%s'",
                  tmp("crlf.csv"), tiny, tmp("crlf.safetensors"));
    cr_assert_eq(rc, 0, "%s%s", rg_out, rg_err);
    cr_assert(strstr(rg_out, "100 values (none missing), 90 train"), "%s", rg_out);
    /* a CSV without dates: the season's position is the phase */
    rc = forecast("train --csv '%s' --column value --season 12 --calendar %s --save '%s'", csv,
                  tiny, tmp("nodates.safetensors"));
    cr_assert_eq(rc, 0, "%s%s", rg_out, rg_err);
}

Test(forecast, steps_zero_writes_the_initial_weights)
{
    KEEP(init, "init.safetensors");
    cr_assert_eq(forecast("train --series sunspots --hidden 4 --steps 0 --save '%s'", init), 0,
                 "%s", rg_err);
    cr_assert(strstr(rg_out, "wrote the initial weights"), "%s", rg_out);
    cr_assert_eq(access(tmp("init.train.safetensors"), F_OK), -1);
    /* --init takes its settings: --hidden 9 is ignored with a note */
    int rc = forecast("train --init '%s' --series sunspots --hidden 9 --steps 5 --threads 1 "
                      "--save '%s'", init, tmp("from.safetensors"));
    cr_assert_eq(rc, 0, "%s%s", rg_out, rg_err);
    cr_assert(strstr(rg_err, "--hidden is ignored"), "%s", rg_err);
    cr_assert(strstr(rg_out, "lstm 1x4 "), "%s", rg_out);
}

Test(forecast, a_plugin_cell)
{
    const char *bd = getenv("RG_BUILD_DIR");
    char lib[512];
    snprintf(lib, sizeof lib, "%s/examples/cell_plugin.so", bd ? bd : "build");
    KEEP(model, "m.safetensors");
    int rc = forecast("train --series sunspots --cell-lib '%s' --cell mingru %s --stop-after 10 "
                      "--save '%s'", lib, tiny, model);
    cr_assert_eq(rc, 0, "%s%s", rg_out, rg_err);
    /* the resumed run loads its plugin again by itself */
    cr_assert_eq(forecast("train --resume '%s' --threads 1", model), 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "eval: points=220 "), "%s", rg_out);
    expect_error(forecast("eval --model '%s'", model), "the run that saved it loaded the plugin");
    cr_assert_eq(forecast("eval --model '%s' --cell-lib '%s'", model, lib), 0, "%s", rg_err);
    cr_assert_eq(forecast("predict --model '%s' --cell-lib '%s'", model, lib), 0, "%s", rg_err);
}

/* ---- resumption ---------------------------------------------------------------- */

static void compare_files(const char *got_path, const char *want_path)
{
    rg_safetensors *got = rg_safetensors_read(got_path);
    rg_safetensors *want = rg_safetensors_read(want_path);
    cr_assert_not_null(got, "%s", rg_last_error());
    cr_assert_not_null(want, "%s", rg_last_error());
    cr_assert_eq(rg_safetensors_count(got), rg_safetensors_count(want));
    for (int i = 0; i < rg_safetensors_count(want); i++) {
        const char *name;
        const rg_tensor *w = rg_safetensors_at(want, i, &name);
        const rg_tensor *g = rg_safetensors_get(got, name);
        cr_assert_not_null(g, "tensor %s missing from %s", name, got_path);
        rg_cmp c = rg_test_compare(g, w, 0, 0);
        cr_assert(c.pass, "%s: %s element %lld got %.9g want %.9g", got_path, name,
                  (long long)c.worst, c.got_v, c.want_v);
    }
    rg_safetensors_free(got);
    rg_safetensors_free(want);
}

Test(forecast, resume_gives_the_same_weights)
{
    const char *cfg = "--series co2 --lookback 20 --horizon 6 --hidden 6 --layers 2 "
                      "--quantiles 0.25,0.5,0.75 --calendar --batch 8 --steps 20 --eval-every 5 "
                      "--save-every 3 --seed 5 --threads 1";
    int rc = forecast("train %s --save '%s'", cfg, tmp("full.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    static char full[1024];
    snprintf(full, sizeof full, "%s", line_of(rg_out, "eval: points="));
    rc = forecast("train %s --stop-after 10 --save '%s'", cfg, tmp("half.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "step 10 of 20"), "%s", rg_out);
    cr_assert(!strstr(rg_out, "eval: points="), "%s", rg_out);
    rc = forecast("train --resume '%s' --threads 1", tmp("half.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "train: steps=20 "), "%s", rg_out);
    cr_assert_str_eq(line_of(rg_out, "eval: points="), full);
    compare_files(tmp("half.safetensors"), tmp("full.safetensors"));
    compare_files(tmp("half.train.safetensors"), tmp("full.train.safetensors"));
}

Test(forecast, resume_refuses_another_series_and_changed_settings)
{
    KEEP(csv, "r.csv");
    make_csv("r.csv", 120);
    int rc = forecast("train --csv '%s' --column value --season 12 --hidden 3 --steps 4 "
                      "--threads 1 --save '%s'", csv, tmp("r.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    expect_error(forecast("train --resume '%s' --steps 8 --hidden 5", tmp("r.safetensors")),
                 "--hidden cannot be given with --resume");
    expect_error(forecast("train --resume '%s' --steps 8 --lr 0.1", tmp("r.safetensors")),
                 "--lr cannot be given with --resume");
    KEEP(other, "other.csv");
    make_csv("other.csv", 121);
    expect_error(forecast("train --resume '%s' --steps 8 --csv '%s'", tmp("r.safetensors"),
                          other), "is not the series of the run being resumed");
    cr_assert_eq(forecast("train --resume '%s' --steps 8 --threads 1", tmp("r.safetensors")), 0,
                 "%s", rg_err);
}

Test(forecast, log_plot_and_signals_come_from_the_core)
{
    int rc = forecast("train --series sunspots %s --log-every 5 --log '%s' --plot '%s' --save "
                      "'%s'", tiny, tmp("l.csv"), tmp("l.svg"), tmp("l.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    static char buf[1 << 16];
    rg_slurp(tmp("l.csv"), buf, sizeof buf);
    cr_assert(!strncmp(buf, "step,train_loss,val_loss,lr,windows_per_s\n5,", 44), "%s", buf);
    rg_slurp(tmp("l.svg"), buf, sizeof buf);
    cr_assert(strstr(buf, "<svg") && strstr(buf, "validation loss"), "%s", buf);
}

/* ---- malformed input ------------------------------------------------------------- */

Test(forecast, malformed_csv_files)
{
    const char *args = "--column value --season 2 --hidden 2 --steps 1 --threads 1";
    write_text(tmp("cell.csv"), "date,value\n1,1\n2,2\n3,abc\n4,4\n");
    expect_error(forecast("train --csv '%s' %s", tmp("cell.csv"), args),
                 "cell.csv:4: column 'value': 'abc' is not a number");
    write_text(tmp("inf.csv"), "value\n1\n2\n1e999\n");
    expect_error(forecast("train --csv '%s' %s", tmp("inf.csv"), args),
                 "inf.csv:4: column 'value': '1e999' is not a number");
    write_text(tmp("short.csv"), "date,value\n1,1\n2\n");
    expect_error(forecast("train --csv '%s' %s", tmp("short.csv"), args),
                 "short.csv:3: 1 field, but column 'value' is field 2");
    write_text(tmp("quote.csv"), "value\n\"1\n2\n");
    expect_error(forecast("train --csv '%s' %s", tmp("quote.csv"), args),
                 "quote.csv:2: a quoted field does not end on its line");
    write_text(tmp("col.csv"), "date,price\n1,1\n");
    expect_error(forecast("train --csv '%s' %s", tmp("col.csv"), args),
                 "no column 'value' in its header line (it has 'date', 'price')");
    write_text(tmp("few.csv"), "value\n1\n\n2\n,\n");
    expect_error(forecast("train --csv '%s' %s", tmp("few.csv"), args),
                 "few.csv: 2 values in 3 rows; a series needs at least 3");
    write_text(tmp("flat.csv"), "value\n5\n5\n5\n5\n5\n5\n5\n5\n5\n5\n5\n5\n5\n5\n5\n5\n5\n5\n5\n5\n");
    expect_error(forecast("train --csv '%s' %s --lookback 2 --horizon 1", tmp("flat.csv"), args),
                 "values are all equal");
    expect_error(forecast("train --csv '%s' %s", tmp("nope.csv"), args), "nope.csv");
    expect_error(forecast("train --csv '%s' --steps 1", tmp("cell.csv")),
                 "needs --column NAME");
    expect_error(forecast("train --series co2 --csv '%s' --column value", tmp("cell.csv")),
                 "give --series or --csv, not both");
    expect_error(forecast("train --column value"), "--column and --date-column go with --csv");
}

Test(forecast, sizes_that_do_not_fit)
{
    expect_error(forecast("train --series sunspots --horizon 31 --steps 1"),
                 "--horizon 31 is longer than the held-out tail (the last 30 of 309 values)");
    expect_error(forecast("train --series sunspots --lookback 270 --horizon 11 --steps 1"),
                 "holds no window of --lookback 270 + --horizon 11 values");
    expect_error(forecast("train --series sunspots --lookback 300 --steps 1"),
                 "--lookback 300 is longer than the training span (279 values)");
    KEEP(model, "s.safetensors");
    cr_assert_eq(forecast("train --series sunspots %s --save '%s'", tiny, model), 0, "%s", rg_err);
    expect_error(forecast("train --series sunspots --season 279 --lookback 4 --horizon 2 "
                          "--steps 1"), "--season 279 is not shorter than the training span");
    /* the model's season (11) goes with its series: co2 is scored with its own 52 */
    cr_assert_eq(forecast("eval --model '%s' --series co2", model), 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "(season 52,") && strstr(rg_out, " snaive_mase=1.3"), "%s", rg_out);
    expect_error(forecast("predict --model '%s' --horizon 12", model),
                 "--horizon 12 is longer than the model's horizon 11");
    expect_error(forecast("predict --model '%s' --hold-out 300", model),
                 "--hold-out 300 leaves 9 values; the model reads 22");
    KEEP(csv, "e.csv");
    make_csv("e.csv", 60);
    expect_error(forecast("eval --model '%s' --csv '%s' --column value", model, csv),
                 "--horizon 11 is longer than the held-out tail (the last 6 of 60 values)");
}

Test(forecast, bad_command_lines)
{
    expect_error(forecast("frobnicate"), "unknown command 'frobnicate'");
    expect_error(forecast("train --horizn 3"), "unknown flag '--horizn'");
    expect_error(forecast("train --horizon 0"), "--horizon 0 is out of range");
    expect_error(forecast("train --series moon"), "--series 'moon' is not one of co2|sunspots");
    expect_error(forecast("train --quantiles 0.5,0.1 --steps 1"),
                 "--quantiles: expected up to 9 increasing numbers in (0, 1)");
    expect_error(forecast("train --quantiles 1.5 --steps 1"), "--quantiles: expected");
    expect_error(forecast("train --quantiles 0.5, --steps 1"), "--quantiles: expected");
    expect_error(forecast("train --cell tree --steps 1"), "--cell 'tree' is not one of");
    expect_error(forecast("eval"), "--model FILE is required");
    expect_error(forecast("predict --horizon 3"), "--model FILE is required");
    expect_error(forecast("eval --model '%s'", tmp("nope.safetensors")), "nope.safetensors");
    cr_assert_eq(forecast("train --help"), 0);
    cr_assert(strstr(rg_out, "--quantiles") && strstr(rg_out, "--calendar"), "%s", rg_out);
}

/* a copy of src with metadata key set to value (key NULL: none) and, when
 * nan_tensor is not NULL, that tensor's first element NaN */
static void rewrite(const char *src, const char *dst, const char *key, const char *value,
                    const char *nan_tensor)
{
    rg_safetensors *in = rg_safetensors_read(src), *out = rg_safetensors_new();
    cr_assert(in && out, "%s", rg_last_error());
    for (int i = 0; i < rg_safetensors_count(in); i++) {
        const char *name;
        const rg_tensor *t = rg_safetensors_at(in, i, &name);
        rg_tensor *c = rg_tensor_new(NULL, t->dtype, t->rank, t->shape);
        rg_tensor_copy(c, t);
        if (nan_tensor && !strcmp(name, nan_tensor))
            rg_set(c, 0, NAN);
        cr_assert_eq(rg_safetensors_add(out, name, c), 0, "%s", rg_last_error());
        rg_tensor_free(c);
    }
    for (int i = 0; i < rg_safetensors_meta_count(in); i++) {
        const char *k, *v = rg_safetensors_meta_at(in, i, &k);
        rg_safetensors_set_meta(out, k, v);
    }
    if (key)
        rg_safetensors_set_meta(out, key, value);
    cr_assert_eq(rg_safetensors_write(out, dst, RG_F32), 0, "%s", rg_last_error());
    rg_safetensors_free(in);
    rg_safetensors_free(out);
}

Test(forecast, malformed_checkpoints)
{
    KEEP(good, "g.safetensors");
    cr_assert_eq(forecast("train --series sunspots %s --save '%s'", tiny, good), 0, "%s", rg_err);
    rewrite(good, tmp("nan.safetensors"), NULL, NULL, "head.weight");
    expect_error(forecast("eval --model '%s'", tmp("nan.safetensors")), "head.weight");
    expect_error(forecast("train --init '%s' --series sunspots --steps 1",
                          tmp("nan.safetensors")), "head.weight");
    const struct {
        const char *key, *value, *message;
    } bad[] = {
        {"mean", "nan", "mean expects a finite number, got 'nan'"},
        {"std", "0", "std 0 is out of range"},
        {"std", "1e999", "std expects a finite number"},
        {"lookback", "0", "--lookback 0 is out of range"},
        {"lookback", "abc", "--lookback expects an integer, got 'abc'"},
        {"horizon", "12", "head.weight"},
        {"hidden", "-3", "--hidden -3 is out of range"},
        {"quantiles", "0.9,0.1", "--quantiles: expected"},
        {"calendar", "2", "--calendar expects 0 or 1"},
        {"cell", "tree", "--cell 'tree' is not one of"},
        {"season", "-1", "--season -1 is out of range"},
        {"series", "moon", "--series 'moon' is not a valid value"},
        {"format", "retrograd charlm 1", "not a forecast checkpoint"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rewrite(good, tmp("bad.safetensors"), bad[i].key, bad[i].value, NULL);
        expect_error(forecast("eval --model '%s'", tmp("bad.safetensors")), bad[i].message);
        cr_assert(strstr(rg_err, "bad.safetensors"), "%s: %s", bad[i].key, rg_err);
    }
    write_text(tmp("junk.safetensors"), "not a checkpoint at all");
    expect_error(forecast("predict --model '%s'", tmp("junk.safetensors")), "junk.safetensors");
}
