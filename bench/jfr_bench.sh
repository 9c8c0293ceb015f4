#!/usr/bin/env bash
# JFR uploads (issue #19): records tests/java/Busy.java on 8 threads for 10 s
# with the JDK's profile settings, then
#   1. bench/jfr_bench: stoker's reader against zlib inflating the same upload,
#      and the reader's peak memory;
#   2. a central stoker receiving UPLOADS per minute of that recording (the
#      Java agent's request: multipart, gzipped jfr part) for SECONDS,
#      from 20 services in turn: its CPU (user+system from /proc), peak RSS,
#      what it stored.
#
#   bench/jfr_bench.sh [--uploads 100] [--seconds 120]
set -euo pipefail
root="${STOKER_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
build="$root/build"
uploads=100
seconds=120
while [ $# -gt 0 ]; do
  case "$1" in
    --uploads) uploads="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d /tmp/stoker-jfr.XXXXXX)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cmake -S "$root" -B "$build" -DSTOKER_BENCH=ON >/dev/null  # (scripts/test.sh builds without)
cmake --build "$build" --target stoker jfr_bench >/dev/null
javac -d "$work" "$root/tests/java/Busy.java"
java -XX:StartFlightRecording=filename="$work/busy.jfr",settings=profile -cp "$work" Busy 8 10 >/dev/null 2>&1
echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//')"
echo "== the reader (bench/jfr_bench)"
"$build/bench/jfr_bench" "$work/busy.jfr"

echo "== a central stoker receiving $uploads uploads per minute for ${seconds}s"
gzip -6 -c "$work/busy.jfr" > "$work/busy.jfr.gz"
port=14060
"$build/stoker" --storage.path "$work/db/stoker.db" --web.listen-address "127.0.0.1:$port" \
  --config /dev/null > "$work/stoker.log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break; sleep 0.2; done
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
c0=$(cpu)
start=$(date +%s.%N)
n=$(( uploads * seconds / 60 ))
gap=$(echo "scale=3; 60 / $uploads" | bc)
failed=0
for i in $(seq 1 "$n"); do
  now=$(date +%s)
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
    "http://127.0.0.1:$port/ingest?name=svc-$(( i % 20 ))%7Benv%3Dbench%7D&from=$now&until=$now&format=jfr&sampleRate=100&spyName=javaspy" \
    -H 'X-Scope-OrgID: bench' -F "jfr=@$work/busy.jfr.gz;filename=jfr;type=application/octet-stream")
  [ "$code" = 200 ] || failed=$((failed + 1))
  # the next upload at its time (bounded: n uploads)
  next=$(echo "$start + $i * $gap" | bc)
  wait_s=$(echo "$next - $(date +%s.%N)" | bc)
  if [ "$(echo "$wait_s > 0" | bc)" = 1 ]; then sleep "$wait_s"; fi
done
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
c1=$(cpu)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
stored=$(curl -fsS "http://127.0.0.1:$port/metrics" | awk '$1 ~ /^stoker_received_profiles_total/ {s += $2} END {printf "%d", s}')
echo "uploads: $n in ${elapsed}s, failed: $failed; profiles stored: $stored"
echo "central stoker: cores=$(echo "scale=4; ($c1 - $c0) / $ticks / $elapsed" | bc) peak_rss_mib=$((hwm / 1024)) db_kib=$(du -k "$work/db" | cut -f1)"
