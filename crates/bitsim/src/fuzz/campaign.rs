//! Campaigns: run cases, stop at the first failure, shrink it faithfully,
//! and replay it with the user's own callbacks.

use super::FuzzCase;
use super::invariants::{Invariant, RunView, bits_invariants, expectations};
use crate::callback::Callback;
use crate::scenario::Scenario;
use crate::sim::{Report, Simulation};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Factory = Arc<dyn Fn() -> Box<dyn Callback> + Send + Sync>;

struct SetupError {
    case: FuzzCase,
    failure: CaseFailure,
}

/// Why one case failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFailure {
    /// The invariant or property set that failed (its name), or
    /// `campaign set-up` when the campaign itself is wrong.
    pub invariant: String,
    /// Why, in words.
    pub why: String,
    /// The campaign is misconfigured (e.g. a callback name the scenario
    /// does not have): no case can pass, nothing is shrunk.
    pub setup: bool,
}

impl CaseFailure {
    /// The failure with the numbers taken out (times, counts, job
    /// indices): shrinking keeps a step only if this stays the same, so
    /// the minimal case fails the same way as the original.
    pub fn signature(&self) -> String {
        let why: String = self.why.chars().filter(|c| !c.is_ascii_digit()).collect();
        format!("{}: {why}", self.invariant)
    }
}

impl fmt::Display for CaseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.setup {
            write!(f, "campaign set-up: {}", self.why)
        } else {
            write!(f, "invariant failed: {}\n  {}", self.invariant, self.why)
        }
    }
}

/// A failing case: the one first found and the minimal one it shrank to,
/// which fails the same way.
#[derive(Debug, Clone)]
pub struct FoundFailure {
    /// The minimal case.
    pub case: FuzzCase,
    /// The invariant that failed and why (in the minimal case).
    pub message: String,
    /// The first failing case found, before shrinking.
    pub original: FuzzCase,
    /// Why the original failed.
    pub original_message: String,
    /// Names of the callback scripts the campaign replaced with Rust
    /// callbacks: a replay must use [`Campaign::replay`], because `bitsim
    /// run` would run the scripts instead.
    pub user_callbacks: Vec<String>,
}

impl FoundFailure {
    /// What the campaign added to the scenario in case `c`, in words: the
    /// counts, then one line per added fault or call.
    pub fn added(c: &FuzzCase) -> String {
        let faults = c.scenario.faults.get(c.own_faults..).unwrap_or_default();
        let actions = c.scenario.actions.get(c.own_actions..).unwrap_or_default();
        let mut out = format!(
            "{} fault(s) and {} application call(s) added to the scenario's own {} and {}",
            faults.len(),
            actions.len(),
            c.own_faults,
            c.own_actions
        );
        for f in faults {
            out.push_str(&format!("\n    at {}: {}", f.at, f.describe()));
        }
        for a in actions {
            out.push_str(&format!(
                "\n    at {}: {} on {}",
                a.at,
                a.call,
                a.job.as_deref().unwrap_or("-")
            ));
        }
        out
    }
}

impl fmt::Display for FoundFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.message)?;
        writeln!(
            f,
            "\noriginal failing case (seed {}): {}",
            self.original.seed,
            FoundFailure::added(&self.original)
        )?;
        writeln!(
            f,
            "minimal failing case (seed {}): {}, failing the same way:",
            self.case.seed,
            FoundFailure::added(&self.case)
        )?;
        writeln!(f, "{}", self.case.to_toml())?;
        if self.user_callbacks.is_empty() {
            write!(
                f,
                "replay: save the TOML above as FILE and run `bitsim run FILE --seed {}`",
                self.case.seed
            )
        } else {
            write!(
                f,
                "replay with your callbacks ({}): `campaign.replay(MINIMAL_TOML, {})` on the same \
                 Campaign, with MINIMAL_TOML the TOML above (`bitsim run` would run the \
                 scenario's scripts instead)",
                self.user_callbacks.join(", "),
                self.case.seed
            )
        }
    }
}

/// The result of a campaign. Check [`Outcome::failure`]: a campaign that
/// found a bug, or could not run, says so only there.
#[derive(Debug, Clone)]
#[must_use = "a campaign reports failures only in its Outcome"]
pub struct Outcome {
    /// Cases run (including shrinking steps).
    pub cases: u64,
    /// Wall time spent.
    pub elapsed: Duration,
    /// The failing case, shrunk, if one failed.
    pub failure: Option<FoundFailure>,
}

impl Outcome {
    /// Cases per second.
    pub fn rate(&self) -> f64 {
        self.cases as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A fuzzing campaign: a case strategy, invariants, the user's callbacks.
///
/// By default it checks [`bits_invariants`] (which include the scenario's
/// `[[properties]]`) and any invariant added; the scenario's exact
/// `[[expect]]` blocks only with [`Campaign::expectations`].
#[must_use = "a Campaign does nothing until run"]
pub struct Campaign<S> {
    strategy: S,
    invariants: Vec<Invariant>,
    callbacks: Vec<(String, Factory)>,
    cases: u32,
    seed: u64,
    on_case: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl<S: Strategy<Value = FuzzCase>> Campaign<S> {
    /// A campaign over `strategy` with [`bits_invariants`], 256 cases, seed 0.
    pub fn new(strategy: S) -> Self {
        Campaign {
            strategy,
            invariants: bits_invariants(),
            callbacks: Vec::new(),
            cases: 256,
            seed: 0,
            on_case: None,
        }
    }
    /// Adds an invariant.
    pub fn invariant(mut self, i: Invariant) -> Self {
        self.invariants.push(i);
        self
    }
    /// Also checks the scenario's exact `[[expect]]` blocks and its
    /// actions' `expect_hr`/`expect` on every case (off by default: they
    /// describe one unperturbed run).
    pub fn expectations(self, on: bool) -> Self {
        if on {
            self.invariant(expectations())
        } else {
            self
        }
    }
    /// Plugs a fresh callback object from `make` into every run, in place of
    /// the scenario's script `name`. A name the scenario has no script for
    /// makes the campaign fail at once with a set-up error.
    pub fn callback(
        mut self,
        name: &str,
        make: impl Fn() -> Box<dyn Callback> + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.push((name.to_owned(), Arc::new(make)));
        self
    }
    /// Number of cases.
    pub fn cases(mut self, n: u32) -> Self {
        self.cases = n;
        self
    }
    /// The campaign's seed: the same seed generates the same cases.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }
    /// Called after every case (for progress bars).
    pub fn on_case(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_case = Some(Arc::new(f));
        self
    }

    /// Runs one case with the campaign's callbacks and checks every
    /// invariant.
    pub fn check(&self, case: &FuzzCase) -> Result<Report, CaseFailure> {
        let mut sim = Simulation::new(case.scenario.clone(), case.seed).without_effects_in_trace();
        for (name, make) in &self.callbacks {
            sim.set_callback(name, make()).map_err(|e| CaseFailure {
                invariant: "campaign set-up".into(),
                why: format!("Campaign::callback({name:?}, ..): {e}"),
                setup: true,
            })?;
        }
        let report = sim.run();
        let view = RunView {
            case,
            report: &report,
        };
        for inv in &self.invariants {
            inv.check(&view).map_err(|why| CaseFailure {
                invariant: inv.name().to_owned(),
                why,
                setup: false,
            })?;
        }
        Ok(report)
    }

    /// Re-runs a failure with the campaign's own callbacks and invariants:
    /// `toml` is the minimal case a [`FoundFailure`] prints, `seed` its
    /// seed. `Ok` with the report when every invariant holds, else why not
    /// (a TOML that does not parse is an error too).
    pub fn replay(&self, toml: &str, seed: u64) -> Result<Report, CaseFailure> {
        let scenario = Scenario::parse(toml, "replay").map_err(|e| CaseFailure {
            invariant: "campaign set-up".into(),
            why: e.to_string(),
            setup: true,
        })?;
        let case = FuzzCase {
            own_faults: scenario.faults.len(),
            own_actions: scenario.actions.len(),
            scenario,
            seed,
        };
        self.check(&case)
    }

    /// A callback name no generated scenario has: checked on one case
    /// (from a runner of its own, so the campaign's cases do not change)
    /// before any case runs.
    fn setup_error(&self) -> Option<SetupError> {
        if self.callbacks.is_empty() {
            return None;
        }
        let mut runner = TestRunner::deterministic();
        let case = self.strategy.new_tree(&mut runner).ok()?.current();
        let mut sim = Simulation::new(case.scenario.clone(), case.seed);
        for (name, make) in &self.callbacks {
            if let Err(e) = sim.set_callback(name, make()) {
                return Some(SetupError {
                    case,
                    failure: CaseFailure {
                        invariant: "campaign set-up".into(),
                        why: format!("Campaign::callback({name:?}, ..): {e}"),
                        setup: true,
                    },
                });
            }
        }
        None
    }

    /// A greedy pass after proptest's shrinking: drop any single fault or
    /// application call the campaign added (never the scenario's own)
    /// whose removal keeps the case failing the same way, until none can
    /// go. proptest shrinks a tuple component by component and cannot come
    /// back to the fault list once it has moved on; this finishes the job.
    fn minimize(
        &self,
        mut case: FuzzCase,
        mut failure: CaseFailure,
        count: &AtomicU64,
    ) -> (FuzzCase, CaseFailure) {
        let signature = failure.signature();
        loop {
            let mut progressed = false;
            for faults in [true, false] {
                let mut i = if faults {
                    case.own_faults
                } else {
                    case.own_actions
                };
                loop {
                    let len = if faults {
                        case.scenario.faults.len()
                    } else {
                        case.scenario.actions.len()
                    };
                    if i >= len {
                        break;
                    }
                    let mut candidate = case.clone();
                    if faults {
                        candidate.scenario.faults.remove(i);
                    } else {
                        candidate.scenario.actions.remove(i);
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                    match self.check(&candidate) {
                        Err(f) if f.signature() == signature => {
                            (case, failure) = (candidate, f);
                            progressed = true;
                        }
                        _ => i += 1,
                    }
                }
            }
            if !progressed {
                return (case, failure);
            }
        }
    }

    /// Runs the campaign; stops at the first failure and shrinks it. While
    /// shrinking, a smaller case counts as failing only if it fails the
    /// same way ([`CaseFailure::signature`]).
    pub fn run(&self) -> Outcome {
        if let Some(f) = self.setup_error() {
            let user_callbacks = self.callbacks.iter().map(|(n, _)| n.clone()).collect();
            return Outcome {
                cases: 1,
                elapsed: Duration::ZERO,
                failure: Some(FoundFailure {
                    message: f.failure.to_string(),
                    original_message: f.failure.to_string(),
                    original: f.case.clone(),
                    case: f.case,
                    user_callbacks,
                }),
            };
        }
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.seed.to_le_bytes());
        let config = Config {
            cases: self.cases,
            failure_persistence: None,
            max_shrink_iters: 2048,
            ..Config::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        let count = AtomicU64::new(0);
        let first: Mutex<Option<(FuzzCase, CaseFailure)>> = Mutex::new(None);
        let started = Instant::now();
        let result = runner.run(&self.strategy, |case| {
            count.fetch_add(1, Ordering::Relaxed);
            if let Some(f) = &self.on_case {
                f();
            }
            let Err(failure) = self.check(&case) else {
                return Ok(());
            };
            let mut first = first.lock().unwrap_or_else(|p| p.into_inner());
            match &*first {
                None => *first = Some((case, failure.clone())),
                // A different failure while shrinking: not this bug.
                Some((_, f)) if f.signature() != failure.signature() => return Ok(()),
                Some(_) => {}
            }
            Err(TestCaseError::fail(failure.to_string()))
        });
        let user_callbacks: Vec<String> = self.callbacks.iter().map(|(n, _)| n.clone()).collect();
        let failure = match result {
            Ok(()) => None,
            Err(TestError::Fail(_, shrunk)) => {
                let (original, original_failure) = first
                    .into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .unwrap_or_else(|| {
                        (
                            shrunk.clone(),
                            self.check(&shrunk)
                                .err()
                                .unwrap_or_else(unreachable_failure),
                        )
                    });
                let (case, failure) = match self.check(&shrunk) {
                    Err(f) if f.setup => (shrunk, f),
                    Err(f) => self.minimize(shrunk, f, &count),
                    Ok(_) => (original.clone(), original_failure.clone()),
                };
                Some(FoundFailure {
                    case,
                    message: failure.to_string(),
                    original,
                    original_message: original_failure.to_string(),
                    user_callbacks,
                })
            }
            Err(TestError::Abort(why)) => {
                let case = FuzzCase {
                    scenario: Scenario::parse("name = \"aborted\"", "-").expect("valid"),
                    seed: 0,
                    own_faults: 0,
                    own_actions: 0,
                };
                Some(FoundFailure {
                    original: case.clone(),
                    case,
                    message: format!("campaign aborted: {why}"),
                    original_message: String::new(),
                    user_callbacks,
                })
            }
        };
        Outcome {
            cases: count.into_inner(),
            elapsed: started.elapsed(),
            failure,
        }
    }
}

/// proptest reported a failure the campaign did not record (cannot happen:
/// every failure goes through the closure that records it).
fn unreachable_failure() -> CaseFailure {
    CaseFailure {
        invariant: "campaign".into(),
        why: "proptest reported a failure no check produced".into(),
        setup: false,
    }
}
