#!/usr/bin/env bash
# Installs retrograd's build and test dependencies from Debian's packages when
# they are missing (idempotent; needs root or sudo only when something is missing).
#   bash .ci/deps.sh            build + test dependencies
#   bash .ci/deps.sh --fuzz     also clang and its fuzzer runtime
set -u
PKGS="meson ninja-build pkg-config gcc libc6-dev libcriterion-dev uthash-dev libopenblas-dev libcjson-dev libopenmpi-dev openmpi-bin graphviz"
[ "${1:-}" = "--fuzz" ] && PKGS="$PKGS clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "== installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
