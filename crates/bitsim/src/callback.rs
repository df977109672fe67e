//! The callback API: a Rust mirror of `IBackgroundCopyCallback`/`2`.
//!
//! Implement [`Callback`] for your notification logic. The simulator, the
//! real-time driver and the Windows adapter all call it the way BITS calls a
//! registered COM object: with a [`JobHandle`] that reads the job
//! (`IBackgroundCopyJob`) and can call job methods (the three remedies of the
//! `JobError` page: Cancel; Complete to keep what transferred, refused for
//! uploads; fix and Resume), and it answers with an HRESULT. Anything but
//! `S_OK` makes BITS call again later or run the job's command line instead
//! \[JOBERR\] \[JOBXFER\].

use bitsim_model::{
    Caller, Error, ErrorInfo, FileRef, Hresult, JobId, JobPriority, JobProgress, JobState, JobType,
    Manager, NotifyKind, ReplyProgress, Time,
};
use std::time::Duration;

/// What a callback method returns: an HRESULT, optionally after holding the
/// call for a while, which keeps one of the user's four notification slots
/// busy \[CB\].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackResult {
    /// `S_OK` or a failure.
    pub hr: Hresult,
    /// How long the call blocks before returning (virtual time in the simulator).
    pub hold: Duration,
}

impl CallbackResult {
    /// Return `S_OK` at once.
    pub const fn ok() -> Self {
        CallbackResult {
            hr: Hresult::S_OK,
            hold: Duration::ZERO,
        }
    }
    /// Return this failure at once.
    pub const fn fail(hr: Hresult) -> Self {
        CallbackResult {
            hr,
            hold: Duration::ZERO,
        }
    }
    /// Return after blocking for `d`.
    pub const fn after(self, d: Duration) -> Self {
        CallbackResult {
            hr: self.hr,
            hold: d,
        }
    }
}

/// A user's notification callback: `IBackgroundCopyCallback` (JobTransferred,
/// JobError, JobModification) and `IBackgroundCopyCallback2`
/// (FileTransferred). Every method has a default returning `S_OK`, as BITS
/// requires of methods an app does not use \[CB\].
pub trait Callback {
    /// The job entered TRANSFERRED \[JOBXFER\].
    fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        let _ = job;
        CallbackResult::ok()
    }
    /// The job entered ERROR; never called for TRANSIENT_ERROR \[JOBERR\].
    fn job_error(&mut self, job: &mut JobHandle<'_>, error: &ErrorInfo) -> CallbackResult {
        let _ = (job, error);
        CallbackResult::ok()
    }
    /// The job changed (progress, properties, state) \[JOBMOD\].
    fn job_modification(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        let _ = job;
        CallbackResult::ok()
    }
    /// One file (or an upload-reply's reply) finished \[FILEXFER\].
    fn file_transferred(&mut self, job: &mut JobHandle<'_>, file: FileRef) -> CallbackResult {
        let _ = (job, file);
        CallbackResult::ok()
    }
}

/// What a backend lets callback code do with a job: the getters and the
/// methods of `IBackgroundCopyJob` a callback may call. The simulator, the
/// real-time driver and `bitsim-windows` implement it; [`JobHandle`] wraps
/// it for one job.
pub trait JobAccess {
    /// `GetDisplayName`.
    fn display_name(&self, job: JobId) -> Result<String, Error>;
    /// `GetType`.
    fn job_type(&self, job: JobId) -> Result<JobType, Error>;
    /// `GetState`.
    fn state(&self, job: JobId) -> Result<JobState, Error>;
    /// `GetPriority`.
    fn priority(&self, job: JobId) -> Result<JobPriority, Error>;
    /// `GetProgress`.
    fn progress(&self, job: JobId) -> Result<JobProgress, Error>;
    /// `GetErrorCount`.
    fn error_count(&self, job: JobId) -> Result<u32, Error>;
    /// `GetError`.
    fn error(&self, job: JobId) -> Result<ErrorInfo, Error>;
    /// `GetReplyProgress` (upload-reply jobs).
    fn reply_progress(&self, job: JobId) -> Result<ReplyProgress, Error>;
    /// `Resume`.
    fn resume(&mut self, job: JobId) -> Result<(), Error>;
    /// `Suspend`.
    fn suspend(&mut self, job: JobId) -> Result<(), Error>;
    /// `Cancel`.
    fn cancel(&mut self, job: JobId) -> Result<Hresult, Error>;
    /// `Complete`.
    fn complete(&mut self, job: JobId) -> Result<Hresult, Error>;
    /// `SetPriority`.
    fn set_priority(&mut self, job: JobId, priority: JobPriority) -> Result<(), Error>;
    /// `SetMinimumRetryDelay`.
    fn set_minimum_retry_delay(&mut self, job: JobId, seconds: u32) -> Result<(), Error>;
    /// `SetNoProgressTimeout`.
    fn set_no_progress_timeout(&mut self, job: JobId, seconds: u32) -> Result<(), Error>;
}

/// Delivers one of the model's notifications (`Output::Notify`) to `cb` as
/// BITS calls a registered object: the method for `kind`, with a handle on
/// the job acting as `caller` at `now`; JobError receives the job's error.
/// Returns what the callback answered and the job methods it called. The
/// drivers go through [`Callbacks::deliver`](crate::engine::Callbacks::deliver),
/// which also answers for objects that are gone.
pub fn deliver(
    cb: &mut dyn Callback,
    manager: &mut Manager,
    now: Time,
    caller: Caller,
    job: JobId,
    kind: NotifyKind,
) -> (CallbackResult, Vec<(String, Hresult)>) {
    crate::engine::callbacks::call(cb, manager, now, caller, job, kind)
}

pub use crate::engine::ModelAccess;

/// The job as a callback sees it: `IBackgroundCopyJob` getters plus the
/// methods a callback may call, on whatever backend delivered the
/// notification. Every call is recorded (the simulator's trace shows them).
///
/// Getters return the value directly; should the backend fail to answer
/// (a real BITS job that vanished), they return the neutral value (`CANCELLED`,
/// zero progress) and log a warning.
pub struct JobHandle<'a> {
    access: &'a mut dyn JobAccess,
    id: JobId,
    calls: Vec<(String, Hresult)>,
}

impl<'a> JobHandle<'a> {
    /// A handle on job `id` through `access`.
    pub fn new(access: &'a mut dyn JobAccess, id: JobId) -> Self {
        JobHandle {
            access,
            id,
            calls: Vec::new(),
        }
    }

    /// The job methods called through this handle, with their results.
    pub fn calls(&self) -> &[(String, Hresult)] {
        &self.calls
    }

    fn get<T>(&self, what: &str, r: Result<T, Error>, fallback: T) -> T {
        r.unwrap_or_else(|e| {
            tracing::warn!(job = %self.id, "{what} failed in a callback: {e}");
            fallback
        })
    }

    /// `GetId`.
    pub fn id(&self) -> JobId {
        self.id
    }
    /// `GetDisplayName`.
    pub fn display_name(&self) -> String {
        self.get(
            "GetDisplayName",
            self.access.display_name(self.id),
            String::new(),
        )
    }
    /// `GetType`.
    pub fn job_type(&self) -> JobType {
        self.get("GetType", self.access.job_type(self.id), JobType::Download)
    }
    /// `GetState`.
    pub fn state(&self) -> JobState {
        self.get("GetState", self.access.state(self.id), JobState::Cancelled)
    }
    /// `GetPriority`.
    pub fn priority(&self) -> JobPriority {
        self.get(
            "GetPriority",
            self.access.priority(self.id),
            JobPriority::Normal,
        )
    }
    /// `GetProgress`.
    pub fn progress(&self) -> JobProgress {
        let zero = JobProgress {
            bytes_total: 0,
            bytes_transferred: 0,
            files_total: 0,
            files_transferred: 0,
        };
        self.get("GetProgress", self.access.progress(self.id), zero)
    }
    /// `GetErrorCount`.
    pub fn error_count(&self) -> u32 {
        self.get("GetErrorCount", self.access.error_count(self.id), 0)
    }
    /// `GetError`: `BG_E_ERROR_INFORMATION_UNAVAILABLE` outside ERROR/TRANSIENT_ERROR.
    pub fn error(&self) -> Result<ErrorInfo, Error> {
        self.access.error(self.id)
    }
    /// `GetReplyProgress`: `E_NOTIMPL` except on upload-reply jobs.
    pub fn reply_progress(&self) -> Result<ReplyProgress, Error> {
        self.access.reply_progress(self.id)
    }

    fn record<T>(
        &mut self,
        name: &str,
        r: Result<T, Error>,
        ok: impl Fn(&T) -> Hresult,
    ) -> Result<T, Error> {
        let hr = match &r {
            Ok(v) => ok(v),
            Err(e) => e.code,
        };
        self.calls.push((name.to_owned(), hr));
        r
    }

    /// `Resume`.
    pub fn resume(&mut self) -> Result<(), Error> {
        let r = self.access.resume(self.id);
        self.record("Resume", r, |_| Hresult::S_OK)
    }
    /// `Suspend`.
    pub fn suspend(&mut self) -> Result<(), Error> {
        let r = self.access.suspend(self.id);
        self.record("Suspend", r, |_| Hresult::S_OK)
    }
    /// `Cancel`.
    pub fn cancel(&mut self) -> Result<Hresult, Error> {
        let r = self.access.cancel(self.id);
        self.record("Cancel", r, |h| *h)
    }
    /// `Complete`: `BG_S_PARTIAL_COMPLETE` when only some files transferred;
    /// `BG_E_INVALID_STATE` for an upload not yet TRANSFERRED \[COMPLETE\].
    pub fn complete(&mut self) -> Result<Hresult, Error> {
        let r = self.access.complete(self.id);
        self.record("Complete", r, |h| *h)
    }
    /// `SetPriority`.
    pub fn set_priority(&mut self, p: JobPriority) -> Result<(), Error> {
        let r = self.access.set_priority(self.id, p);
        self.record("SetPriority", r, |_| Hresult::S_OK)
    }
    /// `SetMinimumRetryDelay`.
    pub fn set_minimum_retry_delay(&mut self, seconds: u32) -> Result<(), Error> {
        let r = self.access.set_minimum_retry_delay(self.id, seconds);
        self.record("SetMinimumRetryDelay", r, |_| Hresult::S_OK)
    }
    /// `SetNoProgressTimeout`.
    pub fn set_no_progress_timeout(&mut self, seconds: u32) -> Result<(), Error> {
        let r = self.access.set_no_progress_timeout(self.id, seconds);
        self.record("SetNoProgressTimeout", r, |_| Hresult::S_OK)
    }
}
