"""Shared by tools/op_refs_{activation,indexing,scan,norm,loss}.py: input specs
that mirror the C gradient-check rows (tests/gradrows.h) and the loop that runs
each case in PyTorch float64 and writes it with refio.RefWriter.

A case is (name, [spec, ...], fn): fn gets the inputs in the row's order and
returns the row's output.  Negative dims are the rows' random dims, fixed here
to DIMS (any sizes in 1..4 are valid for the rows).
"""
import os

import torch

from refio import RefWriter

DIMS = {-1: 3, -2: 4, -3: 2, -4: 3, -5: 2, -6: 3, -7: 4, -8: 2}


def _dims(shape):
    return [DIMS[d] if d < 0 else d for d in shape]


def F(lo, hi, *shape):
    """float64 uniform in [lo, hi)."""
    return ("f", lo, hi, shape)


def I(hi, *shape):
    """integers in [0, hi) (I32 in the file); a negative hi names a random dim."""
    return ("i", 0, hi, shape)


def M(*shape):
    """an I32 0/1 mask."""
    return ("i", 0, 2, shape)


def T(t):
    """a fixed tensor (float64 or integer)."""
    return ("t", t)


def make(spec, gen):
    if spec[0] == "t":
        return spec[1]
    kind, lo, hi, shape = spec
    dims = _dims(shape)
    if kind == "i":
        hi = DIMS[hi] if hi < 0 else hi
        return torch.randint(lo, hi, dims, generator=gen, dtype=torch.int64)
    return lo + (hi - lo) * torch.rand(dims, generator=gen, dtype=torch.float64)


def write(default_name, cases, argv, seed):
    here = os.path.dirname(os.path.abspath(__file__))
    path = argv[1] if len(argv) > 1 else os.path.join(here, "..", "tests", "data", default_name)
    gen = torch.Generator().manual_seed(seed)
    w = RefWriter(path)
    names = set()
    for name, specs, fn in cases:
        assert name not in names, name
        names.add(name)
        inputs = [make(s, gen) for s in specs]
        with torch.no_grad():
            out = fn(*inputs)
        w.case(name, inputs, [out])
    w.close()
    print("%d cases -> %s" % (len(names), os.path.normpath(path)))
