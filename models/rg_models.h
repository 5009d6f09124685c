/* retrograd models: the second tier, built only from the public ops.
 * rg_params.h      the parameter registry (names like "rnn.weight_ih_l0")
 * rg_layers.h      Linear, Embedding, cells (RNN, LSTM, GRU, user cells), sequence layers
 * rg_init.h        initialisation helpers (uniform, normal, Xavier, orthogonal, ...)
 * rg_sequtil.h     padded batches with lengths: masks, pooling, reversal
 * rg_optim.h       optimizers, gradient clipping, learning-rate schedules
 * rg_curvature.h   Hessian- and Gauss-Newton-vector products (gradients of gradients)
 * rg_checkpoint.h  safetensors files (named tensors + metadata), checkpoints */
#ifndef RG_MODELS_H
#define RG_MODELS_H
#include "rg_core.h"
#include "rg_ops.h"
#include "rg_params.h"
#include "rg_layers.h"
#include "rg_init.h"
#include "rg_sequtil.h"
#include "rg_optim.h"
#include "rg_curvature.h"
#include "rg_checkpoint.h"
#endif
