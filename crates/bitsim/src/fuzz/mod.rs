//! Property-based fuzzing of BITS callback logic: perturb the world, not
//! the program under test.
//!
//! * [`strategies`]: proptest strategies for fault schedules, server
//!   behaviour and timings ([`faults`], [`server_behaviour`], [`around`]),
//!   application calls ([`actions`], only when [`FuzzConfig::app_actions`]
//!   asks for them) and whole small scenarios ([`small_scenarios`]); they
//!   compose with your own.
//! * [`invariants`]: named checks over a finished run. [`bits_invariants`]
//!   hold whatever the world does and include the scenario's own
//!   `[[properties]]`; [`expectations`] (the exact `[[expect]]` blocks) is
//!   checked only on request; [`ends_within`] and
//!   [`no_early_upload_complete`] are user-level examples.
//! * [`campaign`]: [`Campaign`] runs cases, and on a failure shrinks it
//!   faithfully (never removing the scenario's own faults or actions, and
//!   keeping a step only if the same invariant fails the same way) to a
//!   minimal case that prints as TOML, and [`Campaign::replay`] re-runs it
//!   with your own callbacks.
//!
//! ## Fuzzing your own callback
//!
//! ```
//! use bitsim::fuzz::{self, Campaign};
//! use bitsim::{Callback, CallbackResult, JobHandle, Scenario};
//! use bitsim_model::ErrorInfo;
//!
//! // The callback under test: cancels on error, completes on success.
//! struct MyApp;
//! impl Callback for MyApp {
//!     fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
//!         let _ = job.complete();
//!         CallbackResult::ok()
//!     }
//!     fn job_error(&mut self, job: &mut JobHandle<'_>, _e: &ErrorInfo) -> CallbackResult {
//!         let _ = job.cancel();
//!         CallbackResult::ok()
//!     }
//! }
//!
//! // Like a real application, the callback registers again after a BITS
//! // restart (one of the perturbations): without it the fuzzer finds a job
//! // that sits in TRANSFERRED until the 90-day cancel.
//! let base = Scenario::parse(r#"
//!     name = "nightly download"
//!     [[servers]]
//!     host = "cdn.example.com"
//!     files = { "/a.bin" = "1MB" }
//!     [callbacks.app]
//!     reregister_after_restart = true
//!     [[jobs]]
//!     name = "nightly"
//!     owner = "alice"
//!     files = [{ remote = "http://cdn.example.com/a.bin", local = "/d/a.bin" }]
//!     callback = "app"
//!     [[properties]]
//!     ends_within = "30d"
//!     callbacks_at_most = { JobError = 1 }
//! "#, "inline").unwrap();
//!
//! let campaign = Campaign::new(fuzz::around(base, fuzz::FuzzConfig::default()))
//!     .callback("app", || Box::new(MyApp))
//!     .cases(200)
//!     .seed(7);
//! let outcome = campaign.run();
//! if let Some(f) = &outcome.failure {
//!     // Re-run the minimal case with MyApp, not the scenario's script.
//!     let again = campaign.replay(&f.case.to_toml(), f.case.seed);
//!     panic!("{f}\n{again:?}");
//! }
//! ```

pub mod campaign;
pub mod invariants;
pub mod strategies;

pub use campaign::{Campaign, CaseFailure, FoundFailure, Outcome};
pub use invariants::{
    Invariant, RunView, bits_invariants, ends_within, expectations, no_early_upload_complete,
};
pub use strategies::{
    FuzzConfig, action, actions, around, fault, faults, server_behaviour, small_scenarios,
};

use crate::scenario::Scenario;
use std::fmt;

/// One generated case: a scenario and the seed of its run.
///
/// The scenario's first `own_faults` faults and `own_actions` actions are
/// the base scenario's own; the rest were added by the strategy. Shrinking
/// removes only added ones.
#[derive(Debug, Clone, PartialEq)]
pub struct FuzzCase {
    /// The scenario.
    pub scenario: Scenario,
    /// The simulation seed.
    pub seed: u64,
    /// How many of `scenario.faults` (from the front) the base scenario had.
    pub own_faults: usize,
    /// How many of `scenario.actions` (from the front) the base scenario had.
    pub own_actions: usize,
}

impl FuzzCase {
    /// A case that is exactly `scenario` (nothing added) run with `seed`.
    pub fn exact(scenario: Scenario, seed: u64) -> FuzzCase {
        FuzzCase {
            own_faults: scenario.faults.len(),
            own_actions: scenario.actions.len(),
            scenario,
            seed,
        }
    }

    /// The scenario as TOML (what `bitsim run` and [`Campaign::replay`]
    /// read), with the seed in it.
    pub fn to_toml(&self) -> String {
        let mut s = self.scenario.clone();
        s.seed = self.seed;
        toml::to_string(&s).unwrap_or_else(|e| format!("# cannot render as TOML: {e}\n"))
    }
}

impl fmt::Display for FuzzCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "# seed = {}\n{}", self.seed, self.to_toml())
    }
}
