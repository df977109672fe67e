//! The conformance [`Harness`] for the real-time driver
//! (`bitsim::realtime::RtBackend`, feature `realtime`): real HTTP over
//! loopback with bitsim-server as the peer, real files in temporary
//! directories, the real clock, and real processes for command lines.
//! It stands on the same HTTP peer as `bitsim_windows::real::RealHarness`
//! (real BITS on Windows): [`peer`], the crate's `src/peer.rs`, with its
//! routes for slow, failing and upload-reply paths.
//!
//! * The command line that completes a job runs a real program, `touch`,
//!   which leaves a marker file naming the job; the backend under test
//!   ([`RtCase`]) calls `Complete` when it sees one, as `bitsadmin
//!   /complete` asks the BITS service to on Windows.
//! * Time is real, so the cases that wait for the callback re-call timer
//!   take the job's MinimumRetryDelay (5 s, BITS's floor), and the held
//!   callbacks of `at_most_four_notifications_per_user` are held 6 s
//!   ([`Harness::callback_hold`]) instead of 20.

use bitsim::backend::Backend;
use bitsim::engine::{ModelAccess, ModelBacked, ModelView};
use bitsim::realtime::{RtBackend, RtConfig};
use bitsim::{Callback, JobAccess};
use bitsim_model::{Error, Hresult, JobId, JobState, JobType};
use bitsim_windows::conformance::{self, Harness};
use peer::{Peer, temp_files_beside, write_pattern};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "../../src/peer.rs"]
mod peer;

/// The real-time driver plus a local bitsim-server.
pub struct RtHarness {
    peer: Peer,
    markers: tempfile::TempDir,
    budget: Duration,
}

impl RtHarness {
    /// A harness with fresh temporary directories; the server starts in
    /// [`Harness::start`].
    pub fn new() -> std::io::Result<RtHarness> {
        Ok(RtHarness {
            // The server's own runtime: RtBackend blocks on another one.
            peer: Peer::new(1)?,
            markers: tempfile::tempdir()?,
            budget: Duration::from_secs(60),
        })
    }

    fn serve(&mut self, files: &[(&str, u64)]) {
        self.peer.serve(files);
    }
}

/// The marker the completing command line leaves for `job`.
const MARKER: &str = "complete-";

/// [`RtBackend`] as the conformance suite drives it: every call goes to
/// the driver, and while time passes ([`Backend::wait_for`]) it calls
/// `Complete` for each job whose command line left a marker.
pub struct RtCase {
    inner: RtBackend,
    markers: PathBuf,
}

impl RtCase {
    /// Completes the jobs whose markers are there (and removes them);
    /// true if there was one.
    fn complete_marked(&mut self) -> bool {
        let Ok(entries) = std::fs::read_dir(&self.markers) else {
            return false;
        };
        let mut any = false;
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_prefix(MARKER)
                .and_then(|g| uuid::Uuid::parse_str(g).ok())
            else {
                continue;
            };
            let _ = std::fs::remove_file(e.path());
            let r = self.inner.complete(JobId(id));
            tracing::info!(job = %id, ?r, "Complete asked by the command line");
            any = true;
        }
        any
    }
}

impl ModelBacked for RtCase {
    fn model_view(&self) -> ModelView<'_> {
        self.inner.model_view()
    }
    fn with_model<R>(&mut self, f: impl FnOnce(&mut ModelAccess<'_>) -> R) -> R {
        self.inner.with_model(f)
    }
    fn complete_job(&mut self, job: JobId) -> Result<Hresult, Error> {
        self.inner.complete_job(job)
    }
}

impl Backend for RtCase {
    fn create_job(&mut self, display_name: &str, job_type: JobType) -> Result<JobId, Error> {
        self.inner.create_job(display_name, job_type)
    }
    fn add_file(&mut self, job: JobId, remote: &str, local: &str) -> Result<(), Error> {
        self.inner.add_file(job, remote, local)
    }
    fn set_notify_interface(
        &mut self,
        job: JobId,
        callback: Option<Box<dyn Callback + Send>>,
    ) -> Result<(), Error> {
        self.inner.set_notify_interface(job, callback)
    }
    fn set_notify_flags(&mut self, job: JobId, flags: u32) -> Result<(), Error> {
        self.inner.set_notify_flags(job, flags)
    }
    fn notify_flags(&self, job: JobId) -> Result<u32, Error> {
        self.inner.notify_flags(job)
    }
    fn minimum_retry_delay(&self, job: JobId) -> Result<u32, Error> {
        self.inner.minimum_retry_delay(job)
    }
    fn no_progress_timeout(&self, job: JobId) -> Result<u32, Error> {
        self.inner.no_progress_timeout(job)
    }
    fn set_reply_file_name(&mut self, job: JobId, path: &str) -> Result<(), Error> {
        self.inner.set_reply_file_name(job, path)
    }
    fn set_notify_cmd_line(
        &mut self,
        job: JobId,
        program: Option<&str>,
        parameters: Option<&str>,
    ) -> Result<(), Error> {
        self.inner.set_notify_cmd_line(job, program, parameters)
    }
    fn wait_for(
        &mut self,
        job: JobId,
        timeout: Duration,
        done: &dyn Fn(JobState) -> bool,
    ) -> JobState {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let s = self
                .inner
                .wait_for(job, left.min(Duration::from_millis(50)), done);
            if self.complete_marked() {
                continue;
            }
            if done(s) || left.is_zero() {
                return s;
            }
        }
    }
}

impl Harness for RtHarness {
    type B = RtCase;

    fn start(&mut self, files: &[(&str, u64)]) -> RtCase {
        self.serve(files);
        RtCase {
            inner: RtBackend::new(RtConfig::default(), "conformance")
                .expect("start the real-time driver"),
            markers: self.markers.path().to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        self.peer.url(path)
    }

    fn local_path(&self, name: &str) -> String {
        self.peer.local_path(name)
    }

    fn create_local(&mut self, _: &mut RtCase, path: &str, size: u64) {
        write_pattern(Path::new(path), size);
    }

    fn file_in_place(&self, _: &RtCase, path: &str) -> bool {
        Path::new(path).is_file()
    }

    fn temp_files(&self, _: &RtCase, _: JobId, local: &str) -> usize {
        temp_files_beside(local)
    }

    fn uploaded(&self, _: &RtCase, path: &str) -> Option<bool> {
        Some(self.peer.uploaded(path))
    }

    fn completing_cmd_line(&self, job: JobId) -> (String, String) {
        let program = ["/usr/bin/touch", "/bin/touch"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .unwrap_or("/usr/bin/touch")
            .to_owned();
        let marker = self.markers.path().join(format!("{MARKER}{}", job.0));
        (program, format!("touch {}", marker.display()))
    }

    fn timeout(&self) -> Duration {
        self.budget
    }

    fn begin(&mut self, budget: Duration, _: &[String]) {
        self.budget = budget;
    }

    fn poll_step(&self) -> Duration {
        Duration::from_millis(100)
    }

    fn callback_hold(&self) -> Duration {
        // Five 1000-byte downloads over loopback are TRANSFERRED within
        // milliseconds; half of 6 s leaves the four calls room on a loaded
        // machine.
        Duration::from_secs(6)
    }
}
