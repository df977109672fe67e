//! `bitsim jobs`: the admin verbs on a persisted queue (`--state`) left by
//! real `bitsim download` processes against a real `bitsim serve`, and on
//! a running `bitsim service` (`--service`).

use crate::common;
use serde_json::{Value, json};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when the test ends, however it ends.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(root: &Path, extra: &[&str]) -> (Kill, SocketAddr) {
    let common::Served { child, addr, .. } = common::spawn_serve(root, extra);
    (Kill(child), addr)
}

fn bitsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run bitsim")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `bitsim jobs ARGS...`: exit code, stdout, stderr.
fn jobs(args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["jobs"];
    all.extend_from_slice(args);
    let o = bitsim(&all);
    let (out, err) = text(&o);
    (o.status.code(), out, err)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 % 251) as u8).collect()
}

/// The BITS temporary files in `dir`.
fn temps(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("BIT") && n.ends_with(".tmp")
        })
        .collect()
}

/// `jobs list --json` rows.
fn rows(state: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["list", "--state", state, "--json"];
    args.extend_from_slice(extra);
    let (code, out, err) = jobs(&args);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).expect("list --json");
    v["jobs"].as_array().expect("jobs").clone()
}

/// The text form's GUID of a JSON job id.
fn guid(v: &Value) -> String {
    format!("{{{}}}", v.as_str().expect("job id").to_uppercase())
}

/// A download interrupted with Ctrl-C leaves its job in the queue: `list`
/// and `info` read it (also while the download runs), a changing verb is
/// refused while the download holds the queue, then `suspend`, `resume`
/// (no transfer starts) and `cancel` (the temporary file goes) act on it,
/// each as BITS answers; another user is refused with E_ACCESSDENIED.
#[cfg(unix)] // SIGINT by `kill -INT`
#[test]
fn verbs_on_the_queue_of_an_interrupted_download() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    let out_dir = d.path().join("out");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&out_dir).unwrap();
    let data = pattern(4 << 20);
    std::fs::write(root.join("big.bin"), &data).unwrap();
    // Slow enough that the download is still running when interrupted.
    let cfg = d.path().join("server.toml");
    std::fs::write(
        &cfg,
        "[[faults]]\npath = \"/big.bin\"\nbandwidth_bps = 400000\n",
    )
    .unwrap();
    let (_server, addr) = serve(&root, &["--config", cfg.to_str().unwrap()]);
    let url = format!("http://{addr}/big.bin");
    let dest = out_dir.join("big.bin");
    let state = d.path().join("queue.json");
    let st = state.to_str().unwrap();
    let download = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(["download", &url, dest.to_str().unwrap(), "--state", st])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bitsim download");
    let pid = download.id();
    let mut download = Kill(download);

    // Read-only verbs work while the download holds the queue.
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        if state.exists()
            && let Some(r) = rows(st, &[]).first()
            && r["bytes_transferred"].as_u64() > Some(0)
        {
            break r.clone();
        }
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(100));
    };
    let id = guid(&job["job"]);
    assert_eq!(job["state"], "TRANSFERRING", "{job}");
    assert_eq!(job["bytes_total"], data.len() as u64, "{job}");
    // A changing verb is refused: the download holds the queue's lock.
    let (code, _, err) = jobs(&["suspend", &id, "--state", st]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("the queue {st} is in use by process {pid}")),
        "{err}"
    );
    // So is a second download on the same queue.
    let o = bitsim(&["download", &url, dest.to_str().unwrap(), "--state", st]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("the queue {st} is in use by process {pid}")),
        "{err}"
    );

    // Ctrl-C: the job stays in the queue, with its partial temporary file.
    assert!(
        Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = download.0.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let temp = temps(&out_dir);
    assert_eq!(temp.len(), 1, "{temp:?}");

    // list: one line, GUID STATE owner bytes files name.
    let (code, out, err) = jobs(&["list", "--state", st]);
    assert_eq!(code, Some(0), "{err}");
    let line: Vec<&str> = out.lines().collect();
    assert_eq!(line.len(), 1, "{out}");
    let f: Vec<&str> = line[0].split_whitespace().collect();
    assert_eq!(f[0], id, "{out}");
    assert_eq!(f[1], "TRANSFERRING", "{out}");
    assert!(f[3].ends_with(&format!("/{}", data.len())), "{out}");
    assert_eq!(f[4], "0/1", "{out}");
    assert!(line[0].ends_with(" bitsim download"), "{out}");
    let owner = f[2].to_owned();
    // A directory is taken as a state directory: it needs a queue.json.
    let (code, _, err) = jobs(&["list", "--state", out_dir.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("has no queue.json"), "{err}");

    // info: the properties, the file with its local and remote names.
    let (code, out, err) = jobs(&["info", &id, "--state", st]);
    assert_eq!(code, Some(0), "{err}");
    for want in [
        format!("job: {id}"),
        "state: TRANSFERRING".to_owned(),
        "type: DOWNLOAD".to_owned(),
        format!("owner: {owner}"),
        format!("file 0: {url} -> {} ", dest.display()),
        "notify flags: 0x3 (JOB_TRANSFERRED|JOB_ERROR)".to_owned(),
        "next retry: -".to_owned(),
    ] {
        assert!(out.contains(&want), "{want:?} in\n{out}");
    }
    assert!(out.contains(" UTC\n"), "wall-clock times: {out}");

    // Another user: E_ACCESSDENIED, named, with its hex; an admin may.
    let (code, out, err) = jobs(&["info", &id, "--state", st, "--user", "mallory"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(err.contains("E_ACCESSDENIED (0x80070005)"), "{err}");
    let (code, _, err) = jobs(&["cancel", &id, "--state", st, "--user", "mallory"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("GetJob: E_ACCESSDENIED (0x80070005)"), "{err}");
    assert!(temp[0].exists(), "a refused cancel deletes nothing");
    assert!(rows(st, &["--user", "mallory"]).is_empty());
    assert_eq!(rows(st, &["--user", "mallory", "--admin"]).len(), 1);
    // An unknown job, a malformed GUID.
    let other = "{6F1B2C3D-0000-4000-8000-000000000001}";
    let (code, _, err) = jobs(&["info", other, "--state", st]);
    assert_eq!(code, Some(1));
    assert!(err.contains("BG_E_NOT_FOUND (0x80200001)"), "{err}");
    let (code, _, err) = jobs(&["resume", "6F1B2C3D-nope", "--state", st]);
    assert_eq!(code, Some(2));
    assert!(err.contains("\"6F1B2C3D-nope\" is not a job GUID"), "{err}");

    // suspend, then resume: S_OK each; resuming starts no transfer here
    // (the temporary file keeps its size).
    let size = std::fs::metadata(&temp[0]).unwrap().len();
    let (code, out, err) = jobs(&["suspend", &id, "--state", st]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.trim(),
        format!("Suspend {id}: S_OK (0x00000000); the job is SUSPENDED")
    );
    assert_eq!(rows(st, &[])[0]["state"], "SUSPENDED");
    let (code, out, err) = jobs(&["resume", &id, "--state", st, "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
    assert_eq!(r["method"], "Resume", "{r}");
    // QUEUED, then the scheduler's CONNECTING, which waits for a driver.
    assert_eq!(r["state"], "CONNECTING", "{r}");
    assert_eq!(std::fs::metadata(&temp[0]).unwrap().len(), size);
    // A second resume is a no-op S_OK (T6), not an error.
    let (code, _, err) = jobs(&["resume", &id, "--state", st]);
    assert_eq!(code, Some(0), "{err}");

    // cancel: S_OK, the temporary file is gone, the job leaves the queue.
    let (code, out, err) = jobs(&["cancel", &id, "--state", st]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("Cancel") && out.contains("CANCELLED"), "{out}");
    assert_eq!(temps(&out_dir), Vec::<PathBuf>::new());
    assert!(!dest.exists());
    assert!(rows(st, &[]).is_empty());
    let (code, _, err) = jobs(&["info", &id, "--state", st]);
    assert_eq!(code, Some(1));
    assert!(err.contains("GetJob: BG_E_NOT_FOUND"), "{err}");
}

/// A download whose second file is missing (404) ends in ERROR with the
/// first file transferred; `complete` publishes that one
/// (BG_S_PARTIAL_COMPLETE) and deletes the other's temporary file.
#[test]
fn complete_publishes_what_an_errored_download_transferred() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    let out_dir = d.path().join("out");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&out_dir).unwrap();
    let data = pattern(300_000);
    std::fs::write(root.join("a.bin"), &data).unwrap();
    let (_server, addr) = serve(&root, &[]);
    let (a, b) = (out_dir.join("a.bin"), out_dir.join("b.bin"));
    let state = d.path().join("queue.json");
    let st = state.to_str().unwrap();
    let o = bitsim(&[
        "download",
        &format!("http://{addr}/a.bin"),
        a.to_str().unwrap(),
        &format!("http://{addr}/missing.bin"),
        b.to_str().unwrap(),
        "--state",
        st,
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(!a.exists(), "nothing published before Complete");
    let job = rows(st, &[])[0].clone();
    assert_eq!(job["state"], "ERROR", "{job}");
    // The directory holding queue.json names the same queue.
    assert_eq!(rows(d.path().to_str().unwrap(), &[]), vec![job.clone()]);
    let id = guid(&job["job"]);
    let (code, out, err) = jobs(&["info", &id, "--state", st]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("error: context REMOTE_FILE")
            && out.contains("BG_E_HTTP_ERROR_404 (0x80190194)")
            && out.contains("missing.bin ->"),
        "{out}"
    );
    assert!(out.contains("error count: 1"), "{out}");
    let (code, out, err) = jobs(&["info", &id, "--state", st, "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["hresult"]["hex"], "0x80190194", "{v}");
    assert_eq!(v["files"][0]["transferred"], true, "{v}");

    let (code, out, err) = jobs(&["complete", &id, "--state", st]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("BG_S_PARTIAL_COMPLETE (0x00200017)") && out.contains("ACKNOWLEDGED"),
        "{out}"
    );
    assert_eq!(std::fs::read(&a).unwrap(), data);
    assert!(!b.exists(), "no file for what was not transferred");
    assert_eq!(temps(&out_dir), Vec::<PathBuf>::new());
    assert!(rows(st, &[]).is_empty());
}

/// A job in TRANSFERRED (left by a driver that stopped before Complete;
/// here the library's driver in this process, over real HTTP): `complete`
/// is refused while that driver holds the queue, is refused to another
/// user, then publishes the file whole, with no partial file left.
#[test]
fn complete_publishes_a_transferred_job() {
    use bitsim::realtime::{Driver, RtConfig};
    use bitsim_model::{Caller, JobState};
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    let out_dir = d.path().join("out");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&out_dir).unwrap();
    let data = pattern(1 << 20);
    std::fs::write(root.join("c.bin"), &data).unwrap();
    let (_server, addr) = serve(&root, &[]);
    let dest = out_dir.join("c.bin");
    let state = d.path().join("queue.json");
    let st = state.to_str().unwrap();
    let me = Caller::user("tester");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (drv, job) = rt.block_on(async {
        let mut drv = Driver::open(RtConfig {
            state_file: Some(state.clone()),
            ..RtConfig::default()
        })
        .unwrap();
        let job = drv
            .download(&me, &format!("http://{addr}/c.bin"), &dest)
            .unwrap();
        drv.call(|m, now| m.resume(now, &me, job)).unwrap();
        let done = drv
            .run_until(Duration::from_secs(60), |m| {
                m.job(job).is_some_and(|j| j.state == JobState::Transferred)
            })
            .await;
        assert!(done, "transferred");
        (drv, job)
    });
    let id = job.to_string();
    let (code, _, err) = jobs(&["complete", &id, "--state", st, "--user", "tester"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "the queue {st} is in use by process {}",
            std::process::id()
        )),
        "{err}"
    );
    drv.shutdown();
    drop(rt);
    assert!(!dest.exists());
    assert_eq!(temps(&out_dir).len(), 1);

    let (code, _, err) = jobs(&["complete", &id, "--state", st, "--user", "mallory"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("E_ACCESSDENIED (0x80070005)"), "{err}");
    assert!(!dest.exists());
    let (code, out, err) = jobs(&["complete", &id, "--state", st, "--user", "tester"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.trim(),
        format!("Complete {id}: S_OK (0x00000000); the job is ACKNOWLEDGED")
    );
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert_eq!(temps(&out_dir), Vec::<PathBuf>::new());
    // Completed: no longer in the queue; a second Complete is NOT_FOUND.
    let (code, _, err) = jobs(&["complete", &id, "--state", st, "--user", "tester"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("GetJob: BG_E_NOT_FOUND"), "{err}");
}

/// `--service`: the verbs go through the protocol as the caller, with
/// BITS's access rules (another user: E_ACCESSDENIED; admins see all).
#[test]
fn verbs_on_a_running_service() {
    let service = common::spawn_service(&[]);
    let _service = Kill(service.child);
    let addr = service.addr.to_string();
    // alice creates a job with one file, as an application would.
    let mut alice = common::Rpc::connect(service.addr, "alice", false);
    let r = alice.call(
        "manager.create_job",
        json!({"display_name": "alice's update", "job_type": "download"}),
    );
    let job = r["value"].clone();
    let r = alice.call(
        "job.add_file",
        json!({"job": job, "remote": "http://updates.test/u.bin", "local": "/tmp/u.bin"}),
    );
    assert_eq!(r["hresult"]["name"], "S_OK", "{r}");
    let id = guid(&job);
    let svc = ["--service", addr.as_str()];
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&svc);
        jobs(&all)
    };

    let (code, out, err) = run(&["list", "--admin"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.trim(),
        format!("{id} SUSPENDED alice 0/? 0/1 alice's update")
    );
    let (code, out, _) = run(&["list", "--user", "bob"]);
    assert_eq!((code, out.as_str()), (Some(0), ""), "bob sees no job");
    let (code, _, err) = run(&["list", "--user", "bob", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = run(&["info", &id, "--user", "bob"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(err.contains("GetJob: E_ACCESSDENIED (0x80070005)"), "{err}");
    let (code, _, err) = run(&["resume", &id, "--user", "bob"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("GetJob: E_ACCESSDENIED (0x80070005)"), "{err}");

    let (code, out, err) = run(&["info", &id, "--user", "alice"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("state: SUSPENDED"), "{out}");
    assert!(
        out.contains("file 0: http://updates.test/u.bin -> /tmp/u.bin 0/? bytes pending"),
        "{out}"
    );
    assert!(out.contains("(service clock)"), "{out}");
    let (code, out, err) = run(&["resume", &id, "--user", "alice"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with(&format!("Resume {id}: S_OK")), "{out}");
    let r = alice.call("job.get_state", json!({"job": job}));
    assert_ne!(r["value"], "SUSPENDED", "{r}");
    let (code, _, err) = run(&["suspend", &id, "--admin"]);
    assert_eq!(code, Some(0), "{err}");
    let r = alice.call("job.get_state", json!({"job": job}));
    assert_eq!(r["value"], "SUSPENDED", "{r}");
    let (code, out, err) = run(&["cancel", &id, "--admin", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["hresult"]["hex"], "0x00000000", "{v}");
    assert_eq!(v["state"], "CANCELLED", "{v}");
    // Gone from the queue: GetJob answers BG_E_NOT_FOUND.
    let (code, out, err) = run(&["cancel", &id, "--admin", "--json"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(err.contains("GetJob: BG_E_NOT_FOUND (0x80200001)"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["hresult"]["name"], "BG_E_NOT_FOUND", "{v}");
    assert_eq!(v["job"], job, "{v}");
    let (code, _, err) = run(&["info", &id, "--admin"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("BG_E_NOT_FOUND"), "{err}");

    // Nothing listens: a clear error, exit 1.
    let (code, _, err) = jobs(&["list", "--service", "127.0.0.1:1"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("cannot connect to the service at 127.0.0.1:1"),
        "{err}"
    );
}

/// `cancel` of an interrupted upload ends its server session
/// (Cancel-Session, as BITS does on Cancel) before the command exits: the
/// server lists no session afterwards.
#[cfg(unix)] // SIGINT by `kill -INT`
#[test]
fn cancel_of_an_interrupted_upload_ends_its_server_session() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    // Each fragment waits 200 ms: the upload is under way when interrupted.
    let cfg = d.path().join("server.toml");
    std::fs::write(
        &cfg,
        "[[faults]]\npath = \"/slow/\"\npacket = \"fragment\"\ndelay_ms = 200\n",
    )
    .unwrap();
    let (_server, addr) = serve(&root, &["--config", cfg.to_str().unwrap()]);
    let src = d.path().join("big.bin");
    std::fs::write(&src, pattern(2 << 20)).unwrap();
    let state = d.path().join("queue.json");
    let st = state.to_str().unwrap();
    let url = format!("http://{addr}/slow/big.bin");
    let upload = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(["upload", src.to_str().unwrap(), &url, "--state", st])
        .args(["--fragment", "65536"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bitsim upload");
    let pid = upload.id().to_string();
    let mut upload = Kill(upload);
    let deadline = Instant::now() + Duration::from_secs(60);
    while sessions(addr).is_empty() {
        assert!(Instant::now() < deadline, "no session");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(upload.0.wait().unwrap().code(), Some(130));
    assert_eq!(sessions(addr).len(), 1, "the session outlives Ctrl-C");
    let job = rows(st, &[])[0].clone();
    assert_eq!(job["type"], "UPLOAD", "{job}");
    let (code, out, err) = jobs(&["cancel", &guid(&job["job"]), "--state", st]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(sessions(addr), Vec::<Value>::new(), "Cancel-Session sent");
    assert!(rows(st, &[]).is_empty());
}

/// The upload sessions `bitsim serve` holds (its control API).
fn sessions(addr: SocketAddr) -> Vec<Value> {
    use std::io::Read;
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET /_bitsim/sessions HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).expect("sessions JSON")
}

/// A file that is not a queue is named, and a changing verb leaves it as
/// it was (nothing is written over it).
#[test]
fn a_file_that_is_not_a_queue_is_named_and_left_alone() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("notes.txt");
    std::fs::write(&state, "not a queue\n").unwrap();
    let st = state.to_str().unwrap();
    let (code, _, err) = jobs(&["list", "--state", st]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!("{st} is not a bitsim queue")),
        "{err}"
    );
    let id = "{6F1B2C3D-0000-4000-8000-000000000001}";
    let (code, _, err) = jobs(&["cancel", id, "--state", st]);
    assert_eq!(code, Some(1));
    assert!(err.contains(&format!("opening the queue {st}")), "{err}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), "not a queue\n");
}
