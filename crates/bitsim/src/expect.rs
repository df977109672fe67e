//! Checking a scenario's `[[expect]]` blocks (one exact run) and
//! `[[properties]]` (bounds that hold under every perturbation) against a
//! finished run.
//!
//! Each kind of check is one small function over what the run left behind
//! and the job's transitions; the two entry points only dispatch. The
//! results land in [`Report::failures`](crate::Report::failures) and
//! [`Report::property_failures`](crate::Report::property_failures).

use crate::local_disk::LocalDisk;
use crate::scenario::{CallbackMethod, Expectation, Property, Scenario};
use crate::sim::Observed;
use crate::trace::{TraceEntry, TraceEvent};
use bitsim_model::{FileRef, Job, JobId, JobState, Manager, Rule, Time};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// An expectation or property that did not hold.
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

/// What a finished run left behind, for the checks.
pub(crate) struct World<'a> {
    pub scenario: &'a Scenario,
    pub mgr: &'a Manager,
    pub ids: &'a BTreeMap<String, JobId>,
    pub trace: &'a [TraceEntry],
    pub observed: &'a Observed,
    pub local: &'a LocalDisk,
    pub server_files: &'a BTreeSet<String>,
}

/// One job's view: its name, its model record, its transitions.
struct JobView<'a> {
    name: String,
    job: Option<&'a Job>,
    transitions: Vec<(Rule, JobState, JobState, Time)>,
}

impl<'a> World<'a> {
    fn job_view(&self, name: Option<&str>) -> JobView<'a> {
        let job = name
            .and_then(|n| self.ids.get(n))
            .and_then(|id| self.mgr.job(*id));
        let transitions = self
            .trace
            .iter()
            .filter(|t| t.job.as_deref() == name)
            .filter_map(|t| match &t.event {
                TraceEvent::Transition { rule, from, to, .. } => Some((*rule, *from, *to, t.at)),
                _ => None,
            })
            .collect();
        JobView {
            name: name.unwrap_or_default().to_owned(),
            job,
            transitions,
        }
    }

    fn calls(&self, job: &str, m: CallbackMethod) -> u32 {
        self.observed
            .callbacks
            .get(&(job.to_owned(), m.name().to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

/// Collects failures for one job.
struct Sink<'o> {
    job: Option<String>,
    out: &'o mut Vec<Failure>,
}

impl Sink<'_> {
    fn fail(&mut self, what: &str, expected: impl ToString, actual: impl ToString) {
        self.out.push(Failure {
            job: self.job.clone(),
            what: what.to_owned(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
}

fn joined<T: ToString>(items: impl IntoIterator<Item = T>, sep: &str) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

/// Every `[[expect]]` block, and the actions' `expect_hr`/`expect`.
pub(crate) fn check_expectations(w: &World<'_>) -> Vec<Failure> {
    let mut out = Vec::new();
    for m in &w.observed.action_mismatches {
        out.push(Failure {
            job: None,
            what: "action result".into(),
            expected: "the action's expect_hr / expect".into(),
            actual: m.clone(),
        });
    }
    for e in &w.scenario.expect {
        let v = w.job_view(e.job.as_deref());
        let mut s = Sink {
            job: e.job.clone(),
            out: &mut out,
        };
        if e.job.is_some() && v.job.is_none() {
            s.fail("job exists", "created", "never created (CreateJob failed?)");
            continue;
        }
        expect_states(e, &v, w, &mut s);
        expect_rules(e, &v, &mut s);
        expect_counts(e, &v, w, &mut s);
        expect_error(e, &v, w, &mut s);
        expect_files(e, &v, w, &mut s);
        expect_timing(e, &v, w, &mut s);
        expect_whole_run(e, w, &mut s);
    }
    out
}

fn expect_states(e: &Expectation, v: &JobView<'_>, w: &World<'_>, s: &mut Sink<'_>) {
    if let (Some(want), Some(j)) = (e.final_state, v.job)
        && j.state != want
    {
        s.fail("final state", want, j.state);
    }
    if !e.states.is_empty() {
        let visited: Vec<JobState> = std::iter::once(JobState::Suspended)
            .chain(
                v.transitions
                    .iter()
                    .filter(|(_, f, t, _)| f != t)
                    .map(|(_, _, t, _)| *t),
            )
            .collect();
        let mut it = visited.iter();
        if !e.states.iter().all(|w| it.any(|v| v == w)) {
            s.fail(
                "states visited in order",
                joined(&e.states, " → "),
                joined(&visited, " → "),
            );
        }
    }
    for st in &e.never {
        if v.transitions.iter().any(|(_, f, t, _)| f != t && t == st) {
            s.fail("never enters", st, format!("entered {st}"));
        }
    }
    for (t, want) in &e.state_at {
        let at = Time::ZERO.saturating_add(t.0);
        let state = w
            .trace
            .iter()
            .rev()
            .filter(|x| x.job.as_deref() == e.job.as_deref() && x.at <= at)
            .find_map(|x| match &x.event {
                TraceEvent::Transition { to, .. } => Some(*to),
                _ => None,
            });
        if state != Some(*want) {
            s.fail(
                &format!("state at {t}"),
                want,
                state.map_or("not created yet".into(), |s| s.to_string()),
            );
        }
    }
}

fn expect_rules(e: &Expectation, v: &JobView<'_>, s: &mut Sink<'_>) {
    let fired: BTreeSet<Rule> = v.transitions.iter().map(|(r, ..)| *r).collect();
    for r in &e.rules {
        if !fired.contains(r) {
            s.fail(
                "rule fired",
                r.id(),
                format!("fired: {}", joined(fired.iter().map(|r| r.id()), " ")),
            );
        }
    }
    for r in &e.rules_not {
        if fired.contains(r) {
            s.fail(
                "rule not fired",
                format!("no {}", r.id()),
                format!("{} fired", r.id()),
            );
        }
    }
}

fn expect_counts(e: &Expectation, v: &JobView<'_>, w: &World<'_>, s: &mut Sink<'_>) {
    for (method, n) in &e.callbacks {
        let got = w.calls(&v.name, *method);
        if got != *n {
            s.fail(&format!("{method} calls"), n, got);
        }
    }
    if let Some(n) = e.commands_run {
        let got = w.observed.commands.get(&v.name).copied().unwrap_or(0);
        if got != n {
            s.fail("command-line runs", n, got);
        }
    }
    if let (Some(n), Some(j)) = (e.error_count, v.job)
        && j.error_count != n
    {
        s.fail("error count", n, j.error_count);
    }
}

fn expect_error(e: &Expectation, v: &JobView<'_>, w: &World<'_>, s: &mut Sink<'_>) {
    let last = w.observed.last_error.get(&v.name);
    if let Some(want) = e.error_code
        && last.is_none_or(|(got, _)| *got != want)
    {
        s.fail(
            "last error code",
            want,
            last.map_or("no error".into(), |(c, _)| c.to_string()),
        );
    }
    if let Some(want) = e.error_context
        && last.is_none_or(|(_, got)| *got != want)
    {
        s.fail(
            "last error context",
            want,
            last.map_or("no error".into(), |(_, c)| c.to_string()),
        );
    }
    if let Some(want) = e.reply_started {
        let got = w
            .observed
            .reply_total_at_error
            .get(&v.name)
            .map(|t| t.is_some());
        if got != Some(want) {
            s.fail(
                "reply BytesTotal known when the error happened",
                want,
                got.map_or("no error recorded".into(), |g| g.to_string()),
            );
        }
    }
}

fn expect_files(e: &Expectation, v: &JobView<'_>, w: &World<'_>, s: &mut Sink<'_>) {
    for p in &e.files_present {
        if !w.local.exists(p) {
            s.fail("file present", p, "absent");
        }
    }
    for p in &e.files_absent {
        if w.local.exists(p) || w.local.has_temp_for(p) {
            s.fail("file absent (final and temporary)", p, "present");
        }
    }
    if let Some(want) = e.temp_deleted {
        let created = w.observed.temps_created.get(&v.name).copied().unwrap_or(0);
        let leftover = v.job.is_some_and(|j| {
            j.files
                .iter()
                .enumerate()
                .any(|(i, f)| w.local.has_temp(&f.local_name, j.id, FileRef::File(i)))
        });
        let got = created > 0 && !leftover;
        if got != want {
            s.fail(
                "temporary files deleted",
                want,
                format!("{got} ({created} created, leftovers: {leftover})"),
            );
        }
    }
    for p in &e.server_files_present {
        if !w.server_files.iter().any(|f| f.ends_with(p.as_str())) {
            s.fail("server file present", p, "absent");
        }
    }
}

fn expect_timing(e: &Expectation, v: &JobView<'_>, w: &World<'_>, s: &mut Sink<'_>) {
    let ended = w.observed.ended_at.get(&v.name).copied();
    let shown = || ended.map_or("not ended".into(), |t| t.to_string());
    if let Some(after) = e.ended_after
        && ended.is_none_or(|t| t < Time::ZERO.saturating_add(after.0))
    {
        s.fail("ended after", after, shown());
    }
    if let Some(before) = e.ended_before
        && ended.is_none_or(|t| t > Time::ZERO.saturating_add(before.0))
    {
        s.fail("ended before", before, shown());
    }
}

fn expect_whole_run(e: &Expectation, w: &World<'_>, s: &mut Sink<'_>) {
    for (user, n) in &e.max_outstanding {
        let got = w.observed.max_outstanding.get(user).copied().unwrap_or(0);
        if got != *n as usize {
            s.fail(
                &format!("most notifications outstanding for {user}"),
                n,
                got,
            );
        }
    }
    if !e.first_transfer_order.is_empty() {
        let got: Vec<&String> = w
            .observed
            .first_transfer
            .iter()
            .filter(|j| e.first_transfer_order.contains(j))
            .collect();
        if got.iter().copied().ne(e.first_transfer_order.iter()) {
            s.fail(
                "order of first transfers",
                e.first_transfer_order.join(", "),
                joined(got, ", "),
            );
        }
    }
}

/// Every `[[properties]]` block, for its job or for every job.
pub(crate) fn check_properties(w: &World<'_>) -> Vec<Failure> {
    let mut out = Vec::new();
    for p in &w.scenario.properties {
        let jobs: Vec<&str> = match &p.job {
            Some(j) => vec![j.as_str()],
            None => w.scenario.jobs.iter().map(|j| j.name.as_str()).collect(),
        };
        for name in jobs {
            let v = w.job_view(Some(name));
            let mut s = Sink {
                job: Some(name.to_owned()),
                out: &mut out,
            };
            property_of_job(p, &v, w, &mut s);
        }
        if let Some(cap) = p.outstanding_at_most {
            for (user, got) in &w.observed.max_outstanding {
                if *got > cap as usize {
                    Sink {
                        job: None,
                        out: &mut out,
                    }
                    .fail(
                        &format!("property: notifications outstanding for {user} at most"),
                        cap,
                        got,
                    );
                }
            }
        }
    }
    out
}

fn property_of_job(p: &Property, v: &JobView<'_>, w: &World<'_>, s: &mut Sink<'_>) {
    // A job that was never created has no state: only its absence can
    // break `final_state_in`.
    let state = v.job.map(|j| j.state);
    if !p.final_state_in.is_empty() && state.is_none_or(|st| !p.final_state_in.contains(&st)) {
        s.fail(
            "property: final state in",
            joined(&p.final_state_in, " | "),
            state.map_or("never created".into(), |st| st.to_string()),
        );
    }
    for st in &p.never {
        if let Some((.., at)) = v.transitions.iter().find(|(_, f, t, _)| f != t && t == st) {
            s.fail(
                "property: never enters",
                st,
                format!("entered {st} at {at}"),
            );
        }
    }
    for (method, n) in &p.callbacks_at_most {
        let got = w.calls(&v.name, *method);
        if got > *n {
            s.fail(&format!("property: {method} calls at most"), n, got);
        }
    }
    if let Some(d) = p.ends_within {
        let horizon = Time::ZERO.saturating_add(d.0);
        let end_of_run = Time::ZERO.saturating_add(w.scenario.duration.0);
        let ended = w.observed.ended_at.get(&v.name).copied();
        match ended {
            Some(t) if t <= horizon => {}
            Some(t) => s.fail("property: ends within", d, format!("ended at {t}")),
            None if end_of_run < horizon => {}
            None => s.fail(
                "property: ends within",
                d,
                format!(
                    "still {} at the end",
                    state.map_or("uncreated".into(), |st| st.to_string())
                ),
            ),
        }
    }
    if p.no_early_upload_complete {
        for e in w.trace.iter().filter(|e| e.job.as_deref() == Some(&v.name)) {
            if let TraceEvent::Callback { calls, method, .. } = &e.event
                && calls
                    .iter()
                    .any(|c| c.starts_with("Complete -> BG_E_INVALID_STATE"))
            {
                s.fail(
                    "property: no Complete before TRANSFERRED",
                    "Complete only once TRANSFERRED",
                    format!(
                        "{method}() called Complete at {} and got BG_E_INVALID_STATE",
                        e.at
                    ),
                );
            }
        }
    }
}
