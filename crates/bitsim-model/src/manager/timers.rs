//! Timers: every deadline of a job and what fires when it passes.

use super::*;

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
            let Some(id) = self.jobs.by_seq(seq).map(|j| j.id) else {
                continue;
            };
            if self.expire_upload_cancel(id, now) {
                continue;
            }
            let Some(job) = self.jobs.get(&id) else {
                continue;
            };
            if job.state.is_final() {
                continue;
            }
            let inactivity = job
                .timers
                .last_activity
                .saturating_add(self.policy.job_inactivity_timeout);
            if inactivity <= now {
                // T31: cancelled and removed; temp and reply files deleted;
                // already-uploaded server files untouched [GP] [GP-INACT].
                self.cancel_job(id, Rule::T31);
                // A zero-length cancel window (NoProgressTimeout 0) is over now.
                self.expire_upload_cancel(id, now);
                continue;
            }
            match job.state {
                JobState::TransientError if job.blocked.is_none() => {
                    if let Some(since) = job.timers.no_progress_since
                        && since.saturating_add(job.no_progress_timeout) <= now
                    {
                        self.fire(id, Rule::T24, None);
                        continue;
                    }
                    if job.timers.retry_at.is_some_and(|t| t <= now) {
                        self.fire(id, Rule::T23, None);
                    }
                }
                JobState::Connecting | JobState::Transferring => {
                    let max = job.maximum_download_time;
                    if !max.is_zero() && job.active_time(now) >= max {
                        if let Some(job) = self.jobs.get_mut(&id) {
                            job.error_count += 1;
                        }
                        let info = ErrorInfo {
                            context: ErrorContext::GeneralQueueManager,
                            code: Hresult::BG_E_MAXDOWNLOAD_TIMEOUT,
                            file: None,
                            protocol: None,
                        };
                        self.fire(id, Rule::T30, Some(info));
                    }
                }
                _ => {}
            }
        }
        self.settle();
    }

    /// X3 by the clock: a cancelled upload whose Cancel-Session window has
    /// passed is removed anyway \[CANCEL\]. True if it fired.
    pub(super) fn expire_upload_cancel(&mut self, id: JobId, now: Time) -> bool {
        let Some(job) = self.jobs.get_mut(&id) else {
            return false;
        };
        if !(job.cancelling_upload && job.timers.cancel_deadline.is_some_and(|t| t <= now)) {
            return false;
        }
        self.lingering.remove(&(job.creation_seq, id));
        job.cancelling_upload = false;
        job.timers.cancel_deadline = None;
        self.emit_transition(id, Rule::X3, JobState::Cancelled, JobState::Cancelled, None);
        self.outputs.push_back(Output::JobRemoved { job: id });
        true
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

    pub(super) fn job_deadline(&self, job: &Job) -> Option<Time> {
        self.job_deadline_why(job).map(|(t, _)| t)
    }

    /// A job's earliest deadline and the timer behind it (the first of
    /// equal deadlines in the order below). The timer index and
    /// [`Manager::next_deadline`] both read it, so what inspection shows is
    /// what fires.
    pub(super) fn job_deadline_why(&self, job: &Job) -> Option<(Time, TimerKind)> {
        let mut next: Option<(Time, TimerKind)> = None;
        let mut consider = |t: Option<Time>, why: TimerKind| {
            if let Some(t) = t
                && next.is_none_or(|(n, _)| t < n)
            {
                next = Some((t, why));
            }
        };
        if job.cancelling_upload {
            consider(job.timers.cancel_deadline, TimerKind::UploadCancel);
        }
        if job.state.is_final() {
            return next;
        }
        match job.state {
            JobState::TransientError if job.blocked.is_none() => {
                consider(job.timers.retry_at, TimerKind::Retry);
                consider(
                    job.timers
                        .no_progress_since
                        .map(|s| s.saturating_add(job.no_progress_timeout)),
                    TimerKind::NoProgress,
                );
            }
            JobState::Connecting | JobState::Transferring
                if !job.maximum_download_time.is_zero() =>
            {
                let left = job
                    .maximum_download_time
                    .saturating_sub(job.active_time(self.now));
                consider(
                    Some(self.now.saturating_add(left)),
                    TimerKind::MaximumDownloadTime,
                );
            }
            _ => {}
        }
        consider(
            Some(
                job.timers
                    .last_activity
                    .saturating_add(self.policy.job_inactivity_timeout),
            ),
            TimerKind::Inactivity,
        );
        next
    }

    /// The next instant the model will act on job `id` by itself, and why:
    /// the job's own deadline (a retry after MinimumRetryDelay, the
    /// NoProgressTimeout, the MaximumDownloadTime, the cancel after the
    /// inactivity timeout, the end of a cancelled upload's window), or a
    /// re-call of one of its notifications that failed, whichever is first.
    /// `None`: nothing will happen to the job without a call or an event
    /// of the world (a transfer's progress, an answer).
    pub fn next_deadline(&self, id: JobId) -> Option<(Time, TimerKind)> {
        let job = self.jobs.get(&id)?;
        let own = self.job_deadline_why(job);
        let recall = self
            .pending
            .keys_of(id)
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
}
