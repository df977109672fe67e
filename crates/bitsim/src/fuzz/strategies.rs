//! proptest strategies for the world around a scenario: fault schedules,
//! server behaviour, timings, and (only when asked) application calls.
//!
//! Faults and server behaviour are BITS's environment: what a campaign
//! varies by default. Application calls ([`actions`]) are the program under
//! test; [`around`] adds them only with [`FuzzConfig::app_actions`].

use super::FuzzCase;
use crate::scenario::*;
use crate::units::{Size, Span};
use bitsim_model::{Call, JobPriority, JobType};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

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

/// One application call on one of `jobs` within `horizon`: the program
/// under test's side, used by [`around`] only with
/// [`FuzzConfig::app_actions`].
pub fn action(horizon: Duration, jobs: Vec<String>) -> impl Strategy<Value = ActionSpec> {
    let h = horizon.as_secs().max(1);
    let call = prop_oneof![
        3 => Just(Call::Resume),
        2 => Just(Call::Suspend),
        1 => Just(Call::Cancel),
        1 => Just(Call::Complete),
        1 => proptest::sample::select(JobPriority::ALL).prop_map(|priority| Call::SetPriority { priority }),
        1 => (0u32..7200).prop_map(|seconds| Call::SetMinimumRetryDelay { seconds }),
        1 => (0u32..7200).prop_map(|seconds| Call::SetNoProgressTimeout { seconds }),
    ];
    (0..h, proptest::sample::select(jobs), call)
        .prop_map(|(at, job, call)| ActionSpec::new(span(at * 1000), &job, call))
}

/// Up to `max` application calls.
pub fn actions(
    horizon: Duration,
    jobs: Vec<String>,
    max: usize,
) -> impl Strategy<Value = Vec<ActionSpec>> {
    if jobs.is_empty() || max == 0 {
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
///
/// By default only the world changes: faults (server statuses, resets,
/// name resolution, timeouts, network loss, logoff/logon, service
/// restarts, a full disk, changed or range-less server files, failing
/// server applications), server bandwidth and latency, and the timing of
/// all of these. The scenario's own jobs, callbacks, actions, faults and
/// properties are kept as written.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FuzzConfig {
    /// Faults and actions fall within this window (default: the scenario's
    /// duration, at most 3 days).
    pub horizon: Option<Duration>,
    /// At most this many random faults (default 6).
    pub max_faults: usize,
    /// Also inject random application calls (Resume, Suspend, Cancel,
    /// Complete, SetPriority, SetMinimumRetryDelay, SetNoProgressTimeout)
    /// on the scenario's jobs (default false). These change the program
    /// under test, not its environment: a scenario's properties may rightly
    /// fail under them (a stray Resume after JobError causes another
    /// JobError), so turn them on to fuzz BITS itself, or code whose
    /// properties hold whatever else calls the job.
    pub app_actions: bool,
    /// At most this many random application calls when `app_actions` is on
    /// (default 3).
    pub max_actions: usize,
}

impl Default for FuzzConfig {
    fn default() -> Self {
        FuzzConfig {
            horizon: None,
            max_faults: 6,
            app_actions: false,
            max_actions: 3,
        }
    }
}

impl FuzzConfig {
    /// The defaults with application calls switched on or off.
    pub fn with_app_actions(mut self, on: bool) -> Self {
        self.app_actions = on;
        self
    }
    /// The defaults with at most `n` random faults.
    pub fn with_max_faults(mut self, n: usize) -> Self {
        self.max_faults = n;
        self
    }
    /// At most `n` random application calls (when `app_actions` is on).
    pub fn with_max_actions(mut self, n: usize) -> Self {
        self.max_actions = n;
        self
    }
    /// Faults (and actions) fall within `d` of the start.
    pub fn with_horizon(mut self, d: Duration) -> Self {
        self.horizon = Some(d);
        self
    }
}

/// Random faults, server behaviour and timings (and, with
/// [`FuzzConfig::app_actions`], application calls) added to a scenario;
/// the run's seed is drawn too. The scenario's own faults and actions come
/// first in the case and are never removed by shrinking.
pub fn around(base: Scenario, opts: FuzzConfig) -> impl Strategy<Value = FuzzCase> {
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
    let max_actions = if opts.app_actions {
        opts.max_actions
    } else {
        0
    };
    (
        faults(horizon, urls, users, opts.max_faults),
        actions(horizon, jobs, max_actions),
        servers,
        any::<u64>(),
    )
        .prop_map(move |(faults, actions, servers, seed)| {
            let mut s = base.clone();
            let own_faults = s.faults.len();
            let own_actions = s.actions.len();
            s.faults.extend(faults);
            s.actions.extend(actions);
            s.servers = servers;
            FuzzCase {
                scenario: s,
                seed,
                own_faults,
                own_actions,
            }
        })
}

/// Whole small scenarios: one server, one or two users, one to three jobs of
/// any type with scripted callbacks, random faults and random application
/// calls (these scenarios fuzz BITS itself, so the calls are part of the
/// world here).
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
                    priority: Some(JobPriority::ALL[prio]),
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
            let config = FuzzConfig::default()
                .with_horizon(Duration::from_secs(86_400))
                .with_app_actions(true);
            around(s, config).prop_map(move |c| FuzzCase {
                seed: c.seed ^ seed,
                // Everything in a generated scenario is generated: all of
                // it may be shrunk away.
                own_faults: 0,
                own_actions: 0,
                ..c
            })
        })
}
