//! Times one run of the benchmark scenario (`cargo run --release -p bitsim --example bigrun -- 10000 200`).
#![allow(clippy::print_stdout)]

#[path = "../benches/sim.rs"]
#[allow(dead_code)]
mod bench;

fn main() {
    let mut args = std::env::args().skip(1);
    let jobs = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let users = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let s = bench::big_scenario(jobs, users);
    let t = std::time::Instant::now();
    let r = bitsim::Simulation::new(s, 1).run();
    println!(
        "{jobs} jobs, {users} users: {} events, {} trace entries, ended at {}, {:.3?}",
        r.events,
        r.trace.0.len(),
        r.end,
        t.elapsed()
    );
    println!("final states: {:?}", states(&r));
}

fn states(r: &bitsim::Report) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for j in r.manager.all_jobs() {
        *m.entry(j.state.to_string()).or_default() += 1;
    }
    m
}
