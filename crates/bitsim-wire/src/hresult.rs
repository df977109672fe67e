//! The HRESULTs an upload server sends in `BITS-Error-Code`, taken from
//! `bitsim_model::Hresult` so that both ends and the model agree on every
//! number.
//!
//! The \[MC-BUP\] 2.2.1.2 error table:
//!
//! | HRESULT | HTTP | when |
//! |---|---|---|
//! | [`BG_E_SESSION_NOT_FOUND`] | 500 | the session is unknown to the server |
//! | [`E_ACCESSDENIED`] | 403 / 501 | destination exists and cannot be overwritten, or the client is not allowed / uploads are off |
//! | 0 | 416 | client and server out of sync (`BITS-Received-Content-Range` says where) |
//! | [`E_INVALIDARG`] | 400 | a header does not satisfy the message rules |
//! | [`BG_E_TOO_LARGE`] | 500 | the upload is larger than the server accepts |
//! | [`DISK_FULL`] | 500 | the server is out of disk space |
//!
//! [`DISK_FULL`] is the spec's literal `x80070112`, not
//! `HRESULT_FROM_WIN32(ERROR_DISK_FULL)` = 0x80070070 (see
//! [`Hresult::MCBUP_E_DISK_FULL`]). \[MC-BUP\] 3.3.6 reuses it, with
//! context 0x7 and HTTP 408, when the server application does not answer.

pub use bitsim_model::Hresult;

/// `E_INVALIDARG` (0x80070057): bad header values, unknown packet,
/// header over 4 KB, missing `Content-Length`, no common protocol.
// [MC-BUP] 2.2.1.2.
pub const E_INVALIDARG: Hresult = Hresult::E_INVALIDARG;
/// `E_ACCESSDENIED` (0x80070005): the destination exists and overwrites
/// are off, or the client may not upload there.
// [MC-BUP] 2.2.1.2.
pub const E_ACCESSDENIED: Hresult = Hresult::E_ACCESSDENIED;
/// `BG_E_SESSION_NOT_FOUND` (0x8020001F): unknown or expired session;
/// the client starts over with Create-Session.
// [MC-BUP] 2.2.1.2 and 3.1.5.2.1.
pub const BG_E_SESSION_NOT_FOUND: Hresult = Hresult::BG_E_SESSION_NOT_FOUND;
/// `BG_E_TOO_LARGE` (0x80200020): the upload is bigger than the server
/// accepts.
// [MC-BUP] 2.2.1.2 and 3.1.5.2.1.
pub const BG_E_TOO_LARGE: Hresult = Hresult::BG_E_TOO_LARGE;
/// The server is out of disk space (0x80070112, the spec's value), or
/// (context 0x7, HTTP 408) its application timed out.
// [MC-BUP] 2.2.1.2 and 3.3.6.
pub const DISK_FULL: Hresult = Hresult::MCBUP_E_DISK_FULL;
/// `HRESULT_FROM_WIN32(ERROR_TOO_MANY_SESS)` (0x80070045): bitsim's
/// answer when a client holds too many sessions (\[MC-BUP\] gives no code).
pub const E_TOO_MANY_SESS: Hresult = Hresult::E_TOO_MANY_SESS;
/// `E_FAIL` (0x80004005): any other server failure.
pub const E_FAIL: Hresult = Hresult::E_FAIL;

/// `BG_E_HTTP_ERROR_<status>` = 0x80190000 + status: what a client
/// reports for a refusal that carries no `BITS-Error-Code`, and the code a
/// server sends for a status it passes through (\[RETVALS\], the BITS
/// return values page).
pub const fn http(status: u16) -> Hresult {
    Hresult::http(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_the_spec_table() {
        assert_eq!(E_INVALIDARG.0, 0x8007_0057);
        assert_eq!(E_ACCESSDENIED.0, 0x8007_0005);
        assert_eq!(BG_E_SESSION_NOT_FOUND.0, 0x8020_001F);
        assert_eq!(BG_E_TOO_LARGE.0, 0x8020_0020);
        assert_eq!(DISK_FULL.0, 0x8007_0112);
        assert_ne!(DISK_FULL, Hresult::E_DISK_FULL);
        assert_eq!(http(503).0, 0x8019_01F7);
        assert_eq!(DISK_FULL.name().as_deref(), Some("MCBUP_E_DISK_FULL"));
    }
}
