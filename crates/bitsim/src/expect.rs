//! Checking a scenario's `expect` blocks against a finished run.

use crate::scenario::{Scenario, parse_context, parse_state};
use crate::sim::{Observed, temp_name};
use crate::trace::{TraceEntry, TraceEvent};
use bitsim_model::{Hresult, JobId, JobState, Manager};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// An expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The job it concerns, if any.
    pub job: Option<String>,
    /// What was checked.
    pub what: String,
    /// Expected.
    pub expected: String,
    /// Observed.
    pub actual: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let job = self
            .job
            .as_deref()
            .map(|j| format!("job {j}: "))
            .unwrap_or_default();
        write!(
            f,
            "{job}{}\n    expected: {}\n    actual:   {}",
            self.what, self.expected, self.actual
        )
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn check_expectations<K: Ord>(
    scenario: &Scenario,
    mgr: &Manager,
    ids: &BTreeMap<String, JobId>,
    trace: &[TraceEntry],
    obs: &Observed,
    local: &BTreeMap<String, K>,
    server_files: &BTreeSet<String>,
) -> Vec<Failure> {
    let mut out = Vec::new();
    for m in &obs.action_mismatches {
        out.push(Failure {
            job: None,
            what: "action result".into(),
            expected: "the expect_hr given".into(),
            actual: m.clone(),
        });
    }
    for e in &scenario.expect {
        let job_name = e.job.clone();
        let mut fail = |what: &str, expected: String, actual: String| {
            out.push(Failure {
                job: job_name.clone(),
                what: what.to_owned(),
                expected,
                actual,
            });
        };
        let job = e
            .job
            .as_ref()
            .and_then(|n| ids.get(n))
            .and_then(|id| mgr.job(*id));
        if e.job.is_some() && job.is_none() {
            fail(
                "job exists",
                "created".into(),
                "never created (CreateJob failed?)".into(),
            );
            continue;
        }
        let name = e.job.clone().unwrap_or_default();
        let transitions: Vec<(bitsim_model::Rule, JobState, JobState)> = trace
            .iter()
            .filter(|t| t.job.as_deref() == e.job.as_deref())
            .filter_map(|t| match &t.event {
                TraceEvent::Transition { rule, from, to, .. } => Some((*rule, *from, *to)),
                _ => None,
            })
            .collect();
        if let (Some(want), Some(j)) = (e.final_state, job)
            && j.state != want
        {
            fail("final state", want.to_string(), j.state.to_string());
        }
        if !e.states.is_empty() {
            let visited: Vec<JobState> = std::iter::once(JobState::Suspended)
                .chain(
                    transitions
                        .iter()
                        .filter(|(_, f, t)| f != t)
                        .map(|(_, _, t)| *t),
                )
                .collect();
            let mut it = visited.iter();
            let wanted: Vec<JobState> = e
                .states
                .iter()
                .filter_map(|s| parse_state(s).ok())
                .collect();
            if !wanted.iter().all(|w| it.any(|v| v == w)) {
                fail(
                    "states visited in order",
                    wanted
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(" → "),
                    visited
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(" → "),
                );
            }
        }
        for s in &e.never {
            let Ok(s) = parse_state(s) else { continue };
            if transitions.iter().any(|(_, f, t)| f != t && *t == s) {
                fail("never enters", s.to_string(), format!("entered {s}"));
            }
        }
        let fired: BTreeSet<&str> = transitions.iter().map(|(r, _, _)| r.id()).collect();
        for r in &e.rules {
            if !fired.contains(r.as_str()) {
                fail(
                    "rule fired",
                    r.clone(),
                    format!(
                        "fired: {}",
                        fired.iter().copied().collect::<Vec<_>>().join(" ")
                    ),
                );
            }
        }
        for r in &e.rules_not {
            if fired.contains(r.as_str()) {
                fail("rule not fired", format!("no {r}"), format!("{r} fired"));
            }
        }
        for (method, n) in &e.callbacks {
            let got = obs
                .callbacks
                .get(&(name.clone(), method.clone()))
                .copied()
                .unwrap_or(0);
            if got != *n {
                fail(&format!("{method} calls"), n.to_string(), got.to_string());
            }
        }
        if let Some(n) = e.commands_run {
            let got = obs.commands.get(&name).copied().unwrap_or(0);
            if got != n {
                fail("command-line runs", n.to_string(), got.to_string());
            }
        }
        let last_error = obs.last_error.get(&name);
        if let Some(want) = e.error_code.as_deref().and_then(Hresult::parse) {
            match last_error {
                Some((got, _)) if *got == want => {}
                _ => fail(
                    "last error code",
                    want.to_string(),
                    last_error.map_or("no error".into(), |(c, _)| c.to_string()),
                ),
            }
        }
        if let Some(want) = e
            .error_context
            .as_deref()
            .and_then(|c| parse_context(c).ok())
        {
            match last_error {
                Some((_, got)) if *got == want => {}
                _ => fail(
                    "last error context",
                    want.to_string(),
                    last_error.map_or("no error".into(), |(_, c)| c.to_string()),
                ),
            }
        }
        for (t, want) in &e.state_at {
            let (Ok(at), Ok(want)) = (crate::units::Span::parse(t), parse_state(want)) else {
                continue;
            };
            let at = bitsim_model::Time::ZERO.saturating_add(at.0);
            let mut state = None;
            for entry in trace
                .iter()
                .filter(|x| x.job.as_deref() == e.job.as_deref() && x.at <= at)
            {
                if let TraceEvent::Transition { to, .. } = &entry.event {
                    state = Some(*to);
                }
            }
            if state != Some(want) {
                fail(
                    &format!("state at {t}"),
                    want.to_string(),
                    state.map_or("not created yet".into(), |s| s.to_string()),
                );
            }
        }
        if let (Some(n), Some(j)) = (e.error_count, job)
            && j.error_count != n
        {
            fail("error count", n.to_string(), j.error_count.to_string());
        }
        if let Some(want) = e.reply_started {
            let got = obs.reply_total_at_error.get(&name).map(|v| v.is_some());
            if got != Some(want) {
                fail(
                    "reply BytesTotal known when the error happened",
                    want.to_string(),
                    got.map_or("no error recorded".into(), |g| g.to_string()),
                );
            }
        }
        for p in &e.files_present {
            if !local.contains_key(p) {
                fail("file present", p.clone(), "absent".into());
            }
        }
        for p in &e.files_absent {
            if local.contains_key(p) || local.contains_key(&temp_name(p)) {
                fail(
                    "file absent (final and temporary)",
                    p.clone(),
                    "present".into(),
                );
            }
        }
        if let Some(want) = e.temp_deleted {
            let created = obs.temps_created.get(&name).copied().unwrap_or(0);
            let leftover = job.is_some_and(|j| {
                j.files
                    .iter()
                    .any(|f| local.contains_key(&temp_name(&f.local_name)))
            });
            let got = created > 0 && !leftover;
            if got != want {
                fail(
                    "temporary files deleted",
                    want.to_string(),
                    format!("{got} ({created} created, leftovers: {leftover})"),
                );
            }
        }
        for p in &e.server_files_present {
            if !server_files.iter().any(|s| s.ends_with(p.as_str())) {
                fail("server file present", p.clone(), "absent".into());
            }
        }
        let ended = obs.ended_at.get(&name).copied();
        if let Some(after) = e.ended_after {
            match ended {
                Some(t) if t.as_millis() >= after.0.as_millis() as u64 => {}
                _ => fail(
                    "ended after",
                    after.to_string(),
                    ended.map_or("not ended".into(), |t| t.to_string()),
                ),
            }
        }
        if let Some(before) = e.ended_before {
            match ended {
                Some(t) if t.as_millis() <= before.0.as_millis() as u64 => {}
                _ => fail(
                    "ended before",
                    before.to_string(),
                    ended.map_or("not ended".into(), |t| t.to_string()),
                ),
            }
        }
        for (user, n) in &e.max_outstanding {
            let got = obs.max_outstanding.get(user).copied().unwrap_or(0);
            if got != *n as usize {
                fail(
                    &format!("most notifications outstanding for {user}"),
                    n.to_string(),
                    got.to_string(),
                );
            }
        }
        if !e.first_transfer_order.is_empty() {
            let got: Vec<&String> = obs
                .first_transfer
                .iter()
                .filter(|j| e.first_transfer_order.contains(j))
                .collect();
            if got
                .iter()
                .map(|s| s.as_str())
                .ne(e.first_transfer_order.iter().map(|s| s.as_str()))
            {
                fail(
                    "order of first transfers",
                    e.first_transfer_order.join(", "),
                    got.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
        }
    }
    out
}
