//! The crate's error type: every protocol failure carries the HTTP status,
//! the HRESULT sent in `BITS-Error-Code` and the `BITS-Error-Context`.

use http::StatusCode;

// The numbers come from `bitsim-wire` (and through it from
// `bitsim_model::Hresult`), so that server, client and model agree.
use bitsim_wire::hresult as hr;

/// `E_INVALIDARG`: bad range, unknown packet, header too big, missing
/// Content-Length, no common protocol.
// [MC-BUP] 2.2.1.2 error table.
pub const E_INVALIDARG: u32 = hr::E_INVALIDARG.0;
/// `E_ACCESSDENIED`: destination exists and overwrites are off, or the
/// caller is not allowed.
// [MC-BUP] 2.2.1.2 error table.
pub const E_ACCESSDENIED: u32 = hr::E_ACCESSDENIED.0;
/// `BG_E_SESSION_NOT_FOUND`: unknown or expired `BITS-Session-Id`.
// [MC-BUP] 2.2.1.2 error table.
pub const BG_E_SESSION_NOT_FOUND: u32 = hr::BG_E_SESSION_NOT_FOUND.0;
/// `BG_E_TOO_LARGE`: the upload is bigger than the server accepts.
// [MC-BUP] 2.2.1.2 error table.
pub const BG_E_TOO_LARGE: u32 = hr::BG_E_TOO_LARGE.0;
/// The server is out of disk space: 0x80070112, the value the \[MC-BUP\]
/// 2.2.1.2 table gives for `ERROR_DISK_FULL` (not
/// `HRESULT_FROM_WIN32(ERROR_DISK_FULL)` = 0x80070070; see
/// `bitsim_model::Hresult::MCBUP_E_DISK_FULL`); \[MC-BUP\] 3.3.6 reuses it
/// for a server application that timed out (context 0x7).
pub const E_DISK_FULL: u32 = hr::DISK_FULL.0;
/// `HRESULT_FROM_WIN32(ERROR_TOO_MANY_SESS)`: the per-client session cap is
/// reached. Not in \[MC-BUP\]; chosen by bitsim (see README).
pub const E_TOO_MANY_SESSIONS: u32 = hr::E_TOO_MANY_SESS.0;
/// `E_FAIL`: generic failure (I/O errors other than disk full, back-end
/// connection failures).
pub const E_FAIL: u32 = hr::E_FAIL.0;
/// `BG_E_HTTP_ERROR_xxx` base: `0x80190000 + status` (\[RETVALS\]).
pub const BG_E_HTTP_ERROR_BASE: u32 = hr::http(0).0;

/// `BITS-Error-Context` 0x5: error in BITS server processing
/// (`BG_ERROR_CONTEXT_REMOTE_FILE`).
// [MC-BUP] 2.2.1.2; [BGCTX].
pub const CONTEXT_SERVER: u32 = bitsim_wire::header::CONTEXT_SERVER;
/// `BITS-Error-Context` 0x7: error from the server application
/// (`BG_ERROR_CONTEXT_REMOTE_APPLICATION`).
// [MC-BUP] 2.2.1.2; [BGCTX].
pub const CONTEXT_REMOTE_APPLICATION: u32 = bitsim_wire::header::CONTEXT_REMOTE_APPLICATION;

/// Everything that can go wrong in the server.
///
/// [`Error::Protocol`] is what a request handler returns; it maps 1:1 to
/// an Ack with `BITS-Error-Code` and `BITS-Error-Context`. The other
/// variants are start-up and I/O failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A BITS protocol error answered to the client.
    #[error("HTTP {status}: {message} (BITS-Error-Code 0x{hresult:08X}, context 0x{context:X})")]
    Protocol {
        /// HTTP status of the Ack.
        status: StatusCode,
        /// HRESULT sent as `BITS-Error-Code`.
        hresult: u32,
        /// Value sent as `BITS-Error-Context`.
        context: u32,
        /// Human-readable explanation: logged, and sent in the
        /// `X-Bitsim-Reason` header (never as a body: an Ack has none).
        message: String,
    },
    /// A request path that would escape `--root` or is otherwise refused.
    #[error("refused path {path:?}: {reason}")]
    BadPath {
        /// The path as received (lossy).
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A fault rule that could never match or never do anything (see
    /// [`FaultRule::validate`](crate::faults::FaultRule::validate)); the
    /// control API answers it with 400 and this reason.
    #[error("invalid fault rule: {0}")]
    InvalidFault(String),
    /// The configuration file could not be read or parsed.
    #[error("configuration: {0}")]
    Config(String),
    /// The listening socket could not be bound (address in use, no
    /// permission, an address not on this host).
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why not.
        error: std::io::Error,
    },
    /// An I/O error outside a request (loading state, TLS files).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Builds a protocol error with context [`CONTEXT_SERVER`].
    pub fn protocol(status: StatusCode, hresult: u32, message: impl Into<String>) -> Self {
        Error::Protocol {
            status,
            hresult,
            context: CONTEXT_SERVER,
            message: message.into(),
        }
    }

    /// 400 + `E_INVALIDARG`.
    pub fn invalid_arg(message: impl Into<String>) -> Self {
        Self::protocol(StatusCode::BAD_REQUEST, E_INVALIDARG, message)
    }

    /// 500 + `BG_E_SESSION_NOT_FOUND`.
    pub fn session_not_found(id: &str) -> Self {
        Self::protocol(
            StatusCode::INTERNAL_SERVER_ERROR,
            BG_E_SESSION_NOT_FOUND,
            format!("session {id:?} not found"),
        )
    }

    /// Maps an I/O error inside a request to 500 + disk full or `E_FAIL`.
    pub fn from_io(err: &std::io::Error) -> Self {
        // ENOSPC (28) / EDQUOT (122) → disk full. [MC-BUP] 2.2.1.2: 500 + 0x80070112.
        let full = matches!(err.raw_os_error(), Some(28) | Some(122))
            || err.kind() == std::io::ErrorKind::StorageFull;
        if full {
            Self::protocol(StatusCode::INTERNAL_SERVER_ERROR, E_DISK_FULL, "disk full")
        } else {
            Self::protocol(
                StatusCode::INTERNAL_SERVER_ERROR,
                E_FAIL,
                format!("I/O error: {err}"),
            )
        }
    }

    /// Why the request was refused, in words, without the status and
    /// codes (which have their own headers); sent as `X-Bitsim-Reason`.
    pub fn reason(&self) -> String {
        match self {
            Error::Protocol { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Protocol { status, .. } => *status,
            Error::BadPath { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The HRESULT sent in `BITS-Error-Code`.
    pub fn hresult(&self) -> u32 {
        match self {
            Error::Protocol { hresult, .. } => *hresult,
            Error::BadPath { .. } => E_INVALIDARG,
            _ => E_FAIL,
        }
    }

    /// The value sent in `BITS-Error-Context`.
    pub fn context(&self) -> u32 {
        match self {
            Error::Protocol { context, .. } => *context,
            _ => CONTEXT_SERVER,
        }
    }
}

impl From<bitsim_wire::Error> for Error {
    /// A request the wire rules refuse: 400 + `E_INVALIDARG`
    /// (\[MC-BUP\] 2.2.1.2), with the wire's reason.
    fn from(e: bitsim_wire::Error) -> Self {
        Error::invalid_arg(e.reason)
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
