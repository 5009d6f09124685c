/* Training over MPI, through `mpirun -np N charlm train` as a user runs it:
 *   - deterministic mode: 1, 2 and 3 ranks (x 1 or 2 threads) give the same
 *     bits as one process, for LSTM and GRU, with dropout;
 *   - the default mode: 2 ranks equal 1 process within float rounding;
 *   - resume: 2 ranks -> stop -> 1 rank (and 1 -> 3 ranks) equals an
 *     uninterrupted run;
 *   - a rank killed mid-run ends the job within a bounded time with a message,
 *     and the checkpoint on disk loads.
 * Skipped (with a message) when the library was built without MPI or mpirun is
 * missing.  Runs as root need OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM), set here. */
#define _DEFAULT_SOURCE /* usleep */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "retrograd.h"

static char g_dir[256];
static char g_err[1 << 14];

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/rg_mpi_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    /* 2 cores: no busy-polling while a rank waits */
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 1);
    /* Open MPI itself leaks at MPI_Init/MPI_Finalize (in components it has
     * unloaded, so no suppression can name them); the single-process paths of
     * the same code are leak-checked by the other suites */
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
}

static void teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
}

TestSuite(mpi, .init = setup, .fini = teardown, .timeout = 300);

static bool have_mpi(void)
{
    if (!rg_dist_available())
        cr_skip_test("retrograd was built without MPI (-Dmpi)");
    if (system("command -v mpirun > /dev/null 2>&1") != 0)
        cr_skip_test("mpirun is not installed (openmpi-bin)");
    return true;
}

static const char *path(const char *name)
{
    static char buf[8][512];
    static int at;
    at = (at + 1) % 8;
    snprintf(buf[at], sizeof buf[at], "%s/%s", g_dir, name);
    return buf[at];
}

/* "mpirun -np N PROG <args>" (N 0: PROG alone); exit status, stderr in g_err,
 * stdout in the folder's out.txt */
static int run_prog(const char *prog, int ranks, const char *fmt, va_list ap)
{
    const char *bd = getenv("RG_BUILD_DIR");
    char args[2048], cmd[4096], launcher[64] = "";
    vsnprintf(args, sizeof args, fmt, ap);
    if (ranks > 0)
        snprintf(launcher, sizeof launcher, "mpirun -np %d ", ranks);
    snprintf(cmd, sizeof cmd, "timeout 240 %s'%s/examples/%s' %s > '%s/out.txt' 2> '%s/err.txt'",
             launcher, bd ? bd : "build", prog, args, g_dir, g_dir);
    int st = system(cmd);
    FILE *f = fopen(path("err.txt"), "r");
    size_t n = f ? fread(g_err, 1, sizeof g_err - 1, f) : 0;
    g_err[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run(int ranks, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = run_prog("charlm", ranks, fmt, ap);
    va_end(ap);
    return st;
}

static int run_seqclass(int ranks, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = run_prog("seqclass", ranks, fmt, ap);
    va_end(ap);
    return st;
}

/* the first n bytes of the bundled corpus into the folder */
static const char *corpus(size_t n)
{
    const char *sd = getenv("RG_SOURCE_DIR");
    char src[1024];
    snprintf(src, sizeof src, "%s/data/pride_and_prejudice.txt", sd ? sd : ".");
    uint8_t *buf;
    int64_t len;
    cr_assert_eq(rg_file_read_all(src, &buf, &len), 0, "%s", rg_last_error());
    static char text[512];
    snprintf(text, sizeof text, "%s", path("text.txt"));
    FILE *f = fopen(text, "wb");
    cr_assert_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
    free(buf);
    return text;
}

/* the largest |a - b| over every tensor of two checkpoints (0: the same bits) */
static double max_diff(const char *a, const char *b, bool *same_bits)
{
    rg_safetensors *x = rg_safetensors_read(a), *y = rg_safetensors_read(b);
    cr_assert(x && y, "%s", rg_last_error());
    cr_assert_eq(rg_safetensors_count(x), rg_safetensors_count(y));
    double m = 0;
    *same_bits = true;
    for (int i = 0; i < rg_safetensors_count(x); i++) {
        const char *name;
        const rg_tensor *s = rg_safetensors_at(x, i, &name), *t = rg_safetensors_get(y, name);
        cr_assert(t && t->numel == s->numel, "%s: tensor %s", b, name);
        size_t bytes = (size_t)s->numel * rg_dtype_size(s->dtype);
        *same_bits = *same_bits && s->dtype == t->dtype && !memcmp(s->data, t->data, bytes);
        for (int64_t k = 0; k < s->numel; k++) {
            double d = rg_get(s, k) - rg_get(t, k);
            m = d > m ? d : -d > m ? -d : m;
        }
    }
    rg_safetensors_free(x);
    rg_safetensors_free(y);
    return m;
}

static void expect_same_bits(const char *a, const char *b)
{
    bool same;
    double d = max_diff(a, b, &same);
    cr_assert(same, "%s and %s differ (max |diff| %g)", a, b, d);
}

#define SMALL "--hidden 16 --embed 8 --unroll 8 --batch 12 --layers 2 --dropout 0.3 " \
              "--val-fraction 0.1 --eval-every 10 --lr 0.01"

static void deterministic(const char *cell_arg)
{
    if (!have_mpi())
        return;
    const char *text = corpus(12000);
    char cell[1024];
    if (strncmp(cell_arg, "plugin:", 7) == 0) { /* a user's cell from a shared object */
        const char *bd = getenv("RG_BUILD_DIR");
        snprintf(cell, sizeof cell, "%s --cell-lib '%s/examples/cell_plugin.so'", cell_arg + 7,
                 bd ? bd : "build");
    } else {
        snprintf(cell, sizeof cell, "%s", cell_arg);
    }
    const char *cfg = "--deterministic --micro-shards 6 --steps 20 --save-every 7";
    cr_assert_eq(run(0, "train --text '%s' --cell %s " SMALL " %s --threads 1 --save '%s'", text,
                     cell, cfg, path("one.safetensors")), 0, "%s", g_err);
    struct { int ranks, threads; } splits[] = {{2, 1}, {3, 1}, {2, 2}, {0, 2}};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(run(splits[i].ranks, "train --text '%s' --cell %s " SMALL " %s --threads %d "
                         "--save '%s'", text, cell, cfg, splits[i].threads,
                         path("split.safetensors")), 0, "%d x %d: %s", splits[i].ranks,
                     splits[i].threads, g_err);
        expect_same_bits(path("one.safetensors"), path("split.safetensors"));
        expect_same_bits(path("one.train.safetensors"), path("split.train.safetensors"));
    }
}

Test(mpi, deterministic_lstm_is_bit_identical_for_any_split) { deterministic("lstm"); }
Test(mpi, deterministic_gru_is_bit_identical_for_any_split) { deterministic("gru"); }
Test(mpi, deterministic_plugin_cell_is_bit_identical_for_any_split)
{
    deterministic("plugin:ln_lstm");
}

Test(mpi, default_mode_matches_one_process_within_rounding)
{
    if (!have_mpi())
        return;
    const char *text = corpus(12000);
    const char *cfg = "--hidden 16 --embed 8 --unroll 8 --batch 12 --layers 2 --steps 20 "
                      "--lr 0.01 --save-every 0";
    cr_assert_eq(run(0, "train --text '%s' %s --threads 1 --save '%s'", text, cfg,
                     path("one.safetensors")), 0, "%s", g_err);
    /* 2 x 1: the buckets go out during the sweep; 2 x 2 and 3 x 1: after it */
    struct { int ranks, threads; } splits[] = {{2, 1}, {2, 2}, {3, 1}};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(run(splits[i].ranks, "train --text '%s' %s --threads %d --save '%s'", text,
                         cfg, splits[i].threads, path("two.safetensors")), 0, "%s", g_err);
        bool same;
        double d = max_diff(path("one.safetensors"), path("two.safetensors"), &same);
        /* sums in another order: float32 rounding, grown over 20 Adam steps */
        cr_assert_lt(d, 1e-5, "%d x %d differs from 1 process by %g", splits[i].ranks,
                     splits[i].threads, d);
    }
}

Test(mpi, resume_with_another_number_of_ranks)
{
    if (!have_mpi())
        return;
    const char *text = corpus(12000);
    const char *cfg = "--deterministic --steps 20 --save-every 3";
    cr_assert_eq(run(0, "train --text '%s' " SMALL " %s --threads 1 --save '%s'", text, cfg,
                     path("full.safetensors")), 0, "%s", g_err);
    /* 2 ranks, stopped at 10, resumed on 1 process */
    cr_assert_eq(run(2, "train --text '%s' " SMALL " %s --threads 1 --stop-after 10 --save '%s'",
                     text, cfg, path("a.safetensors")), 0, "%s", g_err);
    cr_assert_eq(run(0, "train --resume '%s' --threads 1", path("a.safetensors")), 0, "%s", g_err);
    expect_same_bits(path("full.safetensors"), path("a.safetensors"));
    expect_same_bits(path("full.train.safetensors"), path("a.train.safetensors"));
    /* 1 process, stopped at 7, resumed on 3 ranks */
    cr_assert_eq(run(0, "train --text '%s' " SMALL " %s --threads 1 --stop-after 7 --save '%s'",
                     text, cfg, path("b.safetensors")), 0, "%s", g_err);
    cr_assert_eq(run(3, "train --resume '%s' --threads 1", path("b.safetensors")), 0, "%s", g_err);
    expect_same_bits(path("full.safetensors"), path("b.safetensors"));
}

/* the log's columns but the last (speed) */
static void log_without_speed(const char *file, char *out, size_t cap)
{
    FILE *f = fopen(file, "r");
    cr_assert_not_null(f, "%s", file);
    char line[512];
    size_t at = 0;
    while (fgets(line, sizeof line, f)) {
        char *last = strrchr(line, ',');
        if (last)
            *last = '\0';
        at += (size_t)snprintf(out + at, cap - at, "%s\n", line);
        cr_assert_lt(at, cap);
    }
    fclose(f);
}

/* validation in 4 pieces of held-out text, split over 1, 2 and 3 ranks */
Test(mpi, validation_is_split_and_the_same_for_any_split)
{
    if (!have_mpi())
        return;
    const char *text = corpus(60000);
    const char *cfg = "--hidden 16 --embed 8 --unroll 8 --batch 6 --val-fraction 0.5 --steps 4 "
                      "--eval-every 2 --deterministic --micro-shards 3 --threads 1";
    static char want[4096], got[4096];
    for (int ranks = 0; ranks <= 3; ranks++) {
        if (ranks == 1)
            continue;
        cr_assert_eq(run(ranks, "train --text '%s' %s --log '%s' --save '%s'", text, cfg,
                         path("log.csv"), path("v.safetensors")), 0, "%s", g_err);
        log_without_speed(path("log.csv"), ranks ? got : want, sizeof want);
        const char *row = strstr(want, "\n2,"), *end = row ? strchr(row + 1, '\n') : NULL;
        cr_assert(row && end && end[-1] != ',', "no validation at step 2:\n%s", want);
        if (ranks)
            cr_assert_str_eq(got, want, "%d ranks", ranks);
    }
}

/* seqclass on the novels: 490 validation passages in 2 pieces, their loss and
 * accuracy summed over the ranks; the same line for 1, 2 and 3 ranks */
Test(mpi, seqclass_validation_and_accuracy_are_the_same_for_any_split)
{
    if (!have_mpi())
        return;
    static char want[1024];
    for (int ranks = 0; ranks <= 3; ranks++) {
        if (ranks == 1)
            continue;
        cr_assert_eq(run_seqclass(ranks, "train --hidden 8 --embed 8 --batch 8 --steps 2 "
                                  "--threads 1 --deterministic --micro-shards 4 --save '%s'",
                                  path("sc.safetensors")), 0, "%d ranks: %s", ranks, g_err);
        char out[1 << 14];
        FILE *f = fopen(path("out.txt"), "r");
        cr_assert_not_null(f);
        size_t n = fread(out, 1, sizeof out - 1, f);
        out[n] = '\0';
        fclose(f);
        char *line = strstr(out, "train: steps=2 "), *cut = line ? strstr(line, " texts_per_s") : NULL;
        cr_assert(line && cut && strstr(line, "val_accuracy="), "%d ranks:\n%s", ranks, out);
        *cut = '\0';
        if (ranks == 0)
            snprintf(want, sizeof want, "%s", line);
        else
            cr_assert_str_eq(line, want, "%d ranks", ranks);
    }
}

/* --carry-state: each rank carries its rows' state; a save brings every row
 * to rank 0; a resume on another number of ranks goes on from it */
Test(mpi, carried_state_on_several_ranks)
{
    if (!have_mpi())
        return;
    const char *text = corpus(12000);
    const char *cfg = "--carry-state --deterministic --micro-shards 6 --steps 20 --save-every 7";
    cr_assert_eq(run(0, "train --text '%s' " SMALL " %s --threads 1 --save '%s'", text, cfg,
                     path("one.safetensors")), 0, "%s", g_err);
    cr_assert_eq(run(2, "train --text '%s' " SMALL " %s --threads 1 --save '%s'", text, cfg,
                     path("two.safetensors")), 0, "%s", g_err);
    expect_same_bits(path("one.safetensors"), path("two.safetensors"));
    expect_same_bits(path("one.train.safetensors"), path("two.train.safetensors"));
    /* 2 ranks stopped at 10, resumed on 3 ranks, stopped at once by --stop-after
     * (a save before any step of its own), then on 1 process */
    cr_assert_eq(run(2, "train --text '%s' " SMALL " %s --threads 1 --stop-after 10 --save '%s'",
                     text, cfg, path("a.safetensors")), 0, "%s", g_err);
    cr_assert_eq(run(3, "train --resume '%s' --threads 1 --stop-after 10", path("a.safetensors")),
                 0, "%s", g_err);
    cr_assert_eq(run(3, "train --resume '%s' --threads 1 --stop-after 15", path("a.safetensors")),
                 0, "%s", g_err);
    cr_assert_eq(run(0, "train --resume '%s' --threads 1", path("a.safetensors")), 0, "%s",
                 g_err);
    expect_same_bits(path("one.safetensors"), path("a.safetensors"));
    expect_same_bits(path("one.train.safetensors"), path("a.train.safetensors"));
}

/* the pids of the ranks (children of mpirun) */
static int rank_pids(pid_t mpirun, pid_t *out, int n)
{
    char cmd[128], line[64];
    snprintf(cmd, sizeof cmd, "pgrep -P %d", (int)mpirun);
    FILE *p = popen(cmd, "r");
    int k = 0;
    while (p && k < n && fgets(line, sizeof line, p))
        out[k++] = (pid_t)atoi(line);
    if (p)
        pclose(p);
    return k;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

Test(mpi, a_killed_rank_ends_the_job_and_the_checkpoint_loads)
{
    if (!have_mpi())
        return;
    const char *text = corpus(12000);
    const char *bd = getenv("RG_BUILD_DIR");
    char prog[512];
    snprintf(prog, sizeof prog, "%s/examples/charlm", bd ? bd : "build");
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (!freopen(path("kill.err"), "w", stderr) || !freopen("/dev/null", "w", stdout))
            _exit(99);
        execlp("mpirun", "mpirun", "-np", "2", prog, "train", "--text", text, "--hidden", "32",
               "--embed", "8", "--unroll", "16", "--batch", "8", "--steps", "1000000",
               "--save-every", "5", "--threads", "1", "--save", path("k.safetensors"),
               (char *)NULL);
        _exit(98);
    }
    /* wait for a first checkpoint, then kill one rank */
    for (int i = 0; i < 600 && access(path("k.safetensors"), F_OK) != 0; i++)
        usleep(50000);
    cr_assert_eq(access(path("k.safetensors"), F_OK), 0, "no checkpoint appeared");
    pid_t ranks[4];
    int n = rank_pids(pid, ranks, 4);
    cr_assert_geq(n, 2, "found %d ranks", n);
    kill(ranks[n - 1], SIGKILL);
    double t0 = now_s();
    int st = 0;
    while (waitpid(pid, &st, WNOHANG) == 0 && now_s() - t0 < 60)
        usleep(20000);
    double waited = now_s() - t0;
    if (waited >= 60) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    cr_assert_lt(waited, 60, "the job did not end within 60 s of a rank's death");
    cr_assert(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "the job reported success");
    FILE *f = fopen(path("kill.err"), "r");
    size_t got = f ? fread(g_err, 1, sizeof g_err - 1, f) : 0;
    g_err[got] = '\0';
    if (f)
        fclose(f);
    cr_assert(strstr(g_err, "signal 9") || strstr(g_err, "Killed") || strstr(g_err, "exited"),
              "no message naming the dead rank:\n%s", g_err);
    /* the checkpoint on disk: the model file loads (eval), or the pair resumes */
    cr_assert_eq(run(0, "eval --model '%s' --text '%s'", path("k.safetensors"), text), 0, "%s",
                 g_err);
}
