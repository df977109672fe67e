//! What a Fragment does, given the session's state and its `Content-Range`:
//! a pure function, so every case is a unit test without a server.

use http::StatusCode;

use crate::error::{BG_E_TOO_LARGE, E_DISK_FULL, Error};
use crate::parse::ContentRange;

/// The parts of the server configuration a Fragment is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// `Config::max_upload_size`.
    pub(crate) max_upload_size: u64,
    /// `Config::max_fragment_size`.
    pub(crate) max_fragment_size: Option<u64>,
    /// `Config::strict_fragments`.
    pub(crate) strict: bool,
}

/// The session's state as far as a Fragment needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// The upload's total, once a first fragment has set it.
    pub(crate) total: Option<u64>,
    /// The next expected byte (= acknowledged bytes).
    pub(crate) received: u64,
}

/// What to do with a Fragment.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Refuse with this error; the Ack carries the unchanged offset.
    Refuse(Error),
    /// The fragment starts past the next expected byte (or, in strict mode,
    /// anywhere else): 416 with the next expected byte.
    Gap {
        /// Where the fragment starts.
        start: u64,
        /// Where the server expects the next fragment to start.
        expected: u64,
    },
    /// Every byte is already stored: re-Ack the current offset.
    Duplicate,
    /// Write the body at the next expected byte, after skipping its first
    /// `skip` bytes (0: the whole body; more: an overlap's new tail).
    Write {
        /// Body bytes already stored (`expected − start`).
        skip: u64,
    },
}

/// Decides what a Fragment with `range` does to a session at `at`.
/// `disk_full` is the fault rule's simulated `ENOSPC`, which only a
/// fragment that has something to write meets.
///
/// The checks, in order:
/// 1. the total may not change between fragments (400);
/// 2. `T > max_upload_size` → 500 `BG_E_TOO_LARGE`;
/// 3. a fragment bigger than `max_fragment_size` → 413 (the client shrinks);
/// 4. a gap → 416 with the next expected byte (strict: any start ≠ expected);
/// 5. a full duplicate → re-Ack;
/// 6. a simulated full disk → 500 `0x80070112`;
/// 7. otherwise write (the whole body, or an overlap's new tail).
pub(crate) fn decide(
    at: Progress,
    range: ContentRange,
    limits: Limits,
    disk_full: bool,
) -> Decision {
    // [MC-BUP] 2.2.1.2; [W32-FRAG]: the total may not change between fragments.
    if at.total.is_some_and(|t| t != range.total) {
        return Decision::Refuse(Error::invalid_arg("total length changed between fragments"));
    }
    // [MC-BUP] 2.2.1.2: entity bigger than the server accepts → 500 + BG_E_TOO_LARGE.
    if range.total > limits.max_upload_size {
        return Decision::Refuse(Error::protocol(
            StatusCode::INTERNAL_SERVER_ERROR,
            BG_E_TOO_LARGE,
            format!("upload of {} bytes exceeds max_upload_size", range.total),
        ));
    }
    // [MC-BUP] 3.1.5.1.7: fragment too big → 413; the client shrinks.
    if limits.max_fragment_size.is_some_and(|m| range.len() > m) {
        return Decision::Refuse(Error::protocol(
            StatusCode::PAYLOAD_TOO_LARGE,
            BG_E_TOO_LARGE,
            format!(
                "fragment of {} bytes exceeds max_fragment_size",
                range.len()
            ),
        ));
    }
    let expected = at.received;
    // [MC-BUP] 3.2.5.2.6; [W32-ACKFRAG]: a gap → 416 + the next expected
    // offset. In strict mode any start ≠ expected gets 416.
    if range.start > expected || (limits.strict && range.start != expected) {
        return Decision::Gap {
            start: range.start,
            expected,
        };
    }
    // [W32-FRAG]: a full duplicate is re-acknowledged with the current offset.
    if range.end < expected {
        return Decision::Duplicate;
    }
    if disk_full {
        // Fault injection: simulated ENOSPC. [MC-BUP] 2.2.1.2: 500 + 0x80070112.
        return Decision::Refuse(Error::protocol(
            StatusCode::INTERNAL_SERVER_ERROR,
            E_DISK_FULL,
            "disk full (fault)",
        ));
    }
    // Overlap: [W32-FRAG]: IIS writes only the new tail, e.g. after
    // 0–100 a fragment 50–150 contributes 101–150.
    Decision::Write {
        skip: expected - range.start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_upload_size: 1000,
        max_fragment_size: None,
        strict: false,
    };

    fn r(start: u64, end: u64, total: u64) -> ContentRange {
        ContentRange { start, end, total }
    }

    fn at(total: Option<u64>, received: u64) -> Progress {
        Progress { total, received }
    }

    fn refused(d: Decision) -> (StatusCode, u32) {
        match d {
            Decision::Refuse(e) => (e.status(), e.hresult()),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn first_and_next_fragments_write_all() {
        assert!(matches!(
            decide(at(None, 0), r(0, 99, 300), LIMITS, false),
            Decision::Write { skip: 0 }
        ));
        assert!(matches!(
            decide(at(Some(300), 100), r(100, 199, 300), LIMITS, false),
            Decision::Write { skip: 0 }
        ));
    }

    #[test]
    fn an_overlap_writes_only_the_new_tail() {
        assert!(matches!(
            decide(at(Some(300), 101), r(50, 150, 300), LIMITS, false),
            Decision::Write { skip: 51 }
        ));
        // Strict mode: the same overlap is a 416.
        let strict = Limits {
            strict: true,
            ..LIMITS
        };
        assert!(matches!(
            decide(at(Some(300), 101), r(50, 150, 300), strict, false),
            Decision::Gap {
                start: 50,
                expected: 101
            }
        ));
    }

    #[test]
    fn a_full_duplicate_is_re_acknowledged() {
        assert!(matches!(
            decide(at(Some(300), 200), r(100, 199, 300), LIMITS, false),
            Decision::Duplicate
        ));
        // Even with a full disk: nothing is written.
        assert!(matches!(
            decide(at(Some(300), 200), r(0, 99, 300), LIMITS, true),
            Decision::Duplicate
        ));
    }

    #[test]
    fn a_gap_is_416_with_the_expected_byte() {
        assert!(matches!(
            decide(at(Some(300), 101), r(150, 199, 300), LIMITS, false),
            Decision::Gap {
                start: 150,
                expected: 101
            }
        ));
    }

    #[test]
    fn refusals_carry_their_status_and_hresult() {
        assert_eq!(
            refused(decide(at(Some(300), 0), r(0, 9, 301), LIMITS, false)),
            (StatusCode::BAD_REQUEST, 0x8007_0057)
        );
        assert_eq!(
            refused(decide(at(None, 0), r(0, 9, 1001), LIMITS, false)),
            (StatusCode::INTERNAL_SERVER_ERROR, BG_E_TOO_LARGE)
        );
        let small = Limits {
            max_fragment_size: Some(10),
            ..LIMITS
        };
        assert_eq!(
            refused(decide(at(None, 0), r(0, 10, 300), small, false)),
            (StatusCode::PAYLOAD_TOO_LARGE, BG_E_TOO_LARGE)
        );
        assert!(matches!(
            decide(at(None, 0), r(0, 9, 300), small, false),
            Decision::Write { skip: 0 }
        ));
        assert_eq!(
            refused(decide(at(None, 0), r(0, 9, 300), LIMITS, true)),
            (StatusCode::INTERNAL_SERVER_ERROR, E_DISK_FULL)
        );
    }

    #[test]
    fn a_changed_total_is_checked_before_a_gap() {
        // Both wrong: the changed total wins (it is the client's bug).
        assert_eq!(
            refused(decide(at(Some(300), 0), r(50, 99, 400), LIMITS, false)).0,
            StatusCode::BAD_REQUEST
        );
    }
}
