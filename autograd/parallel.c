/* rg_parallel_run: fan a function out over n threads and join them.  The
 * caller's thread runs part 0, so n = 1 costs nothing. */
#include <pthread.h>
#include <stdlib.h>

#include "core_internal.h"

typedef struct part {
    void (*fn)(int k, void *user);
    void *user;
    int k;
} part;

static void *run_part(void *arg) {
    part *p = arg;
    p->fn(p->k, p->user);
    return NULL;
}

int rg_parallel_run(int n, void (*fn)(int k, void *user), void *user) {
    enum { MAX_THREADS = 64 };
    if (n < 1 || n > MAX_THREADS) {
        rg_set_error("rg_parallel_run: %d threads (1..%d)", n, MAX_THREADS);
        return -1;
    }
    pthread_t th[MAX_THREADS];
    part parts[MAX_THREADS];
    int started = 1, rc = 0;
    for (int k = 1; k < n; ++k) {
        parts[k] = (part){fn, user, k};
        if (pthread_create(&th[k], NULL, run_part, &parts[k]) != 0) {
            rc = -1;
            break;
        }
        started = k + 1;
    }
    /* Parts that got no thread run here, so every part runs exactly once. */
    for (int k = started; k < n; ++k) fn(k, user);
    fn(0, user);
    for (int k = 1; k < started; ++k) pthread_join(th[k], NULL);
    if (rc < 0) rg_set_error("rg_parallel_run: could not start a thread; ran its part inline");
    return 0;
}
