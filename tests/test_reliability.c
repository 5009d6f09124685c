/* Issue 8's "never lose a run, never trust a bad file", through the training
 * programs as a user runs them (subprocesses of the built binaries, each
 * guarded by an alarm so that nothing can hang the suite):
 *   1 kill -9 during saves, then --resume: exact (a save cut between its
 *     two renames is finished from its temporary file); crafted mixed pairs refused; stale temporaries removed; a second run on one
 *     --save refused by the lock
 *   2 a diverging run keeps its last finite checkpoint; NaN/Inf checkpoints
 *     refused by eval, sample, --init and --resume, naming the tensor
 *   3 every value of a crafted resume file range-checked (never a signal)
 *   4 the save target checked before training; paths of any bytes and length
 *   5 FIFOs, folders and devices refused at once
 *   6 SIGTERM / SIGINT save (143 / 130), then --resume continues exactly
 *   7 write errors (full disk, closed pipe, a file size limit) are errors
 *   8 a run resumes whatever --threads says
 *   9 wordlm: a text of any bytes trains, saves and reloads
 * Each case is written once for a program description; charlm runs them now,
 * wordlm's cases run once `wordlm train --help` lists --resume and
 * --save-every (they skip themselves before). */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* ---- the programs ------------------------------------------------------------ */

typedef struct prog {
    const char *name;  /* binary under examples/ */
    const char *tiny;  /* train flags of a tiny model (no --batch, --threads, --steps) */
    size_t text_bytes; /* of the corpus head it trains on */
} prog;

static const prog CHARLM = {"charlm", "--hidden 8 --embed 4 --unroll 8 --val-fraction 0.1",
                            3000};
static const prog WORDLM = {"wordlm", "--hidden 8 --embed 4 --unroll 8 --vocab-size 200",
                            30000};

/* ---- the temporary folder --------------------------------------------------- */

static char g_dir[256];
static char g_out[1 << 16], g_err[1 << 16];
static char **g_paths; /* the strings tmp made, freed with the folder */
static size_t g_n_paths;

static void make_dir(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/rg_reliability_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
}

static void remove_dir(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", g_dir, g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    for (size_t i = 0; i < g_n_paths; i++)
        free(g_paths[i]);
    free(g_paths);
    g_paths = NULL;
    g_n_paths = 0;
}

TestSuite(reliability, .init = make_dir, .fini = remove_dir, .timeout = 120);

/* g_dir/name (valid until the test ends) */
static const char *tmp(const char *name)
{
    size_t n = strlen(g_dir) + strlen(name) + 2;
    char *s = malloc(n);
    char **grown = realloc(g_paths, (g_n_paths + 1) * sizeof *grown);
    cr_assert(s && grown);
    g_paths = grown;
    g_paths[g_n_paths++] = s;
    snprintf(s, n, "%s/%s", g_dir, name);
    return s;
}

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
    cr_assert_not_null(f, "cannot write %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* the whole file (malloc'ed, *n bytes), or NULL when it does not exist */
static char *read_whole(const char *path, size_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *n = len;
    return buf;
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    char *b = read_whole(from, &n);
    cr_assert_not_null(b, "cannot read %s", from);
    write_file(to, b, n);
    free(b);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* the first n bytes of the bundled corpus at path */
static void corpus_to(const char *path, size_t n)
{
    char src[1024];
    const char *sd = getenv("RG_SOURCE_DIR");
    snprintf(src, sizeof src, "%s/data/pride_and_prejudice.txt", sd ? sd : ".");
    char *buf = malloc(n);
    FILE *f = fopen(src, "rb");
    cr_assert_not_null(f, "cannot read %s", src);
    cr_assert_eq(fread(buf, 1, n, f), n);
    fclose(f);
    write_file(path, buf, n);
    free(buf);
}

static const char *corpus(const prog *p, const char *name)
{
    const char *path = tmp(name);
    corpus_to(path, p->text_bytes);
    return path;
}

/* files of g_dir whose name contains ".tmp-" */
static int count_temps(void)
{
    DIR *d = opendir(g_dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".tmp-") != NULL;
    closedir(d);
    return n;
}

/* ---- running a program ------------------------------------------------------- */

/* An argument vector: words split on spaces, then single arguments (any bytes). */
typedef struct args {
    char *v[128];
    int n;
    char buf[8192];
    size_t used;
} args;

static void args_add(args *a, const char *s)
{
    size_t len = strlen(s) + 1;
    cr_assert(a->n < 127 && a->used + len <= sizeof a->buf, "too many arguments");
    memcpy(a->buf + a->used, s, len);
    a->v[a->n++] = a->buf + a->used;
    a->v[a->n] = NULL;
    a->used += len;
}

static void args_words(args *a, const char *words)
{
    char w[1024];
    for (const char *p = words; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (!n)
            break;
        cr_assert_lt(n, sizeof w);
        memcpy(w, p, n);
        w[n] = '\0';
        args_add(a, w);
        p += n;
    }
}

/* how a run is started: where its output goes, its folder, its limits */
typedef struct spawn_opts {
    const char *out, *err; /* files (NULL: g_dir/out.txt, err.txt) */
    int out_fd;            /* > 0: this descriptor as stdout instead of out */
    const char *cwd;
    long fsize;            /* RLIMIT_FSIZE in bytes; 0: none */
    bool nobody;           /* run as user nobody when the tests run as root */
    unsigned timeout;      /* seconds before SIGALRM ends it; 0: 60 */
} spawn_opts;

static pid_t spawn_args(const prog *p, const spawn_opts *o, args *a)
{
    /* absolute: a run may start in another folder */
    static char bd[1024];
    if (!bd[0])
        cr_assert_not_null(realpath(getenv("RG_BUILD_DIR") ? getenv("RG_BUILD_DIR") : "build",
                                    bd), "no build folder (RG_BUILD_DIR)");
    char path[2048];
    snprintf(path, sizeof path, "%s/examples/%s", bd, p->name);
    a->v[0] = path;
    char out[1024], err[1024];
    snprintf(out, sizeof out, "%s", o->out ? o->out : tmp("out.txt"));
    snprintf(err, sizeof err, "%s", o->err ? o->err : tmp("err.txt"));
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int fo = o->out_fd > 0 ? o->out_fd : open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || fo < 0 || fe < 0 || dup2(in, 0) < 0 || dup2(fo, 1) < 0 ||
            dup2(fe, 2) < 0)
            _exit(120);
        if (o->cwd && chdir(o->cwd) != 0)
            _exit(121);
        if (o->nobody && geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(123);
        if (o->fsize > 0) {
            struct rlimit rl = {(rlim_t)o->fsize, (rlim_t)o->fsize};
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
                _exit(122);
        }
        /* the default dispositions a shell gives a program */
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        alarm(o->timeout ? o->timeout : 30); /* survives exec: a hang ends in SIGALRM */
        execv(path, a->v);
        _exit(127);
    }
    return pid;
}

/* The status of a finished child: its exit code, or 1000 + the signal that
 * killed it (so that "exited 143" and "killed by SIGTERM" differ). */
static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

/* In the sanitizer build the programs are sanitized too: a report on stderr
 * fails the test even when the exit status looks right (a leak on an error path). */
static void no_sanitizer_report(void)
{
    cr_assert(!strstr(g_err, "Sanitizer") && !strstr(g_err, "runtime error:"),
              "a sanitizer report:\n%s", g_err);
}

static void read_outputs(const spawn_opts *o)
{
    if (o->out_fd <= 0 && (!o->out || strncmp(o->out, "/dev/", 5)))
        slurp(o->out ? o->out : tmp("out.txt"), g_out, sizeof g_out);
    else
        g_out[0] = '\0';
    slurp(o->err ? o->err : tmp("err.txt"), g_err, sizeof g_err);
    no_sanitizer_report();
}

static int vrun(const prog *p, const spawn_opts *o, const char *words, va_list ap)
{
    static args a;
    memset(&a, 0, sizeof a);
    args_add(&a, p->name);
    args_words(&a, words);
    for (const char *s; (s = va_arg(ap, const char *));)
        args_add(&a, s);
    int st = wait_status(spawn_args(p, o, &a));
    read_outputs(o);
    return st;
}

/* Runs "<prog> <words> <args...>" (NULL-terminated) to its end; the status
 * (wait_status), stdout in g_out, stderr in g_err. */
static int run(const prog *p, const char *words, ...)
{
    spawn_opts o = {0};
    va_list ap;
    va_start(ap, words);
    int st = vrun(p, &o, words, ap);
    va_end(ap);
    return st;
}

static int run_with(const prog *p, const spawn_opts *o, const char *words, ...)
{
    va_list ap;
    va_start(ap, words);
    int st = vrun(p, o, words, ap);
    va_end(ap);
    return st;
}

/* Starts "<prog> <words> <args...>" in the background, output in g_dir/bg.out
 * and bg.err. */
static pid_t start(const prog *p, const char *words, ...)
{
    static args a;
    memset(&a, 0, sizeof a);
    args_add(&a, p->name);
    args_words(&a, words);
    va_list ap;
    va_start(ap, words);
    for (const char *s; (s = va_arg(ap, const char *));)
        args_add(&a, s);
    va_end(ap);
    spawn_opts o = {.out = tmp("bg.out"), .err = tmp("bg.err")};
    return spawn_args(p, &o, &a);
}

static int finish_bg(pid_t pid)
{
    int st = wait_status(pid);
    slurp(tmp("bg.out"), g_out, sizeof g_out);
    slurp(tmp("bg.err"), g_err, sizeof g_err);
    no_sanitizer_report();
    return st;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Waits (at most 20 s) until the file holds needle. */
static void wait_for_text(const char *path, const char *needle)
{
    static char buf[1 << 16];
    for (double t0 = now_s(); now_s() - t0 < 20; sleep_us(2000)) {
        slurp(path, buf, sizeof buf);
        if (strstr(buf, needle))
            return;
    }
    cr_assert_fail("'%s' never appeared in %s:\n%s", needle, path, buf);
}

/* A refusal: a normal exit in [1, 127] (never a signal) whose message holds needle. */
static void expect_refused(int st, const char *needle, const char *what)
{
    cr_assert(st < 1000, "%s: killed by signal %d\n%s", what, st - 1000, g_err);
    cr_assert(st >= 1 && st < 128, "%s: exit %d, expected a refusal naming '%s'\nout:\n%s\n"
              "err:\n%s", what, st, needle, g_out, g_err);
    if (getenv("RG_TEST_MESSAGES")) /* to review the wording of every refusal */
        fprintf(stderr, "[%s] %d: %s", what, st, g_err);
    /* needle: alternatives separated by '|' */
    bool found = false;
    for (const char *a = needle; *a && !found;) {
        size_t n = strcspn(a, "|");
        char one[256];
        snprintf(one, sizeof one, "%.*s", (int)n, a);
        found = strstr(g_err, one) != NULL;
        a += n + (a[n] == '|');
    }
    cr_assert(found, "%s: expected '%s' in the message:\n%s", what, needle, g_err);
}

static void expect_ok(int st, const char *what)
{
    cr_assert_eq(st, 0, "%s: status %d\nout:\n%s\nerr:\n%s", what, st, g_out, g_err);
}

/* The program is on the training core (its train lists --resume and
 * --save-every); otherwise the test skips itself: wordlm's port is under way. */
static void need_core(const prog *p)
{
    if (run(p, "train --help", NULL) != 0 || !strstr(g_out, "--resume") ||
        !strstr(g_out, "--save-every"))
        cr_skip_test("%s train is not on the training core yet (no --resume / --save-every)",
                     p->name);
}

/* "train <tiny> --batch 4 --threads 1 <extra>" */
static const char *train_words(const prog *p, const char *extra)
{
    static char buf[4][4096];
    static int at;
    at = (at + 1) % 4;
    snprintf(buf[at], sizeof buf[at], "train %s --batch 4 --threads 1 %s", p->tiny, extra);
    return buf[at];
}

/* "train --threads 1 <extra>": what a resumed run may be given */
static const char *resume_words(const char *extra)
{
    static char buf[4][512];
    static int at;
    at = (at + 1) % 4;
    snprintf(buf[at], sizeof buf[at], "train --threads 1 %s", extra);
    return buf[at];
}

/* ---- checkpoint files ------------------------------------------------------- */

static rg_safetensors *st_read(const char *path)
{
    rg_safetensors *st = rg_safetensors_read(path);
    cr_assert_not_null(st, "%s", rg_last_error());
    return st;
}

/* What rewrite changes in a copy of a checkpoint. */
typedef struct edit {
    const char *key, *value; /* metadata */
    bool set_elem;
    const char *tname;       /* NULL: the first tensor */
    int64_t idx;
    double v;
    const char *drop;        /* a tensor left out */
    const char *reshape;     /* a tensor written flat with one element fewer */
} edit;

/* The file at src written to dst with e's changes: metadata key set to value
 * (NULL: removed), element idx of tensor tname (NULL: the first) set to v when
 * set_elem, a tensor dropped or reshaped. */
static void rewrite(const char *src, const char *dst, const edit *e)
{
    rg_safetensors *in = st_read(src), *out = rg_safetensors_new();
    cr_assert_not_null(out);
    bool done_elem = !e->set_elem;
    for (int i = 0; i < rg_safetensors_count(in); i++) {
        const char *name;
        const rg_tensor *t = rg_safetensors_at(in, i, &name);
        if (e->drop && !strcmp(name, e->drop))
            continue;
        size_t es = t->dtype == RG_F64 ? 8 : 4;
        void *data = malloc((size_t)t->numel * es + 8);
        memcpy(data, t->data, (size_t)t->numel * es);
        if (e->set_elem && !done_elem && (!e->tname || !strcmp(name, e->tname))) {
            cr_assert_lt(e->idx, t->numel);
            if (t->dtype == RG_F64)
                ((double *)data)[e->idx] = e->v;
            else
                ((float *)data)[e->idx] = (float)e->v;
            done_elem = true;
        }
        int64_t flat = t->numel - 1;
        int rc = e->reshape && !strcmp(name, e->reshape)
                     ? rg_safetensors_add_data(out, name, t->dtype, 1, &flat, data)
                     : rg_safetensors_add_data(out, name, t->dtype, t->rank, t->shape, data);
        cr_assert_eq(rc, 0, "%s", rg_last_error());
        free(data);
    }
    cr_assert(done_elem, "no tensor %s in %s", e->tname ? e->tname : "", src);
    bool key_seen = false;
    for (int i = 0; i < rg_safetensors_meta_count(in); i++) {
        const char *key;
        const char *v = rg_safetensors_meta_at(in, i, &key);
        if (e->key && !strcmp(key, e->key)) {
            key_seen = true;
            if (!e->value)
                continue;
            v = e->value;
        }
        cr_assert_eq(rg_safetensors_set_meta(out, key, v), 0, "%s", rg_last_error());
    }
    if (e->key && e->value && !key_seen)
        cr_assert_eq(rg_safetensors_set_meta(out, e->key, e->value), 0);
    cr_assert_eq(rg_safetensors_write(out, dst, RG_F32), 0, "%s", rg_last_error());
    rg_safetensors_free(in);
    rg_safetensors_free(out);
}

/* metadata key of the file (a copy in a ring of buffers), or NULL */
static const char *meta(const char *path, const char *key)
{
    static char buf[4][4096];
    static int at;
    rg_safetensors *st = rg_safetensors_read_header(path);
    cr_assert_not_null(st, "%s", rg_last_error());
    const char *v = rg_safetensors_get_meta(st, key);
    char *out = NULL;
    if (v) {
        at = (at + 1) % 4;
        snprintf(buf[at], sizeof buf[at], "%s", v);
        out = buf[at];
    }
    rg_safetensors_free(st);
    return out;
}

static long long meta_int(const char *path, const char *key)
{
    const char *v = meta(path, key);
    cr_assert_not_null(v, "%s: no metadata %s", path, key);
    return atoll(v);
}

/* Every tensor of a equals the tensor of b of the same name, bit for bit
 * (rtol 0), or within rtol; metadata ignored. */
static void compare_tensors(const char *a_path, const char *b_path, double rtol)
{
    rg_safetensors *a = st_read(a_path), *b = st_read(b_path);
    cr_assert_eq(rg_safetensors_count(a), rg_safetensors_count(b), "%s and %s", a_path,
                 b_path);
    for (int i = 0; i < rg_safetensors_count(a); i++) {
        const char *name;
        const rg_tensor *x = rg_safetensors_at(a, i, &name);
        const rg_tensor *y = rg_safetensors_get(b, name);
        cr_assert_not_null(y, "tensor %s of %s missing from %s", name, a_path, b_path);
        cr_assert_eq(x->numel, y->numel, "%s", name);
        cr_assert_eq(x->dtype, y->dtype, "%s", name);
        if (rtol == 0) {
            size_t es = x->dtype == RG_F64 ? 8 : 4;
            for (int64_t k = 0; k < x->numel; k++)
                cr_assert(!memcmp((const char *)x->data + k * (int64_t)es,
                                  (const char *)y->data + k * (int64_t)es, es),
                          "%s vs %s: tensor %s element %lld: %.9g vs %.9g", a_path, b_path,
                          name, (long long)k, rg_get(x, k), rg_get(y, k));
        } else {
            rg_cmp c = rg_test_compare(x, y, 1e-6, rtol);
            cr_assert(c.pass, "%s vs %s: tensor %s element %lld: %.9g vs %.9g", a_path,
                      b_path, name, (long long)c.worst, c.got_v, c.want_v);
        }
    }
    rg_safetensors_free(a);
    rg_safetensors_free(b);
}

static void expect_finite(const char *path)
{
    rg_safetensors *st = st_read(path);
    for (int i = 0; i < rg_safetensors_count(st); i++) {
        const char *name;
        const rg_tensor *t = rg_safetensors_at(st, i, &name);
        cr_assert_eq(rg_tensor_find_nonfinite(t), -1, "%s: tensor %s is not finite", path,
                     name);
    }
    rg_safetensors_free(st);
}

static const char *first_tensor(const char *path)
{
    static char name_buf[256];
    rg_safetensors *st = st_read(path);
    const char *name;
    cr_assert_gt(rg_safetensors_count(st), 0);
    rg_safetensors_at(st, 0, &name);
    snprintf(name_buf, sizeof name_buf, "%s", name);
    rg_safetensors_free(st);
    return name_buf;
}

static void expect_same_bytes(const char *a, const char *b)
{
    size_t na, nb;
    char *x = read_whole(a, &na), *y = read_whole(b, &nb);
    cr_assert(x && y, "%s or %s is missing", a, b);
    cr_assert(na == nb && !memcmp(x, y, na), "%s changed (it should be %s)", a, b);
    free(x);
    free(y);
}

/* "model.safetensors" -> "model.train.safetensors" */
static const char *train_of(const char *model)
{
    static char buf[4][2048];
    static int at;
    at = (at + 1) % 4;
    size_t n = strlen(model);
    cr_assert(n > 12 && !strcmp(model + n - 12, ".safetensors"));
    snprintf(buf[at], sizeof buf[at], "%.*s.train.safetensors", (int)(n - 12), model);
    return buf[at];
}

/* a checkpoint pair of a stopped run: cfg to --steps 10, stopped at 4 */
static void stopped_pair(const prog *p, const char *cfg, const char *text, const char *save)
{
    char words[1024];
    snprintf(words, sizeof words, "%s --steps 10 --stop-after 4", cfg);
    expect_ok(run(p, train_words(p, words), "--text", text, "--save", save, NULL), "stopped run");
    cr_assert_eq(meta_int(save, "step"), 4);
}

/* ---- 1. kill -9 during saves -------------------------------------------------- */

/* A run killed at random moments (mostly inside its saves: it saves after every
 * step), resumed and killed again, then resumed to its end: each resume is
 * refused with a message (a mixed pair, or nothing saved yet) or ends with
 * exactly the weights and optimizer state of an uninterrupted run, and leaves
 * no temporary file.  Bounded: at least 4 rounds, at most 14 or 3 s. */
static void kill_during_saves(const prog *p)
{
    const char *text = corpus(p, "k.txt");
    const char *cfg = "--layers 2 --dropout 0.1 --carry-state --optimizer adam --lr 0.01 "
                      "--seed 5 --steps 120";
    char words[1024];
    snprintf(words, sizeof words, "%s --save-every 1", cfg);
    const char *fresh = train_words(p, words);
    /* the uninterrupted run, timed: the kills fall anywhere inside its length */
    double t_run = now_s();
    expect_ok(run(p, fresh, "--text", text, "--save", tmp("ref.safetensors"), NULL),
              "uninterrupted run");
    long run_us = (long)(1e6 * (now_s() - t_run));
    const char *resume = resume_words("--save-every 1");
    const char *model = tmp("k.safetensors");
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    int exact = 0, refused = 0, none = 0, temps_seen = 0, rounds = 0;
    char history[4096] = "";
    size_t hl = 0;
    for (double t0 = now_s(); rounds < 4 || (rounds < 14 && now_s() - t0 < 3); rounds++) {
        unlink(model);
        unlink(train_of(model));
        int kills = 1 + rand() % 3;
        for (int k = 0; k < kills; k++) {
            pid_t pid = k == 0 ? start(p, fresh, "--text", text, "--save", model, NULL)
                               : start(p, resume, "--resume", model, NULL);
            long delay;
            if (k == 0 && rounds % 2 == 0) {
                /* after the first save: a kill inside a later one */
                for (double t1 = now_s(); !exists(model) && now_s() - t1 < 10;)
                    sleep_us(200);
                delay = rand() % (run_us / 5 + 1);
            } else {
                delay = 500 + rand() % (run_us / 2 + 1); /* anywhere, start-up included */
            }
            sleep_us(delay);
            kill(pid, SIGKILL);
            int st = finish_bg(pid);
            if (hl + 64 < sizeof history)
                hl += (size_t)snprintf(history + hl, sizeof history - hl, "r%d k%d %ldus st%d; ",
                                       rounds, k, delay, st);
            if (st != 1000 + SIGKILL)
                break; /* it ended on its own first (a refusal is checked below) */
        }
        temps_seen += count_temps() > 0;
        int st = run(p, resume_words(""), "--resume", model, NULL);
        if (st != 0 && strstr(g_err, "already at step"))
            st = 0; /* the killed run had ended on its own: its result is checked too */
        if (st == 0) {
            compare_tensors(model, tmp("ref.safetensors"), 0);
            compare_tensors(train_of(model), tmp("ref.train.safetensors"), 0);
            cr_assert_eq(count_temps(), 0, "temporary files of killed saves were left");
            exact++;
        } else if (!exists(model) || !exists(train_of(model))) {
            /* killed before its first save was complete */
            expect_refused(st, "cannot open", "resume with nothing saved");
            none++;
        } else {
            /* a kill between a save's two renames leaves a mixed pair, which
             * --resume finishes from the save's complete temporary file: it is
             * never refused */
            cr_assert_fail("%s: round %d: the resume was refused (exit %d): %s\nkills: %s",
                           p->name, rounds, st, g_err, history);
            refused++;
        }
    }
    cr_log_info("%s: %d rounds in %ld us runs (seed %u): %d exact, %d mixed pairs refused, %d killed before "
                "a save, %d with temporaries left by a kill", p->name, rounds, run_us, seed, exact,
                refused, none, temps_seen);
    /* Not vacuous: some kill fell after a save began. */
    cr_assert_geq(exact + refused, 1, "no kill fell after a save (seed %u): %s", seed, history);
}

/* A pair whose files come from different steps or different runs is refused. */
static void mixed_pairs(const prog *p)
{
    const char *text = corpus(p, "m.txt");
    const char *a = tmp("a.safetensors"), *b = tmp("b.safetensors");
    stopped_pair(p, "--seed 2", text, a);
    stopped_pair(p, "--seed 2", text, b); /* the same settings, another run */
    copy_file(a, tmp("a4.safetensors"));
    copy_file(train_of(a), tmp("a4.train.safetensors"));
    expect_ok(run(p, resume_words("--stop-after 6"), "--resume", a, NULL), "resume to 6");
    cr_assert_eq(meta_int(a, "step"), 6);
    /* the model of step 4 with the resume file of step 6 */
    const char *x = tmp("x.safetensors");
    copy_file(tmp("a4.safetensors"), x);
    copy_file(train_of(a), train_of(x));
    expect_refused(run(p, resume_words(""), "--resume", x, NULL), "not one checkpoint",
                   "steps 4 and 6");
    cr_assert(strstr(g_err, "different steps"), "%s", g_err);
    /* and the reverse */
    copy_file(a, x);
    copy_file(tmp("a4.train.safetensors"), train_of(x));
    expect_refused(run(p, resume_words(""), "--resume", x, NULL), "not one checkpoint",
                   "steps 6 and 4");
    /* two runs at the same step */
    copy_file(b, x);
    copy_file(tmp("a4.train.safetensors"), train_of(x));
    expect_refused(run(p, resume_words(""), "--resume", x, NULL), "not one checkpoint",
                   "two runs");
    cr_assert(strstr(g_err, "different runs"), "%s", g_err);
    /* the pair of step 4 itself still resumes */
    copy_file(tmp("a4.safetensors"), x);
    copy_file(tmp("a4.train.safetensors"), train_of(x));
    expect_ok(run(p, resume_words(""), "--resume", x, NULL), "the consistent pair");
    expect_ok(run(p, resume_words(""), "--resume", a, NULL), "the run to its end");
    compare_tensors(x, a, 0);
    expect_refused(run(p, resume_words("--steps 3"), "--resume", a, NULL), "already at step",
                   "--steps below the saved step");
}

/* A save killed between its two renames: the resume file of step 6 beside the
 * model of step 4, the model of step 6 still in its temporary file.  --resume
 * finishes that save (renames the complete temporary into place) and the run
 * goes on exactly; the reverse order (the model renamed, the resume file not)
 * likewise.  A temporary of another step or a truncated one is not used. */
static void cut_save_finished(const prog *p)
{
    const char *text = corpus(p, "c.txt");
    const char *a = tmp("ca.safetensors"), *x = tmp("cx.safetensors");
    stopped_pair(p, "--seed 3", text, a);
    copy_file(a, tmp("ca4.safetensors"));
    copy_file(train_of(a), tmp("ca4.train.safetensors"));
    expect_ok(run(p, resume_words("--stop-after 6"), "--resume", a, NULL), "resume to 6");
    /* the model renamed last: the new model in "<x>.tmp-XXXXXX" */
    copy_file(tmp("ca4.safetensors"), x);
    copy_file(train_of(a), train_of(x));
    copy_file(tmp("ca4.safetensors"), tmp("cx.safetensors.tmp-Old004")); /* another step */
    write_file(tmp("cx.safetensors.tmp-Half06"), "truncated", 9);
    copy_file(a, tmp("cx.safetensors.tmp-New006"));
    expect_ok(run(p, resume_words(""), "--resume", x, NULL), "a save cut after its first rename");
    expect_ok(run(p, resume_words(""), "--resume", a, NULL), "the uncut run");
    compare_tensors(x, a, 0);
    compare_tensors(train_of(x), train_of(a), 0);
    /* the resume file renamed last: another run of the same settings, cut at 6 */
    const char *b = tmp("cb.safetensors"), *y = tmp("cy.safetensors");
    stopped_pair(p, "--seed 3", text, b);
    copy_file(train_of(b), tmp("cb4.train.safetensors"));
    expect_ok(run(p, resume_words("--stop-after 6"), "--resume", b, NULL), "resume b to 6");
    copy_file(b, y);
    copy_file(tmp("cb4.train.safetensors"), train_of(y));
    copy_file(train_of(b), tmp("cy.train.safetensors.tmp-New006"));
    expect_ok(run(p, resume_words(""), "--resume", y, NULL), "a save cut the other way");
    compare_tensors(y, a, 0);
}

/* What a killed save leaves ("<file>.tmp-XXXXXX" beside either file) is
 * removed by the next save to that path; other files are not touched. */
static void stale_temps(const prog *p)
{
    const char *text = corpus(p, "s.txt");
    const char *save = tmp("s.safetensors");
    stopped_pair(p, "", text, save);
    const char *stale[] = {"s.safetensors.tmp-a1B2c3", "s.train.safetensors.tmp-XyZ789"};
    const char *keep[] = {"s.safetensors.tmp-toolong", "other.safetensors.tmp-a1B2c3",
                          "s.safetensors.bak"};
    for (int i = 0; i < 2; i++)
        write_file(tmp(stale[i]), "half a file", 11);
    for (int i = 0; i < 3; i++)
        write_file(tmp(keep[i]), "not ours", 8);
    expect_ok(run(p, resume_words("--stop-after 5"), "--resume", save, NULL), "resume");
    for (int i = 0; i < 2; i++)
        cr_assert(!exists(tmp(stale[i])), "%s was not removed by the save", stale[i]);
    for (int i = 0; i < 3; i++)
        cr_assert(exists(tmp(keep[i])), "%s was removed", keep[i]);
}

/* A second run on the --save of a running one is refused (the lock), under any
 * spelling of the path; the lock dies with its run, even with kill -9. */
static void second_run_refused(const prog *p)
{
    const char *text = corpus(p, "l.txt");
    const char *save = tmp("l.safetensors");
    pid_t pid = start(p, train_words(p, "--steps 100000000 --save-every 0"), "--text", text,
                      "--save", save, NULL);
    wait_for_text(tmp("bg.out"), " threads");
    expect_refused(run(p, train_words(p, "--steps 5"), "--text", text, "--save", save, NULL),
                   "another run", "a second run on the same --save");
    char other[1024];
    snprintf(other, sizeof other, "%s/./l.safetensors", g_dir);
    expect_refused(run(p, train_words(p, "--steps 5"), "--text", text, "--save", other, NULL),
                   "another run", "the same --save spelled differently");
    cr_assert(!exists(save), "the refused runs wrote %s", save);
    kill(pid, SIGKILL);
    cr_assert_eq(finish_bg(pid), 1000 + SIGKILL);
    /* a run that has saved: resuming it while it trains is refused too */
    pid = start(p, train_words(p, "--steps 100000000 --save-every 20"), "--text", text,
                "--save", save, NULL);
    for (double t0 = now_s(); !exists(save) && now_s() - t0 < 20;)
        sleep_us(1000);
    cr_assert(exists(save), "no checkpoint after 20 s");
    expect_refused(run(p, resume_words(""), "--resume", save, NULL),
                   "another run|not one checkpoint", "--resume of a running run");
    kill(pid, SIGKILL);
    cr_assert_eq(finish_bg(pid), 1000 + SIGKILL);
    expect_ok(run(p, train_words(p, "--steps 3"), "--text", text, "--save", save, NULL),
              "a run after the first was killed");
}

/* ---- 2. non-finite numbers ----------------------------------------------------- */

static void diverging_runs(const prog *p)
{
    const char *text = corpus(p, "d.txt");
    const char *save = tmp("d.safetensors");
    /* a finished run's checkpoint, then a run on the same path that diverges at once */
    expect_ok(run(p, train_words(p, "--steps 3"), "--text", text, "--save", save, NULL),
              "a good run");
    copy_file(save, tmp("good.safetensors"));
    copy_file(train_of(save), tmp("good.train.safetensors"));
    int st = run(p, train_words(p, "--steps 20 --save-every 1 --optimizer sgd --lr 1e300 "
                                   "--clip 0"), "--text", text, "--save", save, NULL);
    expect_refused(st, "diverged", "lr 1e300");
    cr_assert(strstr(g_err, "step 1:"), "the step is not named: %s", g_err);
    cr_assert(strstr(g_err, "nothing was saved"), "%s", g_err);
    expect_same_bytes(save, tmp("good.safetensors"));
    expect_same_bytes(train_of(save), tmp("good.train.safetensors"));
    cr_assert_eq(count_temps(), 0);
    /* runs that diverge after some saves keep the last finite one */
    const char *lrs[] = {"1e30", "1e33", "1e36", "1e38"};
    int later = 0;
    for (int i = 0; i < 4; i++) {
        char words[256];
        snprintf(words, sizeof words, "--steps 30 --save-every 1 --optimizer sgd --clip 0 "
                 "--seed 3 --lr %s", lrs[i]);
        unlink(save);
        unlink(train_of(save));
        st = run(p, train_words(p, words), "--text", text, "--save", save, NULL);
        if (st == 0)
            continue;
        expect_refused(st, "diverged", lrs[i]);
        const char *at = strstr(g_err, "step ");
        cr_assert_not_null(at, "%s", g_err);
        long bad = strtol(at + 5, NULL, 10);
        const char *kept = strstr(g_err, "the last checkpoint (step ");
        if (!kept) {
            cr_assert(strstr(g_err, "nothing was saved"), "%s", g_err);
            cr_assert(!exists(save), "a checkpoint was written by a run that saved nothing");
            continue;
        }
        long k = strtol(kept + strlen("the last checkpoint (step "), NULL, 10);
        cr_assert(k >= 1 && k < bad, "kept step %ld, diverged at %ld: %s", k, bad, g_err);
        cr_assert_eq(meta_int(save, "step"), k);
        cr_assert_eq(meta_int(train_of(save), "step"), k);
        expect_finite(save);
        expect_finite(train_of(save));
        cr_assert_eq(count_temps(), 0);
        later++;
    }
    cr_assert_geq(later, 1, "no learning rate diverged after a save");
}

/* eval, sample, --init and --resume refuse a checkpoint holding NaN or Inf and
 * name the tensor. */
static void nonfinite_checkpoints(const prog *p)
{
    const char *text = corpus(p, "n.txt");
    const char *good = tmp("g.safetensors");
    stopped_pair(p, "", text, good);
    const char *tname = first_tensor(good);
    static char name[256];
    snprintf(name, sizeof name, "%s", tname);
    const char *nan_m = tmp("nan.safetensors"), *inf_m = tmp("inf.safetensors");
    rewrite(good, nan_m, &(edit){.set_elem = true, .idx = 1, .v = NAN});
    rewrite(good, inf_m, &(edit){.set_elem = true, .idx = 0, .v = -INFINITY});
    copy_file(train_of(good), train_of(nan_m));
    copy_file(train_of(good), train_of(inf_m));
    const char *bad[] = {nan_m, inf_m};
    for (int i = 0; i < 2; i++) {
        expect_refused(run(p, "eval", "--model", bad[i], "--text", text, NULL), name, "eval");
        expect_refused(run(p, "sample --length 5", "--model", bad[i], NULL), name, "sample");
        expect_refused(run(p, train_words(p, "--steps 2"), "--init", bad[i], "--text", text,
                           "--save", tmp("o.safetensors"), NULL), name, "--init");
        expect_refused(run(p, resume_words(""), "--resume", bad[i], NULL), name, "--resume");
        cr_assert(!exists(tmp("o.safetensors")));
    }
    /* NaN in the optimizer's state of the resume file */
    rg_safetensors *ts = st_read(train_of(good));
    const char *oname;
    cr_assert_gt(rg_safetensors_count(ts), 0);
    rg_safetensors_at(ts, 0, &oname);
    snprintf(name, sizeof name, "%s", oname);
    rg_safetensors_free(ts);
    const char *x = tmp("x.safetensors");
    copy_file(good, x);
    rewrite(train_of(good), train_of(x), &(edit){.set_elem = true, .tname = name, .v = NAN});
    expect_refused(run(p, resume_words(""), "--resume", x, NULL), name, "NaN optimizer state");
    expect_same_bytes(x, good);
}

/* ---- 3. crafted resume files ---------------------------------------------------- */

typedef struct crafted {
    const char *key, *value; /* metadata of the resume file (value NULL: removed) */
    const char *needle;      /* in the message */
} crafted;

static void crafted_resume_files(const prog *p)
{
    const char *text = corpus(p, "c.txt");
    const char *good = tmp("g.safetensors");
    stopped_pair(p, "--carry-state --layers 2 --dropout 0.1", text, good);
    const char *c = tmp("c.safetensors");
    /* the control: an unchanged copy resumes */
    copy_file(good, c);
    copy_file(train_of(good), train_of(c));
    expect_ok(run(p, resume_words(""), "--resume", c, NULL), "an unchanged copy");
    /* a carry position just outside the training text's streams */
    long long streams = (long long)(p->text_bytes - (size_t)floor(0.1 * (double)p->text_bytes))
                        / 4;
    char past[32];
    snprintf(past, sizeof past, "%lld", streams + 1);
    char fifo[1024], fifo_esc[1200];
    snprintf(fifo, sizeof fifo, "%s/fifo", g_dir);
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    snprintf(fifo_esc, sizeof fifo_esc, "%s", fifo);
    const crafted cases[] = {
        {"batch", "0", "--batch 0 is out of range"},
        {"batch", "-4", "--batch"},
        {"batch", "99999999999999999999", "--batch expects an integer"},
        {"unroll", "-1", "--unroll -1 is out of range"},
        {"unroll", "8x", "--unroll expects an integer"},
        {"dropout", "2", "--dropout 2 is out of range"},
        {"dropout", "-0.5", "--dropout"},
        {"clip", "nan", "--clip expects a finite number"},
        {"clip", "-1", "--clip"},
        {"lr", "inf", "--lr expects a finite number"},
        {"lr", "1e400", "--lr expects a finite number"},
        {"lr", "", "--lr"},
        {"lr", NULL, "'lr'"},
        {"optimizer", "rmsprop", "--optimizer"},
        {"schedule", "linear", "--schedule"},
        {"warmup", "-1", "--warmup"},
        {"seed", "-3", "--seed"},
        {"weight-decay", "-1", "--weight-decay"},
        {"val-fraction", "0.95", "--val-fraction"},
        {"carry-state", "2", "--carry-state"},
        {"carry_pos", past, "carry_pos"},
        {"carry_pos", "-1", "carry_pos"},
        {"carry_pos", "9223372036854775807", "carry_pos"},
        {"step", "-5", "step"},
        {"step", "3", "not one checkpoint"},
        {"step", "4.5", "step"},
        {"total_steps", "99999999999999999999", "total_steps"},
        {"total_steps", "1e300", "total_steps"},
        {"total_steps", "10000000000000", "total_steps"},
        {"total_steps", "0", "total_steps"},
        {"rng_batch", "xyz", "rng_batch"},
        {"rng_batch", "0000000000000000000000000000000000000000000000000000000000000000",
         "rng_batch"},
        {"rng_dropout", "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
         "rng_dropout"},
        {"rng_dropout", NULL, "rng_dropout"},
        {"run_id", "0123456789abcdef", "not one checkpoint"},
        {"run_id", "0123456789abcdeX", "run_id"},
        {"run_id", NULL, "run_id"},
        {"format", "retrograd train 1", "format"},
        {"text", "%zz", "--text"},
        {"text", "/nonexistent/text.txt", "/nonexistent/text.txt"},
        {"text", fifo_esc, "FIFO"},
        {"text_bytes", "0", "text_bytes"},
        {"text_fnv1a", "0000000000000000", "not the text of the run"},
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        const crafted *k = &cases[i];
        if (p != &CHARLM && k->value == past)
            continue; /* the stream length is charlm's */
        if (!meta(train_of(good), k->key)) {
            cr_assert_neq(p, &CHARLM, "charlm's resume file has no '%s'", k->key);
            continue; /* a key of charlm's task that this program does not store */
        }
        copy_file(good, c);
        rewrite(train_of(good), train_of(c), &(edit){.key = k->key, .value = k->value});
        char what[256];
        snprintf(what, sizeof what, "%s = '%s'", k->key, k->value ? k->value : "(removed)");
        expect_refused(run(p, resume_words(""), "--resume", c, NULL), k->needle, what);
    }
    /* the model file's half of the pair */
    const char *model_cases[][3] = {{"run_id", "0123456789abcdef", "not one checkpoint"},
                                    {"step", "5", "not one checkpoint"},
                                    {"step", "x", "step"},
                                    {"run_id", NULL, "run_id"}};
    for (int i = 0; i < 4; i++) {
        rewrite(good, c, &(edit){.key = model_cases[i][0], .value = model_cases[i][1]});
        copy_file(train_of(good), train_of(c));
        expect_refused(run(p, resume_words(""), "--resume", c, NULL), model_cases[i][2],
                       model_cases[i][0]);
    }
    /* tensors of the resume file: missing, of the wrong shape */
    rg_safetensors *ts = st_read(train_of(good));
    int nt = rg_safetensors_count(ts);
    static char names[64][128];
    for (int i = 0; i < nt && i < 64; i++) {
        const char *name;
        rg_safetensors_at(ts, i, &name);
        snprintf(names[i], sizeof names[i], "%s", name);
    }
    rg_safetensors_free(ts);
    for (int i = 0; i < nt && i < 64; i++) {
        copy_file(good, c);
        rewrite(train_of(good), train_of(c), &(edit){.drop = names[i]});
        expect_refused(run(p, resume_words(""), "--resume", c, NULL), names[i], names[i]);
        rewrite(train_of(good), train_of(c), &(edit){.reshape = names[i]});
        expect_refused(run(p, resume_words(""), "--resume", c, NULL), names[i], names[i]);
    }
}

/* ---- 4. the save target, paths --------------------------------------------------- */

/* Whether user nobody can start p (root's runs of a read-only case are nobody's):
 * not when a folder above the build is private, as in a clone under mktemp -d. */
static bool nobody_can_run(const prog *p)
{
    char bd[1024], path[2048];
    cr_assert_not_null(realpath(getenv("RG_BUILD_DIR") ? getenv("RG_BUILD_DIR") : "build", bd));
    snprintf(path, sizeof path, "%s/examples/%s", bd, p->name);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0)
        _exit(setgid(65534) == 0 && setuid(65534) == 0 && access(path, X_OK) == 0 ? 0 : 1);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void save_target_checked(const prog *p)
{
    const char *text = corpus(p, "t.txt");
    /* a run that started training would not end before the alarm */
    const char *forever = train_words(p, "--steps 100000000 --save-every 0");
    char path[1024];
    snprintf(path, sizeof path, "%s/no/such/m.safetensors", g_dir);
    expect_refused(run(p, forever, "--text", text, "--save", path, NULL), "does not exist",
                   "--save in a missing folder");
    expect_refused(run(p, forever, "--text", text, "--save", tmp("m.safetensors"), "--log", path,
                       NULL), "does not exist",
                   "--log in a missing folder");
    expect_refused(run(p, forever, "--text", text, "--save", tmp("m.safetensors"), "--plot", path,
                       NULL), "does not exist",
                   "--plot in a missing folder");
    /* a read-only folder (root writes anywhere: then the run is nobody's) */
    cr_assert_eq(chmod(g_dir, 0755), 0);
    cr_assert_eq(mkdir(tmp("ro"), 0555), 0);
    spawn_opts user = {.nobody = true};
    if (geteuid() == 0 && !nobody_can_run(p)) {
        cr_log_warn("%s: the read-only folder cases are skipped: they run as user nobody, who "
                    "cannot reach the build (a folder above it is private)", p->name);
    } else {
        expect_refused(run_with(p, &user, forever, "--text", text, "--save",
                                tmp("ro/m.safetensors"), NULL),
                       "not writable", "--save in a read-only folder");
        cr_assert_eq(mkdir(tmp("w"), 0777), 0);
        cr_assert_eq(chmod(tmp("w"), 0777), 0);
        expect_refused(run_with(p, &user, forever, "--text", text, "--save",
                                tmp("w/m.safetensors"), "--log", tmp("ro/log.csv"), NULL),
                       "not writable", "--log in a read-only folder");
    }
    size_t n0;
    char *orig = read_whole(text, &n0);
    expect_refused(run(p, forever, "--text", text, "--save", text, NULL), "is the input",
                   "--save = --text");
    snprintf(path, sizeof path, "%s/./t.txt", g_dir);
    expect_refused(run(p, forever, "--text", text, "--save", path, NULL), "is the input",
                   "--save = --text spelled differently");
    cr_assert_eq(symlink(text, tmp("link.txt")), 0);
    expect_refused(run(p, forever, "--text", text, "--save", tmp("link.txt"), NULL),
                   "is the input", "--save = a link to --text");
    expect_refused(run(p, forever, "--text", text, "--save", tmp("m.safetensors"), "--log", text,
                       NULL), "is the input",
                   "--log = --text");
    expect_refused(run(p, forever, "--text", text, "--save", tmp("m.safetensors"), "--plot", text,
                       NULL), "is the input",
                   "--plot = --text");
    /* the resume file beside --save would be the text */
    copy_file(text, tmp("u.train.safetensors"));
    expect_refused(run(p, forever, "--text", tmp("u.train.safetensors"), "--save",
                       tmp("u.safetensors"), NULL), "is the input", "resume file = --text");
    expect_refused(run(p, forever, "--text", text, "--save", tmp("m.safetensors"), "--log",
                       tmp("m.safetensors"), NULL), "the same file", "--save = --log");
    expect_refused(run(p, forever, "--text", text, "--save", tmp("m.safetensors"), "--log",
                       tmp("m.train.safetensors"), NULL), "the same file",
                   "--log = the resume file");
    size_t n1;
    char *after = read_whole(text, &n1);
    cr_assert(n0 == n1 && !memcmp(orig, after, n0), "the text was changed");
    free(orig);
    free(after);
    cr_assert(!exists(tmp("m.safetensors")) && !exists(tmp("u.safetensors")));
    /* a resumed run checks its outputs against the text it restores */
    const char *save = tmp("r.safetensors");
    stopped_pair(p, "", text, save);
    expect_refused(run(p, resume_words(""), "--resume", save, "--log", text, NULL),
                   "is the input", "--log = the resumed run's text");
}

/* "%XX" escapes back to bytes */
static void unescape(const char *s, char *out)
{
    for (; *s; s++) {
        if (*s == '%' && s[1] && s[2]) {
            char hex[3] = {s[1], s[2], 0};
            *out++ = (char)strtol(hex, NULL, 16);
            s += 2;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

/* Texts and checkpoints in folders whose names hold spaces, non-ASCII and
 * non-UTF-8 bytes, '%', quotes, a tab and a newline, more than 300 bytes deep: train, stop, resume
 * from another folder (the text found again from the stored absolute path),
 * and the result equals an uninterrupted run. */
static void paths_of_any_bytes(const prog *p)
{
    const char *text = corpus(p, "plain.txt");
    expect_ok(run(p, train_words(p, "--steps 8 --seed 4"), "--text", text, "--save",
                  tmp("ref.safetensors"), NULL), "reference");
    static char dir[2048];
    snprintf(dir, sizeof dir, "%s/a folder \xc3\xa9\xe2\x9c\x93 %%41\t\n\xff\xfe'\"", g_dir);
    cr_assert_eq(mkdir(dir, 0755), 0);
    for (int i = 0; i < 6; i++) {
        size_t len = strlen(dir);
        snprintf(dir + len, sizeof dir - len, "/deep %d %s", i,
                 "folder-name-of-some-length-\xe6\xb7\xb1\xe3\x81\x84-0123456789");
        cr_assert_eq(mkdir(dir, 0755), 0, "%s", strerror(errno));
    }
    cr_assert_gt(strlen(dir), 300);
    char text2[2400], save[2400], real[4096];
    snprintf(text2, sizeof text2, "%s/the text \xc3\xbc %%.txt", dir);
    snprintf(save, sizeof save, "%s/model \xe2\x9c\x93 \xff.safetensors", dir);
    copy_file(text, text2);
    expect_ok(run(p, train_words(p, "--steps 8 --stop-after 3 --seed 4"), "--text", text2,
                  "--save", save, NULL), "a run in a deep folder");
    cr_assert_not_null(realpath(text2, real));
    const char *stored = meta(train_of(save), "text");
    cr_assert_not_null(stored);
    static char back[4096];
    unescape(stored, back);
    cr_assert_str_eq(back, real, "the stored text path does not read back");
    spawn_opts root = {.cwd = "/"};
    expect_ok(run_with(p, &root, resume_words(""), "--resume", save, NULL),
              "resume from another folder");
    compare_tensors(save, tmp("ref.safetensors"), 0);
    /* relative names, resumed from elsewhere */
    spawn_opts there = {.cwd = dir};
    char rel_save[64] = "rel \xc3\xa9.safetensors";
    expect_ok(run_with(p, &there, train_words(p, "--steps 8 --stop-after 5 --seed 4"), "--text",
                       "the text \xc3\xbc %.txt", "--save", rel_save, NULL), "relative names");
    char abs_save[2400];
    snprintf(abs_save, sizeof abs_save, "%s/%s", dir, rel_save);
    expect_ok(run_with(p, &root, resume_words(""), "--resume", abs_save, NULL),
              "resume of relative names from another folder");
    compare_tensors(abs_save, tmp("ref.safetensors"), 0);
}

/* ---- 5. nothing blocks ------------------------------------------------------------ */

static void special_files(const prog *p)
{
    const char *text = corpus(p, "t.txt");
    const char *good = tmp("g.safetensors");
    stopped_pair(p, "", text, good);
    cr_assert_eq(mkfifo(tmp("fifo"), 0644), 0);
    cr_assert_eq(mkdir(tmp("dir"), 0755), 0);
    const char *specials[] = {tmp("fifo"), tmp("dir"), "/dev/zero"};
    const char *kinds[] = {"FIFO", "folder|directory", "device"};
    spawn_opts quick = {.timeout = 10};
    for (int i = 0; i < 3; i++) {
        const char *s = specials[i], *k = kinds[i];
        const char *forever = train_words(p, "--steps 100000000 --save-every 0");
        expect_refused(run_with(p, &quick, forever, "--text", s, "--save", tmp("o.safetensors"),
                                NULL), k, "--text");
        expect_refused(run_with(p, &quick, "eval", "--model", s, "--text", text, NULL), k,
                       "eval --model");
        expect_refused(run_with(p, &quick, "eval", "--model", good, "--text", s, NULL), k,
                       "eval --text");
        expect_refused(run_with(p, &quick, "sample --length 5", "--model", s, NULL), k,
                       "sample --model");
        expect_refused(run_with(p, &quick, forever, "--init", s, "--text", text, "--save",
                                tmp("o.safetensors"), NULL), k, "--init");
        expect_refused(run_with(p, &quick, resume_words(""), "--resume", s, NULL), s,
                       "--resume");
        expect_refused(run_with(p, &quick, forever, "--text", text, "--save", s, NULL), k,
                       "--save");
        expect_refused(run_with(p, &quick, forever, "--text", text, "--save",
                                tmp("o.safetensors"), "--log", s, NULL), k, "--log");
        cr_assert(!exists(tmp("o.safetensors")));
    }
    /* either half of a pair given to --resume as a FIFO */
    const char *f1 = tmp("f1.safetensors"), *f2 = tmp("f2.safetensors");
    copy_file(good, f1);
    cr_assert_eq(mkfifo(train_of(f1), 0644), 0);
    expect_refused(run_with(p, &quick, resume_words(""), "--resume", f1, NULL), "FIFO",
                   "a FIFO resume file");
    cr_assert_eq(mkfifo(f2, 0644), 0);
    copy_file(train_of(good), train_of(f2));
    expect_refused(run_with(p, &quick, resume_words(""), "--resume", f2, NULL), "FIFO",
                   "a FIFO model file");
}

/* ---- 6. signals ------------------------------------------------------------------- */

/* A signal mid-training saves and exits 128+signal; --resume continues, and the
 * result equals an uninterrupted run of the same steps. */
static void signal_saves(const prog *p, int sig)
{
    const char *text = corpus(p, "g.txt");
    const char *save = tmp("sig.safetensors");
    const char *cfg = "--layers 2 --dropout 0.1 --carry-state --seed 9 --steps 100000000 "
                      "--save-every 0";
    pid_t pid = start(p, train_words(p, cfg), "--text", text, "--save", save, NULL);
    wait_for_text(tmp("bg.out"), " threads");
    sleep_us(50000);
    kill(pid, sig);
    int st = finish_bg(pid);
    cr_assert_eq(st, 128 + sig, "status %d after signal %d\n%s\n%s", st, sig, g_out, g_err);
    const char *at = strstr(g_out, "interrupted at step ");
    cr_assert_not_null(at, "%s", g_out);
    long k = strtol(at + strlen("interrupted at step "), NULL, 10);
    cr_assert_gt(k, 0);
    cr_assert_eq(meta_int(save, "step"), k);
    cr_assert_eq(meta_int(train_of(save), "step"), k);
    char steps[64];
    snprintf(steps, sizeof steps, "--steps %ld", k + 3);
    expect_ok(run(p, resume_words(steps), "--resume", save, NULL), "resume");
    char want[64];
    snprintf(want, sizeof want, "steps=%ld ", k + 3);
    cr_assert(strstr(g_out, want), "%s", g_out);
    char words[512];
    snprintf(words, sizeof words, "--layers 2 --dropout 0.1 --carry-state --seed 9 --steps %ld "
             "--save-every 0", k + 3);
    expect_ok(run(p, train_words(p, words), "--text", text, "--save", tmp("ref.safetensors"),
                  NULL), "uninterrupted");
    compare_tensors(save, tmp("ref.safetensors"), 0);
}

/* ---- 7. write errors ----------------------------------------------------------------- */

static void write_errors(const prog *p)
{
    const char *text = corpus(p, "w.txt");
    const char *model = tmp("w.safetensors");
    expect_ok(run(p, train_words(p, "--steps 3"), "--text", text, "--save", model, NULL),
              "train");
    spawn_opts full = {.out = "/dev/full"};
    expect_refused(run_with(p, &full, "sample --length 2000", "--model", model, NULL), "write",
                   "sample > /dev/full");
    expect_refused(run_with(p, &full, "eval", "--model", model, "--text", text, NULL), "write",
                   "eval > /dev/full");
    expect_refused(run_with(p, &full, "train --help", NULL), "write", "--help > /dev/full");
    expect_refused(run_with(p, &full, train_words(p, "--steps 3"), "--text", text, "--save",
                            tmp("w2.safetensors"), NULL), "write", "train > /dev/full");
    /* a pipe whose reader has gone: no death by SIGPIPE, a message */
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    close(fds[0]);
    spawn_opts pipe_out = {.out_fd = fds[1]};
    int st = run_with(p, &pipe_out, "sample --length 5000", "--model", model, NULL);
    close(fds[1]);
    expect_refused(st, "write", "sample | a closed pipe");
}

/* A save beyond RLIMIT_FSIZE fails with a message (no death by SIGXFSZ) and
 * leaves the last checkpoint as it was, without temporaries. */
static void file_size_limit(const prog *p)
{
    const char *text = corpus(p, "f.txt");
    const char *save = tmp("f.safetensors");
    stopped_pair(p, "", text, save);
    copy_file(save, tmp("f4.safetensors"));
    copy_file(train_of(save), tmp("f4.train.safetensors"));
    struct stat sb;
    cr_assert_eq(stat(save, &sb), 0);
    long limit = (long)sb.st_size / 2;
    spawn_opts lim = {.fsize = limit, .out = "/dev/null"};
    /* the final save */
    int st = run_with(p, &lim, resume_words(""), "--resume", save, NULL);
    expect_refused(st, "saving", "the final save beyond the size limit");
    cr_assert(strstr(g_err, "large") || strstr(g_err, "write"), "%s", g_err);
    expect_same_bytes(save, tmp("f4.safetensors"));
    expect_same_bytes(train_of(save), tmp("f4.train.safetensors"));
    cr_assert_eq(count_temps(), 0, "a failed save left temporaries");
    /* a periodic save */
    st = run_with(p, &lim, resume_words("--save-every 1"), "--resume", save, NULL);
    expect_refused(st, "saving", "a periodic save beyond the size limit");
    cr_assert(strstr(g_err, "step") || strstr(g_err, "saving"), "%s", g_err);
    expect_same_bytes(save, tmp("f4.safetensors"));
    expect_same_bytes(train_of(save), tmp("f4.train.safetensors"));
    cr_assert_eq(count_temps(), 0, "a failed save left temporaries");
    /* a new run into a fresh path: nothing is left behind */
    const char *fresh = tmp("fresh.safetensors");
    st = run_with(p, &lim, train_words(p, "--steps 3"), "--text", text, "--save", fresh, NULL);
    expect_refused(st, "saving", "a new run beyond the size limit");
    cr_assert(!exists(fresh) && !exists(train_of(fresh)));
    cr_assert_eq(count_temps(), 0);
    /* a log that outgrows the limit (the checkpoints fit): an error, not a log
     * that silently stops mid-row */
    struct stat tb;
    cr_assert_eq(stat(train_of(save), &tb), 0);
    spawn_opts roomy = {.fsize = 2 * (long)tb.st_size, .out = "/dev/null"};
    st = run_with(p, &roomy, train_words(p, "--steps 5000 --log-every 1 --save-every 0"),
                  "--text", text, "--save", tmp("log.safetensors"), "--log", tmp("big.csv"),
                  NULL);
    expect_refused(st, "--log", "a log beyond the size limit");
    cr_assert(strstr(g_err, "cannot write"), "%s", g_err);
    /* and the run still resumes once there is room */
    expect_ok(run(p, resume_words(""), "--resume", save, NULL), "resume after the failures");
}

/* ---- 8. threads -------------------------------------------------------------------- */

static void threads_on_resume(const prog *p)
{
    const char *text = corpus(p, "h.txt");
    struct {
        const char *batch, *before, *after;
        double rtol; /* the shards' sums change order with their count */
    } cases[] = {{"--batch 1", "--threads 1", "--threads 2", 0},
                 {"--batch 4", "--threads 1", "--threads 2", 1e-3},
                 {"--batch 4", "--threads 2", "--threads 1", 1e-3},
                 {"--batch 3", "--threads 2", "--threads 4", 1e-3}};
    for (int i = 0; i < 4; i++) {
        char base[512], words[1024];
        snprintf(base, sizeof base, "train %s %s --carry-state --seed 6 --steps 12", p->tiny,
                 cases[i].batch);
        snprintf(words, sizeof words, "%s %s", base, cases[i].before);
        expect_ok(run(p, words, "--text", text, "--save", tmp("full.safetensors"), NULL),
                  "uninterrupted");
        snprintf(words, sizeof words, "%s %s --stop-after 5", base, cases[i].before);
        expect_ok(run(p, words, "--text", text, "--save", tmp("half.safetensors"), NULL),
                  "stopped");
        snprintf(words, sizeof words, "train %s", cases[i].after);
        expect_ok(run(p, words, "--resume", tmp("half.safetensors"), NULL), words);
        cr_assert(strstr(g_out, "steps=12 "), "%s", g_out);
        compare_tensors(tmp("half.safetensors"), tmp("full.safetensors"), cases[i].rtol);
        compare_tensors(tmp("half.train.safetensors"), tmp("full.train.safetensors"),
                        cases[i].rtol);
    }
}

/* ---- the tests ------------------------------------------------------------------------ */

#define BOTH(name, fn)                                                                      \
    Test(reliability, charlm_##name) { fn(&CHARLM); }                                       \
    Test(reliability, wordlm_##name)                                                         \
    {                                                                                       \
        need_core(&WORDLM);                                                                 \
        fn(&WORDLM);                                                                        \
    }

BOTH(kill_9_during_saves_then_resume_is_exact_or_refused, kill_during_saves)
BOTH(mixed_pair_is_refused, mixed_pairs)
BOTH(save_cut_between_its_renames_is_finished, cut_save_finished)
BOTH(stale_temporaries_removed_by_the_next_save, stale_temps)
BOTH(second_run_on_one_save_path_is_refused, second_run_refused)
BOTH(diverging_run_keeps_the_last_finite_checkpoint, diverging_runs)
BOTH(nan_and_inf_checkpoints_are_refused, nonfinite_checkpoints)
BOTH(crafted_resume_files_are_refused, crafted_resume_files)
BOTH(save_target_checked_before_training, save_target_checked)
BOTH(paths_of_any_bytes_and_length_round_trip, paths_of_any_bytes)
BOTH(fifo_folder_device_refused_at_once, special_files)
BOTH(write_errors_are_errors, write_errors)
BOTH(save_beyond_file_size_limit_keeps_the_checkpoint, file_size_limit)
BOTH(resume_with_another_thread_count, threads_on_resume)

static void sigterm_saves(const prog *p) { signal_saves(p, SIGTERM); }
static void sigint_saves(const prog *p) { signal_saves(p, SIGINT); }
BOTH(sigterm_saves_exits_143_and_resumes, sigterm_saves)
BOTH(sigint_saves_exits_130_and_resumes, sigint_saves)

/* 9. wordlm: a text of any bytes (NUL, non-UTF-8, control bytes) trains, is
 * saved, resumed, evaluated and sampled. */
Test(reliability, wordlm_text_of_any_bytes_round_trips)
{
    need_core(&WORDLM);
    const prog *p = &WORDLM;
    static char text[20000];
    size_t n = 0;
    const char *words[] = {"plain", "caf\xc3\xa9", "\xff\xfe", "nul\0byte", "\x80\x81", "tab\t",
                           "\x01\x02", "%41", "\xc3", "end."};
    const size_t lens[] = {5, 5, 2, 8, 2, 4, 2, 3, 1, 4};
    unsigned r = 12345;
    while (n + 16 < sizeof text) {
        r = r * 1103515245u + 12345u;
        int w = (int)((r >> 16) % 10);
        memcpy(text + n, words[w], lens[w]);
        n += lens[w];
        text[n++] = (r >> 8) % 7 ? ' ' : '\n';
    }
    const char *path = tmp("bytes.txt");
    write_file(path, text, n);
    const char *save = tmp("b.safetensors");
    expect_ok(run(p, "train --hidden 8 --embed 4 --unroll 8 --batch 4 --threads 1 --steps 6 "
                     "--stop-after 3 --vocab-size 50", "--text", path, "--save", save, NULL),
              "train on any bytes");
    expect_ok(run(p, "train --threads 1", "--resume", save, NULL), "resume");
    expect_ok(run(p, "eval", "--model", save, "--text", path, NULL), "eval of the same text");
    expect_ok(run(p, "sample --length 20 --seed 2", "--model", save, NULL), "sample");
}
