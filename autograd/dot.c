/* rg_tape_dot: the recorded tape as a Graphviz DOT digraph, for looking at
 * what a model records (an unrolled cell, where a gradient flows). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

/* A set of leaf tensors already declared (open addressing on the pointer). */
typedef struct leaf_set {
    const rg_tensor **slot;
    size_t cap;
} leaf_set;

/* true when t was not in the set (and is now) */
static bool leaf_add(leaf_set *s, const rg_tensor *t)
{
    size_t h = (size_t)(((uintptr_t)t >> 4) * 0x9E3779B97F4A7C15ull) & (s->cap - 1);
    while (s->slot[h]) {
        if (s->slot[h] == t)
            return false;
        h = (h + 1) & (s->cap - 1);
    }
    s->slot[h] = t;
    return true;
}

/* DOT's double-quoted strings: escape " and \ */
static void put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
}

/* the entry (< i) that produced t, or -1 for a leaf */
static int64_t producer(const rg_tape *tp, const rg_tensor *t, size_t i)
{
    if (t->node < 0 || (size_t)t->node >= i)
        return -1;
    const rg_entry *e = &tp->entries[t->node];
    for (int k = 0; k < e->n_out; k++)
        if (e->out[k] == t)
            return t->node;
    return -1;
}

static void write_leaf(FILE *f, const rg_tensor *t, const rg_dot_opts *o)
{
    char b[64];
    const char *name = o->name ? o->name(t, o->user) : NULL;
    bool param = (t->flags & RG_REQUIRES_GRAD) != 0;
    fprintf(f, "  t%" PRIxPTR " [shape=%s, style=filled, fillcolor=\"%s\", label=\"",
            (uintptr_t)t, param ? "box" : "ellipse", param ? "#cfe2ff" : "#eeeeee");
    put_escaped(f, name ? name : param ? "param" : "input");
    fprintf(f, "\\n%s %s\"];\n", rg_shape_str(t, b, sizeof b), rg_dtype_name(t->dtype));
}

static void write_entry(FILE *f, const rg_tape *tp, size_t i, const rg_dot_opts *o,
                        leaf_set *leaves)
{
    const rg_entry *e = &tp->entries[i];
    fprintf(f, "  e%zu [label=\"", i);
    put_escaped(f, e->op->name);
    for (int k = 0; k < e->n_out; k++) {
        char b[64];
        fprintf(f, "%s%s", k ? " " : "\\n", rg_shape_str(e->out[k], b, sizeof b));
    }
    fprintf(f, "\"];\n");
    for (int j = 0; j < e->n_in; j++) {
        const rg_tensor *t = e->in[j];
        int64_t from = producer(tp, t, i);
        if (from >= 0) {
            fprintf(f, "  e%" PRId64 " -> e%zu", from, i);
        } else {
            if (leaf_add(leaves, t))
                write_leaf(f, t, o);
            fprintf(f, "  t%" PRIxPTR " -> e%zu", (uintptr_t)t, i);
        }
        if (e->n_in > 1)
            fprintf(f, " [label=\"%d\", fontsize=8]", j);
        fprintf(f, ";\n");
    }
}

int rg_tape_dot(const rg_tape *tp, FILE *f, const rg_dot_opts *opts)
{
    if (!tp || !f) {
        rg_set_error("rg_tape_dot: %s is NULL", !tp ? "the tape" : "the file");
        return -1;
    }
    rg_dot_opts o = opts ? *opts : (rg_dot_opts){0};
    size_t n = tp->n_entries;
    if (o.max_entries && o.max_entries < n)
        n = o.max_entries;
    size_t inputs = 0;
    for (size_t i = 0; i < n; i++)
        inputs += (size_t)tp->entries[i].n_in;
    leaf_set leaves = {NULL, 16};
    while (leaves.cap < 2 * inputs)
        leaves.cap *= 2;
    leaves.slot = calloc(leaves.cap, sizeof *leaves.slot);
    if (!leaves.slot) {
        rg_set_error("rg_tape_dot: out of memory");
        return -1;
    }
    fprintf(f, "digraph tape {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\", "
               "fontsize=10];\n  edge [arrowsize=0.6];\n");
    if (o.title) {
        fprintf(f, "  label=\"");
        put_escaped(f, o.title);
        fprintf(f, "\";\n  labelloc=t;\n");
    }
    for (size_t i = 0; i < n; i++)
        write_entry(f, tp, i, &o, &leaves);
    if (n < tp->n_entries)
        fprintf(f, "  more [shape=plaintext, label=\"... %zu more entries\"];\n",
                tp->n_entries - n);
    fprintf(f, "}\n");
    free(leaves.slot);
    if (fflush(f) != 0 || ferror(f)) {
        rg_set_error("rg_tape_dot: write error");
        return -1;
    }
    return 0;
}
