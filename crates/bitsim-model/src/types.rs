//! BITS enumerations and constants, with their numeric values kept.
//!
//! Every value is copied from `bits.idl` \[IDL\].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// `BG_SIZE_UNKNOWN`: `(UINT64)-1`, a size not known yet \[IDL\].
pub const BG_SIZE_UNKNOWN: u64 = u64::MAX;
/// `BG_LENGTH_TO_EOF`: a range length meaning "to end of file" (bits2_0.h).
pub const BG_LENGTH_TO_EOF: u64 = u64::MAX;
/// `BG_JOB_ENUM_ALL_USERS`: EnumJobs flag, admin only \[ENUMJOBS\].
pub const BG_JOB_ENUM_ALL_USERS: u32 = 0x0001;

macro_rules! bits_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $( $(#[$vm:meta])* $v:ident = $n:literal => $bg:literal, )* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u32)]
        pub enum $name { $( $(#[$vm])* $v = $n, )* }

        impl $name {
            /// Every value, in numeric order.
            pub const ALL: &'static [$name] = &[ $( $name::$v, )* ];
            /// The numeric value BITS uses.
            pub const fn as_u32(self) -> u32 { self as u32 }
            /// From the numeric value; `None` outside the enum.
            pub const fn from_u32(v: u32) -> Option<Self> {
                match v { $( $n => Some($name::$v), )* _ => None }
            }
            /// The SDK constant name, e.g. `BG_JOB_STATE_QUEUED`.
            pub const fn bg_name(self) -> &'static str {
                match self { $( $name::$v => $bg, )* }
            }
            /// The short name used in traces, e.g. `QUEUED`.
            pub fn short_name(self) -> &'static str {
                let n = self.bg_name();
                n.rsplit_once("STATE_").or_else(|| n.rsplit_once("TYPE_")).or_else(|| n.rsplit_once("PRIORITY_")).or_else(|| n.rsplit_once("CONTEXT_")).map(|(_, s)| s).unwrap_or(n)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.short_name()) }
        }

        impl std::str::FromStr for $name {
            type Err = ParseNameError;
            /// The short name (`TRANSIENT_ERROR`) or the SDK name
            /// (`BG_JOB_STATE_TRANSIENT_ERROR`), in any case, `-` for `_`.
            fn from_str(s: &str) -> Result<Self, ParseNameError> {
                let norm = s.trim().to_ascii_uppercase().replace('-', "_");
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.short_name() == norm || v.bg_name() == norm)
                    .ok_or_else(|| ParseNameError {
                        what: $what,
                        value: s.to_owned(),
                        allowed: Self::ALL
                            .iter()
                            .map(|v| v.short_name())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            }
        }

        // Written as the short name (`QUEUED`); read back from any form
        // `FromStr` takes, so a persisted queue and a scenario file agree.
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.short_name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A name that is not one of an enumeration's values, with the forms that
/// are (returned by the `FromStr` impls of [`JobState`], [`JobType`],
/// [`JobPriority`], [`ErrorContext`], [`NotifyFlags`] and
/// [`Hresult`](crate::Hresult)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseNameError {
    /// What was being parsed, e.g. `job state`.
    pub what: &'static str,
    /// The text given.
    pub value: String,
    /// The forms accepted, in words.
    pub allowed: String,
}

impl fmt::Display for ParseNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} {:?} (allowed: {})",
            self.what, self.value, self.allowed
        )
    }
}

impl std::error::Error for ParseNameError {}

bits_enum! {
    /// `BG_JOB_STATE` \[IDL\] \[STATE\].
    JobState, "job state" {
        /// Waiting for its turn to run.
        Queued = 0 => "BG_JOB_STATE_QUEUED",
        /// Contacting the server.
        Connecting = 1 => "BG_JOB_STATE_CONNECTING",
        /// Moving bytes.
        Transferring = 2 => "BG_JOB_STATE_TRANSFERRING",
        /// Suspended; the initial state of every new job.
        Suspended = 3 => "BG_JOB_STATE_SUSPENDED",
        /// Stopped on an unrecoverable error; the app must act.
        Error = 4 => "BG_JOB_STATE_ERROR",
        /// A recoverable error; BITS retries by itself.
        TransientError = 5 => "BG_JOB_STATE_TRANSIENT_ERROR",
        /// Every file transferred; waiting for Complete.
        Transferred = 6 => "BG_JOB_STATE_TRANSFERRED",
        /// Completed (final).
        Acknowledged = 7 => "BG_JOB_STATE_ACKNOWLEDGED",
        /// Cancelled (final).
        Cancelled = 8 => "BG_JOB_STATE_CANCELLED",
    }
}

impl JobState {
    /// ACKNOWLEDGED and CANCELLED are final: no state-changing method works \[LC\].
    pub const fn is_final(self) -> bool {
        matches!(self, JobState::Acknowledged | JobState::Cancelled)
    }
    /// CONNECTING or TRANSFERRING: the job holds a transfer slot.
    pub const fn is_active(self) -> bool {
        matches!(self, JobState::Connecting | JobState::Transferring)
    }
    /// The non-final states.
    pub const NON_FINAL: &'static [JobState] = &[
        JobState::Queued,
        JobState::Connecting,
        JobState::Transferring,
        JobState::Suspended,
        JobState::Error,
        JobState::TransientError,
        JobState::Transferred,
    ];
}

bits_enum! {
    /// `BG_JOB_TYPE` \[IDL\] \[TYPE\].
    JobType, "job type" {
        /// Any number of files, server → client.
        Download = 0 => "BG_JOB_TYPE_DOWNLOAD",
        /// Exactly one file, client → server (BITS 1.5+).
        Upload = 1 => "BG_JOB_TYPE_UPLOAD",
        /// One file up, a reply back (BITS 1.5+).
        UploadReply = 2 => "BG_JOB_TYPE_UPLOAD_REPLY",
    }
}

impl JobType {
    /// Upload or upload-reply.
    pub const fn is_upload(self) -> bool {
        !matches!(self, JobType::Download)
    }
}

bits_enum! {
    /// `BG_JOB_PRIORITY` \[IDL\] \[PRIO\]. Lower numbers run first.
    JobPriority, "priority" {
        /// Highest; runs concurrently with other foreground jobs.
        Foreground = 0 => "BG_JOB_PRIORITY_FOREGROUND",
        /// Highest background level.
        High = 1 => "BG_JOB_PRIORITY_HIGH",
        /// The default \[SETPRIO\].
        Normal = 2 => "BG_JOB_PRIORITY_NORMAL",
        /// Lowest.
        Low = 3 => "BG_JOB_PRIORITY_LOW",
    }
}

bits_enum! {
    /// `BG_ERROR_CONTEXT` \[IDL\] \[CTX\]. The same numbers travel in
    /// \[MC-BUP\]'s `BITS-Error-Context` header.
    ErrorContext, "error context" {
        /// No error.
        None = 0 => "BG_ERROR_CONTEXT_NONE",
        /// Origin unknown.
        Unknown = 1 => "BG_ERROR_CONTEXT_UNKNOWN",
        /// Raised by the queue manager itself.
        GeneralQueueManager = 2 => "BG_ERROR_CONTEXT_GENERAL_QUEUE_MANAGER",
        /// Raised while notifying the client.
        QueueManagerNotification = 3 => "BG_ERROR_CONTEXT_QUEUE_MANAGER_NOTIFICATION",
        /// About the local file.
        LocalFile = 4 => "BG_ERROR_CONTEXT_LOCAL_FILE",
        /// About the remote file (e.g. HTTP 404).
        RemoteFile = 5 => "BG_ERROR_CONTEXT_REMOTE_FILE",
        /// Transport failure not tied to a file.
        GeneralTransport = 6 => "BG_ERROR_CONTEXT_GENERAL_TRANSPORT",
        /// The server application that consumed an upload failed.
        RemoteApplication = 7 => "BG_ERROR_CONTEXT_REMOTE_APPLICATION",
    }
}

/// `BG_NOTIFY_*` flags \[SETNOTIFY\] \[IDL\].
///
/// Serialized as the number; read from a number or from text that
/// [`NotifyFlags::from_str`](std::str::FromStr) takes (`0x3`, `11`,
/// `JOB_TRANSFERRED | JOB_ERROR`, `BG_NOTIFY_DISABLE`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NotifyFlags(pub u32);

impl NotifyFlags {
    /// The named bits, for parsing and printing.
    pub const NAMES: &'static [(&'static str, NotifyFlags)] = &[
        ("JOB_TRANSFERRED", NotifyFlags::JOB_TRANSFERRED),
        ("JOB_ERROR", NotifyFlags::JOB_ERROR),
        ("DISABLE", NotifyFlags::DISABLE),
        ("JOB_MODIFICATION", NotifyFlags::JOB_MODIFICATION),
        ("FILE_TRANSFERRED", NotifyFlags::FILE_TRANSFERRED),
        (
            "FILE_RANGES_TRANSFERRED",
            NotifyFlags::FILE_RANGES_TRANSFERRED,
        ),
    ];
}

impl fmt::Display for NotifyFlags {
    /// `0x3`: the number, as `SetNotifyFlags` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:X}", self.0)
    }
}

impl std::str::FromStr for NotifyFlags {
    type Err = ParseNameError;
    /// A number (`3`, `0x3`) or names joined by `|` (`JOB_TRANSFERRED |
    /// JOB_ERROR`, with or without the `BG_NOTIFY_` prefix, any case).
    /// Undefined bits are kept: `SetNotifyFlags` is what refuses them.
    fn from_str(s: &str) -> Result<Self, ParseNameError> {
        let err = || ParseNameError {
            what: "notify flags",
            value: s.to_owned(),
            allowed: "a number such as 3 or 0x3, or names joined by | from \
                      JOB_TRANSFERRED, JOB_ERROR, DISABLE, JOB_MODIFICATION, \
                      FILE_TRANSFERRED, FILE_RANGES_TRANSFERRED"
                .into(),
        };
        let t = s.trim();
        if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            return u32::from_str_radix(hex, 16)
                .map(NotifyFlags)
                .map_err(|_| err());
        }
        if let Ok(n) = t.parse::<u32>() {
            return Ok(NotifyFlags(n));
        }
        let mut bits = 0;
        for part in t.split('|') {
            let p = part.trim().to_ascii_uppercase();
            let p = p.strip_prefix("BG_NOTIFY_").unwrap_or(&p);
            let (_, v) = Self::NAMES.iter().find(|(n, _)| *n == p).ok_or_else(err)?;
            bits |= v.0;
        }
        Ok(NotifyFlags(bits))
    }
}

impl<'de> Deserialize<'de> for NotifyFlags {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = NotifyFlags;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("notify flags: a number such as 3 or 0x3, or names such as \"JOB_TRANSFERRED | JOB_ERROR\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<NotifyFlags, E> {
                u32::try_from(v)
                    .map(NotifyFlags)
                    .map_err(|_| E::custom(format!("notify flags {v} do not fit in 32 bits")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<NotifyFlags, E> {
                u32::try_from(v).map(NotifyFlags).map_err(|_| {
                    E::custom(format!("notify flags {v} are not a 32-bit unsigned number"))
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NotifyFlags, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl NotifyFlags {
    /// All files done → JobTransferred.
    pub const JOB_TRANSFERRED: NotifyFlags = NotifyFlags(0x0001);
    /// Job entered ERROR → JobError.
    pub const JOB_ERROR: NotifyFlags = NotifyFlags(0x0002);
    /// Every other bit is ignored when set.
    pub const DISABLE: NotifyFlags = NotifyFlags(0x0004);
    /// → JobModification; not usable with command-line notification.
    pub const JOB_MODIFICATION: NotifyFlags = NotifyFlags(0x0008);
    /// → IBackgroundCopyCallback2::FileTransferred (BITS 3.0+).
    pub const FILE_TRANSFERRED: NotifyFlags = NotifyFlags(0x0010);
    /// → IBackgroundCopyCallback3::FileRangesTransferred (on-demand jobs).
    pub const FILE_RANGES_TRANSFERRED: NotifyFlags = NotifyFlags(0x0020);
    /// Every defined bit.
    pub const ALL_BITS: u32 = 0x003F;
    /// The default for a new job: TRANSFERRED | ERROR = 0x3 \[WINE-TJOB\].
    pub const DEFAULT: NotifyFlags = NotifyFlags(0x0003);

    /// True if `other`'s bits are set and DISABLE is not.
    pub const fn wants(self, other: NotifyFlags) -> bool {
        self.0 & Self::DISABLE.0 == 0 && self.0 & other.0 == other.0
    }
}

impl Default for NotifyFlags {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Debug for NotifyFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NotifyFlags(0x{:X})", self.0)
    }
}

/// A point on the model's monotonic clock, in milliseconds since the clock's
/// origin (the simulator's virtual time zero, or the driver's start).
///
/// BITS timers are driven by elapsed time, not the wall clock
/// \[SETRETRY\] \[SETNOPROG\] \[GP\]; the model never reads a clock itself.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Time(pub u64);

impl Time {
    /// Time zero.
    pub const ZERO: Time = Time(0);
    /// From whole milliseconds.
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms)
    }
    /// From whole seconds.
    pub const fn from_secs(s: u64) -> Time {
        Time(s.saturating_mul(1000))
    }
    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }
    /// This time plus `d`, saturating.
    pub fn saturating_add(self, d: Duration) -> Time {
        Time(
            self.0
                .saturating_add(d.as_millis().min(u64::MAX as u128) as u64),
        )
    }
    /// `self - earlier`, or zero.
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Time {
    /// `+3d 04:05:06.789`-style offsets from the origin.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 % 1000;
        let s = self.0 / 1000;
        let (d, h, m, s) = (s / 86_400, (s / 3600) % 24, (s / 60) % 60, s % 60);
        if d > 0 {
            write!(f, "{d}d {h:02}:{m:02}:{s:02}.{ms:03}")
        } else {
            write!(f, "{h:02}:{m:02}:{s:02}.{ms:03}")
        }
    }
}

/// A job's GUID. The model never invents one: the driver passes it to
/// [`Manager::create_job`](crate::Manager::create_job) (the simulator draws
/// it from its seeded RNG, the real-time driver from the OS).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub uuid::Uuid);

// Ordered as one big-endian 128-bit number: the same order as the GUID's
// bytes, without a memcmp per comparison (jobs are looked up constantly).
impl Ord for JobId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_u128().cmp(&other.0.as_u128())
    }
}

impl PartialOrd for JobId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl JobId {
    /// From 16 bytes (e.g. drawn from a seeded RNG), as a version-4 GUID.
    pub fn from_random_bytes(bytes: [u8; 16]) -> JobId {
        JobId(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.0.hyphenated().to_string().to_uppercase())
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A user account (stands for a Windows SID).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl UserId {
    /// A user by name.
    pub fn new(name: impl Into<String>) -> UserId {
        UserId(name.into())
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for UserId {
    fn from(s: &str) -> Self {
        UserId(s.to_owned())
    }
}

/// Who is calling a manager or job method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The calling account.
    pub user: UserId,
    /// An administrator (or service account): exempt from the job, file and
    /// range limits, may see and modify every user's jobs \[CREATEJOB\] \[USERS\].
    pub admin: bool,
}

impl Caller {
    /// A standard (non-admin) user.
    pub fn user(name: impl Into<String>) -> Caller {
        Caller {
            user: UserId::new(name),
            admin: false,
        }
    }
    /// An administrator.
    pub fn admin(name: impl Into<String>) -> Caller {
        Caller {
            user: UserId::new(name),
            admin: true,
        }
    }
}

/// An opaque handle for a registered callback object
/// (`SetNotifyInterface`). The driver maps it to the real object; the model
/// only tracks that one is registered, by whom, and delivers to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallbackId(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_values_are_kept() {
        assert_eq!(JobState::Queued.as_u32(), 0);
        assert_eq!(JobState::Cancelled.as_u32(), 8);
        assert_eq!(JobState::from_u32(5), Some(JobState::TransientError));
        assert_eq!(JobState::from_u32(9), None);
        assert_eq!(JobType::UploadReply.as_u32(), 2);
        assert_eq!(JobPriority::Normal.as_u32(), 2);
        assert_eq!(ErrorContext::RemoteApplication.as_u32(), 7);
        assert_eq!(
            JobState::TransientError.bg_name(),
            "BG_JOB_STATE_TRANSIENT_ERROR"
        );
        assert_eq!(JobState::TransientError.to_string(), "TRANSIENT_ERROR");
        assert_eq!(ErrorContext::RemoteFile.to_string(), "REMOTE_FILE");
        assert_eq!(BG_SIZE_UNKNOWN, 0xFFFF_FFFF_FFFF_FFFF);
    }

    #[test]
    fn names_parse_in_every_form_and_errors_list_the_allowed_ones() {
        assert_eq!("transient_error".parse(), Ok(JobState::TransientError));
        assert_eq!("BG_JOB_STATE_QUEUED".parse(), Ok(JobState::Queued));
        assert_eq!("upload-reply".parse(), Ok(JobType::UploadReply));
        assert_eq!("High".parse(), Ok(JobPriority::High));
        assert_eq!("REMOTE_FILE".parse(), Ok(ErrorContext::RemoteFile));
        let e = "hihg".parse::<JobPriority>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown priority \"hihg\" (allowed: FOREGROUND, HIGH, NORMAL, LOW)"
        );
        assert_eq!("0x3".parse(), Ok(NotifyFlags::DEFAULT));
        assert_eq!("11".parse(), Ok(NotifyFlags(0xB)));
        assert_eq!(
            "JOB_TRANSFERRED | bg_notify_job_error".parse(),
            Ok(NotifyFlags::DEFAULT)
        );
        assert!("JOB_EROR".parse::<NotifyFlags>().is_err());
        assert_eq!(NotifyFlags(0xB).to_string(), "0xB");
        assert_eq!("E_UNEXPECTED".parse(), Ok(crate::Hresult(0x8000_FFFF)));
        let e = "E_FIAL".parse::<crate::Hresult>().unwrap_err().to_string();
        assert!(
            e.starts_with("unknown HRESULT \"E_FIAL\" (allowed: a name"),
            "{e}"
        );
    }

    #[test]
    fn serde_writes_what_it_always_wrote_and_reads_every_form() {
        // A persisted queue keeps its shape: short names, numbers.
        assert_eq!(
            serde_json::to_string(&JobState::TransientError).unwrap(),
            "\"TRANSIENT_ERROR\""
        );
        assert_eq!(serde_json::to_string(&NotifyFlags(3)).unwrap(), "3");
        assert_eq!(
            serde_json::to_string(&crate::Hresult::E_FAIL).unwrap(),
            "2147500037"
        );
        let s: JobState = serde_json::from_str("\"bg_job_state_error\"").unwrap();
        assert_eq!(s, JobState::Error);
        let f: NotifyFlags = serde_json::from_str("\"JOB_ERROR\"").unwrap();
        assert_eq!(f, NotifyFlags::JOB_ERROR);
        let h: crate::Hresult = serde_json::from_str("\"BG_E_HTTP_ERROR_404\"").unwrap();
        assert_eq!(h, crate::Hresult::http(404));
        let h: crate::Hresult = serde_json::from_str("-2147467259").unwrap();
        assert_eq!(h, crate::Hresult::E_FAIL);
        assert!(serde_json::from_str::<JobState>("\"DONE\"").is_err());
    }

    #[test]
    fn notify_flags_disable_masks_everything() {
        assert!(NotifyFlags::DEFAULT.wants(NotifyFlags::JOB_ERROR));
        assert!(!NotifyFlags::DEFAULT.wants(NotifyFlags::JOB_MODIFICATION));
        assert!(!NotifyFlags(0x7).wants(NotifyFlags::JOB_ERROR));
    }

    #[test]
    fn time_formats_as_offsets() {
        assert_eq!(
            Time::from_secs(90 * 86_400 + 3661).to_string(),
            "90d 01:01:01.000"
        );
        assert_eq!(Time(500).to_string(), "00:00:00.500");
    }
}
