//! The callback API: a Rust mirror of `IBackgroundCopyCallback`/`2`/`3`.
//!
//! Implement [`Callback`] for your notification logic. The simulator (and,
//! later, the real-time driver and the Windows adapter) calls it the way BITS
//! calls a registered COM object: with a view of the job that can also call
//! job methods (the three remedies of the `JobError` page: Cancel; Complete to
//! keep what transferred, refused for uploads; fix and Resume), and it
//! answers with an HRESULT. Anything but `S_OK` makes BITS call again later
//! or run the job's command line instead [JOBERR] [JOBXFER].

use bitsim_model::{
    Caller, ErrorInfo, FileRef, Hresult, Job, JobId, JobPriority, JobProgress, JobState, JobType,
    Manager, Time,
};
use std::time::Duration;

/// What a callback method returns: an HRESULT, optionally after holding the
/// call for a while (virtual time), which keeps one of the user's four
/// notification slots busy [CB].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackResult {
    /// `S_OK` or a failure.
    pub hr: Hresult,
    /// How long the call blocks before returning.
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
/// requires of methods an app does not use [CB].
pub trait Callback {
    /// The job entered TRANSFERRED [JOBXFER].
    fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        let _ = job;
        CallbackResult::ok()
    }
    /// The job entered ERROR; never called for TRANSIENT_ERROR [JOBERR].
    fn job_error(&mut self, job: &mut JobHandle<'_>, error: &ErrorInfo) -> CallbackResult {
        let _ = (job, error);
        CallbackResult::ok()
    }
    /// The job changed (progress, properties, state) [JOBMOD].
    fn job_modification(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        let _ = job;
        CallbackResult::ok()
    }
    /// One file (or an upload-reply's reply) finished [FILEXFER].
    fn file_transferred(&mut self, job: &mut JobHandle<'_>, file: FileRef) -> CallbackResult {
        let _ = (job, file);
        CallbackResult::ok()
    }
}

/// The job as a callback sees it: `IBackgroundCopyJob` getters plus the
/// methods a callback may call. Calls act on the service at once, at the
/// virtual time of the callback.
pub struct JobHandle<'a> {
    pub(crate) manager: &'a mut Manager,
    pub(crate) now: Time,
    pub(crate) caller: Caller,
    pub(crate) id: JobId,
    pub(crate) calls: Vec<(String, Hresult)>,
}

impl<'a> JobHandle<'a> {
    /// A handle for `caller` on job `id` at `now`.
    pub fn new(manager: &'a mut Manager, now: Time, caller: Caller, id: JobId) -> Self {
        JobHandle {
            manager,
            now,
            caller,
            id,
            calls: Vec::new(),
        }
    }

    fn job(&self) -> &Job {
        self.manager
            .job(self.id)
            .expect("a handle is made for an existing job")
    }

    /// `GetId`.
    pub fn id(&self) -> JobId {
        self.id
    }
    /// `GetDisplayName`.
    pub fn display_name(&self) -> &str {
        &self.job().display_name
    }
    /// `GetType`.
    pub fn job_type(&self) -> JobType {
        self.job().job_type
    }
    /// `GetState`.
    pub fn state(&self) -> JobState {
        self.job().state
    }
    /// `GetPriority`.
    pub fn priority(&self) -> JobPriority {
        self.job().priority
    }
    /// `GetProgress`.
    pub fn progress(&self) -> JobProgress {
        self.job().progress()
    }
    /// `GetErrorCount`.
    pub fn error_count(&self) -> u32 {
        self.job().error_count
    }
    /// `GetError`.
    pub fn error(&self) -> Result<ErrorInfo, bitsim_model::Error> {
        self.job().get_error().cloned()
    }
    /// `GetReplyProgress` (upload-reply jobs).
    pub fn reply_progress(&self) -> Result<bitsim_model::ReplyProgress, bitsim_model::Error> {
        self.job().reply_progress()
    }
    /// The whole job, read-only.
    pub fn view(&self) -> &Job {
        self.job()
    }

    fn record(
        &mut self,
        name: &str,
        r: Result<Hresult, bitsim_model::Error>,
    ) -> Result<Hresult, bitsim_model::Error> {
        let hr = match &r {
            Ok(h) => *h,
            Err(e) => e.code,
        };
        self.calls.push((name.to_owned(), hr));
        r
    }

    /// `Resume`.
    pub fn resume(&mut self) -> Result<Hresult, bitsim_model::Error> {
        let r = self
            .manager
            .resume(self.now, &self.caller, self.id)
            .map(|_| Hresult::S_OK);
        self.record("Resume", r)
    }
    /// `Suspend`.
    pub fn suspend(&mut self) -> Result<Hresult, bitsim_model::Error> {
        let r = self
            .manager
            .suspend(self.now, &self.caller, self.id)
            .map(|_| Hresult::S_OK);
        self.record("Suspend", r)
    }
    /// `Cancel`.
    pub fn cancel(&mut self) -> Result<Hresult, bitsim_model::Error> {
        let r = self.manager.cancel(self.now, &self.caller, self.id);
        self.record("Cancel", r)
    }
    /// `Complete` (`BG_S_PARTIAL_COMPLETE` when only some files transferred;
    /// `BG_E_INVALID_STATE` for an upload not yet TRANSFERRED).
    pub fn complete(&mut self) -> Result<Hresult, bitsim_model::Error> {
        let r = self.manager.complete(self.now, &self.caller, self.id);
        self.record("Complete", r)
    }
    /// `SetPriority`.
    pub fn set_priority(&mut self, p: JobPriority) -> Result<Hresult, bitsim_model::Error> {
        let r = self
            .manager
            .set_priority(self.now, &self.caller, self.id, p)
            .map(|_| Hresult::S_OK);
        self.record("SetPriority", r)
    }
    /// `SetMinimumRetryDelay`.
    pub fn set_minimum_retry_delay(
        &mut self,
        seconds: u32,
    ) -> Result<Hresult, bitsim_model::Error> {
        let r = self
            .manager
            .set_minimum_retry_delay(self.now, &self.caller, self.id, seconds)
            .map(|_| Hresult::S_OK);
        self.record("SetMinimumRetryDelay", r)
    }
    /// `SetNoProgressTimeout`.
    pub fn set_no_progress_timeout(
        &mut self,
        seconds: u32,
    ) -> Result<Hresult, bitsim_model::Error> {
        let r = self
            .manager
            .set_no_progress_timeout(self.now, &self.caller, self.id, seconds)
            .map(|_| Hresult::S_OK);
        self.record("SetNoProgressTimeout", r)
    }
}
