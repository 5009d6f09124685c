/* translate's decoders: greedy (a batch at a time, the most likely byte at each
 * step), beam search (K hypotheses of one source, stepped as a batch of K), and
 * the attention weights of one output, for the picture.  All run the model's
 * own step (tr_decode_step) on a tape without gradients. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

static rg_tape *inference_tape(void)
{
    rg_tape *tp = rg_tape_new();
    if (tp) {
        rg_tape_set_grad_enabled(tp, false);
        rg_tape_set_training(tp, false);
    }
    return tp;
}

static rg_tensor *filled_ids(rg_tape *tp, int64_t B, int32_t v)
{
    rg_tensor *t = rg_tensor_new(tp, RG_I32, RG_DIMS(B));
    for (int64_t b = 0; t && b < B; b++)
        ((int32_t *)t->data)[b] = v;
    return t;
}

/* greedy decoding of B sources into out[b * (TR_MAX_OUT + 1) ..] */
static int greedy_chunk(rg_tape *tp, const tr_model *m, const int32_t *src, const int32_t *len,
                        int64_t B, char *out)
{
    tr_memory mem;
    tr_state st;
    if (tr_encode_batch(tp, m, tr_source_ids(tp, src, len, B), len, &mem, &st) != 0)
        return -1;
    rg_tensor *prev = filled_ids(tp, B, TR_BOS);
    int64_t open = B;
    int at[256] = {0};
    for (int k = 0; k < TR_MAX_OUT && open > 0; k++) {
        tr_state next;
        rg_tensor *logits;
        if (tr_decode_step(tp, m, &mem, prev, &st, &next, &logits, NULL) != 0 ||
            !(prev = rg_argmax(tp, logits, 1, false)))
            return -1;
        st = next;
        for (int64_t b = 0; b < B; b++) {
            int32_t tok = ((const int32_t *)prev->data)[b];
            char *o = out + b * (TR_MAX_OUT + 1);
            if (at[b] < 0)
                continue;
            if (tok == TR_EOS) {
                at[b] = -1;
                open--;
            } else {
                o[at[b]++] = tr_byte(tok);
            }
        }
    }
    return 0;
}

int tr_greedy(const tr_model *m, const int32_t *src, const int32_t *len, int64_t n, char *out)
{
    enum { CHUNK = 256 };
    rg_tape *tp = inference_tape();
    if (!tp)
        return -1;
    memset(out, 0, (size_t)n * (TR_MAX_OUT + 1));
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i += CHUNK) {
        int64_t B = n - i < CHUNK ? n - i : CHUNK;
        rg_tape_reset(tp);
        rc = greedy_chunk(tp, m, src + i * TR_MAX_SRC, len + i, B,
                          out + i * (TR_MAX_OUT + 1));
    }
    rg_tape_free(tp);
    return rc;
}

/* ---- beam search ------------------------------------------------------------------- */
typedef struct beam {
    int K, alive;
    double score[64];                  /* sum of log-probabilities */
    char seq[64][TR_MAX_OUT + 1];
    int32_t parent[64], tok[64];
    double best;                       /* of a finished hypothesis, -inf until one is */
    char best_seq[TR_MAX_OUT + 1];
} beam;

/* Keeps the K best continuations of step k among the 2K best candidates
 * (top = values and indices into the [K,V] scores); those that end with EOS
 * finish.  true when the search is over: the best finished hypothesis beats
 * every open one (log-probabilities only fall). */
static bool beam_advance(beam *bm, rg_tensor *const *top, int k)
{
    char seq[64][TR_MAX_OUT + 1];
    double score[64];
    int n = 0;
    for (int64_t i = 0; i < top[1]->numel && n < bm->K; i++) {
        double s = rg_get(top[0], i);
        int32_t idx = ((const int32_t *)top[1]->data)[i], p = idx / TR_V, tok = idx % TR_V;
        if (tok == TR_EOS || k == TR_MAX_OUT - 1) { /* the longest output ends here too */
            if (s > bm->best) {
                bm->best = s;
                memcpy(bm->best_seq, bm->seq[p], sizeof bm->best_seq);
                bm->best_seq[k] = tok == TR_EOS ? '\0' : tr_byte(tok);
            }
            continue;
        }
        memcpy(seq[n], bm->seq[p], sizeof seq[n]);
        seq[n][k] = tr_byte(tok);
        score[n] = s;
        bm->parent[n] = p;
        bm->tok[n++] = tok;
    }
    for (int i = 0; i < n; i++) {
        memcpy(bm->seq[i], seq[i], sizeof seq[i]);
        bm->score[i] = score[i];
    }
    bm->alive = n;
    return n == 0 || bm->best >= bm->score[0];
}

/* the memory and the state of the open hypotheses, rows chosen by idx I32 [K] */
static void beam_select(rg_tape *tp, const tr_model *m, tr_memory *mem, tr_state *st,
                        rg_tensor *idx)
{
    mem->values = rg_index_select(tp, mem->values, 0, idx);
    mem->keys = rg_index_select(tp, mem->keys, 0, idx);
    mem->pad = rg_index_select(tp, mem->pad, 0, idx);
    for (int l = 0; l < m->L; l++)
        for (int j = 0; j < m->cell->n_state; j++)
            st->s[l][j] = rg_index_select(tp, st->s[l][j], 0, idx);
}

static int beam_run(rg_tape *tp, const tr_model *m, const int32_t *ids, int32_t n, beam *bm)
{
    tr_memory mem;
    tr_state st;
    rg_tensor *prev = filled_ids(tp, 1, TR_BOS);
    if (tr_encode_batch(tp, m, tr_source_ids(tp, ids, &n, 1), &n, &mem, &st) != 0)
        return -1;
    bm->alive = 1;
    bm->score[0] = 0;
    for (int k = 0; k < TR_MAX_OUT; k++) {
        tr_state next;
        rg_tensor *logits, *top[2];
        if (tr_decode_step(tp, m, &mem, prev, &st, &next, &logits, NULL) != 0)
            return -1;
        /* candidates: the score of each open hypothesis + log p of each byte */
        rg_tensor *lp = rg_log_softmax(tp, logits, 1);                      /* [alive,V] */
        rg_tensor *cand = lp ? rg_tensor_new(tp, RG_F64, RG_DIMS(bm->alive * TR_V)) : NULL;
        if (!cand)
            return -1;
        for (int64_t i = 0; i < cand->numel; i++)
            ((double *)cand->data)[i] = bm->score[i / TR_V] + rg_get(lp, i);
        if (rg_topk(tp, cand, 2 * bm->K, 0, true, top) != 0)
            return -1;
        if (beam_advance(bm, top, k))
            break;
        rg_tensor *parents = rg_from_data(tp, RG_I32, RG_DIMS(bm->alive), bm->parent);
        beam_select(tp, m, &mem, &next, parents);
        st = next;
        prev = rg_from_data(tp, RG_I32, RG_DIMS(bm->alive), bm->tok);
        if (!prev || !mem.pad)
            return -1;
    }
    return 0;
}

int tr_beam(const tr_model *m, const int32_t *ids, int32_t n, int K, char *out, double *logp)
{
    if (K < 1 || K > 32) {
        rg_set_error("--beam %d: want 1..32 beams", K);
        return -1;
    }
    beam *bm = calloc(1, sizeof *bm);
    rg_tape *tp = inference_tape();
    int rc = bm && tp ? 0 : -1;
    if (rc == 0) {
        bm->K = K;
        bm->best = -INFINITY;
        rc = beam_run(tp, m, ids, n, bm);
    }
    if (rc == 0) {
        memcpy(out, bm->best_seq, TR_MAX_OUT + 1);
        *logp = bm->best;
    }
    rg_tape_free(tp);
    free(bm);
    return rc;
}

/* ---- the attention of one output ------------------------------------------------------- */
int tr_attention(const tr_model *m, const int32_t *ids, int32_t n, const char *out, double *w,
                 int *rows)
{
    rg_tape *tp = inference_tape();
    tr_memory mem;
    tr_state st;
    int rc = tp ? tr_encode_batch(tp, m, tr_source_ids(tp, ids, &n, 1), &n, &mem, &st) : -1;
    int32_t prev = TR_BOS, len = (int32_t)strlen(out);
    for (int k = 0; rc == 0 && k <= len; k++) {
        tr_state next;
        rg_tensor *logits, *a;
        rc = tr_decode_step(tp, m, &mem, filled_ids(tp, 1, prev), &st, &next, &logits, &a);
        for (int32_t j = 0; rc == 0 && j < n; j++)
            w[k * n + j] = rg_get(a, j);
        st = next;
        if (k < len && tr_encode(out + k, 1, &prev, "output") != 0)
            rc = -1;
    }
    *rows = len + 1;
    rg_tape_free(tp);
    return rc;
}
