//! Narrated traces: each step in words, the rule that fired and where it is
//! documented. For people learning how BITS treats a job.

use crate::trace::{Trace, TraceEvent};
use bitsim_model::sources::source_url;
use std::fmt::Write as _;

/// Narrates a trace; a block of steps repeated back to back is told once,
/// then `... × N` (as in [`Trace::to_text`]).
pub fn narrate(trace: &Trace) -> String {
    crate::trace::fold_repeats(&narrate_unfolded(trace))
}

/// Narrates every step of a trace, nothing folded.
pub fn narrate_unfolded(trace: &Trace) -> String {
    let mut s = String::new();
    for e in &trace.0 {
        let who = e
            .job
            .as_deref()
            .map(|j| format!("Job {j}"))
            .unwrap_or_else(|| "The world".into());
        let line = match &e.event {
            TraceEvent::Transition {
                rule,
                from,
                to,
                code,
            } => {
                let row = rule.transition();
                let moved = if *rule == bitsim_model::Rule::T1 {
                    format!("is created in {to}")
                } else if from == to {
                    format!("stays {from}")
                } else {
                    format!("goes from {from} to {to}")
                };
                let why = if row.guard.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", row.guard)
                };
                let code = code
                    .map(|c| format!(" The error recorded is {c}."))
                    .unwrap_or_default();
                let fx = if row.effects.is_empty() {
                    String::new()
                } else {
                    format!(" BITS: {}.", row.effects)
                };
                let src: Vec<String> = row
                    .sources
                    .iter()
                    .map(|t| format!("[{t}] {}", source_url(t).unwrap_or("")))
                    .collect();
                format!(
                    "{who} {moved} because: {}{why}.{code}{fx}\n      rule {} — {}",
                    row.trigger,
                    rule.id(),
                    src.join("; ")
                )
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
                    .map(|h| format!(", holds the call for {h}"))
                    .unwrap_or_default();
                let calls = if calls.is_empty() {
                    String::new()
                } else {
                    format!(", calls {}", calls.join(", "))
                };
                let again = if *result == bitsim_model::Hresult::S_OK {
                    String::new()
                } else {
                    " BITS will call again later, or run the command line instead if one is set [JOBERR].".to_owned()
                };
                format!(
                    "BITS calls {method}() for {who} in {user}'s context ({outstanding} of at most 4 outstanding for {user} [CB]); it returns {result}{hold}{calls}.{again}"
                )
            }
            TraceEvent::CallbackReturned { method, user } => {
                format!("{user}'s {method}() call for {who} returns, freeing a notification slot.")
            }
            TraceEvent::Command {
                command_line,
                outcome,
            } => format!(
                "BITS runs the notification command line `{command_line}` for {who}: {outcome} [CMDLINE]."
            ),
            TraceEvent::Action { call, result } => {
                format!("The application calls {call} on {who}: {result}.")
            }
            TraceEvent::Fault { what } => format!("Fault: {what}."),
            TraceEvent::Effect { what } => format!("{who}: {what}."),
        };
        let _ = writeln!(s, "{:>16}  {line}", e.at.to_string());
    }
    s
}
