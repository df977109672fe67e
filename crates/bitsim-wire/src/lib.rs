//! The BITS Upload Protocol (\[MC-BUP\]) and the HTTP range and conditional
//! headers as they appear on the wire: packet types, header names, the
//! protocol GUID, `Content-Range`/`Range` parsing and formatting, the
//! HRESULTs and error contexts an Ack carries, and URL resolution. No I/O,
//! no async, no allocation beyond the values returned; nothing here panics
//! on any input.
//!
//! Both ends of bitsim speak through this crate: `bitsim-server` parses
//! requests and formats Acks with it, the real-time client in `bitsim`
//! formats requests and parses Acks and `206` answers with it, and the
//! cargo-fuzz target in `fuzz/` throws bytes at its parsers. A rule of the
//! wire is written once, next to the \[MC-BUP\] or RFC 9110 section it
//! comes from.
//!
//! # Overview
//!
//! * [`packet`]: [`PacketType`], the `BITS_POST` method, the protocol GUID
//!   ([`BITS_1_5_PROTOCOL`]) and protocol negotiation.
//! * [`header`]: every header name (lower case), and the values an Ack
//!   carries: `BITS-Received-Content-Range`, `BITS-Error-Code`,
//!   `BITS-Error-Context`.
//! * [`range`]: a Fragment's `Content-Range` ([`ContentRange`]), the
//!   `Range` request header ([`ByteRange`], [`resolve_range`]).
//! * [`conditional`]: `If-Match`, `If-None-Match`, `If-Modified-Since`,
//!   `If-Unmodified-Since`, `If-Range` ([`preconditions`]).
//! * [`request`]: the header facts of one upload request, validated
//!   ([`parse_bits_request`], and [`parse_raw_head`] for raw bytes via
//!   `httparse`).
//! * [`hresult`]: the HRESULTs of the \[MC-BUP\] 2.2.1.2 error table, taken
//!   from `bitsim_model::Hresult`.
//! * [`resolve`]: relative URL resolution (RFC 3986 5.2, with the `url`
//!   crate) for reply URLs, redirects and notification URLs.
//!
//! Every parse error is an [`Error`]: a server answers it with HTTP 400 and
//! `BITS-Error-Code` [`hresult::E_INVALIDARG`] (\[MC-BUP\] 2.2.1.2).
//!
//! # Example
//!
//! A server reading a Fragment's head, and a client reading the Ack:
//!
//! ```
//! use bitsim_wire::{header, parse_raw_head, ContentRange, PacketType};
//!
//! let head = b"BITS_POST /up/a.bin HTTP/1.1\r\n\
//!     Host: h\r\n\
//!     BITS-Packet-Type: Fragment\r\n\
//!     BITS-Session-Id: {5c3a0c6e-0d55-4e2c-9d0e-2f8b7c1a9e01}\r\n\
//!     Content-Range: bytes 0-4/10\r\n\
//!     Content-Length: 5\r\n\r\n";
//! let req = parse_raw_head(head)?;
//! assert_eq!(req.packet, PacketType::Fragment);
//! let range = req.range.expect("a Fragment has a range");
//! assert_eq!(range, ContentRange { start: 0, end: 4, total: 10 });
//! assert_eq!(range.to_string(), "bytes 0-4/10");
//!
//! // The Ack names the next byte the server expects.
//! assert_eq!(header::parse_received_content_range(b"5"), Some(5));
//! // An error Ack's code and context.
//! let code = header::parse_error_code("0x8020001F").expect("hex HRESULT");
//! assert_eq!(code, bitsim_wire::hresult::BG_E_SESSION_NOT_FOUND);
//! assert_eq!(header::format_hresult(code), "0x8020001F");
//! # Ok::<(), bitsim_wire::Error>(())
//! ```

pub mod conditional;
pub mod header;
pub mod hresult;
pub mod packet;
pub mod range;
pub mod request;
pub mod resolve;

pub use conditional::{Precondition, preconditions};
pub use packet::{BITS_1_5_PROTOCOL, PacketType, negotiate_protocol};
pub use range::{
    ByteRange, ContentRange, MAX_RANGES, RangeOutcome, parse_content_range, parse_range,
    parse_ranges, resolve_range,
};
pub use request::{BitsRequest, is_bits_method, parse_bits_request, parse_raw_head};

use std::borrow::Cow;

/// Maximum size of one header value.
// [MC-BUP] 2.2.1 and 6 <2>: header values ≤ 4 KB, bigger → 400 + 0x80070057.
pub const MAX_HEADER_VALUE: usize = 4096;

/// A request the protocol refuses, with the reason in words.
///
/// \[MC-BUP\] 2.2.1.2: a server answers every such refusal with HTTP 400,
/// `BITS-Error-Code` [`hresult::E_INVALIDARG`] and `BITS-Error-Context`
/// [`header::CONTEXT_SERVER`]; [`Error::status`] and [`Error::hresult`]
/// give those values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
#[non_exhaustive]
pub struct Error {
    /// What was wrong, e.g. `"invalid Content-Range"`.
    pub reason: Cow<'static, str>,
}

impl Error {
    /// An error with this reason.
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        Error {
            reason: reason.into(),
        }
    }

    /// The HTTP status a server answers: 400 (\[MC-BUP\] 2.2.1.2).
    pub fn status(&self) -> u16 {
        400
    }

    /// The `BITS-Error-Code`: `E_INVALIDARG` (\[MC-BUP\] 2.2.1.2).
    pub fn hresult(&self) -> bitsim_model::Hresult {
        hresult::E_INVALIDARG
    }
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A decimal `u64` with digits only: no sign, no whitespace, no `0x`, at
/// most 20 digits. RFC 9110 14.1.1 and 14.4: `1*DIGIT`.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
