/* The translate program as a user runs it (a subprocess of the built binary):
 * a tiny model trains, evaluates and predicts; a resumed run ends with the
 * weights of an uninterrupted one, bit for bit; greedy decoding and a beam of
 * one agree; the attention picture is written; the data splits share no year;
 * the attention model passes a float64 gradient check; and malformed input
 * (unknown bytes, empty or long texts, NaN or malformed checkpoints) is refused
 * with a message and a non-zero exit. */
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
    rg_suite_open("translate");
}

TestSuite(translate, .init = make_dir, .fini = rg_suite_close, .timeout = 300);

static const char *tmp(const char *name)
{
    return rg_suite_path(name);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
}

/* Runs "translate <args>" with stdin from the file in (NULL: /dev/null);
 * returns its exit status, stdout in rg_out, stderr in rg_err. */
static int run_in(const char *in, const char *fmt, va_list ap)
{
    return rg_run_program("translate", in, fmt, ap);
}

static int translate(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = run_in(NULL, fmt, ap);
    va_end(ap);
    return st;
}

static int translate_stdin(const char *in, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = run_in(in, fmt, ap);
    va_end(ap);
    return st;
}

static const char *tiny = "--hidden 12 --embed 6 --batch 8 --examples 400 --val-examples 40 "
                          "--eval-every 10 --lr 0.01 --seed 3";

/* a tiny trained model at tmp(name) */
static void train_tiny(const char *name, const char *extra)
{
    int rc = translate("train %s %s --steps 30 --threads 1 --save '%s'", tiny, extra, tmp(name));
    cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, rg_out, rg_err);
}

/* every tensor of a equals the same tensor of b, bit for bit */
static void same_tensors(const char *a, const char *b)
{
    rg_safetensors *x = rg_safetensors_read(a), *y = rg_safetensors_read(b);
    cr_assert(x && y, "%s", rg_last_error());
    cr_assert_eq(rg_safetensors_count(x), rg_safetensors_count(y));
    for (int i = 0; i < rg_safetensors_count(x); i++) {
        const char *name;
        const rg_tensor *t = rg_safetensors_at(x, i, &name), *u = rg_safetensors_get(y, name);
        cr_assert(u && t->numel == u->numel, "%s: tensor %s", b, name);
        cr_assert(!memcmp(t->data, u->data, (size_t)t->numel * rg_dtype_size(t->dtype)),
                  "tensor %s differs between %s and %s", name, a, b);
    }
    rg_safetensors_free(x);
    rg_safetensors_free(y);
}

/* ---- the program's work ---------------------------------------------------------------- */

Test(translate, tiny_model_trains_evaluates_predicts)
{
    char extra[1200];
    snprintf(extra, sizeof extra, "--log '%s' --plot '%s'", tmp("m.csv"), tmp("m.svg"));
    train_tiny("m.safetensors", extra);
    cr_assert(strstr(rg_out, "train: steps=30 loss="), "%s", rg_out);
    static char file[1 << 16];
    rg_slurp(tmp("m.csv"), file, sizeof file);
    cr_assert(!strncmp(file, "step,train_loss,val_loss,lr,pairs_per_s\n", 40), "%.100s", file);
    rg_slurp(tmp("m.svg"), file, sizeof file);
    cr_assert(strstr(file, "<svg") && strstr(file, "validation loss"), "%.100s", file);
    cr_assert(strstr(rg_out, "val_exact="), "%s", rg_out);
    int rc = translate("eval --model '%s' --examples 50", tmp("m.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    const char *line = strstr(rg_out, "eval: examples=50 exact=");
    cr_assert_not_null(line, "%s", rg_out);
    double exact = strtod(line + strlen("eval: examples=50 exact="), NULL);
    const char *ca = strstr(line, "char_accuracy=");
    cr_assert(ca && exact >= 0 && exact <= 1, "%s", line);
    double chars = strtod(ca + strlen("char_accuracy="), NULL);
    cr_assert(chars > 0.2 && chars <= 1, "30 steps should get some characters right: %s", line);
    rc = translate("predict --model '%s' --text '29 November 2026'", tmp("m.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    cr_assert(strlen(rg_out) >= 2 && rg_out[strlen(rg_out) - 1] == '\n', "%s", rg_out);
}

Test(translate, resume_gives_the_same_weights)
{
    const char *cfg = "--cell lstm --layers 2 --attention-kind dot --steps 24 --save-every 5 "
                      "--threads 2";
    int rc = translate("train %s %s --save '%s'", tiny, cfg, tmp("full.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    rc = translate("train %s %s --stop-after 13 --save '%s'", tiny, cfg, tmp("half.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "stopped at step 13 of 24"), "%s", rg_out);
    rc = translate("train --resume '%s' --threads 2", tmp("half.safetensors"));
    cr_assert_eq(rc, 0, "%s\n%s", rg_out, rg_err);
    cr_assert(strstr(rg_out, "train: steps=24"), "%s", rg_out);
    same_tensors(tmp("full.safetensors"), tmp("half.safetensors"));
    rc = translate("train --resume '%s' --hidden 9", tmp("half.safetensors"));
    cr_assert_neq(rc, 0);
    cr_assert(strstr(rg_err, "--hidden cannot be given with --resume"), "%s", rg_err);
}

Test(translate, greedy_and_beam_of_one_agree)
{
    train_tiny("g.safetensors", "--cell gru");
    write_file(tmp("dates.txt"), "29 November 2026\nNov 29, '26\nthe 29th of november, 2026\n"
                                 "29/11/2026\nSunday 29 Nov 2026\n2026-11-29\n  3 march 1999 \n");
    int rc = translate_stdin(tmp("dates.txt"), "predict --model '%s'", tmp("g.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    char greedy[sizeof rg_out];
    strcpy(greedy, rg_out);
    int lines = 0;
    for (const char *p = greedy; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, 7, "%s", greedy);
    rc = translate_stdin(tmp("dates.txt"), "predict --model '%s' --beam 1", tmp("g.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    cr_assert_str_eq(rg_out, greedy);
    rc = translate_stdin(tmp("dates.txt"), "predict --model '%s' --beam 4", tmp("g.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
}

Test(translate, attention_picture)
{
    train_tiny("a.safetensors", "");
    int rc = translate("predict --model '%s' --text 'Sun, 29 Nov 2026' --attention '%s'",
                       tmp("a.safetensors"), tmp("att.svg"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    size_t out_len = strlen(rg_out) - 1; /* the output line without its newline */
    static char svg[1 << 20];
    rg_slurp(tmp("att.svg"), svg, sizeof svg);
    cr_assert(!strncmp(svg, "<svg", 4) && strstr(svg, "</svg>"), "%.200s", svg);
    cr_assert(strstr(svg, ">EOS</text>"), "the last row is the end of the output");
    cr_assert(strstr(svg, ">N</text>") && strstr(svg, ">,</text>"), "source bytes label columns");
    int cells = 0;
    for (const char *p = svg; (p = strstr(p, "<title>")); p++)
        cells++;
    cr_assert_eq(cells, (int)(out_len + 1) * 16, "one cell per output byte x source byte");
    rc = translate("predict --model '%s' --text 'x' --attention '%s'", tmp("a.safetensors"),
                   rg_suite_dir);
    cr_assert_neq(rc, 0);
    cr_assert(strstr(rg_err, "--attention"), "%s", rg_err);
}

Test(translate, splits_share_no_year)
{
    const char *split[3] = {"train", "val", "test"};
    for (int s = 0; s < 3; s++) {
        int rc = translate("data --split %s --examples 3000 --data-seed 5", split[s]);
        cr_assert_eq(rc, 0, "%s", rg_err);
        int n = 0, formats[64] = {0};
        for (char *p = rg_out; *p; n++) {
            char *tab = strchr(p, '\t');
            cr_assert_not_null(tab, "%s", p);
            int y, m, d, f;
            cr_assert_eq(sscanf(tab + 1, "%d-%d-%d\t%d", &y, &m, &d, &f), 4, "%s", p);
            int k = (y / 10 + y) % 10, want = k == 3 ? 2 : k == 7 ? 1 : 0;
            cr_assert_eq(want, s, "%.40s: year %d is not of the %s split", p, y, split[s]);
            cr_assert(y >= 1900 && y <= 2099 && m >= 1 && m <= 12 && d >= 1 && d <= 31);
            cr_assert(f >= 0 && f < 64);
            formats[f]++;
            p = strchr(p, '\n') + 1;
        }
        cr_assert_eq(n, 3000);
        for (int f = 0; f < 18; f++)
            cr_assert(formats[f] > 50, "%s: format %d drawn %d times", split[s], f, formats[f]);
    }
    int rc = translate("data --split test --examples 5 --data-seed 5");
    char first[4096];
    strcpy(first, rg_out);
    rc |= translate("data --split test --examples 5 --data-seed 5");
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(rg_out, first, "the generator is seeded");
}

Test(translate, gradient_check_of_the_attention_model)
{
    const char *cases[] = {"--cell gru --attention-kind additive",
                           "--cell lstm --attention-kind dot --layers 2",
                           "--cell gru --attention-kind dot --hidden 2 --embed 3",
                           "--cell lstm --attention-kind additive"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = translate("gradcheck %s", cases[i]);
        cr_assert_eq(rc, 0, "%s\n%s\n%s", cases[i], rg_out, rg_err);
        cr_assert(strstr(rg_out, ": pass"), "%s", rg_out);
        cr_assert(strstr(rg_out, "att.key.weight"), "%s", rg_out);
    }
}

/* ---- malformed input ------------------------------------------------------------------ */

Test(translate, unknown_bytes_and_empty_texts_are_refused)
{
    train_tiny("e.safetensors", "");
    char m[512];
    snprintf(m, sizeof m, "%s", tmp("e.safetensors"));
    int rc = translate("predict --model '%s' --text '29 Nov\xc3\xa9mber 2026'", m);
    cr_assert_eq(rc, 1);
    cr_assert(strstr(rg_err, "--text: byte 0xc3 at offset 6 is not in the vocabulary"), "%s",
              rg_err);
    rc = translate("predict --model '%s' --text '   '", m);
    cr_assert_eq(rc, 1);
    cr_assert(strstr(rg_err, "--text: the text is empty"), "%s", rg_err);
    rc = translate("predict --model '%s' --text "
                   "'29 November 2026 29 November 2026 29 November 2026 29 November 2026'", m);
    cr_assert_eq(rc, 1);
    cr_assert(strstr(rg_err, "the text has 67 bytes; at most 64"), "%s", rg_err);
    write_file(tmp("in.txt"), "29 November 2026\n\n");
    rc = translate_stdin(tmp("in.txt"), "predict --model '%s'", m);
    cr_assert_eq(rc, 1);
    cr_assert(strstr(rg_err, "stdin line 2: the text is empty"), "%s", rg_err);
    write_file(tmp("in.txt"), "29\tNovember 2026\n");
    rc = translate_stdin(tmp("in.txt"), "predict --model '%s'", m);
    cr_assert_eq(rc, 1);
    cr_assert(strstr(rg_err, "stdin line 1: byte 0x09 at offset 2"), "%s", rg_err);
    rc = translate("predict --text '1 May 2020'");
    cr_assert_eq(rc, 2);
    cr_assert(strstr(rg_err, "--model FILE is required"), "%s", rg_err);
    rc = translate("train --attention-kind cosine");
    cr_assert_eq(rc, 2);
    cr_assert(strstr(rg_err, "--attention-kind"), "%s", rg_err);
    rc = translate("train --cell tree --steps 1");
    cr_assert_eq(rc, 2);
    cr_assert(strstr(rg_err, "--cell 'tree' is not one of"), "%s", rg_err);
}

/* a copy of model file src with one change: a NaN in tensor nan_in (or none),
 * metadata key set to value (or none) */
static void doctor(const char *src, const char *dst, const char *nan_in, const char *key,
                   const char *value)
{
    rg_safetensors *in = rg_safetensors_read(src), *out = rg_safetensors_new();
    cr_assert(in && out, "%s", rg_last_error());
    for (int i = 0; i < rg_safetensors_count(in); i++) {
        const char *name;
        rg_tensor *t = rg_tensor_clone(rg_safetensors_at(in, i, &name));
        if (nan_in && !strcmp(name, nan_in))
            rg_set(t, t->numel / 2, NAN);
        cr_assert_eq(rg_safetensors_add(out, name, t), 0);
        rg_tensor_free(t);
    }
    for (int i = 0; i < rg_safetensors_meta_count(in); i++) {
        const char *k, *v = rg_safetensors_meta_at(in, i, &k);
        cr_assert_eq(rg_safetensors_set_meta(out, k, key && !strcmp(k, key) ? value : v), 0);
    }
    cr_assert_eq(rg_safetensors_write(out, dst, RG_F32), 0, "%s", rg_last_error());
    rg_safetensors_free(in);
    rg_safetensors_free(out);
}

Test(translate, bad_checkpoints_are_refused)
{
    train_tiny("c.safetensors", "");
    char good[512];
    snprintf(good, sizeof good, "%s", tmp("c.safetensors"));
    doctor(good, tmp("nan.safetensors"), "att.key.weight", NULL, NULL);
    int rc = translate("eval --model '%s' --examples 5", tmp("nan.safetensors"));
    cr_assert_eq(rc, 1);
    cr_assert(strstr(rg_err, "att.key.weight") && strstr(rg_err, "NaN"), "%s", rg_err);
    rc = translate("predict --model '%s' --text '1 May 2020'", tmp("nan.safetensors"));
    cr_assert_eq(rc, 1);
    cr_assert(strstr(rg_err, "NaN"), "%s", rg_err);
    struct {
        const char *key, *value, *says;
    } bad[] = {{"hidden", "0", "hidden"},
               {"hidden", "12x", "hidden"},
               {"layers", "9", "layers"},
               {"embed", "7", "embed.weight"},
               {"attention", "cosine", "metadata 'attention' is 'cosine'"},
               {"vocab", "0-255", "metadata 'vocab' is '0-255'"},
               {"format", "retrograd charlm 1", "not a translate checkpoint"},
               {"cell", "tree", "metadata 'cell' is 'tree', not a known cell"},
               {"cell", "lstm", "enc.weight_ih_l0"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        doctor(good, tmp("bad.safetensors"), NULL, bad[i].key, bad[i].value);
        rc = translate("eval --model '%s' --examples 5", tmp("bad.safetensors"));
        cr_assert_eq(rc, 1, "%s=%s accepted", bad[i].key, bad[i].value);
        cr_assert(strstr(rg_err, bad[i].says), "%s=%s: %s", bad[i].key, bad[i].value, rg_err);
    }
    rc = translate("eval --model '%s'", rg_suite_dir);
    cr_assert_eq(rc, 1);
    rc = translate("train --init '%s' --steps 2 --examples 50 --val-examples 5 --save '%s'",
                   tmp("nan.safetensors"), tmp("x.safetensors"));
    cr_assert_eq(rc, 1);
    cr_assert(strstr(rg_err, "NaN"), "%s", rg_err);
}

Test(translate, sigterm_saves_and_the_run_resumes)
{
    const char *bd = getenv("RG_BUILD_DIR");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "'%s/examples/translate' train %s --steps 1000000 --threads 1 --save '%s' "
             "> '%s' 2> '%s' & pid=$!; for i in $(seq 300); do "
             "grep -q kernels '%s' && break; sleep 0.1; done; sleep 0.5; kill -TERM $pid; "
             "wait $pid", bd ? bd : "build", tiny, tmp("t.safetensors"), tmp("t.out"),
             tmp("t.err"), tmp("t.out"));
    int st = system(cmd);
    rg_slurp(tmp("t.out"), rg_out, sizeof rg_out);
    rg_slurp(tmp("t.err"), rg_err, sizeof rg_err);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 143, "status %d\n%s\n%s", st, rg_out, rg_err);
    cr_assert(strstr(rg_out, "train: interrupted at step"), "%s", rg_out);
    cr_assert(strstr(rg_out, "continue with --resume"), "%s", rg_out);
    int rc = translate("eval --model '%s' --examples 10", tmp("t.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "eval: examples=10 exact="), "%s", rg_out);
}

Test(translate, plugin_cell)
{
    const char *bd = getenv("RG_BUILD_DIR");
    char lib[1024];
    snprintf(lib, sizeof lib, "%s/examples/cell_plugin.so", bd ? bd : "build");
    int rc = translate("train %s --cell-lib '%s' --cell mingru --steps 6 --threads 1 --save '%s'",
                       tiny, lib, tmp("p.safetensors"));
    cr_assert_eq(rc, 0, "%s\n%s", rg_out, rg_err);
    cr_assert(strstr(rg_out, "translate train: mingru 1x12"), "%s", rg_out);
    rc = translate("predict --model '%s' --text '1 May 2020'", tmp("p.safetensors"));
    cr_assert_eq(rc, 1);
    cr_assert(strstr(rg_err, "'mingru', not a known cell") && strstr(rg_err, "cell_plugin.so"),
              "%s", rg_err);
    rc = translate("predict --model '%s' --text '1 May 2020' --cell-lib '%s'",
                   tmp("p.safetensors"), lib);
    cr_assert_eq(rc, 0, "%s", rg_err);
    rc = translate("gradcheck --cell-lib '%s' --cell ln_lstm --attention-kind dot", lib);
    cr_assert_eq(rc, 0, "%s\n%s", rg_out, rg_err);
    cr_assert(strstr(rg_out, ": pass"), "%s", rg_out);
}

Test(translate, initial_weights_and_init)
{
    int rc = translate("train %s --cell lstm --steps 0 --save '%s'", tiny, tmp("i.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "--steps 0: wrote the initial weights"), "%s", rg_out);
    rc = translate("train --init '%s' --hidden 40 --steps 3 --examples 50 --val-examples 5 "
                   "--threads 1 --save '%s'", tmp("i.safetensors"), tmp("j.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    cr_assert(strstr(rg_err, "--hidden is ignored"), "%s", rg_err);
    cr_assert(strstr(rg_out, "translate train: lstm 1x12"), "the sizes of --init: %s", rg_out);
}
