/* translate eval: exact match and per-character accuracy of a checkpoint on
 * the test pairs (years no training pair has), by format, then one line
 * "eval: examples=N exact=A char_accuracy=C". */
#include <stdlib.h>
#include <string.h>

#include "translate.h"

static const char *usage_line =
    "usage: translate eval --model FILE [--examples N] [--split test|val] [--data-seed S]\n"
    "                      [--beam K] [--errors N] [--threads N] [--cell-lib FILE.so]";

typedef struct eval_opts {
    const char *model, *split, *cell_lib;
    int64_t examples, data_seed, beam, errors, threads;
} eval_opts;

/* the outputs of every pair: greedy in batches, or beam search one by one */
static int decode_all(const tr_model *m, const tr_data *D, int K, char *out)
{
    if (K == 0)
        return tr_greedy(m, D->src, D->len, D->n, out);
    for (int64_t i = 0; i < D->n; i++) {
        double lp;
        if (tr_beam(m, D->src + i * TR_MAX_SRC, D->len[i], K, out + i * (TR_MAX_OUT + 1),
                    &lp) != 0)
            return -1;
    }
    return 0;
}

/* the table by format, the first few errors, the final line */
static void report(const tr_data *D, const char *out, int64_t show_errors)
{
    int nf = tr_format_count();
    int64_t *count = calloc((size_t)nf * 2, sizeof *count), exact = 0, chars = 0, right = 0;
    if (!count)
        return;
    for (int64_t i = 0; i < D->n; i++) {
        char src[TR_MAX_SRC + 1], tgt[TR_TGT];
        const char *o = out + i * (TR_MAX_OUT + 1);
        tr_data_text(D, i, src, tgt);
        bool ok = strcmp(o, tgt) == 0;
        for (int k = 0; k < TR_TGT - 1; k++)
            right += o[k] == tgt[k];
        chars += TR_TGT - 1;
        exact += ok;
        count[2 * D->fmt[i]]++;
        count[2 * D->fmt[i] + 1] += ok;
        if (!ok && show_errors-- > 0)
            printf("error: %-32s -> %-12s (want %s)\n", src, o, tgt);
    }
    printf("%-20s %8s %8s\n", "format", "pairs", "exact");
    for (int f = 0; f < nf; f++)
        if (count[2 * f])
            printf("%-20s %8lld %8.4f\n", tr_format_name(f), (long long)count[2 * f],
                   (double)count[2 * f + 1] / (double)count[2 * f]);
    printf("eval: examples=%lld exact=%.4f char_accuracy=%.4f\n", (long long)D->n,
           (double)exact / (double)D->n, (double)right / (double)chars);
    free(count);
}

int tr_eval_main(int argc, char **argv)
{
    eval_opts o = {.split = "test", .examples = 2000, .errors = 5, .threads = 1};
    rg_flag fl[] = {
        {"--model", RG_FLAG_STRING, &o.model, 0, 0, NULL, "checkpoint (required)", 0, 0, 0},
        {"--examples", RG_FLAG_INT, &o.examples, 1, 1e7, NULL, "pairs to generate (default 2000)", 0, 0, 0},
        {"--split", RG_FLAG_CHOICE, &o.split, 0, 0, "test|val", "test | val (default test)", 0, 0, 0},
        {"--data-seed", RG_FLAG_INT, &o.data_seed, 0, 9.2e18, NULL, "seed of the generator (default: the model's run's)", 0, 0, 0},
        {"--beam", RG_FLAG_INT, &o.beam, 1, 32, NULL, "beam search with K beams (default: greedy decoding)", 0, 0, 0},
        {"--errors", RG_FLAG_INT, &o.errors, 0, 1e9, NULL, "wrong outputs to show (default 5)", 0, 0, 0},
        {"--threads", RG_FLAG_INT, &o.threads, 1, 1024, NULL, "BLAS threads (default 1)", 0, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &o.cell_lib, 0, 0, NULL, "the cell plugin of a model with a plugin's cell", 0, 0, 0},
    };
    int nf = (int)(sizeof fl / sizeof fl[0]), status;
    if (!rg_flags_cli("translate eval", usage_line, fl, nf, argc, argv, 2, &status))
        return status;
    if (!o.model) {
        fprintf(stderr, "translate eval: --model FILE is required\n%s\n", usage_line);
        return 2;
    }
    rg_set_threads((int)o.threads);
    tr_model m = {0};
    tr_data D = {0};
    uint64_t seed;
    char *out = NULL;
    status = 1;
    if ((o.cell_lib && rg_cell_plugin_load(o.cell_lib) != 0) ||
        tr_model_load(&m, o.model, RG_F32, &seed) != 0)
        goto fail;
    if (rg_flags_seen(fl, nf, "--data-seed"))
        seed = (uint64_t)o.data_seed;
    if (tr_data_make(&D, strcmp(o.split, "val") ? TR_TEST : TR_VAL, o.examples, seed) != 0 ||
        !(out = calloc((size_t)D.n, TR_MAX_OUT + 1)) ||
        decode_all(&m, &D, (int)o.beam, out) != 0)
        goto fail;
    report(&D, out, o.errors);
    status = 0;
fail:
    if (status)
        fprintf(stderr, "translate eval: %s\n", rg_last_error());
    free(out);
    tr_data_free(&D);
    tr_model_free(&m);
    return status;
}
