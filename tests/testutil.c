/* Shared helpers of the Criterion suites: reference-file reader, data paths,
 * tensor comparison (see testutil.h). */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- reference files ----------------------------------------------------- */

static void refcase_clear(rg_refcase *c) {
    free(c->name);
    free(c->prog);
    for (int i = 0; i < c->n_in; i++) rg_tensor_free(c->in[i]);
    for (int i = 0; i < c->n_out; i++) rg_tensor_free(c->out[i]);
    memset(c, 0, sizeof *c);
}

void rg_ref_free(rg_reflist *l) {
    if (!l) return;
    for (int i = 0; i < l->n; i++) refcase_clear(&l->cases[i]);
    free(l->cases);
    free(l);
}

/* Parses "<dt> <rank> <dims...> : <values...>" (the text after input/output). */
static rg_tensor *parse_tensor(char *s, const char *path, long lineno) {
    char *save = NULL;
    char *tok = strtok_r(s, " \t\r\n", &save);
    rg_dtype dt;
    if (!tok) goto bad;
    if (strcmp(tok, "f64") == 0) dt = RG_F64;
    else if (strcmp(tok, "f32") == 0) dt = RG_F32;
    else if (strcmp(tok, "i32") == 0) dt = RG_I32;
    else {
        rg_set_error("rg_ref_load: %s:%ld: unknown dtype '%s'", path, lineno, tok);
        return NULL;
    }
    tok = strtok_r(NULL, " \t\r\n", &save);
    if (!tok) goto bad;
    char *end;
    long rank = strtol(tok, &end, 10);
    if (*end || rank < 0 || rank > RG_MAX_RANK) {
        rg_set_error("rg_ref_load: %s:%ld: bad rank '%s' (0..%d)", path, lineno, tok,
                     RG_MAX_RANK);
        return NULL;
    }
    int64_t shape[RG_MAX_RANK] = {1, 1, 1, 1};
    int64_t numel = 1;
    for (long d = 0; d < rank; d++) {
        tok = strtok_r(NULL, " \t\r\n", &save);
        if (!tok) goto bad;
        errno = 0;
        long long v = strtoll(tok, &end, 10);
        if (*end || errno || v < 0 || v > (1LL << 30)) {
            rg_set_error("rg_ref_load: %s:%ld: bad dim '%s'", path, lineno, tok);
            return NULL;
        }
        shape[d] = v;
        numel *= v;
        if (numel > (1LL << 30)) {
            rg_set_error("rg_ref_load: %s:%ld: tensor too large", path, lineno);
            return NULL;
        }
    }
    tok = strtok_r(NULL, " \t\r\n", &save);
    if (!tok || strcmp(tok, ":") != 0) goto bad;
    double *vals = malloc((size_t)(numel > 0 ? numel : 1) * sizeof *vals);
    if (!vals) {
        rg_set_error("rg_ref_load: out of memory");
        return NULL;
    }
    int64_t k = 0;
    while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
        if (k >= numel) {
            free(vals);
            rg_set_error("rg_ref_load: %s:%ld: more than %lld values", path, lineno,
                         (long long)numel);
            return NULL;
        }
        double v;
        if (dt == RG_I32) {
            errno = 0;
            long long iv = strtoll(tok, &end, 10);
            if (errno || iv < INT32_MIN || iv > INT32_MAX) *end = 'x';
            v = (double)iv;
        } else {
            v = strtod(tok, &end);
        }
        if (*end) {
            free(vals);
            rg_set_error("rg_ref_load: %s:%ld: bad value '%s'", path, lineno, tok);
            return NULL;
        }
        vals[k++] = v;
    }
    if (k != numel) {
        free(vals);
        rg_set_error("rg_ref_load: %s:%ld: %lld values for %lld elements", path, lineno,
                     (long long)k, (long long)numel);
        return NULL;
    }
    rg_tensor *t = rg_from_doubles(NULL, dt, (int)rank, shape, vals);
    free(vals);
    if (!t) rg_set_error("rg_ref_load: %s:%ld: cannot make the tensor", path, lineno);
    return t;
bad:
    rg_set_error("rg_ref_load: %s:%ld: malformed tensor line", path, lineno);
    return NULL;
}

rg_reflist *rg_ref_load(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        rg_set_error("rg_ref_load: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    rg_reflist *l = calloc(1, sizeof *l);
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int cap_cases = 0;
    rg_refcase *cur = NULL;
    if (!l) goto oom;
    while (getline(&line, &cap, f) != -1) {
        lineno++;
        char *p = line + strspn(line, " \t");
        if (*p == '\n' || *p == '\r' || *p == '\0' || *p == '#') continue;
        size_t kw = strcspn(p, " \t\r\n");
        if (kw == 4 && strncmp(p, "case", 4) == 0) {
            if (cur) {
                rg_set_error("rg_ref_load: %s:%ld: case inside case '%s'", path, lineno,
                             cur->name);
                goto fail;
            }
            char *name = p + 4 + strspn(p + 4, " \t");
            name[strcspn(name, " \t\r\n")] = '\0';
            if (!*name) {
                rg_set_error("rg_ref_load: %s:%ld: case without a name", path, lineno);
                goto fail;
            }
            if (l->n == cap_cases) {
                int nc = cap_cases ? 2 * cap_cases : 16;
                rg_refcase *nb = realloc(l->cases, (size_t)nc * sizeof *nb);
                if (!nb) goto oom;
                l->cases = nb;
                cap_cases = nc;
            }
            cur = &l->cases[l->n++];
            memset(cur, 0, sizeof *cur);
            cur->name = strdup(name);
            if (!cur->name) goto oom;
        } else if (kw == 3 && strncmp(p, "end", 3) == 0) {
            if (!cur) {
                rg_set_error("rg_ref_load: %s:%ld: 'end' outside a case", path, lineno);
                goto fail;
            }
            cur = NULL;
        } else if (kw == 4 && strncmp(p, "prog", 4) == 0) {
            if (!cur) {
                rg_set_error("rg_ref_load: %s:%ld: 'prog' outside a case", path, lineno);
                goto fail;
            }
            char *text = p + 4 + strspn(p + 4, " \t");
            text[strcspn(text, "\r\n")] = '\0';
            size_t old = cur->prog ? strlen(cur->prog) : 0, add = strlen(text);
            char *np = realloc(cur->prog, old + add + 2);
            if (!np) goto oom;
            if (old) np[old++] = '\n';
            memcpy(np + old, text, add + 1);
            cur->prog = np;
        } else if ((kw == 5 && strncmp(p, "input", 5) == 0) ||
                   (kw == 6 && strncmp(p, "output", 6) == 0)) {
            bool is_in = kw == 5;
            if (!cur) {
                rg_set_error("rg_ref_load: %s:%ld: tensor outside a case", path, lineno);
                goto fail;
            }
            int *cnt = is_in ? &cur->n_in : &cur->n_out;
            if (*cnt >= RG_REF_MAX_TENSORS) {
                rg_set_error("rg_ref_load: %s:%ld: more than %d %ss in case '%s'", path,
                             lineno, RG_REF_MAX_TENSORS, is_in ? "input" : "output",
                             cur->name);
                goto fail;
            }
            rg_tensor *t = parse_tensor(p + kw, path, lineno);
            if (!t) goto fail;
            (is_in ? cur->in : cur->out)[(*cnt)++] = t;
        } else {
            rg_set_error("rg_ref_load: %s:%ld: unknown line", path, lineno);
            goto fail;
        }
    }
    if (cur) {
        rg_set_error("rg_ref_load: %s: case '%s' has no 'end'", path, cur->name);
        goto fail;
    }
    free(line);
    fclose(f);
    return l;
oom:
    rg_set_error("rg_ref_load: out of memory reading %s", path);
fail:
    free(line);
    fclose(f);
    rg_ref_free(l);
    return NULL;
}

const rg_refcase *rg_ref_find(const rg_reflist *l, const char *name) {
    if (!l || !name) return NULL;
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->cases[i].name, name) == 0) return &l->cases[i];
    return NULL;
}

/* ---- paths --------------------------------------------------------------- */

const char *rg_test_data_path(const char *file) {
    static _Thread_local char bufs[8][4096];
    static _Thread_local int next;
    char *b = bufs[next];
    next = (next + 1) % 8;
    const char *dir = getenv("RG_TEST_DATA");
    if (!dir || !*dir) dir = "tests/data";
    snprintf(b, sizeof bufs[0], "%s/%s", dir, file ? file : "");
    return b;
}

/* ---- comparison ---------------------------------------------------------- */

rg_cmp rg_test_compare(const rg_tensor *got, const rg_tensor *want, double atol, double rtol) {
    rg_cmp r = {0, 0, 0, -1, NAN, NAN, false};
    if (!got || !want || got->numel != want->numel) {
        r.worst_err = INFINITY;
        return r;
    }
    r.pass = true;
    for (int64_t i = 0; i < got->numel; i++) {
        double g = rg_get(got, i), w = rg_get(want, i);
        double d, ratio;
        if (isnan(g) && isnan(w)) continue;
        if (isinf(g) && isinf(w) && (g > 0) == (w > 0)) continue;
        if (!isfinite(g) || !isfinite(w)) {
            d = INFINITY;
            ratio = INFINITY;
        } else {
            d = fabs(g - w);
            ratio = d / (atol + rtol * fabs(w));
            if (atol + rtol * fabs(w) == 0) ratio = d > 0 ? INFINITY : 0;
        }
        if (d > r.max_abs) r.max_abs = d;
        if (w != 0 && d / fabs(w) > r.max_rel) r.max_rel = d / fabs(w);
        if (r.worst < 0 || ratio > r.worst_err) {
            r.worst_err = ratio;
            r.worst = i;
            r.got_v = g;
            r.want_v = w;
        }
        if (!(d <= atol + rtol * fabs(w))) r.pass = false;
    }
    if (r.worst < 0 && got->numel > 0) {
        r.worst = 0;
        r.got_v = rg_get(got, 0);
        r.want_v = rg_get(want, 0);
    }
    return r;
}

double rg_test_max_err(const rg_tensor *got, const rg_tensor *want, double atol, double rtol,
                       int64_t *worst_index) {
    rg_cmp r = rg_test_compare(got, want, atol, rtol);
    if (worst_index) *worst_index = r.worst;
    return r.worst_err;
}

/* ---- the programs as a user runs them ---------------------------------------------- */

char rg_suite_dir[256];
char rg_out[1 << 17], rg_err[1 << 16];

void rg_suite_open(const char *name) {
    snprintf(rg_suite_dir, sizeof rg_suite_dir, "/tmp/rg_%s_XXXXXX", name);
    if (!mkdtemp(rg_suite_dir)) {
        fprintf(stderr, "mkdtemp %s: %s\n", rg_suite_dir, strerror(errno));
        abort();
    }
}

void rg_suite_close(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", rg_suite_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", rg_suite_dir);
}

const char *rg_suite_path(const char *name) {
    static char buf[8][512];
    static int at;
    at = (at + 1) % 8;
    snprintf(buf[at], sizeof buf[at], "%s/%s", rg_suite_dir, name);
    return buf[at];
}

void rg_slurp(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(buf, 1, n - 1, f) : 0;
    buf[got] = '\0';
    if (f) fclose(f);
}

int rg_run_program(const char *prog, const char *in, const char *fmt, va_list ap) {
    const char *bd = getenv("RG_BUILD_DIR");
    char args[4096], cmd[8192];
    vsnprintf(args, sizeof args, fmt, ap);
    snprintf(cmd, sizeof cmd, "'%s/examples/%s' %s > '%s/out.txt' 2> '%s/err.txt' < '%s'",
             bd ? bd : "build", prog, args, rg_suite_dir, rg_suite_dir, in ? in : "/dev/null");
    int st = system(cmd);
    rg_slurp(rg_suite_path("out.txt"), rg_out, sizeof rg_out);
    rg_slurp(rg_suite_path("err.txt"), rg_err, sizeof rg_err);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
