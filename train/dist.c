/* Several processes: MPI when the library is built with it (-Dmpi) and the
 * program was started by a launcher (mpirun sets OMPI_COMM_WORLD_SIZE,
 * PMI_SIZE or PMIX_RANK); one process otherwise, where every collective is the
 * identity.  Only the thread that called rg_dist_init calls MPI
 * (MPI_THREAD_FUNNELED). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rg_train.h"

#ifdef RG_HAVE_MPI
#include <mpi.h>
static bool g_mpi;
#endif
static int g_rank, g_size = 1;

bool rg_dist_available(void)
{
#ifdef RG_HAVE_MPI
    return true;
#else
    return false;
#endif
}

int rg_dist_init(int *argc, char ***argv)
{
    bool launched = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") ||
                    getenv("PMIX_RANK");
#ifdef RG_HAVE_MPI
    if (!launched || g_mpi)
        return 0;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        rg_set_error("rg_dist_init: MPI_Init_thread failed");
        return -1;
    }
    g_mpi = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    /* a failing collective aborts the job (a dead rank never leaves the others waiting) */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    return 0;
#else
    (void)argc;
    (void)argv;
    if (launched && getenv("OMPI_COMM_WORLD_SIZE") && atoi(getenv("OMPI_COMM_WORLD_SIZE")) > 1) {
        rg_set_error("rg_dist_init: started by mpirun with %s processes, but this build of "
                     "retrograd has no MPI (rebuild with -Dmpi=enabled)",
                     getenv("OMPI_COMM_WORLD_SIZE"));
        return -1;
    }
    return 0;
#endif
}

void rg_dist_finalize(void)
{
#ifdef RG_HAVE_MPI
    if (g_mpi) {
        /* Every rank here: an orderly end.  A rank that stays away (still
         * waiting in a collective, after a failure only this rank saw) ends
         * the job instead, after a bounded wait. */
        MPI_Request req;
        int done = 0;
        MPI_Ibarrier(MPI_COMM_WORLD, &req);
        for (double t0 = MPI_Wtime(); !done && MPI_Wtime() - t0 < 10.0;) {
            MPI_Test(&req, &done, MPI_STATUS_IGNORE);
            if (!done) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
        }
        if (!done)
            MPI_Abort(MPI_COMM_WORLD, 1);
        MPI_Finalize();
        g_mpi = false;
    }
#endif
    g_rank = 0;
    g_size = 1;
}

void rg_dist_abort(int status)
{
#ifdef RG_HAVE_MPI
    if (g_mpi && g_size > 1)
        MPI_Abort(MPI_COMM_WORLD, status);
#endif
    (void)status;
}

int rg_dist_rank(void)
{
    return g_rank;
}

int rg_dist_size(void)
{
    return g_size;
}

int rg_dist_sum(double *v, int n)
{
#ifdef RG_HAVE_MPI
    if (g_mpi && g_size > 1 && n > 0)
        MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#endif
    (void)v;
    (void)n;
    return 0;
}

int rg_dist_sum_tensor(rg_tensor *t)
{
    if (!t || t->dtype == RG_I32) {
        rg_set_error("rg_dist_sum_tensor: %s", t ? "the tensor is not float" : "tensor is NULL");
        return -1;
    }
#ifdef RG_HAVE_MPI
    if (g_mpi && g_size > 1) {
        size_t es = rg_dtype_size(t->dtype);
        for (int64_t at = 0; at < t->numel;) {
            int chunk = t->numel - at > (1 << 30) ? 1 << 30 : (int)(t->numel - at);
            MPI_Allreduce(MPI_IN_PLACE, (char *)t->data + (size_t)at * es, chunk,
                          t->dtype == RG_F32 ? MPI_FLOAT : MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            at += chunk;
        }
    }
#endif
    return 0;
}

int rg_dist_broadcast(void *data, int64_t bytes, int root)
{
#ifdef RG_HAVE_MPI
    if (g_mpi && g_size > 1) {
        char *p = data;
        while (bytes > 0) { /* MPI counts are int */
            int chunk = bytes > (1 << 30) ? 1 << 30 : (int)bytes;
            MPI_Bcast(p, chunk, MPI_BYTE, root, MPI_COMM_WORLD);
            p += chunk;
            bytes -= chunk;
        }
    }
#endif
    (void)data;
    (void)bytes;
    (void)root;
    return 0;
}

int rg_dist_gather_all(const double *mine, int64_t n_mine, double *all, const int64_t *counts)
{
#ifdef RG_HAVE_MPI
    if (g_mpi && g_size > 1) {
        int *cnt = malloc((size_t)g_size * sizeof *cnt), *disp = malloc((size_t)g_size * sizeof *disp);
        if (!cnt || !disp) {
            free(cnt);
            free(disp);
            rg_set_error("rg_dist_gather_all: out of memory");
            return -1;
        }
        int64_t at = 0;
        for (int r = 0; r < g_size; r++) {
            if (counts[r] > (1ll << 30) || at > (1ll << 30)) {
                free(cnt);
                free(disp);
                rg_set_error("rg_dist_gather_all: %lld values are more than one exchange takes",
                             (long long)(at + counts[r]));
                return -1;
            }
            cnt[r] = (int)counts[r];
            disp[r] = (int)at;
            at += counts[r];
        }
        MPI_Allgatherv(mine, (int)n_mine, MPI_DOUBLE, all, cnt, disp, MPI_DOUBLE, MPI_COMM_WORLD);
        free(cnt);
        free(disp);
        return 0;
    }
#endif
    (void)counts;
    if (all != mine)
        memmove(all, mine, (size_t)n_mine * sizeof *all);
    return 0;
}

/* every parameter's gradient summed over the processes, in place */
static int sum_grads(rg_params *P, double scale)
{
#ifdef RG_HAVE_MPI
    if (g_mpi && g_size > 1)
        for (int i = 0; i < rg_params_count(P); i++) {
            rg_tensor *t = rg_params_at(P, i, NULL);
            if (!t->grad || t->numel == 0)
                continue;
            if (t->numel > (1ll << 30)) {
                rg_set_error("rg_dist_sum_grads: a parameter of %lld values is more than one "
                             "exchange takes", (long long)t->numel);
                return -1;
            }
            MPI_Allreduce(MPI_IN_PLACE, t->grad, (int)t->numel,
                          t->dtype == RG_F32 ? MPI_FLOAT : MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            for (int64_t k = 0; scale != 1.0 && k < t->numel; k++) {
                if (t->dtype == RG_F32)
                    ((float *)t->grad)[k] = (float)(((float *)t->grad)[k] * scale);
                else
                    ((double *)t->grad)[k] *= scale;
            }
        }
#endif
    (void)P;
    (void)scale;
    return 0;
}

int rg_dist_sum_grads(rg_params *P)
{
    return sum_grads(P, 1.0);
}

int rg_dist_average_grads(rg_params *P)
{
    return sum_grads(P, 1.0 / g_size);
}

int rg_dist_broadcast_params(rg_params *P, int root)
{
    for (int i = 0; i < rg_params_count(P); i++) {
        rg_tensor *t = rg_params_at(P, i, NULL);
        if (rg_dist_broadcast(t->data, t->numel * (int64_t)rg_dtype_size(t->dtype), root) != 0)
            return -1;
    }
    return 0;
}

/* ---- the gradient exchange that overlaps backward --------------------------- */

typedef struct xbucket {
    int first, count;  /* positions in x->order */
    int64_t n;         /* values */
    rg_dtype dtype;
    void *stage;       /* NULL: one tensor, summed in place */
    int pending;       /* gradients not final yet */
} xbucket;

struct rg_dist_exchange {
    rg_params *P;
    int n_params;
    int *order;        /* registry indices, last first (zero-size ones left out) */
    int *bucket_of;    /* per registry index; -1: none */
    bool *ready;       /* per registry index, this step */
    xbucket *b;
    int n_buckets, next; /* next bucket to send */
#ifdef RG_HAVE_MPI
    MPI_Request *req;    /* per bucket */
#endif
};

void rg_dist_exchange_free(rg_dist_exchange *x)
{
    if (!x)
        return;
    for (int k = 0; k < x->n_buckets; k++)
        free(x->b[k].stage);
    free(x->b);
#ifdef RG_HAVE_MPI
    free(x->req);
#endif
    free(x->order);
    free(x->bucket_of);
    free(x->ready);
    free(x);
}

/* cuts x->order into buckets of about cap bytes, one dtype each */
static int plan_buckets(rg_dist_exchange *x, int n_order, int64_t cap)
{
    for (int at = 0; at < n_order;) {
        rg_tensor *t = rg_params_at(x->P, x->order[at], NULL);
        xbucket *b = &x->b[x->n_buckets++];
        *b = (xbucket){.first = at, .dtype = t->dtype};
        int64_t es = (int64_t)rg_dtype_size(t->dtype);
        while (at < n_order) {
            rg_tensor *u = rg_params_at(x->P, x->order[at], NULL);
            if (b->count > 0 && (u->dtype != b->dtype || (b->n + u->numel) * es > cap))
                break;
            if (u->numel > (1ll << 30)) {
                rg_set_error("rg_dist_exchange_new: a parameter of %lld values is more than "
                             "one exchange takes", (long long)u->numel);
                return -1;
            }
            x->bucket_of[x->order[at]] = x->n_buckets - 1;
            b->n += u->numel;
            b->count++;
            at++;
            if (b->n * es > cap)
                break;
        }
        if (b->count > 1 && !(b->stage = malloc((size_t)(b->n * es)))) {
            rg_set_error("rg_dist_exchange_new: out of memory for a bucket of %lld values",
                         (long long)b->n);
            return -1;
        }
    }
    return 0;
}

rg_dist_exchange *rg_dist_exchange_new(rg_params *P, int64_t bucket_bytes)
{
    int n = P ? rg_params_count(P) : 0;
    if (!P || bucket_bytes < 0) {
        rg_set_error("rg_dist_exchange_new: %s", P ? "bucket_bytes is negative" : "P is NULL");
        return NULL;
    }
    rg_dist_exchange *x = calloc(1, sizeof *x);
    if (x) {
        x->P = P;
        x->n_params = n;
        x->order = calloc((size_t)n + 1, sizeof *x->order);
        x->bucket_of = calloc((size_t)n + 1, sizeof *x->bucket_of);
        x->ready = calloc((size_t)n + 1, sizeof *x->ready);
        x->b = calloc((size_t)n + 1, sizeof *x->b);
    }
    bool req_ok = true;
#ifdef RG_HAVE_MPI
    if (x) {
        x->req = calloc((size_t)n + 1, sizeof *x->req);
        req_ok = x->req != NULL;
    }
#endif
    if (!x || !x->order || !x->bucket_of || !x->ready || !x->b || !req_ok) {
        rg_dist_exchange_free(x);
        rg_set_error("rg_dist_exchange_new: out of memory");
        return NULL;
    }
    int n_order = 0;
    for (int i = n - 1; i >= 0; i--) {
        rg_tensor *t = rg_params_at(P, i, NULL);
        x->bucket_of[i] = -1;
        if (t->numel > 0 && (t->flags & RG_REQUIRES_GRAD))
            x->order[n_order++] = i;
    }
    if (plan_buckets(x, n_order, bucket_bytes > 0 ? bucket_bytes : 1 << 20) != 0) {
        rg_dist_exchange_free(x);
        return NULL;
    }
    return x;
}

int rg_dist_exchange_buckets(const rg_dist_exchange *x)
{
    return x ? x->n_buckets : 0;
}

void rg_dist_exchange_begin(rg_dist_exchange *x)
{
    if (!x)
        return;
    for (int i = 0; i < x->n_params; i++)
        x->ready[i] = false;
    for (int k = 0; k < x->n_buckets; k++)
        x->b[k].pending = x->b[k].count;
    x->next = 0;
}

#ifdef RG_HAVE_MPI
/* bucket k's values (staged, or the tensor's own gradient) out to the others */
static void send_bucket(rg_dist_exchange *x, int k)
{
    xbucket *b = &x->b[k];
    size_t es = rg_dtype_size(b->dtype);
    void *buf = b->stage;
    for (int p = 0, at = 0; p < b->count; p++) {
        rg_tensor *t = rg_params_at(x->P, x->order[b->first + p], NULL);
        void *g = rg_grad(NULL, t); /* zeros where no gradient reached this rank */
        if (!g) { /* the others wait for this bucket: end the job */
            fprintf(stderr, "rank %d: %s\n", g_rank, rg_last_error());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        if (b->stage)
            memcpy((char *)b->stage + (size_t)at * es, g, (size_t)t->numel * es);
        else
            buf = g;
        at += (int)t->numel;
    }
    MPI_Iallreduce(MPI_IN_PLACE, buf, (int)b->n, b->dtype == RG_F32 ? MPI_FLOAT : MPI_DOUBLE,
                   MPI_SUM, MPI_COMM_WORLD, &x->req[k]);
}

/* buckets whose gradients are all final, in order; then a turn for the
 * library to move what is in flight */
static void send_ready(rg_dist_exchange *x)
{
    while (x->next < x->n_buckets && x->b[x->next].pending == 0) {
        send_bucket(x, x->next);
        x->next++;
    }
    int done;
    if (x->next > 0)
        MPI_Testall(x->next, x->req, &done, MPI_STATUSES_IGNORE);
}
#endif

void rg_dist_exchange_ready(rg_dist_exchange *x, int i)
{
    if (!x || i < 0 || i >= x->n_params || x->ready[i])
        return;
    x->ready[i] = true;
    int k = x->bucket_of[i];
    if (k >= 0)
        x->b[k].pending--;
#ifdef RG_HAVE_MPI
    if (g_mpi && g_size > 1 && k >= 0 && x->b[k].pending == 0)
        send_ready(x);
#endif
}

int rg_dist_exchange_end(rg_dist_exchange *x, double *wait_seconds)
{
    if (wait_seconds)
        *wait_seconds = 0;
    if (!x)
        return 0;
    for (int i = 0; i < x->n_params; i++)
        if (!x->ready[i]) {
            x->ready[i] = true;
            if (x->bucket_of[i] >= 0)
                x->b[x->bucket_of[i]].pending--;
        }
#ifdef RG_HAVE_MPI
    if (g_mpi && g_size > 1) {
        send_ready(x);
        double t0 = MPI_Wtime();
        MPI_Waitall(x->n_buckets, x->req, MPI_STATUSES_IGNORE);
        for (int k = 0; k < x->n_buckets; k++) {
            xbucket *b = &x->b[k];
            size_t es = rg_dtype_size(b->dtype);
            for (int p = 0, at = 0; b->stage && p < b->count; p++) {
                rg_tensor *t = rg_params_at(x->P, x->order[b->first + p], NULL);
                memcpy(t->grad, (char *)b->stage + (size_t)at * es, (size_t)t->numel * es);
                at += (int)t->numel;
            }
        }
        if (wait_seconds)
            *wait_seconds = MPI_Wtime() - t0;
    }
#endif
    return 0;
}
