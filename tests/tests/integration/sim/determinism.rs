//! A simulated run is a pure function of (scenario, seed).

use bitsim::{Scenario, Simulation};

const FLAKY: &str = r#"
name = "flaky network"
duration = "2d"
[[servers]]
host = "h.example.com"
files = { "/f" = "5MB" }
[[jobs]]
name = "a"
owner = "u"
files = [{ remote = "http://h.example.com/f", local = "/d/a" }]
retry_delay = "30s"
[[jobs]]
name = "b"
owner = "v"
files = [{ remote = "http://h.example.com/f", local = "/d/b" }]
retry_delay = "30s"
[[faults]]
kind = "http_status"
status = 503
probability = 0.5
[[faults]]
kind = "connection_reset"
probability = 0.2
"#;

fn run(seed: u64) -> String {
    let s = Scenario::parse(FLAKY, "flaky").expect("valid");
    Simulation::new(s, seed).run().trace.to_json()
}

#[test]
fn same_seed_gives_a_byte_identical_trace() {
    for seed in [0, 1, 42, u64::MAX] {
        assert_eq!(run(seed), run(seed), "seed {seed}");
    }
}

#[test]
fn the_seed_drives_faults_and_guids() {
    let traces: std::collections::BTreeSet<String> = (0..8).map(run).collect();
    assert!(
        traces.len() > 1,
        "eight seeds gave one trace: the RNG is not used"
    );
}

#[test]
fn every_library_scenario_is_deterministic() {
    for path in super::scenario_files() {
        let s = Scenario::load(&path).expect("valid");
        let a = Simulation::new(s.clone(), 7).run().trace.to_json();
        let b = Simulation::new(s, 7).run().trace.to_json();
        assert_eq!(a, b, "{}", path.display());
    }
}
