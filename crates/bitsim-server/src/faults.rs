//! Fault injection: rules from the config file or the control API that
//! change how the server answers matching requests.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One fault rule. Unset matchers match everything; unset effects do
/// nothing. A rule with `times = N` applies to the next N matching
/// requests and is then removed; without `times` it stays until deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRule {
    /// Matches request paths starting with this prefix.
    pub path: Option<String>,
    /// Matches the BITS packet type (case-insensitive), e.g. `fragment`.
    pub packet: Option<String>,
    /// Matches the HTTP method (case-insensitive), e.g. `GET`, `BITS_POST`.
    pub method: Option<String>,
    /// Apply to the next N matching requests only.
    pub times: Option<u64>,
    /// Answer with this HTTP status instead of processing the request.
    pub status: Option<u16>,
    /// `BITS-Error-Code` to send with `status` (hex, e.g. `"0x8020001F"`);
    /// defaults to `0x80190000 + status` for BITS requests.
    pub error_code: Option<String>,
    /// Delay before handling, in milliseconds.
    pub delay_ms: Option<u64>,
    /// Cap the body rate (request bodies of uploads, response bodies of
    /// downloads), in bytes per second.
    pub bandwidth_bps: Option<u64>,
    /// Drop the TCP connection after this many body bytes (0 = before
    /// any response).
    pub drop_after_bytes: Option<u64>,
    /// Downloads: ignore `Range` and always answer 200 with the whole file.
    pub ignore_range: bool,
    /// Downloads: answer a request for several ranges with 200 and the
    /// whole file, like a server without `multipart/byteranges` (single
    /// ranges still get 206), so a client's fallback can be tested.
    // [MC-BUP] 3.6.5.2.4.2: multi-range is optional; the client falls back.
    pub single_range_only: bool,
    /// Downloads: send no `Content-Length` (chunked instead).
    pub omit_content_length: bool,
    /// Downloads: send a different `Last-Modified` on every response.
    pub change_last_modified: bool,
    /// Uploads: fail fragment writes as if the disk were full.
    pub disk_full: bool,
}

impl FaultRule {
    fn matches(&self, path: &str, method: &str, packet: Option<&str>) -> bool {
        self.path.as_deref().is_none_or(|p| path.starts_with(p))
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .packet
                .as_deref()
                .is_none_or(|p| packet.is_some_and(|q| q.eq_ignore_ascii_case(p)))
    }
}

/// A fault rule with its id, as listed by `GET /_bitsim/faults`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultEntry {
    /// Id for `DELETE /_bitsim/faults/{id}`.
    pub id: u64,
    /// The rule (with `times` counting down).
    #[serde(flatten)]
    pub rule: FaultRule,
}

/// The combined effects of every rule that matched one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Status override and optional HRESULT.
    pub status: Option<(u16, Option<u32>)>,
    /// Delay before handling.
    pub delay: Option<Duration>,
    /// Body rate cap, bytes/s.
    pub bandwidth_bps: Option<u64>,
    /// Drop the connection after this many body bytes.
    pub drop_after_bytes: Option<u64>,
    /// Ignore `Range`.
    pub ignore_range: bool,
    /// Serve multi-range requests as 200 with the whole file.
    pub single_range_only: bool,
    /// Omit `Content-Length`.
    pub omit_content_length: bool,
    /// Shift `Last-Modified` by this many seconds.
    pub last_modified_shift: Option<u64>,
    /// Simulate ENOSPC.
    pub disk_full: bool,
}

/// Parses a hex HRESULT like `0x8020001F` (or decimal).
pub fn parse_hresult(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    rules: Vec<FaultEntry>,
    lm_counter: u64,
}

/// The live set of fault rules (thread-safe).
#[derive(Debug, Default)]
pub struct FaultSet {
    inner: Mutex<Inner>,
}

impl FaultSet {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain data; the data is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a rule, returning its id.
    pub fn add(&self, rule: FaultRule) -> u64 {
        let mut g = self.lock();
        g.next_id += 1;
        let id = g.next_id;
        g.rules.push(FaultEntry { id, rule });
        id
    }

    /// Removes one rule; false if it did not exist.
    pub fn remove(&self, id: u64) -> bool {
        let mut g = self.lock();
        let before = g.rules.len();
        g.rules.retain(|e| e.id != id);
        g.rules.len() != before
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Lists the rules.
    pub fn list(&self) -> Vec<FaultEntry> {
        self.lock().rules.clone()
    }

    /// Finds every rule matching a request, consumes one use of each
    /// counted rule, and merges their effects (later rules win).
    pub fn take(&self, path: &str, method: &str, packet: Option<&str>) -> Effects {
        let mut g = self.lock();
        let mut fx = Effects::default();
        let mut lm = false;
        for e in g.rules.iter_mut() {
            if !e.rule.matches(path, method, packet) {
                continue;
            }
            if let Some(t) = e.rule.times.as_mut() {
                if *t == 0 {
                    continue;
                }
                *t -= 1;
            }
            let r = &e.rule;
            if let Some(s) = r.status {
                fx.status = Some((s, r.error_code.as_deref().and_then(parse_hresult)));
            }
            if let Some(d) = r.delay_ms {
                fx.delay = Some(Duration::from_millis(d));
            }
            if r.bandwidth_bps.is_some() {
                fx.bandwidth_bps = r.bandwidth_bps;
            }
            if r.drop_after_bytes.is_some() {
                fx.drop_after_bytes = r.drop_after_bytes;
            }
            fx.ignore_range |= r.ignore_range;
            fx.single_range_only |= r.single_range_only;
            fx.omit_content_length |= r.omit_content_length;
            fx.disk_full |= r.disk_full;
            lm |= r.change_last_modified;
        }
        g.rules.retain(|e| e.rule.times != Some(0));
        if lm {
            g.lm_counter += 1;
            fx.last_modified_shift = Some(g.lm_counter);
        }
        fx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rule_expires() {
        let f = FaultSet::default();
        f.add(FaultRule {
            path: Some("/a".into()),
            packet: Some("FRAGMENT".into()),
            status: Some(503),
            times: Some(2),
            ..FaultRule::default()
        });
        assert_eq!(f.take("/b", "BITS_POST", Some("Fragment")).status, None);
        assert_eq!(f.take("/a/x", "BITS_POST", Some("Ping")).status, None);
        assert_eq!(
            f.take("/a/x", "BITS_POST", Some("Fragment")).status,
            Some((503, None))
        );
        assert_eq!(
            f.take("/a/x", "BITS_POST", Some("fragment")).status,
            Some((503, None))
        );
        assert_eq!(f.take("/a/x", "BITS_POST", Some("Fragment")).status, None);
        assert!(f.list().is_empty());
    }

    #[test]
    fn hresult_parse() {
        assert_eq!(parse_hresult("0x8020001F"), Some(0x8020_001F));
        assert_eq!(parse_hresult("12"), Some(12));
        assert_eq!(parse_hresult("zz"), None);
    }
}
