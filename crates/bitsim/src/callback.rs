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
/// Returns what the callback answered and the job methods it called.
pub fn deliver(
    cb: &mut dyn Callback,
    manager: &mut Manager,
    now: Time,
    caller: Caller,
    job: JobId,
    kind: NotifyKind,
) -> (CallbackResult, Vec<(String, Hresult)>) {
    let error = manager.job(job).and_then(|j| j.get_error().ok().cloned());
    let mut access = ModelAccess {
        manager,
        now,
        caller,
    };
    let mut handle = JobHandle::new(&mut access, job);
    let result = match kind {
        NotifyKind::JobTransferred => cb.job_transferred(&mut handle),
        // The model raises JobError only in ERROR, where the error exists.
        NotifyKind::JobError => match &error {
            Some(e) => cb.job_error(&mut handle, e),
            None => CallbackResult::ok(),
        },
        NotifyKind::JobModification => cb.job_modification(&mut handle),
        NotifyKind::FileTransferred(f) => cb.file_transferred(&mut handle, f),
    };
    (result, handle.calls)
}

/// [`JobAccess`] over the model itself, at one instant, as one caller: what
/// the simulator and the real-time driver hand to callbacks.
pub struct ModelAccess<'a> {
    /// The service.
    pub manager: &'a mut Manager,
    /// The instant of the calls.
    pub now: Time,
    /// Who calls (the callback's registrant).
    pub caller: Caller,
}

impl ModelAccess<'_> {
    fn job(&self, id: JobId) -> Result<&bitsim_model::Job, Error> {
        self.manager
            .job(id)
            .ok_or(Error::new(Hresult::BG_E_NOT_FOUND))
    }
}

impl JobAccess for ModelAccess<'_> {
    fn display_name(&self, job: JobId) -> Result<String, Error> {
        Ok(self.job(job)?.display_name.clone())
    }
    fn job_type(&self, job: JobId) -> Result<JobType, Error> {
        Ok(self.job(job)?.job_type)
    }
    fn state(&self, job: JobId) -> Result<JobState, Error> {
        Ok(self.job(job)?.state)
    }
    fn priority(&self, job: JobId) -> Result<JobPriority, Error> {
        Ok(self.job(job)?.priority)
    }
    fn progress(&self, job: JobId) -> Result<JobProgress, Error> {
        Ok(self.job(job)?.progress())
    }
    fn error_count(&self, job: JobId) -> Result<u32, Error> {
        Ok(self.job(job)?.error_count)
    }
    fn error(&self, job: JobId) -> Result<ErrorInfo, Error> {
        self.job(job)?.get_error().cloned()
    }
    fn reply_progress(&self, job: JobId) -> Result<ReplyProgress, Error> {
        self.job(job)?.reply_progress()
    }
    fn resume(&mut self, job: JobId) -> Result<(), Error> {
        self.manager.resume(self.now, &self.caller, job)
    }
    fn suspend(&mut self, job: JobId) -> Result<(), Error> {
        self.manager.suspend(self.now, &self.caller, job)
    }
    fn cancel(&mut self, job: JobId) -> Result<Hresult, Error> {
        self.manager.cancel(self.now, &self.caller, job)
    }
    fn complete(&mut self, job: JobId) -> Result<Hresult, Error> {
        self.manager.complete(self.now, &self.caller, job)
    }
    fn set_priority(&mut self, job: JobId, priority: JobPriority) -> Result<(), Error> {
        self.manager
            .set_priority(self.now, &self.caller, job, priority)
    }
    fn set_minimum_retry_delay(&mut self, job: JobId, seconds: u32) -> Result<(), Error> {
        self.manager
            .set_minimum_retry_delay(self.now, &self.caller, job, seconds)
    }
    fn set_no_progress_timeout(&mut self, job: JobId, seconds: u32) -> Result<(), Error> {
        self.manager
            .set_no_progress_timeout(self.now, &self.caller, job, seconds)
    }
}

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
