/* oneDNN's own LSTM training, timed for the LSTM configs of bench/charlm.c:
 * the vanilla-LSTM forward_training primitive (with its workspace) and the
 * backward primitive, all layers of the stack in one primitive each, f32, from
 * the zero state, OpenMP threads.  This is the LSTM stack alone -- no embedding,
 * head, softmax, loss or optimizer -- so it is the fastest CPU LSTM training we
 * can run here, a peer for our whole training step.  Built only when the
 * library is found (libdnnl-dev); never needed to build or test retrograd.
 *
 *   bench_onednn_lstm --config medium --threads 1 --seconds 10
 *
 * One step: the weights are reordered from the user's layout (ldigo) into the
 * layouts the forward and the backward primitives chose (in training they
 * change every step), the diff buffers are zeroed, forward, backward.  Prints
 * `RESULT {json}` with chars_per_s (T*B per step / wall seconds), the same
 * without the reorders (chars_per_s_prims), cpu_s and chars_per_cpu_s (CPU
 * seconds of the process over the timed steps), peak RSS, oneDNN's version and
 * the ISA its kernels use. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>

typedef struct config {
    const char *name;
    int64_t layers, hidden, unroll, batch;
} config;

/* the LSTM configs of bench/charlm.c (embedding size = hidden size) */
static const config CONFIGS[] = {
    {"tiny", 1, 64, 25, 1},
    {"small", 1, 128, 64, 32},
    {"medium", 2, 256, 64, 32},
    {"large", 1, 512, 64, 64},
};

#define CHECK(call)                                                                    \
    do {                                                                               \
        dnnl_status_t s_ = (call);                                                     \
        if (s_ != dnnl_success) {                                                      \
            fprintf(stderr, "bench_onednn_lstm: %s failed (status %d) at line %d\n",   \
                    #call, (int)s_, __LINE__);                                         \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

/* A memory object for md, its buffer filled with uniform values in [-a, a)
 * (a = 0: zeros). */
static dnnl_memory_t mem_new(const dnnl_memory_desc_t *md, dnnl_engine_t eng, float a,
                             unsigned *seed) {
    dnnl_memory_t m;
    CHECK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
    void *h;
    CHECK(dnnl_memory_get_data_handle(m, &h));
    size_t n = dnnl_memory_desc_get_size(md) / sizeof(float);
    float *p = h;
    for (size_t i = 0; i < n; ++i) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = a * ((float)(*seed >> 8) / 8388608.0f - 1.0f);
    }
    return m;
}

static void zero(dnnl_memory_t m) {
    void *h;
    const dnnl_memory_desc_t *md;
    CHECK(dnnl_memory_get_data_handle(m, &h));
    CHECK(dnnl_memory_get_memory_desc(m, &md));
    memset(h, 0, dnnl_memory_desc_get_size(md));
}

/* A reorder from src's layout into md; *dst gets the new memory. */
static dnnl_primitive_t reorder_to(dnnl_memory_t src, const dnnl_memory_desc_t *md,
                                   dnnl_engine_t eng, dnnl_memory_t *dst) {
    const dnnl_memory_desc_t *smd;
    CHECK(dnnl_memory_get_memory_desc(src, &smd));
    CHECK(dnnl_memory_create(dst, md, eng, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_reorder_primitive_desc_create(&pd, smd, eng, md, eng, NULL));
    dnnl_primitive_t p;
    CHECK(dnnl_primitive_create(&p, pd));
    CHECK(dnnl_primitive_desc_destroy(pd));
    return p;
}

static void run_reorder(dnnl_primitive_t p, dnnl_stream_t s, dnnl_memory_t from,
                        dnnl_memory_t to) {
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    CHECK(dnnl_primitive_execute(p, s, 2, a));
}

typedef struct lstm {
    dnnl_engine_t eng;
    dnnl_stream_t st;
    dnnl_primitive_t fwd, bwd, r_fwd[3], r_bwd[2];
    /* user weights (ldigo, ldgo), and in the primitives' layouts */
    dnnl_memory_t u_w[3], f_w[3], b_w[2];
    dnnl_memory_t src, dst, ws, diff_dst, diff_src, diff_w[3];
} lstm;

static void lstm_init(lstm *m, const config *c) {
    const int64_t L = c->layers, H = c->hidden, T = c->unroll, N = c->batch;
    unsigned seed = 1;
    CHECK(dnnl_engine_create(&m->eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&m->st, m->eng, dnnl_stream_default_flags));
    dnnl_memory_desc_t tnc, wl_any, wi_any, b_any, wl_u, wi_u, b_u;
    CHECK(dnnl_memory_desc_init_by_tag(&tnc, 3, (dnnl_dims_t){T, N, H}, dnnl_f32, dnnl_tnc));
    const dnnl_dims_t wdims = {L, 1, H, 4, H}, bdims = {L, 1, 4, H};
    CHECK(dnnl_memory_desc_init_by_tag(&wl_any, 5, wdims, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&wi_any, 5, wdims, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&b_any, 4, bdims, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&wl_u, 5, wdims, dnnl_f32, dnnl_ldigo));
    CHECK(dnnl_memory_desc_init_by_tag(&wi_u, 5, wdims, dnnl_f32, dnnl_ldigo));
    CHECK(dnnl_memory_desc_init_by_tag(&b_u, 4, bdims, dnnl_f32, dnnl_ldgo));

    /* forward_training, zero initial state, no final state */
    dnnl_rnn_desc_t fd;
    CHECK(dnnl_lstm_forward_desc_init(&fd, dnnl_forward_training,
                                      dnnl_unidirectional_left2right, &tnc, NULL, NULL,
                                      &wl_any, &wi_any, &b_any, &tnc, NULL, NULL, 0));
    dnnl_primitive_desc_t fpd;
    CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, m->eng, NULL));
    CHECK(dnnl_primitive_create(&m->fwd, fpd));

    /* backward: weights and their gradients in the layouts it prefers */
    dnnl_rnn_desc_t bd;
    CHECK(dnnl_lstm_backward_desc_init(&bd, dnnl_backward, dnnl_unidirectional_left2right,
                                       &tnc, NULL, NULL, &wl_any, &wi_any, &b_any, &tnc,
                                       NULL, NULL, &tnc, NULL, NULL, &wl_any, &wi_any, &b_any,
                                       &tnc, NULL, NULL, 0));
    dnnl_primitive_desc_t bpd;
    CHECK(dnnl_primitive_desc_create(&bpd, &bd, NULL, m->eng, fpd));
    CHECK(dnnl_primitive_create(&m->bwd, bpd));

    const dnnl_memory_desc_t *u_md[3] = {&wl_u, &wi_u, &b_u};
    for (int k = 0; k < 3; ++k) {
        m->u_w[k] = mem_new(u_md[k], m->eng, 0.1f, &seed);
        m->r_fwd[k] = reorder_to(m->u_w[k], dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, k),
                                 m->eng, &m->f_w[k]);
        m->diff_w[k] = mem_new(dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_weights_md, k),
                               m->eng, 0, &seed);
    }
    /* the bias is read as is by backward; the two matrices may be re-laid out */
    for (int k = 0; k < 2; ++k)
        m->r_bwd[k] = reorder_to(m->u_w[k], dnnl_primitive_desc_query_md(bpd, dnnl_query_weights_md, k),
                                 m->eng, &m->b_w[k]);
    m->src = mem_new(&tnc, m->eng, 1.0f, &seed);
    m->dst = mem_new(&tnc, m->eng, 0, &seed);
    m->diff_dst = mem_new(&tnc, m->eng, 0.01f, &seed);
    m->diff_src = mem_new(&tnc, m->eng, 0, &seed);
    m->ws = mem_new(dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0), m->eng, 0,
                    &seed);
    CHECK(dnnl_primitive_desc_destroy(fpd));
    CHECK(dnnl_primitive_desc_destroy(bpd));
}

/* One training step of the stack; *t_reorder gets the seconds of the reorders. */
static void lstm_step(lstm *m, double *t_reorder) {
    double t0 = wall_now();
    for (int k = 0; k < 3; ++k) run_reorder(m->r_fwd[k], m->st, m->u_w[k], m->f_w[k]);
    for (int k = 0; k < 2; ++k) run_reorder(m->r_bwd[k], m->st, m->u_w[k], m->b_w[k]);
    CHECK(dnnl_stream_wait(m->st));
    *t_reorder += wall_now() - t0;
    for (int k = 0; k < 3; ++k) zero(m->diff_w[k]);
    dnnl_exec_arg_t fa[] = {{DNNL_ARG_SRC_LAYER, m->src},    {DNNL_ARG_WEIGHTS_LAYER, m->f_w[0]},
                            {DNNL_ARG_WEIGHTS_ITER, m->f_w[1]}, {DNNL_ARG_BIAS, m->f_w[2]},
                            {DNNL_ARG_DST_LAYER, m->dst},    {DNNL_ARG_WORKSPACE, m->ws}};
    CHECK(dnnl_primitive_execute(m->fwd, m->st, 6, fa));
    dnnl_exec_arg_t ba[] = {{DNNL_ARG_SRC_LAYER, m->src},
                            {DNNL_ARG_WEIGHTS_LAYER, m->b_w[0]},
                            {DNNL_ARG_WEIGHTS_ITER, m->b_w[1]},
                            {DNNL_ARG_BIAS, m->f_w[2]},
                            {DNNL_ARG_DST_LAYER, m->dst},
                            {DNNL_ARG_WORKSPACE, m->ws},
                            {DNNL_ARG_DIFF_DST_LAYER, m->diff_dst},
                            {DNNL_ARG_DIFF_SRC_LAYER, m->diff_src},
                            {DNNL_ARG_DIFF_WEIGHTS_LAYER, m->diff_w[0]},
                            {DNNL_ARG_DIFF_WEIGHTS_ITER, m->diff_w[1]},
                            {DNNL_ARG_DIFF_BIAS, m->diff_w[2]}};
    CHECK(dnnl_primitive_execute(m->bwd, m->st, 11, ba));
    CHECK(dnnl_stream_wait(m->st));
}

static void lstm_free(lstm *m) {
    dnnl_memory_t mems[] = {m->u_w[0], m->u_w[1], m->u_w[2], m->f_w[0], m->f_w[1], m->f_w[2],
                            m->b_w[0], m->b_w[1], m->src, m->dst, m->ws, m->diff_dst,
                            m->diff_src, m->diff_w[0], m->diff_w[1], m->diff_w[2]};
    for (size_t k = 0; k < sizeof mems / sizeof mems[0]; ++k) dnnl_memory_destroy(mems[k]);
    dnnl_primitive_t prims[] = {m->fwd, m->bwd, m->r_fwd[0], m->r_fwd[1], m->r_fwd[2],
                                m->r_bwd[0], m->r_bwd[1]};
    for (size_t k = 0; k < sizeof prims / sizeof prims[0]; ++k) dnnl_primitive_destroy(prims[k]);
    dnnl_stream_destroy(m->st);
    dnnl_engine_destroy(m->eng);
}

static int usage(void) {
    fprintf(stderr, "usage: bench_onednn_lstm [--config tiny|small|medium|large] "
                    "[--threads N] [--seconds S]\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *name = "small";
    int threads = 1;
    double seconds = 10;
    for (int i = 1; i < argc; ++i) {
        if (i + 1 < argc && !strcmp(argv[i], "--config")) name = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--seconds")) seconds = atof(argv[++i]);
        else return usage();
    }
    const config *c = NULL;
    for (size_t k = 0; k < sizeof CONFIGS / sizeof CONFIGS[0]; ++k)
        if (!strcmp(CONFIGS[k].name, name)) c = &CONFIGS[k];
    if (!c || threads < 1 || !(seconds > 0)) return usage();
    omp_set_num_threads(threads);

    lstm m;
    lstm_init(&m, c);
    double reo = 0;
    for (int i = 0; i < 5; ++i) lstm_step(&m, &reo); /* warm-up */
    int calib = 0;
    double t0 = wall_now();
    while (wall_now() - t0 < 1.0 || calib < 2) lstm_step(&m, &reo), ++calib;
    int steps = (int)ceil(seconds / ((wall_now() - t0) / calib));
    steps = steps < 3 ? 3 : steps;
    reo = 0;
    t0 = wall_now();
    double c0 = cpu_now();
    for (int i = 0; i < steps; ++i) lstm_step(&m, &reo);
    double dt = wall_now() - t0, cpu = cpu_now() - c0;
    double chars = (double)(c->batch * c->unroll) * steps;
    const dnnl_version_t *v = dnnl_version();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("RESULT {\"config\": \"%s\", \"threads\": %d, \"steps\": %d, \"seconds\": %.3f, "
           "\"ms_per_step\": %.3f, \"chars_per_s\": %.1f, \"chars_per_s_prims\": %.1f, "
           "\"reorder_share\": %.4f, \"cpu_s\": %.3f, \"chars_per_cpu_s\": %.1f, "
           "\"peak_rss_mb\": %.1f, \"onednn\": \"%d.%d.%d\", \"isa\": \"%s\"}\n",
           c->name, threads, steps, dt, 1e3 * dt / steps, chars / dt, chars / (dt - reo),
           reo / dt, cpu, chars / cpu, ru.ru_maxrss / 1024.0, v->major, v->minor, v->patch,
           isa_name(dnnl_get_effective_cpu_isa()));
    lstm_free(&m);
    return 0;
}
