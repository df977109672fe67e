//! `bitsim service` as a process: the stdio transport and the
//! command line's checks (the protocol itself is tested in bitsim-service).

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

#[test]
fn service_stdio_answers_line_by_line_and_ends_with_its_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(["service", "--stdio", "--seed", "3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ask = |method: &str, params: Value| {
        let line = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        writeln!(stdin, "{line}").unwrap();
        let mut answer = String::new();
        stdout.read_line(&mut answer).unwrap();
        serde_json::from_str::<Value>(&answer).unwrap()
    };
    let r = ask("session.hello", json!({"user": "alice"}));
    assert_eq!(r["result"]["user"], "alice", "{r}");
    let r = ask(
        "manager.create_job",
        json!({"display_name": "x", "job_type": "download"}),
    );
    let job = r["result"]["value"].clone();
    let r = ask("job.resume", json!({"job": job}));
    assert_eq!(r["result"]["hresult"]["name"], "BG_E_EMPTY", "{r}");
    let r = ask("clock.advance", json!({"ms": 1000}));
    assert_eq!(r["result"]["now"], 1000, "{r}");
    // The input ends: the service stops.
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn service_needs_a_transport_and_a_readable_scenario() {
    let out = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .arg("service")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--stdio"));
    let out = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args([
            "service",
            "--stdio",
            "--scenario",
            "/nonexistent/world.toml",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/world.toml"),
        "{out:?}"
    );
}
