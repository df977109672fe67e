# Sourced by scripts/windows-on-linux.sh and scripts/wine-bitsim.sh: what
# both need to build Windows code on Debian and run it under Wine.
#
#   windows_tools [DEBIAN-PACKAGE-FOR-A-COMMAND ...]
#
# installs what is missing (the Rust target x86_64-pc-windows-gnu, Debian's
# gcc-mingw-w64-x86-64 and wine64, plus "command:package" pairs such as
# python3:python3; apt-get as root or with sudo), prints Wine's version, and
# sets TARGET, MINGW_GCC, WINE, WINESERVER, TARGET_DIR, WORK (the scripts'
# folder under the target directory) and the Wine/cargo variables both use.
# BITSIM_NO_INSTALL=1 only checks that the tools are there. wine_restart
# ends a Wine session and waits for it to be gone; wine_test,
# conformance_cases and show_failed run bitsim-windows's tests under Wine.

TARGET=x86_64-pc-windows-gnu
MINGW_GCC=x86_64-w64-mingw32-gcc
# Debian installs the wine64 loader in Wine's library folder, not on PATH.
WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver64

step() { printf '== %s\n' "$*"; }
elapsed() { printf '   (%d s)\n' "$((SECONDS - $1))"; }
die() { echo "error: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# wine_restart: ends the prefix's Wine session (wineserver and what it
# serves) and waits until it is gone, so what runs next starts afresh.
wine_restart() {
    "$WINESERVER" -k 2>/dev/null || true
    "$WINESERVER" -w
}

# wine_test ARGS...: `cargo test` of bitsim-windows (feature real-windows)
# built for Windows and run under Wine. The cases bound their own waits;
# the timeout (BITSIM_WINE_TEST_TIMEOUT, default 300 s) only stops a run
# that hangs inside Wine.
wine_test() {
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$WINE" timeout "${BITSIM_WINE_TEST_TIMEOUT:-300}" \
        cargo test -q --target "$TARGET" -p bitsim-windows --features real-windows "$@"
}

# conformance_cases: the names of the conformance suite's cases.
conformance_cases() {
    wine_test --test conformance -- --list 2>/dev/null | tr -d '\r' | sed -n 's/: test$//p'
}

# show_failed LOG_PREFIX CASE...: the end of each case's log
# (LOG_PREFIX$CASE.log), without the backtrace's indented lines.
show_failed() {
    local prefix=$1 case
    shift
    for case in "$@"; do
        echo "---- $case ($prefix$case.log)"
        grep -v '^  ' "$prefix$case.log" | tail -n 20
    done
}

windows_tools() {
    local t=$SECONDS pair missing=()
    step "tools: Rust target $TARGET, mingw-w64, wine64 $*"
    if ! rustup target list --installed | grep -qx "$TARGET"; then
        [ "${BITSIM_NO_INSTALL:-0}" = 1 ] && die "rustup target $TARGET missing"
        rustup target add "$TARGET"
    fi
    command -v "$MINGW_GCC" >/dev/null || missing+=(gcc-mingw-w64-x86-64)
    [ -x "$WINE" ] || missing+=(wine64)
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        [ "${BITSIM_NO_INSTALL:-0}" = 1 ] && die "missing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    "$WINE" --version
    elapsed $t

    TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
    WORK="$TARGET_DIR/$TARGET/wine"
    export WINEDEBUG="${WINEDEBUG:--all}"
    # No Mono/Gecko installers (they would ask, and nothing here needs them).
    export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER="$MINGW_GCC"
    mkdir -p "$WORK"
}
