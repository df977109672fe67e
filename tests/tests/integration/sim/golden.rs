//! Golden traces: each scenario's timeline, reviewed by reading it, pinned
//! with insta (`cargo insta review` after an intended change).

use bitsim::{Scenario, Simulation};

#[test]
fn every_scenario_passes_and_matches_its_golden_trace() {
    let mut failures = Vec::new();
    for path in super::scenario_files() {
        let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let seed = scenario.seed;
        let report = Simulation::new(scenario, seed).run();
        if !report.passed() {
            failures.push(format!(
                "{}:\n{}",
                path.display(),
                report
                    .failures
                    .iter()
                    .map(|f| format!("  {f}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        let name = path
            .file_stem()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false, description => report.scenario.clone() }, {
            insta::assert_snapshot!(name, reviewable(&report.trace.to_text()));
        });
    }
    assert!(
        failures.is_empty(),
        "scenarios failed:\n{}",
        failures.join("\n")
    );
}

/// Long traces (a 14-day retry loop is thousands of lines) keep their first
/// 200 and last 60 lines, so every golden file can be read in full; the
/// scenario's expectations pin the counts in between.
fn reviewable(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= 300 {
        return text.to_owned();
    }
    let mut out = lines[..200].join("\n");
    out.push_str(&format!("\n... {} lines omitted ...\n", lines.len() - 260));
    out.push_str(&lines[lines.len() - 60..].join("\n"));
    out.push('\n');
    out
}
