#!/usr/bin/python3
"""PyTorch float64 forward references for the rows of tests/rows_norm.c (same
case names), written to tests/data/ops_norm.txt.  torch 1.13 has no
F.rms_norm: RMSNorm is written out (x / sqrt(mean(x^2) + eps) * w).

    /usr/bin/python3 tools/op_refs_norm.py [out.txt]
"""
import os
import sys

import torch
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refcases import F, write  # noqa: E402


def ln(eps, w=False, b=False):
    def fn(x, *p):
        p = list(p)
        weight = p.pop(0) if w else None
        bias = p.pop(0) if b else None
        return Fn.layer_norm(x, (x.shape[-1],), weight, bias, eps)
    return fn


def rms(eps):
    def fn(x, w=None):
        y = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps)
        return y if w is None else y * w
    return fn


CASES = [
    ("layer_norm_wb", [F(-2, 2, -1, -2, 5), F(0.5, 1.5, 5), F(-1, 1, 5)], ln(1e-5, True, True)),
    ("layer_norm_wb_rank1", [F(-2, 2, 6), F(0.5, 1.5, 6), F(-1, 1, 6)], ln(1e-5, True, True)),
    ("layer_norm_plain", [F(-2, 2, -1, -2)], ln(1e-5)),
    ("layer_norm_weight", [F(-2, 2, -1, 4), F(-1.5, 1.5, 4)], ln(1e-3, w=True)),
    ("layer_norm_bias", [F(-2, 2, -1, -2, 3), F(-1, 1, 3)], ln(0.1, b=True)),
    ("rms_norm_weight", [F(-2, 2, -1, -2, 5), F(0.5, 1.5, 5)], rms(1e-6)),
    ("rms_norm_plain", [F(-2, 2, -1, -2)], rms(1e-2)),
]

if __name__ == "__main__":
    write("ops_norm.txt", CASES, sys.argv, 33)
