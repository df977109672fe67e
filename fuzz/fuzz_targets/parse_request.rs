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
        if let parse::RangeOutcome::Partial(a, b) = parse::resolve_range(Some(data), len) {
            assert!(a <= b && b < len);
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = bitsim_server::paths::decode_request_path(s);
    }
});
