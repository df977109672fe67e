//! Jobs of the scenario and its scripted application calls.

use super::*;

impl Simulation {
    pub(super) fn create_job(&mut self, i: usize) {
        let spec = self.scenario.jobs[i].clone();
        self.users.entry(spec.owner.clone()).or_insert(false);
        let caller = self.caller(&spec.owner);
        let id = self.new_job_id();
        self.names.insert(id, spec.name.as_str().into());
        let now = self.now;
        let r = self
            .mgr
            .create_job(now, &caller, id, &spec.name, spec.r#type);
        if let Err(e) = r {
            self.names.remove(&id);
            self.log(
                None,
                TraceEvent::Action {
                    call: format!("CreateJob({:?})", spec.name),
                    result: e.code.to_string(),
                },
            );
            return;
        }
        self.ids.insert(spec.name.clone(), id);
        self.specs.insert(id, i);
        self.log(
            Some(id),
            TraceEvent::Action {
                call: format!("CreateJob({:?}, {})", spec.name, spec.r#type),
                result: Hresult::S_OK.to_string(),
            },
        );
        self.drain();
        for (call, label) in self.setup_calls(&spec) {
            let r = call.apply(&mut self.mgr, now, &caller, id).map(|_| ());
            self.logged_call(id, label.unwrap_or_else(|| call.to_string()), r);
        }
    }

    /// The calls that set a job up as its spec says, in order (files,
    /// properties, notifications, Resume), with the trace label where it
    /// differs from the call's own (a callback script by name).
    pub(super) fn setup_calls(&self, spec: &JobSpec) -> Vec<(Call, Option<String>)> {
        let mut calls: Vec<(Call, Option<String>)> = spec
            .files
            .iter()
            .map(|f| {
                let add = Call::AddFile {
                    remote: f.remote.clone(),
                    local: f.local.clone(),
                };
                (add, None)
            })
            .collect();
        let mut push = |c: Call| calls.push((c, None));
        if let Some(priority) = spec.priority {
            push(Call::SetPriority { priority });
        }
        if let Some(flags) = spec.notify_flags {
            push(Call::SetNotifyFlags { flags });
        }
        if let Some(d) = spec.retry_delay {
            push(Call::SetMinimumRetryDelay { seconds: secs(d) });
        }
        if let Some(d) = spec.no_progress_timeout {
            push(Call::SetNoProgressTimeout { seconds: secs(d) });
        }
        if let Some(d) = spec.max_download_time {
            push(Call::SetMaximumDownloadTime { seconds: secs(d) });
        }
        if let Some(c) = &spec.cmd_line {
            push(Call::SetNotifyCmdLine {
                program: Some(c.program.clone()),
                parameters: c.parameters.clone(),
            });
        }
        if let Some(cb) = &spec.callback {
            let callback = self.callback_names.get(cb).copied();
            calls.push((
                Call::SetNotifyInterface { callback },
                Some(format!("SetNotifyInterface({cb})")),
            ));
        }
        if spec.resume {
            calls.push((Call::Resume, None));
        }
        calls
    }

    /// Logs an application call and then what the model did about it.
    pub(super) fn logged_call(
        &mut self,
        id: JobId,
        call: String,
        r: std::result::Result<(), Error>,
    ) {
        let result = r.map_or_else(|e| e.code.to_string(), |_| Hresult::S_OK.to_string());
        self.log(Some(id), TraceEvent::Action { call, result });
        self.drain();
    }

    /// A scripted application call: one [`Call`] applied to the model, its
    /// result checked against the action's `expect_hr` / `expect`.
    pub(super) fn action(&mut self, i: usize) {
        let a = self.scenario.actions[i].clone();
        let id = a.job.as_ref().and_then(|n| self.ids.get(n).copied());
        let owner = id
            .and_then(|id| self.mgr.job(id))
            .map(|j| j.owner.0.clone());
        let user = a.user.clone().or(owner).unwrap_or_default();
        let caller = self.caller(&user);
        let now = self.now;
        let Some(id) = id else {
            self.log(
                None,
                TraceEvent::Action {
                    call: a.call.method().to_owned(),
                    result: "no such job (not created)".into(),
                },
            );
            return;
        };
        let mut call = a.call.clone();
        let text = match (&mut call, &a.script) {
            (Call::SetNotifyInterface { callback }, script) => {
                *callback = script
                    .as_ref()
                    .and_then(|s| self.callback_names.get(s).copied());
                format!("SetNotifyInterface({})", script.as_deref().unwrap_or(""))
            }
            (Call::TakeOwnership, _) => format!("TakeOwnership as {user}"),
            (c, _) => c.to_string(),
        };
        let r = call.apply(&mut self.mgr, now, &caller, id);
        let hr = Reply::hresult_of(&r);
        if let Some(want) = a.expect_hr
            && want != hr
        {
            self.observed
                .action_mismatches
                .push(format!("{text} at {}: expected {want}, got {hr}", a.at));
        }
        if let Some(want) = &a.expect {
            match &r {
                Ok(got) if want.matches(got) => {}
                Ok(got) => self.observed.action_mismatches.push(format!(
                    "{text} at {}: expected {}, got {got}",
                    a.at, want.0
                )),
                Err(e) => self.observed.action_mismatches.push(format!(
                    "{text} at {}: expected {}, got {}",
                    a.at, want.0, e.code
                )),
            }
        }
        let result = match &r {
            Ok(reply) if call.is_getter() => format!("{hr}: {reply}"),
            _ => hr.to_string(),
        };
        self.log(Some(id), TraceEvent::Action { call: text, result });
    }
}
