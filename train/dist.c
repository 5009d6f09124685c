/* Several processes: MPI when the library is built with it (-Dmpi) and the
 * program was started by a launcher (mpirun sets OMPI_COMM_WORLD_SIZE,
 * PMI_SIZE or PMIX_RANK); one process otherwise, where every collective is the
 * identity.  Only the thread that called rg_dist_init calls MPI
 * (MPI_THREAD_FUNNELED). */
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
