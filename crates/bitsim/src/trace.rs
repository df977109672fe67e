//! The trace of a run: everything that happened, in order, serializable.

use bitsim_model::{Hresult, JobState, Rule, Time};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::sync::Arc;

/// One line of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEntry {
    /// Virtual time.
    pub at: Time,
    /// Job name, if the entry concerns one job (shared by the job's
    /// entries: a run's trace holds one copy of each name).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub job: Option<Arc<str>>,
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

impl TraceEvent {
    /// `user` logged on (`true`) or off: a fault-like event, as every front
    /// writes it in the trace.
    pub fn logged_on(user: &str, on: bool) -> TraceEvent {
        TraceEvent::Fault {
            what: format!("{user} logs {}", if on { "on" } else { "off" }),
        }
    }
}

/// What the columns and tags of [`Trace::to_text`] mean; `bitsim run`
/// prints it above the timeline.
pub const LEGEND: &str = "\
# columns: virtual time since the start ([Nd ]hh:mm:ss.mmm) | job | tag | what happened
# tags:    T1..T34, X1..X4  a rule of the BITS transition table fired: FROM -> TO, and the
#                           error recorded (`bitsim diagram --format table` lists the rules)
#          app  an application call (scripted action or job setup) -> its HRESULT
#          cb   a callback call as USER -> what it returned [job calls it made]
#               (notifications outstanding for the user), or a held call returning
#          cmd  a notification command line -> its exit code
#          flt  the world changes: a fault starts or ends
#          fx   an effect the model asked for: a transfer, a file operation, a timer
#          ... × N  the line(s) above happened N times in all, back to back (only
#               the times differ); the last time is given
";

/// A list of trace entries with renderers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Trace(pub Vec<TraceEntry>);

impl Trace {
    /// The text timeline, one line per entry, with runs of repeated lines
    /// folded (`... × 144`); see [`LEGEND`].
    pub fn to_text(&self) -> String {
        fold_repeats(&self.to_text_unfolded())
    }

    /// The text timeline with every line, nothing folded.
    pub fn to_text_unfolded(&self) -> String {
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

/// Width of the time column plus the two spaces after it.
const TIME_COLUMN: usize = 18;

/// A line without its time column, with every time inside it blanked, so
/// two iterations of a retry loop compare equal.
fn repeat_key(line: &str) -> String {
    let body = line.get(TIME_COLUMN..).unwrap_or(line);
    let b = body.as_bytes();
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    // `hh:mm:ss.mmm`, optionally after `Nd `.
    let is_time = |at: usize| {
        b.len() >= at + 12
            && b[at..at + 12].iter().enumerate().all(|(k, c)| match k {
                2 | 5 => *c == b':',
                8 => *c == b'.',
                _ => c.is_ascii_digit(),
            })
    };
    while i < b.len() {
        if is_time(i) {
            // Drop a `Nd ` already copied before it.
            if let Some(before) = out.strip_suffix("d ")
                && before.ends_with(|c: char| c.is_ascii_digit())
            {
                let kept = before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
                out.truncate(kept);
            }
            out.push('#');
            i += 12;
        } else {
            let c = body[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Folds back-to-back repeats of a block of up to 16 lines that occurs at
/// least 3 times: the first block stays, then one `... × N` line.
pub(crate) fn fold_repeats(text: &str) -> String {
    const MAX_BLOCK: usize = 16;
    const MIN_REPEATS: usize = 3;
    let lines: Vec<&str> = text.lines().collect();
    let keys: Vec<String> = lines.iter().map(|l| repeat_key(l)).collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < lines.len() {
        let mut best = (0, 0); // (block length, repeats)
        for k in 1..=MAX_BLOCK.min(lines.len() - i) {
            let mut reps = 1;
            while i + (reps + 1) * k <= lines.len()
                && (0..k).all(|o| keys[i + reps * k + o] == keys[i + o])
            {
                reps += 1;
            }
            if reps >= MIN_REPEATS && reps * k > best.0 * best.1 {
                best = (k, reps);
            }
        }
        let (k, reps) = best;
        if k == 0 {
            out.push_str(lines[i]);
            out.push('\n');
            i += 1;
            continue;
        }
        for line in &lines[i..i + k] {
            out.push_str(line);
            out.push('\n');
        }
        let last = lines[i + reps * k - 1];
        let last_time = last.get(..TIME_COLUMN).unwrap_or("").trim();
        let what = if k == 1 {
            "the line above".to_owned()
        } else {
            format!("the {k} lines above")
        };
        let _ = writeln!(
            out,
            "{:>16}  ... × {reps}: {what}, {reps} times in all, the last at {last_time}",
            ""
        );
        i += reps * k;
    }
    out
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
    fn repeated_blocks_fold_and_single_lines_stay() {
        let mut t = Trace::default();
        let at = |ms| Time(ms);
        for k in 0..144u64 {
            t.0.push(TraceEntry {
                at: at(k * 600_000 + 50),
                job: Some("j".into()),
                event: TraceEvent::Transition {
                    rule: Rule::T15,
                    from: JobState::Connecting,
                    to: JobState::TransientError,
                    code: Some(Hresult::http(503)),
                },
            });
            t.0.push(TraceEntry {
                at: at(k * 600_000 + 50),
                job: Some("j".into()),
                event: TraceEvent::Effect {
                    what: format!("RetryDelay timer set for {}", Time((k + 1) * 600_000 + 50)),
                },
            });
        }
        t.0.push(TraceEntry {
            at: at(200_000_000),
            job: Some("j".into()),
            event: TraceEvent::Fault {
                what: "network down".into(),
            },
        });
        let text = t.to_text();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(
            text.contains(
                "... × 144: the 2 lines above, 144 times in all, the last at 23:50:00.050"
            ),
            "{text}"
        );
        assert!(text.ends_with("flt  network down\n"), "{text}");
        assert_eq!(t.to_text_unfolded().lines().count(), 289);
    }

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
                    result: Hresult(0x8000_1234),
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
        assert!(json.contains("\"0x80001234\""), "{json}");
        let back: Vec<TraceEntry> = serde_json::from_str(&json).unwrap();
        assert_eq!(Trace(back), t);
    }
}
