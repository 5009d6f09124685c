#!/usr/bin/env python3
"""The custom-cell benchmark of issue 13: user cells, ours against PyTorch's.

A user's cell is built from public ops, so its speed is the library's generic
speed.  In one run, interleaved (every round runs every entry of a config once,
the order rotated from round to round), medians of --reps rounds:

  * ours, fused against composed: bench_charlm --cell lstm / lstm_composed and
    gru / gru_composed (rg_lstm_cell, rg_gru_gates against the same cells made
    of rg_linear, rg_split, rg_add, rg_sigmoid, rg_tanh, rg_mul);
  * each user cell -- lstm_composed, gru_composed, and peephole_lstm, ln_lstm
    (its layer norms composed of mean, sub, mul, pow), ln_lstm_fused (the same
    through rg_layer_norm) and mingru of examples/cell_plugin.so (bench_charlm
    --cell-lib) -- ours against its PyTorch twin stepped in Python
    (bench/torch_custom_cells.py, eager; F.layer_norm for both LayerNorm
    LSTMs) and the same module through torch.jit.script.

Everything trains bench_charlm's char-LM step (Embedding(V,H), the cell's
layers, Linear(H,V), mean cross-entropy, Adam, clip 5) at 1 thread on the
small (1x128, unroll 64, batch 32) and medium (2x256) sizes.  The figure
compared is chars per CPU second of the process over its timed steps (steadier
than wall-clock chars/s on a shared machine; both are kept in --json).

    python3 bench/custom_cells.py --build build-bench --reps 3 --seconds 4 --markdown

Standard-library Python only; PyTorch runs in --python (default /usr/bin/python3).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from ab_kernels import run_result

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN_CELLS = ("peephole_lstm", "ln_lstm", "ln_lstm_fused", "mingru")
USER_CELLS = ("lstm_composed", "gru_composed") + PLUGIN_CELLS
TWIN = {"ln_lstm_fused": "ln_lstm"}  # the same cell through rg_layer_norm: the same twin
FUSED = (("lstm", "lstm_composed"), ("gru", "gru_composed"))
NICE = {"lstm_composed": "composed LSTM", "gru_composed": "composed GRU",
        "peephole_lstm": "peephole LSTM", "ln_lstm": "LayerNorm LSTM (LN composed)",
        "ln_lstm_fused": "LayerNorm LSTM (rg_layer_norm)", "mingru": "minGRU"}
SIZES = {"small": "1×128", "medium": "2×256"}


def cpu_model():
    """lscpu's "Model name" (/proc/cpuinfo's "model name" without lscpu)."""
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    with open("/proc/cpuinfo") as f:
        return next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")


def entries(build, python):
    """(key, side, cell, command without --config/--seconds/--text)"""
    binary = os.path.join(os.path.abspath(build), "bench", "bench_charlm")
    plugin = os.path.join(os.path.abspath(build), "examples", "cell_plugin.so")
    for f in (binary, plugin):
        if not os.path.exists(f):
            raise SystemExit(f"{f} not found (ninja -C {build} bench/bench_charlm examples/cell_plugin.so)")
    twin = os.path.join(ROOT, "bench", "torch_custom_cells.py")
    out = []
    for cell in ("lstm", "gru") + USER_CELLS:
        lib = ["--cell-lib", plugin] if cell in PLUGIN_CELLS else []
        out.append(((cell, "ours"), [binary, "--threads", "1", "--cell", cell] + lib))
    for cell in USER_CELLS:
        if cell in TWIN:
            continue
        for mode in ("eager", "script"):
            out.append(((cell, mode), [python, twin, "--cell", cell, "--mode", mode]))
    return out


def run(cmd, config, seconds, text):
    return run_result(cmd + ["--config", config, "--seconds", str(seconds), "--text", text])


def table(hdr, rows, markdown, right_from):
    if markdown:
        print("| " + " | ".join(hdr) + " |")
        print("| " + " | ".join("---" if i < right_from else "---:" for i in range(len(hdr))) + " |")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    w = [max(len(x) for x in col) for col in zip(hdr, *rows)]
    for r in [hdr] + rows:
        print("  ".join(x.ljust(w[i]) if i < right_from else x.rjust(w[i]) for i, x in enumerate(r)))


def status(v, target):
    return "-" if v == "-" else ("met" if float(v) >= target else "not met")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--build", default="build-bench", help="build folder of bench_charlm")
    ap.add_argument("--python", default="/usr/bin/python3", help="the interpreter with torch")
    ap.add_argument("--configs", nargs="+", default=["small", "medium"], choices=list(SIZES))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--no-script", action="store_true", help="skip the TorchScript column")
    ap.add_argument("--text", default=os.path.join(ROOT, "data/pride_and_prejudice.txt"))
    ap.add_argument("--json", help="write every run here")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    es = [e for e in entries(a.build, a.python) if not (a.no_script and e[0][1] == "script")]
    cpu = cpu_model()
    print(f"{cpu}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M %Z')}; {a.reps} "
          f"rounds x {a.seconds:g} s, 1 thread, {len(es)} runs per config and round", flush=True)
    runs = {}
    for rep in range(a.reps):
        for c in a.configs:
            k = (rep * 5) % len(es)  # rotate so that no entry always follows the same one
            for key, cmd in es[k:] + es[:k]:
                r = run(cmd, c, a.seconds, a.text)
                runs.setdefault((c,) + key, []).append(r)
                print(f"[{rep + 1}/{a.reps}] {c:<6} {key[0]:<13} {key[1]:<6} "
                      f"{r['chars_per_s']:>9.0f} c/s {r['chars_per_cpu_s']:>9.0f} c/cpu-s  "
                      f"busy {r['busy_cores']:.2f} cores", flush=True)

    def med(c, cell, side, what="chars_per_cpu_s"):
        rs = runs.get((c, cell, side))
        return statistics.median(r[what] for r in rs) if rs else None

    ours = [r for (c, cell, side), v in runs.items() if side == "ours" for r in v]
    pt = [r for (c, cell, side), v in runs.items() if side != "ours" for r in v]
    cores = sorted({r.get("blas_core", "?") for r in ours + pt})
    busy = statistics.median(r["busy_cores"] for v in runs.values() for r in v)
    print(f"\nCPU: {cpu}; OpenBLAS kernel: {', '.join(cores)}; retrograd kernels: "
          f"{', '.join(sorted({r.get('kernels', '?') for r in ours}))}; torch "
          f"{pt[0].get('torch', '?') if pt else '-'}; median busy cores {busy:.2f} "
          f"(of {os.cpu_count()}); chars per CPU second, medians of {a.reps}\n")
    k = lambda v: f"{v / 1e3:.1f}k" if v else "-"
    x = lambda n, d: f"{n / d:.2f}" if n and d else "-"
    rows = []
    for c in a.configs:
        for fused, comp in FUSED:
            f, m = med(c, fused, "ours"), med(c, comp, "ours")
            rows.append([f"{fused.upper()} {c} ({SIZES[c]})", k(f), k(m), x(m, f)])
    table(["cell, size", "fused", "composed", "composed/fused"], rows, a.markdown, 1)
    print()
    rows = []
    for c in a.configs:
        for cell in USER_CELLS:
            tw = TWIN.get(cell, cell)
            o, e, s = med(c, cell, "ours"), med(c, tw, "eager"), med(c, tw, "script")
            rows.append([f"{NICE[cell]} {c} ({SIZES[c]})", k(o), k(e), k(s), x(o, e), x(o, s),
                         f"{k(med(c, cell, 'ours', 'chars_per_s'))} / "
                         f"{k(med(c, tw, 'eager', 'chars_per_s'))}"])
    table(["cell, size", "ours", "PyTorch eager", "TorchScript", "ours/eager", "ours/script",
           "wall c/s ours / eager"], rows, a.markdown, 1)
    print()
    rows = []  # issue 13's targets
    for c in a.configs:
        for fused, comp in FUSED:
            v = x(med(c, comp, "ours"), med(c, fused, "ours"))
            rows.append([f"{NICE[comp]} {c}", ">= 0.9x its fused twin", v, status(v, 0.9)])
        for cell in USER_CELLS:
            v = x(med(c, cell, "ours"), med(c, TWIN.get(cell, cell), "eager"))
            rows.append([f"{NICE[cell]} {c}", ">= 3x PyTorch eager", v, status(v, 3.0)])
    table(["cell", "target", "measured", "status"], rows, a.markdown, 4)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cpu": cpu, "runs": [dict(r, side=side) for (c, cell, side), v in
                                            runs.items() for r in v]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
