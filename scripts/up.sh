#!/usr/bin/env bash
# Installs what is missing, builds, and runs Wisp locally with the example functions: a
# wisp-worker for examples/hello-python and one for examples/hello-node behind a wisp-gateway.
# Prints what to try, then stays in the foreground; Ctrl-C drains and stops everything.
# (The operator-driven local mode, `wisp up`, replaces this in a later release.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
bin="${WISP_BUILD_DIR:-$root/build}/bin"
state="$root/.wisp"
mkdir -p "$state"
gateway_port="${WISP_GATEWAY_PORT:-8080}"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_ready() {  # name admin_port pid
  for _ in $(seq 1 150); do
    curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { cat "$state/$1.log"; echo "up: $1 failed to start" >&2; exit 1; }
    sleep 0.1
  done
  echo "up: $1 did not become ready; see $state/$1.log" >&2
  exit 1
}

start_worker() {  # name port admin_port example
  (cd "$root/examples/$4" &&
    exec "$bin/wisp-worker" --config function.json --listen 127.0.0.1 --port "$2" \
      --admin_port "$3" --concurrency 2) >"$state/$1.log" 2>&1 &
  pids+=($!)
  wait_ready "$1" "$3" "${pids[-1]}"
}

start_worker hello-python 9000 9001 hello-python
start_worker hello-node 9010 9011 hello-node

cat >"$state/catalog.json" <<JSON
{"functions": [
  {"name": "hello-python", "timeoutSeconds": 3,
   "routes": [{"path": "/hello", "methods": ["GET", "POST"]}],
   "endpoints": [{"address": "127.0.0.1:9000", "capacity": 2}]},
  {"name": "hello-node", "timeoutSeconds": 3,
   "routes": [{"path": "/hello-node", "methods": ["GET", "POST"]}],
   "endpoints": [{"address": "127.0.0.1:9010", "capacity": 2}]}
]}
JSON
"$bin/wisp-gateway" --catalog "$state/catalog.json" --listen 127.0.0.1 --port "$gateway_port" \
  --admin_port 9102 >"$state/gateway.log" 2>&1 &
pids+=($!)
wait_ready gateway 9102 "${pids[-1]}"

cat <<MSG

Wisp is running: a gateway on :$gateway_port in front of two workers (logs in .wisp/*.log).
Try:

  curl -s http://127.0.0.1:$gateway_port/hello -d '{"name":"Ada"}'
  curl -s http://127.0.0.1:$gateway_port/hello-node
  curl -s -X POST http://127.0.0.1:$gateway_port/2015-03-31/functions/hello-python/invocations -d '{"name":"Ada"}'
  $bin/wisp invoke --worker 127.0.0.1:9010 --payload '{"name":"Ada"}' --log-tail

Press Ctrl-C to stop.
MSG
wait
