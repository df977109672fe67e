//! The scheduler: who runs, who waits, round-robin slices.

use super::*;

impl Manager {
    pub(super) fn eligible(&self, job: &Job) -> bool {
        job.state == JobState::Queued && self.is_logged_on(&job.owner)
    }

    /// The scheduler \[LC-OLD\] \[LC\] \[PRIO\]: all FOREGROUND jobs run at once
    /// beside one background job; a higher background priority preempts a
    /// lower one; equal priorities share round-robin slices (T13, T18).
    pub(super) fn schedule(&mut self) {
        let now = self.now;
        let policy_blocking = self.policy_blocks(now);
        // Only a window with limit 0 ever blocks a job (T29), so only then
        // is there anything to block or unblock.
        if self
            .policy
            .bandwidth_windows
            .iter()
            .any(|w| w.limit_bytes_per_sec == 0)
        {
            for id in self.live_ids() {
                let Some(j) = self.jobs.get(&id) else {
                    continue;
                };
                if policy_blocking
                    && j.priority != JobPriority::Foreground
                    && Rule::T29.fires_from(j.state)
                {
                    self.block(id, Rule::T29, Blocked::Policy);
                }
                let Some(j) = self.jobs.get(&id) else {
                    continue;
                };
                let unblocked = !policy_blocking || j.priority == JobPriority::Foreground;
                if unblocked
                    && j.state == JobState::TransientError
                    && j.blocked == Some(Blocked::Policy)
                {
                    // X1, whoever notices first that the window is over: a call
                    // arriving after the window end must not leave the job
                    // blocked for good [GP]. A job raised to FOREGROUND is not
                    // throttled at all [NETBW].
                    self.fire(id, Rule::X1, None);
                }
            }
        }
        // The policy first, so that its blocks and unblocks (a job raised to
        // FOREGROUND, a window that ended) also happen while the network is
        // down; the network block then applies to whatever is QUEUED.
        self.refresh_index();
        if !self.network_up {
            for id in self.ids_of(self.index.queued.iter().copied().collect()) {
                if self.state_of(id) == Some(JobState::Queued) {
                    self.block(id, Rule::T27, Blocked::Network);
                }
            }
            return;
        }
        // One background job at a time [LC]: a running FOREGROUND job whose
        // priority was lowered becomes a second background job; the lower
        // priority (then the later queued) goes back to QUEUED (T18).
        if self.index.running_bg.len() > 1 {
            let extra = self.index.running_bg.iter().skip(1).map(|k| k.2).collect();
            for id in self.ids_of(extra) {
                self.fire(id, Rule::T18, None);
            }
            self.refresh_index();
        }
        let fg_cap = self.policy.foreground_concurrency.unwrap_or(u32::MAX);
        let fg_free = fg_cap.saturating_sub(self.index.fg_running) as usize;
        let fg = JobPriority::Foreground;
        let start_fg = self
            .index
            .waiting
            .range((fg, 0, 0)..=(fg, u64::MAX, u64::MAX))
            .take(fg_free)
            .map(|k| k.2)
            .collect();
        let best = self
            .index
            .waiting
            .range((JobPriority::High, 0, 0)..)
            .next()
            .and_then(|&(p, _, seq)| Some((p, self.jobs.by_seq(seq)?.id)));
        let running = self
            .index
            .running_bg
            .first()
            .and_then(|&(p, _, seq)| self.jobs.by_seq(seq).map(|j| (p, j)))
            .map(|(p, j)| (p, j.id, j.timers.slice_end));
        for id in self.ids_of(start_fg) {
            self.start(id);
        }
        let Some((best_p, best)) = best else {
            return;
        };
        match running {
            None => self.start(best),
            Some((active_p, active, slice_end)) => {
                let preempt = best_p < active_p
                    || (best_p == active_p && slice_end.is_some_and(|t| t <= now));
                if preempt {
                    self.fire(active, Rule::T18, None);
                    self.start(best);
                }
            }
        }
    }

    /// The GUIDs of the jobs at these creation positions.
    fn ids_of(&self, seqs: Vec<u64>) -> Vec<JobId> {
        seqs.into_iter()
            .filter_map(|s| self.jobs.by_seq(s).map(|j| j.id))
            .collect()
    }

    pub(super) fn start(&mut self, id: JobId) {
        self.fire(id, Rule::T13, None);
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.started = true;
        if job.all_transferred() {
            // Only reachable after Suspend of a job whose last byte had
            // moved: nothing left to move (decision A2).
            self.fire(id, Rule::T14, None);
            self.fire(id, Rule::T20, None);
            return;
        }
        let file = job.files.iter().position(|f| !f.transferred);
        match file {
            Some(i) => {
                job.current_file = i;
                if !job.job_type.is_upload() {
                    job.files[i].has_temp = true;
                }
                let offset = job.files[i].bytes_transferred;
                self.outputs.push_back(Output::StartTransfer {
                    job: id,
                    file: FileRef::File(i),
                    offset,
                });
            }
            None => {
                let offset = job.reply.as_ref().map_or(0, |r| r.bytes_transferred);
                self.outputs.push_back(Output::StartTransfer {
                    job: id,
                    file: FileRef::Reply,
                    offset,
                });
            }
        }
    }

    /// Runs the scheduler if anything it depends on changed (a state, a
    /// priority, an owner, a logon, the network, or a time-based edge), then
    /// the notification dispatcher.
    pub(super) fn settle(&mut self) {
        if self.sched.dirty {
            self.schedule();
            self.sched.dirty = false;
            self.refresh_index();
            let slice = self
                .index
                .running_bg
                .iter()
                .filter_map(|&(_, _, seq)| self.jobs.by_seq(seq)?.timers.slice_end)
                .min();
            self.sched.wake = match (slice, self.next_policy_boundary()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        self.refresh_index();
        if !self.pending.is_empty() {
            self.dispatch();
        }
    }
}

/// The scheduler's memo: whether anything it depends on changed since it
/// last ran, and the next instant at which time alone changes a decision (a
/// round-robin slice ends, a bandwidth window opens or closes). Derived
/// state: a fresh or deserialized manager starts dirty, and two managers
/// that differ only here are equal.
#[derive(Debug, Clone)]
pub(super) struct SchedCache {
    pub(super) dirty: bool,
    pub(super) wake: Option<Time>,
}

impl Default for SchedCache {
    fn default() -> Self {
        SchedCache {
            dirty: true,
            wake: None,
        }
    }
}

impl PartialEq for SchedCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for SchedCache {}
