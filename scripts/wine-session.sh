# Sourced (POSIX sh) by scripts/windows-tests.sh and scripts/windows-bench.sh once $build is set:
# the wine environment and the prefix (created with `wineboot -i` on first use, no display needed).
export WINEDEBUG=-all
export WINEPREFIX="${WINEPREFIX:-$build/wineprefix}"
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"  # no Mono/Gecko install dialogs
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    echo "wine: initialising wine prefix $WINEPREFIX"
    mkdir -p "$WINEPREFIX"
    wine wineboot -i >/dev/null 2>&1
    wineserver -w
fi
