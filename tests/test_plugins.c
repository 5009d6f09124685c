/* Cell plugins: examples/cell_plugin.so (mingru, ln_lstm[_fused], peephole_lstm) loaded
 * into this process (registration, errors, a hand computation, gradient checks
 * of stacked bidirectional variable-length layers, the user cells of the
 * custom-cell benchmark against their PyTorch twins) and through the programs, as a
 * user runs them: charlm trains, saves, resumes exactly, evaluates, samples,
 * gradient-checks and draws a plugin cell; wordlm trains, resumes, samples and
 * evaluates one. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char g_dir[256];
static char g_out[1 << 16], g_err[1 << 16];

static void make_dir(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/rg_plugins_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
}

static void remove_dir(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
}

TestSuite(plugins, .init = make_dir, .fini = remove_dir);

static const char *tmp(const char *name)
{
    static char buf[8][512];
    static int at;
    at = (at + 1) % 8;
    snprintf(buf[at], sizeof buf[at], "%s/%s", g_dir, name);
    return buf[at];
}

/* a file of the build tree ("examples/cell_plugin.so") */
static const char *built(const char *name)
{
    static char buf[4][512];
    static int at;
    const char *bd = getenv("RG_BUILD_DIR");
    at = (at + 1) % 4;
    snprintf(buf[at], sizeof buf[at], "%s/%s", bd ? bd : "build", name);
    return buf[at];
}

#define PLUGIN built("examples/cell_plugin.so")

static void slurp(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(buf, 1, n - 1, f) : 0;
    buf[got] = '\0';
    if (f)
        fclose(f);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Runs "[env] <build>/examples/<prog> <args>"; exit status, stdout in g_out,
 * stderr in g_err. */
static int run(const char *env, const char *prog, const char *fmt, ...)
{
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char exe[128];
    snprintf(exe, sizeof exe, "examples/%s", prog);
    snprintf(cmd, sizeof cmd, "%s '%s' %s > '%s/out.txt' 2> '%s/err.txt' < /dev/null", env,
             built(exe), args, g_dir, g_dir);
    int st = system(cmd);
    slurp(tmp("out.txt"), g_out, sizeof g_out);
    slurp(tmp("err.txt"), g_err, sizeof g_err);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static void expect_error(int rc, const char *needle)
{
    cr_assert_neq(rc, 0, "expected failure (%s); out:\n%s", needle, g_out);
    cr_assert(strstr(g_err, needle), "expected '%s' in stderr:\n%s", needle, g_err);
}

/* the first n bytes of the bundled corpus as tmp(name) */
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

/* every tensor of two files is bit-identical */
static void same_tensors(const char *a_path, const char *b_path)
{
    rg_safetensors *a = rg_safetensors_read(a_path), *b = rg_safetensors_read(b_path);
    cr_assert(a && b, "%s", rg_last_error());
    cr_assert_eq(rg_safetensors_count(a), rg_safetensors_count(b));
    for (int i = 0; i < rg_safetensors_count(b); i++) {
        const char *name;
        const rg_tensor *w = rg_safetensors_at(b, i, &name);
        const rg_tensor *g = rg_safetensors_get(a, name);
        cr_assert_not_null(g, "%s missing from %s", name, a_path);
        cr_assert(rg_test_compare(g, w, 0, 0).pass, "%s differs", name);
    }
    rg_safetensors_free(a);
    rg_safetensors_free(b);
}

/* ---- in this process ------------------------------------------------------------- */

Test(plugins, a_plugin_registers_its_cells)
{
    cr_assert_null(rg_cell_type_find("mingru"));
    int n = rg_cell_type_count();
    cr_assert_eq(rg_cell_plugin_load(PLUGIN), 0, "%s", rg_last_error());
    const rg_cell_type *mingru = rg_cell_type_find("mingru");
    cr_assert_not_null(mingru);
    cr_assert_not_null(rg_cell_type_find("ln_lstm"));
    cr_assert_not_null(rg_cell_type_find("ln_lstm_fused"));
    cr_assert_not_null(rg_cell_type_find("peephole_lstm"));
    cr_assert_eq(mingru->gates, 2);
    cr_assert_eq(rg_cell_type_count(), n + 4);
    /* loading it again registers nothing new */
    cr_assert_eq(rg_cell_plugin_load(PLUGIN), 0, "%s", rg_last_error());
    cr_assert_eq(rg_cell_type_count(), n + 4);
    cr_assert_eq(rg_cell_type_find("mingru"), mingru);
    char names[512];
    cr_assert(strstr(rg_cell_type_names(names, sizeof names, ", "),
                     "mingru, ln_lstm, ln_lstm_fused, peephole_lstm"), "%s", names);
}

Test(plugins, plugin_errors_name_the_file_and_the_problem)
{
    cr_assert_eq(rg_cell_plugin_load(tmp("missing.so")), -1);
    cr_assert(strstr(rg_last_error(), "missing.so': No such file or directory"), "%s",
              rg_last_error());
    write_file(tmp("text.so"), "not an ELF file\n", 16);
    cr_assert_eq(rg_cell_plugin_load(tmp("text.so")), -1);
    cr_assert(strstr(rg_last_error(), "text.so': cannot load it: "), "%s", rg_last_error());
    cr_assert_eq(rg_cell_plugin_load(g_dir), -1);
    cr_assert(strstr(rg_last_error(), "not a regular file"), "%s", rg_last_error());
    cr_assert_eq(rg_cell_plugin_load(built("tests/plugin_noentry.so")), -1);
    cr_assert(strstr(rg_last_error(), "plugin_noentry.so' has no entry point "
                                      "rg_plugin_register"), "%s", rg_last_error());
    cr_assert_eq(rg_cell_plugin_load(built("tests/plugin_fails.so")), -1);
    cr_assert(strstr(rg_last_error(), "plugin_fails.so': rg_plugin_register() returned -1: "
                                      "this plugin needs a newer retrograd"), "%s",
              rg_last_error());
    /* what it registered before failing stays usable: its code stays loaded */
    cr_assert_not_null(rg_cell_type_find("half_registered"));
    cr_assert_eq(rg_cell_plugin_load(NULL), -1);
    cr_assert_eq(rg_cell_plugin_load(""), -1);
    cr_assert(strstr(rg_last_error(), "empty path"), "%s", rg_last_error());
}

enum { T = 4, B = 3, I = 3, H = 2 };

/* mingru against its equations, in doubles: the bias of its {weight_ih,
 * bias_ih} layout is used */
Test(plugins, mingru_matches_a_hand_computation)
{
    cr_assert_eq(rg_cell_plugin_load(PLUGIN), 0, "%s", rg_last_error());
    rg_params *P = rg_params_new();
    rg_rng rng;
    rg_rng_seed(&rng, 9);
    rg_seq_config cfg = {.cell = rg_cell_type_find("mingru"), .input_size = I, .hidden_size = H,
                         .num_layers = 1, .dtype = RG_F64};
    rg_seq *s = rg_seq_new(P, "rnn", &cfg, &rng);
    cr_assert_not_null(s, "%s", rg_last_error());
    const rg_tensor *W = rg_params_get(P, "rnn.weight_ih_l0"), *b = rg_params_get(P, "rnn.bias_ih_l0");
    cr_assert(W && b && W->shape[0] == 2 * H && b->shape[0] == 2 * H);
    double x[T][B][I], h[B][H] = {{0}};
    for (int t = 0; t < T; t++)
        for (int k = 0; k < B; k++)
            for (int i = 0; i < I; i++)
                x[t][k][i] = rg_rng_normal(&rng);
    rg_tape *tp = rg_tape_new();
    rg_tensor *out = rg_seq_forward(tp, s, rg_from_data(tp, RG_F64, RG_DIMS(T, B, I), x), NULL,
                                    NULL, NULL, NULL);
    cr_assert_not_null(out, "%s", rg_last_error());
    for (int t = 0; t < T; t++)
        for (int k = 0; k < B; k++) {
            double p[2 * H];
            for (int j = 0; j < 2 * H; j++) {
                p[j] = rg_get(b, j);
                for (int i = 0; i < I; i++)
                    p[j] += x[t][k][i] * rg_get(W, j * I + i);
            }
            for (int j = 0; j < H; j++) {
                double z = 1 / (1 + exp(-p[j]));
                h[k][j] = (1 - z) * h[k][j] + z * p[H + j];
                double got = rg_get(out, (t * B + k) * H + j);
                cr_assert(fabs(got - h[k][j]) < 1e-13, "[%d,%d,%d] %.15g, by hand %.15g", t, k,
                          j, got, h[k][j]);
            }
        }
    rg_tape_free(tp);
    rg_seq_free(s);
    rg_params_free(P);
}

typedef struct gc_model {
    rg_seq *s;
    rg_tensor *x, *w;
    const int32_t *lengths;
} gc_model;

/* sum(out * w) with random w, over a padded batch */
static rg_tensor *gc_loss(rg_tape *tp, rg_tensor *const *in, int n, void *user)
{
    gc_model *m = user;
    rg_tensor *out = rg_seq_forward(tp, m->s, m->x, m->lengths, NULL, NULL, NULL);
    return rg_sum(tp, rg_mul(tp, out, m->w));
}

static void gradcheck_cell(const char *name)
{
    cr_assert_eq(rg_cell_plugin_load(PLUGIN), 0, "%s", rg_last_error());
    rg_params *P = rg_params_new();
    rg_rng rng;
    rg_rng_seed(&rng, 21);
    rg_seq_config cfg = {.cell = rg_cell_type_find(name), .input_size = I, .hidden_size = H,
                         .num_layers = 2, .bidirectional = true, .dtype = RG_F64};
    rg_seq *s = rg_seq_new(P, "rnn", &cfg, &rng);
    cr_assert_not_null(s, "%s: %s", name, rg_last_error());
    static const int32_t lengths[B] = {4, 2, 3};
    gc_model m = {s, rg_normal(NULL, RG_F64, RG_DIMS(T, B, I), 0, 1, &rng),
                  rg_normal(NULL, RG_F64, RG_DIMS(T, B, 2 * H), 0, 1, &rng), lengths};
    rg_gradcheck_opts o;
    rg_gradcheck_defaults(&o);
    int n = rg_params_count(P);
    for (int i = 0; i < n; i++) {
        const char *pname;
        rg_tensor *p = rg_params_at(P, i, &pname);
        rg_gradcheck_result res;
        cr_assert_eq(rg_gradcheck(gc_loss, 1, &p, &m, &o, &res), 0, "%s", rg_last_error());
        cr_assert(res.pass, "%s %s: max rel err %g", name, pname, res.max_rel_err);
    }
    rg_tensor_free(m.x);
    rg_tensor_free(m.w);
    rg_seq_free(s);
    rg_params_free(P);
}

Test(plugins, mingru_gradcheck_stacked_bidirectional_padded) { gradcheck_cell("mingru"); }
Test(plugins, ln_lstm_gradcheck_stacked_bidirectional_padded) { gradcheck_cell("ln_lstm"); }
Test(plugins, ln_lstm_fused_gradcheck_stacked_bidirectional_padded) { gradcheck_cell("ln_lstm_fused"); }
Test(plugins, peephole_lstm_gradcheck_stacked_bidirectional_padded) { gradcheck_cell("peephole_lstm"); }

/* The user cells of the custom-cell benchmark (the composed built-ins and the
 * plugin's three) against the PyTorch modules that bench/torch_custom_cells.py
 * times, from the same weights (tests/data/custom_cells_f64.txt, written by
 * tools/custom_cell_refs.py): outputs, loss, dx and every parameter's gradient
 * of a 2-layer stack, float64.  Every parameter of ours must have a twin. */
/* every element of t (or of its gradient) within 1e-10 + 1e-8 |want| */
static void expect_close(const char *cell, const char *what, const rg_tensor *t, bool grad,
                         const rg_tensor *want)
{
    double worst = 0;
    for (int64_t j = 0; j < t->numel; j++) {
        double v = grad ? rg_grad_get(t, j) : rg_get(t, j), e = rg_get(want, j);
        worst = fmax(worst, fabs(v - e) / (1e-10 + 1e-8 * fabs(e)));
    }
    cr_expect(worst <= 1, "%s %s: error/tolerance %g", cell, what, worst);
}

/* ours: the cell's name; twin: its twin's (the name of its cases) */
static void twin_parity(const rg_reflist *l, const char *ours, const char *cell)
{
    const rg_refcase *rc = rg_ref_find(l, cell);
    cr_assert(rc && rc->n_in == 2 && rc->n_out == 3, "case %s", cell);
    rg_tensor *x = rc->in[0];
    rg_seq_config cfg = {.cell = rg_cell_type_find(ours), .input_size = x->shape[2],
                         .hidden_size = rc->in[1]->shape[2], .num_layers = 2, .dtype = RG_F64};
    rg_params *P = rg_params_new();
    rg_seq *s = rg_seq_new(P, "rnn", &cfg, NULL);
    cr_assert(s, "%s: %s", ours, rg_last_error());
    int n = rg_params_count(P), twins = 0;
    size_t len = strlen(cell);
    for (int i = 0; i < l->n; i++)
        twins += !strncmp(l->cases[i].name, cell, len) && l->cases[i].name[len] == '/';
    cr_assert_eq(n, twins, "%s: %d parameters, %d in the twin", cell, n, twins);
    const rg_refcase *pc[32];
    cr_assert(n <= 32);
    for (int i = 0; i < n; i++) {
        char sub[200];
        const char *pname;
        rg_tensor *p = rg_params_at(P, i, &pname);
        snprintf(sub, sizeof sub, "%s/%s", cell, pname);
        pc[i] = rg_ref_find(l, sub);
        cr_assert(pc[i] && rg_same_shape(p, pc[i]->in[0]), "%s: no twin of that shape", sub);
        cr_assert_eq(rg_tensor_copy(p, pc[i]->in[0]), 0);
    }
    rg_set_requires_grad(x, true);
    rg_zero_grad(x); /* two of ours may share a twin's x */
    rg_tape *tp = rg_tape_new();
    rg_tensor *out = rg_seq_forward_ex(tp, s, x, NULL);
    rg_tensor *loss = rg_sum(tp, rg_mul(tp, out, rc->in[1]));
    cr_assert(loss && rg_backward(tp, loss) == 0, "%s: %s", cell, rg_tape_error(tp));
    expect_close(ours, "output", out, false, rc->out[0]);
    expect_close(ours, "loss", loss, false, rc->out[1]);
    expect_close(ours, "dx", x, true, rc->out[2]);
    for (int i = 0; i < n; i++)
        expect_close(ours, pc[i]->name, rg_params_at(P, i, NULL), true, pc[i]->out[0]);
    rg_tape_free(tp);
    rg_seq_free(s);
    rg_params_free(P);
}

Test(plugins, benchmark_cells_match_their_pytorch_twins)
{
    cr_assert_eq(rg_cell_plugin_load(PLUGIN), 0, "%s", rg_last_error());
    rg_reflist *l = rg_ref_load(rg_test_data_path("custom_cells_f64.txt"));
    cr_assert(l, "%s", rg_last_error());
    const char *cells[][2] = {{"lstm_composed", "lstm_composed"},
                              {"gru_composed", "gru_composed"},
                              {"peephole_lstm", "peephole_lstm"},
                              {"ln_lstm", "ln_lstm"},
                              {"ln_lstm_fused", "ln_lstm"},
                              {"mingru", "mingru"}};
    for (int k = 0; k < 6; k++)
        twin_parity(l, cells[k][0], cells[k][1]);
    rg_ref_free(l);
}

/* ---- through the programs ----------------------------------------------------------- */

Test(plugins, charlm_trains_resumes_evaluates_and_samples_a_plugin_cell)
{
    char text[512];
    snprintf(text, sizeof text, "%s", corpus_head("t.txt", 4000));
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "--text '%s' --cell-lib '%s' --cell mingru --layers 2 --hidden 8 "
             "--embed 4 --unroll 8 --batch 4 --steps 12 --seed 3 --threads 1 --eval-every 4 "
             "--save-every 4 --dropout 0.1", text, PLUGIN);
    int rc = run("", "charlm", "train %s --save '%s'", cfg, tmp("full.safetensors"));
    cr_assert_eq(rc, 0, "%s%s", g_out, g_err);
    cr_assert(strstr(g_out, "charlm train: mingru 2x8"), "%s", g_out);
    rc = run("", "charlm", "train %s --stop-after 6 --save '%s'", cfg, tmp("half.safetensors"));
    cr_assert_eq(rc, 0, "%s", g_err);
    /* --resume brings the plugin back from the run's settings */
    rc = run("", "charlm", "train --resume '%s' --threads 1", tmp("half.safetensors"));
    cr_assert_eq(rc, 0, "%s", g_err);
    cr_assert(strstr(g_out, "train: steps=12 "), "%s", g_out);
    same_tensors(tmp("half.safetensors"), tmp("full.safetensors"));
    same_tensors(tmp("half.train.safetensors"), tmp("full.train.safetensors"));

    rg_safetensors *st = rg_safetensors_read(tmp("full.safetensors"));
    cr_assert_not_null(st);
    cr_assert_str_eq(rg_safetensors_get_meta(st, "cell"), "mingru");
    const char *lib = rg_safetensors_get_meta(st, "cell-lib");
    cr_assert(lib && lib[0] == '/' && strstr(lib, "cell_plugin.so"), "%s", lib ? lib : "-");
    cr_assert_not_null(rg_safetensors_get(st, "rnn.bias_ih_l1"));
    cr_assert_null(rg_safetensors_get(st, "rnn.weight_hh_l0"));
    rg_safetensors_free(st);

    rc = run("", "charlm", "eval --model '%s' --text '%s' --cell-lib '%s'", tmp("full.safetensors"),
             text, PLUGIN);
    cr_assert_eq(rc, 0, "%s", g_err);
    cr_assert(strstr(g_out, "eval: chars=3999 "), "%s", g_out);
    /* without the plugin: the known cells and the plugin the run used, not loaded */
    expect_error(run("", "charlm", "eval --model '%s' --text '%s'", tmp("full.safetensors"), text),
                 "metadata 'cell' is 'mingru', not a known cell (lstm, gru, rnn_tanh, rnn_relu)");
    cr_assert(strstr(g_err, "cell_plugin.so: give it with --cell-lib"), "%s", g_err);

    rc = run("", "charlm", "sample --model '%s' --cell-lib '%s' --length 30 --seed 2",
             tmp("full.safetensors"), PLUGIN);
    cr_assert_eq(rc, 0, "%s", g_err);
    static char first[sizeof g_out];
    memcpy(first, g_out, sizeof first);
    cr_assert_eq(strlen(first), 1 + 30 + 1, "%s", first);
    run("", "charlm", "sample --model '%s' --cell-lib '%s' --length 30 --seed 2",
        tmp("full.safetensors"), PLUGIN);
    cr_assert_str_eq(g_out, first);

    /* a plugin checkpoint as the start of a new run */
    rc = run("", "charlm", "train --init '%s' --cell-lib '%s' --text '%s' --steps 2 --save '%s'",
             tmp("full.safetensors"), PLUGIN, text, tmp("init.safetensors"));
    cr_assert_eq(rc, 0, "%s", g_err);
    cr_assert(strstr(g_out, "mingru 2x8"), "%s", g_out);
}

Test(plugins, charlm_gradchecks_and_draws_plugin_cells)
{
    const char *cells[] = {"mingru", "ln_lstm"};
    for (int i = 0; i < 2; i++) {
        int rc = run("", "charlm", "gradcheck --cell-lib '%s' --cell %s", PLUGIN, cells[i]);
        cr_assert_eq(rc, 0, "%s: %s%s", cells[i], g_out, g_err);
        cr_assert(strstr(g_out, " PASS\n"), "%s", g_out);
    }
    int rc = run("", "charlm", "graph --cell-lib '%s' --cell ln_lstm --steps 2 --out '%s'", PLUGIN,
                 tmp("g.dot"));
    cr_assert_eq(rc, 0, "%s", g_err);
    static char buf[1 << 18];
    slurp(tmp("g.dot"), buf, sizeof buf);
    cr_assert(!strncmp(buf, "digraph tape {", 14), "%.100s", buf);
    cr_assert(strstr(buf, "rnn.ln_c_weight_l0") && strstr(buf, "cross_entropy"), "%s", buf);
    cr_assert(strstr(buf, "label=\"charlm ln_lstm 1x4, 2 steps x batch 1\""), "%.300s", buf);
    /* as many entry nodes as the program reports */
    long entries = strtol(strstr(g_out, "graph: ") + 7, NULL, 10);
    char last[32];
    snprintf(last, sizeof last, "  e%ld [label=", entries - 1);
    cr_assert(entries > 10 && strstr(buf, last), "%ld entries: %s", entries, g_out);
    if (system("command -v dot > /dev/null 2>&1") == 0) {
        rc = run("", "charlm", "graph --out '%s'", tmp("g.svg"));
        cr_assert_eq(rc, 0, "%s", g_err);
        slurp(tmp("g.svg"), buf, sizeof buf);
        cr_assert(!strncmp(buf, "<?xml", 5) || !strncmp(buf, "<svg", 4), "%.100s", buf);
        cr_assert(strstr(buf, "</svg>") && strstr(buf, "rnn.weight_hh_l0"), "%.300s", buf);
    } else {
        cr_log_warn("Graphviz's dot is not installed: the SVG is not checked");
    }
    expect_error(run("PATH=/nonexistent", "charlm", "graph --out '%s'", tmp("h.svg")),
                 "Graphviz's 'dot' is not installed (apt-get install graphviz)");
    cr_assert(access(tmp("h.svg"), F_OK) != 0, "no picture after a failure");
    expect_error(run("", "charlm", "graph --out '%s'", tmp("g.png")), "--out FILE.svg or");
}

Test(plugins, charlm_names_unknown_cells_and_broken_plugins)
{
    expect_error(run("", "charlm", "train --cell mingru --steps 1"),
                 "--cell 'mingru' is not one of lstm, gru, rnn_tanh, rnn_relu (a plugin's cell "
                 "needs --cell-lib FILE.so)");
    expect_error(run("", "charlm", "train --cell-lib '%s' --cell mingruu --steps 1", PLUGIN),
                 "--cell 'mingruu' is not one of lstm, gru, rnn_tanh, rnn_relu, mingru, ln_lstm");
    expect_error(run("", "charlm", "train --cell-lib '%s' --steps 1", tmp("none.so")),
                 "cell plugin '");
    cr_assert(strstr(g_err, "none.so': No such file or directory"), "%s", g_err);
    expect_error(run("", "charlm", "gradcheck --cell-lib '%s'", built("tests/plugin_noentry.so")),
                 "has no entry point rg_plugin_register");
    expect_error(run("", "charlm", "sample --model x --cell-lib '%s'", built("tests/plugin_fails.so")),
                 "this plugin needs a newer retrograd");
}

Test(plugins, wordlm_trains_resumes_samples_and_evaluates_a_plugin_cell)
{
    char text[512];
    snprintf(text, sizeof text, "%s", corpus_head("words.txt", 40000));
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "--text '%s' --cell-lib '%s' --cell ln_lstm --steps 8 --hidden 8 "
             "--embed 4 --unroll 6 --batch 3 --vocab-size 200 --threads 1 --save-every 2",
             text, PLUGIN);
    int rc = run("", "wordlm", "train %s --save '%s'", cfg, tmp("full.safetensors"));
    cr_assert_eq(rc, 0, "%s%s", g_out, g_err);
    cr_assert(strstr(g_out, "ln_lstm 1x8"), "%s", g_out);
    rc = run("", "wordlm", "train %s --stop-after 4 --save '%s'", cfg, tmp("half.safetensors"));
    cr_assert_eq(rc, 0, "%s", g_err);
    rc = run("", "wordlm", "train --resume '%s' --threads 1", tmp("half.safetensors"));
    cr_assert_eq(rc, 0, "%s", g_err);
    cr_assert(strstr(g_out, "wordlm: steps=8 "), "%s", g_out);
    same_tensors(tmp("half.safetensors"), tmp("full.safetensors"));
    rc = run("", "wordlm", "sample --model '%s' --cell-lib '%s' --length 10",
             tmp("full.safetensors"), PLUGIN);
    cr_assert_eq(rc, 0, "%s", g_err);
    rc = run("", "wordlm", "eval --model '%s' --text '%s' --cell-lib '%s'",
             tmp("full.safetensors"), text, PLUGIN);
    cr_assert_eq(rc, 0, "%s", g_err);
    cr_assert(strstr(g_out, "eval: tokens="), "%s", g_out);
    expect_error(run("", "wordlm", "eval --model '%s' --text '%s'", tmp("full.safetensors"), text),
                 "metadata 'cell' is 'ln_lstm', not a known cell");
}
