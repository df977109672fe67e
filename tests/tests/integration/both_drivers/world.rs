//! The two worlds a case runs in, behind one trait: the simulated one
//! (`SimBackend`, a scenario's servers and faults, virtual time) and the
//! real one (`RtBackend`, bitsim-server on loopback with the same files and
//! faults, real files in a temporary directory, the real clock).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bitsim::Scenario;
use bitsim::backend::{Backend, SimBackend};
use bitsim::engine::ModelBacked;
use bitsim::realtime::{RtBackend, RtConfig};
use bitsim::{Callback, CallbackResult, JobHandle};
use bitsim_model::{Call, ErrorInfo, FileRef, Hresult, JobId, Policy, Reply};
use bitsim_server::{FaultRule, NotifyBy, ReplyApp, ReplyRoute, Server, ServerHandle, TlsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::realtime::common::{make_file, server_config};

/// Size of `/a.bin`, `/b.bin` and the files under `/once503/` and
/// `/always503/`.
pub const SMALL: u64 = 100_000;
/// Size of `/slow/big.bin`, served at [`SLOW_BPS`]: about 4 s of transfer.
pub const BIG: u64 = 2 << 20;
/// Bytes per second of everything under `/slow/`.
pub const SLOW_BPS: u64 = 512 * 1024;

/// One world and the backend that drives it. Both worlds hold the same
/// server files and faults:
///
/// * `/a.bin`, `/b.bin`: [`SMALL`] bytes; any other path answers 404;
/// * `/once503/a.bin`: one 503, then the file; `/always503/a.bin`: 503;
/// * `/slow/big.bin`: [`BIG`] bytes at [`SLOW_BPS`];
/// * uploads under `/app/` go to a server application that answers 403 to
///   the first post and a reply to later ones;
/// * [`World::unreachable`] names a host no connection reaches.
pub trait World: Sized {
    /// The backend under test.
    type B: Backend + ModelBacked;
    /// A fresh world whose BITS service runs with `policy`.
    fn start(policy: Policy) -> (Self, Self::B);
    /// The URL of `path` on the world's server.
    fn url(&self, path: &str) -> String;
    /// A URL whose server cannot be reached.
    fn unreachable(&self, path: &str) -> String;
    /// The URL of `path` on an `https://` server whose certificate comes
    /// from an authority the client does not trust.
    fn untrusted(&mut self, path: &str) -> String;
    /// A local path (`name` in the local folder).
    fn local(&self, name: &str) -> String;
    /// Writes a local file (an upload's source).
    fn make_local(&self, path: &str, size: u64);
    /// True if the local disk has a file at `path`.
    fn disk_has(&self, b: &Self::B, path: &str) -> bool;
    /// How many posts reached the `/app/` application, where the world can
    /// count them.
    fn posts(&self) -> Option<usize>;
    /// The BITS service restarts: the queue goes through its persisted
    /// form and a new service, as the same user, carries on.
    fn restart(&mut self, b: Self::B) -> Self::B;
    /// The machine's network goes (`false`) or comes back.
    fn set_network(&self, b: &mut Self::B, up: bool);
    /// `user` logs on (`true`) or off.
    fn set_logged_on(&self, b: &mut Self::B, user: &str, on: bool);
}

/// The simulated world.
pub struct Sim;

impl World for Sim {
    type B = SimBackend;

    fn start(policy: Policy) -> (Sim, SimBackend) {
        let text = format!(
            r#"
name = "both drivers"
duration = "365d"

[[servers]]
host = "both.test"
reply_size = "4KiB"
files = {{ "/a.bin" = {SMALL}, "/b.bin" = {SMALL}, "/once503/a.bin" = {SMALL}, "/always503/a.bin" = {SMALL} }}

[[servers]]
host = "slow.test"
bandwidth = "512KiB"
files = {{ "/slow/big.bin" = {BIG} }}

[programs."/bin/sleep"]
runtime = "3s"

[programs."/nonexistent/bitsim-a27"]
missing = true

[[servers]]
host = "untrusted.test"
files = {{ "/a.bin" = {SMALL} }}

[[faults]]
kind = "certificate_invalid"
url = "://untrusted.test/"

[[faults]]
kind = "server_app_failure"
url = "/app/"
status = 403
count = 1

[[faults]]
kind = "http_status"
url = "/once503/"
status = 503
count = 1

[[faults]]
kind = "http_status"
url = "/always503/"
status = 503
"#
        );
        let mut world = Scenario::parse(&text, "both").expect("the simulated world parses");
        world.policy = policy;
        (Sim, SimBackend::new(world, 0, "tester"))
    }
    fn url(&self, path: &str) -> String {
        if path.starts_with("/slow/") {
            format!("http://slow.test{path}")
        } else {
            format!("http://both.test{path}")
        }
    }
    fn unreachable(&self, path: &str) -> String {
        format!("http://unreachable.test{path}")
    }
    fn untrusted(&mut self, path: &str) -> String {
        format!("https://untrusted.test{path}")
    }
    fn local(&self, name: &str) -> String {
        format!("/local/{name}")
    }
    fn make_local(&self, _: &str, _: u64) {}
    fn disk_has(&self, b: &SimBackend, path: &str) -> bool {
        b.disk_has(path)
    }
    fn posts(&self) -> Option<usize> {
        None
    }
    fn restart(&mut self, mut b: SimBackend) -> SimBackend {
        b.simulation_mut().restart_service();
        b
    }
    fn set_network(&self, b: &mut SimBackend, up: bool) {
        b.simulation_mut().set_network(up);
    }
    fn set_logged_on(&self, b: &mut SimBackend, user: &str, on: bool) {
        b.simulation_mut().set_logged_on(user, on);
    }
}

/// The real world: bitsim-server on loopback; the `/app/` application is a
/// small HTTP server of its own that counts posts. The driver persists its
/// queue to a state file, so that a restart is a new driver opening it.
pub struct Real {
    cfg: RtConfig,
    rt: tokio::runtime::Runtime,
    /// The `https://` server of [`World::untrusted`], started on first use.
    tls: Option<(ServerHandle, String)>,
    dir: tempfile::TempDir,
    server: Option<ServerHandle>,
    base: String,
    closed_port: u16,
    posts: Arc<AtomicUsize>,
}

impl World for Real {
    type B = RtBackend;

    fn start(policy: Policy) -> (Real, RtBackend) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("srv");
        for d in ["app", "once503", "always503", "slow"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("local")).unwrap();
        for (i, f) in ["a.bin", "b.bin", "once503/a.bin", "always503/a.bin"]
            .iter()
            .enumerate()
        {
            make_file(&root.join(f), SMALL, i as u8);
        }
        make_file(&root.join("slow/big.bin"), BIG, 9);
        // A port nothing listens on: bound, then released.
        let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let posts = Arc::new(AtomicUsize::new(0));
        let counter = posts.clone();
        let (server, base) = rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let app = l.local_addr().unwrap();
            tokio::spawn(async move {
                while let Ok((mut s, _)) = l.accept().await {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 65536];
                        let _ = s.read(&mut buf).await;
                        let answer: &[u8] = if n == 0 {
                            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        } else {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nreply"
                        };
                        let _ = s.write_all(answer).await;
                    });
                }
            });
            let mut cfg = server_config(&root, "127.0.0.1:0".parse().unwrap());
            cfg.reply.push(ReplyRoute {
                prefix: "/app/".into(),
                app: ReplyApp::Notify {
                    url: format!("http://{app}/notify"),
                    by: NotifyBy::Reference,
                    timeout_ms: 60_000,
                },
            });
            cfg.faults.push(FaultRule {
                path: Some("/slow/".into()),
                bandwidth_bps: Some(SLOW_BPS),
                ..FaultRule::default()
            });
            cfg.faults.push(FaultRule {
                path: Some("/once503/".into()),
                status: Some(503),
                times: Some(1),
                ..FaultRule::default()
            });
            cfg.faults.push(FaultRule {
                path: Some("/always503/".into()),
                status: Some(503),
                ..FaultRule::default()
            });
            let server = Server::bind(cfg).await.unwrap().spawn();
            let base = format!("http://{}", server.local_addr());
            (server, base)
        });
        let cfg = RtConfig {
            policy,
            state_file: Some(dir.path().join("queue.json")),
            ..RtConfig::default()
        };
        let b = RtBackend::new(cfg.clone(), "tester").expect("start the real-time driver");
        let w = Real {
            cfg,
            rt,
            tls: None,
            dir,
            server: Some(server),
            base,
            closed_port,
            posts,
        };
        (w, b)
    }
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    fn unreachable(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.closed_port)
    }
    fn untrusted(&mut self, path: &str) -> String {
        if self.tls.is_none() {
            // A self-signed CA of its own that the driver does not trust
            // (its RtConfig names no CA file).
            let mut cfg =
                server_config(&self.dir.path().join("srv"), "127.0.0.1:0".parse().unwrap());
            cfg.tls = Some(TlsConfig {
                self_signed: true,
                ..TlsConfig::default()
            });
            let server = self.rt.block_on(Server::bind(cfg)).unwrap();
            let base = format!("https://{}", server.local_addr());
            let _g = self.rt.enter();
            self.tls = Some((server.spawn(), base));
        }
        let base = self.tls.as_ref().map_or("", |(_, b)| b.as_str());
        format!("{base}{path}")
    }
    fn local(&self, name: &str) -> String {
        self.dir
            .path()
            .join("local")
            .join(name)
            .to_string_lossy()
            .into_owned()
    }
    fn make_local(&self, path: &str, size: u64) {
        make_file(Path::new(path), size, 8);
    }
    fn disk_has(&self, _: &RtBackend, path: &str) -> bool {
        Path::new(path).exists()
    }
    fn posts(&self) -> Option<usize> {
        Some(self.posts.load(Ordering::SeqCst))
    }
    fn restart(&mut self, b: RtBackend) -> RtBackend {
        // Dropping the backend stops its transfers and releases the
        // queue's lock; the new driver loads the state file (X2).
        drop(b);
        RtBackend::new(self.cfg.clone(), "tester").expect("restart the real-time driver")
    }
    fn set_network(&self, b: &mut RtBackend, up: bool) {
        b.set_network(up);
    }
    fn set_logged_on(&self, b: &mut RtBackend, user: &str, on: bool) {
        b.set_logged_on(user, on);
    }
}

impl Drop for Real {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = self.rt.block_on(s.shutdown());
        }
        if let Some((s, _)) = self.tls.take() {
            let _ = self.rt.block_on(s.shutdown());
        }
    }
}

/// Lets `d` pass (virtual or real) while the job runs.
pub fn pass<B: Backend>(b: &mut B, job: JobId, d: Duration) {
    b.wait_for(job, d, &|_| false);
}

/// Lets time pass in 50 ms steps until `done(b)` holds or `max` has
/// passed; returns whether it held.
pub fn settle<B: Backend>(b: &mut B, job: JobId, max: Duration, done: impl Fn(&B) -> bool) -> bool {
    let step = Duration::from_millis(50);
    let mut left = max;
    loop {
        if done(b) {
            return true;
        }
        if left.is_zero() {
            return false;
        }
        pass(b, job, step.min(left));
        left = left.saturating_sub(step);
    }
}

/// Any BITS call through the driver's one path into the model (the value
/// type the model's tests, the scenarios and the service use).
pub fn call<B: ModelBacked>(b: &mut B, job: JobId, c: Call) -> Result<Reply, bitsim_model::Error> {
    b.with_model(|a| c.apply(a.manager, a.now, &a.caller, job))
}

/// How often each callback method was called.
#[derive(Clone, Default)]
pub struct Calls {
    /// JobTransferred.
    pub transferred: Arc<AtomicUsize>,
    /// JobError.
    pub error: Arc<AtomicUsize>,
    /// JobModification.
    pub modification: Arc<AtomicUsize>,
}

impl Calls {
    /// JobTransferred calls so far.
    pub fn transferred(&self) -> usize {
        self.transferred.load(Ordering::SeqCst)
    }
    /// JobError calls so far.
    pub fn error(&self) -> usize {
        self.error.load(Ordering::SeqCst)
    }
    /// JobModification calls so far.
    pub fn modification(&self) -> usize {
        self.modification.load(Ordering::SeqCst)
    }
}

/// A callback that counts its calls and fails the first `fail` calls of
/// each method with E_FAIL (`usize::MAX`: every call).
pub struct Recorder {
    /// The counts, shared with the case.
    pub calls: Calls,
    /// How many calls of each method fail.
    pub fail: usize,
}

impl Recorder {
    /// A recorder and the counts it updates.
    pub fn new(fail: usize) -> (Box<Recorder>, Calls) {
        let calls = Calls::default();
        (
            Box::new(Recorder {
                calls: calls.clone(),
                fail,
            }),
            calls,
        )
    }
    fn answer(&self, n: &AtomicUsize) -> CallbackResult {
        if n.fetch_add(1, Ordering::SeqCst) < self.fail {
            CallbackResult::fail(Hresult::E_FAIL)
        } else {
            CallbackResult::ok()
        }
    }
}

impl Callback for Recorder {
    fn job_transferred(&mut self, _: &mut JobHandle<'_>) -> CallbackResult {
        self.answer(&self.calls.transferred)
    }
    fn job_error(&mut self, _: &mut JobHandle<'_>, _: &ErrorInfo) -> CallbackResult {
        self.answer(&self.calls.error)
    }
    fn job_modification(&mut self, _: &mut JobHandle<'_>) -> CallbackResult {
        self.answer(&self.calls.modification)
    }
    fn file_transferred(&mut self, _: &mut JobHandle<'_>, _: FileRef) -> CallbackResult {
        CallbackResult::ok()
    }
}
