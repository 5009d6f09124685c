#!/usr/bin/python3
"""PyTorch forward references for the rows of tests/rows_elementwise.c and
tests/rows_reduce.c: for every row (case) name, the same computation in torch
float64 on fixed seeded inputs, written to tests/data/ops_elementwise.txt.

Inputs are listed in the order the row's build takes them; the output is the
build's output.  The tables below mirror the C rows: keep them in step.

    /usr/bin/python3 tools/op_refs_elementwise.py [out.txt]
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refio import RefWriter  # noqa: E402

# Sizes of the random dims -1..-8 of the C rows (any values in 1..4 are valid).
DIMS = {-1: 3, -2: 4, -3: 2, -4: 3, -5: 2, -6: 3, -7: 4, -8: 2}


def IN(lo, hi, *shape):
    return (lo, hi, shape)


def S0(lo, hi):
    return (lo, hi, ())


# ---- tests/rows_elementwise.c ---------------------------------------------------

def binary_rows(op, fn, lo, hi):
    return [
        (op + "_same", [IN(-1, 1, -1, -2), IN(lo, hi, -1, -2)], fn),
        (op + "_same_rank3", [IN(-1, 1, -1, -2, -3), IN(lo, hi, -1, -2, -3)], fn),
        (op + "_row", [IN(-1, 1, -1, -2), IN(lo, hi, -2)], fn),
        (op + "_row_fixed", [IN(-1, 1, 5, 3), IN(lo, hi, 3)], fn),
        (op + "_row_left", [IN(-1, 1, 3), IN(lo, hi, 5, 3)], fn),
        (op + "_row_rank3", [IN(-1, 1, -1, -2, -3), IN(lo, hi, -2, -3)], fn),
        (op + "_col", [IN(-1, 1, -1, -2), IN(lo, hi, -1, 1)], fn),
        (op + "_col_fixed", [IN(-1, 1, 3, 4), IN(lo, hi, 3, 1)], fn),
        (op + "_col_left", [IN(-1, 1, 3, 1), IN(lo, hi, 3, 4)], fn),
        (op + "_rank0", [IN(-1, 1, -1, -2), S0(lo, hi)], fn),
        (op + "_rank0_left", [S0(-1, 1), IN(lo, hi, -1, -2)], fn),
        (op + "_1elem", [IN(-1, 1, -1, -2), IN(lo, hi, 1, 1)], fn),
        (op + "_mid3", [IN(-1, 1, -1, -2, -3), IN(lo, hi, -1, 1, -3)], fn),
        (op + "_mid3_fixed", [IN(-1, 1, 2, 3, 4), IN(lo, hi, 2, 1, 4)], fn),
        (op + "_both", [IN(-1, 1, -1, 1), IN(lo, hi, 1, -2)], fn),
        (op + "_both_fixed", [IN(-1, 1, 3, 1), IN(lo, hi, 4)], fn),
        (op + "_rank4", [IN(-1, 1, -1, -2, -3, -4), IN(lo, hi, -3, 1)], fn),
    ]


ELEMENTWISE = (
    binary_rows("add", lambda a, b: a + b, -1, 1)
    + binary_rows("sub", lambda a, b: a - b, -1, 1)
    + binary_rows("mul", lambda a, b: a * b, -1, 1)
    + binary_rows("div", lambda a, b: a / b, 0.5, 2)
    + [
        ("div_negative", [IN(-1, 1, -1, -2), IN(-2, -0.5, -1, -2)], lambda a, b: a / b),
        ("mul_self", [IN(-1, 1, -1, -2)], lambda a: a * a),
        ("div_chain_row", [IN(-1, 1, -1, -2), IN(-1, 1, -2)], lambda a, b: a / (b * b + 0.5)),
        ("neg", [IN(-1, 1, -1, -2, -3)], lambda a: -a),
        ("neg_rank0", [S0(-1, 1)], lambda a: -a),
        ("add_scalar", [IN(-1, 1, -1, -2)], lambda a: a + 0.7),
        ("mul_scalar", [IN(-1, 1, -1, -2)], lambda a: a * -1.3),
        ("pow_scalar_3", [IN(-2, 2, -1, -2)], lambda a: torch.pow(a, 3.0)),
        ("pow_scalar_2", [IN(-2, 2, -1, -2)], lambda a: torch.pow(a, 2.0)),
        ("pow_scalar_half", [IN(0.2, 2, -1, -2)], lambda a: torch.pow(a, 0.5)),
        ("pow_scalar_m1_5", [IN(0.5, 2, -1, -2)], lambda a: torch.pow(a, -1.5)),
        ("pow_scalar_0", [IN(-1, 1, -1, -2)], lambda a: torch.pow(a, 0.0)),
        ("exp", [IN(-2, 2, -1, -2)], torch.exp),
        ("log", [IN(0.2, 3, -1, -2)], torch.log),
        ("sqrt", [IN(0.2, 3, -1, -2)], torch.sqrt),
        ("abs_pos", [IN(0.1, 2, -1, -2)], torch.abs),
        ("abs_neg", [IN(-2, -0.1, -1, -2)], torch.abs),
        ("tanh", [IN(-2, 2, -1, -2)], torch.tanh),
        ("tanh_rank4", [IN(-2, 2, -1, -2, -3, -4)], torch.tanh),
        ("sigmoid", [IN(-4, 4, -1, -2)], torch.sigmoid),
        ("relu_pos", [IN(0.1, 2, -1, -2)], torch.relu),
        ("relu_neg", [IN(-2, -0.1, -1, -2)], torch.relu),
        ("clamp_inside", [IN(-0.45, 0.45, -1, -2)], lambda a: torch.clamp(a, -0.5, 0.5)),
        ("clamp_below", [IN(-2, -0.55, -1, -2)], lambda a: torch.clamp(a, -0.5, 0.5)),
        ("clamp_above", [IN(0.55, 2, -1, -2)], lambda a: torch.clamp(a, -0.5, 0.5)),
    ]
)

# ---- tests/rows_reduce.c ----------------------------------------------------------

R = (-1, 1)
REDUCE = [
    ("sum", [IN(*R, -1, -2, -3)], torch.sum),
    ("sum_rank0", [S0(*R)], torch.sum),
    ("mean", [IN(*R, -1, -2)], torch.mean),
    ("mean_rank4", [IN(*R, -1, -2, -3, -4)], torch.mean),
    ("max", [IN(*R, -1, -2, -3)], torch.max),
    ("max_rank1", [IN(*R, 6)], torch.max),
    ("sum_axis_0", [IN(*R, -1, -2)], lambda a: a.sum(0)),
    ("sum_axis_1_rank3", [IN(*R, -1, -2, -3)], lambda a: a.sum(1)),
    ("sum_axis_last_keepdim", [IN(*R, -1, -2)], lambda a: a.sum(-1, keepdim=True)),
    ("sum_axis_m3_keepdim_rank4", [IN(*R, -1, -2, -3, -4)],
     lambda a: a.sum(-3, keepdim=True)),
    ("sum_axis_rank1", [IN(*R, -1)], lambda a: a.sum(0)),
    ("sum_axis_rank0", [S0(*R)], lambda a: a.sum(0)),
    ("mean_axis_0", [IN(*R, -1, -2)], lambda a: a.mean(0)),
    ("mean_axis_1_rank3", [IN(*R, -1, -2, -3)], lambda a: a.mean(1)),
    ("mean_axis_last_keepdim", [IN(*R, -1, -2, -3)], lambda a: a.mean(-1, keepdim=True)),
    ("mean_center", [IN(*R, -1, -2)], lambda a: a - a.mean(0, keepdim=True)),
    ("max_axis_0", [IN(*R, -1, -2)], lambda a: a.max(0).values),
    ("max_axis_1_rank3", [IN(*R, -1, -2, -3)], lambda a: a.max(1).values),
    ("max_axis_last_keepdim", [IN(*R, -1, -2)], lambda a: a.max(-1, keepdim=True).values),
    ("max_axis_2_rank4", [IN(*R, -1, -2, -3, -4)], lambda a: a.max(2).values),
    ("max_axis_shift", [IN(*R, -1, -2)], lambda a: a - a.max(-1, keepdim=True).values),
    ("sum_axis_rank0_neg", [S0(*R)], lambda a: a.sum(-1)),
    ("mean_axis_rank0_neg_keepdim", [S0(*R)], lambda a: a.mean(-1, keepdim=True)),
    ("max_axis_rank0_neg", [S0(*R)], lambda a: a.max(-1).values),
    ("max_axis_rank0_neg_keepdim", [S0(*R)], lambda a: a.max(-1, keepdim=True).values),
    ("sum_axis_empty", [IN(*R, 0, -1)], lambda a: a.sum(0)),
    ("mean_axis_empty_kept", [IN(*R, 0, -1)], lambda a: a.mean(1)),
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "..", "tests", "data", "ops_elementwise.txt")
    gen = torch.Generator().manual_seed(20240611)
    w = RefWriter(path)
    names = set()
    for name, specs, fn in ELEMENTWISE + REDUCE:
        assert name not in names, name
        names.add(name)
        inputs = []
        for lo, hi, shape in specs:
            dims = [DIMS[d] if d < 0 else d for d in shape]
            u = torch.rand(dims, generator=gen, dtype=torch.float64)
            inputs.append(lo + (hi - lo) * u)
        with torch.no_grad():
            out = fn(*inputs)
        w.case(name, inputs, [out])
    w.close()
    print("%d cases -> %s" % (len(names), os.path.normpath(path)))


if __name__ == "__main__":
    main()
