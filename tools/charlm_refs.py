#!/usr/bin/python3
"""Reference data for tests/test_charlm.c, made with PyTorch (never needed to
build or test: the outputs are committed under tests/data/charlm_*).

  /usr/bin/python3 tools/charlm_refs.py [tests/data]

Writes, for docs/CHECKPOINT.md's CharLM:
  charlm_sgd_<cell>_init.safetensors      a model (safetensors written by hand)
  charlm_sgd_<cell>_text.txt              exactly unroll+1 bytes
  charlm_sgd_<cell>_expected.safetensors  the weights after one SGD step (lr in
                                          metadata "lr", unroll in "unroll")
  charlm_eval_<cell>.safetensors          a model for each cell
  charlm_eval_text.txt                    a text in every model's vocabulary
  charlm_eval_expected.txt                "<cell> <loss>" lines: CHECKPOINT.md's
                                          evaluation semantics, mean nats/char
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class CharLM(nn.Module):
    def __init__(self, cell, V, E, H, L):
        super().__init__()
        self.embed = nn.Embedding(V, E)
        if cell == "lstm":
            self.rnn = nn.LSTM(E, H, L)
        elif cell == "gru":
            self.rnn = nn.GRU(E, H, L)
        else:
            self.rnn = nn.RNN(E, H, L, nonlinearity=cell[4:])
        self.head = nn.Linear(H, V)

    def forward(self, ids):  # ids [T,B] -> logits [T*B,V]
        h, _ = self.rnn(self.embed(ids))
        return self.head(h.reshape(-1, h.shape[-1]))


def write_safetensors(path, tensors, meta):
    """tensors: list of (name, tensor), written as F32 in that order."""
    header, blobs, at = {}, [], 0
    for name, t in tensors:
        b = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def vocab_of(text):
    return sorted(set(text))


def model_meta(cell, vocab):
    return {"cell": cell, "vocab": ",".join(str(b) for b in vocab)}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data")
    torch.manual_seed(1234)

    # one SGD step on a text of exactly unroll+1 bytes, batch 1
    text = b"the cat sat.\n"
    T = len(text) - 1
    vocab = vocab_of(text)
    idx = {b: i for i, b in enumerate(vocab)}
    lr = 0.5
    for cell, E, H, L in [("lstm", 5, 6, 2), ("gru", 4, 5, 2), ("rnn_tanh", 4, 5, 1)]:
        m = CharLM(cell, len(vocab), E, H, L)
        write_safetensors(os.path.join(out, f"charlm_sgd_{cell}_init.safetensors"),
                          list(m.state_dict().items()), model_meta(cell, vocab))
        with open(os.path.join(out, f"charlm_sgd_{cell}_text.txt"), "wb") as f:
            f.write(text)
        ids = torch.tensor([idx[b] for b in text])
        opt = torch.optim.SGD(m.parameters(), lr=lr)
        opt.zero_grad()
        loss = F.cross_entropy(m(ids[:-1].view(T, 1)), ids[1:])
        loss.backward()
        opt.step()
        meta = model_meta(cell, vocab)
        meta.update({"lr": repr(lr), "unroll": str(T), "loss": "%.9f" % loss.item()})
        write_safetensors(os.path.join(out, f"charlm_sgd_{cell}_expected.safetensors"),
                          list(m.state_dict().items()), meta)

    # evaluation: state carried through the whole text, mean -ln p
    text = (b"It is a truth universally acknowledged, that a single man in possession\n"
            b"of a good fortune, must be in want of a wife.\n\n"
            b"However little known the feelings or views of such a man may be on his\n"
            b"first entering a neighbourhood, this truth is so well fixed in the minds\n")
    vocab = vocab_of(text)
    idx = {b: i for i, b in enumerate(vocab)}
    ids = torch.tensor([idx[b] for b in text])
    with open(os.path.join(out, "charlm_eval_text.txt"), "wb") as f:
        f.write(text)
    lines = []
    for cell, E, H, L in [("lstm", 8, 16, 2), ("gru", 8, 16, 2), ("rnn_tanh", 8, 16, 1),
                          ("rnn_relu", 8, 12, 2)]:
        m = CharLM(cell, len(vocab), E, H, L)
        write_safetensors(os.path.join(out, f"charlm_eval_{cell}.safetensors"),
                          list(m.state_dict().items()), model_meta(cell, vocab))
        with torch.no_grad():
            m64 = CharLM(cell, len(vocab), E, H, L).double()
            m64.load_state_dict({k: v.double() for k, v in m.state_dict().items()})
            loss = F.cross_entropy(m64(ids[:-1].view(-1, 1)), ids[1:]).item()
        lines.append("%s %.10f\n" % (cell, loss))
    with open(os.path.join(out, "charlm_eval_expected.txt"), "w") as f:
        f.writelines(lines)
    print("wrote charlm references to", out)


if __name__ == "__main__":
    main()
