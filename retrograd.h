/* retrograd: reverse-mode automatic differentiation in C11, with recurrent
 * networks built on it.  The one public header: include this and link
 * -lretrograd (pkg-config --cflags --libs retrograd).
 *
 *   rg_tape *tp = rg_tape_new();
 *   rg_tensor *x = rg_from_doubles(NULL, RG_F64, RG_DIMS(2), (double[]){1, 2});
 *   rg_set_requires_grad(x, true);
 *   rg_tensor *y = rg_sum(tp, rg_tanh(tp, x));
 *   if (!y || rg_backward(tp, y) != 0) puts(rg_last_error());
 *   printf("%g\n", rg_grad_get(x, 0));
 *
 * autograd/rg_core.h  tensors, tape, backward, errors, RNG, gradcheck
 * ops/rg_ops.h        the built-in op table's public functions
 * models/rg_models.h  parameters, layers, cells, sequence models, optimizers, checkpoints
 * train/rg_train.h    the training core: flags, sharded steps, runs with checkpoints and resume
 */
#ifndef RETROGRAD_H
#define RETROGRAD_H
#include "rg_core.h"
#include "rg_ops.h"
#include "rg_models.h"
#include "rg_train.h"
#endif
