#!/usr/bin/env python3
"""Data-parallel scaling of retrograd's training step on this machine, and a
model of it beyond one machine.

Runs bench_charlm for each config as 1 process x 1 thread, 1 process x 2
threads, 2 ranks x 1 thread (mpirun) and 2 ranks x 1 thread in deterministic
mode, alternating, and takes medians; times Open MPI's allreduce at the
configs' gradient sizes (bench_allreduce); then models a step on N nodes as

    T(N) = C / N + A(N),   A(N) = 2 (N-1)/N * bytes / bandwidth + 2 (N-1) * latency

(ring allreduce), with C the measured one-process step and the network's
bandwidth and latency as given, and prints the predicted speed-up for
N = 2..64 on 10 and 100 Gb/s networks and where it stops paying (parallel
efficiency below 50%).

    python3 bench/run_mpi.py --build build --configs medium large --seconds 5 --reps 3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def run(cmd, env):
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), out.stderr))
    return [json.loads(l.split(" ", 1)[1]) for l in out.stdout.splitlines()
            if l.startswith(("RESULT ", "ALLREDUCE "))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--configs", nargs="+", default=["medium", "large"])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--text", default="data/pride_and_prejudice.txt")
    ap.add_argument("--latency-us", type=float, nargs=2, default=[20.0, 5.0],
                    help="latency of the 10 and 100 Gb/s networks (default 20 and 5 us)")
    args = ap.parse_args()
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    bench = os.path.join(args.build, "bench", "bench_charlm")
    setups = [("1x1", [], ["--threads", "1"]),
              ("1x2 threads", [], ["--threads", "2"]),
              ("2 ranks x1", ["mpirun", "-np", "2"], ["--threads", "1"]),
              ("2 ranks x1 det", ["mpirun", "-np", "2"], ["--threads", "1", "--deterministic-shards", "8"])]
    cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True,
                         text=True).stdout.strip()
    rows = {}
    for cfg in args.configs:
        res = {name: [] for name, _, _ in setups}
        for _ in range(args.reps):
            for name, pre, flags in setups:
                r = run(pre + [bench, "--config", cfg, "--seconds", str(args.seconds), "--text",
                               args.text] + flags, env)[0]
                res[name].append(r)
        rows[cfg] = {name: (statistics.median(x["chars_per_s"] for x in v),
                            statistics.median(x["ms_per_step"] for x in v),
                            statistics.median(x["comm_share"] for x in v)) for name, v in res.items()}
    ar = {r["config"]: r for r in run(["mpirun", "-np", "2", os.path.join(args.build, "bench", "bench_allreduce")], env)}
    print("CPU: %s, %s; medians of %d alternating runs of %g s" % (cpu, res["1x1"][0]["blas"], args.reps, args.seconds))
    print()
    print("| config | 1x1 chars/s | 1x2 threads | 2 ranks x 1 | 2 ranks x 1, deterministic | 2 ranks / 1x1 | threads / 1x1 | waiting share (2 ranks) | allreduce of the gradient (2 ranks, this machine) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for cfg, r in rows.items():
        print("| %s | %.0f | %.0f | %.0f | %.0f | %.2fx | %.2fx | %.1f%% | %.2f ms (%.1f MB) |" % (
            cfg, r["1x1"][0], r["1x2 threads"][0], r["2 ranks x1"][0], r["2 ranks x1 det"][0],
            r["2 ranks x1"][0] / r["1x1"][0], r["1x2 threads"][0] / r["1x1"][0],
            100 * r["2 ranks x1"][2], ar[cfg]["median_us"] / 1e3, ar[cfg]["bytes"] / 1e6))
    print()
    print("Model: T(N) = C/N + 2(N-1)/N * bytes/bandwidth + 2(N-1) * latency, C = the 1x1 step.")
    ns = [2, 4, 8, 16, 32, 64]
    print("| config | network | " + " | ".join("N=%d" % n for n in ns) + " | stops paying (efficiency < 50%) |")
    print("| --- | --- | " + " | ".join("---:" for _ in ns) + " | --- |")
    for cfg, r in rows.items():
        c = r["1x1"][1] / 1e3
        nbytes = ar[cfg]["bytes"]
        for gbps, lat in zip((10, 100), args.latency_us):
            bw = gbps * 1e9 / 8
            sp, stop = [], None
            for n in range(2, 65):
                t = c / n + 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * lat * 1e-6
                s = c / t
                if n in ns:
                    sp.append("%.1fx" % s)
                if stop is None and s / n < 0.5:
                    stop = n
            print("| %s | %d Gb/s | %s | %s |" % (cfg, gbps, " | ".join(sp),
                                                  "N = %d" % stop if stop else "beyond 64"))


if __name__ == "__main__":
    main()
