/* retrograd core: tensors, the tape (arena + entries), backward, errors, RNG,
 * the op descriptor that every op (built-in or user-defined) fills in, and
 * gradient checking.  Included through <retrograd.h>; nothing here knows any op.
 *
 * Memory model
 *   - A *persistent* tensor (parameters, carried state) is made with tape == NULL,
 *     lives on the heap until rg_tensor_free(), and keeps its gradient across steps.
 *   - A *step* tensor is made on a tape; its data, its gradient and the tape entry
 *     that produced it live in the tape's arena until rg_tape_reset().  A steady
 *     training loop therefore calls malloc only while the arena is still growing.
 *
 * Errors
 *   Every function that can fail returns NULL or a negative status and records a
 *   message naming the function and the operands ("rg_matmul: inner dimensions
 *   differ: a [3,4], b [5,2]").  One place to read it: rg_last_error(), the
 *   calling thread's latest message, set by every failing call, with a tape or
 *   without (files, models, a NULL tape, rg_get out of range):
 *
 *       if (!loss || rg_backward(tp, loss) != 0) fprintf(stderr, "%s\n", rg_last_error());
 *
 *   A tape also keeps its first error (rg_tape_error()); every later call on that
 *   tape returns NULL or -1 at once and repeats that first error as the thread's
 *   last error, so rg_last_error() explains the NULL the caller got even when the
 *   tape failed in another thread or something else failed in between.  An op
 *   given a NULL input returns NULL, so a chain of calls can be checked once at
 *   the end.  The library never prints and never exits.
 */
#ifndef RG_CORE_H
#define RG_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RG_MAX_RANK 4
#define RG_MAX_OUT 4

typedef enum rg_dtype {
    RG_F32 = 0,
    RG_F64 = 1,
    RG_I32 = 2 /* indices: embedding ids, class targets; never differentiable */
} rg_dtype;

enum {
    RG_REQUIRES_GRAD = 1u << 0,
    RG_PERSISTENT = 1u << 1, /* heap-owned, outlives tape resets */
    RG_VIEW = 1u << 2        /* data borrowed from another tensor */
};

/* Dense, contiguous, row-major.  Fields are public for reading; change them only
 * through the functions below. */
typedef struct rg_tensor {
    rg_dtype dtype;
    int rank;                    /* 0..RG_MAX_RANK */
    int64_t shape[RG_MAX_RANK];  /* unused trailing dims are 1 */
    int64_t numel;
    void *data;
    void *grad;                  /* same dtype and numel as data; NULL until needed */
    uint32_t flags;
    int32_t node;                /* index of the tape entry that produced it, -1 for a leaf */
    uint32_t gen;                /* tape generation it was made in (step tensors) */
    /* A contiguous view (reshape, a slice of whole rows) set by its op's forward:
     * data == base->data + base_offset elements, and its gradient is the same
     * window of base's gradient (rg_grad allocates base's), so the view op's
     * backward has nothing to add. */
    struct rg_tensor *base;
    int64_t base_offset;
} rg_tensor;

typedef struct rg_tape rg_tape;
typedef struct rg_entry rg_entry;

/* Small per-call attributes of an op (axis, exponent, clamp bounds, slice ...),
 * copied into the entry. */
typedef struct rg_attr {
    double f[4];
    int64_t i[8];
} rg_attr;

/* One row of the op table.  forward computes e->out[] from e->in[]; backward adds
 * (+=) into the gradients of the inputs, obtained with rg_grad(), from the output
 * gradients e->out[k]->grad (NULL when that output received no gradient).
 * shape checks the inputs and fills e->out[k]->dtype/rank/shape, or returns -1
 * after rg_op_error(). */
typedef struct rg_op {
    const char *name;
    int n_in;   /* number of inputs, or -1 for "one or more" */
    int n_out;  /* 1..RG_MAX_OUT */
    int (*shape)(rg_tape *tp, rg_entry *e);
    void (*forward)(rg_tape *tp, rg_entry *e);
    void (*backward)(rg_tape *tp, rg_entry *e); /* NULL: differentiating it is an error */
    /* The same backward written with differentiable ops, for gradients of
     * gradients (rg_autograd with create_graph): from the output gradients
     * dout[k] (tensors on tp, NULL when output k got none) it sets din[i] to
     * input i's gradient as a tensor on tp (NULL: none).  e is a copy of the
     * entry.  0, or -1 with the tape's error set.  NULL: the op cannot be
     * differentiated twice (rg_autograd says so, naming it). */
    int (*backward_graph)(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                          rg_tensor **din);
} rg_op;

struct rg_entry {
    const rg_op *op;
    int n_in, n_out;
    rg_tensor **in;              /* arena array of n_in pointers */
    rg_tensor *out[RG_MAX_OUT];
    rg_attr attr;
    void *saved;                 /* whatever forward keeps for backward (arena) */
};

/* ---- errors -------------------------------------------------------------- */
/* The calling thread's latest error message, "" if none (see Errors above):
 * the one place to read why a call returned NULL or -1.  A successful call
 * leaves it as it was; rg_clear_error() empties it. */
const char *rg_last_error(void);
void rg_clear_error(void);
/* Sets the thread's last error (for library code outside a tape: files, models). */
void rg_set_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* ---- the tape ------------------------------------------------------------ */
rg_tape *rg_tape_new(void);
void rg_tape_free(rg_tape *tp);
/* Drops every entry and step tensor at once; keeps the arena's memory for reuse
 * and clears the tape's error. */
void rg_tape_reset(rg_tape *tp);
/* The tape's first error (which rg_last_error() also shows after every failed
 * call on the tape); NULL when the tape is fine. */
const char *rg_tape_error(const rg_tape *tp);
size_t rg_tape_entries(const rg_tape *tp);
/* The i-th recorded entry (i < rg_tape_entries), valid until the next op is
 * recorded (the array may move) or the tape is reset. */
const rg_entry *rg_tape_entry(const rg_tape *tp, size_t i);
size_t rg_tape_arena_bytes(const rg_tape *tp);  /* bytes handed out since reset */
size_t rg_tape_arena_capacity(const rg_tape *tp);
bool rg_tape_grad_enabled(const rg_tape *tp);
bool rg_tape_set_grad_enabled(rg_tape *tp, bool on);  /* returns previous */
void rg_tape_set_anomaly(rg_tape *tp, bool on);
void rg_tape_set_training(rg_tape *tp, bool on);      /* dropout: identity when off */
bool rg_tape_training(const rg_tape *tp);
/* 64-byte aligned scratch from the arena, valid until reset (NULL + error on failure). */
void *rg_tape_alloc(rg_tape *tp, size_t bytes);

/* ---- tensors ------------------------------------------------------------- */
size_t rg_dtype_size(rg_dtype dt);
const char *rg_dtype_name(rg_dtype dt);
/* tape == NULL: persistent (free with rg_tensor_free); else a step tensor. */
rg_tensor *rg_tensor_new(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape);
rg_tensor *rg_zeros(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape);
rg_tensor *rg_ones(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape);
rg_tensor *rg_full(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape, double v);
/* data: numel values of type double (converted to dt). */
rg_tensor *rg_from_doubles(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape,
                           const double *data);
/* data: numel values already in dt's representation (float, double or int32_t). */
rg_tensor *rg_from_data(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape,
                        const void *data);
rg_tensor *rg_scalar(rg_tape *tp, rg_dtype dt, double v);
void rg_tensor_free(rg_tensor *t);        /* persistent tensors only; NULL is fine */
/* A persistent copy of t's values (no history). */
rg_tensor *rg_tensor_clone(const rg_tensor *t);
/* Copies src's values into dst (same numel, float dtypes converted); -1 on mismatch. */
int rg_tensor_copy(rg_tensor *dst, const rg_tensor *src);
void rg_set_requires_grad(rg_tensor *t, bool on);
bool rg_requires_grad(const rg_tensor *t);
/* Element access by flat (row-major) index.  t NULL or an index outside
 * [0, numel) is an error, not an abort: rg_get and rg_grad_get return NaN,
 * rg_set returns -1 (else 0), and rg_last_error() names the function, the index
 * and the shape ("rg_get: index 6 out of range for a [2,3] tensor (6 elements)"). */
double rg_get(const rg_tensor *t, int64_t flat_index);        /* value as double */
int rg_set(rg_tensor *t, int64_t flat_index, double v);       /* I32: truncated */
double rg_grad_get(const rg_tensor *t, int64_t flat_index);   /* 0 when no grad */
void rg_zero_grad(rg_tensor *t);
/* Flat index of t's first NaN or Inf value; -1 when every value is finite
 * (always for I32, for t NULL and for a tensor without data). */
int64_t rg_tensor_find_nonfinite(const rg_tensor *t);
/* "[3,4]" into buf (at least 64 bytes); returns buf. */
char *rg_shape_str(const rg_tensor *t, char *buf, size_t n);
bool rg_same_shape(const rg_tensor *a, const rg_tensor *b);
/* Prints "name [shape] dtype = values" with %.12g to f. */
void rg_tensor_print(FILE *f, const char *name, const rg_tensor *t);

/* Convenience: rg_zeros(tp, RG_F64, RG_DIMS(3, 4)) */
#define RG_DIMS(...) \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

/* ---- random numbers: xoshiro256** seeded by splitmix64; same on every machine */
typedef struct rg_rng {
    uint64_t s[4];
} rg_rng;
void rg_rng_seed(rg_rng *r, uint64_t seed);
uint64_t rg_rng_next(rg_rng *r);
double rg_rng_uniform(rg_rng *r);            /* [0, 1) with 53 random bits */
double rg_rng_normal(rg_rng *r);             /* Box-Muller, standard normal */
int64_t rg_rng_below(rg_rng *r, int64_t n);  /* uniform integer in [0, n) */
rg_tensor *rg_uniform(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape,
                      double lo, double hi, rg_rng *r);
rg_tensor *rg_normal(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape,
                     double mean, double std, rg_rng *r);

/* ---- applying ops -------------------------------------------------------- */
/* Runs op on n_in inputs: checks them, allocates the outputs on the tape,
 * computes forward and, when grad mode is on and an input requires a gradient,
 * records an entry.  Returns the first output (NULL on error).  This is how
 * built-in ops and user ops alike are run. */
rg_tensor *rg_apply(rg_tape *tp, const rg_op *op, int n_in, rg_tensor *const *in,
                    const rg_attr *attr);
/* Same, all outputs into out[0..op->n_out-1] (the convention of every op with
 * several outputs); returns 0 or -1, and on error every out[k] is NULL. */
int rg_apply_multi(rg_tape *tp, const rg_op *op, int n_in, rg_tensor *const *in,
                   const rg_attr *attr, rg_tensor **out);
/* Records a formatted error (for shape rules): the thread's last error, and the
 * tape's error unless it already has one (the first wins).  Returns -1. */
int rg_op_error(rg_tape *tp, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The gradient buffer of t, allocated and zeroed on first use (arena for step
 * tensors); NULL when t does not require a gradient.  For backward functions;
 * rg_grad(NULL, t) gives a persistent tensor's own t->grad. */
void *rg_grad(rg_tape *tp, rg_tensor *t);
/* For a backward rule that writes every element of an input's gradient: the
 * same buffer, but when it is new this sweep (a step tensor's first gradient)
 * it is left unzeroed and *fresh is true: the rule then assigns (=) every
 * element instead of adding (+=), which saves zeroing and reading it. */
void *rg_grad_fresh(rg_tape *tp, rg_tensor *t, bool *fresh);

/* Op registry by name (uthash).  Built-in ops are registered on first use of
 * the registry; a user may register their own. */
int rg_op_register(const rg_op *op);               /* -1 when the name is taken */
const rg_op *rg_op_find(const char *name);         /* NULL (and a message) when absent */
/* Calls fn for every registered op, in name order. */
void rg_op_foreach(void (*fn)(const rg_op *op, void *user), void *user);
/* Filled by ops/ at start-up; the core calls it once. */
void rg_ops_register_builtin(void);

/* For backward rules that batch work across entries (a weight used at every
 * time step gets its gradient from one GEMM over all steps): fn(tp, ctx) runs
 * once when the current backward sweep ends, before rg_backward returns, in
 * registration order.  Valid only inside a backward rule.  0 or -1. */
int rg_tape_defer(rg_tape *tp, void (*fn)(rg_tape *tp, void *ctx), void *ctx);
/* A pointer-sized slot of the tape owned by `key` (an op row, say), NULL after
 * rg_tape_new and rg_tape_reset: where a backward rule finds its deferred work. */
void **rg_tape_slot(rg_tape *tp, const void *key);

/* Gradients as they become final, for work that overlaps the rest of the
 * sweep (a gradient exchange between processes, say).  Watches the n
 * persistent tensors watched[0..n-1] (the array is copied; n = 0 stops
 * watching): during rg_backward and rg_backward_seed on this tape, fn(user, i)
 * runs, on the sweeping thread, once the gradient of watched[i] is final for
 * the sweep: after the earliest entry that reads it has run its backward rule
 * and after any work deferred on it (rg_tape_hold_grad) is released.  A watched
 * tensor the sweep never reaches is not reported.  0 or -1. */
int rg_tape_watch_grads(rg_tape *tp, rg_tensor *const *watched, int n,
                        void (*fn)(void *user, int i), void *user);
/* For backward rules that add to a leaf's gradient after the sweep has passed
 * it (rg_tape_defer): hold keeps its readiness back, release (once the deferred
 * work has added its part) gives it.  No effect on a tensor not watched. */
void rg_tape_hold_grad(rg_tape *tp, const rg_tensor *t);
void rg_tape_release_grad(rg_tape *tp, const rg_tensor *t);

/* Private gradients, for data parallelism: with this on, the gradients of
 * persistent tensors (parameters) that backward on this tape computes go to
 * buffers of the tape instead of t->grad, so several threads, each with its own
 * tape, can run forward and backward over the same parameters at once (the
 * parameters' values are only read).  rg_tape_reduce_grads then adds them into
 * t->grad; call it from one thread at a time.  Both return 0 or -1. */
int rg_tape_set_private_grads(rg_tape *tp, bool on);
int rg_tape_reduce_grads(rg_tape *tp);
/* The tape's private gradient buffer of persistent tensor t (numel values of
 * t's dtype), or NULL when no gradient reached t since the last reset (or the
 * tape keeps no private gradients).  Read it after rg_backward, before the
 * next rg_tape_reset. */
const void *rg_tape_private_grad(const rg_tape *tp, const rg_tensor *t);

/* Runs fn(0, user) ... fn(n-1, user) on n threads (the caller's thread runs
 * fn(0)) and waits for all of them.  0, or -1 (with a message) when it cannot
 * run: fn NULL, n outside 1..64, or a thread that could not start; then no
 * part has run. */
int rg_parallel_run(int n, void (*fn)(int k, void *user), void *user);

/* ---- backward ------------------------------------------------------------ */
/* Reverse sweep from a scalar loss (its gradient seeded with 1).  Gradients of
 * every tensor that requires one accumulate (+=).  0 or -1. */
int rg_backward(rg_tape *tp, rg_tensor *loss);
/* Same from any tensor, with a seed gradient of the same shape. */
int rg_backward_seed(rg_tape *tp, rg_tensor *t, const rg_tensor *seed);
/* A step tensor sharing t's values, cut from its history. */
rg_tensor *rg_detach(rg_tape *tp, rg_tensor *t);

/* ---- gradient checking (float64 central differences) --------------------- */
/* Builds a scalar from inputs on tape tp. */
typedef rg_tensor *(*rg_gradcheck_fn)(rg_tape *tp, rg_tensor *const *inputs, int n,
                                      void *user);
typedef struct rg_gradcheck_opts {
    double eps;       /* step, default 1e-6 */
    double atol;      /* default 1e-5 */
    double rtol;      /* default 1e-3 */
    double rel_floor; /* rel error = |a-n| / max(|a|,|n|,rel_floor); default 1e-2 */
    FILE *report;     /* when set, a readable report is printed there */
    const char *label;
} rg_gradcheck_opts;
typedef struct rg_gradcheck_result {
    double max_abs_err;
    double max_rel_err;
    int worst_input;       /* input of the element with the largest rel error */
    int64_t worst_index;   /* flat index of that element */
    double worst_analytic, worst_numeric;
    int64_t n_checked;
    bool pass;             /* every element: |a-n| <= atol + rtol*|n| */
} rg_gradcheck_result;
void rg_gradcheck_defaults(rg_gradcheck_opts *o);
/* inputs: persistent float64 tensors; those that require a gradient are checked
 * element by element.  Returns 0 when it ran (see res->pass), -1 on error. */
int rg_gradcheck(rg_gradcheck_fn fn, int n, rg_tensor *const *inputs, void *user,
                 const rg_gradcheck_opts *opts, rg_gradcheck_result *res);

/* ---- a picture of the tape (Graphviz DOT) --------------------------------- */
/* What rg_tape_dot draws.  The tape knows no names: name (optional) gives a
 * leaf's label, e.g. rg_params_tensor_name with user = the registry, which
 * names parameters "rnn.weight_hh_l0"; NULL from it (or no callback) labels a
 * leaf "param" (it requires a gradient) or "input". */
typedef struct rg_dot_opts {
    size_t max_entries;  /* draw only the first K entries (0: all) */
    const char *(*name)(const rg_tensor *t, void *user);
    void *user;
    const char *title;   /* the graph's label (NULL: none) */
} rg_dot_opts;
/* Writes the recorded entries as a DOT digraph: one box per entry (its op's
 * name and output shapes), one node per leaf it reads (a parameter, a
 * constant input), an edge per input.  Only recorded entries appear: ops on
 * inputs that need no gradient (or on a tape with gradients off) are not on
 * the tape.  opts may be NULL (everything, default labels).  0, or -1 with a
 * message (a NULL tape or file, a write error). */
int rg_tape_dot(const rg_tape *tp, FILE *f, const rg_dot_opts *opts);

/* ---- threads and BLAS ------------------------------------------------------ */
void rg_set_threads(int n);
int rg_get_threads(void);
const char *rg_blas_name(void);   /* "openblas" or "builtin" */
/* OpenBLAS's kernel for this CPU (openblas_get_corename(): "Haswell",
 * "SkylakeX", ...), or "builtin". */
const char *rg_blas_core(void);

/* ---- kernel variants -----------------------------------------------------------
 * The default build carries the hot loops (activations, fused gates, elementwise
 * ops, reductions, softmax and losses, optimizers, clipping, the built-in GEMM)
 * compiled for baseline x86-64, AVX2+FMA and AVX-512, and runs the best the CPU
 * has; the environment variable RG_KERNELS=baseline|avx2+fma|avx512 at start
 * chooses a lower one.  The variants compute the same values up to rounding
 * (the float32 activations of ops/fastmath.h: a few ulp).  A -Dnative=true
 * build has one variant, "native"; a build for another CPU family, "baseline". */
const char *rg_cpu_kernels(void);    /* the variant in use: "avx512", "avx2+fma", ... */
/* The k-th variant this build and CPU can run, from 0 ("baseline"), or NULL. */
const char *rg_cpu_variant(int k);
/* Runs the variant named from now on (NULL or "auto": the best); -1 when the
 * name is unknown or the CPU lacks it.  For tests and benchmarks: call it while
 * no other thread runs the library. */
int rg_cpu_force(const char *name);

#ifdef __cplusplus
}
#endif
#endif
