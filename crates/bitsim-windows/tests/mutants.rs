//! The conformance suite can fail: each case is run against a simulator
//! with one deliberate deviation from BITS (a "mutant" backend) and must
//! catch it. A suite that passes against a wrong backend would make the
//! simulator look trustworthy for no reason.

use bitsim::backend::{Backend, SimBackend};
use bitsim::{Callback, JobAccess};
use bitsim_model::{
    Error, ErrorContext, ErrorInfo, Hresult, JobId, JobPriority, JobProgress, JobState, JobType,
    ReplyProgress,
};
use bitsim_windows::conformance::{self, Harness, SimHarness};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

/// One way to get BITS wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    NoRetryDelayFloor,
    NotifyFlagsDefaultZero,
    CompleteDoesNotPublish,
    SecondCancelSucceeds,
    CallbacksDropped,
    ResumeEmptySucceeds,
    CancelOnlySuspends,
    WrongErrorContext,
    UploadCompletesEarly,
    /// Five notifications of a user at once (the policy's limit raised).
    FiveNotificationSlots,
    /// A failing callback is re-called only after 10 virtual days.
    NoCallbackRecall,
    /// SetNotifyCmdLine is accepted and forgotten.
    CmdLineIgnored,
}

struct Mutant {
    inner: SimBackend,
    m: Mutation,
    retry: BTreeMap<JobId, u32>,
}

impl JobAccess for Mutant {
    fn display_name(&self, j: JobId) -> Result<String, Error> {
        self.inner.display_name(j)
    }
    fn job_type(&self, j: JobId) -> Result<JobType, Error> {
        self.inner.job_type(j)
    }
    fn state(&self, j: JobId) -> Result<JobState, Error> {
        self.inner.state(j)
    }
    fn priority(&self, j: JobId) -> Result<JobPriority, Error> {
        self.inner.priority(j)
    }
    fn progress(&self, j: JobId) -> Result<JobProgress, Error> {
        self.inner.progress(j)
    }
    fn error_count(&self, j: JobId) -> Result<u32, Error> {
        self.inner.error_count(j)
    }
    fn error(&self, j: JobId) -> Result<ErrorInfo, Error> {
        let mut e = self.inner.error(j)?;
        if self.m == Mutation::WrongErrorContext {
            e.context = ErrorContext::GeneralTransport;
        }
        Ok(e)
    }
    fn reply_progress(&self, j: JobId) -> Result<ReplyProgress, Error> {
        self.inner.reply_progress(j)
    }
    fn resume(&mut self, j: JobId) -> Result<(), Error> {
        match self.inner.resume(j) {
            Err(e) if e.code == Hresult::BG_E_EMPTY && self.m == Mutation::ResumeEmptySucceeds => {
                Ok(())
            }
            r => r,
        }
    }
    fn suspend(&mut self, j: JobId) -> Result<(), Error> {
        self.inner.suspend(j)
    }
    fn cancel(&mut self, j: JobId) -> Result<Hresult, Error> {
        if self.m == Mutation::CancelOnlySuspends {
            return self.inner.suspend(j).map(|()| Hresult::S_OK);
        }
        match self.inner.cancel(j) {
            Err(e)
                if e.code == Hresult::BG_E_INVALID_STATE
                    && self.m == Mutation::SecondCancelSucceeds =>
            {
                Ok(Hresult::S_OK)
            }
            r => r,
        }
    }
    fn complete(&mut self, j: JobId) -> Result<Hresult, Error> {
        if self.m == Mutation::CompleteDoesNotPublish {
            return Ok(Hresult::S_OK);
        }
        match self.inner.complete(j) {
            Err(e)
                if self.m == Mutation::UploadCompletesEarly
                    && e.code == Hresult::BG_E_INVALID_STATE =>
            {
                Ok(Hresult::S_OK)
            }
            r => r,
        }
    }
    fn set_priority(&mut self, j: JobId, p: JobPriority) -> Result<(), Error> {
        self.inner.set_priority(j, p)
    }
    fn set_minimum_retry_delay(&mut self, j: JobId, s: u32) -> Result<(), Error> {
        if self.m == Mutation::NoRetryDelayFloor {
            self.retry.insert(j, s);
        }
        self.inner.set_minimum_retry_delay(j, s)
    }
    fn set_no_progress_timeout(&mut self, j: JobId, s: u32) -> Result<(), Error> {
        self.inner.set_no_progress_timeout(j, s)
    }
}

impl Backend for Mutant {
    fn create_job(&mut self, name: &str, t: JobType) -> Result<JobId, Error> {
        self.inner.create_job(name, t)
    }
    fn add_file(&mut self, j: JobId, remote: &str, local: &str) -> Result<(), Error> {
        self.inner.add_file(j, remote, local)
    }
    fn set_notify_interface(
        &mut self,
        j: JobId,
        cb: Option<Box<dyn Callback + Send>>,
    ) -> Result<(), Error> {
        let cb = if self.m == Mutation::CallbacksDropped {
            None
        } else {
            cb
        };
        self.inner.set_notify_interface(j, cb)
    }
    fn set_notify_flags(&mut self, j: JobId, f: u32) -> Result<(), Error> {
        self.inner.set_notify_flags(j, f)
    }
    fn notify_flags(&self, j: JobId) -> Result<u32, Error> {
        let f = self.inner.notify_flags(j)?;
        Ok(if self.m == Mutation::NotifyFlagsDefaultZero && f == 0x3 {
            0
        } else {
            f
        })
    }
    fn minimum_retry_delay(&self, j: JobId) -> Result<u32, Error> {
        match self.retry.get(&j) {
            Some(s) => Ok(*s),
            None => self.inner.minimum_retry_delay(j),
        }
    }
    fn no_progress_timeout(&self, j: JobId) -> Result<u32, Error> {
        self.inner.no_progress_timeout(j)
    }
    fn set_reply_file_name(&mut self, j: JobId, p: &str) -> Result<(), Error> {
        self.inner.set_reply_file_name(j, p)
    }
    fn set_notify_cmd_line(
        &mut self,
        j: JobId,
        program: Option<&str>,
        parameters: Option<&str>,
    ) -> Result<(), Error> {
        if self.m == Mutation::CmdLineIgnored {
            return Ok(());
        }
        self.inner.set_notify_cmd_line(j, program, parameters)
    }
    fn wait_for(&mut self, j: JobId, t: Duration, done: &dyn Fn(JobState) -> bool) -> JobState {
        self.inner.wait_for(j, t, done)
    }
}

struct MutantHarness(Mutation);

impl Harness for MutantHarness {
    type B = Mutant;
    fn start(&mut self, files: &[(&str, u64)]) -> Mutant {
        let policy = match self.0 {
            Mutation::FiveNotificationSlots => {
                "[policy]\nmax_outstanding_notifications_per_user = 5\n"
            }
            Mutation::NoCallbackRecall => "[policy]\ncallback_retry_interval = 864000\n",
            _ => "",
        };
        Mutant {
            inner: conformance::sim_backend(files, policy),
            m: self.0,
            retry: BTreeMap::new(),
        }
    }
    fn url(&self, path: &str) -> String {
        SimHarness.url(path)
    }
    fn local_path(&self, name: &str) -> String {
        SimHarness.local_path(name)
    }
    fn create_local(&mut self, b: &mut Mutant, path: &str, size: u64) {
        SimHarness.create_local(&mut b.inner, path, size);
    }
    fn file_in_place(&self, b: &Mutant, path: &str) -> bool {
        SimHarness.file_in_place(&b.inner, path)
    }
    fn temp_files(&self, b: &Mutant, job: JobId, local: &str) -> usize {
        SimHarness.temp_files(&b.inner, job, local)
    }
    fn uploaded(&self, b: &Mutant, path: &str) -> Option<bool> {
        SimHarness.uploaded(&b.inner, path)
    }
    fn completing_cmd_line(&self, job: JobId) -> (String, String) {
        SimHarness.completing_cmd_line(job)
    }
    fn timeout(&self) -> Duration {
        SimHarness.timeout()
    }
}

/// A conformance case instantiated for the mutant harness.
type Case = fn(&mut MutantHarness);

fn caught(m: Mutation, case: Case) -> bool {
    catch_unwind(AssertUnwindSafe(|| case(&mut MutantHarness(m)))).is_err()
}

#[test]
fn every_mutant_is_caught_by_its_case() {
    use Mutation::*;
    let table: &[(Mutation, Case)] = &[
        (
            NoRetryDelayFloor,
            conformance::retry_delay_floor_and_no_progress_zero,
        ),
        (
            NotifyFlagsDefaultZero,
            conformance::notify_flags_default_and_read_back,
        ),
        (CompleteDoesNotPublish, conformance::download_lifecycle),
        (
            SecondCancelSucceeds,
            conformance::second_cancel_is_invalid_state,
        ),
        (
            CallbacksDropped,
            conformance::not_found_is_error_with_remote_file_context,
        ),
        (
            CallbacksDropped,
            conformance::failed_callback_is_called_again,
        ),
        (CallbacksDropped, conformance::complete_from_job_transferred),
        (
            CallbacksDropped,
            conformance::file_transferred_names_the_file,
        ),
        (
            ResumeEmptySucceeds,
            conformance::resume_empty_job_is_bg_e_empty,
        ),
        (CancelOnlySuspends, conformance::cancel_removes_temp_files),
        (
            WrongErrorContext,
            conformance::not_found_is_error_with_remote_file_context,
        ),
        (
            UploadCompletesEarly,
            conformance::complete_refused_on_upload_before_transferred,
        ),
        (
            CallbacksDropped,
            conformance::job_error_called_again_after_failure,
        ),
        (
            NoCallbackRecall,
            conformance::job_error_called_again_after_failure,
        ),
        (
            NoCallbackRecall,
            conformance::failed_callback_is_called_again,
        ),
        (
            CmdLineIgnored,
            conformance::cmd_line_runs_instead_of_failing_callback,
        ),
        (
            CallbacksDropped,
            conformance::cmd_line_runs_instead_of_failing_callback,
        ),
        (CallbacksDropped, conformance::job_error_remedy_cancel),
        (
            CallbacksDropped,
            conformance::job_error_remedy_complete_refused_on_upload,
        ),
        (
            CallbacksDropped,
            conformance::job_error_remedy_fix_and_resume,
        ),
        (WrongErrorContext, conformance::upload_reply_error_contexts),
        (
            FiveNotificationSlots,
            conformance::at_most_four_notifications_per_user,
        ),
        (
            CallbacksDropped,
            conformance::at_most_four_notifications_per_user,
        ),
    ];
    let missed: Vec<_> = table
        .iter()
        .filter(|(m, case)| !caught(*m, *case))
        .map(|(m, _)| *m)
        .collect();
    assert!(
        missed.is_empty(),
        "mutants the suite let through: {missed:?}"
    );
}

#[test]
fn the_unmutated_wrapper_passes() {
    // The wrapper itself is faithful: with a harmless mutation in place,
    // cases that do not touch it pass.
    assert!(!caught(
        Mutation::UploadCompletesEarly,
        conformance::download_lifecycle
    ));
    assert!(!caught(
        Mutation::NotifyFlagsDefaultZero,
        conformance::upload_to_server
    ));
    // The policy mutations change nothing else.
    assert!(!caught(
        Mutation::FiveNotificationSlots,
        conformance::failed_callback_is_called_again
    ));
    assert!(!caught(
        Mutation::NoCallbackRecall,
        conformance::at_most_four_notifications_per_user
    ));
    assert!(!caught(
        Mutation::CmdLineIgnored,
        conformance::job_error_remedy_fix_and_resume
    ));
}
