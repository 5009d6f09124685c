/* Sequence layers: any rg_cell_type unrolled over time by a C loop, stacked in
 * layers, run in both directions, over batches of sequences of different
 * lengths.  Only public ops: the tape sees each step's ops like any others. */
#include "rg_layers.h"

#include <stdio.h>
#include <stdlib.h>

rg_seq *rg_seq_new(rg_params *P, const char *prefix, const rg_seq_config *cfg, rg_rng *rng)
{
    if (!P || !cfg || !cfg->cell) {
        rg_set_error("rg_seq_new: NULL registry, config or cell type");
        return NULL;
    }
    if (cfg->num_layers < 1 || cfg->input_size < 1 || cfg->hidden_size < 1 ||
        cfg->dropout < 0 || cfg->dropout >= 1) {
        rg_set_error("rg_seq_new: bad config (layers %d, input %lld, hidden %lld, dropout %g)",
                     cfg->num_layers, (long long)cfg->input_size, (long long)cfg->hidden_size,
                     cfg->dropout);
        return NULL;
    }
    rg_seq *s = calloc(1, sizeof *s);
    int L = cfg->num_layers, D = cfg->bidirectional ? 2 : 1;
    if (s)
        s->cells = calloc((size_t)(L * D), sizeof *s->cells);
    if (!s || !s->cells) {
        free(s);
        rg_set_error("rg_seq_new: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->L = L;
    s->D = D;
    for (int k = 0; k < L; k++) {
        for (int d = 0; d < D; d++) {
            char suffix[32];
            snprintf(suffix, sizeof suffix, "_l%d%s", k, d ? "_reverse" : "");
            int64_t in = k == 0 ? cfg->input_size : D * cfg->hidden_size;
            if (rg_cell_init(&s->cells[k * D + d], cfg->cell, P, prefix, suffix, in,
                             cfg->hidden_size, cfg->dtype, rng) != 0) {
                rg_seq_free(s);
                return NULL;
            }
        }
    }
    return s;
}

void rg_seq_free(rg_seq *s)
{
    if (!s)
        return;
    free(s->cells);
    free(s);
}

/* Per-step masks for variable lengths: m[t] [B,1] is 1 where t < length, inv[t]
 * = 1 - m[t]; both NULL at steps where every sequence is still running (no
 * blending there).  Constants on the tape, no gradient. */
static int build_masks(rg_tape *tp, rg_dtype dt, int64_t T, int64_t B, const int32_t *lengths,
                       rg_tensor **m, rg_tensor **inv)
{
    double *buf = rg_tape_alloc(tp, (size_t)(2 * B) * sizeof *buf);
    if (!buf)
        return -1;
    for (int64_t t = 0; t < T; t++) {
        bool all = true;
        for (int64_t b = 0; b < B; b++) {
            buf[b] = t < lengths[b] ? 1.0 : 0.0;
            buf[B + b] = 1.0 - buf[b];
            all = all && t < lengths[b];
        }
        m[t] = inv[t] = NULL;
        if (all)
            continue;
        m[t] = rg_from_doubles(tp, dt, RG_DIMS(B, 1), buf);
        inv[t] = rg_from_doubles(tp, dt, RG_DIMS(B, 1), buf + B);
        if (!m[t] || !inv[t])
            return -1;
    }
    return 0;
}

/* Runs one direction of one layer over the projected inputs xp [T*B,Pw].
 * state[] holds the initial state on entry and the final state on exit;
 * outs[t] gets the output [B,H] of time t. */
static int run_direction(rg_tape *tp, const rg_cell *c, rg_tensor *xp, rg_tensor *P,
                         const rg_tensor *ids, int64_t T, int64_t B, bool reverse,
                         rg_tensor **m, rg_tensor **inv, rg_tensor **state, rg_tensor **outs)
{
    int ns = c->type->n_state;
    for (int64_t s = 0; s < T; s++) {
        int64_t t = reverse ? T - 1 - s : s;
        rg_tensor *next[RG_CELL_MAX_STATE] = {0};
        if (P) { /* rows t of the ids index the mapped table */
            rg_tensor *it = rg_from_data(tp, RG_I32, RG_DIMS(B), (const int32_t *)ids->data + t * B);
            if (!it || c->type->step_rows(tp, c, P, it, state, next) != 0)
                return -1;
        } else {
            rg_tensor *xt = rg_slice(tp, xp, 0, t * B, B);
            if (!xt || c->type->step(tp, c, xt, state, next) != 0)
                return -1;
        }
        for (int j = 0; j < ns; j++)
            if (!next[j])
                return -1;
        if (m && m[t]) {
            /* finished sequences keep their state and output zeros; with 0/1
             * masks both are exact, so padding leaks into nothing */
            outs[t] = rg_mul(tp, m[t], next[0]);
            for (int j = 0; j < ns; j++)
                state[j] = rg_add(tp, rg_mul(tp, m[t], next[j]), rg_mul(tp, inv[t], state[j]));
        } else {
            outs[t] = next[0];
            for (int j = 0; j < ns; j++)
                state[j] = next[j];
        }
        if (!outs[t])
            return -1;
    }
    for (int j = 0; j < ns; j++)
        if (!state[j])
            return -1;
    return 0;
}

/* x [T,B,I] of the layer's dtype and input size.  fn: the public form called. */
static int check_x(const char *fn, rg_tape *tp, const rg_seq *s, const rg_tensor *x)
{
    char b1[64];
    const rg_seq_config *cfg = &s->cfg;
    if (x->rank != 3 || x->dtype != cfg->dtype || x->shape[2] != cfg->input_size)
        return rg_op_error(tp, "%s: x %s %s, the layer expects [T,B,%lld] %s", fn,
                           rg_shape_str(x, b1, sizeof b1), rg_dtype_name(x->dtype),
                           (long long)cfg->input_size, rg_dtype_name(cfg->dtype));
    return 0;
}

static int check_inputs(const char *fn, rg_tape *tp, const rg_seq *s, int64_t T, int64_t B,
                        const int32_t *lengths, rg_tensor *const *init)
{
    char b1[64];
    const rg_seq_config *cfg = &s->cfg;
    if (T < 1 || B < 1)
        return rg_op_error(tp, "%s: empty input: T = %lld, B = %lld", fn, (long long)T,
                           (long long)B);
    if (lengths)
        for (int64_t b = 0; b < B; b++)
            if (lengths[b] < 0 || lengths[b] > T)
                return rg_op_error(tp, "%s: lengths[%lld] = %d is outside [0,%lld]", fn,
                                   (long long)b, (int)lengths[b], (long long)T);
    if (init)
        for (int j = 0; j < cfg->cell->n_state; j++) {
            rg_tensor *h = init[j];
            if (h && (h->rank != 3 || h->shape[0] != s->L * s->D || h->shape[1] != B ||
                      h->shape[2] != cfg->hidden_size || h->dtype != cfg->dtype))
                return rg_op_error(tp, "%s: initial state %d is %s %s, expected "
                                   "[%d,%lld,%lld] %s", fn, j, rg_shape_str(h, b1, sizeof b1),
                                   rg_dtype_name(h->dtype), s->L * s->D, (long long)B,
                                   (long long)cfg->hidden_size, rg_dtype_name(cfg->dtype));
        }
    return 0;
}

/* The stack over T steps of B sequences.  Layer 0 reads x [T,B,I]; or, when
 * xp0 is given, its directions' input projections xp0[d] [T*B,P] directly; or,
 * when P0 is given, rows ids [T,B] of its directions' mapped tables P0[d].
 * fn names the public form called; o holds the caller's options. */
static rg_tensor *seq_run(const char *fn, rg_tape *tp, const rg_seq *s, int64_t T, int64_t B,
                          rg_tensor *x, rg_tensor *const *xp0, rg_tensor *const *P0,
                          const rg_tensor *ids, const rg_seq_opts *o)
{
    const int32_t *lengths = o->lengths;
    rg_tensor *const *init = o->init;
    rg_tensor **final = o->final;
    int ns = s->cfg.cell->n_state, L = s->L, D = s->D;
    if (final)
        for (int j = 0; j < ns; j++)
            final[j] = NULL;
    if (init)
        for (int j = 0; j < ns; j++)
            if (init[j] && !init[j]->data)
                return NULL;
    if (check_inputs(fn, tp, s, T, B, lengths, init) != 0)
        return NULL;
    int64_t H = s->cfg.hidden_size;
    bool drop = s->cfg.dropout > 0 && L > 1 && rg_tape_training(tp);
    if (drop && !o->dropout_rng) {
        rg_op_error(tp, "%s: dropout %g while training needs a dropout_rng", fn,
                    s->cfg.dropout);
        return NULL;
    }

    /* per-step arrays come from the arena: no malloc per call */
    rg_tensor **outs = rg_tape_alloc(tp, (size_t)(D * T) * sizeof *outs);
    rg_tensor **fin = rg_tape_alloc(tp, (size_t)(ns * L * D) * sizeof *fin);
    rg_tensor **m = NULL, **inv = NULL;
    if (!outs || !fin)
        return NULL;
    if (lengths) {
        m = rg_tape_alloc(tp, (size_t)T * sizeof *m);
        inv = rg_tape_alloc(tp, (size_t)T * sizeof *inv);
        if (!m || !inv || build_masks(tp, s->cfg.dtype, T, B, lengths, m, inv) != 0)
            return NULL;
    }

    rg_tensor *layer_in = x;
    for (int k = 0; k < L; k++) {
        /* all T steps' inputs in one matrix product before the loop */
        bool given = k == 0 && (xp0 || P0); /* layer 0's inputs come projected */
        rg_tensor *flat = given ? NULL
                          : rg_reshape(tp, layer_in, RG_DIMS(T * B, layer_in->shape[2]));
        if (!flat && !given)
            return NULL;
        for (int d = 0; d < D; d++) {
            const rg_cell *c = &s->cells[k * D + d];
            rg_tensor *P = k == 0 && P0 ? P0[d] : NULL;
            rg_tensor *xp = P ? NULL
                            : k == 0 && xp0 ? xp0[d]
                            : c->type->project ? c->type->project(tp, c, flat) : flat;
            rg_tensor *state[RG_CELL_MAX_STATE] = {0};
            if ((!xp && !P) || rg_cell_initial_state(tp, c, B, state) != 0)
                return NULL;
            for (int j = 0; init && j < ns; j++)
                if (init[j])
                    state[j] = rg_reshape(tp, rg_slice(tp, init[j], 0, k * D + d, 1),
                                          RG_DIMS(B, H));
            if (run_direction(tp, c, xp, P, ids, T, B, d == 1, m, inv, state, outs + d * T) != 0)
                return NULL;
            for (int j = 0; j < ns; j++)
                fin[j * L * D + k * D + d] = state[j];
        }
        rg_tensor *out = rg_stack(tp, (int)T, outs, 0); /* [T,B,H] */
        if (D == 2) {
            rg_tensor *both[2] = {out, rg_stack(tp, (int)T, outs + T, 0)};
            out = both[1] ? rg_concat(tp, 2, both, 2) : NULL; /* [T,B,2H] */
        }
        if (drop && k < L - 1)
            out = rg_dropout(tp, out, s->cfg.dropout, o->dropout_rng);
        if (!out)
            return NULL;
        layer_in = out;
    }
    if (final) {
        for (int j = 0; j < ns; j++) {
            final[j] = rg_stack(tp, L * D, fin + j * L * D, 0); /* [L*D,B,H] */
            if (!final[j])
                return NULL;
        }
    }
    return layer_in;
}

/* The entry checks of the public forms; fn names the one the caller wrote.  A
 * NULL argument after a failed op repeats the tape's first error. */
static bool seq_call_ok(const char *fn, rg_tape *tp, const void *s, const void *a,
                        const char *a_name, const void *b, const char *b_name)
{
    if (!tp) {
        rg_set_error("%s: tape is NULL", fn);
        return false;
    }
    if (s && a && b)
        return true;
    if (rg_tape_error(tp))
        rg_op_error(tp, "%s", rg_tape_error(tp));
    else
        rg_op_error(tp, "%s: %s is NULL", fn, !s ? "the layer" : !a ? a_name : b_name);
    return false;
}

static const rg_seq_opts no_opts;

static rg_tensor *seq_forward(const char *fn, rg_tape *tp, const rg_seq *s, rg_tensor *x,
                              const rg_seq_opts *o)
{
    if (!seq_call_ok(fn, tp, s, x, "x", x, "x"))
        return NULL;
    if (!o)
        o = &no_opts;
    if (check_x(fn, tp, s, x) != 0)
        return NULL;
    return seq_run(fn, tp, s, x->shape[0], x->shape[1], x, NULL, NULL, NULL, o);
}

rg_tensor *rg_seq_forward_ex(rg_tape *tp, const rg_seq *s, rg_tensor *x, const rg_seq_opts *opts)
{
    return seq_forward("rg_seq_forward_ex", tp, s, x, opts);
}

rg_tensor *rg_seq_forward(rg_tape *tp, const rg_seq *s, rg_tensor *x, const int32_t *lengths,
                          rg_tensor *const *init, rg_tensor **final, rg_rng *dropout_rng)
{
    rg_seq_opts o = {lengths, init, final, dropout_rng};
    return seq_forward("rg_seq_forward", tp, s, x, &o);
}

static rg_tensor *seq_forward_ids(const char *fn, rg_tape *tp, const rg_seq *s, rg_tensor *emb,
                                  rg_tensor *ids, const rg_seq_opts *o)
{
    if (!seq_call_ok(fn, tp, s, emb, "the table", ids, "ids"))
        return NULL;
    if (!o)
        o = &no_opts;
    char b1[64], b2[64];
    if (ids->rank != 2 || ids->dtype != RG_I32 || emb->rank != 2 ||
        emb->shape[1] != s->cfg.input_size || emb->dtype != s->cfg.dtype) {
        rg_op_error(tp, "%s: ids %s %s and table %s %s; the layer expects "
                    "int32 [T,B] and [V,%lld] %s", fn, rg_shape_str(ids, b1, sizeof b1),
                    rg_dtype_name(ids->dtype), rg_shape_str(emb, b2, sizeof b2),
                    rg_dtype_name(emb->dtype), (long long)s->cfg.input_size,
                    rg_dtype_name(s->cfg.dtype));
        return NULL;
    }
    int64_t T = ids->shape[0], B = ids->shape[1];
    bool standard = true;
    for (int d = 0; d < s->D; d++)
        standard = standard && s->cells[d].type->project == rg_cell_project_standard;
    if (!standard) /* a cell with its own projection: look the rows up first */
        return seq_run(fn, tp, s, T, B, rg_embedding(tp, emb, ids), NULL, NULL, NULL, o);
    for (int d = 0; d < s->D; d++) /* the paths below read weight_ih and bias_ih */
        if (rg_cell_check_projection(tp, &s->cells[d], fn) != 0)
            return NULL;
    /* mapping the table pays when it has no more rows than there are ids */
    bool rows = emb->shape[0] <= T * B;
    for (int d = 0; d < s->D; d++)
        rows = rows && s->cells[d].type->step_rows;
    if (rows) { /* map the table once per direction; steps read its rows */
        rg_tensor *P0[2] = {NULL, NULL};
        for (int d = 0; d < s->D; d++)
            if (!(P0[d] = rg_cell_project_standard(tp, &s->cells[d], emb)))
                return NULL;
        return seq_run(fn, tp, s, T, B, NULL, NULL, P0, ids, o);
    }
    rg_tensor *xp0[2] = {NULL, NULL};
    for (int d = 0; d < s->D; d++) {
        const rg_cell *c = &s->cells[d];
        rg_tensor *p = rg_embedding_linear(tp, emb, ids, c->weight_ih, c->bias_ih);
        xp0[d] = p ? rg_reshape(tp, p, RG_DIMS(T * B, p->shape[2])) : NULL;
        if (!xp0[d])
            return NULL;
    }
    return seq_run(fn, tp, s, T, B, NULL, xp0, NULL, NULL, o);
}

rg_tensor *rg_seq_forward_ids_ex(rg_tape *tp, const rg_seq *s, rg_tensor *emb, rg_tensor *ids,
                                 const rg_seq_opts *opts)
{
    return seq_forward_ids("rg_seq_forward_ids_ex", tp, s, emb, ids, opts);
}

rg_tensor *rg_seq_forward_ids(rg_tape *tp, const rg_seq *s, rg_tensor *emb, rg_tensor *ids,
                              const int32_t *lengths, rg_tensor *const *init,
                              rg_tensor **final, rg_rng *dropout_rng)
{
    rg_seq_opts o = {lengths, init, final, dropout_rng};
    return seq_forward_ids("rg_seq_forward_ids", tp, s, emb, ids, &o);
}
