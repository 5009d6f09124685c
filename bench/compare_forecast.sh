#!/bin/sh
# MASE of `forecast train` next to its PyTorch twin (bench/torch_forecast_twin.py) on both
# bundled series, from the same initial weights (`forecast train --steps 0`) and with the same
# windows (the twin carries a copy of retrograd's generator), each evaluated on the held-out
# last 10% with the same rolling origins.  Usage: bench/compare_forecast.sh [BUILD_DIR]
# (env: STEPS (default 500), THREADS (default 2), EXTRA: more flags for both, e.g.
# EXTRA="--quantiles 0.1,0.5,0.9")
set -eu
BUILD=${1:-build}
FORECAST=$BUILD/examples/forecast
THREADS=${THREADS:-2}
STEPS=${STEPS:-500}
EXTRA=${EXTRA:-}
PY=${PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
[ -x "$FORECAST" ] || { echo "no $FORECAST: build first (meson setup $BUILD && ninja -C $BUILD)" >&2; exit 1; }

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" | tail -1; }

printf '| series | steps | retrograd mase | PyTorch mase | difference | snaive_mase | retrograd s | PyTorch s |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- |\n'
for series in co2 sunspots; do
    # shellcheck disable=SC2086
    "$FORECAST" train --series "$series" $EXTRA --steps 0 --save "$TMP/init.safetensors" > /dev/null
    t0=$(date +%s.%N)
    ours=$("$FORECAST" train --series "$series" --init "$TMP/init.safetensors" --steps "$STEPS" \
        --threads "$THREADS" --save-every 0 --save "$TMP/ours.safetensors" | tail -1)
    t1=$(date +%s.%N)
    # shellcheck disable=SC2086
    twin=$("$PY" bench/torch_forecast_twin.py --init "$TMP/init.safetensors" --steps "$STEPS" \
        --threads "$THREADS" | tail -1)
    t2=$(date +%s.%N)
    om=$(echo "$ours" | field mase)
    tm=$(echo "$twin" | field mase)
    sn=$(echo "$ours" | field snaive_mase)
    diff=$(awk -v a="$om" -v b="$tm" 'BEGIN { printf "%+.2f%%", 100 * (a - b) / b }')
    os=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    ts=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }')
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$series" "$STEPS" "$om" "$tm" "$diff" "$sn" "$os" "$ts"
done
