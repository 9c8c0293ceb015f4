#!/usr/bin/env bash
# Forwarding throughput: how fast stoker drains an outbox backlog to a local
# push endpoint, and what that costs in CPU and memory.
#   bench/forward_bench.sh [TARGETS] [FILL_SECONDS]
# 1. Scrapes TARGETS (default 100) canned-profile targets (bench/pprof_farm.go,
#    profiles taken from the demo app) every 2 s for FILL_SECONDS (default 30)
#    while the remote_write endpoint is down, so every profile stays queued.
# 2. Restarts stoker with no scrape jobs and the endpoint up (bench/push_sink.go)
#    and measures the time, CPU and peak RSS until the outbox is empty.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build"
n="${1:-100}"
fill="${2:-30}"
work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; rm -rf "$work"' EXIT
export GOCACHE="${GOCACHE:-$build/go-cache}" GO111MODULE=off

"$build/demo-app" -listen 127.0.0.1:16061 >/dev/null 2>&1 &
demo=$!
sleep 1
mkdir -p "$work/canned"
curl -fsS -o "$work/canned/cpu.pb.gz" "http://127.0.0.1:16061/debug/pprof/profile?seconds=2"
for t in allocs goroutine block mutex; do curl -fsS -o "$work/canned/$t.pb.gz" "http://127.0.0.1:16061/debug/pprof/$t"; done
kill $demo
go build -o "$work/farm" "$root/bench/pprof_farm.go"
go build -o "$work/sink" "$root/bench/push_sink.go"
"$work/farm" -dir "$work/canned" -first-port 20000 -ports "$n" >/dev/null 2>&1 &
pids+=($!)
sleep 1
targets="[$(seq -s, -f "'127.0.0.1:%g'" 20000 $((20000 + n - 1)))]"
remote="remote_write:
  - url: http://127.0.0.1:14050
    name: sink
    min_backoff: 1s
    max_backoff: 2s
    max_retries: 0"
cat > "$work/fill.yaml" <<YAML
global: {scrape_interval: 2s}
storage: {path: $work/stoker.db, max_size: 0}
web: {listen_address: 127.0.0.1:14040}
scrape_configs:
  - job_name: bench
    static_configs:
      - targets: $targets
$remote
YAML
"$build/stoker" --config "$work/fill.yaml" > "$work/fill.log" 2>&1 &
spid=$!
sleep "$fill"
kill -TERM $spid; wait $spid || true
queued=$(sqlite3 "$work/stoker.db" "SELECT count(*) FROM profiles WHERE id > (SELECT delivered_id FROM outbox_endpoints WHERE name='sink')")
raw=$(sqlite3 "$work/stoker.db" 'SELECT sum(wire_size) FROM profiles')

"$work/sink" -listen 127.0.0.1:14050 >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
cat > "$work/drain.yaml" <<YAML
storage: {path: $work/stoker.db, max_size: 0}
web: {listen_address: 127.0.0.1:14040}
scrape_configs: []
$remote
YAML
start=$(date +%s.%N)
"$build/stoker" --config "$work/drain.yaml" > "$work/drain.log" 2>&1 &
spid=$!
pids+=($spid)
ticks=$(getconf CLK_TCK)
peak=0
while true; do
  sleep 0.2
  rss=$(awk '/VmRSS/ {print $2}' /proc/$spid/status)
  [ "$rss" -gt "$peak" ] && peak=$rss
  delivered=$(sqlite3 "$work/stoker.db" "SELECT delivered_id FROM outbox_endpoints WHERE name='sink'" 2>/dev/null || echo 0)
  last=$(sqlite3 "$work/stoker.db" 'SELECT max(id) FROM profiles' 2>/dev/null || echo 1)
  [ -n "$delivered" ] && [ "$delivered" = "$last" ] && break
done
end=$(date +%s.%N)
read -r ut st < <(awk '{print $14, $15}' /proc/$spid/stat)
cpu=$(echo "scale=2; ($ut + $st) / $ticks" | bc)
kill -TERM $spid; wait $spid || true
secs=$(echo "$end - $start" | bc)
echo "targets=$n queued_profiles=$queued raw_bytes=$raw drain_seconds=$secs" \
  "profiles_per_second=$(echo "scale=1; $queued / $secs" | bc)" \
  "cpu_seconds=$cpu cpu_per_1000_profiles=$(echo "scale=3; 1000 * $cpu / $queued" | bc)" \
  "peak_rss_kib=$peak $(curl -fsS http://127.0.0.1:14050/stats | tr -d '\n')"
