#!/usr/bin/env bash
# Builds what worker_bench needs (wisp-worker with its shipped runtimes, the native echo
# bootstrap, the benchmark) and runs it. Arguments go to worker_bench, e.g.
#   tests/bench/run_worker_bench.sh --warm_iterations=5000 --runtimes=python3.11,provided
# WISP_BUILD_DIR overrides the build folder (default: <repo>/build, configured with Ninja if new).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${WISP_BUILD_DIR:-$root/build}"

if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja
fi
CCACHE_BASEDIR="$root" ninja -C "$build" worker_bench wisp-worker provided-echo-bootstrap

exec "$build/bin/worker_bench" \
  --bin_dir="$build/bin" \
  --runtimes_dir="$build/share/wisp/runtimes" \
  --provided_code="$build/examples/provided-echo" \
  "$@"
