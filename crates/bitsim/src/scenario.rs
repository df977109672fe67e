//! Scenario files: a world, jobs, faults, callback scripts and expectations.
//!
//! The schema is documented for users in `sim-scenarios/README.md`; every
//! table rejects unknown keys so a typo is an error, not a silent default.

use crate::units::{Size, Span};
use bitsim_model::{
    Call, ErrorContext, Hresult, JobPriority, JobState, JobType, NotifyFlags, Policy, Rule,
};
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
    /// The fault in words, with its status, URL filter, count, probability
    /// and end, as traces and `bitsim explain` show it: `HTTP 403 on every
    /// URL, 1 time`.
    pub fn describe(&self) -> String {
        let status = self.status.map_or(String::new(), |s| format!(" {s}"));
        let what = match self.kind {
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
            FaultKind::ReplyFailure => format!("reply download fails with HTTP{status}"),
        };
        let mut out = format!("{what} on {}", self.url.as_deref().unwrap_or("every URL"));
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

/// A scripted application call at a set time: one [`Call`] of the BITS
/// API, who makes it, and what it must return.
///
/// In TOML the call is `do` (the call's name, e.g. `set_priority`,
/// `get_state`) with its argument in `value` (and `local` for `add_file`);
/// see [`ActionSpec::DO_NAMES`]. Every value is parsed strictly: a
/// misspelt priority, HRESULT, duration or callback name is an error naming
/// the field, the value and the forms allowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawAction", into = "RawAction")]
pub struct ActionSpec {
    /// When.
    pub at: Span,
    /// Who calls (default: the job's owner).
    pub user: Option<String>,
    /// Which job.
    pub job: Option<String>,
    /// The call. For `SetNotifyInterface` the object is named by
    /// [`ActionSpec::script`] and filled in by the simulator.
    pub call: Call,
    /// `SetNotifyInterface`: the callback script to register (`None`
    /// clears the registration).
    pub script: Option<String>,
    /// The HRESULT the call must return (checked; a mismatch fails the run).
    pub expect_hr: Option<Hresult>,
    /// What a getter must return (checked; a mismatch fails the run).
    pub expect: Option<ExpectedReply>,
}

/// What a getter action must return: the typed value, compared field by
/// field (for `get_error`, the code and the context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedReply(pub bitsim_model::Reply);

impl ExpectedReply {
    /// True when `got` is what was expected.
    pub fn matches(&self, got: &bitsim_model::Reply) -> bool {
        use bitsim_model::Reply;
        match (&self.0, got) {
            (Reply::Error(want), Reply::Error(got)) => {
                want.code == got.code && want.context == got.context
            }
            (want, got) => want == got,
        }
    }
}

/// The TOML shape of an action, before its values are checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    at: Span,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    job: Option<String>,
    r#do: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<toml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    local: Option<String>,
    #[serde(
        default,
        with = "bitsim_model::hresult::text::option",
        skip_serializing_if = "Option::is_none"
    )]
    expect_hr: Option<Hresult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expect: Option<toml::Value>,
}

impl ActionSpec {
    /// The names `do` takes.
    pub const DO_NAMES: &'static [&'static str] = &[
        "resume",
        "suspend",
        "cancel",
        "complete",
        "add_file",
        "set_priority",
        "set_notify_flags",
        "set_notify_interface",
        "set_minimum_retry_delay",
        "set_no_progress_timeout",
        "set_maximum_download_time",
        "set_display_name",
        "set_description",
        "take_ownership",
        "get_state",
        "get_type",
        "get_priority",
        "get_owner",
        "get_display_name",
        "get_error",
        "get_error_count",
        "get_notify_flags",
        "get_minimum_retry_delay",
        "get_no_progress_timeout",
        "get_maximum_download_time",
        "get_progress",
        "get_times",
    ];

    /// An action with no user, no script and no expectations.
    pub fn new(at: Span, job: &str, call: Call) -> ActionSpec {
        ActionSpec {
            at,
            user: None,
            job: Some(job.to_owned()),
            call,
            script: None,
            expect_hr: None,
            expect: None,
        }
    }
}

const DURATION_FORMS: &str =
    "a number of seconds >= 0, or text such as 500ms, 90s, 10m, 2h, 14d, 1d12h";

fn want_none(what: &str, v: &Option<toml::Value>, field: &str) -> Result<(), String> {
    match v {
        None => Ok(()),
        Some(v) => Err(format!("`{field}` {v} is not used by `do = \"{what}\"`")),
    }
}

fn value_text<'a>(what: &str, v: &'a Option<toml::Value>) -> Result<&'a str, String> {
    match v {
        Some(toml::Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "`value` of `do = \"{what}\"` must be text, not {other}"
        )),
        None => Err(format!("`do = \"{what}\"` needs a `value`")),
    }
}

/// A duration value (`30`, `"30s"`, `"10m"`) as whole seconds.
fn duration_secs(field: &str, v: &toml::Value) -> Result<u32, String> {
    let span = match v {
        toml::Value::Integer(n) if *n >= 0 => Span(std::time::Duration::from_secs(*n as u64)),
        toml::Value::String(s) => {
            Span::parse(s).map_err(|m| format!("`{field}`: {m} (allowed: {DURATION_FORMS})"))?
        }
        other => {
            return Err(format!(
                "`{field}` {other} is not a duration (allowed: {DURATION_FORMS})"
            ));
        }
    };
    if span.0.subsec_millis() != 0 {
        return Err(format!(
            "`{field}` {span} is not a whole number of seconds (the BITS call takes seconds)"
        ));
    }
    u32::try_from(span.0.as_secs())
        .map_err(|_| format!("`{field}` {span} does not fit the call's 32-bit seconds"))
}

fn value_duration(what: &str, v: &Option<toml::Value>) -> Result<u32, String> {
    match v {
        Some(v) => duration_secs("value", v),
        None => Err(format!(
            "`do = \"{what}\"` needs a `value` ({DURATION_FORMS})"
        )),
    }
}

fn parse_named<T: std::str::FromStr<Err = bitsim_model::ParseNameError>>(
    field: &str,
    v: &toml::Value,
) -> Result<T, String> {
    match v {
        toml::Value::String(s) => s.parse().map_err(|e| format!("`{field}`: {e}")),
        other => Err(format!("`{field}` must be text, not {other}")),
    }
}

fn parse_expected(call: &Call, v: &toml::Value) -> Result<ExpectedReply, String> {
    use bitsim_model::{ErrorInfo, JobProgress, JobTimes, Reply, Time, UserId};
    let table = |v: &toml::Value| -> Result<toml::map::Map<String, toml::Value>, String> {
        v.as_table()
            .cloned()
            .ok_or_else(|| format!("`expect` of {} must be a table, not {v}", call.method()))
    };
    let time = |t: &toml::map::Map<String, toml::Value>, k: &str| -> Result<Option<Time>, String> {
        match t.get(k) {
            None => Ok(None),
            Some(toml::Value::String(s)) if s == "never" => Ok(None),
            Some(v) => {
                let ms = match v {
                    toml::Value::Integer(n) if *n >= 0 => *n as u64 * 1000,
                    toml::Value::String(s) => Span::parse(s)
                        .map_err(|m| format!("`expect.{k}`: {m} (allowed: {DURATION_FORMS})"))?
                        .0
                        .as_millis() as u64,
                    other => return Err(format!("`expect.{k}` {other} is not a time offset")),
                };
                Ok(Some(Time(ms)))
            }
        }
    };
    let count = |t: &toml::map::Map<String, toml::Value>, k: &str| -> Result<u64, String> {
        match t.get(k) {
            Some(toml::Value::Integer(n)) if *n >= 0 => Ok(*n as u64),
            Some(other) => Err(format!("`expect.{k}` {other} is not a count")),
            None => Err(format!("`expect` of {} needs `{k}`", call.method())),
        }
    };
    let only = |t: &toml::map::Map<String, toml::Value>, keys: &[&str]| -> Result<(), String> {
        match t.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(k) => Err(format!(
                "`expect.{k}` is not a field of {}'s result (fields: {})",
                call.method(),
                keys.join(", ")
            )),
            None => Ok(()),
        }
    };
    let reply = match call {
        Call::GetState => Reply::State(parse_named("expect", v)?),
        Call::GetType => Reply::Type(parse_named("expect", v)?),
        Call::GetPriority => Reply::Priority(parse_named("expect", v)?),
        Call::GetOwner => Reply::Owner(UserId::new(
            v.as_str()
                .ok_or("`expect` of GetOwner must be a user name")?,
        )),
        Call::GetDisplayName => Reply::Text(
            v.as_str()
                .ok_or("`expect` of GetDisplayName must be text")?
                .to_owned(),
        ),
        Call::GetErrorCount => Reply::Count(
            v.as_integer()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("`expect` {v} of GetErrorCount is not a count"))?,
        ),
        Call::GetNotifyFlags => Reply::Flags(match v {
            toml::Value::Integer(n) => NotifyFlags(
                u32::try_from(*n).map_err(|_| format!("`expect` {n} is not 32-bit flags"))?,
            ),
            _ => parse_named("expect", v)?,
        }),
        Call::GetMinimumRetryDelay | Call::GetNoProgressTimeout | Call::GetMaximumDownloadTime => {
            Reply::Seconds(duration_secs("expect", v)?)
        }
        Call::GetError => {
            let t = table(v)?;
            only(&t, &["code", "context"])?;
            let code = t
                .get("code")
                .ok_or("`expect` of GetError needs `code`")?
                .clone();
            let code: Hresult =
                Hresult::deserialize(code).map_err(|e| format!("`expect.code`: {e}"))?;
            let context: ErrorContext = parse_named(
                "expect.context",
                t.get("context")
                    .ok_or("`expect` of GetError needs `context`")?,
            )?;
            Reply::Error(ErrorInfo {
                code,
                context,
                file: None,
                protocol: None,
            })
        }
        Call::GetProgress => {
            let t = table(v)?;
            only(
                &t,
                &[
                    "bytes_total",
                    "bytes_transferred",
                    "files_total",
                    "files_transferred",
                ],
            )?;
            Reply::Progress(JobProgress {
                bytes_total: match t.get("bytes_total") {
                    Some(toml::Value::String(s)) if s == "unknown" => bitsim_model::BG_SIZE_UNKNOWN,
                    _ => count(&t, "bytes_total")?,
                },
                bytes_transferred: count(&t, "bytes_transferred")?,
                files_total: count(&t, "files_total")? as u32,
                files_transferred: count(&t, "files_transferred")? as u32,
            })
        }
        Call::GetTimes => {
            let t = table(v)?;
            only(&t, &["creation", "modification", "transfer_completion"])?;
            Reply::Times(JobTimes {
                creation_time: time(&t, "creation")?
                    .ok_or("`expect` of GetTimes needs `creation`")?,
                modification_time: time(&t, "modification")?
                    .ok_or("`expect` of GetTimes needs `modification`")?,
                transfer_completion_time: time(&t, "transfer_completion")?,
            })
        }
        other => {
            return Err(format!(
                "`expect` is for getters; {} returns only an HRESULT (use `expect_hr`)",
                other.method()
            ));
        }
    };
    Ok(ExpectedReply(reply))
}

fn expected_to_toml(e: &ExpectedReply) -> toml::Value {
    use bitsim_model::Reply;
    use toml::Value as V;
    let span =
        |t: bitsim_model::Time| V::String(Span(std::time::Duration::from_millis(t.0)).to_string());
    match &e.0 {
        Reply::State(s) => V::String(s.to_string()),
        Reply::Type(t) => V::String(t.to_string()),
        Reply::Priority(p) => V::String(p.to_string()),
        Reply::Owner(u) => V::String(u.0.clone()),
        Reply::Text(t) => V::String(t.clone()),
        Reply::Count(n) => V::Integer((*n).into()),
        Reply::Flags(f) => V::Integer(f.0.into()),
        Reply::Seconds(n) => V::Integer((*n).into()),
        Reply::Error(err) => {
            let mut t = toml::map::Map::new();
            t.insert(
                "code".into(),
                V::String(
                    err.code
                        .name()
                        .map_or(format!("0x{:08X}", err.code.0), |n| n.into_owned()),
                ),
            );
            t.insert("context".into(), V::String(err.context.to_string()));
            V::Table(t)
        }
        Reply::Progress(p) => {
            let mut t = toml::map::Map::new();
            let n = |x: u64| V::Integer(i64::try_from(x).unwrap_or(i64::MAX));
            t.insert(
                "bytes_total".into(),
                if p.bytes_total == bitsim_model::BG_SIZE_UNKNOWN {
                    V::String("unknown".into())
                } else {
                    n(p.bytes_total)
                },
            );
            t.insert("bytes_transferred".into(), n(p.bytes_transferred));
            t.insert("files_total".into(), n(p.files_total.into()));
            t.insert("files_transferred".into(), n(p.files_transferred.into()));
            V::Table(t)
        }
        Reply::Times(tm) => {
            let mut t = toml::map::Map::new();
            t.insert("creation".into(), span(tm.creation_time));
            t.insert("modification".into(), span(tm.modification_time));
            if let Some(c) = tm.transfer_completion_time {
                t.insert("transfer_completion".into(), span(c));
            }
            V::Table(t)
        }
        other => V::String(other.to_string()),
    }
}

impl TryFrom<RawAction> for ActionSpec {
    type Error = String;
    fn try_from(r: RawAction) -> Result<ActionSpec, String> {
        let what = r.r#do.as_str();
        let v = &r.value;
        let mut script = None;
        let call = match what {
            "resume"
            | "suspend"
            | "cancel"
            | "complete"
            | "take_ownership"
            | "get_state"
            | "get_type"
            | "get_priority"
            | "get_owner"
            | "get_display_name"
            | "get_error"
            | "get_error_count"
            | "get_notify_flags"
            | "get_minimum_retry_delay"
            | "get_no_progress_timeout"
            | "get_maximum_download_time"
            | "get_progress"
            | "get_times" => {
                want_none(what, v, "value")?;
                match what {
                    "resume" => Call::Resume,
                    "suspend" => Call::Suspend,
                    "cancel" => Call::Cancel,
                    "complete" => Call::Complete,
                    "take_ownership" => Call::TakeOwnership,
                    "get_state" => Call::GetState,
                    "get_type" => Call::GetType,
                    "get_priority" => Call::GetPriority,
                    "get_owner" => Call::GetOwner,
                    "get_display_name" => Call::GetDisplayName,
                    "get_error" => Call::GetError,
                    "get_error_count" => Call::GetErrorCount,
                    "get_notify_flags" => Call::GetNotifyFlags,
                    "get_minimum_retry_delay" => Call::GetMinimumRetryDelay,
                    "get_no_progress_timeout" => Call::GetNoProgressTimeout,
                    "get_maximum_download_time" => Call::GetMaximumDownloadTime,
                    "get_progress" => Call::GetProgress,
                    _ => Call::GetTimes,
                }
            }
            "add_file" => Call::AddFile {
                remote: value_text(what, v)?.to_owned(),
                local: r
                    .local
                    .clone()
                    .ok_or("`do = \"add_file\"` needs `local` (the local path)")?,
            },
            "set_priority" => {
                match v {
                    Some(toml::Value::Integer(n)) => Call::SetPriorityRaw {
                        value: u32::try_from(*n)
                            .map_err(|_| format!("`value` {n} is not a BG_JOB_PRIORITY number"))?,
                    },
                    Some(v) => Call::SetPriority {
                        priority: parse_named("value", v)?,
                    },
                    None => return Err(
                        "`do = \"set_priority\"` needs a `value` (foreground, high, normal, low)"
                            .into(),
                    ),
                }
            }
            "set_notify_flags" => Call::SetNotifyFlags {
                flags: match v {
                    Some(toml::Value::Integer(n)) => NotifyFlags(
                        u32::try_from(*n)
                            .map_err(|_| format!("`value` {n} is not 32-bit flags"))?,
                    ),
                    Some(v) => parse_named("value", v)?,
                    None => return Err("`do = \"set_notify_flags\"` needs a `value`".into()),
                },
            },
            "set_notify_interface" => {
                script = match v {
                    None => None,
                    Some(toml::Value::String(s)) => Some(s.clone()),
                    Some(other) => {
                        return Err(format!(
                            "`value` of set_notify_interface must name a callback script, not {other}"
                        ));
                    }
                };
                Call::SetNotifyInterface { callback: None }
            }
            "set_minimum_retry_delay" => Call::SetMinimumRetryDelay {
                seconds: value_duration(what, v)?,
            },
            "set_no_progress_timeout" => Call::SetNoProgressTimeout {
                seconds: value_duration(what, v)?,
            },
            "set_maximum_download_time" => Call::SetMaximumDownloadTime {
                seconds: value_duration(what, v)?,
            },
            "set_display_name" => Call::SetDisplayName {
                name: value_text(what, v)?.to_owned(),
            },
            "set_description" => Call::SetDescription {
                text: value_text(what, v)?.to_owned(),
            },
            other => {
                return Err(format!(
                    "unknown `do` {other:?} (allowed: {})",
                    ActionSpec::DO_NAMES.join(", ")
                ));
            }
        };
        if r.local.is_some() && !matches!(call, Call::AddFile { .. }) {
            return Err(format!("`local` is used only by add_file, not by {what}"));
        }
        let expect = r
            .expect
            .as_ref()
            .map(|e| parse_expected(&call, e))
            .transpose()?;
        Ok(ActionSpec {
            at: r.at,
            user: r.user,
            job: r.job,
            call,
            script,
            expect_hr: r.expect_hr,
            expect,
        })
    }
}

impl From<ActionSpec> for RawAction {
    fn from(a: ActionSpec) -> RawAction {
        use toml::Value as V;
        let (what, value, local): (String, Option<V>, Option<String>) = match &a.call {
            Call::AddFile { remote, local } => (
                "add_file".into(),
                Some(V::String(remote.clone())),
                Some(local.clone()),
            ),
            Call::SetPriority { priority } => (
                "set_priority".into(),
                Some(V::String(priority.to_string().to_ascii_lowercase())),
                None,
            ),
            Call::SetPriorityRaw { value } => (
                "set_priority".into(),
                Some(V::Integer((*value).into())),
                None,
            ),
            Call::SetNotifyFlags { flags } => (
                "set_notify_flags".into(),
                Some(V::Integer(flags.0.into())),
                None,
            ),
            Call::SetNotifyInterface { .. } => (
                "set_notify_interface".into(),
                a.script.clone().map(V::String),
                None,
            ),
            Call::SetMinimumRetryDelay { seconds }
            | Call::SetNoProgressTimeout { seconds }
            | Call::SetMaximumDownloadTime { seconds } => (
                snake(a.call.method()),
                Some(V::Integer((*seconds).into())),
                None,
            ),
            Call::SetDisplayName { name } => (
                "set_display_name".into(),
                Some(V::String(name.clone())),
                None,
            ),
            Call::SetDescription { text } => (
                "set_description".into(),
                Some(V::String(text.clone())),
                None,
            ),
            other => (snake(other.method()), None, None),
        };
        RawAction {
            at: a.at,
            user: a.user,
            job: a.job,
            r#do: what,
            value,
            local,
            expect_hr: a.expect_hr,
            expect: a.expect.as_ref().map(expected_to_toml),
        }
    }
}

/// `SetMinimumRetryDelay` → `set_minimum_retry_delay`.
fn snake(method: &str) -> String {
    let mut out = String::new();
    for (i, c) in method.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

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
