#!/usr/bin/env bash
# Fleet-scale cost with real-sized profiles (issue #11): stoker scraping
# SERVICES virtual Go services (bench/fleet_farm.go, one per loopback address
# 127.0.X.Y:6060, default profile types every 15 s: ≈ SERVICES/3 profiles/s,
# ≈ 34 KB/s of gzipped pprof per service), measured side by side in one run:
#   store    scrape + delta + store
#   forward  the same plus one remote_write endpoint (bench/push_sink.go)
#   central  the same, forwarding to a second stoker that only receives and
#            stores (push.v1 Push); the figures are the receiving stoker's
#   floor    only inflating the same gzipped bytes, with zlib and with libdeflate
#            (bench/inflate_floor); and what forwarding adds to it: compressing
#            the differenced types (allocs, block, mutex) again at level 1.
#            Measured twice: during each mode's window (four one-round probes
#            spread over it, on the machine as loaded and as fast as stoker
#            finds it — the ratios are to this floor) and once more after the
#            run, idle (the floor of the BENCHMARKS sections before the tenth
#            step of issue #22; a VM's speed drifts over minutes, and the idle
#            figure differed from the window's by up to 15 % either way)
# For each mode it waits WARMUP seconds (first scrapes are spread over the
# interval, deltas need two scrapes), then measures CPU over SECONDS and prints
# cores, the ratio to the floor, peak RSS (VmHWM over the whole run), profiles
# stored and forwarded per second, what is still queued, and scrape failures.
#
# With --count, the measured window also counts stoker's syscalls (all, and
# the main kinds one by one), context switches and page faults with perf stat
# on kernel tracepoints, per stored profile, and the kernel's share of its CPU
# (system time / user+system time, from /proc). The tracepoints make every
# syscall dearer: cores measured with --count are ~15 % higher (BENCHMARKS.md,
# fourth step); compare CPU between runs without it.
#
# With --labels the farm's CPU samples carry labels as a labelled Go
# service's do (10 endpoints, a span id per request; bench/fleet_farm.go):
# stoker stores each endpoint as its own series (issue #18).
#
#   bench/fleet_bench.sh [--services 300] [--seconds 120] [--warmup 60]
#                        [--modes "store forward central"] [--stoker PATH] [--labels] [--count]
set -euo pipefail
root="${STOKER_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
build="$root/build"
services=300
seconds=120
warmup=60
modes="store forward"
stoker="$build/stoker"
farm_flags=()
count=0
while [ $# -gt 0 ]; do
  case "$1" in
    --services) services="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --modes) modes="$2"; shift 2 ;;
    --stoker) stoker="$2"; shift 2 ;;
    --labels) farm_flags+=(-labels); shift ;;
    --count) count=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d /tmp/stoker-fleet.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export GOCACHE="${GOCACHE:-$build/go-cache}" GO111MODULE=off
go build -o "$work/farm" "$root/bench/fleet_farm.go"
go build -o "$work/sink" "$root/bench/push_sink.go"
cmake -S "$root" -B "$build" -DSTOKER_BENCH=ON >/dev/null  # (scripts/test.sh builds without)
cmake --build "$build" --target inflate_floor >/dev/null

"$work/farm" -services "$services" -port 6060 "${farm_flags[@]}" > "$work/farm.log" 2>&1 &
farm=$!
pids+=($farm)
"$work/sink" -listen 127.0.0.1:14050 > "$work/sink.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  grep -q serving "$work/farm.log" && break
  sleep 0.2
done
if ! kill -0 "$farm" 2>/dev/null || ! grep -q serving "$work/farm.log"; then
  echo "fleet_bench: the farm did not start (is something else listening on 127.0.x.y:6060?):" >&2
  cat "$work/farm.log" >&2
  exit 1
fi
# One round of every service's profiles, for the floor (as the farm serves them).
mkdir -p "$work/round"
"$work/farm" -services "$services" -dump "$work/round" "${farm_flags[@]}" > "$work/sizes.txt"
floor_field() { sed "s/.*$1=\([^ ]*\).*/\1/" <<<"$2"; }
# Four one-round floor probes, started at a fifth, two fifths, three and
# four fifths of the measured window (a late one starts the next at once),
# in the background; their lines go to file $1.
floor_probes() {
  local start=$SECONDS k at
  for k in 1 2 3 4; do
    at=$(( k * seconds / 5 - (SECONDS - start) ))
    [ "$at" -gt 0 ] && sleep "$at"
    "$build/bench/inflate_floor" --repeat 1 --recompress allocs,block,mutex "$work"/round/*.pb.gz >> "$1"
  done
}

targets=$(python3 -c "import sys; n=int(sys.argv[1]); print(', '.join(f'\"127.0.{1 + i // 250}.{1 + i % 250}:6060\"' for i in range(n)))" "$services")

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sys_ticks() { awk '{print $15}' "/proc/$1/stat"; }
metric_sum() {  # sum of a metric's samples on stoker's /metrics (port 14040, or $2)
  curl -fsS "http://127.0.0.1:${2:-14040}/metrics" |
    awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {printf "%.0f", s}'
}

echo "fleet: ${farm_flags[*]:+labelled CPU samples, }$services services, $(( services * 5 )) profiles per 15 s ($(echo "scale=1; $services * 5 / 15" | bc) profiles/s); warmup ${warmup}s, measured ${seconds}s"
echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'); stoker: $stoker"
results=()
for mode in $modes; do
  db="$work/$mode"
  mkdir -p "$db"
  remote=""
  if [ "$mode" = forward ]; then
    remote="remote_write:
  - url: http://127.0.0.1:14050
    name: sink"
  fi
  central=""
  if [ "$mode" = central ]; then
    remote="remote_write:
  - url: http://127.0.0.1:14051
    name: central"
    mkdir -p "$work/central-db"
    cat > "$work/receiver.yaml" <<YAML
storage: {path: $work/central-db/stoker.db, retention: 1d, max_size: 0}
web: {listen_address: 127.0.0.1:14051}
scrape_configs: []
YAML
    "$stoker" --config "$work/receiver.yaml" > "$work/receiver.log" 2>&1 &
    central=$!
    pids+=($central)
  fi
  cat > "$work/$mode.yaml" <<YAML
global: {scrape_interval: 15s}
storage: {path: $db/stoker.db, retention: 1d, max_size: 0}
web: {listen_address: 127.0.0.1:14040}
scrape_configs:
  - job_name: fleet
    static_configs:
      - targets: [$targets]
$remote
YAML
  "$stoker" --config "$work/$mode.yaml" > "$work/$mode.log" 2>&1 &
  spid=$!
  pids+=($spid)
  sleep "$warmup"
  for p in $spid $central; do
    if ! kill -0 "$p" 2>/dev/null; then
      echo "fleet_bench: a stoker exited during the warm-up; its log ends with:" >&2
      tail -n 30 "$work/$mode.log" >&2
      [ -n "$central" ] && { echo "-- central:" >&2; tail -n 30 "$work/receiver.log" >&2; }
      exit 1
    fi
  done
  c0=$(cpu_ticks $spid); f0=$(cpu_ticks $farm)
  if [ -n "$central" ]; then
    k0=$(cpu_ticks $central); r0=$(metric_sum stoker_received_profiles_total 14051)
  fi
  s0=$(metric_sum stoker_storage_profiles_written_total); p0=$(metric_sum stoker_pushed_profiles_total)
  pb0=$(metric_sum stoker_pushed_bytes_total)
  k_sys0=$(sys_ticks $spid)
  floor_probes "$work/$mode.floor" &
  probes=$!
  if [ "$count" = 1 ]; then
    events=raw_syscalls:sys_enter,context-switches,page-faults
    for sc in recvmsg sendmsg pwrite64 pread64 futex epoll_wait epoll_ctl timerfd_settime madvise mmap munmap fcntl connect; do
      events+=",syscalls:sys_enter_$sc"
    done
    perf stat -x, -e "$events" -p "$spid" -o "$work/$mode.perf" -- sleep "$seconds"
  else
    sleep "$seconds"
  fi
  c1=$(cpu_ticks $spid); f1=$(cpu_ticks $farm); k_sys1=$(sys_ticks $spid)
  s1=$(metric_sum stoker_storage_profiles_written_total); p1=$(metric_sum stoker_pushed_profiles_total)
  pb1=$(metric_sum stoker_pushed_bytes_total)
  wait "$probes"  # (at 1,000 services a probe takes ~9 s: the last may end after the window)
  # The probes' mean CPU seconds per round, per 15 s.
  mean_floor() { awk -v k="$1" '{for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) {s += substr($i, length(k) + 2); n++}} END {if (!n) {print "fleet_bench: no floor probe finished" > "/dev/stderr"; exit 1}; printf "%.4f", s / n / 15}' "$work/$mode.floor"; }
  floor_during=" floor_zlib=$(mean_floor zlib_cpu_seconds_per_round) floor_libdeflate=$(mean_floor libdeflate_cpu_seconds_per_round) floor_deflate1=$(mean_floor deflate1_cpu_seconds_per_round)"
  counts=""
  if [ "$count" = 1 ]; then
    n_prof=$(( s1 - s0 ))
    per() { awk -F, -v e="$1" -v n="$n_prof" '$3 == e {printf "%.1f", $1 / (n > 0 ? n : 1)}' "$work/$mode.perf"; }
    counts=" kernel_share=$(echo "scale=3; ($k_sys1 - $k_sys0) / ($c1 - $c0)" | bc) syscalls_per_profile=$(per raw_syscalls:sys_enter) context_switches_per_profile=$(per context-switches) page_faults_per_profile=$(per page-faults)"
  fi
  forwarded_size=""
  if [ "$p1" -gt "$p0" ]; then
    forwarded_size=" forwarded_kib_per_profile=$(( (pb1 - pb0) / (p1 - p0) / 1024 ))"
  fi
  pending=$(metric_sum stoker_outbox_pending_profiles)
  failures=$(metric_sum stoker_scrape_failures_total)
  symcache=$(metric_sum stoker_storage_symbol_cache_bytes)
  delta=$(metric_sum stoker_delta_state_bytes)
  stacks=$(metric_sum stoker_delta_tracked_stacks)
  fwd=$(metric_sum stoker_forward_cache_bytes)
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status")
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$spid/status")
  if [ -n "$central" ]; then
    r1=$(metric_sum stoker_received_profiles_total 14051)
    rejected=$(metric_sum stoker_receive_rejected_requests_total 14051)
    k1=$(cpu_ticks $central)
    chwm=$(awk '/VmHWM/ {print $2}' "/proc/$central/status")
    crss=$(awk '/VmRSS/ {print $2}' "/proc/$central/status")
  fi
  kill -TERM $spid; wait $spid || true
  cores=$(echo "scale=3; ($c1 - $c0) / $ticks / $seconds" | bc)
  farm_cores=$(echo "scale=3; ($f1 - $f0) / $ticks / $seconds" | bc)
  stored=$(echo "scale=1; ($s1 - $s0) / $seconds" | bc)
  pushed=$(echo "scale=1; ($p1 - $p0) / $seconds" | bc)
  results+=("$mode cores=$cores peak_rss_mib=$((hwm / 1024)) final_rss_mib=$((rss / 1024)) stored_per_s=$stored forwarded_per_s=$pushed pending_at_end=$pending scrape_failures=$failures farm_cores=$farm_cores db_mib=$(( $(du -k "$db" | cut -f1) / 1024 )) symbol_cache_mib=$((symcache / 1048576)) delta_state_mib=$((delta / 1048576)) delta_bytes_per_stack=$((stacks > 0 ? delta / stacks : 0)) forward_cache_mib=$((fwd / 1048576))$forwarded_size$floor_during$counts")
  echo "${results[-1]}"
  if [ "$count" = 1 ]; then
    echo "  per stored profile: $(awk -F, -v n="$n_prof" '$3 ~ /^syscalls:sys_enter_/ {sub("syscalls:sys_enter_", "", $3); printf "%s %.2f  ", $3, $1 / (n > 0 ? n : 1)}' "$work/$mode.perf")"
  fi
  if [ -n "$central" ]; then
    echo "central (receiving) cores=$(echo "scale=3; ($k1 - $k0) / $ticks / $seconds" | bc) peak_rss_mib=$((chwm / 1024)) final_rss_mib=$((crss / 1024)) received_per_s=$(echo "scale=1; ($r1 - $r0) / $seconds" | bc) rejected_requests=$rejected db_mib=$(( $(du -k "$work/central-db" | cut -f1) / 1024 ))"
    kill -TERM $central; wait $central || true
  fi
done

floor_line=$("$build/bench/inflate_floor" --repeat 3 --recompress allocs,block,mutex "$work"/round/*.pb.gz)
field() { floor_field "$1" "$floor_line"; }
idle=$(echo "scale=4; $(field zlib_cpu_seconds_per_round) / 15" | bc)
idle_ld=$(echo "scale=4; $(field libdeflate_cpu_seconds_per_round) / 15" | bc)
echo "idle floor after the run, inflating the same bytes per 15 s: zlib cores=$idle ($(field zlib_mb_per_s) MB/s of output), libdeflate cores=$idle_ld ($(field libdeflate_mb_per_s) MB/s)"
idle_deflate=$(echo "scale=4; $(field deflate1_cpu_seconds_per_round) / 15" | bc)
echo "forwarding adds, compressing the differenced profiles (allocs, block, mutex) again at libdeflate level 1: cores=$idle_deflate (idle)"
echo "profile sizes:"
sed 's/^/  /' "$work/sizes.txt"
for r in "${results[@]}"; do
  c=$(sed 's/^cores=\([^ ]*\).*/\1/' <<<"${r#* }")
  floor=$(floor_field floor_zlib "$r"); floor_ld=$(floor_field floor_libdeflate "$r")
  floor_deflate=$(floor_field floor_deflate1 "$r")
  ratio() { printf "%.2f" "$(echo "scale=4; $1" | bc)"; }  # rounded, not truncated as bc does
  line="${r%% *}: $(ratio "$c / $floor")x the zlib floor (during the window; $(ratio "$c / $idle")x the idle one), $(ratio "$c / $floor_ld")x the libdeflate floor"
  case "${r%% *}" in
    forward | central) line+=", $(ratio "$c / ($floor + $floor_deflate)")x the zlib floor plus recompressing" ;;
  esac
  echo "$line"
done
