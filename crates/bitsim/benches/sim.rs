//! Simulator throughput: 10,000 jobs across 200 users through 90 virtual
//! days with faults (probabilistic 503s and connection resets, a network
//! outage, a service restart).
//!
//! `cargo bench -p bitsim --bench sim`

use bitsim::{Scenario, Simulation};
use criterion::{Criterion, criterion_group, criterion_main};
use std::fmt::Write as _;

/// The benchmark scenario: `jobs` download jobs spread over `users` users.
pub fn big_scenario(jobs: usize, users: usize) -> Scenario {
    let mut s = String::from(
        r#"name = "10k jobs"
duration = "90d"
[policy]
max_jobs_per_machine = 20000
max_jobs_per_user = 1000
[[servers]]
host = "cdn.example.com"
bandwidth = "10MB"
latency = "20ms"
files = { "/small.bin" = "200KB", "/medium.bin" = "2MB" }
[callbacks.app]
job_transferred = { action = "complete" }
job_error = { action = "cancel" }
reregister_after_restart = true
[callbacks.forgetful]
reregister_after_restart = true
[[faults]]
kind = "http_status"
status = 503
probability = 0.05
[[faults]]
kind = "http_status"
status = 404
probability = 0.01
[[faults]]
kind = "connection_reset"
probability = 0.02
[[faults]]
kind = "network_down"
at = "2h"
until = "3h"
[[faults]]
kind = "service_restart"
at = "30d"
[[faults]]
kind = "network_down"
at = "45d"
until = "45d6h"
"#,
    );
    // Jobs arrive spread over the first 89 days; one in twenty has an app
    // that never completes it, so it sits in TRANSFERRED until the 90-day
    // inactivity timer would cancel it (T31).
    let span_secs = 89 * 86_400u64;
    for i in 0..jobs {
        let file = if i % 10 == 0 { "medium" } else { "small" };
        let prio = ["foreground", "high", "normal", "normal", "low"][i % 5];
        let cb = if i % 20 == 7 { "forgetful" } else { "app" };
        let _ = write!(
            s,
            "[[jobs]]\nname = \"j{i}\"\nowner = \"user{}\"\npriority = \"{prio}\"\nretry_delay = \"60s\"\ncallback = \"{cb}\"\ncreate_at = \"{}s\"\nfiles = [{{ remote = \"http://cdn.example.com/{file}.bin\", local = \"/d/{i}\" }}]\n",
            i % users,
            i as u64 * span_secs / jobs as u64,
        );
    }
    Scenario::parse(&s, "bench").expect("the benchmark scenario is valid")
}

/// One run of 10,000 jobs and one of 80,000 (users in proportion), both
/// through 90 virtual days: the second should cost about eight times the
/// first if an event's cost does not grow with the number of jobs.
fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("simulate");
    g.sample_size(10);
    for (jobs, users) in [(10_000, 200), (80_000, 1_600)] {
        let scenario = big_scenario(jobs, users);
        g.bench_function(format!("{jobs}_jobs_{users}_users_90_days"), |b| {
            b.iter(|| {
                let r = Simulation::new(scenario.clone(), 1).run();
                assert!(r.events > jobs as u64);
                r.events
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
