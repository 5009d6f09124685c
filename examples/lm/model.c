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

const rg_cell_type *lm_cell_find(const char *name, const char *what)
{
    const rg_cell_type *cell = name ? rg_cell_type_find(name) : NULL;
    if (!cell) {
        char known[512];
        rg_set_error("%s '%s' is not one of %s (a plugin's cell needs --cell-lib FILE.so)",
                     what, name ? name : "", rg_cell_type_names(known, sizeof known, ", "));
    }
    return cell;
}

/* The cell named by the checkpoint's metadata; a message that lists the known
 * cells, and the plugin the run that saved it loaded, when it is unknown.  The
 * plugin is not loaded from the metadata: opening a model file never runs code
 * that the file names. */
static const rg_cell_type *checkpoint_cell(const rg_safetensors *st, const char *path)
{
    const char *name = rg_safetensors_get_meta(st, "cell");
    if (!name) {
        rg_set_error("%s: not a language-model checkpoint: metadata 'cell' is missing", path);
        return NULL;
    }
    const rg_cell_type *cell = strcmp(name, "rnn") ? rg_cell_type_find(name) : NULL;
    if (cell)
        return cell;
    char known[512];
    const char *lib = rg_safetensors_get_meta(st, "cell-lib");
    rg_set_error("%s: metadata 'cell' is '%.64s', not a known cell (%s)%s%.300s%s", path, name,
                 rg_cell_type_names(known, sizeof known, ", "),
                 lib && *lib ? "; the run that saved it loaded the plugin " : "",
                 lib && *lib ? lib : "", lib && *lib ? ": give it with --cell-lib" : "");
    return NULL;
}

/* Layers of the recurrent stack: 1 + the largest k of the tensors
 * "rnn.<role>_l<k>" and "rnn.<role>_l<k>_reverse" (any cell's roles). */
static int count_layers(const rg_safetensors *st)
{
    int L = 0;
    for (int i = 0; i < rg_safetensors_count(st); i++) {
        const char *name;
        rg_safetensors_at(st, i, &name);
        const char *l = strncmp(name, "rnn.", 4) ? NULL : strrchr(name, 'l');
        if (!l || l[-1] != '_' || l[1] < '0' || l[1] > '9')
            continue;
        char *end;
        long k = strtol(l + 1, &end, 10);
        if ((*end == '\0' || !strcmp(end, "_reverse")) && k >= 0 && k < 1000 && k + 1 > L)
            L = (int)k + 1;
    }
    return L;
}

int lm_model_load(lm_model *m, const char *path, rg_dtype dt)
{
    memset(m, 0, sizeof *m);
    rg_safetensors *st = rg_safetensors_read(path);
    if (!st)
        return -1;
    int rc = -1;
    const rg_cell_type *cell = checkpoint_cell(st, path);
    int64_t V, E, V2, H, GH, H2;
    const char *vocab = rg_safetensors_get_meta(st, "vocab");
    if (!cell)
        goto done;
    if (!vocab || !*vocab) {
        rg_set_error("%s: metadata 'vocab' is missing or empty", path);
        goto done;
    }
    if (dims2(st, "embed.weight", &V, &E) != 0) {
        rg_set_error("%s: tensor 'embed.weight' [V,E] is missing or not 2-dimensional", path);
        goto done;
    }
    /* the hidden size from the head, which every cell has */
    if (dims2(st, "head.weight", &V2, &H) != 0 || H < 1) {
        rg_set_error("%s: tensor 'head.weight' [V,H] is missing or not 2-dimensional", path);
        goto done;
    }
    /* the declared gate blocks: a checkpoint of another cell fails here, named */
    if (cell->gates > 0 && rg_safetensors_get(st, "rnn.weight_hh_l0") &&
        (dims2(st, "rnn.weight_hh_l0", &GH, &H2) != 0 || GH != cell->gates * H || H2 != H)) {
        rg_set_error("%s: 'rnn.weight_hh_l0' is not [%lld,%lld], the shape a %s of hidden size "
                     "%lld needs (%d gate blocks)", path, (long long)(cell->gates * H),
                     (long long)H, cell->name, (long long)H, cell->gates);
        goto done;
    }
    int L = count_layers(st);
    if (L < 1) {
        rg_set_error("%s: no recurrent layer: tensors 'rnn.*_l0' are missing", path);
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
