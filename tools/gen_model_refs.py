"""PyTorch reference values for tests/test_models.c: torch.nn.RNN (tanh, relu),
LSTM and GRU with 1-3 layers, one or two directions, batch > 1, optional initial
states and variable lengths (pack_padded_sequence, unsorted).

    /usr/bin/python3 tools/gen_model_refs.py      # writes tests/data/models_f64.txt, models_f32.txt

For each model, case NAME holds
    inputs : meta i32 [cell, L, D, has_h0, has_lengths, I, H]  (cell: 0 rnn_tanh,
             1 rnn_relu, 2 lstm, 3 gru), x [T,B,I], lengths i32 [B], h0 [L*D,B,H],
             c0 [L*D,B,H], wout [T,B,D*H], wh [L*D,B,H], wc [L*D,B,H]
    outputs: out [T,B,D*H], h_n, c_n, loss [], dloss/dx, dloss/dh0, dloss/dc0
with loss = sum(out*wout) + sum(h_n*wh) + sum(c_n*wc) (c0, c_n, wc are zeros
for cells without c), and case NAME.l{k}[_reverse] holds the four parameters
of that layer and direction (weight_ih, weight_hh, bias_ih, bias_hh) as inputs
and their gradients as outputs.  The float32 file runs the same model in
float32 from the float32-rounded values.
"""
import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refio import RefWriter  # noqa: E402

I, H = 3, 4
CELLS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
# (suffix, L, D, B, T, lengths or None, has_h0)
CONFIGS = [
    ("l1", 1, 1, 3, 5, None, False),
    ("l2_h0", 2, 1, 2, 4, None, True),
    ("l3_bi_h0", 3, 2, 3, 4, None, True),
    ("l1_bi_len", 1, 2, 4, 6, [6, 3, 5, 1], False),
    ("l2_len_h0", 2, 1, 3, 5, [2, 5, 4], True),
    ("l2_bi_len_h0", 2, 2, 3, 5, [5, 2, 4], True),
]


def make(cell, L, D):
    kw = dict(num_layers=L, bidirectional=D == 2)
    if cell == "lstm":
        return nn.LSTM(I, H, **kw)
    if cell == "gru":
        return nn.GRU(I, H, **kw)
    return nn.RNN(I, H, nonlinearity=cell[4:], **kw)


def run(model, cell, x, lengths, h0, c0, wout, wh, wc):
    T = x.shape[0]
    x = x.clone().requires_grad_(True)
    h0 = h0.clone().requires_grad_(True)
    c0 = c0.clone().requires_grad_(True)
    state = (h0, c0) if cell == "lstm" else h0
    if lengths is not None:
        packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        out, fin = model(packed, state)
        out, _ = pad_packed_sequence(out, total_length=T)
    else:
        out, fin = model(x, state)
    if cell == "lstm":
        h_n, c_n = fin
    else:
        h_n, c_n = fin, torch.zeros_like(h0)
    loss = (out * wout).sum() + (h_n * wh).sum() + (c_n * wc).sum()
    model.zero_grad()
    loss.backward()
    dc0 = c0.grad if c0.grad is not None else torch.zeros_like(c0)
    return out, h_n, c_n, loss, x.grad, h0.grad, dc0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    data = os.path.join(here, "..", "tests", "data")
    writers = {torch.float64: RefWriter(os.path.join(data, "models_f64.txt")),
               torch.float32: RefWriter(os.path.join(data, "models_f32.txt"))}
    torch.manual_seed(20240601)
    for ci, cell in enumerate(CELLS):
        for suffix, L, D, B, T, lengths, has_h0 in CONFIGS:
            name = "%s_%s" % (cell, suffix)
            model64 = make(cell, L, D).double()
            x = torch.randn(T, B, I, dtype=torch.float64)
            h0 = torch.randn(L * D, B, H, dtype=torch.float64) if has_h0 else \
                torch.zeros(L * D, B, H, dtype=torch.float64)
            c0 = torch.randn(L * D, B, H, dtype=torch.float64) if has_h0 and cell == "lstm" \
                else torch.zeros(L * D, B, H, dtype=torch.float64)
            wout = torch.randn(T, B, D * H, dtype=torch.float64)
            wh = torch.randn(L * D, B, H, dtype=torch.float64)
            wc = torch.randn(L * D, B, H, dtype=torch.float64) if cell == "lstm" else \
                torch.zeros(L * D, B, H, dtype=torch.float64)
            lens = torch.tensor(lengths if lengths else [T] * B, dtype=torch.int32)
            meta = torch.tensor([ci, L, D, int(has_h0), int(lengths is not None), I, H],
                                dtype=torch.int32)
            for dt, w in writers.items():
                model = make(cell, L, D).to(dt)
                model.load_state_dict({k: v.to(dt) for k, v in model64.state_dict().items()})
                ins = [t.to(dt) for t in (x, h0, c0, wout, wh, wc)]
                res = run(model, cell, ins[0], lengths, *ins[1:])
                w.case(name, [meta, ins[0], lens] + ins[1:], list(res))
                for k in range(L):
                    for d in range(D):
                        sfx = "_l%d%s" % (k, "_reverse" if d else "")
                        ps = [getattr(model, b + sfx) for b in
                              ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                        w.case(name + "." + sfx[1:], ps, [p.grad for p in ps])
    for w in writers.values():
        w.close()


if __name__ == "__main__":
    main()
