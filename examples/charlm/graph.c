/* charlm graph: a picture of what the model records on the tape, for any cell
 * (built-in or a plugin's): one short unrolled model (random weights, a random
 * batch, the mean loss) drawn with rg_tape_dot, parameters by their registry
 * names.  --out FILE.dot writes the DOT text; FILE.svg runs Graphviz's dot. */
#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "charlm.h"

extern char **environ;

static const char *usage_line =
    "usage: charlm graph --out FILE.svg|FILE.dot [--cell C] [--cell-lib FILE.so] [--steps K]\n"
    "                    [--layers N] [--hidden N] [--embed N] [--vocab V] [--batch B]\n"
    "                    [--max-entries N]";

typedef struct graph_opts {
    const char *out, *cell, *cell_lib;
    int64_t steps, layers, hidden, embed, vocab, batch, max_entries;
} graph_opts;

static bool ends_with(const char *s, const char *end)
{
    size_t n = strlen(s), k = strlen(end);
    return n >= k && !strcmp(s + n - k, end);
}

/* Runs "dot -Tsvg -o svg in"; 0, or -1 with a message naming want, the
 * picture asked for (dot not installed, dot failed). */
static int run_dot(const char *in, const char *svg, const char *want)
{
    char *argv[] = {"dot", "-Tsvg", "-o", (char *)svg, (char *)in, NULL};
    pid_t pid;
    int err = posix_spawnp(&pid, "dot", NULL, NULL, argv, environ), st = 0;
    if (err == 0 && waitpid(pid, &st, 0) < 0)
        err = errno;
    if (err == ENOENT || (err == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 127)) {
        rg_set_error("Graphviz's 'dot' is not installed (apt-get install graphviz), so %s "
                     "cannot be drawn; --out FILE.dot writes the graph as text", want);
        return -1;
    }
    if (err != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        rg_set_error("'dot -Tsvg' failed (%s)", err ? strerror(err) : "see its message above");
        return -1;
    }
    return 0;
}

/* the model's tape after one forward pass to the loss */
static int record(const graph_opts *o, const rg_cell_type *cell, lm_model *m, rg_tape *tp)
{
    rg_rng rng;
    rg_rng_seed(&rng, 1);
    if (lm_model_init(m, cell, o->vocab, o->embed, o->hidden, (int)o->layers, 0.0, RG_F32,
                      &rng) != 0)
        return -1;
    int64_t n = o->steps * o->batch;
    rg_tensor *ids = rg_tensor_new(tp, RG_I32, RG_DIMS(o->steps, o->batch));
    rg_tensor *tg = rg_tensor_new(tp, RG_I32, RG_DIMS(n));
    for (int64_t i = 0; ids && tg && i < n; i++) {
        ((int32_t *)ids->data)[i] = (int32_t)rg_rng_below(&rng, o->vocab);
        ((int32_t *)tg->data)[i] = (int32_t)rg_rng_below(&rng, o->vocab);
    }
    rg_tensor *loss = rg_cross_entropy(tp, lm_forward(tp, m, ids, NULL, NULL, NULL), tg, RG_MEAN);
    return loss ? 0 : -1;
}

/* the DOT text into path (through a temporary file beside it, renamed) */
static int write_dot(const char *path, const rg_tape *tp, const rg_dot_opts *d)
{
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) {
        rg_set_error("out of memory");
        return -1;
    }
    snprintf(tmp, n, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int rc = -1;
    if (!f) {
        rg_set_error("%s: cannot write: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
    } else {
        rc = rg_tape_dot(tp, f, d);
        if (fclose(f) != 0 && rc == 0) {
            rg_set_error("%s: write error: %s", path, strerror(errno));
            rc = -1;
        }
        if (rc == 0)
            rc = rg_file_commit(tmp, path);
    }
    if (rc != 0 && fd >= 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* DOT, then SVG through dot when asked for (the DOT text in a temporary file) */
static int draw(const graph_opts *o, const lm_model *m, const rg_tape *tp)
{
    char title[256];
    snprintf(title, sizeof title, "charlm %s %dx%lld, %lld steps x batch %lld", m->cell->name,
             m->L, (long long)m->H, (long long)o->steps, (long long)o->batch);
    rg_dot_opts d = {.max_entries = (size_t)o->max_entries, .name = rg_params_tensor_name,
                     .user = m->P, .title = title};
    if (ends_with(o->out, ".dot"))
        return write_dot(o->out, tp, &d);
    size_t n = strlen(o->out) + 16;
    char *dot = malloc(n), *svg = malloc(n);
    int rc = -1;
    if (dot && svg) {
        snprintf(dot, n, "%s.dot-tmp", o->out);
        snprintf(svg, n, "%s.svg-tmp", o->out);
        rc = write_dot(dot, tp, &d);
        rc = rc ? rc : run_dot(dot, svg, o->out);
        rc = rc ? rc : rg_file_commit(svg, o->out);
        unlink(dot);
        if (rc != 0)
            unlink(svg);
    } else {
        rg_set_error("out of memory");
    }
    free(dot);
    free(svg);
    return rc;
}

int charlm_graph_main(int argc, char **argv)
{
    graph_opts o = {.cell = "lstm", .steps = 3, .layers = 1, .hidden = 4, .embed = 3,
                    .vocab = 5, .batch = 1};
    rg_flag fl[] = {
        {"--out", RG_FLAG_STRING, &o.out, 0, 0, NULL, "the picture: FILE.svg (needs Graphviz) or FILE.dot (required)", 0, 0, 0},
        {"--cell", RG_FLAG_STRING, &o.cell, 0, 0, NULL, "lstm | gru | rnn_tanh | rnn_relu | a plugin's cell (default lstm)", 0, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &o.cell_lib, 0, 0, NULL, "a cell plugin (shared object) to load first", 0, 0, 0},
        {"--steps", RG_FLAG_INT, &o.steps, 1, 1000, NULL, "time steps unrolled (default 3)", 0, 0, 0},
        {"--layers", RG_FLAG_INT, &o.layers, 1, 8, NULL, "recurrent layers (default 1)", 0, 0, 0},
        {"--hidden", RG_FLAG_INT, &o.hidden, 1, 4096, NULL, "hidden size (default 4)", 0, 0, 0},
        {"--embed", RG_FLAG_INT, &o.embed, 1, 4096, NULL, "embedding size (default 3)", 0, 0, 0},
        {"--vocab", RG_FLAG_INT, &o.vocab, 2, 256, NULL, "vocabulary size (default 5)", 0, 0, 0},
        {"--batch", RG_FLAG_INT, &o.batch, 1, 4096, NULL, "sequences (default 1)", 0, 0, 0},
        {"--max-entries", RG_FLAG_INT, &o.max_entries, 0, 1e9, NULL, "draw only the first N tape entries; 0 = all (default)", 0, 0, 0},
    };
    int nf = (int)(sizeof fl / sizeof fl[0]), status;
    if (!rg_flags_cli("charlm graph", usage_line, fl, nf, argc, argv, 2, &status))
        return status;
    if (!o.out || (!ends_with(o.out, ".svg") && !ends_with(o.out, ".dot"))) {
        fprintf(stderr, "charlm graph: --out FILE.svg or --out FILE.dot is required\n%s\n",
                usage_line);
        return 2;
    }
    if (o.cell_lib && rg_cell_plugin_load(o.cell_lib) != 0) {
        fprintf(stderr, "charlm graph: %s\n", rg_last_error());
        return 1;
    }
    const rg_cell_type *cell = lm_cell_find(o.cell, "--cell");
    if (!cell) {
        fprintf(stderr, "charlm graph: %s\n", rg_last_error());
        return 2;
    }
    lm_model m;
    memset(&m, 0, sizeof m);
    rg_tape *tp = rg_tape_new();
    status = 1;
    if (rg_file_check_output(o.out, "--out") != 0 || !tp || record(&o, cell, &m, tp) != 0 ||
        draw(&o, &m, tp) != 0)
        fprintf(stderr, "charlm graph: %s\n", rg_last_error());
    else {
        printf("graph: %zu tape entries of %s %dx%lld over %lld steps -> %s\n",
               rg_tape_entries(tp), cell->name, m.L, (long long)m.H, (long long)o.steps, o.out);
        status = 0;
    }
    rg_tape_free(tp);
    lm_model_free(&m);
    return status;
}
