"""PyTorch reference values for the user cells of the custom-cell benchmark:
the PyTorch twins of bench/torch_custom_cells.py (lstm_composed, gru_composed,
peephole_lstm, ln_lstm, mingru: the modules the benchmark times), in float64,
for tests/test_plugins.c to replay against retrograd's cells (the composed
built-ins and examples/cell_plugin.so's), so that the benchmark compares the
same computation on both sides.

    /usr/bin/python3 tools/custom_cell_refs.py      # writes tests/data/custom_cells_f64.txt

For each cell, a stack of L = 2 layers, I = 3, H = 4, T = 5, B = 3, every
parameter drawn from N(0, 0.5^2) (so no gain is 1 and no bias 0):
    case CELL             inputs x [T,B,I], w [T,B,H]; outputs out [T,B,H],
                          loss = sum(out * w) [], dloss/dx [T,B,I]
    case CELL/rnn.ROLE_lK inputs the parameter (retrograd's name and shape);
                          outputs its gradient
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
from refio import RefWriter  # noqa: E402
from torch_custom_cells import CELLS, make_stack  # noqa: E402

L, I, H, T, B = 2, 3, 4, 5, 3


def main():
    torch.set_default_dtype(torch.float64)
    out_path = os.path.join(HERE, "..", "tests", "data", "custom_cells_f64.txt")
    w = RefWriter(out_path)
    for k, cell in enumerate(CELLS):
        torch.manual_seed(100 + k)
        stack = make_stack(cell, I, H, L)
        with torch.no_grad():
            for p in stack.parameters():
                p.normal_(0.0, 0.5)
        x = torch.randn(T, B, I, requires_grad=True)
        wout = torch.randn(T, B, H)
        out = stack(x)
        loss = (out * wout).sum()
        loss.backward()
        w.case(cell, [x, wout], [out, loss, x.grad])
        for layer, m in enumerate(stack):
            for role, p in m.named_parameters():
                w.case(f"{cell}/rnn.{role}_l{layer}", [p], [p.grad])
    w.close()
    print(f"wrote {os.path.normpath(out_path)}: {len(CELLS)} cells")


if __name__ == "__main__":
    main()
