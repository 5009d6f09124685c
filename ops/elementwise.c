/* Elementwise rows of the op table: binary arithmetic with NumPy broadcasting
 * (add, sub, mul, div) and unary maps (neg, scalar add/mul/pow, exp, log, sqrt,
 * abs, tanh, sigmoid, relu, clamp), F32 and F64.  Each op's forward and backward
 * sit side by side; the loops they share are the macros of the first half. */
#include <string.h>
#include <tgmath.h> /* exp(x) on a float is expf: one expression serves both dtypes */

#include "fastmath.h"
#include "ops_internal.h"
#include "rg_kernel.h"

/* Each op's forward and backward, compiled for every kernel variant (rg_kernel.h). */
#define EW_KERNEL(name) RG_KERNEL(name, (rg_tape *tp, rg_entry *e), (tp, e))

/* ---- broadcasting, resolved once per call -------------------------------- */

/* How a and b line up with y.  The fast kinds cover nearly every use in a
 * network (equal shapes, a scalar, a bias [H] on [B,H]); the rest is strided. */
typedef enum bc_kind {
    BC_SAME,     /* a, b and y hold the same number of elements in the same order */
    BC_A_SCALAR, /* a has one element, b is like y */
    BC_B_SCALAR, /* b has one element, a is like y */
    BC_A_ROW,    /* y [R,C], a [C] repeated over rows, b is like y */
    BC_B_ROW,    /* y [R,C], b [C] repeated over rows, a is like y */
    BC_A_COL,    /* y [R,C], a [R,1]: one value per row, b is like y */
    BC_B_COL,    /* y [R,C], b [R,1]: one value per row, a is like y */
    BC_GENERIC   /* y padded to 4 dims; a and b strides are 0 along broadcast dims */
} bc_kind;

typedef struct bc_plan {
    bc_kind kind;
    int64_t n;                   /* elements of y */
    int64_t R, C;                /* the ROW and COL kinds */
    int64_t d[RG_MAX_RANK];      /* GENERIC: y's shape, padded on the left */
    int64_t sa[RG_MAX_RANK];     /* GENERIC: strides of a, in elements */
    int64_t sb[RG_MAX_RANK];
} bc_plan;

/* t's shape padded on the left with 1s to RG_MAX_RANK dims. */
static void pad_shape(const rg_tensor *t, int64_t *d) {
    int off = RG_MAX_RANK - t->rank;
    for (int i = 0; i < RG_MAX_RANK; i++) d[i] = i < off ? 1 : t->shape[i - off];
}

/* Contiguous strides of the padded shape d, 0 where d is 1 (a broadcast dim). */
static void bcast_strides(const int64_t *d, int64_t *s) {
    int64_t st = 1;
    for (int i = RG_MAX_RANK - 1; i >= 0; i--) {
        s[i] = d[i] == 1 ? 0 : st;
        st *= d[i];
    }
}

/* Number of trailing elements of y that r repeats over rows (r padded is
 * [1,..,1, y's last dims]), or 0 when r is not such a row. */
static int64_t row_cols(const int64_t *dr, const int64_t *dy) {
    for (int k = 0; k < RG_MAX_RANK; k++) {
        bool fits = true;
        int64_t c = 1;
        for (int i = 0; i < RG_MAX_RANK && fits; i++) {
            if (i < k) fits = dr[i] == 1;
            else {
                fits = dr[i] == dy[i];
                c *= dy[i];
            }
        }
        if (fits) return c;
    }
    return 0;
}

/* Columns of y (its last dim) when r padded is y's shape with a last dim of 1
 * (one value per row: a mean or norm kept with keepdim), else 0. */
static int64_t col_cols(const int64_t *dr, const int64_t *dy) {
    if (dr[RG_MAX_RANK - 1] != 1 || dy[RG_MAX_RANK - 1] < 2) return 0;
    for (int i = 0; i < RG_MAX_RANK - 1; i++)
        if (dr[i] != dy[i]) return 0;
    return dy[RG_MAX_RANK - 1];
}

static void bc_resolve(bc_plan *p, const rg_tensor *a, const rg_tensor *b,
                       const rg_tensor *y) {
    int64_t da[RG_MAX_RANK], db[RG_MAX_RANK];
    memset(p, 0, sizeof *p);
    p->n = y->numel;
    pad_shape(a, da);
    pad_shape(b, db);
    pad_shape(y, p->d);
    /* Broadcasting only repeats, so an operand with y's numel has y's layout. */
    if (a->numel == p->n && b->numel == p->n) {
        p->kind = BC_SAME;
        return;
    }
    if (a->numel == 1 && b->numel == p->n) {
        p->kind = BC_A_SCALAR;
        return;
    }
    if (b->numel == 1 && a->numel == p->n) {
        p->kind = BC_B_SCALAR;
        return;
    }
    int64_t c;
    if (a->numel == p->n && (c = row_cols(db, p->d)) > 0) {
        p->kind = BC_B_ROW;
        p->C = c;
        p->R = p->n / c;
        return;
    }
    if (b->numel == p->n && (c = row_cols(da, p->d)) > 0) {
        p->kind = BC_A_ROW;
        p->C = c;
        p->R = p->n / c;
        return;
    }
    if (a->numel == p->n && (c = col_cols(db, p->d)) > 0) {
        p->kind = BC_B_COL;
        p->C = c;
        p->R = p->n / c;
        return;
    }
    if (b->numel == p->n && (c = col_cols(da, p->d)) > 0) {
        p->kind = BC_A_COL;
        p->C = c;
        p->R = p->n / c;
        return;
    }
    p->kind = BC_GENERIC;
    bcast_strides(da, p->sa);
    bcast_strides(db, p->sb);
}
/* Walks the GENERIC plan p: the statement given runs for every element of y with
 * i (flat index of y), ia and ib (flat indices of a and b) set. */
#define BC_FOR_GENERIC(p, ...)                                                         \
    do {                                                                               \
        int64_t i = 0;                                                                 \
        for (int64_t i0 = 0; i0 < (p)->d[0]; i0++)                                     \
            for (int64_t i1 = 0; i1 < (p)->d[1]; i1++)                                 \
                for (int64_t i2 = 0; i2 < (p)->d[2]; i2++) {                           \
                    const int64_t oa =                                                 \
                        i0 * (p)->sa[0] + i1 * (p)->sa[1] + i2 * (p)->sa[2];           \
                    const int64_t ob =                                                 \
                        i0 * (p)->sb[0] + i1 * (p)->sb[1] + i2 * (p)->sb[2];           \
                    for (int64_t i3 = 0; i3 < (p)->d[3]; i3++, i++) {                  \
                        const int64_t ia = oa + i3 * (p)->sa[3];                       \
                        const int64_t ib = ob + i3 * (p)->sb[3];                       \
                        __VA_ARGS__;                                                   \
                    }                                                                  \
                }                                                                      \
    } while (0)

/* ---- binary loops ---------------------------------------------------------- */

/* y = EXPR over the plan, where EXPR reads x (a's value) and z (b's value). */
#define BIN_FWD(T, p, A, B, Y, EXPR)                                                   \
    do {                                                                               \
        const T *restrict A_ = (A), *restrict B_ = (B);                                \
        T *restrict Y_ = (Y);                                                          \
        const int64_t n_ = (p)->n, R_ = (p)->R, C_ = (p)->C;                           \
        (void)R_, (void)C_;                                                            \
        switch ((p)->kind) {                                                           \
        case BC_SAME:                                                                  \
            for (int64_t i = 0; i < n_; i++) {                                         \
                const T x = A_[i], z = B_[i];                                          \
                Y_[i] = (EXPR);                                                        \
            }                                                                          \
            break;                                                                     \
        case BC_A_SCALAR: {                                                            \
            const T x = A_[0];                                                         \
            for (int64_t i = 0; i < n_; i++) {                                         \
                const T z = B_[i];                                                     \
                Y_[i] = (EXPR);                                                        \
            }                                                                          \
        } break;                                                                       \
        case BC_B_SCALAR: {                                                            \
            const T z = B_[0];                                                         \
            for (int64_t i = 0; i < n_; i++) {                                         \
                const T x = A_[i];                                                     \
                Y_[i] = (EXPR);                                                        \
            }                                                                          \
        } break;                                                                       \
        case BC_A_ROW:                                                                 \
            for (int64_t r = 0; r < R_; r++) {                                         \
                const T *restrict Br = B_ + r * C_;                                    \
                T *restrict Yr = Y_ + r * C_;                                          \
                for (int64_t c = 0; c < C_; c++) {                                     \
                    const T x = A_[c], z = Br[c];                                      \
                    Yr[c] = (EXPR);                                                    \
                }                                                                      \
            }                                                                          \
            break;                                                                     \
        case BC_B_ROW:                                                                 \
            for (int64_t r = 0; r < R_; r++) {                                         \
                const T *restrict Ar = A_ + r * C_;                                    \
                T *restrict Yr = Y_ + r * C_;                                          \
                for (int64_t c = 0; c < C_; c++) {                                     \
                    const T x = Ar[c], z = B_[c];                                      \
                    Yr[c] = (EXPR);                                                    \
                }                                                                      \
            }                                                                          \
            break;                                                                     \
        case BC_A_COL:                                                                 \
            for (int64_t r = 0; r < R_; r++) {                                         \
                const T x = A_[r], *restrict Br = B_ + r * C_;                         \
                T *restrict Yr = Y_ + r * C_;                                          \
                for (int64_t c = 0; c < C_; c++) {                                     \
                    const T z = Br[c];                                                 \
                    Yr[c] = (EXPR);                                                    \
                }                                                                      \
            }                                                                          \
            break;                                                                     \
        case BC_B_COL:                                                                 \
            for (int64_t r = 0; r < R_; r++) {                                         \
                const T z = B_[r], *restrict Ar = A_ + r * C_;                         \
                T *restrict Yr = Y_ + r * C_;                                          \
                for (int64_t c = 0; c < C_; c++) {                                     \
                    const T x = Ar[c];                                                 \
                    Yr[c] = (EXPR);                                                    \
                }                                                                      \
            }                                                                          \
            break;                                                                     \
        case BC_GENERIC:                                                               \
            BC_FOR_GENERIC(p, {                                                        \
                const T x = A_[ia], z = B_[ib];                                        \
                Y_[i] = (EXPR);                                                        \
            });                                                                        \
            break;                                                                     \
        }                                                                              \
    } while (0)

/* DA += EXPR summed over the dims a was broadcast along; EXPR reads g (y's
 * gradient), x (a's value) and z (b's value). */
#define BIN_GRAD_A(T, p, A, B, G, DA, EXPR)                                            \
    do {                                                                               \
        const T *restrict A_ = (A), *restrict B_ = (B), *restrict G_ = (G);            \
        T *restrict D_ = (DA);                                                         \
        const int64_t n_ = (p)->n, R_ = (p)->R, C_ = (p)->C;                           \
        (void)R_, (void)C_;                                                            \
        switch ((p)->kind) {                                                           \
        case BC_SAME:                                                                  \
            for (int64_t i = 0; i < n_; i++) {                                         \
                const T g = G_[i], x = A_[i], z = B_[i];                               \
                (void)x, (void)z;                                                      \
                D_[i] += (EXPR);                                                       \
            }                                                                          \
            break;                                                                     \
        case BC_A_SCALAR: {                                                            \
            const T x = A_[0];                                                         \
            T s = 0;                                                                   \
            for (int64_t i = 0; i < n_; i++) {                                         \
                const T g = G_[i], z = B_[i];                                          \
                (void)x, (void)z;                                                      \
                s += (EXPR);                                                           \
            }                                                                          \
            D_[0] += s;                                                                \
        } break;                                                                       \
        case BC_B_SCALAR: {                                                            \
            const T z = B_[0];                                                         \
            for (int64_t i = 0; i < n_; i++) {                                         \
                const T g = G_[i], x = A_[i];                                          \
                (void)x, (void)z;                                                      \
                D_[i] += (EXPR);                                                       \
            }                                                                          \
        } break;                                                                       \
        case BC_A_ROW:                                                                 \
            for (int64_t r = 0; r < R_; r++) {                                         \
                const T *restrict Br = B_ + r * C_, *restrict Gr = G_ + r * C_;        \
                for (int64_t c = 0; c < C_; c++) {                                     \
                    const T g = Gr[c], x = A_[c], z = Br[c];                           \
                    (void)x, (void)z;                                                  \
                    D_[c] += (EXPR);                                                   \
                }                                                                      \
            }                                                                          \
            break;                                                                     \
        case BC_B_ROW:                                                                 \
            for (int64_t r = 0; r < R_; r++) {                                         \
                const T *restrict Ar = A_ + r * C_, *restrict Gr = G_ + r * C_;        \
                T *restrict Dr = D_ + r * C_;                                          \
                for (int64_t c = 0; c < C_; c++) {                                     \
                    const T g = Gr[c], x = Ar[c], z = B_[c];                           \
                    (void)x, (void)z;                                                  \
                    Dr[c] += (EXPR);                                                   \
                }                                                                      \
            }                                                                          \
            break;                                                                     \
        case BC_A_COL: /* a's value of row r: the row's sum */                        \
            for (int64_t r = 0; r < R_; r++) {                                         \
                const T x = A_[r], *restrict Br = B_ + r * C_, *restrict Gr = G_ + r * C_; \
                T s = 0;                                                               \
                for (int64_t c = 0; c < C_; c++) {                                     \
                    const T g = Gr[c], z = Br[c];                                      \
                    (void)x, (void)z;                                                  \
                    s += (EXPR);                                                       \
                }                                                                      \
                D_[r] += s;                                                            \
            }                                                                          \
            break;                                                                     \
        case BC_B_COL:                                                                 \
            for (int64_t r = 0; r < R_; r++) {                                         \
                const T z = B_[r], *restrict Ar = A_ + r * C_, *restrict Gr = G_ + r * C_; \
                T *restrict Dr = D_ + r * C_;                                          \
                for (int64_t c = 0; c < C_; c++) {                                     \
                    const T g = Gr[c], x = Ar[c];                                      \
                    (void)x, (void)z;                                                  \
                    Dr[c] += (EXPR);                                                   \
                }                                                                      \
            }                                                                          \
            break;                                                                     \
        case BC_GENERIC:                                                               \
            BC_FOR_GENERIC(p, {                                                        \
                const T g = G_[i], x = A_[ia], z = B_[ib];                             \
                (void)x, (void)z;                                                      \
                D_[ia] += (EXPR);                                                      \
            });                                                                        \
            break;                                                                     \
        }                                                                              \
    } while (0)

/* DB += EXPR summed over the dims b was broadcast along (as BIN_GRAD_A). */
#define BIN_GRAD_B(T, p, A, B, G, DB, EXPR)                                            \
    do {                                                                               \
        const T *restrict A_ = (A), *restrict B_ = (B), *restrict G_ = (G);            \
        T *restrict D_ = (DB);                                                         \
        const int64_t n_ = (p)->n, R_ = (p)->R, C_ = (p)->C;                           \
        (void)R_, (void)C_;                                                            \
        switch ((p)->kind) {                                                           \
        case BC_SAME:                                                                  \
            for (int64_t i = 0; i < n_; i++) {                                         \
                const T g = G_[i], x = A_[i], z = B_[i];                               \
                (void)x, (void)z;                                                      \
                D_[i] += (EXPR);                                                       \
            }                                                                          \
            break;                                                                     \
        case BC_A_SCALAR: {                                                            \
            const T x = A_[0];                                                         \
            for (int64_t i = 0; i < n_; i++) {                                         \
                const T g = G_[i], z = B_[i];                                          \
                (void)x, (void)z;                                                      \
                D_[i] += (EXPR);                                                       \
            }                                                                          \
        } break;                                                                       \
        case BC_B_SCALAR: {                                                            \
            const T z = B_[0];                                                         \
            T s = 0;                                                                   \
            for (int64_t i = 0; i < n_; i++) {                                         \
                const T g = G_[i], x = A_[i];                                          \
                (void)x, (void)z;                                                      \
                s += (EXPR);                                                           \
            }                                                                          \
            D_[0] += s;                                                                \
        } break;                                                                       \
        case BC_A_ROW:                                                                 \
            for (int64_t r = 0; r < R_; r++) {                                         \
                const T *restrict Br = B_ + r * C_, *restrict Gr = G_ + r * C_;        \
                T *restrict Dr = D_ + r * C_;                                          \
                for (int64_t c = 0; c < C_; c++) {                                     \
                    const T g = Gr[c], x = A_[c], z = Br[c];                           \
                    (void)x, (void)z;                                                  \
                    Dr[c] += (EXPR);                                                   \
                }                                                                      \
            }                                                                          \
            break;                                                                     \
        case BC_B_ROW:                                                                 \
            for (int64_t r = 0; r < R_; r++) {                                         \
                const T *restrict Ar = A_ + r * C_, *restrict Gr = G_ + r * C_;        \
                for (int64_t c = 0; c < C_; c++) {                                     \
                    const T g = Gr[c], x = Ar[c], z = B_[c];                           \
                    (void)x, (void)z;                                                  \
                    D_[c] += (EXPR);                                                   \
                }                                                                      \
            }                                                                          \
            break;                                                                     \
        case BC_A_COL:                                                                 \
            for (int64_t r = 0; r < R_; r++) {                                         \
                const T x = A_[r], *restrict Br = B_ + r * C_, *restrict Gr = G_ + r * C_; \
                T *restrict Dr = D_ + r * C_;                                          \
                for (int64_t c = 0; c < C_; c++) {                                     \
                    const T g = Gr[c], z = Br[c];                                      \
                    (void)x, (void)z;                                                  \
                    Dr[c] += (EXPR);                                                   \
                }                                                                      \
            }                                                                          \
            break;                                                                     \
        case BC_B_COL: /* b's value of row r: the row's sum */                        \
            for (int64_t r = 0; r < R_; r++) {                                         \
                const T z = B_[r], *restrict Ar = A_ + r * C_, *restrict Gr = G_ + r * C_; \
                T s = 0;                                                               \
                for (int64_t c = 0; c < C_; c++) {                                     \
                    const T g = Gr[c], x = Ar[c];                                      \
                    (void)x, (void)z;                                                  \
                    s += (EXPR);                                                       \
                }                                                                      \
                D_[r] += s;                                                            \
            }                                                                          \
            break;                                                                     \
        case BC_GENERIC:                                                               \
            BC_FOR_GENERIC(p, {                                                        \
                const T g = G_[i], x = A_[ia], z = B_[ib];                             \
                (void)x, (void)z;                                                      \
                D_[ib] += (EXPR);                                                      \
            });                                                                        \
            break;                                                                     \
        }                                                                              \
    } while (0)

/* An op's forward: y = EXPR(x, z) in y's dtype. */
#define BINARY_FORWARD(e, EXPR)                                                        \
    do {                                                                               \
        bc_plan p_;                                                                    \
        bc_resolve(&p_, (e)->in[0], (e)->in[1], (e)->out[0]);                          \
        if ((e)->out[0]->dtype == RG_F32)                                              \
            BIN_FWD(float, &p_, (const float *)(e)->in[0]->data,                       \
                    (const float *)(e)->in[1]->data, (float *)(e)->out[0]->data, EXPR); \
        else                                                                           \
            BIN_FWD(double, &p_, (const double *)(e)->in[0]->data,                     \
                    (const double *)(e)->in[1]->data, (double *)(e)->out[0]->data,     \
                    EXPR);                                                             \
    } while (0)

/* An op's backward: da += DA_EXPR, db += DB_EXPR (each reduced over its
 * broadcast dims), for the inputs that want a gradient. */
/* A fresh gradient buffer (rg_grad_fresh) of an input as big as the output is
 * assigned; one that a broadcast reduces into is zeroed first. */
#define BIN_SET(T, n, A, B, G, D, EXPR)                                                \
    do {                                                                               \
        const T *restrict A_ = (A), *restrict B_ = (B), *restrict G_ = (G);            \
        T *restrict D_ = (D);                                                          \
        for (int64_t i = 0; i < (n); i++) {                                            \
            const T g = G_[i], x = A_[i], z = B_[i];                                   \
            (void)x, (void)z;                                                          \
            D_[i] = (EXPR);                                                            \
        }                                                                              \
    } while (0)

#define BIN_GRAD_TYPED(T, WHICH, t_, d_, fresh_, DEXPR)                                \
    do {                                                                               \
        if (!(d_))                                                                     \
            break;                                                                     \
        if ((fresh_) && p_.kind == BC_SAME) {                                          \
            BIN_SET(T, p_.n, (const T *)a_->data, (const T *)b_->data,                 \
                    (const T *)y_->grad, (T *)(d_), DEXPR);                            \
            break;                                                                     \
        }                                                                              \
        if (fresh_)                                                                    \
            memset((d_), 0, (size_t)(t_)->numel * sizeof(T));                          \
        WHICH(T, &p_, (const T *)a_->data, (const T *)b_->data, (const T *)y_->grad,   \
              (T *)(d_), DEXPR);                                                       \
    } while (0)

#define BINARY_BACKWARD(tp, e, DA_EXPR, DB_EXPR)                                       \
    do {                                                                               \
        const rg_tensor *a_ = (e)->in[0], *b_ = (e)->in[1], *y_ = (e)->out[0];         \
        if (!y_->grad) return;                                                         \
        bool fa_, fb_; /* an aliased b gets a's buffer, no longer fresh */             \
        void *da_ = rg_grad_fresh(tp, (e)->in[0], &fa_);                               \
        void *db_ = rg_grad_fresh(tp, (e)->in[1], &fb_);                               \
        bc_plan p_;                                                                    \
        bc_resolve(&p_, a_, b_, y_);                                                   \
        if (y_->dtype == RG_F32) {                                                     \
            BIN_GRAD_TYPED(float, BIN_GRAD_A, a_, da_, fa_, DA_EXPR);                  \
            BIN_GRAD_TYPED(float, BIN_GRAD_B, b_, db_, fb_, DB_EXPR);                  \
        } else {                                                                       \
            BIN_GRAD_TYPED(double, BIN_GRAD_A, a_, da_, fa_, DA_EXPR);                 \
            BIN_GRAD_TYPED(double, BIN_GRAD_B, b_, db_, fb_, DB_EXPR);                 \
        }                                                                              \
    } while (0)

/* ---- unary loops ------------------------------------------------------------- */

/* y = EXPR over contiguous arrays; EXPR reads x and the op's scalars s0, s1
 * (attr.f[0], attr.f[1] in the dtype). */
#define UNARY_LOOP_FWD(T, e)                                                           \
    const T *restrict X_ = (const T *)(e)->in[0]->data;                                \
    T *restrict Y_ = (T *)(e)->out[0]->data;                                           \
    const T s0 = (T)(e)->attr.f[0], s1 = (T)(e)->attr.f[1];                            \
    const int64_t n_ = (e)->out[0]->numel;                                             \
    (void)s0, (void)s1;                                                                \
    for (int64_t i = 0; i < n_; i++)

/* Same with a different expression for float32 (a vectorisable fast path). */
#define UNARY_FORWARD2(e, EXPR32, EXPR64)                                              \
    do {                                                                               \
        if ((e)->out[0]->dtype == RG_F32) {                                            \
            UNARY_LOOP_FWD(float, e) {                                                 \
                const float x = X_[i];                                                 \
                Y_[i] = (EXPR32);                                                      \
            }                                                                          \
        } else {                                                                       \
            UNARY_LOOP_FWD(double, e) {                                                \
                const double x = X_[i];                                                \
                Y_[i] = (EXPR64);                                                      \
            }                                                                          \
        }                                                                              \
    } while (0)

#define UNARY_FORWARD(e, EXPR)                                                         \
    do {                                                                               \
        if ((e)->out[0]->dtype == RG_F32) {                                            \
            UNARY_LOOP_FWD(float, e) {                                                 \
                const float x = X_[i];                                                 \
                Y_[i] = (EXPR);                                                        \
            }                                                                          \
        } else {                                                                       \
            UNARY_LOOP_FWD(double, e) {                                                \
                const double x = X_[i];                                                \
                Y_[i] = (EXPR);                                                        \
            }                                                                          \
        }                                                                              \
    } while (0)

/* dx += EXPR; EXPR reads g (y's gradient), x, y, s0 and s1. */
#define UNARY_LOOP_BWD(T, e, dx)                                                       \
    const T *restrict X_ = (const T *)(e)->in[0]->data;                                \
    const T *restrict Y_ = (const T *)(e)->out[0]->data;                               \
    const T *restrict G_ = (const T *)(e)->out[0]->grad;                               \
    T *restrict D_ = (T *)(dx);                                                        \
    const T s0 = (T)(e)->attr.f[0], s1 = (T)(e)->attr.f[1];                            \
    const int64_t n_ = (e)->out[0]->numel;                                             \
    (void)s0, (void)s1;                                                                \
    for (int64_t i = 0; i < n_; i++)

#define UNARY_BACKWARD_T(T, e, dx_, fresh_, EXPR)                                      \
    do {                                                                               \
        if (fresh_) {                                                                  \
            UNARY_LOOP_BWD(T, e, dx_) {                                                \
                const T g = G_[i], x = X_[i], y = Y_[i];                               \
                (void)x, (void)y;                                                      \
                D_[i] = (EXPR);                                                        \
            }                                                                          \
        } else {                                                                       \
            UNARY_LOOP_BWD(T, e, dx_) {                                                \
                const T g = G_[i], x = X_[i], y = Y_[i];                               \
                (void)x, (void)y;                                                      \
                D_[i] += (EXPR);                                                       \
            }                                                                          \
        }                                                                              \
    } while (0)

/* dx += EXPR, or dx = EXPR into a fresh buffer (rg_grad_fresh) */
#define UNARY_BACKWARD(tp, e, EXPR)                                                    \
    do {                                                                               \
        if (!(e)->out[0]->grad) return;                                                \
        bool fresh_;                                                                   \
        void *dx_ = rg_grad_fresh(tp, (e)->in[0], &fresh_);                            \
        if (!dx_) return;                                                              \
        if ((e)->out[0]->dtype == RG_F32)                                              \
            UNARY_BACKWARD_T(float, e, dx_, fresh_, EXPR);                             \
        else                                                                           \
            UNARY_BACKWARD_T(double, e, dx_, fresh_, EXPR);                            \
    } while (0)

/* ---- shape rules ----------------------------------------------------------- */

/* Input k of e must be F32 or F64 (integers are never differentiable here). */
static int check_float(rg_tape *tp, const rg_entry *e, int k, const char *arg) {
    const rg_tensor *t = e->in[k];
    if (t->dtype == RG_F32 || t->dtype == RG_F64) return 0;
    char s[64];
    return rg_op_error(tp, "rg_%s: %s %s is %s; elementwise ops take float32 or float64",
                       e->op->name, arg, rg_shape_str(t, s, sizeof s),
                       rg_dtype_name(t->dtype));
}

static void set_out(rg_tensor *y, rg_dtype dt, int rank, const int64_t *shape) {
    y->dtype = dt;
    y->rank = rank;
    y->numel = 1;
    for (int i = 0; i < RG_MAX_RANK; i++) {
        y->shape[i] = i < rank ? shape[i] : 1;
        if (i < rank) y->numel *= shape[i];
    }
}

/* a, b of one float dtype; y gets their broadcast shape (NumPy rules: dims
 * aligned from the right, each pair equal or one of them 1). */
static int binary_shape(rg_tape *tp, rg_entry *e) {
    const rg_tensor *a = e->in[0], *b = e->in[1];
    char sa[64], sb[64];
    if (check_float(tp, e, 0, "a") || check_float(tp, e, 1, "b")) return -1;
    if (a->dtype != b->dtype)
        return rg_op_error(tp, "rg_%s: dtypes differ: a %s %s, b %s %s", e->op->name,
                           rg_shape_str(a, sa, sizeof sa), rg_dtype_name(a->dtype),
                           rg_shape_str(b, sb, sizeof sb), rg_dtype_name(b->dtype));
    int rank = a->rank > b->rank ? a->rank : b->rank;
    int64_t shape[RG_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return rg_op_error(tp, "rg_%s: shapes do not broadcast: a %s, b %s",
                               e->op->name, rg_shape_str(a, sa, sizeof sa),
                               rg_shape_str(b, sb, sizeof sb));
        shape[i] = da == 1 ? db : da;
    }
    set_out(e->out[0], a->dtype, rank, shape);
    return 0;
}

/* y has a's shape and dtype. */
static int unary_shape(rg_tape *tp, rg_entry *e) {
    if (check_float(tp, e, 0, "a")) return -1;
    set_out(e->out[0], e->in[0]->dtype, e->in[0]->rank, e->in[0]->shape);
    return 0;
}

/* ---- recorded backward rules (rg_autograd, gradients of gradients) ----------------
 * The same derivatives as the kernels below, written with differentiable ops:
 * dout is the output's gradient, din[i] input i's (summed over its broadcast
 * dimensions by rg_sum_to).  Masks and signs are constants (their derivative is
 * zero wherever it exists). */

/* a constant tensor like x (no gradient) with f(x_i, p) */
static rg_tensor *const_of(rg_tape *tp, const rg_tensor *x, double (*f)(double, const double *),
                           const double *p) {
    rg_tensor *c = rg_tensor_new(tp, x->dtype, x->rank, x->shape);
    for (int64_t i = 0; c && i < x->numel; ++i) rg_set(c, i, f(rg_get(x, i), p));
    return c;
}
static double positive(double x, const double *p) { (void)p; return x > 0; }
static double sign_of(double x, const double *p) { (void)p; return x > 0 ? 1 : x < 0 ? -1 : 0; }
static double inside(double x, const double *p) { return x >= p[0] && x <= p[1]; }

#define GRAPH_RULE(name) \
    static int name(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din)
#define IN(i) (e->in[i])
#define OUT (e->out[0])
#define DY (dout[0])
#define DONE(...) return (__VA_ARGS__) ? 0 : -1

GRAPH_RULE(add_graph) {
    din[0] = rg_sum_to(tp, DY, IN(0));
    din[1] = rg_sum_to(tp, DY, IN(1));
    DONE(din[0] && din[1]);
}
GRAPH_RULE(sub_graph) {
    din[0] = rg_sum_to(tp, DY, IN(0));
    din[1] = rg_sum_to(tp, rg_neg(tp, DY), IN(1));
    DONE(din[0] && din[1]);
}
GRAPH_RULE(mul_graph) {
    din[0] = rg_sum_to(tp, rg_mul(tp, DY, IN(1)), IN(0));
    din[1] = rg_sum_to(tp, rg_mul(tp, DY, IN(0)), IN(1));
    DONE(din[0] && din[1]);
}
/* da = dy / b, db = -dy * a / b^2 */
GRAPH_RULE(div_graph) {
    din[0] = rg_sum_to(tp, rg_div(tp, DY, IN(1)), IN(0));
    din[1] = rg_sum_to(tp, rg_neg(tp, rg_div(tp, rg_mul(tp, DY, IN(0)),
                                             rg_mul(tp, IN(1), IN(1)))), IN(1));
    DONE(din[0] && din[1]);
}
GRAPH_RULE(neg_graph) { DONE(din[0] = rg_neg(tp, DY)); }
GRAPH_RULE(add_scalar_graph) { DONE(din[0] = DY); }
GRAPH_RULE(mul_scalar_graph) { DONE(din[0] = rg_mul_scalar(tp, DY, e->attr.f[0])); }
/* dx = dy p x^(p-1); none for p = 0 */
GRAPH_RULE(pow_scalar_graph) {
    double p = e->attr.f[0];
    if (p == 0) return 0;
    DONE(din[0] = rg_mul(tp, DY, rg_mul_scalar(tp, rg_pow_scalar(tp, IN(0), p - 1), p)));
}
GRAPH_RULE(exp_graph) { DONE(din[0] = rg_mul(tp, DY, OUT)); }
GRAPH_RULE(log_graph) { DONE(din[0] = rg_div(tp, DY, IN(0))); }
GRAPH_RULE(sqrt_graph) { DONE(din[0] = rg_div(tp, DY, rg_mul_scalar(tp, OUT, 2))); }
GRAPH_RULE(abs_graph) { DONE(din[0] = rg_mul(tp, DY, const_of(tp, IN(0), sign_of, NULL))); }
/* dx = dy (1 - y^2) */
GRAPH_RULE(tanh_graph) {
    DONE(din[0] = rg_mul(tp, DY, rg_add_scalar(tp, rg_neg(tp, rg_mul(tp, OUT, OUT)), 1)));
}
/* dx = dy y (1 - y) */
GRAPH_RULE(sigmoid_graph) {
    DONE(din[0] = rg_mul(tp, DY, rg_mul(tp, OUT, rg_add_scalar(tp, rg_neg(tp, OUT), 1))));
}
GRAPH_RULE(relu_graph) { DONE(din[0] = rg_mul(tp, DY, const_of(tp, IN(0), positive, NULL))); }
GRAPH_RULE(clamp_graph) {
    DONE(din[0] = rg_mul(tp, DY, const_of(tp, IN(0), inside, e->attr.f)));
}

/* ---- binary ops ------------------------------------------------------------- */

/* add: y = a + b;  da = dy, db = dy (each summed over its broadcast dims) */
EW_KERNEL(add_forward) { BINARY_FORWARD(e, x + z); }
EW_KERNEL(add_backward) { BINARY_BACKWARD(tp, e, g, g); }
static const rg_op add_row = {"add", 2, 1, binary_shape, add_forward, add_backward, add_graph};

/* sub: y = a - b;  da = dy, db = -dy */
EW_KERNEL(sub_forward) { BINARY_FORWARD(e, x - z); }
EW_KERNEL(sub_backward) { BINARY_BACKWARD(tp, e, g, -g); }
static const rg_op sub_row = {"sub", 2, 1, binary_shape, sub_forward, sub_backward, sub_graph};

/* mul: y = a * b;  da = dy * b, db = dy * a */
EW_KERNEL(mul_forward) { BINARY_FORWARD(e, x * z); }
EW_KERNEL(mul_backward) { BINARY_BACKWARD(tp, e, g * z, g * x); }
static const rg_op mul_row = {"mul", 2, 1, binary_shape, mul_forward, mul_backward, mul_graph};

/* div: y = a / b;  da = dy / b, db = -dy * a / b^2 */
EW_KERNEL(div_forward) { BINARY_FORWARD(e, x / z); }
EW_KERNEL(div_backward) {
    BINARY_BACKWARD(tp, e, g / z, -g * x / (z * z));
}
static const rg_op div_row = {"div", 2, 1, binary_shape, div_forward, div_backward, div_graph};

/* ---- unary ops ---------------------------------------------------------------- */

/* neg: y = -x;  dx = -dy */
EW_KERNEL(neg_forward) { UNARY_FORWARD(e, -x); }
EW_KERNEL(neg_backward) { UNARY_BACKWARD(tp, e, -g); }
static const rg_op neg_row = {"neg", 1, 1, unary_shape, neg_forward, neg_backward, neg_graph};

/* add_scalar: y = x + s (attr.f[0]);  dx = dy */
EW_KERNEL(add_scalar_forward) { UNARY_FORWARD(e, x + s0); }
EW_KERNEL(add_scalar_backward) { UNARY_BACKWARD(tp, e, g); }
static const rg_op add_scalar_row = {"add_scalar", 1, 1, unary_shape, add_scalar_forward,
                                     add_scalar_backward, add_scalar_graph};

/* mul_scalar: y = x * s (attr.f[0]);  dx = dy * s */
EW_KERNEL(mul_scalar_forward) { UNARY_FORWARD(e, x * s0); }
EW_KERNEL(mul_scalar_backward) { UNARY_BACKWARD(tp, e, g * s0); }
static const rg_op mul_scalar_row = {"mul_scalar", 1, 1, unary_shape, mul_scalar_forward,
                                     mul_scalar_backward, mul_scalar_graph};

/* pow_scalar: y = x^p (p = attr.f[0]);  dx = dy * p * x^(p-1), and 0 when p = 0
 * (as PyTorch, so that x^0 has no gradient even at x = 0) */
EW_KERNEL(pow_scalar_forward) { UNARY_FORWARD(e, pow(x, s0)); }
EW_KERNEL(pow_scalar_backward) {
    UNARY_BACKWARD(tp, e, s0 == 0 ? 0 : g * s0 * pow(x, s0 - 1));
}
static const rg_op pow_scalar_row = {"pow_scalar", 1, 1, unary_shape, pow_scalar_forward,
                                     pow_scalar_backward, pow_scalar_graph};

/* exp: y = e^x;  dx = dy * y */
EW_KERNEL(exp_forward) { UNARY_FORWARD(e, exp(x)); }
EW_KERNEL(exp_backward) { UNARY_BACKWARD(tp, e, g * y); }
static const rg_op exp_row = {"exp", 1, 1, unary_shape, exp_forward, exp_backward, exp_graph};

/* log: y = ln x;  dx = dy / x */
EW_KERNEL(log_forward) { UNARY_FORWARD(e, log(x)); }
EW_KERNEL(log_backward) { UNARY_BACKWARD(tp, e, g / x); }
static const rg_op log_row = {"log", 1, 1, unary_shape, log_forward, log_backward, log_graph};

/* sqrt: y = sqrt(x);  dx = dy / (2 y) */
EW_KERNEL(sqrt_forward) { UNARY_FORWARD(e, sqrt(x)); }
EW_KERNEL(sqrt_backward) { UNARY_BACKWARD(tp, e, g / (y + y)); }
static const rg_op sqrt_row = {"sqrt", 1, 1, unary_shape, sqrt_forward, sqrt_backward, sqrt_graph};

/* abs: y = |x|;  dx = dy * sign(x), 0 at x = 0 (as PyTorch) */
EW_KERNEL(abs_forward) { UNARY_FORWARD(e, fabs(x)); }
EW_KERNEL(abs_backward) {
    UNARY_BACKWARD(tp, e, x > 0 ? g : (x < 0 ? -g : 0));
}
static const rg_op abs_row = {"abs", 1, 1, unary_shape, abs_forward, abs_backward, abs_graph};

/* tanh: y = tanh x;  dx = dy * (1 - y^2) */
EW_KERNEL(tanh_forward) { UNARY_FORWARD2(e, rg_tanhf(x), tanh(x)); }
EW_KERNEL(tanh_backward) {
    UNARY_BACKWARD(tp, e, g * (1 - y * y));
}
static const rg_op tanh_row = {"tanh", 1, 1, unary_shape, tanh_forward, tanh_backward, tanh_graph};

/* sigmoid: y = 1 / (1 + e^-x);  dx = dy * y (1 - y).  For very negative x, e^-x
 * overflows to inf and y is exactly 0, never NaN. */
EW_KERNEL(sigmoid_forward) {
    UNARY_FORWARD2(e, rg_sigmoidf(x), 1 / (1 + exp(-x)));
}
EW_KERNEL(sigmoid_backward) {
    UNARY_BACKWARD(tp, e, g * y * (1 - y));
}
static const rg_op sigmoid_row = {"sigmoid", 1, 1, unary_shape, sigmoid_forward,
                                  sigmoid_backward, sigmoid_graph};

/* relu: y = max(x, 0);  dx = dy where x > 0, else 0 */
EW_KERNEL(relu_forward) { UNARY_FORWARD(e, x > 0 ? x : 0); }
EW_KERNEL(relu_backward) { UNARY_BACKWARD(tp, e, x > 0 ? g : 0); }
static const rg_op relu_row = {"relu", 1, 1, unary_shape, relu_forward, relu_backward, relu_graph};

/* clamp: y = min(max(x, lo), hi) (lo = attr.f[0], hi = attr.f[1]; lo > hi gives
 * hi everywhere, as PyTorch);  dx = dy where lo <= x <= hi, else 0 */
EW_KERNEL(clamp_forward) {
    UNARY_FORWARD(e, (x < s0 ? s0 : x) > s1 ? s1 : (x < s0 ? s0 : x));
}
EW_KERNEL(clamp_backward) {
    UNARY_BACKWARD(tp, e, (x >= s0 && x <= s1) ? g : 0);
}
static const rg_op clamp_row = {"clamp", 1, 1, unary_shape, clamp_forward, clamp_backward, clamp_graph};

/* ---- the rows and the public functions ------------------------------------------ */

const rg_op *const rg_rows_elementwise[] = {
    &add_row,  &sub_row,  &mul_row,  &div_row,     &neg_row,  &add_scalar_row,
    &mul_scalar_row, &pow_scalar_row, &exp_row,  &log_row,  &sqrt_row,
    &abs_row,  &tanh_row, &sigmoid_row, &relu_row, &clamp_row,
};
const int rg_rows_elementwise_n =
    (int)(sizeof rg_rows_elementwise / sizeof rg_rows_elementwise[0]);

static rg_tensor *apply1(rg_tape *tp, const rg_op *op, rg_tensor *a, double s0, double s1) {
    rg_attr at = {.f = {s0, s1}};
    return rg_ops_apply(tp, op, 1, &a, &at);
}

static rg_tensor *apply2(rg_tape *tp, const rg_op *op, rg_tensor *a, rg_tensor *b) {
    rg_tensor *in[2] = {a, b};
    rg_attr at = {.f = {0}};
    return rg_ops_apply(tp, op, 2, in, &at);
}

rg_tensor *rg_add(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    return apply2(tp, &add_row, a, b);
}
rg_tensor *rg_sub(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    return apply2(tp, &sub_row, a, b);
}
rg_tensor *rg_mul(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    return apply2(tp, &mul_row, a, b);
}
rg_tensor *rg_div(rg_tape *tp, rg_tensor *a, rg_tensor *b) {
    return apply2(tp, &div_row, a, b);
}
rg_tensor *rg_neg(rg_tape *tp, rg_tensor *a) { return apply1(tp, &neg_row, a, 0, 0); }
rg_tensor *rg_add_scalar(rg_tape *tp, rg_tensor *a, double s) {
    return apply1(tp, &add_scalar_row, a, s, 0);
}
rg_tensor *rg_mul_scalar(rg_tape *tp, rg_tensor *a, double s) {
    return apply1(tp, &mul_scalar_row, a, s, 0);
}
rg_tensor *rg_pow_scalar(rg_tape *tp, rg_tensor *a, double p) {
    return apply1(tp, &pow_scalar_row, a, p, 0);
}
rg_tensor *rg_exp(rg_tape *tp, rg_tensor *a) { return apply1(tp, &exp_row, a, 0, 0); }
rg_tensor *rg_log(rg_tape *tp, rg_tensor *a) { return apply1(tp, &log_row, a, 0, 0); }
rg_tensor *rg_sqrt(rg_tape *tp, rg_tensor *a) { return apply1(tp, &sqrt_row, a, 0, 0); }
rg_tensor *rg_abs(rg_tape *tp, rg_tensor *a) { return apply1(tp, &abs_row, a, 0, 0); }
rg_tensor *rg_tanh(rg_tape *tp, rg_tensor *a) { return apply1(tp, &tanh_row, a, 0, 0); }
rg_tensor *rg_sigmoid(rg_tape *tp, rg_tensor *a) { return apply1(tp, &sigmoid_row, a, 0, 0); }
rg_tensor *rg_relu(rg_tape *tp, rg_tensor *a) { return apply1(tp, &relu_row, a, 0, 0); }
rg_tensor *rg_clamp(rg_tape *tp, rg_tensor *a, double lo, double hi) {
    return apply1(tp, &clamp_row, a, lo, hi);
}
