#!/usr/bin/env bash
# CI: a program built against retrograd the three ways a user builds one, each
# run and its output compared with examples/consumer/expected.txt:
#   1. the installed library by pkg-config (shared):   cc prog.c $(pkg-config --cflags --libs retrograd)
#   2. the static library by pkg-config --static, which must list every private
#      dependency (cJSON, OpenBLAS, MPI when built with it, libm, pthread)
#   3. as a Meson subproject: dependency('retrograd') falling back to
#      subprojects/retrograd (a symlink to this tree), examples/consumer/meson.build
# Installs into a temporary prefix; leaves nothing behind.  Exit status 0 when
# all three build, run and print the expected report.
#   bash .ci/consumers.sh [MESON_OPTION...]     e.g. -Dblas=builtin
set -uo pipefail
cd "$(dirname "$0")/.."
src=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
want=$src/examples/consumer/expected.txt
# A user's strict build: the public header must compile cleanly under these.
cflags="-std=c11 -O2 -Wall -Wextra -Wshadow -pedantic -Werror"
failed=0

fail() { echo "   FAIL: $*"; failed=$((failed + 1)); }

# run NAME BINARY [ENV...]: runs it, compares its output with expected.txt
run_check() {
  local name=$1 bin=$2; shift 2
  if ! env "$@" "$bin" >"$tmp/$name.out" 2>&1; then
    cat "$tmp/$name.out"; fail "$name: the program failed"; return
  fi
  if ! diff -u "$want" "$tmp/$name.out"; then fail "$name: output differs from expected.txt"; return; fi
  echo "   ok: $name ($(tail -n 1 "$tmp/$name.out"))"
}

echo "== consumer: build and install retrograd into a temporary prefix"
if ! meson setup "$tmp/build" --prefix="$prefix" --libdir=lib -Dtests=false -Dwerror=true "$@" \
     >"$tmp/setup.log" 2>&1; then
  cat "$tmp/setup.log"; echo "   FAIL: meson setup"; exit 1
fi
if ! ninja -C "$tmp/build" >"$tmp/build.log" 2>&1 || ! meson install -C "$tmp/build" --quiet \
     >>"$tmp/build.log" 2>&1; then
  tail -n 40 "$tmp/build.log"; echo "   FAIL: build or install"; exit 1
fi
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
echo "   retrograd.pc: $(pkg-config --modversion retrograd 2>&1);" \
     "Requires.private: $(pkg-config --print-requires-private retrograd | tr '\n' ' ')"

echo "== consumer: pkg-config, shared library"
# shellcheck disable=SC2046  # word splitting of pkg-config's output is intended
if cc $cflags examples/consumer/main.c -o "$tmp/shared" $(pkg-config --cflags --libs retrograd) -lm; then
  if readelf -d "$tmp/shared" | grep -q 'NEEDED.*libretrograd\.so'; then
    run_check shared "$tmp/shared" LD_LIBRARY_PATH="$prefix/lib"
  else
    fail "shared: the binary does not load libretrograd.so"
  fi
else
  fail "shared: does not build"
fi

echo "== consumer: pkg-config --static, static library"
# The prefix holds both libraries: -l:libretrograd.a picks the archive; the rest
# of the line (its private dependencies) must come from pkg-config --static alone.
static_libs=$(pkg-config --static --libs retrograd | sed 's/-lretrograd\b/-l:libretrograd.a/')
echo "   pkg-config --static --libs: $(pkg-config --static --libs retrograd)"
for dep in -lcjson -lm; do
  case " $static_libs " in *" $dep "*) ;; *) fail "static: pkg-config --static lacks $dep" ;; esac
done
case " $static_libs " in *" -pthread "*|*" -lpthread "*) ;; *) fail "static: no -pthread" ;; esac
# shellcheck disable=SC2086
if cc $cflags examples/consumer/main.c -o "$tmp/static" $(pkg-config --cflags retrograd) \
     $static_libs -lm; then
  if readelf -d "$tmp/static" | grep -q 'NEEDED.*libretrograd'; then
    fail "static: the binary still loads libretrograd.so"
  else
    run_check static "$tmp/static"
  fi
else
  fail "static: does not link with pkg-config --static's libraries"
fi

echo "== consumer: Meson subproject (dependency('retrograd') with a fallback)"
mkdir -p "$tmp/proj/subprojects"
cp examples/consumer/meson.build examples/consumer/main.c "$tmp/proj/"
ln -s "$src" "$tmp/proj/subprojects/retrograd"
if (unset PKG_CONFIG_PATH; meson setup "$tmp/proj/build" "$tmp/proj" --force-fallback-for=retrograd \
      >"$tmp/sub.log" 2>&1 && ninja -C "$tmp/proj/build" >>"$tmp/sub.log" 2>&1); then
  run_check subproject "$tmp/proj/build/consumer"
else
  tail -n 40 "$tmp/sub.log"; fail "subproject: does not build"
fi

[ "$failed" -eq 0 ] && echo "== consumer: all three builds ok" || echo "== consumer: $failed failed"
[ "$failed" -eq 0 ]
