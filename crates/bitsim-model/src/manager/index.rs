//! Derived indexes over the jobs: who waits at which priority, who runs,
//! and every job's next deadline, ordered. They make the scheduler, the
//! timers and [`Manager::poll_timeout`] cost O(log n) per event instead of a
//! scan of every job, so a run's cost grows linearly with its work.
//!
//! Derived state, rebuilt from the jobs: not persisted, not compared. The
//! [`JobTable`] remembers which jobs were handed out for change;
//! [`Manager::refresh_index`] brings exactly those up to date, and
//! [`Manager::check_invariants`] checks the result against a fresh build.

use super::*;

/// What one job contributes to the indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Entry {
    /// The earliest instant at which a timer of the job fires.
    pub(super) deadline: Option<Time>,
    /// `(priority, queue position)` while QUEUED and its owner is logged on.
    pub(super) waiting: Option<(JobPriority, u64)>,
    /// `(priority, queue position)` while CONNECTING/TRANSFERRING below
    /// FOREGROUND.
    pub(super) running_bg: Option<(JobPriority, u64)>,
    /// CONNECTING/TRANSFERRING at FOREGROUND.
    pub(super) fg_running: bool,
    /// QUEUED, whoever owns it.
    pub(super) queued: bool,
}

/// The indexes. Keys end with the job's creation position, so equal keys
/// keep creation order (FIFO tie-breaks).
#[derive(Debug, Clone, Default)]
pub(super) struct Index {
    /// False in a manager just deserialized, until the first refresh.
    pub(super) built: bool,
    entries: BTreeMap<u64, Entry>,
    /// `(deadline, creation position)`.
    pub(super) deadlines: BTreeSet<(Time, u64)>,
    /// `(priority, queue position, creation position)` of waiting jobs.
    pub(super) waiting: BTreeSet<(JobPriority, u64, u64)>,
    /// `(priority, queue position, creation position)` of running
    /// background jobs.
    pub(super) running_bg: BTreeSet<(JobPriority, u64, u64)>,
    /// How many FOREGROUND jobs run.
    pub(super) fg_running: u32,
    /// Creation positions of QUEUED jobs.
    pub(super) queued: BTreeSet<u64>,
    /// The owner of each live job, and how many live jobs each user owns
    /// (the per-user job limit).
    live_owner: BTreeMap<u64, UserId>,
    pub(super) live_per_user: BTreeMap<UserId, usize>,
}

impl PartialEq for Index {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Index {}

impl Index {
    /// The indexes of a manager with no jobs.
    pub(super) fn built() -> Index {
        Index {
            built: true,
            ..Index::default()
        }
    }

    /// Replaces what job `seq` contributes.
    pub(super) fn set(&mut self, seq: u64, new: Entry) {
        let old = if new == Entry::default() {
            self.entries.remove(&seq).unwrap_or_default()
        } else {
            self.entries.insert(seq, new).unwrap_or_default()
        };
        if old == new {
            return;
        }
        if let Some(t) = old.deadline {
            self.deadlines.remove(&(t, seq));
        }
        if let Some(t) = new.deadline {
            self.deadlines.insert((t, seq));
        }
        if let Some((p, q)) = old.waiting {
            self.waiting.remove(&(p, q, seq));
        }
        if let Some((p, q)) = new.waiting {
            self.waiting.insert((p, q, seq));
        }
        if let Some((p, q)) = old.running_bg {
            self.running_bg.remove(&(p, q, seq));
        }
        if let Some((p, q)) = new.running_bg {
            self.running_bg.insert((p, q, seq));
        }
        self.fg_running = self.fg_running - u32::from(old.fg_running) + u32::from(new.fg_running);
        if old.queued {
            self.queued.remove(&seq);
        }
        if new.queued {
            self.queued.insert(seq);
        }
    }

    /// Records that job `seq` is live and owned by `owner`, or not live.
    pub(super) fn set_owner(&mut self, seq: u64, owner: Option<&UserId>) {
        if self.live_owner.get(&seq) == owner {
            return;
        }
        if let Some(old) = self.live_owner.remove(&seq)
            && let Some(n) = self.live_per_user.get_mut(&old)
        {
            *n -= 1;
            if *n == 0 {
                self.live_per_user.remove(&old);
            }
        }
        if let Some(new) = owner {
            self.live_owner.insert(seq, new.clone());
            *self.live_per_user.entry(new.clone()).or_default() += 1;
        }
    }

    /// How many live jobs `user` owns.
    pub(super) fn live_jobs_of(&self, user: &UserId) -> usize {
        self.live_per_user.get(user).copied().unwrap_or(0)
    }

    /// Is some job of priority `p` waiting?
    pub(super) fn has_waiting(&self, p: JobPriority) -> bool {
        self.waiting
            .range((p, 0, 0)..=(p, u64::MAX, u64::MAX))
            .next()
            .is_some()
    }

    /// The entry of job `seq`.
    pub(super) fn entry(&self, seq: u64) -> Entry {
        self.entries.get(&seq).copied().unwrap_or_default()
    }
}

impl Manager {
    /// What `job` contributes to the indexes now.
    pub(super) fn entry_for(&self, job: &Job) -> Entry {
        let active = job.state.is_active();
        let fg = job.priority == JobPriority::Foreground;
        Entry {
            deadline: self.job_deadline(job),
            waiting: self.eligible(job).then_some((job.priority, job.queue_seq)),
            running_bg: (active && !fg).then_some((job.priority, job.queue_seq)),
            fg_running: active && fg,
            queued: job.state == JobState::Queued,
        }
    }

    /// Brings the indexes up to date for every job changed since the last
    /// call.
    pub(super) fn refresh_index(&mut self) {
        self.index.built = true;
        let touched = std::mem::take(&mut self.jobs.touched);
        for seq in touched {
            let Some(job) = self.jobs.jobs.get(seq as usize) else {
                continue;
            };
            // A changed job may have a new notification target or state:
            // its held-back notifications are looked at again.
            self.pending.unpark_job(job.id);
            let entry = self.entry_for(job);
            let live = self.live.contains(&(seq, job.id));
            let owner = live.then(|| job.owner.clone());
            self.index.set(seq, entry);
            self.index.set_owner(seq, owner.as_ref());
        }
    }

    /// Marks every live job of `user` as changed: whether it may wait
    /// depends on its owner's logon.
    pub(super) fn touch_jobs_of(&mut self, user: &UserId) {
        let seqs: Vec<u64> = self
            .live
            .iter()
            .map(|&(seq, _)| seq)
            .filter(|&seq| self.jobs.by_seq(seq).is_some_and(|j| j.owner == *user))
            .collect();
        for seq in seqs {
            self.jobs.touch_seq(seq);
        }
    }

    /// `Err` if the indexes differ from a fresh build.
    pub(super) fn check_index(&self) -> std::result::Result<(), String> {
        if !self.index.built {
            return Ok(());
        }
        let mut per_user: BTreeMap<&UserId, usize> = BTreeMap::new();
        for job in self.live_jobs() {
            *per_user.entry(&job.owner).or_default() += 1;
        }
        let counted: BTreeMap<&UserId, usize> = self
            .index
            .live_per_user
            .iter()
            .map(|(u, n)| (u, *n))
            .collect();
        if counted != per_user {
            return Err(format!(
                "live jobs per user are {counted:?}, a count says {per_user:?}"
            ));
        }
        let mut fresh = Index::default();
        for (seq, job) in self.jobs.values().enumerate() {
            fresh.set(seq as u64, self.entry_for(job));
        }
        for (seq, job) in self.jobs.values().enumerate() {
            let (have, want) = (self.index.entry(seq as u64), fresh.entry(seq as u64));
            // A running job past its MaximumDownloadTime has a deadline of
            // "now" at whatever instant it was last indexed: both are due.
            let due = |mut e: Entry| {
                if e.deadline.is_some_and(|t| t <= self.now) {
                    e.deadline = Some(Time::ZERO);
                }
                e
            };
            if due(have) != due(want) {
                return Err(format!(
                    "index of {} is {have:?}, a fresh build says {want:?}",
                    job.id
                ));
            }
        }
        Ok(())
    }
}

/// Rules the model refused to fire because the table does not allow them
/// from the job's state: a defect of the model, reported by
/// [`Manager::check_invariants`]. Derived: not persisted, not compared.
#[derive(Debug, Clone, Default)]
pub(super) struct Violations(Vec<String>);

impl Violations {
    /// Records one.
    pub(super) fn record(&mut self, what: String) {
        if self.0.len() < 16 {
            self.0.push(what);
        }
    }

    /// The first recorded, if any.
    pub(super) fn first(&self) -> Option<&str> {
        self.0.first().map(String::as_str)
    }
}

impl PartialEq for Violations {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Violations {}
