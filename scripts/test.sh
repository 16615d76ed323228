#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs the whole test suite with CTest.
# Extra arguments go to ctest (e.g. -R worker_integration).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
cd "${WISP_BUILD_DIR:-$root/build}"
ctest --output-on-failure -j "${WISP_TEST_JOBS:-2}" "$@"
