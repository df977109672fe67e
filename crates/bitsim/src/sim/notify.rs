//! Delivering notifications: callback objects and command lines.

use super::*;

impl Simulation {
    pub(super) fn deliver_notification(
        &mut self,
        id: NotificationId,
        job: JobId,
        user: UserId,
        callback: CallbackId,
        kind: NotifyKind,
    ) {
        let method = kind.method();
        let name = self.names.get(&job).cloned().unwrap_or_default();
        *self
            .observed
            .callbacks
            .entry((name.to_string(), method.to_owned()))
            .or_default() += 1;
        let outstanding = self.note_outstanding(&user);
        if self.remote.is_remote(callback) {
            self.remote.queue(RemoteNotification {
                id,
                job,
                user,
                callback,
                kind,
                outstanding,
            });
            return;
        }
        let caller = self.caller(&user.0);
        let d = self
            .callbacks
            .deliver(&mut self.mgr, self.now, caller, callback, job, kind);
        let hold = (!d.hold().is_zero()).then(|| Span(d.hold()).to_string());
        self.log(
            Some(job),
            crate::engine::remote::callback_event(method, &user, &d, hold, outstanding),
        );
        let at = self.now.saturating_add(d.hold());
        self.schedule(
            at,
            Event::CallbackReturn {
                id,
                hr: d.hr(),
                method,
                job,
                user,
            },
        );
    }

    pub(super) fn run_program(
        &mut self,
        id: NotificationId,
        job: JobId,
        user: UserId,
        program: String,
        parameters: Option<String>,
        _kind: NotifyKind,
    ) {
        self.note_outstanding(&user);
        let name = self.names.get(&job).cloned().unwrap_or_default();
        let spec = self
            .scenario
            .programs
            .get(&program)
            .cloned()
            .unwrap_or_default();
        let run = {
            let r = self.program_runs.entry((job, program.clone())).or_default();
            *r += 1;
            *r - 1
        };
        let command_line = match &parameters {
            Some(p) => format!("{program} {p}"),
            None => program.clone(),
        };
        if spec.missing {
            self.log(
                Some(job),
                TraceEvent::Command {
                    command_line,
                    outcome: "could not start".into(),
                },
            );
            self.schedule(
                self.now,
                Event::CommandExit {
                    id,
                    outcome: CommandOutcome::FailedToStart(Hresult::E_FILE_NOT_FOUND_WIN32),
                },
            );
            return;
        }
        *self.observed.commands.entry(name.to_string()).or_default() += 1;
        let code = spec
            .exit_codes
            .get(run)
            .or(spec.exit_codes.last())
            .copied()
            .unwrap_or(0);
        let mut calls = String::new();
        if let Some(action) = spec.action {
            let caller = self.caller(&user.0);
            let mut access = ModelAccess {
                manager: &mut self.mgr,
                now: self.now,
                caller,
            };
            let mut h = JobHandle::new(&mut access, job);
            apply_action(&mut h, action);
            calls = h
                .calls()
                .iter()
                .map(|(c, h)| format!(" [calls {c} -> {h}]"))
                .collect();
        }
        self.log(
            Some(job),
            TraceEvent::Command {
                command_line,
                outcome: format!("exit {code}{calls}"),
            },
        );
        let at = self
            .now
            .saturating_add(spec.runtime.map_or(Duration::ZERO, |r| r.0));
        self.schedule(
            at,
            Event::CommandExit {
                id,
                outcome: CommandOutcome::Exited(code),
            },
        );
    }
}
