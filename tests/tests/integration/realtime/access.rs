//! BITS's access rules hold the same way in every driver: one case, run
//! through the simulator's and the real-time driver's `Backend`.

use bitsim::SimBackend;
use bitsim::backend::Backend;
use bitsim::realtime::{RtBackend, RtConfig};
use bitsim_model::{Hresult, JobState, JobType};

/// Alice's job, read and changed by Bob: every getter and method says
/// E_ACCESSDENIED [USERS] [GETJOB]; Alice still reads it after Cancel
/// (a held interface pointer, decision A16).
fn another_users_job_is_refused(b: &mut dyn AccessCase) {
    b.act_as("alice");
    let job = b
        .backend()
        .create_job("alice's", JobType::Download)
        .unwrap();
    b.act_as("bob");
    let denied = Hresult::E_ACCESSDENIED;
    let be = b.backend();
    assert_eq!(be.display_name(job).unwrap_err().code, denied);
    assert_eq!(be.state(job).unwrap_err().code, denied);
    assert_eq!(be.progress(job).unwrap_err().code, denied);
    assert_eq!(be.error_count(job).unwrap_err().code, denied);
    assert_eq!(be.notify_flags(job).unwrap_err().code, denied);
    assert_eq!(be.resume(job).unwrap_err().code, denied);
    assert_eq!(be.cancel(job).unwrap_err().code, denied);
    b.act_as("alice");
    let be = b.backend();
    assert_eq!(be.display_name(job).unwrap(), "alice's");
    assert_eq!(be.cancel(job).unwrap(), Hresult::S_OK);
    assert_eq!(be.state(job).unwrap(), JobState::Cancelled);
}

trait AccessCase {
    fn act_as(&mut self, user: &str);
    fn backend(&mut self) -> &mut dyn Backend;
}

impl AccessCase for SimBackend {
    fn act_as(&mut self, user: &str) {
        SimBackend::act_as(self, user);
    }
    fn backend(&mut self) -> &mut dyn Backend {
        self
    }
}

impl AccessCase for RtBackend {
    fn act_as(&mut self, user: &str) {
        RtBackend::act_as(self, user);
    }
    fn backend(&mut self) -> &mut dyn Backend {
        self
    }
}

#[test]
fn access_rules_in_the_simulator() {
    let mut sim = SimBackend::with_files("alice", "http://h.example", &[("/f", 10)]);
    another_users_job_is_refused(&mut sim);
}

#[test]
fn access_rules_in_the_real_time_driver() {
    let mut rt = RtBackend::new(RtConfig::default(), "alice").unwrap();
    another_users_job_is_refused(&mut rt);
}
