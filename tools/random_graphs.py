#!/usr/bin/python3
"""Random graphs of retrograd's public ops, run by PyTorch in float64: the
reference data of the randomized differential suite (tests/test_random_graphs.c,
suite 'graphs'), which replays every program with retrograd's ops, without Python.

    /usr/bin/python3 tools/random_graphs.py [--n 200] [--seed 9] [out.txt]

writes tests/data/graphs_f64.txt (default) in the text format of tools/refio.py,
one case per program.  A case's `prog` lines are the program, one instruction
per line, in execution order:

    grad i0 i2                first: the inputs that require a gradient, in order
    t3 = mul t1 i2            one output, named t<k> in order of creation
    t4 t5 = split t3 1 2      several outputs
    out t5 t9                 tensors whose values are compared
    loss t12                  the scalar that backward starts from

An argument i<k> is the case's input k, t<k> an earlier result; any other
argument is a number (axes, lengths, flags, scalars, in the order listed in OPS
below).  The case's outputs are, in order: the loss, the values of the `out`
tensors, then the gradient of each `grad` input (zeros where PyTorch has none).

Programs mix broadcasting elementwise ops, matmul, reductions (with keepdim and
negative axes), softmax, movement ops (views from reshape and row slices),
the fused recurrent rows and their plain compositions, with on purpose:
one tensor fed to both inputs of an op, overlapping views of one buffer,
fan-out, rank-0 tensors, zero-size dimensions and, in programs with quantized
inputs, exactly tied maxima.  The loss is sum(t * w) over a few unconsumed
results t with fixed random weights w (a plain sum would hide bugs).

Every op is checked before it is kept: PyTorch must accept it, its values
must be finite and moderate, nothing may sit on a kink (relu, abs, clamp), and
a maximum must be unique or an exact tie of values that both libraries compute
bit for bit (movement ops and correctly rounded arithmetic on the inputs).
"""
import argparse
import math
import os
import random
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refio import RefWriter  # noqa: E402

D = torch.float64

# name: (number of tensor arguments or -1 for a list, numbers after them)
OPS = {
    "add": 2, "sub": 2, "mul": 2, "div": 2,
    "neg": 1, "exp": 1, "log": 1, "sqrt": 1, "abs": 1, "tanh": 1, "sigmoid": 1,
    "relu": 1,
    "add_scalar": 1, "mul_scalar": 1, "pow_scalar": 1,   # + s
    "clamp": 1,                                           # + lo hi
    "matmul": 2,                                          # + ta tb
    "linear": -1,                                         # x W [b]
    "sum": 1, "mean": 1, "max": 1,
    "sum_axis": 1, "mean_axis": 1, "max_axis": 1,         # + axis keepdim
    "softmax": 1, "log_softmax": 1,                       # + axis
    "reshape": 1,                                         # + dims (one may be -1)
    "slice": 1,                                           # + axis start len
    "split": 1,                                           # + axis n -> n outputs
    "concat": -1, "stack": -1,                            # + axis
    "transpose": 1,                                       # + d0 d1
    "lstm_gates": 3,                                      # xp hp c -> h c
    "gru_gates": 3,                                       # xp hp h -> h
    "lstm_cell": -1,                                      # xp h c W [b] -> h c
    "lstm_cell_rows": 6,                                  # P ids h c W b -> h c
    "embedding": 2,                                       # W ids
    "embedding_linear": -1,                               # E ids W [b]
    "cross_entropy": 2,                                   # logits targets + red
    "mse": 2,                                             # a b + red
}


def lstm_gates(xp, hp, c):
    i, f, g, o = (xp + hp).chunk(4, dim=1)
    c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c2), c2


def gru_gates(xp, hp, h):
    xr, xz, xn = xp.chunk(3, dim=1)
    hr, hz, hn = hp.chunk(3, dim=1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (1 - z) * n + z * h


def red(k):
    return "mean" if k == 0 else "sum"


def run_op(op, ts, nums):
    """PyTorch's meaning of one instruction: a list of outputs."""
    a = ts[0] if ts else None
    n = [int(v) for v in nums] if op not in ("add_scalar", "mul_scalar", "pow_scalar",
                                              "clamp") else nums
    if op in ("add", "sub", "mul", "div"):
        return [{"add": torch.add, "sub": torch.sub, "mul": torch.mul,
                 "div": torch.div}[op](a, ts[1])]
    if op in ("neg", "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu"):
        return [getattr(torch, op)(a)]
    if op == "add_scalar":
        return [a + n[0]]
    if op == "mul_scalar":
        return [a * n[0]]
    if op == "pow_scalar":
        return [torch.pow(a, n[0])]
    if op == "clamp":
        return [torch.clamp(a, n[0], n[1])]
    if op == "matmul":
        x = a.transpose(-1, -2) if n[0] else a
        y = ts[1].transpose(-1, -2) if n[1] else ts[1]
        return [torch.matmul(x, y)]
    if op == "linear":
        return [F.linear(a, ts[1], ts[2] if len(ts) > 2 else None)]
    if op in ("sum", "mean"):
        return [getattr(torch, op)(a)]
    if op == "max":
        return [torch.max(a)]
    if op in ("sum_axis", "mean_axis"):
        return [getattr(torch, op[:-5])(a, n[0], keepdim=bool(n[1]))]
    if op == "max_axis":
        return [torch.max(a, n[0], keepdim=bool(n[1])).values]
    if op == "softmax":
        return [torch.softmax(a, n[0])]
    if op == "log_softmax":
        return [torch.log_softmax(a, n[0])]
    if op == "reshape":
        return [a.reshape(n)]
    if op == "slice":
        return [a.narrow(n[0], n[1], n[2])]
    if op == "split":
        return list(torch.tensor_split(a, n[1], n[0]))
    if op == "concat":
        return [torch.cat(ts, n[0])]
    if op == "stack":
        return [torch.stack(ts, n[0])]
    if op == "transpose":
        return [a.transpose(n[0], n[1])]
    if op == "lstm_gates":
        return list(lstm_gates(*ts))
    if op == "gru_gates":
        return [gru_gates(*ts)]
    if op == "lstm_cell":
        xp, h, c, W = ts[:4]
        return list(lstm_gates(xp, F.linear(h, W, ts[4] if len(ts) > 4 else None), c))
    if op == "lstm_cell_rows":
        P, ids, h, c, W, b = ts
        return list(lstm_gates(P[ids.long()], F.linear(h, W, b), c))
    if op == "embedding":
        return [F.embedding(ts[1].long(), a)]
    if op == "embedding_linear":
        return [F.linear(F.embedding(ts[1].long(), a), ts[2], ts[3] if len(ts) > 3 else None)]
    if op == "cross_entropy":
        return [F.cross_entropy(a, ts[1].long(), reduction=red(n[0]))]
    if op == "mse":
        return [F.mse_loss(a, ts[1], reduction=red(n[0]))]
    raise ValueError(op)


# Ops whose results both libraries compute bit for bit from bit-equal operands
# (movement, selection, correctly rounded arithmetic): ties among such values
# are real ties on both sides.
EXACT = {"add", "sub", "mul", "div", "neg", "abs", "relu", "sqrt", "add_scalar",
         "mul_scalar", "clamp", "max", "max_axis", "reshape", "slice", "split", "concat",
         "stack", "transpose", "embedding"}


class Reject(Exception):
    pass


class Program:
    def __init__(self, rng, quant):
        self.rng = rng
        self.quant = quant
        self.inputs = []    # torch tensors (leaves)
        self.in_grad = []   # requires a gradient
        self.vals = {}      # name -> torch value
        self.exact = {}     # name -> bit-exact on both sides
        self.uses = {}      # name -> times used
        self.pool = []      # float names available as operands
        self.lines = []
        self.n_t = 0
        self.ops_used = set()
        self.ties = []      # max ops kept with tied maxima

    # ---- inputs ----
    def new_input(self, shape, grad=True, lo=-1.5, hi=1.5):
        r = self.rng
        if self.quant and grad:
            vals = [r.choice([-1.5, -1.0, -0.5, 0.5, 1.0, 1.5]) for _ in range(math.prod(shape))]
        else:
            vals = [lo + (hi - lo) * r.random() for _ in range(math.prod(shape))]
        t = torch.tensor(vals, dtype=D).reshape(shape)
        if grad:
            t.requires_grad_(True)
        name = "i%d" % len(self.inputs)
        self.inputs.append(t)
        self.in_grad.append(grad)
        self.vals[name] = t
        self.exact[name] = True
        if grad:
            self.pool.append(name)
        return name

    def new_ids(self, shape, hi):
        vals = [self.rng.randrange(hi) for _ in range(math.prod(shape))]
        t = torch.tensor(vals, dtype=torch.int32).reshape(shape)
        name = "i%d" % len(self.inputs)
        self.inputs.append(t)
        self.in_grad.append(False)
        self.vals[name] = t
        return name

    # ---- instructions ----
    def emit(self, op, args, nums, check=None):
        """Runs op in PyTorch; keeps it (returns the output names) or raises Reject."""
        ts = [self.vals[a] for a in args]
        try:
            outs = run_op(op, ts, nums)
        except (RuntimeError, IndexError, ValueError) as e:
            raise Reject(str(e))
        for o in outs:
            if o.numel() > 256:
                raise Reject("too large")
            if o.numel() and (not torch.isfinite(o).all() or o.abs().max() > 1e4):
                raise Reject("not finite or too large")
        if check:
            check(ts, outs)
        names = []
        for o in outs:
            name = "t%d" % self.n_t
            self.n_t += 1
            self.vals[name] = o
            self.exact[name] = op in EXACT and all(self.exact.get(a, True) for a in args)
            self.pool.append(name)
            names.append(name)
        for a in args:
            self.uses[a] = self.uses.get(a, 0) + 1
        fmt = []
        for v in nums:
            fmt.append(repr(float(v)) if isinstance(v, float) else str(int(v)))
        self.lines.append("%s = %s %s" % (" ".join(names), op, " ".join(list(args) + fmt)))
        self.ops_used.add(op)
        return names

    # ---- operand choice ----
    def pick(self, cond=None):
        """A pool tensor (recent ones and results not used yet more likely), or None."""
        cands = [n for n in self.pool if cond is None or cond(self.vals[n])]
        fresh = [n for n in cands if n.startswith("t") and not self.uses.get(n)]
        if fresh and self.rng.random() < 0.6:
            cands = fresh
        if not cands:
            return None
        k = len(cands)
        i = min(k - 1, int(k * (1 - self.rng.random() ** 2)))
        return cands[i]

    def shape(self, name):
        return list(self.vals[name].shape)


def rand_shape(r, rank, zero_ok):
    return [r.choice([0, 1, 2, 3] if zero_ok and r.random() < 0.15 else [1, 2, 3, 4])
            for _ in range(rank)]


def bcast_partner(r, shape):
    """A shape that broadcasts with shape: dims dropped from the left or set to 1."""
    s = list(shape)
    if s and r.random() < 0.5:
        s = s[r.randrange(len(s) + 1):]
    s = [1 if r.random() < 0.3 else d for d in s]
    return s


def away_from(x, points, gap):
    return all(((x - p).abs() > gap).all() for p in points)


def check_max(prog, src, axis):
    def chk(ts, outs):
        x = ts[0].detach()
        if x.numel() == 0:
            return
        if axis is None:
            x = x.reshape(-1, 1)
            ax = 0
        else:
            ax = axis
            if x.dim() == 0:
                return
        m = x.max(ax, keepdim=True).values
        gap = (m - x)
        near = (gap > 0) & (gap < 1e-7 * (1 + m.abs()))
        if near.any():
            raise Reject("near tie")
        ties = ((gap == 0).sum(ax) > 1).any()
        if ties and not prog.exact.get(src, True):
            raise Reject("tie of inexact values")
        if ties:
            prog.ties.append("max" if axis is None else "max_axis")
    return chk


def gen_elementwise(p, r):
    a = p.pick()
    if a is None:
        raise Reject("empty pool")
    x = p.vals[a]
    op = r.choice(["add", "sub", "mul", "div", "neg", "exp", "log", "sqrt", "abs", "tanh",
                   "sigmoid", "relu", "add_scalar", "mul_scalar", "pow_scalar", "clamp",
                   "add", "mul", "sub", "tanh"])
    if op in ("add", "sub", "mul", "div"):
        roll = r.random()
        if roll < 0.2:
            b = a                                    # the same tensor twice
        elif roll < 0.55:
            b = p.pick(lambda v: _broadcasts(v.shape, x.shape)) or a
        else:
            b = p.new_input(bcast_partner(r, x.shape), grad=r.random() < 0.8)
        if r.random() < 0.3:
            a, b = b, a
        chk = None
        if op == "div":
            def chk(ts, outs):
                if ts[1].numel() and (ts[1].abs() < 0.2).any():
                    raise Reject("small denominator")
        return p.emit(op, [a, b], [], chk)
    chk = None
    nums = []
    if op == "log" or op == "sqrt":
        def chk(ts, outs):
            if ts[0].numel() and (ts[0] < 0.1).any():
                raise Reject("log/sqrt domain")
    elif op in ("abs", "relu"):
        def chk(ts, outs):
            if ts[0].numel() and (ts[0].abs() < 1e-3).any():
                raise Reject("kink")
    elif op == "exp":
        def chk(ts, outs):
            if ts[0].numel() and (ts[0] > 5).any():
                raise Reject("exp too large")
    elif op == "add_scalar":
        nums = [r.choice([1.0, -0.5, 0.25, 2.0])]
    elif op == "mul_scalar":
        nums = [r.choice([2.0, -1.0, 0.5, -0.75, 1.5])]
    elif op == "pow_scalar":
        pw = r.choice([2.0, 3.0, 0.5, -1.0, 1.5])
        nums = [pw]

        def chk(ts, outs):
            v = ts[0]
            if v.numel() == 0:
                return
            if pw in (0.5, 1.5) and (v < 0.1).any():
                raise Reject("pow domain")
            if pw == -1.0 and (v.abs() < 0.2).any():
                raise Reject("pow pole")
    elif op == "clamp":
        lo, hi = r.choice([(-0.5, 0.5), (-1.0, 0.75), (0.0, 2.0), (-0.25, 0.25)])
        nums = [lo, hi]

        def chk(ts, outs):
            if ts[0].numel() and not away_from(ts[0], [lo, hi], 1e-3):
                raise Reject("clamp boundary")
    return p.emit(op, [a], nums, chk)


def _broadcasts(s1, s2):
    s1, s2 = list(s1), list(s2)
    for i in range(1, min(len(s1), len(s2)) + 1):
        if s1[-i] != s2[-i] and s1[-i] != 1 and s2[-i] != 1:
            return False
    return True


def gen_reduce(p, r):
    a = p.pick()
    if a is None:
        raise Reject("empty pool")
    x = p.vals[a]
    ops = ["sum", "mean", "max", "sum_axis", "mean_axis", "max_axis", "max_axis", "sum_axis"]
    if p.quant:                                     # inputs with ties: more maxima
        ops += ["max", "max_axis", "max"]
    op = r.choice(ops)
    if op.startswith("max") and p.quant and r.random() < 0.7:
        exact = [n for n in p.pool if p.exact.get(n) and p.vals[n].numel() > 1]
        a = r.choice(exact) if exact else a        # where ties are exact on both sides
        x = p.vals[a]
    if op in ("sum", "mean", "max"):
        return p.emit(op, [a], [], check_max(p, a, None) if op == "max" else None)
    rank = max(x.dim(), 1)
    axis = r.randrange(-rank, rank)
    keep = r.randrange(2)
    return p.emit(op, [a], [axis, keep], check_max(p, a, axis) if op == "max_axis" else None)


def gen_softmax(p, r):
    a = p.pick()
    if a is None:
        raise Reject("empty pool")
    rank = max(p.vals[a].dim(), 1)
    return p.emit(r.choice(["softmax", "log_softmax"]), [a], [r.randrange(-rank, rank)])


def factor_shape(r, numel):
    """A random shape with numel elements (rank 0..4)."""
    if numel == 0:
        rank = r.randrange(1, 4)
        s = [r.randrange(1, 4) for _ in range(rank)]
        s[r.randrange(rank)] = 0
        return s
    dims = []
    rest = numel
    for _ in range(r.randrange(0, 4)):
        divs = [d for d in range(1, rest + 1) if rest % d == 0]
        d = r.choice(divs)
        dims.append(d)
        rest //= d
    if rest > 1 or not dims and numel > 1:
        dims.append(rest)
    if r.random() < 0.3 and dims and len(dims) < 4:
        dims.insert(r.randrange(len(dims) + 1), 1)
    r.shuffle(dims)
    if dims and r.random() < 0.4:
        dims[r.randrange(len(dims))] = -1
    return dims[:4]


def gen_movement(p, r):
    a = p.pick()
    if a is None:
        raise Reject("empty pool")
    x = p.vals[a]
    s = list(x.shape)
    op = r.choice(["reshape", "slice", "slice", "split", "concat", "stack", "transpose"])
    if op == "reshape":
        return p.emit(op, [a], factor_shape(r, x.numel()))
    if op == "transpose":
        rank = max(x.dim(), 1)
        return p.emit(op, [a], [r.randrange(-rank, rank), r.randrange(-rank, rank)])
    if not s:
        raise Reject("rank 0")
    ax = r.randrange(len(s))
    axis = ax - len(s) if r.random() < 0.3 else ax
    if op == "slice":
        start = r.randrange(s[ax] + 1)
        length = r.randrange(s[ax] - start + 1)
        return p.emit(op, [a], [axis, start, length])
    if op == "split":
        divs = [k for k in (1, 2, 3) if s[ax] % k == 0]
        return p.emit(op, [a], [axis, r.choice(divs)])
    if op == "concat":
        parts = [a]
        for _ in range(r.randrange(1, 3)):
            roll = r.random()
            if roll < 0.35:
                parts.append(a)                     # the same tensor again
            else:
                s2 = list(s)
                s2[ax] = r.randrange(0, 3)
                parts.append(p.new_input(s2, grad=r.random() < 0.8))
        r.shuffle(parts)
        return p.emit(op, parts, [axis])
    # stack: same shapes, along a new axis in [-(rank+1), rank]
    parts = [a] + [a if r.random() < 0.4 else p.new_input(s) for _ in range(r.randrange(1, 3))]
    if len(s) >= 4:
        raise Reject("rank too large to stack")
    return p.emit(op, parts, [r.randrange(-len(s) - 1, len(s) + 1)])


def gen_matmul(p, r):
    a = p.pick(lambda v: v.dim() in (2, 3))
    if a is None:
        a = p.new_input(rand_shape(r, r.choice([2, 3]), True))
    x = p.vals[a]
    ta, tb = r.randrange(2), r.randrange(2)
    M, K = (x.shape[-1], x.shape[-2]) if ta else (x.shape[-2], x.shape[-1])
    N = r.randrange(0 if r.random() < 0.1 else 1, 4)
    if x.dim() == 3 and r.random() < 0.5:
        bs = [x.shape[0], N, K] if tb else [x.shape[0], K, N]
    else:
        bs = [N, K] if tb else [K, N]
    if r.random() < 0.25 and list(x.shape[-2:]) == bs[-2:] and len(bs) == x.dim():
        b = a                                       # a @ a (or a^T a ...)
    else:
        b = p.pick(lambda v: list(v.shape) == bs) or p.new_input(bs, grad=r.random() < 0.85)
    return p.emit("matmul", [a, b], [ta, tb])


def gen_linear(p, r):
    a = p.pick(lambda v: v.dim() == 2)
    if a is None:
        a = p.new_input(rand_shape(r, 2, True))
    N, I = p.shape(a)
    O = r.randrange(1, 4)
    W = p.pick(lambda v: list(v.shape) == [O, I]) if r.random() < 0.3 else None
    W = W or p.new_input([O, I])
    args = [a, W]
    if r.random() < 0.7:
        args.append(p.new_input([O]))
    return p.emit("linear", args, [])


def make_2d(p, r, B, C):
    """A [B,C] operand: a pool tensor of that shape, a fresh input, a linear map
    of a pool tensor, or a row slice of a bigger fresh tensor."""
    roll = r.random()
    if roll < 0.3:
        t = p.pick(lambda v: list(v.shape) == [B, C])
        if t:
            return t
    if roll < 0.55:
        return p.new_input([B, C])
    if roll < 0.8:
        x = p.pick(lambda v: v.dim() == 2 and v.shape[0] == B)
        if x:
            K = p.shape(x)[1]
            return p.emit("linear", [x, p.new_input([C, K]), p.new_input([C])], [])[0]
    big = p.new_input([B + 1, C])
    return p.emit("slice", [big], [0, r.randrange(2), B])[0]


def gate_inputs(p, r, G):
    """xp, hp [B,G*H] and a state [B,H], with aliasing on purpose: hp may be xp
    itself or a view overlapping it, the state a view of the same buffer."""
    B, H = r.choice([1, 2, 3, 0] if r.random() < 0.1 else [1, 2, 3]), r.randrange(1, 4)
    roll = r.random()
    if roll < 0.25:                                 # xp and hp: one tensor
        xp = make_2d(p, r, B, G * H)
        hp = xp
        s = make_2d(p, r, B, H)
    elif roll < 0.5:                                # overlapping row views of one buffer
        base = p.new_input([B + 1, G * H])
        xp = p.emit("slice", [base], [0, 0, B])[0]
        hp = p.emit("slice", [base], [0, 1, B])[0]
        flat = p.emit("reshape", [base], [-1])[0]
        win = p.emit("slice", [flat], [0, r.randrange(0, G * H + 1), B * H])[0]
        s = p.emit("reshape", [win], [B, H])[0]
    else:
        xp, hp, s = make_2d(p, r, B, G * H), make_2d(p, r, B, G * H), make_2d(p, r, B, H)
    return B, H, xp, hp, s


def gen_gates(p, r):
    kind = r.choice(["gru_gates", "lstm_gates", "lstm_cell", "lstm_cell_rows"])
    if kind == "gru_gates":
        B, H, xp, hp, s = gate_inputs(p, r, 3)
        return p.emit(kind, [xp, hp, s], [])
    B, H, xp, hp, s = gate_inputs(p, r, 4)
    if kind == "lstm_gates":
        return p.emit(kind, [xp, hp, s], [])
    roll = r.random()
    h = s if roll < 0.3 else make_2d(p, r, B, H)   # h and c: one tensor at times
    W = p.new_input([4 * H, H])
    if r.random() < 0.2:                           # a W with history: no deferred GEMM
        W = p.emit("mul_scalar", [W], [0.5])[0]
    b = p.new_input([4 * H]) if kind == "lstm_cell_rows" or r.random() < 0.6 else None
    if kind == "lstm_cell":
        return p.emit(kind, [xp, h, s, W] + ([b] if b else []), [])
    V = r.randrange(1, 5)
    P = hp if r.random() < 0.3 and B == V else make_2d(p, r, V, 4 * H)
    ids = p.new_ids([B], V)
    return p.emit(kind, [P, ids, h, s, W, b], [])


def gen_embedding(p, r):
    V, I = r.randrange(1, 5), r.randrange(1, 4)
    E = make_2d(p, r, V, I)
    ids = p.new_ids(rand_shape(r, r.randrange(0, 3), True), V)
    if r.random() < 0.4:
        return p.emit("embedding", [E, ids], [])
    O = r.randrange(1, 4)
    W = E if O == V and r.random() < 0.5 else make_2d(p, r, O, I)
    args = [E, ids, W]
    if r.random() < 0.6:
        args.append(p.new_input([O]))
    return p.emit("embedding_linear", args, [])


def gen_loss_op(p, r):
    if r.random() < 0.5:
        x = p.pick(lambda v: v.dim() == 2 and v.shape[1] >= 1)
        if x is None:
            x = p.new_input([r.randrange(1, 4), r.randrange(1, 4)])
        N, C = p.shape(x)
        t = p.new_ids([N], C)
        return p.emit("cross_entropy", [x, t], [r.randrange(2)])
    a = p.pick()
    if a is None:
        raise Reject("empty pool")
    b = a if r.random() < 0.2 else (p.pick(lambda v: v.shape == p.vals[a].shape) or
                                    p.new_input(p.shape(a), grad=r.random() < 0.7))
    return p.emit("mse", [a, b], [r.randrange(2)])


GENERATORS = [(gen_elementwise, 10), (gen_reduce, 4), (gen_softmax, 2), (gen_movement, 6),
              (gen_matmul, 2), (gen_linear, 1), (gen_gates, 2), (gen_embedding, 1),
              (gen_loss_op, 1)]


def make_program(r, pid):
    quant = r.random() < 0.3
    p = Program(r, quant)
    rank = r.choice([0, 1, 2, 2, 3, 4])
    zero = r.random() < 0.12
    shape = rand_shape(r, rank, zero)
    if zero and rank and 0 not in shape:
        shape[r.randrange(rank)] = 0
    p.new_input(shape)
    if r.random() < 0.5:
        p.new_input(bcast_partner(r, shape))
    if r.random() < 0.2:
        p.new_input([])                             # a rank-0 input
    target = r.randrange(4, 14)
    gens, weights = zip(*GENERATORS)
    if quant:
        weights = [w * 3 if g is gen_reduce else w for g, w in GENERATORS]
    tries = 0
    while len(p.lines) < target and tries < 400:
        tries += 1
        g = r.choices(gens, weights)[0]
        saved = (len(p.inputs), len(p.lines), p.n_t, list(p.pool), dict(p.uses),
                 set(p.ops_used), list(p.ties))
        try:
            g(p, r)
        except Reject:
            # drop what the failed attempt added (inputs, helper instructions)
            n_in, n_lines, n_t, pool, uses, p.ops_used, p.ties = saved
            del p.inputs[n_in:], p.in_grad[n_in:], p.lines[n_lines:]
            for k in range(n_t, p.n_t):
                p.vals.pop("t%d" % k, None)
            for k in range(n_in, n_in + 64):
                p.vals.pop("i%d" % k, None)
            p.n_t, p.pool, p.uses = n_t, pool, uses
    return finish(p, r)


def finish(p, r):
    """Loss = sum over the unconsumed results t of sum(t * w)."""
    sinks = [n for n in p.pool if n.startswith("t") and p.uses.get(n, 0) == 0]
    if not sinks:
        sinks = [n for n in p.pool if n.startswith("t")][-1:]
    if not sinks:
        return None
    terms = []
    for s in sinks:
        w = p.new_input(p.shape(s), grad=False, lo=-1.0, hi=1.0)
        m = p.emit("mul", [s, w], [])[0]
        terms.append(p.emit("sum", [m], [])[0])
    loss = terms[0]
    for t in terms[1:]:
        loss = p.emit("add", [loss, t], [])[0]
    lv = p.vals[loss]
    grads = [i for i, g in enumerate(p.in_grad) if g]
    lv.backward()
    outs = [lv.detach()] + [p.vals[s].detach() for s in sinks]
    for i in grads:
        g = p.inputs[i].grad
        outs.append(torch.zeros_like(p.inputs[i]) if g is None else g)
    lines = ["grad " + " ".join("i%d" % i for i in grads)] + p.lines
    lines.append("out " + " ".join(sinks))
    lines.append("loss " + loss)
    inputs = [t.detach() for t in p.inputs]
    if len(inputs) > 32 or len(outs) > 32:     # RG_REF_MAX_TENSORS
        return None
    return inputs, outs, lines, p.ops_used, p.ties


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("out", nargs="?", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "graphs_f64.txt"))
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    r = random.Random(args.seed)
    w = RefWriter(args.out)
    used = set()
    ties = []
    k = 0
    while k < args.n:
        prog = make_program(r, k)
        if prog is None:
            continue
        inputs, outs, lines, ops, prog_ties = prog
        w.case("g%03d" % k, inputs, outs, prog=lines)
        used |= ops
        ties += prog_ties
        k += 1
    w.close()
    missing = sorted(set(OPS) - used)
    print("%d programs -> %s; ties: max %d, max_axis %d; ops never used: %s" % (
        args.n, os.path.normpath(args.out), ties.count("max"), ties.count("max_axis"),
        ", ".join(missing) or "none"))


if __name__ == "__main__":
    main()
