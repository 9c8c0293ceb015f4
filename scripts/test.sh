#!/usr/bin/env bash
# Sets everything up and runs the whole test suite twice: a normal build and an
# AddressSanitizer + UndefinedBehaviorSanitizer build (neither builds the
# benchmarks); then fuzzes the request decoders and the pprof and JFR readers
# for a bounded time. This is the README's test command and what CI runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export GOCACHE="${GOCACHE:-$root/build/go-cache}"

echo "== setup and build (RelWithDebInfo) =="
bash scripts/setup.sh --build-dir build --no-bench
echo "== tests =="
ctest --test-dir build -j2 --output-on-failure

echo "== build with ASan + UBSan =="
bash scripts/setup.sh --build-dir build-asan --sanitize
echo "== tests under sanitizers =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -j2 --output-on-failure

echo "== fuzz the request decoders, the pprof and JFR readers (clang, libFuzzer, 12 s per target) =="
bash scripts/fuzz.sh 12
