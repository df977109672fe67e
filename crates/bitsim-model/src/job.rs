//! A job and its files, as IBackgroundCopyJob..Job5 shows them.

use crate::error::{Error, Result};
use crate::hresult::Hresult;
use crate::types::*;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `GetReplyData` keeps at most 1 MB in memory \[REPLYDATA\].
pub const MAX_REPLY_DATA: u64 = 1024 * 1024;

/// A byte range of `AddFileWithRanges` (`BG_FILE_RANGE`) \[ADDRANGES\].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByteRange {
    /// First byte.
    pub offset: u64,
    /// Length, or [`BG_LENGTH_TO_EOF`].
    pub length: u64,
}

/// One file of a job (`IBackgroundCopyFile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The URL (download source / upload destination).
    pub remote_name: String,
    /// The local path (download destination / upload source).
    pub local_name: String,
    /// Requested ranges (`AddFileWithRanges`), if any.
    pub ranges: Option<Vec<ByteRange>>,
    /// `BG_FILE_PROGRESS.BytesTotal`; [`BG_SIZE_UNKNOWN`] until known \[FILEPROG\].
    pub bytes_total: u64,
    /// `BG_FILE_PROGRESS.BytesTransferred`.
    pub bytes_transferred: u64,
    /// The bytes have all moved (download: in the temp file; upload: on the server).
    pub transferred: bool,
    /// `BG_FILE_PROGRESS.Completed`: downloads only after Complete published
    /// the file; uploads when the upload finished \[FILEPROG\].
    pub completed: bool,
    /// A temporary file exists for it (downloads).
    pub has_temp: bool,
}

/// `BG_FILE_PROGRESS` \[FILEPROG\].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProgress {
    /// Total bytes, or [`BG_SIZE_UNKNOWN`].
    pub bytes_total: u64,
    /// Bytes moved so far.
    pub bytes_transferred: u64,
    /// See [`FileEntry::completed`].
    pub completed: bool,
}

/// `BG_JOB_PROGRESS` \[JOBPROG\]: the upload half only, for upload jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    /// Sum of file sizes, or [`BG_SIZE_UNKNOWN`] while any size is unknown.
    pub bytes_total: u64,
    /// Bytes moved so far.
    pub bytes_transferred: u64,
    /// Number of files.
    pub files_total: u32,
    /// Files whose bytes have all moved.
    pub files_transferred: u32,
}

/// `BG_JOB_REPLY_PROGRESS` \[REPLYPROGST\].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyProgress {
    /// [`BG_SIZE_UNKNOWN`] until the reply begins.
    pub bytes_total: u64,
    /// Bytes of the reply received.
    pub bytes_transferred: u64,
}

/// `BG_JOB_TIMES` \[TIMES\], on the model's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTimes {
    /// When the job was created.
    pub creation_time: Time,
    /// Last AddFile, Set*, state change, method call or bytes moved.
    pub modification_time: Time,
    /// When the job entered TRANSFERRED, if it has.
    pub transfer_completion_time: Option<Time>,
}

/// Which file an error or effect concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FileRef {
    /// The job's file at this index.
    File(usize),
    /// The reply of an upload-reply job.
    Reply,
}

/// The job's error, as `IBackgroundCopyError` reports it \[ERRIF\].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// `GetError`'s context.
    pub context: ErrorContext,
    /// `GetError`'s HRESULT.
    pub code: Hresult,
    /// The file involved; `GetFile` returns `BG_E_FILE_NOT_AVAILABLE` when none \[ERR-GETFILE\].
    pub file: Option<FileRef>,
    /// `"http"` or `"file"`; `GetProtocol` returns `BG_E_PROTOCOL_NOT_AVAILABLE` when none \[ERR-GETPROTO\].
    pub protocol: Option<String>,
}

impl ErrorInfo {
    /// `IBackgroundCopyError::GetFile`.
    pub fn get_file(&self) -> Result<FileRef> {
        self.file
            .ok_or(Error::new(Hresult::BG_E_FILE_NOT_AVAILABLE))
    }
    /// `IBackgroundCopyError::GetProtocol`.
    pub fn get_protocol(&self) -> Result<&str> {
        self.protocol
            .as_deref()
            .ok_or(Error::new(Hresult::BG_E_PROTOCOL_NOT_AVAILABLE))
    }
    /// `GetErrorDescription`.
    pub fn description(&self) -> String {
        self.code.message().into_owned()
    }
    /// `GetErrorContextDescription`.
    pub fn context_description(&self) -> &'static str {
        match self.context {
            ErrorContext::None => "No error.",
            ErrorContext::Unknown => "The error context is unknown.",
            ErrorContext::GeneralQueueManager => {
                "The error occurred in the transfer queue manager."
            }
            ErrorContext::QueueManagerNotification => {
                "The error occurred while the queue manager was notifying the client."
            }
            ErrorContext::LocalFile => "The error was related to the specified local file.",
            ErrorContext::RemoteFile => "The error was related to the specified remote file.",
            ErrorContext::GeneralTransport => "The error was related to the transport layer.",
            ErrorContext::RemoteApplication => {
                "The error was related to the server application that processed the upload."
            }
        }
    }
}

/// The reply half of an upload-reply job.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reply {
    /// `SetReplyFileName`; `None` lets BITS pick a name \[REPLYFILE\].
    pub file_name: Option<String>,
    /// [`BG_SIZE_UNKNOWN`] until the reply starts \[REPLYPROGST\].
    pub bytes_total: u64,
    /// Bytes received.
    pub bytes_transferred: u64,
    /// The reply arrived in full.
    pub done: bool,
    /// The reply bytes, for `GetReplyData` (hex in the persisted queue).
    #[serde(with = "hex_bytes")]
    pub data: Option<Vec<u8>>,
    /// The server application answered 403: "the only error code that
    /// prevents BITS from posting the upload file to the server application
    /// again" \[SRVAPPERR\], so it is never posted again (decision A28).
    #[serde(default)]
    pub server_app_refused: bool,
}

/// Reply data persists as one hex string, not an array of numbers: compact
/// and quick to write and read back.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(data: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        match data {
            None => s.serialize_none(),
            Some(d) => {
                let mut out = String::with_capacity(d.len() * 2);
                for b in d {
                    out.push(HEX[usize::from(b >> 4)] as char);
                    out.push(HEX[usize::from(b & 15)] as char);
                }
                s.serialize_some(&out)
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(serde::de::Error::custom("reply data is not hex")),
        };
        let b = text.as_bytes();
        if b.len() % 2 != 0 {
            return Err(serde::de::Error::custom(
                "reply data has an odd number of hex digits",
            ));
        }
        b.chunks(2)
            .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
            .collect::<Result<Vec<u8>, D::Error>>()
            .map(Some)
    }
}

/// A registered callback (`SetNotifyInterface`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The object.
    pub callback: CallbackId,
    /// Who registered it: callbacks run in that user's context, and count
    /// against that user's four notification slots \[TAKEOWN\] \[CB\].
    pub user: UserId,
}

/// A notification command line (`SetNotifyCmdLine`) \[CMDLINE\].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CmdLine {
    /// The program.
    pub program: String,
    /// Its parameters.
    pub parameters: Option<String>,
    /// It runs as the user who set it.
    pub user: UserId,
}

/// Why a job sits in TRANSIENT_ERROR without a retry timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Blocked {
    /// No network (T27); cleared by T28.
    Network,
    /// MaxInternetBandwidth = 0 (T29); cleared by X1.
    Policy,
}

/// Timer bookkeeping of one job (all on the model's clock).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JobTimers {
    /// When the retry delay elapses (TRANSIENT_ERROR, not blocked).
    pub retry_at: Option<Time>,
    /// Start of the no-progress clock: the first transient error since the
    /// last progress \[SETNOPROG\].
    pub no_progress_since: Option<Time>,
    /// When the job last became CONNECTING/TRANSFERRING.
    pub active_since: Option<Time>,
    /// CONNECTING+TRANSFERRING time used before `active_since` \[SETMAXDL\].
    pub active_used_ms: u64,
    /// Last activity for JobInactivityTimeout \[GP\].
    pub last_activity: Time,
    /// End of the current round-robin slice.
    pub slice_end: Option<Time>,
    /// Upload cancel: when the job is dropped even if the server never acknowledged.
    pub cancel_deadline: Option<Time>,
}

/// A BITS job: what `IBackgroundCopyJob`..`Job5` expose, plus the model's
/// bookkeeping. Read it through [`Manager::job`](crate::Manager::job) or a
/// callback view; change it only through the [`Manager`](crate::Manager).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// `GetId`.
    pub id: JobId,
    /// `GetDisplayName` (≤ 256 characters \[CREATEJOB\]).
    pub display_name: String,
    /// `GetDescription` (≤ 1024 characters \[WINE-JOB\]).
    pub description: String,
    /// `GetType`.
    pub job_type: JobType,
    /// `GetOwner`.
    pub owner: UserId,
    /// `GetState`.
    pub state: JobState,
    /// `GetPriority`.
    pub priority: JobPriority,
    /// The files, in the order they were added (transferred FIFO \[LC\]).
    pub files: Vec<FileEntry>,
    /// `GetNotifyFlags`.
    pub notify_flags: NotifyFlags,
    /// `GetNotifyInterface`.
    pub notify_interface: Option<Registration>,
    /// `GetNotifyCmdLine`.
    pub notify_cmd_line: Option<CmdLine>,
    /// `GetMinimumRetryDelay`.
    pub minimum_retry_delay: Duration,
    /// `GetNoProgressTimeout`.
    pub no_progress_timeout: Duration,
    /// `GetMaximumDownloadTime`; zero = no limit.
    pub maximum_download_time: Duration,
    /// The current error, only in ERROR / TRANSIENT_ERROR \[GETERROR\].
    pub error: Option<ErrorInfo>,
    /// `GetErrorCount` \[ERRCOUNT\].
    pub error_count: u32,
    /// `GetTimes`.
    pub times: JobTimes,
    /// Upload-reply jobs only.
    pub reply: Option<Reply>,
    /// Index of the file being (or next to be) transferred.
    pub current_file: usize,
    /// Why the job is blocked, if it is.
    pub blocked: Option<Blocked>,
    /// Timers.
    pub timers: JobTimers,
    /// Round-robin position: lower runs first.
    pub queue_seq: u64,
    /// Gone from the queue: not enumerable, `GetJob` says `BG_E_NOT_FOUND`.
    pub removed: bool,
    /// Files were added since the job entered TRANSFERRED (T7).
    pub files_added_after_transfer: bool,
    /// An upload whose server session is being cancelled (X3).
    pub cancelling_upload: bool,
    /// The job has been given a turn at least once (T13).
    pub started: bool,
    /// Position in creation order (enumeration order, tie-breaks).
    #[serde(default)]
    pub creation_seq: u64,
}

impl Job {
    /// `GetProgress` \[JOBPROG\]: a job with no files reports all zeros.
    pub fn progress(&self) -> JobProgress {
        let mut total: u64 = 0;
        let mut known = true;
        let mut transferred: u64 = 0;
        let mut files_transferred = 0;
        for f in &self.files {
            if f.bytes_total == BG_SIZE_UNKNOWN {
                known = false;
            } else {
                total = total.saturating_add(f.bytes_total);
            }
            transferred = transferred.saturating_add(f.bytes_transferred);
            if f.transferred {
                files_transferred += 1;
            }
        }
        JobProgress {
            bytes_total: if known { total } else { BG_SIZE_UNKNOWN },
            bytes_transferred: transferred,
            files_total: self.files.len() as u32,
            files_transferred,
        }
    }

    /// `IBackgroundCopyFile::GetProgress` for file `index`.
    pub fn file_progress(&self, index: usize) -> Result<FileProgress> {
        let f = self
            .files
            .get(index)
            .ok_or(Error::new(Hresult::E_INVALIDARG))?;
        Ok(FileProgress {
            bytes_total: f.bytes_total,
            bytes_transferred: f.bytes_transferred,
            completed: f.completed,
        })
    }

    /// `GetError`: only in ERROR / TRANSIENT_ERROR, else
    /// `BG_E_ERROR_INFORMATION_UNAVAILABLE` \[GETERROR\] \[WINE-TJOB\].
    pub fn get_error(&self) -> Result<&ErrorInfo> {
        match (&self.error, self.state) {
            (Some(e), JobState::Error | JobState::TransientError) => Ok(e),
            _ => Err(Error::new(Hresult::BG_E_ERROR_INFORMATION_UNAVAILABLE)),
        }
    }

    /// `GetReplyProgress`: upload-reply only, else `E_NOTIMPL` \[REPLYPROG\].
    pub fn reply_progress(&self) -> Result<ReplyProgress> {
        let r = self.reply.as_ref().ok_or(Error::new(Hresult::E_NOTIMPL))?;
        Ok(ReplyProgress {
            bytes_total: r.bytes_total,
            bytes_transferred: r.bytes_transferred,
        })
    }

    /// `GetReplyData` \[REPLYDATA\]: upload-reply only (`E_NOTIMPL`), only in
    /// TRANSFERRED or after Complete (`BG_E_INVALID_STATE`); over 1 MB →
    /// `BG_E_TOO_LARGE`; `Ok(None)` when the server sent no reply.
    pub fn reply_data(&self) -> Result<Option<&[u8]>> {
        let r = self.reply.as_ref().ok_or(Error::new(Hresult::E_NOTIMPL))?;
        if !matches!(self.state, JobState::Transferred | JobState::Acknowledged) {
            return Err(Error::new(Hresult::BG_E_INVALID_STATE));
        }
        // A driver keeps no bytes of a reply over the limit: its size says.
        let too_large = r.bytes_total != BG_SIZE_UNKNOWN && r.bytes_total > MAX_REPLY_DATA;
        match &r.data {
            _ if too_large => Err(Error::new(Hresult::BG_E_TOO_LARGE)),
            Some(d) if d.len() as u64 > MAX_REPLY_DATA => Err(Error::new(Hresult::BG_E_TOO_LARGE)),
            Some(d) if !d.is_empty() => Ok(Some(d)),
            _ => Ok(None),
        }
    }

    /// True once every file's bytes have moved (and, for upload-reply, the reply too).
    pub fn all_transferred(&self) -> bool {
        !self.files.is_empty()
            && self.files.iter().all(|f| f.transferred)
            && self.reply.as_ref().is_none_or(|r| r.done)
    }

    /// Time spent CONNECTING/TRANSFERRING so far, as of `now` \[SETMAXDL\].
    pub fn active_time(&self, now: Time) -> Duration {
        let running = self
            .timers
            .active_since
            .map_or(0, |s| now.since(s).as_millis() as u64);
        Duration::from_millis(self.timers.active_used_ms + running)
    }
}

/// The name of the temporary file BITS keeps for `file` of `job` while it
/// downloads: a download goes to a temporary file that Complete renames to
/// the destination \[COMPLETE\] \[TEMPNAME\]. The name is not documented;
/// bitsim uses `BIT<hex>.tmp` in the destination's folder, the hex derived
/// from the job's GUID and the file's index (decision A30). `local` is the
/// destination (for the reply, the reply file name).
pub fn temp_file_name(local: &str, job: JobId, file: FileRef) -> String {
    let index: u64 = match file {
        FileRef::File(i) => i as u64,
        FileRef::Reply => u64::MAX,
    };
    // FNV-1a over the GUID's bytes and the index.
    let mut h: u32 = 0x811c_9dc5;
    for b in job.0.as_bytes().iter().copied().chain(index.to_le_bytes()) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let dir = match local.rfind(['/', '\\']) {
        Some(i) => &local[..=i],
        None => "",
    };
    format!("{dir}BIT{h:08X}.tmp")
}

/// The reply file name BITS picks for an upload-reply job whose
/// application never called `SetReplyFileName` before the first Resume:
/// "BITS generates a file name" in the upload file's directory
/// \[REPLYFILE\]. The name itself is not documented; bitsim uses
/// `BITS-reply-{job GUID}` beside the upload file (decision A32), one per
/// job and apart from the reply's temporary file ([`temp_file_name`]).
/// `upload` is the upload file's local name.
pub fn invented_reply_file_name(upload: &str, job: JobId) -> String {
    let dir = match upload.rfind(['/', '\\']) {
        Some(i) => &upload[..=i],
        None => "",
    };
    format!("{dir}BITS-reply-{}", job.0)
}

#[cfg(test)]
mod temp_name_tests {
    use super::*;

    #[test]
    fn temp_files_sit_beside_the_destination_and_differ_per_job_and_file() {
        let a = JobId::from_random_bytes([1; 16]);
        let b = JobId::from_random_bytes([2; 16]);
        let t = temp_file_name("/srv/out/a.bin", a, FileRef::File(0));
        assert!(t.starts_with("/srv/out/BIT") && t.ends_with(".tmp"), "{t}");
        assert_eq!(t.len(), "/srv/out/BIT".len() + 8 + 4);
        assert_eq!(t, temp_file_name("/srv/out/a.bin", a, FileRef::File(0)));
        assert_ne!(t, temp_file_name("/srv/out/a.bin", b, FileRef::File(0)));
        assert_ne!(t, temp_file_name("/srv/out/a.bin", a, FileRef::File(1)));
        assert_ne!(t, temp_file_name("/srv/out/a.bin", a, FileRef::Reply));
        let w = temp_file_name("C:\\out\\a.bin", a, FileRef::File(0));
        assert!(w.starts_with("C:\\out\\BIT"), "{w}");
        assert!(temp_file_name("a.bin", a, FileRef::File(0)).starts_with("BIT"));
    }
}
