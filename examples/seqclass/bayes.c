/* The honest yardstick of seqclass eval: multinomial naive Bayes on word
 * unigrams and bigrams with Laplace smoothing, trained on the training split.
 *
 *   class(x) = argmax_c  log P(c) + sum over the features f of x (with their
 *              multiplicity) of log (n_fc + 1) / (n_c + V)
 *
 * P(c) is the share of class c among the training texts, n_fc the count of
 * feature f in the training texts of class c, n_c the count of all features
 * of class c, V the number of distinct training features; features never
 * seen in training are ignored.  A feature is a token of wordlm's tokenizer
 * (a lower-cased run of letters and digits, or one punctuation mark) or two
 * adjacent tokens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "seqclass.h"

typedef struct feature {
    UT_hash_handle hh;
    char *key;
    int64_t count[]; /* [C] */
} feature;

struct sc_bayes {
    int C;
    int64_t V;
    feature *table;
    double log_prior[SC_MAX_CLASSES], total[SC_MAX_CLASSES];
};

typedef int (*feature_fn)(void *user, const char *f);

/* Calls fn on every unigram and bigram of text.  0 or -1. */
static int each_feature(const uint8_t *text, int64_t n, feature_fn fn, void *user)
{
    char **tok, *store, buf[512];
    int64_t nt;
    if (wordlm_tokenize((const char *)text, n, &tok, &nt, &store) != 0)
        return -1;
    int rc = 0;
    for (int64_t i = 0; i < nt && rc == 0; i++) {
        rc = fn(user, tok[i]);
        if (rc == 0 && i + 1 < nt) {
            snprintf(buf, sizeof buf, "%s %s", tok[i], tok[i + 1]);
            rc = fn(user, buf);
        }
    }
    free(tok);
    free(store);
    return rc;
}

typedef struct counting {
    sc_bayes *nb;
    int c;
} counting;

static int count_feature(void *user, const char *f)
{
    counting *k = user;
    feature *e;
    HASH_FIND_STR(k->nb->table, f, e);
    if (!e) {
        e = calloc(1, sizeof *e + (size_t)k->nb->C * sizeof e->count[0]);
        if (!e || !(e->key = strdup(f))) {
            free(e);
            rg_set_error("out of memory for the naive-Bayes features");
            return -1;
        }
        HASH_ADD_KEYPTR(hh, k->nb->table, e->key, strlen(e->key), e);
        k->nb->V++;
    }
    e->count[k->c]++;
    k->nb->total[k->c]++;
    return 0;
}

sc_bayes *sc_bayes_train(const sc_data *d)
{
    sc_bayes *nb = calloc(1, sizeof *nb);
    if (!nb) {
        rg_set_error("out of memory");
        return NULL;
    }
    nb->C = d->n_class;
    int64_t texts[SC_MAX_CLASSES] = {0}, n = 0;
    for (int64_t k = 0; k < d->n; k++) {
        if (d->split[k] != SC_TRAIN)
            continue;
        counting ck = {nb, d->label[k]};
        if (each_feature(d->bytes + d->off[k], d->len[k], count_feature, &ck) != 0) {
            sc_bayes_free(nb);
            return NULL;
        }
        texts[d->label[k]]++;
        n++;
    }
    for (int c = 0; c < nb->C; c++)
        nb->log_prior[c] = texts[c] ? log((double)texts[c] / (double)n) : -INFINITY;
    return nb;
}

typedef struct scoring {
    const sc_bayes *nb;
    double score[SC_MAX_CLASSES];
} scoring;

static int score_feature(void *user, const char *f)
{
    scoring *s = user;
    const sc_bayes *nb = s->nb;
    feature *e;
    HASH_FIND_STR(nb->table, f, e);
    for (int c = 0; e && c < nb->C; c++)
        s->score[c] += log(((double)e->count[c] + 1) / (nb->total[c] + (double)nb->V));
    return 0;
}

int sc_bayes_predict(const sc_bayes *nb, const uint8_t *text, int64_t n)
{
    scoring s = {.nb = nb};
    memcpy(s.score, nb->log_prior, sizeof s.score);
    if (each_feature(text, n, score_feature, &s) != 0)
        return -1;
    int best = 0;
    for (int c = 1; c < nb->C; c++)
        if (s.score[c] > s.score[best])
            best = c;
    return best;
}

void sc_bayes_free(sc_bayes *nb)
{
    if (!nb)
        return;
    feature *e, *t;
    HASH_ITER(hh, nb->table, e, t)
    {
        HASH_DEL(nb->table, e);
        free(e->key);
        free(e);
    }
    free(nb);
}
