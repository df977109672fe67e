#!/usr/bin/env bash
# Build the Windows COM adapter (crates/bitsim-windows, feature
# `real-windows`) on Linux and run its tests under Wine, in one command:
#
#   scripts/windows-on-linux.sh
#
# 1. Installs what is missing (quick when everything is there): the Rust
#    target x86_64-pc-windows-gnu, and Debian's gcc-mingw-w64-x86-64 (the
#    linker) and wine64 (apt-get; root, or sudo).
# 2. Builds crates/bitsim-cli/wine/processprng-shim.c into bcryptprimitives.dll:
#    Rust's std imports ProcessPrng from it, which Wine has only since 8.13
#    (Debian 12 has 8.0, where every Rust .exe exits with status 53).
# 3. Creates a fresh WINEPREFIX and puts the shim into its system32.
# 4. Runs clippy (-D warnings) on the adapter for x86_64-pc-windows-gnu,
#    builds its tests and runs them under Wine: the conformance suite then
#    runs against Wine's own BITS (qmgr), each case in a fresh Wine session,
#    and is checked against crates/bitsim-windows/expected/wine.toml (see
#    its header).
#
# Environment:
#   CARGO_TARGET_DIR  default: cargo's (target/). The Windows artifacts go
#                     to target/x86_64-pc-windows-gnu/, apart from the host
#                     build's, while build scripts and proc macros built for
#                     the host are shared with it (a cold run is shorter).
#   BITSIM_WINEPREFIX the Wine prefix, deleted and recreated on every run;
#                     default target/x86_64-pc-windows-gnu/wine/prefix (an
#                     inherited WINEPREFIX, e.g. ~/.wine, is never touched).
#   BITSIM_NO_INSTALL=1  only check that the tools are there.
# Extra arguments go to the test binaries instead (e.g. a test name filter),
# all in one Wine session.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/wine/tools.sh

# ---- 1. tools ----
windows_tools
export WINEPREFIX="${BITSIM_WINEPREFIX:-$WORK/prefix}"

# ---- 2. the ProcessPrng shim ----
t=$SECONDS
step "shim: bcryptprimitives.dll (ProcessPrng -> RtlGenRandom)"
SHIM="$WORK/bcryptprimitives.dll"
"$MINGW_GCC" -shared -O2 -Wall -Wextra -Werror -s \
    -o "$SHIM" crates/bitsim-cli/wine/processprng-shim.c -ladvapi32
elapsed $t

# ---- 3. a fresh Wine prefix ----
t=$SECONDS
step "Wine prefix: $WINEPREFIX"
"$WINESERVER" -k 2>/dev/null || true
rm -rf "$WINEPREFIX"
# wineboot's output goes into a pipe: sent straight to /dev/null, the
# prefix's services were left unstarted on Debian 12's Wine 8.0.
"$WINE" wineboot -i 2>&1 | cat >"$WORK/wineboot.log"
"$WINESERVER" -w
cp "$SHIM" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
elapsed $t

cleanup() { "$WINESERVER" -k 2>/dev/null || true; }
trap cleanup EXIT

# ---- 4. clippy, build, tests under Wine ----
t=$SECONDS
step "cargo clippy --target $TARGET -p bitsim-windows --features real-windows --all-targets"
cargo clippy --target "$TARGET" -p bitsim-windows --features real-windows --all-targets \
    -- -D warnings
elapsed $t

t=$SECONDS
step "cargo build --target $TARGET -p bitsim-windows --features real-windows --tests"
cargo build --target "$TARGET" -p bitsim-windows --features real-windows --tests
elapsed $t

t=$SECONDS
step "cargo test under Wine: the adapter's unit tests, the mutants, the MTA lifetime"
if [ $# -gt 0 ]; then
    wine_test -- --test-threads=1 "$@"
    exit
fi
wine_test --lib --test mutants --test mta_lifetime -- --test-threads=1
elapsed $t

t=$SECONDS
step "the conformance suite against Wine's BITS, one case per Wine session"
# Wine's BITS runs every job, transfer and callback on one thread, and what
# a case leaves behind there (a callback still holding, a cancelled
# transfer) stalled later cases: each case gets a fresh Wine session.
cases=$(conformance_cases)
failed=()
for case in $cases; do
    wine_restart
    s=$SECONDS
    if wine_test --test conformance -- --exact "$case" >"$WORK/$case.log" 2>&1; then
        printf '   %-50s ok (%d s)\n' "$case" "$((SECONDS - s))"
    else
        printf '   %-50s FAILED (%d s)\n' "$case" "$((SECONDS - s))"
        failed+=("$case")
    fi
done
elapsed $t
show_failed "$WORK/" "${failed[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "error: ${#failed[@]} conformance case(s) did not do what expected/wine.toml says: ${failed[*]}" >&2
    exit 1
fi
