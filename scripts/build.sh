#!/usr/bin/env bash
# Configures (once) and builds Wisp into build/ with Ninja and ccache.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CCACHE_BASEDIR="$root"
export CCACHE_NOHASHDIR=1
build="${WISP_BUILD_DIR:-$root/build}"
if [[ ! -f $build/build.ninja ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${WISP_BUILD_TYPE:-RelWithDebInfo}"
fi
# gRPC-heavy files take ~0.6 GB of compiler memory each; two jobs fit any 2-core machine.
ninja -C "$build" -j "${WISP_JOBS:-$(nproc)}" "$@"
