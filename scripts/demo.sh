#!/usr/bin/env bash
# Sets up, builds, starts the demo Go app on 127.0.0.1:6060 and runs stoker with
# examples/local.yaml in the foreground. Ctrl-C stops both.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export GOCACHE="${GOCACHE:-$root/build/go-cache}"

bash scripts/setup.sh --build-dir build

./build/demo-app -listen 127.0.0.1:6060 > build/demo-app.log 2>&1 &
demo_pid=$!
trap 'kill $demo_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  if curl -fsS -o /dev/null http://127.0.0.1:6060/debug/pprof/ 2>/dev/null; then break; fi
  if ! kill -0 $demo_pid 2>/dev/null; then
    echo "demo app failed to start:" >&2; cat build/demo-app.log >&2; exit 1
  fi
  sleep 0.2
done
echo "demo app: pprof on http://127.0.0.1:6060/debug/pprof/ (log: build/demo-app.log)"
echo "In another terminal, within a minute:"
echo "  ./build/stoker profiles --storage.path data/stoker.db"
echo "  ./build/stoker export --storage.path data/stoker.db --query process_cpu -o cpu.pb.gz && go tool pprof -top cpu.pb.gz"
./build/stoker --config examples/local.yaml
