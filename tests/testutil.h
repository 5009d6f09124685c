/* Shared helpers of the Criterion suites: the reader of the reference files that
 * tools/refio.py writes (PyTorch values), the path of a data file, and a tensor
 * comparison with absolute and relative tolerances. */
#ifndef RG_TESTUTIL_H
#define RG_TESTUTIL_H
#include <stdarg.h>

#include "retrograd.h"

#define RG_REF_MAX_TENSORS 32

/* One case of a reference file: "case NAME", its input and output lines, "end".
 * Every tensor is persistent, in the dtype of its line (f64, f32 or i32).
 * "prog TEXT" lines, if any, are kept in prog joined with newlines (NULL when
 * the case has none). */
typedef struct rg_refcase {
    char *name;
    char *prog;
    int n_in, n_out;
    rg_tensor *in[RG_REF_MAX_TENSORS];
    rg_tensor *out[RG_REF_MAX_TENSORS];
} rg_refcase;

typedef struct rg_reflist {
    int n;
    rg_refcase *cases;
} rg_reflist;

/* Reads every case of the file at path.  NULL on a missing or malformed file,
 * with a message (file, line, what is wrong) in rg_last_error().  Free with
 * rg_ref_free. */
rg_reflist *rg_ref_load(const char *path);
/* The case named name, or NULL. */
const rg_refcase *rg_ref_find(const rg_reflist *l, const char *name);
/* Frees the list, its cases and their tensors; NULL is fine. */
void rg_ref_free(rg_reflist *l);

/* getenv("RG_TEST_DATA") (set by tests/meson.build; "tests/data" when unset)
 * joined with file.  The string lives in a small ring of per-thread buffers:
 * valid until 8 more calls on the same thread. */
const char *rg_test_data_path(const char *file);

/* Worst element of a comparison of got with want (same numel, any float or int
 * dtype; values compared as doubles). */
typedef struct rg_cmp {
    double max_abs;     /* largest |got - want| */
    double max_rel;     /* largest |got - want| / |want| (|want| > 0) */
    double worst_err;   /* largest |got - want| / (atol + rtol*|want|); > 1 fails */
    int64_t worst;      /* flat index of that element; -1 when numel differs */
    double got_v, want_v;
    bool pass;          /* every element: |got - want| <= atol + rtol*|want| */
} rg_cmp;
/* NaN equals NaN and an infinity equals the same infinity; anything else that is
 * not finite fails.  A numel mismatch fails with worst = -1. */
rg_cmp rg_test_compare(const rg_tensor *got, const rg_tensor *want, double atol, double rtol);
/* Same, returning only the worst error ratio (> 1 fails) and its index. */
double rg_test_max_err(const rg_tensor *got, const rg_tensor *want, double atol, double rtol,
                       int64_t *worst_index);

/* ---- the programs as a user runs them (subprocesses of the built binaries) ----
 * A suite's private folder (/tmp/rg_NAME_XXXXXX: rg_suite_open in the
 * TestSuite's .init, rg_suite_close in its .fini, which removes it) and the
 * last run's output. */
extern char rg_suite_dir[256];
extern char rg_out[1 << 17], rg_err[1 << 16];
void rg_suite_open(const char *name);
void rg_suite_close(void);
/* rg_suite_dir/name, in a ring of 8 buffers */
const char *rg_suite_path(const char *name);
/* The file's first n-1 bytes, NUL-terminated ("" when it cannot be read). */
void rg_slurp(const char *path, char *buf, size_t n);
/* "RG_BUILD_DIR/examples/PROG ARGS" (args: fmt, ap) with stdin from the file in
 * (NULL: /dev/null): its exit status, or 128 + the signal that ended it;
 * stdout in rg_out, stderr in rg_err. */
int rg_run_program(const char *prog, const char *in, const char *fmt, va_list ap);

#endif
