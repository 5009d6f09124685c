#!/usr/bin/env python3
"""PyTorch float64 references for the gradient-check rows of tests/rows_shape.c
and tests/rows_nn.c (same case names): each case is the row's build run by
PyTorch on fixed random inputs.  tests/test_ops_forward.c runs the C build on
the same inputs and compares.

    python3 tools/op_refs_nn.py [tests/data/ops_nn.txt]

dropout_train is not here (its mask comes from retrograd's own RNG); the
forward runner lists it as an allowed omission.  dropout_eval is the identity.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refio import RefWriter  # noqa: E402

torch.manual_seed(1234)
D = torch.float64


def u(*shape, lo=-2.0, hi=2.0):
    return torch.rand(*shape, dtype=D) * (hi - lo) + lo


def idx(hi, *shape):
    return torch.randint(0, hi, shape, dtype=torch.int64)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "ops_nn.txt")
    w = RefWriter(out)

    def case(name, inputs, fn):
        w.case(name, inputs, [fn(*inputs)])

    # ---- movement (ops/shape.c) ----
    case("transpose_01", [u(3, 4)], lambda x: x.transpose(0, 1))
    case("transpose_02_rank3", [u(3, 4, 2)], lambda x: x.transpose(0, 2))
    case("transpose_neg_rank4", [u(3, 4, 2, 3)], lambda x: x.transpose(-1, 1))
    case("reshape_merge", [u(3, 4, 2)], lambda x: x.reshape(12, -1))
    case("reshape_chain", [u(3, 4)], lambda x: x.reshape(3, 1, -1).reshape(-1))
    case("concat_axis0", [u(3, 4), u(2, 4), u(2, 4)], lambda *t: torch.cat(t, 0))
    case("concat_axis1", [u(3, 2, 4), u(3, 2, 4)], lambda *t: torch.cat(t, 1))
    case("concat_last", [u(3, 4), u(3, 3)], lambda *t: torch.cat(t, -1))
    case("concat_one", [u(3, 4)], lambda *t: torch.cat(t, 0))
    case("stack_axis0", [u(3, 4), u(3, 4), u(3, 4)], lambda *t: torch.stack(t, 0))
    case("stack_axis1", [u(3, 4), u(3, 4)], lambda *t: torch.stack(t, 1))
    case("stack_last", [u(3, 4, 2), u(3, 4, 2)], lambda *t: torch.stack(t, -1))
    case("slice_axis1", [u(3, 5, 4)], lambda x: x[:, 1:4])
    case("slice_axis0", [u(4, 3)], lambda x: x[2:4])
    case("slice_last", [u(3, 6)], lambda x: x[..., 0:4])

    def split_ax1(x):
        p = torch.split(x, 2, dim=1)
        return torch.cat([p[2], p[0], p[1]], 1)

    def split_ax0(x):
        p = torch.split(x, 2, dim=0)
        return torch.stack([p[1], p[0]], -1)

    case("split_axis1", [u(3, 6)], split_ax1)
    case("split_axis0", [u(4, 3, 4)], split_ax0)

    # ---- neural-network ops (ops/nn.c) ----
    case("softmax_axis0", [u(3, 4, 2)], lambda x: torch.softmax(x, 0))
    case("softmax_axis1", [u(3, 4, 2)], lambda x: torch.softmax(x, 1))
    case("softmax_last", [u(3, 4)], lambda x: torch.softmax(x, -1))
    case("log_softmax_axis0", [u(3, 4, 2)], lambda x: torch.log_softmax(x, 0))
    case("log_softmax_axis1", [u(3, 4, 2)], lambda x: torch.log_softmax(x, 1))
    case("log_softmax_last", [u(3, 4)], lambda x: torch.log_softmax(x, -1))

    N, C = 5, 4
    case("cross_entropy_mean", [u(N, C), idx(C, N)],
         lambda x, t: F.cross_entropy(x, t, reduction="mean"))
    case("cross_entropy_sum", [u(N, C), idx(C, N)],
         lambda x, t: F.cross_entropy(x, t, reduction="sum"))
    case("cross_entropy_weighted_mean", [u(N, C), idx(C, N), u(N, lo=0.0, hi=1.0)],
         lambda x, t, wt: (wt * F.cross_entropy(x, t, reduction="none")).sum() / wt.sum())
    case("cross_entropy_weighted_sum", [u(N, C), idx(C, N), u(N, lo=0.0, hi=1.0)],
         lambda x, t, wt: (wt * F.cross_entropy(x, t, reduction="none")).sum())
    case("mse_mean", [u(3, 4, 2), u(3, 4, 2)], lambda a, b: F.mse_loss(a, b, reduction="mean"))
    case("mse_sum", [u(3, 4), u(3, 4)], lambda a, b: F.mse_loss(a, b, reduction="sum"))
    case("embedding_2d", [u(5, 3), idx(5, 3, 3)], lambda W, ids: F.embedding(ids, W))
    case("embedding_repeat", [u(4, 3), torch.tensor([1, 3, 1, 0, 3, 1])],
         lambda W, ids: F.embedding(ids, W))
    case("dropout_eval", [u(3, 4)], lambda x: F.dropout(x, 0.4, training=False))

    # ---- rank 0 with axis -1, zero-length axes and slices ----
    case("transpose_rank0_neg", [u(1).reshape(())], lambda x: x.transpose(-1, 0))
    case("slice_empty", [u(3, 4)],
         lambda x: torch.cat([x[..., 4:4], x[..., 2:2], x[..., 1:3]], -1))
    case("slice_empty_view", [u(3, 3)], lambda x: torch.cat([x[1:1], x[0:1]], 0))

    def split_empty(x):
        p = torch.tensor_split(x, 2, dim=1)
        return torch.cat([p[1], p[0]], -1)

    case("split_empty", [u(3, 0, 2)], split_empty)
    case("softmax_rank0_neg", [u(1).reshape(())], lambda x: torch.softmax(x, -1))
    case("log_softmax_rank0_neg", [u(1).reshape(())], lambda x: torch.log_softmax(x, -1))
    case("softmax_empty_axis", [u(3, 0)], lambda x: torch.softmax(x, -1))
    case("log_softmax_empty_axis", [u(3, 0, 4)], lambda x: torch.log_softmax(x, 1))
    w.close()


if __name__ == "__main__":
    main()
