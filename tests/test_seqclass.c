/* The seqclass program as a user runs it (a subprocess of the built binary):
 * a tiny classifier trains in seconds on a TSV made here, evaluates (the eval
 * line's format), predicts, resumes bit for bit; the naive-Bayes baseline on a
 * trivially separable TSV; the passages of the novels; and malformed input
 * refused with a message and a non-zero exit. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"

static void make_dir(void)
{
    rg_suite_open("seqclass");
}

TestSuite(seqclass, .init = make_dir, .fini = rg_suite_close);

static const char *tmp(const char *name)
{
    return rg_suite_path(name);
}

/* Runs "seqclass <args>" with stdin from the file in (NULL: /dev/null);
 * returns its exit status, stdout in rg_out, stderr in rg_err. */
static int run_in(const char *in, const char *fmt, va_list ap)
{
    return rg_run_program("seqclass", in, fmt, ap);
}

static int seqclass(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = run_in(NULL, fmt, ap);
    va_end(ap);
    return st;
}

static int seqclass_stdin(const char *in, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = run_in(in, fmt, ap);
    va_end(ap);
    return st;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
}

static double field(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    cr_assert_not_null(p, "'%s' not in output:\n%s", key, text);
    return strtod(p + strlen(key), NULL);
}

/* A small labelled data set (its path): three classes, 40 lines each, each class with
 * its own words ("sea" / "hill" / "town" themes) plus shared ones, so that a
 * tiny model learns it in seconds; separable: the classes share no word but
 * the common ones. */
static const char *small_tsv(const char *name)
{
    static const char *const words[3][6] = {
        {"wave", "salt", "ship", "tide", "shore", "gull"},
        {"grass", "sheep", "stone", "slope", "wind", "moss"},
        {"street", "shop", "bell", "market", "lamp", "cart"}};
    static const char *const labels[3] = {"sea", "hill", "town"};
    static const char *const common[4] = {"the", "and", "was", "a"};
    FILE *f = fopen(tmp(name), "wb");
    cr_assert_not_null(f);
    unsigned s = 12345;
    for (int i = 0; i < 40; i++)
        for (int c = 0; c < 3; c++) {
            fprintf(f, "%s\t", labels[c]);
            int n = 4 + (int)((s = s * 1103515245u + 12345u) >> 16) % 8;
            for (int k = 0; k < n; k++) {
                s = s * 1103515245u + 12345u;
                bool own = (s >> 16) % 3 != 0;
                fprintf(f, "%s%s", k ? " " : "",
                        own ? words[c][(s >> 20) % 6] : common[(s >> 20) % 4]);
            }
            fprintf(f, ".\n");
        }
    fclose(f);
    static char path[512]; /* out of tmp()'s ring: valid for the whole test */
    snprintf(path, sizeof path, "%s", tmp(name));
    return path;
}

static const char *tiny =
    "--hidden 8 --embed 8 --batch 8 --lr 0.02 --threads 1 --save-every 0";

/* ---- train, eval, predict -------------------------------------------------------------- */

Test(seqclass, trains_evaluates_predicts)
{
    const char *data = small_tsv("small.tsv");
    int rc = seqclass("train --data '%s' %s --steps 80 --save '%s'", data, tiny,
                      tmp("m.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, rg_out, rg_err);
    cr_assert(strstr(rg_out, "3 classes"), "%s", rg_out);
    cr_assert(strstr(rg_out, "108 train / 6 val / 6 test texts"), "%s", rg_out);
    cr_assert(strstr(rg_out, "train: steps=80 loss="), "%s", rg_out);
    double acc = field(rg_out, "val_accuracy=");
    cr_assert(acc >= 0 && acc <= 1);

    rc = seqclass("eval --model '%s'", tmp("m.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    const char *last = strstr(rg_out, "eval: passages=");
    cr_assert_not_null(last, "%s", rg_out);
    int n;
    double a, f1, b;
    cr_assert_eq(sscanf(last, "eval: passages=%d accuracy=%lf macro_f1=%lf baseline_accuracy=%lf",
                        &n, &a, &f1, &b), 4, "%s", last);
    cr_assert_eq(n, 6);
    cr_assert(a >= 0 && a <= 1 && f1 >= 0 && f1 <= 1 && b >= 0 && b <= 1, "%s", last);
    cr_assert(strstr(rg_out, "precision") && strstr(rg_out, "confusion matrix"), "%s", rg_out);
    cr_assert(strstr(rg_out, "\nhill ") && strstr(rg_out, "\nsea ") && strstr(rg_out, "\ntown "));

    rc = seqclass("predict --model '%s' --text 'the ship and the gull on the shore'",
                  tmp("m.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    double sum = field(rg_out, "hill") + field(rg_out, "sea") + field(rg_out, "town");
    cr_assert(fabs(sum - 1) < 1e-3, "probabilities add up to %g:\n%s", sum, rg_out);
    cr_assert(strstr(rg_out, "predicted: "), "%s", rg_out);

    /* the same from stdin */
    write_file(tmp("in.txt"), "the street and\n the  market lamp\n");
    rc = seqclass_stdin(tmp("in.txt"), "predict --model '%s'", tmp("m.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    cr_assert(strstr(rg_out, "predicted: "), "%s", rg_out);
}

Test(seqclass, learns_a_separable_set)
{
    const char *data = small_tsv("small.tsv");
    int rc = seqclass("train --data '%s' --hidden 16 --embed 16 --batch 16 --lr 0.02 --threads 1 "
                      "--steps 150 --save-every 0 --save '%s'", data, tmp("m.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, rg_out, rg_err);
    rc = seqclass("eval --model '%s' --split val", tmp("m.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    cr_assert_float_eq(field(rg_out, "accuracy="), 1.0, 1e-9, "%s", rg_out);
}

/* the baseline on a trivially separable set: every held-out text is right */
Test(seqclass, bayes_baseline_separates)
{
    const char *data = small_tsv("small.tsv");
    int rc = seqclass("train --data '%s' %s --steps 1 --save '%s'", data, tiny,
                      tmp("m.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    for (int split = 0; split < 2; split++) {
        rc = seqclass("eval --model '%s' --split %s", tmp("m.safetensors"),
                      split ? "val" : "test");
        cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
        cr_assert_float_eq(field(rg_out, "baseline_accuracy="), 1.0, 1e-9, "%s", rg_out);
    }
}

/* ---- resumption ------------------------------------------------------------------------ */

static void compare_exact(const char *a_path, const char *b_path)
{
    rg_safetensors *a = rg_safetensors_read(a_path), *b = rg_safetensors_read(b_path);
    cr_assert(a && b, "%s", rg_last_error());
    cr_assert_eq(rg_safetensors_count(a), rg_safetensors_count(b));
    for (int i = 0; i < rg_safetensors_count(a); i++) {
        const char *name;
        const rg_tensor *x = rg_safetensors_at(a, i, &name), *y = rg_safetensors_get(b, name);
        cr_assert_not_null(y, "%s missing", name);
        cr_assert_eq(x->numel, y->numel);
        cr_assert(!memcmp(x->data, y->data, (size_t)x->numel * rg_dtype_size(x->dtype)),
                  "%s differs between the uninterrupted and the resumed run", name);
    }
    rg_safetensors_free(a);
    rg_safetensors_free(b);
}

static void resume_case(const char *extra)
{
    const char *data = small_tsv("small.tsv");
    const char *cfg = "--hidden 8 --embed 8 --batch 8 --lr 0.01 --clip 1 --steps 20 "
                      "--eval-every 5 --seed 3 --save-every 0";
    int rc = seqclass("train --data '%s' %s %s --threads 1 --save '%s'", data, cfg, extra,
                      tmp("full.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    rc = seqclass("train --data '%s' %s %s --threads 1 --stop-after 10 --save '%s'", data, cfg,
                  extra, tmp("half.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    /* resumed with another thread count: the deterministic mode gives the same bits */
    rc = seqclass("train --resume '%s' --threads 2", tmp("half.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    cr_assert(strstr(rg_out, "train: steps=20"), "%s", rg_out);
    compare_exact(tmp("half.safetensors"), tmp("full.safetensors"));
}

Test(seqclass, resume_is_bit_exact_words) { resume_case("--deterministic"); }
Test(seqclass, resume_is_bit_exact_bytes_bidirectional_dropout)
{
    resume_case("--deterministic --tokens bytes --bidirectional --cell gru --layers 2 "
                "--dropout 0.3 --pool mean");
}

Test(seqclass, resume_refuses_other_data)
{
    const char *data = small_tsv("small.tsv");
    int rc = seqclass("train --data '%s' %s --steps 10 --stop-after 5 --save '%s'", data, tiny,
                      tmp("m.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    /* the same labels, one more line */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && printf 'sea\\tone more wave\\n' >> '%s'", data,
             tmp("other.tsv"), tmp("other.tsv"));
    cr_assert_eq(system(cmd), 0);
    rc = seqclass("train --resume '%s' --data '%s'", tmp("m.safetensors"), tmp("other.tsv"));
    cr_assert_eq(rc, 1, "exit %d\n%s", rc, rg_err);
    cr_assert(strstr(rg_err, "not the data of the run being resumed"), "%s", rg_err);
}

/* ---- the novels' passages ---------------------------------------------------------------- */

Test(seqclass, novel_passages_are_whole_sentences_split_by_position)
{
    int rc = seqclass("train --tokens bytes --hidden 4 --embed 4 --steps 1 --threads 1 "
                      "--save-every 0 --save '%s'", tmp("n.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    cr_assert(strstr(rg_out, "5 classes"), "%s", rg_out);
    rc = seqclass("dump --model '%s' --out '%s'", tmp("n.safetensors"), tmp("split.txt"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    FILE *f = fopen(tmp("split.txt"), "r");
    cr_assert_not_null(f);
    char split[8];
    int label, last_split[5] = {0}, count[3] = {0};
    static char ids[1 << 14];
    while (fscanf(f, "%7s %d %16383[^\n]", split, &label, ids) == 3) {
        int s = !strcmp(split, "train") ? 0 : !strcmp(split, "val") ? 1 : 2;
        int n = 1;
        for (const char *p = ids; *p; p++)
            n += *p == ' ';
        cr_assert(n >= 100 && n <= 400, "a passage of %d bytes", n);
        cr_assert(label >= 0 && label < 5);
        /* each novel's passages run train, then val, then test */
        cr_assert(s >= last_split[label], "novel %d goes back from split %d to %d", label,
                  last_split[label], s);
        last_split[label] = s;
        count[s]++;
    }
    fclose(f);
    cr_assert(count[0] > 8000 && count[1] > 300 && count[2] > 300, "%d %d %d", count[0],
              count[1], count[2]);
}

/* ---- malformed input ------------------------------------------------------------------- */

static void refused_tsv(const char *text, const char *message)
{
    write_file(tmp("bad.tsv"), text);
    int rc = seqclass("train --data '%s' %s --steps 1 --save '%s'", tmp("bad.tsv"), tiny,
                      tmp("bad.safetensors"));
    cr_assert_eq(rc, 1, "exit %d for %s\n%s", rc, message, rg_err);
    cr_assert(strstr(rg_err, message), "wanted '%s' in:\n%s", message, rg_err);
}

Test(seqclass, malformed_tsv_lines_are_refused)
{
    refused_tsv("a\tfine text\nno tab on this line\n", "bad.tsv:2: no tab");
    refused_tsv("a\tfine text\n\tno label\n", "bad.tsv:2: empty label");
    refused_tsv("a\tfine text\nb\t   \n", "bad.tsv:2: empty text");
    refused_tsv("a\tfine text\nb\tx\001y\n", "bad.tsv:2: control byte 1");
    refused_tsv("a\tfine text\n b\ttext\n", "bad.tsv:2: label with leading or trailing spaces");
    refused_tsv("a\tone\na\ttwo\n", "one label only");
    refused_tsv("\n\n", "no labelled line");
}

Test(seqclass, unknown_bytes_are_refused)
{
    const char *data = small_tsv("small.tsv");
    int rc = seqclass("train --data '%s' %s --tokens bytes --steps 2 --save '%s'", data, tiny,
                      tmp("b.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    rc = seqclass("predict --model '%s' --text 'the Zebra'", tmp("b.safetensors"));
    cr_assert_eq(rc, 1, "exit %d", rc);
    cr_assert(strstr(rg_err, "byte 'Z' (90) at offset 4 is not in the model's vocabulary"), "%s",
              rg_err);
    rc = seqclass("predict --model '%s' --text '   '", tmp("b.safetensors"));
    cr_assert_eq(rc, 1, "exit %d", rc);
    cr_assert(strstr(rg_err, "the text is empty"), "%s", rg_err);
    /* a data set whose labels are not the model's */
    write_file(tmp("other.tsv"), "x\tthe wave\ny\tthe sheep\n");
    rc = seqclass("eval --model '%s' --data '%s'", tmp("b.safetensors"), tmp("other.tsv"));
    cr_assert_eq(rc, 1, "exit %d", rc);
    cr_assert(strstr(rg_err, "the model's classes (hill, sea, town) are not the data's (x, y)"),
              "%s", rg_err);
}

/* a copy of src with metadata key set to value, or tensor `nan` holding a NaN */
static void altered_copy(const char *src, const char *dst, const char *key, const char *value,
                         const char *nan)
{
    rg_safetensors *st = rg_safetensors_read(src), *out = rg_safetensors_new();
    cr_assert(st && out, "%s", rg_last_error());
    for (int i = 0; i < rg_safetensors_count(st); i++) {
        const char *name;
        const rg_tensor *t = rg_safetensors_at(st, i, &name);
        rg_tensor *c = rg_tensor_new(NULL, t->dtype, t->rank, t->shape);
        rg_tensor_copy(c, t);
        if (nan && !strcmp(name, nan))
            rg_set(c, 0, NAN);
        cr_assert_eq(rg_safetensors_add(out, name, c), 0);
        rg_tensor_free(c);
    }
    for (int i = 0; i < rg_safetensors_meta_count(st); i++) {
        const char *k, *v = rg_safetensors_meta_at(st, i, &k);
        cr_assert_eq(rg_safetensors_set_meta(out, k, key && !strcmp(k, key) ? value : v), 0);
    }
    cr_assert_eq(rg_safetensors_write(out, dst, RG_F32), 0, "%s", rg_last_error());
    rg_safetensors_free(st);
    rg_safetensors_free(out);
}

Test(seqclass, bad_checkpoints_are_refused)
{
    const char *data = small_tsv("small.tsv");
    int rc = seqclass("train --data '%s' %s --steps 2 --save '%s'", data, tiny,
                      tmp("m.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    static const struct {
        const char *key, *value, *nan, *message;
    } cases[] = {
        {NULL, NULL, "head.weight", "head.weight"},
        {"format", "retrograd charlm 1", NULL, "not a seqclass model"},
        {"layers", "0", NULL, "--layers 0 is out of range"},
        {"pool", "median", NULL, "--pool"},
        {"classes", "sea\nsea\ntown", NULL, "metadata 'classes'"},
        {"hidden", "9", NULL, "rnn.weight_ih_l0"},
        {"cell", "tree", NULL, "metadata 'cell' is 'tree', not a known cell"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        altered_copy(tmp("m.safetensors"), tmp("bad.safetensors"), cases[k].key, cases[k].value,
                     cases[k].nan);
        rc = seqclass("eval --model '%s'", tmp("bad.safetensors"));
        cr_assert_eq(rc, 1, "case %zu: exit %d", k, rc);
        cr_assert(strstr(rg_err, cases[k].message), "case %zu: wanted '%s' in:\n%s", k,
                  cases[k].message, rg_err);
        rc = seqclass("predict --model '%s' --text 'the wave'", tmp("bad.safetensors"));
        cr_assert_eq(rc, 1, "case %zu: predict exit %d", k, rc);
    }
}

Test(seqclass, usage_errors)
{
    cr_assert_eq(seqclass("eval"), 2);
    cr_assert(strstr(rg_err, "--model is required"), "%s", rg_err);
    cr_assert_eq(seqclass("predict --text x"), 2);
    cr_assert_eq(seqclass("train --pool median"), 2);
    cr_assert(strstr(rg_err, "--pool"), "%s", rg_err);
    cr_assert_eq(seqclass("train --cell tree"), 2);
    cr_assert(strstr(rg_err, "not one of"), "%s", rg_err);
    cr_assert_eq(seqclass("frobnicate"), 2);
    cr_assert_eq(seqclass("eval --model '%s'", tmp("missing.safetensors")), 1);
}

/* ---- a plugin's cell ------------------------------------------------------------------- */

Test(seqclass, plugin_cell_trains_and_is_named)
{
    const char *bd = getenv("RG_BUILD_DIR");
    char lib[1024];
    snprintf(lib, sizeof lib, "%s/examples/cell_plugin.so", bd ? bd : "build");
    const char *data = small_tsv("small.tsv");
    int rc = seqclass("train --data '%s' %s --cell-lib '%s' --cell mingru --steps 10 "
                      "--stop-after 5 --save '%s'", data, tiny, lib, tmp("p.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    cr_assert(strstr(rg_out, "mingru 1x8"), "%s", rg_out);
    /* resume loads the plugin again; eval needs it given */
    rc = seqclass("train --resume '%s'", tmp("p.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    rc = seqclass("eval --model '%s'", tmp("p.safetensors"));
    cr_assert_eq(rc, 1, "exit %d", rc);
    cr_assert(strstr(rg_err, "the run that saved it loaded the plugin"), "%s", rg_err);
    rc = seqclass("eval --model '%s' --cell-lib '%s'", tmp("p.safetensors"), lib);
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    cr_assert(strstr(rg_out, "eval: passages=6 "), "%s", rg_out);
}

/* ---- --steps 0 and --init --------------------------------------------------------------- */

Test(seqclass, steps_zero_writes_the_initial_weights_that_init_continues)
{
    const char *data = small_tsv("small.tsv");
    int rc = seqclass("train --data '%s' %s --steps 0 --save '%s'", data, tiny,
                      tmp("init.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    cr_assert(strstr(rg_out, "train: steps=0 "), "%s", rg_out);
    /* --init takes the model of the file: its sizes win over the flags */
    rc = seqclass("train --data '%s' %s --init '%s' --layers 3 --steps 5 --save '%s'", data,
                  tiny, tmp("init.safetensors"), tmp("m.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    cr_assert(strstr(rg_err, "--layers is ignored"), "%s", rg_err);
    cr_assert(strstr(rg_out, "lstm 1x8"), "%s", rg_out);
    /* the same run from scratch (same seed: same weights, same batches) */
    rc = seqclass("train --data '%s' %s --steps 5 --save '%s'", data, tiny,
                  tmp("s.safetensors"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    compare_exact(tmp("m.safetensors"), tmp("s.safetensors"));
    rc = seqclass("dump --model '%s' --out '%s'", tmp("init.safetensors"), tmp("split.txt"));
    cr_assert_eq(rc, 0, "exit %d\n%s", rc, rg_err);
    cr_assert(strstr(rg_out, "dump: texts=120 train=108 val=6 test=6"), "%s", rg_out);
}
