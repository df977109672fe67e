//! The job through the model, as one caller sees it.

use crate::callback::JobAccess;
use bitsim_model::{
    Caller, Error, ErrorInfo, Hresult, Job, JobId, JobPriority, JobProgress, JobState, JobType,
    Manager, ReplyProgress, Time,
};

/// Read-only view of the model as `caller`: the getters of
/// `IBackgroundCopyJob`, every one through
/// [`Manager::job_as`] (owner or administrator; finished jobs readable
/// through a held pointer, decision A16).
#[derive(Clone, Copy)]
pub struct ModelView<'a> {
    /// The service.
    pub manager: &'a Manager,
    /// Who reads.
    pub caller: &'a Caller,
}

impl ModelView<'_> {
    fn with<T>(&self, job: JobId, f: impl FnOnce(&Job) -> T) -> Result<T, Error> {
        self.manager.job_as(self.caller, job).map(f)
    }

    /// `GetDisplayName`.
    pub fn display_name(&self, job: JobId) -> Result<String, Error> {
        self.with(job, |j| j.display_name.clone())
    }
    /// `GetType`.
    pub fn job_type(&self, job: JobId) -> Result<JobType, Error> {
        self.with(job, |j| j.job_type)
    }
    /// `GetState`.
    pub fn state(&self, job: JobId) -> Result<JobState, Error> {
        self.with(job, |j| j.state)
    }
    /// `GetPriority`.
    pub fn priority(&self, job: JobId) -> Result<JobPriority, Error> {
        self.with(job, |j| j.priority)
    }
    /// `GetProgress`.
    pub fn progress(&self, job: JobId) -> Result<JobProgress, Error> {
        self.with(job, Job::progress)
    }
    /// `GetErrorCount`.
    pub fn error_count(&self, job: JobId) -> Result<u32, Error> {
        self.with(job, |j| j.error_count)
    }
    /// `GetError`.
    pub fn error(&self, job: JobId) -> Result<ErrorInfo, Error> {
        self.with(job, |j| j.get_error().cloned())?
    }
    /// `GetReplyProgress`.
    pub fn reply_progress(&self, job: JobId) -> Result<ReplyProgress, Error> {
        self.with(job, Job::reply_progress)?
    }
    /// `GetNotifyFlags`.
    pub fn notify_flags(&self, job: JobId) -> Result<u32, Error> {
        self.with(job, |j| j.notify_flags.0)
    }
    /// `GetMinimumRetryDelay`, in seconds.
    pub fn minimum_retry_delay(&self, job: JobId) -> Result<u32, Error> {
        self.with(job, |j| secs(j.minimum_retry_delay))
    }
    /// `GetNoProgressTimeout`, in seconds.
    pub fn no_progress_timeout(&self, job: JobId) -> Result<u32, Error> {
        self.with(job, |j| secs(j.no_progress_timeout))
    }
}

/// Seconds as the COM getters return them (the setters take a `u32`).
fn secs(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// [`JobAccess`] over the model itself, at one instant, as one caller: what
/// the simulator and the real-time driver hand to callbacks, and what their
/// [`Backend`](crate::Backend)s call.
pub struct ModelAccess<'a> {
    /// The service.
    pub manager: &'a mut Manager,
    /// The instant of the calls.
    pub now: Time,
    /// Who calls (the callback's registrant, or the application).
    pub caller: Caller,
}

impl ModelAccess<'_> {
    /// The read-only view as the same caller.
    pub fn view(&self) -> ModelView<'_> {
        ModelView {
            manager: self.manager,
            caller: &self.caller,
        }
    }
}

/// A front whose jobs live in the model: it lends the model, as its caller
/// and at its current instant, and gets [`JobAccess`] (the getters and job
/// methods of `IBackgroundCopyJob` with BITS's access rules) from the one
/// implementation below instead of writing the delegations again. The
/// simulator's [`SimBackend`](crate::SimBackend), the real-time driver's
/// `RtBackend` and the [`ModelAccess`] a callback gets all use it.
pub trait ModelBacked {
    /// The model, read-only, as the front's caller sees it.
    fn model_view(&self) -> ModelView<'_>;
    /// Runs `f` on the model at the front's current instant as its caller,
    /// then performs what the model asked (the front's effects).
    fn with_model<R>(&mut self, f: impl FnOnce(&mut ModelAccess<'_>) -> R) -> R;
    /// `Complete` \[COMPLETE\]. A front that publishes the files itself
    /// while the call runs overrides it (the real-time driver renames them
    /// at once, so a failed rename is Complete's answer).
    fn complete_job(&mut self, job: JobId) -> Result<Hresult, Error> {
        self.with_model(|a| a.manager.complete(a.now, &a.caller, job))
    }
}

impl ModelBacked for ModelAccess<'_> {
    fn model_view(&self) -> ModelView<'_> {
        self.view()
    }
    fn with_model<R>(&mut self, f: impl FnOnce(&mut ModelAccess<'_>) -> R) -> R {
        f(self)
    }
}

/// The one [`JobAccess`] over the model: every getter through
/// [`ModelView`], every job method through [`Manager`] as the front's caller.
impl<T: ModelBacked> JobAccess for T {
    fn display_name(&self, job: JobId) -> Result<String, Error> {
        self.model_view().display_name(job)
    }
    fn job_type(&self, job: JobId) -> Result<JobType, Error> {
        self.model_view().job_type(job)
    }
    fn state(&self, job: JobId) -> Result<JobState, Error> {
        self.model_view().state(job)
    }
    fn priority(&self, job: JobId) -> Result<JobPriority, Error> {
        self.model_view().priority(job)
    }
    fn progress(&self, job: JobId) -> Result<JobProgress, Error> {
        self.model_view().progress(job)
    }
    fn error_count(&self, job: JobId) -> Result<u32, Error> {
        self.model_view().error_count(job)
    }
    fn error(&self, job: JobId) -> Result<ErrorInfo, Error> {
        self.model_view().error(job)
    }
    fn reply_progress(&self, job: JobId) -> Result<ReplyProgress, Error> {
        self.model_view().reply_progress(job)
    }
    fn resume(&mut self, job: JobId) -> Result<(), Error> {
        self.with_model(|a| a.manager.resume(a.now, &a.caller, job))
    }
    fn suspend(&mut self, job: JobId) -> Result<(), Error> {
        self.with_model(|a| a.manager.suspend(a.now, &a.caller, job))
    }
    fn cancel(&mut self, job: JobId) -> Result<Hresult, Error> {
        self.with_model(|a| a.manager.cancel(a.now, &a.caller, job))
    }
    fn complete(&mut self, job: JobId) -> Result<Hresult, Error> {
        self.complete_job(job)
    }
    fn set_priority(&mut self, job: JobId, priority: JobPriority) -> Result<(), Error> {
        self.with_model(|a| a.manager.set_priority(a.now, &a.caller, job, priority))
    }
    fn set_minimum_retry_delay(&mut self, job: JobId, seconds: u32) -> Result<(), Error> {
        self.with_model(|a| {
            a.manager
                .set_minimum_retry_delay(a.now, &a.caller, job, seconds)
        })
    }
    fn set_no_progress_timeout(&mut self, job: JobId, seconds: u32) -> Result<(), Error> {
        self.with_model(|a| {
            a.manager
                .set_no_progress_timeout(a.now, &a.caller, job, seconds)
        })
    }
}
