#!/usr/bin/python3
"""The PyTorch twin of `charlm train`: docs/CHECKPOINT.md's CharLM trained with
the same data split, vocabulary, windows, optimizer, clipping and number of
steps, and validated with the same semantics (zero state, state carried through
the held-out tail, mean nats per char).

The training windows are drawn with a copy of retrograd's generator
(xoshiro256** seeded through splitmix64, rejection sampling), seeded as
`charlm train` seeds its batch generator, so both read the same windows in the
same order.  With --init (a checkpoint from `charlm train --steps 0`) both also
start from the same weights.

  /usr/bin/python3 bench/torch_charlm_twin.py --text data/pride_and_prejudice.txt \
      --init init.safetensors --steps 1500
prints `twin: steps=N loss=X val_bpc=Y chars_per_s=Z`.
"""
import argparse
import json
import math
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

M64 = (1 << 64) - 1


class Rng:
    """retrograd's rg_rng: xoshiro256** seeded by splitmix64."""

    def __init__(self, seed):
        x = seed & M64
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def _rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M64

    def next(self):
        s = self.s
        result = (self._rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self._rotl(s[3], 45)
        return result

    def below(self, n):
        if n <= 1:
            return 0
        lim = M64 - (M64 % n)
        while True:
            x = self.next()
            if x < lim:
                return x % n


class CharLM(nn.Module):
    def __init__(self, cell, V, E, H, L, dropout):
        super().__init__()
        self.embed = nn.Embedding(V, E)
        if cell == "lstm":
            self.rnn = nn.LSTM(E, H, L, dropout=dropout)
        elif cell == "gru":
            self.rnn = nn.GRU(E, H, L, dropout=dropout)
        else:
            self.rnn = nn.RNN(E, H, L, nonlinearity=cell[4:], dropout=dropout)
        self.head = nn.Linear(H, V)

    def forward(self, ids, state=None):
        h, state = self.rnn(self.embed(ids), state)
        return self.head(h.reshape(-1, h.shape[-1])), state


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    buf = data[8 + n:]
    tensors = {}
    for name, d in header.items():
        a, b = d["data_offsets"]
        dt = {"F32": torch.float32, "F64": torch.float64}[d["dtype"]]
        tensors[name] = torch.frombuffer(bytearray(buf[a:b]), dtype=dt).reshape(d["shape"]).float()
    return tensors, meta


VAL_PIECE = 8192  # charlm's validation pieces (examples/lm: LM_VAL_PIECE)


@torch.no_grad()
def evaluate(m, ids):
    """Mean loss over ids as charlm's validation takes it: pieces of VAL_PIECE
    predictions, each read in order (chunks of 256) from the zero state."""
    m.eval()
    total = 0.0
    for piece in range(0, len(ids) - 1, VAL_PIECE):
        end = min(piece + VAL_PIECE, len(ids) - 1)
        state = None
        for at in range(piece, end, 256):
            x = ids[at:min(at + 256, end)]
            y = ids[at + 1:at + 1 + len(x)]
            logits, state = m(x.view(-1, 1), state)
            total += F.cross_entropy(logits, y, reduction="sum").item()
    m.train()
    return total / (len(ids) - 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--text", default="data/pride_and_prejudice.txt")
    p.add_argument("--cell", default="lstm")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--unroll", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--init", help="start from this checkpoint (cell and sizes from it)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    text = open(a.text, "rb").read()
    if a.init:
        sd, meta = read_safetensors(a.init)
        a.cell = meta["cell"]
        vocab = [int(b) for b in meta["vocab"].split(",")]
        V, a.embed = sd["embed.weight"].shape
        a.hidden = sd["rnn.weight_hh_l0"].shape[1]
        a.layers = sum(1 for k in sd if k.startswith("rnn.weight_ih_l"))
    else:
        vocab = sorted(set(text))
    index = {b: i for i, b in enumerate(vocab)}
    ids = torch.tensor([index[b] for b in text], dtype=torch.long)
    n_val = int(math.floor(len(ids) * a.val_fraction))
    n_train = len(ids) - n_val
    train, val = ids[:n_train], ids[n_train:]

    m = CharLM(a.cell, len(vocab), a.embed, a.hidden, a.layers, a.dropout)
    if a.init:
        m.load_state_dict(sd, strict=True)
    opt = {"sgd": lambda ps: torch.optim.SGD(ps, lr=a.lr),
           "adam": lambda ps: torch.optim.Adam(ps, lr=a.lr),
           "adamw": lambda ps: torch.optim.AdamW(ps, lr=a.lr)}[a.optimizer](m.parameters())
    rng = Rng(a.seed ^ 0x6261746368)
    T, B = a.unroll, a.batch
    offs = torch.arange(T + 1)
    seconds, recent = 0.0, []
    for step in range(1, a.steps + 1):
        t0 = time.perf_counter()
        starts = torch.tensor([rng.below(n_train - T) for _ in range(B)])
        win = train[starts.view(1, B) + offs.view(T + 1, 1)]  # [T+1,B]
        logits, _ = m(win[:-1])
        loss = F.cross_entropy(logits, win[1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(m.parameters(), a.clip)
        opt.step()
        seconds += time.perf_counter() - t0
        recent = (recent + [loss.item()])[-50:]
        if step % max(1, a.steps // 10) == 0:
            print("twin step %d/%d loss %.4f %.0f chars/s" % (step, a.steps, loss.item(),
                                                               B * T * step / seconds), flush=True)
    val_bpc = evaluate(m, val) / math.log(2) if n_val >= 2 else float("nan")
    print("twin: steps=%d loss=%.6f val_bpc=%.6f chars_per_s=%.1f" % (
        a.steps, sum(recent) / max(1, len(recent)), val_bpc, B * T * a.steps / max(seconds, 1e-9)))


if __name__ == "__main__":
    main()
