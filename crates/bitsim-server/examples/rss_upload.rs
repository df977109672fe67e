//! Peak memory (VmHWM) of the server process during a 1 GiB upload.
//!
//! `cargo run --release -p bitsim-server --example rss_upload [-- SIZE_MIB FRAGMENT_KIB]`
//!
//! Defaults: 1024 MiB in 8192 KiB (8 MiB) fragments.
//!
//! Server and client share the process, so the figure is an upper bound for
//! the server; the client streams each fragment from one 1 MiB buffer.

use std::time::Instant;

use bitsim_server::{Config, Server};
#[path = "../benches/support/client.rs"]
#[allow(dead_code, reason = "this example streams its own fragments")]
mod client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PROTO: &str = bitsim_server::parse::BITS_1_5_PROTOCOL;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn send(
    s: &mut tokio::net::TcpStream,
    head: &str,
    body: impl Fn(&mut Vec<u8>, usize) -> bool,
) -> String {
    s.write_all(head.as_bytes()).await.expect("head");
    let mut chunk = Vec::with_capacity(1 << 20);
    let mut i = 0;
    while body(&mut chunk, i) {
        s.write_all(&chunk).await.expect("body");
        i += 1;
    }
    let mut buf = Vec::new();
    let mut tmp = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut tmp).await.expect("read");
        assert!(n > 0);
        buf.extend_from_slice(&tmp[..n]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let total: u64 = args.first().copied().unwrap_or(1024) << 20;
    let frag: u64 = args.get(1).copied().unwrap_or(8192) << 10;
    let root = tempfile::tempdir()?;
    let server = Server::bind(Config::new(root.path())).await?;
    let addr = server.local_addr();
    let handle = server.spawn();
    let before = status_kib("VmRSS:");
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let r = send(
        &mut s,
        &format!("BITS_POST /big.bin HTTP/1.1\r\nHost: b\r\nBITS-Packet-Type: Create-Session\r\nBITS-Supported-Protocols: {PROTO}\r\nContent-Length: 0\r\n\r\n"),
        |_, _| false,
    )
    .await;
    let id = client::session_id(&r).ok_or("no session id")?;
    let started = Instant::now();
    let mut off = 0u64;
    while off < total {
        let len = frag.min(total - off);
        let head = format!(
            "BITS_POST /big.bin HTTP/1.1\r\nHost: b\r\nBITS-Packet-Type: Fragment\r\nBITS-Session-Id: {id}\r\nContent-Range: bytes {off}-{}/{total}\r\nContent-Length: {len}\r\n\r\n",
            off + len - 1
        );
        let base = off;
        let r = send(&mut s, &head, |chunk, i| {
            let start = i as u64 * (1 << 20);
            if start >= len {
                return false;
            }
            let n = (1u64 << 20).min(len - start) as usize;
            chunk.clear();
            chunk.extend((0..n).map(|k| ((base + start + k as u64) % 251) as u8));
            true
        })
        .await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        off += len;
    }
    let r = send(
        &mut s,
        &format!("BITS_POST /big.bin HTTP/1.1\r\nHost: b\r\nBITS-Packet-Type: Close-Session\r\nBITS-Session-Id: {id}\r\nContent-Length: 0\r\n\r\n"),
        |_, _| false,
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let secs = started.elapsed().as_secs_f64();
    let size = std::fs::metadata(root.path().join("big.bin"))?.len();
    assert_eq!(size, total);
    handle.shutdown().await?;
    let hwm = status_kib("VmHWM:");
    eprintln!(
        "uploaded {} MiB in {:.2} s ({:.0} MiB/s) with {} KiB fragments; VmRSS before {} KiB; VmHWM {} KiB ({:.1} MiB)",
        total >> 20,
        secs,
        (total >> 20) as f64 / secs,
        frag >> 10,
        before,
        hwm,
        hwm as f64 / 1024.0
    );
    Ok(())
}
