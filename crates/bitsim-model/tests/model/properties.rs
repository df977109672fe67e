//! Property tests: random sequences of API calls and transport events over
//! several users and jobs never panic, every misuse fails with a failure
//! HRESULT, and the model's invariants hold after every step.
//!
//! The number of cases defaults to 256 (a few seconds in CI). For longer
//! runs set the environment variable `BITSIM_PROPTEST_CASES`, e.g.
//! `BITSIM_PROPTEST_CASES=20000 cargo test -p bitsim-model --release -- properties`.

use bitsim_model::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

const DAY_MS: u64 = 86_400_000;

fn cases() -> u32 {
    std::env::var("BITSIM_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

/// One step of a random run. `c` picks a caller, `j` a job (one past the
/// last created job is a bogus id), `f` a file index.
#[derive(Debug, Clone)]
enum Op {
    Create {
        c: u8,
        ty: u8,
        long_name: bool,
    },
    /// A BITS API call on job `j` by caller `c`, as the value every front
    /// uses ([`Call`]), applied with [`Call::apply`].
    Api {
        c: u8,
        j: u8,
        call: Call,
    },
    /// `Complete` whose renames fail when `fail_rename` (not expressible as
    /// a [`Call`], which always publishes).
    Complete {
        c: u8,
        j: u8,
        fail_rename: bool,
    },
    Connected {
        j: u8,
    },
    FileSize {
        j: u8,
        f: u8,
        size: u64,
    },
    Progress {
        j: u8,
        f: u8,
        bytes: u64,
    },
    FileDone {
        j: u8,
        f: u8,
    },
    FileReset {
        j: u8,
        f: u8,
    },
    ReplyProgress {
        j: u8,
        bytes: u64,
        total: u64,
    },
    ReplyDone {
        j: u8,
        len: u16,
    },
    TransferError {
        j: u8,
        code: u8,
        file: Option<u8>,
    },
    UploadCancelled {
        j: u8,
    },
    Network(bool),
    Logon(u8),
    Logoff(u8),
    ServiceRestart,
    CallbackResult {
        pick: u8,
        hr: u8,
    },
    CommandResult {
        pick: u8,
        exit: i32,
        start_fails: bool,
    },
    Advance {
        ms: u64,
    },
    RoundTrip,
    /// Moves job `j` one step along the happy path (connect, or finish its
    /// current file or reply), so runs reach the deep states.
    Drive {
        j: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let c = prop_oneof![3 => Just(0u8), 2 => 0u8..5];
    let j = prop_oneof![3 => 0u8..6, 1 => any::<u8>()];
    let f = 0u8..4;
    prop_oneof![
        3 => (c.clone(), 0u8..3, prop::bool::weighted(0.05)).prop_map(|(c, ty, long_name)| Op::Create { c, ty, long_name }),
        31 => (c.clone(), j.clone(), call()).prop_map(|(c, j, call)| Op::Api { c, j, call }),
        2 => (c.clone(), j.clone(), prop::bool::weighted(0.2)).prop_map(|(c, j, fail_rename)| Op::Complete { c, j, fail_rename }),
        5 => j.clone().prop_map(|j| Op::Connected { j }),
        3 => (j.clone(), f.clone(), 0u64..2000).prop_map(|(j, f, size)| Op::FileSize { j, f, size }),
        5 => (j.clone(), f.clone(), 0u64..2000).prop_map(|(j, f, bytes)| Op::Progress { j, f, bytes }),
        5 => (j.clone(), f.clone()).prop_map(|(j, f)| Op::FileDone { j, f }),
        1 => (j.clone(), f.clone()).prop_map(|(j, f)| Op::FileReset { j, f }),
        2 => (j.clone(), 0u64..100, 0u64..100).prop_map(|(j, bytes, total)| Op::ReplyProgress { j, bytes, total }),
        2 => (j.clone(), 0u16..100).prop_map(|(j, len)| Op::ReplyDone { j, len }),
        3 => (j.clone(), any::<u8>(), prop::option::of(0u8..5)).prop_map(|(j, code, file)| Op::TransferError { j, code, file }),
        1 => j.clone().prop_map(|j| Op::UploadCancelled { j }),
        1 => any::<bool>().prop_map(Op::Network),
        1 => (0u8..5).prop_map(Op::Logon),
        1 => (0u8..5).prop_map(Op::Logoff),
        1 => Just(Op::ServiceRestart),
        3 => (any::<u8>(), 0u8..6).prop_map(|(pick, hr)| Op::CallbackResult { pick, hr }),
        2 => (any::<u8>(), -1i32..3, prop::bool::weighted(0.2)).prop_map(|(pick, exit, start_fails)| Op::CommandResult { pick, exit, start_fails }),
        5 => prop_oneof![0u64..2_000, 0u64..700_000, 0u64..(20 * DAY_MS), Just(90 * DAY_MS)].prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::RoundTrip),
        10 => j.clone().prop_map(|j| Op::Drive { j }),
    ]
}

/// Every job-level call of the API with the arguments worth trying
/// (invalid ones included: raw priorities past LOW, undefined notify bits,
/// over-long texts, files that do not exist).
fn call() -> impl Strategy<Value = Call> {
    let text = |long: bool, n: usize, c: &str| c.repeat(if long { n } else { 3 });
    prop_oneof![
        4 => (0u16..1000).prop_map(|k| Call::AddFile {
            remote: "https://example.com/a".into(),
            local: format!("/tmp/p{k}"),
        }),
        1 => (0u16..600).prop_map(|n| Call::AddFileWithRanges {
            remote: "https://example.com/r".into(),
            local: "/tmp/r".into(),
            ranges: (0..u64::from(n))
                .map(|i| ByteRange { offset: i * 4, length: 2 })
                .collect(),
        }),
        4 => Just(Call::Resume),
        1 => Just(Call::Suspend),
        1 => Just(Call::Cancel),
        1 => (0u32..6).prop_map(|value| Call::SetPriorityRaw { value }),
        1 => prop::sample::select(JobPriority::ALL).prop_map(|priority| Call::SetPriority { priority }),
        2 => prop_oneof![Just(0x3Bu32), 0u32..0x50].prop_map(|f| Call::SetNotifyFlags { flags: NotifyFlags(f) }),
        3 => prop::option::weighted(0.8, 0u8..3).prop_map(|cb| Call::SetNotifyInterface {
            callback: cb.map(|c| CallbackId(c.into())),
        }),
        1 => any::<bool>().prop_map(|set| Call::SetNotifyCmdLine {
            program: set.then(|| "/bin/notify".into()),
            parameters: None,
        }),
        1 => (0u32..2000).prop_map(|seconds| Call::SetMinimumRetryDelay { seconds }),
        1 => prop_oneof![Just(0u32), 0u32..5000, Just(u32::MAX)].prop_map(|seconds| Call::SetNoProgressTimeout { seconds }),
        1 => (0u32..5000).prop_map(|seconds| Call::SetMaximumDownloadTime { seconds }),
        1 => prop::bool::weighted(0.1).prop_map(move |long| Call::SetDescription { text: text(long, 1025, "d") }),
        1 => prop::bool::weighted(0.05).prop_map(move |long| Call::SetDisplayName { name: text(long, 257, "n") }),
        1 => (0usize..4).prop_map(|file| Call::SetRemoteName {
            file,
            remote: "https://example.org/b".into(),
        }),
        1 => Just(Call::SetReplyFileName { name: "/tmp/reply".into() }),
        1 => Just(Call::TakeOwnership),
        2 => (0usize..2, any::<bool>()).prop_map(|(file, valid)| Call::SetValidationState { file, valid }),
        3 => prop::sample::select(vec![
            Call::GetJob,
            Call::EnumJobs { flags: 0 },
            Call::EnumJobs { flags: BG_JOB_ENUM_ALL_USERS },
            Call::GetState,
            Call::GetType,
            Call::GetPriority,
            Call::GetOwner,
            Call::GetDisplayName,
            Call::GetDescription,
            Call::GetError,
            Call::GetErrorCount,
            Call::GetNotifyFlags,
            Call::GetMinimumRetryDelay,
            Call::GetNoProgressTimeout,
            Call::GetMaximumDownloadTime,
            Call::GetProgress,
            Call::GetTimes,
            Call::GetNotifyCmdLine,
            Call::GetNotifyInterface,
            Call::EnumFiles,
            Call::GetReplyFileName,
            Call::GetReplyProgress,
            Call::GetReplyData,
        ]),
    ]
}

fn callers() -> [Caller; 5] {
    [
        Caller::user("alice"),
        Caller::user("bob"),
        Caller::user("carol"),
        Caller::admin("root"),
        Caller::admin("ops"),
    ]
}

const CODES: &[Hresult] = &[
    Hresult::BG_E_CONNECT_FAILURE,
    Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT,
    Hresult::WININET_E_TIMEOUT,
    Hresult::E_ACCESSDENIED,
    Hresult::BG_E_LOCAL_FILE_CHANGED,
    Hresult::E_FAIL,
];

const CB_RESULTS: &[Hresult] = &[
    Hresult::S_OK,
    Hresult::S_OK,
    Hresult::S_FALSE,
    Hresult::E_FAIL,
    Hresult::RPC_E_SERVER_UNAVAILABLE,
    Hresult(0x8007_000E),
];

/// The runner: the model plus what the test observes of it.
struct Run {
    m: Manager,
    now: Time,
    ids: Vec<JobId>,
    next_id: u32,
    /// Deliveries handed out and not answered: id -> user.
    outstanding: BTreeMap<NotificationId, UserId>,
    /// Jobs seen in a final state, and which.
    finals: BTreeMap<JobId, JobState>,
    /// Bytes transferred per job and file at the last step.
    progress: BTreeMap<(JobId, usize), u64>,
    /// Error count per job at the last step.
    errors: BTreeMap<JobId, u32>,
    /// Every callback call and command line run: when, which job, what.
    delivered: Vec<(Time, JobId, NotifyKind)>,
    /// Job and kind of every delivery handed out.
    kinds_of: BTreeMap<NotificationId, (JobId, NotifyKind)>,
    /// When each job last changed state.
    entered: BTreeMap<JobId, Time>,
}

impl Run {
    fn new(policy_window: bool, cap: u32) -> Run {
        let mut policy = Policy::default();
        // Smaller notification caps make the "fifth waits" rule bite often.
        policy.max_outstanding_notifications_per_user = cap;
        if policy_window {
            // MaxInternetBandwidth 0 from 01:00 to 02:00 every day (T29, X1).
            policy.bandwidth_windows.push(BandwidthWindow {
                start_secs: 3600,
                end_secs: 7200,
                limit_bytes_per_sec: 0,
            });
        }
        Run {
            m: Manager::new(policy),
            now: Time::ZERO,
            ids: Vec::new(),
            next_id: 0,
            outstanding: BTreeMap::new(),
            finals: BTreeMap::new(),
            progress: BTreeMap::new(),
            errors: BTreeMap::new(),
            delivered: Vec::new(),
            entered: BTreeMap::new(),
            kinds_of: BTreeMap::new(),
        }
    }

    fn job(&mut self, j: u8) -> JobId {
        let i = j as usize % (self.ids.len() + 1);
        match self.ids.get(i) {
            Some(id) => *id,
            None => JobId::from_random_bytes([0xEE; 16]), // bogus
        }
    }

    /// Fires every timer due up to `t`, checking after each.
    fn advance_to(&mut self, t: Time) -> Result<(), TestCaseError> {
        while let Some(due) = self.m.poll_timeout() {
            if due > t {
                break;
            }
            self.now = self.now.max(due);
            self.m.handle_timeout(self.now);
            self.check(false)?;
            // handle_timeout consumes what is due: a driver that loops on
            // poll_timeout must make progress.
            let next = self.m.poll_timeout();
            prop_assert!(
                next.is_none_or(|n| n > self.now),
                "poll_timeout still says {next:?} after handle_timeout({})",
                self.now
            );
        }
        self.now = self.now.max(t);
        // poll_timeout did not under-report: nothing is overdue at `t`
        // although handle_timeout was only called when it asked.
        let inactivity = self.m.policy().job_inactivity_timeout;
        for job in self.m.all_jobs().filter(|j| !j.state.is_final()) {
            prop_assert!(
                job.timers.last_activity.saturating_add(inactivity) > t,
                "{}: inactivity overdue",
                job.id
            );
            if job.state == JobState::TransientError && job.blocked.is_none() {
                prop_assert!(
                    job.timers.retry_at.is_some_and(|r| r > t),
                    "{}: retry overdue",
                    job.id
                );
            }
            if job.state.is_active() && !job.maximum_download_time.is_zero() {
                prop_assert!(
                    job.active_time(t) < job.maximum_download_time,
                    "{}: download time overdue",
                    job.id
                );
            }
        }
        Ok(())
    }

    /// Drains the outputs and checks every invariant.
    fn check(&mut self, resets_allowed: bool) -> Result<(), TestCaseError> {
        let outs: Vec<Output> = std::iter::from_fn(|| self.m.poll_output()).collect();
        for o in &outs {
            match o {
                Output::Notify {
                    id,
                    job,
                    user,
                    kind,
                    callback,
                } => {
                    // Last registrant wins: the call goes to the current registration.
                    let reg = self.m.job(*job).and_then(|j| j.notify_interface.clone());
                    prop_assert_eq!(
                        reg,
                        Some(Registration {
                            callback: *callback,
                            user: user.clone()
                        })
                    );
                    // FileTransferred is serialized per job and goes before
                    // JobTransferred/JobError [FILEXFER].
                    if !matches!(kind, NotifyKind::JobModification) {
                        let busy = self.outstanding.keys().any(|o| {
                            self.kinds_of.get(o).is_some_and(|(j, k)| {
                                j == job && matches!(k, NotifyKind::FileTransferred(_))
                            })
                        });
                        prop_assert!(
                            !busy,
                            "{kind:?} for {job} while a FileTransferred is outstanding"
                        );
                    }
                    self.kinds_of.insert(*id, (*job, *kind));
                    self.outstanding.insert(*id, user.clone());
                    self.delivered.push((self.m.now(), *job, *kind));
                    let st = self.m.job(*job).map(|j| j.state);
                    match kind {
                        NotifyKind::JobError => {
                            prop_assert_eq!(st, Some(JobState::Error), "JobError outside ERROR")
                        }
                        NotifyKind::JobTransferred => {
                            prop_assert_eq!(st, Some(JobState::Transferred))
                        }
                        _ => prop_assert!(st.is_some_and(|s| !s.is_final())),
                    }
                }
                Output::RunCommand {
                    id,
                    user,
                    kind,
                    job,
                    ..
                } => {
                    self.outstanding.insert(*id, user.clone());
                    self.delivered.push((self.m.now(), *job, *kind));
                    prop_assert!(matches!(
                        kind,
                        NotifyKind::JobTransferred | NotifyKind::JobError
                    ));
                }
                Output::Transition {
                    rule,
                    from,
                    to,
                    job,
                    at,
                    ..
                } => {
                    if from != to {
                        self.entered.insert(*job, *at);
                    }
                    prop_assert!(
                        rule.fires_from(*from) || *rule == Rule::T1,
                        "{rule} from {from}"
                    );
                    prop_assert_eq!(*to, rule.target(*from));
                    if let Some(f) = self.finals.get(job) {
                        prop_assert_eq!(f, to, "final job {} changed state", job);
                    }
                }
                _ => {}
            }
        }
        if let Err(e) = self.m.check_invariants() {
            return Err(TestCaseError::fail(format!("invariant: {e}")));
        }
        // At most four outstanding per user, and the model agrees with us.
        let mut per_user: BTreeMap<&UserId, usize> = BTreeMap::new();
        for u in self.outstanding.values() {
            *per_user.entry(u).or_default() += 1;
        }
        for (u, n) in &per_user {
            let cap = self.m.policy().max_outstanding_notifications_per_user as usize;
            prop_assert!(*n <= cap.min(4), "{u} has {n} outstanding (cap {cap})");
            prop_assert_eq!(self.m.outstanding_notifications(u), *n);
        }
        let inactivity = self.m.policy().job_inactivity_timeout;
        for job in self.m.all_jobs() {
            if let Some(f) = self.finals.get(&job.id) {
                prop_assert_eq!(*f, job.state, "final is terminal");
            }
            if job.state.is_final() {
                self.finals.insert(job.id, job.state);
            }
            if job.error.is_some() {
                prop_assert!(matches!(
                    job.state,
                    JobState::Error | JobState::TransientError
                ));
            }
            if job.get_error().is_ok() {
                prop_assert!(job.error.is_some());
            }
            for (i, f) in job.files.iter().enumerate() {
                if f.bytes_total != BG_SIZE_UNKNOWN {
                    prop_assert!(f.bytes_transferred <= f.bytes_total);
                }
                let before = self
                    .progress
                    .insert((job.id, i), f.bytes_transferred)
                    .unwrap_or(0);
                if !resets_allowed {
                    prop_assert!(
                        f.bytes_transferred >= before,
                        "progress went back on {} file {i}",
                        job.id
                    );
                }
            }
            if let Some(r) = &job.reply
                && r.bytes_total != BG_SIZE_UNKNOWN
            {
                prop_assert!(r.bytes_transferred <= r.bytes_total);
            }
            let p = job.progress();
            if p.bytes_total != BG_SIZE_UNKNOWN {
                prop_assert!(p.bytes_transferred <= p.bytes_total);
            }
            prop_assert!(p.files_transferred <= p.files_total);
            if !job.state.is_final() {
                prop_assert!(
                    self.now.since(job.timers.last_activity) <= inactivity,
                    "{} outlived 90 days",
                    job.id
                );
            }
            if job.job_type.is_upload() {
                prop_assert!(job.files.len() <= 1);
            }
            // Liveness of the scheduler and the timers.
            let blocking = self
                .m
                .policy()
                .bandwidth_windows
                .iter()
                .any(|w| w.limit_bytes_per_sec == 0 && w.contains(self.m.now().as_millis()));
            if blocking && job.priority != JobPriority::Foreground {
                prop_assert!(
                    !matches!(
                        job.state,
                        JobState::Queued | JobState::Connecting | JobState::Transferring
                    ),
                    "background job {} is {} inside a zero-bandwidth window",
                    job.id,
                    job.state
                );
            }
            if job.blocked == Some(Blocked::Policy) {
                prop_assert!(
                    job.priority != JobPriority::Foreground,
                    "foreground job {} blocked by policy",
                    job.id
                );
            }
            if job.state.is_active() {
                prop_assert!(
                    !job.all_transferred(),
                    "{} is {} with nothing to move",
                    job.id,
                    job.state
                );
            }
            if !self.m.network_up() {
                prop_assert!(
                    !matches!(job.state, JobState::Queued),
                    "{} QUEUED while the network is down",
                    job.id
                );
            }
            if job.state == JobState::TransientError {
                match job.blocked {
                    None => prop_assert!(
                        job.timers.retry_at.is_some(),
                        "{} in TRANSIENT_ERROR with no way out",
                        job.id
                    ),
                    Some(Blocked::Network) => prop_assert!(
                        !self.m.network_up(),
                        "{} blocked by a network that is up",
                        job.id
                    ),
                    Some(Blocked::Policy) => prop_assert!(
                        blocking,
                        "{} blocked by a policy window that is over",
                        job.id
                    ),
                }
            }
            if self.m.network_up()
                && job.state == JobState::Queued
                && self.m.is_logged_on(&job.owner)
            {
                if job.priority == JobPriority::Foreground {
                    prop_assert!(false, "foreground job {} left QUEUED", job.id);
                }
                let bg_active = self
                    .m
                    .all_jobs()
                    .any(|o| o.state.is_active() && o.priority != JobPriority::Foreground);
                prop_assert!(
                    bg_active || blocking,
                    "background job {} QUEUED with nothing running",
                    job.id
                );
            }
            let ec = self.errors.insert(job.id, job.error_count).unwrap_or(0);
            prop_assert!(job.error_count >= ec, "error count went down");
            if job.state == JobState::Transferred && !job.files_added_after_transfer {
                prop_assert!(
                    job.all_transferred(),
                    "{} TRANSFERRED with files left to move",
                    job.id
                );
            }
        }
        Ok(())
    }

    /// What each call promises, checked after it ran.
    fn check_call(
        &self,
        call: &Call,
        caller: &Caller,
        id: JobId,
        before: Option<JobState>,
        after: Option<JobState>,
        r: &bitsim_model::Result<Reply>,
    ) -> Result<(), TestCaseError> {
        let job = self.m.job(id);
        match (call, r) {
            // T2/T4/T5: out of SUSPENDED/ERROR; TRANSIENT_ERROR only if blocked again.
            (Call::Resume, Ok(_)) => {
                prop_assert!(
                    !matches!(after, Some(JobState::Suspended | JobState::Error)),
                    "Resume left {after:?}"
                );
                if after == Some(JobState::TransientError) {
                    prop_assert!(job.unwrap().blocked.is_some());
                }
                if before == Some(JobState::Transferred) && after != before {
                    prop_assert!(job.unwrap().files.iter().any(|f| !f.transferred));
                }
            }
            // A1: ERROR and TRANSFERRED stay; everything else is SUSPENDED.
            (Call::Suspend, Ok(_)) => match before {
                Some(JobState::Error | JobState::Transferred) => prop_assert_eq!(before, after),
                _ => prop_assert_eq!(after, Some(JobState::Suspended)),
            },
            (Call::Cancel, Ok(reply)) => {
                prop_assert!(reply.hresult().is_success());
                prop_assert_eq!(after, Some(JobState::Cancelled));
            }
            (Call::SetPriorityRaw { value }, r) => {
                if *value > 3 {
                    prop_assert!(r.is_err());
                }
                if r.is_ok() {
                    prop_assert_eq!(job.unwrap().priority.as_u32(), *value);
                }
            }
            (Call::SetNotifyFlags { flags }, r) if flags.0 > 0x3F => prop_assert!(r.is_err()),
            (Call::SetMinimumRetryDelay { .. }, Ok(_)) => {
                prop_assert!(job.unwrap().minimum_retry_delay >= Duration::from_secs(5));
            }
            (Call::SetDescription { text }, r) if text.len() > 1024 => prop_assert!(r.is_err()),
            (Call::SetDisplayName { name }, r) if name.len() > 256 => prop_assert!(r.is_err()),
            (Call::TakeOwnership, Ok(_)) => {
                prop_assert!(caller.admin);
                prop_assert!(job.unwrap().notify_cmd_line.is_none());
            }
            (Call::GetError, Ok(_)) => prop_assert!(job.unwrap().error.is_some()),
            (Call::GetState, Ok(reply)) => prop_assert_eq!(reply, &Reply::State(after.unwrap())),
            _ => {}
        }
        // A call that failed changes no state; a getter never does.
        if r.is_err() || call.is_getter() {
            prop_assert_eq!(before, after, "{} changed the state", call);
        }
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let cs = callers();
        let now = self.now;
        // API results: Ok, or an Error whose code is a failure HRESULT.
        macro_rules! api {
            ($e:expr) => {{
                let r = $e;
                if let Err(e) = &r {
                    prop_assert!(e.code.is_failure(), "error with a success code {:?}", e);
                }
                r
            }};
        }
        let mut resets = false;
        match op.clone() {
            Op::Create { c, ty, long_name } => {
                self.next_id += 1;
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&self.next_id.to_be_bytes());
                let id = JobId::from_random_bytes(b);
                let name = if long_name {
                    "n".repeat(257)
                } else {
                    "job".into()
                };
                let create = Call::CreateJob {
                    display_name: name,
                    job_type: JobType::ALL[ty as usize],
                };
                let r = api!(create.apply(&mut self.m, now, &cs[c as usize], id));
                if r.is_ok() {
                    self.ids.push(id);
                }
                prop_assert_eq!(r.is_err(), long_name);
            }
            Op::Api { c, j, call } => {
                let id = self.job(j);
                let caller = &cs[c as usize];
                let before = self.m.job(id).map(|j| j.state);
                let r = api!(call.apply(&mut self.m, now, caller, id));
                let after = self.m.job(id).map(|j| j.state);
                self.check_call(&call, caller, id, before, after, &r)?;
                if let Call::SetValidationState { valid: false, .. } = call {
                    resets = true;
                }
            }
            Op::Complete { c, j, fail_rename } => {
                let id = self.job(j);
                let before = self.m.job(id).map(|j| j.state);
                let r = api!(self.m.complete_with(now, &cs[c as usize], id, &mut |_, _| {
                    if fail_rename {
                        Err(Hresult::E_ACCESSDENIED)
                    } else {
                        Ok(())
                    }
                }));
                match r {
                    Ok(hr) => {
                        prop_assert!(hr == Hresult::S_OK || hr == Hresult::BG_S_PARTIAL_COMPLETE);
                        prop_assert_eq!(
                            self.m.job(id).map(|j| j.state),
                            Some(JobState::Acknowledged)
                        );
                    }
                    Err(_) => prop_assert_eq!(self.m.job(id).map(|j| j.state), before),
                }
            }
            Op::Connected { j } => {
                let id = self.job(j);
                self.m.handle_connected(now, id);
            }
            Op::FileSize { j, f, size } => {
                let id = self.job(j);
                self.m.handle_file_size(now, id, f.into(), size);
                resets = true;
            }
            Op::Progress { j, f, bytes } => {
                let id = self.job(j);
                self.m.handle_progress(now, id, f.into(), bytes);
            }
            Op::FileDone { j, f } => {
                let id = self.job(j);
                self.m.handle_file_done(now, id, f.into());
            }
            Op::FileReset { j, f } => {
                let id = self.job(j);
                self.m.handle_file_reset(now, id, f.into());
                resets = true;
            }
            Op::ReplyProgress { j, bytes, total } => {
                let id = self.job(j);
                self.m.handle_reply_progress(now, id, bytes, total);
            }
            Op::ReplyDone { j, len } => {
                let id = self.job(j);
                self.m
                    .handle_reply_done(now, id, (len > 0).then(|| vec![7; len.into()]));
            }
            Op::TransferError { j, code, file } => {
                let id = self.job(j);
                let err = if code % 3 == 0 {
                    TransferError::http(
                        300 + u16::from(code) % 300,
                        FileRef::File(file.unwrap_or(0).into()),
                    )
                } else {
                    let ctx = ErrorContext::ALL[code as usize % ErrorContext::ALL.len()];
                    TransferError::new(
                        CODES[code as usize % CODES.len()],
                        ctx,
                        file.map(|f| {
                            if f == 4 {
                                FileRef::Reply
                            } else {
                                FileRef::File(f.into())
                            }
                        }),
                    )
                };
                self.m.handle_transfer_error(now, id, err);
            }
            Op::UploadCancelled { j } => {
                let id = self.job(j);
                self.m.handle_upload_cancelled(now, id);
            }
            Op::Network(up) => self.m.handle_network_change(now, up),
            Op::Logon(u) => self.m.handle_logon(now, &cs[u as usize].user),
            Op::Logoff(u) => self.m.handle_logoff(now, &cs[u as usize].user),
            Op::ServiceRestart => {
                self.m.handle_service_restart(now);
                self.outstanding.clear();
                for job in self.m.all_jobs() {
                    prop_assert!(job.notify_interface.is_none() || job.state.is_final());
                }
            }
            Op::CallbackResult { pick, hr } => {
                if !self.outstanding.is_empty() {
                    let id = *self
                        .outstanding
                        .keys()
                        .nth(pick as usize % self.outstanding.len())
                        .unwrap();
                    let known_cb = self
                        .m
                        .handle_callback_result(now, id, CB_RESULTS[hr as usize]);
                    let known = known_cb
                        || self
                            .m
                            .handle_command_result(now, id, CommandOutcome::Exited(0));
                    prop_assert!(known, "outstanding delivery {id:?} unknown to the model");
                    self.outstanding.remove(&id);
                }
            }
            Op::CommandResult {
                pick,
                exit,
                start_fails,
            } => {
                if !self.outstanding.is_empty() {
                    let id = *self
                        .outstanding
                        .keys()
                        .nth(pick as usize % self.outstanding.len())
                        .unwrap();
                    let outcome = if start_fails {
                        CommandOutcome::FailedToStart(Hresult::E_FAIL)
                    } else {
                        CommandOutcome::Exited(exit)
                    };
                    let known = self.m.handle_command_result(now, id, outcome)
                        || self.m.handle_callback_result(now, id, Hresult::E_FAIL);
                    prop_assert!(known);
                    self.outstanding.remove(&id);
                }
            }
            Op::Advance { ms } => {
                let t = Time(self.now.0.saturating_add(ms));
                self.advance_to(t)?;
                self.m.handle_timeout(t);
            }
            Op::Drive { j } => {
                let id = self.job(j);
                let Some(job) = self.m.job(id) else {
                    return self.check(false);
                };
                match job.state {
                    JobState::Connecting => {
                        self.m.handle_connected(now, id);
                    }
                    JobState::Transferring => {
                        if let Some(i) = job.files.iter().position(|f| !f.transferred) {
                            let total = job.files[i].bytes_total;
                            let total = if total == BG_SIZE_UNKNOWN {
                                job.files[i].bytes_transferred.max(100)
                            } else {
                                total
                            };
                            self.m.handle_file_size(now, id, i, total);
                            self.m.handle_progress(now, id, i, total);
                            self.m.handle_file_done(now, id, i);
                        } else if job.reply.is_some() {
                            self.m.handle_reply_progress(now, id, 1, 2);
                            self.m.handle_reply_done(now, id, Some(vec![1, 2]));
                        }
                    }
                    _ => {}
                }
            }
            Op::RoundTrip => {
                self.check(false)?; // drain first: the output queue is not persisted
                let json = serde_json::to_string(&self.m)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let back: Manager =
                    serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(back == self.m, "serde round trip changed the manager");
                self.m = back;
            }
        }
        self.check(resets)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_runs_keep_every_invariant(
        window in prop::bool::weighted(0.3),
        cap in prop_oneof![3 => Just(4u32), 1 => 1u32..4],
        ops in prop::collection::vec(op(), 1..100),
    ) {
        let mut run = Run::new(window, cap);
        for op in &ops {
            // Timers due before the next step fire first.
            let t = run.now;
            run.advance_to(t)?;
            run.step(op)?;
        }
        // Quiesce: everyone logged on, network up, every delivery answered
        // successfully. Then a TRANSFERRED job that someone listens to has
        // had its JobTransferred (at least once, level-triggered) [CB].
        run.m.handle_network_change(run.now, true);
        for c in callers() {
            run.m.handle_logon(run.now, &c.user);
        }
        run.check(false)?;
        // The last round only answers: an hour of timers can fill every
        // notification slot again (JobModification of jobs taking turns),
        // and a JobError raised meanwhile waits for a free slot [CB].
        for round in 0..5 {
            for (id, _) in std::mem::take(&mut run.outstanding) {
                let now = run.now;
                let known = run.m.handle_callback_result(now, id, Hresult::S_OK)
                    || run.m.handle_command_result(now, id, CommandOutcome::Exited(0));
                prop_assert!(known);
            }
            run.check(false)?;
            if round == 4 {
                break;
            }
            let t = Time(run.now.0 + 3_600_000);
            run.advance_to(t)?;
            run.m.handle_timeout(t);
            run.check(false)?;
        }
        for job in run.m.all_jobs() {
            let listens = job.notify_interface.is_some() || job.notify_cmd_line.is_some();
            let (kind, flag) = match job.state {
                JobState::Transferred => (NotifyKind::JobTransferred, NotifyFlags::JOB_TRANSFERRED),
                JobState::Error => (NotifyKind::JobError, NotifyFlags::JOB_ERROR),
                _ => continue,
            };
            if listens && job.notify_flags.wants(flag) {
                let since = run.entered[&job.id];
                let told = run.delivered.iter().any(|(t, j, k)| *j == job.id && *k == kind && *t >= since);
                prop_assert!(told, "{} in {} since {since} and never told", job.id, job.state);
            }
        }
        // Let every timer run out: nothing outlives 90 days of inactivity.
        let end = Time(run.now.0 + 200 * DAY_MS);
        run.advance_to(end)?;
        run.m.handle_timeout(end);
        run.check(false)?;
        for job in run.m.all_jobs() {
            prop_assert!(job.state.is_final(), "{} still {} after 200 idle days", job.id, job.state);
        }
    }
}
