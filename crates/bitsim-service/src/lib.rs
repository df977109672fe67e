//! `bitsim service`: a process that *is* BITS for its clients, in any
//! language.
//!
//! The whole job API of the model ([`bitsim_model::Call`]), its
//! notifications and its timers, over **JSON-RPC 2.0, one message per
//! line**, on TCP (loopback) or stdio, in the simulated world of a scenario
//! with a **virtual clock** the client drives: time moves only when a
//! client calls `clock.advance`, `clock.run_until` or `clock.run_until_idle`,
//! so a run is a pure function of the calls and the seed, and 90 days of
//! BITS retries pass in milliseconds. For programs that cannot drive a
//! clock, the service can run it itself ([`Clock`]: real, or scaled). With
//! [`World::Http`] (`--world http`), jobs move real bytes over HTTP
//! instead (see [Worlds](#worlds)).
//!
//! # Methods
//!
//! | method | params | result |
//! |---|---|---|
//! | `session.hello` | `user`, `admin` (default `false`) | once per connection, before anything else: who the connection calls as; the result has `now` and `epoch_unix_ms`, the calendar instant of virtual time zero ([`calendar_epoch`]), which turns `job.get_times` into dates |
//! | `manager.create_job`, `manager.get_job`, `manager.enum_jobs` | the [`Call`](bitsim_model::Call) fields (`display_name`, `job_type`; `job`; `flags`) | the HRESULT and the [`Reply`](bitsim_model::Reply) |
//! | `job.*` (every other [`Call`](bitsim_model::Call): `job.add_file`, `job.resume`, `job.get_state`, `job.get_error`, `job.set_notify_interface`, ...; the list is [`methods::CALLS`]) | `job` (its GUID) and the call's fields | the HRESULT and the reply |
//! | `rpc.discover` | | the OpenRPC document of every method ([`discover`], committed as `openrpc.json`) |
//! | `clock.now` | | `now` (ms of virtual time), `text` |
//! | `clock.advance` | `ms` | runs every event and notification due in the next `ms` (virtual clock only) |
//! | `clock.run_until` | `t` (ms) | the same up to the instant `t` (virtual clock only) |
//! | `clock.run_until_idle` | `max` (ms) | runs until nothing is left to happen (`idle: true`) or `max` has passed (virtual clock only) |
//! | `world.fault` | a fault of the scenario format (`kind`, `status`, `url`, `count`, `probability`, `user`, `at`, `until`; times count from now) | the fault is in place (at `at`); simulated world only (http: `-32006`) |
//! | `world.clear_faults` | `kind` (optional) | every fault in place ends (as at its `until`: the network comes back, a user logs on) and every fault to come is dropped, the scenario's and `world.fault`'s; `cleared` counts them; simulated world only (http: `-32006`) |
//! | `world.network` | `up` | the network goes down or comes back; simulated world only (http: `-32006`) |
//! | `world.logon`, `world.logoff` | `user` | the user logs on or off (both worlds: a model event) |
//! | `world.restart_service` | | the BITS service restarts (X2); simulated world only (http: `-32006`; restart the process on its `--state DIR`) |
//! | `inspect.jobs` | | every job: id, owner, name, type, state |
//! | `inspect.job` | `job` | the model's whole record of the job, plus `outstanding` (its notifications delivered and not answered: `kind`, `since`, `attempt`, `user`, `via_cmd_line`) and `next_timer` (`at`, `in_ms`, `why` (the timer's name) and `what` (the model's words for it): the model's own next deadline for the job, [`Manager::next_deadline`](bitsim_model::Manager::next_deadline), or `null`) |
//! | `inspect.trace` | `since` (an index, default 0) | `entries` in the format of `bitsim run --format json`, and `next` (http world: a subset, see [Worlds](#worlds)) |
//! | `shutdown` | | administrators only: answers `stopping: true`, then the service persists its queue and stops |
//!
//! A BITS call's result carries the HRESULT exactly as the model returns
//! it, `{"hresult": {"name", "value", "hex"}, "reply", "value"}` on success
//! and `{"hresult", "message"}` on a BITS failure; JSON-RPC errors are kept
//! for protocol misuse (see [`rpc`]): malformed JSON, an unknown method,
//! params that do not fit, a call before `session.hello`. BITS's access
//! rules are the model's ([`Manager::job_as`](bitsim_model::Manager::job_as)):
//! another user's job answers `E_ACCESSDENIED`, an administrator sees
//! every job.
//!
//! # Notifications
//!
//! `job.set_notify_interface {job}` registers the calling connection as the
//! job's callback object (`{job, callback: null}` clears it). When the
//! model raises `JobTransferred`, `JobError`, `JobModification` or
//! `FileTransferred`, the service sends it to that connection as a
//! JSON-RPC request (`method` is the callback method; `params` has `job`,
//! `callback`, `user`, and `error` for JobError or `file` for
//! FileTransferred) and waits for the answer before virtual time moves on.
//! The answer's `result` is the HRESULT the callback returns (`"S_OK"`,
//! `"E_FAIL"`, a number, or `{"hresult": ...}`); the model applies its rules
//! to it (a re-call after a failure, the command line). While it waits the
//! service takes that connection's calls (a handler that calls
//! `job.cancel`) and, with the virtual clock, holds other connections'
//! calls until the answer (in real and scaled mode it does not: see
//! [Clock modes](#clock-modes)).
//!
//! * A connection that closes is a dead callback object: its notifications
//!   fail with `RPC_E_SERVER_UNAVAILABLE`, as the driver core's
//!   [`Delivery::Gone`](bitsim::engine::Delivery::Gone) says, and the model
//!   takes it from there.
//! * A connection that does not answer within [`Config::callback_timeout`]
//!   is treated the same way from then on (its object counts as gone until
//!   it registers again), so one client cannot wedge virtual time.
//! * An answer that is a JSON-RPC error, or names no HRESULT, is `E_FAIL`.
//!
//! # Clock modes
//!
//! [`Config::clock`] (`--clock`):
//!
//! * `virtual` (the default): as above. Deterministic: no wall clock, no
//!   thread timing enters the run.
//! * `real`: virtual time follows the wall clock from the start.
//! * `scaled:N`: N virtual seconds per real second (`scaled:3600`: a
//!   10-minute retry happens a sixth of a second later).
//!
//! In real and scaled mode the service runs the model by itself: it sleeps
//! until the next event is due (in real terms) or a message arrives, and
//! every call acts at the present instant. A notification does **not**
//! hold other clients up there: the service sends it and goes on serving
//! everyone (the handler's connection included); the answer is fed back to
//! the model when it comes, and the model keeps counting the notification
//! as outstanding (the four-per-user limit) meanwhile. A connection that
//! does not answer within [`Config::callback_timeout`], or closes, is a
//! dead callback object as in virtual mode. `clock.advance`,
//! `clock.run_until` and `clock.run_until_idle` are refused there with the
//! error `-32004` naming the mode ([`rpc::CLOCK_NOT_VIRTUAL`]): a client
//! that moved a clock that also follows the wall would make both wrong.
//! `clock.now` works in every mode.
//!
//! **Dates.** The model counts milliseconds from virtual time zero; BITS's
//! `GetTimes` gives `FILETIME`s (`BG_JOB_TIMES`). Where virtual time zero
//! is on the calendar, BITS cannot say, so the service decides
//! ([`calendar_epoch`]) and tells each client in the result of
//! `session.hello` (`epoch_unix_ms`): with `virtual`, 2000-01-01T00:00:00Z
//! ([`VIRTUAL_EPOCH_UNIX_MS`]), never the wall clock, so the run stays
//! deterministic; with `real` and `scaled:N`, the wall-clock instant the
//! queue was first started (kept with `--state`); with `--world http`, the
//! real-time driver's own epoch. `bitsim-com.exe` answers `GetTimes` with
//! it.
//!
//! # Stopping
//!
//! The `shutdown` method, a [`Stopper`] ([`TcpService::stopper`],
//! [`TcpService::stop`]) or, for the `bitsim service` process, SIGTERM or
//! Ctrl-C stop the service: the message at hand is finished (`shutdown` is
//! answered first), the queue is persisted, and the loop ends. `shutdown`
//! is for administrator sessions only (error `-32005`,
//! [`rpc::ACCESS_DENIED`], for others), as only an administrator may stop
//! the BITS service on Windows; any session may use the `world.*` and
//! `inspect.*` controls, which stand for the test, not for a BITS user.
//!
//! # Persistence (`--state DIR`)
//!
//! With [`Config::state_dir`], the queue is written to `DIR/queue.json`
//! after every message or batch of events that changed it, atomically (a
//! temporary file, fsync, rename), in the format of the real-time driver's
//! state file (`epoch_unix_ms`, `manager`, `books`), so one reader handles
//! both; `service` beside them holds the virtual time and the number of
//! starts (a queue last written by another program, without `service`,
//! loads too, on the model's clock). While the service runs it holds the
//! queue's lock, [`bitsim::realtime::QueueLock`] (`DIR/queue.json.lock`,
//! with the pid): a second service, `bitsim download --state
//! DIR/queue.json` or a changing verb of `bitsim jobs --state DIR` is
//! refused, naming the process; `bitsim jobs list|info` read the queue at
//! any time. The lock is the operating system's: it goes with its process,
//! a crash leaves none behind.
//!
//! Starting again on the directory is BITS's service restart (X2), as
//! `world.restart_service` is within one run: jobs that were transferring
//! go back to QUEUED (and the scheduler takes them up again), callback
//! registrations are gone, command lines and timer deadlines stay. What
//! the service decided where BITS has nothing to say:
//!
//! * Virtual and scaled time go on from the instant the queue was written;
//!   real time counts the time the process was away (as the real-time
//!   driver does). `epoch_unix_ms` is the wall time of virtual time zero
//!   at the first start.
//! * The simulated world is not persisted: the scenario is loaded again;
//!   its jobs and actions due before the restart are not done again, its
//!   faults in place start again, faults added by `world.fault` are gone,
//!   and the simulated local disk starts empty (a transfer goes on from the
//!   byte the model recorded).
//! * Job GUIDs come from the seed mixed with the number of starts, so a
//!   restarted service does not hand out a GUID of an earlier process.
//!
//! # Worlds
//!
//! [`Config::world`] (`--world`):
//!
//! * `simulated` (the default): transfers happen in the scenario's
//!   simulated world, as above.
//! * `http`: BITS calls go to the real-time driver
//!   ([`bitsim::realtime::Driver`]), so jobs move real bytes over HTTP (and
//!   HTTPS) to and from real local paths, against any server (`bitsim
//!   serve`, with its fault API, or any other). The driver runs its
//!   transfers on a tokio runtime of the service's own; the loop's thread
//!   owns the driver, is woken when a transfer reports, and does what is
//!   due ([`bitsim::realtime::Driver::pump`]). Notifications go to the
//!   clients as in real mode; notification command lines run as real
//!   processes, started as the program the job names or through a
//!   launcher ([`Config::launcher`], `--launcher`). What the service
//!   decided:
//!   * `http` needs `--clock real` ([`Clock::Real`]): virtual time with
//!     real sockets would be incoherent (a 10-minute retry would fire
//!     while a real transfer has barely started), so a virtual or scaled
//!     clock is refused when the service starts, naming the rule; the
//!     command line also refuses `--scenario` (the world is the real
//!     network). Of [`Config::scenario`] only its policy is used.
//!   * `world.fault`, `world.clear_faults` and `world.network` answer the
//!     JSON-RPC error `-32006` ([`rpc::NOT_IN_THIS_WORLD`]): faults are the
//!     server's to make (its fault API) and the network is the operating
//!     system's. `world.restart_service` answers it too: the BITS service
//!     restart (X2) of the http world is a restart of the process on its
//!     `--state DIR`, which the driver performs when it opens the queue.
//!     `world.logon`/`world.logoff` are model events and work.
//!   * `--state DIR`: the driver persists the queue itself in
//!     `DIR/queue.json` under the same lock ([`bitsim::realtime::QueueLock`]),
//!     with its transfer bookkeeping (remote stamps, upload sessions), so
//!     `bitsim download --state DIR/queue.json` and `bitsim jobs --state DIR`
//!     read the same queue.
//!   * `--launcher PROGRAM` (`--launcher-arg ARG`, repeated, goes before
//!     the command line's program): notification command lines run as
//!     `PROGRAM ARGS... CMDPROGRAM PARAMETERS...` (a
//!     [`bitsim::realtime::Launcher`]). It is how the front starts a
//!     process, not a BITS rule: `GetNotifyCmdLine` still returns what the
//!     job's owner set, and the model still decides when the command line
//!     runs. The use it is made for is a service whose clients are Windows
//!     programs under Wine, whose command lines name Windows programs
//!     (`C:\windows\System32\bitsadmin.exe /complete {GUID}`): with the
//!     Wine loader as the launcher (`--launcher /usr/lib/wine/wine64`,
//!     `WINEPREFIX` in the service's environment, as `bitsim wine run
//!     --world http` sets them) they run in that prefix. A launcher that
//!     cannot be started is the model's "failed to start" outcome, as a
//!     program that cannot be started is without one; the launcher's exit
//!     code is the command line's. The simulated world runs no process, so
//!     the command line refuses `--launcher` without `--world http`.
//!     `--launcher-user-var NAME` ([`bitsim::realtime::Launcher::user_var`])
//!     puts the user the model runs the command line as (the job's owner)
//!     in the launched process's `NAME`: BITS starts the program as that
//!     user with `CreateProcessAsUser` \[CMDLINE\], a launcher cannot
//!     switch Unix users, and bitsim's Windows side takes its user from
//!     `BITSIM_USER`, so `--launcher-user-var BITSIM_USER` makes a
//!     `bitsadmin.exe /complete` on the command line act as the job's
//!     owner (`bitsim wine run --world http` sets it).
//!   * `inspect.trace` holds the driver's transitions (the T16 progress
//!     rows left out, as the driver's observer leaves them out), files that
//!     restarted because the remote file changed, the clients' answers to
//!     notifications (with the calls their handlers made) and logon/logoff;
//!     job names are the jobs' GUIDs; `at` is the driver's clock (ms since
//!     its epoch, kept in the state file).
//!
//! # Example
//!
//! ```no_run
//! use bitsim_service::{Config, TcpService};
//! let service = TcpService::bind(Config::default(), "127.0.0.1:0")?;
//! println!("listening on {}", service.local_addr());
//! // A client: {"jsonrpc":"2.0","id":1,"method":"session.hello","params":{"user":"alice"}}
//! service.wait();
//! # Ok::<(), std::io::Error>(())
//! ```

mod clock;
mod core;
pub mod discover;
pub mod methods;
pub mod rpc;
mod server;
mod store;
mod world;

pub use clock::{Clock, ClockParseError, VIRTUAL_EPOCH_UNIX_MS, calendar_epoch};
pub use server::{Connector, Service, Stopper, TcpService, serve_stdio};
pub use world::{World, WorldParseError};

use bitsim::Scenario;
use std::path::PathBuf;
use std::time::Duration;

/// How a service starts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The simulated world: servers, files, faults, policy (its own jobs
    /// and scripted calls run too).
    pub scenario: Scenario,
    /// The seed of the run's RNG (job GUIDs, probabilistic faults).
    pub seed: u64,
    /// How long the service waits for a client's answer to a notification
    /// before counting its callback object as gone.
    pub callback_timeout: Duration,
    /// How virtual time moves: by the clients' calls (the default), with
    /// the wall clock, or N times as fast.
    pub clock: Clock,
    /// Where the queue persists (`--state DIR`): `DIR/queue.json`, locked
    /// (`DIR/queue.json.lock`) while the service runs. `None`: the queue lives as
    /// long as the process.
    pub state_dir: Option<PathBuf>,
    /// Where transfers happen: the scenario's simulated world (the
    /// default) or real HTTP ([`World::Http`], which needs
    /// [`Clock::Real`]; of the scenario only its policy is used then).
    pub world: World,
    /// How the http world starts notification command lines: `None` (the
    /// default), as the program the job names; a launcher runs `LAUNCHER
    /// ARGS... PROGRAM PARAMETERS...` ([`bitsim::realtime::Launcher`], see
    /// [Worlds](#worlds)). Not used by the simulated world.
    pub launcher: Option<bitsim::realtime::Launcher>,
}

impl Config {
    /// A service in `scenario`'s world with `seed`, a virtual clock and no
    /// state directory.
    pub fn new(scenario: Scenario, seed: u64) -> Config {
        Config {
            scenario,
            seed,
            callback_timeout: Duration::from_secs(30),
            clock: Clock::Virtual,
            state_dir: None,
            world: World::Simulated,
            launcher: None,
        }
    }

    /// The same in `world` ([`World::Http`]: real transfers by the
    /// real-time driver; set [`Clock::Real`] too).
    pub fn with_world(mut self, world: World) -> Config {
        self.world = world;
        self
    }

    /// The same, starting notification command lines through `launcher`
    /// (the http world).
    pub fn with_launcher(mut self, launcher: bitsim::realtime::Launcher) -> Config {
        self.launcher = Some(launcher);
        self
    }

    /// The same with `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Config {
        self.clock = clock;
        self
    }

    /// The same, persisting the queue in `dir`.
    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.state_dir = Some(dir.into());
        self
    }

    /// The same with another callback timeout.
    pub fn with_callback_timeout(mut self, timeout: Duration) -> Config {
        self.callback_timeout = timeout;
        self
    }

    /// An empty world: no servers (every URL fails to resolve).
    pub fn empty_world() -> Scenario {
        Scenario::parse("name = \"service\"\nduration = \"3650d\"", "service")
            .expect("the empty world parses")
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::new(Config::empty_world(), 0)
    }
}
