//! One portable BITS API, several implementations.
//!
//! User code (and bitsim's conformance suite) is written once against
//! [`Backend`]: on Linux CI it runs against [`SimBackend`] (the simulator,
//! virtual time); on Windows, with `bitsim-windows`'s `real-windows` feature,
//! against real BITS over COM. The methods mirror
//! `IBackgroundCopyManager::CreateJob` and `IBackgroundCopyJob`..`Job4`, and
//! return the same HRESULTs.
//!
//! ```
//! use bitsim::backend::{Backend, SimBackend};
//! use bitsim::JobAccess;
//! use bitsim_model::{JobState, JobType};
//! use std::time::Duration;
//!
//! let mut bits = SimBackend::with_files("alice", "http://cdn.example.com", &[("/a.bin", 4096)]);
//! let job = bits.create_job("demo", JobType::Download)?;
//! bits.add_file(job, "http://cdn.example.com/a.bin", "/tmp/a.bin")?;
//! bits.resume(job)?;
//! let state = bits.wait_for(job, Duration::from_secs(60), &|s| s == JobState::Transferred);
//! assert_eq!(state, JobState::Transferred);
//! bits.complete(job)?;
//! assert!(bits.local_file_exists("/tmp/a.bin"));
//! # Ok::<(), bitsim_model::Error>(())
//! ```

use crate::callback::{Callback, JobAccess};
use crate::engine::{ModelAccess, ModelBacked, ModelView};
use crate::scenario::{Scenario, ServerSpec};
use crate::sim::{Report, Simulation};
use crate::units::{Size, Span};
use bitsim_model::{Caller, Error, Hresult, JobId, JobState, JobType, Time};
use std::collections::BTreeMap;
use std::time::Duration;

/// bitsim's portable BITS API: job creation, files, notification set-up,
/// the getters and state-changing methods of [`JobAccess`], and a way to let
/// time pass. Implemented by [`SimBackend`] and by `bitsim-windows`.
pub trait Backend: JobAccess {
    /// `IBackgroundCopyManager::CreateJob`: a new SUSPENDED job.
    fn create_job(&mut self, display_name: &str, job_type: JobType) -> Result<JobId, Error>;
    /// `AddFile`.
    fn add_file(&mut self, job: JobId, remote: &str, local: &str) -> Result<(), Error>;
    /// `SetNotifyInterface`: `None` clears the registration.
    fn set_notify_interface(
        &mut self,
        job: JobId,
        callback: Option<Box<dyn Callback + Send>>,
    ) -> Result<(), Error>;
    /// `SetNotifyFlags`.
    fn set_notify_flags(&mut self, job: JobId, flags: u32) -> Result<(), Error>;
    /// `GetNotifyFlags`.
    fn notify_flags(&self, job: JobId) -> Result<u32, Error>;
    /// `GetMinimumRetryDelay`, seconds.
    fn minimum_retry_delay(&self, job: JobId) -> Result<u32, Error>;
    /// `GetNoProgressTimeout`, seconds.
    fn no_progress_timeout(&self, job: JobId) -> Result<u32, Error>;
    /// `IBackgroundCopyJob2::SetReplyFileName`.
    fn set_reply_file_name(&mut self, job: JobId, path: &str) -> Result<(), Error>;
    /// `IBackgroundCopyJob2::SetNotifyCmdLine`: the program BITS runs when
    /// no callback is registered or the callback failed; both `None`
    /// removes it. Backends without command lines answer `E_NOTIMPL`.
    fn set_notify_cmd_line(
        &mut self,
        job: JobId,
        program: Option<&str>,
        parameters: Option<&str>,
    ) -> Result<(), Error> {
        let _ = (job, program, parameters);
        Err(Error::new(Hresult::E_NOTIMPL))
    }
    /// Lets time pass (virtual in the simulator, real elsewhere) until
    /// `done(state)` holds or `timeout` has passed; returns the last state
    /// seen (`CANCELLED` if the job is gone).
    fn wait_for(
        &mut self,
        job: JobId,
        timeout: Duration,
        done: &dyn Fn(JobState) -> bool,
    ) -> JobState;
}

/// [`Backend`] over the simulator: API calls act at the current virtual
/// instant; [`Backend::wait_for`] advances virtual time.
pub struct SimBackend {
    sim: Simulation,
    caller: Caller,
    registered: BTreeMap<JobId, bitsim_model::CallbackId>,
}

impl SimBackend {
    /// A backend acting as `user` in a world described by a scenario (its
    /// servers, policy and faults; its own jobs, if any, run too).
    pub fn new(world: Scenario, seed: u64, user: &str) -> SimBackend {
        SimBackend {
            sim: Simulation::new(world, seed),
            caller: Caller::user(user),
            registered: BTreeMap::new(),
        }
    }

    /// A world with one server at `base_url` (`http://host`) holding `files`
    /// (`(path, size)`), acting as `user`.
    pub fn with_files(user: &str, base_url: &str, files: &[(&str, u64)]) -> SimBackend {
        let host = base_url
            .split_once("://")
            .map_or(base_url, |(_, h)| h)
            .trim_end_matches('/')
            .to_owned();
        let mut world =
            Scenario::parse("name = \"backend\"\nduration = \"365d\"", "backend").expect("valid");
        world.servers.push(ServerSpec {
            host,
            bandwidth: Size(10_000_000),
            latency: Span(Duration::from_millis(20)),
            files: files
                .iter()
                .map(|(p, s)| ((*p).to_owned(), Size(*s)))
                .collect(),
            reply_size: Size(0),
            app_delay: Span::default(),
        });
        SimBackend::new(world, 0, user)
    }

    /// Acts as `user` (not an administrator) from now on: another client
    /// of the same service.
    pub fn act_as(&mut self, user: &str) {
        self.caller = Caller::user(user);
    }

    /// Acts as an administrator from now on.
    pub fn as_admin(mut self) -> Self {
        self.caller.admin = true;
        self
    }

    /// The simulation behind it.
    pub fn simulation(&self) -> &Simulation {
        &self.sim
    }

    /// The simulation behind it, to change the world between calls: the
    /// service restarts ([`Simulation::restart_service`]), the network
    /// goes ([`Simulation::set_network`]), a fault begins
    /// ([`Simulation::add_fault`]).
    pub fn simulation_mut(&mut self) -> &mut Simulation {
        &mut self.sim
    }

    /// Lets `d` of virtual time pass.
    pub fn advance(&mut self, d: Duration) {
        let t = self.sim.now().saturating_add(d);
        self.sim.run_until(t);
    }

    /// True if the simulated local disk holds `path` (published by Complete).
    pub fn local_file_exists(&self, path: &str) -> bool {
        self.sim.local_file_exists(path)
    }

    /// True if the simulated local disk has any file at `path`: published,
    /// or a download's temporary file (`BIT*.tmp` beside the destination,
    /// named by [`bitsim_model::temp_file_name`], decision A30).
    pub fn disk_has(&self, path: &str) -> bool {
        self.sim.disk_has(path)
    }

    /// How many of `job`'s files have a temporary file on the simulated
    /// disk now (BITS's `BIT*.tmp`, created when a download starts, deleted
    /// by Cancel, renamed by Complete); 0 for an unknown job.
    pub fn temp_files(&self, job: JobId) -> usize {
        self.sim
            .manager()
            .job(job)
            .map_or(0, |j| j.files.iter().filter(|f| f.has_temp).count())
    }

    /// Ends the run and returns its report (trace, final state).
    pub fn finish(self) -> Report {
        self.sim.finish()
    }

    fn now(&self) -> Time {
        self.sim.now()
    }
}

/// [`JobAccess`] comes from the one implementation over the model.
impl ModelBacked for SimBackend {
    fn model_view(&self) -> ModelView<'_> {
        ModelView {
            manager: self.sim.manager(),
            caller: &self.caller,
        }
    }
    fn with_model<R>(&mut self, f: impl FnOnce(&mut ModelAccess<'_>) -> R) -> R {
        let caller = self.caller.clone();
        self.sim.with_manager(|manager, now| {
            f(&mut ModelAccess {
                manager,
                now,
                caller,
            })
        })
    }
}

impl Backend for SimBackend {
    fn create_job(&mut self, display_name: &str, job_type: JobType) -> Result<JobId, Error> {
        let id = self.sim.new_job_id();
        let r = self.with_model(|a| {
            a.manager
                .create_job(a.now, &a.caller, id, display_name, job_type)
        });
        if r.is_ok() {
            self.sim.name_job(id, display_name);
        }
        r
    }
    fn add_file(&mut self, job: JobId, remote: &str, local: &str) -> Result<(), Error> {
        self.with_model(|a| a.manager.add_file(a.now, &a.caller, job, remote, local))
    }
    fn set_notify_interface(
        &mut self,
        job: JobId,
        callback: Option<Box<dyn Callback + Send>>,
    ) -> Result<(), Error> {
        let id = callback.map(|cb| self.sim.add_callback(cb));
        let r = self.with_model(|a| a.manager.set_notify_interface(a.now, &a.caller, job, id));
        if let (Ok(()), Some(id)) = (&r, id) {
            self.registered.insert(job, id);
        }
        r
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
        self.with_model(|a| a.manager.set_reply_file_name(a.now, &a.caller, job, path))
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
        let limit = self.now().saturating_add(timeout);
        loop {
            let state = self.state(job).unwrap_or(JobState::Cancelled);
            if done(state) || self.now() >= limit {
                return state;
            }
            if !self.sim.step(limit) {
                self.sim.run_until(limit);
            }
        }
    }
}
