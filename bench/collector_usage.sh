#!/usr/bin/env bash
# Measures stoker's CPU and RSS while it scrapes.
#   bench/collector_usage.sh demo [SECONDS]          the demo app, default profile types, 15s interval
#   bench/collector_usage.sh farm TARGETS [SECONDS]  TARGETS canned-profile targets (bench/pprof_farm.go)
# Prints CPU seconds used, average CPU %, peak and final RSS, and profiles stored.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build"
mode="${1:-demo}"
work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; rm -rf "$work"' EXIT
export GOCACHE="${GOCACHE:-$build/go-cache}"

"$build/demo-app" -listen 127.0.0.1:16061 >/dev/null 2>&1 &
pids+=($!)
sleep 1
if [ "$mode" = demo ]; then
  secs="${2:-60}"
  targets="['127.0.0.1:16061']"
else
  n="${2:-100}"
  secs="${3:-60}"
  mkdir -p "$work/canned"
  curl -fsS -o "$work/canned/cpu.pb.gz" "http://127.0.0.1:16061/debug/pprof/profile?seconds=2"
  for t in allocs goroutine block mutex; do curl -fsS -o "$work/canned/$t.pb.gz" "http://127.0.0.1:16061/debug/pprof/$t"; done
  kill "${pids[0]}"
  go build -o "$work/farm" "$root/bench/pprof_farm.go"
  "$work/farm" -dir "$work/canned" -first-port 20000 -ports "$n" >/dev/null 2>&1 &
  pids+=($!)
  sleep 1
  targets="[$(seq -s, -f "'127.0.0.1:%g'" 20000 $((20000 + n - 1)))]"
fi
cat > "$work/stoker.yaml" <<YAML
global: {scrape_interval: 15s}
storage: {path: $work/stoker.db}
web: {listen_address: 127.0.0.1:14040}
scrape_configs:
  - job_name: bench
    static_configs:
      - targets: $targets
YAML
"$build/stoker" --config "$work/stoker.yaml" > "$work/stoker.log" 2>&1 &
spid=$!
pids+=($spid)
ticks=$(getconf CLK_TCK)
peak=0
for _ in $(seq 1 "$secs"); do
  sleep 1
  rss=$(awk '/VmRSS/ {print $2}' /proc/$spid/status)
  [ "$rss" -gt "$peak" ] && peak=$rss
done
read -r ut st < <(awk '{print $14, $15}' /proc/$spid/stat)
cpu=$(echo "scale=2; ($ut + $st) / $ticks" | bc)
kill -TERM $spid; wait $spid || true
stored=$(sqlite3 "$work/stoker.db" 'SELECT count(*) FROM profiles')
failed=$(grep -c 'scrape failed' "$work/stoker.log" || true)
echo "mode=$mode seconds=$secs cpu_seconds=$cpu cpu_percent=$(echo "scale=2; 100 * $cpu / $secs" | bc) peak_rss_kib=$peak final_rss_kib=$rss profiles_stored=$stored scrape_failures=$failed"
