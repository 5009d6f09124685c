#!/usr/bin/python3
"""The PyTorch twin of `forecast train` + `forecast eval`: the same series,
gap filling, split, standardisation, windows, model, loss, optimizer, clipping
and number of steps, and the same rolling-origin evaluation (MAE, RMSE, MASE
and the seasonal-naive MASE on the same points).

The pipeline (examples/forecast/ does exactly this):
  series   a CSV column; an empty (or NA/NaN) cell is missing and filled by
           linear interpolation between its observed neighbours (the nearest
           observed value before the first / after the last)
  split    n_test = floor(n/10) held out at the end; the rest (n_fit) trains
  scale    z = (y - mean) / std with the training span's mean and population std
  window   origin o (the first forecast index): inputs z[o-L+k] - z[o-1]
           (k < L, plus sin/cos of the calendar phase with --calendar),
           targets z[o+h] - z[o-1] (h < H): the model predicts changes from the
           last value it saw
  model    nn.LSTM/GRU/RNN(I, hidden, layers) -> last step -> Linear(hidden, H*Q)
  loss     MSE (Q = 1) or the mean pinball loss of the quantiles
  train    windows with o in [L, n_fit - H], drawn with a copy of retrograd's
           generator (seeded as the training core seeds its batch generator)
  eval     every origin o in [n_fit, n - H], scored on the observed points

With --init (a checkpoint from `forecast train --steps 0`) both start from the
same weights, and the cell, sizes, lookback, horizon, quantiles and calendar
come from the checkpoint.  Prints
  twin: steps=N loss=X points=P mae=X rmse=X mase=X snaive_mase=X
"""
import argparse
import csv
import json
import math
import os
import struct
import time

import torch
import torch.nn as nn

from torch_charlm_twin import Rng, read_safetensors  # retrograd's generator, checkpoints

SERIES = {"co2": ("co2.csv", "co2", "date", 52), "sunspots": ("sunspots.csv", "SUNACTIVITY", "YEAR", 11)}


def read_series(path, column, date_column):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    col = head.index(column)
    dcol = head.index(date_column) if date_column else None
    y, observed, dates = [], [], []
    for r in rows[1:]:
        if not r:
            continue
        cell = r[col].strip()
        miss = cell == "" or cell.lower() in ("na", "nan", "null")
        y.append(float("nan") if miss else float(cell))
        observed.append(not miss)
        dates.append(r[dcol].strip() if dcol is not None else "")
    # linear interpolation by position
    idx = [i for i, o in enumerate(observed) if o]
    for i in range(len(y)):
        if observed[i]:
            continue
        prev = max((j for j in idx if j < i), default=None)
        nxt = min((j for j in idx if j > i), default=None)
        if prev is None:
            y[i] = y[nxt]
        elif nxt is None:
            y[i] = y[prev]
        else:
            w = (i - prev) / (nxt - prev)
            y[i] = y[prev] + w * (y[nxt] - y[prev])
    return y, observed, dates


def phase_of(dates, i, season):
    """The calendar phase in [0, 1): day of the year of a YYYYMMDD or
    YYYY-MM-DD date, else the position in the season."""
    d = dates[i].replace("-", "")
    if len(d) == 8 and d.isdigit():
        yr, mo, dy = int(d[:4]), int(d[4:6]), int(d[6:])
        leap = (yr % 4 == 0 and yr % 100 != 0) or yr % 400 == 0
        cum = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]
        doy = cum[mo - 1] + dy - 1 + (1 if leap and mo > 2 else 0)
        return doy / (366.0 if leap else 365.0)
    return (i % season) / season


class Forecaster(nn.Module):
    def __init__(self, cell, I, H, L, horizon, Q):
        super().__init__()
        if cell == "lstm":
            self.rnn = nn.LSTM(I, H, L)
        elif cell == "gru":
            self.rnn = nn.GRU(I, H, L)
        else:
            self.rnn = nn.RNN(I, H, L, nonlinearity=cell[4:])
        self.head = nn.Linear(H, horizon * Q)

    def forward(self, x):  # x [T,B,I] -> [B,H*Q]
        h, _ = self.rnn(x)
        return self.head(h[-1])


def pinball(pred, tgt, q):  # pred [B,H*Q], tgt [B,H*Q], q [H*Q]
    e = tgt - pred
    return (q * torch.relu(e) + (1 - q) * torch.relu(-e)).mean()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--series", default="co2", choices=sorted(SERIES))
    p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data"))
    p.add_argument("--cell", default="lstm")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--lookback", type=int, default=104)
    p.add_argument("--horizon", type=int, default=52)
    p.add_argument("--quantiles", default="")
    p.add_argument("--calendar", action="store_true")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--init", help="start from this checkpoint (model settings from it)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    sd = None
    if a.init:
        sd, meta = read_safetensors(a.init)
        a.cell, a.series = meta["cell"], meta["series"]
        a.lookback, a.horizon = int(meta["lookback"]), int(meta["horizon"])
        a.quantiles, a.calendar = meta["quantiles"], meta["calendar"] == "1"
        a.hidden = sd["head.weight"].shape[1]
        a.layers = sum(1 for k in sd if k.startswith("rnn.weight_ih_l"))
    fname, column, date_column, season = SERIES[a.series]
    y, observed, dates = read_series(os.path.join(a.data, fname), column, date_column)
    n = len(y)
    n_test = n // 10
    n_fit = n - n_test
    mean = sum(y[:n_fit]) / n_fit
    std = math.sqrt(sum((v - mean) ** 2 for v in y[:n_fit]) / n_fit)
    z = torch.tensor([(v - mean) / std for v in y], dtype=torch.float64)
    qs = [float(q) for q in a.quantiles.split(",")] if a.quantiles else []
    Q = max(1, len(qs))
    L, Hz = a.lookback, a.horizon
    feats = [z]
    if a.calendar:
        ph = torch.tensor([phase_of(dates, i, season) for i in range(n)], dtype=torch.float64)
        feats += [torch.sin(2 * math.pi * ph), torch.cos(2 * math.pi * ph)]
    I = len(feats)

    def windows(origins):  # -> x [L,B,I], targets [B,H*Q] (float32)
        o = torch.tensor(origins)
        at = o.view(1, -1) - L + torch.arange(L).view(-1, 1)  # [L,B]
        last = z[o - 1]
        cols = [z[at] - last.view(1, -1)] + [f[at] for f in feats[1:]]
        x = torch.stack(cols, dim=2)
        tg = z[o.view(-1, 1) + torch.arange(Hz).view(1, -1)] - last.view(-1, 1)  # [B,H]
        return x.float(), tg.repeat_interleave(Q, dim=1).float(), last

    m = Forecaster(a.cell, I, a.hidden, a.layers, Hz, Q)
    if sd is not None:
        m.load_state_dict(sd, strict=True)
    qv = torch.tensor(qs if qs else [0.5], dtype=torch.float32).repeat(Hz)
    loss_of = (lambda pr, tg: pinball(pr, tg, qv)) if qs else (lambda pr, tg: ((pr - tg) ** 2).mean())
    opt = {"sgd": lambda ps: torch.optim.SGD(ps, lr=a.lr),
           "adam": lambda ps: torch.optim.Adam(ps, lr=a.lr),
           "adamw": lambda ps: torch.optim.AdamW(ps, lr=a.lr)}[a.optimizer](m.parameters())
    rng = Rng(a.seed ^ 0x6261746368)
    W = n_fit - Hz - L + 1
    seconds, recent = 0.0, []
    for step in range(1, a.steps + 1):
        t0 = time.perf_counter()
        x, tg, _ = windows([L + rng.below(W) for _ in range(a.batch)])
        loss = loss_of(m(x), tg)
        opt.zero_grad()
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(m.parameters(), a.clip)
        opt.step()
        seconds += time.perf_counter() - t0
        recent = (recent + [loss.item()])[-50:]
        if step % max(1, a.steps // 10) == 0:
            print("twin step %d/%d loss %.5f" % (step, a.steps, loss.item()), flush=True)

    # rolling-origin evaluation over the held-out tail
    mid = min(range(Q), key=lambda k: abs(qs[k] - 0.5)) if qs else 0
    origins = list(range(n_fit, n - Hz + 1))
    with torch.no_grad():
        x, _, last = windows(origins)
        out = m(x).double().view(len(origins), Hz, Q)[:, :, mid]
    pred = (out + last.view(-1, 1)) * std + mean
    ab, sq, sn, pts = 0.0, 0.0, 0.0, 0
    for i, o in enumerate(origins):
        for h in range(Hz):
            t = o + h
            if not observed[t]:
                continue
            e = pred[i, h].item() - y[t]
            ab += abs(e)
            sq += e * e
            sn += abs(y[t - season * (h // season + 1)] - y[t])
            pts += 1
    pairs = [abs(y[t] - y[t - season]) for t in range(season, n_fit) if observed[t] and observed[t - season]]
    scale = sum(pairs) / len(pairs)
    print("twin: steps=%d loss=%.6f points=%d mae=%.6f rmse=%.6f mase=%.6f snaive_mase=%.6f" % (
        a.steps, sum(recent) / max(1, len(recent)), pts, ab / pts, math.sqrt(sq / pts),
        ab / pts / scale, sn / pts / scale))


if __name__ == "__main__":
    main()
