/* The language model of charlm and wordlm: CHECKPOINT.md's CharLM (Embedding
 * -> recurrent stack -> Linear head) built from the library's layers, its
 * checkpoint, and the evaluation of a whole token sequence with the state
 * carried through it.  The vocabulary is the program's: the model keeps only
 * its metadata form. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lm.h"

int lm_model_init(lm_model *m, const rg_cell_type *cell, int64_t V, int64_t E, int64_t H,
                  int L, double dropout, rg_dtype dt, rg_rng *rng)
{
    memset(m, 0, sizeof *m);
    if (!cell || V < 1 || E < 1 || H < 1 || L < 1) {
        rg_set_error("bad model sizes (V %lld, E %lld, H %lld, L %d)", (long long)V,
                     (long long)E, (long long)H, L);
        return -1;
    }
    m->cell = cell;
    m->V = V;
    m->E = E;
    m->H = H;
    m->L = L;
    m->dropout = dropout;
    m->dtype = dt;
    m->P = rg_params_new();
    if (!m->P)
        return -1;
    /* PyTorch's construction order, which is also its initialisation order */
    rg_seq_config sc = {.cell = cell, .input_size = E, .hidden_size = H, .num_layers = L,
                        .bidirectional = false, .dropout = dropout, .dtype = dt};
    if (rg_embedding_layer_init(&m->embed, m->P, "embed", m->V, E, dt, rng) != 0 ||
        !(m->rnn = rg_seq_new(m->P, "rnn", &sc, rng)) ||
        rg_linear_layer_init(&m->head, m->P, "head", H, m->V, true, dt, rng) != 0) {
        lm_model_free(m);
        return -1;
    }
    return 0;
}

void lm_model_free(lm_model *m)
{
    rg_seq_free(m->rnn);
    rg_params_free(m->P);
    free(m->vocab);
    m->rnn = NULL;
    m->P = NULL;
    m->vocab = NULL;
}

int lm_state_count(const lm_model *m)
{
    return m->cell->n_state;
}

rg_tensor *lm_forward(rg_tape *tp, const lm_model *m, rg_tensor *ids,
                          rg_tensor *const *init, rg_tensor **final, rg_rng *dropout_rng)
{
    if (!ids)
        return NULL;
    int64_t T = ids->shape[0], B = ids->shape[1];
    /* embedding + first-layer input projection as one table product */
    rg_tensor *h = rg_seq_forward_ids(tp, m->rnn, m->embed.weight, ids, NULL, init, final,
                                      dropout_rng);                             /* [T,B,H] */
    rg_tensor *flat = h ? rg_reshape(tp, h, RG_DIMS(T * B, m->H)) : NULL;
    return rg_linear_layer_forward(tp, &m->head, flat);                        /* [T*B,V] */
}

rg_safetensors *lm_model_container(const lm_model *m, const char *format)
{
    rg_safetensors *st = rg_checkpoint_from_params(m->P, NULL);
    if (!st)
        return NULL;
    int rc = rg_safetensors_set_meta(st, "cell", m->cell->name);
    rc = rc ? rc : rg_safetensors_set_meta(st, "vocab", m->vocab ? m->vocab : "");
    rc = rc ? rc : rg_safetensors_set_meta(st, "format", format);
    if (rc != 0) {
        rg_safetensors_free(st);
        return NULL;
    }
    return st;
}

/* rows and columns of a rank-2 tensor of st, or -1 when absent / not rank 2 */
static int dims2(const rg_safetensors *st, const char *name, int64_t *r, int64_t *c)
{
    const rg_tensor *t = rg_safetensors_get(st, name);
    if (!t || t->rank != 2)
        return -1;
    *r = t->shape[0];
    *c = t->shape[1];
    return 0;
}

int lm_model_load(lm_model *m, const char *path, rg_dtype dt)
{
    memset(m, 0, sizeof *m);
    rg_safetensors *st = rg_safetensors_read(path);
    if (!st)
        return -1;
    int rc = -1;
    const char *cell_name = rg_safetensors_get_meta(st, "cell");
    const rg_cell_type *cell = cell_name ? rg_cell_type_find(cell_name) : NULL;
    int64_t V, E, GH, H;
    const char *vocab = rg_safetensors_get_meta(st, "vocab");
    if (!cell_name) {
        rg_set_error("%s: not a language-model checkpoint: metadata 'cell' is missing", path);
        goto done;
    }
    if (!cell || !strcmp(cell_name, "rnn")) {
        rg_set_error("%s: metadata 'cell' is '%s'; expected lstm, gru, rnn_tanh or rnn_relu",
                     path, cell_name);
        goto done;
    }
    if (!vocab || !*vocab) {
        rg_set_error("%s: metadata 'vocab' is missing or empty", path);
        goto done;
    }
    if (dims2(st, "embed.weight", &V, &E) != 0) {
        rg_set_error("%s: tensor 'embed.weight' [V,E] is missing or not 2-dimensional", path);
        goto done;
    }
    if (dims2(st, "rnn.weight_hh_l0", &GH, &H) != 0) {
        rg_set_error("%s: tensor 'rnn.weight_hh_l0' is missing or not 2-dimensional", path);
        goto done;
    }
    int G = cell == &rg_cell_lstm ? 4 : cell == &rg_cell_gru ? 3 : 1;
    if (H < 1 || GH != G * H) {
        rg_set_error("%s: 'rnn.weight_hh_l0' is [%lld,%lld]; a %s of hidden size %lld needs "
                     "[%lld,%lld]", path, (long long)GH, (long long)H, cell_name, (long long)H,
                     (long long)(G * H), (long long)H);
        goto done;
    }
    int L = 0;
    for (;; L++) {
        char name[64];
        snprintf(name, sizeof name, "rnn.weight_ih_l%d", L);
        if (!rg_safetensors_get(st, name))
            break;
    }
    if (L < 1) {
        rg_set_error("%s: tensor 'rnn.weight_ih_l0' is missing", path);
        goto done;
    }
    if (lm_model_init(m, cell, V, E, H, L, 0.0, dt, NULL) != 0)
        goto done;
    if (rg_checkpoint_load_params_from(m->P, st, path, true) != 0 ||
        !(m->vocab = malloc(strlen(vocab) + 1))) {
        lm_model_free(m);
        goto done;
    }
    strcpy(m->vocab, vocab);
    rc = 0;
done:
    rg_safetensors_free(st);
    return rc;
}

int lm_eval_ids(const lm_model *m, const int32_t *ids, int64_t n, double *sum_nll,
                lm_progress_fn progress, void *user)
{
    enum { CHUNK = 256 };
    *sum_nll = 0;
    if (n < 2)
        return 0;
    int ns = lm_state_count(m);
    rg_tensor *state[RG_CELL_MAX_STATE] = {0};
    rg_tape *tp = rg_tape_new();
    int rc = tp ? 0 : -1;
    for (int j = 0; j < ns && rc == 0; j++)
        if (!(state[j] = rg_zeros(NULL, m->dtype, RG_DIMS(m->L, 1, m->H))))
            rc = -1;
    if (tp) {
        rg_tape_set_grad_enabled(tp, false);
        rg_tape_set_training(tp, false);
    }
    double sum = 0;
    for (int64_t at = 0; at < n - 1 && rc == 0; at += CHUNK) {
        int64_t T = n - 1 - at < CHUNK ? n - 1 - at : CHUNK;
        rg_tape_reset(tp);
        rg_tensor *in = rg_from_data(tp, RG_I32, RG_DIMS(T, 1), ids + at);
        rg_tensor *tg = rg_from_data(tp, RG_I32, RG_DIMS(T), ids + at + 1);
        rg_tensor *final[RG_CELL_MAX_STATE] = {0};
        rg_tensor *logits = lm_forward(tp, m, in, state, final, NULL);
        rg_tensor *loss = tg ? rg_cross_entropy(tp, logits, tg, RG_SUM) : NULL;
        if (!loss) {
            rg_set_error("evaluation: %s", rg_last_error());
            rc = -1;
            break;
        }
        sum += rg_get(loss, 0);
        for (int j = 0; j < ns; j++)
            rg_tensor_copy(state[j], final[j]);
        if (progress)
            progress(at + T, n - 1, user);
    }
    for (int j = 0; j < ns; j++)
        rg_tensor_free(state[j]);
    rg_tape_free(tp);
    *sum_nll = sum;
    return rc;
}
