#!/usr/bin/python3
"""PyTorch side of bench/overhead.c: the same two graphs, op for op, on the CPU
with one thread; forward (graph recording) and backward timed separately, in
ns per recorded op, median over repetitions (after one warm-up).

    /usr/bin/python3 bench/torch_overhead_ref.py [reps] [chain_ops] [T]

(a) chain x = tanh(x*0.999 + 0.001) on 0-d tensors, 3 recorded ops per
    iteration, float64 and float32, plus the same forward under no_grad.
(b) the seed's scalar RNN, T steps, written like examples/seed_models.h:
    per step slice, mul, add, add, tanh, mul, add (7 ops), then one cat and
    one summed cross-entropy: 7T+2 recorded ops (retrograd: 7T+3, its slices
    come from one embedding lookup of all T inputs).  Here the slice is taken
    from W_x itself (W_x[x_t:x_t+1]): slicing one [T,1] lookup would make
    PyTorch's SliceBackward fill a [T,1] zero gradient per step, O(T^2).

Prints "RESULT name fwd_ns bwd_ns [us_per_step]" lines for run_overhead.sh.
"""
import ctypes
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def threads1():
    torch.set_num_threads(1)
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(1)
    except OSError:
        pass


def chain(dtype, n_ops, reps):
    iters = n_ops // 3
    n = iters * 3
    fw, bw, ng = [], [], []
    for r in range(reps + 1):
        x0 = torch.tensor(0.5, dtype=dtype, requires_grad=True)
        t0 = time.perf_counter()
        x = x0
        for _ in range(iters):
            x = torch.tanh(x * 0.999 + 0.001)
        t1 = time.perf_counter()
        x.backward()
        t2 = time.perf_counter()
        del x
        with torch.no_grad():
            y = x0.detach()
            t3 = time.perf_counter()
            for _ in range(iters):
                y = torch.tanh(y * 0.999 + 0.001)
            t4 = time.perf_counter()
        if r > 0:
            fw.append(t1 - t0)
            bw.append(t2 - t1)
            ng.append(t4 - t3)
    return n, statistics.median(fw), statistics.median(bw), statistics.median(ng), \
        min(fw), min(bw)


def words(T):
    """The same 64-bit LCG as bench/overhead.c."""
    s, m = 42, (1 << 64) - 1
    xs, ys = [], []
    for _ in range(T):
        s = (s * 6364136223846793005 + 1442695040888963407) & m
        xs.append((s >> 33) % 4)
        s = (s * 6364136223846793005 + 1442695040888963407) & m
        ys.append((s >> 33) % 4)
    return xs, ys


def scalar_rnn(T, reps, dtype=torch.float64):
    xs, ys = words(T)
    tg = torch.tensor(ys)
    fw, bw = [], []
    loss_v = None
    for r in range(reps + 1):
        W_x = torch.tensor([[0.5], [-0.3], [0.8], [0.0]], dtype=dtype, requires_grad=True)
        W_h = torch.tensor([[0.2]], dtype=dtype, requires_grad=True)
        b_h = torch.zeros((1, 1), dtype=dtype, requires_grad=True)
        W_y = torch.tensor([[1.0, 0.5, -0.5, 0.0]], dtype=dtype, requires_grad=True)
        b_y = torch.zeros((1, 4), dtype=dtype, requires_grad=True)
        t0 = time.perf_counter()
        h = torch.zeros((1, 1), dtype=dtype)
        zs = []
        for t in range(T):
            x = xs[t]
            h = torch.tanh(W_x[x:x + 1] + W_h * h + b_h)
            zs.append(W_y * h + b_y)                   # [1,4]
        z = torch.cat(zs, 0)                           # [T,4]
        loss = F.cross_entropy(z, tg, reduction="sum")
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        loss_v = loss.item()
        del loss, z, zs, h
        if r > 0:
            fw.append(t1 - t0)
            bw.append(t2 - t1)
    return 7 * T + 2, statistics.median(fw), statistics.median(bw), min(fw), min(bw), loss_v


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    n_ops = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    T = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    threads1()
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}, "
          f"threads {torch.get_num_threads()}, {reps} repetitions after 1 warm-up")
    for name, dt in (("chain_f64", torch.float64), ("chain_f32", torch.float32)):
        n, f, b, g, fmin, bmin = chain(dt, n_ops, reps)
        print(f"(a) chain {str(dt):<14} {n:9d} ops  fwd+record {f / n * 1e9:7.1f}  "
              f"backward {b / n * 1e9:7.1f}  total {(f + b) / n * 1e9:7.1f} ns/op (median)  "
              f"no-grad fwd {g / n * 1e9:6.1f}")
        print(f"{'':37s}best: fwd {fmin / n * 1e9:7.1f}  backward {bmin / n * 1e9:7.1f} ns/op")
        print(f"RESULT {name} {f / n * 1e9:.2f} {b / n * 1e9:.2f}", flush=True)
    n, f, b, fmin, bmin, loss = scalar_rnn(T, reps)
    print(f"(b) scalar RNN T={T} f64 {n:9d} ops  fwd+record {f / n * 1e9:7.1f}  "
          f"backward {b / n * 1e9:7.1f}  total {(f + b) / n * 1e9:7.1f} ns/op (median)")
    print(f"{'':37s}best: fwd {fmin / n * 1e9:7.1f}  backward {bmin / n * 1e9:7.1f} ns/op")
    print(f"{'':37s}{(f + b) / T * 1e6:.3f} us/step fwd+bwd (median), loss {loss:.6f}")
    print(f"RESULT rnn_f64 {f / n * 1e9:.2f} {b / n * 1e9:.2f} {(f + b) / T * 1e6:.4f}")


if __name__ == "__main__":
    main()
