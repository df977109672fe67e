//! The fuzzer finds and shrinks realistic bugs planted in user callbacks,
//! and its minimal cases replay from their TOML and seed.

use bitsim::fuzz::{self, Campaign, FoundFailure, FuzzConfig, Invariant, RunView};
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
    let outcome = Campaign::new(fuzz::around(download_base(1), FuzzConfig::default()))
        .callback("app", || Box::new(ForgetsToResume))
        .invariant(fuzz::ends_within(30 * DAY))
        .cases(500)
        .seed(1)
        .run();
    let f = assert_found(outcome.failure, "within 30d", 1, |mut s| {
        s.set_callback("app", Box::new(ForgetsToResume)).unwrap();
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
    let outcome = Campaign::new(fuzz::around(download_base(1), FuzzConfig::default()))
        .callback("app", || Box::new(FailsForever))
        .invariant(fuzz::ends_within(30 * DAY))
        .cases(100)
        .seed(2)
        .run();
    let f = assert_found(outcome.failure, "within 30d", 0, |mut s| {
        s.set_callback("app", Box::new(FailsForever)).unwrap();
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
    let outcome = Campaign::new(fuzz::around(base, FuzzConfig::default()))
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
            s.set_callback("app", Box::new(CompletesPartialUpload))
                .unwrap();
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
    let outcome = Campaign::new(fuzz::around(download_base(5), FuzzConfig::default()))
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
            s.set_callback("app", Box::new(BlocksOnError)).unwrap();
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
        Campaign::new(fuzz::around(download_base(2), FuzzConfig::default()))
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

#[test]
fn a_misspelt_callback_name_fails_the_campaign_instead_of_passing() {
    let outcome = Campaign::new(fuzz::around(download_base(1), FuzzConfig::default()))
        .callback("ap", || Box::new(ForgetsToResume))
        .cases(50)
        .seed(1)
        .run();
    let f = outcome.failure.expect("a set-up error, not a pass");
    assert!(
        f.message
            .contains("campaign set-up: Campaign::callback(\"ap\", ..): the scenario has no callback script named \"ap\" (scripts: app)"),
        "{}",
        f.message
    );
    assert_eq!(outcome.cases, 1, "no case can pass, none is shrunk");
    let mut sim = Simulation::new(download_base(1), 1);
    let e = sim.set_callback("ap", Box::new(FailsForever)).unwrap_err();
    assert_eq!(e.known, vec!["app".to_owned()]);
}

#[test]
fn by_default_only_the_world_is_perturbed() {
    use proptest::strategy::{Strategy, ValueTree};
    let base = Scenario::load(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sim-scenarios/06-joberror-remedy-fix-and-resume.toml")
            .as_path(),
    )
    .unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut added_faults = 0;
    for _ in 0..200 {
        let case = fuzz::around(base.clone(), FuzzConfig::default())
            .new_tree(&mut runner)
            .unwrap()
            .current();
        assert_eq!(
            case.scenario.actions, base.actions,
            "no application call added"
        );
        assert_eq!(case.scenario.faults[..case.own_faults], base.faults[..]);
        added_faults += case.scenario.faults.len() - case.own_faults;
    }
    assert!(added_faults > 100, "the world is perturbed");
    let with_calls = (0..50)
        .map(|_| {
            fuzz::around(base.clone(), FuzzConfig::default().with_app_actions(true))
                .new_tree(&mut runner)
                .unwrap()
                .current()
        })
        .filter(|c| c.scenario.actions.len() > base.actions.len())
        .count();
    assert!(with_calls > 10, "--app-actions adds calls");
}

/// A scenario with its own 403 fault and its own Resume (remedy 3), whose
/// callback forgets to complete when a restart made BITS call JobTransferred
/// again: the minimal case keeps the scenario's fault and action.
#[test]
fn shrinking_keeps_the_scenarios_own_faults_and_actions() {
    let base = Scenario::load(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sim-scenarios/06-joberror-remedy-fix-and-resume.toml")
            .as_path(),
    )
    .unwrap();
    let outcome = Campaign::new(fuzz::around(base.clone(), FuzzConfig::default()))
        .callback("app", || Box::new(FailsForever))
        .invariant(fuzz::ends_within(DAY))
        .cases(200)
        .seed(9)
        .run();
    let f = outcome.failure.expect("JobTransferred never completes");
    assert_eq!(f.case.own_faults, base.faults.len());
    assert_eq!(
        &f.case.scenario.faults[..base.faults.len()],
        &base.faults[..]
    );
    assert_eq!(f.case.scenario.actions, base.actions);
    // The report shows the original case and the minimal one.
    let shown = f.to_string();
    assert!(shown.contains("original failing case (seed"), "{shown}");
    assert!(shown.contains("minimal failing case (seed"), "{shown}");
    assert!(shown.contains("failing the same way"), "{shown}");
    // The minimal case fails the same way as the original (numbers aside).
    let digitless = |s: &str| {
        s.chars()
            .filter(|c| !c.is_ascii_digit())
            .collect::<String>()
    };
    assert_eq!(digitless(&f.message), digitless(&f.original_message));
    assert!(f.message.contains("within 1d"), "{}", f.message);
}

#[test]
fn a_rust_campaign_failure_replays_with_the_users_own_callback() {
    let campaign = Campaign::new(fuzz::around(download_base(1), FuzzConfig::default()))
        .callback("app", || Box::new(ForgetsToResume))
        .invariant(fuzz::ends_within(30 * DAY))
        .cases(500)
        .seed(1);
    let f = campaign.run().failure.expect("the planted bug");
    let shown = f.to_string();
    assert!(
        shown.contains(&format!("campaign.replay(MINIMAL_TOML, {})", f.case.seed)),
        "{shown}"
    );
    assert!(!shown.contains("replay with `bitsim run"), "{shown}");
    let again = campaign
        .replay(&f.case.to_toml(), f.case.seed)
        .expect_err("the replay fails too");
    assert_eq!(
        again.invariant,
        "every job ends ACKNOWLEDGED or CANCELLED within 30d"
    );
    assert_eq!(again.to_string(), f.message);
    // The replay runs the campaign's callback: with a fixed one the same
    // case passes.
    struct Fixed;
    impl Callback for Fixed {
        fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
            let _ = job.complete();
            CallbackResult::ok()
        }
        fn job_error(&mut self, job: &mut JobHandle<'_>, _e: &ErrorInfo) -> CallbackResult {
            let _ = job.cancel();
            CallbackResult::ok()
        }
    }
    let fixed = Campaign::new(fuzz::around(download_base(1), FuzzConfig::default()))
        .callback("app", || Box::new(Fixed))
        .invariant(fuzz::ends_within(30 * DAY));
    assert!(fixed.replay(&f.case.to_toml(), f.case.seed).is_ok());
}

#[test]
fn exact_expectations_are_checked_only_when_asked() {
    // The scenario's own expectations and expect_hr describe the unperturbed run.
    let base = Scenario::load(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sim-scenarios/01-joberror-returns-s-ok.toml")
            .as_path(),
    )
    .unwrap();
    let quiet = Campaign::new(fuzz::around(base.clone(), FuzzConfig::default()))
        .cases(300)
        .seed(1)
        .run();
    assert!(quiet.failure.is_none(), "{}", quiet.failure.unwrap());
    let strict = Campaign::new(fuzz::around(base, FuzzConfig::default()))
        .expectations(true)
        .cases(300)
        .seed(1)
        .run();
    let f = strict
        .failure
        .expect("a perturbed world breaks exact expectations");
    assert!(
        f.message.contains("the scenario's expectations hold"),
        "{}",
        f.message
    );
}

/// Every library scenario passes `bitsim fuzz` with the default settings:
/// its properties hold whatever the world does. (The README's loop runs
/// 2,000 cases each in release; a few dozen here keep the debug test quick.)
#[test]
fn every_library_scenario_survives_a_perturbed_world() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sim-scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut with_properties = 0;
    for path in files {
        let base = Scenario::load(&path).unwrap();
        with_properties += usize::from(!base.properties.is_empty());
        let outcome = Campaign::new(fuzz::around(base, FuzzConfig::default()))
            .cases(24)
            .seed(1)
            .run();
        if let Some(f) = outcome.failure {
            panic!("{}: {f}", path.display());
        }
    }
    assert!(
        with_properties >= 15,
        "{with_properties} scenarios state properties"
    );
}

/// The README's properties block is a valid `[[properties]]` table.
#[test]
fn the_readme_properties_block_parses() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("### Fuzzing your callbacks")
        .nth(1)
        .expect("fuzzing section");
    let block = section
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a toml block");
    let text =
        format!("name = \"readme\"\n[[jobs]]\nname = \"nightly\"\nowner = \"alice\"\n{block}");
    let s = Scenario::parse(&text, "README").unwrap_or_else(|e| panic!("{e}"));
    let p = &s.properties[0];
    assert!(p.no_early_upload_complete && p.outstanding_at_most == Some(4));
    assert!(section.contains("campaign.replay(&f.case.to_toml(), f.case.seed)"));
}
