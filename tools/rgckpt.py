#!/usr/bin/env python3
"""Read and write retrograd checkpoints (safetensors, docs/CHECKPOINT.md) with
numpy alone, and load a charlm checkpoint into its PyTorch twin.

Debian packages no `safetensors`; this module needs only python3-numpy (and
python3-torch for the PyTorch commands).  As a library:

    import rgckpt
    tensors, meta = rgckpt.read("charlm.safetensors")    # {name: np.ndarray}, {str: str}
    rgckpt.write("copy.safetensors", tensors, meta)      # atomic; F32 (F64 kept as F64)
    cfg = rgckpt.charlm_config(tensors, meta)            # cell, vocab, V, E, H, L
    model = rgckpt.to_torch_model(tensors, meta)         # the twin, strict load_state_dict

From the shell:

    python3 tools/rgckpt.py info charlm.safetensors
    python3 tools/rgckpt.py eval charlm.safetensors data/pride_and_prejudice.txt
        [--torch] [--charlm build/examples/charlm] [--tol 1e-4]
    python3 tools/rgckpt.py to-torch charlm.safetensors charlm.pt
    python3 tools/rgckpt.py from-torch charlm.pt back.safetensors

`eval` follows CHECKPOINT.md's evaluation semantics (zero state, the state carried
through the whole text, mean -ln p of the N-1 next-byte predictions) in float64,
with numpy (default) or through the PyTorch twin (--torch), and prints the line
`charlm eval` prints; with --charlm it also runs that program and compares.
`to-torch` saves {"state_dict", "cell", "vocab", "embed", "hidden", "layers",
"metadata"} with torch.save: CharLM(cell, len(vocab), embed, hidden, layers)
.load_state_dict(d["state_dict"]) rebuilds the model (CharLM is the class below,
the one in docs/CHECKPOINT.md).  `from-torch` writes such a file (or a plain
state_dict, given --cell and --vocab) back as a checkpoint charlm reads.

Files are read the way the C reader reads them (models/safetensors.c): every size
and offset is checked before use, and a bad file is refused with a message naming
the file and the problem (RgCkptError).
"""
import argparse
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile

import numpy as np

DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
CELLS = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}  # gate blocks G
MAX_HEADER = 100 << 20  # the C reader's bound on the JSON header


class RgCkptError(Exception):
    """A file that is not a valid checkpoint, or a model it does not describe."""


# ---- the container --------------------------------------------------------------------------

def read(path):
    """Reads a safetensors file: ({name: np.ndarray (float32 or float64, C order)},
    {key: value} of the string metadata).  Raises RgCkptError naming the file and
    the problem for anything CHECKPOINT.md says a reader must refuse."""
    def bad(msg):
        return RgCkptError("%s: %s" % (path, msg))
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise bad("%d bytes: too short for the 8-byte header length" % len(data))
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8 or n > MAX_HEADER:
        raise bad("header length %d is larger than the file (%d bytes after it)" % (n, len(data) - 8))
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise bad("malformed JSON header: %s" % e) from None
    if not isinstance(header, dict):
        raise bad("the header is not a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise bad("__metadata__ must map strings to strings")
    buf = memoryview(data)[8 + n:]
    tensors, spans = {}, []
    for name, d in header.items():
        if not isinstance(d, dict):
            raise bad("tensor '%s': not an object" % name)
        dt, shape, offs = d.get("dtype"), d.get("shape"), d.get("data_offsets")
        if dt not in DTYPES:
            raise bad("tensor '%s': dtype %r is not F32 or F64" % (name, dt))
        if (not isinstance(shape, list) or len(shape) > 8 or
                not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
            raise bad("tensor '%s': shape %r is not a list of sizes" % (name, shape))
        if (not isinstance(offs, list) or len(offs) != 2 or
                not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)):
            raise bad("tensor '%s': data_offsets %r is not [begin, end]" % (name, offs))
        a, b = offs
        if not 0 <= a <= b <= len(buf):
            raise bad("tensor '%s': data_offsets [%d,%d] outside the %d-byte buffer"
                      % (name, a, b, len(buf)))
        need = DTYPES[dt].itemsize * math.prod(shape)
        if b - a != need:
            raise bad("tensor '%s': shape %s needs %d bytes, data_offsets [%d,%d] hold %d"
                      % (name, fmt_shape(shape), need, a, b, b - a))
        spans.append((a, b, name))
        tensors[name] = np.frombuffer(buf[a:b], dtype=DTYPES[dt]).reshape(shape).astype(
            DTYPES[dt].newbyteorder("="))
    end, last = 0, None  # the furthest end of the non-empty tensors so far
    for a, b, name in sorted(s for s in spans if s[1] > s[0]):
        if a < end:
            raise bad("tensors '%s' and '%s' overlap" % (last, name))
        end, last = b, name
    return tensors, dict(meta)


def write(path, tensors, meta=None, dtype=None):
    """Writes {name: array} (in the dict's order) and string metadata atomically: a
    temporary file in the same folder, fsync'ed, then renamed over path.  dtype
    None keeps float64 arrays as F64 and writes everything else as F32; "F32" or
    "F64" forces one."""
    if dtype not in (None, "F32", "F64"):
        raise ValueError("dtype must be None, 'F32' or 'F64'")
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = {str(k): str(v) for k, v in meta.items()}
    for name, t in tensors.items():
        a = np.asarray(t)
        dt = dtype or ("F64" if a.dtype == np.float64 else "F32")
        b = np.ascontiguousarray(a, dtype=DTYPES[dt]).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    h += b" " * (-len(h) % 8)  # the buffer starts 8-byte aligned
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".rgckpt-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for b in blobs:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fmt_shape(shape):
    return "[" + ",".join(str(int(s)) for s in shape) + "]"


# ---- the character model ----------------------------------------------------------------------

def charlm_config(tensors, meta, path="checkpoint"):
    """The CharLM a checkpoint describes: {"cell", "vocab" (list of byte values), "V",
    "E", "H", "L"}; checks that it holds exactly CHECKPOINT.md's tensors with their
    shapes (RgCkptError otherwise)."""
    def bad(msg):
        return RgCkptError("%s: %s" % (path, msg))
    cell = meta.get("cell")
    if cell is None:
        raise bad("no 'cell' in the metadata")
    if cell not in CELLS:
        raise bad("cell '%s' is not one of %s (a plugin's cell has no PyTorch twin here)"
                  % (cell, ", ".join(CELLS)))
    try:
        vocab = [int(v) for v in meta.get("vocab", "").split(",")]
    except ValueError:
        raise bad("metadata 'vocab' is not a comma-separated list of byte values") from None
    if not vocab or any(not 0 <= v <= 255 for v in vocab) or len(set(vocab)) != len(vocab):
        raise bad("metadata 'vocab' must list distinct byte values 0..255")
    for name in ("embed.weight", "rnn.weight_hh_l0", "head.weight"):
        if name not in tensors:
            raise bad("missing tensor '%s'" % name)
    V, E = tensors["embed.weight"].shape if tensors["embed.weight"].ndim == 2 else (-1, -1)
    H = tensors["rnn.weight_hh_l0"].shape[-1]
    L = sum(1 for k in tensors if re.fullmatch(r"rnn\.weight_ih_l\d+", k))
    G = CELLS[cell]
    want = {"embed.weight": (len(vocab), E), "head.weight": (len(vocab), H),
            "head.bias": (len(vocab),)}
    for k in range(L):
        want["rnn.weight_ih_l%d" % k] = (G * H, E if k == 0 else H)
        want["rnn.weight_hh_l%d" % k] = (G * H, H)
        want["rnn.bias_ih_l%d" % k] = (G * H,)
        want["rnn.bias_hh_l%d" % k] = (G * H,)
    for name, shape in want.items():
        if name not in tensors:
            raise bad("missing tensor '%s'" % name)
        if tuple(tensors[name].shape) != shape:
            raise bad("tensor '%s' is %s, expected %s" % (name, fmt_shape(tensors[name].shape),
                                                          fmt_shape(shape)))
    extra = sorted(set(tensors) - set(want))
    if extra:
        raise bad("tensors a CharLM does not have: %s" % ", ".join(extra))
    return {"cell": cell, "vocab": vocab, "V": V, "E": E, "H": H, "L": L}


def text_ids(text, vocab, path="text"):
    """Bytes -> token ids; a byte outside the vocabulary is an error naming it."""
    index = np.full(256, -1, dtype=np.int64)
    index[np.asarray(vocab)] = np.arange(len(vocab))
    ids = index[np.frombuffer(text, dtype=np.uint8)]
    missing = np.flatnonzero(ids < 0)
    if missing.size:
        at = int(missing[0])
        b = text[at]
        shown = chr(b) if 32 <= b < 127 else "\\x%02x" % b
        raise RgCkptError("%s: byte '%s' (%d) at offset %d is not in the model's vocabulary "
                          "(%d bytes)" % (path, shown, b, at, len(vocab)))
    return ids


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def eval_numpy(tensors, cfg, ids, chunk=4096):
    """Mean -ln p(b_{t+1} | b_0..b_t) over the N-1 predictions, float64, PyTorch's
    equations (CHECKPOINT.md), the state carried through the whole text."""
    w = {k: v.astype(np.float64) for k, v in tensors.items()}
    cell, H, L = cfg["cell"], cfg["H"], cfg["L"]
    h = [np.zeros(H) for _ in range(L)]
    c = [np.zeros(H) for _ in range(L)]
    total, n = 0.0, len(ids) - 1
    for at in range(0, n, chunk):
        x = w["embed.weight"][ids[at:min(at + chunk, n)]]  # [C,E]
        for k in range(L):
            xp = x @ w["rnn.weight_ih_l%d" % k].T + w["rnn.bias_ih_l%d" % k]  # [C,G*H]
            Whh, bhh = w["rnn.weight_hh_l%d" % k], w["rnn.bias_hh_l%d" % k]
            out = np.empty((len(x), H))
            hk, ck = h[k], c[k]
            for t in range(len(x)):
                hp = Whh @ hk + bhh
                if cell == "lstm":
                    a = xp[t] + hp
                    i, f = _sigmoid(a[:H]), _sigmoid(a[H:2 * H])
                    g, o = np.tanh(a[2 * H:3 * H]), _sigmoid(a[3 * H:])
                    ck = f * ck + i * g
                    hk = o * np.tanh(ck)
                elif cell == "gru":
                    r = _sigmoid(xp[t, :H] + hp[:H])
                    z = _sigmoid(xp[t, H:2 * H] + hp[H:2 * H])
                    nn_ = np.tanh(xp[t, 2 * H:] + r * hp[2 * H:])
                    hk = (1 - z) * nn_ + z * hk
                else:
                    a = xp[t] + hp
                    hk = np.tanh(a) if cell == "rnn_tanh" else np.maximum(a, 0)
                out[t] = hk
            h[k], c[k] = hk, ck
            x = out
        logits = x @ w["head.weight"].T + w["head.bias"]  # [C,V]
        m = logits.max(axis=1, keepdims=True)
        logz = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
        y = ids[at + 1:at + 1 + len(x)]
        total += float((logz - logits[np.arange(len(x)), y]).sum())
    return total / n


def charlm_class():
    """docs/CHECKPOINT.md's CharLM (the PyTorch twin); imports torch."""
    import torch.nn as nn

    class CharLM(nn.Module):
        def __init__(self, cell, V, E, H, L):
            super().__init__()
            self.embed = nn.Embedding(V, E)
            if cell in ("lstm", "gru"):
                self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](E, H, L)
            else:
                self.rnn = nn.RNN(E, H, L, nonlinearity=cell[len("rnn_"):])
            self.head = nn.Linear(H, V)

        def forward(self, ids, state=None):  # ids [T,B] -> logits [T*B,V], state
            h, state = self.rnn(self.embed(ids), state)
            return self.head(h.reshape(-1, h.shape[-1])), state

    return CharLM


def to_torch_model(tensors, meta, path="checkpoint", dtype=None):
    """The PyTorch twin with the checkpoint's weights (strict load_state_dict)."""
    import torch
    cfg = charlm_config(tensors, meta, path)
    m = charlm_class()(cfg["cell"], cfg["V"], cfg["E"], cfg["H"], cfg["L"])
    dt = dtype or torch.float32
    m.load_state_dict({k: torch.from_numpy(np.array(v)).to(dt) for k, v in tensors.items()},
                      strict=True)
    return m.to(dt)


def eval_torch(tensors, meta, ids, path="checkpoint"):
    import torch
    import torch.nn.functional as F
    m = to_torch_model(tensors, meta, path, torch.float64).eval()
    t = torch.from_numpy(ids)
    total, state, n = 0.0, None, len(ids) - 1
    with torch.no_grad():
        for at in range(0, n, 4096):
            x = t[at:min(at + 4096, n)]
            logits, state = m(x.view(-1, 1), state)
            total += F.cross_entropy(logits, t[at + 1:at + 1 + len(x)], reduction="sum").item()
    return total / n


# ---- the command line -------------------------------------------------------------------------

def eval_line(n_pred, loss):
    """charlm eval's line; chars= counts the predictions (the text's bytes - 1)."""
    return "eval: chars=%d loss=%.6f bpc=%.6f ppl=%.6f" % (n_pred, loss, loss / math.log(2),
                                                          math.exp(loss))


def cmd_info(a):
    tensors, meta = read(a.file)
    total = sum(v.size for v in tensors.values())
    print("%s: %d tensors, %d values" % (a.file, len(tensors), total))
    for name, v in tensors.items():
        print("  %-24s %-4s %s" % (name, "F64" if v.dtype == np.float64 else "F32",
                                   fmt_shape(v.shape)))
    print("metadata:")
    for k, v in meta.items():
        print("  %s = %s" % (k, v if len(v) <= 72 else v[:69] + "..."))
    try:
        cfg = charlm_config(tensors, meta, a.file)
    except RgCkptError as e:
        print("not a CharLM checkpoint: %s" % e)
        return 0
    shown = "".join(chr(b) if 32 <= b < 127 else "." for b in cfg["vocab"])
    print("CharLM: cell=%s V=%d E=%d H=%d L=%d vocab=%r" % (cfg["cell"], cfg["V"], cfg["E"],
                                                          cfg["H"], cfg["L"], shown))
    return 0


def run_charlm(binary, model, text):
    r = subprocess.run([binary, "eval", "--model", model, "--text", text],
                       capture_output=True, text=True)
    m = re.search(r"eval: chars=(\d+) loss=([0-9.eE+-]+)", r.stdout)
    if r.returncode != 0 or not m:
        raise RgCkptError("%s eval failed (status %d): %s" % (binary, r.returncode,
                                                              (r.stderr or r.stdout).strip()))
    return r.stdout.strip().splitlines()[-1], int(m.group(1)), float(m.group(2))


def cmd_eval(a):
    tensors, meta = read(a.file)
    cfg = charlm_config(tensors, meta, a.file)
    with open(a.text, "rb") as f:
        text = f.read()
    if len(text) < 2:
        raise RgCkptError("%s: %d bytes; evaluation needs at least 2" % (a.text, len(text)))
    ids = text_ids(text, cfg["vocab"], a.text)
    loss = eval_torch(tensors, meta, ids, a.file) if a.torch else eval_numpy(tensors, cfg, ids)
    print(eval_line(len(text) - 1, loss) + ("   (PyTorch twin, float64)" if a.torch
                                        else "   (numpy, float64)"))
    if not a.charlm:
        return 0
    line, n_c, loss_c = run_charlm(a.charlm, a.file, a.text)
    rel = abs(loss_c - loss) / max(abs(loss), 1e-300)
    ok = n_c == len(text) - 1 and rel <= a.tol
    print(line + "   (%s)" % a.charlm)
    print("relative difference of the loss %.3g (tolerance %g): %s" % (rel, a.tol,
                                                                     "ok" if ok else "DIFFERENT"))
    return 0 if ok else 1


def cmd_to_torch(a):
    import torch
    tensors, meta = read(a.file)
    cfg = charlm_config(tensors, meta, a.file)
    m = to_torch_model(tensors, meta, a.file)
    torch.save({"state_dict": m.state_dict(), "cell": cfg["cell"], "vocab": cfg["vocab"],
                "embed": cfg["E"], "hidden": cfg["H"], "layers": cfg["L"], "metadata": meta},
               a.out)
    print("%s: CharLM(%r, V=%d, E=%d, H=%d, L=%d) loaded with strict load_state_dict, "
          "saved to %s" % (a.file, cfg["cell"], cfg["V"], cfg["E"], cfg["H"], cfg["L"], a.out))
    return 0


def cmd_from_torch(a):
    import torch
    d = torch.load(a.file, map_location="cpu", weights_only=False)
    sd = d.get("state_dict", d) if isinstance(d, dict) else None
    if sd is None:
        raise RgCkptError("%s: neither a state_dict nor a to-torch file" % a.file)
    meta = dict(d.get("metadata", {})) if "state_dict" in d else {}
    if "state_dict" in d:
        meta["cell"] = d["cell"]
        meta["vocab"] = ",".join(str(int(b)) for b in d["vocab"])
    if a.cell:
        meta["cell"] = a.cell
    if a.vocab:
        meta["vocab"] = a.vocab
    tensors = {k: v.detach().cpu().numpy() for k, v in sd.items()}
    charlm_config(tensors, meta, a.file)  # refuse what charlm could not read
    order = ["embed.weight"] + sorted((k for k in tensors if k.startswith("rnn.")),
                                      key=lambda k: (int(k.rsplit("_l", 1)[1]), k)) + \
        ["head.weight", "head.bias"]
    write(a.out, {k: tensors[k] for k in order}, meta, dtype="F32")
    print("%s: %d tensors written to %s (F32)" % (a.file, len(order), a.out))
    return 0


FIXTURE_DOC = """The fixture of tests/test_checkpoint.c (checkpoint::written_by_rgckpt): a
GRU CharLM, V=3 E=2 H=2 L=1, written by write() (head.bias as F64, the rest F32);
element i of the j-th tensor (file order, from 0) is (j + 1) * 0.1 + i * 0.01 - 0.5."""


def cmd_make_fixture(a):
    V, E, H, G = 3, 2, 2, 3
    shapes = [("embed.weight", (V, E)), ("rnn.weight_ih_l0", (G * H, E)),
              ("rnn.weight_hh_l0", (G * H, H)), ("rnn.bias_ih_l0", (G * H,)),
              ("rnn.bias_hh_l0", (G * H,)), ("head.weight", (V, H)), ("head.bias", (V,))]
    tensors = {}
    for j, (name, shape) in enumerate(shapes):
        v = np.array([(j + 1) * 0.1 + i * 0.01 - 0.5 for i in range(math.prod(shape))])
        tensors[name] = v.reshape(shape) if name == "head.bias" else v.reshape(shape).astype(
            np.float32)
    meta = {"cell": "gru", "vocab": "10,97,98", "note": "written by tools/rgckpt.py \u2014 ok"}
    charlm_config(tensors, meta, a.out)
    write(a.out, tensors, meta)
    print("%s: written (a GRU CharLM, V=3 E=2 H=2 L=1)" % os.path.normpath(a.out))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("info", help="tensors, metadata and the CharLM it describes")
    s.add_argument("file")
    s = sub.add_parser("eval", help="charlm eval's number, in numpy or the PyTorch twin")
    s.add_argument("file")
    s.add_argument("text")
    s.add_argument("--torch", action="store_true", help="evaluate with the PyTorch twin")
    s.add_argument("--charlm", metavar="BIN", help="also run BIN eval and compare")
    s.add_argument("--tol", type=float, default=1e-4, help="relative tolerance (default 1e-4)")
    s = sub.add_parser("to-torch", help="load into the PyTorch twin, torch.save it")
    s.add_argument("file")
    s.add_argument("out")
    s = sub.add_parser("from-torch", help="a to-torch file (or state_dict) back to a checkpoint")
    s.add_argument("file")
    s.add_argument("out")
    s.add_argument("--cell", choices=sorted(CELLS), help="for a plain state_dict")
    s.add_argument("--vocab", help="for a plain state_dict: byte values, comma-separated")
    s = sub.add_parser("make-fixture", help="tests/data/ckpt_rgckpt.safetensors (see its doc)")
    s.add_argument("out", nargs="?", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
        "ckpt_rgckpt.safetensors"))
    a = p.parse_args(argv)
    fn = {"info": cmd_info, "eval": cmd_eval, "to-torch": cmd_to_torch,
          "from-torch": cmd_from_torch, "make-fixture": cmd_make_fixture}[a.cmd]
    try:
        return fn(a)
    except (RgCkptError, OSError) as e:
        print("rgckpt %s: %s" % (a.cmd, e), file=sys.stderr)
        return 1
    except ImportError as e:
        print("rgckpt %s: %s (Debian: apt-get install python3-torch)" % (a.cmd, e),
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
