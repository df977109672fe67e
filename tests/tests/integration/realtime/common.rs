//! Shared helpers: a server in a temp dir, a driver, fault injection and
//! a recorder of what the driver reported.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitsim::realtime::{Driver, RtConfig, RtEvent};
use bitsim_model::{Caller, JobId, JobState, Manager};
use bitsim_server::{Config, Server, ServerHandle};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Generous: the machine may be loaded; tests poll, they never race a clock.
pub const WAIT: Duration = Duration::from_secs(240);

pub fn me() -> Caller {
    Caller::user("tester")
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub local: PathBuf,
    pub server: Option<ServerHandle>,
    pub addr: SocketAddr,
}

pub fn server_config(root: &Path, listen: SocketAddr) -> Config {
    let mut c = Config::new(root);
    c.listen = listen;
    c
}

impl Env {
    pub async fn new() -> Env {
        Env::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut Config)) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("srv");
        let local = dir.path().join("local");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&local).unwrap();
        let mut cfg = server_config(&root, SocketAddr::from(([127, 0, 0, 1], 0)));
        tweak(&mut cfg);
        let server = Server::bind(cfg).await.expect("bind").spawn();
        let addr = server.local_addr();
        Env {
            dir,
            root,
            local,
            server: Some(server),
            addr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn state_file(&self) -> PathBuf {
        self.dir.path().join("queue.json")
    }

    /// Adds a fault rule through the control API (real HTTP).
    pub async fn fault(&self, json: &str) {
        let (status, body) = http(self.addr, "POST", "/_bitsim/faults", json.as_bytes()).await;
        assert!(
            (200..300).contains(&status),
            "fault rejected: {status} {body}"
        );
    }

    pub async fn clear_faults(&self) {
        let (status, _) = http(self.addr, "DELETE", "/_bitsim/faults", b"").await;
        assert_eq!(status, 200);
    }
}

/// One request over a fresh connection; returns status and body text.
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// A driver with every event recorded.
pub fn driver(cfg: RtConfig) -> (Driver, Recorder) {
    let mut d = Driver::open(cfg).expect("driver");
    let rec = Recorder::default();
    let r = rec.clone();
    d.set_observer(move |_, e| {
        r.0.lock()
            .unwrap()
            .push((std::time::Instant::now(), e.clone()))
    });
    (d, rec)
}

pub fn rt_config() -> RtConfig {
    RtConfig::default()
}

#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<(std::time::Instant, RtEvent)>>>);

impl Recorder {
    pub fn events(&self) -> Vec<(std::time::Instant, RtEvent)> {
        self.0.lock().unwrap().clone()
    }
    /// The states the job entered, in order.
    pub fn states(&self) -> Vec<JobState> {
        self.events()
            .into_iter()
            .filter_map(|(_, e)| match e {
                RtEvent::Transition { from, to, .. } if from != to => Some(to),
                _ => None,
            })
            .collect()
    }
    pub fn callbacks(&self, method: &str) -> usize {
        self.events()
            .iter()
            .filter(|(_, e)| matches!(e, RtEvent::Callback { method: m, .. } if *m == method))
            .count()
    }
    pub fn restarts(&self) -> usize {
        self.events()
            .iter()
            .filter(|(_, e)| matches!(e, RtEvent::FileRestarted { .. }))
            .count()
    }
    pub fn max_progress(&self) -> u64 {
        self.events()
            .iter()
            .filter_map(|(_, e)| match e {
                RtEvent::Progress { bytes, .. } => Some(*bytes),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
}

/// `Resume` as the test user: a new job starts SUSPENDED.
pub fn resume(d: &mut Driver, job: JobId) {
    d.call(|m, now| m.resume(now, &me(), job)).unwrap();
}

pub fn state(m: &Manager, job: JobId) -> Option<JobState> {
    m.job(job).map(|j| j.state)
}

/// Runs until the job is in `want` (or any final/ERROR state); returns the state.
pub async fn run_to(d: &mut Driver, job: JobId, want: JobState) -> JobState {
    d.run_until(WAIT, |m| {
        state(m, job).is_none_or(|s| s == want || s == JobState::Error || s.is_final())
    })
    .await;
    state(d.manager(), job).expect("job exists")
}

/// Writes `len` pseudo-random bytes (streamed: memory stays flat).
pub fn make_file(path: &Path, len: u64, seed: u8) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u32 = 0x9E37_79B9 ^ u32::from(seed);
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for b in chunk.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
}

/// SHA-256 of a file, streamed.
pub fn sha(path: &Path) -> String {
    use std::io::Read;
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    format!("{:x}", h.finalize())
}

/// Files named like BITS temp files in `dir`.
pub fn temps(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("BIT") && n.ends_with(".tmp"))
        .collect()
}
