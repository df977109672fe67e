//! HRESULT values BITS returns and reports, with their names and messages.
//!
//! Values come from the BITS return-values page \[RETVALS\] and the SDK
//! header `bitsmsg.h` \[BITSMSG\], cross-checked with the `windows` crate
//! constants \[WINRS\].

use serde::{Deserialize, Serialize};
use std::fmt;

/// A Windows `HRESULT`, kept as the raw 32-bit value BITS uses.
///
/// Success codes have the top bit clear (`S_OK`, `BG_S_PARTIAL_COMPLETE`);
/// failures have it set. [`Hresult::name`] and [`Hresult::message`] look the
/// value up in [`HRESULT_TABLE`].
///
/// Serialized as the number (persisted queues stay compact); read from a
/// number or from any text [`Hresult::parse`] takes. [`text`] serializes
/// it as its name instead, for files people read.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Hresult(pub u32);

/// The forms an HRESULT may be written in, for error messages.
pub const HRESULT_FORMS: &str = "a name such as E_FAIL, BG_E_INVALID_STATE or \
     BG_E_HTTP_ERROR_404, or a number such as 0x80004005 or -2147467259";

impl std::str::FromStr for Hresult {
    type Err = crate::ParseNameError;
    /// [`Hresult::parse`], with an error naming the value and the forms.
    fn from_str(s: &str) -> Result<Hresult, crate::ParseNameError> {
        Hresult::parse(s).ok_or_else(|| crate::ParseNameError {
            what: "HRESULT",
            value: s.to_owned(),
            allowed: HRESULT_FORMS.into(),
        })
    }
}

impl<'de> Deserialize<'de> for Hresult {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hresult, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Hresult;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an HRESULT: {HRESULT_FORMS}")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Hresult, E> {
                u32::try_from(v)
                    .map(Hresult)
                    .map_err(|_| E::custom(format!("HRESULT {v} does not fit in 32 bits")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Hresult, E> {
                i32::try_from(v)
                    .map(Hresult::from_i32)
                    .or_else(|_| u32::try_from(v).map(Hresult))
                    .map_err(|_| E::custom(format!("HRESULT {v} does not fit in 32 bits")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Hresult, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// `#[serde(with = "bitsim_model::hresult::text")]`: an HRESULT written as
/// its name (`BG_E_HTTP_ERROR_404`) or, without one, as hex
/// (`0x80071234`); read back from any form [`Hresult`] reads.
pub mod text {
    use super::Hresult;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the name, or `0x` and eight hex digits.
    pub fn serialize<S: Serializer>(h: &Hresult, s: S) -> Result<S::Ok, S::Error> {
        match h.name() {
            Some(n) => s.serialize_str(&n),
            None => s.collect_str(&format_args!("0x{:08X}", h.0)),
        }
    }

    /// Reads a name, hex or a number.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hresult, D::Error> {
        Hresult::deserialize(d)
    }

    /// The same for `Option<Hresult>`.
    pub mod option {
        use super::Hresult;
        use serde::{Deserialize, Deserializer, Serializer};

        /// Writes the name or hex; `None` is skipped by the caller.
        pub fn serialize<S: Serializer>(h: &Option<Hresult>, s: S) -> Result<S::Ok, S::Error> {
            match h {
                Some(h) => super::serialize(h, s),
                None => s.serialize_none(),
            }
        }

        /// Reads a name, hex or a number.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Hresult>, D::Error> {
            Option::<Hresult>::deserialize(d)
        }
    }
}

/// One row of [`HRESULT_TABLE`]: name, value and the meaning BITS documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HresultInfo {
    /// The SDK name, e.g. `BG_E_INVALID_STATE`.
    pub name: &'static str,
    /// The value.
    pub value: Hresult,
    /// A short message (paraphrased from \[RETVALS\] / `bitsmsg.h`).
    pub message: &'static str,
}

macro_rules! hresults {
    ($( $(#[$doc:meta])* $name:ident = $value:literal, $msg:literal; )*) => {
        impl Hresult {
            $( $(#[$doc])* pub const $name: Hresult = Hresult($value); )*
        }
        /// Every HRESULT that the model knows by name,
        /// in table order. `BG_E_HTTP_ERROR_xxx` is computed by
        /// [`Hresult::http`] and named by [`Hresult::name`].
        pub const HRESULT_TABLE: &[HresultInfo] = &[
            $( HresultInfo { name: stringify!($name), value: Hresult($value), message: $msg }, )*
        ];
    };
}

hresults! {
    /// The operation succeeded.
    S_OK = 0x0000_0000, "The operation completed successfully.";
    /// `S_FALSE`: success, but nothing to return.
    S_FALSE = 0x0000_0001, "The operation succeeded but returned no data.";
    /// Complete kept only some of the files \[COMPLETE\].
    BG_S_PARTIAL_COMPLETE = 0x0020_0017, "Some of the transferred files were deleted because they were incomplete.";
    /// Complete/Cancel succeeded but some temporary files remain \[CANCEL\].
    BG_S_UNABLE_TO_DELETE_FILES = 0x0020_001A, "The job was completed or cancelled, but some temporary files could not be deleted.";
    /// The proxy settings changed.
    BG_S_PROXY_CHANGED = 0x0020_002A, "The proxy server was changed.";
    /// The setting was saved but a group policy overrides it.
    BG_S_OVERRIDDEN_BY_POLICY = 0x0020_0055, "The setting was saved, but a group policy overrides it.";
    /// GetJob: no such job \[GETJOB\].
    BG_E_NOT_FOUND = 0x8020_0001, "The requested job was not found.";
    /// The call is not allowed in the job's current state.
    BG_E_INVALID_STATE = 0x8020_0002, "The requested action is not allowed in the current job state.";
    /// Resume on a job that has no files \[RESUME\].
    BG_E_EMPTY = 0x8020_0003, "There are no files attached to this job.";
    /// The error is not tied to a file \[ERR-GETFILE\].
    BG_E_FILE_NOT_AVAILABLE = 0x8020_0004, "No file is available because no URL generated an error.";
    /// The error is not tied to a protocol \[ERR-GETPROTO\].
    BG_E_PROTOCOL_NOT_AVAILABLE = 0x8020_0005, "No protocol is available because no URL generated an error.";
    /// The destination volume is locked (chkdsk); retried when it frees.
    BG_E_DESTINATION_LOCKED = 0x8020_000D, "The destination volume is locked.";
    /// Removable media was swapped.
    BG_E_VOLUME_CHANGED = 0x8020_000E, "The destination volume changed.";
    /// GetError when no error is recorded \[GETERROR\].
    BG_E_ERROR_INFORMATION_UNAVAILABLE = 0x8020_000F, "No errors have occurred.";
    /// No network connection; all jobs go to TRANSIENT_ERROR \[USERS\].
    BG_E_NETWORK_DISCONNECTED = 0x8020_0010, "There are currently no active network connections.";
    /// The server did not return a file size \[HTTPREQ\].
    BG_E_MISSING_FILE_SIZE = 0x8020_0011, "The server did not return the file size.";
    /// The server is not HTTP/1.1.
    BG_E_INSUFFICIENT_HTTP_SUPPORT = 0x8020_0012, "The server does not support HTTP 1.1.";
    /// The server does not support ranges.
    BG_E_INSUFFICIENT_RANGE_SUPPORT = 0x8020_0013, "The server does not support the necessary HTTP protocol (Range requests).";
    /// Remote use is not supported.
    BG_E_REMOTE_NOT_SUPPORTED = 0x8020_0014, "Remote use of BITS is not supported.";
    /// TakeOwnership: drive mapping differs.
    BG_E_NEW_OWNER_DIFF_MAPPING = 0x8020_0015, "The drive mapping for the job differs for the new owner.";
    /// TakeOwnership: no access to the temporary files.
    BG_E_NEW_OWNER_NO_FILE_ACCESS = 0x8020_0016, "The new owner cannot access the job's temporary files.";
    /// The server's response was not valid.
    BG_E_INVALID_SERVER_RESPONSE = 0x8020_001B, "The server's response was not valid.";
    /// A second file on an upload job \[ADDFILE\].
    BG_E_TOO_MANY_FILES = 0x8020_001C, "Upload jobs can contain only one file.";
    /// The upload source changed during the transfer \[ADDFILE\].
    BG_E_LOCAL_FILE_CHANGED = 0x8020_001D, "The local file changed during the transfer.";
    /// The server lost the upload session \[MC-BUP\].
    BG_E_SESSION_NOT_FOUND = 0x8020_001F, "The upload session could not be found on the server.";
    /// Upload too large for the server / reply over 1 MB in GetReplyData.
    BG_E_TOO_LARGE = 0x8020_0020, "The upload file is too large for the server, or the reply is too large for GetReplyData.";
    /// A string argument is too long.
    BG_E_STRING_TOO_LONG = 0x8020_0021, "The string is too long.";
    /// No progress was made.
    BG_E_NO_PROGRESS = 0x8020_0024, "The job is not making progress.";
    /// Invalid authentication target.
    BG_E_INVALID_AUTH_TARGET = 0x8020_0027, "The authentication target is not valid.";
    /// Invalid authentication scheme.
    BG_E_INVALID_AUTH_SCHEME = 0x8020_0028, "The authentication scheme is not valid.";
    /// File not found.
    BG_E_FILE_NOT_FOUND = 0x8020_0029, "The file was not found.";
    /// A requested range is not valid.
    BG_E_INVALID_RANGE = 0x8020_002B, "A requested byte range is not valid.";
    /// Requested ranges overlap \[ADDRANGES\].
    BG_E_OVERLAPPING_RANGES = 0x8020_002C, "The requested byte ranges overlap.";
    /// Could not connect to the server.
    BG_E_CONNECT_FAILURE = 0x8020_002D, "The connection to the server failed.";
    /// The connection was closed.
    BG_E_CONNECTION_CLOSED = 0x8020_002E, "The connection was closed.";
    /// MaxInternetBandwidth policy is 0 \[GP\].
    BG_E_BLOCKED_BY_POLICY = 0x8020_003E, "Group policy blocks background transfers at this time.";
    /// Invalid proxy information.
    BG_E_INVALID_PROXY_INFO = 0x8020_003F, "The proxy information is not valid.";
    /// Invalid credentials.
    BG_E_INVALID_CREDENTIALS = 0x8020_0040, "The credentials are not valid.";
    /// CreateJob over MaxJobsPerUser \[CREATEJOB\].
    BG_E_TOO_MANY_JOBS_PER_USER = 0x8020_0049, "The user has too many jobs (MaxJobsPerUser).";
    /// CreateJob over MaxJobsPerMachine \[CREATEJOB\].
    BG_E_TOO_MANY_JOBS_PER_MACHINE = 0x8020_0050, "The machine has too many jobs (MaxJobsPerMachine).";
    /// AddFile over MaxFilesPerJob \[ADDFILE\].
    BG_E_TOO_MANY_FILES_IN_JOB = 0x8020_0051, "The job has too many files (MaxFilesPerJob).";
    /// AddFileWithRanges over MaxRangesPerFile \[ADDRANGES\].
    BG_E_TOO_MANY_RANGES_IN_FILE = 0x8020_0052, "The file has too many ranges (MaxRangesPerFile).";
    /// Content validation failed \[JOBXFER\].
    BG_E_VALIDATION_FAILED = 0x8020_0053, "The file content failed validation.";
    /// MaximumDownloadTime exceeded \[SETMAXDL\].
    BG_E_MAXDOWNLOAD_TIMEOUT = 0x8020_0054, "The job exceeded its maximum download time.";
    /// A helper token is required.
    BG_E_TOKEN_REQUIRED = 0x8020_0056, "A helper token is required.";
    /// Unknown job property id.
    BG_E_UNKNOWN_PROPERTY_ID = 0x8020_0057, "The property id is unknown.";
    /// Read-only property.
    BG_E_READ_ONLY_PROPERTY = 0x8020_0058, "The property is read-only.";
    /// Metered network policy blocks the transfer.
    BG_E_BLOCKED_BY_COST_TRANSFER_POLICY = 0x8020_0059, "The transfer policy blocks transfers on the current network cost.";
    /// Property is read-only after the first AddFile.
    BG_E_READ_ONLY_PROPERTY_AFTER_ADDFILE = 0x8020_0061, "The property cannot be changed after a file has been added.";
    /// Property is read-only after the first Resume.
    BG_E_READ_ONLY_PROPERTY_AFTER_RESUME = 0x8020_0062, "The property cannot be changed after the job has been resumed.";
    /// The maximum download size was reached.
    BG_E_MAX_DOWNLOAD_SIZE_LIMIT_REACHED = 0x8020_0064, "The maximum download size was reached.";
    /// The machine is in standby.
    BG_E_STANDBY_MODE = 0x8020_0065, "The machine is in standby mode.";
    /// Battery policy blocks the transfer.
    BG_E_BLOCKED_BY_BATTERY_POLICY = 0x8020_0067, "Battery policy blocks background transfers.";
    /// Battery saver blocks the transfer.
    BG_E_BLOCKED_BY_BATTERY_SAVER = 0x8020_0068, "Battery saver blocks background transfers.";
    /// Game mode blocks the transfer.
    BG_E_BLOCKED_BY_GAME_MODE = 0x8020_006F, "Game mode blocks background transfers.";
    /// System policy blocks the transfer.
    BG_E_BLOCKED_BY_SYSTEM_POLICY = 0x8020_0070, "System policy blocks background transfers.";
    /// The server file changed; Resume to retry.
    BG_E_REMOTE_FILE_CHANGED = 0x8020_0073, "The remote file changed during the transfer.";
    /// Call allowed only in SUSPENDED/ERROR/TRANSFERRED.
    BG_E_READ_ONLY_WHEN_JOB_ACTIVE = 0x8020_0075, "The property cannot be changed while the job is active.";
    /// Not implemented: bad flag/priority value, wrong job type.
    E_NOTIMPL = 0x8000_4001, "Not implemented (invalid value, or not supported for this job type).";
    /// Unspecified failure; the typical "callback failed" value.
    E_FAIL = 0x8000_4005, "Unspecified error.";
    /// Catastrophic failure (winerror.h); a value callbacks return too.
    E_UNEXPECTED = 0x8000_FFFF, "Catastrophic failure.";
    /// Access denied: not the owner, not an administrator.
    E_ACCESSDENIED = 0x8007_0005, "Access is denied.";
    /// An argument is not valid.
    E_INVALIDARG = 0x8007_0057, "The parameter is incorrect.";
    /// `HRESULT_FROM_WIN32(ERROR_DISK_FULL)`: `ERROR_DISK_FULL` is 112 =
    /// 0x70 (System Error Codes 0-499,
    /// <https://learn.microsoft.com/en-us/windows/win32/debug/system-error-codes--0-499->),
    /// so the HRESULT is 0x80070070. A local disk that fills up.
    E_DISK_FULL = 0x8007_0070, "There is not enough space on the disk.";
    /// The disk-full code a BITS upload server sends in `BITS-Error`:
    /// \[MC-BUP\] 2.2.1.2 lists "ERROR_DISK_FULL (x80070112)" with HTTP 500,
    /// and 3.3.6 reuses it (context 0x7, HTTP 408) when the server
    /// application does not answer in time. The value is the spec's: it
    /// writes the decimal 112 in hex digits, so it differs from
    /// [`Hresult::E_DISK_FULL`] (0x80070070); a server speaks the spec's
    /// number so that clients comparing against the spec see it. Not an SDK
    /// name.
    MCBUP_E_DISK_FULL = 0x8007_0112, "The upload server is out of disk space, or its application did not answer in time ([MC-BUP] 2.2.1.2, 3.3.6).";
    /// `HRESULT_FROM_WIN32(ERROR_TOO_MANY_SESS)` (69 = 0x45, System Error
    /// Codes 0-499): bitsim's upload server answers it when a client holds
    /// too many open sessions (IIS's `BITSNumberOfSessionsLimit`,
    /// \[W32-IISPROPS\], gives a per-user cap but no code).
    E_TOO_MANY_SESS = 0x8007_0045, "The network BIOS session limit was exceeded (too many upload sessions).";
    /// `HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)`.
    E_FILE_NOT_FOUND_WIN32 = 0x8007_0002, "The system cannot find the file specified.";
    /// WinINet: the server name could not be resolved.
    WININET_E_NAME_NOT_RESOLVED = 0x8007_2EE7, "The server name or address could not be resolved.";
    /// WinINet: the operation timed out.
    WININET_E_TIMEOUT = 0x8007_2EE2, "The operation timed out.";
    /// WinINet: the connection with the server was reset.
    WININET_E_CONNECTION_RESET = 0x8007_2EFF, "The connection with the server was reset.";
    /// WinHTTP `ERROR_WINHTTP_SECURE_CERT_DATE_INVALID` (12037): the server's
    /// certificate has expired or is not yet valid \[WINHTTP-ERR\].
    WINHTTP_E_SECURE_CERT_DATE_INVALID = 0x8007_2F05, "The server certificate has expired or is not yet valid.";
    /// WinHTTP `ERROR_WINHTTP_SECURE_CERT_CN_INVALID` (12038): the server's
    /// certificate does not name the host of the URL \[WINHTTP-ERR\].
    WINHTTP_E_SECURE_CERT_CN_INVALID = 0x8007_2F06, "The server certificate's name does not match the host name.";
    /// WinHTTP `ERROR_WINHTTP_SECURE_INVALID_CA` (12045): the server's
    /// certificate chains to no trusted root \[WINHTTP-ERR\].
    WINHTTP_E_SECURE_INVALID_CA = 0x8007_2F0D, "The server certificate was issued by an unknown certification authority.";
    /// WinHTTP `ERROR_WINHTTP_SECURE_CERT_REVOKED` (12170): the server's
    /// certificate is revoked \[WINHTTP-ERR\].
    WINHTTP_E_SECURE_CERT_REVOKED = 0x8007_2F8A, "The server certificate has been revoked.";
    /// WinHTTP `ERROR_WINHTTP_SECURE_FAILURE` (12175): any other failure of
    /// the TLS handshake or of the server's certificate \[WINHTTP-ERR\].
    WINHTTP_E_SECURE_FAILURE = 0x8007_2F8F, "A security error occurred (TLS handshake or server certificate).";
    /// RPC server unavailable: the callback's process is gone.
    RPC_E_SERVER_UNAVAILABLE = 0x8007_06BA, "The RPC server is unavailable (the callback object is gone).";
}

/// `BG_E_HTTP_ERROR_xxx = 0x80190000 + status` \[RETVALS\].
pub const HTTP_ERROR_BASE: u32 = 0x8019_0000;

impl Hresult {
    /// `BG_E_HTTP_ERROR_<status>`: `0x80190000 + status` \[RETVALS\].
    pub const fn http(status: u16) -> Hresult {
        Hresult(HTTP_ERROR_BASE + status as u32)
    }

    /// The HTTP status this HRESULT captures, if it is a `BG_E_HTTP_ERROR_xxx`.
    pub const fn http_status(self) -> Option<u16> {
        if self.0 >= HTTP_ERROR_BASE + 100 && self.0 < HTTP_ERROR_BASE + 600 {
            Some((self.0 - HTTP_ERROR_BASE) as u16)
        } else {
            None
        }
    }

    /// True for success codes (top bit clear), like the `SUCCEEDED` macro.
    pub const fn is_success(self) -> bool {
        self.0 & 0x8000_0000 == 0
    }

    /// True for failure codes, like the `FAILED` macro.
    pub const fn is_failure(self) -> bool {
        !self.is_success()
    }

    /// The value as the signed `i32` Windows APIs use.
    pub const fn as_i32(self) -> i32 {
        self.0 as i32
    }

    /// From the signed `i32` Windows APIs use.
    pub const fn from_i32(v: i32) -> Hresult {
        Hresult(v as u32)
    }

    fn info(self) -> Option<&'static HresultInfo> {
        HRESULT_TABLE.iter().find(|i| i.value == self)
    }

    /// The SDK name (`BG_E_INVALID_STATE`, `BG_E_HTTP_ERROR_404`), or `None`.
    pub fn name(self) -> Option<std::borrow::Cow<'static, str>> {
        if let Some(i) = self.info() {
            return Some(i.name.into());
        }
        self.http_status()
            .map(|s| format!("BG_E_HTTP_ERROR_{s}").into())
    }

    /// The documented meaning, or a generic text for unknown values.
    pub fn message(self) -> std::borrow::Cow<'static, str> {
        if let Some(i) = self.info() {
            return i.message.into();
        }
        if let Some(s) = self.http_status() {
            return format!("The server returned HTTP status {s}.").into();
        }
        if self.0 & 0xFFFF_0000 == 0x8007_0000 {
            return format!("Win32 error {}.", self.0 & 0xFFFF).into();
        }
        "Unknown HRESULT.".into()
    }

    /// Parses `0x80200002`, `80200002`, a decimal `-2145386494`, or a name
    /// such as `BG_E_INVALID_STATE` / `BG_E_HTTP_ERROR_404`.
    pub fn parse(s: &str) -> Option<Hresult> {
        let s = s.trim();
        if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            return u32::from_str_radix(&hex.replace('_', ""), 16)
                .ok()
                .map(Hresult);
        }
        if let Some(status) = s.strip_prefix("BG_E_HTTP_ERROR_") {
            return status.parse::<u16>().ok().map(Hresult::http);
        }
        if let Some(i) = HRESULT_TABLE
            .iter()
            .find(|i| i.name.eq_ignore_ascii_case(s))
        {
            return Some(i.value);
        }
        match s.parse::<i64>() {
            Ok(v) if (i32::MIN as i64..=u32::MAX as i64).contains(&v) => Some(Hresult(v as u32)),
            _ => None,
        }
    }
}

impl fmt::Debug for Hresult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}(0x{:08X})", self.0),
            None => write!(f, "Hresult(0x{:08X})", self.0),
        }
    }
}

impl fmt::Display for Hresult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} (0x{:08X})", self.0),
            None => write!(f, "0x{:08X}", self.0),
        }
    }
}

impl fmt::LowerHex for Hresult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

impl fmt::UpperHex for Hresult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::UpperHex::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_values_match_the_sdk() {
        // Spot checks against bitsmsg.h [BITSMSG] (as signed 32-bit values).
        assert_eq!(Hresult::BG_E_INVALID_STATE.as_i32(), -2145386494);
        assert_eq!(Hresult::BG_E_EMPTY.as_i32(), -2145386493);
        assert_eq!(Hresult::BG_S_PARTIAL_COMPLETE.as_i32(), 2097175);
        assert_eq!(Hresult::BG_E_MAXDOWNLOAD_TIMEOUT.as_i32(), -2145386412);
        assert_eq!(Hresult::E_NOTIMPL.as_i32(), -2147467263);
        assert_eq!(Hresult::http(404).as_i32(), -2145844844);
    }

    #[test]
    fn table_has_no_duplicate_names_or_values() {
        for (i, a) in HRESULT_TABLE.iter().enumerate() {
            for b in &HRESULT_TABLE[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.value, b.value, "{} and {}", a.name, b.name);
            }
        }
    }

    #[test]
    fn http_errors_are_named_and_parsed() {
        let h = Hresult::http(404);
        assert_eq!(h, Hresult(0x8019_0194));
        assert_eq!(h.name().unwrap(), "BG_E_HTTP_ERROR_404");
        assert_eq!(h.http_status(), Some(404));
        assert_eq!(
            Hresult::parse("BG_E_HTTP_ERROR_503"),
            Some(Hresult::http(503))
        );
        assert_eq!(
            Hresult::parse("0x80200002"),
            Some(Hresult::BG_E_INVALID_STATE)
        );
        assert_eq!(
            Hresult::parse("-2145386494"),
            Some(Hresult::BG_E_INVALID_STATE)
        );
        assert_eq!(Hresult::parse("bg_e_empty"), Some(Hresult::BG_E_EMPTY));
        assert_eq!(Hresult::parse("nonsense"), None);
    }

    #[test]
    fn success_and_failure() {
        assert!(Hresult::S_OK.is_success());
        assert!(Hresult::BG_S_PARTIAL_COMPLETE.is_success());
        assert!(Hresult::BG_E_EMPTY.is_failure());
        assert_eq!(
            Hresult::BG_E_INVALID_STATE.to_string(),
            "BG_E_INVALID_STATE (0x80200002)"
        );
    }
}
