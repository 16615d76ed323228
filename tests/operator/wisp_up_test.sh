#!/usr/bin/env bash
# `wisp up` end to end as processes: free ports and a temporary data folder; apply
# deploy/examples/hello-python.yaml with `wisp apply`, wait until `wisp get` shows it Ready, call
# its route through the gateway, stop with SIGINT (every child gone), start again on the same
# data folder and find the Function still there (and served). A taken port is a clear error.
# Usage: wisp_up_test.sh BIN_DIR   (run from the source root)
set -euo pipefail
bin=$1
root=$(pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wisp-up-test.XXXXXX")
data="$tmp/data"
up_pid=""
cleanup() {
  if [[ -n "$up_pid" ]] && kill -0 "$up_pid" 2>/dev/null; then
    kill -INT "$up_pid" 2>/dev/null || true
    wait "$up_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$tmp"/up*.out "$data"/logs/*.log; do [[ -f "$f" ]] && { echo "== $f"; tail -30 "$f"; }; done >&2
  exit 1
}

read -r api gw op redis < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)
server="http://127.0.0.1:$api"
wisp() { "$bin/wisp" "$@"; }

start_up() {  # log
  "$bin/wisp" up --data_dir "$data" --api_port "$api" --gateway_port "$gw" --operator_port "$op" \
    --redis_port "$redis" >"$tmp/$1" 2>&1 &
  up_pid=$!
  for _ in $(seq 1 600); do
    grep -q "Wisp is running" "$tmp/$1" && return 0
    kill -0 "$up_pid" 2>/dev/null || fail "wisp up exited during start-up"
    sleep 0.1
  done
  fail "wisp up did not become ready"
}

stop_up() {  # log
  local children
  children=$(pgrep -P "$up_pid" || true)
  [[ -n "$children" ]] || fail "wisp up has no children"
  kill -INT "$up_pid"
  local rc=0
  wait "$up_pid" || rc=$?
  up_pid=""
  [[ $rc -eq 0 ]] || fail "wisp up exited with $rc after SIGINT"
  grep -q "Stopped." "$tmp/$1" || fail "no 'Stopped.'"
  for c in $children; do
    kill -0 "$c" 2>/dev/null && fail "child $c still running after wisp up stopped"
  done
  # Workers the kubelet ran are gone too.
  if pgrep -f "$data/kubelet" >/dev/null; then fail "workers still running"; fi
}

wait_ready() {  # name
  for _ in $(seq 1 600); do
    wisp get "$1" --server "$server" 2>/dev/null | grep -Eq "^$1 +True " && return 0
    sleep 0.1
  done
  wisp get --server "$server" >&2 || true
  fail "$1 not Ready"
}

curl_route() {  # path expect
  local out
  for _ in $(seq 1 100); do
    out=$(curl -s -m 20 "http://127.0.0.1:$gw$1" || true)
    [[ "$out" == *"$2"* ]] && return 0
    sleep 0.2
  done
  fail "GET $1 answered '$out', wanted '$2'"
}

echo "--- first start (ports $api $gw $op $redis)"
start_up up1.out
grep -q "starting the API server" "$tmp/up1.out" || fail "no progress output"
grep -q "starting Redis on 127.0.0.1:$redis" "$tmp/up1.out" || fail "no Redis progress line"
grep -q "Redis (async invocations, queue triggers, schedules): 127.0.0.1:$redis" "$tmp/up1.out" \
  || fail "Redis not in the usage summary"
[[ "$(redis-cli -p "$redis" ping)" == PONG ]] || fail "Redis does not answer"
[[ "$(redis-cli -p "$redis" config get appendfsync | tail -1)" == always ]] || fail "Redis not fsyncing"

echo "--- a taken port is refused"
rc=0
"$bin/wisp" up --data_dir "$tmp/other" --api_port "$api" --gateway_port 1 --operator_port 2 --redis_port 3 \
  >"$tmp/taken.out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "wisp up on a taken port exited $rc"
grep -q "port $api (--api_port)" "$tmp/taken.out" || fail "no clear port error: $(cat "$tmp/taken.out")"

echo "--- apply, get, curl"
wisp apply -f "$root/deploy/examples/hello-python.yaml" --server "$server" | tee "$tmp/apply.out"
grep -q "function.wisp.dev/hello-python applied" "$tmp/apply.out" || fail "apply output"
wait_ready hello-python
wisp get --server "$server" | tee "$tmp/get.out"
head -1 "$tmp/get.out" | grep -Eq "^NAME +READY +REPLICAS +URL +AGE" || fail "get header"
grep -q "http://127.0.0.1:$gw/function/hello-python" "$tmp/get.out" || fail "get URL"
curl_route "/hello-python?name=Ada" '"Hello, Ada!"'

echo "--- invoke through the gateway, logs"
out=$(wisp invoke hello-python --gateway "http://127.0.0.1:$gw" --payload '{"name":"Cy"}')
[[ "$out" == *'Hello, Cy!'* ]] || fail "wisp invoke answered '$out'"
rc=0
wisp invoke no-such-fn --gateway "http://127.0.0.1:$gw" 2>"$tmp/invoke.err" || rc=$?
[[ $rc -eq 2 ]] || fail "invoking a missing function exited $rc"
grep -q "HTTP 404" "$tmp/invoke.err" || fail "no 404 for a missing function: $(cat "$tmp/invoke.err")"
# Asynchronously: the request id comes back at once; the handler runs later with that id.
out=$(wisp invoke hello-python --event --gateway "http://127.0.0.1:$gw" --payload '{"name":"Di"}')
req=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["StatusCode"] == 202, d; print(d["RequestId"])' "$out") \
  || fail "wisp invoke --event answered '$out'"
for _ in $(seq 1 100); do
  wisp logs hello-python --data_dir "$data" 2>/dev/null | grep -q "^END RequestId: $req" && break
  sleep 0.1
done
wisp logs hello-python --data_dir "$data" | grep -q "^END RequestId: $req" || fail "the async invoke $req never ran"
wisp logs hello-python --data_dir "$data" >"$tmp/logs.out" || fail "wisp logs failed"
grep -q "saying hello to Cy" "$tmp/logs.out" || fail "the handler's output is not in wisp logs"
grep -q "^REPORT RequestId" "$tmp/logs.out" || fail "no REPORT line in wisp logs"
rc=0
wisp logs nothing-here --data_dir "$data" 2>/dev/null || rc=$?
[[ $rc -eq 1 ]] || fail "wisp logs of an unknown function exited $rc"

echo "--- SIGINT stops everything"
stop_up up1.out

echo "--- second start on the same data folder"
start_up up2.out
wisp get --server "$server" | grep -q "^hello-python " || fail "the Function did not survive"
wait_ready hello-python
curl_route "/hello-python?name=Bo" '"Hello, Bo!"'

echo "--- delete"
wisp delete hello-python --server "$server" | grep -q 'deleted' || fail "delete output"
rc=0
wisp get hello-python --server "$server" >/dev/null 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "get after delete exited $rc"
kill -INT "$up_pid"
wait "$up_pid" || fail "second wisp up exited with $?"
up_pid=""
echo PASS
