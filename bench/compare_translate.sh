#!/bin/sh
# Exact match of `translate train` next to its PyTorch twin (bench/torch_translate_twin.py):
# the same initial weights (`translate train --steps 0`), the same pairs (`translate data`),
# the same batches (the twin carries a copy of retrograd's generator), loss, Adam, clipping and
# steps; each evaluated greedily on the same 2000 test pairs.  Times: wall and CPU seconds of
# training (ours: the whole `translate train` command, validation included; the twin: its
# training loop, validation included).  Usage: bench/compare_translate.sh [BUILD_DIR]
# (env: STEPS (default 3000), THREADS (ours, default 2), TWIN_THREADS (torch, default 1, with
# OpenBLAS on 1 thread: PyTorch's best setting for models this small), CONFIGS: the model flags
# of each row, separated by ';' (default: "--cell gru;--cell lstm --attention-kind dot"))
set -eu
BUILD=${1:-build}
T=$BUILD/examples/translate
STEPS=${STEPS:-3000}
THREADS=${THREADS:-2}
TWIN_THREADS=${TWIN_THREADS:-1}
CONFIGS=${CONFIGS:-"--cell gru;--cell lstm --attention-kind dot"}
PY=${PYTHON:-/usr/bin/python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
[ -x "$T" ] || { echo "no $T: build first (meson setup $BUILD && ninja -C $BUILD)" >&2; exit 1; }

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" | tail -1; }

printf '| model | steps | retrograd exact | PyTorch exact | retrograd s | PyTorch s | retrograd CPU s | PyTorch CPU s |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
echo "$CONFIGS" | tr ';' '\n' | while read -r cfg; do
    # shellcheck disable=SC2086
    "$T" train $cfg --steps 0 --save "$TMP/init.safetensors" > /dev/null
    /usr/bin/time -f "%e %U %S" -o "$TMP/time" "$T" train --init "$TMP/init.safetensors" \
        --steps "$STEPS" --threads "$THREADS" --save-every 0 --save "$TMP/ours.safetensors" > /dev/null
    ours=$("$T" eval --model "$TMP/ours.safetensors" | tail -1)
    twin=$(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=$TWIN_THREADS "$PY" bench/torch_translate_twin.py \
        --translate "$T" --init "$TMP/init.safetensors" --steps "$STEPS" \
        --threads "$TWIN_THREADS" | tail -1)
    os=$(awk '{ printf "%.1f", $1 }' "$TMP/time")
    oc=$(awk '{ printf "%.1f", $2 + $3 }' "$TMP/time")
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$cfg" "$STEPS" \
        "$(echo "$ours" | field ' exact')" "$(echo "$twin" | field ' exact')" "$os" \
        "$(echo "$twin" | field train_s)" "$oc" "$(echo "$twin" | field train_cpu_s)"
done
