#!/usr/bin/env bash
# Builds the fuzz target `parse_request` with libFuzzer's coverage
# instrumentation (the flags `cargo fuzz build` passes, without ASan: the
# parsers are safe Rust) and runs it over the seeds in seeds/parse_request:
#
#   fuzz/run.sh                          # 2,000,000 runs, seed 1 (what CI does)
#   fuzz/run.sh -max_total_time=3600     # an hour, by hand
#
# Arguments go to libFuzzer. New inputs go to a temporary corpus, crashes to
# fuzz/artifacts/. Needs a nightly toolchain (`rustup toolchain install
# nightly`) and a C++ compiler, not cargo-fuzz. Without nightly it builds the
# target uninstrumented on stable and runs it once over the seeds, so CI
# still proves the target builds, links and accepts its inputs
# (FUZZ_STABLE=1 takes that path even where nightly is installed).
set -euo pipefail
cd "$(dirname "$0")"
host=$(rustc -vV | sed -n 's/^host: //p')
target_dir=${CARGO_TARGET_DIR:-target}
mkdir -p artifacts
if [ "$#" -eq 0 ]; then set -- -runs=2000000 -seed=1; fi
if [ -z "${FUZZ_STABLE:-}" ] && rustup run nightly rustc --version >/dev/null 2>&1; then
    RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks" \
        cargo +nightly build --quiet --release --target "$host" --bin parse_request
    bin="$target_dir/$host/release/parse_request"
    corpus=$(mktemp -d)
    trap 'rm -rf "$corpus"' EXIT
    "$bin" -artifact_prefix=artifacts/ "$@" "$corpus" seeds/parse_request
else
    echo "fuzz/run.sh: no nightly toolchain; building uninstrumented on stable" >&2
    RUSTFLAGS="--cfg fuzzing" cargo build --quiet --target "$host" --bin parse_request
    "$target_dir/$host/debug/parse_request" seeds/parse_request/*
fi
