#!/usr/bin/python3
"""The PyTorch twin of `seqclass train` + `seqclass eval`: the same texts,
model, initial weights, batches, loss, optimizer, clipping and number of
steps, and the same accuracy on the test split.

  data     the program's own split and token ids (`seqclass dump --model INIT
           --out FILE`: "split<TAB>class<TAB>ids" a line), so the passage
           splitter and the tokenizer are never ported
  model    examples/seqclass/model.c: nn.Embedding -> nn.LSTM/GRU/RNN over the
           packed batch (each text its own length; bidirectional optional) ->
           pooling over the valid steps (last | mean | max) -> dropout ->
           nn.Linear -> cross-entropy
  weights  loaded from a checkpoint of `seqclass train --steps 0` (the
           initial weights, with the cell, sizes and pooling in its metadata)
  batches  texts drawn with a copy of retrograd's generator, seeded as the
           training core seeds its batch generator (seed ^ 0x6261746368)
  train    mean cross-entropy of the batch, clip_grad_norm_, Adam/AdamW/SGD

  /usr/bin/python3 bench/torch_seqclass_twin.py --split split.txt --init init.safetensors
prints `twin: steps=N loss=X val_loss=Y val_accuracy=A accuracy=B texts_per_s=R train_s=T`
(accuracy: on the test split).
"""
import argparse
import json
import math
import struct
import time

import torch
import torch.nn as nn

from torch_charlm_twin import Rng, read_safetensors  # retrograd's generator, checkpoints
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class SeqClass(nn.Module):
    def __init__(self, meta, V, C, dropout):
        super().__init__()
        cell, E, H, L = meta["cell"], int(meta["embed"]), int(meta["hidden"]), int(meta["layers"])
        bi = meta["bidirectional"] == "1"
        self.pool, self.dropout = meta["pool"], dropout
        self.embed = nn.Embedding(V, E)
        kw = dict(num_layers=L, bidirectional=bi, dropout=dropout if L > 1 else 0.0)
        if cell == "lstm":
            self.rnn = nn.LSTM(E, H, **kw)
        elif cell == "gru":
            self.rnn = nn.GRU(E, H, **kw)
        elif cell in ("rnn_tanh", "rnn_relu"):
            self.rnn = nn.RNN(E, H, nonlinearity=cell[4:], **kw)
        else:
            raise SystemExit("twin: cell '%s' has no PyTorch twin here" % cell)
        self.head = nn.Linear(H * (2 if bi else 1), C)

    def forward(self, ids, lengths):  # ids [T,B], lengths [B] -> logits [B,C]
        packed = pack_padded_sequence(self.embed(ids), lengths, enforce_sorted=False)
        h, _ = pad_packed_sequence(self.rnn(packed)[0], total_length=ids.shape[0])  # [T,B,D*H]
        T, B = ids.shape
        valid = (torch.arange(T).view(T, 1) < lengths.view(1, B)).unsqueeze(2)
        if self.pool == "last":
            pooled = h[lengths - 1, torch.arange(B)]
        elif self.pool == "mean":
            pooled = (h * valid).sum(0) / lengths.view(B, 1).to(h.dtype)
        else:
            pooled = h.masked_fill(~valid, float("-inf")).max(0).values
        return self.head(F.dropout(pooled, self.dropout, self.training))


def read_split(path):
    texts = {"train": [], "val": [], "test": []}
    with open(path) as f:
        for line in f:
            split, label, ids = line.rstrip("\n").split("\t")
            texts[split].append((int(label), [int(i) for i in ids.split()]))
    return texts


def batch(items):
    lengths = torch.tensor([len(ids) for _, ids in items])
    x = torch.zeros(int(lengths.max()), len(items), dtype=torch.long)
    for b, (_, ids) in enumerate(items):
        x[:len(ids), b] = torch.tensor(ids)
    return x, lengths, torch.tensor([y for y, _ in items])


@torch.no_grad()
def evaluate(m, items):
    """mean cross-entropy and accuracy, in batches of 64 texts of similar lengths"""
    if not items:
        return float("nan"), float("nan")
    m.eval()
    order = sorted(items, key=lambda it: -len(it[1]))
    loss, right = 0.0, 0
    for at in range(0, len(order), 64):
        x, lengths, y = batch(order[at:at + 64])
        logits = m(x, lengths)
        loss += F.cross_entropy(logits, y, reduction="sum").item()
        right += (logits.argmax(1) == y).sum().item()
    m.train()
    return loss / len(items), right / len(items)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--split", required=True, help="`seqclass dump` output")
    p.add_argument("--init", required=True, help="`seqclass train --steps 0` checkpoint")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    sd, meta = read_safetensors(a.init)
    V, C = sd["embed.weight"].shape[0], sd["head.bias"].shape[0]
    m = SeqClass(meta, V, C, a.dropout)
    m.load_state_dict(sd, strict=True)
    texts = read_split(a.split)
    train = texts["train"]
    opt = {"sgd": lambda ps: torch.optim.SGD(ps, lr=a.lr),
           "adam": lambda ps: torch.optim.Adam(ps, lr=a.lr),
           "adamw": lambda ps: torch.optim.AdamW(ps, lr=a.lr)}[a.optimizer](m.parameters())
    rng = Rng(a.seed ^ 0x6261746368)
    seconds, recent = 0.0, []
    for step in range(1, a.steps + 1):
        t0 = time.perf_counter()
        x, lengths, y = batch([train[rng.below(len(train))] for _ in range(a.batch)])
        loss = F.cross_entropy(m(x, lengths), y)
        opt.zero_grad()
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(m.parameters(), a.clip)
        opt.step()
        seconds += time.perf_counter() - t0
        recent = (recent + [loss.item()])[-50:]
        if step % max(1, a.steps // 10) == 0:
            print("twin step %d/%d loss %.4f %.1f texts/s" % (
                step, a.steps, sum(recent) / len(recent), a.batch * step / seconds), flush=True)
    val_loss, val_acc = evaluate(m, texts["val"])
    _, test_acc = evaluate(m, texts["test"])
    print("twin: steps=%d loss=%.6f val_loss=%.6f val_accuracy=%.4f accuracy=%.4f "
          "texts_per_s=%.1f train_s=%.1f" % (
              a.steps, sum(recent) / max(1, len(recent)), val_loss, val_acc, test_acc,
              a.batch * a.steps / max(seconds, 1e-9), seconds))


if __name__ == "__main__":
    main()
