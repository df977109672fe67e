//! The callback bridge's decisions, in plain Rust.
//!
//! On Windows a COM object implementing `IBackgroundCopyCallback` and
//! `IBackgroundCopyCallback2` receives BITS's notifications and hands each
//! one to [`Bridge::deliver`]; whatever this module decides, the COM layer
//! only carries out. So Linux CI tests every decision:
//!
//! * **What to return to BITS.** [`com_return`]: `S_OK` exactly when the
//!   user's [`CallbackResult::hr`] is `S_OK`; any other value (a failure, or
//!   even a success code such as `S_FALSE`) is passed through unchanged, so
//!   BITS's re-call behaviour \[JOBXFER\] \[JOBERR\] \[FILEXFER\] is exercised by
//!   the real service, not imitated.
//! * **How a `hold` is honoured.** [`Bridge::deliver`] blocks the BITS
//!   notification thread for [`CallbackResult::hold`] before returning, which
//!   is exactly what a slow callback does to real BITS: it keeps one of the
//!   user's four notification slots busy \[CB\].
//! * **A panicking callback** must not unwind across the COM boundary
//!   (undefined behaviour); [`Bridge::deliver`] catches it and answers
//!   `E_FAIL`, so BITS calls again later, as it would for a callback that
//!   failed.
//! * **Which file** a `FileTransferred` concerns: [`file_ref_for`] matches the
//!   `IBackgroundCopyFile`'s local name against the job's files
//!   (case-insensitively, as Windows paths compare).
//! * **A COM error → [`bitsim_model::Error`]**: see
//!   [`crate::convert::error_from_raw`].

use bitsim::{Callback, CallbackResult, JobAccess, JobHandle};
use bitsim_model::{ErrorInfo, FileRef, Hresult, JobId, JobType};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::Duration;

/// One notification from BITS, with what the COM layer read from its
/// arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// `IBackgroundCopyCallback::JobTransferred`.
    JobTransferred,
    /// `IBackgroundCopyCallback::JobError`, with the `IBackgroundCopyError`'s
    /// context, code, file and protocol.
    JobError(ErrorInfo),
    /// `IBackgroundCopyCallback::JobModification`.
    JobModification,
    /// `IBackgroundCopyCallback2::FileTransferred`.
    FileTransferred(FileRef),
}

impl Notification {
    /// The COM method's name, for logs.
    pub fn method(&self) -> &'static str {
        match self {
            Notification::JobTransferred => "JobTransferred",
            Notification::JobError(_) => "JobError",
            Notification::JobModification => "JobModification",
            Notification::FileTransferred(_) => "FileTransferred",
        }
    }
}

/// What the COM method returns for a [`CallbackResult`]: `Ok(())` (the
/// `windows` crate turns it into `S_OK`) or `Err(hr)` with the user's value
/// unchanged.
pub fn com_return(r: CallbackResult) -> Result<(), Hresult> {
    if r.hr == Hresult::S_OK {
        Ok(())
    } else {
        Err(r.hr)
    }
}

/// The job's file a `FileTransferred` names, from the `IBackgroundCopyFile`'s
/// local name. `locals` are the job's files in `AddFile` order; on an
/// upload-reply job, a file that is not the upload is the reply. `None` if
/// the name matches nothing (the callback is then given file 0 rather than
/// being skipped, and a warning is logged by the caller).
pub fn file_ref_for(job_type: JobType, locals: &[String], file_local: &str) -> Option<FileRef> {
    let norm = |s: &str| s.replace('/', "\\").to_lowercase();
    let wanted = norm(file_local);
    if let Some(i) = locals.iter().position(|l| norm(l) == wanted) {
        return Some(FileRef::File(i));
    }
    (job_type == JobType::UploadReply).then_some(FileRef::Reply)
}

/// The Rust side of one registered callback object: the user's
/// [`Callback`] behind a lock (BITS calls from several RPC threads), and the
/// job it was registered on.
pub struct Bridge {
    job: JobId,
    callback: Mutex<Box<dyn Callback + Send>>,
    sleep: fn(Duration),
}

impl Bridge {
    /// A bridge for `callback`, registered on `job`.
    pub fn new(job: JobId, callback: Box<dyn Callback + Send>) -> Self {
        Bridge {
            job,
            callback: Mutex::new(callback),
            sleep: std::thread::sleep,
        }
    }

    /// The same, with another way to wait out a hold (tests use a recorder).
    pub fn with_sleep(mut self, sleep: fn(Duration)) -> Self {
        self.sleep = sleep;
        self
    }

    /// The job this bridge was registered on.
    pub fn job(&self) -> JobId {
        self.job
    }

    /// Calls the user's callback for `n` with a [`JobHandle`] over `access`
    /// (on Windows, the `IBackgroundCopyJob` BITS passed in), waits out the
    /// hold, and returns what the COM method must return. Never panics.
    pub fn deliver(&self, access: &mut dyn JobAccess, n: &Notification) -> Result<(), Hresult> {
        let result = {
            // A callback that panicked earlier poisoned the lock; its state
            // is the user's, so keep delivering rather than failing forever.
            let mut cb = self
                .callback
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let job = self.job;
            catch_unwind(AssertUnwindSafe(|| {
                let mut handle = JobHandle::new(access, job);
                match n {
                    Notification::JobTransferred => cb.job_transferred(&mut handle),
                    Notification::JobError(e) => cb.job_error(&mut handle, e),
                    Notification::JobModification => cb.job_modification(&mut handle),
                    Notification::FileTransferred(f) => cb.file_transferred(&mut handle, *f),
                }
            }))
            .unwrap_or_else(|_| {
                tracing::error!(job = %self.job, "{} panicked; answering E_FAIL", n.method());
                CallbackResult::fail(Hresult::E_FAIL)
            })
        };
        if !result.hold.is_zero() {
            (self.sleep)(result.hold);
        }
        tracing::debug!(job = %self.job, method = n.method(), hr = %result.hr, "callback returned");
        com_return(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitsim::backend::{Backend, SimBackend};
    use bitsim_model::ErrorContext;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Script {
        calls: Arc<Mutex<Vec<String>>>,
        answer: CallbackResult,
        panic: bool,
    }

    impl Callback for Script {
        fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
            self.calls
                .lock()
                .unwrap()
                .push(format!("transferred {}", job.state()));
            if self.panic {
                panic!("user bug");
            }
            let _ = job.complete();
            self.answer
        }
        fn job_error(&mut self, _: &mut JobHandle<'_>, e: &ErrorInfo) -> CallbackResult {
            self.calls.lock().unwrap().push(format!("error {}", e.code));
            self.answer
        }
        fn file_transferred(&mut self, _: &mut JobHandle<'_>, f: FileRef) -> CallbackResult {
            self.calls.lock().unwrap().push(format!("file {f:?}"));
            self.answer
        }
    }

    fn setup(answer: CallbackResult, panic: bool) -> (SimBackend, Bridge, Arc<Mutex<Vec<String>>>) {
        let mut b = SimBackend::with_files("u", "http://h", &[("/a", 10)]);
        let job = b.create_job("j", JobType::Download).unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let cb = Script {
            calls: calls.clone(),
            answer,
            panic,
        };
        (b, Bridge::new(job, Box::new(cb)), calls)
    }

    #[test]
    fn s_ok_is_ok_and_everything_else_passes_through() {
        assert_eq!(com_return(CallbackResult::ok()), Ok(()));
        assert_eq!(
            com_return(CallbackResult::fail(Hresult::E_FAIL)),
            Err(Hresult::E_FAIL)
        );
        // S_FALSE is a success code, but BITS wants S_OK: not laundered.
        assert_eq!(
            com_return(CallbackResult::fail(Hresult::S_FALSE)),
            Err(Hresult::S_FALSE)
        );
    }

    #[test]
    fn deliver_calls_the_user_with_a_working_job_handle() {
        let (mut b, bridge, calls) = setup(CallbackResult::ok(), false);
        let r = bridge.deliver(&mut b, &Notification::JobTransferred);
        assert_eq!(r, Ok(()));
        assert_eq!(*calls.lock().unwrap(), ["transferred SUSPENDED"]);
        let info = ErrorInfo {
            context: ErrorContext::RemoteFile,
            code: Hresult::http(404),
            file: Some(FileRef::File(0)),
            protocol: Some("http".into()),
        };
        bridge
            .deliver(&mut b, &Notification::JobError(info))
            .unwrap();
        bridge
            .deliver(&mut b, &Notification::FileTransferred(FileRef::Reply))
            .unwrap();
        assert_eq!(
            calls.lock().unwrap()[1..],
            ["error BG_E_HTTP_ERROR_404 (0x80190194)", "file Reply"]
        );
    }

    #[test]
    fn a_failure_is_returned_to_bits_unchanged() {
        let (mut b, bridge, _) = setup(CallbackResult::fail(Hresult::E_ACCESSDENIED), false);
        assert_eq!(
            bridge.deliver(&mut b, &Notification::JobTransferred),
            Err(Hresult::E_ACCESSDENIED)
        );
    }

    #[test]
    fn a_panic_becomes_e_fail_and_the_bridge_keeps_working() {
        let (mut b, bridge, calls) = setup(CallbackResult::ok(), true);
        assert_eq!(
            bridge.deliver(&mut b, &Notification::JobTransferred),
            Err(Hresult::E_FAIL)
        );
        // The poisoned lock does not stop the next delivery.
        assert_eq!(
            bridge.deliver(&mut b, &Notification::JobModification),
            Ok(())
        );
        assert_eq!(calls.lock().unwrap().len(), 1);
    }

    static SLEPT_MS: AtomicU64 = AtomicU64::new(0);
    fn record_sleep(d: Duration) {
        SLEPT_MS.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }

    #[test]
    fn a_hold_blocks_the_bits_thread_before_answering() {
        let answer = CallbackResult::fail(Hresult::E_FAIL).after(Duration::from_millis(1500));
        let (mut b, bridge, _) = setup(answer, false);
        let bridge = bridge.with_sleep(record_sleep);
        assert_eq!(
            bridge.deliver(&mut b, &Notification::JobModification),
            Ok(()) // the default JobModification answers S_OK at once
        );
        assert_eq!(SLEPT_MS.load(Ordering::SeqCst), 0);
        assert_eq!(
            bridge.deliver(&mut b, &Notification::JobTransferred),
            Err(Hresult::E_FAIL)
        );
        assert_eq!(SLEPT_MS.load(Ordering::SeqCst), 1500);
    }

    #[test]
    fn file_transferred_is_matched_by_local_name() {
        let locals = vec!["C:\\Data\\a.bin".to_owned(), "C:\\Data\\b.bin".to_owned()];
        assert_eq!(
            file_ref_for(JobType::Download, &locals, "c:/data/B.BIN"),
            Some(FileRef::File(1))
        );
        assert_eq!(file_ref_for(JobType::Download, &locals, "C:\\x"), None);
        assert_eq!(
            file_ref_for(JobType::UploadReply, &locals[..1], "C:\\Data\\reply.txt"),
            Some(FileRef::Reply)
        );
    }
}
