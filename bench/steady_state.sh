#!/usr/bin/env bash
# Runs stoker against the demo app with the default profile types at the default
# 15s interval for SECONDS (default 600), and reports, for the second half of the
# run (steady state: symbols and stacks already known), the database bytes used
# per stored profile against the gzipped pprof bytes received for those profiles.
#   bench/steady_state.sh [SECONDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build"
secs="${1:-600}"
work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; rm -rf "$work"' EXIT
"$build/demo-app" -listen 127.0.0.1:16062 >/dev/null 2>&1 &
pids+=($!)
sleep 1
cat > "$work/stoker.yaml" <<YAML
storage: {path: $work/stoker.db}
web: {listen_address: 127.0.0.1:14041}
scrape_configs:
  - job_name: demo
    static_configs: [{targets: ['127.0.0.1:16062']}]
YAML
"$build/stoker" --config "$work/stoker.yaml" > "$work/stoker.log" 2>&1 &
pids+=($!)
snapshot() {
  sqlite3 "$work/stoker.db" "SELECT (SELECT sum(pgsize - unused) FROM dbstat), (SELECT max(id) FROM profiles)"
}
sleep $((secs / 2))
IFS='|' read -r bytes1 id1 < <(snapshot)
sleep $((secs - secs / 2))
IFS='|' read -r bytes2 id2 < <(snapshot)
sqlite3 -separator ' ' "$work/stoker.db" "
  SELECT 'type=' || s.name, 'profiles=' || count(*), 'avg_gz_bytes=' || cast(avg(p.wire_size) AS int),
         'avg_sample_block_bytes=' || cast(avg(length(p.samples) + length(p.header)) AS int)
  FROM profiles p JOIN series s ON s.id = p.series_id WHERE p.id > $id1 AND p.id <= $id2 GROUP BY s.name"
wire=$(sqlite3 "$work/stoker.db" "SELECT sum(wire_size) FROM profiles WHERE id > $id1 AND id <= $id2")
n=$((id2 - id1))
echo "steady state over ${secs}s/2: profiles=$n db_growth_bytes=$((bytes2 - bytes1)) gz_bytes_received=$wire" \
     "bytes_per_profile=$(( (bytes2 - bytes1) / n )) gz_per_profile=$(( wire / n ))" \
     "ratio=$(echo "scale=1; 100 * ($bytes2 - $bytes1) / $wire" | bc)%"
