//! A/B of one boolean server setting (`repoll`): two
//! servers in one process, one with the setting on and one with it off,
//! take turns uploading the same 64 MiB, so the disk's drift hits both.
//!
//! `cargo run --release -p bitsim-server --example config_ab -- SETTING [FRAGMENT_BYTES [ROUNDS [power-cut]]]`
//!
//! Defaults: 64 KiB fragments, 12 rounds, `durability = "process-kill"`
//! (`power-cut` sets `durability = "power-cut"` on both servers); the order
//! alternates each round.
//! Prints microseconds per fragment for each round and the median of
//! "off time / on time" (above 100 % means the setting makes uploads
//! faster).

use std::net::SocketAddr;

use bitsim_server::{Config, Durability, Server};
#[path = "../benches/support/client.rs"]
mod client;

const TOTAL: usize = 64 << 20;

/// The settings this example can compare.
const SETTINGS: [&str; 1] = ["repoll"];

fn apply(cfg: &mut Config, setting: &str, on: bool) {
    match setting {
        "repoll" => cfg.repoll = on,
        _ => unreachable!("checked in main"),
    }
}

#[allow(clippy::print_stdout, reason = "the table is this example's output")]
#[allow(clippy::print_stderr, reason = "usage message")]
fn main() {
    let mut args = std::env::args().skip(1);
    let setting = args.next().unwrap_or_default();
    if !SETTINGS.contains(&setting.as_str()) {
        eprintln!(
            "usage: config_ab {{{}}} [FRAGMENT_BYTES [ROUNDS [power-cut]]]",
            SETTINGS.join("|")
        );
        std::process::exit(2);
    }
    let rest: Vec<String> = args.collect();
    let num = |i: usize, default: usize| {
        rest.get(i)
            .and_then(|a| a.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let frag = num(0, 64 * 1024);
    let rounds = num(1, 12).max(1);
    let durability = if rest.get(2).map(String::as_str) == Some("power-cut") {
        Durability::PowerCut
    } else {
        Durability::ProcessKill
    };
    // Roots live on this thread so they are removed at exit; each upload
    // is deleted as soon as it is timed.
    let roots = [
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    ];
    let paths = roots.each_ref().map(|r| r.path().to_path_buf());
    // The servers get what `bitsim serve` gets on a 2-core machine.
    let (tx, rx) = std::sync::mpsc::channel();
    let name = setting.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut kept = Vec::new();
            let mut addrs = Vec::new();
            for (root, on) in paths.iter().zip([true, false]) {
                let mut cfg = Config::new(root);
                cfg.allow_overwrite = true;
                cfg.durability = durability;
                apply(&mut cfg, &name, on);
                let h = Server::bind(cfg).await.expect("bind").spawn();
                addrs.push(h.local_addr());
                kept.push(h);
            }
            tx.send((addrs[0], addrs[1])).expect("send");
            std::future::pending::<()>().await;
        });
    });
    let (on, off) = rx.recv().expect("servers");
    let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    let per_fragment = |addr: SocketAddr, root: &std::path::Path, name: &str| {
        let t = std::time::Instant::now();
        client::upload(addr, name, &data, frag);
        let us = t.elapsed().as_secs_f64() * 1e6 / TOTAL.div_ceil(frag) as f64;
        std::fs::remove_file(root.join(name)).expect("rm");
        us
    };
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let (a, b) = (format!("on-{round}"), format!("off-{round}"));
        let (x, y) = if round % 2 == 0 {
            let x = per_fragment(on, roots[0].path(), &a);
            (x, per_fragment(off, roots[1].path(), &b))
        } else {
            let y = per_fragment(off, roots[1].path(), &b);
            (per_fragment(on, roots[0].path(), &a), y)
        };
        println!(
            "round {round:>2}: {setting} on {x:>6.0} µs/fragment, off {y:>6.0} µs/fragment, off/on {:>4.0} %",
            100.0 * y / x
        );
        ratios.push(100.0 * y / x);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "median off/on time over {rounds} rounds ({frag}-byte fragments, {setting}, {durability:?}): {:.0} %",
        ratios[ratios.len() / 2]
    );
}
