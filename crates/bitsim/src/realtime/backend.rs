//! [`Backend`] over the real-time driver: the portable BITS API moving
//! real bytes over HTTP, with its own tokio runtime so callers stay
//! synchronous like the COM API.

use std::time::Duration;

use bitsim_model::{
    Caller, Error, ErrorInfo, Hresult, JobId, JobPriority, JobProgress, JobState, JobType,
    ReplyProgress,
};

use super::{Driver, RtConfig};
use crate::backend::Backend;
use crate::callback::{Callback, JobAccess};
use crate::engine::ModelView;

/// [`Backend`] over [`Driver`]: API calls act at once on the real clock;
/// [`Backend::wait_for`] runs the driver's loop (real time passes).
///
/// Must not be used from inside another tokio runtime (it blocks on its own).
pub struct RtBackend {
    rt: tokio::runtime::Runtime,
    drv: Driver,
    caller: Caller,
}

impl RtBackend {
    /// A backend acting as `user`, with a two-worker runtime of its own.
    pub fn new(cfg: RtConfig, user: &str) -> std::io::Result<RtBackend> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let drv = {
            let _g = rt.enter();
            Driver::open(cfg)?
        };
        Ok(RtBackend {
            rt,
            drv,
            caller: Caller::user(user),
        })
    }

    /// Acts as `user` (not an administrator) from now on: another client
    /// of the same service.
    pub fn act_as(&mut self, user: &str) {
        self.caller = Caller::user(user);
    }

    /// The driver behind it.
    pub fn driver(&mut self) -> &mut Driver {
        &mut self.drv
    }

    fn view(&self) -> ModelView<'_> {
        ModelView {
            manager: self.drv.manager(),
            caller: &self.caller,
        }
    }

    fn call<R>(
        &mut self,
        f: impl FnOnce(&mut bitsim_model::Manager, bitsim_model::Time, &Caller) -> R,
    ) -> R {
        let _g = self.rt.enter();
        let caller = self.caller.clone();
        self.drv.call(|m, now| f(m, now, &caller))
    }
}

impl JobAccess for RtBackend {
    fn display_name(&self, job: JobId) -> Result<String, Error> {
        self.view().display_name(job)
    }
    fn job_type(&self, job: JobId) -> Result<JobType, Error> {
        self.view().job_type(job)
    }
    fn state(&self, job: JobId) -> Result<JobState, Error> {
        self.view().state(job)
    }
    fn priority(&self, job: JobId) -> Result<JobPriority, Error> {
        self.view().priority(job)
    }
    fn progress(&self, job: JobId) -> Result<JobProgress, Error> {
        self.view().progress(job)
    }
    fn error_count(&self, job: JobId) -> Result<u32, Error> {
        self.view().error_count(job)
    }
    fn error(&self, job: JobId) -> Result<ErrorInfo, Error> {
        self.view().error(job)
    }
    fn reply_progress(&self, job: JobId) -> Result<ReplyProgress, Error> {
        self.view().reply_progress(job)
    }
    fn resume(&mut self, job: JobId) -> Result<(), Error> {
        self.call(|m, now, c| m.resume(now, c, job))
    }
    fn suspend(&mut self, job: JobId) -> Result<(), Error> {
        self.call(|m, now, c| m.suspend(now, c, job))
    }
    fn cancel(&mut self, job: JobId) -> Result<Hresult, Error> {
        self.call(|m, now, c| m.cancel(now, c, job))
    }
    fn complete(&mut self, job: JobId) -> Result<Hresult, Error> {
        let _g = self.rt.enter();
        let caller = self.caller.clone();
        self.drv.complete(&caller, job)
    }
    fn set_priority(&mut self, job: JobId, priority: JobPriority) -> Result<(), Error> {
        self.call(|m, now, c| m.set_priority(now, c, job, priority))
    }
    fn set_minimum_retry_delay(&mut self, job: JobId, seconds: u32) -> Result<(), Error> {
        self.call(|m, now, c| m.set_minimum_retry_delay(now, c, job, seconds))
    }
    fn set_no_progress_timeout(&mut self, job: JobId, seconds: u32) -> Result<(), Error> {
        self.call(|m, now, c| m.set_no_progress_timeout(now, c, job, seconds))
    }
}

impl Backend for RtBackend {
    fn create_job(&mut self, display_name: &str, job_type: JobType) -> Result<JobId, Error> {
        let id = self.drv.new_job_id();
        self.call(|m, now, c| m.create_job(now, c, id, display_name, job_type))
    }
    fn add_file(&mut self, job: JobId, remote: &str, local: &str) -> Result<(), Error> {
        let local = std::path::absolute(local)
            .map_or_else(|_| local.to_owned(), |p| p.to_string_lossy().into_owned());
        self.call(|m, now, c| m.add_file(now, c, job, remote, &local))
    }
    fn set_notify_interface(
        &mut self,
        job: JobId,
        callback: Option<Box<dyn Callback + Send>>,
    ) -> Result<(), Error> {
        match callback {
            Some(cb) => {
                let _g = self.rt.enter();
                let caller = self.caller.clone();
                self.drv.register_callback(&caller, job, cb).map(|_| ())
            }
            None => self.call(|m, now, c| m.set_notify_interface(now, c, job, None)),
        }
    }
    fn set_notify_flags(&mut self, job: JobId, flags: u32) -> Result<(), Error> {
        self.call(|m, now, c| m.set_notify_flags(now, c, job, flags))
    }
    fn notify_flags(&self, job: JobId) -> Result<u32, Error> {
        self.view().notify_flags(job)
    }
    fn minimum_retry_delay(&self, job: JobId) -> Result<u32, Error> {
        self.view().minimum_retry_delay(job)
    }
    fn no_progress_timeout(&self, job: JobId) -> Result<u32, Error> {
        self.view().no_progress_timeout(job)
    }
    fn set_reply_file_name(&mut self, job: JobId, path: &str) -> Result<(), Error> {
        let path = std::path::absolute(path)
            .map_or_else(|_| path.to_owned(), |p| p.to_string_lossy().into_owned());
        self.call(|m, now, c| m.set_reply_file_name(now, c, job, &path))
    }
    fn wait_for(
        &mut self,
        job: JobId,
        timeout: Duration,
        done: &dyn Fn(JobState) -> bool,
    ) -> JobState {
        let state = |m: &bitsim_model::Manager| m.job(job).map_or(JobState::Cancelled, |j| j.state);
        let drv = &mut self.drv;
        self.rt.block_on(drv.run_until(timeout, |m| done(state(m))));
        state(self.drv.manager())
    }
}
