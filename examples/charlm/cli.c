/* charlm's command line: a table of flags ("--name value" or "--name=value"),
 * checked numbers with bounds, and a generated --help. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "charlm.h"

static void usage(FILE *f, const char *usage_line, const cli_flag *flags, int n)
{
    fprintf(f, "%s\n\nflags:\n", usage_line);
    for (int i = 0; i < n; i++) {
        if (!flags[i].help)
            continue;
        const char *arg = flags[i].kind == CLI_INT      ? " N"
                          : flags[i].kind == CLI_DOUBLE ? " X"
                          : flags[i].kind == CLI_STRING ? " S"
                                                        : "";
        char left[64];
        snprintf(left, sizeof left, "%s%s", flags[i].name, arg);
        fprintf(f, "  %-22s %s\n", left, flags[i].help);
    }
    fprintf(f, "  %-22s %s\n", "--help", "this text");
}

static int set_value(const char *prog, cli_flag *fl, const char *val)
{
    char *end;
    errno = 0;
    switch (fl->kind) {
    case CLI_INT: {
        long long v = strtoll(val, &end, 10);
        if (end == val || *end || errno) {
            fprintf(stderr, "%s: %s expects an integer, got '%s'\n", prog, fl->name, val);
            return -1;
        }
        if ((double)v < fl->min || (double)v > fl->max) {
            fprintf(stderr, "%s: %s %lld is out of range [%.0f, %.0f]\n", prog, fl->name, v,
                    fl->min, fl->max);
            return -1;
        }
        *(int64_t *)fl->dest = v;
        return 0;
    }
    case CLI_DOUBLE: {
        double v = strtod(val, &end);
        if (end == val || *end || errno || !isfinite(v)) {
            fprintf(stderr, "%s: %s expects a finite number, got '%s'\n", prog, fl->name, val);
            return -1;
        }
        if (v < fl->min || v > fl->max) {
            fprintf(stderr, "%s: %s %g is out of range [%g, %g]\n", prog, fl->name, v, fl->min,
                    fl->max);
            return -1;
        }
        *(double *)fl->dest = v;
        return 0;
    }
    case CLI_STRING:
        if (!*val) {
            fprintf(stderr, "%s: %s expects a non-empty value\n", prog, fl->name);
            return -1;
        }
        *(const char **)fl->dest = val;
        return 0;
    case CLI_FLAG:
        break;
    }
    return -1;
}

int cli_parse(const char *prog, const char *usage_line, int argc, char **argv, int first,
              cli_flag *flags, int n)
{
    for (int a = first; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout, usage_line, flags, n);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", prog, arg);
            return -1;
        }
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        cli_flag *fl = NULL;
        for (int i = 0; i < n; i++)
            if (strlen(flags[i].name) == len && !strncmp(flags[i].name, arg, len))
                fl = &flags[i];
        if (!fl) {
            fprintf(stderr, "%s: unknown flag '%.*s' (see --help)\n", prog, (int)len, arg);
            return -1;
        }
        if (fl->seen) {
            fprintf(stderr, "%s: %s given twice\n", prog, fl->name);
            return -1;
        }
        fl->seen = true;
        if (fl->kind == CLI_FLAG) {
            if (eq) {
                fprintf(stderr, "%s: %s takes no value\n", prog, fl->name);
                return -1;
            }
            *(bool *)fl->dest = true;
            continue;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            if (a + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", prog, fl->name);
                return -1;
            }
            val = argv[++a];
        }
        if (set_value(prog, fl, val) != 0)
            return -1;
    }
    return 0;
}

bool cli_seen(const cli_flag *flags, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(flags[i].name, name))
            return flags[i].seen;
    return false;
}
