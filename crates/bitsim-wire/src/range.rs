//! Byte ranges: a Fragment's (or a `206` answer's) `Content-Range`, and
//! the `Range` request header of downloads.

use std::fmt;

use crate::{Error, MAX_HEADER_VALUE, Result, parse_u64};

/// A `Content-Range: bytes S-E/T`: a Fragment's place in the upload
/// (\[MC-BUP\] 2.2.6.2) or the part a `206` answer carries (RFC 9110
/// 14.4). `Display` formats it as the header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte (zero-based).
    pub start: u64,
    /// Last byte, inclusive.
    pub end: u64,
    /// Total size of the whole upload or representation.
    pub total: u64,
}

impl ContentRange {
    /// Number of bytes in the range (`E - S + 1`).
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Always false: a valid range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for ContentRange {
    // RFC 9110 14.4: complete-length form "bytes first-last/complete".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes {}-{}/{}", self.start, self.end, self.total)
    }
}

/// Parses a `Content-Range` value `bytes S-E/T`.
///
/// Requires `S ≤ E < T`; the unsatisfied form `bytes */T` and an unknown
/// total (`/*`) are errors, because neither a Fragment nor a `206` to one
/// range may use them.
// [MC-BUP] 2.2.6.2 and 3.2.5.2.6: the RFC 2616 14.16 format (now RFC 9110
// 14.4), zero-based, end inclusive, total = whole file size; invalid →
// 400 + 0x80070057.
pub fn parse_content_range(value: &[u8]) -> Result<ContentRange> {
    let bad = || Error::new("invalid Content-Range");
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

/// Formats a `Range` request header value for the inclusive bytes
/// `start..=end`: `bytes=start-end`.
// RFC 9110 14.1.2: int-range = first-pos "-" [ last-pos ], inclusive.
pub fn format_range(start: u64, end: u64) -> String {
    format!("bytes={start}-{end}")
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

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    #[test]
    fn content_range_examples() {
        let r = ContentRange {
            start: 0,
            end: 99,
            total: 100,
        };
        assert_eq!(parse_content_range(b"bytes 0-99/100"), Ok(r));
        assert_eq!(parse_content_range(r.to_string().as_bytes()), Ok(r));
        assert_eq!(parse_content_range(b" BYTES  0-99/100 "), Ok(r));
        assert!(parse_content_range(b"bytes 0-100/100").is_err());
        assert!(parse_content_range(b"bytes 5-4/100").is_err());
        assert!(parse_content_range(b"bytes -1-4/100").is_err());
        assert!(parse_content_range(b"bytes 0-4/*").is_err());
        assert!(parse_content_range(b"bytes */10").is_err());
        assert!(parse_content_range(b"items 0-4/10").is_err());
        assert!(parse_content_range(b"bytes 0-99999999999999999999999/1").is_err());
        assert_eq!(format_range(5, 9), "bytes=5-9");
        assert_eq!(
            parse_range(format_range(5, 9).as_bytes()),
            Some(ByteRange::FromTo {
                start: 5,
                end: Some(9)
            })
        );
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

    }
}
