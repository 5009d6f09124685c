#!/usr/bin/env bash
# The main job on a fresh Debian machine: install the dependencies, build,
# train a character LSTM on the bundled corpus (data/pride_and_prejudice.txt)
# and print a sample from it.  Extra arguments go to `charlm train`.
set -euo pipefail
cd "$(dirname "$0")"
bash .ci/deps.sh
[ -f build-release/build.ninja ] || meson setup build-release --buildtype=release >/dev/null
ninja -C build-release examples/charlm >/dev/null
./build-release/examples/charlm train --save charlm.safetensors "$@"
echo
echo "== sample (charlm sample --model charlm.safetensors --length 600)"
./build-release/examples/charlm sample --model charlm.safetensors --length 600
