//! Invariants: named checks over a finished run.
//!
//! [`bits_invariants`] hold for every BITS run whatever the world does
//! (and include the scenario's own `[[properties]]`); [`expectations`] pins
//! one exact run and is checked only when a campaign asks for it;
//! [`ends_within`] and [`no_early_upload_complete`] are examples of the
//! user-level kind, and [`Invariant::new`] makes your own.

use super::FuzzCase;
use crate::sim::Report;
use crate::trace::TraceEvent;
use crate::units::Span;
use bitsim_model::JobState;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What an invariant sees: the case and the finished run.
pub struct RunView<'a> {
    /// The case.
    pub case: &'a FuzzCase,
    /// The run.
    pub report: &'a Report,
}

type CheckFn = dyn Fn(&RunView<'_>) -> Result<(), String> + Send + Sync;

/// A named property of a run.
#[derive(Clone)]
pub struct Invariant {
    name: String,
    check: Arc<CheckFn>,
}

impl Invariant {
    /// An invariant from a check that returns `Err(why)` when it fails.
    pub fn new(
        name: impl Into<String>,
        check: impl Fn(&RunView<'_>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        Invariant {
            name: name.into(),
            check: Arc::new(check),
        }
    }
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Checks a run.
    pub fn check(&self, view: &RunView<'_>) -> Result<(), String> {
        (self.check)(view)
    }
}

impl fmt::Debug for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Invariant({})", self.name)
    }
}

fn final_states_are_terminal(v: &RunView<'_>) -> Result<(), String> {
    let mut finished: BTreeMap<&str, JobState> = BTreeMap::new();
    for e in &v.report.trace.0 {
        if let (Some(job), TraceEvent::Transition { from, to, .. }) = (e.job.as_deref(), &e.event) {
            if let Some(f) = finished.get(job)
                && (from != to || from != f)
            {
                return Err(format!("{job} left {f} at {}", e.at));
            }
            if to.is_final() {
                finished.insert(job, *to);
            }
        }
    }
    Ok(())
}

fn job_error_only_in_error(v: &RunView<'_>) -> Result<(), String> {
    let mut state: BTreeMap<&str, JobState> = BTreeMap::new();
    for e in &v.report.trace.0 {
        let Some(job) = e.job.as_deref() else {
            continue;
        };
        match &e.event {
            TraceEvent::Transition { to, .. } => {
                state.insert(job, *to);
            }
            TraceEvent::Callback { method, .. }
                if method == "JobError" && state.get(job) != Some(&JobState::Error) =>
            {
                return Err(format!(
                    "JobError for {job} in {:?} at {}",
                    state.get(job),
                    e.at
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn notification_cap(v: &RunView<'_>) -> Result<(), String> {
    let cap = v
        .case
        .scenario
        .policy
        .max_outstanding_notifications_per_user as usize;
    for e in &v.report.trace.0 {
        if let TraceEvent::Callback {
            outstanding, user, ..
        } = &e.event
            && *outstanding > cap
        {
            return Err(format!("{user} had {outstanding} outstanding at {}", e.at));
        }
    }
    Ok(())
}

fn listed(failures: &[crate::Failure]) -> Result<(), String> {
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join("\n  "))
    }
}

/// The invariants checked on every case by default: final states are
/// terminal; JobError only for jobs in ERROR (never for a transient
/// error); at most the policy's four notifications outstanding per user;
/// the model's state invariants at the end
/// ([`bitsim_model::Manager::check_invariants`]); and the scenario's own
/// `[[properties]]`.
pub fn bits_invariants() -> Vec<Invariant> {
    vec![
        Invariant::new("final states are terminal", final_states_are_terminal),
        Invariant::new("JobError only for jobs in ERROR", job_error_only_in_error),
        Invariant::new(
            "at most four notifications outstanding per user",
            notification_cap,
        ),
        Invariant::new("model invariants hold at the end", |v| {
            v.report.manager.check_invariants()
        }),
        Invariant::new("the scenario's properties hold", |v| {
            listed(&v.report.property_failures)
        }),
    ]
}

/// The scenario's `[[expect]]` blocks and the actions' `expect_hr` /
/// `expect`: they describe one exact run, so a perturbed world breaks
/// them by design. Campaigns check them only when asked
/// ([`Campaign::expectations`](super::Campaign::expectations), `bitsim fuzz
/// --expect`).
pub fn expectations() -> Invariant {
    Invariant::new("the scenario's expectations hold", |v| {
        listed(&v.report.failures)
    })
}

/// User-level example: every job reaches ACKNOWLEDGED or CANCELLED within
/// `d` of the start of the run (or the run ended before `d`). The TOML
/// form is the property `ends_within`.
pub fn ends_within(d: Duration) -> Invariant {
    Invariant::new(
        format!(
            "every job ends ACKNOWLEDGED or CANCELLED within {}",
            Span(d)
        ),
        move |v| {
            let horizon = bitsim_model::Time::ZERO.saturating_add(d);
            if v.report.end < horizon && v.case.scenario.duration.0 < d {
                return Ok(());
            }
            for job in v.report.manager.all_jobs() {
                let name = v.report.names.get(&job.id).map_or("?", |s| s.as_str());
                let ended = v.report.trace.0.iter().find(|e| {
                    e.job.as_deref() == Some(name)
                        && matches!(&e.event, TraceEvent::Transition { to, .. } if to.is_final())
                });
                match ended {
                    Some(e) if e.at <= horizon => {}
                    Some(e) => return Err(format!("{name} ended only at {}", e.at)),
                    None => {
                        return Err(format!(
                            "{name} is still {} at the end ({})",
                            job.state, v.report.end
                        ));
                    }
                }
            }
            Ok(())
        },
    )
}

/// User-level example: the callback never calls Complete on an upload job
/// before it is TRANSFERRED (BITS refuses with BG_E_INVALID_STATE
/// \[COMPLETE\]). The TOML form is the property `no_early_upload_complete`.
pub fn no_early_upload_complete() -> Invariant {
    Invariant::new("no Complete on an upload job before TRANSFERRED", |v| {
        for e in &v.report.trace.0 {
            if let TraceEvent::Callback { calls, method, .. } = &e.event
                && calls
                    .iter()
                    .any(|c| c.starts_with("Complete -> BG_E_INVALID_STATE"))
            {
                return Err(format!(
                    "{method}() of {} called Complete too early at {}",
                    e.job.as_deref().unwrap_or("?"),
                    e.at
                ));
            }
        }
        Ok(())
    })
}
