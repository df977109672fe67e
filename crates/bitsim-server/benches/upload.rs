//! Upload throughput over loopback against the raw file-write rate of the
//! same machine, measured in the same run.
//!
//! `cargo bench -p bitsim-server --bench upload`
//!
//! Groups: `loopback` (the TCP ceiling: bytes to a discarding reader, no
//! HTTP, no disk), `fsync` (the default server config: data fdatasync'd and the
//! session record fsync'd before every Ack; baseline = write + fdatasync per
//! chunk) and `nofsync` (`fsync = false`; baseline = plain writes).

use std::hint::black_box;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use bitsim_server::{Config, Server};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOTAL: usize = 64 * 1024 * 1024;
const PROTO: &str = "{7df0354d-249b-430f-820d-3d2a9bef4931}";

/// One keep-alive connection speaking BITS.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn send(&mut self, head: &str, body: &[u8]) -> String {
        self.s.write_all(head.as_bytes()).await.expect("head");
        self.s.write_all(body).await.expect("body");
        // Acks have Content-Length: 0, so the response ends at the blank line.
        self.buf.clear();
        let mut tmp = [0u8; 1024];
        loop {
            let n = self.s.read(&mut tmp).await.expect("read");
            assert!(n > 0, "server closed");
            self.buf.extend_from_slice(&tmp[..n]);
            if self.buf.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

/// Uploads `data` to `/<name>` in fragments of `frag` bytes and closes.
async fn upload(addr: SocketAddr, name: &str, data: &[u8], frag: usize) {
    let s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut c = Conn { s, buf: Vec::new() };
    let r = c
        .send(
            &format!("BITS_POST /{name} HTTP/1.1\r\nHost: b\r\nBITS-Packet-Type: Create-Session\r\nBITS-Supported-Protocols: {PROTO}\r\nContent-Length: 0\r\n\r\n"),
            b"",
        )
        .await;
    let id = r
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("bits-session-id:")
                .then(|| l[16..].trim().to_string())
        })
        .expect("session id");
    let total = data.len();
    let mut off = 0;
    while off < total {
        let end = (off + frag).min(total);
        let head = format!(
            "BITS_POST /{name} HTTP/1.1\r\nHost: b\r\nBITS-Packet-Type: Fragment\r\nBITS-Session-Id: {id}\r\nContent-Range: bytes {off}-{}/{total}\r\nContent-Length: {}\r\n\r\n",
            end - 1,
            end - off
        );
        let r = c.send(&head, &data[off..end]).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        off = end;
    }
    let r = c
        .send(
            &format!("BITS_POST /{name} HTTP/1.1\r\nHost: b\r\nBITS-Packet-Type: Close-Session\r\nBITS-Session-Id: {id}\r\nContent-Length: 0\r\n\r\n"),
            b"",
        )
        .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

/// Loopback ceiling: the same bytes over one TCP connection to a task that
/// only reads and discards them (no HTTP, no disk).
async fn tcp_sink(addr: SocketAddr, data: &[u8], chunk: usize) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
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

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let data: Vec<u8> = (0..TOTAL)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8)
        .collect();
    let sink = rt.block_on(spawn_sink());
    {
        let mut g = c.benchmark_group("loopback");
        g.throughput(Throughput::Bytes(TOTAL as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(5));
        for (label, frag) in [("64KiB", 64 * 1024), ("8MiB", 8 * 1024 * 1024)] {
            g.bench_function(format!("tcp_sink/{label}"), |b| {
                b.iter(|| rt.block_on(tcp_sink(sink, black_box(&data), frag)))
            });
        }
        g.finish();
    }
    for fsync in [true, false] {
        let root = tempfile::tempdir().expect("tempdir");
        let mut cfg = Config::new(root.path());
        cfg.allow_overwrite = true;
        cfg.fsync = fsync;
        let handle = rt.block_on(async { Server::bind(cfg).await.expect("bind").spawn() });
        let addr = handle.local_addr();
        let name = if fsync { "fsync" } else { "nofsync" };
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(TOTAL as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(8));
        for (label, frag) in [("64KiB", 64 * 1024), ("8MiB", 8 * 1024 * 1024)] {
            g.bench_function(format!("raw_write/{label}"), |b| {
                b.iter(|| raw_write(root.path(), black_box(&data), frag, fsync))
            });
            // A fresh name per iteration, deleted afterwards like the raw
            // file: replacing an existing file by rename makes ext4 flush it
            // (auto_da_alloc), which the raw baseline would not pay.
            let mut n = 0u64;
            g.bench_function(format!("bits_upload/{label}"), |b| {
                b.iter(|| {
                    n += 1;
                    let name = format!("bench-{n}.bin");
                    rt.block_on(upload(addr, &name, black_box(&data), frag));
                    std::fs::remove_file(root.path().join(&name)).expect("rm");
                })
            });
        }
        g.finish();
        rt.block_on(handle.shutdown()).expect("shutdown");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
