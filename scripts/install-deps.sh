#!/usr/bin/env bash
# Installs every Debian package Wisp needs to build, test and run, skipping what is already
# there. For a fresh Debian 12 machine, as root (or with sudo available).
set -euo pipefail

packages=(
  # build
  cmake g++ ninja-build ccache pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libcpp-httplib-dev prometheus-cpp-dev libgtest-dev libgmock-dev libssl-dev
  libhiredis-dev libyaml-cpp-dev nlohmann-json3-dev
  # runtimes the worker runs
  python3 nodejs npm
  # services and tools the tests and examples use (helm comes from the npm registry)
  redis-server curl ca-certificates procps unzip python3-yaml
  # benchmarks (tests/bench)
  wrk nginx-light
)

missing=()
for p in "${packages[@]}"; do
  # nodejs may come from elsewhere (a newer Node.js): any `node` on PATH will do.
  if [[ $p == nodejs ]] && command -v node >/dev/null 2>&1; then continue; fi
  if [[ $p == npm ]] && command -v npm >/dev/null 2>&1; then continue; fi
  if [[ $p == python3 ]] && command -v python3 >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: everything is installed"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
