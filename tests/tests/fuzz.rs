//! The fuzzer finds and shrinks realistic bugs planted in user callbacks,
//! and its minimal cases replay from their TOML and seed.

use bitsim::fuzz::{self, AroundOptions, Campaign, FoundFailure, Invariant, RunView};
use bitsim::{Callback, CallbackResult, JobHandle, Scenario, Simulation, TraceEvent};
use bitsim_model::{ErrorInfo, JobType};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

fn download_base(jobs: usize) -> Scenario {
    let mut s = String::from(
        "name = \"downloads\"\nduration = \"40d\"\n[policy]\ncallback_retry_interval = 21600\n[[servers]]\nhost = \"cdn.example.com\"\nfiles = { \"/f\" = \"1MB\" }\n[callbacks.app]\nreregister_after_restart = true\n",
    );
    for i in 0..jobs {
        s.push_str(&format!(
            "[[jobs]]\nname = \"j{i}\"\nowner = \"alice\"\npriority = \"foreground\"\nretry_delay = \"60s\"\ncallback = \"app\"\nfiles = [{{ remote = \"http://cdn.example.com/f\", local = \"/d/{i}\" }}]\n"
        ));
    }
    Scenario::parse(&s, "base").unwrap()
}

/// Checks the campaign found a failure of `invariant`, that shrinking left
/// at most `max_faults` faults, and that the printed case replays.
fn assert_found(
    failure: Option<FoundFailure>,
    invariant: &str,
    max_faults: usize,
    replay: impl Fn(Simulation) -> Simulation,
) -> FoundFailure {
    let f =
        failure.unwrap_or_else(|| panic!("the fuzzer did not find the planted bug ({invariant})"));
    assert!(
        f.message.contains(invariant),
        "wrong invariant: {}",
        f.message
    );
    assert!(
        f.case.scenario.faults.len() <= max_faults,
        "not shrunk: {} faults\n{}",
        f.case.scenario.faults.len(),
        f.case
    );
    assert!(
        f.case.scenario.actions.is_empty(),
        "not shrunk: actions left\n{}",
        f.case
    );
    // The printed TOML and seed replay the same run.
    let reparsed =
        Scenario::parse(&f.case.to_toml(), "minimal").expect("the minimal case is valid TOML");
    let a = replay(Simulation::new(reparsed, f.case.seed)).run();
    let b = replay(Simulation::new(f.case.scenario.clone(), f.case.seed)).run();
    assert_eq!(a.trace, b.trace, "the TOML rendering changed the run");
    f
}

/// Bug 1: the callback "fixes" the cause of an error but forgets to Resume.
struct ForgetsToResume;
impl Callback for ForgetsToResume {
    fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        let _ = job.complete();
        CallbackResult::ok()
    }
    fn job_error(&mut self, job: &mut JobHandle<'_>, _e: &ErrorInfo) -> CallbackResult {
        let _ = job.set_minimum_retry_delay(30); // "fixes" something, never resumes
        CallbackResult::ok()
    }
}

#[test]
fn finds_a_callback_that_forgets_to_resume() {
    let outcome = Campaign::new(fuzz::around(download_base(1), AroundOptions::default()))
        .callback("app", || Box::new(ForgetsToResume))
        .invariant(fuzz::ends_within(30 * DAY))
        .cases(500)
        .seed(1)
        .run();
    let f = assert_found(outcome.failure, "within 30d", 1, |mut s| {
        s.set_callback("app", Box::new(ForgetsToResume));
        s
    });
    // The one fault left is what makes the job fatal.
    assert!(f.message.contains("ERROR"), "{f}");
}

/// Bug 2: JobTransferred returns failure forever (and never completes).
struct FailsForever;
impl Callback for FailsForever {
    fn job_transferred(&mut self, _job: &mut JobHandle<'_>) -> CallbackResult {
        CallbackResult::fail(bitsim_model::Hresult::E_FAIL)
    }
}

#[test]
fn finds_a_callback_that_fails_forever() {
    let outcome = Campaign::new(fuzz::around(download_base(1), AroundOptions::default()))
        .callback("app", || Box::new(FailsForever))
        .invariant(fuzz::ends_within(30 * DAY))
        .cases(100)
        .seed(2)
        .run();
    let f = assert_found(outcome.failure, "within 30d", 0, |mut s| {
        s.set_callback("app", Box::new(FailsForever));
        s
    });
    assert!(f.message.contains("TRANSFERRED"), "{f}");
}

/// Bug 3: JobModification completes an upload as soon as any byte moved.
struct CompletesPartialUpload;
impl Callback for CompletesPartialUpload {
    fn job_modification(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        if job.job_type() == JobType::Upload && job.progress().bytes_transferred > 0 {
            let _ = job.complete();
        }
        CallbackResult::ok()
    }
    fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        let _ = job.complete();
        CallbackResult::ok()
    }
}

#[test]
fn finds_a_callback_that_completes_a_partial_upload() {
    let base = Scenario::parse(
        r#"
name = "upload"
duration = "10d"
[[servers]]
host = "up.example.com"
bandwidth = "100KB"
[callbacks.app]
[[jobs]]
name = "logs"
owner = "alice"
type = "upload"
notify_flags = 0xB
callback = "app"
files = [{ remote = "http://up.example.com/in/logs.zip", local = "/l/logs.zip", size = "3MB" }]
"#,
        "base",
    )
    .unwrap();
    let outcome = Campaign::new(fuzz::around(base, AroundOptions::default()))
        .callback("app", || Box::new(CompletesPartialUpload))
        .invariant(fuzz::no_early_upload_complete())
        .cases(100)
        .seed(3)
        .run();
    assert_found(
        outcome.failure,
        "no Complete on an upload job before TRANSFERRED",
        0,
        |mut s| {
            s.set_callback("app", Box::new(CompletesPartialUpload));
            s
        },
    );
}

/// Bug 4: JobError blocks for days, so four failing jobs take all four of
/// the user's notification slots and a finished job's JobTransferred waits.
struct BlocksOnError;
impl Callback for BlocksOnError {
    fn job_error(&mut self, job: &mut JobHandle<'_>, _e: &ErrorInfo) -> CallbackResult {
        let _ = job.cancel();
        CallbackResult::ok().after(5 * DAY) // e.g. waiting on a UI prompt
    }
    fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        let _ = job.complete();
        CallbackResult::ok()
    }
}

/// Every job that reached TRANSFERRED is told so within `d`.
fn transferred_notified_within(d: Duration) -> Invariant {
    Invariant::new(
        format!("JobTransferred within {}s of TRANSFERRED", d.as_secs()),
        move |v: &RunView<'_>| {
            let mut since = std::collections::BTreeMap::new();
            for e in &v.report.trace.0 {
                let Some(job) = e.job.as_deref() else {
                    continue;
                };
                match &e.event {
                    TraceEvent::Transition { to, .. }
                        if *to == bitsim_model::JobState::Transferred =>
                    {
                        since.insert(job.to_owned(), e.at);
                    }
                    TraceEvent::Callback { method, .. } if method == "JobTransferred" => {
                        if let Some(t) = since.remove(job)
                            && e.at.since(t) > d
                        {
                            return Err(format!(
                                "{job} waited {:?} for JobTransferred",
                                e.at.since(t)
                            ));
                        }
                    }
                    _ => {}
                }
            }
            match since.into_iter().next() {
                Some((job, t)) => Err(format!("{job} TRANSFERRED at {t} was never notified")),
                None => Ok(()),
            }
        },
    )
}

#[test]
fn finds_a_callback_that_blocks_all_four_slots() {
    let outcome = Campaign::new(fuzz::around(download_base(5), AroundOptions::default()))
        .callback("app", || Box::new(BlocksOnError))
        .invariant(transferred_notified_within(Duration::from_secs(3600)))
        .cases(2000)
        .seed(4)
        .run();
    let f = assert_found(
        outcome.failure,
        "JobTransferred within 3600s",
        2,
        |mut s| {
            s.set_callback("app", Box::new(BlocksOnError));
            s
        },
    );
    assert!(
        f.case
            .scenario
            .faults
            .iter()
            .any(|x| x.kind == bitsim::scenario::FaultKind::HttpStatus),
        "{f}"
    );
}

#[test]
fn a_correct_callback_passes_and_campaigns_are_reproducible() {
    struct Good;
    impl Callback for Good {
        fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
            let _ = job.complete();
            CallbackResult::ok()
        }
        fn job_error(&mut self, job: &mut JobHandle<'_>, _e: &ErrorInfo) -> CallbackResult {
            let _ = job.cancel();
            CallbackResult::ok()
        }
    }
    let run = || {
        Campaign::new(fuzz::around(download_base(2), AroundOptions::default()))
            .callback("app", || Box::new(Good))
            .invariant(fuzz::ends_within(30 * DAY))
            .cases(150)
            .seed(5)
            .run()
    };
    let a = run();
    assert!(a.failure.is_none(), "{}", a.failure.unwrap());
    assert_eq!(a.cases, 150);
    let b = run();
    assert_eq!(a.cases, b.cases);
}

#[test]
fn generated_small_scenarios_keep_the_model_invariants() {
    let outcome = Campaign::new(fuzz::small_scenarios())
        .cases(300)
        .seed(6)
        .run();
    assert!(outcome.failure.is_none(), "{}", outcome.failure.unwrap());
}
