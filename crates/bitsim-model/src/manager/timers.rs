//! Timers: every deadline of a job and what fires when it passes, defined
//! together in one table ([`TimerKind`]'s `def`): the deadline feeds the
//! timer index ([`Manager::poll_timeout`]) and [`Manager::next_deadline`];
//! the expiry is what [`Manager::handle_timeout`] does when it is due.

use super::*;

/// The deadline of one timer for a job at the model's current time
/// (`None`: not armed).
type DeadlineFn = fn(&Manager, &Job) -> Option<Time>;
/// What fires when the timer of job `id` is due at `now`.
type ExpireFn = fn(&mut Manager, JobId, Time);

/// One timer's definition: its deadline and its expiry side by side (for
/// a job timer), what it is for, and its sources.
struct TimerDef {
    job: Option<(DeadlineFn, ExpireFn)>,
    why: &'static str,
    sources: &'static [&'static str],
}

impl TimerKind {
    /// The timers of a job, in the order they are looked at when several
    /// are due at once for one job (one fires per job and round).
    pub const JOB_TIMERS: [TimerKind; 5] = [
        TimerKind::UploadCancelWindow,
        TimerKind::Inactivity,
        TimerKind::NoProgress,
        TimerKind::Retry,
        TimerKind::MaxDownloadTime,
    ];

    /// What the timer is for and what happens when it passes, in a
    /// sentence with its rule.
    pub fn why(self) -> &'static str {
        self.def().why
    }

    /// The tags of its sources (see [`crate::sources::SOURCES`]).
    pub fn sources(self) -> &'static [&'static str] {
        self.def().sources
    }

    /// The table: every timer's deadline and expiry, together.
    fn def(self) -> TimerDef {
        match self {
            TimerKind::UploadCancelWindow => TimerDef {
                job: Some((
                    |_, j| j.timers.cancel_deadline.filter(|_| j.cancelling_upload),
                    |m, id, now| m.expire_upload_cancel(id, now),
                )),
                why: "a cancelled upload's window to tell the server (24 h, or the \
                      NoProgressTimeout if shorter) passed: the job is removed anyway (X3)",
                sources: &["CANCEL"],
            },
            TimerKind::Inactivity => TimerDef {
                job: Some((
                    |m, j| {
                        (!j.state.is_final()).then(|| {
                            j.timers
                                .last_activity
                                .saturating_add(m.policy.job_inactivity_timeout)
                        })
                    },
                    |m, id, now| {
                        // T31: cancelled and removed; temp and reply files
                        // deleted; already-uploaded server files untouched.
                        m.cancel_job(id, Rule::T31);
                        // A zero-length cancel window (NoProgressTimeout 0)
                        // is over now.
                        m.expire_upload_cancel(id, now);
                    },
                )),
                why: "JobInactivityTimeout passed without the job being modified or \
                      transferring: it is cancelled (T31)",
                sources: &["GP", "GP-INACT"],
            },
            TimerKind::NoProgress => TimerDef {
                job: Some((
                    |_, j| {
                        retrying(j)
                            .then_some(j.timers.no_progress_since)
                            .flatten()
                            .map(|s| s.saturating_add(j.no_progress_timeout))
                    },
                    |m, id, _| m.fire(id, Rule::T24, None),
                )),
                why: "NoProgressTimeout passed in TRANSIENT_ERROR without progress since \
                      the first transient error: the job goes to ERROR (T24)",
                sources: &["SETNOPROG", "GETERROR"],
            },
            TimerKind::Retry => TimerDef {
                job: Some((
                    |_, j| retrying(j).then_some(j.timers.retry_at).flatten(),
                    |m, id, _| m.fire(id, Rule::T23, None),
                )),
                why: "MinimumRetryDelay passed in TRANSIENT_ERROR: the job is queued \
                      again (T23)",
                sources: &["SETRETRY", "STATE"],
            },
            TimerKind::MaxDownloadTime => TimerDef {
                job: Some((
                    |m, j| {
                        let max = j.maximum_download_time;
                        let running =
                            matches!(j.state, JobState::Connecting | JobState::Transferring);
                        (running && !max.is_zero()).then(|| {
                            m.now
                                .saturating_add(max.saturating_sub(j.active_time(m.now)))
                        })
                    },
                    |m, id, now| {
                        let Some(job) = m.jobs.get_mut(&id) else {
                            return;
                        };
                        if job.active_time(now) < job.maximum_download_time {
                            return;
                        }
                        job.error_count += 1;
                        let info = ErrorInfo {
                            context: ErrorContext::GeneralQueueManager,
                            code: Hresult::BG_E_MAXDOWNLOAD_TIMEOUT,
                            file: None,
                            protocol: None,
                        };
                        m.fire(id, Rule::T30, Some(info));
                    },
                )),
                why: "MaximumDownloadTime of CONNECTING and TRANSFERRING time used up: \
                      ERROR with BG_E_MAXDOWNLOAD_TIMEOUT (T30)",
                sources: &["SETMAXDL"],
            },
            TimerKind::NotificationRetry => TimerDef {
                // The notification dispatcher's: armed per notification
                // (Output::TimerArmed), due in the pending queue.
                job: None,
                why: "a notification the callback or command line did not take is sent \
                      again after the job's MinimumRetryDelay (decision A9)",
                sources: &["JOBXFER", "JOBERR", "CMDLINE"],
            },
        }
    }
}

/// A job in TRANSIENT_ERROR that policy does not block: its retry and
/// no-progress timers run (a blocked job's do not, decision A14).
fn retrying(j: &Job) -> bool {
    j.state == JobState::TransientError && j.blocked.is_none()
}

impl Manager {
    /// Fires every timer due at or before `now`.
    ///
    /// Afterwards [`Manager::poll_timeout`] is `None` or later than `now`:
    /// what the scheduler starts on the way (e.g. a job whose
    /// MaximumDownloadTime is already used up) is handled in the same call.
    pub fn handle_timeout(&mut self, now: Time) {
        self.advance(now);
        self.sched.dirty = true;
        // Bounded: each round fires at least one rule; a handful suffices.
        for _ in 0..8 {
            self.fire_due_timers();
            if self.poll_timeout().is_none_or(|t| t > self.now) {
                break;
            }
        }
    }

    /// The earliest deadline of `job` at the model's current time and the
    /// timer it belongs to (on a tie, the first of
    /// [`TimerKind::JOB_TIMERS`]); `None` for an unknown job or one with no
    /// timer running. [`Manager::handle_timeout`] at that time fires it.
    ///
    /// A re-call of one of the job's notifications that failed
    /// ([`TimerKind::NotificationRetry`], the notification dispatcher's
    /// timer) counts too when it comes first, so what inspection shows is
    /// what happens next.
    pub fn next_deadline(&self, job: JobId) -> Option<(Time, TimerKind)> {
        let own = self.jobs.get(&job).and_then(|j| self.deadline_of(j));
        let recall = self
            .pending
            .keys_of(job)
            .into_iter()
            .filter_map(|k| self.pending.get(k))
            .filter(|p| p.not_before > self.now)
            .map(|p| p.not_before)
            .min()
            .map(|t| (t, TimerKind::NotificationRetry));
        match (own, recall) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    pub(super) fn deadline_of(&self, job: &Job) -> Option<(Time, TimerKind)> {
        let mut next: Option<(Time, TimerKind)> = None;
        for kind in TimerKind::JOB_TIMERS {
            if let Some((deadline, _)) = kind.def().job
                && let Some(t) = deadline(self, job)
                && next.is_none_or(|(n, _)| t < n)
            {
                next = Some((t, kind));
            }
        }
        next
    }

    pub(super) fn job_deadline(&self, job: &Job) -> Option<Time> {
        self.deadline_of(job).map(|(t, _)| t)
    }

    pub(super) fn fire_due_timers(&mut self) {
        let now = self.now;
        // Bandwidth-window edges (T29/X1) are the scheduler's: settle() below
        // runs it, since handle_timeout marks it dirty.
        // The jobs with a deadline at or before now, in creation order.
        self.refresh_index();
        let due: BTreeSet<u64> = self
            .index
            .deadlines
            .range(..=(now, u64::MAX))
            .map(|&(_, seq)| seq)
            .collect();
        for seq in due {
            let Some(job) = self.jobs.by_seq(seq) else {
                continue;
            };
            let id = job.id;
            // The first due timer of the table fires.
            let expire = TimerKind::JOB_TIMERS.into_iter().find_map(|kind| {
                let (deadline, expire) = kind.def().job?;
                deadline(self, job)
                    .is_some_and(|t| t <= now)
                    .then_some(expire)
            });
            if let Some(expire) = expire {
                expire(self, id, now);
            }
        }
        self.settle();
    }

    /// X3 by the clock: a cancelled upload whose Cancel-Session window has
    /// passed is removed anyway \[CANCEL\].
    pub(super) fn expire_upload_cancel(&mut self, id: JobId, now: Time) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if !(job.cancelling_upload && job.timers.cancel_deadline.is_some_and(|t| t <= now)) {
            return;
        }
        self.lingering.remove(&(job.creation_seq, id));
        job.cancelling_upload = false;
        job.timers.cancel_deadline = None;
        self.emit_transition(id, Rule::X3, JobState::Cancelled, JobState::Cancelled, None);
        self.outputs.push_back(Output::JobRemoved { job: id });
    }

    pub(super) fn policy_blocks(&self, now: Time) -> bool {
        self.policy
            .bandwidth_windows
            .iter()
            .any(|w| w.limit_bytes_per_sec == 0 && w.contains(now.as_millis()))
    }

    pub(super) fn next_policy_boundary(&self) -> Option<Time> {
        if !self
            .policy
            .bandwidth_windows
            .iter()
            .any(|w| w.limit_bytes_per_sec == 0)
        {
            return None;
        }
        let day_ms = 86_400_000;
        let base = self.now.as_millis() / day_ms * day_ms;
        let mut best: Option<u64> = None;
        for w in self
            .policy
            .bandwidth_windows
            .iter()
            .filter(|w| w.limit_bytes_per_sec == 0)
        {
            for edge in [w.start_secs, w.end_secs] {
                for day in [0, day_ms] {
                    // Saturating: the model never panics on input, even at
                    // the end of the clock.
                    let t = base
                        .saturating_add(day)
                        .saturating_add(u64::from(edge) * 1000);
                    if t > self.now.as_millis() {
                        best = Some(best.map_or(t, |b| b.min(t)));
                    }
                }
            }
        }
        best.map(Time)
    }
}
