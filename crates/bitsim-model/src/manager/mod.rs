//! The sans-IO BITS service: jobs, users, scheduler, timers, notifications.
//!
//! Shape (quinn-proto): API calls and `handle_*` methods take the current
//! [`Time`] and mutate state; [`Manager::poll_output`] drains what the
//! driver must do or record; [`Manager::poll_timeout`] says when to call
//! [`Manager::handle_timeout`] next. Nothing here reads a clock, touches a
//! file, or draws a random number.

mod api;
mod events;
mod index;
mod invariants;
mod jobs;
mod notify;
mod output;
mod pending;
mod scheduler;
mod timers;
mod transitions;
mod validate;

use crate::classify::{ErrorClass, classify};
use crate::error::{Error, Result};
use crate::hresult::Hresult;
use crate::job::*;
use crate::policy::Policy;
use crate::table::Rule;
use crate::types::*;
use index::{Index, Violations};
use jobs::JobTable;
pub use output::*;
use pending::{InFlightTable, PendingQueue};
use scheduler::SchedCache;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// `MAX_PATH` \[CMDLINE\] \[FILEINFO\].
pub(crate) const MAX_PATH: usize = 260;
/// SetNotifyCmdLine parameters limit \[CMDLINE\].
pub(crate) const MAX_CMD_PARAMS: usize = 4000;
/// Display name limit \[CREATEJOB\].
pub(crate) const MAX_DISPLAY_NAME: usize = 256;
/// Description limit \[WINE-JOB\].
pub(crate) const MAX_DESCRIPTION: usize = 1024;
/// Remote URL limit \[FILEINFO\] \[SETREMOTE\].
pub(crate) const MAX_URL: usize = 2200;
/// MinimumRetryDelay floor \[SETRETRY\].
pub(crate) const MIN_RETRY_FLOOR: Duration = Duration::from_secs(5);

/// The BITS service of one machine: every user's jobs, the scheduler,
/// timers and the notification dispatcher. Serializable: a persisted
/// `Manager` is the queue that survives a service restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manager {
    policy: Policy,
    now: Time,
    /// Every job, in creation order (enumeration order, FIFO tie-breaks).
    jobs: JobTable,
    logged_off: BTreeSet<UserId>,
    network_up: bool,
    next_seq: u64,
    next_notification: u64,
    pending: PendingQueue,
    in_flight: InFlightTable,
    last_modification_dispatch: BTreeMap<JobId, Time>,
    /// Non-final jobs, in creation order: every scan of the scheduler and
    /// the timers walks these, not the finished jobs kept for held views.
    live: BTreeSet<(u64, JobId)>,
    /// Cancelled uploads still telling the server (X3), in creation order.
    lingering: BTreeSet<(u64, JobId)>,
    /// When the scheduler must run again (derived; not persisted, not compared).
    #[serde(skip)]
    sched: SchedCache,
    /// Waiting, running and deadline indexes (derived; not persisted, not compared).
    #[serde(skip)]
    index: Index,
    /// Rules refused by the table (derived; not persisted, not compared).
    #[serde(skip)]
    violations: Violations,
    #[serde(skip)]
    outputs: VecDeque<Output>,
}

impl Default for Manager {
    fn default() -> Self {
        Manager::new(Policy::default())
    }
}

impl Manager {
    /// An empty service with this policy, network up, everyone logged on.
    pub fn new(policy: Policy) -> Manager {
        Manager {
            policy,
            now: Time::ZERO,
            jobs: JobTable::default(),
            logged_off: BTreeSet::new(),
            network_up: true,
            next_seq: 0,
            next_notification: 0,
            pending: PendingQueue::default(),
            in_flight: InFlightTable::default(),
            last_modification_dispatch: BTreeMap::new(),
            outputs: VecDeque::new(),
            live: BTreeSet::new(),
            lingering: BTreeSet::new(),
            sched: SchedCache::default(),
            index: Index::built(),
            violations: Violations::default(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The latest time the model has seen.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Is the network up?
    pub fn network_up(&self) -> bool {
        self.network_up
    }

    /// Is `user` logged on? Users are logged on unless told otherwise.
    pub fn is_logged_on(&self, user: &UserId) -> bool {
        !self.logged_off.contains(user)
    }

    /// A job by id, without access checks, including finished ones (a held
    /// interface pointer keeps working: decision A16).
    pub fn job(&self, id: JobId) -> Option<&Job> {
        self.jobs.get(&id)
    }

    /// Every job ever created, in creation order, including finished ones.
    pub fn all_jobs(&self) -> impl Iterator<Item = &Job> {
        self.jobs.values()
    }

    /// Notifications delivered and not yet answered, for `user`.
    pub fn outstanding_notifications(&self, user: &UserId) -> usize {
        self.in_flight.count_for(user)
    }

    /// The notifications of job `id` delivered and not yet answered, in
    /// delivery order.
    pub fn outstanding_of(&self, id: JobId) -> Vec<Outstanding> {
        self.in_flight
            .iter()
            .filter(|(_, f)| f.job == id)
            .map(|(n, f)| Outstanding {
                id: *n,
                kind: f.kind,
                user: f.user.clone(),
                via_cmd_line: f.via_cmd_line,
                since: f.since,
                attempt: f.attempt,
            })
            .collect()
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Manager::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Time> {
        if !self.index.built {
            // A manager just deserialized: handle_timeout at once builds
            // the indexes and fires only what is due.
            return Some(self.now);
        }
        let mut next: Option<Time> = None;
        let mut consider = |t: Option<Time>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Time| n.min(t)));
            }
        };
        // Every job's own earliest deadline, in one ordered index.
        consider(self.index.deadlines.first().map(|&(t, _)| t));
        // A running background job's slice end matters only if someone of
        // its priority waits.
        for &(p, _, seq) in &self.index.running_bg {
            if self.index.has_waiting(p) {
                consider(self.jobs.by_seq(seq).and_then(|j| j.timers.slice_end));
            }
        }
        consider(self.pending.next_after(self.now));
        consider(self.next_policy_boundary());
        next
    }
}
