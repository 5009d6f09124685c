#!/bin/sh
# Char-LM training throughput, retrograd next to PyTorch: builds bench_charlm
# and bench_peak in a release build with -march=native (build-bench, or $BUILD),
# then runs bench/compare_torch.py with the given arguments.
#
#   bench/run_compare.sh                                  # all six configs, 1 and 2 threads
#   bench/run_compare.sh --configs tiny small --seconds 2 --reps 1
#   bench/run_compare.sh --markdown --json compare.json   # table for the README
#
# PyTorch runs in /usr/bin/python3 (Debian python3-torch); see --help.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
if [ ! -d "$BUILD" ]; then
    meson setup "$BUILD" --buildtype=release -Dnative=true >/dev/null
fi
ninja -C "$BUILD" bench/bench_charlm bench/bench_peak >/dev/null
exec python3 bench/compare_torch.py --build "$BUILD" "$@"
