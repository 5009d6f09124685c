#!/bin/sh
# Validation bpc of `charlm train` next to its PyTorch twin (bench/torch_charlm_twin.py),
# for the default config and an LSTM 2x256, from the same initial weights and the
# same windows.  Usage: bench/compare_quality.sh [BUILD_DIR]
# (env: STEPS, THREADS; PLOTDIR=dir also keeps ours' loss curve as dir/<config>.svg)
set -eu
BUILD=${1:-build}
CHARLM=$BUILD/examples/charlm
TEXT=data/pride_and_prejudice.txt
THREADS=${THREADS:-2}
STEPS=${STEPS:-4000}
PY=${PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
[ -x "$CHARLM" ] || { echo "no $CHARLM: build first (meson setup $BUILD && ninja -C $BUILD)" >&2; exit 1; }

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" | tail -1; }

printf '| config | steps | retrograd val_bpc | PyTorch val_bpc | difference | retrograd chars/s | PyTorch chars/s |\n'
printf '| --- | --- | --- | --- | --- | --- | --- |\n'
for cfg in "default:" "lstm-2x256:--layers 2 --hidden 256"; do
    name=${cfg%%:*}
    flags=${cfg#*:}
    # shellcheck disable=SC2086
    "$CHARLM" train --text "$TEXT" $flags --steps 0 --save "$TMP/init.safetensors" > /dev/null
    plot=""
    [ -n "${PLOTDIR:-}" ] && plot="--plot $PLOTDIR/$name.svg"
    # shellcheck disable=SC2086
    ours=$("$CHARLM" train --text "$TEXT" --init "$TMP/init.safetensors" --steps "$STEPS" \
        --threads "$THREADS" --save-every 0 --save "$TMP/ours.safetensors" $plot | tail -1)
    twin=$("$PY" bench/torch_charlm_twin.py --text "$TEXT" --init "$TMP/init.safetensors" \
        --steps "$STEPS" --threads "$THREADS" | tail -1)
    ob=$(echo "$ours" | field val_bpc)
    tb=$(echo "$twin" | field val_bpc)
    oc=$(echo "$ours" | field chars_per_s)
    tc=$(echo "$twin" | field chars_per_s)
    diff=$(awk -v a="$ob" -v b="$tb" 'BEGIN { printf "%+.2f%%", 100 * (a - b) / b }')
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$STEPS" "$ob" "$tb" "$diff" "$oc" "$tc"
done
