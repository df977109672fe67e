//! A native BITS upload load generator: the same client, in the same run,
//! against `bitsim-server` (each durability level) and, when it is on this
//! machine, the Python peer fkadibs/BITSServer.
//!
//! ```sh
//! git clone https://github.com/fkadibs/BITSServer /tmp/BITSServer   # optional
//! BITSIM_BITSSERVER=/tmp/BITSServer \
//!   cargo run --release -p bitsim-server --example loadgen [-- SIZE_MIB [ROUNDS]]
//! ```
//!
//! Cases: one session uploading SIZE_MIB (default 128) in 64 KiB fragments,
//! the same in 8 MiB fragments, and 64 concurrent sessions of SIZE_MIB/64
//! each in 256 KiB fragments. Every upload runs over one keep-alive
//! connection per session (the next fragment only after the Ack, as a BITS
//! client sends them). Each case starts a fresh server process, so its peak
//! memory (VmHWM from `/proc/PID/status`) is the server's alone; the peers
//! take turns each round, and the table shows the median round.
//!
//! Without `BITSIM_BITSSERVER` the Python peer is skipped (the path is the
//! checkout: the directory holding `BITSServer/__main__.py`).
//!
//! The example re-runs itself as the bitsim server process
//! (`loadgen serve ROOT DURABILITY`), so both servers are measured the same way.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../benches/support/client.rs"]
mod client;

/// One server under test.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    /// `bitsim-server` with `durability = "process-kill"` (the default).
    Default,
    /// `bitsim-server` with `durability = "power-cut"`.
    PowerCut,
    /// fkadibs/BITSServer (Python 3 `http.server`).
    Python,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Default => "bitsim (default)",
            Peer::PowerCut => "bitsim (power-cut)",
            Peer::Python => "Python BITSServer",
        }
    }
}

/// One measured case.
#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    sessions: usize,
    frag: usize,
}

const CASES: [Case; 3] = [
    Case {
        name: "1 session, 64 KiB fragments",
        sessions: 1,
        frag: 64 << 10,
    },
    Case {
        name: "1 session, 8 MiB fragments",
        sessions: 1,
        frag: 8 << 20,
    },
    Case {
        name: "64 sessions, 256 KiB fragments",
        sessions: 64,
        frag: 256 << 10,
    },
];

/// A running server process.
struct Running {
    child: Child,
    addr: SocketAddr,
    root: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start(peer: Peer, python: Option<&Path>) -> Running {
    let root = tempfile::tempdir().expect("tempdir");
    match peer {
        Peer::Default | Peer::PowerCut => {
            let durability = if peer == Peer::Default {
                "process-kill"
            } else {
                "power-cut"
            };
            let mut child = Command::new(std::env::current_exe().expect("own path"))
                .args(["serve", &root.path().display().to_string(), durability])
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn the bitsim server");
            let mut line = String::new();
            let out = child.stdout.take().expect("stdout");
            BufReader::new(out).read_line(&mut line).expect("port line");
            let addr = line.trim().parse().expect("server address");
            Running { child, addr, root }
        }
        Peer::Python => {
            let dir = python.expect("python peer path");
            let port = free_port();
            let child = Command::new("python3")
                .args(["-m", "BITSServer", &port.to_string()])
                .env("PYTHONPATH", dir)
                .current_dir(root.path())
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn python3 -m BITSServer");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(20);
            while std::net::TcpStream::connect(addr).is_err() {
                assert!(Instant::now() < deadline, "the Python peer did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            Running { child, addr, root }
        }
    }
}

/// Peak resident memory of a process in MiB (VmHWM), Linux only.
fn peak_mib(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Runs `case` against a fresh server of `peer`: (MiB/s, peak MiB).
fn run(peer: Peer, python: Option<&Path>, case: Case, data: &[u8], round: usize) -> (f64, f64) {
    let srv = start(peer, python);
    let each = data.len() / case.sessions;
    let started = Instant::now();
    std::thread::scope(|s| {
        for k in 0..case.sessions {
            let addr = srv.addr;
            let part = &data[k * each..(k + 1) * each];
            s.spawn(move || client::upload(addr, &format!("r{round}-{k}.bin"), part, case.frag));
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let peak = peak_mib(srv.child.id()).unwrap_or(f64::NAN);
    // Every byte arrived: the files are whole (the Python peer writes them
    // on the last fragment, bitsim publishes them on Close-Session).
    for k in 0..case.sessions {
        let p = srv.root.path().join(format!("r{round}-{k}.bin"));
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert_eq!(
            len,
            each as u64,
            "{}: {} incomplete",
            peer.name(),
            p.display()
        );
    }
    (
        (each * case.sessions) as f64 / (1 << 20) as f64 / secs,
        peak,
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `loadgen serve ROOT DURABILITY`: the bitsim server process.
fn serve(root: &str, durability: &str) -> ! {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut cfg = bitsim_server::Config::from_toml(&format!("durability = \"{durability}\""))
            .expect("config");
        cfg.root = PathBuf::from(root);
        cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = bitsim_server::Server::bind(cfg).await.expect("bind");
        #[allow(clippy::print_stdout, reason = "the parent reads the address")]
        {
            println!("{}", server.local_addr());
        }
        let _ = server.run_until(std::future::pending()).await;
    });
    std::process::exit(0)
}

#[allow(clippy::print_stdout, reason = "the table is this example's output")]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        serve(&args[1], &args[2]);
    }
    let size_mib: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(128);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3).max(1);
    let python = std::env::var_os("BITSIM_BITSSERVER").map(PathBuf::from);
    let python = python.filter(|p| {
        let ok = p.join("BITSServer/__main__.py").is_file();
        if !ok {
            println!(
                "BITSIM_BITSSERVER={} has no BITSServer/__main__.py: Python peer skipped",
                p.display()
            );
        }
        ok
    });
    if python.is_none() {
        println!(
            "Python peer skipped (set BITSIM_BITSSERVER to a checkout of github.com/fkadibs/BITSServer)"
        );
    }
    let mut peers = vec![Peer::Default, Peer::PowerCut];
    if python.is_some() {
        peers.push(Peer::Python);
    }
    let data: Vec<u8> = (0..size_mib << 20)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(7) as u8)
        .collect();
    println!("{size_mib} MiB per case, {rounds} rounds, median round; peak = server VmHWM");
    println!("| case | server | MiB/s | peak RSS | vs Python |");
    println!("|---|---|---|---|---|");
    for case in CASES {
        let mut rates = vec![Vec::new(); peers.len()];
        let mut peaks = vec![0.0f64; peers.len()];
        for round in 0..rounds {
            for (i, &peer) in peers.iter().enumerate() {
                let (rate, peak) = run(peer, python.as_deref(), case, &data, round);
                rates[i].push(rate);
                peaks[i] = peaks[i].max(peak);
            }
        }
        let results: Vec<(Peer, f64, f64)> = peers
            .iter()
            .zip(rates)
            .zip(peaks)
            .map(|((&p, r), m)| (p, median(r), m))
            .collect();
        let py = results
            .iter()
            .find(|(p, _, _)| *p == Peer::Python)
            .map(|r| r.1);
        for (peer, rate, peak) in &results {
            let ratio = py.map_or("".to_string(), |py| format!("{:.2}x", rate / py));
            println!(
                "| {} | {} | {rate:.0} | {peak:.1} MiB | {ratio} |",
                case.name,
                peer.name()
            );
        }
    }
}
