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
targets=(fuzz_parsers fuzz_connect fuzz_render fuzz_pprof fuzz_ingest fuzz_jfr)
cmake --build "$build" -j2 --target "${targets[@]}"

# The JFR reader's seeds include real JDK recordings, made here (they are
# large to keep in the repository): profile settings; TLAB events on; three
# chunks (a second recording starting and stopping rotates them); 32 threads.
jdk_seeds="$build/seeds/jfr"
if command -v javac >/dev/null && [ ! -f "$jdk_seeds/threads.jfr" ]; then
  mkdir -p "$jdk_seeds/classes"
  javac -d "$jdk_seeds/classes" "$root/tests/java/Busy.java"
  rec() {  # file, extra recording options, Busy's arguments
    java "-XX:StartFlightRecording=filename=$jdk_seeds/$1,settings=profile$2" \
      -cp "$jdk_seeds/classes" Busy $3 >/dev/null 2>&1
  }
  rec profile.jfr "" "2 1"
  rec tlab.jfr ",jdk.ObjectAllocationInNewTLAB#enabled=true,jdk.ObjectAllocationOutsideTLAB#enabled=true" "4 1"
  java "-XX:StartFlightRecording=filename=$jdk_seeds/chunks.jfr,settings=profile" \
    "-XX:StartFlightRecording=name=rotate,delay=1s,duration=1s,filename=$jdk_seeds/rotate.jfr" \
    -cp "$jdk_seeds/classes" Busy 2 3 >/dev/null 2>&1
  rm -f "$jdk_seeds/rotate.jfr"
  rec threads.jfr "" "32 1"
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
if [ -x /usr/bin/llvm-symbolizer ]; then export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer; fi
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"   # new inputs go here, not into the repository
  mkdir -p "$corpus"
  seeds="$root/tests/fuzz/corpus/${t#fuzz_}"
  extra=()
  if [ "$t" = fuzz_jfr ] && [ -d "$jdk_seeds" ]; then extra=("$jdk_seeds"); fi
  echo "== $t for ${seconds}s (seeds: ${seeds#$root/}) =="
  log="$build/$t.log"
  status=0
  "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -print_final_stats=1 "$corpus" "$seeds" "${extra[@]}" >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz.sh: $t failed (exit $status); the input that did it is named above" >&2
    exit 1
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^Done" "$log" || tail -n 3 "$log"
done
