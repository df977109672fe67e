//! The `bitsim` binary as a user runs it: real processes, real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bitsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("bitsim runs")
}

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim-scenarios")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const PASSING: &str = r#"
name = "ok"
duration = "1d"
[[servers]]
host = "h"
files = { "/f" = "1KB" }
[[jobs]]
name = "j"
owner = "u"
files = [{ remote = "http://h/f", local = "/d/f" }]
[[expect]]
job = "j"
final_state = "TRANSFERRED"
"#;

#[test]
fn run_exits_0_when_expectations_hold_and_prints_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ok.toml");
    std::fs::write(&f, PASSING).unwrap();
    let out = bitsim(&["run", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("T20  TRANSFERRING -> TRANSFERRED"),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("PASS ok"));
    assert!(
        stdout.starts_with("# columns: virtual time"),
        "a legend heads the timeline"
    );
    let bare = bitsim(&["run", f.to_str().unwrap(), "--no-legend"]);
    assert!(!text(&bare.stdout).contains("# columns"));
}

/// A scenario of 250 downloads of 8 files each (within BITS's default
/// job limits), each expected to reach `final_state`.
fn many_jobs(final_state: &str) -> String {
    let mut s = String::from(
        "name = \"many\"\nduration = \"1d\"\n[[servers]]\nhost = \"h\"\nfiles = { \"/f\" = \"1KB\" }\n",
    );
    for i in 0..250 {
        let files: Vec<String> = (0..8)
            .map(|k| format!("{{ remote = \"http://h/f\", local = \"/d/{i}/{k}\" }}"))
            .collect();
        s.push_str(&format!(
            "[[jobs]]\nname = \"j{i}\"\nowner = \"u{}\"\nfiles = [{}]\n[[expect]]\njob = \"j{i}\"\nfinal_state = \"{final_state}\"\n",
            i % 10,
            files.join(", ")
        ));
    }
    s
}

/// `bitsim run … | head`: the reader closes stdout early. bitsim must not
/// panic ("failed printing to stdout: Broken pipe"); it drops the rest of
/// the timeline quietly, still writes `--trace`, and exits with the run's
/// own status (0 when the expectations hold, 1 when not).
#[test]
fn a_closed_stdout_is_quiet_and_keeps_the_runs_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    for (state, code) in [("TRANSFERRED", 0), ("ACKNOWLEDGED", 1)] {
        let f = dir.path().join(format!("{state}.toml"));
        std::fs::write(&f, many_jobs(state)).unwrap();
        let f = f.to_str().unwrap();
        // Far more than a pipe buffers (64 KiB), so some write meets the
        // closed pipe however early or late the reader goes away.
        let full = bitsim(&["run", f]);
        assert!(full.stdout.len() > 256 * 1024, "{}", full.stdout.len());
        let trace = dir.path().join(format!("{state}.json"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_bitsim"))
            .args(["run", f, "--trace", trace.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("bitsim runs");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("bitsim ends");
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!err.contains("Broken pipe"), "{err}");
        assert!(!err.contains("stdout"), "{err}");
        assert_eq!(code == 0, err.contains("PASS many"), "{err}");
        let written = std::fs::read_to_string(&trace).expect("--trace written");
        assert!(written.contains("TRANSFERRED"), "the whole trace");
    }
}

#[test]
fn run_exits_1_with_a_clear_diff_when_an_expectation_fails() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(&f, PASSING.replace("\"TRANSFERRED\"", "\"ACKNOWLEDGED\"")).unwrap();
    let out = bitsim(&["run", f.to_str().unwrap(), "--seed", "9"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("job j: final state"), "{err}");
    assert!(err.contains("expected: ACKNOWLEDGED"), "{err}");
    assert!(err.contains("actual:   TRANSFERRED"), "{err}");
    assert!(err.contains("--seed 9"), "{err}");
}

#[test]
fn run_exits_2_on_a_malformed_scenario_naming_file_line_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("broken.toml");
    std::fs::write(
        &f,
        "name = \"x\"\n\n[[jobs]]\nname = \"j\"\nowner = \"u\"\nprioritee = \"high\"\n",
    )
    .unwrap();
    let out = bitsim(&["run", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("broken.toml:6:"), "{err}");
    assert!(err.contains("prioritee"), "{err}");

    std::fs::write(&f, "name = \"x\"\n[[expect]]\njob = \"nobody\"\n").unwrap();
    let out = bitsim(&["run", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("`job` \"nobody\" names no job"), "{err}");
    assert!(err.contains("broken.toml:3:"), "{err}");

    let out = bitsim(&["run", dir.path().join("absent.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn json_format_and_trace_file_are_valid_json() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ok.toml");
    let t = dir.path().join("trace.json");
    std::fs::write(&f, PASSING).unwrap();
    let out = bitsim(&[
        "run",
        f.to_str().unwrap(),
        "--format",
        "json",
        "--trace",
        t.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let w: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&t).unwrap()).expect("trace file is JSON");
    assert_eq!(v, w);
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"]["rule"] == "T20")
    );
}

#[test]
fn check_runs_the_library_and_prints_a_summary() {
    let out = bitsim(&["check", scenarios().to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("scenario"), "{stdout}");
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

#[test]
fn check_fails_when_one_scenario_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), PASSING).unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        PASSING.replace("\"TRANSFERRED\"", "\"ERROR\""),
    )
    .unwrap();
    let out = bitsim(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("1 passed, 1 failed"));
}

#[test]
fn explain_narrates_rules_and_their_sources() {
    let f = scenarios().join("01-joberror-returns-s-ok.toml");
    let out = bitsim(&["explain", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(
        s.contains("goes from CONNECTING to ERROR because: unrecoverable error"),
        "{s}"
    );
    assert!(s.contains("rule T22"), "{s}");
    assert!(s.contains("https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopycallback-joberror"), "{s}");
}

#[test]
fn diagram_is_generated_from_the_table() {
    let out = bitsim(&["diagram"]);
    let s = text(&out.stdout);
    assert!(s.starts_with("stateDiagram-v2"), "{s}");
    assert!(s.contains("TRANSIENT_ERROR --> ERROR: T24, T25"), "{s}");
    let out = bitsim(&["diagram", "--format", "dot"]);
    assert!(text(&out.stdout).contains("digraph bits_job"));
}

const FUZZ_BASE: &str = r#"
name = "nightly"
[[servers]]
host = "cdn.example.com"
files = { "/a.bin" = "1MB" }
[callbacks.app]
job_transferred = { action = "complete" }
job_error = { action = "cancel" }
reregister_after_restart = true
[[jobs]]
name = "nightly"
owner = "alice"
files = [{ remote = "http://cdn.example.com/a.bin", local = "/d/a.bin" }]
callback = "app"
"#;

#[test]
fn fuzz_passes_a_sound_scenario_and_reports_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ok.toml");
    std::fs::write(&f, FUZZ_BASE).unwrap();
    let out = bitsim(&["fuzz", f.to_str().unwrap(), "--cases", "200", "--seed", "3"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let s = text(&out.stdout);
    assert!(
        s.contains("200 cases passed") && s.contains("cases/s"),
        "{s}"
    );
    let out = bitsim(&["fuzz", f.to_str().unwrap(), "--seed-range", "10..30"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("20 cases passed"));
}

#[test]
fn fuzz_writes_the_minimal_failure_and_the_replay_command_works() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("strict.toml");
    std::fs::write(
        &f,
        format!(
            "{FUZZ_BASE}[[properties]]\njob = \"nightly\"\nfinal_state_in = [\"ACKNOWLEDGED\"]\n"
        ),
    )
    .unwrap();
    let min = dir.path().join("min.toml");
    let out = bitsim(&[
        "fuzz",
        f.to_str().unwrap(),
        "--cases",
        "500",
        "--out",
        min.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let s = text(&out.stdout);
    let replay = s
        .lines()
        .find(|l| l.starts_with("replay: bitsim run "))
        .expect("a replay line");
    let args: Vec<&str> = replay
        .trim_start_matches("replay: bitsim ")
        .split_whitespace()
        .collect();
    let again = bitsim(&args);
    assert_eq!(
        again.status.code(),
        Some(1),
        "the replay fails the same way"
    );
    assert!(
        text(&again.stderr).contains("expected: ACKNOWLEDGED"),
        "{}",
        text(&again.stderr)
    );
    let minimal = std::fs::read_to_string(&min).unwrap();
    assert_eq!(minimal.matches("[[faults]]").count(), 1, "{minimal}");
    assert!(s.contains("original failing case: seed"), "{s}");
}

#[test]
fn fuzz_checks_exact_expectations_only_with_expect_and_leaves_the_folder_clean() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("exact.toml");
    // One exact run ends ACKNOWLEDGED; a perturbed world need not.
    std::fs::write(
        &f,
        format!("{FUZZ_BASE}[[expect]]\njob = \"nightly\"\nfinal_state = \"ACKNOWLEDGED\"\n"),
    )
    .unwrap();
    let out = bitsim(&["fuzz", f.to_str().unwrap(), "--cases", "300", "--seed", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(["fuzz", f.to_str().unwrap(), "--cases", "300", "--expect"])
        .env("RUST_LOG", "warn")
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let s = text(&out.stdout);
    assert!(s.contains("the scenario's expectations hold"), "{s}");
    // The minimal case went to the temporary directory, not beside the scenario.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    let written = std::fs::read_dir(tmp.join("bitsim-fuzz")).unwrap().count();
    assert_eq!(written, 1);
    // `check` skips minimal cases even when one lands in the folder.
    std::fs::write(
        dir.path().join("x.min.toml"),
        "name = \"broken\"\n[[expect]]\njob = \"nope\"\n",
    )
    .unwrap();
    std::fs::remove_file(&f).unwrap();
    std::fs::write(dir.path().join("ok.toml"), PASSING).unwrap();
    let out = bitsim(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn fuzz_prints_the_minimal_case_when_it_cannot_write_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("strict.toml");
    std::fs::write(
        &f,
        format!(
            "{FUZZ_BASE}[[properties]]\njob = \"nightly\"\nfinal_state_in = [\"ACKNOWLEDGED\"]\n"
        ),
    )
    .unwrap();
    let out = bitsim(&[
        "fuzz",
        f.to_str().unwrap(),
        "--cases",
        "500",
        "--out",
        "/proc/no/such/dir/min.toml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let s = text(&out.stdout);
    assert!(s.contains("[[jobs]]") && s.contains("[[faults]]"), "{s}");
    assert!(
        text(&out.stderr).contains("cannot write"),
        "{}",
        text(&out.stderr)
    );
}
