//! The conformance [`Harness`] for real BITS (Windows, feature
//! `real-windows`): the HTTP peer and local files of [`crate::peer`]
//! (bitsim-server on 127.0.0.1, its routes for slow, failing and
//! upload-reply paths), and checks that look at the real disk.
//!
//! * The notification command line that completes a job is
//!   `%SystemRoot%\System32\bitsadmin.exe /complete {GUID}`.
//! * Each case's waits are bounded by its budget; slow cases run under
//!   Wine (whose list says how they end) and on Windows when
//!   `BITSIM_CONFORMANCE_SLOW=1`.

use crate::com::WinBackend;
pub use crate::com::{running_on_wine, wine_version};
use crate::conformance::Harness;
use crate::peer::{Peer, temp_files_beside, write_pattern};
use bitsim_model::JobId;
use std::path::Path;
use std::time::Duration;

/// Real BITS plus a local bitsim-server.
pub struct RealHarness {
    peer: Peer,
    budget: Duration,
    never: Vec<String>,
}

impl RealHarness {
    /// A harness with fresh temporary directories; the server starts in
    /// [`Harness::start`].
    pub fn new() -> std::io::Result<RealHarness> {
        Ok(RealHarness {
            peer: Peer::new(2)?,
            budget: Duration::from_secs(120),
            never: Vec::new(),
        })
    }

    /// Starts the HTTP peer serving `files` (as [`Harness::start`] does),
    /// without connecting to BITS: for tests that create their
    /// [`WinBackend`] elsewhere (e.g. on another thread).
    pub fn serve(&mut self, files: &[(&str, u64)]) {
        self.peer.serve(files);
    }
}

impl Harness for RealHarness {
    type B = WinBackend;

    fn start(&mut self, files: &[(&str, u64)]) -> WinBackend {
        self.serve(files);
        WinBackend::new()
            .expect("connect to the BITS service")
            .cancel_on_drop(true)
    }

    fn url(&self, path: &str) -> String {
        self.peer.url(path)
    }

    fn local_path(&self, name: &str) -> String {
        self.peer.local_path(name)
    }

    fn create_local(&mut self, _: &mut WinBackend, path: &str, size: u64) {
        write_pattern(Path::new(path), size);
    }

    fn file_in_place(&self, _: &WinBackend, path: &str) -> bool {
        Path::new(path).is_file()
    }

    fn temp_files(&self, _: &WinBackend, _: JobId, local: &str) -> usize {
        temp_files_beside(local)
    }

    fn uploaded(&self, _: &WinBackend, path: &str) -> Option<bool> {
        Some(self.peer.uploaded(path))
    }

    fn completing_cmd_line(&self, job: JobId) -> (String, String) {
        let root = std::env::var("SystemRoot").unwrap_or_else(|_| r"C:\Windows".to_owned());
        let program = format!(r"{root}\System32\bitsadmin.exe");
        (program, format!("bitsadmin.exe /complete {job}"))
    }

    fn timeout(&self) -> Duration {
        self.budget
    }

    fn begin(&mut self, budget: Duration, never: &[String]) {
        self.budget = budget;
        never.clone_into(&mut self.never);
    }

    fn never_comes(&self, method: &str) -> bool {
        self.never.iter().any(|m| m == method)
    }

    fn runs_slow_cases(&self) -> bool {
        running_on_wine() || std::env::var("BITSIM_CONFORMANCE_SLOW").is_ok_and(|v| v == "1")
    }

    fn poll_step(&self) -> Duration {
        Duration::from_millis(250)
    }
}
