//! The conformance suite: BITS behaviour written once against
//! [`bitsim::Backend`], run against the simulator on Linux CI and against
//! real BITS on Windows.
//!
//! Each case is a `pub fn case<H: Harness>(h: &mut H)` that panics when the
//! backend misbehaves. What differs between the two worlds lives in the
//! small [`Harness`] trait: how a file is put on the HTTP peer, where local
//! files go, how "file in place" and "temporary files" are checked, how long
//! to wait. [`SimHarness`] is the simulator's; on Windows with the
//! `real-windows` feature, `bitsim_windows::real::RealHarness` runs
//! `bitsim-server` on 127.0.0.1 with a temporary root and checks real files.
//!
//! `tests/conformance.rs` instantiates every case in [`CASES`] for the
//! harness of the platform:
//!
//! ```
//! use bitsim_windows::conformance::{self, SimHarness};
//! let mut h = SimHarness::default();
//! conformance::download_lifecycle(&mut h);
//! conformance::resume_empty_job_is_bg_e_empty(&mut h);
//! ```

use bitsim::backend::{Backend, SimBackend};
use bitsim::{Callback, CallbackResult, JobAccess, JobHandle};
use bitsim_model::{
    ErrorContext, ErrorInfo, FileRef, Hresult, JobId, JobState, JobType, NotifyFlags,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Paths under this prefix are served slowly (the real harness caps their
/// bandwidth; the simulator's link is slow enough for the sizes used), so a
/// case can act while the job is still TRANSFERRING.
pub const SLOW_PREFIX: &str = "/slow/";
/// Uploads whose path starts with this prefix get a reply (upload-reply
/// jobs): the real harness routes them to bitsim-server's `echo` app.
pub const REPLY_PREFIX: &str = "/reply/";

/// The environment a conformance case runs in.
pub trait Harness {
    /// The backend under test.
    type B: Backend;
    /// A fresh backend whose HTTP peer serves `files` (`(path, size)`, paths
    /// starting with `/`), and accepts uploads anywhere.
    fn start(&mut self, files: &[(&str, u64)]) -> Self::B;
    /// The URL of `path` on the peer.
    fn url(&self, path: &str) -> String;
    /// A local path for a file called `name` (a fresh directory per harness).
    fn local_path(&self, name: &str) -> String;
    /// Creates the local file `path` with `size` bytes (an upload's source).
    fn create_local(&mut self, b: &mut Self::B, path: &str, size: u64);
    /// True if `path` is in place on the local disk (published by Complete).
    fn file_in_place(&self, b: &Self::B, path: &str) -> bool;
    /// How many of `job`'s temporary files exist now; `local` is one of its
    /// destinations (real BITS keeps `BIT*.tmp` beside it).
    fn temp_files(&self, b: &Self::B, job: JobId, local: &str) -> usize;
    /// True if the peer holds an upload at `path`; `None` if the harness
    /// cannot tell (the simulator keeps no server disk).
    fn uploaded(&self, b: &Self::B, path: &str) -> Option<bool>;
    /// How long to wait for a job to reach a state.
    fn timeout(&self) -> Duration;
    /// How long between two looks at an asynchronous effect (a callback).
    fn poll_step(&self) -> Duration {
        Duration::from_millis(200)
    }
}

/// The simulator as a conformance environment: [`SimBackend`] in virtual
/// time, one server at `http://conformance.test`.
#[derive(Debug, Default)]
pub struct SimHarness;

/// The simulated server's base URL.
pub const SIM_BASE: &str = "http://conformance.test";

impl Harness for SimHarness {
    type B = SimBackend;
    fn start(&mut self, files: &[(&str, u64)]) -> SimBackend {
        SimBackend::with_files("conformance", SIM_BASE, files)
    }
    fn url(&self, path: &str) -> String {
        format!("{SIM_BASE}{path}")
    }
    fn local_path(&self, name: &str) -> String {
        format!("/conformance/{name}")
    }
    fn create_local(&mut self, _: &mut SimBackend, _: &str, _: u64) {
        // The simulator does not read upload sources from a disk.
    }
    fn file_in_place(&self, b: &SimBackend, path: &str) -> bool {
        b.local_file_exists(path)
    }
    fn temp_files(&self, b: &SimBackend, job: JobId, _: &str) -> usize {
        b.temp_files(job)
    }
    fn uploaded(&self, _: &SimBackend, _: &str) -> Option<bool> {
        None
    }
    fn timeout(&self) -> Duration {
        // Virtual time: generous costs nothing.
        Duration::from_secs(3600)
    }
}

/// Every case, by name, for harnesses that iterate (the test file uses a
/// macro instead so each case is its own test).
pub const CASES: &[&str] = &[
    "download_lifecycle",
    "not_found_is_error_with_remote_file_context",
    "suspend_and_resume",
    "cancel_removes_temp_files",
    "complete_refused_on_upload_before_transferred",
    "resume_empty_job_is_bg_e_empty",
    "second_cancel_is_invalid_state",
    "notify_flags_default_and_read_back",
    "retry_delay_floor_and_no_progress_zero",
    "error_count_counts_errors",
    "failed_callback_is_called_again",
    "upload_to_server",
    "upload_reply_brings_a_reply",
    "complete_from_job_transferred",
    "file_transferred_names_the_file",
];

fn wait<H: Harness>(h: &H, b: &mut H::B, job: JobId, want: &[JobState]) -> JobState {
    let s = b.wait_for(job, h.timeout(), &|s| want.contains(&s));
    assert!(
        want.contains(&s),
        "job {job} reached {s}, expected one of {want:?} within {:?}",
        h.timeout()
    );
    s
}

/// Polls `cond` while time passes (virtual or real), up to the timeout.
fn eventually<H: Harness>(h: &H, b: &mut H::B, job: JobId, cond: &dyn Fn() -> bool) -> bool {
    let step = h.poll_step();
    let mut waited = Duration::ZERO;
    while waited < h.timeout() {
        if cond() {
            return true;
        }
        let _ = b.wait_for(job, step, &|_| false);
        waited += step;
    }
    cond()
}

/// What a recording callback saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// `(method, state the job was in when called)`.
    pub calls: Vec<(&'static str, JobState)>,
    /// The errors `JobError` was given.
    pub errors: Vec<ErrorInfo>,
    /// The files `FileTransferred` was given.
    pub files: Vec<FileRef>,
    /// What `Complete` returned when called from `JobTransferred`.
    pub completed: Vec<Result<Hresult, Hresult>>,
}

/// A callback that records its calls and answers `S_OK`, except that the
/// first `fail_transferred` `JobTransferred` calls answer `E_FAIL`.
pub struct Recorder {
    seen: Arc<Mutex<Seen>>,
    fail_transferred: u32,
    complete_in_callback: bool,
}

impl Recorder {
    /// A recorder and the shared record it writes to.
    pub fn new(fail_transferred: u32) -> (Self, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        (
            Recorder {
                seen: seen.clone(),
                fail_transferred,
                complete_in_callback: false,
            },
            seen,
        )
    }
    /// The same, calling `Complete` on the job from `JobTransferred` (the
    /// usual way an app finishes a job).
    pub fn completing() -> (Self, Arc<Mutex<Seen>>) {
        let (mut r, seen) = Recorder::new(0);
        r.complete_in_callback = true;
        (r, seen)
    }
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    fn note(&self, m: &'static str, job: &JobHandle<'_>) {
        let state = job.state();
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .calls
            .push((m, state));
    }
}

impl Callback for Recorder {
    fn job_transferred(&mut self, job: &mut JobHandle<'_>) -> CallbackResult {
        self.note("JobTransferred", job);
        if self.fail_transferred > 0 {
            self.fail_transferred -= 1;
            return CallbackResult::fail(Hresult::E_FAIL);
        }
        if self.complete_in_callback {
            let r = job.complete().map_err(|e| e.code);
            self.seen().completed.push(r);
        }
        CallbackResult::ok()
    }
    fn file_transferred(&mut self, job: &mut JobHandle<'_>, file: FileRef) -> CallbackResult {
        self.note("FileTransferred", job);
        self.seen().files.push(file);
        CallbackResult::ok()
    }
    fn job_error(&mut self, job: &mut JobHandle<'_>, error: &ErrorInfo) -> CallbackResult {
        self.note("JobError", job);
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .errors
            .push(error.clone());
        CallbackResult::ok()
    }
}

fn count(seen: &Arc<Mutex<Seen>>, method: &str) -> usize {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .calls
        .iter()
        .filter(|(m, _)| *m == method)
        .count()
}

/// create → AddFile → Resume → TRANSFERRED → Complete → ACKNOWLEDGED, with
/// the file in place and the progress counting every byte.
pub fn download_lifecycle<H: Harness>(h: &mut H) {
    let mut b = h.start(&[("/a.bin", 64 * 1024)]);
    let job = b.create_job("lifecycle", JobType::Download).unwrap();
    assert_eq!(b.state(job).unwrap(), JobState::Suspended);
    assert_eq!(b.job_type(job).unwrap(), JobType::Download);
    assert_eq!(b.display_name(job).unwrap(), "lifecycle");
    let local = h.local_path("a.bin");
    b.add_file(job, &h.url("/a.bin"), &local).unwrap();
    assert_eq!(b.progress(job).unwrap().files_total, 1);
    b.resume(job).unwrap();
    wait(h, &mut b, job, &[JobState::Transferred]);
    let p = b.progress(job).unwrap();
    assert_eq!((p.bytes_total, p.bytes_transferred), (65_536, 65_536));
    assert_eq!((p.files_total, p.files_transferred), (1, 1));
    assert!(!h.file_in_place(&b, &local), "published before Complete");
    assert_eq!(b.complete(job).unwrap(), Hresult::S_OK);
    assert_eq!(b.state(job).unwrap(), JobState::Acknowledged);
    assert!(
        h.file_in_place(&b, &local),
        "Complete did not publish {local}"
    );
}

/// A 404 is fatal: ERROR with BG_E_HTTP_ERROR_404 in the REMOTE_FILE
/// context, and JobError is delivered with the same error.
pub fn not_found_is_error_with_remote_file_context<H: Harness>(h: &mut H) {
    let mut b = h.start(&[("/present.bin", 10)]);
    let job = b.create_job("missing", JobType::Download).unwrap();
    let (rec, seen) = Recorder::new(0);
    b.set_notify_interface(job, Some(Box::new(rec))).unwrap();
    b.add_file(job, &h.url("/missing.bin"), &h.local_path("missing.bin"))
        .unwrap();
    assert_eq!(
        b.error(job).unwrap_err().code,
        Hresult::BG_E_ERROR_INFORMATION_UNAVAILABLE
    );
    b.resume(job).unwrap();
    wait(h, &mut b, job, &[JobState::Error]);
    let e = b.error(job).unwrap();
    assert_eq!(e.code, Hresult::http(404));
    assert_eq!(e.context, ErrorContext::RemoteFile);
    let s = seen.clone();
    assert!(
        eventually(h, &mut b, job, &|| count(&s, "JobError") > 0),
        "JobError was never delivered"
    );
    let errs = seen.lock().unwrap().errors.clone();
    assert_eq!(errs[0].code, Hresult::http(404));
    assert_eq!(errs[0].context, ErrorContext::RemoteFile);
    assert_eq!(count(&seen, "JobTransferred"), 0);
    b.cancel(job).unwrap();
}

/// Suspend stops an active job (SUSPENDED at once); Resume takes it on to
/// TRANSFERRED.
pub fn suspend_and_resume<H: Harness>(h: &mut H) {
    let path = "/slow/s.bin";
    let mut b = h.start(&[(path, 4 * 1024 * 1024)]);
    let job = b.create_job("suspend", JobType::Download).unwrap();
    b.add_file(job, &h.url(path), &h.local_path("s.bin"))
        .unwrap();
    b.resume(job).unwrap();
    wait(
        h,
        &mut b,
        job,
        &[JobState::Connecting, JobState::Transferring],
    );
    b.suspend(job).unwrap();
    assert_eq!(b.state(job).unwrap(), JobState::Suspended);
    // Suspending twice is allowed in a non-final state.
    b.suspend(job).unwrap();
    b.resume(job).unwrap();
    assert_ne!(b.state(job).unwrap(), JobState::Suspended);
    b.cancel(job).unwrap();
    assert_eq!(b.state(job).unwrap(), JobState::Cancelled);
}

/// Cancel during a transfer deletes the temporary file and publishes nothing.
pub fn cancel_removes_temp_files<H: Harness>(h: &mut H) {
    let path = "/slow/c.bin";
    let mut b = h.start(&[(path, 8 * 1024 * 1024)]);
    let job = b.create_job("cancel", JobType::Download).unwrap();
    let local = h.local_path("c.bin");
    b.add_file(job, &h.url(path), &local).unwrap();
    b.resume(job).unwrap();
    wait(h, &mut b, job, &[JobState::Transferring]);
    let still = b.wait_for(job, h.poll_step(), &|s| s != JobState::Transferring);
    assert_eq!(
        still,
        JobState::Transferring,
        "the transfer ended before it could be cancelled"
    );
    assert!(
        h.temp_files(&b, job, &local) > 0,
        "no temporary file while TRANSFERRING"
    );
    assert_eq!(b.cancel(job).unwrap(), Hresult::S_OK);
    assert_eq!(b.state(job).unwrap(), JobState::Cancelled);
    assert_eq!(h.temp_files(&b, job, &local), 0, "Cancel left temp files");
    assert!(!h.file_in_place(&b, &local));
}

/// Complete on an upload job that is not TRANSFERRED is BG_E_INVALID_STATE,
/// and the job is untouched.
pub fn complete_refused_on_upload_before_transferred<H: Harness>(h: &mut H) {
    let mut b = h.start(&[]);
    let src = h.local_path("up-src.bin");
    h.create_local(&mut b, &src, 1024);
    for t in [JobType::Upload, JobType::UploadReply] {
        let job = b.create_job("upload-complete", t).unwrap();
        b.add_file(job, &h.url("/up/never.bin"), &src).unwrap();
        assert_eq!(
            b.complete(job).unwrap_err().code,
            Hresult::BG_E_INVALID_STATE
        );
        assert_eq!(b.state(job).unwrap(), JobState::Suspended);
        b.cancel(job).unwrap();
    }
}

/// Resume on a job with no files is BG_E_EMPTY.
pub fn resume_empty_job_is_bg_e_empty<H: Harness>(h: &mut H) {
    let mut b = h.start(&[]);
    let job = b.create_job("empty", JobType::Download).unwrap();
    assert_eq!(b.resume(job).unwrap_err().code, Hresult::BG_E_EMPTY);
    assert_eq!(b.state(job).unwrap(), JobState::Suspended);
    b.cancel(job).unwrap();
}

/// A second Cancel (and any state change after it) is BG_E_INVALID_STATE.
pub fn second_cancel_is_invalid_state<H: Harness>(h: &mut H) {
    let mut b = h.start(&[]);
    let job = b.create_job("twice", JobType::Download).unwrap();
    assert_eq!(b.cancel(job).unwrap(), Hresult::S_OK);
    assert_eq!(b.cancel(job).unwrap_err().code, Hresult::BG_E_INVALID_STATE);
    assert_eq!(b.resume(job).unwrap_err().code, Hresult::BG_E_INVALID_STATE);
    assert_eq!(
        b.complete(job).unwrap_err().code,
        Hresult::BG_E_INVALID_STATE
    );
}

/// A new job's notify flags are TRANSFERRED | ERROR = 0x3; set flags read back.
pub fn notify_flags_default_and_read_back<H: Harness>(h: &mut H) {
    let mut b = h.start(&[]);
    let job = b.create_job("flags", JobType::Download).unwrap();
    assert_eq!(b.notify_flags(job).unwrap(), NotifyFlags::DEFAULT.0);
    assert_eq!(b.notify_flags(job).unwrap(), 0x3);
    let f = NotifyFlags::JOB_TRANSFERRED.0 | NotifyFlags::JOB_MODIFICATION.0;
    b.set_notify_flags(job, f).unwrap();
    assert_eq!(b.notify_flags(job).unwrap(), 0x9);
    b.cancel(job).unwrap();
}

/// Defaults 600 s / 14 days; a retry delay below 5 s reads back 5; a
/// no-progress timeout of 0 reads back 0.
pub fn retry_delay_floor_and_no_progress_zero<H: Harness>(h: &mut H) {
    let mut b = h.start(&[]);
    let job = b.create_job("delays", JobType::Download).unwrap();
    assert_eq!(b.minimum_retry_delay(job).unwrap(), 600);
    assert_eq!(b.no_progress_timeout(job).unwrap(), 1_209_600);
    b.set_minimum_retry_delay(job, 1).unwrap();
    assert_eq!(b.minimum_retry_delay(job).unwrap(), 5);
    b.set_minimum_retry_delay(job, 60).unwrap();
    assert_eq!(b.minimum_retry_delay(job).unwrap(), 60);
    b.set_no_progress_timeout(job, 0).unwrap();
    assert_eq!(b.no_progress_timeout(job).unwrap(), 0);
    b.cancel(job).unwrap();
}

/// A new job has no errors; one that failed counts at least one.
pub fn error_count_counts_errors<H: Harness>(h: &mut H) {
    let mut b = h.start(&[]);
    let job = b.create_job("count", JobType::Download).unwrap();
    assert_eq!(b.error_count(job).unwrap(), 0);
    b.add_file(job, &h.url("/nope.bin"), &h.local_path("nope.bin"))
        .unwrap();
    b.resume(job).unwrap();
    wait(h, &mut b, job, &[JobState::Error]);
    assert!(b.error_count(job).unwrap() >= 1);
    b.cancel(job).unwrap();
}

/// JobTransferred answering E_FAIL is called again until it answers S_OK
/// (the bridge hands BITS the failure unchanged).
pub fn failed_callback_is_called_again<H: Harness>(h: &mut H) {
    let mut b = h.start(&[("/r.bin", 1000)]);
    let job = b.create_job("recall", JobType::Download).unwrap();
    let (rec, seen) = Recorder::new(1);
    b.set_notify_interface(job, Some(Box::new(rec))).unwrap();
    // The re-call interval is unspecified [JOBXFER]; the simulator uses the
    // retry delay (decision A9), so keep it short for both worlds.
    b.set_minimum_retry_delay(job, 5).unwrap();
    b.add_file(job, &h.url("/r.bin"), &h.local_path("r.bin"))
        .unwrap();
    b.resume(job).unwrap();
    wait(h, &mut b, job, &[JobState::Transferred]);
    let s = seen.clone();
    assert!(
        eventually(h, &mut b, job, &|| count(&s, "JobTransferred") >= 2),
        "JobTransferred was not called again after E_FAIL: {:?}",
        seen.lock().unwrap().calls
    );
    assert_eq!(b.complete(job).unwrap(), Hresult::S_OK);
}

/// An upload job reaches TRANSFERRED, Complete acknowledges it, and the
/// server holds the file.
pub fn upload_to_server<H: Harness>(h: &mut H) {
    let mut b = h.start(&[]);
    let src = h.local_path("up.bin");
    h.create_local(&mut b, &src, 100_000);
    let job = b.create_job("upload", JobType::Upload).unwrap();
    b.add_file(job, &h.url("/up/up.bin"), &src).unwrap();
    assert_eq!(
        b.add_file(job, &h.url("/up/second.bin"), &src)
            .unwrap_err()
            .code,
        Hresult::BG_E_TOO_MANY_FILES
    );
    assert_eq!(b.reply_progress(job).unwrap_err().code, Hresult::E_NOTIMPL);
    b.resume(job).unwrap();
    wait(h, &mut b, job, &[JobState::Transferred]);
    assert_eq!(b.complete(job).unwrap(), Hresult::S_OK);
    assert_eq!(b.state(job).unwrap(), JobState::Acknowledged);
    if let Some(up) = h.uploaded(&b, "/up/up.bin") {
        assert!(up, "the server does not hold the upload");
    }
}

/// An upload-reply job uploads, downloads the reply, and Complete publishes
/// the reply file.
pub fn upload_reply_brings_a_reply<H: Harness>(h: &mut H) {
    let mut b = h.start(&[]);
    let src = h.local_path("ur.bin");
    h.create_local(&mut b, &src, 2048);
    let reply = h.local_path("ur-reply.bin");
    let job = b.create_job("upload-reply", JobType::UploadReply).unwrap();
    b.add_file(job, &h.url(&format!("{REPLY_PREFIX}ur.bin")), &src)
        .unwrap();
    b.set_reply_file_name(job, &reply).unwrap();
    b.resume(job).unwrap();
    wait(h, &mut b, job, &[JobState::Transferred]);
    let rp = b.reply_progress(job).unwrap();
    assert_eq!(rp.bytes_transferred, rp.bytes_total);
    assert_eq!(b.complete(job).unwrap(), Hresult::S_OK);
    assert_eq!(b.state(job).unwrap(), JobState::Acknowledged);
    assert!(h.file_in_place(&b, &reply), "no reply at {reply}");
}

/// Calling Complete from inside JobTransferred acknowledges the job and
/// publishes the file (the pattern the JobTransferred page recommends).
pub fn complete_from_job_transferred<H: Harness>(h: &mut H) {
    let mut b = h.start(&[("/cb.bin", 5000)]);
    let job = b
        .create_job("complete-in-callback", JobType::Download)
        .unwrap();
    let (rec, seen) = Recorder::completing();
    b.set_notify_interface(job, Some(Box::new(rec))).unwrap();
    let local = h.local_path("cb.bin");
    b.add_file(job, &h.url("/cb.bin"), &local).unwrap();
    b.resume(job).unwrap();
    wait(h, &mut b, job, &[JobState::Acknowledged]);
    assert_eq!(seen.lock().unwrap().completed, [Ok(Hresult::S_OK)]);
    assert!(
        h.file_in_place(&b, &local),
        "Complete did not publish {local}"
    );
}

/// With BG_NOTIFY_FILE_TRANSFERRED, FileTransferred names each finished
/// file by its index, and comes before JobTransferred.
pub fn file_transferred_names_the_file<H: Harness>(h: &mut H) {
    let mut b = h.start(&[("/f0.bin", 3000), ("/f1.bin", 4000)]);
    let job = b.create_job("file-transferred", JobType::Download).unwrap();
    let (rec, seen) = Recorder::new(0);
    b.set_notify_interface(job, Some(Box::new(rec))).unwrap();
    let flags = NotifyFlags::DEFAULT.0 | NotifyFlags::FILE_TRANSFERRED.0;
    b.set_notify_flags(job, flags).unwrap();
    b.add_file(job, &h.url("/f0.bin"), &h.local_path("f0.bin"))
        .unwrap();
    b.add_file(job, &h.url("/f1.bin"), &h.local_path("f1.bin"))
        .unwrap();
    b.resume(job).unwrap();
    wait(h, &mut b, job, &[JobState::Transferred]);
    let s = seen.clone();
    assert!(
        eventually(h, &mut b, job, &|| count(&s, "JobTransferred") > 0
            && count(&s, "FileTransferred") >= 2),
        "notifications missing: {:?}",
        seen.lock().unwrap().calls
    );
    let mut files = seen.lock().unwrap().files.clone();
    files.sort();
    files.dedup();
    assert_eq!(files, [FileRef::File(0), FileRef::File(1)]);
    let calls = seen.lock().unwrap().calls.clone();
    let last_file = calls.iter().rposition(|(m, _)| *m == "FileTransferred");
    let first_job = calls.iter().position(|(m, _)| *m == "JobTransferred");
    assert!(
        last_file < first_job,
        "JobTransferred before FileTransferred: {calls:?}"
    );
    assert_eq!(b.complete(job).unwrap(), Hresult::S_OK);
}
