/* Tensors: creation (persistent on the heap, step tensors in a tape's arena),
 * element access, printing, and the thread's last error. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

static _Thread_local char g_last_error[RG_ERRLEN];

_Noreturn void rg_internal_abort(const char *file, int line, const char *cond) {
    fprintf(stderr, "retrograd: internal error at %s:%d: %s\n", file, line, cond);
    abort();
}

const char *rg_last_error(void) { return g_last_error; }
void rg_clear_error(void) { g_last_error[0] = '\0'; }
/* Both setters format into a local buffer first: msg (or an argument of fmt)
 * may be rg_last_error() itself, and an overlapping snprintf is undefined (glibc
 * leaves the message empty). */
void rg_error_set_msg(const char *msg) {
    char tmp[RG_ERRLEN];
    snprintf(tmp, sizeof tmp, "%s", msg ? msg : "");
    memcpy(g_last_error, tmp, sizeof tmp);
}
void rg_set_error(const char *fmt, ...) {
    char tmp[RG_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(g_last_error, tmp, sizeof tmp);
}

size_t rg_dtype_size(rg_dtype dt) {
    switch (dt) {
    case RG_F32: return sizeof(float);
    case RG_F64: return sizeof(double);
    case RG_I32: return sizeof(int32_t);
    }
    return 0;
}

const char *rg_dtype_name(rg_dtype dt) {
    switch (dt) {
    case RG_F32: return "float32";
    case RG_F64: return "float64";
    case RG_I32: return "int32";
    }
    return "?";
}

char *rg_shape_str(const rg_tensor *t, char *buf, size_t n) {
    size_t k = 0;
    if (!t) {
        snprintf(buf, n, "(null)");
        return buf;
    }
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < t->rank && k < n; ++i)
        k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

bool rg_same_shape(const rg_tensor *a, const rg_tensor *b) {
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; ++i)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

/* Validates rank/shape and computes numel; -1 with the thread error set. */
static int64_t checked_numel(const char *fn, int rank, const int64_t *shape) {
    if (rank < 0 || rank > RG_MAX_RANK) {
        rg_set_error("%s: rank %d outside 0..%d", fn, rank, RG_MAX_RANK);
        return -1;
    }
    if (rank > 0 && !shape) {
        rg_set_error("%s: shape is NULL for rank %d", fn, rank);
        return -1;
    }
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) {
        if (shape[i] < 0) {
            rg_set_error("%s: negative dimension %lld", fn, (long long)shape[i]);
            return -1;
        }
        if (shape[i] && n > INT64_MAX / 8 / shape[i]) {
            rg_set_error("%s: shape too large", fn);
            return -1;
        }
        n *= shape[i];
    }
    return n;
}

static void init_header(rg_tensor *t, rg_dtype dt, int rank, const int64_t *shape,
                        int64_t numel) {
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->rank = rank;
    for (int i = 0; i < RG_MAX_RANK; ++i) t->shape[i] = i < rank ? shape[i] : 1;
    t->numel = numel;
    t->node = -1;
}

static size_t round_up(size_t n) { return (n + RG_ALIGN - 1) & ~(size_t)(RG_ALIGN - 1); }

rg_tensor *rg_tensor_new_as(const char *fn, rg_tape *tp, rg_dtype dt, int rank,
                             const int64_t *shape) {
    if (dt != RG_F32 && dt != RG_F64 && dt != RG_I32) {
        rg_op_error(tp, "%s: unknown dtype %d", fn, (int)dt);
        return NULL;
    }
    int64_t numel = checked_numel(fn, rank, shape);
    if (numel < 0) {
        rg_tape_fail(tp, rg_last_error());
        return NULL;
    }
    size_t hdr = round_up(sizeof(rg_tensor));
    size_t bytes = round_up((size_t)numel * rg_dtype_size(dt));
    rg_tensor *t;
    if (tp) {
        if (rg_tape_failed_again(tp)) return NULL;
        t = rg_tape_alloc(tp, hdr + bytes);
        if (!t) return NULL;
        init_header(t, dt, rank, shape, numel);
        t->gen = tp->gen;
    } else {
        void *p = NULL;
        if (posix_memalign(&p, RG_ALIGN, hdr + bytes) != 0) {
            rg_set_error("%s: out of memory (%zu bytes)", fn, hdr + bytes);
            return NULL;
        }
        t = p;
        init_header(t, dt, rank, shape, numel);
        t->flags = RG_PERSISTENT;
    }
    t->data = (char *)t + hdr;
    return t;
}

rg_tensor *rg_tensor_new(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape) {
    return rg_tensor_new_as("rg_tensor_new", tp, dt, rank, shape);
}

rg_tensor *rg_zeros(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape) {
    rg_tensor *t = rg_tensor_new_as("rg_zeros", tp, dt, rank, shape);
    if (t) memset(t->data, 0, (size_t)t->numel * rg_dtype_size(dt));
    return t;
}

static rg_tensor *full(const char *fn, rg_tape *tp, rg_dtype dt, int rank,
                       const int64_t *shape, double v) {
    rg_tensor *t = rg_tensor_new_as(fn, tp, dt, rank, shape);
    if (t)
        for (int64_t i = 0; i < t->numel; ++i) rg_set(t, i, v);
    return t;
}

rg_tensor *rg_full(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape, double v) {
    return full("rg_full", tp, dt, rank, shape, v);
}

rg_tensor *rg_ones(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape) {
    return full("rg_ones", tp, dt, rank, shape, 1.0);
}

rg_tensor *rg_scalar(rg_tape *tp, rg_dtype dt, double v) {
    return full("rg_scalar", tp, dt, 0, NULL, v);
}

/* NULL values are refused only when there is something to read. */
static bool values_ok(const char *fn, rg_tape *tp, int rank, const int64_t *shape,
                      const void *data) {
    if (data) return true;
    int64_t numel = checked_numel(fn, rank, shape);
    if (numel == 0) return true;
    if (numel > 0) rg_op_error(tp, "%s: data is NULL", fn);
    else rg_tape_fail(tp, rg_last_error());
    return false;
}

rg_tensor *rg_from_doubles(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape,
                           const double *data) {
    if (!values_ok("rg_from_doubles", tp, rank, shape, data)) return NULL;
    rg_tensor *t = rg_tensor_new_as("rg_from_doubles", tp, dt, rank, shape);
    if (t)
        for (int64_t i = 0; i < t->numel; ++i) rg_set(t, i, data[i]);
    return t;
}

static rg_tensor *from_data(const char *fn, rg_tape *tp, rg_dtype dt, int rank,
                            const int64_t *shape, const void *data) {
    if (!values_ok(fn, tp, rank, shape, data)) return NULL;
    rg_tensor *t = rg_tensor_new_as(fn, tp, dt, rank, shape);
    if (t && t->numel) memcpy(t->data, data, (size_t)t->numel * rg_dtype_size(dt));
    return t;
}

rg_tensor *rg_from_data(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape,
                        const void *data) {
    return from_data("rg_from_data", tp, dt, rank, shape, data);
}

void rg_tensor_free(rg_tensor *t) {
    if (!t) return;
    RG_ASSERT(t->flags & RG_PERSISTENT);
    free(t->grad);
    free(t);
}

rg_tensor *rg_tensor_clone(const rg_tensor *t) {
    if (!t) {
        rg_set_error("rg_tensor_clone: tensor is NULL");
        return NULL;
    }
    return from_data("rg_tensor_clone", NULL, t->dtype, t->rank, t->shape, t->data);
}

int rg_tensor_copy(rg_tensor *dst, const rg_tensor *src) {
    if (!dst || !src) {
        rg_set_error("rg_tensor_copy: NULL tensor");
        return -1;
    }
    if (dst->numel != src->numel || (dst->dtype == RG_I32) != (src->dtype == RG_I32)) {
        char a[64], b[64];
        rg_set_error("rg_tensor_copy: dst %s %s and src %s %s do not match",
                     rg_shape_str(dst, a, sizeof a), rg_dtype_name(dst->dtype),
                     rg_shape_str(src, b, sizeof b), rg_dtype_name(src->dtype));
        return -1;
    }
    if (dst->dtype == src->dtype) {
        if (dst->data != src->data && dst->numel)
            memcpy(dst->data, src->data, (size_t)src->numel * rg_dtype_size(src->dtype));
    } else {
        for (int64_t i = 0; i < src->numel; ++i) rg_set(dst, i, rg_get(src, i));
    }
    return 0;
}

void rg_set_requires_grad(rg_tensor *t, bool on) {
    if (!t || t->dtype == RG_I32) return;
    if (on)
        t->flags |= RG_REQUIRES_GRAD;
    else
        t->flags &= ~(uint32_t)RG_REQUIRES_GRAD;
}

bool rg_requires_grad(const rg_tensor *t) { return t && (t->flags & RG_REQUIRES_GRAD); }

static double load(rg_dtype dt, const void *p, int64_t i) {
    switch (dt) {
    case RG_F32: return ((const float *)p)[i];
    case RG_F64: return ((const double *)p)[i];
    case RG_I32: return ((const int32_t *)p)[i];
    }
    return NAN;
}

/* Element access checks its index: a caller's mistake is an error with a
 * message ("rg_get: index 6 out of range for a [2,3] tensor"), never an abort. */
static bool index_ok(const char *fn, const rg_tensor *t, int64_t i) {
    if (!t) {
        rg_set_error("%s: tensor is NULL", fn);
        return false;
    }
    if (i < 0 || i >= t->numel) {
        char b[64];
        rg_set_error("%s: index %lld out of range for a %s tensor (%lld elements)", fn,
                     (long long)i, rg_shape_str(t, b, sizeof b), (long long)t->numel);
        return false;
    }
    return true;
}

double rg_get(const rg_tensor *t, int64_t i) {
    return index_ok("rg_get", t, i) ? load(t->dtype, t->data, i) : NAN;
}

int rg_set(rg_tensor *t, int64_t i, double v) {
    if (!index_ok("rg_set", t, i)) return -1;
    switch (t->dtype) {
    case RG_F32: ((float *)t->data)[i] = (float)v; break;
    case RG_F64: ((double *)t->data)[i] = v; break;
    case RG_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    }
    return 0;
}

double rg_grad_get(const rg_tensor *t, int64_t i) {
    if (!index_ok("rg_grad_get", t, i)) return NAN;
    return t->grad ? load(t->dtype, t->grad, i) : 0.0;
}

void rg_zero_grad(rg_tensor *t) {
    if (t && t->grad) memset(t->grad, 0, (size_t)t->numel * rg_dtype_size(t->dtype));
}

int64_t rg_tensor_find_nonfinite(const rg_tensor *t) {
    if (!t || !t->data) return -1;
    if (t->dtype == RG_F32) {
        const float *p = t->data;
        for (int64_t i = 0; i < t->numel; ++i)
            if (!isfinite(p[i])) return i;
    } else if (t->dtype == RG_F64) {
        const double *p = t->data;
        for (int64_t i = 0; i < t->numel; ++i)
            if (!isfinite(p[i])) return i;
    }
    return -1;
}

bool rg_all_finite(const rg_tensor *t, const void *buf) {
    if (t->dtype == RG_F32) {
        const float *p = buf;
        for (int64_t i = 0; i < t->numel; ++i)
            if (!isfinite(p[i])) return false;
    } else if (t->dtype == RG_F64) {
        const double *p = buf;
        for (int64_t i = 0; i < t->numel; ++i)
            if (!isfinite(p[i])) return false;
    }
    return true;
}

void rg_tensor_print(FILE *f, const char *name, const rg_tensor *t) {
    char s[64];
    if (!t) {
        fprintf(f, "%s = (null)\n", name ? name : "tensor");
        return;
    }
    fprintf(f, "%s %s %s = [", name ? name : "tensor", rg_shape_str(t, s, sizeof s),
            rg_dtype_name(t->dtype));
    for (int64_t i = 0; i < t->numel; ++i)
        fprintf(f, i ? ", %.12g" : "%.12g", rg_get(t, i));
    fprintf(f, "]\n");
}
