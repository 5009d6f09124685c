#!/bin/sh
# Char-LM training throughput, retrograd next to PyTorch: builds bench_charlm
# and bench_peak in the portable default release build (build-bench, or $BUILD:
# the kernels are chosen at run time, as a user gets them), the same
# bench_charlm with -Dnative=true (build-bench-native, or $NATIVE_BUILD; its
# column is default/native; NATIVE_BUILD= skips it) and, when libdnnl-dev is
# installed, bench_onednn_lstm (oneDNN's LSTM stack alone); then runs
# bench/compare_torch.py with the given arguments.
#
#   bench/run_compare.sh                                  # all six configs, 1 and 2 threads
#   bench/run_compare.sh --configs tiny small --seconds 2 --reps 1
#   bench/run_compare.sh --markdown --json compare.json   # table for the README
#   bench/run_compare.sh --custom-cells --markdown        # then the custom-cell rows
#
# --custom-cells (anywhere among the arguments) runs bench/run_custom_cells.sh
# afterwards with its defaults (and --markdown when given): user cells, fused
# against composed and ours against PyTorch eager and TorchScript.
#
# PyTorch runs in /usr/bin/python3 (Debian python3-torch); see --help.
set -eu
cd "$(dirname "$0")/.."
custom="" md=""
for a in "$@"; do
    shift
    case "$a" in
    --custom-cells) custom=1 ;;
    *) [ "$a" = --markdown ] && md=--markdown
       set -- "$@" "$a" ;;
    esac
done
BUILD=${BUILD:-build-bench}
NATIVE_BUILD=${NATIVE_BUILD-build-bench-native}
if [ ! -d "$BUILD" ]; then
    meson setup "$BUILD" --buildtype=release >/dev/null
else
    meson configure "$BUILD" -Dnative=false >/dev/null  # an older script made it native
fi
ninja -C "$BUILD" bench/bench_charlm bench/bench_peak >/dev/null
if [ -n "$(meson introspect --targets "$BUILD" | grep -o bench_onednn_lstm | head -n 1)" ]; then
    ninja -C "$BUILD" bench/bench_onednn_lstm >/dev/null
fi
native=""
if [ -n "$NATIVE_BUILD" ]; then
    if [ ! -d "$NATIVE_BUILD" ]; then
        meson setup "$NATIVE_BUILD" --buildtype=release -Dnative=true >/dev/null
    fi
    ninja -C "$NATIVE_BUILD" bench/bench_charlm >/dev/null
    native="--native-build $NATIVE_BUILD"
fi
# shellcheck disable=SC2086
python3 bench/compare_torch.py --build "$BUILD" $native "$@"
if [ -n "$custom" ]; then
    echo
    BUILD="$BUILD" bench/run_custom_cells.sh $md
fi
