/* The flag table: parsing a command line and reading values back from a file
 * with the same checks, and the generated --help. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rg_train.h"

static const char *where(const char *source)
{
    return source ? source : "command line";
}

/* value is one of the '|'-separated choices */
static bool is_choice(const char *choices, const char *value)
{
    size_t n = strlen(value);
    for (const char *p = choices; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, value, n))
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* %XX escapes of a saved string: every byte outside printable ASCII, the
 * space and '%' (so a list joins its items with spaces).  -1 on a malformed
 * escape. */
static int unescape(const char *s, char *out)
{
    for (; *s; s++) {
        if (*s != '%') {
            *out++ = *s;
            continue;
        }
        unsigned v = 0;
        for (int k = 1; k <= 2; k++) {
            char c = s[k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0)
                return -1;
            v = v * 16 + (unsigned)d;
        }
        *out++ = (char)v;
        s += 2;
    }
    *out = '\0';
    return 0;
}

static int set_string(rg_flag *f, const char *value, const char *source)
{
    if (!source) {
        if (!*value) {
            rg_set_error("%s: %s expects a non-empty value", where(source), f->name);
            return -1;
        }
        if (f->kind == RG_FLAG_CHOICE && !is_choice(f->choices, value)) {
            rg_set_error("%s: %s '%s' is not one of %s", where(source), f->name, value,
                         f->choices);
            return -1;
        }
        *(const char **)f->dest = value;
        return 0;
    }
    if (!*value && f->kind == RG_FLAG_STRING) { /* saved while not given: not given */
        *(const char **)f->dest = NULL;
        return 0;
    }
    char *copy = malloc(strlen(value) + 1);
    if (!copy) {
        rg_set_error("%s: %s: out of memory", where(source), f->name);
        return -1;
    }
    if (unescape(value, copy) != 0 || !*copy || strlen(copy) == 0 ||
        (f->kind == RG_FLAG_CHOICE && !is_choice(f->choices, copy))) {
        rg_set_error("%s: %s '%.200s' is not a valid value%s%s", source, f->name, value,
                     f->kind == RG_FLAG_CHOICE ? "; expected one of " : "",
                     f->kind == RG_FLAG_CHOICE ? f->choices : "");
        free(copy);
        return -1;
    }
    free(f->owned);
    f->owned = copy;
    *(const char **)f->dest = copy;
    return 0;
}

static int list_append(rg_flag_list *l, const char *item)
{
    const char **grown = realloc(l->items, (size_t)(l->n + 1) * sizeof *grown);
    if (!grown) {
        rg_set_error("out of memory");
        return -1;
    }
    l->items = grown;
    l->items[l->n++] = item;
    return 0;
}

/* From the command line: one more item.  From a file: the whole list, its
 * items escaped and separated by single spaces. */
static int set_list(rg_flag *f, const char *value, const char *source)
{
    rg_flag_list *l = f->dest;
    if (!source) {
        if (!*value) {
            rg_set_error("%s: %s expects a non-empty value", where(source), f->name);
            return -1;
        }
        return list_append(l, value);
    }
    char *store = malloc(strlen(value) + 1);
    if (!store) {
        rg_set_error("%s: %s: out of memory", source, f->name);
        return -1;
    }
    strcpy(store, value);
    free(l->items);
    free(l->store);
    *l = (rg_flag_list){0, NULL, store};
    for (char *p = store; *p;) {
        char *sp = strchr(p, ' ');
        if (sp)
            *sp = '\0';
        if (!*p || unescape(p, p) != 0 || !*p || list_append(l, p) != 0) {
            rg_set_error("%s: %s '%.200s' is not a valid list of values", source, f->name,
                         value);
            return -1;
        }
        p = sp ? sp + 1 : p + strlen(p);
    }
    if (l->n == 0) {
        rg_set_error("%s: %s is an empty list", source, f->name);
        return -1;
    }
    return 0;
}

int rg_flag_set(rg_flag *f, const char *value, const char *source)
{
    char *end;
    if (!f || !value) {
        rg_set_error("rg_flag_set: NULL flag or value");
        return -1;
    }
    errno = 0;
    switch (f->kind) {
    case RG_FLAG_INT: {
        long long v = strtoll(value, &end, 10);
        if (end == value || *end || errno) {
            rg_set_error("%s: %s expects an integer, got '%.200s'", where(source), f->name,
                         value);
            return -1;
        }
        if ((double)v < f->min || (double)v > f->max) {
            rg_set_error("%s: %s %lld is out of range [%.0f, %.0f]", where(source), f->name, v,
                         f->min, f->max);
            return -1;
        }
        *(int64_t *)f->dest = v;
        return 0;
    }
    case RG_FLAG_DOUBLE: {
        double v = strtod(value, &end);
        if (end == value || *end || errno == ERANGE || !isfinite(v)) {
            rg_set_error("%s: %s expects a finite number, got '%.200s'", where(source),
                         f->name, value);
            return -1;
        }
        if (v < f->min || v > f->max) {
            rg_set_error("%s: %s %g is out of range [%g, %g]", where(source), f->name, v,
                         f->min, f->max);
            return -1;
        }
        *(double *)f->dest = v;
        return 0;
    }
    case RG_FLAG_STRING:
    case RG_FLAG_CHOICE:
        return set_string(f, value, source);
    case RG_FLAG_LIST:
        return set_list(f, value, source);
    case RG_FLAG_BOOL:
        if (strcmp(value, "0") && strcmp(value, "1")) {
            rg_set_error("%s: %s expects 0 or 1, got '%.200s'", where(source), f->name, value);
            return -1;
        }
        *(bool *)f->dest = value[0] == '1';
        return 0;
    }
    rg_set_error("%s: %s has an unknown kind", where(source), f->name);
    return -1;
}

static char *escaped(const char *s)
{
    char *out = malloc(3 * strlen(s) + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= 0x20 || *p > 0x7e || *p == '%')
            o += sprintf(o, "%%%02X", *p);
        else
            *o++ = (char)*p;
    }
    *o = '\0';
    return out;
}

/* one value as saved: escaped, a path made absolute */
static char *format_string(const rg_flag *f, const char *v)
{
    char *abs = (f->attr & RG_FLAG_PATH) && *v ? realpath(v, NULL) : NULL;
    char *out = escaped(abs ? abs : v);
    free(abs);
    return out;
}

static char *format_list(const rg_flag *f)
{
    const rg_flag_list *l = f->dest;
    char *out = calloc(1, 1);
    size_t len = 0;
    for (int i = 0; out && i < l->n; i++) {
        char *item = format_string(f, l->items[i]);
        char *grown = item ? realloc(out, len + strlen(item) + 2) : NULL;
        if (!grown) {
            free(item);
            free(out);
            return NULL;
        }
        out = grown;
        len += (size_t)sprintf(out + len, "%s%s", i ? " " : "", item);
        free(item);
    }
    return out;
}

char *rg_flag_format(const rg_flag *f)
{
    char buf[64];
    switch (f->kind) {
    case RG_FLAG_LIST:
        return format_list(f);
    case RG_FLAG_INT:
        snprintf(buf, sizeof buf, "%lld", (long long)*(const int64_t *)f->dest);
        break;
    case RG_FLAG_DOUBLE:
        snprintf(buf, sizeof buf, "%.17g", *(const double *)f->dest);
        break;
    case RG_FLAG_BOOL:
        snprintf(buf, sizeof buf, "%d", *(const bool *)f->dest ? 1 : 0);
        break;
    case RG_FLAG_STRING:
    case RG_FLAG_CHOICE: {
        const char *v = *(const char *const *)f->dest;
        return format_string(f, v ? v : "");
    }
    }
    char *out = malloc(strlen(buf) + 1);
    if (out)
        strcpy(out, buf);
    return out;
}

rg_flag *rg_flags_find(rg_flag *fl, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(fl[i].name, name))
            return &fl[i];
    return NULL;
}

bool rg_flags_seen(const rg_flag *fl, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(fl[i].name, name))
            return fl[i].seen;
    return false;
}

int rg_flags_parse(rg_flag *fl, int n, int argc, char **argv, int first)
{
    for (int a = first; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h"))
            return 1;
        if (strncmp(arg, "--", 2) != 0) {
            rg_set_error("unexpected argument '%s' (see --help)", arg);
            return -1;
        }
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        rg_flag *f = NULL;
        for (int i = 0; i < n; i++)
            if (strlen(fl[i].name) == len && !strncmp(fl[i].name, arg, len))
                f = &fl[i];
        if (!f) {
            rg_set_error("unknown flag '%.*s' (see --help)", (int)len, arg);
            return -1;
        }
        if (f->seen && f->kind != RG_FLAG_LIST) {
            rg_set_error("%s given twice", f->name);
            return -1;
        }
        f->seen = true;
        if (f->kind == RG_FLAG_BOOL) {
            if (eq) {
                rg_set_error("%s takes no value", f->name);
                return -1;
            }
            *(bool *)f->dest = true;
            continue;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            if (a + 1 >= argc) {
                rg_set_error("%s needs a value", f->name);
                return -1;
            }
            val = argv[++a];
        }
        if (rg_flag_set(f, val, NULL) != 0) {
            /* drop the "command line: " prefix: the program names itself */
            const char *msg = rg_last_error();
            if (!strncmp(msg, "command line: ", 14)) {
                char copy[1024];
                snprintf(copy, sizeof copy, "%s", msg + 14);
                rg_set_error("%s", copy);
            }
            return -1;
        }
    }
    return 0;
}

void rg_flags_usage(FILE *out, const char *usage, const rg_flag *fl, int n)
{
    fprintf(out, "%s\n\nflags:\n", usage);
    for (int i = 0; i < n; i++) {
        if (!fl[i].help || (fl[i].attr & RG_FLAG_HIDDEN))
            continue;
        const char *arg = fl[i].kind == RG_FLAG_LIST     ? " S (repeatable)"
                          : fl[i].kind == RG_FLAG_INT    ? " N"
                          : fl[i].kind == RG_FLAG_DOUBLE ? " X"
                          : fl[i].kind == RG_FLAG_BOOL   ? ""
                                                         : " S";
        char left[64];
        snprintf(left, sizeof left, "%s%s", fl[i].name, arg);
        fprintf(out, "  %-22s %s\n", left, fl[i].help);
    }
    fprintf(out, "  %-22s %s\n", "--help", "this text");
}

bool rg_flags_cli(const char *prog, const char *usage, rg_flag *fl, int n, int argc,
                  char **argv, int first, int *status)
{
    int rc = rg_flags_parse(fl, n, argc, argv, first);
    *status = rc >= 0 ? 0 : 2;
    if (rc > 0)
        rg_flags_usage(stdout, usage, fl, n);
    else if (rc < 0)
        fprintf(stderr, "%s: %s\n", prog, rg_last_error());
    return rc == 0;
}

void rg_flags_free(rg_flag *fl, int n)
{
    for (int i = 0; i < n; i++) {
        free(fl[i].owned);
        fl[i].owned = NULL;
        if (fl[i].kind == RG_FLAG_LIST && fl[i].dest) {
            rg_flag_list *l = fl[i].dest;
            free(l->items);
            free(l->store);
            *l = (rg_flag_list){0, NULL, NULL};
        }
    }
}
