//! The model's invariants, checked by the property tests.

use super::*;

impl Manager {
    // ------------------------------------------------------------------
    // Invariants
    // ------------------------------------------------------------------

    /// Checks the model's invariants; `Err` names the first one broken.
    /// Property tests call it after every step.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        if let Some(v) = self.violations.first() {
            return Err(format!("the transition table was violated: {v}"));
        }
        self.check_index()?;
        let mut per_user: BTreeMap<&UserId, usize> = BTreeMap::new();
        for f in self.in_flight.values() {
            *per_user.entry(&f.user).or_default() += 1;
        }
        let cap = self.policy.max_outstanding_notifications_per_user as usize;
        if let Some((u, n)) = per_user.iter().find(|(_, n)| **n > cap) {
            return Err(format!(
                "user {u} has {n} notifications outstanding (> {cap})"
            ));
        }
        let mut active_bg = 0;
        for job in self.jobs.values() {
            if job.error.is_some()
                && !matches!(job.state, JobState::Error | JobState::TransientError)
            {
                return Err(format!("{} has error info in {}", job.id, job.state));
            }
            if matches!(job.state, JobState::Error | JobState::TransientError)
                && job.error.is_none()
            {
                return Err(format!("{} is in {} without error info", job.id, job.state));
            }
            let p = job.progress();
            if p.bytes_total != BG_SIZE_UNKNOWN && p.bytes_transferred > p.bytes_total {
                return Err(format!(
                    "{} progress {} > total {}",
                    job.id, p.bytes_transferred, p.bytes_total
                ));
            }
            if job.job_type.is_upload() && job.files.len() > 1 {
                return Err(format!(
                    "upload job {} has {} files",
                    job.id,
                    job.files.len()
                ));
            }
            if !job.state.is_final()
                && self.now.since(job.timers.last_activity) > self.policy.job_inactivity_timeout
            {
                return Err(format!("{} outlived the inactivity timeout", job.id));
            }
            if job.state.is_active() && job.priority != JobPriority::Foreground {
                active_bg += 1;
            }
            if job.state.is_active() && (!self.network_up || !self.is_logged_on(&job.owner)) {
                return Err(format!("{} is {} while it may not run", job.id, job.state));
            }
        }
        if active_bg > 1 {
            return Err(format!("{active_bg} background jobs run at once"));
        }
        Ok(())
    }
}
