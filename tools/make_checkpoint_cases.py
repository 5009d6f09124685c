"""Checkpoint reference files for tests/test_checkpoint.c, and a check that a file
written by retrograd loads into PyTorch.

    python3 tools/make_checkpoint_cases.py [OUTDIR]     (default tests/data)
        writes ckpt_lstm.safetensors   CharLM lstm V=5 E=3 H=4 L=2, F32
               ckpt_gru.safetensors    CharLM gru  V=5 E=3 H=4 L=1, F64
               ckpt_misc.safetensors   odd tensors: rank 0, empty, rank 3, F32 and F64
                                       mixed, metadata with escapes and UTF-8
               ckpt_expected.txt       every tensor's values (tools/refio.py format,
                                       one case "<file stem>/<tensor name>" per tensor,
                                       the values as one output line)
    python3 tools/make_checkpoint_cases.py --verify FILE
        reads FILE, builds the CharLM its metadata and shapes describe, loads it
        with strict load_state_dict, runs a forward pass; exit status 0 when it loads.

The safetensors container (docs/CHECKPOINT.md) is written and read by hand here,
so the script needs only torch and numpy.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refio import RefWriter  # noqa: E402


class CharLM(nn.Module):
    def __init__(self, cell, V, E, H, L):
        super().__init__()
        self.embed = nn.Embedding(V, E)
        if cell in ("lstm", "gru"):
            self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](E, H, L)
        else:
            self.rnn = nn.RNN(E, H, L, nonlinearity=cell[len("rnn_"):])
        self.head = nn.Linear(H, V)

    def forward(self, x):  # x: [T] byte indices
        h, _ = self.rnn(self.embed(x).unsqueeze(1))
        return self.head(h.squeeze(1))


NP_DT = {"F32": "<f4", "F64": "<f8"}


def write_safetensors(path, tensors, metadata=None, dtypes=None):
    """tensors: list of (name, torch tensor); dtypes: name -> "F32"/"F64" (default
    from the tensor's own dtype)."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name, t in tensors:
        dt = (dtypes or {}).get(name) or ("F64" if t.dtype == torch.float64 else "F32")
        b = t.detach().cpu().contiguous().numpy().astype(NP_DT[dt]).tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    buf = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        arr = np.frombuffer(buf[a:b], dtype=NP_DT[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


def charlm_state(cell, V, E, H, L, seed, dtype):
    torch.manual_seed(seed)
    m = CharLM(cell, V, E, H, L).to(dtype)
    return m, list(m.state_dict().items())


def generate(outdir):
    os.makedirs(outdir, exist_ok=True)
    ref = RefWriter(os.path.join(outdir, "ckpt_expected.txt"))

    def record(stem, tensors):
        for name, t in tensors:
            ref.case("%s/%s" % (stem, name), [], [t.detach().to(torch.float64)])

    vocab = "10,32,97,98,99"
    _, lstm = charlm_state("lstm", 5, 3, 4, 2, 1, torch.float32)
    write_safetensors(os.path.join(outdir, "ckpt_lstm.safetensors"), lstm,
                      {"cell": "lstm", "vocab": vocab})
    record("ckpt_lstm", lstm)

    _, gru = charlm_state("gru", 5, 3, 4, 1, 2, torch.float64)
    write_safetensors(os.path.join(outdir, "ckpt_gru.safetensors"), gru,
                      {"cell": "gru", "vocab": vocab, "step": "1200"})
    record("ckpt_gru", gru)

    g = torch.Generator().manual_seed(3)
    misc = [
        ("scalar", torch.tensor(2.5, dtype=torch.float64)),
        ("empty", torch.zeros(0, 3)),
        ("cube", torch.randn(2, 3, 4, generator=g)),
        ("vec64", torch.randn(5, generator=g, dtype=torch.float64)),
        ("tiny", torch.tensor([1e-40, -0.0, 3.4e38, float("inf")])),
    ]
    write_safetensors(os.path.join(outdir, "ckpt_misc.safetensors"), misc,
                      {"quote\"back\\slash": "tab\tnewline\n", "utf8": "h\u00e9llo \u4e16\u754c"})
    record("ckpt_misc", misc)
    ref.close()
    print("wrote ckpt_lstm, ckpt_gru, ckpt_misc and ckpt_expected.txt to", outdir)


def verify(path):
    sd, meta = read_safetensors(path)
    cell = meta.get("cell")
    if cell not in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
        print("%s: metadata 'cell' is %r" % (path, cell))
        return 1
    vocab = [int(v) for v in meta.get("vocab", "").split(",") if v != ""]
    V, E = sd["embed.weight"].shape
    H = sd["rnn.weight_hh_l0"].shape[1]
    L = sum(1 for k in sd if k.startswith("rnn.weight_ih_l"))
    if len(vocab) != V:
        print("%s: vocab has %d entries, embed.weight has V=%d" % (path, len(vocab), V))
        return 1
    dtype = next(iter(sd.values())).dtype
    m = CharLM(cell, V, E, H, L).to(dtype)
    m.load_state_dict(sd, strict=True)  # raises on any missing, extra or mis-shaped tensor
    with torch.no_grad():
        logits = m(torch.arange(V) % V)
    print("%s: OK, strict load_state_dict into CharLM(%s, V=%d, E=%d, H=%d, L=%d), %d tensors, "
          "metadata %s; logits[0] = %s" % (path, cell, V, E, H, L, len(sd), sorted(meta),
                                            [round(float(v), 6) for v in logits[0]]))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--verify":
        if len(sys.argv) != 3:
            sys.exit("usage: make_checkpoint_cases.py --verify FILE")
        sys.exit(verify(sys.argv[2]))
    here = os.path.dirname(os.path.abspath(__file__))
    generate(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "data"))
