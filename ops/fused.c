/* Fused recurrent gate ops: the pointwise part of an LSTM or GRU step as one row
 * of the op table (one entry, one pass over memory, activations saved for
 * backward) instead of about a dozen elementwise entries.  Each is checked
 * against the composition of plain ops it replaces. */
#include <math.h>
#include <string.h>

#include "fastmath.h"
#include "ops_internal.h"
#include "rg_kernel.h"

static int gates_shape(rg_tape *tp, rg_entry *e, int G, const char *fn) {
    const rg_tensor *xp = e->in[0], *hp = e->in[1], *s = e->in[2];
    char a[64], b[64], c[64];
    for (int k = 0; k < 3; ++k)
        if (e->in[k]->dtype == RG_I32 || e->in[k]->dtype != xp->dtype)
            return rg_op_error(tp, "%s: inputs must share a float dtype (input %d is %s)", fn,
                               k, rg_dtype_name(e->in[k]->dtype));
    if (s->rank != 2 || xp->rank != 2 || hp->rank != 2 || !rg_same_shape(xp, hp) ||
        xp->shape[0] != s->shape[0] || xp->shape[1] != G * s->shape[1])
        return rg_op_error(tp, "%s: expected xp, hp [B,%dH] and state [B,H]: xp %s, hp %s, "
                               "state %s",
                           fn, G, rg_shape_str(xp, a, sizeof a), rg_shape_str(hp, b, sizeof b),
                           rg_shape_str(s, c, sizeof c));
    for (int k = 0; k < e->op->n_out; ++k) { /* h' (and c') [B,H]; the LSTM gates [B,4H] */
        e->out[k]->rank = 2;
        e->out[k]->shape[0] = s->shape[0];
        e->out[k]->shape[1] = k == 2 ? 4 * s->shape[1] : s->shape[1];
    }
    return 0;
}

static inline double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ---- recorded backward rules (rg_autograd, gradients of gradients) ------------------
 * Each fused row's derivative written with differentiable public ops.  The LSTM
 * rows have a third output that their public functions do not return: the gate
 * block G = (i, f, g, o) [B,4H] that forward keeps for backward anyway.  The
 * rules read the gates from it, a tensor of the graph, so a second
 * differentiation sees every dependence (through G back into this row, whose
 * backward takes G's gradient too: da += dG act'(G)) without recomputing the
 * pre-activations (a GEMM per step) or the activations.  W_hh's gradient goes to
 * rg_autograd as one part per step, joined into one GEMM over all steps like
 * the fast path's deferred one; the rows of P likewise into one index_add.
 * The GRU rule still recomputes r, z, n from its inputs (no GEMM: h W_hh^T is
 * an input). */

static bool needs_grad(const rg_tensor *t) { return t && (t->flags & RG_REQUIRES_GRAD); }

/* s (1 - s), the derivative of a sigmoid from its value */
static rg_tensor *dsig(rg_tape *tp, rg_tensor *s) {
    return rg_mul(tp, s, rg_rsub_scalar(tp, s, 1));
}
/* 1 - t^2, the derivative of a tanh from its value */
static rg_tensor *dtanh(rg_tape *tp, rg_tensor *t) {
    return rg_rsub_scalar(tp, rg_mul(tp, t, t), 1);
}
/* block k of width H of a [B,G*H] tensor */
static rg_tensor *block(rg_tape *tp, rg_tensor *a, int k, int64_t H) {
    return rg_slice(tp, a, 1, k * H, H);
}

/* The LSTM pointwise backward from the gates G = (i, f, g, o) [B,4H] (the row's
 * third output), c and c' [B,H] and the output gradients dh, dc, dG (any NULL):
 *   dct = dc + dh o (1 - tanh(c')^2);  da = (dct g i(1-i), dct c f(1-f),
 *   dct i (1-g^2), dh tanh(c') o(1-o)) + dG (i(1-i), f(1-f), 1-g^2, o(1-o));
 *   dc_prev = dct f (NULL when dct is).  0 or -1. */
static int lstm_graph_core(rg_tape *tp, rg_tensor *G, rg_tensor *c, rg_tensor *cn,
                           rg_tensor *dh, rg_tensor *dc, rg_tensor *dG, rg_tensor **da,
                           rg_tensor **dcp) {
    int64_t H = c->shape[1];
    rg_tensor *i = block(tp, G, 0, H), *f = block(tp, G, 1, H);
    rg_tensor *g = block(tp, G, 2, H), *o = block(tp, G, 3, H);
    rg_tensor *dct = dc, *dao = NULL;
    *da = *dcp = NULL;
    if (dh) {
        rg_tensor *tc = rg_tanh(tp, cn), *t = rg_mul(tp, rg_mul(tp, dh, o), dtanh(tp, tc));
        dct = dct ? rg_add(tp, dct, t) : t;
        dao = rg_mul(tp, rg_mul(tp, dh, tc), dsig(tp, o));
    }
    if (dct) {
        rg_tensor *blocks[4] = {rg_mul(tp, rg_mul(tp, dct, g), dsig(tp, i)),
                                rg_mul(tp, rg_mul(tp, dct, c), dsig(tp, f)),
                                rg_mul(tp, rg_mul(tp, dct, i), dtanh(tp, g)),
                                dao ? dao : rg_zeros(tp, c->dtype, 2, c->shape)};
        if (!(*da = rg_concat(tp, 4, blocks, 1)) || !(*dcp = rg_mul(tp, dct, f))) return -1;
    }
    if (dG) {
        rg_tensor *d[4] = {dsig(tp, i), dsig(tp, f), dtanh(tp, g), dsig(tp, o)};
        rg_tensor *t = rg_mul(tp, dG, rg_concat(tp, 4, d, 1));
        if (!(*da = *da ? rg_add(tp, *da, t) : t)) return -1;
    }
    return *da ? 0 : -1;
}

/* The recurrent part of an LSTM cell from da [B,4H]: dh = da W_hh, dW_hh = da^T h
 * (a part for rg_autograd to join over all steps, or a matmul), db_hh = sum_b da,
 * each only for an input that requires a gradient. */
static int lcell_graph_recurrent(rg_tape *tp, rg_tensor *da, rg_tensor *h, rg_tensor *W,
                                 rg_tensor *bias, rg_tensor **dh, rg_tensor **dW,
                                 rg_tensor **db) {
    if (needs_grad(h) && !(*dh = rg_matmul(tp, da, W))) return -1;
    if (needs_grad(W)) {
        int taken = rg_autograd_wgrad(tp, W, da, h);
        if (taken < 0 || (taken == 0 && !(*dW = rg_matmul_t(tp, da, h, true, false))))
            return -1;
    }
    if (needs_grad(bias) && !(*db = rg_sum_axis(tp, da, 0, false))) return -1;
    return 0;
}

/* ---- LSTM ------------------------------------------------------------------
 * The LSTM rows keep sv [B,4H]: the pre-activations a, turned in place into
 * i, f, g, o.  sv is the rows' third output G (not returned by the public
 * functions; the recorded rules read it), so it has a gradient when a rule's
 * ops used it.  tanh(c') is recomputed from the output c' in backward.  With
 * dh, dc, dG (any may be absent):
 *   dct = dc + dh*o*(1-tanh(c')^2); da = (dct g i(1-i), dct c f(1-f),
 *   dct i (1-g^2), dh tanh(c') o(1-o)) + dG act'(G); dc_prev += dct*f.
 * The kernels are written once for both float types; float32 uses the
 * vectorisable activations of fastmath.h. */
#define LSTM_KERNELS(T, SFX, SIG, TANH)                                                \
    /* sv [B,4H] pre-activations -> i,f,g,o in place; c2 = f c + i g; h2 = o tanh(c2) */ \
    RG_KERNEL(lstm_act_##SFX, (T *sv, const T *c, T *h2, T *c2, int64_t B, int64_t H),  \
              (sv, c, h2, c2, B, H)) {                                                 \
        for (int64_t b = 0; b < B; ++b) {                                              \
            T *s = sv + b * 4 * H, *cn = c2 + b * H, *hn = h2 + b * H;                 \
            const T *cb = c + b * H;                                                   \
            for (int64_t j = 0; j < 2 * H; ++j) s[j] = SIG(s[j]);                      \
            for (int64_t j = 2 * H; j < 3 * H; ++j) s[j] = TANH(s[j]);                 \
            for (int64_t j = 3 * H; j < 4 * H; ++j) s[j] = SIG(s[j]);                  \
            for (int64_t j = 0; j < H; ++j) cn[j] = s[H + j] * cb[j] + s[j] * s[2 * H + j]; \
            for (int64_t j = 0; j < H; ++j) hn[j] = s[3 * H + j] * TANH(cn[j]);        \
        }                                                                              \
    }                                                                                  \
    /* One batch row: da [4H] assigned, dc_prev added.  Every pointer is real (the    \
     * callers pass a zero row or a scratch sink), so the loop vectorises.  restrict   \
     * holds by construction: da is fresh and dcb (c's gradient) cannot share memory   \
     * with values, the saved block or the outputs' gradients. */                      \
    RG_KERNEL(lstm_bwd_row_##SFX,                                                      \
              (const T *restrict s, const T *restrict cb, const T *restrict cn,         \
               const T *restrict gh, const T *restrict gc, T *restrict da,              \
               T *restrict dcb, int64_t H),                                             \
              (s, cb, cn, gh, gc, da, dcb, H)) {                                        \
        const T *i = s, *f = s + H, *g = s + 2 * H, *o = s + 3 * H;                    \
        for (int64_t j = 0; j < H; ++j) {                                              \
            T tc = TANH(cn[j]);                                                        \
            T dct = gc[j] + gh[j] * o[j] * (1 - tc * tc);                              \
            da[j] = dct * g[j] * i[j] * (1 - i[j]);                                    \
            da[H + j] = dct * cb[j] * f[j] * (1 - f[j]);                               \
            da[2 * H + j] = dct * i[j] * (1 - g[j] * g[j]);                            \
            da[3 * H + j] = gh[j] * tc * o[j] * (1 - o[j]);                            \
            dcb[j] += dct * f[j];                                                      \
        }                                                                              \
    }                                                                                  \
    /* da [B,4H] += dG act'(G), G = (i, f, g, o): the gates' own gradient */           \
    RG_KERNEL(lstm_gates_grad_##SFX, (const T *G, const T *dG, T *da, int64_t n, int64_t H), \
              (G, dG, da, n, H)) {                                                     \
        for (int64_t k = 0; k < n; ++k) {                                              \
            int64_t j = k % (4 * H);                                                   \
            T s = G[k];                                                                \
            da[k] += dG[k] * (j >= 2 * H && j < 3 * H ? 1 - s * s : s * (1 - s));      \
        }                                                                              \
    }

static double sigm64(double x) { return sigm(x); }
LSTM_KERNELS(float, f32, rg_sigmoidf, rg_tanhf)
LSTM_KERNELS(double, f64, sigm64, tanh)

/* The pointwise LSTM forward from pre-activations already in e->saved [B,4H]
 * (in[hc] is c); outputs h', c'. */
static void lstm_act(rg_entry *e, int hc) {
    int64_t B = e->in[hc]->shape[0], H = e->in[hc]->shape[1];
    if (e->in[hc]->dtype == RG_F32)
        lstm_act_f32(e->saved, e->in[hc]->data, e->out[0]->data, e->out[1]->data, B, H);
    else
        lstm_act_f64(e->saved, e->in[hc]->data, e->out[0]->data, e->out[1]->data, B, H);
}

/* The gate gradient da [B,4H] (arena) of an LSTM row whose input hc is c; adds
 * dc_prev into c's gradient.  NULL when out of memory. */
static char *lstm_da(rg_tape *tp, rg_entry *e, int hc) {
    rg_tensor *c = e->in[hc];
    int64_t B = c->shape[0], H = c->shape[1];
    rg_dtype dt = c->dtype;
    size_t es = rg_dtype_size(dt);
    char *dc = rg_grad(tp, c);
    const char *gh = e->out[0]->grad, *gc = e->out[1]->grad;
    char *da = rg_tape_alloc(tp, (size_t)(B * 4 * H) * es);
    char *zero = NULL, *sink = NULL;
    if (!gh || !gc) zero = rg_tape_alloc(tp, (size_t)H * es);
    if (!dc) sink = rg_tape_alloc(tp, (size_t)H * es);
    if (!da || ((!gh || !gc) && !zero) || (!dc && !sink)) return NULL;
    if (zero) memset(zero, 0, (size_t)H * es);
    if (!gh && !gc) memset(da, 0, (size_t)(B * 4 * H) * es); /* only dG: da is its part */
    for (int64_t b = 0; (gh || gc) && b < B; ++b) {
        size_t r1 = (size_t)(b * H) * es, r4 = (size_t)(b * 4 * H) * es;
        const char *sb = (const char *)e->saved + r4;
        const char *cb = (const char *)c->data + r1, *cn = (const char *)e->out[1]->data + r1;
        const char *g1 = gh ? gh + r1 : zero, *g2 = gc ? gc + r1 : zero;
        char *dcb = dc ? dc + r1 : sink;
        if (dt == RG_F32)
            lstm_bwd_row_f32((const float *)sb, (const float *)cb, (const float *)cn,
                             (const float *)g1, (const float *)g2, (float *)(da + r4),
                             (float *)dcb, H);
        else
            lstm_bwd_row_f64((const double *)sb, (const double *)cb, (const double *)cn,
                             (const double *)g1, (const double *)g2, (double *)(da + r4),
                             (double *)dcb, H);
    }
    const char *gG = e->out[2]->grad; /* the gates' gradient: from recorded rules only */
    if (gG && dt == RG_F32)
        lstm_gates_grad_f32(e->saved, (const float *)gG, (float *)da, B * 4 * H, H);
    else if (gG)
        lstm_gates_grad_f64(e->saved, (const double *)gG, (double *)da, B * 4 * H, H);
    return da;
}

/* dst[0..n) += src[0..n) when dst exists. */
RG_KERNEL(add_into, (rg_dtype dt, void *dst, const void *src, int64_t n), (dt, dst, src, n)) {
    if (!dst) return;
    if (dt == RG_F32)
        for (int64_t k = 0; k < n; ++k) ((float *)dst)[k] += ((const float *)src)[k];
    else
        for (int64_t k = 0; k < n; ++k) ((double *)dst)[k] += ((const double *)src)[k];
}

/* rg_lstm_gates: xp, hp [B,4H], c [B,H] -> h', c'; a = xp + hp, dxp = dhp = da. */
static int lstm_shape(rg_tape *tp, rg_entry *e) { return gates_shape(tp, e, 4, "rg_lstm_gates"); }

RG_KERNEL(lstm_forward, (rg_tape *tp, rg_entry *e), (tp, e)) {
    int64_t n = e->in[0]->numel;
    e->saved = e->out[2]->data;
    if (e->in[0]->dtype == RG_F32)
        for (int64_t k = 0; k < n; ++k)
            ((float *)e->saved)[k] = ((const float *)e->in[0]->data)[k] + ((const float *)e->in[1]->data)[k];
    else
        for (int64_t k = 0; k < n; ++k)
            ((double *)e->saved)[k] = ((const double *)e->in[0]->data)[k] + ((const double *)e->in[1]->data)[k];
    lstm_act(e, 2);
}

static void lstm_backward(rg_tape *tp, rg_entry *e) {
    char *da = lstm_da(tp, e, 2);
    if (!da) return;
    rg_dtype dt = e->in[0]->dtype;
    add_into(dt, rg_grad(tp, e->in[0]), da, e->in[0]->numel);
    add_into(dt, rg_grad(tp, e->in[1]), da, e->in[1]->numel);
}

/* recorded: dxp = dhp = da, dc = dc_prev (lstm_graph_core) */
static int lstm_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din) {
    rg_tensor *da, *dcp;
    if (lstm_graph_core(tp, e->out[2], e->in[2], e->out[1], dout[0], dout[1], dout[2], &da,
                        &dcp) != 0)
        return -1;
    din[0] = din[1] = da;
    din[2] = dcp;
    return 0;
}

static const rg_op op_lstm = {"lstm_gates", 3, 3, lstm_shape, lstm_forward, lstm_backward,
                              lstm_graph};

/* The two outputs (h', c') go to out[0], out[1]; both NULL on error. */
static int lstm_out_ok(rg_tape *tp, const char *fn, rg_tensor **out) {
    if (!out) return rg_op_error(tp, "%s: out is NULL (room for h' and c' is needed)", fn);
    out[0] = out[1] = NULL;
    return 0;
}

/* An LSTM row applied; h', c' to out (the gate block, output 2, stays on the tape). */
static int lstm_apply(rg_tape *tp, const rg_op *op, int n, rg_tensor *const *in,
                      rg_tensor **out) {
    rg_tensor *o[3] = {NULL, NULL, NULL};
    int r = rg_ops_apply_multi(tp, op, n, in, NULL, o);
    out[0] = r == 0 ? o[0] : NULL;
    out[1] = r == 0 ? o[1] : NULL;
    return r;
}

int rg_lstm_gates(rg_tape *tp, rg_tensor *xp, rg_tensor *hp, rg_tensor *c, rg_tensor **out) {
    if (lstm_out_ok(tp, "rg_lstm_gates", out) != 0) return -1;
    return lstm_apply(tp, &op_lstm, 3, (rg_tensor *[]){xp, hp, c}, out);
}

/* ---- GRU -------------------------------------------------------------------
 * saved [B,4H]: r, z, n, hp_n.  With dh:
 *   dn = dh(1-z); dz = dh(h-n); dh_prev += dh z; dan = dn(1-n^2);
 *   dr = dan hp_n; dar = dr r(1-r); daz = dz z(1-z);
 *   dxp = (dar, daz, dan); dhp = (dar, daz, dan r). */
static int gru_shape(rg_tape *tp, rg_entry *e) { return gates_shape(tp, e, 3, "rg_gru_gates"); }

#define GRU_KERNELS(T, SFX, SIG, TANH)                                                 \
    RG_KERNEL(gru_fwd_##SFX,                                                           \
              (const T *xp, const T *hp, const T *h, T *h2, T *sv, int64_t B, int64_t H), \
              (xp, hp, h, h2, sv, B, H)) {                                             \
        for (int64_t b = 0; b < B; ++b) {                                              \
            const T *x = xp + b * 3 * H, *hh = hp + b * 3 * H, *hb = h + b * H;        \
            T *s = sv + b * 4 * H, *hn = h2 + b * H;                                   \
            for (int64_t j = 0; j < 2 * H; ++j) s[j] = SIG(x[j] + hh[j]);              \
            for (int64_t j = 0; j < H; ++j) {                                          \
                s[3 * H + j] = hh[2 * H + j];                                          \
                s[2 * H + j] = TANH(x[2 * H + j] + s[j] * hh[2 * H + j]);              \
            }                                                                          \
            for (int64_t j = 0; j < H; ++j)                                            \
                hn[j] = (1 - s[H + j]) * s[2 * H + j] + s[H + j] * hb[j];              \
        }                                                                              \
    }                                                                                  \
    /* One batch row; every pointer is real (see lstm_bwd_row) and the three      \
     * written ones never share memory: gru_bwd checks that before the call. */   \
    RG_KERNEL(gru_bwd_row_##SFX,                                                       \
              (const T *restrict s, const T *restrict hb, const T *restrict g,          \
               T *restrict dx, T *restrict dhh, T *restrict dprev, int64_t H),          \
              (s, hb, g, dx, dhh, dprev, H)) {                                          \
        const T *r = s, *z = s + H, *n = s + 2 * H, *hn = s + 3 * H;                   \
        for (int64_t j = 0; j < H; ++j) {                                              \
            T dn = g[j] * (1 - z[j]), dz = g[j] * (hb[j] - n[j]);                      \
            T dan = dn * (1 - n[j] * n[j]);                                            \
            T dar = dan * hn[j] * r[j] * (1 - r[j]), daz = dz * z[j] * (1 - z[j]);     \
            dx[j] += dar, dx[H + j] += daz, dx[2 * H + j] += dan;                      \
            dhh[j] += dar, dhh[H + j] += daz, dhh[2 * H + j] += dan * r[j];            \
            dprev[j] += g[j] * z[j];                                                   \
        }                                                                              \
    }                                                                                  \
    /* The gradients go to dxp [B,3H], dhp [B,3H], dhprev [B,H]; an absent one to a    \
     * sink.  When two of them share memory (xp and hp one tensor, or views of one    \
     * buffer) the rows are computed into fresh scratch [B,7H] and then added to     \
     * each gradient in turn, so no share is lost to the restrict kernel. */         \
    static void gru_bwd_##SFX(rg_tape *tp, rg_entry *e, int64_t B, int64_t H) {        \
        const T *h = e->in[2]->data, *sv = e->saved, *dh = e->out[0]->grad;            \
        T *dst[3] = {rg_grad(tp, e->in[0]), rg_grad(tp, e->in[1]), rg_grad(tp, e->in[2])}; \
        const int64_t w[3] = {3 * H, 3 * H, H}; /* row widths */                      \
        const size_t nb[3] = {(size_t)(B * 3 * H) * sizeof(T), (size_t)(B * 3 * H) * sizeof(T), \
                              (size_t)(B * H) * sizeof(T)};                            \
        bool alias = rg_mem_overlap(dst[0], nb[0], dst[1], nb[1]) ||                   \
                     rg_mem_overlap(dst[0], nb[0], dst[2], nb[2]) ||                   \
                     rg_mem_overlap(dst[1], nb[1], dst[2], nb[2]);                     \
        T *sink = NULL;                                                                \
        if (alias || !dst[0] || !dst[1] || !dst[2]) {                                  \
            size_t n = (size_t)((alias ? B : 1) * 7 * H);                              \
            sink = rg_tape_alloc(tp, n * sizeof(T) + 1);                               \
            if (!sink) return;                                                         \
            memset(sink, 0, n * sizeof(T));                                            \
        }                                                                              \
        /* Row b of gradient k goes to base[k] + b * step[k]: its own buffer, a block  \
         * [B,w] of the scratch (alias), or one sink row (step 0). */                  \
        T *base[3];                                                                    \
        int64_t step[3];                                                               \
        for (int k = 0; k < 3; ++k) {                                                  \
            int64_t off = 3 * H * k; /* 0, 3H, 6H */                                   \
            base[k] = alias ? sink + B * off : dst[k] ? dst[k] : sink + off;           \
            step[k] = alias || dst[k] ? w[k] : 0;                                      \
        }                                                                              \
        for (int64_t b = 0; b < B; ++b)                                                \
            gru_bwd_row_##SFX(sv + b * 4 * H, h + b * H, dh + b * H, base[0] + b * step[0], \
                              base[1] + b * step[1], base[2] + b * step[2], H);        \
        for (int k = 0; alias && k < 3; ++k)                                           \
            for (int64_t i = 0; dst[k] && i < B * w[k]; ++i) dst[k][i] += base[k][i];  \
    }

GRU_KERNELS(float, f32, rg_sigmoidf, rg_tanhf)
GRU_KERNELS(double, f64, sigm64, tanh)

static void gru_forward(rg_tape *tp, rg_entry *e) {
    int64_t B = e->in[2]->shape[0], H = e->in[2]->shape[1];
    e->saved = rg_tape_alloc(tp, (size_t)(B * 4 * H) * rg_dtype_size(e->in[0]->dtype));
    if (!e->saved) return;
    if (e->in[0]->dtype == RG_F32)
        gru_fwd_f32(e->in[0]->data, e->in[1]->data, e->in[2]->data, e->out[0]->data,
                    e->saved, B, H);
    else
        gru_fwd_f64(e->in[0]->data, e->in[1]->data, e->in[2]->data, e->out[0]->data,
                    e->saved, B, H);
}

static void gru_backward(rg_tape *tp, rg_entry *e) {
    int64_t B = e->in[2]->shape[0], H = e->in[2]->shape[1];
    if (e->in[0]->dtype == RG_F32)
        gru_bwd_f32(tp, e, B, H);
    else
        gru_bwd_f64(tp, e, B, H);
}

/* recorded, with r, z, n recomputed from xp, hp, h:
 *   dn = dh (1-z); dz = dh (h-n); dh_prev = dh z; dan = dn (1-n^2);
 *   dar = dan hp_n r(1-r); daz = dz z(1-z);
 *   dxp = (dar, daz, dan); dhp = (dar, daz, dan r) */
static int gru_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout, rg_tensor **din) {
    rg_tensor *xp = e->in[0], *hp = e->in[1], *h = e->in[2], *dh = dout[0];
    int64_t H = h->shape[1];
    rg_tensor *r = rg_sigmoid(tp, rg_add(tp, block(tp, xp, 0, H), block(tp, hp, 0, H)));
    rg_tensor *z = rg_sigmoid(tp, rg_add(tp, block(tp, xp, 1, H), block(tp, hp, 1, H)));
    rg_tensor *hpn = block(tp, hp, 2, H);
    rg_tensor *n = rg_tanh(tp, rg_add(tp, block(tp, xp, 2, H), rg_mul(tp, r, hpn)));
    rg_tensor *dan = rg_mul(tp, rg_mul(tp, dh, rg_rsub_scalar(tp, z, 1)), dtanh(tp, n));
    rg_tensor *dar = rg_mul(tp, rg_mul(tp, dan, hpn), dsig(tp, r));
    rg_tensor *daz = rg_mul(tp, rg_mul(tp, dh, rg_sub(tp, h, n)), dsig(tp, z));
    if (needs_grad(xp) && !(din[0] = rg_concat(tp, 3, (rg_tensor *[]){dar, daz, dan}, 1)))
        return -1;
    if (needs_grad(hp) &&
        !(din[1] = rg_concat(tp, 3, (rg_tensor *[]){dar, daz, rg_mul(tp, dan, r)}, 1)))
        return -1;
    if (needs_grad(h) && !(din[2] = rg_mul(tp, dh, z))) return -1;
    return 0;
}

static const rg_op op_gru = {"gru_gates", 3, 1, gru_shape, gru_forward, gru_backward, gru_graph};

rg_tensor *rg_gru_gates(rg_tape *tp, rg_tensor *xp, rg_tensor *hp, rg_tensor *h) {
    return rg_ops_apply(tp, &op_gru, 3, (rg_tensor *[]){xp, hp, h}, NULL);
}

/* ---- LSTM cell: the recurrent product and the gates in one row ----------------
 * xp [B,4H] (x W_ih^T + b_ih), h, c [B,H], W_hh [4H,H], b_hh [4H] (optional)
 *   -> h', c' [B,H]:  a = xp + h W_hh^T + b_hh; gates and state as rg_lstm_gates.
 * The pre-activations are computed in place in the saved block [B,4H] (one GEMM
 * into it), which then holds i, f, g, o; no separate product is kept, and
 * tanh(c') is recomputed from the output in backward.  Backward: da [B,4H] as in
 * rg_lstm_gates (kept until the sweep ends: W_hh's gradient is deferred to one
 * GEMM over all steps), dxp += da, dh += da W_hh, dW_hh += da^T h, db_hh += sum da,
 * dc += dct f. */
static int lcell_shape(rg_tape *tp, rg_entry *e) {
    char a[64], b[64], c[64], d[64];
    if (e->n_in != 4 && e->n_in != 5)
        return rg_op_error(tp, "rg_lstm_cell: expected xp, h, c, W_hh and optionally b_hh");
    const rg_tensor *xp = e->in[0], *h = e->in[1], *cs = e->in[2], *W = e->in[3];
    for (int k = 0; k < e->n_in; ++k)
        if (e->in[k]->dtype == RG_I32 || e->in[k]->dtype != xp->dtype)
            return rg_op_error(tp, "rg_lstm_cell: inputs must share a float dtype (input %d is %s)",
                               k, rg_dtype_name(e->in[k]->dtype));
    int64_t B = h->shape[0], H = h->shape[1];
    if (h->rank != 2 || !rg_same_shape(h, cs) || xp->rank != 2 || xp->shape[0] != B ||
        xp->shape[1] != 4 * H || W->rank != 2 || W->shape[0] != 4 * H || W->shape[1] != H ||
        (e->n_in == 5 && (e->in[4]->rank != 1 || e->in[4]->shape[0] != 4 * H)))
        return rg_op_error(tp, "rg_lstm_cell: expected xp [B,4H], h, c [B,H], W_hh [4H,H], "
                               "b_hh [4H]: xp %s, h %s, c %s, W_hh %s",
                           rg_shape_str(xp, a, sizeof a), rg_shape_str(h, b, sizeof b),
                           rg_shape_str(cs, c, sizeof c), rg_shape_str(W, d, sizeof d));
    for (int k = 0; k < 3; ++k) { /* h', c' [B,H]; the gates [B,4H] */
        e->out[k]->rank = 2;
        e->out[k]->shape[0] = B;
        e->out[k]->shape[1] = k == 2 ? 4 * H : H;
    }
    return 0;
}

static void lcell_forward(rg_tape *tp, rg_entry *e) {
    const rg_tensor *xp = e->in[0], *h = e->in[1], *W = e->in[3];
    int64_t B = h->shape[0], H = h->shape[1], n = xp->numel;
    bool f32 = xp->dtype == RG_F32;
    e->saved = e->out[2]->data;
    const rg_tensor *bias = e->n_in == 5 ? e->in[4] : NULL;
    /* sv = xp + b_hh, then sv += h W_hh^T: the pre-activations, in place */
    memcpy(e->saved, xp->data, (size_t)n * rg_dtype_size(xp->dtype));
    for (int64_t b = 0; bias && b < B; ++b)
        add_into(xp->dtype, (char *)e->saved + (size_t)(b * 4 * H) * rg_dtype_size(xp->dtype),
                 bias->data, 4 * H);
    if (f32)
        rg_gemm_f32(false, true, B, 4 * H, H, 1, h->data, H, W->data, H, 1, e->saved, 4 * H);
    else
        rg_gemm_f64(false, true, B, 4 * H, H, 1, h->data, H, W->data, H, 1, e->saved, 4 * H);
    lstm_act(e, 2);
}

/* The recurrent part of an LSTM cell's backward from the gate gradient da
 * [B,4H]: db_hh += sum_b da, dh += da W_hh, and dW_hh += da^T h deferred to one
 * GEMM over all steps (da stays allocated until the sweep ends). */
static void lcell_backward_recurrent(rg_tape *tp, char *da, rg_tensor *h, rg_tensor *W,
                                     rg_tensor *bias) {
    int64_t B = h->shape[0], H = h->shape[1];
    rg_dtype dt = h->dtype;
    char *dh = rg_grad(tp, h), *dW = rg_grad(tp, W), *db = bias ? rg_grad(tp, bias) : NULL;
    for (int64_t b = 0; db && b < B; ++b)
        add_into(dt, db, da + (size_t)(b * 4 * H) * rg_dtype_size(dt), 4 * H);
    if (dt == RG_F32) {
        if (dh) rg_gemm_f32(false, false, B, H, 4 * H, 1, (float *)da, 4 * H, W->data, H, 1, (float *)dh, H);
        if (dW && !rg_defer_weight_grad(tp, W, dW, da, h->data, B))
            rg_gemm_f32(true, false, 4 * H, H, B, 1, (float *)da, 4 * H, h->data, H, 1, (float *)dW, H);
    } else {
        if (dh) rg_gemm_f64(false, false, B, H, 4 * H, 1, (double *)da, 4 * H, W->data, H, 1, (double *)dh, H);
        if (dW && !rg_defer_weight_grad(tp, W, dW, da, h->data, B))
            rg_gemm_f64(true, false, 4 * H, H, B, 1, (double *)da, 4 * H, h->data, H, 1, (double *)dW, H);
    }
}

static void lcell_backward(rg_tape *tp, rg_entry *e) {
    char *da = lstm_da(tp, e, 2);
    if (!da) return;
    add_into(e->in[0]->dtype, rg_grad(tp, e->in[0]), da, e->in[0]->numel);
    lcell_backward_recurrent(tp, da, e->in[1], e->in[3], e->n_in == 5 ? e->in[4] : NULL);
}

/* recorded: da from the gates (lstm_graph_core); dxp = da, dh = da W_hh,
 * dW_hh = da^T h (joined over all steps by rg_autograd), db_hh = sum_b da,
 * dc = dc_prev */
static int lcell_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                       rg_tensor **din) {
    rg_tensor *h = e->in[1], *W = e->in[3], *bias = e->n_in == 5 ? e->in[4] : NULL, *da, *dcp;
    if (lstm_graph_core(tp, e->out[2], e->in[2], e->out[1], dout[0], dout[1], dout[2], &da,
                        &dcp) != 0)
        return -1;
    din[0] = da;
    din[2] = dcp;
    return lcell_graph_recurrent(tp, da, h, W, bias, &din[1], &din[3], &din[4]);
}

static const rg_op op_lcell = {"lstm_cell", -1, 3, lcell_shape, lcell_forward, lcell_backward,
                               lcell_graph};

int rg_lstm_cell(rg_tape *tp, rg_tensor *xp, rg_tensor *h, rg_tensor *c, rg_tensor *W_hh,
                 rg_tensor *b_hh, rg_tensor **out) {
    if (lstm_out_ok(tp, "rg_lstm_cell", out) != 0) return -1;
    return lstm_apply(tp, &op_lcell, b_hh ? 5 : 4, (rg_tensor *[]){xp, h, c, W_hh, b_hh}, out);
}

/* ---- LSTM cell reading its projected input from a mapped table -----------------
 * P [V,4H] (an embedding table already mapped through W_ih, b_ih), ids I32 [B],
 * h, c [B,H], W_hh [4H,H], b_hh [4H] -> h', c': rg_lstm_cell with xp = P[ids],
 * without materialising the gathered rows or their gradient: backward adds
 * da[b] straight into dP[ids[b]]. */
static int lrows_shape(rg_tape *tp, rg_entry *e) {
    char a[64], b[64], c[64];
    const rg_tensor *P = e->in[0], *ids = e->in[1], *h = e->in[2], *W = e->in[4];
    if (ids->dtype != RG_I32 || ids->rank != 1)
        return rg_op_error(tp, "rg_lstm_cell_rows: ids must be I32 [B], got %s %s",
                           rg_dtype_name(ids->dtype), rg_shape_str(ids, a, sizeof a));
    for (int k = 0; k < 6; ++k)
        if (k != 1 && (e->in[k]->dtype == RG_I32 || e->in[k]->dtype != P->dtype))
            return rg_op_error(tp, "rg_lstm_cell_rows: inputs must share a float dtype "
                                   "(input %d is %s)", k, rg_dtype_name(e->in[k]->dtype));
    int64_t B = h->shape[0], H = h->shape[1];
    if (h->rank != 2 || !rg_same_shape(h, e->in[3]) || ids->shape[0] != B || P->rank != 2 ||
        P->shape[1] != 4 * H || W->rank != 2 || W->shape[0] != 4 * H || W->shape[1] != H ||
        e->in[5]->rank != 1 || e->in[5]->shape[0] != 4 * H)
        return rg_op_error(tp, "rg_lstm_cell_rows: expected P [V,4H], ids [B], h, c [B,H], "
                               "W_hh [4H,H], b_hh [4H]: P %s, h %s, W_hh %s",
                           rg_shape_str(P, a, sizeof a), rg_shape_str(h, b, sizeof b),
                           rg_shape_str(W, c, sizeof c));
    const int32_t *iv = ids->data;
    for (int64_t k = 0; k < B; ++k)
        if (iv[k] < 0 || iv[k] >= P->shape[0])
            return rg_op_error(tp, "rg_lstm_cell_rows: id %d at index %lld out of range for "
                               "V = %lld", (int)iv[k], (long long)k, (long long)P->shape[0]);
    for (int k = 0; k < 3; ++k) { /* h', c' [B,H]; the gates [B,4H] */
        e->out[k]->rank = 2;
        e->out[k]->shape[0] = B;
        e->out[k]->shape[1] = k == 2 ? 4 * H : H;
    }
    return 0;
}

static void lrows_forward(rg_tape *tp, rg_entry *e) {
    const rg_tensor *P = e->in[0], *h = e->in[2], *W = e->in[4], *bias = e->in[5];
    const int32_t *iv = e->in[1]->data;
    int64_t B = h->shape[0], H = h->shape[1];
    size_t es = rg_dtype_size(P->dtype), row = (size_t)(4 * H) * es;
    e->saved = e->out[2]->data;
    /* sv = P[ids] + b_hh, then sv += h W_hh^T: the pre-activations, in place */
    for (int64_t b = 0; b < B; ++b) {
        char *sb = (char *)e->saved + (size_t)b * row;
        memcpy(sb, (const char *)P->data + (size_t)iv[b] * row, row);
        add_into(P->dtype, sb, bias->data, 4 * H);
    }
    if (P->dtype == RG_F32)
        rg_gemm_f32(false, true, B, 4 * H, H, 1, h->data, H, W->data, H, 1, e->saved, 4 * H);
    else
        rg_gemm_f64(false, true, B, 4 * H, H, 1, h->data, H, W->data, H, 1, e->saved, 4 * H);
    lstm_act(e, 3);
}

static void lrows_backward(rg_tape *tp, rg_entry *e) {
    rg_tensor *P = e->in[0], *h = e->in[2];
    const int32_t *iv = e->in[1]->data;
    int64_t B = h->shape[0], H = h->shape[1];
    size_t row = (size_t)(4 * H) * rg_dtype_size(h->dtype);
    char *da = lstm_da(tp, e, 3);
    if (!da) return;
    char *dP = rg_grad(tp, P);
    for (int64_t b = 0; dP && b < B; ++b) /* the rows' gradient goes straight to the table */
        add_into(h->dtype, dP + (size_t)iv[b] * row, da + (size_t)b * row, 4 * H);
    lcell_backward_recurrent(tp, da, h, e->in[4], e->in[5]);
}

/* recorded: as rg_lstm_cell, and dP = index_add(zeros like P, 0, ids, da) (rows
 * that rg_autograd joins over all steps) */
static int lrows_graph(rg_tape *tp, const rg_entry *e, rg_tensor *const *dout,
                       rg_tensor **din) {
    rg_tensor *P = e->in[0], *ids = e->in[1], *h = e->in[2], *W = e->in[4], *da, *dcp;
    if (lstm_graph_core(tp, e->out[2], e->in[3], e->out[1], dout[0], dout[1], dout[2], &da,
                        &dcp) != 0)
        return -1;
    int taken = needs_grad(P) ? rg_autograd_rows(tp, P, 0, ids, da) : 1;
    if (taken < 0 ||
        (taken == 0 &&
         !(din[0] = rg_index_add(tp, rg_zeros(tp, P->dtype, 2, P->shape), 0, ids, da))))
        return -1;
    din[3] = dcp;
    return lcell_graph_recurrent(tp, da, h, W, e->in[5], &din[2], &din[4], &din[5]);
}

static const rg_op op_lrows = {"lstm_cell_rows", 6, 3, lrows_shape, lrows_forward,
                               lrows_backward, lrows_graph};

int rg_lstm_cell_rows(rg_tape *tp, rg_tensor *P, rg_tensor *ids, rg_tensor *h, rg_tensor *c,
                      rg_tensor *W_hh, rg_tensor *b_hh, rg_tensor **out) {
    if (lstm_out_ok(tp, "rg_lstm_cell_rows", out) != 0) return -1;
    return lstm_apply(tp, &op_lrows, 6, (rg_tensor *[]){P, ids, h, c, W_hh, b_hh}, out);
}

const rg_op *const rg_rows_fused[] = {&op_lstm, &op_gru, &op_lcell, &op_lrows};
const int rg_rows_fused_n = 4;
