//! The discrete-event simulator: a virtual clock, one seeded RNG, a world of
//! servers and faults, driving [`bitsim_model::Manager`].

use crate::callback::{Callback, CallbackResult, JobHandle, ModelAccess};
use crate::engine::{Callbacks, Delivery, Effects};
use crate::expect::{Failure, World, check_expectations, check_properties};
use crate::scenario::*;
use crate::trace::{Trace, TraceEntry, TraceEvent};
use crate::units::Span;
use bitsim_model::*;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

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

/// A file on the simulated local disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum LocalKind {
    Temp,
    Final,
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
    names: BTreeMap<JobId, String>,
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
    local: BTreeMap<String, LocalKind>,
    server_files: BTreeSet<String>,
    trace: Vec<TraceEntry>,
    observed: Observed,
    events: u64,
    users: BTreeMap<String, bool>,
    effects_in_trace: bool,
    /// Callback objects that answer from outside the run (a service's
    /// clients), and their notifications waiting for an answer.
    remote: BTreeSet<CallbackId>,
    remote_pending: VecDeque<RemoteNotification>,
}

/// A notification for a callback object that answers from outside the
/// simulation ([`Simulation::add_remote_callback`]): the front sends it to
/// the object and reports the answer with
/// [`Simulation::remote_callback_returned`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteNotification {
    /// The model's notification.
    pub id: NotificationId,
    /// The job.
    pub job: JobId,
    /// The registrant (the callback acts as this user).
    pub user: UserId,
    /// The object.
    pub callback: CallbackId,
    /// Which method.
    pub kind: NotifyKind,
    /// The user's notifications outstanding with this one.
    pub outstanding: usize,
}

/// The object behind a remote callback id: never called (the simulation
/// hands its notifications to the front), present so that
/// [`Callbacks::deliver`] knows the object is alive.
struct RemoteObject;
impl Callback for RemoteObject {}

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
            local: BTreeMap::new(),
            server_files: BTreeSet::new(),
            trace: Vec::new(),
            observed: Observed::default(),
            events: 0,
            effects_in_trace: true,
            remote: BTreeSet::new(),
            remote_pending: VecDeque::new(),
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
        self.names.insert(id, name.to_owned());
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
        let id = self.callbacks.register(Box::new(RemoteObject));
        self.remote.insert(id);
        id
    }

    /// The object `id` is gone (its process or connection ended): later
    /// notifications to it fail as calls to a dead COM server do
    /// ([`Delivery::Gone`]).
    pub fn remove_callback(&mut self, id: CallbackId) {
        self.callbacks.remove(id);
        self.remote.remove(&id);
    }

    /// The next notification for a remote callback object, in the order the
    /// model raised them.
    pub fn poll_remote_notification(&mut self) -> Option<RemoteNotification> {
        self.remote_pending.pop_front()
    }

    /// What the remote object answered to `n` (or [`Delivery::Gone`]):
    /// recorded in the trace and fed to the model at the current instant,
    /// which applies its rule for the answer (a re-call, the command line).
    pub fn remote_callback_returned(&mut self, n: &RemoteNotification, delivery: Delivery) {
        let method = n.kind.method();
        let calls: Vec<String> = delivery
            .calls()
            .iter()
            .map(|(c, h)| format!("{c} -> {h}"))
            .collect();
        self.log(
            Some(n.job),
            TraceEvent::Callback {
                method: method.into(),
                user: n.user.0.clone(),
                result: delivery.hr(),
                hold: None,
                calls,
                outstanding: n.outstanding,
            },
        );
        self.log(
            Some(n.job),
            TraceEvent::CallbackReturned {
                method: method.into(),
                user: n.user.0.clone(),
            },
        );
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
        let u = UserId::new(user);
        if on {
            self.mgr.handle_logon(self.now, &u);
        } else {
            self.mgr.handle_logoff(self.now, &u);
        }
        let what = format!("{user} logs {}", if on { "on" } else { "off" });
        self.log(None, TraceEvent::Fault { what });
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

    /// Everything that happened so far.
    pub fn trace(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// True if the simulated local disk has `path` (a published file).
    pub fn local_file_exists(&self, path: &str) -> bool {
        self.local.get(path) == Some(&LocalKind::Final)
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
            names: self.names,
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

    fn create_job(&mut self, i: usize) {
        let spec = self.scenario.jobs[i].clone();
        self.users.entry(spec.owner.clone()).or_insert(false);
        let caller = self.caller(&spec.owner);
        let id = self.new_job_id();
        self.names.insert(id, spec.name.clone());
        let now = self.now;
        let r = self
            .mgr
            .create_job(now, &caller, id, &spec.name, spec.r#type);
        if let Err(e) = r {
            self.names.remove(&id);
            self.log(
                None,
                TraceEvent::Action {
                    call: format!("CreateJob({:?})", spec.name),
                    result: e.code.to_string(),
                },
            );
            return;
        }
        self.ids.insert(spec.name.clone(), id);
        self.specs.insert(id, i);
        self.log(
            Some(id),
            TraceEvent::Action {
                call: format!("CreateJob({:?}, {})", spec.name, spec.r#type),
                result: Hresult::S_OK.to_string(),
            },
        );
        self.drain();
        for (call, label) in self.setup_calls(&spec) {
            let r = call.apply(&mut self.mgr, now, &caller, id).map(|_| ());
            self.logged_call(id, label.unwrap_or_else(|| call.to_string()), r);
        }
    }

    /// The calls that set a job up as its spec says, in order (files,
    /// properties, notifications, Resume), with the trace label where it
    /// differs from the call's own (a callback script by name).
    fn setup_calls(&self, spec: &JobSpec) -> Vec<(Call, Option<String>)> {
        let mut calls: Vec<(Call, Option<String>)> = spec
            .files
            .iter()
            .map(|f| {
                let add = Call::AddFile {
                    remote: f.remote.clone(),
                    local: f.local.clone(),
                };
                (add, None)
            })
            .collect();
        let mut push = |c: Call| calls.push((c, None));
        if let Some(priority) = spec.priority {
            push(Call::SetPriority { priority });
        }
        if let Some(flags) = spec.notify_flags {
            push(Call::SetNotifyFlags { flags });
        }
        if let Some(d) = spec.retry_delay {
            push(Call::SetMinimumRetryDelay { seconds: secs(d) });
        }
        if let Some(d) = spec.no_progress_timeout {
            push(Call::SetNoProgressTimeout { seconds: secs(d) });
        }
        if let Some(d) = spec.max_download_time {
            push(Call::SetMaximumDownloadTime { seconds: secs(d) });
        }
        if let Some(c) = &spec.cmd_line {
            push(Call::SetNotifyCmdLine {
                program: Some(c.program.clone()),
                parameters: c.parameters.clone(),
            });
        }
        if let Some(cb) = &spec.callback {
            let callback = self.callback_names.get(cb).copied();
            calls.push((
                Call::SetNotifyInterface { callback },
                Some(format!("SetNotifyInterface({cb})")),
            ));
        }
        if spec.resume {
            calls.push((Call::Resume, None));
        }
        calls
    }

    /// Logs an application call and then what the model did about it.
    fn logged_call(&mut self, id: JobId, call: String, r: std::result::Result<(), Error>) {
        let result = r.map_or_else(|e| e.code.to_string(), |_| Hresult::S_OK.to_string());
        self.log(Some(id), TraceEvent::Action { call, result });
        self.drain();
    }

    /// A scripted application call: one [`Call`] applied to the model, its
    /// result checked against the action's `expect_hr` / `expect`.
    fn action(&mut self, i: usize) {
        let a = self.scenario.actions[i].clone();
        let id = a.job.as_ref().and_then(|n| self.ids.get(n).copied());
        let owner = id
            .and_then(|id| self.mgr.job(id))
            .map(|j| j.owner.0.clone());
        let user = a.user.clone().or(owner).unwrap_or_default();
        let caller = self.caller(&user);
        let now = self.now;
        let Some(id) = id else {
            self.log(
                None,
                TraceEvent::Action {
                    call: a.call.method().to_owned(),
                    result: "no such job (not created)".into(),
                },
            );
            return;
        };
        let mut call = a.call.clone();
        let text = match (&mut call, &a.script) {
            (Call::SetNotifyInterface { callback }, script) => {
                *callback = script
                    .as_ref()
                    .and_then(|s| self.callback_names.get(s).copied());
                format!("SetNotifyInterface({})", script.as_deref().unwrap_or(""))
            }
            (Call::TakeOwnership, _) => format!("TakeOwnership as {user}"),
            (c, _) => c.to_string(),
        };
        let r = call.apply(&mut self.mgr, now, &caller, id);
        let hr = match &r {
            Ok(reply) => reply.hresult(),
            Err(e) => e.code,
        };
        if let Some(want) = a.expect_hr
            && want != hr
        {
            self.observed
                .action_mismatches
                .push(format!("{text} at {}: expected {want}, got {hr}", a.at));
        }
        if let Some(want) = &a.expect {
            match &r {
                Ok(got) if want.matches(got) => {}
                Ok(got) => self.observed.action_mismatches.push(format!(
                    "{text} at {}: expected {}, got {got}",
                    a.at, want.0
                )),
                Err(e) => self.observed.action_mismatches.push(format!(
                    "{text} at {}: expected {}, got {}",
                    a.at, want.0, e.code
                )),
            }
        }
        let result = match &r {
            Ok(reply) if call.is_getter() => format!("{hr}: {reply}"),
            _ => hr.to_string(),
        };
        self.log(Some(id), TraceEvent::Action { call: text, result });
    }

    fn fault_start(&mut self, i: usize) {
        let f = self.scenario.faults[i].clone();
        self.fault_active[i] = true;
        let what = match f.kind {
            FaultKind::NetworkDown => {
                self.mgr.handle_network_change(self.now, false);
                "network down".to_owned()
            }
            FaultKind::Logoff => {
                let u = f.user.clone().unwrap_or_default();
                self.mgr.handle_logoff(self.now, &UserId::new(u.clone()));
                format!("{u} logs off")
            }
            FaultKind::ServiceRestart => {
                let what =
                    "BITS service restarts (queue reloaded from its persisted state)".to_owned();
                self.log(None, TraceEvent::Fault { what });
                self.service_restart();
                return;
            }
            FaultKind::ConnectionReset => {
                let victims: Vec<JobId> = self
                    .transfers
                    .keys()
                    .copied()
                    .filter(|j| {
                        self.url_of(*j)
                            .is_some_and(|u| f.url.as_ref().is_none_or(|p| u.contains(p.as_str())))
                    })
                    .collect();
                for j in &victims {
                    self.fail_transfer(
                        *j,
                        Hresult::WININET_E_CONNECTION_RESET,
                        ErrorContext::GeneralTransport,
                    );
                }
                format!("connection reset ({} transfer(s))", victims.len())
            }
            FaultKind::LastModifiedChanged => {
                self.modified.insert(f.url.clone().unwrap_or_default());
                format!(
                    "Last-Modified changes on {}",
                    f.url.as_deref().unwrap_or("every URL")
                )
            }
            _ => f.describe(),
        };
        self.log(None, TraceEvent::Fault { what });
    }

    fn fault_end(&mut self, i: usize) {
        let f = self.scenario.faults[i].clone();
        self.fault_active[i] = false;
        let what = match f.kind {
            FaultKind::NetworkDown => {
                self.mgr.handle_network_change(self.now, true);
                "network back".to_owned()
            }
            FaultKind::Logoff => {
                let u = f.user.clone().unwrap_or_default();
                self.mgr.handle_logon(self.now, &UserId::new(u.clone()));
                format!("{u} logs on")
            }
            _ => f.describe_end(),
        };
        self.log(None, TraceEvent::Fault { what });
    }

    fn service_restart(&mut self) {
        // The queue is persisted and reloaded: prove it round-trips.
        let saved = serde_json::to_string(&self.mgr).expect("the manager serializes");
        self.drain();
        self.mgr = serde_json::from_str(&saved).expect("the persisted queue reloads");
        // The running transfers die with the service: X2's StopTransfer
        // (one per active job) removes them.
        self.generation += 1;
        self.mgr.handle_service_restart(self.now);
        self.drain();
        let now = self.now;
        let jobs: Vec<(JobId, usize)> = self.specs.iter().map(|(id, i)| (*id, *i)).collect();
        for (id, i) in jobs {
            if self.mgr.job(id).is_none_or(|j| j.state.is_final()) {
                continue;
            }
            let spec = self.scenario.jobs[i].clone();
            let Some(cb) = spec.callback.as_ref() else {
                continue;
            };
            if self.scenario.callbacks[cb].reregister_after_restart {
                let caller = self.caller(&spec.owner);
                let cid = self.callback_names[cb];
                let r = self.mgr.set_notify_interface(now, &caller, id, Some(cid));
                let result = r.map_or_else(|e| e.code.to_string(), |_| Hresult::S_OK.to_string());
                self.log(
                    Some(id),
                    TraceEvent::Action {
                        call: format!("SetNotifyInterface({cb}) after restart"),
                        result,
                    },
                );
            }
        }
    }

    /// Does an active fault of `kind` apply to `url` now? Consumes a hit and,
    /// for probabilistic faults, one RNG draw.
    fn fault_hits(&mut self, kind: FaultKind, url: &str) -> Option<FaultSpec> {
        for i in 0..self.scenario.faults.len() {
            let f = &self.scenario.faults[i];
            if f.kind != kind || !self.fault_active[i] {
                continue;
            }
            if f.url.as_ref().is_some_and(|p| !url.contains(p.as_str())) {
                continue;
            }
            if f.count.is_some_and(|c| self.fault_hits[i] >= c) {
                continue;
            }
            if let Some(p) = f.probability
                && !self.rng.random_bool(p)
            {
                continue;
            }
            self.fault_hits[i] += 1;
            return Some(self.scenario.faults[i].clone());
        }
        None
    }

    fn url_of(&self, job: JobId) -> Option<String> {
        let t = self.transfers.get(&job)?;
        let j = self.mgr.job(job)?;
        match t.file {
            FileRef::File(i) => j.files.get(i).map(|f| f.remote_name.clone()),
            FileRef::Reply => j.files.first().map(|f| f.remote_name.clone()),
        }
    }

    fn server_for(&self, url: &str) -> Option<(&ServerSpec, String)> {
        let rest = url.split_once("://").map(|(_, r)| r)?;
        let (host, path) = rest
            .split_once('/')
            .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
        self.scenario
            .servers
            .iter()
            .find(|s| s.host.eq_ignore_ascii_case(host))
            .map(|s| (s, path))
    }

    fn fail_transfer(&mut self, job: JobId, code: Hresult, context: ErrorContext) {
        let file = self.transfers.remove(&job).map(|t| t.file);
        if let Some(j) = self.mgr.job(job)
            && (j.state == JobState::Error || j.state.is_final())
        {
            return;
        }
        self.reply_total_snapshot(job);
        self.mgr
            .handle_transfer_error(self.now, job, TransferError::new(code, context, file));
    }

    fn reply_total_snapshot(&mut self, job: JobId) {
        if let (Some(name), Some(j)) = (self.names.get(&job), self.mgr.job(job))
            && let Some(r) = &j.reply
        {
            let v = (r.bytes_total != BG_SIZE_UNKNOWN).then_some(r.bytes_total);
            self.observed.reply_total_at_error.insert(name.clone(), v);
        }
    }

    fn start_transfer(&mut self, job: JobId, file: FileRef, offset: u64) {
        self.generation += 1;
        let generation = self.generation;
        let Some(j) = self.mgr.job(job) else { return };
        let url = match file {
            FileRef::File(i) => j
                .files
                .get(i)
                .map(|f| f.remote_name.clone())
                .unwrap_or_default(),
            FileRef::Reply => j
                .files
                .first()
                .map(|f| f.remote_name.clone())
                .unwrap_or_default(),
        };
        let (bandwidth, latency) = self
            .server_for(&url)
            .map(|(s, _)| (s.bandwidth.0.max(1), s.latency.0))
            .unwrap_or((1_000_000, Duration::from_millis(50)));
        if let (FileRef::File(_), JobType::Download) = (file, j.job_type) {
            if let Some(name) = self.names.get(&job).cloned() {
                *self.observed.temps_created.entry(name).or_default() += 1;
            }
            if let FileRef::File(i) = file {
                let local = j.files[i].local_name.clone();
                self.local.insert(temp_name(&local), LocalKind::Temp);
            }
        }
        self.transfers.insert(
            job,
            Transfer {
                generation,
                file,
                offset,
                size: 0,
                bandwidth,
                connected: false,
            },
        );
        if file == FileRef::Reply {
            let delay = self
                .server_for(&url)
                .map_or(Duration::ZERO, |(s, _)| s.app_delay.0);
            self.schedule(
                self.now.saturating_add(latency + delay),
                Event::AppDone { job, generation },
            );
        } else {
            self.schedule(
                self.now.saturating_add(latency),
                Event::Connect { job, generation },
            );
        }
    }

    fn current(&self, job: JobId, generation: u64) -> Option<Transfer> {
        self.transfers
            .get(&job)
            .filter(|t| t.generation == generation)
            .cloned()
    }

    fn connect(&mut self, job: JobId, generation: u64) {
        let Some(t) = self.current(job, generation) else {
            return;
        };
        let Some(j) = self.mgr.job(job) else { return };
        let FileRef::File(i) = t.file else { return };
        let url = j.files[i].remote_name.clone();
        let upload = j.job_type.is_upload();
        let upload_size = self
            .specs
            .get(&job)
            .and_then(|&n| self.scenario.jobs[n].files.get(i))
            .and_then(|f| f.size)
            .map_or(0, |s| s.0);
        let checks = [
            (
                FaultKind::NameResolution,
                Hresult::WININET_E_NAME_NOT_RESOLVED,
                ErrorContext::GeneralTransport,
            ),
            (
                FaultKind::Timeout,
                Hresult::WININET_E_TIMEOUT,
                ErrorContext::GeneralTransport,
            ),
            (
                FaultKind::ConnectionReset,
                Hresult::WININET_E_CONNECTION_RESET,
                ErrorContext::GeneralTransport,
            ),
            (
                FaultKind::DiskFull,
                Hresult::E_DISK_FULL,
                ErrorContext::LocalFile,
            ),
        ];
        for (kind, code, ctx) in checks {
            if kind == FaultKind::DiskFull && upload {
                continue;
            }
            if self.fault_hits(kind, &url).is_some() {
                return self.fail_transfer(job, code, ctx);
            }
        }
        if let Some(f) = self.fault_hits(FaultKind::HttpStatus, &url) {
            return self.fail_transfer(
                job,
                Hresult::http(f.status.unwrap_or(500)),
                ErrorContext::RemoteFile,
            );
        }
        let size = if upload {
            upload_size
        } else {
            let Some((server, path)) = self.server_for(&url) else {
                return self.fail_transfer(
                    job,
                    Hresult::WININET_E_NAME_NOT_RESOLVED,
                    ErrorContext::GeneralTransport,
                );
            };
            match server.files.get(&path) {
                Some(s) => s.0,
                None => {
                    return self.fail_transfer(job, Hresult::http(404), ErrorContext::RemoteFile);
                }
            }
        };
        if !upload && t.offset > 0 && self.fault_hits(FaultKind::NoRangeSupport, &url).is_some() {
            // A 200 to a ranged request [HTTPREQ] [RETVALS].
            return self.fail_transfer(
                job,
                Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT,
                ErrorContext::RemoteFile,
            );
        }
        self.mgr.handle_connected(self.now, job);
        self.mgr.handle_file_size(self.now, job, i, size);
        if let Some(tr) = self.transfers.get_mut(&job) {
            tr.size = size;
            tr.connected = true;
        }
        self.next_chunk(job, generation);
    }

    fn next_chunk(&mut self, job: JobId, generation: u64) {
        let Some(t) = self.current(job, generation) else {
            return;
        };
        let remaining = t.size.saturating_sub(t.offset);
        // At most ~8 chunks per file, each at least one second of bandwidth.
        let chunk = remaining.min(t.bandwidth.max(t.size.div_ceil(8)).max(1));
        let ms = (chunk.saturating_mul(1000) / t.bandwidth).max(1);
        self.schedule(
            self.now.saturating_add(Duration::from_millis(ms)),
            Event::Chunk { job, generation },
        );
    }

    fn chunk(&mut self, job: JobId, generation: u64) {
        let Some(t) = self.current(job, generation) else {
            return;
        };
        let Some(url) = self.url_of(job) else { return };
        let upload = self.mgr.job(job).is_some_and(|j| j.job_type.is_upload());
        if self.fault_hits(FaultKind::ConnectionReset, &url).is_some() {
            return self.fail_transfer(
                job,
                Hresult::WININET_E_CONNECTION_RESET,
                ErrorContext::GeneralTransport,
            );
        }
        if upload && self.fault_hits(FaultKind::LocalFileChanged, &url).is_some() {
            return self.fail_transfer(
                job,
                Hresult::BG_E_LOCAL_FILE_CHANGED,
                ErrorContext::LocalFile,
            );
        }
        if t.file == FileRef::Reply {
            if let Some(f) = self.fault_hits(FaultKind::ReplyFailure, &url) {
                let status = f.status.unwrap_or(500);
                return self.fail_transfer(job, Hresult::http(status), ErrorContext::RemoteFile);
            }
        } else if !upload
            && let Some(p) = self
                .modified
                .iter()
                .find(|p| url.contains(p.as_str()))
                .cloned()
        {
            // Last-Modified changed: the file restarts from 0 [FILEPROG] [SETREMOTE].
            self.modified.remove(&p);
            if let FileRef::File(i) = t.file {
                self.mgr.handle_file_reset(self.now, job, i);
                self.mgr.handle_file_size(self.now, job, i, t.size);
            }
            if let Some(tr) = self.transfers.get_mut(&job) {
                tr.offset = 0;
            }
            self.effect(Some(job), || {
                "remote file changed: restart from byte 0".into()
            });
            return self.next_chunk(job, generation);
        }
        let remaining = t.size.saturating_sub(t.offset);
        let chunk = remaining.min(t.bandwidth.max(t.size.div_ceil(8)).max(1));
        let offset = t.offset + chunk;
        if let Some(tr) = self.transfers.get_mut(&job) {
            tr.offset = offset;
        }
        match t.file {
            FileRef::File(i) => {
                if chunk > 0 {
                    self.mgr.handle_progress(self.now, job, i, offset);
                }
                if offset >= t.size {
                    self.transfers.remove(&job);
                    if upload {
                        self.server_files.insert(url.clone());
                    }
                    self.mgr.handle_file_done(self.now, job, i);
                } else {
                    self.next_chunk(job, generation);
                }
            }
            FileRef::Reply => {
                self.mgr
                    .handle_reply_progress(self.now, job, offset, t.size);
                if offset >= t.size {
                    self.transfers.remove(&job);
                    let data = vec![0x5A; t.size.min(2 << 20) as usize];
                    self.mgr.handle_reply_done(self.now, job, Some(data));
                } else {
                    self.next_chunk(job, generation);
                }
            }
        }
    }

    /// The upload-reply server application answered: fail with
    /// REMOTE_APPLICATION, or start sending the reply \[SRVAPPERR\].
    fn app_done(&mut self, job: JobId, generation: u64) {
        if self.current(job, generation).is_none() {
            return;
        }
        let Some(url) = self.url_of(job) else { return };
        if let Some(e) = self.mgr.server_application_refusal(job) {
            // The model's rule (decision A28): no new post after a 403.
            self.effect(Some(job), || {
                "upload not posted again: the server application answered 403".into()
            });
            return self.fail_transfer(job, e.code, e.context);
        }
        if let Some(f) = self.fault_hits(FaultKind::ServerAppFailure, &url) {
            let status = f.status.unwrap_or(500);
            return self.fail_transfer(job, Hresult::http(status), ErrorContext::RemoteApplication);
        }
        let size = self.server_for(&url).map_or(0, |(s, _)| s.reply_size.0);
        self.mgr.handle_connected(self.now, job);
        if size == 0 {
            self.transfers.remove(&job);
            self.mgr.handle_reply_progress(self.now, job, 0, 0);
            self.mgr.handle_reply_done(self.now, job, None);
            return;
        }
        self.mgr.handle_reply_progress(self.now, job, 0, size);
        if let Some(tr) = self.transfers.get_mut(&job) {
            tr.size = size;
            tr.connected = true;
        }
        self.next_chunk(job, generation);
    }

    /// Drains the model's outputs and acts on them.
    fn drain(&mut self) {
        crate::engine::drain(self, |s| &mut s.mgr);
    }

    /// A notification started for `user`: the only moment their count of
    /// outstanding notifications can reach a new maximum.
    fn note_outstanding(&mut self, user: &UserId) -> usize {
        let n = self.mgr.outstanding_notifications(user);
        let m = self
            .observed
            .max_outstanding
            .entry(user.0.clone())
            .or_default();
        *m = (*m).max(n);
        n
    }

    fn deliver_notification(
        &mut self,
        id: NotificationId,
        job: JobId,
        user: UserId,
        callback: CallbackId,
        kind: NotifyKind,
    ) {
        let method = kind.method();
        let name = self.names.get(&job).cloned().unwrap_or_default();
        *self
            .observed
            .callbacks
            .entry((name, method.to_owned()))
            .or_default() += 1;
        let outstanding = self.note_outstanding(&user);
        if self.remote.contains(&callback) {
            self.remote_pending.push_back(RemoteNotification {
                id,
                job,
                user,
                callback,
                kind,
                outstanding,
            });
            return;
        }
        let caller = self.caller(&user.0);
        let d = self
            .callbacks
            .deliver(&mut self.mgr, self.now, caller, callback, job, kind);
        let calls: Vec<String> = d
            .calls()
            .iter()
            .map(|(c, h)| format!("{c} -> {h}"))
            .collect();
        let hold = (!d.hold().is_zero()).then(|| Span(d.hold()).to_string());
        self.log(
            Some(job),
            TraceEvent::Callback {
                method: method.into(),
                user: user.0.clone(),
                result: d.hr(),
                hold,
                calls,
                outstanding,
            },
        );
        let at = self.now.saturating_add(d.hold());
        self.schedule(
            at,
            Event::CallbackReturn {
                id,
                hr: d.hr(),
                method,
                job,
                user,
            },
        );
    }

    fn run_program(
        &mut self,
        id: NotificationId,
        job: JobId,
        user: UserId,
        program: String,
        parameters: Option<String>,
        _kind: NotifyKind,
    ) {
        self.note_outstanding(&user);
        let name = self.names.get(&job).cloned().unwrap_or_default();
        let spec = self
            .scenario
            .programs
            .get(&program)
            .cloned()
            .unwrap_or_default();
        let run = {
            let r = self.program_runs.entry((job, program.clone())).or_default();
            *r += 1;
            *r - 1
        };
        let command_line = match &parameters {
            Some(p) => format!("{program} {p}"),
            None => program.clone(),
        };
        if spec.missing {
            self.log(
                Some(job),
                TraceEvent::Command {
                    command_line,
                    outcome: "could not start".into(),
                },
            );
            self.schedule(
                self.now,
                Event::CommandExit {
                    id,
                    outcome: CommandOutcome::FailedToStart(Hresult::E_FILE_NOT_FOUND_WIN32),
                },
            );
            return;
        }
        *self.observed.commands.entry(name).or_default() += 1;
        let code = spec
            .exit_codes
            .get(run)
            .or(spec.exit_codes.last())
            .copied()
            .unwrap_or(0);
        let mut calls = String::new();
        if let Some(action) = spec.action {
            let caller = self.caller(&user.0);
            let mut access = ModelAccess {
                manager: &mut self.mgr,
                now: self.now,
                caller,
            };
            let mut h = JobHandle::new(&mut access, job);
            apply_action(&mut h, action);
            calls = h
                .calls()
                .iter()
                .map(|(c, h)| format!(" [calls {c} -> {h}]"))
                .collect();
        }
        self.log(
            Some(job),
            TraceEvent::Command {
                command_line,
                outcome: format!("exit {code}{calls}"),
            },
        );
        let at = self
            .now
            .saturating_add(spec.runtime.map_or(Duration::ZERO, |r| r.0));
        self.schedule(
            at,
            Event::CommandExit {
                id,
                outcome: CommandOutcome::Exited(code),
            },
        );
    }
}

fn secs(s: Span) -> u32 {
    s.0.as_secs().min(u32::MAX as u64) as u32
}

/// The simulator's effects: a simulated world, a trace, and expectations'
/// observations.
impl Effects for Simulation {
    fn transition(
        &mut self,
        job: JobId,
        rule: Rule,
        from: JobState,
        to: JobState,
        code: Option<Hresult>,
    ) {
        if let Some(name) = self.names.get(&job).cloned() {
            if to.is_final() && from != to {
                self.observed.ended_at.insert(name.clone(), self.now);
            }
            if to == JobState::Transferring && from != to && !self.observed.started.contains(&job) {
                self.observed.started.insert(job);
                self.observed.first_transfer.push(name.clone());
            }
            if to == JobState::Error && from != to {
                self.reply_total_snapshot(job);
            }
            if let (Some(c), Some(e)) = (code, self.mgr.job(job).and_then(|j| j.error.as_ref())) {
                self.observed
                    .last_error
                    .insert(name.clone(), (c, e.context));
            }
        }
        if rule == Rule::T16 {
            return;
        }
        self.log(
            Some(job),
            TraceEvent::Transition {
                rule,
                from,
                to,
                code,
            },
        );
    }

    fn start_transfer(&mut self, job: JobId, file: FileRef, offset: u64) {
        self.effect(Some(job), || {
            format!("start {} at byte {offset}", file_label(file))
        });
        Simulation::start_transfer(self, job, file, offset);
    }

    fn stop_transfer(&mut self, job: JobId) {
        // A transfer the transport already ended has nothing to stop.
        if self.transfers.remove(&job).is_some() {
            self.effect(Some(job), || "stop transfer".into());
        }
    }

    fn notify(
        &mut self,
        id: NotificationId,
        job: JobId,
        user: UserId,
        callback: CallbackId,
        kind: NotifyKind,
    ) {
        self.deliver_notification(id, job, user, callback, kind);
    }

    fn run_command(
        &mut self,
        id: NotificationId,
        job: JobId,
        user: UserId,
        program: String,
        parameters: Option<String>,
        kind: NotifyKind,
    ) {
        self.run_program(id, job, user, program, parameters, kind);
    }

    fn delete_temp_file(&mut self, job: JobId, file: FileRef) {
        if let (FileRef::File(i), Some(j)) = (file, self.mgr.job(job))
            && let Some(f) = j.files.get(i)
        {
            let path = temp_name(&f.local_name);
            self.local.remove(&path);
        }
        if let Some(name) = self.names.get(&job).cloned() {
            *self.observed.temps_deleted.entry(name).or_default() += 1;
        }
        self.effect(Some(job), || {
            format!("delete temp file of {}", file_label(file))
        });
    }

    fn file_published(&mut self, job: JobId, file: FileRef) {
        if let (FileRef::File(i), Some(j)) = (file, self.mgr.job(job))
            && let Some(f) = j.files.get(i)
        {
            let local = f.local_name.clone();
            self.local.remove(&temp_name(&local));
            self.local.insert(local, LocalKind::Final);
        }
        if let (FileRef::Reply, Some(j)) = (file, self.mgr.job(job))
            && let Some(name) = j.reply.as_ref().and_then(|r| r.file_name.clone())
        {
            self.local.insert(name, LocalKind::Final);
        }
        self.effect(Some(job), || format!("publish {}", file_label(file)));
    }

    fn cancel_upload_session(&mut self, job: JobId) {
        self.effect(Some(job), || "send Cancel-Session to the server".into());
        self.mgr.handle_upload_cancelled(self.now, job);
    }

    fn timer_armed(&mut self, job: JobId, timer: TimerKind, at: Time) {
        if timer != TimerKind::NoProgress {
            self.effect(Some(job), || format!("{timer:?} timer set for {at}"));
        }
    }

    fn job_removed(&mut self, job: JobId) {
        self.transfers.remove(&job);
        self.effect(Some(job), || "job removed from the queue".into());
    }
}

fn file_label(f: FileRef) -> String {
    match f {
        FileRef::File(i) => format!("file {i}"),
        FileRef::Reply => "reply".to_owned(),
    }
}

/// The temporary file BITS keeps beside the destination (`BIT*.tmp`).
pub(crate) fn temp_name(local: &str) -> String {
    let (dir, base) = local.rsplit_once(['/', '\\']).unwrap_or(("", local));
    format!(
        "{dir}/BIT{:04X}.tmp",
        base.bytes()
            .fold(0u16, |h, b| h.wrapping_mul(31).wrapping_add(b.into()))
    )
}

/// A script's job call, made through the callback's handle (so it is
/// recorded like any call a Rust callback makes).
fn apply_action(h: &mut JobHandle<'_>, a: CallbackAction) {
    // Results are recorded by the handle and shown in the trace.
    match a.call() {
        None => {}
        Some(Call::Resume) => drop(h.resume()),
        Some(Call::Cancel) => drop(h.cancel()),
        Some(Call::Complete) => drop(h.complete()),
        Some(Call::Suspend) => drop(h.suspend()),
        Some(other) => unreachable_call(&other),
    }
}

/// [`CallbackAction::call`] yields only the four calls above.
fn unreachable_call(call: &Call) {
    tracing::warn!(%call, "a script action the handle cannot make");
}

/// A callback driven by a scenario's [`CallbackScript`].
pub struct ScriptedCallback {
    script: CallbackScript,
    calls: BTreeMap<(JobId, &'static str), u32>,
}

impl ScriptedCallback {
    /// A callback following `script`.
    pub fn new(script: CallbackScript) -> Self {
        ScriptedCallback {
            script,
            calls: BTreeMap::new(),
        }
    }

    fn call(
        &mut self,
        method: &'static str,
        script: Option<MethodScript>,
        h: &mut JobHandle<'_>,
    ) -> CallbackResult {
        let Some(m) = script else {
            return CallbackResult::ok();
        };
        // Counts are per job: one script can serve many jobs.
        let n = self.calls.entry((h.id(), method)).or_default();
        *n += 1;
        let fails = m.fail_always || *n <= m.fail_times;
        let hr = if fails {
            m.failure.unwrap_or(Hresult::E_FAIL)
        } else {
            Hresult::S_OK
        };
        if (!fails || m.action_every_time)
            && let Some(a) = m.action
        {
            apply_action(h, a);
        }
        CallbackResult {
            hr,
            hold: m.hold.map_or(Duration::ZERO, |s| s.0),
        }
    }
}

impl Callback for ScriptedCallback {
    fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        let s = self.script.job_transferred.clone();
        self.call("JobTransferred", s, job)
    }
    fn job_error(&mut self, job: &mut JobHandle<'_>, _error: &ErrorInfo) -> CallbackResult {
        let s = self.script.job_error.clone();
        self.call("JobError", s, job)
    }
    fn job_modification(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        let s = self.script.job_modification.clone();
        self.call("JobModification", s, job)
    }
    fn file_transferred(&mut self, job: &mut JobHandle<'_>, _file: FileRef) -> CallbackResult {
        let s = self.script.file_transferred.clone();
        self.call("FileTransferred", s, job)
    }
}
