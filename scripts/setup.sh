#!/usr/bin/env bash
# Installs the Debian 12 packages stoker needs to build, test and run its demo,
# then configures and builds the project. Safe to run repeatedly: packages that are
# already installed are not touched, and `apt-get update` runs at most once.
#
# Usage: scripts/setup.sh [--no-build] [--sanitize] [--no-bench] [--build-dir DIR]
# (--no-bench leaves the benchmark programs out of the build, as the test run
# does; the sanitizer build never has them.)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$root/build"
do_build=1
sanitize=OFF
bench=ON
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) do_build=0 ;;
    --sanitize) sanitize=ON ;;
    --no-bench) bench=OFF ;;
    --build-dir) build_dir="$2"; shift ;;
    *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

packages=(
  g++ cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libyaml-cpp-dev libprotobuf-dev protobuf-compiler zlib1g-dev
  libsqlite3-dev sqlite3 libssl-dev libre2-dev libdeflate-dev libc-ares-dev catch2 golang-go ca-certificates curl bc openssl
  prometheus
  clang-16 libclang-rt-16-dev llvm
  chromium
  openjdk-17-jdk-headless
)
# Node.js builds nothing here (the page is plain ES modules) but npm installs
# the page's packages and node runs the browser tests: Debian's when missing.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing packages: ${missing[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The web page's npm packages (uPlot; playwright-core for the browser tests),
# exactly as the committed lockfile says. Nothing is fetched at run time.
if [ ! -f "$root/ui/node_modules/.package-lock.json" ] ||
   [ "$root/ui/package-lock.json" -nt "$root/ui/node_modules/.package-lock.json" ]; then
  echo "setup.sh: npm ci in ui/"
  (cd "$root/ui" && npm ci --no-audit --no-fund --loglevel=error)
fi
# Pyroscope's Node.js SDK for the tests of pushed profiles (tests/sdk/node).
if [ ! -f "$root/tests/sdk/node/node_modules/.package-lock.json" ] ||
   [ "$root/tests/sdk/node/package-lock.json" -nt "$root/tests/sdk/node/node_modules/.package-lock.json" ]; then
  echo "setup.sh: npm ci in tests/sdk/node/"
  (cd "$root/tests/sdk/node" && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ "$do_build" -eq 1 ]; then
  # The sanitizer build only runs the tests: no benchmarks, no browser tests.
  extra=(-DSTOKER_BENCH="$bench")
  if [ "$sanitize" = ON ]; then extra=(-DSTOKER_BENCH=OFF -DSTOKER_BROWSER_TESTS=OFF); fi
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSTOKER_SANITIZE="$sanitize" "${extra[@]}" >/dev/null
  cmake --build "$build_dir" -j2
fi
