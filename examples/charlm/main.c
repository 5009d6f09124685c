/* charlm: a character-level recurrent language model on retrograd.
 *   charlm train     train on a text (default: the bundled Pride and Prejudice)
 *   charlm sample    stream text from a checkpoint
 *   charlm eval      loss, bits per char and perplexity of a checkpoint on a text
 *   charlm gradcheck every parameter's gradient against finite differences
 *   charlm graph     a picture (SVG or DOT) of what one short unrolled model records
 * See the README. */
#include <string.h>

#include "charlm.h"

int main(int argc, char **argv)
{
    static const rg_command cmds[] = {
        {"train", "train a model on a text", charlm_train_main},
        {"sample", "stream text from a checkpoint", charlm_sample_main},
        {"eval", "loss / bpc / perplexity of a checkpoint on a text", charlm_eval_main},
        {"gradcheck", "check every parameter's gradient (float64, finite differences)", charlm_gradcheck_main},
        {"graph", "draw the tape of a short unrolled model (SVG or DOT)", charlm_graph_main},
        {NULL, NULL, NULL}};
    return rg_main_commands("charlm", cmds, argc, argv);
}
