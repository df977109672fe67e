//! Fuzzes the wire parsers both ends of bitsim run (crate `bitsim-wire`):
//! a raw request head, the header values on their own, the values a client
//! reads from an Ack or a `206`, URL resolution, and the server's request
//! path decoding. The same functions are covered by proptest in
//! `crates/bitsim-wire`.
#![no_main]

use bitsim_wire::{self as wire, RangeOutcome, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wire::parse_raw_head(data);
    let _ = wire::negotiate_protocol(data);
    let _ = wire::PacketType::parse(data);
    if let Ok(r) = wire::parse_content_range(data) {
        assert!(r.start <= r.end && r.end < r.total);
        // Formatting gives back what parses to the same range.
        assert_eq!(wire::parse_content_range(r.to_string().as_bytes()), Ok(r));
    }
    let _ = header::parse_received_content_range(data);
    for len in [0u64, 1, 100, u64::MAX] {
        match wire::resolve_range(Some(data), len) {
            RangeOutcome::Partial(a, b) => assert!(a <= b && b < len),
            RangeOutcome::Multi(parts) => {
                assert!(parts.len() >= 2 && parts.len() <= wire::MAX_RANGES);
                assert!(parts.iter().all(|&(a, b)| a <= b && b < len));
            }
            RangeOutcome::Full | RangeOutcome::Unsatisfiable => {}
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = bitsim_server::paths::decode_request_path(s);
        let _ = header::parse_error_code(s);
        let _ = header::parse_error_context(Some(s));
        if let Ok(u) = wire::resolve::resolve("http://h/up/a.bin", s) {
            // A resolved reference is absolute and carries no fragment.
            assert!(!u.contains('#'));
        }
    }
    // The conditional-request headers, each given the input as its value.
    for name in [
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
    ] {
        let _ = wire::preconditions(|n| (n == name).then_some(data), "\"a-1\"", 1_700_000_000);
    }
});
