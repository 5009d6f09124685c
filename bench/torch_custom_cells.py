#!/usr/bin/python3
"""PyTorch twins of the custom-cell benchmark's user cells: the composed LSTM and
GRU (retrograd's rg_cell_lstm_composed / rg_cell_gru_composed) and the cells of
examples/cell_plugin.c (peephole_lstm, ln_lstm, mingru), each written as a
PyTorch user writes a cell of their own: an nn.Module whose forward projects the
inputs of all steps at once (as retrograd's `project` hook does) and then steps
the cell in a Python loop over time.  --mode script runs the same module
through torch.jit.script (the loop in TorchScript's interpreter).

The model and the step are bench_charlm's (and ../shared/bench/torch_charlm.py's):
Embedding(V,H) -> the cell's layers -> Linear(H,V) -> mean cross-entropy; Adam
lr 2e-3; clip_grad_norm_ 5; a batch of random windows of unroll+1 bytes from the
zero state; float32; 1 torch thread and 1 OpenBLAS thread (set through ctypes,
torch.set_num_threads does not reach Debian's OpenBLAS).

    /usr/bin/python3 bench/torch_custom_cells.py --cell ln_lstm --config small --seconds 4
    /usr/bin/python3 bench/torch_custom_cells.py --cell mingru --config medium --mode script

prints `RESULT {json}` with chars_per_s, chars_per_cpu_s (the process's CPU
seconds over the timed steps), ms_per_step and OpenBLAS's kernel.

Parameters carry retrograd's role names and shapes (weight_ih [G*H,I], ...), so
tools/custom_cell_refs.py can write these modules' float64 outputs and gradients
for tests/test_plugins.c to replay against ours.
"""
import argparse
import ctypes
import json
import math
import time
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

CONFIGS = {"small": (1, 128, 64, 32), "medium": (2, 256, 64, 32)}  # layers, hidden, unroll, batch


class Layer(nn.Module):
    """One layer of a cell: `roles` is {name: shape} with G = gates, H, I."""

    def __init__(self, I, H, roles):
        super().__init__()
        self.H = H
        k = 1.0 / math.sqrt(H)
        for name, shape in roles.items():
            self.register_parameter(name, nn.Parameter(torch.empty(*shape).uniform_(-k, k)))


class LSTMComposed(Layer):
    """PyTorch's LSTM (gates i,f,g,o) from linear, chunk, sigmoid, tanh, mul."""

    def __init__(self, I, H):
        super().__init__(I, H, {"weight_ih": (4 * H, I), "weight_hh": (4 * H, H),
                                "bias_ih": (4 * H,), "bias_hh": (4 * H,)})

    def forward(self, x: Tensor) -> Tensor:  # x [T,B,I] -> [T,B,H]
        xp = F.linear(x, self.weight_ih, self.bias_ih)
        h = x.new_zeros(x.shape[1], self.H)
        c = x.new_zeros(x.shape[1], self.H)
        out: List[Tensor] = []
        for xt in xp.unbind(0):
            i, f, g, o = (xt + F.linear(h, self.weight_hh, self.bias_hh)).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            out.append(h)
        return torch.stack(out)


class GRUComposed(Layer):
    """PyTorch's GRU (r,z,n; r applied to W_hn h + b_hn)."""

    def __init__(self, I, H):
        super().__init__(I, H, {"weight_ih": (3 * H, I), "weight_hh": (3 * H, H),
                                "bias_ih": (3 * H,), "bias_hh": (3 * H,)})

    def forward(self, x: Tensor) -> Tensor:
        xp = F.linear(x, self.weight_ih, self.bias_ih)
        h = x.new_zeros(x.shape[1], self.H)
        out: List[Tensor] = []
        for xt in xp.unbind(0):
            xr, xz, xn = xt.chunk(3, 1)
            hr, hz, hn = F.linear(h, self.weight_hh, self.bias_hh).chunk(3, 1)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            h = n + z * (h - n)
            out.append(h)
        return torch.stack(out)


class PeepholeLSTM(Layer):
    """LSTM with peephole vectors p_i, p_f (on c) and p_o (on c')."""

    def __init__(self, I, H):
        super().__init__(I, H, {"weight_ih": (4 * H, I), "weight_hh": (4 * H, H),
                                "bias_ih": (4 * H,), "bias_hh": (4 * H,), "weight_ci": (H,),
                                "weight_cf": (H,), "weight_co": (H,)})

    def forward(self, x: Tensor) -> Tensor:
        xp = F.linear(x, self.weight_ih, self.bias_ih)
        h = x.new_zeros(x.shape[1], self.H)
        c = x.new_zeros(x.shape[1], self.H)
        out: List[Tensor] = []
        for xt in xp.unbind(0):
            gi, gf, gg, go = (xt + F.linear(h, self.weight_hh, self.bias_hh)).chunk(4, 1)
            i = torch.sigmoid(gi + self.weight_ci * c)
            f = torch.sigmoid(gf + self.weight_cf * c)
            c = f * c + i * torch.tanh(gg)
            h = torch.sigmoid(go + self.weight_co * c) * torch.tanh(c)
            out.append(h)
        return torch.stack(out)


class LNLSTM(Layer):
    """Ba et al. 2016: layer norm of both products (gains, no bias) and of c'."""

    def __init__(self, I, H):
        super().__init__(I, H, {"weight_ih": (4 * H, I), "weight_hh": (4 * H, H),
                                "bias": (4 * H,), "ln_ih_weight": (4 * H,),
                                "ln_hh_weight": (4 * H,), "ln_c_weight": (H,),
                                "ln_c_bias": (H,)})
        with torch.no_grad():  # examples/cell_plugin.c's initial values
            nn.init.xavier_uniform_(self.weight_ih)
            nn.init.orthogonal_(self.weight_hh)
            self.bias.zero_()
            self.bias[H:2 * H] = 1.0
            for g in (self.ln_ih_weight, self.ln_hh_weight, self.ln_c_weight):
                g.fill_(1.0)
            self.ln_c_bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        G = 4 * self.H
        xp = F.linear(x, self.weight_ih)
        h = x.new_zeros(x.shape[1], self.H)
        c = x.new_zeros(x.shape[1], self.H)
        out: List[Tensor] = []
        for xt in xp.unbind(0):
            a = (F.layer_norm(xt, [G], self.ln_ih_weight, None, 1e-5)
                 + F.layer_norm(F.linear(h, self.weight_hh), [G], self.ln_hh_weight, None, 1e-5)
                 + self.bias)
            i, f, g, o = a.chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            cn = F.layer_norm(c, [self.H], self.ln_c_weight, self.ln_c_bias, 1e-5)
            h = torch.sigmoid(o) * torch.tanh(cn)
            out.append(h)
        return torch.stack(out)


class MinGRU(Layer):
    """Feng et al. 2024, stepped sequentially: h' = h + sigmoid(z~) * (h~ - h)."""

    def __init__(self, I, H):
        super().__init__(I, H, {"weight_ih": (2 * H, I), "bias_ih": (2 * H,)})
        with torch.no_grad():
            nn.init.xavier_uniform_(self.weight_ih)

    def forward(self, x: Tensor) -> Tensor:
        xp = F.linear(x, self.weight_ih, self.bias_ih)
        h = x.new_zeros(x.shape[1], self.H)
        out: List[Tensor] = []
        for xt in xp.unbind(0):
            z, hh = xt.chunk(2, 1)
            h = h + torch.sigmoid(z) * (hh - h)
            out.append(h)
        return torch.stack(out)


CELLS = {"lstm_composed": LSTMComposed, "gru_composed": GRUComposed,
         "peephole_lstm": PeepholeLSTM, "ln_lstm": LNLSTM, "mingru": MinGRU}


def make_stack(cell, I, H, L, script=False):
    """L layers of the cell, the first reading I inputs; scripted on request."""
    layers = [CELLS[cell](I if l == 0 else H, H) for l in range(L)]
    if script:
        layers = [torch.jit.script(m) for m in layers]
    return nn.Sequential(*layers)


class CharLM(nn.Module):
    def __init__(self, cell, V, H, L, script):
        super().__init__()
        self.embed = nn.Embedding(V, H)
        self.rnn = make_stack(cell, H, H, L, script)
        self.head = nn.Linear(H, V)

    def forward(self, ids):  # ids [T,B] -> logits [T*B,V]
        return self.head(self.rnn(self.embed(ids)).reshape(-1, self.head.in_features))


def blas_one_thread():
    """OpenBLAS at 1 thread; its kernel's name ('?' when it is not found)."""
    try:
        ob = ctypes.CDLL("libopenblas.so.0")
        ob.openblas_set_num_threads(ctypes.c_int(1))
        ob.openblas_get_corename.restype = ctypes.c_char_p
        return ob.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cell", choices=sorted(CELLS), required=True)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="small")
    ap.add_argument("--mode", choices=["eager", "script"], default="eager")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--text", default="data/pride_and_prejudice.txt")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    blas_core = blas_one_thread()
    torch.manual_seed(a.seed)
    raw = open(a.text, "rb").read()
    vocab = sorted(set(raw))
    lut = [0] * 256
    for i, b in enumerate(vocab):
        lut[b] = i
    data = torch.frombuffer(bytearray(bytes(lut[b] for b in raw)), dtype=torch.uint8).long()
    V = len(vocab)
    L, H, T, B = CONFIGS[a.config]
    model = CharLM(a.cell, V, H, L, a.mode == "script")
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(a.seed + 1)
    offs = torch.arange(T + 1)[:, None]

    def step():
        w = data[torch.randint(0, data.numel() - T - 1, (B,), generator=g)[None, :] + offs]
        loss = F.cross_entropy(model(w[:-1]), w[1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        return loss.item()

    for _ in range(5):  # warm-up (TorchScript's profiling runs included)
        step()
    t0, k = time.perf_counter(), 0
    while time.perf_counter() - t0 < 1.0 or k < 2:  # calibration
        step()
        k += 1
    n = max(3, math.ceil(a.seconds / ((time.perf_counter() - t0) / k)))
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        last = step()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print("RESULT " + json.dumps(dict(
        config=a.config, cell=a.cell, mode=a.mode, threads=1, steps=n, seconds=round(dt, 3),
        ms_per_step=1e3 * dt / n, chars_per_s=B * T * n / dt, cpu_s=round(cpu, 3),
        chars_per_cpu_s=B * T * n / cpu, last_loss=last, blas_core=blas_core,
        torch=torch.__version__)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
