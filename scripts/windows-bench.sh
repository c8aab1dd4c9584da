#!/bin/sh
# Builds the Windows spawn benchmark with MinGW and runs it under wine (tether's
# spawn+wait against raw CreateProcessW+wait in one run; target <= 1.25x).
#   scripts/windows-bench.sh [build-dir [spawns]]     (defaults: build/windows, 100)
# Run it under the shared lock: flock /tmp/tether-cpu.lock scripts/windows-bench.sh
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build/windows}
case $build in /*) ;; *) build=$root/$build ;; esac
cmake -S "$root" -B "$build" -G Ninja -DTETHER_WERROR=ON \
      -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64.cmake" >/dev/null
cmake --build "$build" -j "${JOBS:-2}" --target spawn_bench_windows bench_true
. "$root/scripts/wine-session.sh"
# wine's own services (services.exe, winedevice, explorer...) start with the first wine process
# and take its handles along. Started here first, on /dev/null, they run before the first
# measured spawn, as on Windows. (Left to start inside the benchmark, its pipe case moved
# 0.97-1.29x between runs; started first, 0.93-1.11x.)
wineserver -p 2>/dev/null || true  # 2: one is running already
wine wineboot </dev/null >/dev/null 2>&1
trap 'wineserver -k 2>/dev/null || true' EXIT
wine "$build/bench/spawn_bench_windows.exe" "${2:-100}"
