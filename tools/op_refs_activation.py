#!/usr/bin/python3
"""PyTorch float64 forward references for the rows of tests/rows_activation.c
(same case names, inputs in the rows' order), written to
tests/data/ops_activation.txt.

    /usr/bin/python3 tools/op_refs_activation.py [out.txt]
"""
import os
import sys

import torch
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refcases import F, write  # noqa: E402


def binary_rows(op, fn):
    return [
        (op + "_same", [F(-1, 1, -1, -2), F(-1, 1, -1, -2)], fn),
        (op + "_row", [F(-1, 1, -1, -2), F(-1, 1, -2)], fn),
        (op + "_col_left", [F(-1, 1, -1, 1), F(-1, 1, -1, -2)], fn),
        (op + "_rank0", [F(-1, 1, -1, -2), F(-1, 1)], fn),
        (op + "_both", [F(-1, 1, -1, 1, -3), F(-1, 1, -2, 1)], fn),
        (op + "_rank4", [F(-1, 1, -1, -2, -3, -4), F(-1, 1, -3, 1)], fn),
    ]


CASES = (
    binary_rows("maximum", torch.maximum)
    + binary_rows("minimum", torch.minimum)
    + [
        ("maximum_self", [F(-1, 1, -1, -2)], lambda a: torch.maximum(a, a)),
        ("minimum_self", [F(-1, 1, -1, -2)], lambda a: torch.minimum(a, a)),
        ("softplus", [F(-4, 4, -1, -2)], lambda x: Fn.softplus(x, 1.0, 20.0)),
        ("softplus_beta", [F(-4, 4, -1, -2, -3)], lambda x: Fn.softplus(x, 0.5, 20.0)),
        ("softplus_threshold", [F(0.6, 2, -1, -2)], lambda x: Fn.softplus(x, 2.0, 1.0)),
        ("softplus_below_threshold", [F(-2, 0.4, -1, -2)], lambda x: Fn.softplus(x, 2.0, 1.0)),
        ("log_sigmoid", [F(-5, 5, -1, -2)], Fn.logsigmoid),
        ("log_sigmoid_rank0", [F(-5, 5)], Fn.logsigmoid),
        ("log1p", [F(-0.5, 3, -1, -2)], torch.log1p),
        ("expm1", [F(-2, 2, -1, -2)], torch.expm1),
        ("sin", [F(-3, 3, -1, -2, -3)], torch.sin),
        ("cos", [F(-3, 3, -1, -2)], torch.cos),
        ("leaky_relu_pos", [F(0.1, 2, -1, -2)], lambda x: Fn.leaky_relu(x, 0.1)),
        ("leaky_relu_neg", [F(-2, -0.1, -1, -2)], lambda x: Fn.leaky_relu(x, 0.1)),
        ("elu_pos", [F(0.1, 2, -1, -2)], lambda x: Fn.elu(x, 1.3)),
        ("elu_neg", [F(-3, -0.1, -1, -2)], lambda x: Fn.elu(x, 1.3)),
        ("gelu", [F(-4, 4, -1, -2)], lambda x: Fn.gelu(x, approximate="none")),
        ("rsub_scalar", [F(-2, 2, -1, -2)], lambda x: 1.0 - x),
        ("erf", [F(-3, 3, -1, -2)], torch.erf),
        ("erf_rank0", [F(-3, 3)], torch.erf),
    ]
)

if __name__ == "__main__":
    write("ops_activation.txt", CASES, sys.argv, 31)
