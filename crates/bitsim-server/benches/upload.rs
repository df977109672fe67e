//! Upload throughput over loopback against the raw file-write rate of the
//! same machine, measured in the same run.
//!
//! `cargo bench -p bitsim-server --bench upload`
//!
//! Groups: `loopback` (the TCP ceiling: bytes to a discarding reader, no
//! HTTP, no disk), `fsync` (`durability = "power-cut"`: the fragment's data
//! fdatasync'd, then its progress slot written, before every Ack; baseline =
//! write + fdatasync per chunk) and `nofsync` (`durability = "process-kill"`, the default; baseline =
//! plain writes). Each
//! has `bits_upload` (one session) and `bits_upload_8x` (eight sessions at
//! once, 8 MiB each).
//!
//! The client is blocking `std::net` code on its own OS thread: a BITS
//! client is another machine, so it must not borrow the server's async
//! workers (sharing them cost the 64 KiB rows ~10 points on the 2-vCPU
//! development VM). It sends each request's head and body in one `writev`,
//! as the ping-pong client sends each fragment in one write.
//!
//! After the criterion groups, a paired table is printed: for each group
//! and fragment size, [`ROUNDS`] rounds of a raw write, a minimal
//! ping-pong server (see [`pingpong`]) and an upload back to back (each of
//! the six orders twice), and the medians of the per-round ratios. The disk
//! of a VM drifts by 10–30 % within a minute; pairing puts the same drift
//! on both sides of each ratio.
//! `cargo bench -p bitsim-server --bench upload -- ratio` prints only the
//! table.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bitsim_server::{Config, Server};
#[path = "support/client.rs"]
mod client;
use client::upload;
use criterion::{Criterion, Throughput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

const TOTAL: usize = 64 * 1024 * 1024;

/// Uploads `data` as `/<name>` split across `sessions` concurrent sessions
/// (one client thread each), then deletes the published files.
fn upload_files(
    root: &Path,
    addr: SocketAddr,
    name: &str,
    data: &[u8],
    frag: usize,
    sessions: usize,
) {
    let part = data.len() / sessions;
    std::thread::scope(|sc| {
        for (i, chunk) in data.chunks(part).enumerate() {
            sc.spawn(move || upload(addr, &format!("{name}-{i}"), chunk, frag));
        }
    });
    for i in 0..sessions {
        std::fs::remove_file(root.join(format!("{name}-{i}"))).expect("rm");
    }
}

/// Loopback ceiling: the same bytes over one TCP connection to a task that
/// only reads and discards them (no HTTP, no disk).
async fn tcp_sink(addr: SocketAddr, data: &[u8], chunk: usize) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    for c in data.chunks(chunk) {
        s.write_all(c).await.expect("write");
    }
    let mut ack = [0u8; 1];
    s.read_exact(&mut ack).await.expect("ack");
}

async fn spawn_sink() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 256 * 1024];
                let mut got = 0;
                while got < TOTAL {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got += n,
                    }
                }
                let _ = s.write_all(b"k").await;
            });
        }
    });
    addr
}

fn raw_write(dir: &std::path::Path, data: &[u8], chunk: usize, fsync: bool) {
    let path = dir.join("raw.bin");
    let mut f = std::fs::File::create(&path).expect("create");
    for c in data.chunks(chunk) {
        f.write_all(c).expect("write");
        if fsync {
            f.sync_data().expect("sync");
        }
    }
    drop(f);
    std::fs::remove_file(&path).expect("rm");
}

/// Rounds per row of the paired table: each order of the three
/// contenders twice.
const ROUNDS: usize = 12;

/// The six orders of raw (0), ping-pong (1) and upload (2).
const ORDERS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

/// Starts a server on `rt` with `fsync` and overwrite allowed.
fn start(rt: &Runtime, fsync: bool) -> (tempfile::TempDir, bitsim_server::ServerHandle) {
    let root = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config::new(root.path());
    cfg.allow_overwrite = true;
    cfg.durability = if fsync {
        bitsim_server::Durability::PowerCut
    } else {
        bitsim_server::Durability::ProcessKill
    };
    let handle = rt.block_on(async { Server::bind(cfg).await.expect("bind").spawn() });
    (root, handle)
}

const FRAGMENTS: [(&str, usize); 2] = [("64KiB", 64 * 1024), ("8MiB", 8 * 1024 * 1024)];

fn group_name(fsync: bool) -> &'static str {
    if fsync { "fsync" } else { "nofsync" }
}

fn bench(c: &mut Criterion, rt: &Runtime, data: &[u8]) {
    let sink = rt.block_on(spawn_sink());
    {
        let mut g = c.benchmark_group("loopback");
        g.throughput(Throughput::Bytes(TOTAL as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(5));
        for (label, frag) in FRAGMENTS {
            g.bench_function(format!("tcp_sink/{label}"), |b| {
                b.iter(|| rt.block_on(tcp_sink(sink, black_box(data), frag)))
            });
        }
        g.finish();
    }
    for fsync in [true, false] {
        let (root, handle) = start(rt, fsync);
        let addr = handle.local_addr();
        let mut g = c.benchmark_group(group_name(fsync));
        g.throughput(Throughput::Bytes(TOTAL as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(8));
        for (label, frag) in FRAGMENTS {
            g.bench_function(format!("raw_write/{label}"), |b| {
                b.iter(|| raw_write(root.path(), black_box(data), frag, fsync))
            });
            // A fresh name per iteration, deleted afterwards like the raw
            // file: replacing an existing file by rename makes ext4 flush it
            // (auto_da_alloc), which the raw baseline would not pay.
            for sessions in [1, 8] {
                let id = match sessions {
                    1 => format!("bits_upload/{label}"),
                    n => format!("bits_upload_{n}x/{label}"),
                };
                let mut n = 0u64;
                g.bench_function(id, |b| {
                    b.iter(|| {
                        n += 1;
                        let name = format!("bench-{n}");
                        upload_files(root.path(), addr, &name, black_box(data), frag, sessions);
                    })
                });
            }
        }
        g.finish();
        rt.block_on(handle.shutdown()).expect("shutdown");
    }
}

/// A minimal server over loopback: a blocking thread that reads each
/// fragment, writes it (and fdatasyncs it with `fsync`) and answers one
/// byte; the client sends the next fragment after that byte, as BITS does
/// after the Ack. No HTTP, no async runtime, no session record, and no
/// overlap of network and disk: what one request/response per fragment
/// costs on this machine by itself. Not a strict bound: the server's early
/// writeback can beat it with large fragments.
fn pingpong(dir: &Path, data: &[u8], frag: usize, fsync: bool) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let path = dir.join("pingpong.bin");
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let (mut s, _) = l.accept().expect("accept");
            s.set_nodelay(true).expect("nodelay");
            let mut f = std::fs::File::create(&path).expect("create");
            let mut buf = vec![0u8; frag];
            for c in data.chunks(frag) {
                let buf = &mut buf[..c.len()];
                s.read_exact(buf).expect("read");
                f.write_all(buf).expect("write");
                if fsync {
                    f.sync_data().expect("sync");
                }
                s.write_all(b"k").expect("ack");
            }
        });
        let mut c = std::net::TcpStream::connect(addr).expect("connect");
        c.set_nodelay(true).expect("nodelay");
        let mut ack = [0u8; 1];
        for chunk in data.chunks(frag) {
            c.write_all(chunk).expect("send");
            c.read_exact(&mut ack).expect("ack");
        }
    });
    std::fs::remove_file(&path).expect("rm");
}

/// The paired table (see the crate docs above).
#[allow(clippy::print_stdout, reason = "the table is this benchmark's output")]
fn ratio_table(rt: &Runtime, data: &[u8]) {
    println!(
        "\npaired rounds: raw write, ping-pong server, one-session upload, back to back; {} MiB each, {ROUNDS} rounds, medians",
        TOTAL >> 20
    );
    println!(
        "{:<8} {:<6} {:>10} {:>10} {:>10} {:>11} {:>16} {:>13}",
        "group", "frag", "raw MiB/s", "pingpong", "upload", "pp/raw", "upload/raw", "upload/pp"
    );
    let mibs = |d: Duration| TOTAL as f64 / d.as_secs_f64() / (1 << 20) as f64;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let timed = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed()
    };
    for fsync in [true, false] {
        let (root, handle) = start(rt, fsync);
        let (addr, dir) = (handle.local_addr(), root.path());
        for (label, frag) in FRAGMENTS {
            // One unmeasured round warms the page cache and the connection path.
            raw_write(dir, data, frag, fsync);
            pingpong(dir, data, frag, fsync);
            upload_files(dir, addr, "warm", data, frag, 1);
            let mut v: [Vec<f64>; 6] = Default::default();
            for i in 0..ROUNDS {
                // Whatever one contender leaves behind (writeback, freed
                // blocks) is paid by each of the others equally often.
                let mut t = [Duration::ZERO; 3];
                for k in ORDERS[i % ORDERS.len()] {
                    t[k] = match k {
                        0 => timed(&mut || raw_write(dir, data, frag, fsync)),
                        1 => timed(&mut || pingpong(dir, data, frag, fsync)),
                        _ => timed(&mut || {
                            upload_files(dir, addr, &format!("pair-{i}"), data, frag, 1)
                        }),
                    };
                }
                let [r, f, u] = t;
                let pct = |a: Duration, b: Duration| 100.0 * a.as_secs_f64() / b.as_secs_f64();
                for (k, x) in [mibs(r), mibs(f), mibs(u), pct(r, f), pct(r, u), pct(f, u)]
                    .into_iter()
                    .enumerate()
                {
                    v[k].push(x);
                }
            }
            let (lo, hi) = (
                v[4].iter().copied().fold(f64::INFINITY, f64::min),
                v[4].iter().copied().fold(0.0, f64::max),
            );
            let [raw, pp, up, pr, ur, up_pp] = v.each_mut().map(median);
            println!(
                "{:<8} {:<6} {raw:>10.0} {pp:>10.0} {up:>10.0} {pr:>10.0}% {ur:>5.0}% ({lo:.0}-{hi:.0}%) {up_pp:>12.0}%",
                group_name(fsync),
                label,
            );
        }
        rt.block_on(handle.shutdown()).expect("shutdown");
    }
}

fn main() {
    // The server gets what `bitsim serve` gets on this machine kind: a
    // multi-thread runtime with one worker per core (2 on the CI VM).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let data: Vec<u8> = (0..TOTAL)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8)
        .collect();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &rt, &data);
    c.final_summary();
    // Only under `cargo bench` (not `cargo test --benches` or `--list`), and
    // only when no filter or a filter naming the table was given.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--bench")
        && !args.iter().any(|a| a == "--list")
        && filter(&args).is_none_or(|f| f.contains("ratio"))
    {
        ratio_table(&rt, &data);
    }
}

/// Criterion's filter: the first positional argument that is not the value
/// of an option (criterion 0.8's options that take one).
fn filter(args: &[String]) -> Option<&str> {
    const TAKES_VALUE: [&str; 19] = [
        "-c",
        "-s",
        "-b",
        "--color",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--plotting-backend",
        "--output-format",
        "--format",
    ];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if TAKES_VALUE.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}
