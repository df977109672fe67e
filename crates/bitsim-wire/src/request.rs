//! The header facts of one upload request, validated.

use crate::header;
use crate::packet::{BITS_POST, PacketType, negotiate_protocol};
use crate::range::{ContentRange, parse_content_range};
use crate::{Error, MAX_HEADER_VALUE, Result, parse_u64};

/// The header facts of one BITS request, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitsRequest {
    /// The packet type.
    pub packet: PacketType,
    /// `BITS-Session-Id`, if sent.
    pub session_id: Option<String>,
    /// `Content-Length` (required on every packet).
    pub content_length: u64,
    /// `Content-Range` (Fragment only).
    pub range: Option<ContentRange>,
    /// Negotiated protocol (Create-Session only).
    pub protocol: Option<&'static str>,
}

/// Is this request a BITS upload packet? `BITS_POST`, or `POST` with
/// `X-Http-Method-Override: BITS_POST`.
// [MC-BUP] 2.2.1: method BITS_POST; the OneDrive BITS upload API tunnels
// it as POST + X-Http-Method-Override.
pub fn is_bits_method<'a>(method: &[u8], mut header: impl FnMut(&str) -> Option<&'a [u8]>) -> bool {
    if method.eq_ignore_ascii_case(BITS_POST.as_bytes()) {
        return true;
    }
    method == b"POST"
        && header(header::METHOD_OVERRIDE)
            .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(BITS_POST.as_bytes()))
}

/// Validates the headers of a BITS request (method already checked).
///
/// `headers` is every header as (name, raw value); names match
/// case-insensitively (RFC 9110 5.1). Checks, in
/// order: every value ≤ 4 KB, `Content-Length` present and numeric,
/// `BITS-Packet-Type` known, and per packet the required headers. This
/// is the function fuzzed by `fuzz/fuzz_targets/parse_request.rs`.
pub fn parse_bits_request(headers: &[(&str, &[u8])]) -> Result<BitsRequest> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    // [MC-BUP] 2.2.1 and 6 <2>: header value > 4 KB → 400 + 0x80070057.
    if headers.iter().any(|(_, v)| v.len() > MAX_HEADER_VALUE) {
        return Err(Error::new("header value larger than 4 KB"));
    }
    // [MC-BUP] 3.2.5.2.3 and 6 <23>: Content-Length required on every packet;
    // IIS answers 400 + 0x80070057 when it is missing.
    let cl = get("content-length").ok_or_else(|| Error::new("missing Content-Length"))?;
    let content_length = std::str::from_utf8(cl)
        .ok()
        .and_then(|s| parse_u64(s.trim()))
        .ok_or_else(|| Error::new("invalid Content-Length"))?;
    let packet = PacketType::parse(
        get(header::PACKET_TYPE).ok_or_else(|| Error::new("missing BITS-Packet-Type"))?,
    )?;
    let session_id = match get(header::SESSION_ID) {
        Some(v) => Some(
            std::str::from_utf8(v)
                .map_err(|_| Error::new("BITS-Session-Id is not UTF-8"))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let mut req = BitsRequest {
        packet,
        session_id,
        content_length,
        range: None,
        protocol: None,
    };
    match packet {
        PacketType::Ping => {}
        PacketType::CreateSession => {
            // [MC-BUP] 2.2.2.2: BITS-Supported-Protocols required.
            let v = get(header::SUPPORTED_PROTOCOLS)
                .ok_or_else(|| Error::new("missing BITS-Supported-Protocols"))?;
            req.protocol = Some(negotiate_protocol(v)?);
        }
        PacketType::Fragment => {
            if req.session_id.is_none() {
                return Err(Error::new("missing BITS-Session-Id"));
            }
            let v = get("content-range").ok_or_else(|| Error::new("missing Content-Range"))?;
            let r = parse_content_range(v)?;
            // [MC-BUP] 2.2.6.2, [W32-FRAG]: Content-Length must equal E-S+1.
            if r.len() != content_length {
                return Err(Error::new("Content-Length does not match Content-Range"));
            }
            // [W32-FRAG]: identity encoding only.
            if let Some(enc) = get("content-encoding")
                && !enc.trim_ascii().eq_ignore_ascii_case(b"identity")
            {
                return Err(Error::new("Content-Encoding other than identity"));
            }
            req.range = Some(r);
        }
        PacketType::CloseSession | PacketType::CancelSession => {
            if req.session_id.is_none() {
                return Err(Error::new("missing BITS-Session-Id"));
            }
        }
    }
    Ok(req)
}

/// Most header lines [`parse_raw_head`] reads.
pub const MAX_RAW_HEADERS: usize = 64;

/// Parses a raw request head (`METHOD target HTTP/1.1\r\nName: value…`
/// up to the empty line) with `httparse` (RFC 9112 2-5 syntax), then
/// calls [`is_bits_method`] and [`parse_bits_request`]. For fuzzing,
/// tests and raw-socket tools; never panics.
pub fn parse_raw_head(raw: &[u8]) -> Result<BitsRequest> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RAW_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(Error::new("incomplete request head")),
        Err(e) => return Err(Error::new(format!("malformed request head: {e}"))),
    }
    let method = req.method.unwrap_or_default().as_bytes();
    let refs: Vec<(&str, &[u8])> = req.headers.iter().map(|h| (h.name, h.value)).collect();
    let get = |name: &str| {
        refs.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    if !is_bits_method(method, get) {
        return Err(Error::new("not a BITS_POST request"));
    }
    parse_bits_request(&refs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BITS_1_5_PROTOCOL;

    use proptest::prelude::*;

    #[test]
    fn raw_head() {
        let raw = b"BITS_POST /x HTTP/1.1\r\nBITS-Packet-Type: Fragment\r\nBITS-Session-Id: {a}\r\nContent-Range: bytes 0-1/5\r\nContent-Length: 2\r\n\r\n";
        let r = parse_raw_head(raw).expect("valid");
        assert_eq!(
            r.range,
            Some(ContentRange {
                start: 0,
                end: 1,
                total: 5
            })
        );
        let raw = b"BITS_POST /x HTTP/1.1\r\nBITS-Packet-Type: Fragment\r\nBITS-Session-Id: {a}\r\nContent-Range: bytes 0-1/5\r\nContent-Length: 3\r\n\r\n";
        assert!(parse_raw_head(raw).is_err());
        // The override tunnel, any header case.
        let raw = b"POST /x HTTP/1.1\r\nx-HTTP-method-override: bits_post\r\nbits-packet-type: ping\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(parse_raw_head(raw).map(|r| r.packet), Ok(PacketType::Ping));
        let raw = b"POST /x HTTP/1.1\r\nBITS-Packet-Type: Ping\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            parse_raw_head(raw).map_err(|e| e.reason),
            Err("not a BITS_POST request".into())
        );
        // No blank line yet; a header line without a colon.
        assert!(parse_raw_head(b"BITS_POST /x HTTP/1.1\r\nContent-Length: 0\r\n").is_err());
        assert!(parse_raw_head(b"BITS_POST /x HTTP/1.1\r\nbroken\r\n\r\n").is_err());
        // Every refusal is 400 + E_INVALIDARG.
        let e = parse_raw_head(
            b"BITS_POST /x HTTP/1.1\r\nBITS-Packet-Type: Ack\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap_err();
        assert_eq!(
            (e.status(), e.hresult()),
            (400, crate::hresult::E_INVALIDARG)
        );
    }

    proptest! {
        #[test]
        fn raw_head_never_panics(v in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_raw_head(&v);
        }

        #[test]
        fn raw_head_structured(
            pt in "(?i)(ping|create-session|fragment|close-session|cancel-session|ack)",
            cl in "[0-9]{0,3}",
            cr in "bytes [0-9]{1,3}-[0-9]{1,3}/[0-9]{1,3}",
        ) {
            let raw = format!("BITS_POST / HTTP/1.1\r\nBITS-Packet-Type: {pt}\r\nBITS-Session-Id: {{x}}\r\nBITS-Supported-Protocols: {BITS_1_5_PROTOCOL}\r\nContent-Range: {cr}\r\nContent-Length: {cl}\r\n\r\n");
            if let Ok(r) = parse_raw_head(raw.as_bytes())
                && let Some(range) = r.range {
                    prop_assert_eq!(range.len(), r.content_length);
                }
        }
    }
}
