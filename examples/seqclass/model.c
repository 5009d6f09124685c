/* seqclass's model, from public ops and layers only:
 *
 *   ids [T,B] --embed.weight [V,E]--> [T,B,E] --rnn (L layers, D directions)--> [T,B,D*H]
 *     --pool over each text's valid steps (last | mean | max)--> [B,D*H]
 *     --dropout (training)--> --head (linear)--> logits [B,C] --> cross-entropy
 *
 * Padding: a batch holds texts of different lengths, padded to the longest;
 * rg_seq gives zeros past each text's end (its reverse direction starts at the
 * text's own last step), and rg_seq_pool reads the valid steps only, so the
 * padding changes no output and no gradient.  Parameters have PyTorch's names
 * (bench/torch_seqclass_twin.py loads them with load_state_dict). */
#include <stdlib.h>
#include <string.h>

#include "seqclass.h"

const char *const sc_pool_names[3] = {"last", "mean", "max"};

int sc_model_flags(sc_model_opts *o, rg_flag *fl)
{
    const rg_flag own[] = {
        {"--cell", RG_FLAG_STRING, &o->cell, 0, 0, NULL, "lstm | gru | rnn_tanh | rnn_relu | a plugin's cell (default lstm)", RG_FLAG_MODEL, 0, 0},
        {"--layers", RG_FLAG_INT, &o->layers, 1, 16, NULL, "recurrent layers (default 1)", RG_FLAG_MODEL, 0, 0},
        {"--hidden", RG_FLAG_INT, &o->hidden, 1, 8192, NULL, "hidden size of each direction (default 128)", RG_FLAG_MODEL, 0, 0},
        {"--embed", RG_FLAG_INT, &o->embed, 1, 8192, NULL, "embedding size (default 64)", RG_FLAG_MODEL, 0, 0},
        {"--bidirectional", RG_FLAG_BOOL, &o->bidirectional, 0, 0, NULL, "read each text both ways too (default: one way)", RG_FLAG_MODEL, 0, 0},
        {"--pool", RG_FLAG_CHOICE, &o->pool, 0, 0, "last|mean|max", "last | mean | max over the valid steps (default max)", RG_FLAG_MODEL, 0, 0},
        {"--tokens", RG_FLAG_CHOICE, &o->tokens, 0, 0, "bytes|words", "bytes | words (default words)", RG_FLAG_MODEL, 0, 0},
        {"--vocab-size", RG_FLAG_INT, &o->vocab_size, 3, 1e6, NULL, "words kept with <unk> and <eol> (default 8000)", RG_FLAG_MODEL, 0, 0},
    };
    memcpy(fl, own, sizeof own);
    return (int)(sizeof own / sizeof own[0]);
}

void sc_model_free(sc_model *m)
{
    rg_seq_free(m->rnn);
    rg_params_free(m->P);
    sc_vocab_free(&m->vocab);
    for (int c = 0; c < m->C; c++)
        free(m->class_name[c]);
    memset(m, 0, sizeof *m);
}

static int pool_of(const char *name)
{
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, sc_pool_names[k]))
            return k;
    rg_set_error("--pool '%s' is not one of last, mean, max", name);
    return -1;
}

int sc_model_init(sc_model *m, const sc_model_opts *o, sc_vocab *v, int n_class,
                  char *const *class_name, int64_t max_len, rg_rng *rng)
{
    memset(m, 0, sizeof *m);
    int pool = pool_of(o->pool);
    if (!(m->cell = lm_cell_find(o->cell, "--cell")) || pool < 0)
        return -1;
    *m = (sc_model){.cell = m->cell, .V = v->n, .E = o->embed, .H = o->hidden, .C = n_class,
                    .L = (int)o->layers, .bidirectional = o->bidirectional,
                    .pool = (rg_seq_pool_mode)pool, .max_len = max_len, .vocab = *v};
    memset(v, 0, sizeof *v); /* the model owns the vocabulary now */
    for (int c = 0; c < n_class; c++)
        if (!(m->class_name[c] = strdup(class_name[c]))) {
            rg_set_error("out of memory");
            sc_model_free(m);
            return -1;
        }
    int64_t D = m->bidirectional ? 2 : 1;
    rg_seq_config sc = {.cell = m->cell, .input_size = m->E, .hidden_size = m->H,
                        .num_layers = m->L, .bidirectional = m->bidirectional,
                        .dtype = RG_F32};
    /* PyTorch's construction order, which is also its initialisation order */
    if (!(m->P = rg_params_new()) ||
        rg_embedding_layer_init(&m->embed, m->P, "embed", m->V, m->E, RG_F32, rng) != 0 ||
        !(m->rnn = rg_seq_new(m->P, "rnn", &sc, rng)) ||
        rg_linear_layer_init(&m->head, m->P, "head", D * m->H, m->C, true, RG_F32, rng) != 0) {
        sc_model_free(m);
        return -1;
    }
    return 0;
}

rg_tensor *sc_forward(rg_tape *tp, const sc_model *m, rg_tensor *ids, const int32_t *lengths,
                      rg_rng *dropout_rng)
{
    /* the embedding and the first layer's input projection as one table product */
    rg_tensor *h = rg_seq_forward_ids_ex(tp, m->rnn, m->embed.weight, ids,
                                         &(rg_seq_opts){.lengths = lengths,
                                                        .dropout_rng = dropout_rng}); /* [T,B,D*H] */
    rg_tensor *pooled = rg_seq_pool(tp, h, lengths, m->pool);                     /* [B,D*H] */
    if (m->dropout > 0)
        pooled = rg_dropout(tp, pooled, m->dropout, dropout_rng);
    return rg_linear_layer_forward(tp, &m->head, pooled);                          /* [B,C] */
}

/* ---- the checkpoint ---------------------------------------------------------------------- */

rg_safetensors *sc_model_container(const sc_model *m)
{
    rg_safetensors *st = rg_checkpoint_from_params(m->P, NULL);
    char *vocab = sc_vocab_format(&m->vocab), classes[SC_MAX_CLASSES * (SC_MAX_LABEL + 1) + 1];
    char num[4][32];
    classes[0] = '\0';
    for (int c = 0; c < m->C; c++) /* labels are printable ASCII: '\n' separates them */
        strcat(strcat(classes, c ? "\n" : ""), m->class_name[c]);
    snprintf(num[0], sizeof num[0], "%d", m->L);
    snprintf(num[1], sizeof num[1], "%lld", (long long)m->H);
    snprintf(num[2], sizeof num[2], "%lld", (long long)m->E);
    snprintf(num[3], sizeof num[3], "%lld", (long long)m->max_len);
    const char *meta[][2] = {
        {"format", SC_FORMAT}, {"cell", m->cell->name}, {"layers", num[0]}, {"hidden", num[1]},
        {"embed", num[2]}, {"bidirectional", m->bidirectional ? "1" : "0"},
        {"pool", sc_pool_names[m->pool]}, {"tokens", m->vocab.words ? "words" : "bytes"},
        {"max-len", num[3]}, {"classes", classes}, {"vocab", vocab}};
    int rc = st && vocab ? 0 : -1;
    for (size_t k = 0; k < sizeof meta / sizeof meta[0] && rc == 0; k++)
        rc = rg_safetensors_set_meta(st, meta[k][0], meta[k][1]);
    free(vocab);
    if (rc != 0) {
        rg_safetensors_free(st);
        return NULL;
    }
    return st;
}

/* The cell the metadata names; when unknown, the message lists the known cells
 * and the plugin its run loaded (never loaded from the file: opening a model
 * never runs code that the file names). */
static const rg_cell_type *checkpoint_cell(const char *name, const rg_safetensors *st,
                                           const char *path)
{
    const rg_cell_type *cell = rg_cell_type_find(name);
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

/* "a\nb\nc": 2..SC_MAX_CLASSES distinct well-formed labels (new strings in
 * name[0..*n_class), freed by the caller also on error) */
static int parse_classes(const char *s, char **name, int *n_class, const char *path)
{
    bool ok = s != NULL;
    *n_class = 0;
    for (const char *p = s; p && ok;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        ok = n > 0 && n <= SC_MAX_LABEL && p[0] != ' ' && p[n - 1] != ' ' &&
             *n_class < SC_MAX_CLASSES;
        for (size_t i = 0; i < n && ok; i++)
            ok = p[i] >= 0x20 && p[i] < 0x7f;
        for (int c = 0; c < *n_class && ok; c++)
            ok = strlen(name[c]) != n || memcmp(name[c], p, n);
        if (ok && (ok = (name[*n_class] = strndup(p, n)) != NULL))
            ++*n_class;
        p = nl ? nl + 1 : NULL;
    }
    if (ok && *n_class >= 2)
        return 0;
    rg_set_error("%s: metadata 'classes' is missing or not 2 to %d distinct labels, one a line",
                 path, SC_MAX_CLASSES);
    return -1;
}

/* The model's flags from the metadata, each checked like the command line's. */
static int read_opts(sc_model_opts *o, rg_flag *fl, int *n, const rg_safetensors *st,
                     const char *path)
{
    static const char *const keys[] = {"cell", "layers", "hidden", "embed",
                                       "bidirectional", "pool", "tokens"};
    *n = sc_model_flags(o, fl);
    const char *format = rg_safetensors_get_meta(st, "format");
    if (!format || strcmp(format, SC_FORMAT)) {
        rg_set_error("%s: not a seqclass model: metadata 'format' is '%.64s', not '%s'", path,
                     format ? format : "(missing)", SC_FORMAT);
        return -1;
    }
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        char flag[32];
        snprintf(flag, sizeof flag, "--%s", keys[k]);
        const char *v = rg_safetensors_get_meta(st, keys[k]);
        if (!v) {
            rg_set_error("%s: metadata '%s' is missing", path, keys[k]);
            return -1;
        }
        if (rg_flag_set(rg_flags_find(fl, *n, flag), v, path) != 0)
            return -1;
    }
    return checkpoint_cell(o->cell, st, path) ? 0 : -1;
}

int sc_model_load(sc_model *m, const char *path)
{
    memset(m, 0, sizeof *m);
    rg_safetensors *st = rg_safetensors_read(path);
    if (!st)
        return -1;
    sc_model_opts o = {0};
    rg_flag fl[16];
    int n = 0, C = 0, rc = -1;
    char *names[SC_MAX_CLASSES];
    int64_t max_len;
    sc_vocab v = {0};
    if (read_opts(&o, fl, &n, st, path) == 0 &&
        rg_meta_int(st, "max-len", 1, 1e6, path, &max_len) == 0 &&
        sc_vocab_parse(&v, rg_safetensors_get_meta(st, "vocab"), !strcmp(o.tokens, "words"),
                       path) == 0 &&
        parse_classes(rg_safetensors_get_meta(st, "classes"), names, &C, path) == 0 &&
        sc_model_init(m, &o, &v, C, names, max_len, NULL) == 0) {
        rc = rg_checkpoint_load_params_from(m->P, st, path, true);
        if (rc != 0)
            sc_model_free(m);
    }
    for (int c = 0; c < C; c++)
        free(names[c]);
    sc_vocab_free(&v);
    rg_flags_free(fl, n);
    rg_safetensors_free(st);
    return rc;
}
