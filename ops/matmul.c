/* Matrix products: matmul (2-D, batched 3-D, transposes as CBLAS flags) and
 * linear (x W^T + b, PyTorch's Linear), forward and backward side by side. */
#include <string.h>

#include "ops_internal.h"
#include "rg_kernel.h"

/* One GEMM on either float type: C = alpha op(A) op(B) + beta C. */
static void gemm(rg_dtype dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                 const void *A, int64_t lda, const void *B, int64_t ldb, double beta,
                 void *C, int64_t ldc) {
    if (dt == RG_F32)
        rg_gemm_f32(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, (float)beta, C, ldc);
    else
        rg_gemm_f64(ta, tb, M, N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
}

static int float_pair(rg_tape *tp, const char *fn, const rg_tensor *a, const rg_tensor *b) {
    if (a->dtype == RG_I32 || b->dtype == RG_I32 || a->dtype != b->dtype)
        return rg_op_error(tp, "%s: inputs must share a float dtype: a %s, b %s", fn,
                           rg_dtype_name(a->dtype), rg_dtype_name(b->dtype));
    return 0;
}

/* ---- matmul ----------------------------------------------------------------
 * C [M,N] = op(A) [M,K] x op(B) [K,N]; batched: A [S,..], B [S,..] or B 2-D
 * shared by every batch.  dA' = dC B'^T, dB' = A'^T dC, each written as one GEMM
 * on the stored layout (transposes become flags). */
typedef struct mm_dims {
    int64_t S, M, N, K, lda, ldb;
    bool b_shared;
} mm_dims;

static mm_dims mm_get(const rg_entry *e) {
    const rg_tensor *a = e->in[0], *b = e->in[1];
    bool ta = e->attr.i[0], tb = e->attr.i[1];
    mm_dims d;
    int ra = a->rank, rb = b->rank;
    d.S = ra == 3 ? a->shape[0] : 1;
    d.b_shared = ra == 3 && rb == 2;
    d.M = ta ? a->shape[ra - 1] : a->shape[ra - 2];
    d.K = ta ? a->shape[ra - 2] : a->shape[ra - 1];
    d.N = tb ? b->shape[rb - 2] : b->shape[rb - 1];
    d.lda = a->shape[ra - 1];
    d.ldb = b->shape[rb - 1];
    return d;
}

static int matmul_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *a = e->in[0], *b = e->in[1];
    const char *fn = e->attr.i[0] || e->attr.i[1] ? "rg_matmul_t" : "rg_matmul";
    char sa[64], sb[64];
    if (float_pair(tp, fn, a, b) < 0) return -1;
    bool ok = (a->rank == 2 && b->rank == 2) || (a->rank == 3 && b->rank == 2) ||
              (a->rank == 3 && b->rank == 3 && a->shape[0] == b->shape[0]);
    if (!ok)
        return rg_op_error(tp, "%s: needs 2-D x 2-D, 3-D x 2-D or 3-D x 3-D with "
                               "equal batch: a %s, b %s",
                           fn, rg_shape_str(a, sa, sizeof sa), rg_shape_str(b, sb, sizeof sb));
    bool tb = e->attr.i[1];
    int64_t kb = tb ? b->shape[b->rank - 1] : b->shape[b->rank - 2];
    mm_dims d = mm_get(e);
    if (d.K != kb)
        return rg_op_error(tp, "%s: inner dimensions differ: a %s%s, b %s%s", fn,
                           rg_shape_str(a, sa, sizeof sa), e->attr.i[0] ? "^T" : "",
                           rg_shape_str(b, sb, sizeof sb), tb ? "^T" : "");
    rg_tensor *o = e->out[0];
    o->rank = a->rank;
    if (a->rank == 3) o->shape[0] = d.S;
    o->shape[o->rank - 2] = d.M;
    o->shape[o->rank - 1] = d.N;
    return 0;
}

static void matmul_forward(rg_tape *tp, rg_entry *e) {
    const rg_tensor *a = e->in[0], *b = e->in[1];
    rg_tensor *c = e->out[0];
    bool ta = e->attr.i[0], tb = e->attr.i[1];
    mm_dims d = mm_get(e);
    size_t es = rg_dtype_size(a->dtype);
    if (d.b_shared && !ta) {
        /* A [S*M, K] is one matrix: one GEMM instead of S. */
        gemm(a->dtype, false, tb, d.S * d.M, d.N, d.K, a->data, d.lda, b->data, d.ldb, 0,
             c->data, d.N);
        return;
    }
    for (int64_t s = 0; s < d.S; ++s)
        gemm(a->dtype, ta, tb, d.M, d.N, d.K, (char *)a->data + s * d.M * d.K * es, d.lda,
             (char *)b->data + (d.b_shared ? 0 : s * d.K * d.N * es), d.ldb, 0,
             (char *)c->data + s * d.M * d.N * es, d.N);
}

static void matmul_backward(rg_tape *tp, rg_entry *e) {
    rg_tensor *a = e->in[0], *b = e->in[1], *c = e->out[0];
    bool ta = e->attr.i[0], tb = e->attr.i[1];
    mm_dims d = mm_get(e);
    size_t es = rg_dtype_size(a->dtype);
    bool fresh; /* dA written whole (beta 0) when new; an aliased b then adds to it */
    void *dA = rg_grad_fresh(tp, a, &fresh), *dB = rg_grad(tp, b);
    const double beta_a = fresh ? 0 : 1;
    const char *dC = c->grad;
    for (int64_t s = 0; s < d.S; ++s) {
        const char *As = (const char *)a->data + s * d.M * d.K * es;
        const char *Bs = (const char *)b->data + (d.b_shared ? 0 : s * d.K * d.N * es);
        const char *dCs = dC + s * d.M * d.N * es;
        if (dA) {
            char *dAs = (char *)dA + s * d.M * d.K * es;
            if (!ta)
                gemm(a->dtype, false, !tb, d.M, d.K, d.N, dCs, d.N, Bs, d.ldb, beta_a, dAs,
                     d.lda);
            else
                gemm(a->dtype, tb, true, d.K, d.M, d.N, Bs, d.ldb, dCs, d.N, beta_a, dAs,
                     d.lda);
        }
        if (dB) {
            char *dBs = (char *)dB + (d.b_shared ? 0 : s * d.K * d.N * es);
            if (!tb)
                gemm(a->dtype, !ta, false, d.K, d.N, d.M, As, d.lda, dCs, d.N, 1, dBs, d.ldb);
            else
                gemm(a->dtype, true, ta, d.N, d.K, d.M, dCs, d.N, As, d.lda, 1, dBs, d.ldb);
        }
    }
}

/* recorded: with op(A), op(B) the (transposed) operands and C = op(A) op(B),
 * d op(A) = dC op(B)^T and d op(B) = op(A)^T dC, transposed back where the
 * operand was; a B shared by a batch sums its batch's gradients */
static int matmul_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                        rg_tensor **din) {
    rg_tensor *a = e->in[0], *b = e->in[1], *dc = dout[0];
    bool ta = e->attr.i[0], tb = e->attr.i[1];
    rg_tensor *ga = rg_matmul_t(tp, dc, b, false, !tb);
    rg_tensor *gb = rg_matmul_t(tp, a, dc, !ta, false);
    if (gb && gb->rank > b->rank) gb = rg_sum_axis(tp, gb, 0, false);
    din[0] = ta && ga ? rg_transpose(tp, ga, -2, -1) : ga;
    din[1] = tb && gb ? rg_transpose(tp, gb, -2, -1) : gb;
    return din[0] && din[1] ? 0 : -1;
}
static const rg_op op_matmul = {"matmul", 2, 1, matmul_shape, matmul_forward, matmul_backward,
                                matmul_graph};

rg_tensor *rg_matmul_t(rg_tape *tp, rg_tensor *a, rg_tensor *b, bool ta, bool tb) {
    rg_attr at = {.i = {ta, tb}};
    rg_tensor *in[2] = {a, b};
    if (!rg_ops_call_ok(tp, &op_matmul, ta || tb ? "rg_matmul_t" : NULL, 2, in)) return NULL;
    return rg_apply(tp, &op_matmul, 2, in, &at);
}

rg_tensor *rg_matmul(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    return rg_matmul_t(tp, a, b, false, false);
}

/* ---- linear ----------------------------------------------------------------
 * y [N,O] = x [N,I] W^T + bias [O].  dx += dy W, dW += dy^T x, dbias += sum_n dy. */
static int linear_shape(rg_tape *tp, rg_entry *e) {
    char sx[64], sw[64], sb[64];
    if (e->n_in != 2 && e->n_in != 3)
        return rg_op_error(tp, "rg_linear: expected x, W and optionally a bias");
    const rg_tensor *x = e->in[0], *W = e->in[1];
    if (float_pair(tp, "rg_linear", x, W) < 0) return -1;
    if (x->rank != 2 || W->rank != 2 || x->shape[1] != W->shape[1])
        return rg_op_error(tp, "rg_linear: x must be [N,I] and W [O,I]: x %s, W %s",
                           rg_shape_str(x, sx, sizeof sx), rg_shape_str(W, sw, sizeof sw));
    if (e->n_in == 3) {
        const rg_tensor *b = e->in[2];
        if (float_pair(tp, "rg_linear", x, b) < 0) return -1;
        if (b->rank != 1 || b->shape[0] != W->shape[0])
            return rg_op_error(tp, "rg_linear: bias must be [O]: W %s, bias %s",
                               rg_shape_str(W, sw, sizeof sw), rg_shape_str(b, sb, sizeof sb));
    }
    e->out[0]->rank = 2;
    e->out[0]->shape[0] = x->shape[0];
    e->out[0]->shape[1] = W->shape[0];
    return 0;
}

static void linear_forward(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0], *W = e->in[1];
    rg_tensor *y = e->out[0];
    int64_t N = x->shape[0], I = x->shape[1], O = W->shape[0];
    size_t es = rg_dtype_size(x->dtype);
    double beta = 0;
    if (e->n_in == 3) {
        for (int64_t n = 0; n < N; ++n)
            memcpy((char *)y->data + n * O * es, e->in[2]->data, (size_t)O * es);
        beta = 1;
    }
    gemm(x->dtype, false, true, N, O, I, x->data, I, W->data, I, beta, y->data, O);
}

/* Deferred weight gradients.  A weight that is a leaf (a parameter) and is used
 * at every time step would otherwise get T small GEMMs with K = B rows each;
 * instead each backward call queues (dy, x) and one GEMM per weight over all
 * queued rows runs when the sweep ends (rows packed in blocks of DW_BLOCK, so
 * memory stays bounded for 10^4-step sequences). */
enum { DW_BLOCK = 512 };

typedef struct dw_item {
    struct dw_item *next;
    const char *dy, *x;
    int64_t N;
} dw_item;

typedef struct dw_group {
    struct dw_group *next;
    rg_tensor *W;
    void *dW; /* rg_grad's buffer: W->grad, or the tape's private one */
    int64_t rows;
    dw_item *head, *tail;
} dw_group;

static const rg_op op_linear;

static void dw_gemm_rows(const dw_group *g, const void *dy, const void *x, int64_t N) {
    int64_t O = g->W->shape[0], I = g->W->shape[1];
    gemm(g->W->dtype, true, false, O, I, N, dy, O, x, I, 1, g->dW, I);
}

static void dw_flush(rg_tape *tp, void *ctx) {
    dw_group **slot = (dw_group **)rg_tape_slot(tp, &op_linear);
    for (dw_group *g = *slot; g; g = g->next) {
        rg_tensor *W = g->W;
        int64_t O = W->shape[0], I = W->shape[1];
        size_t es = rg_dtype_size(W->dtype);
        if (!g->head->next) {
            dw_gemm_rows(g, g->head->dy, g->head->x, g->head->N);
            rg_tape_release_grad(tp, W);
            continue;
        }
        int64_t cap = g->rows < DW_BLOCK ? g->rows : DW_BLOCK;
        char *dyb = rg_tape_alloc(tp, (size_t)(cap * O) * es);
        char *xb = rg_tape_alloc(tp, (size_t)(cap * I) * es);
        if (!dyb || !xb) return;
        int64_t fill = 0;
        for (dw_item *it = g->head; it; it = it->next) {
            if (it->N > cap) { /* a single call bigger than a block: no packing */
                dw_gemm_rows(g, it->dy, it->x, it->N);
                continue;
            }
            if (fill + it->N > cap) {
                dw_gemm_rows(g, dyb, xb, fill);
                fill = 0;
            }
            memcpy(dyb + fill * O * es, it->dy, (size_t)(it->N * O) * es);
            memcpy(xb + fill * I * es, it->x, (size_t)(it->N * I) * es);
            fill += it->N;
        }
        if (fill) dw_gemm_rows(g, dyb, xb, fill);
        rg_tape_release_grad(tp, W);
    }
    *slot = NULL;
}

/* Queues dW += dy^T x for the end of the sweep; false when it cannot (then the
 * caller does the GEMM at once).  dy and x must stay valid until the sweep ends. */
bool rg_defer_weight_grad(rg_tape *tp, rg_tensor *W, void *dW, const void *dy, const void *x,
                     int64_t N) {
    if (W->node >= 0) return false; /* W has history: its gradient is needed in the sweep */
    dw_group **slot = (dw_group **)rg_tape_slot(tp, &op_linear);
    dw_group *g = *slot;
    while (g && g->W != W) g = g->next;
    dw_item *it = rg_tape_alloc(tp, sizeof *it);
    if (!it) return false;
    if (!g) {
        g = rg_tape_alloc(tp, sizeof *g);
        if (!g) return false;
        if (!*slot && rg_tape_defer(tp, dw_flush, NULL) < 0) return false;
        g->W = W;
        g->dW = dW;
        g->rows = 0;
        g->head = g->tail = NULL;
        g->next = *slot;
        *slot = g;
    }
    it->dy = dy;
    it->x = x;
    it->N = N;
    it->next = NULL;
    if (g->tail)
        g->tail->next = it;
    else
        g->head = it;
    g->tail = it;
    g->rows += N;
    rg_tape_hold_grad(tp, W);
    return true;
}

RG_KERNEL(linear_backward, (rg_tape *tp, rg_entry *e), (tp, e)) {
    rg_tensor *x = e->in[0], *W = e->in[1], *y = e->out[0];
    int64_t N = x->shape[0], I = x->shape[1], O = W->shape[0];
    bool fresh; /* dx written whole (beta 0) when new */
    void *dx = rg_grad_fresh(tp, x, &fresh), *dW = rg_grad(tp, W);
    if (dx) gemm(x->dtype, false, false, N, I, O, y->grad, O, W->data, I, fresh ? 0 : 1, dx, I);
    if (dW && !rg_defer_weight_grad(tp, W, dW, y->grad, x->data, N))
        gemm(x->dtype, true, false, O, I, N, y->grad, O, x->data, I, 1, dW, I);
    if (e->n_in == 3) {
        void *db = rg_grad(tp, e->in[2]);
        if (!db) return;
        if (x->dtype == RG_F32) {
            const float *g = y->grad;
            float *d = db;
            for (int64_t n = 0; n < N; ++n)
                for (int64_t o = 0; o < O; ++o) d[o] += g[n * O + o];
        } else {
            const double *g = y->grad;
            double *d = db;
            for (int64_t n = 0; n < N; ++n)
                for (int64_t o = 0; o < O; ++o) d[o] += g[n * O + o];
        }
    }
}

/* recorded: dx = dy W, dW = dy^T x, db = sum_n dy */
static int linear_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                        rg_tensor **din) {
    rg_tensor *x = e->in[0], *W = e->in[1], *dy = dout[0];
    din[0] = rg_matmul(tp, dy, W);
    din[1] = rg_matmul_t(tp, dy, x, true, false);
    if (e->n_in == 3) din[2] = rg_sum_axis(tp, dy, 0, false);
    return din[0] && din[1] && (e->n_in < 3 || din[2]) ? 0 : -1;
}
static const rg_op op_linear = {"linear", -1, 1, linear_shape, linear_forward, linear_backward,
                                linear_graph};

rg_tensor *rg_linear(rg_tape *tp, rg_tensor *x, rg_tensor *W, rg_tensor *bias) {
    if (bias) return rg_ops_apply(tp, &op_linear, 3, (rg_tensor *[]){x, W, bias}, NULL);
    return rg_ops_apply(tp, &op_linear, 2, (rg_tensor *[]){x, W}, NULL);
}

/* ---- embedding_linear --------------------------------------------------------
 * y [..., O] = E[ids] W^T + b: an embedding lookup followed by a linear map (the
 * input projection of an RNN's first layer), E [V,I], ids I32 [...] (N ids),
 * W [O,I], b [O] or absent.  When N >= V it is cheaper to map the table than
 * the rows: P = E W^T + b [V,O] is one product of V rows, y[n] = P[ids[n]], and
 * backward is dP[v] = sum over ids[n] = v of dy[n], dE += dP W, dW += dP^T E,
 * db += sum_v dP[v] -- all V-row products instead of N-row ones.  Otherwise
 * X = E[ids] [N,I], y = X W^T + b, dE[ids[n]] += (dy W)[n], dW += dy^T X. */
typedef struct el_saved {
    bool table;
    void *buf; /* P [V,O] (table) or X [N,I] (rows) */
} el_saved;

static int emblin_shape(rg_tape *tp, rg_entry *e) {
    char s1[64], s2[64], s3[64];
    if (e->n_in != 3 && e->n_in != 4)
        return rg_op_error(tp, "rg_embedding_linear: expected E, ids, W and optionally a bias");
    const rg_tensor *E = e->in[0], *ids = e->in[1], *W = e->in[2];
    if (float_pair(tp, "rg_embedding_linear", E, W) < 0) return -1;
    if (E->rank != 2 || W->rank != 2 || E->shape[1] != W->shape[1])
        return rg_op_error(tp, "rg_embedding_linear: E must be [V,I] and W [O,I]: E %s, W %s",
                           rg_shape_str(E, s1, sizeof s1), rg_shape_str(W, s2, sizeof s2));
    if (ids->dtype != RG_I32 || ids->rank >= RG_MAX_RANK)
        return rg_op_error(tp, "rg_embedding_linear: ids must be I32 of rank < %d, got %s %s",
                           RG_MAX_RANK, rg_dtype_name(ids->dtype), rg_shape_str(ids, s3, sizeof s3));
    if (e->n_in == 4) {
        const rg_tensor *b = e->in[3];
        if (float_pair(tp, "rg_embedding_linear", E, b) < 0) return -1;
        if (b->rank != 1 || b->shape[0] != W->shape[0])
            return rg_op_error(tp, "rg_embedding_linear: bias must be [O]: W %s, bias %s",
                               rg_shape_str(W, s2, sizeof s2), rg_shape_str(b, s3, sizeof s3));
    }
    const int32_t *iv = ids->data;
    for (int64_t k = 0; k < ids->numel; ++k)
        if (iv[k] < 0 || iv[k] >= E->shape[0])
            return rg_op_error(tp, "rg_embedding_linear: id %d at index %lld out of range for "
                               "V = %lld", (int)iv[k], (long long)k, (long long)E->shape[0]);
    int64_t shape[RG_MAX_RANK];
    for (int d = 0; d < ids->rank; ++d) shape[d] = ids->shape[d];
    shape[ids->rank] = W->shape[0];
    rg_set_out_shape(e->out[0], E->dtype, ids->rank + 1, shape);
    return 0;
}

static void emblin_forward(rg_tape *tp, rg_entry *e) {
    const rg_tensor *E = e->in[0], *ids = e->in[1], *W = e->in[2];
    const int32_t *iv = ids->data;
    int64_t V = E->shape[0], I = E->shape[1], O = W->shape[0], N = ids->numel;
    size_t es = rg_dtype_size(E->dtype);
    el_saved *sv = rg_tape_alloc(tp, sizeof *sv);
    if (!sv) return;
    sv->table = N >= V;
    int64_t rows = sv->table ? V : N;
    char *X = NULL;
    if (!sv->table) { /* gather the rows first */
        X = rg_tape_alloc(tp, (size_t)(N * I) * es);
        if (!X) return;
        for (int64_t n = 0; n < N; ++n)
            memcpy(X + (size_t)(n * I) * es, (const char *)E->data + (size_t)(iv[n] * I) * es,
                   (size_t)I * es);
    }
    /* Y = (table ? E : X) W^T + b, [rows, O]: straight into the output for rows */
    char *Y = sv->table ? rg_tape_alloc(tp, (size_t)(V * O) * es) : e->out[0]->data;
    if (!Y) return;
    double beta = 0;
    if (e->n_in == 4) {
        for (int64_t r = 0; r < rows; ++r) memcpy(Y + (size_t)(r * O) * es, e->in[3]->data, (size_t)O * es);
        beta = 1;
    }
    gemm(E->dtype, false, true, rows, O, I, sv->table ? E->data : X, I, W->data, I, beta, Y, O);
    if (sv->table)
        for (int64_t n = 0; n < N; ++n)
            memcpy((char *)e->out[0]->data + (size_t)(n * O) * es, Y + (size_t)(iv[n] * O) * es,
                   (size_t)O * es);
    sv->buf = sv->table ? (void *)Y : (void *)X;
    e->saved = sv;
}

#define EMBLIN_ADD_ROWS(T, dst, src, cols)                                            \
    do {                                                                               \
        T *d_ = (T *)(dst);                                                            \
        const T *s_ = (const T *)(src);                                                \
        for (int64_t c_ = 0; c_ < (cols); ++c_) d_[c_] += s_[c_];                      \
    } while (0)

RG_KERNEL(emblin_backward, (rg_tape *tp, rg_entry *e), (tp, e)) {
    rg_tensor *E = e->in[0], *ids = e->in[1], *W = e->in[2], *y = e->out[0];
    const el_saved *sv = e->saved;
    const int32_t *iv = ids->data;
    int64_t V = E->shape[0], I = E->shape[1], O = W->shape[0], N = ids->numel;
    size_t es = rg_dtype_size(E->dtype);
    bool f32 = E->dtype == RG_F32;
    char *dE = rg_grad(tp, E), *dW = rg_grad(tp, W);
    char *db = e->n_in == 4 ? rg_grad(tp, e->in[3]) : NULL;
    const char *dy = y->grad;
    /* dG: the gradient of the product's rows: dP [V,O] (table) or dy itself */
    const char *dG = dy;
    int64_t rows = N;
    if (sv->table) {
        char *dP = rg_tape_alloc(tp, (size_t)(V * O) * es);
        if (!dP) return;
        memset(dP, 0, (size_t)(V * O) * es);
        for (int64_t n = 0; n < N; ++n) {
            if (f32) EMBLIN_ADD_ROWS(float, dP + (size_t)(iv[n] * O) * es, dy + (size_t)(n * O) * es, O);
            else EMBLIN_ADD_ROWS(double, dP + (size_t)(iv[n] * O) * es, dy + (size_t)(n * O) * es, O);
        }
        dG = dP;
        rows = V;
    }
    if (db)
        for (int64_t r = 0; r < rows; ++r) {
            if (f32) EMBLIN_ADD_ROWS(float, db, dG + (size_t)(r * O) * es, O);
            else EMBLIN_ADD_ROWS(double, db, dG + (size_t)(r * O) * es, O);
        }
    const void *X = sv->table ? E->data : sv->buf;
    if (dW) gemm(E->dtype, true, false, O, I, rows, dG, O, X, I, 1, dW, I);
    if (!dE) return;
    if (sv->table) { /* dE += dP W */
        gemm(E->dtype, false, false, V, I, O, dG, O, W->data, I, 1, dE, I);
        return;
    }
    char *dX = rg_tape_alloc(tp, (size_t)(N * I) * es); /* dX = dy W, scattered */
    if (!dX) return;
    gemm(E->dtype, false, false, N, I, O, dy, O, W->data, I, 0, dX, I);
    for (int64_t n = 0; n < N; ++n) {
        if (f32) EMBLIN_ADD_ROWS(float, dE + (size_t)(iv[n] * I) * es, dX + (size_t)(n * I) * es, I);
        else EMBLIN_ADD_ROWS(double, dE + (size_t)(iv[n] * I) * es, dX + (size_t)(n * I) * es, I);
    }
}

/* recorded, on the path forward took (N ids, dy as [N,O]):
 *   table: dP = index_add(zeros [V,O], 0, ids, dy); dE = dP W, dW = dP^T E, db = sum_v dP
 *   rows:  X = index_select(E, 0, ids); dE = index_add(zeros [V,I], 0, ids, dy W),
 *          dW = dy^T X, db = sum_n dy */
static int emblin_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                        rg_tensor **din) {
    rg_tensor *E = e->in[0], *W = e->in[2], *b = e->n_in == 4 ? e->in[3] : NULL;
    const el_saved *sv = e->saved;
    int64_t N = e->in[1]->numel, O = W->shape[0];
    if (!sv) return rg_op_error(tp, "rg_autograd: embedding_linear kept nothing for backward");
    rg_tensor *ids = rg_from_data(tp, RG_I32, 1, &N, e->in[1]->data);
    rg_tensor *dy = rg_reshape(tp, dout[0], RG_DIMS(N, O)), *dG = dy, *X = E;
    if (sv->table)
        dG = rg_index_add(tp, rg_zeros(tp, E->dtype, RG_DIMS(E->shape[0], O)), 0, ids, dy);
    else if (W->flags & RG_REQUIRES_GRAD)
        X = rg_index_select(tp, E, 0, ids);
    if (E->flags & RG_REQUIRES_GRAD) {
        din[0] = sv->table ? rg_matmul(tp, dG, W)
                           : rg_index_add(tp, rg_zeros(tp, E->dtype, 2, E->shape), 0, ids,
                                          rg_matmul(tp, dy, W));
        if (!din[0]) return -1;
    }
    if ((W->flags & RG_REQUIRES_GRAD) && !(din[2] = rg_matmul_t(tp, dG, X, true, false)))
        return -1;
    if (b && (b->flags & RG_REQUIRES_GRAD) && !(din[3] = rg_sum_axis(tp, dG, 0, false)))
        return -1;
    return 0;
}

static const rg_op op_emblin = {"embedding_linear", -1, 1, emblin_shape, emblin_forward,
                                emblin_backward, emblin_graph};

rg_tensor *rg_embedding_linear(rg_tape *tp, rg_tensor *E, rg_tensor *ids, rg_tensor *W,
                               rg_tensor *bias) {
    if (bias) return rg_ops_apply(tp, &op_emblin, 4, (rg_tensor *[]){E, ids, W, bias}, NULL);
    return rg_ops_apply(tp, &op_emblin, 3, (rg_tensor *[]){E, ids, W}, NULL);
}

const rg_op *const rg_rows_matmul[] = {&op_matmul, &op_linear, &op_emblin};
const int rg_rows_matmul_n = 3;
