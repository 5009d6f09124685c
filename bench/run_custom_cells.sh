#!/bin/sh
# The custom-cell benchmark of issue 13 (bench/custom_cells.py): ours fused
# against composed, and every user cell -- the composed LSTM and GRU, and the
# peephole LSTM, LayerNorm LSTMs and minGRU of examples/cell_plugin.so -- against
# its PyTorch twin stepped in Python (eager) and through TorchScript, interleaved,
# medians; 1 thread, chars per CPU second.  Builds bench_charlm and the plugin in
# the portable default build (build-bench, or $BUILD); arguments go to
# bench/custom_cells.py.  PyTorch runs in /usr/bin/python3 (--python).
#
#   bench/run_custom_cells.sh --reps 3 --seconds 4 --markdown     # ~20 min
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
if [ ! -d "$BUILD" ]; then
    meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" bench/bench_charlm examples/cell_plugin.so >/dev/null
exec python3 bench/custom_cells.py --build "$BUILD" "$@"
