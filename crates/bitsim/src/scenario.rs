//! Scenario files: a world, jobs, faults, callback scripts and expectations.
//!
//! The schema is documented for users in `sim-scenarios/README.md`; every
//! table rejects unknown keys so a typo is an error, not a silent default.

use crate::units::{Size, Span};
use bitsim_model::{ErrorContext, Hresult, JobPriority, JobState, JobType, Policy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// What behaviour it shows, in words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The documentation page(s) the behaviour comes from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Default seed (the CLI's `--seed` overrides it).
    #[serde(default)]
    pub seed: u64,
    /// Stop after this much virtual time even if events remain.
    #[serde(default = "default_duration")]
    pub duration: Span,
    /// Group policy and model tunables.
    #[serde(default, skip_serializing_if = "is_default_policy")]
    pub policy: Policy,
    /// Users (created on first mention if not listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserSpec>,
    /// Servers and the files they hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<ServerSpec>,
    /// Callback scripts, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub callbacks: BTreeMap<String, CallbackScript>,
    /// Notification command lines' behaviour, by program.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub programs: BTreeMap<String, ProgramSpec>,
    /// Jobs to create at time zero (or `create_at`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobSpec>,
    /// Faults, at set times or with probabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultSpec>,
    /// Scripted user actions at set times.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionSpec>,
    /// What must hold at the end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<Expectation>,
}

fn default_duration() -> Span {
    Span(std::time::Duration::from_secs(120 * 86_400))
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// Account name.
    pub name: String,
    /// Administrator (exempt from limits, sees all jobs).
    #[serde(default, skip_serializing_if = "is_false")]
    pub admin: bool,
    /// Logged on at the start (default true).
    #[serde(default = "yes")]
    pub logged_on: bool,
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_zero_span(s: &Span) -> bool {
    s.0.is_zero()
}

fn is_zero_size(s: &Size) -> bool {
    s.0 == 0
}

fn is_default_policy(p: &Policy) -> bool {
    *p == Policy::default()
}

/// A simulated HTTP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// Host name as it appears in URLs (`http://HOST/...`).
    pub host: String,
    /// Bytes per second per transfer (default 1 MB/s).
    #[serde(default = "default_bandwidth")]
    pub bandwidth: Size,
    /// Connection set-up time (default 50 ms).
    #[serde(default = "default_latency")]
    pub latency: Span,
    /// Files served, by path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, Size>,
    /// Server application for upload-reply: size of the reply it sends (default 0).
    #[serde(default, skip_serializing_if = "is_zero_size")]
    pub reply_size: Size,
    /// Time the server application takes to process an upload.
    #[serde(default, skip_serializing_if = "is_zero_span")]
    pub app_delay: Span,
}

fn default_bandwidth() -> Size {
    Size(1_000_000)
}
fn default_latency() -> Span {
    Span(std::time::Duration::from_millis(50))
}

/// What a callback method does when called.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodScript {
    /// Return a failure this many times first (then S_OK).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fail_times: u32,
    /// Always fail (never return S_OK).
    #[serde(default, skip_serializing_if = "is_false")]
    pub fail_always: bool,
    /// The failure HRESULT (default E_FAIL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Hold the call for this long before returning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Span>,
    /// Job method to call from inside the callback when it succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<CallbackAction>,
    /// Call the action on every invocation, not only the successful one.
    #[serde(default, skip_serializing_if = "is_false")]
    pub action_every_time: bool,
}

/// Job methods a scripted callback can call (the JobError remedies and more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackAction {
    /// Nothing.
    None,
    /// `Resume` (fix and retry).
    Resume,
    /// `Cancel`.
    Cancel,
    /// `Complete` (keep what transferred).
    Complete,
    /// `Suspend`.
    Suspend,
}

/// A callback object's script, per method.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackScript {
    /// `JobTransferred`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_transferred: Option<MethodScript>,
    /// `JobError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_error: Option<MethodScript>,
    /// `JobModification`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_modification: Option<MethodScript>,
    /// `FileTransferred`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_transferred: Option<MethodScript>,
    /// Register again after a service restart (like an app that re-registers on start-up).
    #[serde(default, skip_serializing_if = "is_false")]
    pub reregister_after_restart: bool,
}

/// A notification program's behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    /// Exit codes of successive runs; the last repeats (default `[0]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exit_codes: Vec<i32>,
    /// The program cannot be started.
    #[serde(default, skip_serializing_if = "is_false")]
    pub missing: bool,
    /// How long it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Span>,
    /// What it does to the job when it runs (e.g. `complete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<CallbackAction>,
}

/// A file of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// URL.
    pub remote: String,
    /// Local path.
    pub local: String,
    /// Upload jobs: the local file's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Size>,
}

/// A notification command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CmdLineSpec {
    /// Program.
    pub program: String,
    /// Parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<String>,
}

/// A job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Name, used by actions and expectations; also the display name.
    pub name: String,
    /// Owner.
    pub owner: String,
    /// download, upload or upload_reply.
    #[serde(default = "default_type", with = "job_type_serde")]
    pub r#type: JobType,
    /// foreground, high, normal or low.
    #[serde(
        default,
        with = "opt_priority_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub priority: Option<JobPriority>,
    /// Files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileSpec>,
    /// Notify flags (default 0x3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_flags: Option<u32>,
    /// Callback script to register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
    /// Command line to set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd_line: Option<CmdLineSpec>,
    /// SetMinimumRetryDelay, seconds or a duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<Span>,
    /// SetNoProgressTimeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_progress_timeout: Option<Span>,
    /// SetMaximumDownloadTime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_download_time: Option<Span>,
    /// Create at this time (default 0).
    #[serde(default, skip_serializing_if = "is_zero_span")]
    pub create_at: Span,
    /// Resume right after creation (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub resume: bool,
}

fn default_type() -> JobType {
    JobType::Download
}

/// A fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// When it starts (default 0).
    #[serde(default)]
    pub at: Span,
    /// When it stops applying (default: never, or after `count` hits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Span>,
    /// What happens.
    pub kind: FaultKind,
    /// Which URLs it affects: a substring of the URL (default all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// HTTP status for `http_status` / `server_app_failure` / `reply_failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Stop after this many hits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Apply to each attempt with this probability (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// User for logoff/logon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// Kinds of faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Requests answer this HTTP status.
    HttpStatus,
    /// Connections reset mid-transfer (at `at`) and on connect while active.
    ConnectionReset,
    /// The host name does not resolve.
    NameResolution,
    /// Requests time out.
    Timeout,
    /// The network goes down at `at` and comes back at `until` (if given).
    NetworkDown,
    /// `user` logs off at `at` and back on at `until` (if given).
    Logoff,
    /// The BITS service restarts at `at` (the queue is persisted and reloaded).
    ServiceRestart,
    /// The local disk is full.
    DiskFull,
    /// An upload's local file changes.
    LocalFileChanged,
    /// The server stops honouring Range requests.
    NoRangeSupport,
    /// The server file's Last-Modified changes at `at` (downloads restart the file).
    LastModifiedChanged,
    /// The upload-reply server application fails with `status`.
    ServerAppFailure,
    /// The reply download fails with `status`.
    ReplyFailure,
}

/// A scripted user action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// When.
    pub at: Span,
    /// Who calls (default: the job's owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Which job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// What.
    pub r#do: UserAction,
    /// Argument: priority name, seconds, flags, URL, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<toml::Value>,
    /// Second argument (AddFile's local path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    /// The HRESULT the call must return (checked; a mismatch fails the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_hr: Option<String>,
}

/// Job and manager methods a scenario can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAction {
    /// `Resume`.
    Resume,
    /// `Suspend`.
    Suspend,
    /// `Cancel`.
    Cancel,
    /// `Complete`.
    Complete,
    /// `AddFile` (value = URL, local = path).
    AddFile,
    /// `SetPriority` (value = name).
    SetPriority,
    /// `SetNotifyFlags` (value = integer).
    SetNotifyFlags,
    /// `SetNotifyInterface` (value = callback script name, or absent to clear).
    SetNotifyInterface,
    /// `SetMinimumRetryDelay` (value = seconds).
    SetMinimumRetryDelay,
    /// `SetNoProgressTimeout` (value = seconds).
    SetNoProgressTimeout,
    /// `SetMaximumDownloadTime` (value = seconds).
    SetMaximumDownloadTime,
    /// `TakeOwnership` (user = the admin).
    TakeOwnership,
}

/// What must hold at the end of a run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Which job (absent: the whole run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The job's final state.
    #[serde(
        default,
        with = "opt_state_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub final_state: Option<JobState>,
    /// States the job visited, in this order (other states may come between).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<String>,
    /// The job's state at given times: `{ "13d" = "TRANSIENT_ERROR", "14d1s" = "ERROR" }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub state_at: BTreeMap<String, String>,
    /// States the job must never enter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub never: Vec<String>,
    /// Rules (T-rows) that must have fired for the job.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// Rules that must not have fired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules_not: Vec<String>,
    /// Callback method → exact number of calls (`JobError = 2`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub callbacks: BTreeMap<String, u32>,
    /// Number of command-line runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands_run: Option<u32>,
    /// Last error's context (e.g. `REMOTE_FILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_context: Option<String>,
    /// Last error's HRESULT (name or hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Final error count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_count: Option<u32>,
    /// Reply progress BytesTotal was BG_SIZE_UNKNOWN when the job entered ERROR.
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

/// A scenario that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or does not match the schema.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The scenario parses but refers to things that do not exist.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Scenario {
    /// Loads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::parse(&text, &path.display().to_string())
    }

    /// Parses and validates scenario text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    (line, column)
                })
                .unwrap_or((1, 1));
            ScenarioError::Parse {
                path: origin.to_owned(),
                line,
                column,
                message: e.message().to_owned(),
            }
        })?;
        scenario
            .validate()
            .map_err(|message| ScenarioError::Invalid {
                path: origin.to_owned(),
                message,
            })?;
        Ok(scenario)
    }

    fn validate(&self) -> Result<(), String> {
        let mut jobs = std::collections::BTreeSet::new();
        for j in &self.jobs {
            if !jobs.insert(j.name.as_str()) {
                return Err(format!("job {:?} is defined twice", j.name));
            }
            if let Some(cb) = &j.callback
                && !self.callbacks.contains_key(cb)
            {
                return Err(format!("job {:?}: no callback script named {cb:?}", j.name));
            }
        }
        for a in &self.actions {
            if let Some(j) = &a.job {
                if !jobs.contains(&j.as_str()) {
                    return Err(format!("action at {}: no job named {j:?}", a.at));
                }
            } else if a.r#do != UserAction::TakeOwnership {
                return Err(format!("action {:?} at {} needs a job", a.r#do, a.at));
            }
            if let Some(hr) = &a.expect_hr {
                Hresult::parse(hr)
                    .ok_or_else(|| format!("action at {}: unknown HRESULT {hr:?}", a.at))?;
            }
        }
        for f in &self.faults {
            let needs_status = matches!(
                f.kind,
                FaultKind::HttpStatus | FaultKind::ServerAppFailure | FaultKind::ReplyFailure
            );
            if needs_status && f.status.is_none() {
                return Err(format!("fault {:?} at {} needs a status", f.kind, f.at));
            }
            if f.kind == FaultKind::Logoff && f.user.is_none() {
                return Err(format!("logoff fault at {} needs a user", f.at));
            }
            if let Some(p) = f.probability
                && !(0.0..=1.0).contains(&p)
            {
                return Err(format!(
                    "fault at {}: probability {p} is not in 0..=1",
                    f.at
                ));
            }
        }
        for e in &self.expect {
            if let Some(j) = &e.job
                && !jobs.contains(&j.as_str())
            {
                return Err(format!("expect: no job named {j:?}"));
            }
            for s in e.states.iter().chain(&e.never).chain(e.state_at.values()) {
                parse_state(s)?;
            }
            for t in e.state_at.keys() {
                Span::parse(t).map_err(|m| format!("expect.state_at: {m}"))?;
            }
            if let Some(c) = &e.error_context {
                parse_context(c)?;
            }
            if let Some(c) = &e.error_code {
                Hresult::parse(c).ok_or_else(|| format!("expect: unknown HRESULT {c:?}"))?;
            }
            for r in e.rules.iter().chain(&e.rules_not) {
                if !bitsim_model::Rule::all().any(|x| x.id() == r) {
                    return Err(format!("expect: unknown rule {r:?}"));
                }
            }
            for m in e.callbacks.keys() {
                if ![
                    "JobTransferred",
                    "JobError",
                    "JobModification",
                    "FileTransferred",
                ]
                .contains(&m.as_str())
                {
                    return Err(format!("expect: unknown callback method {m:?}"));
                }
            }
        }
        Ok(())
    }
}

/// Parses `QUEUED`, `BG_JOB_STATE_QUEUED`, `queued`, `transient_error`.
pub fn parse_state(s: &str) -> Result<JobState, String> {
    let norm = s.trim().to_ascii_uppercase();
    JobState::ALL
        .iter()
        .copied()
        .find(|st| st.short_name() == norm || st.bg_name() == norm)
        .ok_or_else(|| format!("unknown job state {s:?}"))
}

/// Parses `REMOTE_FILE`, `BG_ERROR_CONTEXT_REMOTE_FILE` (any case).
pub fn parse_context(s: &str) -> Result<ErrorContext, String> {
    let norm = s.trim().to_ascii_uppercase();
    ErrorContext::ALL
        .iter()
        .copied()
        .find(|c| c.short_name() == norm || c.bg_name() == norm)
        .ok_or_else(|| format!("unknown error context {s:?}"))
}

/// Parses `foreground`, `high`, `normal`, `low` (any case).
pub fn parse_priority(s: &str) -> Result<JobPriority, String> {
    let norm = s.trim().to_ascii_uppercase();
    JobPriority::ALL
        .iter()
        .copied()
        .find(|p| p.short_name() == norm || p.bg_name() == norm)
        .ok_or_else(|| format!("unknown priority {s:?}"))
}

mod job_type_serde {
    use bitsim_model::JobType;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(t: &JobType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.short_name().to_ascii_lowercase())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<JobType, D::Error> {
        let s = String::deserialize(d)?;
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "download" => Ok(JobType::Download),
            "upload" => Ok(JobType::Upload),
            "upload_reply" => Ok(JobType::UploadReply),
            _ => Err(serde::de::Error::custom(format!(
                "unknown job type {s:?} (download, upload, upload_reply)"
            ))),
        }
    }
}

mod opt_priority_serde {
    use bitsim_model::JobPriority;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(p: &Option<JobPriority>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_str(&p.short_name().to_ascii_lowercase()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<JobPriority>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_priority(&s)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

mod opt_state_serde {
    use bitsim_model::JobState;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(p: &Option<JobState>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_str(p.short_name()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<JobState>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_state(&s)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_library_scenario_round_trips_through_toml() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim-scenarios");
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                let s = Scenario::load(&p).unwrap();
                let text = toml::to_string(&s).unwrap();
                let back = Scenario::parse(&text, "round-trip")
                    .unwrap_or_else(|e| panic!("{}: {e}\n{text}", p.display()));
                assert_eq!(s, back, "{}", p.display());
            }
        }
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let e = Scenario::parse(
            "name = \"x\"\n[[jobs]]\nname = \"j\"\nowner = \"u\"\ntype = \"sideways\"\n",
            "f.toml",
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("f.toml:5:"), "{msg}");
        assert!(msg.contains("unknown job type"), "{msg}");
        let e = Scenario::parse(
            "name = \"x\"\n[[faults]]\nkind = \"http_status\"\n",
            "f.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs a status"), "{e}");
        let e = Scenario::parse("name = \"x\"\nduration = \"3 weeks\"\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("bad duration"), "{e}");
    }
}
