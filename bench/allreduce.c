/* MPI_Allreduce (sum, float32) at the gradient sizes of bench_charlm's
 * configs, timed on this machine's Open MPI: the communication term of
 * bench/run_mpi.sh's model of multi-node training.  Run under mpirun:
 *
 *   mpirun -np 2 bench_allreduce [--reps N]
 *
 * prints one `ALLREDUCE {json}` line per size (median microseconds). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "lm.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* parameters of bench_charlm's config (V = 65, the bundled corpus's bytes) */
static int64_t params_of(const char *cell, int layers, int hidden)
{
    lm_model m;
    if (lm_model_init(&m, rg_cell_type_find(cell), 65, hidden, hidden, layers, 0, RG_F32,
                      NULL) != 0)
        return -1;
    int64_t n = rg_params_numel(m.P);
    lm_model_free(&m);
    return n;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size, reps = 30;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]) > 0 ? atoi(argv[i + 1]) : reps;
    struct { const char *name, *cell; int layers, hidden; } cfg[] = {
        {"tiny", "lstm", 1, 64}, {"small", "lstm", 1, 128}, {"medium", "lstm", 2, 256},
        {"large", "lstm", 1, 512}, {"gru-medium", "gru", 2, 256}, {"rnn-medium", "rnn_tanh", 2, 256}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        int64_t n = params_of(cfg[c].cell, cfg[c].layers, cfg[c].hidden);
        if (n < 1 || n > (1 << 30))
            MPI_Abort(MPI_COMM_WORLD, 1);
        float *buf = calloc((size_t)n, sizeof *buf);
        double *t = malloc((size_t)reps * sizeof *t);
        if (!buf || !t)
            MPI_Abort(MPI_COMM_WORLD, 1);
        for (int r = -3; r < reps; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            if (r >= 0)
                t[r] = MPI_Wtime() - t0;
        }
        qsort(t, (size_t)reps, sizeof *t, cmp);
        if (rank == 0)
            printf("ALLREDUCE {\"config\": \"%s\", \"ranks\": %d, \"params\": %lld, \"bytes\": %lld, "
                   "\"median_us\": %.1f}\n", cfg[c].name, size, (long long)n, (long long)(4 * n),
                   1e6 * t[reps / 2]);
        free(buf);
        free(t);
    }
    MPI_Finalize();
    return 0;
}
