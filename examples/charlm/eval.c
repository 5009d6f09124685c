/* charlm eval: CHECKPOINT.md's evaluation semantics over a text: zero state,
 * state carried through the whole text, mean -ln p of the N-1 predictions. */
#include <math.h>
#include <stdlib.h>

#include "charlm.h"

static const char *usage_line =
    "usage: charlm eval --model FILE --text FILE [--threads N] [--cell-lib FILE.so]";

typedef struct eval_progress {
    double start, last;
    bool shown;
} eval_progress;

static void report(int64_t done, int64_t total, void *user)
{
    eval_progress *e = user;
    double now = rg_now();
    if (now - e->last < 1.0 && done < total)
        return;
    if (!e->shown && done == total)
        return; /* finished before the first report was due: stay quiet */
    e->last = now;
    e->shown = true;
    double rate = (double)done / (now - e->start);
    fprintf(stderr, "\reval: %lld/%lld chars (%.1f%%), %.0f chars/s, %.0fs left   ",
            (long long)done, (long long)total, 100.0 * (double)done / (double)total, rate,
            (double)(total - done) / rate);
    if (done == total)
        fprintf(stderr, "\n");
}

int charlm_eval_main(int argc, char **argv)
{
    const char *model = NULL, *text = NULL, *cell_lib = NULL;
    int64_t threads = 1;
    rg_flag fl[] = {
        {"--model", RG_FLAG_STRING, &model, 0, 0, NULL, "checkpoint (required)", 0, 0, 0},
        {"--text", RG_FLAG_STRING, &text, 0, 0, NULL, "text to evaluate (required)", 0, 0, 0},
        {"--threads", RG_FLAG_INT, &threads, 1, 1024, NULL, "BLAS threads (default 1)", 0, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &cell_lib, 0, 0, NULL, "the cell plugin of a model with a plugin's cell", 0, 0, 0},
    };
    int nf = (int)(sizeof fl / sizeof fl[0]);
    int status;
    if (!rg_flags_cli("charlm eval", usage_line, fl, nf, argc, argv, 2, &status))
        return status;
    if (!model || !text) {
        fprintf(stderr, "charlm eval: --model FILE and --text FILE are required\n%s\n",
                usage_line);
        return 2;
    }
    rg_set_threads((int)threads);
    lm_model m;
    charlm_vocab vocab;
    if ((cell_lib && rg_cell_plugin_load(cell_lib) != 0) ||
        charlm_load(&m, &vocab, model) != 0) {
        fprintf(stderr, "charlm eval: %s\n", rg_last_error());
        return 1;
    }
    status = 1;
    uint8_t *bytes = NULL;
    int32_t *ids = NULL;
    int64_t n = 0;
    double sum;
    eval_progress ep = {rg_now(), rg_now(), false};
    if (rg_file_read_all(text, &bytes, &n) != 0) {
        fprintf(stderr, "charlm eval: %s\n", rg_last_error());
        goto out;
    }
    if (n < 2) {
        fprintf(stderr, "charlm eval: %s has %lld byte; at least 2 are needed for one "
                "prediction\n", text, (long long)n);
        goto out;
    }
    ids = malloc((size_t)n * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "charlm eval: out of memory\n");
        goto out;
    }
    if (charlm_encode(&vocab, bytes, n, ids, text) != 0 ||
        lm_eval_ids(&m, ids, n, &sum, report, &ep) != 0) {
        fprintf(stderr, "charlm eval: %s\n", rg_last_error());
        goto out;
    }
    double loss = sum / (double)(n - 1);
    printf("eval: chars=%lld loss=%.6f bpc=%.6f ppl=%.6f\n", (long long)(n - 1), loss,
           loss / log(2.0), exp(loss));
    status = 0;
out:
    free(bytes);
    free(ids);
    lm_model_free(&m);
    return status;
}
