//! Conditional requests of downloads (RFC 9110 13): `If-Match`,
//! `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`,
//! `If-Range`.

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
}
