#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan into
# build-fuzz and runs each for a bounded time from its seed corpus. A crash, a
# sanitizer report, an input that takes over 10 s, or an allocation over 1 GiB
# fails the run. Part of scripts/test.sh (30 s per target); run longer by hand:
#   bash scripts/fuzz.sh 600
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-30}"
build="$root/build-fuzz"

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTOKER_FUZZ=ON -DSTOKER_TESTS=OFF -DSTOKER_WERROR=OFF >/dev/null
targets=(fuzz_parsers fuzz_connect fuzz_render fuzz_pprof fuzz_ingest)
cmake --build "$build" -j2 --target "${targets[@]}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
if [ -x /usr/bin/llvm-symbolizer ]; then export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer; fi
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"   # new inputs go here, not into the repository
  mkdir -p "$corpus"
  seeds="$root/tests/fuzz/corpus/${t#fuzz_}"
  echo "== $t for ${seconds}s (seeds: ${seeds#$root/}) =="
  log="$build/$t.log"
  status=0
  "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -print_final_stats=1 "$corpus" "$seeds" >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz.sh: $t failed (exit $status); the input that did it is named above" >&2
    exit 1
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^Done" "$log" || tail -n 3 "$log"
done
