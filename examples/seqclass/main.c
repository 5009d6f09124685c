/* seqclass: which novel is this passage from?  A recurrent classifier of
 * texts on retrograd (seqclass.h; README, "seqclass").
 *   seqclass train    train on the five bundled novels (or a TSV of labelled texts)
 *   seqclass eval     per-class report, confusion matrix, the naive-Bayes baseline
 *   seqclass predict  the probability of each class for a text
 *   seqclass dump     the encoded split, for bench/torch_seqclass_twin.py */
#include <string.h>

#include "seqclass.h"

int main(int argc, char **argv)
{
    static const rg_command cmds[] = {
        {"train", "train a classifier (default: which Austen novel a passage is from)", seqclass_train_main},
        {"eval", "accuracy, per-class precision/recall, confusion matrix, baseline", seqclass_eval_main},
        {"predict", "the probability of each class for a text (--text or stdin)", seqclass_predict_main},
        {"dump", "write a model's data split as token ids (for the PyTorch twin)", seqclass_dump_main},
        {NULL, NULL, NULL}};
    return rg_main_commands("seqclass", cmds, argc, argv);
}
