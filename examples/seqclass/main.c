/* seqclass: which novel is this passage from?  A recurrent classifier of
 * texts on retrograd (seqclass.h; README, "seqclass").
 *   seqclass train    train on the five bundled novels (or a TSV of labelled texts)
 *   seqclass eval     per-class report, confusion matrix, the naive-Bayes baseline
 *   seqclass predict  the probability of each class for a text
 *   seqclass dump     the encoded split, for bench/torch_seqclass_twin.py */
#include <string.h>

#include "seqclass.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: seqclass <command> [flags]   (seqclass <command> --help for its flags)\n"
               "  train    train a classifier (default: which Austen novel a passage is from)\n"
               "  eval     accuracy, per-class precision/recall, confusion matrix, baseline\n"
               "  predict  the probability of each class for a text (--text or stdin)\n"
               "  dump     write a model's data split as token ids (for the PyTorch twin)\n");
}

static int run_command(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "train"))
        return seqclass_train_main(argc, argv);
    if (!strcmp(cmd, "eval"))
        return seqclass_eval_main(argc, argv);
    if (!strcmp(cmd, "predict"))
        return seqclass_predict_main(argc, argv);
    if (!strcmp(cmd, "dump"))
        return seqclass_dump_main(argc, argv);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "seqclass: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (rg_main_init("seqclass", &argc, &argv) != 0)
        return rg_main_end("seqclass", 1);
    return rg_main_end("seqclass", run_command(argc, argv));
}
