//! Scenario values that name something are parsed strictly: each value
//! that once became a silent default is now an error naming the place
//! (file:line:col), the field, the bad value and the forms allowed; and
//! getters pin what the COM getters return.

use bitsim::{Scenario, Simulation};

const BASE: &str = r#"name = "strict"
duration = "1d"
[[servers]]
host = "h.example.com"
files = { "/f" = "1KB" }
[callbacks.app]
job_transferred = { action = "complete" }
[[jobs]]
name = "j"
owner = "alice"
callback = "app"
files = [{ remote = "http://h.example.com/f", local = "/d/f" }]
"#;

fn error_of(extra: &str) -> String {
    let text = format!("{BASE}{extra}");
    match Scenario::parse(&text, "s.toml") {
        Ok(_) => panic!("accepted:\n{extra}"),
        Err(e) => e.to_string(),
    }
}

/// The error says where: `s.toml:LINE:COL`, on the line holding `needle`.
fn assert_points_at(msg: &str, extra: &str, needle: &str) {
    let text = format!("{BASE}{extra}");
    let line = text
        .lines()
        .position(|l| l.contains(needle))
        .expect("needle in text")
        + 1;
    assert!(
        msg.starts_with(&format!("s.toml:{line}:")),
        "expected line {line} for {needle:?}: {msg}"
    );
}

#[test]
fn a_misspelt_failure_hresult_is_an_error_not_e_fail() {
    let extra = "[callbacks.other]\njob_error = { fail_times = 1, failure = \"E_FIAL\" }\n";
    let msg = error_of(extra);
    assert!(msg.contains("unknown HRESULT \"E_FIAL\""), "{msg}");
    assert!(msg.contains("0x80004005"), "names the forms: {msg}");
    assert_points_at(&msg, extra, "E_FIAL");
}

#[test]
fn e_unexpected_is_its_own_value_not_e_fail() {
    let s = Scenario::parse(
        &format!("{BASE}[callbacks.other]\njob_error = {{ fail_times = 1, failure = \"E_UNEXPECTED\" }}\n"),
        "s.toml",
    )
    .unwrap();
    let failure = s.callbacks["other"].job_error.as_ref().unwrap().failure;
    assert_eq!(failure, Some(bitsim_model::Hresult(0x8000_FFFF)));
}

#[test]
fn a_misspelt_priority_is_an_error_not_foreground() {
    let extra = "[[actions]]\nat = \"1s\"\njob = \"j\"\ndo = \"set_priority\"\nvalue = \"hihg\"\n";
    let msg = error_of(extra);
    assert!(msg.contains("unknown priority \"hihg\""), "{msg}");
    assert!(msg.contains("FOREGROUND, HIGH, NORMAL, LOW"), "{msg}");
    assert!(msg.contains("`value`"), "names the field: {msg}");
    assert_points_at(&msg, extra, "hihg");
}

#[test]
fn a_retry_delay_written_with_a_unit_is_that_many_seconds_not_zero() {
    let s = Scenario::parse(
        &format!(
            "{BASE}[[actions]]\nat = \"0s\"\njob = \"j\"\ndo = \"set_minimum_retry_delay\"\nvalue = \"30s\"\n\
             [[actions]]\nat = \"0s\"\njob = \"j\"\ndo = \"get_minimum_retry_delay\"\nexpect = \"30s\"\n"
        ),
        "s.toml",
    )
    .unwrap();
    let r = Simulation::new(s, 1).run();
    assert!(r.passed(), "{:?}", r.failures);
    let extra = "[[actions]]\nat = \"1s\"\njob = \"j\"\ndo = \"set_minimum_retry_delay\"\nvalue = \"30 secs\"\n";
    let msg = error_of(extra);
    assert!(msg.contains("bad duration unit"), "{msg}");
    assert!(msg.contains("500ms, 90s, 10m"), "names the forms: {msg}");
}

#[test]
fn an_unknown_callback_script_in_set_notify_interface_is_an_error() {
    let extra =
        "[[actions]]\nat = \"1s\"\njob = \"j\"\ndo = \"set_notify_interface\"\nvalue = \"ap\"\n";
    let msg = error_of(extra);
    assert!(
        msg.contains("\"ap\" of set_notify_interface names no callback script"),
        "{msg}"
    );
    assert!(msg.contains("scripts: app"), "{msg}");
    assert_points_at(&msg, extra, "\"ap\"");
}

#[test]
fn an_http_status_of_zero_is_an_error() {
    let extra = "[[faults]]\nkind = \"http_status\"\nstatus = 0\n";
    let msg = error_of(extra);
    assert!(
        msg.contains("`status` 0 is not an HTTP status (allowed: 100-599)"),
        "{msg}"
    );
}

#[test]
fn a_negative_duration_says_which_field_and_what_is_allowed() {
    let text = BASE.replace(
        "callback = \"app\"\n",
        "callback = \"app\"\nretry_delay = -30\n",
    );
    let msg = Scenario::parse(&text, "s.toml").unwrap_err().to_string();
    assert!(msg.contains("`retry_delay`"), "{msg}");
    assert!(msg.contains("-30 is negative"), "{msg}");
    assert!(msg.contains("a number of seconds >= 0"), "{msg}");
    assert!(!msg.contains("untagged enum"), "{msg}");
    let line = text.lines().position(|l| l.contains("-30")).unwrap() + 1;
    assert!(msg.starts_with(&format!("s.toml:{line}:")), "{msg}");
}

#[test]
fn other_named_values_are_strict_too() {
    for (extra, want) in [
        (
            "[[expect]]\njob = \"j\"\nfinal_state = \"DONE\"\n",
            "unknown job state \"DONE\"",
        ),
        (
            "[[expect]]\njob = \"j\"\nerror_context = \"REMOTE\"\n",
            "unknown error context \"REMOTE\"",
        ),
        (
            "[[expect]]\njob = \"j\"\nerror_code = \"BG_E_NOPE\"\n",
            "unknown HRESULT \"BG_E_NOPE\"",
        ),
        (
            "[[expect]]\njob = \"j\"\ncallbacks = { JobErorr = 1 }\n",
            "JobErorr",
        ),
        ("[[expect]]\njob = \"j\"\nrules = [\"T99\"]\n", "T99"),
        (
            "[[actions]]\nat = \"1s\"\njob = \"j\"\ndo = \"resmue\"\n",
            "unknown `do` \"resmue\"",
        ),
        (
            "[[actions]]\nat = \"1s\"\njob = \"j\"\ndo = \"resume\"\nvalue = 3\n",
            "not used by",
        ),
        (
            "[[actions]]\nat = \"1s\"\njob = \"j\"\ndo = \"set_notify_flags\"\nvalue = \"JOB_EROR\"\n",
            "unknown notify flags",
        ),
        (
            "[[actions]]\nat = \"1s\"\njob = \"j\"\ndo = \"get_state\"\nexpect = \"TRANSFERD\"\n",
            "unknown job state \"TRANSFERD\"",
        ),
        (
            "[[actions]]\nat = \"1s\"\njob = \"j\"\ndo = \"resume\"\nexpect_hr = \"S_KO\"\n",
            "unknown HRESULT \"S_KO\"",
        ),
        (
            "[[properties]]\njob = \"k\"\nnever = [\"ERROR\"]\n",
            "`job` \"k\" names no job",
        ),
        (
            "[[properties]]\nfinal_state_in = [\"FINISHED\"]\n",
            "unknown job state \"FINISHED\"",
        ),
    ] {
        let msg = error_of(extra);
        assert!(msg.contains(want), "{extra}: {msg}");
        assert!(msg.starts_with("s.toml:"), "{extra}: no place in {msg}");
    }
}

#[test]
fn getters_pin_what_bits_returns() {
    let text = r#"name = "getters"
duration = "2h"
[[servers]]
host = "h.example.com"
[[jobs]]
name = "j"
owner = "alice"
priority = "high"
files = [{ remote = "http://h.example.com/missing", local = "/d/m" }]
[[actions]]
at = "1h"
job = "j"
do = "get_state"
expect = "ERROR"
[[actions]]
at = "1h"
job = "j"
do = "get_error"
expect = { code = "BG_E_HTTP_ERROR_404", context = "REMOTE_FILE" }
[[actions]]
at = "1h"
job = "j"
do = "get_error_count"
expect = 1
[[actions]]
at = "1h"
job = "j"
do = "get_priority"
expect = "high"
[[actions]]
at = "1h"
job = "j"
do = "get_notify_flags"
expect = "JOB_TRANSFERRED | JOB_ERROR"
[[actions]]
at = "1h"
job = "j"
do = "get_minimum_retry_delay"
expect = "10m"
[[actions]]
at = "1h"
job = "j"
do = "get_no_progress_timeout"
expect = "14d"
[[actions]]
at = "1h"
job = "j"
do = "get_times"
expect = { creation = "0s", modification = "50ms" }
[[actions]]
at = "1h"
job = "j"
do = "get_type"
expect = "download"
"#;
    let s = Scenario::parse(text, "g.toml").unwrap();
    let r = Simulation::new(s, 1).run();
    assert!(r.passed(), "{:#?}", r.failures);
    let trace = r.trace.to_text();
    assert!(
        trace.contains("app  GetState -> S_OK (0x00000000): ERROR"),
        "{trace}"
    );
    // A wrong expected value fails the run and says what came back.
    let wrong = text.replace("expect = \"high\"", "expect = \"low\"");
    let r = Simulation::new(Scenario::parse(&wrong, "g.toml").unwrap(), 1).run();
    assert_eq!(r.failures.len(), 1, "{:#?}", r.failures);
    let f = r.failures[0].to_string();
    assert!(
        f.contains("GetPriority at 1h: expected LOW, got HIGH"),
        "{f}"
    );
}

#[test]
fn traces_name_a_faults_status_and_count() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sim-scenarios/06-joberror-remedy-fix-and-resume.toml");
    let s = Scenario::load(&path).unwrap();
    let r = Simulation::new(s, 0).run();
    let told = bitsim::explain::narrate(&r.trace);
    assert!(
        told.contains("Fault: HTTP 403 on every URL, 1 time."),
        "{told}"
    );
    assert!(bitsim::trace::LEGEND.contains("flt  the world changes"));
}

#[test]
fn names_in_commands_and_expectations_must_exist() {
    let extra = "[[expect]]\nmax_outstanding = { alcie = 4 }\n";
    let msg = error_of(extra);
    assert!(msg.contains("user \"alcie\" owns no job"), "{msg}");
    let extra = "[[expect]]\nfirst_transfer_order = [\"j\", \"k\"]\n";
    assert!(error_of(extra).contains("`job` \"k\" names no job"));
    let text = BASE.replace(
        "callback = \"app\"\n",
        "callback = \"app\"\ncmd_line = { program = \"C:\\\\tools\\\\notfiy.exe\" }\n",
    );
    let msg = Scenario::parse(&text, "s.toml").unwrap_err().to_string();
    assert!(msg.contains("has no [programs."), "{msg}");
    assert!(msg.starts_with("s.toml:"), "{msg}");
}
