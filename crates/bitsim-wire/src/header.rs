//! Header names (lower case, as `http::HeaderName` wants them) and the
//! values an Ack carries.
//!
//! HTTP header names are case-insensitive (RFC 9110 5.1); these constants
//! are the lower-case spelling, so they can be used as `http` header names
//! and compared with `eq_ignore_ascii_case`.

use bitsim_model::{ErrorContext, Hresult};

use crate::parse_u64;

/// `BITS-Packet-Type` on every request and response (\[MC-BUP\] 2.2.1.2).
pub const PACKET_TYPE: &str = "bits-packet-type";
/// `BITS-Session-Id` (\[MC-BUP\] 2.2.1.2).
pub const SESSION_ID: &str = "bits-session-id";
/// `BITS-Supported-Protocols` on Create-Session (\[MC-BUP\] 2.2.2.2).
pub const SUPPORTED_PROTOCOLS: &str = "bits-supported-protocols";
/// `BITS-Protocol` on the Create-Session Ack (\[MC-BUP\] 2.2.3.2).
pub const PROTOCOL: &str = "bits-protocol";
/// `BITS-Received-Content-Range` on a Fragment Ack (\[MC-BUP\] 2.2.7.2).
pub const RECEIVED_CONTENT_RANGE: &str = "bits-received-content-range";
/// `BITS-Reply-URL` on the last Fragment Ack of an upload-reply
/// (\[MC-BUP\] 2.2.7.2).
pub const REPLY_URL: &str = "bits-reply-url";
/// `BITS-Error` as \[MC-BUP\] 2.2.1.2 names it.
pub const ERROR: &str = "bits-error";
/// `BITS-Error-Code` as Windows sends it (\[W32-ACK*\], the Ack pages of
/// the BITS server documentation); same meaning as [`ERROR`].
pub const ERROR_CODE: &str = "bits-error-code";
/// `BITS-Error-Context` (\[MC-BUP\] 2.2.1.2).
pub const ERROR_CONTEXT: &str = "bits-error-context";
/// `BITS-Host-Id` on the Create-Session Ack (\[MC-BUP\] 2.2.3.2).
pub const HOST_ID: &str = "bits-host-id";
/// `BITS-Host-Id-Fallback-Timeout` (\[MC-BUP\] 2.2.3.2).
pub const HOST_ID_FALLBACK_TIMEOUT: &str = "bits-host-id-fallback-timeout";
/// `BITS-Original-Request-URL` of a notification (\[MC-BUP\] 2.2.12.2).
pub const ORIGINAL_REQUEST_URL: &str = "bits-original-request-url";
/// `BITS-Request-DataFile-Name` of a notification by reference
/// (\[MC-BUP\] 2.2.12.2).
pub const REQUEST_DATAFILE_NAME: &str = "bits-request-datafile-name";
/// `BITS-Response-DataFile-Name` of a notification by reference
/// (\[MC-BUP\] 2.2.12.2).
pub const RESPONSE_DATAFILE_NAME: &str = "bits-response-datafile-name";
/// `BITS-Static-Response-URL` of a notification answer (\[MC-BUP\] 2.2.13.2).
pub const STATIC_RESPONSE_URL: &str = "bits-static-response-url";
/// `BITS-Copy-File-To-Destination` of a notification answer
/// (\[MC-BUP\] 2.2.13.2).
pub const COPY_FILE_TO_DESTINATION: &str = "bits-copy-file-to-destination";
/// `Content-Name` on a Fragment: the client's file name (\[MC-BUP\] 2.2.6.2).
pub const CONTENT_NAME: &str = "content-name";
/// `X-Http-Method-Override`: `POST` carrying `BITS_POST` through proxies
/// that refuse unknown methods (the OneDrive BITS upload API).
pub const METHOD_OVERRIDE: &str = "x-http-method-override";

/// `BITS-Error-Context` 0x5: the server failed processing the packet
/// (`CONTEXT_SERVER`, the client's `BG_ERROR_CONTEXT_REMOTE_FILE`).
// [MC-BUP] 2.2.1.2; [BGCTX] BG_ERROR_CONTEXT.
pub const CONTEXT_SERVER: u32 = ErrorContext::RemoteFile.as_u32();
/// `BITS-Error-Context` 0x7: the server application failed
/// (`CONTEXT_REMOTE_APPLICATION`, `BG_ERROR_CONTEXT_REMOTE_APPLICATION`).
// [MC-BUP] 2.2.1.2; [BGCTX] BG_ERROR_CONTEXT.
pub const CONTEXT_REMOTE_APPLICATION: u32 = ErrorContext::RemoteApplication.as_u32();

/// Parses `BITS-Received-Content-Range`: the next byte the server
/// expects, a bare decimal. `None` if it is anything else.
// [MC-BUP] 2.2.7.2: "the start offset of the next fragment message that
// the client MUST send", e.g. 213 after the range 128-212.
pub fn parse_received_content_range(value: &[u8]) -> Option<u64> {
    parse_u64(std::str::from_utf8(value).ok()?.trim())
}

/// Formats an HRESULT for `BITS-Error-Code`: `0x` and eight upper-case
/// hex digits.
// [MC-BUP] 2.2.1.2 and [W32-ACK*]: "a hexadecimal number that represents
// an HRESULT value".
pub fn format_hresult(code: Hresult) -> String {
    format!("0x{:08X}", code.0)
}

/// Formats a `BITS-Error-Context` value (`0x5`, `0x7`).
// [MC-BUP] 2.2.1.2: "a hexadecimal number".
pub fn format_context(context: u32) -> String {
    format!("0x{context:X}")
}

fn parse_number(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) if !h.is_empty() && h.len() <= 8 => u32::from_str_radix(h, 16).ok(),
        Some(_) => None,
        // The spec prints "x8020001F" in its tables ([MC-BUP] 2.2.1.2).
        None => match s.strip_prefix('x').or_else(|| s.strip_prefix('X')) {
            Some(h) if !h.is_empty() && h.len() <= 8 => u32::from_str_radix(h, 16).ok(),
            Some(_) => None,
            None => s.parse().ok(),
        },
    }
}

/// Parses a `BITS-Error-Code` (or `BITS-Error`) value: `0x8020001F`,
/// `x8020001F` or a decimal. `None` if it is none of these.
pub fn parse_error_code(value: &str) -> Option<Hresult> {
    parse_number(value).map(Hresult)
}

/// Parses a `BITS-Error-Context` value into the client's error context:
/// 0x7 is `REMOTE_APPLICATION`, anything else the server sends is
/// `REMOTE_FILE`.
// [MC-BUP] 2.2.1.2: CONTEXT_SERVER (0x5) or CONTEXT_REMOTE_APPLICATION
// (0x7); [SRVAPPERR]: errors of the server application are reported with
// BG_ERROR_CONTEXT_REMOTE_APPLICATION.
pub fn parse_error_context(value: Option<&str>) -> ErrorContext {
    match value.and_then(parse_number) {
        Some(CONTEXT_REMOTE_APPLICATION) => ErrorContext::RemoteApplication,
        _ => ErrorContext::RemoteFile,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_content_range_is_a_bare_decimal() {
        assert_eq!(parse_received_content_range(b"213"), Some(213));
        assert_eq!(parse_received_content_range(b" 0 "), Some(0));
        assert_eq!(parse_received_content_range(b"-1"), None);
        assert_eq!(parse_received_content_range(b"bytes 0-1/2"), None);
        assert_eq!(parse_received_content_range(b""), None);
        assert_eq!(parse_received_content_range(b"\xff"), None);
    }

    #[test]
    fn error_codes_round_trip() {
        let h = Hresult::BG_E_SESSION_NOT_FOUND;
        assert_eq!(format_hresult(h), "0x8020001F");
        assert_eq!(parse_error_code(&format_hresult(h)), Some(h));
        assert_eq!(parse_error_code("x8020001f"), Some(h));
        assert_eq!(parse_error_code("2149580831"), Some(h));
        assert_eq!(parse_error_code("0x"), None);
        assert_eq!(parse_error_code("0x123456789"), None);
        assert_eq!(parse_error_code("junk"), None);
        assert_eq!(format_context(CONTEXT_SERVER), "0x5");
        assert_eq!(CONTEXT_REMOTE_APPLICATION, 7);
    }

    #[test]
    fn contexts() {
        assert_eq!(
            parse_error_context(Some("0x7")),
            ErrorContext::RemoteApplication
        );
        assert_eq!(parse_error_context(Some("0x5")), ErrorContext::RemoteFile);
        assert_eq!(parse_error_context(None), ErrorContext::RemoteFile);
    }
}
