//! The conformance [`Harness`] for real BITS (Windows, feature
//! `real-windows`): bitsim-server on 127.0.0.1 with a temporary root is the
//! HTTP peer, a temporary directory holds the local files, and checks look
//! at the real disk.
//!
//! * Files a case asks for are written under the server's root before the
//!   server starts; paths under [`SLOW_PREFIX`] are served at 512 KiB/s
//!   (a bandwidth fault rule), so a case can act mid-transfer.
//! * Uploads under [`REPLY_PREFIX`] go to the server's built-in `echo`
//!   application (the reply is the upload), for upload-reply jobs.
//! * Requests under [`ONCE_404_PREFIX`] get one 404 (a fault rule with
//!   `times = 1`), under [`SERVER_ERROR_PREFIX`] always 404; uploads under
//!   [`APP_FAILURE_PREFIX`] go to a `notify` application whose URL the
//!   server itself refuses, so the application fails.
//! * "Temporary files" are BITS's `BIT*.tmp` files beside the destination.
//! * The notification command line that completes a job is
//!   `%SystemRoot%\System32\bitsadmin.exe /complete {GUID}`.
//! * Each case's waits are bounded by its budget; slow cases run under
//!   Wine (whose list says how they end) and on Windows when
//!   `BITSIM_CONFORMANCE_SLOW=1`.

use crate::com::WinBackend;
pub use crate::com::{running_on_wine, wine_version};
use crate::conformance::{
    APP_FAILURE_PREFIX, Harness, ONCE_404_PREFIX, REPLY_PREFIX, SERVER_ERROR_PREFIX, SLOW_PREFIX,
};
use bitsim_model::JobId;
use bitsim_server::{Config, FaultRule, NotifyBy, ReplyApp, ReplyRoute, Server, ServerHandle};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Real BITS plus a local bitsim-server.
pub struct RealHarness {
    rt: tokio::runtime::Runtime,
    server: Option<ServerHandle>,
    root: tempfile::TempDir,
    local: tempfile::TempDir,
    base: String,
    budget: Duration,
    never: Vec<String>,
}

impl RealHarness {
    /// A harness with fresh temporary directories; the server starts in
    /// [`Harness::start`].
    pub fn new() -> std::io::Result<RealHarness> {
        Ok(RealHarness {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?,
            server: None,
            root: tempfile::tempdir()?,
            local: tempfile::tempdir()?,
            base: String::new(),
            budget: Duration::from_secs(120),
            never: Vec::new(),
        })
    }

    /// Starts the HTTP peer serving `files` (as [`Harness::start`] does),
    /// without connecting to BITS: for tests that create their
    /// [`WinBackend`] elsewhere (e.g. on another thread).
    pub fn serve(&mut self, files: &[(&str, u64)]) {
        self.stop();

        for (path, size) in files {
            write_pattern(&self.server_path(path), *size);
        }
        for dir in [
            "up",
            REPLY_PREFIX.trim_matches('/'),
            SERVER_ERROR_PREFIX.trim_matches('/'),
            APP_FAILURE_PREFIX.trim_matches('/'),
        ] {
            std::fs::create_dir_all(self.root.path().join(dir)).expect("create directory");
        }
        let mut cfg = Config::new(self.root.path());
        cfg.faults.push(FaultRule {
            path: Some(SLOW_PREFIX.to_owned()),
            bandwidth_bps: Some(512 * 1024),
            ..FaultRule::default()
        });
        cfg.faults.push(FaultRule {
            path: Some(ONCE_404_PREFIX.to_owned()),
            status: Some(404),
            times: Some(1),
            ..FaultRule::default()
        });
        cfg.faults.push(FaultRule {
            path: Some(SERVER_ERROR_PREFIX.to_owned()),
            status: Some(404),
            ..FaultRule::default()
        });
        cfg.reply.push(ReplyRoute {
            prefix: REPLY_PREFIX.to_owned(),
            app: ReplyApp::Echo {
                copy_to_destination: false,
            },
        });
        cfg.reply.push(ReplyRoute {
            prefix: APP_FAILURE_PREFIX.to_owned(),
            app: ReplyApp::Notify {
                url: "/no-such-application".to_owned(),
                by: NotifyBy::Value,
                timeout_ms: 10_000,
            },
        });
        let server = self
            .rt
            .block_on(Server::bind(cfg))
            .expect("bind bitsim-server on 127.0.0.1");
        self.base = format!("http://{}", server.local_addr());
        let _guard = self.rt.enter();
        self.server = Some(server.spawn());
    }

    fn server_path(&self, path: &str) -> PathBuf {
        self.root.path().join(path.trim_start_matches('/'))
    }

    fn stop(&mut self) {
        if let Some(h) = self.server.take()
            && let Err(e) = self.rt.block_on(h.shutdown())
        {
            tracing::warn!("bitsim-server shutdown: {e}");
        }
    }
}

impl Drop for RealHarness {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write_pattern(path: &Path, size: u64) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create directory");
    }
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    std::fs::write(path, data).expect("write file");
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
        format!("{}{path}", self.base)
    }

    fn local_path(&self, name: &str) -> String {
        self.local.path().join(name).to_string_lossy().into_owned()
    }

    fn create_local(&mut self, _: &mut WinBackend, path: &str, size: u64) {
        write_pattern(Path::new(path), size);
    }

    fn file_in_place(&self, _: &WinBackend, path: &str) -> bool {
        Path::new(path).is_file()
    }

    fn temp_files(&self, _: &WinBackend, _: JobId, local: &str) -> usize {
        let Some(dir) = Path::new(local).parent() else {
            return 0;
        };
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().to_ascii_uppercase();
                    n.starts_with("BIT") && n.ends_with(".TMP")
                })
                .count()
        })
    }

    fn uploaded(&self, _: &WinBackend, path: &str) -> Option<bool> {
        Some(self.server_path(path).is_file())
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
