/* charlm: a character-level recurrent language model on retrograd.
 *   charlm train     train on a text (default: the bundled Pride and Prejudice)
 *   charlm sample    stream text from a checkpoint
 *   charlm eval      loss, bits per char and perplexity of a checkpoint on a text
 *   charlm gradcheck every parameter's gradient against finite differences
 *   charlm graph     a picture (SVG or DOT) of what one short unrolled model records
 * See the README. */
#include <string.h>

#include "charlm.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: charlm <command> [flags]   (charlm <command> --help for its flags)\n"
               "  train      train a model on a text\n"
               "  sample     stream text from a checkpoint\n"
               "  eval       loss / bpc / perplexity of a checkpoint on a text\n"
               "  gradcheck  check every parameter's gradient (float64, finite differences)\n"
               "  graph      draw the tape of a short unrolled model (SVG or DOT)\n");
}

static int run_command(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "train"))
        return charlm_train_main(argc, argv);
    if (!strcmp(cmd, "sample"))
        return charlm_sample_main(argc, argv);
    if (!strcmp(cmd, "eval"))
        return charlm_eval_main(argc, argv);
    if (!strcmp(cmd, "gradcheck"))
        return charlm_gradcheck_main(argc, argv);
    if (!strcmp(cmd, "graph"))
        return charlm_graph_main(argc, argv);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "charlm: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (rg_main_init("charlm", &argc, &argv) != 0)
        return rg_main_end("charlm", 1);
    return rg_main_end("charlm", run_command(argc, argv));
}
