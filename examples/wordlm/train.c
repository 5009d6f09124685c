/* wordlm train: the word-level model on the five bundled Austen novels (or
 * the --text files, one after another).  The last 10% of the tokens are held
 * out, half validation, half test; both perplexities are reported at the end
 * (state carried through each part from the zero state).  The run (sharded
 * steps, checkpoints, exact resume, signals, log, plot, progress) is the
 * training core's; the model and its task are examples/lm's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "wordlm.h"

#define WORDLM_FORMAT "retrograd wordlm 2"

static const char *novels[] = {"emma.txt", "mansfield_park.txt", "northanger_abbey.txt",
                               "pride_and_prejudice.txt", "sense_and_sensibility.txt"};

typedef struct train_opts {
    rg_flag_list text;
    const char *cell, *cell_lib;
    int64_t vocab_size, layers, hidden, embed, unroll, batch;
    double dropout;
    bool carry;
} train_opts;

typedef struct train_state {
    char *paths[5];          /* the bundled novels' paths, when no --text */
    uint8_t *bytes;          /* the texts, one after another */
    int64_t n_bytes;
    int32_t *ids;
    int64_t n_tokens, n_train, n_val, n_test, unk;
    wordlm_vocab vocab;
    lm_model m;
    lm_task task;
} train_state;

static const char *usage_line =
    "usage: wordlm train [--text FILE]... [--vocab-size N] [--cell lstm|gru|rnn_tanh|rnn_relu|NAME]\n"
    "                    [--cell-lib FILE.so] [--layers N] [--hidden N] [--embed N] [--unroll T] [--batch B]\n"
    "                    [--steps N] [--lr X] [--clip X] [--seed S] [--threads N] [--save FILE]\n"
    "                    [--init FILE | --resume FILE] [--log FILE.csv] [--plot FILE.svg]\n"
    "defaults: the five bundled Austen novels, vocabulary 5000, lstm 1x256, embed 128,\n"
    "unroll 32, batch 32, 1200 steps, Adam lr 2e-3, clip 5, save wordlm.safetensors";

static int program_flags(train_opts *o, rg_flag *fl)
{
    const rg_flag own[] = {
        {"--text", RG_FLAG_LIST, &o->text, 0, 0, NULL, "a training text; give several to join them (default: the five novels)", RG_FLAG_SAVED | RG_FLAG_PATH | RG_FLAG_OVERRIDE, 0, 0},
        {"--vocab-size", RG_FLAG_INT, &o->vocab_size, 3, 1e6, NULL, "words kept, with <unk> and <eol> (default 5000)", RG_FLAG_MODEL, 0, 0},
        {"--cell", RG_FLAG_STRING, &o->cell, 0, 0, NULL, "lstm | gru | rnn_tanh | rnn_relu | a plugin's cell (default lstm)", RG_FLAG_MODEL, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &o->cell_lib, 0, 0, NULL, "a cell plugin (shared object) to load first", RG_FLAG_SAVED | RG_FLAG_PATH, 0, 0},
        {"--layers", RG_FLAG_INT, &o->layers, 1, 16, NULL, "recurrent layers (default 1)", RG_FLAG_MODEL, 0, 0},
        {"--hidden", RG_FLAG_INT, &o->hidden, 1, 8192, NULL, "hidden size (default 256)", RG_FLAG_MODEL, 0, 0},
        {"--embed", RG_FLAG_INT, &o->embed, 1, 8192, NULL, "embedding size (default 128)", RG_FLAG_MODEL, 0, 0},
        {"--unroll", RG_FLAG_INT, &o->unroll, 1, 100000, NULL, "BPTT length T (default 32)", RG_FLAG_SAVED, 0, 0},
        {"--batch", RG_FLAG_INT, &o->batch, 1, 65536, NULL, "windows per step (default 32)", RG_FLAG_SAVED, 0, 0},
        {"--dropout", RG_FLAG_DOUBLE, &o->dropout, 0, 0.99, NULL, "dropout between layers (default 0)", RG_FLAG_SAVED, 0, 0},
        {"--carry-state", RG_FLAG_BOOL, &o->carry, 0, 0, NULL, "read the text as batch streams, carrying the state", RG_FLAG_SAVED, 0, 0},
    };
    memcpy(fl, own, sizeof own);
    return (int)(sizeof own / sizeof own[0]);
}

/* the texts, one after another, each ended by a newline */
static int read_texts(const rg_flag_list *text, train_state *s)
{
    for (int i = 0; i < text->n; i++) {
        uint8_t *t;
        int64_t n;
        if (rg_file_read_all(text->items[i], &t, &n) != 0)
            return -1;
        uint8_t *grown = realloc(s->bytes, (size_t)(s->n_bytes + n + 2));
        if (!grown) {
            free(t);
            rg_set_error("out of memory for the texts");
            return -1;
        }
        s->bytes = grown;
        memcpy(s->bytes + s->n_bytes, t, (size_t)n);
        s->n_bytes += n;
        s->bytes[s->n_bytes++] = '\n';
        free(t);
    }
    return 0;
}

/* tokens, the split, the vocabulary (built, or the loaded model's) and the ids */
static int encode(const train_opts *o, train_state *s, bool loaded)
{
    char **tok, *store;
    if (wordlm_tokenize((const char *)s->bytes, s->n_bytes, &tok, &s->n_tokens, &store) != 0)
        return -1;
    int64_t nt = s->n_tokens, held = nt / 10;
    s->n_train = nt - held;
    s->n_val = held / 2;
    s->n_test = held - s->n_val;
    int rc = -1;
    if (s->n_train < o->unroll + 1 || s->n_val < 2 || s->n_test < 2)
        rg_set_error("%lld tokens are too few for --unroll %lld (10%% are held out)",
                     (long long)nt, (long long)o->unroll);
    else if (!(s->ids = malloc((size_t)nt * sizeof *s->ids)))
        rg_set_error("out of memory");
    else if (loaded ? wordlm_vocab_parse(&s->vocab, s->m.vocab) != 0
                    : wordlm_vocab_build(&s->vocab, tok, s->n_train, (int)o->vocab_size) != 0)
        rg_set_error("%s", loaded ? "the model's metadata 'vocab' is malformed"
                                  : "out of memory for the vocabulary");
    else
        rc = 0;
    for (int64_t i = 0; rc == 0 && i < nt; i++) {
        s->ids[i] = wordlm_vocab_index(&s->vocab, tok[i]);
        s->unk += i < s->n_train && s->ids[i] == WORDLM_UNK;
    }
    free(tok);
    free(store);
    return rc;
}

/* a new model, or the one of --init / --resume */
static int build_model(const train_opts *o, const rg_fit_config *fc, const rg_run *run,
                       train_state *s)
{
    const char *from = rg_run_model_source(run);
    if (from) {
        if (lm_model_load(&s->m, from, RG_F32) != 0 || encode(o, s, true) != 0)
            return -1;
        if (s->vocab.n != s->m.V) {
            rg_set_error("%s: the vocabulary has %d words but embed.weight %lld rows", from,
                         s->vocab.n, (long long)s->m.V);
            return -1;
        }
        s->m.rnn->cfg.dropout = o->dropout;
        s->m.dropout = o->dropout;
        return 0;
    }
    rg_rng rng;
    rg_rng_seed(&rng, (uint64_t)fc->seed);
    if (encode(o, s, false) != 0 ||
        lm_model_init(&s->m, lm_cell_find(o->cell, "--cell"), s->vocab.n, o->embed, o->hidden,
                      (int)o->layers, o->dropout, RG_F32, &rng) != 0)
        return -1;
    s->m.vocab = wordlm_vocab_format(&s->vocab);
    if (!s->m.vocab) {
        rg_set_error("out of memory");
        return -1;
    }
    return 0;
}

/* validation and test perplexities, a sample, the final line */
static int report(const train_state *s, const rg_fit_config *fc, const rg_run *run)
{
    double val, test, rate;
    if (lm_eval_ids(&s->m, s->ids + s->n_train, s->n_val, &val, NULL, NULL) != 0 ||
        lm_eval_ids(&s->m, s->ids + s->n_train + s->n_val, s->n_test, &test, NULL, NULL) != 0)
        return -1;
    val /= (double)(s->n_val - 1);
    test /= (double)(s->n_test - 1);
    rg_run_results(run, NULL, NULL, &rate);
    printf("sample: ");
    if (wordlm_sample(&s->m, &s->vocab, "it is", 40, 0.8, (uint64_t)fc->seed) != 0)
        return -1;
    printf("wordlm: steps=%lld val_ppl=%.3f test_ppl=%.3f tokens_per_s=%.0f saved=%s\n",
           (long long)rg_run_step(run), exp(val), exp(test), rate, fc->save);
    return 0;
}

static int train(train_opts *o, rg_fit_config *fc, rg_run *run, train_state *s)
{
    /* a resumed run's plugin, restored by rg_run_open, before its model loads */
    if (rg_run_resumed(run) && o->cell_lib && rg_cell_plugin_load(o->cell_lib) != 0)
        return -1;
    for (int i = 0; o->text.n == 0 && i < 5; i++)
        if (!(s->paths[i] = prog_data_path(novels[i])) ||
            rg_flag_set(&(rg_flag){.name = "--text", .kind = RG_FLAG_LIST, .dest = &o->text},
                        s->paths[i], NULL) != 0)
            return -1;
    if (read_texts(&o->text, s) != 0 || build_model(o, fc, run, s) != 0 ||
        lm_task_init(&s->task, &s->m, s->ids, s->n_train, s->n_val, o->unroll, o->batch,
                     o->carry, WORDLM_FORMAT) != 0)
        return -1;
    s->task.text_hash = lm_fnv1a(s->bytes, s->n_bytes);
    s->task.text_bytes = s->n_bytes;
    printf("wordlm train: %lld tokens (%lld train, %lld validation, %lld test), vocabulary %lld "
           "(%.1f%% of training tokens are <unk>), %s %dx%lld, embed %lld, %lld parameters\n",
           (long long)s->n_tokens, (long long)s->n_train, (long long)s->n_val,
           (long long)s->n_test, (long long)s->m.V, 100.0 * (double)s->unk / (double)s->n_train,
           s->m.cell->name, s->m.L, (long long)s->m.H, (long long)s->m.E,
           (long long)rg_params_numel(s->m.P));
    rg_fit_task task = lm_fit_task(&s->task, true);
    const char **inputs = calloc((size_t)o->text.n + 1, sizeof *inputs);
    if (!inputs) {
        rg_set_error("out of memory");
        return -1;
    }
    memcpy(inputs, o->text.items, (size_t)o->text.n * sizeof *inputs);
    task.inputs = inputs;
    task.title = "wordlm";
    int status = rg_run_fit(run, &task);
    free(inputs);
    if (status == 0 && rg_run_step(run) == fc->steps && report(s, fc, run) != 0)
        return -1;
    return status;
}

int wordlm_train_main(int argc, char **argv)
{
    train_opts o = {.cell = "lstm", .vocab_size = 5000, .layers = 1, .hidden = 256,
                    .embed = 128, .unroll = 32, .batch = 32};
    rg_fit_config fc;
    rg_fit_defaults(&fc, "wordlm train", "wordlm.safetensors");
    fc.default_steps = 1200;
    fc.no_summary = true; /* its own final line, with the test perplexity */
    rg_flag fl[40];
    int n = program_flags(&o, fl), status;
    n += rg_fit_flags(&fc, fl + n, 40 - n);
    if (!rg_flags_cli("wordlm train", usage_line, fl, n, argc, argv, 2, &status))
        return status;
    /* the plugin first, so --cell may name its cells (a resumed run's is restored later) */
    if (!fc.resume && ((o.cell_lib && rg_cell_plugin_load(o.cell_lib) != 0) ||
                       (!fc.init && !lm_cell_find(o.cell, "--cell")))) {
        fprintf(stderr, "wordlm train: %s\n", rg_last_error());
        rg_flags_free(fl, n);
        return 2;
    }
    rg_run *run = rg_run_open(&fc, fl, n);
    train_state s;
    memset(&s, 0, sizeof s);
    status = 1;
    if (!run)
        fprintf(stderr, "wordlm train: %s\n", rg_last_error());
    else if ((status = train(&o, &fc, run, &s)) < 0) {
        fprintf(stderr, "wordlm train: %s\n", rg_last_error());
        status = 1;
    }
    rg_run_close(run);
    lm_task_free(&s.task);
    lm_model_free(&s.m);
    wordlm_vocab_free(&s.vocab);
    free(s.bytes);
    free(s.ids);
    for (int i = 0; i < 5; i++)
        free(s.paths[i]);
    rg_flags_free(fl, n);
    return status;
}
