/* The charlm program as a user runs it (a subprocess of the built binary):
 * one SGD step and evaluation against PyTorch (tools/charlm_refs.py made the
 * data), exact resumption, the gradcheck subcommand, sampling, the log and
 * plot files, and every error path (message and exit status). */
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
    rg_suite_open("charlm");
}

TestSuite(charlm, .init = make_dir, .fini = rg_suite_close);

static const char *tmp(const char *name)
{
    return rg_suite_path(name);
}

/* Runs "<prog> <args>" (a program of examples/); returns its exit status,
 * stdout in rg_out, stderr in rg_err. */
static int run_prog(const char *prog, const char *fmt, va_list ap)
{
    return rg_run_program(prog, NULL, fmt, ap);
}

static int charlm(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = run_prog("charlm", fmt, ap);
    va_end(ap);
    return st;
}

static int wordlm(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = run_prog("wordlm", fmt, ap);
    va_end(ap);
    return st;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* the first n bytes of the bundled corpus into the temporary folder (the path
 * is tmp(name), valid for the next few tmp calls) */
static const char *corpus_head(const char *name, size_t n)
{
    char src[1024];
    const char *sd = getenv("RG_SOURCE_DIR");
    snprintf(src, sizeof src, "%s/data/pride_and_prejudice.txt", sd ? sd : ".");
    char *buf = malloc(n);
    FILE *f = fopen(src, "rb");
    cr_assert_not_null(f, "cannot read %s", src);
    cr_assert_eq(fread(buf, 1, n, f), n);
    fclose(f);
    write_file(tmp(name), buf, n);
    free(buf);
    return tmp(name);
}

static double field(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    cr_assert_not_null(p, "'%s' not in output:\n%s", key, text);
    return strtod(p + strlen(key), NULL);
}

/* every tensor of a equals the same tensor of b within atol + rtol*|b| */
static void compare_files(const char *got_path, const char *want_path, double atol, double rtol)
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
        rg_cmp c = rg_test_compare(g, w, atol, rtol);
        cr_assert(c.pass, "%s: %s element %lld got %.9g want %.9g (max rel %.3g)", got_path,
                  name, (long long)c.worst, c.got_v, c.want_v, c.max_rel);
    }
    rg_safetensors_free(got);
    rg_safetensors_free(want);
}

/* ---- against PyTorch ---------------------------------------------------------- */

static void sgd_step(const char *cell)
{
    char init[64], text[64], want[64];
    snprintf(init, sizeof init, "charlm_sgd_%s_init.safetensors", cell);
    snprintf(text, sizeof text, "charlm_sgd_%s_text.txt", cell);
    snprintf(want, sizeof want, "charlm_sgd_%s_expected.safetensors", cell);
    rg_safetensors *meta = rg_safetensors_read_header(rg_test_data_path(want));
    cr_assert_not_null(meta, "%s", rg_last_error());
    const char *lr = rg_safetensors_get_meta(meta, "lr");
    const char *unroll = rg_safetensors_get_meta(meta, "unroll");
    double loss = strtod(rg_safetensors_get_meta(meta, "loss"), NULL);
    cr_assert(lr && unroll);
    int rc = charlm("train --init '%s' --text '%s' --batch 1 --unroll %s --val-fraction 0 "
                    "--dropout 0 --clip 0 --optimizer sgd --lr %s --steps 1 --save '%s'",
                    rg_test_data_path(init), rg_test_data_path(text), unroll, lr,
                    tmp("sgd.safetensors"));
    rg_safetensors_free(meta);
    cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, rg_out, rg_err);
    cr_assert_float_eq(field(rg_out, "train: steps=1 loss="), loss, 1e-4 * loss);
    compare_files(tmp("sgd.safetensors"), rg_test_data_path(want), 1e-6, 1e-4);
}

Test(charlm, sgd_step_lstm_matches_pytorch) { sgd_step("lstm"); }
Test(charlm, sgd_step_gru_matches_pytorch) { sgd_step("gru"); }
Test(charlm, sgd_step_rnn_matches_pytorch) { sgd_step("rnn_tanh"); }

Test(charlm, eval_matches_pytorch)
{
    FILE *f = fopen(rg_test_data_path("charlm_eval_expected.txt"), "r");
    cr_assert_not_null(f);
    char cell[32];
    double want;
    int n = 0;
    while (fscanf(f, "%31s %lf", cell, &want) == 2) {
        char model[64];
        snprintf(model, sizeof model, "charlm_eval_%s.safetensors", cell);
        int rc = charlm("eval --model '%s' --text '%s'", rg_test_data_path(model),
                        rg_test_data_path("charlm_eval_text.txt"));
        cr_assert_eq(rc, 0, "%s: exit %d: %s", cell, rc, rg_err);
        double got = field(rg_out, "loss=");
        cr_assert(fabs(got - want) <= 1e-4 * want, "%s: loss %.8f, PyTorch %.8f", cell, got,
                  want);
        cr_assert_float_eq(field(rg_out, "bpc="), got / log(2.0), 1e-5);
        cr_assert_float_eq(field(rg_out, "ppl="), exp(got), 1e-4 * exp(got));
        cr_assert_eq((int)field(rg_out, "chars="), 262);
        n++;
    }
    fclose(f);
    cr_assert_eq(n, 4);
}

/* ---- resumption ------------------------------------------------------------ */

static void resume_case(const char *extra)
{
    const char *text = corpus_head("resume.txt", 4000);
    const char *cfg = "--cell lstm --layers 2 --hidden 8 --embed 4 --unroll 8 --batch 4 "
                      "--steps 20 --optimizer adam --lr 0.01 --clip 1 --dropout 0.2 "
                      "--val-fraction 0.1 --eval-every 5 --save-every 3 --seed 7 --threads 1";
    int rc = charlm("train --text '%s' %s %s --save '%s'", text, cfg, extra,
                    tmp("full.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    rc = charlm("train --text '%s' %s %s --stop-after 10 --save '%s'", text, cfg, extra,
                tmp("half.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "step 10 of 20"), "%s", rg_out);
    rc = charlm("train --resume '%s' --threads 1", tmp("half.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "train: steps=20 "), "%s", rg_out);
    compare_files(tmp("half.safetensors"), tmp("full.safetensors"), 0, 0);
    compare_files(tmp("half.train.safetensors"), tmp("full.train.safetensors"), 0, 0);
}

Test(charlm, resume_gives_the_same_weights) { resume_case(""); }
Test(charlm, resume_with_carried_state) { resume_case("--carry-state"); }

/* --steps 0 writes the initial weights (the PyTorch twin's start): the same
 * weights as the first checkpoint of a run with the same seed would start from */
Test(charlm, steps_zero_saves_the_initial_weights)
{
    char text[512];
    snprintf(text, sizeof text, "%s", corpus_head("z.txt", 2000));
    int rc = charlm("train --text '%s' --hidden 6 --embed 3 --unroll 4 --batch 2 --steps 0 "
                    "--seed 5 --save '%s'", text, tmp("z0.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    cr_assert(strstr(rg_out, "train: steps=0 "), "%s", rg_out);
    rc = charlm("train --text '%s' --hidden 6 --embed 3 --unroll 4 --batch 2 --steps 0 "
                "--seed 5 --save '%s'", text, tmp("z1.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    compare_files(tmp("z0.safetensors"), tmp("z1.safetensors"), 0, 0);
    /* and a run of that seed starts from them: one SGD step at lr 0 keeps them */
    rc = charlm("train --init '%s' --text '%s' --unroll 4 --batch 2 --steps 1 --optimizer sgd "
                "--lr 0 --save '%s'", tmp("z0.safetensors"), text, tmp("z2.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    compare_files(tmp("z2.safetensors"), tmp("z0.safetensors"), 0, 0);
}

Test(charlm, resume_refuses_changed_settings)
{
    const char *text = corpus_head("r.txt", 2000);
    int rc = charlm("train --text '%s' --hidden 4 --embed 2 --unroll 4 --batch 2 --steps 4 "
                    "--save '%s'", text, tmp("r.safetensors"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    rc = charlm("train --resume '%s' --lr 0.1", tmp("r.safetensors"));
    cr_assert_neq(rc, 0);
    cr_assert(strstr(rg_err, "--lr cannot be given with --resume"), "%s", rg_err);
    rc = charlm("train --resume '%s' --text '%s'", tmp("r.safetensors"),
                rg_test_data_path("charlm_eval_text.txt"));
    cr_assert_neq(rc, 0);
    cr_assert(strstr(rg_err, "is not the text of the run being resumed"), "%s", rg_err);
    rc = charlm("train --resume '%s'", tmp("missing.safetensors"));
    cr_assert_neq(rc, 0);
    cr_assert(strstr(rg_err, "missing.train.safetensors"), "%s", rg_err);
}

/* ---- subcommands ------------------------------------------------------------- */

Test(charlm, gradcheck_passes_for_every_cell)
{
    const char *cells[] = {"lstm", "gru", "rnn_tanh", "rnn_relu"};
    for (int i = 0; i < 4; i++) {
        int rc = charlm("gradcheck --cell %s", cells[i]);
        cr_assert_eq(rc, 0, "%s: %s%s", cells[i], rg_out, rg_err);
        cr_assert(strstr(rg_out, "gradcheck: params=11 max_rel_err="), "%s", rg_out);
        cr_assert(strstr(rg_out, " PASS\n"), "%s", rg_out);
        cr_assert(strstr(rg_out, "rnn.weight_hh_l1"), "%s", rg_out);
    }
}

Test(charlm, sample_is_reproducible)
{
    const char *model = rg_test_data_path("charlm_eval_lstm.safetensors");
    cr_assert_eq(charlm("sample --model '%s' --prime 'It is' --length 80 --seed 3", model), 0,
                 "%s", rg_err);
    static char first[sizeof rg_out];
    memcpy(first, rg_out, sizeof first);
    cr_assert(!strncmp(first, "It is", 5));
    cr_assert_eq(strlen(first), 5 + 80 + 1);
    cr_assert_eq(charlm("sample --model '%s' --prime 'It is' --length 80 --seed 3", model), 0);
    cr_assert_str_eq(rg_out, first);
    cr_assert_eq(charlm("sample --model '%s' --prime 'It is' --length 80 --seed 4", model), 0);
    cr_assert_str_neq(rg_out, first);
    cr_assert_eq(charlm("sample --model '%s' --length 20 --top-k 3 --temperature 0.5", model), 0);
}

Test(charlm, log_and_plot_files)
{
    const char *text = corpus_head("lp.txt", 3000);
    int rc = charlm("train --text '%s' --hidden 6 --embed 3 --unroll 6 --batch 3 --steps 30 "
                    "--eval-every 10 --log-every 5 --save '%s' --log '%s' --plot '%s'", text,
                    tmp("lp.safetensors"), tmp("lp.csv"), tmp("lp.svg"));
    cr_assert_eq(rc, 0, "%s", rg_err);
    static char buf[1 << 16];
    rg_slurp(tmp("lp.csv"), buf, sizeof buf);
    cr_assert(!strncmp(buf, "step,train_loss,val_loss,lr,chars_per_s\n5,", 42), "%s", buf);
    int rows = 0;
    for (char *p = buf; *p; p++)
        rows += *p == '\n';
    cr_assert_eq(rows, 1 + 6, "%s", buf);
    cr_assert(strstr(buf, "\n10,"), "%s", buf);
    rg_slurp(tmp("lp.svg"), buf, sizeof buf);
    cr_assert(strstr(buf, "<svg") && strstr(buf, "</svg>") && strstr(buf, "polyline") &&
              strstr(buf, "validation loss"), "%s", buf);
    cr_assert(strstr(rg_out, "train: steps=30 loss="), "%s", rg_out);
    cr_assert(strstr(rg_out, " val_bpc=") && strstr(rg_out, " chars_per_s="), "%s", rg_out);
    /* the checkpoint follows CHECKPOINT.md: PyTorch names, metadata cell and vocab */
    rg_safetensors *st = rg_safetensors_read(tmp("lp.safetensors"));
    cr_assert_not_null(st);
    cr_assert_str_eq(rg_safetensors_get_meta(st, "cell"), "lstm");
    cr_assert_not_null(rg_safetensors_get_meta(st, "vocab"));
    cr_assert_eq(rg_safetensors_count(st), 7);
    cr_assert_not_null(rg_safetensors_get(st, "rnn.bias_hh_l0"));
    rg_safetensors_free(st);
    /* eval of the saved model on the held-out tail gives the reported val_bpc */
    double val_bpc = field(rg_out, "val_bpc=");
    FILE *f = fopen(tmp("lp.txt"), "rb");
    char tail[300];
    cr_assert_eq(fseek(f, 3000 - 300, SEEK_SET), 0);
    cr_assert_eq(fread(tail, 1, 300, f), 300);
    fclose(f);
    write_file(tmp("tail.txt"), tail, 300);
    cr_assert_eq(charlm("eval --model '%s' --text '%s'", tmp("lp.safetensors"), tmp("tail.txt")),
                 0, "%s", rg_err);
    cr_assert_float_eq(field(rg_out, "bpc="), val_bpc, 1e-5);
}

/* ---- error paths ------------------------------------------------------------- */

static void expect_error(int rc, const char *needle)
{
    cr_assert_neq(rc, 0, "expected failure (%s); out:\n%s", needle, rg_out);
    cr_assert(strstr(rg_err, needle), "expected '%s' in stderr:\n%s", needle, rg_err);
}

/* second derivatives: rg_hvp along a random direction against differences of
 * the gradient, for every parameter of every built-in cell */
Test(charlm, gradcheck_order2_passes_for_every_cell)
{
    const char *cells[] = {"lstm", "gru", "rnn_tanh", "rnn_relu"};
    for (int i = 0; i < 4; i++) {
        int rc = charlm("gradcheck --order 2 --cell %s", cells[i]);
        cr_assert_eq(rc, 0, "%s: %s%s", cells[i], rg_out, rg_err);
        cr_assert(strstr(rg_out, "v ~ U(-1,1) per element (seed 1)"), "%s", rg_out);
        cr_assert(strstr(rg_out, "gradcheck: order=2 params=11 max_rel_err="), "%s", rg_out);
        cr_assert(strstr(rg_out, " PASS\n"), "%s", rg_out);
        cr_assert(strstr(rg_out, "rnn.weight_hh_l1"), "%s", rg_out);
    }
    expect_error(charlm("gradcheck --order 3"), "--order 3 is out of range");
}

Test(charlm, bad_command_lines)
{
    expect_error(charlm("frobnicate"), "unknown command 'frobnicate'");
    expect_error(charlm("train --hiden 4"), "unknown flag '--hiden'");
    expect_error(charlm("train --hidden abc"), "--hidden expects an integer, got 'abc'");
    expect_error(charlm("train --hidden 0"), "--hidden 0 is out of range");
    expect_error(charlm("train --lr -1"), "--lr -1 is out of range");
    expect_error(charlm("train --lr nan"), "--lr expects a finite number");
    expect_error(charlm("train --cell tree"), "--cell 'tree' is not one of");
    expect_error(charlm("train --optimizer rmsprop"), "--optimizer 'rmsprop' is not one of");
    expect_error(charlm("train --steps"), "--steps needs a value");
    expect_error(charlm("train --steps 3 --epochs 1"), "not both");
    expect_error(charlm("train stray"), "unexpected argument 'stray'");
    expect_error(charlm("sample --length 5"), "--model FILE is required");
    expect_error(charlm("eval --model x"), "--text FILE are required");
    expect_error(charlm("gradcheck --cell lstmm"), "--cell 'lstmm'");
    cr_assert_eq(charlm("train --help"), 0);
    cr_assert(strstr(rg_out, "--val-fraction"));
}

Test(charlm, missing_files)
{
    expect_error(charlm("train --text '%s' --steps 1", tmp("nope.txt")), "nope.txt");
    expect_error(charlm("eval --model '%s' --text '%s'", tmp("nope.safetensors"),
                        rg_test_data_path("charlm_eval_text.txt")), "nope.safetensors");
    expect_error(charlm("eval --model '%s' --text '%s'",
                        rg_test_data_path("charlm_eval_lstm.safetensors"), tmp("nope.txt")),
                 "nope.txt");
    expect_error(charlm("sample --model '%s'", tmp("nope.safetensors")), "nope.safetensors");
    expect_error(charlm("train --init '%s' --steps 1", tmp("nope.safetensors")),
                 "nope.safetensors");
    write_file(tmp("short.txt"), "abc", 3);
    expect_error(charlm("train --text '%s' --unroll 8 --val-fraction 0", tmp("short.txt")),
                 "needs at least 9");
}

Test(charlm, malformed_checkpoints)
{
    const char *good = rg_test_data_path("charlm_eval_lstm.safetensors");
    const char *text = rg_test_data_path("charlm_eval_text.txt");
    static char buf[1 << 20];
    FILE *f = fopen(good, "rb");
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    /* truncated */
    write_file(tmp("trunc.safetensors"), buf, n - 10);
    expect_error(charlm("eval --model '%s' --text '%s'", tmp("trunc.safetensors"), text),
                 "trunc.safetensors");
    /* garbage */
    write_file(tmp("junk.safetensors"), "\x10\0\0\0\0\0\0\0{not json}      ", 24);
    expect_error(charlm("eval --model '%s' --text '%s'", tmp("junk.safetensors"), text),
                 "junk.safetensors");
    /* a header length beyond the file */
    write_file(tmp("len.safetensors"), "\xff\xff\0\0\0\0\0\0{}", 10);
    expect_error(charlm("eval --model '%s' --text '%s'", tmp("len.safetensors"), text),
                 "len.safetensors");
    /* valid container, not a charlm model */
    write_file(tmp("empty.safetensors"), "\x08\0\0\0\0\0\0\0{}      ", 16);
    expect_error(charlm("eval --model '%s' --text '%s'", tmp("empty.safetensors"), text),
                 "metadata 'cell' is missing");
    /* a wrong cell name for the tensors: gru's weights are not an lstm's shape */
    char *p = NULL;
    for (size_t i = 0; i + 6 <= n && !p; i++)
        if (!memcmp(buf + i, "\"lstm\"", 6))
            p = buf + i;
    cr_assert_not_null(p);
    memcpy(p, "\"rnn_\"", 6);
    write_file(tmp("cell.safetensors"), buf, n);
    expect_error(charlm("eval --model '%s' --text '%s'", tmp("cell.safetensors"), text),
                 "metadata 'cell' is 'rnn_'");
    memcpy(p, "\"gru\" ", 6);
    write_file(tmp("gru.safetensors"), buf, n);
    expect_error(charlm("eval --model '%s' --text '%s'", tmp("gru.safetensors"), text),
                 "rnn.weight_hh_l0");
    cr_assert_eq(charlm("sample --model '%s' --length 3", tmp("gru.safetensors")) != 0, 1);
}

Test(charlm, byte_outside_vocabulary)
{
    const char *model = rg_test_data_path("charlm_eval_lstm.safetensors");
    write_file(tmp("odd.txt"), "It is a truth\x01 universally", 26);
    expect_error(charlm("eval --model '%s' --text '%s'", model, tmp("odd.txt")),
                 "byte 1 (0x01) at offset 13 is not in the model's vocabulary");
    write_file(tmp("odd2.txt"), "It is Z", 7);
    expect_error(charlm("eval --model '%s' --text '%s'", model, tmp("odd2.txt")),
                 "byte 'Z' (90) at offset 6");
    expect_error(charlm("sample --model '%s' --prime 'Zebra'", model), "--prime: byte 'Z'");
    expect_error(charlm("train --init '%s' --text '%s' --steps 1", model, tmp("odd2.txt")),
                 "at offset 6");
}

Test(charlm, diverging_training_stops_with_a_message)
{
    const char *text = corpus_head("nan.txt", 2000);
    int rc = charlm("train --text '%s' --hidden 8 --embed 4 --unroll 8 --batch 4 --steps 20 "
                    "--optimizer sgd --lr 1e300 --clip 0 --save '%s'", text,
                    tmp("nan.safetensors"));
    expect_error(rc, "training diverged");
    cr_assert(strstr(rg_err, "NaN") || strstr(rg_err, "not finite"), "%s", rg_err);
    cr_assert_eq(access(tmp("nan.safetensors"), F_OK), -1, "no checkpoint of a diverged run");
}

/* ---- wordlm: the word-level model ------------------------------------------ */

Test(charlm, wordlm_trains_reports_perplexities_samples_and_evaluates)
{
    const char *text = corpus_head("words.txt", 60000);
    const char *model = tmp("w.safetensors");
    cr_assert_eq(wordlm("train --text '%s' --steps 30 --hidden 16 --embed 8 --unroll 8 --batch 4 "
                        "--vocab-size 300 --threads 1 --save '%s'", text, model),
                 0, "%s", rg_err);
    const char *line = strstr(rg_out, "val_ppl=");
    cr_assert_not_null(line, "no final line: %s", rg_out);
    double val = 0, test = 0;
    cr_assert_eq(sscanf(line, "val_ppl=%lf test_ppl=%lf", &val, &test), 2, "%s", line);
    /* 30 steps from uniform: the perplexity is finite and below the vocabulary size */
    cr_expect(isfinite(val) && val > 1 && val < 300, "val_ppl %g", val);
    cr_expect(isfinite(test) && test > 1 && test < 300, "test_ppl %g", test);
    cr_assert_eq(wordlm("sample --model '%s' --length 20 --seed 3", model), 0, "%s", rg_err);
    static char first[sizeof rg_out];
    memcpy(first, rg_out, sizeof first);
    cr_expect_gt(strlen(first), 10);
    cr_assert_eq(wordlm("sample --model '%s' --length 20 --seed 3", model), 0);
    cr_expect_str_eq(rg_out, first, "the same seed gives the same text");
    cr_assert_eq(wordlm("eval --model '%s' --text '%s'", model, text), 0, "%s", rg_err);
    cr_expect_not_null(strstr(rg_out, "eval: tokens="), "%s", rg_out);
}

Test(charlm, wordlm_errors)
{
    cr_expect_neq(wordlm("train --no-such-flag 1"), 0);
    cr_expect_not_null(strstr(rg_err, "unknown flag"), "%s", rg_err);
    cr_expect_neq(wordlm("train --text '%s'", tmp("missing.txt")), 0);
    cr_expect_not_null(strstr(rg_err, "missing.txt"), "%s", rg_err);
    cr_expect_neq(wordlm("train --steps abc"), 0);
    cr_expect_not_null(strstr(rg_err, "--steps"), "%s", rg_err);
    cr_expect_neq(wordlm("eval --model '%s' --text '%s'", tmp("none.safetensors"), tmp("x")), 0);
    cr_expect_gt(strlen(rg_err), 0);
    cr_expect_neq(wordlm("fly"), 0);
    cr_expect_not_null(strstr(rg_err, "unknown command"), "%s", rg_err);
}
