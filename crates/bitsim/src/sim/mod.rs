//! The discrete-event simulator: a virtual clock, one seeded RNG, a world of
//! servers and faults, driving [`bitsim_model::Manager`].

use crate::callback::{Callback, CallbackResult, JobHandle, ModelAccess};
use crate::engine::remote::{RemoteObject, RemoteObjects};
use crate::engine::{Callbacks, Delivery, Effects};
use crate::expect::{Failure, World, check_expectations, check_properties};
use crate::local_disk::LocalDisk;
use crate::scenario::*;
use crate::trace::{Trace, TraceEntry, TraceEvent};
use crate::units::Span;
use bitsim_model::*;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

mod effects;
mod faults;
mod jobs;
mod notify;
mod script;
mod transport;

pub use script::ScriptedCallback;
use script::apply_action;

/// The simulator's events, ordered by (time, sequence number).
#[derive(Debug, Clone)]
enum Event {
    CreateJob(usize),
    Action(usize),
    FaultStart(usize),
    FaultEnd(usize),
    Connect {
        job: JobId,
        generation: u64,
    },
    Chunk {
        job: JobId,
        generation: u64,
    },
    AppDone {
        job: JobId,
        generation: u64,
    },
    CallbackReturn {
        id: NotificationId,
        hr: Hresult,
        method: &'static str,
        job: JobId,
        user: UserId,
    },
    CommandExit {
        id: NotificationId,
        outcome: CommandOutcome,
    },
}

#[derive(Debug, Clone)]
struct Transfer {
    generation: u64,
    file: FileRef,
    offset: u64,
    size: u64,
    bandwidth: u64,
    connected: bool,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// The seed used.
    pub seed: u64,
    /// Everything that happened.
    pub trace: Trace,
    /// Expectations (`[[expect]]`, actions' `expect_hr`/`expect`) that did
    /// not hold.
    pub failures: Vec<Failure>,
    /// Properties (`[[properties]]`) that did not hold.
    pub property_failures: Vec<Failure>,
    /// Virtual time at the end.
    pub end: Time,
    /// Events processed.
    pub events: u64,
    /// The service at the end of the run (every job, including finished ones).
    pub manager: Manager,
    /// Job names by id.
    pub names: BTreeMap<JobId, String>,
}

impl Report {
    /// True when every expectation and property held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.property_failures.is_empty()
    }
}

/// What the simulation observed, for expectations.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Callback calls per (job, method).
    pub callbacks: BTreeMap<(String, String), u32>,
    /// Command-line runs per job.
    pub commands: BTreeMap<String, u32>,
    /// Most notifications outstanding per user.
    pub max_outstanding: BTreeMap<String, usize>,
    /// When each job reached a final state.
    pub ended_at: BTreeMap<String, Time>,
    /// Temp files created and deleted, per job.
    pub temps_created: BTreeMap<String, u32>,
    /// Temp files deleted per job.
    pub temps_deleted: BTreeMap<String, u32>,
    /// Reply BytesTotal at the moment the job entered ERROR (`None` = unknown).
    pub reply_total_at_error: BTreeMap<String, Option<u64>>,
    /// The last error each job recorded: code and context.
    pub last_error: BTreeMap<String, (Hresult, ErrorContext)>,
    /// Order in which jobs first reached TRANSFERRING.
    pub first_transfer: Vec<String>,
    /// Jobs that have reached TRANSFERRING (membership for `first_transfer`).
    pub started: BTreeSet<JobId>,
    /// Action results that differed from `expect_hr`.
    pub action_mismatches: Vec<String>,
}

/// [`Simulation::set_callback`] was given a name the scenario has no
/// callback script for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the scenario has no callback script named {name:?} (scripts: {})", known.join(", "))]
pub struct UnknownCallback {
    /// The name given.
    pub name: String,
    /// The scripts the scenario has.
    pub known: Vec<String>,
}

/// A simulation of one scenario with one seed.
pub struct Simulation {
    scenario: Scenario,
    seed: u64,
    rng: ChaCha8Rng,
    mgr: Manager,
    now: Time,
    seq: u64,
    queue: BTreeMap<(Time, u64), Event>,
    /// Job names by id, shared with every trace entry of the job.
    names: BTreeMap<JobId, Arc<str>>,
    ids: BTreeMap<String, JobId>,
    callbacks: Callbacks<Box<dyn Callback>>,
    callback_names: BTreeMap<String, CallbackId>,
    program_runs: BTreeMap<(JobId, String), usize>,
    /// The scenario's job spec behind each job.
    specs: BTreeMap<JobId, usize>,
    transfers: BTreeMap<JobId, Transfer>,
    generation: u64,
    fault_hits: Vec<u32>,
    fault_active: Vec<bool>,
    modified: BTreeSet<String>,
    local: LocalDisk,
    server_files: BTreeSet<String>,
    trace: Vec<TraceEntry>,
    observed: Observed,
    events: u64,
    users: BTreeMap<String, bool>,
    effects_in_trace: bool,
    /// Callback objects that answer from outside the run (a service's
    /// clients), and their notifications waiting for an answer.
    remote: RemoteObjects,
}

pub use crate::engine::RemoteNotification;

impl Simulation {
    /// A simulation of `scenario` with `seed`. Scripted callbacks of the
    /// scenario are registered; [`Simulation::set_callback`] replaces one
    /// with your own [`Callback`].
    pub fn new(scenario: Scenario, seed: u64) -> Simulation {
        let mgr = Manager::new(scenario.policy.clone());
        let mut sim = Simulation {
            fault_hits: vec![0; scenario.faults.len()],
            fault_active: vec![false; scenario.faults.len()],
            rng: ChaCha8Rng::seed_from_u64(seed),
            seed,
            mgr,
            now: Time::ZERO,
            seq: 0,
            queue: BTreeMap::new(),
            names: BTreeMap::new(),
            ids: BTreeMap::new(),
            callbacks: Callbacks::default(),
            callback_names: BTreeMap::new(),
            program_runs: BTreeMap::new(),
            specs: BTreeMap::new(),
            transfers: BTreeMap::new(),
            generation: 0,
            modified: BTreeSet::new(),
            local: LocalDisk::default(),
            server_files: BTreeSet::new(),
            trace: Vec::new(),
            observed: Observed::default(),
            events: 0,
            effects_in_trace: true,
            remote: RemoteObjects::default(),
            users: scenario
                .users
                .iter()
                .map(|u| (u.name.clone(), u.admin))
                .collect(),
            scenario,
        };
        for (i, name) in sim.scenario.callbacks.keys().enumerate() {
            let id = CallbackId(i as u64 + 1);
            sim.callback_names.insert(name.clone(), id);
            let script = sim.scenario.callbacks[name].clone();
            sim.callbacks
                .insert(id, Box::new(ScriptedCallback::new(script)));
        }
        let at = |s: Span| Time::ZERO.saturating_add(s.0);
        // Faults first: a fault at time zero is in place before the jobs start.
        let mut initial = Vec::new();
        for (i, f) in sim.scenario.faults.iter().enumerate() {
            initial.push((at(f.at), Event::FaultStart(i)));
            if let Some(u) = f.until {
                initial.push((at(u), Event::FaultEnd(i)));
            }
        }
        for (i, j) in sim.scenario.jobs.iter().enumerate() {
            initial.push((at(j.create_at), Event::CreateJob(i)));
        }
        for (i, a) in sim.scenario.actions.iter().enumerate() {
            initial.push((at(a.at), Event::Action(i)));
        }
        for (t, e) in initial {
            sim.schedule(t, e);
        }
        let off: Vec<String> = sim
            .scenario
            .users
            .iter()
            .filter(|u| !u.logged_on)
            .map(|u| u.name.clone())
            .collect();
        for u in off {
            sim.mgr.handle_logoff(Time::ZERO, &UserId::new(u));
        }
        sim
    }

    /// A simulation of `scenario` that takes over a queue persisted by an
    /// earlier run (a process that stopped and starts again) at virtual
    /// time `now`: what the new process sees is BITS's service restart
    /// (X2), as [`Simulation::restart_service`] does within one run.
    ///
    /// The scenario's jobs and actions due at or before `now` happened in
    /// the earlier run and are not done again; its faults whose whole span
    /// lies at or before `now` are over; one in place at `now` starts again
    /// at once, except those that are a moment rather than a condition (a
    /// service restart, a change of Last-Modified). Jobs get their GUID as their name in the trace. The
    /// simulated local disk starts empty: a transfer the restart puts back
    /// in QUEUED goes on from the byte the model recorded.
    pub fn resume(scenario: Scenario, seed: u64, manager: Manager, now: Time) -> Simulation {
        let mut sim = Simulation::new(scenario, seed);
        sim.now = now.max(manager.now());
        let now = sim.now;
        let faults = &sim.scenario.faults;
        let ended: BTreeSet<usize> = (0..faults.len())
            .filter(|&i| {
                faults[i]
                    .until
                    .is_some_and(|u| Time::ZERO.saturating_add(u.0) <= now)
            })
            .collect();
        let past: Vec<((Time, u64), Event)> = sim
            .queue
            .range(..=(now, u64::MAX))
            .map(|(k, e)| (*k, e.clone()))
            .collect();
        for (k, e) in past {
            sim.queue.remove(&k);
            // A fault that is a moment, not a condition (a restart, a
            // changed file) happened in the earlier run.
            if let Event::FaultStart(i) = e
                && !ended.contains(&i)
                && !matches!(
                    sim.scenario.faults[i].kind,
                    FaultKind::ServiceRestart | FaultKind::LastModifiedChanged
                )
            {
                sim.schedule(now, Event::FaultStart(i));
            }
        }
        sim.mgr = manager;
        let ids: Vec<JobId> = sim.mgr.all_jobs().map(|j| j.id).collect();
        for id in ids {
            sim.name_job(id, &id.to_string());
        }
        let what = "BITS service restarts (the process started again on its persisted queue)";
        sim.log(None, TraceEvent::Fault { what: what.into() });
        sim.mgr.handle_service_restart(now);
        sim.drain();
        sim
    }

    /// Replaces the callback object registered under the script `name`
    /// with your own implementation. A name the scenario has no
    /// `[callbacks.NAME]` script for is an error (your code would never run).
    pub fn set_callback(
        &mut self,
        name: &str,
        callback: Box<dyn Callback>,
    ) -> Result<(), UnknownCallback> {
        match self.callback_names.get(name) {
            Some(id) => {
                self.callbacks.insert(*id, callback);
                Ok(())
            }
            None => Err(UnknownCallback {
                name: name.to_owned(),
                known: self.callback_names.keys().cloned().collect(),
            }),
        }
    }

    /// Leaves the model's effects (transfer start/stop, file operations,
    /// timers) out of the trace: transitions, callbacks, commands, faults and
    /// application calls stay. The fuzzer uses it; expectations do not need
    /// effects.
    pub fn without_effects_in_trace(mut self) -> Self {
        self.effects_in_trace = false;
        self
    }

    /// The model, for inspection.
    pub fn manager(&self) -> &Manager {
        &self.mgr
    }

    /// A job's id by its scenario name.
    pub fn job_id(&self, name: &str) -> Option<JobId> {
        self.ids.get(name).copied()
    }

    fn schedule(&mut self, at: Time, e: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq), e);
    }

    fn caller(&self, user: &str) -> Caller {
        Caller {
            user: UserId::new(user),
            admin: self.users.get(user).copied().unwrap_or(false),
        }
    }

    /// Logs an effect, formatting it only when effects are traced.
    fn effect(&mut self, job: Option<JobId>, what: impl FnOnce() -> String) {
        if self.effects_in_trace {
            self.log(job, TraceEvent::Effect { what: what() });
        }
    }

    fn log(&mut self, job: Option<JobId>, event: TraceEvent) {
        let job = job.and_then(|j| self.names.get(&j).cloned());
        self.trace.push(TraceEntry {
            at: self.now,
            job,
            event,
        });
    }

    /// Runs to the end (no events left, or the scenario's duration) and
    /// checks the expectations.
    #[must_use = "the Report holds the failures: check Report::passed"]
    pub fn run(mut self) -> Report {
        let end = Time::ZERO.saturating_add(self.scenario.duration.0);
        while self.step(end) {}
        self.finish()
    }

    /// Processes the next event or timer due at or before `limit`; false
    /// when there is none.
    pub fn step(&mut self, limit: Time) -> bool {
        let next_event = self.queue.keys().next().map(|k| k.0);
        let next_timer = self.mgr.poll_timeout();
        // Timers due at the same instant as an event fire first.
        let (at, timer) = match (next_event, next_timer) {
            (None, None) => return false,
            (Some(e), Some(t)) if t <= e => (t, true),
            (Some(e), _) => (e, false),
            (None, Some(t)) => (t, true),
        };
        if at > limit {
            return false;
        }
        self.now = at.max(self.now);
        self.events += 1;
        if timer {
            self.mgr.handle_timeout(self.now);
        } else {
            let (_, ev) = self.queue.pop_first().expect("peeked");
            self.handle_event(ev);
        }
        self.drain();
        true
    }

    /// Runs every event up to `t`, then moves the clock to `t`.
    pub fn run_until(&mut self, t: Time) {
        while self.step(t) {}
        self.now = self.now.max(t);
    }

    /// When the next event or timer is due (`None`: nothing will ever
    /// happen again without a call).
    pub fn next_event(&self) -> Option<Time> {
        let event = self.queue.keys().next().map(|k| k.0);
        match (event, self.mgr.poll_timeout()) {
            (Some(e), Some(t)) => Some(e.min(t)),
            (e, t) => e.or(t),
        }
    }

    /// The virtual clock.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Calls into the model at the current instant (an application call),
    /// then acts on what it asked for.
    pub fn with_manager<R>(&mut self, f: impl FnOnce(&mut Manager, Time) -> R) -> R {
        let r = f(&mut self.mgr, self.now);
        self.drain();
        r
    }

    /// A fresh job GUID from the run's RNG.
    pub fn new_job_id(&mut self) -> JobId {
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        JobId::from_random_bytes(bytes)
    }

    /// Gives a job created through [`Simulation::with_manager`] a name for
    /// the trace and for expectations.
    pub fn name_job(&mut self, id: JobId, name: &str) {
        self.names.insert(id, name.into());
        self.ids.insert(name.to_owned(), id);
    }

    /// Registers a callback object; pass the id to `SetNotifyInterface`.
    pub fn add_callback(&mut self, callback: Box<dyn Callback>) -> CallbackId {
        self.callbacks.register(callback)
    }

    /// Registers a callback object that lives outside the run (a client of
    /// a service): its notifications are not called here but queued for
    /// [`Simulation::poll_remote_notification`], and virtual time waits for
    /// the answer only as far as the front does.
    pub fn add_remote_callback(&mut self) -> CallbackId {
        self.remote.add(&mut self.callbacks, Box::new(RemoteObject))
    }

    /// The object `id` is gone (its process or connection ended): later
    /// notifications to it fail as calls to a dead COM server do
    /// ([`Delivery::Gone`]).
    pub fn remove_callback(&mut self, id: CallbackId) {
        self.remote.remove(&mut self.callbacks, id);
    }

    /// The next notification for a remote callback object, in the order the
    /// model raised them.
    pub fn poll_remote_notification(&mut self) -> Option<RemoteNotification> {
        self.remote.poll()
    }

    /// What the remote object answered to `n` (or [`Delivery::Gone`]):
    /// recorded in the trace and fed to the model at the current instant,
    /// which applies its rule for the answer (a re-call, the command line).
    pub fn remote_callback_returned(&mut self, n: &RemoteNotification, delivery: Delivery) {
        for e in n.answer_events(&delivery) {
            self.log(Some(n.job), e);
        }
        self.mgr
            .handle_callback_result(self.now, n.id, delivery.hr());
        self.drain();
    }

    /// The network goes down or comes back now (as a `network_down` fault
    /// does), recorded in the trace.
    pub fn set_network(&mut self, up: bool) {
        self.mgr.handle_network_change(self.now, up);
        let what = if up { "network back" } else { "network down" };
        self.log(None, TraceEvent::Fault { what: what.into() });
        self.drain();
    }

    /// `user` logs on (`true`) or off now (as a `logoff` fault does).
    pub fn set_logged_on(&mut self, user: &str, on: bool) {
        self.mgr.handle_logged_on(self.now, &UserId::new(user), on);
        self.log(None, TraceEvent::logged_on(user, on));
        self.drain();
    }

    /// The BITS service restarts now (as a `service_restart` fault does):
    /// the queue goes through its persisted form; callback registrations
    /// are dropped as BITS drops them.
    pub fn restart_service(&mut self) {
        let what = "BITS service restarts (queue reloaded from its persisted state)".to_owned();
        self.log(None, TraceEvent::Fault { what });
        self.service_restart();
    }

    /// Adds a fault of the scenario format during the run; its `at` and
    /// `until` count from now. A fault due now is in place at once.
    pub fn add_fault(&mut self, mut fault: FaultSpec) -> Result<(), String> {
        fault.check()?;
        let start = self.now.saturating_add(fault.at.0);
        let end = fault.until.map(|u| self.now.saturating_add(u.0));
        if end.is_some_and(|e| e < start) {
            return Err(format!("fault {:?}: `until` is before `at`", fault.kind));
        }
        fn since_zero(t: Time) -> Span {
            Span(Duration::from_millis(t.as_millis()))
        }
        fault.at = since_zero(start);
        fault.until = end.map(since_zero);
        let i = self.scenario.faults.len();
        self.scenario.faults.push(fault);
        self.fault_hits.push(0);
        self.fault_active.push(false);
        if start == self.now {
            self.fault_start(i);
            self.drain();
        } else {
            self.schedule(start, Event::FaultStart(i));
        }
        if let Some(e) = end {
            self.schedule(e, Event::FaultEnd(i));
        }
        Ok(())
    }

    /// Ends every fault in place now and drops every fault still to come
    /// (the scenario's and those [`Simulation::add_fault`] added), of every
    /// kind or only of `kind`. A fault that ends undoes what it did as its
    /// `until` would: the network comes back, a user logged off by a fault
    /// logs on. Returns how many faults were ended or dropped.
    pub fn clear_faults(&mut self, kind: Option<FaultKind>) -> usize {
        let mut cleared = BTreeSet::new();
        for i in 0..self.scenario.faults.len() {
            if kind.is_some_and(|k| k != self.scenario.faults[i].kind) {
                continue;
            }
            let scheduled = self
                .queue
                .values()
                .any(|e| matches!(e, Event::FaultStart(j) | Event::FaultEnd(j) if *j == i));
            if self.fault_active[i] {
                self.fault_end(i);
                cleared.insert(i);
            } else if scheduled {
                cleared.insert(i);
            }
        }
        self.queue.retain(
            |_, e| !matches!(e, Event::FaultStart(i) | Event::FaultEnd(i) if cleared.contains(i)),
        );
        self.drain();
        cleared.len()
    }

    /// Everything that happened so far.
    pub fn trace(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// True if the simulated local disk has `path` (a published file).
    pub fn local_file_exists(&self, path: &str) -> bool {
        self.local.is_published(path)
    }

    /// True if the simulated local disk has any file at `path`: a
    /// published one, or a download's temporary file (named by
    /// [`bitsim_model::temp_file_name`], decision A30).
    pub fn disk_has(&self, path: &str) -> bool {
        self.local.exists(path)
    }

    /// Ends the run: checks the expectations and returns the report.
    #[must_use = "the Report holds the failures: check Report::passed"]
    pub fn finish(self) -> Report {
        let world = World {
            scenario: &self.scenario,
            mgr: &self.mgr,
            ids: &self.ids,
            trace: &self.trace,
            observed: &self.observed,
            local: &self.local,
            server_files: &self.server_files,
        };
        let failures = check_expectations(&world);
        let property_failures = check_properties(&world);
        Report {
            scenario: self.scenario.name.clone(),
            seed: self.seed,
            trace: Trace(self.trace),
            failures,
            property_failures,
            end: self.now,
            events: self.events,
            manager: self.mgr,
            names: self
                .names
                .into_iter()
                .map(|(id, n)| (id, n.to_string()))
                .collect(),
        }
    }

    fn handle_event(&mut self, ev: Event) {
        match ev {
            Event::CreateJob(i) => self.create_job(i),
            Event::Action(i) => self.action(i),
            Event::FaultStart(i) => self.fault_start(i),
            Event::FaultEnd(i) => self.fault_end(i),
            Event::Connect { job, generation } => self.connect(job, generation),
            Event::Chunk { job, generation } => self.chunk(job, generation),
            Event::AppDone { job, generation } => self.app_done(job, generation),
            Event::CallbackReturn {
                id,
                hr,
                method,
                job,
                user,
            } => {
                self.log(
                    Some(job),
                    TraceEvent::CallbackReturned {
                        method: method.into(),
                        user: user.0.clone(),
                    },
                );
                self.mgr.handle_callback_result(self.now, id, hr);
            }
            Event::CommandExit { id, outcome } => {
                self.mgr.handle_command_result(self.now, id, outcome);
            }
        }
    }

    /// Drains the model's outputs and acts on them.
    pub(super) fn drain(&mut self) {
        crate::engine::drain(self, |s| &mut s.mgr);
    }

    /// A notification started for `user`: the only moment their count of
    /// outstanding notifications can reach a new maximum.
    pub(super) fn note_outstanding(&mut self, user: &UserId) -> usize {
        let n = self.mgr.outstanding_notifications(user);
        let m = self
            .observed
            .max_outstanding
            .entry(user.0.clone())
            .or_default();
        *m = (*m).max(n);
        n
    }
}

pub(super) fn secs(s: Span) -> u32 {
    s.0.as_secs().min(u32::MAX as u64) as u32
}

pub(super) fn file_label(f: FileRef) -> String {
    match f {
        FileRef::File(i) => format!("file {i}"),
        FileRef::Reply => "reply".to_owned(),
    }
}
