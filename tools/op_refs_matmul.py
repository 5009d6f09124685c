#!/usr/bin/env python3
"""PyTorch float64 references for the rows of tests/rows_matmul.c and
tests/rows_fused.c (same case names).  tests/test_ops_forward.c runs the C
build on the same inputs and compares.

    /usr/bin/python3 tools/op_refs_matmul.py [tests/data/ops_matmul.txt]
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refio import RefWriter  # noqa: E402

torch.manual_seed(4321)
D = torch.float64


def u(*shape):
    return torch.rand(*shape, dtype=D) * 3.0 - 1.5


def lstm_gates(xp, hp, c):
    i, f, g, o = (xp + hp).chunk(4, dim=1)
    c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h2 = torch.sigmoid(o) * torch.tanh(c2)
    return h2, c2


def gru_gates(xp, hp, h):
    xr, xz, xn = xp.chunk(3, dim=1)
    hr, hz, hn = hp.chunk(3, dim=1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (1 - z) * n + z * h


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "ops_matmul.txt")
    w = RefWriter(out)
    a, b = u(3, 4), u(4, 5)
    w.case("matmul_2d", [a, b], [a @ b])
    a, b = u(4, 3), u(4, 5)
    w.case("matmul_ta", [a, b], [a.T @ b])
    a, b = u(3, 4), u(5, 4)
    w.case("matmul_tb", [a, b], [a @ b.T])
    a, b = u(4, 3), u(5, 4)
    w.case("matmul_tab", [a, b], [a.T @ b.T])
    a, b = u(2, 3, 4), u(2, 4, 5)
    w.case("matmul_batched", [a, b], [torch.bmm(a, b)])
    a, b = u(2, 4, 3), u(2, 5, 4)
    w.case("matmul_batched_tab", [a, b], [torch.bmm(a.transpose(1, 2), b.transpose(1, 2))])
    a, b = u(2, 3, 4), u(4, 5)
    w.case("matmul_batched_shared_b", [a, b], [torch.matmul(a, b)])
    a, b = u(2, 3, 4), u(5, 4)
    w.case("matmul_batched_shared_b_tb", [a, b], [torch.matmul(a, b.T)])
    a, b = u(2, 4, 3), u(4, 5)
    w.case("matmul_batched_shared_b_ta", [a, b], [torch.matmul(a.transpose(1, 2), b)])
    x, W, bias = u(3, 4), u(5, 4), u(5)
    w.case("linear", [x, W, bias], [torch.nn.functional.linear(x, W, bias)])
    w.case("linear_nobias", [x, W], [torch.nn.functional.linear(x, W)])
    E, W, bias = u(3, 4), u(5, 4), u(5)
    ids = torch.tensor([[0, 2, 2, 1], [1, 1, 0, 2]], dtype=torch.int32)
    emb = lambda E, ids: E[ids.long()]
    w.case("embedding_linear_table", [E, ids, W, bias],
           [torch.nn.functional.linear(emb(E, ids), W, bias)])
    E9 = u(9, 4)
    ids = torch.tensor([7, 0, 7], dtype=torch.int32)
    w.case("embedding_linear_rows", [E9, ids, W, bias],
           [torch.nn.functional.linear(emb(E9, ids), W, bias)])
    ids = torch.tensor([[[0, 1, 2], [2, 2, 0]], [[1, 0, 1], [0, 0, 0]]], dtype=torch.int32)
    w.case("embedding_linear_nobias", [E, ids, W],
           [torch.nn.functional.linear(emb(E, ids), W)])
    xp, hp, c = u(2, 12), u(2, 12), u(2, 3)
    h2, c2 = lstm_gates(xp, hp, c)
    w.case("lstm_gates", [xp, hp, c], [torch.cat([h2, c2], dim=1)])
    w.case("lstm_gates_h_only", [xp, hp, c], [h2])
    xp, h, c, W, b = u(2, 12), u(2, 3), u(2, 3), u(12, 3), u(12)
    h2, c2 = lstm_gates(xp, h @ W.T + b, c)
    w.case("lstm_cell", [xp, h, c, W, b], [torch.cat([h2, c2], dim=1)])
    h2, c2 = lstm_gates(xp, h @ W.T, c)
    w.case("lstm_cell_nobias_c_only", [xp, h, c, W], [c2])
    P, h, c, W, b = u(5, 12), u(3, 3), u(3, 3), u(12, 3), u(12)
    ids = torch.tensor([4, 0, 4], dtype=torch.int32)
    h2, c2 = lstm_gates(P[ids.long()], h @ W.T + b, c)
    w.case("lstm_cell_rows", [P, ids, h, c, W, b], [torch.cat([h2, c2], dim=1)])
    xp, hp, h = u(2, 9), u(2, 9), u(2, 3)
    w.case("gru_gates", [xp, hp, h], [gru_gates(xp, hp, h)])
    aliased_cases(w)
    w.close()


def aliased_cases(w):
    """The fused rows given one tensor twice, or overlapping views of one buffer
    (tests/rows_fused.c builds the same views with rg_slice and rg_reshape)."""
    xp, h = u(3, 9), u(3, 3)
    w.case("gru_gates_xp_is_hp", [xp, h], [gru_gates(xp, xp, h)])
    base = u(4, 9)
    w.case("gru_gates_overlapping_views", [base],
           [gru_gates(base[0:3], base[1:4], base[0:1].reshape(3, 3))])
    xp, c = u(3, 12), u(3, 3)
    w.case("lstm_gates_xp_is_hp", [xp, c], [torch.cat(lstm_gates(xp, xp, c), dim=1)])
    base = u(4, 12)
    c0 = base.reshape(48)[0:9].reshape(3, 3)
    w.case("lstm_gates_overlapping_views", [base],
           [torch.cat(lstm_gates(base[0:3], base[1:4], c0), dim=1)])
    W = u(12, 3)
    xp, hc, b = W.reshape(3, 12), W[0:3], W.reshape(36)[12:24]
    w.case("lstm_cell_one_buffer", [W], [torch.cat(lstm_gates(xp, hc @ W.T + b, hc), dim=1)])
    W = u(12, 3)
    P, hc, b = W.reshape(3, 12), W[0:3], W.reshape(36)[12:24]
    ids = torch.tensor([2, 0, 2], dtype=torch.int32)
    w.case("lstm_cell_rows_one_buffer", [W, ids],
           [torch.cat(lstm_gates(P[ids.long()], hc @ W.T + b, hc), dim=1)])
    W = u(4, 3)
    ids = torch.tensor([[0, 3, 3, 1], [2, 2, 0, 1]], dtype=torch.int32)
    lin = torch.nn.functional.linear
    w.case("embedding_linear_one_buffer_table", [W, ids],
           [lin(W[ids.long()], W, W.reshape(12)[0:4])])
    ids = torch.tensor([3, 1], dtype=torch.int32)
    w.case("embedding_linear_one_buffer_rows", [W, ids],
           [lin(W[ids.long()], W, W.reshape(12)[0:4])])


if __name__ == "__main__":
    main()
