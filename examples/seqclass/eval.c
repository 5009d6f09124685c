/* seqclass eval: a checkpoint on the test (or validation) split of its data,
 * per-class precision and recall, the confusion matrix, and the naive-Bayes
 * baseline on the same split; and the classification of many texts in
 * batches, which validation shares. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "seqclass.h"

rg_tensor *sc_inputs(rg_tape *tp, const sc_encoded *e, const int64_t *rows, int64_t B,
                     const int32_t **lengths)
{
    int64_t T = 1;
    for (int64_t b = 0; b < B; b++)
        T = e->len[rows[b]] > T ? e->len[rows[b]] : T;
    rg_tensor *ids = rg_zeros(tp, RG_I32, RG_DIMS(T, B));
    rg_tensor *len = rg_tensor_new(tp, RG_I32, RG_DIMS(B));
    if (!ids || !len)
        return NULL;
    int32_t *x = ids->data, *l = len->data;
    for (int64_t b = 0; b < B; b++) {
        const int32_t *src = e->ids + e->at[rows[b]];
        l[b] = e->len[rows[b]];
        for (int64_t t = 0; t < l[b]; t++)
            x[t * B + b] = src[t];
    }
    *lengths = l;
    return ids;
}

typedef struct by_len {
    int32_t len;
    int64_t pos;
} by_len;

static int longer_first(const void *a, const void *b)
{
    const by_len *x = a, *y = b;
    return x->len != y->len ? (x->len > y->len ? -1 : 1) : (x->pos > y->pos) - (x->pos < y->pos);
}

/* one batch of texts rows[0..B): their log-probabilities into logp rows pos[] */
static int classify_batch(rg_tape *tp, const sc_model *m, const sc_encoded *e,
                          const int64_t *rows, const int64_t *pos, int64_t B, double *logp)
{
    rg_tape_reset(tp);
    const int32_t *lengths = NULL;
    rg_tensor *ids = sc_inputs(tp, e, rows, B, &lengths);
    rg_tensor *lp = ids ? rg_log_softmax(tp, sc_forward(tp, m, ids, lengths, NULL), -1) : NULL;
    if (!lp)
        return -1;
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < m->C; c++)
            logp[pos[b] * m->C + c] = rg_get(lp, b * m->C + c);
    return 0;
}

int sc_classify(const sc_model *m, const sc_encoded *e, const int64_t *idx, int64_t n,
                double *logp)
{
    enum { BATCH = 64 };
    by_len *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    rg_tape *tp = order ? rg_tape_new() : NULL;
    if (!tp) {
        free(order);
        rg_set_error("out of memory");
        return -1;
    }
    rg_tape_set_grad_enabled(tp, false);
    rg_tape_set_training(tp, false);
    /* batches of similar lengths waste little on padding */
    for (int64_t k = 0; k < n; k++)
        order[k] = (by_len){e->len[idx[k]], k};
    qsort(order, (size_t)n, sizeof *order, longer_first);
    int rc = 0;
    for (int64_t at = 0; at < n && rc == 0; at += BATCH) {
        int64_t rows[BATCH], pos[BATCH], B = n - at < BATCH ? n - at : BATCH;
        for (int64_t b = 0; b < B; b++) {
            pos[b] = order[at + b].pos;
            rows[b] = idx[pos[b]];
        }
        rc = classify_batch(tp, m, e, rows, pos, B, logp);
    }
    free(order);
    rg_tape_free(tp);
    return rc;
}

int sc_split_index(const sc_data *d, int split, int64_t **idx, int64_t *n)
{
    *n = 0;
    if (!(*idx = malloc((size_t)(d->count[split] + 1) * sizeof **idx))) {
        rg_set_error("out of memory");
        return -1;
    }
    for (int64_t k = 0; k < d->n; k++)
        if (d->split[k] == split)
            (*idx)[(*n)++] = k;
    return 0;
}

/* ---- a model and its data ------------------------------------------------------------- */

/* The data a model was trained on: metadata 'data' (escaped, as the training
 * core saved the flag; empty: the bundled novels), read through a flag. */
static int model_data_path(const char *model, char **path)
{
    *path = NULL;
    rg_safetensors *st = rg_checkpoint_read_meta(model);
    if (!st)
        return -1;
    const char *v = rg_safetensors_get_meta(st, "data");
    const char *got = NULL;
    rg_flag f = {"--data", RG_FLAG_STRING, &got, 0, 0, NULL, "", RG_FLAG_PATH, 0, 0};
    int rc = v && *v ? rg_flag_set(&f, v, model) : 0;
    if (rc == 0 && got && !(*path = strdup(got))) {
        rg_set_error("out of memory");
        rc = -1;
    }
    rg_flags_free(&f, 1);
    rg_safetensors_free(st);
    return rc;
}

static int same_classes(const sc_model *m, const sc_data *d, const char *model)
{
    bool same = m->C == d->n_class;
    for (int c = 0; c < m->C && same; c++)
        same = !strcmp(m->class_name[c], d->class_name[c]);
    if (same)
        return 0;
    char a[512] = "", b[512] = "";
    for (int c = 0; c < m->C; c++)
        snprintf(a + strlen(a), sizeof a - strlen(a), "%s%s", c ? ", " : "", m->class_name[c]);
    for (int c = 0; c < d->n_class; c++)
        snprintf(b + strlen(b), sizeof b - strlen(b), "%s%s", c ? ", " : "", d->class_name[c]);
    rg_set_error("%s: the model's classes (%s) are not the data's (%s)", model, a, b);
    return -1;
}

int sc_session_open(sc_session *s, const char *model, const char *data)
{
    memset(s, 0, sizeof *s);
    if (sc_model_load(&s->m, model) != 0)
        return -1;
    if (!data && model_data_path(model, &s->data_path) != 0)
        return -1;
    s->data = data ? data : s->data_path;
    if (sc_data_read(&s->d, s->data) != 0 || same_classes(&s->m, &s->d, model) != 0)
        return -1;
    return sc_encode_all(&s->e, &s->m.vocab, &s->d, s->m.max_len);
}

void sc_session_close(sc_session *s)
{
    sc_encoded_free(&s->e);
    sc_data_free(&s->d);
    sc_model_free(&s->m);
    free(s->data_path);
    memset(s, 0, sizeof *s);
}

/* ---- the report ------------------------------------------------------------------------ */

/* per-class precision, recall, F1 and support; returns the macro F1 */
static double class_table(const sc_model *m, const int64_t *conf)
{
    int C = (int)m->C;
    double f1_sum = 0;
    printf("%-24s %9s %7s %7s %8s\n", "class", "precision", "recall", "f1", "support");
    for (int c = 0; c < C; c++) {
        int64_t tp = conf[c * C + c], predicted = 0, support = 0;
        for (int k = 0; k < C; k++) {
            predicted += conf[k * C + c];
            support += conf[c * C + k];
        }
        double p = predicted ? (double)tp / (double)predicted : 0;
        double r = support ? (double)tp / (double)support : 0;
        double f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
        f1_sum += f1;
        printf("%-24s %9.3f %7.3f %7.3f %8lld\n", m->class_name[c], p, r, f1, (long long)support);
    }
    return f1_sum / C;
}

static void confusion_table(const sc_model *m, const int64_t *conf)
{
    int C = (int)m->C;
    printf("confusion matrix (rows: true class, columns: predicted class)\n%-24s", "");
    for (int c = 0; c < C; c++)
        printf(" %6.6s", m->class_name[c]);
    printf("\n");
    for (int r = 0; r < C; r++) {
        printf("%-24s", m->class_name[r]);
        for (int c = 0; c < C; c++)
            printf(" %6lld", (long long)conf[r * C + c]);
        printf("\n");
    }
}

/* the naive-Bayes baseline's accuracy on texts idx[0..n) */
static int baseline(const sc_data *d, const int64_t *idx, int64_t n, double *acc)
{
    sc_bayes *nb = sc_bayes_train(d);
    int64_t right = 0;
    for (int64_t k = 0; nb && k < n; k++)
        right += sc_bayes_predict(nb, d->bytes + d->off[idx[k]], d->len[idx[k]]) ==
                 d->label[idx[k]];
    *acc = n ? (double)right / (double)n : NAN;
    sc_bayes_free(nb);
    return nb ? 0 : -1;
}

int sc_evaluate(const sc_session *s, int split, const char *model)
{
    int64_t *idx, n, C = s->m.C;
    if (sc_split_index(&s->d, split, &idx, &n) != 0)
        return -1;
    double *logp = malloc((size_t)(n * C + 1) * sizeof *logp), nb_acc = NAN;
    int64_t *conf = calloc((size_t)(C * C), sizeof *conf), right = 0;
    int rc = logp && conf ? 0 : -1;
    if (rc != 0)
        rg_set_error("out of memory");
    else if (n == 0) {
        rg_set_error("the %s split of %s is empty", sc_split_names[split],
                     s->data ? s->data : "the novels");
        rc = -1;
    }
    if (rc == 0 && (rc = sc_classify(&s->m, &s->e, idx, n, logp)) == 0 &&
        (rc = baseline(&s->d, idx, n, &nb_acc)) == 0) {
        for (int64_t k = 0; k < n; k++) {
            int best = 0, y = s->d.label[idx[k]];
            for (int c = 1; c < C; c++)
                best = logp[k * C + c] > logp[k * C + best] ? c : best;
            conf[y * C + best]++;
            right += best == y;
        }
        printf("seqclass eval: %s on the %s split of %s: %lld texts\n", model,
               sc_split_names[split], s->data ? s->data : "the five novels", (long long)n);
        double macro_f1 = class_table(&s->m, conf);
        confusion_table(&s->m, conf);
        printf("naive Bayes (word unigrams + bigrams, Laplace) on the same texts: accuracy %.4f\n"
               "eval: passages=%lld accuracy=%.4f macro_f1=%.4f baseline_accuracy=%.4f\n",
               nb_acc, (long long)n, (double)right / (double)n, macro_f1, nb_acc);
    }
    free(idx);
    free(logp);
    free(conf);
    return rc;
}

static const char *eval_usage =
    "usage: seqclass eval --model FILE [--data FILE.tsv] [--split test|val] [--cell-lib FILE.so]\n"
    "the model's own data (the five novels, or the TSV it was trained on) unless --data";

int seqclass_eval_main(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *split = "test", *cell_lib = NULL;
    rg_flag fl[] = {
        {"--model", RG_FLAG_STRING, &model, 0, 0, NULL, "the checkpoint (required)", 0, 0, 0},
        {"--data", RG_FLAG_STRING, &data, 0, 0, NULL, "labelled texts, LABEL<TAB>TEXT a line (default: the model's)", 0, 0, 0},
        {"--split", RG_FLAG_CHOICE, &split, 0, 0, "test|val", "test | val (default test)", 0, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &cell_lib, 0, 0, NULL, "a cell plugin (shared object) to load first", 0, 0, 0},
    };
    int n = (int)(sizeof fl / sizeof fl[0]), status;
    if (!rg_flags_cli("seqclass eval", eval_usage, fl, n, argc, argv, 2, &status))
        return status;
    sc_session s = {0};
    status = 0;
    if (!model) {
        fprintf(stderr, "seqclass eval: --model is required\n%s\n", eval_usage);
        status = 2;
    } else if ((cell_lib && rg_cell_plugin_load(cell_lib) != 0) ||
               sc_session_open(&s, model, data) != 0 ||
               sc_evaluate(&s, strcmp(split, "val") ? SC_TEST : SC_VAL, model) != 0) {
        fprintf(stderr, "seqclass eval: %s\n", rg_last_error());
        status = 1;
    }
    sc_session_close(&s);
    rg_flags_free(fl, n);
    return status;
}
