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
echo
echo "Open http://127.0.0.1:4040/ : the demo app's CPU timeline and flame graph appear within a minute."
echo "Or, in another terminal:"
echo "  ./build/stoker flamegraph --storage.path data/stoker.db --query process_cpu --from now-5m -o cpu.svg"
echo "  ./build/stoker top --storage.path data/stoker.db --query process_cpu --from now-5m"
./build/stoker --config examples/local.yaml
