#!/usr/bin/env bash
# Maintainer check (not run by CI): do the README's two commands, ./demo.sh and ./test.sh, work on
# a Debian 12 that has nothing but a fresh install? Bootstraps bookworm with debootstrap into a
# scratch folder, from the Debian mirror this machine's apt uses (/etc/apt/sources.list*), copies
# a clone of this checkout's HEAD in (commit first), and runs both commands as root in a
# chroot with /proc mounted (and /dev bound, for /dev/null and the terminals). deps.sh installs the
# packages they need in there, as a user's machine would. The .NET SDK is not a Debian package, so
# the .NET 10 tests skip with their reason; the script prints it at the end.
#
# Usage: sudo scripts/bootstrap-check.sh [SCRATCH_DIR]
#   SCRATCH_DIR  where the new system goes (default: a new /var/tmp/tether-bootstrap.XXXXXX);
#                kept afterwards for a look (delete it with rm -rf --one-file-system once the
#                script has ended and unmounted what it mounted).
#   TETHER_BOOTSTRAP_VARIANT=minbase (default; the smallest system apt works in) or "" for
#                debootstrap's default variant.
#   TETHER_BOOTSTRAP_STEPS="demo test" (default) or "demo": which of the two commands to run.
#   TETHER_BOOTSTRAP_LOCK=FILE   run each command under flock FILE (a build machine shared with
#                others; the bootstrap itself does not take it).
# Slow: the bootstrap takes minutes, ./test.sh from nothing an hour or more on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "bootstrap-check: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount); run it with sudo"

# The first URI that serves `suite` in this machine's apt sources, one-line (.list) or deb822
# (.sources) format.
mirror_for() {
  local suite=$1 f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    case "$f" in
      *.sources)
        awk -v want="$suite" '
          /^[[:space:]]*$/ { if (uri != "" && hit) print uri; uri = ""; hit = 0; next }
          tolower($1) == "uris:" { uri = $2 }
          tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == want) hit = 1 }
          END { if (uri != "" && hit) print uri }' "$f" ;;
      *)
        sed -E 's/\[[^]]*\]//' "$f" | awk -v want="$suite" '$1 == "deb" && $3 == want { print $2 }' ;;
    esac
  done | sed -n 1p  # sed reads to the end: no SIGPIPE for pipefail to see
}

mirror=$(mirror_for bookworm)
security=$(mirror_for bookworm-security)
[ -n "$mirror" ] || die "no apt source for bookworm in /etc/apt/sources.list*: which Debian mirror should the new system use?"
echo "bootstrap-check: Debian mirror $mirror${security:+, security $security}"

if ! command -v debootstrap >/dev/null 2>&1; then
  echo "bootstrap-check: installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq debootstrap >/dev/null
fi

root=${1:-$(mktemp -d /var/tmp/tether-bootstrap.XXXXXX)}
mkdir -p "$root"
mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -R "${mounted[i]}" 2>/dev/null || umount -lR "${mounted[i]}" || true; done
}
trap cleanup EXIT

if [ ! -x "$root/usr/bin/apt-get" ]; then
  echo "bootstrap-check: debootstrap bookworm into $root"
  variant=${TETHER_BOOTSTRAP_VARIANT-minbase}
  debootstrap ${variant:+--variant="$variant"} bookworm "$root" "$mirror"
fi

# The new system's apt: the same mirrors as ours.
{
  echo "deb $mirror bookworm main"
  echo "deb $mirror bookworm-updates main"
  [ -z "$security" ] || echo "deb $security bookworm-security main"
} >"$root/etc/apt/sources.list"
cp /etc/resolv.conf "$root/etc/resolv.conf"

mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev" && mounted+=("$root/dev")

# A clone of HEAD, as a user's machine would have it: committed files only, and a .git for the
# consumer tests that archive the tree (FetchContent from a file:// archive).
echo "bootstrap-check: cloning this checkout's HEAD to $root/src/tether"
rm -rf "$root/src/tether" && mkdir -p "$root/src"
git clone -q --no-hardlinks "$PWD" "$root/src/tether"

# A clean environment, as a login would give: nothing of ours (PATH, ccache, dotnet) leaks in.
in_chroot() {
  local lock=()
  [ -z "${TETHER_BOOTSTRAP_LOCK:-}" ] || lock=(flock "$TETHER_BOOTSTRAP_LOCK")
  "${lock[@]}" chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "cd /src/tether && $1"
}
steps=" ${TETHER_BOOTSTRAP_STEPS:-demo test} "
if [[ $steps == *" demo "* ]]; then
  echo "bootstrap-check: ./demo.sh in the new system (its part 4 must say why it skipped .NET)"
  in_chroot ./demo.sh
fi
if [[ $steps == *" test "* ]]; then
  echo "bootstrap-check: ./test.sh in the new system"
  in_chroot ./test.sh
  echo "bootstrap-check: the .NET tests there (dotnet is no Debian package: they must say why they skip)"
  in_chroot "build/gcc/tests/tether_tests --gtest_filter='Dotnet10Interop.*:DotnetInterop.*' | grep -A1 -E 'Skipped|OK|FAILED'"
fi
echo "bootstrap-check: ${TETHER_BOOTSTRAP_STEPS:-demo test}: succeeded on a fresh Debian 12 ($root)"
