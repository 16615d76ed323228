#!/usr/bin/env bash
# Builds what autoscale_bench needs (the local platform's binaries) and runs it. Arguments go to
# autoscale_bench, e.g. --cycles=20 --skip_step. WISP_BUILD_DIR overrides the build folder.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${WISP_BUILD_DIR:-$root/build}"
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja
fi
CCACHE_BASEDIR="$root" ninja -C "$build" autoscale_bench wisp-apiserver wisp-kubelet \
  wisp-operator wisp-gateway wisp-worker
mkdir -p "$build/test-tmp"
export WISP_BIN_DIR="$build/bin" WISP_SOURCE_DIR="$root" TMPDIR="$build/test-tmp"
exec "$build/bin/autoscale_bench" "$@"
