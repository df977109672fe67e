//! `[[actions]]`: one BITS API [`Call`] per action, read from its TOML
//! shape (`do`, `value`, `local`, `expect_hr`, `expect`) with every value
//! checked, and written back the same way.

use crate::units::Span;
use bitsim_model::{Call, ErrorContext, Hresult, NotifyFlags};
use serde::{Deserialize, Serialize};

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
