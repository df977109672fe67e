//! Fault injection: rules from the config file or the control API that
//! change how the server answers matching requests.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::parse::PacketType;

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
    /// HTTPS: present a faulty certificate at the next TLS handshakes
    /// (`times` of them, or every one), so a client's certificate checks
    /// can be tested. Acts before any request exists, so it takes no
    /// `path`, `packet` or `method` and no other effect; it needs a server
    /// started with a self-signed certificate (its CA signs the faulty
    /// ones, so the fault is the only thing wrong with them).
    pub tls_cert: Option<TlsCertFault>,
}

/// A faulty certificate the server can present ([`FaultRule::tls_cert`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TlsCertFault {
    /// Valid only in 2000 (expired): WinHTTP reports
    /// `ERROR_WINHTTP_SECURE_CERT_DATE_INVALID`.
    Expired,
    /// Issued for another host name: WinHTTP reports
    /// `ERROR_WINHTTP_SECURE_CERT_CN_INVALID`.
    WrongHost,
}

impl FaultRule {
    /// Checks that the rule can ever match and do something, so that a
    /// typo is refused instead of becoming a silent no-op: `path` starts
    /// with `/`, `packet` is one of the five packet types, `method` is an
    /// HTTP token, `times` is not 0, `status` is 200–599, `error_code`
    /// parses as an HRESULT and comes with a `status`, `bandwidth_bps` is not
    /// 0, and at least one effect is set.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if let Some(p) = &self.path
            && !p.starts_with('/')
        {
            return Err(format!(
                "path {p:?} must start with '/' (it is a prefix of the request path)"
            ));
        }
        // The same parser the request's BITS-Packet-Type goes through.
        if let Some(p) = &self.packet
            && PacketType::parse(p.as_bytes()).is_err()
        {
            return Err(format!(
                "packet {p:?} is not a BITS packet type (one of {})",
                PacketType::ALL.map(PacketType::as_str).join(", ")
            ));
        }
        if let Some(m) = &self.method
            && http::Method::from_bytes(m.as_bytes()).is_err()
        {
            return Err(format!("method {m:?} is not an HTTP method"));
        }
        if self.times == Some(0) {
            return Err("times = 0 would never apply; omit it for a rule that stays".into());
        }
        if self.tls_cert.is_some() {
            let alone = FaultRule {
                tls_cert: self.tls_cert,
                times: self.times,
                ..FaultRule::default()
            };
            if *self != alone {
                return Err("tls_cert acts at the TLS handshake, before any request: \
                     it takes only times (no path, packet, method or other effect)"
                    .into());
            }
            return Ok(());
        }
        // 1xx are interim answers, not a final status: hyper would send a
        // 500 for them (101 would switch protocols).
        if let Some(st) = self.status
            && !(200..=599).contains(&st)
        {
            return Err(format!("status {st} is not a final HTTP status (200-599)"));
        }
        if let Some(code) = &self.error_code {
            if parse_hresult(code).is_none() {
                return Err(format!(
                    "error_code {code:?} is not an HRESULT (hex like \"0x8020001F\", or decimal)"
                ));
            }
            if self.status.is_none() {
                return Err("error_code is sent only with a status; set status too".into());
            }
        }
        if self.bandwidth_bps == Some(0) {
            return Err("bandwidth_bps = 0 would not cap anything; omit it".into());
        }
        let has_effect = self.status.is_some()
            || self.delay_ms.is_some()
            || self.bandwidth_bps.is_some()
            || self.drop_after_bytes.is_some()
            || self.ignore_range
            || self.single_range_only
            || self.omit_content_length
            || self.change_last_modified
            || self.disk_full
            || self.tls_cert.is_some();
        if !has_effect {
            return Err(
                "the rule has no effect (set status, delay_ms, bandwidth_bps, \
                 drop_after_bytes, ignore_range, single_range_only, omit_content_length, \
                 change_last_modified, disk_full or tls_cert)"
                    .into(),
            );
        }
        Ok(())
    }

    fn matches(&self, path: &str, method: &str, packet: Option<&str>) -> bool {
        self.path.as_deref().is_none_or(|p| path.starts_with(p))
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .packet
                .as_deref()
                .is_none_or(|p| packet.is_some_and(|q| q.trim().eq_ignore_ascii_case(p.trim())))
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

    /// Adds a rule, returning its id, or [`Error::InvalidFault`] with the
    /// reason if [`FaultRule::validate`] refuses it.
    pub fn add(&self, rule: FaultRule) -> Result<u64> {
        rule.validate().map_err(Error::InvalidFault)?;
        let mut g = self.lock();
        g.next_id += 1;
        let id = g.next_id;
        g.rules.push(FaultEntry { id, rule });
        Ok(id)
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

    /// The certificate fault for the TLS handshake happening now (the first
    /// rule with [`FaultRule::tls_cert`]), consuming one use of it.
    pub fn take_tls(&self) -> Option<TlsCertFault> {
        let mut g = self.lock();
        let e = g.rules.iter_mut().find(|e| e.rule.tls_cert.is_some())?;
        let fault = e.rule.tls_cert;
        if let Some(t) = e.rule.times.as_mut() {
            *t = t.saturating_sub(1);
        }
        g.rules.retain(|e| e.rule.times != Some(0));
        fault
    }

    /// Finds every rule matching a request, consumes one use of each
    /// counted rule, and merges their effects (later rules win).
    pub fn take(&self, path: &str, method: &str, packet: Option<&str>) -> Effects {
        let mut g = self.lock();
        let mut fx = Effects::default();
        let mut lm = false;
        for e in g.rules.iter_mut() {
            if e.rule.tls_cert.is_some() || !e.rule.matches(path, method, packet) {
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
    fn tls_rules_act_only_at_the_handshake() {
        let f = FaultSet::default();
        f.add(FaultRule {
            tls_cert: Some(TlsCertFault::Expired),
            times: Some(1),
            ..FaultRule::default()
        })
        .unwrap();
        // A request neither sees nor consumes it.
        assert_eq!(f.take("/a", "GET", None), Effects::default());
        assert_eq!(f.take_tls(), Some(TlsCertFault::Expired));
        assert_eq!(f.take_tls(), None);
        assert!(f.list().is_empty());
        // With anything else it is refused.
        let e = FaultRule {
            tls_cert: Some(TlsCertFault::WrongHost),
            path: Some("/a".into()),
            ..FaultRule::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("tls_cert"), "{e}");
        let r: FaultRule = serde_json::from_str(r#"{"tls_cert":"wrong-host"}"#).unwrap();
        assert_eq!(r.tls_cert, Some(TlsCertFault::WrongHost));
        assert!(serde_json::from_str::<FaultRule>(r#"{"tls_cert":"expird"}"#).is_err());
    }

    #[test]
    fn counted_rule_expires() {
        let f = FaultSet::default();
        f.add(FaultRule {
            path: Some("/a".into()),
            packet: Some("FRAGMENT".into()),
            status: Some(503),
            times: Some(2),
            ..FaultRule::default()
        })
        .unwrap();
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
    fn rules_that_could_never_act_are_refused() {
        let ok = FaultRule {
            status: Some(503),
            ..FaultRule::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        let bad = [
            FaultRule::default(),
            FaultRule {
                path: Some("/x".into()),
                ..FaultRule::default()
            },
            FaultRule {
                status: Some(1000),
                ..FaultRule::default()
            },
            FaultRule {
                status: Some(100),
                ..FaultRule::default()
            },
            FaultRule {
                error_code: Some("bogus".into()),
                ..ok.clone()
            },
            FaultRule {
                error_code: Some("0x8020001F".into()),
                delay_ms: Some(1),
                ..FaultRule::default()
            },
            FaultRule {
                packet: Some("fragmnt".into()),
                ..ok.clone()
            },
            FaultRule {
                path: Some("pub/".into()),
                ..ok.clone()
            },
            FaultRule {
                method: Some("GE T".into()),
                ..ok.clone()
            },
            FaultRule {
                times: Some(0),
                ..ok.clone()
            },
            FaultRule {
                bandwidth_bps: Some(0),
                ..FaultRule::default()
            },
        ];
        let f = FaultSet::default();
        for rule in bad {
            assert!(rule.validate().is_err(), "{rule:?}");
            assert!(
                matches!(f.add(rule.clone()), Err(Error::InvalidFault(_))),
                "{rule:?}"
            );
        }
        assert!(f.list().is_empty());
        for packet in [
            "ping",
            "CREATE-SESSION",
            "Fragment",
            " close-session",
            "cancel-Session",
        ] {
            let r = FaultRule {
                packet: Some(packet.into()),
                method: Some("BITS_POST".into()),
                error_code: Some("12".into()),
                ..ok.clone()
            };
            assert_eq!(r.validate(), Ok(()), "{packet}");
        }
    }

    #[test]
    fn hresult_parse() {
        assert_eq!(parse_hresult("0x8020001F"), Some(0x8020_001F));
        assert_eq!(parse_hresult("12"), Some(12));
        assert_eq!(parse_hresult("zz"), None);
    }
}
