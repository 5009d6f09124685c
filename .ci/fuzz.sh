#!/bin/sh
# Builds the libFuzzer target tests/fuzz_safetensors.c (clang, ASan + UBSan)
# over the library sources and runs it for a bounded time on tests/fuzz_corpus.
#   .ci/fuzz.sh [SECONDS]        default 60; exits non-zero on a crash, a leak,
#                                a sanitizer report or a failed check.
# New corpus entries and crash artifacts go to $FUZZ_BUILD_DIR (default
# build-fuzz/), never into the seed corpus.
set -eu

secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_BUILD_DIR:-$root/build-fuzz}
mkdir -p "$out/corpus" "$out/artifacts" "$out/obj"

# The compiler and its fuzzer runtime (idempotent: installs only what is missing).
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
probe() {
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
        > "$out/probe.c"
    clang -fsanitize=fuzzer,address,undefined "$out/probe.c" -o "$out/probe" 2>/dev/null
}
if ! command -v clang >/dev/null 2>&1 || ! probe; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang
    if ! probe; then
        ver=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "libclang-rt-$ver-dev" \
            || true
    fi
    probe || { echo "fuzz.sh: clang cannot link -fsanitize=fuzzer" >&2; exit 2; }
fi
if ! pkg-config --exists libcjson || [ ! -f /usr/include/uthash.h ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcjson-dev uthash-dev \
        pkg-config
fi

# The library as an archive (built-in matrix kernel, no BLAS), so the link pulls
# in only the objects the target needs.
cflags="-g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -fno-omit-frame-pointer
        -fsanitize=address,undefined -fno-sanitize-recover=undefined
        -I$root -I$root/autograd -I$root/ops -I$root/models -I$root/train $(pkg-config --cflags libcjson)"
rm -f "$out"/obj/*.o "$out/libretrograd_fuzz.a"
for src in "$root"/autograd/*.c "$root"/ops/*.c "$root"/models/*.c; do
    obj="$out/obj/$(basename "$(dirname "$src")")_$(basename "$src" .c).o"
    # shellcheck disable=SC2086
    clang $cflags -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
done
ar rcs "$out/libretrograd_fuzz.a" "$out"/obj/*.o
# shellcheck disable=SC2086
clang $cflags -fsanitize=fuzzer "$root/tests/fuzz_safetensors.c" "$out/libretrograd_fuzz.a" \
    $(pkg-config --libs libcjson) -lm -lpthread -o "$out/fuzz_safetensors"

cat > "$out/safetensors.dict" <<'DICT'
"{"
"}"
"["
"]"
":"
","
"\""
"__metadata__"
"dtype"
"shape"
"data_offsets"
"F32"
"F64"
"F16"
"BF16"
"I64"
"cell"
"vocab"
"\"a\""
"\"b\""
"9007199254740992"
"4294967296"
"-1"
"1e308"
"\\u0000"
"\\ud800"
"\x00\x00\x00\x00\x00\x00\x00"
"\xff\xff\xff\xff\xff\xff\xff\xff"
DICT

echo "fuzz.sh: running $out/fuzz_safetensors for ${secs}s"
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
"$out/fuzz_safetensors" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=8192 -dict="$out/safetensors.dict" -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/" "$out/corpus" "$root/tests/fuzz_corpus"
