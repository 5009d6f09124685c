/* translate's model: a bidirectional recurrent encoder over a padded batch of
 * byte strings, and a recurrent decoder that attends over the encoder's
 * outputs at every step (Bahdanau et al. 2015), built from public ops only.
 *
 *   encoder   x = embed(src) [T,B,E] -> enc (bidirectional) -> values [B,T,2H]
 *             keys = values W_k^T [B,T,H]; h0 = tanh(bridge([fwd final; rev final]))
 *   step      q = h_{t-1} (the top decoder layer) [B,H]
 *             score_j = v . tanh(W_q q + k_j)      (additive)
 *                     | q . k_j / sqrt(H)          (dot)
 *             a = softmax(score masked to -1e9 at padding) [B,T]
 *             c = a values [B,2H]                  (one batched matmul)
 *             h_t = cell([embed(y_{t-1}); c], h_{t-1})   (rg_cell_step, per layer)
 *             logits = head([h_t; c]) [B,V]
 *
 * Training feeds the true previous byte (teacher forcing); decode.c feeds the
 * model's own. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

const char *tr_att_name(tr_att_kind k)
{
    return k == TR_ATT_DOT ? "dot" : "additive";
}

const rg_cell_type *tr_cell_find(const char *name)
{
    const rg_cell_type *cell = name ? rg_cell_type_find(name) : NULL;
    if (!cell) {
        char known[512];
        rg_set_error("--cell '%s' is not one of %s (a plugin's cell needs --cell-lib FILE.so)",
                     name ? name : "", rg_cell_type_names(known, sizeof known, ", "));
    }
    return cell;
}

int tr_model_init(tr_model *m, const rg_cell_type *cell, int64_t E, int64_t H, int L,
                  tr_att_kind att, rg_dtype dt, rg_rng *rng)
{
    memset(m, 0, sizeof *m);
    if (!cell || E < 1 || H < 1 || L < 1 || L > TR_MAX_LAYERS) {
        rg_set_error("bad model sizes (embed %lld, hidden %lld, layers %d of at most %d)",
                     (long long)E, (long long)H, L, TR_MAX_LAYERS);
        return -1;
    }
    *m = (tr_model){.cell = cell, .E = E, .H = H, .L = L, .att = att, .dtype = dt};
    if (!(m->P = rg_params_new()))
        return -1;
    rg_seq_config ec = {.cell = cell, .input_size = E, .hidden_size = H, .num_layers = L,
                        .bidirectional = true, .dtype = dt};
    rg_seq_config dc = {.cell = cell, .input_size = E + 2 * H, .hidden_size = H,
                        .num_layers = L, .dtype = dt};
    rg_params *P = m->P;
    int rc = rg_embedding_layer_init(&m->embed, P, "embed", TR_V, E, dt, rng);
    rc = rc ? rc : (m->enc = rg_seq_new(P, "enc", &ec, rng)) ? 0 : -1;
    rc = rc ? rc : rg_linear_layer_init(&m->bridge, P, "bridge", 2 * H, H, true, dt, rng);
    rc = rc ? rc : rg_linear_layer_init(&m->key, P, "att.key", 2 * H, H, false, dt, rng);
    if (att == TR_ATT_ADDITIVE) {
        rc = rc ? rc : rg_linear_layer_init(&m->query, P, "att.query", H, H, true, dt, rng);
        rc = rc ? rc : rg_linear_layer_init(&m->score, P, "att.score", H, 1, false, dt, rng);
    }
    rc = rc ? rc : (m->dec = rg_seq_new(P, "dec", &dc, rng)) ? 0 : -1;
    rc = rc ? rc : rg_linear_layer_init(&m->head, P, "head", 3 * H, TR_V, true, dt, rng);
    if (rc != 0)
        tr_model_free(m);
    return rc;
}

void tr_model_free(tr_model *m)
{
    rg_seq_free(m->enc);
    rg_seq_free(m->dec);
    rg_params_free(m->P);
    memset(m, 0, sizeof *m);
}

/* [B,T]: 1 where step j is past sequence b's length (a constant: no gradient) */
static rg_tensor *pad_mask(rg_tape *tp, rg_dtype dt, int64_t B, int64_t T, const int32_t *len)
{
    rg_tensor *p = rg_zeros(tp, dt, RG_DIMS(B, T));
    for (int64_t b = 0; p && b < B; b++)
        for (int64_t j = len[b]; j < T; j++)
            rg_set(p, b * T + j, 1.0);
    return p;
}

int tr_encode_batch(rg_tape *tp, const tr_model *m, rg_tensor *ids, const int32_t *lengths,
                    tr_memory *mem, tr_state *st)
{
    if (!ids)
        return -1;
    int64_t T = ids->shape[0], B = ids->shape[1], H = m->H;
    rg_tensor *fin[RG_CELL_MAX_STATE] = {0};
    rg_tensor *out = rg_seq_forward_ids_ex(tp, m->enc, m->embed.weight, ids,
                                           &(rg_seq_opts){.lengths = lengths, .final = fin});
    mem->values = rg_transpose(tp, out, 0, 1);                          /* [B,T,2H] */
    mem->keys = rg_linear_layer_forward(tp, &m->key, mem->values);      /* [B,T,H] */
    mem->pad = pad_mask(tp, m->dtype, B, T, lengths);
    /* the last layer's final states, forward then reverse: [2,B,H] -> [B,2H] */
    rg_tensor *last = fin[0] ? rg_slice(tp, fin[0], 0, 2 * (m->L - 1), 2) : NULL;
    rg_tensor *both = rg_reshape(tp, rg_transpose(tp, last, 0, 1), RG_DIMS(B, 2 * H));
    rg_tensor *h0 = rg_tanh(tp, rg_linear_layer_forward(tp, &m->bridge, both));
    if (!mem->keys || !mem->pad || !h0)
        return -1;
    for (int l = 0; l < m->L; l++) {
        if (rg_cell_initial_state(tp, &m->dec->cells[l], B, st->s[l]) != 0)
            return -1;
        st->s[l][0] = h0;
    }
    return 0;
}

/* the attention weights [B,T] of query q [B,H] over the memory */
static rg_tensor *attend(rg_tape *tp, const tr_model *m, const tr_memory *mem, rg_tensor *q)
{
    int64_t B = mem->keys->shape[0], T = mem->keys->shape[1], H = m->H;
    rg_tensor *scores;
    if (m->att == TR_ATT_DOT) {
        rg_tensor *q3 = rg_reshape(tp, q, RG_DIMS(B, 1, H));
        rg_tensor *s = rg_matmul_t(tp, q3, mem->keys, false, true);          /* [B,1,T] */
        scores = rg_mul_scalar(tp, rg_reshape(tp, s, RG_DIMS(B, T)), 1.0 / sqrt((double)H));
    } else {
        rg_tensor *wq = rg_linear_layer_forward(tp, &m->query, q);          /* [B,H] */
        rg_tensor *e = rg_tanh(tp, rg_add(tp, rg_reshape(tp, wq, RG_DIMS(B, 1, H)),
                                          mem->keys));                      /* [B,T,H] */
        scores = rg_reshape(tp, rg_linear_layer_forward(tp, &m->score, e), RG_DIMS(B, T));
    }
    return rg_softmax(tp, rg_masked_fill(tp, scores, mem->pad, -1e9), 1);
}

int tr_decode_step(rg_tape *tp, const tr_model *m, const tr_memory *mem, rg_tensor *prev,
                   const tr_state *in, tr_state *out, rg_tensor **logits, rg_tensor **weights)
{
    int64_t B = mem->keys->shape[0], T = mem->keys->shape[1], H = m->H;
    rg_tensor *a = attend(tp, m, mem, in->s[m->L - 1][0]);                  /* [B,T] */
    rg_tensor *c = rg_matmul(tp, rg_reshape(tp, a, RG_DIMS(B, 1, T)), mem->values);
    c = rg_reshape(tp, c, RG_DIMS(B, 2 * H));                               /* [B,2H] */
    rg_tensor *x = rg_concat(tp, 2, (rg_tensor *[]){rg_embedding(tp, m->embed.weight, prev), c},
                             1);                                            /* [B,E+2H] */
    for (int l = 0; l < m->L; l++) {
        if (rg_cell_step(tp, &m->dec->cells[l], x, in->s[l], out->s[l]) != 0)
            return -1;
        x = out->s[l][0];
    }
    *logits = rg_linear_layer_forward(tp, &m->head, rg_concat(tp, 2, (rg_tensor *[]){x, c}, 1));
    if (weights)
        *weights = a;
    return *logits ? 0 : -1;
}

rg_tensor *tr_source_ids(rg_tape *tp, const int32_t *src, const int32_t *len, int64_t B)
{
    int64_t T = 1;
    for (int64_t b = 0; b < B; b++)
        T = len[b] > T ? len[b] : T;
    rg_tensor *ids = rg_tensor_new(tp, RG_I32, RG_DIMS(T, B));
    for (int64_t t = 0; ids && t < T; t++)
        for (int64_t b = 0; b < B; b++)
            ((int32_t *)ids->data)[t * B + b] = t < len[b] ? src[b * TR_MAX_SRC + t] : TR_PAD;
    return ids;
}

rg_tensor *tr_target_ids(rg_tape *tp, const int32_t *tgt, int64_t B)
{
    rg_tensor *y = rg_tensor_new(tp, RG_I32, RG_DIMS(TR_TGT, B));
    for (int64_t k = 0; y && k < TR_TGT; k++)
        for (int64_t b = 0; b < B; b++)
            ((int32_t *)y->data)[k * B + b] = tgt[b * TR_TGT + k];
    return y;
}

/* I32 [B] on the tape holding ids[0..B) */
static rg_tensor *ids_tensor(rg_tape *tp, int64_t B, const int32_t *ids, int32_t fill)
{
    rg_tensor *t = rg_tensor_new(tp, RG_I32, RG_DIMS(B));
    for (int64_t b = 0; t && b < B; b++)
        ((int32_t *)t->data)[b] = ids ? ids[b] : fill;
    return t;
}

rg_tensor *tr_forward_loss(rg_tape *tp, const tr_model *m, rg_tensor *src,
                           const int32_t *lengths, rg_tensor *tgt, rg_tensor **weights)
{
    if (!src || !tgt)
        return NULL;
    int64_t B = src->shape[1];
    tr_memory mem;
    tr_state st;
    if (tr_encode_batch(tp, m, src, lengths, &mem, &st) != 0)
        return NULL;
    rg_tensor *logits[TR_TGT];
    rg_tensor *prev = ids_tensor(tp, B, NULL, TR_BOS);
    for (int k = 0; k < TR_TGT; k++) {
        tr_state next;
        if (tr_decode_step(tp, m, &mem, prev, &st, &next, &logits[k],
                           weights ? &weights[k] : NULL) != 0)
            return NULL;
        st = next;
        prev = ids_tensor(tp, B, (const int32_t *)tgt->data + k * B, 0);    /* teacher forcing */
    }
    rg_tensor *all = rg_concat(tp, TR_TGT, logits, 0);                      /* [TR_TGT*B,V] */
    return rg_cross_entropy(tp, all, rg_reshape(tp, tgt, RG_DIMS(TR_TGT * B)), RG_SUM);
}

/* ---- checkpoints ---------------------------------------------------------------------- */
rg_safetensors *tr_model_container(const tr_model *m)
{
    char e[32], h[32], l[32];
    snprintf(e, sizeof e, "%lld", (long long)m->E);
    snprintf(h, sizeof h, "%lld", (long long)m->H);
    snprintf(l, sizeof l, "%d", m->L);
    const char *meta[] = {"format", TR_FORMAT, "cell", m->cell->name, "embed", e, "hidden", h,
                          "layers", l, "attention", tr_att_name(m->att), "vocab",
                          TR_VOCAB_DESC, NULL};
    return rg_checkpoint_from_params(m->P, meta);
}

/* the cell of a checkpoint; the message names the plugin its run loaded */
static const rg_cell_type *checkpoint_cell(const rg_safetensors *st, const char *path)
{
    const char *name = rg_safetensors_get_meta(st, "cell");
    const rg_cell_type *cell = name ? rg_cell_type_find(name) : NULL;
    if (!cell) {
        char known[512];
        const char *lib = rg_safetensors_get_meta(st, "cell-lib");
        rg_set_error("%s: metadata 'cell' is '%.64s', not a known cell (%s)%s%.300s", path,
                     name ? name : "(missing)", rg_cell_type_names(known, sizeof known, ", "),
                     lib && *lib ? "; its run loaded --cell-lib " : "", lib && *lib ? lib : "");
    }
    return cell;
}

/* the model's metadata, every value checked, then the model of those sizes */
static int load_from(tr_model *m, const rg_safetensors *st, const char *path, rg_dtype dt,
                     uint64_t *data_seed)
{
    const char *format = rg_safetensors_get_meta(st, "format");
    const char *att = rg_safetensors_get_meta(st, "attention");
    const char *vocab = rg_safetensors_get_meta(st, "vocab");
    if (!format || strcmp(format, TR_FORMAT)) {
        rg_set_error("%s: not a translate checkpoint (metadata 'format' is '%.64s', want '%s')",
                     path, format ? format : "(missing)", TR_FORMAT);
        return -1;
    }
    if (!vocab || strcmp(vocab, TR_VOCAB_DESC)) {
        rg_set_error("%s: metadata 'vocab' is '%.64s', want '%s'", path,
                     vocab ? vocab : "(missing)", TR_VOCAB_DESC);
        return -1;
    }
    if (!att || (strcmp(att, "additive") && strcmp(att, "dot"))) {
        rg_set_error("%s: metadata 'attention' is '%.64s', want additive or dot", path,
                     att ? att : "(missing)");
        return -1;
    }
    int64_t E, H, L, seed = 1;
    const rg_cell_type *cell = checkpoint_cell(st, path);
    if (!cell || rg_meta_int(st, "embed", 1, 8192, path, &E) != 0 ||
        rg_meta_int(st, "hidden", 1, 8192, path, &H) != 0 ||
        rg_meta_int(st, "layers", 1, TR_MAX_LAYERS, path, &L) != 0 ||
        (rg_safetensors_get_meta(st, "data-seed") &&
         rg_meta_int(st, "data-seed", 0, 9.2e18, path, &seed) != 0))
        return -1;
    *data_seed = (uint64_t)seed;
    if (tr_model_init(m, cell, E, H, (int)L, strcmp(att, "dot") ? TR_ATT_ADDITIVE : TR_ATT_DOT,
                      dt, NULL) != 0)
        return -1;
    if (rg_checkpoint_load_params_from(m->P, st, path, true) != 0) {
        tr_model_free(m);
        return -1;
    }
    return 0;
}

int tr_model_load(tr_model *m, const char *path, rg_dtype dt, uint64_t *data_seed)
{
    memset(m, 0, sizeof *m);
    rg_safetensors *st = rg_safetensors_read(path);
    if (!st)
        return -1;
    int rc = load_from(m, st, path, dt, data_seed);
    rg_safetensors_free(st);
    return rc;
}
