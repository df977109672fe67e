//! `[[expect]]` (one exact run) and `[[properties]]` (bounds under every
//! perturbation), typed: states, rules, HRESULTs and durations are parsed
//! when the file is read.

use super::is_false;
use crate::units::Span;
use bitsim_model::{ErrorContext, Hresult, JobState, Rule};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The four methods of `IBackgroundCopyCallback`/`2`, as expectations and
/// properties name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CallbackMethod {
    /// `JobTransferred`.
    JobTransferred,
    /// `JobError`.
    JobError,
    /// `JobModification`.
    JobModification,
    /// `FileTransferred`.
    FileTransferred,
}

impl CallbackMethod {
    /// The method's name, as traces show it.
    pub fn name(self) -> &'static str {
        match self {
            CallbackMethod::JobTransferred => "JobTransferred",
            CallbackMethod::JobError => "JobError",
            CallbackMethod::JobModification => "JobModification",
            CallbackMethod::FileTransferred => "FileTransferred",
        }
    }
}

impl std::fmt::Display for CallbackMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What must hold at the end of one exact run (`[[expect]]`). Every field
/// is typed: states, rules, HRESULTs and durations are parsed when the file
/// is read, never again.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Which job (absent: the whole run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The job's final state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_state: Option<JobState>,
    /// States the job visited, in this order (other states may come between).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<JobState>,
    /// The job's state at given times: `{ "13d" = "TRANSIENT_ERROR", "14d1s" = "ERROR" }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub state_at: BTreeMap<Span, JobState>,
    /// States the job must never enter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub never: Vec<JobState>,
    /// Rules (T-rows) that must have fired for the job.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// Rules that must not have fired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules_not: Vec<Rule>,
    /// Callback method → exact number of calls (`JobError = 2`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub callbacks: BTreeMap<CallbackMethod, u32>,
    /// Number of command-line runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands_run: Option<u32>,
    /// Last error's context (e.g. `REMOTE_FILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_context: Option<ErrorContext>,
    /// Last error's HRESULT (name or hex).
    #[serde(
        default,
        with = "bitsim_model::hresult::text::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_code: Option<Hresult>,
    /// Final error count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_count: Option<u32>,
    /// Reply progress BytesTotal was known (not BG_SIZE_UNKNOWN) when the
    /// job entered ERROR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_started: Option<bool>,
    /// Local paths that must exist at the end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files_present: Vec<String>,
    /// Local paths that must not exist at the end (temp or final).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files_absent: Vec<String>,
    /// Temporary files that must have been deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temp_deleted: Option<bool>,
    /// Server-side uploaded files that must exist at the end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_files_present: Vec<String>,
    /// The job reached its final state no earlier than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_after: Option<Span>,
    /// ... and no later than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_before: Option<Span>,
    /// The most notifications a user had outstanding at once (`alice = 4`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub max_outstanding: BTreeMap<String, u32>,
    /// The order in which jobs first reached TRANSFERRING (whole-run check).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_transfer_order: Vec<String>,
}

/// What must hold under every perturbation of the world (`[[properties]]`):
/// unlike an [`Expectation`], which pins one exact run, a property is a
/// bound `bitsim fuzz` checks on every case. Each field is optional; a
/// property without `job` applies to every job of the scenario.
///
/// ```toml
/// [[properties]]
/// job = "report"
/// final_state_in = ["ACKNOWLEDGED", "ERROR", "TRANSIENT_ERROR"]
/// callbacks_at_most = { JobError = 1 }
/// never = ["CANCELLED"]
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Property {
    /// Which job (absent: every job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The state at the end is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub final_state_in: Vec<JobState>,
    /// The job reaches ACKNOWLEDGED or CANCELLED within this time of the
    /// start (when the run lasts that long).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_within: Option<Span>,
    /// Callback method → the most calls it may get.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub callbacks_at_most: BTreeMap<CallbackMethod, u32>,
    /// States the job never enters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub never: Vec<JobState>,
    /// No `Complete` on an upload job before it is TRANSFERRED (the call
    /// fails with `BG_E_INVALID_STATE`, a sign of code that completes a
    /// partial upload).
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_early_upload_complete: bool,
    /// No user ever has more than this many notifications outstanding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outstanding_at_most: Option<u32>,
}
