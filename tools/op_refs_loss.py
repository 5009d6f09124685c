#!/usr/bin/python3
"""PyTorch float64 forward references for the rows of tests/rows_loss.c (same
case names, inputs in the rows' order), written to tests/data/ops_loss.txt.

    /usr/bin/python3 tools/op_refs_loss.py [out.txt]
"""
import os
import sys

import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refcases import F, I, write  # noqa: E402


def bce(red):
    return lambda x, t, w=None: Fn.binary_cross_entropy_with_logits(x, t, w, reduction=red)


def nll(red):
    return lambda lp, t: Fn.nll_loss(lp, t, reduction=red)


def huber(delta, red):
    return lambda a, b: Fn.huber_loss(a, b, reduction=red, delta=delta)


def smooth_l1(beta, red):
    return lambda a, b: Fn.smooth_l1_loss(a, b, reduction=red, beta=beta)


def l1(red):
    return lambda a, b: Fn.l1_loss(a, b, reduction=red)


PAIR2 = [F(-2, 2, -1, -2), F(-2, 2, -1, -2)]
PAIR3 = [F(-2, 2, -1, -2, -3), F(-2, 2, -1, -2, -3)]
APART_POS = [F(0.1, 2, -1, -2), F(-2, -0.05, -1, -2)]
APART_NEG = [F(-2, -0.1, -1, -2, -3), F(0.05, 2, -1, -2, -3)]

CASES = [
    ("bce_with_logits_mean", [F(-4, 4, -1, -2), F(0, 1, -1, -2)], bce("mean")),
    ("bce_with_logits_sum", [F(-4, 4, -1, -2, -3), F(0, 1, -1, -2, -3)], bce("sum")),
    ("bce_with_logits_none", [F(-4, 4, -1, -2), F(0, 1, -1, -2)], bce("none")),
    ("bce_with_logits_weighted_mean", [F(-4, 4, -1, -2), F(0, 1, -1, -2), F(0, 2, -1, -2)],
     bce("mean")),
    ("bce_with_logits_weighted_none", [F(-4, 4, -1), F(0, 1, -1), F(0, 2, -1)], bce("none")),
    ("nll_mean", [F(-3, 0, -1, -2), I(-2, -1)], nll("mean")),
    ("nll_sum", [F(-3, 0, -1, -2), I(-2, -1)], nll("sum")),
    ("nll_none", [F(-3, 0, 6, -2), I(-2, 6)], nll("none")),
    ("huber_mean", PAIR2, huber(1.0, "mean")),
    ("huber_sum", PAIR3, huber(0.5, "sum")),
    ("huber_none", PAIR2, huber(2.0, "none")),
    ("smooth_l1_mean", PAIR2, smooth_l1(1.0, "mean")),
    ("smooth_l1_sum", PAIR3, smooth_l1(0.5, "sum")),
    ("smooth_l1_none", PAIR2, smooth_l1(2.0, "none")),
    ("smooth_l1_beta0", APART_POS, smooth_l1(0.0, "mean")),
    ("l1_mean", APART_POS, l1("mean")),
    ("l1_sum", APART_NEG, l1("sum")),
    ("l1_none", APART_POS, l1("none")),
    ("cross_entropy_none", [F(-2, 2, -1, -2), I(-2, -1)],
     lambda x, t: Fn.cross_entropy(x, t, reduction="none")),
    ("cross_entropy_weighted_none", [F(-2, 2, -1, -2), I(-2, -1), F(0, 1, -1)],
     lambda x, t, w: w * Fn.cross_entropy(x, t, reduction="none")),
    ("mse_none", PAIR3, lambda a, b: Fn.mse_loss(a, b, reduction="none")),
]

if __name__ == "__main__":
    write("ops_loss.txt", CASES, sys.argv, 35)
