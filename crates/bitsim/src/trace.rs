//! The trace of a run: everything that happened, in order, serializable.

use bitsim_model::{Hresult, JobState, Rule, Time};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One line of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEntry {
    /// Virtual time.
    pub at: Time,
    /// Job name, if the entry concerns one job.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub job: Option<String>,
    /// What happened.
    pub event: TraceEvent,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TraceEvent {
    /// A rule of the transition table fired.
    Transition {
        /// The row.
        rule: Rule,
        /// State before.
        from: JobState,
        /// State after.
        to: JobState,
        /// Error recorded, if any (as text in JSON: `BG_E_HTTP_ERROR_404 (0x80190194)`).
        #[serde(
            skip_serializing_if = "Option::is_none",
            default,
            with = "opt_hresult_text"
        )]
        code: Option<Hresult>,
    },
    /// A callback method was called.
    Callback {
        /// Method name.
        method: String,
        /// The user whose slot it took.
        user: String,
        /// What it returned (as text in JSON).
        #[serde(with = "hresult_text")]
        result: Hresult,
        /// How long it held the call (virtual).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        hold: Option<String>,
        /// Job methods it called, with their results.
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        calls: Vec<String>,
        /// Notifications outstanding for the user while this one runs.
        outstanding: usize,
    },
    /// A held callback returned.
    CallbackReturned {
        /// Method name.
        method: String,
        /// The user.
        user: String,
    },
    /// A notification command line ran.
    Command {
        /// The program and parameters.
        command_line: String,
        /// Exit code, or why it did not start.
        outcome: String,
    },
    /// A scripted user action.
    Action {
        /// The call.
        call: String,
        /// Its HRESULT.
        result: String,
    },
    /// A fault was injected.
    Fault {
        /// What.
        what: String,
    },
    /// An effect the model asked for (transfer start/stop, file operations, timers).
    Effect {
        /// What.
        what: String,
    },
}

/// A list of trace entries with renderers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Trace(pub Vec<TraceEntry>);

impl Trace {
    /// The text timeline, one line per entry.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for e in &self.0 {
            let job = e.job.as_deref().unwrap_or("-");
            let _ = match &e.event {
                TraceEvent::Transition {
                    rule,
                    from,
                    to,
                    code,
                } => {
                    let code = code.map(|c| format!("  {c}")).unwrap_or_default();
                    if from == to {
                        writeln!(
                            s,
                            "{:>16}  {job:<10} {:<4} {from}{code}",
                            e.at.to_string(),
                            rule.id()
                        )
                    } else {
                        writeln!(
                            s,
                            "{:>16}  {job:<10} {:<4} {from} -> {to}{code}",
                            e.at.to_string(),
                            rule.id()
                        )
                    }
                }
                TraceEvent::Callback {
                    method,
                    user,
                    result,
                    hold,
                    calls,
                    outstanding,
                } => {
                    let hold = hold
                        .as_deref()
                        .map(|h| format!(" after {h}"))
                        .unwrap_or_default();
                    let calls = if calls.is_empty() {
                        String::new()
                    } else {
                        format!(" [calls {}]", calls.join(", "))
                    };
                    writeln!(
                        s,
                        "{:>16}  {job:<10} cb   {method}() as {user} -> {result}{hold}{calls} ({outstanding} outstanding)",
                        e.at.to_string()
                    )
                }
                TraceEvent::CallbackReturned { method, user } => {
                    writeln!(
                        s,
                        "{:>16}  {job:<10} cb   {method}() of {user} returned",
                        e.at.to_string()
                    )
                }
                TraceEvent::Command {
                    command_line,
                    outcome,
                } => {
                    writeln!(
                        s,
                        "{:>16}  {job:<10} cmd  {command_line} -> {outcome}",
                        e.at.to_string()
                    )
                }
                TraceEvent::Action { call, result } => {
                    writeln!(
                        s,
                        "{:>16}  {job:<10} app  {call} -> {result}",
                        e.at.to_string()
                    )
                }
                TraceEvent::Fault { what } => {
                    writeln!(s, "{:>16}  {job:<10} flt  {what}", e.at.to_string())
                }
                TraceEvent::Effect { what } => {
                    writeln!(s, "{:>16}  {job:<10} fx   {what}", e.at.to_string())
                }
            };
        }
        s
    }

    /// JSON, one array.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.0).expect("a trace always serializes")
    }
}

/// HRESULTs appear in JSON traces as their display text, which
/// [`Hresult::parse`] reads back.
mod hresult_text {
    use bitsim_model::Hresult;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Hresult, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(h)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hresult, D::Error> {
        let text = String::deserialize(d)?;
        // "NAME (0xHEX)": the hex part is exact.
        let hex = text
            .rsplit_once("(0x")
            .map(|(_, h)| h.trim_end_matches(')'));
        hex.and_then(|h| u32::from_str_radix(h, 16).ok().map(Hresult))
            .or_else(|| Hresult::parse(&text))
            .ok_or_else(|| serde::de::Error::custom(format!("not an HRESULT: {text:?}")))
    }
}

mod opt_hresult_text {
    use bitsim_model::Hresult;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Option<Hresult>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => s.collect_str(h),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Hresult>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "super::hresult_text")] Hresult);
        Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_traces_round_trip_with_readable_hresults() {
        let t = Trace(vec![
            TraceEntry {
                at: Time(50),
                job: Some("j".into()),
                event: TraceEvent::Transition {
                    rule: Rule::T22,
                    from: JobState::Connecting,
                    to: JobState::Error,
                    code: Some(Hresult::http(404)),
                },
            },
            TraceEntry {
                at: Time(50),
                job: Some("j".into()),
                event: TraceEvent::Callback {
                    method: "JobError".into(),
                    user: "alice".into(),
                    result: Hresult(0x8000_FFFF),
                    hold: None,
                    calls: vec![],
                    outstanding: 1,
                },
            },
        ]);
        let json = t.to_json();
        assert!(
            json.contains("\"BG_E_HTTP_ERROR_404 (0x80190194)\""),
            "{json}"
        );
        assert!(json.contains("\"0x8000FFFF\""), "{json}");
        let back: Vec<TraceEntry> = serde_json::from_str(&json).unwrap();
        assert_eq!(Trace(back), t);
    }
}
