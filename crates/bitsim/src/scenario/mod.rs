//! Scenario files: a world, jobs, faults, callback scripts and expectations.
//!
//! The schema is documented for users in `sim-scenarios/README.md`; every
//! table rejects unknown keys so a typo is an error, not a silent default.

use crate::units::{Size, Span};
use bitsim_model::{Call, Hresult, JobPriority, JobType, NotifyFlags, Policy};
use serde::{Deserialize, Serialize};

mod action;
mod checks;

pub use action::{ActionSpec, ExpectedReply};
pub use checks::{CallbackMethod, Expectation, Property};
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
    /// What must hold at the end of this exact run (checked by `bitsim
    /// run`/`check`; by `bitsim fuzz` only with `--expect`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<Expectation>,
    /// What must hold under every perturbation of the world (checked by
    /// `bitsim run`, `check` and `fuzz`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
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

pub(crate) fn is_false(b: &bool) -> bool {
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
    /// The failure HRESULT (default E_FAIL), by name or number.
    #[serde(
        default,
        with = "bitsim_model::hresult::text::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub failure: Option<Hresult>,
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

/// Job methods a scripted callback or program can call (the JobError
/// remedies and more): the argument-less job calls of [`Call`], by name.
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

impl CallbackAction {
    /// The API call this stands for (`None` for [`CallbackAction::None`]).
    pub fn call(self) -> Option<Call> {
        match self {
            CallbackAction::None => None,
            CallbackAction::Resume => Some(Call::Resume),
            CallbackAction::Cancel => Some(Call::Cancel),
            CallbackAction::Complete => Some(Call::Complete),
            CallbackAction::Suspend => Some(Call::Suspend),
        }
    }
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
    #[serde(default = "default_type")]
    pub r#type: JobType,
    /// foreground, high, normal or low.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<JobPriority>,
    /// Files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileSpec>,
    /// Notify flags (default 0x3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_flags: Option<NotifyFlags>,
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

impl FaultSpec {
    /// Checks the fields the fault's kind needs or refuses (`status` for
    /// the HTTP kinds only, `user` for logoff, no `count` of 0, a
    /// probability in 0..=1); the error names the field.
    pub fn check(&self) -> Result<(), String> {
        let f = self;
        let needs_status = matches!(
            f.kind,
            FaultKind::HttpStatus | FaultKind::ServerAppFailure | FaultKind::ReplyFailure
        );
        match f.status {
            None if needs_status => {
                return Err(format!("fault {:?} at {} needs a `status`", f.kind, f.at));
            }
            Some(s) if !needs_status => {
                return Err(format!(
                    "fault {:?} at {}: `status` {s} is used only by http_status, server_app_failure and reply_failure",
                    f.kind, f.at
                ));
            }
            Some(s) if !(100..=599).contains(&s) => {
                return Err(format!(
                    "fault {:?} at {}: `status` {s} is not an HTTP status (allowed: 100-599)",
                    f.kind, f.at
                ));
            }
            _ => {}
        }
        if f.kind == FaultKind::Logoff && f.user.is_none() {
            return Err(format!("logoff fault at {} needs a `user`", f.at));
        }
        if f.count == Some(0) {
            return Err(format!(
                "fault {:?} at {}: `count` 0 would never apply (leave it out for no limit)",
                f.kind, f.at
            ));
        }
        if let Some(p) = f.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(format!(
                "fault at {}: `probability` {p} is not in 0..=1",
                f.at
            ));
        }
        Ok(())
    }

    /// The fault in words, with its status, URL filter, count, probability
    /// and end, as traces and `bitsim explain` show it: `HTTP 403 on every
    /// URL, 1 time`.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "{} on {}",
            self.what(),
            self.url.as_deref().unwrap_or("every URL")
        );
        match self.count {
            Some(1) => out.push_str(", 1 time"),
            Some(n) => out.push_str(&format!(", {n} times")),
            None => {}
        }
        if let Some(p) = self.probability {
            out.push_str(&format!(", with probability {p}"));
        }
        match self.until {
            Some(u) => out.push_str(&format!(", until {u}")),
            None if self.count.is_none() => out.push_str(", from now on"),
            None => {}
        }
        out
    }

    /// The fault's end in words: `connection reset on every URL ends`.
    pub fn describe_end(&self) -> String {
        format!(
            "{} on {} ends",
            self.what(),
            self.url.as_deref().unwrap_or("every URL")
        )
    }

    /// What happens, with the status: `HTTP 403`, `connection reset`.
    fn what(&self) -> String {
        let status = self.status.map_or(String::new(), |s| format!(" {s}"));
        match self.kind {
            FaultKind::HttpStatus => format!("HTTP{status}"),
            FaultKind::ConnectionReset => "connection reset".into(),
            FaultKind::NameResolution => "name resolution fails".into(),
            FaultKind::Timeout => "requests time out".into(),
            FaultKind::NetworkDown => "network down".into(),
            FaultKind::Logoff => format!("{} logs off", self.user.as_deref().unwrap_or("?")),
            FaultKind::ServiceRestart => "BITS service restarts".into(),
            FaultKind::DiskFull => "local disk full".into(),
            FaultKind::LocalFileChanged => "upload source file changes".into(),
            FaultKind::NoRangeSupport => "server ignores Range".into(),
            FaultKind::LastModifiedChanged => "Last-Modified changes".into(),
            FaultKind::ServerAppFailure => format!("server application fails with HTTP{status}"),
            FaultKind::CertificateInvalid => "server certificate from an unknown CA".into(),
            FaultKind::ReplyFailure => format!("reply download fails with HTTP{status}"),
        }
    }
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
    /// The server's TLS certificate was issued by an authority the client
    /// does not trust: the connection fails with WinHTTP's
    /// `ERROR_WINHTTP_SECURE_INVALID_CA`, as an `https://` server with an
    /// untrusted certificate fails the real-time driver.
    CertificateInvalid,
    /// The reply download fails with `status`.
    ReplyFailure,
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
    /// The TOML is malformed, does not match the schema, or names something
    /// that does not exist.
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
    /// The scenario parses but refers to things that do not exist, and the
    /// place could not be found in the text.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// 1-based line and column of byte offset `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The first `"quoted"` value in `message`, as it appears in TOML.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('"')?;
    let end = message[start + 1..].find('"')? + start + 1;
    Some(&message[start..=end])
}

/// Where in `text` the value a validation message complains about is: the
/// first `"quoted"` value, or `` `field` value `` written `field = value`.
fn locate(text: &str, message: &str) -> Option<usize> {
    if let Some(q) = quoted(message) {
        return text
            .find(&format!("= {q}"))
            .map(|i| i + 2)
            .or_else(|| text.find(q));
    }
    let (_, rest) = message.split_once('`')?;
    let (field, rest) = rest.split_once('`')?;
    let value = rest.split_whitespace().next()?;
    let pattern = format!("{field} = {value}");
    text.find(&pattern).map(|i| i + field.len() + 3)
}

/// The key of the `key = value` line that holds offset `at`, if any.
fn key_at(text: &str, at: usize) -> Option<&str> {
    let at = at.min(text.len());
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text[start..at].split_once('=')?;
    let key = key.trim().trim_start_matches('{').trim();
    let key = key.rsplit([',', '{']).next().unwrap_or(key).trim();
    (!key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(key)
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
    /// Every error says where (`origin:line:column`), which field, the bad
    /// value and what is allowed.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| {
            let message = e.message().to_owned();
            let mut at = e.span().map_or(0, |s| s.start);
            // A value checked after its table was read: point at the value.
            if let Some(q) = quoted(&message)
                && let Some(off) = text[at.min(text.len())..].find(q)
            {
                at += off;
            }
            let message = match key_at(text, at) {
                Some(k) if !message.contains(&format!("`{k}`")) => format!("`{k}`: {message}"),
                _ => message,
            };
            let (line, column) = line_col(text, at);
            ScenarioError::Parse {
                path: origin.to_owned(),
                line,
                column,
                message,
            }
        })?;
        scenario
            .validate()
            .map_err(|message| match locate(text, &message) {
                Some(at) => {
                    let (line, column) = line_col(text, at);
                    ScenarioError::Parse {
                        path: origin.to_owned(),
                        line,
                        column,
                        message,
                    }
                }
                None => ScenarioError::Invalid {
                    path: origin.to_owned(),
                    message,
                },
            })?;
        Ok(scenario)
    }

    fn validate(&self) -> Result<(), String> {
        let mut jobs = std::collections::BTreeSet::new();
        let scripts = || {
            self.callbacks
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        for j in &self.jobs {
            if !jobs.insert(j.name.as_str()) {
                return Err(format!("job {:?} is defined twice", j.name));
            }
            if let Some(cb) = &j.callback
                && !self.callbacks.contains_key(cb)
            {
                return Err(format!(
                    "`callback` {cb:?} of job {:?} names no callback script (scripts: {})",
                    j.name,
                    scripts()
                ));
            }
            if let Some(c) = &j.cmd_line
                && !self.programs.contains_key(&c.program)
            {
                return Err(format!(
                    "`cmd_line` program {:?} of job {:?} has no [programs.\"...\"] entry saying how it behaves (programs: {}); add an empty one for a program that exits 0",
                    c.program,
                    j.name,
                    self.programs
                        .keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let users: std::collections::BTreeSet<&str> = self
            .users
            .iter()
            .map(|u| u.name.as_str())
            .chain(self.jobs.iter().map(|j| j.owner.as_str()))
            .chain(self.faults.iter().filter_map(|f| f.user.as_deref()))
            .chain(self.actions.iter().filter_map(|a| a.user.as_deref()))
            .collect();
        let known_job = |j: &str, field: &str| {
            if jobs.contains(j) {
                Ok(())
            } else {
                Err(format!(
                    "{field}: `job` {j:?} names no job (jobs: {})",
                    jobs.iter().copied().collect::<Vec<_>>().join(", ")
                ))
            }
        };
        for a in &self.actions {
            match &a.job {
                Some(j) => known_job(j, &format!("action at {}", a.at))?,
                None if a.call != Call::TakeOwnership => {
                    return Err(format!(
                        "action {} at {} needs a `job`",
                        a.call.method(),
                        a.at
                    ));
                }
                None => {}
            }
            if let Some(s) = &a.script
                && !self.callbacks.contains_key(s)
            {
                return Err(format!(
                    "action at {}: `value` {s:?} of set_notify_interface names no callback script (scripts: {})",
                    a.at,
                    scripts()
                ));
            }
        }
        for f in &self.faults {
            f.check()?;
        }
        for e in &self.expect {
            if let Some(j) = &e.job {
                known_job(j, "expect")?;
            }
            for j in &e.first_transfer_order {
                known_job(j, "expect.first_transfer_order")?;
            }
            if let Some(u) = e
                .max_outstanding
                .keys()
                .find(|u| !users.contains(u.as_str()))
            {
                return Err(format!(
                    "expect.max_outstanding: user {u:?} owns no job and is not listed in [[users]] (users: {})",
                    users.iter().copied().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        for p in &self.properties {
            if let Some(j) = &p.job {
                known_job(j, "properties")?;
            }
        }
        Ok(())
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
        assert!(msg.contains("DOWNLOAD, UPLOAD, UPLOAD_REPLY"), "{msg}");
        let e = Scenario::parse(
            "name = \"x\"\n[[faults]]\nkind = \"http_status\"\n",
            "f.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs a `status`"), "{e}");
        let e = Scenario::parse("name = \"x\"\nduration = \"3 weeks\"\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("bad duration"), "{e}");
    }

    #[test]
    fn actions_round_trip_every_call_they_can_name() {
        let text = r#"
name = "all calls"
[callbacks.app]
[[jobs]]
name = "j"
owner = "alice"
[[actions]]
at = "1s"
job = "j"
do = "set_priority"
value = "high"
[[actions]]
at = "1s"
job = "j"
do = "set_priority"
value = 7
expect_hr = "E_NOTIMPL"
[[actions]]
at = "1s"
job = "j"
do = "set_minimum_retry_delay"
value = "30s"
[[actions]]
at = "1s"
job = "j"
do = "set_notify_flags"
value = "JOB_TRANSFERRED | JOB_ERROR | JOB_MODIFICATION"
[[actions]]
at = "1s"
job = "j"
do = "set_notify_interface"
value = "app"
[[actions]]
at = "2s"
job = "j"
do = "get_error"
expect = { code = "BG_E_HTTP_ERROR_404", context = "REMOTE_FILE" }
[[actions]]
at = "2s"
job = "j"
do = "get_times"
expect = { creation = "0s", modification = "1s" }
"#;
        let s = Scenario::parse(text, "t").unwrap();
        assert_eq!(
            s.actions[0].call,
            Call::SetPriority {
                priority: JobPriority::High
            }
        );
        assert_eq!(s.actions[1].call, Call::SetPriorityRaw { value: 7 });
        assert_eq!(
            s.actions[2].call,
            Call::SetMinimumRetryDelay { seconds: 30 }
        );
        assert_eq!(
            s.actions[3].call,
            Call::SetNotifyFlags {
                flags: NotifyFlags(0xB)
            }
        );
        assert_eq!(s.actions[4].script.as_deref(), Some("app"));
        let back = Scenario::parse(&toml::to_string(&s).unwrap(), "again").unwrap();
        assert_eq!(back, s);
    }
}
