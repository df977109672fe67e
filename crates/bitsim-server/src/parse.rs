//! Strict, panic-free parsers for the BITS request headers and the HTTP
//! `Range` header. All are plain functions over bytes so that proptest and
//! the cargo-fuzz target in `fuzz/` exercise exactly what the server runs.

use crate::error::{Error, Result};

/// The only protocol GUID ever defined: "BITS 1.5 Upload Protocol".
// [MC-BUP] 1.7.1; [W32-CS].
pub const BITS_1_5_PROTOCOL: &str = "{7df0354d-249b-430f-820d-3d2a9bef4931}";

/// Maximum size of one header value.
// [MC-BUP] 2.2.1 and 6 <2>: header values ≤ 4 KB, bigger → 400 + 0x80070057.
pub const MAX_HEADER_VALUE: usize = 4096;

/// Most GUIDs accepted in `BITS-Supported-Protocols`.
// [MC-BUP] 6 <6>: the Windows server accepts up to 100 GUIDs.
pub const MAX_PROTOCOLS: usize = 100;

/// A BITS request packet type (`BITS-Packet-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `Ping`.
    Ping,
    /// `Create-Session`.
    CreateSession,
    /// `Fragment`.
    Fragment,
    /// `Close-Session`.
    CloseSession,
    /// `Cancel-Session`.
    CancelSession,
}

impl PacketType {
    /// Every packet type, in protocol order.
    pub const ALL: [PacketType; 5] = [
        PacketType::Ping,
        PacketType::CreateSession,
        PacketType::Fragment,
        PacketType::CloseSession,
        PacketType::CancelSession,
    ];

    /// Parses a packet type, case-insensitively.
    // [MC-BUP] 4.1 vs 2.2.1.2: the spec spells them upper-case, Windows
    // sends mixed case; every peer compares case-insensitively.
    pub fn parse(value: &[u8]) -> Result<Self> {
        let v = std::str::from_utf8(value)
            .map_err(|_| Error::invalid_arg("BITS-Packet-Type is not UTF-8"))?
            .trim();
        let t = if v.eq_ignore_ascii_case("Ping") {
            PacketType::Ping
        } else if v.eq_ignore_ascii_case("Create-Session") {
            PacketType::CreateSession
        } else if v.eq_ignore_ascii_case("Fragment") {
            PacketType::Fragment
        } else if v.eq_ignore_ascii_case("Close-Session") {
            PacketType::CloseSession
        } else if v.eq_ignore_ascii_case("Cancel-Session") {
            PacketType::CancelSession
        } else {
            // [W32-UP]; [MC-BUP] 2.2.1.2: unknown packet → 400 + 0x80070057.
            return Err(Error::invalid_arg(format!(
                "unknown BITS-Packet-Type {v:?}"
            )));
        };
        Ok(t)
    }

    /// The canonical (Windows) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PacketType::Ping => "Ping",
            PacketType::CreateSession => "Create-Session",
            PacketType::Fragment => "Fragment",
            PacketType::CloseSession => "Close-Session",
            PacketType::CancelSession => "Cancel-Session",
        }
    }
}

/// A parsed `Content-Range: bytes S-E/T` of a Fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte (zero-based).
    pub start: u64,
    /// Last byte, inclusive.
    pub end: u64,
    /// Total size of the whole upload.
    pub total: u64,
}

impl ContentRange {
    /// Number of bytes in the fragment (`E - S + 1`).
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Always false: a valid range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    // Digits only: no sign, no whitespace, no "0x"; bounded length.
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a Fragment's `Content-Range` value `bytes S-E/T`.
///
/// Requires `S ≤ E < T`. Errors are 400 + `E_INVALIDARG`.
// [W32-FRAG]; [MC-BUP] 2.2.1.2 and 3.2.5.2.6: RFC 2616 14.16 format,
// zero-based, end inclusive, total = whole file size; invalid → 400/0x80070057.
pub fn parse_content_range(value: &[u8]) -> Result<ContentRange> {
    let bad = || Error::invalid_arg("invalid Content-Range");
    if value.len() > MAX_HEADER_VALUE {
        return Err(bad());
    }
    let s = std::str::from_utf8(value).map_err(|_| bad())?.trim();
    let (unit, rest) = s.split_once(' ').ok_or_else(bad)?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return Err(bad());
    }
    let rest = rest.trim_start();
    let (range, total) = rest.split_once('/').ok_or_else(bad)?;
    let (start, end) = range.split_once('-').ok_or_else(bad)?;
    let start = parse_u64(start).ok_or_else(bad)?;
    let end = parse_u64(end).ok_or_else(bad)?;
    let total = parse_u64(total).ok_or_else(bad)?;
    if start > end || end >= total {
        return Err(bad());
    }
    Ok(ContentRange { start, end, total })
}

/// Normalises a GUID for comparison: trims, strips braces, lower-cases.
fn norm_guid(s: &str) -> String {
    s.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_lowercase()
}

/// Picks the protocol from a `BITS-Supported-Protocols` list.
///
/// The list is space- or comma-separated, most preferred first; GUIDs are
/// matched case-insensitively with or without braces. Returns the
/// canonical GUID to echo in `BITS-Protocol`, or 400 + `E_INVALIDARG` if no
/// listed protocol is supported.
// [MC-BUP] 2.2.2.2: space- or comma-delimited, client's preference order;
// 6 <6>: up to 100 GUIDs; 2.2.1.2: no common protocol → 400 + 0x80070057.
pub fn negotiate_protocol(value: &[u8]) -> Result<&'static str> {
    if value.len() > MAX_HEADER_VALUE {
        return Err(Error::invalid_arg("BITS-Supported-Protocols too long"));
    }
    let s = std::str::from_utf8(value)
        .map_err(|_| Error::invalid_arg("BITS-Supported-Protocols is not UTF-8"))?;
    let wanted = norm_guid(BITS_1_5_PROTOCOL);
    for (i, item) in s
        .split([' ', ',', '\t'])
        .filter(|t| !t.is_empty())
        .enumerate()
    {
        if i >= MAX_PROTOCOLS {
            break;
        }
        if norm_guid(item) == wanted {
            return Ok(BITS_1_5_PROTOCOL);
        }
    }
    Err(Error::invalid_arg("no common protocol"))
}

/// One range-spec of an HTTP `Range` request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-b` or `bytes=a-` (`end` = `None`).
    FromTo {
        /// First byte.
        start: u64,
        /// Last byte, inclusive, if given.
        end: Option<u64>,
    },
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The inclusive bounds this range selects in a representation of
    /// `len` bytes, or `None` if it is unsatisfiable there.
    // RFC 9110 14.1.1 / 14.1.2: a last-pos past the end means the end; a
    // first-pos at or past the end, or a zero suffix, is unsatisfiable.
    pub fn resolve(self, len: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::Suffix(0) => None,
            ByteRange::Suffix(n) => (len > 0).then(|| (len.saturating_sub(n), len - 1)),
            // A hand-built end before start selects nothing (the parser
            // rejects such headers outright).
            ByteRange::FromTo { start, end } => (start < len && end.is_none_or(|e| e >= start))
                .then(|| (start, end.map_or(len - 1, |e| e.min(len - 1)))),
        }
    }
}

/// Most range-specs one `Range` header may list before the server ignores
/// it and answers 200 with the whole file.
// RFC 9110 14.2: a server MAY ignore or reject a Range header with many
// small or overlapping ranges (a denial-of-service guard). bitsim's limit.
pub const MAX_RANGES: usize = 64;

/// Result of resolving a `Range` header against a file length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeOutcome {
    /// No usable Range header (absent, malformed, more than
    /// [`MAX_RANGES`] specs, or overlapping specs that add up to more
    /// than the file): 200 with the whole file.
    Full,
    /// Exactly one satisfiable range, inclusive bounds: 206 with
    /// `Content-Range`.
    Partial(u64, u64),
    /// Two or more satisfiable ranges, inclusive bounds, in the order the
    /// request listed them: 206 `multipart/byteranges`.
    Multi(Vec<(u64, u64)>),
    /// Valid syntax but no satisfiable range: 416.
    Unsatisfiable,
}

/// Parses a `Range` header value into its range-specs. `None` if it is
/// malformed (the server then ignores it and answers 200, RFC 9110 14.2).
// RFC 9110 14.1.1: ranges-specifier = "bytes=" 1#range-spec; list syntax
// per 5.6.1 (optional whitespace, empty elements ignored).
pub fn parse_ranges(value: &[u8]) -> Option<Vec<ByteRange>> {
    if value.len() > MAX_HEADER_VALUE {
        return None;
    }
    let s = std::str::from_utf8(value).ok()?.trim();
    let (unit, set) = s.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut out = Vec::new();
    for spec in set.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (a, b) = spec.split_once('-')?;
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() {
            out.push(ByteRange::Suffix(parse_u64(b)?));
            continue;
        }
        let start = parse_u64(a)?;
        let end = if b.is_empty() {
            None
        } else {
            Some(parse_u64(b)?)
        };
        if end.is_some_and(|e| e < start) {
            return None;
        }
        out.push(ByteRange::FromTo { start, end });
    }
    (!out.is_empty()).then_some(out)
}

/// Parses a `Range` header value that holds exactly one range-spec.
/// `None` if malformed or if it lists several.
pub fn parse_range(value: &[u8]) -> Option<ByteRange> {
    match parse_ranges(value)?.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// Resolves an optional `Range` header value against a file of `len` bytes.
// [MC-BUP] 1.7.2 / 3.5.5 and [W32-HTTPREQ]: single ranges are mandatory,
// multi-range (multipart/byteranges) optional; BITS uses it when offered.
// RFC 9110 15.3.7: one satisfiable range gets a single-part 206 even when
// several were asked for; none satisfiable gets 416 (15.5.17).
pub fn resolve_range(value: Option<&[u8]>, len: u64) -> RangeOutcome {
    let Some(specs) = value.and_then(parse_ranges) else {
        return RangeOutcome::Full;
    };
    if specs.len() > MAX_RANGES {
        return RangeOutcome::Full;
    }
    let parts: Vec<(u64, u64)> = specs.iter().filter_map(|r| r.resolve(len)).collect();
    match parts.as_slice() {
        [] => RangeOutcome::Unsatisfiable,
        [(a, z)] => RangeOutcome::Partial(*a, *z),
        _ => {
            // Overlaps that would send more than the whole file are ignored
            // (RFC 9110 14.2 allows it): the body stays bounded by the file.
            let sum: u128 = parts.iter().map(|(a, z)| u128::from(z - a) + 1).sum();
            if sum > u128::from(len) {
                RangeOutcome::Full
            } else {
                RangeOutcome::Multi(parts)
            }
        }
    }
}

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
// [MC-BUP] 2.2.1: method BITS_POST; [ONEDRIVE]: POST + override tunnel.
pub fn is_bits_method<'a>(method: &[u8], mut header: impl FnMut(&str) -> Option<&'a [u8]>) -> bool {
    if method.eq_ignore_ascii_case(b"BITS_POST") {
        return true;
    }
    method == b"POST"
        && header("x-http-method-override")
            .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"BITS_POST"))
}

/// Validates the headers of a BITS request (method already checked).
///
/// `headers` is every header as (lower-case name, raw value). Checks, in
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
        return Err(Error::invalid_arg("header value larger than 4 KB"));
    }
    // [MC-BUP] 3.2.5.2.3 and 6 <23>: Content-Length required on every packet;
    // IIS answers 400 + 0x80070057 when it is missing.
    let cl = get("content-length").ok_or_else(|| Error::invalid_arg("missing Content-Length"))?;
    let content_length = std::str::from_utf8(cl)
        .ok()
        .and_then(|s| parse_u64(s.trim()))
        .ok_or_else(|| Error::invalid_arg("invalid Content-Length"))?;
    let packet = PacketType::parse(
        get("bits-packet-type").ok_or_else(|| Error::invalid_arg("missing BITS-Packet-Type"))?,
    )?;
    let session_id = match get("bits-session-id") {
        Some(v) => Some(
            std::str::from_utf8(v)
                .map_err(|_| Error::invalid_arg("BITS-Session-Id is not UTF-8"))?
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
            let v = get("bits-supported-protocols")
                .ok_or_else(|| Error::invalid_arg("missing BITS-Supported-Protocols"))?;
            req.protocol = Some(negotiate_protocol(v)?);
        }
        PacketType::Fragment => {
            if req.session_id.is_none() {
                return Err(Error::invalid_arg("missing BITS-Session-Id"));
            }
            let v =
                get("content-range").ok_or_else(|| Error::invalid_arg("missing Content-Range"))?;
            let r = parse_content_range(v)?;
            // [W32-FRAG]: Content-Length must equal E-S+1.
            if r.len() != content_length {
                return Err(Error::invalid_arg(
                    "Content-Length does not match Content-Range",
                ));
            }
            // [W32-FRAG]: identity encoding only.
            if let Some(enc) = get("content-encoding")
                && !enc.trim_ascii().eq_ignore_ascii_case(b"identity")
            {
                return Err(Error::invalid_arg("Content-Encoding other than identity"));
            }
            req.range = Some(r);
        }
        PacketType::CloseSession | PacketType::CancelSession => {
            if req.session_id.is_none() {
                return Err(Error::invalid_arg("missing BITS-Session-Id"));
            }
        }
    }
    Ok(req)
}

/// Parses a raw request head (`METHOD target HTTP/1.1\r\nName: value…`),
/// as a fuzzing and testing convenience: splits it and calls
/// [`is_bits_method`] and [`parse_bits_request`]. Never panics.
pub fn parse_raw_head(raw: &[u8]) -> Result<BitsRequest> {
    let mut lines = raw
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let method = request_line
        .split(|&b| b == b' ')
        .next()
        .unwrap_or_default();
    let mut headers: Vec<(String, &[u8])> = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(Error::invalid_arg("malformed header line"));
        };
        let name = std::str::from_utf8(&line[..colon])
            .map_err(|_| Error::invalid_arg("header name is not UTF-8"))?
            .trim()
            .to_ascii_lowercase();
        headers.push((name, line[colon + 1..].trim_ascii()));
    }
    let refs: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let get = |name: &str| refs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    if !is_bits_method(method, get) {
        return Err(Error::invalid_arg("not a BITS_POST request"));
    }
    parse_bits_request(&refs)
}

/// What a download's conditional headers decide (RFC 9110 13.2.2, in
/// its order of evaluation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Serve the file; honour `Range` only if `range_ok` (`If-Range`
    /// absent or naming the current version).
    Proceed {
        /// `false`: an `If-Range` names another version, so the whole
        /// file is sent with 200 (RFC 9110 13.1.5).
        range_ok: bool,
    },
    /// 304 Not Modified: the client's copy is current (`If-None-Match`
    /// or `If-Modified-Since`).
    NotModified,
    /// 412 Precondition Failed (`If-Match` or `If-Unmodified-Since`).
    Failed,
}

/// Whether an entity-tag list (`If-Match`, `If-None-Match`) names `etag`.
/// `strong`: weak tags (`W/"…"`) never match (RFC 9110 8.8.3.2).
fn etag_listed(list: &[u8], etag: &str, strong: bool) -> bool {
    let Ok(list) = std::str::from_utf8(list) else {
        return false;
    };
    let list = list.trim();
    if list == "*" {
        return true;
    }
    list.split(',')
        .map(str::trim)
        .any(|tag| match tag.strip_prefix("W/") {
            Some(weak) => !strong && weak == etag,
            None => tag == etag,
        })
}

fn http_date(v: &[u8]) -> Option<u64> {
    let t = httpdate::parse_http_date(std::str::from_utf8(v).ok()?.trim()).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs())
}

/// Evaluates the conditional request headers of a `GET`/`HEAD` against
/// the file's strong `etag` and modification time (whole seconds, as sent
/// in `Last-Modified`). `header` looks a request header up by lower-case
/// name. Malformed dates are ignored, as RFC 9110 13.1.3 asks.
// RFC 9110 13.2.2: If-Match, else If-Unmodified-Since (412); then
// If-None-Match, else If-Modified-Since (304 for GET/HEAD); then If-Range.
pub fn preconditions<'a>(
    header: impl Fn(&str) -> Option<&'a [u8]>,
    etag: &str,
    mtime_secs: u64,
) -> Precondition {
    if let Some(list) = header("if-match") {
        if !etag_listed(list, etag, true) {
            return Precondition::Failed;
        }
    } else if let Some(t) = header("if-unmodified-since").and_then(http_date)
        && mtime_secs > t
    {
        return Precondition::Failed;
    }
    if let Some(list) = header("if-none-match") {
        if etag_listed(list, etag, false) {
            return Precondition::NotModified;
        }
    } else if let Some(t) = header("if-modified-since").and_then(http_date)
        && mtime_secs <= t
    {
        return Precondition::NotModified;
    }
    // RFC 9110 13.1.5: If-Range with a strong tag, or a date equal to
    // Last-Modified; anything else sends the whole file.
    let range_ok = match header("if-range") {
        None => true,
        Some(v) => {
            let v = std::str::from_utf8(v).unwrap_or("").trim();
            if v.starts_with('"') {
                v == etag
            } else if v.starts_with("W/") {
                false
            } else {
                http_date(v.as_bytes()) == Some(mtime_secs)
            }
        }
    };
    Precondition::Proceed { range_ok }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    #[test]
    fn conditional_requests_follow_rfc_9110_order() {
        let etag = "\"a-1\"";
        let mtime = 1_700_000_000; // Tue, 14 Nov 2023 22:13:20 GMT
        let at = |h: &'static [(&'static str, &'static str)]| {
            preconditions(
                |n| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_bytes()),
                etag,
                mtime,
            )
        };
        let go = Precondition::Proceed { range_ok: true };
        assert_eq!(at(&[]), go);
        assert_eq!(at(&[("if-match", "\"x\", \"a-1\"")]), go);
        assert_eq!(at(&[("if-match", "*")]), go);
        assert_eq!(at(&[("if-match", "W/\"a-1\"")]), Precondition::Failed);
        assert_eq!(at(&[("if-match", "\"b\"")]), Precondition::Failed);
        const BEFORE: &str = "Tue, 14 Nov 2023 22:13:19 GMT";
        const SAME: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
        assert_eq!(at(&[("if-unmodified-since", BEFORE)]), Precondition::Failed);
        assert_eq!(at(&[("if-unmodified-since", SAME)]), go);
        // If-Match wins over If-Unmodified-Since.
        assert_eq!(
            at(&[("if-match", "*"), ("if-unmodified-since", BEFORE)]),
            go
        );
        assert_eq!(
            at(&[("if-none-match", "W/\"a-1\"")]),
            Precondition::NotModified
        );
        assert_eq!(at(&[("if-none-match", "\"b\"")]), go);
        assert_eq!(
            at(&[("if-modified-since", SAME)]),
            Precondition::NotModified
        );
        assert_eq!(at(&[("if-modified-since", BEFORE)]), go);
        assert_eq!(at(&[("if-modified-since", "garbage")]), go);
        // If-None-Match wins over If-Modified-Since.
        assert_eq!(
            at(&[("if-none-match", "\"b\""), ("if-modified-since", SAME)]),
            go
        );
        let whole = Precondition::Proceed { range_ok: false };
        assert_eq!(at(&[("if-range", "\"a-1\"")]), go);
        assert_eq!(at(&[("if-range", "\"bogus\"")]), whole);
        assert_eq!(at(&[("if-range", "W/\"a-1\"")]), whole);
        assert_eq!(at(&[("if-range", SAME)]), go);
        assert_eq!(at(&[("if-range", BEFORE)]), whole);
    }

    #[test]
    fn content_range_examples() {
        assert_eq!(
            parse_content_range(b"bytes 0-99/100").ok(),
            Some(ContentRange {
                start: 0,
                end: 99,
                total: 100
            })
        );
        assert!(parse_content_range(b"bytes 0-100/100").is_err());
        assert!(parse_content_range(b"bytes 5-4/100").is_err());
        assert!(parse_content_range(b"bytes -1-4/100").is_err());
        assert!(parse_content_range(b"bytes 0-4/*").is_err());
        assert!(parse_content_range(b"items 0-4/10").is_err());
        assert!(parse_content_range(b"bytes 0-99999999999999999999999/1").is_err());
    }

    #[test]
    fn protocols() {
        let g = BITS_1_5_PROTOCOL;
        assert!(negotiate_protocol(g.as_bytes()).is_ok());
        assert!(negotiate_protocol(b"{AAAA} , {7DF0354D-249B-430F-820D-3D2A9BEF4931}").is_ok());
        assert!(negotiate_protocol(b"7df0354d-249b-430f-820d-3d2a9bef4931").is_ok());
        assert!(negotiate_protocol(b"{00000000-0000-0000-0000-000000000000}").is_err());
        assert!(negotiate_protocol(b"").is_err());
    }

    #[test]
    fn packet_types_case_insensitive() {
        assert_eq!(
            PacketType::parse(b"CREATE-SESSION").ok(),
            Some(PacketType::CreateSession)
        );
        assert_eq!(
            PacketType::parse(b"fragment").ok(),
            Some(PacketType::Fragment)
        );
        assert!(PacketType::parse(b"Ack").is_err());
    }

    #[test]
    fn ranges() {
        assert_eq!(
            resolve_range(Some(b"bytes=0-9"), 100),
            RangeOutcome::Partial(0, 9)
        );
        assert_eq!(
            resolve_range(Some(b"bytes=90-"), 100),
            RangeOutcome::Partial(90, 99)
        );
        assert_eq!(
            resolve_range(Some(b"bytes=-10"), 100),
            RangeOutcome::Partial(90, 99)
        );
        assert_eq!(
            resolve_range(Some(b"bytes=-1000"), 100),
            RangeOutcome::Partial(0, 99)
        );
        assert_eq!(
            resolve_range(Some(b"bytes=50-1000"), 100),
            RangeOutcome::Partial(50, 99)
        );
        assert_eq!(
            resolve_range(Some(b"bytes=100-"), 100),
            RangeOutcome::Unsatisfiable
        );
        assert_eq!(
            resolve_range(Some(b"bytes=0-1,3-4"), 100),
            RangeOutcome::Multi(vec![(0, 1), (3, 4)])
        );
        // Request order is kept; unsatisfiable specs drop out; one left is
        // a single part; empty list elements and spaces are allowed.
        assert_eq!(
            resolve_range(Some(b"bytes= 90-, ,-5 , 0-0"), 100),
            RangeOutcome::Multi(vec![(90, 99), (95, 99), (0, 0)])
        );
        assert_eq!(
            resolve_range(Some(b"bytes=200-300,5-9"), 100),
            RangeOutcome::Partial(5, 9)
        );
        assert_eq!(
            resolve_range(Some(b"bytes=200-300,-0"), 100),
            RangeOutcome::Unsatisfiable
        );
        // Overlaps adding up to more than the file, too many specs, one bad
        // spec, or no spec at all: ignored.
        assert_eq!(resolve_range(Some(b"bytes=0-,0-"), 100), RangeOutcome::Full);
        let many = format!("bytes={}", vec!["0-0"; MAX_RANGES + 1].join(","));
        assert_eq!(
            resolve_range(Some(many.as_bytes()), 100),
            RangeOutcome::Full
        );
        assert_eq!(resolve_range(Some(b"bytes=0-1,x"), 100), RangeOutcome::Full);
        assert_eq!(
            resolve_range(Some(b"bytes=0-1,5-3"), 100),
            RangeOutcome::Full
        );
        assert_eq!(resolve_range(Some(b"bytes=,"), 100), RangeOutcome::Full);
        assert_eq!(parse_range(b"bytes=0-1,3-4"), None);
        let backwards = ByteRange::FromTo {
            start: 5,
            end: Some(2),
        };
        assert_eq!(backwards.resolve(100), None);
        assert_eq!(resolve_range(Some(b"garbage"), 100), RangeOutcome::Full);
        assert_eq!(resolve_range(None, 100), RangeOutcome::Full);
    }

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
    }

    proptest! {
        #[test]
        fn content_range_roundtrip(s in 0u64..u64::MAX / 2, len in 1u64..1 << 40, extra in 0u64..1 << 40) {
            let e = s + len - 1;
            let t = e + 1 + extra;
            let v = format!("bytes {s}-{e}/{t}");
            let r = parse_content_range(v.as_bytes()).expect("valid range");
            prop_assert_eq!(r, ContentRange { start: s, end: e, total: t });
            prop_assert_eq!(r.len(), len);
        }

        #[test]
        fn content_range_never_panics(v in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(r) = parse_content_range(&v) {
                prop_assert!(r.start <= r.end && r.end < r.total);
            }
        }

        #[test]
        fn content_range_text_never_panics(v in "bytes [0-9-/ ]{0,30}") {
            if let Ok(r) = parse_content_range(v.as_bytes()) {
                prop_assert!(r.start <= r.end && r.end < r.total);
            }
        }

        #[test]
        fn range_header_within_bounds(v in "bytes=[0-9]{0,4}-[0-9]{0,4}(, ?[0-9]{0,4}-[0-9]{0,4}){0,4}", len in 0u64..20000) {
            match resolve_range(Some(v.as_bytes()), len) {
                RangeOutcome::Partial(a, b) => prop_assert!(a <= b && b < len),
                RangeOutcome::Multi(parts) => {
                    prop_assert!(parts.len() >= 2 && parts.len() <= MAX_RANGES);
                    for (a, b) in &parts {
                        prop_assert!(a <= b && *b < len);
                    }
                    let sum: u64 = parts.iter().map(|(a, b)| b - a + 1).sum();
                    prop_assert!(sum <= len, "multipart body bounded by the file");
                }
                RangeOutcome::Full | RangeOutcome::Unsatisfiable => {}
            }
        }

        #[test]
        fn range_header_never_panics(v in proptest::collection::vec(any::<u8>(), 0..128), len in any::<u64>()) {
            let _ = resolve_range(Some(&v), len);
        }

        #[test]
        fn range_set_with_huge_numbers_stays_in_bounds(
            v in "bytes=( ?-?[0-9]{0,20}-?[0-9]{0,20} ?,?){0,8}",
            len in prop_oneof![Just(0u64), Just(1), Just(u64::MAX), any::<u64>()],
        ) {
            match resolve_range(Some(v.as_bytes()), len) {
                RangeOutcome::Partial(a, b) => prop_assert!(a <= b && b < len),
                RangeOutcome::Multi(parts) => {
                    prop_assert!(parts.iter().all(|&(a, b)| a <= b && b < len));
                    let sum: u128 = parts.iter().map(|&(a, b)| u128::from(b - a) + 1).sum();
                    prop_assert!(sum <= u128::from(len));
                }
                RangeOutcome::Full | RangeOutcome::Unsatisfiable => {}
            }
        }

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
