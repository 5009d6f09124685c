/* Files of a run: inputs read without ever blocking, output paths checked
 * before any work, stale temporaries of killed saves, and the write errors of
 * stdout. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rg_train.h"

static const char *kind_of(mode_t m)
{
    return S_ISDIR(m) ? "a folder" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
           : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* Opens path for reading without blocking and checks that it is a regular
 * file; the descriptor, or -1 with a message. */
static int open_regular(const char *path, struct stat *st)
{
    if (!path || !*path) {
        rg_set_error("rg_file_read_all: empty file name");
        return -1;
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        rg_set_error("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        int err = errno;
        bool stat_ok = S_ISREG(st->st_mode) || err == 0;
        close(fd);
        if (!stat_ok)
            rg_set_error("%s: cannot stat: %s", path, strerror(err));
        else
            rg_set_error("%s: is %s, not a regular file", path, kind_of(st->st_mode));
        return -1;
    }
    /* a regular file never blocks; clear O_NONBLOCK anyway for plain reads */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int rg_file_check_input(const char *path)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    int fd = open_regular(path, &st);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

int rg_file_read_all(const char *path, uint8_t **data, int64_t *n)
{
    *data = NULL;
    *n = 0;
    struct stat st;
    memset(&st, 0, sizeof st);
    int fd = open_regular(path, &st);
    if (fd < 0)
        return -1;
    int64_t size = (int64_t)st.st_size;
    if (size <= 0) {
        close(fd);
        rg_set_error("%s: the file is empty", path);
        return -1;
    }
    uint8_t *buf = (uint64_t)size < SIZE_MAX - 1 ? malloc((size_t)size + 1) : NULL;
    if (!buf) {
        close(fd);
        rg_set_error("%s: out of memory for %lld bytes", path, (long long)size);
        return -1;
    }
    int64_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, (size_t)(size - got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rg_set_error("%s: %s after %lld of %lld bytes", path,
                         r < 0 ? strerror(errno) : "the file shrank while read",
                         (long long)got, (long long)size);
            free(buf);
            close(fd);
            return -1;
        }
        got += r;
    }
    close(fd);
    buf[size] = 0;
    *data = buf;
    *n = size;
    return 0;
}

/* The folder part of path ("." when it has none); a new string. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    if (!slash)
        strcpy(d, ".");
    else {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

int rg_file_check_output(const char *path, const char *what)
{
    if (!path || !*path) {
        rg_set_error("%s: empty file name", what);
        return -1;
    }
    size_t len = strlen(path);
    if (path[len - 1] == '/') {
        rg_set_error("%s %s: names a folder, not a file", what, path);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        rg_set_error("%s %s: is %s, not a regular file", what, path, kind_of(st.st_mode));
        return -1;
    }
    char *dir = dir_of(path);
    if (!dir) {
        rg_set_error("%s %s: out of memory", what, path);
        return -1;
    }
    int rc = 0;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rg_set_error("%s %s: the folder %s does not exist", what, path, dir);
        rc = -1;
    } else if (access(dir, W_OK | X_OK) != 0) {
        rg_set_error("%s %s: the folder %s is not writable", what, path, dir);
        rc = -1;
    }
    free(dir);
    return rc;
}

/* absolute form of path: realpath of the file, else of its folder + its name */
static char *absolute(const char *path)
{
    char *r = realpath(path, NULL);
    if (r)
        return r;
    char *dir = dir_of(path);
    char *rd = dir ? realpath(dir, NULL) : NULL;
    free(dir);
    if (!rd)
        return NULL;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *out = malloc(strlen(rd) + strlen(base) + 2);
    if (out)
        sprintf(out, "%s/%s", rd, base);
    free(rd);
    return out;
}

bool rg_file_same(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char *x = absolute(a), *y = absolute(b);
    bool same = x && y && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

void rg_file_remove_stale_temps(const char *path)
{
    char *dir = dir_of(path);
    DIR *d = dir ? opendir(dir) : NULL;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t bl = strlen(base);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        /* "<base>.tmp-XXXXXX": what mkstemp made for an atomic write */
        if (strlen(e->d_name) != bl + 11 || strncmp(e->d_name, base, bl) ||
            strncmp(e->d_name + bl, ".tmp-", 5))
            continue;
        char *full = malloc(strlen(dir) + strlen(e->d_name) + 2);
        if (full) {
            sprintf(full, "%s/%s", dir, e->d_name);
            unlink(full);
            free(full);
        }
    }
    if (d)
        closedir(d);
    free(dir);
}

char *rg_train_state_path(const char *model_path)
{
    static const char ext[] = ".safetensors";
    size_t len = strlen(model_path), el = sizeof ext - 1;
    char *out = malloc(len + 32);
    if (!out)
        return NULL;
    if (len > el && !strcmp(model_path + len - el, ext))
        sprintf(out, "%.*s.train%s", (int)(len - el), model_path, ext);
    else
        sprintf(out, "%s.train.safetensors", model_path);
    return out;
}

void rg_main_begin(void)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
}

int rg_main_init(const char *prog, int *argc, char ***argv)
{
    rg_main_begin();
    if (rg_dist_init(argc, argv) != 0) {
        fprintf(stderr, "%s: %s\n", prog, rg_last_error());
        return -1;
    }
    if (rg_dist_rank() > 0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "%s: rank %d: cannot silence its output\n", prog, rg_dist_rank());
        return -1;
    }
    return 0;
}

int rg_main_end(const char *prog, int status)
{
    errno = 0;
    bool bad = fflush(stdout) != 0 || ferror(stdout);
    int err = errno;
    if (fclose(stdout) != 0 && !bad) {
        bad = true;
        err = errno;
    }
    if (bad) {
        fprintf(stderr, "%s: cannot write the output: %s\n", prog,
                err ? strerror(err) : "write error");
        status = status ? status : 1;
    }
    rg_dist_finalize(); /* a rank that does not come within a bounded wait aborts the job */
    return status;
}

static void command_list(FILE *f, const char *prog, const rg_command *cmds)
{
    int w = 0;
    for (const rg_command *c = cmds; c->name; c++)
        w = (int)strlen(c->name) > w ? (int)strlen(c->name) : w;
    fprintf(f, "usage: %s <command> [flags]   (%s <command> --help for its flags)\n", prog, prog);
    for (const rg_command *c = cmds; c->name; c++)
        fprintf(f, "  %-*s  %s\n", w, c->name, c->help);
}

static int run_command(const char *prog, const rg_command *cmds, int argc, char **argv)
{
    if (argc < 2) {
        command_list(stderr, prog, cmds);
        return 2;
    }
    for (const rg_command *c = cmds; c->name; c++)
        if (!strcmp(argv[1], c->name))
            return c->main(argc, argv);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        command_list(stdout, prog, cmds);
        return 0;
    }
    fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
    command_list(stderr, prog, cmds);
    return 2;
}

int rg_main_commands(const char *prog, const rg_command *cmds, int argc, char **argv)
{
    if (rg_main_init(prog, &argc, &argv) != 0)
        return rg_main_end(prog, 1);
    return rg_main_end(prog, run_command(prog, cmds, argc, argv));
}

double rg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
