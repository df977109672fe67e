//! The simulator's effects: what it does with the model's outputs.

use super::*;

/// The simulator's effects: a simulated world, a trace, and expectations'
/// observations.
impl Effects for Simulation {
    fn transition(
        &mut self,
        job: JobId,
        rule: Rule,
        from: JobState,
        to: JobState,
        code: Option<Hresult>,
    ) {
        if let Some(name) = self.names.get(&job).cloned() {
            if to.is_final() && from != to {
                self.observed.ended_at.insert(name.to_string(), self.now);
            }
            if to == JobState::Transferring && from != to && !self.observed.started.contains(&job) {
                self.observed.started.insert(job);
                self.observed.first_transfer.push(name.to_string());
            }
            if to == JobState::Error && from != to {
                self.reply_total_snapshot(job);
            }
            if let (Some(c), Some(e)) = (code, self.mgr.job(job).and_then(|j| j.error.as_ref())) {
                self.observed
                    .last_error
                    .insert(name.to_string(), (c, e.context));
            }
        }
        if rule == Rule::T16 {
            return;
        }
        self.log(
            Some(job),
            TraceEvent::Transition {
                rule,
                from,
                to,
                code,
            },
        );
    }

    fn start_transfer(&mut self, job: JobId, file: FileRef, offset: u64) {
        self.effect(Some(job), || {
            format!("start {} at byte {offset}", file_label(file))
        });
        Simulation::start_transfer(self, job, file, offset);
    }

    fn stop_transfer(&mut self, job: JobId) {
        // A transfer the transport already ended has nothing to stop.
        if self.transfers.remove(&job).is_some() {
            self.effect(Some(job), || "stop transfer".into());
        }
    }

    fn notify(
        &mut self,
        id: NotificationId,
        job: JobId,
        user: UserId,
        callback: CallbackId,
        kind: NotifyKind,
    ) {
        self.deliver_notification(id, job, user, callback, kind);
    }

    fn run_command(
        &mut self,
        id: NotificationId,
        job: JobId,
        user: UserId,
        program: String,
        parameters: Option<String>,
        kind: NotifyKind,
    ) {
        self.run_program(id, job, user, program, parameters, kind);
    }

    fn delete_temp_file(&mut self, job: JobId, file: FileRef) {
        if let (FileRef::File(i), Some(j)) = (file, self.mgr.job(job))
            && let Some(f) = j.files.get(i)
        {
            let local = f.local_name.clone();
            self.local.remove_temp(&local, job, file);
        }
        if let Some(name) = self.names.get(&job).cloned() {
            *self
                .observed
                .temps_deleted
                .entry(name.to_string())
                .or_default() += 1;
        }
        self.effect(Some(job), || {
            format!("delete temp file of {}", file_label(file))
        });
    }

    fn file_published(&mut self, job: JobId, file: FileRef) {
        if let (FileRef::File(i), Some(j)) = (file, self.mgr.job(job))
            && let Some(f) = j.files.get(i)
        {
            let local = f.local_name.clone();
            self.local.remove_temp(&local, job, file);
            self.local.publish(local);
        }
        if let (FileRef::Reply, Some(j)) = (file, self.mgr.job(job))
            && let Some(name) = j.reply.as_ref().and_then(|r| r.file_name.clone())
        {
            self.local.publish(name);
        }
        self.effect(Some(job), || format!("publish {}", file_label(file)));
    }

    fn cancel_upload_session(&mut self, job: JobId) {
        self.effect(Some(job), || "send Cancel-Session to the server".into());
        self.mgr.handle_upload_cancelled(self.now, job);
    }

    fn timer_armed(&mut self, job: JobId, timer: TimerKind, at: Time) {
        if timer != TimerKind::NoProgress {
            self.effect(Some(job), || format!("{timer:?} timer set for {at}"));
        }
    }

    fn job_removed(&mut self, job: JobId) {
        self.transfers.remove(&job);
        self.effect(Some(job), || "job removed from the queue".into());
    }
}
