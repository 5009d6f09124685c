/* translate: dates written many ways into ISO form, a sequence-to-sequence
 * model with attention on retrograd.
 *   translate train      train a model on generated pairs
 *   translate eval       exact match on the test pairs (years never trained on)
 *   translate predict    translate --text or the lines of stdin; draw the attention
 *   translate data       print generated pairs (what the PyTorch twin reads)
 *   translate gradcheck  every parameter's gradient against finite differences
 * See the README. */
#include <string.h>

#include "translate.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: translate <command> [flags]   (translate <command> --help for its flags)\n"
               "  train      train a model on generated pairs\n"
               "  eval       exact match and character accuracy on the test pairs\n"
               "  predict    translate --text TEXT or each line of stdin\n"
               "  data       print generated pairs: source TAB target TAB format\n"
               "  gradcheck  check every parameter's gradient (float64, finite differences)\n");
}

static int run_command(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*main)(int, char **);
    } cmds[] = {{"train", tr_train_main}, {"eval", tr_eval_main}, {"predict", tr_predict_main},
                {"data", tr_data_main}, {"gradcheck", tr_gradcheck_main}};
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].main(argc, argv);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "translate: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (rg_main_init("translate", &argc, &argv) != 0)
        return rg_main_end("translate", 1);
    return rg_main_end("translate", run_command(argc, argv));
}
