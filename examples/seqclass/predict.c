/* seqclass predict: the class probabilities of one text; seqclass dump: a
 * model's data split and token ids as text, for the PyTorch twin. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "seqclass.h"

enum { MAX_INPUT = 1 << 20 };

/* all of stdin (at most MAX_INPUT bytes), a new buffer */
static int read_stdin(uint8_t **buf, int64_t *n)
{
    *n = 0;
    *buf = malloc(MAX_INPUT + 1);
    if (!*buf) {
        rg_set_error("out of memory");
        return -1;
    }
    size_t got;
    while ((got = fread(*buf + *n, 1, (size_t)(MAX_INPUT + 1 - *n), stdin)) > 0)
        *n += (int64_t)got;
    if (ferror(stdin) || *n > MAX_INPUT) {
        rg_set_error(*n > MAX_INPUT ? "the text on stdin is longer than %d bytes"
                                    : "cannot read stdin", MAX_INPUT);
        return -1;
    }
    return 0;
}

/* The probabilities of the classes of text (normalised here), printed one a
 * line in the model's order, then the most likely class. */
static int predict(const sc_model *m, uint8_t *text, int64_t n)
{
    n = sc_normalise(text, n);
    int32_t *ids;
    int64_t n_ids, at = 0, zero = 0;
    if (n == 0) {
        rg_set_error("the text is empty");
        return -1;
    }
    if (sc_encode(&m->vocab, text, n, INT64_MAX, &ids, &n_ids,
                  "the text") != 0)
        return -1;
    if (n_ids > m->max_len)
        fprintf(stderr, "seqclass predict: note: the text has %lld %s; the model reads the "
                "first %lld (the --max-len of its run)\n", (long long)n_ids,
                m->vocab.words ? "words" : "bytes", (long long)m->max_len);
    int32_t len = (int32_t)(n_ids < m->max_len ? n_ids : m->max_len);
    sc_encoded e = {.ids = ids, .at = &at, .len = &len, .n = 1, .n_ids = len};
    double logp[SC_MAX_CLASSES];
    int rc = sc_classify(m, &e, &zero, 1, logp);
    free(ids);
    if (rc != 0)
        return -1;
    int best = 0;
    for (int c = 0; c < m->C; c++) {
        printf("%-24s %.4f\n", m->class_name[c], exp(logp[c]));
        best = logp[c] > logp[best] ? c : best;
    }
    printf("predicted: %s (%.4f)\n", m->class_name[best], exp(logp[best]));
    return 0;
}

static const char *predict_usage =
    "usage: seqclass predict --model FILE [--text TEXT] [--cell-lib FILE.so]\n"
    "without --text, the text is read from stdin (at most 1 MiB)";

int seqclass_predict_main(int argc, char **argv)
{
    const char *model = NULL, *text = NULL, *cell_lib = NULL;
    rg_flag fl[] = {
        {"--model", RG_FLAG_STRING, &model, 0, 0, NULL, "the checkpoint (required)", 0, 0, 0},
        {"--text", RG_FLAG_STRING, &text, 0, 0, NULL, "the text (default: stdin)", 0, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &cell_lib, 0, 0, NULL, "a cell plugin (shared object) to load first", 0, 0, 0},
    };
    int n = (int)(sizeof fl / sizeof fl[0]), status;
    if (!rg_flags_cli("seqclass predict", predict_usage, fl, n, argc, argv, 2, &status))
        return status;
    if (!model) {
        fprintf(stderr, "seqclass predict: --model is required\n%s\n", predict_usage);
        rg_flags_free(fl, n);
        return 2;
    }
    sc_model m = {0};
    uint8_t *buf = NULL;
    int64_t len = 0;
    status = 0;
    if (text && (buf = (uint8_t *)strdup(text)))
        len = (int64_t)strlen(text);
    if ((cell_lib && rg_cell_plugin_load(cell_lib) != 0) || sc_model_load(&m, model) != 0 ||
        (text ? (buf ? 0 : (rg_set_error("out of memory"), -1)) : read_stdin(&buf, &len)) != 0 ||
        predict(&m, buf, len) != 0) {
        fprintf(stderr, "seqclass predict: %s\n", rg_last_error());
        status = 1;
    }
    free(buf);
    sc_model_free(&m);
    rg_flags_free(fl, n);
    return status;
}

/* ---- seqclass dump ----------------------------------------------------------------------- */

/* "split<TAB>class<TAB>id id ...", one text a line */
static int dump(const sc_session *s, const char *out)
{
    if (rg_file_check_output(out, "--out") != 0)
        return -1;
    FILE *f = fopen(out, "w");
    if (!f) {
        rg_set_error("cannot write %s", out);
        return -1;
    }
    for (int64_t k = 0; k < s->d.n; k++) {
        fprintf(f, "%s\t%d\t", sc_split_names[s->d.split[k]], s->d.label[k]);
        for (int32_t i = 0; i < s->e.len[k]; i++)
            fprintf(f, i ? " %d" : "%d", s->e.ids[s->e.at[k] + i]);
        fputc('\n', f);
    }
    if (ferror(f) | (fclose(f) != 0)) {
        rg_set_error("cannot write %s", out);
        return -1;
    }
    printf("dump: texts=%lld train=%lld val=%lld test=%lld vocab=%lld classes=%lld -> %s\n",
           (long long)s->d.n, (long long)s->d.count[SC_TRAIN], (long long)s->d.count[SC_VAL],
           (long long)s->d.count[SC_TEST], (long long)s->m.V, (long long)s->m.C, out);
    return 0;
}

static const char *dump_usage =
    "usage: seqclass dump --model FILE --out FILE [--data FILE.tsv] [--cell-lib FILE.so]\n"
    "writes 'split<TAB>class<TAB>token ids' for every text of the model's data\n"
    "(bench/torch_seqclass_twin.py reads it)";

int seqclass_dump_main(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *out = NULL, *cell_lib = NULL;
    rg_flag fl[] = {
        {"--model", RG_FLAG_STRING, &model, 0, 0, NULL, "the checkpoint (required)", 0, 0, 0},
        {"--out", RG_FLAG_STRING, &out, 0, 0, NULL, "the text file to write (required)", 0, 0, 0},
        {"--data", RG_FLAG_STRING, &data, 0, 0, NULL, "labelled texts (default: the model's)", 0, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &cell_lib, 0, 0, NULL, "a cell plugin (shared object) to load first", 0, 0, 0},
    };
    int n = (int)(sizeof fl / sizeof fl[0]), status;
    if (!rg_flags_cli("seqclass dump", dump_usage, fl, n, argc, argv, 2, &status))
        return status;
    sc_session s = {0};
    status = 0;
    if (!model || !out) {
        fprintf(stderr, "seqclass dump: --model and --out are required\n%s\n", dump_usage);
        status = 2;
    } else if ((cell_lib && rg_cell_plugin_load(cell_lib) != 0) ||
               sc_session_open(&s, model, data) != 0 || dump(&s, out) != 0) {
        fprintf(stderr, "seqclass dump: %s\n", rg_last_error());
        status = 1;
    }
    sc_session_close(&s);
    rg_flags_free(fl, n);
    return status;
}
