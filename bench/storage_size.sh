#!/usr/bin/env bash
# Fetches N rounds of every default profile type from the demo app, then runs
# storage_bench on them. Usage: bench/storage_size.sh [ROUNDS]   (default 40)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-40}"
build="$root/build"
cmake -S "$root" -B "$build" -DSTOKER_BENCH=ON >/dev/null  # (scripts/test.sh builds without)
cmake --build "$build" --target storage_bench demo_app >/dev/null
work="$(mktemp -d)"
trap 'kill ${demo_pid:-0} 2>/dev/null || true; rm -rf "$work"' EXIT
port=16060
"$build/demo-app" -listen 127.0.0.1:$port >/dev/null 2>&1 &
demo_pid=$!
sleep 1
for t in process_cpu memory goroutine block mutex; do mkdir -p "$work/$t"; done
for i in $(seq 1 "$rounds"); do
  # process_cpu takes one second (?seconds=1); the others are fetched meanwhile.
  curl -fsS -o "$work/process_cpu/$i.pb.gz" "http://127.0.0.1:$port/debug/pprof/profile?seconds=1" &
  cpu_pid=$!
  curl -fsS -o "$work/memory/$i.pb.gz" "http://127.0.0.1:$port/debug/pprof/allocs"
  curl -fsS -o "$work/goroutine/$i.pb.gz" "http://127.0.0.1:$port/debug/pprof/goroutine"
  curl -fsS -o "$work/block/$i.pb.gz" "http://127.0.0.1:$port/debug/pprof/block"
  curl -fsS -o "$work/mutex/$i.pb.gz" "http://127.0.0.1:$port/debug/pprof/mutex"
  wait $cpu_pid
done
"$build/bench/storage_bench" "$work"
