/* Fused recurrent gate ops: the pointwise part of an LSTM or GRU step as one row
 * of the op table (one entry, one pass over memory, activations saved for
 * backward) instead of about a dozen elementwise entries.  Each is checked
 * against the composition of plain ops it replaces. */
#include <math.h>
#include <string.h>

#include "fastmath.h"
#include "ops_internal.h"

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
    for (int k = 0; k < e->op->n_out; ++k) {
        e->out[k]->rank = 2;
        e->out[k]->shape[0] = s->shape[0];
        e->out[k]->shape[1] = s->shape[1];
    }
    return 0;
}

static inline double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ---- LSTM ------------------------------------------------------------------
 * saved [B,5H]: i, f, g, o, tanh(c').  Backward with dh, dc (either may be absent):
 *   dct = dc + dh*o*(1-tanh(c')^2); do = dh*tanh(c'); di = dct*g; dg = dct*i;
 *   df = dct*c; dc_prev += dct*f; da = (di i(1-i), df f(1-f), dg (1-g^2), do o(1-o));
 *   dxp += da, dhp += da. */
static int lstm_shape(rg_tape *tp, rg_entry *e) { return gates_shape(tp, e, 4, "rg_lstm_gates"); }

#define LSTM_FORWARD(T, SIG, TANH)                                                     \
    {                                                                                  \
        const T *xp = e->in[0]->data, *hp = e->in[1]->data, *c = e->in[2]->data;       \
        T *h2 = e->out[0]->data, *c2 = e->out[1]->data, *sv = e->saved;                \
        for (int64_t b = 0; b < B; ++b) {                                              \
            const T *x = xp + b * 4 * H, *hh = hp + b * 4 * H;                         \
            T *s = sv + b * 5 * H;                                                     \
            for (int64_t j = 0; j < H; ++j) {                                          \
                T i = SIG(x[j] + hh[j]), f = SIG(x[H + j] + hh[H + j]);                \
                T g = TANH(x[2 * H + j] + hh[2 * H + j]);                              \
                T o = SIG(x[3 * H + j] + hh[3 * H + j]);                               \
                T cn = f * c[b * H + j] + i * g, tc = TANH(cn);                        \
                c2[b * H + j] = cn;                                                    \
                h2[b * H + j] = o * tc;                                                \
                s[j] = i, s[H + j] = f, s[2 * H + j] = g, s[3 * H + j] = o;            \
                s[4 * H + j] = tc;                                                     \
            }                                                                          \
        }                                                                              \
    }

/* float32 in passes over contiguous rows, so every loop vectorises. */
static void lstm_forward_f32(const float *xp, const float *hp, const float *c, float *h2,
                             float *c2, float *sv, int64_t B, int64_t H) {
    for (int64_t b = 0; b < B; ++b) {
        const float *x = xp + b * 4 * H, *hh = hp + b * 4 * H, *cb = c + b * H;
        float *s = sv + b * 5 * H, *cn = c2 + b * H, *hn = h2 + b * H;
        for (int64_t j = 0; j < 4 * H; ++j) s[j] = x[j] + hh[j];
        for (int64_t j = 0; j < 2 * H; ++j) s[j] = rg_sigmoidf(s[j]);
        for (int64_t j = 2 * H; j < 3 * H; ++j) s[j] = rg_tanhf(s[j]);
        for (int64_t j = 3 * H; j < 4 * H; ++j) s[j] = rg_sigmoidf(s[j]);
        for (int64_t j = 0; j < H; ++j) cn[j] = s[H + j] * cb[j] + s[j] * s[2 * H + j];
        for (int64_t j = 0; j < H; ++j) s[4 * H + j] = rg_tanhf(cn[j]);
        for (int64_t j = 0; j < H; ++j) hn[j] = s[3 * H + j] * s[4 * H + j];
    }
}

static void lstm_forward(rg_tape *tp, rg_entry *e) {
    int64_t B = e->in[2]->shape[0], H = e->in[2]->shape[1];
    e->saved = rg_tape_alloc(tp, (size_t)(B * 5 * H) * rg_dtype_size(e->in[0]->dtype));
    if (!e->saved) return;
    if (e->in[0]->dtype == RG_F32)
        lstm_forward_f32(e->in[0]->data, e->in[1]->data, e->in[2]->data, e->out[0]->data,
                         e->out[1]->data, e->saved, B, H);
    else
        LSTM_FORWARD(double, sigm, tanh)
}

#define LSTM_BACKWARD(T)                                                               \
    {                                                                                  \
        const T *c = e->in[2]->data, *sv = e->saved;                                   \
        const T *dh = e->out[0]->grad, *dc = e->out[1]->grad;                          \
        T *dxp = rg_grad(tp, e->in[0]), *dhp = rg_grad(tp, e->in[1]);                  \
        T *dcp = rg_grad(tp, e->in[2]);                                                \
        for (int64_t b = 0; b < B; ++b) {                                              \
            const T *s = sv + b * 5 * H;                                               \
            for (int64_t j = 0; j < H; ++j) {                                          \
                int64_t k = b * H + j;                                                 \
                T i = s[j], f = s[H + j], g = s[2 * H + j], o = s[3 * H + j];          \
                T tc = s[4 * H + j];                                                   \
                T gh = dh ? dh[k] : 0, dct = (dc ? dc[k] : 0) + gh * o * (1 - tc * tc); \
                T da[4] = {dct * g * i * (1 - i), dct * c[k] * f * (1 - f),            \
                           dct * i * (1 - g * g), gh * tc * o * (1 - o)};              \
                for (int q = 0; q < 4; ++q) {                                          \
                    if (dxp) dxp[b * 4 * H + q * H + j] += da[q];                      \
                    if (dhp) dhp[b * 4 * H + q * H + j] += da[q];                      \
                }                                                                      \
                if (dcp) dcp[k] += dct * f;                                            \
            }                                                                          \
        }                                                                              \
    }

/* One batch row of the float32 LSTM backward: the gate gradients added straight
 * into dx and dhh (both [4H]) and dc_prev into dcb.  Every pointer is real (the
 * caller substitutes a zero row or a scratch sink), so the loop vectorises. */
static void lstm_bwd_row(const float *restrict s, const float *restrict cb,
                         const float *restrict gh, const float *restrict gc,
                         float *restrict dx, float *restrict dhh, float *restrict dcb,
                         int64_t H) {
    const float *i = s, *f = s + H, *g = s + 2 * H, *o = s + 3 * H, *tc = s + 4 * H;
    for (int64_t j = 0; j < H; ++j) {
        float dct = gc[j] + gh[j] * o[j] * (1 - tc[j] * tc[j]);
        float a0 = dct * g[j] * i[j] * (1 - i[j]);
        float a1 = dct * cb[j] * f[j] * (1 - f[j]);
        float a2 = dct * i[j] * (1 - g[j] * g[j]);
        float a3 = gh[j] * tc[j] * o[j] * (1 - o[j]);
        dx[j] += a0, dx[H + j] += a1, dx[2 * H + j] += a2, dx[3 * H + j] += a3;
        dhh[j] += a0, dhh[H + j] += a1, dhh[2 * H + j] += a2, dhh[3 * H + j] += a3;
        dcb[j] += dct * f[j];
    }
}

static void lstm_backward_f32(rg_tape *tp, rg_entry *e, int64_t B, int64_t H) {
    const float *c = e->in[2]->data, *sv = e->saved;
    const float *dh = e->out[0]->grad, *dc = e->out[1]->grad;
    float *dxp = rg_grad(tp, e->in[0]), *dhp = rg_grad(tp, e->in[1]);
    float *dcp = rg_grad(tp, e->in[2]);
    /* absent gradients: a zero row to read, a scratch row to write */
    float *zero = NULL, *sink = NULL;
    if (!dh || !dc) {
        zero = rg_tape_alloc(tp, (size_t)H * sizeof(float));
        if (!zero) return;
        memset(zero, 0, (size_t)H * sizeof(float));
    }
    if (!dxp || !dhp || !dcp) {
        sink = rg_tape_alloc(tp, (size_t)(9 * H) * sizeof(float));
        if (!sink) return;
        memset(sink, 0, (size_t)(9 * H) * sizeof(float));
    }
    for (int64_t b = 0; b < B; ++b)
        lstm_bwd_row(sv + b * 5 * H, c + b * H, dh ? dh + b * H : zero, dc ? dc + b * H : zero,
                     dxp ? dxp + b * 4 * H : sink, dhp ? dhp + b * 4 * H : sink + 4 * H,
                     dcp ? dcp + b * H : sink + 8 * H, H);
}

static void lstm_backward(rg_tape *tp, rg_entry *e) {
    int64_t B = e->in[2]->shape[0], H = e->in[2]->shape[1];
    if (e->in[0]->dtype == RG_F32)
        lstm_backward_f32(tp, e, B, H);
    else
        LSTM_BACKWARD(double)
}

static const rg_op op_lstm = {"lstm_gates", 3, 2, lstm_shape, lstm_forward, lstm_backward};

int rg_lstm_gates(rg_tape *tp, rg_tensor *xp, rg_tensor *hp, rg_tensor *c, rg_tensor **h_out,
                  rg_tensor **c_out) {
    rg_tensor *out[2] = {NULL, NULL};
    int r = rg_apply_multi(tp, &op_lstm, 3, (rg_tensor *[]){xp, hp, c}, NULL, out);
    *h_out = out[0];
    *c_out = out[1];
    return r;
}

/* ---- GRU -------------------------------------------------------------------
 * saved [B,4H]: r, z, n, hp_n.  With dh:
 *   dn = dh(1-z); dz = dh(h-n); dh_prev += dh z; dan = dn(1-n^2);
 *   dr = dan hp_n; dar = dr r(1-r); daz = dz z(1-z);
 *   dxp = (dar, daz, dan); dhp = (dar, daz, dan r). */
static int gru_shape(rg_tape *tp, rg_entry *e) { return gates_shape(tp, e, 3, "rg_gru_gates"); }

#define GRU_FORWARD(T, SIG, TANH)                                                      \
    {                                                                                  \
        const T *xp = e->in[0]->data, *hp = e->in[1]->data, *h = e->in[2]->data;       \
        T *h2 = e->out[0]->data, *sv = e->saved;                                       \
        for (int64_t b = 0; b < B; ++b) {                                              \
            const T *x = xp + b * 3 * H, *hh = hp + b * 3 * H;                         \
            T *s = sv + b * 4 * H;                                                     \
            for (int64_t j = 0; j < H; ++j) {                                          \
                T r = SIG(x[j] + hh[j]), z = SIG(x[H + j] + hh[H + j]);                \
                T n = TANH(x[2 * H + j] + r * hh[2 * H + j]);                          \
                h2[b * H + j] = (1 - z) * n + z * h[b * H + j];                        \
                s[j] = r, s[H + j] = z, s[2 * H + j] = n, s[3 * H + j] = hh[2 * H + j]; \
            }                                                                          \
        }                                                                              \
    }

static void gru_forward_f32(const float *xp, const float *hp, const float *h, float *h2,
                            float *sv, int64_t B, int64_t H) {
    for (int64_t b = 0; b < B; ++b) {
        const float *x = xp + b * 3 * H, *hh = hp + b * 3 * H, *hb = h + b * H;
        float *s = sv + b * 4 * H, *hn = h2 + b * H;
        for (int64_t j = 0; j < 2 * H; ++j) s[j] = rg_sigmoidf(x[j] + hh[j]);
        for (int64_t j = 0; j < H; ++j) {
            s[3 * H + j] = hh[2 * H + j];
            s[2 * H + j] = rg_tanhf(x[2 * H + j] + s[j] * hh[2 * H + j]);
        }
        for (int64_t j = 0; j < H; ++j) {
            float z = s[H + j], n = s[2 * H + j];
            hn[j] = (1 - z) * n + z * hb[j];
        }
    }
}

static void gru_forward(rg_tape *tp, rg_entry *e) {
    int64_t B = e->in[2]->shape[0], H = e->in[2]->shape[1];
    e->saved = rg_tape_alloc(tp, (size_t)(B * 4 * H) * rg_dtype_size(e->in[0]->dtype));
    if (!e->saved) return;
    if (e->in[0]->dtype == RG_F32)
        gru_forward_f32(e->in[0]->data, e->in[1]->data, e->in[2]->data, e->out[0]->data,
                        e->saved, B, H);
    else
        GRU_FORWARD(double, sigm, tanh)
}

#define GRU_BACKWARD(T)                                                                \
    {                                                                                  \
        const T *h = e->in[2]->data, *sv = e->saved, *dh = e->out[0]->grad;            \
        T *dxp = rg_grad(tp, e->in[0]), *dhp = rg_grad(tp, e->in[1]);                  \
        T *dhprev = rg_grad(tp, e->in[2]);                                             \
        for (int64_t b = 0; b < B; ++b) {                                              \
            const T *s = sv + b * 4 * H;                                               \
            for (int64_t j = 0; j < H; ++j) {                                          \
                int64_t k = b * H + j, g0 = b * 3 * H + j;                             \
                T r = s[j], z = s[H + j], n = s[2 * H + j], hn = s[3 * H + j];         \
                T dn = dh[k] * (1 - z), dz = dh[k] * (h[k] - n);                       \
                T dan = dn * (1 - n * n), dar = dan * hn * r * (1 - r);                \
                T daz = dz * z * (1 - z);                                              \
                if (dxp) {                                                             \
                    dxp[g0] += dar, dxp[g0 + H] += daz, dxp[g0 + 2 * H] += dan;        \
                }                                                                      \
                if (dhp) {                                                             \
                    dhp[g0] += dar, dhp[g0 + H] += daz, dhp[g0 + 2 * H] += dan * r;    \
                }                                                                      \
                if (dhprev) dhprev[k] += dh[k] * z;                                    \
            }                                                                          \
        }                                                                              \
    }

/* One batch row of the float32 GRU backward (real pointers only, see lstm_bwd_row). */
static void gru_bwd_row(const float *restrict s, const float *restrict hb,
                        const float *restrict g, float *restrict dx, float *restrict dhh,
                        float *restrict dprev, int64_t H) {
    const float *r = s, *z = s + H, *n = s + 2 * H, *hn = s + 3 * H;
    for (int64_t j = 0; j < H; ++j) {
        float dn = g[j] * (1 - z[j]), dz = g[j] * (hb[j] - n[j]);
        float dan = dn * (1 - n[j] * n[j]);
        float dar = dan * hn[j] * r[j] * (1 - r[j]), daz = dz * z[j] * (1 - z[j]);
        dx[j] += dar, dx[H + j] += daz, dx[2 * H + j] += dan;
        dhh[j] += dar, dhh[H + j] += daz, dhh[2 * H + j] += dan * r[j];
        dprev[j] += g[j] * z[j];
    }
}

static void gru_backward_f32(rg_tape *tp, rg_entry *e, int64_t B, int64_t H) {
    const float *h = e->in[2]->data, *sv = e->saved, *dh = e->out[0]->grad;
    float *dxp = rg_grad(tp, e->in[0]), *dhp = rg_grad(tp, e->in[1]);
    float *dhprev = rg_grad(tp, e->in[2]);
    float *sink = NULL; /* where an absent gradient's share goes */
    if (!dxp || !dhp || !dhprev) {
        sink = rg_tape_alloc(tp, (size_t)(7 * H) * sizeof(float));
        if (!sink) return;
        memset(sink, 0, (size_t)(7 * H) * sizeof(float));
    }
    for (int64_t b = 0; b < B; ++b)
        gru_bwd_row(sv + b * 4 * H, h + b * H, dh + b * H, dxp ? dxp + b * 3 * H : sink,
                    dhp ? dhp + b * 3 * H : sink + 3 * H, dhprev ? dhprev + b * H : sink + 6 * H,
                    H);
}

static void gru_backward(rg_tape *tp, rg_entry *e) {
    int64_t B = e->in[2]->shape[0], H = e->in[2]->shape[1];
    if (e->in[0]->dtype == RG_F32)
        gru_backward_f32(tp, e, B, H);
    else
        GRU_BACKWARD(double)
}

static const rg_op op_gru = {"gru_gates", 3, 1, gru_shape, gru_forward, gru_backward};

rg_tensor *rg_gru_gates(rg_tape *tp, rg_tensor *xp, rg_tensor *hp, rg_tensor *h) {
    return rg_apply(tp, &op_gru, 3, (rg_tensor *[]){xp, hp, h}, NULL);
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
    for (int k = 0; k < 2; ++k) {
        e->out[k]->rank = 2;
        e->out[k]->shape[0] = B;
        e->out[k]->shape[1] = H;
    }
    return 0;
}

#define LCELL_KERNELS(T, SFX, SIG, TANH, GEMM)                                         \
    static void lcell_fwd_##SFX(const T *xp, const T *h, const T *c, const T *W,       \
                                const T *bias, T *h2, T *c2, T *sv, int64_t B,         \
                                int64_t H) {                                           \
        for (int64_t b = 0; b < B; ++b) {                                              \
            T *s = sv + b * 4 * H;                                                     \
            const T *x = xp + b * 4 * H;                                               \
            if (bias)                                                                  \
                for (int64_t j = 0; j < 4 * H; ++j) s[j] = x[j] + bias[j];             \
            else                                                                       \
                for (int64_t j = 0; j < 4 * H; ++j) s[j] = x[j];                       \
        }                                                                              \
        GEMM(false, true, B, 4 * H, H, 1, h, H, W, H, 1, sv, 4 * H);                   \
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
    /* da (assigned) and dc_prev (added) of one batch row; tanh(c') is recomputed  \
     * from the output c' rather than kept */                                          \
    static void lcell_bwd_row_##SFX(const T *restrict s, const T *restrict cb,         \
                                    const T *restrict cn, const T *restrict gh,        \
                                    const T *restrict gc, T *restrict da,              \
                                    T *restrict dcb, int64_t H) {                      \
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
    }

static void gemm32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                   const float *A, int64_t lda, const float *B, int64_t ldb, double beta,
                   float *C, int64_t ldc) {
    rg_gemm_f32(ta, tb, M, N, K, (float)alpha, A, lda, B, ldb, (float)beta, C, ldc);
}
static double sigm64(double x) { return sigm(x); }
LCELL_KERNELS(float, f32, rg_sigmoidf, rg_tanhf, gemm32)
LCELL_KERNELS(double, f64, sigm64, tanh, rg_gemm_f64)

static void lcell_forward(rg_tape *tp, rg_entry *e) {
    int64_t B = e->in[1]->shape[0], H = e->in[1]->shape[1];
    bool f32 = e->in[0]->dtype == RG_F32;
    e->saved = rg_tape_alloc(tp, (size_t)(B * 4 * H) * rg_dtype_size(e->in[0]->dtype));
    if (!e->saved) return;
    const void *bias = e->n_in == 5 ? e->in[4]->data : NULL;
    if (f32)
        lcell_fwd_f32(e->in[0]->data, e->in[1]->data, e->in[2]->data, e->in[3]->data, bias,
                      e->out[0]->data, e->out[1]->data, e->saved, B, H);
    else
        lcell_fwd_f64(e->in[0]->data, e->in[1]->data, e->in[2]->data, e->in[3]->data, bias,
                      e->out[0]->data, e->out[1]->data, e->saved, B, H);
}

static void lcell_backward(rg_tape *tp, rg_entry *e) {
    rg_tensor *h = e->in[1], *W = e->in[3];
    int64_t B = h->shape[0], H = h->shape[1];
    rg_dtype dt = h->dtype;
    size_t es = rg_dtype_size(dt);
    char *dxp = rg_grad(tp, e->in[0]), *dh = rg_grad(tp, h), *dc = rg_grad(tp, e->in[2]);
    char *dW = rg_grad(tp, W), *db = e->n_in == 5 ? rg_grad(tp, e->in[4]) : NULL;
    const char *gh = e->out[0]->grad, *gc = e->out[1]->grad;
    /* da stays allocated until the sweep ends (the deferred dW_hh reads it) */
    char *da = rg_tape_alloc(tp, (size_t)(B * 4 * H) * es);
    char *zero = NULL, *sink = NULL;
    if (!gh || !gc) zero = rg_tape_alloc(tp, (size_t)H * es);
    if (!dc) sink = rg_tape_alloc(tp, (size_t)H * es);
    if (!da || ((!gh || !gc) && !zero) || (!dc && !sink)) return;
    if (zero) memset(zero, 0, (size_t)H * es);
    for (int64_t b = 0; b < B; ++b) {
        size_t r1 = (size_t)(b * H) * es, r4 = (size_t)(b * 4 * H) * es;
        const char *sb = (const char *)e->saved + (size_t)(b * 4 * H) * es;
        const char *cb = (const char *)e->in[2]->data + r1;
        const char *cn = (const char *)e->out[1]->data + r1;
        const char *g1 = gh ? gh + r1 : zero, *g2 = gc ? gc + r1 : zero;
        char *dcb = dc ? dc + r1 : sink;
        if (dt == RG_F32)
            lcell_bwd_row_f32((const float *)sb, (const float *)cb, (const float *)cn,
                              (const float *)g1, (const float *)g2, (float *)(da + r4),
                              (float *)dcb, H);
        else
            lcell_bwd_row_f64((const double *)sb, (const double *)cb, (const double *)cn,
                              (const double *)g1, (const double *)g2, (double *)(da + r4),
                              (double *)dcb, H);
    }
    int64_t n = B * 4 * H;
    if (dt == RG_F32) {
        const float *d = (const float *)da;
        if (dxp)
            for (int64_t k = 0; k < n; ++k) ((float *)dxp)[k] += d[k];
        if (db)
            for (int64_t b = 0; b < B; ++b)
                for (int64_t j = 0; j < 4 * H; ++j) ((float *)db)[j] += d[b * 4 * H + j];
        if (dh) rg_gemm_f32(false, false, B, H, 4 * H, 1, d, 4 * H, W->data, H, 1, (float *)dh, H);
        if (dW && !rg_defer_weight_grad(tp, W, dW, da, h->data, B))
            rg_gemm_f32(true, false, 4 * H, H, B, 1, d, 4 * H, h->data, H, 1, (float *)dW, H);
    } else {
        const double *d = (const double *)da;
        if (dxp)
            for (int64_t k = 0; k < n; ++k) ((double *)dxp)[k] += d[k];
        if (db)
            for (int64_t b = 0; b < B; ++b)
                for (int64_t j = 0; j < 4 * H; ++j) ((double *)db)[j] += d[b * 4 * H + j];
        if (dh) rg_gemm_f64(false, false, B, H, 4 * H, 1, d, 4 * H, W->data, H, 1, (double *)dh, H);
        if (dW && !rg_defer_weight_grad(tp, W, dW, da, h->data, B))
            rg_gemm_f64(true, false, 4 * H, H, B, 1, d, 4 * H, h->data, H, 1, (double *)dW, H);
    }
}

static const rg_op op_lcell = {"lstm_cell", -1, 2, lcell_shape, lcell_forward, lcell_backward};

int rg_lstm_cell(rg_tape *tp, rg_tensor *xp, rg_tensor *h, rg_tensor *c, rg_tensor *W_hh,
                 rg_tensor *b_hh, rg_tensor **h_out, rg_tensor **c_out) {
    rg_tensor *out[2] = {NULL, NULL};
    int r = b_hh ? rg_apply_multi(tp, &op_lcell, 5, (rg_tensor *[]){xp, h, c, W_hh, b_hh}, NULL, out)
                 : rg_apply_multi(tp, &op_lcell, 4, (rg_tensor *[]){xp, h, c, W_hh}, NULL, out);
    *h_out = out[0];
    *c_out = out[1];
    return r;
}

const rg_op *const rg_rows_fused[] = {&op_lstm, &op_gru, &op_lcell};
const int rg_rows_fused_n = 3;
