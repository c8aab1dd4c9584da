#!/usr/bin/env bash
# Installs the Debian packages a tether command needs, when they are missing.
# Usage: scripts/deps.sh build|test
# As root it runs apt-get; otherwise it names the missing packages and the command to run.
set -euo pipefail

build_pkgs=(cmake ninja-build g++ libgtest-dev googletest libcli11-dev)
# doxygen: the API reference; dpkg-dev, pkgconf, binutils, git: packaging and consumer tests;
# libasio-dev: the Asio interop tests and example. libclang-rt-14-dev: the sanitizer and libFuzzer
# runtimes, which clang only recommends (so --no-install-recommends leaves them out). python3: the
# CLI tests. libsystemd-dev, python3-systemd, gunicorn, systemd: socket activation tested with
# readers and a writer tether did not write. file: CPack's Debian generator (shared library dependencies).
test_pkgs=("${build_pkgs[@]}" clang libclang-rt-14-dev libbenchmark-dev g++-mingw-w64-x86-64 wine wine64 mono-mcs mono-runtime
           doxygen dpkg-dev pkgconf binutils git libasio-dev python3
           libsystemd-dev python3-systemd gunicorn systemd file)

case "${1:-}" in
  build) wanted=("${build_pkgs[@]}") ;;
  test) wanted=("${test_pkgs[@]}") ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

missing=()
for p in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "tether: missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "tether: run as root, or install them first: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "tether: installed ${missing[*]}"
