#!/usr/bin/env bash
# Type-checks (and clippies) bitsim-windows' cfg(windows) modules -- the COM
# adapter (src/com.rs) and the real harness (src/real.rs) -- on Linux,
# against the real `windows` 0.62.2 BITS bindings.
#
# The `windows` crate is `#![cfg(windows)]` and `windows-core`/
# `windows-strings` hide most of their API behind cfg(windows), so they
# cannot be used on Linux as they are. This script builds, in a temporary
# directory:
#   * copies of windows-core, windows-strings and windows-result with
#     cfg(windows) lifted (and two OsStr conversions replaced);
#   * a stand-in `windows` crate that `include!`s the unmodified
#     Win32/Networking/BackgroundIntelligentTransferService/mod.rs of 0.62.2
#     plus the five COM items the adapter uses, copied from Win32/System/Com;
#   * a check crate whose modules are this crate's source files (#[path]),
#     with the workspace's lints;
# then runs `cargo clippy -D warnings` on it. Nothing is linked or run: it
# proves the code compiles against the exact bindings, not that it works.
# The windows-latest CI job does the real build and run.
#
# Needs the crates in the local cargo registry: run `cargo fetch` first.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$here/../.." && pwd)"
reg="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ | head -n1)"
for c in windows-0.62.2 windows-core-0.62.2 windows-strings-0.5.1 windows-result-0.4.1; do
    [[ -d "$reg/$c" ]] || { echo "missing $reg$c: run cargo fetch" >&2; exit 2; }
done
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
echo "== stand-in crates in $work"

for c in windows-core-0.62.2 windows-strings-0.5.1 windows-result-0.4.1; do
    rm -rf "${work:?}/$c"
    cp -r "$reg/$c" "$work/$c"
    chmod -R u+w "$work/$c"
    find "$work/$c" -name '*.rs' -print0 | xargs -0 sed -i -E \
        '/cfg/ { s/\(windows\)/(all())/g; s/\(windows,/(all(),/g; s/ windows\)/ all())/g; s/ windows,/ all(),/g }'
done
python3 - "$work/windows-strings-0.5.1/src/hstring.rs" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
enc = ".to_string_lossy().encode_utf16().collect::<std::vec::Vec<u16>>().into_iter()"
s = s.replace("std::os::windows::ffi::OsStringExt::from_wide(self)",
              "std::ffi::OsString::from(String::from_utf16_lossy(self))")
s = s.replace("std::os::windows::ffi::OsStrExt::encode_wide(value)", "value" + enc)
s = s.replace("std::os::windows::ffi::OsStrExt::encode_wide(other)", "other" + enc)
open(p, "w").write(s)
PY

mkdir -p "$work/windows/src"
python3 - "$reg/windows-0.62.2/src/Windows/Win32/System/Com/mod.rs" "$work/windows/src/com_items.rs" <<'PY'
import re, sys
src = open(sys.argv[1]).read().split("\n")
out = []
def item(start):
    for i, l in enumerate(src):
        if l.startswith(start):
            j = i
            # take attributes just above
            while src[j - 1].startswith("#["):
                j -= 1
            k = i
            if l.rstrip().endswith(";"):
                out.extend(src[j:i + 1]); return
            while src[k] != "}":
                k += 1
            out.extend(src[j:k + 1]); return
    sys.exit("not found: " + start)
for s in ["pub unsafe fn CoCreateInstance<", "pub unsafe fn CoInitializeEx(",
          "pub unsafe fn CoTaskMemFree(", "pub const CLSCTX_LOCAL_SERVER:",
          "pub const COINIT_MULTITHREADED:", "pub struct CLSCTX(", "pub struct COINIT("]:
    item(s)
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
cat > "$work/windows/Cargo.toml" <<TOML
[package]
name = "windows"
version = "0.62.2"
edition = "2021"
[features]
Win32_System_Com = []
Win32_System_Ole = []
Win32_System_Variant = []
[dependencies]
windows-core = "0.62.2"
TOML
cat > "$work/windows/src/lib.rs" <<RS
#![allow(non_snake_case, clashing_extern_declarations, non_upper_case_globals, non_camel_case_types, missing_docs, dead_code, clippy::all)]
extern crate self as windows;
pub use windows_core as core;
pub mod Win32 {
    pub mod Foundation {
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq)]
        pub struct FILETIME { pub dwLowDateTime: u32, pub dwHighDateTime: u32 }
    }
    pub mod Networking {
        pub mod BackgroundIntelligentTransferService {
            include!("$reg/windows-0.62.2/src/Windows/Win32/Networking/BackgroundIntelligentTransferService/mod.rs");
        }
    }
    pub mod System {
        pub mod Com {
            include!("$work/windows/src/com_items.rs");
        }
    }
}
RS

mkdir -p "$work/check/src"
cat > "$work/check/Cargo.toml" <<TOML
[package]
name = "bitsim-windows-typecheck"
version = "0.1.0"
edition = "2024"
[dependencies]
bitsim = { path = "$repo/crates/bitsim" }
bitsim-model = { path = "$repo/crates/bitsim-model" }
bitsim-server = { path = "$repo/crates/bitsim-server" }
tracing = "0.1"
uuid = "1"
tokio = { version = "1", features = ["full"] }
tempfile = "3"
# Without Win32_System_Com: its IDispatch-based BITS items are not used.
windows = { path = "../windows" }
windows-core = "0.62.2"
[patch.crates-io]
windows-core = { path = "../windows-core-0.62.2" }
windows-strings = { path = "../windows-strings-0.5.1" }
windows-result = { path = "../windows-result-0.4.1" }
[lints.rust]
unsafe_code = "deny"
missing_docs = "warn"
rust_2018_idioms = { level = "warn", priority = -1 }
[lints.clippy]
dbg_macro = "warn"
print_stdout = "warn"
todo = "warn"
TOML
cat > "$work/check/src/lib.rs" <<RS
//! bitsim-windows' modules, including the cfg(windows) ones.
#[path = "$here/src/bridge.rs"]
pub mod bridge;
#[path = "$here/src/convert.rs"]
pub mod convert;
#[path = "$here/src/conformance.rs"]
pub mod conformance;
#[path = "$here/src/com.rs"]
pub mod com;
#[path = "$here/src/real.rs"]
pub mod real;
RS
cp "$repo/Cargo.lock" "$work/check/Cargo.lock"
echo "== cargo clippy (com.rs, real.rs against windows 0.62.2)"
cd "$work/check"
CARGO_TARGET_DIR="$work/target" cargo clippy --offline --all-targets -- -D warnings
echo "== ok: the COM adapter type-checks against windows 0.62.2"
