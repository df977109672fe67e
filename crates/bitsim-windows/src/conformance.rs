//! The conformance suite: BITS behaviour written once against
//! [`bitsim::Backend`], run against several implementations of BITS: the
//! simulator, Wine's BITS (`qmgr`, the adapter built for Windows and run
//! under Wine on Linux) and the real BITS service of Windows.
//!
//! Each case is a `pub fn case<H: Harness>(h: &mut H)` that panics when the
//! backend misbehaves. What differs between the worlds lives in the small
//! [`Harness`] trait: how a file is put on the HTTP peer, where local files
//! go, how "file in place" and "temporary files" are checked, how long to
//! wait. [`SimHarness`] is the simulator's; on Windows (and Wine) with the
//! `real-windows` feature, `bitsim_windows::real::RealHarness` runs
//! `bitsim-server` on 127.0.0.1 with a temporary root and checks real files.
//!
//! Every case has a time budget ([`CaseInfo::budget`], real time; the
//! simulator's time is virtual) and the slow ones ([`CaseInfo::slow`]: they
//! wait for BITS's own retry or re-call timers) run only where they can
//! finish. An implementation other than real Windows may differ from BITS:
//! [`crate::outcomes`] holds, per implementation, the checked-in list of
//! what each case is expected to do, and [`check`] runs a case and compares.
//!
//! ```
//! use bitsim_windows::conformance::{self, SimHarness};
//! let mut h = SimHarness::default();
//! conformance::download_lifecycle(&mut h);
//! conformance::resume_empty_job_is_bg_e_empty(&mut h);
//! ```

use crate::outcomes::{Expected, ExpectedOutcomes};
use bitsim::backend::{Backend, SimBackend};
use bitsim::{Callback, CallbackResult, JobAccess, JobHandle, Scenario};
use bitsim_model::{
    ErrorContext, ErrorInfo, FileRef, Hresult, JobId, JobState, JobType, NotifyFlags,
};
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Paths under this prefix are served slowly (the real harness caps their
/// bandwidth; the simulator's link is slow enough for the sizes used), so a
/// case can act while the job is still TRANSFERRING.
pub const SLOW_PREFIX: &str = "/slow/";
/// Uploads whose path starts with this prefix get a reply (upload-reply
/// jobs): the real harness routes them to bitsim-server's `echo` app.
pub const REPLY_PREFIX: &str = "/reply/";
/// The first request under this prefix is answered 404, later ones
/// normally: a fatal error that goes away, for "fix and Resume".
pub const ONCE_404_PREFIX: &str = "/once404/";
/// Every request under this prefix is answered 404 by the server itself
/// (for uploads: an error Ack with `BITS-Error-Context: 0x5`).
pub const SERVER_ERROR_PREFIX: &str = "/srvfail/";
/// Upload-reply jobs under this prefix reach a server application that
/// fails (an error Ack with `BITS-Error-Context: 0x7`) [MC-BUP] 2.2.1.
pub const APP_FAILURE_PREFIX: &str = "/appfail/";

/// The environment a conformance case runs in.
pub trait Harness {
    /// The backend under test.
    type B: Backend;
    /// A fresh backend whose HTTP peer serves `files` (`(path, size)`, paths
    /// starting with `/`), and accepts uploads anywhere; requests under
    /// [`ONCE_404_PREFIX`], [`SERVER_ERROR_PREFIX`] and
    /// [`APP_FAILURE_PREFIX`] fail as those say.
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
    /// `SetNotifyCmdLine`'s program and parameters for a command line that
    /// calls `Complete` on `job` when BITS runs it.
    fn completing_cmd_line(&self, job: JobId) -> (String, String);
    /// How long to wait for a job to reach a state or for a callback: the
    /// running case's budget.
    fn timeout(&self) -> Duration;
    /// How long between two looks at an asynchronous effect (a callback).
    fn poll_step(&self) -> Duration {
        Duration::from_millis(200)
    }
    /// Called by [`run_case`] before a case runs: its budget (the case's
    /// own, or a shorter one from the implementation's list), and the
    /// notifications the implementation is known never to send (a case
    /// then looks once instead of waiting its budget for them).
    fn begin(&mut self, budget: Duration, never: &[String]) {
        let _ = (budget, never);
    }
    /// True if the implementation is known never to send `method`
    /// (`"JobError"`, ...) in the running case.
    fn never_comes(&self, method: &str) -> bool {
        let _ = method;
        false
    }
    /// Whether [`CaseInfo::slow`] cases run here.
    fn runs_slow_cases(&self) -> bool {
        true
    }
    /// How long the blocking callbacks of
    /// [`at_most_four_notifications_per_user`] hold their call: 20 s, long
    /// enough for real BITS to start every job while four are held; a
    /// harness whose transfers start at once (the real-time driver over
    /// loopback) may shorten it to keep the case fast.
    fn callback_hold(&self) -> Duration {
        Duration::from_secs(20)
    }
}

/// The simulator as a conformance environment: [`SimBackend`] in virtual
/// time, one server at `http://conformance.test` with the failing paths of
/// [`Harness::start`] as scenario faults, and a notification program that
/// completes the job.
#[derive(Debug, Default)]
pub struct SimHarness;

/// The simulated server's base URL.
pub const SIM_BASE: &str = "http://conformance.test";

/// The simulated notification program ([`Harness::completing_cmd_line`]).
pub const SIM_PROGRAM: &str = r"C:\Windows\System32\bitsadmin.exe";

/// The simulated world's faults and programs (see sim-scenarios/README.md
/// for the schema).
const SIM_WORLD: &str = r#"
name = "conformance"
duration = "365d"

[[faults]]
kind = "http_status"
url = "/once404/"
status = 404
count = 1

[[faults]]
kind = "http_status"
url = "/srvfail/"
status = 404

[[faults]]
kind = "server_app_failure"
url = "/appfail/"
status = 404

[programs.'C:\Windows\System32\bitsadmin.exe']
action = "complete"
"#;

/// The simulator world [`SimHarness`] starts: its server holds `files`;
/// `extra` is more scenario TOML appended to the world (e.g. a `[policy]`
/// table; the mutation tests use it to build deliberately wrong worlds).
///
/// # Panics
/// If `extra` makes the world invalid.
pub fn sim_backend(files: &[(&str, u64)], extra: &str) -> SimBackend {
    let mut world = String::from(SIM_WORLD);
    let host = SIM_BASE.trim_start_matches("http://");
    let _ = write!(
        world,
        "\n[[servers]]\nhost = \"{host}\"\nbandwidth = 10000000\nlatency = \"20ms\"\nfiles = {{ "
    );
    for (i, (path, size)) in files.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(world, "{sep}\"{path}\" = {size}");
    }
    world.push_str(" }\n");
    world.push_str(extra);
    let world = Scenario::parse(&world, "conformance").expect("the conformance world parses");
    SimBackend::new(world, 0, "conformance")
}

impl Harness for SimHarness {
    type B = SimBackend;
    fn start(&mut self, files: &[(&str, u64)]) -> SimBackend {
        sim_backend(files, "")
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
    fn completing_cmd_line(&self, job: JobId) -> (String, String) {
        (
            SIM_PROGRAM.to_owned(),
            format!("bitsadmin.exe /complete {job}"),
        )
    }
    fn timeout(&self) -> Duration {
        // Virtual time: generous costs nothing.
        Duration::from_secs(3600)
    }
}

/// One case of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseInfo {
    /// The case's function name.
    pub name: &'static str,
    /// What it checks, in a few words (the table's first column).
    pub summary: &'static str,
    /// Its real-time budget: every wait in the case is bounded by it.
    pub budget: Duration,
    /// It waits for BITS's retry or re-call timers (real BITS: the retry
    /// delay's floor is 5 s; the re-call interval of a failing callback is
    /// not documented), so it runs only where that can finish.
    pub slow: bool,
}

macro_rules! cases {
    ($($name:ident, $secs:expr, $slow:expr, $summary:expr;)*) => {
        /// Every case, in order.
        pub const CASES: &[CaseInfo] = &[$(CaseInfo {
            name: stringify!($name),
            summary: $summary,
            budget: Duration::from_secs($secs),
            slow: $slow,
        }),*];

        /// The case called `name`, instantiated for harness `H`.
        pub fn case_fn<H: Harness>(name: &str) -> Option<fn(&mut H)> {
            match name {
                $(stringify!($name) => Some($name::<H>),)*
                _ => None,
            }
        }
    };
}

cases! {
    download_lifecycle, 60, false, "download: create, AddFile, Resume, TRANSFERRED, Complete, file in place";
    not_found_is_error_with_remote_file_context, 60, false, "404 is ERROR, BG_E_HTTP_ERROR_404 in REMOTE_FILE, JobError called";
    suspend_and_resume, 60, false, "Suspend mid-transfer is SUSPENDED at once; Resume goes on";
    cancel_removes_temp_files, 60, false, "Cancel mid-transfer deletes the temporary files";
    complete_refused_on_upload_before_transferred, 30, false, "Complete on an upload before TRANSFERRED is BG_E_INVALID_STATE";
    resume_empty_job_is_bg_e_empty, 30, false, "Resume on a job without files is BG_E_EMPTY";
    second_cancel_is_invalid_state, 30, false, "a second Cancel is BG_E_INVALID_STATE";
    notify_flags_default_and_read_back, 30, false, "notify flags default to 0x3 and read back";
    retry_delay_floor_and_no_progress_zero, 30, false, "retry delay 600 s / 14 days by default, floor 5 s, no-progress 0 kept";
    error_count_counts_errors, 60, false, "GetErrorCount: 0, then at least 1 after an error";
    failed_callback_is_called_again, 900, true, "JobTransferred answering E_FAIL is called again";
    upload_to_server, 60, false, "upload: one file only, TRANSFERRED, Complete, server holds it";
    upload_reply_brings_a_reply, 60, false, "upload-reply: reply downloaded, Complete publishes it";
    complete_from_job_transferred, 60, false, "Complete from inside JobTransferred";
    file_transferred_names_the_file, 60, false, "FileTransferred names each file, before JobTransferred";
    job_error_called_again_after_failure, 900, true, "JobError answering E_FAIL is called again";
    cmd_line_runs_instead_of_failing_callback, 120, false, "a failing JobTransferred makes BITS run the notify command line";
    job_error_remedy_cancel, 60, false, "JobError remedy 1: Cancel from the callback";
    job_error_remedy_complete_refused_on_upload, 60, false, "JobError remedy 2: Complete is refused on an upload in ERROR";
    job_error_remedy_fix_and_resume, 60, false, "JobError remedy 3: the cause goes away, Resume from the callback";
    upload_reply_error_contexts, 60, false, "upload-reply errors: server REMOTE_FILE (0x5), server application REMOTE_APPLICATION (0x7)";
    at_most_four_notifications_per_user, 120, true, "at most four notifications of a user outstanding at once";
}

/// The information of the case called `name`.
pub fn case_info(name: &str) -> Option<&'static CaseInfo> {
    CASES.iter().find(|c| c.name == name)
}

/// What a case did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every assertion held.
    Pass,
    /// It panicked with this message.
    Fail(String),
    /// A [`CaseInfo::slow`] case on a harness that does not run them.
    Skipped,
}

/// Runs the case `name` on `h` within its budget (or `budget`, when
/// shorter), catching its panic.
///
/// # Panics
/// If no case is called `name`.
pub fn run_case<H: Harness>(
    name: &str,
    h: &mut H,
    budget: Option<Duration>,
    never: &[String],
) -> Outcome {
    let info = case_info(name).unwrap_or_else(|| panic!("no conformance case {name:?}"));
    if info.slow && !h.runs_slow_cases() {
        return Outcome::Skipped;
    }
    let f = case_fn::<H>(name).expect("every case has a function");
    h.begin(budget.unwrap_or(info.budget).min(info.budget), never);
    match catch_unwind(AssertUnwindSafe(|| f(h))) {
        Ok(()) => Outcome::Pass,
        Err(p) => Outcome::Fail(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic without a message".into()),
        ),
    }
}

/// Runs the case `name` on `h` and compares what it did with `expected`
/// (`None`: the implementation is real BITS, where every case must pass).
/// `Err` says what changed: a case failing that should pass, passing that
/// should fail (a change too: the list must be updated), or failing for
/// another reason than the list says.
pub fn check<H: Harness>(
    name: &str,
    h: &mut H,
    expected: Option<&ExpectedOutcomes>,
) -> Result<Outcome, String> {
    let entry = expected.map(|e| {
        e.get(name)
            .unwrap_or_else(|| panic!("{}: no expected outcome for {name}", e.implementation))
    });
    let never = entry.map_or(&[][..], |e| e.never.as_slice());
    let outcome = run_case(name, h, entry.and_then(|e| e.budget), never);
    let who = expected.map_or("real BITS", |e| e.implementation.as_str());
    match (entry.map(|e| &e.expected), &outcome) {
        (_, Outcome::Skipped) => Ok(outcome),
        (None | Some(Expected::Pass), Outcome::Pass) => Ok(outcome),
        (None | Some(Expected::Pass), Outcome::Fail(msg)) => {
            Err(format!("{name} failed on {who}, expected to pass: {msg}"))
        }
        (Some(Expected::Fail { .. }), Outcome::Pass) => Err(format!(
            "{name} now PASSES on {who}, but its expected-outcome list says it fails: \
             update the list (and the README's table)"
        )),
        (Some(Expected::Fail { failure, .. }), Outcome::Fail(msg)) => {
            if msg.contains(failure.as_str()) {
                Ok(outcome)
            } else {
                Err(format!(
                    "{name} fails on {who} for another reason than expected: \
                     expected a failure containing {failure:?}, got: {msg}"
                ))
            }
        }
    }
}

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

/// Waits until `method` has been called at least `n` times; looks only
/// once if the implementation is known never to send it.
fn called<H: Harness>(
    h: &H,
    b: &mut H::B,
    job: JobId,
    seen: &Arc<Mutex<Seen>>,
    method: &'static str,
    n: usize,
) -> bool {
    if h.never_comes(method) {
        return count(seen, method) >= n;
    }
    let s = seen.clone();
    eventually(h, b, job, &|| count(&s, method) >= n)
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
    /// What the remedy called from `JobError` returned.
    pub remedies: Vec<Result<Hresult, Hresult>>,
}

/// What a recording callback does from inside `JobError` when it answers
/// `S_OK` (the three remedies of the JobError page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Remedy {
    /// Nothing.
    #[default]
    None,
    /// `Cancel`.
    Cancel,
    /// `Complete`.
    Complete,
    /// `Resume` (after the cause was fixed).
    Resume,
}

/// A callback that records its calls and answers `S_OK`, except that the
/// first `fail_transferred` `JobTransferred` calls (and the first
/// `fail_error` `JobError` calls) answer `E_FAIL`.
pub struct Recorder {
    seen: Arc<Mutex<Seen>>,
    fail_transferred: u32,
    fail_error: u32,
    complete_in_callback: bool,
    remedy: Remedy,
    hold: Duration,
}

impl Recorder {
    /// A recorder and the shared record it writes to.
    pub fn new(fail_transferred: u32) -> (Self, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        (
            Recorder::sharing(&seen).fail_transferred(fail_transferred),
            seen,
        )
    }
    /// A recorder writing to `seen` (several jobs can share one record).
    pub fn sharing(seen: &Arc<Mutex<Seen>>) -> Self {
        Recorder {
            seen: seen.clone(),
            fail_transferred: 0,
            fail_error: 0,
            complete_in_callback: false,
            remedy: Remedy::None,
            hold: Duration::ZERO,
        }
    }
    /// The same, calling `Complete` on the job from `JobTransferred` (the
    /// usual way an app finishes a job).
    pub fn completing() -> (Self, Arc<Mutex<Seen>>) {
        let (mut r, seen) = Recorder::new(0);
        r.complete_in_callback = true;
        (r, seen)
    }
    /// The first `n` `JobTransferred` calls answer `E_FAIL`.
    pub fn fail_transferred(mut self, n: u32) -> Self {
        self.fail_transferred = n;
        self
    }
    /// The first `n` `JobError` calls answer `E_FAIL`.
    pub fn fail_error(mut self, n: u32) -> Self {
        self.fail_error = n;
        self
    }
    /// What `JobError` does when it answers `S_OK`.
    pub fn remedy(mut self, r: Remedy) -> Self {
        self.remedy = r;
        self
    }
    /// `JobTransferred` blocks this long before answering.
    pub fn hold(mut self, d: Duration) -> Self {
        self.hold = d;
        self
    }
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    fn note(&self, m: &'static str, job: &JobHandle<'_>) {
        let state = job.state();
        self.seen().calls.push((m, state));
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
        CallbackResult::ok().after(self.hold)
    }
    fn file_transferred(&mut self, job: &mut JobHandle<'_>, file: FileRef) -> CallbackResult {
        self.note("FileTransferred", job);
        self.seen().files.push(file);
        CallbackResult::ok()
    }
    fn job_error(&mut self, job: &mut JobHandle<'_>, error: &ErrorInfo) -> CallbackResult {
        self.note("JobError", job);
        self.seen().errors.push(error.clone());
        if self.fail_error > 0 {
            self.fail_error -= 1;
            return CallbackResult::fail(Hresult::E_FAIL);
        }
        let r = match self.remedy {
            Remedy::None => return CallbackResult::ok(),
            Remedy::Cancel => job.cancel(),
            Remedy::Complete => job.complete(),
            Remedy::Resume => job.resume().map(|()| Hresult::S_OK),
        };
        self.seen().remedies.push(r.map_err(|e| e.code));
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

fn record(seen: &Arc<Mutex<Seen>>) -> Seen {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
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
    assert!(
        called(h, &mut b, job, &seen, "JobError", 1),
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
    assert!(
        called(h, &mut b, job, &seen, "JobTransferred", 2),
        "JobTransferred was not called again after E_FAIL: {:?}",
        record(&seen).calls
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
    assert!(
        called(h, &mut b, job, &seen, "JobTransferred", 1)
            && called(h, &mut b, job, &seen, "FileTransferred", 2),
        "notifications missing: {:?}",
        record(&seen).calls
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

/// JobError answering E_FAIL is called again later \[JOBERR\]: "If you
/// return a failure, BITS calls the method again" (the interval is not
/// documented; the simulator uses the retry delay, decision A9).
pub fn job_error_called_again_after_failure<H: Harness>(h: &mut H) {
    let mut b = h.start(&[]);
    let job = b.create_job("joberror-recall", JobType::Download).unwrap();
    let (rec, seen) = Recorder::new(0);
    b.set_notify_interface(job, Some(Box::new(rec.fail_error(1))))
        .unwrap();
    b.set_minimum_retry_delay(job, 5).unwrap();
    b.add_file(job, &h.url("/gone.bin"), &h.local_path("gone.bin"))
        .unwrap();
    b.resume(job).unwrap();
    wait(h, &mut b, job, &[JobState::Error]);
    assert!(
        called(h, &mut b, job, &seen, "JobError", 2),
        "JobError was not called again after E_FAIL: {:?}",
        record(&seen).calls
    );
    let calls = record(&seen).calls;
    assert!(
        calls
            .iter()
            .all(|(m, s)| *m != "JobError" || *s == JobState::Error),
        "JobError called outside ERROR: {calls:?}"
    );
    b.cancel(job).unwrap();
}

/// With a notify command line set, a JobTransferred that fails makes BITS
/// run the command line \[CMDLINE\] \[JOBXFER\]; here the program calls
/// Complete, so the job ends ACKNOWLEDGED without the app calling it.
pub fn cmd_line_runs_instead_of_failing_callback<H: Harness>(h: &mut H) {
    let mut b = h.start(&[("/cmd.bin", 2000)]);
    let job = b.create_job("cmd-line", JobType::Download).unwrap();
    let (rec, seen) = Recorder::new(u32::MAX);
    b.set_notify_interface(job, Some(Box::new(rec))).unwrap();
    let (program, parameters) = h.completing_cmd_line(job);
    b.set_notify_cmd_line(job, Some(&program), Some(&parameters))
        .unwrap();
    let local = h.local_path("cmd.bin");
    b.add_file(job, &h.url("/cmd.bin"), &local).unwrap();
    b.resume(job).unwrap();
    wait(h, &mut b, job, &[JobState::Acknowledged]);
    assert!(
        count(&seen, "JobTransferred") >= 1,
        "the command line ran but the callback was never tried"
    );
    assert!(
        h.file_in_place(&b, &local),
        "the command line's Complete did not publish {local}"
    );
}

/// JobError remedy 1 \[JOBERR\]: Cancel from inside the callback; the job
/// is CANCELLED and leaves no temporary file.
pub fn job_error_remedy_cancel<H: Harness>(h: &mut H) {
    let mut b = h.start(&[]);
    let job = b.create_job("remedy-cancel", JobType::Download).unwrap();
    let (rec, seen) = Recorder::new(0);
    b.set_notify_interface(job, Some(Box::new(rec.remedy(Remedy::Cancel))))
        .unwrap();
    let local = h.local_path("rc.bin");
    b.add_file(job, &h.url("/gone-rc.bin"), &local).unwrap();
    b.resume(job).unwrap();
    wait(h, &mut b, job, &[JobState::Error, JobState::Cancelled]);
    assert!(
        called(h, &mut b, job, &seen, "JobError", 1),
        "JobError was never delivered"
    );
    wait(h, &mut b, job, &[JobState::Cancelled]);
    assert_eq!(record(&seen).remedies, [Ok(Hresult::S_OK)]);
    assert_eq!(h.temp_files(&b, job, &local), 0, "Cancel left temp files");
    assert!(!h.file_in_place(&b, &local));
}

/// JobError remedy 2 \[JOBERR\] \[COMPLETE\]: Complete keeps what was
/// transferred, but an upload job can only be completed once TRANSFERRED:
/// from JobError it is BG_E_INVALID_STATE and the job stays in ERROR.
pub fn job_error_remedy_complete_refused_on_upload<H: Harness>(h: &mut H) {
    let mut b = h.start(&[]);
    let src = h.local_path("remedy-up.bin");
    h.create_local(&mut b, &src, 4096);
    let job = b.create_job("remedy-complete", JobType::Upload).unwrap();
    let (rec, seen) = Recorder::new(0);
    b.set_notify_interface(job, Some(Box::new(rec.remedy(Remedy::Complete))))
        .unwrap();
    b.add_file(job, &h.url(&format!("{SERVER_ERROR_PREFIX}up.bin")), &src)
        .unwrap();
    b.resume(job).unwrap();
    wait(h, &mut b, job, &[JobState::Error]);
    assert!(
        called(h, &mut b, job, &seen, "JobError", 1),
        "JobError was never delivered"
    );
    assert_eq!(record(&seen).remedies, [Err(Hresult::BG_E_INVALID_STATE)]);
    assert_eq!(b.state(job).unwrap(), JobState::Error);
    b.cancel(job).unwrap();
}

/// JobError remedy 3 \[JOBERR\]: the cause goes away (the server has the
/// file again) and the callback calls Resume; the job then transfers.
pub fn job_error_remedy_fix_and_resume<H: Harness>(h: &mut H) {
    let path = format!("{ONCE_404_PREFIX}fix.bin");
    let mut b = h.start(&[(&path, 3000)]);
    let job = b.create_job("remedy-resume", JobType::Download).unwrap();
    let (rec, seen) = Recorder::new(0);
    b.set_notify_interface(job, Some(Box::new(rec.remedy(Remedy::Resume))))
        .unwrap();
    let local = h.local_path("fix.bin");
    b.add_file(job, &h.url(&path), &local).unwrap();
    b.resume(job).unwrap();
    wait(h, &mut b, job, &[JobState::Transferred]);
    let s = record(&seen);
    assert_eq!(
        s.errors.first().map(|e| e.code),
        Some(Hresult::http(404)),
        "no JobError for the first 404: {:?}",
        s.calls
    );
    assert_eq!(s.remedies, [Ok(Hresult::S_OK)]);
    assert_eq!(b.complete(job).unwrap(), Hresult::S_OK);
    assert!(h.file_in_place(&b, &local), "no file at {local}");
}

/// Upload-reply errors carry the context the server's Ack names
/// ([MC-BUP] 2.2.1, `BITS-Error-Context`): 0x5 for the server itself
/// (REMOTE_FILE), 0x7 for the server application (REMOTE_APPLICATION)
/// \[SRVAPPERR\].
pub fn upload_reply_error_contexts<H: Harness>(h: &mut H) {
    let mut b = h.start(&[]);
    let src = h.local_path("ctx.bin");
    h.create_local(&mut b, &src, 2048);
    let server = b.create_job("ctx-server", JobType::UploadReply).unwrap();
    b.add_file(
        server,
        &h.url(&format!("{SERVER_ERROR_PREFIX}ctx.bin")),
        &src,
    )
    .unwrap();
    let app = b.create_job("ctx-app", JobType::UploadReply).unwrap();
    b.add_file(app, &h.url(&format!("{APP_FAILURE_PREFIX}ctx.bin")), &src)
        .unwrap();
    b.resume(server).unwrap();
    b.resume(app).unwrap();
    let failed = [JobState::Error, JobState::TransientError];
    wait(h, &mut b, server, &failed);
    wait(h, &mut b, app, &failed);
    let e = b.error(server).unwrap();
    assert_eq!(
        (e.code, e.context),
        (Hresult::http(404), ErrorContext::RemoteFile),
        "server error"
    );
    let e = b.error(app).unwrap();
    assert_eq!(
        e.context,
        ErrorContext::RemoteApplication,
        "server application error {}",
        e.code
    );
    assert_eq!(
        e.code.as_i32() as u32 & 0xFFFF_0000,
        0x8019_0000,
        "the application's HTTP status as BG_E_HTTP_ERROR_*: {}",
        e.code
    );
    b.cancel(server).unwrap();
    b.cancel(app).unwrap();
}

/// At most four notifications of one user are outstanding at once \[CB\]:
/// five jobs whose JobTransferred blocks for 20 s
/// ([`Harness::callback_hold`]) get four calls at once (within half of
/// that of Resume), and the fifth only when one returns.
pub fn at_most_four_notifications_per_user<H: Harness>(h: &mut H) {
    let paths: Vec<String> = (0..5).map(|i| format!("/n{i}.bin")).collect();
    let files: Vec<(&str, u64)> = paths.iter().map(|p| (p.as_str(), 1000)).collect();
    let mut b = h.start(&files);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let hold = h.callback_hold();
    let mut jobs = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let job = b
            .create_job(&format!("slot-{i}"), JobType::Download)
            .unwrap();
        let rec = Recorder::sharing(&seen).hold(hold);
        b.set_notify_interface(job, Some(Box::new(rec))).unwrap();
        b.add_file(job, &h.url(p), &h.local_path(&format!("n{i}.bin")))
            .unwrap();
        jobs.push(job);
    }
    for &job in &jobs {
        b.resume(job).unwrap();
    }
    // Five tiny files over loopback: every job is TRANSFERRED long before
    // the first hold ends, so four calls must be outstanding together.
    let step = h.poll_step();
    let mut waited = Duration::ZERO;
    while count(&seen, "JobTransferred") < 4 && waited < hold / 2 {
        let _ = b.wait_for(jobs[0], step, &|_| false);
        waited += step;
    }
    assert!(
        count(&seen, "JobTransferred") >= 4,
        "fewer than four JobTransferred calls at once: {:?}",
        record(&seen).calls
    );
    assert_eq!(
        count(&seen, "JobTransferred"),
        4,
        "a fifth notification while four were outstanding"
    );
    assert!(
        called(h, &mut b, jobs[0], &seen, "JobTransferred", 5),
        "the fifth JobTransferred never came"
    );
    for &job in &jobs {
        wait(h, &mut b, job, &[JobState::Transferred]);
        assert_eq!(b.complete(job).unwrap(), Hresult::S_OK);
    }
}
