/* The tape: a bump arena for everything that lives one step, the append-only
 * array of entries (already a topological order), rg_apply, and backward as a
 * plain reverse loop (no recursion, so 10^6 entries are fine). */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "rg_kernel.h"

#define RG_FIRST_CHUNK ((size_t)1 << 20)

static atomic_uint g_gen = 1;
uint32_t rg_next_gen(void) { return atomic_fetch_add(&g_gen, 1u); }

void rg_tape_fail(rg_tape *tp, const char *msg) {
    /* msg may be rg_last_error() or tp->err itself: copy it before either is written. */
    char copy[RG_ERRLEN];
    snprintf(copy, sizeof copy, "%s", msg ? msg : "");
    rg_error_set_msg(copy);
    if (tp && !tp->failed) {
        tp->failed = true;
        memcpy(tp->err, copy, sizeof copy);
    }
}

int rg_op_error(rg_tape *tp, const char *fmt, ...) {
    char msg[RG_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rg_tape_fail(tp, msg);
    return -1;
}

/* ---- arena ---------------------------------------------------------------- */

static rg_chunk *chunk_new(size_t cap) {
    rg_chunk *c = malloc(sizeof *c + cap + RG_ALIGN);
    if (!c) return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    uintptr_t p = (uintptr_t)(c + 1);
    c->base = (char *)((p + RG_ALIGN - 1) & ~(uintptr_t)(RG_ALIGN - 1));
    return c;
}

static void chunks_free(rg_chunk *c) {
    while (c) {
        rg_chunk *n = c->next;
        free(c);
        c = n;
    }
}

void *rg_tape_alloc(rg_tape *tp, size_t bytes) {
    if (!tp) {
        rg_set_error("rg_tape_alloc: tape is NULL");
        return NULL;
    }
    /* Beyond this, rounding up (or doubling a chunk up to it) would wrap. */
    if (bytes > SIZE_MAX / 4) {
        rg_op_error(tp, "rg_tape_alloc: %zu bytes is more than an arena can hold", bytes);
        return NULL;
    }
    bytes = (bytes + RG_ALIGN - 1) & ~(size_t)(RG_ALIGN - 1);
    rg_chunk *c = tp->chunks;
    if (!c || c->cap - c->used < bytes) {
        size_t cap = c ? c->cap * 2 : RG_FIRST_CHUNK;
        while (cap < bytes) cap *= 2;
        rg_chunk *n = chunk_new(cap);
        if (!n) {
            rg_op_error(tp, "rg_tape_alloc: out of memory (%zu bytes)", bytes);
            return NULL;
        }
        n->next = c;
        tp->chunks = c = n;
        tp->arena_cap += cap;
    }
    void *p = c->base + c->used;
    c->used += bytes;
    tp->arena_used += bytes;
    return p;
}

/* ---- the tape --------------------------------------------------------------- */

rg_tape *rg_tape_new(void) {
    rg_tape *tp = calloc(1, sizeof *tp);
    if (!tp) {
        rg_set_error("rg_tape_new: out of memory");
        return NULL;
    }
    tp->grad_enabled = true;
    tp->training = true;
    tp->gen = rg_next_gen();
    return tp;
}

void rg_tape_free(rg_tape *tp) {
    if (!tp) return;
    chunks_free(tp->chunks);
    free(tp->entries);
    free(tp->pg);
    free(tp->watch);
    free(tp->watch_order);
    free(tp);
}

void rg_tape_reset(rg_tape *tp) {
    /* Several chunks mean the step outgrew the arena: replace them by one chunk
     * of the total size, so the next identical step allocates nothing. */
    if (tp->chunks && tp->chunks->next) {
        size_t cap = tp->arena_cap;
        chunks_free(tp->chunks);
        tp->chunks = chunk_new(cap);
        tp->arena_cap = tp->chunks ? cap : 0;
    }
    if (tp->chunks) tp->chunks->used = 0;
    tp->arena_used = 0;
    tp->n_entries = 0;
    tp->failed = false;
    tp->err[0] = '\0';
    tp->gen = rg_next_gen();
    tp->n_deferred = 0;
    memset(tp->slots, 0, sizeof tp->slots);
    if (tp->pg_n) memset(tp->pg, 0, tp->pg_cap * sizeof *tp->pg);
    tp->pg_n = 0;
}

int rg_tape_defer(rg_tape *tp, void (*fn)(rg_tape *, void *), void *ctx) {
    if (!tp || !fn) {
        rg_op_error(tp, "rg_tape_defer: %s is NULL", tp ? "the function" : "the tape");
        return -1;
    }
    if (tp->n_deferred == RG_MAX_DEFERRED)
        return rg_op_error(tp, "rg_tape_defer: more than %d deferred tasks in one sweep",
                           RG_MAX_DEFERRED);
    tp->deferred[tp->n_deferred].fn = fn;
    tp->deferred[tp->n_deferred].ctx = ctx;
    tp->n_deferred++;
    return 0;
}

void **rg_tape_slot(rg_tape *tp, const void *key) {
    for (int i = 0; i < RG_MAX_SLOTS; ++i) {
        if (tp->slots[i].key == key) return &tp->slots[i].value;
        if (!tp->slots[i].key) {
            tp->slots[i].key = key;
            tp->slots[i].value = NULL;
            return &tp->slots[i].value;
        }
    }
    RG_ASSERT(!"more than RG_MAX_SLOTS tape slots in use");
    return NULL;
}

/* ---- gradients as they become final ----------------------------------------- */

static int watch_by_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)((const struct rg_watch *)a)->t;
    uintptr_t y = (uintptr_t)((const struct rg_watch *)b)->t;
    return (x > y) - (x < y);
}

static int watch_latest_first(const void *a, const void *b) {
    int32_t x = (*(struct rg_watch *const *)a)->first, y = (*(struct rg_watch *const *)b)->first;
    return (x < y) - (x > y);
}

static struct rg_watch *watch_find(const rg_tape *tp, const rg_tensor *t) {
    if (!tp || !tp->n_watch) return NULL;
    struct rg_watch key = {.t = t};
    return bsearch(&key, tp->watch, (size_t)tp->n_watch, sizeof key, watch_by_ptr);
}

int rg_tape_watch_grads(rg_tape *tp, rg_tensor *const *watched, int n,
                        void (*fn)(void *user, int i), void *user) {
    if (!tp) {
        rg_set_error("rg_tape_watch_grads: tape is NULL");
        return -1;
    }
    if (n < 0 || (n > 0 && (!watched || !fn)))
        return rg_op_error(tp, "rg_tape_watch_grads: %s",
                           n < 0 ? "n is negative"
                           : !watched ? "the tensors are NULL" : "the function is NULL");
    for (int i = 0; i < n; ++i)
        if (!watched[i] || !(watched[i]->flags & RG_PERSISTENT))
            return rg_op_error(tp, "rg_tape_watch_grads: tensor %d is %s", i,
                               watched[i] ? "not persistent (not a parameter)" : "NULL");
    struct rg_watch *w = n ? calloc((size_t)n, sizeof *w) : NULL;
    struct rg_watch **order = n ? calloc((size_t)n, sizeof *order) : NULL;
    if (n && (!w || !order)) {
        free(w);
        free(order);
        return rg_op_error(tp, "rg_tape_watch_grads: out of memory for %d tensors", n);
    }
    for (int i = 0; i < n; ++i) w[i] = (struct rg_watch){.t = watched[i], .i = i, .first = -1};
    if (n) qsort(w, (size_t)n, sizeof *w, watch_by_ptr);
    for (int i = 1; i < n; ++i)
        if (w[i].t == w[i - 1].t) {
            int a = w[i - 1].i, b = w[i].i;
            free(w);
            free(order);
            return rg_op_error(tp, "rg_tape_watch_grads: tensors %d and %d are the same", a, b);
        }
    free(tp->watch);
    free(tp->watch_order);
    tp->watch = w;
    tp->watch_order = order;
    tp->n_watch = n;
    tp->next_watch = n;
    tp->watch_fn = fn;
    tp->watch_user = user;
    return 0;
}

static void watch_fire(rg_tape *tp, struct rg_watch *w) {
    if (w->fired) return;
    w->fired = true;
    tp->watch_fn(tp->watch_user, w->i);
}

void rg_tape_hold_grad(rg_tape *tp, const rg_tensor *t) {
    struct rg_watch *w = watch_find(tp, t);
    if (w && !w->fired) w->held = true;
}

void rg_tape_release_grad(rg_tape *tp, const rg_tensor *t) {
    struct rg_watch *w = watch_find(tp, t);
    if (!w || !w->held) return;
    w->held = false;
    if (w->passed) watch_fire(tp, w);
}

/* Before a sweep from entry `top`: the earliest reader of every watched tensor. */
static void watch_begin(rg_tape *tp, int32_t top) {
    if (!tp->n_watch) return;
    for (int k = 0; k < tp->n_watch; ++k) {
        struct rg_watch *w = &tp->watch[k];
        w->first = -1;
        w->held = w->passed = w->fired = false;
        tp->watch_order[k] = w;
    }
    for (int32_t i = 0; i <= top; ++i) {
        const rg_entry *e = &tp->entries[i];
        for (int j = 0; j < e->n_in; ++j) {
            if (e->in[j]->node >= 0) continue;
            struct rg_watch *w = watch_find(tp, e->in[j]);
            if (w && w->first < 0) w->first = i;
        }
    }
    qsort(tp->watch_order, (size_t)tp->n_watch, sizeof *tp->watch_order, watch_latest_first);
    tp->next_watch = 0;
}

/* The sweep is about to run entry i: every watched tensor first read after it is final. */
static void watch_reach(rg_tape *tp, int32_t i) {
    while (tp->next_watch < tp->n_watch && tp->watch_order[tp->next_watch]->first > i) {
        struct rg_watch *w = tp->watch_order[tp->next_watch++];
        w->passed = true;
        if (!w->held) watch_fire(tp, w);
    }
}

/* Runs the work that backward rules deferred to the end of the sweep. */
static void run_deferred(rg_tape *tp) {
    for (int i = 0; i < tp->n_deferred; ++i) tp->deferred[i].fn(tp, tp->deferred[i].ctx);
    tp->n_deferred = 0;
}

const char *rg_tape_error(const rg_tape *tp) { return tp && tp->failed ? tp->err : NULL; }
size_t rg_tape_entries(const rg_tape *tp) { return tp->n_entries; }
const rg_entry *rg_tape_entry(const rg_tape *tp, size_t i) {
    return tp && i < tp->n_entries ? &tp->entries[i] : NULL;
}
size_t rg_tape_arena_bytes(const rg_tape *tp) { return tp->arena_used; }
size_t rg_tape_arena_capacity(const rg_tape *tp) { return tp->arena_cap; }
bool rg_tape_grad_enabled(const rg_tape *tp) { return tp->grad_enabled; }
bool rg_tape_set_grad_enabled(rg_tape *tp, bool on) {
    bool old = tp->grad_enabled;
    tp->grad_enabled = on;
    return old;
}
void rg_tape_set_anomaly(rg_tape *tp, bool on) { tp->anomaly = on; }
void rg_tape_set_training(rg_tape *tp, bool on) { tp->training = on; }
bool rg_tape_training(const rg_tape *tp) { return tp->training; }

/* ---- private gradients ------------------------------------------------------ */

static size_t pg_hash(const rg_tensor *t, size_t cap) {
    uintptr_t k = (uintptr_t)t >> 4;
    return (size_t)((k * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

static int pg_grow(rg_tape *tp) {
    size_t cap = tp->pg_cap ? tp->pg_cap * 2 : 256;
    struct rg_pgrad *n = calloc(cap, sizeof *n);
    if (!n) return rg_op_error(tp, "rg_grad: out of memory");
    for (size_t i = 0; i < tp->pg_cap; ++i)
        if (tp->pg[i].t) {
            size_t h = pg_hash(tp->pg[i].t, cap);
            while (n[h].t) h = (h + 1) & (cap - 1);
            n[h] = tp->pg[i];
        }
    free(tp->pg);
    tp->pg = n;
    tp->pg_cap = cap;
    return 0;
}

/* The tape's private gradient buffer of persistent tensor t (zeroed, arena). */
static void *pg_get(rg_tape *tp, rg_tensor *t) {
    if (tp->pg_n * 2 >= tp->pg_cap && pg_grow(tp) < 0) return NULL;
    size_t h = pg_hash(t, tp->pg_cap);
    while (tp->pg[h].t && tp->pg[h].t != t) h = (h + 1) & (tp->pg_cap - 1);
    if (!tp->pg[h].t) {
        size_t bytes = (size_t)t->numel * rg_dtype_size(t->dtype);
        void *g = rg_tape_alloc(tp, bytes ? bytes : 1);
        if (!g) return NULL;
        memset(g, 0, bytes);
        tp->pg[h].t = t;
        tp->pg[h].g = g;
        tp->pg_n++;
    }
    return tp->pg[h].g;
}

const void *rg_tape_private_grad(const rg_tape *tp, const rg_tensor *t) {
    if (!tp || !t || !tp->private_grads || !tp->pg_cap) return NULL;
    size_t h = pg_hash(t, tp->pg_cap);
    while (tp->pg[h].t && tp->pg[h].t != t) h = (h + 1) & (tp->pg_cap - 1);
    return tp->pg[h].t ? tp->pg[h].g : NULL;
}

int rg_tape_set_private_grads(rg_tape *tp, bool on) {
    if (!tp) {
        rg_set_error("rg_tape_set_private_grads: tape is NULL");
        return -1;
    }
    if (tp->n_entries || tp->pg_n)
        return rg_op_error(tp, "rg_tape_set_private_grads: change it only on an empty tape "
                               "(after rg_tape_new or rg_tape_reset)");
    tp->private_grads = on;
    return 0;
}

/* t->grad of a persistent tensor, allocated (zeroed) on first use. */
static void *persistent_grad(rg_tape *tp, rg_tensor *t) {
    if (!t->grad) {
        size_t bytes = (size_t)t->numel * rg_dtype_size(t->dtype);
        void *p = NULL;
        if (posix_memalign(&p, RG_ALIGN, bytes ? bytes : 1) != 0) {
            rg_op_error(tp, "rg_grad: out of memory (%zu bytes)", bytes);
            return NULL;
        }
        memset(p, 0, bytes);
        t->grad = p;
    }
    return t->grad;
}

/* d[0..n) += g[0..n) in t's float type. */
RG_KERNEL(grad_add, (rg_dtype dt, void *d, const void *g, int64_t n), (dt, d, g, n)) {
    if (dt == RG_F32)
        for (int64_t k = 0; k < n; ++k) ((float *)d)[k] += ((const float *)g)[k];
    else
        for (int64_t k = 0; k < n; ++k) ((double *)d)[k] += ((const double *)g)[k];
}

int rg_tape_reduce_grads(rg_tape *tp) {
    if (!tp) {
        rg_set_error("rg_tape_reduce_grads: tape is NULL");
        return -1;
    }
    if (rg_tape_failed_again(tp)) return -1;
    for (size_t i = 0; i < tp->pg_cap; ++i) {
        rg_tensor *t = tp->pg[i].t;
        if (!t) continue;
        void *dst = persistent_grad(tp, t);
        if (!dst) return -1;
        grad_add(t->dtype, dst, tp->pg[i].g, t->numel);
    }
    return 0;
}

void *rg_grad(rg_tape *tp, rg_tensor *t) {
    if (!(t->flags & RG_REQUIRES_GRAD)) return NULL;
    if (t->flags & RG_PERSISTENT)
        return tp && tp->private_grads ? pg_get(tp, t) : persistent_grad(tp, t);
    if (!tp) return NULL;
    if (!t->grad && t->base) {
        char *g = rg_grad(tp, t->base);
        if (!g) return NULL;
        t->grad = g + (size_t)t->base_offset * rg_dtype_size(t->dtype);
        return t->grad;
    }
    if (!t->grad) {
        size_t bytes = (size_t)t->numel * rg_dtype_size(t->dtype);
        t->grad = rg_tape_alloc(tp, bytes ? bytes : 1);
        if (!t->grad) return NULL;
        memset(t->grad, 0, bytes);
    }
    return t->grad;
}

void *rg_grad_fresh(rg_tape *tp, rg_tensor *t, bool *fresh) {
    *fresh = false;
    if (tp && !t->grad && !t->base && (t->flags & RG_REQUIRES_GRAD) &&
        !(t->flags & RG_PERSISTENT)) {
        size_t bytes = (size_t)t->numel * rg_dtype_size(t->dtype);
        t->grad = rg_tape_alloc(tp, bytes ? bytes : 1);
        *fresh = t->grad != NULL;
        return t->grad;
    }
    return rg_grad(tp, t);
}

/* ---- applying an op ------------------------------------------------------- */

static int push_entry(rg_tape *tp, const rg_entry *e) {
    if (tp->n_entries == tp->cap_entries) {
        size_t cap = tp->cap_entries ? tp->cap_entries * 2 : 4096;
        rg_entry *n = realloc(tp->entries, cap * sizeof *n);
        if (!n) return rg_op_error(tp, "%s: out of memory growing the tape", e->op->name);
        tp->entries = n;
        tp->cap_entries = cap;
    }
    tp->entries[tp->n_entries++] = *e;
    return 0;
}

static int check_inputs(rg_tape *tp, const rg_op *op, int n_in, rg_tensor *const *in) {
    if (op->n_in >= 0 ? n_in != op->n_in : n_in < 1)
        return rg_op_error(tp, "%s: expected %d input(s), got %d", op->name,
                           op->n_in >= 0 ? op->n_in : 1, n_in);
    if (!in) return rg_op_error(tp, "%s: the array of inputs is NULL", op->name);
    for (int i = 0; i < n_in; ++i) {
        const rg_tensor *t = in[i];
        if (!t) return rg_op_error(tp, "%s: input %d is NULL", op->name, i);
        if (!(t->flags & RG_PERSISTENT) && t->gen != tp->gen)
            return rg_op_error(tp,
                               "%s: input %d is a step tensor from another tape or from "
                               "before rg_tape_reset",
                               op->name, i);
    }
    return 0;
}

/* fn is the public entry point (rg_apply or rg_apply_multi), named in the
 * messages about the call itself; an input's problem names the op. */
static int apply(const char *fn, rg_tape *tp, const rg_op *op, int n_in, rg_tensor *const *in,
                 const rg_attr *attr, rg_tensor **out) {
    const char *name = op && op->name ? op->name : "?";
    if (out && op && op->n_out >= 1 && op->n_out <= RG_MAX_OUT) /* stay NULL on every error */
        for (int k = 0; k < op->n_out; ++k) out[k] = NULL;
    if (!tp) {
        rg_set_error("%s: op '%s' needs a tape, got NULL", fn, name);
        return -1;
    }
    if (rg_tape_failed_again(tp)) return -1;
    if (!op || !op->name || op->n_out < 1 || op->n_out > RG_MAX_OUT || !op->shape ||
        !op->forward)
        return rg_op_error(tp, "%s: malformed op row '%s'", fn, name);
    if (!out) return rg_op_error(tp, "%s: op '%s': the array of outputs is NULL", fn, name);
    if (check_inputs(tp, op, n_in, in) < 0) return -1;

    rg_entry e;
    memset(&e, 0, sizeof e);
    e.op = op;
    e.n_in = n_in;
    e.n_out = op->n_out;
    e.in = (rg_tensor **)in;
    if (attr) e.attr = *attr;
    for (int k = 0; k < op->n_out; ++k) {
        rg_tensor *o = rg_tape_alloc(tp, sizeof *o);
        if (!o) return -1;
        memset(o, 0, sizeof *o);
        o->dtype = in[0]->dtype;
        o->node = -1;
        o->gen = tp->gen;
        for (int d = 0; d < RG_MAX_RANK; ++d) o->shape[d] = 1;
        e.out[k] = o;
    }
    if (op->shape(tp, &e) < 0) {
        if (!tp->failed) rg_op_error(tp, "%s: invalid inputs", op->name);
        return -1;
    }
    for (int k = 0; k < op->n_out; ++k) {
        rg_tensor *o = e.out[k];
        int64_t numel = 1;
        for (int d = 0; d < o->rank; ++d) numel *= o->shape[d];
        o->numel = numel;
        /* A view's forward points data at its input's values. */
        if (!(o->flags & RG_VIEW)) {
            o->data = rg_tape_alloc(tp, (size_t)numel * rg_dtype_size(o->dtype) + 1);
            if (!o->data) return -1;
        }
    }

    bool record = false;
    if (tp->grad_enabled)
        for (int i = 0; i < n_in; ++i) record |= (in[i]->flags & RG_REQUIRES_GRAD) != 0;
    if (record) {
        /* The caller's array may be on its stack: keep a copy for backward. */
        e.in = rg_tape_alloc(tp, (size_t)n_in * sizeof(rg_tensor *));
        if (!e.in) return -1;
        memcpy(e.in, in, (size_t)n_in * sizeof(rg_tensor *));
    }
    op->forward(tp, &e);
    if (tp->failed) return -1;

    if (tp->anomaly)
        for (int k = 0; k < op->n_out; ++k)
            if (!rg_all_finite(e.out[k], e.out[k]->data)) {
                char s[64];
                return rg_op_error(tp, "anomaly: op '%s' produced NaN or Inf in forward "
                                       "(output %d, shape %s)",
                                   op->name, k, rg_shape_str(e.out[k], s, sizeof s));
            }
    if (record) {
        int32_t idx = (int32_t)tp->n_entries;
        if (push_entry(tp, &e) < 0) return -1;
        for (int k = 0; k < op->n_out; ++k) {
            if (e.out[k]->dtype == RG_I32) continue;
            e.out[k]->node = idx;
            e.out[k]->flags |= RG_REQUIRES_GRAD;
        }
    }
    for (int k = 0; k < op->n_out; ++k) out[k] = e.out[k];
    return 0;
}

int rg_apply_multi(rg_tape *tp, const rg_op *op, int n_in, rg_tensor *const *in,
                   const rg_attr *attr, rg_tensor **out) {
    return apply("rg_apply_multi", tp, op, n_in, in, attr, out);
}

rg_tensor *rg_apply(rg_tape *tp, const rg_op *op, int n_in, rg_tensor *const *in,
                    const rg_attr *attr) {
    rg_tensor *out[RG_MAX_OUT];
    return apply("rg_apply", tp, op, n_in, in, attr, out) == 0 ? out[0] : NULL;
}

/* ---- backward ------------------------------------------------------------- */

static void add_seed(rg_tensor *t, void *g, const rg_tensor *seed) {
    for (int64_t i = 0; i < t->numel; ++i) {
        double s = seed ? rg_get(seed, i) : 1.0;
        if (t->dtype == RG_F32)
            ((float *)g)[i] += (float)s;
        else
            ((double *)g)[i] += s;
    }
}

/* The sweep of rg_backward (seed NULL) and rg_backward_seed; fn names the caller. */
static int backward(const char *fn, rg_tape *tp, rg_tensor *t, const rg_tensor *seed) {
    char s1[64], s2[64];
    if (!tp) {
        rg_set_error("%s: tape is NULL", fn);
        return -1;
    }
    if (rg_tape_failed_again(tp)) return -1;
    if (!t) return rg_op_error(tp, "%s: tensor is NULL", fn);
    if (!(t->flags & RG_REQUIRES_GRAD))
        return rg_op_error(tp, "%s: tensor %s does not require a gradient "
                               "(no input of its graph requires one, or grad mode was off)",
                           fn, rg_shape_str(t, s1, sizeof s1));
    if (!seed && t->numel != 1)
        return rg_op_error(tp, "%s: tensor %s is not a scalar; give a seed "
                               "gradient with rg_backward_seed",
                           fn, rg_shape_str(t, s1, sizeof s1));
    if (seed && (seed->numel != t->numel || seed->dtype == RG_I32))
        return rg_op_error(tp, "%s: seed %s %s does not match tensor %s", fn,
                           rg_shape_str(seed, s1, sizeof s1), rg_dtype_name(seed->dtype),
                           rg_shape_str(t, s2, sizeof s2));
    if (!(t->flags & RG_PERSISTENT) && t->gen != tp->gen)
        return rg_op_error(tp, "%s: tensor is from another tape or from before "
                               "rg_tape_reset", fn);
    void *g = rg_grad(tp, t);
    if (!g) return -1;
    add_seed(t, g, seed);

    watch_begin(tp, t->node);
    for (int32_t i = t->node; i >= 0; --i) {
        watch_reach(tp, i);
        rg_entry *e = &tp->entries[i];
        bool any = false;
        for (int k = 0; k < e->n_out; ++k) any |= e->out[k]->grad != NULL;
        if (!any) continue;
        if (!e->op->backward)
            return rg_op_error(tp, "rg_backward: op '%s' has no backward rule", e->op->name);
        e->op->backward(tp, e);
        if (tp->failed) {
            tp->n_deferred = 0;
            return -1;
        }
        if (tp->anomaly)
            for (int j = 0; j < e->n_in; ++j) {
                rg_tensor *x = e->in[j];
                if (x->grad && !rg_all_finite(x, x->grad))
                    return rg_op_error(tp,
                                       "anomaly: backward of op '%s' produced NaN or Inf "
                                       "in the gradient of input %d (shape %s)",
                                       e->op->name, j, rg_shape_str(x, s1, sizeof s1));
            }
    }
    watch_reach(tp, -1);
    run_deferred(tp);
    tp->next_watch = tp->n_watch;
    return tp->failed ? -1 : 0;
}

int rg_backward_seed(rg_tape *tp, rg_tensor *t, const rg_tensor *seed) {
    return backward("rg_backward_seed", tp, t, seed);
}

int rg_backward(rg_tape *tp, rg_tensor *loss) { return backward("rg_backward", tp, loss, NULL); }

rg_tensor *rg_detach(rg_tape *tp, rg_tensor *t) {
    if (!t) {
        if (!tp || !rg_tape_failed_again(tp)) rg_op_error(tp, "rg_detach: tensor is NULL");
        return NULL;
    }
    if (!tp) return rg_tensor_clone(t);
    if (rg_tape_failed_again(tp)) return NULL;
    rg_tensor *d = rg_tape_alloc(tp, sizeof *d);
    if (!d) return NULL;
    *d = *t;
    d->grad = NULL;
    d->base = NULL;
    d->node = -1;
    d->flags = RG_VIEW;
    d->gen = tp->gen;
    return d;
}
