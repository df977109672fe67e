//! A tiny harness around [`Manager`]: a virtual clock, users, job creation,
//! an output log, and `drive_to` for putting a job in a given state.

#![allow(dead_code)]

use bitsim_model::*;
use std::time::Duration;

/// One day in seconds.
pub const DAY: u64 = 86_400;

/// The test harness: a manager, the current time, and every output seen.
pub struct H {
    /// The model under test.
    pub m: Manager,
    /// The harness clock.
    pub now: Time,
    /// Every output drained so far, in order.
    pub log: Vec<Output>,
    /// The default (non-admin) user.
    pub alice: Caller,
    /// A second non-admin user.
    pub bob: Caller,
    /// An administrator.
    pub admin: Caller,
    next_id: u32,
}

impl Default for H {
    fn default() -> Self {
        H::new()
    }
}

impl H {
    /// Default policy, time zero.
    pub fn new() -> H {
        H::with_policy(Policy::default())
    }

    /// A given policy, time zero.
    pub fn with_policy(policy: Policy) -> H {
        H {
            m: Manager::new(policy),
            now: Time::ZERO,
            log: Vec::new(),
            alice: Caller::user("alice"),
            bob: Caller::user("bob"),
            admin: Caller::admin("root"),
            next_id: 1,
        }
    }

    /// A fresh job id.
    pub fn fresh_id(&mut self) -> JobId {
        let n = self.next_id;
        self.next_id += 1;
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&n.to_be_bytes());
        JobId::from_random_bytes(b)
    }

    /// Drains the manager's outputs into the log and returns the new ones.
    pub fn drain(&mut self) -> Vec<Output> {
        let new: Vec<Output> = std::iter::from_fn(|| self.m.poll_output()).collect();
        self.log.extend(new.iter().cloned());
        new
    }

    /// Answers every callback delivered so far with `S_OK` and every
    /// command line with exit code 0 (already-answered ones are ignored).
    pub fn ack_all(&mut self) {
        self.drain();
        for o in self.log.clone() {
            match o {
                Output::Notify { id, .. } => {
                    self.m.handle_callback_result(self.now, id, Hresult::S_OK);
                }
                Output::RunCommand { id, .. } => {
                    self.m
                        .handle_command_result(self.now, id, CommandOutcome::Exited(0));
                }
                _ => {}
            }
        }
    }

    /// The job (without access checks).
    pub fn job(&self, id: JobId) -> &Job {
        self.m.job(id).expect("job exists")
    }

    /// The job's state.
    pub fn state(&self, id: JobId) -> JobState {
        self.job(id).state
    }

    /// Creates a job for `caller`.
    pub fn create_as(&mut self, caller: &Caller, ty: JobType) -> JobId {
        let id = self.fresh_id();
        self.m
            .create_job(self.now, caller, id, "job", ty)
            .expect("create_job");
        id
    }

    /// Adds file number `i` to a job of `caller`.
    pub fn add_as(&mut self, caller: &Caller, id: JobId, i: usize) {
        self.m
            .add_file(
                self.now,
                caller,
                id,
                &format!("https://example.com/f{i}"),
                &format!("/tmp/f{i}"),
            )
            .expect("add_file");
    }

    /// A download job of alice's with `n` files, drained.
    pub fn download(&mut self, n: usize) -> JobId {
        let alice = self.alice.clone();
        self.download_as(&alice, n)
    }

    /// A download job of `caller` with `n` files, drained.
    pub fn download_as(&mut self, caller: &Caller, n: usize) -> JobId {
        let id = self.create_as(caller, JobType::Download);
        for i in 0..n {
            self.add_as(caller, id, i);
        }
        self.drain();
        id
    }

    /// An upload (or upload-reply) job of alice's with its one file, drained.
    pub fn upload(&mut self, ty: JobType) -> JobId {
        let alice = self.alice.clone();
        let id = self.create_as(&alice, ty);
        self.add_as(&alice, id, 0);
        self.drain();
        id
    }

    /// The owner of a job, as a caller.
    pub fn owner(&self, id: JobId) -> Caller {
        let u = &self.job(id).owner;
        if *u == self.bob.user {
            self.bob.clone()
        } else if *u == self.admin.user {
            self.admin.clone()
        } else {
            self.alice.clone()
        }
    }

    /// Resume as the owner; panics on error.
    pub fn resume(&mut self, id: JobId) {
        let c = self.owner(id);
        self.m.resume(self.now, &c, id).expect("resume");
    }

    /// Registers callback `cb` as the owner.
    pub fn register(&mut self, id: JobId, cb: u64) {
        let c = self.owner(id);
        self.m
            .set_notify_interface(self.now, &c, id, Some(CallbackId(cb)))
            .expect("set_notify_interface");
    }

    /// Sets notify flags as the owner.
    pub fn flags(&mut self, id: JobId, flags: u32) {
        let c = self.owner(id);
        self.m
            .set_notify_flags(self.now, &c, id, flags)
            .expect("set_notify_flags");
    }

    /// Moves the clock forward by `d`, firing every timer that falls due
    /// on the way (at its due time), then calls `handle_timeout(now)`.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now.saturating_add(d);
        while let Some(t) = self.m.poll_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            self.m.handle_timeout(self.now);
        }
        self.now = end;
        self.m.handle_timeout(end);
    }

    /// [`H::advance`] by whole seconds.
    pub fn advance_secs(&mut self, s: u64) {
        self.advance(Duration::from_secs(s));
    }

    /// T14 for the job.
    pub fn connected(&mut self, id: JobId) {
        assert!(self.m.handle_connected(self.now, id), "handle_connected");
    }

    /// Size, full progress and done for file `i` (the job must be TRANSFERRING).
    pub fn finish_file(&mut self, id: JobId, i: usize, size: u64) {
        assert!(self.m.handle_file_size(self.now, id, i, size));
        assert!(self.m.handle_progress(self.now, id, i, size));
        assert!(self.m.handle_file_done(self.now, id, i));
    }

    /// Reports an HTTP error on file 0.
    pub fn http_error(&mut self, id: JobId, status: u16) {
        assert!(self.m.handle_transfer_error(
            self.now,
            id,
            TransferError::http(status, FileRef::File(0))
        ));
    }

    /// Puts a fresh SUSPENDED job with files into `target`, draining the
    /// outputs. QUEUED is reached by logging the owner off first.
    pub fn drive_to(&mut self, id: JobId, target: JobState) {
        use JobState::*;
        assert_eq!(self.state(id), Suspended, "drive_to starts from SUSPENDED");
        match target {
            Suspended => {}
            Queued => {
                let owner = self.job(id).owner.clone();
                self.m.handle_logoff(self.now, &owner);
                self.resume(id);
            }
            Connecting => self.resume(id),
            Transferring => {
                self.resume(id);
                self.connected(id);
            }
            TransientError => {
                self.drive_to(id, Transferring);
                self.http_error(id, 503);
            }
            Error => {
                self.drive_to(id, Transferring);
                self.http_error(id, 404);
            }
            Transferred => {
                self.drive_to(id, Transferring);
                let n = self.job(id).files.len();
                for i in 0..n {
                    self.finish_file(id, i, 100);
                }
                if self.job(id).job_type == JobType::UploadReply {
                    assert!(self.m.handle_reply_progress(self.now, id, 5, 10));
                    assert!(self.m.handle_reply_done(self.now, id, Some(vec![1; 10])));
                }
            }
            Acknowledged => {
                self.drive_to(id, Transferred);
                let c = self.owner(id);
                self.m.complete(self.now, &c, id).expect("complete");
            }
            Cancelled => {
                let c = self.owner(id);
                self.m.cancel(self.now, &c, id).expect("cancel");
            }
        }
        assert_eq!(self.state(id), target, "drive_to({target})");
        self.drain();
    }
}

/// A policy whose bandwidth window allows 0 bytes/s for the first hour
/// of each day: background jobs are blocked (T29).
pub fn blocking_policy() -> Policy {
    let mut p = Policy::default();
    p.bandwidth_windows.push(BandwidthWindow {
        start_secs: 0,
        end_secs: 3600,
        limit_bytes_per_sec: 0,
    });
    p
}

/// The `Transition` outputs as `(rule, from, to)`.
pub fn transitions(outs: &[Output]) -> Vec<(Rule, JobState, JobState)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Transition { rule, from, to, .. } => Some((*rule, *from, *to)),
            _ => None,
        })
        .collect()
}

/// The rules that fired, in order.
pub fn rules(outs: &[Output]) -> Vec<Rule> {
    transitions(outs).into_iter().map(|t| t.0).collect()
}

/// Asserts that `rule` fired for `job`, moving it `from` -> `to`, with `code`.
#[track_caller]
pub fn assert_rule(outs: &[Output], job: JobId, rule: Rule, from: JobState, to: JobState) {
    assert!(
        outs.iter().any(|o| matches!(o,
            Output::Transition { job: j, rule: r, from: f, to: t, .. }
                if *j == job && *r == rule && *f == from && *t == to)),
        "expected {rule} {from}->{to} for {job} in {outs:#?}"
    );
}

/// The code recorded by the first `Transition` of `rule`.
pub fn rule_code(outs: &[Output], rule: Rule) -> Option<Hresult> {
    outs.iter().find_map(|o| match o {
        Output::Transition { rule: r, code, .. } if *r == rule => *code,
        _ => None,
    })
}

/// The `Notify` outputs as `(id, job, kind)`.
pub fn notifies(outs: &[Output]) -> Vec<(NotificationId, JobId, NotifyKind)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Notify { id, job, kind, .. } => Some((*id, *job, *kind)),
            _ => None,
        })
        .collect()
}

/// The notification kinds delivered (callbacks and command lines).
pub fn kinds(outs: &[Output]) -> Vec<NotifyKind> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Notify { kind, .. } | Output::RunCommand { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect()
}

/// The id of the first `Notify` of `kind`.
#[track_caller]
pub fn notify_id(outs: &[Output], kind: NotifyKind) -> NotificationId {
    notifies(outs)
        .into_iter()
        .find(|n| n.2 == kind)
        .unwrap_or_else(|| panic!("no {kind:?} in {outs:#?}"))
        .0
}

/// The `RunCommand` outputs as `(id, kind)`.
pub fn commands(outs: &[Output]) -> Vec<(NotificationId, NotifyKind)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::RunCommand { id, kind, .. } => Some((*id, *kind)),
            _ => None,
        })
        .collect()
}

/// Counts outputs matching `f`.
pub fn count(outs: &[Output], f: impl Fn(&Output) -> bool) -> usize {
    outs.iter().filter(|o| f(o)).count()
}

/// The error code of a failed call.
#[track_caller]
pub fn code<T: std::fmt::Debug>(r: Result<T>) -> Hresult {
    r.expect_err("call must fail").code
}
