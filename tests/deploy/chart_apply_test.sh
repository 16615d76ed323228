#!/usr/bin/env bash
# Installs Wisp the two documented ways with the real kubectl, against the Kubernetes API test
# server (operator/apiserver, `wisp-apiserver`), and checks what the server then holds:
#   1. `helm template --include-crds --set createNamespace=true | kubectl apply -f -` (the flow the
#      chart's values.yaml describes), re-applied (idempotent), then deploy/examples/*.yaml;
#   2. `kubectl apply -f deploy/crds/ -f deploy/` (deploy/README.md), on a fresh server, then the
#      examples.
# No cluster is needed; every kind the chart renders must be one the test server serves.
#
#   tests/deploy/chart_apply_test.sh [path/to/wisp-apiserver]
#
# The API server binary: the argument, else $WISP_APISERVER, else build/bin/wisp-apiserver.
# kubectl: $WISP_KUBECTL, else /usr/bin/kubectl (exits 77, skipped, when it is missing). helm
# comes from scripts/get-helm.sh (cached under $WISP_TOOLS_DIR, default build/tools).
# kubectl runs with an empty kubeconfig and a temporary HOME: nothing of ~/.kube is read or written.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
apiserver="${1:-${WISP_APISERVER:-$root/build/bin/wisp-apiserver}}"
kubectl_bin="${WISP_KUBECTL:-/usr/bin/kubectl}"
export WISP_TOOLS_DIR="${WISP_TOOLS_DIR:-$root/build/tools}"

if [[ ! -x $kubectl_bin ]]; then
  echo "chart_apply_test: no kubectl at $kubectl_bin: skipped"
  exit 77
fi
if [[ ! -x $apiserver ]]; then
  echo "chart_apply_test: no wisp-apiserver at $apiserver (build the wisp-apiserver target)"
  exit 1
fi

work=$(mktemp -d)
server_pids=()
cleanup() {
  local pid
  for pid in "${server_pids[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
# Neither helm nor kubectl reads or writes anything of the user's.
mkdir -p "$work/home"
: >"$work/kubeconfig"
export HOME="$work/home" KUBECONFIG="$work/kubeconfig"
export XDG_CACHE_HOME="$work/xdg-cache" XDG_CONFIG_HOME="$work/xdg-config" XDG_DATA_HOME="$work/xdg-data"

source "$(dirname "${BASH_SOURCE[0]}")/steps.sh"

helm=$("$root/scripts/get-helm.sh") || { echo "chart_apply_test: could not get helm"; exit 1; }
echo "helm: $helm ($("$helm" version --short)); kubectl: $("$kubectl_bin" version --client | head -n 1)"

# start_server NAME: starts a wisp-apiserver on a free loopback port (in memory) and sets $url.
# Polls for its port file, then for /healthz, each with a deadline.
start_server() {
  local name=$1 port_file="$work/$1.port" port="" deadline
  "$apiserver" --listen 127.0.0.1 --port 0 --port_file "$port_file" >"$work/$name.log" 2>&1 &
  server_pids+=($!)
  deadline=$((SECONDS + 20))
  while [[ -z $port && $SECONDS -lt $deadline ]]; do
    if ! kill -0 "${server_pids[-1]}" 2>/dev/null; then
      echo "wisp-apiserver exited:"; cat "$work/$name.log"; return 1
    fi
    [[ -s $port_file ]] && port=$(tr -d '[:space:]' <"$port_file")
    [[ -n $port ]] || sleep 0.05
  done
  [[ -n $port ]] || { echo "wisp-apiserver wrote no port in 20 s"; cat "$work/$name.log"; return 1; }
  url="http://127.0.0.1:$port"
  until k get --raw /healthz >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { echo "$url/healthz never answered"; cat "$work/$name.log"; return 1; }
    sleep 0.05
  done
}
# k ARGS...: kubectl against the current server, with a fresh discovery cache per server.
k() {
  "$kubectl_bin" --kubeconfig "$KUBECONFIG" --server "$url" --cache-dir "$work/cache-${url##*:}" \
    --request-timeout=30s "$@"
}
# apply_ok FILE|-...: kubectl apply -f each argument ("-" reads stdin); fails unless kubectl
# exits 0 and reports nothing unexpected on stderr.
apply_ok() {
  local args=() f
  for f in "$@"; do args+=(-f "$f"); done
  k apply "${args[@]}" 2>"$work/apply.err" | tee "$work/apply.out"
  local rc=${PIPESTATUS[0]}
  cat "$work/apply.err"
  ((rc == 0)) || { echo "kubectl apply exited $rc"; return 1; }
  [[ ! -s $work/apply.err ]] || { echo "kubectl apply wrote to stderr"; return 1; }
}
# has NAMESPACE RESOURCE NAME...: every named object exists (as `kubectl get -o name` lists it).
has() {
  local ns=$1 resource=$2
  shift 2
  k get "$resource" -n "$ns" -o name >"$work/names" || return 1
  local name missing=0
  for name in "$@"; do
    grep -qx "[a-z.]*/$name" "$work/names" || { echo "no $resource $ns/$name"; missing=1; }
  done
  ((missing == 0)) || { echo "listed:"; cat "$work/names"; return 1; }
}
# rendered_objects FILE: "kind/namespace/name" of every object in a multi-document YAML file.
rendered_objects() {
  awk '
    /^---/ { if (kind != "") print kind "/" ns "/" name; kind = ""; ns = ""; name = ""; meta = 0; next }
    /^kind: / { kind = $2 }
    /^metadata:/ { meta = 1; next }
    meta && /^  name: / && name == "" { name = $2 }
    meta && /^  namespace: / && ns == "" { ns = $2 }
    /^[^ #]/ && !/^metadata:/ { meta = 0 }
    END { if (kind != "") print kind "/" ns "/" name }
  ' "$1"
}
# every_object_served FILE: each object the file holds can be read back from the server.
every_object_served() {
  local line kind ns name missing=0 count=0
  while IFS=/ read -r kind ns name; do
    count=$((count + 1))
    if [[ -n $ns ]]; then
      k get "$kind" "$name" -n "$ns" -o name >/dev/null 2>&1 || { echo "missing: $kind $ns/$name"; missing=1; }
    else
      k get "$kind" "$name" -o name >/dev/null 2>&1 || { echo "missing: $kind $name"; missing=1; }
    fi
  done < <(rendered_objects "$1")
  ((count > 0)) || { echo "no objects in $1"; return 1; }
  echo "$count objects read back"
  ((missing == 0))
}

# kinds_served FILE: every apiVersion and kind in the file is in `kubectl api-resources`.
kinds_served() {
  k api-resources --no-headers | awk '{ print $(NF-2), $NF }' | sort -u >"$work/served" || return 1
  awk '/^apiVersion: / { v = $2 } /^kind: / { print v, $2 }' "$1" | sort -u >"$work/rendered"
  local missing
  missing=$(comm -23 "$work/rendered" "$work/served")
  [[ -z $missing ]] || { echo "not served (apiVersion kind):"; echo "$missing"; return 1; }
  echo "$(wc -l <"$work/rendered") kinds, all served"
}

# --- 1. The chart: helm template | kubectl apply -f - -------------------------------------------
"$helm" template wisp "$root/charts/wisp" --namespace wisp-system --include-crds \
  --set createNamespace=true >"$work/chart.yaml" || { echo "FAIL helm template"; exit 1; }

step "start wisp-apiserver (chart)" start_server chart || { echo "$passed passed, $((failed)) failed"; exit 1; }
step "the rendered chart names only kinds the server serves" kinds_served "$work/chart.yaml"
step "helm template --include-crds | kubectl apply -f - exits 0" apply_ok - <"$work/chart.yaml"
step "kubectl get deploy -n wisp-system lists wisp-operator and wisp-gateway" \
  has wisp-system deploy wisp-operator wisp-gateway
step "every rendered object is on the server" every_object_served "$work/chart.yaml"
step "the Function CRD is served (kubectl get fn -A)" k get fn -A
reapply_unchanged() {
  apply_ok - <"$work/chart.yaml" || return 1
  local kind
  for kind in customresourcedefinition.apiextensions.k8s.io/functions.wisp.dev namespace/wisp-system \
    networkpolicy.networking.k8s.io/wisp-redis deployment.apps/wisp-operator deployment.apps/wisp-gateway \
    statefulset.apps/wisp-redis configmap/wisp-config service/wisp-gateway; do
    grep -qx "$kind unchanged" "$work/apply.out" || { echo "not unchanged: $kind"; return 1; }
  done
}
step "re-applying the chart changes nothing" reapply_unchanged
step "kubectl apply -f deploy/examples/*.yaml exits 0" apply_ok "$root"/deploy/examples/*.yaml
step "kubectl get fn lists the examples" has default fn hello-python hello-node

# --- 2. The plain manifests: kubectl apply -f deploy/crds/ -f deploy/ ---------------------------
step "start wisp-apiserver (plain manifests)" start_server plain || { echo "$passed passed, $failed failed"; exit 1; }
step "kubectl apply -f deploy/crds/ -f deploy/ exits 0" apply_ok "$root/deploy/crds/" "$root/deploy/"
step "kubectl get deploy -n wisp-system lists wisp-operator and wisp-gateway" \
  has wisp-system deploy wisp-operator wisp-gateway
cat "$root"/deploy/*.yaml >"$work/plain.yaml"
step "every object of deploy/*.yaml is on the server" every_object_served "$work/plain.yaml"
step "kubectl apply -f deploy/examples/ exits 0" apply_ok "$root/deploy/examples/"
step "kubectl get fn lists the examples" has default fn hello-python hello-node

echo "$passed passed, $failed failed"
((failed == 0))
