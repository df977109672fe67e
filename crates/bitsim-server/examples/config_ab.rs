//! A/B of `inline_sync`: two servers in one process, one with each setting,
//! take turns uploading the same 64 MiB, so the disk's drift hits both.
//!
//! `cargo run --release -p bitsim-server --example inline_sync_ab [-- FRAGMENT_BYTES [ROUNDS]]`
//!
//! Defaults: 64 KiB fragments, 12 rounds; the order alternates each round.
//! Prints microseconds per fragment for each round and the median of
//! "pool time / inline time" (above 100 % means `inline_sync` is faster).

use std::net::SocketAddr;

use bitsim_server::{Config, Server};
#[path = "../benches/support/client.rs"]
mod client;

const TOTAL: usize = 64 << 20;

#[allow(clippy::print_stdout, reason = "the table is this example's output")]
fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let frag = args.next().and_then(Result::ok).unwrap_or(64 * 1024);
    let rounds = args.next().and_then(Result::ok).unwrap_or(12).max(1);
    // The servers get what `bitsim serve` gets on a 2-core machine.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut kept = Vec::new();
            let mut addrs = Vec::new();
            for inline_sync in [true, false] {
                let root = tempfile::tempdir().expect("tempdir");
                let mut cfg = Config::new(root.path());
                cfg.allow_overwrite = true;
                cfg.inline_sync = inline_sync;
                let h = Server::bind(cfg).await.expect("bind").spawn();
                addrs.push(h.local_addr());
                kept.push((root, h));
            }
            tx.send((addrs[0], addrs[1])).expect("send");
            std::future::pending::<()>().await;
        });
    });
    let (inline, pool) = rx.recv().expect("servers");
    let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    let per_fragment = |addr: SocketAddr, name: &str| {
        let t = std::time::Instant::now();
        client::upload(addr, name, &data, frag);
        t.elapsed().as_secs_f64() * 1e6 / TOTAL.div_ceil(frag) as f64
    };
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let (a, b) = (format!("inline-{round}"), format!("pool-{round}"));
        let (x, y) = if round % 2 == 0 {
            let x = per_fragment(inline, &a);
            (x, per_fragment(pool, &b))
        } else {
            let y = per_fragment(pool, &b);
            (per_fragment(inline, &a), y)
        };
        println!(
            "round {round:>2}: inline {x:>6.0} µs/fragment, pool {y:>6.0} µs/fragment, pool/inline {:>4.0} %",
            100.0 * y / x
        );
        ratios.push(100.0 * y / x);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "median pool/inline time over {rounds} rounds ({frag}-byte fragments): {:.0} %",
        ratios[ratios.len() / 2]
    );
}
