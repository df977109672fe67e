//! Scripted callbacks: the TOML callback scripts of a scenario.

use super::*;

/// A script's job call, made through the callback's handle (so it is
/// recorded like any call a Rust callback makes).
pub(super) fn apply_action(h: &mut JobHandle<'_>, a: CallbackAction) {
    // Results are recorded by the handle and shown in the trace.
    match a.call() {
        None => {}
        Some(Call::Resume) => drop(h.resume()),
        Some(Call::Cancel) => drop(h.cancel()),
        Some(Call::Complete) => drop(h.complete()),
        Some(Call::Suspend) => drop(h.suspend()),
        Some(other) => unreachable_call(&other),
    }
}

/// [`CallbackAction::call`] yields only the four calls above.
pub(super) fn unreachable_call(call: &Call) {
    tracing::warn!(%call, "a script action the handle cannot make");
}

/// A callback driven by a scenario's [`CallbackScript`].
pub struct ScriptedCallback {
    script: CallbackScript,
    calls: BTreeMap<(JobId, &'static str), u32>,
}

impl ScriptedCallback {
    /// A callback following `script`.
    pub fn new(script: CallbackScript) -> Self {
        ScriptedCallback {
            script,
            calls: BTreeMap::new(),
        }
    }

    fn call(
        &mut self,
        method: &'static str,
        script: Option<MethodScript>,
        h: &mut JobHandle<'_>,
    ) -> CallbackResult {
        let Some(m) = script else {
            return CallbackResult::ok();
        };
        // Counts are per job: one script can serve many jobs.
        let n = self.calls.entry((h.id(), method)).or_default();
        *n += 1;
        let fails = m.fail_always || *n <= m.fail_times;
        let hr = if fails {
            m.failure.unwrap_or(Hresult::E_FAIL)
        } else {
            Hresult::S_OK
        };
        if (!fails || m.action_every_time)
            && let Some(a) = m.action
        {
            apply_action(h, a);
        }
        CallbackResult {
            hr,
            hold: m.hold.map_or(Duration::ZERO, |s| s.0),
        }
    }
}

impl Callback for ScriptedCallback {
    fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        let s = self.script.job_transferred.clone();
        self.call("JobTransferred", s, job)
    }
    fn job_error(&mut self, job: &mut JobHandle<'_>, _error: &ErrorInfo) -> CallbackResult {
        let s = self.script.job_error.clone();
        self.call("JobError", s, job)
    }
    fn job_modification(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        let s = self.script.job_modification.clone();
        self.call("JobModification", s, job)
    }
    fn file_transferred(&mut self, job: &mut JobHandle<'_>, _file: FileRef) -> CallbackResult {
        let s = self.script.file_transferred.clone();
        self.call("FileTransferred", s, job)
    }
}
