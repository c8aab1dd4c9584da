#!/usr/bin/env bash
# Builds tether and runs the main job: `tether demo`, the DisposeLocalCopyOfClientHandle story told by real processes.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh build
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_TESTS=OFF \
      -DTETHER_BUILD_BENCH=OFF -DTETHER_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/release --target tether_cli >/dev/null
exec build/release/tools/tether/tether demo "$@"
