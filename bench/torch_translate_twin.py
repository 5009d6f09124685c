#!/usr/bin/python3
"""The PyTorch twin of `translate train` + `translate eval`: the same pairs,
model, initial weights, batches, loss, optimizer, clipping and number of
steps, and the same greedy evaluation on the test pairs.

  data     the pairs come from the program itself (`translate data --split
           train|val|test`), so the generator is never ported twice
  model    examples/translate/model.c: embed -> bidirectional GRU/LSTM encoder
           over the packed batch -> bridge tanh(W [fwd final; rev final]) as
           every decoder layer's h0 -> per step: additive (v . tanh(W_q h + k_j))
           or dot (h . k_j / sqrt(H)) attention, masked softmax over the source,
           context c, decoder cells on [embed(y_prev); c], head([h; c])
  weights  loaded from a checkpoint of `translate train --steps 0` (its
           cell, sizes and attention kind with it)
  batches  rows drawn with a copy of retrograd's generator, seeded as the
           training core seeds its batch generator (seed ^ 0x6261746368)
  train    summed cross-entropy of the 11 teacher-forced outputs / (B * 11),
           clip_grad_norm_ 5, Adam, validation loss every steps/3 steps
  eval     greedy decoding of the test pairs, exact match and per-character
           accuracy like `translate eval`

Prints
  twin: steps=N loss=X val_loss=Y exact=A char_accuracy=C train_s=T train_cpu_s=U
"""
import argparse
import json
import math
import struct
import subprocess
import time

import torch
import torch.nn as nn

from torch_charlm_twin import Rng, read_safetensors  # retrograd's generator, checkpoints

PAD, BOS, EOS, V, TGT, MAX_OUT = 0, 1, 2, 98, 11, 24


def encode(text):
    return [3 + ord(c) - 32 for c in text]


def pairs(prog, split, n, seed):
    out = subprocess.run([prog, "data", "--split", split, "--examples", str(n),
                          "--data-seed", str(seed)], check=True, capture_output=True,
                         text=True).stdout
    src, tgt = [], []
    for line in out.splitlines():
        s, t, _ = line.split("\t")
        src.append(encode(s))
        tgt.append(encode(t) + [EOS])
    return src, tgt


class Translator(nn.Module):
    def __init__(self, cell, E, H, L, att):
        super().__init__()
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        step = nn.LSTMCell if cell == "lstm" else nn.GRUCell
        self.cell, self.H, self.L, self.att = cell, H, L, att
        self.embed = nn.Embedding(V, E)
        self.enc = rnn(E, H, L, bidirectional=True)
        self.bridge = nn.Linear(2 * H, H)
        self.key = nn.Linear(2 * H, H, bias=False)
        if att == "additive":
            self.query = nn.Linear(H, H)
            self.score = nn.Linear(H, 1, bias=False)
        self.dec = nn.ModuleList([step(E + 2 * H if k == 0 else H, H) for k in range(L)])
        self.head = nn.Linear(3 * H, V)

    def load(self, t):
        names = {"att.key.weight": "key.weight", "att.query.weight": "query.weight",
                 "att.query.bias": "query.bias", "att.score.weight": "score.weight"}
        state = {}
        for name, v in t.items():
            if name.startswith("dec."):
                role, k = name[4:].rsplit("_l", 1)
                name = "dec.%s.%s" % (k, role)
            state[names.get(name, name)] = v
        self.load_state_dict(state, strict=True)

    def encode(self, src, lengths):  # src [T,B]
        x = self.embed(src)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
        out, fin = self.enc(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=src.shape[0])
        h_n = fin[0] if self.cell == "lstm" else fin
        values = out.transpose(0, 1)                                  # [B,T,2H]
        pad = torch.arange(src.shape[0])[None, :] >= lengths[:, None]  # [B,T]
        h0 = torch.tanh(self.bridge(torch.cat([h_n[-2], h_n[-1]], 1)))
        state = [(h0, torch.zeros_like(h0)) if self.cell == "lstm" else h0
                 for _ in range(self.L)]
        return values, self.key(values), pad, state

    def step(self, mem, prev, state):
        values, keys, pad, = mem
        top = state[-1][0] if self.cell == "lstm" else state[-1]
        if self.att == "dot":
            s = torch.bmm(keys, top[:, :, None]).squeeze(2) / math.sqrt(self.H)
        else:
            s = self.score(torch.tanh(self.query(top)[:, None, :] + keys)).squeeze(2)
        a = torch.softmax(s.masked_fill(pad, -1e9), 1)
        c = torch.bmm(a[:, None, :], values).squeeze(1)
        x = torch.cat([self.embed(prev), c], 1)
        new = []
        for k, cell in enumerate(self.dec):
            st = cell(x, state[k])
            new.append(st)
            x = st[0] if self.cell == "lstm" else st
        return self.head(torch.cat([x, c], 1)), new

    def loss(self, src, lengths, tgt):  # tgt [TGT,B]: summed cross-entropy
        values, keys, pad, state = self.encode(src, lengths)
        prev = torch.full((src.shape[1],), BOS, dtype=torch.long)
        logits = []
        for k in range(TGT):
            lg, state = self.step((values, keys, pad), prev, state)
            logits.append(lg)
            prev = tgt[k]
        return nn.functional.cross_entropy(torch.cat(logits), tgt.reshape(-1), reduction="sum")

    @torch.no_grad()
    def greedy(self, src, lengths):
        values, keys, pad, state = self.encode(src, lengths)
        B = src.shape[1]
        prev = torch.full((B,), BOS, dtype=torch.long)
        out, done = [[] for _ in range(B)], [False] * B
        for _ in range(MAX_OUT):
            lg, state = self.step((values, keys, pad), prev, state)
            prev = lg.argmax(1)
            for b in range(B):
                if done[b]:
                    continue
                if prev[b] == EOS:
                    done[b] = True
                else:
                    out[b].append(chr(int(prev[b]) - 3 + 32))
            if all(done):
                break
        return ["".join(o) for o in out]


def batch(src, tgt, rows):
    lengths = torch.tensor([len(src[i]) for i in rows])
    T = int(lengths.max())
    s = torch.full((T, len(rows)), PAD, dtype=torch.long)
    for b, i in enumerate(rows):
        s[:len(src[i]), b] = torch.tensor(src[i])
    y = torch.tensor([tgt[i] for i in rows], dtype=torch.long).t().contiguous() if tgt else None
    return s, lengths, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--translate", default="build/examples/translate")
    ap.add_argument("--init", required=True, help="translate train --steps 0 --save FILE")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--examples", type=int, default=50000)
    ap.add_argument("--val-examples", type=int, default=1000)
    ap.add_argument("--test-examples", type=int, default=2000)
    ap.add_argument("--data-seed", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    weights, meta = read_safetensors(a.init)
    model = Translator(meta["cell"], int(meta["embed"]), int(meta["hidden"]),
                       int(meta["layers"]), meta["attention"])
    model.load(weights)
    src, tgt = pairs(a.translate, "train", a.examples, a.data_seed)
    vsrc, vtgt = pairs(a.translate, "val", a.val_examples, a.data_seed)
    tsrc, ttgt = pairs(a.translate, "test", a.test_examples, a.data_seed)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    rng = Rng(a.seed ^ 0x6261746368)
    every = a.steps // 3 if a.steps >= 3 else 1
    losses, val = [], float("nan")
    t0, c0 = time.time(), time.process_time()
    for step in range(1, a.steps + 1):
        s, lengths, y = batch(src, tgt, [rng.below(len(src)) for _ in range(a.batch)])
        loss = model.loss(s, lengths, y) / (a.batch * TGT)
        opt.zero_grad()
        loss.backward()
        if a.clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        losses.append(float(loss))
        if a.steps <= 10:
            print("step %d loss %.6f" % (step, losses[-1]), flush=True)
        if step % every == 0 or step == a.steps:
            with torch.no_grad():
                total = 0.0
                for i in range(0, len(vsrc), 256):
                    s, lengths, y = batch(vsrc, vtgt, range(i, min(i + 256, len(vsrc))))
                    total += float(model.loss(s, lengths, y))
                val = total / (len(vsrc) * TGT)
            print("step %d/%d  loss %.4f  val_loss %.4f  %.1fs" % (step, a.steps, losses[-1], val,
                                                               time.time() - t0), flush=True)
    train_s, train_cpu_s = time.time() - t0, time.process_time() - c0
    exact = right = 0
    for i in range(0, len(tsrc), 256):
        rows = range(i, min(i + 256, len(tsrc)))
        s, lengths, _ = batch(tsrc, None, rows)
        for o, r in zip(model.greedy(s, lengths), rows):
            want = "".join(chr(c - 3 + 32) for c in ttgt[r][:-1])
            exact += o == want
            right += sum(1 for k in range(10) if k < len(o) and o[k] == want[k])
    n = len(tsrc)
    print("twin: steps=%d loss=%.6f val_loss=%.6f exact=%.4f char_accuracy=%.4f train_s=%.1f "
          "train_cpu_s=%.1f" % (a.steps, sum(losses[-50:]) / len(losses[-50:]), val, exact / n,
                                right / (10 * n), train_s, train_cpu_s))


if __name__ == "__main__":
    main()
