//! Server configuration, loadable from TOML (`--config server.toml`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::faults::FaultRule;

/// Default session timeout: 14 days.
// [W32-IISPROPS]: BITSSessionTimeout default 1,209,600 s; [MC-BUP] 3.2.2.1.
pub const DEFAULT_SESSION_TIMEOUT_SECS: u64 = 1_209_600;
/// Default per-client session cap: 1,000 live sessions per client IP.
///
/// IIS caps sessions *per user* (`BITSNumberOfSessionsLimit`, default 50).
/// bitsim has no authentication and counts per client IP address instead,
/// and on a test machine every user, test and load generator shares one
/// address (loopback, or a NAT): a cap of 50 per IP would refuse the
/// 51st concurrent upload of a whole test suite. The default leaves room
/// for hundreds of concurrent sessions from one host; set
/// `max_sessions_per_client = 50` to reproduce IIS for a single user.
// [W32-IISPROPS]: BITSNumberOfSessionsLimit default 50, per user.
pub const DEFAULT_MAX_SESSIONS_PER_CLIENT: usize = 1000;
/// Default maximum upload size (the largest value IIS accepts).
// [W32-IISPROPS]: BITSMaximumUploadSize ≤ "1844674407370955", empty = that max.
pub const DEFAULT_MAX_UPLOAD_SIZE: u64 = 1_844_674_407_370_955;
/// Default back-end notification timeout: 5 minutes.
// [MC-BUP] 3.3.2: send/receive/headers timers 5 min each.
pub const DEFAULT_NOTIFY_TIMEOUT_MS: u64 = 300_000;

/// Default of [`Config::max_discard_bytes`]: 16 MiB, twice the largest
/// fragment the load generator sends, a few milliseconds of reading on a
/// fast link.
pub const DEFAULT_MAX_DISCARD_BYTES: u64 = 16 * 1024 * 1024;

/// What an acknowledged fragment survives (`durability` in TOML).
///
/// \[MC-BUP\] 3.2.5.2.6 asks the server to acknowledge bytes it has
/// stored, and a client resumes from the acknowledged offset
/// (\[MC-BUP\] 3.1.5.1.4), so an acknowledged byte must not be lost. What
/// "lost" covers is not specified, and no documentation of IIS's BITS
/// extension promises more than surviving the server process. bitsim's
/// decision: both levels, and the cheaper one by default, since a
/// per-fragment flush costs most of the throughput with small fragments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Durability {
    /// Every acknowledged byte survives the server process dying (`kill -9`,
    /// a crash, an OOM kill): a fragment's bytes are written to the file
    /// (the page cache) before its Ack, the progress record after them,
    /// and session records are replaced atomically (temp file + rename).
    /// Nothing is fsync'd: a power cut or kernel crash may lose recent
    /// fragments (the client then resends from an older offset).
    #[default]
    ProcessKill,
    /// Every acknowledged byte also survives a power cut: fragment data is
    /// fdatasync'd before its Ack, with group commit (fragments of many
    /// sessions arriving while a sync runs share the next sync round), and
    /// records, published files and their directories are fsync'd.
    PowerCut,
}

impl Durability {
    /// Whether data is flushed to stable storage before it is acknowledged.
    pub fn syncs(self) -> bool {
        self == Durability::PowerCut
    }
}

/// HTTPS for the server (`[tls]` in TOML; `--tls-cert`/`--tls-key` or
/// `--tls-self-signed` on the command line): either a certificate chain and
/// its key from PEM files, or a certificate the server makes itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// Make a certificate: a CA (kept in `<state_dir>/tls/`, reused across
    /// restarts) signs a certificate for `localhost`, `127.0.0.1`, `::1`
    /// and [`TlsConfig::names`]. Clients trust the CA's `ca.pem`. Only
    /// with it can fault rules present an expired or wrong-host
    /// certificate ([`FaultRule::tls_cert`]).
    pub self_signed: bool,
    /// More host names or IP addresses for the self-signed certificate.
    pub names: Vec<String>,
}

impl TlsConfig {
    /// Checks that exactly one way of getting a certificate is chosen.
    pub fn validate(&self) -> Result<()> {
        match (&self.cert, &self.key, self.self_signed) {
            (Some(_), Some(_), false) | (None, None, true) => Ok(()),
            (Some(_), None, false) => Err(Error::Config("tls: cert needs key too".into())),
            (None, Some(_), false) => Err(Error::Config("tls: key needs cert too".into())),
            (None, None, false) => Err(Error::Config(
                "tls: set cert and key, or self_signed = true".into(),
            )),
            (_, _, true) => Err(Error::Config(
                "tls: self_signed makes its own certificate; drop cert and key".into(),
            )),
        }
    }
}

/// Keys of earlier versions, refused with the key that replaced them.
const RENAMED_KEYS: &[(&str, &str)] = &[
    (
        "fsync",
        "`fsync` was replaced by `durability`: `durability = \"power-cut\"` for `fsync = true`, `durability = \"process-kill\"` (the default) for `fsync = false`",
    ),
    (
        "inline_sync",
        "`inline_sync` is gone: with `durability = \"power-cut\"` syncs are grouped (group commit) and need no setting",
    ),
];

/// The whole server configuration.
///
/// Every field has a default, so an empty TOML file is valid. Field names
/// in TOML are the Rust names (`snake_case`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`--listen`); port 0 picks a free port.
    pub listen: SocketAddr,
    /// Directory that request paths map into (`--root`).
    pub root: PathBuf,
    /// Where sessions and their temporary data live. Defaults to
    /// `<root>/.bitsim`; it must be on the same file system as `root` for
    /// publishing to be a plain rename (otherwise a copy is made first).
    pub state_dir: Option<PathBuf>,
    /// Allow an upload to replace an existing file.
    // [W32-IISPROPS]: BITSAllowOverwrites default 0.
    pub allow_overwrite: bool,
    /// Largest upload (the `T` of `Content-Range`) accepted, in bytes.
    pub max_upload_size: u64,
    /// Seconds without a successful packet after which a session expires.
    pub session_timeout_secs: u64,
    /// Seconds between two runs of the expiry sweeper.
    pub sweep_interval_secs: u64,
    /// Most live sessions per client IP address (default
    /// [`DEFAULT_MAX_SESSIONS_PER_CLIENT`]); more get 503 `0x80070045`.
    pub max_sessions_per_client: usize,
    /// Strict \[MC-BUP\] 3.2.5.2.6 mode: any fragment whose start is not the
    /// next expected byte gets 416 (instead of writing an overlap's tail).
    pub strict_fragments: bool,
    /// What an acknowledged byte survives: see [`Durability`].
    pub durability: Durability,
    /// Re-poll a connection that wakes itself while being polled instead of
    /// yielding it to tokio's scheduler, which would also wake an idle
    /// worker that then often steals the connection. hyper hands every
    /// chunk of a request body over that way, so this saves a context
    /// switch and a thread migration per small fragment; `false` keeps
    /// tokio's default. Bounded by tokio's cooperative budget, so a busy
    /// connection still yields. See `repoll.rs`.
    pub repoll: bool,
    /// Seconds a request body may stall before the request is dropped.
    pub body_idle_timeout_secs: u64,
    /// Most bytes of a request body the server reads and discards after
    /// answering without it (a 416 gap, a 400, a 413, a fault's status…)
    /// to keep the connection alive. A longer body gets its answer with
    /// `Connection: close` instead. Default 16 MiB.
    pub max_discard_bytes: u64,
    /// Largest fragment accepted; bigger ones get 413 so the client retries
    /// with smaller fragments. `None`: no limit.
    // [MC-BUP] 3.1.5.1.7 and 6 <10>: 413 → the client shrinks its fragments
    // (never below 5 KB).
    pub max_fragment_size: Option<u64>,
    /// `BITS-Host-Id` to send on Create-Session Acks (server-farm affinity).
    // [W32-ACKCS]; [MC-BUP] 3.1.5.1.2.
    pub host_id: Option<String>,
    /// `BITS-Host-Id-Fallback-Timeout` in seconds (sent with `host_id`).
    pub host_id_fallback_timeout_secs: Option<u64>,
    /// HTTPS (`[tls]`); `None`: plain HTTP.
    pub tls: Option<TlsConfig>,
    /// The control API under `/_bitsim/`.
    pub control: ControlConfig,
    /// Upload-reply routes: uploads under a prefix go to a server application.
    pub reply: Vec<ReplyRoute>,
    /// Faults active from start-up.
    pub faults: Vec<FaultRule>,
}

/// Longest `BITSServerNotificationURL` IIS accepts.
// [W32-IISPROPS]: BITSServerNotificationURL is limited to 2,200 characters.
pub const MAX_NOTIFICATION_URL: usize = 2200;

/// The scheme of an absolute URL (RFC 3986 3.1: ALPHA *( ALPHA / DIGIT /
/// "+" / "-" / "." ) followed by ':'), or `None` for a relative reference.
fn url_scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    (chars.next()?.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            root: PathBuf::from("."),
            state_dir: None,
            allow_overwrite: false,
            max_upload_size: DEFAULT_MAX_UPLOAD_SIZE,
            session_timeout_secs: DEFAULT_SESSION_TIMEOUT_SECS,
            sweep_interval_secs: 3600,
            max_sessions_per_client: DEFAULT_MAX_SESSIONS_PER_CLIENT,
            strict_fragments: false,
            durability: Durability::ProcessKill,
            repoll: true,
            body_idle_timeout_secs: 120,
            max_discard_bytes: DEFAULT_MAX_DISCARD_BYTES,
            tls: None,
            max_fragment_size: None,
            host_id: None,
            host_id_fallback_timeout_secs: None,
            control: ControlConfig::default(),
            reply: Vec::new(),
            faults: Vec::new(),
        }
    }
}

impl Config {
    /// A default configuration serving `root` on `127.0.0.1:0`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            root: root.into(),
            ..Config::default()
        }
    }

    /// Parses a TOML document and [validates](Config::validate) it.
    pub fn from_toml(text: &str) -> Result<Self> {
        if let Ok(table) = text.parse::<toml::Table>() {
            for (key, why) in RENAMED_KEYS {
                if table.contains_key(*key) {
                    return Err(Error::Config(why.to_string()));
                }
            }
        }
        let c: Config = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// Checks what the TOML schema cannot: every fault rule passes
    /// [`FaultRule::validate`]; each notification URL is an
    /// absolute `http://` URL or a relative reference (resolved against the
    /// upload URL at notification time), never HTTPS or another scheme, and
    /// at most 2,200 characters. [`Server::bind`](crate::Server::bind)
    /// calls this too, for configurations built in code.
    pub fn validate(&self) -> Result<()> {
        if let Some(t) = &self.tls {
            t.validate()?;
        }
        let tls_faults_possible = self.tls.as_ref().is_some_and(|t| t.self_signed);
        if !tls_faults_possible
            && let Some(i) = self.faults.iter().position(|f| f.tls_cert.is_some())
        {
            return Err(Error::Config(format!(
                "faults[{i}]: tls_cert needs a server with a self-signed certificate \
                 ([tls] self_signed = true, or --tls-self-signed)"
            )));
        }
        for (i, f) in self.faults.iter().enumerate() {
            // A typo in a start-up fault must stop the server, not be
            // ignored for the whole run.
            f.validate()
                .map_err(|e| Error::Config(format!("faults[{i}]: {e}")))?;
        }
        for r in &self.reply {
            if let ReplyApp::Notify { url, .. } = &r.app {
                // [W32-IISPROPS] BITSServerNotificationURL: HTTP only,
                // at most 2,200 characters, may be relative.
                if url.is_empty() || url.len() > MAX_NOTIFICATION_URL {
                    return Err(Error::Config(format!(
                        "reply route {}: notification url must be 1 to {MAX_NOTIFICATION_URL} characters",
                        r.prefix
                    )));
                }
                // An absolute URL must be "http://authority...": "http:x"
                // (no authority) is as unusable as another scheme.
                if let Some(scheme) = url_scheme(url)
                    && !(scheme.eq_ignore_ascii_case("http")
                        && url[scheme.len()..].starts_with("://"))
                {
                    return Err(Error::Config(format!(
                        "reply route {}: notification url {url:?} uses {scheme}:, but BITS notifies \
                         the server application over plain http:// only (BITSServerNotificationURL)",
                        r.prefix
                    )));
                }
            }
        }
        Ok(())
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Self::from_toml(&text)
    }
}

/// Settings of the control API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// Answer control requests from non-loopback peers too (default: only
    /// 127.0.0.0/8 and ::1 may use `/_bitsim/faults` and `/_bitsim/sessions`).
    pub allow_remote: bool,
    /// Disable the control API entirely.
    pub disabled: bool,
}

/// An upload-reply route: uploads whose path starts with `prefix` are
/// handed to `app` when their last byte arrives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRoute {
    /// URL path prefix, e.g. `/reply/`.
    pub prefix: String,
    /// The server application.
    pub app: ReplyApp,
}

/// How a notification passes the upload to a back-end application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyBy {
    /// NOTIFICATION_BY_REFERENCE (1): file paths in headers.
    // [MC-BUP] 3.2.1.1; [W32-NOTIFY].
    Reference,
    /// NOTIFICATION_BY_VALUE (2): upload in the POST body, reply in the
    /// response body.
    Value,
}

/// A server application for upload-reply jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ReplyApp {
    /// Built in: the reply is the uploaded bytes.
    Echo {
        /// Also publish the upload at its destination on Close-Session.
        #[serde(default)]
        copy_to_destination: bool,
    },
    /// Built in: the reply is the lower-case hex SHA-256 of the upload.
    Sha256 {
        /// Also publish the upload at its destination on Close-Session.
        #[serde(default)]
        copy_to_destination: bool,
    },
    /// External: POST a notification to a back-end URL.
    Notify {
        /// URL of the application: absolute `http://`, or relative to the
        /// upload URL (`/app` from the host's root, `app` or `../app` from
        /// the upload's directory).
        // [W32-IISPROPS]: BITSServerNotificationURL is HTTP only; a relative
        // value is resolved against the upload URL.
        url: String,
        /// By reference or by value.
        by: NotifyBy,
        /// Timeout for the whole notification exchange, in milliseconds.
        #[serde(default = "default_notify_timeout")]
        timeout_ms: u64,
    },
}

fn default_notify_timeout() -> u64 {
    DEFAULT_NOTIFY_TIMEOUT_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_example() {
        let c = Config::from_toml(
            r#"
            listen = "127.0.0.1:0"
            root = "/tmp/x"
            allow_overwrite = true
            max_upload_size = 1000
            [[reply]]
            prefix = "/echo/"
            app = { kind = "echo" }
            [[reply]]
            prefix = "/app/"
            app = { kind = "notify", url = "http://127.0.0.1:9/x", by = "reference" }
            [[faults]]
            path = "/a"
            packet = "fragment"
            status = 503
            times = 2
            "#,
        )
        .expect("valid config");
        assert_eq!(c.max_upload_size, 1000);
        assert_eq!(c.reply.len(), 2);
        assert_eq!(c.faults.len(), 1);
        assert!(Config::from_toml("bogus = 1").is_err());
        let route = |url: &str| {
            format!(
                "[[reply]]\nprefix = \"/a/\"\napp = {{ kind = \"notify\", url = \"{url}\", by = \"value\" }}"
            )
        };
        for ok in [
            "http://h/x",
            "HTTP://h/x",
            "/app",
            "app.asp",
            "../app?x=1",
            "./a:b",
        ] {
            assert!(Config::from_toml(&route(ok)).is_ok(), "{ok}");
        }
        // "a:b/c" is the scheme "a" (RFC 3986 4.2: write "./a:b/c").
        for bad in [
            "https://h/x",
            "ftp://h/x",
            "a:b/c",
            "",
            "http:n.asp",
            "HTTP:/x",
        ] {
            let e = Config::from_toml(&route(bad)).err().map(|e| e.to_string());
            assert!(e.is_some_and(|e| e.contains("notification url")), "{bad}");
        }
        let longest = format!("/{}", "x".repeat(MAX_NOTIFICATION_URL - 1));
        assert!(Config::from_toml(&route(&longest)).is_ok());
        let long = format!("/{}", "x".repeat(MAX_NOTIFICATION_URL));
        assert!(Config::from_toml(&route(&long)).is_err());
        // A start-up fault that could never act stops the server, naming
        // the rule and the reason.
        let e = Config::from_toml(
            "[[faults]]\nstatus = 503\n[[faults]]\npacket = \"fragmnt\"\nstatus = 503",
        )
        .err()
        .map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("faults[1]") && e.contains("fragmnt")),
            "{e:?}"
        );
        assert_eq!(
            Config::from_toml("").map(|c| c.durability).ok(),
            Some(Durability::ProcessKill)
        );
        assert_eq!(
            Config::from_toml("durability = \"power-cut\"")
                .map(|c| c.durability)
                .ok(),
            Some(Durability::PowerCut)
        );
        // A misspelt level is refused, naming what was wrong.
        let e = Config::from_toml("durability = \"powercut\"").unwrap_err();
        assert!(e.to_string().contains("powercut"), "{e}");
        // The keys durability replaced are refused with the new key's name.
        for old in ["fsync = true", "fsync = false", "inline_sync = true"] {
            let e = Config::from_toml(old).unwrap_err().to_string();
            assert!(e.contains("durability"), "{old}: {e}");
        }
        assert_eq!(Config::from_toml("").map(|c| c.repoll).ok(), Some(true));
        assert_eq!(
            Config::from_toml("repoll = false").map(|c| c.repoll).ok(),
            Some(false)
        );
    }
}
