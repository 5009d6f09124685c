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

int main(int argc, char **argv)
{
    static const rg_command cmds[] = {
        {"train", "train a model on generated pairs", tr_train_main},
        {"eval", "exact match and character accuracy on the test pairs", tr_eval_main},
        {"predict", "translate --text TEXT or each line of stdin", tr_predict_main},
        {"data", "print generated pairs: source TAB target TAB format", tr_data_main},
        {"gradcheck", "check every parameter's gradient (float64, finite differences)", tr_gradcheck_main},
        {NULL, NULL, NULL}};
    return rg_main_commands("translate", cmds, argc, argv);
}
