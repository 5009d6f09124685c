#!/bin/sh
# Matrix-product throughput: builds bench_matmul (release, in build-bench) and
# prints GFLOP/s of rg_matmul through the tape next to raw cblas_sgemm and the
# built-in kernel, at 1 and 2 threads.
#
#   bench/run_matmul.sh [n ...]        (default 64 256 1024)
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
if [ ! -d "$BUILD" ]; then
    meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" bench/bench_matmul >/dev/null
echo "== $BUILD/bench/bench_matmul $*"
"$BUILD/bench/bench_matmul" "$@"
