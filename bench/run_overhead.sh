#!/bin/sh
# Tape overhead, retrograd next to PyTorch: builds bench_overhead (release, in
# build-bench), runs it and bench/torch_overhead_ref.py on the same graphs, and
# prints ns per recorded op for both and their ratio.
#
#   bench/run_overhead.sh [reps] [chain_ops] [T]     (defaults 11, 1000000, 100000)
#   TORCH_REPS=3 PYTHON=/usr/bin/python3 bench/run_overhead.sh
#
# Without a Python that imports torch, only retrograd's figures are printed.
set -eu
cd "$(dirname "$0")/.."
REPS=${1:-11}
OPS=${2:-1000000}
T=${3:-100000}
TORCH_REPS=${TORCH_REPS:-3}
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD=${BUILD:-build-bench}

if [ ! -d "$BUILD" ]; then
    meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" bench/bench_overhead >/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== retrograd ($BUILD/bench/bench_overhead $REPS $OPS $T)"
"$BUILD/bench/bench_overhead" "$REPS" "$OPS" "$T" | tee "$tmp/ours"
if "$PYTHON" -c 'import torch' 2>/dev/null; then
    echo
    echo "== PyTorch ($PYTHON bench/torch_overhead_ref.py $TORCH_REPS $OPS $T)"
    "$PYTHON" bench/torch_overhead_ref.py "$TORCH_REPS" "$OPS" "$T" | tee "$tmp/torch"
else
    echo "(no torch for $PYTHON: PyTorch column left out)"
    : >"$tmp/torch"
fi

echo
echo "ns per recorded op, median (lower is better); ratio = PyTorch / retrograd"
awk '
FNR == NR && $1 == "RESULT" { of[$2] = $3; ob[$2] = $4; os[$2] = $5; order[++n] = $2; next }
$1 == "RESULT" { tf[$2] = $3; tb[$2] = $4; ts[$2] = $5 }
function row(label, o, t) {
    if (t == "") printf "| %-28s | %10.1f | %10s | %8s |\n", label, o, "-", "-"
    else printf "| %-28s | %10.1f | %10.1f | %7.1fx |\n", label, o, t, t / o
}
END {
    printf "| %-28s | %10s | %10s | %8s |\n", "measurement", "retrograd", "PyTorch", "ratio"
    printf "|------------------------------|-----------:|-----------:|---------:|\n"
    for (i = 1; i <= n; i++) {
        k = order[i]
        row(k " forward+record", of[k], tf[k])
        row(k " backward", ob[k], tb[k])
        row(k " total", of[k] + ob[k], (k in tf) ? tf[k] + tb[k] : "")
        if (os[k] != "") {
            if (ts[k] == "") printf "| %-28s | %10.3f | %10s | %8s |\n", k " us/step fwd+bwd", os[k], "-", "-"
            else printf "| %-28s | %10.3f | %10.3f | %7.1fx |\n", k " us/step fwd+bwd", os[k], ts[k], ts[k] / os[k]
        }
    }
}' "$tmp/ours" "$tmp/torch"
