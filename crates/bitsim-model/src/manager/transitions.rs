//! Firing rules of the transition table and their bookkeeping.

use super::*;

impl Manager {
    // ------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------

    pub(super) fn advance(&mut self, now: Time) {
        // The model's clock is monotonic: an earlier `now` is taken as the
        // latest time seen [SETRETRY].
        if now > self.now {
            self.now = now;
            if self.sched.wake.is_some_and(|w| now >= w) {
                self.sched.dirty = true;
            }
        }
    }

    pub(super) fn state_of(&self, id: JobId) -> Option<JobState> {
        self.jobs.get(&id).map(|j| j.state)
    }

    pub(super) fn live_ids(&self) -> Vec<JobId> {
        self.live.iter().map(|&(_, id)| id).collect()
    }

    pub(super) fn live_jobs(&self) -> impl Iterator<Item = &Job> {
        self.live
            .iter()
            .filter_map(|&(seq, _)| self.jobs.by_seq(seq))
    }

    /// Access and state checks shared by every changing call \[USERS\] \[LC\].
    pub(super) fn job_for_change(&self, caller: &Caller, id: JobId) -> Result<&Job> {
        let job = self
            .jobs
            .get(&id)
            .ok_or(Error::new(Hresult::BG_E_NOT_FOUND))?;
        if job.owner != caller.user && !caller.admin {
            return Err(Error::new(Hresult::E_ACCESSDENIED));
        }
        if job.state.is_final() {
            return Err(Error::new(Hresult::BG_E_INVALID_STATE));
        }
        Ok(job)
    }

    pub(super) fn set_property(
        &mut self,
        now: Time,
        caller: &Caller,
        id: JobId,
        f: impl FnOnce(&mut Job) -> Result<()>,
    ) -> Result<()> {
        self.advance(now);
        self.job_for_change(caller, id)?;
        f(self
            .jobs
            .get_mut(&id)
            .ok_or(Error::new(Hresult::BG_E_NOT_FOUND))?)?;
        self.touch(id, true);
        self.settle();
        Ok(())
    }

    /// Marks a modification: ModificationTime moves \[TIMES\], activity resets
    /// the inactivity timer \[GP\], JobModification is raised \[JOBMOD\].
    pub(super) fn touch(&mut self, id: JobId, activity: bool) {
        let now = self.now;
        if let Some(job) = self.jobs.get_mut(&id) {
            job.times.modification_time = now;
            if activity {
                job.timers.last_activity = now;
            }
            if !job.state.is_final() {
                self.raise(id, NotifyKind::JobModification);
            }
        }
    }

    /// [`Manager::touch`] after a file finished: when that finish moved the
    /// job into TRANSFERRED (T20) the only change is the state change, which
    /// raises JobTransferred and no JobModification \[JOBMOD\] (decision A8).
    pub(super) fn touch_unless_transferred(&mut self, id: JobId) {
        if self.jobs.get(&id).map(|j| j.state) == Some(JobState::Transferred) {
            self.touch_quiet(id);
        } else {
            self.touch(id, true);
        }
    }

    /// ModificationTime and activity move, but no JobModification is raised:
    /// for calls whose only effect is entering ERROR or TRANSFERRED \[JOBMOD\].
    pub(super) fn touch_quiet(&mut self, id: JobId) {
        let now = self.now;
        if let Some(job) = self.jobs.get_mut(&id) {
            job.times.modification_time = now;
            job.timers.last_activity = now;
        }
    }

    pub(super) fn emit_transition(
        &mut self,
        id: JobId,
        rule: Rule,
        from: JobState,
        to: JobState,
        code: Option<Hresult>,
    ) {
        self.outputs.push_back(Output::Transition {
            at: self.now,
            job: id,
            rule,
            from,
            to,
            code,
        });
    }

    /// Applies `rule` to job `id`: the target comes from the table.
    ///
    /// The table is enforced in every build: a rule that may not fire from
    /// the job's state changes nothing and is recorded as a violation, which
    /// [`Manager::check_invariants`] reports (the property tests and the
    /// fuzzer's invariants call it).
    pub(super) fn fire(&mut self, id: JobId, rule: Rule, error: Option<ErrorInfo>) {
        let now = self.now;
        let Some(job) = self.jobs.get_mut(&id) else {
            self.violations
                .record(format!("{rule} fired on unknown job {id}"));
            return;
        };
        let from = job.state;
        if !rule.fires_from(from) {
            self.violations
                .record(format!("{rule} may not fire from {from} (job {id})"));
            return;
        }
        let to = rule.target(from);
        self.sched.dirty = true;
        if to.is_final() {
            self.live.remove(&(job.creation_seq, id));
        }
        let was_active = from.is_active();
        if was_active && !to.is_active() {
            job.timers.active_used_ms += job
                .timers
                .active_since
                .map_or(0, |s| now.since(s).as_millis() as u64);
            job.timers.active_since = None;
            job.timers.slice_end = None;
        }
        if !was_active && to.is_active() {
            job.timers.active_since = Some(now);
            job.timers.slice_end = Some(now.saturating_add(self.policy.time_slice));
        }
        if let Some(e) = error {
            job.error = Some(e);
        }
        if !matches!(to, JobState::Error | JobState::TransientError) {
            // Error info lives only in ERROR/TRANSIENT_ERROR (decision A17).
            job.error = None;
            job.blocked = None;
            job.timers.retry_at = None;
        }
        if to == JobState::Queued && from != JobState::Queued {
            job.queue_seq = self.next_seq;
            self.next_seq += 1;
        }
        if to == JobState::Transferred {
            job.times.transfer_completion_time = Some(now);
            job.files_added_after_transfer = false;
        }
        job.state = to;
        let code = job
            .error
            .as_ref()
            .map(|e| e.code)
            .filter(|_| matches!(to, JobState::Error | JobState::TransientError));
        // Every way out of CONNECTING/TRANSFERRING stops the transfer, also
        // when the transport itself reported the end (a driver treats a stop
        // of a transfer that is over as nothing to do). Cancel (T9),
        // Complete (T10) and expiry (T31) emitted it already, ahead of their
        // file effects (stop_if_active).
        let stop =
            was_active && !to.is_active() && !matches!(rule, Rule::T9 | Rule::T10 | Rule::T31);
        self.emit_transition(id, rule, from, to, if from != to { code } else { None });
        if stop {
            self.outputs.push_back(Output::StopTransfer { job: id });
        }
        if from != to {
            if let Some(job) = self.jobs.get_mut(&id) {
                job.times.modification_time = now;
            }
            self.purge_invalid_pending(id);
            match to {
                // No JobModification on entering ERROR or TRANSFERRED [JOBMOD].
                JobState::Error => self.raise(id, NotifyKind::JobError),
                JobState::Transferred => self.raise(id, NotifyKind::JobTransferred),
                JobState::Acknowledged | JobState::Cancelled => {}
                _ => self.raise(id, NotifyKind::JobModification),
            }
        }
    }

    pub(super) fn enter_transient(&mut self, id: JobId, rule: Rule, info: ErrorInfo) {
        let now = self.now;
        self.fire(id, rule, Some(info));
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        // The no-progress clock starts at the first transient error [SETNOPROG].
        let since = *job.timers.no_progress_since.get_or_insert(now);
        let deadline = since.saturating_add(job.no_progress_timeout);
        if job.minimum_retry_delay > job.no_progress_timeout {
            // T25: the retry would come after the deadline: no retry at all [SETRETRY].
            self.fire(id, Rule::T25, None);
        } else if deadline <= now {
            self.fire(id, Rule::T24, None);
        } else {
            let at = now.saturating_add(job.minimum_retry_delay);
            job.timers.retry_at = Some(at);
            self.outputs.push_back(Output::TimerArmed {
                job: id,
                timer: TimerKind::Retry,
                at,
            });
            self.outputs.push_back(Output::TimerArmed {
                job: id,
                timer: TimerKind::NoProgress,
                at: deadline,
            });
        }
    }

    pub(super) fn block(&mut self, id: JobId, rule: Rule, why: Blocked) {
        let (code, context) = match why {
            Blocked::Network => (
                Hresult::BG_E_NETWORK_DISCONNECTED,
                ErrorContext::GeneralTransport,
            ),
            Blocked::Policy => (
                Hresult::BG_E_BLOCKED_BY_POLICY,
                ErrorContext::GeneralQueueManager,
            ),
        };
        let info = ErrorInfo {
            context,
            code,
            file: None,
            protocol: None,
        };
        // EC not incremented; no retry timer [ERRCOUNT] [STATE] [GP].
        self.fire(id, rule, Some(info));
        if let Some(job) = self.jobs.get_mut(&id) {
            job.blocked = Some(why);
        }
    }

    /// Emits StopTransfer before the caller's file effects; the rule that
    /// follows (T9, T10, T31) does the timer bookkeeping.
    pub(super) fn stop_if_active(&mut self, id: JobId) {
        if self.state_of(id).is_some_and(|s| s.is_active()) {
            self.outputs.push_back(Output::StopTransfer { job: id });
        }
    }

    /// Cancel (T9) or inactivity expiry (T31).
    pub(super) fn cancel_job(&mut self, id: JobId, rule: Rule) {
        self.stop_if_active(id);
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let upload_unfinished =
            job.job_type.is_upload() && !job.files.first().is_some_and(|f| f.transferred);
        let mut deletes: Vec<FileRef> = job
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.has_temp && !f.completed)
            .map(|(i, _)| FileRef::File(i))
            .collect();
        if job
            .reply
            .as_ref()
            .is_some_and(|r| r.bytes_total != BG_SIZE_UNKNOWN)
        {
            // Upload-reply: Cancel after the upload cancels the reply [COMPLCAN].
            deletes.push(FileRef::Reply);
        }
        let has_files = !job.files.is_empty();
        let window = self
            .policy
            .upload_cancel_window
            .min(job.no_progress_timeout);
        for file in deletes {
            self.outputs
                .push_back(Output::DeleteTempFile { job: id, file });
        }
        // A server session exists once the upload has ever connected.
        let started_upload = upload_unfinished && has_files && job.started;
        self.fire(id, rule, None);
        let now = self.now;
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        for f in &mut job.files {
            f.has_temp = false;
        }
        job.removed = true;
        if started_upload {
            // Tell the server; linger up to 24 h or the no-progress timeout [CANCEL].
            job.cancelling_upload = true;
            job.timers.cancel_deadline = Some(now.saturating_add(window));
            self.lingering.insert((job.creation_seq, id));
            self.outputs
                .push_back(Output::CancelUploadSession { job: id });
        } else {
            self.outputs.push_back(Output::JobRemoved { job: id });
        }
        self.purge_invalid_pending(id);
    }

    pub(super) fn finish(&mut self, id: JobId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.removed = true;
        self.outputs.push_back(Output::JobRemoved { job: id });
        self.purge_invalid_pending(id);
    }

    /// After a file finished: next file, the reply, or TRANSFERRED.
    pub(super) fn advance_job(&mut self, id: JobId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if let Some(next) = job.files.iter().position(|f| !f.transferred) {
            job.current_file = next;
            let offset = job.files[next].bytes_transferred;
            if !job.job_type.is_upload() {
                job.files[next].has_temp = true;
            }
            self.outputs.push_back(Output::StartTransfer {
                job: id,
                file: FileRef::File(next),
                offset,
            });
        } else if job.reply.as_ref().is_some_and(|r| !r.done) {
            let offset = job.reply.as_ref().map_or(0, |r| r.bytes_transferred);
            self.outputs.push_back(Output::StartTransfer {
                job: id,
                file: FileRef::Reply,
                offset,
            });
        } else {
            self.fire(id, Rule::T20, None);
        }
    }
}
