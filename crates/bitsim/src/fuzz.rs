//! Property-based fuzzing of BITS callback logic.
//!
//! proptest strategies generate fault schedules, user-action sequences,
//! server behaviours and whole scenarios ([`faults`], [`actions`],
//! [`server_behaviour`], [`around`], [`small_scenarios`]); they compose with
//! your own. An [`Invariant`] is a named check over a finished run;
//! [`bits_invariants`] are the model's own, and [`ends_within`] /
//! [`no_early_upload_complete`] are examples of the user-level kind.
//! [`Campaign`] runs cases, and on a failure shrinks it to a minimal
//! scenario that prints as TOML with the seed that replays it.
//!
//! ## Fuzzing your own callback
//!
//! ```
//! use bitsim::fuzz::{self, Campaign};
//! use bitsim::{Callback, CallbackResult, JobHandle, Scenario};
//! use bitsim_model::ErrorInfo;
//!
//! // The callback under test: cancels on error, completes on success.
//! struct MyApp;
//! impl Callback for MyApp {
//!     fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
//!         let _ = job.complete();
//!         CallbackResult::ok()
//!     }
//!     fn job_error(&mut self, job: &mut JobHandle<'_>, _e: &ErrorInfo) -> CallbackResult {
//!         let _ = job.cancel();
//!         CallbackResult::ok()
//!     }
//! }
//!
//! let base = Scenario::parse(r#"
//!     name = "nightly download"
//!     [[servers]]
//!     host = "cdn.example.com"
//!     files = { "/a.bin" = "1MB" }
//!     [callbacks.app]
//!     [[jobs]]
//!     name = "nightly"
//!     owner = "alice"
//!     files = [{ remote = "http://cdn.example.com/a.bin", local = "/d/a.bin" }]
//!     callback = "app"
//! "#, "inline").unwrap();
//!
//! let outcome = Campaign::new(fuzz::around(base, fuzz::AroundOptions::default()))
//!     .callback("app", || Box::new(MyApp))
//!     .invariant(fuzz::ends_within(std::time::Duration::from_secs(30 * 86_400)))
//!     .cases(200)
//!     .seed(7)
//!     .run();
//! assert!(outcome.failure.is_none(), "{}", outcome.failure.unwrap());
//! ```

use crate::callback::Callback;
use crate::scenario::*;
use crate::sim::{Report, Simulation};
use crate::trace::TraceEvent;
use crate::units::{Size, Span};
use bitsim_model::{JobState, JobType};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One generated case: a scenario and the seed of its run.
#[derive(Debug, Clone, PartialEq)]
pub struct FuzzCase {
    /// The scenario.
    pub scenario: Scenario,
    /// The simulation seed.
    pub seed: u64,
}

impl FuzzCase {
    /// The scenario as TOML (what `bitsim run` reads).
    pub fn to_toml(&self) -> String {
        let mut s = self.scenario.clone();
        s.seed = self.seed;
        toml::to_string(&s).unwrap_or_else(|e| format!("# cannot render as TOML: {e}\n"))
    }
}

impl fmt::Display for FuzzCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "# seed = {}\n{}", self.seed, self.to_toml())
    }
}

fn span(ms: u64) -> Span {
    Span(Duration::from_millis(ms))
}

const STATUSES: &[u16] = &[
    400, 401, 403, 404, 407, 408, 409, 410, 500, 501, 502, 503, 504, 505,
];

/// One fault: a kind, a time within `horizon`, maybe a URL filter from
/// `urls`, an HTTP status where the kind takes one, a hit count.
pub fn fault(
    horizon: Duration,
    urls: Vec<String>,
    users: Vec<String>,
) -> impl Strategy<Value = FaultSpec> {
    let h = horizon.as_secs().max(1);
    let kinds = prop_oneof![
        4 => Just(FaultKind::HttpStatus),
        2 => Just(FaultKind::ConnectionReset),
        1 => Just(FaultKind::NameResolution),
        1 => Just(FaultKind::Timeout),
        1 => Just(FaultKind::NetworkDown),
        1 => Just(FaultKind::Logoff),
        1 => Just(FaultKind::ServiceRestart),
        1 => Just(FaultKind::DiskFull),
        1 => Just(FaultKind::LastModifiedChanged),
        1 => Just(FaultKind::NoRangeSupport),
        1 => Just(FaultKind::ServerAppFailure),
        1 => Just(FaultKind::ReplyFailure),
    ];
    let url = if urls.is_empty() {
        Just(None).boxed()
    } else {
        proptest::option::of(proptest::sample::select(urls)).boxed()
    };
    let user = if users.is_empty() {
        Just(None).boxed()
    } else {
        proptest::option::of(proptest::sample::select(users)).boxed()
    };
    // Most faults land early, when transfers are in flight; some anywhere.
    let at = prop_oneof![
        5 => 0..60u64.min(h),
        3 => 0..3600u64.min(h),
        2 => 0..h,
    ];
    (
        kinds,
        at,
        proptest::option::of(1..h.max(2)),
        url,
        proptest::sample::select(STATUSES),
        proptest::option::of(1u32..=8),
        user,
    )
        .prop_map(move |(kind, at, len, url, status, count, user)| {
            let at_s = at;
            let windowed = matches!(
                kind,
                FaultKind::NetworkDown | FaultKind::Logoff | FaultKind::ConnectionReset
            );
            // Outages and resets always end, so a schedule cannot wedge the world.
            let until = if windowed {
                Some(span((at_s + len.unwrap_or(60).min(86_400)) * 1000))
            } else {
                len.map(|l| span((at_s + l) * 1000))
            };
            let needs_status = matches!(
                kind,
                FaultKind::HttpStatus | FaultKind::ServerAppFailure | FaultKind::ReplyFailure
            );
            FaultSpec {
                at: span(at_s * 1000),
                until,
                kind,
                url,
                status: needs_status.then_some(status),
                count,
                probability: None,
                user: if kind == FaultKind::Logoff {
                    Some(user.unwrap_or_else(|| "alice".into()))
                } else {
                    None
                },
            }
        })
        .prop_filter("a logoff needs a user", |f| {
            f.kind != FaultKind::Logoff || f.user.is_some()
        })
}

/// A fault schedule of up to `max` faults.
pub fn faults(
    horizon: Duration,
    urls: Vec<String>,
    users: Vec<String>,
    max: usize,
) -> impl Strategy<Value = Vec<FaultSpec>> {
    proptest::collection::vec(fault(horizon, urls, users), 0..=max)
}

/// One application call on one of `jobs` within `horizon`.
pub fn action(horizon: Duration, jobs: Vec<String>) -> impl Strategy<Value = ActionSpec> {
    let h = horizon.as_secs().max(1);
    let what = prop_oneof![
        3 => Just(UserAction::Resume),
        2 => Just(UserAction::Suspend),
        1 => Just(UserAction::Cancel),
        1 => Just(UserAction::Complete),
        1 => Just(UserAction::SetPriority),
        1 => Just(UserAction::SetMinimumRetryDelay),
        1 => Just(UserAction::SetNoProgressTimeout),
    ];
    (
        0..h,
        proptest::sample::select(jobs),
        what,
        0u32..4,
        0i64..7200,
    )
        .prop_map(|(at, job, what, prio, secs)| ActionSpec {
            at: span(at * 1000),
            user: None,
            job: Some(job),
            r#do: what,
            value: match what {
                UserAction::SetPriority => Some(toml::Value::String(
                    ["foreground", "high", "normal", "low"][prio as usize].into(),
                )),
                UserAction::SetMinimumRetryDelay | UserAction::SetNoProgressTimeout => {
                    Some(toml::Value::Integer(secs))
                }
                _ => None,
            },
            local: None,
            expect_hr: None,
        })
}

/// Up to `max` application calls.
pub fn actions(
    horizon: Duration,
    jobs: Vec<String>,
    max: usize,
) -> impl Strategy<Value = Vec<ActionSpec>> {
    if jobs.is_empty() {
        return Just(Vec::new()).boxed();
    }
    proptest::collection::vec(action(horizon, jobs), 0..=max).boxed()
}

/// A server's behaviour: bandwidth 10 KB/s-10 MB/s, latency 1 ms-2 s.
pub fn server_behaviour(base: ServerSpec) -> impl Strategy<Value = ServerSpec> {
    (10_000u64..10_000_000, 1u64..2000).prop_map(move |(bw, lat)| ServerSpec {
        bandwidth: Size(bw),
        latency: span(lat),
        ..base.clone()
    })
}

/// How [`around`] varies a scenario.
#[derive(Debug, Clone)]
pub struct AroundOptions {
    /// Faults and actions fall within this window (default: the scenario's
    /// duration, at most 3 days).
    pub horizon: Option<Duration>,
    /// At most this many random faults (default 6).
    pub max_faults: usize,
    /// At most this many random application calls (default 3).
    pub max_actions: usize,
    /// Keep the scenario's own faults (default true).
    pub keep_faults: bool,
    /// Keep the scenario's `expect` blocks as properties (default true).
    pub keep_expectations: bool,
}

impl Default for AroundOptions {
    fn default() -> Self {
        AroundOptions {
            horizon: None,
            max_faults: 6,
            max_actions: 3,
            keep_faults: true,
            keep_expectations: true,
        }
    }
}

/// Random faults, timings and extra application calls around a scenario's
/// jobs and callback scripts; the run's seed is drawn too.
pub fn around(base: Scenario, opts: AroundOptions) -> impl Strategy<Value = FuzzCase> {
    let horizon = opts
        .horizon
        .unwrap_or(base.duration.0.min(Duration::from_secs(3 * 86_400)));
    let urls: Vec<String> = base
        .jobs
        .iter()
        .flat_map(|j| {
            j.files.iter().map(|f| {
                f.remote
                    .split_once("://")
                    .map_or(f.remote.clone(), |(_, r)| r.to_owned())
            })
        })
        .collect();
    let users: Vec<String> = base.jobs.iter().map(|j| j.owner.clone()).collect();
    let jobs: Vec<String> = base.jobs.iter().map(|j| j.name.clone()).collect();
    let servers: Vec<BoxedStrategy<ServerSpec>> = base
        .servers
        .iter()
        .cloned()
        .map(|s| server_behaviour(s).boxed())
        .collect();
    (
        faults(horizon, urls, users, opts.max_faults),
        actions(horizon, jobs, opts.max_actions),
        servers,
        any::<u64>(),
    )
        .prop_map(move |(faults, actions, servers, seed)| {
            let mut s = base.clone();
            if !opts.keep_faults {
                s.faults.clear();
            }
            s.faults.extend(faults);
            s.actions.extend(actions);
            s.servers = servers;
            if !opts.keep_expectations {
                s.expect.clear();
            }
            FuzzCase { scenario: s, seed }
        })
}

/// Whole small scenarios: one server, one or two users, one to three jobs of
/// any type with scripted callbacks, and random faults.
pub fn small_scenarios() -> impl Strategy<Value = FuzzCase> {
    let script = (
        any::<bool>(),
        0u32..3,
        proptest::option::of(0u64..7200),
        0usize..4,
    )
        .prop_map(|(fail_always, fail_times, hold, act)| MethodScript {
            fail_times,
            fail_always: fail_always && fail_times == 0,
            failure: None,
            hold: hold.map(|h| span(h * 1000)),
            action: Some(
                [
                    CallbackAction::None,
                    CallbackAction::Resume,
                    CallbackAction::Cancel,
                    CallbackAction::Complete,
                ][act],
            ),
            action_every_time: false,
        });
    let job = (0usize..3, 0usize..2, 0usize..4, 0usize..2, any::<bool>())
        .prop_map(|(ty, owner, prio, file, cmd)| (ty, owner, prio, file, cmd));
    (
        proptest::collection::vec(job, 1..=3),
        proptest::option::of(script.clone()),
        proptest::option::of(script),
        any::<u64>(),
    )
        .prop_flat_map(|(jobs, on_error, on_transferred, seed)| {
            // Small: three virtual days; the 14- and 90-day timers are the
            // library scenarios' business.
            let mut s = Scenario::parse("name = \"generated\"\nduration = \"3d\"", "generated")
                .expect("valid base");
            s.servers.push(ServerSpec {
                host: "h.example.com".into(),
                bandwidth: Size(1_000_000),
                latency: span(50),
                files: BTreeMap::from([
                    ("/a".into(), Size(300_000)),
                    ("/b".into(), Size(3_000_000)),
                ]),
                reply_size: Size(2_000),
                app_delay: span(0),
            });
            s.callbacks.insert(
                "app".into(),
                CallbackScript {
                    job_error: on_error,
                    job_transferred: on_transferred,
                    ..Default::default()
                },
            );
            s.programs.insert(
                "notify.exe".into(),
                ProgramSpec {
                    exit_codes: vec![0],
                    ..Default::default()
                },
            );
            for (i, (ty, owner, prio, file, cmd)) in jobs.into_iter().enumerate() {
                let r#type = [JobType::Download, JobType::Upload, JobType::UploadReply][ty];
                let path = ["/a", "/b"][file];
                s.jobs.push(JobSpec {
                    name: format!("j{i}"),
                    owner: ["alice", "bob"][owner].into(),
                    r#type,
                    priority: crate::scenario::parse_priority(
                        ["foreground", "high", "normal", "low"][prio],
                    )
                    .ok(),
                    files: vec![FileSpec {
                        remote: format!("http://h.example.com{path}"),
                        local: format!("/d/{i}"),
                        size: (r#type != JobType::Download).then_some(Size(200_000)),
                    }],
                    notify_flags: None,
                    callback: Some("app".into()),
                    cmd_line: cmd.then(|| CmdLineSpec {
                        program: "notify.exe".into(),
                        parameters: None,
                    }),
                    retry_delay: None,
                    no_progress_timeout: None,
                    max_download_time: None,
                    create_at: span(0),
                    resume: true,
                });
            }
            around(
                s,
                AroundOptions {
                    horizon: Some(Duration::from_secs(86_400)),
                    ..Default::default()
                },
            )
            .prop_map(move |c| FuzzCase {
                seed: c.seed ^ seed,
                ..c
            })
        })
}

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

/// The model's own invariants, checked on every case:
/// final states are terminal; JobError only for jobs in ERROR (never for a
/// transient error); at most the policy's four notifications outstanding
/// per user; the model's state invariants at the end
/// ([`bitsim_model::Manager::check_invariants`]); and the scenario's own
/// `expect` blocks.
pub fn bits_invariants() -> Vec<Invariant> {
    vec![
        Invariant::new("final states are terminal", |v| {
            let mut finished: BTreeMap<&str, JobState> = BTreeMap::new();
            for e in &v.report.trace.0 {
                if let (Some(job), TraceEvent::Transition { from, to, .. }) =
                    (e.job.as_deref(), &e.event)
                {
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
        }),
        Invariant::new("JobError only for jobs in ERROR", |v| {
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
        }),
        Invariant::new("at most four notifications outstanding per user", |v| {
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
        }),
        Invariant::new("model invariants hold at the end", |v| {
            v.report.manager.check_invariants()
        }),
        Invariant::new("the scenario's expectations hold", |v| {
            if v.report.failures.is_empty() {
                Ok(())
            } else {
                Err(v
                    .report
                    .failures
                    .iter()
                    .map(|f| f.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
        }),
    ]
}

/// User-level example: every job reaches ACKNOWLEDGED or CANCELLED within
/// `d` of the start of the run (or the run ended before `d`).
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
/// before it is TRANSFERRED (BITS refuses with BG_E_INVALID_STATE \[COMPLETE\]).
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

type Factory = Arc<dyn Fn() -> Box<dyn Callback> + Send + Sync>;

/// A failing case after shrinking.
#[derive(Debug, Clone)]
pub struct FoundFailure {
    /// The minimal case.
    pub case: FuzzCase,
    /// The invariant that failed and why.
    pub message: String,
}

impl fmt::Display for FoundFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n\nminimal failing case (replay with `bitsim run FILE --seed {}`):\n{}",
            self.message, self.case.seed, self.case
        )
    }
}

/// The result of a campaign.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Cases run (including shrinking steps).
    pub cases: u64,
    /// Wall time spent.
    pub elapsed: Duration,
    /// The minimal failing case, if one failed.
    pub failure: Option<FoundFailure>,
}

impl Outcome {
    /// Cases per second.
    pub fn rate(&self) -> f64 {
        self.cases as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A fuzzing campaign: a case strategy, invariants, the user's callbacks.
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
    /// Plugs a fresh callback object from `make` into every run, in place of
    /// the scenario's script `name`.
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

    /// Runs one case and checks every invariant.
    pub fn check(&self, case: &FuzzCase) -> Result<Report, String> {
        let mut sim = Simulation::new(case.scenario.clone(), case.seed).without_effects_in_trace();
        for (name, make) in &self.callbacks {
            sim.set_callback(name, make());
        }
        let report = sim.run();
        let view = RunView {
            case,
            report: &report,
        };
        for inv in &self.invariants {
            inv.check(&view)
                .map_err(|why| format!("invariant failed: {}\n  {why}", inv.name()))?;
        }
        Ok(report)
    }

    /// A greedy pass after proptest's shrinking: drop any single fault or
    /// application call whose removal keeps the case failing, until none can
    /// go. proptest shrinks a tuple component by component and cannot come
    /// back to the fault list once it has moved on; this finishes the job.
    fn minimize(
        &self,
        mut case: FuzzCase,
        mut message: String,
        count: &std::sync::atomic::AtomicU64,
    ) -> (FuzzCase, String) {
        loop {
            let mut progressed = false;
            for faults in [true, false] {
                let mut i = 0;
                loop {
                    let list_len = if faults {
                        case.scenario.faults.len()
                    } else {
                        case.scenario.actions.len()
                    };
                    if i >= list_len {
                        break;
                    }
                    let mut candidate = case.clone();
                    if faults {
                        candidate.scenario.faults.remove(i);
                    } else {
                        candidate.scenario.actions.remove(i);
                    }
                    count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    match self.check(&candidate) {
                        Err(why) => {
                            (case, message) = (candidate, why);
                            progressed = true;
                        }
                        Ok(_) => i += 1,
                    }
                }
            }
            if !progressed {
                return (case, message);
            }
        }
    }

    /// Runs the campaign; stops at the first failure and shrinks it.
    pub fn run(&self) -> Outcome {
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
        let count = std::sync::atomic::AtomicU64::new(0);
        let started = Instant::now();
        let result = runner.run(&self.strategy, |case| {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(f) = &self.on_case {
                f();
            }
            self.check(&case).map(|_| ()).map_err(TestCaseError::fail)
        });
        let failure = match result {
            Ok(()) => None,
            Err(TestError::Fail(why, case)) => {
                let (case, message) = self.minimize(case, why.to_string(), &count);
                Some(FoundFailure { case, message })
            }
            Err(TestError::Abort(why)) => Some(FoundFailure {
                case: FuzzCase {
                    scenario: Scenario::parse("name = \"aborted\"", "-").expect("valid"),
                    seed: 0,
                },
                message: format!("campaign aborted: {why}"),
            }),
        };
        Outcome {
            cases: count.into_inner(),
            elapsed: started.elapsed(),
            failure,
        }
    }
}
