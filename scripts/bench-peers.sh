#!/usr/bin/env bash
# Benchmarks tether against its peers in one command: builds bench/peers (raw system calls,
# tether, Boost.Process v1 and v2, libuv, GLib, .NET 10's Process where the .NET SDK is installed;
# Python's subprocess needs no build) and runs
# bench/peers/driver.py, which prints one Markdown table of medians and ratios to raw
# (bench/peers/PROTOCOL.md). A system whose library is missing is listed as skipped.
#
# Usage: scripts/bench-peers.sh [--quick] [driver args: --workloads a,b --systems x,y
#                               --rounds N --json FILE]
#   --quick: fewer iterations, one round (< 2 minutes); the full run takes < 10 minutes.
#   The `floor` column is no peer: the least the kernel allows for spawn_fds, stream and forward
#     with tether's guarantee (bench/peers/floor/); alone with raw and tether, about a minute:
#     scripts/bench-peers.sh --quick --workloads spawn_fds,stream,forward --systems raw,floor,tether
#   TETHER_PEERS_BUILD: the build folder (default build/peers).
#   TETHER_CPU_LOCK_HELD=1: the caller already holds /tmp/tether-cpu.lock (do not take it again:
#   a second flock on it would wait for the first forever).
#
# The build and the run each hold /tmp/tether-cpu.lock: the cores are shared, and a benchmark
# beside a build measures the build.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# The .NET peer's build and the driver's `dotnet --list-runtimes`: no telemetry, no banner.
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
build=${TETHER_PEERS_BUILD:-$root/build/peers}
lock=/tmp/tether-cpu.lock

locked() {
  if [ "${TETHER_CPU_LOCK_HELD:-}" = 1 ]; then
    "$@"
  else
    flock -o "$lock" "$@"
  fi
}

# ---- Debian packages, as scripts/deps.sh does it: installed as root, named otherwise.
pkgs=(cmake ninja-build g++ libboost1.81-dev libuv1-dev libglib2.0-dev python3 util-linux)
if command -v dpkg-query >/dev/null; then
  missing=()
  for p in "${pkgs[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bench-peers: missing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
      echo "bench-peers: installed ${missing[*]}"
    else
      # A missing library only skips its system; the tools below are needed.
      echo "bench-peers: not root, continuing without them (install: sudo apt-get install ${missing[*]})" >&2
    fi
  fi
fi
for tool in cmake ninja g++ python3; do
  command -v "$tool" >/dev/null || { echo "bench-peers: $tool is needed" >&2; exit 1; }
done

# ---- Configure and build (Release; only the peers' targets).
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
locked cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DTETHER_BUILD_BENCH=ON -DTETHER_BUILD_PEER_BENCH=ON -DTETHER_BUILD_TESTS=OFF "${launcher[@]}" >/dev/null
locked cmake --build "$build" --target peers -j2

# ---- Run.
locked python3 "$root/bench/peers/driver.py" --bin "$build/bench/peers/bin" "$@"
