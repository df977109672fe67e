//! Transient versus fatal: which errors BITS retries by itself.

use crate::hresult::Hresult;
use crate::types::ErrorContext;
use serde::{Deserialize, Serialize};

/// How the model treats an error reported by the transport \[BP\] \[LC-OLD\].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// May clear by itself: TRANSIENT_ERROR, retried after the retry delay.
    Transient,
    /// Needs the app: ERROR, JobError.
    Fatal,
}

/// The HTTP status rule of \[SRVAPPERR\], which the model applies to every
/// HTTP status (decision A5): 3xx transient except 300-305 and 307; 4xx
/// fatal except 408 and 409; 5xx transient except 501 and 505; anything
/// else transient. 200 is success and never reaches here.
pub fn classify_http(status: u16) -> ErrorClass {
    match status {
        300..=305 | 307 => ErrorClass::Fatal,
        300..=399 => ErrorClass::Transient,
        408 | 409 => ErrorClass::Transient,
        400..=499 => ErrorClass::Fatal,
        501 | 505 => ErrorClass::Fatal,
        _ => ErrorClass::Transient,
    }
}

/// Classifies a transport error.
///
/// * `BG_E_HTTP_ERROR_xxx` → [`classify_http`] \[SRVAPPERR\] (decision A5).
/// * Fatal by documentation: `BG_E_INSUFFICIENT_RANGE_SUPPORT` (reaches
///   JobError in Microsoft's sample \[CB\] \[BP\]), `BG_E_INVALID_SERVER_RESPONSE`
///   and `BG_E_INVALID_RANGE` \[ADDRANGES\], `BG_E_TOKEN_REQUIRED` \[LC\],
///   `BG_E_MISSING_FILE_SIZE` (the request fails \[HTTPREQ\]),
///   `BG_E_LOCAL_FILE_CHANGED` \[ADDFILE\], `BG_E_REMOTE_FILE_CHANGED` ("Resume
///   to retry" \[RETVALS\]), `BG_E_TOO_LARGE`, `BG_E_VALIDATION_FAILED`,
///   `E_ACCESSDENIED`, `E_FILE_NOT_FOUND_WIN32` and `E_INVALIDARG`.
/// * Fatal: the server certificate failures. \[SECFLAGS\] puts the job in
///   the fatal error state for a revoked certificate; for an expired one,
///   one naming another host, one from an unknown CA and any other
///   TLS failure (\[WINHTTP-ERR\] codes) the documentation is silent, and
///   bitsim treats them the same way (decision A29): none clears by itself
///   within a retry delay, and BITS's own remedy is an application action
///   (SetSecurityFlags to ignore the error, or trusting the CA).
/// * Everything else (connection failures, resets, timeouts, name
///   resolution, disk full, session lost) is transient: "may clear by itself"
///   \[BP\] (decision A5).
pub fn classify(code: Hresult, _context: ErrorContext) -> ErrorClass {
    if let Some(status) = code.http_status() {
        return classify_http(status);
    }
    match code {
        Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT
        | Hresult::BG_E_INVALID_SERVER_RESPONSE
        | Hresult::BG_E_INVALID_RANGE
        | Hresult::BG_E_TOKEN_REQUIRED
        | Hresult::BG_E_MISSING_FILE_SIZE
        | Hresult::BG_E_LOCAL_FILE_CHANGED
        | Hresult::BG_E_REMOTE_FILE_CHANGED
        | Hresult::BG_E_TOO_LARGE
        | Hresult::BG_E_VALIDATION_FAILED
        | Hresult::E_ACCESSDENIED
        | Hresult::E_FILE_NOT_FOUND_WIN32
        | Hresult::E_INVALIDARG
        | Hresult::WINHTTP_E_SECURE_CERT_DATE_INVALID
        | Hresult::WINHTTP_E_SECURE_CERT_CN_INVALID
        | Hresult::WINHTTP_E_SECURE_INVALID_CA
        | Hresult::WINHTTP_E_SECURE_CERT_REVOKED
        | Hresult::WINHTTP_E_SECURE_FAILURE => ErrorClass::Fatal,
        _ => ErrorClass::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_table_of_srvapperr() {
        use ErrorClass::*;
        for (s, c) in [
            (300, Fatal),
            (305, Fatal),
            (306, Transient),
            (307, Fatal),
            (308, Transient),
            (400, Fatal),
            (403, Fatal),
            (404, Fatal),
            (408, Transient),
            (409, Transient),
            (410, Fatal),
            (500, Transient),
            (501, Fatal),
            (503, Transient),
            (504, Transient),
            (505, Fatal),
            (600, Transient),
            (100, Transient),
        ] {
            assert_eq!(classify_http(s), c, "status {s}");
            assert_eq!(
                classify(Hresult::http(s), ErrorContext::RemoteFile),
                c,
                "status {s}"
            );
        }
    }

    #[test]
    fn a29_certificate_failures_are_fatal() {
        for code in [
            Hresult::WINHTTP_E_SECURE_CERT_DATE_INVALID,
            Hresult::WINHTTP_E_SECURE_CERT_CN_INVALID,
            Hresult::WINHTTP_E_SECURE_INVALID_CA,
            Hresult::WINHTTP_E_SECURE_CERT_REVOKED,
            Hresult::WINHTTP_E_SECURE_FAILURE,
        ] {
            // HRESULT_FROM_WIN32 of the WinHTTP code [WINHTTP-ERR].
            assert_eq!(code.0 & 0xFFFF_0000, 0x8007_0000, "{code:?}");
            assert!((12_000..13_000).contains(&(code.0 & 0xFFFF)), "{code:?}");
            assert_eq!(
                classify(code, ErrorContext::GeneralTransport),
                ErrorClass::Fatal,
                "{code:?}"
            );
        }
    }

    #[test]
    fn documented_fatal_and_transient_codes() {
        let ctx = ErrorContext::RemoteFile;
        assert_eq!(
            classify(Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT, ctx),
            ErrorClass::Fatal
        );
        assert_eq!(
            classify(Hresult::BG_E_CONNECT_FAILURE, ctx),
            ErrorClass::Transient
        );
        assert_eq!(
            classify(Hresult::WININET_E_NAME_NOT_RESOLVED, ctx),
            ErrorClass::Transient
        );
        assert_eq!(
            classify(Hresult::E_DISK_FULL, ErrorContext::LocalFile),
            ErrorClass::Transient
        );
    }
}
