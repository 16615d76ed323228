#!/usr/bin/env bash
# Installs what is missing, builds, and runs Wisp locally with `wisp up` (local mode: the
# embedded API server, the process kubelet, the operator and one gateway, supervised), then
# applies the example Functions hello-python, hello-node and async-python (deploy/examples) and
# prints what to try. Stays in the
# foreground; Ctrl-C stops everything. State is kept in .wisp/ across runs.
#   WISP_GATEWAY_PORT (8080), WISP_API_PORT (6443), WISP_OPERATOR_PORT (9100), WISP_REDIS_PORT (6379)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
bin="${WISP_BUILD_DIR:-$root/build}/bin"
state="$root/.wisp"
gateway_port="${WISP_GATEWAY_PORT:-8080}"
api_port="${WISP_API_PORT:-6443}"
operator_port="${WISP_OPERATOR_PORT:-9100}"
redis_port="${WISP_REDIS_PORT:-6379}"
server="http://127.0.0.1:$api_port"

rm -f "$state/run/gateway.port"
"$bin/wisp" up --data_dir "$state" --api_port "$api_port" --gateway_port "$gateway_port" \
  --operator_port "$operator_port" --redis_port "$redis_port" &
up=$!
stop() { kill -INT "$up" 2>/dev/null || true; wait "$up" 2>/dev/null || true; }
trap stop INT TERM

# Ready once the gateway has written its port file (wisp up prints its own progress, or exits
# with an error such as a taken port).
until [[ -s "$state/run/gateway.port" ]]; do
  kill -0 "$up" 2>/dev/null || { wait "$up"; exit $?; }
  sleep 0.2
done
sleep 0.5
examples=(hello-python hello-node async-python)
for example in "${examples[@]}"; do
  "$bin/wisp" apply -f "$root/deploy/examples/$example.yaml" --server "$server"
done
for example in "${examples[@]}"; do
  for _ in $(seq 1 300); do
    "$bin/wisp" get "$example" --server "$server" 2>/dev/null | grep -Eq "^$example +True " && break
    sleep 0.2
  done
done
"$bin/wisp" get --server "$server"

cat <<MSG

The example Functions are applied. Try:

  curl -s 'http://127.0.0.1:$gateway_port/hello-python?name=Ada'
  curl -s 'http://127.0.0.1:$gateway_port/hello-node?name=Ada'
  curl -s -X POST http://127.0.0.1:$gateway_port/2015-03-31/functions/hello-python/invocations -d '{"name":"Ada"}'
  curl -si -X POST -H 'X-Amz-Invocation-Type: Event' -d '{"order":1}' http://127.0.0.1:$gateway_port/2015-03-31/functions/async-python/invocations
  $bin/wisp logs async-python --data_dir $state
  $bin/wisp get --server $server
  kubectl --server $server get functions

Press Ctrl-C to stop.
MSG
wait "$up"
