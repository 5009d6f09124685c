/* Training throughput of a character LSTM/GRU/RNN language model, the configs
 * of the performance issue, measured like ../shared/bench/torch_charlm.py does
 * for PyTorch: Embedding(V,H) -> recurrent stack -> Linear(H,V) -> mean
 * cross-entropy; Adam lr 2e-3; clip by global norm 5; batch of random windows
 * of unroll+1 bytes from the zero state; float32.  The step is the training
 * core's (rg_trainer_step) on the language model of examples/lm, the one
 * charlm trains.
 *
 *   bench_charlm --config small --threads 1 --seconds 10 --text data/pride_and_prejudice.txt
 *
 * prints `RESULT {json}` with chars_per_s, ms_per_step, peak_rss_mb, the
 * arena bytes per time step, the kernel variant and OpenBLAS's kernel, and
 * cpu_s: the process's CPU seconds over the timed steps (chars_per_cpu_s is
 * steadier than chars_per_s on a machine that other jobs share).
 * --kernels baseline|avx2+fma|avx512 runs a lower kernel variant than the best.
 * --cell NAME trains another cell with the config's sizes: a built-in, or a
 * user cell of a plugin loaded with --cell-lib FILE.so (bench/run_custom_cells.sh:
 * the cells of examples/cell_plugin.so). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "benchtext.h"
#include "benchutil.h"
#include "lm.h"

typedef struct config {
    const char *name, *cell;
    int64_t layers, hidden, unroll, batch;
} config;

static const config CONFIGS[] = {
    {"tiny", "lstm", 1, 64, 25, 1},         {"small", "lstm", 1, 128, 64, 32},
    {"medium", "lstm", 2, 256, 64, 32},     {"large", "lstm", 1, 512, 64, 64},
    {"gru-medium", "gru", 2, 256, 64, 32},  {"rnn-medium", "rnn_tanh", 2, 256, 64, 32},
    {"long", "lstm", 1, 256, 10000, 16},
};

typedef struct bench_opts {
    const char *config, *text, *parallel, *kernels, *cell, *cell_lib;
    int64_t threads, micro_shards;
    double seconds;
} bench_opts;

/* steps until `seconds` have passed: warm-up, a one-second calibration, the
 * run (under mpirun every rank follows rank 0's clock) */
static int timed(rg_trainer *tr, const config *c, double seconds, int *steps, double *dt,
                 double *cpu, double *loss)
{
    int warm = c->unroll > 1000 ? 1 : 5, calib = 0;
    for (int i = 0; i < warm; ++i)
        if (rg_trainer_step(tr, 2e-3, loss, NULL) != 0)
            return -1;
    double t0 = rg_now(), more = 1;
    while (more) {
        if (rg_trainer_step(tr, 2e-3, loss, NULL) != 0)
            return -1;
        ++calib;
        more = rg_now() - t0 < 1.0 || calib < 2;
        rg_dist_broadcast(&more, sizeof more, 0);
    }
    double n = ceil(seconds / ((rg_now() - t0) / calib));
    rg_dist_broadcast(&n, sizeof n, 0);
    *steps = n < 3 ? 3 : (int)n;
    t0 = rg_now();
    double c0 = cpu_now();
    for (int i = 0; i < *steps; ++i)
        if (rg_trainer_step(tr, 2e-3, loss, NULL) != 0)
            return -1;
    *dt = rg_now() - t0;
    *cpu = cpu_now() - c0;
    return 0;
}

static int bench(const bench_opts *o, const config *c)
{
    int64_t n, V;
    int32_t *ids = encode_bytes(o->text, &n, &V);
    lm_model m;
    lm_task task;
    memset(&m, 0, sizeof m);
    memset(&task, 0, sizeof task);
    rg_rng rng;
    rg_rng_seed(&rng, 0);
    bool data = !strcmp(o->parallel, "data");
    rg_trainer_config tc = {.optim = rg_optim_defaults(RG_ADAM, 2e-3), .clip = 5.0,
                            .threads = (int)o->threads, .max_shards = data ? 0 : 1,
                            /* as before the core: "data" keeps BLAS single-threaded even
                             * when the batch has fewer rows than threads */
                            .blas_threads = data ? 1 : (int)o->threads,
                            .micro_shards = (int)o->micro_shards,
                            .seed = 1};
    rg_trainer *tr = NULL;
    int rc = -1, steps = 0;
    double dt = 0, cpu = 0, loss = NAN, t_begin = 0;
    const char *cell = o->cell ? o->cell : c->cell;
    const rg_cell_type *ct = rg_cell_type_find(cell);
    if (!ct)
        rg_set_error("bench_charlm: unknown cell '%s'", cell);
    if (ids && ct && lm_model_init(&m, ct, V, c->hidden, c->hidden,
                             (int)c->layers, 0.0, RG_F32, &rng) == 0 &&
        lm_task_init(&task, &m, ids, n, 0, c->unroll, c->batch, false, "bench") == 0) {
        rg_fit_task ft = lm_fit_task(&task, false);
        t_begin = rg_now();
        if ((tr = rg_trainer_new(&ft, &tc)) && timed(tr, c, o->seconds, &steps, &dt, &cpu, &loss) == 0)
            rc = 0;
    }
    if (rc == 0) {
        double t_all = rg_now() - t_begin;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        rg_tape *tp = rg_trainer_tape(tr, 0);
        int shards = rg_trainer_shards(tr);
        printf("RESULT {\"config\": \"%s\", \"cell\": \"%s\", \"threads\": %lld, \"steps\": %d, \"seconds\": %.3f, "
               "\"ms_per_step\": %.3f, \"chars_per_s\": %.1f, \"peak_rss_mb\": %.1f, "
               "\"arena_bytes_per_timestep\": %.0f, \"tape_entries\": %zu, \"last_loss\": %.4f, "
               "\"blas\": \"%s\", \"parallel\": \"%s\", \"shards\": %d, \"ranks\": %d, "
               "\"comm_share\": %.4f, \"deterministic\": %d, \"kernels\": \"%s\", "
               "\"blas_core\": \"%s\", \"cpu_s\": %.3f, \"chars_per_cpu_s\": %.1f}\n",
               c->name, cell, (long long)o->threads, steps, dt, 1e3 * dt / steps,
               (double)(c->batch * c->unroll) * steps / dt, ru.ru_maxrss / 1024.0,
               (double)rg_tape_arena_bytes(tp) / (double)c->unroll, rg_tape_entries(tp), loss,
               rg_blas_name(), shards > 1 ? "data" : "blas", shards, rg_dist_size(),
               rg_trainer_comm_seconds(tr) / t_all, o->micro_shards > 0, rg_cpu_kernels(),
               rg_blas_core(), cpu, (double)(c->batch * c->unroll) * steps / cpu);
    }
    rg_trainer_free(tr);
    lm_task_free(&task);
    lm_model_free(&m);
    free(ids);
    return rc;
}

int main(int argc, char **argv)
{
    if (rg_main_init("bench_charlm", &argc, &argv) != 0)
        return rg_main_end("bench_charlm", 1);
    bench_opts o = {.config = "small", .text = "data/pride_and_prejudice.txt",
                    .parallel = "data", .kernels = "auto", .threads = 1, .seconds = 10};
    rg_flag fl[] = {
        {"--config", RG_FLAG_CHOICE, &o.config, 0, 0, "tiny|small|medium|large|gru-medium|rnn-medium|long", "model and batch (default small)", 0, 0, 0},
        {"--threads", RG_FLAG_INT, &o.threads, 1, 1024, NULL, "threads (default 1)", 0, 0, 0},
        {"--seconds", RG_FLAG_DOUBLE, &o.seconds, 0.01, 1e6, NULL, "timed seconds (default 10)", 0, 0, 0},
        {"--text", RG_FLAG_STRING, &o.text, 0, 0, NULL, "training text", 0, 0, 0},
        {"--deterministic-shards", RG_FLAG_INT, &o.micro_shards, 0, 64, NULL, "deterministic mode with this many micro-shards (default 0: off)", 0, 0, 0},
        {"--parallel", RG_FLAG_CHOICE, &o.parallel, 0, 0, "data|blas", "data: a batch shard per thread; blas: threads inside BLAS", 0, 0, 0},
        {"--kernels", RG_FLAG_CHOICE, &o.kernels, 0, 0, "auto|baseline|avx2+fma|avx512|native", "kernel variant (default auto: the best the CPU has, or RG_KERNELS)", 0, 0, 0},
        {"--cell", RG_FLAG_STRING, &o.cell, 0, 0, NULL, "another cell with the config's sizes, e.g. lstm_composed, gru_composed (default: the config's)", 0, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &o.cell_lib, 0, 0, NULL, "a cell plugin (shared object) to load first, e.g. build/examples/cell_plugin.so", 0, 0, 0},
    };
    int status;
    if (!rg_flags_cli("bench_charlm", "usage: bench_charlm [flags]", fl, 9, argc, argv, 1,
                      &status))
        return status;
    /* auto keeps what the library chose at load time (RG_KERNELS may have lowered it) */
    if ((strcmp(o.kernels, "auto") != 0 && rg_cpu_force(o.kernels) != 0) || (o.cell_lib && rg_cell_plugin_load(o.cell_lib) != 0)) {
        fprintf(stderr, "bench_charlm: %s\n", rg_last_error());
        return rg_main_end("bench_charlm", 1);
    }
    const config *c = NULL;
    for (size_t k = 0; k < sizeof CONFIGS / sizeof CONFIGS[0]; ++k)
        if (!strcmp(CONFIGS[k].name, o.config))
            c = &CONFIGS[k];
    if (bench(&o, c) != 0) {
        fprintf(stderr, "bench_charlm: %s\n", rg_last_error());
        status = 1;
    }
    return rg_main_end("bench_charlm", status);
}
