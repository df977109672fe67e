//! The request parsers the server runs, from `bitsim-wire` (the one home
//! of the \[MC-BUP\] and HTTP range/conditional header rules, shared with
//! the client and the fuzz target). Re-exported here so the server's
//! modules and users keep one path; [`parse_bits_request`] answers with
//! the server's [`Error`] (400 + `E_INVALIDARG`, \[MC-BUP\] 2.2.1.2).

pub use bitsim_wire::packet::MAX_PROTOCOLS;
pub use bitsim_wire::{
    BITS_1_5_PROTOCOL, BitsRequest, ByteRange, ContentRange, MAX_HEADER_VALUE, MAX_RANGES,
    PacketType, Precondition, RangeOutcome, is_bits_method, negotiate_protocol,
    parse_content_range, parse_range, parse_ranges, parse_raw_head, preconditions, resolve_range,
};

use crate::error::{Error, Result};

/// Validates the headers of a BITS request (method already checked):
/// [`bitsim_wire::parse_bits_request`] with the server's error type.
pub fn parse_bits_request(headers: &[(&str, &[u8])]) -> Result<BitsRequest> {
    bitsim_wire::parse_bits_request(headers).map_err(Error::from)
}
