#!/usr/bin/env python3
"""Char-LM training throughput, retrograd next to PyTorch, in one run.

For each config and thread count this runs, alternating A/B (ours, PyTorch,
ours, PyTorch, ... --reps times each), our bench_charlm and PyTorch's
torch_charlm.py --child on the same text, waiting for a quiet machine before
every point, and prints a table of medians: chars/s, their ratio, the share of
the machine's sgemm peak that the training FLOP rate reaches, peak RSS; then
the performance issue's targets per config, each marked met or missed.

Two more columns when their programs are there: with --native-build DIR, the
same bench_charlm from a -Dnative=true build (ours is the portable default
build, which picks its kernels at run time), in the same alternation; and,
for the LSTM configs, oneDNN's own LSTM training (bench_onednn_lstm, built
when libdnnl-dev is installed: the LSTM stack alone, forward + backward, no
embedding, head, loss or optimizer) -- --no-onednn skips it.  The header
names the kernel variant ours ran and OpenBLAS's kernel.

    bench/run_compare.sh                                   # builds, then the full sweep
    python3 bench/compare_torch.py --build build-bench --configs tiny small \\
        --seconds 2 --reps 1                               # a quick look
    python3 bench/compare_torch.py --markdown --json compare.json

At 2 threads PyTorch also runs its best 2-core settings (see
../shared/bench/README.md): torch 2 threads with OMP_WAIT_POLICY=PASSIVE, and
torch 1 thread with OpenBLAS 2 threads; the fastest of these and plain torch 2
is "PyTorch best 2-core".

The sgemm peak comes from bench_peak (cblas_sgemm float32, n = 1024, 1 and 2
OpenBLAS threads, median GFLOP/s), run at the start and at the end of the
sweep; the higher of the two is used. Training FLOPs per char = 3 x the forward
matmul FLOPs per char: per layer 2*(G*H*I + G*H*H) with I = H (embedding size =
hidden size) and G = 4 (LSTM), 3 (GRU), 1 (RNN), plus 2*H*V for the head, V =
distinct bytes of the text. Elementwise work, the embedding and the optimizer
are not counted, so the figure is a lower bound of the real FLOP rate.

Runs only standard-library Python; PyTorch runs in /usr/bin/python3 (Debian's
python3-torch), which --python changes.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#   name         cell  G  layers hidden unroll batch   (same as bench/charlm.c and torch_charlm.py)
CONFIGS = {
    "tiny":       ("lstm", 4, 1, 64, 25, 1),
    "small":      ("lstm", 4, 1, 128, 64, 32),
    "medium":     ("lstm", 4, 2, 256, 64, 32),
    "large":      ("lstm", 4, 1, 512, 64, 64),
    "gru-medium": ("gru", 3, 2, 256, 64, 32),
    "rnn-medium": ("rnn", 1, 2, 256, 64, 32),
}

# The performance issues' targets (issue 13, "full speed from the default
# build"). ratio1: ours/PyTorch at 1 thread; ratio2best: ours at 2 threads /
# PyTorch best 2-core; peak1: share of the 1-thread sgemm peak at 1 thread;
# onednn: ours >= oneDNN's LSTM stack alone (1 and 2 threads, when measured).
# Every config: peak RSS <= RSS_TARGET x PyTorch's, and (with --native-build)
# the default build within NATIVE_TARGET of -Dnative=true.
TARGETS = {
    "tiny":       {"ratio1": 18.0},
    "small":      {"ratio1": 2.5, "onednn": 1.0},
    "medium":     {"ratio1": 1.8, "ratio2best": 2.5, "onednn": 1.0},
    "gru-medium": {"ratio1": 1.8, "ratio2best": 2.5},
    "rnn-medium": {"ratio1": 1.8, "ratio2best": 2.5},
    "large":      {"ratio1": 2.0, "peak1": 0.85, "onednn": 1.0},
}
RSS_TARGET = 0.4
NATIVE_TARGET = 0.95
ONEDNN_CONFIGS = ("tiny", "small", "medium", "large")

# PyTorch settings: label -> (torch threads, extra child args, extra env).
# "torch" is the plain setting at the point's thread count (torch = OpenBLAS
# threads, default active OpenMP waiting); the other two run at 2 threads only.
TORCH_2CORE = {
    "torch 2, OMP passive": (2, [], {"OMP_WAIT_POLICY": "PASSIVE"}),
    "torch 1, OpenBLAS 2": (1, ["--blas-threads", "2"], {}),
}


def fail(msg):
    print(f"compare_torch: {msg}", file=sys.stderr)
    sys.exit(1)


def cpu_busy_s():
    """Busy CPU seconds of the whole machine (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s():
    """CPU seconds of this process and its finished children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def wait_quiet(timeout_s, thresh, window=2.0):
    """Wait until other processes use < thresh cores over `window` seconds, at
    most timeout_s. Returns (seconds waited, other cores at the last look,
    whether the machine was quiet)."""
    t0 = time.time()
    while True:
        b0, c0 = cpu_busy_s(), own_cpu_s()
        time.sleep(window)
        other = max(0.0, (cpu_busy_s() - b0 - (own_cpu_s() - c0)) / window)
        if other < thresh:
            return time.time() - t0, other, True
        if time.time() - t0 >= timeout_s:
            return time.time() - t0, other, False


def run_child(cmd, env_extra=None, timeout_s=None):
    """Run one measuring child; returns its RESULT json plus other_cores (cores
    used by other processes during the whole child run) and wall_s, or a dict
    with an 'error'."""
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    env.update(env_extra or {})
    b0, c0, t0 = cpu_busy_s(), own_cpu_s(), time.time()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT,
                           timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"no result after {timeout_s:.0f} s", "cmd": shlex.join(cmd)}
    wall = time.time() - t0
    other = max(0.0, (cpu_busy_s() - b0 - (own_cpu_s() - c0)) / wall) if wall > 0 else 0.0
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            r.update(other_cores=other, wall_s=wall)
            return r
    tail = (p.stdout + p.stderr).strip().splitlines()[-8:]
    return {"error": f"exit {p.returncode}: " + " | ".join(tail), "cmd": shlex.join(cmd)}


def vocab_size(path):
    with open(path, "rb") as f:
        return len(set(f.read()))


def flops_per_char(config, V):
    """3 x forward matmul FLOPs per char (forward + the two backward products)."""
    _, G, L, H, _, _ = CONFIGS[config]
    fwd = L * 2 * (G * H * H + G * H * H) + 2 * H * V
    return 3 * fwd


def check_torch(python, script):
    if not os.path.isfile(script):
        fail(f"PyTorch benchmark script not found: {script}\n"
             "  (give its path with --torch-script; it lives in ../shared/bench/)")
    if not os.access(python, os.X_OK):
        fail(f"no interpreter at {python}: PyTorch is run with Debian's python3-torch\n"
             "  (apt-get install python3-torch python3-numpy, or give --python)")
    p = subprocess.run([python, "-c", "import torch; print(torch.__version__)"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"{python} cannot import torch: {p.stderr.strip().splitlines()[-1:]}\n"
             "  (apt-get install python3-torch python3-numpy, or give --python)")
    return p.stdout.strip()


def run_peak(peak_bin, args, log):
    wait_quiet(args.quiet_timeout, args.quiet_threshold)
    r = run_child([peak_bin], timeout_s=300)
    if "error" in r:
        log(f"  [bench_peak failed: {r['error']}]")
        return None
    log(f"  sgemm peak (n={r['n']}): 1 thread {r['gflops_1']:.1f} GFLOP/s, "
        f"2 threads {r['gflops_2']:.1f} GFLOP/s  (other processes {r['other_cores']:.2f} cores)")
    return r


def med(runs, key="chars_per_s"):
    v = [r[key] for r in runs if "error" not in r]
    return statistics.median(v) if v else None


def fmt_k(x):
    if x is None:
        return "n/a"
    return f"{x / 1e3:.1f}k" if x < 1e6 else f"{x / 1e6:.2f}M"


def fmt(x, spec, suffix=""):
    return "n/a" if x is None else format(x, spec) + suffix


def ratio(a, b):
    return a / b if a is not None and b else None


def summarise(points, peak, V):
    """Medians per (config, threads)."""
    rows = []
    for (c, t), runs in points.items():
        row = {"config": c, "threads": t}
        ours, torch = runs["ours"], runs["torch"]
        row["ours"] = med(ours)
        row["torch"] = med(torch)
        row["ratio"] = ratio(row["ours"], row["torch"])
        row["native"] = med(runs.get("native", []))
        row["default_native"] = ratio(row["ours"], row["native"])
        row["onednn"] = med(runs.get("onednn", []))
        row["ours_onednn"] = ratio(row["ours"], row["onednn"])
        row["ours_rss"] = med(ours, "peak_rss_mb")
        row["torch_rss"] = med(torch, "peak_rss_mb")
        row["rss_ratio"] = ratio(row["ours_rss"], row["torch_rss"])
        row["other_cores_max"] = max((r.get("other_cores", 0.0) for v in runs.values() for r in v),
                                     default=0.0)
        row["errors"] = [r["error"] for v in runs.values() for r in v if "error" in r]
        if t == 2:
            cands = {"torch 2": row["torch"]}
            for label in TORCH_2CORE:
                cands[label] = med(runs.get(label, []))
            cands = {k: v for k, v in cands.items() if v is not None}
            if cands:
                best = max(cands, key=cands.get)
                row["torch_best2"], row["torch_best2_setting"] = cands[best], best
                row["torch_2core"] = cands
                row["ratio_best2"] = ratio(row["ours"], cands[best])
        fpc = flops_per_char(c, V)
        row["flops_per_char"] = fpc
        g = peak.get(t) if peak else None
        row["peak_gflops"] = g
        row["ours_peak_frac"] = row["ours"] * fpc / (g * 1e9) if g and row["ours"] else None
        row["torch_peak_frac"] = row["torch"] * fpc / (g * 1e9) if g and row["torch"] else None
        rows.append(row)
    return rows


def evaluate_targets(rows, configs):
    """One entry per target: (config, description, value text, status)."""
    by = {(r["config"], r["threads"]): r for r in rows}
    out = []

    def add(c, desc, value, goal, shown):
        status = "not measured" if value is None else ("met" if value >= goal else "missed")
        out.append({"config": c, "target": desc, "value": shown, "status": status})

    for c in configs:
        t = TARGETS[c]
        r1, r2 = by.get((c, 1)), by.get((c, 2))
        if "ratio1" in t:
            v = r1["ratio"] if r1 else None
            add(c, f">= {t['ratio1']:g}x PyTorch (1 thread)", v, t["ratio1"], fmt(v, ".2f", "x"))
        if "ratio2best" in t:
            v = r2.get("ratio_best2") if r2 else None
            add(c, f">= {t['ratio2best']:g}x PyTorch best 2-core (2 threads)", v,
                t["ratio2best"], fmt(v, ".2f", "x"))
        for th, r in ((1, r1), (2, r2)):
            if "onednn" in t and r and r.get("onednn") is not None:
                v = r["ours_onednn"]
                add(c, f">= {t['onednn']:g}x oneDNN's LSTM stack ({th} thread{'s' if th > 1 else ''})",
                    v, t["onednn"], fmt(v, ".2f", "x"))
            if r and r.get("native") is not None:
                v = r["default_native"]
                add(c, f"default build >= {NATIVE_TARGET:g} x -Dnative=true ({th} thread"
                    f"{'s' if th > 1 else ''})", v, NATIVE_TARGET, fmt(v, ".2f", "x"))
        if "peak1" in t:
            v = r1["ours_peak_frac"] if r1 else None
            add(c, f">= {100 * t['peak1']:.0f}% of 1-core sgemm peak (1 thread)", v, t["peak1"],
                fmt(None if v is None else 100 * v, ".0f", "%"))
        rs = [by[(c, th)]["rss_ratio"] for th in (1, 2) if (c, th) in by]
        rs = [x for x in rs if x is not None]
        v = max(rs) if rs else None
        # met when the worst measured point is <= RSS_TARGET
        out.append({"config": c, "target": f"peak RSS <= {RSS_TARGET:g} x PyTorch's",
                    "value": fmt(v, ".2f", "x"),
                    "status": "not measured" if v is None else
                    ("met" if v <= RSS_TARGET else "missed")})
    return out


def table(rows, markdown):
    native = any(r.get("native") is not None for r in rows)
    onednn = any(r.get("onednn") is not None for r in rows)
    hdr = ["config", "thr", "ours c/s", "PyTorch c/s", "ours/PT", "PT best 2-core",
           "ours/best", "ours %peak", "PT %peak", "ours RSS MB", "PT RSS MB", "RSS ours/PT",
           "other cores"]
    if native:
        hdr[3:3] = ["native c/s", "default/native"]
    if onednn:
        hdr[3:3] = ["oneDNN LSTM c/s", "ours/oneDNN"]
    body = []
    for r in rows:
        best = ""
        if r["threads"] == 2 and r.get("torch_best2") is not None:
            best = f"{fmt_k(r['torch_best2'])} ({r['torch_best2_setting']})"
        body.append([
            r["config"], str(r["threads"]), fmt_k(r["ours"]), fmt_k(r["torch"]),
            fmt(r["ratio"], ".2f", "x"), best or "-",
            fmt(r.get("ratio_best2"), ".2f", "x") if r["threads"] == 2 else "-",
            fmt(None if r["ours_peak_frac"] is None else 100 * r["ours_peak_frac"], ".0f", "%"),
            fmt(None if r["torch_peak_frac"] is None else 100 * r["torch_peak_frac"], ".0f", "%"),
            fmt(r["ours_rss"], ".0f"), fmt(r["torch_rss"], ".0f"),
            fmt(r["rss_ratio"], ".2f", "x"), f"{r['other_cores_max']:.2f}",
        ])
        if native:
            body[-1][3:3] = [fmt_k(r.get("native")), fmt(r.get("default_native"), ".2f", "x")]
        if onednn:
            body[-1][3:3] = [fmt_k(r.get("onednn")) if r.get("onednn") else "-",
                             fmt(r.get("ours_onednn"), ".2f", "x") if r.get("onednn") else "-"]
    return render(hdr, body, markdown, right_from=1)


def render(hdr, body, markdown, right_from):
    if markdown:
        lines = ["| " + " | ".join(hdr) + " |",
                 "| " + " | ".join("---" if i < right_from else "---:" for i in range(len(hdr)))
                 + " |"]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(lines)
    w = [max(len(x) for x in col) for col in zip(hdr, *body)]
    line = lambda cells: "  ".join(
        c.ljust(w[i]) if i < right_from else c.rjust(w[i]) for i, c in enumerate(cells))
    return "\n".join([line(hdr), line(["-" * x for x in w])] + [line(b) for b in body])


def target_table(targets, markdown):
    body = [[t["config"], t["target"], t["value"], t["status"]] for t in targets]
    return render(["config", "target", "measured", "status"], body, markdown, right_from=99)


def main():
    ap = argparse.ArgumentParser(description="retrograd vs PyTorch char-LM training throughput",
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2], choices=[1, 2])
    ap.add_argument("--seconds", type=float, default=8.0, help="timed seconds per run (default 8)")
    ap.add_argument("--reps", type=int, default=3, help="runs of each side per point (default 3)")
    ap.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    ap.add_argument("--json", metavar="FILE", help="write every run, the medians and the targets")
    ap.add_argument("--build", default="build",
                    help="meson build dir with bench/bench_charlm and bench/bench_peak (default build)")
    ap.add_argument("--native-build", default=None, metavar="DIR",
                    help="a -Dnative=true build dir: its bench_charlm runs too (default/native column)")
    ap.add_argument("--no-onednn", action="store_true",
                    help="skip bench_onednn_lstm even when the build has it")
    ap.add_argument("--text", default=None, help="training text (default data/pride_and_prejudice.txt)")
    ap.add_argument("--torch-script", default=None,
                    help="PyTorch side (default ../shared/bench/torch_charlm.py, from the repo root)")
    ap.add_argument("--python", default="/usr/bin/python3",
                    help="interpreter with torch (default /usr/bin/python3)")
    ap.add_argument("--quiet-timeout", type=float, default=60.0,
                    help="max seconds to wait for a quiet machine before each run (default 60; 0: look once)")
    ap.add_argument("--quiet-threshold", type=float, default=0.15,
                    help="quiet = other processes use fewer cores than this (default 0.15)")
    args = ap.parse_args()
    if args.reps < 1 or args.seconds <= 0:
        fail("--reps must be >= 1 and --seconds > 0")

    # Paths a user gives are relative to where they are; defaults to the repo root.
    text = os.path.abspath(args.text) if args.text else os.path.join(ROOT, "data/pride_and_prejudice.txt")
    script = (os.path.abspath(args.torch_script) if args.torch_script
              else os.path.normpath(os.path.join(ROOT, "../shared/bench/torch_charlm.py")))
    build = args.build if os.path.isabs(args.build) else (
        os.path.abspath(args.build) if os.path.isdir(args.build) else os.path.join(ROOT, args.build))
    ours_bin = os.path.join(build, "bench", "bench_charlm")
    peak_bin = os.path.join(build, "bench", "bench_peak")
    onednn_bin = os.path.join(build, "bench", "bench_onednn_lstm")
    if args.no_onednn or not os.access(onednn_bin, os.X_OK):
        onednn_bin = None
    native_bin = None
    if args.native_build:
        nb = os.path.abspath(args.native_build)
        native_bin = os.path.join(nb, "bench", "bench_charlm")
        if not os.access(native_bin, os.X_OK):
            fail(f"{native_bin} not found: build it first (meson setup {args.native_build} "
                 "--buildtype=release -Dnative=true && ninja -C ...)")
    for b in (ours_bin, peak_bin):
        if not os.access(b, os.X_OK):
            fail(f"{b} not found: build it first (bench/run_compare.sh does: meson setup "
                 f"build-bench --buildtype=release -Dnative=true && ninja -C build-bench), "
                 "or give --build DIR")
    if not os.path.isfile(text):
        fail(f"training text not found: {text}")
    torch_version = check_torch(args.python, script)
    V = vocab_size(text)

    def log(s):
        print(s, file=sys.stderr if args.markdown else sys.stdout, flush=True)

    git = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip() or "?"
    started = datetime.datetime.now().astimezone()
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    meta = {"date": started.isoformat(timespec="seconds"), "command": shlex.join(sys.argv),
            "retrograd": git, "torch": torch_version, "python": args.python,
            "torch_script": script, "text": text, "vocab": V, "cpu": cpu,
            "cores": os.cpu_count(), "seconds": args.seconds, "reps": args.reps,
            "host": platform.node()}
    log(f"retrograd {git} ({ours_bin}) vs torch {torch_version} ({script})")
    log(f"{cpu}, {os.cpu_count()} cores; text {text} (V = {V}); {args.seconds:g} s per run, "
        f"{args.reps} reps; {started:%Y-%m-%d %H:%M %Z}")

    # Plan: per point, reps rounds of [ours, (native), (oneDNN), torch, (2 threads: the
    # torch 2-core settings)].
    plan = []
    for c in args.configs:
        for t in args.threads:
            sides = (["ours"] + (["native"] if native_bin else [])
                     + (["onednn"] if onednn_bin and c in ONEDNN_CONFIGS else [])
                     + ["torch"] + (list(TORCH_2CORE) if t == 2 else []))
            for _ in range(args.reps):
                plan += [(c, t, s) for s in sides]

    peaks = [run_peak(peak_bin, args, log)]
    points = {}
    busy_warned = False
    for i, (c, t, side) in enumerate(plan, 1):
        waited, other, quiet = wait_quiet(args.quiet_timeout, args.quiet_threshold)
        if not quiet and not busy_warned:
            log(f"  [machine busy: other processes use {other:.2f} cores after {waited:.0f} s of "
                "waiting; running anyway, figures are noisy]")
            busy_warned = True
        limit = 10 * args.seconds + 300  # warm-up, calibration, torch import: generous
        common = ["--config", c, "--seconds", f"{args.seconds:g}", "--text", text]
        if side == "ours":
            r = run_child([ours_bin, "--threads", str(t)] + common, timeout_s=limit)
        elif side == "native":
            r = run_child([native_bin, "--threads", str(t)] + common, timeout_s=limit)
        elif side == "onednn":
            r = run_child([onednn_bin, "--threads", str(t), "--config", c,
                           "--seconds", f"{args.seconds:g}"], timeout_s=limit)

        elif side == "torch":
            r = run_child([args.python, script, "--child", "--threads", str(t)] + common,
                          timeout_s=limit)
        else:
            th, extra, env = TORCH_2CORE[side]
            r = run_child([args.python, script, "--child", "--threads", str(th)] + extra + common,
                          env, limit)
        r.update(side=side, point_threads=t, config=c, quiet_before=quiet,
                 other_cores_before=other)
        points.setdefault((c, t), {}).setdefault(side, []).append(r)
        if "error" in r:
            log(f"[{i}/{len(plan)}] {c} t{t} {side}: FAILED {r['error']}")
        else:
            log(f"[{i}/{len(plan)}] {c:<10} t{t} {side:<21} {r['chars_per_s']:>10.0f} chars/s "
                f"{r['ms_per_step']:>8.2f} ms/step  RSS {r['peak_rss_mb']:>5.0f} MB  "
                f"other {r['other_cores']:.2f} cores")
    peaks.append(run_peak(peak_bin, args, log))
    good = [p for p in peaks if p]
    peak = {1: max(p["gflops_1"] for p in good), 2: max(p["gflops_2"] for p in good)} if good else None

    ours_runs = [r for p in points.values() for r in p.get("ours", []) if "error" not in r]
    kernels = ", ".join(sorted({r.get("kernels", "?") for r in ours_runs})) or "?"
    blas_core = ", ".join(sorted({r.get("blas_core", "?") for r in ours_runs})) or "?"
    meta.update(kernels=kernels, blas_core=blas_core)
    rows = summarise(points, peak, V)
    targets = evaluate_targets(rows, args.configs)
    finished = datetime.datetime.now().astimezone()

    print()
    pk = (f"sgemm peak (cblas_sgemm n=1024, best of start/end medians): 1 thread "
          f"{peak[1]:.1f} GFLOP/s, 2 threads {peak[2]:.1f} GFLOP/s" if peak else "sgemm peak: n/a")
    print(f"Char-LM training throughput, medians of {args.reps} alternating run(s) per side, "
          f"{args.seconds:g} s each; {started:%Y-%m-%d}, {cpu}, {os.cpu_count()} cores; "
          f"retrograd {git} ({kernels} kernels, OpenBLAS core {blas_core}), "
          f"torch {torch_version}.")
    print(f"{pk}. %peak = chars/s x training FLOPs/char (3 x forward matmul FLOPs) / peak at "
          "the same thread count. 'other cores': most CPU used by other processes during a run.")
    print()
    print(table(rows, args.markdown))
    print()
    print("Targets of the performance issue:")
    print()
    print(target_table(targets, args.markdown))
    busy = max((r["other_cores_max"] for r in rows), default=0.0)
    if busy >= 0.1:
        print(f"\nnote: other processes used up to {busy:.2f} cores during the runs; "
              "the figures are noisy.")
    errs = [e for r in rows for e in r["errors"]]
    for e in errs:
        print(f"error: {e}")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": dict(meta, finished=finished.isoformat(timespec="seconds")),
                       "peak_runs": peaks, "peak_gflops": peak,
                       "runs": [r for p in points.values() for v in p.values() for r in v],
                       "medians": rows, "targets": targets}, f, indent=1)
        log(f"\nwrote {args.json}")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
