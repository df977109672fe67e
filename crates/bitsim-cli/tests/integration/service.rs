//! `bitsim service` as a process: the stdio transport and the
//! command line's checks (the protocol itself is tested in bitsim-service).

use crate::common;
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

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if std::time::Instant::now() > end {
            let _ = child.kill();
            panic!("the service did not exit");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn service_stops_on_shutdown_and_sigterm_and_keeps_its_queue() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let mut p = common::spawn_service(&["--state", state]);
    let mut c = common::Rpc::connect(p.addr, "alice", false);
    let r = c.ask(
        "manager.create_job",
        json!({"display_name": "kept", "job_type": "download"}),
    );
    let job = r["result"]["value"].as_str().unwrap().to_owned();
    // A second service on the same directory is refused while this one runs.
    let out = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(["service", "--stdio", "--state", state])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use by process"),
        "{out:?}"
    );
    // shutdown answers first, then the process exits 0.
    let mut admin = common::Rpc::connect(p.addr, "root", true);
    let r = admin.ask("shutdown", json!({}));
    assert_eq!(r["result"]["stopping"], true, "{r}");
    assert!(wait_exit(&mut p.child).success());
    // `bitsim jobs` manages the stopped service's queue.
    let out = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(["jobs", "cancel", &job, "--state", state, "--user", "alice"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    // Started again on the directory: the queue is the one `bitsim jobs`
    // left (the job cancelled). SIGTERM stops it.
    let mut p = common::spawn_service(&["--state", state, "--clock", "real"]);
    let mut c = common::Rpc::connect(p.addr, "alice", false);
    let r = c.ask("job.get_state", json!({"job": job}));
    assert_eq!(r["result"]["value"], "CANCELLED", "{r}");
    #[cfg(unix)]
    {
        // The shell's own kill: no procps needed.
        let st = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", p.child.id())])
            .status()
            .unwrap();
        assert!(st.success());
        assert!(wait_exit(&mut p.child).success());
    }
    #[cfg(not(unix))]
    {
        let mut admin = common::Rpc::connect(p.addr, "root", true);
        admin.ask("shutdown", json!({}));
        assert!(wait_exit(&mut p.child).success());
    }
}

#[test]
fn service_names_a_misspelt_clock_and_world_and_the_rules_of_world_http() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_bitsim"))
            .arg("service")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&["--stdio", "--clock", "scaled:fast"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("scaled:fast") && err.contains("scaled:N"),
        "{err}"
    );
    let out = run(&["--stdio", "--world", "htp"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"htp\"") && err.contains("`http`"), "{err}");
    // --world http: the real clock only, and no scenario.
    for clock in ["virtual", "scaled:60"] {
        let out = run(&["--stdio", "--world", "http", "--clock", clock]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--world http needs --clock real") && err.contains(clock),
            "{err}"
        );
    }
    let out = run(&[
        "--stdio",
        "--world",
        "http",
        "--clock",
        "real",
        "--scenario",
        "w.toml",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--world http takes no --scenario") && err.contains("w.toml"),
        "{err}"
    );
}

#[test]
fn service_world_http_starts_with_the_real_clock() {
    let mut p = common::spawn_service(&["--world", "http", "--clock", "real"]);
    let mut c = common::Rpc::connect(p.addr, "root", true);
    let r = c.ask("inspect.jobs", json!({}));
    assert_eq!(r["result"]["jobs"], json!([]), "{r}");
    let r = c.ask("world.fault", json!({"kind": "network_down"}));
    assert_eq!(r["error"]["code"], -32006, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fault API"),
        "{r}"
    );
    c.ask("shutdown", json!({}));
    assert!(wait_exit(&mut p.child).success());
}

/// `bitsim service --launcher PROGRAM --launcher-arg ARG...
/// --launcher-user-var NAME`: the http world starts command lines as
/// `PROGRAM ARGS... CMDPROGRAM PARAMETERS...` with the job's owner in
/// `NAME` (here `sh -c 'record argv and $BITSIM_USER'`, a real process);
/// without `--world http` the option is a usage error naming the rule.
#[test]
fn service_launcher_starts_command_lines() {
    let out = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(["service", "--stdio", "--launcher", "/usr/lib/wine/wine64"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--launcher /usr/lib/wine/wine64 needs --world http"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("f.bin"), vec![7u8; 5000]).unwrap();
    let mut serve = common::spawn_serve(&root, &[]);
    let argv = dir.path().join("argv.txt");
    let record = format!(
        "printf '%s\\n' \"$0\" \"$@\" \"user=$BITSIM_USER\" > '{}'",
        argv.display()
    );
    let mut service = common::spawn_service(&[
        "--world",
        "http",
        "--clock",
        "real",
        "--launcher",
        "/bin/sh",
        "--launcher-arg",
        "-c",
        "--launcher-arg",
        &record,
        "--launcher-user-var",
        "BITSIM_USER",
    ]);
    let mut c = common::Rpc::connect(service.addr, "alice", false);
    let job = c.call(
        "manager.create_job",
        json!({"display_name": "cmd", "job_type": "download"}),
    )["value"]
        .clone();
    let local = dir.path().join("f.bin");
    c.call(
        "job.add_file",
        json!({"job": job, "remote": format!("http://{}/f.bin", serve.addr), "local": local}),
    );
    let program = r"C:\windows\System32\bitsadmin.exe";
    c.call(
        "job.set_notify_cmd_line",
        json!({"job": job, "program": program, "parameters": format!("bitsadmin.exe /complete {{{}}}", job.as_str().unwrap())}),
    );
    c.call("job.resume", json!({"job": job}));
    let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // The four lines the launcher writes (the file may be seen half-written).
    while std::fs::read_to_string(&argv).map_or(0, |t| t.lines().count()) < 4 {
        assert!(
            std::time::Instant::now() < end,
            "the command line never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read_to_string(&argv).unwrap(),
        format!(
            "{program}\n/complete\n{{{}}}\nuser=alice\n",
            job.as_str().unwrap()
        )
    );
    let _ = service.child.kill();
    let _ = service.child.wait();
    let _ = serve.child.kill();
    let _ = serve.child.wait();
}
