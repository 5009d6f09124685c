#!/usr/bin/env python3
"""Default build vs -Dnative=true (and any other bench_charlm), interleaved A/B.

Runs bench_charlm of every build given, one config after another, --reps
rounds, the order of the builds rotated every round so that no build always
runs first after a pause, and prints medians of chars/s (wall clock) and of
chars per CPU second (the process's CPU time over the timed steps: steadier on
a machine that other jobs share), each build's ratio to the first, the kernel
variant each ran and OpenBLAS's kernel.

    python3 bench/ab_kernels.py default=build native=build-native \\
        --configs tiny small medium --reps 7 --seconds 4
    python3 bench/ab_kernels.py default=build baseline=build:--kernels=baseline

A build is NAME=DIR, optionally :EXTRA with extra bench_charlm arguments
(commas between arguments; --flag=value is split in two).  Standard-library Python only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_busy_s():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def run_result(cmd):
    """Runs a benchmark program that prints `RESULT {json}`; that result, with
    busy_cores: the cores busy over the run, this process included."""
    b0, t0 = cpu_busy_s(), time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.time() - t0
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            r["busy_cores"] = (cpu_busy_s() - b0) / wall
            return r
    raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[-600:]}")


def run(binary, extra, config, threads, seconds, text):
    return run_result([binary, "--config", config, "--threads", str(threads), "--seconds",
                       str(seconds), "--text", text] + extra)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("builds", nargs="+", help="NAME=DIR[:EXTRA,ARGS]")
    ap.add_argument("--configs", nargs="+", default=["tiny", "small", "medium"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--text", default=os.path.join(ROOT, "data/pride_and_prejudice.txt"))
    ap.add_argument("--json", help="write every run here")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    builds = []
    for b in a.builds:
        name, _, rest = b.partition("=")
        d, _, extra = rest.partition(":")
        binary = os.path.join(os.path.abspath(d), "bench", "bench_charlm")
        if not os.access(binary, os.X_OK):
            raise SystemExit(f"{binary} not found")
        builds.append((name, binary, [w for x in extra.split(",") if x for w in x.split("=", 1)]))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    print(f"{cpu}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M %Z')}; "
          f"{a.reps} rounds x {a.seconds:g} s, {a.threads} thread(s)", flush=True)
    runs = {}
    for rep in range(a.reps):
        for c in a.configs:
            k = rep % len(builds)
            for name, binary, extra in builds[k:] + builds[:k]:
                r = run(binary, extra, c, a.threads, a.seconds, a.text)
                runs.setdefault((c, name), []).append(r)
                print(f"[{rep + 1}/{a.reps}] {c:<7} {name:<10} {r['chars_per_s']:>9.0f} c/s  "
                      f"{r.get('chars_per_cpu_s', float('nan')):>9.0f} c/cpu-s  "
                      f"{r.get('kernels', '?')}  busy {r['busy_cores']:.2f} cores", flush=True)
    first = builds[0][0]
    hdr = ["config", "build", "kernels", "OpenBLAS core", "chars/s", "vs " + first,
           "chars/CPU-s", "vs " + first, "busy cores"]
    rows = []
    for c in a.configs:
        base_w = statistics.median(r["chars_per_s"] for r in runs[(c, first)])
        base_c = statistics.median(r.get("chars_per_cpu_s", 0) for r in runs[(c, first)])
        for name, _, _ in builds:
            rs = runs[(c, name)]
            w = statistics.median(r["chars_per_s"] for r in rs)
            cp = statistics.median(r.get("chars_per_cpu_s", 0) for r in rs)
            rows.append([c, name, rs[0].get("kernels", "?"), rs[0].get("blas_core", "?"),
                         f"{w / 1e3:.1f}k", f"{w / base_w:.3f}", f"{cp / 1e3:.1f}k",
                         f"{cp / base_c:.3f}" if base_c else "n/a",
                         f"{statistics.median(r['busy_cores'] for r in rs):.2f}"])
    print()
    if a.markdown:
        print("| " + " | ".join(hdr) + " |")
        print("| " + " | ".join("---" if i < 4 else "---:" for i in range(len(hdr))) + " |")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        w = [max(len(x) for x in col) for col in zip(hdr, *rows)]
        for r in [hdr] + rows:
            print("  ".join(x.ljust(w[i]) if i < 4 else x.rjust(w[i]) for i, x in enumerate(r)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cpu": cpu, "runs": [dict(r, build=n) for (c, n), v in runs.items()
                                            for r in v]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
