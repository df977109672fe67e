//! The real `bitsim` binary: `serve`, then `upload` and `download` against
//! it over loopback, byte for byte.

use crate::common;
use std::net::SocketAddr;
use std::path::Path;

use std::process::{Child, Command};

struct Serve {
    child: Child,
    addr: SocketAddr,
    /// The server's log, drained for as long as the server runs.
    log: std::sync::mpsc::Receiver<String>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(root: &Path) -> Serve {
    serve_with(root, &[])
}

fn serve_with(root: &Path, extra: &[&str]) -> Serve {
    let common::Served { child, addr, log } = common::spawn_serve(root, extra);
    Serve { child, addr, log }
}

/// `bitsim serve` with `toml` as its `--config` (written into `dir`).
fn serve_with_toml(dir: &Path, root: &Path, toml: &str) -> Serve {
    let cfg = dir.join("server.toml");
    std::fs::write(&cfg, toml).unwrap();
    serve_with(root, &["--config", cfg.to_str().unwrap()])
}

fn bitsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run bitsim")
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn upload_then_download_round_trips_byte_for_byte() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    let s = serve(&root);
    let src = d.path().join("src.bin");
    let data = pattern(3 << 20);
    std::fs::write(&src, &data).unwrap();
    let url = format!("http://{}/dir/up.bin", s.addr);

    let out = bitsim(&["upload", src.to_str().unwrap(), &url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "upload failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("TRANSFERRED"),
        "state changes printed: {stdout}"
    );
    assert!(stdout.contains("ACKNOWLEDGED"), "{stdout}");
    assert_eq!(std::fs::read(root.join("dir/up.bin")).unwrap(), data);

    let dest = d.path().join("down.bin");
    let out = bitsim(&["download", &url, dest.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "download failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&dest).unwrap(), data);
}

#[test]
fn a_404_prints_context_and_code_and_exits_non_zero() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    let s = serve(&root);
    let dest = d.path().join("nope.bin");
    let url = format!("http://{}/nope.bin", s.addr);
    let out = bitsim(&["download", &url, dest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("REMOTE_FILE"), "{err}");
    assert!(err.contains("0x80190194"), "{err}");
    assert!(!dest.exists());
    let temps = std::fs::read_dir(d.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("BIT"))
        .count();
    assert_eq!(
        temps, 0,
        "the failed job was cancelled and its temp deleted"
    );
}

#[test]
fn upload_reply_writes_the_reply() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    let s = serve_with_toml(
        d.path(),
        &root,
        "[[reply]]\nprefix = \"/echo/\"\napp = { kind = \"echo\" }\n",
    );
    let src = d.path().join("q.bin");
    let data = pattern(200_000);
    std::fs::write(&src, &data).unwrap();
    let out_file = d.path().join("answer.bin");
    let url = format!("http://{}/echo/q.bin", s.addr);
    let out = bitsim(&[
        "upload",
        src.to_str().unwrap(),
        &url,
        "--reply",
        out_file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "upload-reply failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&out_file).unwrap(), data, "echo reply");
}

/// A plain HTTP/1.1 request to the server's control API; returns the body.
fn control(addr: SocketAddr, method: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "{method} /_bitsim/{path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

fn sessions(addr: SocketAddr) -> Vec<serde_json::Value> {
    serde_json::from_str(&control(addr, "GET", "sessions")).expect("sessions JSON")
}

/// `--state FILE`: Ctrl-C leaves the job in the queue, and the same command
/// again resumes it (the same job and the same server session, from the
/// server's offset) instead of starting over.
#[cfg(unix)] // SIGINT by `kill -INT`; exit status 130
#[test]
fn upload_with_state_resumes_the_same_session_after_ctrl_c() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    // Each fragment waits 200 ms before the server takes it (the session is
    // not locked meanwhile, so the control API can read its offset): the
    // first run is still uploading when it is interrupted.
    let s = serve_with_toml(
        d.path(),
        &root,
        "[[faults]]\npath = \"/slow/\"\npacket = \"fragment\"\ndelay_ms = 200\n",
    );
    let src = d.path().join("big.bin");
    let data = pattern(2 << 20);
    std::fs::write(&src, &data).unwrap();
    let state = d.path().join("queue.json");
    let url = format!("http://{}/slow/big.bin", s.addr);
    let args = [
        "upload",
        src.to_str().unwrap(),
        &url,
        "--state",
        state.to_str().unwrap(),
        "--fragment",
        "65536",
    ];

    let first = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn bitsim upload");
    // Wait until the server holds part of the upload.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (session, received) = loop {
        // A session busy with a fragment is listed without its offset.
        let live = sessions(s.addr);
        if let Some(got) = live.first().and_then(|x| x["received"].as_u64())
            && got >= 131_072
        {
            break (live[0]["id"].as_str().expect("id").to_owned(), got);
        }
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(received < data.len() as u64, "still uploading");
    let pid = first.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = first.wait_with_output().unwrap();
    let (stdout1, stderr1) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(out.status.code(), Some(130), "{stdout1}\n{stderr1}");
    assert!(stderr1.contains("the job stays in the queue"), "{stderr1}");
    let live = sessions(s.addr);
    assert_eq!(live.len(), 1, "{live:?}");
    assert!(!root.join("slow/big.bin").exists(), "nothing published yet");

    // The second run, at full speed.
    control(s.addr, "DELETE", "faults");
    let out = bitsim(&args);
    let stdout2 = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout2}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("job "))
            .map(|l| l.split_whitespace().nth(1).map(str::to_owned))
    };
    assert_eq!(
        job(&stdout1),
        job(&stdout2),
        "the same job: {stdout1}\n{stdout2}"
    );
    assert_eq!(std::fs::read(root.join("slow/big.bin")).unwrap(), data);
    // Resuming used the one session there was: the server created no
    // other, and none is left open.
    let created: Vec<String> = s
        .log
        .try_iter()
        .filter(|l| l.contains("session created"))
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert!(created[0].contains(&session), "{created:?} vs {session}");
    assert_eq!(sessions(s.addr), Vec::<serde_json::Value>::new());
}

/// An upload that ends in ERROR is cancelled (no `--state`: nothing would
/// resume it), and the cancel reaches the server as Cancel-Session: the
/// session is no longer listed and its data is gone. (Close-Session is
/// refused with a fatal 403 after every byte arrived, so the server holds
/// the whole upload when the job fails.)
#[test]
fn a_failed_upload_cancels_its_server_session() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    let s = serve_with_toml(
        d.path(),
        &root,
        "[[faults]]\npath = \"/deny/\"\npacket = \"close-session\"\nstatus = 403\n",
    );
    let src = d.path().join("a.bin");
    std::fs::write(&src, pattern(300_000)).unwrap();
    let url = format!("http://{}/deny/a.bin", s.addr);
    let out = bitsim(&["upload", src.to_str().unwrap(), &url, "--fragment", "65536"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("TRANSFERRING -> ERROR"), "{stdout}");
    assert!(stderr.contains("0x80190193"), "the 403: {stderr}");
    let created = s
        .log
        .try_iter()
        .filter(|l| l.contains("session created"))
        .count();
    assert_eq!(created, 1, "the upload had a session");
    assert_eq!(
        sessions(s.addr),
        Vec::<serde_json::Value>::new(),
        "Cancel-Session reached the server: {stdout}\n{stderr}"
    );
    let left: Vec<_> = walk(&root.join(".bitsim"));
    assert!(
        left.iter().all(|(_, len)| *len < 300_000),
        "the session's data was deleted: {left:?}\n{:?}",
        s.log.try_iter().collect::<Vec<_>>()
    );
}

/// Every file under `dir` with its size.
fn walk(dir: &Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            let len = e.metadata().map_or(0, |m| m.len());
            out.push((p, len));
        }
    }
    out
}

fn text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Wrong arguments are refused before any transfer (exit 2, no state
/// line, nothing created), with an error that names what is wrong.
#[test]
fn arguments_are_checked_before_transferring() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_str().unwrap();
    let missing = d.path().join("no/such/folder/f.bin");
    let src = d.path().join("src.bin");
    std::fs::write(&src, b"x").unwrap();
    let nope = d.path().join("nope.bin");
    // Port 1 on loopback: nothing listens, so a transfer attempt would
    // show up as CONNECTING and a retry.
    let url = "http://127.0.0.1:1/f.bin";
    let cases: Vec<(Vec<&str>, String)> = vec![
        // Download to a directory: the path and what to do instead.
        (vec!["download", url, dir], format!("{dir} is a directory")),
        // A missing destination folder: the folder by name.
        (
            vec!["download", url, missing.to_str().unwrap()],
            format!("the folder {} ", d.path().join("no/such/folder").display()),
        ),
        // An unsupported scheme, and a URL that is none.
        (
            vec!["download", "ftp://h/f.bin", "f.bin"],
            "unsupported scheme \"ftp\"".to_owned(),
        ),
        (
            vec!["download", "h/f.bin", "f.bin"],
            "\"h/f.bin\" is not a URL".to_owned(),
        ),
        // A URL without its destination.
        (
            vec!["download", url, "a.bin", "http://127.0.0.1:1/b"],
            "\"http://127.0.0.1:1/b\" has no destination".to_owned(),
        ),
        // Upload: a missing source, a directory as source, a missing reply folder.
        (
            vec!["upload", nope.to_str().unwrap(), url],
            "nope.bin does not exist".to_owned(),
        ),
        (vec!["upload", dir, url], format!("{dir} is a directory")),
        (
            vec![
                "upload",
                src.to_str().unwrap(),
                url,
                "--reply",
                missing.to_str().unwrap(),
            ],
            "no/such/folder of reply file".to_owned(),
        ),
    ];
    for (args, want) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_bitsim"))
            .args(&args)
            .current_dir(d.path())
            .output()
            .expect("run bitsim");
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}\n{stderr}");
        assert!(
            stderr.contains(&want),
            "{args:?}: want {want:?} in {stderr}"
        );
        assert!(!stdout.contains("CONNECTING"), "{args:?}: {stdout}");
    }
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "only src.bin: {left:?}");
}

/// Each command lists only the flags that apply to it.
#[test]
fn per_command_flags() {
    let help = |cmd: &str| {
        let out = bitsim(&[cmd, "--help"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (down, up) = (help("download"), help("upload"));
    assert!(!down.contains("--fragment"), "{down}");
    assert!(!down.contains("--reply"), "{down}");
    assert!(
        down.contains("--list") && down.contains("--retry-delay"),
        "{down}"
    );
    assert!(up.contains("--fragment") && up.contains("--reply"), "{up}");
    assert!(!up.contains("--list"), "{up}");
}

/// Several files in one download job: `URL DEST` pairs on the command line
/// plus a list file (bitsadmin /addfileset style), each file byte for byte,
/// one job, and a summary.
#[test]
fn several_files_download_in_one_job() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    let s = serve(&root);
    let names = ["a.bin", "b.bin", "c d.bin", "e.bin"];
    for (i, n) in names.iter().enumerate() {
        std::fs::write(root.join(n.replace(' ', "_")), pattern(100_000 * (i + 1))).unwrap();
    }
    let url = |n: &str| format!("http://{}/{}", s.addr, n.replace(' ', "_"));
    let out_dir = d.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let dest = |n: &str| out_dir.join(n).to_str().unwrap().to_owned();
    let list = d.path().join("files.txt");
    std::fs::write(
        &list,
        format!(
            "# more files\n\n{} {}\n  {}   {}\n",
            url(names[2]),
            dest(names[2]),
            url(names[3]),
            dest(names[3])
        ),
    )
    .unwrap();
    let out = bitsim(&[
        "download",
        &url(names[0]),
        &dest(names[0]),
        &url(names[1]),
        &dest(names[1]),
        "--list",
        list.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for (i, n) in names.iter().enumerate() {
        assert_eq!(
            std::fs::read(out_dir.join(n)).unwrap(),
            pattern(100_000 * (i + 1)),
            "{n}"
        );
    }
    let jobs = stdout.lines().filter(|l| l.starts_with("job ")).count();
    assert_eq!(jobs, 1, "{stdout}");
    assert!(stdout.contains("(DOWNLOAD, 4 files)"), "{stdout}");
    assert!(stdout.contains("done: 4 files, "), "{stdout}");
    assert!(stdout.contains("ACKNOWLEDGED"), "{stdout}");
    // Without RUST_LOG the log stays quiet (warnings only).
    let quiet = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .args(["download", &url(names[0]), &dest("again.bin")])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let (_, stderr) = text(&quiet);
    assert!(quiet.status.success(), "{stderr}");
    assert!(!stderr.contains("INFO"), "{stderr}");
}

/// The server guide's upload-by-hand recipe (three curl requests with the
/// protocol GUID) publishes the file on `bitsim serve`.
#[test]
fn readme_curl_upload_recipe_works() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/server.md"))
            .expect("docs/server.md");
    let block = readme
        .split("<!-- curl-upload:start -->\n```sh\n")
        .nth(1)
        .and_then(|b| b.split("```\n<!-- curl-upload:end -->").next())
        .expect("the recipe between its markers");
    assert_eq!(block.lines().filter(|l| l.contains("curl ")).count(), 3);
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    let s = serve(&root);
    let data = pattern(70_000);
    std::fs::write(d.path().join("report.pdf"), &data).unwrap();
    let script = block.replace("http://127.0.0.1:8080", &format!("http://{}", s.addr));
    let out = Command::new("sh")
        .args(["-euc", &script])
        .current_dir(d.path())
        .output()
        .expect("sh (and curl) to run the recipe");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        std::fs::read(root.join("in/report.pdf")).ok(),
        Some(data),
        "{stdout}\n{stderr}"
    );
    assert_eq!(sessions(s.addr), Vec::<serde_json::Value>::new());
}

/// `upload --reply` to a URL the server passes to no application fails
/// and says why (no `BITS-Reply-URL`; the server needs a `[[reply]]`
/// route), and the README's upload-reply example comes with that route.
#[test]
fn upload_reply_without_an_application_says_why() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    let s = serve(&root);
    let src = d.path().join("q.bin");
    std::fs::write(&src, pattern(10_000)).unwrap();
    let url = format!("http://{}/echo/q.bin", s.addr);
    let answer = d.path().join("answer.bin");
    let out = bitsim(&[
        "upload",
        src.to_str().unwrap(),
        &url,
        "--reply",
        answer.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("no BITS-Reply-URL") && stderr.contains("[[reply]]"),
        "{stderr}"
    );
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/real-transfers.md"
    ))
    .expect("docs/real-transfers.md");
    let example = readme
        .split("# Real transfers")
        .nth(1)
        .and_then(|r| r.split("```sh\n").nth(1))
        .and_then(|b| b.split("```").next())
        .expect("the Real transfers example");
    let toml = example
        .lines()
        .find_map(|l| l.strip_prefix("printf '"))
        .and_then(|l| l.split("' > reply.toml").next())
        .expect("the reply.toml line")
        .replace("\\n", "\n");
    assert!(example.contains("--config reply.toml") && example.contains("/echo/q.bin --reply"));
    let root2 = d.path().join("srv2");
    std::fs::create_dir_all(&root2).unwrap();
    let s2 = serve_with_toml(d.path(), &root2, &toml);
    let url = format!("http://{}/echo/q.bin", s2.addr);
    let out = bitsim(&[
        "upload",
        src.to_str().unwrap(),
        &url,
        "--reply",
        answer.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(std::fs::read(&answer).unwrap(), pattern(10_000));
    drop(s);
}

/// `https://` with the CA `bitsim serve --tls-self-signed` made: with
/// `--ca` the download arrives intact; without it the job fails with the
/// WinHTTP unknown-CA code (fatal, decision A29), and an upload over TLS
/// lands on the server.
#[test]
fn https_with_and_without_the_servers_ca() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("srv");
    std::fs::create_dir_all(&root).unwrap();
    let data = pattern(300_000);
    std::fs::write(root.join("a.bin"), &data).unwrap();
    let s = serve_with(&root, &["--tls-self-signed"]);
    let ca = root.join(".bitsim/tls/ca.pem");
    assert!(ca.exists(), "the self-signed CA is at {}", ca.display());
    let url = format!("https://{}/a.bin", s.addr);

    let dest = d.path().join("a.bin");
    let out = bitsim(&[
        "download",
        &url,
        dest.to_str().unwrap(),
        "--ca",
        ca.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(std::fs::read(&dest).unwrap(), data);

    let other = d.path().join("b.bin");
    let out = bitsim(&["download", &url, other.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("0x80072F0D") || stdout.contains("0x80072F0D"),
        "{stdout}\n{stderr}"
    );
    assert!(!other.exists());

    let src = d.path().join("up.bin");
    std::fs::write(&src, pattern(70_000)).unwrap();
    std::fs::create_dir_all(root.join("in")).unwrap();
    let up = format!("https://{}/in/up.bin", s.addr);
    let out = bitsim(&[
        "upload",
        src.to_str().unwrap(),
        &up,
        "--ca",
        ca.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        std::fs::read(root.join("in/up.bin")).unwrap(),
        pattern(70_000)
    );
}
