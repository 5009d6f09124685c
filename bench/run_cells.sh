#!/bin/sh
# User cells against the fused rows: the composed LSTM and GRU (rg_cell_lstm_composed,
# rg_cell_gru_composed: plain public ops, what a user's own cell is made of) next to
# the fused ones (rg_lstm_cell, rg_gru_gates), the same model and sizes, through
# bench_charlm --cell in the portable default build (build-bench, or $BUILD),
# interleaved A/B (bench/ab_kernels.py; its arguments follow, e.g. --reps 3).
# bench/run_custom_cells.sh runs these pairs too, with the other user cells of
# issue 13's custom-cell benchmark next to their PyTorch twins.
#
#   bench/run_cells.sh --reps 5 --seconds 4 --markdown
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
if [ ! -d "$BUILD" ]; then
    meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" bench/bench_charlm >/dev/null
python3 bench/ab_kernels.py "lstm=$BUILD" "lstm_composed=$BUILD:--cell=lstm_composed" \
    --configs small medium "$@"
echo
python3 bench/ab_kernels.py "gru=$BUILD:--cell=gru" "gru_composed=$BUILD:--cell=gru_composed" \
    --configs small medium "$@"
