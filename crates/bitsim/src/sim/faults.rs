//! Faults of the simulated world: starting, ending, hitting a request,
//! and the service restart.

use super::*;

impl Simulation {
    pub(super) fn fault_start(&mut self, i: usize) {
        let f = self.scenario.faults[i].clone();
        self.fault_active[i] = true;
        let what = match f.kind {
            FaultKind::NetworkDown => {
                self.mgr.handle_network_change(self.now, false);
                "network down".to_owned()
            }
            FaultKind::Logoff => {
                let u = f.user.clone().unwrap_or_default();
                self.mgr.handle_logoff(self.now, &UserId::new(u.clone()));
                format!("{u} logs off")
            }
            FaultKind::ServiceRestart => {
                let what =
                    "BITS service restarts (queue reloaded from its persisted state)".to_owned();
                self.log(None, TraceEvent::Fault { what });
                self.service_restart();
                return;
            }
            FaultKind::ConnectionReset => {
                let victims: Vec<JobId> = self
                    .transfers
                    .keys()
                    .copied()
                    .filter(|j| {
                        self.url_of(*j)
                            .is_some_and(|u| f.url.as_ref().is_none_or(|p| u.contains(p.as_str())))
                    })
                    .collect();
                for j in &victims {
                    self.fail_transfer(
                        *j,
                        Hresult::WININET_E_CONNECTION_RESET,
                        ErrorContext::GeneralTransport,
                    );
                }
                format!("connection reset ({} transfer(s))", victims.len())
            }
            FaultKind::LastModifiedChanged => {
                self.modified.insert(f.url.clone().unwrap_or_default());
                format!(
                    "Last-Modified changes on {}",
                    f.url.as_deref().unwrap_or("every URL")
                )
            }
            _ => f.describe(),
        };
        self.log(None, TraceEvent::Fault { what });
    }

    pub(super) fn fault_end(&mut self, i: usize) {
        let f = self.scenario.faults[i].clone();
        self.fault_active[i] = false;
        let what = match f.kind {
            FaultKind::NetworkDown => {
                self.mgr.handle_network_change(self.now, true);
                "network back".to_owned()
            }
            FaultKind::Logoff => {
                let u = f.user.clone().unwrap_or_default();
                self.mgr.handle_logon(self.now, &UserId::new(u.clone()));
                format!("{u} logs on")
            }
            _ => f.describe_end(),
        };
        self.log(None, TraceEvent::Fault { what });
    }

    pub(super) fn service_restart(&mut self) {
        // The queue is persisted and reloaded: prove it round-trips.
        let saved = serde_json::to_string(&self.mgr).expect("the manager serializes");
        self.drain();
        self.mgr = serde_json::from_str(&saved).expect("the persisted queue reloads");
        // The running transfers die with the service: X2's StopTransfer
        // (one per active job) removes them.
        self.generation += 1;
        self.mgr.handle_service_restart(self.now);
        self.drain();
        let now = self.now;
        let jobs: Vec<(JobId, usize)> = self.specs.iter().map(|(id, i)| (*id, *i)).collect();
        for (id, i) in jobs {
            if self.mgr.job(id).is_none_or(|j| j.state.is_final()) {
                continue;
            }
            let spec = self.scenario.jobs[i].clone();
            let Some(cb) = spec.callback.as_ref() else {
                continue;
            };
            if self.scenario.callbacks[cb].reregister_after_restart {
                let caller = self.caller(&spec.owner);
                let cid = self.callback_names[cb];
                let r = self.mgr.set_notify_interface(now, &caller, id, Some(cid));
                let result = r.map_or_else(|e| e.code.to_string(), |_| Hresult::S_OK.to_string());
                self.log(
                    Some(id),
                    TraceEvent::Action {
                        call: format!("SetNotifyInterface({cb}) after restart"),
                        result,
                    },
                );
            }
        }
    }

    /// Does an active fault of `kind` apply to `url` now? Consumes a hit and,
    /// for probabilistic faults, one RNG draw.
    pub(super) fn fault_hits(&mut self, kind: FaultKind, url: &str) -> Option<FaultSpec> {
        for i in 0..self.scenario.faults.len() {
            let f = &self.scenario.faults[i];
            if f.kind != kind || !self.fault_active[i] {
                continue;
            }
            if f.url.as_ref().is_some_and(|p| !url.contains(p.as_str())) {
                continue;
            }
            if f.count.is_some_and(|c| self.fault_hits[i] >= c) {
                continue;
            }
            if let Some(p) = f.probability
                && !self.rng.random_bool(p)
            {
                continue;
            }
            self.fault_hits[i] += 1;
            return Some(self.scenario.faults[i].clone());
        }
        None
    }
}
