#!/usr/bin/env bash
# Builds tether's Debian packages with CPack, from two build trees (a static build with the
# tool, a shared build), both configured for the prefix /usr:
#   scripts/package.sh [BUILD_ROOT]     (default: build/package)
# Leaves BUILD_ROOT/static and BUILD_ROOT/shared (installable with `cmake --install`) and the
# packages in BUILD_ROOT/debs: libtether0 (shared library), libtether-dev (headers, static
# library, CMake package, tether.pc), tether (the tool and its man page). Prints their paths.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-build/package}
case $out in /*) ;; *) out=$root/$out ;; esac
jobs=${JOBS:-$(nproc)}

# TETHER_DOTNET=OFF: the demo's .NET program stays in the build tree, so the packaged tool could
# never run it; its part 4 says so instead.
configure() {  # configure DIR SHARED TOOLS
    cmake -S "$root" -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
          -DBUILD_SHARED_LIBS="$2" -DTETHER_BUILD_TOOLS="$3" -DTETHER_BUILD_TESTS=OFF \
          -DTETHER_BUILD_BENCH=OFF -DTETHER_BUILD_EXAMPLES=OFF -DTETHER_WERROR=ON -DTETHER_DOTNET=OFF >/dev/null
    cmake --build "$1" -j "$jobs"
}
configure "$out/static" OFF ON
configure "$out/shared" ON OFF

rm -rf "$out/debs"
mkdir -p "$out/debs"
# Both trees into one package set: the static one brings the tool, the shared one libtether.so.
(cd "$out/debs" && cpack --config "$out/static/CPackConfig.cmake" -B "$out/debs" \
    -D "CPACK_INSTALL_CMAKE_PROJECTS=$out/shared;tether;ALL;/;$out/static;tether;ALL;/" >/dev/null)
ls "$out"/debs/*.deb
