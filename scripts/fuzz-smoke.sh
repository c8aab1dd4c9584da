#!/usr/bin/env bash
# Runs every libFuzzer target in a clang build for a short, fixed time (a smoke test, not a
# campaign): each must finish without a crash. Usage: scripts/fuzz-smoke.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=${1:?build dir}
secs=${2:-10}
shopt -s nullglob
targets=("$build"/fuzz/*_fuzz)
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets in $build/fuzz (not a clang build with TETHER_BUILD_FUZZ=ON)" >&2
  exit 1
fi
for t in "${targets[@]}"; do
  corpus=$(mktemp -d)
  echo "fuzz: $(basename "$t") for ${secs}s"
  log="$corpus.log"
  status=0
  "$t" -max_total_time="$secs" -print_final_stats=1 "$corpus" >"$log" 2>&1 || status=$?
  grep -E "stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY" "$log" || true
  rm -rf "$corpus"
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    echo "fuzz: $(basename "$t") FAILED (exit $status)" >&2
    exit 1
  fi
  rm -f "$log"
done
