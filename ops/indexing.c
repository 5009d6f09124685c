/* Indexing rows of the op table: index_select and gather by I32 indices (their
 * backward scatter-adds), where and masked_fill (broadcasting masks), the
 * comparisons gt lt ge le eq ne (0/1 masks of the inputs' dtype, no gradient),
 * argmax and argmin along an axis (I32, no gradient), topk (values with a
 * gradient, I32 indices) and index_add (the scatter-add of their backward, an
 * op of its own so that recorded backwards can use it).  F32 and F64 values;
 * forward and backward side by side. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "broadcast.h"

/* Runs the statement with T the C type of the float dtype dt. */
#define WITH_FLOAT_T(dt, ...)                                                          \
    do {                                                                               \
        if ((dt) == RG_F32) {                                                          \
            typedef float T;                                                           \
            __VA_ARGS__;                                                               \
        } else {                                                                       \
            typedef double T;                                                          \
            __VA_ARGS__;                                                               \
        }                                                                              \
    } while (0)

static bool is_float(rg_dtype dt) { return dt == RG_F32 || dt == RG_F64; }

static int need_float(rg_tape *tp, const char *fn, const char *what, const rg_tensor *t) {
    char s[64];
    if (is_float(t->dtype)) return 0;
    return rg_op_error(tp, "%s: %s %s must be F32 or F64, got %s", fn, what,
                       rg_shape_str(t, s, sizeof s), rg_dtype_name(t->dtype));
}

/* a viewed as [outer, n, inner] around axis (a rank-0 a is [1,1,1]). */
typedef struct axis_geom {
    int64_t outer, n, inner;
} axis_geom;

static axis_geom geom_of(const rg_tensor *a, int axis) {
    axis_geom g = {1, 1, 1};
    for (int i = 0; i < a->rank; i++) {
        if (i < axis) g.outer *= a->shape[i];
        else if (i == axis) g.n = a->shape[i];
        else g.inner *= a->shape[i];
    }
    return g;
}

/* attr.i[0] normalised in place for a; -1 (after an error naming fn) when out of range. */
static int norm_axis(rg_tape *tp, rg_entry *e, const char *fn, const rg_tensor *a) {
    char s[64];
    int ax = rg_axis_norm((int)e->attr.i[0], a->rank);
    if (ax < 0 || e->attr.i[0] != (int)e->attr.i[0])
        return rg_op_error(tp, "%s: axis %lld out of range for a %s", fn,
                           (long long)e->attr.i[0], rg_shape_str(a, s, sizeof s));
    e->attr.i[0] = ax;
    return 0;
}

/* The first id of ids outside [0, n), or -1. */
static int64_t bad_index(const rg_tensor *ids, int64_t n) {
    const int32_t *v = ids->data;
    for (int64_t k = 0; k < ids->numel; k++)
        if (v[k] < 0 || v[k] >= n) return k;
    return -1;
}

/* ---- index_select ---------------------------------------------------------------
 * x [..., L, ...] (axis), ids I32 [K] with values in [0, L) -> y [..., K, ...]:
 *   y[o,k,j] = x[o,ids[k],j];  dx[o,ids[k],j] += dy[o,k,j] (repeated ids add up).
 * A rank-0 x takes one id (0) and gives a rank-0 y.  attr: i[0] axis. */

static int index_select_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0], *ids = e->in[1];
    char sx[64], si[64];
    if (need_float(tp, "rg_index_select", "x", x)) return -1;
    if (ids->dtype != RG_I32 || ids->rank > 1)
        return rg_op_error(tp, "rg_index_select: ids must be I32 of rank 0 or 1, got %s %s",
                           rg_dtype_name(ids->dtype), rg_shape_str(ids, si, sizeof si));
    if (norm_axis(tp, e, "rg_index_select", x)) return -1;
    int ax = (int)e->attr.i[0];
    int64_t L = x->rank ? x->shape[ax] : 1, k = bad_index(ids, L);
    if (k >= 0)
        return rg_op_error(tp, "rg_index_select: id %d at index %lld out of range [0, %lld) "
                               "for axis %d of x %s",
                           (int)((const int32_t *)ids->data)[k], (long long)k, (long long)L, ax,
                           rg_shape_str(x, sx, sizeof sx));
    if (x->rank == 0 && ids->numel != 1)
        return rg_op_error(tp, "rg_index_select: a rank-0 x takes one id, got ids %s",
                           rg_shape_str(ids, si, sizeof si));
    int64_t shape[RG_MAX_RANK];
    for (int d = 0; d < x->rank; d++) shape[d] = d == ax ? ids->numel : x->shape[d];
    rg_set_out_shape(e->out[0], x->dtype, x->rank, shape);
    return 0;
}

static void index_select_forward(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0];
    const int32_t *id = e->in[1]->data;
    axis_geom g = geom_of(x, (int)e->attr.i[0]);
    int64_t K = e->in[1]->numel;
    size_t row = (size_t)g.inner * rg_dtype_size(x->dtype);
    char *y = e->out[0]->data;
    const char *xv = x->data;
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t k = 0; k < K; k++)
            memcpy(y + (size_t)(o * K + k) * row, xv + (size_t)(o * g.n + id[k]) * row, row);
}

static void index_select_backward(rg_tape *tp, rg_entry *e) {
    const void *dy = e->out[0]->grad;
    void *dx = rg_grad(tp, e->in[0]);
    if (!dy || !dx) return;
    const int32_t *id = e->in[1]->data;
    axis_geom g = geom_of(e->in[0], (int)e->attr.i[0]);
    int64_t K = e->in[1]->numel;
    WITH_FLOAT_T(e->in[0]->dtype, {
        const T *gy = dy;
        T *d = dx;
        for (int64_t o = 0; o < g.outer; o++)
            for (int64_t k = 0; k < K; k++) {
                const T *gr = gy + (o * K + k) * g.inner;
                T *dr = d + (o * g.n + id[k]) * g.inner;
                for (int64_t j = 0; j < g.inner; j++) dr[j] += gr[j];
            }
    });
}

/* recorded: dx = index_add(zeros like x, axis, ids, dy), as rows of x's gradient
 * that rg_autograd joins with x's other rows (one index_add for T selections) */
static int index_select_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                              rg_tensor **din) {
    const rg_tensor *x = e->in[0];
    int taken = rg_autograd_rows(tp, x, (int)e->attr.i[0], e->in[1], dout[0]);
    if (taken != 0) return taken > 0 ? 0 : -1;
    rg_tensor *z = rg_zeros(tp, x->dtype, x->rank, x->shape);
    din[0] = rg_index_add(tp, z, (int)e->attr.i[0], e->in[1], dout[0]);
    return din[0] ? 0 : -1;
}

static const rg_op index_select_row = {.name = "index_select", .n_in = 2, .n_out = 1,
                                       .shape = index_select_shape,
                                       .forward = index_select_forward,
                                       .backward = index_select_backward,
                                       .backward_graph = index_select_graph};

/* ---- index_add ---------------------------------------------------------------------
 * x [..., L, ...] (axis), ids I32 [K] with values in [0, L), src [..., K, ...] (x's
 * shape with K on the axis) -> y like x (torch.index_add):
 *   y = x;  y[o,ids[k],j] += src[o,k,j] (repeated ids add up);
 *   dx += dy;  dsrc[o,k,j] += dy[o,ids[k],j] (index_select of dy).
 * The scatter-add of index_select's and embedding's backward as an op of its
 * own, so that their recorded backward can be differentiated again.  A rank-0
 * x takes one id (0) and a rank-0 src.  attr: i[0] axis. */

static int index_add_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0], *ids = e->in[1], *src = e->in[2];
    char sx[64], si[64], ss[64];
    if (need_float(tp, "rg_index_add", "x", x)) return -1;
    if (src->dtype != x->dtype)
        return rg_op_error(tp, "rg_index_add: src %s is %s, x %s is %s",
                           rg_shape_str(src, ss, sizeof ss), rg_dtype_name(src->dtype),
                           rg_shape_str(x, sx, sizeof sx), rg_dtype_name(x->dtype));
    if (ids->dtype != RG_I32 || ids->rank > 1)
        return rg_op_error(tp, "rg_index_add: ids must be I32 of rank 0 or 1, got %s %s",
                           rg_dtype_name(ids->dtype), rg_shape_str(ids, si, sizeof si));
    if (norm_axis(tp, e, "rg_index_add", x)) return -1;
    int ax = (int)e->attr.i[0];
    int64_t L = x->rank ? x->shape[ax] : 1, k = bad_index(ids, L);
    if (k >= 0)
        return rg_op_error(tp, "rg_index_add: id %d at index %lld out of range [0, %lld) "
                               "for axis %d of x %s",
                           (int)((const int32_t *)ids->data)[k], (long long)k, (long long)L, ax,
                           rg_shape_str(x, sx, sizeof sx));
    bool fits = src->rank == x->rank && (x->rank > 0 || ids->numel == 1);
    for (int d = 0; fits && d < x->rank; d++)
        fits = src->shape[d] == (d == ax ? ids->numel : x->shape[d]);
    if (!fits)
        return rg_op_error(tp, "rg_index_add: src %s does not fit x %s with %lld ids on axis %d",
                           rg_shape_str(src, ss, sizeof ss), rg_shape_str(x, sx, sizeof sx),
                           (long long)ids->numel, ax);
    rg_set_out_shape(e->out[0], x->dtype, x->rank, x->shape);
    return 0;
}

static void index_add_forward(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0];
    const int32_t *id = e->in[1]->data;
    axis_geom g = geom_of(x, (int)e->attr.i[0]);
    int64_t K = e->in[1]->numel;
    memcpy(e->out[0]->data, x->data, (size_t)x->numel * rg_dtype_size(x->dtype));
    WITH_FLOAT_T(x->dtype, {
        const T *s = e->in[2]->data;
        T *y = e->out[0]->data;
        for (int64_t o = 0; o < g.outer; o++)
            for (int64_t k = 0; k < K; k++) {
                const T *sr = s + (o * K + k) * g.inner;
                T *yr = y + (o * g.n + id[k]) * g.inner;
                for (int64_t j = 0; j < g.inner; j++) yr[j] += sr[j];
            }
    });
}

static void index_add_backward(rg_tape *tp, rg_entry *e) {
    const void *dy = e->out[0]->grad;
    if (!dy) return;
    void *dx = rg_grad(tp, e->in[0]), *ds = rg_grad(tp, e->in[2]);
    const int32_t *id = e->in[1]->data;
    axis_geom g = geom_of(e->in[0], (int)e->attr.i[0]);
    int64_t K = e->in[1]->numel, n = e->in[0]->numel;
    WITH_FLOAT_T(e->in[0]->dtype, {
        const T *gy = dy;
        T *dX = dx, *dS = ds; /* x and src may be one tensor: no restrict */
        for (int64_t i = 0; dX && i < n; i++) dX[i] += gy[i];
        for (int64_t o = 0; dS && o < g.outer; o++)
            for (int64_t k = 0; k < K; k++) {
                const T *gr = gy + (o * g.n + id[k]) * g.inner;
                T *dr = dS + (o * K + k) * g.inner;
                for (int64_t j = 0; j < g.inner; j++) dr[j] += gr[j];
            }
    });
}

/* recorded: dx = dy, dsrc = index_select(dy, axis, ids) */
static int index_add_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                           rg_tensor **din) {
    din[0] = dout[0];
    din[2] = rg_index_select(tp, dout[0], (int)e->attr.i[0], e->in[1]);
    return din[2] ? 0 : -1;
}

static const rg_op index_add_row = {.name = "index_add", .n_in = 3, .n_out = 1,
                                    .shape = index_add_shape, .forward = index_add_forward,
                                    .backward = index_add_backward,
                                    .backward_graph = index_add_graph};

/* ---- gather (take along an axis) ---------------------------------------------------
 * torch.gather: x and idx (I32) of one rank, idx's dims no larger than x's off
 * the axis, values in [0, x's axis length) -> y of idx's shape:
 *   y[m] = x[m with m_axis replaced by idx[m]];  dx[that element] += dy[m].
 * attr: i[0] axis. */

static int gather_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0], *idx = e->in[1];
    char sx[64], si[64];
    if (need_float(tp, "rg_gather", "x", x)) return -1;
    if (idx->dtype != RG_I32 || idx->rank != x->rank)
        return rg_op_error(tp, "rg_gather: idx must be I32 of x's rank, got idx %s %s for x %s",
                           rg_dtype_name(idx->dtype), rg_shape_str(idx, si, sizeof si),
                           rg_shape_str(x, sx, sizeof sx));
    if (norm_axis(tp, e, "rg_gather", x)) return -1;
    int ax = (int)e->attr.i[0];
    for (int d = 0; d < x->rank; d++)
        if (d != ax && idx->shape[d] > x->shape[d])
            return rg_op_error(tp, "rg_gather: idx %s is larger than x %s along dim %d",
                               rg_shape_str(idx, si, sizeof si), rg_shape_str(x, sx, sizeof sx),
                               d);
    int64_t L = x->rank ? x->shape[ax] : 1, k = bad_index(idx, L);
    if (k >= 0)
        return rg_op_error(tp, "rg_gather: index %d at flat position %lld out of range [0, %lld) "
                               "for axis %d of x %s",
                           (int)((const int32_t *)idx->data)[k], (long long)k, (long long)L, ax,
                           rg_shape_str(x, sx, sizeof sx));
    rg_set_out_shape(e->out[0], x->dtype, idx->rank, idx->shape);
    return 0;
}

/* Fills off[m] with x's flat offset for each element m of idx (arena scratch,
 * shared by forward and backward); NULL after an error on the tape. */
static int64_t *gather_offsets(rg_tape *tp, const rg_entry *e) {
    const rg_tensor *x = e->in[0], *idx = e->in[1];
    const int32_t *iv = idx->data;
    int64_t *off = rg_tape_alloc(tp, (size_t)(idx->numel ? idx->numel : 1) * sizeof *off);
    if (!off) return NULL;
    /* A rank-0 x is [1,1,1,1] with its one index (0) in the last dim. */
    int pad = RG_MAX_RANK - x->rank, ax = x->rank ? (int)e->attr.i[0] + pad : RG_MAX_RANK - 1;
    int64_t d[RG_MAX_RANK], st[RG_MAX_RANK], s = 1;
    for (int i = RG_MAX_RANK - 1; i >= 0; i--) {
        d[i] = i < pad ? 1 : idx->shape[i - pad];
        st[i] = s;
        s *= i < pad ? 1 : x->shape[i - pad];
    }
    int64_t m = 0;
    for (int64_t i0 = 0; i0 < d[0]; i0++)
        for (int64_t i1 = 0; i1 < d[1]; i1++)
            for (int64_t i2 = 0; i2 < d[2]; i2++)
                for (int64_t i3 = 0; i3 < d[3]; i3++, m++) {
                    int64_t c[RG_MAX_RANK] = {i0, i1, i2, i3};
                    c[ax] = iv[m];
                    off[m] = c[0] * st[0] + c[1] * st[1] + c[2] * st[2] + c[3] * st[3];
                }
    return off;
}

static void gather_forward(rg_tape *tp, rg_entry *e) {
    const int64_t *off = gather_offsets(tp, e);
    if (!off) return;
    e->saved = (void *)off;
    int64_t n = e->out[0]->numel;
    WITH_FLOAT_T(e->in[0]->dtype, {
        const T *x = e->in[0]->data;
        T *y = e->out[0]->data;
        for (int64_t m = 0; m < n; m++) y[m] = x[off[m]];
    });
}

static void gather_backward(rg_tape *tp, rg_entry *e) {
    const void *dy = e->out[0]->grad;
    void *dx = rg_grad(tp, e->in[0]);
    const int64_t *off = e->saved;
    if (!dy || !dx || !off) return;
    int64_t n = e->out[0]->numel;
    WITH_FLOAT_T(e->in[0]->dtype, {
        const T *g = dy;
        T *d = dx;
        for (int64_t m = 0; m < n; m++) d[off[m]] += g[m];
    });
}

/* recorded, for gather and topk: dx = dy's elements added at x's flat offsets
 * off[m] (m < dy->numel), as rg_index_add into x flattened (I32 offsets). */
static rg_tensor *scatter_flat(rg_tape *tp, const rg_entry *e, rg_tensor *dy,
                               const int64_t *off) {
    const rg_tensor *x = e->in[0];
    int64_t n = dy->numel, nx = x->numel;
    char sx[64];
    if (!off) {
        rg_op_error(tp, "rg_autograd: op '%s' kept no offsets for its recorded backward",
                    e->op->name);
        return NULL;
    }
    if (nx > INT32_MAX) {
        rg_op_error(tp, "rg_autograd: op '%s': x %s has more elements than I32 offsets reach",
                    e->op->name, rg_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    rg_tensor *ids = rg_tensor_new(tp, RG_I32, 1, &n);
    if (!ids) return NULL;
    for (int64_t m = 0; m < n; m++) ((int32_t *)ids->data)[m] = (int32_t)off[m];
    rg_tensor *s = rg_index_add(tp, rg_zeros(tp, x->dtype, 1, &nx), 0, ids,
                                rg_reshape(tp, dy, 1, &n));
    return s ? rg_reshape(tp, s, x->rank, x->shape) : NULL;
}

static int gather_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                        rg_tensor **din) {
    din[0] = scatter_flat(tp, e, dout[0], e->saved);
    return din[0] ? 0 : -1;
}

static const rg_op gather_row = {.name = "gather", .n_in = 2, .n_out = 1, .shape = gather_shape,
                                 .forward = gather_forward, .backward = gather_backward,
                                 .backward_graph = gather_graph};

/* ---- masks ------------------------------------------------------------------------ */

/* m's elements as bytes, 1 where nonzero (NaN counts as nonzero), in the arena. */
static uint8_t *mask_bytes(rg_tape *tp, const rg_tensor *m) {
    uint8_t *b = rg_tape_alloc(tp, (size_t)(m->numel ? m->numel : 1));
    if (!b) return NULL;
    if (m->dtype == RG_I32) {
        const int32_t *v = m->data;
        for (int64_t k = 0; k < m->numel; k++) b[k] = v[k] != 0;
    } else
        WITH_FLOAT_T(m->dtype, {
            const T *v = m->data;
            for (int64_t k = 0; k < m->numel; k++) b[k] = v[k] != 0;
        });
    return b;
}

/* ---- where -------------------------------------------------------------------------------
 * mask (F32, F64 or I32; nonzero is true), a, b of one float dtype, all three
 * broadcast together (torch.where):
 *   y = a where mask, else b;  da += dy where mask, db += dy elsewhere (each
 *   summed over its broadcast dims).  saved: the mask as bytes. */

static int where_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *m = e->in[0], *a = e->in[1], *b = e->in[2];
    char sm[64], sa[64], sb[64];
    if (need_float(tp, "rg_where", "a", a) || need_float(tp, "rg_where", "b", b)) return -1;
    if (a->dtype != b->dtype)
        return rg_op_error(tp, "rg_where: dtypes differ: a %s %s, b %s %s",
                           rg_shape_str(a, sa, sizeof sa), rg_dtype_name(a->dtype),
                           rg_shape_str(b, sb, sizeof sb), rg_dtype_name(b->dtype));
    int rank;
    int64_t shape[RG_MAX_RANK];
    if (!rg_bc_shape(3, (const rg_tensor *const *)e->in, &rank, shape))
        return rg_op_error(tp, "rg_where: shapes do not broadcast: mask %s, a %s, b %s",
                           rg_shape_str(m, sm, sizeof sm), rg_shape_str(a, sa, sizeof sa),
                           rg_shape_str(b, sb, sizeof sb));
    rg_set_out_shape(e->out[0], a->dtype, rank, shape);
    return 0;
}

static void where_forward(rg_tape *tp, rg_entry *e) {
    const uint8_t *mk = mask_bytes(tp, e->in[0]);
    if (!mk) return;
    e->saved = (void *)mk;
    rg_bc p;
    rg_bc_plan(&p, e->out[0], 3, (const rg_tensor *const *)e->in);
    WITH_FLOAT_T(e->out[0]->dtype, {
        const T *a = e->in[1]->data, *b = e->in[2]->data;
        T *y = e->out[0]->data;
        RG_BC_FOR(&p, y[i] = mk[j0] ? a[j1] : b[j2]);
    });
}

static void where_backward(rg_tape *tp, rg_entry *e) {
    const void *dy = e->out[0]->grad;
    const uint8_t *mk = e->saved;
    void *da = rg_grad(tp, e->in[1]), *db = rg_grad(tp, e->in[2]);
    if (!dy || !mk || (!da && !db)) return;
    rg_bc p;
    rg_bc_plan(&p, e->out[0], 3, (const rg_tensor *const *)e->in);
    WITH_FLOAT_T(e->out[0]->dtype, {
        const T *g = dy;
        T *dA = da, *dB = db; /* a and b may be one tensor: no restrict */
        RG_BC_FOR(&p, {
            if (mk[j0]) {
                if (dA) dA[j1] += g[i];
            } else if (dB) {
                dB[j2] += g[i];
            }
        });
    });
}

/* recorded: da = where(mask, dy, 0), db = where(mask, 0, dy), each summed to its
 * input's shape (where, not a product with the mask: an infinite dy stays out) */
static int where_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                       rg_tensor **din) {
    rg_tensor *m = e->in[0], *a = e->in[1], *b = e->in[2], *dy = dout[0];
    rg_tensor *zero = rg_zeros(tp, dy->dtype, 0, NULL);
    if (a->flags & RG_REQUIRES_GRAD)
        if (!(din[1] = rg_sum_to(tp, rg_where(tp, m, dy, zero), a))) return -1;
    if (b->flags & RG_REQUIRES_GRAD)
        if (!(din[2] = rg_sum_to(tp, rg_where(tp, m, zero, dy), b))) return -1;
    return zero ? 0 : -1;
}

static const rg_op where_row = {.name = "where", .n_in = 3, .n_out = 1, .shape = where_shape,
                                .forward = where_forward, .backward = where_backward,
                                .backward_graph = where_graph};

/* ---- masked_fill ---------------------------------------------------------------------
 * x float, mask (F32, F64 or I32) broadcastable to x's shape, value = attr.f[0]:
 *   y = value where mask, else x;  dx += dy where not mask.  saved: the mask bytes. */

static int masked_fill_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0], *m = e->in[1];
    char sx[64], sm[64];
    if (need_float(tp, "rg_masked_fill", "x", x)) return -1;
    int rank;
    int64_t shape[RG_MAX_RANK];
    bool fits = rg_bc_shape(2, (const rg_tensor *const *)e->in, &rank, shape) &&
                rank == x->rank;
    for (int d = 0; fits && d < rank; d++) fits = shape[d] == x->shape[d];
    if (!fits)
        return rg_op_error(tp, "rg_masked_fill: mask %s does not broadcast to x %s",
                           rg_shape_str(m, sm, sizeof sm), rg_shape_str(x, sx, sizeof sx));
    rg_set_out_shape(e->out[0], x->dtype, x->rank, x->shape);
    return 0;
}

static void masked_fill_forward(rg_tape *tp, rg_entry *e) {
    const uint8_t *mk = mask_bytes(tp, e->in[1]);
    if (!mk) return;
    e->saved = (void *)mk;
    rg_bc p;
    rg_bc_plan(&p, e->out[0], 2, (const rg_tensor *const *)e->in);
    WITH_FLOAT_T(e->out[0]->dtype, {
        const T *x = e->in[0]->data, v = (T)e->attr.f[0];
        T *y = e->out[0]->data;
        RG_BC_FOR(&p, y[i] = mk[j1] ? v : x[i]);
    });
}

static void masked_fill_backward(rg_tape *tp, rg_entry *e) {
    const void *dy = e->out[0]->grad;
    const uint8_t *mk = e->saved;
    void *dx = rg_grad(tp, e->in[0]);
    if (!dy || !mk || !dx) return;
    rg_bc p;
    rg_bc_plan(&p, e->out[0], 2, (const rg_tensor *const *)e->in);
    WITH_FLOAT_T(e->out[0]->dtype, {
        const T *g = dy;
        T *d = dx;
        RG_BC_FOR(&p, if (!mk[j1]) d[i] += g[i]);
    });
}

/* recorded: dx = masked_fill(dy, mask, 0) */
static int masked_fill_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                             rg_tensor **din) {
    din[0] = rg_masked_fill(tp, dout[0], e->in[1], 0.0);
    return din[0] ? 0 : -1;
}

static const rg_op masked_fill_row = {.name = "masked_fill", .n_in = 2, .n_out = 1,
                                      .shape = masked_fill_shape, .forward = masked_fill_forward,
                                      .backward = masked_fill_backward,
                                      .backward_graph = masked_fill_graph};

/* ---- comparisons -----------------------------------------------------------------------
 * a, b of one float dtype, broadcast -> y of their dtype, 1 where the relation
 * holds and 0 elsewhere (NaN compares false, and not-equal to everything).  No
 * gradient: the public functions run with grad mode off, so the mask never
 * requires one (as PyTorch's bool results); the rows have no backward. */

static int cmp_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *a = e->in[0], *b = e->in[1];
    char fn[32], sa[64], sb[64];
    snprintf(fn, sizeof fn, "rg_%s", e->op->name);
    if (need_float(tp, fn, "a", a) || need_float(tp, fn, "b", b)) return -1;
    if (a->dtype != b->dtype)
        return rg_op_error(tp, "%s: dtypes differ: a %s %s, b %s %s", fn,
                           rg_shape_str(a, sa, sizeof sa), rg_dtype_name(a->dtype),
                           rg_shape_str(b, sb, sizeof sb), rg_dtype_name(b->dtype));
    int rank;
    int64_t shape[RG_MAX_RANK];
    if (!rg_bc_shape(2, (const rg_tensor *const *)e->in, &rank, shape))
        return rg_op_error(tp, "%s: shapes do not broadcast: a %s, b %s", fn,
                           rg_shape_str(a, sa, sizeof sa), rg_shape_str(b, sb, sizeof sb));
    rg_set_out_shape(e->out[0], a->dtype, rank, shape);
    return 0;
}

#define CMP_ROW(NAME, REL)                                                             \
    static void NAME##_forward(rg_tape *tp, rg_entry *e) {                             \
        rg_bc p;                                                                       \
        rg_bc_plan(&p, e->out[0], 2, (const rg_tensor *const *)e->in);                 \
        WITH_FLOAT_T(e->out[0]->dtype, {                                               \
            const T *a = e->in[0]->data, *b = e->in[1]->data;                          \
            T *y = e->out[0]->data;                                                    \
            RG_BC_FOR(&p, y[i] = (T)(a[j0] REL b[j1]));                                \
        });                                                                            \
    }                                                                                  \
    static const rg_op NAME##_row = {.name = #NAME, .n_in = 2, .n_out = 1,           \
                                     .shape = cmp_shape, .forward = NAME##_forward};

CMP_ROW(gt, >)  /* gt: y = [a > b] */
CMP_ROW(lt, <)  /* lt: y = [a < b] */
CMP_ROW(ge, >=) /* ge: y = [a >= b] */
CMP_ROW(le, <=) /* le: y = [a <= b] */
CMP_ROW(eq, ==) /* eq: y = [a == b] */
CMP_ROW(ne, !=) /* ne: y = [a != b] */

/* ---- argmax and argmin -------------------------------------------------------------------
 * x float, along axis (0 or -1 on a rank-0 x) -> I32 indices, the axis dropped
 * (kept as 1 with keepdim): the first largest (smallest) element, or the first
 * NaN, as torch.argmax / torch.argmin on the CPU.  No gradient (I32).
 * attr: i[0] axis, i[1] keepdim. */

static int arg_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0];
    char fn[32], s[64];
    snprintf(fn, sizeof fn, "rg_%s", e->op->name);
    if (need_float(tp, fn, "x", x) || norm_axis(tp, e, fn, x)) return -1;
    int ax = (int)e->attr.i[0];
    if (x->rank > 0 && x->shape[ax] == 0)
        return rg_op_error(tp, "%s: axis %d of x %s is empty", fn, ax,
                           rg_shape_str(x, s, sizeof s));
    bool keep = e->attr.i[1] != 0;
    int64_t shape[RG_MAX_RANK];
    int r = 0;
    for (int d = 0; d < x->rank; d++)
        if (d != ax || keep) shape[r++] = d == ax ? 1 : x->shape[d];
    rg_set_out_shape(e->out[0], RG_I32, r, shape);
    return 0;
}

/* v beats the best so far: a first NaN, or strictly beyond it (SIGN 1 larger, -1 smaller). */
#define ARG_BEATS(v, best, SIGN)                                                       \
    (((v) != (v) && (best) == (best)) || ((best) == (best) && (SIGN) * ((v) - (best)) > 0))

static void arg_run(rg_entry *e, int sign) {
    axis_geom g = geom_of(e->in[0], (int)e->attr.i[0]);
    int32_t *y = e->out[0]->data;
    WITH_FLOAT_T(e->in[0]->dtype, {
        const T *x = e->in[0]->data;
        for (int64_t o = 0; o < g.outer; o++)
            for (int64_t j = 0; j < g.inner; j++) {
                const T *xo = x + o * g.n * g.inner + j;
                int64_t best = 0;
                for (int64_t k = 1; k < g.n; k++)
                    if (ARG_BEATS(xo[k * g.inner], xo[best * g.inner], sign)) best = k;
                y[o * g.inner + j] = (int32_t)best;
            }
    });
}

/* argmax: y[o,j] = first k maximising x[o,k,j] */
static void argmax_forward(rg_tape *tp, rg_entry *e) { arg_run(e, 1); }
static const rg_op argmax_row = {.name = "argmax", .n_in = 1, .n_out = 1, .shape = arg_shape,
                                 .forward = argmax_forward, .backward = NULL};

/* argmin: y[o,j] = first k minimising x[o,k,j] */
static void argmin_forward(rg_tape *tp, rg_entry *e) { arg_run(e, -1); }
static const rg_op argmin_row = {.name = "argmin", .n_in = 1, .n_out = 1, .shape = arg_shape,
                                 .forward = argmin_forward, .backward = NULL};

/* ---- topk ------------------------------------------------------------------------------------
 * x float [..., L, ...] (axis), 0 <= k <= L -> values [..., k, ...] (x's dtype)
 * and indices I32 of the same shape: the k largest (smallest) elements of each
 * slice in order, largest (smallest) first, ties by lower index, NaN counted as
 * larger than any number (torch.topk, sorted=True);
 *   dx[o, indices[o,q,j], j] += dvalues[o,q,j].
 * A rank-0 x takes k = 1.  attr: i[0] axis, i[1] k, i[2] largest. */

typedef struct topk_item {
    double v;
    int64_t k;
} topk_item;

/* NaN first, then larger values, then lower indices. */
static int topk_cmp_largest(const void *pa, const void *pb) {
    const topk_item *a = pa, *b = pb;
    bool na = a->v != a->v, nb = b->v != b->v;
    if (na != nb) return na ? -1 : 1;
    if (!na && a->v != b->v) return a->v > b->v ? -1 : 1;
    return a->k < b->k ? -1 : (a->k > b->k);
}

/* Smaller values first, NaN last, then lower indices. */
static int topk_cmp_smallest(const void *pa, const void *pb) {
    const topk_item *a = pa, *b = pb;
    bool na = a->v != a->v, nb = b->v != b->v;
    if (na != nb) return na ? 1 : -1;
    if (!na && a->v != b->v) return a->v < b->v ? -1 : 1;
    return a->k < b->k ? -1 : (a->k > b->k);
}

static int topk_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0];
    char s[64];
    if (need_float(tp, "rg_topk", "x", x) || norm_axis(tp, e, "rg_topk", x)) return -1;
    int ax = (int)e->attr.i[0];
    int64_t L = x->rank ? x->shape[ax] : 1, k = e->attr.i[1];
    if (k < 0 || k > L || (x->rank == 0 && k != 1))
        return rg_op_error(tp, "rg_topk: k = %lld out of range [%d, %lld] for axis %d of x %s",
                           (long long)k, x->rank ? 0 : 1, (long long)L, ax,
                           rg_shape_str(x, s, sizeof s));
    int64_t shape[RG_MAX_RANK];
    for (int d = 0; d < x->rank; d++) shape[d] = d == ax ? k : x->shape[d];
    rg_set_out_shape(e->out[0], x->dtype, x->rank, shape);
    rg_set_out_shape(e->out[1], RG_I32, x->rank, shape);
    return 0;
}

static void topk_forward(rg_tape *tp, rg_entry *e) {
    const rg_tensor *x = e->in[0];
    axis_geom g = geom_of(x, (int)e->attr.i[0]);
    int64_t K = e->attr.i[1];
    int (*cmp)(const void *, const void *) = e->attr.i[2] ? topk_cmp_largest : topk_cmp_smallest;
    topk_item *it = rg_tape_alloc(tp, (size_t)(g.n ? g.n : 1) * sizeof *it);
    if (!it) return;
    int32_t *iy = e->out[1]->data;
    WITH_FLOAT_T(x->dtype, {
        const T *xv = x->data;
        T *vy = e->out[0]->data;
        for (int64_t o = 0; o < g.outer; o++)
            for (int64_t j = 0; j < g.inner; j++) {
                const T *xo = xv + o * g.n * g.inner + j;
                for (int64_t k = 0; k < g.n; k++) it[k] = (topk_item){xo[k * g.inner], k};
                qsort(it, (size_t)g.n, sizeof *it, cmp);
                for (int64_t q = 0; q < K; q++) {
                    int64_t p = (o * K + q) * g.inner + j;
                    vy[p] = xo[it[q].k * g.inner];
                    iy[p] = (int32_t)it[q].k;
                }
            }
    });
}

static void topk_backward(rg_tape *tp, rg_entry *e) {
    const void *dv = e->out[0]->grad;
    void *dx = rg_grad(tp, e->in[0]);
    if (!dv || !dx) return;
    axis_geom g = geom_of(e->in[0], (int)e->attr.i[0]);
    int64_t K = e->attr.i[1];
    const int32_t *iy = e->out[1]->data;
    WITH_FLOAT_T(e->in[0]->dtype, {
        const T *gv = dv;
        T *d = dx;
        for (int64_t o = 0; o < g.outer; o++)
            for (int64_t q = 0; q < K; q++)
                for (int64_t j = 0; j < g.inner; j++) {
                    int64_t p = (o * K + q) * g.inner + j;
                    d[(o * g.n + iy[p]) * g.inner + j] += gv[p];
                }
    });
}

/* recorded: dvalues added at the chosen elements' flat offsets (rg_index_add) */
static int topk_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                      rg_tensor **din) {
    if (!dout[0]) return 0; /* the indices carry no gradient */
    axis_geom g = geom_of(e->in[0], (int)e->attr.i[0]);
    int64_t K = e->attr.i[1], n = e->out[0]->numel;
    const int32_t *iy = e->out[1]->data;
    int64_t *off = rg_tape_alloc(tp, (size_t)(n ? n : 1) * sizeof *off);
    if (!off) return -1;
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t q = 0; q < K; q++)
            for (int64_t j = 0; j < g.inner; j++) {
                int64_t p = (o * K + q) * g.inner + j;
                off[p] = (o * g.n + iy[p]) * g.inner + j;
            }
    din[0] = scatter_flat(tp, e, dout[0], off);
    return din[0] ? 0 : -1;
}

static const rg_op topk_row = {.name = "topk", .n_in = 1, .n_out = 2, .shape = topk_shape,
                               .forward = topk_forward, .backward = topk_backward,
                               .backward_graph = topk_graph};

/* ---- the rows and the public functions ------------------------------------------------------ */

const rg_op *const rg_rows_indexing[] = {
    &index_select_row, &gather_row, &where_row, &masked_fill_row, &gt_row,   &lt_row,
    &ge_row,           &le_row,     &eq_row,    &ne_row,          &argmax_row, &argmin_row,
    &topk_row,         &index_add_row,
};
const int rg_rows_indexing_n = (int)(sizeof rg_rows_indexing / sizeof rg_rows_indexing[0]);

rg_tensor *rg_index_select(rg_tape *tp, rg_tensor *x, int axis, rg_tensor *ids) {
    rg_attr at = {.i = {axis}};
    return rg_ops_apply(tp, &index_select_row, 2, (rg_tensor *[]){x, ids}, &at);
}

rg_tensor *rg_index_add(rg_tape *tp, rg_tensor *x, int axis, rg_tensor *ids, rg_tensor *src) {
    rg_attr at = {.i = {axis}};
    return rg_ops_apply(tp, &index_add_row, 3, (rg_tensor *[]){x, ids, src}, &at);
}

rg_tensor *rg_gather(rg_tape *tp, rg_tensor *x, int axis, rg_tensor *idx) {
    rg_attr at = {.i = {axis}};
    return rg_ops_apply(tp, &gather_row, 2, (rg_tensor *[]){x, idx}, &at);
}

rg_tensor *rg_where(rg_tape *tp, rg_tensor *mask, rg_tensor *a, rg_tensor *b) {
    return rg_ops_apply(tp, &where_row, 3, (rg_tensor *[]){mask, a, b}, NULL);
}

rg_tensor *rg_masked_fill(rg_tape *tp, rg_tensor *x, rg_tensor *mask, double value) {
    rg_attr at = {.f = {value}};
    return rg_ops_apply(tp, &masked_fill_row, 2, (rg_tensor *[]){x, mask}, &at);
}

/* Runs a row whose outputs never carry a gradient with grad mode off: no tape
 * entry, and the output does not require a gradient. */
static rg_tensor *apply_nograd(rg_tape *tp, const rg_op *op, int n, rg_tensor *const *in,
                               const rg_attr *at) {
    if (!rg_ops_call_ok(tp, op, NULL, n, in)) return NULL;
    bool was = rg_tape_set_grad_enabled(tp, false);
    rg_tensor *y = rg_apply(tp, op, n, in, at);
    rg_tape_set_grad_enabled(tp, was);
    return y;
}

rg_tensor *rg_gt(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    return apply_nograd(tp, &gt_row, 2, (rg_tensor *[]){a, b}, NULL);
}
rg_tensor *rg_lt(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    return apply_nograd(tp, &lt_row, 2, (rg_tensor *[]){a, b}, NULL);
}
rg_tensor *rg_ge(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    return apply_nograd(tp, &ge_row, 2, (rg_tensor *[]){a, b}, NULL);
}
rg_tensor *rg_le(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    return apply_nograd(tp, &le_row, 2, (rg_tensor *[]){a, b}, NULL);
}
rg_tensor *rg_eq(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    return apply_nograd(tp, &eq_row, 2, (rg_tensor *[]){a, b}, NULL);
}
rg_tensor *rg_ne(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    return apply_nograd(tp, &ne_row, 2, (rg_tensor *[]){a, b}, NULL);
}

rg_tensor *rg_argmax(rg_tape *tp, rg_tensor *x, int axis, bool keepdim) {
    rg_attr at = {.i = {axis, keepdim ? 1 : 0}};
    return apply_nograd(tp, &argmax_row, 1, &x, &at);
}
rg_tensor *rg_argmin(rg_tape *tp, rg_tensor *x, int axis, bool keepdim) {
    rg_attr at = {.i = {axis, keepdim ? 1 : 0}};
    return apply_nograd(tp, &argmin_row, 1, &x, &at);
}

int rg_topk(rg_tape *tp, rg_tensor *x, int64_t k, int axis, bool largest, rg_tensor **out) {
    if (!out)
        return rg_op_error(tp, "rg_topk: out is NULL (room for values and indices is needed)");
    out[0] = out[1] = NULL;
    rg_attr at = {.i = {axis, k, largest ? 1 : 0}};
    int r = rg_ops_apply_multi(tp, &topk_row, 1, &x, &at, out);
    if (r != 0) out[0] = out[1] = NULL;
    return r;
}
