#!/usr/bin/env bash
# Installs what is missing, builds, and runs Wisp locally with the example functions:
# a wisp-worker for examples/hello-python and one for examples/hello-node. Prints how to call
# them, then stays in the foreground; Ctrl-C drains and stops them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
bin="${WISP_BUILD_DIR:-$root/build}/bin"
state="$root/.wisp"
mkdir -p "$state"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

start_worker() {  # name port admin_port example
  local name=$1 port=$2 admin=$3 dir=$4
  rm -f "$state/$name.port"
  (cd "$root/examples/$dir" &&
    exec "$bin/wisp-worker" --config function.json --listen 127.0.0.1 --port "$port" \
      --admin_port "$admin" --port_file "$state/$name.port") >"$state/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    [[ -s $state/$name.port ]] && curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$state/$name.log"; echo "up: $name failed to start" >&2; exit 1; }
    sleep 0.1
  done
  echo "up: $name did not become ready; see $state/$name.log" >&2
  exit 1
}

start_worker hello-python "${WISP_PYTHON_PORT:-9000}" "${WISP_PYTHON_ADMIN_PORT:-9001}" hello-python
start_worker hello-node "${WISP_NODE_PORT:-9010}" "${WISP_NODE_ADMIN_PORT:-9011}" hello-node

cat <<MSG

Wisp is running (logs in .wisp/*.log). Try:

  $bin/wisp invoke --worker 127.0.0.1:${WISP_PYTHON_PORT:-9000} --payload '{"name":"Ada"}'
  $bin/wisp invoke --worker 127.0.0.1:${WISP_NODE_PORT:-9010} --payload '{"name":"Ada"}' --log-tail
  curl -s http://127.0.0.1:${WISP_PYTHON_ADMIN_PORT:-9001}/metrics | grep wisp_worker_invocations

Press Ctrl-C to stop.
MSG
wait
