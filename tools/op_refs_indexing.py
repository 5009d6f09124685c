#!/usr/bin/python3
"""PyTorch float64 forward references for the rows of tests/rows_indexing.c
(same case names, inputs in the rows' order), written to
tests/data/ops_indexing.txt.  Masks are integer 0/1 tensors (I32 in the file),
compared as != 0 like the C rows.

    /usr/bin/python3 tools/op_refs_indexing.py [out.txt]
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refcases import F, I, M, write  # noqa: E402


def rel(op):
    return lambda a, b: op(a, b).to(a.dtype) * (a - b)


def by_row_max(op):
    return lambda x: op(x, x.max(-1, keepdim=True).values).to(x.dtype) * x


def topk_values(k, dim, largest):
    return lambda x: torch.topk(x, k, dim, largest=largest, sorted=True).values


def topk_through_indices(x):
    return torch.gather(x, 1, torch.topk(x, 2, 1, largest=True, sorted=True).indices)


CASES = [
    ("index_select_axis0", [F(-2, 2, -1, -2), I(-1, 6)], lambda x, i: torch.index_select(x, 0, i)),
    ("index_select_axis1", [F(-2, 2, -1, -2, -3), I(-2, 5)],
     lambda x, i: torch.index_select(x, 1, i)),
    ("index_select_last", [F(-2, 2, -1, -2), I(-2, 3)], lambda x, i: torch.index_select(x, -1, i)),
    ("index_select_rank0", [F(-2, 2), I(1)], lambda x, i: torch.index_select(x, -1, i.reshape(1))),
    ("gather_axis0", [F(-2, 2, -1, -2), I(-1, 5, -2)], lambda x, i: torch.gather(x, 0, i)),
    ("gather_axis1", [F(-2, 2, -1, -2, -3), I(-2, -1, 4, -3)], lambda x, i: torch.gather(x, 1, i)),
    ("gather_smaller", [F(-2, 2, 3, 4), I(4, 2, 6)], lambda x, i: torch.gather(x, -1, i)),
    ("gather_rank0", [F(-2, 2), I(1)], lambda x, i: torch.gather(x, -1, i)),
    ("where_same", [M(-1, -2), F(-2, 2, -1, -2), F(-2, 2, -1, -2)],
     lambda m, a, b: torch.where(m != 0, a, b)),
    ("where_broadcast", [M(-1, 1), F(-2, 2, -2), F(-2, 2, -1, -2)],
     lambda m, a, b: torch.where(m != 0, a, b)),
    ("where_rank3", [M(-3), F(-2, 2, -1, 1, -3), F(-2, 2, -2, 1)],
     lambda m, a, b: torch.where(m != 0, a, b)),
    ("where_one_input", [M(-1, -2), F(-2, 2, -2)], lambda m, a: torch.where(m != 0, a, a)),
    ("masked_fill_same", [F(-2, 2, -1, -2), M(-1, -2)], lambda x, m: x.masked_fill(m != 0, -7.5)),
    ("masked_fill_row", [F(-2, 2, -1, -2, -3), M(-3)], lambda x, m: x.masked_fill(m != 0, -7.5)),
    ("masked_fill_col", [F(-2, 2, -1, -2), M(-1, 1)], lambda x, m: x.masked_fill(m != 0, -7.5)),
    ("gt", [F(-2, 2, -1, -2), F(-2, 2, -2)], rel(torch.gt)),
    ("lt", [F(-2, 2, -1, -2), F(-2, 2, -1, 1)], rel(torch.lt)),
    ("ge", [F(-2, 2, -1, -2), F(-2, 2, -1, -2)], rel(torch.ge)),
    ("le", [F(-2, 2, -1, -2, -3), F(-2, 2)], rel(torch.le)),
    ("eq", [F(-2, 2, -1, -2)], by_row_max(torch.eq)),
    ("ne", [F(-2, 2, -1, -2)], by_row_max(torch.ne)),
    ("argmax_axis0", [F(-2, 2, -1, -2, -3)], lambda x: torch.gather(x, 0, x.argmax(0, True))),
    ("argmax_last", [F(-2, 2, -1, -2)], lambda x: torch.gather(x, -1, x.argmax(-1, True))),
    ("argmax_rank0", [F(-2, 2)], lambda x: torch.gather(x, -1, x.argmax(-1, True))),
    ("argmax_drop", [F(-2, 2, 4, 4)], lambda x: torch.index_select(x, 0, x.argmax(-1))),
    ("argmin_axis1", [F(-2, 2, -1, -2, -3)], lambda x: torch.gather(x, 1, x.argmin(1, True))),
    ("argmin_last", [F(-2, 2, -1, -2)], lambda x: torch.gather(x, -1, x.argmin(-1, True))),
    ("topk_largest", [F(-2, 2, -1, 5)], topk_values(3, -1, True)),
    ("topk_smallest", [F(-2, 2, 4, -2, -3)], topk_values(2, 0, False)),
    ("topk_indices", [F(-2, 2, -1, 4)], topk_through_indices),
    ("index_add_axis0", [F(-2, 2, -1, -2), I(-1, 6), F(-2, 2, 6, -2)],
     lambda x, i, s: torch.index_add(x, 0, i, s)),
    ("index_add_axis1", [F(-2, 2, -1, -2, -3), I(-2, 5), F(-2, 2, -1, 5, -3)],
     lambda x, i, s: torch.index_add(x, 1, i, s)),
    ("index_add_rank0", [F(-2, 2), I(1), F(-2, 2)],
     lambda x, i, s: torch.index_add(x.reshape(1), 0, i.reshape(1), s.reshape(1)).reshape(())),
    ("index_add_x_is_src", [F(-2, 2, 3, -2), I(3, 3)], lambda x, i: torch.index_add(x, 0, i, x)),
]

if __name__ == "__main__":
    write("ops_indexing.txt", CASES, sys.argv, 34)
