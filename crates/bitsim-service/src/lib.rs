//! `bitsim service`: a process that *is* BITS for its clients, in any
//! language.
//!
//! The whole job API of the model ([`bitsim_model::Call`]), its
//! notifications and its timers, over **JSON-RPC 2.0, one message per
//! line**, on TCP (loopback) or stdio, in the simulated world of a scenario
//! with a **virtual clock** the client drives: time moves only when a
//! client calls `clock.advance`, `clock.run_until` or `clock.run_until_idle`,
//! so a run is a pure function of the calls and the seed, and 90 days of
//! BITS retries pass in milliseconds.
//!
//! # Methods
//!
//! | method | params | result |
//! |---|---|---|
//! | `session.hello` | `user`, `admin` (default `false`) | once per connection, before anything else: who the connection calls as |
//! | `manager.create_job`, `manager.get_job`, `manager.enum_jobs` | the [`Call`](bitsim_model::Call) fields (`display_name`, `job_type`; `job`; `flags`) | the HRESULT and the [`Reply`](bitsim_model::Reply) |
//! | `job.*` (every other [`Call`](bitsim_model::Call): `job.add_file`, `job.resume`, `job.get_state`, `job.get_error`, `job.set_notify_interface`, ...; the list is [`methods::CALLS`]) | `job` (its GUID) and the call's fields | the HRESULT and the reply |
//! | `rpc.discover` | | the OpenRPC document of every method ([`discover`], committed as `openrpc.json`) |
//! | `clock.now` | | `now` (ms of virtual time), `text` |
//! | `clock.advance` | `ms` | runs every event and notification due in the next `ms` |
//! | `clock.run_until` | `t` (ms) | the same up to the instant `t` |
//! | `clock.run_until_idle` | `max` (ms) | runs until nothing is left to happen (`idle: true`) or `max` has passed |
//! | `world.fault` | a fault of the scenario format (`kind`, `status`, `url`, `count`, `probability`, `user`, `at`, `until`; times count from now) | the fault is in place (at `at`) |
//! | `world.network` | `up` | the network goes down or comes back |
//! | `world.logon`, `world.logoff` | `user` | the user logs on or off |
//! | `world.restart_service` | | the BITS service restarts (X2) |
//! | `inspect.jobs` | | every job: id, owner, name, type, state |
//! | `inspect.job` | `job` | the model's whole record of the job |
//! | `inspect.trace` | `since` (an index, default 0) | `entries` in the format of `bitsim run --format json`, and `next` |
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
//! `job.cancel`) and holds other connections' calls until the answer.
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

pub use clock::{Clock, ClockParseError};
pub use server::{Connector, Service, Stopper, TcpService, serve_stdio};

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
    /// by `DIR/lock` while the service runs. `None`: the queue lives as
    /// long as the process.
    pub state_dir: Option<PathBuf>,
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
        }
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
