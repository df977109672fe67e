//! Notifications: raising, coalescing, the four-per-user dispatcher.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Pending {
    pub(super) job: JobId,
    pub(super) kind: NotifyKind,
    pub(super) not_before: Time,
    /// The callback failed and the command line took over: the callback is
    /// not called again for this event \[JOBXFER\] \[JOBERR\].
    pub(super) via_cmd_line: bool,
    /// Deliveries of this event so far (0: never delivered).
    #[serde(default)]
    pub(super) attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct InFlight {
    pub(super) job: JobId,
    pub(super) kind: NotifyKind,
    pub(super) user: UserId,
    pub(super) via_cmd_line: bool,
    /// The pending key the event was raised under: a re-call keeps it, so
    /// a failed FileTransferred still goes before the events raised after
    /// it \[FILEXFER\].
    #[serde(default)]
    pub(super) key: u64,
    /// When it was delivered.
    #[serde(default)]
    pub(super) since: Time,
    /// Which delivery of the event this is (1: the first).
    #[serde(default)]
    pub(super) attempt: u32,
}

impl Manager {
    // ---------------- notifications ----------------

    pub(super) fn raise(&mut self, id: JobId, kind: NotifyKind) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        if !job.notify_flags.wants(kind.flag()) {
            return;
        }
        // Coalesce: one pending entry per job and event.
        if self.pending.key_of(id, kind).is_some() {
            return;
        }
        let mut not_before = self.now;
        if kind == NotifyKind::JobModification
            && let Some(last) = self.last_modification_dispatch.get(&id)
        {
            not_before = not_before.max(last.saturating_add(self.policy.min_notification_interval));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.insert(
            seq,
            Pending {
                job: id,
                kind,
                not_before,
                via_cmd_line: false,
                attempts: 0,
            },
        );
    }

    /// Puts a delivery back under its original key `seq`, so it keeps its
    /// place before events raised after it (FileTransferred ordering
    /// \[FILEXFER\]).
    pub(super) fn requeue(
        &mut self,
        seq: u64,
        id: JobId,
        kind: NotifyKind,
        at: Time,
        via_cmd_line: bool,
        attempts: u32,
    ) {
        self.pending.insert(
            seq,
            Pending {
                job: id,
                kind,
                not_before: at,
                via_cmd_line,
                attempts,
            },
        );
    }

    pub(super) fn rearm_level_triggered(&mut self, id: JobId) {
        match self.jobs.get(&id).map(|j| j.state) {
            Some(JobState::Transferred) => self.raise(id, NotifyKind::JobTransferred),
            Some(JobState::Error) => self.raise(id, NotifyKind::JobError),
            _ => {}
        }
    }

    /// A pending JobTransferred/JobError only stands while the job is in
    /// that state (decision A10) and its flag is set; nothing is delivered
    /// for finished jobs.
    pub(super) fn still_valid(&self, p: &Pending) -> bool {
        let Some(job) = self.jobs.get(&p.job) else {
            return false;
        };
        // The flags gate delivery, not only raising: an event whose flag
        // was cleared (or DISABLE set) before it went out is dropped; it is
        // raised again if the flag comes back (level-triggered) [SETNOTIFY].
        if !job.notify_flags.wants(p.kind.flag()) {
            return false;
        }
        match p.kind {
            NotifyKind::JobTransferred => job.state == JobState::Transferred,
            NotifyKind::JobError => job.state == JobState::Error,
            _ => !job.state.is_final(),
        }
    }

    pub(super) fn purge_invalid_pending(&mut self, id: JobId) {
        for k in self.pending.keys_of(id) {
            if self.pending.get(k).is_some_and(|p| !self.still_valid(p)) {
                self.pending.remove(k);
            }
        }
    }

    pub(super) fn callback_retry(&self, id: JobId) -> Duration {
        self.policy.callback_retry_interval.unwrap_or_else(|| {
            self.jobs
                .get(&id)
                .map_or(Duration::from_secs(600), |j| j.minimum_retry_delay)
        })
    }

    /// Delivers what may be delivered now, within four slots per user
    /// \[CB\] \[JOBERR\]: higher-priority events first, then FIFO; one
    /// FileTransferred at a time per job, before JobTransferred/JobError
    /// \[FILEXFER\].
    pub(super) fn dispatch(&mut self) {
        let now = self.now;
        let cap = self.policy.max_outstanding_notifications_per_user as usize;
        let mut order: Vec<(u8, u64)> = self
            .pending
            .due(now)
            .filter_map(|k| self.pending.get(k).map(|p| (p.kind.class(), k)))
            .collect();
        order.sort();
        for (_, key) in order {
            let Some(p) = self.pending.get(key).cloned() else {
                continue;
            };
            if !self.still_valid(&p) {
                self.pending.remove(key);
                continue;
            }
            let Some(job) = self.jobs.get(&p.job) else {
                self.pending.remove(key);
                continue;
            };
            // FileTransferred calls of one job are serialized: the next
            // waits until the current one returned successfully, including
            // its re-calls; they go before JobTransferred/JobError [FILEXFER].
            let file_busy = self.in_flight.file_busy(p.job)
                || self.pending.first_file_key(p.job).is_some_and(|k| k < key);
            if file_busy
                && matches!(
                    p.kind,
                    NotifyKind::FileTransferred(_)
                        | NotifyKind::JobTransferred
                        | NotifyKind::JobError
                )
            {
                continue;
            }
            let interface = job.notify_interface.as_ref().filter(|_| !p.via_cmd_line);
            let cmd_line = job
                .notify_cmd_line
                .as_ref()
                .filter(|_| p.kind.cmd_line_capable());
            let target = match (interface, cmd_line) {
                (Some(r), _) => Some((r.user.clone(), Ok(r.callback))),
                (None, Some(c)) => Some((c.user.clone(), Err(c.clone()))),
                (None, None) => None,
            };
            let Some((user, callback)) = target else {
                // Nobody to tell: dropped; JobTransferred/JobError are raised
                // again when someone registers (level-triggered) [CB].
                self.pending.remove(key);
                continue;
            };
            if self.outstanding_notifications(&user) >= cap {
                // The fifth waits until one returns [CB] [JOBERR].
                self.pending.park(key, &user);
                continue;
            }
            self.pending.remove(key);
            let nid = NotificationId(self.next_notification);
            self.next_notification += 1;
            if p.kind == NotifyKind::JobModification {
                self.last_modification_dispatch.insert(p.job, now);
            }
            let via_cmd_line = callback.is_err();
            self.in_flight.insert(
                nid,
                InFlight {
                    job: p.job,
                    kind: p.kind,
                    user: user.clone(),
                    via_cmd_line,
                    key,
                    since: now,
                    attempt: p.attempts.saturating_add(1),
                },
            );
            let out = match callback {
                Ok(callback) => Output::Notify {
                    id: nid,
                    job: p.job,
                    user,
                    callback,
                    kind: p.kind,
                },
                Err(c) => Output::RunCommand {
                    id: nid,
                    job: p.job,
                    user,
                    program: c.program,
                    parameters: c.parameters,
                    kind: p.kind,
                },
            };
            self.outputs.push_back(out);
        }
    }
}
