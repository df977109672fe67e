//! How long one call of the bridge takes without COM: `job.get_state`
//! through [`bitsim_com::proto::Connection`] to a running `bitsim service`.
//!
//! ```text
//! bitsim service --listen 127.0.0.1:0 &          # prints its address
//! cargo run --release -p bitsim-com --example bridge -- 127.0.0.1:PORT [N]
//! ```
//!
//! Built for `x86_64-pc-windows-gnu` and run under Wine it gives the same
//! figure for the Windows side of the bridge.
#![allow(clippy::print_stdout, reason = "the figure is this example's output")]

use bitsim_com::proto::Connection;
use bitsim_model::Hresult;
use serde_json::{Value, json};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().expect("usage: bridge ADDR [N]");
    let n: usize = args.next().map_or(2000, |s| s.parse().expect("N"));
    let addr = addr.parse().expect("ADDR is HOST:PORT");
    let conn =
        Connection::connect(addr, "bench", false, Box::new(|_, _| Hresult::S_OK)).expect("connect");
    let r = conn
        .call(
            "manager.create_job",
            json!({"display_name": "bridge bench", "job_type": "download"}),
        )
        .expect("create_job");
    let job = r.pointer("/value").cloned().unwrap_or(Value::Null);
    let mut us = Vec::with_capacity(n);
    for i in 0..n + 50 {
        let t = Instant::now();
        conn.call("job.get_state", json!({"job": job}))
            .expect("get_state");
        if i >= 50 {
            us.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    us.sort_by(f64::total_cmp);
    println!(
        "job.get_state x {n}: median {:.0} us, p90 {:.0} us, p99 {:.0} us",
        us[n / 2],
        us[n * 9 / 10],
        us[n * 99 / 100]
    );
}
