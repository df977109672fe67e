//! The method table and the OpenRPC document `rpc.discover` returns.
//!
//! The BITS methods' params are declared here per [`Call`](bitsim_model::Call)
//! variant; a test builds an example of each from its declaration, reads it
//! as a `Call` and checks the call has exactly the declared fields, so the
//! table cannot drift from the type. The document is committed as
//! `crates/bitsim-service/openrpc.json`, and a test keeps it current
//! (`BITSIM_UPDATE_OPENRPC=1 cargo test -p bitsim-service` rewrites it).

use crate::methods::{CALLS, method_name};
use serde_json::{Value, json};

/// A param's JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A string.
    Str,
    /// A string or null.
    OptStr,
    /// An unsigned integer.
    Int,
    /// A number.
    Num,
    /// true or false.
    Bool,
    /// A job's GUID.
    Job,
    /// `download`, `upload` or `upload_reply`.
    JobType,
    /// `FOREGROUND`, `HIGH`, `NORMAL` or `LOW`.
    Priority,
    /// Byte ranges: `[{"offset": n, "length": n}]`.
    Ranges,
    /// Omitted (register this connection) or null (clear).
    Interface,
}

impl Ty {
    fn schema(self) -> Value {
        match self {
            Ty::Str => json!({"type": "string"}),
            Ty::OptStr => json!({"type": ["string", "null"]}),
            Ty::Int => json!({"type": "integer", "minimum": 0}),
            Ty::Num => json!({"type": "number"}),
            Ty::Bool => json!({"type": "boolean"}),
            Ty::Job => json!({"type": "string", "description": "the job's GUID"}),
            Ty::JobType => json!({"enum": ["download", "upload", "upload_reply"]}),
            Ty::Priority => json!({"enum": ["FOREGROUND", "HIGH", "NORMAL", "LOW"]}),
            Ty::Ranges => json!({"type": "array", "items": {"type": "object",
                "properties": {"offset": {"type": "integer"}, "length": {"type": "integer"}}}}),
            Ty::Interface => json!({"type": "null",
                "description": "omit to register this connection as the callback object; null clears it"}),
        }
    }

    /// A value of the type, for the table's test.
    pub fn example(self) -> Value {
        match self {
            Ty::Str | Ty::OptStr => json!("x"),
            Ty::Int => json!(1),
            Ty::Num => json!(0.5),
            Ty::Bool => json!(true),
            Ty::Job => json!("00000000-0000-4000-8000-000000000000"),
            Ty::JobType => json!("download"),
            Ty::Priority => json!("HIGH"),
            Ty::Ranges => json!([]),
            Ty::Interface => Value::Null,
        }
    }
}

/// One param: name, type, required.
pub type Param = (&'static str, Ty, bool);

/// The params of each BITS call besides `job`, in the order of [`CALLS`].
pub const CALL_PARAMS: &[(&str, &[Param])] = &[
    (
        "create_job",
        &[
            ("display_name", Ty::Str, true),
            ("job_type", Ty::JobType, true),
        ],
    ),
    ("get_job", &[]),
    ("enum_jobs", &[("flags", Ty::Int, false)]),
    (
        "add_file",
        &[("remote", Ty::Str, true), ("local", Ty::Str, true)],
    ),
    (
        "add_file_with_ranges",
        &[
            ("remote", Ty::Str, true),
            ("local", Ty::Str, true),
            ("ranges", Ty::Ranges, true),
        ],
    ),
    (
        "set_remote_name",
        &[("file", Ty::Int, true), ("remote", Ty::Str, true)],
    ),
    ("resume", &[]),
    ("suspend", &[]),
    ("cancel", &[]),
    ("complete", &[]),
    ("set_priority", &[("priority", Ty::Priority, true)]),
    ("set_priority_raw", &[("value", Ty::Int, true)]),
    ("set_notify_flags", &[("flags", Ty::Int, true)]),
    (
        "set_notify_interface",
        &[("callback", Ty::Interface, false)],
    ),
    (
        "set_notify_cmd_line",
        &[
            ("program", Ty::OptStr, false),
            ("parameters", Ty::OptStr, false),
        ],
    ),
    ("set_minimum_retry_delay", &[("seconds", Ty::Int, true)]),
    ("set_no_progress_timeout", &[("seconds", Ty::Int, true)]),
    ("set_maximum_download_time", &[("seconds", Ty::Int, true)]),
    ("set_display_name", &[("name", Ty::Str, true)]),
    ("set_description", &[("text", Ty::Str, true)]),
    ("set_reply_file_name", &[("name", Ty::Str, true)]),
    ("take_ownership", &[]),
    (
        "set_validation_state",
        &[("file", Ty::Int, true), ("valid", Ty::Bool, true)],
    ),
    ("get_state", &[]),
    ("get_type", &[]),
    ("get_priority", &[]),
    ("get_owner", &[]),
    ("get_display_name", &[]),
    ("get_description", &[]),
    ("get_error", &[]),
    ("get_error_count", &[]),
    ("get_notify_flags", &[]),
    ("get_minimum_retry_delay", &[]),
    ("get_no_progress_timeout", &[]),
    ("get_maximum_download_time", &[]),
    ("get_progress", &[]),
    ("get_times", &[]),
    ("get_notify_cmd_line", &[]),
    ("get_notify_interface", &[]),
    ("enum_files", &[]),
    ("get_reply_file_name", &[]),
    ("get_reply_progress", &[]),
    ("get_reply_data", &[]),
];

/// The service's own methods: name, summary, params, result.
pub const SERVICE_METHODS: &[(&str, &str, &[Param], &str)] = &[
    (
        "session.hello",
        "Says who this connection calls as; once, before anything else.",
        &[("user", Ty::Str, true), ("admin", Ty::Bool, false)],
        "user, admin, connection, now, epoch_unix_ms (the calendar instant of virtual time zero)",
    ),
    (
        "rpc.discover",
        "This document.",
        &[],
        "the OpenRPC document",
    ),
    (
        "clock.now",
        "The virtual clock (in every clock mode).",
        &[],
        "now (ms), text",
    ),
    (
        "clock.advance",
        "Runs every event and notification due in the next `ms` of virtual time (--clock virtual only).",
        &[("ms", Ty::Int, true)],
        "now, text",
    ),
    (
        "clock.run_until",
        "The same, up to the instant `t` (ms) (--clock virtual only).",
        &[("t", Ty::Int, true)],
        "now, text",
    ),
    (
        "clock.run_until_idle",
        "Runs until nothing is left to happen, or `max` ms have passed (--clock virtual only).",
        &[("max", Ty::Int, true)],
        "now, text, idle",
    ),
    (
        "world.fault",
        "Adds a fault of the scenario format; `at` and `until` count from now (--world simulated only; with --world http, error -32006: use the server's fault API).",
        &[
            ("kind", Ty::Str, true),
            ("status", Ty::Int, false),
            ("url", Ty::Str, false),
            ("count", Ty::Int, false),
            ("probability", Ty::Num, false),
            ("user", Ty::Str, false),
            ("at", Ty::Str, false),
            ("until", Ty::Str, false),
        ],
        "now, text",
    ),
    (
        "world.clear_faults",
        "Ends every fault in place and drops every fault to come (the scenario's and world.fault's), or only those of `kind` (--world simulated only).",
        &[("kind", Ty::Str, false)],
        "now, text, cleared",
    ),
    (
        "world.network",
        "The network goes down or comes back (--world simulated only).",
        &[("up", Ty::Bool, true)],
        "now, text",
    ),
    (
        "world.logon",
        "The user logs on.",
        &[("user", Ty::Str, true)],
        "now, text",
    ),
    (
        "world.logoff",
        "The user logs off.",
        &[("user", Ty::Str, true)],
        "now, text",
    ),
    (
        "world.restart_service",
        "The BITS service restarts (X2) (--world simulated only; with --world http, restart the process on its --state DIR).",
        &[],
        "now, text",
    ),
    (
        "inspect.jobs",
        "Every job: id, owner, name, type, state.",
        &[],
        "jobs",
    ),
    (
        "inspect.job",
        "The model's whole record of one job, its notifications outstanding and its next timer.",
        &[("job", Ty::Job, true)],
        "the job's fields, outstanding [{kind, since, since_text, attempt, user, via_cmd_line}], next_timer {at, at_text, in_ms, why} or null",
    ),
    (
        "inspect.trace",
        "The trace from entry `since` on, as `bitsim run --format json` writes it.",
        &[("since", Ty::Int, false)],
        "entries, next",
    ),
    (
        "shutdown",
        "Stops the service (administrators only): answered first, then the queue is persisted (--state) and the process ends.",
        &[],
        "now, text, stopping",
    ),
];

fn params_json(params: &[Param]) -> Vec<Value> {
    params
        .iter()
        .map(|(name, ty, required)| json!({"name": name, "required": required, "schema": ty.schema()}))
        .collect()
}

/// The OpenRPC document of every method.
pub fn openrpc() -> Value {
    let mut methods: Vec<Value> = SERVICE_METHODS
        .iter()
        .map(|(name, summary, params, result)| {
            json!({"name": name, "summary": summary, "params": params_json(params),
                   "result": {"name": "result", "description": result, "schema": {"type": "object"}}})
        })
        .collect();
    for (call, params) in CALL_PARAMS {
        let mut ps = Vec::new();
        if !matches!(*call, "create_job" | "enum_jobs") {
            ps.push(("job", Ty::Job, true));
        }
        ps.extend_from_slice(params);
        methods.push(json!({
            "name": method_name(call),
            "summary": format!("The BITS call `{call}` (bitsim_model::Call)."),
            "params": params_json(&ps),
            "result": {"name": "result", "schema": {"$ref": "#/components/schemas/BitsResult"}},
        }));
    }
    debug_assert_eq!(CALL_PARAMS.len(), CALLS.len());
    json!({
        "openrpc": "1.2.6",
        "info": {
            "title": "bitsim service",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The BITS API of the bitsim model over JSON-RPC 2.0, one message per line. \
                The service sends JobTransferred, JobError, JobModification and FileTransferred \
                as requests (params: job, callback, user; error or file) to the connection \
                registered with job.set_notify_interface, and waits for the HRESULT it answers.",
        },
        "methods": methods,
        "components": {"schemas": {
            "Hresult": {"type": "object", "properties": {
                "name": {"type": "string"}, "value": {"type": "integer"}, "hex": {"type": "string"}}},
            "BitsResult": {"type": "object", "required": ["hresult"], "properties": {
                "hresult": {"$ref": "#/components/schemas/Hresult"},
                "reply": {"type": "string", "description": "the kind of reply (bitsim_model::Reply), on success"},
                "value": {"description": "the reply's value, on success"},
                "message": {"type": "string", "description": "the HRESULT's meaning, on failure"}}}
        }}
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitsim_model::Call;
    use serde_json::Map;

    #[test]
    fn the_table_declares_exactly_each_calls_fields() {
        let tags: Vec<&str> = CALL_PARAMS.iter().map(|(c, _)| *c).collect();
        assert_eq!(tags, CALLS);
        for (call, params) in CALL_PARAMS {
            let mut m = Map::new();
            m.insert("call".into(), json!(call));
            for (name, ty, _) in params.iter().filter(|p| p.1 != Ty::Interface) {
                m.insert((*name).into(), ty.example());
            }
            let c: Call = serde_json::from_value(Value::Object(m.clone()))
                .unwrap_or_else(|e| panic!("{call}: {e}"));
            let Value::Object(back) = serde_json::to_value(&c).unwrap() else {
                panic!("{call}");
            };
            let mut have: Vec<&str> = back.keys().map(String::as_str).collect();
            have.retain(|k| *k != "call");
            let mut want: Vec<&str> = params.iter().map(|p| p.0).collect();
            have.sort_unstable();
            want.sort_unstable();
            assert_eq!(have, want, "{call}");
        }
    }

    #[test]
    fn the_committed_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openrpc.json");
        let now = serde_json::to_string_pretty(&openrpc()).unwrap() + "\n";
        if std::env::var_os("BITSIM_UPDATE_OPENRPC").is_some() {
            std::fs::write(path, &now).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == now,
            "{path} is out of date: run BITSIM_UPDATE_OPENRPC=1 cargo test -p bitsim-service"
        );
    }
}
