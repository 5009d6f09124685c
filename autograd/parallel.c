/* rg_parallel_run: fan a function out over n threads and join them.  The
 * caller's thread runs part 0, so n = 1 costs nothing.  Either every part runs
 * exactly once or none does: the started threads wait at a gate until all n
 * have started, and leave without running when one could not. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0 waiting, 1 run, -1 abandon */
} gate;

typedef struct part {
    void (*fn)(int k, void *user);
    void *user;
    int k;
    gate *g;
} part;

static void *run_part(void *arg) {
    part *p = arg;
    pthread_mutex_lock(&p->g->mu);
    while (p->g->state == 0) pthread_cond_wait(&p->g->cv, &p->g->mu);
    int state = p->g->state;
    pthread_mutex_unlock(&p->g->mu);
    if (state > 0) p->fn(p->k, p->user);
    return NULL;
}

static void gate_open(gate *g, int state) {
    pthread_mutex_lock(&g->mu);
    g->state = state;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

int rg_parallel_run(int n, void (*fn)(int k, void *user), void *user) {
    enum { MAX_THREADS = 64 };
    if (!fn) {
        rg_set_error("rg_parallel_run: fn is NULL");
        return -1;
    }
    if (n < 1 || n > MAX_THREADS) {
        rg_set_error("rg_parallel_run: %d threads (1..%d)", n, MAX_THREADS);
        return -1;
    }
    if (n == 1) {
        fn(0, user);
        return 0;
    }
    pthread_t th[MAX_THREADS];
    part parts[MAX_THREADS];
    gate g = {.state = 0};
    if (pthread_mutex_init(&g.mu, NULL) != 0) {
        rg_set_error("rg_parallel_run: cannot create a mutex");
        return -1;
    }
    if (pthread_cond_init(&g.cv, NULL) != 0) {
        pthread_mutex_destroy(&g.mu);
        rg_set_error("rg_parallel_run: cannot create a condition variable");
        return -1;
    }
    int started = 1, err = 0;
    for (int k = 1; k < n; ++k) {
        parts[k] = (part){fn, user, k, &g};
        err = pthread_create(&th[k], NULL, run_part, &parts[k]);
        if (err != 0) break;
        started = k + 1;
    }
    gate_open(&g, started == n ? 1 : -1);
    if (started == n) fn(0, user);
    for (int k = 1; k < started; ++k) pthread_join(th[k], NULL);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
    if (started < n) {
        rg_set_error("rg_parallel_run: could not start thread %d of %d (%s); no part ran",
                     started, n, strerror(err));
        return -1;
    }
    return 0;
}
