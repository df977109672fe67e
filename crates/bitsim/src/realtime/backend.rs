//! [`Backend`] over the real-time driver: the portable BITS API moving
//! real bytes over HTTP, with its own tokio runtime so callers stay
//! synchronous like the COM API.

use std::time::Duration;

use bitsim_model::{Caller, Error, Hresult, JobId, JobState, JobType, UserId};

use super::{Driver, RtConfig};
use crate::backend::Backend;
use crate::callback::Callback;
use crate::engine::{ModelAccess, ModelBacked, ModelView};

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

    /// The machine's network goes (`false`) or comes back (`true`). The
    /// driver does not watch the operating system's network; a front that
    /// does tells it here, and the model decides (T27, T28, decision A13)
    /// as it does for the simulator's `network_down` fault.
    pub fn set_network(&mut self, up: bool) {
        self.with_model(|a| a.manager.handle_network_change(a.now, up));
    }

    /// `user` logs on (`true`) or off; like [`RtBackend::set_network`], an
    /// event a front relays (T19, decision A12).
    pub fn set_logged_on(&mut self, user: &str, on: bool) {
        let user = UserId::new(user);
        self.with_model(|a| a.manager.handle_logged_on(a.now, &user, on));
    }
}

/// [`JobAccess`](crate::JobAccess) comes from the one implementation over the model; only
/// `Complete` is the driver's own, which renames the files while the call
/// runs.
impl ModelBacked for RtBackend {
    fn model_view(&self) -> ModelView<'_> {
        ModelView {
            manager: self.drv.manager(),
            caller: &self.caller,
        }
    }
    fn with_model<R>(&mut self, f: impl FnOnce(&mut ModelAccess<'_>) -> R) -> R {
        let _g = self.rt.enter();
        let caller = self.caller.clone();
        self.drv.call(|manager, now| {
            f(&mut ModelAccess {
                manager,
                now,
                caller,
            })
        })
    }
    fn complete_job(&mut self, job: JobId) -> Result<Hresult, Error> {
        let _g = self.rt.enter();
        let caller = self.caller.clone();
        self.drv.complete(&caller, job)
    }
}

impl Backend for RtBackend {
    fn create_job(&mut self, display_name: &str, job_type: JobType) -> Result<JobId, Error> {
        let id = self.drv.new_job_id();
        self.with_model(|a| {
            a.manager
                .create_job(a.now, &a.caller, id, display_name, job_type)
        })
    }
    fn add_file(&mut self, job: JobId, remote: &str, local: &str) -> Result<(), Error> {
        let local = std::path::absolute(local)
            .map_or_else(|_| local.to_owned(), |p| p.to_string_lossy().into_owned());
        self.with_model(|a| a.manager.add_file(a.now, &a.caller, job, remote, &local))
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
            None => {
                self.with_model(|a| a.manager.set_notify_interface(a.now, &a.caller, job, None))
            }
        }
    }
    fn set_notify_flags(&mut self, job: JobId, flags: u32) -> Result<(), Error> {
        self.with_model(|a| a.manager.set_notify_flags(a.now, &a.caller, job, flags))
    }
    fn notify_flags(&self, job: JobId) -> Result<u32, Error> {
        self.model_view().notify_flags(job)
    }
    fn minimum_retry_delay(&self, job: JobId) -> Result<u32, Error> {
        self.model_view().minimum_retry_delay(job)
    }
    fn no_progress_timeout(&self, job: JobId) -> Result<u32, Error> {
        self.model_view().no_progress_timeout(job)
    }
    fn set_reply_file_name(&mut self, job: JobId, path: &str) -> Result<(), Error> {
        let path = std::path::absolute(path)
            .map_or_else(|_| path.to_owned(), |p| p.to_string_lossy().into_owned());
        self.with_model(|a| a.manager.set_reply_file_name(a.now, &a.caller, job, &path))
    }
    fn set_notify_cmd_line(
        &mut self,
        job: JobId,
        program: Option<&str>,
        parameters: Option<&str>,
    ) -> Result<(), Error> {
        self.with_model(|a| {
            a.manager
                .set_notify_cmd_line(a.now, &a.caller, job, program, parameters)
        })
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
