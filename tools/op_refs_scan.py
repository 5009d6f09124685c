#!/usr/bin/python3
"""PyTorch float64 forward references for the rows of tests/rows_scan.c (same
case names), written to tests/data/ops_scan.txt.  logcumsumexp_large feeds
values near 1e4, where exp overflows: the row must shift, as torch does.

    /usr/bin/python3 tools/op_refs_scan.py [out.txt]
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refcases import F, write  # noqa: E402

CASES = [
    ("cumsum_axis0", [F(-2, 2, -1, -2, -3)], lambda x: torch.cumsum(x, 0)),
    ("cumsum_axis1", [F(-2, 2, -1, -2, -3)], lambda x: torch.cumsum(x, 1)),
    ("cumsum_last", [F(-2, 2, 6, -2)], lambda x: torch.cumsum(x, -1)),
    ("cumsum_rank0", [F(-2, 2)], lambda x: torch.cumsum(x, -1)),
    ("logcumsumexp_axis0", [F(-3, 3, 6, -2, -3)], lambda x: torch.logcumsumexp(x, 0)),
    ("logcumsumexp_axis1", [F(-3, 3, -1, 5, -3)], lambda x: torch.logcumsumexp(x, 1)),
    ("logcumsumexp_last", [F(-3, 3, -1, 7)], lambda x: torch.logcumsumexp(x, -1)),
    ("logcumsumexp_rank0", [F(-3, 3)], lambda x: torch.logcumsumexp(x, -1)),
    ("logcumsumexp_large", [F(1e4, 1e4 + 10, -1, 6)], lambda x: torch.logcumsumexp(x, -1)),
]

if __name__ == "__main__":
    write("ops_scan.txt", CASES, sys.argv, 32)
