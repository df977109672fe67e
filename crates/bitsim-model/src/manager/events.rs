//! Events from the world: transport progress and errors, network, logon,
//! service restarts, callback and command-line results.

use super::*;

impl Manager {
    // ------------------------------------------------------------------
    // Transport events
    // ------------------------------------------------------------------

    /// The transport reached the server (T14). Ignored unless CONNECTING.
    pub fn handle_connected(&mut self, now: Time, id: JobId) -> bool {
        self.advance(now);
        if self.state_of(id) != Some(JobState::Connecting) {
            return false;
        }
        self.fire(id, Rule::T14, None);
        self.settle();
        true
    }

    /// The size of a file became known (HEAD, or the upload source's size).
    pub fn handle_file_size(&mut self, now: Time, id: JobId, file: usize, size: u64) -> bool {
        self.advance(now);
        let Some(job) = self.jobs.get_mut(&id).filter(|j| !j.state.is_final()) else {
            return false;
        };
        // A finished file is not redone [SETREMOTE]: its size stands.
        let Some(f) = job.files.get_mut(file).filter(|f| !f.transferred) else {
            return false;
        };
        if f.ranges.is_none() {
            f.bytes_total = size;
            if f.bytes_transferred > size {
                f.bytes_transferred = 0;
            }
        }
        true
    }

    /// `bytes` of `file` have now moved in total (T16). Progress resets the
    /// no-progress clock \[SETNOPROG\] and counts as activity \[GP\]. Ignored
    /// unless TRANSFERRING; counts never go backwards.
    pub fn handle_progress(&mut self, now: Time, id: JobId, file: usize, bytes: u64) -> bool {
        self.advance(now);
        if self.state_of(id) != Some(JobState::Transferring) {
            return false;
        }
        let Some(job) = self.jobs.get_mut(&id) else {
            return false;
        };
        let Some(f) = job.files.get_mut(file) else {
            return false;
        };
        let bytes = if f.bytes_total == BG_SIZE_UNKNOWN {
            bytes
        } else {
            bytes.min(f.bytes_total)
        };
        if bytes <= f.bytes_transferred {
            return false;
        }
        f.bytes_transferred = bytes;
        job.timers.no_progress_since = None;
        self.emit_transition(
            id,
            Rule::T16,
            JobState::Transferring,
            JobState::Transferring,
            None,
        );
        self.touch(id, true);
        self.settle();
        true
    }

    /// The remote file changed (size or Last-Modified): its counters drop
    /// back to 0 and it restarts \[FILEPROG\] \[SETREMOTE\].
    pub fn handle_file_reset(&mut self, now: Time, id: JobId, file: usize) -> bool {
        self.advance(now);
        let Some(job) = self.jobs.get_mut(&id).filter(|j| !j.state.is_final()) else {
            return false;
        };
        // Already-finished files are not redone [SETREMOTE] [REPLPREFIX]:
        // a TRANSFERRED job must not end up with a file left to move.
        let Some(f) = job.files.get_mut(file).filter(|f| !f.transferred) else {
            return false;
        };
        f.bytes_transferred = 0;
        f.transferred = false;
        f.bytes_total = BG_SIZE_UNKNOWN;
        job.current_file = job.current_file.min(file);
        true
    }

    /// Every byte of `file` moved (T17); then the next file starts, the
    /// reply begins (upload-reply), or the job is TRANSFERRED (T20).
    pub fn handle_file_done(&mut self, now: Time, id: JobId, file: usize) -> bool {
        self.advance(now);
        if self.state_of(id) != Some(JobState::Transferring) {
            return false;
        }
        let Some(job) = self.jobs.get_mut(&id) else {
            return false;
        };
        let is_download = !job.job_type.is_upload();
        let Some(f) = job.files.get_mut(file) else {
            return false;
        };
        if f.transferred {
            return false;
        }
        f.transferred = true;
        if f.bytes_total == BG_SIZE_UNKNOWN {
            f.bytes_total = f.bytes_transferred;
        }
        f.bytes_transferred = f.bytes_total;
        if !is_download {
            // Uploads: Completed when the upload finished [FILEPROG].
            f.completed = true;
        }
        job.timers.no_progress_since = None;
        self.emit_transition(
            id,
            Rule::T17,
            JobState::Transferring,
            JobState::Transferring,
            None,
        );
        if is_download {
            // FileTransferred: download files and the reply only [FILEXFER].
            self.raise(id, NotifyKind::FileTransferred(FileRef::File(file)));
        }
        self.advance_job(id);
        self.touch_unless_transferred(id);
        self.settle();
        true
    }

    /// The reply of an upload-reply job is arriving: `bytes` of `total`.
    /// `BytesTotal` leaves `BG_SIZE_UNKNOWN` here \[REPLYPROGST\].
    pub fn handle_reply_progress(&mut self, now: Time, id: JobId, bytes: u64, total: u64) -> bool {
        self.advance(now);
        if self.state_of(id) != Some(JobState::Transferring) {
            return false;
        }
        let Some(job) = self.jobs.get_mut(&id) else {
            return false;
        };
        let Some(reply) = job.reply.as_mut() else {
            return false;
        };
        if !job.files.first().is_some_and(|f| f.transferred) {
            return false;
        }
        let advanced = bytes > reply.bytes_transferred;
        if total != reply.bytes_total && reply.bytes_transferred > total {
            // A reply of another size than the one begun: it restarts, as a
            // file whose size changed does [FILEPROG]; progress never
            // exceeds the total [REPLYPROGST].
            reply.bytes_transferred = 0;
        }
        reply.bytes_total = total;
        reply.bytes_transferred = reply.bytes_transferred.max(bytes.min(total));
        if advanced {
            job.timers.no_progress_since = None;
            self.touch(id, true);
        }
        self.settle();
        true
    }

    /// The whole reply arrived: FileTransferred for the reply \[FILEXFER\],
    /// then TRANSFERRED (T20) \[LC-OLD\] \[JOBXFER\].
    pub fn handle_reply_done(&mut self, now: Time, id: JobId, data: Option<Vec<u8>>) -> bool {
        self.advance(now);
        if self.state_of(id) != Some(JobState::Transferring) {
            return false;
        }
        let Some(job) = self.jobs.get_mut(&id) else {
            return false;
        };
        if !job.files.first().is_some_and(|f| f.transferred) {
            return false;
        }
        let Some(reply) = job.reply.as_mut() else {
            return false;
        };
        // `None`: no reply, or one the driver did not keep in memory (over
        // MAX_REPLY_DATA); then the size its progress reported stands.
        let reported = Some(reply.bytes_total).filter(|&t| t != BG_SIZE_UNKNOWN);
        let len = data
            .as_ref()
            .map(|d| d.len() as u64)
            .or(reported)
            .unwrap_or(0);
        reply.bytes_total = len;
        reply.bytes_transferred = len;
        reply.done = true;
        reply.data = data;
        self.raise(id, NotifyKind::FileTransferred(FileRef::Reply));
        self.advance_job(id);
        self.touch_unless_transferred(id);
        self.settle();
        true
    }

    /// Before an upload-reply job posts its upload to the server
    /// application (the last fragment \[MC-BUP\] 3.2.5.2.4): `Some(error)` when
    /// it must not, because the application refused it with 403 before
    /// (decision A28 \[SRVAPPERR\]). The driver reports that error through
    /// [`Manager::handle_transfer_error`] instead of posting.
    pub fn server_application_refusal(&self, id: JobId) -> Option<TransferError> {
        let job = self.jobs.get(&id)?;
        job.reply.as_ref().filter(|r| r.server_app_refused)?;
        Some(TransferError::new(
            Hresult::http(403),
            ErrorContext::RemoteApplication,
            Some(FileRef::Reply),
        ))
    }

    /// The transport failed (T15, T21, T22, T25, T26). Ignored unless
    /// CONNECTING or TRANSFERRING.
    pub fn handle_transfer_error(&mut self, now: Time, id: JobId, error: TransferError) -> bool {
        self.advance(now);
        let Some(st) = self.state_of(id).filter(|s| s.is_active()) else {
            return false;
        };
        let class = error
            .class
            .unwrap_or_else(|| classify(error.code, error.context));
        let info = ErrorInfo {
            context: error.context,
            code: error.code,
            file: error.file,
            protocol: error.file.map(|_| "http".to_owned()),
        };
        let Some(job) = self.jobs.get_mut(&id) else {
            return false;
        };
        if error.context == ErrorContext::RemoteApplication
            && error.code == Hresult::http(403)
            && let Some(reply) = job.reply.as_mut()
        {
            // Decision A28 [SRVAPPERR]: never posted to the application again.
            reply.server_app_refused = true;
        }
        // EC grows on leaving CONNECTING/TRANSFERRING for an error [ERRCOUNT]
        // (CONNECTING too: decision A21), except for disconnects, a locked
        // volume (chkdsk) and bandwidth-policy blocks [ERRCOUNT] (T21).
        if !matches!(
            error.code,
            Hresult::BG_E_NETWORK_DISCONNECTED
                | Hresult::BG_E_DESTINATION_LOCKED
                | Hresult::BG_E_BLOCKED_BY_POLICY
        ) {
            job.error_count += 1;
        }
        if job.no_progress_timeout.is_zero() {
            // T26: NoProgressTimeout 0 makes every error fatal [SETNOPROG].
            self.fire(id, Rule::T26, Some(info));
        } else if class == ErrorClass::Fatal {
            self.fire(id, Rule::T22, Some(info));
        } else {
            let rule = if st == JobState::Connecting {
                Rule::T15
            } else {
                Rule::T21
            };
            self.enter_transient(id, rule, info);
        }
        self.settle();
        true
    }

    /// The server acknowledged Cancel-Session for a cancelled upload (X3).
    pub fn handle_upload_cancelled(&mut self, now: Time, id: JobId) -> bool {
        self.advance(now);
        let Some(job) = self.jobs.get_mut(&id).filter(|j| j.cancelling_upload) else {
            return false;
        };
        self.lingering.remove(&(job.creation_seq, id));
        job.cancelling_upload = false;
        job.timers.cancel_deadline = None;
        self.emit_transition(id, Rule::X3, JobState::Cancelled, JobState::Cancelled, None);
        self.outputs.push_back(Output::JobRemoved { job: id });
        self.settle();
        true
    }

    /// The network went down (T27) or came back (T28) \[USERS\].
    pub fn handle_network_change(&mut self, now: Time, up: bool) {
        self.advance(now);
        self.sched.dirty = true;
        if up == self.network_up {
            return;
        }
        self.network_up = up;
        let ids: Vec<JobId> = self.live_ids();
        for id in ids {
            let Some(st) = self.state_of(id) else {
                continue;
            };
            if up && st == JobState::TransientError {
                // T28: every TRANSIENT_ERROR job, whatever its code [USERS].
                self.fire(id, Rule::T28, None);
            } else if !up && Rule::T27.fires_from(st) {
                self.block(id, Rule::T27, Blocked::Network);
            }
        }
        self.settle();
    }

    /// The user logged on (`true`: [`Manager::handle_logon`]) or off
    /// ([`Manager::handle_logoff`]), as [`Manager::handle_network_change`]
    /// takes the network's change: what a front relays.
    pub fn handle_logged_on(&mut self, now: Time, user: &UserId, on: bool) {
        if on {
            self.handle_logon(now, user);
        } else {
            self.handle_logoff(now, user);
        }
    }

    /// The user logged on: their queued jobs may run again \[USERS\].
    pub fn handle_logon(&mut self, now: Time, user: &UserId) {
        self.advance(now);
        self.sched.dirty = true;
        self.logged_off.remove(user);
        self.touch_jobs_of(user);
        self.settle();
    }

    /// The user logged off: their active jobs go back to QUEUED and wait
    /// (T19, decision A12) \[STATE\] \[USERS\].
    pub fn handle_logoff(&mut self, now: Time, user: &UserId) {
        self.advance(now);
        self.sched.dirty = true;
        self.logged_off.insert(user.clone());
        self.touch_jobs_of(user);
        for id in self.live_ids() {
            let Some(job) = self.jobs.get(&id) else {
                continue;
            };
            if &job.owner == user && Rule::T19.fires_from(job.state) {
                self.fire(id, Rule::T19, None);
            }
        }
        self.settle();
    }

    /// The BITS service restarted (X2): the persisted queue survives, active
    /// transfers go back to QUEUED, registered callback pointers and
    /// outstanding notifications are gone \[SETNOTIFYIF\] \[REGCB\]; command lines
    /// persist. Level-triggered events are re-delivered when an app
    /// registers again.
    pub fn handle_service_restart(&mut self, now: Time) {
        self.advance(now);
        self.sched.dirty = true;
        self.in_flight.clear();
        self.pending.unpark_all();
        for id in self.live_ids() {
            if self.state_of(id).is_some_and(|s| s.is_active()) {
                self.fire(id, Rule::X2, None);
            }
            if let Some(job) = self.jobs.get_mut(&id) {
                job.notify_interface = None;
            }
        }
        self.settle();
    }

    /// The callback answered delivery `id` with `result`.
    ///
    /// JobTransferred and JobError need `S_OK`, FileTransferred a
    /// non-negative value; otherwise BITS calls again later (decision A9) or,
    /// when a command line is set, runs it instead and does not call the
    /// callback again for that event \[JOBXFER\] \[JOBERR\] \[FILEXFER\].
    /// JobModification results are ignored (decision A8). False (and
    /// nothing changes) if `id` is not a callback call in flight.
    pub fn handle_callback_result(
        &mut self,
        now: Time,
        id: NotificationId,
        result: Hresult,
    ) -> bool {
        self.advance(now);
        // Only a call to a callback object is answered here; a command
        // line's end comes through handle_command_result.
        if self.in_flight.get(id).is_none_or(|f| f.via_cmd_line) {
            return false;
        }
        let Some(f) = self.in_flight.remove(id) else {
            return false;
        };
        self.pending.unpark_user(&f.user);
        let ok = match f.kind {
            NotifyKind::JobTransferred | NotifyKind::JobError => result == Hresult::S_OK,
            NotifyKind::FileTransferred(_) => result.is_success(),
            NotifyKind::JobModification => true,
        };
        if !ok {
            let has_cmd = self
                .jobs
                .get(&f.job)
                .is_some_and(|j| j.notify_cmd_line.is_some());
            if has_cmd && f.kind.cmd_line_capable() {
                self.requeue(f.key, f.job, f.kind, self.now, true, f.attempt);
            } else {
                let at = self.now.saturating_add(self.callback_retry(f.job));
                self.requeue(f.key, f.job, f.kind, at, false, f.attempt);
                self.outputs.push_back(Output::TimerArmed {
                    job: f.job,
                    timer: TimerKind::NotificationRetry,
                    at,
                });
            }
        }
        self.settle();
        true
    }

    /// The notification command line of delivery `id` ended \[CMDLINE\] (false,
    /// and nothing changes, if `id` is not a command line in flight): exit
    /// code 0 ends the event; another code runs it again after the job's
    /// MinimumRetryDelay unless the job was completed or cancelled; a
    /// program that could not start re-sends the notification after
    /// MinimumRetryDelay (callback first).
    pub fn handle_command_result(
        &mut self,
        now: Time,
        id: NotificationId,
        outcome: CommandOutcome,
    ) -> bool {
        self.advance(now);
        // Only a command line's end is reported here; a callback's answer
        // comes through handle_callback_result.
        if self.in_flight.get(id).is_none_or(|f| !f.via_cmd_line) {
            return false;
        }
        let Some(f) = self.in_flight.remove(id) else {
            return false;
        };
        self.pending.unpark_user(&f.user);
        let delay = self
            .jobs
            .get(&f.job)
            .map_or(Duration::ZERO, |j| j.minimum_retry_delay);
        let at = self.now.saturating_add(delay);
        match outcome {
            CommandOutcome::Exited(0) => {}
            CommandOutcome::Exited(_) => self.requeue(f.key, f.job, f.kind, at, true, f.attempt),
            CommandOutcome::FailedToStart(_) => {
                self.requeue(f.key, f.job, f.kind, at, false, f.attempt)
            }
        }
        self.settle();
        true
    }
}
