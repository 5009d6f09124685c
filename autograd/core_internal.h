/* Private to autograd/: the tape's layout and the error plumbing shared by
 * tensor.c, tape.c and gradcheck.c. */
#ifndef RG_CORE_INTERNAL_H
#define RG_CORE_INTERNAL_H

#include "rg_core.h"

#define RG_ALIGN 64
#define RG_ERRLEN 512
#define RG_MAX_DEFERRED 16
#define RG_MAX_SLOTS 16

/* An always-on invariant check: a broken one is a bug in retrograd itself. */
#define RG_ASSERT(c)                                                                  \
    do {                                                                              \
        if (!(c)) rg_internal_abort(__FILE__, __LINE__, #c);                          \
    } while (0)
_Noreturn void rg_internal_abort(const char *file, int line, const char *cond);

typedef struct rg_chunk {
    struct rg_chunk *next;
    size_t cap, used;
    char *base; /* 64-byte aligned start inside the allocation */
} rg_chunk;

struct rg_tape {
    rg_chunk *chunks;      /* current chunk first */
    size_t arena_used;     /* bytes handed out since reset */
    size_t arena_cap;      /* sum of chunk capacities */
    rg_entry *entries;
    size_t n_entries, cap_entries;
    uint32_t gen;
    bool failed;
    bool grad_enabled, anomaly, training;
    char err[RG_ERRLEN];
    struct {
        void (*fn)(rg_tape *, void *);
        void *ctx;
    } deferred[RG_MAX_DEFERRED];
    int n_deferred;
    struct {
        const void *key;
        void *value;
    } slots[RG_MAX_SLOTS];
    /* Private gradients of persistent tensors (open addressing, pointer keys):
     * lets several tapes run backward over the same parameters at once. */
    bool private_grads;
    struct rg_pgrad {
        rg_tensor *t;
        void *g;
    } *pg;
    size_t pg_cap, pg_n;
    /* rg_tape_watch_grads: sorted by pointer; `first` is the earliest entry
     * reading the tensor in this sweep (-1: none), `order` the watched by
     * first, latest first, `next` the sweep's place in it */
    struct rg_watch {
        const rg_tensor *t;
        int i;
        int32_t first;
        bool held, passed, fired;
    } *watch;
    int n_watch, next_watch;
    struct rg_watch **watch_order;
    void (*watch_fn)(void *user, int i);
    void *watch_user;
};

/* Records msg as the tape's error (first one wins) and as the thread's last error. */
void rg_tape_fail(rg_tape *tp, const char *msg);
void rg_error_set_msg(const char *msg);
/* For the quiet return of a call on a tape that already failed: repeats the
 * tape's first error as the thread's last error (which another call, or another
 * thread's run of the tape, may have changed), so rg_last_error() explains every
 * NULL and -1 the caller gets.  true when the tape has failed. */
static inline bool rg_tape_failed_again(rg_tape *tp) {
    if (!tp->failed) return false;
    rg_error_set_msg(tp->err);
    return true;
}
/* rg_tensor_new on behalf of the public function fn, which messages name. */
rg_tensor *rg_tensor_new_as(const char *fn, rg_tape *tp, rg_dtype dt, int rank,
                            const int64_t *shape);
uint32_t rg_next_gen(void);
bool rg_all_finite(const rg_tensor *t, const void *buf);

#endif
