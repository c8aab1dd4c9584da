#!/usr/bin/env bash
# Builds and runs tiny consumers of tether (tests/consumers/main.cpp, which sets no C++ standard)
# in every way a project can use it:
#   1. the installed tree, find_package(tether) (static and shared) and a version it must refuse
#   2. the installed tree, pkg-config
#   3. the Debian packages (scripts/package.sh), installed with dpkg -i: find_package from /usr,
#      pkg-config, the tool's --version and man page; removed again afterwards
#   4. add_subdirectory(tether)
#   5. FetchContent from an archive of the local tree (file:// URL)
# Usage: scripts/consumer-tests.sh [BUILD_ROOT]   (default: build/consumers)
# Consumer builds compile only tether's library. Exits non-zero on the first failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-build/consumers}
case $out in /*) ;; *) out=$root/$out ;; esac
jobs=${JOBS:-$(nproc)}
consumers=$root/tests/consumers
export CXX=${CONSUMER_CXX:-g++}  # g++ 12 defaults to C++17: C++20 must come from tether

step() { echo "-- consumer: $*"; }
fail() { echo "consumer-tests: FAILED: $*" >&2; exit 1; }
expect_ok() {  # expect_ok BINARY: runs a built consumer, which checks itself
    local text
    text=$("$1") || fail "$1 exited with $?"
    [[ $text == "consumer: tether "*", .NET shape with two servers: ok" ]] || fail "$1 printed '$text'"
    echo "   $text"
}
cmake_consumer() {  # cmake_consumer NAME SOURCE_DIR CMAKE_ARGS...: configure, build, run
    local dir=$out/$1 src=$2
    shift 2
    rm -rf "$dir"
    cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug "$@" >"$dir.log" 2>&1 ||
        { cat "$dir.log"; fail "configuring $1"; }
    cmake --build "$dir" -j "$jobs" >>"$dir.log" 2>&1 || { cat "$dir.log"; fail "building $1"; }
    expect_ok "$dir/consumer"
}
needs_libtether_so() {  # needs_libtether_so BINARY YES|NO
    local needed=no
    readelf -d "$1" | grep -q 'NEEDED.*\[libtether\.so\.0\]' && needed=yes
    [ "$needed" = "$2" ] || fail "$1: linked against libtether.so.0: $needed, expected $2"
}

mkdir -p "$out"
rm -f "$out"/*.log

step "control: main.cpp does not compile without C++20 (so the consumers below prove tether brings it)"
if "$CXX" -fsyntax-only -I"$root/include" "$consumers/main.cpp" 2>"$out/control.log"; then
    fail "main.cpp compiled without -std=c++20; the consumer tests would prove nothing"
fi
grep -q "span" "$out/control.log" || { cat "$out/control.log"; fail "the control failed for another reason"; }

step "building the library (static with the tool, shared) and the Debian packages"
debs=$(JOBS=$jobs "$root/scripts/package.sh" "$out/package" | grep '\.deb$')
prefix=$out/prefix
rm -rf "$prefix"
cmake --install "$out/package/static" --prefix "$prefix" >/dev/null
cmake --install "$out/package/shared" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name 'libtether.so.0' -printf '%h\n')
[ -n "$libdir" ] || fail "no libtether.so.0 installed in $prefix"
readelf -d "$libdir/libtether.so.0" | grep -q 'SONAME.*\[libtether\.so\.0\]' || fail "libtether.so has no SONAME libtether.so.0"
for f in include/tether/tether.hpp include/tether/version.hpp bin/tether share/man/man1/tether.1; do
    [ -f "$prefix/$f" ] || fail "$prefix/$f was not installed"
done

version=$(sed -n 's/^#define TETHER_VERSION_STRING "\(.*\)"$/\1/p' "$root/include/tether/version.hpp")
grep -q "^\.TH TETHER 1 .* \"tether $version\"" "$prefix/share/man/man1/tether.1" ||
    fail "the installed man page does not name version $version"
[ "$("$prefix/bin/tether" --version)" = "tether $version" ] ||
    fail "installed tether --version: $("$prefix/bin/tether" --version)"

step "1. installed tree, find_package (static, the default)"
cmake_consumer find-static "$consumers/find_package" -DCMAKE_PREFIX_PATH="$prefix"
needs_libtether_so "$out/find-static/consumer" no
step "1. installed tree, find_package (shared: -Dtether_SHARED_LIBS=ON)"
cmake_consumer find-shared "$consumers/find_package" -DCMAKE_PREFIX_PATH="$prefix" -Dtether_SHARED_LIBS=ON
needs_libtether_so "$out/find-shared/consumer" yes
step "1. installed tree, find_package(tether 1.0) must be refused (SameMajorVersion)"
if cmake -S "$consumers/find_package" -B "$out/find-v1" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
         -DTETHER_WANT_VERSION=1.0 >"$out/find-v1.log" 2>&1; then
    fail "find_package(tether 1.0) accepted version 0.x"
fi
grep -q "with requested version \"1.0\"" "$out/find-v1.log" || { cat "$out/find-v1.log"; fail "find-v1 failed for another reason"; }

step "2. installed tree, pkg-config"
pc_dir=$(dirname "$(find "$prefix" -name tether.pc)")
flags=$(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags --libs tether)
mkdir -p "$out/pkg-config"
"$CXX" -o "$out/pkg-config/consumer" "$consumers/main.cpp" $flags
needs_libtether_so "$out/pkg-config/consumer" yes
LD_LIBRARY_PATH=$libdir expect_ok "$out/pkg-config/consumer"

step "3. the Debian packages: $(echo $debs | xargs -n1 basename | tr '\n' ' ')"
if [ "$(id -u)" -ne 0 ]; then
    echo "   SKIPPED: installing .deb packages needs root (dpkg -i); run as root to test them"
elif dpkg-query -W -f='${db:Status-Status}' libtether-dev 2>/dev/null | grep -q '^installed$'; then
    echo "   SKIPPED: a libtether-dev is already installed on this system; not replacing it"
else
    remove_debs() { dpkg -r tether libtether-dev libtether0 >/dev/null 2>&1 || true; }
    trap remove_debs EXIT
    # shellcheck disable=SC2086
    dpkg -i $debs >"$out/dpkg.log" 2>&1 || { cat "$out/dpkg.log"; fail "dpkg -i"; }
    cmake_consumer deb-static "$consumers/find_package"
    needs_libtether_so "$out/deb-static/consumer" no
    cmake_consumer deb-shared "$consumers/find_package" -Dtether_SHARED_LIBS=ON
    needs_libtether_so "$out/deb-shared/consumer" yes
    mkdir -p "$out/deb-pkg-config"
    # shellcheck disable=SC2046
    "$CXX" -o "$out/deb-pkg-config/consumer" "$consumers/main.cpp" $(pkg-config --cflags --libs tether)
    expect_ok "$out/deb-pkg-config/consumer"
    [ "$(/usr/bin/tether --version)" = "$("$prefix/bin/tether" --version)" ] || fail "/usr/bin/tether --version"
    [ -f /usr/share/man/man1/tether.1 ] || fail "the tether package installed no man page"
    remove_debs
    trap - EXIT
    [ ! -e /usr/include/tether ] || fail "dpkg -r left /usr/include/tether behind"
fi

step "4. add_subdirectory"
cmake_consumer add-subdirectory "$consumers/add_subdirectory" -DTETHER_SOURCE_DIR="$root"

step "5. FetchContent from a file:// archive of this tree"
archive=$out/tether-src.tar.gz
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' |
    tar --null -T - --transform 's,^,tether/,' -czf "$archive")
cmake_consumer fetchcontent "$consumers/fetchcontent" -DTETHER_ARCHIVE="$archive"

echo "consumer-tests: all consumers built and ran"
