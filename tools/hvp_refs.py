"""PyTorch reference values for tests/test_hvp.c: Hessian-vector products,
Gauss-Newton-vector products and the gradient of a gradient-norm penalty of
torch.nn.RNN (tanh, relu), LSTM and GRU models: 2 layers, bidirectional,
variable lengths (pack_padded_sequence, unsorted), float64 on the CPU, with
torch.autograd.grad(..., create_graph=True).

    /usr/bin/python3 tools/hvp_refs.py      # writes tests/data/hvp_f64.txt

The model is z = out [T,B,2H] of the stack over x with lengths; the loss
    L = CE(z) + sum(wh * h_n) (+ sum(wc * c_n) for the LSTM)
with CE(z) = sum over the T*B rows of logsumexp(z_row) - <z_row, y_row>
(y a fixed one-hot row per step: softmax cross-entropy written with exp, log
and sums, so the C side needs no fused loss).  For each cell, case hvp_<cell>:
    prog   the parameter names in registry order (one line, space separated)
    inputs : meta i32 [cell, L, D, I, H] (cell: 0 rnn_tanh, 1 rnn_relu, 2 lstm,
             3 gru), x [T,B,I], lengths i32 [B], y [T,B,2H], wh [L*D,B,H],
             wc [L*D,B,H] (zeros for cells without c)
    outputs: L [], R = ||dL/dθ||^2 []
and cases hvp_<cell>.theta (inputs: the parameters, outputs: dL/dθ),
hvp_<cell>.v (inputs: a direction v ~ N(0,1) per parameter, outputs: H v),
hvp_<cell>.pen (outputs: dR/dθ = 2 H dL/dθ, by differentiating R itself) and
hvp_<cell>.gn (outputs: G v = J^T H_CE J v, J = dz/dθ: the Gauss-Newton
matrix of CE alone on top of z; J v by the double-backward trick).
"""
import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refio import RefWriter  # noqa: E402

CELLS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
I, H, L, D, T, B = 3, 4, 2, 2, 5, 3
LENGTHS = [5, 2, 4]


def make(cell):
    kw = dict(num_layers=L, bidirectional=D == 2)
    if cell == "lstm":
        return nn.LSTM(I, H, **kw)
    if cell == "gru":
        return nn.GRU(I, H, **kw)
    return nn.RNN(I, H, nonlinearity=cell[4:], **kw)


def forward(model, cell, x):
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False)
    out, fin = model(packed)
    out, _ = pad_packed_sequence(out, total_length=T)
    if cell == "lstm":
        return out, fin[0], fin[1]
    return out, fin, None


def ce(z, y):
    return (torch.logsumexp(z, dim=-1) - (z * y).sum(-1)).sum()


def loss_of(model, cell, x, y, wh, wc):
    z, h_n, c_n = forward(model, cell, x)
    loss = ce(z, y) + (h_n * wh).sum()
    if c_n is not None:
        loss = loss + (c_n * wc).sum()
    return loss


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    w = RefWriter(os.path.join(here, "..", "tests", "data", "hvp_f64.txt"))
    torch.manual_seed(20240612)
    f64 = torch.float64
    for ci, cell in enumerate(CELLS):
        model = make(cell).double()
        names = ["rnn." + n for n, _ in model.named_parameters()]
        params = list(model.parameters())
        x = torch.randn(T, B, I, dtype=f64)
        y = torch.nn.functional.one_hot(torch.randint(0, D * H, (T, B)), D * H).to(f64)
        wh = torch.randn(L * D, B, H, dtype=f64)
        wc = torch.randn(L * D, B, H, dtype=f64) if cell == "lstm" else torch.zeros(L * D, B, H, dtype=f64)
        v = [torch.randn_like(p) for p in params]

        loss = loss_of(model, cell, x, y, wh, wc)
        g = torch.autograd.grad(loss, params, create_graph=True)
        gv = sum((gi * vi).sum() for gi, vi in zip(g, v))
        hv = torch.autograd.grad(gv, params, retain_graph=True)
        pen = sum((gi * gi).sum() for gi in g)
        dpen = torch.autograd.grad(pen, params)

        # Gauss-Newton of CE alone on top of z: J v by the double-backward trick
        z, _, _ = forward(model, cell, x)
        u = torch.zeros_like(z, requires_grad=True)
        jtu = torch.autograd.grad(z, params, grad_outputs=u, create_graph=True)
        jv = torch.autograd.grad(jtu, u, grad_outputs=v)[0]
        zd = z.detach().requires_grad_(True)
        gz = torch.autograd.grad(ce(zd, y), zd, create_graph=True)[0]
        hjv = torch.autograd.grad(gz, zd, grad_outputs=jv)[0]
        gn = torch.autograd.grad(z, params, grad_outputs=hjv)

        meta = torch.tensor([ci, L, D, I, H], dtype=torch.int32)
        lens = torch.tensor(LENGTHS, dtype=torch.int32)
        name = "hvp_" + cell
        w.case(name, [meta, x, lens, y, wh, wc], [loss.detach(), pen.detach()],
               prog=[" ".join(names)])
        w.case(name + ".theta", params, [gi.detach() for gi in g])
        w.case(name + ".v", v, hv)
        w.case(name + ".pen", [], dpen)
        w.case(name + ".gn", [], gn)
    w.close()


if __name__ == "__main__":
    main()
