#!/usr/bin/env bash
# gateway_bench: what wisp-gateway costs in front of warm workers, under load, as ratios to two
# baselines measured in the same run. With wrk (closed loop, keep-alive) at each connection count:
#
#   gateway provided  POST /2015-03-31/functions/echo/invocations  -> worker -> native echo
#   gateway route     GET  /function/echo (API Gateway 2.0 event)  -> worker -> native echo
#   gateway python    POST /2015-03-31/functions/echo-python/...   -> worker -> python echo
#   direct  provided / python   the same workers called over gRPC by gateway_bench_load
#                               (N closed-loop callers sharing one channel, FIFO slots = capacity)
#   nginx             POST /echo -> nginx (upstream keepalive, HTTP/1.1) -> gateway_bench_echo
#                     (cpp-httplib echo, Nagle off, keep-alive)
#
# Not a test: run by hand. Builds what it needs first (unless --no_build).
#   tests/bench/run_gateway_bench.sh [--duration=10] [--connections=1,10,50] [--concurrency=4]
#                                    [--warmup=2] [--max_seconds=300] [--keep_temp] [--no_build]
# WISP_BUILD_DIR overrides the build folder (default: <repo>/build, configured with Ninja if new).
# Output: a table on stdout, then one JSON line; progress on stderr. Exit 0 done; 1 a failure
# (something did not start, a sanity check or a request failed; the scratch folder is kept);
# 2 over --max_seconds; 130 interrupted. Every process started here is stopped on every path.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${WISP_BUILD_DIR:-$root/build}"

duration=10
warmup=2
connections="1,10,50"
concurrency=4
max_seconds=300
keep_temp=0
do_build=1
for arg in "$@"; do
  case "$arg" in
    --duration=*) duration="${arg#*=}" ;;
    --warmup=*) warmup="${arg#*=}" ;;
    --connections=*) connections="${arg#*=}" ;;
    --concurrency=*) concurrency="${arg#*=}" ;;
    --max_seconds=*) max_seconds="${arg#*=}" ;;
    --keep_temp) keep_temp=1 ;;
    --no_build) do_build=0 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run_gateway_bench: unknown argument $arg (see --help)" >&2; exit 1 ;;
  esac
done
IFS=',' read -r -a conn_list <<<"$connections"
for n in "$duration" "$warmup" "$concurrency" "$max_seconds" "${conn_list[@]}"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "run_gateway_bench: not a whole number: $n" >&2; exit 1; }
done
((duration >= 1 && concurrency >= 1)) || { echo "run_gateway_bench: need --duration>=1 --concurrency>=1" >&2; exit 1; }

for tool in wrk nginx curl python3 setpriv; do
  if ! command -v "$tool" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/$tool" ]]; then
    echo "run_gateway_bench: $tool is missing (apt-get install -y wrk nginx-light curl)" >&2
    exit 1
  fi
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

if ((do_build)); then
  [[ -f "$build/build.ninja" ]] || cmake -S "$root" -B "$build" -G Ninja
  CCACHE_BASEDIR="$root" ninja -C "$build" wisp-gateway wisp-worker provided-echo-bootstrap \
    gateway_bench_load gateway_bench_echo >&2
fi
bin="$build/bin"

# ------------------------------------------------------------------------------------------------
# Processes: each started with a parent-death signal, remembered, stopped on every exit path.

scratch="$(mktemp -d /var/tmp/wisp-gwbench-XXXXXX)"  # not /tmp: see worker_bench --scratch_parent
pids=()        # long-lived children, in start order
current=""     # the wrk / load generator running now
failed=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$current" ]]; then kill -KILL "$current" 2>/dev/null; wait "$current" 2>/dev/null; fi || true
  local i pid
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do  # workers drain (--drain_seconds=2) and remove their cgroups
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if ((rc != 0 || failed)) || ((keep_temp)); then
    echo "run_gateway_bench: scratch folder kept: $scratch" >&2
  else
    rm -rf "$scratch"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "run_gateway_bench: interrupted" >&2; exit 130' INT TERM

die() { echo "run_gateway_bench: FAILED: $*" >&2; failed=1; exit 1; }

# start <log> <command...>: in the background, SIGTERM if this shell dies.
start() {
  local log="$1"; shift
  setpriv --pdeathsig SIGTERM "$@" >"$log" 2>&1 </dev/null &
  pids+=($!)
}

# wait_file <file> <pid> <what> <log>: until the file exists (20 s) or the process has exited.
wait_file() {
  for _ in $(seq 400); do
    [[ -s "$1" ]] && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited early; its log: $(tail -c 1500 "$4")"
    sleep 0.05
  done
  die "$3 wrote no $1 in 20 s; its log: $(tail -c 1500 "$4")"
}

t0=$SECONDS
# check_time <seconds about to be spent>
check_time() {
  if ((SECONDS - t0 + $1 > max_seconds)); then
    echo "run_gateway_bench: would exceed --max_seconds=$max_seconds; stopping" >&2
    exit 2
  fi
}

# ------------------------------------------------------------------------------------------------
# Workers: one per function, --concurrency environments each.

python="$(python3 -c 'import sys;print(sys.executable)')"  # past a pyenv shim (see worker_bench)
python_version="$("$python" -c 'import sys;print(sys.version.split()[0])')"
mkdir -p "$scratch/python"
cat >"$scratch/python/echo.py" <<'EOF'
def handler(event, context):
    return event
EOF

declare -A worker_port
# start_worker <function name> <runtime> <handler> <code>
start_worker() {
  local name="$1" dir="$scratch/worker-$1"
  mkdir -p "$dir"
  # stdout is the function log (START/END/REPORT per invocation): gigabytes over a run, dropped.
  setpriv --pdeathsig SIGTERM "$bin/wisp-worker" --name="$name" --runtime="$2" --handler="$3" \
    --code="$4" --listen=127.0.0.1 --port=0 --admin_port=0 --port_file="$dir.port" \
    --concurrency="$concurrency" --memory=128 --python="$python" \
    --runtimes_dir="$build/share/wisp/runtimes" --work_dir="$dir" --drain_seconds=2 \
    >/dev/null 2>"$dir.log" </dev/null &
  pids+=($!)
  wait_file "$dir.port" $! "wisp-worker $name" "$dir.log"
  read -r "worker_port[$name]" _ <"$dir.port"
}
# wait_ready <name>: /readyz says 200 once every environment initialised.
wait_ready() {
  local admin
  read -r _ admin <"$scratch/worker-$1.port"
  for _ in $(seq 400); do
    curl -fsS -o /dev/null "http://127.0.0.1:$admin/readyz" 2>/dev/null && return 0
    sleep 0.05
  done
  die "worker $1 not ready after 20 s; its log: $(tail -c 1500 "$scratch/worker-$1.log")"
}

echo "run_gateway_bench: starting workers (concurrency $concurrency), gateway, nginx ..." >&2
start_worker echo provided echo "$build/examples/provided-echo"
start_worker echo-python python3.11 echo.handler "$scratch/python"
wait_ready echo
wait_ready echo-python

# ------------------------------------------------------------------------------------------------
# Gateway, over a catalog file naming both workers.

cat >"$scratch/catalog.json" <<EOF
{"functions": [
  {"name": "echo", "timeoutSeconds": 3, "memoryMB": 128,
   "endpoints": [{"address": "127.0.0.1:${worker_port[echo]}", "capacity": $concurrency}]},
  {"name": "echo-python", "timeoutSeconds": 3, "memoryMB": 128,
   "endpoints": [{"address": "127.0.0.1:${worker_port[echo-python]}", "capacity": $concurrency}]}
]}
EOF
start "$scratch/gateway.log" "$bin/wisp-gateway" --catalog="$scratch/catalog.json" \
  --listen=127.0.0.1 --port=0 --admin_port=0 --port_file="$scratch/gateway.port"
wait_file "$scratch/gateway.port" "${pids[-1]}" wisp-gateway "$scratch/gateway.log"
read -r gw_port _ <"$scratch/gateway.port"

# ------------------------------------------------------------------------------------------------
# Baseline 2: nginx in front of a native HTTP echo server.

start "$scratch/echo.log" "$bin/gateway_bench_echo" --port_file="$scratch/echo.port" --threads=128
wait_file "$scratch/echo.port" "${pids[-1]}" gateway_bench_echo "$scratch/echo.log"
read -r echo_port <"$scratch/echo.port"
ng_port="$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')"
mkdir -p "$scratch/nginx"
cat >"$scratch/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $scratch/nginx/nginx.pid;
error_log $scratch/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $scratch/nginx/body;
  proxy_temp_path $scratch/nginx/proxy;
  fastcgi_temp_path $scratch/nginx/fastcgi;
  uwsgi_temp_path $scratch/nginx/uwsgi;
  scgi_temp_path $scratch/nginx/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 30s;
  tcp_nodelay on;
  upstream echo {
    server 127.0.0.1:$echo_port;
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$ng_port backlog=1024;
    location / {
      proxy_pass http://echo;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
start "$scratch/nginx/stderr.log" "$nginx_bin" -p "$scratch/nginx" -c "$scratch/nginx/nginx.conf" \
  -e "$scratch/nginx/error.log"
for _ in $(seq 200); do
  curl -fsS -o /dev/null "http://127.0.0.1:$ng_port/" 2>/dev/null && break
  kill -0 "${pids[-1]}" 2>/dev/null || die "nginx exited: $(cat "$scratch/nginx/stderr.log" "$scratch/nginx/error.log" 2>/dev/null | tail -c 1500)"
  sleep 0.05
done

# ------------------------------------------------------------------------------------------------
# Sanity: every path answers 200 with the event echoed.

body='{"token":"wrk-0123456789","pad":"xxxxxxxxxxxxxxxx"}'
invoke_url="http://127.0.0.1:$gw_port/2015-03-31/functions/echo/invocations"
invoke_py_url="http://127.0.0.1:$gw_port/2015-03-31/functions/echo-python/invocations"
route_url="http://127.0.0.1:$gw_port/function/echo"
nginx_url="http://127.0.0.1:$ng_port/echo"
check() {  # check <url> <expected substring> [curl args...]
  local url="$1" want="$2" got; shift 2
  got="$(curl -sS --max-time 10 -w ' HTTP%{http_code}' "$@" "$url")" || die "curl $url failed"
  [[ "$got" == *"$want"* && "$got" == *" HTTP200" ]] || die "$url answered: ${got:0:500}"
}
check "$invoke_url" '"wrk-0123456789"' -X POST -H 'Content-Type: application/json' -d "$body"
check "$invoke_py_url" '"wrk-0123456789"' -X POST -H 'Content-Type: application/json' -d "$body"
check "$route_url" '"routeKey"'
check "$nginx_url" '"wrk-0123456789"' -X POST -H 'Content-Type: application/json' -d "$body"

cat >"$scratch/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
EOF
cat >"$scratch/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%.1f p99_us=%.1f max_us=%.1f errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.status + e.timeout))
end
EOF
cat "$scratch/post.lua" "$scratch/report.lua" >"$scratch/post_report.lua"

# ------------------------------------------------------------------------------------------------
# Runs. Each adds one line to $results: case conns rps p50_us p99_us max_us errors.

results="$scratch/results.txt"
: >"$results"
log_runs="$scratch/runs.log"

# run_bg <seconds bound> <command...>: in the background (so a signal ends it), output to $out.
run_bg() {
  local bound="$1"; shift
  "$@" >"$out" 2>&1 &
  current=$!
  local start=$SECONDS
  while kill -0 "$current" 2>/dev/null; do
    if ((SECONDS - start > bound)); then kill -KILL "$current"; break; fi
    sleep 0.1
  done
  wait "$current" || true
  current=""
  cat "$out" >>"$log_runs"
}

# run_wrk <case> <conns> <url> <lua> <seconds> [record]
run_wrk() {
  local name="$1" c="$2" url="$3" lua="$4" secs="$5" record="${6:-1}" threads=2
  ((c < threads)) && threads=$c
  check_time "$secs"
  out="$scratch/run.out"
  echo "== $name c=$c (${secs}s)" >>"$log_runs"
  run_bg $((secs + 20)) setpriv --pdeathsig SIGKILL wrk -t"$threads" -c"$c" -d"${secs}s" --timeout 5s --latency -s "$lua" "$url"
  local line
  line="$(grep '^WRK_RESULT' "$out" || true)"
  [[ -n "$line" ]] || die "wrk against $url gave no result: $(tail -c 1000 "$out")"
  ((record)) || return 0
  awk -v name="$name" -v c="$c" '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "%s %d %.1f %.1f %.1f %.1f %d\n", name, c, v["requests"] / (v["duration_us"] / 1e6),
             v["p50_us"], v["p99_us"], v["max_us"], v["errors"] }' <<<"$line" >>"$results"
}

# run_direct <case> <function> <conns> <seconds> [record]
run_direct() {
  local name="$1" fn="$2" c="$3" secs="$4" record="${5:-1}"
  check_time "$secs"
  out="$scratch/run.out"
  echo "== $name c=$c (${secs}s)" >>"$log_runs"
  run_bg $((secs + 20)) "$bin/gateway_bench_load" --target="127.0.0.1:${worker_port[$fn]}" \
    --function_name="$fn" --connections="$c" --capacity="$concurrency" --duration_seconds="$secs" \
    --payload='{"token":"%ID%","pad":"xxxxxxxxxxxxxxxx"}'
  local line
  line="$(grep '^LOAD_RESULT' "$out" || true)"
  [[ -n "$line" ]] || die "gateway_bench_load against $fn gave no result: $(tail -c 1000 "$out")"
  ((record)) || return 0
  awk -v name="$name" -v c="$c" '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "%s %d %.1f %.1f %.1f %.1f %d\n", name, c, v["rps"], v["p50_us"], v["p99_us"],
             v["max_us"], v["errors"] }' \
    <<<"$line" >>"$results"
}

date_utc="$(date -u '+%Y-%m-%d %H:%M:%SZ')"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
if ((warmup > 0)); then
  echo "run_gateway_bench: warm-up (${warmup}s per target, untimed) ..." >&2
  run_direct direct-provided echo 10 "$warmup" 0
  run_wrk gateway-provided 10 "$invoke_url" "$scratch/post_report.lua" "$warmup" 0
  run_wrk gateway-route 10 "$route_url" "$scratch/report.lua" "$warmup" 0
  run_direct direct-python echo-python 10 "$warmup" 0
  run_wrk gateway-python 10 "$invoke_py_url" "$scratch/post_report.lua" "$warmup" 0
  run_wrk nginx 10 "$nginx_url" "$scratch/post_report.lua" "$warmup" 0
fi
# Per connection count, all six back to back, so each gateway figure has its baselines close by.
for c in "${conn_list[@]}"; do
  echo "run_gateway_bench: $c connection(s), 6 x ${duration}s ..." >&2
  run_direct direct-provided echo "$c" "$duration"
  run_wrk gateway-provided "$c" "$invoke_url" "$scratch/post_report.lua" "$duration"
  run_wrk gateway-route "$c" "$route_url" "$scratch/report.lua" "$duration"
  run_direct direct-python echo-python "$c" "$duration"
  run_wrk gateway-python "$c" "$invoke_py_url" "$scratch/post_report.lua" "$duration"
  run_wrk nginx "$c" "$nginx_url" "$scratch/post_report.lua" "$duration"
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
took=$((SECONDS - t0))

# ------------------------------------------------------------------------------------------------
# Report.

printf '\nwisp gateway_bench  %s  cores=%s  load(1/5/15m) before=%s after=%s  took %d s\n' \
  "$date_utc" "$(nproc)" "$load_before" "$load_after" "$took"
printf 'wrk %s, %s, python %s (%s)\n' "$(wrk -v 2>&1 | head -1 | awk '{print $2}')" \
  "$("$nginx_bin" -v 2>&1 | sed 's/.*: //')" "$python_version" "$python"
printf 'each run %d s closed loop after a %d s warm-up per target; one worker per function, --concurrency %d\n' \
  "$duration" "$warmup" "$concurrency"
printf '(gateway capacity %d per function, queueing the rest); wrk -t min(c,2); p50 p99 max in ms\n' "$concurrency"
printf 'rps/x = req/s of the case / of baseline x; p50/x = p50 of the case / of baseline x\n'
printf '  direct = the same worker over gRPC (gateway_bench_load); nginx = nginx -> httplib echo\n\n'
awk '
  { name[NR] = $1; c[NR] = $2; rps[NR] = $3; p50[NR] = $4; p99[NR] = $5; mx[NR] = $6; err[NR] = $7
    key = $1 " " $2; R[key] = $3; P[key] = $4 }
  function label(n) {
    if (n == "gateway-provided") return "gateway > worker > provided (Invoke API)"
    if (n == "gateway-route") return "gateway > worker > provided (GET /function/echo)"
    if (n == "gateway-python") return "gateway > worker > python3.11 (Invoke API)"
    if (n == "direct-provided") return "direct: gRPC > worker > provided"
    if (n == "direct-python") return "direct: gRPC > worker > python3.11"
    if (n == "nginx") return "baseline: nginx > httplib echo"
    return n
  }
  function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
  END {
    printf "%-48s %5s %8s %7s %7s %7s %7s %7s %7s %7s %6s\n", "case", "conns", "req/s", "p50",
           "p99", "rps/dir", "p50/dir", "rps/ngx", "p50/ngx", "max", "errors"
    order[1] = "gateway-provided"; order[2] = "gateway-route"; order[3] = "gateway-python"
    order[4] = "direct-provided"; order[5] = "direct-python"; order[6] = "nginx"
    for (o = 1; o <= 6; o++) {
      for (i = 1; i <= NR; i++) {
        if (name[i] != order[o]) continue
        d = name[i] == "gateway-python" || name[i] == "direct-python" ? "direct-python" : "direct-provided"
        nk = "nginx " c[i]; dk = d " " c[i]
        rd = "-"; pd = "-"; rn = "-"; pn = "-"
        if (name[i] != d) { rd = ratio(rps[i], R[dk]); pd = ratio(p50[i], P[dk]) }
        if (name[i] != "nginx") { rn = ratio(rps[i], R[nk]); pn = ratio(p50[i], P[nk]) }
        printf "%-48s %5d %8.0f %7.2f %7.2f %7s %7s %7s %7s %7.0f %6d\n", label(name[i]), c[i],
               rps[i], p50[i] / 1000, p99[i] / 1000, rd, pd, rn, pn, mx[i] / 1000, err[i]
      }
    }
  }' "$results"

# One JSON line for tools.
{
  printf '{"benchmark":"gateway_bench","date":"%s","cores":%s,"load_before":"%s","load_after":"%s",' \
    "$date_utc" "$(nproc)" "$load_before" "$load_after"
  printf '"seconds":%d,"config":{"duration_s":%d,"warmup_s":%d,"concurrency":%d,"python":"%s"},"runs":[' \
    "$took" "$duration" "$warmup" "$concurrency" "$python_version"
  awk '{ printf "%s{\"case\":\"%s\",\"connections\":%d,\"rps\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"errors\":%d}",
         (NR > 1 ? "," : ""), $1, $2, $3, $4, $5, $6, $7 }' "$results"
  printf ']}\n'
}

if awk '$7 > 0 { bad = 1 } END { exit !bad }' "$results"; then
  failed=1
  echo "run_gateway_bench: some requests failed (wrk: non-2xx, socket errors or timeouts;" \
    "direct: failed invokes); see $log_runs:" >&2
  grep -E '^gateway_bench_load: |Non-2xx|Socket errors' "$log_runs" | head -5 >&2 || true
  exit 1
fi
