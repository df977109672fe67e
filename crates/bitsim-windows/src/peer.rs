//! The world of the conformance harnesses that move real bytes: a
//! bitsim-server on 127.0.0.1 with a temporary root as the HTTP peer, and a
//! temporary directory for the local files. Real BITS on Windows
//! (`real::RealHarness`) and the real-time driver on Linux (the crate's
//! `realtime` tests) both stand on it, so the suite's routes mean the same
//! thing to every implementation:
//!
//! * Files a case asks for are written under the server's root before the
//!   server starts; paths under [`SLOW_PREFIX`] are served at 512 KiB/s (a
//!   bandwidth fault rule), so a case can act mid-transfer.
//! * Uploads under [`REPLY_PREFIX`] go to the server's built-in `echo`
//!   application (the reply is the upload), for upload-reply jobs.
//! * Requests under [`ONCE_404_PREFIX`] get one 404 (a fault rule with
//!   `times = 1`), under [`SERVER_ERROR_PREFIX`] always 404; uploads under
//!   [`APP_FAILURE_PREFIX`] go to a `notify` application whose URL the
//!   server itself refuses, so the application fails.
//! * "Temporary files" are BITS's `BIT*.tmp` files beside the destination.
//!
//! The Linux tests include this file with `#[path]` (the crate's library
//! has bitsim-server only for Windows targets), so it names the suite's
//! module as `super::conformance`.

use super::conformance::{
    APP_FAILURE_PREFIX, ONCE_404_PREFIX, REPLY_PREFIX, SERVER_ERROR_PREFIX, SLOW_PREFIX,
};
use bitsim_server::{Config, FaultRule, NotifyBy, ReplyApp, ReplyRoute, Server, ServerHandle};
use std::path::{Path, PathBuf};

/// The HTTP peer and the local directory of one harness.
pub struct Peer {
    rt: tokio::runtime::Runtime,
    server: Option<ServerHandle>,
    root: tempfile::TempDir,
    local: tempfile::TempDir,
    base: String,
}

impl Peer {
    /// Fresh temporary directories and the server's own runtime (with
    /// `workers` threads); the server starts in [`Peer::serve`].
    pub fn new(workers: usize) -> std::io::Result<Peer> {
        Ok(Peer {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()?,
            server: None,
            root: tempfile::tempdir()?,
            local: tempfile::tempdir()?,
            base: String::new(),
        })
    }

    /// (Re)starts the server with `files` (path, size) under its root and
    /// the routes described in the module docs.
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

    /// The URL of `path` on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A path in the local directory.
    pub fn local_path(&self, name: &str) -> String {
        self.local.path().join(name).to_string_lossy().into_owned()
    }

    /// Whether the server holds `path` (an upload arrived).
    pub fn uploaded(&self, path: &str) -> bool {
        self.server_path(path).is_file()
    }

    fn server_path(&self, path: &str) -> PathBuf {
        self.root.path().join(path.trim_start_matches('/'))
    }

    /// Stops the server, if it runs.
    pub fn stop(&mut self) {
        if let Some(h) = self.server.take()
            && let Err(e) = self.rt.block_on(h.shutdown())
        {
            tracing::warn!("bitsim-server shutdown: {e}");
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes `size` bytes of a fixed pattern to `path` (folders created).
pub fn write_pattern(path: &Path, size: u64) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create directory");
    }
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    std::fs::write(path, data).expect("write file");
}

/// How many `BIT*.tmp` files stand beside `local`.
pub fn temp_files_beside(local: &str) -> usize {
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
