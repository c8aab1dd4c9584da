#!/usr/bin/env bash
# Builds and runs every test: Linux with clang 14 (shared library) and short fuzz runs, the
# whole Linux suite again under ASan+UBSan and under TSan (clang), the Windows backend
# cross-compiled with MinGW and run under wine, the API reference (Doxygen warnings are errors),
# the Debian packages and the consumer builds (installed tree, pkg-config, the installed .deb,
# add_subdirectory, FetchContent), then Linux with g++ 12 (static library).
# Warnings are errors. Ends with CTest's summary line; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")"
jobs=$(nproc)
scripts/deps.sh test

# With ccache on the machine, every build below goes through it (CMake reads the launcher from
# the environment), with paths taken relative to this checkout so that another clone in another
# folder hits the same cache. Without it, nothing changes.
if command -v ccache >/dev/null 2>&1; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_C_COMPILER_LAUNCHER=ccache CCACHE_BASEDIR="$PWD"
fi

echo "== clang 14, shared library (-Werror): every test, then the fuzz targets"
CXX=clang++ cmake -S . -B build/clang -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTETHER_WERROR=ON \
      -DBUILD_SHARED_LIBS=ON -DTETHER_BUILD_FUZZ=ON >/dev/null
cmake --build build/clang -j "$jobs"
ctest --test-dir build/clang -j "$jobs" --output-on-failure
scripts/fuzz-smoke.sh build/clang

# The sanitizer runs: every Linux test, the fault injection and the spawning stress with fewer
# trials (each spawn of an instrumented binary costs several times more; the clang run above does
# the full 10,000 trials and 2 x 1,000 spawns). Under ASan 1,000 trials took 97 s and the stress
# 60 s, on one core each, the longest tests of the suite.
echo "== clang 14, AddressSanitizer + UndefinedBehaviorSanitizer: every Linux test"
CXX=clang++ cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTETHER_WERROR=ON \
      -DBUILD_SHARED_LIBS=ON -DTETHER_SANITIZE=address,undefined -DTETHER_BUILD_BENCH=OFF >/dev/null
cmake --build build/asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 UBSAN_OPTIONS=print_stacktrace=1 TETHER_FAULT_TRIALS=400 TETHER_STRESS_SPAWNS=300 \
  ctest --test-dir build/asan -j "$jobs" --output-on-failure

echo "== clang 14, ThreadSanitizer: every Linux test"
CXX=clang++ cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTETHER_WERROR=ON \
      -DBUILD_SHARED_LIBS=ON -DTETHER_SANITIZE=thread -DTETHER_BUILD_BENCH=OFF >/dev/null
cmake --build build/tsan -j "$jobs"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan.supp" TETHER_FAULT_TRIALS=300 TETHER_STRESS_SPAWNS=300 \
  ctest --test-dir build/tsan -j "$jobs" --output-on-failure

echo "== Windows backend: MinGW cross-build, tests under wine"
scripts/windows-tests.sh build/windows

echo "== API reference: Doxygen over the public headers, warnings are errors"
scripts/api-docs.sh build/api-docs

echo "== Packaging: Debian packages with CPack, and consumers of tether built every way"
JOBS=$jobs scripts/consumer-tests.sh build/consumers

# The fault injection with 2,000 trials here: the clang run did the full 10,000, and this one is
# about the other compiler, not about more trials (it keeps the suite under 20 minutes on a
# slow 2-core VM).
echo "== Linux: g++ 12 (-Werror), every test"
cmake -S . -B build/gcc -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETHER_WERROR=ON >/dev/null
cmake --build build/gcc -j "$jobs"
TETHER_FAULT_TRIALS=2000 ctest --test-dir build/gcc --output-on-failure -j "$jobs"
