#!/bin/sh
# Test accuracy of `seqclass train` + `seqclass eval` next to its PyTorch twin
# (bench/torch_seqclass_twin.py): the same initial weights (`seqclass train --steps 0`), the
# same passages and token ids (`seqclass dump`), the same batches (the twin carries a copy of
# retrograd's generator), loss, Adam, clipping and steps; both scored on the same test
# passages, next to the naive-Bayes baseline of `seqclass eval`.
# Usage: bench/compare_seqclass.sh [BUILD_DIR]
# (env: STEPS (default: the program's), THREADS (ours, default 2), TWIN_THREADS (default 1),
# CONFIGS: the model flags of each row, separated by ';' (default: the default model))
set -eu
BUILD=${1:-build}
S=$BUILD/examples/seqclass
THREADS=${THREADS:-2}
TWIN_THREADS=${TWIN_THREADS:-1}
CONFIGS=${CONFIGS:-" "}
PY=${PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
[ -x "$S" ] || { echo "no $S: build first (meson setup $BUILD && ninja -C $BUILD)" >&2; exit 1; }

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" | tail -1; }

printf '| model | steps | retrograd accuracy | PyTorch accuracy | naive Bayes | retrograd val_loss | PyTorch val_loss | retrograd s | PyTorch s |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
echo "$CONFIGS" | tr ';' '\n' | while read -r cfg; do
    # shellcheck disable=SC2086
    "$S" train $cfg --steps 0 --save "$TMP/init.safetensors" > /dev/null
    "$S" dump --model "$TMP/init.safetensors" --out "$TMP/split.txt" > /dev/null
    steps=${STEPS:-$("$S" train --help | sed -n 's/.*batch [0-9]*, \([0-9]*\) steps.*/\1/p')}
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    ours=$("$S" train --init "$TMP/init.safetensors" --steps "$steps" --threads "$THREADS" \
        --save-every 0 --save "$TMP/ours.safetensors" | tail -1)
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    eval=$("$S" eval --model "$TMP/ours.safetensors" | tail -1)
    twin=$(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=$TWIN_THREADS "$PY" bench/torch_seqclass_twin.py \
        --split "$TMP/split.txt" --init "$TMP/init.safetensors" --steps "$steps" \
        --threads "$TWIN_THREADS" | tail -1)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${cfg:-default}" "$steps" \
        "$(echo "$eval" | field ' accuracy')" "$(echo "$twin" | field ' accuracy')" \
        "$(echo "$eval" | field baseline_accuracy)" "$(echo "$ours" | field val_loss)" \
        "$(echo "$twin" | field val_loss)" "$secs" "$(echo "$twin" | field train_s)"
done
