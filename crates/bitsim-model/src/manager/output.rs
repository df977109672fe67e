//! What the model tells its driver: outputs, notification kinds, timers.

use super::*;

/// Which callback method a notification calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NotifyKind {
    /// `IBackgroundCopyCallback::JobTransferred` \[JOBXFER\].
    JobTransferred,
    /// `IBackgroundCopyCallback::JobError` \[JOBERR\].
    JobError,
    /// `IBackgroundCopyCallback::JobModification` \[JOBMOD\].
    JobModification,
    /// `IBackgroundCopyCallback2::FileTransferred` \[FILEXFER\].
    FileTransferred(FileRef),
}

impl NotifyKind {
    /// The flag that enables this notification \[SETNOTIFY\].
    pub fn flag(self) -> NotifyFlags {
        match self {
            NotifyKind::JobTransferred => NotifyFlags::JOB_TRANSFERRED,
            NotifyKind::JobError => NotifyFlags::JOB_ERROR,
            NotifyKind::JobModification => NotifyFlags::JOB_MODIFICATION,
            NotifyKind::FileTransferred(_) => NotifyFlags::FILE_TRANSFERRED,
        }
    }
    /// The callback method name.
    pub fn method(self) -> &'static str {
        match self {
            NotifyKind::JobTransferred => "JobTransferred",
            NotifyKind::JobError => "JobError",
            NotifyKind::JobModification => "JobModification",
            NotifyKind::FileTransferred(_) => "FileTransferred",
        }
    }
    /// JobTransferred/JobError/FileTransferred run on higher-priority
    /// threads than JobModification \[CB\]: dispatched first.
    pub(super) fn class(self) -> u8 {
        match self {
            NotifyKind::JobModification => 1,
            _ => 0,
        }
    }
    /// Whether a command line can carry this event: only TRANSFERRED and
    /// ERROR \[CMDLINE\].
    pub(super) fn cmd_line_capable(self) -> bool {
        matches!(self, NotifyKind::JobTransferred | NotifyKind::JobError)
    }
}

/// Identifies one delivery, to match [`Manager::handle_callback_result`]
/// and [`Manager::handle_command_result`] to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NotificationId(pub u64);

/// How a notification command line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandOutcome {
    /// The program ran and exited with this code.
    Exited(i32),
    /// The program could not be started.
    FailedToStart(Hresult),
}

/// The model's timers: the ones it reports arming in
/// [`Output::TimerArmed`], and every deadline of a job that
/// [`Manager::next_deadline`] can name. Each job deadline and what fires
/// when it passes are defined together, in one table (`manager/timers.rs`);
/// [`TimerKind::why`] says what the timer is for, with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TimerKind {
    /// MinimumRetryDelay (T23).
    Retry,
    /// NoProgressTimeout (T24).
    NoProgress,
    /// Re-call of a notification that failed (decision A9); the
    /// notification dispatcher's timer, not a job deadline.
    NotificationRetry,
    /// A cancelled upload's window to tell the server (X3).
    UploadCancelWindow,
    /// JobInactivityTimeout (T31).
    Inactivity,
    /// MaximumDownloadTime (T30).
    MaxDownloadTime,
}

/// An error the transport reports with [`Manager::handle_transfer_error`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferError {
    /// The HRESULT (`BG_E_HTTP_ERROR_404`, `BG_E_CONNECT_FAILURE`, ...).
    pub code: Hresult,
    /// The `BG_ERROR_CONTEXT`.
    pub context: ErrorContext,
    /// The file involved, if any.
    pub file: Option<FileRef>,
    /// Forces the class; `None` lets the model classify ([`classify`]).
    pub class: Option<ErrorClass>,
}

impl TransferError {
    /// An error the model classifies itself.
    pub fn new(code: Hresult, context: ErrorContext, file: Option<FileRef>) -> Self {
        TransferError {
            code,
            context,
            file,
            class: None,
        }
    }
    /// An HTTP status on a file: `BG_E_HTTP_ERROR_xxx`, context REMOTE_FILE.
    pub fn http(status: u16, file: FileRef) -> Self {
        Self::new(Hresult::http(status), ErrorContext::RemoteFile, Some(file))
    }
}

/// What the driver must do or record, drained by [`Manager::poll_output`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// A rule of the transition table fired.
    Transition {
        /// When.
        at: Time,
        /// Which job.
        job: JobId,
        /// The row.
        rule: Rule,
        /// State before.
        from: JobState,
        /// State after (equal to `from` for rules that keep the state).
        to: JobState,
        /// The error recorded, for rules that enter ERROR/TRANSIENT_ERROR.
        code: Option<Hresult>,
    },
    /// Start (or continue) moving bytes of this file from `offset`.
    StartTransfer {
        /// Which job.
        job: JobId,
        /// Which file (`Reply` = download the upload-reply's reply).
        file: FileRef,
        /// Resume offset.
        offset: u64,
    },
    /// Stop moving bytes for this job (suspend, cancel, preempt, ...).
    StopTransfer {
        /// Which job.
        job: JobId,
    },
    /// Call the registered callback.
    Notify {
        /// Delivery id for [`Manager::handle_callback_result`].
        id: NotificationId,
        /// Which job.
        job: JobId,
        /// The user whose slot it takes (the registrant).
        user: UserId,
        /// The registered object.
        callback: CallbackId,
        /// Which method.
        kind: NotifyKind,
    },
    /// Run the notification command line \[CMDLINE\].
    RunCommand {
        /// Delivery id for [`Manager::handle_command_result`].
        id: NotificationId,
        /// Which job.
        job: JobId,
        /// Runs as this user.
        user: UserId,
        /// Program.
        program: String,
        /// Parameters.
        parameters: Option<String>,
        /// The event it stands for.
        kind: NotifyKind,
    },
    /// Delete the temporary file of this file (Cancel, partial Complete, inactivity).
    DeleteTempFile {
        /// Which job.
        job: JobId,
        /// Which file.
        file: FileRef,
    },
    /// Complete renamed this file's temporary file to its final name.
    FilePublished {
        /// Which job.
        job: JobId,
        /// Which file.
        file: FileRef,
    },
    /// Tell the server to drop the upload session (Cancel-Session) \[CANCEL\].
    CancelUploadSession {
        /// Which job.
        job: JobId,
    },
    /// A timer was armed.
    TimerArmed {
        /// Which job.
        job: JobId,
        /// Which timer.
        timer: TimerKind,
        /// When it fires.
        at: Time,
    },
    /// The job left the queue for good.
    JobRemoved {
        /// Which job.
        job: JobId,
    },
}

/// A notification delivered and not yet answered
/// ([`Manager::outstanding_of`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outstanding {
    /// The delivery.
    pub id: NotificationId,
    /// Which event.
    pub kind: NotifyKind,
    /// The user it counts against (four at most per user \[CB\]).
    pub user: UserId,
    /// True when it went to the notification command line, not the
    /// callback object.
    pub via_cmd_line: bool,
    /// When it was delivered.
    pub since: Time,
    /// Which delivery of the event this is (1: the first; a re-call after
    /// a failure counts up).
    pub attempt: u32,
}
