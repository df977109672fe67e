//! The BITS methods of the protocol: one per [`Call`] variant, named after
//! the COM method (`IBackgroundCopyManager` methods as `manager.*`, the
//! job's as `job.*`), with the [`Call`]'s fields as params plus `job`.
//!
//! A result carries the HRESULT exactly as the model returns it:
//! `{"hresult": {"name": "S_OK", "value": 0, "hex": "0x00000000"},
//! "reply": "state", "value": "SUSPENDED"}` on success (the [`Reply`] as
//! serde writes it), `{"hresult": {"name": "BG_E_EMPTY", ...}, "message":
//! "..."}` on failure. A BITS failure is a result, never a JSON-RPC error.

use crate::rpc::{INVALID_PARAMS, RpcError};
use bitsim_model::{Call, Error, ErrorInfo, Hresult, JobId, Reply};
use serde_json::{Map, Value, json};

/// Every [`Call`] variant's serde name, in the order of the enum. A test
/// compares this list with the variants serde knows, so a new call cannot
/// be left out.
pub const CALLS: &[&str] = &[
    "create_job",
    "get_job",
    "enum_jobs",
    "add_file",
    "add_file_with_ranges",
    "set_remote_name",
    "resume",
    "suspend",
    "cancel",
    "complete",
    "set_priority",
    "set_priority_raw",
    "set_notify_flags",
    "set_notify_interface",
    "set_notify_cmd_line",
    "set_minimum_retry_delay",
    "set_no_progress_timeout",
    "set_maximum_download_time",
    "set_display_name",
    "set_description",
    "set_reply_file_name",
    "take_ownership",
    "set_validation_state",
    "get_state",
    "get_type",
    "get_priority",
    "get_owner",
    "get_display_name",
    "get_description",
    "get_error",
    "get_error_count",
    "get_notify_flags",
    "get_minimum_retry_delay",
    "get_no_progress_timeout",
    "get_maximum_download_time",
    "get_progress",
    "get_times",
    "get_notify_cmd_line",
    "get_notify_interface",
    "enum_files",
    "get_reply_file_name",
    "get_reply_progress",
    "get_reply_data",
];

/// The calls of `IBackgroundCopyManager` (no `job` param except GetJob's).
const MANAGER: &[&str] = &["create_job", "get_job", "enum_jobs"];

/// The protocol name of a call: `manager.create_job`, `job.resume`.
pub fn method_name(call: &str) -> String {
    if MANAGER.contains(&call) {
        format!("manager.{call}")
    } else {
        format!("job.{call}")
    }
}

/// The [`Call`] name behind a protocol method, if it is a BITS method.
pub fn call_of(method: &str) -> Option<&'static str> {
    let (prefix, call) = method.split_once('.')?;
    let c = *CALLS.iter().find(|c| **c == call)?;
    let want = if MANAGER.contains(&c) {
        "manager"
    } else {
        "job"
    };
    (prefix == want).then_some(c)
}

/// What `job.set_notify_interface` asks for: the protocol registers the
/// calling connection itself (a client cannot name another's object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    /// Not a `set_notify_interface` call.
    None,
    /// `callback` absent: register this connection's callback object.
    Register,
    /// `callback: null`: clear the registration (`SetNotifyInterface(NULL)`).
    Clear,
}

/// A BITS call read from a request.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The job it acts on (absent for CreateJob and EnumJobs).
    pub job: Option<JobId>,
    /// The call (for SetNotifyInterface, without its callback yet).
    pub call: Call,
    /// What SetNotifyInterface asks for.
    pub interface: Interface,
}

/// Reads `params` of the BITS method for `call`.
pub fn parse_call(method: &str, call: &str, params: Option<Value>) -> Result<Parsed, RpcError> {
    let bad = |what: String| RpcError::new(INVALID_PARAMS, format!("{method}: {what}"));
    let mut m = match params {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => return Err(bad(format!("params must be an object, not {other}"))),
    };
    let takes_job = !matches!(call, "create_job" | "enum_jobs");
    let job = match (takes_job, m.remove("job")) {
        (true, Some(j)) => Some(
            serde_json::from_value::<JobId>(j.clone())
                .map_err(|_| bad(format!("\"job\" must be a job GUID, not {j}")))?,
        ),
        (true, None) => return Err(bad("missing \"job\" (the job's GUID)".into())),
        (false, Some(_)) => return Err(bad("takes no \"job\"".into())),
        (false, None) => None,
    };
    let mut interface = Interface::None;
    if call == "set_notify_interface" {
        interface = match m.remove("callback") {
            None => Interface::Register,
            Some(Value::Null) => Interface::Clear,
            Some(other) => {
                return Err(bad(format!(
                    "\"callback\" is omitted (register this connection) or null (clear), not {other}"
                )));
            }
        };
    }
    m.insert("call".into(), Value::String(call.into()));
    let given: Vec<String> = m.keys().cloned().collect();
    let call = serde_json::from_value::<Call>(Value::Object(m)).map_err(|e| bad(e.to_string()))?;
    // serde ignores unknown fields of a unit variant (`resume`) even with
    // deny_unknown_fields: check them against the fields the call has.
    let known = match serde_json::to_value(&call) {
        Ok(Value::Object(k)) => k,
        _ => Map::new(),
    };
    if let Some(extra) = given.iter().find(|g| !known.contains_key(g.as_str())) {
        let mut takes: Vec<&str> = known
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "call")
            .collect();
        if takes_job {
            takes.insert(0, "job");
        }
        return Err(bad(format!(
            "unknown field `{extra}` (it takes: {})",
            if takes.is_empty() {
                "nothing".into()
            } else {
                takes.join(", ")
            }
        )));
    }
    Ok(Parsed {
        job,
        call,
        interface,
    })
}

/// An HRESULT as results show it: its name, value and hex.
pub fn hresult(h: Hresult) -> Value {
    let hex = format!("0x{:08X}", h.0);
    let name = h.name().map_or_else(|| hex.clone(), |n| n.into_owned());
    json!({"name": name, "value": h.0, "hex": hex})
}

/// A job's error (`GetError`, and JobError's params) with its code as
/// [`hresult`] shows it.
pub fn error(e: &ErrorInfo) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
    v["code"] = hresult(e.code);
    v
}

/// The result of a BITS call.
pub fn result(r: &Result<Reply, Error>) -> Value {
    match r {
        Ok(reply) => {
            let mut v = serde_json::to_value(reply).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("hresult".into(), hresult(reply.hresult()));
                if let Reply::Error(e) = reply {
                    m.insert("value".into(), error(e));
                }
            }
            v
        }
        Err(e) => json!({"hresult": hresult(e.code), "message": e.code.message()}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_call_serde_knows() {
        let e = serde_json::from_value::<Call>(json!({"call": "no_such_call"}))
            .unwrap_err()
            .to_string();
        let known: Vec<&str> = e
            .split("expected one of ")
            .nth(1)
            .expect(&e)
            .split(", ")
            .map(|s| s.trim_matches(|c: char| c == '`' || c.is_whitespace()))
            .map(|s| s.split('`').next().unwrap_or(s))
            .collect();
        assert_eq!(known, CALLS, "{e}");
    }

    #[test]
    fn names_map_both_ways() {
        for c in CALLS {
            assert_eq!(call_of(&method_name(c)), Some(*c));
        }
        assert_eq!(call_of("job.create_job"), None);
        assert_eq!(call_of("manager.resume"), None);
        assert_eq!(call_of("job.resum"), None);
    }

    #[test]
    fn params_are_checked_with_names() {
        let e = parse_call("job.add_file", "add_file", Some(json!({"job": "x"}))).unwrap_err();
        assert!(e.message.contains("\"job\" must be a job GUID"), "{e:?}");
        let j = "{6F1B2C3D-0000-4000-8000-000000000001}";
        let e = parse_call(
            "job.add_file",
            "add_file",
            Some(json!({"job": j, "remote": 1})),
        )
        .unwrap_err();
        assert!(e.message.contains("invalid type"), "{e:?}");
        let e = parse_call("job.resume", "resume", Some(json!({"job": j, "x": 1}))).unwrap_err();
        assert!(e.message.contains("unknown field `x`"), "{e:?}");
        let p = parse_call(
            "job.set_notify_interface",
            "set_notify_interface",
            Some(json!({"job": j})),
        )
        .unwrap();
        assert_eq!(p.interface, Interface::Register);
        let e = parse_call(
            "job.set_notify_interface",
            "set_notify_interface",
            Some(json!({"job": j, "callback": 7})),
        )
        .unwrap_err();
        assert!(e.message.contains("\"callback\""), "{e:?}");
    }
}
