//! The world the service loop drives: the simulation of a scenario, or the
//! real-time driver moving real bytes over HTTP (`--world http`).
//!
//! [`Engine`] is what the loop ([`crate::core`]) uses of either: the clock,
//! its events, the model (application calls at the present instant), remote
//! callback objects, the trace, and the `world.*` controls. The rules are
//! the model's in both; this module only routes.

use crate::core::Inbound;
use bitsim::engine::Delivery;
use bitsim::realtime::{Driver, RtConfig, RtEvent};
use bitsim::sim::RemoteNotification;
use bitsim::{Simulation, TraceEntry, TraceEvent};
use bitsim_model::{CallbackId, JobId, Manager, Time};
use std::io;
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// Where transfers happen (`--world`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum World {
    /// In the simulated world of the scenario (`--world simulated`, the
    /// default): its servers, files, faults; deterministic with the virtual
    /// clock.
    #[default]
    Simulated,
    /// Real HTTP transfers to real local paths by the real-time driver
    /// ([`bitsim::realtime::Driver`]), against any server (`--world
    /// http`). Needs the real clock ([`crate::Clock::Real`]).
    Http,
}

impl World {
    /// Whether this world runs on `clock`: the http world moves real bytes
    /// over real sockets, which take real time, so it needs
    /// [`crate::Clock::Real`]; the simulated world runs on any clock. The
    /// error says so, naming the clock given.
    pub fn check_clock(self, clock: crate::Clock) -> Result<(), String> {
        match self {
            World::Http if clock != crate::Clock::Real => Err(format!(
                "--world http needs --clock real (not --clock {clock}): transfers over real sockets take real time, which a virtual or scaled clock would contradict"
            )),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            World::Simulated => "simulated",
            World::Http => "http",
        })
    }
}

/// A `--world` value that is neither `simulated` nor `http`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown world {given:?}: expected `simulated` or `http`")]
pub struct WorldParseError {
    /// What was given.
    pub given: String,
}

impl std::str::FromStr for World {
    type Err = WorldParseError;

    fn from_str(s: &str) -> Result<World, WorldParseError> {
        match s {
            "simulated" => Ok(World::Simulated),
            "http" => Ok(World::Http),
            _ => Err(WorldParseError {
                given: s.to_owned(),
            }),
        }
    }
}

/// What a `world.*` control answers in the http world: the network and the
/// server are real, so their faults are the server's to make.
pub(crate) const USE_SERVER_FAULTS: &str = "the world is the real network (--world http): faults, the network and clear_faults are not the service's to control; use the server's fault API (e.g. `bitsim serve`'s) or the operating system";

/// The world the loop drives.
pub(crate) enum Engine {
    /// The simulation of a scenario.
    Sim(Box<Simulation>),
    /// The real-time driver.
    Http(Box<HttpWorld>),
}

impl Engine {
    /// The real-time driver's calendar instant of time zero (unix ms);
    /// `None` for the simulated world, whose calendar the clock mode gives
    /// ([`crate::clock::calendar_epoch`]).
    pub(crate) fn driver_epoch_unix_ms(&self) -> Option<u64> {
        match self {
            Engine::Sim(_) => None,
            Engine::Http(h) => Some(h.driver().epoch_unix_ms()),
        }
    }

    pub(crate) fn now(&self) -> Time {
        match self {
            Engine::Sim(s) => s.now(),
            Engine::Http(h) => h.driver().now(),
        }
    }

    /// Processes the next event due at or before `limit` (false: none).
    /// The http world has no events of its own to step through: it does
    /// everything due at once in [`Engine::run_until`] ([`Driver::pump`]),
    /// which the loop calls after stepping, so it answers false.
    pub(crate) fn step(&mut self, limit: Time) -> bool {
        match self {
            Engine::Sim(s) => s.step(limit),
            Engine::Http(_) => false,
        }
    }

    /// Runs every event up to `t` (in the http world: everything due now).
    pub(crate) fn run_until(&mut self, t: Time) {
        match self {
            Engine::Sim(s) => s.run_until(t),
            Engine::Http(h) => h.pump(),
        }
    }

    /// When the next event or timer is due. In the http world only the
    /// model's timers are known ahead; transfers wake the loop themselves
    /// ([`Inbound::Wake`]).
    pub(crate) fn next_event(&self) -> Option<Time> {
        match self {
            Engine::Sim(s) => s.next_event(),
            Engine::Http(h) => h.driver().manager().poll_timeout(),
        }
    }

    pub(crate) fn manager(&self) -> &Manager {
        match self {
            Engine::Sim(s) => s.manager(),
            Engine::Http(h) => h.driver().manager(),
        }
    }

    /// An application call into the model at the present instant, then
    /// its effects.
    pub(crate) fn with_manager<R>(&mut self, f: impl FnOnce(&mut Manager, Time) -> R) -> R {
        match self {
            Engine::Sim(s) => s.with_manager(f),
            Engine::Http(h) => h.entered(|d| d.call(f)),
        }
    }

    pub(crate) fn new_job_id(&mut self) -> JobId {
        match self {
            Engine::Sim(s) => s.new_job_id(),
            Engine::Http(h) => h.driver_mut().new_job_id(),
        }
    }

    /// Names a job in the trace (the http world's trace names jobs by id).
    pub(crate) fn name_job(&mut self, id: JobId, name: &str) {
        match self {
            Engine::Sim(s) => s.name_job(id, name),
            Engine::Http(_) => {}
        }
    }

    pub(crate) fn add_remote_callback(&mut self) -> CallbackId {
        match self {
            Engine::Sim(s) => s.add_remote_callback(),
            Engine::Http(h) => h.driver_mut().add_remote_callback(),
        }
    }

    pub(crate) fn remove_callback(&mut self, id: CallbackId) {
        match self {
            Engine::Sim(s) => s.remove_callback(id),
            Engine::Http(h) => h.driver_mut().remove_callback(id),
        }
    }

    pub(crate) fn poll_remote_notification(&mut self) -> Option<RemoteNotification> {
        match self {
            Engine::Sim(s) => s.poll_remote_notification(),
            Engine::Http(h) => h.driver_mut().poll_remote_notification(),
        }
    }

    pub(crate) fn remote_callback_returned(&mut self, n: &RemoteNotification, d: Delivery) {
        match self {
            Engine::Sim(s) => s.remote_callback_returned(n, d),
            Engine::Http(h) => h.remote_callback_returned(n, d),
        }
    }

    /// The trace from entry `since` on (as JSON), and the index of the
    /// next entry.
    pub(crate) fn trace(&self, since: usize) -> (serde_json::Value, usize) {
        let slice = |t: &[TraceEntry]| {
            let entries = t.get(since..).unwrap_or(&[]);
            (serde_json::to_value(entries).unwrap_or_default(), t.len())
        };
        match self {
            Engine::Sim(s) => slice(s.trace()),
            Engine::Http(h) => slice(&h.trace.lock().unwrap_or_else(PoisonError::into_inner)),
        }
    }

    /// The simulation, for the `world.*` controls only it has (the
    /// network, faults): in the http world they are the real network's and
    /// the server's ([`USE_SERVER_FAULTS`]).
    pub(crate) fn simulation(&mut self) -> Result<&mut Simulation, &'static str> {
        match self {
            Engine::Sim(s) => Ok(s.as_mut()),
            Engine::Http(_) => Err(USE_SERVER_FAULTS),
        }
    }

    /// A user logs on or off: a model event, in either world.
    pub(crate) fn set_logged_on(&mut self, user: &str, on: bool) {
        match self {
            Engine::Sim(s) => s.set_logged_on(user, on),
            Engine::Http(h) => {
                let u = bitsim_model::UserId::new(user);
                h.log(None, TraceEvent::logged_on(user, on));
                h.entered(|d| d.call(|m, now| m.handle_logged_on(now, &u, on)));
            }
        }
    }

    pub(crate) fn restart_service(&mut self) -> Result<(), &'static str> {
        match self {
            Engine::Sim(s) => {
                s.restart_service();
                Ok(())
            }
            Engine::Http(_) => Err(
                "the world is the real network (--world http): the BITS service restart (X2) is a restart of this process on its --state DIR (stop it with `shutdown` or SIGTERM and start it again)",
            ),
        }
    }
}

/// The real-time driver on a tokio runtime of its own: transfer tasks run
/// on the runtime's threads; the loop's thread owns the driver and pumps it
/// when a task reports ([`Inbound::Wake`]) or a timer is due.
pub(crate) struct HttpWorld {
    /// `Some` until the world is dropped (then shut down: transfers
    /// stopped, queue persisted).
    driver: Option<Driver>,
    trace: Arc<Mutex<Vec<TraceEntry>>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl HttpWorld {
    /// Starts the runtime and opens the driver: in memory, or persisted in
    /// `state_dir/queue.json` under its lock (an earlier queue there is
    /// taken over as after a service restart, X2). `wake` reaches the
    /// loop's channel while the loop's senders live.
    pub(crate) fn open(
        state_dir: Option<&std::path::Path>,
        policy: bitsim_model::Policy,
        launcher: Option<bitsim::realtime::Launcher>,
        wake: Weak<Sender<Inbound>>,
    ) -> io::Result<HttpWorld> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bitsim-http")
            .enable_all()
            .build()?;
        let state_file: Option<PathBuf> = state_dir.map(crate::store::queue_path).transpose()?;
        let cfg = RtConfig {
            state_file,
            policy,
            launcher,
            ..RtConfig::default()
        };
        let _rt = rt.enter();
        let mut driver = Driver::open(cfg)?;
        let trace = Arc::new(Mutex::new(Vec::new()));
        let t = Arc::clone(&trace);
        driver.set_observer(move |m, e| {
            if let Some(entry) = entry_of(m, e) {
                t.lock().unwrap_or_else(PoisonError::into_inner).push(entry);
            }
        });
        driver.set_waker(move || {
            if let Some(tx) = wake.upgrade() {
                let _ = tx.send(Inbound::Wake);
            }
        });
        drop(_rt);
        Ok(HttpWorld {
            driver: Some(driver),
            trace,
            rt: Some(rt),
        })
    }

    fn driver(&self) -> &Driver {
        self.driver.as_ref().expect("the driver lives until drop")
    }

    fn driver_mut(&mut self) -> &mut Driver {
        self.driver.as_mut().expect("the driver lives until drop")
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("the runtime lives until drop")
    }

    /// `f` on the driver inside its runtime (where the driver spawns its
    /// transfer tasks).
    fn entered<R>(&mut self, f: impl FnOnce(&mut Driver) -> R) -> R {
        let _rt = self.rt().enter();
        f(self.driver_mut())
    }

    fn pump(&mut self) {
        self.entered(Driver::pump);
    }

    fn log(&self, job: Option<JobId>, event: TraceEvent) {
        let at = self.driver().now();
        self.trace
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(TraceEntry {
                at,
                job: job.map(|j| j.to_string().into()),
                event,
            });
    }

    /// The client's answer, in the trace as the simulation writes it, then
    /// to the model.
    fn remote_callback_returned(&mut self, n: &RemoteNotification, d: Delivery) {
        for e in n.answer_events(&d) {
            self.log(Some(n.job), e);
        }
        self.entered(|driver| driver.remote_callback_returned(n, d));
    }
}

impl Drop for HttpWorld {
    fn drop(&mut self) {
        if let (Some(d), Some(rt)) = (self.driver.take(), self.rt.as_ref()) {
            let _rt = rt.enter();
            d.shutdown();
        }
        if let Some(rt) = self.rt.take() {
            // Aborted transfers end at their next await; none is waited for.
            rt.shutdown_background();
        }
    }
}

/// The driver's observer event as a trace entry of the simulation's format
/// (`bitsim run --format json`). Left out: progress reports (the
/// simulation's trace has no byte-level rows either) and callback events
/// (the service writes those itself, with the user and the calls the
/// handler made).
fn entry_of(m: &Manager, e: &RtEvent) -> Option<TraceEntry> {
    let (job, event) = match e {
        RtEvent::Transition {
            job,
            rule,
            from,
            to,
            code,
        } => (
            *job,
            TraceEvent::Transition {
                rule: *rule,
                from: *from,
                to: *to,
                code: *code,
            },
        ),
        RtEvent::FileRestarted { job, file } => (
            *job,
            TraceEvent::Effect {
                what: format!("{file:?} restarts from byte 0: the remote file changed"),
            },
        ),
        _ => return None,
    };
    Some(TraceEntry {
        at: m.now(),
        job: Some(job.to_string().into()),
        event,
    })
}
