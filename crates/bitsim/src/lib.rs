//! # bitsim: run BITS jobs through weeks of virtual time in milliseconds
//!
//! `bitsim` drives [`bitsim_model`] — the Windows BITS job state machine —
//! with a deterministic discrete-event loop: a virtual clock, one seeded
//! ChaCha8 RNG (job GUIDs come from it too), simulated servers with sizes,
//! bandwidth and latency, and a fault schedule (HTTP statuses, resets, name
//! resolution, timeouts, network loss, logoff, service restart, disk full,
//! changed files, missing Range support, failing upload-reply server
//! applications). Your notification code plugs in through [`Callback`], a
//! Rust mirror of `IBackgroundCopyCallback`/`2`.
//!
//! A run is a pure function of (scenario, seed): same seed, byte-identical
//! [`Trace`]. Scenarios are TOML files ([`Scenario`]); `sim-scenarios/`
//! holds a library of documented behaviours, and the `bitsim` CLI runs them.
//!
//! ## Example
//!
//! A 404 makes the job fatal; JobError fires once, the callback cancels:
//!
//! ```
//! use bitsim::{Scenario, Simulation};
//!
//! let scenario = Scenario::parse(r#"
//!     name = "404 is fatal"
//!     [[servers]]
//!     host = "example.com"
//!     [callbacks.app]
//!     job_error = { action = "cancel" }
//!     [[jobs]]
//!     name = "j"
//!     owner = "alice"
//!     files = [{ remote = "http://example.com/missing.bin", local = "/tmp/m.bin" }]
//!     callback = "app"
//!     [[expect]]
//!     job = "j"
//!     final_state = "CANCELLED"
//!     callbacks = { JobError = 1 }
//!     rules = ["T22", "T9"]
//! "#, "inline").unwrap();
//! let report = Simulation::new(scenario, 1).run();
//! assert!(report.passed(), "{:?}", report.failures);
//! print!("{}", report.trace.to_text());
//! ```

pub mod backend;
pub mod callback;
pub mod diagram;
pub mod engine;
pub mod expect;
pub mod explain;
#[cfg(feature = "fuzz")]
pub mod fuzz;
mod local_disk;
#[cfg(feature = "realtime")]
pub mod realtime;
pub mod scenario;
pub mod sim;
pub mod trace;
pub mod units;

pub use backend::{Backend, SimBackend};
pub use callback::{Callback, CallbackResult, JobAccess, JobHandle, ModelAccess};
pub use expect::Failure;
pub use scenario::{Scenario, ScenarioError};
pub use sim::{Report, ScriptedCallback, Simulation};
pub use trace::{Trace, TraceEntry, TraceEvent};
