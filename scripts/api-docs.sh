#!/bin/sh
# Builds the API reference from the public headers' comments with Doxygen (Debian: doxygen):
#   scripts/api-docs.sh [OUTPUT_DIR]      (default: build/api-docs; open OUTPUT_DIR/html/index.html)
# Configuration: docs/Doxyfile. Every Doxygen warning (an undocumented public member, a
# @param naming no parameter, ...) is an error: the script exits non-zero and lists them.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-build/api-docs}
case $out in /*) ;; *) out=$root/$out ;; esac
command -v doxygen >/dev/null 2>&1 || {
    echo "api-docs: doxygen is missing (apt-get install doxygen, or scripts/deps.sh test)" >&2
    exit 127
}
version=$(sed -n 's/^#define TETHER_VERSION_STRING "\(.*\)"$/\1/p' "$root/include/tether/version.hpp")
mkdir -p "$out"
cd "$root"
# Doxygen reads the configuration from stdin when given "-"; the last setting of a key wins.
{ cat docs/Doxyfile; echo "OUTPUT_DIRECTORY = $out"; echo "PROJECT_NUMBER = $version"; } |
    doxygen - >"$out/doxygen.log" 2>&1 || {
    sed "s|$root/||" "$out/doxygen.log" >&2
    echo "api-docs: Doxygen reported warnings (listed above); the reference must be warning-free" >&2
    exit 1
}
echo "api-docs: $out/html/index.html"
