//! Fuzzes the BITS request parsers: a raw request head, and the header
//! values on their own. The same functions are covered by proptest in
//! `crates/bitsim-server/src/parse.rs`.
#![no_main]

use bitsim_server::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse::parse_raw_head(data);
    let _ = parse::parse_content_range(data);
    let _ = parse::negotiate_protocol(data);
    let _ = parse::PacketType::parse(data);
    if let Ok(r) = parse::parse_content_range(data) {
        assert!(r.start <= r.end && r.end < r.total);
    }
    for len in [0u64, 1, 100, u64::MAX] {
        match parse::resolve_range(Some(data), len) {
            parse::RangeOutcome::Partial(a, b) => assert!(a <= b && b < len),
            parse::RangeOutcome::Multi(parts) => {
                assert!(parts.len() >= 2 && parts.len() <= parse::MAX_RANGES);
                assert!(parts.iter().all(|&(a, b)| a <= b && b < len));
            }
            parse::RangeOutcome::Full | parse::RangeOutcome::Unsatisfiable => {}
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = bitsim_server::paths::decode_request_path(s);
    }
    // The conditional-request headers, each given the input as its value.
    for name in [
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
    ] {
        let _ = parse::preconditions(|n| (n == name).then_some(data), "\"a-1\"", 1_700_000_000);
    }
});
