/* Movement ops: transpose, reshape (a view), concat, stack, slice, and split
 * built from slices.  Forward copies values (dtype-blind: F32, F64 and I32 all
 * move); backward adds the output gradient back into the positions it came
 * from (float dtypes only: I32 never has a gradient). */
#include <string.h>

#include "ops_internal.h"

/* ---- helpers ------------------------------------------------------------- */

/* Product of dims [lo, hi). */
static int64_t dims_prod(const rg_tensor *t, int lo, int hi) {
    int64_t p = 1;
    for (int d = lo; d < hi; d++) p *= t->shape[d];
    return p;
}

/* dst[o*dst_stride + j] (+)= src[o*src_stride + j] for o < outer, j < count:
 * the one loop behind concat, stack and slice, both directions. */
static void copy_rows(size_t esz, void *dst, int64_t dst_stride, const void *src,
                      int64_t src_stride, int64_t outer, int64_t count) {
    char *d = dst;
    const char *s = src;
    for (int64_t o = 0; o < outer; o++)
        memcpy(d + (size_t)(o * dst_stride) * esz, s + (size_t)(o * src_stride) * esz,
               (size_t)count * esz);
}

static void add_rows(rg_dtype dt, void *dst, int64_t dst_stride, const void *src,
                     int64_t src_stride, int64_t outer, int64_t count) {
    if (dt == RG_F32) {
        float *d = dst;
        const float *s = src;
        for (int64_t o = 0; o < outer; o++) {
            float *dr = d + o * dst_stride;
            const float *sr = s + o * src_stride;
            for (int64_t j = 0; j < count; j++) dr[j] += sr[j];
        }
    } else if (dt == RG_F64) {
        double *d = dst;
        const double *s = src;
        for (int64_t o = 0; o < outer; o++) {
            double *dr = d + o * dst_stride;
            const double *sr = s + o * src_stride;
            for (int64_t j = 0; j < count; j++) dr[j] += sr[j];
        }
    }
}

/* ---- transpose ------------------------------------------------------------
 * y = x with dims d0 and d1 swapped (a copy); dx += dy with the same swap. */

static int transpose_shape(rg_tape *tp, rg_entry *e) {
    rg_tensor *a = e->in[0];
    int r = a->rank;
    int d0 = rg_axis_norm((int)e->attr.i[0], r), d1 = rg_axis_norm((int)e->attr.i[1], r);
    if (d0 < 0 || d1 < 0) {
        char sa[64];
        return rg_op_error(tp, "rg_transpose: dims (%d, %d) out of range for a %s",
                           (int)e->attr.i[0], (int)e->attr.i[1],
                           rg_shape_str(a, sa, sizeof sa));
    }
    e->attr.i[0] = d0;
    e->attr.i[1] = d1;
    int64_t shape[RG_MAX_RANK];
    memcpy(shape, a->shape, sizeof shape);
    shape[d0] = a->shape[d1];
    shape[d1] = a->shape[d0];
    rg_set_out_shape(e->out[0], a->dtype, r, shape);
    return 0;
}

/* Output dims (padded to 4) and, for each, the input stride that walks it. */
static void transpose_walk(const rg_entry *e, int64_t n[4], int64_t st[4]) {
    const rg_tensor *a = e->in[0];
    int64_t in_st[RG_MAX_RANK];
    int64_t s = 1;
    for (int d = RG_MAX_RANK - 1; d >= 0; d--) {
        in_st[d] = s;
        s *= a->shape[d];
    }
    int d0 = (int)e->attr.i[0], d1 = (int)e->attr.i[1];
    for (int d = 0; d < RG_MAX_RANK; d++) {
        n[d] = e->out[0]->shape[d];
        st[d] = in_st[d];
    }
    st[d0] = in_st[d1];
    st[d1] = in_st[d0];
}

#define TRANSPOSE_LOOP(BODY)                                                    \
    do {                                                                        \
        int64_t k = 0;                                                          \
        for (int64_t i0 = 0; i0 < n[0]; i0++)                                   \
            for (int64_t i1 = 0; i1 < n[1]; i1++)                               \
                for (int64_t i2 = 0; i2 < n[2]; i2++)                           \
                    for (int64_t i3 = 0; i3 < n[3]; i3++, k++) {                \
                        int64_t src = i0 * st[0] + i1 * st[1] + i2 * st[2] +    \
                                      i3 * st[3];                               \
                        BODY;                                                   \
                    }                                                           \
    } while (0)

static void transpose_forward(rg_tape *tp, rg_entry *e) {
    int64_t n[4], st[4];
    transpose_walk(e, n, st);
    if (rg_dtype_size(e->in[0]->dtype) == 8) {
        const uint64_t *x = e->in[0]->data;
        uint64_t *y = e->out[0]->data;
        TRANSPOSE_LOOP(y[k] = x[src]);
    } else {
        const uint32_t *x = e->in[0]->data;
        uint32_t *y = e->out[0]->data;
        TRANSPOSE_LOOP(y[k] = x[src]);
    }
}

static void transpose_backward(rg_tape *tp, rg_entry *e) {
    const void *dy = e->out[0]->grad;
    void *dx = rg_grad(tp, e->in[0]);
    if (!dy || !dx) return;
    int64_t n[4], st[4];
    transpose_walk(e, n, st);
    if (e->in[0]->dtype == RG_F64) {
        const double *g = dy;
        double *d = dx;
        TRANSPOSE_LOOP(d[src] += g[k]);
    } else if (e->in[0]->dtype == RG_F32) {
        const float *g = dy;
        float *d = dx;
        TRANSPOSE_LOOP(d[src] += g[k]);
    }
}

static int transpose_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                           rg_tensor **din);
static const rg_op op_transpose = {"transpose", 1, 1, transpose_shape, transpose_forward,
                                   transpose_backward, transpose_graph};

rg_tensor *rg_transpose(rg_tape *tp, rg_tensor *a, int d0, int d1) {
    rg_attr at = {0};
    at.i[0] = d0;
    at.i[1] = d1;
    return rg_ops_apply(tp, &op_transpose, 1, &a, &at);
}

/* ---- reshape ---------------------------------------------------------------
 * y = x viewed with another shape (same values, y->data == x->data, RG_VIEW);
 * dx += dy element by element.  attr: i[0..3] the dims, i[4] the rank. */

static void shape_list(char *buf, size_t n, int rank, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < rank && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ",%lld" : "%lld", (long long)shape[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

static int reshape_shape(rg_tape *tp, rg_entry *e) {
    rg_tensor *a = e->in[0];
    int rank = (int)e->attr.i[4];
    int64_t shape[RG_MAX_RANK];
    char sa[64], sb[96];
    if (rank < 0 || rank > RG_MAX_RANK)
        return rg_op_error(tp, "rg_reshape: rank %d not in 0..%d", rank, RG_MAX_RANK);
    for (int d = 0; d < rank; d++) shape[d] = e->attr.i[d];
    shape_list(sb, sizeof sb, rank, shape);
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < rank; d++) {
        if (shape[d] == -1 && infer < 0) {
            infer = d;
        } else if (shape[d] < 0) {
            return rg_op_error(tp, "rg_reshape: bad shape %s for a %s (one -1 at most)", sb,
                               rg_shape_str(a, sa, sizeof sa));
        } else {
            known *= shape[d];
        }
    }
    if (infer >= 0) {
        if (known == 0 || a->numel % known != 0)
            return rg_op_error(tp, "rg_reshape: cannot reshape %s (%lld elements) into %s",
                               rg_shape_str(a, sa, sizeof sa), (long long)a->numel, sb);
        shape[infer] = a->numel / known;
        known *= shape[infer];
    }
    if (known != a->numel)
        return rg_op_error(tp, "rg_reshape: cannot reshape %s (%lld elements) into %s",
                           rg_shape_str(a, sa, sizeof sa), (long long)a->numel, sb);
    rg_set_out_shape(e->out[0], a->dtype, rank, shape);
    e->out[0]->flags |= RG_VIEW; /* rg_apply allocates no data for it */
    return 0;
}

static void reshape_forward(rg_tape *tp, rg_entry *e) {
    e->out[0]->data = e->in[0]->data;
    e->out[0]->flags |= RG_VIEW;
    e->out[0]->base = e->in[0];
    e->out[0]->base_offset = 0;
}

/* The view's gradient is the input's (rg_grad aliases them): nothing to add
 * unless the output's gradient was set apart from it. */
static void reshape_backward(rg_tape *tp, rg_entry *e) {
    if (e->out[0]->base) return;
    const void *dy = e->out[0]->grad;
    void *dx = rg_grad(tp, e->in[0]);
    if (!dy || !dx) return;
    add_rows(e->in[0]->dtype, dx, 0, dy, 0, 1, e->in[0]->numel);
}

static int reshape_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                         rg_tensor **din);
static const rg_op op_reshape = {"reshape", 1, 1, reshape_shape, reshape_forward,
                                 reshape_backward, reshape_graph};

rg_tensor *rg_reshape(rg_tape *tp, rg_tensor *a, int rank, const int64_t *shape) {
    rg_attr at = {0};
    if (rank < 0 || rank > RG_MAX_RANK || (rank > 0 && !shape)) {
        if (rank > 0 && rank <= RG_MAX_RANK)
            rg_op_error(tp, "rg_reshape: shape is NULL for rank %d", rank);
        else
            rg_op_error(tp, "rg_reshape: rank %d not in 0..%d", rank, RG_MAX_RANK);
        return NULL;
    }
    for (int d = 0; d < rank; d++) at.i[d] = shape[d];
    at.i[4] = rank;
    return rg_ops_apply(tp, &op_reshape, 1, &a, &at);
}

/* ---- concat and stack ------------------------------------------------------
 * concat: y [.., sum_k L_k, ..] = the inputs side by side along axis;
 * stack: y [.., n, ..] = the inputs (one shape) along a new axis.  Both views
 * of the output as [outer, L, inner]: input k fills a band of L_k along the
 * axis; backward adds that band of dy into dx_k.  attr: i[0] the axis. */

static int concat_shape(rg_tape *tp, rg_entry *e) {
    rg_tensor *a = e->in[0];
    int ax = rg_axis_norm((int)e->attr.i[0], a->rank);
    char sa[64], sb[64];
    if (a->rank == 0 || ax < 0)
        return rg_op_error(tp, "rg_concat: axis %d out of range for a %s",
                           (int)e->attr.i[0], rg_shape_str(a, sa, sizeof sa));
    int64_t shape[RG_MAX_RANK];
    memcpy(shape, a->shape, sizeof shape);
    for (int k = 1; k < e->n_in; k++) {
        rg_tensor *b = e->in[k];
        bool ok = b->dtype == a->dtype && b->rank == a->rank;
        for (int d = 0; ok && d < a->rank; d++)
            if (d != ax && b->shape[d] != a->shape[d]) ok = false;
        if (!ok)
            return rg_op_error(tp,
                               "rg_concat: input %d %s %s does not fit input 0 %s %s "
                               "along axis %d",
                               k, rg_shape_str(b, sb, sizeof sb), rg_dtype_name(b->dtype),
                               rg_shape_str(a, sa, sizeof sa), rg_dtype_name(a->dtype), ax);
        shape[ax] += b->shape[ax];
    }
    e->attr.i[0] = ax;
    rg_set_out_shape(e->out[0], a->dtype, a->rank, shape);
    return 0;
}

static int stack_shape(rg_tape *tp, rg_entry *e) {
    rg_tensor *a = e->in[0];
    int ax = rg_axis_norm((int)e->attr.i[0], a->rank + 1);
    char sa[64], sb[64];
    if (a->rank >= RG_MAX_RANK || ax < 0)
        return rg_op_error(tp, "rg_stack: axis %d out of range for inputs %s",
                           (int)e->attr.i[0], rg_shape_str(a, sa, sizeof sa));
    for (int k = 1; k < e->n_in; k++) {
        rg_tensor *b = e->in[k];
        if (b->dtype != a->dtype || !rg_same_shape(a, b))
            return rg_op_error(tp, "rg_stack: input %d %s %s differs from input 0 %s %s", k,
                               rg_shape_str(b, sb, sizeof sb), rg_dtype_name(b->dtype),
                               rg_shape_str(a, sa, sizeof sa), rg_dtype_name(a->dtype));
    }
    int64_t shape[RG_MAX_RANK];
    for (int d = 0, s = 0; d <= a->rank; d++) shape[d] = d == ax ? e->n_in : a->shape[s++];
    e->attr.i[0] = ax;
    rg_set_out_shape(e->out[0], a->dtype, a->rank + 1, shape);
    return 0;
}

/* outer, total length along the axis and inner of the output. */
static void band_dims(const rg_entry *e, int64_t *outer, int64_t *len, int64_t *inner) {
    const rg_tensor *y = e->out[0];
    int ax = (int)e->attr.i[0];
    *outer = dims_prod(y, 0, ax);
    *len = y->shape[ax];
    *inner = dims_prod(y, ax + 1, RG_MAX_RANK);
}

/* Length along the axis of input k: its dim for concat, 1 for stack. */
static int64_t band_len(const rg_entry *e, int k) {
    return e->out[0]->rank == e->in[k]->rank ? e->in[k]->shape[e->attr.i[0]] : 1;
}

static void band_forward(rg_tape *tp, rg_entry *e) {
    int64_t outer, len, inner, off = 0;
    band_dims(e, &outer, &len, &inner);
    size_t esz = rg_dtype_size(e->out[0]->dtype);
    for (int k = 0; k < e->n_in; k++) {
        int64_t lk = band_len(e, k);
        copy_rows(esz, (char *)e->out[0]->data + (size_t)(off * inner) * esz, len * inner,
                  e->in[k]->data, lk * inner, outer, lk * inner);
        off += lk;
    }
}

static void band_backward(rg_tape *tp, rg_entry *e) {
    const char *dy = e->out[0]->grad;
    if (!dy) return;
    int64_t outer, len, inner, off = 0;
    band_dims(e, &outer, &len, &inner);
    size_t esz = rg_dtype_size(e->out[0]->dtype);
    for (int k = 0; k < e->n_in; k++) {
        int64_t lk = band_len(e, k);
        void *dx = rg_grad(tp, e->in[k]);
        if (dx)
            add_rows(e->out[0]->dtype, dx, lk * inner, dy + (size_t)(off * inner) * esz,
                     len * inner, outer, lk * inner);
        off += lk;
    }
}

/* ---- recorded backward rules (rg_autograd, gradients of gradients) ---------------- */

static int transpose_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                           rg_tensor **din) {
    din[0] = rg_transpose(tp, dout[0], (int)e->attr.i[0], (int)e->attr.i[1]);
    return din[0] ? 0 : -1;
}
static int reshape_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                         rg_tensor **din) {
    din[0] = rg_reshape(tp, dout[0], e->in[0]->rank, e->in[0]->shape);
    return din[0] ? 0 : -1;
}
/* each input's band of dout: a slice (concat) or a slice reshaped (stack) */
static int band_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                      rg_tensor **din) {
    int ax = (int)e->attr.i[0];
    int64_t off = 0;
    for (int k = 0; k < e->n_in; k++) {
        int64_t lk = band_len(e, k);
        rg_tensor *g = rg_slice(tp, dout[0], ax, off, lk);
        din[k] = g ? rg_reshape(tp, g, e->in[k]->rank, e->in[k]->shape) : NULL;
        if (!din[k]) return -1;
        off += lk;
    }
    return 0;
}
/* dout as a band of the input's gradient, joined with the input's other bands by
 * rg_autograd (one concat for T slices); alone: concat(zeros before, dout,
 * zeros after) along the axis */
static int slice_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                       rg_tensor **din) {
    const rg_tensor *a = e->in[0];
    if (a->rank == 0) { /* a slice of a scalar is the scalar */
        din[0] = rg_reshape(tp, dout[0], 0, a->shape);
        return din[0] ? 0 : -1;
    }
    int ax = (int)e->attr.i[0];
    int64_t start = e->attr.i[1], len = e->attr.i[2], shape[RG_MAX_RANK];
    int taken = rg_autograd_band(tp, a, ax, start, dout[0]);
    if (taken != 0) return taken > 0 ? 0 : -1;
    int64_t sizes[3] = {start, len, a->shape[ax] - start - len};
    rg_tensor *parts[3];
    int n = 0;
    for (int p = 0; p < 3; p++) {
        if (sizes[p] == 0 && a->shape[ax] > 0) continue;
        if (p == 1) {
            parts[n++] = dout[0];
            continue;
        }
        memcpy(shape, a->shape, sizeof shape);
        shape[ax] = sizes[p];
        if (!(parts[n++] = rg_zeros(tp, a->dtype, a->rank, shape))) return -1;
    }
    din[0] = n == 1 ? rg_reshape(tp, parts[0], a->rank, a->shape) : rg_concat(tp, n, parts, ax);
    return din[0] ? 0 : -1;
}

static const rg_op op_concat = {"concat", -1, 1, concat_shape, band_forward, band_backward,
                                band_graph};
static const rg_op op_stack = {"stack", -1, 1, stack_shape, band_forward, band_backward,
                               band_graph};

rg_tensor *rg_concat(rg_tape *tp, int n, rg_tensor *const *ts, int axis) {
    rg_attr at = {0};
    if (n < 1 || !ts) {
        rg_op_error(tp, "rg_concat: needs one or more inputs, got %d", n);
        return NULL;
    }
    at.i[0] = axis;
    return rg_ops_apply(tp, &op_concat, n, ts, &at);
}

rg_tensor *rg_stack(rg_tape *tp, int n, rg_tensor *const *ts, int axis) {
    rg_attr at = {0};
    if (n < 1 || !ts) {
        rg_op_error(tp, "rg_stack: needs one or more inputs, got %d", n);
        return NULL;
    }
    at.i[0] = axis;
    return rg_ops_apply(tp, &op_stack, n, ts, &at);
}

/* ---- slice -----------------------------------------------------------------
 * y = x[.., start:start+len, ..] along axis; dx[.., start:start+len, ..] += dy.
 * len may be 0 (an empty y, as PyTorch's narrow), with 0 <= start <= the dim.
 * attr: i[0] axis, i[1] start, i[2] len. */

static int slice_shape(rg_tape *tp, rg_entry *e) {
    rg_tensor *a = e->in[0];
    int ax = a->rank > 0 ? rg_axis_norm((int)e->attr.i[0], a->rank) : -1;
    int64_t start = e->attr.i[1], len = e->attr.i[2];
    char sa[64];
    if (ax < 0)
        return rg_op_error(tp, "rg_slice: axis %d out of range for a %s", (int)e->attr.i[0],
                           rg_shape_str(a, sa, sizeof sa));
    if (start < 0 || len < 0 || start > a->shape[ax] - len)
        return rg_op_error(tp, "rg_slice: range [%lld, %lld) out of bounds on axis %d of a %s",
                           (long long)start, (long long)start + (long long)len, ax,
                           rg_shape_str(a, sa, sizeof sa));
    int64_t shape[RG_MAX_RANK];
    memcpy(shape, a->shape, sizeof shape);
    shape[ax] = len;
    e->attr.i[0] = ax;
    rg_set_out_shape(e->out[0], a->dtype, a->rank, shape);
    /* Whole rows of a contiguous tensor (nothing before the axis): a view. */
    if (dims_prod(a, 0, ax) == 1) e->out[0]->flags |= RG_VIEW;
    return 0;
}

static void slice_forward(rg_tape *tp, rg_entry *e) {
    rg_tensor *x = e->in[0];
    int ax = (int)e->attr.i[0];
    int64_t outer = dims_prod(x, 0, ax), inner = dims_prod(x, ax + 1, RG_MAX_RANK);
    int64_t start = e->attr.i[1], len = e->attr.i[2];
    size_t esz = rg_dtype_size(x->dtype);
    if (e->out[0]->flags & RG_VIEW) {
        e->out[0]->data = (char *)x->data + (size_t)(start * inner) * esz;
        e->out[0]->base = x;
        e->out[0]->base_offset = start * inner;
        return;
    }
    copy_rows(esz, e->out[0]->data, len * inner,
              (const char *)x->data + (size_t)(start * inner) * esz, x->shape[ax] * inner,
              outer, len * inner);
}

static void slice_backward(rg_tape *tp, rg_entry *e) {
    if (e->out[0]->base) return; /* a view: its gradient is a window of the input's */
    const void *dy = e->out[0]->grad;
    char *dx = rg_grad(tp, e->in[0]);
    if (!dy || !dx) return;
    const rg_tensor *x = e->in[0];
    int ax = (int)e->attr.i[0];
    int64_t outer = dims_prod(x, 0, ax), inner = dims_prod(x, ax + 1, RG_MAX_RANK);
    int64_t start = e->attr.i[1], len = e->attr.i[2];
    size_t esz = rg_dtype_size(x->dtype);
    add_rows(x->dtype, dx + (size_t)(start * inner) * esz, x->shape[ax] * inner, dy,
             len * inner, outer, len * inner);
}

static const rg_op op_slice = {"slice", 1, 1, slice_shape, slice_forward, slice_backward,
                               slice_graph};

rg_tensor *rg_slice(rg_tape *tp, rg_tensor *a, int axis, int64_t start, int64_t len) {
    rg_attr at = {0};
    at.i[0] = axis;
    at.i[1] = start;
    at.i[2] = len;
    return rg_ops_apply(tp, &op_slice, 1, &a, &at);
}

/* n slices of equal length; on error every out[k] is NULL. */
int rg_split(rg_tape *tp, rg_tensor *a, int axis, int n, rg_tensor **out) {
    if (!out) {
        rg_op_error(tp, "rg_split: out is NULL");
        return -1;
    }
    for (int k = 0; k < n; k++) out[k] = NULL;
    if (!rg_ops_call_ok(tp, &op_slice, "rg_split", 1, &a)) return -1;
    int ax = a->rank > 0 ? rg_axis_norm(axis, a->rank) : -1;
    char sa[64];
    if (ax < 0) {
        rg_op_error(tp, "rg_split: axis %d out of range for a %s", axis,
                    rg_shape_str(a, sa, sizeof sa));
        return -1;
    }
    if (n < 1 || a->shape[ax] % n != 0) {
        rg_op_error(tp, "rg_split: axis %d of a %s does not split into %d equal parts", ax,
                    rg_shape_str(a, sa, sizeof sa), n);
        return -1;
    }
    int64_t len = a->shape[ax] / n;
    for (int k = 0; k < n; k++) {
        out[k] = rg_slice(tp, a, ax, k * len, len);
        if (!out[k]) {
            for (int j = 0; j < k; j++) out[j] = NULL;
            return -1;
        }
    }
    return 0;
}

const rg_op *const rg_rows_shape[] = {&op_transpose, &op_reshape, &op_concat, &op_stack,
                                      &op_slice};
const int rg_rows_shape_n = (int)(sizeof rg_rows_shape / sizeof rg_rows_shape[0]);
