//! # bitsim-model: the Windows BITS job state machine, sans-IO
//!
//! This crate is the rule book of bitsim:
//! every state, transition, timer, limit, error code and notification rule of
//! the Background Intelligent Transfer Service, as documented by Microsoft,
//! in pure Rust. It reads no clock, touches no file or socket, draws no
//! random number and spawns nothing, so a run is reproducible to the byte.
//!
//! The shape is quinn-proto's:
//!
//! * API calls mirror `IBackgroundCopyManager` and `IBackgroundCopyJob`..`Job5`
//!   ([`Manager::create_job`], [`Manager::add_file`], [`Manager::resume`],
//!   [`Manager::complete`], ...) and return exactly the HRESULT the docs give
//!   for the job's state and type ([`Error`], [`Hresult`]).
//! * Whoever moves bytes reports what happened with `handle_*` methods
//!   ([`Manager::handle_connected`], [`Manager::handle_progress`],
//!   [`Manager::handle_transfer_error`], [`Manager::handle_network_change`],
//!   ...), always passing the current [`Time`].
//! * What the driver must do comes out of [`Manager::poll_output`] as
//!   [`Output`] values: start or stop a transfer, call a callback, run a
//!   command line, delete or publish a temporary file, and a record of every
//!   rule of the [transition table](TRANSITIONS) that fired.
//! * [`Manager::poll_timeout`] says when [`Manager::handle_timeout`] is due
//!   (retry delay, no-progress timeout, maximum download time, 90-day
//!   inactivity, notification re-calls, time slices).
//!
//! The transition table ([`TRANSITIONS`], rows T1-T34 of the job life cycle plus
//! X1-X4) is the single source of truth: the engine takes every target state
//! from it, and bitsim's diagram and narrated traces are generated from it.
//! Where the docs are silent the model follows [`manual::decisions`].
//!
//! ## Example
//!
//! A download job through its whole life, with a 503 on the way:
//!
//! ```
//! use bitsim_model::*;
//!
//! let mut bits = Manager::new(Policy::default());
//! let alice = Caller::user("alice");
//! let t0 = Time::ZERO;
//! let job = bits.create_job(t0, &alice, JobId::from_random_bytes([7; 16]), "update", JobType::Download)?;
//! bits.add_file(t0, &alice, job, "https://example.com/a.bin", "/tmp/a.bin")?;
//! bits.set_notify_interface(t0, &alice, job, Some(CallbackId(1)))?;
//! bits.resume(t0, &alice, job)?;                 // T2: SUSPENDED -> QUEUED, T13 -> CONNECTING
//! assert_eq!(bits.job(job).unwrap().state, JobState::Connecting);
//!
//! // The server answers 503: transient, so no JobError, a retry in 600 s.
//! bits.handle_transfer_error(t0, job, TransferError::http(503, FileRef::File(0)));
//! assert_eq!(bits.job(job).unwrap().state, JobState::TransientError);
//! let retry = bits.poll_timeout().unwrap();
//! assert_eq!(retry, Time::from_secs(600));
//!
//! bits.handle_timeout(retry);                    // T23 -> QUEUED, T13 -> CONNECTING
//! bits.handle_connected(retry, job);             // T14 -> TRANSFERRING
//! bits.handle_file_size(retry, job, 0, 1000);
//! bits.handle_progress(retry, job, 0, 1000);     // T16
//! bits.handle_file_done(retry, job, 0);          // T17, T20 -> TRANSFERRED
//!
//! // JobTransferred is delivered to the registered callback.
//! let notified = std::iter::from_fn(|| bits.poll_output())
//!     .find_map(|o| match o {
//!         Output::Notify { id, kind: NotifyKind::JobTransferred, .. } => Some(id),
//!         _ => None,
//!     })
//!     .unwrap();
//! bits.handle_callback_result(retry, notified, Hresult::S_OK);
//! assert_eq!(bits.complete(retry, &alice, job)?, Hresult::S_OK);
//! assert_eq!(bits.job(job).unwrap().state, JobState::Acknowledged);
//! # Ok::<(), bitsim_model::Error>(())
//! ```
//!
//! Run `cargo run -p bitsim-model --example lifecycle` for a version that
//! prints every state change.

#![forbid(unsafe_code)]

pub mod call;
pub mod classify;
mod error;
pub mod hresult;
mod job;
mod manager;
pub mod manual;
pub mod policy;
pub mod sources;
pub mod table;
mod types;

pub use call::{Call, Reply};
pub use classify::{ErrorClass, classify, classify_http};
pub use error::{Error, Result};
pub use hresult::{HRESULT_TABLE, Hresult, HresultInfo};
pub use job::*;
pub use manager::{
    CommandOutcome, Manager, NotificationId, NotifyKind, Output, Outstanding, TimerKind,
    TransferError,
};
pub use policy::{BandwidthWindow, Policy};
pub use table::{Rule, TRANSITIONS, Target, Transition};
pub use types::*;
